"""gc.save / gc.load: bitwise round trips in every dtype, training resumed from a
checkpoint with its optimizer state, atomic writes (a save killed by SIGKILL halfway
leaves the old checkpoint loadable), and loads that fail change nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc import optim

ROOT = Path(__file__).resolve().parents[1]


def _bits(a: np.ndarray) -> bytes:
    return a.dtype.str.encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes()


def _params(seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max])
    return [gc.parameter(rng.standard_normal((3, 4)).astype(np.float32), name="f32"),
            gc.parameter(np.concatenate([special, rng.standard_normal(4)]), name="f64"),
            gc.parameter(rng.integers(-2**62, 2**62, 5), name="i64", dtype="int64"),
            gc.parameter(rng.integers(-2**31, 2**31 - 1, (2, 2)), name="i32", dtype="int32"),
            gc.parameter(rng.random(6) > 0.5, name="mask", dtype="bool"),
            gc.parameter(np.float32(np.pi), name="scalar")]


@pytest.mark.parametrize("as_dict", [False, True])
def test_round_trip_is_bitwise_in_every_dtype(tmp_path, as_dict):
    params = _params()
    saved = [_bits(p.value) for p in params]
    path = tmp_path / "ckpt.npz"
    gc.save(path, {p.name: p for p in params} if as_dict else params)
    for p in params:
        p.set_value(np.zeros(p.shape, p.dtype))
    gc.load(path, {p.name: p for p in params} if as_dict else params)
    assert [_bits(p.value) for p in params] == saved
    with np.load(path) as archive:            # a plain .npz: numpy reads it too
        assert sorted(archive.files) == sorted(p.name for p in params)


def test_a_dict_saves_under_its_own_names(tmp_path):
    w = gc.parameter(np.arange(3.0), name="w")
    gc.save(tmp_path / "c", {"layer.weight": w})
    other = gc.parameter(np.zeros(3), name="somewhere else")
    gc.load(tmp_path / "c", {"layer.weight": other})
    np.testing.assert_array_equal(other.value, np.arange(3.0))


def _trainer(data: dict):
    x = gc.placeholder((8, 4), "float64", name="x")
    w = gc.parameter(data["w"], name="w")
    b = gc.parameter(data["b"], name="b")
    loss = ((gc.tanh(x @ w) + b) ** 2).mean()
    opt = optim.Adam([w, b], lr=0.05, amsgrad=True, name="adam")
    return gc.compile([x], loss, opt.updates(loss)), [w, b] + opt.state_tensors()


def test_training_resumes_bitwise_from_a_checkpoint(tmp_path, has_fp64):
    if not has_fp64:
        pytest.skip("no float64 on this device")
    rng = np.random.default_rng(1)
    data = {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3),
            "x": rng.standard_normal((8, 4))}
    step, tensors = _trainer(data)
    for _ in range(5):
        step(data["x"])
    gc.save(tmp_path / "ckpt", tensors)
    straight = [float(step(data["x"])) for _ in range(5)]

    resumed, fresh = _trainer(data)          # a new model and optimizer, as a new process
    gc.load(tmp_path / "ckpt", fresh)
    assert int(fresh[2].value) == 5          # adam.step
    assert [float(resumed(data["x"])) for _ in range(5)] == straight
    assert [_bits(t.value) for t in fresh] == [_bits(t.value) for t in tensors]


def test_a_save_killed_halfway_leaves_the_old_checkpoint(tmp_path):
    """A child process saves two arrays and is killed by SIGKILL once the first is in its
    file: the checkpoint still holds the old values, whole."""
    path = tmp_path / "ckpt.npz"
    a, b = (gc.parameter(np.full(1000, 1.0), name=n) for n in "ab")
    gc.save(path, [a, b])
    child = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        import graphc as gc
        real = np.lib.format.write_array
        def pausing(*args, **kwargs):
            real(*args, **kwargs)
            print("half", flush=True)
            time.sleep(60)
        np.lib.format.write_array = pausing
        a, b = (gc.parameter(np.full(1000, 2.0), name=n) for n in "ab")
        gc.save({str(path)!r}, [a, b])
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + sys.path))
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"half"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]   # killed mid-write
    a.set_value(np.zeros(1000))
    b.set_value(np.zeros(1000))
    gc.load(path, [a, b])
    np.testing.assert_array_equal(a.value, np.full(1000, 1.0))
    np.testing.assert_array_equal(b.value, np.full(1000, 1.0))


def test_a_save_that_fails_leaves_the_old_checkpoint_and_no_temporary(tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "ckpt"
    w = gc.parameter(np.ones(4), name="w")
    gc.save(path, [w])
    before = path.read_bytes()

    def failing(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        gc.save(path, [w])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt"]


@pytest.mark.parametrize("wrong, error, match", [
    (gc.parameter(np.zeros(3), name="nope"), KeyError, "has no 'nope'"),
    (gc.parameter(np.zeros((4, 3), np.float32), name="f32"), gc.ShapeError,
     r"'f32' is saved with shape \(3, 4\), the parameter has shape \(4, 3\)"),
    (gc.parameter(np.zeros(5), name="i64"), gc.DTypeError,
     "'i64' is saved as int64, the parameter is float64"),
], ids=["name", "shape", "dtype"])
def test_a_load_that_fails_changes_nothing(tmp_path, wrong, error, match):
    """The wrong parameter comes last: every other one would load, and none does."""
    path = tmp_path / "ckpt"
    gc.save(path, _params())
    targets = [t for t in _params(seed=1) if t.name != wrong.name] + [wrong]
    before = [_bits(t.value) for t in targets]
    with pytest.raises(error, match=match):
        gc.load(path, targets)
    assert [_bits(t.value) for t in targets] == before


def test_bad_arguments_are_clear_errors(tmp_path):
    w = gc.parameter(np.ones(2), name="w")
    with pytest.raises(TypeError, match="list of parameters"):
        gc.save(tmp_path / "c", w)
    with pytest.raises(TypeError, match="must be a graphc parameter"):
        gc.save(tmp_path / "c", [w * 2])
    with pytest.raises(ValueError, match="two parameters are named 'w'"):
        gc.save(tmp_path / "c", [w, gc.parameter(np.ones(2), name="w")])
    with pytest.raises(ValueError, match="no parameters to save"):
        gc.save(tmp_path / "c", [])
    assert os.listdir(tmp_path) == []
    gc.save(tmp_path / "c", [w, w])               # the same parameter twice is one
    with pytest.raises(FileNotFoundError):
        gc.load(tmp_path / "missing", [w])


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    gc.save(tmp_path / "c", [gc.parameter(np.ones(2), name="w")])
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o666 & ~umask
