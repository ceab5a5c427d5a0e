"""Random DAGs of every graphc op, compiled and compared with ``gc.evaluate``.

A hypothesis strategy draws *graph specs*: plain literals ``(seed, steps, outputs)`` that
build one random DAG over random broadcastable shapes (0-3 dims, sizes 1-6). Leaves are
placeholders, parameters and constants; internal nodes come from every op of the SPEC,
applied on safe domains (log(|x|+1), sqrt(x*x+0.5), x/(|y|+1), positive bases of ``**``,
values squashed by tanh before exp or a product could overflow), and pick their operands
among all earlier nodes, so nodes fan out to several consumers and the fusion scheduler
sees shared producers, reductions feeding elementwise chains, matmul epilogues and views
of views. Leaf values have magnitudes in [0.25, 2] (away from the kinks at 0).

Compiling builds an OpenCL program and PoCL compiles each kernel at its first launch
(tens of ms per kernel, the dominant cost), so each hypothesis example holds ``BATCH``
independent graphs and compiles them together. Per example:

- ``gc.evaluate`` of every node against an independent numpy implementation of the spec
  (float64, catches bugs in the graph builders: views, reductions, composite ops);
- one float32 compile of all outputs, against ``gc.evaluate`` (rtol 1e-4 of the graph's
  magnitude);
- one float64 compile of all outputs, the gradients of a random weighted sum of each
  graph's outputs w.r.t. its placeholders and parameters, and updates
  ``p <- p - 0.1 * grad`` of every other parameter: outputs and gradients against
  ``gc.evaluate`` (rtol 1e-9), parameters after the call against the evaluated update;
  graphs drawn from smooth ops only (a third) also go through ``gc.check_grad``.

When a batch fails, the failing graphs are recompiled one by one, and the first that fails
alone is reported with its spec: a literal to paste into ``@example`` of
``test_one_random_graph`` (which shrinks single graphs). The bugs found so far have
regression tests at the end of this file.

The size of a run follows the hypothesis profile (``GRAPHC_HYPOTHESIS_PROFILE``): "ci",
the default, runs 4 examples of 50 graphs (200 graphs, about 40 s of CPU on PoCL with a
cold kernel cache); "nightly" runs 100 examples (5000 graphs).
``GRAPHC_RANDOM_GRAPHS_PER_COMPILE`` changes the batch size.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import graphc as gc

PROFILE = os.environ.get("GRAPHC_HYPOTHESIS_PROFILE", "ci")
BATCH = int(os.environ.get("GRAPHC_RANDOM_GRAPHS_PER_COMPILE", 50))
EXAMPLES = {"nightly": 100}.get(PROFILE, 4)        # nightly: 5000 graphs
SINGLE_EXAMPLES = {"nightly": 100}.get(PROFILE, 2)

BOUND = 1e3        # operands whose bound (interval arithmetic at draw time) exceeds this
                   # go through tanh first
LEAF_BOUND = 2.0   # leaves hold values of magnitude in [0.25, 2]

SMOOTH_UNARY = ["exp", "tanh", "sigmoid", "neg", "log_sq", "sqrt_sq"]
KINKED_UNARY = ["relu", "abs", "log_abs", "sqrt_abs"]
SMOOTH_BINARY = ["mul", "add", "sub", "div_sq", "pow_base_sq", "add_s", "rsub_s", "mul_s",
                 "rdiv_s"]
KINKED_BINARY = ["div_abs", "pow_base_abs", "maximum", "minimum", "lt", "le", "gt", "ge"]
SMOOTH_OTHER = ["pow_int", "rpow", "sum", "mean", "reshape", "permute", "broadcast_to",
                "matmul", "softmax", "log_softmax", "logsumexp", "slice", "pad", "take"]
KINKED_OTHER = ["max", "min", "where", "clamp"]


# {{{ the spec interpreter: one step, in graphc and in numpy

def _axis_args(param):
    axis, keepdims, torch_style = param
    if torch_style:
        return {"dim": axis, "keepdim": keepdims}
    return {"axis": axis, "keepdims": keepdims}


def _gc_step(op, xs, param):
    """Build the graphc node of one step from the source tensors ``xs``."""
    x = xs[0] if xs else None
    if op in ("exp", "tanh", "sigmoid", "relu"):
        return getattr(gc, op)(x) if param else getattr(x, op)()
    if op == "neg":
        return -x
    if op == "abs":
        return gc.abs(x) if param else abs(x)
    if op == "log_abs":
        return gc.log(gc.abs(x) + 1)
    if op == "log_sq":
        return (x * x + 1).log()
    if op == "sqrt_abs":
        return gc.sqrt(x.abs() + 0.5)
    if op == "sqrt_sq":
        return gc.sqrt(x * x + 0.5)
    if op in ("add", "sub", "mul"):
        return {"add": x + xs[1], "sub": x - xs[1], "mul": x * xs[1]}[op]
    if op == "add_s":
        return x + param
    if op == "rsub_s":
        return param - x
    if op == "mul_s":
        return param * x
    if op == "rdiv_s":
        return param / (x * x + 1)
    if op == "div_abs":
        return x / (gc.abs(xs[1]) + 1)
    if op == "div_sq":
        return x / (xs[1] * xs[1] + 1)
    if op == "pow_base_abs":
        return (gc.abs(x) + 0.5) ** xs[1]
    if op == "pow_base_sq":
        return (x * x + 0.5).pow(xs[1])
    if op in ("maximum", "minimum"):
        return getattr(gc, op)(x, xs[1])
    if op in ("lt", "le", "gt", "ge"):
        # a mask of the operands' dtype (comparisons are bool tensors; the ops after it
        # compute with it as numbers)
        mask = {"lt": x < xs[1], "le": x <= xs[1], "gt": x > xs[1], "ge": x >= xs[1]}[op]
        return mask.astype(x.dtype)
    if op == "where":
        return gc.where(x, xs[1], xs[2])
    if op == "clamp":
        lo, hi = param
        return x.clamp(min=lo, max=hi) if lo is not None or hi is not None else x
    if op == "pow_int":
        return x ** param
    if op == "rpow":
        return param ** x
    if op in ("sum", "mean", "max", "min"):
        kwargs = _axis_args(param)
        return getattr(gc, op)(x, **kwargs) if param[2] else getattr(x, op)(**kwargs)
    if op == "reshape":
        return x.reshape(param)
    if op == "permute":
        style, perm = param
        if style == "T":
            return x.T
        if style == "t":
            return x.t()
        if style == "transpose2":
            return x.transpose(*perm)
        return gc.permute(x, perm) if style == "permute" else x.transpose(perm)
    if op == "broadcast_to":
        return x.broadcast_to(param)
    if op == "slice":
        return x[tuple(slice(*t) for t in param)]
    if op == "pad":
        widths, mode, value = param
        flat = [w for pair in reversed(widths) for w in pair]     # torch: last axis first
        return gc.pad(x, flat, mode=mode, **({"value": value} if mode == "constant" else {}))
    if op == "matmul":
        if param == "mm":
            return x.mm(xs[1])
        return x @ xs[1] if param == "@" else gc.matmul(x, xs[1])
    if op in ("softmax", "log_softmax"):
        return getattr(gc, op)(x, axis=param)
    if op == "take":          # a gather along an axis: its gradient is a scatter-add
        axis, index, style = param
        index = np.array(index)
        if style == "getitem":
            return x[(slice(None),) * axis + (index,)]
        return gc.take(x, index, axis=axis) if style == "take" else x.index_select(axis, index)
    if op == "logsumexp":
        axis, keepdims = param
        return gc.logsumexp(x, axis=axis, keepdims=keepdims)
    raise AssertionError(op)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_step(op, xs, param):
    """The same step in numpy: an implementation independent of graphc's."""
    x = xs[0] if xs else None
    simple = {"exp": np.exp, "tanh": np.tanh, "sigmoid": _np_sigmoid,
              "relu": lambda v: np.maximum(v, 0), "neg": np.negative, "abs": np.abs,
              "log_abs": lambda v: np.log(np.abs(v) + 1), "log_sq": lambda v: np.log(v * v + 1),
              "sqrt_abs": lambda v: np.sqrt(np.abs(v) + 0.5),
              "sqrt_sq": lambda v: np.sqrt(v * v + 0.5)}
    if op in simple:
        return simple[op](x)
    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
              "div_abs": lambda a, b: a / (np.abs(b) + 1), "div_sq": lambda a, b: a / (b * b + 1),
              "pow_base_abs": lambda a, b: (np.abs(a) + 0.5) ** b,
              "pow_base_sq": lambda a, b: (a * a + 0.5) ** b,
              "maximum": np.maximum, "minimum": np.minimum,
              "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
    if op in binary:
        return binary[op](x, xs[1]).astype(x.dtype)
    if op == "add_s":
        return x + param
    if op == "rsub_s":
        return param - x
    if op == "mul_s":
        return param * x
    if op == "rdiv_s":
        return param / (x * x + 1)
    if op == "where":
        return np.where(x != 0, xs[1], xs[2])
    if op == "clamp":
        lo, hi = param
        return x if lo is None and hi is None else np.clip(x, lo, hi)
    if op == "pow_int":
        return x ** param
    if op == "rpow":
        return param ** x
    if op in ("sum", "mean", "max", "min"):
        axis, keepdims, _ = param
        fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[op]
        return fn(x, axis=axis, keepdims=keepdims)
    if op == "reshape":
        return x.reshape(param)
    if op == "permute":
        style, perm = param
        if style in ("T", "t"):
            return np.transpose(x)
        if style == "transpose2":
            return np.swapaxes(x, *perm)
        return np.transpose(x, perm)
    if op == "broadcast_to":
        return np.broadcast_to(x, param)
    if op == "slice":
        return x[tuple(slice(*t) for t in param)]
    if op == "pad":
        widths, mode, value = param
        np_mode = {"replicate": "edge", "circular": "wrap"}.get(mode, mode)
        kwargs = {"constant_values": value} if mode == "constant" else {}
        return np.pad(x, widths, mode=np_mode, **kwargs)
    if op == "matmul":
        return np.matmul(x, xs[1])
    if op == "take":
        axis, index, _ = param
        return np.take(x, np.array(index), axis=axis)
    if op in ("softmax", "log_softmax", "logsumexp"):
        axis, keepdims = (param, True) if op != "logsumexp" else param
        m = np.max(x, axis=axis, keepdims=True)
        s = np.sum(np.exp(x - m), axis=axis, keepdims=True)
        if op == "softmax":
            return np.exp(x - m) / s
        if op == "log_softmax":
            return x - m - np.log(s)
        out = np.log(s) + m
        return out if keepdims else np.squeeze(out, axis=axis if axis is not None
                                               else tuple(range(x.ndim)))
    raise AssertionError(op)


def leaf_values(spec, dtype):
    """The data of every leaf of ``spec``: magnitudes in [0.25, 2], random signs."""
    rng = np.random.default_rng(spec[0])
    values = {}
    for i, (op, _, shape) in enumerate(spec[1]):
        if op in ("placeholder", "parameter", "constant"):
            v = rng.uniform(0.25, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
            values[i] = np.asarray(v, dtype=dtype)
    return values


def build(spec, dtype):
    """The graphc tensors of every step of ``spec`` and the feed of its placeholders.

    Returns ``(nodes, outputs, placeholders, parameters, feed)``."""
    _, steps, outputs = spec
    values = leaf_values(spec, dtype)
    nodes, placeholders, parameters, feed = [], [], [], {}
    for i, (op, srcs, param) in enumerate(steps):
        if op == "placeholder":
            t = gc.placeholder(param, dtype, name=f"x{i}")
            placeholders.append(t)
            feed[t] = values[i]
        elif op == "parameter":
            t = gc.parameter(values[i], name=f"p{i}")
            parameters.append(t)
        elif op == "constant":
            t = gc.constant(values[i])
        else:
            t = _gc_step(op, [nodes[s] for s in srcs], param)
        nodes.append(t)
    return nodes, [nodes[o] for o in outputs], placeholders, parameters, feed


def numpy_reference(spec, dtype=np.float64):
    """Every step of ``spec`` computed in numpy alone."""
    _, steps, outputs = spec
    values = leaf_values(spec, dtype)
    out = []
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        for i, (op, srcs, param) in enumerate(steps):
            if i in values:
                out.append(values[i])
            else:
                out.append(np.asarray(_np_step(op, [out[s] for s in srcs], param), dtype))
    return out

# }}}


# {{{ the strategy

class _Drawer:
    """Draws the steps of one graph, tracking shapes and bounds on values."""

    def __init__(self, draw, smooth):
        self.draw, self.smooth = draw, smooth
        self.steps, self.shapes, self.bounds = [], [], []

    def add(self, op, srcs, param, shape, bound):
        self.steps.append((op, tuple(srcs), param))
        self.shapes.append(tuple(shape))
        self.bounds.append(float(bound))
        return len(self.steps) - 1

    def pick(self, indices):
        """One of ``indices``, the most recent ones more often (so chains grow)."""
        indices = list(indices)
        if len(indices) > 3 and self.draw(st.booleans()):
            indices = indices[-3:]
        return self.draw(st.sampled_from(indices))

    def leaf(self, shape=None):
        if shape is None:
            shape = self.draw(shapes())
        kind = self.draw(st.sampled_from(["placeholder", "placeholder", "parameter",
                                          "constant"]))
        return self.add(kind, (), tuple(shape), shape, LEAF_BOUND)

    def squashed(self, i, limit):
        """``i``, or tanh(i) when its bound exceeds ``limit``."""
        if self.bounds[i] <= limit:
            return i
        return self.add("tanh", (i,), False, self.shapes[i], 1.0)

    def partner(self, shape):
        """A node broadcastable with ``shape``: an earlier one, or a new leaf."""
        ok = [j for j in range(len(self.steps)) if _broadcastable(shape, self.shapes[j])]
        if ok and self.draw(st.integers(0, 3)) > 0:
            return self.pick(ok)
        return self.leaf(self.draw(broadcastable_to(shape)))

    def step(self):
        draw = self.draw
        # hypothesis favours the first entry: mul, two operands (fan-out, broadcasting)
        ops = SMOOTH_BINARY + SMOOTH_UNARY + SMOOTH_OTHER
        if not self.smooth:
            ops = ops + KINKED_UNARY + KINKED_BINARY + KINKED_OTHER
        op = draw(st.sampled_from(ops))
        i = self.squashed(self.pick(range(len(self.steps))), BOUND)
        shape, b = self.shapes[i], self.bounds[i]
        if op == "exp":
            i = self.squashed(i, 5.0)
            return self.add(op, (i,), draw(st.booleans()), shape, math.exp(self.bounds[i]))
        if op in ("tanh", "sigmoid"):
            return self.add(op, (i,), draw(st.booleans()), shape, 1.0)
        if op in ("neg", "relu", "abs"):
            return self.add(op, (i,), draw(st.booleans()), shape, b)
        if op in ("log_abs", "log_sq"):
            return self.add(op, (i,), None, shape, math.log(b * b + 1))
        if op in ("sqrt_abs", "sqrt_sq"):
            return self.add(op, (i,), None, shape, math.sqrt(b * b + 0.5))
        if op in ("add_s", "rsub_s", "mul_s", "rdiv_s"):
            c = draw(st.sampled_from([0.5, 2.0, -1.5, 3.0, 0.1]))
            bound = {"add_s": b + abs(c), "rsub_s": b + abs(c), "mul_s": b * abs(c),
                     "rdiv_s": abs(c)}[op]
            return self.add(op, (i,), c, shape, bound)
        if op in SMOOTH_BINARY + KINKED_BINARY:
            j = self.squashed(self.partner(shape), BOUND)
            bj = self.bounds[j]
            out = np.broadcast_shapes(shape, self.shapes[j])
            if op in ("pow_base_abs", "pow_base_sq"):
                j = self.squashed(j, 2.0)
                i = self.squashed(i, 3.0)
                base = (self.bounds[i] ** 2 if op == "pow_base_sq" else self.bounds[i]) + 0.5
                return self.add(op, (i, j), None, out,
                                max(base, 2.0) ** self.bounds[j])
            if op == "mul" and b * bj > BOUND:
                i, j = self.squashed(i, 30.0), self.squashed(j, 30.0)
                b, bj = self.bounds[i], self.bounds[j]
            bound = {"add": b + bj, "sub": b + bj, "mul": b * bj}.get(
                op, 1.0 if op in ("lt", "le", "gt", "ge") else max(b, bj))
            return self.add(op, (i, j), None, out, bound)
        if op == "where":
            j = self.partner(shape)
            k = self.partner(np.broadcast_shapes(shape, self.shapes[j]))
            out = np.broadcast_shapes(shape, self.shapes[j], self.shapes[k])
            return self.add(op, (i, j, k), None, out, max(self.bounds[j], self.bounds[k]))
        if op == "clamp":
            lo = draw(st.sampled_from([None, -1.0, -0.5, 0.0, 0.3]))
            hi = draw(st.sampled_from([None, 0.5, 1.0, 1.5]))
            return self.add(op, (i,), (lo, hi), shape, b)
        if op == "pow_int":
            k = draw(st.integers(1, 3))
            i = self.squashed(i, 10.0)
            return self.add(op, (i,), k, shape, self.bounds[i] ** k)
        if op == "rpow":
            base = draw(st.sampled_from([2.0, 0.5, 1.5]))
            i = self.squashed(i, 5.0)
            return self.add(op, (i,), base, shape, max(base, 1 / base) ** self.bounds[i])
        if op in ("sum", "mean", "max", "min"):
            axis, keepdims = draw(axes_for(len(shape)))
            param = (axis, keepdims, draw(st.booleans()))
            out = np.sum(np.zeros(shape), axis=axis, keepdims=keepdims).shape
            n = max(1, int(np.prod(shape)) // max(1, int(np.prod(out))))
            if op == "sum" and b * n > BOUND:
                i = self.squashed(i, 1.0)
            return self.add(op, (i,), param, out, self.bounds[i] * (n if op == "sum" else 1))
        if op == "reshape":
            new = draw(reshape_target(shape))
            out = np.zeros(shape).reshape(new).shape
            return self.add(op, (i,), new, out, b)
        if op == "permute":
            return self.permute(i)
        if op == "broadcast_to":
            target = draw(broadcast_target(shape))
            return self.add(op, (i,), target, target, b)
        if op == "matmul":
            return self.matmul(i)
        if op in ("slice", "pad", "take"):
            if not shape:
                return self.add("sigmoid", (i,), False, shape, 1.0)
            return {"slice": self.slice, "pad": self.pad, "take": self.take}[op](i)
        if op in ("softmax", "log_softmax", "logsumexp"):
            if not shape:
                return self.add("sigmoid", (i,), False, shape, 1.0)
            axis = draw(st.integers(-len(shape), len(shape) - 1))
            if op == "softmax":
                return self.add(op, (i,), axis, shape, 1.0)
            n = shape[axis]
            if op == "log_softmax":
                return self.add(op, (i,), axis, shape, 2 * b + math.log(n) + 1)
            axis = draw(st.sampled_from([None, axis]))
            keepdims = draw(st.booleans())
            out = np.sum(np.zeros(shape), axis=axis, keepdims=keepdims).shape
            return self.add(op, (i,), (axis, keepdims), out, b + math.log(np.prod(shape)) + 1)
        raise AssertionError(op)

    def slice(self, i):
        """Basic slicing: per axis a start, a step of 1, 2 or -1 and a non-empty count."""
        key = []
        for n in self.shapes[i]:
            step = self.draw(st.sampled_from([1, 1, 2, -1]))
            start = self.draw(st.integers(0, n - 1))
            room = (n - 1 - start) // step + 1 if step > 0 else start + 1
            last = start + step * (self.draw(st.integers(1, room)) - 1)
            stop = last + (1 if step > 0 else -1)
            key.append((start, stop if stop >= 0 else None, step))
        out = np.zeros(self.shapes[i])[tuple(slice(*t) for t in key)].shape
        return self.add("slice", (i,), tuple(key), out, self.bounds[i])

    def take(self, i):
        """Rows along an axis at 1-5 indices, repeated and negative ones among them."""
        shape = self.shapes[i]
        axis = self.draw(st.integers(0, len(shape) - 1))
        n = shape[axis]
        index = tuple(self.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5)))
        style = self.draw(st.sampled_from(["getitem", "take", "index_select"]))
        out = shape[:axis] + (len(index),) + shape[axis + 1:]
        return self.add("take", (i,), (axis, index, style), out, self.bounds[i])

    def pad(self, i):
        """torch's pad on every axis, in one of its four modes."""
        shape, b = self.shapes[i], self.bounds[i]
        mode = self.draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
        limit = [n - 1 if mode == "reflect" else n for n in shape]
        widths = tuple((self.draw(st.integers(0, min(2, m))),
                        self.draw(st.integers(0, min(2, m)))) for m in limit)
        value = self.draw(st.sampled_from([0.0, 1.5])) if mode == "constant" else 0.0
        out = tuple(n + lo + hi for n, (lo, hi) in zip(shape, widths))
        return self.add("pad", (i,), (widths, mode, value), out, max(b, abs(value)))

    def permute(self, i):
        shape, b = self.shapes[i], self.bounds[i]
        nd = len(shape)
        styles = ["permute", "transpose1"] + (["transpose2"] if nd >= 1 else []) + (
            ["T", "t"] if nd <= 2 else [])
        style = self.draw(st.sampled_from(styles))
        if style == "transpose2":
            perm = tuple(self.draw(st.integers(-nd, nd - 1)) for _ in range(2))
            full = list(range(nd))
            a0, a1 = perm[0] % nd, perm[1] % nd
            full[a0], full[a1] = full[a1], full[a0]
            out_perm = tuple(full)
        elif style in ("T", "t"):
            perm = out_perm = tuple(reversed(range(nd)))
        else:
            perm = out_perm = tuple(self.draw(st.permutations(range(nd))))
        out = tuple(shape[p] for p in out_perm)
        return self.add("permute", (i,), (style, perm), out, b)

    def matmul(self, i):
        shape = self.shapes[i]
        if not shape:
            i = self.add("reshape", (i,), (1,), (1,), self.bounds[i])
            shape = (1,)
        k = shape[-1]
        i = self.squashed(i, 10.0)
        wanted = self.draw(matmul_partner(shape))
        ok = [j for j in range(len(self.steps)) if _matmul_ok(shape, self.shapes[j])]
        if ok and self.draw(st.booleans()):
            j = self.pick(ok)
        else:
            j = self.leaf(wanted)
        j = self.squashed(j, 10.0)
        out = np.matmul(np.zeros(shape), np.zeros(self.shapes[j])).shape
        style = "mm" if len(shape) == 2 and len(self.shapes[j]) == 2 and self.draw(
            st.booleans()) else self.draw(st.sampled_from(["@", "matmul"]))
        return self.add("matmul", (i, j), style, out, self.bounds[i] * self.bounds[j] * k)


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _matmul_ok(a, b):
    if not a or not b:
        return False
    try:
        np.matmul(np.zeros(a), np.zeros(b))
    except ValueError:
        return False
    return True


def shapes(min_dims=0):
    return st.lists(st.integers(1, 6), min_size=min_dims, max_size=3).map(tuple)


@st.composite
def broadcastable_to(draw, shape):
    """A shape that broadcasts with ``shape``: leading axes dropped or added, some set to 1."""
    out = list(shape)
    drop = draw(st.integers(0, len(out)))
    out = out[drop:]
    out = [1 if draw(st.integers(0, 2)) == 0 else d for d in out]
    if drop == 0 and len(shape) < 3 and draw(st.integers(0, 3)) == 0:
        out = [draw(st.integers(1, 4))] + out
    # an axis of size 1 in ``shape`` may meet any size
    lead = len(shape) - len(out)
    out = [draw(st.integers(1, 4)) if lead + k >= 0 and shape[lead + k] == 1 and d == 1
           and draw(st.booleans()) else d for k, d in enumerate(out)]
    return tuple(out)


@st.composite
def broadcast_target(draw, shape):
    """A shape that ``shape`` broadcasts to (maybe with more leading axes)."""
    extra = draw(st.integers(0, 3 - len(shape)))
    lead = [draw(st.integers(1, 4)) for _ in range(extra)]
    body = [draw(st.integers(1, 4)) if d == 1 and draw(st.booleans()) else d for d in shape]
    return tuple(lead + body)


@st.composite
def axes_for(draw, ndim):
    """(axis, keepdims) for a reduction of a tensor with ``ndim`` axes."""
    keepdims = draw(st.booleans())
    if ndim == 0:
        return None, keepdims
    kind = draw(st.sampled_from(["int", "tuple", "none"]))
    if kind == "none":
        return None, keepdims
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1)), keepdims
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(axes), keepdims


@st.composite
def reshape_target(draw, shape):
    """A new shape of the same size (0-3 dims), sometimes with -1."""
    size = int(np.prod(shape))
    factors = []
    n = size
    for p in (2, 3, 5):
        while n % p == 0:
            factors.append(p)
            n //= p
    factors = factors + ([n] if n > 1 else [])
    ndim = draw(st.integers(1 if size > 1 else 0, 3))
    dims = [1] * ndim
    for f in factors:
        if ndim == 0:
            break
        dims[draw(st.integers(0, ndim - 1))] *= f
    if ndim == 0:
        return ()
    if ndim and draw(st.booleans()):
        dims[draw(st.integers(0, ndim - 1))] = -1
    return tuple(dims)


@st.composite
def matmul_partner(draw, a):
    """A shape ``b`` such that ``a @ b`` is defined and has at most 3 axes."""
    k = a[-1]
    n = draw(st.integers(1, 5))
    if len(a) == 1:
        return draw(st.sampled_from([(k,), (k, n), (draw(st.integers(1, 3)), k, n)]))
    if len(a) == 2:
        return draw(st.sampled_from([(k,), (k, n), (draw(st.integers(1, 3)), k, n)]))
    return draw(st.sampled_from([(k,), (k, n), (a[0], k, n), (1, k, n)]))


def is_smooth(spec):
    """Does ``spec`` use only differentiable ops (so check_grad applies everywhere)?"""
    kinked = set(KINKED_UNARY + KINKED_BINARY + KINKED_OTHER)
    return not any(op in kinked for op, _, _ in spec[1])


@st.composite
def graph_spec(draw, smooth=None, max_steps=8):
    """One random graph: ``(seed, steps, outputs)``, all plain literals. ``smooth=None``
    draws smooth-only graphs a third of the time."""
    if smooth is None:
        smooth = draw(st.sampled_from([False, False, True]))
    d = _Drawer(draw, smooth)
    for _ in range(draw(st.integers(1, 3))):
        d.leaf()
    for _ in range(draw(st.integers(2, max_steps))):
        d.step()
    last = len(d.steps) - 1
    inner = [i for i, (op, _, _) in enumerate(d.steps) if i != last and op not in (
        "placeholder", "parameter", "constant")]
    extra = draw(st.lists(st.sampled_from(inner), max_size=2, unique=True)) if inner else []
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return seed, tuple(d.steps), tuple(sorted(extra) + [last])

# }}}


# {{{ checks

def _scale(arrays):
    return max([float(np.max(np.abs(a))) for a in arrays if np.size(a)] + [1.0])


def _close(got, want, rtol, scale):
    """|got - want| <= rtol * (|want| + scale), ``scale`` the magnitude of the graph."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape == want.shape and bool(np.all(
        np.abs(got - want) <= rtol * (np.abs(want) + scale)))


def _describe(spec):
    lines = [f"seed={spec[0]}, outputs={spec[2]}"]
    for i, step in enumerate(spec[1]):
        lines.append(f"  %{i} = {step}")
    return "\n".join(lines)


class Batch:
    """Many specs built into one graph of independent components, for one compile."""

    def __init__(self, specs, dtype):
        self.specs, self.dtype = specs, dtype
        self.built = [build(s, dtype) for s in specs]
        self.inputs = [p for b in self.built for p in b[2]]
        self.feed = {k: v for b in self.built for k, v in b[4].items()}

    def call(self, fn):
        return fn(*(self.feed[p] for p in self.inputs))


def check_reference(spec):
    """gc.evaluate of every node agrees with the plain numpy implementation, float64."""
    nodes, *_, feed = build(spec, np.float64)
    ref = numpy_reference(spec)
    got = gc.evaluate(nodes, feed)
    scale = _scale(ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert _close(g, r, 1e-12, scale), (
            f"gc.evaluate differs from numpy at node %{i} {spec[1][i]}:\n{g}\nvs\n{r}\n"
            f"{_describe(spec)}\nspec={spec!r}")


def compile_groups(inputs, groups):
    """One gc.compile of every group's outputs and updates (a group per graph).

    ``groups`` holds ``(outputs, updates)`` per graph. Returns ``(fn, kept, updates)``."""
    outs = [o for outputs, _ in groups for o in outputs]
    updates = {p: v for _, ups in groups for p, v in ups.items()}
    return gc.compile(inputs, outs, updates), list(range(len(groups))), updates


def float32_failures(specs, rtol=1e-4):
    """(index, why) of the specs whose compiled float32 outputs (one compile for all)
    differ from gc.evaluate by more than ``rtol`` of the graph's magnitude."""
    batch = Batch(specs, np.float32)
    fn, kept, _ = compile_groups(batch.inputs, [(b[1], {}) for b in batch.built])
    got = batch.call(fn)
    bad, pos = [], 0
    for k in kept:
        nodes, outs, _, _, feed = batch.built[k]
        want = gc.evaluate(outs, feed)
        scale = _scale(gc.evaluate(nodes, feed))
        for m, w in enumerate(want):
            if not _close(got[pos + m], w, rtol, scale):
                bad.append((k, f"float32: output {m} (node %{specs[k][2][m]}) differs from "
                               f"gc.evaluate:\n{got[pos + m]}\nvs\n{w}"))
                break
        pos += len(outs)
    return bad


def _cost(outs, seed):
    """A random weighted sum of the outputs: the scalar the gradients are taken of."""
    rng = np.random.default_rng(seed + 1)
    cost = None
    for o in outs:
        term = (o * float(rng.uniform(0.5, 1.5) * rng.choice([-1, 1]))).sum()
        cost = term if cost is None else cost + term
    return cost


def float64_failures(specs, rtol=1e-9, check_fd=True):
    """(index, why) of the specs that fail in one float64 compile of: their outputs, the
    gradients of a random weighted sum of them w.r.t. every placeholder and parameter, and
    updates p <- p - 0.1 * grad of every other parameter. Smooth specs also go through
    gc.check_grad."""
    batch = Batch(specs, np.float64)
    groups, costs = [], []
    for k, (nodes, forward, placeholders, parameters, feed) in enumerate(batch.built):
        cost = _cost(forward, specs[k][0])
        wrt = placeholders + parameters
        grads = gc.grad(cost, wrt)
        costs.append((cost, wrt))
        updates = {p: p - 0.1 * g for n, (p, g) in
                   enumerate(zip(parameters, grads[len(placeholders):])) if n % 2 == 0}
        groups.append((forward + grads, updates))
    # the references, from the parameters' values before the call
    start = {p: p.value for b in batch.built for p in b[3]}
    want = [gc.evaluate(outs, batch.feed) for outs, _ in groups]
    new = [dict(zip(u, gc.evaluate(list(u.values()), batch.feed))) for _, u in groups]
    scales = [_scale(gc.evaluate(b[0], batch.feed) + w) for b, w in zip(batch.built, want)]

    fn, kept, updates = compile_groups(batch.inputs, groups)
    got = batch.call(fn)
    bad, pos = [], 0
    for k in kept:
        nout = len(batch.built[k][1])
        for m, w in enumerate(want[k]):
            if not _close(got[pos + m], w, rtol, scales[k]):
                what = (f"output {m}" if m < nout else
                        f"gradient w.r.t. {costs[k][1][m - nout].name}")
                bad.append((k, f"float64: {what} differs from gc.evaluate:\n"
                               f"{got[pos + m]}\nvs\n{w}"))
                break
        else:
            for p in batch.built[k][3]:
                expected = new[k][p] if p in updates else start[p]
                if not _close(p.value, expected, rtol, scales[k]):
                    bad.append((k, f"float64: parameter {p.name} after the call is\n"
                                   f"{p.value}\nexpected\n{expected}\n"
                                   f"({'updated' if p in updates else 'not updated'})"))
                    break
        pos += len(want[k])
    if check_fd:
        for k, spec in enumerate(specs):
            if not is_smooth(spec):
                continue
            cost, wrt = costs[k]
            values = dict(batch.built[k][4])
            values.update({p: start[p] for p in batch.built[k][3]})
            try:
                gc.check_grad(cost, wrt, values, rtol=1e-5, atol=1e-7)
            except gc.GradientError as e:
                bad.append((k, str(e)))
    return bad


def _failures_or_error(failures, specs, kwargs):
    try:
        return failures(specs, **kwargs)
    except Exception as e:   # a build, codegen or OpenCL error: every graph is suspect
        why = f"{failures.__name__} raised {type(e).__name__}: {e}"
        return [(k, why) for k in range(len(specs))]


def check_batch(specs, failures, **kwargs):
    """Run ``failures`` on all ``specs`` at once; on failure, rerun the failing graphs one
    by one and report the first that fails alone (its spec is a literal to paste)."""
    bad = _failures_or_error(failures, specs, kwargs)
    if not bad:
        return
    alone = []
    if len(specs) > 1:
        for k, _ in bad:
            again = _failures_or_error(failures, [specs[k]], kwargs)
            if again:
                alone.append((k, again[0][1]))
                break
    k, why = alone[0] if alone else bad[0]
    how = ("also when compiled alone" if alone or len(specs) == 1
           else "only when compiled together with the other graphs of the batch")
    raise AssertionError(f"{len(bad)} of {len(specs)} random graphs fail; graph {k}, {how}: "
                         f"{why}\n{_describe(specs[k])}\nspec={specs[k]!r}")

# }}}


def _graph_lists(size):
    return st.lists(graph_spec(), min_size=size, max_size=size)


# Shrinking a batch would recompile it hundreds of times; check_batch isolates the failing
# graph instead, and test_one_random_graph shrinks single graphs.
@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(specs=_graph_lists(BATCH))
def test_random_graphs(specs, has_fp64):
    """BATCH random graphs per example, in two compiles: float32 outputs (rtol 1e-4 of the
    graph's magnitude); float64 outputs + gradients + updates (rtol 1e-9), plus
    check_grad for the smooth graphs; and gc.evaluate against numpy for every node."""
    for spec in specs:
        check_reference(spec)
    check_batch(specs, float32_failures)
    if has_fp64:
        check_batch(specs, float64_failures)


# graphs that found the bugs of the regression tests below
SPEC_ABS_OF_EXP_OF_MASK = (7012, (
    ('placeholder', (), (4, 4, 5)), ('placeholder', (), (1,)), ('placeholder', (), (1,)),
    ('max', (1,), (None, True, True)), ('le', (1, 0), None), ('rpow', (4,), 0.5),
    ('sqrt_abs', (3,), None), ('add_s', (6,), 3.0), ('pow_int', (4,), 1),
    ('log_abs', (5,), None)), (9,))
SPEC_ABS_ARG_OF_ACC = (21269, (
    ('parameter', (), (2, 1)), ('placeholder', (), (5,)), ('log_abs', (0,), None),
    ('logsumexp', (1,), (0, True)), ('tanh', (3,), False), ('tanh', (3,), False),
    ('pow_base_abs', (5, 4), None), ('min', (3,), (-1, True, True)),
    ('logsumexp', (7,), (-1, False)), ('sqrt_abs', (6,), None)), (5, 7, 9))
SPEC_UPDATE_COPY = (1647, (
    ('parameter', (), (3,)), ('placeholder', (), (6, 5, 2)), ('parameter', (), (1,)),
    ('softmax', (1,), 1), ('relu', (2,), True), ('neg', (4,), True),
    ('mean', (1,), ((1,), False, False)), ('rdiv_s', (3,), -1.5),
    ('logsumexp', (7,), (2, True)), ('add', (8, 1), None)), (7, 8, 9))


@settings(max_examples=SINGLE_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(spec=graph_spec(max_steps=12))
@example(spec=SPEC_ABS_OF_EXP_OF_MASK)
@example(spec=SPEC_ABS_ARG_OF_ACC)
@example(spec=SPEC_UPDATE_COPY)
def test_one_random_graph(spec, has_fp64):
    """One bigger graph per compile, shrinkable: paste failing specs here as @example."""
    check_reference(spec)
    check_batch([spec], float32_failures)
    if has_fp64:
        check_batch([spec], float64_failures)


# {{{ regression tests of the bugs the random graphs found (fixed)

@pytest.mark.parametrize("build_expr", [
    lambda x: gc.abs(gc.exp(gc.sigmoid(x))),
    lambda x: gc.abs(gc.exp(gc.maximum(x, 0.5 * x))),
    lambda x: gc.abs(0.5 ** (x <= 0.3)),
    lambda x: gc.abs(gc.exp(gc.where(x, x, 2 * x))),
], ids=["sigmoid", "maximum", "le", "where"])
def test_bug_abs_of_exp_of_custom_function(build_expr, dtype):
    x = gc.placeholder((3,), dtype, name="x")
    out = build_expr(x)
    xv = np.array([0.5, -1.0, 2.0], dtype)
    got = gc.compile([x], out)(xv)
    np.testing.assert_allclose(got, gc.evaluate(out, {x: xv}), rtol=1e-5)


def test_bug_abs_of_exp_of_log(dtype):
    x = gc.placeholder((3,), dtype, name="x")
    out = gc.abs(gc.exp(gc.tanh(gc.log(x))))
    xv = np.array([0.5, 1.0, 2.0], dtype)
    got = gc.compile([x], out)(xv)
    np.testing.assert_allclose(got, np.exp(np.tanh(np.log(xv))), rtol=1e-5)


def test_bug_update_copied_from_a_larger_temporary():
    x = gc.placeholder((10, 10), name="x")
    p = gc.parameter(np.ones(3, np.float32), name="p")
    new_p = p * (x @ x).max()       # x @ x: a 400-byte temporary, free after max
    fn = gc.compile([x], [new_p], updates={p: new_p})   # an output too: not in place
    (out,) = fn(np.eye(10, dtype=np.float32))
    np.testing.assert_array_equal(out, np.ones(3))
    np.testing.assert_array_equal(p.value, np.ones(3))

# }}}
