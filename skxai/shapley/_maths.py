"""Shapley values of cooperative games: exact, permutation sampling and KernelSHAP.

Pure functions on a *game*: ``n_players`` players and a batched value function
``value(masks) -> (k, n_targets)`` giving the worth ``v(S)`` of ``k`` coalitions
at once (``masks`` is a boolean array ``(k, n_players)``, ``True`` for the members
of ``S``). Every estimator here is linear in the worths: it is split into a *plan*
(the coalitions to evaluate and a matrix ``coef`` of shape ``(k, n_players)``)
and a reduction ``phi = coef.T @ v(masks)``. The explainers evaluate the plans of
many samples in batched model calls and apply the same reductions.

The estimators meet the efficiency axiom exactly: their values add up to
``v(N) - v(empty)`` for any value function (up to float rounding).
"""

from math import comb, factorial

import numpy as np
from scipy import sparse

__all__ = [
    "chain_contributions",
    "exact_plan",
    "exact_reduce",
    "exact_shapley",
    "kernel_plan",
    "kernel_shap",
    "kernel_solve",
    "paired_background_plan",
    "permutation_plan",
    "permutation_shapley",
    "shapley_weights",
]


def shapley_weights(n_players):
    """Weights ``|S|! (n - |S| - 1)! / n!`` of a coalition of each size.

    Parameters
    ----------
    n_players : int
        Number of players ``n``.

    Returns
    -------
    weights : ndarray of shape (n_players,)
        ``weights[s]`` is the weight of the marginal contribution
        ``v(S + i) - v(S)`` of player ``i`` to a coalition ``S`` of size ``s``
        without ``i``.

    Examples
    --------
    >>> shapley_weights(3)
    array([0.33333333, 0.16666667, 0.33333333])
    """
    n = int(n_players)
    total = factorial(n)
    return np.array(
        [factorial(s) * factorial(n - s - 1) / total for s in range(n)], dtype=float
    )


def _all_masks(n_players):
    """All ``2 ** n`` coalitions; row ``k`` holds player ``j`` iff bit ``j`` of k."""
    codes = np.arange(2**n_players, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n_players)) & 1).astype(bool)


def exact_plan(n_players):
    """All coalitions and the matrix giving the exact Shapley values from them.

    Notes
    -----
    The Shapley value of player ``i`` is

    .. math:: \\phi_i = \\sum_{S \\subseteq N \\setminus \\{i\\}}
              \\frac{|S|!\\,(n - |S| - 1)!}{n!}\\,
              \\big(v(S \\cup \\{i\\}) - v(S)\\big),

    so the worth of coalition ``T`` enters ``phi_i`` with the coefficient
    ``w(|T| - 1)`` when ``i`` is in ``T`` and ``-w(|T|)`` otherwise.

    Parameters
    ----------
    n_players : int
        Number of players.

    Returns
    -------
    masks : ndarray of shape (2 ** n_players, n_players) of bool
        Every coalition, the empty one first and the grand coalition last.
    coef : ndarray of shape (2 ** n_players, n_players)
        ``phi = coef.T @ value(masks)``.

    Examples
    --------
    >>> masks, coef = exact_plan(2)
    >>> masks.astype(int).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    >>> coef.tolist()
    [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]
    """
    n = int(n_players)
    masks = _all_masks(n)
    sizes = masks.sum(axis=1)
    w = np.append(shapley_weights(n), 0.0)
    inside = w[np.maximum(sizes - 1, 0)][:, None]
    outside = w[sizes][:, None]
    return masks, np.where(masks, inside, -outside)


def exact_shapley(value, n_players):
    """Exact Shapley values over all ``2 ** n_players`` coalitions.

    Parameters
    ----------
    value : callable
        ``value(masks)`` with ``masks`` of shape ``(k, n_players)`` of bool
        returns the worths, shape ``(k,)`` or ``(k, n_targets)``.
    n_players : int
        Number of players.

    Returns
    -------
    phi : ndarray of shape (n_players, n_targets) or (n_players,)
        The Shapley values; they add up to ``v(N) - v(empty)``.

    See Also
    --------
    exact_plan : The coalitions and the coefficients used.

    Examples
    --------
    A two-player game where the players together earn 3, alone 1 and 0:

    >>> worth = {(0, 0): 0.0, (1, 0): 1.0, (0, 1): 0.0, (1, 1): 3.0}
    >>> def value(masks):
    ...     return np.array([worth[tuple(m)] for m in masks.astype(int)])
    >>> exact_shapley(value, 2)
    array([2., 1.])
    """
    masks = _all_masks(int(n_players))
    return exact_reduce(masks, value(masks))


def exact_reduce(masks, worths):
    """Exact Shapley values from the worths of every coalition.

    The coefficients of :func:`exact_plan` depend on the coalition's size only,
    ``w(|T| - 1)`` inside and ``-w(|T|)`` outside, so
    ``phi_i = sum_{T ni i} a(|T|) v(T) - sum_T w(|T|) v(T)`` with ``a(s) = w(s -
    1) + w(s)``: no ``(2 ** n, n)`` matrix of coefficients is built.

    Parameters
    ----------
    masks : ndarray of shape (2 ** n_players, n_players) of bool
        Every coalition once, in any order.
    worths : ndarray of shape (2 ** n_players, ...)
        Their worths.

    Returns
    -------
    phi : ndarray of shape (n_players, ...)

    Examples
    --------
    >>> masks, _ = exact_plan(2)
    >>> exact_reduce(masks, np.array([0.0, 1.0, 0.0, 3.0]))
    array([2., 1.])
    """
    masks = np.asarray(masks, dtype=bool)
    worths = np.asarray(worths, dtype=float)
    n = masks.shape[1]
    sizes = masks.sum(axis=1)
    w = np.concatenate([[0.0], shapley_weights(n), [0.0]])  # w[s + 1] = w(s)
    shape = (-1,) + (1,) * (worths.ndim - 1)
    inside = worths * (w[sizes] + w[sizes + 1]).reshape(shape)
    outside = (worths * w[sizes + 1].reshape(shape)).sum(axis=0)
    return np.stack([inside[masks[:, i]].sum(axis=0) for i in range(n)]) - outside


def permutation_plan(n_players, n_permutations, rng):
    """Coalitions on antithetic permutations and the matrix averaging them.

    Each of the ``n_permutations`` random orders of the players is used with its
    reverse (antithetic sampling). On an order ``pi``, player ``pi_k`` earns its
    marginal contribution ``v(P_k) - v(P_{k-1})`` to the players before it
    (``P_k = {pi_1, ..., pi_k}``); the estimate is the mean over the
    ``2 * n_permutations`` orders. It is unbiased, and exact for additive games
    (``v(S) = sum_{i in S} a_i + c``) with any number of permutations. The
    contributions along one order telescope, so the estimate meets efficiency
    exactly. Repeated coalitions are evaluated once.

    Parameters
    ----------
    n_players : int
        Number of players.
    n_permutations : int
        Number of random orders; each is also used reversed.
    rng : numpy.random.Generator
        Source of the orders.

    Returns
    -------
    masks : ndarray of shape (k, n_players) of bool
        The distinct coalitions met along the orders (empty and grand coalition
        included).
    coef : scipy.sparse.csr_array of shape (k, n_players)
        ``phi = coef.T @ value(masks)``.
    pair_coef : scipy.sparse.csr_array of shape (n_permutations * n_players, k)
        Row ``p * n_players + i`` gives the estimate of player ``i`` from the
        ``p``-th pair (an order and its reverse): ``(pair_coef @ v)`` reshaped
        to ``(n_permutations, n_players, ...)`` gives the per-pair estimates
        whose spread is the sampling error.

    Examples
    --------
    >>> masks, coef, pair_coef = permutation_plan(3, 2, np.random.default_rng(0))
    >>> masks.shape[1], coef.shape[1], pair_coef.shape == (6, len(masks))
    (3, 3, True)
    """
    n = int(n_players)
    n_perm = int(n_permutations)
    orders = rng.random((n_perm, n)).argsort(axis=1)
    orders = np.concatenate([orders, orders[:, ::-1]])  # (2 P, n): order then reverse
    n_orders = len(orders)
    # prefixes[o, k] = players of the first k positions of order o, k = 0..n
    ranks = np.empty_like(orders)
    np.put_along_axis(ranks, orders, np.arange(n)[None], axis=1)
    prefixes = ranks[:, None, :] < np.arange(n + 1)[None, :, None]  # (2P, n+1, n)
    flat = prefixes.reshape(-1, n)
    keys = np.packbits(flat, axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(n_orders, n + 1)
    masks = flat[first]
    k = len(masks)
    # On order o, the player at position j (0-based) earns v(P_{j+1}) - v(P_j).
    player = orders  # (2P, n)
    plus = inverse[:, 1:]  # coalition P_{j+1}
    minus = inverse[:, :-1]  # coalition P_j
    pair = np.tile(np.arange(n_perm), 2)[:, None].repeat(n, axis=1)
    rows = np.concatenate([plus.ravel(), minus.ravel()])
    cols = np.concatenate([player.ravel(), player.ravel()])
    data = np.concatenate([np.ones(plus.size), -np.ones(minus.size)])
    coef = sparse.csr_array(
        (data / n_orders, (rows, cols)), shape=(k, n)
    )  # duplicates are summed
    pair_rows = np.concatenate([(pair * n + player).ravel()] * 2)
    pair_coef = sparse.csr_array((data / 2, (pair_rows, rows)), shape=(n_perm * n, k))
    return masks, coef, pair_coef


def permutation_shapley(value, n_players, n_permutations, rng):
    """Shapley values estimated on antithetic random permutations.

    Parameters
    ----------
    value : callable
        ``value(masks)`` with ``masks`` of shape ``(k, n_players)`` of bool
        returns the worths, shape ``(k,)`` or ``(k, n_targets)``.
    n_players : int
        Number of players.
    n_permutations : int
        Number of random orders, each also used reversed.
    rng : numpy.random.Generator
        Source of the orders.

    Returns
    -------
    phi : ndarray of shape (n_players, n_targets) or (n_players,)
        The estimates; they add up to ``v(N) - v(empty)`` exactly.
    std_error : ndarray of the same shape
        Standard error of each estimate (spread over the permutation pairs
        divided by ``sqrt(n_permutations)``; zero with one pair).

    See Also
    --------
    permutation_plan : The coalitions and the coefficients used.

    Examples
    --------
    An additive game: every order gives each player its own worth.

    >>> def value(masks):
    ...     return masks @ np.array([1.0, 2.0, 3.0]) + 5.0
    >>> phi, se = permutation_shapley(value, 3, 2, np.random.default_rng(0))
    >>> phi, se
    (array([1., 2., 3.]), array([0., 0., 0.]))
    """
    masks, coef, pair_coef = permutation_plan(n_players, n_permutations, rng)
    v = np.asarray(value(masks), dtype=float)
    phi = coef.T @ v
    return phi, _pair_std_error(pair_coef @ v, int(n_permutations), int(n_players))


def _pair_std_error(per_pair, n_perm, n_players):
    """Standard error of the mean of the per-pair estimates."""
    per_pair = per_pair.reshape(n_perm, n_players, *per_pair.shape[1:])
    if n_perm < 2:
        return np.zeros(per_pair.shape[1:])
    return per_pair.std(axis=0, ddof=1) / np.sqrt(n_perm)


def paired_background_plan(n_players, n_permutations, n_background, rng):
    """Antithetic orders, each pair with one background row, stratified.

    For interventional Shapley values ``v(S) = mean_b f(x_S, b_rest)`` the value
    of player ``i`` is the mean over background rows ``b`` and orders ``pi`` of
    ``f(x_{P + i}, b_rest) - f(x_P, b_rest)``. Rather than averaging each
    coalition over every background row (``n_background`` model inputs per
    coalition), each order and its reverse are evaluated against one background
    row (one input per coalition), the rows taken in turn (stratified): row
    ``b`` serves ``c_b`` pairs, and the estimate is

    .. math:: \\hat\\phi = \frac{1}{B'} \\sum_b \frac{1}{c_b}
              \\sum_{o : b_o = b} \\Delta_o,

    unbiased, exact for additive games, and meeting efficiency exactly against
    the mean of the ``B'`` rows used (all of them when ``n_permutations >=
    n_background``; a random subset otherwise).

    Parameters
    ----------
    n_players : int
        Number of players.
    n_permutations : int
        Number of random orders; each is also used reversed, with the same
        background row.
    n_background : int
        Number of background rows.
    rng : numpy.random.Generator
        Source of the orders and of the assignment of rows.

    Returns
    -------
    orders : ndarray of shape (2 * n_permutations, n_players)
        The orders, then their reverses.
    rows : ndarray of shape (2 * n_permutations,)
        Background row of each order.
    weights : ndarray of shape (2 * n_permutations,)
        Weight of each order in the estimate; they add up to 1.

    Examples
    --------
    >>> orders, rows, weights = paired_background_plan(
    ...     3, 3, 2, np.random.default_rng(0)
    ... )
    >>> orders.shape, sorted(rows.tolist()), float(weights.sum())
    ((6, 3), [0, 0, 0, 0, 1, 1], 1.0)
    """
    n, n_perm, n_bg = int(n_players), int(n_permutations), int(n_background)
    orders = rng.random((n_perm, n)).argsort(axis=1)
    orders = np.concatenate([orders, orders[:, ::-1]])
    if n_perm >= n_bg:
        pair_rows = rng.permutation(np.resize(np.arange(n_bg), n_perm))
    else:
        pair_rows = rng.choice(n_bg, size=n_perm, replace=False)
    rows = np.concatenate([pair_rows, pair_rows])
    counts = np.bincount(rows, minlength=n_bg)
    used = np.count_nonzero(counts)
    weights = 1.0 / (used * counts[rows])
    return orders, rows, weights


def chain_contributions(orders, values):
    """Marginal contributions along orders: player ``pi_k`` gets ``v_k - v_{k-1}``.

    Parameters
    ----------
    orders : ndarray of shape (m, n_players)
        Orders of the players.
    values : ndarray of shape (m, n_players + 1, *rest)
        Worth of the prefix of each length ``0..n_players`` of each order.

    Returns
    -------
    contributions : ndarray of shape (m, n_players, *rest)
        Contribution of each player (indexed by player, not position) on each
        order; they add up to ``v_n - v_0`` on every order.

    Examples
    --------
    >>> chain_contributions(np.array([[2, 0, 1]]), np.array([[0.0, 1.0, 3.0, 6.0]]))
    array([[2., 3., 1.]])
    """
    orders = np.asarray(orders)
    steps = np.diff(np.asarray(values, dtype=float), axis=1)
    index = orders.reshape(orders.shape + (1,) * (steps.ndim - 2))
    out = np.empty_like(steps)
    np.put_along_axis(out, np.broadcast_to(index, steps.shape), steps, axis=1)
    return out


def _size_mass(n):
    """Kernel mass of each coalition size ``s = 1..n-1``: ``(n-1) / (s (n-s))``."""
    s = np.arange(1, n)
    return (n - 1) / (s * (n - s))


def kernel_plan(n_players, n_samples, rng):
    """Coalitions and weights of KernelSHAP's regression, enumerating when possible.

    The Shapley kernel gives a coalition of size ``s`` the weight
    ``pi(s) = (n - 1) / (C(n, s) s (n - s))``. Coalition sizes are taken in
    pairs ``(s, n - s)`` from the outside in (their total mass is largest): a
    pair is enumerated completely, each coalition with its kernel weight, while
    the remaining budget covers it in proportion to its mass; the sizes left are
    sampled with paired sampling (a coalition and its complement), the size
    drawn in proportion to its mass and the members uniformly, until the budget
    holds that many distinct coalitions; each size's mass is shared equally
    among its sampled coalitions (stratified by size: see
    :func:`_stratified_weights`). With ``n_samples >= 2 ** n - 2`` every
    coalition is enumerated and the regression gives the exact Shapley values.

    Parameters
    ----------
    n_players : int
        Number of players (at least 2).
    n_samples : int
        Budget of coalitions, the empty and the grand coalition not counted.
    rng : numpy.random.Generator
        Source of the sampled coalitions.

    Returns
    -------
    masks : ndarray of shape (k, n_players) of bool
        Distinct coalitions, neither empty nor grand; ``k <= n_samples + 1``.
    weights : ndarray of shape (k,)
        Regression weights.
    n_enumerated : int
        How many of the rows are complete enumerations (the first ones).

    Examples
    --------
    >>> masks, weights, n_enum = kernel_plan(3, 100, np.random.default_rng(0))
    >>> len(masks), n_enum
    (6, 6)
    >>> weights.round(3).tolist()
    [0.333, 0.333, 0.333, 0.333, 0.333, 0.333]
    """
    n = int(n_players)
    budget = int(n_samples)
    mass = _size_mass(n)  # index s - 1
    pieces, weight_parts = [], []
    left_sizes = list(range(1, n))
    left_mass = float(mass.sum())
    s = 1
    while s <= n - s and budget > 0:
        sizes = [s] if s == n - s else [s, n - s]
        count = sum(comb(n, t) for t in sizes)
        pair_mass = sum(mass[t - 1] for t in sizes)
        left_count = sum(comb(n, t) for t in left_sizes)
        if budget < left_count and budget * pair_mass / left_mass < count:
            break
        for t in sizes:
            block = _masks_of_size(n, t)
            pieces.append(block)
            weight_parts.append(np.full(len(block), mass[t - 1] / comb(n, t)))
            left_sizes.remove(t)
        budget -= count
        left_mass -= pair_mass
        s += 1
    n_enumerated = sum(len(p) for p in pieces)
    if left_sizes and budget > 1:
        pair_masks, _ = _draw_pairs(n, np.asarray(left_sizes), mass, budget, rng)
        pieces.append(np.concatenate([pair_masks, ~pair_masks]))
        weight_parts.append(_stratified_weights(pair_masks, mass, left_mass))
    if not pieces:
        return np.zeros((0, n), dtype=bool), np.zeros(0), 0
    return np.concatenate(pieces), np.concatenate(weight_parts), n_enumerated


def _stratified_weights(halves, mass, total):
    """Weights of sampled pairs (``halves`` and their complements), per size.

    A coalition of size ``s`` gets its size's kernel mass shared equally among
    the sampled coalitions of that size, ``mass(s) / count(s)``: the weights
    then hold the kernel's distribution over sizes exactly, where weights
    proportional to the number of draws hold it only on average (about 10 %
    smaller errors on breast_cancer at 200 coalitions for 10 features). The
    mass of sizes never drawn is shared out in proportion, so the weights add
    up to ``total``.

    Returns the weights of ``halves`` then of their complements.
    """
    n = halves.shape[1]
    sizes = np.concatenate([halves.sum(axis=1), n - halves.sum(axis=1)])
    counts = np.bincount(sizes, minlength=n + 1)
    weights = mass[sizes - 1] / counts[sizes]
    return weights * (total / weights.sum())


def _draw_pairs(n, sizes, mass, budget, rng):
    """Distinct complementary pairs drawn until ``budget // 2`` of them.

    Each draw takes a size with probability proportional to its kernel mass
    and a uniform coalition of that size; a pair is the coalition and its
    complement (canonically, the one without player 0). Draws repeat until
    ``budget // 2`` distinct pairs are met (or all pairs of these sizes, or
    50 draws per wanted pair); each pair's count of draws is its weight.
    """
    n_pairs = sum(comb(n, int(t)) for t in sizes) // 2
    wanted = min(budget // 2, n_pairs)
    p = mass[sizes - 1] / mass[sizes - 1].sum()
    halves = np.zeros((0, n), dtype=bool)
    while True:
        m = max(2 * wanted, 32)
        drawn = rng.choice(sizes, size=m, p=p)
        ranks = rng.random((m, n)).argsort(axis=1).argsort(axis=1)
        half = ranks < drawn[:, None]
        half[half[:, 0]] = ~half[half[:, 0]]  # the member without player 0
        halves = np.concatenate([halves, half])
        keys = np.packbits(halves, axis=1)
        _, first, inverse = np.unique(
            keys, axis=0, return_index=True, return_inverse=True
        )
        if len(first) >= wanted or len(halves) >= 50 * max(wanted, 1):
            break
    # keep the first `wanted` distinct pairs met, with their counts
    kept = np.sort(first)[:wanted]
    counts = np.bincount(inverse.reshape(-1), minlength=len(first))
    order = np.argsort(first)  # unique index of each kept pair, in draw order
    return halves[kept], counts[order[:wanted]].astype(float)


def _masks_of_size(n, size):
    """All coalitions of ``size`` players, shape ``(C(n, size), n)``."""
    from itertools import combinations

    idx = np.array(list(combinations(range(n), size)), dtype=np.intp)
    out = np.zeros((len(idx), n), dtype=bool)
    out[np.arange(len(idx))[:, None], idx] = True
    return out


def kernel_solve(masks, weights):
    """Linear operator of KernelSHAP's constrained weighted least squares.

    Solves ``min_phi sum_k w_k (v(z_k) - v(empty) - z_k . phi)^2`` under
    ``sum(phi) = v(N) - v(empty)`` (Lundberg and Lee, 2017). With
    ``A = Z^T W Z``, ``u = A^{-1} 1`` and ``s = 1^T u`` the solution is

    .. math:: \\phi = (I - u 1^T / s) A^{-1} Z^T W (v(Z) - v(\\emptyset))
              + u (v(N) - v(\\emptyset)) / s,

    linear in the worths.

    Parameters
    ----------
    masks : ndarray of shape (k, n_players) of bool
        The coalitions ``Z``.
    weights : ndarray of shape (k,)
        Their regression weights ``W``.

    Returns
    -------
    L : ndarray of shape (n_players, k)
        Applied to ``v(Z) - v(empty)``.
    c : ndarray of shape (n_players,)
        Multiplies ``v(N) - v(empty)``; it adds up to 1, and ``L`` has rows
        adding up to 0, so ``sum(phi) = v(N) - v(empty)`` exactly.

    Examples
    --------
    >>> masks, weights, _ = kernel_plan(2, 10, np.random.default_rng(0))
    >>> L, c = kernel_solve(masks, weights)
    >>> c.tolist()
    [0.5, 0.5]
    """
    Z = np.asarray(masks, dtype=float)
    n = Z.shape[1]
    ZW = Z.T * weights
    A = ZW @ Z
    A_inv = np.linalg.pinv(A, hermitian=True)
    u = A_inv.sum(axis=1)
    s = u.sum()
    project = np.eye(n) - np.outer(u, np.ones(n)) / s
    L = project @ (A_inv @ ZW)
    return L, u / s


def kernel_shap(value, n_players, n_samples, rng):
    """KernelSHAP: Shapley values by the constrained weighted regression.

    Parameters
    ----------
    value : callable
        ``value(masks)`` with ``masks`` of shape ``(k, n_players)`` of bool
        returns the worths, shape ``(k,)`` or ``(k, n_targets)``.
    n_players : int
        Number of players (at least 2).
    n_samples : int
        Budget of coalitions (see :func:`kernel_plan`).
    rng : numpy.random.Generator
        Source of the sampled coalitions.

    Returns
    -------
    phi : ndarray of shape (n_players, n_targets) or (n_players,)
        The estimates; exact when every coalition fits in ``n_samples``, and
        adding up to ``v(N) - v(empty)`` always.

    See Also
    --------
    kernel_plan, kernel_solve : The coalitions and the solution used.

    Examples
    --------
    >>> def value(masks):  # a game with an interaction of players 0 and 1
    ...     return masks @ np.array([1.0, 2.0, 3.0]) + 4.0 * masks[:, 0] * masks[:, 1]
    >>> kernel_shap(value, 3, 6, np.random.default_rng(0)).round(10)
    array([3., 4., 3.])
    """
    n = int(n_players)
    masks, weights, _ = kernel_plan(n, n_samples, rng)
    ends = np.zeros((2, n), dtype=bool)
    ends[1] = True
    v_ends = np.asarray(value(ends), dtype=float)
    v0, vN = v_ends[0], v_ends[1]
    L, c = kernel_solve(masks, weights)
    v = (
        np.asarray(value(masks), dtype=float)
        if len(masks)
        else np.zeros((0,) + v0.shape)
    )
    return L @ (v - v0) + np.multiply.outer(c, vN - v0)
