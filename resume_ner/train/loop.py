"""The training loop: AdamW with warm-up and decay, accumulation, clipping, early stopping,
a time budget, an evaluation and a resumable state at the end of every epoch."""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from resume_ner.checkpoints import METRICS, STATE_DIR, update_manifest, write_json
from resume_ner.data.document import Document
from resume_ner.errors import ConfigError, ResumeError
from resume_ner.modeling import autocast, torch_forward
from resume_ner.span_conventions import SpanConventions
from resume_ner.train.averaging import WeightAverage
from resume_ner.train.batches import collate, epoch_batches, micro_batches
from resume_ner.train.memory import MemoryPlan
from resume_ner.train.schedule import epochs_that_fit, linear_schedule, shorten_schedule
from resume_ner.train.state import Progress, find_state, load_state, read_fingerprint, save_state
from resume_ner.windows import IGNORE_INDEX

log = logging.getLogger(__name__)


def resumable_state(out_dir: Path, resume: str, fingerprint: str) -> Path | None:
    """The training state to resume from under training.resume, or None to start afresh.

    Raises ResumeError, before anything is written, when resume=must finds no state or the
    state found belongs to another config or data.
    """
    state_dir = out_dir / STATE_DIR
    found = find_state(state_dir) if resume != "never" else None
    if found is None:
        if resume == "must":
            raise ResumeError(
                f"training.resume=must but {state_dir} holds no training state; "
                f"use training.resume=auto to start a new run there."
            )
        return None
    if read_fingerprint(found) != fingerprint:
        raise ResumeError(
            f"{found} holds the state of a run with another config or data, so it cannot "
            f"be resumed with this one. Use a new run directory (or training.output_dir), "
            f"or training.resume=never to overwrite it."
        )
    return found


class StopTraining(Exception):
    """Raised by an `on_epoch` callback to end the run after this epoch, cleanly; its
    message is the reason, recorded in the manifest and on the MLflow run."""


# on_epoch(epoch, metrics): called once the epoch's state and metrics are saved; a true
# return value (or StopTraining) ends the run there.
EpochCallback = Callable[[int, dict[str, float]], "bool | None"]


@dataclass
class LoopSettings:
    epochs: int
    learning_rate: float
    head_learning_rate: float
    weight_decay: float
    warmup_ratio: float
    max_grad_norm: float
    max_length: int
    stride: int
    eval_batch_size: int
    patience: int | None
    seed: int
    group_by_length: bool
    resume: str
    objective: str
    maximize: bool
    log_every_steps: int
    # Decay of the exponential moving average of the weights; 0 turns averaging off.
    ema_decay: float = 0.0
    # Minutes the epochs (training and validation) may take; None: no budget.
    max_minutes: float | None = None


@dataclass
class FitResult:
    best_objective: float | None
    best_epoch: int | None
    best_metrics: dict[str, Any]
    best_scores: dict[str, Any]
    history: list[dict[str, float]]
    epochs_completed: int
    stopped_early: bool
    train_tokens: int = 0
    train_seconds: float = 0.0
    resumed_from_epoch: int = 0
    # training.epochs, and the epochs left in the plan when the time budget shortened it
    epochs_configured: int = 0
    epochs_planned: int = 0
    # Why an on_epoch callback ended the run (None: it was not stopped that way).
    stop_reason: str | None = None

    @property
    def shortened(self) -> bool:
        """The time budget cut the run short of training.epochs."""
        return self.epochs_planned < self.epochs_configured

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds else 0.0


def _param_groups(model: torch.nn.Module, s: LoopSettings) -> list[dict]:
    """Body and freshly initialised head at their own learning rates; no decay on bias/norms."""
    prefix = f"{model.base_model_prefix}."
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        head = not name.startswith(prefix)
        no_decay = name.endswith("bias") or "norm" in name.lower()
        groups.setdefault((head, no_decay), []).append(param)
    return [
        {
            "params": params,
            "lr": s.head_learning_rate if head else s.learning_rate,
            "weight_decay": 0.0 if no_decay else s.weight_decay,
        }
        for (head, no_decay), params in sorted(groups.items())
    ]


class Trainer:
    """Fits one model on labelled windows, scoring whole validation documents each epoch."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        train_windows: list,
        val_documents: list[Document],
        val_encodings: list,
        val_windows: list,
        id2label: dict[int, str],
        settings: LoopSettings,
        plan: MemoryPlan,
        device: torch.device,
        dtype: torch.dtype | None,
        out_dir: Path,
        fingerprint: str,
        on_epoch: EpochCallback = lambda epoch, metrics: None,
        on_best: Callable[[int, dict[str, Any]], None] = lambda epoch, scores: None,
        conventions: SpanConventions | None = None,
        min_span_score: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
        word_features: bool = False,
    ) -> None:
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.train_windows = train_windows
        self.val_documents = val_documents
        self.val_encodings = val_encodings
        self.val_windows = val_windows
        self.id2label = id2label
        self.s = settings
        self.plan = plan
        self.device = device
        self.dtype = dtype
        self.out_dir = out_dir
        self.fingerprint = fingerprint
        self.on_epoch = on_epoch
        self.on_best = on_best
        self.conventions = conventions
        self.min_span_score = min_span_score
        self.clock = clock
        # Whether the windows carry word classes as token types (saved with the checkpoint).
        self.word_features = word_features
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        lengths = [len(w.input_ids) for w in train_windows]
        self._lengths = lengths
        self.steps_per_epoch = math.ceil(len(train_windows) / plan.effective_batch)
        total = self.steps_per_epoch * settings.epochs
        # The fused kernel is several times faster than the per-tensor loop on CPU and CUDA.
        fused = device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.AdamW(_param_groups(model, settings), fused=fused)
        self.scheduler = linear_schedule(self.optimizer, settings.warmup_ratio, total)
        self.average = WeightAverage(self.model, settings.ema_decay) if settings.ema_decay else None

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self) -> tuple[dict[str, float], dict[str, Any]]:
        """One pass over the validation windows: the loss, and entity scores on the merged
        whole documents (the same merging and decoding as `predict_texts`)."""
        from resume_ner.inference import decode_documents, window_probabilities
        from resume_ner.train.metrics import entity_scores, flat_metrics

        self.model.eval()
        forward = torch_forward(self.model, self.device, self.dtype)
        probabilities = window_probabilities(
            self.val_windows, forward, self.pad_id, self.s.eval_batch_size
        )
        nll, label_count = 0.0, 0
        for window, probs in zip(self.val_windows, probabilities, strict=True):
            labels = np.asarray(window.labels[window.n_prefix :][: window.num_content])
            scored = labels != IGNORE_INDEX
            picked = probs[np.flatnonzero(scored), labels[scored]]
            nll -= float(np.log(np.clip(picked, 1e-12, None)).sum())
            label_count += int(scored.sum())
        predictions = decode_documents(
            [d.text for d in self.val_documents],
            self.val_encodings,
            self.val_windows,
            probabilities,
            self.id2label,
            self.conventions,
            self.min_span_score,
        )
        scores = entity_scores([d.spans for d in self.val_documents], predictions)
        metrics = flat_metrics(scores, prefix="val_")
        metrics["val_loss"] = nll / max(1, label_count)
        return metrics, scores

    def _loss(self, batch: dict[str, torch.Tensor], normaliser: int) -> torch.Tensor:
        """Token cross-entropy summed over labelled positions, divided by `normaliser`.

        Dividing by the labelled-token count of the whole effective batch (not of each
        micro-batch) makes an accumulated step equal to the unsplit one.
        """
        batch = {k: v.to(self.device) for k, v in batch.items()}
        labels = batch.pop("labels")
        with autocast(self.device, self.dtype):
            logits = self.model(**batch).logits
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return loss / max(1, normaliser)

    def _objective(self, metrics: dict[str, float]) -> float:
        if self.s.objective not in metrics:
            raise ConfigError(
                f"hpo.objective.metric={self.s.objective} is not logged by this run; "
                f"choose one of: {', '.join(sorted(k for k in metrics if k.startswith('val_')))}"
            )
        return metrics[self.s.objective]

    def _improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.s.maximize else value < best

    # -- the loop -----------------------------------------------------------------------
    def _averaged_weights(self) -> AbstractContextManager:
        """Validation and the saved checkpoint see the weight average when there is one."""
        return self.average.swapped_in(self.model) if self.average else nullcontext()

    def _resume(self) -> Progress:
        found = resumable_state(self.out_dir, self.s.resume, self.fingerprint)
        if found is None:
            shutil.rmtree(self.out_dir / STATE_DIR, ignore_errors=True)
            return Progress()
        progress = load_state(found, self.model, self.optimizer, self.scheduler, self.average)
        log.info("Resuming from %s after epoch %d", found, progress.epochs_completed)
        return progress

    def _planned(self, progress: Progress) -> int:
        """training.epochs, or fewer once the time budget has shortened the run."""
        return progress.epochs_planned or self.s.epochs

    def _fit_to_budget(self, progress: Progress) -> None:
        """Shorten the run, and its learning-rate schedule, to the epochs that fit
        training.max_minutes at the pace of the epochs done so far."""
        planned = self._planned(progress)
        done = progress.epochs_completed
        fits = epochs_that_fit(self.s.max_minutes * 60, progress.seconds, done)
        if fits >= planned:
            return
        progress.epochs_planned = fits
        minutes = progress.seconds / done / 60
        if fits > done:
            shorten_schedule(self.scheduler, self.s.warmup_ratio, fits * self.steps_per_epoch)
            log.info(
                "Time budget: an epoch takes %.1f min, so %d of the %d epochs fit "
                "training.max_minutes=%g; the learning rate now decays to zero by the end of "
                "epoch %d.",
                minutes,
                fits,
                planned,
                self.s.max_minutes,
                fits,
            )
        else:
            log.info(
                "Time budget: an epoch takes %.1f min and training.max_minutes=%g is spent, so "
                "training stops after epoch %d of %d (raise training.max_minutes, or set it "
                "to null, to train them all).",
                minutes,
                self.s.max_minutes,
                done,
                planned,
            )

    def _ask_on_epoch(self, epoch: int, metrics: dict[str, float]) -> str | None:
        """Run the on_epoch callback; the reason it gives to stop, or None to go on."""
        try:
            stop = self.on_epoch(epoch, dict(metrics))
        except StopTraining as request:
            return str(request) or "on_epoch raised StopTraining"
        return "on_epoch asked to stop" if stop else None

    def fit(self) -> FitResult:
        """Train to the last epoch (or early stop, or the end of the time budget); the model
        then holds the final weights, the weight average when training.ema_decay is on."""
        progress = self._resume()
        resumed_from = progress.epochs_completed
        best_metrics: dict[str, Any] = {}
        if progress.best_epoch is not None and progress.history:
            best_metrics = progress.history[progress.best_epoch - 1]
        tokens, seconds = 0, 0.0
        stop_reason: str | None = None
        tty = sys.stderr.isatty()
        # The budget counts each epoch from the end of the previous one, so saving the
        # state is charged to the epoch after it.
        mark = self.clock()
        epoch = progress.epochs_completed
        while epoch < self._planned(progress) and not progress.stopped_early:
            epoch += 1
            planned = self._planned(progress)
            update_manifest(self.out_dir, status="training", current_epoch=epoch)
            self.model.train()
            batches = epoch_batches(
                self._lengths, self.plan.effective_batch, self.s.seed, epoch, self.s.group_by_length
            )
            started = self.clock()
            epoch_loss, epoch_tokens = 0.0, 0
            bar = None
            if tty:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(batches), desc=f"epoch {epoch}/{planned}", leave=False)
            for step, batch_ids in enumerate(batches, start=1):
                windows = [self.train_windows[i] for i in batch_ids]
                total_labels = sum(sum(1 for x in w.labels if x != IGNORE_INDEX) for w in windows)
                step_loss = 0.0
                for part in micro_batches(list(range(len(windows))), self.plan.micro_batch):
                    chunk = [windows[i] for i in part]
                    batch = collate(chunk, self.pad_id)
                    epoch_tokens += int(batch["attention_mask"].sum())
                    loss = self._loss(batch, normaliser=total_labels)
                    loss.backward()
                    step_loss += float(loss.detach())
                if self.s.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.s.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.average is not None:
                    self.average.update(self.model)
                progress.optimizer_steps += 1
                epoch_loss += step_loss
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{step_loss:.4f}")
                elif step % self.s.log_every_steps == 0 or step == len(batches):
                    log.info(
                        "epoch %d/%d step %d/%d loss %.4f",
                        epoch,
                        planned,
                        step,
                        len(batches),
                        step_loss,
                    )
            if bar is not None:
                bar.close()
            elapsed = self.clock() - started
            tokens += epoch_tokens
            seconds += elapsed
            with self._averaged_weights():
                metrics, scores = self.evaluate()
            metrics.update(
                train_loss=epoch_loss / max(1, len(batches)),
                train_tokens_per_second=epoch_tokens / elapsed if elapsed else 0.0,
                learning_rate=self.scheduler.get_last_lr()[0],
                epoch=float(epoch),
            )
            objective = self._objective(metrics)
            log.info(
                "epoch %d/%d: train loss %.4f, val loss %.4f, val f1 %.4f, %s %.4f (%.0f tok/s)",
                epoch,
                planned,
                metrics["train_loss"],
                metrics["val_loss"],
                metrics["val_f1"],
                self.s.objective,
                objective,
                metrics["train_tokens_per_second"],
            )
            progress.history.append(metrics)
            if self._improved(objective, progress.best_objective):
                progress.best_objective, progress.best_epoch = objective, epoch
                progress.epochs_without_improvement = 0
                best_metrics, progress.best_scores = metrics, scores
                with self._averaged_weights():
                    self.on_best(epoch, {"metrics": metrics, "scores": scores})
            else:
                progress.epochs_without_improvement += 1
            # Patience that runs out at the last planned epoch stops nothing.
            if (
                self.s.patience
                and progress.epochs_without_improvement >= self.s.patience
                and epoch < planned
            ):
                progress.stopped_early = True
                log.info("Early stopping: no improvement in %d epochs", self.s.patience)
            progress.epochs_completed = epoch
            now = self.clock()
            progress.seconds += now - mark
            mark = now
            if self.s.max_minutes is not None and not progress.stopped_early:
                self._fit_to_budget(progress)
            save_state(
                self.out_dir / STATE_DIR,
                self.model,
                self.optimizer,
                self.scheduler,
                progress,
                self.fingerprint,
                self.average,
            )
            write_json(
                self.out_dir / METRICS,
                {
                    "best_epoch": progress.best_epoch,
                    "best": best_metrics,
                    "best_scores": progress.best_scores,
                    "history": progress.history,
                    "epochs_planned": self._planned(progress),
                },
            )
            update_manifest(
                self.out_dir,
                epochs_completed=epoch,
                best_epoch=progress.best_epoch,
                best_objective=progress.best_objective,
            )
            stop_reason = self._ask_on_epoch(epoch, metrics)
            if stop_reason is not None:
                log.info("Stopping after epoch %d: %s", epoch, stop_reason)
                break
        if self.average is not None:
            # What training produced is the average: the model now holds it, as validation
            # and the checkpoint saw it (the benchmark scores these final weights).
            self.average.copy_to(self.model)
        return FitResult(
            best_objective=progress.best_objective,
            best_epoch=progress.best_epoch,
            best_metrics=best_metrics,
            best_scores=progress.best_scores,
            history=progress.history,
            epochs_completed=progress.epochs_completed,
            stopped_early=progress.stopped_early,
            train_tokens=tokens,
            train_seconds=seconds,
            resumed_from_epoch=resumed_from,
            epochs_planned=self._planned(progress),
            epochs_configured=self.s.epochs,
            stop_reason=stop_reason,
        )
