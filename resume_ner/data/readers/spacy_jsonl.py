"""spaCy-style JSONL: {"text": ..., "entities" | "spans": [[start, end, label], ...]}.

Ends are exclusive. Spans may also be objects {"start", "end", "label"} (optionally with
"text", then checked like any annotator text).
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


def _span(item: Any, where: str) -> RawSpan:
    if isinstance(item, list | tuple):
        if len(item) != 3:
            raise RecordError(where, f"a span must be [start, end, label], got {item!r}")
        start, end, label = item
        text = None
    elif isinstance(item, dict):
        missing = [key for key in ("start", "end", "label") if key not in item]
        if missing:
            raise RecordError(where, f"span {item!r} lacks {', '.join(missing)}")
        start, end, label, text = item["start"], item["end"], item["label"], item.get("text")
        if text is not None and not isinstance(text, str):
            raise RecordError(where, f"span 'text' must be a string, got {text!r}")
    else:
        raise RecordError(where, f"a span must be a list or an object, got {item!r}")
    if not isinstance(label, str):
        raise RecordError(where, f"span label must be a string, got {label!r}")
    return RawSpan(
        require_int(start, where, "span start"), require_int(end, where, "span end"), (label,), text
    )


def parse_record(value: dict[str, Any], location: str) -> RawRecord:
    """One spaCy-style object as a RawRecord; RecordError when its structure is wrong."""
    text = value.get("text")
    if not isinstance(text, str):
        raise RecordError(location, "'text' is missing or not a string")
    key = "entities" if "entities" in value else "spans"
    items = value.get(key) or []
    if not isinstance(items, list):
        raise RecordError(location, f"'{key}' must be a list, got {type(items).__name__}")
    spans = [_span(item, f"{location} ({key}[{index}])") for index, item in enumerate(items)]
    record_id = value.get("id")
    return RawRecord(text, spans, location, None if record_id is None else str(record_id))


def read(path: Path, on_invalid: InvalidHandler | None = None) -> list[RawRecord]:
    """Every record of a spaCy-style JSONL file."""
    return read_json_lines(path, parse_record, on_invalid)
