"""``x[key]``: numpy's indexing. Basic indexing (ints, slices, ``None``, ``...``) is a view
(``views.getitem``); integer arrays make it advanced, one ``GATHER`` (``gathers``).

numpy's rules for advanced indexing: the index arrays (ints among them count as 0-d
arrays) broadcast to one shape B. If they sit next to each other in the key, B's axes
replace theirs in place (``x[:, i, j]``: ``(n0, *B)``); separated by a slice, an int's
neighbour or a ``None``, B's axes come first (``x[i, :, j]``: ``(*B, n1)``). The other
axes are sliced, and ``None`` adds axes of size 1, as in basic indexing.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import Tensor
from .elementwise import broadcast_shapes
from .gathers import _check_constant, _is_int, as_index, gather_node
from .views import getitem as basic_getitem
from .views import reshape


def _advanced(item: Any) -> bool:
    return isinstance(item, (Tensor, list, np.ndarray)) or (
        isinstance(item, tuple) and not isinstance(item, Tensor))


def getitem(x: Tensor, key: Any) -> Tensor:
    """``x[key]`` with numpy's basic and advanced (integer-array) indexing. An index array
    out of range: an ``IndexError`` for a constant or fed one, else clamped
    (``graphc.ops.gathers``)."""
    items = list(key) if isinstance(key, tuple) else [key]
    if not any(_advanced(item) for item in items):
        return basic_getitem(x, key)
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in items)
    if used > x.ndim:
        raise IndexError(f"too many indices for a tensor of shape {x.shape}: {used} given")
    at = [i for i, item in enumerate(items) if item is Ellipsis]
    if at:
        at = at[0]
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    else:
        items += [slice(None)] * (x.ndim - used)
    arrays = [i for i, item in enumerate(items) if _advanced(item) or _is_int(item)]
    # slices first (a view), keeping every axis; the arrays index that view
    sliced = basic_getitem(x, tuple(slice(None) if i in arrays else item
                                    for i, item in enumerate(items) if item is not None))
    axis_of, axis = {}, 0
    for i, item in enumerate(items):
        if item is not None:
            axis_of[i] = axis
            axis += 1
    indices = []
    for i in arrays:
        index = as_index(items[i], "indexing", "index")
        _check_constant(index, sliced.shape[axis_of[i]], "indexing", "index", axis_of[i])
        indices.append(index)
    B = broadcast_shapes(*(t.shape for t in indices), op="indexing") if indices else ()
    together = arrays == list(range(arrays[0], arrays[-1] + 1))
    return _gathered(sliced, items, arrays, indices, B, together, axis_of)


def _gathered(x: Tensor, items: list, arrays: list, indices: list, B: tuple,
              together: bool, axis_of: dict) -> Tensor:
    """The gather of ``x`` (sliced) that the advanced ``items`` select (see the module)."""
    shape, coords = [], [None] * x.ndim
    block_at = None
    if not together:
        block_at, shape = 0, list(B)
    for i, item in enumerate(items):
        if i in arrays:
            if together and block_at is None:
                block_at = len(shape)
                shape += list(B)
            continue
        if item is None:
            shape.append(1)
            continue
        coords[axis_of[i]] = ("axis", len(shape))
        shape.append(x.shape[axis_of[i]])
    spread = []
    after = len(shape) - block_at - len(B)
    for j, (i, index) in enumerate(zip(arrays, indices)):
        coords[axis_of[i]] = ("index", j)
        full = (1,) * (len(B) - index.ndim) + index.shape
        spread.append(reshape(index, (1,) * block_at + full + (1,) * after))
    return gather_node(x, coords, spread, tuple(shape), "indexing")
