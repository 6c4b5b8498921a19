"""Fixtures of the Azure ML tests: a real MLClient answered by a fake service, fake blob
storage, and a guard that fails any test that tries to open a connection off this machine.

Use: `def test_x(ml_client, transport, storage)`. `transport` is the RecordingTransport the
client sends through (route answers with transport.route(...), read what was sent with
transport.requests_to(...) / transport.job_put()); `storage` lists what the SDK would have
uploaded (storage.files). Everything else is in fake_azure.py.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest
from fake_azure import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeCredential,
    FakeStorage,
    RecordingTransport,
    fake_storage,
)

# What a shell or an Azure ML job may have set that would change which workspace, identity or
# mode the code under test picks.
AZURE_ENV = (
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_RESOURCE_GROUP",
    "AZUREML_WORKSPACE_NAME",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZUREML_RUN_ID",
    "AZUREML_ARM_WORKSPACE_NAME",
    "AZUREML_ARM_SUBSCRIPTION",
    "AZUREML_ARM_RESOURCEGROUP",
)


@pytest.fixture(scope="session", autouse=True)
def _platform_probed() -> None:
    """azure-core's UserAgentPolicy calls platform.platform(), whose first call in a process
    runs `uname -p`; done here, before the per-test guard against subprocesses (session
    fixtures are set up before function ones), so no test is blamed for it."""
    import platform

    platform.platform()


@pytest.fixture(autouse=True)
def _clean_azure_env(monkeypatch) -> None:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


def _is_local(host: Any) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False  # a host name other than localhost


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> list[str]:
    """Connections and name lookups beyond loopback fail, and fail the test at teardown even
    when the code under test swallowed the error (an SDK retrying, a mapped message)."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(what: str) -> OSError:
        attempts.append(what)
        return OSError(f"tests/azure: no network ({what})")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise refuse(f"connect {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise refuse(f"connect {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise socket.gaierror(socket.EAI_NONAME, str(refuse(f"resolve {host!r}")))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    if attempts:
        pytest.fail(f"the test tried to reach the network: {attempts}", pytrace=False)


@pytest.fixture
def env_cfg() -> Any:
    """The `env` config of an Azure run, with a fake workspace's coordinates."""
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "name": "azure",
            "kind": "azure",
            "subscription_id": SUBSCRIPTION,
            "resource_group": RESOURCE_GROUP,
            "workspace_name": WORKSPACE,
            "config_json": None,
            "environment_image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
            "conda_file": None,
        }
    )


@pytest.fixture
def transport() -> RecordingTransport:
    """The fake Azure ML service the `ml_client` sends to (one per test)."""
    return RecordingTransport()


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def ml_client(env_cfg, transport, credential) -> Any:
    """A real azure.ai.ml.MLClient from resume_ner.azure.workspace.connect, through `transport`."""
    from resume_ner.azure.workspace import connect

    return connect(env_cfg, credential=credential, transport=transport)


@pytest.fixture
def storage() -> FakeStorage:
    """Blob storage replaced for the test: storage.files lists the last upload."""
    with fake_storage() as fake:
        yield fake


@pytest.fixture
def code_dir(tmp_path) -> Path:
    """A small code folder: a script and a config, plus what an ignore file keeps out."""
    root = tmp_path / "code"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text("seed: 1\n")
    (root / "train.py").write_text("print('training')\n")
    (root / "outputs").mkdir()
    (root / "outputs" / "model.bin").write_bytes(b"\0" * 16)
    (root / "runs.db").write_bytes(b"sqlite")
    (root / ".amlignore").write_text("/outputs/\n*.db\n")
    return root


@pytest.fixture
def workspace_mlflow(tmp_path, transport, mlflow_template) -> str:
    """A local MLflow store standing in for the workspace's: the fake workspace reports its
    sqlite:/// URI as mlflow_tracking_uri. Returns that URI."""
    import shutil

    db = tmp_path / "workspace-mlflow.db"
    shutil.copyfile(mlflow_template, db)
    transport.mlflow_tracking_uri = f"sqlite:///{db}"
    return transport.mlflow_tracking_uri
