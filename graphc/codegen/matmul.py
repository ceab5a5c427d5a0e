"""Matmul kernels: the problems of a schedule, their plans (``matmul_model``), launch
geometry, the template fields of each accumulation variant, the kernel writer with its
fused epilogue, and bare kernels for the tuner."""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import templates
from ..dtypes import cl_type
from ..graph import Op
from ..schedule import Group, Schedule, View
from ..target import Target
from .kernel import KERNEL_FORM, KernelWriter, Skeleton, writes
from .matmul_model import _matmul_plan, _matmul_plans_gpu, _pow2_at_least
from .space import _Space, unravel


@dataclasses.dataclass(frozen=True)
class MatmulProblem:
    """What a matmul kernel's speed depends on: sizes, operand strides, batch, dtype. Tile
    choices are made (and tuned, and cached on disk) per problem."""

    M: int
    N: int
    K: int
    a_m: int
    a_k: int
    b_k: int
    b_n: int
    nbatch: int
    dtype: str
    b_panel: int = 0       # B copied into panels this many columns wide (0: read in place)

    @property
    def key(self) -> str:
        panel = f" panels{self.b_panel}" if self.b_panel else ""
        return (f"{self.dtype} {self.nbatch}x{self.M}x{self.N}x{self.K} "
                f"a{self.a_m},{self.a_k} b{self.b_k},{self.b_n}{panel}")


def _problem(group: Group, a_view: View, b_view: View) -> MatmulProblem:
    a, b = group.anchor.src
    nbatch = int(np.prod(group.space[:-2], dtype=np.int64))
    return MatmulProblem(a.shape[-2], b.shape[-1], a.shape[-1], *a_view.strides[-2:],
                         *b_view.strides[-2:], nbatch, np.dtype(a.dtype).name,
                         group.panels)


# A matmul's B is copied into panels (``schedule._Builder.pack_panels``) on a CPU where
# B's rows are this many bytes apart or more (or B is not in rows), k at least PANEL_MIN_K
# long and M at least PANEL_MIN_M: a tile's strip of B in place is then a short piece of a
# row per k, a new page every k or few, and every strip is read by many tiles. 1024^3
# float32 ran at 61% of the FMA peak so, and at ~89% from panels: a matmul takes
# PANEL_SAVES of its time at the peak less, against the copy (a read and a write of B at
# the probed copy rate) and its launch. With fewer rows or a shorter k the strips were
# cheap enough in place: a LeNet step's weight gradients (M = 64 channels) and a ResNet
# block's input gradients (k = 64 channels) ran 29% and 8% slower with panels.
PANEL_MIN_ROW_BYTES = 1024
PANEL_MIN_M = 256
PANEL_MIN_K = 256
PANEL_SAVES = 0.5
PANEL_LAUNCH = 20e-6        # seconds
# the peaks assumed where none were probed: the 2-core EPYC's (Zen 5)
DEFAULT_GFLOPS, DEFAULT_GBPS = 485.0, 105.0


def panel_width(target: Target, node, a_view: View, b_view: View) -> int:
    """How wide the panels are that matmul ``node``'s B is first copied into on
    ``target`` (0: none): the widest of 4, 2 or 1 vectors that divides N, so that no
    tile straddles two panels. Only where M and k are long, B is far from compact, its
    batch axes are its own (a broadcast B would be copied once per batch item), and the
    time the panels save at the target's probed FMA peak is more than the copy's at its
    copy rate."""
    if target.matmul_model != "registers" or not target.packs_transposed:
        return 0
    a, b = node.src
    *batch, M, N = node.shape
    K = a.shape[-1]
    if M < PANEL_MIN_M or K < PANEL_MIN_K:
        return 0
    if any(s == 0 and d > 1 for s, d in zip(b_view.strides[:-2], batch)):
        return 0
    itemsize = np.dtype(node.dtype).itemsize
    b_k, b_n = b_view.strides[-2:]
    if b_n == 1 and abs(b_k) * itemsize < PANEL_MIN_ROW_BYTES:
        return 0
    flops = 2.0 * int(np.prod(node.shape, dtype=np.int64)) * K
    saved = PANEL_SAVES * flops / ((target.peak_gflops or DEFAULT_GFLOPS) * 1e9)
    copied = 2.0 * b.numel() * itemsize / ((target.peak_gbps or DEFAULT_GBPS) * 1e9)
    if saved <= copied + PANEL_LAUNCH:
        return 0
    wide = target.lanes(np.dtype(node.dtype))
    return next((w * wide for w in (4, 2, 1) if N % (w * wide) == 0), 0)


def matmul_problems(sched: Schedule) -> list:
    """The distinct matmul problems of a schedule's kernels."""
    found = {}
    for group in sched.groups:
        if group.kind == "matmul":
            views = {id(s): view for s, _, view in sched.loads[id(group)]}
            a, b = group.anchor.src
            problem = _problem(group, views[id(a)], views[id(b)])
            found[problem.key] = problem
    return list(found.values())


def matmul_plans(problem: MatmulProblem, target: Target) -> list:
    """Plans for ``problem`` on ``target``, the cost model's choice first."""
    p = problem
    if target.matmul_model == "workgroups":
        return _matmul_plans_gpu(p.M, p.N, p.K, p.a_m, p.b_n, p.nbatch, target)
    dtype = np.dtype(p.dtype)
    plans = _matmul_plan(p.M, p.N, p.K, p.a_m, p.a_k, p.b_k, p.b_n, p.nbatch, dtype,
                         target.compute_units, ranked=True, wide=target.lanes(dtype),
                         registers=target.vector_registers(dtype))
    if p.b_panel:      # a tile is one panel wide, vectors along its rows
        plans = [plan for plan in plans if plan["variant"] == "outer"
                 and plan["role"] == "rows" and plan["TN"] == p.b_panel
                 and not plan["gather"]]
    return plans


def _matmul_geometry(problem: MatmulProblem, plan: dict, target: Target) -> tuple:
    """(global size, local size) of a matmul kernel."""
    tiles = (-(-problem.N // plan["TN"]), -(-problem.M // plan["TM"]), problem.nbatch)
    if target.matmul_model == "registers":
        if plan.get("order") == "mn":
            tiles = (tiles[1], tiles[0], tiles[2])
        return tiles, (1, 1, 1)
    if plan["variant"] == "tiled":       # one work-group per block
        local = (plan["LN"], plan["LM"], 1)
        return tuple(t * size for t, size in zip(tiles, local)), local
    if plan["variant"] == "splitk":      # one work-group per tile
        return (tiles[0] * plan["L"], tiles[1], problem.nbatch), (plan["L"], 1, 1)
    # lanes along n next to each other read neighbouring vectors of B (coalesced)
    wide = target.group_size(256)
    l0 = min(_pow2_at_least(tiles[0]), 32, wide)
    l1 = min(_pow2_at_least(tiles[1]), max(1, wide // l0))
    local = (l0, l1, 1)
    return tuple(-(-g // size) * size for g, size in zip(tiles, local)), local


def bare_matmul(problem: MatmulProblem, plan: dict, target: Target, name: str) -> tuple:
    """A kernel ``name(A, B, C)`` computing ``problem`` with ``plan`` and storing C, for
    timing plans against each other: (source, global size, local size, operand sizes).
    Batches lie one after the other in A and B, each spanning the strides' extent."""
    p = problem
    T = cl_type(np.dtype(p.dtype))
    span_a = (p.M - 1) * p.a_m + (p.K - 1) * p.a_k + 1
    span_b = p.K * p.N if p.b_panel else (p.K - 1) * p.b_k + (p.N - 1) * p.b_n + 1
    fields = {"T": T, "TM": plan["TM"], "TN": plan["TN"], "M": p.M, "N": p.N, "K": p.K,
              "A": "A", "B": "B", "batch_index": "", "a_base": f"batch * {span_a}",
              "b_base": f"batch * {span_b}", "a_m": p.a_m, "a_k": p.a_k, "b_k": p.b_k,
              "b_n": p.b_n, "b_tile": _b_tile(p), "epilogue": "                C[i] = acc;",
              "vector_epilogue": (f"                vstore{plan['W']}(acc, 0, C + i);"
                                  if target.vector_epilogues and plan["variant"] == "outer"
                                  and plan["role"] == "rows" and plan["W"] > 1 else ""),
              "args": (f"__global const {T}* restrict A, __global const {T}* restrict B, "
                       f"__global {T}* restrict C")}
    template, fields = _matmul_fields(plan, fields)
    source = templates.render(template, name=name, **KERNEL_FORM, **fields)
    gsize, lsize = _matmul_geometry(problem, plan, target)
    return source, gsize, lsize, (p.nbatch * span_a, p.nbatch * span_b, p.nbatch * p.M * p.N)


def _b_tile(problem: MatmulProblem) -> int:
    """How far B's first element of a tile moves per column of C: a column in place,
    or K a column from panel to panel (a tile's n0 is a whole number of panels)."""
    return problem.K if problem.b_panel else problem.b_n


def _matmul_fields(plan: dict, fields: dict) -> tuple:
    """(template, fields): the template of ``plan``'s accumulation loop (``matmul`` for
    outer products, ``matmul_dot``, ``matmul_tiled``, ``matmul_splitk``) and its fields,
    added to the common ``fields``."""
    if plan["variant"] == "tiled":
        lanes = plan["LM"] * plan["LN"]
        BM, BN, TK = plan["BM"], plan["BN"], plan["TK"]
        # stage loads along the operand's contiguous dimension: k, else m (A) or n (B)
        a_along_k = fields["a_k"] == 1 and fields["a_m"] != 1
        b_along_k = fields["b_k"] == 1 and fields["b_n"] != 1
        return "matmul_tiled", dict(fields, LANES=lanes,
                    A_LOADS=BM * TK // lanes, B_LOADS=BN * TK // lanes,
                    a_mm=f"f / {TK}" if a_along_k else f"f % {BM}",
                    a_kk=f"f % {TK}" if a_along_k else f"f / {BM}",
                    b_nn=f"f / {TK}" if b_along_k else f"f % {BN}",
                    b_kk=f"f % {TK}" if b_along_k else f"f / {BN}",
                    **{k: plan[k] for k in ("BM", "BN", "LM", "LN", "WM", "WN", "TK")})
    if plan["variant"] == "splitk":
        return "matmul_splitk", dict(fields, L=plan["L"])
    # consecutive work-items walk C's tiles along n, or with order "mn" along m
    # (``_tile_order`` says which)
    fields = dict(fields, GN=1, GM=0) if plan.get("order") == "mn" else dict(fields, GN=0,
                                                                               GM=1)
    T, W = fields["T"], plan["W"]
    VT = f"{T}{W}" if W > 1 else T
    out = dict(fields, VT=VT, W=W)
    if plan["variant"] == "dot":
        return "matmul_dot", dict(out, KV=fields["K"] - fields["K"] % W)
    if plan["role"] == "rows":     # vectors of B along n, scalars of A
        p, p_k, p_v = "b", fields["b_k"], fields["b_n"]
        s_, s_k, s_u = "a", fields["a_k"], fields["a_m"]
        lane = "[t][j * {W} + l]"
    else:                          # vectors of A along m, scalars of B
        p, p_k, p_v = "a", fields["a_k"], fields["a_m"]
        s_, s_k, s_u = "b", fields["b_k"], fields["b_n"]
        lane = "[j * {W} + l][t]"
    lane = lane.format(W=W)
    if W == 1:
        load_p = f"{p}[k * {p_k} + j * {p_v}]"
    elif plan["gather"]:
        load_p = f"({VT})(" + ", ".join(f"{p}[k * {p_k} + (j * {W} + {lane}) * {p_v}]"
                                        for lane in range(W)) + ")"
    else:
        load_p = f"vload{W}(0, {p} + k * {p_k} + j * {W})"
    return "matmul", dict(out, TS=plan["TS"], NV=plan["NV"], P=p.upper(),
                S=s_.upper(), load_p=load_p, load_s=f"{s_}[t * {s_u} + k * {s_k}]",
                store_spill=f"spill{lane}", full_tile=_full_tile(plan, out, lane))


def _full_tile(plan: dict, fields: dict, lane: str) -> str:
    """The template's branch for a tile wholly its own: every element, no conditions.
    With a ``vector_epilogue`` (CPU, vectors along rows of C), the epilogue runs once per
    accumulator vector on its W neighbours in a row; else once per element, fully
    unrolled, on the elements copied out of the vectors."""
    T, VT, W, M, N = fields["T"], fields["VT"], fields["W"], fields["M"], fields["N"]
    TS, NV, TM, TN = plan["TS"], plan["NV"], plan["TM"], plan["TN"]
    if fields.get("vector_epilogue"):
        return f"""\
        // one accumulator vector at a time: {W} neighbours in a row of C
        #pragma unroll
        for (int t = 0; t < {TS}; t++) {{
            #pragma unroll
            for (int j = 0; j < {NV}; j++) {{
                const int xm = m0 + t;
                const int xn = n0 + j * {W};
                const int i = (batch * {M} + xm) * {N} + xn;
                const {VT} acc = tile[t][j];
{fields["vector_epilogue"]}
            }}
        }}"""
    return f"""\
        {T} res[{TM}][{TN}];
        #pragma unroll
        for (int t = 0; t < {TS}; t++) {{
            #pragma unroll
            for (int j = 0; j < {NV}; j++) {{
                union {{ {VT} v; {T} s[{W}]; }} lanes;
                lanes.v = tile[t][j];
                #pragma unroll
                for (int l = 0; l < {W}; l++)
                    res{lane} = lanes.s[l];
            }}
        }}
        #pragma unroll
        for (int tm = 0; tm < {TM}; tm++) {{
            #pragma unroll
            for (int tn = 0; tn < {TN}; tn++) {{
                const int xm = m0 + tm;
                const int xn = n0 + tn;
                const int i = (batch * {M} + xm) * {N} + xn;
                const {T} acc = res[tm][tn];
{fields["epilogue"]}
            }}
        }}"""


def _vector_epilogue(w: KernelWriter, space: _Space, plan: dict) -> str:
    """The epilogue on one accumulator vector of W neighbours in a row of C, where the
    target runs epilogues as vectors and its loads allow ("": it runs per element). An
    index leaf is computed from a scalar offset: its epilogue runs per element."""
    W = plan.get("W", 1)
    if not (w.target.vector_epilogues and plan["variant"] == "outer"
            and plan["role"] == "rows" and W > 1
            and all((space.offset(view) == space.flat or view.strides[-1] in (0, 1))
                    and not space.valid(view) for _, view in space.loads)
            and not any(base.op is Op.IOTA for base, _ in w.load_of.values())):
        return ""
    vspace = _Space(w.group.space, "i", space.index)
    lines = w.body(w.group.nodes, vspace, "                ", lanes=W, aligned=False,
                   count=False)
    if any(n is w.group.anchor for n in w.group.outputs):
        target = w.arg(w.buffer_of(w.group.anchor), True)
        lines.append(f"                vstore{W}(acc, 0, {target} + i);")
    return "\n".join(lines)


@writes("matmul")
def write_matmul(w: KernelWriter) -> Skeleton:
    """C = A @ B (batched) with the group's epilogue fused, tiled by the group's plan
    (``w.plans``: by group, then by problem; else the cost model's)."""
    a, b = w.group.anchor.src
    batch_shape = w.group.space[:-2]
    nb = len(batch_shape)
    views = {}
    for name, src in (("A", a), ("B", b)):
        base, view = w.load_of[id(src)]
        views[name] = (w.arg(w.buffer_of(base)), view)
    space = _Space(w.group.space, "i",
                   lambda d: f"x{d}" if d < nb else ("xm" if d == nb else "xn"))
    epilogue = w.body(w.group.nodes, space, "                ")
    if any(n is w.group.anchor for n in w.group.outputs):
        target = w.arg(w.buffer_of(w.group.anchor), True)
        epilogue.append(f"                {target}[i] = acc;")

    def base_offset(view: View) -> str:
        terms = [f"x{d} * {s}" for d, s in enumerate(view.strides[:nb]) if s]
        return " + ".join([str(view.offset)] + terms)

    problem = _problem(w.group, views["A"][1], views["B"][1])
    plan = (w.plans.get(id(w.group)) or w.plans.get(problem.key)
            or matmul_plans(problem, w.target)[0])
    w.plan = plan
    # On a CPU, accumulator vectors along rows of C run the epilogue as vectors where
    # its loads allow (along the row, or one value for the row): W times fewer copies
    # of it to compile than one per element, and SIMD instead of scalar code
    vector_epilogue = _vector_epilogue(w, space, plan)
    fields = {"T": w.T, "TM": plan["TM"], "TN": plan["TN"], "M": problem.M, "N": problem.N,
              "K": problem.K, "A": views["A"][0], "B": views["B"][0],
              "batch_index": "\n".join("    " + s for s in unravel(
                  batch_shape, "batch", lambda d: f"x{d}", list(range(nb)))),
              "a_base": base_offset(views["A"][1]), "b_base": base_offset(views["B"][1]),
              "a_m": problem.a_m, "a_k": problem.a_k, "b_k": problem.b_k,
              "b_n": problem.b_n, "b_tile": _b_tile(problem),
              "epilogue": "\n".join(epilogue),
              "vector_epilogue": vector_epilogue}
    template, fields = _matmul_fields(plan, fields)
    gsize, lsize = _matmul_geometry(problem, plan, w.target)
    # tiles staged through local memory, or a k split across a work-group's lanes
    groups = plan["variant"] in ("tiled", "splitk")
    return Skeleton(template, fields, gsize, lsize, work_groups=groups)
