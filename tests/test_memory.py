"""The memory guard: estimate, budget, and the micro-batch plan at a constant effective batch."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from resume_ner.train import memory
from resume_ner.train.memory import (
    GIB,
    MemoryBudgetError,
    MemoryPlan,
    available_memory_bytes,
    estimate_num_parameters,
    estimate_peak_bytes,
    plan_batch,
)


def bert_like(hidden=384, layers=6, heads=12, intermediate=1536, vocab=30522, num_labels=23):
    return SimpleNamespace(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        vocab_size=vocab,
        num_labels=num_labels,
    )


SMALL = bert_like()
SMALL_PARAMS = 22_574_231  # BertForTokenClassification with these dimensions


def test_estimate_grows_with_batch_seq_len_and_model() -> None:
    base = estimate_peak_bytes(SMALL, SMALL_PARAMS, micro_batch=8, seq_len=256)
    assert estimate_peak_bytes(SMALL, SMALL_PARAMS, 16, 256) > base
    assert estimate_peak_bytes(SMALL, SMALL_PARAMS, 8, 512) > base
    big = bert_like(hidden=768, layers=12, intermediate=3072)
    assert estimate_peak_bytes(big, 110_000_000, 8, 256) > base
    # more parameters alone, or more layers alone, also cost more
    assert estimate_peak_bytes(SMALL, 2 * SMALL_PARAMS, 8, 256) > base
    assert estimate_peak_bytes(bert_like(layers=12), SMALL_PARAMS, 8, 256) > base


def test_estimate_static_part_covers_adamw() -> None:
    # weights + grads + two fp32 AdamW states at least, even for a tiny step
    est = estimate_peak_bytes(SMALL, SMALL_PARAMS, 1, 1)
    assert est >= SMALL_PARAMS * (4 + 4 + 8)
    # half-precision activations cost less than fp32 ones
    assert estimate_peak_bytes(SMALL, SMALL_PARAMS, 8, 256, activation_bytes=2) < (
        estimate_peak_bytes(SMALL, SMALL_PARAMS, 8, 256)
    )


def test_estimate_is_quadratic_in_seq_len_through_attention() -> None:
    short = estimate_peak_bytes(SMALL, 0, 1, 512) - estimate_peak_bytes(SMALL, 0, 1, 256)
    long = estimate_peak_bytes(SMALL, 0, 1, 2048) - estimate_peak_bytes(SMALL, 0, 1, 1024)
    assert long > 4 * short


def test_missing_attributes_fall_back() -> None:
    # DistilBERT names its dimensions differently
    distil = SimpleNamespace(dim=768, n_layers=6, n_heads=12, hidden_dim=3072, vocab_size=30522)
    assert estimate_peak_bytes(distil, 66_000_000, 4, 128) > 0
    # nothing at all: BERT-base defaults, parameters estimated from them when unknown
    bare = SimpleNamespace()
    assert estimate_peak_bytes(bare, 0, 4, 128) == estimate_peak_bytes(
        bert_like(768, 12, 12, 3072, num_labels=2), 0, 4, 128
    )
    assert 100_000_000 < estimate_num_parameters(bare) < 120_000_000
    # an explicit null (as PretrainedConfig may hold) is treated as missing
    assert estimate_peak_bytes(SimpleNamespace(intermediate_size=None), 0, 1, 8) > 0


def test_estimate_rejects_empty_batches() -> None:
    with pytest.raises(ValueError):
        estimate_peak_bytes(SMALL, SMALL_PARAMS, 0, 256)


def test_huge_budget_leaves_the_batch_alone() -> None:
    plan = plan_batch(SMALL, SMALL_PARAMS, 16, 2, 256, "cpu", 0.7, budget_gb=10_000)
    assert plan == MemoryPlan(
        micro_batch=16,
        accumulation=2,
        effective_batch=32,
        estimated_bytes=estimate_peak_bytes(SMALL, SMALL_PARAMS, 16, 256),
        budget_bytes=10_000 * GIB,
        reduced=False,
    )


def test_tiny_budget_reduces_micro_batch_at_the_same_effective_batch(caplog) -> None:
    # room for 3 sequences, not 4: the largest divisor of 16 that fits is 2
    budget = estimate_peak_bytes(SMALL, SMALL_PARAMS, 3, 256) + 1
    with caplog.at_level(logging.WARNING, logger="resume_ner.train.memory"):
        plan = plan_batch(SMALL, SMALL_PARAMS, 16, 1, 256, "cpu", 0.7, budget_gb=budget / GIB)
    assert plan.reduced
    assert plan.micro_batch == 2 and plan.accumulation == 8
    assert plan.micro_batch * plan.accumulation == plan.effective_batch == 16
    assert plan.estimated_bytes <= plan.budget_bytes
    [record] = [r for r in caplog.records if r.name == "resume_ner.train.memory"]
    message = record.getMessage()
    assert "micro-batch 2 x accumulation 8" in message and "16" in message


@pytest.mark.parametrize(
    ("batch_size", "accumulation", "fits"),
    [(16, 1, 5), (12, 1, 5), (12, 3, 11), (6, 4, 5), (7, 1, 6), (10, 2, 9), (24, 1, 1)],
)
def test_reduced_plans_always_divide_the_effective_batch(batch_size, accumulation, fits) -> None:
    budget = estimate_peak_bytes(SMALL, SMALL_PARAMS, fits, 128) + 1
    plan = plan_batch(SMALL, SMALL_PARAMS, batch_size, accumulation, 128, "cpu", 0.7, budget / GIB)
    effective = batch_size * accumulation
    assert plan.reduced
    assert plan.micro_batch * plan.accumulation == effective == plan.effective_batch
    assert plan.micro_batch <= fits
    # the largest such micro-batch
    assert not any(
        effective % m == 0 for m in range(plan.micro_batch + 1, min(fits, batch_size - 1) + 1)
    )


def test_over_budget_even_at_one_sequence() -> None:
    with pytest.raises(MemoryBudgetError) as info:
        plan_batch(SMALL, SMALL_PARAMS, 8, 1, 512, "cpu", 0.7, budget_gb=0.01)
    message = str(info.value)
    needed = estimate_peak_bytes(SMALL, SMALL_PARAMS, 1, 512)
    assert f"{needed / GIB:.2f} GiB" in message and "0.01 GiB" in message
    for fix in ("training.max_length", "smaller model", "training.memory_budget_gb"):
        assert fix in message


def test_budget_from_available_memory(monkeypatch) -> None:
    calls = []

    def fake_available(device: str) -> int:
        calls.append(device)
        return 8 * GIB

    monkeypatch.setattr(memory, "available_memory_bytes", fake_available)
    plan = plan_batch(SMALL, SMALL_PARAMS, 4, 1, 128, "cuda:0", 0.5, budget_gb=None)
    assert calls == ["cuda:0"]
    assert plan.budget_bytes == 4 * GIB and not plan.reduced


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="memory_fraction"):
        plan_batch(SMALL, SMALL_PARAMS, 4, 1, 128, "cpu", 1.5, budget_gb=None)
    with pytest.raises(ValueError, match="memory_budget_gb"):
        plan_batch(SMALL, SMALL_PARAMS, 4, 1, 128, "cpu", 0.7, budget_gb=0)
    with pytest.raises(ValueError):
        plan_batch(SMALL, SMALL_PARAMS, 0, 1, 128, "cpu", 0.7, budget_gb=1)


def test_available_memory_on_cpu() -> None:
    import psutil

    available = available_memory_bytes("cpu")
    assert 0 < available <= psutil.virtual_memory().available * 1.5


def test_available_memory_on_cuda_uses_mem_get_info(monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * GIB, 80 * GIB))
    assert available_memory_bytes("cuda") == 3 * GIB
