"""CoNLL BIO: one token per line (tag in the last column), blank lines between sentences,
-DOCSTART- lines between documents.

The text is rebuilt by joining tokens with single spaces and sentences with "\\n"; BIO tags
become character spans. An I- tag that does not continue a span of its label starts one
(seqeval's lenient reading) and is noted as the defect 'bio_orphan_inside'.
"""

from __future__ import annotations

from pathlib import Path

from resume_ner.data.raw import InvalidHandler, RawRecord, RawSpan, RecordError, reject

DOCSTART = "-DOCSTART-"

# One document's lines: (line number, text of the line).
_Lines = list[tuple[int, str]]


def _documents(path: Path) -> list[_Lines]:
    documents: list[_Lines] = [[]]
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.split()[:1] == [DOCSTART]:
                documents.append([])
            else:
                documents[-1].append((number, line.rstrip("\r\n")))
    return [doc for doc in documents if any(line.strip() for _, line in doc)]


def _tag(tag: str, where: str) -> tuple[str, str | None]:
    if tag == "O":
        return "O", None
    prefix, _, label = tag.partition("-")
    if prefix not in ("B", "I") or not label:
        raise RecordError(where, f"unknown tag {tag!r} (expected O, B-<label> or I-<label>)")
    return prefix, label


def parse_document(lines: _Lines, path: Path) -> RawRecord:
    """One document's lines as a RawRecord; RecordError when a line is malformed."""
    location = f"{path}:{next(number for number, line in lines if line.strip())}"
    pieces: list[str] = []  # tokens and separators, joined at the end
    length = 0
    spans: list[RawSpan] = []
    notes: list[tuple[str, str, str]] = []
    open_span: RawSpan | None = None
    at_sentence_start = True
    for number, line in lines:
        where = f"{path}:{number}"
        columns = line.split()
        if not columns:
            open_span, at_sentence_start = None, True
            continue
        if len(columns) < 2:
            raise RecordError(where, f"expected 'token ... tag', got {line!r}")
        token, tag = columns[0], columns[-1]
        if pieces:
            separator = "\n" if at_sentence_start else " "
            pieces.append(separator)
            length += 1
        at_sentence_start = False
        start, end = length, length + len(token)
        pieces.append(token)
        length = end
        prefix, label = _tag(tag, where)
        if prefix == "O":
            open_span = None
        elif prefix == "I" and open_span is not None and open_span.labels == (label,):
            open_span.end = end
        else:
            if prefix == "I":
                notes.append(("bio_orphan_inside", where, f"{tag} on {token!r} starts a span"))
            open_span = RawSpan(start, end, (label,))
            spans.append(open_span)
    return RawRecord("".join(pieces), spans, location, notes=notes)


def read(path: Path, on_invalid: InvalidHandler | None = None) -> list[RawRecord]:
    """Every document of a CoNLL BIO file (the whole file is one when it has no -DOCSTART-)."""
    records = []
    for lines in _documents(path):
        try:
            records.append(parse_document(lines, path))
        except RecordError as err:
            reject(err, on_invalid)
    return records
