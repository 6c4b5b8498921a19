"""Measure every int8 quantization recipe of a checkpoint against PyTorch and fp32 ONNX.

    python scripts/quantize_recipes.py CHECKPOINT [--work DIR] [--threads 2] [--explore]
        [--layer-sweep]

Exports the checkpoint (resume_ner.convert.export), optimises the fp32 graph
(resume_ner.convert.quantize.optimise), quantizes it with each recipe of
resume_ner.convert.quantize.RECIPES (static ones calibrated on windows of the TRAIN split),
then scores torch, fp32 and every int8 model on the validation AND the held-out test split
of the checkpoint's own data config (resolved_config.yaml, the data layer's seeded split),
through the shared windowing and decoding (resume_ner.convert.parity.measure, as the
conversion does), with the checkpoint's span conventions and min_span_score.

Prints one row per model: entity micro/macro F1 on val and test, the micro-F1 loss against
torch in points (x100), token argmax agreement with torch, milliseconds per window (median of
interleaved timing rounds over the same full-length windows, `--threads` intra-op threads:
compare rows of one run only, the CPU may be shared) and the file size. --explore adds
variants that are not recipes (the int8 of the unoptimised graph, other fp32 exclusions,
other calibrations), for the record; --layer-sweep adds, per layer, per-channel dynamic
int8 with the head and that layer's feed-forward down-projection fp32.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("quantize_recipes")


def load_data(checkpoint: Path) -> Any:
    from omegaconf import OmegaConf

    from resume_ner.checkpoints import RESOLVED_CONFIG
    from resume_ner.data.load import load_splits

    data_cfg = OmegaConf.load(checkpoint / RESOLVED_CONFIG).data
    return load_splits(data_cfg)


def calibration_of(
    documents: list[Any], tokenizer: Any, bundle: Any, limit: int, batch: int = 8
) -> Callable[[], list[dict[str, np.ndarray]]]:
    """`limit` seeded-random training windows, padded in batches (as the conversion does)."""
    from resume_ner.inference import pad_batch, padding_id
    from resume_ner.windows import build_windows

    _, windows = build_windows(
        tokenizer,
        [d.text for d in documents],
        bundle.max_length,
        bundle.stride,
        label2id=None,
        word_features=bundle.word_features,
    )
    windows = random.Random(0).sample(windows, min(limit, len(windows)))
    batches = [
        pad_batch(windows[at : at + batch], padding_id(tokenizer))
        for at in range(0, len(windows), batch)
    ]
    return lambda: batches


def explore_variants(fp32: Path, raw: Path, work: Path, calibration: Any) -> dict[str, Path]:
    """Variants that are not recipes, quantized directly with onnxruntime."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from resume_ner.convert.quantize import (
        _Reader,
        head_matmuls,
        quantize,
        scratch_cwd,
        weight_matmuls,
    )

    proto = onnx.load(str(fp32), load_external_data=False)
    weights = weight_matmuls(proto)
    head = head_matmuls(proto)
    down = [n for n, (k, v) in weights.items() if k > v and n not in head]
    up = [n for n, (k, v) in weights.items() if v > k]
    square = [n for n, (k, v) in weights.items() if v == k]
    out: dict[str, Path] = {}

    def dynamic(name: str, exclude: list[str], **kwargs: Any) -> None:
        target = work / f"{re.sub(r'[^0-9A-Za-z]+', '-', name).strip('-')}.onnx"
        options = {"MatMulConstBOnly": True}
        quantize_dynamic(
            fp32,
            target,
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=kwargs.pop("per_channel", True),
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            extra_options=options,
            **kwargs,
        )
        out[name] = target

    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = work / "x-fp32-pre-process.onnx"
    try:
        with scratch_cwd():  # a failed symbolic shape inference leaves files in the cwd
            quant_pre_process(str(raw), str(pre))
    except Exception as error:  # the dynamo graph defeats symbolic shape inference
        log.info("quant_pre_process: %s; again without symbolic shape inference", error)
        quant_pre_process(str(raw), str(pre), skip_symbolic_shape=True)
    out["x:fp32 quant_pre_process (not optimised)"] = pre
    out["x:dynamic_per_channel of quant_pre_process"] = quantize(
        pre, work / "x-pre-pc.onnx", "dynamic_per_channel"
    )
    dynamic_gather = work / "x-pc-gather.onnx"
    quantize_dynamic(
        fp32,
        dynamic_gather,
        op_types_to_quantize=["MatMul", "Attention", "Gather"],
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True},
    )
    out["x:per-channel, embeddings int8 too"] = dynamic_gather
    out["x:dynamic_per_channel(unoptimised graph)"] = quantize(
        raw, work / "x-raw-pc.onnx", "dynamic_per_channel"
    )
    dynamic("x:per-tensor, embeddings fp32", [], per_channel=False)
    dynamic("x:per-channel, fp32 FFN-down only", down)
    dynamic("x:per-channel, fp32 head+FFN-up", [*head, *up])
    dynamic("x:per-channel, fp32 head+attention", [*head, *square])
    dynamic("x:per-channel, reduce_range", [], reduce_range=True)
    for method, label in ((CalibrationMethod.Percentile, "percentile 99.999"),):
        target = work / f"x-static-{label.split()[0]}.onnx"
        names = [v.name for v in proto.graph.input]
        quantize_static(
            fp32,
            target,
            _Reader(calibration, names),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=head,
            calibrate_method=method,
            extra_options={"MatMulConstBOnly": True, "CalibPercentile": 99.999},
        )
        out[f"x:static_qdq ({label})"] = target
    target = work / "x-static-all.onnx"
    quantize_static(
        fp32,
        target,
        _Reader(calibration, [v.name for v in proto.graph.input]),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True},
    )
    out["x:static_qdq (head int8 too)"] = target
    return out


def layer_sweep(fp32: Path, work: Path) -> dict[str, Path]:
    """Per-channel dynamic int8 with the head and ONE feed-forward down-projection fp32, for
    each layer in turn: which layer's down-projection the loss comes from."""
    import onnx

    from resume_ner.convert.quantize import head_matmuls, weight_matmuls

    proto = onnx.load(str(fp32), load_external_data=False)
    head = head_matmuls(proto)
    down = [n for n, (k, v) in weight_matmuls(proto).items() if k > v and n not in head]
    out = {}
    for layer, node in enumerate(down):  # graph order: layer 0 first
        target = work / f"x-sweep-{layer}.onnx"
        _dynamic(fp32, target, [*head, node])
        out[f"x:per-channel, fp32 head+FFN-down of layer {layer}"] = target
    return out


def _dynamic(fp32: Path, target: Path, exclude: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        fp32,
        target,
        op_types_to_quantize=["MatMul", "Attention"],
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude,
        extra_options={"MatMulConstBOnly": True},
    )


def timing(
    forwards: dict[str, Any], windows: list[Any], pad: int, batch: int, rounds: int
) -> dict[str, float]:
    """Median ms per window over interleaved rounds (every model once per round)."""
    from resume_ner.inference import pad_batch

    batches = [pad_batch(windows[at : at + batch], pad) for at in range(0, len(windows), batch)]
    samples: dict[str, list[float]] = {name: [] for name in forwards}
    for forward in forwards.values():
        forward(batches[0])  # warm-up
    for _ in range(rounds):
        for name, forward in forwards.items():
            start = time.perf_counter()
            for inputs in batches:
                forward(inputs)
            samples[name].append(1000 * (time.perf_counter() - start) / len(windows))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument(
        "--work", type=Path, default=None, help="default: <checkpoint>/../quantize-recipes"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--calibration-windows", type=int, default=128)
    parser.add_argument("--recipes", nargs="*", default=None, help="default: all of RECIPES")
    parser.add_argument("--timing-windows", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--explore", action="store_true")
    parser.add_argument(
        "--layer-sweep", action="store_true", help="fp32 head + one FFN down-projection per layer"
    )
    parser.add_argument("--reuse", action="store_true", help="keep models already in --work")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("onnxruntime", "fusion_base", "onnx_model", "onnx_model_bert", "root"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import torch

    from resume_ner.checkpoints import read_inference_bundle
    from resume_ner.convert.export import export_onnx
    from resume_ner.convert.onnx_forward import onnx_forward
    from resume_ner.convert.parity import ParitySet, measure
    from resume_ner.convert.quantize import RECIPES, optimise, quantize
    from resume_ner.inference import padding_id
    from resume_ner.modeling import load_trained, torch_forward
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.windows import build_windows

    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint.resolve()
    work = (args.work or checkpoint.parent / "quantize-recipes").resolve()
    work.mkdir(parents=True, exist_ok=True)
    bundle = read_inference_bundle(checkpoint)
    tokenizer = load_tokenizer(str(checkpoint))
    splits = load_data(checkpoint)
    labels = set(bundle.labels)
    sets = {
        split: ParitySet.of(documents, labels, split)
        for split, documents in (("val", splits.val), ("test", splits.test))
        if documents  # a config without a test fraction has no test split
    }
    print(
        f"# {checkpoint}: train {len(splits.train)}, val {len(splits.val)}, "
        f"test {len(splits.test)} documents"
    )

    raw = work / "export" / "model.onnx"
    if not (args.reuse and raw.is_file()):
        export_onnx(checkpoint, raw.parent)
    models: dict[str, Path] = {"onnx-fp32 (exported)": raw}
    fp32 = work / "model.onnx"
    if not (args.reuse and fp32.is_file()):
        start = time.perf_counter()
        optimise(raw, fp32)
        log.info("optimise: %.1f s", time.perf_counter() - start)
    models["onnx-fp32 (optimised)"] = fp32
    calibration = calibration_of(splits.train, tokenizer, bundle, args.calibration_windows)
    for recipe in args.recipes or list(RECIPES):
        target = work / f"model.int8.{recipe}.onnx"
        if not (args.reuse and target.is_file()):
            start = time.perf_counter()
            quantize(fp32, target, recipe, calibration)
            log.info("quantize %s: %.1f s", recipe, time.perf_counter() - start)
        models[recipe] = target
    if args.explore:
        models.update(explore_variants(fp32, raw, work, calibration))
    if args.layer_sweep:
        models.update(layer_sweep(fp32, work))

    device = torch.device("cpu")
    forwards = {"torch": torch_forward(load_trained(checkpoint, device), device, None)}
    for name, path in models.items():
        forwards[name] = onnx_forward(path, threads=args.threads)
    # Loaded once and kept (measure() loads each model when its turn comes): every split
    # and the timing rounds run the same sessions.
    loaders = {name: (lambda forward=forward: forward) for name, forward in forwards.items()}
    results = {
        split: measure(parity_set, tokenizer, bundle, loaders, args.batch_size)
        for split, parity_set in sets.items()
    }
    # Timing: the longest validation windows, every model in turn, several rounds.
    _, windows = build_windows(
        tokenizer,
        sets["val"].texts,
        bundle.max_length,
        bundle.stride,
        word_features=bundle.word_features,
    )
    windows = sorted(windows, key=lambda w: -len(w.input_ids))[: args.timing_windows]
    speed = timing(forwards, windows, padding_id(tokenizer), args.batch_size, args.rounds)

    header = (
        "| model | val micro | val macro | test micro | test macro | loss val | loss test "
        "| argmax val | ms/window | size MB |"
    )
    print(f"\n{header}\n|{'---|' * 10}")
    for name in forwards:
        val = results["val"][name]
        test = results.get("test", results["val"])[name]  # val again when there is no test
        size = "" if name == "torch" else f"{models[name].stat().st_size / 1e6:.1f}"
        if name == "torch":
            size = f"{(checkpoint / 'model.safetensors').stat().st_size / 1e6:.1f}"
        print(
            f"| {name} | {val.scores['f1']:.4f} | {val.scores['macro-f1']:.4f} "
            f"| {test.scores['f1']:.4f} | {test.scores['macro-f1']:.4f} "
            f"| {val.f1_loss_points:+.2f} | {test.f1_loss_points:+.2f} "
            f"| {100 * val.argmax_agreement:.3f}% | {speed[name]:.2f} | {size} |"
        )
    print(
        f"\n(loss: points of entity micro F1 below torch, x100; ms/window: median of "
        f"{args.rounds} interleaved rounds over the {len(windows)} longest val windows "
        f"({max(len(w.input_ids) for w in windows)} tokens), batch {args.batch_size}, "
        f"{args.threads} threads)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
