"""Early stopping on the validation objective, with a patience."""

from __future__ import annotations

import dataclasses

import pytest


def _scripted(make_trainer, out_dir, objectives: list[float], patience: int):
    """A tiny Trainer whose validation objective after epoch i is objectives[i - 1]."""
    trainer = make_trainer(out_dir, f"training.epochs={len(objectives)}", batch=2)
    trainer.s = dataclasses.replace(trainer.s, patience=patience)
    scores = iter(objectives)
    trainer.evaluate = lambda: (
        {trainer.s.objective: next(scores), "val_loss": 0.0, "val_f1": 0.0},
        {},
    )
    return trainer


@pytest.mark.slow
@pytest.mark.parametrize(
    ("objectives", "epochs", "best", "stopped"),
    [
        # two epochs without improvement after epoch 2: stop after epoch 4 of 6
        ([0.5, 0.6, 0.4, 0.3, 0.9, 0.9], 4, 2, True),
        # an improvement resets the count
        ([0.5, 0.4, 0.6, 0.5, 0.7], 5, 5, False),
        # the patience runs out at the last epoch: the run ended, it did not stop early
        ([0.5, 0.6, 0.4, 0.3], 4, 2, False),
    ],
)
def test_patience(make_trainer, tmp_path, objectives, epochs, best, stopped):
    result = _scripted(make_trainer, tmp_path, objectives, patience=2).fit()
    assert result.epochs_completed == epochs
    assert result.best_epoch == best
    assert result.stopped_early is stopped
