"""The conversion's parity arithmetic (resume_ner.convert.parity) and phase timeouts
(resume_ner.convert.phases), without any model."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from resume_ner.convert.parity import (
    BackendResult,
    ParitySet,
    Thresholds,
    choose_int8,
    compare_logits,
    failed_checks,
    format_table,
)
from resume_ner.convert.phases import ConversionError, PhaseTimeout, phase
from resume_ner.data.document import Document, Span


def result(name: str, f1: float, loss: float = 0.0, agreement: float = 1.0) -> BackendResult:
    scores = {"f1": f1, "macro-f1": f1, "precision": f1, "recall": f1}
    return BackendResult(name, scores, 1.0, agreement, 0.0, loss)


def test_compare_logits_counts_argmax_agreement_and_the_largest_difference():
    reference = [np.array([[2.0, 1.0], [0.0, 1.0]]), np.array([[5.0, 0.0]])]
    other = [np.array([[2.0, 1.5], [1.2, 1.0]]), np.array([[4.0, 0.0]])]
    agreement, largest = compare_logits(reference, other)
    assert agreement == pytest.approx(2 / 3)  # the second token's argmax flipped
    assert largest == pytest.approx(1.2)


def test_the_first_recipe_within_budget_is_chosen_not_the_best():
    results = {
        "a": result("a", 0.80, 1.5),
        "b": result("b", 0.81, 0.6),
        "c": result("c", 0.82, 0.1),
    }
    assert choose_int8(results, ["a", "b", "c"], 1.0) == ("b", True)
    # none within: the one losing least, flagged
    assert choose_int8(results, ["a"], 1.0) == ("a", False)
    assert choose_int8(results, ["a", "b"], 0.5) == ("b", False)


def test_failed_checks_name_the_setting_and_the_measured_value():
    thresholds = Thresholds(min_argmax_agreement=0.999, max_int8_f1_loss=1.0)
    results = {"fp32": result("fp32", 0.8, 0.0, 0.998), "int8": result("int8", 0.78, 2.0)}
    failures = failed_checks(results, "fp32", "int8", thresholds)
    assert len(failures) == 2
    assert "99.800%" in failures[0] and "min_argmax_agreement=0.999" in failures[0]
    assert "2.00 points" in failures[1] and "max_int8_f1_loss=1.0" in failures[1]
    results = {"fp32": result("fp32", 0.8), "int8": result("int8", 0.795, 0.5)}
    assert failed_checks(results, "fp32", "int8", thresholds) == []


def test_gold_labels_the_model_lacks_are_set_aside_and_counted():
    documents = [
        Document("Ann Lee knows Python", [Span(0, 7, "Name"), Span(14, 20, "Skills")]),
        Document("Bob", [Span(0, 3, "Name")]),
    ]
    parity = ParitySet.of(documents, {"Name"}, "test")
    assert parity.set_aside == {"Skills": 1}
    assert [[s.label for s in spans] for spans in parity.gold] == [["Name"], ["Name"]]
    with pytest.raises(ConversionError, match="holds no documents"):
        ParitySet.of([], {"Name"}, "an empty file")


def test_the_table_has_a_row_per_model():
    table = format_table({"torch": result("torch", 0.8), "onnx-fp32": result("onnx-fp32", 0.8)})
    assert table.splitlines()[1].startswith("torch") and "onnx-fp32" in table


def test_a_phase_past_its_timeout_raises_and_names_the_setting(caplog):
    caplog.set_level(logging.INFO, logger="resume_ner.convert")
    durations: dict[str, float] = {}
    started = time.perf_counter()
    expected = r"quantize phase did not finish in 0\.2 s"
    with pytest.raises(PhaseTimeout, match=expected), phase("quantize", 0.2, durations):
        while time.perf_counter() - started < 10:  # a busy loop, as a stuck phase
            pass
    assert time.perf_counter() - started < 5
    assert "quantize" not in durations
    assert "quantize: started" in caplog.text and "quantize: failed after" in caplog.text
    with phase("package", 5, durations):  # a phase in time: no alarm left behind
        pass
    assert "package" in durations


def test_a_phase_outside_the_main_thread_runs_without_an_alarm():
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with phase("parity", 0.01):
                pass
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []


def test_a_missing_onnx_extra_is_named_with_the_install_command(monkeypatch):
    import importlib.util

    from resume_ner.convert import pipeline

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name)
    )
    with pytest.raises(ConversionError, match=r"needs onnxscript: install the onnx extra"):
        pipeline.check_onnx_installed()
