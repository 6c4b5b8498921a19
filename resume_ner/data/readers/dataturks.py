"""DataTurks JSONL: {"content": ..., "annotation": [{"label": [...], "points": [...]}]}.

Point ends are INCLUSIVE in this format; they become exclusive here. "annotation" may be
null (the document was never annotated); "label" may be a list or a single string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resume_ner.data.raw import (
    InvalidHandler,
    RawRecord,
    RawSpan,
    RecordError,
    read_json_lines,
    require_int,
)


def _labels(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(label, str) for label in value):
        return tuple(value)
    raise RecordError(where, f"'label' must be a string or a list of strings, got {value!r}")


def _point(point: Any, labels: tuple[str, ...], where: str) -> RawSpan:
    if not isinstance(point, dict):
        raise RecordError(where, f"a point must be an object, got {point!r}")
    missing = [key for key in ("start", "end") if key not in point]
    if missing:
        raise RecordError(where, f"point {point!r} lacks {', '.join(missing)}")
    start = require_int(point["start"], where, "point 'start'")
    end = require_int(point["end"], where, "point 'end'")
    text = point.get("text")
    if text is not None and not isinstance(text, str):
        raise RecordError(where, f"point 'text' must be a string, got {text!r}")
    return RawSpan(start, end + 1, labels, text)


def parse_record(value: dict[str, Any], location: str) -> RawRecord:
    """One DataTurks object as a RawRecord; RecordError when its structure is wrong."""
    content = value.get("content")
    if not isinstance(content, str):
        raise RecordError(location, "'content' is missing or not a string")
    annotations = value.get("annotation")
    if annotations is None:
        return RawRecord(content, [], location, annotated=False)
    if not isinstance(annotations, list):
        raise RecordError(location, f"'annotation' must be a list or null, got {annotations!r}")
    spans: list[RawSpan] = []
    for index, annotation in enumerate(annotations):
        where = f"{location} (annotation {index})"
        if not isinstance(annotation, dict) or "label" not in annotation:
            raise RecordError(where, f"an annotation needs 'label' and 'points': {annotation!r}")
        points = annotation.get("points")
        if not isinstance(points, list):
            raise RecordError(where, f"'points' must be a list, got {points!r}")
        labels = _labels(annotation["label"], where)
        spans.extend(_point(point, labels, where) for point in points)
    return RawRecord(content, spans, location)


def read(path: Path, on_invalid: InvalidHandler | None = None) -> list[RawRecord]:
    """Every record of a DataTurks JSONL file."""
    return read_json_lines(path, parse_record, on_invalid)
