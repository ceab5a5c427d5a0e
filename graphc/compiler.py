"""``compile``: the one place that runs the whole pipeline, and the ``Function`` it returns."""
from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import distributed, inspect, rewrite, shapes, specialize
from .codegen import BufferRef
from .lower import HostAllreduce, Launch, lower
from .errors import DeviceError, DTypeError, GraphcError, ShapeError
from .graph import Op, Tensor, toposort
from .params import commit, locked, stripes
from .ops import as_tensor
from .ops import random
from .ops.gathers import check_indices, index_checks

if TYPE_CHECKING:
    from . import runtime



class _Loaded:
    """A module imported at its first use, after ``graphc.runtime`` (which prepares the
    environment PoCL reads when pyopencl loads it). Building, differentiating and
    evaluating graphs needs no driver, so ``import graphc`` does not load pyopencl
    (~60 ms of it); the first compile does."""

    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            import importlib
            from . import runtime  # noqa: F401  (first: it sets up the driver's environment)
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)     # looked up each time: tests patch it


cl = _Loaded("pyopencl")
cl_array = _Loaded("pyopencl.array")


def _update_pairs(updates: Any) -> list:
    """``updates`` as (parameter, value) pairs: from a mapping, or a list of pairs with
    each parameter once."""
    if updates is None:
        return []
    if isinstance(updates, Mapping):
        return list(updates.items())
    if isinstance(updates, (list, tuple)):
        pairs = []
        for i, pair in enumerate(updates):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise TypeError(f"compile: updates[{i}] must be a (parameter, new value) "
                                f"pair, got {pair!r}")
            pairs.append(tuple(pair))
        seen: set = set()
        for param, _ in pairs:
            if id(param) in seen:
                raise ValueError(f"compile: updates gives parameter {param!r} twice")
            seen.add(id(param))
        return pairs
    raise TypeError("compile: updates must be a mapping {parameter: new value} or a list "
                    f"of (parameter, new value) pairs, got {type(updates).__name__}")


def compile(inputs: Sequence[Tensor], outputs: Union[Tensor, Sequence[Tensor]],  # noqa: A001
            updates: Optional[Mapping[Tensor, Any]] = None,
            device: Any = None, *, fuse: bool = True,
            transactional: bool = True, tune: Optional[bool] = None,
            device_outputs: bool = False, seed: Optional[int] = None) -> "Function":
    """Compile a step function: ``inputs`` fed per call, ``outputs`` returned, ``updates``
    ({parameter: new value}) applied on the device after all outputs are computed.

    Parameters
    ----------
    inputs : sequence of Tensor
        Placeholders, in the order the function takes its arguments. A placeholder with
        ``None`` dimensions makes the function compile once per distinct shape of its
        arguments, at the first call with that shape, and keep each program: the graph is
        rebuilt with the call's sizes (``graphc.specialize``), then rewritten, lowered
        and built as any other. Parameters are shared by all of them.
    outputs : Tensor or sequence of Tensor
        What a call returns: one array for one Tensor, a list for a list.
    updates : mapping, optional
        New values of parameters, computed from the old values (Theano semantics); a
        list of (parameter, new value) pairs is taken too, as Theano did.
    device : pyopencl.Device or str, optional
        ``"cpu"``, ``"gpu"`` or part of a device name; default ``$GRAPHC_DEVICE``, else the
        first GPU, else the first CPU.
    fuse : bool
        False launches one kernel per elementwise node and per reduction (for testing
        fusion against, and for debugging). On a CPU, fused kernels also share launches
        (matmuls chained by rows, independent kernels in one launch); set
        ``$GRAPHC_LAUNCHES`` to ``each`` to launch every fused kernel on its own.
    transactional : bool
        True (the default): a call that fails, wherever it fails, leaves every parameter
        as it was. Each updated parameter then has a second device buffer: the kernels
        write the new values there, and the call makes them current once every command
        has succeeded (no copies; the memory of the updated parameters, twice). False
        writes the updates over the old values, in the one buffer: half the parameter
        memory, but a call that fails inside the OpenCL runtime after an update kernel ran
        leaves that update done (bad arguments are still rejected before anything runs).
    tune : bool, optional
        Time a few tile plans of each matmul on the device and keep the fastest on disk
        (``graphc.tune``); plans kept earlier are used whatever this says. Default
        ``$GRAPHC_TUNE`` (``1`` to tune), else off: tuning takes seconds per new matmul.
    device_outputs : bool
        True: a call returns ``pyopencl.array.Array`` objects on ``Function.queue``
        instead of numpy arrays. Each call copies its outputs into new device arrays (one
        device-to-device copy each), so an array stays valid, and unchanged, after later
        calls.
    """
    inputs = list(inputs)
    for i, p in enumerate(inputs):
        if not isinstance(p, Tensor) or p.op is not Op.PLACEHOLDER:
            raise TypeError(f"compile: inputs[{i}] must be a placeholder, got {p!r}")
    if len({id(p) for p in inputs}) != len(inputs):
        raise ValueError("compile: a placeholder appears twice in inputs")
    single = isinstance(outputs, Tensor)
    outs = [outputs] if single else list(outputs)
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"compile: outputs[{i}] must be a graphc Tensor, got "
                            f"{type(o).__name__}")
    pairs = []
    for param, value in _update_pairs(updates):
        if not isinstance(param, Tensor) or param.op is not Op.PARAMETER:
            raise TypeError(f"compile: updates keys must be parameters, got {param!r}")
        value = as_tensor(value, param, "updates")
        if value.shape != param.shape:
            raise ShapeError(f"compile: update of {param.name!r} has shape {value.shape}, "
                             f"the parameter has shape {param.shape}")
        if value.dtype != param.dtype:
            raise DTypeError(f"compile: update of {param.name!r} has dtype {value.dtype}, "
                             f"the parameter has dtype {param.dtype}")
        pairs.append((param, value))
    for i, o in enumerate(outs):
        inspect.label_nodes([o], f"output{i}")
    for p, v in pairs:
        inspect.label_nodes([v], f"new {p.name}")
    symbolic = any(not shapes.is_static(p.shape) for p in inputs)
    if not symbolic:
        outs, pairs = _rewritten(outs, pairs, fuse)
    nodes = toposort(outs + [v for _, v in pairs])
    stream = None
    if any(n is random.STATE for n in nodes):      # fed by the function, at each call
        inputs, stream = inputs + [random.STATE], random.Stream(seed)
    _check_fed(inputs, nodes)
    from . import runtime      # the driver is needed from here on, not to build graphs
    ctx = runtime.device_context(device)
    if not ctx.has_fp64 and any(n.dtype == np.float64 for n in nodes):
        raise DeviceError(f"{ctx.device.name.strip()} has no float64 support; build the "
                          "graph in float32 or choose another device")
    if tune is None:
        tune = os.environ.get("GRAPHC_TUNE", "") not in ("", "0")
    fn = Function(ctx, inputs, outs, single, pairs, fuse=fuse, transactional=transactional,
                  tune=tune, device_outputs=device_outputs)
    fn.stream = stream
    return fn


def _rewritten(outs: list, pairs: list, fuse: bool) -> tuple[list, list]:
    roots = rewrite.run_passes(outs + [v for _, v in pairs], fuse)
    return roots[:len(outs)], [(p, v) for (p, _), v in zip(pairs, roots[len(outs):])]


def _check_fed(inputs: list, nodes: list) -> None:
    fed = {id(p) for p in inputs}
    for n in nodes:
        if n.op is Op.PLACEHOLDER and id(n) not in fed:
            raise ValueError(f"compile: the outputs need placeholder {n.name!r}, which is "
                             "not in inputs")


class Function:
    """A compiled step function. Call it with arrays for its inputs.

    ``kernels`` lists the kernels one call launches, in order; ``source`` is the whole
    OpenCL program; ``queue`` is the pyopencl queue it runs on. A function over
    placeholders with ``None`` dimensions holds one compiled program per distinct shape
    of its arguments (``variants``, by the tuple of input shapes); ``kernels``,
    ``source``, ``program`` and ``schedule`` describe the program of the most recent
    call, and raise ``GraphcError`` before the first one. ``outputs`` and ``updates``
    are the graphs it computes: rewritten, or as built where sizes vary.
    """

    # where the graph draws random numbers: the seed and call count it feeds to them
    # (``random.STATE``, its last input) at each call
    stream: Optional[random.Stream] = None

    def __init__(self, ctx: "runtime.DeviceContext", inputs: list, outputs: list, single: bool,
                 updates: list, nodes: Optional[list] = None, fuse: bool = True,
                 transactional: bool = True, tune: bool = False,
                 device_outputs: bool = False):
        self.ctx, self.inputs, self.outputs, self.single = ctx, inputs, outputs, single
        self.updates = updates
        self.fuse, self.transactional, self.tune = fuse, transactional, tune
        self.device_outputs = device_outputs
        self.queue = ctx.queue
        self.device = ctx.device
        self._lock = ctx.lock
        self._building = threading.Lock()
        self._debug = int(os.environ.get("GRAPHC_DEBUG", "0") or 0)
        self.variants: dict[tuple, _Variant] = {}
        self._current: Optional[_Variant] = None
        self.symbolic = any(not shapes.is_static(p.shape) for p in inputs)
        if not self.symbolic:       # one program, built now
            key = tuple(p.shape for p in inputs)
            self._current = self.variants[key] = self._build(
                inputs, outputs, updates, nodes or toposort(outputs + [v for _, v in updates]))

    def _build(self, inputs: list, outputs: list, updates: list, nodes: list) -> "_Variant":
        variant = _Variant(self.ctx, inputs, outputs, updates, nodes, self.fuse,
                           self.transactional, self.tune)
        if self._debug >= 1:
            self._current = variant
            print(self.describe(), file=sys.stderr)
        if self._debug >= 3:
            print(variant.source, file=sys.stderr)
        return variant

    def _variant(self, given: tuple) -> "_Variant":
        """The program for inputs of shapes ``given``, compiled at its first call."""
        found = self.variants.get(given)
        if found is not None:
            return found
        with self._building:
            found = self.variants.get(given)
            if found is None:
                found = self.variants[given] = self._build(*self._specialized(given))
            return found

    def _specialized(self, given: tuple) -> tuple:
        """The graph rebuilt for inputs of shapes ``given``, rewritten."""
        sizes = specialize.bind(self.inputs, given)
        roots = self.outputs + [v for _, v in self.updates]
        try:
            new = specialize.specialize(self.inputs + roots, sizes)
        except ShapeError as e:
            raise ValueError(specialize.describe_call(self.inputs, given, e)) from None
        outs = [new[id(o)] for o in self.outputs]
        pairs = [(p, new[id(v)]) for p, v in self.updates]
        outs, pairs = _rewritten(outs, pairs, self.fuse)
        nodes = toposort(outs + [v for _, v in pairs])
        return [new[id(p)] for p in self.inputs], outs, pairs, nodes

    # {{{ inspection

    @property
    def current(self) -> "_Variant":
        """The program of the most recent call (the only one where no size varies)."""
        if self._current is None:
            shapes_text = ", ".join(f"{p.name!r} {shapes.public(p.shape)}" for p in self.inputs)
            raise GraphcError(f"this function has None dimensions ({shapes_text}): it "
                              "compiles a program per input shape, at the first call with "
                              "that shape; call it before reading its kernels or source")
        return self._current

    program = property(lambda self: self.current.program,
                       doc="The lowered ``Program`` (most recent call's).")
    schedule = property(lambda self: self.current.program.schedule)
    kernels = property(lambda self: self.current.program.kernels,
                       doc="The kernels one call launches, in launch order.")
    source = property(lambda self: self.current.program.source,
                      doc="The whole OpenCL program text.")
    params = property(lambda self: self.current.params)
    device_bytes = property(lambda self: self.current.device_bytes,
                            doc="Bytes on the device: temporaries, inputs, constants.")
    _final_copies = property(lambda self: self.current.final_copies)

    @property
    def parameter_bytes(self) -> int:
        """Bytes of the parameters this function reads or updates (held on the device)."""
        return int(sum(p.numel() * p.dtype.itemsize for p in self.params))

    @property
    def spare_bytes(self) -> int:
        """Bytes of the spare buffers of the parameters this function updates: a call
        writes new values there and makes them current only once it has succeeded."""
        if not self.transactional:
            return 0
        return int(sum(p.numel() * p.dtype.itemsize for p, _ in self.updates))

    def describe(self) -> str:
        """The kernels one call launches: geometry, cost, what each computes, as math."""
        return inspect.describe(self)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        if self._current is None:
            return f"<graphc.Function: not called yet on {self.device.name.strip()}>"
        return f"<graphc.Function: {len(self.kernels)} kernels on {self.device.name.strip()}>"

    def profile(self, *args: Any, repeat: int = 10, roofline: bool = True) -> inspect.Profile:
        """Run the function ``repeat`` times (updates included) and time every kernel with
        OpenCL profiling events; returns one record per kernel, printable as a table. With
        ``roofline``, each kernel is rated against the device's measured peaks."""
        return inspect.profile(self, args, repeat, roofline)

    # }}}

    # {{{ calling

    def _check_args(self, args: tuple) -> list:
        if len(args) != len(self.inputs):
            names = ", ".join(repr(p.name) for p in self.inputs)
            raise TypeError(f"this function takes {len(self.inputs)} inputs ({names}), "
                            f"got {len(args)}")
        from . import runtime      # imported by compile already
        checked, device_array, context = [], cl_array.Array, self.ctx.context
        for p, a in zip(self.inputs, args):
            if isinstance(a, device_array):
                if runtime.released(a.base_data):
                    raise ValueError(f"input {p.name!r}: the pyopencl array's buffer was "
                                     "released (.release()); pass an array whose buffer "
                                     "is alive")
                if a.context is not context and a.context != context:
                    raise ValueError(f"input {p.name!r}: the pyopencl array lives in another "
                                     "context; make it on this function's queue (fn.queue)")
                if a.dtype != p.dtype:
                    raise TypeError(f"input {p.name!r}: expected dtype {p.dtype}, got "
                                    f"{a.dtype}; convert with .astype(np.{p.dtype})")
                if (a.shape != p.shape and not _fits(p, a.shape) or not a.flags.c_contiguous
                        or a.offset):
                    raise ValueError(f"input {p.name!r}: expected a contiguous pyopencl "
                                     f"array of shape {shapes.public(p.shape)} and dtype "
                                     f"{p.dtype}, got shape {a.shape}, dtype {a.dtype}")
                checked.append(a)
                continue
            array = np.asarray(a)
            if array.dtype != p.dtype:
                python_float = isinstance(a, float) and p.dtype.kind == "f"   # 0.5, as 1
                if (array.dtype.kind == "f" and not python_float
                        or array.dtype.kind not in "biuf"):
                    raise TypeError(f"input {p.name!r}: expected dtype {p.dtype}, got "
                                    f"{array.dtype}; convert with .astype(np.{p.dtype})")
                array = array.astype(p.dtype)
            if not _fits(p, array.shape):
                raise ValueError(f"input {p.name!r}: expected shape {shapes.public(p.shape)}, "
                                 f"got {array.shape}")
            self.ctx.check_size(array.nbytes, f"input {p.name!r} of shape {array.shape} "
                                f"({array.dtype})")
            checked.append(np.ascontiguousarray(array))
        return checked

    def __call__(self, *args: Any) -> Union[np.ndarray, list]:
        results, events = self._call(args, timed=self._debug >= 2)
        if self._debug >= 2:
            times = ", ".join(f"{k.name} {(e.profile.end - e.profile.start) / 1e3:.1f}us"
                              for k, e in zip(self.kernels, events))
            print(f"graphc: call: {times}", file=sys.stderr)
        return results[0] if self.single else results

    def _call(self, args: tuple, timed: bool = False) -> tuple[list, list]:
        """Validate, upload, launch every kernel, apply updates, download the outputs.
        One call at a time per device: the lock keeps concurrent callers (of this function
        or of others sharing its parameters) from interleaving their kernels. Before it, the
        locks of the parameters it uses, in their one order (see ``graphc.params``): calls on
        other devices, ``.value`` and ``.set_value`` wait for them too."""
        if self.stream is not None:
            args = (*args, self.stream.draw())
        checked = self._check_args(args)
        variant = self._current if not self.symbolic else self._variant(
            tuple(p.shape if shapes.is_static(p.shape) else tuple(a.shape)
                  for p, a in zip(self.inputs, checked)))
        return locked(variant.stripes, lambda: self._locked_call(variant, checked, timed))

    def _locked_call(self, variant: "_Variant", checked: list, timed: bool) -> tuple[list, list]:
        with self._lock:
            self._current = variant
            return variant.call(checked, timed, self.device_outputs, self._allreduce)

    def _allreduce(self, step: HostAllreduce, fed: dict) -> None:
        """Read the values to the host, combine them across ranks, write them back.
        In one process the values stay on the device (an allreduce of one rank is a copy)."""
        variant = self.current
        if distributed.comm() is None:
            for v in step.values:       # temporaries may be larger than the value (reused)
                cl.enqueue_copy(self.queue, variant.buffer(v.target, fed),
                                variant.buffer(v.source, fed), byte_count=v.nbytes)
            return
        hosts = [variant.host[id(v)] for v in step.values]
        for v, host in zip(step.values, hosts):
            cl.enqueue_copy(self.queue, host, variant.buffer(v.source, fed),
                            is_blocking=False)
        self.queue.finish()
        for op in ("sum", "mean"):
            distributed.allreduce_arrays([h for v, h in zip(step.values, hosts)
                                          if v.op == op], op)
        for v, host in zip(step.values, hosts):
            cl.enqueue_copy(self.queue, variant.buffer(v.target, fed), host,
                            is_blocking=False)

    # }}}


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.dtype.itemsize


def _fits(p: Tensor, shape: tuple) -> bool:
    """Does an array of ``shape`` fit placeholder ``p`` (its None dimensions any size)?"""
    return len(shape) == p.ndim and all(
        s > 0 if isinstance(d, shapes.Dim) else d == s for d, s in zip(p.shape, shape))


class _Variant:
    """One compiled program of a function and its buffers: for one shape of each input.

    Holds the built kernels, the temporaries, the input staging buffers and constants;
    the parameters' buffers belong to the parameters and are shared by every variant."""

    def __init__(self, ctx: "runtime.DeviceContext", inputs: list, outputs: list,
                 updates: list, nodes: list, fuse: bool, transactional: bool, tune: bool):
        self.ctx, self.inputs, self.outputs = ctx, inputs, outputs
        self.transactional = transactional
        from . import tune as tuning
        # an empty output is an empty array whatever the inputs hold: no kernel computes it
        self.computed = [o for o in outputs if o.numel()]
        self.program = program = lower(
            self.computed, updates, ctx.target, fuse=fuse, transactional=transactional,
            plans=lambda problems: tuning.plans_for(ctx, problems, tune),
            rewrite=False, node_count=len(nodes))
        self.source = program.source
        self.built = built = ctx.build(self.source)
        ctx.check_group_sizes(built, program.kernels)
        self.temps = [ctx.alloc(n) for n in program.temps]
        self.device_bytes = int(np.sum(program.temps, dtype=np.int64))
        self.staging = {id(p): ctx.alloc(p.numel() * p.dtype.itemsize) for p in inputs}
        self.device_bytes += int(sum(p.numel() * p.dtype.itemsize for p in inputs))
        self.consts = {id(c): ctx.upload(c.arg.array) for c in program.consts}
        self.device_bytes += int(sum(c.numel() * c.dtype.itemsize for c in program.consts))
        self.params = [n for n in nodes if n.op is Op.PARAMETER] + [
            p for p, _ in updates if all(p is not n for n in nodes)]
        self.index_checks = index_checks(nodes)
        # host staging of allreduced values
        self.host = {id(v): np.empty(v.node.shape, v.node.dtype) for step in program.steps
                     if isinstance(step, HostAllreduce) for v in step.values}
        # kernels bound to one set of buffers (inputs, parameters' current and spare ones),
        # per set seen: updates alternate two sets, so arguments are set twice in all
        self.bound: dict[tuple, tuple] = {}
        self.param_states = [p.arg for p in dict.fromkeys(
            ref.node for spec in program.kernels for ref in spec.args
            if ref.kind in ("param", "spare"))]
        self.stripes = stripes(p.arg for p in self.params)
        # what each call needs, worked out once: sizes are products computed in numpy
        self.param_args = [p.arg for p in self.params]
        self.updated = [p.arg for p, _ in updates]
        self.spares = [(p.arg, _nbytes(p)) for p, _ in updates] if transactional else []
        self.final_copies = [(c.param.arg, self.temps[c.source.slot], _nbytes(c.param))
                             for c in program.copies]
        buffers = iter(self.temps[ref.slot] for ref in program.outputs)
        self.reads = [(o.shape, o.dtype, next(buffers) if o.numel() else None)
                      for o in outputs]
        self.last_read = max((i for i, r in enumerate(self.reads) if r[2] is not None),
                             default=-1)

    def buffer(self, ref: BufferRef, fed: dict) -> Any:
        if ref.kind == "temp":
            return self.temps[ref.slot]
        if ref.kind == "input":
            return fed[id(ref.node)]
        if ref.kind == "const":
            return self.consts[id(ref.node)]
        if ref.kind == "spare":
            return ref.node.arg.spare(self.ctx)
        return ref.node.arg.current(self.ctx)

    def kernels(self, fed: dict) -> list:
        """One kernel per step, bound to this call's buffers (bound once per buffer set).
        The set is keyed by the buffer objects' ids; the entry keeps the objects alive, so
        an id cannot be reused while it stands for one of them."""
        ctx = self.ctx
        buffers = list(fed.values())
        for state in self.param_states:
            buffers.append(state.current(ctx))
            buffers.append(state.spare(ctx))
        key = tuple(map(id, buffers))
        entry = self.bound.get(key)
        if entry is None:
            if len(self.bound) >= 4:        # new input arrays every call: keep a few sets
                self.bound.clear()
            kernels = []
            for step in self.program.steps:
                if isinstance(step, Launch):
                    kernel = cl.Kernel(self.built, step.kernel.name)
                    kernel.set_args(*(self.buffer(ref, fed) for ref in step.kernel.args))
                    kernels.append(kernel)
                else:
                    kernels.append(None)
            entry = self.bound[key] = (kernels, buffers)
        return entry[0]

    def sync_params(self) -> None:
        """Make each parameter's buffer on this device current, with a spare for each one
        a call updates."""
        for state in self.param_args:
            state.upload(self.ctx)
        for state, nbytes in self.spares:
            state.ensure_spare(self.ctx, nbytes)

    def call(self, checked: list, timed: bool, device_outputs: bool,
             allreduce: Any) -> tuple[list, list]:
        """Upload, launch, apply the updates, and return the outputs (numpy arrays, or new
        pyopencl arrays with ``device_outputs``) with the kernels' events if ``timed``.

        Every command is enqueued without a wait and the call waits once, for the last (a
        blocking read of the last output, where there is one): each wait is a round trip
        through PoCL's threads (a blocking read of 4 bytes from an idle queue took 12 us at
        best, 40 us median, on the 2-core VM). The copies of host inputs and outputs keep
        their arrays (in pyopencl's events, which wait when dropped) until the queue is done."""
        # fed indices out of range: an error before anything runs (pyopencl arrays stay on
        # the device unread: the kernels clamp them)
        if self.index_checks:
            check_indices(self.index_checks, {id(p): a for p, a in zip(self.inputs, checked)
                                              if isinstance(a, np.ndarray)})
        self.sync_params()
        queue = self.ctx.queue
        events: list = []
        held: list = []         # the copies' events: each waits for its copy when dropped
        fed = self._feed(checked, queue, held)
        kernels = self.kernels(fed)
        if not self.transactional:      # from here on the device buffers may change
            for state in self.updated:
                state.writing_in_place()
        try:
            for step, kernel in zip(self.program.steps, kernels):
                if isinstance(step, HostAllreduce):
                    allreduce(step, fed)
                    continue
                spec = step.kernel
                event = cl.enqueue_nd_range_kernel(queue, kernel, spec.global_size,
                                                   spec.local_size)
                if timed:
                    events.append(event)
            for state, temp, nbytes in self.final_copies:   # the temporary may be larger
                target = (state.spare if self.transactional else state.current)(self.ctx)
                cl.enqueue_copy(queue, target, temp, byte_count=nbytes)
            results = self._outputs(queue, device_outputs, held)
        finally:
            queue.finish()      # nothing of this call still runs when it returns or raises
        if self.transactional:
            commit(self.updated, self.ctx)
        return results, events

    def _feed(self, checked: list, queue: Any, held: list) -> dict:
        """The buffer of each input (by id of its placeholder): numpy arrays copied to
        their staging buffers (the copies' events into ``held``), pyopencl arrays' own."""
        fed = {}
        for p, a in zip(self.inputs, checked):
            if isinstance(a, np.ndarray):
                buf = self.staging[id(p)]
                if a.size:              # an empty input is read by no kernel
                    held.append(cl.enqueue_copy(queue, buf, a, is_blocking=False))
                fed[id(p)] = buf
            else:
                self.ctx.wait_produced(a)
                fed[id(p)] = a.data
        return fed

    def _outputs(self, queue: Any, on_device: bool, held: list) -> list:
        """Enqueue the outputs' copies out of the temporaries (which later calls reuse),
        the last read to the host blocking; an empty output is a new empty array."""
        results = []
        last = -1 if on_device else self.last_read
        for i, (shape, dtype, buffer) in enumerate(self.reads):
            if not on_device:
                results.append(np.empty(shape, dtype))
                if buffer is not None:
                    held.append(cl.enqueue_copy(queue, results[-1], buffer,
                                                is_blocking=i == last))
            elif buffer is None:
                results.append(cl_array.zeros(queue, shape, dtype))
            else:
                results.append(cl_array.empty(queue, shape, dtype))
                cl.enqueue_copy(queue, results[-1].data, buffer,
                                byte_count=results[-1].nbytes)
        return results

