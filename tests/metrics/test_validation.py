"""Metrics on the inputs a user may get wrong: targets, parameters, empty X."""

import numpy as np
import pytest
from sklearn.base import clone

from skxai import metrics

from ._helpers import CoefTimesX


@pytest.fixture(scope="module")
def coef_times_x(digits, logreg):
    """The exact attribution explainer of the digits' LogisticRegression."""
    X, y = digits
    return CoefTimesX(logreg).fit(X[:50]), X[300:308], y[300:308]


def test_score_with_target_all_judges_the_predicted_class(coef_times_x):
    """Check that target='all' is scored on the predicted class's map.

    Before, score() judged class 0's map for every sample.
    """
    explainer, X, y = coef_times_x
    every = clone(explainer).set_params(target="all").fit(X)
    assert every.score(X) == pytest.approx(explainer.score(X), abs=1e-12)
    class_0 = clone(explainer).set_params(target=0).fit(X)
    assert every.score(X) != pytest.approx(class_0.score(X), abs=1e-3)
    scorer = metrics.get_scorer("deletion", n_steps=8)
    assert scorer(every, X) == pytest.approx(scorer(explainer, X), abs=1e-12)
    both = {"all": every, "pred": explainer}
    frames = metrics.evaluate(both, X, metrics=["insertion"])
    values = frames.frame.pivot(index="sample", columns="explainer", values="value")
    np.testing.assert_allclose(values["all"], values["pred"], atol=1e-12)
    np.testing.assert_allclose(
        metrics.max_sensitivity_error(every, X, random_state=0),
        metrics.max_sensitivity_error(explainer, X, random_state=0),
        atol=1e-12,
    )


def test_metrics_need_a_sample(coef_times_x, logreg):
    """Check that every metric rejects an X without samples with a clear error."""
    explainer, X, _ = coef_times_x
    empty, maps = X[:0], np.zeros((0, X.shape[1]))
    calls = {
        "deletion_curve": lambda: metrics.deletion_curve(logreg, empty, maps),
        "insertion_score": lambda: metrics.insertion_score(explainer, empty, maps),
        "morf_score": lambda: metrics.morf_score(logreg, empty, maps),
        "infidelity_error": lambda: metrics.infidelity_error(logreg, empty, maps),
        "max_sensitivity_error": lambda: metrics.max_sensitivity_error(
            explainer, empty
        ),
        "default_score": lambda: explainer.score(empty),
        "get_scorer": lambda: metrics.get_scorer("lerf")(explainer, empty),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="0 sample.*minimum of 1"):
            call()


def test_blur_with_a_wrong_image_shape(logreg, digits):
    """Check that a blur on an image_shape of the wrong size names it."""
    X = digits[0][:2]
    with pytest.raises(ValueError, match="'image_shape' parameter of insertion_curve"):
        metrics.insertion_curve(logreg, X, np.ones((2, 64)), image_shape=(4, 4))



# (metric, keyword arguments, parameter the error names); the metric is called as
# metric(model, X, maps, **kwargs), max_sensitivity_error on the explainer.
BAD_PARAMS = [
    ("infidelity_error", {"noise": 0}, "noise"),
    ("infidelity_error", {"noise": -0.1}, "noise"),
    ("infidelity_error", {"noise": 1.5}, "noise"),
    ("infidelity_error", {"n_perturbations": 0}, "n_perturbations"),
    ("infidelity_error", {"perturbation": "x"}, "perturbation"),
    ("infidelity_error", {"normalize": "yes"}, "normalize"),
    ("infidelity_error", {"response_method": "x"}, "response_method"),
    ("infidelity_error", {"random_state": "x"}, "random_state"),
    ("max_sensitivity_error", {"radius": -0.1}, "radius"),
    ("max_sensitivity_error", {"radius": 0}, "radius"),
    ("max_sensitivity_error", {"n_perturbations": 0}, "n_perturbations"),
    ("insertion_curve", {"blur_sigma": -1.0}, "blur_sigma"),
    ("deletion_curve", {"blur_sigma": 0, "fill": "blur"}, "blur_sigma"),
    ("deletion_curve", {"n_steps": 0}, "n_steps"),
    ("deletion_curve", {"batch_size": 0}, "batch_size"),
    ("deletion_curve", {"fill": "median"}, "fill"),
    ("insertion_curve", {"start": "median"}, "start"),
    ("pixel_flipping_curve", {"order": "random"}, "order"),
    ("deletion_score", {"n_steps": -2}, "n_steps"),
    ("lerf_error", {"batch_size": 0}, "batch_size"),
]


@pytest.mark.parametrize("name, kwargs, param", BAD_PARAMS)
def test_metric_parameters_are_validated(coef_times_x, logreg, name, kwargs, param):
    """Check that a bad metric parameter fails naming the parameter and metric.

    Before, infidelity_error(noise=0) scored any maps 0 (a perfect score) and
    negative radius and blur_sigma were accepted.
    """
    explainer, X, _ = coef_times_x
    maps = np.random.RandomState(0).normal(size=X.shape)
    metric = getattr(metrics, name)
    with pytest.raises(ValueError, match=f"'{param}' parameter of {name}"):
        if name == "max_sensitivity_error":
            metric(explainer, X, **kwargs)
        else:
            metric(logreg, X, maps, **kwargs)


def test_metric_arguments_are_validated(coef_times_x, logreg):
    """Check the validation of evaluate, default_score, get_scorer and X."""
    explainer, X, _ = coef_times_x
    maps = np.zeros(X.shape)
    calls = [
        (lambda: metrics.evaluate({"e": explainer}, X, batch_size=0), "batch_size"),
        (lambda: metrics.evaluate({"e": explainer}, X, metric_params=[1]),
         "metric_params"),
        (lambda: metrics.default_score(logreg, X), "explainer"),
        (lambda: metrics.get_scorer(3), "name"),
        (lambda: metrics.deletion_curve(logreg, "not an array", maps), "X"),
    ]
    for call, param in calls:
        with pytest.raises((ValueError, TypeError), match=f"'{param}' parameter of"):
            call()


def test_similarity_metrics_on_no_sample(digits, logreg):
    """Check that per-sample similarity tests of no sample are empty and their
    means (scorer, default_score) a clear error, not a NaN with warnings."""
    from skxai import GradientSimilarity

    pytest.importorskip("torch")
    X, y = digits
    gs = GradientSimilarity(logreg).fit(X[:30], y[:30])
    assert metrics.identical_class_score(gs, X[:0]).shape == (0,)
    with pytest.raises(ValueError, match="0 sample"):
        metrics.get_scorer("identical_class")(gs, X[:0])
    with pytest.raises(ValueError, match="0 sample"):
        metrics.default_score(gs, X[:0])


@pytest.mark.parametrize(
    "metric_params, error, match",
    [
        ({"insertion": {"blur_sigma": -1}}, ValueError, "'blur_sigma' parameter"),
        ({"deletion": {"n_steps": 0}}, ValueError, "'n_steps' parameter"),
        ({"morf": {"nsteps": 3}}, TypeError, r"unexpected metric_params \['nsteps'\]"),
        ({"default": {"fill": 1.0}}, TypeError, "unexpected metric_params"),
        ({"infidelity": {"noise": 0}}, ValueError, "'noise' parameter"),
        ({"deletion": 3}, TypeError, "dict of keyword arguments"),
    ],
)
def test_evaluate_checks_metric_params(coef_times_x, metric_params, error, match):
    """Check that evaluate's metric_params are validated, not silently ignored."""
    explainer, X, _ = coef_times_x
    names = list(metric_params)
    with pytest.raises(error, match=match):
        metrics.evaluate(
            {"e": explainer}, X, metrics=names, metric_params=metric_params
        )


def test_evaluate_metric_params_of_an_alias(coef_times_x):
    """Check that options given under an alias ('neg_lerf') reach the metric."""
    explainer, X, _ = coef_times_x
    params = {"neg_lerf": {"n_steps": 4}}
    explainers = {"e": explainer}
    result = metrics.evaluate(explainers, X, metrics=["lerf"], metric_params=params)
    assert result.curves["fraction"].nunique() == 5
