"""Tests of skxai.base: the estimator API every explainer inherits."""

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skxai.base import BaseExplainer, ExplainerMixin
from skxai.utils._sklearn_compat import StrOptions


class CoefTimesInput(ExplainerMixin, BaseExplainer):
    """``coef_[c] * x``: the exact attribution of a linear model's class score."""

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "response_method": [StrOptions({"auto", "decision_function"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        model,
        *,
        response_method="auto",
        target="predicted",
        batch_size=64,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _explain_chunk(self, X, targets, seeds):
        coef = self.model.coef_
        if coef.shape[0] == 1:
            coef = np.vstack([-coef, coef])
        return {"maps": coef[targets] * X[:, None, :], "seed": seeds}


def test_base_transform_shapes(digits, logreg):
    """Check that transform is 2-D and explain keeps one value per feature.

    A 2-D X is tabular: 64 features are not guessed to be an 8x8 image.
    """
    X, y = digits
    exp = CoefTimesInput(logreg, target="all").fit(X)
    assert exp.transform(X[:3]).shape == (3, 10 * 64)
    expl = exp.explain(X[:3])
    assert expl.maps.shape == (3, 10, 64)
    assert exp.layout_.kind == "tabular" and expl.layout is exp.layout_
    assert exp.image_shape_ == (64,)
    assert exp.n_features_in_ == 64
    np.testing.assert_array_equal(exp.classes_, logreg.classes_)
    np.testing.assert_array_equal(expl.predictions, logreg.predict(X[:3]))


@pytest.mark.parametrize(
    "target, expected",
    [("predicted", None), ("true", "y"), (3, 3), ("all", "all")],
)
def test_base_target_semantics(digits, logreg, target, expected):
    """Check that every form of 'target' picks the documented classes."""
    X, y = digits
    exp = CoefTimesInput(logreg, target=target).fit(X)
    expl = exp.explain(X[:20], y[:20])
    if expected is None:
        np.testing.assert_array_equal(expl.targets[:, 0], logreg.predict(X[:20]))
    elif expected == "y":
        np.testing.assert_array_equal(expl.targets[:, 0], y[:20])
    elif expected == "all":
        np.testing.assert_array_equal(expl.targets[0], logreg.classes_)
    else:
        assert (expl.targets == expected).all()
    np.testing.assert_allclose(
        expl.maps.reshape(20, expl.targets.shape[1], -1),
        logreg.coef_[expl.targets] * X[:20, None, :],
    )


def test_base_target_sequence(digits, logreg):
    """Check that a sequence target gives one class per sample."""
    X, _ = digits
    exp = CoefTimesInput(logreg, target=[1, 2, 3]).fit(X)
    np.testing.assert_array_equal(exp.explain(X[:3]).targets[:, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="one class per sample"):
        exp.explain(X[:4])


def test_base_target_errors(digits, logreg):
    """Check that unknown classes and a missing y give clear errors."""
    X, y = digits
    with pytest.raises(ValueError, match="'target' class 11"):
        CoefTimesInput(logreg, target=11).fit(X)
    exp = CoefTimesInput(logreg, target="true").fit(X)
    with pytest.raises(ValueError, match="needs the true labels"):
        exp.transform(X[:2])
    with pytest.raises(ValueError, match="one label per sample"):
        exp.explain(X[:2], y[:3])
    with pytest.raises(ValueError, match="not one of the model's classes"):
        exp.explain(X[:2], np.array([0, 42]))


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_base_invariance_and_seeds(digits, logreg, n_jobs, batch_size):
    """Check that results and per-sample seeds do not depend on n_jobs/batch_size."""
    X, _ = digits
    ref = CoefTimesInput(logreg, random_state=0).fit(X).explain(X[:30])
    exp = CoefTimesInput(
        logreg, random_state=0, n_jobs=n_jobs, batch_size=batch_size
    ).fit(X)
    expl = exp.explain(X[:30])
    np.testing.assert_array_equal(expl.maps, ref.maps)
    np.testing.assert_array_equal(expl.seed, ref.seed)
    alone = exp.explain(X[5:6]).maps[0]
    np.testing.assert_array_equal(alone, ref.maps[5])


def test_base_clone_shares_model_and_pickles(digits, logreg):
    """Check that clone shares the fitted model and pickling round-trips."""
    X, _ = digits
    exp = CoefTimesInput(logreg, target="all").fit(X)
    cloned = clone(exp)
    assert cloned.model is logreg
    assert not hasattr(cloned, "adapter_")
    restored = pickle.loads(pickle.dumps(exp))
    np.testing.assert_array_equal(restored.transform(X[:4]), exp.transform(X[:4]))


def test_base_set_output_pandas(digits, logreg):
    """Check that set_output(transform='pandas') names the map columns."""
    X, _ = digits
    exp = CoefTimesInput(logreg).fit(X)
    exp.set_output(transform="pandas")
    out = exp.transform(X[:2])
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns[:2]) == ["x0", "x1"]
    exp_all = CoefTimesInput(logreg, target="all").fit(X)
    names = exp_all.get_feature_names_out()
    assert len(names) == 640 and names[0] == "0__x0"


def test_base_dataframe_index_and_names(digits):
    """Check that a DataFrame keeps its index in to_frame and its column names."""
    X, y = digits
    cols = [f"px{i}" for i in range(64)]
    df = pd.DataFrame(X[:50], columns=cols, index=[f"img{i}" for i in range(50)])
    model = LogisticRegression(max_iter=300).fit(df, y[:50])
    exp = CoefTimesInput(model).fit(df)
    np.testing.assert_array_equal(exp.feature_names_in_, cols)
    frame = exp.explain(df.iloc[:3]).to_frame()
    assert list(frame["sample"].unique()) == ["img0", "img1", "img2"]
    assert list(exp.get_feature_names_out()[:2]) == ["px0", "px1"]


def test_base_pipeline_model(digits):
    """Check that a Pipeline (scaler + classifier) is a valid model."""
    X, y = digits
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)
    exp = CoefTimesInput(pipe[-1]).fit(X)
    assert exp.transform(X[:2]).shape == (2, 64)
    # the explainer itself accepts the Pipeline as its model
    from skxai.models import check_model

    scores = check_model(pipe).scores(X[:5])
    np.testing.assert_allclose(scores, pipe.decision_function(X[:5]))


@pytest.mark.parametrize(
    "X_bad, match",
    [
        (np.full((2, 64), np.nan), "NaN"),
        (np.full((2, 64), np.inf), "infinity"),
    ],
)
def test_base_rejects_non_finite(digits, logreg, X_bad, match):
    """Check that NaN and inf are rejected in fit and explain."""
    X, _ = digits
    with pytest.raises(ValueError, match=match):
        CoefTimesInput(logreg).fit(X_bad)
    exp = CoefTimesInput(logreg).fit(X)
    with pytest.raises(ValueError, match=match):
        exp.transform(X_bad)


def test_base_rejects_wrong_width(digits, logreg):
    """Check that X whose width differs from the model or the fit is rejected."""
    X, _ = digits
    with pytest.raises(ValueError, match="expecting 64 features"):
        CoefTimesInput(logreg).fit(X[:, :63])
    exp = CoefTimesInput(logreg).fit(X)
    with pytest.raises(ValueError, match="X has 63 features"):
        exp.transform(X[:3, :63])


def test_base_unfitted_errors(digits, logreg):
    """Check that an unfitted model or explainer gives NotFittedError."""
    X, y = digits
    with pytest.raises(NotFittedError):
        CoefTimesInput(LogisticRegression()).fit(X)
    with pytest.raises(NotFittedError):
        CoefTimesInput(logreg).transform(X[:2])


def test_base_parameter_validation(digits, logreg):
    """Check that invalid parameters are reported by fit, not __init__."""
    X, _ = digits
    exp = CoefTimesInput(logreg, batch_size=0)
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        exp.fit(X)


def test_base_nd_inputs(digits, logreg):
    """Check that N-D inputs keep their shape and are checked on explain."""
    X, _ = digits

    def model(X):
        return logreg.decision_function(X.reshape(len(X), -1))

    class NDCoef(CoefTimesInput):
        def _explain_chunk(self, X, targets, seeds):
            maps = logreg.coef_[targets] * X.reshape(len(X), 1, -1)
            return {"maps": maps.reshape(len(X), targets.shape[1], *X.shape[1:])}

    X3 = X.reshape(-1, 1, 8, 8)
    exp = NDCoef(model, target="all").fit(X3)
    assert exp.input_shape_ == (1, 8, 8) and exp.n_features_in_ == 64
    assert exp.explain(X3[:2]).maps.shape == (2, 10, 1, 8, 8)
    assert exp.transform(X3[:2]).shape == (2, 640)
    with pytest.raises(ValueError, match="samples of shape"):
        exp.transform(X.reshape(-1, 1, 4, 16)[:2])


def test_base_score_is_finite(digits, logreg):
    """Check that the default score is a finite float where exact maps do well."""
    X, y = digits
    exp = CoefTimesInput(logreg).fit(X)
    score = exp.score(X[:40], y[:40])
    assert np.isfinite(score) and score > 0


def test_base_verbose_prints_progress(digits, logreg, capsys):
    """Check that verbose=1 prints a progress line to stderr."""
    X, _ = digits
    CoefTimesInput(logreg, verbose=1, batch_size=10).fit(X).transform(X[:30])
    assert "[CoefTimesInput]" in capsys.readouterr().err


def test_base_zero_samples(digits, logreg):
    """Check that explaining zero samples returns empty results of the right width."""
    X, _ = digits
    exp = CoefTimesInput(logreg, target="all").fit(X)
    assert exp.transform(X[:0]).shape == (0, 640)


class _SlowOrFailing(CoefTimesInput):
    """Threads; the chunk holding a sample of value -1 fails at once, the others
    take a while, and ``running`` counts the chunks in flight."""

    _parallel_prefer = "threads"
    running = []

    def _explain_chunk(self, X, targets, seeds):
        if (X == -1).any():
            raise RuntimeError("the model failed")
        self.running.append(1)
        time.sleep(0.2)
        self.running.pop()
        return super()._explain_chunk(X, targets, seeds)


def test_base_error_under_n_jobs_waits_for_running_tasks(digits, logreg):
    """Check that an error from one thread reaches the caller only once no other
    thread still runs on the model (which may hold it in eval mode, hooked)."""
    X, _ = digits
    X = X[:8].copy()
    X[0] = -1
    exp = _SlowOrFailing(logreg, n_jobs=2, batch_size=2).fit(X[1:])
    with pytest.raises(RuntimeError, match="the model failed"):
        exp.transform(X)
    assert _SlowOrFailing.running == []


class _Deterministic(CoefTimesInput):
    """CoefTimesInput without a random_state parameter."""

    def __init__(self, model, *, target="predicted", batch_size=64, n_jobs=None):
        self.model = model
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs

    response_method = "auto"
    verbose = 0


def test_base_explainer_without_random_state_leaves_numpy_global_rng(digits, logreg):
    """Check that explaining with an explainer that has nothing random does not
    draw from numpy's global generator (the user's random stream)."""
    X, _ = digits
    exp = _Deterministic(logreg).fit(X)
    state = np.random.get_state()
    maps = exp.transform(X[:5])
    after = np.random.get_state()
    assert after[2] == state[2]
    np.testing.assert_array_equal(after[1], state[1])
    np.testing.assert_array_equal(maps, CoefTimesInput(logreg).fit(X).transform(X[:5]))
