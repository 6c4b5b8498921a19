"""scripts/annotation_density.py: spans per resume by block of the file, term counts, and
clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "annotation_density.py"

pytestmark = pytest.mark.slow  # every test runs the script in a subprocess


def _record(text: str, spans: list[tuple[str, str]]) -> dict:
    """A DataTurks record labelling the first occurrence of each (substring, label)."""
    annotation = []
    for piece, label in spans:
        start = text.index(piece)
        annotation.append(
            {
                "label": [label],
                "points": [{"start": start, "end": start + len(piece) - 1, "text": piece}],
            }
        )
    return {"content": text, "annotation": annotation}


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True
    )


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_blocks_in_file_order_show_a_change_of_density(tmp_path):
    dense = [
        _record(
            f"Asha Rao {i}\nInfosys\nPune",
            [(f"Asha Rao {i}", "Name"), ("Infosys", "Companies worked at"), ("Pune", "Location")],
        )
        for i in range(4)
    ]
    sparse = [
        _record(
            f"Ravi Kumar {i}\nMicrosoft\nPune",
            [(f"Ravi Kumar {i}", "Name"), ("Microsoft", "Companies worked at")],
        )
        for i in range(4)
    ]
    path = _write(tmp_path / "resumes.jsonl", dense + sparse)

    result = _run(path, "--block", 4)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["documents", "spans/resume"]
    first, second = lines[1].split(), lines[2].split()
    assert first[0] == "1-4" and second[0] == "5-8"
    assert (first[1], second[1]) == ("3.0", "2.0")
    # columns: Companies, Location, Name (sorted labels)
    assert first[3:] == ["1.0", "1.0", "1.0"] and second[3:] == ["1.0", "0.0", "1.0"]

    with_term = _run(path, "--block", 4, "--term", "MICROSOFT").stdout.splitlines()
    assert with_term[1].split()[3:] == ["0", "0/4", "0/4", "0/4"]
    assert with_term[2].split()[3:] == ["4", "4/4", "0/0", "0/4"]


def test_repeats_counts_how_often_recurring_strings_are_labelled(tmp_path):
    # Companies labelled at both of their occurrences (the DataTurks record format allows
    # several points per annotation); Pune labelled only where first written.
    records = []
    for i in range(6):
        text = f"Asha Rao {i}\nInfosys, Pune\nAt Infosys since 2019; Pune office"
        second = text.rindex("Infosys")
        record = _record(text, [("Pune", "Location")])
        record["annotation"].append(
            {
                "label": ["Companies worked at"],
                "points": [
                    {"start": start, "end": start + 6, "text": "Infosys"}
                    for start in (text.index("Infosys"), second)
                ],
            }
        )
        records.append(record)
    result = _run(_write(tmp_path / "r.jsonl", records), "--repeats")
    assert result.returncode == 0, result.stderr
    rows = {
        line.rsplit(maxsplit=4)[0]: line.split()[-4:] for line in result.stdout.splitlines()[1:-1]
    }
    # 6 other occurrences each; a label needs 10 before it is called repeated.
    assert rows["Companies worked at"] == ["6", "6", "1.00", "no"]
    assert rows["Location"] == ["6", "0", "0.00", "no"]
    assert "6 documents: 6 of 12 other occurrences labelled" in result.stdout


def test_missing_file_and_bad_block_fail_clearly(tmp_path):
    missing = _run(tmp_path / "nope.jsonl")
    assert missing.returncode != 0
    assert "nope.jsonl" in missing.stderr and "Traceback" not in missing.stderr
    path = _write(tmp_path / "one.jsonl", [_record("Asha Rao\nPune", [("Asha Rao", "Name")])])
    bad_block = _run(path, "--block", 0)
    assert bad_block.returncode == 2 and "--block" in bad_block.stderr
