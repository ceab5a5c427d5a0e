"""``compile``: the one place that runs the whole pipeline, and the ``Function`` it returns."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import distributed, inspect, rewrite
from .codegen import BufferRef
from .lower import HostAllreduce, Launch, lower
from .errors import CodegenError, DeviceError, DTypeError, ShapeError
from .graph import Op, Tensor, toposort
from .ops import as_tensor
from .ops.gathers import check_indices, index_checks

if TYPE_CHECKING:
    from . import runtime

try:
    import pyopencl as cl
    import pyopencl.array as cl_array
except ImportError:  # pragma: no cover
    cl = cl_array = None


def compile(inputs: Sequence[Tensor], outputs: Union[Tensor, Sequence[Tensor]],  # noqa: A001
            updates: Optional[Mapping[Tensor, Any]] = None,
            device: Any = None, *, fuse: bool = True,
            transactional: bool = True, tune: Optional[bool] = None) -> "Function":
    """Compile a step function: ``inputs`` fed per call, ``outputs`` returned, ``updates``
    ({parameter: new value}) applied on the device after all outputs are computed.

    Parameters
    ----------
    inputs : sequence of Tensor
        Placeholders, in the order the function takes its arguments.
    outputs : Tensor or sequence of Tensor
        What a call returns: one array for one Tensor, a list for a list.
    updates : mapping, optional
        New values of parameters, computed from the old values (Theano semantics).
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
    for param, value in (updates or {}).items():
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
    roots = rewrite.run_passes(outs + [v for _, v in pairs], fuse)
    outs, pairs = roots[:len(outs)], [(p, v) for (p, _), v in zip(pairs, roots[len(outs):])]
    nodes = toposort(roots)
    fed = {id(p) for p in inputs}
    for n in nodes:
        if n.op is Op.PLACEHOLDER and id(n) not in fed:
            raise ValueError(f"compile: the outputs need placeholder {n.name!r}, which is "
                             "not in inputs")
    from . import runtime      # the driver is needed from here on, not to build graphs
    ctx = runtime.device_context(device)
    if not ctx.has_fp64 and any(n.dtype == np.float64 for n in nodes):
        raise DeviceError(f"{ctx.device.name.strip()} has no float64 support; build the "
                          "graph in float32 or choose another device")
    if tune is None:
        tune = os.environ.get("GRAPHC_TUNE", "") not in ("", "0")
    return Function(ctx, inputs, outs, single, pairs, nodes, fuse, transactional, tune)


class Function:
    """A compiled step function. Call it with arrays for its inputs.

    ``kernels`` lists the kernels one call launches, in order; ``source`` is the whole
    OpenCL program; ``queue`` is the pyopencl queue it runs on.
    """

    def __init__(self, ctx: "runtime.DeviceContext", inputs: list, outputs: list, single: bool,
                 updates: list, nodes: list, fuse: bool = True, transactional: bool = True,
                 tune: bool = False):
        self.ctx, self.inputs, self.outputs, self.single = ctx, inputs, outputs, single
        self.updates = updates
        self.transactional = transactional
        self.queue = ctx.queue
        self.device = ctx.device
        from . import tune as tuning
        self.program = program = lower(
            outputs, updates, ctx.target, fuse=fuse, transactional=transactional,
            plans=lambda problems: tuning.plans_for(ctx, problems, tune),
            rewrite=False, node_count=len(nodes))
        self.schedule = program.schedule
        self.kernels = program.kernels
        self.source = program.source
        built = ctx.build(self.source)
        _check_group_sizes(built, self.kernels, ctx.device)
        self._temps = [ctx.alloc(n) for n in program.temps]
        self.device_bytes = int(np.sum(program.temps, dtype=np.int64))
        self._inputs = {id(p): ctx.alloc(p.size * p.dtype.itemsize) for p in inputs}
        self.device_bytes += int(sum(p.size * p.dtype.itemsize for p in inputs))
        self._consts = {id(c): ctx.upload(c.arg.array) for c in program.consts}
        self.device_bytes += int(sum(c.size * c.dtype.itemsize for c in program.consts))
        self._index_checks = index_checks(nodes)
        self.params = [n for n in nodes if n.op is Op.PARAMETER] + [
            p for p, _ in updates if all(p is not n for n in nodes)]
        # host staging of allreduced values
        self._host = {id(v): np.empty(v.node.shape, v.node.dtype) for step in program.steps
                      if isinstance(step, HostAllreduce) for v in step.values}
        # kernels bound to one set of buffers (inputs, parameters' current and spare ones),
        # per set seen: updates alternate two sets, so arguments are set twice in all
        self._program = built
        self._bound: dict[tuple, list] = {}
        self._param_states = [p.arg for p in dict.fromkeys(
            ref.node for spec in self.kernels for ref in spec.args
            if ref.kind in ("param", "spare"))]
        self._final_copies = [(c.param, self._temps[c.source.slot]) for c in program.copies]
        self._output_buffers = [self._temps[ref.slot] for ref in program.outputs]
        self._lock = ctx.lock
        self._debug = int(os.environ.get("GRAPHC_DEBUG", "0") or 0)
        if self._debug >= 1:
            print(self.describe(), file=sys.stderr)
        if self._debug >= 3:
            print(self.source, file=sys.stderr)

    # {{{ inspection

    @property
    def parameter_bytes(self) -> int:
        """Bytes of the parameters this function reads or updates (held on the device)."""
        return int(sum(p.size * p.dtype.itemsize for p in self.params))

    @property
    def spare_bytes(self) -> int:
        """Bytes of the spare buffers of the parameters this function updates: a call
        writes new values there and makes them current only once it has succeeded."""
        if not self.transactional:
            return 0
        return int(sum(p.size * p.dtype.itemsize for p, _ in self.updates))

    def describe(self) -> str:
        """The kernels one call launches: geometry, cost, what each computes, as math."""
        return inspect.describe(self)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"<graphc.Function: {len(self.kernels)} kernels on {self.device.name.strip()}>"

    def profile(self, *args: Any, repeat: int = 10, roofline: bool = True) -> inspect.Profile:
        """Run the function ``repeat`` times (updates included) and time every kernel with
        OpenCL profiling events; returns one record per kernel, printable as a table. With
        ``roofline``, each kernel is rated against the device's measured peaks."""
        return inspect.profile(self, args, repeat, roofline)

    # }}}

    # {{{ calling

    def _buffer(self, ref: BufferRef, fed: dict) -> Any:
        if ref.kind == "temp":
            return self._temps[ref.slot]
        if ref.kind == "input":
            return fed[id(ref.node)]
        if ref.kind == "const":
            return self._consts[id(ref.node)]
        if ref.kind == "spare":
            return ref.node.arg.spares[self.ctx]
        return ref.node.arg.buffers[self.ctx]

    def _kernels(self, fed: dict) -> list:
        """One kernel per step, bound to this call's buffers (bound once per buffer set).
        The set is keyed by the buffer objects' ids; the entry keeps the objects alive, so
        an id cannot be reused while it stands for one of them."""
        ctx = self.ctx
        buffers = list(fed.values())
        for state in self._param_states:
            buffers.append(state.buffers[ctx])
            buffers.append(state.spares.get(ctx))
        key = tuple(map(id, buffers))
        entry = self._bound.get(key)
        if entry is None:
            if len(self._bound) >= 4:        # new input arrays every call: keep a few sets
                self._bound.clear()
            kernels = []
            for step in self.program.steps:
                if isinstance(step, Launch):
                    kernel = cl.Kernel(self._program, step.kernel.name)
                    kernel.set_args(*(self._buffer(ref, fed) for ref in step.kernel.args))
                    kernels.append(kernel)
                else:
                    kernels.append(None)
            entry = self._bound[key] = (kernels, buffers)
        return entry[0]

    def _check_args(self, args: tuple) -> list:
        if len(args) != len(self.inputs):
            names = ", ".join(repr(p.name) for p in self.inputs)
            raise TypeError(f"this function takes {len(self.inputs)} inputs ({names}), "
                            f"got {len(args)}")
        checked = []
        for p, a in zip(self.inputs, args):
            if cl_array is not None and isinstance(a, cl_array.Array):
                if a.context != self.ctx.context:
                    raise ValueError(f"input {p.name!r}: the pyopencl array lives in another "
                                     "context; make it on this function's queue (fn.queue)")
                if a.dtype != p.dtype:
                    raise TypeError(f"input {p.name!r}: expected dtype {p.dtype}, got "
                                    f"{a.dtype}; convert with .astype(np.{p.dtype})")
                if a.shape != p.shape or not a.flags.c_contiguous or a.offset:
                    raise ValueError(f"input {p.name!r}: expected a contiguous pyopencl "
                                     f"array of shape {p.shape} and dtype {p.dtype}, got "
                                     f"shape {a.shape}, dtype {a.dtype}")
                checked.append(a)
                continue
            array = np.asarray(a)
            if array.dtype != p.dtype:
                if array.dtype.kind == "f" or array.dtype.kind not in "biu":
                    raise TypeError(f"input {p.name!r}: expected dtype {p.dtype}, got "
                                    f"{array.dtype}; convert with .astype(np.{p.dtype})")
                array = array.astype(p.dtype)
            if array.shape != p.shape:
                raise ValueError(f"input {p.name!r}: expected shape {p.shape}, got "
                                 f"{array.shape}")
            checked.append(np.ascontiguousarray(array))
        # fed indices out of range: an error before anything runs (pyopencl arrays stay on
        # the device unread: the kernels clamp them)
        check_indices(self._index_checks, {id(p): a for p, a in zip(self.inputs, checked)
                                           if isinstance(a, np.ndarray)})
        return checked

    def _allreduce(self, step: HostAllreduce, fed: dict) -> None:
        """Read the values to the host, combine them across ranks, write them back.
        In one process the values stay on the device (an allreduce of one rank is a copy)."""
        if distributed.comm() is None:
            for v in step.values:       # temporaries may be larger than the value (reused)
                cl.enqueue_copy(self.queue, self._buffer(v.target, fed),
                                self._buffer(v.source, fed), byte_count=v.nbytes)
            return
        hosts = [self._host[id(v)] for v in step.values]
        for v, host in zip(step.values, hosts):
            cl.enqueue_copy(self.queue, host, self._buffer(v.source, fed), is_blocking=False)
        self.queue.finish()
        for op in ("sum", "mean"):
            distributed.allreduce_arrays([h for v, h in zip(step.values, hosts)
                                          if v.op == op], op)
        for v, host in zip(step.values, hosts):
            cl.enqueue_copy(self.queue, self._buffer(v.target, fed), host, is_blocking=False)

    def _sync_params(self) -> None:
        ctx = self.ctx
        for p, _ in self.updates if self.transactional else ():
            if ctx not in p.arg.spares:
                p.arg.spares[ctx] = ctx.alloc(p.size * p.dtype.itemsize)
        for p in self.params:
            state = p.arg
            if state.where is ctx:
                continue
            host = state.read()
            buf = state.buffers.get(ctx)
            if buf is None:
                buf = state.buffers[ctx] = ctx.alloc(host.nbytes)
            cl.enqueue_copy(ctx.queue, buf, np.ascontiguousarray(host))
            state.where = ctx
            state.pull = _puller(ctx, state)

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
        or of others sharing its parameters) from interleaving their kernels."""
        with self._lock:
            return self._call_locked(args, timed)

    def _call_locked(self, args: tuple, timed: bool) -> tuple[list, list]:
        checked = self._check_args(args)
        self._sync_params()
        queue = self.queue
        events = []
        fed = {}
        for p, a in zip(self.inputs, checked):
            if isinstance(a, np.ndarray):
                buf = self._inputs[id(p)]
                cl.enqueue_copy(queue, buf, a, is_blocking=False)
                fed[id(p)] = buf
            else:
                fed[id(p)] = a.data
        kernels = self._kernels(fed)
        if not self.transactional:      # from here on the device buffers may change
            for param, _ in self.updates:
                param.arg.host_stale = True
        try:
            for step, kernel in zip(self.program.steps, kernels):
                if isinstance(step, HostAllreduce):
                    self._allreduce(step, fed)
                    continue
                spec = step.kernel
                event = cl.enqueue_nd_range_kernel(queue, kernel, spec.global_size,
                                                   spec.local_size)
                if timed:
                    events.append(event)
            for param, temp in self._final_copies:   # the temporary may be larger (reused)
                target = param.arg.spares if self.transactional else param.arg.buffers
                cl.enqueue_copy(queue, target[self.ctx], temp,
                                byte_count=param.size * param.dtype.itemsize)
            results = [np.empty(o.shape, o.dtype) for o in self.outputs]
            for host, buf in zip(results, self._output_buffers):
                cl.enqueue_copy(queue, host, buf, is_blocking=False)
        finally:
            queue.finish()      # nothing of this call still runs when it returns or raises
        # every command succeeded: the new values become current, all at once
        for param, _ in self.updates:
            if self.transactional:
                param.arg.swap(self.ctx)
            param.arg.host_stale = True
        return results, events

    # }}}


def _check_group_sizes(program: Any, specs: list, device: Any) -> None:
    """A device can run a kernel in smaller work-groups than its maximum (registers and
    local memory limit it): say so before a launch fails with CL_INVALID_WORK_GROUP_SIZE."""
    for spec in specs:
        wanted = int(np.prod(spec.local_size))
        if wanted <= 1:
            continue
        most = cl.Kernel(program, spec.name).get_work_group_info(
            cl.kernel_work_group_info.WORK_GROUP_SIZE, device)
        if wanted > most:
            raise CodegenError(
                f"kernel {spec.name} ({spec.kind}) needs work-groups of {wanted} work-items "
                f"but {device.name.strip()} runs it in at most {most}; please report this "
                "with the output of `python -m graphc devices`, and compile for another "
                "device meanwhile")


def _puller(ctx: "runtime.DeviceContext", state: Any):
    def pull() -> np.ndarray:
        host = np.empty(state.host.shape, state.host.dtype)
        cl.enqueue_copy(ctx.queue, host, state.buffers[ctx])
        return host
    return pull
