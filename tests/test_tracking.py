"""MLflow tracking against a real SQLite store: run ownership, failure modes, helpers."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

# Before mlflow is imported anywhere in this process by these tests: no telemetry calls.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from resume_ner.config.schema import TrackingConfig
from resume_ner.data.document import Document, Span
from resume_ner.train.run_metadata import data_fingerprint, flatten_config, git_commit
from resume_ner.train.tracking import Tracker
from resume_ner.train.tracking_uri import TrackingError, check_tracking_uri, resolve_tracking_uri

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _end_all_runs() -> None:
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(autouse=True)
def clean_mlflow():
    _end_all_runs()
    yield
    _end_all_runs()
    with contextlib.suppress(Exception):
        mlflow.set_tracking_uri(None)


@pytest.fixture
def base_dir(tmp_path, mlflow_template) -> Path:
    """A project folder whose default store (outputs/mlflow.db) is already migrated."""
    (tmp_path / "outputs").mkdir()
    shutil.copy(mlflow_template, tmp_path / "outputs" / "mlflow.db")
    return tmp_path


def db_uri(base: Path) -> str:
    return f"sqlite:///{(base / 'outputs' / 'mlflow.db').resolve()}"


def tracking_cfg(**overrides) -> DictConfig:
    cfg = OmegaConf.structured(TrackingConfig(name="mlflow"))
    cfg.experiment_name = "test-exp"
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def runs_of(client: MlflowClient, experiment_id: str) -> list:
    return client.search_runs([experiment_id])


# --------------------------------------------------------------------------- runs


def test_local_run_logs_everything_and_finishes(base_dir: Path) -> None:
    cfg = tracking_cfg(run_name="local-1", tags={"team": "ner"})
    artifact = base_dir / "report.json"
    artifact.write_text("{}")
    (base_dir / "ckpt").mkdir()
    (base_dir / "ckpt" / "config.json").write_text("{}")
    params = {f"p{i:03d}": i for i in range(130)}  # two log_batch chunks
    params["nested"] = {"lr": 3e-4, "layers": [1, 2]}
    params["long"] = "x" * 7000
    with Tracker(cfg, base_dir) as tracker:
        assert tracker.owns_run and tracker.tracking_uri == db_uri(base_dir)
        tracker.log_params(params)
        tracker.log_metrics({"val_f1": 0.5, "val_macro-f1": 0.25}, step=1)
        tracker.log_metrics({"val_f1": 0.75}, step=2)
        tracker.set_tags({"data_fingerprint": "abc"})
        tracker.log_artifact(artifact)
        tracker.log_artifacts(base_dir / "ckpt", artifact_path="checkpoint")
        run_id, experiment_id = tracker.run_id, tracker.experiment_id
        assert mlflow.active_run().info.run_id == run_id

    assert mlflow.active_run() is None
    client = MlflowClient(db_uri(base_dir))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "local-1"
    assert run.data.params["p129"] == "129"
    assert run.data.params["nested.lr"] == "0.0003"
    assert run.data.params["nested.layers"] == "[1, 2]"
    assert len(run.data.params["long"]) == 6000
    assert run.data.metrics == {"val_f1": 0.75, "val_macro-f1": 0.25}
    assert [m.step for m in client.get_metric_history(run_id, "val_f1")] == [1, 2]
    assert run.data.tags["team"] == "ner" and run.data.tags["data_fingerprint"] == "abc"
    # artifacts live beside the store, as files
    experiment = client.get_experiment(experiment_id)
    assert experiment.artifact_location == (base_dir / "outputs/mlartifacts/test-exp").as_uri()
    stored = base_dir / "outputs/mlartifacts/test-exp" / run_id / "artifacts"
    assert (stored / "report.json").read_text() == "{}"
    assert (stored / "checkpoint" / "config.json").exists()
    assert tracker.ui_hint() == f"mlflow ui --backend-store-uri {db_uri(base_dir)}"

    # a second run reuses the experiment
    with Tracker(cfg, base_dir) as again:
        assert again.experiment_id == experiment_id and again.run_id != run_id
    assert len(runs_of(client, experiment_id)) == 2


def test_default_store_is_created_under_outputs(tmp_path: Path, mlflow_template: Path) -> None:
    uri = resolve_tracking_uri(None, tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/outputs/mlflow.db"
    assert (tmp_path / "outputs").is_dir()


def test_active_run_is_used_and_left_open(base_dir: Path) -> None:
    client = MlflowClient(db_uri(base_dir))
    experiment_id = client.create_experiment("outer")
    mlflow.set_tracking_uri(db_uri(base_dir))
    outer = mlflow.start_run(experiment_id=experiment_id)
    mlflow.log_param("seed", "1")
    with Tracker(tracking_cfg(), base_dir) as tracker:
        assert tracker.mode == "active" and tracker.run_id == outer.info.run_id
        tracker.log_metrics({"val_f1": 0.5}, step=0)
        # params are immutable: a clash with the outer run's is skipped, not fatal
        tracker.log_params({"a": 1, "seed": 2, "b": 3})
    assert mlflow.active_run().info.run_id == outer.info.run_id
    run = client.get_run(outer.info.run_id)
    assert run.info.status == "RUNNING" and run.data.metrics == {"val_f1": 0.5}
    assert run.data.params == {"seed": "1", "a": "1", "b": "3"}
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [outer.info.run_id]
    assert client.get_experiment_by_name("test-exp") is None  # no run of our own anywhere
    assert not any(tag == "mlflow.parentRunId" for tag in run.data.tags)
    mlflow.end_run()


def test_mlflow_run_id_attaches_without_ending(base_dir: Path, monkeypatch) -> None:
    client = MlflowClient(db_uri(base_dir))
    experiment_id = client.create_experiment("azureml-job")
    job_run = client.create_run(experiment_id, run_name="job")
    monkeypatch.setenv("MLFLOW_RUN_ID", job_run.info.run_id)
    with Tracker(tracking_cfg(run_name="ours"), base_dir) as tracker:
        assert tracker.mode == "attached" and not tracker.owns_run
        assert tracker.run_id == job_run.info.run_id
        assert tracker.experiment_id == experiment_id
        tracker.log_metrics({"val_f1": 0.9}, step=3)
        tracker.log_params({"training.learning_rate": 3e-4})
    assert mlflow.active_run() is None  # off the fluent stack, so atexit will not end it
    run = client.get_run(job_run.info.run_id)
    assert run.info.status == "RUNNING" and run.info.end_time is None
    assert run.info.run_name == "job"
    assert run.data.metrics == {"val_f1": 0.9}
    assert run.data.params == {"training.learning_rate": "0.0003"}
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [job_run.info.run_id]
    assert client.get_experiment_by_name("test-exp") is None
    assert os.environ["MLFLOW_RUN_ID"] == job_run.info.run_id  # Azure ML's, left alone


def test_mlflow_run_id_attach_survives_an_exception(base_dir: Path, monkeypatch) -> None:
    client = MlflowClient(db_uri(base_dir))
    job_run = client.create_run(client.create_experiment("job"))
    monkeypatch.setenv("MLFLOW_RUN_ID", job_run.info.run_id)
    with pytest.raises(RuntimeError), Tracker(tracking_cfg(), base_dir):
        raise RuntimeError("boom")
    assert client.get_run(job_run.info.run_id).info.status == "RUNNING"


def test_unknown_mlflow_run_id_is_a_tracking_error(base_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")
    with pytest.raises(TrackingError, match="MLFLOW_RUN_ID"), Tracker(tracking_cfg(), base_dir):
        pass


def test_exception_marks_the_run_failed(base_dir: Path) -> None:
    with pytest.raises(ValueError, match="diverged"), Tracker(tracking_cfg(), base_dir) as t:
        t.log_metrics({"train_loss": float("nan")}, step=1)
        raise ValueError("diverged")
    client = MlflowClient(db_uri(base_dir))
    assert client.get_run(t.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_keyboard_interrupt_marks_the_run_killed(base_dir: Path) -> None:
    with pytest.raises(KeyboardInterrupt), Tracker(tracking_cfg(), base_dir) as t:
        raise KeyboardInterrupt
    assert MlflowClient(db_uri(base_dir)).get_run(t.run_id).info.status == "KILLED"


def test_env_tracking_uri_is_used_when_none_configured(
    tmp_path: Path, base_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", db_uri(base_dir))
    elsewhere = tmp_path / "elsewhere"
    assert Tracker(tracking_cfg(), elsewhere).tracking_uri == db_uri(base_dir)
    explicit = Tracker(tracking_cfg(uri="sqlite:///x/m.db"), elsewhere).tracking_uri
    assert explicit == f"sqlite:///{elsewhere.resolve()}/x/m.db"


def test_methods_need_the_with_block(base_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="not entered"):
        Tracker(tracking_cfg(), base_dir).log_metrics({"a": 1.0})


# --------------------------------------------------------------------------- URI checks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_fails_fast(base_dir: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with (
        pytest.raises(TrackingError) as info,
        Tracker(tracking_cfg(uri=uri, connect_timeout=2.0), base_dir),
    ):
        pytest.fail("training must not start")
    assert time.monotonic() - start < 5
    assert uri in str(info.value) and "tracking.uri" in str(info.value)
    assert mlflow.active_run() is None


@contextlib.contextmanager
def http_server(routes: dict[str, int]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status = routes.get(self.path.split("?")[0], 404)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_answering_server_passes_the_check() -> None:
    with http_server({"/health": 200}) as uri:
        check_tracking_uri(uri, timeout=2)
    # no /health (an older or proxied server), but the REST API answers
    with http_server({"/api/2.0/mlflow/experiments/search": 200}) as uri:
        check_tracking_uri(uri + "/", timeout=2)


def test_server_that_is_not_mlflow_fails() -> None:
    with http_server({}) as uri, pytest.raises(TrackingError, match="not as an MLflow"):
        check_tracking_uri(uri, timeout=2)
    with (
        http_server({"/api/2.0/mlflow/experiments/search": 401}) as uri,
        pytest.raises(TrackingError, match="MLFLOW_TRACKING_TOKEN"),
    ):
        check_tracking_uri(uri, timeout=2)


def test_bad_scheme_fails(base_dir: Path) -> None:
    with (
        pytest.raises(TrackingError, match="foo://x") as info,
        Tracker(tracking_cfg(uri="foo://x"), base_dir),
    ):
        pytest.fail("training must not start")
    assert "unknown scheme 'foo'" in str(info.value)


def test_unwritable_sqlite_location_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    uri = f"sqlite:///{blocker}/mlflow.db"
    with pytest.raises(TrackingError, match="not-a-folder"):
        check_tracking_uri(uri)
    check_tracking_uri(f"sqlite:///{tmp_path}/new/mlflow.db")
    assert (tmp_path / "new").is_dir()


def test_a_file_store_is_refused_with_the_fix_unless_allowed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    with pytest.raises(TrackingError, match=r"file store.*sqlite:///.*MLFLOW_ALLOW_FILE_STORE"):
        check_tracking_uri(uri)
    with pytest.raises(TrackingError, match="file store"):
        check_tracking_uri(str(tmp_path / "runs"))  # a bare path is a file store too
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    check_tracking_uri(uri)
    assert (tmp_path / "mlruns").is_dir()


# --------------------------------------------------------------------------- helpers


def test_resolve_tracking_uri(tmp_path: Path) -> None:
    base = tmp_path.resolve()
    assert resolve_tracking_uri("sqlite:///runs/m.db", tmp_path) == f"sqlite:///{base}/runs/m.db"
    assert resolve_tracking_uri("sqlite:////abs/m.db", tmp_path) == "sqlite:////abs/m.db"
    assert resolve_tracking_uri("file:./mlruns", tmp_path) == (base / "mlruns").as_uri()
    assert resolve_tracking_uri("mlruns", tmp_path) == (base / "mlruns").as_uri()
    assert resolve_tracking_uri("file:///abs/mlruns", tmp_path) == "file:///abs/mlruns"
    assert resolve_tracking_uri("http://host:5000", tmp_path) == "http://host:5000"
    assert resolve_tracking_uri("https://h/prefix", tmp_path) == "https://h/prefix"
    assert resolve_tracking_uri("databricks", tmp_path) == "databricks"


def test_flatten_config() -> None:
    cfg = OmegaConf.create(
        {
            "training": {"learning_rate": 3e-4, "batch_size": 16, "output_dir": None},
            "data": {"label_map": {}, "paths": ["a.jsonl", "b.jsonl"], "dedupe": True},
            "name": "${training.batch_size}",
        }
    )
    flat = flatten_config(cfg)
    assert flat == {
        "training.learning_rate": "0.0003",
        "training.batch_size": "16",
        "training.output_dir": "null",
        "data.label_map": "{}",
        "data.paths": '["a.jsonl", "b.jsonl"]',
        "data.dedupe": "true",
        "name": "16",
    }
    assert flatten_config({"a": {"b": 1}}) == {"a.b": "1"}
    assert flatten_config(TrackingConfig(name="x"))["connect_timeout"] == "5.0"


@pytest.mark.slow
def test_git_commit(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    if shutil.which("git") and (REPO / ".git").exists():
        commit = git_commit(REPO)
        assert commit is not None and len(commit) == 40


def test_data_fingerprint() -> None:
    docs = [Document("Jane Doe, Python", [Span(0, 8, "Name")]), Document("Acme", [])]
    fp = data_fingerprint(docs)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert data_fingerprint(list(docs)) == fp
    assert data_fingerprint([Document("Jane Doe, Python", [Span(0, 4, "Name")]), docs[1]]) != fp
    assert data_fingerprint([Document("Jane Doe, Python", [Span(0, 8, "Skills")]), docs[1]]) != fp
    assert data_fingerprint(docs[::-1]) != fp


# A process that opens the store once `go` exists, so that several open it at the same time.
_OPEN_STORE = """
import os, sys, time
from pathlib import Path
from omegaconf import OmegaConf
from resume_ner.config.schema import TrackingConfig
from resume_ner.train.tracking import Tracker
import mlflow  # imported before the start line, so that only the store's creation races
base, go = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
cfg = OmegaConf.structured(TrackingConfig(name="mlflow"))
cfg.experiment_name = "parallel"
with Tracker(cfg, base_dir=base):
    pass
"""


@pytest.mark.slow
def test_runs_started_together_on_a_new_store_all_succeed(tmp_path: Path) -> None:
    """Creating a new SQLite store is not atomic: parallel runs must not race on its tables."""
    import subprocess
    import sys

    go = tmp_path / "go"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_STORE, str(tmp_path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(8)  # let every process finish its imports and wait at the start line
    go.touch()
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    failed = [out for proc, out in zip(procs, outputs, strict=True) if proc.returncode != 0]
    assert not failed, failed[0][-2000:]
    client = MlflowClient(db_uri(tmp_path))
    experiment = client.get_experiment_by_name("parallel")
    assert len(runs_of(client, experiment.experiment_id)) == 3
