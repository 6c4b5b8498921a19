"""Validation and repair: RawRecords in, Documents (in-bounds, sorted, non-overlapping) out.

Every defect is counted and located in the ValidationReport, whether repaired or dropped.
The invariant repair keeps: a span's text is what the annotator meant (the annotation's own
text stripped of edge whitespace, where the format gives one; equal up to whitespace runs
where the export normalised that text), under the annotator's label or the one
data.label_map names for it. Nothing is relabelled or moved silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resume_ner.data.document import Document, Span
from resume_ner.data.raw import DataError, RawRecord, RawSpan
from resume_ner.data.report import ValidationReport

OVERLAP_POLICIES = ("longest", "first", "error")


class OverlapError(DataError):
    """Two spans overlap and data.overlap_policy=error."""


@dataclass(frozen=True)
class RepairOptions:
    label_map: Mapping[str, str | None] = field(default_factory=dict)
    overlap_policy: str = "longest"
    reanchor_window: int = 200

    def __post_init__(self) -> None:
        if self.overlap_policy not in OVERLAP_POLICIES:
            raise DataError(
                f"unknown data.overlap_policy {self.overlap_policy!r}; "
                f"expected one of {', '.join(OVERLAP_POLICIES)}"
            )
        if self.reanchor_window < 0:
            raise DataError(f"data.reanchor_window must be >= 0, got {self.reanchor_window}")

    @classmethod
    def from_config(cls, data_cfg: Any) -> RepairOptions:
        """The repair settings of a DataConfig (dataclass or DictConfig)."""
        label_map = data_cfg.label_map
        return cls(
            label_map=dict(label_map.items()) if label_map else {},
            overlap_policy=data_cfg.overlap_policy,
            reanchor_window=data_cfg.reanchor_window,
        )


def _clip(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _describe(raw: RawSpan, text: str) -> str:
    label = "/".join(raw.labels) or "<no label>"
    shown = raw.text if raw.text is not None else text[max(raw.start, 0) : max(raw.end, 0)]
    return f"{label} [{raw.start}:{raw.end}] {_clip(shown)}"


def _describe_span(span: Span, text: str) -> str:
    return f"{span.label} [{span.start}:{span.end}] {_clip(span.text(text))}"


_WHITESPACE_RUN = re.compile(r"\s+")


def normalise_whitespace(text: str) -> str:
    """The text with every run of (unicode) whitespace as one space and both edges stripped."""
    return _WHITESPACE_RUN.sub(" ", text).strip()


def same_up_to_whitespace(piece: str, wanted: str) -> bool:
    """Whether two texts are equal once both have their whitespace normalised."""
    return normalise_whitespace(piece) == normalise_whitespace(wanted)


def reanchor(text: str, wanted: str, anchor: int, window: int) -> int | None:
    """Start of the occurrence of `wanted` nearest `anchor`, starting within `window` of it."""
    low = max(0, anchor - window)
    high = min(len(text), anchor + window + len(wanted))
    best = None
    position = text.find(wanted, low, high)
    while position != -1:
        if best is None or abs(position - anchor) < abs(best - anchor):
            best = position
        position = text.find(wanted, position + 1, high)
    return best


def _matches_at_offsets(
    raw: RawSpan, annotated: str, text: str, location: str, report: ValidationReport
) -> bool:
    """Whether text[start:end] is the annotated text, exactly or up to whitespace runs."""
    piece = text[raw.start : raw.end]
    # Both sides stripped: DataTurks texts often carry the same padding as the offsets.
    if piece.strip() == annotated.strip():
        return True
    if not same_up_to_whitespace(piece, annotated):
        return False
    # Some exports (Label Studio among them) store the selection with each whitespace run
    # collapsed to one space: the offsets are right, and re-anchoring the normalised text,
    # which the document does not contain, would only drop the span.
    detail = f"{_describe(raw, text)}: the document has {_clip(piece)}"
    report.add("whitespace_normalised_text", location, detail, "repaired")
    return True


def reanchor_loosely(text: str, wanted: str, anchor: int, window: int) -> tuple[int, int] | None:
    """(start, end) of the nearest occurrence of `wanted` with each of its whitespace runs
    matching any run in the text, starting within `window` of `anchor`."""
    words = wanted.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(word) for word in words))
    low = max(0, anchor - window)
    best = None
    for match in pattern.finditer(text, low, min(len(text), anchor + window + 4 * len(wanted))):
        if match.start() > anchor + window:
            break
        if best is None or abs(match.start() - anchor) < abs(best.start() - anchor):
            best = match
    return (best.start(), best.end()) if best else None


def _reanchored(
    raw: RawSpan,
    annotated: str,
    text: str,
    location: str,
    options: RepairOptions,
    report: ValidationReport,
) -> tuple[int, int] | None:
    """The offsets of the annotated text nearest the span's, or None (dropped) when not near."""
    wanted = annotated.strip()
    what = _describe(raw, text)
    # The annotator's text starts after its own leading whitespace.
    anchor = raw.start + len(annotated) - len(annotated.lstrip())
    found = reanchor(text, wanted, anchor, options.reanchor_window)
    # A normalised text (one space for each whitespace run) that is also shifted.
    span = (
        (found, found + len(wanted))
        if found is not None
        else reanchor_loosely(text, wanted, anchor, options.reanchor_window)
    )
    if span is None:
        detail = f"{what}: not found within {options.reanchor_window} characters"
        report.add("shifted_offsets", location, detail, "dropped")
        return None
    detail = f"{what} -> [{span[0]}:{span[1]}]"
    report.add("shifted_offsets", location, detail, "repaired")
    return span


def _fix_offsets(
    raw: RawSpan, text: str, location: str, options: RepairOptions, report: ValidationReport
) -> tuple[int, int] | None:
    """The span's repaired (start, end), or None when it had to be dropped."""
    start, end = raw.start, raw.end
    what = _describe(raw, text)
    if start < 0 or end > len(text) or start > end:
        report.add("out_of_bounds", location, f"{what} (text length {len(text)})", "dropped")
        return None
    if raw.text is not None:
        if not raw.text.strip():
            report.add("empty_span", location, f"{what}: the annotated text is blank", "dropped")
            return None
        # The cheap check at the given offsets first; re-anchoring is for real shifts only.
        if not _matches_at_offsets(raw, raw.text, text, location, report):
            return _reanchored(raw, raw.text, text, location, options, report)
    piece = text[start:end]
    if not piece.strip():
        report.add("empty_span", location, f"{what}: no non-blank text", "dropped")
        return None
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    if lead or trail:
        detail = f"{what} -> [{start + lead}:{end - trail}]"
        report.add("edge_whitespace", location, detail, "repaired")
    return start + lead, end - trail


def _labels(
    raw: RawSpan, text: str, location: str, options: RepairOptions, report: ValidationReport
) -> list[str]:
    """The span's labels after data.label_map; [] when none is left."""
    if not raw.labels:
        report.add("missing_label", location, _describe(raw, text), "dropped")
        return []
    labels = []
    for label in raw.labels:
        if label not in options.label_map or options.label_map[label] == label:
            labels.append(label)
            continue
        new = options.label_map[label]
        report.count_label_change(label, new)
        if new is None:
            report.add("label_dropped", location, _describe(raw, text), "dropped")
        else:
            report.add("label_mapped", location, f"{_describe(raw, text)} -> {new}", "repaired")
            labels.append(new)
    return labels


def _overlapping_pairs(spans: list[Span]) -> list[tuple[Span, Span]]:
    ordered = sorted(spans)
    pairs = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.start >= first.end:
                break
            pairs.append((first, second))
    return pairs


def resolve_overlaps(
    spans: list[Span], text: str, location: str, policy: str, report: ValidationReport
) -> list[Span]:
    """Non-overlapping spans by the policy; every overlapping pair is counted and located.

    `spans` is in annotation order, which breaks ties ("the first").
    """
    pairs = _overlapping_pairs(spans)
    if not pairs:
        return sorted(spans)
    if policy == "error":
        first, second = pairs[0]
        raise OverlapError(
            f"{location}: spans overlap: {_describe_span(first, text)} and "
            f"{_describe_span(second, text)} (data.overlap_policy=error; "
            f"set it to longest or first to resolve overlaps)"
        )
    order = range(len(spans))
    if policy == "longest":
        ranked = sorted(order, key=lambda i: (spans[i].start - spans[i].end, spans[i].start, i))
    else:  # first: the earliest-starting span wins
        ranked = sorted(order, key=lambda i: (spans[i].start, i))
    kept: list[Span] = []
    for i in ranked:
        if all(spans[i].end <= k.start or k.end <= spans[i].start for k in kept):
            kept.append(spans[i])
    kept_set = set(kept)
    for first, second in pairs:
        dropped = [s for s in (first, second) if s not in kept_set]
        detail = (
            f"{_describe_span(first, text)} and {_describe_span(second, text)}: dropped "
            + " and ".join(_describe_span(s, text) for s in dropped)
        )
        report.add("overlapping_spans", location, detail, "dropped")
    return sorted(kept)


def repair_record(
    record: RawRecord, options: RepairOptions, report: ValidationReport
) -> Document | None:
    """The record as a valid Document, or None when the whole document is dropped."""
    report.documents_read += 1
    report.spans_read += len(record.spans)
    text, location = record.text, record.location
    for defect, where, detail in record.notes:
        report.add(defect, where, detail, "repaired")
    if not text.strip():
        report.add("empty_document", location, f"{len(record.spans)} spans", "dropped")
        return None
    if not record.annotated:
        report.add("unannotated_document", location, _clip(text, 40), "dropped")
        return None
    spans: list[Span] = []
    for raw in record.spans:
        offsets = _fix_offsets(raw, text, location, options, report)
        if offsets is None:
            continue
        for label in _labels(raw, text, location, options, report):
            span = Span(*offsets, label)
            if span in spans:
                report.add("duplicate_span", location, _describe_span(span, text), "repaired")
            else:
                spans.append(span)
    spans = resolve_overlaps(spans, text, location, options.overlap_policy, report)
    document = Document(text, spans, source=location, id=record.id)
    document.validate()  # an error here is a bug in this module, not in the data
    return document


def repair_records(
    records: list[RawRecord], options: RepairOptions, report: ValidationReport
) -> list[Document]:
    """Repair every record; documents that cannot be used are dropped (and counted)."""
    documents = (repair_record(record, options, report) for record in records)
    return [doc for doc in documents if doc is not None]


def dedupe_documents(
    documents: list[Document],
    report: ValidationReport,
    drop: bool = True,
    seen: dict[str, Document] | None = None,
) -> list[Document]:
    """Count documents whose text was seen before; drop them when `drop` (data.dedupe).

    An identical copy (same spans) counts as repaired, since nothing is lost; a copy
    annotated differently counts as dropped (the first annotation is kept). Pass the same
    `seen` across calls to dedupe across files.
    """
    seen = {} if seen is None else seen
    kept = []
    for doc in documents:
        first = seen.setdefault(doc.text, doc)
        if first is doc:
            kept.append(doc)
            continue
        same = first.spans == doc.spans
        detail = f"same text as {first.source}" + ("" if same else ", annotated differently")
        if not drop:
            report.add("duplicate_document", doc.source or "", detail, "kept")
            kept.append(doc)
        else:
            report.add(
                "duplicate_document", doc.source or "", detail, "repaired" if same else "dropped"
            )
    return kept
