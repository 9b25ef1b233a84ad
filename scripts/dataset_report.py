"""Computes (or reads from the cache) qml's spin-chain data sets and prints a
markdown table of their fidelities, energy residuals, generation times and cache
sizes, as docs/datasets.md gives them.

Usage: python scripts/dataset_report.py [--spins 4 8 12 16] [--data-dir DIR]
"""

import argparse

import cirq
import numpy as np

import qml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spins", type=int, nargs="+", default=[4, 8, 12, 16])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    print("| data set | spins | points | fidelity min / median | max energy residual "
          "| generation time | cache file |")
    print("|---|---|---|---|---|---|---|")
    for name in ("tfi_chain", "xxz_chain"):
        for spins in args.spins:
            infos = getattr(qml.datasets, name)(cirq.GridQubit.rect(1, spins),
                                                data_dir=args.data_dir)[3]
            system = "TFI_chain" if name == "tfi_chain" else "XXZ_chain"
            path = qml.datasets.cache_dir(args.data_dir) / "spin_systems" / system / \
                "closed" / f"{spins}.npz"
            with np.load(path) as stored:
                seconds = float(stored["seconds"])
            fidelity = np.array([info.fidelity for info in infos])
            residual = max(info.res_energy for info in infos)
            print(f"| `{name}` | {spins} | {len(infos)} | {fidelity.min():.4f} / "
                  f"{np.median(fidelity):.4f} | {residual:.2e} | {seconds:.0f} s | "
                  f"{path.stat().st_size / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
