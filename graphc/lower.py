"""``lower``: a graph to a ``Program``, as a pure function of the graph and a ``Target``.

A Program is what a call runs: the kernels' source, the steps in order (a kernel
launch, or the host combining values across MPI ranks), the copies that finish updates,
and the buffer plan (temporaries by size, where every output and update lives). It
needs no device: build one for a CPU or a GPU description and read it (``str`` lists
its launches and their math); the runtime (``compiler.Function``) executes it.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, Optional, Union

from . import codegen
from .codegen import BufferRef, KernelSpec
from .errors import ShapeError
from .graph import Op, Tensor
from .schedule import Schedule, plan_buffers, schedule

Plans = Union[None, dict, Callable[[list], dict]]


@dataclasses.dataclass
class Launch:
    """Enqueue one kernel."""

    kernel: KernelSpec


@dataclasses.dataclass
class AllreduceValue:
    """One value the host combines across ranks: read ``source``, write ``target``."""

    node: Tensor
    source: BufferRef
    target: BufferRef

    @property
    def op(self) -> str:
        return self.node.arg

    @property
    def nbytes(self) -> int:
        return self.node.numel() * self.node.dtype.itemsize


@dataclasses.dataclass
class HostAllreduce:
    """Values read back, combined across MPI ranks in one message, written back."""

    values: list


@dataclasses.dataclass
class Copy:
    """After the steps: copy an update's value from a temporary into its parameter."""

    param: Tensor
    source: BufferRef
    nbytes: int


@dataclasses.dataclass
class Program:
    """Everything one call of a compiled function does, in order; no device objects."""

    target: Any
    kernels: list          # KernelSpec per launch, in launch order
    steps: list            # Launch | HostAllreduce, in order
    copies: list           # Copy per update not written in place
    temps: list            # bytes of each temporary buffer
    outputs: list          # BufferRef of each output, in order
    updates: list          # [(parameter, value node)]
    source: str
    schedule: Schedule
    transactional: bool = True

    @property
    def consts(self) -> list:
        """The constant nodes some kernel reads from a buffer, each once."""
        refs = [ref for k in self.kernels for ref in k.args] + [
            v.source for step in self.steps if isinstance(step, HostAllreduce)
            for v in step.values]
        seen: dict[int, Tensor] = {}
        for ref in refs:
            if ref.kind == "const":
                seen.setdefault(id(ref.node), ref.node)
        return list(seen.values())

    def __str__(self) -> str:
        from .inspect import describe_program
        return describe_program(self)


def _buffer_of(sched: Schedule, slot_of: dict, transactional: bool) -> Callable:
    in_place = sched.in_place

    def buffer_of(node: Tensor) -> BufferRef:
        if id(node) in in_place:     # written into the parameter's (spare) buffer
            return BufferRef("spare" if transactional else "param", in_place[id(node)])
        if id(node) in slot_of:
            return BufferRef("temp", slot=slot_of[id(node)])
        if node.op is Op.PLACEHOLDER:
            return BufferRef("input", node)
        if node.op is Op.PARAMETER:
            return BufferRef("param", node)
        return BufferRef("const", node)
    return buffer_of


def _steps(specs: list) -> list:
    steps: list = []
    for spec in specs:
        if spec.kind != "allreduce":
            steps.append(Launch(spec))
            continue
        value = AllreduceValue(spec.nodes[0], spec.args[0], spec.args[1])
        if steps and isinstance(steps[-1], HostAllreduce):
            steps[-1].values.append(value)       # one message for all of them
        else:
            steps.append(HostAllreduce([value]))
    return steps


def lower(outputs: Any, updates: Any = None, target: Any = None, *, fuse: bool = True,
          transactional: bool = True, plans: Plans = None, share: Optional[bool] = None,
          rewrite: bool = True, node_count: Optional[int] = None) -> Program:
    """The Program computing ``outputs`` (a tensor or a list) and ``updates`` (a mapping
    {parameter: new value}, or pairs) on ``target`` (a ``Target``; default a 2-core
    CPU). ``rewrite=False`` takes graphs that ``rewrite.run_passes`` already rewrote.

    ``plans`` gives matmul tile plans: a dict by ``MatmulProblem.key``, or a function of
    the schedule's problems returning one (the tuner's); else the cost model's. ``share``
    (default: ``fuse`` unless ``$GRAPHC_LAUNCHES`` is ``each``) lets a CPU target chain
    matmuls by rows and put independent kernels in one launch.
    """
    if target is None:
        target = codegen.CPU
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    updates = list(updates.items()) if isinstance(updates, dict) else list(updates or [])
    if rewrite:
        from . import inspect, rewrite as passes, specialize
        if specialize.is_symbolic(outputs + [v for _, v in updates]):
            raise ShapeError("lower: the graph has None dimensions, whose sizes a program "
                             "needs; rebuild it for given input shapes first: "
                             "graphc.specialize.with_shapes(roots, {x: (128, 64)})")
        for i, o in enumerate(outputs):
            inspect.label_nodes([o], f"output{i}")
        for p, v in updates:
            inspect.label_nodes([v], f"new {p.name}")
        roots = passes.run_passes(outputs + [v for _, v in updates], fuse)
        outputs, updates = roots[:len(outputs)], [
            (p, v) for (p, _), v in zip(updates, roots[len(outputs):])]
    sched = schedule(outputs, updates, fuse, pack_transposed=fuse and target.packs_transposed,
                     panel_width=functools.partial(codegen.panel_width, target))
    found = plans(codegen.matmul_problems(sched)) if callable(plans) else dict(plans or {})
    if share is None:
        share = fuse and os.environ.get("GRAPHC_LAUNCHES", "shared") != "each"
    chains = codegen.row_chains(sched, target, found) if share else []
    slot_of, sizes = plan_buffers(sched)
    buffer_of = _buffer_of(sched, slot_of, transactional)
    specs = codegen.generate(sched, buffer_of, target, found, chains)
    if share:
        specs = codegen.merge_launches(specs, target)
    kernels = [s for s in specs if s.kind != "allreduce"]
    if node_count is None:
        from .graph import toposort
        node_count = len(toposort(list(outputs) + [v for _, v in updates]))
    source = codegen.program_source(kernels, node_count)
    copies = [Copy(param, BufferRef("temp", slot=slot_of[id(value)]),
                   param.numel() * param.dtype.itemsize)
              for param, value in sched.updates if id(value) not in sched.in_place]
    outs = [BufferRef("temp", slot=slot_of[id(o)]) for o in sched.outputs]
    return Program(target, kernels, _steps(specs), copies, sizes, outs, list(updates),
                   source, sched, transactional)
