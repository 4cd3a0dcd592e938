"""Tests of the black-box explainers Occlusion and RISE."""

import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skxai.saliency import RISE, Occlusion

N_EXPLAINED = 4


# ----------------------------------------------------------------- helpers
def _brute_force_occlusion(score, X, window, stride, image_hw, fill=0.0):
    """Occlusion maps of every class by a plain loop over window positions."""
    height, width = image_hw
    maps = []
    for x in X:
        image = x.reshape(height, width)
        fill_img = np.broadcast_to(np.asarray(fill, float), x.shape).reshape(
            height, width
        )
        base = score(x[None])[0]
        sums = np.zeros((len(base), height, width))
        counts = np.zeros((height, width))
        for r in range(0, height, stride[0]):
            for c in range(0, width, stride[1]):
                occluded = image.copy()
                rs, cs = slice(r, r + window[0]), slice(c, c + window[1])
                occluded[rs, cs] = fill_img[rs, cs]
                drop = base - score(occluded.reshape(1, -1))[0]
                sums[:, rs, cs] += drop[:, None, None]
                counts[rs, cs] += 1
        maps.append(sums / counts)
    return np.stack(maps)


def _brute_force_rise(score, X, masks, p1, fill=0.0, debiased=False):
    """RISE maps of every class by a plain loop over masks."""
    maps = []
    for x in X:
        sal = 0.0
        for mask in masks:
            m = mask.reshape(-1)
            f = score((x * m + fill * (1 - m))[None])[0]
            weight = mask - p1 if debiased else mask
            sal = sal + f[:, None, None] * weight[None]
        maps.append(sal / (len(masks) * p1))
    return np.stack(maps)


class _PredictOnly(ClassifierMixin, BaseEstimator):
    """A fitted classifier with neither decision_function nor predict_proba."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.fixture(scope="module")
def colour_digits(digits):
    """Digits as 8x8x3 colour images (channels last, flat) and a model on them."""
    X, y = digits
    images = X.reshape(-1, 8, 8)
    colour = np.stack([images, 0.5 * images, 1.0 - images], axis=-1)
    X3 = colour.reshape(len(X), -1)
    clf = LogisticRegression(solver="saga", tol=0.1, max_iter=20)
    return X3, y, clf.fit(X3[:300], y[:300])


@pytest.fixture(scope="module")
def torch_cnn():
    """A small random torch CNN taking (n, 1, 8, 8) images."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 10),
    ).double()


# -------------------------------------------------------------- Occlusion
def test_occlusion_closed_form_multiclass(digits, logreg):
    """Check that a 1x1 window on a linear model gives coef_[c, p] * x[p]."""
    X, _ = digits
    occ = Occlusion(
        logreg, response_method="decision_function", target="all", fill=0.0
    ).fit(X)
    maps = occ.transform(X[:N_EXPLAINED]).reshape(N_EXPLAINED, 10, 64)
    expected = logreg.coef_[None] * X[:N_EXPLAINED, None, :]
    assert_allclose(maps, expected, rtol=1e-9, atol=1e-12)


def test_occlusion_closed_form_binary(digits, binary_logreg):
    """Check that a binary linear model gives the [-d, d] maps -+coef_ * x."""
    X, _ = digits
    occ = Occlusion(
        binary_logreg, response_method="decision_function", target="all", fill=0.0
    ).fit(X)
    maps = occ.explain(X[:N_EXPLAINED]).maps.reshape(N_EXPLAINED, 2, 64)
    d = binary_logreg.coef_[0] * X[:N_EXPLAINED]
    assert_allclose(maps[:, 1], d, rtol=1e-9, atol=1e-12)
    assert_allclose(maps[:, 0], -d, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "window, stride", [((2, 2), (1, 1)), ((2, 2), (2, 2)), ((3, 3), (2, 2))]
)
def test_occlusion_brute_force(digits, mlp, window, stride):
    """Check that the vectorised maps equal a plain loop over windows."""
    X, _ = digits
    occ = Occlusion(
        mlp,
        window=window,
        stride=stride,
        image_shape=(8, 8),
        target="all",
        response_method="predict_proba",
    ).fit(X)
    maps = occ.explain(X[:3]).maps
    expected = _brute_force_occlusion(mlp.predict_proba, X[:3], window, stride, (8, 8))
    assert_allclose(maps, expected, rtol=1e-10, atol=1e-12)


def test_occlusion_window_placement():
    """Check xaitk's placement: 784 windows of 2x2 at stride 1 cover a 28x28 image."""
    X = np.random.RandomState(0).rand(3, 784)
    occ = Occlusion(
        lambda X: X[:, :3], window=(2, 2), stride=(1, 1), image_shape=(28, 28)
    ).fit(X)
    assert occ.masks_.shape == (784, 28, 28)
    assert occ.masks_.dtype == bool
    assert occ.masks_.any(axis=0).all()
    assert occ.masks_[-1].sum() == 1  # the last window is clipped to one pixel
    by_4 = Occlusion(lambda X: X[:, :3], window=4, image_shape=(28, 28)).fit(X)
    assert by_4.masks_.shape == (49, 28, 28)


def test_occlusion_skips_windows_that_change_nothing():
    """Check windows already at the fill value are not scored and drop 0."""
    calls = []

    def model(X):
        calls.append(len(X))
        return np.column_stack([X.sum(axis=1), -X.sum(axis=1)])

    X = np.zeros((2, 16))
    X[0, 5] = 2.0
    occ = Occlusion(model, window=1, image_shape=(4, 4), target="all").fit(X)
    calls.clear()
    maps = occ.explain(X).maps
    # predictions of the two samples, then the samples and one changed window
    assert calls == [2, 3]
    expected = np.zeros((2, 2, 16))
    expected[0, :, 5] = [2.0, -2.0]
    assert_allclose(maps.reshape(2, 2, 16), expected)
    assert occ.explain(X[:0]).maps.shape == (0, 2, 4, 4)
    rise = RISE(model, n_masks=3, grid_size=2, image_shape=(4, 4), target="all")
    rise.fit(X)
    assert rise.explain(X[:0]).maps.shape == (0, 2, 4, 4)


@pytest.mark.parametrize("Explainer", [Occlusion, RISE])
def test_perturbation_n_jobs_batch_size_invariance(digits, mlp, Explainer):
    """Check the same maps for n_jobs 1 and 2, any batch_size, a row alone."""
    X, _ = digits
    params = (
        {"window": (2, 2), "stride": (1, 1), "image_shape": (8, 8)}
        if Explainer is Occlusion
        else {
            "n_masks": 40,
            "grid_size": 4,
            "image_shape": (8, 8),
            "random_state": 0,
        }
    )
    ref = Explainer(mlp, target="all", **params).fit(X).transform(X[:3])
    for batch_size, n_jobs in [(1, 1), (7, 1), (1024, 2)]:
        exp = Explainer(
            mlp, target="all", batch_size=batch_size, n_jobs=n_jobs, **params
        ).fit(X)
        with joblib.parallel_config(backend="threading"):
            assert_allclose(exp.transform(X[:3]), ref, rtol=1e-12, atol=1e-14)
    alone = Explainer(mlp, target="all", **params).fit(X).transform(X[2:3])
    assert_allclose(alone, ref[2:3], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("Explainer", [Occlusion, RISE])
def test_perturbation_auto_batch_size(Explainer):
    """Check batch_size='auto': 1024 inputs on images, ~8 MiB of rows on tables."""
    rng = np.random.default_rng(0)
    calls = []

    def model(Z):
        Z = np.asarray(Z, dtype=float).reshape(len(Z), -1)
        calls.append(len(Z))
        z = Z @ np.linspace(-1.0, 1.0, Z.shape[1])
        return np.stack([-z, z], axis=1)

    extra = {"n_masks": 3000, "random_state": 0} if Explainer is RISE else {}
    table = rng.normal(size=(40, 30))
    tab = (
        Explainer(model, fill="reference", **extra)
        if Explainer is Occlusion
        else (Explainer(model, **extra))
    )
    tab.fit(table)
    assert tab.batch_size == "auto" and tab._batch_rows == (8 << 20) // (8 * 30)
    calls.clear()
    maps = tab.explain(table[:20]).maps
    assert max(calls) <= tab._batch_rows
    assert max(calls) > 1024  # more than 1024 rows per call on a table
    fixed = clone(tab).set_params(batch_size=1024).fit(table)
    assert_allclose(fixed.explain(table[:20]).maps, maps, rtol=1e-12, atol=1e-12)
    img = Explainer(model, image_shape=(8, 8), **extra).fit(rng.random((5, 64)))
    assert img._batch_rows == 1024
    calls.clear()
    img.explain(rng.random((3, 64)))
    assert max(calls) <= 1024
    with pytest.raises(ValueError, match="batch_size"):
        Explainer(model, batch_size="big").fit(table)


def test_occlusion_fill_mean_and_image(digits, logreg):
    """Check fill='mean' learns the reference mean and an image fill is used."""
    X, _ = digits
    occ = Occlusion(
        logreg, window=2, fill="mean", image_shape=(8, 8), target="all"
    ).fit(X)
    assert_allclose(occ.fill_, X.mean(axis=0))
    expected = _brute_force_occlusion(
        logreg.decision_function, X[:2], (2, 2), (2, 2), (8, 8), fill=X.mean(axis=0)
    )
    assert_allclose(occ.explain(X[:2]).maps, expected, rtol=1e-10, atol=1e-12)

    image = X.mean(axis=0).reshape(8, 8)
    by_image = Occlusion(
        logreg, window=2, fill=image, image_shape=(8, 8), target="all"
    ).fit(X)
    assert_allclose(by_image.transform(X[:2]), occ.transform(X[:2]))
    kw = {"window": 2, "image_shape": (8, 8)}
    constant = Occlusion(logreg, fill=np.full((8, 8), 0.3), **kw).fit(X)
    number = Occlusion(logreg, fill=0.3, **kw).fit(X)
    assert_allclose(constant.transform(X[:2]), number.transform(X[:2]))


def test_occlusion_normalize_maxabs(digits, mlp):
    """Check normalize='maxabs' divides each class map by its largest |value|."""
    X, _ = digits
    raw = Occlusion(mlp, window=2, stride=1, image_shape=(8, 8), target="all").fit(X)
    scaled = clone(raw).set_params(normalize="maxabs").fit(X)
    r = raw.transform(X[:3]).reshape(3, 10, 64)
    s = scaled.transform(X[:3]).reshape(3, 10, 64)
    assert_allclose(np.abs(s).max(axis=2), 1.0)
    assert_allclose(s, r / np.abs(r).max(axis=2, keepdims=True), rtol=1e-12)
    flat = Occlusion(lambda X: np.ones((len(X), 2)), normalize="maxabs")
    assert_array_equal(flat.fit(X).transform(X[:2]), 0.0)  # zero maps stay zero


def test_occlusion_channels_last_colour(colour_digits):
    """Check colour images (h, w, 3): a pixel's map sums its channels' coef * x."""
    X3, y, clf = colour_digits
    occ = Occlusion(
        clf,
        window=1,
        image_shape=(8, 8, 3),
        response_method="decision_function",
        target="all",
    ).fit(X3)
    expl = occ.explain(X3[:2])
    assert expl.maps.shape == (2, 10, 8, 8, 3)
    per_feature = (clf.coef_[None] * X3[:2, None, :]).reshape(2, 10, 8, 8, 3)
    expected = np.broadcast_to(per_feature.sum(-1, keepdims=True), expl.maps.shape)
    assert_allclose(expl.maps, expected, rtol=1e-9, atol=1e-12)
    rise = RISE(clf, n_masks=20, grid_size=2, image_shape=(8, 8, 3), random_state=0)
    maps = rise.fit(X3).explain(X3[:2]).maps
    assert maps.shape == (2, 1, 8, 8, 3)
    assert_allclose(maps[..., 0], maps[..., 2])


def test_occlusion_channels_first_nd_input(digits):
    """Check (n, 3, h, w) inputs: a pixel's map sums its channels' w * x."""
    X, _ = digits
    rng = np.random.RandomState(0)
    X3 = np.stack([X[:3], 0.5 * X[:3], 1.0 - X[:3]], axis=1).reshape(3, 3, 8, 8)
    W = rng.randn(3 * 64, 2)

    def linear(Xn):
        return Xn.reshape(len(Xn), -1) @ W

    maps = Occlusion(linear, window=1, target="all").fit(X3).explain(X3).maps
    assert maps.shape == (3, 2, 3, 8, 8)
    per_feature = (X3.reshape(3, 1, -1) * W.T[None]).reshape(3, 2, 3, 8, 8)
    expected = np.broadcast_to(per_feature.sum(axis=2, keepdims=True), maps.shape)
    assert_allclose(maps, expected, rtol=1e-9, atol=1e-12)


def test_occlusion_torch_cnn(digits, torch_cnn):
    """Check a torch CNN on (n, 1, 8, 8) inputs gives its flat callable's maps."""
    import torch

    X, _ = digits
    X4 = X[:3].reshape(-1, 1, 8, 8)

    def flat_scores(Xf):
        with torch.no_grad():
            return torch_cnn(torch.as_tensor(Xf.reshape(-1, 1, 8, 8))).numpy()

    expl = Occlusion(torch_cnn, window=2, stride=1, target="all").fit(X4).explain(X4)
    assert expl.maps.shape == (3, 10, 1, 8, 8)
    flat = Occlusion(
        flat_scores, window=2, stride=1, image_shape=(8, 8), target="all"
    ).fit(X[:3])
    assert_allclose(expl.maps[:, :, 0], flat.explain(X[:3]).maps, rtol=1e-12)
    params = {"n_masks": 30, "grid_size": 4, "random_state": 0, "target": "all"}
    maps = RISE(torch_cnn, **params).fit(X4).explain(X4).maps
    assert maps.shape == (3, 10, 1, 8, 8)
    flat_rise = RISE(flat_scores, image_shape=(8, 8), **params).fit(X[:3])
    flat_maps = flat_rise.explain(X[:3]).maps
    assert_allclose(maps[:, :, 0], flat_maps, rtol=1e-12)


def test_occlusion_skorch_net(digits):
    """Check a skorch NeuralNetClassifier is explained like its predict_proba."""
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    X, y = digits
    X4 = X.reshape(-1, 1, 8, 8).astype(np.float32)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 10),
    )
    net = skorch.NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        lr=0.1,
        batch_size=256,
        train_split=None,
        verbose=0,
    ).fit(X4[:500], y[:500])
    occ = Occlusion(net, window=2, stride=2, target="all").fit(X4[:50])
    maps = occ.explain(X4[:2]).maps
    assert maps.shape == (2, 10, 1, 8, 8)

    def proba(Xf):
        return net.predict_proba(Xf.reshape(-1, 1, 8, 8).astype(np.float32))

    expected = _brute_force_occlusion(
        proba, X4[:2].reshape(2, -1), (2, 2), (2, 2), (8, 8)
    )
    assert_allclose(maps[:, :, 0], expected, rtol=1e-4, atol=1e-6)


def test_occlusion_pipeline_model(digits):
    """Check a Pipeline(StandardScaler, LogisticRegression) gives coef * x / scale."""
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(), LogisticRegression(solver="saga", tol=0.1, max_iter=20)
    ).fit(X[:300], y[:300])
    occ = Occlusion(pipe, target="all", fill=0.0).fit(X)
    maps = occ.transform(X[:3]).reshape(3, 10, 64)
    scaler, clf = pipe[0], pipe[-1]
    expected = clf.coef_[None] * (X[:3] / scaler.scale_)[:, None, :]
    assert_allclose(maps, expected, rtol=1e-8, atol=1e-10)


def test_occlusion_callable_model(digits, logreg):
    """Check a plain callable gives the same maps as the model it wraps."""
    X, _ = digits
    kw = {"window": 2, "image_shape": (8, 8)}
    by_model = Occlusion(logreg, response_method="predict_proba", **kw).fit(X)
    by_callable = Occlusion(logreg.predict_proba, **kw).fit(X)
    assert_allclose(by_callable.transform(X[:3]), by_model.transform(X[:3]))
    assert_array_equal(by_callable.classes_, np.arange(10))


@pytest.mark.parametrize("Explainer", [Occlusion, RISE])
def test_perturbation_clone_and_pickle(digits, logreg, Explainer):
    """Check clone shares the fitted model and pickling keeps the maps."""
    X, _ = digits
    exp = Explainer(logreg, **({"n_masks": 20} if Explainer is RISE else {}))
    exp.fit(X)
    cloned = clone(exp)
    assert cloned.model is exp.model
    check_is_fitted(cloned.model)
    restored = pickle.loads(pickle.dumps(exp))
    assert_allclose(restored.transform(X[:3]), exp.transform(X[:3]))
    assert cloned.fit(X).transform(X[:1]).shape == (1, 64)


def test_occlusion_dataframe_index_and_pandas_output(digits, logreg):
    """Check a DataFrame keeps its index in to_frame() and set_output works."""
    X, _ = digits
    columns = [f"px{i}" for i in range(64)]
    frame = pd.DataFrame(X[:3], columns=columns, index=[10, 20, 30])
    occ = Occlusion(logreg).fit(frame)
    tidy = occ.explain(frame).to_frame()
    assert list(pd.unique(tidy["sample"])) == [10, 20, 30]
    out = occ.set_output(transform="pandas").transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == columns
    assert list(out.index) == [10, 20, 30]


def test_occlusion_mean_by_class(digits, logreg):
    """Check per-class average maps through Explanation.mean(by=y)."""
    X, y = digits
    occ = Occlusion(logreg, window=2, image_shape=(8, 8), target="all").fit(X)
    expl = occ.explain(X[:20])
    means = expl.mean(by=y[:20])
    assert means.maps.shape == (len(np.unique(y[:20])), 10, 8, 8)
    first = y[:20] == means.index[0]
    assert_allclose(means.maps[0], expl.maps[first].mean(axis=0))


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_perturbation_non_finite_input(digits, logreg, bad):
    """Check NaN and inf in X raise a ValueError in fit and transform."""
    X, _ = digits
    X_bad = X[:3].copy()
    X_bad[1, 5] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        Occlusion(logreg).fit(X_bad)
    occ = Occlusion(logreg).fit(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        occ.transform(X_bad)
    with pytest.raises(ValueError, match="NaN|infinity"):
        RISE(logreg, n_masks=5).fit(X).transform(X_bad)


def test_perturbation_width_mismatch(digits, logreg):
    """Check X whose width does not match the model or image_shape raises."""
    X, _ = digits
    with pytest.raises(ValueError, match="expecting 64 features"):
        Occlusion(logreg).fit(X[:, :49])
    with pytest.raises(ValueError, match="image_shape"):
        Occlusion(logreg, image_shape=(7, 7)).fit(X)
    occ = Occlusion(logreg).fit(X)
    with pytest.raises(ValueError, match="64 features"):
        occ.transform(X[:2, :49])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"window": (9, 2), "image_shape": (8, 8)}, r"'window'.*\(8, 8\)"),
        ({"window": 2, "stride": 0, "image_shape": (8, 8)}, r"'stride'.*\(8, 8\)"),
        ({"window": 2, "stride": (1, 0), "image_shape": (8, 8)}, r"'stride'.*\(8"),
        ({"window": 2, "stride": 3, "image_shape": (8, 8)}, "'stride'.*uncovered"),
        ({"window": 2}, "'window'.*table"),
        ({"window": (1, 2, 3)}, "'window'"),
        ({"fill": np.zeros(5)}, "'fill'"),
        ({"fill": np.full(64, np.nan)}, "'fill'"),
    ],
)
def test_occlusion_bad_window_stride_fill(digits, logreg, params, match):
    """Check impossible windows, strides and fills raise a clear ValueError."""
    X, _ = digits
    with pytest.raises(ValueError, match=match):
        Occlusion(logreg, **params).fit(X)


def test_perturbation_bad_models(digits):
    """Check an unfitted model and one without scores raise clear errors."""
    X, y = digits
    with pytest.raises(NotFittedError):
        Occlusion(LogisticRegression()).fit(X)
    with pytest.raises(TypeError, match="decision_function"):
        Occlusion(_PredictOnly().fit(X, y)).fit(X)
    with pytest.raises(TypeError, match="decision_function"):
        RISE(LinearRegression().fit(X, y)).fit(X)


def test_perturbation_unknown_target_and_unfitted(digits, logreg):
    """Check an unknown target class and transform before fit raise."""
    X, _ = digits
    with pytest.raises(ValueError, match="'target' class 11"):
        Occlusion(logreg, target=11).fit(X)
    with pytest.raises(NotFittedError):
        Occlusion(logreg).transform(X[:2])
    with pytest.raises(NotFittedError):
        RISE(logreg).explain(X[:2])


def test_perturbation_callable_wrong_shape(digits):
    """Check a callable returning the wrong shape raises a ValueError."""
    X, _ = digits
    with pytest.raises(ValueError, match="shape"):
        Occlusion(lambda X: np.zeros((len(X) + 1, 3))).fit(X)
    with pytest.raises(ValueError, match="shape"):
        RISE(lambda X: np.zeros((len(X), 2, 2))).fit(X)


# -------------------------------------------------------------------- RISE
def test_rise_masks_reproducible(digits, logreg):
    """Check masks have the right shape, mean close to p1, and follow the seed."""
    X, _ = digits
    kw = {"n_masks": 2000, "grid_size": 4, "p1": 0.3, "image_shape": (8, 8)}
    rise = RISE(logreg, random_state=0, **kw).fit(X)
    assert rise.masks_.shape == (2000, 8, 8)
    assert rise.masks_.dtype == np.float32
    assert rise.masks_.min() >= 0 and rise.masks_.max() <= 1
    assert abs(rise.masks_.mean() - 0.3) < 0.02
    again = RISE(logreg, random_state=0, **kw).fit(X)
    assert_array_equal(again.masks_, rise.masks_)
    other = RISE(logreg, random_state=1, **kw).fit(X)
    assert not np.array_equal(other.masks_, rise.masks_)
    rect = RISE(
        logreg, n_masks=3, grid_size=(2, 4), image_shape=(8, 8), random_state=0
    ).fit(X)
    assert rect.masks_.shape == (3, 8, 8)


@pytest.mark.parametrize("debiased", [False, True])
def test_rise_all_ones_masks(digits, logreg, debiased):
    """Check all-ones masks give f(x) / p1 everywhere ((1 - p1) f(x) / p1 debiased)."""
    X, _ = digits
    rise = RISE(
        logreg,
        n_masks=4,
        p1=0.25,
        debiased=debiased,
        image_shape=(8, 8),
        target="all",
    ).fit(X)
    rise.masks_ = np.ones_like(rise.masks_)
    maps = rise.explain(X[:3]).maps
    rise.masks_ = np.ones((4, 7, 7), dtype=np.float32)
    with pytest.raises(
        ValueError, match=r"masks_ of RISE must have shape \(n_masks, 8, 8\)"
    ):
        rise.explain(X[:1])
    scores = logreg.decision_function(X[:3])
    factor = (1 - 0.25) / 0.25 if debiased else 1 / 0.25
    expected = np.broadcast_to(factor * scores[:, :, None, None], maps.shape)
    assert_allclose(maps, expected, rtol=1e-10)


@pytest.mark.parametrize("debiased, fill", [(False, 0.0), (True, 0.0), (True, 0.5)])
def test_rise_brute_force(digits, mlp, debiased, fill):
    """Check RISE maps equal the formula computed by a plain loop over masks."""
    X, _ = digits
    rise = RISE(
        mlp,
        n_masks=30,
        grid_size=3,
        p1=0.4,
        fill=fill,
        debiased=debiased,
        image_shape=(8, 8),
        target="all",
        response_method="predict_proba",
        random_state=0,
    ).fit(X)
    maps = rise.explain(X[:2]).maps
    expected = _brute_force_rise(
        mlp.predict_proba, X[:2], rise.masks_, 0.4, fill=fill, debiased=debiased
    )
    assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)


def test_rise_target_predicted(digits, logreg):
    """Check the default target explains the predicted class's map of 'all'."""
    X, _ = digits
    every = RISE(logreg, n_masks=20, random_state=0, target="all").fit(X)
    predicted = RISE(logreg, n_masks=20, random_state=0).fit(X)
    pred = logreg.predict(X[:3])
    all_maps = every.explain(X[:3]).maps
    assert_allclose(predicted.explain(X[:3]).maps[:, 0], all_maps[np.arange(3), pred])


# ------------------------------------------------- reference libraries' maps
REFERENCE = Path(__file__).parents[2] / "benchmarks/data/reference_occlusion.npz"


def _reference_cases():
    if not REFERENCE.exists():  # pragma: no cover
        return []
    with np.load(REFERENCE) as data:
        return list(range(int(data["n_cases"])))


@pytest.mark.parametrize("case", _reference_cases())
def test_occlusion_matches_xaitk_and_captum(case):
    """Check the maps equal xaitk's SlidingWindow and captum's Occlusion.

    The arrays were computed once by benchmarks/make_reference_occlusion.py
    (8x8 window 3 stride 1, 28x28 window 4 stride 2, ...): the default
    placement with normalize='maxabs' is xaitk's, placement='valid' captum's.
    """
    with np.load(REFERENCE) as data:
        key = f"case{case}"
        h, w, win_h, win_w, step_h, step_w = data[f"{key}_spec"].tolist()
        images, W1, W2 = (data[f"{key}_{name}"] for name in ("images", "W1", "W2"))
        xaitk, captum = data[f"{key}_xaitk"], data[f"{key}_captum"]
        fill = float(data["fill"])

    def model(X):
        return np.tanh(X.reshape(len(X), -1) @ W1) @ W2

    X = images.reshape(len(images), -1)
    params = {
        "window": (win_h, win_w),
        "stride": (step_h, step_w),
        "image_shape": (h, w),
        "fill": fill,
        "target": "all",
    }
    centred = Occlusion(model, normalize="maxabs", **params).fit(X)
    assert_allclose(centred.explain(X).maps, xaitk, rtol=1e-10, atol=1e-12)
    valid = Occlusion(model, placement="valid", **params).fit(X)
    assert_allclose(valid.explain(X).maps, captum, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ tables
@pytest.fixture(scope="module")
def cancer():
    """breast_cancer as a DataFrame and a scaled LogisticRegression on it."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    return X, y, clf


def _kind_of_columns(names):
    """breast_cancer's three kinds of columns: 'mean ...', '... error', 'worst ...'."""
    return [
        n.split(" ")[0] if n.split(" ")[0] in ("mean", "worst") else "error"
        for n in names
    ]


def test_occlusion_tabular_reference_closed_form(cancer):
    """Check fill='reference' on a linear model is coef_ * (x - mean(reference))."""
    X, y, clf = cancer
    occ = Occlusion(
        clf,
        fill="reference",
        n_reference=40,
        response_method="decision_function",
        target=1,
        random_state=0,
    ).fit(X)
    assert occ.reference_.shape == (40, 30) and occ.fill_ is None
    # The reference rows are rows of X drawn with random_state.
    rows = (X.to_numpy()[:, None] == occ.reference_[None]).all(axis=2).any(axis=1)
    assert rows.sum() == 40
    scaler, lr = clf[0], clf[-1]
    coef = lr.coef_[0] / scaler.scale_
    expected = coef * (X.to_numpy()[:5] - occ.reference_.mean(axis=0))
    maps = occ.explain(X.iloc[:5]).maps
    assert maps.shape == (5, 1, 30)
    assert_allclose(maps[:, 0], expected, rtol=1e-9, atol=1e-12)
    again = clone(occ).fit(X)
    assert_array_equal(again.reference_, occ.reference_)


@pytest.mark.parametrize("fill", ["mean", "median", 0.5, "row"])
def test_occlusion_tabular_fills_and_groups(cancer, fill):
    """Check each fill and that a group's drop sums its members' on a linear model."""
    X, y, clf = cancer
    Xn = X.to_numpy()
    if fill == "row":
        fill = X.iloc[7]
    expected_fill = {
        "mean": Xn.mean(axis=0),
        "median": np.median(Xn, axis=0),
    }.get(fill if isinstance(fill, str) else None)
    if expected_fill is None:
        expected_fill = np.broadcast_to(np.asarray(fill, dtype=float), (30,))
    kw = {"fill": fill, "response_method": "decision_function", "target": 1}
    single = Occlusion(clf, **kw).fit(X)
    assert_allclose(single.fill_, expected_fill)
    coef = clf[-1].coef_[0] / clf[0].scale_
    per_feature = coef * (Xn[:4] - expected_fill)
    assert_allclose(single.explain(X.iloc[:4]).maps[:, 0], per_feature, rtol=1e-9)
    names = list(X.columns)
    groups = {"mean": names[:10], "error": names[10:20], "worst": names[20:]}
    grouped = Occlusion(clf, groups=groups, **kw).fit(X)
    maps = grouped.explain(X.iloc[:4]).maps[:, 0]
    for members in (slice(0, 10), slice(10, 20), slice(20, 30)):
        group_sum = per_feature[:, members].sum(axis=1, keepdims=True)
        assert_allclose(maps[:, members], np.broadcast_to(group_sum, (4, 10)))
    frame = grouped.explain(X.iloc[:4]).to_frame()
    assert set(frame["feature"]) == {"mean", "error", "worst"}
    by_label = Occlusion(clf, groups=_kind_of_columns(names), **kw).fit(X)
    assert by_label.masks_.shape == (3, 30)


def test_occlusion_breast_cancer_end_to_end(cancer):
    """Check the issue's example: names, index, importance and pandas output."""
    X, y, clf = cancer
    occ = Occlusion(clf, fill="mean").fit(X)
    expl = occ.explain(X.iloc[:5])
    frame = expl.to_frame()
    assert list(frame.columns) == ["sample", "target", "feature", "value"]
    assert list(pd.unique(frame["sample"])) == list(X.index[:5])
    assert list(frame["feature"][:30]) == list(X.columns)
    assert_allclose(frame["value"].to_numpy(), expl.maps.reshape(-1))
    importance = occ.explain(X.iloc[:50]).importance()
    assert isinstance(importance, pd.Series)
    assert set(importance.index) == set(X.columns)
    assert (np.diff(importance.to_numpy()) <= 0).all()
    maps = occ.explain(X.iloc[:50]).maps[:, 0]
    assert_allclose(importance[X.columns[3]], np.abs(maps[:, 3]).mean())
    out = occ.set_output(transform="pandas").transform(X.iloc[:3])
    assert list(out.columns) == list(X.columns) and list(out.index) == [0, 1, 2]
    every = Occlusion(clf, fill="mean", target="all").fit(X).explain(X.iloc[:5])
    table = every.importance()
    assert list(table.columns) == [0, 1] and table.shape == (30, 2)


@pytest.fixture(scope="module")
def mixed_table():
    """A raw DataFrame with a text and an integer-coded categorical column."""
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.5, 0.3, 0.2]),
            "rooms": rng.choice([1, 2, 3, 4], n),
            "income": rng.normal(3, 1, n),
        }
    )
    frame["city"] = frame["city"].astype("category")
    y = ((frame["city"] == "lyon") ^ (frame["age"] > 40)).to_numpy().astype(int)
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(), ["city", "rooms"]),
            (StandardScaler(), ["age", "income"]),
        ),
        LogisticRegression(),
    ).fit(frame, y)
    return frame, y, pipe


@pytest.mark.parametrize("fill", ["mean", 0.0, "reference"])
def test_occlusion_column_transformer_original_columns(mixed_table, fill):
    """Check a ColumnTransformer pipeline is explained in the raw columns.

    A one-hot encoded column is one feature, filled by its most frequent value
    (the encoder has never seen a mean or 0.0).
    """
    frame, y, pipe = mixed_table
    occ = Occlusion(
        pipe,
        fill=fill,
        n_reference=10,
        response_method="decision_function",
        random_state=0,
        target=1,
    ).fit(frame)
    assert occ.layout_.feature_names.tolist() == list(frame.columns)
    expl = occ.explain(frame.iloc[:6])
    assert expl.maps.shape == (6, 1, 4)
    base = pipe.decision_function(frame.iloc[:6])
    for j, column in enumerate(frame.columns):
        if fill == "reference":
            rows = pd.DataFrame(occ.reference_, columns=frame.columns).astype(
                frame.dtypes.to_dict()
            )
            expected = []
            for i in range(6):
                copies = frame.iloc[[i] * len(rows)].reset_index(drop=True)
                copies[column] = rows[column].to_numpy()
                expected.append(base[i] - pipe.decision_function(copies).mean())
        else:
            value = occ.fill_[j]
            copies = frame.iloc[:6].copy()
            copies[column] = value
            expected = base - pipe.decision_function(copies)
        assert_allclose(expl.maps[:, 0, j], expected, rtol=1e-9, atol=1e-12)
    if fill != "reference":
        assert occ.fill_[1] == "paris" and occ.fill_[2] == frame["rooms"].mode()[0]
    frame_out = expl.to_frame()
    assert set(frame_out["feature"]) == set(frame.columns)
    rise = RISE(pipe, n_masks=30, fill=fill, random_state=0).fit(frame)
    assert rise.explain(frame.iloc[:3]).maps.shape == (3, 1, 4)


def test_raw_table_bad_input(mixed_table, logreg, digits):
    """Check missing values, arrays after a DataFrame fit and bad models raise."""
    frame, y, pipe = mixed_table
    occ = Occlusion(pipe).fit(frame)
    holed = frame.iloc[:3].copy()
    holed.loc[holed.index[1], "city"] = None
    with pytest.raises(ValueError, match="NaN.*city"):
        occ.explain(holed)
    with pytest.raises(ValueError, match="DataFrame with the same columns"):
        occ.explain(frame.to_numpy()[:3])

    def scores(X):
        return np.zeros((len(X), 2))

    from skxai.saliency import Saliency

    with pytest.raises(ValueError, match="non-numeric columns.*city"):
        Saliency(pipe).fit(frame)
    with pytest.raises(ValueError, match="non-numeric"):
        Occlusion(scores).fit(frame)


def test_rise_tabular_bernoulli_masks_and_edits(cancer):
    """Check tabular RISE: independent per-feature masks, formula, edited masks_."""
    X, y, clf = cancer
    rise = RISE(
        clf,
        n_masks=400,
        p1=0.3,
        response_method="decision_function",
        target=1,
        fill="mean",
        debiased=False,
        random_state=0,
    ).fit(X)
    assert rise.masks_.shape == (400, 30)
    assert set(np.unique(rise.masks_)) == {0.0, 1.0}
    assert abs(rise.masks_.mean() - 0.3) < 0.02
    # Columns are independent (no smoothing): neighbours barely correlate.
    corr = np.corrcoef(rise.masks_.T)[np.triu_indices(30, 1)]
    assert np.abs(corr).max() < 0.25
    Xn = X.to_numpy()[:2]
    maps = rise.explain(X.iloc[:2]).maps[:, 0]
    f = clf.decision_function(
        pd.DataFrame(
            (Xn[:, None] * rise.masks_ + (1 - rise.masks_) * rise.fill_).reshape(
                -1, 30
            ),
            columns=X.columns,
        )
    ).reshape(2, 400)
    expected = f @ rise.masks_ / (400 * 0.3)
    assert_allclose(maps, expected, rtol=1e-9)
    # Editing masks_ in place is honoured at once.
    rise.masks_[:] = 1.0
    ones = rise.explain(X.iloc[:2]).maps[:, 0]
    base = clf.decision_function(X.iloc[:2])
    assert_allclose(ones, np.broadcast_to(base[:, None] / 0.3, (2, 30)), rtol=1e-9)
    grouped = RISE(clf, n_masks=10, groups=_kind_of_columns(X.columns)).fit(X)
    assert grouped.masks_.shape == (10, 3)


def test_rise_image_masks_edited_in_place(digits, logreg):
    """Check RISE uses masks_ as edited in place (no stale cached copy)."""
    X, _ = digits
    rise = RISE(logreg, n_masks=5, image_shape=(8, 8), target="all").fit(X)
    before = rise.explain(X[:2]).maps
    rise.masks_[:] = 1.0
    after = rise.explain(X[:2]).maps
    scores = logreg.decision_function(X[:2])
    assert not np.allclose(before, after)
    assert_allclose(after, np.broadcast_to(2 * scores[:, :, None, None], after.shape))


def test_occlusion_numeric_frame_encoded_column_filled_by_mode():
    """Check an integer column one-hot encoded by a ColumnTransformer gets its mode.

    The mean (2.6) is a category the encoder never saw: the fill must be the
    most frequent value, so explaining does not fail on an unknown category.
    """
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "rooms": rng.choice([1, 2, 3, 5], 100, p=[0.2, 0.4, 0.3, 0.1]),
            "area": rng.normal(50, 10, 100),
        }
    )
    y = (frame["rooms"] > 2).to_numpy().astype(int)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["rooms"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, y)
    occ = Occlusion(pipe, fill="mean", target=1).fit(frame)
    assert occ.layout_.dtypes is None  # numeric: the float path
    assert_allclose(occ.fill_, [2.0, frame["area"].mean()])
    maps = occ.explain(frame.iloc[:3]).maps[:, 0]
    copies = frame.iloc[:3].copy()
    copies["rooms"] = 2
    expected = pipe.decision_function(frame.iloc[:3]) - pipe.decision_function(copies)
    assert_allclose(maps[:, 0], expected, rtol=1e-9, atol=1e-12)


def test_occlusion_tabular_reference_invariances(cancer):
    """Check a row's attributions do not depend on batch_size, n_jobs or neighbours."""
    X, y, clf = cancer
    kw = {"fill": "reference", "n_reference": 15, "random_state": 0, "target": "all"}
    ref = Occlusion(clf, **kw).fit(X).transform(X.iloc[:4])
    for batch_size, n_jobs in [(1, 1), (7, 1), (100, 2)]:
        occ = Occlusion(clf, batch_size=batch_size, n_jobs=n_jobs, **kw).fit(X)
        with joblib.parallel_config(backend="threading"):
            assert_allclose(occ.transform(X.iloc[:4]), ref, rtol=1e-12, atol=1e-14)
    alone = Occlusion(clf, **kw).fit(X).transform(X.iloc[2:3])
    assert_allclose(alone, ref[2:3], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"fill": np.zeros(29)}, "'fill'.*30"),
        ({"fill": "average"}, "'fill'"),
        ({"groups": [0, 1]}, "'groups'.*one group label"),
        ({"groups": {"g": ["no such column"]}}, "no such column"),
        ({"window": (2, 2)}, "'window'.*table"),
        ({"n_reference": 0}, "'n_reference'"),
        ({"placement": "same"}, "'placement'"),
    ],
)
def test_occlusion_tabular_bad_parameters(cancer, params, match):
    """Check bad fills, groups and image-only parameters on a table raise."""
    X, y, clf = cancer
    with pytest.raises(ValueError, match=match):
        Occlusion(clf, **params).fit(X)


def test_occlusion_image_reference_fill_and_raw_table_mean(digits, logreg, mixed_table):
    """Check fill='reference' on images and Explanation.mean on a raw table."""
    X, _ = digits
    occ = Occlusion(
        logreg,
        window=1,
        image_shape=(8, 8),
        fill="reference",
        n_reference=20,
        response_method="decision_function",
        target="all",
        random_state=0,
    ).fit(X)
    maps = occ.explain(X[:2]).maps
    expected = logreg.coef_[None] * (X[:2] - occ.reference_.mean(axis=0))[:, None]
    assert_allclose(maps, expected.reshape(2, 10, 8, 8), rtol=1e-9, atol=1e-12)
    frame, y, pipe = mixed_table
    expl = Occlusion(pipe, target="all").fit(frame).explain(frame.iloc[:6])
    means = expl.mean(by=y[:6])
    assert means.maps.shape == (len(np.unique(y[:6])), 2, 4)
    assert means.images is None and means.layout is expl.layout


def test_occlusion_raw_table_boolean_column_filled_by_mode():
    """Check a boolean column of a raw table is filled by its mode, not a mean."""
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "owner": rng.random(80) < 0.7,
            "city": rng.choice(["a", "b"], 80),
            "area": rng.normal(50, 10, 80),
        }
    )
    y = (frame["owner"] ^ (frame["area"] > 50)).to_numpy().astype(int)
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(), ["city"]), remainder=StandardScaler()
        ),
        LogisticRegression(),
    ).fit(frame, y)
    occ = Occlusion(pipe, fill="mean", target=1).fit(frame)
    assert occ.fill_.dtype == object and bool(occ.fill_[0])  # the mode, not 0.7
    maps = occ.explain(frame.iloc[:4]).maps[:, 0]
    copies = frame.iloc[:4].copy()
    copies["owner"] = True
    expected = pipe.decision_function(frame.iloc[:4]) - pipe.decision_function(copies)
    assert_allclose(maps[:, 0], expected, rtol=1e-9, atol=1e-12)


def test_auto_fill_and_debiasing_follow_the_layout(digits):
    """Check fill='auto' is the column mean on tables and 0 on images, and that
    RISE's debiased='auto' debiases tables only."""
    from sklearn.datasets import load_breast_cancer

    X_img, y_img = digits
    clf = LogisticRegression(max_iter=200).fit(X_img, y_img)
    occ_img = Occlusion(clf, image_shape=(8, 8)).fit(X_img)
    assert occ_img.fill_ == 0.0
    rise_img = RISE(clf, n_masks=8, image_shape=(8, 8), random_state=0).fit(X_img)
    assert not rise_img._debiased()

    X, y = load_breast_cancer(return_X_y=True)
    raw = LogisticRegression(max_iter=5000).fit(X, y)
    occ = Occlusion(raw, response_method="decision_function", target=1).fit(X)
    assert_allclose(occ.fill_, X.mean(axis=0))
    # The closed form with the learned mean: coef * (x - mean).
    assert_allclose(
        occ.transform(X[:3]),
        raw.coef_[0] * (X[:3] - X.mean(axis=0)),
        rtol=1e-9,
        atol=1e-12,
    )
    rise = RISE(raw, n_masks=64, random_state=0).fit(X)
    assert rise._debiased()
    biased = RISE(raw, n_masks=64, random_state=0, debiased=False).fit(X)
    # Debiasing removes the mean masked score, the same for every feature.
    gap = biased.transform(X[:2]) - rise.transform(X[:2])
    assert_allclose(gap, gap[:, :1] * np.ones((1, 30)), rtol=1e-9)
    assert np.abs(gap).min() > 0
