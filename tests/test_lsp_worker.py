"""The model worker: one thread, loads first, supersession, cancellation, load failures.

The jobs here are plain functions; the "engine" handed to them is a stand-in object, because
what is under test is the queue discipline, not the model (the end-to-end tests use the model).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest

from caveat.engine.errors import ModelError
from caveat.server.worker import Job, JobCancelled, ModelUnavailable, ModelWorker

TIMEOUT = 10.0


def _blocking_job(started: threading.Event, key: str = "doc") -> Job[str]:
    """A job that runs until cancelled, like a decode loop checking its flag each step."""

    def run(engine: Any, cancel: threading.Event) -> str:
        started.set()
        while not cancel.wait(0.001):
            pass
        return "stopped"

    return Job(run, key=key)


def test_jobs_wait_for_the_load_and_run_on_one_thread() -> None:
    """A job queued before start runs after the load, on the worker thread."""
    worker = ModelWorker()
    engine = object()
    seen: list[Any] = []
    job = worker.submit(Job(lambda e, c: seen.append((e, threading.current_thread().name))))
    done = worker.start(lambda: engine)  # type: ignore[arg-type, return-value]
    done.result(TIMEOUT)
    job.future.result(TIMEOUT)
    assert seen == [(engine, "caveat-model")]
    assert worker.state == "ready"
    worker.stop()


def test_newer_job_for_the_same_key_cancels_the_older() -> None:
    """Submitting for the same document sets the running job's cancel flag."""
    worker = ModelWorker()
    worker.start(lambda: object()).result(TIMEOUT)  # type: ignore[arg-type, return-value]
    started = threading.Event()
    first = worker.submit(_blocking_job(started))
    assert started.wait(TIMEOUT)
    queued = worker.submit(Job(lambda e, c: "never", key="doc"))
    newest = worker.submit(Job(lambda e, c: "newest", key="doc"))
    other = worker.submit(Job(lambda e, c: "other", key="other-doc"))
    assert first.future.result(TIMEOUT) == "stopped"
    with pytest.raises(JobCancelled):
        queued.future.result(TIMEOUT)
    assert newest.future.result(TIMEOUT) == "newest"
    assert other.future.result(TIMEOUT) == "other"
    worker.stop()


def test_cancel_by_key_stops_a_running_job_promptly() -> None:
    """cancel(key) is seen by the running job within one step."""
    worker = ModelWorker()
    worker.start(lambda: object()).result(TIMEOUT)  # type: ignore[arg-type, return-value]
    started = threading.Event()
    job = worker.submit(_blocking_job(started))
    assert started.wait(TIMEOUT)
    t0 = time.perf_counter()
    assert worker.cancel("doc") == 1
    assert job.future.result(TIMEOUT) == "stopped"
    assert time.perf_counter() - t0 < 0.5
    worker.stop()


def test_failed_load_reports_and_answers_jobs_with_its_message() -> None:
    """A ModelError becomes the error state; later jobs fail with the same explanation."""
    states: list[tuple[str, str | None]] = []
    worker = ModelWorker(on_state=lambda s, e: states.append((s, e)))

    def load() -> Any:
        raise ModelError("no model at /missing.gguf: set caveat.model.path")

    worker.start(load).result(TIMEOUT)
    assert states == [
        ("loading", None),
        ("error", "no model at /missing.gguf: set caveat.model.path"),
    ]
    job = worker.submit(Job(lambda e, c: "unreachable"))
    with pytest.raises(ModelUnavailable, match=r"missing\.gguf"):
        job.future.result(TIMEOUT)
    # A reload that works brings the worker back.
    worker.start(lambda: object()).result(TIMEOUT)  # type: ignore[arg-type, return-value]
    assert worker.submit(Job(lambda e, c: "ok")).future.result(TIMEOUT) == "ok"
    worker.stop()


def test_job_errors_reach_the_caller_and_the_worker_continues() -> None:
    """An exception inside a job settles its future; the next job still runs."""
    worker = ModelWorker()
    worker.start(lambda: object()).result(TIMEOUT)  # type: ignore[arg-type, return-value]

    def boom(engine: Any, cancel: threading.Event) -> None:
        raise RuntimeError("decode failed")

    failing: Future[None] = worker.submit(Job(boom)).future
    with pytest.raises(RuntimeError, match="decode failed"):
        failing.result(TIMEOUT)
    assert worker.submit(Job(lambda e, c: 7)).future.result(TIMEOUT) == 7
    worker.stop()
