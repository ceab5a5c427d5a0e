"""Data-parallel runs over MPI: ``gc.allreduce`` and ``graphc.distributed``.

In one process ``gc.allreduce`` is the identity; a fake communicator (each "rank" holds the
same values, so a sum doubles them) checks the host path of a compiled call without MPI.
Two tests launch real ranks with ``mpiexec``: the data-parallel seed
(``examples/two_layer_net_mpi.py``) against single-process full-batch training, and an
exception on one rank, which must end the job instead of hanging it. They are skipped where
mpi4py or ``mpiexec`` is missing (``pip install '.[mpi]'`` installs both).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.lower import HostAllreduce, Launch
from graphc import distributed
from graphc.graph import Op, toposort

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _load(name: str):
    """Import ``examples/<name>.py`` by path (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _allreduce_steps(fn) -> list:
    """The host allreduce steps of a compiled function, each a list of values."""
    return [step.values for step in fn.program.steps if isinstance(step, HostAllreduce)]


# {{{ one process

@pytest.mark.parametrize("op", ["sum", "mean"])
def test_identity_in_one_process(op):
    assert distributed.size == 1 and distributed.comm() is None
    x = gc.placeholder((3, 5), name="x")
    a = np.random.default_rng(0).standard_normal((3, 5), dtype=np.float32)
    out = gc.allreduce(x * 2, op)
    assert out.shape == (3, 5) and out.dtype == np.float32
    np.testing.assert_array_equal(gc.compile(inputs=[x], outputs=out)(a), a * 2)
    np.testing.assert_array_equal(gc.evaluate(out, {x: a}), a * 2)


def test_scalar_and_placeholder_directly():
    x = gc.placeholder((4,), name="x")
    a = np.arange(4, dtype=np.float32)
    fn = gc.compile(inputs=[x], outputs=[gc.allreduce(x), gc.allreduce(x.sum())])
    got, total = fn(a)
    np.testing.assert_array_equal(got, a)
    assert float(total) == 6.0


def test_bad_op():
    with pytest.raises(ValueError, match="sum' or 'mean"):
        gc.allreduce(gc.placeholder((2,)), "max")


def test_gradient_is_allreduce_of_cotangent():
    x = gc.placeholder((4, 3), name="x")
    w = gc.parameter(np.ones((3, 2), np.float32), name="w")
    # linear in the allreduce: an allreduce in the gradient's graph is the cotangent's
    linear = gc.grad(gc.allreduce(x.mm(w), "sum").sum(), w)
    assert any(n.op is Op.ALLREDUCE for n in toposort([linear]))
    g = gc.grad(gc.allreduce(x.mm(w), "sum").pow(2).sum(), w)
    plain = gc.grad(x.mm(w).pow(2).sum(), w)
    a = np.random.default_rng(1).standard_normal((4, 3), dtype=np.float32)
    want = gc.evaluate(plain, {x: a})
    np.testing.assert_allclose(gc.evaluate(g, {x: a}), want, rtol=1e-6)
    np.testing.assert_allclose(gc.compile(inputs=[x], outputs=g)(a), want, rtol=1e-5)


def test_allreduces_at_one_point_form_one_host_step():
    x = gc.placeholder((8, 4), name="x")
    w = gc.parameter(np.full((4, 3), 0.5, np.float32), name="w")
    v = gc.parameter(np.full((3,), 0.25, np.float32), name="v")
    loss = (x.mm(w) * v).pow(2).sum()
    gw, gv = gc.grad(loss, [w, v])
    gw, gv, loss_all = (gc.allreduce(t, "sum") for t in (gw, gv, loss))
    fn = gc.compile(inputs=[x], outputs=[loss_all],
                    updates={w: w - 0.01 * gw, v: v - 0.01 * gv})
    steps = _allreduce_steps(fn)
    assert len(steps) == 1, fn.program.steps
    assert sorted(v.node.shape for v in steps[0]) == [(), (3,), (4, 3)]
    # The host step sits between the gradient kernels and the update kernels.
    kinds = [type(step) for step in fn.program.steps]
    assert kinds[0] is Launch and kinds[-1] is Launch


def test_allreduce_of_a_view():
    x = gc.placeholder((3, 4), name="x")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = gc.allreduce(x.T, "sum")
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(gc.compile(inputs=[x], outputs=out)(a), a.T)
    np.testing.assert_array_equal(gc.evaluate(out, {x: a}), a.T)
    g = gc.grad(gc.allreduce(x.T, "mean").sum() * 3, x)
    np.testing.assert_array_equal(gc.compile(inputs=[x], outputs=g)(a), np.full((3, 4), 3))


class _FakeComm:
    """Two ranks holding the same values: a sum doubles them. Records each message's size."""

    def __init__(self):
        self.messages = []

    def Allreduce(self, sendbuf, recvbuf, op=None):  # noqa: N802 (mpi4py's name)
        self.messages.append(recvbuf.size)
        recvbuf *= 2


@pytest.fixture
def two_fake_ranks(monkeypatch):
    pytest.importorskip("mpi4py")
    fake = _FakeComm()
    monkeypatch.setattr(distributed, "comm", lambda: fake)
    monkeypatch.setattr(distributed, "size", 2)
    return fake


def test_host_step_combines_in_one_message(two_fake_ranks):
    x = gc.placeholder((3, 4), name="x")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    fn = gc.compile(inputs=[x], outputs=[gc.allreduce(x * 2, "sum"), gc.allreduce(x.sum(0)),
                                         gc.allreduce(x + 1, "mean")])
    doubled, col, mean = fn(a)
    np.testing.assert_array_equal(doubled, 4 * a)
    np.testing.assert_array_equal(col, 2 * a.sum(0))
    np.testing.assert_array_equal(mean, a + 1)
    # one message per op at this point: both sums in one flat buffer, then the mean
    assert sorted(two_fake_ranks.messages) == [12, 12 + 4]


def test_evaluate_combines(two_fake_ranks):
    x = gc.placeholder((3, 4), name="x")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(gc.evaluate(gc.allreduce(x, "sum"), {x: a}), 2 * a)
    np.testing.assert_array_equal(gc.evaluate(gc.allreduce(x, "mean"), {x: a}), a)


def test_evaluate_combines_a_view(two_fake_ranks):
    x = gc.placeholder((3, 4), name="x")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(gc.evaluate(gc.allreduce(x.T, "sum"), {x: a}), 2 * a.T)


def test_example_in_one_process():
    """The data-parallel example in one process is the seed, with one allreduce step."""
    run = _load("two_layer_net_mpi").train(steps=3, verbose=False)
    steps = _allreduce_steps(run["function"])
    assert len(steps) == 1 and len(steps[0]) == 3      # g1, g2 and the loss together
    losses, w1, w2 = _load("two_layer_net").train(steps=3, verbose=False)
    np.testing.assert_allclose(run["losses"], losses, rtol=1e-5)
    np.testing.assert_allclose(run["w1"], w1, rtol=0, atol=1e-5 * np.abs(w1).max())

# }}}


# {{{ several processes

def _mpiexec() -> str:
    """``mpiexec`` beside this Python (the mpich wheel's), else on PATH; skip without."""
    pytest.importorskip("mpi4py")
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install '.[mpi]')")
    return found


def _launch(ranks: int, args: list, timeout: float, cwd: Path) -> tuple[int, str, str, float]:
    """``mpiexec -n ranks python -m mpi4py args``; the whole job is killed at ``timeout``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH")] if p)
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", *map(str, args)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} still ran after {timeout} s:\n{out[-3000:]}{err[-3000:]}")
    return proc.returncode, out, err, time.monotonic() - start


@pytest.mark.slow
def test_two_ranks_train_like_one_process(tmp_path):
    steps = 20
    code, out, err, _ = _launch(2, [EXAMPLES / "two_layer_net_mpi.py", "--steps", steps,
                                    "--save", tmp_path], timeout=120, cwd=tmp_path)
    assert code == 0, out[-3000:] + err[-3000:]
    assert len(out.splitlines()) == steps            # rank 0 alone prints `t loss`
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for name in ("w1", "w2", "losses"):                # the same bits on every rank
        assert np.array_equal(ranks[0][name], ranks[1][name]), name

    losses, w1, w2 = _load("two_layer_net").train(steps=steps, verbose=False)
    # Float32 rounding: the ranks add the gradient's rows in two halves, then the halves.
    # Measured: max |w_mpi - w_single| = 4.8e-7, 1.6e-7 of max |w|, the size of the
    # single-process run's own distance from float64 (2.5e-7 of max |w|). 1e-5 of max |w|
    # leaves room for other devices and is far below what 20 steps change (5% of w1,
    # 30% of w2): a wrong reduction (a mean, or no allreduce at all) fails it.
    for name, want in (("w1", w1), ("w2", w2)):
        err_max = np.abs(ranks[0][name] - want).max() / np.abs(want).max()
        assert err_max < 1e-5, (name, err_max)
    np.testing.assert_allclose(ranks[0]["losses"], losses, rtol=1e-4)


FAILING_RANK = """
import sys
import numpy as np
import graphc as gc
from graphc import distributed

x = gc.placeholder((4,), name="x")
fn = gc.compile(inputs=[x], outputs=gc.allreduce(x, "sum"))
if sys.argv[1] == "after-first-allreduce":
    fn(np.ones(4, np.float32))
if distributed.rank == 1:
    raise RuntimeError("rank 1 fails")
fn(np.ones(4, np.float32))      # rank 0 waits here for rank 1, unless the job is ended
print("rank", distributed.rank, "was not stopped")
"""


def _failing_job(tmp_path: Path, when: str, timeout: float) -> None:
    script = tmp_path / "failing_rank.py"
    script.write_text(FAILING_RANK)
    code, out, err, seconds = _launch(2, [script, when], timeout=timeout, cwd=tmp_path)
    assert code != 0
    assert "was not stopped" not in out
    assert "rank 1 fails" in err
    assert seconds < timeout


@pytest.mark.slow
def test_exception_on_one_rank_ends_the_job(tmp_path):
    _failing_job(tmp_path, "after-first-allreduce", timeout=60)


@pytest.mark.slow
def test_exception_before_the_first_allreduce_ends_the_job(tmp_path):
    _failing_job(tmp_path, "before-first-allreduce", timeout=15)

# }}}
