"""The op table: one ``OpDef`` per op, declaring everything the passes need to know.

Each op module (``elementwise``, ``views``, ``reduce``, ``contract``) declares its ops
with ``define`` next to the functions that build them: the category the scheduler and
code generator dispatch on, the vector-Jacobian product, the numpy reference, how the
node prints and how it is rebuilt from new sources. A pass asks ``opdef(node)``; an op
that nobody defined is an error, never a silent default.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, Optional, Sequence

from ..errors import GraphcError
from ..graph import Op, Tensor


class Category(enum.Enum):
    """What kind of kernel work an op is; every pass dispatches on this."""

    LEAF = "leaf"                # placeholder, parameter, constant: a buffer of its own
    ELEMENTWISE = "elementwise"  # a scalar function of its broadcast operands
    VIEW = "view"                # a new way to read its source's buffer: never computed
    REDUCE = "reduce"            # sum or max over axes (argmax: the first maximum's index)
    CONTRACT = "contract"        # matmul
    INDEX = "index"              # per-group index search (the first maximum's mask)
    SCAN = "scan"                # running sum or product along one axis
    HOST = "host"                # runs on the host between kernels (allreduce)
    GATHER = "gather"            # an indexed read, computed per element like elementwise
    SORT = "sort"                # a scatter's positions sorted by target (one work-group)
    SCATTER = "scatter"          # a deterministic scatter-add: one work-item per target


Cotangents = Sequence[Optional[Tensor]]


@dataclasses.dataclass(frozen=True)
class OpDef:
    """Everything graphc knows about one op.

    ``vjp(node, g)`` returns one cotangent per source (None: no gradient flows);
    ``impl(node, *arrays)`` is the numpy reference; ``label(node, inner)`` prints the
    node from its sources' labels; ``rebuild(node, src)`` makes the node again over new
    sources through its builder, so that the builder's simplifications apply; ``view``
    (views only) maps the View of the source to the View of the node, or returns None
    where strides cannot express it (the source is then copied into a buffer first).
    """

    op: Op
    category: Category
    vjp: Optional[Callable[[Tensor, Tensor], Cotangents]] = None
    impl: Optional[Callable[..., Any]] = None
    label: Optional[Callable[[Tensor, list], str]] = None
    rebuild: Optional[Callable[[Tensor, tuple], Tensor]] = None
    view: Optional[Callable[[Tensor, Any], Any]] = None


OPS: dict[Op, OpDef] = {}


def define(op: Op, category: Category, **rules: Any) -> OpDef:
    """Declare ``op``; each op is declared exactly once."""
    if op in OPS:
        raise GraphcError(f"op {op.value!r} is declared twice")
    if category is Category.VIEW and rules.get("view") is None:
        raise GraphcError(f"view op {op.value!r} needs a view rule")
    OPS[op] = OpDef(op, category, **rules)
    return OPS[op]


def opdef(node: Tensor) -> OpDef:
    """The definition of ``node``'s op; a ``GraphcError`` for an op nobody declared."""
    found = OPS.get(node.op)
    if found is None:
        raise GraphcError(f"op {node.op.value!r} of {node!r} has no definition in "
                          "graphc.ops; declare it with graphc.ops.registry.define")
    return found


def category(node: Tensor) -> Category:
    return opdef(node).category


def is_view(node: Tensor) -> bool:
    return category(node) is Category.VIEW


def is_leaf(node: Tensor) -> bool:
    return category(node) is Category.LEAF


def rebuild(node: Tensor, src: tuple) -> Tensor:
    """``node`` over new sources ``src`` (the same node when they are the same)."""
    if len(src) == len(node.src) and all(a is b for a, b in zip(src, node.src)):
        return node
    rule = opdef(node).rebuild
    if rule is not None:
        return rule(node, src)
    return Tensor(node.op, tuple(src), node.shape, node.dtype, node.arg, node.name)
