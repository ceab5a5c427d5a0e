"""``graphc.optim``: torch.optim's optimizers as builders of a compiled step's updates.

    opt = graphc.optim.Adam([w1, w2], lr=1e-3)
    step = gc.compile([x, y], [loss], updates=opt.updates(loss))

Each optimizer keeps its state (moments, momentum buffers, a step counter) as graphc
parameters, on the device; ``opt.state_tensors()`` lists them for ``gc.save``. Any
hyperparameter may be a 0-d placeholder (``lr=gc.placeholder((), name="lr")``), fed at
each call: a schedule then changes it with no new build.
"""
from __future__ import annotations

from .algorithms import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from .clip import clip_grad_norm, get_total_norm
from .optimizer import Optimizer

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop",
           "clip_grad_norm", "get_total_norm"]
