"""CPU launch reduction, as passes over kernel specs: matmuls chained by blocks of rows
(``row_chains`` picks them, ``rows_kernel`` composes their kernels) and independent kernels in
one launch (``merge_launches``); and the host's allreduce step.

Both compose kernels that run as functions of their global ids (``KernelSpec.function``,
rendered from the same template and fields as the kernel); a kernel that needs its
work-groups (``KernelSpec.work_groups``, set by the writer that chose its skeleton) or
has work-groups of more than one work-item keeps its own launch.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..dtypes import cl_type
from ..errors import CodegenError
from ..graph import Op
from ..schedule import Group, Schedule
from ..target import CPU, Target
from .kernel import COMPOSERS, BufferRef, KernelSpec, named
from .matmul import _problem, matmul_plans


# {{{ matmuls chained by blocks of rows

def row_chains(sched: Schedule, target: Target, plans: dict) -> list:
    """Chains of matmuls that one work-item can run for a block of rows, one after the
    other: each reads what the ones before it wrote only in its own rows (as the rows of
    its first operand, or element by element in its epilogue), and all share a row tile
    that divides M. The seed's x @ w1, then relu(h) @ w2 and its residual, then the
    residual @ w2.T * (h > 0), are one chain: one launch instead of three, and the
    intermediate rows are still in the core's cache when the next matmul reads them.

    CPU only (on a GPU a block of rows is too little work for a work-group). Reorders
    ``sched.groups`` so that each chain's members are consecutive, and gives them one
    index, so that buffer planning keeps every buffer they read alive for all of them.
    Adds each member's plan to ``plans`` under id(group). Returns [(groups, rows)]."""
    if not target.chains_rows:
        return []
    groups = sched.groups
    finder = _ChainFinder(sched)
    chains, taken = [], set()
    for g in list(groups):
        if id(g) in taken or not finder.plain(g):
            continue
        start = groups.index(g)
        chain = finder.grow(g, taken)
        if len(chain) < 2 or sum(c.anchor.src[0].numel() * c.space[1] for c in chain) \
                > CHAIN_MAX_MACS:
            continue
        chosen = _chain_plans(chain, sched, target, plans)
        if chosen is None:
            continue
        rows, member_plans = chosen
        for c in chain[1:]:
            groups.remove(c)
        groups[start + 1:start + 1] = chain[1:]
        for c, plan in zip(chain, member_plans):
            plans[id(c)] = plan
        taken.update(map(id, chain))
        chains.append((chain, rows))
    index, chained = -1, {id(c): chain for chain, _ in chains for c in chain}
    for i, g in enumerate(groups):
        chain = chained.get(id(g))
        if chain is None or g is chain[0]:
            index += 1
        g.index = index
    return chains


class _ChainFinder:
    """Which matmul groups of a schedule may follow which in a chain by rows."""

    def __init__(self, sched: Schedule):
        self.groups, self.loads = sched.groups, sched.loads
        self.writer = {id(n): g for g in sched.groups for n in g.outputs}
        self.in_place = set(sched.in_place)

    def plain(self, g: Group) -> bool:
        """A 2-D matmul that writes nothing in place and reads its B in place (a
        matmul large enough for panels is too large to gain from a chain)."""
        return (g.kind == "matmul" and len(g.space) == 2 and not g.panels
                and not any(id(n) in self.in_place for n in g.outputs))

    def sources(self, g: Group) -> set:
        """The groups that write what ``g`` reads."""
        return {self.writer[id(b)] for _, b, _ in self.loads[id(g)]
                if id(b) in self.writer} - {g}

    def row_local(self, g: Group, written: set, M: int) -> bool:
        """Whether ``g`` reads each of ``written`` only in its own rows, as rows of its
        first operand or element by element in its epilogue."""
        b_operand = g.anchor.src[1]
        if any(n.op is Op.GATHER for n in g.members()):
            return False       # a gather in the epilogue may read any row
        for s, base, view in self.loads[id(g)]:
            if id(base) not in written:
                continue
            if s is b_operand or base.ndim != 2 or base.shape[0] != M or view.offset \
                    or len(view.shape) != 2 or view.strides[0] != base.shape[1] \
                    or view.strides[1] not in (0, 1):
                return False
        return True

    def grow(self, g: Group, taken: set) -> list:
        """The longest chain from ``g``: each next member the first later plain matmul
        of the same M that reads the chain's results row by row, and otherwise only
        what was written before the chain starts."""
        groups, M, chain = self.groups, g.space[0], [g]
        start = groups.index(g)
        while True:
            members = set(map(id, chain))
            written = {id(n) for c in chain for n in c.outputs}
            nxt = None
            for h in groups[groups.index(chain[-1]) + 1:]:
                if id(h) in taken or not self.plain(h) or h.space[0] != M:
                    continue
                src = self.sources(h)
                if not any(id(c) in members for c in src):
                    continue
                if all(id(c) in members or groups.index(c) < start for c in src) \
                        and self.row_local(h, written, M):
                    nxt = h
                    break
            if nxt is None:
                return chain
            chain.append(nxt)


# A chain's blocks of rows: at least this many per core. With 4 blocks of 16 rows the
# seed's chain took 73 us, with 16 blocks of 4 rows 56 us: PoCL's threads balance many
# small blocks better. Chains save launches, which matter for small matmuls only: a chain
# does at most CHAIN_MAX_MACS multiply-adds (the seed's: 6.7M).
ROW_BLOCKS_PER_CORE = 8
CHAIN_MAX_MACS = 1 << 25


def _chain_plans(chain: list, sched: Schedule, target: Target,
                 plans: dict) -> Optional[tuple]:
    """(rows, [plan per member]): the row tile, from the first member's own plan's down,
    that divides M into enough blocks and for which every member has a plan (its
    tuned plan if that has the tile, else the model's best with it); None if none."""
    M = chain[0].space[0]
    ranked = []
    for g in chain:
        view_of = {id(s): view for s, _, view in sched.loads[id(g)]}
        problem = _problem(g, *(view_of[id(src)] for src in g.anchor.src))
        tuned = plans.get(problem.key)
        ranked.append(([tuned] if tuned else []) + matmul_plans(problem, target))
    first = ranked[0][0]["TM"]
    for rows in [first] + [r for r in (16, 12, 8, 6, 4, 2) if r < first]:
        if M % rows or M // rows < ROW_BLOCKS_PER_CORE * target.compute_units:
            continue
        picked = [next((p for p in options if p["TM"] == rows), None) for options in ranked]
        if all(picked):
            return rows, picked
    return None


def rows_kernel(parts: list, rows: int, M: int) -> KernelSpec:
    """One kernel running a chain of matmul kernels (``row_chains``) by blocks of rows:
    work-item b runs, for rows b*rows.., every tile of that row of tiles of each part in
    turn. Each part is a function of its global ids, as in a launch."""
    args, keys, written = _shared_args(parts)
    spec = KernelSpec("", "rows", "", [ref for ref, _ in args], (M // rows,), (1,),
                      [n for p in parts for n in p.nodes],
                      [n for p in parts for n in p.outputs], parts[0].dtype,
                      sum(p.flops for p in parts), sum(p.bytes for p in parts),
                      written=[ref for ref, _ in args if _arg_key(ref) in written],
                      parts=list(parts), template="rows",
                      fields={"parts": len(parts), "rows": rows,
                              "args": _signature(keys, args, written)})
    return named(spec)


def _rows_fields(spec: KernelSpec, name: str) -> dict:
    """The parts of a ``rows`` kernel named ``name``: its functions, and its steps."""
    keys = _shared_args(spec.parts)[1]
    functions, steps = [], []
    for i, part in enumerate(spec.parts):
        functions.append(part.function(f"{name}_{i}"))
        along_m = 0 if part.plan.get("order") == "mn" else 1
        tiles = part.global_size[1 - along_m]
        ids = ("b", "t") if along_m == 0 else ("t", "b")
        passed = ", ".join(f"b{keys.index(_arg_key(ref))}" for ref in part.args)
        steps.append(f"    for (int t = 0; t < {tiles}; t++)\n"
                     f"        {name}_{i}({passed}, {ids[0]}, {ids[1]}, 0);")
    return {"functions": "\n".join(functions), "steps": "\n".join(steps)}


COMPOSERS["rows"] = _rows_fields

# }}}


# {{{ one launch for kernels that do not depend on each other

# kernels above these sizes (a few microseconds' work on a CPU) are "large": a launch holds
# at most one; below them a launch costs about as much as the work
LAUNCH_SHARE_FLOPS = 1 << 21
LAUNCH_SHARE_BYTES = 1 << 21


def _buffer_key(ref: BufferRef) -> tuple:
    """Which buffer ``ref`` is. A parameter's current and spare buffers are two: a kernel
    writing the spare (a transactional update) does not race one reading the current
    value, so an optimizer's step counter shares the launch of the weights that read it.
    Updates written over the current value (``transactional=False``) are "param" refs."""
    if ref.kind == "temp":
        return ("temp", ref.slot)
    return (ref.kind, id(ref.node))


def _arg_key(ref: BufferRef) -> tuple:
    return (ref.kind, id(ref.node), ref.slot)


def _launchable_together(spec: KernelSpec) -> bool:
    """Whether ``spec`` can run as a function of its global ids inside another kernel:
    rendered from a template, work-groups of one work-item, no work-group features."""
    return (spec.kind != "allreduce" and bool(spec.template) and not spec.work_groups
            and all(n == 1 for n in spec.local_size))


def merge_launches(specs: list, target: Target = CPU) -> list:
    """Consecutive kernels of work-groups of one work-item that neither read what another
    writes nor write what another reads or writes become one launch: one kernel whose
    work-items each run one work-item of one of them (a ``launch_`` kernel; its
    ``parts`` are the kernels). On a CPU each launch costs a wake-up of the device's
    threads and a wait for the slowest of them: the seed's two weight updates, and its
    loss with its hidden-layer gradient, each share one. A launch holds at most one large
    kernel: the large MLP's two weight-gradient matmuls took 87 ms in one launch against
    74 ms in two (each core on another operand, sharing the last-level cache). A GPU
    launches every kernel on its own (``target.shares_launches``)."""
    if not target.shares_launches:
        return list(specs)
    merged: list = []
    batch: list = []
    reads: set = set()
    writes: set = set()

    def close() -> None:
        merged.append(_launch(batch) if len(batch) > 1 else batch[0])
        batch.clear()
        reads.clear()
        writes.clear()

    def large(spec: KernelSpec) -> bool:
        return spec.flops > LAUNCH_SHARE_FLOPS or spec.bytes > LAUNCH_SHARE_BYTES

    for spec in specs:
        if not _launchable_together(spec):
            if batch:
                close()
            merged.append(spec)
            continue
        w = {_buffer_key(r) for r in spec.written}
        r = {_buffer_key(a) for a in spec.args} - w
        if batch and (w & (reads | writes) or r & writes
                      or large(spec) and any(map(large, batch))):
            close()
        batch.append(spec)
        reads.update(r)
        writes.update(w)
    if batch:
        close()
    return merged


def _shared_args(parts: list) -> tuple:
    """The arguments of a kernel running ``parts``: each buffer once, in order of first
    use, with its element type; their keys; the keys of those some part writes."""
    args: list = []
    keys: list = []
    written = set()
    for part in parts:
        types = part.arg_types or [cl_type(part.dtype)] * len(part.args)
        for ref, T in zip(part.args, types):
            if _arg_key(ref) not in keys:
                keys.append(_arg_key(ref))
                args.append((ref, T))
        written.update(_arg_key(ref) for ref in part.written)
    return args, keys, written


def _signature(keys: list, args: list, written: set) -> str:
    return ", ".join(f"__global {'' if key in written else 'const '}{T}* restrict b{i}"
                     for i, (key, (_, T)) in enumerate(zip(keys, args)))


def _launch(parts: list) -> KernelSpec:
    """One kernel running ``parts`` (kernels of work-groups of one work-item, independent
    of each other). Each part becomes a function of its global ids; work-item ``id`` of
    the launch runs work-item ``id - start`` of the part whose range holds it, unravelled
    over the part's global size."""
    args, keys, written = _shared_args(parts)
    total = sum(int(np.prod(p.global_size)) for p in parts)
    spec = KernelSpec("", "launch", "", [ref for ref, _ in args], (total,), (1,),
                      [n for p in parts for n in p.nodes],
                      [n for p in parts for n in p.outputs], parts[0].dtype,
                      sum(p.flops for p in parts), sum(p.bytes for p in parts),
                      written=[ref for ref, _ in args if _arg_key(ref) in written],
                      parts=list(parts), template="launch",
                      fields={"parts": len(parts), "args": _signature(keys, args, written)})
    return named(spec)


def _launch_fields(spec: KernelSpec, name: str) -> dict:
    """The parts of a ``launch`` kernel named ``name``: its functions, and its dispatch."""
    keys = _shared_args(spec.parts)[1]
    functions, dispatch = [], []
    for i, part in enumerate(spec.parts):
        functions.append(part.function(f"{name}_{i}"))
        gx, gy, gz = (tuple(part.global_size) + (1, 1))[:3]
        count = gx * gy * gz
        passed = ", ".join(f"b{keys.index(_arg_key(ref))}" for ref in part.args)
        dispatch.append(f"    if (id < {count}) {{\n"
                        f"        {name}_{i}({passed}, id % {gx}, id / {gx} % {gy}, "
                        f"id / {gx * gy});\n        return;\n    }}\n    id -= {count};")
    return {"functions": "\n".join(functions), "dispatch": "\n".join(dispatch)}


COMPOSERS["launch"] = _launch_fields

# }}}


def allreduce_step(group: Group, sched: Schedule, buffer_of: Callable) -> KernelSpec:
    """Not a kernel: the host combines the source buffer across ranks into the output."""
    node = group.anchor
    (entry,) = sched.loads[id(group)]
    _, base, view = entry
    if not view.is_contiguous or view.shape != base.shape:
        raise CodegenError("allreduce of a strided view: materialise it first")
    return KernelSpec(f"allreduce_{node.arg}", "allreduce", "", [buffer_of(base),
                      buffer_of(node)], (), (), [node], list(group.outputs), node.dtype,
                      0, 2 * node.numel() * node.dtype.itemsize)

