"""spaCy 3 NER from scratch on the same split and cleaning as a training run, as an anchor.

    python scripts/spacy_baseline.py --train train180.jsonl --test test20.jsonl \
        --spacy-python /path/to/venv/bin/python

The documents come from resume_ner's loader with data=dataturks (the same repairs), split
exactly as `python -m resume_ner.train data=dataturks data.path=TRAIN` splits them; spaCy
trains on the train part with the validation part as its dev set (`spacy init config
--pipeline ner --optimize efficiency`, spaCy's own early stopping), predicts the test file,
and the predictions are scored by resume_ner.train.metrics.entity_scores, the code that
scores our models. spaCy runs in its own interpreter (--spacy-python), so it need not be
installed beside this project: `python -m venv spacy-env && spacy-env/bin/pip install
spacy`. Spans that do not fall on spaCy token boundaries are snapped inwards (or outwards
when that leaves nothing), as `Doc.char_span` does.

It also scores spaCy's predictions with the repeated labels that resume_ner's decoder
adds (resume_ner.span_conventions, learned from the same training part), to tell what
comes from the tagger and what from that decoding step. `--out DIR --reuse` scores the
predictions already in DIR without training again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SPACY_CODE = r"""
import json, sys
import spacy
from spacy.tokens import DocBin
from spacy.util import filter_spans

command, folder = sys.argv[1], sys.argv[2]
if command == "docbin":
    nlp = spacy.blank("en")
    for part in ("train", "val"):
        docs = DocBin()
        for record in json.load(open(f"{folder}/{part}.json")):
            doc = nlp.make_doc(record["text"])
            spans = []
            for start, end, label in record["spans"]:
                span = doc.char_span(start, end, label=label, alignment_mode="contract")
                span = span or doc.char_span(start, end, label=label, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
            doc.ents = filter_spans(spans)
            docs.add(doc)
        docs.to_disk(f"{folder}/{part}.spacy")
else:
    nlp = spacy.load(f"{folder}/model/model-best")
    texts = [record["text"] for record in json.load(open(f"{folder}/test.json"))]
    out = [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(texts)]
    json.dump(out, open(f"{folder}/predicted.json", "w"))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="training file (DataTurks)")
    parser.add_argument("--test", type=Path, required=True, help="held-out file (DataTurks)")
    parser.add_argument("--spacy-python", required=True, help="an interpreter with spaCy 3")
    parser.add_argument("--out", type=Path, default=None, help="keep the work folder here")
    parser.add_argument("--max-steps", type=int, default=0, help="cap spaCy's steps (0: none)")
    parser.add_argument(
        "--reuse", action="store_true", help="score the predictions already in --out"
    )
    args = parser.parse_args(argv)

    from resume_ner.config.compose import compose_train
    from resume_ner.data.document import Span
    from resume_ner.data.load import load_documents, load_splits
    from resume_ner.data.report import ValidationReport
    from resume_ner.decoding import PredictedSpan, finish_spans
    from resume_ner.span_conventions import learn_conventions
    from resume_ner.train.metrics import entity_scores, format_table

    if args.reuse and not (args.out and (args.out / "predicted.json").is_file()):
        parser.error("--reuse needs --out DIR holding predicted.json from an earlier run")

    cfg = compose_train(["data=dataturks", f"data.path={args.train.resolve()}"])
    splits = load_splits(cfg.data)
    test = load_documents(args.test, cfg.data, ValidationReport())

    folder = args.out or Path(tempfile.mkdtemp(prefix="spacy-baseline-"))
    folder.mkdir(parents=True, exist_ok=True)
    for part, docs in (("train", splits.train), ("val", splits.val), ("test", test)):
        records = [
            {"text": d.text, "spans": [[s.start, s.end, s.label] for s in d.spans]} for d in docs
        ]
        (folder / f"{part}.json").write_text(json.dumps(records))

    def spacy(*command: str) -> None:
        subprocess.run([args.spacy_python, *command], check=True)

    seconds = None if args.reuse else train_and_predict(spacy, folder, args.max_steps)

    predicted = json.loads((folder / "predicted.json").read_text())
    gold = [d.spans for d in test]
    scores = entity_scores(gold, [[Span(*span) for span in spans] for spans in predicted])
    print(format_table(scores))
    print(
        f"spaCy NER: {len(splits.train)} training / {len(splits.val)} dev documents, "
        f"{'predictions reused' if seconds is None else f'{seconds:.0f} s of `spacy train`'}; "
        f"{len(test)} test documents: micro F1 "
        f"{scores['f1']:.3f}, macro F1 {scores['macro-f1']:.3f} (work folder: {folder})"
    )
    conventions = learn_conventions(splits.train)
    repeated = [
        finish_spans(d.text, [PredictedSpan(*span, 1.0) for span in spans], conventions, 0.0)
        for d, spans in zip(test, predicted, strict=True)
    ]
    with_repeats = entity_scores(gold, repeated)
    print(
        f"with the repeated labels of the training part ({', '.join(conventions.repeated)}): "
        f"micro F1 {with_repeats['f1']:.3f}, macro F1 {with_repeats['macro-f1']:.3f}"
    )


def train_and_predict(spacy: Callable[..., None], folder: Path, max_steps: int) -> float:
    """Train spaCy in `folder` and write its test predictions; the seconds of training."""
    spacy("-c", SPACY_CODE, "docbin", str(folder))
    config = folder / "config.cfg"
    spacy(
        "-m",
        "spacy",
        "init",
        "config",
        "-l",
        "en",
        "-p",
        "ner",
        "-o",
        "efficiency",
        "-F",
        str(config),
    )
    started = time.perf_counter()
    spacy(
        "-m", "spacy", "train", str(config), "-o", str(folder / "model"),
        "--paths.train", str(folder / "train.spacy"), "--paths.dev", str(folder / "val.spacy"),
        *(["--training.max_steps", str(max_steps)] if max_steps else []),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    spacy("-c", SPACY_CODE, "predict", str(folder))
    return seconds


if __name__ == "__main__":
    from resume_ner.cli import exit_on_user_error

    with exit_on_user_error():
        sys.exit(main())
