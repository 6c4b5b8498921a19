"""The conversion's phases: each logs its start, end and duration (flushed at once, so a
hang shows where it hangs) and ends with a ConversionError when it outlives its timeout.

A phase in this process is interrupted by SIGALRM, which Python delivers between bytecodes:
a loop over batches stops within one batch, but a single long C call (one exporter step)
cannot be cut short. That is why the export runs in a child process, which is killed.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator

from resume_ner.errors import UserError

log = logging.getLogger("resume_ner.convert")


class ConversionError(UserError):
    """A checkpoint could not be converted; the message says why and what to change."""


class PhaseTimeout(ConversionError):
    """A phase ran past its configured timeout."""


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()


def timeout_message(name: str, timeout: float) -> str:
    return (
        f"the {name} phase did not finish in {timeout:g} s; raise convert.timeouts.{name} if "
        f"the model is large or the machine slow"
    )


@contextlib.contextmanager
def phase(name: str, timeout: float | None = None, durations: dict | None = None) -> Iterator[None]:
    """Log `name`'s start, end and duration; raise PhaseTimeout after `timeout` seconds.

    The timeout is armed only in the main thread (where signals are delivered); durations,
    when given, receives {name: seconds} for the report.
    """
    log.info("%s: started", name)
    flush_logs()
    start = time.perf_counter()
    armed = bool(timeout) and threading.current_thread() is threading.main_thread()
    previous = None
    if armed:

        def expire(signum, frame):
            raise PhaseTimeout(timeout_message(name, float(timeout)))

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, float(timeout))
    try:
        yield
    except BaseException:
        log.info("%s: failed after %.1f s", name, time.perf_counter() - start)
        flush_logs()
        raise
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    if durations is not None:
        durations[name] = round(seconds, 2)
    log.info("%s: done in %.1f s", name, seconds)
    flush_logs()
