"""scripts/bench_infer.py: the pipeline-output conversion, the comparisons and the target
(fast), and the whole benchmark on tiny random BERT packages and a tiny DataTurks file (slow:
the ONNX export runs in a child process)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_bench_train import write_dataturks
from test_onnx_export import make_checkpoint

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "bench_infer.py"
LABELS = ["O", "B-Name", "I-Name", "B-Skills", "I-Skills", "B-Location", "I-Location"]
# The tiny checkpoints: a large head (it predicts spans), windows short enough that each
# resume spans several.
SETTINGS = {"labels": LABELS, "max_length": 48, "stride": 8}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_infer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_infer"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_infer", None)


# -- fast: pure functions --------------------------------------------------------------------
def test_pipeline_spans_from_fake_pipeline_output(bench):
    entities = [
        {"entity_group": "Name", "score": 0.91, "word": "vikas singh", "start": 0, "end": 11},
        {"entity_group": "Skills", "score": 0.5, "word": "python", "start": 20, "end": 26},
        # Without aggregation the key is `entity`, with its B-/I- prefix.
        {"entity": "B-Location", "score": 0.7, "word": "delhi", "start": 30, "end": 35},
        {"entity_group": "Skills", "score": 0.4, "word": "", "start": 40, "end": 40},  # empty
        {"entity_group": "Name", "score": 0.9, "word": "x", "start": None, "end": None},
        {"entity_group": "O", "score": 0.9, "word": "and", "start": 50, "end": 53},
    ]
    spans = bench.pipeline_spans(entities)
    assert [(s.start, s.end, s.label) for s in spans] == [
        (0, 11, "Name"),
        (20, 26, "Skills"),
        (30, 35, "Location"),
    ]
    assert spans[0].score == pytest.approx(0.91)
    assert bench.pipeline_spans([]) == []


def test_pipeline_spans_score_like_ours(bench):
    """Converted pipeline entities go through entity_scores as the project's spans do."""
    from resume_ner.data.document import Span
    from resume_ner.train.metrics import entity_scores

    gold = [[Span(0, 11, "Name"), Span(20, 26, "Skills")]]
    pred = [bench.pipeline_spans([{"entity_group": "Name", "score": 1.0, "start": 0, "end": 11}])]
    scores = entity_scores(gold, pred)
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5


def _row(model, backend, threads, rps, f1):
    return {
        "model": model,
        "backend": backend,
        "threads": threads,
        "resumes_per_second": rps,
        "micro_f1": f1,
    }


def test_comparisons_and_target(bench):
    rows = [
        _row("plain", "hf-pipeline", 2, 1.0, 0.60),
        _row("plain", "torch", 2, 2.0, 0.62),
        _row("plain", "onnx-int8", 2, 4.5, 0.615),
        _row("default", "torch", 2, 1.8, 0.65),
        _row("default", "onnx-int8", 2, 4.0, 0.61),
    ]
    bench.add_comparisons(rows)
    by = {(r["model"], r["backend"]): r for r in rows}
    assert by["plain", "onnx-int8"]["speed_ratio"] == pytest.approx(4.5)
    assert by["plain", "onnx-int8"]["f1_loss_points"] == pytest.approx(0.5)
    assert by["plain", "hf-pipeline"]["f1_loss_points"] == pytest.approx(2.0)
    # The default model's rows are compared with the plain pipeline and their own torch.
    assert by["default", "torch"]["speed_ratio"] == pytest.approx(1.8)
    assert by["default", "onnx-int8"]["f1_loss_points"] == pytest.approx(4.0)

    result = bench.target(rows, [1, 2])
    assert result["status"] == "PASS" and result["threads"] == 2
    assert "PASS" in bench.target_line(result)

    rows[2]["micro_f1"] = 0.60  # 2 points below torch
    bench.add_comparisons(rows)
    result = bench.target(rows, [2])
    assert result["status"] == "MISS" and result["speed_met"] and not result["f1_met"]
    assert "MISS" in bench.target_line(result)

    # Only 1 thread measured: judged there, and said so; no int8 row: n/a.
    assert bench.target(rows, [1])["status"] == "n/a"
    assert "2 not measured" in bench.target_line(bench.target(rows, [1]))


def test_timing_warnings_flag_a_busy_machine(bench):
    rows = [
        {**_row("plain", "hf-pipeline", 1, 3.0, 0.3), "seconds_all": [6.7, 6.6]},
        {**_row("plain", "hf-pipeline", 2, 0.4, 0.3), "seconds_all": [50.0, 70.0]},
        {**_row("plain", "onnx-int8", 1, 4.0, 0.5), "seconds_all": [5.0, 5.1]},
        {**_row("plain", "onnx-int8", 2, 6.0, 0.5), "seconds_all": [3.3, 3.4]},
        {**_row("plain", "torch", 2, 5.0, 0.5), "seconds_all": [4.0]},
    ]
    warnings = bench.timing_warnings(rows)
    assert {(w["backend"], w["threads"]) for w in warnings} == {("hf-pipeline", 2)}
    assert len(warnings) == 2  # slower with more threads; repeats far apart
    bench.add_comparisons(rows)
    result = bench.target(rows, [1, 2], warnings)
    assert result["status"] == "PASS" and result["disturbed"]
    assert "timings disturbed" in bench.target_line(result)
    assert not bench.target(rows, [1, 2], [])["disturbed"]


def test_source_checkpoint_from_package_json(bench):
    def package(manifest, report):
        return SimpleNamespace(manifest=manifest, report=report)

    assert bench.source_checkpoint(package({}, {})) is None
    report = {"source": {"checkpoint": "/b"}}
    assert bench.source_checkpoint(package({"source": {}}, report)) == Path("/b")
    assert bench.source_checkpoint(package({"source": {"checkpoint": "/a"}}, report)) == Path("/a")


def test_without_data_exits_2(bench, tmp_path, capsys):
    missing = tmp_path / "missing.jsonl"
    code = bench.main(["--plain", str(tmp_path), "--data", str(missing)])
    assert code == 2
    assert "no DataTurks file" in capsys.readouterr().err


def test_a_folder_that_is_neither_exits_2(bench, tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("{}\n")
    code = bench.main(["--plain", str(tmp_path / "nowhere"), "--data", str(data)])
    assert code == 2
    assert "--plain" in capsys.readouterr().err


# -- slow: the whole benchmark on tiny packages -----------------------------------------------
def _package(checkpoint: Path, folder: Path) -> Path:
    """The package of `checkpoint` as the conversion writes it (fp32 export, int8 model)."""
    from resume_ner.convert.export import export_onnx
    from resume_ner.convert.package import write_package
    from resume_ner.convert.quantize import quantize

    work = folder.parent / f"{folder.name}-work"
    fp32 = export_onnx(checkpoint, work / "model.onnx")
    int8 = quantize(fp32, work / "model.int8.onnx", "dynamic")
    return write_package(
        folder,
        checkpoint=checkpoint,
        models={"fp32": fp32, "int8": int8},
        report={},
        source={"checkpoint": str(checkpoint)},
    )


@pytest.mark.slow
def test_bench_infer_measures_every_backend(bench, tmp_path, tiny_bert_dir, capsys):
    data = tmp_path / "tiny.jsonl"
    write_dataturks(data, num_docs=20)  # seeded split: 2 held out
    plain = make_checkpoint(tmp_path / "plain", tiny_bert_dir, False, **SETTINGS)
    plain = _package(plain, tmp_path / "p-pkg")
    default = make_checkpoint(tmp_path / "default", tiny_bert_dir, True, **SETTINGS)
    default_pkg = _package(default, tmp_path / "d-pkg")
    out = tmp_path / "bench.json"

    code = bench.main(
        [
            "--plain",
            str(plain),
            "--default",
            str(default_pkg),
            "--data",
            str(data),
            "--threads",
            "1",
            "--repeats",
            "1",
            "--json",
            str(out),
        ]
    )
    stdout = capsys.readouterr().out
    assert code == 0
    assert "held-out: 2 resumes" in stdout
    assert "target: int8 ONNX vs the pipeline at 1 thread(s) (2 not measured)" in stdout

    report = json.loads(out.read_text())
    rows = {(r["model"], r["backend"]): r for r in report["rows"]}
    assert set(rows) == {
        ("plain", "hf-pipeline"),
        ("plain", "torch"),
        ("plain", "onnx-fp32"),
        ("plain", "onnx-int8"),
        # The default model reads word classes: no pipeline row.
        ("default", "torch"),
        ("default", "onnx-fp32"),
        ("default", "onnx-int8"),
    }
    for (model, backend), row in rows.items():
        assert row["threads"] == 1 and len(row["seconds_all"]) == 1
        assert row["resumes_per_second"] > 0 and row["chars_per_second"] > 0
        assert 0.0 <= row["micro_f1"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
        assert row["speed_ratio"] > 0
        assert f"{model:<8} {backend:<12}" in stdout
    assert rows["plain", "hf-pipeline"]["speed_ratio"] == pytest.approx(1.0)
    assert rows["plain", "torch"]["f1_loss_points"] == 0.0
    # Our paths on one model agree: fp32 ONNX decodes as torch does.
    torch_f1 = rows["plain", "torch"]["micro_f1"]
    assert rows["plain", "onnx-fp32"]["micro_f1"] == pytest.approx(torch_f1)
    assert report["data"]["heldout_documents"] == 2
    assert report["models"]["plain"]["checkpoint"] == str((tmp_path / "plain").resolve())
    assert report["target"]["status"] in ("PASS", "MISS")
    assert isinstance(report["warnings"], list)
