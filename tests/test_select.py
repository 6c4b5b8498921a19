"""`python -m resume_ner.select`: the best run of a study or an experiment by best_<metric>,
which runs count, registering its checkpoint as the `champion`, and each user error.

The runs are made directly with MlflowClient in one SQLite store per module (creating a
store takes seconds): a study (a parent run and its trials), plain training runs beside it,
and a few experiments of their own for the registration source and the error cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from resume_ner.errors import CheckpointError, ConfigError, TrackingError
from resume_ner.select import (
    ALIAS,
    Candidate,
    check_options,
    format_selection,
    key_params,
    register_champion,
    select_best,
    store_uri,
)

REPO = Path(__file__).resolve().parents[1]
KEY = "best_val_macro-f1"
SEARCHED = {
    "hpo.search_space.lr.type": "loguniform",
    "hpo.search_space.lr.param": "training.learning_rate",
    "hpo.search_space.batch.type": "choice",
    "hpo.search_space.batch.param": "training.batch_size",
}


def _checkpoint(folder: Path, weights: bool = True) -> str:
    """A checkpoint folder (with an empty model.safetensors unless weights=False)."""
    folder.mkdir(parents=True, exist_ok=True)
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


def _run(
    client,
    experiment_id: str,
    name: str,
    value: float | None,
    *,
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    status: str = "FINISHED",
    metric: str = KEY,
) -> str:
    """A finished run as training and the study leave it; its id."""
    run = client.create_run(experiment_id, run_name=name, tags=tags or {})
    run_id = run.info.run_id
    for key, param in (params or {}).items():
        client.log_param(run_id, key, param)
    if value is not None:
        client.log_metric(run_id, metric, value)
    client.set_terminated(run_id, status)
    return run_id


def _experiment(client, name: str, root: Path) -> str:
    return client.create_experiment(name, artifact_location=(root / "artifacts" / name).as_uri())


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> SimpleNamespace:
    """One store: experiment resume-ner holds a study and plain runs; others, edge cases."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("select")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = _experiment(client, "resume-ner", root)
    ids = SimpleNamespace(uri=uri, root=root, client=client)
    # The study's own run repeats its best trial's value: it must never be ranked.
    ids.parent = _run(
        client,
        exp,
        "study-s",
        0.7,
        tags={"hpo.study": "s", "hpo.role": "study"},
        params={"hpo.objective.metric": "val_macro-f1", "hpo.objective.goal": "maximize"},
    )

    def trial(number: int, state: str, value: float | None, **extra) -> str:
        tags = {
            "mlflow.parentRunId": ids.parent,
            "hpo.study": "s",
            "hpo.trial_state": state,
            "hpo.trial_number": str(number),
            "checkpoint_dir": _checkpoint(root / "s" / f"trial-{number}" / "checkpoint"),
            **extra.pop("tags", {}),
        }
        params = {**SEARCHED, "training.learning_rate": f"{number + 1}e-4"}
        params["training.batch_size"] = "8"
        return _run(client, exp, f"s-trial-{number}", value, tags=tags, params=params, **extra)

    ids.complete = trial(0, "COMPLETE", 0.6)
    ids.pruned = trial(1, "PRUNED", 0.7, tags={"stop_reason": "pruned: median"})
    ids.failed = trial(2, "FAIL", None, status="FAILED")
    # Cut by its time limit: a best value, a FINISHED run, but the trial failed.
    ids.timed_out = trial(3, "FAIL", 0.95, tags={"stop_reason": "trial_timeout"})
    # Plain training runs (no trial tags): they count, unless not FINISHED.
    ids.plain = _run(
        client,
        exp,
        "plain",
        0.9,
        tags={"checkpoint_dir": str(root / "gone" / "checkpoint")},
        params={"model.name": "minilm", "training.learning_rate": "3e-4"},
    )
    ids.killed = _run(client, exp, "killed", 0.99, status="KILLED")

    # A run that logged its checkpoint as artifacts (tracking.log_checkpoint=artifact).
    art = _experiment(client, "artifacts", root)
    ids.artifact_run = _run(client, art, "logged", 0.8, tags={"checkpoint_dir": "/nowhere"})
    client.log_artifacts(ids.artifact_run, _checkpoint(root / "logged"), "checkpoint")

    other = _experiment(client, "other-metric", root)
    _run(client, other, "f1-run", 0.5, metric="best_val_f1")
    _experiment(client, "empty", root)
    return ids


def _values(selection) -> list[float]:
    return [c.value for c in selection.ranked]


# --------------------------------------------------------------------------- selection


def test_by_parent_the_best_complete_or_pruned_trial_wins(store):
    selection = select_best(store.client, parent_run=store.parent)
    assert selection.winner.run_id == store.pruned
    assert selection.winner.state == "PRUNED"
    assert _values(selection) == [0.7, 0.6]  # FAIL trials (with or without a value) left out
    assert selection.experiment_name == "resume-ner"
    assert Path(selection.winner.checkpoint_dir, "model.safetensors").is_file()


def test_states_choose_which_trials_count(store):
    complete = select_best(store.client, parent_run=store.parent, states=["COMPLETE"])
    assert complete.winner.run_id == store.complete
    everything = select_best(store.client, parent_run=store.parent, states=["complete", "FAIL"])
    assert everything.winner.run_id == store.timed_out
    assert everything.states == ["COMPLETE", "FAIL"]


def test_by_experiment_plain_runs_count_and_the_study_run_does_not(store):
    selection = select_best(store.client, experiment="resume-ner")
    assert selection.winner.run_id == store.plain
    assert selection.winner.state is None
    assert _values(selection) == [0.9, 0.7, 0.6]
    ranked = {c.run_id for c in selection.ranked}
    assert store.parent not in ranked and store.killed not in ranked


def test_minimize_picks_the_lowest(store):
    by_parent = select_best(store.client, parent_run=store.parent, goal="minimize")
    assert by_parent.winner.run_id == store.complete
    by_experiment = select_best(store.client, experiment="resume-ner", goal="minimize")
    assert _values(by_experiment) == [0.6, 0.7, 0.9]


def test_top_limits_the_ranking(store):
    assert _values(select_best(store.client, experiment="resume-ner", top=1)) == [0.9]


def test_a_parent_with_another_objective_is_noted(store):
    selection = select_best(store.client, parent_run=store.parent, goal="minimize")
    assert any("optimised val_macro-f1 (maximize)" in note for note in selection.notes)
    assert select_best(store.client, parent_run=store.parent).notes == []


def test_the_summary_key_is_trainings():
    # One definition serves training, the study and select: the key they all use.
    from resume_ner.config.checks import best_metric_key

    assert best_metric_key("val_f1_skills") == "best_val_f1_skills"


def test_key_params_are_the_searched_ones_else_a_few_defining_ones():
    searched = {
        **SEARCHED,
        "hpo.search_space.model.type": "choice",
        "hpo.search_space.model.param": "model",
        "training.learning_rate": "0.0003",
        "training.batch_size": "8",
        "model.name": "minilm",
        "seed": "42",
    }
    assert key_params(searched) == {
        "training.batch_size": "8",
        "training.learning_rate": "0.0003",
        "model": "minilm",
    }
    plain = {"model.name": "minilm", "training.learning_rate": "3e-4", "seed": "1"}
    assert key_params(plain) == {"model.name": "minilm", "training.learning_rate": "3e-4"}


def test_the_printout_names_the_winner_and_its_checkpoint(store):
    selection = select_best(store.client, parent_run=store.parent)
    text = format_selection(selection)
    winner = selection.winner
    assert f"Winner: run {winner.run_id} (s-trial-1)" in text
    assert winner.checkpoint_dir in text
    assert "stop_reason: pruned: median" in text
    assert "training.learning_rate=2e-4" in text
    assert text.count("PRUNED") == 2 and "COMPLETE" in text


# --------------------------------------------------------------------------- errors


def test_an_unknown_experiment_lists_those_there_are(store):
    with pytest.raises(ConfigError, match="no experiment named 'nope'") as caught:
        select_best(store.client, experiment="nope")
    assert "'resume-ner'" in str(caught.value) and "'artifacts'" in str(caught.value)


def test_an_unknown_parent_run_lists_the_study_runs(store):
    missing = "0" * 32
    with pytest.raises(ConfigError, match=f"select.parent_run={missing}: no run") as caught:
        select_best(store.client, parent_run=missing)
    assert store.parent in str(caught.value)


def test_no_run_with_the_metric_names_it_and_the_objective(store):
    with pytest.raises(ConfigError) as caught:
        select_best(store.client, experiment="other-metric")
    message = str(caught.value)
    assert "has the metric best_val_macro-f1" in message
    assert "hpo.objective.metric" in message and "select.metric=val_f1" in message


def test_runs_left_out_by_their_state_are_named(store):
    with pytest.raises(ConfigError) as caught:
        select_best(store.client, parent_run=store.parent, states=["RUNNING"])
    message = str(caught.value)
    assert "the 3 with best_val_macro-f1 have hpo.trial_state COMPLETE, FAIL, PRUNED" in message
    assert "none of select.states=[RUNNING]" in message


def test_an_experiment_without_finished_runs(store):
    with pytest.raises(ConfigError, match="no finished run in experiment 'empty'"):
        select_best(store.client, experiment="empty")


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"metric": "macro-f1"}, "select.metric=macro-f1"),
        ({"goal": "maximise"}, "select.goal=maximise: choose one of maximize, minimize"),
        ({"states": ["DONE"]}, "choose one or more of COMPLETE, PRUNED, FAIL, RUNNING"),
        ({"states": []}, "select.states=[]"),
        ({"register": True}, "select.register=true needs select.model_name"),
    ],
)
def test_options_that_cannot_be_used_are_refused(change, phrase):
    options = {
        "metric": "val_macro-f1",
        "goal": "maximize",
        "states": ["COMPLETE"],
        "register": False,
        "model_name": None,
        **change,
    }
    with pytest.raises(ConfigError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
        check_options(SimpleNamespace(**options))


def test_a_missing_sqlite_store_is_not_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tracking = SimpleNamespace(uri=None, connect_timeout=1.0)
    with pytest.raises(TrackingError, match=r"no MLflow store at .*outputs/mlflow\.db"):
        store_uri(tracking)
    assert not (tmp_path / "outputs" / "mlflow.db").exists()
    explicit = SimpleNamespace(uri=f"sqlite:///{tmp_path / 'x.db'}", connect_timeout=1.0)
    with pytest.raises(TrackingError, match=r"x\.db"):
        store_uri(explicit)


# --------------------------------------------------------------------------- registration


def test_register_makes_a_version_and_moves_the_champion_alias(store):
    client = store.client
    first = register_champion(client, select_best(client, parent_run=store.parent), "ner-a")
    assert (first.name, first.version, first.alias) == ("ner-a", "1", ALIAS)
    pruned_dir = Path(client.get_run(store.pruned).data.tags["checkpoint_dir"])
    assert first.source == pruned_dir.resolve().as_uri()
    champion = client.get_model_version_by_alias("ner-a", ALIAS)
    assert (str(champion.version), champion.run_id) == ("1", store.pruned)
    assert champion.tags["metric"] == KEY and champion.tags["hpo.trial_state"] == "PRUNED"

    complete = select_best(client, parent_run=store.parent, states=["COMPLETE"])
    second = register_champion(client, complete, "ner-a")
    assert second.version == "2"
    champion = client.get_model_version_by_alias("ner-a", ALIAS)
    assert (str(champion.version), champion.run_id) == ("2", store.complete)
    assert client.get_model_version("ner-a", "1").aliases == []


def test_a_checkpoint_logged_as_artifacts_is_registered_from_the_run(store):
    client = store.client
    selection = select_best(client, experiment="artifacts")
    registration = register_champion(client, selection, "ner-artifacts")
    run = client.get_run(store.artifact_run)
    assert registration.source == run.info.artifact_uri + "/checkpoint"
    assert Path(registration.source.removeprefix("file://"), "model.safetensors").is_file()


def test_a_missing_checkpoint_is_a_checkpoint_error_naming_it(store, tmp_path):
    client = store.client
    selection = select_best(client, experiment="resume-ner")  # the plain run's folder is gone
    with pytest.raises(CheckpointError, match=r"gone/checkpoint of run .* does not exist"):
        register_champion(client, selection, "ner-none")
    assert client.search_registered_models("name = 'ner-none'") == []
    empty = Candidate("r", "n", 1.0, None, _checkpoint(tmp_path / "c", weights=False), "", {})
    from resume_ner.select import local_checkpoint

    with pytest.raises(CheckpointError, match=r"holds no model\.safetensors"):
        local_checkpoint(empty)


def test_an_invalid_model_name_is_a_config_error(store):
    selection = select_best(store.client, parent_run=store.parent)
    with pytest.raises(ConfigError, match=r"select\.model_name=a/b"):
        register_champion(store.client, selection, "a/b")


# --------------------------------------------------------------------------- the task


def test_the_task_composes_selects_registers_and_writes_the_choice(store, tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    from resume_ner.config.registry import register_configs
    from resume_ner.paths import config_dir
    from resume_ner.select import select_task

    monkeypatch.chdir(tmp_path)
    register_configs()
    out = tmp_path / "choice" / "best.json"
    overrides = [
        f"tracking.uri={store.uri}",
        f"select.parent_run={store.parent}",
        "select.register=true",
        "select.model_name=ner-task",
        f"select.output={out}",
    ]
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("select", overrides=overrides)
    assert list(cfg.select.states) == ["COMPLETE", "PRUNED"]
    selection = select_task(cfg)
    assert selection.winner.run_id == store.pruned
    choice = json.loads(out.read_text())
    assert choice["winner"]["run_id"] == store.pruned
    assert choice["registered"]["version"] == "1" and choice["metric"] == KEY


def test_a_misspelt_select_key_is_caught_before_composing():
    from resume_ner.cli import check_override_keys

    with pytest.raises(ConfigError, match=r"Did you mean 'select\.parent_run'"):
        check_override_keys(["select.parent_runs=abc"], "select")


# --------------------------------------------------------------------------- the command


def _select_cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    return subprocess.run(
        [sys.executable, "-m", "resume_ner.select", f"hydra.run.dir={tmp_path}/run", *overrides],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_command_prints_the_winner_and_refuses_a_missing_experiment(store, tmp_path):
    result = _select_cli(tmp_path, f"tracking.uri={store.uri}", f"select.parent_run={store.parent}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Winner: run {store.pruned}" in result.stdout

    missing = _select_cli(tmp_path, f"tracking.uri={store.uri}", "select.experiment=nope")
    assert missing.returncode == 2, missing.stdout[-3000:] + missing.stderr[-3000:]
    assert "Traceback" not in missing.stderr
    errors = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no experiment named 'nope'" in errors[0], missing.stderr
