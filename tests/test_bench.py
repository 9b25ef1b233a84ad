"""qml-bench's command line on tiny sizes: arguments, systems, checks and records."""

import json
import os
import time
from pathlib import Path

import cirq
import numpy as np
import pytest
from qml_bench import circuits, cli, limit
from qml_bench.load import competing_load
from qml_bench.reference import Disagreement, Reference
from qml_bench.systems import SYSTEMS, System, cirq_runner

TINY = ["--qubits", "2", "--layers", "1", "--batch", "3", "--repeats", "2", "--warmup", "0",
        "--quiet"]

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


@pytest.mark.parametrize("argv, message", [
    (["--qubits", "0"], "--qubits must be positive integers, got '0'"),
    (["--qubits", "4:2:0"], "--qubits must be N, N,M,... or START:STOP[:STEP]"),
    (["--layers", "x"], "--layers must be N"),
    (["--repeats", "0"], "--repeats must be an integer >= 1, got '0'"),
    (["--warmup", "-1"], "--warmup must be an integer >= 0, got '-1'"),
    (["--workload", "nope"], "--workload: unknown ['nope']"),
    (["--circuit", "nope"], "--circuit must be one of hea, random, qcnn, distinct, got 'nope'"),
    (["--systems", "qml,nothere"], "--systems: unknown system(s) ['nothere']"),
])
def test_argument_errors_name_the_argument(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_suite_argument_errors(capsys):
    with pytest.raises(SystemExit):
        cli.main(["suite", "--only", "W9"])
    assert "--only: choose from W1, W2, W3, W4, got 'W9'" in capsys.readouterr().err


def test_ranges_sweep_inclusively():
    assert cli.parse_range("4:20:4", "--qubits") == [4, 8, 12, 16, 20]
    assert cli.parse_range("4:6", "--qubits") == [4, 5, 6]
    assert cli.parse_range("3,5", "--qubits") == [3, 5]


def _wrong_runner(inputs):
    right = cirq_runner(inputs)
    return lambda: right() + 1e-2  # a system that is off by 0.01


def test_json_record_missing_system_and_wrong_system(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SYSTEMS, "absent", System("absent", "no_such_module_xyz", cirq_runner))
    monkeypatch.setitem(SYSTEMS, "wrong", System("wrong", "cirq", _wrong_runner))
    path = tmp_path / "out.json"
    code = cli.main(TINY + ["--workload", "expectation,gradient",
                            "--systems", "qml-qsim,cirq,absent,wrong", "--baseline", "cirq",
                            "--json", str(path)])
    assert code == 0
    document = json.loads(path.read_text())
    assert document["schema"] == "qml-bench/1"
    assert {"cpu", "cores", "versions"} <= set(document["machine"])
    assert document["machine"]["versions"]["cirq-core"]
    assert document["threads"] >= 1
    rows = {(r["workload"], r["system"]): r for r in document["results"]}
    assert len(rows) == 8
    for row in document["results"]:
        assert set(row) >= {"workload", "circuit", "qubits", "layers", "batch", "system",
                            "status", "reason", "compile_s", "median_us_per_circuit",
                            "min_us_per_circuit", "max_us_per_circuit", "ratio_to_baseline"}
    ok = rows[("expectation", "qml-qsim")]
    assert ok["status"] == "ok" and ok["repeats"] == 2
    assert ok["min_us_per_circuit"] <= ok["median_us_per_circuit"] <= ok["max_us_per_circuit"]
    assert ok["max_error"] < 1e-4 and ok["ratio_to_baseline"] > 0
    assert rows[("expectation", "cirq")]["ratio_to_baseline"] == 1.0
    assert rows[("expectation", "absent")]["status"] == "skipped"
    assert "no_such_module_xyz is not installed" in rows[("expectation", "absent")]["reason"]
    wrong = rows[("expectation", "wrong")]
    assert wrong["status"] == "disagrees" and wrong["median_us_per_circuit"] is None
    assert "differs from cirq.Simulator" in wrong["reason"]
    assert rows[("gradient", "cirq")]["status"] == "skipped"  # no gradient API
    assert rows[("gradient", "qml-qsim")]["status"] == "ok"
    assert "absent: skipped" in capsys.readouterr().err


def test_flop_counts_and_the_limit():
    """One rx on one qubit: a 2x2 matrix on 2 amplitudes is 4 complex multiply-adds."""
    q = cirq.GridQubit(0, 0)
    theta = cirq.Circuit(cirq.rx(__import__("sympy").Symbol("t0"))(q))
    case = circuits.Case("one", (q,), theta, ("t0",), (cirq.Z(q),), None)
    assert limit.circuit_flops(case, "expectation") == 32 + 8
    assert limit.circuit_flops(case, "gradient") == 3 * 32 + 32 + 2 * 8
    hea = circuits.hea(6, 2)  # 24 rotations and 10 CZs on 64 amplitudes
    assert limit.circuit_flops(hea, "expectation") == 8 * 64 * (24 * 2 + 10 * 4) + 4 * 64 * 6
    assert 1e8 < limit.peak_flops() < 1e14
    assert limit.limit_us_per_circuit(hea, "gradient") == pytest.approx(
        limit.circuit_flops(hea, "gradient") / limit.peak_flops() * 1e6)


@pytest.mark.slow
def test_fit_workload_and_isolated_processes(tmp_path):
    """One epoch of model.fit is checked against Cirq like a training step; --isolate
    runs each system in a process of its own and records the same fields."""
    path = tmp_path / "fit.json"
    code = cli.main(TINY + ["--workload", "fit", "--systems", "qml,cirq", "--baseline", "cirq",
                            "--json", str(path)])
    assert code == 0
    rows = {r["system"]: r for r in json.loads(path.read_text())["results"]}
    assert rows["qml"]["status"] == "ok" and rows["qml"]["max_error"] < 1e-4
    assert rows["qml"]["repeats"] == 2 and rows["qml"]["times_limit"] > 1
    assert rows["cirq"]["status"] == "skipped"
    isolated = tmp_path / "isolated.json"
    code = cli.main(TINY + ["--workload", "expectation", "--systems", "qml,cirq",
                            "--baseline", "cirq", "--isolate", "--json", str(isolated)])
    assert code == 0
    rows = {r["system"]: r for r in json.loads(isolated.read_text())["results"]}
    assert set(rows) == {"qml", "cirq"}
    assert all(r["status"] == "ok" and r["max_error"] < 1e-4 for r in rows.values())
    assert rows["qml"]["ratio_to_baseline"] > 0 and rows["qml"]["repeats"] == 2


def test_noisy_expectation_workload_is_checked_against_the_density_matrix(tmp_path):
    """qml's trajectories pass the density-matrix check; the noiseless values, which
    the noise moves by more than the allowed error, do not."""
    path = tmp_path / "noisy.json"
    code = cli.main(["--workload", "noisy-expectation", "--qubits", "3", "--layers", "3",
                     "--batch", "4", "--repetitions", "4000", "--repeats", "1", "--warmup", "0",
                     "--systems", "qml,cirq", "--baseline", "qml", "--quiet",
                     "--json", str(path)])
    assert code == 0
    rows = {r["system"]: r for r in json.loads(path.read_text())["results"]}
    assert rows["qml"]["status"] == "ok" and rows["qml"]["max_error"] < 5 / np.sqrt(4000) + 1e-4
    assert rows["cirq"]["status"] == "skipped"
    case = circuits.hea(3, 3)
    values = np.random.default_rng(0).uniform(0, 6, (1, len(case.symbols))).astype(np.float32)
    reference = Reference(case, values, np.zeros((1, 3)))
    noiseless = reference._expectations(reference.row)
    assert np.abs(noiseless - reference._noisy_expectations).max() > 5 / np.sqrt(4000) + 1e-4
    with pytest.raises(Disagreement):
        reference.check("noisy-expectation", noiseless[None], 4000)


def test_plot_is_a_png(tmp_path):
    rows = [{"workload": "expectation", "system": s, "qubits": q,
             "median_us_per_circuit": 10.0 * q} for s in ("a", "b") for q in (2, 4)]
    cli.plot(tmp_path / "p.png", rows)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("family", circuits.FAMILIES)
@pytest.mark.parametrize("num_qubits", [1, 3, 6])
def test_families_are_seeded_and_consistent(family, num_qubits):
    case = circuits.make_case(family, num_qubits, 2, seed=4)
    again = circuits.make_case(family, num_qubits, 2, seed=4)
    assert case.circuit == again.circuit
    assert len(case.operators) == num_qubits
    assert cirq.parameter_names(case.circuit) == set(case.symbols)
    if family == "hea":
        assert len(case.symbols) == 2 * num_qubits * 2


def test_reference_catches_wrong_gradients_and_samples():
    case = circuits.hea(3, 2)
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 6, (2, len(case.symbols))).astype(np.float32)
    reference = Reference(case, values, np.zeros((2, 3)))
    # The exact gradient, by central differences of each symbol, passes; a perturbed one fails.
    gradient = np.zeros_like(values[:1], dtype=np.float64)
    for i in range(len(case.symbols)):
        step = np.zeros(len(case.symbols))
        step[i] = 1e-4
        gradient[0, i] = (reference._expectations(reference.row + step).sum()
                          - reference._expectations(reference.row - step).sum()) / 2e-4
    assert reference.check("gradient", gradient, 1) < 1e-4
    with pytest.raises(Disagreement):
        reference.check("gradient", gradient + 1e-2, 1)
    exact = reference._expectations(reference.row)
    probabilities_one = (1 - exact) / 2
    bits = (rng.random((1, 4000, 3)) < probabilities_one).astype(np.int8)
    assert reference.check("sample", bits, 4000) < 5 / np.sqrt(4000) + 1e-4
    assert exact.max() < 0.9  # so that all-zero samples are far off
    with pytest.raises(Disagreement):
        reference.check("sample", np.zeros_like(bits), 4000)


def test_headline_times_fresh_circuits_per_core_hour(tmp_path, capsys):
    """The record's JSON and its table agree, and each row's figures follow from its
    time per fresh circuit."""
    code = cli.main(["headline", "--qubits", "4", "--layers", "2", "--batch", "3",
                     "--repeats", "2", "--systems", "qml,qml-qsim", "--baseline", "qml-qsim",
                     "--quiet", "--output", str(tmp_path), "--stack", "test"])
    assert code == 0
    rows = {row["system"]: row for row in
            json.loads((tmp_path / "headline-test.json").read_text())["results"]}
    table = (tmp_path / "headline-test.md").read_text()
    for system, row in rows.items():
        assert f"| {system} | {row['fresh_s_per_circuit'] * 1e3:.1f} |" in table
    assert set(rows) == {"qml", "qml-qsim"}
    for row in rows.values():
        assert row["circuits_per_core_hour"] == pytest.approx(3600 / row["fresh_s_per_circuit"])
        assert row["vs_tfq_headline"] == pytest.approx(row["circuits_per_core_hour"] / 12500)
        assert row["depth"] == len(cirq.Circuit(
            circuits.make_case("distinct", 4, 2, 0).circuit.all_operations()))
    assert rows["qml-qsim"]["vs_baseline_same_run"] == 1
    assert "fresh circuits per core-hour" in capsys.readouterr().out


def test_load_runs_busy_competitors_for_the_measurement_and_stops_them(tmp_path):
    """--load N keeps N processes busy while systems are timed, records N, and leaves
    no competitor behind."""
    with competing_load(2) as competitors:
        time.sleep(0.5)
        busy = [_cpu_seconds(c.pid) for c in competitors]
    assert all(seconds > 0.2 for seconds in busy), busy
    assert all(c.poll() is not None for c in competitors)
    path = tmp_path / "loaded.json"
    assert cli.main(TINY + ["--systems", "qml", "--baseline", "qml", "--load", "1",
                            "--json", str(path)]) == 0
    assert json.loads(path.read_text())["load"] == 1
    with pytest.raises(SystemExit):
        cli.main(TINY + ["--load", "-1"])


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
