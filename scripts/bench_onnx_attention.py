"""Which attention the ONNX export should carry: SDPA (as trained) or eager, fp32 and int8.

    python scripts/bench_onnx_attention.py CHECKPOINT [--threads 2] [--windows 16] [--rounds 3]

Exports CHECKPOINT twice with the conversion's own exporter (dynamo, in this process), once
per attention implementation, optimises each graph and quantizes it per-channel
(`dynamic_per_channel`), then times every graph on the same batch of full-length windows
of random token ids (best of --rounds, --threads intra-op threads) and prints ms per window
and the largest logit difference from PyTorch. Compare rows of one run only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from resume_ner.checkpoints import read_inference_bundle
    from resume_ner.convert.export import _export_model, input_names
    from resume_ner.convert.onnx_forward import onnx_forward
    from resume_ner.convert.quantize import optimise, quantize
    from resume_ner.modeling import load_trained, torch_forward

    bundle = read_inference_bundle(args.checkpoint)
    rng = np.random.default_rng(0)
    shape = (args.windows, bundle.max_length)
    inputs = {"input_ids": rng.integers(1000, 20000, shape), "attention_mask": np.ones(shape)}
    if bundle.word_features:
        inputs["token_type_ids"] = rng.integers(0, 9, shape)
    inputs = {name: inputs[name].astype(np.int64) for name in input_names(bundle.word_features)}

    torch.set_num_threads(args.threads)
    model = load_trained(bundle.folder, torch.device("cpu"))
    forwards = {"torch (as trained)": torch_forward(model, torch.device("cpu"), None)}
    with tempfile.TemporaryDirectory(prefix="bench-attention-") as work:
        for attention in ("sdpa", "eager"):
            folder = Path(work) / attention
            folder.mkdir()
            _export_model(bundle.folder, folder / "model.onnx", 18, attention=attention)
            fp32 = optimise(folder / "model.onnx", folder / "optimised.onnx")
            int8 = quantize(fp32, folder / "int8.onnx", "dynamic_per_channel")
            forwards[f"onnx-fp32 ({attention})"] = onnx_forward(fp32, threads=args.threads)
            forwards[f"onnx-int8 ({attention})"] = onnx_forward(int8, threads=args.threads)
        reference = None
        print(f"{'graph':<22} {'ms/window':>9} {'max |dlogit|':>12}")
        for name, forward in forwards.items():
            logits = forward(inputs)  # warm-up, and the logits compared
            best = min(_timed(forward, inputs) for _ in range(args.rounds))
            reference = logits if reference is None else reference
            diff = float(np.abs(logits - reference).max())
            print(f"{name:<22} {1000 * best / args.windows:>9.1f} {diff:>12.3g}")
    return 0


def _timed(forward, inputs) -> float:
    start = time.perf_counter()
    forward(inputs)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
