"""Is model B better than model A on the same documents, or is the difference noise?

    python scripts/compare_evaluations.py A/evaluation.json B/evaluation.json

Reads two `python -m resume_ner.evaluate` outputs of the same documents and prints each
one's micro F1, the difference B - A, and a paired bootstrap interval of that difference:
documents are drawn with replacement (the same draw for both models) and the micro F1 of
each recomputed from the per-document counts. On 20 resumes a few points of F1 are often
inside the interval; the interval covers only the choice of documents, not the training
seed (train twice with another `seed=` for that).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def micro_f1(rows: list[dict[str, int]]) -> float:
    correct = sum(r["correct"] for r in rows)
    denominator = sum(r["gold"] + r["predicted"] for r in rows)
    return 2 * correct / denominator if denominator else 0.0


def paired_bootstrap(
    a: list[dict[str, int]], b: list[dict[str, int]], samples: int, seed: int, level: float
) -> tuple[float, float]:
    """The central `level` interval of micro-F1(B) - micro-F1(A) over document resamples."""
    rng = random.Random(seed)
    n = len(a)
    differences = []
    for _ in range(samples):
        draw = [rng.randrange(n) for _ in range(n)]
        differences.append(micro_f1([b[i] for i in draw]) - micro_f1([a[i] for i in draw]))
    differences.sort()
    tail = (1 - level) / 2
    return differences[int(tail * samples)], differences[
        min(samples - 1, int((1 - tail) * samples))
    ]


def _documents(path: Path) -> list[dict]:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"error: {path} does not exist (give evaluate's JSON)") from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"error: {path} is not JSON ({error})") from None
    if "per_document" not in result:
        raise SystemExit(
            f"error: {path} has no per-document counts; rerun `python -m resume_ner.evaluate` "
            f"with this version to write them"
        )
    return result["per_document"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="evaluation.json of model A")
    parser.add_argument("b", type=Path, help="evaluation.json of model B")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--level", type=float, default=0.9, help="interval coverage")
    args = parser.parse_args(argv)
    a, b = _documents(args.a), _documents(args.b)
    same = len(a) == len(b) and all(
        x["text_sha256"] == y["text_sha256"] and x["gold"] == y["gold"]
        for x, y in zip(a, b, strict=False)
    )
    if not same or not a:
        print(
            f"error: {args.a} and {args.b} did not score the same documents in the same order "
            f"({len(a)} and {len(b)} documents); evaluate both checkpoints on one data.path",
            file=sys.stderr,
        )
        return 2
    low, high = paired_bootstrap(a, b, args.samples, args.seed, args.level)
    f1_a, f1_b = micro_f1(a), micro_f1(b)
    print(f"documents: {len(a)}")
    print(f"A micro-F1 {f1_a:.3f}  ({args.a})")
    print(f"B micro-F1 {f1_b:.3f}  ({args.b})")
    print(
        f"B - A: {f1_b - f1_a:+.3f}, {args.level:.0%} paired bootstrap interval "
        f"[{low:+.3f}, {high:+.3f}] over {args.samples} document resamples"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
