"""A launch on Azure ML, start to end: build the jobs, check them, then either write their
YAML (dry run, nothing sent) or submit them and, when asked, stream or wait. The Hydra
launcher (launchers/hydra_plugins/resume_ner_launcher/azureml_launcher.py) is a thin adapter
around `launch_runs` and `launch_sweep`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.azure.jobs import JobOptions, RemoteJob
from resume_ner.errors import RemoteError

YAML_DIR = "azureml"


@dataclass
class LaunchOptions(JobOptions):
    """hydra.launcher's settings (AzureMLLauncherConf)."""

    dry_run: bool = False
    stream: bool = False
    wait: bool = False
    poll_seconds: float = 30.0


@dataclass
class Launched:
    """One job of a launch: its YAML (dry run) or its name, Studio URL and outcome."""

    label: str
    yaml: Path | None = None
    name: str | None = None
    studio_url: str | None = None
    status: str | None = None
    objective: float | None = None
    notes: list[str] = field(default_factory=list)


def launch_runs(
    runs: Sequence[tuple[Any, Sequence[str]]],
    config_name: str,
    options: LaunchOptions,
    out_dir: Path,
) -> list[Launched]:
    """One command job per (composed config, overrides) of a multirun."""
    from resume_ner.azure.jobs import command_job

    _refuse_inside_a_job()
    shot, environment = _software(runs[0][0])
    root = out_dir / YAML_DIR / "code"
    jobs = [
        command_job(
            cfg, config_name, overrides, options=options, root=root, environment=environment
        )
        for cfg, overrides in runs
    ]
    return _launch(jobs, [cfg for cfg, _ in runs], shot, options, out_dir)


def launch_sweep(
    cfg: Any, arguments: Sequence[str], options: LaunchOptions, out_dir: Path
) -> Launched:
    """The hpo search of `cfg` and the command line `arguments` as one sweep job."""
    from resume_ner.azure.jobs import sweep_job

    _refuse_inside_a_job()
    shot, environment = _software(cfg)
    root = out_dir / YAML_DIR / "code"
    job = sweep_job(cfg, arguments, options=options, root=root, environment=environment)
    return _launch([job], [cfg], shot, options, out_dir)[0]


def _refuse_inside_a_job() -> None:
    from resume_ner.azure.workspace import in_azure_job

    if in_azure_job():
        raise RemoteError(
            "this command runs inside an Azure ML job, which never submits another job: "
            "drop hydra/launcher=azureml from the job's command"
        )


def _software(cfg: Any) -> tuple[Any, Any]:
    """The checked code snapshot and the job environment."""
    from resume_ner.azure.environment import job_environment
    from resume_ner.azure.snapshot import check_snapshot, code_root, snapshot

    root = code_root()
    shot = snapshot(root)
    check_snapshot(shot)
    return shot, job_environment(cfg.env, cfg.compute, root)


def _launch(
    jobs: list[RemoteJob], cfgs: list[Any], shot: Any, options: LaunchOptions, out_dir: Path
) -> list[Launched]:
    """Check every job, stage the code they name, then write their YAML or submit them."""
    from resume_ner.azure.checks import check_job
    from resume_ner.azure.snapshot import stage
    from resume_ner.config.checks import check_config

    for index, (remote, cfg) in enumerate(zip(jobs, cfgs, strict=True)):
        # What the job's own entrypoint would refuse, refused before it is sent.
        check_config(cfg)
        check_job(remote.job, cfg, where=f"job {index} ({remote.label})")
    stage(shot, out_dir / YAML_DIR / "code")
    if options.dry_run:
        return [write_yaml(remote, out_dir / YAML_DIR, i) for i, remote in enumerate(jobs)]
    return _submit_all(jobs, cfgs[0], options)


def write_yaml(remote: RemoteJob, folder: Path, index: int) -> Launched:
    """The job's YAML (valid for `az ml job create --file`), checked by loading it back."""
    import logging

    from azure.ai.ml import load_job

    # The SDK logs a warning for each experimental schema class it meets while loading.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{index}-{remote.label}.yaml"
    as_job(remote.job).dump(path)
    try:
        load_job(path)
    except Exception as error:  # the SDK raises ValidationException and marshmallow errors
        raise RemoteError(f"the job YAML {path} does not load back: {error}") from error
    print(f"dry run: {path} (submit it with `az ml job create --file {path}`)")
    for note in remote.notes:
        print(f"  not applied on Azure ML: {note}")
    return Launched(remote.label, yaml=path, notes=remote.notes)


def as_job(job: Any) -> Any:
    """The job entity to dump: a `command()` node dumps as a component, which `load_job`
    refuses; its `_to_job()` is the CommandJob that YAML describes."""
    return job._to_job() if hasattr(job, "_to_job") else job


def _submit_all(jobs: list[RemoteJob], cfg: Any, options: LaunchOptions) -> list[Launched]:
    from resume_ner.azure.submit import submit
    from resume_ner.azure.workspace import connect

    client = connect(cfg.env)
    for remote in jobs:
        check_assets_exist(client, remote.job)
    hpo = cfg.get("hpo")
    launched = []
    for remote in jobs:
        for note in remote.notes:
            print(f"  not applied on Azure ML: {note}")
        # The sweeper reads a search's objective back; a plain run's is not asked for.
        metric = hpo.objective.metric if hpo is not None and hpo.enabled else None
        done = submit(
            client,
            remote.job,
            stream=options.stream,
            wait=options.wait,
            poll_seconds=options.poll_seconds,
            metric=metric,
            goal=hpo.objective.goal if hpo is not None else "maximize",
        )
        launched.append(
            Launched(
                remote.label,
                name=done.name,
                studio_url=done.studio_url,
                status=done.status,
                objective=done.objective,
                notes=remote.notes,
            )
        )
    return launched


def check_assets_exist(client: Any, job: Any) -> None:
    """Every registered data asset a job reads exists (the SDK sends its ARM id unchecked,
    and the service would fail the job only once it starts)."""
    from resume_ner.azure.inputs import parse_asset
    from resume_ner.azure.workspace import azure_errors

    for name, value in (job.inputs or {}).items():
        path = str(getattr(value, "path", ""))
        if (
            getattr(value, "type", None) in ("uri_file", "uri_folder")
            and path.startswith("azureml:")
            and not path.startswith("azureml://")
        ):
            ref = parse_asset(path, "data.asset" if name == "data" else name)
            with azure_errors(f"looking up data asset {ref.name}:{ref.version}"):
                client.data.get(ref.name, version=ref.version)
