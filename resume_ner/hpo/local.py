"""The local study, start to end: the study's specification from the composed config and
the command line, its MLflow parent run, worker processes, a progress line per finished
trial, Ctrl-C, and the results.

Each worker is a process of its own (`resume_ner.hpo.worker`) running its own ask/tell
loop on the shared storage, so a new trial starts as soon as any trial ends; the CPU
threads are divided between the workers. This process only coordinates: it marks and
requeues the trials of dead workers, prints progress, and writes the results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resume_ner.errors import UserError
from resume_ner.hpo.study import (
    PARENT_RUN,
    StudySpec,
    counts,
    default_study_name,
    fail_stale_trials,
    load_study,
    requeue_abandoned,
    storage_url,
    too_many_failures,
)
from resume_ner.hpo.worker import TOO_MANY_FAILURES
from resume_ner.machine import usable_cpus

POLL_SECONDS = 1.0
# How long workers get to finish their trial's bookkeeping after Ctrl-C.
INTERRUPT_GRACE_SECONDS = 60.0


class StudyError(UserError):
    """The study stopped because too many of its trials failed."""


@dataclass
class StudyOutcome:
    spec: StudySpec
    summary: dict[str, Any] | None
    counts: dict[str, int]
    files: list[Path]


def build_spec(cfg: Any, arguments: Sequence[str], hpo_name: str | None = None) -> StudySpec:
    """The study of the composed config `cfg` and the command line's sweep `arguments`."""
    from omegaconf import OmegaConf

    from resume_ner.hpo.policies import Policy
    from resume_ner.hpo.search import search_of
    from resume_ner.train.tracking_uri import resolve_tracking_uri

    hpo = cfg.hpo
    search = search_of(cfg, arguments)
    dims, overrides = search.dimensions, search.overrides
    # The study is what the trials train and search, not its budget or policy: a rerun with
    # a larger hpo.limits.max_trials extends the same study.
    defining = [o for o in overrides if not o.startswith(("hpo.", "hpo="))]
    name = hpo.study_name or default_study_name(hpo_name or hpo.name, defining, dims)
    study_dir = (Path(hpo.studies_dir) / name).resolve()
    configured_uri = cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI")
    uri = resolve_tracking_uri(configured_uri, Path.cwd())
    limits = hpo.limits
    workers = max(1, int(limits.max_concurrent))
    return StudySpec(
        study_name=name,
        storage=storage_url(hpo.storage, study_dir),
        study_dir=str(study_dir),
        # Every trial logs to the store this process resolved, whatever its own cwd.
        overrides=[*overrides, f"tracking.uri={uri}"],
        dimensions=[vars(d) | {"values": list(d.values) if d.values else None} for d in dims],
        metric=hpo.objective.metric,
        maximize=hpo.objective.goal == "maximize",
        sampling=hpo.sampling,
        seed=int(hpo.seed),
        startup_trials=int(hpo.startup_trials),
        max_trials=int(limits.max_trials),
        max_concurrent=workers,
        max_failed_fraction=float(limits.max_failed_fraction),
        policy=vars(Policy.from_config(hpo.early_termination)),
        keep_checkpoints=int(hpo.keep_checkpoints),
        deadline=time.time() + limits.timeout if limits.timeout else None,
        trial_timeout=float(limits.trial_timeout) if limits.trial_timeout else None,
        threads_per_worker=max(1, usable_cpus() // workers),
        heartbeat_grace=float(hpo.heartbeat_grace_seconds),
        extra={"tracking_uri": uri, "tracking": OmegaConf.to_container(cfg.tracking)},
    )


# --------------------------------------------------------------------------- MLflow


def _parent_run(spec: StudySpec, study: Any) -> str:
    """The study's MLflow run: created once, found again by a rerun (a study user attr)."""
    from resume_ner.train.tracking import ensure_experiment, open_client

    run_id = study.user_attrs.get(PARENT_RUN)
    uri = spec.extra["tracking_uri"]
    client = open_client(uri)
    if run_id:
        client.update_run(run_id, status="RUNNING")
        return run_id
    name = spec.extra["tracking"].get("experiment_name") or "resume-ner"
    experiment_id = ensure_experiment(client, uri, name)
    run = client.create_run(
        experiment_id,
        run_name=f"study-{spec.study_name}",
        tags={"hpo.study": spec.study_name, "hpo.role": "study"},
    )
    run_id = run.info.run_id
    study.set_user_attr(PARENT_RUN, run_id)
    client.log_param(run_id, "hpo.objective.metric", spec.metric)
    client.log_param(run_id, "hpo.objective.goal", "maximize" if spec.maximize else "minimize")
    client.log_param(run_id, "hpo.sampling", spec.sampling)
    client.log_param(run_id, "hpo.max_trials", spec.max_trials)
    return run_id


def _log_results(spec: StudySpec, run_id: str, outcome: StudyOutcome, status: str) -> None:
    from resume_ner.config.checks import best_metric_key
    from resume_ner.train.tracking import open_client

    client = open_client(spec.extra["tracking_uri"])
    if outcome.summary:
        client.log_metric(run_id, best_metric_key(spec.metric), outcome.summary["objective"])
        client.set_tag(run_id, "hpo.best_trial", str(outcome.summary["trial"]))
        if outcome.summary.get("mlflow_run_id"):
            client.set_tag(run_id, "hpo.best_run_id", outcome.summary["mlflow_run_id"])
    for state, count in outcome.counts.items():
        client.log_metric(run_id, f"trials_{state.lower()}", count)
    for path in outcome.files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, status)


# --------------------------------------------------------------------------- the run


def _start_workers(spec_path: Path, spec: StudySpec, count: int) -> list[subprocess.Popen]:
    logs = Path(spec.study_dir) / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_RUN_ID"}
    workers = []
    for index in range(count):
        with (logs / f"worker-{index}.log").open("a", encoding="utf-8") as log_file:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "resume_ner.hpo.worker", str(spec_path), str(index)],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
    return workers


def _progress(trial: Any, total: int, best: tuple[float, int] | None, started: float) -> str:
    """The line of one finished trial: its objective (a pruned trial's last report)."""
    value = trial.value if trial.state.name == "COMPLETE" else None
    if trial.state.name == "PRUNED":
        steps = trial.intermediate_values
        value = steps[max(steps)] if steps else None
    elapsed = int(time.time() - started)
    shown = f"{value:.4f}" if value is not None else "-"
    best_text = f"{best[0]:.4f} (trial {best[1]})" if best else "-"
    why = trial.user_attrs.get("pruned_reason") or trial.user_attrs.get("error") or ""
    return (
        f"trial {trial.number + 1}/{total} {trial.state.name:<8} objective {shown}  "
        f"best {best_text}  elapsed {elapsed // 60}m{elapsed % 60:02d}s"
        + (f"  ({why[:160]})" if why else "")
    )


def run_local_study(cfg: Any, arguments: Sequence[str], sweep_dir: Path) -> StudyOutcome:
    """Run (or resume) the study of `cfg` with worker processes; print and write results."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = build_spec(cfg, arguments)
    study = load_study(spec)
    stale = fail_stale_trials(study, spec.heartbeat_grace)
    requeued = requeue_abandoned(study)
    spec.parent_run_id = _parent_run(spec, study)
    spec_path = spec.save(Path(spec.study_dir) / "spec.json")
    trials = study.get_trials(deepcopy=False)
    done_before = {t.number for t in trials if t.state.is_finished()}
    so_far = counts(trials)
    print(
        f"study {spec.study_name}: {so_far['COMPLETE'] + so_far['PRUNED'] + so_far['FAIL']} "
        f"trial(s) already finished, budget "
        f"{spec.max_trials}, {spec.max_concurrent} worker(s) of {spec.threads_per_worker} "
        f"thread(s); storage {spec.storage}"
        + (f"; abandoned trials {stale or requeued} queued again" if stale or requeued else ""),
        flush=True,
    )
    started = time.time()
    workers = _start_workers(spec_path, spec, spec.max_concurrent)
    status = "FINISHED"
    try:
        _watch(study, spec, workers, done_before, started)
    except KeyboardInterrupt:
        status = "KILLED"
        _stop(workers)
        print(f"interrupted: rerun the same command to resume study {spec.study_name}")
    outcome = _finish(study, spec, sweep_dir)
    _log_results(spec, spec.parent_run_id, outcome, status)
    if status == "KILLED":
        raise KeyboardInterrupt
    crashed = [
        f"worker {i} exited with status {w.returncode} (log: {Path(spec.study_dir)}/workers/"
        f"worker-{i}.log)"
        for i, w in enumerate(workers)
        if w.returncode not in (0, TOO_MANY_FAILURES)
    ]
    if crashed:
        raise StudyError(
            "; ".join(crashed) + f". Rerun the same command to resume study {spec.study_name}."
        )
    if too_many_failures(study.get_trials(deepcopy=False), spec):
        errors = [t.user_attrs.get("error") for t in study.trials if t.user_attrs.get("error")]
        raise StudyError(
            f"study {spec.study_name} stopped: {outcome.counts['FAIL']} trial(s) failed, over "
            f"hpo.limits.max_failed_fraction={spec.max_failed_fraction:g} of "
            f"{spec.max_trials}. Last error: {errors[-1] if errors else 'none recorded'}"
        )
    return outcome


def _watch(study: Any, spec: StudySpec, workers: list, seen: set[int], started: float) -> None:
    """Print a line per newly finished trial until every worker has exited."""
    from resume_ner.hpo.results import keep_best_checkpoints, ranked

    while True:
        running = any(w.poll() is None for w in workers)
        trials = study.get_trials(deepcopy=False)
        order = ranked(trials, spec.maximize)
        best = (order[0][0], order[0][1].number) if order else None
        for trial in sorted(trials, key=lambda t: t.number):
            if trial.state.is_finished() and trial.number not in seen:
                seen.add(trial.number)
                print(_progress(trial, spec.max_trials, best, started), flush=True)
                keep_best_checkpoints(study, spec.keep_checkpoints, spec.maximize, spec.trial_dir)
        if not running:
            return
        # A worker that died leaves a trial without a heartbeat: give its slot to another.
        if fail_stale_trials(study, spec.heartbeat_grace):
            requeue_abandoned(study)
        time.sleep(POLL_SECONDS)


def _stop(workers: list) -> None:
    """Ctrl-C: let each worker mark its trial interrupted, then make sure they are gone."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    deadline = time.time() + INTERRUPT_GRACE_SECONDS
    for worker in workers:
        try:
            worker.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            worker.kill()


def _finish(study: Any, spec: StudySpec, sweep_dir: Path) -> StudyOutcome:
    """Print the best trial; write it and the plots to the sweep directory."""
    from resume_ner.hpo import results

    trials = study.get_trials(deepcopy=False)
    summary = results.best_trial_summary(study, spec.metric, spec.maximize)
    files: list[Path] = []
    if summary:
        summary["mlflow_parent_run_id"] = spec.parent_run_id
        files += results.write_summary(summary, sweep_dir)
        print(
            f"best trial {summary['trial']} ({summary['state']}): {spec.metric} "
            f"{summary['objective']:.4f} {summary['params']}\n"
            f"  checkpoint {summary['checkpoint']}\n  MLflow run {summary['mlflow_run_id']}",
            flush=True,
        )
    if spec.parent_run_id:
        # What a user runs next: the study's run is the one `select` ranks the trials of.
        print(
            f"study MLflow run {spec.parent_run_id}: python -m resume_ner.select "
            f"select.parent_run={spec.parent_run_id} select.register=true "
            f"select.model_name=NAME",
            flush=True,
        )
    files += results.write_plots(study, sweep_dir / "plots")
    return StudyOutcome(spec, summary, counts(trials), files)
