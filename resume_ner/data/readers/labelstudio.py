"""Label Studio JSON export: a list of tasks with data.text and annotations[].result[].

Each labels result is {"value": {"start", "end", "text", "labels"}} with exclusive ends.
Cancelled annotations (was_cancelled: true) are skipped; of the others the latest (by
updated_at, else created_at, else position in the list) is the one that counts.

Two other shapes of real exports are read too:
- a labelling config that names its text field otherwise (`<Text value="$resume"/>`):
  the text is then the string field of `data` at whose offsets the annotated texts are;
- the JSON-MIN export: one flat object per task, its text field and each labels tag's
  list of {"start", "end", "text", "labels"} side by side.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from resume_ner.data.raw import (
    InvalidHandler,
    RawRecord,
    RawSpan,
    RecordError,
    reject,
    require_int,
)


def _timestamp(annotation: dict[str, Any]) -> datetime | None:
    stamp = annotation.get("updated_at") or annotation.get("created_at")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def latest_annotation(annotations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The annotation that counts: the latest non-cancelled one, or None."""
    kept = [a for a in annotations if not a.get("was_cancelled", False)]
    if not kept:
        return None
    stamps = [_timestamp(a) for a in kept]
    if all(stamp is not None for stamp in stamps):
        try:
            # The index breaks ties between equal stamps in favour of the later annotation.
            return kept[max(range(len(kept)), key=lambda i: (stamps[i], i))]
        except TypeError:  # naive and aware timestamps mixed: fall back to list order
            pass
    return kept[-1]


def _span(item: Any, where: str) -> RawSpan | None:
    if not isinstance(item, dict):
        raise RecordError(where, f"a result must be an object, got {item!r}")
    value = item.get("value")
    is_labels = item.get("type") == "labels" or (isinstance(value, dict) and "labels" in value)
    if not is_labels:
        return None  # relations, choices, text areas: not entity spans
    if not isinstance(value, dict):
        raise RecordError(where, f"a labels result needs a 'value' object: {item!r}")
    missing = [key for key in ("start", "end", "labels") if key not in value]
    if missing:
        raise RecordError(where, f"labels result value {value!r} lacks {', '.join(missing)}")
    labels = value["labels"]
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise RecordError(where, f"'labels' must be a list of strings, got {labels!r}")
    text = value.get("text")
    if text is not None and not isinstance(text, str):
        raise RecordError(where, f"result 'text' must be a string, got {text!r}")
    start = require_int(value["start"], where, "result 'start'")
    end = require_int(value["end"], where, "result 'end'")
    return RawSpan(start, end, tuple(labels), text)


# Fields a JSON-MIN task carries beside its data and its labels.
_MIN_METADATA = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"}


def _is_min_labels(value: Any) -> bool:
    """A JSON-MIN labels field: a list of {"start", "end", "labels"} objects."""
    fields = {"start", "end", "labels"}
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and fields <= set(item) for item in value)
    )


def is_min_task(value: Any) -> bool:
    """Whether `value` looks like one task of a JSON-MIN export."""
    return isinstance(value, dict) and any(_is_min_labels(v) for v in value.values())


def _from_min(task: dict[str, Any]) -> dict[str, Any]:
    """A JSON-MIN task in the shape of the full export (no labels field: not annotated)."""
    results = [
        {"type": "labels", "value": item}
        for value in task.values()
        if _is_min_labels(value)
        for item in value
    ]
    data = {
        key: value
        for key, value in task.items()
        if isinstance(value, str) and key not in _MIN_METADATA
    }
    annotations = [{"result": results}] if results else []
    return {"id": task.get("id"), "data": data, "annotations": annotations}


def _task_text(data: Any, spans: list[RawSpan], location: str) -> str:
    """data.text, else the string field of data that the annotated texts are found in."""
    if not isinstance(data, dict):
        raise RecordError(location, "'data' is missing or not an object")
    if isinstance(data.get("text"), str):
        return data["text"]
    fields = [value for value in data.values() if isinstance(value, str)]
    if not fields:
        raise RecordError(location, "'data' holds no text: expected data.text or a string field")

    def fit(text: str) -> int:
        return sum(
            span.text is not None
            and " ".join(text[span.start : span.end].split()) == " ".join(span.text.split())
            for span in spans
        )

    # The field most annotated texts are found in; the longest breaks ties (a resume).
    return max(fields, key=lambda text: (fit(text), len(text)))


def parse_task(task: Any, location: str) -> RawRecord:
    """One Label Studio task as a RawRecord; RecordError when its structure is wrong."""
    if not isinstance(task, dict):
        raise RecordError(location, f"a task must be an object, got {type(task).__name__}")
    if "data" not in task and "annotations" not in task and "completions" not in task:
        task = _from_min(task)
    # "completions" is what Label Studio exports called annotations before 1.0.
    annotations = task.get("annotations", task.get("completions")) or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise RecordError(location, "'annotations' must be a list of objects")
    task_id = None if task.get("id") is None else str(task["id"])
    chosen = latest_annotation(annotations)
    results = [] if chosen is None else chosen.get("result") or []
    if not isinstance(results, list):
        raise RecordError(location, f"'result' must be a list, got {type(results).__name__}")
    found = [_span(item, f"{location} (result {i})") for i, item in enumerate(results)]
    spans = [span for span in found if span is not None]
    text = _task_text(task.get("data"), spans, location)
    return RawRecord(text, spans, location, task_id, annotated=chosen is not None)


def read(path: Path, on_invalid: InvalidHandler | None = None) -> list[RawRecord]:
    """Every task of a Label Studio JSON export (a list of tasks, or one task)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        # The whole file is unreadable: no record to skip, so this always raises.
        raise RecordError(f"{path}:{err.lineno}", f"invalid JSON ({err.msg})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise RecordError(str(path), "a Label Studio export must be a JSON list of tasks")
    records = []
    for index, task in enumerate(tasks):
        try:
            records.append(parse_task(task, f"{path}#{index}"))
        except RecordError as err:
            reject(err, on_invalid)
    return records
