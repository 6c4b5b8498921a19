"""Where MLflow runs are stored: resolving `tracking.uri` and checking it before training.

A typo in the URI, a server that is down or an unwritable SQLite folder fails here, in a
second, with the URI and the fix in the message, instead of after the first epoch.
"""

from __future__ import annotations

import os
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from resume_ner.errors import TrackingError

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


# --------------------------------------------------------------------------- helpers


def _scheme(uri: str) -> str:
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    # "C:\\runs" is a Windows path, not a URI with scheme "c"
    return "" if len(scheme) == 1 else scheme


def _sqlite_path(uri: str) -> str:
    """The database path of a sqlite:/// URI (without any ?query)."""
    return uri[len("sqlite:///") :].split("?", 1)[0] if uri.startswith("sqlite:///") else ""


def _sqlite_file(uri: str) -> str | None:
    """The database file of a sqlite:/// URI; None for other URIs and in-memory stores."""
    path = _sqlite_path(uri)
    return path if path and path != ":memory:" else None


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


def existing_store_uri(
    configured: str | None, base_dir: Path, connect_timeout: float | None = None
) -> str:
    """The store to read runs from: `configured`, else $MLFLOW_TRACKING_URI, else the default
    SQLite store under `base_dir`, resolved as training resolves it. A SQLite store that does
    not exist is refused (opening it would create an empty one and report nothing found);
    with `connect_timeout` any other store is checked for reach first."""
    configured = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        uri = resolve_tracking_uri(configured, base_dir)
    else:  # the default store's path, without creating its folder
        uri = "sqlite:///" + (Path(base_dir).resolve() / "outputs" / "mlflow.db").as_posix()
    if _scheme(uri) != "sqlite":
        if connect_timeout is not None:
            check_tracking_uri(uri, connect_timeout)
        return uri
    path = _sqlite_file(uri)
    if path and not Path(path).is_file():
        raise TrackingError(
            f"no MLflow store at {path} (tracking.uri={configured or 'null: the default'}): "
            "nothing was tracked there. Set tracking.uri to the store the runs were logged to "
            "(sqlite:///path/to/mlflow.db or a server's http(s) URL)."
        )
    return uri


def _store_schemes() -> set[str] | None:
    """Schemes mlflow can build a tracking store for (plugins included), if it says."""
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return set(_tracking_store_registry._registry)
    except Exception:  # private API moved: fall back to the static list
        return None


def _file_store_allowed() -> bool:
    """Whether mlflow opens file stores (MLflow 3.x refuses them unless told to)."""
    try:
        from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE
    except ImportError:  # an MLflow from before the refusal
        return True
    return bool(MLFLOW_ALLOW_FILE_STORE.get())


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
        path = _sqlite_file(uri)
        if path:
            _check_writable(Path(path).parent, uri, file=Path(path))
    elif scheme in ("file", ""):
        if not _file_store_allowed():
            raise TrackingError(
                f"tracking.uri={uri} is a file store (a folder of runs), which this MLflow "
                "refuses unless MLFLOW_ALLOW_FILE_STORE=true is set. Log into a SQLite "
                "store instead (tracking.uri=sqlite:///path/to/mlflow.db, or drop tracking.uri "
                "for outputs/mlflow.db), or set MLFLOW_ALLOW_FILE_STORE=true."
            )
        path = urllib.parse.unquote(urllib.parse.urlparse(uri).path) if scheme else uri
        _check_writable(Path(path), uri)  # a file store is a folder
