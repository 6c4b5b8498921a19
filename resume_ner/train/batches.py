"""Length-grouped batches with dynamic padding over the training windows.

An epoch's order depends only on (seed, epoch), never on the global RNG, so a resumed run
replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch

from resume_ner.inference import pad_batch
from resume_ner.windows import IGNORE_INDEX, Window

MEGABATCH_FACTOR = 50  # as Hugging Face's LengthGroupedSampler: sort within 50 batches


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Window indices for each (effective) batch of one epoch."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        mega = batch_size * MEGABATCH_FACTOR
        order = [
            i
            for start in range(0, len(order), mega)
            for i in sorted(order[start : start + mega], key=lambda j: -lengths[j])
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def micro_batches(batch: list[int], micro_batch: int) -> Iterator[list[int]]:
    for start in range(0, len(batch), micro_batch):
        yield batch[start : start + micro_batch]


def collate(windows: Sequence[Window], pad_token_id: int) -> dict[str, torch.Tensor]:
    """The model inputs and labels of some windows, padded to the longest (not max_length)."""
    inputs = {k: torch.from_numpy(v) for k, v in pad_batch(windows, pad_token_id).items()}
    labels = torch.full(inputs["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
    for row, window in enumerate(windows):
        labels[row, : len(window.labels)] = torch.as_tensor(window.labels, dtype=torch.long)
    inputs["labels"] = labels
    return inputs
