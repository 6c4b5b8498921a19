"""Checks the SDK does not make and the service makes only after submission (seen with
azure-ai-ml 1.35): each failure names the config key and the fix, before any network call."""

from __future__ import annotations

import re
from typing import Any

from resume_ner.azure.command import placeholders
from resume_ner.azure.inputs import ASSET, JOB_OUTPUT
from resume_ner.errors import RemoteError

# `${x}`, `${{{x}}}`, `{{x}}` without `$`: a placeholder Azure ML would leave unreplaced.
MALFORMED = re.compile(r"\$\{(?!\{)|\$\{\{\{|(?<!\$)\{\{[^}]*\}\}|\}\}\}")
BAYESIAN_TYPES = {"choice", "uniform", "quniform"}
LOCAL_SCHEMES = ("file:", "sqlite:")


def check_command(job: Any, where: str) -> None:
    """Every `${{inputs.x}}`, `${{outputs.x}}`, `${{search_space.x}}` is defined, and no
    placeholder has the wrong number of braces."""
    command = _command(job)
    bad = MALFORMED.search(command)
    if bad:
        raise RemoteError(
            f"{where}: the command has a malformed placeholder near "
            f"'{command[max(0, bad.start() - 20) : bad.end() + 20]}': Azure ML replaces only "
            f"${{{{inputs.NAME}}}}, ${{{{outputs.NAME}}}} and ${{{{search_space.NAME}}}}"
        )
    defined = {
        "inputs": set(job.inputs or {}),
        "outputs": set(job.outputs or {}),
        "search_space": set(job.search_space or {}) if _is_sweep(job) else set(),
    }
    for kind, name in placeholders(command):
        if kind not in defined:
            raise RemoteError(f"{where}: ${{{{{kind}.{name}}}}} is not an Azure ML placeholder")
        if name not in defined[kind]:
            known = ", ".join(sorted(defined[kind])) or "none"
            raise RemoteError(
                f"{where}: the command reads ${{{{{kind}.{name}}}}} but the job defines no "
                f"{kind} '{name}' (it has: {known})"
            )
    used = {name for kind, name in placeholders(command) if kind == "search_space"}
    for name in sorted(defined["search_space"] - used):
        raise RemoteError(
            f"hpo.search_space.{name}: the trial command never reads it, so every trial would "
            f"run the same config; give it a param (the config key it sets)"
        )


def _command(job: Any) -> str:
    trial = getattr(job, "trial", None)
    return str((trial or job).command or "")


def check_sweep(job: Any) -> None:
    """Sampling, early termination and limits that Azure ML accepts together."""
    algorithm = _sampling(job)
    types = {name: str(dist.type).lower() for name, dist in job.search_space.items()}
    if algorithm == "grid":
        for name, kind in types.items():
            if kind != "choice":
                raise RemoteError(
                    f"hpo.sampling=grid: Azure ML's grid sampling takes only choice dimensions, "
                    f"and hpo.search_space.{name} is {kind}; make it a choice (values: [...]) "
                    f"or use hpo.sampling=random"
                )
    if algorithm == "bayesian":
        for name, kind in types.items():
            if kind not in BAYESIAN_TYPES:
                raise RemoteError(
                    f"hpo.sampling=bayesian: Azure ML's Bayesian sampling takes only choice, "
                    f"uniform and quniform dimensions, and hpo.search_space.{name} is {kind}; "
                    f"change it or use hpo.sampling=random"
                )
        if job.early_termination is not None:
            raise RemoteError(
                "hpo.sampling=bayesian: Azure ML's Bayesian sampling takes no early "
                "termination; set hpo.early_termination.policy=none or hpo.sampling=random"
            )
    limits = job.limits
    total, concurrent = limits.max_total_trials, limits.max_concurrent_trials
    if total is None or total < 1:
        raise RemoteError(f"hpo.limits.max_trials={total}: give at least 1")
    if concurrent is None or not 1 <= concurrent <= total:
        raise RemoteError(
            f"hpo.limits.max_concurrent={concurrent}: Azure ML needs 1 <= max_concurrent <= "
            f"hpo.limits.max_trials ({total})"
        )
    for name, dist in job.search_space.items():
        if str(dist.type).lower() == "loguniform" and dist.min_value >= dist.max_value:
            raise RemoteError(f"hpo.search_space.{name}: min must be below max")


def _sampling(job: Any) -> str:
    algorithm = job.sampling_algorithm
    kind = algorithm if isinstance(algorithm, str) else getattr(algorithm, "type", "")
    return str(kind).lower()


def check_inputs(job: Any) -> None:
    """Every input is a registered asset (azureml:NAME:VERSION) or a job's output."""
    for name, value in (job.inputs or {}).items():
        path = str(getattr(value, "path", value))
        registered = path.startswith("azureml:") and ASSET.fullmatch(path[len("azureml:") :])
        if not registered and not JOB_OUTPUT.fullmatch(path):
            key = "data.asset" if name == "data" else name
            raise RemoteError(
                f"{key}: input '{name}' is {path}, not a registered asset (azureml:NAME:VERSION) "
                f"or a job output (azureml://jobs/<job>/outputs/<name>)"
            )


def check_tracking(cfg: Any) -> None:
    """A job logs to its workspace: a local tracking.uri would be a file on the cluster."""
    uri = (cfg.get("tracking") or {}).get("uri")
    if uri and (str(uri).startswith(LOCAL_SCHEMES) or "://" not in str(uri)):
        raise RemoteError(
            f"tracking.uri={uri} is a store on this machine; a job would write it on the "
            f"cluster and lose it. Leave tracking.uri unset: the job logs to its workspace"
        )


def check_job(job: Any, cfg: Any, where: str) -> None:
    """Every check of one built job (a command or sweep job) and its config."""
    check_command(job, where)
    check_inputs(job)
    check_tracking(cfg)
    if _is_sweep(job):
        check_sweep(job)


def _is_sweep(job: Any) -> bool:
    return str(getattr(job, "type", "")) == "sweep"
