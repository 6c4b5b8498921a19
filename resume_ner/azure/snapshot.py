"""The job's code snapshot: the repository root, so conf/ and the Hydra plugin travel with the
package, less what .amlignore leaves out (outputs, virtual environments, MLflow stores,
data). Read with the SDK's own reading of the ignore file, checked, and staged: the files
are copied to <sweep dir>/azureml/code, which is the job's `code`.

Why a staged copy rather than the root itself: the SDK walks every file under `code`, the
ignored ones too, to hash and upload it (with a virtual environment in the checkout, 12 s
each time here); the copy holds only what is uploaded, so submission takes a second, the
job's YAML is self-contained, and the code a job ran stays beside its YAML."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from resume_ner.errors import RemoteError

# What a job cannot run without: the entrypoints' config, the package, the sweeper plugin
# conf/train.yaml selects (folder, file pattern), and the project's dependency list.
REQUIRED_TREES = (("conf", "*.yaml"), ("resume_ner", "*.py"), ("launchers", "*.py"))
REQUIRED_FILES = ("pyproject.toml",)
# Azure ML warns about snapshots over 100 MB and refuses them over 300 MB.
MAX_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    root: Path
    files: list[str]
    bytes: int


def code_root() -> Path:
    """The repository root this package runs from (the job's `code`)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "conf").is_dir():
        raise RemoteError(
            f"resume_ner runs from {root}, not a checkout of the repository: remote jobs "
            f"upload the repository root (conf/ and launchers/ with the package), so submit "
            f"from a clone (`pip install -e .` in it)"
        )
    return root


def snapshot(root: Path) -> Snapshot:
    """The files Azure ML would upload from `root`, by the SDK's reading of its ignore file."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file

    ignore = get_ignore_file(root)
    files, size = [], 0
    for folder, dirs, names in os.walk(root):
        # Prune ignored folders here (the SDK walks into them and drops their files).
        dirs[:] = [d for d in dirs if not ignore.is_file_excluded(Path(folder, d))]
        for name in names:
            path = Path(folder, name)
            if not ignore.is_file_excluded(path):
                files.append(path.relative_to(root).as_posix())
                size += path.stat().st_size
    return Snapshot(root, sorted(files), size)


def check_snapshot(shot: Snapshot) -> None:
    """Refuse a snapshot the job could not run from, or one too large to upload."""
    present = set(shot.files)
    required = [
        path.relative_to(shot.root).as_posix()
        for folder, pattern in REQUIRED_TREES
        for path in sorted((shot.root / folder).rglob(pattern))
        if "__pycache__" not in path.parts
    ]
    missing = [name for name in [*required, *REQUIRED_FILES] if name not in present]
    if missing:
        raise RemoteError(
            f"the code snapshot of {shot.root} would lack {', '.join(missing[:5])}"
            f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}: the job "
            f"could not compose its config; remove the pattern that excludes them from "
            f"{shot.root / '.amlignore'}"
        )
    if shot.bytes > MAX_BYTES:
        raise RemoteError(
            f"the code snapshot of {shot.root} is {shot.bytes / 2**20:.0f} MiB (over "
            f"{MAX_BYTES // 2**20} MiB): add the large folders to {shot.root / '.amlignore'}"
        )


def stage(shot: Snapshot, dest: Path) -> Path:
    """Copy the snapshot's files to `dest` (emptied first): the folder jobs upload."""
    if dest.exists():
        shutil.rmtree(dest)
    for name in shot.files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot.root / name, target)
    return dest
