"""Every operation users call: functions building graph nodes, one module per family.

``registry`` holds one ``OpDef`` per op (category, VJP, numpy reference, label,
rebuild, view rule); ``elementwise``, ``views``, ``reduce`` and ``contract`` declare
their ops next to the functions that build them; ``methods`` gives ``Tensor`` its
operators; ``joins`` builds cat, split, tile and the like from views; ``scans`` holds
argmax, argmin, cumsum and cumprod; ``integers`` the bitwise operations and shifts,
``creation`` arange, zeros, eye, tril and the like (and the index leaf ``iota`` they are
built on), ``random`` rand, randn, dropout and the like (Philox, computed where read), ``conv``
convolutions and pools (windows, im2col and a matmul).
Passes ask ``registry.opdef(node)`` and dispatch on its category.
"""
from __future__ import annotations

from ..graph import Op, Tensor
from . import (contract, conv, creation, einstein, elementwise, gathers, indexing, integers, joins,  # noqa: F401
               losses, methods, random, reduce, registry, scans, views)
from .contract import matmul, mm, swap_last
from .elementwise import *  # noqa: F401,F403  (every elementwise op, by name)
from .elementwise import (BINARY, COMPARISONS, FAMILY, PREDICATES, UNARY, apply, as_tensor,
                          broadcast_shapes, ew_node, log_raw)
from .reduce import (all, allreduce, amax, amin, any, log, log_softmax, logsumexp, max,
                     maxmask, mean, min, norm, prod, reduce_axes, softmax, std, sum, var)
from .scans import argmax, argmin, cumprod, cumsum, scan
from .losses import *  # noqa: F401,F403  (torch.nn.functional's losses, by name)
from .integers import *  # noqa: F401,F403  (bitwise operations and shifts)
from .creation import *  # noqa: F401,F403  (arange, zeros, eye, tril, ...)
from .creation import iota
from .random import *  # noqa: F401,F403  (rand, randn, dropout, manual_seed, ...)
from .conv import *  # noqa: F401,F403  (conv2d, max_pool2d, ...)
from .einstein import bmm, einsum, tensordot  # noqa: F401
from .joins import (cat, chunk, concatenate, expand, movedim, moveaxis, repeat,
                    repeat_interleave, roll, split, stack, tile, unflatten)
from .gathers import (embedding, gather, index_add, index_select, one_hot, scatter_add,
                      take, take_along_axis, take_along_dim)
from .registry import Category, OpDef, category, define, opdef
from .views import (broadcast_to, concatenate_by_padding, flatten, flip, getitem,
                    normalize_axis, pad, pad_constant, permute, reshape, shrink, squeeze,
                    stop_gradient, t, transpose, unbroadcast, unsqueeze)

registry.define(Op.PLACEHOLDER, Category.LEAF)
registry.define(Op.PARAMETER, Category.LEAF, impl=lambda node: node.arg.read())
registry.define(Op.CONST, Category.LEAF, impl=lambda node: node.arg.array)

methods.install(Tensor)
methods.extend(__getitem__=indexing.getitem)

ELEMENTWISE = list(elementwise.__all__)
# the families that reach gc.<name> by their modules' __all__
FAMILIES = (list(losses.__all__) + list(integers.__all__) + list(creation.__all__)
            + list(random.__all__) + list(conv.__all__)
            + list(einstein.__all__))
__all__ = ELEMENTWISE + (
    "reshape permute transpose t broadcast_to sum mean max min softmax log_softmax "
    "logsumexp matmul mm flip pad shrink stop_gradient unsqueeze squeeze flatten "
    "cat concatenate stack split chunk tile repeat repeat_interleave roll expand movedim "
    "moveaxis unflatten amax amin prod var std norm all any argmax argmin cumsum "
    "cumprod").split() + FAMILIES + list(gathers.__all__)
