"""One training run: data, model, memory plan, tracking, the loop, and the final report."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from resume_ner.checkpoints import (
    LABEL_MAP,
    MANIFEST,
    RESOLVED_CONFIG,
    checkpoint_dir,
    update_manifest,
    write_json,
)
from resume_ner.cli import UsageError, reporting_user_errors
from resume_ner.cli import run_dir as cli_run_dir
from resume_ner.decoding import check_min_span_score
from resume_ner.modeling import (
    build_model,
    count_parameters,
    pick_device,
    pick_dtype,
    set_head_prior,
)
from resume_ner.span_conventions import SpanConventions, learn_conventions
from resume_ner.train.loop import FitResult, LoopSettings, ResumeError, Trainer, resumable_state
from resume_ner.train.memory import MemoryPlan, plan_batch
from resume_ner.train.schedule import check_max_minutes

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


def _hydra_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


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
        raise UsageError(
            f"training.ema_decay={t.ema_decay}: use 0 (no weight average) or a decay in (0, 1), "
            f"e.g. 0.99"
        )
    try:
        check_min_span_score(t.min_span_score, "training.min_span_score")
        check_max_minutes(t.max_minutes, "training.max_minutes")
    except ValueError as error:
        raise UsageError(str(error)) from None
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


@reporting_user_errors
def run_training(cfg: DictConfig) -> float | None:
    """Train once and return the objective (the best validation value of hpo.objective)."""
    run_dir = cli_run_dir()
    out_dir = checkpoint_dir(cfg.training.output_dir, run_dir)
    # A refused resume must leave another run's folder as it was: keep what we overwrite.
    kept = {name: _read_bytes(out_dir / name) for name in (MANIFEST, RESOLVED_CONFIG)}
    # The manifest exists from the first second: an output is never empty, even after a crash.
    update_manifest(out_dir, status="starting", run_dir=str(run_dir), command=sys.argv)
    try:
        return _run(cfg, run_dir, out_dir)
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


def _run(cfg: DictConfig, run_dir: Path, out_dir: Path) -> float | None:
    from resume_ner.data.load import load_splits
    from resume_ner.model_source import check_available, resolve_pretrained
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.train.run_metadata import data_fingerprint, flatten_config, git_commit
    from resume_ner.train.tracking import Tracker

    t = cfg.training
    (out_dir / RESOLVED_CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    settings = loop_settings(cfg)  # checks the settings before anything slow

    source = resolve_pretrained(cfg.model.pretrained, cfg.model.fallback)
    check_available(source)
    if t.num_threads:
        torch.set_num_threads(int(t.num_threads))
    seed_everything(cfg.seed, t.deterministic)

    splits = load_splits(cfg.data)
    if not splits.train:
        raise UsageError(f"data '{cfg.data.name}' gave no training documents")
    if not splits.val:
        raise UsageError(
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
    device = pick_device(t.device)
    dtype = pick_dtype(t.precision, device)
    model, word_features, train_windows = model_and_windows(
        cfg, source, tokenizer, splits.train, id2label, label2id
    )
    val_encodings, val_windows = labelled_windows(tokenizer, splits.val, t, label2id, word_features)
    log.info(
        "%d training documents -> %d windows; %d validation documents; %d labels; word "
        "classes (case, line breaks) as token types: %s",
        len(splits.train),
        len(train_windows),
        len(splits.val),
        (len(id2label) - 1) // 2,
        word_features,
    )

    plan = memory_plan(t, model, device)
    conventions = learn_conventions(splits.train) if t.learn_span_conventions else None
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
            "word_features": word_features,
            "span_conventions": (conventions or SpanConventions()).to_json(),
            "min_span_score": float(t.min_span_score),
        },
    )

    with Tracker(cfg.tracking, base_dir=Path.cwd()) as tracker:
        tracker.log_params(flatten_config(cfg))
        tags = {
            "data_fingerprint": data_fp,
            "hydra_overrides": " ".join(_hydra_overrides()) or "(none)",
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

        def on_best(epoch: int, result: dict[str, Any]) -> None:
            _save_best(model, out_dir)

        trainer = Trainer(
            model=model,
            tokenizer=tokenizer,
            train_windows=train_windows,
            val_documents=splits.val,
            val_encodings=val_encodings,
            val_windows=val_windows,
            id2label=id2label,
            settings=settings,
            plan=plan,
            device=device,
            dtype=dtype,
            out_dir=out_dir,
            fingerprint=fingerprint,
            on_epoch=lambda epoch, metrics: tracker.log_metrics(metrics, step=epoch),
            on_best=on_best,
            conventions=conventions,
            min_span_score=float(t.min_span_score),
        )
        result = trainer.fit()
        update_manifest(
            out_dir,
            status="completed",
            epochs_completed=result.epochs_completed,
            best_epoch=result.best_epoch,
            best_objective=result.best_objective,
        )
        tracker.log_artifact(str(out_dir / "metrics.json"))
        tracker.log_artifact(str(out_dir / RESOLVED_CONFIG))
        _log_checkpoint(tracker, cfg.tracking.log_checkpoint, out_dir)
        _report(result, cfg.hpo.objective.metric, out_dir, tracker, plan)
    return result.best_objective


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
