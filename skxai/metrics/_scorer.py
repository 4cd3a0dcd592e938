"""Scorers for model selection: ``scorer(estimator, X, y=None)``, higher is better."""

import numpy as np

from ..utils._sklearn_compat import validate_params
from ._common import _check_samples, explained_maps, is_explainer, unwrap_pipeline
from ._default import (
    _default_references,
    _insertion_minus_deletion,
    _is_similarity_explainer,
)
from ._faithfulness import (
    deletion_score,
    infidelity_error,
    insertion_score,
    lerf_error,
    max_sensitivity_error,
    morf_score,
)
from ._similarity import identical_class_score

# name -> (function, sign, family); errors are negated so that higher is better.
_SCORERS = {
    "default": (None, 1, "any"),
    "insertion_deletion": (None, 1, "saliency"),
    "deletion": (deletion_score, 1, "saliency"),
    "insertion": (insertion_score, 1, "saliency"),
    "morf": (morf_score, 1, "saliency"),
    "lerf": (lerf_error, -1, "saliency"),
    "infidelity": (infidelity_error, -1, "saliency"),
    "sensitivity": (max_sensitivity_error, -1, "saliency"),
    "identical_class": (identical_class_score, 1, "similarity"),
}
_ALIASES = {
    "neg_lerf": "lerf",
    "neg_infidelity": "infidelity",
    "neg_sensitivity": "sensitivity",
    "max_sensitivity": "sensitivity",
    "neg_max_sensitivity": "sensitivity",
}


def _resolve(name, caller):
    if isinstance(name, str):
        name = _ALIASES.get(name, name)
        if name in _SCORERS:
            return name
    known = sorted(set(_SCORERS) | set(_ALIASES))
    raise ValueError(
        f"{name!r} is not a known metric of {caller}. Known metrics: "
        f"{', '.join(known)}."
    )


def _maps_and_targets(explainer, X, y, caller):
    _, X, maps, targets = explained_maps(explainer, X, y, caller)
    return X, maps, np.asarray(explainer.classes_)[targets]


class _ExplanationScorer:
    """Callable ``scorer(estimator, X, y=None)`` returned by :func:`get_scorer`."""

    def __init__(self, name, kwargs):
        self.name = name
        self.kwargs = kwargs
        self._func, self._sign, self._family = _SCORERS[name]

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"get_scorer({self.name!r}{args})"

    def __call__(self, estimator, X, y=None):
        explainer, X = unwrap_pipeline(estimator, X)
        if not is_explainer(explainer):
            raise TypeError(
                f"The scorer {self.name!r} judges explanations: it needs an skxai "
                f"explainer or a Pipeline ending in one; got "
                f"{type(explainer).__name__}. Score the classifier with a "
                "scikit-learn scorer instead."
            )
        values = np.asarray(self.values(explainer, X, y))
        _check_samples(values, repr(self))  # similarity tests of no sample
        return self._sign * float(np.mean(values))

    def values(self, explainer, X, y=None):
        """Per-sample values of the metric (not negated)."""
        similarity = _is_similarity_explainer(explainer)
        if self.name == "default":
            if similarity:
                return identical_class_score(explainer, X, y)
            return _insertion_minus_deletion(explainer, X, y)
        if self._family == "similarity":
            return self._func(explainer, X, y, **self.kwargs)
        if similarity:
            raise TypeError(
                f"The metric {self.name!r} judges saliency maps; "
                f"{type(explainer).__name__} is a similarity explainer. Use "
                "'identical_class' or 'default'."
            )
        if self.name == "insertion_deletion":
            return _insertion_minus_deletion(explainer, X, y)
        X, maps, targets = _maps_and_targets(explainer, X, y, repr(self))
        kwargs = dict(self.kwargs)
        fill, start = _default_references(explainer)
        if self.name == "insertion":
            kwargs.setdefault("start", start)
        elif self.name in ("deletion", "morf", "lerf"):
            kwargs.setdefault("fill", fill)
        return self._func(explainer, X, maps, targets, **kwargs)


@validate_params({"name": [str]}, prefer_skip_nested_validation=True)
def get_scorer(name, **kwargs):
    """Return a scorer that judges an explainer's explanations; higher is better.

    The scorer has scikit-learn's signature ``scorer(estimator, X, y=None)``, so
    it goes to ``GridSearchCV(scoring=...)`` and ``cross_validate``. The estimator
    is an explainer or a Pipeline ending in one (the earlier steps transform
    ``X`` first). The explainer explains ``X`` once; the metric's per-sample
    values are averaged. Error metrics (``lerf``, ``infidelity``,
    ``sensitivity``) are negated, as scikit-learn's ``neg_*`` scorers; their
    ``neg_*`` names are accepted too.

    Parameters
    ----------
    name : str
        ``'default'`` (the explainer's ``score``), ``'insertion_deletion'``,
        ``'deletion'``, ``'insertion'``, ``'morf'``, ``'lerf'``, ``'infidelity'``,
        ``'sensitivity'`` (or ``'max_sensitivity'``), ``'identical_class'``.
    **kwargs : dict
        Parameters of the metric function (``n_steps``, ``fill``,
        ``random_state``, ...). Without ``fill`` (``start`` for insertion),
        the curves follow the explainer's layout as :func:`default_score`
        does: 0 and a blurred copy on images, each feature's mean over ``X``
        on tables.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skxai import Occlusion
    >>> from skxai.metrics import get_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> search = GridSearchCV(Occlusion(clf, image_shape=(8, 8)),
    ...                       {"window": [(1, 1), (2, 2)]},
    ...                       scoring=get_scorer("insertion", n_steps=16), cv=2)
    >>> search.fit(X[:40], y[:40]).best_params_["window"] in [(1, 1), (2, 2)]
    True
    """
    name = _resolve(name, "get_scorer")
    return _ExplanationScorer(name, dict(kwargs))
