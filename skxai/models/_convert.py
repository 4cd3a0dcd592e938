"""Exact torch equivalents of fitted scikit-learn linear classifiers and MLPs.

Gradient explainers need a differentiable model. For scikit-learn's linear
classifiers, ``MLPClassifier`` and Pipelines that scale features before them,
:func:`to_torch` builds a :class:`ConvertedModule` that computes the same scores as
the estimator, from copies of its weights, with real ``torch.nn.Linear`` layers and
one activation module per use (so hooks on, say, each ``nn.ReLU`` see one layer).

This module imports torch at the top; ``skxai`` imports it only when it is needed.
"""

from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..utils._sklearn_compat import LinearClassifierMixin

__all__ = ["ConvertedModule", "to_torch"]

RESPONSE_METHODS = ("decision_function", "predict_proba", "predict_log_proba")

_DTYPES = {
    torch.float32: torch.float32,
    torch.float64: torch.float64,
    "float32": torch.float32,
    "float64": torch.float64,
    np.float32: torch.float32,
    np.float64: torch.float64,
}

_SUPPORTED = (
    "to_torch supports fitted linear classifiers with 'coef_' and 'intercept_' "
    "(LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, Perceptron, "
    "LinearDiscriminantAnalysis and other LinearClassifierMixin estimators), "
    "OneVsRestClassifier of such binary classifiers, MLPClassifier, and Pipelines "
    "whose steps before one of these are StandardScaler, MinMaxScaler, "
    "MaxAbsScaler or 'passthrough'"
)

_BLACK_BOX_HINT = (
    "Explain other models with a black-box explainer (Occlusion, RISE), which "
    "needs no gradients."
)

_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler)

_SGD_LINKS = {"log_loss": "logistic", "modified_huber": "modified_huber"}

_ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


# ----------------------------------------------------------------------- modules
class ConvertedModule(nn.Sequential):
    """A torch module computing a fitted scikit-learn classifier's scores.

    Returned by :func:`to_torch`; not meant to be built by hand. It is an
    ``nn.Sequential`` of named children, in this order (each only when needed):

    - ``scaler``: the Pipeline's scalers folded into one elementwise affine map
      ``x * weight + bias`` (buffers, not parameters), and ``clip`` for a
      ``MinMaxScaler(clip=True)``;
    - ``hidden_0``, ``act_0``, ``hidden_1``, ... : an MLP's ``nn.Linear`` layers and
      activations (``nn.Identity``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``);
    - ``out``: the ``nn.Linear`` output layer (a linear model's ``coef_`` and
      ``intercept_``);
    - ``two_class``: for binary models, turns the single score ``d`` into the two
      class scores ``[-d, d]``;
    - ``final``: for ``predict_proba`` and ``predict_log_proba``, the output
      activation mapping the decision scores to (log-)probabilities.

    Parameters
    ----------
    *args : nn.Module or OrderedDict
        The children, as for ``nn.Sequential``.
    response_method : str, default=None
        The scikit-learn method whose output ``forward`` reproduces.
    classes : ndarray of shape (n_classes,), default=None
        Class labels, in the order of the output columns.
    n_features_in : int, default=None
        Number of input features expected; checked in ``forward`` when set.

    Attributes
    ----------
    apply_final : bool
        Whether ``forward`` applies the ``final`` activation. Set it to ``False``
        (or call :meth:`decision_function`) to get the pre-activation scores, the
        ones gradient explainers explain by default.
    classes_ : ndarray of shape (n_classes,) or None
        Class labels, in the order of the output columns.
    response_method : str or None
        The scikit-learn method whose output ``forward`` reproduces.
    n_features_in_ : int or None
        Number of input features expected.
    """

    def __init__(self, *args, response_method=None, classes=None, n_features_in=None):
        super().__init__(*args)
        self.response_method = response_method
        self.classes_ = classes
        self.n_features_in_ = n_features_in
        self.apply_final = True

    @property
    def final_activation(self):
        """The ``final`` child (the probability activation), or None without one."""
        return self._modules.get("final")

    def _run(self, x, *, final):
        if self.n_features_in_ is not None and x.shape[-1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[-1]} features, but this module expects "
                f"{self.n_features_in_} features as input."
            )
        for name, module in self._modules.items():
            if name == "final" and not final:
                continue
            x = module(x)
        return x

    def forward(self, x):
        """Scores of shape (n_samples, n_classes) for ``x`` of shape (n, n_features)."""
        return self._run(x, final=self.apply_final)

    def decision_function(self, x):
        """Pre-activation class scores of shape (n_samples, n_classes).

        These are the scores before the ``final`` activation: the decision
        function of a linear model (``[-d, d]`` for a binary one) and the output
        layer's pre-activation of an MLP (``[-z, z]`` for a binary one).
        """
        return self._run(x, final=False)


class ElementwiseAffine(nn.Module):
    """``x * weight + bias`` per feature: folded StandardScaler/MinMax/MaxAbs steps.

    ``weight`` and ``bias`` are buffers: they move with ``.to()`` but are not
    parameters of the model.
    """

    def __init__(self, weight, bias):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x):
        return x * self.weight + self.bias

    def extra_repr(self):
        return f"n_features={self.weight.shape[0]}"


class Clip(nn.Module):
    """Clamp each feature to ``[low, high]`` (``MinMaxScaler(clip=True)``)."""

    def __init__(self, low, high):
        super().__init__()
        self.low = float(low)
        self.high = float(high)

    def forward(self, x):
        return torch.clamp(x, self.low, self.high)

    def extra_repr(self):
        return f"low={self.low}, high={self.high}"


class TwoClassScores(nn.Module):
    """Turn one binary score ``d`` of shape (n, 1) into the two columns ``[-d, d]``."""

    def forward(self, x):
        return torch.cat([-x, x], dim=1)


class OvRProba(nn.Module):
    """One-vs-rest probabilities from per-class decision scores.

    Each column goes through its link (``'logistic'``: the sigmoid;
    ``'modified_huber'``: ``(clip(d, -1, 1) + 1) / 2``) and rows are normalised
    to sum to one. A row whose links are all zero becomes uniform
    (``zero_rows='uniform'``, as the linear models do) or stays zero
    (``zero_rows='keep'``, as ``OneVsRestClassifier`` does).

    With ``log=True`` the logarithm is returned; for the logistic link it is
    computed stably as ``logsigmoid(d) - logsumexp(logsigmoid(d))``.
    """

    def __init__(self, link="logistic", *, zero_rows="uniform", log=False):
        super().__init__()
        self.link = link
        self.zero_rows = zero_rows
        self.log = log

    def forward(self, x):
        if self.link == "logistic" and self.log:
            log_p = nn.functional.logsigmoid(x)
            return log_p - torch.logsumexp(log_p, dim=1, keepdim=True)
        if self.link == "logistic":
            p = torch.sigmoid(x)
        else:
            p = (torch.clamp(x, -1.0, 1.0) + 1.0) / 2.0
        total = p.sum(dim=1, keepdim=True)
        zero = total == 0
        if self.zero_rows == "uniform":
            p = torch.where(zero, torch.ones_like(p), p)
            total = torch.where(zero, torch.full_like(total, p.shape[1]), total)
        else:
            total = torch.where(zero, torch.ones_like(total), total)
        p = p / total
        return torch.log(p) if self.log else p

    def extra_repr(self):
        return f"link={self.link!r}, zero_rows={self.zero_rows!r}, log={self.log}"


class ModifiedHuberProba(nn.Module):
    """Elementwise ``(clip(d, -1, 1) + 1) / 2`` (or its log): binary modified Huber."""

    def __init__(self, *, log=False):
        super().__init__()
        self.log = log

    def forward(self, x):
        p = (torch.clamp(x, -1.0, 1.0) + 1.0) / 2.0
        return torch.log(p) if self.log else p

    def extra_repr(self):
        return f"log={self.log}"


# -------------------------------------------------------------------- converters
def _name(estimator):
    return type(estimator).__name__


def _unsupported(estimator, what=None):
    what = what or f"got {_name(estimator)}"
    return TypeError(f"{_SUPPORTED}; {what}. {_BLACK_BOX_HINT}")


def _tensor(array, dtype):
    """A torch copy (never a view) of ``array``."""
    if sp.issparse(array):
        array = array.toarray()
    return torch.tensor(np.array(array, dtype=np.float64), dtype=dtype)


def _linear(weight, bias, dtype):
    """An ``nn.Linear`` holding copies of ``weight`` (out, in) and ``bias`` (out,)."""
    n_out, n_in = weight.shape
    layer = nn.Linear(n_in, n_out, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(_tensor(weight, dtype))
        layer.bias.copy_(_tensor(bias, dtype))
    return layer


def _linear_weights(estimator):
    """``(coef, intercept)`` of a linear classifier as dense float64 arrays."""
    coef = estimator.coef_
    coef = coef.toarray() if sp.issparse(coef) else np.asarray(coef)
    coef = np.atleast_2d(coef).astype(np.float64)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64).ravel()
    intercept = np.broadcast_to(intercept, (coef.shape[0],))
    return coef, intercept


def _logistic_is_ovr(estimator):
    """Whether a LogisticRegression's ``predict_proba`` is one-vs-rest.

    scikit-learn < 1.8 has a ``multi_class`` parameter: with ``'ovr'``, or with
    ``'auto'`` for a binary model or the ``'liblinear'`` solver, probabilities
    are per-class sigmoids normalised to sum to one; with ``'multinomial'`` they
    are the softmax (of ``[-d, d]`` for a binary model). Later releases only
    know the sigmoid for binary models and the softmax otherwise.
    """
    multi_class = getattr(estimator, "multi_class", "deprecated")
    if multi_class in ("ovr", "warn"):
        return True
    if multi_class == "multinomial":
        return False
    return len(estimator.classes_) <= 2 or estimator.solver == "liblinear"


def _linear_link(estimator):
    """How a linear classifier turns decisions into probabilities, or None.

    Returns a link ``(kind, normalize)`` (see :func:`_final_layer`), or
    ``("unknown", name)`` for a ``predict_proba`` that ``to_torch`` cannot
    reproduce (an error only if probabilities are asked for).
    """
    if not hasattr(estimator, "predict_proba"):
        return None
    n_outputs = np.atleast_2d(estimator.coef_).shape[0]
    if isinstance(estimator, LogisticRegression):
        if not _logistic_is_ovr(estimator):
            return ("softmax", None)  # of [-d, d] when binary
        return ("logistic", None) if n_outputs == 1 else ("logistic", "uniform")
    if isinstance(estimator, LinearDiscriminantAnalysis):
        return ("logistic", None) if n_outputs == 1 else ("softmax", None)
    if isinstance(estimator, SGDClassifier) and estimator.loss in _SGD_LINKS:
        kind = _SGD_LINKS[estimator.loss]
        return (kind, None) if n_outputs == 1 else (kind, "uniform")
    return ("unknown", _name(estimator))


def _convert_linear(estimator, dtype):
    coef, intercept = _linear_weights(estimator)
    layers = [("out", _linear(coef, intercept, dtype))]
    return layers, _linear_link(estimator), coef.shape[1]


def _convert_ovr(estimator, dtype):
    """Stack a OneVsRestClassifier's binary linear classifiers into one layer."""
    coefs, intercepts, links = [], [], []
    for est in estimator.estimators_:
        if not isinstance(est, LinearClassifierMixin) or not hasattr(est, "coef_"):
            raise _unsupported(
                estimator,
                f"got a OneVsRestClassifier holding a {_name(est)} (a class seen "
                "always or never in training gives a constant predictor)",
            )
        coef, intercept = _linear_weights(est)
        coefs.append(coef)
        intercepts.append(intercept)
        if hasattr(estimator, "predict_proba"):
            links.append(_linear_link(est)[0])
    coef, intercept = np.vstack(coefs), np.concatenate(intercepts)
    link = None
    if len(set(links)) > 1 or "unknown" in links:
        link = ("unknown", f"this {_name(estimator)}'s estimators")
    elif links:
        # the positive-class probabilities, normalised unless multilabel
        several = len(estimator.estimators_) > 1 and not estimator.multilabel_
        link = (links[0], "keep" if several else None)
    layers = [("out", _linear(coef, intercept, dtype))]
    return layers, link, coef.shape[1]


def _convert_mlp(estimator, dtype):
    layers = []
    n_layers = len(estimator.coefs_)
    for i, (coef, intercept) in enumerate(
        zip(estimator.coefs_, estimator.intercepts_, strict=True)
    ):
        layer = _linear(np.asarray(coef).T, intercept, dtype)
        if i == n_layers - 1:
            layers.append(("out", layer))
        else:
            layers.append((f"hidden_{i}", layer))
            layers.append((f"act_{i}", _ACTIVATIONS[estimator.activation]()))
    link = (estimator.out_activation_, None)  # 'softmax' or 'logistic'
    return layers, link, np.asarray(estimator.coefs_[0]).shape[0]


def _fold_scalers(steps, estimator, dtype):
    """Elementwise layers equivalent to a Pipeline's scaling steps.

    Consecutive scalers compose into one ``scaler``; a ``MinMaxScaler(clip=True)``
    adds a ``clip`` after it (then ``scaler_1``, ``clip_1``, ... if more follow).
    """
    layers, names = [], set()
    scale = offset = None

    def add(base, module):
        name, k = base, 0
        while name in names:
            k += 1
            name = f"{base}_{k}"
        names.add(name)
        layers.append((name, module))

    def flush():
        nonlocal scale, offset
        if scale is not None:
            add(
                "scaler",
                ElementwiseAffine(_tensor(scale, dtype), _tensor(offset, dtype)),
            )
        scale = offset = None

    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if not isinstance(step, _SCALERS):
            raise _unsupported(
                estimator, f"got a Pipeline with step {name!r}: {_name(step)}"
            )
        check_is_fitted(step)
        if scale is None:
            scale, offset = np.ones(step.n_features_in_), np.zeros(step.n_features_in_)
        if isinstance(step, StandardScaler):
            if step.with_mean:
                offset = offset - step.mean_
            if step.with_std:
                scale, offset = scale / step.scale_, offset / step.scale_
        elif isinstance(step, MinMaxScaler):
            scale, offset = scale * step.scale_, offset * step.scale_ + step.min_
            if step.clip:
                flush()
                add("clip", Clip(*step.feature_range))
        else:  # MaxAbsScaler
            scale, offset = scale / step.scale_, offset / step.scale_
    flush()
    return layers


def _convert_classifier(estimator, dtype):
    if isinstance(estimator, MLPClassifier):
        check_is_fitted(estimator)
        return _convert_mlp(estimator, dtype)
    if isinstance(estimator, OneVsRestClassifier):
        check_is_fitted(estimator)
        return _convert_ovr(estimator, dtype)
    if isinstance(estimator, LinearClassifierMixin):
        check_is_fitted(estimator)
        if not hasattr(estimator, "coef_"):
            raise _unsupported(estimator, f"got {_name(estimator)} without 'coef_'")
        return _convert_linear(estimator, dtype)
    raise _unsupported(estimator)


def _flatten_pipeline(pipeline):
    steps = []
    for name, step in pipeline.steps:
        if isinstance(step, Pipeline):
            steps.extend(_flatten_pipeline(step))
        else:
            steps.append((name, step))
    return steps


def _final_layer(link, response_method):
    """The ``final`` activation for ``link = (kind, normalize)``.

    ``kind`` is ``'softmax'``, ``'logistic'`` (the sigmoid, elementwise: on
    ``[-d, d]`` for binary models, per label for multilabel ones) or
    ``'modified_huber'``; ``normalize`` is None, ``'uniform'`` or ``'keep'``
    (see :class:`OvRProba`).
    """
    kind, normalize = link
    log = response_method == "predict_log_proba"
    if normalize is not None:
        return OvRProba(kind, zero_rows=normalize, log=log)
    if kind == "softmax":
        return nn.LogSoftmax(dim=1) if log else nn.Softmax(dim=1)
    if kind == "modified_huber":
        return ModifiedHuberProba(log=log)
    return nn.LogSigmoid() if log else nn.Sigmoid()


def to_torch(estimator, *, response_method="decision_function", dtype=torch.float64):
    """Return a torch module computing a fitted scikit-learn classifier's scores.

    The module holds copies of the estimator's weights in ``torch.nn.Linear``
    layers, so gradients flow to its inputs and parameters while the estimator
    itself is never modified. It is in eval mode, and its parameters require
    gradients.

    Parameters
    ----------
    estimator : estimator object
        A fitted classifier: a linear classifier with ``coef_`` and
        ``intercept_`` (``LogisticRegression``, ``LinearSVC``, ``SGDClassifier``,
        ``RidgeClassifier``, ``Perceptron``, ``LinearDiscriminantAnalysis``, any
        ``LinearClassifierMixin``), a ``OneVsRestClassifier`` of binary linear
        classifiers, an ``MLPClassifier``, or a ``Pipeline`` whose steps before one
        of these are ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler`` or
        ``'passthrough'`` (folded into an elementwise affine first layer).

    response_method : {'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='decision_function'
        Which scores the module returns, of shape (n_samples, n_classes):

        - ``'decision_function'``: the pre-activation class scores. A binary
          model's single score ``d`` becomes the two columns ``[-d, d]``; for an
          ``MLPClassifier`` (which has no ``decision_function``) these are the
          output layer's pre-activations (``[-z, z]`` when binary).
        - ``'predict_proba'``: what ``estimator.predict_proba`` returns.
        - ``'predict_log_proba'``: its logarithm.

    dtype : {torch.float64, torch.float32}, default=torch.float64
        Floating point type of the module's parameters and of the inputs it
        takes. The strings ``'float64'``, ``'float32'`` and the numpy types are
        accepted too.

    Returns
    -------
    module : ConvertedModule
        An ``nn.Sequential`` of named children (``scaler``, ``hidden_0``,
        ``act_0``, ..., ``out``, ``two_class``, ``final``) taking a tensor of
        shape (n_samples, n_features). Probabilities come from a separate
        ``final`` child; ``module.decision_function(x)`` or
        ``module.apply_final = False`` skip it.

    Raises
    ------
    TypeError
        If the estimator is not one of the supported kinds, or if it has no
        ``predict_proba`` when ``response_method`` asks for probabilities.
    sklearn.exceptions.NotFittedError
        If the estimator (or a Pipeline step) is not fitted.

    See Also
    --------
    skxai.Occlusion : Black-box explainer for models without gradients.
    skxai.RISE : Black-box explainer for models without gradients.

    Notes
    -----
    In float64 the module agrees with scikit-learn to about 1e-12 (tested to
    1e-6). In float32 the error is about 1e-7 times the size of the scores
    (a few 1e-6 for decision scores around 10; tested to 1e-4 on the digits).

    ``predict_proba`` is reproduced as the installed scikit-learn computes it:
    the sigmoid for binary models (``[1 - sigmoid(d), sigmoid(d)]``), the softmax
    for multiclass ``LogisticRegression``, ``LinearDiscriminantAnalysis`` and
    ``MLPClassifier``, per-class sigmoids normalised to sum to one for
    multiclass ``SGDClassifier(loss='log_loss')`` and ``OneVsRestClassifier``,
    and ``(clip(d, -1, 1) + 1) / 2`` (normalised when multiclass) for
    ``loss='modified_huber'``. Under scikit-learn < 1.8, a one-vs-rest
    ``LogisticRegression`` (``multi_class='ovr'``, or ``solver='liblinear'``
    on three or more classes) gives normalised per-class sigmoids, and a
    binary ``multi_class='multinomial'`` one the softmax of ``[-d, d]``. Where
    every per-class sigmoid underflows to 0, the module gives uniform
    probabilities (zeros for ``OneVsRestClassifier``), as scikit-learn >= 1.8
    does; older releases give NaN there.
    ``predict_log_proba`` uses the stable log-sigmoid and log-softmax, so where
    scikit-learn's probabilities underflow to 0 (and its logarithms to
    ``-inf``) the module returns the finite exact value. For
    ``OneVsRestClassifier``, which has no ``predict_log_proba``, it is the
    logarithm of ``predict_proba``.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.models import to_torch
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> module = to_torch(clf, response_method="predict_proba")
    >>> proba = module(torch.as_tensor(X)).detach().numpy()
    >>> bool(abs(proba - clf.predict_proba(X)).max() < 1e-10)
    True
    >>> [name for name, _ in module.named_children()]
    ['out', 'final']
    >>> module.decision_function(torch.as_tensor(X[:1])).shape
    torch.Size([1, 3])
    """
    if response_method not in RESPONSE_METHODS:
        raise ValueError(
            f"The 'response_method' parameter of to_torch must be one of "
            f"{RESPONSE_METHODS}. Got {response_method!r} instead."
        )
    try:
        torch_dtype = _DTYPES[dtype]
    except (KeyError, TypeError):
        raise ValueError(
            "The 'dtype' parameter of to_torch must be torch.float64 or "
            f"torch.float32. Got {dtype!r} instead."
        ) from None

    layers = []
    classifier = estimator
    if isinstance(estimator, Pipeline):
        steps = _flatten_pipeline(estimator)
        classifier = steps[-1][1]
        if isinstance(classifier, str) or classifier is None:
            raise _unsupported(estimator, "got a Pipeline without a final classifier")
        check_is_fitted(estimator)
        body, link, n_features = _convert_classifier(classifier, torch_dtype)
        layers.extend(_fold_scalers(steps[:-1], estimator, torch_dtype))
    else:
        body, link, n_features = _convert_classifier(estimator, torch_dtype)
    layers.extend(body)

    n_outputs = body[-1][1].out_features
    if n_outputs == 1:
        layers.append(("two_class", TwoClassScores()))
    if response_method != "decision_function":
        if link is None:
            raise TypeError(
                f"{_name(classifier)} has no 'predict_proba' method, so to_torch "
                f"cannot give response_method={response_method!r}. Use "
                "response_method='decision_function'."
            )
        if link[0] == "unknown":
            raise TypeError(
                f"to_torch cannot reproduce the predict_proba of {link[1]}; it "
                "knows LogisticRegression, LinearDiscriminantAnalysis, "
                "SGDClassifier (loss='log_loss' or 'modified_huber'), "
                "OneVsRestClassifier of those, and MLPClassifier. Use "
                "response_method='decision_function'."
            )
        layers.append(("final", _final_layer(link, response_method)))

    classes = getattr(classifier, "classes_", None)
    module = ConvertedModule(
        OrderedDict(layers),
        response_method=response_method,
        classes=None if classes is None else np.array(classes, copy=True),
        n_features_in=n_features,
    )
    return module.eval()
