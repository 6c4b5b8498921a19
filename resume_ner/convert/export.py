"""Export a checkpoint's token-classification model to a single fp32 ONNX file.

The export runs in a child process (`python -m resume_ner.convert.export`), so that a hung
exporter is ended after `timeout` seconds with a ConversionError instead of hanging the
caller, and so that the exporter's memory and global state (torch.export, onnxscript
registries) go away with it. The child inherits stderr: its phase logs appear live.

The graph takes int64 [batch, sequence] inputs `input_ids`, `attention_mask`, and
`token_type_ids` exactly when the checkpoint reads word classes (label_map.json
`word_features`), and returns `logits` float32 [batch, sequence, labels]; both axes are
dynamic.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resume_ner.checkpoints import read_inference_bundle
from resume_ner.convert.phases import ConversionError, flush_logs, phase, timeout_message

# Named, not __name__: the child runs this module as __main__.
log = logging.getLogger("resume_ner.convert.export")

MIN_OPSET = 18
MODEL_FILE = "model.onnx"
OUTPUT_NAME = "logits"
# The example batch traced by the exporter: neither axis is 0 or 1, which torch.export
# would specialise to a constant instead of keeping symbolic.
_EXAMPLE_BATCH, _EXAMPLE_LENGTH = 2, 16


def input_names(word_features: bool) -> list[str]:
    """The graph inputs of a checkpoint that does (or does not) read word classes."""
    names = ["input_ids", "attention_mask"]
    return [*names, "token_type_ids"] if word_features else names


def _target(out: Path) -> Path:
    """`out` itself when it names an .onnx file, else <out>/model.onnx."""
    out = Path(out).expanduser()
    return out if out.suffix == ".onnx" else out / MODEL_FILE


def export_onnx(checkpoint: Path, out: Path, *, opset: int = 18, timeout: float = 600) -> Path:
    """Export `checkpoint` to one fp32 ONNX file (out: a .onnx path or a folder); its path."""
    if opset < MIN_OPSET:
        raise ConversionError(
            f"opset={opset}: the exporter needs opset {MIN_OPSET} or later; pass a larger one"
        )
    bundle = read_inference_bundle(checkpoint)  # CheckpointError before any child starts
    target = _target(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=target.parent) as work:
        result = Path(work) / "result.json"
        command = [
            sys.executable,
            "-m",
            "resume_ner.convert.export",
            str(bundle.folder),
            str(target),
            "--opset",
            str(opset),
            "--result",
            str(result),
            # The child's scratch files go here too: removed even when the child is killed.
            "--scratch",
            work,
        ]
        with phase(f"ONNX export of {bundle.folder} (child process)"):
            try:
                # stdout=2: the exporter's progress lines go to our stderr, never into the
                # stdout of a command that prints results there.
                subprocess.run(command, stdout=2, env=_child_env(), timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise ConversionError(timeout_message("export", timeout)) from None
        outcome = json.loads(result.read_text()) if result.is_file() else {}
    if "error" in outcome:
        raise ConversionError(f"exporting {bundle.folder} to ONNX failed: {outcome['error']}")
    if "exporter" not in outcome or not target.is_file():
        raise ConversionError(
            f"exporting {bundle.folder} to ONNX failed: the export process ended without a "
            f"result (killed, e.g. out of memory?); its log is above"
        )
    log.info("wrote %s (%s exporter, opset %d)", target, outcome.get("exporter"), opset)
    return target


def _child_env() -> dict[str, str]:
    """Our environment, with this checkout importable from the child wherever it runs."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


# --------------------------------------------------------------------------- the child


def _export_model(
    checkpoint: Path,
    target: Path,
    opset: int,
    scratch: Path | None = None,
    attention: str = "eager",
) -> str:
    """Export, inline and check the model (in the child); the exporter used. attention:
    the attn_implementation exported (scripts/bench_onnx_attention.py compares them)."""
    import onnx
    import torch

    from resume_ner.modeling import load_trained

    bundle = read_inference_bundle(checkpoint)
    names = input_names(bundle.word_features)
    with phase("load model"):
        # Eager attention, not SDPA: the same weights and outputs, but a plain
        # MatMul-Softmax-MatMul graph that ONNX Runtime runs faster, int8 most of all
        # (docs/experiments.md, "Eager attention for the export").
        model = load_trained(bundle.folder, torch.device("cpu"), attn_implementation=attention)
        model = _logits_module(model, bundle.word_features).eval()
    generator = torch.Generator().manual_seed(0)
    shape = (_EXAMPLE_BATCH, _EXAMPLE_LENGTH)
    vocab = int(model.model.config.vocab_size)
    example: dict[str, torch.Tensor] = {
        "input_ids": torch.randint(0, vocab, shape, generator=generator),
        "attention_mask": torch.ones(shape, dtype=torch.long),
    }
    if bundle.word_features:
        example["token_type_ids"] = torch.randint(0, 9, shape, generator=generator)

    with tempfile.TemporaryDirectory(prefix=".raw-", dir=scratch or target.parent) as raw_dir:
        # The exporter may write weights beside the graph (model.onnx.data): export into a
        # scratch folder, removed with all it holds, and inline them into one file.
        raw = Path(raw_dir) / MODEL_FILE
        exporter = _run_exporter(model, example, names, raw, opset)
        inlined = Path(raw_dir) / f"inlined-{MODEL_FILE}"
        with phase("inline external data"):
            proto = onnx.load(str(raw), load_external_data=True)
            onnx.save(proto, str(inlined), save_as_external_data=False)
        with phase("check model"):
            onnx.checker.check_model(str(inlined))
            _check_signature(onnx.load(str(inlined)), names, opset)
        # Moved into place only once checked: a failed or killed export never leaves half a
        # file at the target, nor removes the model an earlier export wrote there.
        os.replace(inlined, target)
    return exporter


def _logits_module(model: Any, word_features: bool) -> Any:
    """The model as a module taking exactly the graph's inputs and returning logits only."""
    import torch

    class WithWordClasses(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    class Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return WithWordClasses() if word_features else Plain()


def _run_exporter(model: Any, example: dict, names: list[str], raw: Path, opset: int) -> str:
    """torch.onnx.export with dynamo (torch's recommended exporter), else TorchScript."""
    import torch

    args = tuple(example[name] for name in names)
    batch = torch.export.Dim("batch")
    # Positions beyond max_position_embeddings do not exist: bound the axis there.
    limit = int(getattr(model.model.config, "max_position_embeddings", 0) or 0)
    sequence = (
        torch.export.Dim("sequence", max=limit) if limit > 1 else torch.export.Dim("sequence")
    )
    # What both exporters are given; each adds its own way of naming the dynamic axes.
    common = {"input_names": names, "output_names": [OUTPUT_NAME], "opset_version": opset}
    try:
        with phase(f"torch.onnx.export (dynamo=True, opset {opset})"):
            torch.onnx.export(
                model,
                args,
                str(raw),
                **common,
                dynamo=True,
                dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
                external_data=True,
                optimize=True,
                verify=False,
            )
        return "dynamo"
    except Exception as error:  # any exporter failure: the TorchScript one may still work
        log.warning(
            "the dynamo exporter failed (%s: %s); falling back to dynamo=False",
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
        flush_logs()
    for stale in raw.parent.iterdir():  # whatever the failed attempt left
        if stale.is_file():
            stale.unlink()
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[OUTPUT_NAME] = {0: "batch", 1: "sequence"}
    with phase(f"torch.onnx.export (dynamo=False, opset {opset})"):
        torch.onnx.export(model, args, str(raw), **common, dynamo=False, dynamic_axes=axes)
    return "torchscript"


def _check_signature(proto: Any, names: list[str], opset: int) -> None:
    """The graph's inputs, output and opset are what inference will feed and read."""
    inputs = [value.name for value in proto.graph.input]
    outputs = [value.name for value in proto.graph.output]
    if inputs != names or outputs != [OUTPUT_NAME]:
        raise ConversionError(
            f"the exported graph takes {inputs} and returns {outputs}; expected {names} and "
            f"['{OUTPUT_NAME}']"
        )
    found = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if found < min(opset, MIN_OPSET):
        raise ConversionError(f"the exported graph has opset {found}, below {opset}")


def main(argv: Sequence[str] | None = None) -> int:
    """The child process: export, then write {"exporter": ...} or {"error": ...} to --result."""
    parser = argparse.ArgumentParser(prog="python -m resume_ner.convert.export")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, default=None)
    args = parser.parse_args(argv)
    # Our phases at INFO; the libraries' INFO chatter (onnxscript lists every initializer it
    # deduplicates) stays out, their warnings do not.
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [export] %(name)s: %(message)s",
    )
    logging.getLogger("resume_ner").setLevel(logging.INFO)
    try:
        exporter = _export_model(args.checkpoint, args.target, args.opset, args.scratch)
    except Exception as error:  # reported to the parent, which raises ConversionError
        log.exception("export failed")
        message = f"{type(error).__name__}: {error}"
        args.result.write_text(json.dumps({"error": message}))
        return 1
    args.result.write_text(json.dumps({"exporter": exporter}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
