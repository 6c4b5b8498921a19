"""`hydra/launcher=azureml` from the real command line, as a user types it: dry runs write
job YAML that loads back with azure.ai.ml.load_job; a bad spec, a job inside a job and a
missing workspace end in one line and exit 2, with nothing submitted. No test here gets as
far as a network call (those are in test_remote_submission.py, through a recording
transport)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("azure.ai.ml")

REMOTE = ["hydra/launcher=azureml", "env=azure", "compute=gpu-cluster"]
# Workspace variables a developer's shell may hold: each test says what it has.
AZURE_ENV = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME")


def _run(module: str, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in AZURE_ENV and not k.startswith(("AZUREML_", "AZURE_ML_"))
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**clean, "HF_HUB_OFFLINE": "1", **env},
        timeout=180,
    )


def _yamls(sweep_dir: Path) -> list[dict]:
    from azure.ai.ml import load_job

    files = sorted((sweep_dir / "azureml").glob("*.yaml"))
    for path in files:
        load_job(path)  # valid for `az ml job create --file`
    return [yaml.safe_load(path.read_text()) for path in files]


@pytest.mark.slow
@pytest.mark.parametrize("hpo", ["smoke", "prod"])
def test_a_search_is_one_sweep_job_in_the_dry_run(hpo, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = _run(
        "resume_ner.train",
        [
            "-m",
            f"hpo={hpo}",
            *REMOTE,
            "hydra.launcher.dry_run=true",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (job,) = _yamls(sweep_dir)
    assert job["type"] == "sweep"
    assert job["objective"] == {"goal": "maximize", "primary_metric": "val_macro-f1"}
    assert "not applied on Azure ML: hpo.limits.max_failed_fraction" in result.stdout
    assert "python -m resume_ner.train" in job["trial"]["command"]
    assert not (tmp_path / "studies").exists()  # no local study was started


@pytest.mark.slow
def test_a_multirun_without_hpo_is_one_command_job_per_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = _run(
        "resume_ner.train",
        [
            "-m",
            *REMOTE,
            "model=minilm,distilbert",
            "training.learning_rate=1e-5,3e-5",
            "hydra.launcher.dry_run=true",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    jobs = _yamls(sweep_dir)
    assert len(jobs) == 4
    assert {j["type"] for j in jobs} == {"command"}
    commands = {j["command"] for j in jobs}
    assert len(commands) == 4
    assert any("model=distilbert" in c and "training.learning_rate=3e-05" in c for c in commands)


@pytest.mark.slow
def test_without_m_the_launcher_still_gets_the_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = _run(
        "resume_ner.train",
        [*REMOTE, "hydra.launcher.dry_run=true", f"hydra.sweep.dir={sweep_dir}"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "submitting as a multirun" in result.stderr
    (job,) = _yamls(sweep_dir)
    assert job["type"] == "command"
    assert not (tmp_path / "outputs").exists()  # nothing trained here


@pytest.mark.slow
def test_conversion_and_data_validation_run_as_command_jobs(tmp_path):
    convert_dir = tmp_path / "convert"
    result = _run(
        "resume_ner.convert",
        [
            "-m",
            "hydra/launcher=azureml",
            "env=azure",
            "compute=cpu-cluster",
            "checkpoint=azureml://jobs/sweep_7/outputs/checkpoint",
            "data.asset=resumes:3",
            "hydra.launcher.dry_run=true",
            f"hydra.sweep.dir={convert_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (job,) = _yamls(convert_dir)
    assert job["inputs"]["checkpoint"]["path"] == "azureml://jobs/sweep_7/outputs/checkpoint"
    assert job["inputs"]["data"]["path"] == "azureml:resumes:3"
    assert "checkpoint=${{inputs.checkpoint}}" in job["command"]
    assert "output=${{outputs.package}}" in job["command"]
    assert job["outputs"]["package"]["mode"] == "rw_mount"

    data_dir = tmp_path / "data"
    result = _run(
        "resume_ner.data",
        [
            "validate",
            "-m",
            "hydra/launcher=azureml",
            "env=azure",
            "compute=cpu-cluster",
            "data.asset=resumes:3",
            "hydra.launcher.dry_run=true",
            f"hydra.sweep.dir={data_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (job,) = _yamls(data_dir)
    assert job["command"].startswith("python -m resume_ner.data validate ")
    assert "data.path=${{inputs.data}}" in job["command"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["hpo.sampling=bayesian"], "error: hpo.sampling=bayesian"),
        (["hpo.limits.max_concurrent=9"], "error: hpo.limits.max_concurrent=9"),
        (["data.asset=resumes"], "error: data.asset=resumes: give a registered asset"),
        (["compute=local"], "compute=gpu-cluster"),
    ],
)
def test_a_bad_spec_is_one_line_before_anything_is_written(args, expected, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = _run(
        "resume_ner.train",
        [
            "-m",
            "hpo=smoke",
            *REMOTE,
            *args,
            "hydra.launcher.dry_run=true",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sweep_dir / "azureml").exists()


@pytest.mark.slow
def test_code_inside_an_azure_ml_job_never_submits_another(tmp_path):
    result = _run(
        "resume_ner.train",
        ["-m", *REMOTE, "hydra.launcher.dry_run=true", f"hydra.sweep.dir={tmp_path / 's'}"],
        tmp_path,
        AZUREML_RUN_ID="job_1",
    )
    assert result.returncode == 2
    assert "inside an Azure ML job" in result.stderr


@pytest.mark.slow
def test_no_workspace_configured_says_what_to_set(tmp_path):
    result = _run(
        "resume_ner.train",
        ["-m", *REMOTE, f"hydra.sweep.dir={tmp_path / 's'}"],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "AZURE_SUBSCRIPTION_ID" in result.stderr
    assert "Traceback" not in result.stderr
