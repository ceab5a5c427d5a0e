"""Elementwise kernels: one work-item per element (or per vector of neighbours), or
one plane (the last two axes), and the copies by blocks of vectors that pack a matmul
operand on a CPU (a transposed one into rows, B into panels)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import sympy as sp

from ..symbolic import operand
from .kernel import KernelWriter, Skeleton, writes
from .space import _Space, unravel


def _copy_of(w: KernelWriter) -> Optional[tuple]:
    """(node, base, view) where ``w``'s group only copies one view, on a target that
    packs matmul operands (a CPU); else None."""
    nodes = w.group.nodes
    if not w.target.packs_transposed or len(nodes) != 1:
        return None
    node = nodes[0]
    if node.arg != operand(0) or len(node.src) != 1:
        return None
    return (node,) + tuple(w.load_of[id(node.src[0])])


def _bind_copy(w: KernelWriter, node, base) -> tuple:
    """The (source, destination) argument names of a copy kernel of ``node``."""
    src = w.arg(w.buffer_of(base), node=base)
    dst = w.arg(w.buffer_of(node), write=True, node=node)
    symbol = sp.Symbol("v0_i", real=True)
    w.loads[symbol] = base
    w.expression[node] = symbol
    return src, dst


def _transposed_block(w: KernelWriter, W: int, load, store, pad: str) -> list:
    """C lines moving a W x W block across: W vector loads (the c-th from address
    ``load(c)``), then W vector stores (the r-th, to ``store(r)``) of their lanes r."""
    VT, digits = f"{w.T}{W}", "0123456789abcdef"
    lines = [f"{pad}const {VT} c{c} = vload{W}(0, {load(c)});" for c in range(W)]
    return lines + [f"{pad}vstore{W}(({VT})(" + ", ".join(f"c{c}.s{digits[r]}"
                                                          for c in range(W))
                    + f"), 0, {store(r)});" for r in range(W)]


def _transposed_copy(w: KernelWriter) -> Optional[Skeleton]:
    """The kernel of a group that only copies a transposed 2-D view into rows of its
    own (a matmul operand packed on a CPU), block by block; None for any other group.
    As an elementwise copy, a 16 MB transpose took 12.9 ms; by blocks, 1.7 ms."""
    found = _copy_of(w)
    if found is None or len(w.group.space) != 2:
        return None
    node, base, view = found
    W = w.target.lanes(w.dtype)
    P, Q = w.group.space
    S = view.strides[1]
    if W == 1 or view.masked or view.strides[0] != 1 or S == 1 or P % W or Q % W:
        return None
    src, dst = _bind_copy(w, node, base)
    moves = _transposed_block(w, W, lambda c: f"{src} + {view.offset} + (q0 + {c}) * {S} + p0",
                              lambda r: f"{dst} + (p0 + {r}) * {Q} + q0", "    ")
    return Skeleton("transpose", {"W": W, "moves": "\n".join(moves)}, (Q // W, P // W),
                    (1, 1))


def _block_copy(w: KernelWriter) -> Optional[Skeleton]:
    """The kernel of a group that only copies a stack of planes whose rows are vectors
    of the source, along its rows (unit stride along the last axis) or across them
    (unit stride along the next-to-last: a transpose a plane); None for any other group.
    A matmul's B copied into panels is such a copy, through any of B's layouts."""
    found = _copy_of(w)
    if found is None or len(w.group.space) < 3:
        return None
    node, base, view = found
    W = w.target.lanes(w.dtype)
    *outer, P, Q = w.group.space
    S_p, S_q = view.strides[-2:]
    rows = S_q == 1
    if W == 1 or view.masked or Q % W or not (rows or (S_p == 1 and P % W == 0)):
        return None
    src, dst = _bind_copy(w, node, base)
    pad = " " * 8
    if rows:
        guard = (lambda r: f"if (p0 + {r} < {P})\n{pad}    ") if P % W else (lambda r: "")
        moves = [f"{pad}{guard(r)}vstore{W}(vload{W}(0, {src} + src + (p0 + {r}) * {S_p} "
                 f"+ q0), 0, {dst} + dst + (p0 + {r}) * {Q} + q0);" for r in range(W)]
        how = "read along the source's rows"
    else:
        moves = _transposed_block(w, W, lambda c: f"{src} + src + (q0 + {c}) * {S_q} + p0",
                                  lambda r: f"{dst} + dst + (p0 + {r}) * {Q} + q0", pad)
        how = ("read across the source's rows, down its columns, reassembled lane by lane "
               "in registers")
    nd = len(outer)
    planes = int(np.prod(outer, dtype=np.int64))
    terms = [str(view.offset)] + [f"x{d} * {s}" for d, s in enumerate(view.strides[:nd])
                                  if s]
    fields = {"W": W, "P": P, "Q": Q, "PQ": P * Q, "how": how,
              "outer": "\n".join("    " + line for line in unravel(
                  tuple(outer), "plane", lambda d: f"x{d}", list(range(nd)))),
              "src_plane": " + ".join(terms), "moves": "\n".join(moves)}
    return Skeleton("blocks", fields, (-(-P // W), planes), (1, 1))


PLANE_MIN = 64          # elements of a plane, at least, for a work-item to run it whole


def _by_planes(w: KernelWriter, lanes: int) -> bool:
    """Does this group run a plane a work-item (``kernels/planes.cl``)? On targets that do
    so (CPUs), for index spaces of 3 or more axes whose planes are large enough, where the
    body is not computed as vectors (masked loads, gathers), or is a copy: reading
    strided rows one element a work-item, the index arithmetic costs more than the copy."""
    shape = w.group.space
    if not w.target.planes or len(shape) < 3:
        return False
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    if shape[-2] * shape[-1] < PLANE_MIN or planes < 2 * w.target.compute_units:
        return False
    nodes = w.group.nodes
    copy = len(nodes) == 1 and nodes[0].arg == operand(0) and len(nodes[0].src) == 1
    return lanes == 1 or copy


def _planes(w: KernelWriter) -> Skeleton:
    shape = w.group.space
    nd = len(shape)
    space = _Space(shape, "i", lambda d: f"x{d}")
    body = w.body(w.group.nodes, space, "            ")
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    local = w.target.elementwise_group(planes, 1)
    fields = {"R": shape[-2], "J": shape[-1], "row": f"x{nd - 2}", "col": f"x{nd - 1}",
              "outer": "\n".join("    " + line for line in unravel(
                  shape[:-2], "p", lambda d: f"x{d}", list(range(nd - 2)))),
              "body": "\n".join(body),
              "guard": ("" if planes % local == 0
                        else f"    if (p >= {planes})\n        return;")}
    return Skeleton("planes", fields, (-(-planes // local) * local,), (local,))


@writes("elementwise")
def write_elementwise(w: KernelWriter) -> Skeleton:
    """The fused elementwise kernel of ``w``'s group (or its transposed copy): a vector or
    an element a work-item, or a plane."""
    copy = _transposed_copy(w) or _block_copy(w)
    if copy is not None:
        return copy
    shape = w.group.space
    size = int(np.prod(shape, dtype=np.int64))
    space = _Space(shape, "i", lambda d: f"x{d}")
    # On a CPU, each work-item computes a vector of neighbouring elements where the
    # loads allow: PoCL vectorises arithmetic across work-items by itself, but calls
    # exp, tanh, ... one lane at a time (explicit vectors: tanh(x)*y+1 2.8x faster)
    lanes = w._vector_lanes(space)
    if _by_planes(w, lanes):
        return _planes(w)
    lines = w.body(w.group.nodes, space, "    ", lanes=lanes)
    index = ["    " + line
             for line in unravel(shape, "i", space.index, list(range(len(shape))))]
    items = size // lanes
    local = w.target.elementwise_group(items, lanes)
    guard = "" if items % local == 0 else f"    if (i >= {size})\n        return;"
    gsize = (-(-items // local) * local,)
    fields = {"guard": guard, "body": "\n".join(index + lines),
              "scale": f" * {lanes}" if lanes > 1 else ""}
    return Skeleton("elementwise", fields, gsize, (local,))
