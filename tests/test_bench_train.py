"""scripts/bench_train.py end to end, on a tiny DataTurks file and a tiny random BERT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "bench_train.py"


def write_dataturks(path: Path, num_docs: int) -> None:
    """Synthetic resumes as a DataTurks export (inclusive `end`, annotator `text`)."""
    from resume_ner.data.synthetic import generate

    lines = []
    for doc in generate(num_docs, seed=3, long_fraction=0.0):
        annotation = [
            {
                "label": [span.label],
                "points": [
                    {
                        "start": span.start,
                        "end": span.end - 1,
                        "text": doc.text[span.start : span.end],
                    }
                ],
            }
            for span in doc.spans
        ]
        lines.append(json.dumps({"content": doc.text, "annotation": annotation}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_bench_train_prints_both_rows_and_the_ratio(tmp_path, tiny_bert_dir):
    data = tmp_path / "tiny.jsonl"
    write_dataturks(data, num_docs=6)
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--data",
            str(data),
            "--model",
            str(tiny_bert_dir),
            "--holdout",
            "2",
            "--limit-train",
            "3",
            "--epochs",
            "1",
            "--max-length",
            "48",
            "--stride",
            "8",
            "--batch-size",
            "4",
            "--threads",
            "1",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stdout = result.stdout
    assert stdout.startswith("command: ")
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    assert "ours" in rows and "baseline" in rows
    assert len(rows["ours"]) == len(rows["baseline"]) == 8
    assert "throughput ratio ours/baseline: " in stdout
    assert "F1 ours - baseline: " in stdout

    report = json.loads(out.read_text())
    assert report["throughput_ratio"] > 0
    for system in ("ours", "baseline"):
        r = report[system]
        assert 0.0 <= r["micro_f1"] <= 1.0 and 0.0 <= r["macro_f1"] <= 1.0
        assert r["tokens_per_second"] > 0 and r["peak_rss_mib"] > 0
        assert r["epochs"] == 1 and r["threads"] == 1
        assert r["data"]["train_documents"] == 3 and r["data"]["heldout_documents"] == 2
    # The same windows for both: equal non-padding token counts.
    assert report["ours"]["train_tokens"] == report["baseline"]["train_tokens"]


@pytest.mark.slow
def test_bench_train_without_data_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no DataTurks file" in result.stderr
