"""The pre-repair record every reader produces, and the errors raised on malformed input.

Readers only parse: they convert each format's offsets to exclusive ends and keep what the
annotator wrote (the span's own text where the format has one) so that repair can check
the offsets against it. Nothing here fixes anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.data.document import Document
from resume_ner.errors import DataError


class RecordError(DataError):
    """One malformed record (bad JSON, wrong structure, missing keys, bad offsets)."""

    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        self.problem = problem
        super().__init__(f"{location}: {problem}")


# Called with each malformed record; the default (None) raises it. With data.skip_invalid
# the loader passes a handler that records the record in the report and goes on.
InvalidHandler = Callable[[RecordError], None]


def reject(error: RecordError, on_invalid: InvalidHandler | None) -> None:
    """Raise the error, or hand it to on_invalid when the caller skips invalid records."""
    if on_invalid is None:
        raise error
    on_invalid(error)


@dataclass
class RawSpan:
    start: int
    end: int  # exclusive, whatever the file's convention was
    labels: tuple[str, ...]
    # What the annotator selected, as the file stores it (may carry edge whitespace);
    # None for formats without it (spaCy, CoNLL).
    text: str | None = None


@dataclass
class RawRecord:
    text: str
    spans: list[RawSpan] = field(default_factory=list)
    # "file.jsonl:12" (line-based formats) or "file.json#3" (index into a JSON list).
    location: str = ""
    id: str | None = None
    # False when the file says the document was never annotated (DataTurks
    # "annotation": null, a Label Studio task without a non-cancelled annotation).
    annotated: bool = True
    # Defects the reader itself noticed and already repaired: (defect class, location, detail).
    notes: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def from_document(cls, document: Document) -> RawRecord:
        """A record for an already-built Document, so it goes through the same checks."""
        spans = [RawSpan(s.start, s.end, (s.label,)) for s in document.spans]
        return cls(document.text, spans, document.source or "", document.id)


def require_int(value: object, location: str, what: str) -> int:
    """The value as an int, or a RecordError naming what is wrong (bools are not offsets)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(location, f"{what} must be an integer, got {value!r}")
    return value


def json_lines(
    path: Path, on_invalid: InvalidHandler | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, object) for each non-blank line of a JSONL file; bad lines are rejected."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            location = f"{path}:{number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                reject(
                    RecordError(location, f"invalid JSON ({err.msg}, column {err.colno})"),
                    on_invalid,
                )
                continue
            if not isinstance(value, dict):
                reject(
                    RecordError(location, f"expected a JSON object, got {type(value).__name__}"),
                    on_invalid,
                )
                continue
            yield location, value


def read_json_lines(
    path: Path,
    parse: Callable[[dict[str, Any], str], RawRecord],
    on_invalid: InvalidHandler | None,
) -> list[RawRecord]:
    """Every record of a JSONL file, each object turned into a RawRecord by `parse`."""
    records = []
    for location, value in json_lines(path, on_invalid):
        try:
            records.append(parse(value, location))
        except RecordError as err:
            reject(err, on_invalid)
    return records
