"""Scan kernels: running sums and products along one axis, one work-item per row."""
from __future__ import annotations

import numpy as np

from ..dtypes import literal
from .kernel import KernelWriter, Skeleton, writes
from .reduce import _flat
from .space import _Space, unravel


@writes("scan")
def write_scan(w: KernelWriter) -> Skeleton:
    """A running sum or product along the anchor's axis, forwards or backwards: each
    work-item walks W rows (the target's choice) in order, loading each element once
    (through its view, or from the fused prologue), and stores the running value and the
    epilogue there."""
    node = w.group.anchor
    kind, axis, reverse = node.arg
    (x,) = node.src
    length = x.shape[axis]
    rows = int(np.prod(x.shape, dtype=np.int64)) // length
    kept = [d for d in range(x.ndim) if d != axis]
    # the prologue and the epilogue are at the same element, under flat names of their own
    prologue = w.body(w.group.prologue, _Space(x.shape, "i", lambda d: f"x{d}"),
                      "                ", {"value": x})
    epilogue = w.body(w.group.nodes, _Space(x.shape, "e", lambda d: f"x{d}"),
                      "                ")
    if any(n is node for n in w.group.outputs):
        target = w.arg(w.buffer_of(node), True, node=node)
        epilogue.append(f"                {target}[e] = acc;")
    W, local = w.target.scan(rows, axis != x.ndim - 1)
    items = -(-rows // W)
    fields = {"T": w.T, "W": W, "rows": rows, "length": length,
              "init": literal(0 if kind == "sum" else 1, w.dtype),
              "combine": "acc + value" if kind == "sum" else "acc * value",
              "row_index": "\n".join("                " + s for s in
                                     unravel(x.shape, "o", lambda d: f"x{d}", kept)),
              "position": f"const int x{axis} = {f'{length - 1} - r' if reverse else 'r'};",
              "flat": _flat(x.shape), "prologue": "\n".join(prologue),
              "epilogue": "\n".join(epilogue),
              "order": "from the last element back" if reverse else "in order"}
    return Skeleton("scan", fields, (-(-items // local) * local,), (local,))
