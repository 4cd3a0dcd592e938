"""Tests for skxai/models/_convert.py: exact torch equivalents of sklearn models."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from joblib import hash as joblib_hash  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import (  # noqa: E402
    LinearRegression,
    LogisticRegression,
    Perceptron,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    MaxAbsScaler,
    MinMaxScaler,
    StandardScaler,
)
from sklearn.svm import SVC, LinearSVC  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from skxai.models._convert import ConvertedModule, to_torch  # noqa: E402

METHODS = ("decision_function", "predict_proba", "predict_log_proba")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run torch and BLAS on one thread: the models here are tiny."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n_threads)


def _mlp(activation="relu", hidden=(8,)):
    return MLPClassifier(hidden, activation=activation, max_iter=20, random_state=0)


ESTIMATORS = {
    "logreg": lambda: LogisticRegression(C=0.1),
    "ovr_logreg": lambda: OneVsRestClassifier(
        LogisticRegression(C=0.1, solver="liblinear")
    ),
    "linear_svc": lambda: LinearSVC(),
    "sgd_hinge": lambda: SGDClassifier(random_state=0),
    "sgd_log": lambda: SGDClassifier(loss="log_loss", alpha=0.01, random_state=0),
    "sgd_huber": lambda: SGDClassifier(loss="modified_huber", random_state=0),
    "ridge": lambda: RidgeClassifier(),
    "perceptron": lambda: Perceptron(random_state=0),
    "lda": lambda: LinearDiscriminantAnalysis(),
    "mlp_identity": lambda: _mlp("identity"),
    "mlp_logistic": lambda: _mlp("logistic"),
    "mlp_tanh": lambda: _mlp("tanh"),
    "mlp_relu": lambda: _mlp("relu", hidden=(8, 6)),
    "pipe_standard_logreg": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1)
    ),
    "pipe_scaled_svc": lambda: make_pipeline(
        StandardScaler(with_mean=False), "passthrough", LinearSVC()
    ),
    "pipe_minmax_mlp": lambda: make_pipeline(
        MinMaxScaler(clip=True), "passthrough", MaxAbsScaler(), _mlp("tanh")
    ),
}
NO_PROBA = {"linear_svc", "sgd_hinge", "ridge", "perceptron", "pipe_scaled_svc"}
LINEAR = ["logreg", "ovr_logreg", "linear_svc", "sgd_hinge", "ridge", "lda"]
DATASETS = ("binary", "multiclass", "digits")

_DATA = {}
_FITTED = {}


def _data(name):
    """(X_train, y_train, X_test) for a dataset name, built once."""
    if name not in _DATA:
        rng = np.random.RandomState(0)
        if name == "digits":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            X = X / 16.0
            _DATA[name] = X[:300], y[:300], X[300:450]
        else:
            n_classes = 2 if name == "binary" else 4
            X = rng.normal(size=(300, 6))
            W = rng.normal(size=(6, n_classes))
            y = np.argmax(X @ W + 0.5 * rng.normal(size=(300, n_classes)), axis=1)
            _DATA[name] = X[:200], y[:200], X[200:]
    return _DATA[name]


def _fitted(name, dataset):
    """The estimator ``name`` fitted on ``dataset``, built once."""
    key = name, dataset
    if key not in _FITTED:
        X, y, _ = _data(dataset)
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            _FITTED[key] = ESTIMATORS[name]().fit(X, y)
    return _FITTED[key]


def _sklearn_scores(estimator, X, method):
    if method == "predict_log_proba" and not hasattr(estimator, method):
        return np.log(estimator.predict_proba(X))  # OneVsRestClassifier
    out = getattr(estimator, method)(X)
    if out.ndim == 1:  # binary decision_function: d -> [-d, d]
        out = np.column_stack([-out, out])
    return out


def _assert_scores_match(out, expected, method, estimator, X, tol=1e-6):
    """Assert ``out`` equals sklearn's ``expected`` scores to ``tol``.

    Where a probability is below 1e-8, sklearn's ``log(1 - p)`` has lost its
    digits (and is ``-inf`` once ``p`` rounds to 1) while the module computes the
    log-probability stably: there, compare the probabilities instead.
    """
    if method == "predict_log_proba":
        proba = estimator.predict_proba(X)
        accurate = proba >= 1e-8
        np.testing.assert_allclose(
            out[accurate], expected[accurate], rtol=tol, atol=tol
        )
        if "huber" not in str(estimator):  # modified Huber has exact zeros
            assert np.isfinite(out).all()
        np.testing.assert_allclose(np.exp(out), proba, rtol=tol, atol=tol)
    else:
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


def _torch_scores(module, X, dtype=torch.float64):
    with torch.no_grad():
        return module(torch.as_tensor(X, dtype=dtype)).numpy()


def _cases():
    for name in ESTIMATORS:
        for method in METHODS:
            if method == "decision_function" and "mlp" in name:
                continue  # no sklearn reference; checked in test_to_torch_mlp_*
            if method != "decision_function" and name in NO_PROBA:
                continue
            yield name, method


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name, method", list(_cases()))
def test_to_torch_matches_sklearn(name, method, dataset):
    """Check that the module's output equals sklearn's to 1e-6 in float64."""
    estimator = _fitted(name, dataset)
    _, _, X = _data(dataset)
    module = to_torch(estimator, response_method=method)
    expected = _sklearn_scores(estimator, X, method)
    out = _torch_scores(module, X)
    assert out.shape == (len(X), len(estimator.classes_))
    _assert_scores_match(out, expected, method, estimator, X)


OVR_LOGREG = {
    "liblinear_multiclass": ({"solver": "liblinear"}, "multiclass"),
    "ovr_multiclass": ({"multi_class": "ovr"}, "multiclass"),
    "ovr_binary": ({"multi_class": "ovr"}, "binary"),
    "multinomial_binary": ({"multi_class": "multinomial"}, "binary"),
}


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba"])
@pytest.mark.parametrize("case", OVR_LOGREG)
def test_to_torch_logistic_multi_class(case, method):
    """Check one-vs-rest and binary multinomial LogisticRegression (sklearn < 1.8).

    scikit-learn 1.6-1.7 normalise per-class sigmoids for a one-vs-rest model
    and take the softmax of ``[-d, d]`` for a binary multinomial one; later
    releases no longer have these models (CI runs this on scikit-learn 1.6).
    """
    params, dataset = OVR_LOGREG[case]
    X, y, X_test = _data(dataset)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            estimator = LogisticRegression(C=0.1, **params).fit(X, y)
    except (TypeError, ValueError) as exc:  # scikit-learn >= 1.8
        pytest.skip(f"this scikit-learn has no LogisticRegression({params}): {exc}")
    module = to_torch(estimator, response_method=method)
    out = _torch_scores(module, X_test)
    expected = getattr(estimator, method)(X_test)
    _assert_scores_match(out, expected, method, estimator, X_test, tol=1e-12)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", ["mlp_identity", "mlp_tanh", "pipe_minmax_mlp"])
def test_to_torch_mlp_decision_is_pre_activation(name, dataset):
    """Check that an MLP's decision scores are the pre-sigmoid/softmax output."""
    estimator = _fitted(name, dataset)
    _, _, X = _data(dataset)
    decision = _torch_scores(to_torch(estimator), X)
    proba = estimator.predict_proba(X)
    if dataset == "binary":
        z = decision[:, 1]
        np.testing.assert_allclose(decision[:, 0], -z)
        np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-z)), atol=1e-10)
    else:
        softmax = np.exp(decision - decision.max(axis=1, keepdims=True))
        softmax /= softmax.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(proba, softmax, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, "float32", np.float32])
@pytest.mark.parametrize("name", ["logreg", "sgd_log", "mlp_relu", "pipe_minmax_mlp"])
@pytest.mark.parametrize("method", METHODS[1:])
def test_to_torch_float32(name, method, dtype):
    """Check that float32 modules agree with sklearn to the documented 1e-4."""
    estimator = _fitted(name, "digits")
    _, _, X = _data("digits")
    module = to_torch(estimator, response_method=method, dtype=dtype)
    assert all(p.dtype == torch.float32 for p in module.parameters())
    out = _torch_scores(module, X, dtype=torch.float32)
    expected = _sklearn_scores(estimator, X, method)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dataset", ["binary", "multiclass"])
@pytest.mark.parametrize("name", LINEAR)
def test_to_torch_linear_input_gradient(name, dataset):
    """Check that the gradient of class c's score w.r.t. the input is coef_[c]."""
    estimator = _fitted(name, dataset)
    _, _, X = _data(dataset)
    if isinstance(estimator, OneVsRestClassifier):
        coef = np.vstack([est.coef_ for est in estimator.estimators_])
    else:
        coef = estimator.coef_
    coef = np.atleast_2d(coef)  # RidgeClassifier's binary coef_ is 1-D
    if coef.shape[0] == 1:  # binary: scores [-d, d]
        coef = np.vstack([-coef[0], coef[0]])
    module = to_torch(estimator)
    x = torch.as_tensor(X[:5]).requires_grad_(True)
    out = module(x)
    for c in range(out.shape[1]):
        (grad,) = torch.autograd.grad(out[:, c].sum(), x, retain_graph=True)
        np.testing.assert_allclose(grad.numpy(), np.tile(coef[c], (5, 1)), atol=1e-12)


def test_to_torch_pipeline_gradient():
    """Check that a folded StandardScaler scales the input gradient by 1/scale_."""
    pipe = _fitted("pipe_standard_logreg", "multiclass")
    scaler, clf = pipe[0], pipe[-1]
    module = to_torch(pipe)
    x = torch.as_tensor(_data("multiclass")[2][:3]).requires_grad_(True)
    (grad,) = torch.autograd.grad(module(x)[:, 2].sum(), x)
    expected = np.tile(clf.coef_[2] / scaler.scale_, (3, 1))
    np.testing.assert_allclose(grad.numpy(), expected, atol=1e-12)


def test_to_torch_pipeline_folds_scalers():
    """Check that scaler steps become elementwise buffers before the model."""
    pipe = _fitted("pipe_standard_logreg", "digits")
    module = to_torch(pipe)
    assert [name for name, _ in module.named_children()] == ["scaler", "out"]
    scaler = pipe[0]
    np.testing.assert_allclose(module.scaler.weight.numpy(), 1 / scaler.scale_)
    np.testing.assert_allclose(
        module.scaler.bias.numpy(), -scaler.mean_ / scaler.scale_
    )
    # the scaler's constants are buffers: only the classifier has parameters
    n_params = sum(p.numel() for p in module.parameters())
    assert n_params == pipe[-1].coef_.size + pipe[-1].intercept_.size

    module = to_torch(_fitted("pipe_minmax_mlp", "digits"))
    names = [name for name, _ in module.named_children()]
    assert names[:3] == ["scaler", "clip", "scaler_1"]

    X, y, _ = _data("multiclass")
    nested = make_pipeline(
        make_pipeline(StandardScaler(), MaxAbsScaler()), LogisticRegression()
    ).fit(X, y)
    module = to_torch(nested, response_method="predict_proba")
    assert [name for name, _ in module.named_children()] == ["scaler", "out", "final"]
    np.testing.assert_allclose(
        _torch_scores(module, X), nested.predict_proba(X), atol=1e-10
    )


def test_to_torch_pipeline_unsupported_step():
    """Check that a Pipeline step other than a scaler raises a TypeError."""
    X, y, _ = _data("multiclass")
    pipe = make_pipeline(PCA(3), LogisticRegression()).fit(X, y)
    with pytest.raises(TypeError, match="PCA.*Occlusion"):
        to_torch(pipe)
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    with pytest.raises(TypeError, match="SVC"):
        to_torch(pipe)


@pytest.mark.parametrize("dataset", ["binary", "multiclass"])
def test_to_torch_mlp_structure(dataset):
    """Check that an MLP becomes named Linear layers and one activation per use."""
    estimator = _fitted("mlp_relu", dataset)
    module = to_torch(estimator, response_method="predict_proba")
    assert isinstance(module, ConvertedModule)
    names = [name for name, _ in module.named_children()]
    binary = dataset == "binary"
    expected = ["hidden_0", "act_0", "hidden_1", "act_1", "out"]
    expected += ["two_class", "final"] if binary else ["final"]
    assert names == expected
    assert isinstance(module.hidden_0, torch.nn.Linear)
    assert isinstance(module.act_0, torch.nn.ReLU)
    assert isinstance(module.act_1, torch.nn.ReLU)
    assert module.act_0 is not module.act_1
    final = torch.nn.Sigmoid if binary else torch.nn.Softmax
    assert isinstance(module.final_activation, final)
    np.testing.assert_array_equal(
        module.hidden_1.weight.detach(), estimator.coefs_[1].T
    )
    np.testing.assert_array_equal(module.classes_, estimator.classes_)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh"])
def test_to_torch_mlp_activation_modules(activation):
    """Check that each MLP activation maps to its own torch module."""
    module = to_torch(_fitted(f"mlp_{activation}", "digits"))
    expected = {
        "identity": torch.nn.Identity,
        "logistic": torch.nn.Sigmoid,
        "tanh": torch.nn.Tanh,
    }[activation]
    assert type(module.act_0) is expected


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("name", ["logreg", "sgd_huber", "mlp_relu", "ovr_logreg"])
@pytest.mark.parametrize("dataset", ["binary", "multiclass"])
@pytest.mark.parametrize("method", METHODS[1:])
def test_to_torch_final_activation_can_be_bypassed(name, dataset, method):
    """Check that skipping the final activation gives the decision scores."""
    estimator = _fitted(name, dataset)
    _, _, X = _data(dataset)
    x = torch.as_tensor(X)
    decision = _torch_scores(to_torch(estimator), X)
    module = to_torch(estimator, response_method=method)
    assert module.final_activation is not None
    assert to_torch(estimator).final_activation is None
    with torch.no_grad():
        np.testing.assert_array_equal(module.decision_function(x).numpy(), decision)
        module.apply_final = False
        np.testing.assert_array_equal(module(x).numpy(), decision)
        module.apply_final = True
        np.testing.assert_allclose(
            module(x).numpy(), _sklearn_scores(estimator, X, method), atol=1e-6
        )


@pytest.mark.parametrize("name", ["logreg", "mlp_relu", "pipe_minmax_mlp"])
def test_to_torch_parameters_trainable_module_in_eval(name):
    """Check that parameters require gradients and every submodule is in eval."""
    module = to_torch(_fitted(name, "multiclass"), response_method="predict_proba")
    params = list(module.parameters())
    assert params and all(p.requires_grad for p in params)
    assert all(p.dtype == torch.float64 for p in params)
    assert not any(m.training for m in module.modules())
    # per-parameter gradients flow
    out = module(torch.as_tensor(_data("multiclass")[2][:4]))
    grads = torch.autograd.grad(out[:, 0].sum(), params)
    assert all(g.shape == p.shape for g, p in zip(grads, params, strict=True))


@pytest.mark.parametrize(
    "name", ["logreg", "ovr_logreg", "mlp_relu", "pipe_minmax_mlp"]
)
def test_to_torch_estimator_unchanged(name):
    """Check that converting, running and editing the module leave the model alone."""
    estimator = _fitted(name, "multiclass")
    _, _, X = _data("multiclass")
    before_hash = joblib_hash(estimator)
    before = estimator.predict_proba(X)
    module = to_torch(estimator, response_method="predict_log_proba")
    out = module(torch.as_tensor(X))
    out.sum().backward()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)  # the module holds copies, not views
        for b in module.buffers():
            b.add_(1.0)
    assert joblib_hash(estimator) == before_hash
    np.testing.assert_array_equal(estimator.predict_proba(X), before)


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        MLPClassifier(),
        LinearSVC(),
        OneVsRestClassifier(LogisticRegression()),
        make_pipeline(StandardScaler(), LogisticRegression()),
    ],
    ids=type,
)
def test_to_torch_unfitted(estimator):
    """Check that an unfitted estimator raises NotFittedError."""
    with pytest.raises(NotFittedError):
        to_torch(clone(estimator))


def test_to_torch_unfitted_scaler_step():
    """Check that an unfitted scaler before a fitted classifier is caught."""
    X, y, _ = _data("multiclass")
    pipe = make_pipeline(StandardScaler(), "passthrough")
    pipe.steps[-1] = ("clf", LogisticRegression().fit(X, y))
    with pytest.raises(NotFittedError):
        to_torch(pipe)


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=2, random_state=0),
        SVC(kernel="linear"),
        LinearRegression(),
        "not a model",
        None,
    ],
    ids=repr,
)
def test_to_torch_unsupported_estimator(estimator):
    """Check that unsupported models raise a TypeError naming the alternatives."""
    if hasattr(estimator, "fit"):
        X, y, _ = _data("multiclass")
        estimator = clone(estimator).fit(X, y)
    with pytest.raises(TypeError, match="LogisticRegression.*Occlusion, RISE"):
        to_torch(estimator)


class _RidgeWithProba(RidgeClassifier):
    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


def test_to_torch_unknown_predict_proba():
    """Check that a predict_proba to_torch cannot reproduce raises a TypeError."""
    X, y, _ = _data("multiclass")
    estimator = _RidgeWithProba().fit(X, y)
    out = _torch_scores(to_torch(estimator), X)  # the decision function works
    np.testing.assert_allclose(out, estimator.decision_function(X), atol=1e-10)
    with pytest.raises(TypeError, match="cannot reproduce.*_RidgeWithProba"):
        to_torch(estimator, response_method="predict_proba")


def test_to_torch_torch_module_unsupported():
    """Check that a torch module is rejected: it needs no conversion."""
    with pytest.raises(TypeError, match="MLPClassifier.*got Linear"):
        to_torch(torch.nn.Linear(3, 2))


@pytest.mark.parametrize("name", sorted(NO_PROBA))
@pytest.mark.parametrize("method", METHODS[1:])
def test_to_torch_no_predict_proba(name, method):
    """Check that asking for probabilities a model lacks raises a TypeError."""
    with pytest.raises(TypeError, match="no 'predict_proba'.*decision_function"):
        to_torch(_fitted(name, "binary"), response_method=method)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"response_method": "auto"}, "response_method"),
        ({"response_method": "predict"}, "response_method"),
        ({"dtype": torch.int64}, "dtype"),
        ({"dtype": "float16"}, "dtype"),
        ({"dtype": [1]}, "dtype"),
    ],
)
def test_to_torch_invalid_params(params, match):
    """Check that invalid parameters raise a ValueError naming them."""
    with pytest.raises(ValueError, match=match):
        to_torch(_fitted("logreg", "binary"), **params)


def test_to_torch_wrong_n_features():
    """Check that an input with the wrong number of features is rejected."""
    module = to_torch(_fitted("logreg", "digits"))
    with pytest.raises(ValueError, match="X has 6 features.*expects 64"):
        module(torch.zeros(2, 6, dtype=torch.float64))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["mlp", "ovr_logreg"])
def test_to_torch_multilabel(name, method):
    """Check that multilabel MLPs and one-vs-rest models give per-label scores."""
    X, _, X_test = _data("multiclass")
    if (name, "multilabel") not in _FITTED:
        Y = (X[:, :3] > 0).astype(int)
        if name == "mlp":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                estimator = _mlp().fit(X, Y)
        else:
            estimator = OneVsRestClassifier(LogisticRegression(solver="liblinear"))
            estimator.fit(X, Y)
        _FITTED[name, "multilabel"] = estimator
    estimator = _FITTED[name, "multilabel"]
    if name == "mlp" and method == "decision_function":
        pytest.skip("MLPClassifier has no decision_function")
    out = _torch_scores(to_torch(estimator, response_method=method), X_test)
    assert out.shape == (len(X_test), 3)
    expected = _sklearn_scores(estimator, X_test, method)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def _far_point(coef, intercept, value):
    """A point where every class's decision function equals ``value``."""
    x, *_ = np.linalg.lstsq(coef, value - intercept, rcond=None)
    return x[None, :]


@pytest.mark.parametrize("name", ["sgd_log", "sgd_huber", "ovr_logreg"])
def test_to_torch_proba_all_zero_rows(name):
    """Check that rows whose per-class probabilities all vanish match sklearn."""
    estimator = _fitted(name, "multiclass")
    if name == "ovr_logreg":
        coef = np.vstack([est.coef_ for est in estimator.estimators_])
        intercept = np.concatenate([est.intercept_ for est in estimator.estimators_])
    else:
        coef, intercept = estimator.coef_, estimator.intercept_
    X = np.vstack([_far_point(coef, intercept, -1000.0), _data("multiclass")[2][:3]])
    expected = estimator.predict_proba(X)
    # sklearn's special case is exercised: uniform rows, or zeros for OvR
    row_value = 0.0 if name == "ovr_logreg" else 0.25
    if name != "sgd_huber" and np.isnan(expected[0]).all():
        expected[0] = row_value  # scikit-learn < 1.8 divides 0 by 0 there
    np.testing.assert_array_equal(expected[0], np.full(4, row_value))
    out = _torch_scores(to_torch(estimator, response_method="predict_proba"), X)
    np.testing.assert_allclose(out, expected, atol=1e-12)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_to_torch_log_proba_finite_where_sklearn_underflows():
    """Check that log-probabilities stay finite and exact where sklearn's are -inf."""
    estimator = _fitted("logreg", "binary")
    X = _far_point(estimator.coef_, estimator.intercept_, 800.0)
    assert np.isneginf(estimator.predict_log_proba(X)[0, 0])
    out = _torch_scores(to_torch(estimator, response_method="predict_log_proba"), X)
    np.testing.assert_allclose(out[0], [-800.0, 0.0], atol=1e-9)
