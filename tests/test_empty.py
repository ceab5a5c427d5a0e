"""Empty tensors: empty selections and slices, and what meets them, as numpy and torch.

An empty result does not depend on the values of its inputs, so graphc builds it as an
empty constant: no kernel has an empty index space, an empty output costs no kernel, and
what an empty tensor reduces to (a sum of nothing, a matmul over an empty axis) is a
constant too. Compiled results, gc.evaluate and torch agree, forward and backward."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")
F = torch.nn.functional

NONE = np.zeros(0, np.int64)

# (name, graphc(x, idx), torch(x, idx)); x is (5, 3), idx an empty int64 index
CASES = [
    ("x[idx]", lambda x, i: x[i], lambda x, i: x[i]),
    ("x[idx, idx]", lambda x, i: x[i, i], lambda x, i: x[i, i]),
    ("x[:, idx]", lambda x, i: x[:, i], lambda x, i: x[:, i]),
    ("x[2:2]", lambda x, i: x[2:2], lambda x, i: x[2:2]),
    ("x[::-1][4:1]", lambda x, i: x[::-1][4:1], lambda x, i: x.flip(0)[4:1]),
    ("take", lambda x, i: gc.take(x, i), lambda x, i: torch.take(x, i)),
    ("index_select", lambda x, i: gc.index_select(x, 1, i),
     lambda x, i: torch.index_select(x, 1, i)),
    ("gather", lambda x, i: gc.gather(x, 0, gc.zeros((0, 3), dtype="int64")),
     lambda x, i: torch.gather(x, 0, torch.zeros((0, 3), dtype=torch.int64))),
    ("embedding", lambda x, i: gc.embedding(i, x), lambda x, i: F.embedding(i, x)),
    ("sum of nothing", lambda x, i: x[i].sum(0), lambda x, i: x[i].sum(0)),
    ("prod of nothing", lambda x, i: x[i].prod(0), lambda x, i: x[i].prod(0)),
    ("mean of nothing", lambda x, i: x[i].mean(0), lambda x, i: x[i].mean(0)),
    ("cat with empty", lambda x, i: gc.cat([x[i], x, x[3:3]]),
     lambda x, i: torch.cat([x[i], x, x[3:3]])),
    ("stack of empties", lambda x, i: gc.stack([x[i], x[i]]),
     lambda x, i: torch.stack([x[i], x[i]])),
    ("matmul over nothing", lambda x, i: x[:, i] @ gc.zeros((0, 4), dtype=x.dtype),
     lambda x, i: x[:, i] @ torch.zeros((0, 4), dtype=x.dtype)),
    ("matmul of no rows", lambda x, i: x[i] @ gc.ones((3, 2), dtype=x.dtype),
     lambda x, i: x[i] @ torch.ones((3, 2), dtype=x.dtype)),
    ("index_add of nothing", lambda x, i: gc.index_add(x, 0, i, x[i] * 2),
     lambda x, i: x.index_add(0, i, x[i] * 2)),
    ("scatter_add of nothing", lambda x, i: gc.scatter_add(
        x, 0, gc.zeros((0, 3), dtype="int64"), x[i]),
     lambda x, i: x.scatter_add(0, torch.zeros((0, 3), dtype=torch.int64), x[i])),
    ("elementwise of empty", lambda x, i: gc.exp(x[i]) * 2 + x[i],
     lambda x, i: torch.exp(x[i]) * 2 + x[i]),
    ("cumsum of empty", lambda x, i: gc.cumsum(x[i], 0), lambda x, i: torch.cumsum(x[i], 0)),
    ("cross_entropy sum", lambda x, i: gc.cross_entropy(x[i], i, reduction="sum"),
     lambda x, i: F.cross_entropy(x[i], i, reduction="sum")),
    ("arange", lambda x, i: gc.arange(4, 2) + x.sum(),          # empty, as numpy's
     lambda x, i: torch.arange(0) + x.sum()),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, ours, theirs", CASES, ids=[c[0] for c in CASES])
def test_empty_matches_torch_forward_and_backward(name, ours, theirs, dtype):
    x = gc.placeholder((5, 3), dtype, name="x")
    idx = gc.placeholder((0,), "int64", name="idx")
    value = np.arange(15, dtype=dtype).reshape(5, 3) / 7
    y = ours(x, idx)
    cost = gc.sum(y * y) if y.dtype.kind == "f" else gc.sum(y.float())
    outputs = [y, gc.grad(cost, x)]
    got = gc.compile([x, idx], outputs)(value, NONE)
    ev = gc.evaluate(outputs, {x: value, idx: NONE})
    xt = torch.tensor(value, requires_grad=True)
    want = theirs(xt, torch.tensor(NONE))
    (want * want).sum().backward()
    for g in (got, ev):
        assert g[0].shape == tuple(want.shape), name
        np.testing.assert_allclose(g[0], want.detach().numpy(), rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(g[1], xt.grad.numpy(), rtol=1e-6, err_msg=name)
        assert g[0].dtype == np.dtype(str(want.dtype).replace("torch.", "")), name


def test_empty_inputs_and_outputs_cost_no_kernel():
    x = gc.placeholder((0, 3), name="x")
    w = gc.parameter(np.ones((3, 2), np.float32), name="w")
    y = x @ w
    fn = gc.compile([x], [y, y.sum(), gc.grad(y.sum(), w)])
    out, total, grad = fn(np.zeros((0, 3), np.float32))
    assert out.shape == (0, 2) and total == 0 and np.all(grad == 0)
    assert all(k.global_size and all(d > 0 for d in k.global_size) for k in fn.kernels)
    device = gc.compile([x], y, device_outputs=True)(np.zeros((0, 3), np.float32))
    assert device.shape == (0, 2)


def test_a_maximum_of_nothing_is_an_error():
    x = gc.placeholder((0, 3), name="x")
    with pytest.raises(ValueError, match=r"max: the tensor of shape \(0, 3\) is empty"):
        x.max(0)
    assert x.max(1).shape == (0,)           # over a non-empty axis of an empty tensor
