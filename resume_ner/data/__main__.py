"""`python -m resume_ner.data {validate,convert} [overrides]`: check or convert annotations.

    python -m resume_ner.data validate data=dataturks
    python -m resume_ner.data validate data.path=resumes.json data.strict=true
    python -m resume_ner.data convert data.path=resumes.jsonl output=clean.jsonl
    python -m resume_ner.data convert data=dataturks split=val output=val.jsonl

The subcommand is taken off argv before Hydra sees it and passed on as `command=<word>`.
Giving data.path (or data.train_path) without choosing a data group selects data=files, so
the default group (the synthetic sample) does not shadow the file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from resume_ner.cli import exit_on_user_error, run_dir, run_hydra
from resume_ner.errors import ConfigError

COMMANDS = ("validate", "convert")
SPLITS = ("train", "val", "test")
USAGE = (
    "usage: python -m resume_ner.data {validate|convert} [key=value ...]\n"
    "  validate  check and repair the annotations, print the defect table and write\n"
    "            validation.json to the run directory (data.strict=true: exit 1 while\n"
    "            any defect is left unrepaired)\n"
    "  convert   write the repaired documents as spaCy-style JSONL to output=FILE\n"
    "            (data.strict=true: nothing is written while a defect is unrepaired;\n"
    "            split=train|val|test: only that split, as training makes it)\n"
    "data.path=FILE alone selects data=files (format auto-detected); Hydra flags such as\n"
    "--cfg job work as usual."
)


def data_task(cfg: DictConfig) -> int:
    """Run the subcommand in cfg.command; return the number of unrepaired defects."""
    # Imported here so `--help` and `--cfg job` stay instant.
    from resume_ner.data.load import load_inputs, load_splits
    from resume_ner.data.report import ValidationReport

    if cfg.command == "convert" and not cfg.output:
        raise ConfigError("convert needs output=FILE (where to write the spaCy-style JSONL)")
    if cfg.split not in (None, *SPLITS):
        raise ConfigError(f"split={cfg.split}: choose one of {', '.join(SPLITS)} (or leave it out)")
    if cfg.split and cfg.command != "convert":
        raise ConfigError(f"split={cfg.split} is an option of convert; validate checks every split")
    if cfg.command == "validate":
        splits = load_splits(cfg.data)
        report, documents = splits.report, None
    elif cfg.split:
        splits = load_splits(cfg.data)
        report, documents = splits.report, getattr(splits, cfg.split)
    else:
        report = ValidationReport()
        inputs = load_inputs(cfg.data, report)
        documents = [doc for docs in inputs.values() for doc in docs]
    print(report.format_table())
    report_path = run_dir() / "validation.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(report.to_json(), encoding="utf-8")
    print(f"\nreport: {report_path}")
    unrepaired = report.unrepaired()
    if cfg.data.strict and unrepaired:
        print(
            f"data.strict=true: {unrepaired} defects were dropped or left unrepaired "
            f"(see {report_path})",
            file=sys.stderr,
        )
        raise SystemExit(1)
    if documents is not None:
        output = Path(cfg.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            for doc in documents:
                handle.write(json.dumps(doc.to_spacy(), ensure_ascii=False) + "\n")
        print(f"wrote {len(documents)} documents to {output}")
    return unrepaired


def _is_override(arg: str) -> bool:
    return not arg.startswith("-") and ("=" in arg or arg.startswith("~"))


def _hydra_argv(command: str, args: list[str]) -> list[str]:
    """Hydra's argv: its flags first, then the overrides, then command=<word>.

    Hydra's parser takes the overrides as one run of positionals, so the ones added here
    must join the user's rather than follow a flag such as `--cfg job`. data.path (or
    data.train_path) given without a data group selects data=files.
    """
    overrides = [arg for arg in args if _is_override(arg)]
    flags = [arg for arg in args if not _is_override(arg)]
    gives_path = any(o.startswith(("data.path=", "data.train_path=")) for o in overrides)
    picks_group = any(o.split("=", 1)[0].lstrip("+~") == "data" for o in overrides)
    if gives_path and not picks_group:
        overrides.insert(0, "data=files")
    return [*flags, *overrides, f"command={command}"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: pop the subcommand, then hand the overrides to Hydra."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return
    if not args or args[0] not in COMMANDS:
        got = f"unknown subcommand {args[0]!r}" if args else "missing subcommand"
        with exit_on_user_error():
            raise ConfigError(f"{got}: expected validate|convert\n{USAGE}")
    run_hydra(data_task, "data_cli", _hydra_argv(args[0], args[1:]))


if __name__ == "__main__":
    main()
