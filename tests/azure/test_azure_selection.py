"""`python -m resume_ner.select select.backend=azureml select.sweep=NAME env=azure`: the best
trial of an Azure ML sweep, through the real azure-ai-ml SDK and the real MLflow client.

Real: MLClient and its operations (the job GET, the workspace GET, the model PUT and their
(de)serialisation), MLflow's client and its SQLite store, the ranking of resume_ner.select.
Faked: the HTTP answers (RecordingTransport), the token (FakeCredential), and the workspace's
MLflow tracking URI, which the workspace GET answers with a local SQLite store filled here the
way Azure ML fills its own: each trial is a run whose tag mlflow.parentRunId is the sweep's
name, and the sweep's own run has the sweep's name as its id.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml")

from fake_azure import WS, FakeCredential, arm_id, system_data

from resume_ner.errors import RemoteError

KEY = "best_val_macro-f1"
TRIAL_COMMAND = (
    "python -m resume_ner.train hpo=smoke training.learning_rate=${{search_space.lr}} "
    "training.batch_size=${{search_space.batch}} training.output_dir=${{outputs.checkpoint}}"
)


def _trial(client, experiment_id: str, sweep: str, name: str, value: float | None, **kw) -> str:
    """A trial's run as Azure ML and training leave it: a child of the sweep's run, with the
    flattened config as params and best_<metric> logged at its end."""
    run = client.create_run(experiment_id, run_name=name, tags={"mlflow.parentRunId": sweep})
    run_id = run.info.run_id
    params = {
        "training.learning_rate": kw.get("lr", "2e-05"),
        "training.batch_size": kw.get("batch", "8"),
        "model.name": "distilbert",
    }
    for key, param in params.items():
        client.log_param(run_id, key, param)
    if value is not None:
        client.log_metric(run_id, KEY, value)
        client.log_metric(run_id, "best_val_loss", 1.0 - value)
    client.set_terminated(run_id, kw.get("status", "FINISHED"))
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> SimpleNamespace:
    """A SQLite MLflow store holding one sweep's run, its trials, and a run outside it."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("azure-mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("resume-ner", artifact_location=(root / "art").as_uri())
    # Azure ML: the sweep job's run id is the job's name.
    sweep = client.create_run(exp, run_name="sweep-smoke").info.run_id
    client.set_terminated(sweep, "FINISHED")
    runs = {
        "low": _trial(client, exp, sweep, "trial-low", 0.61, lr="1e-05", batch="8"),
        "best": _trial(client, exp, sweep, "trial-best", 0.83, lr="3e-05", batch="16"),
        # Cancelled by early termination: higher, but not FINISHED.
        "killed": _trial(client, exp, sweep, "trial-killed", 0.95, status="KILLED"),
        "no_metric": _trial(client, exp, sweep, "trial-no-metric", None),
    }
    # A run of the same experiment outside the sweep: never a candidate.
    outside = client.create_run(exp, run_name="outside").info.run_id
    client.log_metric(outside, KEY, 0.99)
    client.set_terminated(outside, "FINISHED")
    return SimpleNamespace(uri=uri, sweep=sweep, runs=runs, outside=outside)


def sweep_body(name: str, metric: str = "val_macro-f1", goal: str = "Maximize") -> dict:
    """A sweep job as the Azure ML jobs API answers a GET of it."""
    return {
        "id": arm_id("jobs", name),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "systemData": system_data(),
        "properties": {
            "jobType": "Sweep",
            "status": "Completed",
            "experimentName": "resume-ner",
            "computeId": arm_id("computes", "gpu-cluster"),
            "objective": {"goal": goal, "primaryMetric": metric},
            "samplingAlgorithm": {"samplingAlgorithmType": "Random", "seed": 7},
            "searchSpace": {
                "lr": ["uniform", [1e-05, 5e-05]],
                "batch": ["choice", [[8, 16]]],
            },
            "limits": {"jobLimitsType": "Sweep", "maxTotalTrials": 4, "maxConcurrentTrials": 2},
            "trial": {
                "command": TRIAL_COMMAND,
                "codeId": arm_id("codes", "resume-ner", "1"),
                "environmentId": arm_id("environments", "resume-ner", "1"),
            },
            "outputs": {"checkpoint": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
        },
    }


def command_body(name: str) -> dict:
    """A command job (a single training run) as the jobs API answers a GET of it."""
    return {
        "id": arm_id("jobs", name),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "systemData": system_data(),
        "properties": {
            "jobType": "Command",
            "status": "Completed",
            "experimentName": "resume-ner",
            "computeId": arm_id("computes", "gpu-cluster"),
            "command": "python -m resume_ner.train training.output_dir=${{outputs.checkpoint}}",
            "codeId": arm_id("codes", "resume-ner", "1"),
            "environmentId": arm_id("environments", "resume-ner", "1"),
        },
    }


def compose_select(overrides: list[str]) -> Any:
    """conf/select.yaml with the overrides, as `python -m resume_ner.select` composes it."""
    from hydra import compose, initialize_config_dir

    from resume_ner.config.registry import register_configs
    from resume_ner.paths import config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("select", overrides=overrides)


@pytest.fixture
def workspace_env(monkeypatch, env_cfg) -> None:
    """The workspace coordinates in the environment, as conf/env/azure.yaml reads them."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", env_cfg.subscription_id)
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", env_cfg.resource_group)
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", env_cfg.workspace_name)


@pytest.fixture
def fake_connect(monkeypatch, transport, workspace_env) -> FakeCredential:
    """workspace.connect with a fake credential, sending through the recording transport."""
    from resume_ner.azure import workspace

    real = workspace.connect
    credential = FakeCredential()

    def connect(env_cfg, **kwargs):
        return real(env_cfg, credential=credential, transport=transport)

    monkeypatch.setattr(workspace, "connect", connect)
    return credential


@pytest.fixture
def sweep(transport, store) -> str:
    """The sweep job in the fake workspace, whose tracking URI is the local store."""
    transport.jobs[store.sweep] = sweep_body(store.sweep)
    transport.mlflow_tracking_uri = store.uri
    return store.sweep


def run_select(*overrides: str) -> Any:
    from resume_ner.select import select_task

    args = ["select.backend=azureml", "env=azure", *overrides]
    return select_task(compose_select(args))


def test_the_best_finished_trial_of_the_sweep_is_chosen(fake_connect, sweep, store, capsys):
    selection = run_select(f"select.sweep={sweep}")
    assert selection.winner.run_id == store.runs["best"]
    # Only the sweep's FINISHED trials with the metric, best first.
    assert [c.run_id for c in selection.ranked] == [store.runs["best"], store.runs["low"]]
    assert (selection.metric, selection.goal) == ("val_macro-f1", "maximize")
    # The sampled values, read from the trial's logged config by the keys the command sets.
    assert selection.winner.params == {
        "training.learning_rate": "3e-05",
        "training.batch_size": "16",
    }
    out = capsys.readouterr().out
    assert "trial-best" in out and "training.learning_rate=3e-05" in out
    assert f"azureml://jobs/{store.runs['best']}/outputs/checkpoint" in out
    assert "best values: best_val_loss=0.17 best_val_macro-f1=0.83" in out


def test_the_sweeps_objective_decides_the_metric_and_goal(transport, fake_connect, store):
    transport.jobs[store.sweep] = sweep_body(store.sweep, "val_loss", "Minimize")
    transport.mlflow_tracking_uri = store.uri
    selection = run_select(f"select.sweep={store.sweep}")
    assert (selection.key, selection.goal) == ("best_val_loss", "minimize")
    assert selection.winner.run_id == store.runs["best"]  # lowest loss: 1 - 0.83
    assert selection.notes == []


def test_an_explicit_metric_other_than_the_sweeps_is_used_and_said(
    transport, fake_connect, store, capsys
):
    transport.jobs[store.sweep] = sweep_body(store.sweep, "val_loss", "Minimize")
    transport.mlflow_tracking_uri = store.uri
    selection = run_select(
        f"select.sweep={store.sweep}", "select.metric=val_macro-f1", "select.goal=maximize"
    )
    # select.metric / goal at their defaults count as not given: the sweep's objective wins.
    assert selection.key == "best_val_loss"
    selection = run_select(f"select.sweep={store.sweep}", "select.goal=minimize")
    # Given on purpose: ranked by select.metric / goal, and a note names the sweep's own.
    assert (selection.key, selection.goal) == (KEY, "minimize")
    assert selection.winner.run_id == store.runs["low"]
    assert selection.notes == [
        f"sweep {store.sweep} optimised val_loss (minimize); ranking by val_macro-f1 "
        f"(minimize) as select.metric / select.goal say"
    ]
    assert "note: sweep" in capsys.readouterr().out


def test_register_puts_the_best_trials_checkpoint_output_as_a_custom_model(
    transport, fake_connect, sweep, store, capsys, tmp_path
):
    choice = tmp_path / "choice.json"
    run_select(
        f"select.sweep={sweep}",
        "select.register=true",
        "select.model_name=resume-ner",
        f"select.output={choice}",
    )
    puts = transport.requests_to("PUT", rf"^{WS}/models/resume-ner/versions/[^/]+$")
    assert len(puts) == 1
    props = puts[0].body["properties"]
    assert props["modelUri"] == f"azureml://jobs/{store.runs['best']}/outputs/checkpoint"
    assert props["modelType"] == "custom_model"
    assert props["tags"]["sweep"] == sweep
    assert props["tags"]["metric"] == KEY
    assert float(props["tags"]["value"]) == pytest.approx(0.83)
    version = puts[0].path.rsplit("/", 1)[-1]
    out = capsys.readouterr().out
    assert f"checkpoint=azureml:resume-ner:{version}" in out
    written = json.loads(choice.read_text())
    assert written["sweep"] == sweep
    assert written["registered"]["reference"] == f"azureml:resume-ner:{version}"


def test_a_missing_sweep_is_one_line_naming_it(transport, fake_connect, store):
    transport.mlflow_tracking_uri = store.uri
    with pytest.raises(RemoteError, match=r"select.sweep=nope: no job of that name in workspace"):
        run_select("select.sweep=nope")
    # Nothing was read from MLflow or registered.
    assert not transport.requests_to("PUT", r".")


def test_an_unreadable_tracking_store_is_one_line(transport, fake_connect, sweep):
    # A scheme MLflow has no store for (azureml:// without azureml-mlflow is one).
    transport.mlflow_tracking_uri = "nostore://westeurope.api.azureml.ms/mlflow/v1.0/ws"
    with pytest.raises(RemoteError, match=r"^reading the trials of sweep \w+ from the work"):
        run_select(f"select.sweep={sweep}")


def test_a_command_job_is_not_a_sweep(transport, fake_connect, store):
    transport.jobs["train-1"] = command_body("train-1")
    with pytest.raises(RemoteError, match=r"select.sweep=train-1 is a command job, not a sweep"):
        run_select("select.sweep=train-1")


def test_the_azure_backend_needs_a_sweep_and_env_azure(fake_connect, transport):
    from resume_ner.errors import ConfigError

    with pytest.raises(ConfigError, match=r"needs select.sweep=NAME"):
        run_select()
    from resume_ner.select import select_task

    cfg = compose_select(["select.backend=azureml", "select.sweep=s1"])
    with pytest.raises(ConfigError, match=r"add env=azure"):
        select_task(cfg)
    assert transport.requests == []


def test_an_unknown_backend_is_refused():
    from resume_ner.errors import ConfigError
    from resume_ner.select import select_task

    with pytest.raises(ConfigError, match=r"select.backend=optuna: choose one of mlflow, azureml"):
        select_task(compose_select(["select.backend=optuna"]))


def test_sampled_keys_are_read_from_the_trial_command():
    from resume_ner.azure.selection import sampled_keys, sampled_params

    job = SimpleNamespace(
        trial=SimpleNamespace(command=TRIAL_COMMAND + " model=${{search_space.m}}")
    )
    keys = sampled_keys(job)
    assert keys == ["training.learning_rate", "training.batch_size", "model"]
    params = {"training.learning_rate": "1e-05", "training.batch_size": "8", "model.name": "bert"}
    assert sampled_params(params, keys) == {
        "training.learning_rate": "1e-05",
        "training.batch_size": "8",
        "model": "bert",
    }
