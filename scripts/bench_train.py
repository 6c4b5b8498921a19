"""Training benchmark: this framework's default recipe against a Hugging Face Trainer baseline.

    python scripts/bench_train.py                        # the full benchmark (tens of minutes)
    python scripts/bench_train.py --limit-train 8 --epochs 1 --max-length 64   # a quick look
    python scripts/bench_train.py --json bench.json training.precision=bf16    # + overrides

Both systems see the same data, windows and hyper-parameters and are scored by the same code;
only training differs.

* Data: a DataTurks JSONL file (default ../shared/data/dataturks/train.jsonl beside the
  repository; --data FILE for another), read and repaired by `load_documents` with the
  `data=dataturks` config. Held-out split: the LAST --holdout (20) repaired documents in file
  order, as in ../shared/benchmarks/anchors.md ("180 train / last 20 as dev"); with
  --split-seed N the documents are first shuffled by random.Random(N). The rest train
  (--limit-train N: only the first N of them).
* Hyper-parameters: the composed train config (training=default, model=minilm) plus the
  CLI options below and any Hydra-style overrides given as trailing arguments.
* Ours: the model, windows, memory plan and loop exactly as a training run builds them,
  by resume_ner.train.run.build_trainer (framework defaults included: SDPA attention,
  attention dropout 0, frozen word embeddings, the head's bias started at the tag prior,
  length-grouped dynamic-padding batches, a separate head learning rate,
  precision=auto), without MLflow,
  with no early stopping, no time budget (both train every epoch of training.epochs) and no
  best-epoch selection: the final weights are scored.
* Baseline: transformers.Trainer, the usual recipe: AutoModelForTokenClassification with the
  checkpoint's own config (dropouts, default attention implementation), one learning rate,
  linear schedule with the same warm-up ratio, DataCollatorForTokenClassification (dynamic
  padding), random sampling, fp32, over the SAME training windows; final weights scored.
* Score: entity micro/macro F1 on the held-out documents with resume_ner.inference
  .predict_texts + resume_ner.train.metrics.entity_scores, fp32, for both models, decoded
  with the span conventions learned from the training documents and training.min_span_score
  (as a training run does).
* Throughput: non-padding training tokens / training seconds (the epochs' step loops only;
  model loading, evaluation and checkpoint writing excluded).
* Peak RSS: each system runs in its own child process (this script with --only SYSTEM);
  ru_maxrss of that process, so it covers data loading, training and scoring.
* Threads: torch.set_num_threads(--threads, default: the CPUs this process may use) in both.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resume_ner.span_conventions import SpanConventions

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dataturks" / "train.jsonl"
SYSTEMS = ("ours", "baseline")
THROUGHPUT_TARGET = 1.3

log = logging.getLogger("bench_train")


# -- arguments and config -----------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the default configuration and a Hugging Face Trainer baseline on "
        "the same data; compare F1, throughput and peak memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DataTurks JSONL file")
    parser.add_argument("--holdout", type=int, default=20, help="held-out documents (the last)")
    parser.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="shuffle the documents with this seed before taking the last --holdout "
        "(default: file order, as the anchors)",
    )
    parser.add_argument("--limit-train", type=int, default=None, help="first N training docs")
    parser.add_argument("--epochs", type=int, default=None, help="training.epochs")
    parser.add_argument("--max-length", type=int, default=None, help="training.max_length")
    parser.add_argument("--stride", type=int, default=None, help="training.stride")
    parser.add_argument("--batch-size", type=int, default=None, help="training.batch_size")
    parser.add_argument("--model", default=None, help="model.pretrained (a folder or bundled:)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the config's)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: usable CPUs)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--only", choices=SYSTEMS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides of the train config, e.g. training.learning_rate=2e-4 "
        "model.attention_dropout=0.1 training.precision=bf16",
    )
    args = parser.parse_args(argv)
    if args.holdout < 1:
        parser.error("--holdout must be at least 1")
    if args.limit_train is not None and args.limit_train < 1:
        parser.error("--limit-train must be at least 1")
    return args


def compose_config(args: argparse.Namespace) -> Any:
    """The train config with data=dataturks at --data, and the CLI options applied."""
    from resume_ner.config.compose import compose_train

    overrides = ["data=dataturks", f"data.path={args.data.resolve()}"]
    for option, key in (
        ("epochs", "training.epochs"),
        ("max_length", "training.max_length"),
        ("stride", "training.stride"),
        ("batch_size", "training.batch_size"),
        ("model", "model.pretrained"),
        ("seed", "seed"),
    ):
        value = getattr(args, option)
        if value is not None:
            overrides.append(f"{key}={value}")
    return compose_train(overrides + args.overrides)


def load_split(cfg: Any, args: argparse.Namespace) -> tuple[list, list, dict]:
    """(train, held-out) repaired documents and a description of the split."""
    from resume_ner.data.load import load_documents
    from resume_ner.data.report import ValidationReport

    documents = load_documents(cfg.data.path, cfg.data, ValidationReport())
    if args.split_seed is not None:
        random.Random(args.split_seed).shuffle(documents)
    if len(documents) <= args.holdout:
        raise SystemExit(
            f"error: {cfg.data.path} gave {len(documents)} documents after repair; "
            f"--holdout {args.holdout} leaves none to train on"
        )
    train, held_out = documents[: -args.holdout], documents[-args.holdout :]
    if args.limit_train is not None:
        train = train[: args.limit_train]
    info = {
        "documents": len(documents),
        "train_documents": len(train),
        "heldout_documents": len(held_out),
        "split": "last N in file order"
        if args.split_seed is None
        else f"last N after shuffle(seed={args.split_seed})",
    }
    return train, held_out, info


def training_summary(t: Any) -> dict[str, Any]:
    keys = (
        "epochs",
        "learning_rate",
        "head_learning_rate",
        "batch_size",
        "gradient_accumulation_steps",
        "weight_decay",
        "warmup_ratio",
        "max_grad_norm",
        "max_length",
        "stride",
        "label_all_tokens",
        "precision",
        "group_by_length",
        "eval_batch_size",
    )
    return {k: t[k] for k in keys}


# -- one system in this process -----------------------------------------------------------
def score(
    model: Any,
    tokenizer: Any,
    held_out: list,
    id2label: dict,
    t: Any,
    word_features: bool,
    conventions: SpanConventions | None,
) -> dict[str, Any]:
    """Entity scores of `model` on the held-out documents: the same code for both systems."""
    import torch

    from resume_ner.inference import predict_texts
    from resume_ner.modeling import torch_forward
    from resume_ner.train.metrics import entity_scores

    model.eval()
    started = time.perf_counter()
    predictions = predict_texts(
        [d.text for d in held_out],
        tokenizer,
        torch_forward(model, torch.device("cpu"), None),
        id2label,
        max_length=t.max_length,
        stride=t.stride,
        batch_size=t.eval_batch_size,
        word_features=word_features,
        conventions=conventions,
        min_score=t.min_span_score,
    )
    scores = entity_scores([d.spans for d in held_out], predictions)
    scores["eval_seconds"] = time.perf_counter() - started
    return scores


def _model_setup(config: Any) -> dict[str, Any]:
    """What the model's own config sets: attention kernel and dropouts."""
    return {
        "attention": config._attn_implementation,
        "attention_dropout": config.attention_probs_dropout_prob,
        "hidden_dropout": config.hidden_dropout_prob,
        "classifier_dropout": config.classifier_dropout,
    }


def run_ours(cfg, tokenizer, source, train, id2label, label2id) -> dict[str, Any]:
    import torch

    from resume_ner.train.run import build_trainer

    t = cfg.training
    log.info(
        "no validation set: the loop's per-epoch val numbers are empty; the final weights "
        "are scored on the held-out documents"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as out_dir:
        trainer = build_trainer(
            cfg,
            source=source,
            tokenizer=tokenizer,
            train_documents=train,
            # No validation set: the final weights are scored below, as the baseline's are.
            val_documents=[],
            id2label=id2label,
            label2id=label2id,
            out_dir=Path(out_dir),
            fingerprint="bench",
            device=torch.device("cpu"),
            patience=None,
            resume="never",
            max_minutes=None,
        )
        result = trainer.fit()
    word_features, plan, dtype = trainer.word_features, trainer.plan, trainer.dtype
    return {
        "train_tokens": result.train_tokens,
        "train_seconds": result.train_seconds,
        "epochs": result.epochs_completed,
        "optimizer_steps": trainer.steps_per_epoch * result.epochs_completed,
        "model": trainer.model,
        "word_features": word_features,
        "train_windows": len(trainer.train_windows),
        "setup": {
            **_model_setup(trainer.model.config),
            "word classes as token types": word_features,
            "word embeddings": "frozen" if cfg.model.freeze_word_embeddings else "trained",
            "head bias at the start": "tag prior" if cfg.model.head_bias_prior else "zero",
            "learning_rate": f"{t.learning_rate:g} body / "
            f"{(t.head_learning_rate or t.learning_rate):g} head",
            "batches": ("length-grouped" if t.group_by_length else "shuffled")
            + f", dynamic padding, micro-batch {plan.micro_batch} x {plan.accumulation}",
            "precision": str(dtype).replace("torch.", "") if dtype else "fp32",
            "optimizer": "torch.optim.AdamW, fused (no decay on bias/norm)",
        },
    }


def run_baseline(cfg, tokenizer, source, train, id2label, label2id) -> dict[str, Any]:
    import dataclasses

    import torch
    from transformers import (
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from resume_ner.train.run import labelled_windows

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    t = cfg.training
    _, train_windows = labelled_windows(tokenizer, train, t, label2id, word_features=False)
    set_seed(cfg.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        source,
        revision=cfg.model.revision,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        use_safetensors=True,
        trust_remote_code=False,
    )

    class Windows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(train_windows)

        def __getitem__(self, i: int) -> dict[str, list[int]]:
            w = train_windows[i]
            return {"input_ids": list(w.input_ids), "labels": list(w.labels)}

    class EpochClock(TrainerCallback):
        """Seconds inside the epochs' step loops, as the framework's loop measures."""

        def __init__(self) -> None:
            self.seconds, self.epochs, self._start = 0.0, 0, 0.0

        def on_epoch_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self._start
            self.epochs += 1
            log.info("baseline epoch %d done (%.1f s)", self.epochs, self.seconds)

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    warmup = (
        {"warmup_ratio": t.warmup_ratio}
        if "warmup_ratio" in fields
        else {"warmup_steps": float(t.warmup_ratio)}  # transformers 5: a float is a ratio
    )
    clock = EpochClock()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as out_dir:
        training_args = TrainingArguments(
            output_dir=out_dir,
            per_device_train_batch_size=t.batch_size,
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            learning_rate=t.learning_rate,
            num_train_epochs=t.epochs,
            weight_decay=t.weight_decay,
            lr_scheduler_type="linear",
            max_grad_norm=t.max_grad_norm,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            report_to=[],
            seed=cfg.seed,
            dataloader_num_workers=0,
            use_cpu=True,
            disable_tqdm=True,
            **warmup,
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=Windows(),
            data_collator=DataCollatorForTokenClassification(tokenizer),
            callbacks=[clock],
        )
        output = trainer.train()
        inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
        optimizer = type(inner).__name__
    model = trainer.model
    config = model.config
    tokens_per_epoch = sum(len(w.input_ids) for w in train_windows)
    return {
        "train_tokens": tokens_per_epoch * clock.epochs,
        "train_seconds": clock.seconds,
        "train_runtime": output.metrics.get("train_runtime"),
        "epochs": clock.epochs,
        "optimizer_steps": output.global_step,
        "model": model,
        "word_features": False,
        "train_windows": len(train_windows),
        "setup": {
            **_model_setup(config),
            "word classes as token types": False,
            "word embeddings": "trained",
            "head bias at the start": "zero",
            "learning_rate": f"{t.learning_rate:g} (one for all parameters)",
            "batches": "random sampler, dynamic padding (DataCollatorForTokenClassification), "
            f"batch {t.batch_size} x {t.gradient_accumulation_steps}",
            "precision": "fp32",
            "optimizer": f"{getattr(training_args.optim, 'value', training_args.optim)} "
            f"({optimizer}, no decay on bias/LayerNorm)",
        },
    }


def run_system(system: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train and score one system in this process; a JSON-ready result."""
    import torch

    from resume_ner.machine import usable_cpus
    from resume_ner.model_source import check_available, resolve_pretrained
    from resume_ner.span_conventions import learn_conventions
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.train.run import label_maps

    cfg = compose_config(args)
    t = cfg.training
    threads = args.threads or usable_cpus()
    torch.set_num_threads(threads)
    train, held_out, split = load_split(cfg, args)

    source = resolve_pretrained(cfg.model.pretrained, cfg.model.fallback)
    check_available(source)
    tokenizer = load_tokenizer(source, revision=cfg.model.revision)
    # As run.py: the labels of every document the run sees.
    id2label, label2id = label_maps(train + held_out)
    runner = run_ours if system == "ours" else run_baseline
    started = time.perf_counter()
    result = runner(cfg, tokenizer, source, train, id2label, label2id)
    wall = time.perf_counter() - started
    # As run.py; the baseline's spans are decoded the same way, so only training differs.
    conventions = learn_conventions(train) if t.learn_span_conventions else None
    model = result.pop("model")
    scores = score(model, tokenizer, held_out, id2label, t, result["word_features"], conventions)
    return {
        "system": system,
        "micro_f1": scores["f1"],
        "macro_f1": scores["macro-f1"],
        "precision": scores["precision"],
        "recall": scores["recall"],
        "support": scores["support"],
        "per_label": scores["per_label"],
        "tokens_per_second": result["train_tokens"] / result["train_seconds"]
        if result["train_seconds"]
        else 0.0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": threads,
        "threads_after": torch.get_num_threads(),
        "wall_seconds_train_call": wall,
        "eval_seconds": scores["eval_seconds"],
        "source": source,
        "training": training_summary(t),
        "model_overrides": {
            k: cfg.model[k]
            for k in (
                "attn_implementation",
                "attention_dropout",
                "hidden_dropout",
                "classifier_dropout",
                "freeze_word_embeddings",
                "head_bias_prior",
            )
        },
        "seed": cfg.seed,
        "data": {"path": str(cfg.data.path), **split},
        **result,
    }


# -- the parent: both systems, the table ---------------------------------------------------
def child_argv(argv: list[str], system: str, result: Path) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--json", "--only", "--result"):
            skip = True
            continue
        if arg.startswith(("--json=", "--only=", "--result=")):
            continue
        out.append(arg)
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        *out,
        "--only",
        system,
        "--result",
        str(result),
    ]


def format_report(results: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    ours, base = results["ours"], results["baseline"]
    ratio = (
        ours["tokens_per_second"] / base["tokens_per_second"]
        if base["tokens_per_second"]
        else float("inf")
    )
    micro_delta = ours["micro_f1"] - base["micro_f1"]
    macro_delta = ours["macro_f1"] - base["macro_f1"]
    header = (
        f"{'system':<9} {'micro-F1':>8} {'macro-F1':>8} {'precision':>9} {'recall':>7} "
        f"{'train s':>8} {'tokens/s':>9} {'peak RSS MiB':>12}"
    )
    lines = [header, "-" * len(header)]
    for name in SYSTEMS:
        r = results[name]
        lines.append(
            f"{name:<9} {r['micro_f1']:>8.3f} {r['macro_f1']:>8.3f} {r['precision']:>9.3f} "
            f"{r['recall']:>7.3f} {r['train_seconds']:>8.1f} {r['tokens_per_second']:>9,.0f} "
            f"{r['peak_rss_mib']:>12,.0f}"
        )
    ok_speed = "met" if ratio >= THROUGHPUT_TARGET else "NOT met"
    ok_f1 = "met" if micro_delta >= 0 else "NOT met"
    lines += [
        "",
        f"throughput ratio ours/baseline: {ratio:.2f} (target >= {THROUGHPUT_TARGET}: {ok_speed})",
        f"F1 ours - baseline: {micro_delta:+.3f} (target >= 0: {ok_f1}); "
        f"macro-F1 {macro_delta:+.3f}",
        "",
        "What differs (everything else is shared: documents, windows, epochs, batch size, "
        "warm-up ratio, weight decay, clipping, seed, threads, scoring):",
    ]
    keys = list(ours["setup"])
    width = max(len(k) for k in keys)
    for key in keys:
        a, b = ours["setup"][key], base["setup"].get(key)
        mark = "  " if a == b else "* "
        lines.append(f"{mark}{key:<{width}}  ours: {a}")
        lines.append(f"  {'':<{width}}  baseline: {b}")
    s = ours["data"]
    lines += [
        "",
        f"data: {s['path']} -> {s['documents']} repaired documents; {s['train_documents']} "
        f"train ({ours['train_windows']} windows of <= {ours['training']['max_length']} "
        f"tokens, stride {ours['training']['stride']}), {s['heldout_documents']} held out "
        f"({s['split']}); {ours['epochs']} epoch(s); {ours['threads']} thread(s)",
        "tokens/s: non-padding training tokens / seconds in the epochs' step loops; "
        "peak RSS: ru_maxrss of each system's own process (load, train, score).",
    ]
    summary = {
        "throughput_ratio": ratio,
        "throughput_target": THROUGHPUT_TARGET,
        "micro_f1_delta": micro_delta,
        "macro_f1_delta": macro_delta,
        "throughput_target_met": ratio >= THROUGHPUT_TARGET,
        "f1_target_met": micro_delta >= 0,
    }
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not args.data.is_file():
        print(
            f"error: no DataTurks file at {args.data} (resolved: {args.data.resolve()}). "
            f"Put the shared data there or pass --data FILE.",
            file=sys.stderr,
        )
        return 2

    if args.only:
        logging.basicConfig(
            level=logging.INFO, format=f"[{args.only}] %(asctime)s %(name)s: %(message)s"
        )
        result = run_system(args.only, args)
        text = json.dumps(result, indent=2, default=str)
        if args.result:
            args.result.write_text(text)
        else:
            print(text)
        return 0

    try:  # a misspelt override fails here, once, before any training starts
        compose_config(args)
    except Exception as error:
        print(f"error: the config does not compose: {error}", file=sys.stderr)
        return 2
    command = shlex.join([sys.executable, sys.argv[0], *argv])
    print(f"command: {command}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for system in SYSTEMS:
            path = Path(tmp) / f"{system}.json"
            print(f"--- training {system} (own process) ---", flush=True)
            done = subprocess.run(child_argv(argv, system, path), check=False)
            if done.returncode != 0 or not path.is_file():
                print(f"error: the {system} run failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode or 1
            results[system] = json.loads(path.read_text())
    report, summary = format_report(results)
    print(f"\ncommand: {command}\n\n{report}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"command": command, **summary, **results}, indent=2, default=str)
        )
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    from resume_ner.cli import exit_on_user_error

    with exit_on_user_error():
        sys.exit(main())
