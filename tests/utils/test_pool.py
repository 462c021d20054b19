"""The isolated worker pool, with real forked processes: results of functions and generators, one
outcome per task, crashes and hangs costing only their task, errors sent back, a slow consumer not
mistaken for a hung worker, and no worker left alive once the consumer stops."""

from __future__ import annotations

import collections
import contextlib
import faulthandler
import multiprocessing
import os
import signal
import time

import pytest

from vidkit.utils import Failure, isolated_map

TERMINAL = ("done", "error", "failed")


def _square(task, beat):
    return task * task


def _count(task, beat):
    for i in range(task):
        yield (task, i)
    return f"{task} counted"


def _by_task(events):
    """``{task: [(kind, value), ...]}``, checking that each task ends with exactly one outcome."""
    seen = collections.defaultdict(list)
    for task, kind, value in events:
        assert not any(k in TERMINAL for k, _ in seen[task]), f"event after the outcome of task {task!r}"
        seen[task].append((kind, value))
    assert all(events[-1][0] in TERMINAL for events in seen.values())
    return dict(seen)


def test_functions_and_generators():
    assert _by_task(list(isolated_map(_square, range(10), workers=2, silence_s=10))) == {
        t: [("done", t * t)] for t in range(10)
    }
    assert _by_task(list(isolated_map(_count, range(10), workers=2, silence_s=10))) == {
        t: [("item", (t, i)) for i in range(t)] + [("done", f"{t} counted")] for t in range(10)
    }


def test_items_are_streamed_while_the_task_runs(tmp_path):
    flag = tmp_path / "seen"

    def wait_for_the_consumer(task, beat):  # a closure: forked workers run any callable
        yield "first"
        deadline = time.monotonic() + 10
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return flag.exists()

    events = []
    for event in isolated_map(wait_for_the_consumer, ["t"], workers=1, silence_s=30):
        events.append(event)
        flag.touch()
    assert events == [("t", "item", "first"), ("t", "done", True)]


def _crashy(task, beat):
    if task == "segv":
        faulthandler.disable()  # pytest's crash dump would only clutter the output
        os.kill(os.getpid(), signal.SIGSEGV)
    if task == "exit":
        os._exit(3)
    return task.upper()


def test_a_crash_costs_only_its_task():
    tasks = ["a", "segv", "b", "exit", "c", "d"]
    outcomes = _by_task(list(isolated_map(_crashy, tasks, workers=2, silence_s=10)))
    assert outcomes == {
        "a": [("done", "A")],
        "b": [("done", "B")],
        "c": [("done", "C")],
        "d": [("done", "D")],
        "segv": [("failed", Failure("the worker crashed (killed by SIGSEGV)"))],
        "exit": [("failed", Failure("the worker crashed (exit code 3)"))],
    }
    [(_, _, failure)] = isolated_map(_crashy, ["exit"], workers=1, silence_s=10, what="decoder")
    assert failure.reason == "the decoder crashed (exit code 3)"


def _slow(task, beat):
    if task == "silent":
        time.sleep(60)
    if task == "beating":
        for _ in range(10):
            time.sleep(0.2)
            beat()
    return task


def test_a_silent_worker_is_killed_and_a_beating_one_is_not():
    started = time.monotonic()
    outcomes = _by_task(list(isolated_map(_slow, ["silent", "beating", "quick"], workers=3, silence_s=1)))
    assert time.monotonic() - started < 6
    assert outcomes == {
        "silent": [("failed", Failure("the worker hung (no progress for 1 s); its worker was killed"))],
        "beating": [("done", "beating")],
        "quick": [("done", "quick")],
    }


def _pid_or_raise(task, beat):
    if task % 3 == 1:
        raise ValueError(f"bad task {task}")
    return os.getpid()


def test_an_exception_is_the_tasks_error_and_the_worker_goes_on():
    outcomes = _by_task(list(isolated_map(_pid_or_raise, range(7), workers=1, silence_s=10)))
    assert {t: outcomes[t] for t in (1, 4)} == {
        1: [("error", "ValueError: bad task 1")],
        4: [("error", "ValueError: bad task 4")],
    }
    pids = {value for t, [(kind, value)] in outcomes.items() if t % 3 != 1}
    assert len(pids) == 1 and pids != {os.getpid()}  # one worker served all, errors included


def _steady(task, beat):
    for i in range(3):
        time.sleep(0.1)
        yield i


def test_a_slow_consumer_is_not_a_hung_worker():
    events = []
    for event in isolated_map(_steady, range(4), workers=2, silence_s=0.3, prefetch=1):
        events.append(event)
        if len(events) <= 3:
            time.sleep(0.6)  # twice the silence, while both workers wait on the full queue
    outcomes = _by_task(events)
    assert outcomes == {t: [("item", 0), ("item", 1), ("item", 2), ("done", None)] for t in range(4)}


def _pid_then_sleep(task, beat):
    yield os.getpid()
    time.sleep(30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", ["close", "drop", "raise"])
def test_stopping_early_leaves_no_worker(how):
    events = isolated_map(_pid_then_sleep, range(4), workers=2, silence_s=60)
    started, pids = time.monotonic(), set()
    with pytest.raises(RuntimeError) if how == "raise" else contextlib.nullcontext():
        for _, _, pid in events:
            pids.add(pid)
            if len(pids) == 2:
                if how == "raise":
                    raise RuntimeError("the consumer failed")
                break
    if how == "close":
        events.close()
    del events  # "drop" (and "raise"): garbage collection closes the generator
    assert time.monotonic() - started < 10
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)
    assert multiprocessing.active_children() == []


def test_arguments_are_checked_at_the_call():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        isolated_map(_square, [1], workers=0, silence_s=1)
    with pytest.raises(ValueError, match="prefetch must be at least 1"):
        isolated_map(_square, [1], workers=1, silence_s=1, prefetch=0)
