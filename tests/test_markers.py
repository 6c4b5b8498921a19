"""The slow-marker guard of tests/conftest.py: outside @pytest.mark.slow, a subprocess, a child
process, a sleep over 50 ms, Trainer.fit or a training fixture fails the test at once."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HINT = "mark it @pytest.mark.slow"

# Taken at collection, before any test's guard is in place.
POPEN_INIT = subprocess.Popen.__init__
PROCESS_START = multiprocessing.process.BaseProcess.start


def test_a_subprocess_fails_an_unmarked_test():
    for start in (subprocess.run, subprocess.check_output, subprocess.Popen):
        with pytest.raises(pytest.fail.Exception, match=f"starts a subprocess.*{HINT}"):
            start([sys.executable, "-c", "pass"])


def test_a_child_process_fails_an_unmarked_test():
    process = multiprocessing.get_context("spawn").Process(target=print)
    with pytest.raises(pytest.fail.Exception, match=f"starts a child process.*{HINT}"):
        process.start()


def test_a_sleep_fails_an_unmarked_test_but_a_poll_does_not():
    with pytest.raises(pytest.fail.Exception, match=f"sleeps 0.2 s.*{HINT}"):
        time.sleep(0.2)
    time.sleep(0.001)  # a library polling


def test_a_background_thread_may_sleep():
    errors = []

    def nap():
        try:
            time.sleep(0.06)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=nap)
    thread.start()
    thread.join()
    assert errors == []


def test_training_fails_an_unmarked_test():
    from resume_ner.train.loop import Trainer

    with pytest.raises(pytest.fail.Exception, match=f"trains a model.*{HINT}"):
        Trainer.fit(object())


@pytest.mark.slow
def test_a_slow_test_is_not_guarded():
    from resume_ner.train.loop import Trainer

    assert subprocess.Popen.__init__ is POPEN_INIT
    assert multiprocessing.process.BaseProcess.start is PROCESS_START
    assert isinstance(time.sleep, types.BuiltinFunctionType)
    assert Trainer.fit.__qualname__ == "Trainer.fit"


def test_a_training_fixture_fails_an_unmarked_test_before_it_runs(pytester):
    """End to end, in a pytest run of its own with this suite's conftest.py (in this process,
    where this test's own guard is in place too: a slow test's sleep could not pass there)."""
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(
        """
        import time

        import pytest

        @pytest.fixture(scope="session")
        def cli_run():
            raise AssertionError("the training fixture ran")

        def test_unmarked_training(cli_run):
            pass

        @pytest.mark.slow
        def test_marked_training(cli_run):
            pass

        def test_unmarked_sleep():
            time.sleep(0.2)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_unmarked_training*",
            f"this test uses cli_run (it trains): {HINT}*",
            "*ERROR at setup of test_marked_training*",
            "E * AssertionError: the training fixture ran",
            "*_ test_unmarked_sleep _*",
            f"this test sleeps 0.2 s: {HINT}*",
        ]
    )
