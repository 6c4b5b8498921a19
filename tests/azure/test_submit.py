"""resume_ner.azure.submit: real azure-ai-ml command and sweep jobs, submitted through the
fake service (fake_azure.RecordingTransport), followed, and their objective read back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fake_azure import WORKSPACE_ID, WS, Reply
from mlflow import MlflowClient

from resume_ner.azure.submit import Submitted, read_objective, submit
from resume_ner.errors import RemoteError

IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
COMMAND = "python -m resume_ner.train data.path=${{inputs.data}} output_dir=${{outputs.model}}"


def command_job(code_dir: Path, **extra: Any) -> Any:
    from azure.ai.ml import Input, Output, command
    from azure.ai.ml.entities import Environment

    spec = {
        "code": str(code_dir),
        "command": COMMAND,
        "environment": Environment(image=IMAGE),
        "compute": "gpu-cluster",
        "inputs": {"data": Input(type="uri_folder", path="azureml:resumes:3")},
        "outputs": {"model": Output(type="uri_folder")},
        "experiment_name": "resume-ner",
    }
    return command(**{**spec, **extra})


def sweep_job(code_dir: Path, **extra: Any) -> Any:
    from azure.ai.ml import Input, command
    from azure.ai.ml.entities import Environment
    from azure.ai.ml.sweep import (
        BanditPolicy,
        Choice,
        LogUniform,
        Objective,
        SweepJob,
        SweepJobLimits,
    )

    trial = command(
        code=str(code_dir),
        command="python train.py lr=${{search_space.lr}} batch=${{search_space.batch}} "
        "data=${{inputs.data}}",
        environment=Environment(image=IMAGE),
        inputs={"data": Input(type="uri_folder", path="azureml:resumes:3")},
    )
    return SweepJob(
        trial=trial,
        compute="gpu-cluster",
        inputs={"data": Input(type="uri_folder", path="azureml:resumes:3")},
        search_space={"lr": LogUniform(min_value=-9.2, max_value=-6.9), "batch": Choice([8, 16])},
        objective=Objective(goal="maximize", primary_metric="val_f1"),
        sampling_algorithm="random",
        early_termination=BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        limits=SweepJobLimits(max_total_trials=8, max_concurrent_trials=2, timeout=7200),
        experiment_name="resume-ner",
        **extra,
    )


# --------------------------------------------------------------------------- the wire


def test_command_job_as_azure_ml_receives_it(ml_client, transport, storage, code_dir, capsys):
    done = submit(ml_client, command_job(code_dir), stream=False, wait=False)

    assert isinstance(done, Submitted) and done.status == "NotStarted"
    assert done.job_type == "command"
    assert re.fullmatch(
        rf"https://ml\.azure\.com/runs/{done.name}\?wsid=.*&tid=.+", done.studio_url
    )
    assert f"submitted command job {done.name}: {done.studio_url}" in capsys.readouterr().out

    props = transport.job_put(done.name)["properties"]
    assert props["jobType"] == "Command"
    assert props["command"] == COMMAND
    assert props["computeId"].endswith(f"{WORKSPACE_ID}/computes/gpu-cluster")
    # The SDK turns azureml:NAME:VERSION into the asset's ARM id on the wire.
    assert props["inputs"]["data"] == {
        "uri": f"{WORKSPACE_ID}/data/resumes/versions/3",
        "jobInputType": "uri_folder",
    }
    assert props["outputs"]["model"]["jobOutputType"] == "uri_folder"
    assert props["experimentName"] == "resume-ner"

    # The code folder became a code asset, the image an anonymous environment.
    assert re.search(r"/codes/[^/]+/versions/1$", props["codeId"])
    (env_put,) = transport.requests_to("PUT", r"/environments/[^/]+/versions/[^/]+$")
    assert env_put.body["properties"]["image"] == IMAGE
    assert props["environmentId"] == env_put.path  # the ARM id the PUT created
    # The snapshot is the SDK's own listing after its ignore file (.amlignore here).
    assert storage.files == [".amlignore", "conf/config.yaml", "train.py"]


def test_sweep_job_as_azure_ml_receives_it(ml_client, transport, storage, code_dir, capsys):
    done = submit(ml_client, sweep_job(code_dir), stream=False, wait=False)

    assert done.job_type == "sweep"
    assert f"submitted sweep job {done.name}:" in capsys.readouterr().out
    props = transport.job_put(done.name)["properties"]
    assert props["jobType"] == "Sweep"
    assert props["searchSpace"] == {
        "lr": ["loguniform", [-9.2, -6.9]],
        "batch": ["choice", [[8, 16]]],
    }
    assert props["samplingAlgorithm"]["samplingAlgorithmType"] == "Random"
    assert props["objective"] == {"goal": "maximize", "primaryMetric": "val_f1"}
    assert props["earlyTermination"] == {
        "policyType": "Bandit",
        "slackFactor": 0.1,
        "slackAmount": 0,
        "evaluationInterval": 1,
        "delayEvaluation": 2,
    }
    assert props["limits"] == {
        "jobLimitsType": "Sweep",
        "maxTotalTrials": 8,
        "maxConcurrentTrials": 2,
        "timeout": "PT2H",
    }
    assert props["computeId"].endswith("/computes/gpu-cluster")
    assert "${{search_space.lr}}" in props["trial"]["command"]
    assert "/codes/" in props["trial"]["codeId"]
    assert props["inputs"]["data"]["uri"].endswith("/data/resumes/versions/3")
    assert storage.files == [".amlignore", "conf/config.yaml", "train.py"]


def test_requests_a_sweep_submission_makes(ml_client, transport, storage, code_dir) -> None:
    submit(ml_client, sweep_job(code_dir), stream=False, wait=False)
    sent = [(r.method, re.sub(r"^.*/workspaces/[^/]+", "", r.path)) for r in transport.requests]
    # Look up the snapshot's hash, get a blob to upload to, register the code version, the
    # anonymous environment, then the job: nothing checks the compute or the data asset.
    assert [(m, re.sub(r"/(codes|versions|jobs)/[^/]+", r"/\1/*", p)) for m, p in sent] == [
        ("GET", "/codes/*/versions"),
        ("POST", "/codes/*/versions/*/startPendingUpload"),
        ("PUT", "/codes/*/versions/*"),
        ("PUT", "/environments/CliV2AnonymousEnvironment/versions/*"),
        ("PUT", "/jobs/*"),
    ]


# --------------------------------------------------------------------------- following a job


def test_wait_polls_until_completed(ml_client, transport, storage, code_dir, capsys) -> None:
    transport.job_statuses = ["Queued", "Running", "Running", "Completed"]
    done = submit(ml_client, command_job(code_dir), stream=False, wait=True, poll_seconds=0)
    assert done.status == "Completed"
    assert len(transport.requests_to("GET", rf"{WS}/jobs/{done.name}$")) == 4
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        f"job {done.name}: Queued",
        f"job {done.name}: Running",
        f"job {done.name}: Completed",
        f"job {done.name} ended: Completed",
    ]


@pytest.mark.parametrize("status", ["Failed", "Canceled", "NotResponding"])
def test_a_job_that_does_not_complete_names_its_studio_page(
    ml_client, transport, storage, code_dir, status
) -> None:
    transport.job_statuses = ["Running", status]
    with pytest.raises(RemoteError) as err:
        submit(ml_client, command_job(code_dir), stream=False, wait=True, poll_seconds=0)
    (put,) = transport.requests_to("PUT", r"/jobs/[^/]+$")
    name = put.path.rsplit("/", 1)[1]
    message = str(err.value)
    assert message.startswith(f"command job {name} ended {status}: see its logs at ")
    assert f"https://ml.azure.com/runs/{name}?wsid=" in message


def test_stream_then_final_status(ml_client, transport, storage, code_dir, capsys) -> None:
    transport.job_statuses = ["Completed"]
    done = submit(ml_client, command_job(code_dir), stream=True, wait=False)
    assert done.status == "Completed"
    # The logs come from the run history service found through the workspace's discovery url.
    assert transport.requests_to("GET", rf"^/history/v1\.0{WS}/runs/{done.name}/details$")
    assert f"RunId: {done.name}" in capsys.readouterr().out


def test_stream_of_a_failed_job(ml_client, transport, storage, code_dir) -> None:
    transport.job_statuses = ["Failed"]
    with pytest.raises(RemoteError, match=r"command job \S+ ended Failed: see its logs at https"):
        submit(ml_client, command_job(code_dir), stream=True, wait=False)


# --------------------------------------------------------------------------- refusals


def test_submission_refused_by_the_service(ml_client, transport, storage, code_dir) -> None:
    transport.fail("PUT", r"/jobs/[^/]+$", 403, "AuthorizationFailed", "no jobs/write")
    with pytest.raises(RemoteError) as err:
        submit(ml_client, command_job(code_dir), stream=False, wait=False)
    message = str(err.value)
    assert message.startswith("submitting the command job: permission denied (403")
    assert "AzureML Data Scientist" in message and "\n" not in message


def test_a_service_answer_per_request(ml_client, transport, storage, code_dir) -> None:
    # A callable answer sees the request: refuse one compute, leave the rest to the defaults.
    def compute_check(request, match):
        if request.body["properties"]["computeId"].endswith("/computes/gpu-cluster"):
            return Reply(400, {"error": {"code": "UserError", "message": "compute not found"}})
        return None

    transport.route("PUT", r"/jobs/[^/]+$", 200, compute_check)
    with pytest.raises(RemoteError, match=r"Azure ML answered 400 UserError: compute not found"):
        submit(ml_client, command_job(code_dir), stream=False, wait=False)
    done = submit(ml_client, command_job(code_dir, compute="cpu-cluster"), stream=False, wait=False)
    assert done.status == "NotStarted"


def test_an_empty_snapshot_is_refused_by_the_sdk(ml_client, transport, storage, tmp_path):
    code = tmp_path / "only-ignored"
    code.mkdir()
    (code / "a.db").write_bytes(b"x")
    (code / ".amlignore").write_text("*.db\n.amlignore\n")
    with pytest.raises(RemoteError) as err:
        submit(ml_client, command_job(code), stream=False, wait=False)
    message = str(err.value)
    assert message.startswith("submitting the command job: Error creating codes asset")
    assert f"Directory {code} is empty" in message and "\n" not in message
    assert not transport.requests_to("PUT", r"/jobs/")


def test_a_job_the_sdk_refuses_is_one_line(ml_client, transport, storage) -> None:
    from azure.ai.ml import command

    with pytest.raises(RemoteError) as err:
        submit(ml_client, command(command="echo hi", compute="cpu"), stream=False, wait=False)
    message = str(err.value)
    # The SDK's schema validation report (JSON over several lines) as 'path: message'.
    assert message == (
        "submitting the command job: component.environment: Missing data for required field."
    )
    assert transport.requests == []


# --------------------------------------------------------------------------- the objective


def log_history(tracking: MlflowClient, run_id: str, values: list[float]) -> None:
    for step, value in enumerate(values):
        tracking.log_metric(run_id, "val_f1", value, step=step)


def test_objective_of_a_sweep_is_its_best_trial(
    ml_client, transport, storage, code_dir, workspace_mlflow
) -> None:
    tracking = MlflowClient(workspace_mlflow)
    experiment = tracking.create_experiment("resume-ner")
    parent = tracking.create_run(experiment).info.run_id  # in Azure ML: the job's name
    for values in ([0.5, 0.71, 0.6], [0.4, 0.69], [0.8, float("nan")]):
        child = tracking.create_run(experiment, tags={"mlflow.parentRunId": parent})
        log_history(tracking, child.info.run_id, values)
    unrelated = tracking.create_run(experiment).info.run_id
    log_history(tracking, unrelated, [0.99])

    transport.job_statuses = ["Completed"]
    done = submit(
        ml_client,
        sweep_job(code_dir, name=parent),
        stream=False,
        wait=True,
        poll_seconds=0,
        metric="val_f1",
    )
    assert done.objective == pytest.approx(0.8)
    assert read_objective(ml_client, parent, "val_f1", "minimize") == pytest.approx(0.4)
    assert read_objective(ml_client, parent, "val_loss", "maximize") is None


def test_objective_of_a_command_job_is_its_own(
    ml_client, transport, storage, code_dir, workspace_mlflow
) -> None:
    tracking = MlflowClient(workspace_mlflow)
    run = tracking.create_run(tracking.create_experiment("resume-ner")).info.run_id
    log_history(tracking, run, [0.3, 0.62, 0.55])
    submit(ml_client, command_job(code_dir, name=run), stream=False, wait=False)
    assert read_objective(ml_client, run, "val_f1", "maximize") == pytest.approx(0.62)


def test_objective_of_a_job_mlflow_does_not_know(
    ml_client, transport, storage, code_dir, workspace_mlflow
) -> None:
    done = submit(ml_client, command_job(code_dir), stream=False, wait=False)
    with pytest.raises(RemoteError, match=rf"reading val_f1 of job {done.name} from the work"):
        read_objective(ml_client, done.name, "val_f1", "maximize")
