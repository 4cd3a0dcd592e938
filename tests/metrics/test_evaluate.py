"""Tests of evaluate: tidy frames, shared model calls, bad input."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skxai.metrics import (
    deletion_score,
    evaluate,
    infidelity_error,
    insertion_score,
    max_sensitivity_error,
    morf_score,
)
from skxai.metrics._faithfulness import _blur

from ._helpers import CoefTimesX, counting_model


@pytest.fixture(scope="module")
def setup(digits):
    X, y = digits
    clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    rng = np.random.RandomState(0)
    model = counting_model(clf)
    explainers = {
        "exact": CoefTimesX(model, coef=clf.coef_, image_shape=(8, 8)).fit(X[:20]),
        "random": CoefTimesX(
            model, coef=rng.normal(size=clf.coef_.shape), image_shape=(8, 8)
        ).fit(X[:20]),
    }
    return clf, model, explainers, X[300:304], y[300:304]


def test_evaluate_computes_each_model_call_once(setup):
    """Check that evaluate shares model outputs across metrics and explainers."""
    clf, model, explainers, X, y = setup
    model.rows = model.calls = 0
    result = evaluate(explainers, X, y,
                      metrics=["deletion", "insertion", "morf", "default"])
    n, d = X.shape
    explain_rows = 2 * n  # each explainer scores X once to pick its targets
    shared_rows = 3 * n  # X, the all-zero and the blurred images, for both
    # Inner points of the deletion and insertion curves of each explainer, one
    # per distinct input: deleting to 0 changes the input only at a non-zero
    # pixel, inserting into the blurred copy only where the two differ; the
    # last change gives the fully replaced input, computed once above.
    blurred = _blur(X, (8, 8), 5.0)
    nonzero = np.count_nonzero(X, axis=1)
    not_blurred = np.count_nonzero(X != blurred, axis=1)
    curve_rows = 2 * int(np.sum(nonzero - 1) + np.sum(not_blurred - 1))
    assert model.rows == explain_rows + shared_rows + curve_rows
    assert set(result.curves["curve"]) == {"deletion", "insertion", "morf"}


def test_evaluate_values_match_the_metric_functions(setup):
    """Check the frame's values against the metric functions."""
    clf, model, explainers, X, y = setup
    result = evaluate(
        explainers, X, y,
        metrics=["deletion", "insertion", "morf", "infidelity", "sensitivity"],
        metric_params={"infidelity": {"random_state": 0},
                       "sensitivity": {"random_state": 0}},
    )
    frame = result.frame
    assert list(frame.columns) == ["explainer", "metric", "sample", "value"]
    assert len(frame) == 2 * 5 * len(X)
    for label, explainer in explainers.items():
        maps = explainer.transform(X)
        pred = clf.predict(X)
        expected = {
            "deletion_score": deletion_score(clf, X, maps, pred, image_shape=(8, 8)),
            "insertion_score": insertion_score(clf, X, maps, pred,
                                               image_shape=(8, 8)),
            "morf_score": morf_score(clf, X, maps, pred),
            "infidelity_error": infidelity_error(explainer, X, maps, pred,
                                                 random_state=0),
            "max_sensitivity_error": max_sensitivity_error(explainer, X, maps, pred,
                                                           random_state=0),
        }
        for metric, values in expected.items():
            got = frame.query("explainer == @label and metric == @metric")["value"]
            np.testing.assert_allclose(got.to_numpy(), values, err_msg=metric)
    summary = result.summary.set_index(["explainer", "metric"])
    assert summary.loc[("exact", "deletion_score"), "mean"] > summary.loc[
        ("random", "deletion_score"), "mean"
    ]
    assert summary.loc[("exact", "infidelity_error"), "mean"] < summary.loc[
        ("random", "infidelity_error"), "mean"
    ]
    curves = result.curves
    assert list(curves.columns) == ["explainer", "curve", "sample", "fraction", "value"]
    assert len(curves) == 2 * 3 * len(X) * (X.shape[1] + 1)


def test_evaluate_bad_input_raises(setup):
    """Check the errors of unknown metrics, non-explainers and misapplied metrics."""
    clf, model, explainers, X, y = setup
    with pytest.raises(ValueError, match="'accuracy' is not a known metric.*deletion"):
        evaluate(explainers, X, metrics=["accuracy"])
    with pytest.raises(TypeError, match="'clf' is a LogisticRegression"):
        evaluate({"clf": clf}, X)
    with pytest.raises(TypeError, match="judges similarity explainers"):
        evaluate(explainers, X, metrics=["identical_class"])
    with pytest.raises(TypeError, match="'explainers' parameter of evaluate"):
        evaluate([], X)
    with pytest.raises(TypeError, match="non-empty dict"):
        evaluate({}, X)


def test_evaluate_black_box_and_gradient_explainers(digits):
    """Check evaluate over Occlusion, RISE and Saliency of one model: every
    metric is finite and the curves start at the intact sample."""
    saliency = pytest.importorskip("skxai.saliency")
    pytest.importorskip("torch")
    try:
        Occlusion, RISE, Saliency = (
            saliency.Occlusion, saliency.RISE, saliency.Saliency
        )
    except AttributeError as exc:
        pytest.skip(f"saliency explainers not available yet: {exc}")
    X, y = digits
    clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    Xs = X[300:304]
    explainers = {
        "occlusion": Occlusion(clf, window=(2, 2), image_shape=(8, 8)).fit(X[:50]),
        "rise": RISE(clf, n_masks=50, grid_size=4, image_shape=(8, 8),
                     random_state=0).fit(X[:50]),
        "saliency": Saliency(clf).fit(X[:50]),  # no image_shape: a table
    }
    result = evaluate(
        explainers, Xs,
        metrics=["default", "infidelity", "sensitivity"],
        metric_params={"infidelity": {"random_state": 0},
                       "sensitivity": {"n_perturbations": 2, "random_state": 0}},
    )
    assert np.isfinite(result.frame["value"]).all()
    assert set(result.frame["explainer"]) == set(explainers)
    start = result.curves.query("fraction == 0 and curve == 'deletion'")
    np.testing.assert_allclose(
        start["value"], np.tile(clf.predict_proba(Xs).max(axis=1), 3)
    )


@pytest.fixture(scope="module")
def raw_cancer():
    """breast_cancer unscaled (areas in the hundreds), a pipeline that scales
    inside, and an Occlusion of it (one feature at a time)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skxai import Occlusion

    X, y = load_breast_cancer(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    occ = Occlusion(clf, fill="mean").fit(X)
    return clf, occ, X[:8]


def test_default_score_and_evaluate_remove_table_features_to_their_mean(raw_cancer):
    """Check that on a tabular layout the default curves remove a feature to
    its mean over X and insert into the row of means, not to a literal 0 far
    outside the unscaled data."""
    from skxai.metrics import default_score, get_scorer

    clf, occ, X = raw_cancer
    assert occ.layout_.kind == "tabular"
    maps = occ.transform(X)
    pred = clf.predict(X)
    deletion = deletion_score(clf, X, maps, pred, fill="mean")
    insertion = insertion_score(clf, X, maps, pred, start="mean")
    expected = insertion - (1.0 - deletion)
    assert default_score(occ, X) == pytest.approx(expected.mean(), rel=1e-10)
    zero = insertion_score(clf, X, maps, pred, start="blur") - (
        1.0 - deletion_score(clf, X, maps, pred, fill=0.0)
    )
    assert abs(zero.mean() - expected.mean()) > 1e-3

    result = evaluate({"occ": occ}, X, metrics=["default", "deletion", "insertion"])
    frame = result.frame.set_index(["metric", "sample"])["value"]
    np.testing.assert_allclose(frame["default_score"], expected, rtol=1e-10)
    np.testing.assert_allclose(frame["deletion_score"], deletion, rtol=1e-10)
    np.testing.assert_allclose(frame["insertion_score"], insertion, rtol=1e-10)
    # Every feature deleted: the row of column means, for every sample.
    means = X.mean(axis=0, keepdims=True)
    proba_means = clf.predict_proba(means)[0, np.searchsorted(clf.classes_, pred)]
    curves = result.curves.query("curve == 'deletion' and fraction == 1")
    np.testing.assert_allclose(curves["value"], proba_means, rtol=1e-10)
    assert get_scorer("deletion")(occ, X) == pytest.approx(deletion.mean())
    assert get_scorer("insertion")(occ, X) == pytest.approx(insertion.mean())
    # metric_params still override the layout's default.
    zero_fill = evaluate({"occ": occ}, X, metrics=["deletion"],
                         metric_params={"deletion": {"fill": 0.0}})
    np.testing.assert_allclose(
        zero_fill.frame["value"], deletion_score(clf, X, maps, pred, fill=0.0),
        rtol=1e-10,
    )
