"""Kernel groups -> OpenCL C source. Needs no device: the output is text.

``kernel`` holds the kernel spec and the writer core (arguments, kernel IR bodies over
``space``'s index spaces, rendering); ``elementwise``, ``reduce`` and ``matmul`` each
register the skeleton writer of their group kind (``matmul_model`` chooses matmul tiles);
``launches`` chains matmuls by rows and shares launches, as passes over kernel specs;
``program`` generates a schedule's kernels and the program source.
"""
from __future__ import annotations

# codegen.Target, codegen.CPU and codegen.TINY_REDUCTION, as before the move
from ..target import CPU, TINY_REDUCTION, Target  # noqa: F401
from .kernel import BufferRef, KernelSpec, KernelWriter, Skeleton, WRITERS, writes  # noqa: F401
from .launches import (  # noqa: F401
    CHAIN_MAX_MACS, LAUNCH_SHARE_BYTES, LAUNCH_SHARE_FLOPS, ROW_BLOCKS_PER_CORE,
    merge_launches, row_chains)
from .matmul import (  # noqa: F401
    MatmulProblem, _matmul_geometry, bare_matmul, matmul_plans, matmul_problems,
    panel_width)
from .matmul_model import _matmul_plan, _matmul_plans_gpu  # noqa: F401
from .program import INT_LIMIT, generate, program_source  # noqa: F401
from .space import _Space, unravel  # noqa: F401
