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

import dataclasses
import hashlib
import json
import logging
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# MLflow's limits (mlflow.utils.validation): value lengths and entities per log_batch call.
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000

_KNOWN_SCHEMES = {
    "",
    "file",
    "sqlite",
    "http",
    "https",
    "databricks",
    "databricks-uc",
    "uc",
    "postgresql",
    "mysql",
    "mssql",
}


class TrackingError(RuntimeError):
    """The tracking backend cannot be used; the message names the URI and the fix."""


# --------------------------------------------------------------------------- helpers


def _scheme(uri: str) -> str:
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    # "C:\\runs" is a Windows path, not a URI with scheme "c"
    return "" if len(scheme) == 1 else scheme


def _sqlite_path(uri: str) -> str:
    """The database path of a sqlite:/// URI (without any ?query)."""
    return uri[len("sqlite:///") :].split("?", 1)[0] if uri.startswith("sqlite:///") else ""


def resolve_tracking_uri(uri: str | None, base_dir: Path) -> str:
    """The tracking URI to use, with local paths made absolute against `base_dir`.

    None gives ``sqlite:///<abs base_dir>/outputs/mlflow.db`` (the folder is created);
    relative ``sqlite:///`` and ``file:`` paths, and bare paths (a file store), become
    absolute; http(s) and every other scheme are returned unchanged.
    """
    base = Path(base_dir).expanduser().resolve()
    if uri is None or not str(uri).strip():
        outputs = base / "outputs"
        outputs.mkdir(parents=True, exist_ok=True)
        return "sqlite:///" + (outputs / "mlflow.db").as_posix()
    uri = str(uri).strip()
    if uri in ("databricks", "databricks-uc", "uc"):  # profile names, not paths
        return uri
    scheme = _scheme(uri)
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///"):
            return uri
        path, sep, query = _sqlite_path(uri), "?" if "?" in uri else "", uri.partition("?")[2]
        if path in ("", ":memory:") or Path(path).is_absolute():
            return uri
        return "sqlite:///" + (base / path).resolve().as_posix() + sep + query
    if scheme == "file":
        parsed = urllib.parse.urlparse(uri)
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc not in ("", "localhost"):
            return uri
        target = Path(path).expanduser()
        return (target if target.is_absolute() else base / target).resolve().as_uri()
    if scheme == "":
        target = Path(uri).expanduser()
        return (target if target.is_absolute() else base / target).resolve().as_uri()
    return uri


def _store_schemes() -> set[str] | None:
    """Schemes mlflow can build a tracking store for (plugins included), if it says."""
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return set(_tracking_store_registry._registry)
    except Exception:  # private API moved: fall back to the static list
        return None


def _auth_headers() -> dict[str, str]:
    import base64

    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


def _ssl_context() -> ssl.SSLContext | None:
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    return ssl.create_default_context(cafile=cert) if cert else None


def _probe_http(uri: str, timeout: float) -> None:
    """Raise TrackingError unless an MLflow server answers at `uri` within `timeout`."""
    base = uri.rstrip("/")
    headers = {"User-Agent": "resume-ner", **_auth_headers()}
    context = _ssl_context()
    statuses: list[str] = []
    for path in ("/health", "/api/2.0/mlflow/experiments/search?max_results=1"):
        request = urllib.request.Request(base + path, headers=headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context):
                return
        except urllib.error.HTTPError as error:
            statuses.append(f"{path} -> HTTP {error.code}")
            if error.code in (401, 403) and path != "/health":
                raise TrackingError(
                    f"the MLflow tracking server at {uri} refused the request ({statuses[-1]}). "
                    "Set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
                    "MLFLOW_TRACKING_PASSWORD, or point tracking.uri at another server."
                ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise TrackingError(
                f"the MLflow tracking server at {uri} did not answer within {timeout:g} s "
                f"({reason}). Start it (`mlflow server --host 127.0.0.1 --port 5000`), fix "
                "tracking.uri, or drop tracking.uri to log into the local SQLite store "
                "(outputs/mlflow.db)."
            ) from None
    raise TrackingError(
        f"{uri} answers but not as an MLflow tracking server ({'; '.join(statuses)}). "
        "Check tracking.uri (scheme, host, port and path prefix)."
    )


def _check_writable(folder: Path, uri: str, file: Path | None = None) -> None:
    """Create `folder` if needed; raise TrackingError unless it (and `file`, if it exists)
    can be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrackingError(
            f"cannot create {folder} for the tracking store {uri} ({error}). "
            "Point tracking.uri at a writable location or drop it to use outputs/mlflow.db."
        ) from None
    not_writable = not os.access(folder, os.W_OK | os.X_OK) or (
        file is not None and file.exists() and not os.access(file, os.W_OK)
    )
    if not_writable:
        raise TrackingError(
            f"the tracking store {uri} is not writable. Point tracking.uri at a writable "
            "location or drop it to use outputs/mlflow.db."
        )


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before training, with a TrackingError naming `uri` and the fix.

    Checks that mlflow has a store for the scheme, that an http(s) server answers within
    `timeout` seconds (GET /health, then the experiments-search endpoint) and that a
    sqlite or file store's location is writable.
    """
    scheme = _scheme(uri)
    schemes = _store_schemes() or _KNOWN_SCHEMES
    if scheme not in schemes:
        hint = (
            " The azureml scheme needs the Azure extras: pip install 'resume-ner[azure]'."
            if scheme == "azureml"
            else ""
        )
        raise TrackingError(
            f"mlflow cannot build a tracking store for {uri!r}: unknown scheme {scheme!r} "
            f"(supported: {', '.join(sorted(s for s in schemes if s))}, or a local path).{hint} "
            "Fix tracking.uri, or drop it to log into the local SQLite store "
            "(outputs/mlflow.db)."
        )
    if scheme in ("http", "https"):
        outcome: list[BaseException | None] = []

        def probe() -> None:
            try:
                _probe_http(uri, timeout)
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        # urlopen's timeout does not bound name resolution: bound the whole probe.
        thread = threading.Thread(target=probe, name="tracking-uri-check", daemon=True)
        thread.start()
        thread.join(2 * timeout + 1)
        if not outcome:
            raise TrackingError(
                f"the MLflow tracking server at {uri} did not answer within {timeout:g} s. "
                "Fix tracking.uri or drop it to log into outputs/mlflow.db."
            )
        if outcome[0] is not None:
            raise outcome[0]
    elif scheme == "sqlite":
        path = _sqlite_path(uri)
        if path and path != ":memory:":
            _check_writable(Path(path).parent, uri, file=Path(path))
    elif scheme in ("file", ""):
        path = urllib.parse.unquote(urllib.parse.urlparse(uri).path) if scheme else uri
        _check_writable(Path(path), uri)  # a file store is a folder


def flatten_config(cfg: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys to strings: {"training.learning_rate": "0.0003", "x.tags": '["a", "b"]'}.

    Accepts a DictConfig (resolved; missing values stay "???"), a dataclass or a mapping.
    Lists are JSON-encoded; None, booleans become "null", "true", "false"; an empty mapping
    is "{}".
    """
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = dataclasses.asdict(cfg)
    flat: dict[str, str] = {}
    if isinstance(cfg, Mapping):
        if not cfg and prefix:
            flat[prefix] = "{}"
        for key, value in cfg.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) or (
                dataclasses.is_dataclass(value) and not isinstance(value, type)
            ):
                flat.update(flatten_config(value, name))
            else:
                flat[name] = _to_str(value)
    elif prefix:
        flat[prefix] = _to_str(cfg)
    else:
        raise TypeError(f"flatten_config needs a mapping, got {type(cfg).__name__}")
    return flat


def _to_str(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value), default=str)
    return str(value)


def git_commit(path: Path) -> str | None:
    """The commit checked out at `path` (`git rev-parse HEAD`), or None outside a repo."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        return None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def data_fingerprint(documents: Iterable[Any]) -> str:
    """First 16 hex digits of a sha256 over each document's text and spans, in order."""
    digest = hashlib.sha256()
    for doc in documents:
        spans = [[int(s.start), int(s.end), str(s.label)] for s in doc.spans]
        record = json.dumps([doc.text, spans], ensure_ascii=False, separators=(",", ":"))
        digest.update(record.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def _slug(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "-", name).strip("-") or "experiment"


def _safe_key(key: str) -> str:
    return re.sub(r"[^/\w.\- :]", "_", str(key))[:MAX_KEY_LENGTH]


def _cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


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
            self._client = MlflowClient(self._uri)
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

    def _artifact_location(self) -> str | None:
        """Artifacts of a SQLite store live beside it: <db folder>/mlartifacts/<experiment>."""
        path = _sqlite_path(self._uri)
        if _scheme(self._uri) != "sqlite" or not path or path == ":memory:":
            return None
        return (Path(path).parent / "mlartifacts" / _slug(self.experiment_name)).as_uri()

    def _experiment(self) -> str:
        from mlflow.exceptions import MlflowException

        client = self._client
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            try:
                return client.create_experiment(
                    self.experiment_name, artifact_location=self._artifact_location()
                )
            except MlflowException as error:  # created meanwhile by a parallel trial
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = client.get_experiment_by_name(self.experiment_name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            logger.warning(
                "tracking: restoring the deleted experiment %r (%s)",
                self.experiment_name,
                experiment.experiment_id,
            )
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

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
