"""The CUDA path on a GPU machine: the training seam in bf16, and the memory guard on VRAM.

    python scripts/cuda_check.py [--json OUT.json]

CI has no GPU, so this is run by hand where one is lent (docs/benchmarks.md has the
figures). Everything is built on the spot, nothing is downloaded: a WordPiece tokenizer
trained on the bundled synthetic resumes and random BERT encoders from a config.

1. Seam: `build_trainer` (what `train` uses) on cuda with training.precision=auto, 3
   epochs planned, an on_epoch callback that raises StopTraining after epoch 2. Checks:
   autocast is bf16, the model lives on the GPU, the loss is finite, two epochs ran and
   the stop reason is reported.
2. Guard: for BERT-base-sized random encoders, the memory guard's estimate of one
   training step's peak against torch.cuda.max_memory_allocated over real steps (fp32 and
   bf16 autocast), printed as estimate / measured: above 1 means the guard is on the safe
   side. Then a budget between one sequence and the whole batch: the plan is reduced, and
   a reduced epoch trains; a budget below one sequence raises MemoryBudgetError.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SEQ_LEN = 64


def tiny_encoder(folder: Path, hidden: int = 64, layers: int = 2) -> str:
    """A WordPiece tokenizer trained on synthetic resumes and a random BERT, saved."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from resume_ner.data.synthetic import generate

    folder.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator([d.text for d in generate(80, seed=3)], vocab_size=3000)
    # BertWordPieceTokenizer's backend adds [CLS] ... [SEP] and keeps character offsets.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 32),
        intermediate_size=4 * hidden,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    return str(folder)


def compose(model: str, *extra: str) -> Any:
    from resume_ner.config.compose import compose_train

    return compose_train(
        [
            f"model.pretrained={model}",
            "model.freeze_word_embeddings=false",
            "data.sample.num_docs=24",
            "data.sample.long_fraction=0",
            "data.split.val_fraction=0.25",
            "training.device=cuda",
            "training.precision=auto",
            "training.epochs=3",
            f"training.max_length={SEQ_LEN}",
            "training.stride=16",
            "training.batch_size=8",
            "training.learning_rate=0.001",
            "training.warmup_ratio=0.0",
            *extra,
        ]
    )


def _trainer(cfg: Any, out_dir: Path, **changes: Any) -> Any:
    import torch

    from resume_ner.data.load import load_splits
    from resume_ner.tokenizer import load_tokenizer
    from resume_ner.train.run import build_trainer, label_maps

    splits = load_splits(cfg.data)
    id2label, label2id = label_maps(splits.train + splits.val)
    return build_trainer(
        cfg,
        source=cfg.model.pretrained,
        tokenizer=load_tokenizer(cfg.model.pretrained),
        train_documents=splits.train,
        val_documents=splits.val,
        id2label=id2label,
        label2id=label2id,
        out_dir=out_dir,
        fingerprint="cuda-check",
        device=torch.device("cuda"),
        resume="never",
        **changes,
    )


def check_seam(model: str, work: Path) -> dict[str, Any]:
    import torch

    from resume_ner.train.run import StopTraining

    seen: list[int] = []

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        seen.append(epoch)
        if epoch == 2:
            raise StopTraining("stopped by cuda_check after epoch 2")

    trainer = _trainer(compose(model), work / "seam", on_epoch=on_epoch)
    started = time.perf_counter()
    result = trainer.fit()
    seconds = time.perf_counter() - started
    losses = [h["train_loss"] for h in result.history]
    checks = {
        "autocast is bf16": trainer.dtype == torch.bfloat16,
        "model on cuda": next(trainer.model.parameters()).device.type == "cuda",
        "losses finite": all(math.isfinite(x) for x in losses),
        "on_epoch saw epochs 1, 2": seen == [1, 2],
        "two epochs, stop reason kept": result.epochs_completed == 2
        and result.stop_reason == "stopped by cuda_check after epoch 2",
        "state saved": (work / "seam" / "training_state").is_dir(),
    }
    return {
        "checks": checks,
        "train_loss": losses,
        "val_f1": [h["val_f1"] for h in result.history],
        "plan": vars(trainer.plan),
        "seconds": seconds,
    }


def measured_peak(model: Any, batch: int, seq_len: int, dtype: Any) -> int:
    """torch.cuda.max_memory_allocated over two AdamW steps of random token batches."""
    import torch
    import torch.nn.functional as F

    from resume_ner.modeling import autocast

    device = torch.device("cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    labels_count = model.config.num_labels
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        ids = torch.randint(0, model.config.vocab_size, (batch, seq_len), device=device)
        labels = torch.randint(0, labels_count, (batch, seq_len), device=device)
        with autocast(device, dtype):
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        loss = F.cross_entropy(logits.float().reshape(-1, labels_count), labels.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def check_guard_estimate() -> list[dict[str, Any]]:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from resume_ner.modeling import count_parameters
    from resume_ner.train.memory import estimate_peak_bytes

    rows = []
    config = BertConfig(num_labels=33, attn_implementation="sdpa")  # BERT-base dimensions
    for batch, seq_len in ((16, 256), (32, 512)):
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            torch.manual_seed(0)
            model = BertForTokenClassification(config).cuda()
            params = count_parameters(model)
            # As a run plans it (train.run.memory_plan: fp32 activations, whatever the
            # precision), and with 2-byte activations for the autocast rows.
            estimate = estimate_peak_bytes(config, params, batch, seq_len)
            half = estimate_peak_bytes(config, params, batch, seq_len, activation_bytes=2)
            measured = measured_peak(model, batch, seq_len, dtype)
            rows.append(
                {
                    "batch": batch,
                    "seq_len": seq_len,
                    "precision": name,
                    "estimate_gib": estimate / 2**30,
                    "estimate_2byte_activations_gib": half / 2**30,
                    "measured_gib": measured / 2**30,
                    "estimate_over_measured": estimate / measured,
                    "estimate_2byte_over_measured": half / measured,
                }
            )
            del model
            torch.cuda.empty_cache()
    return rows


def check_reduced_plan(model: str, work: Path) -> dict[str, Any]:
    from resume_ner.errors import MemoryBudgetError
    from resume_ner.modeling import count_parameters
    from resume_ner.train.memory import estimate_peak_bytes

    probe = _trainer(compose(model), work / "probe")
    config, params = probe.model.config, count_parameters(probe.model)
    one, full = (estimate_peak_bytes(config, params, n, SEQ_LEN) for n in (1, 8))
    budget_gb = (one + full) / 2 / 2**30  # room for a few sequences, not for 8
    cfg = compose(model, f"training.memory_budget_gb={budget_gb}", "training.epochs=1")
    reduced = _trainer(cfg, work / "reduced")
    result = reduced.fit()
    refused = None
    try:
        _trainer(compose(model, f"training.memory_budget_gb={one / 2 / 2**30}"), work / "no")
    except MemoryBudgetError as error:
        refused = str(error)
    return {
        "checks": {
            "plan reduced": reduced.plan.reduced and reduced.plan.micro_batch < 8,
            "effective batch kept": reduced.plan.micro_batch * reduced.plan.accumulation == 8,
            "reduced epoch trains": math.isfinite(result.history[0]["train_loss"]),
            "budget below one sequence refused": refused is not None,
        },
        "plan": vars(reduced.plan),
        "refusal": refused,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("cuda_check: no CUDA device here; run it on a GPU machine", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "free_vram_gib": torch.cuda.mem_get_info()[0] / 2**30,
    }
    with tempfile.TemporaryDirectory(prefix="cuda-check-") as tmp:
        work = Path(tmp)
        model = tiny_encoder(work / "tiny-bert")
        report["seam"] = check_seam(model, work)
        report["guard_estimate"] = check_guard_estimate()
        report["reduced_plan"] = check_reduced_plan(model, work)
    print(json.dumps(report, indent=2, default=str))
    for part in ("seam", "reduced_plan"):
        for name, ok in report[part]["checks"].items():
            print(f"{'ok  ' if ok else 'FAIL'} {part}: {name}")
    for row in report["guard_estimate"]:
        print(
            f"guard {row['precision']} batch {row['batch']} x {row['seq_len']}: estimate "
            f"{row['estimate_gib']:.2f} GiB (2-byte activations "
            f"{row['estimate_2byte_activations_gib']:.2f}), measured "
            f"{row['measured_gib']:.2f} GiB, ratio {row['estimate_over_measured']:.2f} "
            f"({row['estimate_2byte_over_measured']:.2f})"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    parts = ("seam", "reduced_plan")
    return 0 if all(all(report[p]["checks"].values()) for p in parts) else 1


if __name__ == "__main__":
    from resume_ner.cli import exit_on_user_error

    with exit_on_user_error():
        sys.exit(main(sys.argv[1:]))
