"""find_checkpoint: local folders, runs:/ and models:/ references, and the one error a miss
raises. Checkpoint folders are faked with the three empty marker files; the MLflow store is
one SQLite store per module (creating one takes seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from resume_ner.convert import discovery
from resume_ner.convert.discovery import MARKERS, Search, find_checkpoint
from resume_ner.errors import CheckpointError, TrackingError


def make_checkpoint(folder: Path) -> Path:
    """A folder that discovery takes for a checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MARKERS:
        (folder / name).write_text("")
    return folder


# --------------------------------------------------------------------------- local folders


def test_checkpoint_folder_itself(tmp_path):
    folder = make_checkpoint(tmp_path / "checkpoint")
    assert find_checkpoint(str(folder)) == folder.resolve()


def test_run_folder_gives_its_checkpoint(tmp_path):
    folder = make_checkpoint(tmp_path / "run" / "checkpoint")
    (tmp_path / "run" / ".hydra").mkdir()
    assert find_checkpoint(str(tmp_path / "run")) == folder.resolve()


def test_a_file_inside_a_checkpoint_gives_the_folder(tmp_path):
    folder = make_checkpoint(tmp_path / "checkpoint")
    assert find_checkpoint(str(folder / "model.safetensors")) == folder.resolve()


def test_nested_two_levels_down(tmp_path):
    folder = make_checkpoint(tmp_path / "a" / "b")
    (tmp_path / "a" / "other").mkdir()
    assert find_checkpoint(str(tmp_path)) == folder.resolve()


def test_study_and_trial_folders(tmp_path):
    study = tmp_path / "study"
    folder = make_checkpoint(study / "trial_0" / "checkpoint")
    (study / "trial_1" / "checkpoint").mkdir(parents=True)  # pruned: no weights kept
    assert find_checkpoint(str(study)) == folder.resolve()
    assert find_checkpoint(str(study / "trial_0")) == folder.resolve()


def test_training_state_inside_a_checkpoint_is_not_a_second_one(tmp_path):
    folder = make_checkpoint(tmp_path / "run" / "checkpoint")
    make_checkpoint(folder / "training_state")
    assert find_checkpoint(str(tmp_path)) == folder.resolve()


def test_several_checkpoints_are_refused_with_their_list(tmp_path):
    first = make_checkpoint(tmp_path / "trial_0" / "checkpoint")
    second = make_checkpoint(tmp_path / "trial_1" / "checkpoint")
    with pytest.raises(CheckpointError) as caught:
        find_checkpoint(str(tmp_path))
    message = str(caught.value)
    assert "2 checkpoints" in message and "not guessed" in message
    assert str(first.resolve()) in message and str(second.resolve()) in message


def test_too_deep_is_a_miss(tmp_path):
    make_checkpoint(tmp_path / "a" / "b" / "c" / "d")
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        find_checkpoint(str(tmp_path))
    assert find_checkpoint(str(tmp_path), max_depth=4) == (tmp_path / "a/b/c/d").resolve()
    with pytest.raises(CheckpointError):
        find_checkpoint(str(tmp_path / "a"), max_depth=1)


def test_a_miss_lists_every_searched_folder_and_the_fix(tmp_path):
    for sub in ("x", "x/y", "z"):
        (tmp_path / sub).mkdir(parents=True)
    partial = tmp_path / "z" / "checkpoint"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    (partial / "manifest.json").write_text("{}")
    with pytest.raises(CheckpointError) as caught:
        find_checkpoint(str(tmp_path))
    message = str(caught.value)
    for folder in (tmp_path, tmp_path / "x", tmp_path / "x" / "y", tmp_path / "z", partial):
        assert f"  {folder}: missing" in message
    assert f"{partial}: missing model.safetensors, label_map.json" in message
    assert "manifest.json" in message
    assert all(name in message for name in MARKERS)
    assert "Point checkpoint= at" in message and "run directory" in message


def test_no_such_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such folder"):
        find_checkpoint(str(tmp_path / "absent"))


def test_a_long_miss_is_shortened(tmp_path):
    for i in range(discovery.MAX_LISTED + 5):
        (tmp_path / f"d{i:02d}").mkdir()
    with pytest.raises(CheckpointError, match=r"\.\.\. and 6 more folder"):
        find_checkpoint(str(tmp_path))


@pytest.mark.parametrize("ref", ["runs:/", "models:/", "models:/name", "models:/a/b/c"])
def test_malformed_references(ref, tmp_path):
    with pytest.raises(CheckpointError, match="write a"):
        find_checkpoint(ref, tracking_uri=f"sqlite:///{tmp_path}/absent.db")


# --------------------------------------------------------------------------- MLflow


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """(uri, client, experiment id, folder) of one SQLite store with local artifacts."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("discovery", (root / "artifacts").as_uri())
    return uri, client, experiment, root


def new_run(store, tags: dict[str, str] | None = None) -> str:
    _, client, experiment, _ = store
    run = client.create_run(experiment, tags=tags or {})
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_run_by_its_checkpoint_dir_tag(store, tmp_path):
    folder = make_checkpoint(tmp_path / "run" / "checkpoint")
    run_id = new_run(store, {"checkpoint_dir": str(folder)})
    assert find_checkpoint(f"runs:/{run_id}", tracking_uri=store[0]) == folder.resolve()
    assert find_checkpoint(f"runs:/{run_id}/checkpoint", tracking_uri=store[0]) == folder.resolve()


def test_run_falls_back_to_its_artifacts(store, tmp_path):
    _, client, _, _ = store
    folder = make_checkpoint(tmp_path / "gone" / "checkpoint")
    run_id = new_run(store, {"checkpoint_dir": str(tmp_path / "elsewhere")})
    client.log_artifacts(run_id, str(folder), "checkpoint")
    found = find_checkpoint(f"runs:/{run_id}", tracking_uri=store[0])
    assert found.name == "checkpoint" and run_id in str(found)
    assert sorted(p.name for p in found.iterdir()) == sorted(MARKERS)
    client.log_artifacts(run_id, str(folder), "other/checkpoint")
    assert find_checkpoint(f"runs:/{run_id}/other", tracking_uri=store[0]).parent.name == "other"


def test_run_without_checkpoint_lists_the_tag_and_the_artifacts(store, tmp_path):
    run_id = new_run(store, {"checkpoint_dir": str(tmp_path / "deleted")})
    with pytest.raises(CheckpointError) as caught:
        find_checkpoint(f"runs:/{run_id}", tracking_uri=store[0])
    message = str(caught.value)
    assert f"{tmp_path / 'deleted'}: no such folder (the run's checkpoint_dir tag)" in message
    assert f"{run_id}/artifacts/checkpoint: no such folder" in message


def test_unknown_run(store):
    with pytest.raises(CheckpointError, match="no run 0123abcd"):
        find_checkpoint("runs:/0123abcd", tracking_uri=store[0])


def test_missing_store_is_a_tracking_error(tmp_path):
    with pytest.raises(TrackingError, match="no MLflow store"):
        find_checkpoint("runs:/abc", tracking_uri=f"sqlite:///{tmp_path}/none.db")
    assert not (tmp_path / "none.db").exists()


@pytest.fixture(scope="module")
def registered(store, tmp_path_factory):
    """Model 'resume-ner' with version 1 (file:// source) aliased champion."""
    _, client, _, _ = store
    folder = make_checkpoint(tmp_path_factory.mktemp("registered") / "checkpoint")
    run_id = new_run(store)
    client.create_registered_model("resume-ner")
    version = client.create_model_version("resume-ner", folder.as_uri(), run_id)
    client.set_registered_model_alias("resume-ner", "champion", version.version)
    return folder.resolve()


def test_model_by_alias_and_version(store, registered):
    assert find_checkpoint("models:/resume-ner@champion", tracking_uri=store[0]) == registered
    assert find_checkpoint("models:/resume-ner/1", tracking_uri=store[0]) == registered


def test_unknown_alias_is_named(store, registered):
    with pytest.raises(CheckpointError) as caught:
        find_checkpoint("models:/resume-ner@staging", tracking_uri=store[0])
    message = str(caught.value)
    assert "'resume-ner' has no alias 'staging'" in message
    assert "champion->1" in message


def test_unknown_model(store):
    with pytest.raises(CheckpointError, match="'nobody' has no version '3'"):
        find_checkpoint("models:/nobody/3", tracking_uri=store[0])


def test_model_from_run_artifacts(store, tmp_path):
    _, client, _, _ = store
    folder = make_checkpoint(tmp_path / "checkpoint")
    run_id = new_run(store)
    client.log_artifacts(run_id, str(folder), "checkpoint")
    source = client.get_run(run_id).info.artifact_uri + "/checkpoint"
    client.create_registered_model("from-artifacts")
    client.create_model_version("from-artifacts", source, run_id)
    found = find_checkpoint("models:/from-artifacts/1", tracking_uri=store[0])
    assert run_id in str(found) and found.name == "checkpoint"


def test_model_whose_source_is_gone(store, tmp_path):
    _, client, _, _ = store
    folder = make_checkpoint(tmp_path / "checkpoint")
    client.create_registered_model("gone")
    client.create_model_version("gone", folder.as_uri(), new_run(store))
    shutil.rmtree(folder)
    with pytest.raises(CheckpointError) as caught:
        find_checkpoint("models:/gone/1", tracking_uri=store[0])
    message = str(caught.value)
    assert f"-> {folder.as_uri()}" in message and f"{folder}: no such folder" in message


def test_remote_artifacts_are_downloaded_once(monkeypatch, tmp_path):
    import mlflow.artifacts

    source = make_checkpoint(tmp_path / "remote")
    calls = []

    def fake_download(artifact_uri, dst_path, tracking_uri):
        calls.append(artifact_uri)
        return shutil.copytree(source, Path(dst_path) / "checkpoint")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", fake_download)
    monkeypatch.setenv(discovery.CACHE_ENV, str(tmp_path / "cache"))
    uri = "s3://bucket/1/abc/artifacts/checkpoint"
    first = discovery.from_artifacts(uri, Search(uri), 3, tracking_uri="http://x")
    second = discovery.from_artifacts(uri, Search(uri), 3, tracking_uri="http://x")
    assert first == second and first.is_relative_to((tmp_path / "cache").resolve())
    assert calls == [uri]
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".download-")]


def test_a_started_run_is_listed_first_with_its_manifest(tmp_path):
    for i in range(discovery.MAX_LISTED + 5):
        (tmp_path / f"d{i:02d}").mkdir()
    started = tmp_path / "zz" / "checkpoint"
    started.mkdir(parents=True)
    (started / "manifest.json").write_text("{}")
    with pytest.raises(CheckpointError) as caught:
        find_checkpoint(str(tmp_path))
    lines = str(caught.value).splitlines()
    assert lines[1].startswith(f"  {started}: missing all of") and "manifest.json" in lines[1]
