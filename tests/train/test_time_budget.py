"""The time budget (training.max_minutes): the run keeps the epochs that fit at the pace so
far, its learning rate decays to zero by the last of them, and a resume keeps both."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from resume_ner.train.schedule import (
    check_max_minutes,
    epochs_that_fit,
    linear_schedule,
    shorten_schedule,
)

EPOCH_SECONDS = 60.0


def test_epochs_that_fit_counts_whole_epochs_at_the_mean_pace():
    assert epochs_that_fit(600, 120, 1) == 5  # 120 s an epoch: 4 more fit in the 480 left
    assert epochs_that_fit(600, 200, 2) == 6  # 100 s an epoch
    assert epochs_that_fit(600, 550, 5) == 5  # 110 s an epoch, 50 s left: none more
    assert epochs_that_fit(60, 300, 1) == 1  # over budget already: keep what was trained
    with pytest.raises(ValueError, match="after an epoch"):
        epochs_that_fit(600, 0, 0)


def test_shortened_schedule_decays_to_zero_at_its_new_end():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = linear_schedule(optimizer, warmup_ratio=0.1, total_steps=100)
    for _ in range(20):
        optimizer.step()
        scheduler.step()
    before = scheduler.get_last_lr()[0]
    assert before == pytest.approx((100 - 20) / 90)
    shorten_schedule(scheduler, warmup_ratio=0.1, total_steps=40)
    rates = []
    for _ in range(20):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates[0] == pytest.approx((40 - 21) / 36)
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates[-1] == 0.0


@pytest.mark.parametrize("value", [0, -1.0])
def test_max_minutes_must_be_positive_or_null(value):
    check_max_minutes(None, "training.max_minutes")
    check_max_minutes(0.5, "training.max_minutes")
    with pytest.raises(ValueError, match=r"training.max_minutes=.*null for no time budget"):
        check_max_minutes(value, "training.max_minutes")


def _trainer(make_trainer, out_dir, *overrides, clock=None):
    """A tiny Trainer whose clock is `clock(epochs evaluated so far)` (default: every epoch
    lasts EPOCH_SECONDS)."""
    clock = clock or _epoch_clock
    epochs_seen: list[int] = []
    trainer = make_trainer(
        out_dir,
        "training.warmup_ratio=0.1",
        *overrides,
        batch=2,
        clock=lambda: clock(epochs_seen),
    )
    evaluate = trainer.evaluate

    def counted() -> tuple:  # an epoch ends with its evaluation
        epochs_seen.append(len(epochs_seen) + 1)
        return evaluate()

    trainer.evaluate = counted
    return trainer


def _epoch_clock(epochs_seen: list[int]) -> float:
    """Every epoch lasts EPOCH_SECONDS, whatever the machine."""
    return EPOCH_SECONDS * len(epochs_seen)


@pytest.mark.slow
def test_budget_shortens_the_run_and_its_schedule(make_trainer, tmp_path, caplog):
    """6 epochs of 60 s planned, 3.5 minutes allowed: after epoch 1 only 3 fit, and the
    learning rate reaches zero at the end of epoch 3 (a cut without re-planning would
    leave it at half its peak)."""
    trainer = _trainer(make_trainer, tmp_path, "training.epochs=6", "training.max_minutes=3.5")
    with caplog.at_level("INFO", logger="resume_ner.train.loop"):
        result = trainer.fit()
    assert result.epochs_completed == 3 and result.epochs_planned == 3
    assert result.epochs_configured == 6 and result.shortened and not result.stopped_early
    rates = [h["learning_rate"] for h in result.history]
    assert rates[0] > rates[1] > 0 and rates[2] == 0.0
    assert "3 of the 6 epochs fit training.max_minutes=3.5" in caplog.text
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["epochs_planned"] == 3 and len(saved["history"]) == 3


@pytest.mark.slow
def test_budget_under_one_epoch_keeps_the_first(make_trainer, tmp_path, caplog):
    trainer = _trainer(make_trainer, tmp_path, "training.epochs=4", "training.max_minutes=0.5")
    with caplog.at_level("INFO", logger="resume_ner.train.loop"):
        result = trainer.fit()
    assert result.epochs_completed == 1 and result.epochs_planned == 1
    assert "training stops after epoch 1 of 4" in caplog.text


@pytest.mark.slow
def test_no_budget_trains_every_epoch(make_trainer, tmp_path):
    trainer = _trainer(make_trainer, tmp_path, "training.epochs=3", "training.max_minutes=null")
    result = trainer.fit()
    assert result.epochs_completed == 3 and not result.shortened


@pytest.mark.slow
def test_resume_keeps_the_spent_time_and_the_shortened_schedule(
    make_trainer, tmp_path, monkeypatch, caplog
):
    """Killed after epoch 1 (3 epochs of 60 s planned), the run resumes on a slower machine
    (90 s an epoch): with the 60 s spent before the kill, the mean pace is 75 s, so no epoch
    fits after epoch 2; the shortened schedule resumes too, so epoch 2 trains at the rates
    of the uninterrupted run."""
    from resume_ner.train import loop

    settings = ("training.epochs=6", "training.max_minutes=3.5")
    whole = _trainer(make_trainer, tmp_path / "whole", *settings)
    uninterrupted = whole.fit()
    assert uninterrupted.epochs_completed == 3

    update_manifest = loop.update_manifest

    def killed_after_epoch_1(out_dir, **fields):
        update_manifest(out_dir, **fields)
        if fields.get("epochs_completed") == 1:
            raise _Killed

    monkeypatch.setattr(loop, "update_manifest", killed_after_epoch_1)
    first = _trainer(make_trainer, tmp_path / "cut", *settings)
    with pytest.raises(_Killed):
        first.fit()
    monkeypatch.setattr(loop, "update_manifest", update_manifest)

    resumed = _trainer(
        make_trainer, tmp_path / "cut", *settings, clock=lambda seen: 90.0 * len(seen)
    )
    with caplog.at_level("INFO", logger="resume_ner.train.loop"):
        result = resumed.fit()
    assert result.resumed_from_epoch == 1
    assert result.epochs_completed == 2 and result.epochs_planned == 2
    assert "training stops after epoch 2 of 3" in caplog.text
    assert [h["learning_rate"] for h in result.history] == [
        h["learning_rate"] for h in uninterrupted.history[:2]
    ]


class _Killed(Exception):
    pass
