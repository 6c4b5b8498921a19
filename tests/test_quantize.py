"""int8 quantization recipes and the fp32 optimisation (resume_ner.convert.quantize).

The fast tests run on a hand-built graph shaped like one transformer layer and a classifier
head (embedding Gather, FFN up / down projections, head, `logits`), so that which node is
"sensitive" is known by construction. The slow ones export the random 2-layer BERT of
`tiny_bert_dir` (make_checkpoint: word classes on, a scaled classifier head so the logits
are not near-equal), and a tiny DistilBERT and DeBERTa-v2 for `optimise`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from test_onnx_export import LABELS, make_checkpoint, padded_batch

from resume_ner.convert.phases import ConversionError
from resume_ner.convert.quantize import (
    RECIPES,
    STATIC_RECIPES,
    head_matmuls,
    optimise,
    probe_inputs,
    quantize,
    sensitive_nodes,
    weight_matmuls,
)

REPO = Path(__file__).resolve().parents[1]
VOCAB, HIDDEN, INNER, CLASSES = 50, 8, 24, 5


def build_graph(path: Path, *, gemm_head: bool = False) -> Path:
    """ids -> Gather(embeddings) -> up (8x24) -> Relu -> down (24x8) -> + skip -> head
    (8x5, a MatMul or a Gemm with transB) -> x mask -> logits [batch, sequence, 5]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int, scale: float = 0.5) -> onnx.TensorProto:
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name
        )

    initializers = [
        weight("embeddings", VOCAB, HIDDEN, scale=1.0),
        weight("up.weight", HIDDEN, INNER),
        weight("down.weight", INNER, HIDDEN),
        weight("head.weight", *((CLASSES, HIDDEN) if gemm_head else (HIDDEN, CLASSES)), scale=5),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array([-1, HIDDEN], dtype=np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["embedded"], name="embed"),
        helper.make_node("MatMul", ["embedded", "up.weight"], ["up"], name="ffn_up"),
        helper.make_node("Relu", ["up"], ["act"], name="act"),
        helper.make_node("MatMul", ["act", "down.weight"], ["down"], name="ffn_down"),
        helper.make_node("Add", ["down", "embedded"], ["hidden"], name="skip"),
    ]
    if gemm_head:  # TorchScript-style: a 2-D Gemm on flattened tokens, reshaped back
        initializers.append(numpy_helper.from_array(np.zeros(3, dtype=np.int64), "shape_like"))
        nodes += [
            helper.make_node("Shape", ["input_ids"], ["ids_shape"], name="ids_shape"),
            helper.make_node("Reshape", ["hidden", "flat"], ["flat_hidden"], name="flatten"),
            helper.make_node(
                "Gemm", ["flat_hidden", "head.weight"], ["flat_scores"], name="head", transB=1
            ),
            helper.make_node(
                "Concat", ["ids_shape", "last_axis"], ["scores_shape"], name="shape", axis=0
            ),
            helper.make_node("Reshape", ["flat_scores", "scores_shape"], ["scores"], name="unflat"),
        ]
    else:
        nodes.append(helper.make_node("MatMul", ["hidden", "head.weight"], ["scores"], name="head"))
    nodes += [
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask3"], name="unsqueeze"),
        helper.make_node("Mul", ["scores", "mask3"], ["logits"], name="mask"),
    ]
    axes = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes,
        "layer",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, axes),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, axes),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [*axes, CLASSES])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def run(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [value.name for value in session.get_inputs()]
    return session.run(["logits"], {name: inputs[name] for name in names})[0]


def signature(path: Path) -> list[tuple]:
    """(name, element type, dims) of each graph input and output, as ORT reports them."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [
        (v.name, v.type, tuple(v.shape)) for v in [*session.get_inputs(), *session.get_outputs()]
    ]


def calibration_of(path: Path):
    """A calibration callable of three batches of unlike shapes."""
    return lambda: [
        probe_inputs(path, batch, length) for batch, length in ((4, 20), (2, 9), (1, 3))
    ]


def graph_nodes(path: Path) -> dict[str, object]:
    import onnx

    return {node.name: node for node in onnx.load(str(path)).graph.node}


def float_initializers(path: Path) -> set[str]:
    import onnx
    from onnx import TensorProto

    graph = onnx.load(str(path)).graph
    return {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}


# --------------------------------------------------------------------------- fast


def test_recipe_lists() -> None:
    from omegaconf import OmegaConf

    assert set(RECIPES) >= STATIC_RECIPES
    assert all(isinstance(text, str) and text for text in RECIPES.values())
    # The shipped conversion config measures every recipe, once each, and prefers the
    # per-tensor baseline (measured to lose up to 4.4 points) least.
    configured = list(OmegaConf.load(REPO / "conf" / "convert.yaml").quantize.recipes)
    assert sorted(configured) == sorted(RECIPES)
    assert configured[-1] == "dynamic"


def test_unknown_recipe_lists_the_valid_ones(tmp_path) -> None:
    model = build_graph(tmp_path / "model.onnx")
    with pytest.raises(ConversionError, match="unknown quantization recipe 'int4'") as error:
        quantize(model, tmp_path / "int8.onnx", "int4")
    assert all(name in str(error.value) for name in RECIPES)
    assert not (tmp_path / "int8.onnx").exists()


def test_static_recipe_needs_calibration(tmp_path) -> None:
    model = build_graph(tmp_path / "model.onnx")
    for recipe in STATIC_RECIPES:
        with pytest.raises(ConversionError, match="calibrat") as error:
            quantize(model, tmp_path / "int8.onnx", recipe, None)
        assert "dynamic_per_channel" in str(error.value)  # the recipes that need none
    assert not (tmp_path / "int8.onnx").exists()


@pytest.mark.parametrize("gemm_head", [False, True], ids=["matmul-head", "gemm-head"])
def test_sensitive_nodes_by_structure(tmp_path, gemm_head) -> None:
    import onnx

    proto = onnx.load(str(build_graph(tmp_path / "model.onnx", gemm_head=gemm_head)))
    assert weight_matmuls(proto) == {
        "ffn_up": (HIDDEN, INNER),
        "ffn_down": (INNER, HIDDEN),
        "head": (HIDDEN, CLASSES),  # a Gemm with transB: [N, K] stored, (K, N) reported
    }
    assert head_matmuls(proto) == ["head"]
    assert sensitive_nodes(proto) == ["ffn_down", "head"]
    assert sensitive_nodes(proto, down_projections=False) == ["head"]


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_each_recipe_on_a_small_graph(tmp_path, recipe) -> None:
    fp32 = build_graph(tmp_path / "model.onnx")
    int8 = quantize(fp32, tmp_path / "out" / "int8.onnx", recipe, calibration_of(fp32))
    assert int8 == tmp_path / "out" / "int8.onnx"
    assert sorted(p.name for p in int8.parent.iterdir()) == ["int8.onnx"]  # no scratch left
    assert signature(int8) == signature(fp32)
    inputs = probe_inputs(fp32, batch=3, length=11)
    expected, got = run(fp32, inputs), run(int8, inputs)
    assert got.shape == expected.shape == (3, 11, CLASSES)
    assert np.abs(got - expected).max() < 0.1 * np.abs(expected).max()
    nodes = graph_nodes(int8)
    if recipe == "dynamic":  # the baseline quantizes the embedding table too
        assert "embeddings" not in float_initializers(int8)
    else:
        assert nodes["embed"].op_type == "Gather" and "embeddings" in float_initializers(int8)


def test_fp32_sensitive_recipe_leaves_exactly_those_nodes_fp32(tmp_path) -> None:
    fp32 = build_graph(tmp_path / "model.onnx")
    nodes = graph_nodes(quantize(fp32, tmp_path / "int8.onnx", "dynamic_fp32_sensitive"))
    floats = float_initializers(tmp_path / "int8.onnx")
    for name, weight in (("ffn_down", "down.weight"), ("head", "head.weight")):
        assert nodes[name].op_type == "MatMul" and nodes[name].input[1] == weight
        assert weight in floats
    assert "ffn_up" not in nodes and "up.weight" not in floats  # quantized
    assert sum(node.op_type == "MatMulInteger" for node in nodes.values()) == 1

    head_only = graph_nodes(quantize(fp32, tmp_path / "head.onnx", "dynamic_fp32_head"))
    assert head_only["head"].op_type == "MatMul"
    assert sum(node.op_type == "MatMulInteger" for node in head_only.values()) == 2

    static = graph_nodes(quantize(fp32, tmp_path / "qdq.onnx", "static_qdq", calibration_of(fp32)))
    assert static["head"].input[1] == "head.weight"  # the head's weight is no DequantizeLinear
    assert static["ffn_down"].input[1] != "down.weight"


def test_calibration_batch_missing_an_input(tmp_path) -> None:
    fp32 = build_graph(tmp_path / "model.onnx")

    def partial():
        return [{"input_ids": np.ones((1, 4), dtype=np.int64)}]

    with pytest.raises(ConversionError, match=r"lacks the graph inputs \['attention_mask'\]"):
        quantize(fp32, tmp_path / "int8.onnx", "static_qdq", partial)


def test_optimise_falls_back_to_a_copy(tmp_path, monkeypatch, caplog) -> None:
    from resume_ner.convert import quantize as module

    fp32 = build_graph(tmp_path / "model.onnx")

    def broken(model, out):
        raise RuntimeError("simulated fusion failure")

    monkeypatch.setattr(module, "_fuse", broken)
    with caplog.at_level("WARNING", logger="resume_ner.convert.quantize"):
        out = optimise(fp32, tmp_path / "out" / "model.onnx")
    assert out.read_bytes() == fp32.read_bytes()
    assert "does not apply" in caplog.text and "simulated fusion failure" in caplog.text
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.onnx"]


def test_optimise_refuses_a_graph_that_changes_the_logits(tmp_path, monkeypatch, caplog) -> None:
    import onnx
    from onnx import numpy_helper

    from resume_ner.convert import quantize as module

    fp32 = build_graph(tmp_path / "model.onnx")

    def perturbing(model, out):
        proto = onnx.load(str(model))
        for k, tensor in enumerate(proto.graph.initializer):
            if tensor.name == "head.weight":
                changed = numpy_helper.to_array(tensor) * 1.01
                proto.graph.initializer[k].CopyFrom(numpy_helper.from_array(changed, tensor.name))
        onnx.save(proto, str(out))

    monkeypatch.setattr(module, "_fuse", perturbing)
    with caplog.at_level("WARNING", logger="resume_ner.convert.quantize"):
        out = optimise(fp32, tmp_path / "optimised.onnx")
    assert out.read_bytes() == fp32.read_bytes()
    assert "logits differ" in caplog.text


def test_failed_shape_inference_leaves_no_files(tmp_path, monkeypatch) -> None:
    """onnxruntime's symbolic shape inference saves its partial model into the current
    folder before raising: optimise runs it in a scratch folder and goes on untyped."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    from resume_ner.convert.quantize import _typed

    def incomplete(model, **kwargs):
        Path("sym_shape_infer_temp.onnx").write_bytes(b"partial")
        raise Exception("Incomplete symbolic shape inference")

    monkeypatch.setattr(SymbolicShapeInference, "infer_shapes", staticmethod(incomplete))
    proto = onnx.load(str(build_graph(tmp_path / "model.onnx")))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _typed(proto) is proto
    assert Path.cwd() == work and not list(work.iterdir())


# --------------------------------------------------------------------------- slow


@pytest.fixture(scope="module")
def bert_onnx(tmp_path_factory, tiny_bert_dir) -> tuple[Path, Path]:
    """(checkpoint, exported model.onnx) of the tiny BERT reading word classes."""
    from resume_ner.convert.export import export_onnx

    root = tmp_path_factory.mktemp("quantize")
    checkpoint = make_checkpoint(root / "checkpoint", tiny_bert_dir, word_features=True)
    return checkpoint, export_onnx(checkpoint, root / "export")


@pytest.fixture(scope="module")
def bert_optimised(bert_onnx, tmp_path_factory) -> Path:
    return optimise(bert_onnx[1], tmp_path_factory.mktemp("optimised") / "model.onnx")


@pytest.mark.slow
def test_optimise_keeps_the_logits(bert_onnx, bert_optimised, caplog) -> None:
    checkpoint, exported = bert_onnx
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    inputs = padded_batch(vocab, word_features=True)  # 3 x 40: unlike the export's 2 x 16
    expected, got = run(exported, inputs), run(bert_optimised, inputs)
    assert got.shape == (3, 40, len(LABELS))
    assert np.abs(got - expected).max() < 1e-4
    assert signature(bert_optimised) == signature(exported)
    assert np.abs(expected).max() > 1  # the scaled head: logits worth comparing


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_each_recipe_on_the_exported_bert(bert_onnx, bert_optimised, tmp_path, recipe) -> None:
    import onnx

    checkpoint, _ = bert_onnx
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    calibration = None
    if recipe in STATIC_RECIPES:
        calibration = lambda: [padded_batch(vocab, True), probe_inputs(bert_optimised, 2, 16)]  # noqa: E731
    int8 = quantize(bert_optimised, tmp_path / "model.int8.onnx", recipe, calibration)
    assert int8.stat().st_size < bert_optimised.stat().st_size
    assert signature(int8) == signature(bert_optimised)
    for value in [*onnx.load(str(int8)).graph.input, *onnx.load(str(int8)).graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[1].dim_param  # batch and sequence stay dynamic
    inputs = padded_batch(vocab, word_features=True)
    expected, got = run(bert_optimised, inputs), run(int8, inputs)
    assert got.shape == expected.shape and np.isfinite(got).all()
    real = inputs["attention_mask"].astype(bool)
    agreement = float((got.argmax(-1)[real] == expected.argmax(-1)[real]).mean())
    assert agreement > 0.8, agreement
    if recipe == "dynamic_fp32_sensitive":
        fp32_nodes = sensitive_nodes(onnx.load(str(bert_optimised)))
        weights = weight_matmuls(onnx.load(str(bert_optimised)))
        assert len(fp32_nodes) == 3  # the head and one down-projection per layer
        nodes = graph_nodes(int8)
        assert all(nodes[name].op_type == "MatMul" for name in fp32_nodes)
        quantized = [name for name in weights if name not in fp32_nodes]
        assert quantized and not any(name in nodes for name in quantized)
        assert sum(n.op_type == "MatMulInteger" for n in nodes.values()) == len(quantized)


def _other_architecture(root: Path, architecture: str, minilm_dir: Path) -> Path:
    """A checkpoint folder (random weights, no word classes) of a tiny DistilBERT or
    DeBERTa-v2 token classifier, with the bundled tokenizer."""
    import torch
    from transformers import (
        AutoTokenizer,
        DebertaV2Config,
        DebertaV2ForTokenClassification,
        DistilBertConfig,
        DistilBertForTokenClassification,
    )

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    id2label = dict(enumerate(LABELS))
    common = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}
    if architecture == "distilbert":
        config = DistilBertConfig(
            vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64, **common
        )
        model_class = DistilBertForTokenClassification
    else:
        config = DebertaV2Config(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            type_vocab_size=0,
            relative_attention=True,
            position_biased_input=False,
            pos_att_type="p2c|c2p",
            position_buckets=16,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            **common,
        )
        model_class = DebertaV2ForTokenClassification
    torch.manual_seed(1)
    model = model_class(config)
    with torch.no_grad():
        model.classifier.weight.mul_(50)
    folder = root / architecture
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    label_map = {"id2label": {str(k): v for k, v in id2label.items()}, "max_length": 32,
                 "stride": 8, "word_features": False}  # fmt: skip
    (folder / "label_map.json").write_text(json.dumps(label_map))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["distilbert", "deberta"])
def test_optimise_and_quantize_other_architectures(
    tmp_path, minilm_dir, architecture, caplog
) -> None:
    import onnx

    from resume_ner.convert.export import export_onnx

    checkpoint = _other_architecture(tmp_path, architecture, minilm_dir)
    exported = export_onnx(checkpoint, tmp_path / "export")
    with caplog.at_level(logging.WARNING, logger="resume_ner.convert.quantize"):
        optimised = optimise(exported, tmp_path / "model.onnx")
    print(f"{architecture}: {'fell back' if 'does not apply' in caplog.text else 'optimised'}")
    inputs = padded_batch(1000, word_features=False)
    expected, got = run(exported, inputs), run(optimised, inputs)
    assert np.abs(got - expected).max() < 1e-4
    proto = onnx.load(str(optimised))
    assert len(head_matmuls(proto)) == 1
    assert len(sensitive_nodes(proto)) == 3  # the head and one down-projection per layer
    int8 = quantize(optimised, tmp_path / "int8.onnx", "dynamic_fp32_sensitive")
    assert signature(int8) == signature(exported)
    assert run(int8, inputs).shape == expected.shape


@pytest.mark.slow
def test_torchscript_graph_is_fully_quantized(bert_onnx, tmp_path, dynamo_export_fails) -> None:
    """The TorchScript exporter's graph has no value_info: without the types optimise adds,
    the static quantizer skips every MatMul after the first fused op."""
    import onnx

    from resume_ner.convert import export

    checkpoint, _ = bert_onnx
    exported = tmp_path / "exported.onnx"
    assert export._export_model(checkpoint, exported, 18) == "torchscript"
    optimised = optimise(exported, tmp_path / "model.onnx")
    vocab = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    inputs = padded_batch(vocab, word_features=True)
    assert np.abs(run(optimised, inputs) - run(exported, inputs)).max() < 1e-4
    proto = onnx.load(str(optimised))
    weights, head = weight_matmuls(proto), head_matmuls(proto)
    assert len(weights) == 2 * 6 + 1 and len(head) == 1

    int8 = quantize(optimised, tmp_path / "int8.onnx", "static_qdq", lambda: [inputs])
    graph = onnx.load(str(int8)).graph
    producer = {out: node for node in graph.node for out in node.output}
    nodes = {node.name: node for node in graph.node}
    for name in weights:
        source = producer.get(nodes[name].input[1])
        kind = source.op_type if source is not None else "initializer"
        assert kind == ("initializer" if name in head else "DequantizeLinear"), (name, kind)
    assert signature(int8) == signature(exported)
