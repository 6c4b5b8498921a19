"""Micro-batching: the windows of concurrent requests run through the model together.

A request hands over its windows and awaits their probabilities. One forward runs at a time,
in a thread of its own (the event loop never waits on the model); it takes up to
`batch_size` waiting windows, from however many requests, after waiting at most `wait_s`
for more once one is there. So under load a forward is full and throughput grows with
concurrency, while a lone request waits a few milliseconds at most.

The queue is bounded: a request whose windows would push the waiting ones past `queue_size`
is refused at once (`Overloaded`, a 503 with Retry-After) rather than left to wait without
end; a request alone may exceed it (a long resume is never refused for its length here:
max_chars bounds it). `drain` lets the requests in flight finish before shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RunBatch = Callable[[list[Any]], list[np.ndarray]]


class Overloaded(Exception):
    """The queue is full: the caller should answer 503 and say when to retry."""

    def __init__(self, queued: int, limit: int, retry_after: float) -> None:
        super().__init__(f"{queued} windows are waiting (serve.queue_size={limit})")
        self.retry_after = retry_after


@dataclass
class _Request:
    windows: Sequence[Any]
    future: asyncio.Future
    results: list[np.ndarray | None] = field(default_factory=list)
    remaining: int = 0


class MicroBatcher:
    """Runs `run_batch(windows) -> probabilities` over the windows of waiting requests."""

    def __init__(
        self,
        run_batch: RunBatch,
        batch_size: int,
        wait_s: float,
        queue_size: int,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if batch_size < 1 or queue_size < 1 or wait_s < 0:
            raise ValueError("batch_size and queue_size must be >= 1 and wait_s >= 0")
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.queue_size = queue_size
        self.on_batch = on_batch
        self._pending: deque[tuple[_Request, int]] = deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight = 0
        # Seconds per window of the last forward: how long a refused caller should wait.
        self._seconds_per_window = 0.01

    @property
    def queued(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def run(self, windows: Sequence[Any]) -> list[np.ndarray]:
        """The probabilities of `windows`, in their order, once forwards have run them."""
        if not windows:
            return []
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        if self._pending and len(self._pending) + len(windows) > self.queue_size:
            raise Overloaded(len(self._pending), self.queue_size, self._retry_after())
        request = _Request(windows, asyncio.get_running_loop().create_future())
        request.results = [None] * len(windows)
        request.remaining = len(windows)
        self._pending.extend((request, k) for k in range(len(windows)))
        self._in_flight += 1
        self._arrived.set()
        try:
            return await request.future
        finally:
            self._in_flight -= 1

    def _retry_after(self) -> float:
        return max(1.0, len(self._pending) * self._seconds_per_window)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            if len(self._pending) < self.batch_size and self.wait_s > 0:
                await asyncio.sleep(self.wait_s)  # let other requests' windows arrive
            taken = [self._pending.popleft() for _ in range(min(self.batch_size, self.queued))]
            if not self._pending:
                self._arrived.clear()
            if not taken:
                continue
            windows = [request.windows[k] for request, k in taken]
            started = time.perf_counter()
            try:
                probabilities = await loop.run_in_executor(self._executor, self.run_batch, windows)
            except Exception as error:  # the requests fail; the service goes on
                for request, _ in taken:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            elapsed = time.perf_counter() - started
            self._seconds_per_window = elapsed / len(windows)
            if self.on_batch is not None:
                self.on_batch(len(windows), elapsed)
            for (request, k), probs in zip(taken, probabilities, strict=True):
                request.results[k] = probs
                request.remaining -= 1
                if request.remaining == 0 and not request.future.done():
                    request.future.set_result(request.results)

    async def drain(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) for the requests in flight; then stop. True: drained."""
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        drained = not self._in_flight
        if self._task is not None:
            self._task.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        return drained
