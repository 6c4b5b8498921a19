"""The Azure ML workspace: where it is, a client for it, and the SDK's failures as one line.

The workspace is never read from committed config: the `env` group's fields hold the
environment variables AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME,
and failing those, an Azure config.json (env.config_json, or the one the portal and `az ml`
write, found the way MLClient.from_config finds it).

azure.ai.ml, azure.identity and azure.core are imported inside the functions that use them,
so composing a config never pays for them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resume_ner.errors import RemoteError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

ENV_VARS = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group": "AZURE_RESOURCE_GROUP",
    "workspace_name": "AZUREML_WORKSPACE_NAME",
}
SERVICE_PRINCIPAL_VARS = "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"
WHAT_TO_SET = (
    "set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME, or "
    "env.config_json=PATH to the workspace's config.json (Azure ML studio: workspace menu > "
    "Download config file), or put that config.json in this folder or in .azureml/"
)
SIGN_IN = (
    f"run `az login` (`az login --tenant TENANT_ID` for a subscription in another tenant), "
    f"or set {SERVICE_PRINCIPAL_VARS} for a service principal"
)
# MLClient.from_config's search (azure/ai/ml/_ml_client.py): each of these, in this order,
# in the start folder and then each parent folder (20 levels), before the next is tried.
CONFIG_SEARCH = tuple(
    os.path.join(folder, name) if folder else name
    for folder in (".azureml", "aml_config", None)
    for name in ("config.json", "project.json")
)
CONFIG_LEVELS = 20
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

# Network limits for every request the SDK sends (azure-core's RequestsTransport and
# RetryPolicy read these; MLClient forwards its keyword arguments to each service client it
# builds). azure-core's defaults wait 300 s for a connection and retry a failed one 3 times
# with growing back-off, so a network that silently drops packets would hang a submission for
# 20 minutes and an unresolvable host would take seconds. With these, an unresolvable or
# refused host fails at once (one immediate retry) and a dropped one within about 20 s. A job
# PUT can take tens of seconds to be answered, hence the longer read timeout.
NETWORK_LIMITS: dict[str, Any] = {
    "connection_timeout": 10,
    "read_timeout": 120,
    "retry_total": 3,
    "retry_connect": 1,
    "retry_read": 1,
    "retry_backoff_max": 10,
}

# Set by Azure ML inside every job it runs (azureml-mlflow reads them to log to the job's own
# run: azureml/mlflow/_common/constants.py RunEnvVars, and _internal/service_context_loader.py
# `_is_remote` uses AZUREML_RUN_ID). A developer's machine, a compute instance's notebook and
# a CI runner do not set them.
JOB_ENV_VARS = ("AZUREML_RUN_ID", "AZUREML_ARM_WORKSPACE_NAME")


@dataclass(frozen=True)
class Workspace:
    """An Azure ML workspace's coordinates and where they were read from (for messages)."""

    subscription_id: str
    resource_group: str
    workspace_name: str
    source: str

    @property
    def arm_id(self) -> str:
        """The workspace's Azure Resource Manager id."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace_name}"
        )


def find_workspace(env_cfg: Any, start: Path | None = None) -> Workspace:
    """The workspace of the `env` config: its fields (the environment variables) first, the
    rest from env.config_json or the config.json found from `start` (default: the cwd)."""
    given = {key: _text(getattr(env_cfg, key, None)) for key in ENV_VARS}
    if all(given.values()):
        names = ", ".join(ENV_VARS.values())
        return _checked(Workspace(**given, source=f"the environment ({names})"))
    explicit = _text(getattr(env_cfg, "config_json", None))
    path = _explicit_config(explicit) if explicit else _search_config(start or Path.cwd())
    if path is None:
        missing = [ENV_VARS[key] for key, value in given.items() if not value]
        if len(missing) < len(ENV_VARS):
            raise RemoteError(
                f"no Azure ML workspace: {', '.join(missing)} not set and no config.json "
                f"found; {WHAT_TO_SET}"
            )
        raise RemoteError(f"no Azure ML workspace configured: {WHAT_TO_SET}")
    from_file = _read_config(path)
    # As in MLClient.from_config: coordinates given explicitly win over the file's.
    merged = {key: given[key] or from_file[key] for key in ENV_VARS}
    overridden = [ENV_VARS[key] for key in ENV_VARS if given[key]]
    source = str(path) + (f" (with {', '.join(overridden)})" if overridden else "")
    return _checked(Workspace(**merged, source=source))


def _text(value: Any) -> str | None:
    """A set, non-blank value as text; None for unset or empty (an exported empty variable)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _explicit_config(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise RemoteError(
            f"env.config_json={path_text}: no such file; point it at the workspace's "
            f"config.json (Azure ML studio: workspace menu > Download config file)"
        )
    return path


def _search_config(start: Path) -> Path | None:
    """The config.json MLClient.from_config would read, searching up from start."""
    folders = [start.resolve(), *list(start.resolve().parents)][: CONFIG_LEVELS + 1]
    for name in CONFIG_SEARCH:
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
    return None


def _read_config(path: Path) -> dict[str, str]:
    """subscription_id, resource_group and workspace_name of an Azure config.json (or of the
    older project.json "Scope": an ARM id of the workspace)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RemoteError(f"{path}: not a readable JSON workspace config ({err})") from err
    if not isinstance(data, dict):
        raise RemoteError(f"{path}: not a workspace config (a JSON object is expected)")
    if data.get("Scope"):
        parts = str(data["Scope"]).split("/")
        if len(parts) < 9:
            raise RemoteError(f"{path}: Scope {data['Scope']!r} is not a workspace's ARM id")
        return dict(zip(ENV_VARS, (parts[2], parts[4], parts[8]), strict=True))
    found = {key: _text(data.get(key)) for key in ENV_VARS}
    missing = [key for key, value in found.items() if not value]
    if missing:
        raise RemoteError(
            f"{path}: lacks {', '.join(missing)}; a workspace config.json holds "
            f"subscription_id, resource_group and workspace_name"
        )
    return found  # type: ignore[return-value]


def _checked(ws: Workspace) -> Workspace:
    # Caught here, a mistyped subscription names its source; Azure would only say "invalid".
    if not GUID.match(ws.subscription_id):
        raise RemoteError(
            f"subscription id {ws.subscription_id!r} (from {ws.source}) is not a subscription "
            f"id: a GUID such as 01234567-89ab-cdef-0123-456789abcdef (az account show)"
        )
    return ws


def connect(
    env_cfg: Any, *, credential: Any = None, transport: Any = None, **client_kwargs: Any
) -> MLClient:
    """An azure.ai.ml.MLClient for the workspace of the `env` config, with network limits.

    credential: a TokenCredential (default: DefaultAzureCredential, which tries the
    environment's service principal, a managed identity, then `az login`'s). transport: an
    azure-core HttpTransport (tests pass a fake one). client_kwargs override NETWORK_LIMITS
    and reach MLClient as they are."""
    from azure.ai.ml import MLClient

    ws = find_workspace(env_cfg)
    if credential is None:
        from azure.identity import DefaultAzureCredential

        # A command-line tool must never pop a browser window and wait on it.
        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    kwargs = {**NETWORK_LIMITS, **client_kwargs}
    if transport is not None:
        kwargs["transport"] = transport
    return MLClient(
        credential,
        subscription_id=ws.subscription_id,
        resource_group_name=ws.resource_group,
        workspace_name=ws.workspace_name,
        **kwargs,
    )


def workspace_tracking_uri(client: MLClient) -> str:
    """The workspace's MLflow tracking URI. Read through client.workspaces.get, which also
    hands the client's credential to azureml-mlflow for that URI, so MLflow signs in as the
    client does."""
    name = client.workspace_name
    with azure_errors(f"reading workspace {name}"):
        ws = client.workspaces.get(name)
    uri = getattr(ws, "mlflow_tracking_uri", None)
    if not uri:
        raise RemoteError(f"workspace {name} reports no MLflow tracking URI")
    return str(uri)


# --------------------------------------------------------------------------- errors


@contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Turn the SDK's failures inside the block into a one-line RemoteError: '<action>: what
    went wrong: what to set'."""
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except RemoteError:
        raise
    # azure.identity's CredentialUnavailableError is a ClientAuthenticationError; so is a 401.
    except ClientAuthenticationError as err:
        status = _status(err)
        if status is None:
            raise RemoteError(
                f"{action}: not signed in to Azure ({_first_line(err)}): {SIGN_IN}"
            ) from err
        raise RemoteError(
            f"{action}: Azure refused the credentials ({status} {_service_says(err)}): {SIGN_IN}"
        ) from err
    except ResourceNotFoundError as err:
        raise RemoteError(f"{action}: {_not_found(err)}") from err
    except HttpResponseError as err:
        status = _status(err)
        if status in (401, 403):
            raise RemoteError(
                f"{action}: permission denied ({status} {_service_says(err)}): the signed-in "
                f"identity needs a role such as AzureML Data Scientist on the workspace"
                f"{_workspace_named(err)}"
            ) from err
        raise RemoteError(f"{action}: Azure ML answered {status} {_service_says(err)}") from err
    except (ServiceRequestError, ServiceResponseError) as err:
        raise RemoteError(
            f"{action}: cannot reach Azure (no network? {_first_line(err)}); check the "
            f"connection, or HTTPS_PROXY behind a proxy"
        ) from err
    except AzureError as err:
        # azure.ai.ml's own refusals (an invalid job spec, an empty code folder) are
        # AzureErrors too: MlException.
        if _is_sdk_error(err):
            raise RemoteError(f"{action}: {_sdk_says(err)}") from err
        raise RemoteError(f"{action}: {type(err).__name__}: {_first_line(err)}") from err


def _is_sdk_error(err: BaseException) -> bool:
    try:
        from azure.ai.ml.exceptions import MlException
    except ImportError:
        return False
    return isinstance(err, MlException)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _sdk_says(err: BaseException) -> str:
    """An azure.ai.ml error as one line: its schema-validation JSON as 'path: message; ...',
    anything else (colours stripped) joined onto one line."""
    text = ANSI.sub("", str(getattr(err, "message", None) or err))
    try:
        report = json.loads(text)
    except ValueError:
        return _one_line(text)
    errors = report.get("errors") if isinstance(report, dict) else None
    if not isinstance(errors, list) or not errors:
        return _one_line(text)
    parts = [
        f"{e.get('path')}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in errors
    ]
    return _one_line("; ".join(parts))


def _status(err: Any) -> int | None:
    status = getattr(err, "status_code", None)
    if status is None and getattr(err, "response", None) is not None:
        status = getattr(err.response, "status_code", None)
    return status


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _first_line(err: BaseException) -> str:
    text = getattr(err, "message", None) or str(err) or type(err).__name__
    # Keep the first line: the SDKs append tracebacks, "Code:/Message:" blocks and hints.
    first = next((line for line in str(text).splitlines() if line.strip()), str(text))
    return _one_line(first)


def _service_says(err: Any) -> str:
    """'<code>: <message>' from the service's error body, else the exception's first line."""
    error = getattr(err, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code or message:
        return _one_line(f"{code or 'Error'}: {message or ''}".rstrip(": "))
    return _first_line(err)


# /subscriptions/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces/W
# followed by /KIND/NAME[/versions/VERSION] for a resource inside the workspace.
ARM_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)"
    r"(?:/resourceGroups/(?P<rg>[^/]+))?"
    r"(?:/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/?]+))?"
    r"(?:/(?P<kind>[^/?]+)/(?P<name>[^/?]+)(?:/versions/(?P<version>[^/?]+))?)?",
    re.IGNORECASE,
)
KIND_WORDS = {
    "jobs": "job",
    "computes": "compute",
    "data": "data asset",
    "environments": "environment",
    "codes": "code asset",
    "models": "model",
    "datastores": "datastore",
    "components": "component",
}


def _arm_parts(err: Any) -> dict[str, str] | None:
    request = getattr(getattr(err, "response", None), "request", None)
    url = getattr(request, "url", None)
    match = ARM_PATH.search(url or "")
    return match.groupdict() if match else None


def _workspace_named(err: Any) -> str:
    parts = _arm_parts(err)
    if not parts or not parts["ws"]:
        return ""
    return f" {parts['ws']} (resource group {parts['rg']})"


def _not_found(err: Any) -> str:
    """What was not found (named from the request's path) and what to check."""
    says = _service_says(err)
    parts = _arm_parts(err)
    request = getattr(getattr(err, "response", None), "request", None)
    # A 404 to a PUT (a create) is never about the resource created: its workspace is missing.
    creating = str(getattr(request, "method", "")).upper() == "PUT"
    kind = (parts or {}).get("kind") or ""
    if parts and parts["ws"] and kind.lower() in KIND_WORDS and not creating:
        what = KIND_WORDS[parts["kind"].lower()]
        name = parts["name"] + (f":{parts['version']}" if parts["version"] else "")
        return f"{what} {name} not found in workspace {parts['ws']} (404 {says})"
    if parts and parts["ws"]:
        where = f"workspace {parts['ws']} in resource group {parts['rg']}"
    elif parts:
        where = f"subscription {parts['sub']}" + (
            f" / resource group {parts['rg']}" if parts["rg"] else ""
        )
    else:
        where = "the workspace"
    return (
        f"{where} not found (404 {says}): check AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP "
        f"and AZUREML_WORKSPACE_NAME (or the config.json they came from)"
    )


# --------------------------------------------------------------------------- jobs


def in_azure_job() -> bool:
    """True inside a job Azure ML runs (so code there never submits another job)."""
    return any(os.environ.get(name) for name in JOB_ENV_VARS)


def studio_url(job: Any, workspace: Workspace | None = None) -> str:
    """The job's page in Azure ML studio: the link the service returned, else one built from
    the job's ARM id (or the given workspace) and its name."""
    url = getattr(job, "studio_url", None)
    if url:
        return str(url)
    name = getattr(job, "name", None) or str(job)
    job_id = getattr(job, "id", None) or ""
    wsid = job_id.split("/jobs/")[0] if "/jobs/" in job_id else None
    if wsid is None and workspace is not None:
        wsid = workspace.arm_id
    return f"https://ml.azure.com/runs/{name}" + (f"?wsid={wsid}" if wsid else "")
