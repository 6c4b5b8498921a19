"""`python -m resume_ner.train -m hpo=smoke` for real, on the tiny model: a trial pruned by
its policy on a crafted schedule, MLflow parent and child runs, the best trial's files, a
failing trial the study survives, two parallel workers, and a killed study resumed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.slow

TRIAL_OVERRIDES = (
    'hpo.trial_overrides=["training.epochs=2","training.max_minutes=null",'
    '"training.early_stopping_patience=null"]'
)
# A learning rate that learns nothing, and one that learns: the schedule the tests craft.
STUCK, LEARNS = 1e-9, 0.03


def _study_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return [
        "hydra.mode=MULTIRUN",  # -m as an override: it may follow the other overrides
        "hpo=smoke",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"hpo.studies_dir={tmp_path / 'studies'}",
        f"hpo.study_name={name}",
        "hpo.objective.metric=val_loss",
        "hpo.objective.goal=minimize",
        "hpo.search_space.learning_rate.min=1e-9",
        "hpo.search_space.learning_rate.max=0.1",
        TRIAL_OVERRIDES,
        *extra,
    ]


def _queue(tmp_path: Path, name: str, *params: dict) -> None:
    """Create the study the command will find, with trials queued in this order."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    folder = tmp_path / "studies" / name
    folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    for values in params:
        study.enqueue_trial(values)


def _load(tmp_path: Path, name: str) -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "studies" / name / "journal.log"
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))))


def _run(run_train_cli, tmp_path: Path, args: list[str], store: str):
    result = run_train_cli(tmp_path / "run", *args, store=store, timeout=600)
    return result, result.stdout + result.stderr


def test_a_smoke_study_prunes_on_its_policy_and_records_everything(
    run_train_cli, make_store, list_runs, tmp_path
):
    store = make_store(tmp_path)
    name = "pruned"
    _queue(
        tmp_path,
        name,
        {"learning_rate": LEARNS, "batch_size": 8},
        {"learning_rate": LEARNS, "batch_size": 8},  # the same curve: a tie stops nothing
        {"learning_rate": STUCK, "batch_size": 8},
    )
    args = _study_args(tmp_path, name, "hpo.limits.max_trials=3")
    result, output = _run(run_train_cli, tmp_path, args, store)
    assert result.returncode == 0, output[-4000:]

    study = _load(tmp_path, name)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED], output
    pruned = study.trials[2]
    assert pruned.user_attrs["pruned_reason"].startswith("pruned: bandit at interval 1")
    assert len(pruned.intermediate_values) == 1  # stopped after its first epoch
    # A progress line per finished trial.
    assert "trial 3/3 PRUNED" in result.stdout and "trial 1/3 COMPLETE" in result.stdout

    # The pruned trial: its best checkpoint kept, its manifest says why it stopped.
    checkpoint = Path(pruned.user_attrs["checkpoint"])
    assert (checkpoint / "model.safetensors").is_file()
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    assert manifest["status"] == "stopped" and manifest["hpo_trial_state"] == "PRUNED"

    # MLflow: one parent run, a child per trial with its state as a tag.
    runs = list_runs(store)
    (parent,) = [r for r in runs if r.data.tags.get("hpo.role") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    assert sorted(r.data.tags["hpo.trial_state"] for r in children) == [
        "COMPLETE",
        "COMPLETE",
        "PRUNED",
    ]
    assert all(r.info.status == "FINISHED" for r in [parent, *children])

    # The best trial: printed, written as YAML and JSON, logged on the parent run.
    best = json.loads((tmp_path / "sweep" / "best_trial.json").read_text())
    assert best["trial"] in (0, 1) and best["state"] == "COMPLETE"
    assert best["objective"] == min(t.value for t in study.trials[:2])
    assert (tmp_path / "sweep" / "best_trial.yaml").is_file()
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best["objective"])
    assert (tmp_path / "sweep" / "plots" / "optimization_history.html").is_file()
    assert f"best trial {best['trial']} (COMPLETE)" in result.stdout
    # The study's run, to hand to `select`: in the summary and printed.
    assert best["mlflow_parent_run_id"] == parent.info.run_id
    assert f"select.parent_run={parent.info.run_id}" in result.stdout


def test_a_failing_trial_is_recorded_and_two_workers_go_on(run_train_cli, make_store, tmp_path):
    store = make_store(tmp_path)
    name = "parallel"
    _queue(
        tmp_path,
        name,
        {"learning_rate": LEARNS, "batch_size": 8, "memory_budget_gb": 1e-6},
        {"learning_rate": LEARNS, "batch_size": 8, "memory_budget_gb": 64.0},
        {"learning_rate": LEARNS, "batch_size": 16, "memory_budget_gb": 64.0},
    )
    args = _study_args(
        tmp_path,
        name,
        "hpo.limits.max_trials=3",
        "hpo.limits.max_concurrent=2",
        "hpo.early_termination.policy=none",
        "hpo.keep_checkpoints=1",
        "training.memory_budget_gb=choice(0.000001,64.0)",
    )
    result, output = _run(run_train_cli, tmp_path, args, store)
    assert result.returncode == 0, output[-4000:]
    study = _load(tmp_path, name)
    states = {t.number: t.state for t in study.trials}
    assert states == {0: TrialState.FAIL, 1: TrialState.COMPLETE, 2: TrialState.COMPLETE}
    assert "MemoryBudgetError" in study.trials[0].user_attrs["error"]
    assert "trial 1/3 FAIL" in result.stdout
    # Two workers, each running trials from the shared study.
    logs = sorted((tmp_path / "studies" / name / "workers").glob("worker-*.log"))
    assert len(logs) == 2
    assert all("trial" in log.read_text() for log in logs)
    # No batch barrier: the two workers' first trials ran at the same time.
    first, second = study.trials[0], study.trials[1]
    assert second.datetime_start < first.datetime_complete
    # hpo.keep_checkpoints=1: only the best trial keeps its weights, every trial its record.
    trials_dir = tmp_path / "studies" / name / "trials"
    weights = sorted(p.parent.parent.name for p in trials_dir.glob("*/checkpoint/*.safetensors"))
    best = min((t for t in study.trials[1:]), key=lambda t: t.value)
    assert weights == [f"{best.number:04d}"]
    assert len(list(trials_dir.glob("*/checkpoint/metrics.json"))) == 2


def _wait_for(root: Path, name: str, condition, timeout: float = 240) -> None:
    """Poll the study until `condition(trials)`; fail as soon as it has gone past it."""
    journal = root / "studies" / name / "journal.log"
    deadline = time.time() + timeout
    while time.time() < deadline:
        trials = _load(root, name).trials if journal.exists() else []
        if condition(trials):
            return
        if sum(t.state.is_finished() for t in trials) >= 2:
            raise AssertionError(f"the study went past the moment to kill it: {trials}")
        time.sleep(0.2)
    raise AssertionError("the study never got there")


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_a_killed_study_resumes_without_rerunning_finished_trials(
    start_train_cli, run_train_cli, make_store, tmp_path, how
):
    store = make_store(tmp_path)
    name = f"killed-{how}"
    args = _study_args(
        tmp_path,
        name,
        "hpo.limits.max_trials=3",
        "hpo.early_termination.policy=none",
        "hpo.heartbeat_grace_seconds=2",
        # Long enough trials that the kill lands inside one.
        'hpo.trial_overrides=["training.epochs=12","training.max_minutes=null",'
        '"training.early_stopping_patience=null"]',
    )
    run_dir = tmp_path / "run"
    first = start_train_cli(run_dir, *args, store=store, new_session=True)
    try:
        # Kill it while trial 1 trains, after trial 0 completed.
        _wait_for(
            tmp_path,
            name,
            lambda trials: (
                len(trials) >= 2
                and trials[0].state == TrialState.COMPLETE
                and trials[1].state == TrialState.RUNNING
                and len(trials[1].intermediate_values) >= 1
            ),
        )
    finally:
        os.killpg(first.pid, signal.SIGINT if how == "sigint" else signal.SIGKILL)
        first.wait(timeout=120)
    before = _load(tmp_path, name)
    assert before.trials[0].state == TrialState.COMPLETE
    if how == "sigint":  # stopped cleanly: the running trial is marked at once
        assert before.trials[1].state == TrialState.FAIL
        assert "interrupted" in run_dir.with_name("run.out").read_text()
    else:  # killed: the trial is left RUNNING, without a heartbeat
        assert before.trials[1].state == TrialState.RUNNING
        time.sleep(3)  # past hpo.heartbeat_grace_seconds

    second, output = _run(run_train_cli, tmp_path, args, store)
    assert second.returncode == 0, output[-4000:]
    after = _load(tmp_path, name)
    finished = [t for t in after.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3  # the budget, counting what was done before the kill
    assert after.trials[0].datetime_complete == before.trials[0].datetime_complete  # not rerun
    assert after.trials[1].state == TrialState.FAIL  # the interrupted one, abandoned...
    retries = [t for t in after.trials if t.user_attrs.get("retry_of") == 1]
    assert len(retries) == 1 and retries[0].params == before.trials[1].params  # ...and redone
    assert max(t.number for t in after.trials) == 3  # numbers continue
    assert "1 trial(s) already finished" in second.stdout
