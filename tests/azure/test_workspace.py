"""resume_ner.azure.workspace: where the workspace comes from, the client, and the SDK's
failures as one RemoteError line. The SDK is real; its HTTP answers come from fake_azure."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import ServiceRequestError
from fake_azure import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    WORKSPACE_ID,
    WS,
    FakeCredential,
    data_asset,
)
from omegaconf import OmegaConf

from resume_ner.azure.workspace import (
    NETWORK_LIMITS,
    Workspace,
    azure_errors,
    connect,
    find_workspace,
    in_azure_job,
    studio_url,
    workspace_tracking_uri,
)
from resume_ner.errors import RemoteError, UserError

OTHER_SUB = "01234567-89ab-cdef-0123-456789abcdef"


def env(**fields) -> object:
    base = {"subscription_id": None, "resource_group": None, "workspace_name": None}
    base["config_json"] = None
    return OmegaConf.create({**base, **fields})


def write_config(path: Path, **values) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"subscription_id": OTHER_SUB, "resource_group": "rg-file", "workspace_name": "ws-file"}
    path.write_text(json.dumps({**data, **values}))
    return path


def assert_one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --------------------------------------------------------------------------- find_workspace


def test_workspace_from_the_env_fields(tmp_path: Path) -> None:
    write_config(tmp_path / "config.json")  # present, but the env fields are complete
    cfg = env(subscription_id=SUBSCRIPTION, resource_group="rg", workspace_name="ws")
    ws = find_workspace(cfg, start=tmp_path)
    assert (ws.subscription_id, ws.resource_group, ws.workspace_name) == (SUBSCRIPTION, "rg", "ws")
    assert "AZURE_SUBSCRIPTION_ID" in ws.source


def test_env_config_json_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "elsewhere" / "ws.json")
    ws = find_workspace(env(config_json=str(path)), start=tmp_path)
    assert (ws.subscription_id, ws.resource_group, ws.workspace_name) == (
        OTHER_SUB,
        "rg-file",
        "ws-file",
    )
    assert ws.source == str(path)


def test_config_json_found_up_the_tree_as_mlclient_from_config_does(tmp_path: Path) -> None:
    nested = tmp_path / "project" / "sub"
    nested.mkdir(parents=True)
    # MLClient.from_config tries .azureml/config.json in every parent before a bare config.json.
    write_config(tmp_path / "project" / "config.json", workspace_name="bare")
    wanted = write_config(tmp_path / ".azureml" / "config.json", workspace_name="dot-azureml")
    ws = find_workspace(env(), start=nested)
    assert ws.workspace_name == "dot-azureml"
    assert ws.source == str(wanted)


def test_env_fields_win_over_the_config_json(tmp_path: Path) -> None:
    write_config(tmp_path / "config.json")
    ws = find_workspace(env(workspace_name="ws-env", resource_group=""), start=tmp_path)
    # An exported-but-empty variable counts as unset: the file's resource group is used.
    assert (ws.resource_group, ws.workspace_name) == ("rg-file", "ws-env")
    assert "AZUREML_WORKSPACE_NAME" in ws.source and "config.json" in ws.source


def test_project_json_scope_is_read(tmp_path: Path) -> None:
    scope = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-s/providers/x/workspaces/ws-s"
    (tmp_path / "aml_config").mkdir()
    (tmp_path / "aml_config" / "project.json").write_text(json.dumps({"Scope": scope}))
    ws = find_workspace(env(), start=tmp_path)
    assert (ws.subscription_id, ws.resource_group, ws.workspace_name) == (OTHER_SUB, "rg-s", "ws-s")


def test_no_workspace_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as err:
        find_workspace(env(), start=tmp_path)
    message = assert_one_line(err)
    for needed in (
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_RESOURCE_GROUP",
        "AZUREML_WORKSPACE_NAME",
        "env.config_json=PATH",
        "Download config file",
    ):
        assert needed in message
    assert isinstance(err.value, UserError)  # the CLI turns it into `error: ...`, exit 2


def test_partial_env_names_the_missing_variables(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match=r"AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME not set"):
        find_workspace(env(subscription_id=SUBSCRIPTION), start=tmp_path)


def test_missing_explicit_config_json(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match=r"env.config_json=.*nope.json: no such file"):
        find_workspace(env(config_json=str(tmp_path / "nope.json")), start=tmp_path)


def test_config_json_without_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"subscription_id": OTHER_SUB}))
    with pytest.raises(RemoteError, match=r"lacks resource_group, workspace_name"):
        find_workspace(env(), start=tmp_path)
    path.write_text("{not json")
    with pytest.raises(RemoteError, match=r"not a readable JSON"):
        find_workspace(env(), start=tmp_path)


def test_a_subscription_that_is_not_a_guid_names_its_source(tmp_path: Path) -> None:
    cfg = env(subscription_id="my-sub", resource_group="rg", workspace_name="ws")
    with pytest.raises(RemoteError, match=r"'my-sub' \(from the environment .*\) is not a subscr"):
        find_workspace(cfg, start=tmp_path)


# --------------------------------------------------------------------------- connect


def test_connect_builds_the_real_client_for_the_workspace(ml_client, transport) -> None:
    from azure.ai.ml import MLClient

    assert isinstance(ml_client, MLClient)
    assert (ml_client.subscription_id, ml_client.resource_group_name) == (
        SUBSCRIPTION,
        RESOURCE_GROUP,
    )
    assert ml_client.workspace_name == WORKSPACE
    ws = ml_client.workspaces.get(WORKSPACE)
    assert ws.name == WORKSPACE
    (get,) = transport.requests_to("GET", rf"^{WS}$")
    assert get.headers["Authorization"].startswith("Bearer ")


def test_connect_sets_network_limits_on_every_client(env_cfg) -> None:
    # No transport given: the SDK builds azure-core's RequestsTransport (no socket yet).
    client = connect(env_cfg, credential=FakeCredential())
    for service in (client._service_client_01_2025_preview, client._service_client_04_2023):
        transport = service._client._pipeline._transport
        assert transport.connection_config.timeout == NETWORK_LIMITS["connection_timeout"]
        assert transport.connection_config.read_timeout == NETWORK_LIMITS["read_timeout"]
        assert service._config.retry_policy.total_retries == NETWORK_LIMITS["retry_total"]
        assert service._config.retry_policy.connect_retries == NETWORK_LIMITS["retry_connect"]


def test_workspace_tracking_uri(ml_client) -> None:
    uri = workspace_tracking_uri(ml_client)
    assert uri.startswith("azureml://") and uri.endswith(WORKSPACE_ID)


# --------------------------------------------------------------------------- errors


def test_a_refusing_credential_says_to_sign_in(env_cfg, transport) -> None:
    client = connect(env_cfg, credential=FakeCredential.refusing(), transport=transport)
    with pytest.raises(RemoteError) as err, azure_errors("reading the workspace"):
        client.workspaces.get(WORKSPACE)
    message = assert_one_line(err)
    assert message.startswith("reading the workspace: not signed in to Azure")
    assert "az login" in message and "AZURE_CLIENT_ID" in message
    assert transport.requests == []  # refused before anything was sent


def test_credential_unavailable_says_to_sign_in(env_cfg, transport) -> None:
    from azure.identity import CredentialUnavailableError

    credential = FakeCredential(CredentialUnavailableError("EnvironmentCredential: incomplete"))
    client = connect(env_cfg, credential=credential, transport=transport)
    with pytest.raises(RemoteError, match=r"not signed in to Azure.*az login"), azure_errors("x"):
        client.workspaces.get(WORKSPACE)


def test_401_says_the_credentials_were_refused(ml_client, transport) -> None:
    transport.fail("GET", rf"^{WS}$", 401, "InvalidAuthenticationTokenTenant", "wrong tenant")
    with pytest.raises(RemoteError) as err, azure_errors("reading the workspace"):
        ml_client.workspaces.get(WORKSPACE)
    message = assert_one_line(err)
    assert "refused the credentials (401 InvalidAuthenticationTokenTenant: wrong tenant)" in message
    assert "az login --tenant" in message


def test_403_names_the_role_needed(ml_client, transport) -> None:
    transport.fail("GET", rf"^{WS}$", 403, "AuthorizationFailed", "no access to workspaces/read")
    with pytest.raises(RemoteError) as err, azure_errors("reading the workspace"):
        ml_client.workspaces.get(WORKSPACE)
    message = assert_one_line(err)
    assert "permission denied (403 AuthorizationFailed: no access" in message
    assert "AzureML Data Scientist" in message and WORKSPACE in message


def test_404_workspace_says_which_variables_to_check(ml_client, transport) -> None:
    transport.fail("GET", rf"^{WS}$", 404, "ResourceNotFound", "workspace not found")
    with pytest.raises(RemoteError) as err, azure_errors("reading the workspace"):
        ml_client.workspaces.get(WORKSPACE)
    message = assert_one_line(err)
    assert f"workspace {WORKSPACE} in resource group {RESOURCE_GROUP} not found" in message
    assert "AZURE_SUBSCRIPTION_ID" in message and "AZUREML_WORKSPACE_NAME" in message


def test_404_asset_names_the_asset(ml_client, transport) -> None:
    data_asset(transport, "resumes", "2")
    assert ml_client.data.get("resumes", "2").version == "2"
    with pytest.raises(RemoteError) as err, azure_errors("checking the data"):
        ml_client.data.get("resumes", "3")
    assert f"data asset resumes:3 not found in workspace {WORKSPACE}" in assert_one_line(err)


def test_other_http_errors_give_status_and_service_message(ml_client, transport) -> None:
    transport.fail("GET", rf"^{WS}$", 400, "BadRequest", "line one\nline two")
    with pytest.raises(RemoteError) as err, azure_errors("reading the workspace"):
        ml_client.workspaces.get(WORKSPACE)
    assert "Azure ML answered 400 BadRequest: line one line two" in assert_one_line(err)


def test_no_network_is_a_clear_message_quickly(ml_client, transport) -> None:
    # What the requests transport raises when a host cannot be resolved or reached.
    transport.raise_on("GET", rf"^{WS}$", ServiceRequestError("Failed to resolve host"))
    started = time.monotonic()
    with pytest.raises(RemoteError) as err, azure_errors("reading the workspace"):
        ml_client.workspaces.get(WORKSPACE)
    assert time.monotonic() - started < 5
    message = assert_one_line(err)
    assert "cannot reach Azure (no network? Failed to resolve host)" in message
    # One retry (NETWORK_LIMITS retry_connect), not azure-core's default of three.
    assert len(transport.requests_to("GET", rf"^{WS}$")) == 1 + NETWORK_LIMITS["retry_connect"]


def test_unrelated_errors_pass_through() -> None:
    with pytest.raises(KeyError), azure_errors("x"):
        raise KeyError("mine")


# --------------------------------------------------------------------------- jobs


def test_in_azure_job(monkeypatch) -> None:
    assert not in_azure_job()
    monkeypatch.setenv("AZUREML_RUN_ID", "patient_window_q9jsmq74g2")
    assert in_azure_job()


def test_studio_url() -> None:
    job_id = f"{WORKSPACE_ID}/jobs/j1"
    given = SimpleNamespace(name="j1", id=job_id, studio_url="https://ml.azure.com/runs/j1?x")
    assert studio_url(given) == "https://ml.azure.com/runs/j1?x"
    built = SimpleNamespace(name="j1", id=job_id, studio_url=None)
    assert studio_url(built) == f"https://ml.azure.com/runs/j1?wsid={WORKSPACE_ID}"
    ws = Workspace(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE, source="test")
    bare = SimpleNamespace(name="j2", id=None, studio_url=None)
    assert studio_url(bare, ws) == f"https://ml.azure.com/runs/j2?wsid={WORKSPACE_ID}"
