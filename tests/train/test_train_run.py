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
from resume_ner.errors import ConfigError, ModelSourceError, TrackingError

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


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


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
    present = sorted(p.name for p in ckpt.iterdir())
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
        assert (ckpt / name).is_file(), f"{name} missing from {present}"
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
    assert Path(manifest["run_dir"]).resolve() == cli_run.run_dir.resolve()

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
    # The tiny BERT has token-type embeddings: word classes ride on them (9 rows).
    assert label_map["word_features"] is True
    assert config["type_vocab_size"] == 9
    # The span conventions learned from the training split; the sample marks each skill of
    # a list as its own span, so ", " must not join Skills.
    from resume_ner.data.load import load_splits
    from resume_ner.span_conventions import learn_conventions

    learned = learn_conventions(load_splits(resolved.data).train)
    assert label_map["span_conventions"] == learned.to_json()
    assert learned.joins["Skills"] and ", " not in learned.joins["Skills"]
    assert label_map["min_span_score"] == resolved.training.min_span_score == 0.5

    from safetensors import safe_open

    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as weights:
        shape = list(weights.get_slice("classifier.weight").get_shape())
        types = list(weights.get_slice("bert.embeddings.token_type_embeddings.weight").get_shape())
    assert shape == [len(id2label), 32]
    assert types == [9, 32]


def test_checkpoint_holds_no_pickles(trained_checkpoint):
    files = [p for p in trained_checkpoint.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    offenders = [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
    offenders += [p for p in files if p.suffix != ".safetensors" and _looks_pickled(p)]
    assert not offenders, offenders


def test_cli_run_logs_one_finished_mlflow_run(
    cli_run, trained_checkpoint, list_runs, compose_config, tmp_path
):
    from mlflow import MlflowClient

    from resume_ner.data.load import load_splits
    from resume_ner.train.run_metadata import data_fingerprint

    runs = list_runs(cli_run.db_uri)
    assert len(runs) == 1, [r.info.run_id for r in runs]
    run = runs[0]
    run_id = run.info.run_id
    assert run_id == _printed(cli_run.result.stdout, "MLflow run:")
    assert run.info.status == "FINISHED"

    client = MlflowClient(cli_run.db_uri)
    assert client.get_experiment(run.info.experiment_id).name == "resume-ner"
    params = run.data.params
    assert float(params["training.learning_rate"]) == cli_run.learning_rate
    assert params["training.epochs"] == str(cli_run.epochs)
    assert params["model.pretrained"] == str(cli_run.pretrained)

    history = json.loads((trained_checkpoint / "metrics.json").read_text())["history"]
    for key in ("val_f1", "val_loss", "val_macro-f1"):
        logged = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        assert [m.step for m in logged] == list(range(1, cli_run.epochs + 1)), key
        assert [m.value for m in logged] == pytest.approx([h[key] for h in history]), key

    tags = run.data.tags
    overrides = tags["hydra_overrides"].split()
    assert f"training.epochs={cli_run.epochs}" in overrides
    assert f"model.pretrained={cli_run.pretrained}" in overrides
    assert tags["memory_plan"] == "micro_batch=8 accumulation=1"
    assert Path(tags["checkpoint_dir"]) == trained_checkpoint.resolve()
    package_dir = Path(__import__("resume_ner").__file__).parent
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=package_dir, capture_output=True, text=True
    )
    if head.returncode == 0:
        assert tags["git_commit"] == head.stdout.strip()
    else:
        assert "git_commit" not in tags
    splits = load_splits(compose_config().data)
    assert tags["data_fingerprint"] == data_fingerprint(splits.train + splits.val)

    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"metrics.json", "resolved_config.yaml", "validation.json"} <= artifacts, artifacts
    local = client.download_artifacts(run_id, "metrics.json", str(tmp_path))
    assert json.loads(Path(local).read_text()) == json.loads(
        (trained_checkpoint / "metrics.json").read_text()
    )
    validation = json.loads((cli_run.run_dir / "validation.json").read_text())
    local = client.download_artifacts(run_id, "validation.json", str(tmp_path))
    assert json.loads(Path(local).read_text()) == validation


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize(
    ("metric", "goal", "pick"), [("val_macro-f1", "maximize", max), ("val_loss", "minimize", min)]
)
def test_task_function_returns_best_objective(
    train_inprocess, make_store, tmp_path, metric, goal, pick
):
    from resume_ner.train.app import train_task

    value = train_inprocess(
        tmp_path / "run",
        f"hpo.objective.metric={metric}",
        f"hpo.objective.goal={goal}",
        store=make_store(tmp_path),
        task=train_task,
    )
    metrics = json.loads((tmp_path / "run" / "checkpoint" / "metrics.json").read_text())
    values = [h[metric] for h in metrics["history"]]
    assert len(values) == 2
    assert isinstance(value, float)
    assert value == pick(values)
    assert value == metrics["best"][metric]
    manifest = json.loads((tmp_path / "run" / "checkpoint" / "manifest.json").read_text())
    assert manifest["best_objective"] == value
    assert manifest["best_epoch"] == values.index(value) + 1 == metrics["best_epoch"]


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("ema_decay", "1.0", "in (0, 1)"),
        ("ema_decay", "-0.5", "in (0, 1)"),
        ("min_span_score", "1.5", "[0, 1]"),
        ("min_span_score", "-0.1", "[0, 1]"),
        ("max_minutes", "0", "null for no time budget"),
        ("max_minutes", "-5", "null for no time budget"),
    ],
)
def test_bad_training_value_fails_before_training(
    train_inprocess, tmp_path, capsys, key, value, allowed
):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError) as refused:
        train_inprocess(run_dir, f"training.{key}={value}")
    err = str(refused.value)
    assert f"training.{key}={float(value)}" in err and allowed in err
    assert not (run_dir / "checkpoint" / "training_state").exists()


def test_time_budget_cuts_the_run_and_says_so(train_inprocess, make_store, tmp_path, capsys):
    """A budget spent by the first epoch: the run keeps that epoch's checkpoint and its
    report names the setting that cut it."""
    run_dir = tmp_path / "run"
    train_inprocess(run_dir, "training.max_minutes=0.0001", store=make_store(tmp_path))
    out = capsys.readouterr().out
    assert (  # the tiny runs plan 2 epochs
        "Training finished: 1 epoch(s); the time budget (training.max_minutes) cut the plan "
        "from 2 to 1 epochs" in out
    )
    ckpt = run_dir / "checkpoint"
    assert (ckpt / "model.safetensors").is_file()
    metrics = json.loads((ckpt / "metrics.json").read_text())
    assert len(metrics["history"]) == 1 and metrics["epochs_planned"] == 1


def test_output_dir_redirects_the_checkpoint(train_inprocess, make_store, tmp_path, capsys):
    target = tmp_path / "elsewhere" / "ckpt"
    train_inprocess(
        tmp_path / "run",
        "training.epochs=1",
        f"training.output_dir={target}",
        store=make_store(tmp_path),
    )
    assert (target / "model.safetensors").is_file()
    assert json.loads((target / "manifest.json").read_text())["status"] == "completed"
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert Path(_printed(capsys.readouterr().out, "Checkpoint:")) == target.resolve()


def test_azure_output_env_wins_over_output_dir(
    train_inprocess, make_store, list_runs, tmp_path, monkeypatch, capsys
):
    azure = tmp_path / "azure-outputs" / "checkpoint"
    ignored = tmp_path / "ignored"
    monkeypatch.setenv(AZURE_OUTPUT_ENV, str(azure))
    store = make_store(tmp_path)
    train_inprocess(
        tmp_path / "run", "training.epochs=1", f"training.output_dir={ignored}", store=store
    )
    assert (azure / "model.safetensors").is_file()
    assert (azure / "training_state" / "state.json").is_file()
    assert not ignored.exists()
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert Path(_printed(capsys.readouterr().out, "Checkpoint:")) == azure.resolve()
    (run,) = list_runs(store)
    assert Path(run.data.tags["checkpoint_dir"]) == azure.resolve()


def test_manifest_is_written_when_the_run_starts(
    train_inprocess, make_store, tmp_path, monkeypatch
):
    import resume_ner.data.load

    out = tmp_path / "out"
    seen: dict = {}

    def failing_load_splits(data_cfg):
        seen.update(json.loads((out / "manifest.json").read_text()))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(resume_ner.data.load, "load_splits", failing_load_splits)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train_inprocess(tmp_path / "run", f"training.output_dir={out}", store=make_store(tmp_path))
    # The manifest was there, saying "starting", before anything could fail ...
    assert seen["status"] == "starting"
    assert Path(seen["run_dir"]) == (tmp_path / "run").resolve()
    # ... and it is still there afterwards: an interrupted output is never empty.
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] in ("starting", "failed")
    assert manifest["status"] != "completed"
    assert (out / "resolved_config.yaml").is_file()
    assert not (out / "model.safetensors").exists()


# --------------------------------------------------------------------------- refusals


def test_offline_deberta_fails_before_training_with_one_clear_message(
    run_train_cli, expect_user_error, tmp_path
):
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("microsoft/deberta-v3-base", "config.json"), str):
        pytest.skip("microsoft/deberta-v3-base is in the local Hugging Face cache")
    run_dir = tmp_path / "run"
    result = run_train_cli(
        run_dir,
        "+experiment=deberta",
        "model.pretrained=<drop>",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        timeout=180,
    )
    expect_user_error(result, "model.pretrained=microsoft/deberta-v3-base", "HF_HUB_OFFLINE")
    # How to point it at a local copy.
    assert "model.pretrained=models/deberta-v3-base" in result.stderr
    assert len(_error_lines(result.stderr)) == 1, result.stderr
    # Before training, even before the data were read.
    assert "epoch" not in result.stdout
    assert not (run_dir / "validation.json").exists()
    assert not (run_dir / "checkpoint" / "training_state").exists()


def test_offline_distilbert_fails_before_data_are_read(
    train_inprocess, make_store, tmp_path, monkeypatch, capsys
):
    import resume_ner.data.load

    def must_not_run(data_cfg):
        raise AssertionError("the data were loaded although the model cannot be had")

    monkeypatch.setattr(resume_ner.data.load, "load_splits", must_not_run)
    with pytest.raises(ModelSourceError) as refused:
        train_inprocess(
            tmp_path / "run",
            "model=distilbert",
            "model.pretrained=<drop>",
            store=make_store(tmp_path),
        )
    err = str(refused.value)
    assert "model.pretrained=distilbert-base-cased" in err
    assert "HF_HUB_OFFLINE" in err
    assert "model.pretrained=models/distilbert-base-cased" in err


def test_unreachable_tracking_server_fails_before_training(train_inprocess, tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    run_dir = tmp_path / "run"
    with pytest.raises(TrackingError) as refused:
        train_inprocess(run_dir, f"tracking.uri={uri}", "tracking.connect_timeout=2")
    assert uri in str(refused.value)
    assert "did not answer" in str(refused.value)
    assert "Training finished" not in capsys.readouterr().out
    assert not (run_dir / "checkpoint" / "training_state").exists()
    assert not (run_dir / "checkpoint" / "model.safetensors").exists()


def test_unknown_tracking_scheme_fails_before_training(train_inprocess, tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(TrackingError) as refused:
        train_inprocess(run_dir, "tracking.uri=foo://x")
    assert "foo://x" in str(refused.value)
    assert "unknown scheme" in str(refused.value)
    assert "Training finished" not in capsys.readouterr().out
    assert not (run_dir / "checkpoint" / "training_state").exists()
    assert not (run_dir / "checkpoint" / "metrics.json").exists()
