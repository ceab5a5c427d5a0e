"""Kernel specs and the writer core: arguments, signatures, kernel IR bodies, the skeleton
writers registered per group kind, and rendering a spec as a kernel or as a function.

The elementwise nodes of a group become kernel IR values (``kir``), one body per index
space: each node's formula translated once over its operands' values, which are other
nodes' values (registers of the same kernel) or loads (buffers, read through strided
views). Equal values are one value by construction; ``printer.CPrinter`` prints them.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable, Optional

import numpy as np
import sympy as sp

from .. import kir, templates
from ..dtypes import cl_type, is_float, literal
from ..errors import CodegenError
from ..graph import Op, Tensor
from ..printer import CPrinter
from ..schedule import Group, Schedule
from ..symbolic import operand
from ..target import CPU, Target
from .space import _index_text, _Space, strided_read

ACC = sp.Symbol("acc", real=True)
FORMULA_INLINE_OPS = 40         # KernelSpec.expression inlines sources up to this size

# How a skeleton renders: as a kernel of its own, or as a function of its three global ids
# (gc_id0..2, read through the preamble's GC_ID) that a launch or a row chain calls
KERNEL_FORM = {"qualifier": "__kernel", "gid": "get_global_id"}
FUNCTION_FORM = {"qualifier": "static", "gid": "GC_ID"}
GC_IDS = ", const int gc_id0, const int gc_id1, const int gc_id2"


def unrestricted(args: str) -> str:
    """A kernel's parameter list ``args`` without its ``restrict`` qualifiers, for the
    function form. The kernel that calls the function keeps them on its own parameters,
    which are what the function is passed; on the function's, LLVM inlines them as
    ``llvm.experimental.noalias.scope.decl``, which Oclgrind cannot run (it refused to
    build every launch and row chain). PoCL runs both the same: the seed's step, a row
    chain and a launch, took the same time with and without them."""
    return args.replace("* restrict ", "* ")


@dataclasses.dataclass(frozen=True, eq=False)
class BufferRef:
    """A device buffer a kernel argument is bound to: a placeholder's, a parameter's, a
    constant's (``node`` set) or a temporary (``slot``). Equal when they name the same
    buffer: the node by identity (``==`` on tensors builds a comparison)."""

    kind: str
    node: Optional[Tensor] = None
    slot: int = -1

    def _key(self) -> tuple:
        return (self.kind, id(self.node), self.slot)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BufferRef) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclasses.dataclass
class KernelSpec:
    """One generated kernel: its source, arguments in order, and launch geometry.

    ``template`` and ``fields`` are what the source was rendered from (``kernels/`` and
    every field but the name and the id functions); ``work_groups`` says the kernel needs
    its work-groups (local memory, barriers, local or group ids), so it can never run as a
    function of its global ids (``function``) inside another kernel.
    """

    name: str
    kind: str
    source: str
    args: list                    # BufferRef per kernel argument
    global_size: tuple
    local_size: tuple
    nodes: list                   # graph nodes the kernel computes
    outputs: list                 # nodes it writes
    dtype: np.dtype
    flops: int = 0                # floating-point operations per call (estimated)
    bytes: int = 0                # bytes read and written per call (each buffer once)
    expression: dict = dataclasses.field(default_factory=dict)   # output -> sympy formula
    loads: dict = dataclasses.field(default_factory=dict)        # formula symbol -> node
    written: list = dataclasses.field(default_factory=list)      # the BufferRefs it writes
    parts: list = dataclasses.field(default_factory=list)        # a launch: the kernels in it
    plan: Optional[dict] = None                                  # a matmul's tile plan
    arg_types: list = dataclasses.field(default_factory=list)    # C element type per arg
    template: str = ""                                           # "": not from a skeleton
    fields: dict = dataclasses.field(default_factory=dict)       # the template's fields
    work_groups: bool = False

    def generated(self) -> list:
        """The kernels generated from groups that this one runs: itself, or its parts'."""
        return [g for p in self.parts for g in p.generated()] if self.parts else [self]

    def render(self, name: str, function: bool = False) -> str:
        """The source of this kernel named ``name``, from its template and fields; with
        ``function``, as ``static void name(<args>, gc_id0, gc_id1, gc_id2)`` that runs
        the work-item of those global ids."""
        if not self.template:
            raise CodegenError(f"kernel {self.name!r} was not rendered from a template")
        if function and self.work_groups:
            raise CodegenError(f"kernel {self.name!r} needs its work-groups: it cannot run "
                               "as a function of its global ids")
        fields = dict(self.fields)
        if self.kind in COMPOSERS:
            fields.update(COMPOSERS[self.kind](self, name))
        if function:
            fields["args"] = unrestricted(fields["args"]) + GC_IDS
        form = FUNCTION_FORM if function else KERNEL_FORM
        return templates.render(self.template, name=name, **form, **fields)

    def function(self, name: str) -> str:
        """This kernel as a function ``name`` of its three global ids (see ``render``)."""
        return self.render(name, function=True)


def named(spec: KernelSpec) -> KernelSpec:
    """``spec`` with its name (its kind and a hash of its source) and its source."""
    digest = hashlib.sha1(spec.render("$name").encode()).hexdigest()[:8]
    spec.name = f"{spec.kind}_{digest}"
    spec.source = spec.render(spec.name)
    return spec


@dataclasses.dataclass
class Skeleton:
    """What a group kind's writer returns: a template, its fields, the launch geometry,
    and whether the kernel needs its work-groups."""

    template: str
    fields: dict
    global_size: tuple
    local_size: tuple
    work_groups: bool = False


# group kind -> the function writing its kernel's skeleton (elementwise, reduce, matmul ...)
WRITERS: dict[str, Callable[["KernelWriter"], Skeleton]] = {}
# kernel kind -> the fields of a kernel that runs other kernels (a launch, a row chain),
# as a function of the spec and the name it is rendered with
COMPOSERS: dict[str, Callable[[KernelSpec, str], dict]] = {}


def writes(kind: str) -> Callable:
    """Register the decorated function as the skeleton writer of groups of ``kind``."""
    def register(fn: Callable[["KernelWriter"], Skeleton]) -> Callable:
        WRITERS[kind] = fn
        return fn
    return register


class KernelWriter:
    """Writes the kernel of one group, given where each materialised node lives."""

    def __init__(self, group: Group, sched: Schedule, buffer_of: Callable[[Tensor], BufferRef],
                 target: Target = CPU, plans: Optional[dict] = None):
        self.group, self.buffer_of, self.target = group, buffer_of, target
        self.plans = plans or {}
        self.plan: Optional[dict] = None
        # the skeleton's type (a reduction's accumulator, a matmul's): the anchor's (an
        # argmax's: the values it compares), else the first float among the members (a
        # bool mask may come first)
        floats = [n.dtype for n in group.members() if is_float(n.dtype)]
        anchor = group.anchor
        self.dtype = (anchor.src[0].dtype if anchor is not None and anchor.op is Op.ARGMAX
                      else anchor.dtype if anchor is not None else
                      floats[0] if floats else group.members()[0].dtype)
        self.T = cl_type(self.dtype)
        self.args: list[BufferRef] = []
        self.arg_types: dict = {}                  # BufferRef -> its elements' dtype
        self.written: set = set()
        self.load_of = {id(s): (base, view) for s, base, view in sched.loads[id(group)]}
        self.formula: dict = {}                    # id(node) -> sympy formula
        self.traffic: dict[BufferRef, int] = {}    # bytes each argument moves per call
        self.flops = 0
        self.expression: dict = {}
        self.loads: dict = {}

    def arg(self, ref: BufferRef, write: bool = False, node: Optional[Tensor] = None) -> str:
        if ref not in self.args:
            self.args.append(ref)
            self.arg_types[ref] = node.dtype if node is not None else self.dtype
        if write:
            self.written.add(ref)
        if node is not None:
            nbytes = node.numel() * node.dtype.itemsize
            self.traffic[(ref, write)] = max(self.traffic.get((ref, write), 0), nbytes)
        return f"b{self.args.index(ref)}"

    def signature(self) -> str:
        return ", ".join(
            f"__global {'' if ref in self.written else 'const '}"
            f"{cl_type(self.arg_types[ref])}* restrict b{i}" for i, ref in enumerate(self.args))

    # {{{ expressions

    def _values(self, kb: kir.Builder, targets: list, space: _Space, members: set,
                names: dict) -> dict:
        """id(node) -> kernel IR value of each of ``targets`` and what they need: members
        computed from their formulas, other nodes loaded through their views, the
        reduction's or matmul's anchor as ``acc``. Iterative: chains of any length."""
        values: dict[int, kir.Value] = {}
        stack = list(reversed(targets))          # first things first: arguments in order
        while stack:
            node = stack[-1]
            if id(node) in values:
                stack.pop()
                continue
            if node is self.group.anchor and self.group.kind in ("reduce", "matmul", "scan",
                                                                 "scatter"):
                values[id(node)] = kb.var("acc", node.dtype)
                self.formula[id(node)] = ACC
            elif id(node) in members and node.op is Op.GATHER:
                missing = [s for s in node.src[1:] if id(s) not in values]
                if missing:
                    stack.extend(reversed(missing))
                    continue
                values[id(node)] = self._gather(kb, node, values, space)
            elif id(node) in members:
                missing = [s for s in node.src if id(s) not in values]
                if missing:
                    stack.extend(reversed(missing))
                    continue
                env = {operand(i): values[id(s)] for i, s in enumerate(node.src)}
                T = kir.compute_dtype(node.dtype, [s.dtype for s in node.src])
                values[id(node)] = kb.cast(kir.translate(kb, node.arg, env, T), node.dtype)
                self._formula(node, values)
            elif self.load_of[id(node)][0].op is Op.IOTA:     # computed, never loaded
                base, view = self.load_of[id(node)]
                values[id(node)] = self._iota(kb, base, view)
                self.formula[id(node)] = sp.Symbol(f"iota[{space.offset(view)}]", real=True)
                self.loads[self.formula[id(node)]] = base
            else:
                base, view = self.load_of[id(node)]
                key = (self.arg(self.buffer_of(base), node=base), view)
                v = kb.load(key[0], view, base.dtype)
                if key not in space.loads:
                    space.loads[key] = sp.Symbol(f"v{len(space.loads)}_{space.flat}",
                                                 real=True)
                    self.loads[space.loads[key]] = base
                self.formula[id(node)] = space.loads[key]
                names[v.id] = space.loads[key].name
                values[id(node)] = v
            stack.pop()
        return values

    @staticmethod
    def _iota(kb: kir.Builder, base: Tensor, view: object) -> kir.Value:
        """Index leaf ``base`` read through ``view``: the flat element the view reads, in
        the leaf's dtype (the view's fill where it is masked)."""
        value = kb.cast(kb.offset(view), base.dtype)
        if not view.masked:
            return value
        fill = kb.const(view.fill, base.dtype)
        return kb.select(kb.make("valid", (), kir.BOOL, view), value, fill)
    def _gather(self, kb: kir.Builder, node: Tensor, values: dict, space: _Space) -> kir.Value:
        """A gather's value: its source read at the coordinates its indices give (each
        wrapped and clamped into its axis) and at the space's own index elsewhere."""
        x = node.src[0]
        base, view = self.load_of[id(x)]
        buffer = self.arg(self.buffer_of(base), node=base)
        coords, sizes = [], []
        for (kind, k), n in zip(node.arg.coords, x.shape):
            coords.append(kb.index(k) if kind == "axis" else values[id(node.src[1 + k])])
            sizes.append(None if kind == "axis" else n)
        symbol = sp.Symbol(f"g{len(self.loads)}_{space.flat}", real=True)
        self.loads[symbol] = node
        self.formula[id(node)] = symbol
        return kb.make("gather", coords, base.dtype, (buffer, view, tuple(sizes)))

    @staticmethod
    def _gather_text(v: kir.Value, coords: list) -> str:
        """The C text of gather value ``v`` whose coordinates print as ``coords``."""
        buffer, view, sizes = v.arg
        at = [c if n is None else f"gc_index({c}, {n})" for c, n in zip(coords, sizes)]
        return strided_read(buffer, view, at, v.dtype)

    def _formula(self, node: Tensor, values: dict) -> None:
        """``node``'s formula for ``KernelSpec.expression``: its sources' formulas inlined
        while they are small, else named after the intermediate (``loads`` says which)."""
        env = {}
        for i, s in enumerate(node.src):
            f = self.formula[id(s)]
            if sp.count_ops(f) > FORMULA_INLINE_OPS:
                name = sp.Symbol(f"t{len(self.loads)}", real=True)
                self.loads[name] = s
                self.expression.setdefault(s, f)
                self.formula[id(s)] = f = name
            env[operand(i)] = f
        self.formula[id(node)] = node.arg.xreplace(env)

    def body(self, nodes: list, space: _Space, indent: str,
             named: Optional[dict] = None, lanes: int = 1, aligned: bool = True,
             count: bool = True) -> list:
        """Loads, shared values and stores of ``nodes`` in ``space``, as C lines.

        ``named`` adds nodes assigned to local variables of the given names (in the
        kernel's dtype). With ``lanes`` > 1 the body computes that many neighbours along
        the innermost axis, from ``space.flat`` on, as one vector (``_vector_lanes`` says
        where that is possible); ``aligned`` says the flat index is a multiple of
        ``lanes`` (the space's own index then goes through vector pointers, else
        vload/vstore). ``count=False`` leaves the flops alone (a second rendering of an
        epilogue already counted).
        """
        members = set(map(id, nodes))
        outs = [n for n in self.group.outputs if id(n) in members]
        named = named or {}
        kb = kir.Builder()
        names: dict = {}
        values = self._values(kb, outs + list(named.values()), space, members, names)
        stores = [kb.cast(values[id(n)], n.dtype) for n in outs]
        locals_ = [kb.cast(values[id(n)], self.dtype) for n in named.values()]
        printer = CPrinter(lanes, load=lambda v: self._load(v, space, lanes, aligned),
                           index=lambda v: _index_text(v, space, lanes),
                           names=names, prefix=f"t_{space.flat}_",
                           offset=lambda v: space.offset(v.arg) if v.op == "offset" else
                           space.valid(v.arg), gather=self._gather_text)
        lines = printer.declare(stores + locals_)
        if count:
            size = int(np.prod(space.shape, dtype=np.int64))
            self.flops += size * sum(v.op in kir.ARITHMETIC
                                     for v in kir.reachable(stores + locals_))
        for node in outs:
            self.expression[node] = self.formula[id(node)]
        for node, v in zip(outs, stores):
            target = self.arg(self.buffer_of(node), write=True, node=node)
            lines.append(self._store(target, printer.store(v), node.dtype, space, lanes,
                                     aligned))
        for name, v in zip(named, locals_):
            lines.append(f"const {printer.ctype(v)} {name} = {printer.expr(v)};")
        return [indent + line for line in lines]

    def _load(self, v: kir.Value, space: _Space, lanes: int, aligned: bool) -> str:
        """The C text reading load ``v`` at the space's index (a vector of ``lanes``)."""
        name, view = v.arg
        offset = space.offset(view)
        T = cl_type(v.dtype)
        if lanes == 1:
            text = f"{name}[{offset}]"
            valid = space.valid(view)
            if valid:              # never dereferenced outside the view's valid region
                fill = literal(view.fill, v.dtype)
                return f"(({valid}) ? {text} : {fill})"
            return text
        VT = f"{T}{lanes}"
        if offset == space.flat and aligned:            # i is a multiple of lanes
            return f"*(__global const {VT}*)({name} + {offset})"
        if view.strides[-1] == 0:                       # one value for every lane
            return f"({VT})({name}[{offset}])"
        return f"vload{lanes}(0, {name} + {offset})"    # a row's neighbours

    @staticmethod
    def _store(target: str, value: str, dtype: np.dtype, space: _Space, lanes: int,
               aligned: bool) -> str:
        if lanes == 1:
            return f"{target}[{space.flat}] = {value};"
        if aligned:
            return f"*(__global {cl_type(dtype)}{lanes}*)({target} + {space.flat}) = {value};"
        return f"vstore{lanes}({value}, 0, {target} + {space.flat});"

    def _vector_lanes(self, space: _Space) -> int:
        """How many neighbouring elements one work-item of this elementwise kernel can
        compute as a vector on a CPU (1: none). Every load must be the kernel's own index
        (aligned), or lie in one row of the innermost axis for all lanes, read along it
        (stride 1) or the same for all (stride 0); no load may be masked. Every value of
        the body is a vector of that many lanes: the narrowest float width of the target."""
        if any(n.op is Op.GATHER for n in self.group.members()):
            return 1             # one indexed load per element
        dtypes = {n.dtype for n in self.group.members()}
        dtypes |= {base.dtype for base, _ in self.load_of.values()}
        floats = [d for d in dtypes if is_float(d)] or [np.dtype(np.float32)]
        lanes = min(self.target.lanes(d) for d in floats)
        if any(base.op is Op.IOTA for base, _ in self.load_of.values()):
            return 1                 # index leaves are computed from a scalar offset
        shape = space.shape
        size = int(np.prod(shape, dtype=np.int64))
        if lanes == 1 or size % lanes or not shape:
            return 1
        for base, view in self.load_of.values():
            if view.masked:
                return 1
            if space.offset(view) == space.flat:
                continue
            if shape[-1] % lanes or view.strides[-1] not in (0, 1):
                return 1
        return lanes

    # }}}

    # }}}

    def write(self) -> KernelSpec:
        """The kernel of the group, from the skeleton writer of its kind."""
        kind = self.group.kind
        if kind not in WRITERS:
            raise CodegenError(f"no kernel writer for groups of kind {kind!r}")
        skeleton = WRITERS[kind](self)
        self._count_skeleton()
        fields = dict(skeleton.fields, args=self.signature())
        spec = KernelSpec("", kind, "", list(self.args), skeleton.global_size,
                          skeleton.local_size, self.group.members(), list(self.group.outputs),
                          self.dtype, self.flops, sum(self.traffic.values()), self.expression,
                          self.loads, [ref for ref in self.args if ref in self.written],
                          plan=self.plan,
                          arg_types=[cl_type(self.arg_types[ref]) for ref in self.args],
                          template=skeleton.template, fields=fields,
                          work_groups=skeleton.work_groups)
        return named(spec)

    def _count_skeleton(self) -> None:
        """Traffic and flops of what the skeleton itself does (operands, reduction, GEMM)."""
        anchor = self.group.anchor
        if anchor is None:
            return
        for s in anchor.src:
            if id(s) in self.load_of and self.load_of[id(s)][0].op is not Op.IOTA:
                base, _ = self.load_of[id(s)]
                self.arg(self.buffer_of(base), node=base)
        if any(n is anchor for n in self.group.outputs):
            self.arg(self.buffer_of(anchor), write=True, node=anchor)
        if self.group.kind == "matmul":
            self.flops += 2 * anchor.numel() * anchor.src[0].shape[-1]
        else:
            self.flops += anchor.src[0].numel()

