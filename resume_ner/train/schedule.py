"""The learning-rate schedule (linear warm-up, then linear decay to zero) and its
shortening when the epochs planned will not fit the time budget (training.max_minutes)."""

from __future__ import annotations

import math

import torch

from resume_ner.errors import ConfigError


class LinearSchedule:
    """The factor on the peak learning rate at each optimizer step.

    A callable object rather than a closure: LambdaLR saves and restores its attributes
    with the scheduler's state, so a resumed run keeps a shortened schedule.
    """

    def __init__(self, warmup_ratio: float, total_steps: int) -> None:
        self.plan(warmup_ratio, total_steps)

    def plan(self, warmup_ratio: float, total_steps: int) -> None:
        """Warm up over the first `warmup_ratio` of `total_steps`, then decay to zero."""
        self.warmup_steps = int(warmup_ratio * total_steps)
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))


def linear_schedule(
    optimizer: torch.optim.Optimizer, warmup_ratio: float, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    factors = [LinearSchedule(warmup_ratio, total_steps) for _ in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factors)


def shorten_schedule(
    scheduler: torch.optim.lr_scheduler.LambdaLR, warmup_ratio: float, total_steps: int
) -> None:
    """From the next step on, follow the schedule of a run planned for `total_steps`."""
    for factor in scheduler.lr_lambdas:
        factor.plan(warmup_ratio, total_steps)


def epochs_that_fit(budget_seconds: float, seconds_so_far: float, epochs_done: int) -> int:
    """How many epochs in all fit the budget at the mean pace of those done (at least the
    ones done: a run always keeps what it has trained)."""
    if epochs_done < 1:
        raise ValueError("the pace is known only after an epoch")
    per_epoch = max(seconds_so_far / epochs_done, 1e-9)
    more = math.floor((budget_seconds - seconds_so_far) / per_epoch)
    return epochs_done + max(0, more)


def check_max_minutes(value: float | None, setting: str) -> None:
    """Refuse a time budget that is not a positive number of minutes (None: no budget)."""
    if value is not None and not value > 0:
        raise ConfigError(
            f"{setting}={value}: give the minutes the training epochs may take (e.g. 19), "
            f"or null for no time budget"
        )
