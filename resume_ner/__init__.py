"""resume-ner: train, tune, convert and serve named-entity recognition models for resumes."""

import os

# Nothing leaves the machine unless the user asks: the libraries' usage telemetry is off
# by default (a user can still set these variables to opt in).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

__version__ = "0.1.0"
