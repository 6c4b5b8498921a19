"""Disjoint random held-out sets of a JSONL annotation file, each with its training file.

    python scripts/heldout_folds.py ../shared/data/dataturks/train.jsonl --out folds

One test split (the last 20 resumes, say) is one draw of documents, and on 20 resumes a
recipe's lead over another can be the draw's. This writes `fold<k>_test.jsonl` (`--size`
documents drawn at random, disjoint between folds) and `fold<k>_train.jsonl` (all the
others, in file order) for k = 0 .. --folds - 1, so that each recipe can be trained on the
train file and scored on the test file of every fold:

    python -m resume_ner.train data=dataturks data.path=folds/fold0_train.jsonl ...
    python -m resume_ner.evaluate checkpoint=... data=dataturks data.path=folds/fold0_test.jsonl

Documents with the same text as an earlier one are left out (DataTurks has one such
pair with different annotations), so no text is in both files of a fold. Lines are copied
as they are; the draw depends only on --seed and the number of distinct documents.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

TEXT_KEYS = ("content", "text")  # DataTurks, then spaCy-style JSONL


def distinct_lines(path: Path) -> tuple[list[str], int]:
    """The non-empty lines of `path` whose text is new, and how many repeated a text."""
    lines, seen, repeated = [], set(), 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SystemExit(
                f"{path}:{number}: not JSON ({error.msg}); fix or remove the line"
            ) from None
        text = next(
            (record[k] for k in TEXT_KEYS if isinstance(record, dict) and k in record), None
        )
        if not isinstance(text, str):
            raise SystemExit(
                f"{path}:{number}: no text field ({' or '.join(TEXT_KEYS)}); is this a "
                "DataTurks or spaCy-style JSONL file?"
            )
        if text in seen:
            repeated += 1
            continue
        seen.add(text)
        lines.append(line)
    return lines, repeated


def draw_folds(count: int, folds: int, size: int, seed: int) -> list[list[int]]:
    """`folds` disjoint sorted lists of `size` positions in range(count)."""
    if folds * size > count - 1:
        raise SystemExit(
            f"{folds} fold(s) of {size} need more than {folds * size} distinct documents "
            f"(a training file must remain); there are {count}. Lower --folds or --size."
        )
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [sorted(order[k * size : (k + 1) * size]) for k in range(folds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="JSONL annotations (DataTurks or spaCy-style)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the fold files")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--size", type=int, default=20, help="documents per held-out set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.file.is_file():
        raise SystemExit(f"{args.file}: no such file")
    if args.folds < 1 or args.size < 1:
        raise SystemExit("--folds and --size must be at least 1")
    lines, repeated = distinct_lines(args.file)
    folds = draw_folds(len(lines), args.folds, args.size, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(lines)} distinct documents ({repeated} repeated text(s) left out)")
    for k, test in enumerate(folds):
        held = set(test)
        (args.out / f"fold{k}_test.jsonl").write_text(
            "".join(lines[i] + "\n" for i in test), encoding="utf-8"
        )
        (args.out / f"fold{k}_train.jsonl").write_text(
            "".join(line + "\n" for i, line in enumerate(lines) if i not in held),
            encoding="utf-8",
        )
        # 1-based positions among the distinct documents, to say which resumes were held out
        print(f"fold {k}: held out {', '.join(str(i + 1) for i in test)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
