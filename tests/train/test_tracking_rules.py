"""Which MLflow run a real training logs into: the Azure ML job's run (MLFLOW_RUN_ID) or a
run already active in the process, never a run of its own beside it, never a nested run."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

EPOCHS = 2


def _assert_single_flat_run(runs: list, run_id: str) -> None:
    assert [r.info.run_id for r in runs] == [run_id]
    nested = [r.info.run_id for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert not nested


def test_training_logs_into_the_run_named_by_mlflow_run_id(
    train_inprocess, make_store, list_runs, tmp_path, monkeypatch
):
    from mlflow import MlflowClient

    store = make_store(tmp_path)
    client = MlflowClient(store)
    experiment_id = client.create_experiment(
        "azure-job", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    job_run = client.create_run(experiment_id).info.run_id
    # What Azure ML sets inside a job; tracking.uri stays null.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_RUN_ID", job_run)

    import mlflow

    train_inprocess(tmp_path / "run")

    _assert_single_flat_run(list_runs(store), job_run)
    run = client.get_run(job_run)
    # Azure ML ends its run; the training leaves it open and off the active-run stack.
    assert run.info.status == "RUNNING"
    assert mlflow.active_run() is None
    assert [m.step for m in client.get_metric_history(job_run, "val_f1")] == [1, 2]
    assert "training.learning_rate" in run.data.params
    assert "data_fingerprint" in run.data.tags
    assert {"metrics.json", "validation.json"} <= {a.path for a in client.list_artifacts(job_run)}
    manifest = json.loads((tmp_path / "run" / "checkpoint" / "manifest.json").read_text())
    assert manifest["mlflow_run_id"] == job_run


def test_training_logs_into_an_active_run_and_leaves_it_open(
    train_inprocess, make_store, list_runs, tmp_path
):
    import mlflow
    from mlflow import MlflowClient

    store = make_store(tmp_path)
    client = MlflowClient(store)
    experiment_id = client.create_experiment(
        "outer-search", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    mlflow.set_tracking_uri(store)
    with mlflow.start_run(experiment_id=experiment_id) as outer:
        value = train_inprocess(tmp_path / "run", store=store).objective
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == outer.info.run_id
        assert client.get_run(outer.info.run_id).info.status == "RUNNING"
    run_id = outer.info.run_id

    _assert_single_flat_run(list_runs(store), run_id)
    assert client.get_run(run_id).info.status == "FINISHED"  # ended by its owner, above
    history = client.get_metric_history(run_id, "val_macro-f1")
    assert [m.step for m in history] == list(range(1, EPOCHS + 1))
    assert value == max(m.value for m in history)
