"""Kernel groups -> OpenCL C source. Needs no device: the output is text.

The elementwise nodes of a group become one sympy expression system per index space:
each node's scalar form with its operands substituted (registers of the same kernel) or
replaced by load symbols (buffers, read through strided views). ``sympy.cse`` then
shares common subexpressions and ``OpenCLPrinter`` prints them.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable, Optional

import numpy as np
import sympy as sp

from . import templates
from .dtypes import cl_type, literal, needs_fp64
from .graph import Op, Tensor
from .printer import OpenCLPrinter
from .schedule import Group, Schedule, View, contiguous_strides
from .symbolic import operand

ACC = sp.Symbol("acc", real=True)
INT_LIMIT = 2 ** 31 - 1


@dataclasses.dataclass(frozen=True)
class BufferRef:
    """A device buffer a kernel argument is bound to: a placeholder's, a parameter's, a
    constant's (``node`` set) or a temporary (``slot``)."""

    kind: str
    node: Optional[Tensor] = None
    slot: int = -1


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


class _Space:
    """One index space of a kernel: its shape, index variable names and load table."""

    def __init__(self, shape: tuple, flat: str, index: Callable[[int], str]):
        self.shape, self.flat, self.index = shape, flat, index
        self.loads: dict = {}      # (buffer arg name, view) -> symbol

    def offset(self, view: View) -> str:
        if view.shape == self.shape and view.is_contiguous:
            return self.flat
        terms = [f"{self.index(d)} * {s}" if s != 1 else self.index(d)
                 for d, s in enumerate(view.strides) if s and view.shape[d] != 1]
        if view.offset:
            terms.insert(0, str(view.offset))
        return " + ".join(terms) or "0"


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

    def __init__(self, group: Group, sched: Schedule, buffer_of: Callable[[Tensor], BufferRef]):
        self.group, self.sched, self.buffer_of = group, sched, buffer_of
        self.dtype = (group.members() + group.copies)[0].dtype
        self.T = cl_type(self.dtype)
        self.printer = OpenCLPrinter(self.dtype)
        self.args: list[BufferRef] = []
        self.written: set = set()
        self.load_of = {id(s): (base, view) for s, base, view in sched.loads[id(group)]}
        self.register: dict[int, sp.Expr] = {}

    def arg(self, ref: BufferRef, write: bool = False) -> str:
        if ref not in self.args:
            self.args.append(ref)
        if write:
            self.written.add(ref)
        return f"b{self.args.index(ref)}"

    def signature(self) -> str:
        return ", ".join(
            f"__global {'' if ref in self.written else 'const '}{self.T}* restrict b{i}"
            for i, ref in enumerate(self.args))

    # {{{ expressions

    def value(self, node: Tensor, space: _Space, members: set) -> sp.Expr:
        if node is self.group.anchor and self.group.kind in ("reduce", "matmul"):
            return ACC
        if id(node) in members:
            if id(node) not in self.register:
                args = {operand(i): self.value(s, space, members) for i, s in
                        enumerate(node.src)}
                self.register[id(node)] = node.arg.xreplace(args)
            return self.register[id(node)]
        base, view = self.load_of[id(node)]
        key = (self.arg(self.buffer_of(base)), view)
        if key not in space.loads:
            space.loads[key] = sp.Symbol(f"v{len(space.loads)}_{space.flat}", real=True)
        return space.loads[key]

    def body(self, nodes: list, copies: list, space: _Space, indent: str,
             named: Optional[dict] = None) -> list:
        """Loads, shared subexpressions and stores of ``nodes`` (and copies) in ``space``.

        ``named`` adds expressions assigned to local variables of the given names.
        """
        members = set(map(id, nodes))
        outs = [n for n in self.group.outputs if id(n) in members or
                any(n is c for c in copies)]
        exprs = [self.value(n, space, members) for n in outs]
        named = named or {}
        exprs += list(named.values())
        temps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(f"t_{space.flat}_"),
                                optimizations=None) if exprs else ([], [])
        lines = [f"const {self.T} {sym} = {name}[{space.offset(view)}];"
                 for (name, view), sym in space.loads.items()]
        lines += [f"const {self.T} {sym} = {self.printer.doprint(e)};" for sym, e in temps]
        for node, e in zip(outs, reduced):
            target = self.arg(self.buffer_of(node), write=True)
            lines.append(f"{target}[{space.flat}] = {self.printer.doprint(e)};")
        for name, e in zip(named, reduced[len(outs):]):
            lines.append(f"const {self.T} {name} = {self.printer.doprint(e)};")
        return [indent + line for line in lines]

    # }}}

    def write(self) -> KernelSpec:
        kind = self.group.kind
        source_fields, gsize, lsize = getattr(self, f"_write_{kind}")()
        source_fields["args"] = self.signature()
        body = templates.render(kind, name="$name", **source_fields)
        digest = hashlib.sha1(body.encode()).hexdigest()[:8]
        name = f"{kind}_{digest}"
        source = body.replace("$name", name, 1)
        nodes = [n for n in self.group.members() + self.group.copies]
        return KernelSpec(name, kind, source, list(self.args), gsize, lsize, nodes,
                          list(self.group.outputs), self.dtype)

    def _write_elementwise(self):
        shape = self.group.space
        size = int(np.prod(shape, dtype=np.int64))
        space = _Space(shape, "i", lambda d: f"x{d}")
        lines = self.body(self.group.nodes, self.group.copies, space, "    ")
        index = ["    " + line for line in unravel(shape, "i", space.index, list(range(len(shape))))]
        local = 64 if size >= 64 else size
        gsize = (-(-size // local) * local,)
        return {"size": size, "body": "\n".join(index + lines)}, gsize, (local,)

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
        members = set(map(id, self.group.prologue))
        value = self.value(x, in_space, members)
        prologue = self.body(self.group.prologue, [], in_space, "        ", {"value": value})
        flat = " + ".join(f"x{d} * {s}" for d, s in enumerate(contiguous_strides(x.shape))
                          if x.shape[d] != 1) or "0"
        in_index = unravel(x.shape, "r", lambda d: f"x{d}", list(axes))
        in_index.append(f"const int i = {flat};")
        epilogue = self.body(self.group.nodes, [], out_space, "        ")
        if any(n is self.group.anchor for n in self.group.outputs):
            epilogue.append(f"        {self.arg(self.buffer_of(self.group.anchor), True)}[o] = acc;")
        local = 1
        while local < min(reduced, 128):
            local *= 2
        combine = ("acc + value" if kind == "sum" else
                   "((value > acc || value != value) ? value : acc)")
        init = literal(0.0 if kind == "sum" else float("-inf"), self.dtype)
        fields = {"T": self.T, "local": local, "reduced": reduced, "init": init,
                  "combine": combine, "prologue": "\n".join(prologue),
                  "out_index": "\n".join("    " + s for s in
                                         unravel(x.shape, "o", lambda d: f"x{d}", kept)),
                  "in_index": "\n".join("        " + s for s in in_index),
                  "epilogue": "\n".join(epilogue)}
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
        epilogue = self.body(self.group.nodes, [], space, "                ")
        if any(n is self.group.anchor for n in self.group.outputs):
            target = self.arg(self.buffer_of(self.group.anchor), True)
            epilogue.append(f"                {target}[i] = acc;")

        def base_offset(view: View) -> str:
            terms = [f"x{d} * {s}" for d, s in enumerate(view.strides[:nb]) if s]
            return " + ".join([str(view.offset)] + terms)

        TM, TN = 4, 4
        fields = {"T": self.T, "TM": TM, "TN": TN, "M": M, "N": N, "K": K,
                  "A": views["A"][0], "B": views["B"][0],
                  "batch_index": "\n".join("    " + s for s in unravel(
                      batch_shape, "batch", lambda d: f"x{d}", list(range(nb)))),
                  "a_base": base_offset(views["A"][1]), "b_base": base_offset(views["B"][1]),
                  "a_m": views["A"][1].strides[-2], "a_k": views["A"][1].strides[-1],
                  "b_k": views["B"][1].strides[-2], "b_n": views["B"][1].strides[-1],
                  "epilogue": "\n".join(epilogue)}
        nbatch = int(np.prod(batch_shape, dtype=np.int64))
        return fields, (-(-N // TN), -(-M // TM), nbatch), (1, 1, 1)

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
                  "load": space.offset(view), "store": "i", "one": literal(1, self.dtype), "zero": literal(0, self.dtype)}
        outs = fields["outs"]
        return fields, (outs,), (1,)


def generate(sched: Schedule, buffer_of: Callable[[Tensor], BufferRef]) -> list:
    """One ``KernelSpec`` per group of ``sched``, in launch order."""
    specs = []
    for group in sched.groups:
        for node in group.members() + group.copies:
            if node.size > INT_LIMIT:
                raise ValueError(f"{node!r} has more than 2**31 elements; graphc indexes "
                                 "with 32-bit ints")
        specs.append(KernelWriter(group, sched, buffer_of).write())
    return specs


def program_source(specs: list, node_count: int) -> str:
    """The whole program: preamble (fp64 pragma only when a double appears) and kernels."""
    fp64 = any(needs_fp64(s.dtype) for s in specs)
    pragmas = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if fp64 else ""
    preamble = templates.render("preamble", nodes=node_count, kernels=len(specs),
                                pragmas=pragmas)
    seen, parts = set(), [preamble]
    for spec in specs:
        if spec.name not in seen:
            seen.add(spec.name)
            parts.append(spec.source)
    return "\n".join(parts)
