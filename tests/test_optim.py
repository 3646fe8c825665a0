"""Momentum SGD, Eq. (5.1), and the learning-rate schedule, Eq. (5.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_cnn.reference.optim import SGDMomentum, learning_rate


def test_momentum_sgd_equals_its_formula():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(3)]
    rates = [0.1, 0.05, 0.02]
    mu, lam = 0.9, 0.01
    params = {"w": w0.copy()}
    opt = SGDMomentum(params, momentum=mu, weight_decay=lam)
    w, v = w0.copy(), np.zeros_like(w0)
    for g, lr in zip(grads, rates, strict=True):
        v = mu * v + (g + lam * w)
        w = w - lr * v
        opt.step({"dw": g}, lr)
        np.testing.assert_allclose(params["w"], w, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(opt.velocity["w"], v, rtol=1e-14, atol=1e-15)
    assert opt.steps == 3


def test_momentum_sgd_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((5, 2)).astype(np.float32)
    grads = [rng.standard_normal((5, 2)).astype(np.float32) for _ in range(4)]
    params = {"w": w0.copy()}
    opt = SGDMomentum(params, momentum=0.9, weight_decay=5e-4)
    wt = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    topt = torch.optim.SGD([wt], lr=0.05, momentum=0.9, weight_decay=5e-4)
    for g in grads:
        opt.step({"dw": g}, 0.05)
        wt.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_allclose(params["w"], wt.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_momentum_sgd_keeps_float32_and_checks_its_hyper_parameters_once():
    params = {"w": np.ones(3, np.float32)}
    opt = SGDMomentum(params, momentum=0.5)
    opt.step({"dw": np.ones(3, np.float32)}, 0.1)
    assert params["w"].dtype == opt.velocity["w"].dtype == np.float32
    with pytest.raises(KeyError, match="dw"):  # step trusts loss_and_grads, but a key is a key
        opt.step({"dv": np.ones(3, np.float32)}, 0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGDMomentum(params, momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        SGDMomentum(params, weight_decay=-1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        SGDMomentum({"w": np.ones(3, np.int64)})


def test_learning_rate_warmup_then_cosine():
    total, warm, base = 100, 10, 0.05
    rates = [learning_rate(t, total, base, warm) for t in range(total)]
    assert rates[:warm] == pytest.approx([base * (t + 1) / warm for t in range(warm)])
    assert rates[warm] == pytest.approx(base)
    midpoint = warm + (total - warm) // 2
    assert rates[midpoint] == pytest.approx(base / 2)
    assert all(a >= b for a, b in zip(rates[warm:], rates[warm + 1:], strict=False))
    assert 0 < rates[-1] < 1e-3 * base
    assert learning_rate(0, 1, base) == base
    assert learning_rate(50, 100, base) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi / 2)))
    with pytest.raises(ValueError, match="step must be < total_steps"):
        learning_rate(100, 100, base)
    with pytest.raises(ValueError, match="warmup_steps must be < total_steps"):
        learning_rate(0, 10, base, 10)


