"""Service benchmark: our web service on a converted package against a plain FastAPI endpoint
that calls the Hugging Face token-classification pipeline per request, on the same
checkpoint, under the same concurrent load on loopback.

    python scripts/bench_serve.py --package PKG                          # the benchmark
    python scripts/bench_serve.py --package PKG --clients 2 --seconds 3 --json bench.json

Servers, one after the other (never both at once, so they do not share the CPUs):

* service: `python -m resume_ner.serve model=PKG serve.host=127.0.0.1 serve.port=<free>
  serve.threads=<--threads> serve.precision=<--precision>`, every other setting its default
  (conf/serve/default.yaml: micro-batching across requests included).
* hf-pipeline: this script in `--serve-baseline CKPT --port P --threads N` mode: a FastAPI app
  run by uvicorn with the same `POST /v1/extract {"text"}` contract, whose sync endpoint (so
  FastAPI's threadpool) calls transformers.pipeline("token-classification",
  aggregation_strategy="simple", stride=<the checkpoint's stride>) per request, with the
  tokenizer's model_max_length set to the checkpoint's max_length, so its windows are ours,
  and torch.set_num_threads(--threads): the pipeline of scripts/bench_infer.py, built by its
  pipeline_runner. It is what someone would write first.

The checkpoint is the one the package was converted from (package.json "source"
"checkpoint"; --checkpoint names it when it lives elsewhere). It must be trained with word
classes off (model.word_features=off), as in the conversion benchmark: the pipeline cannot
compute word classes.

Load: --clients threads in this process, each with one keep-alive httpx.Client, send one
resume per request, back to back, cycling through the resumes in a shared order: a
--warmup-second warm-up, then a --seconds window. As wrk counts: requests/s, characters/s
and the latency percentiles (client side, connection kept alive) are of the requests
answered with 200 within the window; the requests in flight at its edges are left out.
Errors: a status other than 200, a body without "entities", or an exception (timeout,
refused connection), over the whole run (warm-up and the requests finished after the window
included, so that none goes unseen). The clients share the machine with the server under
test: on a 2-core machine they take a share of the CPUs the server could use, for both.

Resumes: the held-out test split of the DataTurks file (the shared file by default; --data
FILE), cut as scripts/bench_infer.py cuts it; without the file (or with --data sample), the
held-out split of the bundled synthetic sample (resume_ner.data.synthetic).

Target (issue "Serve"): at 8 concurrent clients, the service at least 3x the baseline's
requests/s, its p95 latency no worse, and no errors. A missed target prints MISS; the exit
status stays 0 (it is a benchmark). 2: a bad argument or folder, or a server that did not
start.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import bench_infer  # noqa: E402  (scripts/ is no package: this folder was put on the path)

REPO = SCRIPTS.parent
SERVICE = "service"
BASELINE = "hf-pipeline"
SPEED_TARGET = 3.0  # the service's requests/s over the baseline's
TARGET_CLIENTS = 8
SAMPLE = "sample"  # --data sample: the bundled synthetic resumes
TAIL_LINES = 40  # of a server's log, printed when it fails


# -- arguments -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Requests per second and latency of our web service and of a FastAPI "
        "endpoint calling the Hugging Face pipeline per request, on the same checkpoint, "
        "under the same concurrent load.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--package", type=Path, required=True, metavar="PKG", help="converted package folder"
    )
    parser.add_argument(
        "--checkpoint",
        "--package-checkpoint",
        dest="checkpoint",
        type=Path,
        default=None,
        metavar="CKPT",
        help="the checkpoint it was converted from (default: the one its package.json names)",
    )
    parser.add_argument("--clients", type=int, default=TARGET_CLIENTS, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="timed seconds per server")
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds of load before timing (not counted)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="compute threads of each server (serve.threads; the baseline's torch threads)",
    )
    parser.add_argument(
        "--precision", choices=("int8", "fp32"), default="int8", help="serve.precision"
    )
    parser.add_argument(
        "--serve",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another override of the service (e.g. --serve serve.batch_size=4), repeatable",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help=f"DataTurks JSONL file, or '{SAMPLE}' for the bundled synthetic resumes (default: "
        f"{bench_infer.DEFAULT_DATA} when present, else the sample)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=300.0, help="seconds a server may take to be ready"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=120.0, help="seconds a request may take"
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write the results here"
    )
    args = parser.parse_args(argv)
    for name in ("clients", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("seconds", "ready_timeout", "request_timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    return args


def parse_baseline_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The baseline server: the Hugging Face pipeline behind POST /v1/extract."
    )
    parser.add_argument("--serve-baseline", type=Path, required=True, metavar="CKPT")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


# -- the baseline server ---------------------------------------------------------------------
def baseline_app(checkpoint: Path, threads: int) -> Any:
    """The FastAPI app of the baseline: the pipeline, loaded and warmed up, per request."""
    import torch
    from fastapi import FastAPI
    from pydantic import BaseModel

    torch.set_num_threads(threads)
    model = bench_infer.resolve_model("serve-baseline", checkpoint, None)
    if model.bundle.word_features:
        from resume_ner.errors import CheckpointError

        raise CheckpointError(
            f"{model.checkpoint} reads word classes; the pipeline baseline needs a checkpoint "
            f"trained with model.word_features=off"
        )
    runner = bench_infer.pipeline_runner(model, batch_size=1)
    runner(["Warm-up resume: Python developer in Bengaluru."])
    described = {"name": BASELINE, "version": None, "precision": "fp32"}

    class ExtractRequest(BaseModel):
        text: str

    app = FastAPI(title="hf-pipeline baseline")

    def extract(request: ExtractRequest):
        spans = runner([request.text])[0]
        entities = [
            {
                "label": span.label,
                "start": span.start,
                "end": span.end,
                "text": request.text[span.start : span.end],
                "score": span.score,
            }
            for span in spans
        ]
        return {"entities": entities, "model": described}

    # `from __future__ import annotations` leaves the annotation a string FastAPI would look
    # up among the module's names; the class is local, so it is given as itself.
    extract.__annotations__["request"] = ExtractRequest
    app.post("/v1/extract")(extract)
    app.get("/ready")(lambda: {"status": "ready"})  # loaded and warmed up before listening
    app.get("/health")(lambda: {"status": "ok"})
    return app


def serve_baseline(argv: Sequence[str]) -> int:
    import uvicorn

    args = parse_baseline_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    app = baseline_app(args.serve_baseline, args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


# -- resumes ---------------------------------------------------------------------------------
def load_resumes(data: str | None) -> tuple[list[str], dict[str, Any]]:
    """The texts sent, and what they are: the DataTurks held-out split, else the sample's."""
    path = Path(data).expanduser() if data not in (None, SAMPLE) else None
    if data is None and bench_infer.DEFAULT_DATA.is_file():
        path = bench_infer.DEFAULT_DATA
    if path is not None:
        if not path.is_file():
            from resume_ner.errors import DataError

            raise DataError(
                f"--data {data}: no such file (resolved: {path.resolve()}); give the DataTurks "
                f"JSONL file, or --data {SAMPLE}"
            )
        documents, info = bench_infer.load_heldout(path)
        info["source"] = "dataturks"
    else:
        from resume_ner.config.compose import compose_train
        from resume_ner.data.load import load_splits

        cfg = compose_train(["data=sample"])
        splits = load_splits(cfg.data)
        documents = splits.test or splits.val
        info = {
            "source": "sample",
            "documents": len(splits.train) + len(splits.val) + len(splits.test),
            "heldout_documents": len(documents),
            "heldout_characters": sum(len(doc.text) for doc in documents),
            "sample": {"num_docs": cfg.data.sample.num_docs, "seed": cfg.data.sample.seed},
        }
        if data is None:
            info["note"] = f"no DataTurks file at {bench_infer.DEFAULT_DATA}"
    return [doc.text for doc in documents], info


def describe_resumes(info: dict[str, Any]) -> str:
    count = f"{info['heldout_documents']} resumes, {info['heldout_characters']:,} characters"
    if info["source"] == "dataturks":
        split = info["split"]
        return (
            f"resumes: {count} (test split of {info['documents']} documents in {info['path']}; "
            f"val {split['val_fraction']}, test {split['test_fraction']}, seed {split['seed']})"
        )
    note = f"; {info['note']}" if info.get("note") else ""
    return (
        f"resumes: {count} (held-out split of the bundled synthetic sample, "
        f"{info['documents']} documents, seed {info['sample']['seed']}{note})"
    )


# -- servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_command(args: argparse.Namespace, package: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "resume_ner.serve",
        f"model={package}",
        "serve.host=127.0.0.1",
        f"serve.port={port}",
        f"serve.threads={args.threads}",
        f"serve.precision={args.precision}",
        *args.serve,
    ]


def baseline_command(args: argparse.Namespace, checkpoint: Path, port: int) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-baseline",
        str(checkpoint),
        "--port",
        str(port),
        "--threads",
        str(args.threads),
    ]


class ServerFailed(RuntimeError):
    """A server exited, or was not ready in time; the message carries its log's tail."""


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])


@contextlib.contextmanager
def running_server(
    name: str, command: list[str], port: int, workdir: Path, ready_timeout: float
) -> Iterator[dict[str, Any]]:
    """Start the server (output to a log in `workdir`, which is also its working folder, so
    Hydra's outputs land there), wait for GET /ready, yield; stop it however the block ends."""
    import httpx

    log = workdir / f"{name}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}/ready"
        deadline = started + ready_timeout
        with httpx.Client(timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    raise ServerFailed(
                        f"the {name} server exited with status {process.returncode} before it "
                        f"was ready; the end of its output:\n{_tail(log)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        break
                if time.perf_counter() > deadline:
                    raise ServerFailed(
                        f"the {name} server was not ready within {ready_timeout:g} s; the end "
                        f"of its output:\n{_tail(log)}"
                    )
                time.sleep(0.2)
        yield {"ready_seconds": time.perf_counter() - started, "pid": process.pid, "log": log}
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- load ------------------------------------------------------------------------------------
def client_loop(
    base_url: str,
    texts: Sequence[str],
    order: Iterator[int],
    lock: threading.Lock,
    end: float,
    timeout: float,
    records: list[tuple[float, float, str, int]],
) -> None:
    """One client: request after request until time.perf_counter() reaches `end` (the one in
    flight then is finished). Each record: (started, finished, outcome, characters); outcome
    "200" or what went wrong."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        while time.perf_counter() < end:
            with lock:
                text = texts[next(order)]
            started = time.perf_counter()
            try:
                response = client.post("/v1/extract", json={"text": text})
                if response.status_code != 200:
                    outcome = str(response.status_code)
                elif not isinstance(response.json().get("entities"), list):
                    outcome = "no entities"
                else:
                    outcome = "200"
            except Exception as error:  # a timeout, a refused connection, a garbled body
                outcome = type(error).__name__
            records.append((started, time.perf_counter(), outcome, len(text)))


def run_load(
    base_url: str, texts: Sequence[str], clients: int, warmup: float, seconds: float, timeout: float
) -> dict[str, Any]:
    """--clients threads for warmup + seconds; the statistics of the timed window."""
    order = itertools.cycle(range(len(texts)))
    lock = threading.Lock()
    records: list[tuple[float, float, str, int]] = []
    start = time.perf_counter() + warmup
    end = start + seconds
    threads = [
        threading.Thread(
            target=client_loop,
            args=(base_url, texts, order, lock, end, timeout, records),
            name=f"client-{i}",
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(records, start, end, clients)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the nearest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(
    records: Sequence[tuple[float, float, str, int]], start: float, end: float, clients: int
) -> dict[str, Any]:
    """Throughput and latency of the requests answered within [start, end) (as wrk counts:
    those in flight at either edge are left out); errors of the whole run, warm-up and the
    requests finished after the window included, so that none goes unseen."""
    seconds = end - start
    timed = [r for r in records if start <= r[1] < end]
    ok = [r for r in timed if r[2] == "200"]
    latencies = [(r[1] - r[0]) * 1000.0 for r in ok]
    errors = Counter(r[2] for r in records if r[2] != "200")
    rps = len(ok) / seconds
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(timed),
        "answered": len(ok),
        "requests_all": len(records),
        "errors": sum(errors.values()),
        "errors_timed": sum(1 for r in timed if r[2] != "200"),
        "error_kinds": dict(errors),
        "requests_per_second": rps,
        "texts_per_second": rps,  # one resume per request
        "chars_per_second": sum(r[3] for r in ok) / seconds,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "mean": sum(latencies) / len(latencies) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
    }


# -- comparison ------------------------------------------------------------------------------
def compare(ours: dict[str, Any], base: dict[str, Any], clients: int) -> dict[str, Any]:
    """The ratios and the issue's target (judged at whatever --clients was; the line says so
    when that is not TARGET_CLIENTS)."""
    ours_p95, base_p95 = ours["latency_ms"]["p95"], base["latency_ms"]["p95"]
    result: dict[str, Any] = {
        "clients": clients,
        "target_clients": TARGET_CLIENTS,
        "speed_target": SPEED_TARGET,
        "speed_ratio": (
            ours["requests_per_second"] / base["requests_per_second"]
            if base["requests_per_second"] > 0
            else None
        ),
        "p95_ratio": ours_p95 / base_p95 if ours_p95 is not None and base_p95 else None,
        # The resumes answered in each window differ a little (they cycle at each server's
        # pace): characters/s says whether the mix favoured one.
        "chars_ratio": (
            ours["chars_per_second"] / base["chars_per_second"]
            if base["chars_per_second"] > 0
            else None
        ),
        "errors": ours["errors"],
        "baseline_errors": base["errors"],
    }
    if result["speed_ratio"] is None or result["p95_ratio"] is None:
        result.update(status="n/a", reason="a server answered no request")
        return result
    result.update(
        speed_met=result["speed_ratio"] >= SPEED_TARGET,
        p95_met=ours_p95 <= base_p95,
        errors_met=ours["errors"] == 0,
    )
    met = result["speed_met"] and result["p95_met"] and result["errors_met"]
    result["status"] = "MET" if met else "MISS"
    return result


def ratio_line(result: dict[str, Any]) -> str:
    if result["speed_ratio"] is None or result["p95_ratio"] is None:
        return "ratio (service / hf-pipeline): n/a (a server answered no request)"
    return (
        f"ratio (service / hf-pipeline): requests/s {result['speed_ratio']:.2f}x, "
        f"p95 latency {result['p95_ratio']:.2f}x (chars/s {result['chars_ratio']:.2f}x)"
    )


def target_line(result: dict[str, Any], ours: dict[str, Any], base: dict[str, Any]) -> str:
    head = f"TARGET at {result['clients']} client(s)"
    if result["clients"] != TARGET_CLIENTS:
        head += f" ({TARGET_CLIENTS} not measured)"
    if result["status"] == "n/a":
        return f"{head}: n/a ({result['reason']})"

    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISS"

    line = (
        f"{head}: requests/s {result['speed_ratio']:.2f}x the baseline's (>= "
        f"{SPEED_TARGET:g}x: {verdict(result['speed_met'])}), p95 "
        f"{ours['latency_ms']['p95']:,.0f} ms vs {base['latency_ms']['p95']:,.0f} ms (no worse: "
        f"{verdict(result['p95_met'])}), errors {ours['errors']} (zero: "
        f"{verdict(result['errors_met'])}) -> {result['status']}"
    )
    if base["errors"]:
        line += f" (the baseline had {base['errors']} error(s): see its row)"
    return line


# -- report ----------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "-"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        f"{'server':<12} {'clients':>7} {'requests/s':>10} {'chars/s':>10} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8} {'requests':>8} {'errors':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        latency = row["latency_ms"]
        lines.append(
            f"{row['server']:<12} {row['clients']:>7} {row['requests_per_second']:>10.2f} "
            f"{row['chars_per_second']:>10,.0f} {_ms(latency['p50']):>8} "
            f"{_ms(latency['p95']):>8} {_ms(latency['p99']):>8} {row['requests']:>8} "
            f"{row['errors']:>6}"
        )
    for row in rows:
        if row["error_kinds"]:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(row["error_kinds"].items()))
            lines.append(f"  {row['server']} errors: {kinds}")
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from resume_ner.machine import usable_cpus

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if "model name" in ln]
        info["cpu_model"] = models[0] if models else None
        info["avx512_vnni"] = "avx512_vnni" in cpuinfo
    versions = bench_infer._versions()
    for name in ("fastapi", "uvicorn", "httpx", "pydantic"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    info["versions"] = versions
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# -- main ------------------------------------------------------------------------------------
def measure(
    name: str,
    command: list[str],
    port: int,
    workdir: Path,
    texts: Sequence[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    print(f"\n{name}: {shlex.join(command)}", flush=True)
    with running_server(name, command, port, workdir, args.ready_timeout) as server:
        load_before = load_average()
        print(
            f"  ready in {server['ready_seconds']:.1f} s (load average {load_before}); "
            f"{args.warmup:g} s warm-up, {args.seconds:g} s timed...",
            flush=True,
        )
        row = run_load(
            f"http://127.0.0.1:{port}",
            texts,
            args.clients,
            args.warmup,
            args.seconds,
            args.request_timeout,
        )
    row.update(
        server=name,
        command=shlex.join(command),
        ready_seconds=server["ready_seconds"],
        load_average_before=load_before,
        load_average_after=load_average(),
    )
    return row


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from resume_ner.errors import CheckpointError

    model = bench_infer.resolve_model("package", args.package, args.checkpoint)
    if model.package is None:
        raise CheckpointError(
            f"--package {args.package} is a checkpoint, not a converted package; convert it "
            f"first: python -m resume_ner.convert checkpoint={args.package} output=PKG"
        )
    if model.bundle.word_features:
        raise CheckpointError(
            f"--package {args.package}: its checkpoint {model.checkpoint} reads word classes; "
            f"the pipeline baseline needs one trained with model.word_features=off"
        )
    texts, data = load_resumes(args.data)
    print(describe_resumes(data), flush=True)
    b = model.bundle
    print(
        f"model: package {model.package} ({args.precision}), checkpoint {model.checkpoint} "
        f"(word classes off, windows of {b.max_length} tokens, stride {b.stride})",
        flush=True,
    )
    if data["source"] == "dataturks":
        warning = bench_infer.check_split(model)
        if warning:
            print(f"  {warning}", flush=True)
    info = machine_info()
    print(
        f"load: {args.clients} concurrent client(s) (threads in this process, one keep-alive "
        f"httpx.Client each, one resume per POST /v1/extract), {args.warmup:g} s warm-up then "
        f"{args.seconds:g} s timed per server, one server at a time; the clients share the "
        f"machine's {info['usable_cpus']} CPU(s) with the server; servers at {args.threads} "
        f"thread(s)",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        servers = (
            (SERVICE, service_command, model.package),
            (BASELINE, baseline_command, model.checkpoint),
        )
        for name, command_of, source in servers:
            port = free_port()
            command_line = command_of(args, source, port)
            rows.append(measure(name, command_line, port, Path(folder), texts, args))
    result = compare(rows[0], rows[1], args.clients)
    return {
        "command": command,
        "data": data,
        "model": {
            **{k: v for k, v in model.describe().items() if k != "backends"},
            "precision": args.precision,
        },
        "settings": {
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "threads": args.threads,
            "precision": args.precision,
            "request_timeout": args.request_timeout,
            "load": "client threads in the benchmark process, sharing the machine with the "
            "server; one server at a time; requests/s, chars/s and latency over the requests "
            "answered (200) within the window; errors over the whole run",
        },
        "rows": rows,
        "comparison": result,
        "ratio_line": ratio_line(result),
        "target_line": target_line(result, rows[0], rows[1]),
        "machine": info,
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--serve-baseline" in argv:
        return serve_baseline(argv)
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from resume_ner.errors import UserError

    command = shlex.join([sys.executable, str(Path(__file__)), *argv])
    print(f"command: {command}", flush=True)
    try:
        report = run(args, command)
    except (UserError, ServerFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        "\nrequests/s (= resumes/s: one per request), chars/s, latency (client side): the "
        f"requests answered (200) within the {args.seconds:g} s window; requests: those "
        "finished within it; errors: not 200, no entities, or no answer, over the whole run "
        "(warm-up included)\n"
    )
    print(format_table(report["rows"]))
    print(f"\n{report['ratio_line']}")
    print(report["target_line"], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
