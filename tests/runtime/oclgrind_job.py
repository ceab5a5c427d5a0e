"""Every kernel family graphc generates, at small shapes, run on one device: the Oclgrind
job's workload (``test_oclgrind.py`` runs it under Oclgrind and reads Oclgrind's report).

``python tests/runtime/oclgrind_job.py [device]`` (default ``oclgrind``) compiles each case
twice, once with kernels shaped for a CPU (vector lanes, register tiles, matmuls chained
by rows, kernels sharing a launch, transposed operands packed) and once for a GPU
(work-group trees, tiled and split-k matmuls), on the same device: OpenCL semantics do not
depend on the kind of device, so both kinds of kernel are checked by one simulator. Each
result is compared with ``gc.evaluate``. The last line is a JSON summary: kernels launched
in all and per family.

The targets are the described ones (``CPUTarget.describe``, a GPU of 8 compute units so
that small matmuls get every plan kind), capped at the device's work-group size and local
memory: Oclgrind reports 1 compute unit and scalar vector widths, under which a CPU target
would never vectorise.
"""
from __future__ import annotations

import collections
import json
import sys
from typing import Callable

import numpy as np

import graphc as gc
from graphc import runtime, schedule
from graphc.codegen import matmul
from graphc.target import CPUTarget, GPUTarget

TOL = dict(rtol=2e-4, atol=2e-5)     # of float32 (some float64 outputs are float32 cast)
CASES: list = []


def case(family: str) -> Callable:
    """Register ``build() -> (inputs, outputs, updates, feed)`` as a case of ``family``."""
    def register(build: Callable) -> Callable:
        CASES.append((family, build))
        return build
    return register


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


# {{{ the cases

@case("elementwise")
def _elementwise():
    rng = _rng()
    x, y = gc.placeholder((6, 20), name="x"), gc.placeholder((20,), name="y")
    n = gc.placeholder((6, 20), dtype="int32", name="n")
    outs = [gc.tanh(x) * y + 2.0, gc.where(x > y, gc.exp(-x * x), gc.sigmoid(y)),
            (n // 3 + n % 5) * 2, gc.gelu(x, approximate="tanh").double(),
            gc.pad(x, (1, 2)) * 0.5, gc.cat([x, x[:, ::-1]], dim=0)]
    feed = {x: rng.standard_normal((6, 20)), y: rng.standard_normal(20),
            n: rng.integers(-50, 50, (6, 20))}
    return [x, y, n], outs, {}, feed


@case("reduction")
def _reductions():
    rng = _rng()
    x = gc.placeholder((9, 700), name="x")
    small = gc.placeholder((5, 7), name="small")
    wide = gc.placeholder((3, 2048), name="wide")
    outs = [x.sum(1), x.sum(0), x.max(1), gc.softmax(x, 1), gc.logsumexp(x, 0),
            x.var(1), small.mean(), small.amax(0), gc.argmax(x, 1), gc.argmin(small, 0),
            wide.sum(0), gc.argmax(wide, 0)]
    feed = {x: rng.standard_normal((9, 700)), small: rng.standard_normal((5, 7)),
            wide: rng.standard_normal((3, 2048))}
    return [x, small, wide], outs, {}, feed


@case("reduction")
def _max_gradient():
    rng = _rng()
    x = gc.placeholder((8, 33), name="x")
    return [x], [gc.grad((x.max(1) * gc.arange(8.0)).sum(), x)], {}, {
        x: rng.standard_normal((8, 33))}


@case("matmul")
def _matmuls():
    """Outer-product tiles along rows (B contiguous in n), along columns (A transposed),
    dot products (B transposed), gathers; GPU: outer, split k (a long k, a small C) and
    tiled blocks (a C of 128 x 64)."""
    rng = _rng()
    a, b = gc.placeholder((128, 40), name="a"), gc.placeholder((40, 64), name="b")
    c, d = gc.placeholder((4, 300), name="c"), gc.placeholder((300, 3), name="d")
    e = gc.placeholder((3, 5, 6), name="e")
    u, v = gc.placeholder((8, 32), name="u"), gc.placeholder((16, 8), name="v")
    outs = [gc.relu(a @ b + 1.0), a.T.T @ b[:, :17], (b.T @ a[:64].T).T * 2, c @ d,
            e @ e.transpose(1, 2), a[:7] @ a[:9].T, u.T @ v.T, u.T @ v.T[:, :5]]
    feed = {a: rng.standard_normal((128, 40)), b: rng.standard_normal((40, 64)),
            c: rng.standard_normal((4, 300)), d: rng.standard_normal((300, 3)),
            e: rng.standard_normal((3, 5, 6)), u: rng.standard_normal((8, 32)),
            v: rng.standard_normal((16, 8))}
    return [a, b, c, d, e, u, v], outs, {}, feed


@case("row chain")
def _seed_step():
    """The seed's step at small sizes: on a CPU, its matmuls run as one chain of rows and
    the rest share a launch; the updates go to the parameters' spare buffers."""
    rng = _rng()
    x, y = gc.placeholder((64, 48), name="x"), gc.placeholder((64, 4), name="y")
    w1 = gc.parameter(rng.standard_normal((48, 24)).astype(np.float32), name="w1")
    w2 = gc.parameter(rng.standard_normal((24, 4)).astype(np.float32), name="w2")
    loss = ((x.mm(w1).clamp(min=0).mm(w2) - y) ** 2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    feed = {x: rng.standard_normal((64, 48)), y: rng.standard_normal((64, 4))}
    return [x, y], [loss, g1, g2], {w1: w1 - 1e-3 * g1, w2: w2 - 1e-3 * g2}, feed


@case("shared launch")
def _independent_kernels():
    rng = _rng()
    x, y = gc.placeholder((5, 6), name="x"), gc.placeholder((7,), name="y")
    outs = [x.sum(0), y.cumsum(0), gc.exp(x) + 1.0, y.max(), x @ x.T, y * 3.0]
    return [x, y], outs, {}, {x: rng.standard_normal((5, 6)), y: rng.standard_normal(7)}


@case("transpose")
def _packed_operand():
    """A transposed first operand of a matmul, copied into rows first (on a CPU, from
    ``schedule.PACK_MIN_K`` on; the job lowers the thresholds to reach it at 32 x 48)."""
    rng = _rng()
    x, g = gc.placeholder((48, 32), name="x"), gc.placeholder((48, 16), name="g")
    return [x, g], [x.T @ g, gc.permute(x, (1, 0)) * 2.0], {}, {
        x: rng.standard_normal((48, 32)), g: rng.standard_normal((48, 16))}


@case("panels")
def _panels():
    """Matmuls reading B from panels (on a CPU, from ``matmul.PANEL_MIN_M`` rows and
    ``PANEL_MIN_K`` long; the job lowers the thresholds): B in rows (k = 40, the last
    block of rows short), B transposed (the copy a transpose a plane), a batch of B."""
    rng = _rng()
    a, b = gc.placeholder((20, 40), name="a"), gc.placeholder((40, 64), name="b")
    w = gc.placeholder((32, 48), name="w")
    c, d = gc.placeholder((24, 48), name="c"), gc.placeholder((2, 16, 48), name="d")
    e = gc.placeholder((2, 48, 32), name="e")
    outs = [gc.relu(a @ b), c @ w.T, d @ e]
    feed = {t: rng.standard_normal(t.shape) for t in (a, b, w, c, d, e)}
    return list(feed), outs, {}, feed


@case("scan")
def _scans():
    rng = _rng()
    x = gc.placeholder((300, 5), name="x")
    outs = [x.cumsum(0), x.cumsum(1), (x * 0.1).cumprod(1), gc.grad(x.cumsum(0).sum(), x)]
    return [x], outs, {}, {x: rng.standard_normal((300, 5))}


@case("gather and scatter")
def _gathers():
    rng = _rng()
    w = gc.placeholder((10, 6), name="w")
    idx = gc.placeholder((4, 3), dtype="int64", name="idx")
    along = gc.placeholder((10, 2), dtype="int64", name="along")
    emb = gc.embedding(idx, w)
    outs = [emb, gc.grad((emb * emb).sum(), w), gc.take_along_axis(w, along, 1),
            gc.scatter_add(w, 0, along[:4], w[:4] * 2.0), gc.index_add(w, 0, idx[0], w[:3]),
            w[idx[:, 0]]]
    feed = {w: rng.standard_normal((10, 6)), idx: rng.integers(0, 10, (4, 3)),
            along: rng.integers(0, 6, (10, 2))}
    return [w, idx, along], outs, {}, feed


@case("random")
def _random_numbers():
    rng = _rng()
    x = gc.placeholder((6, 9), name="x")
    outs = [gc.rand(5, 7), gc.randn(4, 3, dtype="float64"), gc.randint(-3, 11, (8,)),
            gc.dropout(x, 0.3)]
    return [x], outs, {}, {x: rng.standard_normal((6, 9))}



@case("convolution")
def _convolutions():
    """conv2d with a pad (its copy, the columns copied by planes on a CPU, the matmul
    with bias and relu), a strided max pool, and the gradients: the fold of the columns'
    gradient (planes), a strided slice's spread-out gradient (gathers), the weight's
    contraction; a transposed convolution."""
    rng = _rng()
    x = gc.placeholder((2, 3, 9, 8), name="x")
    w = gc.parameter((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype("float32"), name="cw")
    b = gc.parameter(rng.standard_normal(4).astype("float32"), name="cb")
    wt = gc.placeholder((4, 2, 3, 3), name="wt")
    h = gc.max_pool2d(gc.relu(gc.conv2d(x, w, b, padding=1)), 3, 2, 1)
    loss = gc.sum(h * h)
    gw, gb, gx = gc.grad(loss, [w, b, x])
    up = gc.conv_transpose2d(h, wt, stride=2, padding=1, output_padding=1)
    feed = {x: rng.standard_normal((2, 3, 9, 8)), wt: rng.standard_normal((4, 2, 3, 3))}
    return [x, wt], [loss, gx, up], {w: w - 0.01 * gw, b: b - 0.01 * gb}, feed

# }}}


def targets(device) -> dict:
    """The CPU and GPU targets the job shapes kernels for, within ``device``'s limits."""
    limits = dict(max_group=int(device.max_work_group_size),
                  local_memory=int(device.local_mem_size), fp64=bool(device.double_fp_config),
                  name=device.name.strip())
    return {"cpu": CPUTarget.describe(compute_units=2, **limits),
            "gpu": GPUTarget.describe(compute_units=8, **limits)}


def _kinds(kernels: list) -> set:
    """The templates of ``kernels`` and of the kernels they run (a launch's, a chain's),
    and the plans of their matmuls: ``matmul outer rows``, ``matmul tiled``, ..."""
    found = set()
    for k in kernels:
        found.update(g.template or g.kind for g in [k] + k.generated())
        found.update(" ".join(["matmul", g.plan["variant"], g.plan.get("role", "")]).strip()
                     for g in k.generated() if g.plan)
    return found


def run_case(family: str, build: Callable, device) -> tuple:
    """Compile and call one case, compare its outputs and updated parameters with
    ``gc.evaluate``; the kernels launched and their kinds (``_kinds``)."""
    gc.manual_seed(1234)
    inputs, outputs, updates, feed = build()
    feed = {p: np.asarray(v, p.dtype) for p, v in feed.items()}
    want = gc.evaluate(outputs + list(updates.values()), feed)
    fn = gc.compile(inputs, outputs, updates, device=device, seed=1234)
    got = fn(*(feed[p] for p in inputs))
    got += [p.value for p in updates]
    for i, (t, g, w) in enumerate(zip(outputs + list(updates), got, want)):
        np.testing.assert_allclose(g, w, err_msg=f"{family} ({build.__name__}) output {i}",
                                   **(TOL if t.dtype.kind == "f" else dict(rtol=0, atol=0)))
    return len(fn.kernels), _kinds(fn.kernels)


def main(argv: list) -> int:
    device = runtime.select_device(argv[0] if argv else "oclgrind")
    ctx = runtime.context_for(device)
    # the packed transposed operand, reached at small sizes
    schedule.PACK_MIN_K, schedule.PACK_MIN_SIZE = 16, 256
    # and B copied into panels
    matmul.PANEL_MIN_M = matmul.PANEL_MIN_K = 16
    matmul.PANEL_MIN_ROW_BYTES, matmul.PANEL_SAVES = 64, 1e6
    launched: collections.Counter = collections.Counter()
    kinds: dict = {}
    for kind, target in targets(device).items():
        ctx.target = target         # a cached property: replaced for this process only
        for family, build in CASES:
            count, found = run_case(family, build, device)
            launched[f"{kind} {family}"] += count
            kinds.setdefault(kind, set()).update(found)
            print(f"{kind} {family} {build.__name__}: ok", flush=True)
    print(json.dumps({"kernels": sum(launched.values()), "families": dict(launched),
                      "kinds": {k: sorted(v) for k, v in kinds.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
