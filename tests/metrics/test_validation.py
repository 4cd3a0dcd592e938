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
