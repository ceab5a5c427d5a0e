"""Matmul plans timed on the device and kept on disk (graphc.tune)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import graphc as gc
from graphc import codegen, runtime, tune


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(tune, "TUNE_MIN", 1 << 21)     # matmuls small enough to time fast
    return tmp_path / "graphc" / "tuning.json"


def _graph():
    rng = np.random.default_rng(0)
    a = gc.placeholder((40, 700), "float64", name="a")     # both matmuls are timed:
    w = gc.parameter(rng.standard_normal((700, 80)), name="w")    # 2.2M multiply-adds
    out = gc.relu(a @ w)
    (gw,) = gc.grad(gc.sum(out * out), [w])
    feed = {a: rng.standard_normal((40, 700))}
    return a, [out, gw], feed


def test_tuning_times_every_matmul_and_keeps_the_fastest(cache):
    a, outs, feed = _graph()
    fn = gc.compile([a], outs, tune=True)
    for got, want in zip(fn(feed[a]), gc.evaluate(outs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    table = json.loads(cache.read_text())
    (kept,) = table.values()                        # one device
    problems = codegen.matmul_problems(fn.schedule)
    assert len(problems) == 2 and {p.key for p in problems} == set(kept)
    target = runtime.device_context().target
    for p in problems:
        assert p.M * p.N * p.K >= tune.TUNE_MIN and kept[p.key]["seconds"] > 0
        plan = {k: v for k, v in kept[p.key].items() if k != "seconds"}
        assert plan in _timed(p, target)


def _timed(problem, target) -> list:
    """The plans tuning times: the model's first few, and its first walking the other way."""
    timed = codegen.matmul_plans(problem, target)[:tune.CANDIDATES]
    if "order" in timed[0]:
        timed.append(dict(timed[0], order={"nm": "mn", "mn": "nm"}[timed[0]["order"]]))
    return timed


def test_kept_plans_are_used_without_tuning(cache, monkeypatch):
    """Whatever the timing picked is what later compiles use: force the model's last
    candidate and check the kernel's geometry and its numbers."""
    a, outs, feed = _graph()
    target = runtime.device_context().target

    def slowest_choice(ctx, problems, candidates=tune.CANDIDATES, repeat=5):
        return [(codegen.matmul_plans(p, target)[:candidates][-1], 1.0) for p in problems]

    monkeypatch.setattr(tune, "time_plans", slowest_choice)
    gc.compile([a], outs, tune=True)
    monkeypatch.setattr(tune, "time_plans", None)      # no timing from here on
    fn = gc.compile([a], outs)
    default = gc.compile([a], outs, tune=False)
    assert fn.source == default.source                 # both use the kept plans
    problems = {p.key: p for p in codegen.matmul_problems(fn.schedule)}
    kept = json.loads(cache.read_text())
    (plans,) = kept.values()
    for spec in fn.kernels:
        if spec.kind != "matmul":
            continue
        matching = [p for p in problems.values()
                    if codegen._matmul_geometry(p, plans[p.key], target)[0] == spec.global_size]
        assert matching
    for got, want in zip(fn(feed[a]), gc.evaluate(outs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_without_a_cache_file_the_cost_model_decides(cache):
    a, outs, _ = _graph()
    fn = gc.compile([a], outs)
    assert not cache.exists()
    target = runtime.device_context().target
    for p in codegen.matmul_problems(fn.schedule):
        plan = codegen.matmul_plans(p, target)[0]
        assert any(k.global_size == codegen._matmul_geometry(p, plan, target)[0]
                   for k in fn.kernels)


def test_a_damaged_cache_file_is_ignored(cache):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    a, outs, feed = _graph()
    fn = gc.compile([a], outs)
    np.testing.assert_allclose(fn(feed[a])[0], gc.evaluate(outs[0], feed), rtol=1e-9, atol=1e-9)


def test_small_matmuls_are_neither_timed_nor_kept(cache, monkeypatch):
    """The cost model plans small matmuls at every compile, so a better model reaches
    them; an untimed entry left by an earlier version is ignored."""
    a = gc.placeholder((8, 9), name="a")
    b = gc.placeholder((9, 7), name="b")
    monkeypatch.setattr(tune, "time_plans", lambda ctx, problems: [] if not problems else 1 / 0)
    fn = gc.compile([a, b], a @ b, tune=True)
    assert not cache.exists() or not any(json.loads(cache.read_text()).values())
    (problem,) = codegen.matmul_problems(fn.schedule)
    stale = dict(codegen.matmul_plans(problem, fn.ctx.target)[-1], seconds=None)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({tune.device_key(fn.ctx): {problem.key: stale}}))
    assert tune.plans_for(fn.ctx, [problem], tune=False) == {}
    xs, ys = np.ones((8, 9), np.float32), np.ones((9, 7), np.float32)
    np.testing.assert_array_equal(fn(xs, ys), xs @ ys)


@pytest.mark.parametrize("order", ["nm", "mn"])
def test_both_tile_orders_compute_the_same(cache, order):
    """A kept plan may walk C's tiles along n or along m (CPU plans)."""
    target = runtime.device_context().target
    if target.matmul_model != "registers":
        pytest.skip("tile order is a CPU plan field")
    a = gc.placeholder((37, 70), "float64", name="a")
    b = gc.placeholder((70, 53), "float64", name="b")
    out = gc.tanh(a @ b)
    (problem,) = codegen.matmul_problems(gc.compile([a, b], out).schedule)
    plan = dict(codegen.matmul_plans(problem, target)[0], order=order)
    kept = dict(plan, seconds=1e-6)         # as if timed: untimed entries are ignored
    cache.parent.mkdir(parents=True, exist_ok=True)
    ctx = runtime.device_context()
    cache.write_text(json.dumps({tune.device_key(ctx): {problem.key: kept}}))
    fn = gc.compile([a, b], out)
    spec = fn.kernels[0]
    assert spec.global_size == codegen._matmul_geometry(problem, plan, target)[0]
    assert ("get_global_id(1) * " + str(plan["TN"])) in spec.source or order == "nm"
    rng = np.random.default_rng(5)
    feed = {a: rng.standard_normal((37, 70)), b: rng.standard_normal((70, 53))}
    np.testing.assert_allclose(fn(feed[a], feed[b]), gc.evaluate(out, feed), rtol=1e-12)


def _tuned(cache, monkeypatch):
    """A graph compiled once with tuning (timing replaced by the model's first plan)."""
    a, outs, feed = _graph()
    target = runtime.device_context().target

    def first_choice(ctx, problems, candidates=tune.CANDIDATES, repeat=5):
        return [(codegen.matmul_plans(p, target)[0], 1.0) for p in problems]

    monkeypatch.setattr(tune, "time_plans", first_choice)
    gc.compile([a], outs, tune=True)
    monkeypatch.setattr(tune, "time_plans", None)
    return a, outs, feed


def _edit(cache, change):
    table = json.loads(cache.read_text())
    for plans in table.values():
        for plan in plans.values():
            change(plan)
    cache.write_text(json.dumps(table))


@pytest.mark.parametrize("field", ["TM", "TN", "TS", "W", "NV", "LM", "LN", "L", "order",
                                   "variant"])
def test_an_edited_plan_is_ignored_with_a_warning(cache, monkeypatch, field):
    a, outs, feed = _tuned(cache, monkeypatch)
    plans = [p for v in json.loads(cache.read_text()).values() for p in v.values()]
    if not any(field in p for p in plans):
        pytest.skip(f"this device's plans have no {field}")

    def change(plan):
        if field in plan:
            value = plan[field]
            plan[field] = ({"nm": "xx", "mn": "xx"}.get(value, "bogus")
                           if isinstance(value, str) else value * 3 + 1)

    _edit(cache, change)
    with pytest.warns(RuntimeWarning, match="ignoring the tuned matmul plan"):
        fn = gc.compile([a], outs)
    for got, want in zip(fn(feed[a]), gc.evaluate(outs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("content", ["[]", "null", '{"x": 3}', "{"])
def test_a_malformed_tuning_file_is_ignored(cache, content):
    a, outs, feed = _graph()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(content)
    fn = gc.compile([a], outs)
    for got, want in zip(fn(feed[a]), gc.evaluate(outs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_the_key_names_graphc_version(cache, monkeypatch):
    _tuned(cache, monkeypatch)
    (key,) = json.loads(cache.read_text())
    assert key.endswith(f"graphc {gc.__version__}")


def test_the_models_plan_stays_unless_another_is_faster_by_the_margin():
    assert tune.pick([1.0, 0.99, 1.2]) == 0                   # within noise: the model's
    assert tune.pick([1.0, 1.5, 1.0 - 2 * tune.MARGIN]) == 2
    assert tune.pick([0.5, 0.9, 0.7]) == 0


def test_timing_returns_the_models_plan_or_a_faster_one(cache):
    a, outs, feed = _graph()
    fn = gc.compile([a], outs)
    ctx = runtime.device_context()
    problems = codegen.matmul_problems(fn.schedule)
    for problem, (plan, seconds) in zip(problems, tune.time_plans(ctx, problems, repeat=2)):
        assert seconds > 0 and plan in _timed(problem, ctx.target)
