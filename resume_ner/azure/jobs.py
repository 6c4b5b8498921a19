"""The Azure ML jobs of a composed config: a command job per run (training, conversion, data
validation) and one sweep job for an hpo search, built as the SDK's own objects so that
they validate, dump to YAML and submit exactly as `az ml job create` would take them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.azure.command import (
    ENTRYPOINTS,
    Entrypoint,
    command_line,
    output_override,
    remote_overrides,
)
from resume_ner.azure.inputs import RemoteInput, checkpoint_input, data_input
from resume_ner.errors import RemoteError

OUTPUT_MODE = "rw_mount"
# Overrides whose key the job reads from an input or writes to an output instead.
REPLACED = ("data.asset", "data.asset_file", "data.path")


@dataclass
class JobOptions:
    """hydra.launcher's settings that shape a job (the launcher's config dataclass)."""

    experiment_name: str | None = None
    display_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RemoteJob:
    """A built job and what the dry run says about it."""

    label: str
    job: Any
    notes: list[str] = field(default_factory=list)


def entrypoint(config_name: str) -> Entrypoint:
    if config_name not in ENTRYPOINTS:
        runnable = ", ".join(f"python -m {e.module}" for e in ENTRYPOINTS.values())
        raise RemoteError(
            f"the Azure ML launcher runs {runnable}; '{config_name}' runs locally only "
            f"(drop hydra/launcher=azureml)"
        )
    return ENTRYPOINTS[config_name]


def job_inputs(cfg: Any, entry: Entrypoint) -> list[RemoteInput]:
    """The inputs of a job of `entry`: the data asset, and a conversion's checkpoint."""
    found = []
    if entry.config_name == "convert":
        found.append(checkpoint_input(cfg.get("checkpoint")))
    data = data_input(cfg.data) if "data" in cfg else None
    if data is not None:
        found.append(data)
    elif "data" in cfg and _local_files(cfg.data):
        raise RemoteError(
            f"data '{cfg.data.get('name')}' reads a local file, which is not on the cluster: "
            f"register it (`python -m resume_ner.azure register-data FILE --name NAME`) and "
            f"give data.asset=NAME:VERSION"
        )
    return found


def _local_files(data_cfg: Any) -> bool:
    """Whether the data config reads files of this machine."""
    if data_cfg.get("source") == "sample":
        return False
    return any(data_cfg.get(key) for key in ("path", "train_path", "val_path", "test_path"))


def _input_overrides(cfg: Any, inputs: list[RemoteInput]) -> list[str]:
    """The overrides that read each input; the sample data group gives way to files."""
    extra = []
    if any(i.name == "data" for i in inputs) and cfg.data.get("source") == "sample":
        extra.append("data=files")
    return [*extra, *(i.override for i in inputs)]


def _replaced_keys(entry: Entrypoint) -> list[str]:
    keys = [*REPLACED, "command"]
    if entry.output_key:
        keys.append(entry.output_key)
    if entry.config_name == "convert":
        keys.append("checkpoint")
    return keys


def trial_arguments(cfg: Any, entry: Entrypoint, overrides: Sequence[str]) -> list[str]:
    """A job's overrides: the local ones less the launcher's and the replaced keys, then
    the inputs and the output read from their placeholders."""
    inputs = job_inputs(cfg, entry)
    kept = remote_overrides(overrides, _replaced_keys(entry))
    return [*kept, *_input_overrides(cfg, inputs), *output_override(entry)]


def _common(cfg: Any, entry: Entrypoint, options: JobOptions, overrides: Sequence[str]) -> dict:
    """Compute, experiment, tags, inputs and outputs, shared by command and sweep jobs."""
    from azure.ai.ml import Output

    compute = cfg.get("compute")
    if compute is None or compute.get("target") != "azureml" or not compute.get("cluster"):
        raise RemoteError(
            "the Azure ML launcher needs a cluster: add compute=gpu-cluster or "
            "compute=cpu-cluster (conf/compute/), or set compute.cluster=NAME"
        )
    if int(compute.get("instance_count") or 1) != 1:
        raise RemoteError(
            f"compute.instance_count={compute.instance_count}: training runs in one process "
            f"on one node; set compute.instance_count=1 (a sweep runs trials side by side "
            f"with hpo.limits.max_concurrent)"
        )
    tracking = cfg.get("tracking") or {}
    tags = {
        **{str(k): str(v) for k, v in (tracking.get("tags") or {}).items()},
        **{str(k): str(v) for k, v in options.tags.items()},
        "resume_ner.entrypoint": entry.module,
        "resume_ner.overrides": " ".join(overrides)[:1000],
    }
    outputs = {}
    if entry.output:
        outputs[entry.output] = Output(type="uri_folder", mode=OUTPUT_MODE)
    return {
        "compute": str(compute.cluster),
        "experiment_name": options.experiment_name
        or tracking.get("experiment_name")
        or "resume-ner",
        "tags": tags,
        "inputs": {i.name: i.to_sdk() for i in job_inputs(cfg, entry)},
        "outputs": outputs,
    }


def command_job(
    cfg: Any,
    config_name: str,
    overrides: Sequence[str],
    *,
    options: JobOptions,
    root: Path,
    environment: Any,
) -> RemoteJob:
    """One run of an entrypoint as a command job (the SDK's `command()` builder: its
    create_or_update takes that, not a bare CommandJob, which only a sweep's trial is)."""
    from azure.ai.ml import command

    entry = entrypoint(config_name)
    arguments = trial_arguments(cfg, entry, overrides)
    subcommand = cfg.get("command") if config_name == "data_cli" else None
    common = _common(cfg, entry, options, overrides)
    job = command(
        command=command_line(entry, arguments, subcommand),
        code=str(root),
        environment=environment,
        display_name=options.display_name or _display_name(entry, overrides),
        **common,
    )
    return RemoteJob(label=entry.config_name, job=job)


def sweep_job(
    cfg: Any,
    arguments: Sequence[str],
    *,
    options: JobOptions,
    root: Path,
    environment: Any,
) -> RemoteJob:
    """The whole search of `cfg.hpo` and the command line as one sweep job."""
    from azure.ai.ml.entities import CommandJob
    from azure.ai.ml.sweep import SweepJob

    from resume_ner.azure import sweep
    from resume_ner.hpo.search import search_of

    entry = entrypoint("train")
    search = search_of(cfg, arguments)
    sampled = [f"{d.param}=${{{{search_space.{d.name}}}}}" for d in search.dimensions]
    trial_args = [*trial_arguments(cfg, entry, search.overrides), *sampled]
    common = _common(cfg, entry, options, search.overrides)
    hpo = cfg.hpo
    trial = CommandJob(
        command=command_line(entry, trial_args),
        code=str(root),
        environment=environment,
    )
    job = SweepJob(
        trial=trial,
        search_space=sweep.search_space(search.dimensions),
        sampling_algorithm=sweep.sampling_algorithm(hpo),
        objective=sweep.objective(hpo),
        limits=sweep.limits(hpo),
        early_termination=sweep.early_termination(hpo),
        display_name=options.display_name or f"hpo-{hpo.name}",
        **common,
    )
    return RemoteJob(label=f"sweep-{hpo.name}", job=job, notes=sweep.not_applied(hpo))


def _display_name(entry: Entrypoint, overrides: Sequence[str]) -> str:
    shown = " ".join(o for o in remote_overrides(overrides, ()) if not o.startswith("data."))
    # Hydra escapes ':' and other grammar characters in the overrides it hands over.
    shown = shown.replace("\\", "")
    name = entry.module.rsplit(".", 1)[-1] + (f" {shown}" if shown else "")
    return name[:120]
