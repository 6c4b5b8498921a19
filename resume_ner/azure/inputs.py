"""What a remote job reads, as Azure ML inputs: a data asset by reference, never a datastore
path built by hand, and a checkpoint as a training job's output or a registered model.

    data.asset=NAME:VERSION (or azureml:NAME:VERSION)   -> Input(uri_file, azureml:NAME:VERSION)
    data.asset_file=FILE (a file in a uri_folder asset) -> Input(uri_folder, ...), FILE inside
    checkpoint=azureml://jobs/<job>/outputs/checkpoint  -> Input(uri_folder, that URI)
    checkpoint=azureml:NAME:VERSION                     -> Input(custom_model, azureml:NAME:VERSION)

The job's command reads each input from its `${{inputs.<name>}}` placeholder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from resume_ner.errors import RemoteError

# An asset's name: Azure ML allows letters, digits, '-', '_' and '.'.
ASSET = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*):(?P<version>[0-9A-Za-z.\-_]+)")
JOB_OUTPUT = re.compile(r"azureml://jobs/(?P<job>[^/]+)/outputs/(?P<output>[^/]+)(?:/.*)?")
MOUNT = "ro_mount"


@dataclass(frozen=True)
class AssetRef:
    name: str
    version: str

    @property
    def uri(self) -> str:
        return f"azureml:{self.name}:{self.version}"


def parse_asset(ref: str, key: str) -> AssetRef:
    """NAME:VERSION or azureml:NAME:VERSION; anything else names `key` and the form."""
    match = ASSET.fullmatch(str(ref).strip().removeprefix("azureml:"))
    if not match or match["version"] == "latest":
        raise RemoteError(
            f"{key}={ref}: give a registered asset as NAME:VERSION (e.g. resumes:3 or "
            f"azureml:resumes:3), a pinned version so the job reads what was checked; "
            f"register a file with `python -m resume_ner.azure register-data FILE --name NAME`"
        )
    return AssetRef(match["name"], match["version"])


@dataclass(frozen=True)
class RemoteInput:
    """One input of a job: its Azure ML Input and the override that reads it in the job."""

    name: str
    type: str
    path: str
    # The override given to the entrypoint in the job, reading `${{inputs.<name>}}`.
    override: str

    def to_sdk(self) -> Any:
        from azure.ai.ml import Input

        return Input(type=self.type, path=self.path, mode=MOUNT)


def data_input(data_cfg: Any) -> RemoteInput | None:
    """The data asset of `data.asset`, read by the job as data.path (None: no asset)."""
    if not data_cfg.get("asset"):
        return None
    ref = parse_asset(data_cfg.asset, "data.asset")
    inside = data_cfg.get("asset_file")
    if inside:
        inside = str(inside).strip("/")
        return RemoteInput(
            "data", "uri_folder", ref.uri, f"data.path=${{{{inputs.data}}}}/{inside}"
        )
    return RemoteInput("data", "uri_file", ref.uri, "data.path=${{inputs.data}}")


def checkpoint_input(checkpoint: str | None) -> RemoteInput:
    """The checkpoint a remote conversion reads: a job's output or a registered model."""
    override = "checkpoint=${{inputs.checkpoint}}"
    text = str(checkpoint or "").strip()
    if JOB_OUTPUT.fullmatch(text):
        return RemoteInput("checkpoint", "uri_folder", text, override)
    if text.startswith("azureml:") and not text.startswith("azureml://"):
        ref = parse_asset(text, "checkpoint")
        return RemoteInput("checkpoint", "custom_model", ref.uri, override)
    raise RemoteError(
        f"checkpoint={checkpoint or 'null'}: a remote conversion reads a training job's "
        f"output (checkpoint=azureml://jobs/<job name>/outputs/checkpoint) or a registered "
        f"model (checkpoint=azureml:NAME:VERSION); a local folder is not on the cluster"
    )
