"""`python -m resume_ner.azure {status,download,register-data}`: Azure ML jobs and data.

    python -m resume_ner.azure status JOB
    python -m resume_ner.azure download JOB [--to DIR] [--output NAME]
    python -m resume_ner.azure register-data FILE --name NAME [--version V] [--strict]

The workspace is the one `env=azure` names (conf/env/azure.yaml): AZURE_SUBSCRIPTION_ID,
AZURE_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME, else --config-json PATH or the config.json
the portal and `az ml` write. Sign in with `az login` or a service principal's variables.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resume_ner.cli import exit_on_user_error
from resume_ner.data.readers import FORMATS
from resume_ner.errors import RemoteError


def env_config(config_json: str | None = None) -> Any:
    """conf/env/azure.yaml on the EnvConfig schema, as `env=azure` composes it."""
    from omegaconf import OmegaConf

    from resume_ner.config.schema import EnvConfig
    from resume_ner.paths import config_dir

    cfg = OmegaConf.merge(
        OmegaConf.structured(EnvConfig), OmegaConf.load(config_dir() / "env" / "azure.yaml")
    )
    if config_json:
        cfg.config_json = config_json
    return cfg


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per tool."""
    top = argparse.ArgumentParser(
        prog="python -m resume_ner.azure",
        description="Azure ML jobs and data of the workspace env=azure names.",
    )
    top.add_argument(
        "--config-json", metavar="PATH", help="the workspace's config.json (default: found)"
    )
    tools = top.add_subparsers(
        dest="tool", required=True, metavar="{status,download,register-data}"
    )

    status = tools.add_parser("status", help="a job's status, Studio link and children")
    status.add_argument("job", help="the job's name")

    download = tools.add_parser("download", help="a job's logs and outputs")
    download.add_argument("job", help="the job's name")
    download.add_argument("--to", metavar="DIR", help="destination (default: outputs/azure/JOB)")
    download.add_argument("--output", metavar="NAME", help="only this named output")

    data = tools.add_parser("register-data", help="check an annotation file, register it")
    data.add_argument("file", type=Path, help="the annotation file")
    data.add_argument("--name", required=True, help="the data asset's name")
    data.add_argument("--version", help="the asset version (default: the next one)")
    data.add_argument("--description", help="the asset's description")
    data.add_argument("--format", default="auto", choices=FORMATS, help="data.format")
    data.add_argument(
        "--strict", action="store_true", help="refuse while any defect is left unrepaired"
    )
    return top


def client(args: argparse.Namespace) -> Any:
    """The MLClient of the configured workspace."""
    from resume_ner.azure import workspace

    try:
        with workspace.azure_errors("connect to the Azure ML workspace"):
            return workspace.connect(env_config(args.config_json))
    except RemoteError as err:
        # The message names the Hydra key; this command takes the option.
        raise RemoteError(str(err).replace("env.config_json=PATH", "--config-json PATH")) from None


def run(args: argparse.Namespace) -> None:
    """Run the chosen tool."""
    from resume_ner.azure import tools

    if args.tool == "status":
        print(tools.format_status(tools.job_status(client(args), args.job)))
    elif args.tool == "download":
        to = Path(args.to) if args.to else Path("outputs") / "azure" / args.job
        tools.download_job(client(args), args.job, to, args.output)
        print(f"downloaded to {to}")
    else:
        # Checked here first: nothing is sent for a file the data layer refuses.
        tools.check_data_file(args.file, args.format, strict=args.strict)
        made = tools.register_data(
            client(args), args.file, args.name, version=args.version, description=args.description
        )
        print(f"registered data asset {made.name} version {made.version} ({made.path})")
        print(f"use it with: {made.override}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: parse the arguments, run the tool, report user errors as one line."""
    args = parser().parse_args(argv)
    with exit_on_user_error():
        run(args)


if __name__ == "__main__":
    main()
