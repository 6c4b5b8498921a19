"""Training state for resuming: model, optimizer, scheduler, epoch and RNG, without pickles.

Tensors go to safetensors files, everything else to state.json. The folder is replaced
atomically at the end of each epoch, so a run killed at any moment resumes from the last
completed epoch.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from resume_ner.checkpoints import read_json, write_json
from resume_ner.train.averaging import WeightAverage

STATE_FILE = "state.json"
AVERAGE_FILE = "average.safetensors"


@dataclass
class Progress:
    """Loop counters and early-stopping bookkeeping, saved with every epoch."""

    epochs_completed: int = 0
    optimizer_steps: int = 0
    best_objective: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    # entity scores (per label) of the best epoch, for the final table
    best_scores: dict = field(default_factory=dict)
    stopped_early: bool = False
    # Wall seconds of the completed epochs (training, validation, saving), for the time
    # budget, and the epochs it left in the plan (None: training.epochs).
    seconds: float = 0.0
    epochs_planned: int | None = None


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_state() -> tuple[dict, dict]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    meta = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    return tensors, meta


def _restore_rng(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))
    name, keys, *rest = meta["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))


def save_state(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: Progress,
    fingerprint: str,
    average: WeightAverage | None = None,
) -> None:
    """Write the state of a completed epoch, replacing the previous one atomically."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    rng_tensors, rng_meta = _rng_state()
    save_file(rng_tensors, str(tmp / "rng.safetensors"))
    if average is not None:
        save_file(average.state_tensors(), str(tmp / AVERAGE_FILE))
    write_json(
        tmp / STATE_FILE,
        {
            "progress": asdict(progress),
            "optimizer": opt_meta,
            "scheduler": scheduler.state_dict(),
            "rng": rng_meta,
            "fingerprint": fingerprint,
        },
    )
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def find_state(folder: Path) -> Path | None:
    """The newest complete state folder (the .old copy survives a kill mid-replacement)."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def read_fingerprint(folder: Path) -> str | None:
    return read_json(folder / STATE_FILE).get("fingerprint")


def load_state(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    average: WeightAverage | None = None,
) -> Progress:
    """Restore model, optimizer, scheduler, RNG and weight average from `folder`; return the
    loop counters."""
    meta = read_json(folder / STATE_FILE)
    load_model(model, str(folder / "model.safetensors"))
    _restore_optimizer(
        optimizer, load_file(str(folder / "optimizer.safetensors")), meta["optimizer"]
    )
    scheduler.load_state_dict(meta["scheduler"])
    _restore_rng(load_file(str(folder / "rng.safetensors")), meta["rng"])
    progress = Progress(**meta["progress"])
    if average is not None:
        # One average update per optimizer step, so the step count is the update count.
        average.load_state_tensors(
            load_file(str(folder / AVERAGE_FILE)), updates=progress.optimizer_steps
        )
    return progress
