"""Format auto-detection and `read_raw`, the one dispatch from a format name to its reader."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from resume_ner.data.raw import DataError, InvalidHandler, RawRecord
from resume_ner.data.readers import conll, dataturks, labelstudio, spacy_jsonl

Reader = Callable[[Path, InvalidHandler | None], list[RawRecord]]

READERS: dict[str, Reader] = {
    "dataturks": dataturks.read,
    "labelstudio": labelstudio.read,
    "spacy": spacy_jsonl.read,
    "conll": conll.read,
}
FORMATS = ("auto", *READERS)

# How much of a file detection looks at: enough for a few JSONL records or CoNLL lines.
_HEAD_LINES = 50
_CONLL_TAG = re.compile(r"^(O|[BI]-\S+)$")


def _json_object_format(value: object) -> str | None:
    if not isinstance(value, dict):
        return None
    if "content" in value and "annotation" in value:
        return "dataturks"
    if "data" in value and ("annotations" in value or "completions" in value):
        return "labelstudio"
    if labelstudio.is_min_task(value):  # Label Studio's JSON-MIN export
        return "labelstudio"
    if "text" in value and ("entities" in value or "spans" in value):
        return "spacy"
    return None


def _head(path: Path) -> list[str]:
    lines = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                lines.append(line)
            if len(lines) >= _HEAD_LINES:
                break
    return lines


def detect_format(path: Path) -> str:
    """The format of an annotation file, from its content; DataError when it is unclear."""
    lines = _head(path)
    if not lines:
        raise DataError(f"{path} is empty: no format to detect (set data.format)")
    first = lines[0].lstrip()
    if first.startswith("["):
        # A Label Studio export is one JSON list; peek at its first task.
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            tasks = None
        if isinstance(tasks, list) and (not tasks or _json_object_format(tasks[0])):
            return "labelstudio"
    if first.startswith("{"):
        for line in lines:  # the first parseable line decides; bad lines are reported later
            try:
                found = _json_object_format(json.loads(line))
            except json.JSONDecodeError:
                continue
            if found:
                return found
        # One pretty-printed Label Studio task.
        try:
            found = _json_object_format(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            found = None
        if found == "labelstudio":
            return found
    columns = [line.split() for line in lines]
    if all(c[0] == conll.DOCSTART or (len(c) >= 2 and _CONLL_TAG.match(c[-1])) for c in columns):
        return "conll"
    raise DataError(
        f"cannot detect the annotation format of {path}: expected DataTurks or spaCy JSONL, "
        f"a Label Studio JSON export or CoNLL BIO. Set data.format to one of "
        f"{', '.join(READERS)}."
    )


def read_raw(
    path: str | Path, fmt: str = "auto", on_invalid: InvalidHandler | None = None
) -> list[RawRecord]:
    """Parse an annotation file in the given (or detected) format into RawRecords."""
    path = Path(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown data.format {fmt!r}; expected one of {', '.join(FORMATS)}")
    try:
        if fmt == "auto":
            fmt = detect_format(path)
        return READERS[fmt](path, on_invalid)
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
