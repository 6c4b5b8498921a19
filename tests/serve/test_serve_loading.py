"""What `model=` may name: a package folder, or a registered package version; anything else
stops the start with one message saying what to give."""

from __future__ import annotations

import shutil

import pytest

from resume_ner.errors import CheckpointError, ConfigError
from resume_ner.serve.loading import resolve_package


def test_a_package_folder(tiny_package):
    assert resolve_package(str(tiny_package)) == (tiny_package.resolve(), None)


@pytest.mark.parametrize("ref", [None, ""])
def test_no_model_says_what_to_give(ref):
    with pytest.raises(ConfigError, match="model is not set: give model=<a package folder>"):
        resolve_package(ref)


def test_a_missing_folder_and_a_checkpoint_are_refused(tmp_path, tiny_package):
    with pytest.raises(CheckpointError, match="no such folder"):
        resolve_package(str(tmp_path / "nope"))
    checkpoint = tiny_package.parent / "checkpoint"
    with pytest.raises(CheckpointError, match="is not a converted package"):
        resolve_package(str(checkpoint))


def test_a_registered_version_by_alias(tmp_path, tiny_package, mlflow_template):
    from mlflow import MlflowClient

    from resume_ner.model_registry import register_version

    db = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("x")).info.run_id
    register_version(
        client,
        "ner-onnx",
        tiny_package.as_uri(),
        run_id=run,
        alias="champion",
        tags={},
        description="",
        setting="convert.model_name",
    )
    assert resolve_package("models:/ner-onnx@champion", uri) == (tiny_package.resolve(), "1")
    with pytest.raises(CheckpointError, match="model=models:/ner-onnx@nope"):
        resolve_package("models:/ner-onnx@nope", uri)
    with pytest.raises(ConfigError, match="models:/<name>@<alias>"):
        resolve_package("models:/", uri)
