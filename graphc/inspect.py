"""Inspection: what each kernel computes, in the user's names; timings; the graph as DOT.

Everything here reads what ``compile`` built; nothing changes it.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
import weakref
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import sympy as sp

from .graph import LEAVES, Op, Tensor, toposort
from .ops.registry import Category, opdef

# Nodes that gc.grad created (the backward DAG), for "forward"/"backward" marks.
# By id, each entry a weak reference: a WeakSet compares its members with ==, which on
# tensors builds a comparison node.
_BACKWARD: dict = {}


def mark_backward(node: Tensor) -> None:
    """Record that ``node`` belongs to a backward graph (for the marks in tables)."""
    key = id(node)

    def forget(ref: "weakref.ref", key: int = key) -> None:
        if _BACKWARD.get(key) is ref:
            del _BACKWARD[key]
    if not is_backward(node):
        _BACKWARD[key] = weakref.ref(node, forget)


def label(node: Tensor, depth: int = 2, own: bool = True) -> str:
    """A short readable name: the user's name, else the expression that makes the node
    (``own=False`` describes the node by its expression even when it has a name)."""
    if node.name and own:
        return node.name
    if node.op is Op.CONST:
        value = node.arg.uniform
        return f"{value:g}" if value is not None else f"const{list(node.shape)}"
    if depth <= 0:
        return f"{node.op.value}{list(node.shape)}"
    inner = [_atom(label(s, depth - 1)) for s in node.src]
    rule = opdef(node).label
    text = rule(node, inner) if rule is not None else f"{node.op.value}({', '.join(inner)})"
    return text if len(text) <= 80 else text[:77] + "..."


def _atom(text: str) -> str:
    """``text`` parenthesised unless it reads as one term."""
    bare = text.split("[")[0] if text.endswith("]") else text
    if bare.replace("_", "").replace(".", "").isalnum() or (
            text.startswith("(") and text.endswith(")")) or (
            "(" in text and text.endswith(")") and text.split("(")[0].isidentifier()):
        return text
    return f"({text})"


def is_backward(node: Tensor) -> bool:
    ref = _BACKWARD.get(id(node))
    return ref is not None and ref() is node


def math(spec: Any) -> dict:
    """``{output label: sympy formula}`` of a kernel, loads named after what they read.

    ``acc`` stands for the kernel's matmul or reduction result.
    """
    if spec.parts:
        return {out: expr for part in spec.parts for out, expr in math(part).items()}
    names = {sym: label(node) for sym, node in spec.loads.items()}
    return {label(node): _rename(expr, names) for node, expr in spec.expression.items()}


def _rename(expr: sp.Expr, names: dict) -> sp.Expr:
    """``expr`` with symbols renamed (``names``: symbol -> text). The new symbols are real,
    as the formula's are, and nothing is re-evaluated: on symbols of unknown sign sympy's
    tanh of a deep formula takes exponential time to decide whether to simplify."""
    with sp.evaluate(False):
        return expr.xreplace({s: sp.Symbol(t, real=True) for s, t in names.items()})


def skeleton(spec: Any) -> str:
    """What the kernel's template computes before its elementwise part."""
    if spec.parts:
        return "; ".join(filter(None, map(skeleton, spec.parts)))
    anchors = [n for n in spec.nodes if opdef(n).category in _ANCHORED]
    if not anchors:
        return ""
    anchor = anchors[0]
    named = f"{anchor.name} = " if anchor.name else ""
    return f"acc = {named}{label(anchor, depth=2, own=False)}"


_ANCHORED = (Category.CONTRACT, Category.REDUCE, Category.INDEX, Category.SCAN)


def describe(fn: Any) -> str:
    """The kernel table of a compiled function, with each kernel's math."""
    head = (f"graphc function on {fn.device.name.strip()}: {{kernels}}, "
            f"{fn.device_bytes} bytes on the device (temporaries, inputs, constants; "
            f"parameters {fn.parameter_bytes} more, their updates' spare buffers "
            f"{fn.spare_bytes})")
    return describe_program(fn.program, head)


def describe_program(program: Any, head: Optional[str] = None) -> str:
    """The launches of a ``Program`` (``graphc.lower``): geometry, cost, what each
    computes, as math; host steps between them. Needs no device."""
    kernels = program.kernels
    generated = sum(len(k.generated()) for k in kernels)
    shared = (f" ({generated} generated; those sharing a launch are listed under it)"
              if generated != len(kernels) else "")
    count = f"{len(kernels)} kernels{shared}"
    if head is None:
        head = (f"graphc program for a {program.target.kind.upper()} target: {{kernels}}, "
                f"{sum(program.temps)} bytes of temporaries")
    rows = [("#", "kernel", "global", "local", "MFLOP", "KB", "computes")]
    for i, k in enumerate(kernels):
        writes = ", ".join(_mark(n) for n in k.outputs)
        rows.append((str(i), k.name, str(k.global_size), str(k.local_size),
                     f"{k.flops / 1e6:.3f}", f"{k.bytes / 1e3:.1f}", writes))
    widths = [max(len(r[c]) for r in rows) for c in range(6)]
    lines = [head.format(kernels=count)] + [
        "  " + "  ".join(r[c].ljust(widths[c]) for c in range(6)) + "  " + r[6] for r in rows]
    launched = 0
    for step in program.steps:
        values = getattr(step, "values", None)
        if values is None:
            launched += 1
            continue
        listed = ", ".join(f"{label(v.node.src[0])} ({v.op})" for v in values)
        lines.append(f"  host step before kernel {launched}: allreduce across ranks, one "
                     f"message: {listed}")
    lines.append("math:")
    for i, k in enumerate(kernels):
        if k.parts:
            how = ("each work-item runs a block of rows through all of them in turn"
                   if k.kind == "rows" else
                   "each work-item runs one work-item of one of them")
            lines.append(f"  [{i}] {k.name}: {len(k.parts)} kernels in one launch, {how}")
        for part, indent in [(p, "      ") for p in k.parts] or [(k, "")]:
            first = f"  {indent}[{i}] {part.name}" if not indent else \
                f"  {indent}{part.name} {part.global_size}"
            lines.append(first + (f"   {skeleton(part)}" if skeleton(part) else ""))
            for out, expr in math(part).items():
                lines.append(f"      {indent}  {out} = {expr}")
    return "\n".join(lines)


def _mark(node: Tensor) -> str:
    return f"{label(node)}{' (backward)' if is_backward(node) else ''}"


# {{{ profile

@dataclasses.dataclass
class KernelTime:
    name: str
    seconds: float      # median over the repeats
    gflops: float
    gbps: float
    share: float        # of the summed kernel time
    roofline: float = float("nan")   # share of the attainable rate at this intensity
    bound: str = ""                  # "compute" or "memory", from the roofline


class Profile(list):
    """One ``KernelTime`` per kernel, in launch order; prints as a table."""

    call_seconds: float = 0.0
    peaks: Optional[dict] = None

    def __str__(self) -> str:
        total = sum(r.seconds for r in self)
        lines = [f"{'kernel':<24} {'us':>9} {'GFLOP/s':>9} {'GB/s':>8} {'share':>6} "
                 f"{'roofline':>8}  bound"]
        for r in self:
            lines.append(f"{r.name:<24} {r.seconds * 1e6:9.1f} {r.gflops:9.2f} {r.gbps:8.2f}"
                         f" {r.share * 100:5.1f}% {r.roofline * 100:7.1f}%  {r.bound}")
        lines.append(f"{'kernels total':<24} {total * 1e6:9.1f}")
        lines.append(f"{'call (wall clock)':<24} {self.call_seconds * 1e6:9.1f}")
        if self.peaks:
            lines.append(f"roofline of the device: {self.peaks['gflops']:.0f} GFLOP/s (float32 "
                         f"FMA), {self.peaks['gbps']:.1f} GB/s (copy), measured by graphc")
        return "\n".join(lines)


def profile(fn: Any, args: Sequence[Any], repeat: int, roofline: bool = True) -> Profile:
    """Run ``fn(*args)`` ``repeat`` times with OpenCL profiling events; with ``roofline``,
    rate each kernel against the device's peaks (probed once, cached on disk)."""
    import time
    samples: list[list[float]] = []      # per kernel (known once a call has chosen them)
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        events = fn._call(args, timed=True)[1]
        walls.append(time.perf_counter() - start)
        samples += [[] for _ in events[len(samples):]]
        for i, ev in enumerate(events):
            samples[i].append((ev.profile.end - ev.profile.start) * 1e-9)
    medians = [float(np.median(s)) for s in samples]
    total = sum(medians) or 1.0
    report = Profile(KernelTime(k.name, t, k.flops / t / 1e9 if t else 0.0,
                                k.bytes / t / 1e9 if t else 0.0, t / total)
                     for k, t in zip(fn.kernels, medians))
    report.call_seconds = float(np.median(walls))
    if roofline:
        from . import runtime       # inspection of what was built imports no driver
        report.peaks = peaks = runtime.peak_rates(fn.ctx)
        for r, k in zip(report, fn.kernels):
            intensity = k.flops / max(k.bytes, 1)
            attainable = min(peaks["gflops"], intensity * peaks["gbps"])
            r.bound = "compute" if peaks["gflops"] <= intensity * peaks["gbps"] else "memory"
            r.roofline = r.gflops / attainable if attainable else float("nan")
    return report

# }}}


# {{{ graphviz

def to_dot(obj: Any) -> str:
    """Graphviz DOT of a compiled function (nodes clustered by kernel) or of tensors."""
    if isinstance(obj, Tensor):
        obj = [obj]
    if isinstance(obj, (list, tuple)):
        roots, kernels = list(obj), []
    else:
        roots = list(obj.schedule.outputs) + [v for _, v in obj.schedule.updates]
        kernels = obj.kernels
    nodes = toposort(roots)
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    lines = ["digraph graphc {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']

    def node_line(n: Tensor) -> str:
        text = _dot_escape(f"{label(n, depth=1)}\\n{n.dtype}{list(n.shape)}")
        style = ', style=filled, fillcolor="#f4cccc"' if is_backward(n) else ""
        if n.op in LEAVES:
            style = ', shape=ellipse, style=filled, fillcolor="#d9ead3"'
        return f'    {ids[id(n)]} [label="{text}"{style}];'

    placed: set = set()
    for i, k in enumerate(kernels):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{i}: {k.name}";')
        for n in k.nodes:
            if id(n) in ids and id(n) not in placed:
                placed.add(id(n))
                lines.append(node_line(n))
        lines.append("  }")
    for n in nodes:
        if id(n) not in placed:
            lines.append(node_line(n).replace("    ", "  ", 1))
    for n in nodes:
        for s in n.src:
            lines.append(f"  {ids[id(s)]} -> {ids[id(n)]};")
    lines.append("}")
    return "\n".join(lines)


def _dot_escape(text: str) -> str:
    return text.replace('"', '\\"')


def render(obj: Any, path: str) -> str:
    """Write the graph of ``obj`` as a picture with Graphviz's ``dot`` (format from the
    file extension). Graphviz is optional: without ``dot`` this raises RuntimeError."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("gc.render needs Graphviz's `dot` program (e.g. apt-get install "
                           "graphviz); gc.to_dot gives the DOT text without it")
    fmt = path.rsplit(".", 1)[-1] if "." in path else "svg"
    subprocess.run([dot, f"-T{fmt}", "-o", path], input=to_dot(obj).encode(), check=True)
    return path

# }}}


def label_nodes(nodes: Iterable[Tensor], name: str) -> None:
    """Give unnamed ``nodes`` the label ``name`` (labels are not part of node identity)."""
    for n in nodes:
        if n.name is None:
            object.__setattr__(n, "name", name)
