"""How a graphc user tests their own model with pytest on PoCL: `python -m pytest
examples/test_my_model.py`. The `graphc_device` fixture and the two assertions come from
graphc's pytest plugin, installed with graphc."""
import numpy as np

import graphc as gc
from graphc.testing import assert_compiled_matches_reference, assert_grad_close

rng = np.random.default_rng(0)
x = gc.placeholder((8, 4), dtype="float64", name="x")
w = gc.parameter(rng.standard_normal((4, 3)), name="w")
b = gc.parameter(rng.standard_normal(3), name="b")
model = gc.log_softmax(gc.tanh(x @ w + b), axis=1)
data = {x: rng.standard_normal((8, 4))}


def test_forward_on_the_device(graphc_device):
    assert_compiled_matches_reference(model, data, device=graphc_device)


def test_gradients_match_central_differences():
    assert_grad_close(-model.sum(), [w, b], data)
