"""Find the checkpoint folder behind whatever the user points at.

`find_checkpoint(ref)` takes:

- a local folder: a checkpoint folder itself (config.json, model.safetensors and
  label_map.json), a run folder holding `checkpoint/`, or any folder (a study, a trial, an
  outputs/ day) with exactly one checkpoint folder at most `max_depth` levels down;
- `runs:/<run_id>[/<path>]`: the run's `checkpoint_dir` tag when that folder is here, else
  its artifacts under `checkpoint` (or `<path>`): read in place when the artifact store is
  local, else downloaded into a cache folder;
- `models:/<name>@<alias>` or `models:/<name>/<version>`: the registered version's source
  (a file:// folder or a run's artifacts), found the same way.

It never guesses: several checkpoints under one folder are refused with their list, and a
miss raises one CheckpointError naming every folder looked at and what each lacked.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.errors import CheckpointError

MARKERS = ("config.json", "model.safetensors", "label_map.json")
CHECKPOINT_FOLDER = "checkpoint"
MANIFEST = "manifest.json"
CHECKPOINT_TAG = "checkpoint_dir"
# Shown in a miss: folders lacking every marker beyond this many are only counted.
MAX_LISTED = 30
CACHE_ENV = "RESUME_NER_CHECKPOINT_CACHE"
MODEL_REF = re.compile(r"^models:/(?P<name>[^@/]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))/?$")
_RUN_REF = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")

FIX = (
    "Point checkpoint= at a checkpoint/ folder (it holds config.json, model.safetensors and "
    "label_map.json), at the run directory above it, at runs:/<run_id> or at "
    "models:/<name>@<alias>."
)


@dataclass
class Search:
    """Where a search looked and what each place lacked, for one error on a miss."""

    ref: str
    looked: list[tuple[str, str]] = field(default_factory=list)

    def note(self, where: str | Path, why: str) -> None:
        """Record one place looked at and why it holds no checkpoint."""
        self.looked.append((str(where), why))

    def miss(self, fix: str = FIX) -> CheckpointError:
        """The one error naming every place looked at (partial ones first) and the fix."""
        empty = [item for item in self.looked if _bare(item[1])]
        partial = [item for item in self.looked if not _bare(item[1])]
        shown = partial + empty[: max(0, MAX_LISTED - len(partial))]
        lines = [f"  {where}: {why}" for where, why in shown]
        if len(shown) < len(self.looked):
            lines.append(f"  ... and {len(self.looked) - len(shown)} more folder(s) missing all")
        return CheckpointError(
            f"checkpoint={self.ref}: no checkpoint found (expected {', '.join(MARKERS)} in one "
            f"folder). Looked at:\n" + "\n".join(lines) + f"\n{fix}"
        )


def _bare(why: str) -> bool:
    """Whether a folder held nothing of a checkpoint (listed last, and cut when many)."""
    return why.startswith("missing all") and MANIFEST not in why


def find_checkpoint(
    ref: str | Path, *, tracking_uri: str | None = None, max_depth: int = 3
) -> Path:
    """The checkpoint folder `ref` names (a path, runs:/ or models:/), or a CheckpointError."""
    text = str(ref).strip()
    search = Search(text)
    if text.startswith("runs:/"):
        found = _from_run_ref(text, search, tracking_uri, max_depth)
    elif text.startswith("models:/"):
        found = _from_model_ref(text, search, tracking_uri, max_depth)
    else:
        found = search_local(Path(text).expanduser(), search, max_depth)
    if found is None:
        raise search.miss()
    return found


# --------------------------------------------------------------------------- local folders


def is_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds the three files of a trained checkpoint."""
    return all((folder / name).is_file() for name in MARKERS)


def _lacks(folder: Path) -> str:
    """What `folder` lacks of a checkpoint, in words."""
    if not folder.is_dir():
        return "no such folder"
    missing = [name for name in MARKERS if not (folder / name).is_file()]
    text = ("missing all of " if len(missing) == len(MARKERS) else "missing ") + ", ".join(missing)
    if (folder / MANIFEST).is_file():
        text += f" (its {MANIFEST}: a run still training, or stopped before its best epoch)"
    return text


def search_local(path: Path, search: Search, max_depth: int) -> Path | None:
    """`path` if a checkpoint, its `checkpoint/`, else the one checkpoint under it."""
    if path.is_file() and is_checkpoint(path.parent):
        return path.parent.resolve()
    if not path.is_dir():
        search.note(path, "no such folder")
        return None
    for candidate in (path, path / CHECKPOINT_FOLDER):
        if is_checkpoint(candidate):
            return candidate.resolve()
    found = _nested(path, search, max_depth)
    if len(found) > 1:
        listed = "\n".join(f"  {folder}" for folder in found)
        raise CheckpointError(
            f"checkpoint={search.ref}: {len(found)} checkpoints under {path}, and which one "
            f"to use is not guessed:\n{listed}\nPoint checkpoint= at one of them."
        )
    return found[0] if found else None


def _nested(root: Path, search: Search, max_depth: int) -> list[Path]:
    """The checkpoint folders at most `max_depth` levels under `root`, noting the others."""
    found: list[Path] = []
    level = [root]
    for depth in range(max_depth + 1):
        below: list[Path] = []
        for folder in level:
            if depth > 0 and is_checkpoint(folder):
                found.append(folder.resolve())
                continue
            search.note(folder, _lacks(folder))
            if depth < max_depth:
                below += _subfolders(folder)
        level = below
    return sorted(found)


def _subfolders(folder: Path) -> list[Path]:
    """The folders in `folder` (not hidden, not symlinks), sorted."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [e for e in entries if e.is_dir() and not e.is_symlink() and not e.name.startswith(".")]


# --------------------------------------------------------------------------- MLflow


def store_uri(tracking_uri: str | None) -> str:
    """tracking_uri, else $MLFLOW_TRACKING_URI, else ./outputs/mlflow.db; a missing store fails."""
    from resume_ner.train.tracking_uri import existing_store_uri

    return existing_store_uri(tracking_uri, Path.cwd())


def open_store(tracking_uri: str | None) -> Any:
    """An MlflowClient on the resolved store."""
    from resume_ner.train.tracking import open_client

    return open_client(store_uri(tracking_uri))


def _from_run_ref(ref: str, search: Search, tracking_uri: str | None, depth: int) -> Path | None:
    """The checkpoint of `runs:/<run_id>[/<path>]`."""
    match = _RUN_REF.match(ref)
    if not match or not match["run_id"]:
        raise CheckpointError(
            f"checkpoint={ref}: write a run reference as runs:/<run_id>[/<path>]."
        )
    path = (match["path"] or "").strip("/") or None
    return from_run(open_store(tracking_uri), match["run_id"], path, search, depth)


def from_run(client: Any, run_id: str, path: str | None, search: Search, depth: int) -> Path | None:
    """The run's tagged local checkpoint folder, else its artifacts under `path`."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise CheckpointError(
            f"checkpoint={search.ref}: no run {run_id} in {client.tracking_uri} "
            f"({error.message}). Check the run id, or pass the store it was logged to."
        ) from None
    if path in (None, CHECKPOINT_FOLDER):
        tagged = run.data.tags.get(CHECKPOINT_TAG)
        if tagged:
            folder = Path(tagged)
            if is_checkpoint(folder):
                return folder.resolve()
            search.note(folder, f"{_lacks(folder)} (the run's {CHECKPOINT_TAG} tag)")
        else:
            search.note(f"run {run_id}", f"no {CHECKPOINT_TAG} tag")
    artifact_uri = run.info.artifact_uri.rstrip("/") + "/" + (path or CHECKPOINT_FOLDER)
    return from_artifacts(artifact_uri, search, depth, tracking_uri=str(client.tracking_uri))


def from_artifacts(uri: str, search: Search, depth: int, *, tracking_uri: str) -> Path | None:
    """A checkpoint in artifacts at `uri`: read in place when local, else downloaded."""
    local = local_path(uri)
    if local is not None:
        return search_local(local, search, depth)
    folder = download(uri, search, tracking_uri)
    return None if folder is None else search_local(folder, search, depth)


def local_path(uri: str) -> Path | None:
    """The local folder of a file:// URI or a plain path; None for remote URIs."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path, or C:\... on Windows
        return Path(uri).expanduser()
    return None


def cache_root() -> Path:
    """Where downloaded checkpoints are kept: $RESUME_NER_CHECKPOINT_CACHE, else a temp folder."""
    chosen = os.environ.get(CACHE_ENV)
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "resume-ner-checkpoints"


def download(uri: str, search: Search, tracking_uri: str, complete: Any = None) -> Path | None:
    """Download the artifacts at `uri` into the cache (reused when `complete` says the cached
    copy is whole: by default, a checkpoint)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    target = cache_root() / re.sub(r"[^0-9A-Za-z._-]+", "_", uri).strip("_")[-150:]
    if (complete or is_checkpoint)(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        got = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(staging), tracking_uri=tracking_uri
        )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(got, target)
    except (MlflowException, OSError) as error:
        search.note(uri, f"could not be downloaded ({getattr(error, 'message', error)})")
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _from_model_ref(ref: str, search: Search, tracking_uri: str | None, depth: int) -> Path | None:
    """The checkpoint of `models:/<name>@<alias>` or `models:/<name>/<version>`."""
    match = MODEL_REF.match(ref)
    if not match:
        raise CheckpointError(
            f"checkpoint={ref}: write a registered model as models:/<name>@<alias> or "
            "models:/<name>/<version>."
        )
    client = open_store(tracking_uri)
    version = model_version(client, ref, match["name"], match["alias"], match["version"])
    source = str(version.source)
    search.note(f"{ref} -> {source}", "the registered version's source")
    if source.startswith("runs:/"):
        run_match = _RUN_REF.match(source)
        if run_match:
            path = (run_match["path"] or "").strip("/") or None
            return from_run(client, run_match["run_id"], path, search, depth)
    return from_artifacts(source, search, depth, tracking_uri=str(client.tracking_uri))


def model_version(
    client: Any,
    ref: str,
    name: str,
    alias: str | None,
    version: str | None,
    setting: str = "checkpoint",
) -> Any:
    """The model version an alias or a version number names, or a CheckpointError naming
    `setting` (the config key the reference was given as)."""
    from mlflow.exceptions import MlflowException

    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, version)
    except MlflowException as error:
        which = f"alias {alias!r}" if alias is not None else f"version {version!r}"
        raise CheckpointError(
            f"{setting}={ref}: registered model {name!r} has no {which} in "
            f"{client.tracking_uri} ({error.message}).{_known(client, name)} Check the name, "
            "or register the checkpoint first (python -m resume_ner.select select.register=true)."
        ) from None


def _known(client: Any, name: str) -> str:
    """The aliases and versions a registered model has, in words; empty when it has none."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return ""
    aliases = ", ".join(f"{a}->{v}" for a, v in sorted(dict(model.aliases or {}).items()))
    versions = ", ".join(sorted(str(v.version) for v in (model.latest_versions or [])))
    return f" It has aliases: {aliases or 'none'}; latest versions: {versions or 'none'}."
