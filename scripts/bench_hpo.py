"""Pruning benchmark: the same study with its early-termination policy and without.

    python scripts/bench_hpo.py                         # hpo=smoke on the defaults
    python scripts/bench_hpo.py --trials 8 --epochs 4   # a longer study
    python scripts/bench_hpo.py -- model.pretrained=DIR training.max_length=64   # + overrides

Both studies run `python -m resume_ner.train -m hpo=<option>` in a child process with the
same seed, search space, budget and trial settings, each in a fresh studies folder and
MLflow store under a temporary directory; only `hpo.early_termination.policy` differs
(the configured policy against `none`). Printed: the wall time of each, the ratio, the
share of time saved, and each study's best objective. Target: at least 40% less wall time
with pruning, at a best objective within noise of the unpruned study.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SAVING = 0.40


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpo", default="smoke", help="the hpo option (conf/hpo/)")
    parser.add_argument("--trials", type=int, default=None, help="hpo.limits.max_trials")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of each trial")
    parser.add_argument("--seed", type=int, default=13, help="hpo.seed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("overrides", nargs="*", help="more overrides for both studies")
    return parser.parse_args(argv)


def trial_overrides_with_epochs(hpo: str, epochs: int) -> str:
    """hpo.trial_overrides of the option, with training.epochs replaced, as one override."""
    from resume_ner.config.compose import compose_train

    kept = list(compose_train([f"hpo={hpo}"]).hpo.trial_overrides)
    kept = [o for o in kept if not o.startswith("training.epochs=")]
    items = ",".join(json.dumps(o) for o in [*kept, f"training.epochs={epochs}"])
    return f"hpo.trial_overrides=[{items}]"


def study_command(args: argparse.Namespace, folder: Path, pruned: bool) -> list[str]:
    overrides = [
        f"hpo={args.hpo}",
        f"hpo.seed={args.seed}",
        f"hpo.study_name=bench-{'pruned' if pruned else 'unpruned'}",
        f"hpo.studies_dir={folder / 'studies'}",
        f"hydra.sweep.dir={folder / 'sweep'}",
        f"tracking.uri=sqlite:///{folder / 'mlflow.db'}",
    ]
    if args.trials is not None:
        overrides.append(f"hpo.limits.max_trials={args.trials}")
    if args.epochs is not None:
        overrides.append(trial_overrides_with_epochs(args.hpo, args.epochs))
    if not pruned:
        overrides.append("hpo.early_termination.policy=none")
    return [sys.executable, "-m", "resume_ner.train", "-m", *overrides, *args.overrides]


def run_study(args: argparse.Namespace, folder: Path, pruned: bool) -> dict[str, Any]:
    """One study in a child process; its wall time, best trial and trial states."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        study_command(args, folder, pruned), cwd=folder, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit(f"error: the {'pruned' if pruned else 'unpruned'} study failed")
    best = json.loads((folder / "sweep" / "best_trial.json").read_text())
    lines = [line for line in result.stdout.splitlines() if line.startswith("trial ")]
    return {
        "wall_seconds": seconds,
        "best_objective": best["objective"],
        "best_params": best["params"],
        "states": [line.split()[2] for line in lines],
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-hpo-") as tmp:
        unpruned = run_study(args, Path(tmp) / "unpruned", pruned=False)
        pruned = run_study(args, Path(tmp) / "pruned", pruned=True)
    ratio = pruned["wall_seconds"] / unpruned["wall_seconds"]
    report = {
        "hpo": args.hpo,
        "seed": args.seed,
        "pruned": pruned,
        "unpruned": unpruned,
        "time_ratio": ratio,
        "time_saved": 1 - ratio,
        "target_saving": TARGET_SAVING,
    }
    for name in ("unpruned", "pruned"):
        run = report[name]
        print(
            f"{name:<9} {run['wall_seconds']:7.1f} s  best {run['best_objective']:.4f}  "
            f"trials {' '.join(run['states'])}"
        )
    print(
        f"pruned / unpruned wall time: {ratio:.2f} ({1 - ratio:.0%} saved; target "
        f">= {TARGET_SAVING:.0%}); best objective {pruned['best_objective']:.4f} against "
        f"{unpruned['best_objective']:.4f}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
