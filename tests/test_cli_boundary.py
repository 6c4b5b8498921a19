"""The command-line boundary: Hydra's own groups and keys pass the override check, the hpo
vocabulary is checked before anything runs, and a user error is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resume_ner.cli import check_override_keys, exit_on_user_error
from resume_ner.config.checks import check_config, check_override_values
from resume_ner.config.compose import compose_train
from resume_ner.errors import ConfigError, DataError

HYDRA_OVERRIDES = [
    "hydra/launcher=basic",
    "hydra/sweeper=basic",
    "hydra/job_logging=disabled",
    "hydra/hydra_logging=disabled",
    "hydra.job.chdir=true",
    "hydra.run.dir=somewhere",
    "hydra.sweep.dir=elsewhere",
    "hydra.launcher.n_jobs=2",
]


def test_hydra_groups_and_keys_reach_hydra_untouched():
    check_override_keys(HYDRA_OVERRIDES, "train")


@pytest.mark.parametrize("hydra_override", HYDRA_OVERRIDES[:3])
def test_misspelt_project_keys_are_still_caught_beside_hydra_ones(hydra_override):
    with pytest.raises(ConfigError, match=r"Did you mean 'training\.learning_rate'"):
        check_override_keys([hydra_override, "training.lerning_rate=1e-4"], "train")


@pytest.mark.parametrize(
    ("override", "valid"),
    [
        ("hpo.objective.goal=maximise", "maximize, minimize"),
        ("hpo.objective.metric=macro-f1", "val_macro-f1"),
        ("hpo.objective.metric=val_macro_f1", "val_macro-f1"),
        ("hpo.sampling=tpe", "random, grid, bayesian"),
        ("hpo.sampling=random,tpe", "random, grid, bayesian"),
        ("hpo.early_termination.policy=bandits", "bandit, median, truncation, none"),
        ("hpo.search_space.epochs.type=randnit", "choice, uniform, loguniform, quniform"),
    ],
)
def test_a_value_outside_the_hpo_vocabulary_is_refused_with_the_valid_ones(override, valid):
    with pytest.raises(ConfigError, match=valid):
        check_override_values([override])
    # The composed config is checked too (a sweep's last value stands in for one job).
    key, value = override.split("=")
    with pytest.raises(ConfigError, match=valid):
        compose_train(["hpo=prod", f"{key}={value.split(',')[-1]}"])


@pytest.mark.parametrize(
    "override",
    [
        "hpo.objective.goal=minimize",
        "hpo.objective.metric=val_loss",
        "hpo.objective.metric=val_f1_skills",
        "hpo.sampling=random,grid,bayesian",
        "hpo.early_termination.policy=median",
        "training.epochs=3",
    ],
)
def test_values_inside_the_vocabulary_pass(override):
    check_override_values([override])
    if "," not in override:
        compose_train(["hpo=prod", override])


def test_every_shipped_hpo_option_passes_the_checks():
    for option in ("none", "smoke", "prod"):
        check_config(compose_train([f"hpo={option}"]))


def test_the_objective_is_the_key_training_logs():
    assert compose_train([]).hpo.objective.metric == "val_macro-f1"


def test_a_search_dimension_type_is_checked():
    cfg = compose_train(["hpo=prod"])
    cfg.hpo.search_space.batch_size.type = "lognormal"
    with pytest.raises(ConfigError, match="choice, uniform, loguniform, quniform, randint"):
        check_config(cfg)


def test_a_user_error_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info, exit_on_user_error():
        raise DataError("train.jsonl:3: bad offsets; fix the record or data.skip_invalid=true")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: train.jsonl:3: bad offsets; fix the record or data.skip_invalid=true\n"


def test_other_exceptions_pass_the_boundary_untouched():
    with pytest.raises(KeyError), exit_on_user_error():
        raise KeyError("a bug, with its traceback")


# ----------------------------------------------------------------- the real command line


def _train(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resume_ner.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=180,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "printed"),
    [
        (["--cfg", "hydra", "hydra/launcher=basic"], "BasicLauncher"),
        (["--cfg", "hydra", "hydra/sweeper=basic"], "BasicSweeper"),
        (["--cfg", "hydra", "hydra/job_logging=disabled"], "job_logging"),
        (["--cfg", "job", "hydra/job_logging=disabled", "hydra.job.chdir=true"], "minilm"),
    ],
)
def test_hydra_group_overrides_work_in_a_single_run(tmp_path, args, printed):
    result = _train(args, tmp_path)
    assert result.returncode == 0, result.stderr
    assert printed in result.stdout


@pytest.mark.slow
def test_an_unknown_launcher_gets_hydras_list_of_launchers(tmp_path):
    result = _train(["--cfg", "job", "hydra/launcher=nope"], tmp_path)
    assert result.returncode != 0
    assert "unknown config key" not in result.stderr
    assert "Available options in 'hydra/launcher'" in result.stderr
    assert "basic" in result.stderr


@pytest.mark.slow
def test_hydra_group_overrides_work_with_multirun(tmp_path):
    """-m with a launcher, a sweeper and logging chosen: Hydra launches both jobs; each
    fails on the missing model folder with the project's one-line error."""
    result = _train(
        [
            "-m",
            "hydra/launcher=basic",
            "hydra/sweeper=basic",
            "hydra/job_logging=disabled",
            "model.pretrained=./no-such-model",
            "training.epochs=1,2",
        ],
        tmp_path,
    )
    output = result.stdout + result.stderr
    assert "Launching 2 jobs locally" in output
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "error: model.pretrained=./no-such-model: no such folder" in result.stderr


@pytest.mark.slow
def test_a_misspelt_hpo_value_fails_before_hydra_runs(tmp_path):
    result = _train(["-m", "hpo=smoke", "hpo.objective.goal=maximise"], tmp_path)
    assert result.returncode == 2
    assert "error: hpo.objective.goal=maximise: choose one of maximize, minimize" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "multirun").exists()
