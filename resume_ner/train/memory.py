"""The memory guard: estimate a training step's peak memory from the model's dimensions and
shrink the micro-batch (raising gradient accumulation) until it fits the budget.

Nothing here is keyed on a model's name: the estimate reads the dimensions from the model's
config, so a new checkpoint is guarded the day it is added. The effective batch
(micro_batch * accumulation) never changes, so a run that was cut to fit trains on the same
optimisation schedule as the run that was asked for.

torch is imported lazily (only `available_memory_bytes` on a CUDA device needs it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resume_ner.errors import ConfigError, MemoryBudgetError

logger = logging.getLogger(__name__)

GIB = 2**30

# Activations kept for backward per transformer layer, in elements per token (see
# `estimate_peak_bytes`). Measured BERT-style layers keep about 9*hidden + 2*intermediate
# and 2.5 attention maps (Korthikanti et al. 2022, "Reducing Activation Recomputation in
# Large Transformer Models"); the constants round each term up.
HIDDEN_TERMS = 10
INTERMEDIATE_TERMS = 3
ATTENTION_MAPS = 3
EMBEDDING_TERMS = 4
LOGIT_TERMS = 3
# AdamW keeps exp_avg and exp_avg_sq in fp32 whatever the parameters' dtype.
ADAM_STATE_BYTES = 8
# Allocator fragmentation, the CUDA context / framework buffers and kernels' scratch space.
SAFETY_FACTOR = 1.15

# BERT-base, used for any dimension a config does not state.
_DEFAULTS = {"hidden": 768, "layers": 12, "intermediate": 3072, "vocab": 30522}
_ALIASES = {
    "hidden": ("hidden_size", "d_model", "n_embd", "dim"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "intermediate": ("intermediate_size", "hidden_dim", "ffn_dim", "d_ff", "n_inner"),
    "vocab": ("vocab_size",),
    "positions": ("max_position_embeddings", "n_positions"),
}


def _dim(config: Any, key: str) -> int | None:
    for name in _ALIASES[key]:
        value = getattr(config, name, None)
        if value is None and isinstance(config, dict):
            value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def model_dimensions(config: Any) -> dict[str, int]:
    """hidden, layers, heads, intermediate, vocab, positions, labels of a model config.

    Missing or null attributes fall back sensibly: BERT-base sizes for hidden/layers/vocab,
    4*hidden for the feed-forward width, one head per 64 hidden units, 512 positions.
    """
    hidden = _dim(config, "hidden") or _DEFAULTS["hidden"]
    heads = _dim(config, "heads") or max(1, hidden // 64)
    id2label = getattr(config, "id2label", None)
    labels = getattr(config, "num_labels", None) or (len(id2label) if id2label else None) or 2
    return {
        "hidden": hidden,
        "layers": _dim(config, "layers") or _DEFAULTS["layers"],
        "heads": heads,
        "intermediate": _dim(config, "intermediate") or 4 * hidden,
        "vocab": _dim(config, "vocab") or _DEFAULTS["vocab"],
        "positions": _dim(config, "positions") or 512,
        "labels": int(labels),
    }


def estimate_num_parameters(config: Any) -> int:
    """Parameters of a BERT-style encoder with these dimensions (when the caller has none)."""
    d = model_dimensions(config)
    h, i = d["hidden"], d["intermediate"]
    embeddings = (d["vocab"] + d["positions"] + 2) * h + 2 * h
    layer = 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h
    head = h * d["labels"] + d["labels"]
    return embeddings + d["layers"] * layer + head


def estimate_peak_bytes(
    config: Any,
    num_parameters: int,
    micro_batch: int,
    seq_len: int,
    param_bytes: int = 4,
    activation_bytes: int = 4,
    average_bytes: int = 0,
) -> int:
    """A conservative estimate of the peak memory of one AdamW training step, in bytes.

    With P parameters, micro-batch B, sequence length S, hidden size h, feed-forward width i,
    a heads, L layers and C labels::

        static      = P * (2 * param_bytes      # weights + gradients
                           + 8                  # AdamW exp_avg + exp_avg_sq, fp32
                           + param_bytes        # the foreach optimizer's temporaries
                           + average_bytes)     # the weight average, 4 when kept (fp32)
        per_layer   = B*S*(10*h + 3*i) + 3*B*a*S^2          # elements kept for backward
        activations = activation_bytes * ((L + 1) * per_layer   # +1: backward's working set
                                          + 4*B*S*h             # embeddings, LayerNorm, dropout
                                          + 3*B*S*C)            # logits, softmax, their grad
        peak        = 1.15 * (static + activations)

    The per-layer constants round up the measured ~9h + 2i elements per token and 2.5
    attention maps of a BERT layer (Korthikanti et al. 2022): the query/key/value inputs,
    the attention scores and probabilities and their dropout, the feed-forward input and
    pre/post-activation, LayerNorm inputs and dropout masks (counted at full width). The
    S^2 maps are what an eager or "math" attention keeps; fused SDPA kernels keep fewer, so
    the estimate errs high there. The 1.15 covers allocator fragmentation and framework
    buffers. `param_bytes` is 4 for fp32 weights (also under autocast, which keeps fp32
    master weights); `activation_bytes` is 2 under bf16/fp16 autocast, 4 in fp32.
    `num_parameters` <= 0 means "unknown": it is then estimated from the config.
    """
    if micro_batch < 1 or seq_len < 1:
        raise ValueError(f"micro_batch and seq_len must be positive, got {micro_batch}, {seq_len}")
    d = model_dimensions(config)
    params = num_parameters if num_parameters > 0 else estimate_num_parameters(config)
    static = params * (2 * param_bytes + ADAM_STATE_BYTES + param_bytes + average_bytes)
    tokens = micro_batch * seq_len
    per_layer = tokens * (HIDDEN_TERMS * d["hidden"] + INTERMEDIATE_TERMS * d["intermediate"])
    per_layer += ATTENTION_MAPS * micro_batch * d["heads"] * seq_len * seq_len
    activations = (d["layers"] + 1) * per_layer
    activations += EMBEDDING_TERMS * tokens * d["hidden"] + LOGIT_TERMS * tokens * d["labels"]
    return math.ceil(SAFETY_FACTOR * (static + activation_bytes * activations))


def _cgroup_available_bytes() -> int | None:
    """Memory left under this container's cgroup limit (v2, then v1), if there is one."""
    candidates = (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    )
    for limit_file, usage_file in candidates:
        try:
            limit_text = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max":
            return None
        try:
            limit = int(limit_text)
        except ValueError:
            return None
        if limit >= 2**60:  # v1's "no limit"
            return None
        return max(0, limit - usage)
    return None


def available_memory_bytes(device: str) -> int:
    """Memory a training step may use now: free VRAM on CUDA, available RAM otherwise.

    On CPU (and on MPS, whose memory is the host's) this is psutil's available memory,
    lowered to what the container's cgroup limit leaves where there is one.
    """
    device = str(device)
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    import psutil

    available = int(psutil.virtual_memory().available)
    cgroup = _cgroup_available_bytes()
    return min(available, cgroup) if cgroup is not None else available


@dataclass
class MemoryPlan:
    micro_batch: int
    accumulation: int
    effective_batch: int
    estimated_bytes: int
    budget_bytes: int
    reduced: bool


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def plan_batch(
    config: Any,
    num_parameters: int,
    batch_size: int,
    accumulation: int,
    seq_len: int,
    device: str,
    fraction: float,
    budget_gb: float | None,
    param_bytes: int = 4,
    activation_bytes: int = 4,
    average_bytes: int = 0,
) -> MemoryPlan:
    """The micro-batch and accumulation to train with under the memory budget.

    The budget is `budget_gb` GiB when given, else `fraction` of `available_memory_bytes`.
    When the requested batch does not fit, the micro-batch becomes the largest divisor of
    the effective batch (batch_size * accumulation) below batch_size that fits, and the
    accumulation rises so that micro_batch * accumulation equals the effective batch
    exactly. Raises MemoryBudgetError when even one sequence per step does not fit.
    """
    if batch_size < 1 or accumulation < 1:
        raise ValueError(
            f"batch_size and accumulation must be positive, got {batch_size}, {accumulation}"
        )
    if budget_gb is not None:
        if budget_gb <= 0:
            raise ConfigError(f"training.memory_budget_gb must be positive, got {budget_gb}")
        budget = int(budget_gb * GIB)
    else:
        if not 0 < fraction <= 1:
            raise ConfigError(f"training.memory_fraction must be in (0, 1], got {fraction}")
        budget = int(available_memory_bytes(device) * fraction)

    effective = batch_size * accumulation

    def estimate(micro: int) -> int:
        return estimate_peak_bytes(
            config, num_parameters, micro, seq_len, param_bytes, activation_bytes, average_bytes
        )

    requested = estimate(batch_size)
    if requested <= budget:
        return MemoryPlan(batch_size, accumulation, effective, requested, budget, reduced=False)

    for micro in sorted((d for d in range(1, batch_size) if effective % d == 0), reverse=True):
        needed = estimate(micro)
        if needed <= budget:
            plan = MemoryPlan(micro, effective // micro, effective, needed, budget, reduced=True)
            logger.warning(
                "memory guard: batch_size=%d x accumulation=%d at max_length=%d needs about %s "
                "but the budget is %s on %s; training with micro-batch %d x accumulation %d "
                "(about %s), the same effective batch of %d",
                batch_size,
                accumulation,
                seq_len,
                _gib(requested),
                _gib(budget),
                device,
                plan.micro_batch,
                plan.accumulation,
                _gib(needed),
                effective,
            )
            return plan

    needed = estimate(1)
    source = (
        f"training.memory_budget_gb={budget_gb}"
        if budget_gb is not None
        else f"training.memory_fraction={fraction} of the {_gib(budget / fraction)} available "
        f"on {device}"
    )
    raise MemoryBudgetError(
        f"even a micro-batch of 1 sequence of {seq_len} tokens needs about {_gib(needed)} "
        f"({needed} bytes) but the memory budget is {_gib(budget)} ({budget} bytes, {source}). "
        "Lower training.max_length, pick a smaller model, or raise training.memory_budget_gb "
        "(or training.memory_fraction) if the machine has the memory."
    )
