"""A local study: its specification, its Optuna storage and sampler, the trial budget, and
the trials abandoned by a dead or interrupted worker.

The storage is Optuna's journal file by default (made for several processes on one
machine; Optuna advises against SQLite there), under `hpo.studies_dir/<study name>/`: a
directory derived from the study's name, not from Hydra's timestamped sweep directory, so
rerunning the same command finds the study and resumes it. `hpo.storage` takes any Optuna
storage URL instead (PostgreSQL lets several machines share one study).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.errors import ConfigError

# A running trial's worker writes a heartbeat this often (or 4 times per grace period if
# that is shorter); a trial whose heartbeat is older than hpo.heartbeat_grace_seconds
# belonged to a worker that died, and is marked failed.
HEARTBEAT_SECONDS = 10.0

# Trial system attributes.
HEARTBEAT = "resume_ner:heartbeat"
ABANDONED = "resume_ner:abandoned"  # failed by a dead or interrupted worker, not by training
# Study user attribute: the abandoned trials whose parameters were queued again (a finished
# trial's own attributes can no longer be written).
REQUEUED = "resume_ner:requeued"
RETRY_OF = "retry_of"  # user attribute of the new trial: the number of the one it redoes
PARENT_RUN = "mlflow_parent_run_id"  # study user attribute


@dataclass
class StudySpec:
    """Everything a worker process needs to run trials of one study (JSON-serialisable)."""

    study_name: str
    storage: str
    study_dir: str
    # Every trial's overrides before its sampled values: the command line's plain ones, then
    # hpo.trial_overrides.
    overrides: list[str]
    dimensions: list[dict[str, Any]]
    metric: str
    maximize: bool
    sampling: str
    seed: int
    startup_trials: int
    max_trials: int
    max_concurrent: int
    max_failed_fraction: float
    policy: dict[str, Any]
    keep_checkpoints: int
    deadline: float | None = None
    trial_timeout: float | None = None
    threads_per_worker: int | None = None
    heartbeat_grace: float = 60.0
    parent_run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> StudySpec:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def trial_dir(self, number: int) -> Path:
        """The stable run directory of trial `number` (its checkpoint is under it)."""
        return Path(self.study_dir) / "trials" / f"{number:04d}"


def default_study_name(hpo_name: str, overrides: list[str], dimensions: list[Any]) -> str:
    """<hpo option>-<hash of what defines the search>: the same command, the same study."""
    payload = json.dumps(
        {"overrides": sorted(overrides), "dims": [repr(d) for d in dimensions]}, sort_keys=True
    )
    return f"{hpo_name}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def storage_url(storage: str | None, study_dir: Path) -> str:
    """hpo.storage, or the journal file of the study's directory."""
    return storage or f"journal:{(study_dir / 'journal.log').resolve()}"


def open_storage(url: str) -> Any:
    """An Optuna storage: `journal:<path>` is a journal file, anything else a storage URL."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal:") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return url


def make_sampler(spec: StudySpec, worker: int, done: int) -> Any:
    """The seeded sampler of `hpo.sampling`; the seed moves with the worker and with the
    trials already done, so parallel workers and a resumed study do not repeat samples."""
    import optuna

    from resume_ner.hpo.dimension import Dimension
    from resume_ner.hpo.space import grid

    seed = spec.seed + 7919 * done + 104729 * worker
    if spec.sampling == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampling == "grid":
        dims = [Dimension(**d) for d in spec.dimensions]
        return optuna.samplers.GridSampler(grid(dims), seed=seed)
    if spec.sampling == "bayesian":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup_trials)
    raise ConfigError(f"hpo.sampling={spec.sampling}: choose one of random, grid, bayesian")


def load_study(spec: StudySpec, worker: int = 0) -> Any:
    """The study, created on first use; its sampler seeded for this worker."""
    import optuna

    storage = open_storage(spec.storage)
    direction = "maximize" if spec.maximize else "minimize"
    study = optuna.create_study(
        study_name=spec.study_name, storage=storage, direction=direction, load_if_exists=True
    )
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"the study {spec.study_name} in {spec.storage} was created to "
            f"{study.direction.name.lower()}, not to {direction}: name another study "
            f"(hpo.study_name=...) or keep hpo.objective.goal"
        )
    study.sampler = make_sampler(spec, worker, len(study.trials))
    return study


# --------------------------------------------------------------------------- the budget


def counts(trials: list[Any]) -> dict[str, int]:
    """Trials by state; FAIL counts only failures of training, not abandoned trials."""
    from optuna.trial import TrialState

    out = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0, "ABANDONED": 0}
    for trial in trials:
        if trial.state == TrialState.FAIL and trial.system_attrs.get(ABANDONED):
            out["ABANDONED"] += 1
        elif trial.state.name in out:
            out[trial.state.name] += 1
    return out


def used_budget(trials: list[Any]) -> int:
    """Trials that count towards hpo.limits.max_trials: finished or running."""
    c = counts(trials)
    return c["COMPLETE"] + c["PRUNED"] + c["FAIL"] + c["RUNNING"]


def too_many_failures(trials: list[Any], spec: StudySpec) -> bool:
    """More trials failed than hpo.limits.max_failed_fraction of the budget allows."""
    return counts(trials)["FAIL"] > spec.max_failed_fraction * spec.max_trials


# --------------------------------------------------------------------------- abandoned trials


def fail_stale_trials(study: Any, grace: float, now: float | None = None) -> list[int]:
    """Mark failed, as abandoned, the running trials whose worker stopped its heartbeat
    `grace` seconds ago; trials still beating (running elsewhere) are not touched."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    storage = study._storage
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = trial.system_attrs.get(HEARTBEAT)
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        if now - float(beat if beat is not None else started) <= grace:
            continue
        storage.set_trial_system_attr(trial._trial_id, ABANDONED, "worker stopped")
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        failed.append(trial.number)
    return failed


def requeue_abandoned(study: Any) -> list[int]:
    """Queue the parameters of each abandoned trial again, once, so its budget slot is
    reused; the new trial resumes from the abandoned one's checkpoint directory."""
    from optuna.trial import TrialState

    done = set(study.user_attrs.get(REQUEUED, []))
    queued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if not trial.system_attrs.get(ABANDONED) or trial.number in done:
            continue
        origin = trial.user_attrs.get(RETRY_OF, trial.number)
        study.enqueue_trial(trial.params, user_attrs={RETRY_OF: origin})
        queued.append(trial.number)
    if queued:
        study.set_user_attr(REQUEUED, sorted(done | set(queued)))
    return queued
