"""A trained model, ready to turn texts into entity spans: a checkpoint (PyTorch) or a
converted package (ONNX Runtime, resume_ner.convert.package), behind the same `predict`.

Loading a package and predicting imports neither torch, Hydra nor OmegaConf: a service can
run on onnxruntime, tokenizers/transformers and numpy alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from resume_ner.checkpoints import read_inference_bundle
from resume_ner.convert.package import is_package, read_package
from resume_ner.decoding import PredictedSpan, check_min_span_score
from resume_ner.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from resume_ner.convert.package import Package

ONNX_MODELS = ("int8", "fp32")
CPU_DEVICES = ("auto", "cpu")


class Predictor:
    """Loads a checkpoint or a package once; `predict` runs the shared windowing and decoding."""

    def __init__(
        self,
        source: str | Path,
        device: str = "auto",
        batch_size: int = 32,
        stride: int | None = None,
        min_span_score: float | None = None,
        *,
        onnx_model: str = "int8",
        threads: int | None = None,
    ) -> None:
        """source: a checkpoint or package folder; stride and min_span_score: None takes the
        label map's; onnx_model: which model of a package (int8 | fp32), ignored for a
        checkpoint; threads: intra-op threads (None: the runtime's default)."""
        check_onnx_model(onnx_model)
        if threads is not None and int(threads) < 1:
            raise ConfigError(f"threads={threads}: give a positive number of threads, or null")
        self.package: Package | None = None
        if is_package(source):
            self._load_package(source, device, onnx_model, threads)
        else:
            self._load_checkpoint(source, device, threads)
        self.batch_size = batch_size
        self.stride = self.bundle.stride if stride is None else stride
        self.min_span_score = (
            self.bundle.min_span_score
            if min_span_score is None
            else check_min_span_score(min_span_score, "min_span_score")
        )

    def _load_package(
        self, folder: str | Path, device: str, onnx_model: str, threads: int | None
    ) -> None:
        """The ONNX Runtime backend: CPU only, no torch."""
        from resume_ner.convert.onnx_forward import onnx_forward
        from resume_ner.tokenizer import load_saved_fast_tokenizer

        if device not in CPU_DEVICES:
            raise ConfigError(
                f"device={device}: a converted package runs on the CPU through ONNX Runtime; "
                f"use device=auto or device=cpu (or a checkpoint folder for {device})"
            )
        self.package = read_package(folder)
        if onnx_model not in self.package.models:
            raise ConfigError(
                f"onnx_model={onnx_model}: the package {self.package.folder} holds only "
                f"{', '.join(sorted(self.package.models))}; pick one of those"
            )
        self.bundle = self.package.bundle
        self.device: Any = "cpu"
        self.tokenizer = load_saved_fast_tokenizer(str(self.package.folder))
        self.forward = onnx_forward(self.package.models[onnx_model], threads=threads)
        self.backend = f"onnx-{onnx_model}"

    def _load_checkpoint(self, checkpoint: str | Path, device: str, threads: int | None) -> None:
        """The PyTorch backend (torch imported only here)."""
        from resume_ner.modeling import load_trained, pick_device, pick_dtype, torch_forward
        from resume_ner.tokenizer import load_tokenizer

        self.bundle = read_inference_bundle(checkpoint)
        if threads is not None:
            import torch

            torch.set_num_threads(int(threads))
        self.device = pick_device(device)
        self.tokenizer = load_tokenizer(str(self.bundle.folder))
        model = load_trained(self.bundle.folder, self.device)
        self.forward = torch_forward(model, self.device, pick_dtype("auto", self.device))
        self.backend = "torch"

    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

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

    # `predict` in three steps, for a caller that runs the windows of several calls in one
    # forward (the service's micro-batching): encode, window_probabilities, decode.

    def encode(self, texts: list[str]) -> tuple[list[Any], list[Any]]:
        """Each text tokenized once and cut into windows, as `predict` does."""
        from resume_ner.windows import build_windows

        return build_windows(
            self.tokenizer,
            texts,
            self.bundle.max_length,
            self.stride,
            word_features=self.bundle.word_features,
        )

    def probabilities(self, windows: list[Any]) -> list[Any]:
        """Class probabilities per content token of each window (one forward per batch)."""
        from resume_ner.inference import padding_id, window_probabilities

        return window_probabilities(
            windows, self.forward, padding_id(self.tokenizer), self.batch_size
        )

    def decode(
        self, texts: list[str], encodings: list[Any], windows: list[Any], probabilities: list[Any]
    ) -> list[list[PredictedSpan]]:
        """The spans of each text from its windows' probabilities, as `predict` decodes."""
        from resume_ner.inference import decode_documents

        return decode_documents(
            texts,
            encodings,
            windows,
            probabilities,
            self.bundle.id2label,
            self.bundle.conventions,
            self.min_span_score,
        )


def check_onnx_model(name: str) -> str:
    """onnx_model, one of ONNX_MODELS."""
    if name not in ONNX_MODELS:
        raise ConfigError(
            f"onnx_model={name}: a package holds the models {' and '.join(ONNX_MODELS)}; "
            f"use onnx_model=int8 (the default, smaller and faster) or onnx_model=fp32"
        )
    return name


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
