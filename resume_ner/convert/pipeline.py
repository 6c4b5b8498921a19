"""The conversion, phase by phase: load, export, check, optimise, quantize, parity, package.

    result = convert(cfg)   # cfg: conf/convert.yaml (schema ConvertConfig)

Each phase logs its start, end and duration and has a timeout (convert.timeouts.<phase>);
the export runs in a child process that is killed at its timeout. Every configured int8
recipe is measured on the parity set and the first within the F1 budget is packaged; the
report says what each measured. A missed threshold still writes the package (marked
"passed": false, for inspection) but raises ParityError, so the command exits non-zero,
and nothing is logged to or registered in MLflow.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resume_ner.convert.documents import calibration_batches, parity_set_of
from resume_ner.convert.package import check_target
from resume_ner.convert.parity import (
    REFERENCE,
    ParityError,
    ParitySet,
    Thresholds,
    choose_int8,
    failed_checks,
    format_table,
    measure,
)
from resume_ner.convert.phases import ConversionError, phase

log = logging.getLogger("resume_ner.convert")

AZURE_OUTPUT_ENV = "AZURE_ML_OUTPUT_package"
PACKAGE_FOLDER = "package"
FP32 = "onnx-fp32"


@dataclass
class ConversionResult:
    package: Path
    passed: bool
    report: dict[str, Any]
    mlflow_run_id: str | None = None
    registered: dict[str, str] | None = None


def package_dir(output: str | None, run_dir: Path) -> Path:
    """$AZURE_ML_OUTPUT_package, else convert.output, else <run dir>/package."""
    chosen = os.environ.get(AZURE_OUTPUT_ENV) or output
    return Path(chosen).expanduser().resolve() if chosen else run_dir / PACKAGE_FOLDER


def int8_name(recipe: str) -> str:
    return f"onnx-int8 ({recipe})"


def check_onnx_installed() -> None:
    """The `onnx` extra's packages, before anything slow starts."""
    from importlib.util import find_spec

    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if find_spec(name) is None]
    if missing:
        raise ConversionError(
            f"conversion needs {', '.join(missing)}: install the onnx extra "
            f"(pip install -e '.[onnx]', or bash scripts/setup.sh all)"
        )


def check_recipes(recipes: list[str]) -> list[str]:
    """convert.quantize.recipes, each known; at least one."""
    from resume_ner.convert.quantize import RECIPES

    unknown = [name for name in recipes if name not in RECIPES]
    if unknown or not recipes:
        raise ConversionError(
            f"convert.quantize.recipes={recipes}: "
            + (f"unknown {unknown}; " if unknown else "give at least one; ")
            + f"the recipes are {', '.join(RECIPES)}"
        )
    return list(recipes)


def convert(cfg: Any, run_dir: Path) -> ConversionResult:
    """Convert cfg.checkpoint into a package (see the module docstring)."""
    from resume_ner.checkpoints import read_inference_bundle
    from resume_ner.convert.discovery import find_checkpoint
    from resume_ner.tokenizer import load_tokenizer

    if not cfg.checkpoint:
        raise ConversionError(
            "convert needs checkpoint=REF: a checkpoint or run folder, runs:/<run_id> or "
            "models:/<name>@<alias>"
        )
    check_onnx_installed()
    timeouts = cfg.timeouts
    durations: dict[str, float] = {}
    thresholds = Thresholds(**cfg.parity)
    recipes = check_recipes(list(cfg.quantize.recipes))
    _set_threads(cfg.threads)

    with phase("load", timeouts.load, durations):
        checkpoint = find_checkpoint(cfg.checkpoint, tracking_uri=cfg.tracking.uri)
        bundle = read_inference_bundle(checkpoint)
        tokenizer = load_tokenizer(str(checkpoint))
        labels = set(bundle.labels)
        parity_set = parity_set_of(cfg, checkpoint, labels)
        out = package_dir(cfg.output, run_dir)
        check_target(out)  # a folder that is not a package fails now, not after the export
        log.info(
            "checkpoint %s; parity set: %d documents (%s); package: %s",
            checkpoint,
            len(parity_set.texts),
            parity_set.source,
            out,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=out.parent) as scratch:
        work = Path(scratch)
        models, results, chosen = _convert_models(
            cfg, checkpoint, bundle, tokenizer, parity_set, recipes, work, durations
        )
        failures = failed_checks(results, FP32, int8_name(chosen), thresholds)
        report = _report(
            cfg, checkpoint, bundle, parity_set, results, models, chosen, failures, durations
        )
        with phase("package", timeouts.package, durations):
            from resume_ner.convert.package import write_package

            write_package(
                out,
                checkpoint=checkpoint,
                models={"fp32": models["fp32"], "int8": models[chosen]},
                report=report,
                source=report["source"],
            )
    print(format_table(results))
    print(
        f"\nint8 recipe: {chosen} ({results[int8_name(chosen)].f1_loss_points:.2f} points of "
        f"micro F1 below PyTorch); package: {out}"
    )
    result = ConversionResult(out, not failures, report)
    if failures:
        raise ParityError(
            "the conversion missed its parity thresholds:\n  "
            + "\n  ".join(failures)
            + f'\nThe package at {out} is kept for inspection and marked "passed": false in '
            f"its conversion_report.json; nothing was logged to MLflow. Try other "
            f"convert.quantize.recipes, or loosen convert.parity.* if the loss is acceptable."
        )
    if cfg.log_to_mlflow:
        from resume_ner.convert.publish import publish

        result.mlflow_run_id, result.registered = publish(cfg, out, report)
    return result


def _convert_models(
    cfg: Any,
    checkpoint: Path,
    bundle: Any,
    tokenizer: Any,
    parity_set: ParitySet,
    recipes: list[str],
    work: Path,
    durations: dict[str, float],
) -> tuple[dict[str, Path], dict[str, Any], str]:
    """Export, check, optimise, quantize and measure; (models, results, chosen recipe)."""
    from resume_ner.convert.export import export_onnx
    from resume_ner.convert.onnx_forward import onnx_forward
    from resume_ner.convert.quantize import optimise, quantize

    timeouts = cfg.timeouts
    # No alarm of our own: the child process is killed at convert.timeouts.export.
    with phase("export", None, durations):
        exported = export_onnx(
            checkpoint, work / "export", opset=cfg.opset, timeout=timeouts.export
        )
    with phase("check", timeouts.check, durations):
        _check_runs(exported, bundle, tokenizer, parity_set)
    with phase("optimise", timeouts.optimise, durations):
        models = {"fp32": optimise(exported, work / "model.onnx")}
    calibration = calibration_batches(cfg, checkpoint, bundle, tokenizer, parity_set)
    with phase("quantize", timeouts.quantize, durations):
        for recipe in recipes:
            with phase(f"quantize ({recipe})"):
                models[recipe] = quantize(
                    models["fp32"], work / f"model.int8.{recipe}.onnx", recipe, calibration
                )
    with phase("parity", timeouts.parity, durations):
        forwards = {
            REFERENCE: lambda: _torch_forward(checkpoint),
            FP32: lambda: onnx_forward(models["fp32"], threads=cfg.threads),
        }
        for recipe in recipes:
            forwards[int8_name(recipe)] = functools.partial(
                onnx_forward, models[recipe], threads=cfg.threads
            )
        results = measure(parity_set, tokenizer, bundle, forwards, cfg.batch_size)
        candidates = {int8_name(recipe): recipe for recipe in recipes}
        chosen, _ = choose_int8(results, list(candidates), cfg.parity.max_int8_f1_loss)
    return models, results, candidates[chosen]


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def _torch_forward(checkpoint: Path) -> Any:
    import torch

    from resume_ner.modeling import load_trained, torch_forward

    device = torch.device("cpu")
    return torch_forward(load_trained(checkpoint, device), device, None)


def _check_runs(model: Path, bundle: Any, tokenizer: Any, parity_set: ParitySet) -> None:
    """The exported graph loads in ONNX Runtime and gives logits for one real window."""
    from resume_ner.convert.onnx_forward import onnx_forward
    from resume_ner.inference import padding_id, window_logits
    from resume_ner.windows import build_windows

    _, windows = build_windows(
        tokenizer,
        parity_set.texts[:1],
        bundle.max_length,
        bundle.stride,
        label2id=None,
        word_features=bundle.word_features,
    )
    try:
        logits = window_logits(windows[:2], onnx_forward(model), padding_id(tokenizer), 2)
    except Exception as error:  # any runtime refusal is the conversion's failure
        raise ConversionError(
            f"the exported model does not run in ONNX Runtime: {type(error).__name__}: {error}"
        ) from error
    if logits[0].shape[-1] != len(bundle.id2label):
        raise ConversionError(
            f"the exported model gives {logits[0].shape[-1]} logits per token; the checkpoint "
            f"has {len(bundle.id2label)} labels"
        )


def _report(
    cfg: Any,
    checkpoint: Path,
    bundle: Any,
    parity_set: ParitySet,
    results: dict[str, Any],
    models: dict[str, Path],
    chosen: str,
    failures: list[str],
    durations: dict[str, float],
) -> dict[str, Any]:
    """conversion_report.json: what was converted, how, and what each model measured."""
    from resume_ner.checkpoints import MANIFEST, read_json
    from resume_ner.convert.package import FORMAT_VERSION
    from resume_ner.convert.quantize import RECIPES

    manifest = checkpoint / MANIFEST
    run_id = read_json(manifest).get("mlflow_run_id") if manifest.is_file() else None
    int8 = int8_name(chosen)
    return {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "passed": not failures,
        "failures": failures,
        "source": {"checkpoint": str(checkpoint), "mlflow_run_id": run_id, "ref": cfg.checkpoint},
        "parity_set": {
            "source": parity_set.source,
            "documents": len(parity_set.texts),
            "characters": sum(len(text) for text in parity_set.texts),
            "set_aside_gold_labels": parity_set.set_aside,
        },
        "thresholds": dict(cfg.parity),
        "models": {
            "torch": results[REFERENCE].to_json(),
            "fp32": results[FP32].to_json(),
            "int8": {**results[int8].to_json(), "recipe": chosen},
        },
        "int8_recipe": chosen,
        "int8_recipes": {
            recipe: {
                "description": RECIPES[recipe],
                "size_bytes": models[recipe].stat().st_size,
                "within_budget": results[int8_name(recipe)].f1_loss_points
                <= cfg.parity.max_int8_f1_loss + 1e-9,
                **results[int8_name(recipe)].to_json(),
            }
            for recipe in cfg.quantize.recipes
        },
        "sizes_bytes": {
            "model.safetensors": (checkpoint / "model.safetensors").stat().st_size,
            "model.onnx": models["fp32"].stat().st_size,
            "model.int8.onnx": models[chosen].stat().st_size,
        },
        "settings": {
            "opset": cfg.opset,
            "batch_size": cfg.batch_size,
            "threads": cfg.threads,
            "max_length": bundle.max_length,
            "stride": bundle.stride,
            "word_features": bundle.word_features,
        },
        "phases_seconds": dict(durations),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("resume-ner", "torch", "transformers", "onnx", "onnxruntime", "onnxscript"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
