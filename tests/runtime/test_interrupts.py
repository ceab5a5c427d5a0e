"""Ctrl-C at any point of a call leaves every parameter as it was or every one updated.

Python runs a signal handler between any two bytecodes, so these tests interrupt calls
everywhere: at every line graphc runs during a call (a tracer raising KeyboardInterrupt at
the k-th line, for every k), at random times (SIGALRM), and where one parameter's commit
fails. After each interrupt every parameter must be at the same step and readable.
"""
from __future__ import annotations

import linecache
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import graphc as gc
from graphc import params as param_states
from graphc.params import ParamState

LAYERS = 8
WIDTH = 32


def counting_mlp(width=WIDTH, batch=16):
    """An 8-layer MLP (16 parameters) whose every parameter counts the steps: all start at
    0 and gain 1 per call, so any two that differ were torn apart by an interrupt."""
    x = gc.placeholder((batch, width), name="x")
    params, h = [], x
    for i in range(LAYERS):
        w = gc.parameter(np.zeros((width, width), np.float32), name=f"w{i}")
        b = gc.parameter(np.zeros(width, np.float32), name=f"b{i}")
        params += [w, b]
        h = gc.relu(h @ w + b)
    step = gc.compile([x], [h.sum()], updates={p: p + 1 for p in params})
    return step, params, np.ones((batch, width), np.float32)


def steps_of(params):
    """The step every parameter is at; fails if they disagree or a value is not uniform."""
    values = [p.value for p in params]
    firsts = {float(v.flat[0]) for v in values}
    assert all(np.all(v == v.flat[0]) for v in values)
    assert len(firsts) == 1, f"torn update: parameters at steps {sorted(firsts)}"
    return firsts.pop()


@pytest.fixture(autouse=True)
def no_lock_left_held():
    """After each test, another thread can take every parameter lock: an interrupt left
    none of them held (a held one would hang the next thread that calls)."""
    yield
    held = []

    def probe():
        for i, lock in enumerate(param_states._locks):
            if lock.acquire(timeout=1):
                lock.release()
            else:
                held.append(i)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    assert held == [], f"parameter locks {held} left held"


class _Interrupter:
    """A tracer raising KeyboardInterrupt at the ``at``-th line run in graphc's package.

    It skips ``with`` lines: a tracer sees one again as its block exits, before the exit
    call, where no signal can land (CPython runs signal handlers after calls and at loop
    ends, and ``with`` sets up its cleanup in the instruction that enters it)."""

    def __init__(self, at: int):
        self.at, self.seen = at, 0
        self.root = os.path.dirname(gc.__file__)

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.startswith(self.root):
            return None
        if event == "line" and not _is_with(frame):
            self.seen += 1
            if self.seen == self.at:
                raise KeyboardInterrupt
        return self


def _is_with(frame) -> bool:
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return line.lstrip().startswith("with ")


def _interrupted_call(step, x, at):
    """Call ``step`` with a KeyboardInterrupt at its ``at``-th line: did it happen?"""
    tracer = _Interrupter(at)
    sys.settrace(tracer)
    try:
        step(x)
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "later_call"])
def test_an_interrupt_at_any_line_of_a_call(warm):
    """Interrupt the call at its 1st, 2nd, ... line until one runs through: after each,
    all 16 parameters are at one step (the one before or after the call) and readable.
    ``first_call`` interrupts the parameters' upload, ``later_call`` the commit (after two
    calls, which bind the kernels to both sets of buffers: every later call runs the same
    lines, so the sweep reaches each of them)."""
    step, params, x = counting_mlp(width=4, batch=2)
    done = 0
    if warm:
        step(x)
        step(x)
        done = 2
    at, outcomes = 1, set()
    while _interrupted_call(step, x, at):
        now = steps_of(params)
        assert now in (done, done + 1)
        outcomes.add(now - done)
        done = now
        at += 1
    assert at > 50                              # the sweep went through the whole call
    if warm:
        assert outcomes == {0, 1}               # interrupted before and after its commit
    step(x)                                     # and calls still work afterwards
    assert steps_of(params) == done + 2


def test_a_commit_failing_for_one_parameter_changes_none(monkeypatch):
    """The commit raises while staging the second parameter: neither steps."""
    a = gc.parameter(np.zeros(3, np.float32), name="a")
    b = gc.parameter(np.zeros(3, np.float32), name="b")
    step = gc.compile([], [], updates={a: a + 1, b: b + 1})
    step()
    real = ParamState.stage

    def stage(self, commit, ctx):
        if self is b.arg:
            raise KeyboardInterrupt
        real(self, commit, ctx)

    monkeypatch.setattr(ParamState, "stage", stage)
    with pytest.raises(KeyboardInterrupt):
        step()
    monkeypatch.setattr(ParamState, "stage", real)
    np.testing.assert_array_equal(a.value, [1, 1, 1])
    np.testing.assert_array_equal(b.value, [1, 1, 1])
    step()
    np.testing.assert_array_equal(a.value, [2, 2, 2])
    np.testing.assert_array_equal(b.value, [2, 2, 2])


def timed_interrupts(count: int, seed: int = 0) -> tuple[int, int]:
    """Call the 16-parameter MLP ``count`` times with a SIGALRM (raising KeyboardInterrupt)
    after a random delay within about one call; return (interrupts, tears)."""
    step, params, x = counting_mlp()
    step(x)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(20):
        step(x)
    call = (time.perf_counter() - start) / 20

    def alarm(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, alarm)
    interrupts = tears = 0
    expected = steps_of(params)
    try:
        for delay in rng.uniform(0, 1.2 * call, count):
            try:
                signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6))
                step(x)
                signal.setitimer(signal.ITIMER_REAL, 0)
            except KeyboardInterrupt:
                interrupts += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
            values = {float(p.value.flat[0]) for p in params}
            if len(values) > 1:
                tears += 1
            expected = max(values)
            for p in params:    # repair a tear, so that the next trial counts afresh
                p.set_value(np.full(p.shape, expected, np.float32))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return interrupts, tears


def test_timed_interrupts_never_tear_an_update():
    interrupts, tears = timed_interrupts(1000)
    assert interrupts > 300
    assert tears == 0


@pytest.mark.slow
def test_ten_thousand_timed_interrupts_never_tear_an_update():
    interrupts, tears = timed_interrupts(12000, seed=1)
    print(f"{interrupts} interrupts, {tears} tears")
    assert interrupts >= 10_000
    assert tears == 0
