"""What micro-batching can win on this CPU: ms per window of a package's ONNX model by batch
size and intra-op threads, and two single-threaded sessions side by side.

    python scripts/bench_onnx_batching.py --package PKG [--model int8] [--length 256]

Windows of random token ids, all --length long (a resume's windows are nearly all full);
best of --rounds. If a forward of 16 windows costs 16 times one window's, batching the
windows of concurrent requests saves nothing on the model: the service's throughput is then
the model's, and only the per-request overhead around it is left to win.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _session(model: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _inputs(names: list[str], batch: int, length: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(0).integers(1000, 20000, (batch, length)).astype(np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return feeds


def _ms_per_window(session, batch: int, length: int, windows: int, rounds: int) -> float:
    names = [i.name for i in session.get_inputs()]
    feeds = _inputs(names, batch, length)
    session.run(None, feeds)
    best = float("inf")
    for _ in range(rounds):
        started, done = time.perf_counter(), 0
        while done < windows:
            session.run(None, feeds)
            done += batch
        best = min(best, (time.perf_counter() - started) / done * 1000)
    return best


def _side_by_side(model: Path, batch: int, length: int, windows: int) -> float:
    """Two sessions of one thread each, running at once: ms per window over both."""
    sessions = [_session(model, 1), _session(model, 1)]
    names = [i.name for i in sessions[0].get_inputs()]
    feeds = _inputs(names, batch, length)
    for session in sessions:
        session.run(None, feeds)
    runs = max(1, windows // (2 * batch))

    def work(session) -> None:
        for _ in range(runs):
            session.run(None, feeds)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (time.perf_counter() - started) / (2 * runs * batch) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, required=True)
    parser.add_argument("--model", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--windows", type=int, default=64, help="windows timed per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from resume_ner.convert.package import read_package

    model = read_package(args.package).models[args.model]
    rows = []
    for threads in (2, 1):
        session = _session(model, threads)
        for batch in (1, 4, 16):
            ms = _ms_per_window(session, batch, args.length, args.windows, args.rounds)
            rows.append({"threads": threads, "batch": batch, "ms_per_window": round(ms, 2)})
            print(f"{args.model} threads {threads} batch {batch:>2}: {ms:6.1f} ms/window")
    side = _side_by_side(model, 8, args.length, args.windows)
    rows.append({"threads": "2 sessions x 1", "batch": 8, "ms_per_window": round(side, 2)})
    print(f"{args.model} 2 sessions x 1 thread, batch 8: {side:6.1f} ms/window")
    one = next(r["ms_per_window"] for r in rows if r["threads"] == 2 and r["batch"] == 1)
    sixteen = next(r["ms_per_window"] for r in rows if r["threads"] == 2 and r["batch"] == 16)
    print(f"batch 16 / batch 1 at 2 threads: {sixteen / one:.2f}x the time per window")
    if args.json:
        args.json.write_text(json.dumps({"package": str(args.package), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
