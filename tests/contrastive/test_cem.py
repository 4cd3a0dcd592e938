"""Tests of CEM: pertinent negatives and positives, batching, errors."""

import warnings
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from skxai.contrastive import CEM, ContrastiveExplanation  # noqa: E402

N_SAMPLES = 10
FAST = {
    "c_init": 1.0,
    "c_steps": 4,
    "max_iter": 150,
    "patience": 30,
    "image_shape": (8, 8),
}


@pytest.fixture(scope="module")
def explained(digits, logreg):
    """PN and PP explanations of the first digits, with their explainers."""
    X, _ = digits
    out = {}
    for mode in ("pn", "pp"):
        cem = CEM(logreg, mode=mode, feature_range=(0, 1), **FAST).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            out[mode] = cem, cem.explain(X[:N_SAMPLES])
    return out


def test_cem_pn_flips_prediction(digits, logreg, explained):
    """Check that x + PN changes the LogisticRegression's class for nearly all."""
    X, _ = digits
    _, ex = explained["pn"]
    assert isinstance(ex, ContrastiveExplanation)
    assert ex.found.mean() >= 0.9
    adv = X[:N_SAMPLES] + ex.delta.reshape(N_SAMPLES, -1)
    pred = logreg.predict(adv[ex.found])
    np.testing.assert_array_equal(pred, ex.new_class[ex.found])
    assert (pred != ex.original_class[ex.found]).all()
    np.testing.assert_array_equal(ex.original_class, logreg.predict(X[:N_SAMPLES]))


def test_cem_pp_alone_keeps_prediction(logreg, explained):
    """Check that the PP alone keeps the class for nearly all, and is sparse."""
    _, ex = explained["pp"]
    assert ex.found.mean() >= 0.9
    pp = ex.delta.reshape(N_SAMPLES, -1)[ex.found]
    assert (logreg.predict(pp) == ex.original_class[ex.found]).all()
    assert (np.count_nonzero(pp, axis=1) < 64).all()


def test_cem_deltas_respect_bounds_exactly(digits, explained):
    """Check that PN >= 0 with x + PN in [0, 1] and 0 <= PP <= x, with no slack."""
    X, _ = digits
    x = X[:N_SAMPLES]
    _, ex = explained["pn"]
    pn = ex.delta.reshape(N_SAMPLES, -1)[ex.found]
    assert (pn >= 0).all()
    assert (x[ex.found] + pn <= 1.0).all() and (x[ex.found] + pn >= 0.0).all()
    _, ex = explained["pp"]
    pp = ex.delta.reshape(N_SAMPLES, -1)[ex.found]
    assert (pp >= 0).all() and (pp <= x[ex.found]).all()


def test_cem_pp_between_no_info_and_x(digits, logreg):
    """Check that a PP lies between a 'mean' no_info value and x."""
    X, _ = digits
    cem = CEM(logreg, mode="pp", no_info="mean", **FAST).fit(X)
    ex = cem.explain(X[:3])
    ref = cem.no_info_.reshape(1, -1)
    pp = ex.delta.reshape(3, -1)
    lower, upper = np.minimum(ref, X[:3]), np.maximum(ref, X[:3])
    assert ((pp >= lower) & (pp <= upper))[ex.found].all()
    np.testing.assert_allclose(cem.no_info_, X.mean(axis=0))


def test_cem_transform_and_score(explained, digits):
    """Check transform's flat shape and that score is in [0, 1], higher better."""
    X, _ = digits
    cem, ex = explained["pn"]
    np.testing.assert_allclose(
        cem.transform(X[:2]), ex.delta.reshape(N_SAMPLES, -1)[:2], atol=1e-10
    )
    score = cem.score(X[:N_SAMPLES])
    assert 0.5 < score <= 1.0


def test_cem_batched_equals_alone(digits, logreg):
    """Check that a sample's result does not depend on its batch companions."""
    X, _ = digits
    cem = CEM(logreg, mode="pn", batch_size=4, **FAST).fit(X)
    together = cem.explain(X[:3])
    alone = clone(cem).set_params(batch_size=1).fit(X).explain(X[:3])
    np.testing.assert_array_equal(together.found, alone.found)
    np.testing.assert_allclose(together.delta, alone.delta, atol=1e-10)
    assert len(together.history) == len(alone.history)


def test_cem_zeroth_order_is_seeded(digits, logreg):
    """Check the black-box path (a callable) finds PNs reproducibly per seed."""
    X, _ = digits

    def scores(A):
        return logreg.decision_function(A)

    cem = CEM(scores, mode="pn", random_state=0, feature_range=(0, 1), **FAST)
    cem.set_params(max_iter=60, c_steps=2).fit(X)
    assert cem.gradient_ == "zeroth-order"
    first = cem.explain(X[:2])
    second = clone(cem).fit(X).explain(X[:2])
    np.testing.assert_array_equal(first.delta, second.delta)
    assert first.found.all()
    adv = X[:2] + first.delta.reshape(2, -1)
    assert (logreg.predict(adv) != first.original_class).all()


def test_cem_savepoints_are_iterates_at_run_iterations(digits, logreg):
    """Check savepoints: keys are iterations that were run, rows NaN after stopping.

    ``savepoints`` hold the optimiser's iterate and ``best_savepoints`` the best
    valid point so far; a key never exceeds the longest run, a sample that
    stopped earlier is NaN there, and n_iter matches the history.
    """
    X, _ = digits
    cem = CEM(
        logreg, save_freq=25, c_init=1.0, c_steps=2, max_iter=100, image_shape=(8, 8)
    )
    cem.fit(X)
    ex = cem.explain(X[:3])
    keys = list(ex.savepoints)
    assert isinstance(ex.savepoints, OrderedDict)
    assert keys == list(range(25, ex.n_iter.max() + 1, 25))
    assert list(ex.best_savepoints) == keys
    np.testing.assert_array_equal(cem.n_iter_, ex.n_iter)
    np.testing.assert_array_equal(
        ex.history.groupby("sample").size().to_numpy(), ex.n_iter
    )
    for key in keys:
        assert ex.savepoints[key].shape == (3, 8, 8)
        ran = ex.n_iter >= key
        assert np.isfinite(ex.savepoints[key][ran]).all()
        assert np.isnan(ex.savepoints[key][~ran]).all()
    # the iterate moves; the best valid point is kept once found
    first, last = keys[0], keys[-1]
    assert not np.allclose(ex.savepoints[first][0], ex.savepoints[keys[1]][0])
    best = ex.best_savepoints[last][ex.n_iter >= last]
    assert np.isfinite(best).all()
    empty = cem.explain(X[:0])
    assert empty.delta.shape == (0, 8, 8) and not empty.savepoints
    assert empty.to_frame().empty and len(cem.n_iter_) == 0


def test_cem_not_found_with_one_iteration(digits, logreg):
    """Check that max_iter=1 reports found=False and NaN deltas, with a warning."""
    X, _ = digits
    cem = CEM(logreg, max_iter=1, c_steps=1).fit(X)
    with pytest.warns(ConvergenceWarning, match="found no valid PN"):
        ex = cem.explain(X[:3])
    assert not ex.found.any()
    assert np.isnan(ex.delta).all()
    np.testing.assert_array_equal(ex.new_class, ex.original_class)
    with pytest.warns(ConvergenceWarning):
        assert cem.score(X[:3]) == 0.0


def test_cem_adaexpgrad_finds_pn(digits, logreg):
    """Check the corrected AdaExpGrad optimiser finds valid sparse PNs."""
    X, _ = digits
    cem = CEM(logreg, optimizer="adaexpgrad", learning_rate=1.0, **FAST).fit(X)
    ex = cem.explain(X[:4])
    assert ex.found.all()
    pn = ex.delta.reshape(4, -1)
    assert (pn >= 0).all()
    assert (logreg.predict(X[:4] + pn) != ex.original_class).all()
    assert (np.count_nonzero(pn, axis=1) < 64).all()


def test_cem_adaexpgrad_pp_starts_from_the_sample(digits, logreg):
    """Check AdaExpGrad starts a PP from the sample itself, as MAXi does.

    The first step is evaluated at ``delta = x`` (its l1 is ``|x|_1``, and the
    model keeps its class there), so MAXi's own setup (one ``c``, no search)
    finds a PP even with a single step, and with more steps shrinks it to a
    valid PP with far fewer features than the digit.
    """
    X, _ = digits
    n = 4
    one = dict(FAST, c_steps=1, max_iter=1)
    cem = CEM(logreg, mode="pp", optimizer="adaexpgrad", **one).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ex = cem.explain(X[:n])
    first = ex.history.groupby("sample").head(1)
    np.testing.assert_allclose(first["l1"], np.abs(X[:n]).sum(axis=1), rtol=1e-6)
    assert first["valid"].all()
    assert ex.found.all()
    cem.set_params(max_iter=150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ex = cem.explain(X[:n])
    assert ex.found.all()
    pp = ex.delta.reshape(n, -1)
    assert (logreg.predict(pp) == ex.original_class).all()
    assert ((pp >= 0) & (pp <= X[:n] + 1e-12)).all()
    assert (np.count_nonzero(pp, axis=1) < np.count_nonzero(X[:n], axis=1) / 2).all()


@pytest.mark.parametrize("mode", ["pn", "pp"])
def test_cem_adaexpgrad_c_steps_restart_as_maxi_runs(digits, logreg, mode):
    """Check each c step of an AdaExpGrad PP is a new MAXi run from the sample,
    while a PN continues from its iterate (its start, zero, is never revisited).
    """
    X, _ = digits
    n = 3
    cem = CEM(logreg, mode=mode, optimizer="adaexpgrad", **FAST)
    cem.set_params(c_steps=3, max_iter=40, c_patience=None).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ex = cem.explain(X[:n])
    hist = ex.history
    firsts = hist.groupby(["sample", "c_step"]).head(1)
    assert (firsts.groupby("sample").size() == 3).all()
    l1 = firsts["l1"].to_numpy().reshape(n, 3)
    if mode == "pp":
        full = np.abs(X[:n]).sum(axis=1)
        np.testing.assert_allclose(l1, np.repeat(full[:, None], 3, axis=1), rtol=1e-6)
    else:
        assert (l1[:, 0] == 0).all() and (l1[:, 1:] > 0).all()


@pytest.mark.parametrize("autoencoder", ["pca", "module"])
def test_cem_autoencoder_term(digits, logreg, autoencoder):
    """Check gamma > 0 works with the PCA autoencoder and with a torch module."""
    X, _ = digits
    if autoencoder == "module":
        autoencoder = torch.nn.Sequential(
            torch.nn.Linear(64, 8), torch.nn.Linear(8, 64)
        ).double()
    cem = CEM(logreg, gamma=0.1, autoencoder=autoencoder, n_components=10, **FAST)
    ex = cem.fit(X).explain(X[:2])
    assert ex.found.all()
    assert (ex.history["ae"] > 0).any()


def test_cem_tabular_and_dataframe(iris_logreg):
    """Check non-image inputs: DataFrame index kept, image shape (1, n_features)."""
    X, model = iris_logreg
    frame = pd.DataFrame(X[:3], index=["a", "b", "c"], columns=list("pqrs"))
    cem = CEM(model, c_init=10.0, c_steps=5, max_iter=300, image_shape=(1, 4))
    ex = cem.fit(pd.DataFrame(X, columns=list("pqrs"))).explain(frame)
    assert ex.delta.shape == (3, 1, 4)
    assert ex.found.all()
    assert ex.history["sample"].isin(["a", "b", "c"]).all()
    assert cem.feature_range_ == (0.0, X.max())  # widened to hold no_info=0


@pytest.fixture(scope="module")
def iris_logreg():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(X, columns=list("pqrs"))
    return X, LogisticRegression(max_iter=500).fit(frame, y)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "params, match",
    [
        ({"mode": "both"}, "'mode' parameter of CEM"),
        ({"optimizer": "adam"}, "'optimizer' parameter of CEM"),
        ({"kappa": -1.0}, "'kappa' parameter of CEM"),
        ({"beta": -0.1}, "'beta' parameter of CEM"),
        ({"gamma": -0.1}, "'gamma' parameter of CEM"),
        ({"gamma": 0.5}, "'gamma' parameter of CEM is 0.5 > 0.*autoencoder=None"),
        ({"feature_range": (1.0, 0.0)}, "min <= max"),
        ({"feature_range": (0.0,)}, r"\(min, max\) pair"),
        ({"no_info": 2.0, "feature_range": (0, 1)}, "'no_info' value of CEM"),
        ({"target": "all"}, "'target' parameter of CEM"),
    ],
)
def test_cem_bad_params(digits, logreg, params, match):
    """Check that bad parameters raise a ValueError naming them."""
    X, _ = digits
    with pytest.raises(ValueError, match=match):
        CEM(logreg, **params).fit(X)


def test_cem_feature_range_must_contain_X(digits, logreg):
    """Check that a feature_range not containing X fails in fit and in explain."""
    X, _ = digits
    with pytest.raises(ValueError, match="'feature_range' of CEM must contain"):
        CEM(logreg, feature_range=(0.0, 0.5)).fit(X)
    cem = CEM(logreg, feature_range=(0.0, 1.0)).fit(X)
    with pytest.raises(ValueError, match=r"must contain X.*\[0, 2\]"):
        cem.explain(X[:2] * 2)


def test_cem_autoencoder_shape_mismatch(digits, logreg):
    """Check that an autoencoder changing the shape is refused with the shapes."""
    X, _ = digits
    bad = torch.nn.Linear(64, 32).double()
    with pytest.raises(ValueError, match=r"shaped like its inputs \(1, 64\).*32"):
        CEM(logreg, gamma=0.1, autoencoder=bad).fit(X)


# ------------------------------------------- search, polish and batch compaction
@pytest.mark.parametrize("mode", ["pn", "pp"])
def test_cem_polish_reaches_the_decision_boundary(digits, binary_logreg, mode):
    """Check the final shrinking leaves each non-empty delta on the boundary.

    For a binary linear model the margin along ``s * delta`` is linear in ``s``,
    so the smallest valid point of the bisections lies on the decision boundary:
    the margin is (just) on the valid side and within the bisection tolerance
    of zero. FISTA's own best points overshoot it by 0.015 to 0.2 here.
    """
    X, y = digits
    Xb = X[y < 2]
    cem = CEM(binary_logreg, mode=mode, feature_range=(0, 1), **FAST).fit(Xb)
    ex = cem.explain(Xb[:8])
    assert ex.found.all()
    delta = ex.delta.reshape(8, -1)
    point = Xb[:8] + delta if mode == "pn" else delta
    side = np.where(ex.original_class == 1, 1.0, -1.0)
    margin = side * binary_logreg.decision_function(point)
    if mode == "pn":
        assert (margin < 0).all() and (margin > -5e-3).all()
    else:
        empty = (delta == 0).all(axis=1)
        # an empty PP only where no_info (0) alone already keeps the class
        np.testing.assert_array_equal(
            binary_logreg.predict(np.zeros((1, 64)))[0] == ex.original_class, empty
        )
        assert (margin > 0).all() and (margin[~empty] < 5e-3).all()


@pytest.mark.parametrize("mode", ["pn", "pp"])
def test_cem_keeps_best_point_over_all_iterations(digits, logreg, mode):
    """Check the returned delta is at least as small as every valid iterate.

    The elastic-net size ``beta |delta|_1 + |delta|_2^2`` of the result must not
    exceed the smallest one among the valid rows of the history (all iterations
    of all c steps), and samples with no valid row are not found.
    """
    X, _ = digits
    beta = 0.1
    cem = CEM(logreg, mode=mode, beta=beta, feature_range=(0, 1), **FAST).fit(X)
    ex = cem.explain(X[:6])
    hist = ex.history.assign(dist=lambda h: beta * h["l1"] + h["l2"])
    best = hist[hist["valid"]].groupby("sample")["dist"].min()
    best = best.reindex(range(6)).to_numpy()
    np.testing.assert_array_equal(ex.found, np.isfinite(best))
    delta = ex.delta.reshape(6, -1)
    if mode == "pp":
        delta = delta - cem.no_info_.reshape(1, -1)
    size = beta * np.abs(delta).sum(axis=1) + (delta**2).sum(axis=1)
    assert (size[ex.found] <= best[ex.found] * (1 + 1e-5) + 1e-9).all()


def test_cem_dropping_finished_samples_changes_nothing(digits, logreg):
    """Check results do not depend on which companions finish (and leave) first.

    The samples stop after different numbers of steps; explaining them in
    another order, in another batch split, or alone gives the same deltas,
    classes and per-sample histories.
    """
    X, _ = digits
    idx = np.arange(6)
    cem = CEM(logreg, mode="pn", batch_size=6, **FAST).fit(X)
    ref = cem.explain(X[idx])
    steps = ref.history.groupby("sample").size().to_numpy()
    assert len(set(steps.tolist())) > 1  # they really finish at different times
    order = idx[::-1]
    for batch_size, rows in ((6, order), (4, idx), (1, idx)):
        other = clone(cem).set_params(batch_size=batch_size).fit(X)
        ex = other.explain(X[rows])
        back = np.argsort(rows)
        np.testing.assert_array_equal(ex.found[back], ref.found)
        np.testing.assert_allclose(ex.delta[back], ref.delta, atol=1e-10)
        np.testing.assert_array_equal(ex.new_class[back], ref.new_class)
        np.testing.assert_array_equal(
            ex.history.groupby("sample").size().to_numpy()[back], steps
        )


def test_cem_pp_prune_only_shrinks_and_keeps_validity(digits, logreg):
    """Check the greedy pruning of small PP supports against the polish without it.

    Dropping a coordinate and scaling the others up must keep every PP valid,
    never raise ``|delta|_1`` (it lowers it for some samples here) nor the
    elastic-net size above the best valid iterate, and give the same result
    for a sample explained alone as in a batch.
    """
    X, _ = digits
    n, beta = 12, 0.1
    cem = CEM(logreg, mode="pp", beta=beta, feature_range=(0, 1), **FAST).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pruned = cem.explain(X[:n])
        alone = clone(cem).set_params(batch_size=1).fit(X).explain(X[:n])
        plain = clone(cem).set_params(prune_candidates=0).fit(X).explain(X[:n])
    np.testing.assert_array_equal(pruned.found, plain.found)
    found = pruned.found
    assert found.all()
    pp, ref = pruned.delta.reshape(n, -1), plain.delta.reshape(n, -1)
    np.testing.assert_array_equal(logreg.predict(pp), pruned.original_class)
    np.testing.assert_array_equal(logreg.predict(pp), pruned.new_class)
    l1, l1_ref = np.abs(pp).sum(axis=1), np.abs(ref).sum(axis=1)
    assert (l1 <= l1_ref + 1e-9).all()
    assert (l1 < l1_ref - 1e-3).any()  # the pruning really acts here
    assert ((pp != 0).sum(axis=1) <= (ref != 0).sum(axis=1)).all()
    hist = pruned.history.assign(dist=lambda h: beta * h["l1"] + h["l2"])
    best = hist[hist["valid"]].groupby("sample")["dist"].min().to_numpy()
    size = beta * l1 + (pp**2).sum(axis=1)
    assert (size <= best * (1 + 1e-5) + 1e-9).all()
    np.testing.assert_array_equal(alone.found, pruned.found)
    np.testing.assert_allclose(alone.delta, pruned.delta, atol=1e-10)


def _min_l1_pn(x, w, b, side):
    """Closed-form smallest ``|delta|_1`` of a PN of a binary linear model.

    The PN must bring ``side * (w @ (x + delta) + b)`` down to 0 with ``delta``
    in the default (sign) box on [0, 1] with ``no_info=0``: each feature may
    only grow, up to 1. A linear constraint over a box is a fractional
    knapsack: fill the features of largest ``-side * w_j > 0`` first.
    """
    rate = -side * w
    need, total = side * (w @ x + b), 0.0
    for j in np.argsort(-rate):
        if need <= 0 or rate[j] <= 0:
            break
        step = min(1.0 - x[j], need / rate[j])
        total += step
        need -= step * rate[j]
    return total


@pytest.mark.parametrize("optimizer", ["fista", "adaexpgrad"])
def test_cem_polish_reaches_the_min_l1_pn_of_a_linear_model(
    digits, binary_logreg, optimizer
):
    """Check the polished PN against the closed-form minimal-l1 PN.

    With ``l2=0`` the smallest valid PN of a binary linear model is the
    fractional knapsack of :func:`_min_l1_pn`. No valid PN is smaller, and the
    polish must come within 0.5% of it for every sample (its bisections,
    concentrating and pruning alone stay up to 2% above it here).
    """
    X, y = digits
    Xb = X[y < 2]
    cem = CEM(
        binary_logreg,
        mode="pn",
        l2=0.0,
        optimizer=optimizer,
        feature_range=(0, 1),
        **FAST,
    ).fit(Xb)
    ex = cem.explain(Xb[:8])
    assert ex.found.all()
    side = np.where(ex.original_class == 1, 1.0, -1.0)
    w, b = binary_logreg.coef_[0], binary_logreg.intercept_[0]
    best = np.array([_min_l1_pn(Xb[i], w, b, side[i]) for i in range(8)])
    l1 = np.abs(ex.delta.reshape(8, -1)).sum(axis=1)
    assert (best > 1.0).all()
    assert (l1 >= best * (1 - 1e-6)).all()
    assert (l1 <= best * 1.005).all(), l1 / best


@pytest.mark.parametrize("mode", ["pn", "pp"])
def test_cem_polish_keeps_validity_and_only_shrinks(digits, mlp, mode):
    """Check the polish on a nonlinear model (an MLP) against no polish.

    Every polished result stays valid with its margin (``kappa``) when the
    model is called on it, never has a larger ``|delta|_1`` than the best
    iterate (``polish=False``), is smaller for most samples, and is the same
    for a sample explained alone as in its batch.
    """
    X, _ = digits
    n, kappa = 8, 0.5
    params = dict(mode=mode, kappa=kappa, feature_range=(0, 1), l2=0.01, **FAST)
    cem = CEM(mlp, **params).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ex = cem.explain(X[:n])
        alone = clone(cem).set_params(batch_size=1).fit(X).explain(X[:n])
        plain = clone(cem).set_params(polish=False).fit(X).explain(X[:n])
    np.testing.assert_array_equal(ex.found, plain.found)
    found = ex.found
    assert found.sum() >= n - 1
    delta, ref = ex.delta.reshape(n, -1), plain.delta.reshape(n, -1)
    point = X[:n] + delta if mode == "pn" else delta
    proba = mlp.predict_proba(point[found])
    pred = proba.argmax(axis=1)
    np.testing.assert_array_equal(pred, ex.new_class[found])
    if mode == "pn":
        assert (pred != ex.original_class[found]).all()
    else:
        np.testing.assert_array_equal(pred, ex.original_class[found])
    assert (ex.margin[found] > kappa).all()
    l1, l1_ref = np.abs(delta).sum(axis=1), np.abs(ref).sum(axis=1)
    assert (l1[found] <= l1_ref[found] + 1e-9).all()
    assert (l1[found] < 0.99 * l1_ref[found]).mean() >= 0.5
    np.testing.assert_array_equal(alone.found, ex.found)
    np.testing.assert_allclose(alone.delta, ex.delta, atol=1e-6)


# ------------------------------------------------- honest results (issue 15)
def _gain(scores, t0, mode):
    """By how much a point is valid: PN max_other - f_t0, PP f_t0 - max_other."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(scores))
    f_t = scores[rows, t0]
    others = scores.copy()
    others[rows, t0] = -np.inf
    margin = f_t - others.max(axis=1)
    return -margin if mode == "pn" else margin


@pytest.mark.parametrize("mode", ["pn", "pp"])
@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_cem_found_results_valid_alone_and_in_any_batch(digits, logreg, mode, kappa):
    """Check every found result is valid, with its margin, for the user's calls.

    The model is called on the returned points all together, in reverse order,
    in two halves and one at a time: each found point beats the required margin
    (kappa, or the safety margin when kappa=0, so a PN is never a tie), and the
    reported margin is what the model gives.
    """
    X, _ = digits
    n = 8
    cem = CEM(logreg, mode=mode, kappa=kappa, feature_range=(0, 1), **FAST).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ex = cem.explain(X[:n])
    assert ex.found.sum() >= n - 1
    delta = ex.delta.reshape(n, -1)[ex.found]
    points = X[:n][ex.found] + delta if mode == "pn" else delta
    t0 = np.searchsorted(logreg.classes_, ex.original_class[ex.found])
    req = ex.required_margin[ex.found]
    if kappa == 0:
        scale = np.abs(logreg.decision_function(X[:n][ex.found])).max(axis=1)
        np.testing.assert_allclose(req, 1e-4 * scale)
    else:
        np.testing.assert_array_equal(req, kappa)
    calls = {
        "together": logreg.decision_function(points),
        "reversed": logreg.decision_function(points[::-1])[::-1],
        "halves": np.concatenate(
            [logreg.decision_function(p) for p in np.array_split(points, 2)]
        ),
        "alone": np.concatenate([logreg.decision_function(p[None]) for p in points]),
    }
    for name, scores in calls.items():
        gain = _gain(scores, t0, mode)
        assert (gain > req).all(), name
        assert (gain > 0).all(), name  # never a tie
    np.testing.assert_allclose(
        ex.margin[ex.found], _gain(calls["together"], t0, mode), rtol=1e-6, atol=1e-9
    )
    assert np.isnan(ex.margin[~ex.found]).all()


def test_cem_found_results_valid_for_a_torch_module_in_float32(digits):
    """Check a float32 torch module accepts every found PN alone and in batch."""
    X, y = digits
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10)
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    Xt, yt = torch.as_tensor(X[:600], dtype=torch.float32), torch.as_tensor(y[:600])
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    net.eval()
    X32 = X.astype(np.float32)
    cem = CEM(net, feature_range=(0, 1), **FAST).fit(X32[:300])
    ex = cem.explain(X32[:6])
    assert ex.found.all()
    points = X32[:6] + ex.delta.reshape(6, -1).astype(np.float32)
    t0 = ex.original_class
    with torch.no_grad():
        together = net(torch.as_tensor(points)).numpy()
        alone = np.concatenate([net(torch.as_tensor(p[None])).numpy() for p in points])
    for scores in (together, alone):
        assert (_gain(scores, t0, "pn") > ex.required_margin).all()


def test_cem_parameters_users_bring(digits, logreg):
    """Check mode is case-insensitive, beta is an alias of l1, and the defaults of
    learning_rate and patience follow the optimizer."""
    X, _ = digits
    a = CEM(logreg, mode="PN", beta=0.2, **FAST).fit(X)
    b = CEM(logreg, mode="pn", l1=0.2, **FAST).fit(X)
    assert a.l1_ == b.l1_ == 0.2
    ea, eb = a.explain(X[:3]), b.explain(X[:3])
    np.testing.assert_array_equal(ea.delta, eb.delta)
    assert ea.mode == "pn"
    assert CEM(logreg).fit(X).learning_rate_ == 1e-2
    ada = CEM(logreg, optimizer="adaexpgrad").fit(X)
    assert (ada.learning_rate_, ada.patience_) == (1.0, None)
    pp = CEM(logreg, mode="PP", **FAST).fit(X).explain(X[:1])
    assert pp.mode == "pp" and pp.found.all()


def test_cem_adaexpgrad_warning_gives_its_own_advice(digits, logreg):
    """Check the ConvergenceWarning of AdaExpGrad names its own knobs."""
    X, _ = digits
    cem = CEM(logreg, optimizer="adaexpgrad", max_iter=1, c_steps=1).fit(X)
    with pytest.warns(ConvergenceWarning, match="MAXi's 1 / eta"):
        ex = cem.explain(X[:2])
    assert not ex.found.any()


def test_cem_zeroth_order_row_does_not_depend_on_neighbours(digits, logreg):
    """Check the gradient-free path gives a row the same result whatever its
    batch and position (its random directions are seeded by its content)."""
    X, _ = digits

    def scores(A):
        return logreg.decision_function(A)

    cem = CEM(scores, random_state=3, feature_range=(0, 1), **FAST)
    cem.set_params(max_iter=40, c_steps=2).fit(X)
    rows = [5, 0, 9]
    together = cem.explain(X[rows])
    for i, r in enumerate(rows):
        alone = cem.explain(X[[r]])
        # equal up to the model's own rounding (BLAS sums depend on the batch)
        np.testing.assert_allclose(alone.delta[0], together.delta[i], atol=1e-10)
        assert alone.n_iter[0] == together.n_iter[i]
    shuffled = clone(cem).set_params(batch_size=2).fit(X).explain(X[rows[::-1]])
    np.testing.assert_allclose(shuffled.delta[::-1], together.delta, atol=1e-10)


@pytest.fixture(scope="module")
def alibi_iris():
    """alibi's CEM test: standardised iris, a one-vs-rest liblinear logistic
    regression called through predict_proba, feature_range min - .1, max + .1."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    data = load_iris()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    clf = OneVsRestClassifier(LogisticRegression(solver="liblinear"))
    clf.fit(X, data.target)
    feature_range = (X.min(axis=0) - 0.1, X.max(axis=0) + 0.1)
    return X, clf, feature_range


def test_cem_pn_box_alibi_replays_alibis_iris_test(alibi_iris):
    """Check pn_box='alibi' passes alibi's own iris test (no_info=-1, 10 steps).

    The PN changes the class, differs from x, and every changed feature ends
    farther from no_info than x is.
    """
    X, clf, feature_range = alibi_iris
    cem = CEM(
        clf.predict_proba,
        mode="PN",
        feature_range=feature_range,
        max_iter=10,
        no_info=-1.0,
        pn_box="alibi",
        random_state=0,
    ).fit(X)
    ex = cem.explain(X[:1])
    assert ex.found[0]
    pn = X[:1] + ex.delta.reshape(1, -1)
    assert (pn != X[:1]).sum() > 0
    assert clf.predict(pn)[0] != clf.predict(X[:1])[0] == ex.original_class[0]
    changed = pn[0] != X[0]
    assert (np.abs(pn[0] - -1.0) > np.abs(X[0] - -1.0))[changed].all()
    assert ((pn >= feature_range[0]) & (pn <= feature_range[1])).all()


def test_cem_default_pn_box_holds_no_pn_on_alibis_iris(alibi_iris):
    """Check the documented difference: the default box has no valid PN there.

    With no_info=-1, sample 0's features below -1 may only shrink and those
    above only grow; a dense grid of that box is classified as setosa
    everywhere, and CEM reports found=False.
    """
    X, clf, (lo, hi) = alibi_iris
    x = X[0]
    below = x < -1.0
    axes = [
        np.linspace(lo[j], x[j], 7) if below[j] else np.linspace(x[j], hi[j], 7)
        for j in range(4)
    ]
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 4)
    assert (clf.predict(grid) == clf.predict(X[:1])[0]).all()
    cem = CEM(
        clf.predict_proba,
        feature_range=(lo, hi),
        max_iter=10,
        no_info=-1.0,
        random_state=0,
    ).fit(X)
    with pytest.warns(ConvergenceWarning):
        assert not cem.explain(X[:1]).found[0]


@pytest.fixture(scope="module")
def onehot_table():
    """A table with a one-hot colour (3 columns) and two numbers; the class is
    mostly the colour."""
    rng = np.random.default_rng(0)
    n = 300
    colour = rng.integers(0, 3, n)
    onehot = np.eye(3)[colour]
    numbers = rng.uniform(0, 1, (n, 2))
    X = pd.DataFrame(
        np.column_stack([onehot, numbers]),
        columns=["red", "green", "blue", "size", "weight"],
    )
    y = (colour == 2) ^ (numbers[:, 0] > 0.9)
    from sklearn.linear_model import LogisticRegression

    return X, LogisticRegression(C=10.0, max_iter=500).fit(X, y)


@pytest.mark.parametrize("mode", ["pn", "pp"])
def test_cem_onehot_group_moves_as_a_whole(onehot_table, mode):
    """Check a one-hot group is switched as a whole, and to_frame names features.

    A PN turns the colour into exactly one other colour (never two at once), a
    PP keeps the sample's colour or drops it whole; to_frame lists the changed
    features by name.
    """
    X, model = onehot_table
    groups = {
        "colour": ["red", "green", "blue"],
        "size": ["size"],
        "weight": ["weight"],
    }
    cem = CEM(
        model,
        mode=mode,
        groups=groups,
        feature_range="fit",
        c_init=1.0,
        c_steps=5,
        max_iter=200,
    )
    cem.fit(X)
    rows = X.index[:12]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ex = cem.explain(X.loc[rows])
    assert ex.found.mean() >= 0.8
    x = X.loc[rows].to_numpy()
    delta = ex.delta.reshape(len(rows), -1)[ex.found]
    point = x[ex.found] + delta if mode == "pn" else delta
    block = point[:, :3]
    if mode == "pn":
        assert np.isin(block, [0.0, 1.0]).all()
        assert (block.sum(axis=1) == 1).all()
        assert (
            model.predict(pd.DataFrame(point, columns=X.columns))
            != ex.original_class[ex.found]
        ).all()
    else:
        own = x[ex.found][:, :3]
        assert np.all((block == own).all(axis=1) | (block == 0).all(axis=1))
    frame = ex.to_frame()
    assert set(frame["feature"]) <= set(X.columns)
    assert set(frame["sample"]) <= set(rows)
    for _, row in frame.iterrows():
        j = list(X.columns).index(row["feature"])
        assert row["original"] == X.loc[row["sample"]].iloc[j]


def test_cem_feature_range_fit_is_per_feature(onehot_table):
    """Check feature_range='fit' learns each feature's bounds (and no_info's)."""
    X, model = onehot_table
    cem = CEM(model, feature_range="fit", no_info=0.0).fit(X)
    lo, hi = cem.feature_range_
    np.testing.assert_array_equal(lo, np.minimum(X.min().to_numpy(), 0.0))
    np.testing.assert_array_equal(hi, X.max().to_numpy())


@pytest.mark.parametrize(
    "params, match",
    [
        ({"mode": "Both"}, "'mode' parameter of CEM"),
        ({"beta": 0.2, "l1": 0.3}, "'beta' parameter of CEM is alibi's name"),
        ({"pn_box": "free"}, "'pn_box' parameter of CEM"),
        ({"l2": -1.0}, "'l2' parameter of CEM"),
        ({"groups": {"g": [0, 1]}}, "group 'g' .* is not one-hot"),
    ],
)
def test_cem_bad_new_params(digits, logreg, params, match):
    """Check that bad values of the new parameters raise a ValueError naming them."""
    X, _ = digits
    with pytest.raises(ValueError, match=match):
        CEM(logreg, **params).fit(X)


def test_cem_refuses_a_raw_table_with_text_columns():
    """Check a DataFrame with a text column is refused with the fix (groups=)."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"c": rng.choice(["a", "b"], 60), "v": rng.normal(size=60)})
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, X["c"] == "a")
    with pytest.raises(ValueError, match="needs numeric X.*groups="):
        CEM(model).fit(X)
