"""ValidationReport: every defect found in the annotations, what became of it, and where.

Each defect class counts occurrences `found`, and of those how many were `repaired` (the
annotation survives, fixed) or `dropped` (the annotation or document is gone); the rest
were kept as they are (e.g. duplicate documents with data.dedupe=false). Every occurrence
keeps its location ("file:line" or "file#index") and a short detail.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from resume_ner.data.document import Document
from resume_ner.data.raw import RecordError

# Defect class -> description, in the order the table prints them.
DEFECTS: dict[str, str] = {
    "invalid_record": "malformed record, skipped (data.skip_invalid)",
    "empty_document": "document with blank text",
    "unannotated_document": "never annotated (annotation null, or all cancelled)",
    "duplicate_document": "same text as an earlier document (data.dedupe)",
    "edge_whitespace": "span padded with whitespace at an edge",
    "whitespace_normalised_text": "annotated text differs only in whitespace runs (offsets kept)",
    "shifted_offsets": "offsets miss the annotated text (re-anchored)",
    "out_of_bounds": "span outside the text",
    "empty_span": "span with no non-blank text",
    "missing_label": "span without a label",
    "label_mapped": "label renamed by data.label_map",
    "label_dropped": "label dropped by data.label_map (null)",
    "bio_orphan_inside": "I- tag without B- (started a span)",
    "duplicate_span": "same span and label twice (merged)",
    "overlapping_spans": "overlapping span PAIRS (data.overlap_policy)",
}

OUTCOMES = ("repaired", "dropped", "kept")


@dataclass
class Occurrence:
    location: str
    detail: str
    outcome: str  # repaired | dropped | kept


@dataclass
class DefectCount:
    found: int = 0
    repaired: int = 0
    dropped: int = 0
    occurrences: list[Occurrence] = field(default_factory=list)


@dataclass
class LabelChange:
    to: str | None
    count: int = 0


@dataclass
class ValidationReport:
    defects: dict[str, DefectCount] = field(
        default_factory=lambda: {name: DefectCount() for name in DEFECTS}
    )
    # old label -> what data.label_map made of it, and how many spans it touched
    label_changes: dict[str, LabelChange] = field(default_factory=dict)
    documents_read: int = 0
    spans_read: int = 0
    documents_kept: int = 0
    spans_kept: int = 0
    entities: Counter[str] = field(default_factory=Counter)
    splits: dict[str, int] = field(default_factory=dict)

    def add(self, defect: str, location: str, detail: str, outcome: str) -> None:
        """Record one occurrence of a defect and what was done about it."""
        if defect not in DEFECTS:
            raise KeyError(f"unknown defect class {defect!r}")
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        count = self.defects[defect]
        count.found += 1
        if outcome == "repaired":
            count.repaired += 1
        elif outcome == "dropped":
            count.dropped += 1
        count.occurrences.append(Occurrence(location, detail, outcome))

    def record_invalid(self, error: RecordError) -> None:
        """The InvalidHandler used with data.skip_invalid: count and locate the record."""
        self.add("invalid_record", error.location, error.problem, "dropped")

    def count_label_change(self, old: str, new: str | None) -> None:
        """Count one span whose label data.label_map changed (new=None: dropped)."""
        self.label_changes.setdefault(old, LabelChange(new)).count += 1

    def count_kept(self, documents: list[Document]) -> None:
        """Set the kept counts (documents, spans, entities per label) from the final documents."""
        self.documents_kept = len(documents)
        self.spans_kept = sum(len(doc.spans) for doc in documents)
        self.entities = Counter(span.label for doc in documents for span in doc.spans)

    def unrepaired(self) -> int:
        """Occurrences not repaired: dropped, or kept as they are."""
        return sum(count.found - count.repaired for count in self.defects.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with every occurrence's location."""
        return {
            "documents": {"read": self.documents_read, "kept": self.documents_kept},
            "spans": {"read": self.spans_read, "kept": self.spans_kept},
            "defects": {
                name: {
                    "description": DEFECTS[name],
                    "found": count.found,
                    "repaired": count.repaired,
                    "dropped": count.dropped,
                    "occurrences": [vars(o) for o in count.occurrences],
                }
                for name, count in self.defects.items()
            },
            "label_map": {
                old: {"to": change.to, "count": change.count}
                for old, change in sorted(self.label_changes.items())
            },
            "entities": dict(sorted(self.entities.items())),
            "splits": dict(self.splits),
            "unrepaired": self.unrepaired(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """to_dict() as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def format_table(self) -> str:
        """The printed summary: defects (found/repaired/dropped), then entities per label."""
        width = max(len(name) for name in DEFECTS)
        lines = [f"{'defect':<{width}}  {'found':>6} {'repaired':>8} {'dropped':>7}  description"]
        for name, count in self.defects.items():
            lines.append(
                f"{name:<{width}}  {count.found:>6} {count.repaired:>8} {count.dropped:>7}"
                f"  {DEFECTS[name]}"
            )
        lines.append("")
        lines.append(
            f"documents: {self.documents_read} read, {self.documents_kept} kept; "
            f"spans: {self.spans_read} read, {self.spans_kept} kept; "
            f"unrepaired defects: {self.unrepaired()}"
        )
        for old, change in sorted(self.label_changes.items()):
            lines.append(f"label_map: {old} -> {change.to} ({change.count} spans)")
        if self.splits:
            lines.append("splits: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()))
        lines.append("")
        label_width = max([len("label"), *(len(label) for label in self.entities)])
        lines.append(f"{'label':<{label_width}}  {'entities':>8}")
        for label, number in sorted(self.entities.items()):
            lines.append(f"{label:<{label_width}}  {number:>8}")
        lines.append(f"{'total':<{label_width}}  {sum(self.entities.values()):>8}")
        return "\n".join(lines)
