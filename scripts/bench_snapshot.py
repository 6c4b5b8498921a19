"""What the staged code snapshot saves a submission: the SDK's own hashing and file listing
of the job's `code`, on the repository root (what the SDK would walk, ignored folders such as
.venv/ included) against the staged copy the launcher gives it (resume_ner/azure/snapshot.py).

    python scripts/bench_snapshot.py [--rounds 3]

Both go through azure-ai-ml's functions (get_content_hash, get_upload_files_from_folder with
the folder's ignore file); nothing is sent. Prints seconds for each (best of --rounds), the
files each lists and the ratio. Compare rows of one run only: the root's time grows with
whatever lies in the checkout (a virtual environment, outputs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _walk(folder: Path) -> tuple[float, int]:
    """Seconds to hash and list `folder` as the SDK does before an upload, and the files."""
    from azure.ai.ml._utils._asset_utils import (
        get_content_hash,
        get_ignore_file,
        get_upload_files_from_folder,
    )

    started = time.perf_counter()
    ignore = get_ignore_file(folder)
    get_content_hash(folder, ignore)
    files = get_upload_files_from_folder(folder, ignore_file=ignore)
    return time.perf_counter() - started, len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from resume_ner.azure.snapshot import check_snapshot, code_root, snapshot, stage

    root = code_root()
    started = time.perf_counter()
    shot = snapshot(root)
    check_snapshot(shot)
    with tempfile.TemporaryDirectory() as tmp:
        staged = stage(shot, Path(tmp) / "code")
        prepared = time.perf_counter() - started
        rows = {}
        for name, folder in (("repository root", root), ("staged copy", staged)):
            runs = [_walk(folder) for _ in range(args.rounds)]
            rows[name] = (min(r[0] for r in runs), runs[0][1])
    print(
        f"snapshot read, checked and staged: {prepared:.2f} s ({len(shot.files)} files, "
        f"{shot.bytes / 2**20:.1f} MiB)"
    )
    for name, (seconds, files) in rows.items():
        print(f"SDK hash + listing of the {name}: {seconds:.2f} s, {files} files")
    root_s, staged_s = rows["repository root"][0], rows["staged copy"][0]
    print(f"ratio root / staged: {root_s / staged_s:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
