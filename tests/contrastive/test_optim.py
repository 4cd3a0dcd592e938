"""Tests of CEM's optimisers against hand computations on tiny problems."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy.optimize import brentq  # noqa: E402
from scipy.special import lambertw  # noqa: E402

from skxai.contrastive._optim import (  # noqa: E402
    AdaExpGrad,
    adaexpgrad_step,
    fista_step,
    lambertw_exp,
    soft_threshold,
)


def _t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_soft_threshold_hand_values():
    """Check that the shrinkage gives sign(v) max(|v| - t, 0), exact zeros inside."""
    out = soft_threshold(_t([-0.5, -0.1, 0.05, 0.1, 0.3]), 0.1)
    np.testing.assert_allclose(out.numpy(), [-0.4, 0.0, 0.0, 0.0, 0.2], atol=1e-15)
    assert (out[1:4] == 0).all()


def test_fista_step_hand_computation():
    """Check one FISTA step on a 3-feature quadratic against a hand computation.

    z = (0.2, 0, 0.5), y = (0.3, 0.05, 0.5), grad = (-10, 2, 30), lr 0.01,
    beta 0.1, momentum 0.5, box [0, 0.45]:
    v = y - lr grad = (0.4, 0.03, 0.2); S_0.1(v) = (0.3, 0, 0.1); clipped the same;
    y_new = z_new + 0.5 (z_new - z) = (0.35, 0, -0.1) -> clipped (0.35, 0, 0).
    """
    z, y = _t([[0.2, 0.0, 0.5]]), _t([[0.3, 0.05, 0.5]])
    grad = _t([[-10.0, 2.0, 30.0]])
    lo, hi = torch.zeros(1, 3, dtype=torch.float64), torch.full((1, 3), 0.45)
    z_new, y_new = fista_step(
        z,
        y,
        grad,
        learning_rate=0.01,
        beta=0.1,
        momentum=0.5,
        lower=lo,
        upper=hi.double(),
    )
    np.testing.assert_allclose(z_new.numpy(), [[0.3, 0.0, 0.1]], atol=1e-12)
    np.testing.assert_allclose(y_new.numpy(), [[0.35, 0.0, 0.0]], atol=1e-12)
    # The upper bound clips a large step.
    z_big, _ = fista_step(
        z,
        y,
        _t([[-100.0, 0.0, 0.0]]),
        learning_rate=0.01,
        beta=0.1,
        momentum=0.0,
        lower=lo,
        upper=hi.double(),
    )
    assert z_big[0, 0].item() == pytest.approx(0.45)


@pytest.mark.parametrize("s", [-30.0, -2.0, 0.0, 0.5, 1.0, 3.0, 20.0, 300.0])
def test_lambertw_exp_matches_scipy(s):
    """Check that W(exp(s)) matches scipy's lambertw, and w + log w = s."""
    w = lambertw_exp(_t([s])).item()
    assert w + np.log(w) == pytest.approx(s, rel=1e-12, abs=1e-12)
    if s < 700:
        assert w == pytest.approx(np.real(lambertw(np.exp(s))), rel=1e-12)


def test_lambertw_exp_large_argument_stays_finite():
    """Check that huge s (exp(s) overflows) still gives the real solution."""
    w = lambertw_exp(_t([5000.0])).item()
    assert np.isfinite(w)
    assert w + np.log(w) == pytest.approx(5000.0, rel=1e-14)


def test_adaexpgrad_step_l1_hand_computation():
    """Check the l2 = 0 step: b = 1/2, lam = 1 + 1, alpha = sqrt(2) / lr.

    z = -g / alpha = (0.7071, -0.0707); l1 / alpha = 0.3536; the first magnitude
    is b (exp(0.7071 - 0.3536) - 1), the second is shrunk to an exact zero.
    """
    x = torch.zeros(1, 2, dtype=torch.float64)
    g = _t([[-1.0, 0.1]])
    box = torch.full((1, 2), 5.0, dtype=torch.float64)
    x_new, lam = adaexpgrad_step(
        x,
        g,
        torch.ones(1, 1, dtype=torch.float64),
        learning_rate=1.0,
        l1=0.5,
        l2=0.0,
        lower=-box,
        upper=box,
    )
    alpha = np.sqrt(2.0)
    expected = 0.5 * (np.exp(1 / alpha - 0.5 / alpha) - 1)
    assert lam.item() == pytest.approx(2.0)
    assert x_new[0, 0].item() == pytest.approx(expected, rel=1e-12)
    assert x_new[0, 1].item() == 0.0


def test_adaexpgrad_step_elastic_net_solves_optimality():
    """Check the l2 > 0 magnitude solves log(1 + m/b) + (l2/alpha) m = |z| - l1/alpha.

    The Lambert W closed form is compared with a root found by bisection.
    """
    x = _t([[0.3, -0.2, 0.0, 0.1]])
    g = _t([[-2.0, 1.5, 0.4, 0.05]])
    lr, l1, l2 = 0.7, 0.3, 2.0
    box = torch.full((1, 4), 10.0, dtype=torch.float64)
    x_new, _ = adaexpgrad_step(
        x,
        g,
        torch.ones(1, 1, dtype=torch.float64),
        learning_rate=lr,
        l1=l1,
        l2=l2,
        lower=-box,
        upper=box,
    )
    b = 1 / 4
    alpha = np.sqrt(1 + 2.0**2) / lr
    z = np.sign(x.numpy()) * np.log1p(np.abs(x.numpy()) / b) - g.numpy() / alpha
    for j in range(4):
        rhs = abs(z[0, j]) - l1 / alpha
        if rhs <= 0:
            assert x_new[0, j].item() == 0.0
            continue
        m = brentq(
            lambda m: np.log1p(m / b) + l2 / alpha * m - rhs, 0.0, 100.0, xtol=1e-14
        )
        assert x_new[0, j].item() == pytest.approx(np.sign(z[0, j]) * m, rel=1e-10)


def _maxi_update(x, g, lam, eta, l1, l2, lower, upper):
    """MAXi's AdaExpGrad update, computed by hand from its published formulas.

    lam += max|g|^2; alpha = sqrt(lam) * eta; beta = 1 / d;
    z = sign(x) log(|x| / beta + 1) - g / alpha;
    l2 = 0: v = beta exp(|z| - l1 / alpha) - beta;
    l2 > 0: v = W(a b exp(a b - c)) / b - a with a = beta, b = l2 / alpha,
    c = l1 / alpha - |z|; x_new = clip(sign(z) v, lower, upper).
    """
    d = x.size
    lam = lam + np.max(np.abs(g)) ** 2
    alpha = np.sqrt(lam) * eta
    beta = 1.0 / d
    z = np.sign(x) * np.log(np.abs(x) / beta + 1.0) - g / alpha
    if l2 == 0:
        v = beta * np.exp(np.abs(z) - l1 / alpha) - beta
    else:
        a, b, c = beta, l2 / alpha, l1 / alpha - np.abs(z)
        v = np.real(lambertw(a * b * np.exp(a * b - c))) / b - a
    return np.clip(np.sign(z) * v, lower, upper), lam


@pytest.mark.parametrize("l2", [0.0, 0.0005, 0.5])
@pytest.mark.parametrize("eta", [1.0, 0.25])
def test_adaexpgrad_step_equals_maxi_update(l2, eta):
    """Check three steps against MAXi's update on a toy problem (no sign flip).

    The loss is a fixed quadratic 0.5 |x - target|^2 with a box, so the
    gradients follow the iterates; with learning_rate = 1 / eta every iterate,
    the accumulator and the running mean match MAXi's (its y_t = x_t / t +
    (1 - 1 / t) y_{t-1}).
    """
    target = np.array([0.8, -0.6, 0.3, 0.05])
    lower, upper = np.full(4, -0.7), np.full(4, 0.7)
    l1 = 0.01
    x_ref, lam_ref, mean_ref = np.zeros(4), 1.0, np.zeros(4)
    opt = AdaExpGrad(
        torch.zeros(1, 4, dtype=torch.float64),
        learning_rate=1 / eta,
        l1=l1,
        l2=l2,
    )
    for t in range(1, 4):
        g = x_ref - target
        x_ref, lam_ref = _maxi_update(x_ref, g, lam_ref, eta, l1, l2, lower, upper)
        mean_ref = x_ref / t + (1 - 1 / t) * mean_ref
        opt.step(_t(g[None]), _t(lower[None]), _t(upper[None]), lambda v: v)
        np.testing.assert_allclose(opt.x.numpy()[0], x_ref, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(opt.lam.item(), lam_ref, rtol=1e-12)
        np.testing.assert_allclose(opt.iterate.numpy()[0], mean_ref, rtol=1e-10)
    assert (np.abs(x_ref) > 0).all()  # no coordinate was thresholded


def test_adaexpgrad_finds_closed_form_pn_of_linear_model():
    """Check AdaExpGrad converges to the closed-form PN of a linear margin.

    With m(x + delta) = m0 + a . delta and a hinge that never saturates (large
    kappa), the loss c m + l1 |delta|_1 + (l2 / 2) |delta|^2 over the box
    [0, 1] (a PN adds to pixels) separates by coordinate: delta_j =
    clip(max(-c a_j - l1, 0) / l2, 0, 1).
    """
    a = np.array([-3.0, -1.0, -0.2, 0.5, -2.0, -0.05])
    c, l1, l2 = 1.0, 0.3, 4.0
    expected = np.clip(np.maximum(-c * a - l1, 0.0) / l2, 0.0, 1.0)
    opt = AdaExpGrad(
        torch.zeros(1, 6, dtype=torch.float64), learning_rate=1.0, l1=l1, l2=l2
    )
    lower, upper = (
        torch.zeros(1, 6, dtype=torch.float64),
        torch.ones(1, 6, dtype=torch.float64),
    )
    for _ in range(3000):
        opt.step(_t(c * a[None]), lower, upper, lambda v: v)
    np.testing.assert_allclose(opt.x.numpy()[0], expected, atol=1e-3)
    assert (opt.x.numpy()[0][expected == 0] == 0).all()  # exact zeros


@pytest.mark.parametrize("l2", [0.0, 2.0])
def test_adaexpgrad_reaches_zero_where_maxi_flips_sign(l2):
    """Check that the step gives an exact zero where MAXi's update flips the sign.

    A positive coordinate with a small gradient has |z| < l1 / alpha: MAXi's
    published update returns a negative value (a sign flip), ours exactly 0;
    the other coordinate matches MAXi's.
    """
    x = _t([[0.01, 0.5]])
    g = _t([[0.0, -3.0]])
    l1, lr = 2.0, 1.0
    box = torch.full((1, 2), 5.0, dtype=torch.float64)
    ours, _ = adaexpgrad_step(
        x,
        g,
        torch.ones(1, 1, dtype=torch.float64),
        learning_rate=lr,
        l1=l1,
        l2=l2,
        lower=-box,
        upper=box,
    )
    maxi, _ = _maxi_update(x.numpy()[0], g.numpy()[0], 1.0, 1 / lr, l1, l2, -5.0, 5.0)
    assert maxi[0] < 0  # the published update flips the sign
    assert ours[0, 0].item() == 0.0
    assert ours[0, 1].item() > 0
    assert ours[0, 1].item() == pytest.approx(maxi[1], rel=1e-9)


def test_adaexpgrad_cold_restart_returns_to_its_start():
    """Check that without warm start a new c step restarts a row from its own
    starting point (a PP starts from the sample, not from zero)."""
    start = _t([[0.5, 0.0, 1.0], [0.0, 0.0, 0.0]])
    opt = AdaExpGrad(start, learning_rate=1.0, l1=0.0, l2=0.0, warm_start=False)
    box = torch.ones(2, 3, dtype=torch.float64)
    opt.step(_t([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]]), -box, box, lambda v: v)
    moved = opt.x.clone()
    assert not torch.equal(moved, start)
    opt.reset(np.array([True, False]))
    np.testing.assert_array_equal(opt.x.numpy()[0], start.numpy()[0])
    np.testing.assert_array_equal(opt.x.numpy()[1], moved.numpy()[1])
    kept = opt.take_rows(np.array([False, True]))
    np.testing.assert_array_equal(kept.start.numpy(), start.numpy()[1:])


def test_adaexpgrad_warm_restart_keeps_iterate():
    """Check that a new c step keeps the iterate and restarts lam and the mean."""
    opt = AdaExpGrad(
        torch.zeros(2, 3, dtype=torch.float64), learning_rate=1.0, l1=0.0, l2=0.0
    )
    box = torch.ones(2, 3, dtype=torch.float64)
    opt.step(_t([[-1.0, 0.5, 0.0], [2.0, 0.0, -1.0]]), -box, box, lambda v: v)
    x = opt.x.clone()
    opt.reset(np.array([True, False]))
    np.testing.assert_array_equal(opt.x.numpy(), x.numpy())
    np.testing.assert_array_equal(opt.lam.numpy()[:, 0], [1.0, 5.0])
    np.testing.assert_array_equal(opt.k, [0, 1])
    np.testing.assert_array_equal(opt.iterate.numpy()[0], x.numpy()[0])
