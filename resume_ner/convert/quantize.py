"""int8 quantization and fp32 graph optimisation of an exported model, with ONNX Runtime.

`optimise(model, out)` writes the fp32 graph made faster for CPU inference; `quantize(model,
out, recipe, calibration)` writes an int8 one by one of `RECIPES`. The conversion pipeline
quantizes with each recipe of convert.quantize.recipes (conf/convert.yaml), measures each
on the parity set and keeps the first within the F1 budget.

Which nodes are "sensitive" is decided by the graph's structure, not by names: the dynamo
exporter stores each Linear weight transposed under a new name (`val_60`), so no name says
which layer a MatMul belongs to (TorchScript's node names do, dynamo's do not). A *weight
MatMul* is a MatMul (or Gemm) whose second input is a constant 2-D initializer, [K in, N
out]. The sensitive ones are

* the classifier head: the last weight MatMul(s) before the graph output `logits` (reached
  walking back from it without crossing another weight MatMul);
* the contracting projections: weight MatMuls with K > N, i.e. the feed-forward
  down-projections (intermediate -> hidden: 1536 -> 384 in MiniLM), whose input is the
  GELU output, the activation with the widest, most skewed range in a transformer layer.

This holds for BERT, DistilBERT and DeBERTa-v2 graphs from either exporter, before and after
`optimise` (whose fusions leave the weight MatMuls as they are). The word, position and
word-class embedding Gathers stay fp32 in every recipe but the baseline "dynamic": they are
lookups, quantizing them saves file size (59 -> 23 MB for MiniLM) but no time.

Measured on two DataTurks MiniLM checkpoints (docs/experiments.md, "int8 quantization
recipes"): per-tensor "dynamic" lost up to 4.4 points of micro F1; per-channel weights
brought that to about 1; the fp32 head alone lost 0.1 to 2.1 points depending on the
split, at ~0.5x the fp32 time per window; the head and down-projections fp32 lost at most
0.5, at 0.6-0.75x; static QDQ with min-max calibration lost up to 2.4 points and was no
faster. Hence the default order in conf/convert.yaml: the fp32 down-projections first
(closest to PyTorch on every split), then the fp32 head alone (faster, but up to 2 points
lost on some splits).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from resume_ner.convert.phases import ConversionError

log = logging.getLogger("resume_ner.convert.quantize")

Calibration = Callable[[], Iterable[dict[str, np.ndarray]]]

# From the least to the most kept in fp32 (measured: docs/experiments.md).
RECIPES: dict[str, str] = {
    "dynamic": (
        "dynamic int8, per-tensor weights, every MatMul and the embedding Gathers "
        "(quantize_dynamic's defaults; the baseline, for the record)"
    ),
    "dynamic_per_channel": (
        "dynamic int8, per-channel weights, MatMuls with constant weights only; embeddings fp32"
    ),
    "dynamic_fp32_head": "dynamic_per_channel with the classifier head left fp32",
    "dynamic_fp32_sensitive": (
        "dynamic_per_channel with the classifier head and the feed-forward down-projections "
        "left fp32 (more accurate, ~15% slower)"
    ),
    "static_qdq": (
        "static int8 QDQ, per-channel weights, activations calibrated (min-max) on training "
        "windows; classifier head fp32 (needs calibration; no faster here than dynamic)"
    ),
}
STATIC_RECIPES = frozenset({"static_qdq"})

# Ops whose weights the non-baseline recipes quantize ("Attention": a fused attention node,
# should the optimiser recognise the exported attention pattern).
_WEIGHT_OPS = ["MatMul", "Attention"]
# optimise() keeps the optimised graph only when its logits are this close to the input's.
OPTIMISE_TOLERANCE = 1e-4


# --------------------------------------------------------------------------- the graph


def _initializers(graph: Any) -> dict[str, Any]:
    return {tensor.name: tensor for tensor in graph.initializer}


def weight_matmuls(model: Any) -> dict[str, tuple[int, int]]:
    """{node name: (K in, N out)} of each MatMul/Gemm whose weight is a constant 2-D tensor."""
    inits = _initializers(model.graph)
    found: dict[str, tuple[int, int]] = {}
    for node in model.graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        weight = inits.get(node.input[1])
        if weight is None or len(weight.dims) != 2:
            continue
        k, n = int(weight.dims[0]), int(weight.dims[1])
        if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
            k, n = n, k
        found[node.name] = (k, n)
    return found


def head_matmuls(model: Any, output: str = "logits") -> list[str]:
    """The weight MatMul(s) nearest the graph output: the classifier head."""
    weights = weight_matmuls(model)
    producer = {out: node for node in model.graph.node for out in node.output}
    outputs = [value.name for value in model.graph.output]
    start = output if output in producer else (outputs[0] if outputs else None)
    heads: list[str] = []
    seen: set[str] = set()
    stack = [start] if start else []
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.name in weights:
            heads.append(node.name)  # stop here: the layers below are not the head
            continue
        stack.extend(node.input)
    return sorted(heads)


def sensitive_nodes(model: Any, *, down_projections: bool = True) -> list[str]:
    """The MatMuls the fp32-sensitive recipes leave in fp32 (see the module docstring)."""
    chosen = set(head_matmuls(model))
    if down_projections:
        chosen |= {name for name, (k, n) in weight_matmuls(model).items() if k > n}
    return sorted(chosen)


# --------------------------------------------------------------------------- optimise


def optimise(model: Path, out: Path) -> Path:
    """The fp32 graph made faster for CPU inference (same inputs, outputs and dynamic axes;
    logits within OPTIMISE_TOLERANCE); a copy of `model`, with a warning, when the
    optimisation fails or changes the logits. Returns `out`."""
    model, out = Path(model), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".optimise-", dir=out.parent) as work:
            candidate = Path(work) / "optimised.onnx"
            _fuse(model, candidate)
            _check_same_logits(model, candidate, OPTIMISE_TOLERANCE)
            shutil.move(str(candidate), out)
        return out
    except Exception as error:  # an optional speed-up never fails the conversion
        log.warning(
            "the fp32 graph optimisation does not apply to %s (%s: %s); using the exported "
            "graph as it is",
            model,
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
    shutil.copyfile(model, out)
    return out


def _fuse(model: Path, out: Path) -> None:
    """onnxruntime.transformers' BERT fusions (LayerNorm, SkipLayerNorm, Gelu/BiasGelu,
    attention where the pattern is recognised), with the ORT graph optimiser off, so the
    file holds only portable contrib ops and no machine-specific layouts."""
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    # The fusion passes log every pattern they try at INFO; only their warnings matter here.
    quiet = ["onnxruntime.transformers", "fusion_base", "onnx_model", "onnx_model_bert"]
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        optimised = optimize_model(
            str(model), model_type="bert", num_heads=0, hidden_size=0, opt_level=0
        )
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    source = onnx.load(str(model), load_external_data=False)
    proto = optimised.model
    if [v.name for v in proto.graph.input] != [v.name for v in source.graph.input] or [
        v.name for v in proto.graph.output
    ] != [v.name for v in source.graph.output]:
        raise ConversionError("the optimiser changed the graph's inputs or outputs")
    optimised.model = _typed(proto)
    # The exported declarations, dynamic axes included, whatever shape inference made of them.
    for declared, original in ((optimised.model.graph.input, source.graph.input),
                               (optimised.model.graph.output, source.graph.output)):  # fmt: skip
        del declared[:]
        declared.extend(original)
    # save_model_to_file, not onnx.save: it declares the com.microsoft opset of the fused ops.
    optimised.save_model_to_file(str(out))


def _typed(proto: Any) -> Any:
    """`proto` with the type and shape of every intermediate tensor (value_info), which the
    quantizer needs: ONNX's own shape inference stops at the fused com.microsoft ops, and
    the static quantizer skips every tensor of unknown type. Unchanged if inference fails."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        # When incomplete, it saves its partial model (and a weights file) into the current
        # folder before raising: let that be a scratch folder, removed.
        with scratch_cwd():
            typed = SymbolicShapeInference.infer_shapes(
                proto, auto_merge=True, guess_output_rank=True
            )
    except Exception as error:  # the graph stays valid, only less annotated
        log.info("symbolic shape inference failed (%s: %s)", type(error).__name__, error)
        return proto
    return typed if typed is not None else proto


@contextlib.contextmanager
def scratch_cwd() -> Iterator[Path]:
    """Run the block in a new temporary working folder, removed afterwards (for library
    calls that write files into the current folder)."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix=".resume-ner-scratch-") as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def probe_inputs(model: Path, batch: int = 3, length: int = 37) -> dict[str, np.ndarray]:
    """A right-padded int64 batch for the graph's inputs, shaped unlike the export example:
    ids drawn within the embedding tables each input indexes."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    names = [value.name for value in proto.graph.input]
    inits = _initializers(proto.graph)
    rows: dict[str, int] = {}
    for node in proto.graph.node:  # Gather(table, graph input): the ids index that table
        if node.op_type == "Gather" and len(node.input) == 2 and node.input[1] in names:
            table = inits.get(node.input[0])
            if table is not None and table.dims:
                rows[node.input[1]] = int(table.dims[0])
    rng = np.random.default_rng(11)
    lengths = np.linspace(length, max(1, length // 4), batch).astype(int)
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int64)
    inputs: dict[str, np.ndarray] = {}
    for name in names:
        if name == "attention_mask":
            inputs[name] = mask
        else:
            high = rows.get(name, 2 if name == "token_type_ids" else 100)
            inputs[name] = rng.integers(0, max(1, high), (batch, length)) * mask
    return inputs


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_same_logits(reference: Path, candidate: Path, tolerance: float) -> None:
    expected_session, got_session = _session(reference), _session(candidate)
    for batch, length in ((3, 37), (1, 5)):
        inputs = probe_inputs(reference, batch, length)
        expected = expected_session.run(None, inputs)[0]
        got = got_session.run(None, inputs)[0]
        difference = float(np.abs(expected - got).max()) if got.shape == expected.shape else np.inf
        if not difference <= tolerance:
            raise ConversionError(
                f"the optimised graph's logits differ from the exported one's by {difference:.3g}"
                f" (shape {got.shape} vs {expected.shape}; tolerance {tolerance:g})"
            )


# --------------------------------------------------------------------------- quantize


def quantize(model: Path, out: Path, recipe: str, calibration: Calibration | None = None) -> Path:
    """Write the int8 model of `model` (fp32 ONNX) by `recipe` to `out`; returns `out`.

    calibration: a callable returning an iterable of model-input dicts (int64 [batch, seq]
    arrays keyed by the graph's input names); the static recipes require it.
    """
    if recipe not in RECIPES:
        raise ConversionError(
            f"unknown quantization recipe {recipe!r}; choose from {', '.join(RECIPES)}"
        )
    if recipe in STATIC_RECIPES and calibration is None:
        raise ConversionError(
            f"the {recipe} recipe calibrates on model inputs, but none were given (pass "
            f"calibration windows; recipes that need none: "
            f"{', '.join(r for r in RECIPES if r not in STATIC_RECIPES)})"
        )
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    model, out = Path(model), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    proto = onnx.load(str(model), load_external_data=False)
    signature = _signature(proto)
    weights = sorted(weight_matmuls(proto))
    excluded: list[str] = []
    # ONNX shape inference cannot type the outputs of fused contrib ops (optimise's
    # SkipLayerNormalization, Attention...): they are float tensors.
    untyped = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=out.parent) as work:
        target = Path(work) / "int8.onnx"
        if recipe == "dynamic":
            quantize_dynamic(
                model,
                target,
                per_channel=False,
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        elif recipe.startswith("dynamic_"):
            if recipe == "dynamic_fp32_head":
                excluded = head_matmuls(proto)
            elif recipe == "dynamic_fp32_sensitive":
                excluded = sensitive_nodes(proto)
            quantize_dynamic(
                model,
                target,
                op_types_to_quantize=_WEIGHT_OPS,
                per_channel=True,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                extra_options={"MatMulConstBOnly": True, **untyped},
            )
        else:  # static_qdq
            excluded = head_matmuls(proto)
            names = [value.name for value in proto.graph.input]
            quantize_static(
                model,
                target,
                _Reader(calibration, names),  # type: ignore[arg-type]
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                # The calibrator keeps only ReduceMin/ReduceMax scalars per batch: memory stays
                # flat. (Not CalibMaxIntermediateOutputs: ORT 1.32 discards, not merges, them.)
                extra_options={"MatMulConstBOnly": True, **untyped},
            )
        written = onnx.load(str(target), load_external_data=False)
        if _signature(written) != signature:
            raise ConversionError(
                f"the {recipe} recipe changed the graph's inputs or outputs: "
                f"{_signature(written)} instead of {signature}"
            )
        shutil.move(str(target), out)
    log.info(
        "%s: %d of %d weight MatMuls quantized (%s), %d left fp32",
        recipe,
        len(weights) - len(excluded),
        len(weights),
        out.name,
        len(excluded),
    )
    return out


def _signature(proto: Any) -> list[tuple[str, str, tuple]]:
    """(name, element type, dims as str/int) of each graph input and output."""
    entries = []
    for kind, values in (("in", proto.graph.input), ("out", proto.graph.output)):
        for value in values:
            tensor = value.type.tensor_type
            dims = tuple(d.dim_param or d.dim_value for d in tensor.shape.dim)
            entries.append((kind, value.name, tensor.elem_type, dims))
    return entries


class _Reader:
    """An onnxruntime CalibrationDataReader over a calibration callable's input dicts."""

    def __init__(self, calibration: Calibration, names: list[str]) -> None:
        self.calibration = calibration
        self.names = names
        self.batches: Iterator[dict[str, np.ndarray]] = iter(calibration())
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        if batch is None:
            if not self.count:
                raise ConversionError("the calibration for static quantization yielded no batch")
            return None
        missing = [name for name in self.names if name not in batch]
        if missing:
            raise ConversionError(
                f"a calibration batch lacks the graph inputs {missing} (it has {sorted(batch)})"
            )
        self.count += 1
        return {name: np.asarray(batch[name], dtype=np.int64) for name in self.names}

    def rewind(self) -> None:
        self.batches = iter(self.calibration())
        self.count = 0
