"""Tests of Saliency, IntegratedGradients and SmoothGrad."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skxai import GuidedBackprop, IntegratedGradients, Occlusion, Saliency, SmoothGrad
from skxai.saliency._gradient import IG_METHODS, CompletenessWarning

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
nn = torch.nn


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def small_digits(digits):
    X, y = digits
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def lr(small_digits):
    """A multiclass LogisticRegression on 300 digits (cheap to fit)."""
    X, y = small_digits
    return LogisticRegression(max_iter=200).fit(X, y)


@pytest.fixture(scope="module")
def binary_lr(small_digits):
    X, y = small_digits
    mask = y < 2
    return LogisticRegression(max_iter=200).fit(X[mask], y[mask])


def _smooth_cnn(dtype=torch.float64):
    """A small CNN with smooth activations (the IG integrand is smooth)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Softplus(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).to(dtype)


def _relu_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).rand(12, 1, 8, 8).astype(np.float32)


def _torch_grad(module, X, target):
    x = torch.as_tensor(X, dtype=next(module.parameters()).dtype).requires_grad_()
    module(x)[:, target].sum().backward()
    return x.grad.numpy()


# ----------------------------------------------------------- closed forms
def test_saliency_logistic_regression_gradient_is_coef(lr, small_digits):
    """Check that the gradient of class c of a LogisticRegression is coef_[c]."""
    X, _ = small_digits
    expl = Saliency(lr, target="all", image_shape=(8, 8)).fit(X).explain(X[:5])
    maps = expl.maps.reshape(5, len(lr.classes_), -1)
    np.testing.assert_allclose(maps, np.broadcast_to(lr.coef_, maps.shape), atol=1e-10)
    assert expl.maps.shape == (5, 10, 8, 8)


@pytest.mark.parametrize(
    "make",
    [
        lambda m, **kw: Saliency(m, **kw),
        lambda m, **kw: IntegratedGradients(m, n_steps=2, **kw),
        lambda m, **kw: GuidedBackprop(m, **kw),
        lambda m, **kw: SmoothGrad(Saliency(m, **kw), n_samples=2, random_state=0),
    ],
    ids=["saliency", "ig", "guided", "smoothgrad"],
)
def test_gradient_explainers_flat_images_need_image_shape(make, lr, small_digits):
    """Check that flat digits are a table of 64 features unless image_shape says
    they are 8x8 images (design rule 8), with the same values either way."""
    X, _ = small_digits
    table = make(lr).fit(X[:20]).explain(X[:3])
    image = make(lr, image_shape=(8, 8)).fit(X[:20]).explain(X[:3])
    assert table.layout.kind == "tabular" and table.maps.shape == (3, 1, 64)
    assert image.layout.kind == "image" and image.maps.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(image.maps.reshape(3, 1, 64), table.maps)
    with pytest.raises(ValueError, match="'image_shape' parameter of"):
        make(lr, image_shape=(7, 7)).fit(X[:20])


def test_saliency_binary_logistic_regression(binary_lr, small_digits):
    """Check that a binary model's two scores [-d, d] give gradients -coef, coef."""
    X, _ = small_digits
    maps = Saliency(binary_lr, target="all").fit(X).transform(X[:3])
    coef = binary_lr.coef_[0]
    np.testing.assert_allclose(maps[:, :64], -np.tile(coef, (3, 1)), atol=1e-10)
    np.testing.assert_allclose(maps[:, 64:], np.tile(coef, (3, 1)), atol=1e-10)


@pytest.mark.parametrize("modifier", [None, "abs", "negate", "relu"])
@pytest.mark.parametrize("multiply", [False, True])
def test_saliency_grad_modifier(lr, small_digits, modifier, multiply):
    """Check that grad_modifier and multiply_by_inputs transform coef_[c]."""
    X, _ = small_digits
    sal = Saliency(lr, grad_modifier=modifier, multiply_by_inputs=multiply, target=4)
    maps = sal.fit(X).transform(X[:4])
    coef = lr.coef_[4]
    expected = {
        None: coef,
        "abs": np.abs(coef),
        "negate": -coef,
        "relu": np.maximum(coef, 0),
    }[modifier]
    expected = expected * X[:4] if multiply else np.tile(expected, (4, 1))
    np.testing.assert_allclose(maps, expected, atol=1e-10)


def test_saliency_predict_proba_gradient(lr, small_digits):
    """Check that response_method='predict_proba' gives the softmax's gradient."""
    X, _ = small_digits
    maps = Saliency(lr, response_method="predict_proba", target=2).fit(X)
    maps = maps.transform(X[:3])
    p = lr.predict_proba(X[:3])
    expected = p[:, [2]] * (lr.coef_[2] - p @ lr.coef_)
    np.testing.assert_allclose(maps, expected, atol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_saliency_mlp_matches_finite_differences(mlp, digits):
    """Check MLPClassifier gradients against central differences of predict_proba."""
    X, _ = digits
    sal = Saliency(mlp, response_method="predict_proba", target=5).fit(X[:50])
    grad = sal.transform(X[:2])
    eps = 1e-6
    num = np.empty_like(grad)
    for j in range(X.shape[1]):
        up, down = X[:2].copy(), X[:2].copy()
        up[:, j] += eps
        down[:, j] -= eps
        num[:, j] = (mlp.predict_proba(up)[:, 5] - mlp.predict_proba(down)[:, 5]) / (
            2 * eps
        )
    np.testing.assert_allclose(grad, num, atol=1e-7)


@pytest.mark.parametrize("method", IG_METHODS)
@pytest.mark.parametrize("n_steps", [2, 5, 32])
def test_integrated_gradients_logistic_regression_closed_form(
    lr, small_digits, method, n_steps
):
    """Check that IG of a linear model is (x - b) * coef_[c] for every quadrature."""
    X, _ = small_digits
    baseline = np.linspace(0, 1, 64)
    ig = IntegratedGradients(lr, n_steps=n_steps, method=method, baseline=baseline)
    expl = ig.fit(X).explain(X[:6])
    coef = lr.coef_[expl.targets[:, 0]]
    np.testing.assert_allclose(
        expl.maps.reshape(6, -1), (X[:6] - baseline) * coef, atol=1e-6
    )
    assert np.abs(expl.delta).max() < 1e-8


@pytest.mark.parametrize("method", IG_METHODS[:4])
def test_integrated_gradients_one_step(lr, small_digits, method):
    """Check that a single step is exact on a linear model too."""
    X, _ = small_digits
    maps = IntegratedGradients(lr, n_steps=1, method=method, target=0).fit(X)
    np.testing.assert_allclose(maps.transform(X[:2]), X[:2] * lr.coef_[0], atol=1e-6)


@pytest.mark.parametrize("baseline", ["zeros", "mean", 0.25])
def test_integrated_gradients_baselines(lr, small_digits, baseline):
    """Check the 'zeros', 'mean' and constant baselines learned in fit."""
    X, _ = small_digits
    ig = IntegratedGradients(lr, baseline=baseline, n_steps=4, target=1).fit(X)
    expected = {"zeros": 0.0, "mean": X.mean(axis=0), 0.25: 0.25}[baseline]
    np.testing.assert_allclose(ig.baseline_, np.broadcast_to(expected, (64,)))
    np.testing.assert_allclose(
        ig.transform(X[:2]), (X[:2] - expected) * lr.coef_[1], atol=1e-6
    )


def test_integrated_gradients_completeness_cnn(images):
    """Check that 256 Gauss-Legendre steps give |delta| < 1e-3 |f(x) - f(b)|."""
    net = _smooth_cnn()
    images = images[:4]
    expl = IntegratedGradients(net, n_steps=256, target="all").fit(images)
    expl = expl.explain(images)
    scores = net(torch.as_tensor(images, dtype=torch.float64)).detach().numpy()
    base = net(torch.zeros((1, 1, 8, 8), dtype=torch.float64)).detach().numpy()
    gap = np.abs(scores - base)
    assert expl.delta.shape == (4, 3)
    assert np.all(np.abs(expl.delta) < 1e-3 * gap)
    sums = expl.maps.reshape(4, 3, -1).sum(axis=2)
    np.testing.assert_allclose(sums - (scores - base), expl.delta, atol=1e-10)


def test_integrated_gradients_completeness_warning(images):
    """Check the warning naming n_steps and method when delta is large."""
    net = _relu_cnn()
    ig = IntegratedGradients(net, n_steps=2, method="riemann_right", target="all")
    with pytest.warns(CompletenessWarning, match="n_steps.*gausslegendre"):
        ig.fit(images).explain(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        ig.set_params(delta_tolerance=None).explain(images)


# ----------------------------------------------------------- torch models
def test_saliency_bypasses_final_softmax():
    """Check that 'auto' explains the scores before a final Softmax module."""
    torch.manual_seed(0)
    linear = nn.Linear(5, 3)
    net = nn.Sequential(linear, nn.Softmax(dim=1))
    X = np.random.RandomState(0).rand(4, 5).astype(np.float32)
    auto = Saliency(net, target=1).fit(X).transform(X)
    np.testing.assert_allclose(
        auto, np.tile(linear.weight[1].detach().numpy(), (4, 1)), rtol=1e-6
    )
    proba = Saliency(net, target=1, response_method="predict_proba").fit(X)
    np.testing.assert_allclose(
        proba.transform(X), _torch_grad(net, X, 1), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "explainer",
    [
        lambda net: Saliency(net),
        lambda net: IntegratedGradients(net, n_steps=4, delta_tolerance=None),
        lambda net: SmoothGrad(Saliency(net), n_samples=3, random_state=0),
    ],
)
def test_gradient_explainers_restore_mode_and_leave_grad(images, explainer):
    """Check that the caller's train mode comes back and .grad is untouched."""
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(72, 3)
    )
    net.train()
    net[1].eval()  # a submodule in another mode than its parent
    net[0].weight.grad = torch.ones_like(net[0].weight)
    expl = explainer(net).fit(images)
    first = expl.transform(images)
    assert net.training and net[2].training and not net[1].training
    np.testing.assert_array_equal(net[0].weight.grad.numpy(), 1.0)
    assert net[4].weight.grad is None
    # eval mode during the call: dropout is off, so maps are reproducible
    np.testing.assert_array_equal(first, expl.transform(images))


def test_saliency_matches_torch_autograd(images):
    """Check Saliency against a plain torch backward on a CNN, every class."""
    net = _relu_cnn()
    maps = Saliency(net, target="all").fit(images).explain(images).maps
    for c in range(3):
        np.testing.assert_allclose(
            maps[:, c], _torch_grad(net, images, c), rtol=1e-5, atol=1e-7
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda net: Saliency(net, target="all"),
        lambda net: IntegratedGradients(
            net, n_steps=7, target="all", delta_tolerance=None
        ),
        lambda net: SmoothGrad(
            IntegratedGradients(net, n_steps=3), n_samples=5, random_state=3
        ),
    ],
)
def test_gradient_explainers_n_jobs_batch_size_invariance(images, make):
    """Check that n_jobs and batch_size do not change the maps."""
    net = _relu_cnn().double()
    reference = make(net).set_params(batch_size=1000).fit(images).transform(images)
    for params in ({"batch_size": 5}, {"batch_size": 2, "n_jobs": 2}):
        other = make(net).set_params(**params).fit(images).transform(images)
        np.testing.assert_allclose(other, reference, rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------- SmoothGrad
def test_smoothgrad_zero_noise_equals_inner(images):
    """Check that SmoothGrad with noise=0 gives the inner explainer's maps."""
    net = _relu_cnn().double()
    inner = IntegratedGradients(net, n_steps=8, target="all", delta_tolerance=None)
    smint = SmoothGrad(inner, noise=0.0, n_samples=4).fit(images)
    np.testing.assert_allclose(
        smint.transform(images),
        clone(inner).fit(images).transform(images),
        rtol=1e-10,
        atol=1e-12,
    )


def test_smoothgrad_forms_and_noise(lr, small_digits):
    """Check mean/squared/variance forms and the noise scale on a linear model.

    The gradient of a linear model does not depend on the input, so the mean
    of Saliency is coef_ and its variance zero whatever the noise; gradient x
    input has a mean of coef_ * x and a variance of (coef_ * sigma)^2.
    """
    X, _ = small_digits
    sg = SmoothGrad(Saliency(lr, target=3), n_samples=4000, noise=0.2, random_state=0)
    np.testing.assert_allclose(sg.fit(X).transform(X[:2]), np.tile(lr.coef_[3], (2, 1)))
    var = sg.set_params(form="variance").fit(X).transform(X[:2])
    np.testing.assert_allclose(var, 0.0, atol=1e-20)
    gxi = Saliency(lr, target=3, multiply_by_inputs=True)
    sg = SmoothGrad(gxi, n_samples=4000, noise=0.2, random_state=0).fit(X)
    sigma = 0.2 * (X[:2].max(axis=1) - X[:2].min(axis=1))[:, None]
    mean = sg.transform(X[:2])
    np.testing.assert_allclose(mean, lr.coef_[3] * X[:2], atol=0.05)
    var = sg.set_params(form="variance").transform(X[:2])
    np.testing.assert_allclose(var, (lr.coef_[3] * sigma) ** 2, rtol=0.1, atol=1e-3)
    sq = sg.set_params(form="squared").transform(X[:2])
    np.testing.assert_allclose(sq, var + mean**2, rtol=1e-6, atol=1e-12)


def test_smoothgrad_reproducible(images):
    """Check that random_state fixes the noise and another seed changes it."""
    net = _relu_cnn()
    make = lambda seed: SmoothGrad(  # noqa: E731
        Saliency(net), n_samples=3, random_state=seed
    ).fit(images)
    np.testing.assert_array_equal(make(0).transform(images), make(0).transform(images))
    assert not np.allclose(make(0).transform(images), make(1).transform(images))


def test_smoothgrad_noise_follows_the_sample(images):
    """Check that a sample's map does not depend on its position or companions."""
    net = _relu_cnn().double()
    sg = SmoothGrad(Saliency(net, target=0), n_samples=3, random_state=0).fit(images)
    full = sg.transform(images)
    np.testing.assert_allclose(sg.transform(images[::-1]), full[::-1], rtol=1e-12)
    np.testing.assert_allclose(sg.transform(images[5:6]), full[5:6], rtol=1e-12)
    assert not np.allclose(full[0], full[1])


@pytest.mark.parametrize(
    "make",
    [
        lambda model: Saliency(model, target="all"),
        lambda model: SmoothGrad(
            IntegratedGradients(model, n_steps=3, delta_tolerance=None),
            n_samples=2,
            random_state=0,
        ),
    ],
)
def test_gradient_explainers_pickle(lr, small_digits, images, make):
    """Check that fitted explainers pickle and explain the same after loading."""
    import pickle

    X, _ = small_digits
    for model, data in ((lr, X[:5]), (_relu_cnn(), images)):
        fitted = make(model).fit(data)
        before = fitted.transform(data)
        restored = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_allclose(restored.transform(data), before, rtol=1e-6)


def test_smoothgrad_nested_params_clone_and_grid_search(lr, small_digits):
    """Check explainer__ parameters, clone sharing the model, and GridSearchCV."""
    X, y = small_digits
    sg = SmoothGrad(IntegratedGradients(lr, n_steps=4), n_samples=2, random_state=0)
    assert sg.get_params()["explainer__n_steps"] == 4
    sg.set_params(explainer__n_steps=6)
    assert sg.explainer.n_steps == 6
    copy = clone(sg)
    assert copy.explainer is not sg.explainer
    assert copy.explainer.model is lr
    sg.fit(X)
    assert sg.explainer_ is not sg.explainer and sg.explainer_.n_steps == 6
    assert sg.model is lr and sg.target == "predicted"
    search = GridSearchCV(
        sg, {"explainer__n_steps": [1, 3], "noise": [0.0, 0.1]}, cv=2
    ).fit(X[:40], y[:40])
    assert search.best_estimator_.explainer_.model is lr
    assert search.best_params_["explainer__n_steps"] in (1, 3)


def test_skorch_net_end_to_end(digits):
    """Check Saliency, IG and SmoothGrad on a skorch net trained on the digits."""
    skorch = pytest.importorskip("skorch")
    X, y = digits
    X = X.astype(np.float32)
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(-1)),
        max_epochs=2,
        lr=0.5,
        batch_size=128,
        train_split=None,
        verbose=0,
    ).fit(X[:400], y[:400])
    module = net.module_
    logits = module[:3]
    sal = Saliency(net, target="true").fit(X[:100])
    maps = sal.explain(X[:8], y[:8])
    np.testing.assert_array_equal(maps.targets[:, 0], y[:8])
    x = torch.as_tensor(X[:8]).requires_grad_()
    logits(x).gather(1, torch.as_tensor(y[:8]).view(-1, 1)).sum().backward()
    np.testing.assert_allclose(maps.maps.reshape(8, -1), x.grad.numpy(), rtol=1e-5)
    expl = IntegratedGradients(net, n_steps=64, image_shape=(8, 8))
    expl = expl.fit(X[:100]).explain(X[:8])
    assert expl.maps.shape == (8, 1, 8, 8)
    np.testing.assert_array_equal(expl.predictions, net.predict(X[:8]))
    assert np.all(np.abs(expl.delta) < 0.05 * np.abs(expl.maps).sum(axis=(2, 3)) + 1)
    smooth = SmoothGrad(Saliency(net), n_samples=4, random_state=0).fit(X[:100])
    assert smooth.transform(X[:8]).shape == (8, 64)


# ------------------------------------------------------------- bad input
def test_integrated_gradients_bad_baseline_shape(lr, small_digits):
    """Check that a baseline of the wrong shape is rejected."""
    X, _ = small_digits
    with pytest.raises(ValueError, match=r"'baseline'.*shape \(64,\).*\(3,\)"):
        IntegratedGradients(lr, baseline=np.zeros(3)).fit(X)
    with pytest.raises(ValueError, match="'baseline'.*finite"):
        IntegratedGradients(lr, baseline=np.full(64, np.nan)).fit(X)


@pytest.mark.parametrize(
    "explainer, match",
    [
        (lambda m: IntegratedGradients(m, n_steps=0), "'n_steps'"),
        (lambda m: IntegratedGradients(m, method="simpson"), "'method'"),
        (lambda m: SmoothGrad(Saliency(m), n_samples=0), "'n_samples'"),
        (lambda m: SmoothGrad(Saliency(m), noise=-0.1), "'noise'"),
        (lambda m: SmoothGrad(Saliency(m), form="max"), "'form'"),
        (lambda m: Saliency(m, grad_modifier="square"), "'grad_modifier'"),
    ],
)
def test_gradient_explainers_bad_params(lr, small_digits, explainer, match):
    """Check that out-of-range parameters raise a ValueError naming them."""
    X, _ = small_digits
    with pytest.raises(ValueError, match=match):
        explainer(lr).fit(X)


def test_integrated_gradients_trapezoid_needs_two_steps(lr, small_digits):
    """Check that the trapezoid rule with one step is rejected."""
    X, _ = small_digits
    ig = IntegratedGradients(lr, n_steps=1, method="riemann_trapezoid")
    with pytest.raises(ValueError, match="'n_steps'.*at least 2"):
        ig.fit(X)


def test_gradient_explainers_no_gradient_path(small_digits):
    """Check the clear error for a scikit-learn model with no gradient path."""
    X, y = small_digits
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="Occlusion"):
        Saliency(forest).fit(X)
    with pytest.raises(TypeError, match="gradient path"):
        IntegratedGradients(lambda X: np.ones((len(X), 2))).fit(X)


def test_gradient_explainers_tuple_output():
    """Check that a model returning a tuple asks for an output selector."""

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, x):
            return self.linear(x), x

    X = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    with pytest.raises(ValueError, match="tuple.*selects"):
        Saliency(TwoHeads()).fit(X)


def test_smoothgrad_needs_gradient_explainer(lr, small_digits):
    """Check that SmoothGrad rejects a black-box inner explainer."""
    X, _ = small_digits
    with pytest.raises(TypeError, match="'explainer'.*gradient explainer.*Occlusion"):
        SmoothGrad(Occlusion(lr)).fit(X)


def test_saliency_target_out_of_classes(lr, small_digits):
    """Check that an unknown target class is rejected at fit."""
    X, _ = small_digits
    with pytest.raises(ValueError, match="'target' class 12"):
        Saliency(lr, target=12).fit(X)
