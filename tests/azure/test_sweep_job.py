"""The hpo config as one Azure ML sweep job: built with the real SDK, dumped to YAML, loaded
back with azure.ai.ml.load_job and checked field by field against the config. Nothing is
sent anywhere: these tests stop before a client exists."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml")

from azure.ai.ml import load_job
from omegaconf import OmegaConf

from resume_ner.azure.environment import job_environment
from resume_ner.azure.jobs import JobOptions, command_job, sweep_job
from resume_ner.azure.remote import as_job
from resume_ner.azure.snapshot import code_root
from resume_ner.config.compose import compose_train

REMOTE = ["env=azure", "compute=gpu-cluster"]


def build_sweep(overrides: list[str], arguments: list[str] | None = None):
    cfg = compose_train([*overrides, *REMOTE])
    root = code_root()
    env = job_environment(cfg.env, cfg.compute, root)
    args = [*overrides, *REMOTE] if arguments is None else arguments
    return cfg, sweep_job(cfg, args, options=JobOptions(), root=root, environment=env)


def round_trip(job, tmp_path: Path):
    path = tmp_path / "job.yaml"
    as_job(job).dump(path)
    return load_job(path)


def dumped(job, tmp_path: Path) -> dict:
    import yaml

    path = tmp_path / "dumped.yaml"
    as_job(job).dump(path)
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("hpo", ["smoke", "prod"])
def test_dry_run_yaml_matches_the_hpo_config_field_by_field(hpo, tmp_path):
    cfg, remote = build_sweep([f"hpo={hpo}"])
    loaded = round_trip(remote.job, tmp_path)
    h = cfg.hpo
    assert loaded.type == "sweep"
    assert loaded.objective.primary_metric == h.objective.metric
    assert loaded.objective.goal.lower() == h.objective.goal
    assert loaded.limits.max_total_trials == h.limits.max_trials
    assert loaded.limits.max_concurrent_trials == h.limits.max_concurrent
    assert loaded.limits.timeout == h.limits.timeout
    assert loaded.limits.trial_timeout == h.limits.trial_timeout
    assert loaded.sampling_algorithm.type == h.sampling
    assert loaded.sampling_algorithm.seed == h.seed
    policy = loaded.early_termination
    assert policy.type == h.early_termination.policy
    assert policy.evaluation_interval == h.early_termination.evaluation_interval
    assert policy.delay_evaluation == h.early_termination.delay_evaluation
    assert policy.slack_factor == pytest.approx(h.early_termination.slack_factor)
    assert set(loaded.search_space) == set(h.search_space)
    command = loaded.trial.command
    for name, dim in h.search_space.items():
        dist = loaded.search_space[name]
        assert f"{dim.param}=${{{{search_space.{name}}}}}" in command
        if dim.type == "loguniform":
            # Azure's bounds are natural logarithms of the configured values.
            assert dist.type == "loguniform"
            assert math.exp(dist.min_value) == pytest.approx(dim.min)
            assert math.exp(dist.max_value) == pytest.approx(dim.max)
        elif dim.type == "uniform":
            assert (dist.min_value, dist.max_value) == (dim.min, dim.max)
        elif dim.type == "choice":
            assert dist.values == list(dim["values"])
        elif dim.type == "randint":
            # Inclusive min..max, as ints: Azure's Randint has no lower bound.
            assert dist.type == "choice"
            assert dist.values == list(range(int(dim.min), int(dim.max) + 1))
            assert all(type(v) is int for v in dist.values)
    for override in h.trial_overrides:
        assert override in shlex.split(command)
    assert command.startswith("python -m resume_ner.train ")
    assert "training.output_dir=${{outputs.checkpoint}}" in command
    assert loaded.outputs["checkpoint"].mode == "rw_mount"
    assert loaded.outputs["checkpoint"].type == "uri_folder"
    assert loaded.compute.endswith("gpu-cluster")
    assert Path(loaded.trial.code).resolve() == code_root()
    assert loaded.experiment_name == cfg.tracking.experiment_name


def test_the_trial_command_keeps_the_runs_overrides_less_the_launcher_and_sweep(tmp_path):
    arguments = [
        "hpo=smoke",
        *REMOTE,
        "hydra/launcher=azureml",
        "hydra.launcher.dry_run=true",
        "training.weight_decay=0.05",
        "training.warmup_ratio=interval(0.0, 0.2)",
    ]
    cfg, remote = build_sweep(["hpo=smoke", "training.weight_decay=0.05"], arguments)
    words = shlex.split(round_trip(remote.job, tmp_path).trial.command)
    assert "training.weight_decay=0.05" in words
    assert words[:3] == ["python", "-m", "resume_ner.train"]
    assert not [w for w in words[3:] if w.startswith("hydra") or w == "-m"]
    # The swept override became a dimension read from its placeholder.
    assert "training.warmup_ratio=${{search_space.training_warmup_ratio}}" in words or any(
        w.startswith("training.warmup_ratio=${{search_space.") for w in words
    )
    assert not [w for w in words if "interval(" in w]
    assert len(remote.job.search_space) == len(cfg.hpo.search_space) + 1


def test_a_data_asset_is_an_input_by_reference_read_from_its_placeholder(tmp_path):
    _, remote = build_sweep(["hpo=smoke", "data=dataturks", "data.asset=resumes:3"])
    data = dumped(remote.job, tmp_path)["inputs"]["data"]
    assert data == {"type": "uri_file", "path": "azureml:resumes:3", "mode": "ro_mount"}
    loaded = round_trip(remote.job, tmp_path)
    assert loaded.inputs["data"].path.endswith("resumes:3")
    words = shlex.split(loaded.trial.command)
    assert "data.path=${{inputs.data}}" in words
    assert not [w for w in words if w.startswith("data.asset")]


def test_a_folder_asset_names_the_file_inside_it(tmp_path):
    _, remote = build_sweep(
        ["hpo=smoke", "data.asset=azureml:resumes:4", "data.asset_file=train.jsonl"]
    )
    loaded = round_trip(remote.job, tmp_path)
    assert loaded.inputs["data"].type == "uri_folder"
    words = shlex.split(loaded.trial.command)
    assert "data.path=${{inputs.data}}/train.jsonl" in words
    assert "data=files" in words  # the sample group gives way to the asset


def test_settings_without_an_azure_counterpart_are_named():
    _, remote = build_sweep(
        [
            "hpo=smoke",
            "hpo.sampling=bayesian",
            "hpo.early_termination.policy=none",
            "hpo.search_space.learning_rate.type=uniform",
        ]
    )
    notes = " ".join(remote.notes)
    assert "hpo.startup_trials" in notes
    assert "hpo.seed" in notes
    assert "max_failed_fraction" in notes
    assert remote.job.sampling_algorithm == "bayesian"


def test_a_command_job_per_run_with_its_overrides(tmp_path):
    overrides = [
        *REMOTE,
        "model=distilbert",
        "training.learning_rate=3e-05",
        "hydra/launcher=azureml",
    ]
    cfg = compose_train([o for o in overrides if not o.startswith("hydra")])
    root = code_root()
    remote = command_job(
        cfg,
        "train",
        overrides,
        options=JobOptions(experiment_name="exp", tags={"team": "nlp"}),
        root=root,
        environment="azureml:resume-ner:7",
    )
    loaded = round_trip(remote.job, tmp_path)
    words = shlex.split(loaded.command)
    assert words[:3] == ["python", "-m", "resume_ner.train"]
    assert "model=distilbert" in words and "training.learning_rate=3e-05" in words
    assert not [w for w in words if w.startswith("hydra")]
    assert loaded.experiment_name == "exp"
    assert loaded.tags["team"] == "nlp"
    assert dumped(remote.job, tmp_path)["environment"] == "azureml:resume-ner:7"
    assert loaded.type == "command"


def test_the_generated_environment_has_the_projects_pins():
    import tomllib

    cfg = compose_train(REMOTE)
    env = job_environment(cfg.env, cfg.compute, code_root())
    pinned = tomllib.loads((code_root() / "pyproject.toml").read_text())["project"]
    pip = next(d for d in env.conda_file["dependencies"] if isinstance(d, dict))["pip"]
    for requirement in pinned["dependencies"]:
        assert requirement in pip
    assert env.image == cfg.env.environment_image
    # A GPU cluster gets the CUDA build of torch; a CPU cluster the CPU index.
    assert not [p for p in pip if "whl/cpu" in p]
    cpu = compose_train(["env=azure", "compute=cpu-cluster"])
    cpu_env = job_environment(cpu.env, cpu.compute, code_root())
    cpu_pip = next(d for d in cpu_env.conda_file["dependencies"] if isinstance(d, dict))["pip"]
    assert [p for p in cpu_pip if "whl/cpu" in p]


def test_a_registered_environment_is_referenced_not_built():
    env_cfg = OmegaConf.create({"environment": "resume-ner@latest", "environment_image": "x"})
    assert job_environment(env_cfg, OmegaConf.create({}), code_root()) == (
        "azureml:resume-ner@latest"
    )
