"""The public entry of the data layer: a DataConfig in, repaired and split Documents out.

    splits = load_splits(cfg.data)   # DatasetSplits(train, val, test, report)

data.source=sample generates the seeded synthetic resumes; data.source=files reads data.path
(split by data.split fractions and seed) or data.train_path / val_path / test_path (a
missing val or test set is carved out of train by its fraction). Settings that point
nowhere raise resume_ner.errors.ConfigError; malformed data raises resume_ner.errors.DataError
(a RecordError names file:line), unless data.skip_invalid=true.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resume_ner.data.document import Document
from resume_ner.data.raw import RawRecord
from resume_ner.data.readers import read_raw
from resume_ner.data.repair import RepairOptions, dedupe_documents, repair_records
from resume_ner.data.report import ValidationReport
from resume_ner.data.splits import split_documents
from resume_ner.errors import ConfigError

ROLES = ("train", "val", "test")


@dataclass
class DatasetSplits:
    train: list[Document]
    val: list[Document]
    test: list[Document]
    report: ValidationReport


def load_documents(
    path: str | Path,
    data_cfg: Any,
    report: ValidationReport,
    *,
    setting: str = "data.path",
    seen: dict[str, Document] | None = None,
) -> list[Document]:
    """Read, repair and dedupe one annotation file, recording every defect in `report`.

    `setting` names the config key the path came from, for the error when it is missing;
    pass one `seen` dict to several calls to dedupe across files.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"{setting}={path} {what} (resolved: {path.resolve()})")
    on_invalid = report.record_invalid if data_cfg.skip_invalid else None
    records = read_raw(path, data_cfg.format, on_invalid)
    documents = repair_records(records, RepairOptions.from_config(data_cfg), report)
    documents = dedupe_documents(documents, report, drop=data_cfg.dedupe, seen=seen)
    report.count_kept(documents)
    return documents


def _sample_documents(data_cfg: Any, report: ValidationReport) -> list[Document]:
    # Imported here: the generator is only needed for data.source=sample.
    from resume_ner.data.synthetic import generate

    sample = data_cfg.sample
    generated = generate(sample.num_docs, sample.seed, sample.long_fraction)
    records = []
    for index, doc in enumerate(generated):
        record = RawRecord.from_document(doc)
        record.location = record.location or f"sample#{index}"
        records.append(record)
    documents = repair_records(records, RepairOptions.from_config(data_cfg), report)
    return dedupe_documents(documents, report, drop=data_cfg.dedupe)


def load_inputs(data_cfg: Any, report: ValidationReport) -> dict[str, list[Document]]:
    """The configured documents by role, in input order, deduped across files.

    {"all": [...]} for data.path or the sample; {"train": ..., "val": ..., "test": ...}
    (those that are set) for explicit split files.
    """
    asset = data_cfg.get("asset") if hasattr(data_cfg, "get") else None
    if asset and not data_cfg.path:
        # Inside a job the asset is mounted and given as data.path; here there is no mount.
        raise ConfigError(
            f"data.asset={asset} is an Azure ML data asset, read by jobs submitted with "
            f"hydra/launcher=azureml env=azure compute=...; to run here give data.path=FILE"
        )
    if data_cfg.source == "sample":
        inputs = {"all": _sample_documents(data_cfg, report)}
    elif data_cfg.source == "files":
        explicit = {role: getattr(data_cfg, f"{role}_path", None) for role in ROLES}
        explicit = {role: path for role, path in explicit.items() if path}
        if data_cfg.path and explicit:
            given = ", ".join(f"data.{role}_path" for role in explicit)
            raise ConfigError(f"set either data.path or {given}, not both")
        if data_cfg.path:
            inputs = {"all": load_documents(data_cfg.path, data_cfg, report)}
        elif "train" in explicit:
            seen: dict[str, Document] = {}
            inputs = {
                role: load_documents(path, data_cfg, report, setting=f"data.{role}_path", seen=seen)
                for role, path in explicit.items()
            }
        elif explicit:
            raise ConfigError("data.val_path / data.test_path need data.train_path as well")
        else:
            raise ConfigError(
                f"no input file: data '{data_cfg.name}' has data.source=files but data.path "
                f"is not set. Give data.path=FILE (or data.train_path=FILE, with optional "
                f"data.val_path / data.test_path)."
            )
    else:
        raise ConfigError(f"unknown data.source {data_cfg.source!r}; expected sample or files")
    report.count_kept([doc for documents in inputs.values() for doc in documents])
    return inputs


def load_splits(data_cfg: Any) -> DatasetSplits:
    """Load, repair and split the configured data; the report covers all of it."""
    report = ValidationReport()
    inputs = load_inputs(data_cfg, report)
    split = data_cfg.split
    if "all" in inputs:
        train, val, test = split_documents(
            inputs["all"], split.val_fraction, split.test_fraction, split.seed
        )
    else:
        # A set without its own file is carved out of train by its fraction.
        val_fraction = 0.0 if "val" in inputs else split.val_fraction
        test_fraction = 0.0 if "test" in inputs else split.test_fraction
        train, val, test = split_documents(inputs["train"], val_fraction, test_fraction, split.seed)
        val = inputs.get("val", val)
        test = inputs.get("test", test)
    report.splits = {"train": len(train), "val": len(val), "test": len(test)}
    return DatasetSplits(train, val, test, report)
