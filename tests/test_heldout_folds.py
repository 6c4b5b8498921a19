"""scripts/heldout_folds.py: disjoint held-out sets, their training files, clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "heldout_folds.py"

pytestmark = pytest.mark.slow  # every test runs the script in a subprocess


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True
    )


def _write(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"content": t, "annotation": []}) + "\n" for t in texts))
    return path


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["content"] for line in path.read_text().splitlines()]


def test_folds_are_disjoint_and_complement_their_training_files(tmp_path):
    texts = [f"resume {i}" for i in range(30)]
    source = _write(tmp_path / "all.jsonl", [*texts, "resume 3"])  # one repeated text
    done = _run(source, "--out", tmp_path / "f", "--folds", 3, "--size", 5)
    assert done.returncode == 0, done.stderr
    assert "30 distinct documents (1 repeated" in done.stdout
    held = []
    for k in range(3):
        test = _texts(tmp_path / "f" / f"fold{k}_test.jsonl")
        train = _texts(tmp_path / "f" / f"fold{k}_train.jsonl")
        assert len(test) == 5 and len(train) == 25
        assert sorted(test + train, key=texts.index) == texts  # each text once, none lost
        assert train == [t for t in texts if t not in test]  # file order kept
        held.append(set(test))
    assert not (held[0] & held[1] or held[0] & held[2] or held[1] & held[2])


def test_the_draw_depends_on_the_seed(tmp_path):
    source = _write(tmp_path / "all.jsonl", [f"resume {i}" for i in range(60)])
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert _run(source, "--out", tmp_path / name, "--seed", seed).returncode == 0
    fold = "fold0_test.jsonl"
    assert (tmp_path / "a" / fold).read_text() == (tmp_path / "b" / fold).read_text()
    assert (tmp_path / "a" / fold).read_text() != (tmp_path / "c" / fold).read_text()


def test_bad_input_fails_clearly_and_writes_nothing(tmp_path):
    small = _write(tmp_path / "small.jsonl", [f"resume {i}" for i in range(10)])
    done = _run(small, "--out", tmp_path / "o1", "--folds", 2, "--size", 5)
    assert done.returncode != 0 and "Lower --folds or --size" in done.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"content": "a"}\n{"content": \n')
    done = _run(broken, "--out", tmp_path / "o2")
    assert done.returncode != 0 and "broken.jsonl:2: not JSON" in done.stderr
    other = tmp_path / "other.jsonl"
    other.write_text('{"body": "a"}\n')
    done = _run(other, "--out", tmp_path / "o3")
    assert done.returncode != 0 and "other.jsonl:1: no text field" in done.stderr
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3"))
