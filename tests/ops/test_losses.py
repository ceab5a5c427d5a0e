"""The losses of graphc.ops.losses against torch.nn.functional, forward and backward in
both float dtypes and every reduction; all compiled in one function against gc.evaluate;
gradients against central differences; finite values and gradients for logits of +-1e4
in float32; the naive binary cross-entropy stabilised; the fused kernel count."""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes

import graphc as gc
from graphc.errors import DTypeError, ShapeError

try:
    import torch
    import torch.nn.functional as F
except ImportError:   # torch is an optional comparison
    torch = F = None

SHAPE = (4, 5, 3)       # (N, C, d1): classes on axis 1
REDUCTIONS = ("mean", "sum", "none")


def _logits(r, s):
    return r.uniform(-3, 3, s)


def _probabilities(r, s):
    return r.uniform(0.05, 0.95, s)


def _distribution(r, s):
    p = r.uniform(0.1, 1.0, s)
    return p / p.sum(axis=1, keepdims=True)


def _log_distribution(r, s):
    return np.log(_distribution(r, s))


def _offgrid(r, s):
    # |input - target| away from 0 and from the thresholds (1.0): no kink within a step
    return r.uniform(0.1, 0.9, s) * r.choice([-1, 1], s) + r.integers(-1, 2, s) * 1.0


@dataclasses.dataclass(frozen=True)
class Loss:
    name: str
    fn: Callable                  # graphc: (input, target, reduction) -> tensor
    torch: Optional[Callable]     # torch: (input, target, reduction) -> tensor
    input: Callable = _logits
    target: Callable = _logits
    reductions: tuple = REDUCTIONS

    def __repr__(self) -> str:
        return self.name


def _tf(name: str, **kw) -> Optional[Callable]:
    if F is None:
        return None
    return lambda x, t, reduction: getattr(F, name)(x, t, reduction=reduction, **kw)


def _gf(fn: Callable, **kw) -> Callable:
    return lambda x, t, reduction: fn(x, t, reduction=reduction, **kw)


_W = np.linspace(0.5, 1.5, SHAPE[1])[:, None]       # a per-class weight, broadcast


def _weight(like):
    return torch.tensor(_W, dtype=like.dtype) if torch is not None else None


LOSSES = [
    Loss("mse", _gf(gc.mse_loss), _tf("mse_loss")),
    Loss("l1", _gf(gc.l1_loss), _tf("l1_loss"), _offgrid, lambda r, s: np.zeros(s)),
    Loss("huber", _gf(gc.huber_loss), _tf("huber_loss"), _offgrid, lambda r, s: np.zeros(s)),
    Loss("huber_delta2", _gf(gc.huber_loss, delta=2.0), _tf("huber_loss", delta=2.0),
         lambda r, s: 2 * _offgrid(r, s), lambda r, s: np.zeros(s)),
    Loss("smooth_l1", _gf(gc.smooth_l1_loss), _tf("smooth_l1_loss"), _offgrid,
         lambda r, s: np.zeros(s)),
    Loss("smooth_l1_beta05", _gf(gc.smooth_l1_loss, beta=0.5),
         _tf("smooth_l1_loss", beta=0.5), lambda r, s: 0.5 * _offgrid(r, s),
         lambda r, s: np.zeros(s)),
    Loss("kl_div", _gf(gc.kl_div), _tf("kl_div"), _log_distribution, _distribution,
         REDUCTIONS + ("batchmean",)),
    Loss("kl_div_log_target", _gf(gc.kl_div, log_target=True), _tf("kl_div", log_target=True),
         _log_distribution, _log_distribution, REDUCTIONS + ("batchmean",)),
    Loss("bce", _gf(gc.binary_cross_entropy), _tf("binary_cross_entropy"), _probabilities,
         _probabilities),
    Loss("bce_weight", lambda x, t, reduction: gc.binary_cross_entropy(
        x, t, _W, reduction=reduction),
         (lambda x, t, reduction: F.binary_cross_entropy(x, t, _weight(x), reduction=reduction))
         if F else None, _probabilities, _probabilities),
    Loss("bce_logits", _gf(gc.binary_cross_entropy_with_logits),
         _tf("binary_cross_entropy_with_logits"), _logits, _probabilities),
    Loss("bce_logits_weights", lambda x, t, reduction: gc.binary_cross_entropy_with_logits(
        x, t, _W, reduction=reduction, pos_weight=np.full((SHAPE[-1],), 2.5)),
         (lambda x, t, reduction: F.binary_cross_entropy_with_logits(
             x, t, _weight(x), reduction=reduction,
             pos_weight=torch.full((SHAPE[-1],), 2.5, dtype=x.dtype))) if F else None,
         _logits, _probabilities),
    Loss("cross_entropy", _gf(gc.cross_entropy), _tf("cross_entropy"), _logits,
         _distribution),
    Loss("cross_entropy_smooth", _gf(gc.cross_entropy, label_smoothing=0.2),
         _tf("cross_entropy", label_smoothing=0.2), _logits, _distribution),
    Loss("cross_entropy_weight", lambda x, t, reduction: gc.cross_entropy(
        x, t, _W[:, 0], reduction=reduction, label_smoothing=0.1),
         (lambda x, t, reduction: F.cross_entropy(
             x, t, _weight(x)[:, 0], reduction=reduction, label_smoothing=0.1)) if F else None,
         _logits, _distribution),
]
CASES = [(loss, r) for loss in LOSSES for r in loss.reductions]


def _values(loss: Loss, dtype, seed: int = 0, shape: tuple = SHAPE) -> tuple:
    rng = np.random.default_rng(seed)
    return loss.input(rng, shape).astype(dtype), loss.target(rng, shape).astype(dtype)


def _tolerance(dtype) -> dict:
    return ({"rtol": 2e-4, "atol": 2e-6} if dtype == np.float32 else
            {"rtol": 1e-10, "atol": 1e-13})


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")   # kl_div's
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("loss,reduction", CASES, ids=[f"{l.name}-{r}" for l, r in CASES])
def test_matches_torch_forward_and_backward(loss, reduction, dt):
    a, b = _values(loss, dt, seed=1)
    x, t = gc.placeholder(SHAPE, dt, name="x"), gc.placeholder(SHAPE, dt, name="t")
    y = loss.fn(x, t, reduction)
    weights = np.random.default_rng(2).standard_normal(y.shape).astype(dt)
    got = gc.evaluate([y] + gc.grad(gc.sum(y * weights), [x, t]), {x: a, t: b})
    xt, tt = (torch.tensor(v, requires_grad=True) for v in (a, b))
    want = loss.torch(xt, tt, reduction)
    (want * torch.tensor(weights)).sum().backward()
    assert got[0].shape == tuple(want.shape)
    np.testing.assert_allclose(got[0], want.detach().numpy(), **_tolerance(dt))
    np.testing.assert_allclose(got[1], xt.grad.numpy(), err_msg="d/dinput", **_tolerance(dt))
    np.testing.assert_allclose(got[2], tt.grad.numpy(), err_msg="d/dtarget", **_tolerance(dt))


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_gradient_matches_central_differences(loss):
    a, b = _values(loss, np.float64, seed=3)
    x, t = gc.placeholder(SHAPE, "float64", name="x"), gc.placeholder(SHAPE, "float64",
                                                                       name="t")
    y = loss.fn(x, t, "none")
    weights = np.random.default_rng(4).standard_normal(y.shape)
    gc.check_grad(gc.sum(y * weights), [x, t], {x: a, t: b})


def test_every_loss_compiled_with_its_gradient(dtype):
    """Every loss and reduction in one compiled function, with gradients, against
    gc.evaluate."""
    feeds, outputs, names = {}, [], []
    for loss in LOSSES:
        x, t = (gc.placeholder(SHAPE, dtype, name=f"{loss.name}_{k}") for k in "xt")
        feeds.update(zip((x, t), _values(loss, dtype, seed=5)))
        for reduction in loss.reductions:
            y = loss.fn(x, t, reduction)
            outputs += [y] + gc.grad(gc.sum(y * y), [x, t])
            names += [f"{loss.name}-{reduction}{k}" for k in ("", " dx", " dt")]
    fn = gc.compile(list(feeds), outputs)
    got = fn(*feeds.values())
    want = gc.evaluate(outputs, feeds)
    for name, a, b in zip(names, got, want):
        np.testing.assert_allclose(a, b, err_msg=name, **_tolerance(dtype))


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_finite_for_huge_logits_in_float32():
    z = np.array([[1e4, -1e4, 0, 3], [-1e4, 1e4, 1e4, -2]], np.float32)
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.0, 0.5, 0.5, 0.0]], np.float32)
    x, t = gc.placeholder(z.shape, "float32", name="x"), gc.placeholder(z.shape, "float32",
                                                                         name="t")
    losses = [gc.cross_entropy(x, t), gc.cross_entropy(x, t, label_smoothing=0.1),
              gc.binary_cross_entropy_with_logits(x, t),
              gc.binary_cross_entropy_with_logits(x, t, pos_weight=np.float32(3.0)),
              gc.binary_cross_entropy(gc.sigmoid(x), t),
              gc.kl_div(gc.log_softmax(x, 1), t, reduction="batchmean")]
    refs = [lambda x, t: F.cross_entropy(x, t), lambda x, t: F.cross_entropy(
        x, t, label_smoothing=0.1), F.binary_cross_entropy_with_logits,
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(3.0)),
        lambda x, t: F.binary_cross_entropy(torch.sigmoid(x), t),
        lambda x, t: F.kl_div(F.log_softmax(x, 1), t, reduction="batchmean")]
    outputs = []
    for y in losses:
        outputs += [y, gc.grad(y, x)]
    fn = gc.compile([x, t], outputs)
    for got in (fn(z, probs), gc.evaluate(outputs, {x: z, t: probs})):
        for k, ref in enumerate(refs):
            xt = torch.tensor(z, requires_grad=True)
            want = ref(xt, torch.tensor(probs))
            want.backward()
            value, gradient = got[2 * k], got[2 * k + 1]
            assert np.isfinite(value).all() and np.isfinite(gradient).all(), k
            np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-4, err_msg=k)
            np.testing.assert_allclose(gradient, xt.grad.numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=k)


def test_naive_binary_cross_entropy_is_stable():
    """Theano's tutorial loss, -y log(p) - (1 - y) log(1 - p) with p = 1 / (1 + exp(-z)),
    finite at z = +-100 in float32, equal to the logits form; log(sigmoid(-800)) is -800."""
    zs = np.array([-100, 100, -800, 800, 0.5, -3], np.float32)
    ys = np.array([1, 0, 1, 0, 1, 0], np.float32)
    z, y = gc.placeholder(zs.shape, "float32", name="z"), gc.placeholder(zs.shape, "float32",
                                                                          name="y")
    p = 1 / (1 + gc.exp(-z))
    naive = -y * gc.log(p) - (1 - y) * gc.log(1 - p)
    outputs = [naive, gc.grad(gc.sum(naive), z), gc.log(gc.sigmoid(z)),
               gc.log(1 - gc.sigmoid(z)), gc.grad(gc.sum(gc.log(gc.sigmoid(z))), z)]
    with np.errstate(over="ignore"):       # exp(800) is inf: the sigmoid is still right
        want = [np.logaddexp(0, -zs) * ys + np.logaddexp(0, zs) * (1 - ys),
                1 / (1 + np.exp(-zs.astype(np.float64))) - ys, -np.logaddexp(0, -zs),
                -np.logaddexp(0, zs), 1 / (1 + np.exp(zs.astype(np.float64)))]
    fn = gc.compile([z, y], outputs)
    for got in (fn(zs, ys), gc.evaluate(outputs, {z: zs, y: ys})):
        for k, (a, b) in enumerate(zip(got, want)):
            assert np.isfinite(a).all(), k
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=k)
    assert float(gc.evaluate(gc.log(gc.sigmoid(z)), {z: zs})[2]) == -800


def test_bce_with_logits_fuses_into_few_kernels():
    z = gc.placeholder((64, 10), "float32", name="z")
    y = gc.placeholder((64, 10), "float32", name="y")
    loss = gc.binary_cross_entropy_with_logits(z, y)
    fn = gc.compile([z, y], [loss, gc.grad(loss, z)])
    rng = np.random.default_rng(6)
    zs, ys = rng.normal(size=(64, 10)).astype(np.float32), rng.uniform(size=(64, 10))
    got = fn(zs, ys.astype(np.float32))
    want = gc.evaluate([loss, gc.grad(loss, z)], {z: zs, y: ys.astype(np.float32)})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    # the gradient is elementwise: one kernel; the mean: one reduction with its prologue
    assert len(fn.kernels) <= 2, fn.describe()


def test_cross_entropy_costs_no_more_kernels_than_written_by_hand():
    x = gc.placeholder((32, 10), "float32", name="x")
    t = gc.placeholder((32, 10), "float32", name="t")

    def count(loss):
        return len(gc.compile([x, t], [loss, gc.grad(loss, x)]).kernels)

    by_hand = count(-(t * gc.log_softmax(x, 1)).sum(1).mean())
    assert count(gc.cross_entropy(x, t)) <= by_hand <= 5
    # smoothing adds the sum of the log-probabilities over the classes
    assert count(gc.cross_entropy(x, t, label_smoothing=0.1)) <= 6


def test_misuse_errors_name_the_op():
    x = gc.placeholder((4, 3), "float32", name="x")
    with pytest.raises(DTypeError, match="cross_entropy: argument 1 .*integer class labels"):
        gc.cross_entropy(x, x > 0)
    with pytest.raises(ShapeError, match="cross_entropy: probabilities .*integer labels "
                                         r"have the shape \(4,\)"):
        gc.cross_entropy(x, gc.placeholder((4,), "float32", name="labels"))
    with pytest.raises(ShapeError, match=r"cross_entropy: integer labels \(4, 3\)"):
        gc.cross_entropy(x, gc.placeholder((4, 3), "int64", name="labels"))
    with pytest.raises(DTypeError, match="nll_loss: argument 1 .*integer class labels"):
        gc.nll_loss(x, x)
    with pytest.raises(ShapeError, match=r"nll_loss: weight \(2,\)"):
        gc.nll_loss(x, gc.placeholder((4,), "int32"), weight=np.ones(2, np.float32))
    with pytest.raises(DTypeError, match="mse_loss: argument 1"):
        gc.mse_loss(x, x > 0)
    with pytest.raises(ValueError, match="l1_loss: reduction must be"):
        gc.l1_loss(x, x, reduction="batchmean")
    with pytest.raises(ValueError, match="label_smoothing"):
        gc.cross_entropy(x, x, label_smoothing=1.5)


@given(array_shapes(min_dims=1, max_dims=4, max_side=4), st.sampled_from(REDUCTIONS))
def test_hypothesis_cross_entropy_shapes(shape, reduction):
    """cross_entropy over (C,), (N, C), (N, C, d1, ...) against a numpy reference."""
    rng = np.random.default_rng(7)
    a, b = _logits(rng, shape), rng.uniform(0.1, 1, shape)
    axis = 1 if len(shape) > 1 else 0
    b /= b.sum(axis=axis, keepdims=True)
    x, t = gc.placeholder(shape, "float64", name="x"), gc.placeholder(shape, "float64",
                                                                       name="t")
    y = gc.cross_entropy(x, t, reduction=reduction)
    m = a.max(axis=axis, keepdims=True)
    logp = a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))
    per = -(b * logp).sum(axis=axis)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(gc.evaluate(y, {x: a, t: b}), want, rtol=1e-12)
    assert gc.grad(gc.sum(y), x).shape == shape


# {{{ integer class labels

LABEL_SHAPES = [(6, 5), (4, 5, 3), (5,)]
LABEL_OPTIONS = [{}, {"ignore_index": 2}, {"label_smoothing": 0.2},
                 {"weight": True}, {"weight": True, "label_smoothing": 0.1, "ignore_index": 1}]


def _label_case(shape, dt, seed):
    rng = np.random.default_rng(seed)
    labels_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    # every label appears, and the ignored ones (1, 2) too
    return (rng.normal(size=shape).astype(dt) * 3,
            rng.integers(0, shape[1 if len(shape) > 1 else 0], labels_shape))


def _label_cases():
    """Every shape, option set and dtype; the default suite runs one case per shape (all
    options at once on the 3-d one), the rest are slow."""
    quick = {((6, 5), 0, 0), ((4, 5, 3), 4, 1), ((5,), 3, 0)}
    for shape in LABEL_SHAPES:
        for k, options in enumerate(LABEL_OPTIONS):
            for d, (dt, label_dtype) in enumerate([(np.float32, "int64"),
                                                   (np.float64, "int32")]):
                marks = () if (shape, k, d) in quick else (pytest.mark.slow,)
                name = f"{shape}-{','.join(options) or 'plain'}-{np.dtype(dt)}-{label_dtype}"
                yield pytest.param(shape, options, dt, label_dtype, marks=marks, id=name)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("shape, options, dt, label_dtype", list(_label_cases()))
def test_integer_labels_match_torch(shape, options, dt, label_dtype):
    """cross_entropy and nll_loss of integer labels against torch's, forward and backward,
    every reduction in one compiled function and in gc.evaluate, with ignore_index,
    label_smoothing and class weights."""
    z, y = _label_case(shape, dt, seed=8)
    x = gc.placeholder(shape, dt, name="x")
    t = gc.placeholder(y.shape, label_dtype, name="labels")
    classes = shape[1 if len(shape) > 1 else 0]
    w = np.linspace(0.5, 1.5, classes).astype(dt)
    ours = {k: (w if k == "weight" else v) for k, v in options.items()}
    theirs = {k: (torch.tensor(w) if k == "weight" else v) for k, v in options.items()}
    nll_ours = {k: v for k, v in ours.items() if k != "label_smoothing"}
    nll_theirs = {k: v for k, v in theirs.items() if k != "label_smoothing"}
    axis = 1 if len(shape) > 1 else 0
    outputs, refs = [], []
    for reduction in REDUCTIONS:
        for loss in (gc.cross_entropy(x, t, reduction=reduction, **ours),
                     gc.nll_loss(gc.log_softmax(x, axis), t, reduction=reduction, **nll_ours)):
            outputs += [loss, gc.grad(gc.sum(loss * loss), x)]
        refs += [lambda v, r=reduction: F.cross_entropy(v, torch.tensor(y), reduction=r,
                                                        **theirs),
                 lambda v, r=reduction: F.nll_loss(F.log_softmax(v, axis), torch.tensor(y),
                                                   reduction=r, **nll_theirs)]
    fn = gc.compile([x, t], outputs)
    labels = y.astype(label_dtype)
    for got in (fn(z, labels), gc.evaluate(outputs, {x: z, t: labels})):
        for k, ref in enumerate(refs):
            v = torch.tensor(z, requires_grad=True)
            want = ref(v)
            (want * want).sum().backward()
            np.testing.assert_allclose(got[2 * k], want.detach().numpy(), **_tolerance(dt),
                                       err_msg=f"loss {k}")
            np.testing.assert_allclose(got[2 * k + 1], v.grad.numpy(), **_tolerance(dt),
                                       err_msg=f"gradient {k}")


def test_integer_labels_gradient_matches_central_differences():
    z, y = _label_case((4, 5, 3), np.float64, seed=9)
    x = gc.placeholder(z.shape, "float64", name="x")
    t = gc.constant(y, "int64")
    loss = gc.cross_entropy(x, t, ignore_index=0, label_smoothing=0.3,
                            weight=np.linspace(1, 2, 5))
    gc.check_grad(loss, [x], {x: z})


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_integer_labels_finite_for_huge_logits_in_float32():
    z = np.array([[1e4, -1e4, 0, 3], [-1e4, 1e4, 1e4, -2], [0, 0, -1e4, 1e4]], np.float32)
    y = np.array([1, 0, 3])
    x = gc.placeholder(z.shape, "float32", name="x")
    t = gc.placeholder(y.shape, "int64", name="t")
    loss = gc.cross_entropy(x, t, label_smoothing=0.1)
    got = gc.compile([x, t], [loss, gc.grad(loss, x)])(z, y)
    v = torch.tensor(z, requires_grad=True)
    want = F.cross_entropy(v, torch.tensor(y), label_smoothing=0.1)
    want.backward()
    assert np.isfinite(got[0]) and np.isfinite(got[1]).all()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(got[1], v.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_integer_labels_fuse_into_the_kernels_around_the_logits():
    """The labels are compared with the class index in the kernels of the log-softmax:
    no one-hot buffer, no gather; the mean's divisor (the labels not ignored) is the only
    work the probabilities' form does not have (one reduction)."""
    x = gc.placeholder((32, 10), "float32", name="x")
    t = gc.placeholder((32,), "int64", name="t")
    p = gc.placeholder((32, 10), "float32", name="p")

    def count(loss, target):
        return gc.compile([x, target], [loss, gc.grad(loss, x)])

    by_probabilities = count(gc.cross_entropy(x, p), p)
    by_labels = count(gc.cross_entropy(x, t), t)
    summed = count(gc.cross_entropy(x, t, reduction="sum"), t)
    assert len(summed.kernels) <= len(by_probabilities.kernels) <= 5
    assert len(by_labels.kernels) <= len(by_probabilities.kernels) + 1, by_labels.describe()
    # no one-hot buffer: the labels need no more memory than the probabilities did
    assert by_labels.device_bytes <= by_probabilities.device_bytes, by_labels.describe()

# }}}
