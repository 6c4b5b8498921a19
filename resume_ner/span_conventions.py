"""How the training annotations write spans, learned from them and followed by the decoder.

A token classifier decides tag by tag, so where an entity ends is the weakest part of what
it predicts, and exact span matching counts every wrong boundary twice. Two conventions of
the annotators decide most of those boundaries, and both differ between datasets, so they
are learned from the training spans rather than fixed (and a third, on what the
annotators label rather than where it ends):

- **Joins.** The model often starts a new span (a B- tag) in the middle of one the
  annotators wrote whole: "Sikkim | Manipal University", or the list "SAP HANA, | SAP UI5".
  Whether two neighbours of one label are one span depends on the data: the DataTurks
  resumes mark a whole list of skills as one span, the bundled sample marks each skill.
  For each label and each gap (the text between two words on one line: spaces and at most
  one punctuation mark; runs of spaces count as one space), `learn_conventions` counts how
  often the gap lies inside a gold span of the label and how often it separates two; the
  gaps seen more often inside are the label's joins.
- **Single-line labels.** Tokenizers drop newlines, so a predicted Name can run on into the
  next line's city. A label whose training spans (at least `MIN_SPANS` of them) cross a line
  break in fewer than `MAX_LINE_CROSSING` of cases is single-line: the decoder ends its
  spans at a line break.
- **Repeated labels.** Some annotation tools label a string everywhere it recurs in the
  document once it is labelled in one place (DataTurks does: a company's name in the
  header and again in the experience section). A token classifier sees one window and
  cannot know that the same words elsewhere were labelled, so it misses the repeats.
  For each label, `learn_conventions` counts the other exact, whole-word occurrences of
  each labelled string in its document and how many of them carry the same label; a label
  (with at least `MIN_SPANS` such occurrences) whose occurrences are labelled more often
  than not is repeated: the decoder labels every other occurrence of a span it predicts.

Measured on the shared DataTurks file (docs/experiments.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from resume_ner.data.document import Document

# Spaces or tabs, at most one punctuation mark, spaces or tabs: never a line break or a word.
_GAP = re.compile(r"[ \t]*[^\w\s]?[ \t]*")
_WORD = re.compile(r"\w+")
MIN_SPANS = 10
MAX_LINE_CROSSING = 0.02


@dataclass(frozen=True)
class SpanConventions:
    # label -> the gaps across which two neighbouring spans of the label are one
    joins: dict[str, list[str]] = field(default_factory=dict)
    # labels whose spans end at a line break
    single_line: list[str] = field(default_factory=list)
    # labels whose strings the annotators label at every occurrence in a document
    repeated: list[str] = field(default_factory=list)

    def joinable(self, label: str, gap: str) -> bool:
        """Whether two predicted `label` spans with `gap` between them are one span."""
        key = gap_key(gap)
        return key is not None and key in self.joins.get(label, ())

    def to_json(self) -> dict[str, Any]:
        return {"joins": self.joins, "single_line": self.single_line, "repeated": self.repeated}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> SpanConventions:
        joins = {str(k): [str(g) for g in v] for k, v in payload.get("joins", {}).items()}
        return cls(
            joins=joins,
            single_line=[str(x) for x in payload.get("single_line", [])],
            # checkpoints written before this convention repeat nothing
            repeated=[str(x) for x in payload.get("repeated", [])],
        )


def gap_key(gap: str) -> str | None:
    """The gap's key (runs of spaces and tabs as one space), or None if no join may span it."""
    if not _GAP.fullmatch(gap):
        return None
    return re.sub(r"[ \t]+", " ", gap)


def occurrences(text: str, phrase: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each whole-word, case-sensitive occurrence of `phrase` in `text`."""
    if not phrase:
        return
    for match in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", text):
        yield match.span()


def repeat_counts(documents: Iterable[Document]) -> dict[str, tuple[int, int]]:
    """label -> (other whole-word, same-case occurrences of its labelled strings in their
    documents, how many of them carry the same label)."""
    recurrences: Counter[str] = Counter()
    relabelled: Counter[str] = Counter()
    for document in documents:
        text = document.text
        labelled = {(span.start, span.end): span.label for span in document.spans}
        counted: set[tuple[str, str]] = set()
        for span in sorted(document.spans, key=lambda s: (s.start, s.end)):
            phrase = text[span.start : span.end]
            if (phrase, span.label) in counted:
                continue
            counted.add((phrase, span.label))
            for place in occurrences(text, phrase):
                if place != (span.start, span.end):
                    recurrences[span.label] += 1
                    relabelled[span.label] += labelled.get(place) == span.label
    return {label: (recurrences[label], relabelled[label]) for label in sorted(recurrences)}


def is_repeated(recurrences: int, relabelled: int) -> bool:
    """Whether a label is repeated: enough recurrences to tell, labelled more often than not."""
    return recurrences >= MIN_SPANS and relabelled > recurrences / 2


def learn_conventions(documents: Iterable[Document]) -> SpanConventions:
    """The joins, single-line and repeated labels of these annotations (module docstring)."""
    inside: Counter[tuple[str, str]] = Counter()
    between: Counter[tuple[str, str]] = Counter()
    spans_of: Counter[str] = Counter()
    crossing: Counter[str] = Counter()
    documents = list(documents)
    for document in documents:
        text = document.text
        spans = sorted(document.spans, key=lambda s: (s.start, s.end))
        for span in spans:
            spans_of[span.label] += 1
            crossing[span.label] += "\n" in text[span.start : span.end]
            words = list(_WORD.finditer(text, span.start, span.end))
            for left, right in pairwise(words):
                key = gap_key(text[left.end() : right.start()])
                if key is not None:
                    inside[span.label, key] += 1
        for left, right in pairwise(spans):
            if left.label == right.label and left.end <= right.start:
                key = gap_key(text[left.end : right.start])
                if key is not None:
                    between[left.label, key] += 1
    joins: dict[str, list[str]] = {}
    for (label, key), count in inside.items():
        if count > between[label, key]:
            joins.setdefault(label, []).append(key)
    single_line = [
        label
        for label, count in spans_of.items()
        if count >= MIN_SPANS and crossing[label] < MAX_LINE_CROSSING * count
    ]
    repeated = [label for label, counts in repeat_counts(documents).items() if is_repeated(*counts)]
    return SpanConventions(
        joins={label: sorted(keys) for label, keys in sorted(joins.items())},
        single_line=sorted(single_line),
        repeated=sorted(repeated),
    )
