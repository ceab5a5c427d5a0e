"""graphc.optim against torch.optim: each optimizer and option over 100 compiled steps of
a small float64 MLP, the same initial weights and data: losses and final weights within
1e-9 relative error. Also: a 0-d placeholder lr changed every epoch with no new build,
the seed with Adam in two launches, clip_grad_norm against torch's, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import optim, runtime

torch = pytest.importorskip("torch")

STEPS = 100


@pytest.fixture(autouse=True)
def _float64(has_fp64):
    if not has_fp64:
        pytest.skip("the comparisons with torch run in float64; this device has none")


RTOL = 1e-9
SHAPES = {"w1": (5, 8), "b1": (8,), "w2": (8, 3), "b2": (3,)}


def _data(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal(shape) * 0.5 for name, shape in SHAPES.items()}
    arrays["x"] = rng.standard_normal((16, 5))
    arrays["y"] = rng.standard_normal((16, 3))
    return arrays


def _graphc_mlp(data: dict):
    params = {name: gc.parameter(data[name], name=name) for name in SHAPES}
    x = gc.placeholder((16, 5), "float64", name="x")
    y = gc.placeholder((16, 3), "float64", name="y")
    h = gc.tanh(x @ params["w1"] + params["b1"])
    loss = gc.mse_loss(h @ params["w2"] + params["b2"], y)
    return params, x, y, loss


def _torch_mlp(data: dict):
    params = {name: torch.tensor(data[name], requires_grad=True) for name in SHAPES}
    x, y = torch.tensor(data["x"]), torch.tensor(data["y"])

    def loss():
        h = torch.tanh(x @ params["w1"] + params["b1"])
        return torch.nn.functional.mse_loss(h @ params["w2"] + params["b2"], y)
    return params, loss


def _torch_run(name: str, kwargs: dict, data: dict, groups=None, steps: int = STEPS):
    params, loss_fn = _torch_mlp(data)
    opt = getattr(torch.optim, name)(
        groups(params) if groups else list(params.values()), **kwargs)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), {k: v.detach().numpy() for k, v in params.items()}


def _graphc_run(name: str, kwargs: dict, data: dict, groups=None, steps: int = STEPS,
                **compile_options):
    params, x, y, loss = _graphc_mlp(data)
    opt = getattr(optim, name)(groups(params) if groups else list(params.values()),
                               **kwargs)
    fn = gc.compile([x, y], loss, opt.updates(loss), **compile_options)
    losses = np.array([float(fn(data["x"], data["y"])) for _ in range(steps)])
    return losses, {k: v.value for k, v in params.items()}, opt


def _assert_close(got, want, what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.max(np.abs(want)),
                               err_msg=what)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.001, maximize=True, eps=1e-6)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.001)),
    ("RMSprop", dict(lr=0.001, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.001, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01,
                     initial_accumulator_value=0.1, eps=1e-8)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01, maximize=True)),
]


@pytest.mark.parametrize("name, kwargs", CASES,
                         ids=[f"{n}-{'-'.join(k) or 'defaults'}" for n, k in CASES])
def test_optimizer_matches_torch_over_100_steps(name, kwargs):
    data = _data()
    got_losses, got, _ = _graphc_run(name, kwargs, data)
    want_losses, want = _torch_run(name, kwargs, data)
    _assert_close(got_losses, want_losses, f"{name} {kwargs}: losses")
    for key in SHAPES:
        _assert_close(got[key], want[key], f"{name} {kwargs}: final {key}")


def test_param_groups_take_their_own_options():
    def groups(params):
        return [{"params": [params["w1"], params["w2"]], "weight_decay": 0.1},
                {"params": [params["b1"], params["b2"]], "lr": 0.05, "betas": (0.5, 0.9)}]
    data = _data(1)
    got_losses, got, opt = _graphc_run("Adam", dict(lr=0.01), data, groups)
    want_losses, want = _torch_run("Adam", dict(lr=0.01), data, groups)
    _assert_close(got_losses, want_losses, "losses")
    for key in SHAPES:
        _assert_close(got[key], want[key], f"final {key}")
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.05]
    # each group has its own powers of its betas; all share one step counter
    assert opt.state[opt.params[0]]["step"] is opt.state[opt.params[-1]]["step"]
    assert opt.state[opt.params[0]]["beta1_power"] is not opt.state[opt.params[-1]][
        "beta1_power"]


class _Builds:
    """Counts the OpenCL programs built (pyopencl.Program made) while it is active."""

    def __init__(self, monkeypatch):
        self.count = 0
        made = runtime.cl.Program

        def counting(*args, **kwargs):
            self.count += 1
            return made(*args, **kwargs)
        monkeypatch.setattr(runtime.cl, "Program", counting)


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(momentum=0.9)), ("Adam", {})])
def test_lr_placeholder_schedule_needs_no_new_build(name, kwargs, monkeypatch):
    """lr changed every epoch, 10 epochs of 5 steps: one compiled function, 0 builds."""
    data = _data(2)
    schedule = [0.05 * 0.8 ** epoch for epoch in range(10)]
    params, x, y, loss = _graphc_mlp(data)
    lr = gc.placeholder((), "float64", name="lr")
    opt = getattr(optim, name)(list(params.values()), lr=lr, **kwargs)
    fn = gc.compile([x, y, lr], loss, opt.updates(loss))
    builds = _Builds(monkeypatch)
    got = [float(fn(data["x"], data["y"], value)) for value in schedule for _ in range(5)]
    assert builds.count == 0

    tparams, loss_fn = _torch_mlp(data)
    topt = getattr(torch.optim, name)(list(tparams.values()), lr=schedule[0], **kwargs)
    want = []
    for value in schedule:
        for group in topt.param_groups:
            group["lr"] = value
        for _ in range(5):
            topt.zero_grad()
            t = loss_fn()
            t.backward()
            topt.step()
            want.append(t.item())
    _assert_close(np.array(got), np.array(want), "losses")
    for key in SHAPES:
        _assert_close(params[key].value, tparams[key].detach().numpy(), f"final {key}")


def test_every_hyperparameter_may_be_a_placeholder():
    """Adam's betas, eps and weight decay fed at each call give torch's numbers with them
    as floats."""
    data = _data(3)
    params, x, y, loss = _graphc_mlp(data)
    names = ["lr", "beta1", "beta2", "eps", "weight_decay"]
    fed = dict(zip(names, (0.01, 0.8, 0.99, 1e-6, 0.05)))
    hp = {n: gc.placeholder((), "float64", name=n) for n in names}
    opt = optim.Adam(list(params.values()), lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                     eps=hp["eps"], weight_decay=hp["weight_decay"])
    fn = gc.compile([x, y] + [hp[n] for n in names], loss, opt.updates(loss))
    got = [float(fn(data["x"], data["y"], *fed.values())) for _ in range(30)]
    want, _ = _torch_run("Adam", dict(lr=fed["lr"], betas=(fed["beta1"], fed["beta2"]),
                                      eps=fed["eps"], weight_decay=fed["weight_decay"]),
                         data, steps=30)
    _assert_close(np.array(got), want, "losses")


def test_float32_placeholder_lr_steps_float64_weights():
    data = _data(4)
    params, x, y, loss = _graphc_mlp(data)
    lr = gc.placeholder((), name="lr")
    opt = optim.SGD(list(params.values()), lr=lr)
    fn = gc.compile([x, y, lr], loss, opt.updates(loss))
    got = [float(fn(data["x"], data["y"], np.float32(0.125))) for _ in range(10)]
    want, _ = _torch_run("SGD", dict(lr=0.125), data, steps=10)
    _assert_close(np.array(got), want, "losses")


def test_not_transactional_gives_the_same_steps():
    data = _data(5)
    kwargs = dict(lr=0.01, amsgrad=True)
    first, got, _ = _graphc_run("Adam", kwargs, data, steps=20)
    second, again, _ = _graphc_run("Adam", kwargs, data, steps=20, transactional=False)
    np.testing.assert_array_equal(first, second)
    for key in SHAPES:
        np.testing.assert_array_equal(got[key], again[key])


def test_state_lives_in_parameters_shared_by_every_function():
    """updates() twice gives the same state tensors: two compiled functions (here a step
    and the same step again) advance one optimizer; the step counter counts both."""
    data = _data(6)
    params, x, y, loss = _graphc_mlp(data)
    opt = optim.Adam(list(params.values()), lr=0.01, name="opt")
    first, second = (gc.compile([x, y], loss, opt.updates(loss)) for _ in range(2))
    got = [float(f(data["x"], data["y"])) for _ in range(5) for f in (first, second)]
    want, _ = _torch_run("Adam", dict(lr=0.01), data, steps=10)
    _assert_close(np.array(got), want, "losses")
    assert int(opt.step_count.value) == 10
    names = sorted(t.name for t in opt.state_tensors())
    assert names == sorted(["opt.step", "opt.0.beta1_power", "opt.0.beta2_power"] + [
        f"{p}.{key}" for p in SHAPES for key in ("exp_avg", "exp_avg_sq")])


def test_parameter_the_loss_does_not_read_is_not_updated():
    """torch skips a parameter whose grad is None; so does updates(loss)."""
    w = gc.parameter(np.ones(3), name="w")
    unused = gc.parameter(np.ones(3), name="unused")
    opt = optim.AdamW([w, unused])
    new = opt.updates((w * w).sum())
    assert w in new and unused not in new and opt.state[unused]["exp_avg"] not in new


def test_updates_from_given_gradients():
    data = _data(7)
    params, x, y, loss = _graphc_mlp(data)
    opt = optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    grads = gc.grad(loss, opt.params)
    by_list = opt.updates(grads=grads)
    by_map = opt.updates(grads=dict(zip(opt.params, grads)))
    assert all(by_list[k] is by_map[k] for k in by_list) and len(by_list) == len(by_map)
    assert all(by_list[k] is v for k, v in opt.updates(loss).items())


SEED_CASES = [("SGD", dict(lr=1e-6, momentum=0.9, nesterov=True, weight_decay=1e-4)),
              ("Adam", {}), ("Adam", dict(amsgrad=True, lr="placeholder")), ("AdamW", {}),
              ("RMSprop", dict(centered=True, momentum=0.9)), ("Adagrad", dict(lr_decay=0.1)),
              ("Adadelta", {})]


@pytest.mark.parametrize("name, kwargs", SEED_CASES, ids=[n for n, _ in SEED_CASES])
def test_seed_step_with_an_optimizer_is_two_launches_on_a_cpu(name, kwargs):
    """The state updates are epilogues of the matmuls that write the weights; the step
    counter (and Adam's powers of its betas) a 0-d kernel in the same launch; every update
    written in place. Lowered for a CPU description, no device."""
    rng = np.random.default_rng(0)
    x, y = gc.placeholder((64, 1000), name="x"), gc.placeholder((64, 10), name="y")
    w1 = gc.parameter(rng.standard_normal((1000, 100)).astype(np.float32), name="w1")
    w2 = gc.parameter(rng.standard_normal((100, 10)).astype(np.float32), name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
    if kwargs.get("lr") == "placeholder":
        kwargs = dict(kwargs, lr=gc.placeholder((), name="lr"))
    opt = getattr(optim, name)([w1, w2], **kwargs)
    updates = opt.updates(loss)
    cpu = gc.codegen.Target("cpu", compute_units=2, max_group=4096)
    program = gc.lower([loss], updates, cpu)
    assert [k.kind for k in program.kernels] == ["rows", "launch"]
    assert program.copies == []
    written = {ref.node.name: part.kind for k in program.kernels for part in k.parts
               for ref in part.written if ref.kind == "spare"}
    assert written == {p.name: "matmul" if p.ndim else "elementwise" for p in updates}


@pytest.mark.parametrize("norm_type, max_norm", [(2.0, 0.5), (1.0, 0.5), (3.0, 0.5),
                                                 ("inf", 0.5), (2.0, 100.0)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    data = _data(8)
    params, x, y, loss = _graphc_mlp(data)
    grads = gc.grad(loss, list(params.values()))
    clipped = optim.clip_grad_norm(grads, max_norm, norm_type)
    total = optim.get_total_norm(grads, norm_type)
    fn = gc.compile([x, y], clipped + [total])
    *got, got_total = fn(data["x"], data["y"])

    tparams, loss_fn = _torch_mlp(data)
    loss_fn().backward()
    want_total = torch.nn.utils.clip_grad_norm_(list(tparams.values()), max_norm, norm_type)
    _assert_close(got_total, want_total.numpy(), "total norm")
    for g, p in zip(got, tparams.values()):
        _assert_close(g, p.grad.numpy(), "clipped gradient")


def test_clipped_gradients_train_as_torch():
    data = _data(9)
    params, x, y, loss = _graphc_mlp(data)
    opt = optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    clipped = optim.clip_grad_norm(gc.grad(loss, opt.params), 0.1)
    fn = gc.compile([x, y], loss, opt.updates(grads=clipped))
    got = [float(fn(data["x"], data["y"])) for _ in range(20)]

    tparams, loss_fn = _torch_mlp(data)
    topt = torch.optim.SGD(list(tparams.values()), lr=0.1, momentum=0.9)
    want = []
    for _ in range(20):
        topt.zero_grad()
        t = loss_fn()
        t.backward()
        torch.nn.utils.clip_grad_norm_(list(tparams.values()), 0.1)
        topt.step()
        want.append(t.item())
    _assert_close(np.array(got), np.array(want), "losses")


def _w():
    return gc.parameter(np.ones((2, 3)), name="w")


@pytest.mark.parametrize("build, error, match", [
    (lambda: optim.SGD([_w()], lr=-1.0), ValueError, "SGD: invalid lr: -1.0"),
    (lambda: optim.Adam([_w()], betas=(1.0, 0.9)), ValueError,
     r"invalid betas\[0\]: 1.0 \(it must satisfy 0.0 <= betas\[0\] < 1.0\)"),
    (lambda: optim.Adam([_w()], betas=(0.9,)), ValueError, "betas must be a pair"),
    (lambda: optim.SGD([_w()], nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda: optim.SGD([_w()], momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "zero dampening"),
    (lambda: optim.Adadelta([_w()], rho=1.5), ValueError, "rho"),
    (lambda: optim.SGD(_w()), TypeError, "list of parameters"),
    (lambda: optim.SGD([]), ValueError, "empty parameter list"),
    (lambda: optim.SGD([_w() * 2]), TypeError, r"params\[0\] must be a graphc parameter"),
    (lambda: optim.SGD([gc.parameter(np.ones(2, np.int64), dtype="int64")]), TypeError,
     "only float parameters"),
    (lambda: optim.SGD([{"params": [_w()], "momentun": 0.9}]), TypeError,
     "unknown option.*'momentun'"),
    (lambda: optim.SGD([{"lr": 0.1}]), ValueError, "has no 'params'"),
    (lambda: optim.Adam([_w()], lr=gc.placeholder((2,))), ValueError, "0-d tensor"),
    (lambda: optim.Adam([_w()], lr="0.1"), TypeError, "lr must be a number"),
    (lambda: optim.Adagrad([_w()], initial_accumulator_value=gc.placeholder(())),
     TypeError, "give a number"),
])
def test_bad_arguments_are_clear_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_a_parameter_listed_twice_is_an_error():
    w = _w()
    with pytest.raises(ValueError, match="'w' appears in more than one place"):
        optim.Adam([{"params": [w]}, {"params": [w], "lr": 0.1}])


def test_bad_gradients_are_clear_errors():
    w, v = _w(), gc.parameter(np.ones(3), name="v")
    opt = optim.SGD([w, v], lr=0.1)
    with pytest.raises(TypeError, match="either loss or grads=, not neither"):
        opt.updates()
    with pytest.raises(TypeError, match="not both"):
        opt.updates((w * w).sum(), grads=[w, v])
    with pytest.raises(ValueError, match="1 gradients for 2 parameters"):
        opt.updates(grads=[w])
    with pytest.raises(ValueError, match="does not update"):
        opt.updates(grads={_w(): w})
    with pytest.raises(ValueError, match=r"gradient of 'v' has shape \(2, 3\)"):
        opt.updates(grads=[w, w])
    with pytest.raises(TypeError, match="gradient of 'v' has dtype float32"):
        opt.updates(grads=[w, v.astype("float32")])
    with pytest.raises(TypeError, match="step\\(\\): a graphc optimizer builds the step"):
        opt.step()
