"""Tests of ShapleyValues and KernelSHAP: closed forms, brute force, axioms."""

import pickle
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skxai.shapley import KernelSHAP, ShapleyValues


@pytest.fixture(scope="module")
def iris_like():
    X, y = make_classification(
        n_samples=120,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )
    return X, y, LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture(scope="module")
def forest():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, random_state=1
    )
    model = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0)
    return X, y, model.fit(X, y)


def brute_force_shapley(model, x, background, target):
    """The Shapley formula over all coalitions, each worth computed directly."""
    n = len(x)

    def worth(S):
        rows = background.copy()
        rows[:, list(S)] = x[list(S)]
        return model.predict_proba(rows)[:, target].mean()

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            w = factorial(size) * factorial(n - size - 1) / factorial(n)
            for S in combinations(others, size):
                phi[i] += w * (worth(S + (i,)) - worth(S))
    return phi


LINEAR_CASES = [
    ("exact", lambda m: ShapleyValues(m, method="exact", target="all")),
    (
        "permutation",
        lambda m: ShapleyValues(
            m, method="permutation", n_permutations=40, target="all", random_state=0
        ),
    ),
    ("kernel_all", lambda m: KernelSHAP(m, n_samples=30, target="all")),
]


@pytest.mark.parametrize("name, make", LINEAR_CASES, ids=[c[0] for c in LINEAR_CASES])
def test_linear_model_closed_form(iris_like, name, make):
    """Check that every method gives coef_ * (x - mean(background)) exactly."""
    X, _, clf = iris_like
    background, samples = X[:40], X[40:46]
    ex = make(clf).fit(background).explain(samples)
    expected = clf.coef_[None] * (samples - background.mean(axis=0))[:, None]
    np.testing.assert_allclose(ex.maps, expected, atol=1e-10)
    np.testing.assert_allclose(ex.values, expected, atol=1e-10)
    base = clf.decision_function(background).mean(axis=0)
    np.testing.assert_allclose(ex.base_values, np.tile(base, (6, 1)), atol=1e-12)
    np.testing.assert_allclose(ex.residual, 0.0, atol=1e-10)


def test_kernel_sampled_linear_is_exact_when_full_rank(iris_like):
    """Check that sampled KernelSHAP recovers an additive model exactly."""
    X, _, clf = iris_like
    ks = KernelSHAP(clf, n_samples=16, target=1, random_state=0).fit(X[:40])
    ex = ks.explain(X[40:44])
    expected = clf.coef_[1] * (X[40:44] - X[:40].mean(axis=0))
    np.testing.assert_allclose(ex.maps[:, 0], expected, atol=1e-9)


def test_exact_equals_brute_force_on_forest(forest):
    """Check exact ShapleyValues against the Shapley formula on a 6-feature forest."""
    X, _, model = forest
    background, samples = X[:15], X[100:103]
    sv = ShapleyValues(
        model, method="exact", response_method="predict_proba", target=1
    ).fit(background)
    ex = sv.explain(samples)
    for i, x in enumerate(samples):
        expected = brute_force_shapley(model, x, background, 1)
        np.testing.assert_allclose(ex.values[i, 0], expected, atol=1e-12)
    full = model.predict_proba(samples)[:, 1]
    base = model.predict_proba(background)[:, 1].mean()
    np.testing.assert_allclose(ex.values[:, 0].sum(axis=1), full - base, atol=1e-12)
    np.testing.assert_allclose(ex.base_values[:, 0], base)


def test_sampled_methods_close_to_exact_on_forest(forest):
    """Check permutation and KernelSHAP estimates against the exact values."""
    X, _, model = forest
    background, samples = X[:15], X[100:104]
    kw = {"response_method": "predict_proba", "target": 1}
    exact = ShapleyValues(model, method="exact", **kw).fit(background)
    exact = exact.explain(samples).values
    perm = ShapleyValues(
        model, method="permutation", n_permutations=300, random_state=0, **kw
    ).fit(background)
    ex = perm.explain(samples)
    assert np.all(np.abs(ex.values - exact) <= 4 * ex.std_error + 1e-12)
    assert ex.std_error.max() < 0.02
    np.testing.assert_allclose(ex.residual, 0.0, atol=1e-12)
    kernel = KernelSHAP(model, n_samples=40, random_state=0, **kw).fit(background)
    ex = kernel.explain(samples)
    assert np.abs(ex.values - exact).max() < 0.02
    np.testing.assert_allclose(ex.residual, 0.0, atol=1e-12)


def _symmetric_scores(X):
    s = X[:, 0] * X[:, 1] + np.sin(X[:, 2])  # column 3 is ignored
    return np.column_stack([-s, s])


@pytest.mark.parametrize(
    "make",
    [
        lambda m: ShapleyValues(m, method="exact", target=1),
        lambda m: ShapleyValues(
            m, method="permutation", n_permutations=20, target=1, random_state=0
        ),
        lambda m: KernelSHAP(m, n_samples=14, target=1),
    ],
    ids=["exact", "permutation", "kernel"],
)
def test_symmetry_and_dummy(make):
    """Check that twin features get equal values and an ignored one gets 0."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    X[:, 1] = X[:, 0]  # twins, in the samples and in the background
    ex = make(_symmetric_scores).fit(X[:20]).explain(X[20:])
    values = ex.values[:, 0]
    np.testing.assert_allclose(values[:, 3], 0.0, atol=1e-12)
    if ex.explainer != "ShapleyValues" or ex.params["method"] == "exact":
        np.testing.assert_allclose(values[:, 0], values[:, 1], atol=1e-12)
    np.testing.assert_allclose(
        values.sum(axis=1),
        _symmetric_scores(X[20:])[:, 1] - _symmetric_scores(X[:20])[:, 1].mean(),
        atol=1e-12,
    )


@pytest.fixture(scope="module")
def categorical_frame():
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "b": rng.normal(size=n),
        }
    )
    y = ((frame["a"] > 0) ^ (frame["colour"] == "red")).astype(int).to_numpy()
    return frame, y


@pytest.mark.parametrize("cls", [ShapleyValues, KernelSHAP])
def test_one_hot_block_equals_raw_column(categorical_frame, cls):
    """Check that a one-hot block as one player equals the raw categorical column."""
    frame, y = categorical_frame
    encode = ColumnTransformer(
        [("oh", OneHotEncoder(), ["colour"])], remainder="passthrough"
    )
    pipe = make_pipeline(encode, LogisticRegression()).fit(frame, y)
    raw = cls(pipe, target=1, response_method="predict_proba").fit(frame[:30])
    raw_values = raw.explain(frame[30:36]).values[:, 0]
    encoded = encode.transform(frame)
    clf = pipe[-1]
    names = list(encode.get_feature_names_out())
    groups = ["colour" if n.startswith("oh__") else n for n in names]
    grouped = cls(clf, groups=groups, target=1, response_method="predict_proba")
    ex = grouped.fit(encoded[:30]).explain(encoded[30:36])
    by_name = dict(zip(grouped.player_names_, ex.values[:, 0].T))
    raw_by_name = dict(zip(raw.player_names_, raw_values.T))
    np.testing.assert_allclose(by_name["colour"], raw_by_name["colour"], atol=1e-12)
    np.testing.assert_allclose(by_name["remainder__a"], raw_by_name["a"], atol=1e-12)
    # each of the block's three one-hot columns shows the block's value
    np.testing.assert_allclose(
        ex.maps[:, 0, :3], np.repeat(by_name["colour"][:, None], 3, 1)
    )
    frame = ex.to_frame()
    shown = frame[frame.feature == "colour"].value.to_numpy()
    np.testing.assert_allclose(shown, by_name["colour"])


@pytest.mark.parametrize("method", ["exact", "permutation"])
def test_image_superpixels_linear(method):
    """Check grid superpixels on a flat image: a cell's value sums its pixels."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4 * 6))
    y = (X[:, :5].sum(1) > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    sv = ShapleyValues(
        clf,
        method=method,
        n_permutations=20,  # every background row serves one pair: exact
        window=(2, 3),
        image_shape=(4, 6),
        target=1,
        random_state=0,
    ).fit(X[:20])
    ex = sv.explain(X[20:23])
    assert sv.n_players_ == 4 and ex.maps.shape == (3, 1, 4, 6)
    contrib = (clf.coef_[0] * (X[20:23] - X[:20].mean(0))).reshape(3, 4, 6)
    cells = contrib.reshape(3, 2, 2, 2, 3).sum(axis=(2, 4)).reshape(3, 4)
    np.testing.assert_allclose(ex.values[:, 0], cells, atol=1e-12)
    # every pixel of a cell shows the cell's value
    cell_maps = ex.maps[:, 0].reshape(3, 2, 2, 2, 3)
    np.testing.assert_allclose(
        cell_maps, np.broadcast_to(cells.reshape(3, 2, 1, 2, 1), cell_maps.shape)
    )
    assert list(sv.player_names_) == ["r0c0", "r0c1", "r1c0", "r1c1"]


@pytest.mark.parametrize(
    "make",
    [
        lambda m: ShapleyValues(m, method="permutation", n_permutations=4),
        lambda m: KernelSHAP(m, n_samples=24),
    ],
    ids=["permutation", "kernel"],
)
def test_invariant_to_batch_jobs_and_position(forest, make):
    """Check that a row's values do not depend on batch_size, n_jobs or position."""
    X, _, model = forest
    explainer = make(model).set_params(random_state=3, n_reference=10)
    ref = clone(explainer).fit(X[:40]).transform(X[50:56])
    for params in ({"batch_size": 7}, {"batch_size": 100_000}, {"n_jobs": 2}):
        other = clone(explainer).set_params(**params).fit(X[:40]).transform(X[50:56])
        np.testing.assert_allclose(other, ref, atol=1e-12, err_msg=str(params))
    fitted = clone(explainer).fit(X[:40])
    np.testing.assert_allclose(fitted.transform(X[[55, 52]]), ref[[5, 2]], atol=1e-12)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform(X[50:56]), ref, atol=1e-12)


def test_fill_value_and_background_cap(iris_like):
    """Check fill='mean' and a number, and the n_reference cap on background rows."""
    X, _, clf = iris_like
    sv = ShapleyValues(clf, method="exact", fill="mean", target=0).fit(X[:40])
    ex = sv.explain(X[40:43])
    expected = clf.coef_[0] * (X[40:43] - X[:40].mean(axis=0))
    np.testing.assert_allclose(ex.maps[:, 0], expected, atol=1e-10)
    sv = ShapleyValues(clf, method="exact", fill=0.5, target=0).fit(X[:40])
    ex = sv.explain(X[40:43])
    np.testing.assert_allclose(ex.maps[:, 0], clf.coef_[0] * (X[40:43] - 0.5))
    capped = ShapleyValues(clf, n_reference=7, random_state=0).fit(X[:40])
    assert capped.reference_.shape == (7, X.shape[1])
    assert all(any(np.array_equal(r, x) for x in X[:40]) for r in capped.reference_)


def test_auto_method_and_grid_search(iris_like):
    """Check that method="auto" picks exact when cheap; GridSearchCV tunes it."""
    X, y, clf = iris_like
    assert ShapleyValues(clf).fit(X[:20]).method_ == "exact"
    wide = np.hstack([X, X, X])
    clf_wide = LogisticRegression(max_iter=500).fit(wide, y)
    assert ShapleyValues(clf_wide, n_permutations=2).fit(wide[:20]).method_ == (
        "permutation"
    )
    search = GridSearchCV(
        ShapleyValues(clf_wide, method="permutation", n_reference=5, random_state=0),
        {"n_permutations": [1, 2]},
        cv=2,
    ).fit(wide[:30], y[:30])
    assert search.best_params_["n_permutations"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    cloned = clone(search.best_estimator_)
    assert cloned.model is clf_wide


@pytest.mark.parametrize(
    "make, X_shape, match",
    [
        (lambda m: ShapleyValues(m, method="exact"), (10, 21), "at most 20 players"),
        (lambda m: ShapleyValues(m, window=2), (10, 4), "window"),
        (lambda m: ShapleyValues(m, fill=np.nan), (10, 4), "finite"),
        (lambda m: KernelSHAP(m, fill=np.ones(3)), (10, 4), "fill"),
        (lambda m: ShapleyValues(m, method="kernel"), (10, 4), "method"),
        (lambda m: ShapleyValues(m, n_permutations=0), (10, 4), "n_permutations"),
        (lambda m: KernelSHAP(m, n_samples=0), (10, 4), "n_samples"),
        (lambda m: KernelSHAP(m, n_reference=0), (10, 4), "n_reference"),
        (
            lambda m: ShapleyValues(m, window=(5, 1), image_shape=(2, 2)),
            (10, 4),
            "window",
        ),
    ],
)
def test_bad_parameters(make, X_shape, match):
    """Check clear errors for bad parameters."""
    X = np.random.default_rng(0).normal(size=X_shape)
    with pytest.raises(ValueError, match=match):
        make(_any_scores).fit(X)


def _any_scores(X):
    s = np.asarray(X).sum(1)
    return np.column_stack([-s, s])


def test_raw_frame_rejects_numeric_fill(categorical_frame):
    """Check that a fill value on a table with text columns asks for fill=None."""
    frame, y = categorical_frame
    encode = ColumnTransformer(
        [("oh", OneHotEncoder(), ["colour"])], remainder="passthrough"
    )
    pipe = make_pipeline(encode, LogisticRegression()).fit(frame, y)
    with pytest.raises(ValueError, match="fill.*None"):
        ShapleyValues(pipe, fill=0.0).fit(frame)


def test_permutation_fewer_pairs_than_background_reports_residual(forest):
    """Check that too few pairs for the background give the honest residual."""
    X, _, model = forest
    kw = {"response_method": "predict_proba", "target": 1, "random_state": 0}
    sv = ShapleyValues(model, method="permutation", n_permutations=4, **kw)
    ex = sv.fit(X[:30]).explain(X[100:103])
    full = model.predict_proba(X[100:103])[:, 1]
    gap = ex.values[:, 0].sum(axis=1) - (full - ex.base_values[:, 0])
    np.testing.assert_allclose(ex.residual[:, 0], gap, atol=1e-12)
    assert np.abs(ex.residual).max() > 1e-6


def test_raw_frame_permutation_is_efficient(categorical_frame):
    """Check permutation sampling on a raw DataFrame with a text column."""
    frame, y = categorical_frame
    encode = ColumnTransformer(
        [("oh", OneHotEncoder(), ["colour"])], remainder="passthrough"
    )
    pipe = make_pipeline(encode, LogisticRegression()).fit(frame, y)
    sv = ShapleyValues(
        pipe, method="permutation", n_permutations=20, target=1, random_state=0
    ).fit(frame[:20])
    ex = sv.explain(frame[30:34])
    assert list(sv.player_names_) == ["a", "colour", "b"]
    np.testing.assert_allclose(ex.residual, 0.0, atol=1e-12)
    exact = ShapleyValues(pipe, method="exact", target=1).fit(frame[:20])
    close = exact.explain(frame[30:34]).values
    assert np.abs(ex.values - close).max() < 0.5 * np.abs(close).max()


def test_torch_image_superpixels_model_untouched():
    """Check N-D images with a window grid, and a torch model left in train mode."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1),
        torch.nn.Dropout(0.5),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 6 * 6, 3),
    ).double()
    net.train()
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(8, 1, 6, 6))
    sv = ShapleyValues(net, method="exact", window=3, target="all").fit(X[:5])
    ex = sv.explain(X[5:])
    assert sv.n_players_ == 4 and ex.maps.shape == (3, 3, 1, 6, 6)
    assert net.training and all(p.grad is None for p in net.parameters())
    net.eval()
    with torch.no_grad():
        full = net(torch.as_tensor(X[5:])).numpy()
        base = net(torch.as_tensor(X[:5])).numpy().mean(axis=0)
    np.testing.assert_allclose(ex.values.sum(axis=2), full - base, atol=1e-10)
    np.testing.assert_allclose(ex.base_values, np.tile(base, (3, 1)), atol=1e-12)
    # every pixel of the first cell shows the cell's value
    cell = ex.maps[:, :, 0, :3, :3].reshape(3, 3, 9)
    np.testing.assert_allclose(cell, np.repeat(ex.values[:, :, :1], 9, axis=2))


@pytest.mark.parametrize(
    "make",
    [
        lambda m: ShapleyValues(m, method="exact"),
        lambda m: ShapleyValues(m, method="permutation", n_permutations=6),
        lambda m: ShapleyValues(m, method="permutation", fill="mean"),
        lambda m: KernelSHAP(m, n_samples=10),
    ],
    ids=["exact", "permutation", "permutation-fill", "kernel"],
)
def test_batch_size_bounds_model_inputs(make):
    """Check that no model call gets more than batch_size inputs."""
    sizes = []

    def scores(X):
        sizes.append(len(X))
        return _any_scores(X)

    X = np.random.default_rng(0).normal(size=(20, 5))
    explainer = make(scores).set_params(batch_size=16, random_state=0, n_reference=7)
    explainer.fit(X[:10])
    sizes.clear()
    explainer.transform(X[10:])
    assert sizes and max(sizes) <= 16


@pytest.mark.parametrize(
    "make",
    [
        lambda m: ShapleyValues(m, method="exact", target=1),
        lambda m: ShapleyValues(m, method="permutation", n_permutations=10, target=1),
        lambda m: ShapleyValues(
            m, method="permutation", n_permutations=10, fill="mean", target=1
        ),
        lambda m: KernelSHAP(m, n_samples=6, target=1),
    ],
    ids=["exact", "permutation", "permutation-fill", "kernel"],
)
def test_features_left_out_of_groups_keep_sample_values(make):
    """Check that ungrouped columns stay at x, in v(empty) too (efficiency)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    y = (frame.a + frame.d > 0).astype(int)
    clf = LogisticRegression().fit(frame, y)
    explainer = make(clf).set_params(groups={"ab": ["a", "b"], "c": ["c"]})
    explainer.set_params(random_state=0).fit(frame[:10])
    ex = explainer.explain(frame[10:13])
    assert list(explainer.player_names_) == ["ab", "c"]
    w, samples = clf.coef_[0], frame[10:13].to_numpy()
    fill = frame[:10].to_numpy().mean(0)
    expected_ab = (w[:2] * (samples[:, :2] - fill[:2])).sum(1)
    np.testing.assert_allclose(ex.values[:, 0, 0], expected_ab, atol=1e-10)
    np.testing.assert_allclose(ex.maps[:, 0, 3], 0.0)
    full = clf.decision_function(frame[10:13])
    np.testing.assert_allclose(
        ex.values[:, 0].sum(1), full - ex.base_values[:, 0], atol=1e-10
    )
    np.testing.assert_allclose(ex.residual, 0.0, atol=1e-10)


def test_permutation_masks_built_lazily_give_same_values(forest, monkeypatch):
    """Check that masks built one engine sample at a time give the same values."""
    from skxai.shapley import _explainers

    X, _, model = forest
    sv = ShapleyValues(model, method="permutation", n_permutations=30, random_state=0)
    sv.fit(X[:20])
    eager = sv.transform(X[50:53])
    monkeypatch.setattr(_explainers, "_EAGER_MASK_BYTES", 0)
    np.testing.assert_array_equal(sv.transform(X[50:53]), eager)
