"""None dimensions at build time, no device: symbolic sizes, the shapes ops give them, the
checks that stay for the call, the errors for what needs a number; Tensor.size/numel."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import graphc as gc
from graphc import shapes
from graphc.graph import Op


@pytest.fixture
def x():
    return gc.placeholder((None, 6), name="x")


# {{{ the symbolic size

def test_none_becomes_a_symbolic_size_named_after_the_placeholder(x):
    n = x.shape[0]
    assert isinstance(n, shapes.Dim) and x.shape[1] == 6
    assert str(n) == "x.shape[0]" and repr(x) == "Tensor(x, shape=(x.shape[0], 6), dtype=float32)"
    assert shapes.public(x.shape) == (None, 6)
    # a size of its own: another placeholder of the same name has another one
    assert gc.placeholder((None, 6), name="x").shape[0] != n
    assert (n > 0) is sp.true and shapes.truth(n - 1 > 0) is None


def test_a_symbolic_size_is_no_python_int(x):
    with pytest.raises(TypeError, match=r"x.shape\[0\] is a None dimension"):
        int(x.shape[0])
    with pytest.raises(TypeError, match=r"x.shape\[0\] is a None dimension"):
        len(x)
    with pytest.raises(TypeError, match=r"None dimension"):
        range(x.shape[0])


def test_placeholder_shape_errors_still_name_the_bad_size():
    for bad in [(None, "a"), (None, -1)]:
        with pytest.raises(gc.ShapeError, match=r"non-negative int or None, got shape \(None, "):
            gc.placeholder(bad)

# }}}


# {{{ size and numel

def test_size_and_numel_as_torch():
    t = gc.placeholder((2, 3, 4))
    assert t.size() == (2, 3, 4) and isinstance(t.size(), tuple)
    assert (t.size(0), t.size(1), t.size(-1), t.size(-3)) == (2, 3, 4, 2)
    assert t.numel() == 24 and isinstance(t.numel(), int)
    assert gc.placeholder(()).numel() == 1 and gc.placeholder(()).size() == ()
    assert gc.constant(np.ones((5, 2))).numel() == 10


@pytest.mark.parametrize("dim", [3, -4, 10])
def test_size_of_an_axis_out_of_range_names_it_and_the_shape(dim):
    t = gc.placeholder((2, 3, 4))
    with pytest.raises(IndexError, match=rf"dim {dim} is out of range.*\(2, 3, 4\)"):
        t.size(dim)


def test_size_takes_only_an_int():
    with pytest.raises(TypeError, match="must be an int"):
        gc.placeholder((2, 3)).size(1.0)


def test_size_and_numel_of_none_dimensions_are_symbolic(x):
    n = x.shape[0]
    assert x.size(0) is n and x.size() == (n, 6)
    assert x.numel() == 6 * n
    s = gc.placeholder((None, None), name="s")
    assert s.numel() == s.shape[0] * s.shape[1]

# }}}


# {{{ shapes of ops over None dimensions

def test_shapes_of_ops_over_a_none_dimension(x):
    n = x.shape[0]
    w = gc.placeholder((6, 3))
    cases = {
        "matmul": (x @ w, (n, 3)),
        "bias": (x + gc.constant(np.ones(6, np.float32)), (n, 6)),
        "scalar": (x * 2.0, (n, 6)),
        "sum 0": (x.sum(0), (6,)),
        "sum 1 keepdim": (x.sum(1, keepdim=True), (n, 1)),
        "mean": (x.mean(), ()),
        "softmax": (x.softmax(-1), (n, 6)),
        "T": (x.T, (6, n)),
        "flatten": (x.flatten(), (6 * n,)),
        "view -1": (x.view(-1, 3), (2 * n, 3)),
        "view size(0)": (x.view(x.size(0), 2, -1), (n, 2, 3)),
        "unsqueeze": (x.unsqueeze(1), (n, 1, 6)),
        "x[1:]": (x[1:], (n - 1, 6)),
        "x[:-2]": (x[:-2], (n - 2, 6)),
        "x[::2]": (x[::2], (sp.ceiling(n / 2), 6)),
        "x[-1]": (x[-1], (6,)),
        "x[2:4]": (x[2:4], (2, 6)),
        "flip": (x.flip(0), (n, 6)),
        "pad": (gc.pad(x, (0, 0, 1, 2)), (n + 3, 6)),
        "cat": (gc.cat([x, x[1:]]), (2 * n - 1, 6)),
        "stack": (gc.stack([x, x], 1), (n, 2, 6)),
        "x @ x.T": (x @ x.T, (n, n)),
    }
    for name, (t, want) in cases.items():
        assert t.shape == want, name


def test_two_none_sizes_meeting_are_taken_to_be_equal(x):
    y = gc.placeholder((None, 6), name="y")
    z = x + y
    assert z.shape == (x.shape[0], 6)
    # the other operand is broadcast to x's size: the node that the call checks
    assert any(s.op is Op.BROADCAST and s.src[0] is y for s in z.src)
    assert gc.cat([x, y], 1).shape == (x.shape[0], 12)


def test_mean_and_python_arithmetic_on_sizes_make_size_nodes(x):
    per_row = x.sum() / x.shape[0]
    (scale,) = [s for s in per_row.src if s.op is Op.SIZE]
    assert scale.shape == () and scale.arg == x.shape[0]
    mean = x.mean()
    sizes = [s for s in mean.src if s.op is Op.SIZE]
    assert sizes and sizes[0].arg == 1 / (6 * x.shape[0])


@pytest.mark.parametrize("build, match", [
    (lambda x: x.reshape(32, 6), r"cannot reshape \(x.shape\[0\], 6\).*\(32, 6\).*-1"),
    (lambda x: x + gc.placeholder((8, 6)), r"cannot be broadcast.*None dimension broadcasts"),
    (lambda x: x.broadcast_to((8, 6)), r"broadcast"),
    (lambda x: gc.split(x, 2, 0), r"split: dim 0 .*None dimension"),
    (lambda x: x.chunk(2), r"None dimension"),
    (lambda x: x @ gc.placeholder((None, 2)), r"do not align"),
    (lambda x: x.reshape(None, 6), r"None size"),
])
def test_what_needs_a_number_says_so(x, build, match):
    with pytest.raises(gc.ShapeError, match=match):
        build(x)


def test_grad_over_none_dimensions_has_their_shapes(x):
    w = gc.parameter(np.ones((6, 3), np.float32), name="w")
    loss = ((x @ w).tanh() ** 2).mean()
    gw, gx = gc.grad(loss, [w, x])
    assert gw.shape == (6, 3) and gx.shape == x.shape
    ggw = gc.grad((gw * gw).sum(), w)          # grad of grad
    assert ggw.shape == (6, 3)

# }}}


def _forms(t: gc.Tensor) -> list:
    """The computing nodes of the graph under ``t`` and its gradient, with their formulas
    (views and leaves left out: a constant of a None shape is a broadcast of a number)."""
    from graphc.graph import toposort
    leaves = [n for n in toposort([t]) if n.op is Op.PLACEHOLDER]
    nodes = toposort([t] + gc.grad(t, leaves))
    return [(n.op, str(n.arg)) for n in nodes if n.op in (Op.EW, Op.REDUCE, Op.MATMUL)]


@pytest.mark.parametrize("build", [
    lambda x: (x * 1.0 + 0.0).sum(),
    lambda x: gc.log(1 + gc.exp(x)).sum(),                 # stabilised to softplus
    lambda x: gc.log(gc.sigmoid(x)).sum(),
    lambda x: ((x - 3.0) ** 2).sum() * 0.5,
    lambda x: gc.where(x > 0, x, 0.0).sum(),
    lambda x: x.softmax(1).max(),
    lambda x: gc.mse_loss(x, x * 2.0, reduction="sum"),
    lambda x: (x @ gc.constant(np.ones((3, 2), np.float32))).relu().sum(),
])
def test_numbers_fold_over_none_sizes_as_over_known_ones(build):
    """Constants broadcast to a None size are written into the formulas as numbers, as
    for a known size: the same simplifications (and stabilisations) apply when building."""
    sym = _forms(build(gc.placeholder((None, 3), name="x")))
    static = _forms(build(gc.placeholder((4, 3), name="x")))
    assert sym == static
