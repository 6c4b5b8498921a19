"""Fixtures of the data-layer tests: config objects and annotation files in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resume_ner.config.schema import DataConfig


@pytest.fixture
def data_cfg() -> Callable[..., DataConfig]:
    """A factory of DataConfig objects (name "test", source files) with overrides."""

    def make(**overrides: Any) -> DataConfig:
        return DataConfig(**{"name": "test", "source": "files", **overrides})

    return make


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write records (objects, or raw strings for broken lines) as a JSONL file."""

    def write(records: list[Any], name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a file with the given content."""

    def write(content: str, name: str) -> Path:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path

    return write


def dataturks(content: str, *annotations: tuple[str | list[str], int, int, str]) -> dict:
    """A DataTurks record; each annotation is (label, start, INCLUSIVE end, text)."""
    return {
        "content": content,
        "annotation": [
            {"label": label, "points": [{"start": start, "end": end, "text": text}]}
            for label, start, end, text in annotations
        ],
    }


@pytest.fixture
def turk() -> Callable[..., dict]:
    """The DataTurks record builder, as a fixture (tests/data has no package to import)."""
    return dataturks
