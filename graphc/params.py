"""The value behind a parameter: one host copy and device buffers, kept consistent under
threads, several devices and Ctrl-C.

Two rules make every promise of the contract hold:

- **A lock per parameter, taken in one order.** A call holds the locks of every
  parameter it reads or updates (in ``stripe`` order, then the device's lock) from its
  upload to its commit; ``read`` and ``set`` hold the parameter's lock. So no update is
  lost on any number of devices, and a value once shown is never followed by an older one.
  Parameters share ``STRIPES`` locks (parameter ``k`` has lock ``k % STRIPES``), so that a
  call takes at most that many, each in a ``with`` statement of its own: a Ctrl-C cannot
  leave one of them held, as it can between an ``acquire`` and the line that records it.
- **Every change of state is one store.** Python runs a signal handler (Ctrl-C's
  ``KeyboardInterrupt``) between any two bytecodes, so a state spread over several
  attributes can be torn. A parameter's state is one immutable ``Snapshot`` replaced whole,
  and a call's new values, spread over many parameters, become current at once by setting
  one ``Commit.done`` flag: each parameter holds the snapshot that applies once the flag is
  set (``pending``), and whoever touches the parameter next applies it or, if the flag was
  never set, drops it (``settle``, idempotent: it may itself be interrupted and rerun).
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

STRIPES = 64
_locks = [threading.RLock() for _ in range(STRIPES)]
_order = itertools.count()


class Snapshot(NamedTuple):
    """Where a parameter's current value is: the ``host`` copy, unless ``host_stale``, in
    which case buffer ``slot`` (0 or 1) of device context ``where``."""
    host: np.ndarray
    host_stale: bool
    where: Any
    slot: int


class Commit:
    """The new values of one call: current for every parameter once ``done`` is set."""
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False


class ParamState:
    """The value behind a parameter, on the host and on devices.

    ``buffers`` holds, per device context, the parameter's two buffers there: the one of
    ``now.slot`` holds the current value when ``now.where`` is that context, the other is
    the spare a call writes new values into (allocated on first need). A call that fails,
    or is interrupted before its commit, leaves the current buffer untouched.
    """

    def __init__(self, value: np.ndarray, name: str):
        self.name = name
        self.stripe = next(_order) % STRIPES
        self.lock = _locks[self.stripe]
        self.now = Snapshot(value, False, None, 0)
        self.buffers: dict[Any, list] = {}
        self.pending: Optional[tuple[Commit, Snapshot]] = None

    host = property(lambda self: self.snapshot().host)
    host_stale = property(lambda self: self.snapshot().host_stale)
    where = property(lambda self: self.snapshot().where)

    def snapshot(self) -> Snapshot:
        with self.lock:
            return self.settled()

    def settled(self) -> Snapshot:
        """The current snapshot, once a committed call's new value is applied (or an
        uncommitted one dropped)."""
        pending = self.pending
        if pending is not None:
            if pending[0].done:
                self.now = pending[1]
            self.pending = None
        return self.now

    # {{{ device side: called with the lock held

    def current(self, ctx: Any) -> Any:
        """The buffer on ``ctx`` holding the current value (after ``upload``)."""
        return self.buffers[ctx][self.settled().slot]

    def spare(self, ctx: Any) -> Any:
        pair = self.buffers.get(ctx)
        return None if pair is None else pair[1 - self.settled().slot]

    def ensure_spare(self, ctx: Any, nbytes: int) -> None:
        pair = self.buffers[ctx]
        if pair[1 - self.settled().slot] is None:
            pair[1 - self.now.slot] = ctx.alloc(nbytes)

    def upload(self, ctx: Any) -> None:
        """Make ``ctx``'s buffer current (a copy of the current value), unless it is."""
        now = self.settled()
        if now.where is ctx:
            return
        host = self.read()
        pair = self.buffers.get(ctx)
        if pair is None:
            pair = self.buffers[ctx] = [ctx.alloc(host.nbytes), None]
        ctx.write(pair[0], host)
        self.now = Snapshot(host, False, ctx, 0)

    def stage(self, commit: Commit, ctx: Any) -> None:
        """The spare buffer on ``ctx`` becomes current when ``commit`` is done."""
        now = self.settled()
        self.pending = (commit, Snapshot(now.host, True, ctx, 1 - now.slot))

    def writing_in_place(self) -> None:
        """A call without spares writes the current buffer: the host copy is stale now."""
        self.now = self.settled()._replace(host_stale=True)

    # }}}

    def pull(self) -> np.ndarray:
        """The current value read back from its device."""
        now = self.settled()
        return now.where.read(self.buffers[now.where][now.slot], now.host)

    def read(self) -> np.ndarray:
        """The current value on the host (read back once after each change)."""
        with self.lock:
            now = self.settled()
            if not now.host_stale:
                return now.host
            host = self.pull()
            self.now = now._replace(host=host, host_stale=False)
            return host

    def set(self, array: np.ndarray) -> None:
        """Replace the value (after any call holding the parameter has committed)."""
        with self.lock:
            self.settled()
            self.now = Snapshot(array, False, None, 0)


def commit(states: list, ctx: Any) -> None:
    """Every command of a call on ``ctx`` succeeded: the new values of ``states`` become
    current, all at once. A Ctrl-C before ``done`` is set leaves every parameter as it was;
    after it, every parameter has its new value (whoever reads it next applies it)."""
    new = Commit()
    for state in states:
        state.stage(new, ctx)
    new.done = True
    for state in states:
        state.settled()


def stripes(states: Any) -> list:
    """The locks ``locked`` takes for ``states``, in the one order."""
    return sorted({state.stripe for state in states})


def locked(stripe_list: list, run: Callable[[], Any]) -> Any:
    """``run()`` holding the locks numbered ``stripe_list`` (from ``stripes``)."""
    if not stripe_list:
        return run()
    with _locks[stripe_list[0]]:
        return locked(stripe_list[1:], run)
