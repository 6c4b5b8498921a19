"""The failures a user causes and can fix: bad settings, data, checkpoints, model sources,
memory budgets, tracking URIs and resumes.

This module is the bottom layer: it imports nothing of the project, so every other module
can raise these. They are plain exceptions: library code raises them and a caller (a
sweep trial, a test, a service) may catch them and go on. Only the command-line boundary
(`resume_ner.cli`) turns one into a single `error: ...` line and exit status 2.
"""

from __future__ import annotations


class UserError(Exception):
    """A failure caused by settings or inputs; the message names the problem and the fix."""


class ConfigError(UserError, ValueError):
    """A config value or command-line argument that cannot be used."""


class DataError(UserError, ValueError):
    """Annotated data that cannot be used as it is; the message names where and why."""


class CheckpointError(UserError):
    """A checkpoint folder is absent, empty or incomplete: the message says which and why."""


class ModelSourceError(UserError):
    """The pretrained weights cannot be had: the message says what to set."""


class TokenizerError(UserError):
    """No usable fast tokenizer for a model: the message says why and what to do."""


class MemoryBudgetError(UserError):
    """Even a micro-batch of one sequence does not fit the memory budget."""


class TrackingError(UserError):
    """The tracking backend cannot be used; the message names the URI and the fix."""


class ResumeError(UserError):
    """The output folder holds state that cannot be resumed with this config."""


class RemoteError(UserError):
    """Azure ML cannot be used as configured (credentials, workspace, a job spec it would
    refuse): the message says what to set."""
