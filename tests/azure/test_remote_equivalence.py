"""The same command line searches the same trial config on both backends: the config a local
study's trial composes and the one Azure ML's trial command composes are the same, apart
from the sampled values (given the same here) and where the run writes and logs."""

from __future__ import annotations

import shlex

import pytest

pytest.importorskip("azure.ai.ml")

from omegaconf import OmegaConf

from resume_ner.azure.command import PLACEHOLDER
from resume_ner.azure.jobs import JobOptions, sweep_job
from resume_ner.azure.snapshot import code_root
from resume_ner.config.compose import compose_train
from resume_ner.hpo.dimension import format_value
from resume_ner.hpo.local import build_spec
from resume_ner.hpo.trial import trial_overrides

# Where a run writes and logs, and its threads: set per machine, not part of what it trains.
PER_MACHINE = ("tracking.uri", "training.num_threads", "training.output_dir", "training.resume")


def _without(cfg, keys):
    plain = OmegaConf.to_container(cfg, resolve=True)
    for key in keys:
        section, name = key.split(".")
        plain[section].pop(name, None)
    return plain


@pytest.mark.parametrize(
    "command_line",
    [
        ["hpo=smoke"],
        ["hpo=prod", "model=distilbert", "training.weight_decay=0.05"],
        ["hpo=smoke", "training.warmup_ratio=interval(0.0, 0.2)", "model=minilm,distilbert"],
    ],
)
def test_local_and_azure_trials_compose_the_same_config(command_line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    remote = ["env=azure", "compute=gpu-cluster"]
    arguments = [*command_line, *remote, "hydra/launcher=azureml"]
    fixed = [o for o in arguments if "interval(" not in o and "," not in o]
    cfg = compose_train([o for o in fixed if not o.startswith("hydra")])

    spec = build_spec(cfg, arguments)
    job = sweep_job(
        cfg, arguments, options=JobOptions(), root=code_root(), environment="azureml:e:1"
    ).job
    # One sample, the same for both: the middle of each dimension.
    params = {}
    for dim in spec.dimensions:
        values = dim["values"]
        middle = (dim["min"] + dim["max"]) / 2 if not values else values[len(values) // 2]
        params[dim["name"]] = int(middle) if dim["type"] == "randint" else middle
    local = compose_train(trial_overrides(spec, params, tmp_path / "trial"))

    words = shlex.split(job.trial.command)[3:]
    assert set(job.search_space) == set(params)

    def fill(match):
        if match["kind"] == "search_space":
            return format_value(params[match["name"]])
        return str(tmp_path / match["name"])

    azure = compose_train([PLACEHOLDER.sub(fill, word) for word in words])
    assert _without(azure, PER_MACHINE) == _without(local, PER_MACHINE)
    # ...and the sampled values did land in both.
    for dim in spec.dimensions:
        if "." in dim["param"]:
            section, key = dim["param"].split(".")
            assert azure[section][key] == local[section][key]
