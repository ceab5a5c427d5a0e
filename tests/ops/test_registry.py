"""The op table: every op has one definition, every pass asks it, and an op nobody
defined is an error in each pass, never a silent default."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.graph import Op
from graphc.ops import registry
from graphc.ops.registry import Category


def test_every_op_is_defined_once_with_what_its_category_needs():
    assert set(registry.OPS) == set(Op)
    for op, d in registry.OPS.items():
        assert d.op is op
        if d.category is Category.VIEW:
            assert d.view is not None and d.vjp is not None and d.impl is not None
        if d.category not in (Category.LEAF,):
            assert d.impl is not None, op
    with pytest.raises(gc.GraphcError, match="declared twice"):
        registry.define(Op.EW, Category.ELEMENTWISE)

def test_a_view_needs_a_view_rule(monkeypatch):
    monkeypatch.delitem(registry.OPS, Op.RESHAPE)
    with pytest.raises(gc.GraphcError, match="needs a view rule"):
        registry.define(Op.RESHAPE, Category.VIEW)


@pytest.mark.parametrize("stage", ["grad", "evaluate", "lower"])
def test_an_op_without_definition_is_an_error_in_every_pass(monkeypatch, stage):
    x = gc.placeholder((3, 4), name="x")
    y = gc.sum(x[1:] * 2.0)
    monkeypatch.delitem(registry.OPS, Op.SHRINK)
    with pytest.raises(gc.GraphcError, match="'shrink'.*no definition"):
        if stage == "grad":
            gc.grad(y, x)
        elif stage == "evaluate":
            gc.evaluate(y, {x: np.ones((3, 4), np.float32)})
        else:
            gc.lower([y])


def test_categories_drive_the_scheduler():
    """A view is read in place; a contraction and a reduction anchor their own kernels."""
    x = gc.placeholder((8, 8), name="x")
    w = gc.placeholder((8, 8), name="w")
    program = gc.lower([gc.sum(gc.tanh(x.T[::2] @ w), axis=1)], target=None, share=False)
    assert [k.kind for k in program.kernels] == ["matmul", "reduce"]
