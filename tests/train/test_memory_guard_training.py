"""The memory guard in a real training run: a budget that the requested batch does not fit
shrinks the micro-batch, raises accumulation, and trains the same optimisation schedule."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from resume_ner.errors import MemoryBudgetError
from resume_ner.train.memory import GIB, estimate_peak_bytes

pytestmark = pytest.mark.slow

BATCH = 8
MAX_LENGTH = 64
EPOCHS = 2
# Dropout draws different masks for differently shaped micro-batches; without it an
# accumulated step computes the same gradient as the unsplit one, up to float rounding.
NO_DROPOUT = ("model.hidden_dropout=0.0", "model.classifier_dropout=0.0")
REL_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def estimates(tiny_bert_dir, compose_config) -> dict[int, int]:
    """estimate_peak_bytes of the tiny model with the run's labels, by micro-batch."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    from resume_ner.data.load import load_splits
    from resume_ner.modeling import count_parameters
    from resume_ner.windows import bio_labels

    splits = load_splits(compose_config().data)
    labels = bio_labels(sorted({s.label for d in splits.train + splits.val for s in d.spans}))
    config = AutoConfig.from_pretrained(str(tiny_bert_dir), num_labels=len(labels))
    params = count_parameters(AutoModelForTokenClassification.from_config(config))
    return {b: estimate_peak_bytes(config, params, b, MAX_LENGTH) for b in (1, 2, 4, BATCH)}


def _gb(n_bytes: float) -> str:
    return f"training.memory_budget_gb={n_bytes / GIB!r}"


def _state(run_dir: Path) -> dict:
    return json.loads((run_dir / "checkpoint" / "training_state" / "state.json").read_text())


def test_reduced_batch_trains_the_same_schedule(
    estimates, train_inprocess, make_store, list_runs, tmp_path, capsys, caplog
):
    assert estimates[1] < estimates[2] < estimates[4] < estimates[BATCH]
    # Micro-batch 4 does not fit, 2 does.
    budget = (estimates[2] + estimates[4]) / 2
    store = make_store(tmp_path)

    full_dir, reduced_dir = tmp_path / "full", tmp_path / "reduced"
    train_inprocess(full_dir, *NO_DROPOUT, _gb(64 * GIB), store=store)
    full_out = capsys.readouterr().out
    with caplog.at_level(logging.WARNING, logger="resume_ner.train.memory"):
        train_inprocess(reduced_dir, *NO_DROPOUT, _gb(budget), store=store)
    reduced_out = capsys.readouterr().out

    # The reduction is reported: on stdout, in the log, and as an MLflow tag.
    assert f"micro-batch {BATCH} x accumulation 1" in full_out
    assert "micro-batch 2 x accumulation 4" in reduced_out
    warnings = [r.getMessage() for r in caplog.records if "memory guard" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "micro-batch 2 x accumulation 4" in warnings[0]
    assert f"effective batch of {BATCH}" in warnings[0]
    plans = {
        Path(run.data.tags["checkpoint_dir"]).parent.name: run.data.tags["memory_plan"]
        for run in list_runs(store)
    }
    assert plans == {
        "full": f"micro_batch={BATCH} accumulation=1",
        "reduced": "micro_batch=2 accumulation=4",
    }

    # The same optimizer steps ...
    full_state, reduced_state = _state(full_dir), _state(reduced_dir)
    steps = full_state["progress"]["optimizer_steps"]
    assert steps > EPOCHS
    assert reduced_state["progress"]["optimizer_steps"] == steps
    assert full_state["scheduler"] == reduced_state["scheduler"]

    # ... and (accumulated loss normalised by the effective batch) the same training.
    full_history = full_state["progress"]["history"]
    reduced_history = reduced_state["progress"]["history"]
    assert len(full_history) == len(reduced_history) == EPOCHS
    for key in ("val_loss", "train_loss"):
        full = [h[key] for h in full_history]
        reduced = [h[key] for h in reduced_history]
        worst = max(abs(a - b) / abs(a) for a, b in zip(full, reduced, strict=True))
        assert worst <= REL_TOLERANCE, f"{key}: full {full} reduced {reduced} (rel {worst:.2e})"


def test_budget_below_one_sequence_fails_clearly(
    estimates, train_inprocess, make_store, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    with pytest.raises(MemoryBudgetError) as refused:
        train_inprocess(run_dir, _gb(estimates[1] / 2), store=make_store(tmp_path))
    err = str(refused.value)
    assert "even a micro-batch of 1 sequence of 64 tokens" in err
    assert "training.memory_budget_gb=" in err
    assert not (run_dir / "checkpoint" / "training_state").exists()
