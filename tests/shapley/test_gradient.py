"""Tests of GradientSHAP: captum's values for captum's draws, closed forms."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

torch = pytest.importorskip("torch")

from skxai.shapley import GradientSHAP  # noqa: E402

# captum's GradientShap on a small CNN (benchmarks/make_reference_gradientshap.py)
REFERENCE = (
    Path(__file__).resolve().parents[2] / "benchmarks/data/reference_gradientshap.npz"
)


def small_cnn():
    """The network of make_reference_gradientshap.py."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, kernel_size=3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 3 * 3, 3),
    )


@pytest.fixture(scope="module")
def linear():
    X, y = make_classification(
        n_samples=80, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X, LogisticRegression(max_iter=500).fit(X, y)


def test_equals_captum_with_the_same_draws():
    """Check that GradientSHAP gives captum's GradientShap values for its draws."""
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is absent: run make_reference_gradientshap.py")
    ref = np.load(REFERENCE)
    model = small_cnn().double()
    state = {k[2:]: torch.as_tensor(ref[k]) for k in ref.files if k.startswith("w_")}
    model.load_state_dict(state)
    gs = GradientSHAP(model, n_samples=ref["index"].shape[1], batch_size=5)
    gs.fit(ref["background"])
    targets = ref["targets"][:, None]
    out = gs._expected_gradients(ref["X"], targets, ref["index"], ref["alphas"])
    np.testing.assert_allclose(out["maps"][:, 0], ref["captum"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("stdevs", [0.0, 0.3])
def test_linear_model_closed_form_per_draw(linear, stdevs):
    """Check that each draw gives w * (x + e - b) on a linear model."""
    X, clf = linear
    gs = GradientSHAP(clf, n_samples=6, stdevs=stdevs, target="all", random_state=0)
    gs.fit(X[:30])
    samples = X[40:44]
    ex = gs.explain(samples)
    index, alphas, noise = gs._draws(samples, gs._draw_seeds(4)[0])
    noisy = samples[:, None] + (0.0 if noise is None else noise)
    diff = (noisy - X[:30][index]).mean(axis=1)  # (n, n_features)
    expected = clf.coef_[None] * diff[:, None]
    np.testing.assert_allclose(ex.maps, expected, atol=1e-10)
    base = clf.decision_function(X[:30]).mean(axis=0)
    np.testing.assert_allclose(ex.base_values, np.tile(base, (4, 1)), atol=1e-10)
    gap = clf.decision_function(samples) - base
    np.testing.assert_allclose(ex.residual, ex.maps.sum(axis=2) - gap, atol=1e-10)


def test_converges_to_shapley_values_on_linear_model(linear):
    """Check that many draws approach coef_ * (x - mean(background))."""
    X, clf = linear
    gs = GradientSHAP(clf, n_samples=4000, target=0, random_state=0).fit(X[:30])
    ex = gs.explain(X[40:42])
    expected = clf.coef_[0] * (X[40:42] - X[:30].mean(axis=0))
    scale = np.abs(clf.coef_[0]) * X[:30].std(axis=0) / np.sqrt(4000)
    assert np.all(np.abs(ex.maps[:, 0] - expected) < 5 * scale)


def test_invariances_and_model_untouched():
    """Check batch_size, n_jobs, position and pickling, and the module left as is."""
    torch.manual_seed(0)
    model = small_cnn().double().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(6, 1, 8, 8))
    gs = GradientSHAP(model, n_samples=5, random_state=1)
    ref = clone(gs).fit(X).transform(X)
    for params in ({"batch_size": 3}, {"batch_size": 1000}, {"n_jobs": 2}):
        other = clone(gs).set_params(**params).fit(X).transform(X)
        np.testing.assert_allclose(other, ref, atol=1e-12, err_msg=str(params))
    fitted = clone(gs).fit(X)
    np.testing.assert_allclose(fitted.transform(X[[4, 1]]), ref[[4, 1]], atol=1e-12)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform(X), ref, atol=1e-12)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])


def test_bad_inputs():
    """Check clear errors: no gradient path, bad parameters."""
    X = np.random.default_rng(0).normal(size=(10, 4))

    def scores(X):
        return np.column_stack([X.sum(1), -X.sum(1)])

    with pytest.raises(TypeError, match="gradient"):
        GradientSHAP(scores).fit(X)
    model = torch.nn.Linear(4, 2).double()
    with pytest.raises(ValueError, match="stdevs"):
        GradientSHAP(model, stdevs=-1.0).fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        GradientSHAP(model, n_samples=0).fit(X)
    with pytest.raises(ValueError, match="n_reference"):
        GradientSHAP(model, n_reference=0).fit(X)
    capped = GradientSHAP(model, n_reference=3, random_state=0).fit(X)
    assert capped.reference_.shape == (3, 4)


def test_scaled_pipeline_and_skorch(linear):
    """Check a StandardScaler + LogisticRegression pipeline and a skorch net."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, clf = linear
    y = clf.predict(X)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    gs = GradientSHAP(pipe, n_samples=5, target=2, random_state=0).fit(X[:30])
    samples = X[40:43]
    ex = gs.explain(samples)
    index, _, _ = gs._draws(samples, gs._draw_seeds(3)[0])
    slope = pipe[-1].coef_[2] / pipe[0].scale_
    expected = slope * (samples[:, None] - X[:30][index]).mean(axis=1)
    np.testing.assert_allclose(ex.maps[:, 0], expected, atol=1e-10)
    skorch = pytest.importorskip("skorch")
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(
            torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
        ),
        max_epochs=2,
        train_split=None,
        verbose=0,
    ).fit(X.astype(np.float32), y.astype(np.int64))
    X32 = X.astype(np.float32)
    ex = GradientSHAP(net, n_samples=16, target="all", random_state=0).fit(X32[:30])
    ex = ex.explain(X32[40:42])
    same = GradientSHAP(net.module_, n_samples=16, target="all", random_state=0)
    same = same.fit(X32[:30]).explain(X32[40:42])
    assert ex.maps.shape == (2, 3, 5)
    np.testing.assert_allclose(ex.maps, same.maps, rtol=1e-6)
    np.testing.assert_allclose(ex.residual, same.residual, rtol=1e-5, atol=1e-6)


def test_image_shape_folds_flat_images():
    """Check flat images come out as images with image_shape, with equal values."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    flat = GradientSHAP(clf, n_samples=4, random_state=0).fit(X[:20])
    image = GradientSHAP(clf, n_samples=4, image_shape=(8, 8), random_state=0)
    image.fit(X[:20])
    assert flat.layout_.kind == "tabular" and image.layout_.kind == "image"
    maps_flat = flat.explain(X[300:303]).maps
    maps_image = image.explain(X[300:303]).maps
    assert maps_flat.shape == (3, 1, 64) and maps_image.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(maps_image.reshape(3, 1, 64), maps_flat, atol=1e-12)
    with pytest.raises(ValueError, match="image_shape"):
        GradientSHAP(clf, image_shape=(7, 7)).fit(X[:20])
