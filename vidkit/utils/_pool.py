"""Run a function over many tasks in worker processes, each task isolated from the others: a worker
that crashes (a decoder segfaulting on a damaged file) or goes silent (one stuck in a loop) is killed
and replaced, its task is reported as failed with the reason, and the pool goes on.

    for task, kind, value in isolated_map(decode, paths, workers=4, silence_s=30, what="decoder"):
        ...  # kind: "item" (streamed output), then one of "done", "error", "failed"

Used by :mod:`vidkit.data.scan`, where one bad video must cost that video and never the scan.
"""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

_POLL_S = 0.1  # how often a pool blocked on a full event queue looks whether the consumer has gone


@dataclass(frozen=True)
class Failure:
    """A task's outcome when its worker died or went silent (and was then killed and replaced)."""

    reason: str  # "the worker crashed (killed by SIGSEGV)", "the worker hung (no progress for 12 s); ..."


def isolated_map(
    work: Callable[[object, Callable[[], None]], object],
    tasks: Iterable,
    *,
    workers: int,
    silence_s: float,
    what: str = "worker",
    prefetch: int = 2,
    initializer: Callable[[], None] | None = None,
) -> Iterator[tuple[object, str, object]]:
    """Run ``work(task, beat)`` for every task in ``workers`` processes; yield events in completion order.

    Events, each ``(task, kind, value)`` with ``task`` the object taken from ``tasks``:

    - ``"item"``: a value yielded by ``work`` when it is a generator, sent as soon as it is yielded,
      so a long task's output never piles up in the worker;
    - ``"done"``: ``work`` returned ``value`` (for a generator, its return value);
    - ``"error"``: ``work`` raised; ``value`` is ``"ExcType: message"`` and the worker goes on;
    - ``"failed"``: the worker died, or said nothing (no item, no ``beat()``, no result) for
      ``silence_s`` seconds; ``value`` is a :class:`Failure`, the worker is killed and replaced.

    Every task gets exactly one of the last three, after its items. ``beat()`` tells the pool that a
    long task is alive without sending data (at most one message per 0.1 s goes out). ``what`` names
    the worker in the reasons: "the {what} crashed (killed by SIGSEGV)", "the {what} hung (no progress
    for {silence_s} s); its worker was killed".

    A worker holds one task at a time; tasks are taken lazily from ``tasks``, in a background thread,
    and workers are started as tasks need them. That thread buffers at most ``prefetch`` events for
    the consumer and then makes the workers wait, so a slow consumer bounds the memory held, and
    silence is timed only while the pool waits on its workers, never while it waits on the consumer
    (or on ``tasks``). Closing the iterator early (``close()``, garbage collection, an exception or
    Ctrl-C in the consumer) kills every worker.

    Workers are forked on Linux, so ``work`` may be any callable (a closure, a monkeypatched
    function) and sees the modules the parent imported; elsewhere the platform's start method
    needs ``work`` to pickle. A worker ignores SIGINT (Ctrl-C is the parent's), limits torch to one
    thread when torch is imported (a forked child must not use the parent's OpenMP pool), then runs
    ``initializer()``. Tasks and values travel pickled over a pipe.
    """
    if workers < 1:
        raise ValueError(f"isolated_map: workers must be at least 1, got {workers}")
    if not silence_s > 0:
        raise ValueError(f"isolated_map: silence_s must be positive, got {silence_s}")
    if prefetch < 1:
        raise ValueError(f"isolated_map: prefetch must be at least 1, got {prefetch} (it bounds the events held)")
    return _events(
        _Pool(work, tasks, workers=workers, silence_s=silence_s, what=what, initializer=initializer), prefetch
    )


def _events(pool: _Pool, prefetch: int) -> Iterator[tuple[object, str, object]]:
    # A generator, so nothing starts before the first next() and a close() always reaches `finally`.
    events: queue.Queue = queue.Queue(maxsize=prefetch)
    pool.start(events)
    try:
        while True:
            event = events.get()
            if event is _END:
                return
            if isinstance(event, _Raised):
                raise event.error
            yield event
    finally:
        pool.stop()


_END = object()  # the pool's last event: every task has had its outcome
_NO_TASK = object()


@dataclass
class _Raised:
    """An exception in the pool's thread (``tasks`` raised, a fork failed), re-raised in the consumer."""

    error: BaseException


class _Stopped(Exception):
    """The consumer has gone: unwind the pool's thread."""


class _Orphaned(BaseException):
    """The parent's end of the pipe is gone: the worker exits (a BaseException, so ``work`` can't swallow it)."""


class _Clock:
    """``time.monotonic()`` that stands still inside :meth:`paused`."""

    def __init__(self):
        self.lost = 0.0

    def now(self) -> float:
        return time.monotonic() - self.lost

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.lost += time.monotonic() - start


class _Slot:
    """One worker process, the task it is on and when it last spoke (on the pool's clock)."""

    def __init__(self, context, work, initializer, beat_every: float, inherited: list):
        self.conn, child = context.Pipe()
        # The child closes its copies of the parent's pipe ends, so that it sees EOF once the parent's
        # end is gone, and no sibling keeps another worker's pipe open.
        self.proc = context.Process(
            target=_serve,
            args=(child, work, initializer, beat_every, [self.conn, *inherited]),
            daemon=True,
            name="vidkit-pool-worker",
        )
        self.proc.start()
        child.close()
        self.busy, self.task, self.heard = False, None, 0.0

    def stop(self, *, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.proc.close()


class _Pool:
    """The state of one :func:`isolated_map`, driven by a background thread (:meth:`_pump`)."""

    def __init__(self, work, tasks, *, workers: int, silence_s: float, what: str, initializer):
        self.work, self.tasks, self.workers, self.silence_s = work, tasks, workers, silence_s
        self.what, self.initializer = what, initializer
        # fork: workers inherit the imported modules (PyAV, torch) instead of importing them again.
        self.context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        self.slots: list[_Slot | None] = [None] * workers
        self.clock = _Clock()

    def start(self, events: queue.Queue) -> None:
        self.events = events
        self.stopping = threading.Event()
        self.wake_r, self.wake_w = self.context.Pipe(duplex=False)  # stop() interrupts the wait on workers
        self.thread = threading.Thread(target=self._pump, name="vidkit-isolated-map", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.wake_w.send_bytes(b"")
        except OSError:
            pass
        self.thread.join()
        self.wake_r.close()
        self.wake_w.close()

    def _pump(self) -> None:
        outcome: object = _END
        try:
            self._run()
        except _Stopped:
            outcome = None
        except BaseException as e:  # noqa: BLE001 - the consumer's to see, not this thread's
            outcome = _Raised(e)
        finally:
            stopping = self.stopping.is_set()
            for slot in self.slots:
                if slot is not None:
                    slot.stop(kill=slot.busy or stopping)
        if outcome is not None:
            with contextlib.suppress(_Stopped):
                self._emit(outcome)

    def _run(self) -> None:
        tasks, more = iter(self.tasks), True
        while True:
            for n in range(self.workers):
                while more and not (self.slots[n] is not None and self.slots[n].busy):
                    with self.clock.paused():  # a slow task source is not a silent worker
                        task = next(tasks, _NO_TASK)
                    if task is _NO_TASK:
                        more = False
                    else:
                        self._give(n, task)
            busy = [s for s in self.slots if s is not None and s.busy]
            if not busy:
                return
            deadline = min(s.heard for s in busy) + self.silence_s
            wait(
                [self.wake_r] + [s.conn for s in busy] + [s.proc.sentinel for s in busy],
                timeout=max(0.0, deadline - self.clock.now()),
            )
            if self.stopping.is_set():
                raise _Stopped
            for n, slot in enumerate(self.slots):
                if slot is not None and slot.busy:
                    self._check(n, slot)

    def _give(self, n: int, task) -> None:
        slot = self.slots[n]
        if slot is None:
            inherited = [s.conn for s in self.slots if s is not None] + [self.wake_r, self.wake_w]
            slot = self.slots[n] = _Slot(
                self.context, self.work, self.initializer, min(0.1, self.silence_s / 10), inherited
            )
        try:
            slot.conn.send((task,))
        except OSError:  # the worker died idle: _check reports the task as its crash
            pass
        except Exception as e:  # noqa: BLE001 - a task that does not pickle is that task's error
            self._emit((task, "error", f"cannot send the task to a worker: {type(e).__name__}: {e}"))
            return
        slot.busy, slot.task, slot.heard = True, task, self.clock.now()

    def _check(self, n: int, slot: _Slot) -> None:
        """Pass on one message from a busy worker, or replace it if it died or has been silent too long."""
        if slot.conn.poll():  # first, so that a worker whose message waited on a slow consumer is heard
            try:
                kind, value = slot.conn.recv()
            except (EOFError, OSError):
                kind, value = "failed", Failure(_death(slot.proc, self.what))
            except Exception as e:  # noqa: BLE001 - a value that does not unpickle ends its task
                kind, value = "error", f"cannot receive a value from the worker: {type(e).__name__}: {e}"
            else:
                slot.heard = self.clock.now()
                if kind == "beat":
                    return
                task = slot.task
                if kind != "item":
                    slot.busy, slot.task = False, None
                self._emit((task, kind, value))
                return
        elif not slot.proc.is_alive():
            kind, value = "failed", Failure(_death(slot.proc, self.what))
        elif self.clock.now() - slot.heard >= self.silence_s:
            kind, value = (
                "failed",
                Failure(f"the {self.what} hung (no progress for {self.silence_s:g} s); its worker was killed"),
            )
        else:
            return
        task = slot.task
        slot.stop(kill=True)
        self.slots[n] = None  # replaced when the next task comes
        self._emit((task, kind, value))

    def _emit(self, event) -> None:
        with self.clock.paused():  # a slow consumer is not a silent worker
            while True:
                if self.stopping.is_set():
                    raise _Stopped
                try:
                    self.events.put(event, timeout=_POLL_S)
                    return
                except queue.Full:
                    pass


def _serve(conn, work, initializer, beat_every: float, inherited: list) -> None:
    """A worker's life: take a task, run it, send its items and outcome; until told to stop."""
    for other in inherited:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    if initializer is not None:
        initializer()
    last = 0.0

    def send(message) -> None:
        nonlocal last
        try:
            conn.send(message)
        except OSError:
            raise _Orphaned from None
        last = time.monotonic()

    def beat() -> None:
        if time.monotonic() - last >= beat_every:
            send(("beat", None))

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        try:
            result = work(message[0], beat)
            if inspect.isgenerator(result):
                result = _stream(result, send)
            send(("done", result))
        except _Orphaned:
            return
        except Exception as e:  # noqa: BLE001 - the task's error, sent back; the worker goes on
            try:
                send(("error", f"{type(e).__name__}: {e}"))
            except _Orphaned:
                return


def _stream(generator, send):
    """Send each item of ``generator``; return its return value."""
    with contextlib.closing(generator):
        while True:
            try:
                item = next(generator)
            except StopIteration as stop:
                return stop.value
            send(("item", item))


def _death(proc, what: str) -> str:
    proc.join(1)
    code = proc.exitcode
    if code is None:
        how = "it closed its pipe"
    elif code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit code {code}"
    return f"the {what} crashed ({how})"


__all__ = ["Failure", "failure_reason", "isolated_map"]


def failure_reason(kind: str, value: object) -> str:
    """A task's failure as one line, from its ``"failed"`` (a :class:`Failure`) or ``"error"`` event."""
    if kind == "failed":
        return value.reason
    return f"unexpected error while decoding ({value})"
