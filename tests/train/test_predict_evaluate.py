"""`python -m resume_ner.predict` and `python -m resume_ner.evaluate` on a trained checkpoint.

The checkpoint is the shared CLI run of conftest.py (`cli_run`). The command lines of this
module run side by side in one fixture (their start-up is mostly imports); each test then
checks one of them against the in-process `Predictor` and the training metrics. To keep the
suite short, three of the four input kinds go through predict's Hydra task function
in-process (the same config, reader and writer); the folder input, evaluate and every
failure go through the real command line.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.slow

PREDICT = [sys.executable, "-m", "resume_ner.predict"]
EVALUATE = [sys.executable, "-m", "resume_ner.evaluate"]

# name -> (phrases the error message must hold)
ERROR_CASES = {
    "absent_checkpoint": ("no such folder",),
    "interrupted_checkpoint": ("no trained model yet", "after 0 completed epoch(s)"),
    # a checkpoint of a version with another set of word classes
    "other_word_classes": ("was trained with 45 word classes", "has 9", "Retrain it"),
    "missing_input": ("does not exist", "missing.txt"),
    "broken_input": ("broken.jsonl:2", "invalid JSON"),
    "broken_evaluation_data": ("broken.jsonl:2", "invalid JSON"),
    "bad_min_span_score": ("min_span_score=1.5", "span score in [0, 1]"),
    "bad_min_span_score_sweep": ("min_span_score_sweep=2", "span score in [0, 1]"),
}
# the floors `evaluate` also scores (min_span_score_sweep)
SWEEP = (0.0, 0.5, 0.8)


def _spacy_line(doc) -> str:
    return json.dumps(
        {"text": doc.text, "entities": [[s.start, s.end, s.label] for s in doc.spans]}
    )


@pytest.fixture(scope="module")
def cli(cli_run, run_commands, tmp_path_factory) -> SimpleNamespace:
    """Inputs of every kind, and every predict / evaluate command line, run at once."""
    from resume_ner.checkpoints import update_manifest
    from resume_ner.data.synthetic import generate

    result = cli_run.result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ckpt = cli_run.checkpoint
    root = tmp_path_factory.mktemp("predict")
    # Unseen documents (another seed), one of them long enough for several windows.
    docs = generate(4, seed=2024, long_fraction=0.3)

    (root / "single.txt").write_text(docs[0].text, encoding="utf-8")
    folder = root / "folder"
    folder.mkdir()
    for name, doc in (("b.txt", docs[1]), ("a.txt", docs[2]), ("c.txt", docs[3])):
        (folder / name).write_text(doc.text, encoding="utf-8")
    texts_order = [3, 0, 2]
    (root / "texts.jsonl").write_text(
        "".join(json.dumps({"text": docs[i].text}) + "\n" for i in texts_order), encoding="utf-8"
    )
    (root / "annotated.jsonl").write_text(
        "".join(_spacy_line(d) + "\n" for d in docs), encoding="utf-8"
    )
    (root / "broken.jsonl").write_text(
        _spacy_line(docs[0])
        + "\n"
        + '{"text": "Python", "entities": [[0, 6, "Skills"]\n'
        + _spacy_line(docs[1])
        + "\n",
        encoding="utf-8",
    )
    interrupted = root / "interrupted" / "checkpoint"
    update_manifest(interrupted, status="training", current_epoch=1)
    other = root / "other" / "checkpoint"
    shutil.copytree(ckpt, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "type_vocab_size": 45}))

    out = root / "out"
    inputs = {
        "text_file": (root / "single.txt", [docs[0].text]),
        # a folder is read in file-name order: a.txt, b.txt, c.txt
        "text_folder": (folder, [docs[2].text, docs[1].text, docs[3].text]),
        "jsonl_texts": (root / "texts.jsonl", [docs[i].text for i in texts_order]),
        "spacy_annotated": (root / "annotated.jsonl", [d.text for d in docs]),
    }
    commands = {
        "text_folder": [
            *PREDICT,
            f"checkpoint={ckpt}",
            f"input={folder}",
            f"output={out / 'text_folder'}.jsonl",
        ]
    }
    commands["evaluate"] = [
        *EVALUATE,
        f"checkpoint={ckpt}",
        f"data.path={root / 'annotated.jsonl'}",
        f"min_span_score_sweep={list(SWEEP)}",
        f"hydra.run.dir={root / 'evaluate'}",
    ]
    commands["absent_checkpoint"] = [
        *PREDICT,
        f"checkpoint={root / 'no-such-run' / 'checkpoint'}",
        f"input={root / 'single.txt'}",
        f"output={out / 'absent_checkpoint.jsonl'}",
    ]
    commands["interrupted_checkpoint"] = [
        *PREDICT,
        f"checkpoint={interrupted}",
        f"input={root / 'single.txt'}",
        f"output={out / 'interrupted_checkpoint.jsonl'}",
    ]
    commands["other_word_classes"] = [
        *PREDICT,
        f"checkpoint={other}",
        f"input={root / 'single.txt'}",
        f"output={out / 'other_word_classes.jsonl'}",
    ]
    commands["missing_input"] = [
        *PREDICT,
        f"checkpoint={ckpt}",
        f"input={root / 'missing.txt'}",
        f"output={out / 'missing_input.jsonl'}",
    ]
    commands["broken_input"] = [
        *PREDICT,
        f"checkpoint={ckpt}",
        f"input={root / 'broken.jsonl'}",
        "input_format=spacy",
        f"output={out / 'broken_input.jsonl'}",
    ]
    commands["broken_evaluation_data"] = [
        *EVALUATE,
        f"checkpoint={ckpt}",
        f"data.path={root / 'broken.jsonl'}",
        "data.format=spacy",
        f"hydra.run.dir={root / 'evaluate-broken'}",
    ]
    commands["bad_min_span_score"] = [
        *EVALUATE,
        f"checkpoint={ckpt}",
        f"data.path={root / 'annotated.jsonl'}",
        "min_span_score=1.5",
        f"hydra.run.dir={root / 'evaluate-broken'}",
    ]
    commands["bad_min_span_score_sweep"] = [
        *EVALUATE,
        f"checkpoint={ckpt}",
        f"data.path={root / 'annotated.jsonl'}",
        "min_span_score_sweep=[0.5,2]",
        f"hydra.run.dir={root / 'evaluate-broken'}",
    ]
    names = list(commands)
    results = dict(zip(names, run_commands([commands[n] for n in names], cwd=root), strict=True))
    return SimpleNamespace(
        root=root, checkpoint=ckpt, docs=docs, inputs=inputs, out=out, results=results
    )


@pytest.fixture(scope="module")
def predictor(cli):
    import torch

    from resume_ner.predictor import Predictor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield Predictor(str(cli.checkpoint))
    finally:
        torch.set_num_threads(threads)


def _read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _predict(cli, case: str, capsys) -> tuple[str, Path]:
    """(stdout, output file) of predicting the input of `case`."""
    if case in cli.results:  # run on the command line by the fixture
        result = cli.results[case]
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout, cli.out / f"{case}.jsonl"
    from hydra import compose, initialize_config_dir

    from resume_ner.config.registry import register_configs
    from resume_ner.paths import config_dir
    from resume_ner.predict import predict_task

    output = cli.out / f"{case}.jsonl"
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            "predict",
            overrides=[
                f"checkpoint={cli.checkpoint}",
                f"input={cli.inputs[case][0]}",
                f"output={output}",
            ],
        )
    capsys.readouterr()
    predict_task(cfg)
    return capsys.readouterr().out, output


@pytest.mark.parametrize("case", ["text_file", "text_folder", "jsonl_texts", "spacy_annotated"])
def test_predict_writes_one_line_per_document_in_order(cli, predictor, case, capsys):
    stdout, output = _predict(cli, case, capsys)
    path, texts = cli.inputs[case]
    lines = _read_output(output)
    assert len(lines) == len(texts)
    assert f"{len(texts)} document(s)" in stdout

    labels = set(predictor.labels)
    expected = predictor.predict(texts)
    for text, line, spans in zip(texts, lines, expected, strict=True):
        entities = line["entities"]
        for start, end, label, score in entities:
            assert isinstance(start, int) and isinstance(end, int)
            assert 0 <= start < end <= len(text)
            assert label in labels
            assert 0.0 <= score <= 1.0
        # The command line predicts what the in-process Predictor predicts.
        assert [e[:3] for e in entities] == [[s.start, s.end, s.label] for s in spans]
        assert [e[3] for e in entities] == pytest.approx([s.score for s in spans], abs=2e-4)

    sources = [line["source"] for line in lines]
    if case == "text_folder":
        assert [Path(s).name for s in sources] == ["a.txt", "b.txt", "c.txt"]
    elif case == "jsonl_texts":
        assert sources == [f"{path}:{n}" for n in range(1, len(texts) + 1)]


def test_the_checkpoints_score_floor_applies_and_can_be_overridden(cli, predictor):
    from resume_ner.decoding import finish_spans
    from resume_ner.predictor import Predictor

    assert predictor.min_span_score == 0.5  # training.min_span_score, from the label map
    texts = [d.text for d in cli.docs]
    floored = predictor.predict(texts)
    everything = Predictor(str(cli.checkpoint), min_span_score=0.0).predict(texts)
    unfinished = predictor.predict(texts, finish=False)
    conventions = predictor.bundle.conventions
    assert sum(map(len, everything)) > sum(map(len, floored))
    for text, kept, every, raw in zip(texts, floored, everything, unfinished, strict=True):
        assert all(span.score >= 0.5 for span in kept)
        # The floor drops spans before their strings are repeated (repeats inherit scores).
        above = [span for span in raw if span.score >= 0.5]
        assert kept == finish_spans(text, above, conventions, 0.0)
        assert every == finish_spans(text, raw, conventions, 0.0)
    with pytest.raises(ValueError, match=r"min_span_score=-1"):
        Predictor(str(cli.checkpoint), min_span_score=-1)


def test_predictions_are_not_empty(cli):
    """The checks above are only worth something if the model predicts entities at all."""
    total = sum(len(line["entities"]) for line in _read_output(cli.out / "spacy_annotated.jsonl"))
    assert total > 0


def test_evaluate_scores_like_training_metrics(cli, predictor):
    from resume_ner.train.metrics import entity_scores

    result = cli.results["evaluate"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    path = cli.root / "evaluate" / "evaluation.json"
    assert path.is_file()
    evaluation = json.loads(path.read_text())
    assert {"precision", "recall", "f1", "macro-f1", "per_label"} <= set(evaluation)
    assert evaluation["documents"] == len(cli.docs)

    known = set(predictor.labels)
    gold = [[s for s in d.spans if s.label in known] for d in cli.docs]
    unknown = sorted({s.label for d in cli.docs for s in d.spans} - known)
    assert sorted(evaluation["unknown_gold_labels"]) == unknown
    expected = entity_scores(gold, predictor.predict([d.text for d in cli.docs]))
    assert expected["support"] > 0
    for key in ("precision", "recall", "f1", "macro-f1"):
        assert evaluation[key] == pytest.approx(expected[key], abs=1e-12), key
    assert evaluation["per_label"].keys() == expected["per_label"].keys()
    for label, row in expected["per_label"].items():
        assert evaluation["per_label"][label] == pytest.approx(row), label
    errors = evaluation["errors"]
    wrong = sum(sum(errors[k].values()) for k in ("boundary", "label", "spurious"))
    unfound = sum(sum(errors[k].values()) for k in ("partly_found", "missed"))
    support = expected["support"]
    true_positives = round(expected["recall"] * support)
    assert unfound == support - true_positives
    if expected["precision"] > 0:
        assert wrong == round(true_positives / expected["precision"]) - true_positives

    stdout = result.stdout
    assert "micro avg" in stdout and "macro avg" in stdout
    for label in expected["per_label"]:
        assert label in stdout
    assert f"f1 {expected['f1']:.4f}" in stdout
    assert f"Metrics: {path}" in stdout
    assert "Wrong predictions:" in stdout


def test_evaluate_scores_each_floor_of_a_sweep_as_if_predicted_at_it(cli, predictor):
    from resume_ner.predictor import Predictor
    from resume_ner.train.metrics import entity_scores

    result = cli.results["evaluate"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    evaluation = json.loads((cli.root / "evaluate" / "evaluation.json").read_text())
    assert evaluation["min_span_score"] == predictor.min_span_score
    rows = evaluation["min_span_score_sweep"]
    assert [row["min_span_score"] for row in rows] == list(SWEEP)

    known = set(predictor.labels)
    gold = [[s for s in d.spans if s.label in known] for d in cli.docs]
    texts = [d.text for d in cli.docs]
    for row in rows:
        at_floor = Predictor(str(cli.checkpoint), min_span_score=row["min_span_score"])
        predicted = at_floor.predict(texts)
        expected = entity_scores(gold, predicted)
        assert row["predicted"] == sum(len(spans) for spans in predicted)
        for key in ("precision", "recall", "f1", "macro-f1"):
            assert row[key] == pytest.approx(expected[key], abs=1e-12), (row, key)
        assert f"{row['min_span_score']:>6.2f} {row['predicted']:>9d}" in result.stdout
    # the run's own floor is one of the rows, and scores what the headline says
    own = next(row for row in rows if row["min_span_score"] == predictor.min_span_score)
    assert own["f1"] == evaluation["f1"]
    assert rows[0]["predicted"] >= rows[-1]["predicted"]


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_checkpoint_or_input_fails_clearly_and_writes_nothing(cli, expect_user_error, case):
    result = cli.results[case]
    expect_user_error(result, *ERROR_CASES[case])
    assert not (cli.out / f"{case}.jsonl").exists()
    assert not (cli.root / "evaluate-broken" / "evaluation.json").exists()
