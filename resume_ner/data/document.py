"""The one document model every reader produces and every consumer reads.

Spans have exclusive ends, are sorted by start and never overlap; `Document.validate`
enforces that invariant.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int  # exclusive
    label: str

    def text(self, document_text: str) -> str:
        return document_text[self.start : self.end]


@dataclass
class Document:
    text: str
    spans: list[Span] = field(default_factory=list)
    # Where the document came from, for messages: "file.jsonl:12" or "file.json#3".
    source: str | None = None
    id: str | None = None

    def validate(self) -> None:
        """Raise ValueError unless spans are in bounds, non-empty, sorted and non-overlapping."""
        previous_end = 0
        for span in self.spans:
            where = f" in {self.source}" if self.source else ""
            if not (0 <= span.start < span.end <= len(self.text)):
                raise ValueError(f"span {span}{where} is empty or out of bounds")
            if span.start < previous_end:
                raise ValueError(f"span {span}{where} overlaps the previous span")
            previous_end = span.end

    def to_spacy(self) -> dict:
        """The spaCy-style JSONL record: {"text": ..., "entities": [[start, end, label]]}."""
        return {"text": self.text, "entities": [[s.start, s.end, s.label] for s in self.spans]}


def labels_of(documents: list[Document]) -> list[str]:
    """Sorted entity labels present in the documents."""
    return sorted({span.label for doc in documents for span in doc.spans})
