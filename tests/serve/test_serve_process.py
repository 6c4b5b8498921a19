"""The service as a user starts it: `python -m resume_ner.serve` in its own process on
loopback, driven over HTTP by concurrent clients, checked against its own OpenAPI schema
(schemathesis), and stopped with SIGTERM while requests are in flight."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.slow

RESUME = (
    "Vikas Singh\nChandigarh\nSenior Software Engineer at INFOSYS since 2019.\n\n"
    "Skills: Python, SQL, Machine Learning\nEducation: MBA, Delhi University\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python -m resume_ner.serve` on a free loopback port; its output in a log file."""

    def __init__(self, package: Path, log: Path, *overrides: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "resume_ner.serve",
                f"model={package}",
                f"serve.port={self.port}",
                "serve.threads=1",
                f"hydra.run.dir={log.parent}",
                *overrides,
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> str:
        """SIGTERM, then the service's last words. uvicorn shuts down gracefully and then
        re-raises the signal, so the exit status is the signal's."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) in (0, -signal.SIGTERM)
        return self.log.read_text()


@pytest.fixture(scope="module")
def server(tiny_package, tmp_path_factory):
    server = Server(tiny_package, tmp_path_factory.mktemp("serve") / "serve.log")
    server.wait_ready()
    yield server
    assert "stopped (drained)" in server.stop()


def test_concurrent_clients_get_answers_with_zero_errors(server):
    texts = [RESUME, RESUME.upper(), "Skills: Python\n" * 40, "Vikas Singh"]

    def client(index: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for k in range(12):
                response = http.post("/v1/extract", json={"text": texts[(index + k) % 4]})
                statuses.append(response.status_code)
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = [s for result in pool.map(client, range(8)) for s in result]
    assert statuses == [200] * 96
    assert time.monotonic() - started < 120
    metrics = httpx.get(server.url + "/metrics").text
    # Requests shared forwards: some forward ran more than one request's windows.
    batches = [
        line for line in metrics.splitlines() if line.startswith("resume_ner_batch_windows_count")
    ]
    windows = [
        line for line in metrics.splitlines() if line.startswith("resume_ner_batch_windows_sum")
    ]
    assert float(windows[0].split()[-1]) > float(batches[0].split()[-1])


def test_the_page_and_the_docs_are_served(server):
    assert "<html" in httpx.get(server.url + "/").text.lower()
    assert httpx.get(server.url + "/docs").status_code == 200


def test_no_5xx_for_any_request_the_schema_allows(server):
    """schemathesis generates requests from /openapi.json (bounded examples per operation)."""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    failures, calls = [], []

    def checker(label: str):
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(timeout=30)
            calls.append((label, response.status_code))
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as error:  # collect, to report every operation at once
                failures.append(f"{label}: {error}")

        return check

    for result in schema.get_all_operations():
        operation = result.ok()
        given(operation.as_strategy())(checker(operation.label))()
    assert not failures, "\n".join(failures[:5])
    tried = {label for label, _ in calls}
    assert {"POST /v1/extract", "POST /v1/extract/batch", "GET /v1/model"} <= tried
    assert len(calls) > 40
    assert any(status == 200 for label, status in calls if label == "POST /v1/extract")


def test_shutdown_drains_requests_in_flight(tiny_package, tmp_path):
    server = Server(tiny_package, tmp_path / "serve.log")
    server.wait_ready()
    long_text = "\n".join(f"Line {k}: Vikas Singh, Python at INFOSYS" for k in range(200))
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(
                httpx.post, server.url + "/v1/extract", json={"text": long_text}, timeout=60
            )
            for _ in range(4)
        ]
        time.sleep(0.3)  # the requests are in
        server.process.send_signal(signal.SIGTERM)
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * 4
    assert "stopped (drained)" in server.stop()


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["model=/no/such/package"], {}, "error: model=/no/such/package: no such folder"),
        (
            ["model={package}", "serve.api_key_env=RESUME_NER_TEST_KEY"],
            {},
            "error: serve.api_key_env=RESUME_NER_TEST_KEY: the variable",
        ),
        (["model={package}", "serve.precision=int4"], {}, "error: serve.precision=int4"),
    ],
)
def test_a_bad_start_is_one_line_and_exit_2(tiny_package, tmp_path, args, env, expected):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "resume_ner.serve",
            *[a.format(package=tiny_package) for a in args],
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in {**os.environ, **env}.items() if k != "RESUME_NER_TEST_KEY"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
