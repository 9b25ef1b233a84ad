"""qml-bench: circuit-simulation throughput of qml and its peers, side by side.

Every system runs the same batch in the same process. Each system's first call is
checked against cirq.Simulator and reported as its compile time; then the timed calls
alternate between systems, so that a slow moment of the machine hits all of them.

Examples:
    qml-bench --workload gradient --qubits 4:12:2 --layers 4 --batch 1000
    qml-bench --systems qml-tensorflow,tfq --circuit qcnn --qubits 8 --json out.json
    qml-bench suite                      # W1-W4, recorded in benchmarks/results/
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from qml_bench.load import competing_load

WORKLOADS = ("expectation", "gradient", "sample", "sampled-expectation", "noisy-expectation",
             "train-step", "fit")
SUITE = {  # name: (qubits, layers, batch)
    "W1": (4, 4, 1000),
    "W2": (10, 5, 1000),
    "W3": (16, 5, 100),
    "W4": (20, 4, 10),
}
# PennyLane runs one QNode call per row, which takes minutes at batch 1000; add it
# with --systems to time it.
SUITE_SYSTEMS = "qml,qml-native,qml-qsim,qml-tensorflow,tfq,qsimcirq,tensorcircuit-jax"
_PAUSE_S = 0.05  # untimed, before each timed call
# Records go to a checkout's benchmarks/results/ when run from its root, else to the
# working directory (never into the installed package).
RESULTS = Path("benchmarks/results") if Path("benchmarks/results").is_dir() else Path(".")
_VERSIONED = ("qml-qsim", "tensorflow", "keras", "tf-keras", "tensorflow-quantum", "cirq-core",
              "qsimcirq", "numpy", "jax", "tensorcircuit-ng", "pennylane",
              "pennylane-lightning")


@dataclasses.dataclass
class Result:
    """One system on one benchmark cell."""

    workload: str
    circuit: str
    qubits: int
    layers: int
    batch: int
    system: str
    status: str  # "ok", "skipped", "disagrees" or "error"
    reason: str = ""
    compile_s: Optional[float] = None
    max_error: Optional[float] = None
    seconds: list[float] = dataclasses.field(default_factory=list)
    limit_us: Optional[float] = None  # the machine's limit (qml_bench.limit)

    @property
    def median_s(self) -> Optional[float]:
        return statistics.median(self.seconds) if self.seconds else None

    def us_per_circuit(self, seconds: Optional[float]) -> Optional[float]:
        return None if seconds is None else seconds * 1e6 / self.batch

    def as_dict(self, baseline: Optional["Result"]) -> dict:
        timed = bool(self.seconds)
        ratio = None
        if timed and baseline is not None and baseline.seconds:
            ratio = baseline.median_s / self.median_s
        return {
            "workload": self.workload, "circuit": self.circuit, "qubits": self.qubits,
            "layers": self.layers, "batch": self.batch, "system": self.system,
            "status": self.status, "reason": self.reason, "compile_s": self.compile_s,
            "max_error": self.max_error,
            "median_us_per_circuit": self.us_per_circuit(self.median_s),
            "min_us_per_circuit": self.us_per_circuit(min(self.seconds)) if timed else None,
            "max_us_per_circuit": self.us_per_circuit(max(self.seconds)) if timed else None,
            "repeats": len(self.seconds), "ratio_to_baseline": ratio,
            "limit_us_per_circuit": self.limit_us,
            "times_limit": self.us_per_circuit(self.median_s) / self.limit_us
            if timed and self.limit_us else None,
        }


# ----------------------------------------------------------------- arguments
def parse_range(text: str, name: str) -> list[int]:
    """``"4"``, ``"4,6,10"`` or an inclusive ``"start:stop[:step]"`` as a list of ints."""
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] < 1):
                raise ValueError
            start, stop, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1
            numbers = list(range(start, stop + 1, step))
        else:
            numbers = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name} must be N, N,M,... or START:STOP[:STEP] with STEP >= 1, "
            f"got {text!r}") from None
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"{name} must be positive integers, got {text!r}")
    return numbers


def _integer(name: str, minimum: int):
    """An argparse type: an int of at least ``minimum``, or an error naming ``name``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"{name} must be an integer >= {minimum}, got {text!r}")
        return value
    return parse


def _common(parser: argparse.ArgumentParser, systems: str) -> None:
    from qml_bench.systems import SYSTEMS

    parser.add_argument("--systems", default=systems,
                        help=f"comma-separated, from: {', '.join(SYSTEMS)}")
    parser.add_argument("--baseline", default="tfq", help="system the ratios divide by")
    parser.add_argument("--repeats", type=_integer("--repeats", 1), default=5,
                        help="timed calls per cell and system; the median is reported")
    parser.add_argument("--warmup", type=_integer("--warmup", 0), default=1,
                        help="untimed calls after the first (compiling, checked) call")
    parser.add_argument("--threads", type=_integer("--threads", 1), default=os.cpu_count() or 1,
                        help="threads every system may use (default: all cores)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random circuits and symbol values")
    parser.add_argument("--json", type=Path, help="write the results and machine facts here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--load", type=_integer("--load", 0), default=0,
                        help="CPU-bound competitor processes to run beside the timed "
                             "systems, as on a busy machine (default 0)")
    parser.add_argument("--isolate", action="store_true",
                        help="run each system on each cell in a process of its own, so that "
                             "no other library's thread pools share it (each process pays "
                             "its imports; calls no longer alternate between systems)")


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qml-bench", description="Circuit-simulation throughput of qml and its peers.",
        epilog="Other commands: 'qml-bench suite' runs the standard workloads W1-W4 and "
               "records them; 'qml-bench headline' times distinct 20-qubit circuits per "
               "core-hour. Each takes --help.")
    parser.add_argument("--workload", default="expectation",
                        help=f"one or more of {', '.join(WORKLOADS)}, comma-separated")
    parser.add_argument("--circuit", default="hea",
                        help="circuit family: hea (rotation layers and a CZ ladder), random, "
                             "qcnn, or distinct (every row of a batch a different circuit)")
    parser.add_argument("--qubits", type=lambda t: parse_range(t, "--qubits"), default=[4],
                        help="qubit counts: 4, 4,8,12 or 4:12[:step] (default 4)")
    parser.add_argument("--layers", type=lambda t: parse_range(t, "--layers"), default=[4],
                        help="circuit layers, as --qubits (default 4)")
    parser.add_argument("--batch", type=lambda t: parse_range(t, "--batch"), default=[1000],
                        help="circuits per call, as --qubits (default 1000)")
    parser.add_argument("--repetitions", type=_integer("--repetitions", 1), default=1000,
                        help="shots per circuit (sample and sampled-expectation workloads), "
                             "or noise trajectories (noisy-expectation)")
    parser.add_argument("--plot", type=Path, help="write a PNG of throughput against qubits")
    _common(parser, "qml,qml-qsim,qml-tensorflow,tfq,qsimcirq")
    return parser


def suite_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qml-bench suite",
        description="The standard workloads W1-W4 (" + "; ".join(
            f"{k}: {q} qubits, {layer} layers, batch {b}" for k, (q, layer, b) in SUITE.items())
        + "), as expectation and gradient, recorded in benchmarks/results/.")
    parser.add_argument("--only", default=",".join(SUITE), help="comma-separated: W1,W2,...")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="folder for suite-<stack>.json and .md (default: "
                             "benchmarks/results/ in a checkout's root, else the working "
                             "directory)")
    parser.add_argument("--stack", default=_stack_name(), help="name used in the file names")
    _common(parser, SUITE_SYSTEMS)
    return parser


def _stack_name() -> str:
    return "compat" if importlib.util.find_spec("tensorflow_quantum") else "latest"


def _checked_systems(parser: argparse.ArgumentParser, text: str) -> list[str]:
    from qml_bench.systems import SYSTEMS

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        parser.error(f"--systems: unknown system(s) {unknown or text!r}; "
                     f"choose from {', '.join(SYSTEMS)}")
    return names


# ------------------------------------------------------------------ machine
def _configure_threads(threads: int, systems: Sequence[str]) -> None:
    """One thread budget for every system; must run before TensorFlow or JAX start."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    # OpenMP keeps its default wait policy (spin briefly, then sleep): the untimed pause
    # before each call already lets every pool go idle, and OMP_WAIT_POLICY=PASSIVE
    # would make each parallel region wake its threads, which doubled the time of
    # qml's 16- and 20-qubit gradients and left TFQ's unchanged.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if threads == 1:  # JAX's XLA otherwise sizes its pool to the cores
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread"
                                   "_eigen=false intra_op_parallelism_threads=1").strip()
    if "tfq" in systems and importlib.util.find_spec("tensorflow_quantum"):
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFQ's layers are Keras 2
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process (tests, notebooks)
        print("note: TensorFlow was already running; its thread pools are unchanged",
              file=sys.stderr)
    if any(name.startswith("qml") for name in systems):
        from qml.executors import native

        native.set_threads(threads)
        print(f"qml's native core: {native.simd()} kernels, {native.threads()} threads "
              f"({native.threading_model()})")


def _load_note(args) -> str:
    load = getattr(args, "load", 0)
    return f"; under load: {load} CPU-bound competitor process{'es' * (load != 1)}" \
        if load else ""


def machine_facts() -> dict:
    """CPU model, core count and library versions, for the JSON record."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in _VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    from qml.executors import native

    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions,
            "qml_simd": native.simd(), "qml_threading": native.threading_model()}


# ----------------------------------------------------------------- measuring
def run_cell(workload: str, family: str, num_qubits: int, layers: int, batch: int,
             systems: Sequence[str], args, progress=None) -> list[Result]:
    """Checks, warms up and times every system on one cell, calls interleaved in a
    shuffled order each round."""
    import numpy as np

    from qml_bench.circuits import make_case
    from qml_bench.limit import limit_us_per_circuit
    from qml_bench.reference import Disagreement, Reference
    from qml_bench.systems import SYSTEMS, Inputs, Unsupported

    case = make_case(family, num_qubits, layers, args.seed)
    limit_us = limit_us_per_circuit(case, workload, getattr(args, "repetitions", 1000))
    rng = np.random.default_rng(args.seed)
    values = rng.uniform(0, 2 * np.pi, (batch, len(case.symbols))).astype(np.float32)
    data = rng.uniform(0, np.pi, (batch, num_qubits))
    inputs = Inputs(case, workload, values, data, args.threads,
                    getattr(args, "repetitions", 1000), args.seed)
    reference = Reference(case, values, data)
    results, runners = [], {}
    for name in systems:
        result = Result(workload, family, num_qubits, layers, batch, name, "ok",
                        limit_us=limit_us)
        results.append(result)
        missing = SYSTEMS[name].missing()
        if missing:
            result.status, result.reason = "skipped", missing
            continue
        try:
            runner = SYSTEMS[name].build(inputs)
            start = time.perf_counter()
            output = runner()
            result.compile_s = time.perf_counter() - start
            result.max_error = reference.check(workload, np.asarray(output), inputs.repetitions)
            if progress is not None:
                progress()
            for _ in range(args.warmup):
                runner()
                if progress is not None:
                    progress()
        except Unsupported as reason:
            result.status, result.reason = "skipped", str(reason)
            continue
        except Disagreement as reason:
            result.status, result.reason = "disagrees", str(reason)
            continue
        except Exception as error:  # a system's own failure is reported, not fatal
            result.status = "error"
            result.reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            continue
        runners[name] = (runner, result)
    timed = list(runners.values())
    order = np.random.default_rng(args.seed)
    for _ in range(args.repeats):
        # A fresh order each round, and a pause before each call: the previous system's
        # thread pools may still be spinning (JAX's and TensorFlow's do, briefly).
        for index in order.permutation(len(timed)):
            runner, result = timed[index]
            time.sleep(_PAUSE_S)
            start = time.perf_counter()
            runner()
            result.seconds.append(time.perf_counter() - start)
            if progress is not None:
                progress()
    return results


def _baseline(results: list[Result], result: Result, baseline: str) -> Optional[Result]:
    for other in results:
        if (other.system == baseline and other.workload == result.workload
                and other.circuit == result.circuit and other.qubits == result.qubits
                and other.layers == result.layers and other.batch == result.batch):
            return other
    return None


def records(results: list[Result], baseline: str) -> list[dict]:
    return [r.as_dict(_baseline(results, r, baseline)) for r in results]


def write_json(path: Path, rows: list[dict], args, command: str) -> None:
    document = {
        "schema": "qml-bench/1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "threads": args.threads, "baseline": args.baseline, "repeats": args.repeats,
        "warmup": args.warmup, "seed": args.seed, "load": getattr(args, "load", 0),
        "machine": machine_facts(),
        "results": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def table_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        timed = r["median_us_per_circuit"] is not None
        out.append([
            f"{r['workload']} {r['circuit']} {r['qubits']}q {r['layers']}L b{r['batch']}",
            r["system"],
            _fmt(r["median_us_per_circuit"]) if timed else r["status"],
            f"{_fmt(r['min_us_per_circuit'])}–{_fmt(r['max_us_per_circuit'])}" if timed else "",
            _fmt(r["compile_s"], 2),
            f"{r['ratio_to_baseline']:.2f}×" if r["ratio_to_baseline"] else "",
            f"{r['times_limit']:.1f}×" if r.get("times_limit") else ""])
    return out


HEADER = ["cell", "system", "µs/circuit", "min–max", "first call s", "vs baseline",
          "× limit"]


def print_table(rows: list[dict], title: str, baseline: str) -> None:
    """The results as a table; reasons for skipped systems are printed above it, and
    below it why the ratio column is empty when ``baseline`` has no timings."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in HEADER:
        table.add_column(column, no_wrap=True,
                         justify="left" if column in ("cell", "system") else "right")
    for row in table_rows(rows):
        table.add_row(*row)
    Console(width=max(100, Console().width)).print(table)
    if not any(r["system"] == baseline and r["median_us_per_circuit"] for r in rows):
        reason = ("TensorFlow Quantum is not installed here (it runs on the compat stack "
                  "only)" if baseline == "tfq" and not importlib.util.find_spec(
                      "tensorflow_quantum") else f"{baseline} has no timings in this run")
        print(f"The '{HEADER[5]}' column is empty: {reason}. Choose another with "
              "--baseline, e.g. --baseline qml-qsim.")


def plot(path: Path, rows: list[dict]) -> None:
    """Throughput (circuits per second) against qubits, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({r["workload"] for r in rows})
    figure, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 4.5),
                                squeeze=False)
    for axis, workload in zip(axes[0], workloads):
        for system in dict.fromkeys(r["system"] for r in rows):
            points = sorted((r["qubits"], 1e6 / r["median_us_per_circuit"]) for r in rows
                            if r["system"] == system and r["workload"] == workload
                            and r["median_us_per_circuit"])
            if points:
                axis.plot(*zip(*points), marker="o", label=system)
        axis.set(xlabel="qubits", ylabel="circuits per second", yscale="log", title=workload)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _measure(cells: list[tuple], systems: list[str], args,
             after_cell: Optional[Callable[[list[Result]], None]] = None) -> list[Result]:
    """Runs every cell; ``after_cell`` receives the results so far after each one.

    The progress bar counts calls (each system's first call, warm-ups and timed calls)
    and estimates the time left from the calls so far."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    results: list[Result] = []
    calls = 1 + args.warmup + args.repeats  # per system and cell
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("calls"), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn())
    with competing_load(getattr(args, "load", 0)), \
            Progress(*columns, transient=True, disable=args.quiet) as bar:
        task = bar.add_task("timing", total=len(cells) * len(systems) * calls)
        for number, cell in enumerate(cells):
            label = f"{cell[0]} {cell[1]} q={cell[2]} L={cell[3]} b={cell[4]}"
            bar.update(task, description=label)
            if getattr(args, "isolate", False):
                cell_results = []
                for system in systems:
                    bar.update(task, description=f"{label}: {system}, own process")
                    cell_results.append(_run_isolated(cell, system, args))
                    bar.advance(task, calls)
            else:
                cell_results = run_cell(*cell, systems, args,
                                        progress=lambda: bar.advance(task))
            bar.update(task, completed=(number + 1) * len(systems) * calls)  # skips too
            results += cell_results
            if after_cell is not None:
                after_cell(results)
    return results


def _run_isolated(cell: tuple, system: str, args) -> Result:
    """One system on one cell, in a fresh Python process (``qml-bench cell``)."""
    import subprocess

    spec = {"cell": list(cell), "system": system, "seed": args.seed, "threads": args.threads,
            "repeats": args.repeats, "warmup": args.warmup,
            "repetitions": getattr(args, "repetitions", 1000)}
    done = subprocess.run([sys.executable, "-m", "qml_bench", "cell", json.dumps(spec)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Result(*cell, system, "error", f"its process failed: {tail[:200]}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def run_one_cell(argv: Sequence[str]) -> int:
    """``qml-bench cell SPEC``: runs the one cell and system that the JSON ``SPEC`` names
    and prints its :class:`Result` as JSON, for ``--isolate``."""
    spec = json.loads(argv[0])
    args = argparse.Namespace(seed=int(spec["seed"]), threads=int(spec["threads"]),
                              repeats=int(spec["repeats"]), warmup=int(spec["warmup"]),
                              repetitions=int(spec["repetitions"]))
    _configure_threads(args.threads, [spec["system"]])
    (result,) = run_cell(*spec["cell"], [spec["system"]], args)
    print(json.dumps(dataclasses.asdict(result)))
    return 0


def _report_skips(results: list[Result]) -> None:
    seen = set()
    for r in results:
        if r.status != "ok" and (r.system, r.reason) not in seen:
            seen.add((r.system, r.reason))
            print(f"{r.system}: {r.status} ({r.reason})", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["suite"]:
        return suite(argv[1:])
    if argv[:1] == ["headline"]:
        return headline(argv[1:])
    if argv[:1] == ["cell"]:
        return run_one_cell(argv[1:])
    parser = run_parser()
    args = parser.parse_args(argv)
    workloads = [w.strip() for w in args.workload.split(",")]
    bad = [w for w in workloads if w not in WORKLOADS]
    if bad:
        parser.error(f"--workload: unknown {bad}; choose from {', '.join(WORKLOADS)}")
    from qml_bench.circuits import FAMILIES

    if args.circuit not in FAMILIES:
        parser.error(f"--circuit must be one of {', '.join(FAMILIES)}, got {args.circuit!r}")
    systems = _checked_systems(parser, args.systems)
    _configure_threads(args.threads, systems)
    print(f"threads: {args.threads} for every system (TensorFlow intra- and inter-op pools, "
          f"qsim cpu_threads, OMP_NUM_THREADS){_load_note(args)}")
    cells = [(w, args.circuit, q, layer, b) for w in workloads for q in args.qubits
             for layer in args.layers for b in args.batch]
    results = _measure(cells, systems, args)
    _report_skips(results)
    rows = records(results, args.baseline)
    print_table(rows, f"qml-bench, median of {args.repeats}, baseline {args.baseline}",
                args.baseline)
    command = "qml-bench " + " ".join(argv)
    if args.json:
        write_json(args.json, rows, args, command)
    if args.plot:
        plot(args.plot, rows)
    return 0


def markdown(rows: list[dict], baseline: str) -> str:
    """The suite's table: µs/circuit per system, each system's ratio to baseline, and
    the cell's limit at the machine's measured peak (:mod:`qml_bench.limit`)."""
    systems = list(dict.fromkeys(r["system"] for r in rows))
    lines = ["| workload | | " + " | ".join(systems) + " | limit |",
             "|---|---|" + "---|" * (len(systems) + 1)]
    names = {v: k for k, v in SUITE.items()}
    for key in dict.fromkeys((r["qubits"], r["layers"], r["batch"], r["workload"]) for r in rows):
        cells = {r["system"]: r for r in rows
                 if (r["qubits"], r["layers"], r["batch"], r["workload"]) == key}
        label = f"{names.get(key[:3], '')} {key[3]} ({key[0]} q, {key[1]} L, batch {key[2]})"
        entries = []
        for system in systems:
            r = cells.get(system)
            if r is None or r["median_us_per_circuit"] is None:
                entries.append("—" if r is None else r["status"])
                continue
            text = f"{r['median_us_per_circuit']:,.1f}"
            if r["ratio_to_baseline"] and system != baseline:
                text += f" ({r['ratio_to_baseline']:.1f}×)"
            entries.append(text)
        limit = next((r["limit_us_per_circuit"] for r in cells.values()
                      if r.get("limit_us_per_circuit")), None)
        lines.append(f"| {label} | µs/circuit | " + " | ".join(entries)
                     + f" | {_fmt(limit, 2)} |")
    return "\n".join(lines) + "\n"


def suite(argv: Sequence[str]) -> int:
    parser = suite_parser()
    args = parser.parse_args(list(argv))
    names = [n.strip() for n in args.only.split(",")]
    if any(n not in SUITE for n in names):
        parser.error(f"--only: choose from {', '.join(SUITE)}, got {args.only!r}")
    systems = _checked_systems(parser, args.systems)
    _configure_threads(args.threads, systems)
    print(f"threads: {args.threads} for every system{_load_note(args)}")
    cells = [(w, "hea", *SUITE[n]) for n in names for w in ("expectation", "gradient")]
    stem = args.output / f"suite-{args.stack}"
    facts = machine_facts()
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())

    def record(results: list[Result]) -> None:  # after every cell, so a stop keeps data
        rows = records(results, args.baseline)
        write_json(stem.with_suffix(".json"), rows, args, "qml-bench suite " + " ".join(argv))
        stem.with_suffix(".md").write_text(
            f"qml-bench suite on {facts['cpu']} ({facts['cores']} cores, {args.threads} "
            f"threads; qml's core on its {facts['qml_simd']} kernels, {facts['qml_threading']})"
            f"{_load_note(args)}, median of "
            f"{args.repeats}; ratios are against {args.baseline}, "
            f"measured in the same run (higher is faster). Versions: {versions}.\n\n"
            + markdown(rows, args.baseline))

    results = _measure(cells, systems, args, after_cell=record)
    _report_skips(results)
    print_table(records(results, args.baseline),
                f"qml-bench suite, median of {args.repeats}, baseline {args.baseline}",
                args.baseline)
    print(f"wrote {stem}.json and {stem}.md")
    return 0


# TFQ's and qsim's published headline: one million simulations of 20-qubit, depth-20
# circuits in 60 minutes on 80 vCPUs.
TFQ_HEADLINE_PER_CORE_HOUR = 1_000_000 / 80
HEADLINE_GOAL = 5.0


def headline_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qml-bench headline",
        description="Distinct 20-qubit circuits per core-hour (expectations of Z on every "
                    f"qubit), against TFQ's published {TFQ_HEADLINE_PER_CORE_HOUR:,.0f} "
                    "per vCPU-hour and TFQ measured in the same run.")
    parser.add_argument("--qubits", type=_integer("--qubits", 2), default=20,
                        help="qubits per circuit (default 20, as the published figure)")
    parser.add_argument("--layers", type=_integer("--layers", 1), default=7,
                        help="layers of the distinct family (7 gives depth 39; the run prints it)")
    parser.add_argument("--batch", type=_integer("--batch", 1), default=16,
                        help="distinct circuits per call")
    parser.add_argument("--output", type=Path,
                        help="also record headline-<stack>.json and .md in this folder "
                             "(benchmarks/results/ keeps the records that the docs quote)")
    parser.add_argument("--stack", default=_stack_name(), help="name used in the file names")
    _common(parser, "qml,qml-qsim,tfq")
    parser.set_defaults(threads=1, repeats=3)
    return parser


def headline_markdown(summary: list[dict], baseline: str) -> str:
    """The headline's table: per system, ms per fresh circuit and per circuit seen
    before, circuits per core-hour, and the ratios to TFQ's published figure and to
    ``baseline`` in the same run."""
    lines = ["| system | ms per fresh circuit | ms when seen before | circuits per core-hour "
             f"| vs TFQ's published figure | vs {baseline}, same run |",
             "|---|---|---|---|---|---|"]
    for row in summary:
        seen, same_run = row["seen_s_per_circuit"], row["vs_baseline_same_run"]
        lines.append(
            f"| {row['system']} | {row['fresh_s_per_circuit'] * 1e3:.1f} | "
            + (f"{seen * 1e3:.1f}" if seen else "") + f" | "
            f"{row['circuits_per_core_hour']:,.0f} | {row['vs_tfq_headline']:.1f}× | "
            + (f"{same_run:.1f}×" if same_run else "") + " |")
    return "\n".join(lines) + "\n"


def headline_rows(results: list[Result], threads: int, baseline: str) -> list[dict]:
    """Per system, circuits per core-hour on fresh circuits (each call's circuits are
    new: compiled, then simulated once) and on circuits seen before."""
    out = []
    for system in dict.fromkeys(r.system for r in results):
        mine = [r for r in results if r.system == system and r.compile_s is not None]
        if not mine:
            continue
        batch = mine[0].batch
        fresh = statistics.median(r.compile_s for r in mine) / batch
        seen = statistics.median(t for r in mine for t in r.seconds) / batch \
            if any(r.seconds for r in mine) else None
        out.append({"system": system, "fresh_s_per_circuit": fresh,
                    "seen_s_per_circuit": seen,
                    "circuits_per_core_hour": 3600 / (fresh * threads),
                    "vs_tfq_headline": 3600 / (fresh * threads) / TFQ_HEADLINE_PER_CORE_HOUR})
    base = next((row for row in out if row["system"] == baseline), None)
    for row in out:
        row["vs_baseline_same_run"] = None if base is None else \
            base["fresh_s_per_circuit"] / row["fresh_s_per_circuit"]
    return out


def headline(argv: Sequence[str]) -> int:
    import cirq

    from qml_bench.circuits import make_case

    parser = headline_parser()
    args = parser.parse_args(list(argv))
    systems = _checked_systems(parser, args.systems)
    _configure_threads(args.threads, systems)
    depth = len(cirq.Circuit(make_case("distinct", args.qubits, args.layers,
                                       args.seed).circuit.all_operations()))
    print(f"threads: {args.threads}; {args.batch} distinct {args.qubits}-qubit circuits of "
          f"depth {depth} per call, new circuits in each of {args.repeats} rounds"
          f"{_load_note(args)}")
    results: list[Result] = []
    rounds = argparse.Namespace(**{**vars(args), "repeats": 1, "warmup": 0})
    with competing_load(args.load):
        for index in range(args.repeats):
            for offset, system in enumerate(systems):
                # Circuits no system has seen (row r of a call uses seed + r): each
                # first call compiles them afresh.
                rounds.seed = args.seed + (index * len(systems) + offset) * args.batch
                results += run_cell("expectation", "distinct", args.qubits, args.layers,
                                    args.batch, [system], rounds)
    _report_skips(results)
    summary = headline_rows(results, args.threads, args.baseline)
    for row in summary:
        same_run = row["vs_baseline_same_run"]
        seen = row["seen_s_per_circuit"]
        print(f"{row['system']}: {row['circuits_per_core_hour']:,.0f} fresh circuits per "
              f"core-hour ({row['fresh_s_per_circuit'] * 1e3:.1f} ms each"
              + (f"; {seen * 1e3:.1f} ms when seen before" if seen else "") + "), "
              f"{row['vs_tfq_headline']:.2f}x TFQ's published figure (goal "
              f"{HEADLINE_GOAL:.0f}x)" + (f", {same_run:.2f}x {args.baseline} in this run"
                                          if same_run else ""))
    command = "qml-bench headline " + " ".join(argv)
    rows = [dict(row, depth=depth) for row in summary]
    if args.json:
        write_json(args.json, rows, args, command)
    if args.output:
        stem = args.output / f"headline-{args.stack}"
        write_json(stem.with_suffix(".json"), rows, args, command)
        facts = machine_facts()
        versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
        stem.with_suffix(".md").write_text(
            f"`{command}` on {facts['cpu']} ({facts['cores']} cores, {args.threads} "
            f"thread per system; qml's core on its {facts['qml_simd']} kernels)"
            f"{_load_note(args)}: "
            f"{args.batch} distinct {args.qubits}-qubit circuits of depth {depth} per call, "
            f"new circuits in each of {args.repeats} rounds. Versions: {versions}.\n\n"
            + headline_markdown(summary, args.baseline))
        print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
