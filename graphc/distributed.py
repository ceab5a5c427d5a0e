"""Data-parallel runs over MPI: rank, size, the communicator, and per-rank setup.

``graphc`` imports this module before pyopencl, so that under an MPI launcher (mpiexec,
srun) each rank gets, before PoCL starts:

- its own ``POCL_CACHE_DIR`` and ``XDG_CACHE_HOME`` (a PoCL cache shared by concurrent
  builds makes some of them fail);
- PoCL's thread count capped at cores / ranks on the node (``POCL_MAX_PTHREAD_COUNT``, and
  ``POCL_CPU_MAX_CU_COUNT`` for newer PoCL), so ranks do not fight over cores.

Variables the user set are respected. mpi4py is imported only when the communicator is
first needed; without it (or outside a launcher) graphc runs as one process of size 1.
Launch with ``mpiexec -n 2 python -m mpi4py script.py`` (with ``-m mpi4py`` an exception on
one rank aborts them all instead of leaving the others waiting). Never fork a process
after PoCL started: the child hangs.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional

import numpy as np

# (rank, size, local rank, local size) variables of common launchers
_LAUNCHERS = [
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),            # MPICH hydra
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"),                                            # Open MPI
    ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),
]


def _launcher() -> Optional[tuple[int, int, int, int]]:
    env = os.environ
    for rank, size, local, local_size in _LAUNCHERS:
        if rank in env and size in env:
            n = int(env[size])
            return (int(env[rank]), n, int(env.get(local, env[rank])),
                    int(env.get(local_size, n)))
    return None


_found = _launcher()
rank, size, local_rank, local_size = _found if _found else (0, 1, 0, 1)


def setup_environment() -> None:
    """Per-rank PoCL settings; a no-op in a single process. Runs at ``import graphc``."""
    if size <= 1:
        return
    env = os.environ
    base = env.get("POCL_CACHE_DIR") or os.path.join(tempfile.gettempdir(),
                                                     f"graphc-pocl-{os.getuid()}")
    env["POCL_CACHE_DIR"] = os.path.join(base, f"rank{rank}")
    xdg = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    env["XDG_CACHE_HOME"] = os.path.join(xdg, f"graphc-rank{rank}")
    threads = str(max(1, (os.cpu_count() or 1) // max(local_size, 1)))
    env.setdefault("POCL_MAX_PTHREAD_COUNT", threads)
    env.setdefault("POCL_CPU_MAX_CU_COUNT", threads)


setup_environment()

_comm: Any = None


def comm() -> Any:
    """The MPI communicator (``MPI.COMM_WORLD``), or None in a single process."""
    global _comm
    if _comm is None and size > 1:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError("graphc runs under an MPI launcher but mpi4py is missing: "
                              "pip install 'graphc[mpi]'") from e
        _comm = MPI.COMM_WORLD
    return _comm


if size > 1:
    # Load MPI now, not at the first allreduce: `python -m mpi4py` can only abort the other
    # ranks when one fails if mpi4py.MPI is loaded (else they wait forever).
    try:
        comm()
    except ImportError:
        pass


def allreduce_arrays(arrays: list, op: str) -> None:
    """Combine ``arrays`` (float, contiguous) in place across ranks, in one message."""
    c = comm()
    if c is None or not arrays:
        return
    from mpi4py import MPI
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if len(arrays) > 1 else \
        arrays[0].reshape(-1)
    c.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
    if op == "mean":
        flat /= size
    if len(arrays) > 1:
        start = 0
        for a in arrays:
            a.reshape(-1)[:] = flat[start:start + a.size]
            start += a.size
