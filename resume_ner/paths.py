"""Where the project's own files are, whatever the working directory."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

CONFIG_DIR_ENV = "RESUME_NER_CONFIG_DIR"


def config_dir() -> Path:
    """The conf/ directory: $RESUME_NER_CONFIG_DIR, else shipped in the wheel, else the repo's.

    A wheel carries conf/ as resume_ner/conf; an editable install, a checkout and an Azure ML
    code snapshot (a copy of the repository root) have it beside the package. Nothing here
    depends on the current working directory.
    """
    override = os.environ.get(CONFIG_DIR_ENV)
    candidates = [Path(override)] if override else []
    candidates += [_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf"]
    for candidate in candidates:
        if (candidate / "train.yaml").is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"resume-ner cannot find its config directory (looked for train.yaml in: {tried}). "
        f"Reinstall the package (`pip install -e .` from the repository root), or set "
        f"{CONFIG_DIR_ENV} to the repository's conf/ folder."
    )
