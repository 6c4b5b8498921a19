"""A worker: its own ask/tell loop on the shared study, one trial after another, until the
budget, the deadline or the failure limit is reached.

    python -m resume_ner.hpo.worker SPEC.json WORKER_INDEX

Several workers run side by side (hpo.limits.max_concurrent), each starting a new trial as
soon as its last one ends: no batch waits for its slowest trial. While a trial runs, a
thread writes its heartbeat to the storage, so a rerun can tell a trial whose worker died
from one still running elsewhere.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from resume_ner.hpo.study import (
    ABANDONED,
    HEARTBEAT,
    HEARTBEAT_SECONDS,
    StudySpec,
    load_study,
    too_many_failures,
    used_budget,
)

log = logging.getLogger(__name__)

# Exit status of a worker that stopped because the study failed too often.
TOO_MANY_FAILURES = 3


class Heartbeat:
    """Writes the running trial's heartbeat in a thread, several times per grace period."""

    def __init__(self, study: Any, trial: Any, grace: float) -> None:
        self.storage, self.trial_id = study._storage, trial._trial_id
        self.every = min(HEARTBEAT_SECONDS, grace / 4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            try:
                self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT, time.time())
            except Exception as error:  # the trial ended meanwhile, or the storage hiccuped
                log.debug("heartbeat: %s", error)
            if self.stop.wait(self.every):
                return

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def distributions(spec: StudySpec) -> dict[str, Any]:
    """The study's dimensions as Optuna distributions, by dimension name."""
    from resume_ner.hpo.dimension import Dimension
    from resume_ner.hpo.space import distribution

    return {d["name"]: distribution(Dimension(**d)) for d in spec.dimensions}


def next_trial(study: Any, spec: StudySpec) -> Any | None:
    """Ask for a trial while the budget, the deadline and the failure limit allow; the
    check and the ask happen under a lock, so parallel workers never overshoot."""
    from filelock import FileLock

    with FileLock(str(Path(spec.study_dir) / "ask.lock")):
        trials = study.get_trials(deepcopy=False)
        if used_budget(trials) >= spec.max_trials or too_many_failures(trials, spec):
            return None
        if spec.deadline is not None and time.time() >= spec.deadline:
            return None
        # Every dimension sampled at once: trial.params is then the whole configuration
        # (a queued retry gets its original values).
        return study.ask(distributions(spec))


def run_worker(spec: StudySpec, worker: int) -> int:
    """Run trials until none is left to run; 0, or TOO_MANY_FAILURES."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from resume_ner.hpo.trial import run_trial

    study = load_study(spec, worker)
    while (trial := next_trial(study, spec)) is not None:
        log.info("worker %d: trial %d %s", worker, trial.number, trial.params)
        try:
            with Heartbeat(study, trial, spec.heartbeat_grace):
                state, objective, message = run_trial(study, trial, spec)
        except UpdateFinishedTrialError:
            # Another process failed this trial as abandoned (a heartbeat came too late);
            # its parameters are queued again, so this worker just moves on.
            log.warning("worker %d: trial %d was ended elsewhere", worker, trial.number)
            continue
        except KeyboardInterrupt:
            # Interrupted, not failed: the rerun queues these parameters again.
            study._storage.set_trial_system_attr(trial._trial_id, ABANDONED, "interrupted")
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        log.info("worker %d: trial %d %s %s %s", worker, trial.number, state, objective, message)
    return TOO_MANY_FAILURES if too_many_failures(study.get_trials(), spec) else 0


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    spec, worker = StudySpec.load(Path(argv[0])), int(argv[1])
    try:
        return run_worker(spec, worker)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
