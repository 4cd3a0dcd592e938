"""Faithfulness of saliency maps: deletion, insertion, pixel flipping, infidelity,
max-sensitivity.

Every metric takes the model (a fitted explainer, a model adapter, or a model), the
samples ``X``, their maps and the explained classes. The layout of the samples
(:class:`~skxai._layout.Layout`: the explainer's ``layout_``, an explanation's
``layout``, or ``image_shape``) says which values are one feature, one group of
features or one pixel: curves remove and insert those units, a pixel with all its
channels. Perturbed copies are built and scored by the perturbation engine
(:func:`skxai._engine.score_perturbations`), in batches of ``batch_size`` model
inputs that mix samples and steps: a curve of 784 points for 100 images costs at
most 78,400 rows, never 78,400 separate calls. A step whose input equals the
previous step's (a pixel that already has the fill value) is not sent to the model
again, so deleting the pixels of an MNIST digit to 0 costs one row per non-zero
pixel.
"""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..base import explain_classes, explainer_input
from ..models._adapters import RESPONSE_METHODS
from ..utils._sklearn_compat import Interval, StrOptions, validate_params
from ._common import (
    METRIC_PARAMS,
    MetricModel,
    check_maps,
    check_targets,
    check_X,
    explained_maps,
)

# Constraints of the parameters the curves share (scikit-learn's validate_params).
_FILL = [Real, StrOptions({"mean", "blur"}), "array-like"]
_CURVE_PARAMS = {
    **METRIC_PARAMS,
    "n_steps": [Interval(Integral, 1, None, closed="left"), None],
    "image_shape": ["array-like", None],
    "blur_sigma": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
}


# --------------------------------------------------------------------- helpers
def _check_n_steps(n_steps, n_units, caller):
    if n_steps is None:
        return np.arange(n_units + 1)
    if not isinstance(n_steps, Integral) or isinstance(n_steps, bool) or n_steps < 1:
        raise ValueError(
            f"The 'n_steps' parameter of {caller} must be None or an int >= 1. "
            f"Got {n_steps!r} instead."
        )
    if n_steps >= n_units:
        return np.arange(n_units + 1)
    return np.unique(np.linspace(0, n_units, n_steps + 1).round().astype(int))


def _blur(X, image_shape, sigma, *, channels_first=False):
    """Gaussian blur over the height and width of each image (Petsiuk et al.,
    2018): axes 1, 2 of ``(n, *image_shape)``, or 2, 3 for channels first."""
    from scipy.ndimage import gaussian_filter

    images = X.reshape((len(X), *image_shape))
    spatial = (2, 3) if channels_first else (1, 2)
    sigmas = [float(sigma) if axis in spatial else 0.0 for axis in range(images.ndim)]
    blurred = gaussian_filter(images.astype(np.float64), sigma=sigmas, mode="nearest")
    return blurred.reshape(X.shape).astype(X.dtype, copy=False)


def _column_fill(X, value, layout):
    """Per-feature fill of a table: ``value`` (each numeric column's mean over
    ``X`` when None); a raw DataFrame's non-numeric columns take their most
    frequent value in ``X``."""
    dtypes = layout.dtypes or [None] * X.shape[1]
    fill = np.empty(X.shape[1], dtype=X.dtype)
    for j, dtype in enumerate(dtypes):
        column = X[:, j]
        if dtype is not None and not pd.api.types.is_numeric_dtype(dtype):
            labels, index, counts = np.unique(
                column.astype(str), return_index=True, return_counts=True
            )
            fill[j] = column[index[counts.argmax()]] if len(column) else None
        elif value is None:
            fill[j] = column.astype(np.float64).mean() if len(column) else 0.0
        else:
            fill[j] = value
    return fill


def _reference_images(X, spec, layout, blur_sigma, caller, name):
    """What removed units become, flat ``(n, n_features)``.

    Images: a constant, each image's mean, a blurred copy, or an array. Tables:
    a constant, or (``'mean'``, and ``'blur'``, as a table has no neighbouring
    features to blur) each feature's mean over ``X``; a raw DataFrame's
    non-numeric columns take their most frequent value. Features outside every
    group keep their own values.
    """
    n = len(X)
    tabular = layout.kind == "tabular"
    if isinstance(spec, str):
        if spec not in ("blur", "mean"):
            raise ValueError(
                f"The '{name}' parameter of {caller} must be a float, 'mean', 'blur' "
                f"or an array shaped like X or like one sample. Got {spec!r} instead."
            )
        if tabular:
            out = np.broadcast_to(_column_fill(X, None, layout), X.shape).copy()
        elif spec == "blur":
            shape = layout.input_shape if len(layout.input_shape) > 1 else (
                layout.image_shape
            )
            out = _blur(
                X, shape, blur_sigma, channels_first=layout.channels_first
            )
        else:
            means = X.mean(axis=1, keepdims=True)
            out = np.broadcast_to(means, X.shape).astype(X.dtype)
    elif isinstance(spec, Real) and not isinstance(spec, bool):
        if X.dtype == object:
            out = np.broadcast_to(_column_fill(X, float(spec), layout), X.shape).copy()
        else:
            out = np.full(X.shape, float(spec), dtype=X.dtype)
    else:
        arr = np.asarray(spec, dtype=X.dtype)
        if arr.size == X.size and arr.shape[:1] == (n,) and arr.ndim > 1:
            out = arr.reshape(X.shape)
        elif arr.size == X.shape[1]:
            out = np.broadcast_to(arr.reshape(1, -1), X.shape).copy()
        else:
            shape = (n, *layout.input_shape)
            raise ValueError(
                f"The '{name}' parameter of {caller} must be a float, 'mean', "
                f"'blur' or an array of shape {shape} or {layout.input_shape}. "
                f"Got an array of shape {arr.shape}."
            )
    outside = layout.unit_index() < 0
    if outside.any():
        out = np.array(out)
        out[:, outside] = X[:, outside]
    return out


def _unit_maps(maps, layout):
    """Attribution of each unit, ``(n, n_units)``.

    A pixel's is the sum over its channels; a feature group's the mean of its
    members (explainers with groups give every member the group's value).
    """
    grouped = layout.kind == "tabular" and layout.groups is not None
    return layout.features_to_units(maps, reduce="mean" if grouped else "sum")


def _ranks(unit_maps, descending=True):
    """Position of each unit when units are sorted by attribution."""
    n, n_units = unit_maps.shape
    keys = -unit_maps if descending else unit_maps
    order = np.argsort(keys, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(n_units)
    return rank


def _key(spec):
    if isinstance(spec, np.ndarray):
        return ("array", id(spec))
    return ("value", repr(spec))


class _Memo:
    """Model outputs shared by several metrics and explainers on the same X.

    ``evaluate`` passes one memo to every metric so that the outputs on ``X``, on
    the all-fill images and on the blurred images are computed once.
    """

    def __init__(self):
        self.values = {}

    def get(self, key, compute):
        if key not in self.values:
            self.values[key] = compute()
        return self.values[key]


def _target_rows(scores, targets):
    return scores[np.arange(len(targets)), targets]


def _curve_values(mm, X, rank, other, targets, cuts, batch_size, f_0, f_end, *,
                  insert, layout):
    """Target output along a deletion (``insert=False``) or insertion curve.

    At cut ``k`` the units of rank below ``k`` are replaced by ``other``
    (deletion), or are the sample's own and the others ``other`` (insertion).
    ``f_0`` and ``f_end`` are the target outputs at ``k = 0`` and ``k =
    n_units``; the inner points are scored by the engine.

    A step that only moves units whose values in ``X`` and ``other`` are equal
    (a zero pixel deleted to a fill of 0, say) leaves the input unchanged, so
    the model is queried once per distinct input: a point whose input equals
    the previous point's, or the fully replaced one's, reuses that output, and
    only the other points go to the engine.
    """
    n, n_units = rank.shape
    n_points = len(cuts)
    curves = np.empty((n, n_points), dtype=np.float64)
    curves[:, 0] = f_0
    curves[:, -1] = f_end
    if n == 0 or n_points <= 2:
        return curves
    # changed[i, k]: how many of sample i's first k units (in rank order) differ
    # between X and other; two cuts with the same count give the same input.
    differs = layout.features_to_units(X != other, reduce="any")
    by_rank = np.zeros(differs.shape, dtype=bool)
    by_rank[np.arange(n)[:, None], rank] = differs
    changed = np.zeros((n, n_units + 1), dtype=np.intp)
    np.cumsum(by_rank, axis=1, out=changed[:, 1:])
    counts = changed[:, cuts]
    columns = np.arange(n_points)
    new = np.zeros(counts.shape, dtype=bool)
    new[:, 1:] = counts[:, 1:] != counts[:, :-1]
    new[:, 0] = True
    final = counts == counts[:, -1:]
    # The output of each point comes from the first point with its input.
    source = np.maximum.accumulate(np.where(new, columns, 0), axis=1)
    source = np.where(final & ~final[:, :1], n_points - 1, source)
    todo = new & ~final
    todo[:, 0] = False
    per_sample = todo.sum(axis=1)
    subset = np.flatnonzero(per_sample)
    if subset.size:
        sample, column = np.nonzero(todo)
        offsets = np.r_[0, np.cumsum(per_sample[subset])]
        k = int(per_sample.max())

        def masks(r):
            # Sample subset[r]'s new inputs, the last repeated up to k (the
            # engine scores a copy equal to the previous one once).
            cols = column[offsets[r] : offsets[r + 1]]
            cut = cuts[np.r_[cols, np.repeat(cols[-1], k - len(cols))]]
            ranks = rank[subset[r]]
            keep = ranks < cut[:, None] if insert else ranks >= cut[:, None]
            return layout.units_to_features(keep)

        out = mm.perturbed(
            X[subset], masks, other[subset], targets[subset], kind="proba",
            batch_size=batch_size, layout=layout,
        )
        position = np.arange(len(sample)) - np.repeat(offsets[:-1], per_sample[subset])
        row = np.repeat(np.arange(len(subset)), per_sample[subset])
        curves[sample, column] = out[row, position]
    return np.take_along_axis(curves, source, axis=1)


def _flat(X):
    return X.reshape(len(X), -1)


def _prepare(model, X, maps, targets, batch_size, caller, memo, *, output="proba"):
    mm = model if isinstance(model, MetricModel) else MetricModel(model, caller)
    # A DataFrame in another column order would be relabelled, not reordered.
    mm.adapter.check_columns(X, caller)
    if mm.explainer is not None:
        X = explainer_input(mm.explainer, X)
    else:
        X = check_X(X, caller)
    mm.explanation = maps if hasattr(maps, "layout") else None
    maps = check_maps(maps, X, caller)
    if not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(
            f"The 'batch_size' parameter of {caller} must be an int >= 1. Got "
            f"{batch_size!r} instead."
        )
    memo = _Memo() if memo is None else memo
    if output == "proba":
        out_X = memo.get(("proba", "X"), lambda: mm.proba(X, batch_size))
    else:  # a response method: no probabilities needed
        out_X = memo.get(
            ("scores", output, "X"), lambda: mm.scores(X, output, batch_size)
        )
    targets = check_targets(targets, mm, X, batch_size, caller, first_scores=out_X)
    return mm, X, maps, targets, memo, out_X


def _layout(mm, X, image_shape):
    return mm.layout(X, image_shape, getattr(mm, "explanation", None))


def _share_proba_plan(mm, memo):
    """One output (``predict_proba`` or a softmax) for every metric on a memo.

    Metrics of several explainers of one model share a memo; the first decides
    the output, the others read it instead of querying the model again.
    """
    if mm._proba_plan is None:
        mm._proba_plan = memo.values.get("proba_plan")
    elif "proba_plan" not in memo.values:
        memo.values["proba_plan"] = mm._proba_plan


def _curve(mm, X, maps, targets, memo, proba_X, spec, *, n_steps, image_shape,
           blur_sigma, batch_size, insert, descending, caller, name):
    """``(fractions, curves)`` of deletion or insertion (see the public ones)."""
    layout = _layout(mm, X, image_shape)
    _share_proba_plan(mm, memo)
    flat = _flat(X)
    unit_maps = _unit_maps(maps, layout)
    cuts = _check_n_steps(n_steps, layout.n_units, caller)
    other = memo.get(
        ("images", _key(spec), blur_sigma, repr(layout)),
        lambda: _reference_images(flat, spec, layout, blur_sigma, caller, name),
    )
    proba_other = memo.get(
        ("proba", _key(spec), blur_sigma, repr(layout)),
        lambda: mm.proba(other.reshape(X.shape), batch_size),
    )
    f_other = _target_rows(proba_other, targets)
    f_X = _target_rows(proba_X, targets)
    rank = _ranks(unit_maps, descending)
    f_0, f_end = (f_other, f_X) if insert else (f_X, f_other)
    curves = _curve_values(
        mm, flat, rank, other, targets, cuts, batch_size, f_0, f_end,
        insert=insert, layout=layout,
    )
    return cuts / layout.n_units, curves


def _deletion(
    mm,
    X,
    maps,
    targets,
    memo,
    proba_X,
    *,
    fill,
    n_steps,
    image_shape,
    blur_sigma,
    batch_size,
    descending=True,
    caller="deletion_curve",
):
    return _curve(
        mm, X, maps, targets, memo, proba_X, fill, n_steps=n_steps,
        image_shape=image_shape, blur_sigma=blur_sigma, batch_size=batch_size,
        insert=False, descending=descending, caller=caller, name="fill",
    )


def _insertion(
    mm,
    X,
    maps,
    targets,
    memo,
    proba_X,
    *,
    start,
    n_steps,
    image_shape,
    blur_sigma,
    batch_size,
    caller="insertion_curve",
):
    return _curve(
        mm, X, maps, targets, memo, proba_X, start, n_steps=n_steps,
        image_shape=image_shape, blur_sigma=blur_sigma, batch_size=batch_size,
        insert=True, descending=True, caller=caller, name="start",
    )


def _auc(fractions, curves):
    """Trapezoid rule along each curve (numpy 1 has no ``np.trapezoid``)."""
    widths = np.diff(fractions)
    return np.sum((curves[:, 1:] + curves[:, :-1]) * widths, axis=1) / 2


# ------------------------------------------------------------ deletion/insertion
@validate_params(
    {**_CURVE_PARAMS, "fill": _FILL}, prefer_skip_nested_validation=False
)
def deletion_curve(
    model,
    X,
    maps,
    targets=None,
    *,
    fill=0.0,
    n_steps=None,
    image_shape=None,
    blur_sigma=5.0,
    batch_size=64,
    _memo=None,
):
    """Probability of the explained class as the most salient features are removed.

    The deletion curve of Petsiuk et al. (2018): features are set to ``fill`` in
    order of decreasing attribution, and the model's probability for the target
    class is recorded after each step, from the intact sample (fraction 0) to the
    fully removed one (fraction 1). The layout of the samples (the explainer's
    ``layout_``, the explanation's ``layout``, or ``image_shape``) says what one
    step removes: a feature or a group of features of a table (a group ranked by
    the sum of its attributions), a pixel with all its channels of an image.

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer (its model is queried), a model adapter, or a model
        :func:`~skxai.models.check_model` accepts.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples, as the model takes them.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample (an :class:`~skxai.explanation.Explanation`
        with one target is accepted too).
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    fill : float, {'mean', 'blur'} or ndarray, default=0.0
        What removed features become: a constant, or an array shaped like ``X``
        or like one sample; for images ``'mean'`` is the image's mean and
        ``'blur'`` a blurred copy; for tables both are each feature's mean over
        ``X`` (a table has no neighbouring features to blur). A raw DataFrame's
        non-numeric columns take their most frequent value in ``X``.
    n_steps : int, default=None
        Number of removal steps; ``None`` removes one feature (group, pixel)
        per step.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat samples
        that are images; by default the explainer's layout, and a 2-D ``X`` is
        a table.
    blur_sigma : float, default=5.0
        Standard deviation, in pixels, of the Gaussian blur.
    batch_size : int, default=64
        Model inputs per model call.

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of features removed at each point, from 0 to 1.
    curves : ndarray of shape (n_samples, n_points)
        Probability of the target class at each point.

    See Also
    --------
    deletion_score : One minus the area under this curve.
    insertion_curve : The reverse experiment.

    References
    ----------
    .. [1] V. Petsiuk, A. Das and K. Saenko, "RISE: Randomized Input Sampling for
       Explanation of Black-box Models", BMVC 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import deletion_curve
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300] / 16, y[:300])
    >>> maps = clf.coef_[y[:3]] * X[:3] / 16
    >>> fractions, curves = deletion_curve(clf, X[:3] / 16, maps, y[:3])
    >>> curves.shape, float(fractions[-1])
    ((3, 65), 1.0)
    """
    caller = "deletion_curve"
    mm, X, maps, targets, memo, proba_X = _prepare(
        model, X, maps, targets, batch_size, caller, _memo
    )
    return _deletion(
        mm,
        X,
        maps,
        targets,
        memo,
        proba_X,
        fill=fill,
        n_steps=n_steps,
        image_shape=image_shape,
        blur_sigma=blur_sigma,
        batch_size=batch_size,
    )


@validate_params(
    {**_CURVE_PARAMS, "start": _FILL}, prefer_skip_nested_validation=False
)
def insertion_curve(
    model,
    X,
    maps,
    targets=None,
    *,
    start="blur",
    n_steps=None,
    image_shape=None,
    blur_sigma=5.0,
    batch_size=64,
    _memo=None,
):
    """Probability of the explained class as the most salient features are inserted.

    The insertion curve of Petsiuk et al. (2018): starting from ``start`` (a
    blurred copy of the sample by default), the sample's own features are put
    back in order of decreasing attribution.

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer (its model is queried), a model adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples, as the model takes them.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    start : {'blur', 'mean'}, float or ndarray, default='blur'
        What features are inserted into: a blurred copy of an image or its mean,
        each feature's mean over ``X`` for a table (both names), a constant, or
        an array shaped like ``X`` or like one sample.
    n_steps : int, default=None
        Number of insertion steps; ``None`` inserts one feature (group, pixel)
        per step.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat samples
        that are images; by default the explainer's layout, and a 2-D ``X`` is
        a table.
    blur_sigma : float, default=5.0
        Standard deviation, in pixels, of the Gaussian blur.
    batch_size : int, default=64
        Model inputs per model call.

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of features inserted at each point, from 0 to 1.
    curves : ndarray of shape (n_samples, n_points)
        Probability of the target class at each point.

    See Also
    --------
    insertion_score : The area under this curve.

    References
    ----------
    .. [1] V. Petsiuk, A. Das and K. Saenko, "RISE: Randomized Input Sampling for
       Explanation of Black-box Models", BMVC 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import insertion_curve
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300] / 16, y[:300])
    >>> maps = clf.coef_[y[:3]] * X[:3] / 16
    >>> fractions, curves = insertion_curve(clf, X[:3] / 16, maps, y[:3], n_steps=8)
    >>> curves.shape
    (3, 9)
    """
    caller = "insertion_curve"
    mm, X, maps, targets, memo, proba_X = _prepare(
        model, X, maps, targets, batch_size, caller, _memo
    )
    return _insertion(
        mm,
        X,
        maps,
        targets,
        memo,
        proba_X,
        start=start,
        n_steps=n_steps,
        image_shape=image_shape,
        blur_sigma=blur_sigma,
        batch_size=batch_size,
    )


@validate_params(METRIC_PARAMS, prefer_skip_nested_validation=False)
def deletion_score(model, X, maps, targets=None, **kwargs):
    """One minus the deletion AUC, per sample: higher is better.

    The deletion AUC (Petsiuk et al., 2018) is the area under
    :func:`deletion_curve`, by the trapezoid rule over the fraction of features
    removed, so it lies in [0, 1]; a faithful map makes the probability fall
    fast, giving a small AUC. This score is ``1 - AUC``.

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer, a model adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    **kwargs : dict
        ``fill``, ``n_steps``, ``image_shape``, ``blur_sigma``, ``batch_size`` of
        :func:`deletion_curve`.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``1 - AUC`` of each sample.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import deletion_score
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> scores = deletion_score(clf, X[:5], clf.coef_[y[:5]] * X[:5], y[:5])
    >>> bool(scores.mean() > 0.5)
    True
    """
    fractions, curves = deletion_curve(model, X, maps, targets, **kwargs)
    return 1.0 - _auc(fractions, curves)


@validate_params(METRIC_PARAMS, prefer_skip_nested_validation=False)
def insertion_score(model, X, maps, targets=None, **kwargs):
    """Insertion AUC per sample: higher is better.

    The area under :func:`insertion_curve` by the trapezoid rule over the
    fraction of features inserted, in [0, 1] (Petsiuk et al., 2018).

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer, a model adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    **kwargs : dict
        ``start``, ``n_steps``, ``image_shape``, ``blur_sigma``, ``batch_size`` of
        :func:`insertion_curve`.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Insertion AUC of each sample.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import insertion_score
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> insertion_score(clf, X[:2], clf.coef_[y[:2]] * X[:2], y[:2]).shape
    (2,)
    """
    fractions, curves = insertion_curve(model, X, maps, targets, **kwargs)
    return _auc(fractions, curves)


# --------------------------------------------------------------- pixel flipping
@validate_params(
    {
        **METRIC_PARAMS,
        "order": [StrOptions({"morf", "lerf"})],
        "fill": _FILL,
        "n_steps": _CURVE_PARAMS["n_steps"],
        "batch_size": _CURVE_PARAMS["batch_size"],
    },
    prefer_skip_nested_validation=False,
)
def pixel_flipping_curve(
    model,
    X,
    maps,
    targets=None,
    *,
    order="morf",
    fill=0.0,
    n_steps=None,
    batch_size=64,
    _memo=None,
):
    """Pixel flipping (Samek et al., 2017): the target probability as features flip.

    Features are set to ``fill`` cumulatively, most relevant first (``"morf"``)
    or least relevant first (``"lerf"``). The MoRF curve is the deletion curve;
    the points after each step match Quantus' ``PixelFlipping`` (which omits
    the intact sample at fraction 0).

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer, a model adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    order : {'morf', 'lerf'}, default='morf'
        Most relevant first, or least relevant first.
    fill : float, {'mean', 'blur'} or ndarray, default=0.0
        What flipped features become.
    n_steps : int, default=None
        Number of steps; ``None`` flips one feature per step.
    batch_size : int, default=64
        Model inputs per model call.

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of features flipped, from 0 to 1.
    curves : ndarray of shape (n_samples, n_points)
        Probability of the target class.

    References
    ----------
    .. [1] W. Samek, A. Binder, G. Montavon, S. Lapuschkin and K.-R. Müller,
       "Evaluating the Visualization of What a Deep Neural Network Has Learned",
       IEEE TNNLS 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import pixel_flipping_curve
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300] / 16, y[:300])
    >>> maps = clf.coef_[y[:2]] * X[:2] / 16
    >>> _, lerf = pixel_flipping_curve(clf, X[:2] / 16, maps, y[:2], order="lerf")
    >>> lerf.shape
    (2, 65)
    """
    caller = "pixel_flipping_curve"
    if order not in ("morf", "lerf"):
        raise ValueError(
            f"The 'order' parameter of {caller} must be 'morf' or 'lerf'. Got "
            f"{order!r} instead."
        )
    mm, X, maps, targets, memo, proba_X = _prepare(
        model, X, maps, targets, batch_size, caller, _memo
    )
    return _deletion(
        mm,
        X,
        maps,
        targets,
        memo,
        proba_X,
        fill=fill,
        n_steps=n_steps,
        image_shape=None,
        blur_sigma=5.0,
        batch_size=batch_size,
        descending=order == "morf",
        caller=caller,
    )


def _aopc(curves):
    """Area over the perturbation curve: mean drop from the intact sample."""
    return np.mean(curves[:, :1] - curves, axis=1)


@validate_params(METRIC_PARAMS, prefer_skip_nested_validation=False)
def morf_score(model, X, maps, targets=None, **kwargs):
    """AOPC of the most-relevant-first pixel flipping curve: higher is better.

    ``AOPC = 1 / (L + 1) * sum_{k=0}^{L} (f(x) - f(x^(k)))`` (Samek et al.,
    2017) over the points of :func:`pixel_flipping_curve` with ``order="morf"``.

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer, a model adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    **kwargs : dict
        ``fill``, ``n_steps``, ``batch_size`` of :func:`pixel_flipping_curve`.

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import morf_score
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> morf_score(clf, X[:2], clf.coef_[y[:2]] * X[:2], y[:2]).shape
    (2,)
    """
    _, curves = pixel_flipping_curve(model, X, maps, targets, order="morf", **kwargs)
    return _aopc(curves)


@validate_params(METRIC_PARAMS, prefer_skip_nested_validation=False)
def lerf_error(model, X, maps, targets=None, **kwargs):
    """AOPC of the least-relevant-first pixel flipping curve: lower is better.

    Flipping the least relevant features first should change the prediction
    little, so a faithful map has a small LeRF AOPC (Samek et al., 2017).

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer, a model adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    **kwargs : dict
        ``fill``, ``n_steps``, ``batch_size`` of :func:`pixel_flipping_curve`.

    Returns
    -------
    errors : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import lerf_error
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> lerf_error(clf, X[:2], clf.coef_[y[:2]] * X[:2], y[:2]).shape
    (2,)
    """
    _, curves = pixel_flipping_curve(model, X, maps, targets, order="lerf", **kwargs)
    return _aopc(curves)


# ------------------------------------------------------------------ infidelity
@validate_params(
    {
        **METRIC_PARAMS,
        "perturbation": [StrOptions({"subset", "gaussian"})],
        "noise": [Interval(Real, 0, None, closed="neither")],
        "fill": _FILL,
        "n_perturbations": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
        "batch_size": _CURVE_PARAMS["batch_size"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def infidelity_error(
    model,
    X,
    maps,
    targets=None,
    *,
    perturbation="subset",
    noise=0.5,
    fill=0.0,
    n_perturbations=16,
    normalize=False,
    response_method="auto",
    batch_size=64,
    random_state=None,
    _memo=None,
):
    """Infidelity (Yeh et al., 2019): how badly maps predict output changes.

    ``INFD = E_I[(I . phi(x) - (f(x) - f(x - I)))^2]``, estimated with
    ``n_perturbations`` draws per sample. Lower is better.

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer (its model and response method are used), a model
        adapter, or a model.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        One attribution map per sample.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; ``None`` uses the predicted class.
    perturbation : {'subset', 'gaussian'}, default='subset'
        ``'subset'``: a random subset of features (each with probability
        ``noise``) is set to ``fill``, and ``I`` is the subset's indicator: the
        right test for maps that sum to the output change (occlusion,
        integrated gradients, ``coef * x``). ``'gaussian'``: ``I`` is Gaussian
        noise of standard deviation ``noise``, subtracted from the sample: the
        test for local maps (gradients).
    noise : float, default=0.5
        Probability of removing a feature, or standard deviation of the noise.
    fill : float, default=0.0
        Value of removed features for ``'subset'`` (a subset of the features,
        feature groups or pixels of the samples' layout).
    n_perturbations : int, default=16
        Perturbations per sample.
    normalize : bool, default=False
        Scale the maps by the least-squares factor ``beta`` first (captum's
        ``normalize``), which makes the error invariant to the maps' scale.
    response_method : {'auto', 'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='auto'
        Model output ``f``; ``'auto'`` is the explainer's own output when
        ``model`` is an explainer.
    batch_size : int, default=64
        Model inputs per model call.
    random_state : int, RandomState instance or None, default=None
        Controls the perturbations. Pass an int for reproducible output across
        multiple function calls.

    Returns
    -------
    errors : ndarray of shape (n_samples,)

    References
    ----------
    .. [1] C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye and P. Ravikumar,
       "On the (In)fidelity and Sensitivity of Explanations", NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.metrics import infidelity_error
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> err = infidelity_error(clf, X[:3], clf.coef_[y[:3]] * X[:3], y[:3],
    ...                        random_state=0)
    >>> bool(err.max() < 1e-10)
    True
    """
    caller = "infidelity_error"
    if perturbation == "subset" and noise > 1:
        raise ValueError(
            f"The 'noise' parameter of {caller} is the probability of removing a "
            "feature with perturbation='subset': it must be in the range (0, 1]. "
            f"Got {noise!r} instead."
        )
    mm = MetricModel(model, caller)
    method = mm.response_method(response_method)
    mm, X, maps, targets, memo, out_X = _prepare(
        mm, X, maps, targets, batch_size, caller, _memo, output=method
    )
    layout = _layout(mm, X, None)
    flat = _flat(X)
    n, n_features = flat.shape
    rng = check_random_state(random_state)
    f_x = _target_rows(out_X, targets)
    if perturbation == "gaussian":
        if flat.dtype == object:
            raise ValueError(
                f"The 'gaussian' perturbation of {caller} adds noise to every "
                "feature; X has non-numeric columns. Use perturbation='subset'."
            )
        weights = rng.normal(0.0, noise, size=(n, n_perturbations, n_features))
        # Each noisy copy is the fill of a copy that hides every feature.
        moved = (flat[:, None, :] - weights).astype(flat.dtype, copy=False)
        out = mm.perturbed(
            np.repeat(flat, n_perturbations, axis=0),
            np.zeros((1, n_features), dtype=bool),
            moved.reshape(n * n_perturbations, n_features),
            np.repeat(targets, n_perturbations),
            kind=method, batch_size=batch_size, layout=layout,
        )
    else:
        # A random subset of the units (features, groups or pixels) is removed.
        removed = rng.uniform(size=(n, n_perturbations, layout.n_units)) < noise
        keep = layout.units_to_features(
            ~removed.reshape(n * n_perturbations, layout.n_units)
        ).reshape(n, n_perturbations, n_features)
        fills = _reference_images(flat, fill, layout, 5.0, caller, "fill")
        out = mm.perturbed(
            flat, keep, fills, targets, kind=method, batch_size=batch_size,
            layout=layout,
        )
    f_moved = out.reshape(-1)
    diff = f_x[:, None] - f_moved.reshape(n, n_perturbations)
    if perturbation == "gaussian":
        dot = np.einsum("npf,nf->np", weights, maps)
    else:  # I . phi over the removed units
        dot = np.einsum("npu,nu->np", removed, _unit_maps(maps, layout))
    if normalize:
        denom = np.sum(dot * dot, axis=1)
        beta = np.divide(
            np.sum(dot * diff, axis=1), denom, out=np.zeros(n), where=denom != 0
        )
        dot = beta[:, None] * dot
    return np.mean((dot - diff) ** 2, axis=1)


# ------------------------------------------------------------- max-sensitivity
@validate_params(
    {
        "explainer": "no_validation",
        "X": ["array-like"],
        "maps": "no_validation",
        "targets": "no_validation",
        "radius": [Interval(Real, 0, None, closed="neither")],
        "n_perturbations": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def max_sensitivity_error(
    explainer,
    X,
    maps=None,
    targets=None,
    *,
    radius=0.02,
    n_perturbations=10,
    normalize=True,
    random_state=None,
    _memo=None,
):
    """Max-sensitivity (Yeh et al., 2019): the largest change of a map under noise.

    ``SENS = max_j ||phi(x + d_j) - phi(x)|| / ||phi(x)||`` with ``d_j`` drawn
    uniformly from the L-infinity ball of radius ``radius`` (captum's
    ``sensitivity_max``); the explained class stays the one of ``x``. Lower is
    better.

    Parameters
    ----------
    explainer : fitted explainer
        The explainer, called again on the perturbed samples.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples.
    maps : array-like of shape (n_samples, n_features), default=None
        The explainer's maps of ``X``; computed when None.
    targets : array-like of shape (n_samples,), default=None
        Class labels the maps explain; with ``maps=None`` they come from the
        explanation.
    radius : float, default=0.02
        Radius of the L-infinity ball.
    n_perturbations : int, default=10
        Perturbations per sample.
    normalize : bool, default=True
        Divide by the norm of the map (a zero map divides by one).
    random_state : int, RandomState instance or None, default=None
        Controls the perturbations. Pass an int for reproducible output across
        multiple function calls.

    Returns
    -------
    errors : ndarray of shape (n_samples,)

    References
    ----------
    .. [1] C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye and P. Ravikumar,
       "On the (In)fidelity and Sensitivity of Explanations", NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import Occlusion
    >>> from skxai.metrics import max_sensitivity_error
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> occ = Occlusion(clf, window=(2, 2), image_shape=(8, 8)).fit(X[:300])
    >>> max_sensitivity_error(occ, X[:3], random_state=0).shape
    (3,)
    """
    caller = "max_sensitivity_error"
    mm = MetricModel(explainer, caller)
    if mm.explainer is None:
        raise TypeError(
            f"{caller} re-explains perturbed samples and needs a fitted explainer; "
            f"got {type(explainer).__name__}."
        )
    if maps is None:
        _, X, maps, idx = explained_maps(mm.explainer, X, None, caller)
        if targets is None:
            targets = np.asarray(mm.explainer.classes_)[idx]
    else:
        X = explainer_input(mm.explainer, X)
    if X.dtype == object:
        raise ValueError(
            f"{caller} adds noise to every feature; X has non-numeric columns "
            f"{[str(c) for c in mm.explainer.layout_.feature_names]}. Use a metric "
            "that removes features (deletion_score, infidelity_error)."
        )
    maps = check_maps(maps, X, caller)
    memo = _Memo() if _memo is None else _memo
    batch_size = getattr(mm.explainer, "batch_size", 64)
    if targets is None:
        proba = memo.get(("proba", "X"), lambda: mm.proba(X, batch_size))
        idx = proba.argmax(axis=1).astype(np.intp)
    else:
        idx = check_targets(targets, mm, X, batch_size, caller)
    n, n_features = maps.shape
    rng = check_random_state(random_state)
    delta = rng.uniform(-radius, radius, size=(n, n_perturbations, n_features))
    moved = (X.reshape(n, 1, n_features) + delta).astype(X.dtype, copy=False)
    moved = moved.reshape((n * n_perturbations, *X.shape[1:]))
    moved_maps = explain_classes(mm.explainer, moved, np.repeat(idx, n_perturbations))
    moved_maps = moved_maps.reshape(n, n_perturbations, -1)
    dist = np.linalg.norm(moved_maps - maps[:, None, :], axis=2)
    if normalize:
        norms = np.linalg.norm(maps, axis=1)
        dist = dist / np.where(norms == 0, 1.0, norms)[:, None]
    return dist.max(axis=1)
