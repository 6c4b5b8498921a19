"""A remote job's command line: the same entrypoint and overrides as the local command, less
what chose the launcher and the sweep, with each input, output and sampled value read from
its Azure ML placeholder (`${{inputs.data}}`, `${{outputs.checkpoint}}`,
`${{search_space.learning_rate}}`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resume_ner.config.overrides import is_hydra_key, parse_overrides

PLACEHOLDER = re.compile(r"\$\{\{\s*(?P<kind>[A-Za-z_]+)\.(?P<name>[A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True)
class Entrypoint:
    """A command that runs remotely: its module and the output it writes, if any."""

    config_name: str
    module: str
    # The job output it writes (uri_folder, rw_mount) and the key that points it there.
    output: str | None = None
    output_key: str | None = None


ENTRYPOINTS = {
    "train": Entrypoint("train", "resume_ner.train", "checkpoint", "training.output_dir"),
    "convert": Entrypoint("convert", "resume_ner.convert", "package", "output"),
    "data_cli": Entrypoint("data_cli", "resume_ner.data"),
}


def output_override(entry: Entrypoint) -> list[str]:
    if entry.output is None:
        return []
    return [f"{entry.output_key}=${{{{outputs.{entry.output}}}}}"]


def remote_overrides(overrides: Sequence[str], replaced: Iterable[str]) -> list[str]:
    """`overrides` less Hydra's own (hydra/launcher=..., hydra.*) and those setting a key in
    `replaced` (which the job reads from an input or writes to an output instead)."""
    replaced = set(replaced)
    kept = []
    for text in overrides:
        parsed = parse_overrides([text])
        key = parsed[0].key_or_group if parsed else text.split("=", 1)[0].lstrip("+~")
        if is_hydra_key(key) or key in replaced:
            continue
        kept.append(text)
    return kept


def command_line(entry: Entrypoint, arguments: Sequence[str], subcommand: str | None = None) -> str:
    """`python -m <module> [subcommand] <arguments>`, each word quoted for the shell as
    needed (a placeholder is left as it is: Azure ML replaces it before the shell runs)."""
    words = ["python", "-m", entry.module, *([subcommand] if subcommand else []), *arguments]
    return " ".join(_shell_word(word) for word in words)


def _shell_word(word: str) -> str:
    plain = PLACEHOLDER.sub("x", word)
    return word if shlex.quote(plain) == plain else shlex.quote(word)


def placeholders(command: str) -> list[tuple[str, str]]:
    """Every (kind, name) of the `${{kind.name}}` placeholders in a command."""
    return [(m["kind"], m["name"]) for m in PLACEHOLDER.finditer(command)]
