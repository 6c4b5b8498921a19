"""Helpers of the end-to-end training tests: tiny runs, in a subprocess or in-process.

Every run here uses the 2-layer, 32-wide random BERT of `tiny_bert_dir` (tests/conftest.py),
a few synthetic documents, 64-token windows and one torch thread: the machine is small and
shared, and a single thread is many times faster there than two contending ones.

- `run_train_cli(run_dir, *overrides)`: ``python -m resume_ner.train`` in a subprocess with
  hydra.run.dir=<run_dir>, a private SQLite MLflow store and the tiny settings;
- `train_inprocess(cwd, *overrides)`: the same config through Hydra's compose API, then
  the training seam `resume_ner.train.run.train` in this process (the run dir is cwd);
- `start_train_cli(run_dir, *overrides)`: the same command, started without waiting;
- `run_commands(commands, cwd)`: other entry points (predict, evaluate), side by side;
- `cli_run` (session): one CLI training run shared by the checkpoint and predict tests.

Nothing is reached beyond this machine: the hub is offline and MLflow is a SQLite file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


# The CLI run shared by test_train_run.py and test_predict_evaluate.py.
CLI_EPOCHS = 2
CLI_LEARNING_RATE = 0.01


def merge_overrides(base: Iterable[str], extra: Iterable[str]) -> list[str]:
    """Hydra overrides, later keys replacing earlier ones; "key=<drop>" removes the key."""
    merged: dict[str, str] = {}
    for item in [*base, *extra]:
        key = item.split("=", 1)[0]
        merged.pop(key, None)
        if not item.endswith("=<drop>"):
            merged[key] = item
    return list(merged.values())


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child command: offline, no telemetry, one thread, no leaks."""
    env = dict(os.environ)  # already cleared of leaky variables by tests/conftest.py
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def assert_user_error(result: Any, *phrases: str) -> None:
    """Exit status 2, one "error:" message naming each phrase, and no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\n{output[-4000:]}"
    assert "Traceback" not in output, output[-4000:]
    assert "error:" in result.stderr, result.stderr[-4000:]
    for phrase in phrases:
        assert phrase in result.stderr, f"{phrase!r} not in stderr:\n{result.stderr[-4000:]}"


@pytest.fixture(scope="session")
def expect_user_error() -> Callable[..., None]:
    """expect_user_error(result, *phrases): see `assert_user_error`."""
    return assert_user_error


# --------------------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def _isolated_run_environment(monkeypatch):
    """One torch thread, no run or Hydra state left over (tests/conftest.py clears the env)."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
    if "mlflow" in sys.modules:
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run()
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None


# --------------------------------------------------------------------------- MLflow stores


@pytest.fixture
def make_store(mlflow_template) -> Callable[[Path], str]:
    """make_store(folder) -> the sqlite:/// URI of a fresh store at <folder>/mlflow.db."""

    def make(folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "mlflow.db"
        shutil.copyfile(mlflow_template, target)
        return f"sqlite:///{target}"

    return make


def all_runs(uri: str) -> list:
    """Every run in every experiment (deleted ones included) of the store at `uri`."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    return client.search_runs(
        [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=1000
    )


@pytest.fixture
def list_runs() -> Callable[[str], list]:
    return all_runs


# --------------------------------------------------------------------------- overrides


@pytest.fixture(scope="session")
def tiny_overrides(tiny_bert_dir) -> list[str]:
    """The settings of a seconds-long run of the tiny model on the synthetic sample."""
    return [
        f"model.pretrained={tiny_bert_dir}",
        # A random model's word embeddings are worth nothing frozen (MiniLM freezes its own).
        "model.freeze_word_embeddings=false",
        "data.sample.num_docs=16",
        "data.sample.long_fraction=0",
        "data.split.val_fraction=0.2",
        f"training.epochs={CLI_EPOCHS}",
        "training.max_length=64",
        "training.stride=16",
        "training.batch_size=8",
        "training.eval_batch_size=16",
        f"training.learning_rate={CLI_LEARNING_RATE}",
        "training.head_learning_rate=0.03",
        "training.warmup_ratio=0.0",
        "training.num_threads=1",
    ]


# --------------------------------------------------------------------------- subprocesses


def train_command(run_dir: Path, overrides: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "resume_ner.train", f"hydra.run.dir={run_dir}", *overrides]


@pytest.fixture(scope="session")
def run_train_cli(tiny_overrides) -> Callable[..., subprocess.CompletedProcess]:
    """run_train_cli(run_dir, *overrides, store=URI|None, env=None, base=True, timeout=300).

    Runs from run_dir's parent; `store` (default: none given) adds tracking.uri.
    """

    def run(
        run_dir: Path,
        *overrides: str,
        store: str | None = None,
        env: dict[str, str] | None = None,
        base: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        extra = [*overrides, *([f"tracking.uri={store}"] if store else [])]
        args = merge_overrides(tiny_overrides if base else [], extra)
        return subprocess.run(
            train_command(run_dir, args),
            cwd=run_dir.parent,
            env=subprocess_env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def start_train_cli(tiny_overrides) -> Callable[..., subprocess.Popen]:
    """start_train_cli(run_dir, *overrides, store=URI, new_session=False) -> Popen, without
    waiting (new_session: in a process group of its own).

    stdout and stderr go to <run_dir>.out / <run_dir>.err (no pipe can fill and block).
    """

    def start(
        run_dir: Path, *overrides: str, store: str | None = None, new_session: bool = False
    ) -> subprocess.Popen:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        extra = [*overrides, *([f"tracking.uri={store}"] if store else [])]
        args = merge_overrides(tiny_overrides, extra)
        with (
            run_dir.with_name(run_dir.name + ".out").open("w") as out,
            run_dir.with_name(run_dir.name + ".err").open("w") as err,
        ):
            return subprocess.Popen(
                train_command(run_dir, args),
                cwd=run_dir.parent,
                env=subprocess_env(),
                stdout=out,
                stderr=err,
                # Its own process group: a test can signal it and its children together.
                start_new_session=new_session,
            )

    return start


def run_parallel(
    commands: Sequence[Sequence[str]], cwd: Path, timeout: float = 300
) -> list[subprocess.CompletedProcess]:
    """Run independent commands at once (their start-up is mostly imports) and collect them."""
    logs = cwd / ".parallel-logs"
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for index, command in enumerate(commands):
        out = (logs / f"{index}.out").open("w")
        err = (logs / f"{index}.err").open("w")
        process = subprocess.Popen(
            list(command), cwd=cwd, env=subprocess_env(), stdout=out, stderr=err, text=True
        )
        running.append((command, process, out, err))
    results = []
    for index, (command, process, out, err) in enumerate(running):
        try:
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            out.close()
            err.close()
        results.append(
            subprocess.CompletedProcess(
                list(command),
                process.returncode,
                (logs / f"{index}.out").read_text(),
                (logs / f"{index}.err").read_text(),
            )
        )
    return results


@pytest.fixture(scope="session")
def run_commands() -> Callable[..., list[subprocess.CompletedProcess]]:
    return run_parallel


# --------------------------------------------------------------------------- in-process


@pytest.fixture(scope="session")
def compose_config(tiny_overrides) -> Callable[..., Any]:
    """compose_config(*overrides, base=True): the train config the tiny runs use."""

    def compose(*overrides: str, base: bool = True) -> Any:
        from resume_ner.config.compose import compose_train

        return compose_train(merge_overrides(tiny_overrides if base else [], overrides))

    return compose


@pytest.fixture(scope="session")
def make_trainer(tiny_overrides) -> Callable[..., Any]:
    """make_trainer(out_dir, *overrides, batch=4, on_epoch=None, clock=None): a Trainer of
    the tiny model on 4 synthetic documents, without validation documents or early
    stopping, assembled by the training seam's `build_trainer`."""

    def make(
        out_dir: Path,
        *overrides: str,
        batch: int = 4,
        on_epoch: Callable[[int, dict], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Any:
        import torch
        from transformers import AutoTokenizer

        from resume_ner.config.compose import compose_train
        from resume_ner.data.synthetic import generate
        from resume_ner.train.memory import MemoryPlan
        from resume_ner.train.run import build_trainer, label_maps

        cfg = compose_train(merge_overrides(tiny_overrides, overrides))
        documents = generate(4, seed=5, long_fraction=0.0)
        id2label, label2id = label_maps(documents)
        trainer = build_trainer(
            cfg,
            source=cfg.model.pretrained,
            tokenizer=AutoTokenizer.from_pretrained(cfg.model.pretrained),
            train_documents=documents,
            val_documents=[],
            id2label=id2label,
            label2id=label2id,
            out_dir=out_dir,
            fingerprint="test",
            device=torch.device("cpu"),
            plan=MemoryPlan(batch, 1, batch, 0, 1, reduced=False),
            on_epoch=on_epoch,
            patience=None,
        )
        if clock is not None:  # a scripted clock, for the time budget's tests
            trainer.clock = clock
        return trainer

    return make


@pytest.fixture
def train_inprocess(monkeypatch, tiny_overrides) -> Callable[..., Any]:
    """train_inprocess(cwd, *overrides, store=URI|None, base=True, task=None, on_epoch=None).

    Composes the train config and, in this process from `cwd` (the run dir), calls `task`
    on it, or by default `resume_ner.train.run.train(cfg, on_epoch=on_epoch)`. Returns
    what that returns (a TrainResult by default).
    """

    def run(
        cwd: Path,
        *overrides: str,
        store: str | None = None,
        base: bool = True,
        task: Callable[[Any], Any] | None = None,
        on_epoch: Callable[[int, dict], Any] | None = None,
    ) -> Any:
        from hydra.core.hydra_config import HydraConfig

        from resume_ner.config.compose import compose_train
        from resume_ner.train.run import train

        cwd.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        extra = [*overrides, *([f"tracking.uri={store}"] if store else [])]
        cfg = compose_train(merge_overrides(tiny_overrides if base else [], extra))
        assert not HydraConfig.initialized()
        if task is not None:
            return task(cfg)
        return train(cfg, on_epoch=on_epoch)

    return run


# --------------------------------------------------------------------------- shared run


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory, run_train_cli, mlflow_template, tiny_bert_dir) -> SimpleNamespace:
    """One `python -m resume_ner.train` run of the tiny model (2 epochs), with its store."""
    root = tmp_path_factory.mktemp("cli-run")
    db = root / "mlflow.db"
    shutil.copyfile(mlflow_template, db)
    run_dir = root / "run"
    result = run_train_cli(run_dir, store=f"sqlite:///{db}")
    return SimpleNamespace(
        root=root,
        run_dir=run_dir,
        checkpoint=run_dir / "checkpoint",
        db_uri=f"sqlite:///{db}",
        result=result,
        epochs=CLI_EPOCHS,
        learning_rate=CLI_LEARNING_RATE,
        pretrained=tiny_bert_dir,
    )


@pytest.fixture
def trained_checkpoint(cli_run) -> Path:
    """The checkpoint folder of the shared CLI run (fails the test if that run failed)."""
    result = cli_run.result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return cli_run.checkpoint
