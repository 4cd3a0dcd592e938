"""Tests of the pure Shapley maths against a brute-force enumeration of orders."""

from itertools import permutations
from math import factorial

import numpy as np
import pytest

from skxai.shapley._maths import (
    chain_contributions,
    exact_plan,
    exact_shapley,
    kernel_plan,
    kernel_shap,
    paired_background_plan,
    permutation_plan,
    permutation_shapley,
    shapley_weights,
)


def random_game(n, n_targets=2, seed=0):
    """A value function over a random worth table (any game on n players)."""
    table = np.random.default_rng(seed).normal(size=(2**n, n_targets))

    def value(masks):
        codes = masks.astype(np.int64) @ (1 << np.arange(n))
        return table[codes]

    return value


def brute_force(value, n):
    """Shapley values as the mean marginal contribution over all n! orders."""
    phi = 0.0
    for order in permutations(range(n)):
        mask = np.zeros((n + 1, n), dtype=bool)
        for k, player in enumerate(order):
            mask[k + 1 :, player] = True
        v = value(mask)
        contrib = np.zeros((n, *v.shape[1:]))
        contrib[list(order)] = v[1:] - v[:-1]
        phi = phi + contrib
    return phi / factorial(n)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_exact_shapley_equals_brute_force(n):
    """Check that the exact plan gives the Shapley values of any game."""
    value = random_game(n, seed=n)
    np.testing.assert_allclose(
        exact_shapley(value, n), brute_force(value, n), atol=1e-12
    )


def test_shapley_weights_sum_to_one_over_coalitions():
    """Check that the weights of the coalitions without a player add up to 1."""
    n = 6
    w = shapley_weights(n)
    total = sum(
        w[s] * factorial(n - 1) / (factorial(s) * factorial(n - 1 - s))
        for s in range(n)
    )
    assert total == pytest.approx(1.0)


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_kernel_shap_with_every_coalition_is_exact(n):
    """Check that KernelSHAP with all coalitions equals brute force to 1e-10."""
    value = random_game(n, seed=10 + n)
    phi = kernel_shap(value, n, 2**n - 2, np.random.default_rng(0))
    np.testing.assert_allclose(phi, brute_force(value, n), atol=1e-10)
    masks, weights, n_enum = kernel_plan(n, 2**n - 2, np.random.default_rng(0))
    assert len(masks) == n_enum == 2**n - 2


@pytest.mark.parametrize("n_samples", [4, 10, 30, 100])
def test_sampled_methods_meet_efficiency_exactly(n_samples):
    """Check that sampled estimates add up to v(N) - v(empty) whatever the budget."""
    n = 7
    value = random_game(n, seed=3)
    ends = np.zeros((2, n), dtype=bool)
    ends[1] = True
    gap = value(ends)[1] - value(ends)[0]
    rng = np.random.default_rng(1)
    phi = kernel_shap(value, n, n_samples, rng)
    np.testing.assert_allclose(phi.sum(0), gap, atol=1e-10)
    phi, _ = permutation_shapley(value, n, max(1, n_samples // 10), rng)
    np.testing.assert_allclose(phi.sum(0), gap, atol=1e-12)


def test_permutation_every_order_is_exact():
    """Check that the permutation estimate over all orders is the Shapley value.

    With 3 players there are 3 pairs (order, reverse); averaging the estimates
    over many draws converges to the brute force, and one draw of an additive
    game is exact.
    """
    n = 3
    value = random_game(n, seed=4)
    rng = np.random.default_rng(0)
    phi, se = permutation_shapley(value, n, 4000, rng)
    np.testing.assert_allclose(phi, brute_force(value, n), atol=5 * se.max() + 1e-12)
    assert se.max() < 0.05

    def additive(masks):
        return masks @ np.array([0.5, -2.0, 7.0]) - 1.0

    phi, se = permutation_shapley(additive, n, 1, rng)
    np.testing.assert_allclose(phi, [0.5, -2.0, 7.0], atol=1e-12)


def test_permutation_plan_dedupes_coalitions():
    """Check that each coalition of the plan is distinct and costs one evaluation."""
    masks, coef, pair_coef = permutation_plan(4, 50, np.random.default_rng(0))
    assert len(np.unique(masks, axis=0)) == len(masks) <= 2**4
    # every order contributes +-1 / n_orders: the coefficients of a player add to 0
    np.testing.assert_allclose(coef.sum(axis=0), 0.0, atol=1e-12)
    assert pair_coef.shape == (50 * 4, len(masks))


def test_kernel_plan_respects_budget_and_pairs():
    """Check the budget, the complement pairing and the full enumeration of sizes."""
    n, budget = 10, 400
    masks, weights, n_enum = kernel_plan(n, budget, np.random.default_rng(0))
    assert len(masks) == budget  # distinct coalitions fill the budget
    assert n_enum == 2 * n + 2 * 45  # sizes 1, 9, 2, 8 enumerated
    assert np.all(weights > 0)
    sampled = {m.tobytes() for m in masks[n_enum:]}
    assert all((~m).tobytes() in sampled for m in masks[n_enum:])
    sizes = masks.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= n - 1


def test_kernel_plan_weights_hold_the_size_distribution():
    """Check that the sampled part gives each size exactly its kernel mass."""
    n, budget = 12, 300
    masks, weights, n_enum = kernel_plan(n, budget, np.random.default_rng(3))
    sizes = masks.sum(1)
    s = np.arange(1, n)
    mass = (n - 1) / (s * (n - s))
    per_size = np.bincount(sizes, weights=weights, minlength=n)[1:]
    sampled = np.unique(sizes[n_enum:])
    enumerated = np.unique(sizes[:n_enum])
    np.testing.assert_allclose(per_size[enumerated - 1], mass[enumerated - 1])
    # every size met in the sample holds its mass, up to one common factor
    # (the mass of sizes never drawn, shared out in proportion)
    ratio = per_size[sampled - 1] / mass[sampled - 1]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    np.testing.assert_allclose(weights.sum(), mass.sum())
    # within a size every sampled coalition weighs the same
    for t in sampled:
        w = weights[n_enum:][sizes[n_enum:] == t]
        np.testing.assert_allclose(w, w[0])


def test_exact_plan_coefficients():
    """Check each player's coefficients: +w(|T|-1) inside T, -w(|T|) outside."""
    masks, coef = exact_plan(4)
    w = shapley_weights(4)
    for m, c in zip(masks, coef):
        s = m.sum()
        for i in range(4):
            expected = w[s - 1] if m[i] else (-w[s] if s < 4 else 0.0)
            assert c[i] == pytest.approx(expected)


def _paired_estimate(f, x, background, n_perm, rng):
    """The estimate of paired_background_plan on f, computed row by row."""
    n = len(x)
    orders, rows, weights = paired_background_plan(n, n_perm, len(background), rng)
    chain = np.empty((len(orders), n + 1))
    for o, (order, r) in enumerate(zip(orders, rows)):
        point = background[r].copy()
        chain[o, 0] = f(point)
        for k, player in enumerate(order):
            point[player] = x[player]
            chain[o, k + 1] = f(point)
    return weights @ chain_contributions(orders, chain), rows


def _interventional_exact(f, x, background):
    n = len(x)

    def value(masks):
        return np.array(
            [np.mean([f(np.where(m, x, b)) for b in background]) for m in masks]
        )

    return exact_shapley(value, n)


def test_paired_background_plan_exact_for_additive_and_efficient():
    """Check the stratified pairs: exact on additive f, efficient, unbiased."""
    rng = np.random.default_rng(0)
    background = rng.normal(size=(5, 4))
    x = rng.normal(size=4)
    w = np.array([1.0, -2.0, 0.5, 3.0])
    phi, _ = _paired_estimate(lambda z: z @ w, x, background, 7, rng)
    np.testing.assert_allclose(phi, w * (x - background.mean(0)), atol=1e-12)

    def f(z):
        return np.tanh(z[0] * z[1]) + z[2] ** 2 - z[3] * z[0]

    phi, rows = _paired_estimate(f, x, background, 5, rng)
    assert sorted(rows[:5]) == [0, 1, 2, 3, 4]
    mean_bg = np.mean([f(b) for b in background])
    assert phi.sum() == pytest.approx(f(x) - mean_bg, abs=1e-12)
    exact = _interventional_exact(f, x, background)
    estimates = [
        _paired_estimate(f, x, background, 50, np.random.default_rng(s))[0]
        for s in range(20)
    ]
    spread = np.std(estimates, axis=0) / np.sqrt(20)
    assert np.all(np.abs(np.mean(estimates, axis=0) - exact) < 5 * spread + 1e-12)


def test_paired_background_plan_weights():
    """Check the weights: 1 / (rows used * pairs of the row), adding up to 1."""
    orders, rows, weights = paired_background_plan(4, 7, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(orders[7:], orders[:7, ::-1])
    np.testing.assert_array_equal(rows[7:], rows[:7])
    per_row = np.bincount(rows, weights=weights, minlength=3)
    np.testing.assert_allclose(per_row, 1 / 3)
    _, rows, weights = paired_background_plan(4, 2, 10, np.random.default_rng(0))
    assert len(set(rows.tolist())) == 2
    np.testing.assert_allclose(weights, 0.25)
