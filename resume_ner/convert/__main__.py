"""`python -m resume_ner.convert checkpoint=REF [output=DIR]`: ONNX export, int8 quantization
and a parity check into one package folder (see resume_ner/convert/pipeline.py).

Exit status: 0 when the package passed every parity threshold; 2 with one `error:` line
naming the failed check (or the bad setting, missing checkpoint, phase timeout) otherwise.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from resume_ner.cli import run_dir, run_hydra


def convert_task(cfg: DictConfig) -> None:
    from resume_ner.convert.pipeline import convert

    # Our phases' progress at INFO; the libraries' INFO chatter (onnxruntime's quantizer logs
    # every tensor on the root logger) stays out, their warnings do not.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("resume_ner").setLevel(logging.INFO)
    convert(cfg, run_dir())


def main() -> None:
    run_hydra(convert_task, "convert")


if __name__ == "__main__":
    main()
