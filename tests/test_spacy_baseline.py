"""scripts/spacy_baseline.py --reuse: rescoring saved spaCy predictions, with and without the
repeated labels learned from the training part (training spaCy itself needs spaCy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "spacy_baseline.py"
TEXT = "Asha Rao {k}\nInfosys, Pune\nAt Infosys I led the Pune team. Infosys"

pytestmark = pytest.mark.slow  # every test runs the script in a subprocess


def _record(text: str) -> dict:
    """A DataTurks record labelling every occurrence of Infosys and the name."""
    starts = [k for k in range(len(text)) if text.startswith("Infosys", k)]
    points = [{"start": s, "end": s + 6, "text": "Infosys"} for s in starts]
    name = text.split("\n")[0]
    return {
        "content": text,
        "annotation": [
            {"label": ["Companies worked at"], "points": points},
            {"label": ["Name"], "points": [{"start": 0, "end": len(name) - 1, "text": name}]},
        ],
    }


def _write(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps(_record(t)) + "\n" for t in texts), encoding="utf-8")
    return path


def test_reuse_scores_saved_predictions_with_and_without_the_repeats(tmp_path):
    train = _write(tmp_path / "train.jsonl", [TEXT.format(k=k) for k in range(12)])
    test_text = TEXT.format(k=99)
    test = _write(tmp_path / "test.jsonl", [test_text])
    out = tmp_path / "work"
    out.mkdir()
    # spaCy found the name and the first Infosys only.
    first = test_text.index("Infosys")
    predicted = [[[0, 11, "Name"], [first, first + 7, "Companies worked at"]]]
    (out / "predicted.json").write_text(json.dumps(predicted))
    command = [sys.executable, str(SCRIPT), "--train", str(train), "--test", str(test)]
    done = subprocess.run(
        [*command, "--spacy-python", "/nonexistent/python", "--out", str(out), "--reuse"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    # 2 of 4 gold spans found: F1 2*2/(2+4); with the two other Infosys: 4 of 4.
    assert "predictions reused; 1 test documents: micro F1 0.667" in done.stdout
    assert "repeated labels of the training part (Companies worked at): micro F1 1.000" in (
        done.stdout
    )

    missing = subprocess.run(
        [*command, "--spacy-python", "x", "--out", str(tmp_path / "empty"), "--reuse"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "--reuse needs --out DIR" in missing.stderr
