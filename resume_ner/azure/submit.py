"""Submit a built job to Azure ML, follow it, and read its objective back.

Every call into the SDK goes through workspace.azure_errors, so a refused credential, a
missing workspace or no network ends as one RemoteError line naming what to set.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

from resume_ner.azure.workspace import azure_errors, studio_url, workspace_tracking_uri
from resume_ner.errors import RemoteError

__all__ = ["Submitted", "read_objective", "submit", "workspace_tracking_uri"]

# The statuses after which a job changes no more (the SDK's RunHistoryConstants
# .TERMINAL_STATUSES); only the first is a success.
SUCCESS = "Completed"
TERMINAL = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})
POLL_SECONDS = 30.0


@dataclass(frozen=True)
class Submitted:
    """A submitted job: its name, Studio page, last known status and, for a finished job
    when asked, its objective (None when the job logged no value of the metric)."""

    name: str
    studio_url: str
    status: str
    job_type: str = "command"
    objective: float | None = None


def submit(
    client: Any,
    job: Any,
    *,
    stream: bool,
    wait: bool,
    poll_seconds: float = POLL_SECONDS,
    metric: str | None = None,
    goal: str = "maximize",
) -> Submitted:
    """Create the job; with stream=True print its logs until it ends, with wait=True poll its
    status until it ends. A job that ends other than Completed raises RemoteError naming its
    status and Studio page; a finished one reports its objective when `metric` is given."""
    job_type = str(getattr(job, "type", None) or "command")
    with azure_errors(f"submitting the {job_type} job"):
        created = client.jobs.create_or_update(job)
    name = str(created.name)
    url = studio_url(created)
    print(f"submitted {job_type} job {name}: {url}", flush=True)
    status = _text(getattr(created, "status", None)) or "NotStarted"
    if stream:
        _stream(client, name)
        status = _status(client, name)
    if wait and status not in TERMINAL:
        status = _wait(client, name, url, status, poll_seconds)
    if status not in TERMINAL:
        return Submitted(name, url, status, job_type)
    print(f"job {name} ended: {status}", flush=True)
    if status != SUCCESS:
        raise RemoteError(f"{job_type} job {name} ended {status}: see its logs at {url}")
    value = read_objective(client, name, metric, goal) if metric else None
    return Submitted(name, url, status, job_type, value)


def _text(status: Any) -> str | None:
    # The SDK's JobStatus is a str enum whose str() is 'JobStatus.RUNNING': take its value.
    if status is None:
        return None
    return str(getattr(status, "value", status))


def _status(client: Any, name: str) -> str:
    with azure_errors(f"reading the status of job {name}"):
        return _text(client.jobs.get(name).status) or "Unknown"


def _stream(client: Any, name: str) -> None:
    from azure.ai.ml.exceptions import JobException

    # JobException: the job failed; the status read next says so, with its Studio page.
    with azure_errors(f"streaming the logs of job {name}"), contextlib.suppress(JobException):
        client.jobs.stream(name)


def _wait(client: Any, name: str, url: str, status: str, poll_seconds: float) -> str:
    """Poll until the job ends, printing each change of status."""
    last = status
    try:
        while True:
            status = _status(client, name)
            if status != last:
                print(f"job {name}: {status}", flush=True)
                last = status
            if status in TERMINAL:
                return status
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        # Only the waiting stops: the job goes on in Azure ML.
        print(f"stopped waiting; job {name} keeps running: {url}", flush=True)
        raise


def read_objective(client: Any, job_name: str, metric: str, goal: str) -> float | None:
    """The finished job's objective, read back through the workspace's MLflow: for a sweep
    the best trial's, for a command job its own; a run's value is the best it logged (as
    Azure ML ranks trials by the best logged value of the primary metric). None when nothing
    was logged under `metric`."""
    if goal not in ("maximize", "minimize"):
        raise RemoteError(f"objective goal {goal!r}: expected maximize or minimize")
    with azure_errors(f"reading job {job_name}"):
        is_sweep = str(getattr(client.jobs.get(job_name), "type", "")) == "sweep"
    uri = workspace_tracking_uri(client)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    tracking = MlflowClient(tracking_uri=uri)
    try:
        # In Azure ML a job's MLflow run id is the job's name; a sweep's trials carry it as
        # their parent.
        runs = _children(tracking, job_name) if is_sweep else [tracking.get_run(job_name)]
        values = [_best(tracking, run.info.run_id, metric, goal) for run in runs]
    except MlflowException as err:
        raise RemoteError(
            f"reading {metric} of job {job_name} from the workspace's MLflow ({uri}): "
            f"{' '.join(str(err.message).split())}"
        ) from err
    return _pick([v for v in values if v is not None], goal)


def _children(tracking: Any, job_name: str) -> list[Any]:
    experiment = tracking.get_run(job_name).info.experiment_id
    found: list[Any] = []
    token = None
    while True:
        page = tracking.search_runs(
            [experiment],
            filter_string=f"tags.mlflow.parentRunId = '{job_name}'",
            page_token=token,
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _best(tracking: Any, run_id: str, metric: str, goal: str) -> float | None:
    history = tracking.get_metric_history(run_id, metric)
    return _pick([m.value for m in history], goal)


def _pick(values: list[float], goal: str) -> float | None:
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not finite:
        return None
    return max(finite) if goal == "maximize" else min(finite)
