"""Everyday work with Azure ML jobs and data (`python -m resume_ner.azure`): a job's status
and its children, downloading its logs and outputs, and registering an annotation file as a
data asset once the project's data layer has read it.

Each function takes an MLClient (resume_ner.azure.workspace.connect) and sends every call to
the SDK through workspace.azure_errors, so a failure is one RemoteError line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.azure.workspace import azure_errors, studio_url
from resume_ner.errors import DataError, RemoteError

# Job types whose children are worth listing: a sweep's trials, a pipeline's steps.
PARENT_TYPES = ("sweep", "pipeline")
# Where a sweep trial records its sampled values (a JSON object), when the service sets it.
SAMPLED_KEY = "hyperparameters"


@dataclass(frozen=True)
class ChildJob:
    """One child of a sweep or pipeline: its name, status and sampled values (if known)."""

    name: str
    status: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobStatus:
    """A job's type, status, Studio page and, for a sweep or pipeline, its children."""

    name: str
    type: str
    status: str
    url: str
    display_name: str | None = None
    children: list[ChildJob] | None = None


@dataclass(frozen=True)
class DataRegistration:
    """A registered data asset."""

    name: str
    version: str
    path: str

    @property
    def override(self) -> str:
        """The override a run reads the asset with."""
        return f"data.asset={self.name}:{self.version}"


# --------------------------------------------------------------------------- status


def status_text(value: Any) -> str:
    """A status as the service words it (the SDK's JobStatus enum prints as JobStatus.X)."""
    if value is None:
        return "Unknown"
    return str(getattr(value, "value", value))


def job_status(client: Any, name: str) -> JobStatus:
    """The job's type, status and Studio page; a sweep's or pipeline's children too."""
    with azure_errors(f"read job {name}"):
        job = client.jobs.get(name)
    kind = str(job.type)
    children = None
    if kind in PARENT_TYPES:
        with azure_errors(f"list the children of job {name}"):
            listed = [c for c in client.jobs.list(parent_job_name=name) if c is not None]
        children = [_child(c) for c in listed]
    return JobStatus(
        name=str(job.name),
        type=kind,
        status=status_text(job.status),
        url=studio_url(job),
        display_name=getattr(job, "display_name", None),
        children=children,
    )


def _child(job: Any) -> ChildJob:
    return ChildJob(str(job.name), status_text(job.status), sampled_values(job))


def sampled_values(job: Any) -> dict[str, str]:
    """A trial's sampled values, from its `hyperparameters` tag or property (JSON) when the
    service recorded it; {} otherwise."""
    for source in (getattr(job, "tags", None), getattr(job, "properties", None)):
        raw = (source or {}).get(SAMPLED_KEY)
        if not raw:
            continue
        try:
            values = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if isinstance(values, dict):
            return {str(k).lstrip("-"): str(v) for k, v in values.items()}
    return {}


def format_status(status: JobStatus) -> str:
    """The job and, as a table, its children."""
    shown = f" ({status.display_name})" if status.display_name else ""
    lines = [
        f"job:    {status.name}{shown}",
        f"type:   {status.type}",
        f"status: {status.status}",
        f"studio: {status.url}",
    ]
    if status.children is None:
        return "\n".join(lines)
    if not status.children:
        return "\n".join([*lines, "children: none yet"])
    width = max(len("name"), *(len(c.name) for c in status.children))
    lines += ["", f"{len(status.children)} children:", f"{'name':<{width}}  {'status':<12}  params"]
    for child in status.children:
        params = " ".join(f"{k}={v}" for k, v in child.params.items()) or "-"
        lines.append(f"{child.name:<{width}}  {child.status:<12}  {params}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- download


def download_job(client: Any, name: str, to: Path, output: str | None = None) -> Path:
    """Download the job's logs and every named output into `to` (or only output `output`).

    The SDK's layout: logs under artifacts/, each output under named-outputs/<name>/; for a
    sweep, the best trial's, with the sweep's own logs under hd-artifacts/."""
    from resume_ner.azure.submit import TERMINAL

    with azure_errors(f"read job {name}"):
        status = status_text(client.jobs.get(name).status)
    if status not in TERMINAL:
        # The SDK refuses too, naming the enum; this names the way to follow the job.
        raise RemoteError(
            f"job {name} is {status}: download it once it has ended "
            f"(python -m resume_ner.azure status {name})"
        )
    to.mkdir(parents=True, exist_ok=True)
    what = f"output {output} of job {name}" if output else f"job {name}"
    with azure_errors(f"download {what}"):
        if output:
            client.jobs.download(name, download_path=str(to), output_name=output)
        else:
            client.jobs.download(name, download_path=str(to), all=True)
    return to


# --------------------------------------------------------------------------- data


def data_config(path: Path, fmt: str) -> Any:
    """The data config `python -m resume_ner.data validate data.path=FILE` reads the file
    with: the files group, with data.path and data.format set."""
    from hydra import compose, initialize_config_dir

    from resume_ner.config.registry import register_configs
    from resume_ner.paths import config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("data_cli", overrides=["data=files", "command=validate"])
    # Set after composing: a path is text, not an override to be parsed.
    cfg.data.path = str(path)
    cfg.data.format = fmt
    return cfg.data


def check_data_file(path: Path, fmt: str = "auto", *, strict: bool = False) -> Any:
    """Read, repair and check the file as the data layer does; print the defect table.

    Raises DataError (or ConfigError for a missing file) when no document can be used, and
    with strict=True while any defect is unrepaired; returns the ValidationReport."""
    from resume_ner.data.load import load_inputs
    from resume_ner.data.report import ValidationReport

    report = ValidationReport()
    load_inputs(data_config(path, fmt), report)
    print(report.format_table())
    if report.documents_kept == 0:
        raise DataError(
            f"{path}: no usable document ({report.documents_read} read, none kept): nothing "
            f"registered; fix the file (`python -m resume_ner.data validate data.path={path}`)"
        )
    unrepaired = report.unrepaired()
    if strict and unrepaired:
        raise DataError(
            f"{path}: {unrepaired} defects were dropped or left unrepaired (--strict): nothing "
            f"registered; see the table above, or register without --strict"
        )
    return report


def register_data(
    client: Any,
    path: Path,
    name: str,
    *,
    version: str | None = None,
    description: str | None = None,
) -> DataRegistration:
    """Upload the file and register it as a uri_file data asset NAME (next version if None)."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    asset = Data(
        path=str(path),
        type=AssetTypes.URI_FILE,
        name=name,
        version=version,
        description=description or f"resume-ner annotations ({path.name})",
        tags={"source_file": path.name},
    )
    with azure_errors(f"register data asset {name}"):
        created = client.data.create_or_update(asset)
    return DataRegistration(str(created.name), str(created.version), str(created.path))
