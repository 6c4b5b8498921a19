"""Each check made before anything is submitted: a bad spec fails with the config key and the
fix named, before any client exists (the SDK accepts these; the service refuses them later)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml")

from resume_ner.azure.checks import check_command, check_job
from resume_ner.azure.environment import job_environment
from resume_ner.azure.inputs import checkpoint_input, parse_asset
from resume_ner.azure.jobs import JobOptions, command_job, sweep_job
from resume_ner.azure.snapshot import check_snapshot, code_root, snapshot
from resume_ner.config.compose import compose_train
from resume_ner.errors import ConfigError, RemoteError

REMOTE = ["env=azure", "compute=gpu-cluster"]


def checked_sweep(*overrides: str, arguments: tuple[str, ...] = ()):
    cfg = compose_train(["hpo=smoke", *REMOTE, *overrides])
    root = code_root()
    env = job_environment(cfg.env, cfg.compute, root)
    remote = sweep_job(cfg, list(arguments), options=JobOptions(), root=root, environment=env)
    check_job(remote.job, cfg, "sweep")
    return remote


def test_the_shipped_searches_pass():
    checked_sweep()
    cfg = compose_train(["hpo=prod", *REMOTE])
    sweep_job(cfg, [], options=JobOptions(), root=code_root(), environment="azureml:e:1")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["hpo.sampling=grid"], "hpo.sampling=grid"),
        (
            ["hpo.sampling=bayesian", "hpo.early_termination.policy=none"],
            "hpo.search_space.learning_rate is loguniform",
        ),
        (
            ["hpo.sampling=bayesian", "hpo.search_space.learning_rate.type=uniform"],
            "hpo.early_termination.policy=none",
        ),
        (["hpo.limits.max_concurrent=5"], "1 <= max_concurrent <= hpo.limits.max_trials (4)"),
        (["hpo.limits.max_concurrent=0"], "hpo.limits.max_concurrent=0"),
    ],
)
def test_a_sweep_azure_would_refuse_is_refused_first(overrides, expected):
    with pytest.raises((RemoteError, ConfigError)) as caught:
        checked_sweep(*overrides)
    assert expected in str(caught.value)


def test_grid_sampling_takes_integer_ranges_as_choices():
    remote = checked_sweep(
        "hpo.sampling=grid",
        "~hpo.search_space.learning_rate",
        arguments=("training.epochs=int(interval(1, 3))",),
    )
    (name,) = [n for n in remote.job.search_space if n != "batch_size"]
    assert remote.job.search_space[name].values == [1, 2, 3]


class _Job:
    """The attributes check_command reads, for commands the builders never write."""

    def __init__(self, command, inputs=None, outputs=None, search_space=None):
        self.type = "sweep" if search_space is not None else "command"
        self.command = command
        self.inputs = inputs or {}
        self.outputs = outputs or {}
        self.search_space = search_space


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python -m x data.path=${inputs.data}", "malformed placeholder"),
        ("python -m x data.path=${{{inputs.data}}}", "malformed placeholder"),
        ("python -m x data.path={{inputs.data}}", "malformed placeholder"),
        ("python -m x data.path=${{inputs.dat}}", "defines no inputs 'dat'"),
        ("python -m x o=${{outputs.model}}", "defines no outputs 'model'"),
        ("python -m x lr=${{search_space.lr}}", "defines no search_space 'lr'"),
        ("python -m x lr=${{params.lr}}", "not an Azure ML placeholder"),
    ],
)
def test_every_placeholder_is_well_formed_and_defined(command, expected):
    job = _Job(
        command, inputs={"data": object()}, outputs={"checkpoint": object()}, search_space={}
    )
    with pytest.raises(RemoteError) as caught:
        check_command(job, "job 0")
    assert expected in str(caught.value)


def test_a_dimension_the_command_never_reads_is_refused():
    job = _Job("python -m x", search_space={"lr": object()})
    with pytest.raises(RemoteError, match=r"hpo\.search_space\.lr"):
        check_command(job, "sweep")


@pytest.mark.parametrize(
    "ref",
    [
        "resumes",
        "resumes:latest",
        "azureml://datastores/x/paths/y",
        "./train.jsonl",
        "azureml:resumes",
    ],
)
def test_asset_references_must_be_name_and_version(ref):
    with pytest.raises(RemoteError, match="NAME:VERSION"):
        parse_asset(ref, "data.asset")


def test_asset_references_in_both_forms():
    assert parse_asset("resumes:3", "data.asset").uri == "azureml:resumes:3"
    assert parse_asset("azureml:resumes:3", "data.asset").uri == "azureml:resumes:3"


def test_a_local_file_is_refused_for_a_remote_run():
    cfg = compose_train([*REMOTE, "data=files", "data.path=resumes.jsonl"])
    with pytest.raises(RemoteError, match=r"data\.asset=NAME:VERSION"):
        command_job(cfg, "train", [], options=JobOptions(), root=code_root(), environment="e")


def test_a_remote_conversion_reads_a_job_output_or_a_registered_model():
    assert checkpoint_input("azureml://jobs/sweep_1/outputs/checkpoint").type == "uri_folder"
    assert checkpoint_input("azureml:ner-checkpoint:2").type == "custom_model"
    with pytest.raises(RemoteError, match="not on the cluster"):
        checkpoint_input("runs/best/checkpoint")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["compute=local"], "compute=gpu-cluster"),
        (["compute.instance_count=2"], "compute.instance_count=1"),
        (["tracking.uri=sqlite:///mlflow.db"], "Leave tracking.uri unset"),
    ],
)
def test_compute_and_tracking_must_fit_a_remote_run(overrides, expected):
    cfg = compose_train(["env=azure", "compute=gpu-cluster", *overrides])
    with pytest.raises(RemoteError) as caught:
        remote = command_job(
            cfg, "train", [], options=JobOptions(), root=code_root(), environment="e"
        )
        check_job(remote.job, cfg, "job 0")
    assert expected in str(caught.value)


def test_the_snapshot_carries_conf_and_the_package_not_outputs():
    shot = snapshot(code_root())
    check_snapshot(shot)
    assert "conf/train.yaml" in shot.files
    assert "conf/data/sample.yaml" in shot.files  # not caught by the data/ pattern
    assert "resume_ner/data/load.py" in shot.files
    assert "launchers/hydra_plugins/resume_ner_launcher/azureml_launcher.py" in shot.files
    assert not [f for f in shot.files if f.startswith((".venv/", ".git/", "outputs/", "tests/"))]


def test_a_snapshot_that_would_lose_conf_is_refused(tmp_path):
    root = tmp_path / "repo"
    for name in (
        "conf/train.yaml",
        "conf/data/sample.yaml",
        "resume_ner/__init__.py",
        "pyproject.toml",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / ".amlignore").write_text("data/\n")  # unanchored: drops conf/data/ too
    with pytest.raises(RemoteError, match=r"conf/data/sample\.yaml"):
        check_snapshot(snapshot(root))


def test_a_data_asset_is_not_read_locally():
    from resume_ner.data.load import load_splits

    cfg = compose_train(["data.asset=resumes:3"])
    with pytest.raises(ConfigError, match="hydra/launcher=azureml"):
        load_splits(cfg.data)


def test_grid_without_choices_fails_in_the_shared_search_definition():
    with pytest.raises(ConfigError, match="no grid"):
        checked_sweep("hpo.sampling=grid")


@pytest.mark.slow
def test_the_snapshot_lists_what_the_sdk_would_upload_from_the_root():
    """Our pruned walk reads .amlignore as the SDK does: the same files (the SDK's own walk
    enters ignored folders such as .venv/, hence slow)."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file, get_upload_files_from_folder

    root = code_root()
    sdk = get_upload_files_from_folder(root, ignore_file=get_ignore_file(root))
    listed = {Path(local).resolve().relative_to(root).as_posix() for local, _ in sdk}
    assert set(snapshot(root).files) == listed


def test_what_the_jobs_entrypoint_would_refuse_is_refused_before_sending(tmp_path):
    from resume_ner.azure.remote import LaunchOptions, launch_sweep

    cfg = compose_train(["hpo=smoke", *REMOTE])
    cfg.hpo.objective.goal = "maximise"  # as a config file could say it
    with pytest.raises(ConfigError, match="maximize, minimize"):
        launch_sweep(cfg, [], LaunchOptions(dry_run=True), tmp_path)
    assert not (tmp_path / "azureml").exists()
