"""An exponential moving average of the weights, evaluated and saved in place of the raw ones.

On small, noisily annotated data the raw weights of the last steps jump between fits of the
noise; their average (Polyak averaging) smooths that out. On the DataTurks resumes it made
the validation curve steadier without raising held-out F1 (docs/experiments.md), so it
is opt-in: training.ema_decay. The average lives beside the model, is swapped in for
validation and for the saved checkpoint, and is part of the training state, so a resumed
run continues the same average.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from resume_ner.errors import ConfigError


@torch.no_grad()
def _assign(model: torch.nn.Module, values: dict[str, torch.Tensor]) -> None:
    """Copy `values` into the model's parameters of the same names."""
    params = dict(model.named_parameters())
    for name, value in values.items():
        params[name].copy_(value)


class WeightAverage:
    """Shadow copies of the trainable parameters, updated after every optimizer step.

    The decay ramps up as min(decay, (1 + n) / (10 + n)) over the first steps, so the
    average is not dominated by the initial weights of the freshly initialised head.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"training.ema_decay must be in (0, 1) or 0 for off, got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {
            name: p.detach().clone().float()
            for name, p in model.named_parameters()
            if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(p.detach().float(), 1.0 - d)

    def copy_to(self, model: torch.nn.Module) -> None:
        """Overwrite the model's averaged parameters with the average."""
        _assign(model, self.shadow)

    @contextmanager
    def swapped_in(self, model: torch.nn.Module) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own ones after it."""
        params = dict(model.named_parameters())
        raw = {name: params[name].detach().clone() for name in self.shadow}
        _assign(model, self.shadow)
        try:
            yield
        finally:
            _assign(model, raw)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {name: t.contiguous().cpu() for name, t in self.shadow.items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        missing = set(self.shadow) - set(tensors)
        if missing:
            raise ValueError(f"the saved weight average lacks {sorted(missing)[:3]}...")
        for name in self.shadow:
            self.shadow[name].copy_(tensors[name])
        self.updates = updates
