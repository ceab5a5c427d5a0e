"""Kernels sharing a launch (codegen.merge_launches), matmuls chained by rows
(codegen.row_chains), and PoCL's pinned worker threads."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc import codegen, runtime
from graphc.codegen import BufferRef, KernelSpec


def _spec(name: str, reads: list, writes: list, flops: int = 1000, body: str = "",
          local: tuple = (1,), work_groups: bool = False) -> KernelSpec:
    """A copy kernel over temporaries: reads slots ``reads``, writes slots ``writes``;
    rendered from the elementwise template, as a writer would (``work_groups``: its
    writer says it needs its work-groups)."""
    args = [BufferRef("temp", slot=s) for s in reads + writes]
    params = ", ".join(f"__global {'' if s in writes else 'const '}float* restrict b{i}"
                       for i, s in enumerate(reads + writes))
    out = len(reads)
    fields = {"args": params, "guard": "", "scale": "",
              "body": f"{body}    b{out}[i] = b0[i] + 1.0f;"}
    spec = KernelSpec(name, "elementwise", "", args, (8,), local, [], [],
                      np.dtype(np.float32), flops, 64, written=args[out:],
                      template="elementwise", fields=fields, work_groups=work_groups)
    spec.source = spec.render(name)
    return spec


def _names(specs: list) -> list:
    return [[p.name for p in s.parts] or s.name for s in specs]


def test_independent_kernels_share_a_launch():
    a, b = _spec("a", [0], [1]), _spec("b", [2], [3])
    (launch,) = codegen.merge_launches([a, b])
    assert launch.kind == "launch" and launch.parts == [a, b]
    assert launch.global_size == (16,) and launch.local_size == (1,)
    assert launch.written == [BufferRef("temp", slot=1), BufferRef("temp", slot=3)]
    assert launch.flops == a.flops + b.flops
    # each kernel is a function of its global ids, run by its range of the launch
    assert "static void launch_" in launch.source and "get_global_id(0)" in launch.source
    assert launch.source.count("if (id < 8)") == 2


def test_only_the_launched_kernel_declares_restrict():
    """The launch's own parameters are restrict; its functions' are not (inlined, they
    become noalias scope declarations that Oclgrind cannot run)."""
    (launch,) = codegen.merge_launches([_spec("a", [0], [1]), _spec("b", [2], [3])])
    heads = [line for line in launch.source.splitlines()
             if line.startswith(("static void", "__kernel void"))]
    assert [h.split()[0] for h in heads] == ["static", "static", "__kernel"]
    assert heads[0].startswith("static void launch_") and heads[0].endswith(
        "(__global const float* b0, __global float* b1, const int gc_id0, "
        "const int gc_id1, const int gc_id2)")
    assert "restrict" not in "".join(heads[:2])
    assert heads[2].count("* restrict b") == 4


@pytest.mark.parametrize("second, why", [
    (_spec("b", [1], [3]), "reads what the first writes"),
    (_spec("b", [2], [0]), "writes what the first reads"),
    (_spec("b", [2], [1]), "writes what the first writes"),
    (_spec("b", [2], [3], body="    barrier(CLK_LOCAL_MEM_FENCE);\n", work_groups=True),
     "has a barrier"),
    (_spec("b", [2], [3], local=(16,)), "has work-groups of 16"),
])
def test_kernels_that_must_not_share_a_launch_keep_their_own(second, why):
    first = _spec("a", [0], [1])
    assert _names(codegen.merge_launches([first, second])) == ["a", "b"], why


def test_a_launch_holds_at_most_one_large_kernel():
    big = codegen.LAUNCH_SHARE_FLOPS + 1
    specs = [_spec("a", [0], [1], big), _spec("b", [2], [3]), _spec("c", [4], [5], big),
             _spec("d", [6], [7])]
    assert _names(codegen.merge_launches(specs)) == [["a", "b"], ["c", "d"]]


@pytest.mark.parametrize("written, merged", [("param", False), ("spare", True)])
def test_parameter_update_shares_a_launch_only_with_a_spare(written, merged):
    """An update written over the parameter's value (``transactional=False``, a "param"
    ref) keeps its own launch away from a kernel reading that value; one written into the
    spare buffer (transactional) writes nothing any other kernel reads, so they share one."""
    w = gc.parameter(np.ones(3, np.float32), name="w")
    a = _spec("a", [0], [1])
    a.args[0] = BufferRef("param", w)
    b = _spec("b", [2], [3])
    b.args[1] = b.written[0] = BufferRef(written, w)
    assert _names(codegen.merge_launches([a, b])) == ([["a", "b"]] if merged else ["a", "b"])


def test_seed_step_in_two_launches_matches_evaluate(device):
    """On a CPU: x @ w1, relu(h) @ w2 and the gradient of h chained by blocks of rows; the
    loss and both weight updates in the second launch."""
    rng = np.random.default_rng(0)
    x = gc.placeholder((64, 1000), name="x")
    y = gc.placeholder((64, 10), name="y")
    w1 = gc.parameter(rng.standard_normal((1000, 100)).astype(np.float32) * 0.03, name="w1")
    w2 = gc.parameter(rng.standard_normal((100, 10)).astype(np.float32) * 0.1, name="w2")
    loss = ((gc.relu(x @ w1) @ w2 - y) ** 2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    new = {w1: w1 - 1e-4 * g1, w2: w2 - 1e-4 * g2}
    fn = gc.compile([x, y], loss, new)
    kinds = [(k.kind, [g.kind for g in k.generated()]) for k in fn.kernels]
    if not fn.ctx.target.shares_launches:
        assert len(fn.kernels) == 6
    else:
        assert kinds == [("rows", ["matmul"] * 3), ("launch", ["reduce", "matmul", "matmul"])]
    feed = {x: rng.standard_normal((64, 1000)).astype(np.float32),
            y: rng.standard_normal((64, 10)).astype(np.float32)}
    for _ in range(2):          # both buffer sets of the double-buffered updates
        want = gc.evaluate([loss] + list(new.values()), feed)
        np.testing.assert_allclose(fn(feed[x], feed[y]), want[0], rtol=1e-4)
        for p, value in zip(new, want[1:]):
            np.testing.assert_allclose(p.value, value, rtol=1e-4, atol=1e-6)
    described = fn.describe()
    assert "new w1" in described and "new w2" in described


def test_unfused_functions_launch_every_kernel():
    x = gc.placeholder((8, 8), name="x")
    w = gc.parameter(np.eye(8, dtype=np.float32), name="w")
    fn = gc.compile([x], [x @ w, (x * 2) @ w], fuse=False)
    assert all(k.kind != "launch" for k in fn.kernels)


# {{{ PoCL's worker threads

def test_pocl_threads_are_pinned_only_where_nobody_said_otherwise(monkeypatch):
    every = set(range(os.cpu_count() or 1))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: every, raising=False)
    monkeypatch.delenv("POCL_AFFINITY", raising=False)
    assert runtime._pin_pocl_threads() and os.environ["POCL_AFFINITY"] == "1"
    monkeypatch.setenv("POCL_AFFINITY", "0")
    assert not runtime._pin_pocl_threads() and os.environ["POCL_AFFINITY"] == "0"


def test_pocl_threads_are_not_pinned_in_a_restricted_cpu_set(monkeypatch):
    monkeypatch.delenv("POCL_AFFINITY", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5}, raising=False)
    assert not runtime._pin_pocl_threads() and "POCL_AFFINITY" not in os.environ


def test_pocl_threads_are_not_pinned_for_ranks_sharing_a_node(monkeypatch):
    monkeypatch.delenv("POCL_AFFINITY", raising=False)
    every = set(range(os.cpu_count() or 1))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: every, raising=False)
    monkeypatch.setattr(runtime.distributed, "local_size", 2)
    assert not runtime._pin_pocl_threads() and "POCL_AFFINITY" not in os.environ

# }}}


# {{{ matmuls chained by rows

def _chain_kernels(fn) -> list:
    return [k for k in fn.kernels for k in [k] + k.parts if k.kind == "rows"]


@settings(max_examples=12, deadline=None)
@given(M=st.sampled_from([32, 48, 64, 96, 100]), K=st.integers(1, 70),
       N1=st.integers(1, 40), N2=st.integers(1, 20), dtype=st.sampled_from(["float32",
                                                                              "float64"]))
def test_chained_layers_match_evaluate(M, K, N1, N2, dtype):
    """Two layers and their gradients, on shapes where chains form (M a multiple of a row
    tile with 16 blocks) and where they do not; tiles shifted back inside C included."""
    rng = np.random.default_rng(M * K + N1 * N2)
    x = gc.placeholder((M, K), dtype, name="x")
    y = gc.placeholder((M, N2), dtype, name="y")
    w1 = gc.parameter(rng.standard_normal((K, N1)).astype(dtype), name="w1")
    w2 = gc.parameter(rng.standard_normal((N1, N2)).astype(dtype), name="w2")
    loss = ((gc.tanh(x @ w1) @ w2 - y) ** 2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    new = {w1: w1 - 1e-3 * g1, w2: w2 - 1e-3 * g2}
    fn = gc.compile([x, y], [loss, g1, g2], new)
    feed = {x: rng.standard_normal((M, K)).astype(dtype),
            y: rng.standard_normal((M, N2)).astype(dtype)}
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)
    for _ in range(2):
        want = gc.evaluate([loss, g1, g2] + list(new.values()), feed)
        for got, value in zip(fn(feed[x], feed[y]), want):
            np.testing.assert_allclose(got, value, **tol)
        for p, value in zip(new, want[3:]):
            np.testing.assert_allclose(p.value, value, **tol)
    if fn.ctx.target.chains_rows and M % 4 == 0 and M // 4 >= 16 and M * K * N1 < 1 << 24:
        assert _chain_kernels(fn)


def _two_layers(second):
    x = gc.placeholder((64, 30), name="x")
    w = gc.parameter(np.ones((30, 20), np.float32), name="w")
    h = gc.relu(x @ w)
    return x, h, second(h)


@pytest.mark.parametrize("second, chained", [
    (lambda h: h @ gc.constant(np.ones((20, 5), np.float32)), True),
    (lambda h: gc.transpose(h) @ gc.constant(np.ones((64, 5), np.float32)), False),
    (lambda h: gc.constant(np.ones((64, 64), np.float32)) @ h, False),   # h is B
    (lambda h: gc.reshape(h, (128, 10)) @ gc.constant(np.ones((10, 3), np.float32)), False),
], ids=["rows", "transposed", "second-operand", "other-rows"])
def test_chains_form_only_where_rows_stay_rows(second, chained, device):
    x, h, out = _two_layers(second)
    fn = gc.compile([x], out)
    if not fn.ctx.target.chains_rows:
        pytest.skip("chains are for CPUs")
    assert bool(_chain_kernels(fn)) == chained
    xs = np.random.default_rng(0).standard_normal((64, 30)).astype(np.float32)
    np.testing.assert_allclose(fn(xs), gc.evaluate(out, {x: xs}), rtol=1e-4, atol=1e-4)


def test_a_chain_never_writes_a_buffer_it_reads_whole(device):
    """The first matmul reads a temporary whole (as its second operand); the second
    matmul's result is as large. A buffer planner that freed the temporary after the first
    matmul would hand it to the second, whose blocks of rows would then overwrite it while
    other blocks still read it."""
    rng = np.random.default_rng(1)
    x = gc.placeholder((32, 16), name="x")
    w = gc.placeholder((16, 16), name="w")
    v = gc.constant(rng.standard_normal((16, 8)).astype(np.float32))
    wt = gc.exp(w * 0.1)                           # a temporary of 256 elements
    out = gc.relu(x @ wt) @ v                      # 32 x 8: 256 elements too
    fn = gc.compile([x, w], out)
    if not fn.ctx.target.chains_rows:
        pytest.skip("chains are for CPUs")
    (rows,) = _chain_kernels(fn)
    first, second = rows.parts
    b_operand = first.args[1]
    assert b_operand.kind == "temp" and b_operand not in second.written
    feed = {x: rng.standard_normal((32, 16)).astype(np.float32),
            w: rng.standard_normal((16, 16)).astype(np.float32)}
    for _ in range(3):
        np.testing.assert_allclose(fn(feed[x], feed[w]), gc.evaluate(out, feed),
                                   rtol=1e-4, atol=1e-4)

# }}}


def test_two_chains_and_a_square_operand(device):
    """Two networks in one function (two chains), one of them starting with x @ x."""
    rng = np.random.default_rng(2)
    x = gc.placeholder((64, 64), name="x")
    z = gc.placeholder((64, 20), name="z")
    w = gc.constant(rng.standard_normal((64, 8)).astype(np.float32))
    v = gc.constant(rng.standard_normal((20, 30)).astype(np.float32))
    u = gc.constant(rng.standard_normal((30, 5)).astype(np.float32))
    first = gc.tanh(x @ x * 0.1) @ w
    second = gc.relu(z @ v) @ u
    fn = gc.compile([x, z], [first, second])
    if fn.ctx.target.chains_rows:
        assert [len(k.parts) for k in _chain_kernels(fn)] == [2, 2]
    feed = {x: rng.standard_normal((64, 64)).astype(np.float32),
            z: rng.standard_normal((64, 20)).astype(np.float32)}
    for got, want in zip(fn(feed[x], feed[z]), gc.evaluate([first, second], feed)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_graphc_launches_each_keeps_every_kernel_apart(monkeypatch):
    monkeypatch.setenv("GRAPHC_LAUNCHES", "each")
    x = gc.placeholder((64, 30), name="x")
    w = gc.parameter(np.ones((30, 20), np.float32), name="w")
    v = gc.constant(np.ones((20, 5), np.float32))
    out = gc.relu(x @ w) @ v
    fn = gc.compile([x], out)
    assert all(not k.parts for k in fn.kernels) and len(fn.kernels) == 2
    xs = np.ones((64, 30), np.float32)
    np.testing.assert_allclose(fn(xs), gc.evaluate(out, {x: xs}), rtol=1e-5)


def test_gpu_targets_launch_every_kernel():
    gpu = codegen.Target(kind="gpu", compute_units=8, max_group=256)
    a, b = _spec("a", [0], [1]), _spec("b", [2], [3])
    assert codegen.merge_launches([a, b], gpu) == [a, b]


# {{{ what the passes read: kernels as functions of their global ids, work-group needs

def test_writers_say_which_kernels_need_their_work_groups():
    """Device-free: a GPU's tree reduction and tiled matmul need their work-groups (local
    memory, barriers) and cannot run as functions; a CPU's matmuls never do, and a kernel
    that does is never part of a launch."""
    from graphc.lower import lower
    x = gc.placeholder((256, 512), name="x")
    w = gc.parameter(np.ones((512, 256), np.float32), name="w")
    out = [gc.sum(x, axis=1), x @ w]
    gpu = codegen.Target("gpu", compute_units=132, max_group=1024)
    grouped = [k for k in lower(out, None, gpu).kernels if k.work_groups]
    assert {k.kind for k in grouped} == {"reduce", "matmul"}
    with pytest.raises(gc.errors.CodegenError, match="work-groups"):
        grouped[0].function("f")
    cpu = codegen.Target("cpu", compute_units=2, max_group=4096)
    kernels = lower(out, None, cpu).kernels
    assert not any(k.work_groups for k in kernels if k.kind == "matmul")
    assert not any(p.work_groups for k in kernels for p in k.parts)


def test_launch_runs_its_parts_rendered_as_functions():
    a, b = _spec("a", [0], [1]), _spec("b", [2], [3])
    (launch,) = codegen.merge_launches([a, b])
    for i, part in enumerate(launch.parts):
        function = part.function(f"{launch.name}_{i}")
        assert function in launch.source and "get_global_id" not in function
        assert function.replace("GC_ID(", "get_global_id(").replace(
            f"static void {launch.name}_{i}(", f"__kernel void {part.name}(").replace(
            codegen.kernel.GC_IDS, "") == codegen.kernel.unrestricted(part.source)

# }}}
