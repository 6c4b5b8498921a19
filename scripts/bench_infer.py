"""Inference benchmark: the Hugging Face token-classification pipeline against our PyTorch,
fp32 ONNX and int8 ONNX paths, on the same checkpoint and the same held-out resumes.

    python scripts/bench_infer.py --plain PKG_PLAIN --default PKG_DEFAULT      # the benchmark
    python scripts/bench_infer.py --plain PKG --threads 1 --repeats 1 --json bench.json

Models. Each model is given as its converted package folder (`python -m resume_ner.convert
checkpoint=CKPT output=PKG`: model.onnx, model.int8.onnx, package.json); the PyTorch and
pipeline rows run the checkpoint the package was converted from (package.json "source"
"checkpoint"; --plain-checkpoint / --default-checkpoint name it when it lives elsewhere,
e.g. a package converted on another machine). A checkpoint folder given instead of a
package gives the pipeline and PyTorch rows only.

* --plain: a checkpoint trained with word classes off (model.word_features=off). The
  pipeline cannot compute word classes (it feeds the tokenizer's all-zero token_type_ids),
  so the baseline runs on this one, and the target is judged on it.
* --default (optional): the default checkpoint (word classes on), shown beside: our rows
  only (no pipeline row for a checkpoint that reads word classes), their speed ratios
  against the plain checkpoint's pipeline (the same backbone, so the same work per token).

Backends, each end to end (texts in, character spans out, tokenization included):

* hf-pipeline: transformers.pipeline("token-classification", aggregation_strategy="simple",
  stride=<the checkpoint's stride>) with the tokenizer's model_max_length set to the
  checkpoint's max_length, so its windows are ours; fp32, --pipeline-batch-size windows
  per forward (default 1, the pipeline's own default).
* torch: resume_ner.predictor.Predictor on the checkpoint (fp32, --batch-size windows).
* onnx-fp32 / onnx-int8: the Predictor on the package (ONNX Runtime, onnx_model=fp32 /
  int8, --batch-size windows).

Threads: each configuration is built for its thread count (torch.set_num_threads for the
pipeline and torch rows, ONNX Runtime intra-op threads for the ONNX rows), warmed up on one
resume, then timed over the whole held-out set --repeats times; the best repeat counts.
Tokenizers run single-threaded (TOKENIZERS_PARALLELISM=false) so the thread count is the
whole of it. Run it on an idle machine: a row slower at more threads than at fewer, or with
repeats more than 25% apart, is printed as a warning (and the target line says "timings
disturbed" when the rows it rests on are among them); the pipeline, one window per
forward, suffers most from a busy CPU.

Data: the DataTurks JSONL file (default ../shared/data/dataturks/train.jsonl beside the
repository; --data FILE), read, repaired and split by the data layer exactly as the
benchmark checkpoints were trained (`python -m resume_ner.train data=dataturks
data.path=... data.split.test_fraction=0.1 [model.word_features=off]`): val 0.1, test 0.1,
seed 13; the test split (20 resumes) was never trained on. Gold spans of labels a model does
not know are set aside. Scores: resume_ner.train.metrics.entity_scores, exact character
spans, for every row alike.

Target (issue "Convert"): int8 ONNX at least 4x the pipeline's resumes per second at 2
threads, with an F1 loss of at most 1.0 point against our PyTorch path (plain checkpoint).
A missed target prints MISS; the exit status stays 0 (it is a benchmark).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dataturks" / "train.jsonl"

BASELINE = "hf-pipeline"
ONNX_BACKENDS = {"onnx-fp32": "fp32", "onnx-int8": "int8"}  # row -> Predictor onnx_model
# How the benchmark checkpoints were trained: `data.split.test_fraction=0.1` on the defaults.
SPLIT = {"val_fraction": 0.1, "test_fraction": 0.1, "seed": 13}
SPEED_TARGET = 4.0  # int8 ONNX resumes/s over the pipeline's
F1_LOSS_TARGET = 1.0  # points of micro F1 below our PyTorch path
TARGET_THREADS = 2
UNSTABLE_SPREAD = 1.25  # slowest / fastest repeat of a row above this: a busy machine

Spans = list[list[Any]]
Runner = Callable[[list[str]], Spans]


# -- arguments -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Resumes and characters per second, and entity F1, of the Hugging Face "
        "token-classification pipeline and of our PyTorch, fp32 ONNX and int8 ONNX paths, on "
        "the same checkpoint and held-out resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--plain",
        type=Path,
        required=True,
        metavar="PKG",
        help="package (or checkpoint) folder of the model trained with word classes off; the "
        "pipeline baseline runs on it",
    )
    parser.add_argument(
        "--plain-checkpoint",
        type=Path,
        default=None,
        metavar="CKPT",
        help="its checkpoint folder, when not the one its package.json names",
    )
    parser.add_argument(
        "--default",
        type=Path,
        default=None,
        metavar="PKG",
        help="package (or checkpoint) folder of the default model (word classes on), shown beside",
    )
    parser.add_argument(
        "--default-checkpoint",
        type=Path,
        default=None,
        metavar="CKPT",
        help="its checkpoint folder, when not the one its package.json names",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, metavar="FILE", help="DataTurks JSONL file"
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], metavar="N", help="thread counts"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the best counts)")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="windows per forward on our paths"
    )
    parser.add_argument(
        "--pipeline-batch-size",
        type=int,
        default=1,
        help="windows per forward in the Hugging Face pipeline (1: its default)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write every row here"
    )
    args = parser.parse_args(argv)
    for name in ("repeats", "batch_size", "pipeline_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if any(n < 1 for n in args.threads):
        parser.error("--threads: each thread count must be at least 1")
    args.threads = sorted(set(args.threads))
    return args


# -- models ----------------------------------------------------------------------------------
@dataclass
class Model:
    """One model under test: its package (None: a checkpoint given alone) and checkpoint."""

    name: str
    package: Path | None
    checkpoint: Path
    bundle: Any  # resume_ner.checkpoints.InferenceBundle of the checkpoint
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> set[str]:
        return set(self.bundle.labels)

    def backends(self) -> list[str]:
        """The rows this model gets (see the module docstring)."""
        chosen = [] if self.bundle.word_features else [BASELINE]
        chosen.append("torch")
        if self.package is not None:
            chosen += list(ONNX_BACKENDS)
        return chosen

    def describe(self) -> dict[str, Any]:
        return {
            "package": str(self.package) if self.package else None,
            "checkpoint": str(self.checkpoint),
            "word_features": self.bundle.word_features,
            "max_length": self.bundle.max_length,
            "stride": self.bundle.stride,
            "min_span_score": self.bundle.min_span_score,
            "labels": sorted(self.labels),
            "backends": self.backends(),
            "notes": self.notes,
        }


def source_checkpoint(package: Any) -> Path | None:
    """The checkpoint a package (resume_ner.convert.package.Package) was converted from, as
    its package.json, else its conversion_report.json, records: {"source": {"checkpoint"}}."""
    for recorded in (package.manifest, package.report):
        source = recorded.get("source") if isinstance(recorded, dict) else None
        if isinstance(source, dict) and source.get("checkpoint"):
            return Path(str(source["checkpoint"])).expanduser()
    return None


def resolve_model(name: str, given: Path, checkpoint: Path | None) -> Model:
    """The package and checkpoint of --NAME (and --NAME-checkpoint), checked."""
    from resume_ner.checkpoints import read_inference_bundle
    from resume_ner.convert.package import is_package, read_package
    from resume_ner.errors import CheckpointError

    given = given.expanduser()
    if not given.is_dir():
        raise CheckpointError(
            f"--{name} {given}: no such folder; give a package (or checkpoint) folder"
        )
    notes: list[str] = []
    package = None
    if is_package(given):
        package = read_package(given)  # CheckpointError when incomplete or garbled
        if checkpoint is None:
            checkpoint = source_checkpoint(package)
            if checkpoint is None:
                raise CheckpointError(
                    f"--{name} {package.folder}: its package.json names no source checkpoint; "
                    f"give the checkpoint it was converted from with --{name}-checkpoint"
                )
            if not checkpoint.is_dir():
                raise CheckpointError(
                    f"--{name} {package.folder} was converted from {checkpoint}, which is not "
                    f"on this machine; give that checkpoint's folder with --{name}-checkpoint"
                )
    elif checkpoint is None:
        checkpoint = given
        notes.append(
            "a checkpoint, not a package: no ONNX rows (convert it first: python -m "
            f"resume_ner.convert checkpoint={given} output=PKG)"
        )
    else:
        raise CheckpointError(
            f"--{name} {given} holds no package.json, so it is not a package; give the "
            f"package folder, or the checkpoint alone (without --{name}-checkpoint)"
        )
    bundle = read_inference_bundle(checkpoint)
    if package is not None:
        ours, theirs = package.bundle, bundle
        same = (ours.id2label, ours.max_length, ours.stride, ours.word_features) == (
            theirs.id2label,
            theirs.max_length,
            theirs.stride,
            theirs.word_features,
        )
        if not same:
            raise CheckpointError(
                f"--{name}: the package {package.folder} and the checkpoint {bundle.folder} "
                f"differ in labels, windows or word classes, so the package was not converted "
                f"from it; give the right one with --{name}-checkpoint"
            )
    if bundle.word_features:
        notes.append(
            "reads word classes (token_type_ids): no hf-pipeline row, the pipeline feeds "
            "all-zero token_type_ids"
        )
    return Model(name, package.folder if package else None, bundle.folder, bundle, notes)


# -- data ------------------------------------------------------------------------------------
def load_heldout(data: Path) -> tuple[list[Any], dict[str, Any]]:
    """The test split of --data, cut as the benchmark checkpoints' training runs cut it."""
    from resume_ner.config.compose import compose_train
    from resume_ner.data.load import load_splits

    cfg = compose_train(
        [
            "data=dataturks",
            f"data.path={data.resolve()}",
            *(f"data.split.{key}={value}" for key, value in SPLIT.items()),
        ]
    )
    splits = load_splits(cfg.data)
    if not splits.test:
        from resume_ner.errors import DataError

        raise DataError(f"{data} gave no held-out documents (split {SPLIT})")
    info = {
        "path": str(data.resolve()),
        "documents": len(splits.train) + len(splits.val) + len(splits.test),
        "heldout_documents": len(splits.test),
        "heldout_characters": sum(len(doc.text) for doc in splits.test),
        "split": dict(SPLIT),
    }
    return splits.test, info


def check_split(model: Model) -> str | None:
    """A warning when the checkpoint's recorded training split is not SPLIT (its held-out
    documents would then not be ours, and some of ours may have been trained on)."""
    from omegaconf import OmegaConf

    from resume_ner.checkpoints import RESOLVED_CONFIG

    path = model.checkpoint / RESOLVED_CONFIG
    if not path.is_file():
        return None
    split = OmegaConf.select(OmegaConf.load(path), "data.split")
    if split is None:
        return None
    recorded = {key: split.get(key) for key in SPLIT}
    if all(recorded[key] is not None and float(recorded[key]) == SPLIT[key] for key in SPLIT):
        return None
    return (
        f"warning: the {model.name} checkpoint was trained with data.split {recorded}, not "
        f"{SPLIT}: some held-out resumes here may have been trained on"
    )


# -- backends --------------------------------------------------------------------------------
def pipeline_spans(entities: Sequence[dict[str, Any]]) -> list[Any]:
    """The project's spans of one text's pipeline output (aggregation_strategy="simple":
    entity_group is the label without B-/I-; start/end are character offsets, end
    exclusive). Entities without offsets or of no length are dropped."""
    from resume_ner.decoding import PredictedSpan

    spans = []
    for entity in entities:
        label = entity.get("entity_group") or entity.get("entity") or ""
        if label[:2] in ("B-", "I-"):
            label = label[2:]
        start, end = entity.get("start"), entity.get("end")
        if not label or label == "O" or start is None or end is None or int(end) <= int(start):
            continue
        spans.append(PredictedSpan(int(start), int(end), label, float(entity.get("score", 0.0))))
    return spans


def pipeline_runner(model: Model, batch_size: int) -> Runner:
    """The Hugging Face pipeline on the model's checkpoint, windowed as our path windows."""
    from transformers import AutoModelForTokenClassification, pipeline
    from transformers.utils import logging as hf_logging

    from resume_ner.tokenizer import load_tokenizer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = load_tokenizer(str(model.checkpoint))
    tokenizer.model_max_length = model.bundle.max_length
    network = AutoModelForTokenClassification.from_pretrained(
        str(model.checkpoint), use_safetensors=True, trust_remote_code=False
    ).eval()
    pipe = pipeline(
        "token-classification",
        model=network,
        tokenizer=tokenizer,
        aggregation_strategy="simple",
        stride=model.bundle.stride,
        device=-1,
    )

    def run(texts: list[str]) -> Spans:
        outputs = pipe(list(texts), batch_size=batch_size)
        return [pipeline_spans(entities) for entities in outputs]

    return run


def our_runner(model: Model, backend: str, threads: int, batch_size: int) -> Runner:
    """resume_ner.predictor.Predictor: the checkpoint (torch) or the package (ONNX Runtime)."""
    from resume_ner.predictor import Predictor

    if backend == "torch":
        source, onnx_model = model.checkpoint, "int8"  # onnx_model: ignored for a checkpoint
    else:
        source, onnx_model = model.package, ONNX_BACKENDS[backend]
    predictor = Predictor(
        source, device="cpu", batch_size=batch_size, onnx_model=onnx_model, threads=threads
    )
    expected = backend
    if predictor.backend != expected:
        raise RuntimeError(f"{source} loaded as {predictor.backend}, not {expected}")
    return predictor.predict


def build_runner(model: Model, backend: str, threads: int, args: argparse.Namespace) -> Runner:
    import torch

    # The pipeline and torch rows compute with torch's pool; ONNX Runtime has its own.
    torch.set_num_threads(threads)
    if backend == BASELINE:
        return pipeline_runner(model, args.pipeline_batch_size)
    return our_runner(model, backend, threads, args.batch_size)


# -- measuring -------------------------------------------------------------------------------
def measure(
    model: Model,
    backend: str,
    threads: int,
    documents: Sequence[Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One row: build, warm up on one resume, time --repeats passes, score the last."""
    from resume_ner.train.metrics import entity_scores, known_gold

    texts = [doc.text for doc in documents]
    started = time.perf_counter()
    runner = build_runner(model, backend, threads, args)
    load_seconds = time.perf_counter() - started
    runner(texts[:1])
    seconds: list[float] = []
    predictions: Spans = []
    for _ in range(args.repeats):
        gc.collect()
        started = time.perf_counter()
        predictions = runner(texts)
        seconds.append(time.perf_counter() - started)
    del runner
    gc.collect()
    scores = entity_scores(known_gold(documents, model.labels)[0], predictions)
    best = min(seconds)
    return {
        "model": model.name,
        "backend": backend,
        "threads": threads,
        "resumes_per_second": len(texts) / best,
        "chars_per_second": sum(len(text) for text in texts) / best,
        "seconds": best,
        "seconds_all": seconds,
        "load_seconds": load_seconds,
        "micro_f1": scores["f1"],
        "macro_f1": scores["macro-f1"],
        "precision": scores["precision"],
        "recall": scores["recall"],
        "support": scores["support"],
        "predicted_spans": sum(len(spans) for spans in predictions),
    }


def find_row(rows: Sequence[dict], model: str, backend: str, threads: int) -> dict | None:
    for row in rows:
        if (row["model"], row["backend"], row["threads"]) == (model, backend, threads):
            return row
    return None


def add_comparisons(rows: list[dict[str, Any]], baseline_model: str = "plain") -> None:
    """speed_ratio: resumes/s over the (plain) pipeline's at the same thread count;
    f1_loss_points: our torch path's micro F1 minus the row's, x100 (same model, threads)."""
    for row in rows:
        base = find_row(rows, baseline_model, BASELINE, row["threads"])
        ours = find_row(rows, row["model"], "torch", row["threads"])
        row["speed_ratio"] = (
            row["resumes_per_second"] / base["resumes_per_second"] if base else None
        )
        row["f1_loss_points"] = (ours["micro_f1"] - row["micro_f1"]) * 100 if ours else None


def timing_warnings(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Signs that something else used the CPUs while a row was timed: a row slower with more
    threads than with fewer (on an idle machine more threads never lose this much), or
    repeats far apart. Each: {"model", "backend", "threads", "message"}."""
    found = []
    for row in rows:
        where = f"{row['model']} {row['backend']} at {row['threads']} thread(s)"
        fewer = [
            other
            for other in rows
            if (other["model"], other["backend"]) == (row["model"], row["backend"])
            and other["threads"] < row["threads"]
            and other["resumes_per_second"] > row["resumes_per_second"]
        ]
        if fewer:
            other = max(fewer, key=lambda r: r["resumes_per_second"])
            found.append(
                {
                    "model": row["model"],
                    "backend": row["backend"],
                    "threads": row["threads"],
                    "message": f"{where} is slower than at {other['threads']} "
                    f"({row['resumes_per_second']:.2f} vs {other['resumes_per_second']:.2f} "
                    f"resumes/s)",
                }
            )
        seconds = row.get("seconds_all") or []
        if len(seconds) > 1 and max(seconds) > UNSTABLE_SPREAD * min(seconds):
            found.append(
                {
                    "model": row["model"],
                    "backend": row["backend"],
                    "threads": row["threads"],
                    "message": f"{where}: repeats took {min(seconds):.2f} to {max(seconds):.2f} s",
                }
            )
    return found


def target(
    rows: Sequence[dict[str, Any]],
    threads: Sequence[int],
    warnings: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The issue's target, judged on the plain model's int8 row at TARGET_THREADS threads
    (the most measured, when that count was not)."""
    at = TARGET_THREADS if TARGET_THREADS in threads else max(threads)
    row = find_row(rows, "plain", "onnx-int8", at)
    result: dict[str, Any] = {
        "threads": at,
        "speed_target": SPEED_TARGET,
        "f1_loss_target_points": F1_LOSS_TARGET,
    }
    if row is None or row["speed_ratio"] is None or row["f1_loss_points"] is None:
        result.update(status="n/a", reason="no plain onnx-int8, torch and hf-pipeline rows")
        return result
    speed_ok = row["speed_ratio"] >= SPEED_TARGET
    f1_ok = row["f1_loss_points"] <= F1_LOSS_TARGET + 1e-9
    judged = {("onnx-int8", at), (BASELINE, at)}
    result.update(
        # The timings the verdict rests on were disturbed: rerun on an idle machine.
        disturbed=any(
            w["model"] == "plain" and (w["backend"], w["threads"]) in judged for w in warnings
        ),
        speed_ratio=row["speed_ratio"],
        f1_loss_points=row["f1_loss_points"],
        speed_met=speed_ok,
        f1_met=f1_ok,
        status="PASS" if speed_ok and f1_ok else "MISS",
    )
    return result


# -- report ----------------------------------------------------------------------------------
def format_table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        f"{'model':<8} {'backend':<12} {'threads':>7} {'resumes/s':>10} {'chars/s':>10} "
        f"{'micro F1':>8} {'macro F1':>8} {'x baseline':>10} {'F1 loss':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ratio = f"{row['speed_ratio']:.2f}x" if row["speed_ratio"] is not None else "-"
        loss = _points(row["f1_loss_points"]) if row["f1_loss_points"] is not None else "-"
        lines.append(
            f"{row['model']:<8} {row['backend']:<12} {row['threads']:>7} "
            f"{row['resumes_per_second']:>10.2f} {row['chars_per_second']:>10,.0f} "
            f"{row['micro_f1']:>8.4f} {row['macro_f1']:>8.4f} {ratio:>10} {loss:>7}"
        )
    return "\n".join(lines)


def _points(value: float) -> str:
    """+1.23; a rounding-size difference prints +0.00, never -0.00."""
    return f"{value:+.2f}" if abs(value) >= 0.005 else "+0.00"


def target_line(result: dict[str, Any]) -> str:
    head = f"target: int8 ONNX vs the pipeline at {result['threads']} thread(s)"
    if result["threads"] != TARGET_THREADS:
        head += f" ({TARGET_THREADS} not measured)"
    if result["status"] == "n/a":
        return f"{head}: n/a ({result['reason']})"
    disturbed = " (timings disturbed: see the warnings)" if result.get("disturbed") else ""
    return (
        f"{head}: {result['speed_ratio']:.2f}x resumes/s (>= {SPEED_TARGET:g}x: "
        f"{'PASS' if result['speed_met'] else 'MISS'}), F1 loss "
        f"{_points(result['f1_loss_points'])} points vs our PyTorch path (<= {F1_LOSS_TARGET:g}: "
        f"{'PASS' if result['f1_met'] else 'MISS'}) -> {result['status']}{disturbed}"
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("torch", "transformers", "onnxruntime", "tokenizers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# -- main ------------------------------------------------------------------------------------
def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from resume_ner.machine import usable_cpus

    given = {"plain": (args.plain, args.plain_checkpoint)}
    if args.default is not None:
        given["default"] = (args.default, args.default_checkpoint)
    models = [resolve_model(name, *paths) for name, paths in given.items()]
    if models[0].bundle.word_features:
        from resume_ner.errors import CheckpointError

        raise CheckpointError(
            f"--plain {args.plain}: its checkpoint {models[0].checkpoint} reads word classes; "
            f"the baseline needs one trained with model.word_features=off"
        )
    documents, data = load_heldout(args.data)
    print(
        f"held-out: {data['heldout_documents']} resumes, {data['heldout_characters']:,} "
        f"characters (test split of {data['documents']} documents in {data['path']}; val "
        f"{SPLIT['val_fraction']}, test {SPLIT['test_fraction']}, seed {SPLIT['seed']})",
        flush=True,
    )
    for model in models:
        b = model.bundle
        print(
            f"{model.name}: checkpoint {model.checkpoint}"
            + (f", package {model.package}" if model.package else "")
            + f" (word classes {'on' if b.word_features else 'off'}, windows of "
            f"{b.max_length} tokens, stride {b.stride})",
            flush=True,
        )
        for note in model.notes:
            print(f"  note: {note}", flush=True)
        warning = check_split(model)
        if warning:
            print(f"  {warning}", flush=True)
    rows: list[dict[str, Any]] = []
    for model in models:
        for threads in args.threads:
            for backend in model.backends():
                print(f"measuring {model.name} {backend} at {threads} thread(s)...", flush=True)
                rows.append(measure(model, backend, threads, documents, args))
    add_comparisons(rows)
    warnings = timing_warnings(rows)
    result = target(rows, args.threads, warnings)
    return {
        "command": command,
        "data": data,
        "models": {model.name: model.describe() for model in models},
        "settings": {
            "threads": args.threads,
            "repeats": args.repeats,
            "batch_size": args.batch_size,
            "pipeline_batch_size": args.pipeline_batch_size,
            "timing": "best of the repeats, after one warm-up resume; tokenization included",
            "usable_cpus": usable_cpus(),
        },
        "rows": rows,
        "warnings": warnings,
        "target": result,
        "versions": _versions(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the thread count is the whole of it
    if not args.data.is_file():
        print(
            f"error: no DataTurks file at {args.data} (resolved: {args.data.resolve()}); put "
            f"the shared data there or pass --data FILE. Nothing measured.",
            file=sys.stderr,
        )
        return 2
    from resume_ner.errors import UserError

    command = shlex.join([sys.executable, str(Path(__file__)), *argv])
    print(f"command: {command}", flush=True)
    try:
        report = run(args, command)
    except UserError as error:  # a bad folder, package, checkpoint or data file
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        "\nresumes/s, chars/s: best of "
        f"{args.repeats} pass(es) over the held-out set, end to end; x baseline: resumes/s "
        "over the plain checkpoint's hf-pipeline at the same threads; F1 loss: points of "
        "micro F1 below our torch path (same model, threads)\n"
    )
    print(format_table(report["rows"]))
    if report["warnings"]:
        print("\nwarning: the CPUs were busy while some rows were timed; rerun on an idle machine:")
        for warning in report["warnings"]:
            print(f"  {warning['message']}")
    print(f"\n{target_line(report['target'])}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
