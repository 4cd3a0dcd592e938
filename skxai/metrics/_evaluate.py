"""Judge several explainers on several metrics at once, as tidy DataFrames."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._sklearn_compat import (
    Interval,
    validate_parameter_constraints,
    validate_params,
)
from ._common import MetricModel, explained_maps, is_explainer
from ._default import _default_references, _is_similarity_explainer
from ._faithfulness import (
    _CURVE_PARAMS,
    _FILL,
    _aopc,
    _auc,
    _deletion,
    _insertion,
    _Memo,
    infidelity_error,
    max_sensitivity_error,
)
from ._scorer import _resolve
from ._similarity import identical_class_score

# short name -> column name in the frame (the metric function's name)
_COLUMN = {
    "default": "default_score",
    "insertion_deletion": "default_score",
    "deletion": "deletion_score",
    "insertion": "insertion_score",
    "morf": "morf_score",
    "lerf": "lerf_error",
    "infidelity": "infidelity_error",
    "sensitivity": "max_sensitivity_error",
    "identical_class": "identical_class_score",
}
_CURVE_DEFAULTS = {"n_steps": None, "image_shape": None, "blur_sigma": 5.0}
# What metric_params may hold for the metrics computed from evaluate's own
# curves, and their constraints; infidelity and sensitivity go to their metric
# functions, which check their arguments.
_CURVE_KWARGS = {
    "deletion": ("fill", "n_steps", "image_shape", "blur_sigma"),
    "insertion": ("start", "n_steps", "image_shape", "blur_sigma"),
    "morf": ("fill", "n_steps", "image_shape", "blur_sigma"),
    "lerf": ("fill", "n_steps", "image_shape", "blur_sigma"),
    "default": (),
    "insertion_deletion": (),
    "identical_class": (),
}
_CURVE_CONSTRAINTS = {**_CURVE_PARAMS, "fill": _FILL, "start": _FILL}


def _check_metric_params(metric_params):
    """``metric_params`` keyed by the metrics' short names, curve options checked.

    An alias (``'neg_lerf'``) reaches its metric; an unknown option or a bad
    value is an error rather than silently ignored.
    """
    checked = {}
    for key, params in (metric_params or {}).items():
        name = _resolve(key, "evaluate")
        if not isinstance(params, dict):
            raise TypeError(
                "The 'metric_params' of evaluate map a metric to a dict of keyword "
                f"arguments. Got {params!r} for {key!r}."
            )
        allowed = _CURVE_KWARGS.get(name)
        if allowed is not None:
            unknown = sorted(set(params) - set(allowed))
            if unknown:
                raise TypeError(
                    f"evaluate got unexpected metric_params {unknown} for the "
                    f"metric {key!r}; it takes {list(allowed)}."
                )
            validate_parameter_constraints(
                {k: _CURVE_CONSTRAINTS[k] for k in params},
                params,
                caller_name=f"evaluate (metric {key!r})",
            )
        checked[name] = dict(params)
    return checked


@validate_params(
    {
        "explainers": [dict],
        "X": ["array-like"],
        "y": ["array-like", None],
        "metrics": [list, tuple, str],
        "metric_params": [dict, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def evaluate(
    explainers,
    X,
    y=None,
    metrics=("deletion", "insertion"),
    *,
    metric_params=None,
    batch_size=64,
):
    """Judge fitted explainers on several metrics, in tidy DataFrames.

    Each explainer explains ``X`` once; its maps feed every metric. Model
    outputs are computed once and shared: the outputs on ``X``, on the all-fill
    and on the blurred images are shared by the explainers of the same model,
    and a deletion curve serves ``deletion``, ``morf`` and ``default`` alike.

    The curves' defaults follow the explainer's layout, as in
    :func:`default_score`: on images, deletion to 0 and insertion from a
    blurred copy; on tables (``layout_.kind == "tabular"``), both to and from
    each feature's mean over ``X`` (``"mean"``), as 0 may lie far outside an
    unscaled feature. ``metric_params`` overrides them (``fill``, ``start``).

    Parameters
    ----------
    explainers : dict of str to fitted explainer
        The explainers, by the names used in the frames.
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        Samples to explain.
    y : array-like of shape (n_samples,), default=None
        True labels, for ``target="true"``.
    metrics : list of str, default=("deletion", "insertion")
        Names as in :func:`get_scorer`: ``'deletion'``, ``'insertion'``,
        ``'default'``, ``'morf'``, ``'lerf'``, ``'infidelity'``,
        ``'sensitivity'``, ``'identical_class'``.
    metric_params : dict of str to dict, default=None
        Keyword arguments per metric, e.g. ``{"deletion": {"fill": "mean"}}``.
    batch_size : int, default=64
        Model inputs per model call.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``frame``: one row per explainer, metric and sample, with columns
        ``explainer``, ``metric`` (the metric function's name:
        ``deletion_score``, ``infidelity_error``, ...), ``sample`` and
        ``value`` (not negated: ``*_score`` higher is better, ``*_error``
        lower is better). ``summary``: the mean, standard deviation and count
        per explainer and metric. ``curves``: the deletion, insertion and
        pixel-flipping curves, one row per explainer, curve, sample and point
        (columns ``explainer``, ``curve``, ``sample``, ``fraction``,
        ``value``), ready for plotting.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import Occlusion
    >>> from skxai.metrics import evaluate
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    >>> explainers = {
    ...     "occ1": Occlusion(clf, window=(1, 1), image_shape=(8, 8)).fit(X),
    ...     "occ2": Occlusion(clf, window=(2, 2), image_shape=(8, 8)).fit(X)}
    >>> result = evaluate(explainers, X[:5], metrics=["deletion", "insertion"])
    >>> result.frame.shape, result.summary.shape
    ((20, 4), (4, 5))
    >>> sorted(result.curves["curve"].unique())
    ['deletion', 'insertion']
    """
    if not isinstance(explainers, dict) or not explainers:
        raise TypeError(
            "The 'explainers' of evaluate must be a non-empty dict of name to "
            f"fitted explainer; got {type(explainers).__name__}."
        )
    if isinstance(metrics, str):
        metrics = [metrics]
    names = [_resolve(m, "evaluate") for m in metrics]
    metric_params = _check_metric_params(metric_params)
    memos = {}
    frames, curve_frames = [], []
    for label, explainer in explainers.items():
        if not is_explainer(explainer):
            raise TypeError(
                f"evaluate needs fitted skxai explainers; {label!r} is a "
                f"{type(explainer).__name__}."
            )
        mm = MetricModel(explainer, "evaluate")
        memo = memos.setdefault(id(mm.adapter.model), _Memo())
        values, curves = _evaluate_one(
            explainer, mm, memo, X, y, names, metric_params, batch_size
        )
        for column, vals in values.items():
            frames.append(
                pd.DataFrame(
                    {
                        "explainer": label,
                        "metric": column,
                        "sample": np.arange(len(vals)),
                        "value": vals,
                    }
                )
            )
        for kind, (fractions, curve) in curves.items():
            n, k = curve.shape
            curve_frames.append(
                pd.DataFrame(
                    {
                        "explainer": label,
                        "curve": kind,
                        "sample": np.repeat(np.arange(n), k),
                        "fraction": np.tile(fractions, n),
                        "value": curve.reshape(-1),
                    }
                )
            )
    frame = pd.concat(frames, ignore_index=True)
    summary = (
        frame.groupby(["explainer", "metric"], sort=False)["value"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    curves = (
        pd.concat(curve_frames, ignore_index=True)
        if curve_frames
        else pd.DataFrame(columns=["explainer", "curve", "sample", "fraction", "value"])
    )
    return Bunch(frame=frame, summary=summary, curves=curves)


def _evaluate_one(explainer, mm, memo, X, y, names, metric_params, batch_size):
    values, curves = {}, {}
    if _is_similarity_explainer(explainer):
        for name in names:
            if name not in ("identical_class", "default"):
                raise TypeError(
                    f"The metric {name!r} judges saliency maps; "
                    f"{type(explainer).__name__} is a similarity explainer. Use "
                    "'identical_class' or 'default'."
                )
            values[_COLUMN[name]] = identical_class_score(explainer, X, y)
        return values, curves
    if "identical_class" in names:
        raise TypeError(
            "The metric 'identical_class' judges similarity explainers; "
            f"{type(explainer).__name__} is not one."
        )
    _, Xv, maps, targets = explained_maps(explainer, X, y, "evaluate")
    proba_X = memo.get(("proba", "X"), lambda: mm.proba(Xv, batch_size))
    cache = {}
    default_fill, default_start = _default_references(explainer)

    def curve(kind, params):
        base_name = "start" if kind == "insertion" else "fill"
        base = params.get(
            base_name, default_start if kind == "insertion" else default_fill
        )
        opts = {k: params.get(k, v) for k, v in _CURVE_DEFAULTS.items()}
        key = (kind, repr(base), repr(opts))
        if key not in cache:
            common = dict(batch_size=batch_size, **opts)
            if kind == "insertion":
                cache[key] = _insertion(
                    mm, Xv, maps, targets, memo, proba_X, start=base, **common
                )
            else:
                cache[key] = _deletion(
                    mm,
                    Xv,
                    maps,
                    targets,
                    memo,
                    proba_X,
                    fill=base,
                    descending=kind == "deletion",
                    **common,
                )
        return cache[key]

    for name in names:
        params = dict(metric_params.get(name, {}))
        column = _COLUMN[name]
        if name in ("default", "insertion_deletion"):
            fr_d, del_curve = curve("deletion", {})
            fr_i, ins_curve = curve("insertion", {})
            curves.setdefault("deletion", (fr_d, del_curve))
            curves.setdefault("insertion", (fr_i, ins_curve))
            values[column] = _auc(fr_i, ins_curve) - _auc(fr_d, del_curve)
        elif name == "deletion":
            curves["deletion"] = curve("deletion", params)
            values[column] = 1.0 - _auc(*curves["deletion"])
        elif name == "insertion":
            curves["insertion"] = curve("insertion", params)
            values[column] = _auc(*curves["insertion"])
        elif name == "morf":
            curves["morf"] = curve("deletion", params)
            values[column] = _aopc(curves["morf"][1])
        elif name == "lerf":
            curves["lerf"] = curve("lerf", params)
            values[column] = _aopc(curves["lerf"][1])
        elif name == "infidelity":
            params.setdefault("batch_size", batch_size)
            values[column] = infidelity_error(
                explainer,
                Xv,
                maps,
                targets=np.asarray(explainer.classes_)[targets],
                _memo=memo,
                **params,
            )
        elif name == "sensitivity":
            values[column] = max_sensitivity_error(
                explainer,
                Xv,
                maps,
                np.asarray(explainer.classes_)[targets],
                _memo=memo,
                **params,
            )
    return values, curves
