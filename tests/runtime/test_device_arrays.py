"""pyopencl arrays as inputs: produced on another queue, or with a released buffer."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pyopencl as cl
import pyopencl.array as cl_array

import graphc as gc


def test_an_array_produced_on_another_queue_is_read_once_done():
    """``a.fill(1)`` on a second queue is still running when the call starts: the call
    waits for it (and for ``a * 2``, made on that queue too) before its kernels read."""
    n = 1 << 22
    x = gc.placeholder((n,), name="x")
    f = gc.compile([x], [x.sum()])
    other = cl.CommandQueue(f.ctx.context)
    for _ in range(5):
        a = cl_array.zeros(other, n, np.float32)
        a.fill(1)
        (total,) = f(a * 2)
        assert float(total) == 2 * n


def test_an_array_written_on_another_queue_without_events():
    """A copy into the array's buffer on its queue records no event in the array: the call
    still waits for that queue."""
    n = 1 << 22
    x = gc.placeholder((n,), name="x")
    f = gc.compile([x], [x.sum()])
    other = cl.CommandQueue(f.ctx.context)
    a = cl_array.empty(other, n, np.float32)
    cl.enqueue_copy(other, a.data, np.ones(n, np.float32), is_blocking=False)
    assert float(f(a)[0]) == n


def test_an_array_whose_buffer_was_released_is_refused():
    """Reading a released buffer aborts PoCL, so the check runs in a child process: it
    must end with a clear ValueError, not a crash."""
    script = textwrap.dedent("""
        import numpy as np, pyopencl.array as cl_array, graphc as gc
        x = gc.placeholder((16,), name="x")
        f = gc.compile([x], [x * 2])
        a = cl_array.zeros(f.queue, 16, np.float32)
        a.data.release()
        try:
            f(a)
        except ValueError as e:
            print("refused:", e)
    """)
    root = os.path.dirname(os.path.dirname(gc.__file__))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: input 'x': the pyopencl array's buffer was released" in done.stdout
