"""MLflow tracking with a real backend: a local SQLite store by default, a tracking server,
or the run an Azure ML job already opened.

`Tracker` decides which run to log into when it is entered:

1. an MLflow run already active in this process (an outer search, a notebook): log into it
   and leave it open;
2. else ``MLFLOW_RUN_ID`` in the environment (set by Azure ML inside a job): attach to that
   run and leave it open - Azure ML ends it;
3. else a run of our own in ``tracking.experiment_name``, ended on exit as FINISHED,
   FAILED (an exception escaped) or KILLED (KeyboardInterrupt).

A nested run is never started. The tracking URI is checked before any training starts, so a
typo or a server that is down fails in a second, not after an epoch.

mlflow is imported inside the functions that need it, never at module import.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resume_ner.train.run_metadata import flatten_config
from resume_ner.train.tracking_uri import (
    TrackingError,
    _scheme,
    _sqlite_file,
    check_tracking_uri,
    resolve_tracking_uri,
)

logger = logging.getLogger(__name__)

# MLflow's limits (mlflow.utils.validation): value lengths and entities per log_batch call.
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


def _slug(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "-", name).strip("-") or "experiment"


def _safe_key(key: str) -> str:
    return re.sub(r"[^/\w.\- :]", "_", str(key))[:MAX_KEY_LENGTH]


def _cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


# Seconds to wait for another process to finish creating the same SQLite store.
STORE_LOCK_TIMEOUT = 300.0


def open_client(uri: str) -> Any:
    """An MlflowClient on `uri`, creating a new SQLite store under a file lock.

    MLflow creates and migrates a SQLite store's tables on first use, and not atomically:
    two runs started together on a new store (two terminals, parallel sweep trials) fail
    with "table ... already exists". The lock (``<db>.lock`` beside the database) makes
    one of them create the tables and the others wait for it.
    """
    from mlflow import MlflowClient

    path = _sqlite_file(uri)
    if not path:
        return MlflowClient(uri)
    from filelock import FileLock, Timeout

    try:
        with FileLock(path + ".lock", timeout=STORE_LOCK_TIMEOUT):
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)  # the store exists before the lock goes
    except Timeout:
        raise TrackingError(
            f"waited {STORE_LOCK_TIMEOUT:g} s for another process to create the tracking "
            f"store {uri} (lock file {path}.lock). If no other run is starting, delete "
            "the lock file and rerun."
        ) from None
    return client


def _artifact_location(uri: str, experiment_name: str) -> str | None:
    """Artifacts of a SQLite store live beside it: <db folder>/mlartifacts/<experiment>."""
    path = _sqlite_file(uri)
    if not path:
        return None
    return (Path(path).parent / "mlartifacts" / _slug(experiment_name)).as_uri()


def ensure_experiment(client: Any, uri: str, name: str) -> str:
    """The id of experiment `name` in the store at `uri`: created (its artifacts beside a
    SQLite store), or restored if it was deleted."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=_artifact_location(uri, name))
        except MlflowException as error:  # created meanwhile by a parallel trial
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        logger.warning(
            "tracking: restoring the deleted experiment %r (%s)", name, experiment.experiment_id
        )
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


# --------------------------------------------------------------------------- Tracker


class Tracker:
    """Log one training run into MLflow (see the module docstring for which run).

    ``Tracker(cfg.tracking, base_dir)`` where `base_dir` anchors the default SQLite store
    (``<base_dir>/outputs/mlflow.db``) and any relative path in ``tracking.uri``. With
    ``tracking.uri`` null, ``MLFLOW_TRACKING_URI`` from the environment is used when set
    (as Azure ML sets it inside a job), else the default store.
    """

    def __init__(self, tracking_cfg: Any, base_dir: Path) -> None:
        self.cfg = tracking_cfg
        self.base_dir = Path(base_dir)
        configured = _cfg_get(tracking_cfg, "uri") or os.environ.get("MLFLOW_TRACKING_URI")
        self._uri = resolve_tracking_uri(configured, self.base_dir)
        self.experiment_name = str(_cfg_get(tracking_cfg, "experiment_name", "resume-ner"))
        self.run_name = _cfg_get(tracking_cfg, "run_name")
        self.connect_timeout = float(_cfg_get(tracking_cfg, "connect_timeout", 5.0))
        self.tags = {str(k): str(v) for k, v in dict(_cfg_get(tracking_cfg, "tags", {})).items()}
        self._run_id: str | None = None
        self._experiment_id: str | None = None
        self._client: Any = None
        # "own": we started the run and end it; "active": a run this process had already
        # started; "attached": the run named by MLFLOW_RUN_ID (Azure ML's).
        self.mode: str | None = None

    # ----------------------------------------------------------------- properties

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id

    @property
    def tracking_uri(self) -> str:
        return self._uri

    @property
    def client(self) -> Any:
        """The MlflowClient on this run's store (None until entered)."""
        return self._client

    @property
    def owns_run(self) -> bool:
        return self.mode == "own"

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Tracker:
        import mlflow
        from mlflow import MlflowClient

        active = mlflow.active_run()
        if active is not None:
            current = mlflow.get_tracking_uri()
            if current != self._uri:
                logger.warning(
                    "tracking: logging into the already active MLflow run %s at %s "
                    "(not %s, the configured store)",
                    active.info.run_id,
                    current,
                    self._uri,
                )
            self._uri = current
            self._client = MlflowClient(current)
            self._run_id = active.info.run_id
            self._experiment_id = active.info.experiment_id
            self.mode = "active"
        else:
            check_tracking_uri(self._uri, self.connect_timeout)
            mlflow.set_tracking_uri(self._uri)
            self._client = open_client(self._uri)
            env_run_id = os.environ.get("MLFLOW_RUN_ID", "").strip()
            if env_run_id:
                self._attach(env_run_id)
            else:
                self._start_own_run()
        if self.tags:
            try:
                self.set_tags(self.tags)
            except BaseException as error:
                self.__exit__(type(error), error, error.__traceback__)
                raise
        logger.info(
            "tracking: run %s (%s) in experiment %s at %s",
            self._run_id,
            self.mode,
            self._experiment_id,
            self._uri,
        )
        return self

    def _attach(self, run_id: str) -> None:
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            run = mlflow.start_run(run_id=run_id)
        except MlflowException as error:
            raise TrackingError(
                f"MLFLOW_RUN_ID={run_id} names no usable run in the tracking store "
                f"{self._uri} ({error.message}). Inside Azure ML leave tracking.uri null so "
                "the job's MLFLOW_TRACKING_URI is used; elsewhere unset MLFLOW_RUN_ID."
            ) from None
        self._run_id = run.info.run_id
        self._experiment_id = run.info.experiment_id
        self.mode = "attached"

    def _experiment(self) -> str:
        return ensure_experiment(self._client, self._uri, self.experiment_name)

    def _start_own_run(self) -> None:
        import mlflow

        experiment_id = self._experiment()
        run = mlflow.start_run(experiment_id=experiment_id, run_name=self.run_name)
        self._run_id = run.info.run_id
        self._experiment_id = run.info.experiment_id
        self.mode = "own"

    def __exit__(self, exc_type, exc, tb) -> bool:
        import mlflow

        with _suppress_logged("flushing asynchronous MLflow logging"):
            mlflow.flush_async_logging()
        if self.mode == "own":
            if exc_type is None:
                status = "FINISHED"
            elif issubclass(exc_type, KeyboardInterrupt):
                status = "KILLED"
            elif issubclass(exc_type, SystemExit) and exc.code in (None, 0):
                status = "FINISHED"
            else:
                status = "FAILED"
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self._run_id:
                mlflow.end_run(status)
            else:
                self._client.set_terminated(self._run_id, status)
        elif self.mode == "attached":
            _detach(self._run_id)
        return False

    # ----------------------------------------------------------------- logging

    def _require_run(self) -> str:
        if self._run_id is None:
            raise RuntimeError("Tracker is not entered: use `with Tracker(...) as tracker:`")
        return self._run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (nested mappings flattened to dotted keys, values cut at 6000 chars).

        A param the run already holds with another value (params are immutable in MLflow,
        which matters only when logging into a run we did not start) is skipped with a
        warning rather than failing the training.
        """
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        run_id = self._require_run()
        items = [
            Param(_safe_key(k), v[:MAX_PARAM_VALUE_LENGTH])
            for k, v in flatten_config(dict(params)).items()
        ]
        for i in range(0, len(items), PARAMS_PER_BATCH):
            chunk = items[i : i + PARAMS_PER_BATCH]
            try:
                self._client.log_batch(run_id, params=chunk)
            except MlflowException:
                for param in chunk:
                    try:
                        self._client.log_batch(run_id, params=[param])
                    except MlflowException as error:
                        logger.warning("tracking: param %s not logged: %s", param.key, error)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log numeric metrics at `step` (None values are skipped)."""
        from mlflow.entities import Metric

        run_id = self._require_run()
        timestamp = int(time.time() * 1000)
        items = [
            Metric(_safe_key(k), float(v), timestamp, int(step or 0))
            for k, v in metrics.items()
            if v is not None
        ]
        for i in range(0, len(items), METRICS_PER_BATCH):
            self._client.log_batch(run_id, metrics=items[i : i + METRICS_PER_BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        run_id = self._require_run()
        items = [
            RunTag(_safe_key(k), str(v)[:MAX_TAG_VALUE_LENGTH])
            for k, v in tags.items()
            if v is not None
        ]
        for i in range(0, len(items), PARAMS_PER_BATCH):
            self._client.log_batch(run_id, tags=items[i : i + PARAMS_PER_BATCH])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(self._require_run(), str(path), artifact_path)

    def log_artifacts(self, directory: str | Path, artifact_path: str | None = None) -> None:
        self._client.log_artifacts(self._require_run(), str(directory), artifact_path)

    def ui_hint(self) -> str:
        """How to look at this run: an `mlflow ui` command, or the server's run page."""
        scheme = _scheme(self._uri)
        if scheme in ("sqlite", "file", ""):
            return f"mlflow ui --backend-store-uri {self._uri}"
        if scheme in ("http", "https") and self._run_id:
            base = self._uri.rstrip("/")
            return f"{base}/#/experiments/{self._experiment_id}/runs/{self._run_id}"
        return f"MLflow run {self._run_id} (experiment {self._experiment_id}) at {self._uri}"


def _detach(run_id: str | None) -> None:
    """Take `run_id` off mlflow's active-run stack without terminating it.

    mlflow has no public call for this: `end_run` always marks the run terminated, which
    must not happen to a run Azure ML owns (it also ends it at interpreter exit, so leaving
    it on the stack is no option either).
    """
    try:
        from mlflow.tracking import fluent

        stack = fluent._active_run_stack.get()
    except Exception as error:  # pragma: no cover - private API moved
        logger.warning("tracking: cannot detach from run %s: %s", run_id, error)
        return
    if stack and stack[-1].info.run_id == run_id:
        stack.pop()


class _suppress_logged:
    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None and isinstance(exc, Exception):
            logger.debug("tracking: %s failed: %s", self.what, exc)
            return True
        return False
