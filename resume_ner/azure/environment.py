"""The software a remote job runs in: a registered environment named in config, or one built
from the project's own dependency list (the same pins as pyproject.toml, this Python's
version, the base image of the `env` group), so a job never runs with other pins than the
ones the tests ran with."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from resume_ner.errors import RemoteError

# The extras a remote job needs: MLflow's azureml:// store, and ONNX for the conversion.
EXTRAS = ("onnx",)
EXTRA_PACKAGES = ("azureml-mlflow",)
# The CPU build of torch: on a cluster without GPUs a plain `torch` pulls the CUDA wheels.
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def project_requirements(root: Path) -> list[str]:
    """The dependencies of pyproject.toml at `root`, with the extras a job needs."""
    project = _pyproject(root)["project"]
    extras = project.get("optional-dependencies", {})
    wanted = [req for extra in EXTRAS for req in extras.get(extra, [])]
    wanted += [
        req for req in extras.get("azure", []) if re.split(r"[<>=!~;\[ ]", req)[0] in EXTRA_PACKAGES
    ]
    return [*project["dependencies"], *wanted]


def _pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        raise RemoteError(
            f"no pyproject.toml in {root}: remote jobs are submitted from a checkout of the "
            f"repository (its root is the job's code snapshot)"
        )
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(path.read_text(encoding="utf-8"))


def conda_spec(root: Path, gpus: int) -> dict[str, Any]:
    """A conda specification: this Python's version and the project's pip requirements."""
    pip = [f"--extra-index-url {CPU_TORCH_INDEX}"] if gpus == 0 else []
    pip += project_requirements(root)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        "name": "resume-ner",
        "channels": ["conda-forge"],
        "dependencies": [f"python={version}", "pip", {"pip": pip}],
    }


def job_environment(env_cfg: Any, compute_cfg: Any, root: Path) -> Any:
    """`env.environment` (a registered NAME:VERSION or NAME@latest) or an environment built
    from `env.environment_image` and the project's requirements (or `env.conda_file`)."""
    from azure.ai.ml.entities import Environment

    registered = env_cfg.get("environment")
    if registered:
        text = str(registered).removeprefix("azureml:")
        if ":" not in text and "@" not in text:
            raise RemoteError(
                f"env.environment={registered}: name a registered environment as NAME:VERSION "
                f"or NAME@latest"
            )
        return f"azureml:{text}"
    image = env_cfg.get("environment_image")
    if not image:
        raise RemoteError(
            "env.environment_image is not set: give a base image (env=azure sets one) or a "
            "registered environment as env.environment=NAME:VERSION"
        )
    conda = env_cfg.get("conda_file")
    if conda and not Path(conda).is_file():
        raise RemoteError(f"env.conda_file={conda} does not exist")
    spec = conda or conda_spec(root, int(compute_cfg.get("gpus_per_node") or 0))
    return Environment(image=str(image), conda_file=spec)
