"""A fake Azure ML service for tests: the REAL azure-ai-ml SDK, answered by a route table.

What is real: everything the SDK does on this side of the wire. MLClient and its operations
build, validate and serialise the job (`to_rest_job_object`, the entity schemas), resolve the
compute, environment, code and data references to ARM ids, hash the code folder and read its
.amlignore / .gitignore, send the requests through azure-core's pipeline (the bearer-token,
retry and error-mapping policies included) and deserialise the answers into entities.

What is faked:
- the HTTP answers: `RecordingTransport` is the azure-core transport under every service
  client of the MLClient (ARM, run history); no socket is opened. Its default routes answer
  what a command or sweep submission needs (see `default_routes`);
- the token: `FakeCredential` (an unsigned JWT carrying a tenant id);
- blob storage: code snapshots and downloads go through azure-storage-blob, outside the
  transport. `fake_storage` replaces the SDK's `get_storage_client`, so the SDK's own listing
  of the folder (after its ignore file) decides what would have been uploaded, and the fake
  records that list instead of sending it.

Use (fixtures in conftest.py: ml_client, transport, storage, code_dir, workspace_mlflow):
    transport.fail("GET", rf"^{WS}$", 403, "AuthorizationFailed", "...")   # an error answer
    transport.route("PUT", r"/jobs/[^/]+$", 200, lambda request, match: ...)  # any answer
    transport.raise_on("GET", rf"^{WS}$", ServiceRequestError("..."))     # no network
    transport.job_statuses = ["Running", "Completed"]  # what each jobs.get / run poll says
    transport.children[name] = [child_run(name, 0), ...]  # a sweep's trials (run history)
    data_asset(transport, "resumes", "3")               # data.get("resumes", "3") finds it
    transport.job_put(name)["properties"]               # the job JSON Azure ML received
    transport.requests_to("PUT", r"/environments/")     # any recorded request
    storage.files                                       # the last snapshot, relative paths
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import HttpTransport

SUBSCRIPTION = "8f9a1c2e-3b4d-4e5f-a6b7-c8d9e0f1a2b3"
RESOURCE_GROUP = "rg-resume-ner-test"
WORKSPACE = "ws-resume-ner-test"
LOCATION = "westeurope"
TENANT = "72f988bf-0000-4000-8000-000000000000"

PROVIDER = "/providers/Microsoft.MachineLearningServices"
RESOURCE_GROUP_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
WORKSPACE_ID = f"{RESOURCE_GROUP_ID}{PROVIDER}/workspaces/{WORKSPACE}"
API_HOST = f"https://{LOCATION}.api.azureml.ms"
STORAGE_ACCOUNT = "resumenerteststorage"
SAS_CONTAINER = f"https://{STORAGE_ACCOUNT}.blob.core.windows.net/azureml-blobstore-test"
# The workspace path prefix of every ARM request (a regex).
WS = re.escape(WORKSPACE_ID)


class FakeCredential:
    """A TokenCredential that hands out a fixed token, or refuses like a lapsed `az login`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token, or the configured error (ClientAuthenticationError by default)."""
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken(fake_jwt(), int(time.time()) + 3600)

    @classmethod
    def refusing(cls, message: str = "AzureCliCredential: Please run 'az login'") -> FakeCredential:
        """A credential that raises ClientAuthenticationError, as DefaultAzureCredential does."""
        return cls(ClientAuthenticationError(message=message))


def fake_jwt() -> str:
    """An unsigned JWT with the claims the SDK reads (tid: it appends it to Studio links)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {
        "tid": TENANT,
        "oid": "00000000-0000-4000-8000-0000000000aa",
        "upn": "test@example.com",
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@dataclass
class Recorded:
    """One request the SDK sent: method, full url, path, query and the parsed JSON body."""

    method: str
    url: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def __repr__(self) -> str:
        return f"<{self.method} {self.path}>"


@dataclass
class Reply:
    """An answer: status, JSON body (None: no body) and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    """One entry of the route table."""

    method: str
    pattern: re.Pattern
    answer: Any  # a Reply, a body, or a callable (request, match) -> Reply | body
    status: int = 200


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error envelope Azure Resource Manager answers with."""
    return {"error": {"code": code, "message": message}}


class RecordingTransport(HttpTransport):
    """An azure-core transport that records each request and answers from a route table.

    Routes are tried newest first, so a test overrides a default with `route(...)`. A request
    no route matches is answered 404 "no fake route for ...", which names it in the error.
    """

    def __init__(self, *, job_statuses: Iterable[str] = ("Running", "Completed")) -> None:
        self.requests: list[Recorded] = []
        self.routes: list[Route] = []
        self.sleeps: list[float] = []
        # What jobs.get answers for each job, one status per GET (the last one repeats).
        self.job_statuses: list[str] = list(job_statuses)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[dict[str, Any]]] = {}
        self.mlflow_tracking_uri = f"azureml://{LOCATION}.api.azureml.ms/mlflow/v1.0{WORKSPACE_ID}"
        self._status_index: dict[str, int] = {}
        default_routes(self)

    # ----------------------------------------------------------------- the route table

    def route(
        self, method: str, path_regex: str, status: int = 200, body: Any = None
    ) -> RecordingTransport:
        """Answer METHOD requests whose path matches path_regex (re.search) with status and
        body (JSON; None: no body). body may be a callable (request: Recorded, match) that
        returns a Reply, a body (sent with `status`), or None to leave the request to the
        older routes; a callable that raises makes the request raise, as a transport does
        (e.g. azure.core.exceptions.ServiceRequestError for no network)."""
        self.routes.append(Route(method.upper(), re.compile(path_regex), body, status))
        return self

    def fail(self, method: str, path_regex: str, status: int, code: str, message: str) -> None:
        """Answer with an ARM error envelope (401, 403, 404, 409...)."""
        self.route(method, path_regex, status, error_body(code, message))

    def raise_on(self, method: str, path_regex: str, error: BaseException) -> None:
        """Make matching requests raise error, as the requests transport does for no network."""

        def answer(request: Recorded, match: re.Match) -> Any:
            raise error

        self.route(method, path_regex, 200, answer)

    def requests_to(self, method: str, path_regex: str) -> list[Recorded]:
        """The recorded METHOD requests whose path matches path_regex, in order."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and pattern.search(r.path)]

    def job_put(self, name: str | None = None) -> dict[str, Any]:
        """The body of the (last) job PUT: the JSON Azure ML would have received."""
        puts = self.requests_to("PUT", rf"/jobs/{re.escape(name) if name else '[^/]+'}$")
        assert puts, f"no job was PUT; requests: {self.requests}"
        return puts[-1].body

    # ----------------------------------------------------------------- HttpTransport

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def sleep(self, duration: float) -> None:
        # The retry policy waits through the transport: recorded, never slept.
        self.sleeps.append(duration)

    def send(self, request: Any, **kwargs: Any) -> Any:
        recorded = _record(request)
        self.requests.append(recorded)
        for route in reversed(self.routes):
            if route.method != recorded.method:
                continue
            match = route.pattern.search(recorded.path)
            if match is None:
                continue
            answer = route.answer(recorded, match) if callable(route.answer) else route.answer
            if answer is None and callable(route.answer):
                continue  # the callable passed: the older routes answer
            reply = answer if isinstance(answer, Reply) else Reply(route.status, answer)
            return _response(request, reply)
        reply = Reply(
            404, error_body("NotFound", f"no fake route for {recorded.method} {recorded.path}")
        )
        return _response(request, reply)

    # ----------------------------------------------------------------- service state

    def next_status(self, name: str) -> str:
        """The status jobs.get reports for job `name` now (advances the sequence)."""
        index = self._status_index.get(name, 0)
        self._status_index[name] = index + 1
        return self.job_statuses[min(index, len(self.job_statuses) - 1)]


def _record(request: Any) -> Recorded:
    raw = getattr(request, "content", None)
    if raw is None:
        raw = getattr(request, "data", None) or getattr(request, "body", None)
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    body: Any = raw
    if isinstance(raw, str) and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
    parts = urlsplit(request.url)
    return Recorded(
        method=request.method.upper(),
        url=request.url,
        path=parts.path,
        query=parse_qs(parts.query),
        headers=dict(request.headers),
        body=body,
    )


def _response(request: Any, reply: Reply) -> Any:
    """An azure-core response of the kind the request asks for (the new `azure.core.rest` one
    or the legacy transport one), built on a requests.Response that holds the body."""
    import requests
    from azure.core.pipeline._tools import is_rest

    content = b"" if reply.body is None else json.dumps(reply.body).encode()
    internal = requests.Response()
    internal.status_code = reply.status
    internal.reason = _REASONS.get(reply.status, "OK" if reply.status < 400 else "Error")
    internal._content = content
    internal._content_consumed = True  # nothing to read from a socket
    internal.url = request.url
    internal.headers["Content-Type"] = "application/json; charset=utf-8"
    internal.headers["x-ms-request-id"] = str(uuid.uuid4())
    internal.headers.update(reply.headers)
    if is_rest(request):
        from azure.core.rest._requests_basic import RestRequestsTransportResponse

        response = RestRequestsTransportResponse(request=request, internal_response=internal)
        response._content = content
        return response
    from azure.core.pipeline.transport._requests_basic import RequestsTransportResponse

    return RequestsTransportResponse(request, internal)


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}


# --------------------------------------------------------------------------- default answers


KINDS = r"(?P<kind>codes|environments|models|data|components)"
ASSET = rf"{KINDS}/(?P<name>[^/]+)/versions/(?P<version>[^/]+)"


def default_routes(t: RecordingTransport) -> None:
    """Answers that let the real SDK submit a command or sweep job end to end."""
    t.route("GET", rf"^{WS}$", 200, lambda r, m: workspace_body(t))
    t.route("GET", r"^/discovery$", 200, lambda r, m: discovery_body())
    # Code snapshot: earlier uploads with this hash (none, unless PUT here); where to put it.
    t.route("POST", rf"^{WS}/codes/[^/]+/versions/[^/]+/startPendingUpload$", 200, pending_upload)
    # Versioned assets (code, environment, model, data): PUT stores and echoes, GET reads,
    # GET .../versions lists what was stored under that name (filtered by ?hash= for code).
    t.route(
        "GET", rf"^{WS}/{KINDS}/(?P<name>[^/]+)/versions$", 200, lambda r, m: list_assets(t, r, m)
    )
    t.route("PUT", rf"^{WS}/{ASSET}$", 200, lambda r, m: put_asset(t, r, m))
    t.route("GET", rf"^{WS}/{ASSET}$", 200, lambda r, m: get_asset(t, r, m))
    # Jobs: PUT stores and echoes with a status and Studio link, GET walks job_statuses.
    t.route("PUT", rf"^{WS}/jobs/(?P<name>[^/]+)$", 201, lambda r, m: put_job(t, r, m))
    t.route("GET", rf"^{WS}/jobs/(?P<name>[^/]+)$", 200, lambda r, m: get_job(t, r, m))
    # Run history (the data plane at the discovery url): jobs.stream and the children of a
    # sweep (jobs.list(parent_job_name=...)).
    history = rf"^/history/v1\.0{WS}/runs/(?P<name>[^/]+)"
    t.route("GET", rf"{history}/details$", 200, lambda r, m: run_details(t, m["name"]))
    t.route("GET", rf"{history}/children$", 200, lambda r, m: run_children(t, m["name"]))
    # The default datastore and its credentials (uploads and downloads without a SAS url).
    t.route("GET", rf"^{WS}/datastores$", 200, lambda r, m: {"value": [datastore_body()]})
    t.route("GET", rf"^{WS}/datastores/workspaceblobstore$", 200, lambda r, m: datastore_body())
    t.route(
        "POST",
        rf"^{WS}/datastores/[^/]+/listSecrets$",
        200,
        {"secretsType": "AccountKey", "key": "ZmFrZQ=="},
    )


def arm_id(kind: str, name: str, version: str | None = None) -> str:
    """The ARM id of a workspace resource."""
    tail = f"/{kind}/{name}" + (f"/versions/{version}" if version else "")
    return WORKSPACE_ID + tail


def system_data() -> dict[str, str]:
    return {
        "createdAt": "2024-01-01T00:00:00.000000+00:00",
        "createdBy": "test@example.com",
        "createdByType": "User",
        "lastModifiedAt": "2024-01-01T00:00:00.000000+00:00",
    }


def pending_upload(request: Recorded, match: re.Match) -> dict[str, Any]:
    """A temporary blob for the code snapshot (the SAS url is never contacted: fake_storage)."""
    # The service answers with the container's url: the SDK joins the blob path to it.
    blob = SAS_CONTAINER
    return {
        "pendingUploadId": str(uuid.uuid4()),
        "pendingUploadType": "TemporaryBlobReference",
        "blobReferenceForConsumption": {
            "blobUri": blob,
            "storageAccountArmId": None,
            "credential": {"credentialType": "SAS", "sasUri": f"{blob}?sv=fake&sig=fake"},
        },
    }


def put_asset(t: RecordingTransport, request: Recorded, match: re.Match) -> dict[str, Any]:
    kind, name, version = match["kind"], match["name"], match["version"]
    body = {
        **json.loads(json.dumps(request.body or {})),
        "id": arm_id(kind, name, version),
        "name": version,
        "type": f"Microsoft.MachineLearningServices/workspaces/{kind}/versions",
        "systemData": system_data(),
    }
    props = body.setdefault("properties", {})
    props["provisioningState"] = "Succeeded"
    if kind == "models":
        props.setdefault("flavors", {})  # the service always answers with a flavors map
    t.assets[f"{kind}/{name}/{version}"] = body
    return body


def get_asset(t: RecordingTransport, request: Recorded, match: re.Match) -> Any:
    key = f"{match['kind']}/{match['name']}/{match['version']}"
    if key in t.assets:
        return t.assets[key]
    return Reply(
        404,
        error_body("UserError", f"{match['kind']} {match['name']}:{match['version']} not found"),
    )


def list_assets(t: RecordingTransport, request: Recorded, match: re.Match) -> dict[str, Any]:
    prefix = f"{match['kind']}/{match['name']}/"
    found = [body for key, body in t.assets.items() if key.startswith(prefix)]
    wanted = request.query.get("hash")
    if wanted:
        found = [
            body
            for body in found
            if body["properties"].get("properties", {}).get("hash_sha256") == wanted[0]
        ]
    return {"value": found}


def studio_link(name: str) -> str:
    # Without the tenant: the SDK appends &tid= from the token's claims.
    return f"https://ml.azure.com/runs/{name}?wsid={WORKSPACE_ID}"


def put_job(t: RecordingTransport, request: Recorded, match: re.Match) -> Any:
    name = match["name"]
    body = json.loads(json.dumps(request.body or {}))
    props = body.setdefault("properties", {})
    props["status"] = "NotStarted"
    props.setdefault("experimentName", "Default")
    props["services"] = {
        "Studio": {"endpoint": studio_link(name), "jobServiceType": "Studio"},
        "Tracking": {"endpoint": t.mlflow_tracking_uri, "jobServiceType": "Tracking"},
    }
    body.update(
        id=arm_id("jobs", name),
        name=name,
        type="Microsoft.MachineLearningServices/workspaces/jobs",
        systemData=system_data(),
    )
    t.jobs[name] = body
    return Reply(201, body)


def data_asset(t: RecordingTransport, name: str, version: str, uri: str | None = None) -> None:
    """Register data asset NAME:VERSION (a uri_folder), so data.get finds it."""
    uri = uri or f"azureml://datastores/workspaceblobstore/paths/{name}/"
    t.assets[f"data/{name}/{version}"] = {
        "id": arm_id("data", name, version),
        "name": version,
        "type": "Microsoft.MachineLearningServices/workspaces/data/versions",
        "systemData": system_data(),
        "properties": {"dataType": "uri_folder", "dataUri": uri, "isAnonymous": False},
    }


def datastore_body() -> dict[str, Any]:
    """The workspace's default blob datastore."""
    return {
        "id": arm_id("datastores", "workspaceblobstore"),
        "name": "workspaceblobstore",
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "systemData": system_data(),
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": STORAGE_ACCOUNT,
            "containerName": "azureml-blobstore-test",
            "endpoint": "core.windows.net",
            "protocol": "https",
            "isDefault": True,
            "credentials": {"credentialsType": "AccountKey"},
        },
    }


def run_details(t: RecordingTransport, name: str) -> Any:
    """The run history's view of a job (what jobs.stream polls)."""
    if name not in t.jobs:
        return Reply(404, error_body("UserError", f"run {name} not found"))
    status = t.next_status(name)
    return {
        "runId": name,
        "status": status,
        "logFiles": {},
        "warnings": [],
        "error": {"error": {"code": "UserError", "message": "trial failed"}}
        if status == "Failed"
        else None,
    }


def run_children(t: RecordingTransport, name: str) -> dict[str, Any]:
    """The trials of a sweep, as the test put them in `transport.children[name]`."""
    return {"value": t.children.get(name, []), "continuationToken": None}


def child_run(parent: str, index: int, status: str = "Completed", **properties: str) -> dict:
    """A trial of sweep `parent` as run history lists it."""
    return {
        "runId": f"{parent}_{index}",
        "parentRunId": parent,
        "rootRunId": parent,
        "displayName": f"{parent}_{index}",
        "status": status,
        "experimentId": "e7a1c0de-0000-4000-8000-000000000001",
        "tags": {},
        "properties": dict(properties),
        "createdUtc": "2024-01-01T00:00:00.000Z",
    }


def get_job(t: RecordingTransport, request: Recorded, match: re.Match) -> Any:
    name = match["name"]
    if name not in t.jobs:
        return Reply(404, error_body("UserError", f"job {name} not found"))
    body = json.loads(json.dumps(t.jobs[name]))
    body["properties"]["status"] = t.next_status(name)
    return body


def workspace_body(t: RecordingTransport) -> dict[str, Any]:
    """The workspace as ARM describes it (what workspaces.get deserialises)."""
    return {
        "id": WORKSPACE_ID,
        "name": WORKSPACE,
        "type": "Microsoft.MachineLearningServices/workspaces",
        "location": LOCATION,
        "kind": "Default",
        "properties": {
            "friendlyName": WORKSPACE,
            "workspaceId": "0a1b2c3d-0000-4000-8000-00000000abcd",
            "discoveryUrl": f"{API_HOST}/discovery",
            "mlFlowTrackingUri": t.mlflow_tracking_uri,
            "storageAccount": f"{RESOURCE_GROUP_ID}/providers/Microsoft.Storage"
            f"/storageAccounts/{STORAGE_ACCOUNT}",
            "provisioningState": "Succeeded",
        },
    }


def discovery_body() -> dict[str, str]:
    """The workspace discovery document: where the data-plane services are."""
    return {
        "api": API_HOST,
        "catalog": API_HOST,
        "experimentation": API_HOST,
        "history": API_HOST,
        "modelmanagement": API_HOST,
        "pipelines": API_HOST,
        "studiometadata": API_HOST,
    }


# --------------------------------------------------------------------------- fake storage

# Every module that holds its own reference to azure.ai.ml's get_storage_client.
STORAGE_CLIENT_USERS = (
    "azure.ai.ml._artifacts._artifact_utilities",
    "azure.ai.ml.operations._code_operations",
    "azure.ai.ml.operations._model_operations",
    "azure.ai.ml._utils._data_utils",
    "azure.ai.ml._utils._feature_store_utils",
)


@dataclass
class Upload:
    """One upload the SDK asked for: the local source, the files (relative to it, as the
    SDK's own listing gives them after the ignore file) and where they would have gone."""

    source: Path
    files: list[str]
    remote_path: str
    container: str
    asset_name: str | None
    asset_version: str | None


@dataclass
class FakeStorage:
    """What the SDK would have put in (and read from) blob storage."""

    uploads: list[Upload] = field(default_factory=list)
    # blob name -> bytes, listed and served by downloads (a test fills it).
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        """The relative paths of the last upload (e.g. 'conf/config.yaml')."""
        assert self.uploads, "nothing was uploaded"
        return self.uploads[-1].files

    def client(
        self,
        credential: Any = None,
        storage_account: Any = None,
        storage_type: Any = None,
        account_url: str | None = None,
        container_name: str | None = None,
    ) -> FakeStorageClient:
        """Stands in for azure.ai.ml._utils._storage_utils.get_storage_client."""
        if container_name is None and account_url:
            # A SAS url names the container as the first path segment.
            container_name = urlsplit(account_url).path.strip("/").split("/")[0]
        return FakeStorageClient(self, container_name or "azureml-blobstore")


class FakeStorageClient:
    """The interface of azure.ai.ml's BlobStorageClient that jobs use: upload, download, exists."""

    def __init__(self, storage: FakeStorage, container: str) -> None:
        self.storage = storage
        self.container = container
        self.file_system = container  # the attribute non-blob clients have
        self.indicator_file: str | None = None

    def upload(
        self,
        source: str,
        name: str | None,
        version: str | None,
        ignore_file: Any = None,
        asset_hash: str | None = None,
        show_progress: bool = True,
    ) -> dict[str, Any]:
        """List what the real client would upload (the SDK's listing and ignore file)."""
        from azure.ai.ml._artifacts._constants import EMPTY_DIRECTORY_ERROR
        from azure.ai.ml._utils._asset_utils import (
            IgnoreFile,
            generate_asset_id,
            get_upload_files_from_folder,
        )
        from azure.ai.ml.exceptions import EmptyDirectoryError, ErrorTarget

        ignore_file = ignore_file or IgnoreFile(None)
        source_path = Path(source)
        dest = f"{generate_asset_id(asset_hash, include_directory=True)}/{source_path.name}"
        if source_path.is_dir():
            listed = get_upload_files_from_folder(source_path, ignore_file=ignore_file)
            files = sorted(relative for _, relative in listed)
            if not files:
                raise EmptyDirectoryError(  # as the SDK's upload_directory does
                    message=EMPTY_DIRECTORY_ERROR.format(source),
                    no_personal_data_message=EMPTY_DIRECTORY_ERROR.format("[source]"),
                    target=ErrorTarget.ARTIFACT,
                )
            self.indicator_file = f"{dest}/{files[0]}"
        else:
            files = [source_path.name]
            self.indicator_file = dest
        self.storage.uploads.append(Upload(source_path, files, dest, self.container, name, version))
        return {
            "remote path": dest,
            "name": name,
            "version": version,
            "indicator file": self.indicator_file,
        }

    def download(self, starts_with: str, destination: Any = None, **kwargs: Any) -> None:
        """Write the blobs under starts_with into destination, as the real client does."""
        target = Path(destination or ".")
        for blob, data in self.storage.blobs.items():
            if not blob.startswith(starts_with):
                continue
            relative = blob[len(starts_with) :].lstrip("/") or Path(starts_with).name
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def exists(self, blobpath: str, delimiter: str = "/") -> bool:
        """Whether a blob, or a folder of blobs, is at blobpath."""
        prefix = blobpath.rstrip(delimiter)
        return any(b == prefix or b.startswith(prefix + delimiter) for b in self.storage.blobs)


@contextmanager
def fake_storage() -> Iterator[FakeStorage]:
    """Replace the SDK's storage clients for the duration: uploads are listed, not sent."""
    import importlib

    storage = FakeStorage()
    saved = []
    for name in STORAGE_CLIENT_USERS:
        module = importlib.import_module(name)
        saved.append((module, module.get_storage_client))
        module.get_storage_client = storage.client
    try:
        yield storage
    finally:
        for module, original in saved:
            module.get_storage_client = original
