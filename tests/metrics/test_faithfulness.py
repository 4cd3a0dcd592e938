"""Tests of the faithfulness metrics: deletion, insertion, pixel flipping,
infidelity and max-sensitivity."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.linear_model import LogisticRegression

from skxai.metrics import (
    deletion_curve,
    deletion_score,
    infidelity_error,
    insertion_curve,
    insertion_score,
    lerf_error,
    max_sensitivity_error,
    morf_score,
    pixel_flipping_curve,
)

from ._helpers import CoefTimesX

# numpy < 2 (the oldest numpy CI tests) names it trapz
trapezoid = getattr(np, "trapezoid", None) or np.trapz


@pytest.fixture(scope="module")
def small(digits):
    """A LogisticRegression on 300 digits, 6 samples, their labels and maps."""
    X, y = digits
    clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    Xs, ys = X[300:306], y[300:306]
    maps = clf.coef_[ys] * Xs
    return clf, Xs, ys, maps


def _brute_curve(clf, X, y, maps, A, B, descending=True):
    """One model call per sample and step: the reference implementation."""
    n, d = X.shape
    curves = np.empty((n, d + 1))
    for i in range(n):
        order = np.argsort(-maps[i] if descending else maps[i], kind="stable")
        for k in range(d + 1):
            x = A[i].copy()
            x[order[:k]] = B[i][order[:k]]
            curves[i, k] = clf.predict_proba(x[None])[0, y[i]]
    return curves


def test_deletion_curve_matches_brute_force(small):
    """Check that the batched deletion curve equals a loop over samples and steps."""
    clf, X, y, maps = small
    fractions, curves = deletion_curve(clf, X, maps, y, fill=0.3, batch_size=7)
    expected = _brute_curve(clf, X, y, maps, X, np.full_like(X, 0.3))
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fractions, np.arange(65) / 64)
    auc = np.array([trapezoid(c, fractions) for c in expected])
    np.testing.assert_allclose(deletion_score(clf, X, maps, y, fill=0.3), 1 - auc)


def test_insertion_curve_matches_brute_force_with_blur(small):
    """Check that insertion starts from a Gaussian-blurred copy and matches a loop."""
    clf, X, y, maps = small
    blurred = np.stack(
        [gaussian_filter(x.reshape(8, 8), 1.5, mode="nearest").ravel() for x in X]
    )
    # A 2-D X is a table unless image_shape says it is an image.
    fractions, curves = insertion_curve(
        clf, X, maps, y, blur_sigma=1.5, image_shape=(8, 8)
    )
    expected = _brute_curve(clf, X, y, maps, blurred, X)
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    auc = trapezoid(expected, fractions, axis=1)
    np.testing.assert_allclose(
        insertion_score(clf, X, maps, y, blur_sigma=1.5, image_shape=(8, 8)), auc
    )
    assert np.all((auc >= 0) & (auc <= 1))


def test_pixel_flipping_matches_brute_force(small):
    """Check MoRF (the deletion curve), LeRF and their AOPC against loops."""
    clf, X, y, maps = small
    fill = np.zeros_like(X)
    _, morf = pixel_flipping_curve(clf, X, maps, y, order="morf")
    _, lerf = pixel_flipping_curve(clf, X, maps, y, order="lerf")
    np.testing.assert_allclose(morf, _brute_curve(clf, X, y, maps, X, fill))
    np.testing.assert_allclose(lerf, _brute_curve(clf, X, y, maps, X, fill, False))
    np.testing.assert_allclose(
        morf_score(clf, X, maps, y), np.mean(morf[:, :1] - morf, axis=1)
    )
    np.testing.assert_allclose(
        lerf_error(clf, X, maps, y), np.mean(lerf[:, :1] - lerf, axis=1)
    )


@pytest.mark.parametrize("n_steps", [None, 7])
def test_curves_query_each_distinct_input_once(small, n_steps):
    """Check that steps which leave the input unchanged reuse an output.

    Deleting a zero pixel to a fill of 0 gives the input of the step before;
    the curve must still equal the brute-force loop, including for a sample
    that the fill does not change at all.
    """
    clf, X, y, maps = small
    X = X.copy()
    X[0] = 0.0  # every step of this sample has the same input
    calls = []

    def model(Z):
        calls.append(np.array(Z))
        return clf.predict_proba(np.asarray(Z))

    fractions, curves = deletion_curve(model, X, maps, y, n_steps=n_steps)
    cuts = np.rint(fractions * 64).astype(int)
    expected = _brute_curve(clf, X, y, maps, X, np.zeros_like(X))[:, cuts]
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    rows = np.concatenate(calls)
    # X and the all-zero images, then the distinct inner inputs, none twice.
    inner = rows[2 * len(X):]
    assert len(np.unique(inner, axis=0)) == len(inner)
    distinct = sum(len(np.unique(np.round(c, 12))) for c in expected)
    assert len(inner) <= distinct


@pytest.mark.parametrize("n_steps", [1, 5, 64, 1000])
def test_deletion_curve_n_steps(small, n_steps):
    """Check that n_steps subsamples the one-feature-per-step curve."""
    clf, X, y, maps = small
    _, full = deletion_curve(clf, X, maps, y)
    fractions, curves = deletion_curve(clf, X, maps, y, n_steps=n_steps)
    cuts = np.rint(fractions * 64).astype(int)
    assert cuts[0] == 0 and cuts[-1] == 64
    assert len(cuts) == min(n_steps, 64) + 1
    np.testing.assert_allclose(curves, full[:, cuts])


def test_curves_do_not_depend_on_batch_size(small):
    """Check that batch_size changes how the model is called, not the curves."""
    clf, X, y, maps = small
    _, a = insertion_curve(clf, X, maps, y, batch_size=1)
    _, b = insertion_curve(clf, X, maps, y, batch_size=4096)
    np.testing.assert_allclose(a, b)


def test_targets_default_to_predicted_class(small):
    """Check that targets=None explains the predicted class."""
    clf, X, y, maps = small
    pred = clf.predict(X)
    np.testing.assert_allclose(
        deletion_curve(clf, X, maps)[1], deletion_curve(clf, X, maps, pred)[1]
    )


def test_infidelity_matches_brute_force(small):
    """Check infidelity with both perturbations against a loop over draws."""
    clf, X, y, maps = small
    m = 5
    for perturbation, noise in [("subset", 0.3), ("gaussian", 0.2)]:
        got = infidelity_error(
            clf, X, maps, y, perturbation=perturbation, noise=noise,
            n_perturbations=m, random_state=3,
        )
        rng = np.random.RandomState(3)
        if perturbation == "gaussian":
            draws = rng.normal(0.0, noise, size=(len(X), m, X.shape[1]))
        else:
            draws = (rng.uniform(size=(len(X), m, X.shape[1])) < noise) * 1.0
        expected = np.zeros(len(X))
        for i in range(len(X)):
            f_x = clf.decision_function(X[i : i + 1])[0, y[i]]
            for j in range(m):
                if perturbation == "gaussian":
                    moved = X[i] - draws[i, j]
                else:
                    moved = np.where(draws[i, j] > 0, 0.0, X[i])
                f_m = clf.decision_function(moved[None])[0, y[i]]
                expected[i] += (draws[i, j] @ maps[i] - (f_x - f_m)) ** 2 / m
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_infidelity_normalize_is_scale_invariant(small):
    """Check that normalize=True makes infidelity ignore the maps' scale."""
    clf, X, y, maps = small
    kw = {"perturbation": "gaussian", "normalize": True, "random_state": 0}
    np.testing.assert_allclose(
        infidelity_error(clf, X, maps, y, **kw),
        infidelity_error(clf, X, 7 * maps, y, **kw),
    )


def test_exact_map_beats_random_and_constant_maps(small):
    """Check the known ordering: coef * x beats a random and a constant map on
    deletion, insertion and infidelity."""
    clf, X, y, maps = small
    rng = np.random.RandomState(0)
    others = {"random": rng.normal(size=maps.shape), "constant": np.ones_like(maps)}
    # A constant map ties every feature; the stable sort then removes them in
    # index order, an arbitrary but fixed order.
    for name, other in others.items():
        assert deletion_score(clf, X, maps, y).mean() > deletion_score(
            clf, X, other, y
        ).mean(), name
        assert insertion_score(clf, X, maps, y).mean() > insertion_score(
            clf, X, other, y
        ).mean(), name
        exact = infidelity_error(clf, X, maps, y, random_state=0)
        assert exact.max() < 1e-10
        assert infidelity_error(clf, X, other, y, random_state=0).mean() > 1e-3, name


def test_max_sensitivity_matches_brute_force(digits, small):
    """Check max-sensitivity against explaining each perturbed sample alone."""
    clf, X, y, _ = small
    explainer = CoefTimesX(clf).fit(digits[0][:50])
    got = max_sensitivity_error(explainer, X, targets=y, radius=0.1,
                                n_perturbations=4, random_state=1)
    rng = np.random.RandomState(1)
    delta = rng.uniform(-0.1, 0.1, size=(len(X), 4, X.shape[1]))
    expected = np.zeros(len(X))
    for i in range(len(X)):
        base = clf.coef_[y[i]] * X[i]
        for j in range(4):
            moved = X[i] + delta[i, j]
            one = explainer.set_params(target=y[i]).explain(moved[None]).maps.ravel()
            dist = np.linalg.norm(one - base) / np.linalg.norm(base)
            expected[i] = max(expected[i], dist)
    explainer.set_params(target="predicted")
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # The same with the maps computed by the metric itself.
    pred = clf.predict(X)
    maps = clf.coef_[pred] * X
    np.testing.assert_allclose(
        max_sensitivity_error(explainer, X, radius=0.1, n_perturbations=4,
                              random_state=1),
        max_sensitivity_error(explainer, X, maps, pred, radius=0.1,
                              n_perturbations=4, random_state=1),
    )


def test_curves_on_a_torch_module_with_channels_first_images():
    """Check that a torch module's N-D input is blurred over height and width only
    and that the curves are probabilities from the softmax of the logits."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 5 * 5, 3))
    X = np.random.RandomState(0).rand(3, 2, 5, 5).astype(np.float32)
    maps = np.random.RandomState(1).rand(3, 2, 5, 5)
    fractions, curves = insertion_curve(net, X, maps, [0, 1, 2], blur_sigma=1.0)
    with torch.no_grad():
        proba = torch.softmax(net(torch.from_numpy(X)), 1).numpy()
    np.testing.assert_allclose(curves[:, -1], proba[[0, 1, 2], [0, 1, 2]], rtol=1e-5)
    blurred = gaussian_filter(X.astype(np.float64), (0, 0, 1.0, 1.0), mode="nearest")
    with torch.no_grad():
        start = torch.softmax(net(torch.from_numpy(blurred.astype(np.float32))), 1)
    np.testing.assert_allclose(curves[:, 0], start.numpy()[[0, 1, 2], [0, 1, 2]],
                               rtol=1e-5)


@pytest.mark.parametrize(
    "maps_shape", [(6, 63), (5, 64), (6, 2, 64), (6,)]
)
def test_maps_of_the_wrong_shape_raise(small, maps_shape):
    """Check that maps whose shape differs from X raise a clear error."""
    clf, X, y, _ = small
    with pytest.raises(ValueError, match=r"maps must have shape \(6, 64\)"):
        deletion_score(clf, X, np.zeros(maps_shape), y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fill": "zeros"}, "'fill' parameter of deletion_curve"),
        ({"fill": np.zeros(5)}, "'fill' parameter"),
        ({"n_steps": 0}, "'n_steps' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
    ],
)
def test_deletion_curve_bad_parameters_raise(small, kwargs, match):
    """Check the errors of invalid deletion parameters."""
    clf, X, y, maps = small
    with pytest.raises(ValueError, match=match):
        deletion_curve(clf, X, maps, y, **kwargs)


def test_metrics_bad_targets_and_options_raise(small):
    """Check the errors of unknown classes, wrong target lengths and options."""
    clf, X, y, maps = small
    with pytest.raises(ValueError, match="not one of the model's classes"):
        insertion_score(clf, X, maps, np.full(6, 42))
    with pytest.raises(ValueError, match="one class per sample"):
        insertion_score(clf, X, maps, y[:3])
    with pytest.raises(ValueError, match="'order' parameter"):
        pixel_flipping_curve(clf, X, maps, y, order="random")
    with pytest.raises(ValueError, match="'perturbation' parameter"):
        infidelity_error(clf, X, maps, y, perturbation="uniform")
    with pytest.raises(ValueError, match="NaN"):
        deletion_score(clf, X, np.full_like(maps, np.nan), y)
    with pytest.raises(TypeError, match="needs a fitted explainer"):
        max_sensitivity_error(clf, X)


# ------------------------------------------------------------- layouts: units
def _brute_unit_curve(predict, X, targets, unit_maps, unit_of, other, insert=False):
    """One model call per sample and step, removing (or inserting) whole units
    in order of decreasing unit attribution; ``unit_of[f]`` is feature f's unit
    (-1: in no unit, never moved)."""
    n, n_units = unit_maps.shape
    curves = np.empty((n, n_units + 1))
    for i in range(n):
        order = np.argsort(-unit_maps[i], kind="stable")
        for k in range(n_units + 1):
            moved = np.isin(unit_of, order[:k])
            if insert:
                x = np.where(moved | (unit_of < 0), X[i], other[i])
            else:
                x = np.where(moved, other[i], X[i])
            curves[i, k] = predict(x[None])[0, targets[i]]
    return curves


@pytest.fixture(scope="module")
def cancer():
    """breast_cancer (unscaled), a scaled LogisticRegression, exact maps."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    X = X[:5]
    pred = clf.predict(X)
    maps = clf[-1].coef_[0] * clf[0].transform(X) * np.where(pred == 1, 1, -1)[:, None]
    return clf, X, pred, maps


@pytest.mark.parametrize("spec", ["mean", "blur"])
def test_table_deletion_removes_features_to_their_mean(cancer, spec):
    """Check that a 2-D X is a table: deletion and insertion move one feature at
    a time in order of attribution, 'mean' (and 'blur': a table has no
    neighbours to blur) being each feature's mean over X."""
    clf, X, pred, maps = cancer
    means = np.broadcast_to(X.mean(axis=0), X.shape)
    unit_of = np.arange(X.shape[1])
    fractions, curves = deletion_curve(clf, X, maps, pred, fill=spec, batch_size=9)
    expected = _brute_unit_curve(clf.predict_proba, X, pred, maps, unit_of, means)
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fractions, np.arange(31) / 30)
    _, curves = insertion_curve(clf, X, maps, pred, start=spec)
    expected = _brute_unit_curve(
        clf.predict_proba, X, pred, maps, unit_of, means, insert=True
    )
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)


def test_groups_are_removed_together_in_order_of_their_value(cancer):
    """Check that an explanation's layout with feature groups makes deletion,
    insertion and infidelity move whole groups (a feature in no group never
    moves), a group's attribution being the value its members share."""
    from skxai._layout import Layout
    from skxai.explanation import Explanation

    clf, X, pred, _ = cancer
    groups = {"mean": range(0, 10), "error": range(10, 20), "worst": range(20, 22)}
    layout = Layout.from_input((30,), groups=groups)
    unit_of = layout.unit_index()
    # Group values ranked differently by sum (sizes 10, 10, 2) and by value.
    unit_maps = np.tile([1.0, -0.5, 3.0], (5, 1)) * np.arange(1, 6)[:, None]
    unit_maps[::2] *= -1
    maps = np.where(unit_of < 0, 7.0, unit_maps[:, np.maximum(unit_of, 0)])
    expl = Explanation(maps=maps[:, None], targets=pred[:, None], layout=layout)
    fill = np.where(unit_of < 0, X, 1.0)
    fractions, curves = deletion_curve(clf, X, expl, pred, fill=1.0)
    expected = _brute_unit_curve(clf.predict_proba, X, pred, unit_maps, unit_of, fill)
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fractions, np.arange(4) / 3)
    _, curves = insertion_curve(clf, X, expl, pred, start=1.0)
    expected = _brute_unit_curve(
        clf.predict_proba, X, pred, unit_maps, unit_of, fill, insert=True
    )
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    # Infidelity draws a subset of the 3 groups per perturbation.
    got = infidelity_error(clf, X, expl, pred, noise=0.5, n_perturbations=4,
                           random_state=0)
    removed = np.random.RandomState(0).uniform(size=(5, 4, 3)) < 0.5
    expected = np.zeros(5)
    for i in range(5):
        f_x = clf.decision_function(X[i : i + 1])[0]
        for j in range(4):
            gone = np.isin(unit_of, np.flatnonzero(removed[i, j]))
            moved = np.where(gone, 0.0, X[i])
            f_m = clf.decision_function(moved[None])[0]
            diff = (f_x - f_m) * (1 if pred[i] == 1 else -1)
            expected[i] += (removed[i, j] @ unit_maps[i] - diff) ** 2 / 4
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("channels_first", [True, False])
def test_image_curves_move_a_pixel_with_all_its_channels(channels_first):
    """Check that on colour images a unit is a pixel (its channels together),
    ranked by the sum of its channels' attributions, for channels-first torch
    input and for flat input with image_shape (height, width, channels)."""
    from skxai._layout import Layout

    rng = np.random.RandomState(0)
    w = rng.normal(size=(3 * 4 * 5, 3))

    def model(Z):
        z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1) @ w
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    if channels_first:
        X = rng.rand(3, 3, 4, 5)
        kwargs = {}
    else:
        X = rng.rand(3, 4 * 5 * 3)
        kwargs = {"image_shape": (4, 5, 3)}
    maps = rng.normal(size=X.shape)
    layout = Layout.from_input(X.shape[1:], **kwargs)
    assert layout.n_units == 20
    flat, flat_maps = X.reshape(3, -1), maps.reshape(3, -1)
    unit_maps = layout.features_to_units(flat_maps)
    targets = np.array([0, 1, 2])
    fractions, curves = deletion_curve(model, X, maps, targets, fill=0.5, **kwargs)
    expected = _brute_unit_curve(
        model, flat, targets, unit_maps, layout.unit_index(), np.full_like(flat, 0.5)
    )
    np.testing.assert_allclose(curves, expected, rtol=1e-10, atol=1e-12)
    assert len(fractions) == 21


@pytest.mark.parametrize(
    "input_shape, image_shape, hot",
    [
        ((28, 28), None, (slice(None), 3, 5)),
        ((1, 4, 4), None, (slice(None), slice(None), 1, 2)),
        ((3, 4, 4), None, (slice(None), slice(None), 1, 2)),
        ((4, 4, 3), None, (slice(None), slice(None), 1, 2)),  # torch: C=4, H=4, W=3
        ((3, 5, 2), None, (slice(None), slice(None), 4, 1)),
        ((48,), (4, 4, 3), (slice(None), 1, 2, slice(None))),  # flat, channels last
        ((4,), None, (slice(None), 2)),
        ((9,), None, (slice(None), 2)),
        ((16,), None, (slice(None), 2)),
        ((30,), None, (slice(None), 2)),
    ],
)
def test_curves_remove_the_unit_the_layout_says(input_shape, image_shape, hot):
    """Check that the first step of deletion removes exactly the pixel (all its
    channels) or the feature whose attribution is largest, at the place the
    layout gives it in the input the model takes."""
    rng = np.random.RandomState(0)
    n = 2
    X = rng.rand(n, *input_shape)
    seen = []
    w = rng.normal(size=(X[0].size, 3))

    def model(Z):
        Z = np.asarray(Z)
        seen.append(Z.copy())
        z = Z.reshape(len(Z), -1) @ w
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    shaped = X if image_shape is None else X.reshape(n, *image_shape)
    maps = -rng.rand(*shaped.shape)
    maps[hot] = 5.0
    deletion_curve(model, X, maps.reshape(X.shape), [0, 1], fill=-1.0,
                   n_steps=None, image_shape=image_shape, batch_size=1)
    # The first input that is neither a sample nor all fill: sample 0's first
    # step (the engine scores sample by sample, step by step).
    rows = np.concatenate([z.reshape(len(z), -1) for z in seen])
    is_sample = (rows[:, None, :] == X.reshape(1, n, -1)).all(axis=2).any(axis=1)
    is_fill = (rows == -1.0).all(axis=1)
    first = rows[~is_sample & ~is_fill][0].reshape(shaped[:1].shape)
    expected = shaped[:1].copy()
    expected[(slice(0, 1), *hot[1:])] = -1.0
    np.testing.assert_array_equal(first, expected)


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_metrics_refuse_a_frame_with_the_columns_reordered():
    """Check that every metric, given a model or an explainer (fitted on a
    DataFrame or an ndarray), refuses a DataFrame whose columns are the model's
    in another order, instead of scoring relabelled (scrambled) columns."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skxai import Occlusion

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    Xs = X.iloc[:3]
    reordered = Xs[X.columns[::-1]]
    maps = np.ones(Xs.shape)
    match = "same order as they were in fit"
    for model in (clf, Occlusion(clf).fit(X), Occlusion(clf).fit(X.to_numpy())):
        for metric in (deletion_curve, insertion_curve, pixel_flipping_curve):
            with pytest.raises(ValueError, match=match):
                metric(model, reordered, maps)
        with pytest.raises(ValueError, match=match):
            infidelity_error(model, reordered, maps, random_state=0)
        # The columns in the model's order pass.
        assert deletion_curve(model, Xs, maps)[1].shape == (3, 31)
    for explainer in (Occlusion(clf).fit(X), Occlusion(clf).fit(X.to_numpy())):
        with pytest.raises(ValueError, match=match):
            max_sensitivity_error(explainer, reordered, maps)
        with pytest.raises(ValueError, match=match):
            explainer.explain(reordered)
