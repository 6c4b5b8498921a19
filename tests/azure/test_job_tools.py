"""`python -m resume_ner.azure {status,download,register-data}` through the real azure-ai-ml
SDK: what each tool sends, reads and prints, and that a file the data layer refuses is never
uploaded or registered.

Real: MLClient and its job, data and datastore operations (the requests they build, the
run-history and data-plane calls of jobs.list / jobs.download, the upload's path), the
project's data layer (readers, repair, report). Faked: the HTTP answers (RecordingTransport,
with the routes added here), the token (FakeCredential) and blob storage (`storage`: uploads
are listed, downloads are served from storage.blobs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml")

from fake_azure import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    WS,
    FakeCredential,
    RecordingTransport,
    arm_id,
    child_run,
    datastore_body,
    system_data,
)

from resume_ner.errors import DataError

COMMAND = "python -m resume_ner.train training.output_dir=${{outputs.checkpoint}}"


def job_body(name: str, job_type: str = "Command") -> dict[str, Any]:
    """A job as the jobs API answers a GET of it: a command job, or a sweep of it."""
    common = {
        "status": "Completed",
        "experimentName": "resume-ner",
        "computeId": arm_id("computes", "gpu-cluster"),
        "outputs": {"checkpoint": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
    }
    code = {
        "codeId": arm_id("codes", "resume-ner", "1"),
        "environmentId": arm_id("environments", "resume-ner", "1"),
    }
    if job_type == "Sweep":
        props = {
            "jobType": "Sweep",
            "objective": {"goal": "Maximize", "primaryMetric": "val_macro-f1"},
            "samplingAlgorithm": {"samplingAlgorithmType": "Random", "seed": 7},
            "searchSpace": {"lr": ["uniform", [1e-05, 5e-05]]},
            "limits": {"jobLimitsType": "Sweep", "maxTotalTrials": 2, "maxConcurrentTrials": 2},
            "trial": {"command": COMMAND + " training.learning_rate=${{search_space.lr}}", **code},
        }
    else:
        props = {"jobType": "Command", "command": COMMAND, **code}
    return {
        "id": arm_id("jobs", name),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "systemData": system_data(),
        "properties": {**common, **props},
    }


@pytest.fixture
def transport() -> RecordingTransport:
    # Finished jobs: download refuses one that is still running.
    return RecordingTransport(job_statuses=("Completed",))


@pytest.fixture
def fake_connect(monkeypatch, transport) -> FakeCredential:
    """The CLI's workspace from the environment (conf/env/azure.yaml), connected with a fake
    credential through the recording transport."""
    from resume_ner.azure import workspace

    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", RESOURCE_GROUP)
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", WORKSPACE)
    real = workspace.connect
    credential = FakeCredential()
    monkeypatch.setattr(
        workspace,
        "connect",
        lambda env_cfg, **kw: real(env_cfg, credential=credential, transport=transport),
    )
    return credential


def cli(*argv: str) -> None:
    from resume_ner.azure.__main__ import main

    main(list(argv))


# --------------------------------------------------------------------------- status


def test_status_of_a_sweep_lists_its_trials_with_their_sampled_values(
    transport, fake_connect, capsys
):
    transport.jobs["sweep-1"] = job_body("sweep-1", "Sweep")
    first = child_run("sweep-1", 0)
    first["tags"]["hyperparameters"] = json.dumps({"lr": 3e-05})
    transport.children["sweep-1"] = [first, child_run("sweep-1", 1, status="Failed")]

    cli("status", "sweep-1")

    out = capsys.readouterr().out
    assert "type:   sweep" in out and "status: Completed" in out
    assert "https://ml.azure.com/runs/sweep-1" in out
    assert "2 children:" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("sweep-1_")]
    assert rows == [["sweep-1_0", "Completed", "lr=3e-05"], ["sweep-1_1", "Failed", "-"]]
    # The trials come from run history (what jobs.list(parent_job_name=...) reads).
    assert transport.requests_to("GET", r"/history/v1\.0.*/runs/sweep-1/children$")


def test_status_of_a_command_job_has_no_children_table(transport, fake_connect, capsys):
    transport.jobs["train-1"] = job_body("train-1")
    cli("status", "train-1")
    out = capsys.readouterr().out
    assert "type:   command" in out and "children" not in out
    assert not transport.requests_to("GET", r"/children$")


def test_status_of_an_unknown_job_is_one_error_line(transport, fake_connect, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli("status", "nope")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: read job nope: job nope not found in workspace")
    assert "\n" not in err


# --------------------------------------------------------------------------- download


def _job_outputs(transport: RecordingTransport, name: str) -> None:
    """The run-history and data-plane answers that locate a job's logs and checkpoint."""
    asset = (
        f"azureml://locations/westeurope/workspaces/0a1b/data/azureml_{name}_checkpoint/versions/1"
    )
    run_outputs = {"checkpoint": {"assetId": asset, "type": "uri_folder"}}
    transport.route(
        "POST",
        rf"^/history/v1\.0{WS}/rundata$",
        200,
        {"runMetadata": {"runId": name, "status": "Completed", "outputs": run_outputs}},
    )
    folder = (
        f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/"
        f"{WORKSPACE}/datastores/workspaceblobstore/paths/azureml/{name}/checkpoint/"
    )
    transport.route(
        "POST",
        rf"^/data/v1\.0{WS}/dataversion/batchGetResolvedUris$",
        200,
        {"values": {asset: {"uri": folder, "type": "uri_folder"}}},
    )
    # The logs live in the workspace's artifact store.
    artifacts = datastore_body()
    artifacts.update(
        name="workspaceartifactstore", id=arm_id("datastores", "workspaceartifactstore")
    )
    artifacts["properties"]["isDefault"] = False
    transport.route("GET", rf"^{WS}/datastores/workspaceartifactstore$", 200, artifacts)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_download_fetches_the_logs_and_every_named_output(
    transport, fake_connect, storage, tmp_path, capsys
):
    transport.jobs["train-1"] = job_body("train-1")
    _job_outputs(transport, "train-1")
    storage.blobs["ExperimentRun/dcid.train-1/user_logs/std_log.txt"] = b"epoch 1\n"
    storage.blobs["azureml/train-1/checkpoint/model.safetensors"] = b"weights"
    storage.blobs["azureml/other-job/checkpoint/model.safetensors"] = b"not this job's"

    cli("download", "train-1", "--to", str(tmp_path / "dl"))

    assert _files(tmp_path / "dl") == [
        "artifacts/user_logs/std_log.txt",
        "named-outputs/checkpoint/model.safetensors",
    ]
    assert (tmp_path / "dl/named-outputs/checkpoint/model.safetensors").read_bytes() == b"weights"
    # all=True: every output the run recorded was resolved, not only the logs.
    (rundata,) = transport.requests_to("POST", r"/rundata$")
    assert rundata.body["runId"] == "train-1"
    assert transport.requests_to("POST", r"/batchGetResolvedUris$")
    assert f"downloaded to {tmp_path / 'dl'}" in capsys.readouterr().out


def test_download_of_one_output_fetches_only_it(transport, fake_connect, storage, tmp_path):
    transport.jobs["train-1"] = job_body("train-1")
    _job_outputs(transport, "train-1")
    storage.blobs["ExperimentRun/dcid.train-1/user_logs/std_log.txt"] = b"epoch 1\n"
    storage.blobs["azureml/train-1/checkpoint/model.safetensors"] = b"weights"

    cli("download", "train-1", "--to", str(tmp_path / "dl"), "--output", "checkpoint")

    assert _files(tmp_path / "dl") == ["named-outputs/checkpoint/model.safetensors"]


def test_download_of_a_running_job_says_so(fake_connect, transport, storage, tmp_path, capsys):
    transport.job_statuses[:] = ["Running"]
    transport.jobs["train-2"] = job_body("train-2")
    with pytest.raises(SystemExit):
        cli("download", "train-2", "--to", str(tmp_path / "dl"))
    err = capsys.readouterr().err
    assert err.startswith("error: job train-2 is Running: download it once it has ended")
    assert storage.blobs == {} and not list((tmp_path / "dl").rglob("*"))


# --------------------------------------------------------------------------- register-data


def _dataturks(content: str, label: str, start: int, end: int) -> str:
    points = [{"start": start, "end": end - 1, "text": content[start:end]}]
    return json.dumps({"content": content, "annotation": [{"label": [label], "points": points}]})


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "resumes.jsonl"
    lines = [
        _dataturks("Jane Doe, Python developer", "Name", 0, 8),
        _dataturks("John Roe knows SQL", "Name", 0, 8),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_malformed_file_is_refused_before_anything_is_sent(
    transport, fake_connect, storage, tmp_path, capsys
):
    bad = tmp_path / "broken.jsonl"
    bad.write_text(_dataturks("Jane Doe", "Name", 0, 4) + '\n{"content": "x", \n', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        cli("register-data", str(bad), "--name", "resumes")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "broken.jsonl:2" in err
    assert transport.requests == [] and storage.uploads == []


def test_a_file_with_no_usable_document_is_refused(transport, fake_connect, storage, tmp_path):
    from resume_ner.azure.tools import check_data_file

    blank = tmp_path / "blank.jsonl"
    blank.write_text(json.dumps({"content": "   ", "annotation": []}) + "\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"no usable document \(1 read, none kept\): nothing registered"
    ):
        check_data_file(blank)
    with pytest.raises(SystemExit):
        cli("register-data", str(blank), "--name", "resumes")
    assert transport.requests == [] and storage.uploads == []


def test_strict_refuses_a_file_with_unrepaired_defects(
    transport, fake_connect, storage, good_file, capsys
):
    # A span past the end of its text: dropped, not repaired.
    outside = {
        "content": "Ann Poe",
        "annotation": [{"label": ["Name"], "points": [{"start": 40, "end": 45, "text": "Smith"}]}],
    }
    with good_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(outside) + "\n")
    with pytest.raises(SystemExit):
        cli("register-data", str(good_file), "--name", "resumes", "--strict")
    captured = capsys.readouterr()
    assert "unrepaired defects: 1" in captured.out  # the defect table was printed
    assert "defects were dropped or left unrepaired (--strict)" in captured.err
    assert transport.requests == [] and storage.uploads == []


def test_a_good_file_is_uploaded_and_registered_as_a_uri_file_asset(
    transport, fake_connect, storage, good_file, capsys
):
    cli("register-data", str(good_file), "--name", "resumes", "--version", "3")

    (upload,) = storage.uploads
    assert upload.source == good_file and upload.files == ["resumes.jsonl"]
    (put,) = transport.requests_to("PUT", rf"^{WS}/data/resumes/versions/3$")
    props = put.body["properties"]
    assert props["dataType"] == "uri_file"
    assert props["dataUri"].startswith("azureml://")
    assert props["dataUri"].endswith(f"{upload.remote_path}")
    out = capsys.readouterr().out
    assert "documents: 2 read, 2 kept" in out  # the data layer's table came first
    assert "use it with: data.asset=resumes:3" in out


def test_without_a_version_the_next_one_is_taken(transport, fake_connect, storage, good_file):
    from resume_ner.azure import workspace
    from resume_ner.azure.__main__ import env_config
    from resume_ner.azure.tools import register_data

    client = workspace.connect(env_config())
    made = register_data(client, good_file, "resumes")
    assert made.version == "1" and made.override == "data.asset=resumes:1"
    assert transport.requests_to("PUT", rf"^{WS}/data/resumes/versions/1$")


def test_the_workspace_comes_from_config_json(monkeypatch, tmp_path):
    from resume_ner.azure.__main__ import env_config
    from resume_ner.azure.workspace import find_workspace

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "subscription_id": SUBSCRIPTION,
                "resource_group": RESOURCE_GROUP,
                "workspace_name": WORKSPACE,
            }
        )
    )
    found = find_workspace(env_config(str(config)))
    assert (found.workspace_name, found.source) == (WORKSPACE, str(config))


def test_no_workspace_names_the_commands_option(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no config.json to find
    with pytest.raises(SystemExit):
        cli("status", "train-1")
    err = capsys.readouterr().err
    assert err.startswith("error: no Azure ML workspace configured") and "--config-json PATH" in err
