"""The launcher's submission, end to end through the real SDK: the jobs the config builds are
serialised and sent by azure-ai-ml to a recording transport (fake_azure.py: the HTTP answers
and blob storage are faked; the request building, the ignore-file reading of the code
snapshot and the serialisation are the SDK's own). Assertions are on what was sent."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml")

from fake_azure import data_asset

from resume_ner.azure import workspace
from resume_ner.azure.remote import LaunchOptions, launch_runs, launch_sweep
from resume_ner.config.compose import compose_train
from resume_ner.errors import RemoteError

REMOTE = ["env=azure", "compute=gpu-cluster"]


@pytest.fixture
def workspace_client(monkeypatch, ml_client):
    """The launcher's client is the test's: the real MLClient on the recording transport."""
    monkeypatch.setattr(workspace, "connect", lambda env_cfg, **kwargs: ml_client)
    return ml_client


def _sweep(tmp_path: Path, *overrides: str, **options):
    cfg = compose_train(["hpo=smoke", *REMOTE, *overrides])
    return launch_sweep(cfg, ["hpo=smoke", *REMOTE, *overrides], LaunchOptions(**options), tmp_path)


def test_a_sweep_is_sent_as_azure_ml_reads_it(
    workspace_client, transport, storage, tmp_path, capsys
):
    data_asset(transport, "resumes", "3")
    launched = _sweep(tmp_path, "data=dataturks", "data.asset=resumes:3")
    body = transport.job_put(launched.name)["properties"]
    assert body["jobType"] == "Sweep"
    space = body["searchSpace"]
    assert space["batch_size"] == ["choice", [[8, 16]]]
    assert space["learning_rate"][0] == "loguniform"
    assert body["samplingAlgorithm"]["samplingAlgorithmType"] == "Random"
    assert body["samplingAlgorithm"]["seed"] == 13
    assert body["earlyTermination"]["policyType"] == "Bandit"
    assert body["earlyTermination"]["slackFactor"] == pytest.approx(0.1)
    assert body["objective"]["primaryMetric"] == "val_macro-f1"
    assert body["objective"]["goal"].lower() == "maximize"
    assert body["limits"]["maxTotalTrials"] == 4
    command = body["trial"]["command"]
    assert "training.learning_rate=${{search_space.learning_rate}}" in command
    assert "data.path=${{inputs.data}}" in command
    assert "training.output_dir=${{outputs.checkpoint}}" in command
    assert body["inputs"]["data"]["uri"].endswith("/data/resumes/versions/3")
    assert body["inputs"]["data"]["mode"] == "ReadOnlyMount"
    assert body["computeId"].endswith("/computes/gpu-cluster")
    assert body["outputs"]["checkpoint"]["mode"] == "ReadWriteMount"
    assert f"submitted sweep job {launched.name}" in capsys.readouterr().out
    # The code snapshot the SDK uploaded: conf/ travels, tests and outputs do not.
    assert "conf/hpo/smoke.yaml" in storage.files
    assert "launchers/hydra_plugins/resume_ner_launcher/sweeper.py" in storage.files
    assert not [f for f in storage.files if f.startswith(("tests/", ".venv/", "outputs/"))]


def test_a_missing_data_asset_stops_before_the_job_is_sent(
    workspace_client, transport, storage, tmp_path
):
    with pytest.raises(RemoteError, match="resumes:9") as caught:
        _sweep(tmp_path, "data.asset=resumes:9")
    assert "not found" in str(caught.value)
    assert not transport.requests_to("PUT", r"/jobs/")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "refused the credentials"),
        (403, "AzureML Data Scientist"),
        (404, "AZUREML_WORKSPACE_NAME"),
    ],
)
def test_auth_and_workspace_failures_are_one_line(
    workspace_client, transport, storage, tmp_path, status, expected
):
    transport.fail(
        "PUT",
        r"/jobs/",
        status,
        "Denied" if status != 404 else "ResourceNotFound",
        "no" if status != 404 else "Workspace not found",
    )
    with pytest.raises(RemoteError) as caught:
        _sweep(tmp_path)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_wait_reads_the_objective_back_for_the_sweeper(
    workspace_client, transport, storage, tmp_path, monkeypatch
):
    """The launcher asks for the search's metric and goal and hands back what is read (how
    it is read from the workspace's MLflow is test_submit.py's)."""
    from resume_ner.azure import submit

    asked = []

    def read(client, name, metric, goal):
        asked.append((name, metric, goal))
        return 0.5

    monkeypatch.setattr(submit, "read_objective", read)
    transport.job_statuses = ["Running", "Completed"]
    launched = _sweep(tmp_path, "hpo.objective.metric=val_f1", wait=True, poll_seconds=0)
    assert launched.status == "Completed"
    assert asked == [(launched.name, "val_f1", "maximize")]
    assert launched.objective == 0.5


def test_each_run_of_a_multirun_is_its_own_command_job(
    workspace_client, transport, storage, tmp_path
):
    runs = []
    for model in ("minilm", "distilbert"):
        overrides = [*REMOTE, f"model={model}", "hydra/launcher=azureml"]
        runs.append((compose_train([o for o in overrides if "launcher" not in o]), overrides))
    launched = launch_runs(runs, "train", LaunchOptions(), tmp_path)
    commands = [transport.job_put(job.name)["properties"]["command"] for job in launched]
    assert [("model=minilm" in c, "model=distilbert" in c) for c in commands] == [
        (True, False),
        (False, True),
    ]
    assert not [c for c in commands if "hydra/launcher" in c]


def test_no_network_is_a_clear_message_not_a_hang(workspace_client, transport, storage, tmp_path):
    from azure.core.exceptions import ServiceRequestError

    transport.raise_on("PUT", r"/jobs/", ServiceRequestError("Failed to resolve host"))
    with pytest.raises(RemoteError, match="cannot reach Azure"):
        _sweep(tmp_path)


def test_a_dry_run_sends_nothing(transport, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run built a client")

    monkeypatch.setattr(workspace, "connect", refuse)
    launched = _sweep(tmp_path, dry_run=True)
    assert launched.yaml.is_file()
    assert not transport.requests
