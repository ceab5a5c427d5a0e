"""Matmul tile plans: the CPU cost model (a core's FMA, load and register budget) and the
GPU rule (work-groups through local memory, split k, or outer-product lanes)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..target import CPU, Target


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def _outer_cycles(K: int, TS: int, NV: int, loads: int, elements: int,
                  strided: bool) -> float:
    """Estimated cycles of one work-item of the outer-product loop: per k, TS*NV FMAs at 2 a
    cycle, TS + ``loads`` loads at 2 a cycle, and at least 4 cycles (FMA latency over the
    TS*NV independent chains), plus a little per vector loaded from the far operand (large
    GEMMs measured 12 x 2 vectors faster than 6 x 4); then the epilogue, dearer when a
    vector's lanes are elements ``N`` apart (``strided``, role "cols") than neighbours."""
    return (K * (max(TS * NV / 2, (TS + loads) / 2, 4) + NV / 4)
            + (2.5 if strided else 1.5) * elements + 200)


def _dot_cycles(K: int, W: int, TM: int, TN: int) -> float:
    steps, rest = divmod(K, W)
    return (steps * max(TM * TN / 2, TM + TN, 4) + rest * max(TM * TN, 4)
            + TM * TN * (W // 2 + 4) + 200)


_SMALL_MATMUL = 1 << 21     # multiply-adds
_SMALL_TILE = 64            # elements of C per work-item in a small matmul


def _matmul_plan(M: int, N: int, K: int, a_m: int, a_k: int, b_k: int, b_n: int,
                 nbatch: int, dtype: np.dtype, cores: int = 2, ranked: bool = False,
                 wide: Optional[int] = None, registers: int = 32):
    """How to tile one matmul on a CPU: the accumulation variant and its tile, chosen by a
    cost model of a core with ``wide``-element vectors (default: the described CPU's,
    512 bits) and ``registers`` vector registers; ``cores`` work-items run at once (tile
    counts are rounded up to it).

    ``outer`` vectorises along a free dimension whose operand is contiguous there: n when
    b_n == 1 (vector operand B, role "rows") or m when a_m == 1 (vector operand A, "cols");
    ``dot`` vectorises along k when both operands are contiguous in k; ``outer`` with W = 1
    (scalar loads through any strides) always works. Vectors narrower than 512 bits (W < 16
    floats) are allowed where a dimension is short, at the cost of idle lanes. Tiles never
    exceed C's extent (a vector dimension needs at least W elements).
    """
    wide = wide or CPU.lanes(dtype)
    widths = [w for w in (16, 8, 4) if w <= wide]

    # PoCL compiles each kernel at its first launch, and the full-tile epilogue is unrolled
    # TM x TN times: a 64 x 6 tile took 0.76 s to compile for a matmul that runs in 2 us.
    # Small matmuls (a few microseconds whatever the tile) keep their tiles small.
    small = nbatch * M * N * K <= _SMALL_MATMUL

    seen: list = []

    def consider(cost: float, plan: dict) -> None:
        if small and plan["TM"] * plan["TN"] > _SMALL_TILE:
            return
        seen.append((cost, len(seen), plan))

    def rounds(count: int) -> int:
        return -(-count // cores)

    # (role, vector dimension's size, scalar dimension's size, W, gather): "rows" vectors
    # of B along n, "cols" vectors of A along m; a vector is one load where its operand is
    # contiguous along it, else W scalar loads ("gather", rows only)
    outer = [("rows", N, M, w, b_n != 1) for w in widths if N >= w]
    outer += [("cols", M, N, w, False) for w in widths if a_m == 1 and M >= w]
    outer.append(("rows", N, M, 1, False))
    for role, V, U, w, gather in outer:
        for NV in (1, 2, 3, 4) if w > 1 else (1, 2, 3, 4, 6, 8):
            for TS in (1, 2, 3, 4, 6, 8, 12, 16):
                if TS * NV + NV + 1 > registers - 2 or TS > U or NV * w > V:
                    continue
                count = nbatch * -(-U // TS) * -(-V // (NV * w))
                # narrower vectors leave lanes idle; scalar FMAs measured ~2x slower still;
                # a gathered lane costs about a load and two shuffles, whatever the width,
                # and those dominate: gathered vectors pay no idle-lane factor (64x100x10
                # with B transposed: 16-wide gathers took 7.0 us, 4-wide ones 3.3 us)
                slow = 1 if gather else wide / w * (2 if w == 1 else 1)
                cycles = _outer_cycles(K, TS, NV, NV * (3 * w if gather else 1), TS * NV * w,
                                       role == "cols")
                TM, TN = (TS, NV * w) if role == "rows" else (NV * w, TS)
                consider(rounds(count) * cycles * slow,
                         {"variant": "outer", "role": role, "W": w, "TS": TS, "NV": NV,
                          "TM": TM, "TN": TN, "gather": gather})
    for w in widths if a_k == 1 and b_k == 1 else ():
        if K < w:
            continue
        for TM in (1, 2, 3, 4, 5, 6):
            for TN in (1, 2, 3, 4, 5, 6):
                if TM * TN + TM + TN > registers - 2 or TM > M or TN > N:
                    continue
                count = nbatch * -(-M // TM) * -(-N // TN)
                consider(rounds(count) * _dot_cycles(K, w, TM, TN) * wide / w,
                         {"variant": "dot", "W": w, "TM": TM, "TN": TN})
    plans = [dict(plan, order=_tile_order(plan, M, N))
             for _, _, plan in sorted(seen, key=lambda e: e[:2])]
    return plans if ranked else plans[0]


def _tile_order(plan: dict, M: int, N: int) -> str:
    """Which way consecutive work-items (one after the other on a core) walk the tiles of
    C: ``"nm"`` along n, sharing the rows of A they read and streaming all of B once per
    row of tiles, or ``"mn"`` along m, streaming all of A once per column of tiles. The
    smaller operand is the one to stream, as it may stay in the last-level cache; between
    equals, the order with fewer passes. Measured on the 2-core CPU, float32: x.T @ g with
    A 16 MB, B 32 MB took 152 ms along n and 67 ms along m; with A 32 MB, B 8 MB, 30 ms
    along n and 64 ms along m."""
    if M != N:
        return "mn" if M < N else "nm"
    return "mn" if plan["TN"] > plan["TM"] else "nm"


def _matmul_plans_gpu(M: int, N: int, K: int, a_m: int, b_n: int, nbatch: int,
                      target: Target) -> list:
    """Plans for one matmul on a GPU, the rule's choice first.

    The rule: ``tiled`` (blocks of C staged through local memory, any operand layout) when
    there are blocks enough for every compute unit; else ``splitk`` (a work-group's lanes
    split a long k) for a small C; else ``outer``: each lane an outer-product tile of C,
    with 4-wide vectors of an operand contiguous along its free dimension where there is
    one, the largest tile (8 x 8, 4 x 4, 2 x 4; scalar 4 x 4, 2 x 2) that still gives every
    compute unit 256 lanes.
    """
    units = target.compute_units
    lanes_max = target.max_group
    tiled, chosen = [], None
    for block, lanes in ((64, 256), (32, 64)):
        if lanes > lanes_max or block > 2 * max(M, N):
            continue
        side = {256: 16, 64: 8}[lanes]            # square work-groups
        plan = {"variant": "tiled", "BM": block, "BN": block, "LM": side, "LN": side,
                "WM": block // side, "WN": block // side, "TK": 16, "TM": block, "TN": block}
        tiled.append(plan)
        if chosen is None and block <= max(M, N) and \
                nbatch * -(-M // block) * -(-N // block) >= units:
            chosen = plan
    splitk = []
    if K >= 64 and lanes_max >= 64:
        splitk = [{"variant": "splitk", "TM": min(4, M), "TN": min(4, N),
                   "L": min(128, _pow2_at_least(K) // 2, lanes_max)}]
        if chosen is None and K >= 128:
            chosen = splitk[0]
    if b_n == 1 and N >= 4:
        role, V, U, W = "rows", N, M, 4
    elif a_m == 1 and M >= 4:
        role, V, U, W = "cols", M, N, 4
    else:
        role, V, U, W = "rows", N, M, 1
    choices = [(8, 2), (4, 1), (2, 1)] if W > 1 else [(4, 4), (2, 2)]
    fitting = [(TS, NV) for TS, NV in choices if TS <= U and NV * W <= V] or [(1, 1)]
    TS, NV = fitting[-1]
    for ts, nv in fitting:
        if nbatch * -(-U // ts) * -(-V // (nv * W)) >= 256 * units:
            TS, NV = ts, nv
            break
    TM, TN = (TS, NV * W) if role == "rows" else (NV * W, TS)
    outer = {"variant": "outer", "role": role, "W": W, "TS": TS, "NV": NV, "TM": TM,
             "TN": TN, "gather": False}
    chosen = chosen or outer
    return [chosen] + [plan for plan in tiled + splitk + [outer] if plan is not chosen]

