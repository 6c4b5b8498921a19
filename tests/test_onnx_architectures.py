"""ONNX export and parity for each architecture family the model configs ship.

BERT-like encoders with word classes (conf/model/minilm.yaml) are covered by
test_onnx_export.py; here the other two:

- DeBERTa-v2/v3 (conf/model/deberta.yaml): DebertaV2ForTokenClassification with DeBERTa-v3's
  relative-position attention (shared keys, p2c|c2p, log buckets) and no token-type
  embeddings, tokenised by a sentencepiece model trained here;
- DistilBERT (conf/model/distilbert.yaml): DistilBertForTokenClassification, which has no
  token types at all, with the bundled WordPiece tokenizer.

Each checkpoint is built the way training builds it: a tiny random "pretrained" folder (as
the hub ships it), the shipped model config composed with model.pretrained pointing there,
and training's own `prepare_model` deciding whether the model reads word classes (and
growing the token-type embeddings if so); then the files training writes. The graph must
take token_type_ids exactly when that decision says so.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fixtures_tokenizers import sentencepiece_folder
from test_onnx_export import LABELS, padded_batch, spans_of, torch_forward_of

from resume_ner.checkpoints import LABEL_MAP, read_inference_bundle, write_json
from resume_ner.convert.export import MIN_OPSET, export_onnx, input_names

# conf/model/<name>.yaml of each architecture family tested here.
ARCHITECTURES = ["deberta", "distilbert"]
# What training decides under model.word_features=auto (the shipped default): neither
# DeBERTa-v3 (type_vocab_size 0) nor DistilBERT (no token types) has token-type embeddings
# to carry word classes. Checked on its own, so that a change in training shows there.
EXPECTED_WORD_FEATURES = {"deberta": False, "distilbert": False}
# The tiny encoders: seconds to export.
TINY = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64}
# Windows of 32 tokens overlapping by 8: each text but the last spans several windows
# (checked below), merged as in training.
MAX_LENGTH, STRIDE = 32, 8
TEXTS = [
    "Vikas Singh\nChandigarh, Punjab\nSenior Software Engineer at INFOSYS since 2019; "
    "before that Java developer at Wipro Technologies, Pune (2015-2019).\n\n"
    "Skills: Python, SQL, Spark, Docker, Kubernetes, AWS, Machine Learning",
    "EDUCATION\nMBA, Delhi University, 2014\nB.Tech Computer Science, IIT Bombay, 2012\n\n"
    "Email: priya.patel@gmail.com | Phone: +91 98765 43210 | Bengaluru",
    "john smith",
]


@dataclass(frozen=True)
class Checkpoint:
    architecture: str
    folder: Path
    word_features: bool
    model_class: str


def _deberta_pretrained(folder: Path) -> None:
    """A random 2-layer DeBERTa-v3 (its config bar the sizes) beside the sentencepiece model
    trained by fixtures_tokenizers: spm.model and tokenizer_config.json only, as
    microsoft/deberta-v3-* ship it (no tokenizer.json; training converts it)."""
    import torch
    from transformers import DebertaV2Config, DebertaV2Model

    from resume_ner.tokenizer import load_tokenizer

    shutil.copytree(sentencepiece_folder(), folder)
    tokenizer = load_tokenizer(str(folder))
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        hidden_size=TINY["hidden"],
        num_hidden_layers=TINY["layers"],
        num_attention_heads=TINY["heads"],
        intermediate_size=TINY["intermediate"],
        max_position_embeddings=512,
        type_vocab_size=0,
        relative_attention=True,
        max_relative_positions=-1,
        position_biased_input=False,
        pos_att_type="p2c|c2p",
        layer_norm_eps=1e-7,
        pad_token_id=tokenizer.pad_token_id,
        # deberta-v3-base has 256 buckets; 16 here puts the test's distances (up to 39)
        # beyond the linear range (8), so the log-bucket arithmetic is exported too.
        position_buckets=16,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
    )
    torch.manual_seed(0)
    DebertaV2Model(config).save_pretrained(str(folder), safe_serialization=True)


def _distilbert_pretrained(folder: Path, minilm_dir: Path) -> None:
    """A random 2-layer DistilBERT with the bundled WordPiece tokenizer."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size,
        dim=TINY["hidden"],
        n_layers=TINY["layers"],
        n_heads=TINY["heads"],
        hidden_dim=TINY["intermediate"],
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    DistilBertModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))


def make_checkpoint(root: Path, architecture: str, minilm_dir: Path) -> Checkpoint:
    """The checkpoint folder training would leave for conf/model/<architecture>.yaml."""
    import torch

    from resume_ner.config.compose import compose_train
    from resume_ner.model_source import resolve_pretrained
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.train.run import prepare_model

    pretrained = root / f"{architecture}-pretrained"
    if architecture == "deberta":
        _deberta_pretrained(pretrained)
    else:
        _distilbert_pretrained(pretrained, minilm_dir)
    cfg = compose_train([f"model={architecture}", f"model.pretrained={pretrained}"])
    source = resolve_pretrained(cfg.model.pretrained, cfg.model.fallback)
    tokenizer = load_tokenizer(source, revision=cfg.model.revision)
    id2label = dict(enumerate(LABELS))
    torch.manual_seed(1)
    model, word_features = prepare_model(cfg, source, id2label)
    with torch.no_grad():
        # A random head gives near-equal logits (all O); a larger one gives spans to compare.
        model.classifier.weight.mul_(50)

    folder = root / architecture
    folder.mkdir()
    model.save_pretrained(str(folder), safe_serialization=True)  # as training's _save_best
    tokenizer.save_pretrained(str(folder))
    write_json(
        folder / LABEL_MAP,
        {
            "id2label": {str(k): v for k, v in id2label.items()},
            "max_length": MAX_LENGTH,
            "stride": STRIDE,
            "label_all_tokens": False,
            "word_features": word_features,
        },
    )
    read_inference_bundle(folder)  # the folder is a valid checkpoint for inference
    return Checkpoint(architecture, folder, word_features, type(model).__name__)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, minilm_dir) -> dict[str, Checkpoint]:
    root = tmp_path_factory.mktemp("onnx-architectures")
    return {name: make_checkpoint(root, name, minilm_dir) for name in ARCHITECTURES}


def assert_same_spans(got: list[list[tuple]], expected: list[list[tuple]]) -> None:
    """The same spans and labels, scores within 1e-4."""
    assert [[s[:3] for s in doc] for doc in got] == [[s[:3] for s in doc] for doc in expected]
    for got_doc, expected_doc in zip(got, expected, strict=True):
        for got_span, expected_span in zip(got_doc, expected_doc, strict=True):
            assert got_span[3] == pytest.approx(expected_span[3], abs=1e-4)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """{architecture: (model.onnx, the export's "wrote ..." log line)}, exported once."""
    root = tmp_path_factory.mktemp("onnx-architectures-out")
    logger = logging.getLogger("resume_ner.convert.export")
    records, level = _Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    try:
        result = {}
        for name, checkpoint in checkpoints.items():
            path = export_onnx(checkpoint.folder, root / name)
            wrote = [m for m in records.messages if m.startswith(f"wrote {path} ")]
            result[name] = (path, wrote[-1] if wrote else "")
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    return result


# --------------------------------------------------------------------------- fast


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_training_builds_the_architecture(checkpoints, architecture) -> None:
    checkpoint = checkpoints[architecture]
    config = json.loads((checkpoint.folder / "config.json").read_text())
    expected = {"deberta": "DebertaV2ForTokenClassification",
                "distilbert": "DistilBertForTokenClassification"}  # fmt: skip
    assert checkpoint.model_class == expected[architecture]
    assert config["architectures"] == [expected[architecture]]
    assert config["id2label"] == {str(k): v for k, v in enumerate(LABELS)}
    assert checkpoint.word_features is EXPECTED_WORD_FEATURES[architecture]
    assert read_inference_bundle(checkpoint.folder).word_features is checkpoint.word_features
    if architecture == "deberta":
        assert config["type_vocab_size"] == 0 and config["relative_attention"]
        assert (checkpoint.folder / "tokenizer.json").is_file()  # converted from spm.model


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_graph_signature(checkpoints, exported, architecture) -> None:
    import onnx

    word_features = checkpoints[architecture].word_features
    path, wrote = exported[architecture]
    print(f"{architecture}: {wrote}")  # which exporter: dynamo, or the TorchScript fallback
    assert "exporter" in wrote, wrote
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no .data left
    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(model)
    assert [value.name for value in model.graph.input] == input_names(word_features)
    assert [value.name for value in model.graph.output] == ["logits"]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= MIN_OPSET
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[1].dim_param, (value.name, dims)  # dynamic axes
    assert model.graph.output[0].type.tensor_type.shape.dim[2].dim_value == len(LABELS)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_logits_and_spans_match_torch(checkpoints, exported, architecture) -> None:
    from resume_ner.convert.onnx_forward import onnx_forward

    checkpoint = checkpoints[architecture]
    path, _ = exported[architecture]
    reference = torch_forward_of(checkpoint.folder)
    forward = onnx_forward(path, threads=1)
    vocab_size = json.loads((checkpoint.folder / "config.json").read_text())["vocab_size"]
    # 3 right-padded rows of 40, 23 and 5 tokens: not the exporter's 2 x 16 example.
    inputs = padded_batch(vocab_size, checkpoint.word_features)
    expected, got = reference(inputs), forward(inputs)
    assert got.shape == expected.shape == (*inputs["input_ids"].shape, len(LABELS))
    assert got.dtype == np.float32
    difference = float(np.abs(got - expected).max())
    print(f"max |onnx - torch| logits ({architecture}): {difference:.2e}")
    assert difference < 1e-4
    real = inputs["attention_mask"].astype(bool)
    assert (got.argmax(-1)[real] == expected.argmax(-1)[real]).all()
    assert len(set(expected.argmax(-1)[real].tolist())) > 1, "one label only: a weak check"

    torch_spans = spans_of(checkpoint.folder, reference, TEXTS)
    onnx_spans = spans_of(checkpoint.folder, forward, TEXTS)
    assert any(torch_spans), "the random tagger predicts no span: nothing is compared"
    assert_same_spans(onnx_spans, torch_spans)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_texts_span_several_windows(checkpoints, architecture) -> None:
    """The span parity above merges overlapping windows: the texts need several each."""
    from collections import Counter

    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.windows import build_windows

    bundle = read_inference_bundle(checkpoints[architecture].folder)
    assert (bundle.max_length, bundle.stride) == (MAX_LENGTH, STRIDE)
    _, windows = build_windows(
        load_tokenizer(str(bundle.folder)), TEXTS, bundle.max_length, bundle.stride,
        label2id=None, word_features=bundle.word_features,
    )  # fmt: skip
    per_text = Counter(window.doc_index for window in windows)
    assert [per_text[k] > 1 for k in range(len(TEXTS))] == [True, True, False], per_text


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_torchscript_fallback_matches_torch(
    checkpoints, architecture, tmp_path, dynamo_export_fails
):
    """Where the dynamo exporter fails (a newer torch or transformers), the TorchScript one
    takes over: its trace of the 2 x 16 example must hold at other shapes too (DeBERTa's
    relative positions and DistilBERT's mask code branch on sizes while tracing)."""

    from resume_ner.convert import export
    from resume_ner.convert.onnx_forward import onnx_forward

    checkpoint = checkpoints[architecture]
    target = tmp_path / "model.onnx"
    # In this process (the child's own function), so that the patch applies.
    assert export._export_model(checkpoint.folder, target, 18) == "torchscript"
    forward, reference = onnx_forward(target, threads=1), torch_forward_of(checkpoint.folder)
    vocab_size = json.loads((checkpoint.folder / "config.json").read_text())["vocab_size"]
    inputs = padded_batch(vocab_size, checkpoint.word_features)
    assert np.abs(forward(inputs) - reference(inputs)).max() < 1e-4
    folder = checkpoint.folder
    assert_same_spans(spans_of(folder, forward, TEXTS), spans_of(folder, reference, TEXTS))
