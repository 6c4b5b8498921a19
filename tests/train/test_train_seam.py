"""The training seam `train(cfg, on_epoch=...) -> TrainResult`: per-epoch metrics as they
happen, after the epoch is saved, and a clean stop when the callback asks for one."""

from __future__ import annotations

import json

import pytest

from resume_ner.train.run import StopTraining, TrainResult

pytestmark = pytest.mark.slow

EPOCHS = 3


def _manifest(result: TrainResult) -> dict:
    return json.loads((result.checkpoint / "manifest.json").read_text())


def test_on_epoch_sees_each_epoch_after_it_is_saved(train_inprocess, make_store, tmp_path):
    store = make_store(tmp_path)
    seen: list[tuple[int, int, int, float]] = []

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        checkpoint = tmp_path / "run" / "checkpoint"
        state = json.loads((checkpoint / "training_state" / "state.json").read_text())
        saved = json.loads((checkpoint / "metrics.json").read_text())
        seen.append(
            (
                epoch,
                state["progress"]["epochs_completed"],
                len(saved["history"]),
                metrics["val_macro-f1"],
            )
        )

    result = train_inprocess(
        tmp_path / "run", f"training.epochs={EPOCHS}", store=store, on_epoch=on_epoch
    )
    assert [(epoch, done, logged) for epoch, done, logged, _ in seen] == [
        (e, e, e) for e in range(1, EPOCHS + 1)
    ]
    assert result.status == "completed" and result.stop_reason is None
    assert result.epochs_completed == EPOCHS
    assert result.metric == "val_macro-f1"
    assert result.objective == max(value for *_, value in seen)
    assert result.checkpoint.resolve() == (tmp_path / "run" / "checkpoint").resolve()
    assert (result.checkpoint / "model.safetensors").is_file()
    manifest = _manifest(result)
    assert manifest["status"] == "completed"
    assert manifest["best_objective"] == result.objective
    assert manifest["best_epoch"] == result.best_epoch
    assert manifest["mlflow_run_id"] == result.mlflow_run_id


@pytest.mark.parametrize(
    ("stop_at", "how", "reason"),
    [
        (1, "return", "on_epoch asked to stop"),
        (2, "raise", "pruned by the test at epoch 2"),
    ],
)
def test_a_stop_request_ends_the_run_cleanly(
    train_inprocess, make_store, list_runs, tmp_path, stop_at, how, reason
):
    from mlflow import MlflowClient

    store = make_store(tmp_path)
    epochs_seen: list[int] = []

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        epochs_seen.append(epoch)
        if epoch == stop_at and how == "raise":
            raise StopTraining(f"pruned by the test at epoch {epoch}")
        return epoch == stop_at

    result = train_inprocess(
        tmp_path / "run", f"training.epochs={EPOCHS}", store=store, on_epoch=on_epoch
    )
    assert epochs_seen == list(range(1, stop_at + 1))
    assert result.status == "stopped" and result.stop_reason == reason
    assert result.epochs_completed == stop_at and not result.stopped_early
    # The best checkpoint is written and complete.
    assert (result.checkpoint / "model.safetensors").is_file()
    assert (result.checkpoint / "label_map.json").is_file()
    metrics = json.loads((result.checkpoint / "metrics.json").read_text())
    assert len(metrics["history"]) == stop_at
    manifest = _manifest(result)
    assert manifest["status"] == "stopped" and manifest["stop_reason"] == reason
    assert manifest["epochs_completed"] == stop_at
    # MLflow has no "stopped": the run is FINISHED (not FAILED) and a tag says why.
    (run,) = list_runs(store)
    assert run.info.run_id == result.mlflow_run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["stop_reason"] == reason
    history = MlflowClient(store).get_metric_history(run.info.run_id, "val_macro-f1")
    assert [m.step for m in history] == list(range(1, stop_at + 1))
