"""`python -m resume_ner.train` end to end: the checkpoint it leaves, the MLflow run it logs,
the objective it returns, where it writes, and how it refuses to start."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from resume_ner.checkpoints import AZURE_OUTPUT_ENV

pytestmark = pytest.mark.slow

# Files a checkpoint must never hold: pickled weights or state of any kind.
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"}


def _printed(stdout: str, prefix: str) -> str:
    match = re.search(rf"^{re.escape(prefix)} (\S+)", stdout, re.MULTILINE)
    assert match, f"no '{prefix}' line in stdout:\n{stdout[-3000:]}"
    return match.group(1)


def _looks_pickled(path: Path) -> bool:
    head = path.read_bytes()[:4]
    # pickle protocol 2+ starts with PROTO (0x80) and the protocol number; torch.save is a zip.
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head[:2] == b"PK"


# --------------------------------------------------------------------------- the CLI run


def test_cli_run_prints_checkpoint_and_mlflow_run(cli_run, trained_checkpoint):
    stdout = cli_run.result.stdout
    assert Path(_printed(stdout, "Checkpoint:")) == trained_checkpoint.resolve()
    run_id = _printed(stdout, "MLflow run:")
    assert re.fullmatch(r"[0-9a-f]{32}", run_id), run_id
    assert f"Training finished: {cli_run.epochs} epoch(s)" in stdout
    assert "resumed" not in stdout


def test_checkpoint_holds_model_tokenizer_metrics_config_manifest_and_state(
    cli_run, trained_checkpoint
):
    ckpt = trained_checkpoint
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "label_map.json",
        "metrics.json",
        "resolved_config.yaml",
        "manifest.json",
    ):
        assert (ckpt / name).is_file(), f"{name} missing from {sorted(os.name for os in ckpt.iterdir())}"
    state_dir = ckpt / "training_state"
    for name in ("state.json", "model.safetensors", "optimizer.safetensors", "rng.safetensors"):
        assert (state_dir / name).is_file(), name

    metrics = json.loads((ckpt / "metrics.json").read_text())
    history = metrics["history"]
    assert [h["epoch"] for h in history] == [float(e) for e in range(1, cli_run.epochs + 1)]
    assert all({"val_loss", "val_f1", "val_macro-f1", "train_loss"} <= set(h) for h in history)
    assert 1 <= metrics["best_epoch"] <= cli_run.epochs
    assert metrics["best"] == history[metrics["best_epoch"] - 1]

    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["epochs_completed"] == cli_run.epochs
    assert manifest["best_epoch"] == metrics["best_epoch"]
    assert manifest["mlflow_run_id"] == _printed(cli_run.result.stdout, "MLflow run:")
    assert manifest["run_dir"] == str(cli_run.run_dir)

    state = json.loads((state_dir / "state.json").read_text())
    assert state["progress"]["epochs_completed"] == cli_run.epochs
    assert state["progress"]["history"] == history

    resolved = OmegaConf.load(ckpt / "resolved_config.yaml")
    assert resolved.training.epochs == cli_run.epochs
    assert resolved.training.learning_rate == cli_run.learning_rate
    assert resolved.model.pretrained == str(cli_run.pretrained)

    label_map = json.loads((ckpt / "label_map.json").read_text())
    assert (label_map["max_length"], label_map["stride"]) == (64, 16)
    id2label = label_map["id2label"]
    assert "O" in id2label.values() and "B-Skills" in id2label.values()
    config = json.loads((ckpt / "config.json").read_text())
    assert config["id2label"] == id2label

    from safetensors import safe_open

    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as weights:
        shape = list(weights.get_slice("classifier.weight").get_shape())
    assert shape == [len(id2label), 32]


def test_checkpoint_holds_no_pickles(trained_checkpoint):
    files = [p for p in trained_checkpoint.rglob("*") if p.is_file()]
    assert files
    offenders = [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
    offenders += [p for p in files if p.suffix != ".safetensors" and _looks_pickled(p)]
    assert not offenders, offenders


def test_cli_run_logs_one_finished_mlflow_run(cli_run, trained_checkpoint, list_runs, tmp_path):
    from mlflow import MlflowClient

    from resume_ner.data.load import load_splits
    from resume_ner.train.run_metadata import data_fingerprint

    from .conftest import compose_train  # noqa: F401  (kept for readers: same config path)


def _unused():  # pragma: no cover - placeholder replaced below
    pass
