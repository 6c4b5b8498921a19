"""A trained checkpoint, ready to turn texts into entity spans (PyTorch backend)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resume_ner.checkpoints import read_inference_bundle
from resume_ner.decoding import PredictedSpan, check_min_span_score


class Predictor:
    """Loads a checkpoint folder once; `predict` runs the shared windowing and decoding."""

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "auto",
        batch_size: int = 32,
        stride: int | None = None,
        min_span_score: float | None = None,
    ) -> None:
        """stride and min_span_score: None takes the checkpoint's."""
        from resume_ner.modeling import load_trained, pick_device, pick_dtype, torch_forward
        from resume_ner.tokenizer import load_tokenizer

        self.bundle = read_inference_bundle(checkpoint)
        self.device = pick_device(device)
        self.tokenizer = load_tokenizer(str(self.bundle.folder))
        model = load_trained(self.bundle.folder, self.device)
        self.forward = torch_forward(model, self.device, pick_dtype("auto", self.device))
        self.batch_size = batch_size
        self.stride = self.bundle.stride if stride is None else stride
        self.min_span_score = (
            self.bundle.min_span_score
            if min_span_score is None
            else check_min_span_score(min_span_score, "min_span_score")
        )

    @property
    def labels(self) -> list[str]:
        return sorted({label[2:] for label in self.bundle.id2label.values() if label != "O"})

    def predict(self, texts: list[str], finish: bool = True) -> list[list[PredictedSpan]]:
        """The spans of each text; finish=False: before the floor and repeats (finish_spans)."""
        from resume_ner.inference import predict_texts

        return predict_texts(
            texts,
            self.tokenizer,
            self.forward,
            self.bundle.id2label,
            max_length=self.bundle.max_length,
            stride=self.stride,
            batch_size=self.batch_size,
            word_features=self.bundle.word_features,
            conventions=self.bundle.conventions,
            min_score=self.min_span_score,
            finish=finish,
        )


def min_span_score_override(cfg: DictConfig) -> float | None:
    """predict's / evaluate's min_span_score, checked; None leaves the checkpoint's."""
    if cfg.min_span_score is None:
        return None
    return check_min_span_score(cfg.min_span_score, "min_span_score")


def min_span_score_sweep(cfg: DictConfig) -> list[float]:
    """evaluate's min_span_score_sweep, each floor checked."""
    return [
        check_min_span_score(value, "min_span_score_sweep") for value in cfg.min_span_score_sweep
    ]
