"""The study's bookkeeping: the trial budget, trials abandoned by a dead worker, and the
retry that reuses their budget slot; on Optuna's in-memory storage, no training."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from resume_ner.hpo.study import (
    ABANDONED,
    HEARTBEAT,
    RETRY_OF,
    StudySpec,
    counts,
    default_study_name,
    fail_stale_trials,
    requeue_abandoned,
    too_many_failures,
    used_budget,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _spec(tmp_path, **changes) -> StudySpec:
    values = dict(
        study_name="s",
        storage="journal:" + str(tmp_path / "journal.log"),
        study_dir=str(tmp_path),
        overrides=[],
        dimensions=[],
        metric="val_macro-f1",
        maximize=True,
        sampling="random",
        seed=1,
        startup_trials=2,
        max_trials=4,
        max_concurrent=1,
        max_failed_fraction=0.5,
        policy={"kind": "none"},
        keep_checkpoints=2,
    )
    return StudySpec(**{**values, **changes})


def _study_with(states: list[TrialState]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for index, state in enumerate(states):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        if state == TrialState.COMPLETE:
            study.tell(trial, 0.1 * index)
        elif state != TrialState.RUNNING:
            study.tell(trial, state=state)
    return study


def test_the_budget_counts_finished_and_running_trials_not_abandoned_ones():
    study = _study_with(
        [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING]
    )
    assert used_budget(study.trials) == 4
    running = study.trials[3]
    study._storage.set_trial_system_attr(running._trial_id, ABANDONED, "interrupted")
    study.tell(running.number, state=TrialState.FAIL)
    assert used_budget(study.trials) == 3 and counts(study.trials)["FAIL"] == 1
    assert counts(study.trials)["ABANDONED"] == 1


def test_too_many_failures_is_a_share_of_the_budget(tmp_path):
    spec = _spec(tmp_path, max_trials=4, max_failed_fraction=0.5)
    assert not too_many_failures(_study_with([TrialState.FAIL] * 2).trials, spec)
    assert too_many_failures(_study_with([TrialState.FAIL] * 3).trials, spec)


def test_a_trial_without_a_heartbeat_is_failed_and_one_beating_is_left_alone():
    study = _study_with([TrialState.RUNNING, TrialState.RUNNING, TrialState.COMPLETE])
    dead, alive, _ = study.trials
    now = time.time()
    storage = study._storage
    storage.set_trial_system_attr(dead._trial_id, HEARTBEAT, now - 65)
    storage.set_trial_system_attr(alive._trial_id, HEARTBEAT, now - 1)
    assert fail_stale_trials(study, grace=60, now=now) == [dead.number]
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.COMPLETE]
    assert study.trials[0].system_attrs[ABANDONED] == "worker stopped"


def test_an_abandoned_trial_is_queued_again_once_with_its_parameters():
    study = _study_with([TrialState.RUNNING])
    (trial,) = study.trials
    study._storage.set_trial_system_attr(trial._trial_id, HEARTBEAT, 0.0)
    fail_stale_trials(study, grace=60)
    assert requeue_abandoned(study) == [trial.number]
    assert requeue_abandoned(study) == []  # once
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1
    retry = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert retry.params == trial.params
    assert retry.user_attrs[RETRY_OF] == trial.number


def test_the_same_search_gets_the_same_study_name():
    one = default_study_name("smoke", ["a=1", "b=2"], ["dim"])
    assert one == default_study_name("smoke", ["b=2", "a=1"], ["dim"])
    assert one != default_study_name("smoke", ["a=1", "b=3"], ["dim"])
    assert one.startswith("smoke-")


@pytest.mark.parametrize("number", [0, 7, 123])
def test_a_trial_has_a_stable_numbered_directory(tmp_path, number):
    spec = _spec(tmp_path)
    assert spec.trial_dir(number) == tmp_path / "trials" / f"{number:04d}"
    assert StudySpec.load(spec.save(tmp_path / "spec.json")) == spec
