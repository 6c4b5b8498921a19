"""Resuming after kill -9: the resumed run must end exactly where an uninterrupted one does.

The run is killed with SIGKILL during its second epoch (no handler runs, nothing is
flushed), then the same command is started again in the same run directory. With one CPU
thread and deterministic algorithms, every per-epoch metric of the resumed run must equal
the uninterrupted run's, value for value, and so must the final weights.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from resume_ner.errors import ResumeError

pytestmark = pytest.mark.slow

EPOCHS = 3
# More (and some long) documents than the other tests: an epoch must last long enough
# (over a second here) to be killed in the middle of it.
RESUME_OVERRIDES = (
    "data.sample.num_docs=64",
    "data.sample.long_fraction=0.15",
    f"training.epochs={EPOCHS}",
    "training.num_threads=1",
    "training.deterministic=true",
    # The weight average is part of the state: a resume that lost it would end elsewhere.
    "training.ema_decay=0.9",
)
# Wall-clock measurements: they differ between any two runs.
TIMING_KEYS = {"train_tokens_per_second"}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k not in TIMING_KEYS} for entry in history]


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _snapshot(run_dir: Path) -> SimpleNamespace:
    ckpt = run_dir / "checkpoint"
    return SimpleNamespace(
        manifest=_read_json(ckpt / "manifest.json"),
        metrics=_read_json(ckpt / "metrics.json"),
        state=_read_json(ckpt / "training_state" / "state.json"),
        weights=_tensors(ckpt / "training_state" / "model.safetensors")
        if (ckpt / "training_state" / "model.safetensors").is_file()
        else None,
        optimizer=_tensors(ckpt / "training_state" / "optimizer.safetensors")
        if (ckpt / "training_state" / "optimizer.safetensors").is_file()
        else None,
        average=_tensors(ckpt / "training_state" / "average.safetensors")
        if (ckpt / "training_state" / "average.safetensors").is_file()
        else None,
        best_model=_tensors(ckpt / "model.safetensors")
        if (ckpt / "model.safetensors").is_file()
        else None,
    )


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, mlflow_template, start_train_cli, run_train_cli):
    """An uninterrupted run and a run killed during epoch 2 (started side by side), then the
    killed run's command again, in its run directory."""
    root = tmp_path_factory.mktemp("resume")
    stores = {}
    for name in ("reference", "killed"):
        shutil.copyfile(mlflow_template, root / f"{name}.db")
        stores[name] = f"sqlite:///{root / f'{name}.db'}"
    reference = start_train_cli(root / "reference", *RESUME_OVERRIDES, store=stores["reference"])
    killed = start_train_cli(root / "killed", *RESUME_OVERRIDES, store=stores["killed"])
    manifest_path = root / "killed" / "checkpoint" / "manifest.json"
    deadline = time.monotonic() + 300
    try:
        while True:
            if killed.poll() is not None:
                pytest.fail(
                    f"the run ended (exit {killed.returncode}) before it could be killed:\n"
                    + (root / "killed.err").read_text()[-3000:]
                )
            manifest = _read_json(manifest_path) or {}
            if manifest.get("current_epoch") == 2 and manifest.get("epochs_completed") == 1:
                os.kill(killed.pid, signal.SIGKILL)
                break
            if time.monotonic() > deadline:
                pytest.fail(f"epoch 2 never started; manifest: {manifest}")
            time.sleep(0.01)
        killed.wait(timeout=60)
        at_kill = _snapshot(root / "killed")
        reference.wait(timeout=600)
    finally:
        for process in (killed, reference):
            if process.poll() is None:
                process.kill()
                process.wait()
    resumed = run_train_cli(root / "killed", *RESUME_OVERRIDES, store=stores["killed"])
    return SimpleNamespace(
        root=root,
        stores=stores,
        killed_returncode=killed.returncode,
        killed_stdout=(root / "killed.out").read_text(),
        at_kill=at_kill,
        reference_returncode=reference.returncode,
        reference_stderr=(root / "reference.err").read_text(),
        reference=_snapshot(root / "reference"),
        resumed_result=resumed,
        resumed=_snapshot(root / "killed"),
    )


def test_kill_during_epoch_2_leaves_the_state_of_epoch_1(killed_and_resumed):
    run = killed_and_resumed
    assert run.killed_returncode == -signal.SIGKILL
    assert "Training finished" not in run.killed_stdout
    at_kill = run.at_kill
    assert at_kill.manifest["status"] == "training"
    assert at_kill.manifest["current_epoch"] == 2
    assert at_kill.state["progress"]["epochs_completed"] == 1
    assert len(at_kill.metrics["history"]) == 1


def test_rerun_resumes_after_epoch_1(killed_and_resumed):
    run = killed_and_resumed
    result = run.resumed_result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Training finished: {EPOCHS} epoch(s), resumed after epoch 1" in result.stdout
    assert len(run.resumed.metrics["history"]) == EPOCHS
    assert run.resumed.manifest["status"] == "completed"
    assert run.resumed.manifest["epochs_completed"] == EPOCHS
    # Epoch 1 was not trained again: its entry is the one the killed run wrote.
    assert run.resumed.metrics["history"][0] == run.at_kill.metrics["history"][0]


def test_resumed_run_equals_uninterrupted_run(killed_and_resumed):
    run = killed_and_resumed
    assert run.reference_returncode == 0, run.reference_stderr[-3000:]
    assert run.resumed_result.returncode == 0, run.resumed_result.stderr[-3000:]
    resumed, reference = run.resumed, run.reference

    assert len(reference.metrics["history"]) == EPOCHS
    # val_loss, val_f1, per-label scores, train_loss, learning rate: value for value.
    assert _without_timing(resumed.metrics["history"]) == _without_timing(
        reference.metrics["history"]
    )
    assert resumed.metrics["best_epoch"] == reference.metrics["best_epoch"]
    assert resumed.metrics["best_scores"] == reference.metrics["best_scores"]
    assert (
        resumed.state["progress"]["optimizer_steps"]
        == reference.state["progress"]["optimizer_steps"]
    )
    assert resumed.state["scheduler"] == reference.state["scheduler"]

    import torch

    for name, expected in (
        ("weights", reference.weights),
        ("optimizer", reference.optimizer),
        ("average", reference.average),
        ("best_model", reference.best_model),
    ):
        actual = getattr(resumed, name)
        assert actual.keys() == expected.keys(), name
        different = [k for k in expected if not torch.equal(actual[k], expected[k])]
        assert not different, f"{name}: {different[:5]}"


def test_changed_learning_rate_refuses_to_resume(
    killed_and_resumed, train_inprocess, tmp_path, capsys
):
    run = killed_and_resumed
    run_dir = run.root / "reference"
    ckpt = run_dir / "checkpoint"
    model_bytes = (ckpt / "model.safetensors").read_bytes()
    state_before = (ckpt / "training_state" / "state.json").read_text()
    metrics_before = (ckpt / "metrics.json").read_text()

    # Control: the same settings, in-process, resume that run (nothing is left to train).
    value = train_inprocess(run_dir, *RESUME_OVERRIDES, store=run.stores["reference"]).objective
    assert value == run.reference.manifest["best_objective"]
    assert "resumed after epoch 3" in capsys.readouterr().out
    # Files the refused run must not touch: the manifest, label map, resolved config and tokenizer.
    files_before = {p.name: p.read_bytes() for p in ckpt.iterdir() if p.is_file()}

    with pytest.raises(ResumeError) as refused:
        train_inprocess(
            run_dir,
            *RESUME_OVERRIDES,
            "training.learning_rate=0.02",
            store=run.stores["reference"],
        )
    assert "cannot be resumed" in str(refused.value)
    assert "training.resume=never" in str(refused.value)
    # Refusing touched nothing that was trained.
    assert (ckpt / "model.safetensors").read_bytes() == model_bytes
    assert (ckpt / "training_state" / "state.json").read_text() == state_before
    assert (ckpt / "metrics.json").read_text() == metrics_before
    assert {p.name: p.read_bytes() for p in ckpt.iterdir() if p.is_file()} == files_before


def test_resume_never_starts_afresh(killed_and_resumed, train_inprocess, capsys):
    run = killed_and_resumed
    run_dir = run.root / "killed"
    fingerprint_before = run.resumed.state["fingerprint"]
    train_inprocess(
        run_dir,
        *RESUME_OVERRIDES,
        "training.resume=never",
        "training.learning_rate=0.02",
        "training.epochs=1",
        store=run.stores["killed"],
    )
    out = capsys.readouterr().out
    assert "Training finished: 1 epoch(s)" in out
    assert "resumed" not in out
    ckpt = run_dir / "checkpoint"
    metrics = json.loads((ckpt / "metrics.json").read_text())
    assert len(metrics["history"]) == 1
    state = json.loads((ckpt / "training_state" / "state.json").read_text())
    assert state["progress"]["epochs_completed"] == 1
    assert state["fingerprint"] != fingerprint_before
    assert (
        metrics["history"][0]["learning_rate"] != run.resumed.metrics["history"][0]["learning_rate"]
    )


def test_resume_must_without_state_fails_clearly(train_inprocess, make_store, tmp_path, capsys):
    with pytest.raises(ResumeError) as refused:
        train_inprocess(
            tmp_path / "run",
            "training.resume=must",
            "training.epochs=1",
            store=make_store(tmp_path),
        )
    err = str(refused.value)
    assert "training.resume=must" in err
    assert "training.resume=auto" in err
    assert not (tmp_path / "run" / "checkpoint" / "metrics.json").exists()
