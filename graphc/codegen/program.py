"""A schedule's kernel specs in launch order, and the program source that holds them."""
from __future__ import annotations

import re
from typing import Callable, Optional

from .. import templates
from ..graph import Tensor
from ..schedule import Schedule
from ..target import CPU, Target
from . import elementwise, matmul, reduce, scan, scatter  # noqa: F401  (register writers)
from .kernel import BufferRef, KernelWriter
from .launches import allreduce_step, rows_kernel

INT_LIMIT = 2 ** 31 - 1


def generate(sched: Schedule, buffer_of: Callable[[Tensor], BufferRef],
             target: Target = CPU, plans: Optional[dict] = None,
             chains: Optional[list] = None) -> list:
    """One ``KernelSpec`` per group of ``sched``, in launch order, shaped for ``target``.

    Parameters
    ----------
    sched : Schedule
        The kernel groups and the views they load.
    buffer_of : callable
        The ``BufferRef`` each materialised node lives in.
    target : Target
        The device description the kernels are shaped for.
    plans : dict, optional
        A plan per ``MatmulProblem.key`` (or per group id); else the cost model's.
    chains : list, optional
        ``row_chains``' [(groups, rows)]: each becomes one ``rows_`` kernel.
    """
    specs = []
    for group in sched.groups:
        for node in group.members():
            if node.numel() > INT_LIMIT:
                raise ValueError(f"{node!r} has more than 2**31 elements; graphc indexes "
                                 "with 32-bit ints")
        if group.kind == "allreduce":
            specs.append(allreduce_step(group, sched, buffer_of))
        else:
            specs.append(KernelWriter(group, sched, buffer_of, target, plans).write())
    starts = sorted(((sched.groups.index(chain[0]), chain, rows) for chain, rows in
                     chains or ()), key=lambda c: c[0], reverse=True)
    for first, chain, rows in starts:            # from the last: earlier indices stay
        members = specs[first:first + len(chain)]
        specs[first:first + len(chain)] = [rows_kernel(members, rows, chain[0].space[0])]
    return specs


_DOUBLE = re.compile(r"\bdouble\d*\b|\(\(double\)")


def program_source(specs: list, node_count: int) -> str:
    """The whole program: preamble (fp64 pragma only when a double appears) and kernels."""
    fp64 = any(_DOUBLE.search(s.source) for s in specs if s.kind != "allreduce")
    pragmas = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if fp64 else ""
    preamble = templates.render("preamble", nodes=node_count, kernels=len(specs),
                                pragmas=pragmas)
    seen, parts = set(), [preamble]
    for spec in specs:
        if spec.kind != "allreduce" and spec.name not in seen:
            seen.add(spec.name)
            parts.append(spec.source)
    return "\n".join(parts)
