"""Kernel groups -> OpenCL C source. Needs no device: the output is text.

The elementwise nodes of a group become kernel IR values (``kir``), one body per index
space: each node's formula translated once over its operands' values, which are other
nodes' values (registers of the same kernel) or loads (buffers, read through strided
views). Equal values are one value by construction; ``printer.CPrinter`` prints them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Callable, Optional

import numpy as np
import sympy as sp

from . import templates
from . import kir
from .dtypes import cl_type, is_float, literal
from .errors import CodegenError
from .graph import Tensor
from .printer import CPrinter
from .schedule import Group, Schedule, View, contiguous_strides
from .symbolic import operand
# codegen.Target, codegen.CPU and codegen.TINY_REDUCTION, as before the move
from .target import CPU, TINY_REDUCTION, Target  # noqa: F401

ACC = sp.Symbol("acc", real=True)
INT_LIMIT = 2 ** 31 - 1
FORMULA_INLINE_OPS = 40         # KernelSpec.expression inlines sources up to this size


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
    """One generated kernel: its source, arguments in order, and launch geometry."""

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

    def generated(self) -> list:
        """The kernels generated from groups that this one runs: itself, or its parts'."""
        return [g for p in self.parts for g in p.generated()] if self.parts else [self]


class _Space:
    """One index space of a kernel: its shape, index variable names and load table."""

    def __init__(self, shape: tuple, flat: str, index: Callable[[int], str]):
        self.shape, self.flat, self.index = shape, flat, index
        self.loads: dict = {}      # (buffer arg name, view) -> symbol

    def valid(self, view: View) -> str:
        """The C condition under which a masked view's element is read ("": always)."""
        bounds = getattr(view, "valid", None) or ()
        terms = []
        for d, pair in enumerate(bounds):
            if pair is not None:
                lo, hi = pair
                terms += [f"{self.index(d)} >= {lo}"] if lo > 0 else []
                terms += [f"{self.index(d)} < {hi}"] if hi < view.shape[d] else []
        return " && ".join(terms)

    def offset(self, view: View) -> str:
        if view.shape == self.shape and view.is_contiguous and not self.valid(view):
            return self.flat
        terms = [f"{self.index(d)} * {s}" if s != 1 else self.index(d)
                 for d, s in enumerate(view.strides) if s and view.shape[d] != 1]
        if view.offset:
            terms.insert(0, str(view.offset))
        return " + ".join(terms) or "0"


def _index_text(v: kir.Value, space: _Space, lanes: int) -> str:
    """An ``index`` value: the flat index or one axis's, per lane with ``lanes`` > 1
    (lanes are neighbours along the innermost axis)."""
    axis = v.arg
    text = space.flat if axis is None else space.index(axis)
    if lanes == 1:
        return text
    if axis is None or axis == len(space.shape) - 1:
        steps = ", ".join(map(str, range(lanes)))
        return f"((int{lanes})({text}) + (int{lanes})({steps}))"
    return f"((int{lanes})({text}))"


def unravel(shape: tuple, flat: str, name: Callable[[int], str], dims: list) -> list:
    """C declarations of the multi-index over ``dims`` of ``shape`` from ``flat``."""
    sizes = [shape[d] for d in dims]
    lines = []
    for k, d in enumerate(dims):
        inner = int(np.prod(sizes[k + 1:], dtype=np.int64))
        text = flat if inner == 1 else f"{flat} / {inner}"
        if k > 0:
            text = f"({text}) % {sizes[k]}"
        lines.append(f"const int {name(d)} = {text};")
    return lines


class KernelWriter:
    """Writes the kernel of one group, given where each materialised node lives."""

    def __init__(self, group: Group, sched: Schedule, buffer_of: Callable[[Tensor], BufferRef],
                 target: Target = CPU, plans: Optional[dict] = None):
        self.group, self.buffer_of, self.target = group, buffer_of, target
        self.plans = plans or {}
        self.plan: Optional[dict] = None
        # the skeleton's type (a reduction's accumulator, a matmul's): the anchor's, else
        # the first float among the members (a bool mask may come first)
        floats = [n.dtype for n in group.members() if is_float(n.dtype)]
        self.dtype = (group.anchor.dtype if group.anchor is not None else
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
            nbytes = node.size * node.dtype.itemsize
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
            if node is self.group.anchor and self.group.kind in ("reduce", "matmul"):
                values[id(node)] = kb.var("acc", node.dtype)
                self.formula[id(node)] = ACC
            elif id(node) in members:
                missing = [s for s in node.src if id(s) not in values]
                if missing:
                    stack.extend(reversed(missing))
                    continue
                env = {operand(i): values[id(s)] for i, s in enumerate(node.src)}
                T = kir.compute_dtype(node.dtype, [s.dtype for s in node.src])
                values[id(node)] = kb.cast(kir.translate(kb, node.arg, env, T), node.dtype)
                self._formula(node, values)
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
                           names=names, prefix=f"t_{space.flat}_")
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
        dtypes = {n.dtype for n in self.group.members()}
        dtypes |= {base.dtype for base, _ in self.load_of.values()}
        floats = [d for d in dtypes if is_float(d)] or [np.dtype(np.float32)]
        lanes = min(self.target.lanes(d) for d in floats)
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

    def write(self) -> KernelSpec:
        kind = self.group.kind
        source_fields, gsize, lsize = getattr(self, f"_write_{kind}")()
        self._count_skeleton()
        source_fields["args"] = self.signature()
        template = source_fields.pop("_template", kind)
        body = templates.render(template, name="$name", **source_fields)
        digest = hashlib.sha1(body.encode()).hexdigest()[:8]
        name = f"{kind}_{digest}"
        source = body.replace("$name", name, 1)
        nodes = self.group.members()
        return KernelSpec(name, kind, source, list(self.args), gsize, lsize, nodes,
                          list(self.group.outputs), self.dtype, self.flops,
                          sum(self.traffic.values()), self.expression, self.loads,
                          [ref for ref in self.args if ref in self.written], plan=self.plan,
                          arg_types=[cl_type(self.arg_types[ref]) for ref in self.args])

    def _count_skeleton(self) -> None:
        """Traffic and flops of what the skeleton itself does (operands, reduction, GEMM)."""
        anchor = self.group.anchor
        if anchor is None:
            return
        for s in anchor.src:
            if id(s) in self.load_of:       # not a fused prologue value
                base, _ = self.load_of[id(s)]
                self.arg(self.buffer_of(base), node=base)
        if any(n is anchor for n in self.group.outputs):
            self.arg(self.buffer_of(anchor), write=True, node=anchor)
        if self.group.kind == "matmul":
            self.flops += 2 * anchor.size * anchor.src[0].shape[-1]
        else:
            self.flops += anchor.src[0].size

    def _transposed_copy(self) -> Optional[tuple]:
        """The kernel of a group that only copies a transposed 2-D view into rows of its
        own (a matmul operand packed on a CPU), block by block; None for any other group.
        As an elementwise copy, a 16 MB transpose took 12.9 ms; by blocks, 1.7 ms."""
        nodes = self.group.nodes
        if not self.target.packs_transposed or len(nodes) != 1 or len(self.group.space) != 2:
            return None
        node = nodes[0]
        if node.arg != operand(0) or len(node.src) != 1:
            return None
        base, view = self.load_of[id(node.src[0])]
        W = self.target.lanes(self.dtype)
        P, Q = self.group.space
        S = view.strides[1]
        if W == 1 or view.masked or view.strides[0] != 1 or S == 1 or P % W or Q % W:
            return None
        src = self.arg(self.buffer_of(base), node=base)
        dst = self.arg(self.buffer_of(node), write=True, node=node)
        symbol = sp.Symbol("v0_i", real=True)
        self.loads[symbol] = base
        self.expression[node] = symbol
        VT, digits = f"{self.T}{W}", "0123456789abcdef"
        loads = [f"    const {VT} c{q} = vload{W}(0, {src} + {view.offset} + (q0 + {q}) * {S} "
                 f"+ p0);" for q in range(W)]
        stores = [f"    vstore{W}(({VT})(" + ", ".join(f"c{q}.s{digits[p]}" for q in range(W))
                  + f"), 0, {dst} + (p0 + {p}) * {Q} + q0);" for p in range(W)]
        fields = {"_template": "transpose", "W": W, "loads": "\n".join(loads),
                  "stores": "\n".join(stores)}
        return fields, (Q // W, P // W), (1, 1)

    def _write_elementwise(self):
        transposed = self._transposed_copy()
        if transposed is not None:
            return transposed
        shape = self.group.space
        size = int(np.prod(shape, dtype=np.int64))
        space = _Space(shape, "i", lambda d: f"x{d}")
        # On a CPU, each work-item computes a vector of neighbouring elements where the
        # loads allow: PoCL vectorises arithmetic across work-items by itself, but calls
        # exp, tanh, ... one lane at a time (explicit vectors: tanh(x)*y+1 2.8x faster)
        lanes = self._vector_lanes(space)
        lines = self.body(self.group.nodes, space, "    ", lanes=lanes)
        index = ["    " + line
                 for line in unravel(shape, "i", space.index, list(range(len(shape))))]
        items = size // lanes
        local = self.target.elementwise_group(items, lanes)
        guard = "" if items % local == 0 else f"    if (i >= {size})\n        return;"
        gsize = (-(-items // local) * local,)
        return ({"guard": guard, "body": "\n".join(index + lines),
                 "first": f"get_global_id(0) * {lanes}" if lanes > 1 else "get_global_id(0)"},
                gsize, (local,))

    def _write_reduce(self):
        kind, axes, _ = self.group.anchor.arg
        (x,) = self.group.anchor.src
        kept = [d for d in range(x.ndim) if d not in axes]
        reduced = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
        outs = int(np.prod([x.shape[d] for d in kept], dtype=np.int64))
        in_space = _Space(x.shape, "i", lambda d: f"x{d}")
        keepdims = len(self.group.space) == x.ndim
        out_space = _Space(self.group.space, "o",
                           lambda d: f"x{d}" if keepdims else f"x{kept[d]}")
        prologue = self.body(self.group.prologue, in_space, "        ", {"value": x})
        flat = " + ".join(f"x{d} * {s}" for d, s in enumerate(contiguous_strides(x.shape))
                          if x.shape[d] != 1) or "0"
        in_index = unravel(x.shape, "r", lambda d: f"x{d}", list(axes))
        in_index.append(f"const int i = {flat};")
        epilogue = self.body(self.group.nodes, out_space, "        ")
        if any(n is self.group.anchor for n in self.group.outputs):
            target = self.arg(self.buffer_of(self.group.anchor), True)
            epilogue.append(f"        {target}[o] = acc;")
        # work-items per output, or a work-group per output: the target's choice
        shape, W, local = self.target.reduction(outs, reduced, (x.ndim - 1) not in axes)
        combine = ("acc + value" if kind == "sum" else
                   "((value > acc || value != value) ? value : acc)")
        init = literal(0.0 if kind == "sum" else float("-inf"), self.dtype)
        fields = {"T": self.T, "local": local, "reduced": reduced, "init": init,
                  "combine": combine, "prologue": "\n".join(prologue),
                  "out_index": "\n".join("    " + s for s in
                                         unravel(x.shape, "o", lambda d: f"x{d}", kept)),
                  "in_index": "\n".join("        " + s for s in in_index),
                  "epilogue": "\n".join(epilogue)}
        if shape == "items":
            items = -(-outs // W)
            fields = dict(fields, _template="reduce_items", outs=outs, W=W)
            return fields, (-(-items // local) * local,), (local,)
        return fields, (outs * local,), (local,)

    def _write_matmul(self):
        a, b = self.group.anchor.src
        batch_shape = self.group.space[:-2]
        nb = len(batch_shape)
        M, N, K = a.shape[-2], b.shape[-1], a.shape[-1]
        views = {}
        for name, src in (("A", a), ("B", b)):
            base, view = self.load_of[id(src)]
            views[name] = (self.arg(self.buffer_of(base)), view)
        space = _Space(self.group.space, "i",
                       lambda d: f"x{d}" if d < nb else ("xm" if d == nb else "xn"))
        epilogue = self.body(self.group.nodes, space, "                ")
        if any(n is self.group.anchor for n in self.group.outputs):
            target = self.arg(self.buffer_of(self.group.anchor), True)
            epilogue.append(f"                {target}[i] = acc;")

        def base_offset(view: View) -> str:
            terms = [f"x{d} * {s}" for d, s in enumerate(view.strides[:nb]) if s]
            return " + ".join([str(view.offset)] + terms)

        problem = _problem(self.group, views["A"][1], views["B"][1])
        plan = (self.plans.get(id(self.group)) or self.plans.get(problem.key)
                or matmul_plans(problem, self.target)[0])
        self.plan = plan
        # On a CPU, accumulator vectors along rows of C run the epilogue as vectors where
        # its loads allow (along the row, or one value for the row): W times fewer copies
        # of it to compile than one per element, and SIMD instead of scalar code
        vector_epilogue = ""
        W = plan.get("W", 1)
        if (self.target.vector_epilogues and plan["variant"] == "outer"
                and plan["role"] == "rows"
                and W > 1 and all((space.offset(view) == space.flat
                                   or view.strides[-1] in (0, 1)) and not space.valid(view)
                                  for _, view in space.loads)):
            vspace = _Space(self.group.space, "i", space.index)
            lines = self.body(self.group.nodes, vspace, "                ", lanes=W,
                              aligned=False, count=False)
            if any(n is self.group.anchor for n in self.group.outputs):
                target = self.arg(self.buffer_of(self.group.anchor), True)
                lines.append(f"                vstore{W}(acc, 0, {target} + i);")
            vector_epilogue = "\n".join(lines)
        fields = {"T": self.T, "TM": plan["TM"], "TN": plan["TN"], "M": M, "N": N, "K": K,
                  "A": views["A"][0], "B": views["B"][0],
                  "batch_index": "\n".join("    " + s for s in unravel(
                      batch_shape, "batch", lambda d: f"x{d}", list(range(nb)))),
                  "a_base": base_offset(views["A"][1]), "b_base": base_offset(views["B"][1]),
                  "a_m": problem.a_m, "a_k": problem.a_k, "b_k": problem.b_k,
                  "b_n": problem.b_n, "epilogue": "\n".join(epilogue),
                  "vector_epilogue": vector_epilogue}
        return (_matmul_fields(plan, fields),) + _matmul_geometry(problem, plan, self.target)

    def _write_maxmask(self):
        node = self.group.anchor
        (x,) = node.src
        axes = node.arg
        kept = [d for d in range(x.ndim) if d not in axes]
        base, view = self.load_of[id(x)]
        src = self.arg(self.buffer_of(base))
        out = self.arg(self.buffer_of(node), write=True)
        space = _Space(x.shape, "i", lambda d: f"x{d}")
        flat = " + ".join(f"x{d} * {s}" for d, s in enumerate(contiguous_strides(x.shape))
                          if x.shape[d] != 1) or "0"
        fields = {"T": self.T, "X": src, "OUT": out,
                  "outs": int(np.prod([x.shape[d] for d in kept], dtype=np.int64)),
                  "reduced": int(np.prod([x.shape[d] for d in axes], dtype=np.int64)),
                  "out_index": "\n".join("    " + s for s in unravel(
                      x.shape, "o", lambda d: f"x{d}", kept)),
                  "in_index": "\n".join("        " + s for s in unravel(
                      x.shape, "r", lambda d: f"x{d}", list(axes)) + [f"const int i = {flat};"]),
                  "load": space.offset(view), "store": "i",
                  "one": literal(1, self.dtype), "zero": literal(0, self.dtype)}
        outs = fields["outs"]
        local = self.target.maxmask_group(outs)
        return fields, (-(-outs // local) * local,), (local,)


# {{{ matmul tiling

@dataclasses.dataclass(frozen=True)
class MatmulProblem:
    """What a matmul kernel's speed depends on: sizes, operand strides, batch, dtype. Tile
    choices are made (and tuned, and cached on disk) per problem."""

    M: int
    N: int
    K: int
    a_m: int
    a_k: int
    b_k: int
    b_n: int
    nbatch: int
    dtype: str

    @property
    def key(self) -> str:
        return (f"{self.dtype} {self.nbatch}x{self.M}x{self.N}x{self.K} "
                f"a{self.a_m},{self.a_k} b{self.b_k},{self.b_n}")


def _problem(group: Group, a_view: View, b_view: View) -> MatmulProblem:
    a, b = group.anchor.src
    nbatch = int(np.prod(group.space[:-2], dtype=np.int64))
    return MatmulProblem(a.shape[-2], b.shape[-1], a.shape[-1], *a_view.strides[-2:],
                         *b_view.strides[-2:], nbatch, np.dtype(a.dtype).name)


def matmul_problems(sched: Schedule) -> list:
    """The distinct matmul problems of a schedule's kernels."""
    found = {}
    for group in sched.groups:
        if group.kind == "matmul":
            views = {id(s): view for s, _, view in sched.loads[id(group)]}
            a, b = group.anchor.src
            problem = _problem(group, views[id(a)], views[id(b)])
            found[problem.key] = problem
    return list(found.values())


def matmul_plans(problem: MatmulProblem, target: Target) -> list:
    """Plans for ``problem`` on ``target``, the cost model's choice first."""
    p = problem
    if target.matmul_model == "workgroups":
        return _matmul_plans_gpu(p.M, p.N, p.K, p.a_m, p.b_n, p.nbatch, target)
    dtype = np.dtype(p.dtype)
    return _matmul_plan(p.M, p.N, p.K, p.a_m, p.a_k, p.b_k, p.b_n, p.nbatch, dtype,
                        target.compute_units, ranked=True, wide=target.lanes(dtype),
                        registers=target.vector_registers(dtype))


def _matmul_geometry(problem: MatmulProblem, plan: dict, target: Target) -> tuple:
    """(global size, local size) of a matmul kernel."""
    tiles = (-(-problem.N // plan["TN"]), -(-problem.M // plan["TM"]), problem.nbatch)
    if target.matmul_model == "registers":
        if plan.get("order") == "mn":
            tiles = (tiles[1], tiles[0], tiles[2])
        return tiles, (1, 1, 1)
    if plan["variant"] == "tiled":       # one work-group per block
        local = (plan["LN"], plan["LM"], 1)
        return tuple(t * size for t, size in zip(tiles, local)), local
    if plan["variant"] == "splitk":      # one work-group per tile
        return (tiles[0] * plan["L"], tiles[1], problem.nbatch), (plan["L"], 1, 1)
    # lanes along n next to each other read neighbouring vectors of B (coalesced)
    wide = target.group_size(256)
    l0 = min(_pow2_at_least(tiles[0]), 32, wide)
    l1 = min(_pow2_at_least(tiles[1]), max(1, wide // l0))
    local = (l0, l1, 1)
    return tuple(-(-g // size) * size for g, size in zip(tiles, local)), local


def bare_matmul(problem: MatmulProblem, plan: dict, target: Target, name: str) -> tuple:
    """A kernel ``name(A, B, C)`` computing ``problem`` with ``plan`` and storing C, for
    timing plans against each other: (source, global size, local size, operand sizes).
    Batches lie one after the other in A and B, each spanning the strides' extent."""
    p = problem
    T = cl_type(np.dtype(p.dtype))
    span_a = (p.M - 1) * p.a_m + (p.K - 1) * p.a_k + 1
    span_b = (p.K - 1) * p.b_k + (p.N - 1) * p.b_n + 1
    fields = {"T": T, "TM": plan["TM"], "TN": plan["TN"], "M": p.M, "N": p.N, "K": p.K,
              "A": "A", "B": "B", "batch_index": "", "a_base": f"batch * {span_a}",
              "b_base": f"batch * {span_b}", "a_m": p.a_m, "a_k": p.a_k, "b_k": p.b_k,
              "b_n": p.b_n, "epilogue": "                C[i] = acc;",
              "vector_epilogue": (f"                vstore{plan['W']}(acc, 0, C + i);"
                                  if target.vector_epilogues and plan["variant"] == "outer"
                                  and plan["role"] == "rows" and plan["W"] > 1 else ""),
              "args": (f"__global const {T}* restrict A, __global const {T}* restrict B, "
                       f"__global {T}* restrict C")}
    fields = _matmul_fields(plan, fields)
    source = templates.render(fields.pop("_template", "matmul"), name=name, **fields)
    gsize, lsize = _matmul_geometry(problem, plan, target)
    return source, gsize, lsize, (p.nbatch * span_a, p.nbatch * span_b, p.nbatch * p.M * p.N)


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def _outer_cycles(K: int, TS: int, NV: int, loads: int, elements: int,
                  strided: bool) -> float:
    """Estimated cycles of one work-item of the outer-product loop: per k, TS*NV FMAs at 2 a
    cycle, TS + ``loads`` loads at 2 a cycle, and at least 4 cycles (FMA latency over the
    TS*NV independent chains), plus a little per vector loaded from the far operand (large
    GEMMs measured 12 x 2 vectors faster than 6 x 4); then the epilogue, dearer when a
    vector's lanes are elements ``N`` apart (``strided``, role "cols") than neighbours."""
    return (K * (max(TS * NV / 2, (TS + loads) / 2, 4) + NV / 4)
            + (2.5 if strided else 1.5) * elements + 200)


def _dot_cycles(K: int, W: int, TM: int, TN: int) -> float:
    steps, rest = divmod(K, W)
    return (steps * max(TM * TN / 2, TM + TN, 4) + rest * max(TM * TN, 4)
            + TM * TN * (W // 2 + 4) + 200)


_SMALL_MATMUL = 1 << 21     # multiply-adds
_SMALL_TILE = 64            # elements of C per work-item in a small matmul


def _matmul_plan(M: int, N: int, K: int, a_m: int, a_k: int, b_k: int, b_n: int,
                 nbatch: int, dtype: np.dtype, cores: int = 2, ranked: bool = False,
                 wide: Optional[int] = None, registers: int = 32):
    """How to tile one matmul on a CPU: the accumulation variant and its tile, chosen by a
    cost model of a core with ``wide``-element vectors (default: the described CPU's,
    512 bits) and ``registers`` vector registers; ``cores`` work-items run at once (tile
    counts are rounded up to it).

    ``outer`` vectorises along a free dimension whose operand is contiguous there: n when
    b_n == 1 (vector operand B, role "rows") or m when a_m == 1 (vector operand A, "cols");
    ``dot`` vectorises along k when both operands are contiguous in k; ``outer`` with W = 1
    (scalar loads through any strides) always works. Vectors narrower than 512 bits (W < 16
    floats) are allowed where a dimension is short, at the cost of idle lanes. Tiles never
    exceed C's extent (a vector dimension needs at least W elements).
    """
    wide = wide or CPU.lanes(dtype)
    widths = [w for w in (16, 8, 4) if w <= wide]

    # PoCL compiles each kernel at its first launch, and the full-tile epilogue is unrolled
    # TM x TN times: a 64 x 6 tile took 0.76 s to compile for a matmul that runs in 2 us.
    # Small matmuls (a few microseconds whatever the tile) keep their tiles small.
    small = nbatch * M * N * K <= _SMALL_MATMUL

    seen: list = []

    def consider(cost: float, plan: dict) -> None:
        if small and plan["TM"] * plan["TN"] > _SMALL_TILE:
            return
        seen.append((cost, len(seen), plan))

    def rounds(count: int) -> int:
        return -(-count // cores)

    # (role, vector dimension's size, scalar dimension's size, W, gather): "rows" vectors
    # of B along n, "cols" vectors of A along m; a vector is one load where its operand is
    # contiguous along it, else W scalar loads ("gather", rows only)
    outer = [("rows", N, M, w, b_n != 1) for w in widths if N >= w]
    outer += [("cols", M, N, w, False) for w in widths if a_m == 1 and M >= w]
    outer.append(("rows", N, M, 1, False))
    for role, V, U, w, gather in outer:
        for NV in (1, 2, 3, 4) if w > 1 else (1, 2, 3, 4, 6, 8):
            for TS in (1, 2, 3, 4, 6, 8, 12, 16):
                if TS * NV + NV + 1 > registers - 2 or TS > U or NV * w > V:
                    continue
                count = nbatch * -(-U // TS) * -(-V // (NV * w))
                # narrower vectors leave lanes idle; scalar FMAs measured ~2x slower still;
                # a gathered lane costs about a load and two shuffles, whatever the width,
                # and those dominate: gathered vectors pay no idle-lane factor (64x100x10
                # with B transposed: 16-wide gathers took 7.0 us, 4-wide ones 3.3 us)
                slow = 1 if gather else wide / w * (2 if w == 1 else 1)
                cycles = _outer_cycles(K, TS, NV, NV * (3 * w if gather else 1), TS * NV * w,
                                       role == "cols")
                TM, TN = (TS, NV * w) if role == "rows" else (NV * w, TS)
                consider(rounds(count) * cycles * slow,
                         {"variant": "outer", "role": role, "W": w, "TS": TS, "NV": NV,
                          "TM": TM, "TN": TN, "gather": gather})
    for w in widths if a_k == 1 and b_k == 1 else ():
        if K < w:
            continue
        for TM in (1, 2, 3, 4, 5, 6):
            for TN in (1, 2, 3, 4, 5, 6):
                if TM * TN + TM + TN > registers - 2 or TM > M or TN > N:
                    continue
                count = nbatch * -(-M // TM) * -(-N // TN)
                consider(rounds(count) * _dot_cycles(K, w, TM, TN) * wide / w,
                         {"variant": "dot", "W": w, "TM": TM, "TN": TN})
    plans = [dict(plan, order=_tile_order(plan, M, N))
             for _, _, plan in sorted(seen, key=lambda e: e[:2])]
    return plans if ranked else plans[0]


def _tile_order(plan: dict, M: int, N: int) -> str:
    """Which way consecutive work-items (one after the other on a core) walk the tiles of
    C: ``"nm"`` along n, sharing the rows of A they read and streaming all of B once per
    row of tiles, or ``"mn"`` along m, streaming all of A once per column of tiles. The
    smaller operand is the one to stream, as it may stay in the last-level cache; between
    equals, the order with fewer passes. Measured on the 2-core CPU, float32: x.T @ g with
    A 16 MB, B 32 MB took 152 ms along n and 67 ms along m; with A 32 MB, B 8 MB, 30 ms
    along n and 64 ms along m."""
    if M != N:
        return "mn" if M < N else "nm"
    return "mn" if plan["TN"] > plan["TM"] else "nm"


def _matmul_plans_gpu(M: int, N: int, K: int, a_m: int, b_n: int, nbatch: int,
                      target: Target) -> list:
    """Plans for one matmul on a GPU, the rule's choice first.

    The rule: ``tiled`` (blocks of C staged through local memory, any operand layout) when
    there are blocks enough for every compute unit; else ``splitk`` (a work-group's lanes
    split a long k) for a small C; else ``outer``: each lane an outer-product tile of C,
    with 4-wide vectors of an operand contiguous along its free dimension where there is
    one, the largest tile (8 x 8, 4 x 4, 2 x 4; scalar 4 x 4, 2 x 2) that still gives every
    compute unit 256 lanes.
    """
    units = target.compute_units
    lanes_max = target.max_group
    tiled, chosen = [], None
    for block, lanes in ((64, 256), (32, 64)):
        if lanes > lanes_max or block > 2 * max(M, N):
            continue
        side = {256: 16, 64: 8}[lanes]            # square work-groups
        plan = {"variant": "tiled", "BM": block, "BN": block, "LM": side, "LN": side,
                "WM": block // side, "WN": block // side, "TK": 16, "TM": block, "TN": block}
        tiled.append(plan)
        if chosen is None and block <= max(M, N) and \
                nbatch * -(-M // block) * -(-N // block) >= units:
            chosen = plan
    splitk = []
    if K >= 64 and lanes_max >= 64:
        splitk = [{"variant": "splitk", "TM": min(4, M), "TN": min(4, N),
                   "L": min(128, _pow2_at_least(K) // 2, lanes_max)}]
        if chosen is None and K >= 128:
            chosen = splitk[0]
    if b_n == 1 and N >= 4:
        role, V, U, W = "rows", N, M, 4
    elif a_m == 1 and M >= 4:
        role, V, U, W = "cols", M, N, 4
    else:
        role, V, U, W = "rows", N, M, 1
    choices = [(8, 2), (4, 1), (2, 1)] if W > 1 else [(4, 4), (2, 2)]
    fitting = [(TS, NV) for TS, NV in choices if TS <= U and NV * W <= V] or [(1, 1)]
    TS, NV = fitting[-1]
    for ts, nv in fitting:
        if nbatch * -(-U // ts) * -(-V // (nv * W)) >= 256 * units:
            TS, NV = ts, nv
            break
    TM, TN = (TS, NV * W) if role == "rows" else (NV * W, TS)
    outer = {"variant": "outer", "role": role, "W": W, "TS": TS, "NV": NV, "TM": TM,
             "TN": TN, "gather": False}
    chosen = chosen or outer
    return [chosen] + [plan for plan in tiled + splitk + [outer] if plan is not chosen]


def _matmul_fields(plan: dict, fields: dict) -> dict:
    """The template (``_template``: ``matmul`` for outer products, ``matmul_dot``) and the
    fields of ``plan``'s accumulation loop, added to the common ``fields``."""
    if plan["variant"] == "tiled":
        lanes = plan["LM"] * plan["LN"]
        BM, BN, TK = plan["BM"], plan["BN"], plan["TK"]
        # stage loads along the operand's contiguous dimension: k, else m (A) or n (B)
        a_along_k = fields["a_k"] == 1 and fields["a_m"] != 1
        b_along_k = fields["b_k"] == 1 and fields["b_n"] != 1
        return dict(fields, _template="matmul_tiled", LANES=lanes,
                    A_LOADS=BM * TK // lanes, B_LOADS=BN * TK // lanes,
                    a_mm=f"f / {TK}" if a_along_k else f"f % {BM}",
                    a_kk=f"f % {TK}" if a_along_k else f"f / {BM}",
                    b_nn=f"f / {TK}" if b_along_k else f"f % {BN}",
                    b_kk=f"f % {TK}" if b_along_k else f"f / {BN}",
                    **{k: plan[k] for k in ("BM", "BN", "LM", "LN", "WM", "WN", "TK")})
    if plan["variant"] == "splitk":
        return dict(fields, _template="matmul_splitk", L=plan["L"])
    # consecutive work-items walk C's tiles along n, or with order "mn" along m
    # (``_tile_order`` says which)
    fields = dict(fields, GN=1, GM=0) if plan.get("order") == "mn" else dict(fields, GN=0,
                                                                               GM=1)
    T, W = fields["T"], plan["W"]
    VT = f"{T}{W}" if W > 1 else T
    out = dict(fields, VT=VT, W=W)
    if plan["variant"] == "dot":
        return dict(out, _template="matmul_dot", KV=fields["K"] - fields["K"] % W)
    if plan["role"] == "rows":     # vectors of B along n, scalars of A
        p, p_k, p_v = "b", fields["b_k"], fields["b_n"]
        s_, s_k, s_u = "a", fields["a_k"], fields["a_m"]
        lane = "[t][j * {W} + l]"
    else:                          # vectors of A along m, scalars of B
        p, p_k, p_v = "a", fields["a_k"], fields["a_m"]
        s_, s_k, s_u = "b", fields["b_k"], fields["b_n"]
        lane = "[j * {W} + l][t]"
    lane = lane.format(W=W)
    if W == 1:
        load_p = f"{p}[k * {p_k} + j * {p_v}]"
    elif plan["gather"]:
        load_p = f"({VT})(" + ", ".join(f"{p}[k * {p_k} + (j * {W} + {lane}) * {p_v}]"
                                        for lane in range(W)) + ")"
    else:
        load_p = f"vload{W}(0, {p} + k * {p_k} + j * {W})"
    return dict(out, _template="matmul", TS=plan["TS"], NV=plan["NV"], P=p.upper(),
                S=s_.upper(), load_p=load_p, load_s=f"{s_}[t * {s_u} + k * {s_k}]",
                store_spill=f"spill{lane}", full_tile=_full_tile(plan, out, lane))


def _full_tile(plan: dict, fields: dict, lane: str) -> str:
    """The template's branch for a tile wholly its own: every element, no conditions.
    With a ``vector_epilogue`` (CPU, vectors along rows of C), the epilogue runs once per
    accumulator vector on its W neighbours in a row; else once per element, fully
    unrolled, on the elements copied out of the vectors."""
    T, VT, W, M, N = fields["T"], fields["VT"], fields["W"], fields["M"], fields["N"]
    TS, NV, TM, TN = plan["TS"], plan["NV"], plan["TM"], plan["TN"]
    if fields.get("vector_epilogue"):
        return f"""\
        // one accumulator vector at a time: {W} neighbours in a row of C
        #pragma unroll
        for (int t = 0; t < {TS}; t++) {{
            #pragma unroll
            for (int j = 0; j < {NV}; j++) {{
                const int xm = m0 + t;
                const int xn = n0 + j * {W};
                const int i = (batch * {M} + xm) * {N} + xn;
                const {VT} acc = tile[t][j];
{fields["vector_epilogue"]}
            }}
        }}"""
    return f"""\
        {T} res[{TM}][{TN}];
        #pragma unroll
        for (int t = 0; t < {TS}; t++) {{
            #pragma unroll
            for (int j = 0; j < {NV}; j++) {{
                union {{ {VT} v; {T} s[{W}]; }} lanes;
                lanes.v = tile[t][j];
                #pragma unroll
                for (int l = 0; l < {W}; l++)
                    res{lane} = lanes.s[l];
            }}
        }}
        #pragma unroll
        for (int tm = 0; tm < {TM}; tm++) {{
            #pragma unroll
            for (int tn = 0; tn < {TN}; tn++) {{
                const int xm = m0 + tm;
                const int xn = n0 + tn;
                const int i = (batch * {M} + xm) * {N} + xn;
                const {T} acc = res[tm][tn];
{fields["epilogue"]}
            }}
        }}"""

# }}}


def generate(sched: Schedule, buffer_of: Callable[[Tensor], BufferRef],
             target: Target = CPU, plans: Optional[dict] = None,
             chains: Optional[list] = None) -> list:
    """One ``KernelSpec`` per group of ``sched``, in launch order, shaped for ``target``;
    ``plans`` maps a ``MatmulProblem.key`` (or a group's id) to a plan (else the cost
    model's). Each of ``chains`` (``row_chains``) becomes one ``rows_`` kernel."""
    specs = []
    for group in sched.groups:
        for node in group.members():
            if node.size > INT_LIMIT:
                raise ValueError(f"{node!r} has more than 2**31 elements; graphc indexes "
                                 "with 32-bit ints")
        if group.kind == "allreduce":
            specs.append(_allreduce_step(group, sched, buffer_of))
        else:
            specs.append(KernelWriter(group, sched, buffer_of, target, plans).write())
    starts = sorted(((sched.groups.index(chain[0]), chain, rows) for chain, rows in
                     chains or ()), key=lambda c: c[0], reverse=True)
    for first, chain, rows in starts:            # from the last: earlier indices stay
        members = specs[first:first + len(chain)]
        specs[first:first + len(chain)] = [_rows(members, rows, chain[0].space[0])]
    return specs


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
    writer = {id(n): g for g in groups for n in g.outputs}
    in_place = set(sched.in_place)
    loads = sched.loads

    def plain(g: Group) -> bool:
        return (g.kind == "matmul" and len(g.space) == 2
                and not any(id(n) in in_place for n in g.outputs))

    def sources(g: Group) -> set:
        return {writer[id(b)] for _, b, _ in loads[id(g)] if id(b) in writer} - {g}

    def row_local(g: Group, written: set, M: int) -> bool:
        b_operand = g.anchor.src[1]
        for s, base, view in loads[id(g)]:
            if id(base) not in written:
                continue
            if s is b_operand or base.ndim != 2 or base.shape[0] != M or view.offset \
                    or len(view.shape) != 2 or view.strides[0] != base.shape[1] \
                    or view.strides[1] not in (0, 1):
                return False
        return True

    chains, taken = [], set()
    for g in list(groups):
        if id(g) in taken or not plain(g):
            continue
        M = g.space[0]
        chain = [g]
        start = groups.index(g)
        while True:
            members = set(map(id, chain))
            written = {id(n) for c in chain for n in c.outputs}
            after = groups.index(chain[-1]) + 1
            nxt = None
            for h in groups[after:]:
                if id(h) in taken or not plain(h) or h.space[0] != M:
                    continue
                src = sources(h)
                if not any(id(c) in members for c in src):
                    continue
                if all(id(c) in members or groups.index(c) < start for c in src) \
                        and row_local(h, written, M):
                    nxt = h
                    break
            if nxt is None:
                break
            chain.append(nxt)
        if len(chain) < 2 or sum(c.anchor.src[0].size * c.space[1] for c in chain) \
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


def _rows(parts: list, rows: int, M: int) -> KernelSpec:
    """One kernel running a chain of matmul kernels (``row_chains``) by blocks of rows:
    work-item b runs, for rows b*rows.., every tile of that row of tiles of each part in
    turn. Each part is a function of its global ids, as in ``_launch``."""
    args, keys, written = _shared_args(parts)
    functions, steps = [], []
    for i, part in enumerate(parts):
        functions.append(_as_function(part, f"$name_{i}"))
        along_m = 0 if part.plan.get("order") == "mn" else 1
        tiles = part.global_size[1 - along_m]
        ids = ("b", "t") if along_m == 0 else ("t", "b")
        passed = ", ".join(f"b{keys.index(_arg_key(ref))}" for ref in part.args)
        steps.append(f"    for (int t = 0; t < {tiles}; t++)\n"
                     f"        $name_{i}({passed}, {ids[0]}, {ids[1]}, 0);")
    body = templates.render("rows", name="$name", parts=len(parts), rows=rows,
                            functions="\n".join(functions), args=_signature(keys, args, written),
                            steps="\n".join(steps))
    name = f"rows_{hashlib.sha1(body.encode()).hexdigest()[:8]}"
    return KernelSpec(name, "rows", body.replace("$name", name), [ref for ref, _ in args],
                      (M // rows,), (1,), [n for p in parts for n in p.nodes],
                      [n for p in parts for n in p.outputs], parts[0].dtype,
                      sum(p.flops for p in parts), sum(p.bytes for p in parts),
                      written=[ref for ref, _ in args if _arg_key(ref) in written],
                      parts=list(parts))

# }}}


# {{{ one launch for kernels that do not depend on each other

# kernels above these sizes (a few microseconds' work on a CPU) are "large": a launch holds
# at most one; below them a launch costs about as much as the work
LAUNCH_SHARE_FLOPS = 1 << 21
LAUNCH_SHARE_BYTES = 1 << 21

# work-item functions other than get_global_id: a kernel that calls one (work-groups of
# several work-items, local memory, barriers) keeps its launch
_GROUP_CALLS = re.compile(r"\bget_(local_id|group_id|num_groups|global_size|local_size|"
                          r"global_offset|work_dim)\b|\bbarrier\s*\(")


def _buffer_key(ref: BufferRef) -> tuple:
    """Which buffer ``ref`` is. A parameter's current and spare buffers count as one,
    which is what they are when updates are written in place."""
    if ref.kind in ("param", "spare"):
        return ("param", id(ref.node))
    if ref.kind == "temp":
        return ("temp", ref.slot)
    return (ref.kind, id(ref.node))


def _arg_key(ref: BufferRef) -> tuple:
    return (ref.kind, id(ref.node), ref.slot)


def _launchable_together(spec: KernelSpec) -> bool:
    return (spec.kind != "allreduce" and all(n == 1 for n in spec.local_size)
            and not _GROUP_CALLS.search(spec.source))


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


def _as_function(part: KernelSpec, name: str) -> str:
    """``part``'s kernel as a function ``name`` of its three global ids (``GC_ID``). The
    name comes from the kernel that calls it: another such kernel may hold the same part."""
    head, body = part.source.split(f"__kernel void {part.name}(", 1)
    params, rest = body.split(")", 1)
    rest = rest.replace("get_global_id(", "GC_ID(")
    return (f"{head}static void {name}({params}, const int gc_id0, const int gc_id1, "
            f"const int gc_id2){rest}")


def _launch(parts: list) -> KernelSpec:
    """One kernel running ``parts`` (kernels of work-groups of one work-item, independent
    of each other). Each part becomes a function of its global ids; work-item ``id`` of
    the launch runs work-item ``id - start`` of the part whose range holds it, unravelled
    over the part's global size."""
    args, keys, written = _shared_args(parts)
    signature = _signature(keys, args, written)
    functions, dispatch = [], []
    for i, part in enumerate(parts):
        functions.append(_as_function(part, f"$name_{i}"))
        gx, gy, gz = (tuple(part.global_size) + (1, 1))[:3]
        count = gx * gy * gz
        passed = ", ".join(f"b{keys.index(_arg_key(ref))}" for ref in part.args)
        dispatch.append(f"    if (id < {count}) {{\n"
                        f"        $name_{i}({passed}, id % {gx}, id / {gx} % {gy}, "
                        f"id / {gx * gy});\n        return;\n    }}\n    id -= {count};")
    body = templates.render("launch", name="$name", parts=len(parts),
                            functions="\n".join(functions), args=signature,
                            dispatch="\n".join(dispatch))
    name = f"launch_{hashlib.sha1(body.encode()).hexdigest()[:8]}"
    total = sum(int(np.prod(p.global_size)) for p in parts)
    return KernelSpec(name, "launch", body.replace("$name", name), [ref for ref, _ in args],
                      (total,), (1,), [n for p in parts for n in p.nodes],
                      [n for p in parts for n in p.outputs], parts[0].dtype,
                      sum(p.flops for p in parts), sum(p.bytes for p in parts),
                      written=[ref for ref, _ in args if _arg_key(ref) in written],
                      parts=list(parts))

# }}}


def _allreduce_step(group: Group, sched: Schedule, buffer_of: Callable) -> KernelSpec:
    """Not a kernel: the host combines the source buffer across ranks into the output."""
    node = group.anchor
    (entry,) = sched.loads[id(group)]
    _, base, view = entry
    if not view.is_contiguous or view.shape != base.shape:
        raise CodegenError("allreduce of a strided view: materialise it first")
    return KernelSpec(f"allreduce_{node.arg}", "allreduce", "", [buffer_of(base),
                      buffer_of(node)], (), (), [node], list(group.outputs), node.dtype,
                      0, 2 * node.size * node.dtype.itemsize)


_DOUBLE = re.compile(r"\bdouble\d*\b|\(\(double\)")


def program_source(specs: list, node_count: int) -> str:
    """The whole program: preamble (fp64 pragma only when a double appears) and kernels."""
    fp64 = any(_DOUBLE.search(s.source) for s in specs if s.kind != "allreduce")
    pragmas = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if fp64 else ""
    preamble = templates.render("preamble", nodes=node_count, kernels=len(specs),
                                pragmas=pragmas)
    seen, parts = set(), [preamble]
    for spec in specs:
        if spec.kind != "allreduce" and spec.name not in seen:
            seen.add(spec.name)
            parts.append(spec.source)
    return "\n".join(parts)
