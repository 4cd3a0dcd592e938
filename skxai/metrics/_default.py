"""The default ``score`` of explainers."""

import numpy as np

from ..utils._sklearn_compat import HasMethods, validate_params
from ._common import MetricModel, _check_samples, explained_maps
from ._faithfulness import _auc, _deletion, _insertion, _Memo


def _is_similarity_explainer(explainer):
    """Whether the explainer ranks labelled references (its fitted ``y_ref_``)."""
    return hasattr(explainer, "y_ref_")


@validate_params(
    {
        "explainer": [HasMethods(["explain", "fit"])],
        "X": ["array-like"],
        "y": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def default_score(explainer, X, y=None):
    """The documented default metric of an explainer, averaged; higher is better.

    For saliency explainers: the insertion AUC minus the deletion AUC of the
    explained class's probability (Petsiuk et al., 2018), with one feature per
    step. On images, deletion sets pixels to 0 and insertion starts from a
    blurred copy (the defaults of :func:`~skxai.metrics.deletion_curve` and
    :func:`~skxai.metrics.insertion_curve`). On tables (the explainer's
    ``layout_.kind == "tabular"``), where 0 may lie far outside an unscaled
    feature's range, a removed feature takes its mean over ``X`` (``fill="mean"``,
    the most frequent value for a non-numeric column) and insertion starts from
    the row of those means (``start="mean"``); ``X`` should hold several rows,
    as the means of one row are the row itself. It lies in [-1, 1]. The model's
    outputs on ``X`` and on the all-removed and start inputs are computed once.
    For similarity explainers: the identical-class test
    (:func:`~skxai.metrics.identical_class_score`).

    Parameters
    ----------
    explainer : fitted explainer
        The explainer to judge; it explains ``X`` once.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples to explain.
    y : array-like of shape (n_samples,), default=None
        True labels (for ``target="true"``).

    Returns
    -------
    score : float
        Mean over the samples.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import Occlusion
    >>> from skxai.metrics import default_score
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> occ = Occlusion(clf, window=(2, 2), image_shape=(8, 8)).fit(X)
    >>> bool(default_score(occ, X[:5]) > 0)
    True
    """
    if _is_similarity_explainer(explainer):
        from ._similarity import identical_class_score

        values = identical_class_score(explainer, X, y)
        _check_samples(values, "default_score")
        return float(np.mean(values))
    return float(np.mean(_insertion_minus_deletion(explainer, X, y)))


def _default_references(explainer):
    """``(fill, start)`` of the default deletion and insertion curves.

    Images: 0 and a blurred copy. Tables: each feature's mean over the samples
    (0 may be far outside an unscaled feature), for both.
    """
    layout = getattr(explainer, "layout_", None)
    if layout is not None and layout.kind == "tabular":
        return "mean", "mean"
    return 0.0, "blur"


def _insertion_minus_deletion(explainer, X, y=None):
    _, X, maps, targets = explained_maps(explainer, X, y, "default_score")
    mm = MetricModel(explainer, "default_score")
    memo = _Memo()
    batch_size = 64
    proba_X = memo.get(("proba", "X"), lambda: mm.proba(X, batch_size))
    common = {
        "n_steps": None,
        "image_shape": None,
        "blur_sigma": 5.0,
        "batch_size": batch_size,
    }
    fill, start = _default_references(explainer)
    fr, deletion = _deletion(mm, X, maps, targets, memo, proba_X, fill=fill, **common)
    fr_i, insertion = _insertion(
        mm, X, maps, targets, memo, proba_X, start=start, **common
    )
    return _auc(fr_i, insertion) - _auc(fr, deletion)
