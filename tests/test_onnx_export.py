"""ONNX export (resume_ner.convert.export) and the ONNX Runtime forward (convert.onnx_forward).

The slow tests export two checkpoint folders made from the random 2-layer BERT of
`tiny_bert_dir`, one reading word classes (token_type_ids 0-8) and one not, once per module,
and check the graphs' signatures, logit parity with torch and span parity through
`predict_texts`, the timeout, and that onnx_forward runs where torch cannot be imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from resume_ner.checkpoints import read_inference_bundle
from resume_ner.convert.export import ConversionError, export_onnx, input_names
from resume_ner.convert.onnx_forward import onnx_forward
from resume_ner.errors import CheckpointError

REPO = Path(__file__).resolve().parents[1]
LABELS = ["O", "B-Name", "I-Name", "B-Skills", "I-Skills"]
TEXTS = [
    "Vikas Singh\nChandigarh\nSenior Software Engineer at INFOSYS since 2019.",
    "Skills: Python, SQL, Machine Learning\n\nEducation: MBA, Delhi University",
    "john smith",
]


def make_checkpoint(
    folder: Path,
    tiny_bert_dir: Path,
    word_features: bool,
    *,
    labels: list[str] = LABELS,
    max_length: int = 12,
    stride: int = 4,
) -> Path:
    """A minimal checkpoint folder (model, config, tokenizer, label map) of a random tagger;
    the default short windows: the first two TEXTS span several, merged as in training."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from resume_ner.word_features import NUM_CLASSES

    folder.mkdir(parents=True)
    id2label = dict(enumerate(labels))
    config = BertConfig.from_pretrained(str(tiny_bert_dir))
    config.id2label = id2label
    config.label2id = {label: k for k, label in id2label.items()}
    if word_features:
        config.type_vocab_size = NUM_CLASSES  # what read_inference_bundle checks
    torch.manual_seed(1)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        # A random head gives near-equal logits (all O); a larger one gives spans to compare.
        model.classifier.weight.mul_(50)
    model.save_pretrained(str(folder), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tiny_bert_dir)).save_pretrained(str(folder))
    label_map = {
        "id2label": {str(k): v for k, v in id2label.items()},
        "max_length": max_length,
        "stride": stride,
        "word_features": word_features,
    }
    (folder / "label_map.json").write_text(json.dumps(label_map))
    read_inference_bundle(folder)  # the folder is a valid checkpoint for inference
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_bert_dir) -> dict[bool, tuple[Path, Path]]:
    """{word_features: (checkpoint folder, model.onnx)} for both kinds of checkpoint."""
    root = tmp_path_factory.mktemp("onnx-export")
    result = {}
    for word_features in (True, False):
        name = "word-classes" if word_features else "plain"
        checkpoint = make_checkpoint(root / name, tiny_bert_dir, word_features)
        result[word_features] = (checkpoint, export_onnx(checkpoint, root / f"{name}-onnx"))
    return result


def padded_batch(vocab_size: int, word_features: bool) -> dict[str, np.ndarray]:
    """Random ids, right-padded rows of different lengths; batch and length unlike the
    exporter's example (2 x 16), so the dynamic axes are exercised."""
    rng = np.random.default_rng(7)
    lengths = [40, 23, 5]
    width = max(lengths)
    input_ids = np.zeros((len(lengths), width), dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    token_type_ids = np.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = rng.integers(1, vocab_size, length)
        attention_mask[row, :length] = 1
        token_type_ids[row, :length] = rng.integers(0, 9, length)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if word_features:
        inputs["token_type_ids"] = token_type_ids
    return inputs


def torch_forward_of(checkpoint: Path):
    """The torch forward of a checkpoint, fp32 on the CPU."""
    import torch

    from resume_ner.modeling import load_trained, torch_forward

    device = torch.device("cpu")
    return torch_forward(load_trained(checkpoint, device), device, None)


def spans_of(checkpoint: Path, forward, texts: list[str] = TEXTS) -> list[list[tuple]]:
    """predict_texts on `texts`, as (start, end, label, score) tuples."""
    from resume_ner.inference import predict_texts
    from resume_ner.tokenizer import load_tokenizer

    bundle = read_inference_bundle(checkpoint)
    spans = predict_texts(
        texts,
        load_tokenizer(str(checkpoint)),
        forward,
        bundle.id2label,
        bundle.max_length,
        bundle.stride,
        batch_size=4,
        word_features=bundle.word_features,
    )
    return [[(s.start, s.end, s.label, s.score) for s in doc] for doc in spans]


# --------------------------------------------------------------------------- fast


def test_onnx_forward_imports_neither_torch_nor_hydra() -> None:
    source = (REPO / "resume_ner" / "convert" / "onnx_forward.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"torch", "hydra", "omegaconf", "transformers"}, imported


def test_onnx_forward_missing_model(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no such ONNX model"):
        onnx_forward(tmp_path / "model.onnx")


def test_export_refuses_old_opset_and_missing_checkpoint(tmp_path) -> None:
    with pytest.raises(ConversionError, match="opset 18 or later"):
        export_onnx(tmp_path, tmp_path / "out", opset=17)
    with pytest.raises(CheckpointError, match="no such folder"):
        export_onnx(tmp_path / "absent", tmp_path / "out")


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
@pytest.mark.parametrize("word_features", [True, False], ids=["word-classes", "plain"])
def test_graph_signature(exported, word_features) -> None:
    import onnx

    _, path = exported[word_features]
    assert path.name == "model.onnx"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no .data left
    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(model)  # every weight inline: checks without the folder
    inputs = [value.name for value in model.graph.input]
    assert inputs == input_names(word_features)
    assert [value.name for value in model.graph.output] == ["logits"]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 18
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[1].dim_param, (value.name, dims)  # dynamic axes
    assert model.graph.output[0].type.tensor_type.shape.dim[2].dim_value == len(LABELS)


@pytest.mark.slow
@pytest.mark.parametrize("word_features", [True, False], ids=["word-classes", "plain"])
def test_logits_and_spans_match_torch(exported, word_features) -> None:
    checkpoint, path = exported[word_features]
    reference = torch_forward_of(checkpoint)
    forward = onnx_forward(path, threads=1)
    vocab_size = json.loads((checkpoint / "config.json").read_text())["vocab_size"]
    inputs = padded_batch(vocab_size, word_features)
    expected, got = reference(inputs), forward(inputs)
    assert got.shape == expected.shape == (*inputs["input_ids"].shape, len(LABELS))
    assert got.dtype == np.float32
    difference = float(np.abs(got - expected).max())
    print(f"max |onnx - torch| logits ({'word classes' if word_features else 'plain'}): "
          f"{difference:.2e}")  # fmt: skip
    assert difference < 1e-4
    real = inputs["attention_mask"].astype(bool)
    assert (got.argmax(-1)[real] == expected.argmax(-1)[real]).all()
    if word_features:
        # The word classes reach the graph: other classes, other logits.
        shifted = dict(inputs, token_type_ids=(inputs["token_type_ids"] + 1) % 9)
        assert np.abs(forward(shifted) - got).max() > 1e-3

    torch_spans, onnx_spans = spans_of(checkpoint, reference), spans_of(checkpoint, forward)
    assert any(torch_spans), "the random tagger predicts no span: nothing is compared"
    assert [[s[:3] for s in doc] for doc in onnx_spans] == [
        [s[:3] for s in doc] for doc in torch_spans
    ]
    for onnx_doc, torch_doc in zip(onnx_spans, torch_spans, strict=True):
        for onnx_span, torch_span in zip(onnx_doc, torch_doc, strict=True):
            assert onnx_span[3] == pytest.approx(torch_span[3], abs=1e-4)


@pytest.mark.slow
def test_onnx_forward_missing_word_classes(exported) -> None:
    _, path = exported[True]
    forward = onnx_forward(path)
    inputs = padded_batch(100, word_features=False)
    with pytest.raises(ValueError, match="token_type_ids"):
        forward(inputs)


@pytest.mark.slow
def test_export_timeout(exported, tmp_path) -> None:
    checkpoint, _ = exported[False]
    start = time.monotonic()
    message = r"did not finish in 0\.01 s; raise convert\.timeouts\.export"
    with pytest.raises(ConversionError, match=message):
        export_onnx(checkpoint, tmp_path / "out", timeout=0.01)
    assert time.monotonic() - start < 10  # the child is killed, not waited for
    assert not (tmp_path / "out" / "model.onnx").exists()
    assert not list((tmp_path / "out").glob(".onnx-export-*"))  # scratch folder removed


NO_TORCH = """
import json, sys
# torch (and the training stack) cannot be imported in this process at all.
for name in ("torch", "hydra", "omegaconf"):
    sys.modules[name] = None

from resume_ner.convert.onnx_forward import onnx_forward
from resume_ner.inference import predict_texts
from resume_ner.tokenizer import load_tokenizer
from resume_ner.checkpoints import read_inference_bundle

checkpoint, model, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
bundle = read_inference_bundle(checkpoint)
spans = predict_texts(
    texts, load_tokenizer(checkpoint), onnx_forward(model, threads=1), bundle.id2label,
    bundle.max_length, bundle.stride, batch_size=4, word_features=bundle.word_features,
)
assert sys.modules.get("torch") is None, "torch was imported"
print(json.dumps([[[s.start, s.end, s.label, s.score] for s in doc] for doc in spans]))
"""


@pytest.mark.slow
def test_onnx_forward_without_torch(exported) -> None:
    checkpoint, path = exported[True]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NO_TORCH), str(checkpoint), str(path),
         json.dumps(TEXTS)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    spans = json.loads(result.stdout.strip().splitlines()[-1])
    expected = spans_of(checkpoint, onnx_forward(path, threads=1))
    assert [[tuple(s[:3]) for s in doc] for doc in spans] == [
        [s[:3] for s in doc] for doc in expected
    ]


@pytest.mark.slow
def test_falls_back_to_torchscript_exporter(
    exported, tmp_path, dynamo_export_fails, caplog
) -> None:
    import onnx

    from resume_ner.convert import export

    checkpoint, _ = exported[True]
    target = tmp_path / "model.onnx"
    # In this process (the child's own function), so that the patch applies.
    with caplog.at_level("INFO", logger="resume_ner.convert.export"):
        assert export._export_model(checkpoint, target, 18) == "torchscript"
    assert "falling back to dynamo=False" in caplog.text
    model = onnx.load(str(target))
    assert [value.name for value in model.graph.input] == input_names(True)
    forward, reference = onnx_forward(target), torch_forward_of(checkpoint)
    inputs = padded_batch(100, word_features=True)
    assert np.abs(forward(inputs) - reference(inputs)).max() < 1e-4


@pytest.mark.slow
def test_failed_export_raises_and_keeps_the_earlier_model(exported, tmp_path) -> None:
    import shutil

    checkpoint, path = exported[False]
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(path, out / "model.onnx")  # an earlier export
    with pytest.raises(ConversionError, match=r"to ONNX failed: .*Error"):
        export_onnx(broken, out)
    assert (out / "model.onnx").read_bytes() == path.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]
