"""An ONNX Runtime session as the numpy-in, numpy-out forward of resume_ner.inference.

Deliberately light: onnxruntime and numpy only, never torch, hydra or omegaconf, so a
service can predict from an exported model without installing the training stack.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from resume_ner.errors import CheckpointError

OUTPUT_NAME = "logits"


def onnx_forward(
    model_path: Path, *, threads: int | None = None
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """`forward(inputs) -> logits [batch, length, labels]` running `model_path` on the CPU."""
    import onnxruntime as ort

    path = Path(model_path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"{model_path}: no such ONNX model; export one from a checkpoint first "
            f"(resume_ner.convert.export.export_onnx)"
        )
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1  # one graph runs at a time: parallelism is intra-op
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    names = [value.name for value in session.get_inputs()]
    outputs = [value.name for value in session.get_outputs()]
    output = OUTPUT_NAME if OUTPUT_NAME in outputs else outputs[0]

    def forward(inputs: dict[str, np.ndarray]) -> np.ndarray:
        missing = [name for name in names if name not in inputs]
        if missing:
            # token_type_ids missing: the model reads word classes and the caller passed
            # word_features=False (or the reverse mismatch is silently harmless: extra
            # inputs are not fed, exactly as the graph declares).
            raise ValueError(
                f"the ONNX model {path.name} takes {names}; the inputs lack {missing} (pass "
                f"word_features as the checkpoint's label map says)"
            )
        # ONNX Runtime checks dtypes strictly: the graph's ids are int64.
        feed = {name: np.asarray(inputs[name], dtype=np.int64) for name in names}
        return session.run([output], feed)[0]

    return forward
