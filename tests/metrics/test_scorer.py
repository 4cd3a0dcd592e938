"""Tests of get_scorer and of GridSearchCV over explainer parameters."""

import importlib

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skxai.metrics import default_score, get_scorer, infidelity_error

from ._helpers import CoefTimesX


def _class_or_skip(module, name):
    """The explainer class, or skip the test while it does not exist yet."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"{module}.{name} is not available yet: {exc}")


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    return clf, X[300:340], y[300:340]


def test_get_scorer_unknown_name_lists_known_metrics():
    """Check that an unknown metric name raises and lists the known ones."""
    with pytest.raises(ValueError, match="'accuracy' is not a known metric") as exc:
        get_scorer("accuracy")
    for name in ("deletion", "insertion", "infidelity", "sensitivity", "default"):
        assert name in str(exc.value)


def test_scorer_on_a_non_explainer_raises(data):
    """Check that a scorer used on a classifier raises a clear TypeError."""
    clf, X, y = data
    with pytest.raises(TypeError, match="needs an skxai explainer.*LogisticRegression"):
        get_scorer("insertion")(clf, X, y)


def test_scorer_accepts_a_pipeline_ending_in_an_explainer(data):
    """Check that a Pipeline's earlier steps transform X before the explainer."""
    clf, X, y = data
    pipe = make_pipeline(FunctionTransformer(lambda Z: Z / 2), CoefTimesX(clf))
    pipe.fit(X)
    scorer = get_scorer("deletion", n_steps=8)
    direct = get_scorer("deletion", n_steps=8)(CoefTimesX(clf).fit(X), X / 2)
    assert scorer(pipe, X, y) == pytest.approx(direct)


def test_error_scorers_are_negated(data):
    """Check that error metrics become negated scores, under both names."""
    clf, X, y = data
    explainer = CoefTimesX(clf).fit(X)
    maps = explainer.transform(X)
    expected = -infidelity_error(explainer, X, maps, clf.predict(X),
                                 perturbation="gaussian", random_state=0).mean()
    for name in ("infidelity", "neg_infidelity"):
        scorer = get_scorer(name, perturbation="gaussian", random_state=0)
        assert scorer(explainer, X) == pytest.approx(expected)
    assert "infidelity" in repr(get_scorer("infidelity"))


def test_score_is_the_default_metric(data):
    """Check that score(X, y) is insertion AUC minus deletion AUC, as the scorer."""
    clf, X, y = data
    explainer = CoefTimesX(clf).fit(X)
    ins = get_scorer("insertion")(explainer, X)
    dele = get_scorer("deletion")(explainer, X)
    assert explainer.score(X, y) == pytest.approx(ins - (1 - dele))
    assert default_score(explainer, X) == pytest.approx(explainer.score(X))
    assert get_scorer("default")(explainer, X) == pytest.approx(explainer.score(X))
    assert -1 <= explainer.score(X) <= 1


def test_grid_search_over_occlusion(data):
    """Check GridSearchCV over Occlusion's window and fill with n_jobs=2."""
    Occlusion = _class_or_skip("skxai.saliency", "Occlusion")
    clf, X, y = data
    # Threads: process workers would spend the test budget starting up.
    with parallel_config(backend="threading"):
        search = GridSearchCV(
            Occlusion(clf, image_shape=(8, 8)),
            {"window": [(2, 2), (4, 4)], "fill": [0.0, "mean"]},
            scoring=get_scorer("insertion", n_steps=8),
            cv=2,
            n_jobs=2,
        ).fit(X[:16], y[:16])
    frame = pd.DataFrame(search.cv_results_)
    assert len(frame) == 4
    assert frame["mean_test_score"].between(0, 1).all()
    assert search.best_params_["window"] in [(2, 2), (4, 4)]


def test_grid_search_over_smoothgrad_integrated_gradients(data):
    """Check GridSearchCV over SmoothGrad(IntegratedGradients) noise, n_jobs=2,
    with the explainer's default score."""
    SmoothGrad = _class_or_skip("skxai.saliency", "SmoothGrad")
    IntegratedGradients = _class_or_skip("skxai.saliency", "IntegratedGradients")
    pytest.importorskip("torch")
    clf, X, y = data
    sg = SmoothGrad(IntegratedGradients(clf, n_steps=4), n_samples=2, random_state=0)
    with parallel_config(backend="threading"):
        search = GridSearchCV(sg, {"noise": [0.05, 0.3]}, cv=2, n_jobs=2)
        search.fit(X[:12], y[:12])
    frame = pd.DataFrame(search.cv_results_)
    assert len(frame) == 2 and np.isfinite(frame["mean_test_score"]).all()


def test_grid_search_over_gradient_similarity(data, digits):
    """Check GridSearchCV over GradientSimilarity's similarity with n_jobs=2; the
    default score is the identical-class test."""
    GradientSimilarity = _class_or_skip("skxai.similarity", "GradientSimilarity")
    pytest.importorskip("torch")
    clf, X, y = data
    with parallel_config(backend="threading"):
        search = GridSearchCV(
            GradientSimilarity(clf), {"similarity": ["dot", "cos"]}, cv=2, n_jobs=2
        ).fit(X[:20], y[:20])
    frame = pd.DataFrame(search.cv_results_)
    assert len(frame) == 2
    assert frame["mean_test_score"].between(0, 1).all()
    scorer = get_scorer("identical_class")
    assert scorer(search.best_estimator_, X, y) == pytest.approx(
        search.best_estimator_.score(X, y)
    )
    with pytest.raises(TypeError, match="similarity explainer"):
        get_scorer("deletion")(search.best_estimator_, X, y)
