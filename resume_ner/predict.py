"""`python -m resume_ner.predict checkpoint=DIR input=FILE output=FILE`.

checkpoint: a training run's checkpoint folder (PyTorch), or a package folder written by
`python -m resume_ner.convert` (ONNX Runtime on the CPU; onnx_model=int8|fp32 picks its
model, threads= its intra-op threads).
input: a plain-text file (one resume), a folder of .txt files, JSONL of {"text": ...}, or
any annotated format the data layer reads (its texts are used, its labels ignored).
output: JSONL, one line per input document in input order:
{"entities": [[start, end, label, score], ...], "source": ...}.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from resume_ner.cli import run_hydra
from resume_ner.errors import ConfigError

TEXT_SUFFIXES = {".txt", ".text", ".md"}


def _jsonl_texts(path: Path) -> list[tuple[str, str]] | None:
    """[(source, text)] when every line is a {"text": ...} object without annotations."""
    out = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                return None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                return None
            out.append((f"{path}:{number}", record["text"]))
    return out


def read_inputs(path: str | Path, input_format: str = "auto") -> list[tuple[str, str]]:
    """The (source, text) pairs of an input file or folder, in order."""
    from resume_ner.data.readers import read_raw

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise ConfigError(f"input={path} is a folder without .txt files")
        return [(str(p), p.read_text(encoding="utf-8")) for p in files]
    if not path.is_file():
        raise ConfigError(f"input={path} does not exist (resolved: {path.resolve()})")
    if input_format == "text" or (input_format == "auto" and path.suffix.lower() in TEXT_SUFFIXES):
        return [(str(path), path.read_text(encoding="utf-8"))]
    if input_format in ("auto", "jsonl"):
        texts = _jsonl_texts(path)
        if texts is not None:
            return texts
        if input_format == "jsonl":
            raise ConfigError(f"input={path}: expected one JSON object with a 'text' per line")
    fmt = "auto" if input_format == "auto" else input_format
    return [(r.location, r.text) for r in read_raw(path, fmt)]


def predict_task(cfg: DictConfig) -> None:
    if not cfg.checkpoint or not cfg.input or not cfg.output:
        raise ConfigError(
            "predict needs checkpoint=DIR input=FILE output=FILE, DIR a checkpoint folder or "
            "a converted package folder "
            f"(got checkpoint={cfg.checkpoint}, input={cfg.input}, output={cfg.output})"
        )
    from resume_ner.predictor import Predictor, min_span_score_override

    inputs = read_inputs(cfg.input, cfg.input_format)
    predictor = Predictor(
        cfg.checkpoint,
        cfg.device,
        cfg.batch_size,
        cfg.stride,
        min_span_score_override(cfg),
        onnx_model=cfg.onnx_model,
        threads=cfg.threads,
    )
    predictions = predictor.predict([text for _, text in inputs])
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as handle:
        for (source, _), spans in zip(inputs, predictions, strict=True):
            entities = [[s.start, s.end, s.label, round(float(s.score), 4)] for s in spans]
            handle.write(json.dumps({"entities": entities, "source": source}) + "\n")
    total = sum(len(p) for p in predictions)
    print(f"{len(inputs)} document(s), {total} entities -> {output}")


def main() -> None:
    run_hydra(predict_task, "predict")


if __name__ == "__main__":
    main()
