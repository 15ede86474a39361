"""The one thread that owns the model: a FIFO of jobs, per-document supersession, cancel flags.

The engine is not thread-safe, so every model call runs here, one at a time. A job carries a
`threading.Event` that the engine checks each decode step; cancelling a job sets it, so a
running decode stops within one token and a queued job never starts. Results travel back as
`concurrent.futures.Future`s, which the asyncio side awaits with `asyncio.wrap_future`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from caveat.engine.backend import Backend
from caveat.engine.errors import ModelError

logger = logging.getLogger(__name__)

T = TypeVar("T")
ModelState = Literal["idle", "loading", "ready", "error"]


class JobCancelled(Exception):
    """The job was cancelled or superseded before it produced a result."""


class ModelUnavailable(Exception):
    """The model failed to load; the message is the loader's explanation for the user."""


class WorkerDied(ModelUnavailable):
    """The model thread ended while running the job (a new thread takes over)."""


@dataclass(eq=False)
class Job(Generic[T]):
    """One unit of model work: `run(engine, cancel)` on the worker thread."""

    run: Callable[[Backend, threading.Event], T]
    key: str | None = None
    kind: str = "complete"
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future[T] = field(default_factory=Future)
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None

    @property
    def queue_ms(self) -> float:
        """Milliseconds the job waited in the queue before it started (0 if it never did)."""
        return 0.0 if self.started_at is None else (self.started_at - self.submitted_at) * 1000


@dataclass(eq=False)
class _Load:
    """Load (or reload) the model; jobs queued behind it wait for it."""

    load: Callable[[], Backend]
    done: Future[None] = field(default_factory=Future)


_STOP = object()


class ModelWorker:
    """Runs model jobs one at a time on a dedicated thread."""

    def __init__(self, on_state: Callable[[ModelState, str | None], None] | None = None) -> None:
        """Create the worker; nothing runs until `start`. `on_state` hears load transitions."""
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: list[Job[Any]] = []
        self._loads: deque[_Load] = deque()
        self._on_state = on_state
        self.engine: Backend | None = None
        self.state: ModelState = "idle"
        self.error: str | None = None

    def start(self, load: Callable[[], Backend]) -> Future[None]:
        """Start the thread (once) and load the model first; returns when the load finishes."""
        item = _Load(load)
        with self._lock:
            # Loads jump the queue: requests that came early wait for the model, not vice versa.
            self._loads.append(item)
            self._queue.put(None)  # wake the thread
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="caveat-model", daemon=True)
                self._thread.start()
        return item.done

    @property
    def started(self) -> bool:
        """Whether `start` has been called."""
        return self._thread is not None

    def submit(self, job: Job[T], *, supersede: bool = True) -> Job[T]:
        """Queue a job; with a key, first cancel older jobs of the same key and kind."""
        with self._lock:
            if supersede and job.key is not None:
                for old in self._pending:
                    if old.key == job.key and old.kind == job.kind:
                        old.cancel.set()
            self._pending.append(job)
        self._queue.put(job)
        return job

    def cancel(self, key: str, kinds: tuple[str, ...] = ("complete",)) -> int:
        """Cancel queued or running jobs for `key` of the given kinds; returns how many."""
        count = 0
        with self._lock:
            for job in self._pending:
                if job.key == key and job.kind in kinds and not job.cancel.is_set():
                    job.cancel.set()
                    count += 1
        return count

    def stop(self) -> None:
        """Cancel everything and let the thread end (it is a daemon: shutdown never waits)."""
        with self._lock:
            for job in self._pending:
                job.cancel.set()
        self._queue.put(_STOP)

    def _loop(self) -> None:
        """Serve the queue; if something ends this thread, start a new one and say so."""
        try:
            self._serve()
        except BaseException as exc:
            logger.error("the model thread stopped: %r; restarting it", exc, exc_info=True)
            with self._lock:
                self._thread = threading.Thread(target=self._loop, name="caveat-model", daemon=True)
                self._thread.start()
            self._set_state("error", f"the model thread stopped ({exc!r}) and was restarted")
            self._set_state("ready" if self.engine is not None else "error", self.error)

    def _serve(self) -> None:
        """Take items off the queue forever, one at a time."""
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            while True:
                with self._lock:
                    load = self._loads.popleft() if self._loads else None
                if load is None:
                    break
                self._load(load)
            if item is not None:
                self._run(item)

    def _set_state(self, state: ModelState, error: str | None) -> None:
        """Record and announce a model state change."""
        self.state, self.error = state, error
        if self._on_state is not None:
            try:
                self._on_state(state, error)
            except Exception:
                logger.exception("model state listener failed")

    def _load(self, item: _Load) -> None:
        """Load the model, replacing any loaded one; failures become the `error` state."""
        old, self.engine = self.engine, None
        if old is not None:
            try:
                old.close()
            except Exception:
                logger.exception("closing the previous model failed")
        self._set_state("loading", None)
        try:
            engine = item.load()
        except Exception as exc:  # ModelError carries the user-facing text; anything else too
            logger.error("model failed to load: %s", exc, exc_info=not _is_model_error(exc))
            self._set_state("error", str(exc) or type(exc).__name__)
            item.done.set_result(None)
            return
        except BaseException as exc:  # ends the thread: settle the load so no one waits forever
            self._set_state("error", f"loading the model stopped the model thread ({exc!r})")
            item.done.set_result(None)
            raise
        self.engine = engine
        self._set_state("ready", None)
        item.done.set_result(None)

    def _run(self, job: Job[Any]) -> None:
        """Run one job unless it was cancelled while queued; settle its future."""
        try:
            if job.cancel.is_set():
                raise JobCancelled()
            if not job.future.set_running_or_notify_cancel():
                return
            if self.engine is None:
                raise ModelUnavailable(self.error or "the model is not loaded")
            job.started_at = time.perf_counter()
            result = job.run(self.engine, job.cancel)
        except Exception as exc:
            if not job.future.done():
                job.future.set_exception(exc)
        except BaseException as exc:
            # SystemExit or KeyboardInterrupt from model code: handed to asyncio through the
            # future it would end the whole server, so the request fails plainly and the
            # exception ends only this thread (_loop starts another).
            if not job.future.done():
                job.future.set_exception(WorkerDied(f"the model thread stopped ({exc!r})"))
            raise
        else:
            job.future.set_result(result)
        finally:
            with self._lock:
                if job in self._pending:
                    self._pending.remove(job)


def _is_model_error(exc: Exception) -> bool:
    """Whether `exc` is the engine's user-facing ModelError (no traceback needed)."""
    return isinstance(exc, ModelError)
