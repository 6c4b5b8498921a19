"""The converted-model package (resume_ner.convert.package) and the Predictor that loads it.

The fast tests build packages around stand-in model files: the format, its checks and the
whole-or-nothing writes need no real graph. The slow ones export the random tagger of
test_onnx_export.py (reading word classes, so token_type_ids and config.json are exercised)
once per module, quantize it dynamically, and compare the package's spans with the
checkpoint's, in this process, in one where torch cannot be imported, and on the command line.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_onnx_export import LABELS, TEXTS, make_checkpoint

from resume_ner.checkpoints import read_inference_bundle
from resume_ner.convert import package as package_module
from resume_ner.convert.package import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MODEL_FILES,
    REPORT,
    Package,
    is_package,
    read_package,
    write_package,
)
from resume_ner.convert.phases import ConversionError
from resume_ner.errors import CheckpointError, ConfigError

REPO = Path(__file__).resolve().parents[1]
REPORT_DATA = {"passed": True, "models": {"fp32": {"f1": 0.5}}, "b": [1, 2], "a": "first"}
SOURCE = {"checkpoint": "/runs/1/checkpoint", "mlflow_run_id": "abc123"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_bert_dir) -> Path:
    """A checkpoint folder of a random tagger that reads word classes."""
    return make_checkpoint(tmp_path_factory.mktemp("package") / "checkpoint", tiny_bert_dir, True)


@pytest.fixture
def stand_in_models(tmp_path) -> dict[str, Path]:
    """Two files standing in for the fp32 and int8 graphs (read back byte for byte)."""
    models = {}
    for name in MODEL_FILES:
        models[name] = tmp_path / "scratch" / f"{name}.onnx"
        models[name].parent.mkdir(exist_ok=True)
        models[name].write_bytes(f"stand-in {name} graph".encode())
    return models


def write(out: Path, checkpoint: Path, models: dict[str, Path], **source) -> Path:
    return write_package(
        out, checkpoint=checkpoint, models=models, report=REPORT_DATA, source=source or SOURCE
    )


def siblings(out: Path) -> list[str]:
    """What the parent of `out` holds besides `out` and the stand-in models' scratch."""
    return sorted(p.name for p in out.parent.iterdir() if p.name not in (out.name, "scratch"))


def edit_manifest(folder: Path, **fields) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, **fields}))


# --------------------------------------------------------------------------- fast


def test_write_and_read_round_trip(tmp_path, checkpoint, stand_in_models) -> None:
    out = tmp_path / "package"
    assert write(out, checkpoint, stand_in_models) == out
    assert is_package(out) and not is_package(checkpoint)
    names = {p.name for p in out.iterdir()}
    assert {MANIFEST, REPORT, "label_map.json", "config.json", "tokenizer_config.json"} <= names
    assert {"model.onnx", "model.int8.onnx", "tokenizer.json"} <= names
    assert not {"model.safetensors", "manifest.json"} & names  # no weights of the torch model
    assert siblings(out) == []  # the temporary folder became the package

    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["format_version"] == FORMAT_VERSION
    assert manifest["models"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest["source"] == SOURCE
    assert manifest["created"].endswith("Z")
    written = (out / REPORT).read_text()
    assert written == json.dumps(REPORT_DATA, indent=2, sort_keys=True) + "\n"

    package = read_package(out)
    assert isinstance(package, Package)
    assert package.folder == out.resolve() == package.bundle.folder
    expected = read_inference_bundle(checkpoint)
    for field in ("id2label", "max_length", "stride", "word_features", "min_span_score"):
        assert getattr(package.bundle, field) == getattr(expected, field), field
    assert package.bundle.conventions == expected.conventions
    assert package.bundle.id2label == dict(enumerate(LABELS))
    assert package.models == {name: out.resolve() / file for name, file in MODEL_FILES.items()}
    for name, path in package.models.items():
        assert path.read_bytes() == stand_in_models[name].read_bytes()
    assert package.manifest == manifest and package.report == REPORT_DATA


def test_newer_format_version_says_upgrade(tmp_path, checkpoint, stand_in_models) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models)
    edit_manifest(out, format_version=FORMAT_VERSION + 1)
    message = (
        rf"written by a newer resume-ner \(format version {FORMAT_VERSION + 1}; this one "
        rf"reads up to {FORMAT_VERSION}\): upgrade resume-ner"
    )
    with pytest.raises(CheckpointError, match=message):
        read_package(out)


@pytest.mark.parametrize(
    "manifest",
    ["{not json", json.dumps({"format": FORMAT, "format_version": "one"}), "[]"],
    ids=["not-json", "bad-version", "not-an-object"],
)
def test_garbled_manifest_names_the_file_and_the_fix(
    tmp_path, checkpoint, stand_in_models, manifest
) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models)
    (out / MANIFEST).write_text(manifest)
    with pytest.raises(CheckpointError, match=r"package\.json.*python -m resume_ner\.convert"):
        read_package(out)


def test_other_format_and_paths_out_of_the_package_are_refused(
    tmp_path, checkpoint, stand_in_models
) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models)
    edit_manifest(out, format="something-else")
    with pytest.raises(CheckpointError, match="not a resume-ner package manifest"):
        read_package(out)
    edit_manifest(out, format=FORMAT, models={"fp32": "../checkpoint/model.safetensors"})
    with pytest.raises(CheckpointError, match="expected file names"):
        read_package(out)


def test_missing_files_are_listed_in_one_error(tmp_path, checkpoint, stand_in_models) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models)
    (out / "model.onnx").unlink()
    (out / "model.int8.onnx").unlink()
    (out / "label_map.json").unlink()
    message = r"incomplete \(missing: model\.onnx, model\.int8\.onnx, label_map\.json\)"
    with pytest.raises(CheckpointError, match=message):
        read_package(out)
    with pytest.raises(CheckpointError, match="no such folder"):
        read_package(tmp_path / "absent")


def test_inputs_disagreeing_with_the_label_map_are_refused(
    tmp_path, checkpoint, stand_in_models
) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models)
    edit_manifest(out, inputs=["input_ids", "attention_mask"])
    with pytest.raises(CheckpointError, match=r"inconsistent.*word_features=True"):
        read_package(out)


def test_a_folder_that_is_not_a_package_is_never_clobbered(
    tmp_path, checkpoint, stand_in_models
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(ConversionError, match=f"output={out} .*not a package.*left untouched"):
        write(out, checkpoint, stand_in_models)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes"
    assert siblings(out) == []
    with pytest.raises(ConversionError, match="is a file"):
        write(out / "notes.txt", checkpoint, stand_in_models)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert is_package(write(empty, checkpoint, stand_in_models))  # an empty folder is fine


def test_an_existing_package_is_replaced_whole(tmp_path, checkpoint, stand_in_models) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models, run="old")
    (out / "stale.txt").write_text("left by the old package")
    stand_in_models["int8"].write_bytes(b"a newer int8 graph")
    write(out, checkpoint, stand_in_models, run="new")
    assert not (out / "stale.txt").exists()
    package = read_package(out)
    assert package.manifest["source"] == {"run": "new"}
    assert package.models["int8"].read_bytes() == b"a newer int8 graph"
    assert siblings(out) == []  # neither the new one's temporary folder nor the old one


def test_a_failed_write_keeps_the_older_package(
    tmp_path, checkpoint, stand_in_models, monkeypatch
) -> None:
    out = write(tmp_path / "package", checkpoint, stand_in_models, run="old")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fails(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(package_module, "_write_json", fails)
    with pytest.raises(OSError, match="disk full"):
        write(out, checkpoint, stand_in_models, run="new")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert siblings(out) == []  # the half-built package is gone
    with pytest.raises(ConversionError, match=r"needs the models \['fp32', 'int8'\]"):
        write_package(
            out, checkpoint=checkpoint, models={"fp32": stand_in_models["fp32"]}, report={},
            source={},
        )  # fmt: skip
    stand_in_models["int8"].unlink()
    with pytest.raises(ConversionError, match=r"do not exist .*int8"):
        write(out, checkpoint, stand_in_models)


def test_predictor_refuses_other_models_and_devices_for_a_package(
    tmp_path, checkpoint, stand_in_models
) -> None:
    from resume_ner.predictor import Predictor

    out = write(tmp_path / "package", checkpoint, stand_in_models)
    with pytest.raises(ConfigError, match=r"onnx_model=fp16: .*onnx_model=int8 .*onnx_model=fp32"):
        Predictor(out, onnx_model="fp16")
    with pytest.raises(ConfigError, match=r"device=cuda: .*CPU through ONNX Runtime"):
        Predictor(out, device="cuda")
    with pytest.raises(ConfigError, match="threads=0"):
        Predictor(out, threads=0)


@pytest.mark.parametrize("module", ["convert/package.py", "predictor.py"])
def test_no_heavy_import_at_module_level(module) -> None:
    """transformers and torch only inside the functions that need them."""
    tree = ast.parse((REPO / "resume_ner" / module).read_text())
    imported = set()
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks are not run
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported, "the walk saw no import"
    assert not imported & {"torch", "hydra", "omegaconf", "transformers", "onnxruntime"}


# --------------------------------------------------------------------------- slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory, checkpoint) -> Path:
    """A package of the checkpoint: the exported fp32 graph and its dynamic int8 version."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from resume_ner.convert.export import export_onnx

    root = tmp_path_factory.mktemp("exported")
    fp32 = export_onnx(checkpoint, root / "export")
    int8 = root / "model.int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return write_package(
        root / "package",
        checkpoint=checkpoint,
        models={"fp32": fp32, "int8": int8},
        report=REPORT_DATA,
        source=SOURCE,
    )


def as_tuples(spans) -> list[list[tuple]]:
    return [[(s.start, s.end, s.label, float(s.score)) for s in doc] for doc in spans]


def assert_same_spans(got: list[list], expected: list[list]) -> None:
    assert [[tuple(s[:3]) for s in doc] for doc in got] == [
        [tuple(s[:3]) for s in doc] for doc in expected
    ]
    for got_doc, expected_doc in zip(got, expected, strict=True):
        for got_span, expected_span in zip(got_doc, expected_doc, strict=True):
            assert got_span[3] == pytest.approx(expected_span[3], abs=1e-4)


@pytest.mark.slow
def test_package_predicts_what_the_checkpoint_predicts(exported, checkpoint) -> None:
    from resume_ner.predictor import Predictor

    torch_predictor = Predictor(checkpoint, threads=1)
    fp32 = Predictor(exported, onnx_model="fp32", threads=1)
    int8 = Predictor(str(exported), threads=1)  # the default model, the path as a string
    assert (torch_predictor.backend, fp32.backend, int8.backend) == (
        "torch",
        "onnx-fp32",
        "onnx-int8",
    )
    assert fp32.labels == torch_predictor.labels == ["Name", "Skills"]
    assert (fp32.stride, fp32.min_span_score) == (torch_predictor.stride, 0.0)
    expected = as_tuples(torch_predictor.predict(TEXTS))
    assert any(expected), "the random tagger predicts no span: nothing is compared"
    assert_same_spans(as_tuples(fp32.predict(TEXTS)), expected)
    assert_same_spans(
        as_tuples(fp32.predict(TEXTS, finish=False)),
        as_tuples(torch_predictor.predict(TEXTS, finish=False)),
    )
    # The int8 graph is another model: it runs through the same path, spans need not match.
    assert len(int8.predict(TEXTS)) == len(TEXTS)
    ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    inputs["token_type_ids"] = np.zeros_like(ids)
    # Each predictor runs its own graph: the int8 logits are near, not equal, to the fp32.
    difference = np.abs(int8.forward(inputs) - fp32.forward(inputs)).max()
    assert 0 < difference < 1.0, difference
    overridden = Predictor(exported, onnx_model="fp32", stride=4, min_span_score=0.9)
    assert (overridden.stride, overridden.min_span_score) == (4, 0.9)


NO_TORCH = """
import json, sys
# torch (and the training stack) cannot be imported in this process at all.
for name in ("torch", "hydra", "omegaconf"):
    sys.modules[name] = None

from resume_ner.predictor import Predictor

folder, model, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
predictor = Predictor(folder, onnx_model=model, threads=1)
spans = predictor.predict(texts)
for name in ("torch", "hydra", "omegaconf"):
    assert sys.modules.get(name) is None, f"{name} was imported"
print(json.dumps({"backend": predictor.backend,
                  "spans": [[[s.start, s.end, s.label, s.score] for s in doc] for doc in spans]}))
"""


@pytest.mark.slow
def test_a_package_predicts_without_torch(exported) -> None:
    from resume_ner.predictor import Predictor

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NO_TORCH), str(exported), "int8",
         json.dumps(TEXTS)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["backend"] == "onnx-int8"
    expected = as_tuples(Predictor(exported, threads=1).predict(TEXTS))
    assert_same_spans(outcome["spans"], expected)


@pytest.fixture(scope="module")
def command_lines(exported, tmp_path_factory) -> dict:
    """predict, evaluate and a refused onnx_model on the command line, with a package."""
    root = tmp_path_factory.mktemp("package-cli")
    (root / "resume.txt").write_text(TEXTS[0], encoding="utf-8")
    gold = [[[0, 11, "Name"]], [[8, 14, "Skills"], [16, 19, "Skills"]], [[0, 10, "Name"]]]
    (root / "gold.jsonl").write_text(
        "".join(
            json.dumps({"text": text, "entities": spans}) + "\n"
            for text, spans in zip(TEXTS, gold, strict=True)
        )
    )
    common = [f"checkpoint={exported}", "threads=1"]
    commands = {
        "predict": [
            "resume_ner.predict", *common, f"input={root / 'resume.txt'}",
            f"output={root / 'predicted.jsonl'}", f"hydra.run.dir={root / 'predict'}",
        ],
        "evaluate": [
            "resume_ner.evaluate", *common, f"data.path={root / 'gold.jsonl'}",
            "data.format=spacy", f"output={root / 'evaluation.json'}",
            f"hydra.run.dir={root / 'evaluate'}",
        ],
        "fp16": [
            "resume_ner.predict", *common, "onnx_model=fp16", f"input={root / 'resume.txt'}",
            f"output={root / 'fp16.jsonl'}", f"hydra.run.dir={root / 'fp16'}",
        ],
    }  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    results = {}
    for name, command in commands.items():
        results[name] = subprocess.run(
            [sys.executable, "-m", *command],
            capture_output=True, text=True, timeout=300, cwd=root, env=env,
        )  # fmt: skip
    return {"root": root, "results": results}


@pytest.mark.slow
def test_predict_command_line_reads_a_package(command_lines, exported) -> None:
    from resume_ner.predictor import Predictor

    result = command_lines["results"]["predict"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = (command_lines["root"] / "predicted.jsonl").read_text().splitlines()
    assert len(lines) == 1
    expected = Predictor(exported, threads=1).predict([TEXTS[0]])[0]
    entities = json.loads(lines[0])["entities"]
    assert [tuple(e[:3]) for e in entities] == [(s.start, s.end, s.label) for s in expected]


@pytest.mark.slow
def test_evaluate_command_line_reads_a_package(command_lines, exported) -> None:
    result = command_lines["results"]["evaluate"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    evaluation = json.loads((command_lines["root"] / "evaluation.json").read_text())
    assert evaluation["backend"] == "onnx-int8"
    assert evaluation["checkpoint"] == str(exported.resolve())
    assert evaluation["documents"] == len(TEXTS)
    assert 0.0 <= evaluation["f1"] <= 1.0


@pytest.mark.slow
def test_an_unknown_onnx_model_is_one_error_line(command_lines) -> None:
    result = command_lines["results"]["fp16"]
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error: onnx_model=fp16" in result.stderr
    assert "onnx_model=int8" in result.stderr and "onnx_model=fp32" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (command_lines["root"] / "fp16.jsonl").exists()
