"""scripts/bench_serve.py: the statistics and the target (fast), and the whole benchmark, the
service and the pipeline baseline each started as a server, on a tiny package (slow)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bench_serve.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_serve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_serve"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_serve", None)


# -- fast: pure functions --------------------------------------------------------------------
def test_percentile_interpolates_as_numpy(bench):
    assert bench.percentile([], 50) is None
    assert bench.percentile([5.0], 99) == 5.0
    assert bench.percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert bench.percentile(list(range(101)), 95) == pytest.approx(95.0)


def test_summarize_counts_the_window_and_every_error(bench):
    records = [
        (0.0, 0.5, "200", 100),  # warm-up: left out
        (0.5, 1.5, "503", 10),  # a warm-up error still counts as an error
        (0.8, 1.2, "200", 100),  # started in the warm-up, answered in the window: counted
        (1.2, 1.4, "200", 200),
        (1.4, 2.6, "ReadTimeout", 300),  # ended in the window
        (2.9, 3.5, "200", 400),  # answered after the window: left out
    ]
    row = bench.summarize(records, start=1.0, end=3.0, clients=2)
    assert row["answered"] == 2 and row["requests"] == 4
    assert row["requests_per_second"] == pytest.approx(1.0)
    assert row["chars_per_second"] == pytest.approx(150.0)
    assert row["errors"] == 2 and row["errors_timed"] == 2
    assert row["error_kinds"] == {"503": 1, "ReadTimeout": 1}
    assert row["latency_ms"]["p50"] == pytest.approx(300.0)


def _row(rps, p95, errors=0):
    return {
        "requests_per_second": rps,
        "chars_per_second": rps * 1000,
        "latency_ms": {"p95": p95},
        "errors": errors,
    }


def test_compare_and_target(bench):
    result = bench.compare(_row(9.0, 800.0), _row(3.0, 900.0), 8)
    assert result["status"] == "MET"
    assert result["speed_ratio"] == pytest.approx(3.0)
    line = bench.target_line(result, _row(9.0, 800.0), _row(3.0, 900.0))
    assert line.startswith("TARGET at 8 client(s): ") and line.endswith("-> MET")

    slower = bench.compare(_row(9.0, 1000.0), _row(3.0, 900.0), 8)
    assert slower["status"] == "MISS" and slower["speed_met"] and not slower["p95_met"]
    errors = bench.compare(_row(12.0, 100.0, errors=1), _row(3.0, 900.0), 2)
    assert errors["status"] == "MISS" and not errors["errors_met"]
    line = bench.target_line(errors, _row(12.0, 100.0, 1), _row(3.0, 900.0))
    assert "(8 not measured)" in line and "errors 1 (zero: MISS)" in line

    none = bench.compare(_row(5.0, 100.0), _row(0.0, None), 8)
    assert none["status"] == "n/a" and "n/a" in bench.ratio_line(none)


# -- slow: both servers under load -----------------------------------------------------------
@pytest.mark.slow
def test_bench_serve_end_to_end(bench, tiny_plain_package, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(
        [
            "--package",
            str(tiny_plain_package),
            "--clients",
            "2",
            "--seconds",
            "2",
            "--warmup",
            "0.5",
            "--threads",
            "1",
            "--data",
            "sample",
            "--ready-timeout",
            "60",
            "--json",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stdout = captured.out
    assert "held-out split of the bundled synthetic sample" in stdout
    assert "-m resume_ner.serve model=" in stdout and "--serve-baseline" in stdout
    assert "ratio (service / hf-pipeline): requests/s " in stdout
    assert "TARGET at 2 client(s) (8 not measured): " in stdout

    report = json.loads(out.read_text())
    rows = {row["server"]: row for row in report["rows"]}
    assert list(rows) == ["service", "hf-pipeline"]
    for name, row in rows.items():
        assert row["errors"] == 0, (name, row["error_kinds"])
        assert row["answered"] > 0 and row["requests_per_second"] > 0
        assert row["chars_per_second"] > 0
        latency = row["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
        assert f"{name:<12} {2:>7}" in stdout
    comparison = report["comparison"]
    assert comparison["status"] in ("MET", "MISS") and comparison["errors"] == 0
    assert comparison["speed_ratio"] == pytest.approx(
        rows["service"]["requests_per_second"] / rows["hf-pipeline"]["requests_per_second"]
    )
    assert report["ratio_line"] in stdout and report["target_line"] in stdout
    assert report["machine"]["cpu_count"] >= 1 and "onnxruntime" in report["machine"]["versions"]
    assert report["model"]["checkpoint"] == str(
        (tiny_plain_package.parent / "checkpoint").resolve()
    )
