"""Tests of similarity explanations (Hanawa et al., 2021)."""

import numpy as np

from ..utils._sklearn_compat import validate_params


def _top_references(explainer, X, y, caller):
    """Index of each sample's most similar reference, the reference labels and the
    model's predictions for the samples."""
    if not hasattr(explainer, "y_ref_"):
        raise TypeError(
            f"{caller} judges similarity explainers (fitted, with reference labels "
            f"'y_ref_', such as GradientSimilarity); got {type(explainer).__name__}."
        )
    expl = explainer.explain(X, y)
    order = np.asarray(getattr(expl, "ordered_indices", None))
    if order.ndim != 2:
        order = np.asarray(explainer.transform(X, y))
    ref_labels = np.asarray(getattr(expl, "ref_labels", explainer.y_ref_))
    return order[:, 0], ref_labels, np.asarray(expl.predictions)


@validate_params(
    {"explainer": "no_validation", "X": ["array-like"], "y": ["array-like", None]},
    prefer_skip_nested_validation=False,
)
def identical_class_score(explainer, X, y=None):
    """Identical-class test: does the most similar reference share the class?

    For each sample, 1 when its most similar reference is labelled with the class
    the model predicts for the sample, else 0 (Hanawa et al., 2021). The mean is
    the test's success rate: higher is better.

    Parameters
    ----------
    explainer : fitted similarity explainer
        For example :class:`~skxai.GradientSimilarity`, fitted on labelled
        references.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    y : array-like of shape (n_samples,), default=None
        Passed to the explainer (labels at which gradients are taken).

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        1.0 where the test passes, 0.0 elsewhere.

    See Also
    --------
    identical_subclass_score : The finer test.

    References
    ----------
    .. [1] K. Hanawa, S. Yokoi, S. Hara and K. Inui, "Evaluation of Similarity-based
       Explanations", ICLR 2021.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import GradientSimilarity
    >>> from skxai.metrics import identical_class_score
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> gs = GradientSimilarity(clf, similarity="cos").fit(X[:200], y[:200])
    >>> bool(identical_class_score(gs, X[500:520]).mean() > 0.5)
    True
    """
    top, ref_labels, pred = _top_references(explainer, X, y, "identical_class_score")
    return (ref_labels[top] == pred).astype(np.float64)


@validate_params(
    {
        "explainer": "no_validation",
        "X": ["array-like"],
        "subclasses": ["array-like"],
        "ref_subclasses": ["array-like"],
        "y": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def identical_subclass_score(explainer, X, subclasses, ref_subclasses, y=None):
    """Identical-subclass test: does the most similar reference share the subclass?

    The model is trained on superclasses (for example digits grouped in pairs);
    a good similarity explanation still finds, as most similar, a reference of
    the sample's own subclass (Hanawa et al., 2021). For each sample, 1 when the
    subclass of its most similar reference equals its own, else 0. Every sample
    counts (no filtering on correct predictions). Higher is better.

    Parameters
    ----------
    explainer : fitted similarity explainer
        Fitted on references labelled with the superclasses.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    subclasses : array-like of shape (n_samples,)
        Subclass of each sample.
    ref_subclasses : array-like of shape (n_references,)
        Subclass of each reference, in the order the explainer was fitted on.
    y : array-like of shape (n_samples,), default=None
        Passed to the explainer.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        1.0 where the test passes, 0.0 elsewhere.

    References
    ----------
    .. [1] K. Hanawa, S. Yokoi, S. Hara and K. Inui, "Evaluation of Similarity-based
       Explanations", ICLR 2021.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import GradientSimilarity
    >>> from skxai.metrics import identical_subclass_score
    >>> X, y = load_digits(return_X_y=True)
    >>> X, parity = X / 16, y % 2
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], parity[:300])
    >>> gs = GradientSimilarity(clf).fit(X[:200], parity[:200])
    >>> identical_subclass_score(gs, X[500:510], y[500:510], y[:200]).shape
    (10,)
    """
    caller = "identical_subclass_score"
    top, ref_labels, _ = _top_references(explainer, X, y, caller)
    subclasses = np.asarray(subclasses)
    ref_subclasses = np.asarray(ref_subclasses)
    if subclasses.shape != (len(top),):
        raise ValueError(
            f"The 'subclasses' of {caller} must give one subclass per sample: "
            f"expected shape ({len(top)},), got {subclasses.shape}."
        )
    if ref_subclasses.shape != (len(ref_labels),):
        raise ValueError(
            f"The 'ref_subclasses' of {caller} must give one subclass per reference "
            f"the explainer was fitted on: expected shape ({len(ref_labels)},), got "
            f"{ref_subclasses.shape}."
        )
    return (ref_subclasses[top] == subclasses).astype(np.float64)
