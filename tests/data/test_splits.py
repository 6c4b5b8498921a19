"""Deterministic splits, and load_splits over data.path, explicit files and the sample."""

from __future__ import annotations

import sys
import types

import pytest
from omegaconf import OmegaConf

from resume_ner.config.schema import SplitConfig
from resume_ner.data.document import Document, Span
from resume_ner.data.load import load_documents, load_splits
from resume_ner.data.report import ValidationReport
from resume_ner.data.splits import split_documents, split_sizes
from resume_ner.errors import ConfigError


def _docs(n):
    return [Document(f"resume number {i}", [Span(0, 6, "Name")], id=str(i)) for i in range(n)]


def _ids(docs):
    return [d.id for d in docs]


def test_same_input_same_split_and_order_is_kept():
    docs = _docs(30)
    first = split_documents(docs, 0.2, 0.1, seed=13)
    again = split_documents(list(docs), 0.2, 0.1, seed=13)
    assert [_ids(part) for part in first] == [_ids(part) for part in again]
    train, val, test = first
    assert (len(train), len(val), len(test)) == (21, 6, 3)
    assert sorted(_ids(train) + _ids(val) + _ids(test), key=int) == _ids(docs)
    for part in first:  # each split keeps the input's relative order
        assert _ids(part) == sorted(_ids(part), key=int)


PINNED_VAL = ["5", "6"]
PINNED_TEST = ["2"]


def test_split_is_pinned_across_machines():
    # SHA-256 ranking, not `random`: this exact answer must hold on every platform.
    _, val, test = split_documents(_docs(10), 0.2, 0.1, seed=13)
    assert (_ids(val), _ids(test)) == (PINNED_VAL, PINNED_TEST)


def test_a_different_seed_gives_a_different_split():
    docs = _docs(30)
    assert _ids(split_documents(docs, 0.2, 0, seed=1)[1]) != _ids(
        split_documents(docs, 0.2, 0, seed=2)[1]
    )


@pytest.mark.parametrize(
    ("total", "val_fraction", "test_fraction", "expected"),
    [
        (2, 0.1, 0.0, (1, 0)),  # at least one validation document
        (1, 0.5, 0.0, (0, 0)),  # ...but never the only document
        (3, 0.1, 0.1, (1, 1)),
        (2, 0.1, 0.1, (1, 0)),  # train keeps one
        (10, 0.0, 0.0, (0, 0)),
        (0, 0.2, 0.2, (0, 0)),
        (100, 0.15, 0.05, (15, 5)),
    ],
)
def test_split_sizes(total, val_fraction, test_fraction, expected):
    assert split_sizes(total, val_fraction, test_fraction) == expected


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0), (1.0, 0), (0.6, 0.4)])
def test_bad_fractions_are_rejected(val, test):
    with pytest.raises(ValueError, match=r"data\.split\."):
        split_sizes(10, val, test)


# ---------------------------------------------------------------- load_splits


def _spacy_lines(write_jsonl, texts, name):
    return write_jsonl([{"text": t, "entities": [[0, 4, "Name"]]} for t in texts], name)


def test_load_splits_from_one_path(write_jsonl, data_cfg):
    path = _spacy_lines(write_jsonl, [f"Jane {i}" for i in range(10)], "all.jsonl")
    cfg = data_cfg(path=str(path), split=SplitConfig(val_fraction=0.2, test_fraction=0.1))
    splits = load_splits(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7, 2, 1)
    assert splits.report.splits == {"train": 7, "val": 2, "test": 1}
    assert splits.report.entities == {"Name": 10}
    assert splits.val[0].source.startswith(f"{path}:")


def test_load_splits_works_with_a_dictconfig(write_jsonl, data_cfg):
    path = _spacy_lines(write_jsonl, ["Jane A", "Jane B", "Jane C"], "d.jsonl")
    cfg = OmegaConf.structured(data_cfg(path=str(path), label_map={"Name": "Person"}))
    splits = load_splits(cfg)
    assert {s.label for d in splits.train + splits.val for s in d.spans} == {"Person"}


def test_explicit_files_carve_val_from_train_and_dedupe_across_files(write_jsonl, data_cfg):
    train = _spacy_lines(write_jsonl, [f"Jane {i}" for i in range(10)], "train.jsonl")
    test = _spacy_lines(write_jsonl, ["Jane 3", "Jane test"], "test.jsonl")
    cfg = data_cfg(train_path=str(train), test_path=str(test), split=SplitConfig(val_fraction=0.2))
    splits = load_splits(cfg)
    assert (len(splits.train), len(splits.val)) == (8, 2)
    # "Jane 3" is in train already: the test copy is dropped, never leaked into test.
    assert [d.text for d in splits.test] == ["Jane test"]
    duplicate = splits.report.defects["duplicate_document"]
    assert duplicate.found == 1 and duplicate.occurrences[0].location == f"{test}:1"


def test_missing_file_names_the_setting_and_path(tmp_path, data_cfg):
    with pytest.raises(ConfigError, match=r"data\.path=.*does not exist"):
        load_splits(data_cfg(path=str(tmp_path / "nope.jsonl")))


def test_missing_val_file_names_its_own_setting(tmp_path, write_jsonl, data_cfg):
    train = _spacy_lines(write_jsonl, ["Jane"], "train.jsonl")
    with pytest.raises(ConfigError, match=r"data\.val_path="):
        load_splits(data_cfg(train_path=str(train), val_path=str(tmp_path / "v.jsonl")))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "data.path is not set"),
        ({"path": "a", "train_path": "b"}, "not both"),
        ({"val_path": "v"}, "need data.train_path"),
        ({"source": "web"}, "unknown data.source"),
    ],
)
def test_inconsistent_settings_are_config_errors(data_cfg, settings, message):
    with pytest.raises(ConfigError) as caught:
        load_splits(data_cfg(**settings))
    assert message in str(caught.value)


def test_skip_invalid_counts_and_locates_the_skipped_record(write_jsonl, data_cfg):
    path = write_jsonl([{"text": "Jane", "entities": []}, "{broken"], "s.jsonl")
    report = ValidationReport()
    docs = load_documents(path, data_cfg(skip_invalid=True), report)
    assert [d.text for d in docs] == ["Jane"]
    [occurrence] = report.defects["invalid_record"].occurrences
    assert occurrence.location == f"{path}:2" and occurrence.outcome == "dropped"


def test_sample_source_goes_through_repair_and_split(monkeypatch, data_cfg):
    calls = []

    def generate(num_docs: int, seed: int, long_fraction: float) -> list[Document]:
        calls.append((num_docs, seed, long_fraction))
        texts = [f"Jane {i} " for i in range(num_docs)]
        return [Document(text, [Span(0, len(text), "Name")]) for text in texts]

    fake = types.ModuleType("resume_ner.data.synthetic")
    fake.generate = generate
    monkeypatch.setitem(sys.modules, "resume_ner.data.synthetic", fake)
    splits = load_splits(data_cfg(source="sample"))
    assert calls == [(120, 7, 0.15)]
    assert (len(splits.train), len(splits.val)) == (108, 12)
    # The sample is checked like any file: the padded span was trimmed and counted.
    assert splits.report.defects["edge_whitespace"].found == 120
    assert splits.train[0].spans[0].text(splits.train[0].text) == "Jane 0"
    assert splits.train[0].source == "sample#0"
