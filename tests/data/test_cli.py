"""`python -m resume_ner.data {validate,convert}` end to end, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resume_ner.data.__main__ import _hydra_argv, main

pytestmark = pytest.mark.slow

CONTENT = "Jane Doe\nEngineer at Acme Corp\nSkills: Python"
MESSY = {
    "content": CONTENT,
    "annotation": [
        {"label": ["Name"], "points": [{"start": 0, "end": 8, "text": "Jane Doe\n"}]},  # padded
        {
            "label": ["Companies worked at"],
            "points": [{"start": 22, "end": 30, "text": "Acme Corp"}],
        },
        {"label": ["Designation"], "points": [{"start": 7, "end": 14, "text": "Engineer"}]},
        {"label": ["UNKNOWN"], "points": [{"start": 39, "end": 44, "text": "Python"}]},
    ],
}


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "resume_ner.data", *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "run" / "validation.json").read_text(encoding="utf-8"))


def _found(report: dict, defect: str) -> tuple[int, int, int]:
    entry = report["defects"][defect]
    return entry["found"], entry["repaired"], entry["dropped"]


@pytest.fixture
def messy(write_jsonl) -> Path:
    return write_jsonl([MESSY], "messy.jsonl")


def test_validate_prints_the_table_and_writes_validation_json(tmp_path, messy):
    result = _run(tmp_path, "validate", "data=dataturks", f"data.path={messy}")
    assert result.returncode == 0, result.stderr
    report = _report(tmp_path)
    assert _found(report, "edge_whitespace") == (1, 1, 0)
    assert _found(report, "shifted_offsets") == (2, 2, 0)  # Acme Corp and Engineer
    assert _found(report, "label_dropped") == (1, 0, 1)
    assert report["label_map"] == {"UNKNOWN": {"to": None, "count": 1}}
    assert report["entities"] == {"Companies worked at": 1, "Designation": 1, "Name": 1}
    assert report["defects"]["label_dropped"]["occurrences"][0]["location"] == f"{messy}:1"
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[[r[:1] for r in rows].index(["shifted_offsets"])][:4] == [
        "shifted_offsets",
        "2",
        "2",
        "0",
    ]
    assert ["Designation", "1"] in rows


def test_strict_exits_non_zero_while_defects_are_dropped(tmp_path, messy):
    result = _run(tmp_path, "validate", "data=dataturks", f"data.path={messy}", "data.strict=true")
    assert result.returncode == 1
    assert "data.strict=true: 1 defects" in result.stderr
    assert _report(tmp_path)["unrepaired"] == 1


def test_strict_passes_when_everything_was_repaired(tmp_path, write_jsonl):
    padded = write_jsonl([{"text": "Jane Doe ", "entities": [[0, 9, "Name"]]}], "ok.jsonl")
    result = _run(tmp_path, "validate", f"data.path={padded}", "data.strict=true")
    assert result.returncode == 0, result.stderr
    assert _found(_report(tmp_path), "edge_whitespace") == (1, 1, 0)


def test_convert_writes_repaired_spacy_jsonl(tmp_path, messy):
    # No data group given: data.path selects data=files (format auto, no label_map), so the
    # default sample group's format=spacy does not apply to this DataTurks file.
    output = tmp_path / "out" / "clean.jsonl"
    result = _run(tmp_path, "convert", f"data.path={messy}", f"output={output}")
    assert result.returncode == 0, result.stderr
    [line] = output.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["text"] == CONTENT
    spans = [(CONTENT[s:e], label) for s, e, label in record["entities"]]
    assert spans == [
        ("Jane Doe", "Name"),
        ("Engineer", "Designation"),
        ("Acme Corp", "Companies worked at"),
        ("Python", "UNKNOWN"),
    ]
    assert "shifted_offsets" in result.stdout
    assert (tmp_path / "run" / "validation.json").is_file()


def test_convert_writes_one_split_as_training_makes_it(tmp_path, write_jsonl):
    from omegaconf import OmegaConf

    from resume_ner.config.schema import DataConfig
    from resume_ner.data.load import load_splits

    records = [
        {"text": f"Resume {i} of Jane Doe", "entities": [[12, 20, "Name"]]} for i in range(20)
    ]
    path = write_jsonl(records, "resumes.jsonl")
    output = tmp_path / "val.jsonl"
    result = _run(
        tmp_path,
        "convert",
        f"data.path={path}",
        "data.split.val_fraction=0.25",
        "split=val",
        f"output={output}",
    )
    assert result.returncode == 0, result.stderr
    data = OmegaConf.merge(
        OmegaConf.structured(DataConfig),
        {"name": "files", "path": str(path), "split": {"val_fraction": 0.25}},
    )
    expected = [d.text for d in load_splits(data).val]
    written = [json.loads(line)["text"] for line in output.read_text().splitlines()]
    assert written == expected and len(written) == 5
    assert f"wrote 5 documents to {output}" in result.stdout

    wrong = _run(tmp_path, "convert", f"data.path={path}", "split=dev", f"output={output}.x")
    assert wrong.returncode == 2 and "split=dev: choose one of train, val, test" in wrong.stderr
    assert not Path(f"{output}.x").exists()
    validate = _run(tmp_path, "validate", f"data.path={path}", "split=val")
    assert validate.returncode == 2 and "split=val is an option of convert" in validate.stderr


def test_convert_without_output_is_a_usage_error(tmp_path, messy):
    result = _run(tmp_path, "convert", f"data.path={messy}")
    assert result.returncode == 2
    assert "convert needs output=FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_input_names_the_path_and_setting(tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    result = _run(tmp_path, "validate", "data=dataturks", f"data.path={missing}")
    assert result.returncode == 2
    assert f"data.path={missing} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "bad.jsonl:2: invalid JSON"),
        (["data.overlap_policy=error"], "spans overlap: Name [0:8] 'Jane Doe'"),
    ],
)
def test_data_errors_exit_2_with_the_location(tmp_path, write_jsonl, extra, message):
    overlap = {"text": "Jane Doe", "entities": [[0, 8, "Name"], [5, 8, "Name"]]}
    path = write_jsonl([overlap, "{oops"] if not extra else [overlap], "bad.jsonl")
    result = _run(tmp_path, "validate", f"data.path={path}", *extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_skip_invalid_reports_the_skipped_line(tmp_path, write_jsonl):
    path = write_jsonl([{"text": "Jane", "entities": []}, "{oops"], "bad.jsonl")
    result = _run(tmp_path, "validate", f"data.path={path}", "data.skip_invalid=true")
    assert result.returncode == 0, result.stderr
    [occurrence] = _report(tmp_path)["defects"]["invalid_record"]["occurrences"]
    assert occurrence["location"] == f"{path}:2"


@pytest.mark.parametrize(("argv", "problem"), [([], "missing subcommand"), (["train"], "'train'")])
def test_missing_or_unknown_subcommand_lists_the_choices(capsys, argv, problem):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert problem in err and "validate|convert" in err


def test_no_subcommand_in_a_subprocess_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "resume_ner.data"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "validate|convert" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["data.path=x.jsonl", "--cfg", "job"],
            ["--cfg", "job", "data=files", "data.path=x.jsonl", "command=validate"],
        ),
        (
            ["data=dataturks", "data.path=x.jsonl"],
            ["data=dataturks", "data.path=x.jsonl", "command=validate"],
        ),
        (["data.strict=true"], ["data.strict=true", "command=validate"]),
    ],
)
def test_hydra_argv_keeps_overrides_together_and_implies_data_files(args, expected):
    assert _hydra_argv("validate", args) == expected
