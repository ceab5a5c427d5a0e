"""Matmul plans timed on the device, and kept on disk per device and problem.

The cost model in ``codegen`` picks a plan for every matmul without running anything.
With tuning on (``gc.compile(..., tune=True)`` or ``GRAPHC_TUNE=1``), ``compile`` times the
model's best few plans of each new matmul problem (sizes, strides, batch, dtype) on the
device, as bare kernels in one program, and keeps the fastest in
``$XDG_CACHE_HOME/graphc/tuning.json`` (default ``~/.cache``). Every later compile on that
device, tuning on or off, uses the kept plan: tuning is paid once per device and problem.
"""
from __future__ import annotations

import json
import os
import threading
import warnings

import numpy as np

from . import codegen, runtime

try:
    import pyopencl as cl
except ImportError:  # pragma: no cover
    cl = None

CANDIDATES = 8          # plans timed per problem: the cost model's best few (and its
                        # first walking the tiles of C the other way)
# a matmul of fewer multiply-adds is not timed, and nothing is kept for it, so that the
# cost model (which may change between versions) chooses its plan at every compile: it runs
# in tens of microseconds, in a launch shared with other kernels or in a chain by rows, and
# a bare kernel's time says little of that. The seed's x.T @ gh (6.4M) kept a plan 3%
# faster alone that made the seed's launch of it 52 -> 70 us.
TUNE_MIN = 1 << 24
_lock = threading.Lock()


def cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc", "tuning.json")


def _load() -> dict:
    try:
        with open(cache_path()) as f:
            table = json.load(f)
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(table: dict) -> None:
    path = cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(table, f, indent=1, sort_keys=True)
        os.replace(tmp, path)      # whole or not at all, also with several processes
    except OSError:
        pass


def device_key(ctx: runtime.DeviceContext) -> str:
    """The device and graphc's version: a new version's generator may make other plans."""
    from . import __version__
    d = ctx.device
    return (f"{d.platform.name.strip()} | {d.name.strip()} | {d.driver_version} | "
            f"graphc {__version__}")


def _checked(kept: object, problems: list, target) -> dict:
    """The kept plans of ``problems`` that the generator itself would make for them. A
    plan read from disk is trusted no further than that: an edited or corrupted tile
    size gives a wrong product or a kernel that reads out of bounds. Entries without a
    time (the model's plans, kept by earlier versions) are ignored silently, others
    with a warning."""
    if not isinstance(kept, dict):
        kept = {}
    out = {}
    for problem in problems:
        plan = kept.get(problem.key)
        if not isinstance(plan, dict) or plan.get("seconds") is None:
            continue
        if _generated({k: v for k, v in plan.items() if k != "seconds"}, problem, target):
            out[problem.key] = plan
        else:
            warnings.warn(f"graphc: ignoring the tuned matmul plan {plan} kept in "
                          f"{cache_path()} for {problem.key}: it is none of the plans "
                          "graphc generates for that problem (edited, or from another "
                          "version); the cost model's plan is used", RuntimeWarning,
                          stacklevel=4)
    return out


def _generated(plan: dict, problem, target) -> bool:
    """Is ``plan`` one that ``codegen.matmul_plans`` makes for ``problem`` (in either
    walking order)?"""
    for candidate in codegen.matmul_plans(problem, target):
        if plan == candidate:
            return True
        if "order" in candidate and plan == dict(
                candidate, order={"nm": "mn", "mn": "nm"}[candidate["order"]]):
            return True
    return False


def plans_for(ctx: runtime.DeviceContext, problems: list, tune: bool) -> dict:
    """Plans kept for ``problems`` on this device; with ``tune``, the problems not kept yet
    are timed now and kept. Returns {problem key: plan}."""
    with _lock:
        table = _load()
        kept = _checked(table.get(device_key(ctx), {}), problems, ctx.target)
        large = [p for p in problems if p.key not in kept
                 and p.nbatch * p.M * p.N * p.K >= TUNE_MIN]
        if tune and large:
            for problem, (plan, seconds) in zip(large, time_plans(ctx, large)):
                kept[problem.key] = dict(plan, seconds=seconds)
            table = _load()        # another process may have written meanwhile
            table.setdefault(device_key(ctx), {}).update({p.key: kept[p.key] for p in large})
            _save(table)
    return {p.key: {k: v for k, v in kept[p.key].items() if k != "seconds"}
            for p in problems if p.key in kept}


def time_plans(ctx: runtime.DeviceContext, problems: list,
               candidates: int = CANDIDATES, repeat: int = 5) -> list:
    """For each problem, (fastest plan, its best time in seconds) among the model's first
    ``candidates`` plans, run as bare kernels on random operands. The plans of a problem
    run in interleaved rounds (one run of each per round, after an untimed round that
    pays for code generation), so that load which comes and goes falls on all of them;
    each keeps its best of ``repeat`` rounds (other load only ever adds time). The
    model's own plan, the one an untuned compile uses, stays unless another is faster
    by ``MARGIN``: tuning never keeps a plan that won by noise alone."""
    target = ctx.target
    if not problems:
        return []
    entries, sources = [], []
    for i, problem in enumerate(problems):
        plans = codegen.matmul_plans(problem, target)[:candidates]
        if "order" in plans[0]:          # the model's plan walking the other way too
            flip = {"nm": "mn", "mn": "nm"}[plans[0]["order"]]
            plans.append(dict(plans[0], order=flip))
        for j, plan in enumerate(plans):
            name = f"tune_{i}_{j}"
            source, gsize, lsize, sizes = codegen.bare_matmul(problem, plan, target, name)
            entries.append((i, plan, name, gsize, lsize, sizes))
            sources.append(source)
    fp64 = any(p.dtype == "float64" for p in problems)
    header = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" if fp64 else ""
    program = ctx.build(header + "\n".join(sources))
    rng = np.random.default_rng(0)
    with ctx.lock:
        return [_fastest(ctx, program, [e for e in entries if e[0] == i], rng, repeat,
                         np.dtype(problem.dtype))
                for i, problem in enumerate(problems)]


# a plan replaces the model's only when its best time is this much shorter
MARGIN = 0.03


def _fastest(ctx: runtime.DeviceContext, program, entries: list, rng, repeat: int,
             dtype: np.dtype) -> tuple:
    """(plan, best seconds) of one problem's ``entries``, the first being the model's."""
    sizes = entries[0][5]
    buffers = [ctx.upload(rng.standard_normal(n).astype(dtype)) for n in sizes]
    kernels = []
    for _, _, name, _, _, _ in entries:
        kernel = cl.Kernel(program, name)
        kernel.set_args(*buffers)
        kernels.append(kernel)
    times: list[list[float]] = [[] for _ in entries]
    for round_ in range(repeat + 1):
        for k, (kernel, (_, _, _, gsize, lsize, _)) in enumerate(zip(kernels, entries)):
            event = cl.enqueue_nd_range_kernel(ctx.queue, kernel, gsize, lsize)
            event.wait()
            if round_:
                times[k].append((event.profile.end - event.profile.start) * 1e-9)
    best = [min(t) for t in times]
    k = pick(best)
    return entries[k][1], best[k]


def pick(best: list) -> int:
    """The index of the plan to keep among best times ``best``, the model's plan first:
    the fastest if it beats the model's by ``MARGIN``, else the model's."""
    k = int(np.argmin(best))
    return k if best[k] <= best[0] * (1 - MARGIN) else 0
