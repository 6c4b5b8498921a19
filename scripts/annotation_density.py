"""Do the annotations keep one style through the file, or does it change from batch to batch?

    python scripts/annotation_density.py ../shared/data/dataturks/train.jsonl
    python scripts/annotation_density.py FILE --block 20 --term microsoft
    python scripts/annotation_density.py FILE --repeats

Reads an annotation file the way training does (data=dataturks cleaning: repairs, dedupe,
UNKNOWN dropped) and prints, for each block of documents in file order, the labelled spans
per resume, per 1,000 characters, and per label. With --term, it also counts the documents
that mention the term and, per label, how many labelled spans contain it. A file annotated
in batches by different people shows it here: a model trained on the dense batches
predicts spans that the sparse batches' annotators left out, which the scores on those
batches count as wrong (docs/experiments.md). With --repeats, it prints instead, per
label, how often a labelled string's other whole-word occurrences in its document carry
the label too: what training learns as the repeated labels (docs/experiments.md,
"Span conventions").
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from resume_ner.config.compose import compose_train
from resume_ner.data.document import Document
from resume_ner.data.load import load_documents
from resume_ner.data.report import ValidationReport
from resume_ner.span_conventions import is_repeated, repeat_counts


def _abbreviation(label: str) -> str:
    return label.split()[0][:6]


def block_rows(documents: list[Document], block: int, term: str | None) -> list[list[str]]:
    """One row of counts per block of `block` documents, in file order."""
    labels = sorted({span.label for doc in documents for span in doc.spans})
    rows = []
    for first in range(0, len(documents), block):
        docs = documents[first : first + block]
        spans = [(doc, span) for doc in docs for span in doc.spans]
        characters = sum(len(doc.text) for doc in docs)
        per_label = Counter(span.label for _, span in spans)
        row = [
            f"{first + 1}-{first + len(docs)}",
            f"{len(spans) / len(docs):.1f}",
            f"{1000 * len(spans) / max(1, characters):.2f}",
        ]
        if term is None:
            row += [f"{per_label[label] / len(docs):.1f}" for label in labels]
        else:
            needle = term.lower()
            with_term = Counter(
                span.label
                for doc, span in spans
                if needle in doc.text[span.start : span.end].lower()
            )
            row.append(str(sum(needle in doc.text.lower() for doc in docs)))
            row += [f"{with_term[label]}/{per_label[label]}" for label in labels]
        rows.append(row)
    return rows


def print_repeats(documents: list[Document]) -> None:
    """Per label: other occurrences of its labelled strings, and how many are labelled."""
    counts = repeat_counts(documents)
    width = max([len(label) for label in counts] + [5])
    print(f"{'label':<{width}}  occurrences  labelled  share  repeated")
    for label, (count, labelled) in counts.items():
        repeated = "yes" if is_repeated(count, labelled) else "no"
        print(
            f"{label:<{width}}  {count:>11d}  {labelled:>8d}  {labelled / count:>5.2f}  {repeated}"
        )
    total = sum(c for c, _ in counts.values())
    labelled_total = sum(n for _, n in counts.values())
    print(f"{len(documents)} documents: {labelled_total} of {total} other occurrences labelled")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="annotation file (any supported format)")
    parser.add_argument("--block", type=int, default=20, help="documents per row (default 20)")
    parser.add_argument("--term", help="also count documents and labelled spans with this text")
    parser.add_argument("--data", default="dataturks", help="data config group (default dataturks)")
    parser.add_argument(
        "--repeats", action="store_true", help="per label, how often recurring strings are labelled"
    )
    args = parser.parse_args(argv)
    if args.block < 1:
        parser.error("--block must be at least 1")

    cfg = compose_train([f"data={args.data}", f"data.path={args.path}"])
    documents = load_documents(args.path, cfg.data, ValidationReport())
    if not documents:
        print(f"error: {args.path} holds no annotated documents", file=sys.stderr)
        return 2

    if args.repeats:
        print_repeats(documents)
        return 0
    labels = sorted({span.label for doc in documents for span in doc.spans})
    header = ["documents", "spans/resume", "spans/1k chars"]
    if args.term is None:
        header += [f"{_abbreviation(label)}/resume" for label in labels]
    else:
        header += [f"with '{args.term}'"] + [f"{_abbreviation(label)} ∋ term" for label in labels]
    rows = [header, *block_rows(documents, args.block, args.term)]
    widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"labels: {', '.join(f'{_abbreviation(label)} = {label}' for label in labels)}")
    return 0


if __name__ == "__main__":
    from resume_ner.cli import exit_on_user_error

    with exit_on_user_error():
        sys.exit(main())
