"""Fusion: partition the forward+backward DAG into kernel groups, order them, plan buffers.

A ``Group`` becomes one kernel. Its kinds:

- ``elementwise``: elementwise nodes of one shape, evaluated per output element;
- ``reduce``: a reduction, its elementwise producers fused in as a prologue (evaluated at
  each reduced element) and its elementwise consumers as an epilogue;
- ``matmul``: a matrix product with its elementwise consumers as an epilogue;
- ``maxmask``: the first-maximum mask that the gradient of ``max`` needs;
- ``scan``: a running sum or product along an axis, its elementwise producers fused in as
  a prologue and its elementwise consumers as an epilogue, both at each element;
- ``buckets``: a scatter's positions sorted by target (``graphc.ops.gathers``);
- ``scatter``: a scatter-add, one work-item per target element, with its epilogue.

A gather is computed per element like an elementwise node, in its consumers' kernel: an
indexed load of its source, which must be in a buffer written by an earlier kernel.

Views (reshape, permute, broadcast, slices, pads) are never computed: a kernel reads
their base buffer through strides and masks (``View``). An index leaf (``Op.IOTA``) has
no buffer: the kernels that read it compute it, through the same views; a skeleton that
reads operands by strides (matmul, maxmask, allreduce) gets a copy. A value crosses kernels only
through a device buffer. Groups are made by op category (``graphc.ops.registry``); an
op of a category the scheduler does not know is an error.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Optional

import numpy as np

from . import graph
from .errors import CodegenError
from .graph import LEAVES, Op, Tensor, toposort
from .ops.registry import Category, category, is_view, opdef
from .symbolic import operand
from .view import View, contiguous_strides  # noqa: F401  (schedule.View, as before)

# A reduction whose prologue is fused runs the prologue inside the reduction's work-groups;
# with few outputs and a large input that would leave most of a device idle.
PROLOGUE_MAX_ELEMENTS_PER_OUTPUT = 1 << 16

# How many of the latest groups an elementwise node with no fusable source looks through
# for a sibling of its shape to join.
SIBLING_SEARCH = 8

# Groups whose anchor admits no fused elementwise work (allreduce runs on the host).
HOST_KINDS = ("maxmask", "allreduce", "buckets")


# {{{ strided views

def resolve(node: Tensor, bases: dict) -> tuple[Tensor, Optional[View]]:
    """The buffer node and strided view that ``node`` reads, looking through views.

    ``bases`` maps views that were materialised to the copies holding them. Returns
    ``(base, view)``; when a view op cannot be expressed with strides and masks, returns
    ``(inner, None)``: ``inner`` must be materialised (added to ``bases``) first.
    """
    chain = []
    base = node
    while is_view(base) and id(base) not in bases:
        chain.append(base)
        base = base.src[0]
    base = bases.get(id(base), base)
    view = View.contiguous(base.shape)
    if base.op is Op.CONST and base.arg.uniform is not None and base.numel() > 1:
        # one number, read by every element: a buffer of one element, a view of stride 0
        view = View(base.shape, (0,) * base.ndim)
        base = uniform_scalar(base)
    for v in reversed(chain):
        composed = opdef(v).view(v, view)
        if composed is None:
            return v.src[0], None
        view = composed
    return base, view


def uniform_scalar(const: Tensor) -> Tensor:
    """The one-element constant of a uniform constant's value, with as many axes."""
    value = np.full((1,) * const.ndim, const.arg.uniform, const.dtype)
    return graph.constant(value, const.dtype)


def plain_strides(view: View) -> bool:
    """Can a skeleton (matmul, maxmask) read ``view`` by strides alone: no mask and no
    negative stride?"""
    return not view.masked and all(s >= 0 for s in view.strides) and view.offset >= 0

# }}}


def _is_elementwise(node: Tensor) -> bool:
    """Computed per element of its own shape: elementwise ops and gathers."""
    return category(node) in (Category.ELEMENTWISE, Category.GATHER)


def _gathers_from(node: Tensor, source: Tensor) -> bool:
    """Does ``node`` read ``source`` at positions other than its own (a gather)?"""
    return category(node) is Category.GATHER and node.src[0] is source


@dataclasses.dataclass(eq=False)
class Group:
    """The nodes one kernel computes. ``space`` is the shape its main body runs over."""

    kind: str
    space: tuple
    anchor: Optional[Tensor] = None
    nodes: list = dataclasses.field(default_factory=list)      # elementwise, in ``space``
    prologue: list = dataclasses.field(default_factory=list)   # reduce: in the input space
    outputs: list = dataclasses.field(default_factory=list)    # nodes written to buffers
    index: int = -1
    joined: bool = False          # nodes that read nothing of it joined it (siblings)
    panels: int = 0               # matmul: B is read from a copy in panels this wide

    def members(self) -> list:
        return self.prologue + ([self.anchor] if self.anchor is not None else []) + self.nodes

    def __repr__(self) -> str:
        return f"Group({self.kind}, {self.space}, {len(self.members())} nodes)"


@dataclasses.dataclass
class Schedule:
    groups: list                 # in launch order
    loads: dict                  # id(group) -> list of (node, base, view)
    in_place: dict               # id(update value node) -> parameter node it is written into
    outputs: list                # the nodes holding the outputs (copies of leaves and views)
    updates: list                # [(parameter, node holding its new value)]


class _Builder:
    def __init__(self, roots: list, fuse: bool = True, pack_transposed: bool = False,
                 panel_width: Optional[Callable] = None):
        self.roots, self.fuse, self.pack_transposed = roots, fuse, pack_transposed
        self.panel_width = panel_width
        self.group_of: dict[int, Group] = {}
        self.groups: list[Group] = []
        self.bases: dict[int, Tensor] = {}    # id(view) -> the copy that materialises it
        self.copies: set[int] = set()         # ids of the copy nodes
        self.panels: dict[int, Tensor] = {}   # id(matmul) -> the copy of B in panels

    # {{{ dependencies

    def read(self, consumer: Optional[Tensor], src: Tensor) -> tuple[Tensor, View]:
        """The buffer node and view through which ``consumer`` reads ``src``, making copy
        kernels for views that strides cannot express. A matmul whose B was copied into
        panels reads that copy, whole and in its own order."""
        if consumer is not None and id(consumer) in self.panels and src is consumer.src[1]:
            copy = self.panels[id(consumer)]
            return copy, View.contiguous(copy.shape)
        while True:
            bases = self.bases
            if consumer is not None and id(consumer) in self.copies:
                bases = {k: v for k, v in bases.items() if k != id(src)}
            base, view = resolve(src, bases)
            if view is not None:
                return base, view
            self.materialise(base)

    def load_base(self, src: Tensor) -> Tensor:
        return self.read(None, src)[0]

    def writer(self, node: Tensor) -> Optional[Group]:
        return self.group_of.get(id(node))

    def source_groups(self, group: Group) -> set:
        found = set()
        for consumer, node in self.group_reads(group):
            w = self.writer(self.read(consumer, node)[0])
            if w is not None and w is not group:
                found.add(w)
        return found

    def group_reads(self, group: Group) -> Iterable[tuple[Tensor, Tensor]]:
        """(consumer, source) for every value a group reads from a buffer."""
        members = set(map(id, group.members()))
        for n in group.members():
            for s in n.src:
                if id(s) not in members:
                    yield n, s

    def depends(self, a: Group, b: Group) -> bool:
        """Does group ``a`` (transitively) read what group ``b`` writes?"""
        stack, seen = [a], {id(a)}
        while stack:
            for g in self.source_groups(stack.pop()):
                if g is b:
                    return True
                if id(g) not in seen:
                    seen.add(id(g))
                    stack.append(g)
        return False

    # }}}

    def new_group(self, kind: str, space: tuple, anchor: Optional[Tensor] = None) -> Group:
        group = Group(kind, space, anchor)
        self.groups.append(group)
        if anchor is not None:
            self.group_of[id(anchor)] = group
        return group

    def materialise(self, node: Tensor) -> Tensor:
        """An identity node copying ``node`` (a view or leaf) into a buffer of its own."""
        copy = Tensor(Op.EW, (node,), node.shape, node.dtype, operand(0))
        if id(copy) not in self.group_of:
            group = self.new_group("elementwise", node.shape)
            group.nodes.append(copy)
            self.group_of[id(copy)] = group
            self.copies.add(id(copy))
            if is_view(node) or node.op in (Op.CONST, Op.IOTA):
                self.bases[id(node)] = copy
            self.read(copy, node)
        return copy

    def worth_packing(self, node: Tensor) -> bool:
        """Is the first operand of matmul ``node`` a large transposed view that is better
        copied into rows of its own first? A CPU matmul reads its first operand a few
        elements of each k at a time: from a transposed operand that is a new cache line
        (and page) at every k. Copied, each row is read straight through. The large MLP's
        x.T @ g ran at ~200 GFLOP/s; the same shapes with x in rows ran at ~390."""
        a = node.src[0]
        if not is_view(a) or a.ndim < 2:
            return False
        _, view = resolve(a, self.bases)
        if view is None or not plain_strides(view):
            return False
        a_m, a_k = view.strides[-2:]
        M, K = a.shape[-2:]
        return a_m == 1 and a_k != 1 and K >= PACK_MIN_K and M * K >= PACK_MIN_SIZE

    def pack_panels(self, node: Tensor, group: Group) -> None:
        """Copy B of matmul ``node`` into panels, where ``panel_width`` (the target's
        rule) asks for it: panel p holds columns p*w .. p*w+w-1 of every k, one after
        the other, so that a work-item's tile reads its B as one stream."""
        a, b = node.src
        if self.panel_width is None or a is b:
            return
        views = [resolve(s, self.bases)[1] for s in node.src]
        width = 0 if None in views else self.panel_width(node, *views)
        if not width:
            return
        *batch, K, N = b.shape
        nb = len(batch)
        split = Tensor(Op.RESHAPE, (b,), (*batch, K, N // width, width), b.dtype)
        order = tuple(range(nb)) + (nb + 1, nb, nb + 2)
        panels = Tensor(Op.PERMUTE, (split,), (*batch, N // width, K, width), b.dtype, order)
        self.panels[id(node)] = self.materialise(panels)
        group.panels = width

    def can_join(self, node: Tensor, group: Group) -> bool:
        """May ``node`` be computed in ``group``'s main body without a race or a cycle?"""
        if group.space != node.shape or group.kind in HOST_KINDS:
            return False
        members = set(map(id, group.members()))
        for s in node.src:
            if id(s) in members:
                if group.kind in ("reduce", "scan") and any(s is p for p in group.prologue):
                    return False
                if _gathers_from(node, s):      # other elements of it: not yet computed
                    return False
                continue
            w = self.writer(self.load_base(s))
            if w is group or (w is not None and self.depends(w, group)):
                return False
        return True

    def can_merge(self, into: Group, other: Group) -> bool:
        """May plain elementwise group ``other`` become part of ``into``'s main body?"""
        return (other is not into and other.kind == "elementwise"
                and not any(id(n) in self.copies for n in into.nodes + other.nodes)
                and into.kind not in HOST_KINDS and into.space == other.space
                and not self.depends(into, other) and not self.depends(other, into))

    def merge(self, into: Group, other: Group) -> None:
        into.nodes.extend(other.nodes)
        for n in other.nodes:
            self.group_of[id(n)] = into
        self.groups.remove(other)

    def place_elementwise(self, node: Tensor) -> None:
        candidates = []
        if not self.fuse:
            candidates = [None]   # one kernel per node: the unfused reference schedule
        for s in node.src:
            g = self.group_of.get(id(s))
            if g is not None and g not in candidates and not _is_elementwise(s):
                candidates.append(g)      # anchors first: epilogues of matmul / reduce
        for s in node.src:
            g = self.group_of.get(id(s))
            if g is not None and g not in candidates:
                candidates.append(g)
        for g in candidates:
            if g is None:
                break
            if g not in self.groups or g.space != node.shape or g.kind in HOST_KINDS:
                continue
            for other in candidates:   # siblings of one shape become one kernel
                if other in self.groups and self.can_merge(g, other):
                    self.merge(g, other)
            if self.can_join(node, g):
                g.nodes.append(node)
                self.group_of[id(node)] = g
                return
        sibling = self.sibling(node) if self.fuse else None
        if sibling is not None:
            sibling.nodes.append(node)
            sibling.joined = True
            self.group_of[id(node)] = sibling
            return
        group = self.new_group("elementwise", node.shape)
        group.nodes.append(node)
        self.group_of[id(node)] = group
        for s in node.src:
            self.load_base(s)

    def sibling(self, node: Tensor) -> Optional[Group]:
        """A recent plain elementwise group of ``node``'s shape that it may join though it
        reads nothing the group computes: independent work of one shape (outputs of
        the same inputs, a forward value and its gradient) shares one kernel, and the
        kernel IR shares what they compute alike."""
        for g in reversed(self.groups[-SIBLING_SEARCH:]):
            if (g.kind == "elementwise" and g.space == node.shape
                    and not any(id(n) in self.copies for n in g.nodes)
                    and self.can_join(node, g)):
                return g
        return None

    def all_needed(self, group: Group, x: Tensor) -> bool:
        """Does ``x`` need every node of ``group``? True unless siblings joined it: work
        that only shares the space (a forward value and its gradient) rather than work
        that only reads leaves on the way to ``x`` (a random tensor's key schedule)."""
        if not group.joined:
            return True
        members = {id(n) for n in group.nodes}
        seen, stack = {id(x)}, [x]
        while stack:
            for s in stack.pop().src:
                if id(s) in members and id(s) not in seen:
                    seen.add(id(s))
                    stack.append(s)
        return members <= seen

    def place_reduce(self, node: Tensor) -> None:
        (x,) = node.src
        producer = self.group_of.get(id(x))
        # a group that siblings joined holds work the reduction does not need: it stays
        # a (vectorised) elementwise kernel rather than becoming the reduction's prologue
        if (self.fuse and _is_elementwise(x) and producer is not None
                and producer.kind == "elementwise" and self.all_needed(producer, x)
                and producer.space == x.shape
                and x.numel() // max(node.numel(), 1) <= PROLOGUE_MAX_ELEMENTS_PER_OUTPUT):
            producer.kind, producer.space, producer.anchor = "reduce", node.shape, node
            producer.prologue, producer.nodes = producer.nodes, []
            self.group_of[id(node)] = producer
            return
        self.new_group("reduce", node.shape, node)
        self.load_base(x)

    def place_scan(self, node: Tensor) -> None:
        """A scan takes its elementwise producer's group as its prologue, whatever the
        sizes: the rows are the parallel work with the prologue fused or not."""
        (x,) = node.src
        producer = self.group_of.get(id(x))
        if (self.fuse and _is_elementwise(x) and producer is not None
                and producer.kind == "elementwise" and self.all_needed(producer, x)
                and producer.space == x.shape):
            producer.kind, producer.anchor = "scan", node
            producer.prologue, producer.nodes = producer.nodes, []
            self.group_of[id(node)] = producer
            return
        self.new_group("scan", node.shape, node)
        self.load_base(x)

    def read_plain(self, src: Tensor) -> None:
        """Load ``src`` for a skeleton that reads by strides alone: a view with a mask
        or a negative stride is copied into a buffer first."""
        base, view = self.read(None, src)
        if not plain_strides(view) or base.op is Op.IOTA:    # an index leaf has no buffer
            self.materialise(src)

    def build(self) -> list:
        for node in toposort(self.roots):
            kind = category(node)
            if kind is Category.ELEMENTWISE:
                self.place_elementwise(node)
            elif kind is Category.REDUCE:
                self.place_reduce(node)
            elif kind is Category.SCAN:
                self.place_scan(node)
            elif kind is Category.CONTRACT:
                group = self.new_group("matmul", node.shape, node)
                if self.pack_transposed and self.worth_packing(node):
                    self.materialise(node.src[0])
                self.pack_panels(node, group)
                for s in node.src:
                    if not (s is node.src[1] and group.panels):
                        self.read_plain(s)
            elif kind is Category.INDEX:
                self.new_group("maxmask", node.shape, node)
                self.read_plain(node.src[0])
            elif kind is Category.GATHER:
                self.place_elementwise(node)
            elif kind in (Category.SORT, Category.SCATTER):
                self.new_group("buckets" if kind is Category.SORT else "scatter",
                               node.shape, node)
                for s in node.src:      # they read buffers: an index leaf is written first
                    if resolve(s, self.bases)[0].op is Op.IOTA:
                        self.materialise(s)
                    self.load_base(s)
            elif kind is Category.HOST:     # the host sends a whole contiguous buffer
                src = node.src[0]
                if is_view(src) or src.op is Op.IOTA or (
                        src.op is Op.CONST and src.arg.uniform is not None):
                    self.materialise(node.src[0])
                self.new_group("allreduce", node.shape, node)
                self.load_base(node.src[0])
            elif kind not in (Category.LEAF, Category.VIEW):
                raise CodegenError(f"the scheduler has no kernel for {node!r} (an op of "
                                   f"category {kind.value!r})")
        return self.groups

    def holder(self, root: Tensor) -> Tensor:
        """The node whose buffer will hold ``root``: a copy for leaves and views, but a
        view that reads a computed buffer whole and in order (a reshape of a matmul, of
        a copy) is that buffer: the result is read back as ``root``'s shape."""
        if is_view(root):
            base, view = self.read(None, root)   # copies first what strides cannot say
            if (view.is_contiguous and view.offset == 0
                    and base.op not in LEAVES and base.numel() == root.numel()):
                return base        # a computed buffer (or a copy already made), in order
        return self.materialise(root) if root.op in LEAVES or is_view(root) else root


def _launch_order(builder: _Builder, groups: list, in_place_candidates: set) -> list:
    """Topological order of groups; kernels that overwrite a parameter go as late as they can."""
    deps = {id(g): builder.source_groups(g) for g in groups}
    done: set[int] = set()
    order = []
    while len(order) < len(groups):
        ready = [g for g in groups if id(g) not in done and all(id(d) in done for d in deps[id(g)])]
        # allreduces wait while other work is ready, so that those at one point travel
        # together; kernels that overwrite a parameter wait for everything else
        ready.sort(key=lambda g: 2 if id(g) in in_place_candidates else
                   1 if g.kind == "allreduce" else 0)
        order.append(ready[0])
        done.add(id(ready[0]))
    return order


PACK_MIN_K = 1024              # a transposed first operand of a matmul is copied into
PACK_MIN_SIZE = 1 << 20        # rows from this reduction length and size on (CPUs)


def schedule(outputs: list, updates: list, fuse: bool = True,
             pack_transposed: bool = False,
             panel_width: Optional[Callable] = None) -> Schedule:
    """Fuse the graph of ``outputs`` and ``updates`` ([(parameter, new value)]) into kernels.

    ``fuse=False`` gives every elementwise node and reduction a kernel of its own (the
    reference that fusion is tested against); updates may still be written in place.
    ``pack_transposed`` copies large transposed first operands of matmuls into rows
    (``_Builder.worth_packing``), for CPUs. ``panel_width(matmul, a view, b view)`` says
    how wide the panels are that a matmul's B is first copied into (0: none; fused
    schedules only).
    """
    builder = _Builder(list(outputs) + [v for _, v in updates], fuse, pack_transposed,
                       panel_width if fuse else None)
    builder.build()
    outputs = [builder.holder(o) for o in outputs]
    updates = [(p, builder.holder(v)) for p, v in updates]
    groups = builder.groups

    loads: dict[int, list] = {}
    needed: set[int] = {id(r) for r in outputs + [v for _, v in updates]}
    for g in groups:
        entries = []
        for consumer, s in builder.group_reads(g):
            base, view = builder.read(consumer, s)
            entries.append((s, base, view))
            needed.add(id(base))
        loads[id(g)] = entries
    writer: dict[int, Group] = {}
    for g in groups:
        g.outputs = [n for n in g.members() if id(n) in needed]
        for n in g.outputs:
            writer[id(n)] = g

    candidates = _in_place_candidates(updates, outputs, builder, loads, writer)
    groups = _launch_order(builder, groups, {id(writer[id(v)]) for _, v in
                                             updates if id(v) in candidates})
    for i, g in enumerate(groups):
        g.index = i
    in_place = {}
    for param, value in updates:
        if id(value) not in candidates:
            continue
        g = writer[id(value)]
        later_reads = any(base is param for h in groups[g.index + 1:]
                          for _, base, _ in loads[id(h)])
        if not later_reads:
            in_place[id(value)] = param
    return Schedule(groups, loads, in_place, outputs, updates)


def _in_place_candidates(updates, outputs, builder, loads, writer) -> set:
    """Update values that their kernel may write straight into the parameter's buffer.
    Only readers in other kernels count: one in the same kernel takes the value from a
    register (an optimizer's new moment, read by the new weight it computes)."""
    consumers: dict[int, int] = {}
    for entries in loads.values():
        for _, base, _ in entries:
            consumers[id(base)] = consumers.get(id(base), 0) + 1
    output_ids = {id(o) for o in outputs}
    values = [v for _, v in updates]
    found = set()
    for param, value in updates:
        g = writer.get(id(value))
        if (g is None or id(value) in output_ids or sum(v is value for v in values) > 1
                or consumers.get(id(value), 0) or any(value is p for p in g.prologue)
                or id(value) in builder.copies):
            continue
        # inside its kernel the parameter may only be read at the element being written
        ok = all(base is not param or (s is param and _reads_pointwise(g, s))
                 for s, base, _ in loads[id(g)])
        if ok:
            found.add(id(value))
    return found


def _reads_pointwise(group: Group, param: Tensor) -> bool:
    if group.kind in HOST_KINDS or param.shape != group.space:
        return False
    if any(_gathers_from(n, param) for n in group.members()):
        return False
    return all(all(s is not param for s in n.src) for n in group.prologue + (
        [group.anchor] if group.anchor is not None else []))


def plan_buffers(sched: Schedule) -> tuple[dict, list]:
    """Temporary buffers for the values that cross kernels, reused once no kernel needs them.

    Returns ``(slot_of, sizes)``: ``slot_of`` maps id(node) to a slot number, and ``sizes``
    gives each slot's bytes. In-place update values and leaves take no slot.
    """
    last_read: dict[int, int] = {}
    for g in sched.groups:
        for _, base, _ in sched.loads[id(g)]:
            last_read[id(base)] = max(last_read.get(id(base), -1), g.index)
    end = len(sched.groups)
    for r in sched.outputs + [v for _, v in sched.updates]:
        last_read[id(r)] = end
    slot_of: dict[int, int] = {}
    sizes: list[int] = []
    busy: list[tuple[int, int]] = []           # (last reader, slot)
    free: list[int] = []
    for g in sched.groups:
        for last, slot in [b for b in busy if b[0] < g.index]:
            busy.remove((last, slot))
            free.append(slot)
        for node in g.outputs:
            if id(node) in sched.in_place:
                continue
            nbytes = node.numel() * node.dtype.itemsize
            fits = sorted((sizes[s], s) for s in free if sizes[s] >= nbytes)
            if fits:
                slot = fits[0][1]
                free.remove(slot)
            else:
                slot = len(sizes)
                sizes.append(nbytes)
            slot_of[id(node)] = slot
            busy.append((last_read.get(id(node), g.index), slot))
    return slot_of, sizes

