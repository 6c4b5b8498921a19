"""Micro-batching: windows of concurrent requests share forwards, each request gets its own
results back in order, a full queue refuses at once, a failing forward fails only its
requests, and drain waits for what is in flight."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from resume_ner.serve.batcher import MicroBatcher, Overloaded


class Recorder:
    """A forward that returns each window's value as its 'probabilities' and records batches."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = gate

    def __call__(self, windows):
        if self.gate is not None:
            self.gate.wait(5)
        self.batches.append(list(windows))
        return [np.array([w]) for w in windows]


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_share_a_forward_and_get_their_own_results():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, batch_size=8, wait_s=0.02, queue_size=64)
        await batcher.start()
        results = await asyncio.gather(
            batcher.run([1, 2, 3]), batcher.run([10, 20]), batcher.run([100])
        )
        await batcher.drain(1)
        return results

    results = run(main())
    assert [[int(r[0]) for r in res] for res in results] == [[1, 2, 3], [10, 20], [100]]
    assert len(recorder.batches) == 1  # one forward for all three requests
    assert sorted(recorder.batches[0]) == [1, 2, 3, 10, 20, 100]


def test_a_forward_takes_at_most_batch_size_windows():
    recorder = Recorder()

    async def main():
        batcher = MicroBatcher(recorder, batch_size=4, wait_s=0.0, queue_size=64)
        await batcher.start()
        result = await batcher.run(list(range(10)))
        await batcher.drain(1)
        return result

    assert [int(r[0]) for r in run(main())] == list(range(10))
    assert [len(b) for b in recorder.batches] == [4, 4, 2]


def test_past_the_queue_a_request_is_refused_at_once():
    gate = threading.Event()
    recorder = Recorder(gate)

    async def main():
        batcher = MicroBatcher(recorder, batch_size=2, wait_s=0.0, queue_size=4)
        await batcher.start()
        first = asyncio.ensure_future(batcher.run([1, 2]))  # taken by the (blocked) forward
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher.run([3, 4, 5]))  # waits in the queue
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await batcher.run([6, 7])
        gate.set()
        done = await asyncio.gather(first, second)
        await batcher.drain(1)
        return refused.value, done

    refused, done = run(main())
    assert refused.retry_after >= 1
    assert "serve.queue_size=4" in str(refused)
    assert [[int(r[0]) for r in res] for res in done] == [[1, 2], [3, 4, 5]]


def test_a_failing_forward_fails_its_requests_and_the_next_ones_run():
    calls = []

    def flaky(windows):
        calls.append(list(windows))
        if len(calls) == 1:
            raise RuntimeError("onnx failed")
        return [np.array([w]) for w in windows]

    async def main():
        batcher = MicroBatcher(flaky, batch_size=8, wait_s=0.0, queue_size=64)
        await batcher.start()
        with pytest.raises(RuntimeError, match="onnx failed"):
            await batcher.run([1])
        ok = await batcher.run([2])
        await batcher.drain(1)
        return ok

    assert [int(r[0]) for r in run(main())] == [2]


def test_drain_waits_for_requests_in_flight():
    gate = threading.Event()
    recorder = Recorder(gate)

    async def main():
        batcher = MicroBatcher(recorder, batch_size=2, wait_s=0.0, queue_size=8)
        await batcher.start()
        pending = asyncio.ensure_future(batcher.run([1]))
        await asyncio.sleep(0.01)
        asyncio.get_running_loop().call_later(0.02, gate.set)
        drained = await batcher.drain(2)
        return drained, await pending

    drained, result = run(main())
    assert drained
    assert int(result[0][0]) == 1


def test_overload_is_503_with_retry_after(tiny_package):
    """Through the app: a blocked forward, a full queue, then a 503 naming the limit."""
    import httpx

    from resume_ner.config.schema import ServeConfig
    from resume_ner.predictor import Predictor
    from resume_ner.serve.app import Served, create_app

    predictor = Predictor(tiny_package, onnx_model="fp32", threads=1)
    gate = threading.Event()
    real = predictor.probabilities

    def held(windows):
        gate.wait(5)
        return real(windows)

    app = create_app(
        Served(predictor, "tiny", None, "fp32"),
        ServeConfig(name="test", batch_size=2, batch_wait_ms=0, queue_size=2),
    )

    async def main():
        async with app.router.lifespan_context(app):
            predictor.probabilities = held
            app.state.batcher.run_batch = held
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                text = "Vikas Singh Python SQL INFOSYS " * 8  # several windows
                first = asyncio.ensure_future(client.post("/v1/extract", json={"text": text}))
                await asyncio.sleep(0.02)
                second = asyncio.ensure_future(client.post("/v1/extract", json={"text": text}))
                await asyncio.sleep(0.02)
                refused = await client.post("/v1/extract", json={"text": text})
                gate.set()
                return refused, await first, await second

    refused, first, second = asyncio.run(main())
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "overloaded"
    assert first.status_code == 200
    assert second.status_code in (200, 503)
