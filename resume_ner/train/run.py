"""The training stage: `train(cfg, on_epoch=...) -> TrainResult`, one run on the configured
data (model, memory plan, tracking, the loop, the final report), and `build_trainer`, the
one place a Trainer is assembled (the run, the benchmark and the tests use it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from resume_ner.checkpoints import (
    LABEL_MAP,
    MANIFEST,
    RESOLVED_CONFIG,
    VALIDATION_SET,
    checkpoint_dir,
    update_manifest,
    write_json,
)
from resume_ner.config.checks import best_metric_key
from resume_ner.decoding import check_min_span_score
from resume_ner.errors import ConfigError, ResumeError
from resume_ner.modeling import (
    build_model,
    count_parameters,
    pick_device,
    pick_dtype,
    set_head_prior,
)
from resume_ner.span_conventions import SpanConventions, learn_conventions
from resume_ner.train.loop import (
    EpochCallback,
    FitResult,
    LoopSettings,
    StopTraining,
    Trainer,
    resumable_state,
)
from resume_ner.train.memory import MemoryPlan, plan_batch
from resume_ner.train.schedule import check_max_minutes

__all__ = ["StopTraining", "TrainResult", "build_trainer", "train"]

log = logging.getLogger(__name__)

# Settings that do not change what is learned: a resumed run may differ in these.
_NOT_FINGERPRINTED = {
    "resume",
    "output_dir",
    "device",
    "num_threads",
    "log_every_steps",
    "eval_batch_size",
    "memory_fraction",
    "memory_budget_gb",
}


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def _fingerprint(cfg: DictConfig, data_fingerprint: str) -> str:
    training = {
        k: v for k, v in OmegaConf.to_container(cfg.training).items() if k not in _NOT_FINGERPRINTED
    }
    payload = {
        "training": training,
        "model": OmegaConf.to_container(cfg.model),
        "seed": cfg.seed,
        "data": data_fingerprint,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def label_maps(documents: list) -> tuple[dict[int, str], dict[str, int]]:
    """BIO label ids for the entity labels present in `documents`."""
    from resume_ner.windows import bio_labels

    labels = bio_labels(sorted({s.label for d in documents for s in d.spans}))
    return dict(enumerate(labels)), {label: i for i, label in enumerate(labels)}


def memory_plan(t: DictConfig, model: torch.nn.Module, device: torch.device) -> MemoryPlan:
    """The memory guard's micro-batch and accumulation for this model on this device."""
    return plan_batch(
        model.config,
        count_parameters(model),
        batch_size=t.batch_size,
        accumulation=t.gradient_accumulation_steps,
        seq_len=t.max_length,
        device=device.type,
        fraction=t.memory_fraction,
        budget_gb=t.memory_budget_gb,
        average_bytes=4 if t.ema_decay else 0,
    )


def loop_settings(cfg: DictConfig, **changes: Any) -> LoopSettings:
    """The loop's settings from the composed config (`changes` replace single fields)."""
    t = cfg.training
    if not (t.ema_decay == 0 or 0 < t.ema_decay < 1):
        raise ConfigError(
            f"training.ema_decay={t.ema_decay}: use 0 (no weight average) or a decay in (0, 1), "
            f"e.g. 0.99"
        )
    check_min_span_score(t.min_span_score, "training.min_span_score")
    check_max_minutes(t.max_minutes, "training.max_minutes")
    settings = LoopSettings(
        epochs=t.epochs,
        learning_rate=t.learning_rate,
        head_learning_rate=t.head_learning_rate or t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_ratio=t.warmup_ratio,
        max_grad_norm=t.max_grad_norm,
        max_length=t.max_length,
        stride=t.stride,
        eval_batch_size=t.eval_batch_size,
        patience=t.early_stopping_patience,
        seed=cfg.seed,
        group_by_length=t.group_by_length,
        resume=t.resume,
        objective=cfg.hpo.objective.metric,
        maximize=cfg.hpo.objective.goal == "maximize",
        log_every_steps=t.log_every_steps,
        ema_decay=t.ema_decay,
        max_minutes=t.max_minutes,
    )
    return dataclasses.replace(settings, **changes)


def labelled_windows(
    tokenizer: Any, documents: list, t: DictConfig, label2id: dict[str, int], word_features: bool
) -> tuple[list, list]:
    """(encodings, windows) of annotated documents under the training.* window settings."""
    from resume_ner.windows import build_windows

    return build_windows(
        tokenizer, documents, t.max_length, t.stride, label2id, t.label_all_tokens, word_features
    )


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def prepare_model(
    cfg: DictConfig, source: str, id2label: dict[int, str]
) -> tuple[torch.nn.Module, bool]:
    """The model to train, and whether it reads word classes as token types."""
    from resume_ner.word_features import add_feature_embeddings, use_word_features

    model = build_model(source, id2label, cfg.model, revision=cfg.model.revision)
    word_features = use_word_features(cfg.model.word_features, model.config)
    if word_features:
        add_feature_embeddings(model)
    if cfg.model.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model, word_features


def start_head_at_prior(
    cfg: DictConfig, model: torch.nn.Module, train_windows: list, id2label: dict[int, str]
) -> None:
    """Under model.head_bias_prior, start the fresh head's bias at the training tag prior."""
    if not cfg.model.head_bias_prior:
        return
    if set_head_prior(model, train_windows, len(id2label)):
        log.info("the head's bias starts at the tag frequencies of the training windows")
    else:
        log.info("model.head_bias_prior: %s has no head bias to set", type(model).__name__)


def model_and_windows(
    cfg: DictConfig,
    source: str,
    tokenizer: Any,
    documents: list,
    id2label: dict[int, str],
    label2id: dict[str, int],
) -> tuple[torch.nn.Module, bool, list]:
    """The model to train, whether it reads word classes, and its training windows, with
    the head started at their tag prior under model.head_bias_prior."""
    model, word_features = prepare_model(cfg, source, id2label)
    _, windows = labelled_windows(tokenizer, documents, cfg.training, label2id, word_features)
    start_head_at_prior(cfg, model, windows, id2label)
    return model, word_features, windows


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced."""

    # The best validation value of hpo.objective.metric (None: no epoch was evaluated).
    objective: float | None
    metric: str
    best_epoch: int | None
    checkpoint: Path
    mlflow_run_id: str | None
    # "completed", or "stopped" when on_epoch ended the run (stop_reason says why).
    status: str
    stop_reason: str | None
    epochs_completed: int
    stopped_early: bool


def build_trainer(
    cfg: DictConfig,
    *,
    source: str,
    tokenizer: Any,
    train_documents: list,
    val_documents: list,
    id2label: dict[int, str],
    label2id: dict[str, int],
    out_dir: Path,
    fingerprint: str,
    device: torch.device | None = None,
    plan: MemoryPlan | None = None,
    on_epoch: EpochCallback | None = None,
    on_best: Callable[[int, dict[str, Any]], None] | None = None,
    conventions: SpanConventions | None = None,
    **setting_changes: Any,
) -> Trainer:
    """The one place a Trainer is assembled: seeded model, windows, memory plan, settings.

    `train` uses it with the configured data; the benchmark and the tests with documents
    of their own. `plan` (default: the memory guard's) and `setting_changes` (fields of
    LoopSettings, e.g. patience=None) let them fix what a run would choose.
    """
    t = cfg.training
    settings = loop_settings(cfg, **setting_changes)  # checks the settings first
    device = device or pick_device(t.device)
    seed_everything(cfg.seed, t.deterministic)
    model, word_features, train_windows = model_and_windows(
        cfg, source, tokenizer, train_documents, id2label, label2id
    )
    val_encodings, val_windows = labelled_windows(
        tokenizer, val_documents, t, label2id, word_features
    )
    return Trainer(
        model=model,
        tokenizer=tokenizer,
        train_windows=train_windows,
        val_documents=val_documents,
        val_encodings=val_encodings,
        val_windows=val_windows,
        id2label=id2label,
        settings=settings,
        plan=plan or memory_plan(t, model, device),
        device=device,
        dtype=pick_dtype(t.precision, device),
        out_dir=out_dir,
        fingerprint=fingerprint,
        on_epoch=on_epoch or (lambda epoch, metrics: None),
        on_best=on_best or (lambda epoch, result: None),
        conventions=conventions,
        min_span_score=float(t.min_span_score),
        word_features=word_features,
    )


def train(
    cfg: DictConfig,
    *,
    on_epoch: EpochCallback | None = None,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> TrainResult:
    """Train once on the configured data, tracked in MLflow, leaving a checkpoint.

    on_epoch(epoch, metrics) is called after each epoch's state and metrics are saved (and
    logged); returning True, or raising StopTraining("why"), ends the run there, cleanly:
    the best checkpoint is kept, the manifest says "stopped" and the MLflow run is FINISHED
    with a `stop_reason` tag. run_dir (default: the cwd) holds validation.json and, unless
    training.output_dir says otherwise, the checkpoint; `overrides` are recorded on the run.
    User-caused failures raise resume_ner.errors.UserError subclasses.
    """
    run_dir = Path(run_dir) if run_dir is not None else Path.cwd()
    out_dir = checkpoint_dir(cfg.training.output_dir, run_dir)
    # A refused resume must leave another run's folder as it was: keep what we overwrite.
    kept = {name: _read_bytes(out_dir / name) for name in (MANIFEST, RESOLVED_CONFIG)}
    # The manifest exists from the first second: an output is never empty, even after a crash.
    update_manifest(out_dir, status="starting", run_dir=str(run_dir), command=sys.argv)
    try:
        return _run(cfg, run_dir, out_dir, on_epoch, list(overrides))
    except ResumeError:
        for name, content in kept.items():
            if content is None:
                (out_dir / name).unlink(missing_ok=True)
            else:
                (out_dir / name).write_bytes(content)
        raise
    except KeyboardInterrupt:
        update_manifest(out_dir, status="interrupted")
        raise
    except Exception as error:
        update_manifest(out_dir, status="failed", error=f"{type(error).__name__}: {error}")
        raise


def _run(
    cfg: DictConfig,
    run_dir: Path,
    out_dir: Path,
    on_epoch: EpochCallback | None,
    overrides: list[str],
) -> TrainResult:
    from resume_ner.data.load import load_splits
    from resume_ner.model_source import check_available, resolve_pretrained
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.train.run_metadata import data_fingerprint, flatten_config, git_commit
    from resume_ner.train.tracking import Tracker

    t = cfg.training
    (out_dir / RESOLVED_CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    loop_settings(cfg)  # checks the settings before anything slow

    source = resolve_pretrained(cfg.model.pretrained, cfg.model.fallback)
    check_available(source)
    if t.num_threads:
        torch.set_num_threads(int(t.num_threads))

    splits = load_splits(cfg.data)
    if not splits.train:
        raise ConfigError(f"data '{cfg.data.name}' gave no training documents")
    if not splits.val:
        raise ConfigError(
            "no validation documents: set data.split.val_fraction > 0 or data.val_path"
        )
    data_fp = data_fingerprint(splits.train + splits.val)
    fingerprint = _fingerprint(cfg, data_fp)
    # Refuse a foreign training state before writing the model files into its folder.
    resumable_state(out_dir, t.resume, fingerprint)
    report_path = run_dir / "validation.json"
    write_json(report_path, splits.report.to_json())

    tokenizer = load_tokenizer(source, revision=cfg.model.revision)
    id2label, label2id = label_maps(splits.train + splits.val)
    conventions = learn_conventions(splits.train) if t.learn_span_conventions else None
    tracked: dict[str, Any] = {}

    def log_then_ask(epoch: int, metrics: dict[str, float]) -> bool | None:
        tracked["tracker"].log_metrics(metrics, step=epoch)
        return on_epoch(epoch, metrics) if on_epoch is not None else None

    trainer = build_trainer(
        cfg,
        source=source,
        tokenizer=tokenizer,
        train_documents=splits.train,
        val_documents=splits.val,
        id2label=id2label,
        label2id=label2id,
        out_dir=out_dir,
        fingerprint=fingerprint,
        on_epoch=log_then_ask,
        on_best=lambda epoch, result: _save_best(trainer.model, out_dir),
        conventions=conventions,
    )
    plan = trainer.plan
    log.info(
        "%d training documents -> %d windows; %d validation documents; %d labels; word "
        "classes (case, line breaks) as token types: %s",
        len(splits.train),
        len(trainer.train_windows),
        len(splits.val),
        (len(id2label) - 1) // 2,
        trainer.word_features,
    )
    if conventions is not None:
        log.info(
            "span conventions of the training annotations: labels that end at a line "
            "break: %s; gaps across which neighbouring spans are one: %s; labels repeated "
            "wherever their string recurs: %s",
            ", ".join(conventions.single_line) or "none",
            "; ".join(f"{label} {gaps}" for label, gaps in conventions.joins.items()) or "none",
            ", ".join(conventions.repeated) or "none",
        )

    tokenizer.save_pretrained(str(out_dir))
    write_json(
        out_dir / LABEL_MAP,
        {
            "id2label": {str(k): v for k, v in id2label.items()},
            "max_length": t.max_length,
            "stride": t.stride,
            "label_all_tokens": t.label_all_tokens,
            "word_features": trainer.word_features,
            "span_conventions": (conventions or SpanConventions()).to_json(),
            "min_span_score": float(t.min_span_score),
        },
    )

    # The documents this checkpoint is validated on, for conversion's parity check: the
    # data config may point nowhere by then (another machine, an Azure ML job's mount).
    (out_dir / VALIDATION_SET).write_text(
        "".join(json.dumps(doc.to_spacy(), ensure_ascii=False) + "\n" for doc in splits.val),
        encoding="utf-8",
    )

    with Tracker(cfg.tracking, base_dir=Path.cwd()) as tracker:
        tracked["tracker"] = tracker
        tracker.log_params(flatten_config(cfg))
        tags = {
            "data_fingerprint": data_fp,
            "hydra_overrides": " ".join(overrides) or "(none)",
            "checkpoint_dir": str(out_dir),
            "memory_plan": f"micro_batch={plan.micro_batch} accumulation={plan.accumulation}",
            **dict(cfg.tracking.tags),
        }
        commit = git_commit(Path(__file__).resolve().parent)
        if commit:
            tags["git_commit"] = commit
        tracker.set_tags(tags)
        tracker.log_artifact(str(report_path))
        update_manifest(out_dir, status="training", mlflow_run_id=tracker.run_id)
        result = trainer.fit()
        status = "completed" if result.stop_reason is None else "stopped"
        update_manifest(
            out_dir,
            status=status,
            stop_reason=result.stop_reason,
            epochs_completed=result.epochs_completed,
            best_epoch=result.best_epoch,
            best_objective=result.best_objective,
        )
        if result.stop_reason is not None:
            # MLflow has no "stopped" status: the run ends FINISHED, and this tag says why.
            tracker.set_tags({"stop_reason": result.stop_reason})
        if result.best_objective is not None:
            # A summary under its own name: the objective's own key is logged once per
            # epoch only (Azure ML counts each of its logs as one evaluation interval).
            tracker.log_metrics({best_metric_key(cfg.hpo.objective.metric): result.best_objective})
        tracker.log_artifact(str(out_dir / "metrics.json"))
        tracker.log_artifact(str(out_dir / RESOLVED_CONFIG))
        _log_checkpoint(tracker, cfg.tracking.log_checkpoint, out_dir)
        _report(result, cfg.hpo.objective.metric, out_dir, tracker, plan)
    return TrainResult(
        objective=result.best_objective,
        metric=cfg.hpo.objective.metric,
        best_epoch=result.best_epoch,
        checkpoint=out_dir,
        mlflow_run_id=tracker.run_id,
        status=status,
        stop_reason=result.stop_reason,
        epochs_completed=result.epochs_completed,
        stopped_early=result.stopped_early,
    )


def _save_best(model: torch.nn.Module, out_dir: Path) -> None:
    """Replace the best model files; a kill mid-write leaves the previous best intact."""
    tmp = out_dir / ".best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    for item in tmp.iterdir():
        os.replace(item, out_dir / item.name)
    tmp.rmdir()


def _log_checkpoint(tracker: Any, mode: str, out_dir: Path) -> None:
    if mode == "artifact":
        tracker.log_artifacts(str(out_dir), artifact_path="checkpoint")
    elif mode == "pointer":
        pointer = out_dir / "checkpoint_location.txt"
        pointer.write_text(f"{out_dir}\n")
        tracker.log_artifact(str(pointer))


def _report(result: FitResult, objective: str, out_dir: Path, tracker: Any, plan: Any) -> None:
    from resume_ner.train.metrics import format_table

    best = result.best_metrics
    lines = [
        "",
        f"Training finished: {result.epochs_completed} epoch(s)"
        + (", stopped early" if result.stopped_early else "")
        + (
            f", resumed after epoch {result.resumed_from_epoch}"
            if result.resumed_from_epoch
            else ""
        )
        + (
            f"; the time budget (training.max_minutes) cut the plan from "
            f"{result.epochs_configured} to {result.epochs_planned} epochs"
            if result.shortened
            else ""
        ),
        f"Best epoch {result.best_epoch}: {objective} {result.best_objective:.4f}"
        if result.best_objective is not None
        else "No epoch was evaluated.",
    ]
    if best:
        lines.append(
            f"  val precision {best['val_precision']:.4f}  recall {best['val_recall']:.4f}  "
            f"f1 {best['val_f1']:.4f}  macro-f1 {best['val_macro-f1']:.4f}"
        )
    if result.best_scores:
        lines.append(format_table(result.best_scores))
    if result.train_seconds:
        lines.append(
            f"Throughput: {result.tokens_per_second:,.0f} non-padding tokens/s "
            f"(micro-batch {plan.micro_batch} x accumulation {plan.accumulation})"
        )
    lines += [
        f"Checkpoint: {out_dir}",
        f"MLflow run: {tracker.run_id}  ({tracker.ui_hint()})",
    ]
    print("\n".join(lines))
