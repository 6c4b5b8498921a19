"""The tiny converted packages the service tests serve: a random 2-layer BERT tagger,
exported and quantized in this process (no training, no download)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# make_checkpoint lives in tests/test_onnx_export.py, one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")


def build_package(root: Path, tiny_bert_dir: Path, word_features: bool) -> Path:
    """A package (fp32 + dynamic int8) of a random tagger with short windows, so a
    paragraph already spans several windows."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from test_onnx_export import make_checkpoint

    from resume_ner.convert.export import _export_model
    from resume_ner.convert.package import write_package

    checkpoint = make_checkpoint(
        root / "checkpoint", tiny_bert_dir, word_features, max_length=32, stride=8
    )
    fp32, int8 = root / "model.onnx", root / "model.int8.onnx"
    _export_model(checkpoint, fp32, opset=18)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return write_package(
        root / "package",
        checkpoint=checkpoint,
        models={"fp32": fp32, "int8": int8},
        report={"passed": True},
        source={"checkpoint": str(checkpoint), "mlflow_run_id": "run-tiny", "ref": "tiny"},
    )


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory, tiny_bert_dir) -> Path:
    """A package whose model reads word classes (letter case, line breaks), as the default
    recipe trains; its package.json names its checkpoint."""
    return build_package(tmp_path_factory.mktemp("serve-package"), tiny_bert_dir, True)


@pytest.fixture(scope="session")
def tiny_plain_package(tmp_path_factory, tiny_bert_dir) -> Path:
    """The same without word classes: what Hugging Face's pipeline can run (the baseline)."""
    return build_package(tmp_path_factory.mktemp("serve-plain-package"), tiny_bert_dir, False)
