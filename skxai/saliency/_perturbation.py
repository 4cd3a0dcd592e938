"""Black-box saliency: explain any classifier by perturbing its input.

:class:`Occlusion` hides part of the input and measures how each class score
drops: a sliding window over an image, one feature (or group of features) at a
time over a table (feature ablation). :class:`RISE` hides it under random masks
(smooth masks over an image, independent Bernoulli masks over the features of a
table) and weights each mask by the scores it keeps. Both only call the model's
scores, so they explain any fitted classifier, Pipeline, skorch net, torch module
or callable.

Both read the fitted ``layout_`` (:class:`skxai._layout.Layout`): a 2-D ``X`` is
a table unless ``image_shape`` is given; masks act on its units (features or
groups of a table, pixels of an image covering all their channels), and the
perturbed copies are scored by :func:`skxai._engine.score_perturbations`.
"""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import ndimage, sparse
from sklearn.utils import check_random_state

from .._engine import score_perturbations
from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["RISE", "Occlusion"]

_FILL_WORDS = {"auto", "mean", "median", "reference"}


# ------------------------------------------------------------------ helpers
def _pair(value, name, caller):
    """Turn an int or a (height, width) pair into a tuple of two ints."""
    if isinstance(value, Integral):
        return (int(value), int(value))
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, Integral) for v in pair):
        raise ValueError(
            f"The {name!r} parameter of {caller} must be an int or a (height, "
            f"width) pair of ints. Got {value!r}."
        )
    return tuple(int(v) for v in pair)


def _categorical_columns(model, layout, X):
    """Boolean per feature: columns filled by their most frequent value.

    Non-numeric (and boolean) columns of a raw table, and the columns that a
    Pipeline's first step (a ColumnTransformer) routes to a categorical
    encoder: a mean or a median there would be a category the encoder never
    saw.
    """
    categorical = np.zeros(layout.n_features, dtype=bool)
    if layout.kind != "tabular":
        return categorical
    if layout.dtypes is not None:
        categorical |= [
            not pd.api.types.is_numeric_dtype(d) or pd.api.types.is_bool_dtype(d)
            for d in layout.dtypes
        ]
    for columns in _encoded_columns(model):
        for column in columns:
            if isinstance(column, Integral) and not isinstance(column, bool):
                categorical[int(column)] = True
            else:
                hits = np.flatnonzero(layout.feature_names == column)
                categorical[hits] = True
    return categorical


def _encoded_columns(model):
    """Columns a leading ColumnTransformer gives to categorical encoders."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    encoders = (OneHotEncoder, OrdinalEncoder, TargetEncoder)
    first = model.steps[0][1] if isinstance(model, Pipeline) else model
    if not isinstance(first, ColumnTransformer):
        return []
    out = []
    for _, transformer, columns in getattr(first, "transformers_", []):
        steps = (
            transformer.steps
            if isinstance(transformer, Pipeline)
            else [(None, transformer)]
        )
        if any(isinstance(step, encoders) for _, step in steps):
            cols = np.asarray(columns)
            if cols.dtype == bool:
                cols = np.flatnonzero(cols)
            out.append(list(cols.tolist()))
    return out


def _most_frequent(column):
    values, counts = np.unique(np.asarray(column).astype(str), return_counts=True)
    best = values[np.argmax(counts)]
    # The first original value whose text is the most frequent one.
    for value in column:
        if str(value) == best:
            return value
    return column[0]


def _fit_background(explainer, X, layout, caller):
    """``(fill_, reference_)`` learned from the reference set ``X``.

    ``fill_`` is a float or an array of shape ``(n_features,)`` (object dtype for
    raw tables); ``reference_`` the background rows for ``fill='reference'``
    (``fill_`` is then None).
    """
    fill = explainer.fill
    if isinstance(fill, str) and fill == "auto":
        # Tables: a feature's mean is inside its range, 0 often is not
        # (unscaled columns); images: black, as Occlusion and RISE are used.
        fill = "mean" if layout.kind == "tabular" else 0.0
    flat = X.reshape(len(X), -1)
    categorical = _categorical_columns(explainer.model, layout, X)
    is_object = flat.dtype == object
    if isinstance(fill, str):
        if fill == "reference":
            n_ref = min(explainer.n_reference, len(flat))
            rng = check_random_state(getattr(explainer, "random_state", None))
            rows = np.sort(rng.choice(len(flat), n_ref, replace=False))
            return None, np.array(flat[rows])
        numeric = flat[:, ~categorical].astype(np.float64)
        stat = numeric.mean(axis=0) if fill == "mean" else np.median(numeric, axis=0)
        if not categorical.any() and not is_object:
            return stat, None
        values = np.empty(layout.n_features, dtype=object)
        values[~categorical] = stat
        for j in np.flatnonzero(categorical):
            values[j] = _most_frequent(flat[:, j])
        return (values if is_object else values.astype(np.float64)), None
    if np.ndim(fill) == 0:
        value = fill
        if not isinstance(value, Real) or not np.isfinite(value):
            raise ValueError(
                f"The 'fill' parameter of {caller} must be a finite number, "
                f"'mean', 'median', 'reference' or a sample. Got {fill!r}."
            )
        if not categorical.any():
            return float(value), None
        values = np.full(layout.n_features, float(value), dtype=object)
        for j in np.flatnonzero(categorical):
            values[j] = _most_frequent(flat[:, j])
        return (values if is_object else values.astype(np.float64)), None
    array = np.asarray(getattr(fill, "to_numpy", lambda: fill)())
    if array.dtype != object:
        array = array.astype(np.float64)
    if array.size == layout.n_features:
        fill_ = array.reshape(-1)
    elif layout.kind == "image" and array.shape == layout.image_hw:
        fill_ = layout.units_to_features(array[None])[0]
    else:
        expected = f"{layout.n_features}"
        if layout.kind == "image":
            expected += f" or one per pixel {layout.image_hw}"
        raise ValueError(
            f"The 'fill' parameter of {caller} must be a number, 'mean', 'median', "
            f"'reference' or a sample with as many values as a sample has "
            f"({expected}). Got an array of shape {array.shape}."
        )
    numeric = fill_ if fill_.dtype != object else fill_[~categorical]
    if not np.all(np.isfinite(np.asarray(numeric, dtype=np.float64))):
        raise ValueError(
            f"The 'fill' sample of {caller} must hold finite values only; it "
            "contains NaN or infinity."
        )
    if not is_object and fill_.dtype == object:
        fill_ = fill_.astype(np.float64)
    return fill_, None


class _PerturbationMixin:
    """What Occlusion and RISE share: the background and the engine call."""

    def _check_tabular_only(self, name, value):
        """Window-like parameters: None or 1 (one feature) on a table."""
        if value is None or _pair(value, name, type(self).__name__) == (1, 1):
            return
        raise ValueError(
            f"The {name!r} parameter of {type(self).__name__} applies to images; "
            f"X is a table of {self.layout_.n_features} features, hidden one at a "
            "time (give 'image_shape' for flat images, 'groups' to hide features "
            f"together). Got {name}={value!r}."
        )

    def _n_background(self):
        reference = getattr(self, "reference_", None)
        return 1 if reference is None else len(reference)

    # 'auto' batch_size on tables: rows holding about this many bytes
    _AUTO_TABLE_BYTES = 8 << 20

    def _auto_batch_size(self):
        """``batch_size='auto'``: 1024 model inputs, or on tables as many rows
        as hold about 8 MiB of float64 (at least 1024): a scikit-learn model's
        per-call overhead is not amortised by 1024 rows of a few features."""
        if self.layout_.kind == "tabular":
            row_bytes = 8 * max(1, self.n_features_in_)
            return max(1024, self._AUTO_TABLE_BYTES // row_bytes)
        return 1024

    def _scores(self, flat, keep, targets):
        """Scores ``(n, k, n_targets)`` of the copies ``keep`` (1 keeps a feature)."""
        fill = self.fill_
        if fill is not None and flat.dtype != object:
            fill = np.asarray(fill, dtype=flat.dtype)
        return score_perturbations(
            self.adapter_,
            flat,
            keep,
            fill,
            response_method=self.response_method_,
            batch_size=self._batch_rows,
            targets=targets,
            reference=self.reference_,
            layout=self.layout_,
        )

    def _spread(self, unit_maps):
        """``(..., n_units)`` to ``(..., n_features)``; ungrouped features get 0."""
        layout = self.layout_
        index = layout.unit_index()
        if layout.kind == "tabular" and layout.groups is None:
            return unit_maps
        padded = np.concatenate(
            [unit_maps, np.zeros((*unit_maps.shape[:-1], 1))], axis=-1
        )
        return padded[..., index]


# --------------------------------------------------------------- Occlusion
class Occlusion(_PerturbationMixin, ExplainerMixin, BaseExplainer):
    """Occlusion saliency: how much each class score drops when a part is hidden.

    Each perturbation hides a part of the sample (replaces it by ``fill``) and
    the model scores the hidden copy. On an image a window slides over the
    pixels; the saliency of a pixel is the mean, over the windows that cover
    it, of ``score(x) - score(x hidden)``. On a table one feature (or one group
    of features) is hidden at a time (feature ablation): its attribution is
    ``score(x) - score(x without it)``. Positive where hiding lowers the class
    score. Works with any model that returns class scores.

    Parameters
    ----------
    model : object
        The fitted model to explain: a scikit-learn classifier or Pipeline, a
        skorch ``NeuralNet``, a ``torch.nn.Module`` or a callable ``f(X) ->
        scores``. It is never refit or copied.
    window : int or tuple of (int, int), default=None
        Images only: height and width of the occluding window, in pixels;
        ``None`` means ``(4, 4)``. Tables hide one feature or group at a time.
    stride : int or tuple of (int, int), default=None
        Images only: step between window positions; ``None`` uses the window
        (no overlap). It may not exceed the window (pixels would be left
        uncovered).
    placement : {'centered', 'valid'}, default='centered'
        Images only: where the windows go. ``'centered'`` starts one window at
        every stride step and shifts the grid by half the overhang, so the
        windows cover the image evenly and are clipped at both borders (as
        xaitk-saliency's ``SlidingWindow`` places them); ``'valid'`` starts
        the windows at the top-left corner and steps until one reaches the
        bottom or right border, the last one cut there if the steps overshoot
        (as captum's ``Occlusion`` places them).
    fill : float, {'auto', 'mean', 'median', 'reference'} or array-like, \
            default='auto'
        What hidden values become: ``'auto'`` is ``'mean'`` on tables (0 is
        often far outside an unscaled feature) and 0 on images; a number;
        ``'mean'`` or ``'median'`` of each feature over the reference set given
        to :meth:`fit`; ``'reference'``,
        the model's score averaged over rows of that reference set (at most
        ``n_reference``; the interventional background of Shapley values);
        or a sample (one value per feature, or one per pixel of an image).
        Categorical columns (non-numeric, or encoded by a leading
        ``ColumnTransformer``) are filled by their most frequent value.
    groups : array-like of shape (n_features,) or dict, default=None
        Tables only: a group label per column, or a dict ``name -> columns``
        (names or indices). A group is hidden as one; each of its features
        gets the group's attribution, features in no group get 0.
    n_reference : int, default=100
        Largest number of reference rows used by ``fill='reference'``, drawn
        without replacement with ``random_state``.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images. ``None``: a 2-D ``X`` is a table, N-D samples are images
        ``(height, width)`` or ``(channels, height, width)``.
    normalize : {'maxabs'} or None, default=None
        ``'maxabs'`` scales each map to [-1, 1] by its largest absolute value, as
        xaitk-saliency does (maps below ``10 * eps`` everywhere are rounding
        noise and stay unscaled); ``None`` keeps the raw score differences.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        Model output explained; ``'auto'`` uses ``decision_function`` when the
        model has it and ``predict_proba`` otherwise.
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
default='predicted'
        Class explained: the predicted one, the true one (``y`` given to
        :meth:`explain`), a class label, one label per sample, or ``'all'``
        for one map per class.
    batch_size : int or 'auto', default='auto'
        Largest number of model inputs (hidden copies) in memory and in one
        model call. ``'auto'``: 1024 for images; for tables as many rows as
        hold about 8 MiB of float64, at least 1024 (34,952 rows of 30
        features), since a scikit-learn model's per-call overhead is not
        amortised by 1024 short rows.
    n_jobs : int, default=None
        Number of jobs to run in parallel. The samples are split over the jobs.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    random_state : int, RandomState instance or None, default=None
        Pseudo-random number generator to control the reference rows drawn by
        ``fill='reference'``. Pass an int for reproducible results across
        multiple function calls. See :term:`Glossary <random_state>`.
    verbose : int, default=0
        Controls the verbosity: a progress bar when positive.

    Attributes
    ----------
    masks_ : ndarray of bool
        ``True`` marks the hidden values of each perturbation: ``(n_windows,
        height, width)`` for images, ``(n_units, n_features_in_)`` for tables.
    fill_ : float, ndarray of shape (n_features_in_,) or None
        The fill value, in the input's layout; None for ``fill='reference'``.
    reference_ : ndarray of shape (n_reference, n_features_in_) or None
        The background rows of ``fill='reference'``.
    window_ : tuple of (int, int) or None
        The window height and width (images).
    stride_ : tuple of (int, int) or None
        The vertical and horizontal steps (images).
    layout_ : Layout
        Which values of a sample are features, pixels and channels.
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map in an explanation.

    See Also
    --------
    RISE : Random masks instead of one part at a time.

    Notes
    -----
    For a pixel :math:`p` covered by the windows :math:`W_p`, class :math:`c`
    and hidden copies :math:`x_{\\setminus w}`,

    .. math:: s_c(p) = \\frac{1}{|W_p|} \\sum_{w \\in W_p}
              \\big(f_c(x) - f_c(x_{\\setminus w})\\big).

    With ``fill='reference'`` the hidden copy's score is the mean over the
    reference rows :math:`r` of :math:`f_c(x_{\\setminus w} \\leftarrow r)`; on a
    linear model the attribution of feature :math:`j` is then
    :math:`w_{cj} (x_j - \\bar r_j)`. Each sample costs at most one model input
    per window (times the reference rows) plus one: a window whose values
    already hold the fill leaves the sample unchanged, so its drop is exactly
    0 and it is not sent to the model (on MNIST's black background with
    ``fill=0`` this skips most windows).

    References
    ----------
    .. [1] Zeiler, M. D. and Fergus, R. "Visualizing and Understanding
       Convolutional Networks", ECCV 2014.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skxai.saliency import Occlusion
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> occ = Occlusion(clf, fill="mean").fit(X)
    >>> occ.explain(X.iloc[:5]).to_frame().columns.tolist()
    ['sample', 'target', 'feature', 'value']
    >>> occ.transform(X.iloc[:5]).shape
    (5, 30)

    Images: flat digits with ``image_shape``.

    >>> from skxai.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X, y)
    >>> occ = Occlusion(clf, window=(2, 2), stride=(1, 1), image_shape=(8, 8),
    ...                 target="all").fit(X)
    >>> occ.explain(X[:3]).maps.shape
    (3, 10, 8, 8)
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "window": [Integral, tuple, list, None],
        "stride": [Integral, tuple, list, None],
        "placement": [StrOptions({"centered", "valid"})],
        "fill": [Real, StrOptions(_FILL_WORDS), "array-like"],
        "groups": ["array-like", dict, None],
        "n_reference": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "normalize": [StrOptions({"maxabs"}), None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        model,
        *,
        window=None,
        stride=None,
        placement="centered",
        fill="auto",
        groups=None,
        n_reference=100,
        image_shape=None,
        normalize=None,
        response_method="auto",
        target="predicted",
        batch_size="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.window = window
        self.stride = stride
        self.placement = placement
        self.fill = fill
        self.groups = groups
        self.n_reference = n_reference
        self.image_shape = image_shape
        self.normalize = normalize
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, y):
        name = type(self).__name__
        layout = self.layout_
        if layout.kind == "tabular":
            self._check_tabular_only("window", self.window)
            self._check_tabular_only("stride", self.stride)
            self.window_ = self.stride_ = None
            eye = np.eye(layout.n_units, dtype=bool)
            self.masks_ = layout.units_to_features(eye) & (layout.unit_index() >= 0)
        else:
            window = (4, 4) if self.window is None else self.window
            window = _pair(window, "window", name)
            stride = (
                window if self.stride is None else _pair(self.stride, "stride", name)
            )
            image_hw = layout.image_hw
            # The window first: a stride defaults to it, so a bad window must
            # not be blamed on the stride.
            if min(window) < 1 or any(w > s for w, s in zip(window, image_hw)):
                raise ValueError(
                    f"The 'window' parameter of {name} must fit inside the image "
                    f"{image_hw}, with at least 1 pixel per side. Got {window}."
                )
            if min(stride) < 1:
                raise ValueError(
                    f"The 'stride' parameter of {name} must be at least 1 pixel "
                    f"along each axis of the image {image_hw}. Got {stride}."
                )
            if any(s > w for s, w in zip(stride, window)):
                raise ValueError(
                    f"The 'stride' parameter of {name} must not exceed the window "
                    f"{window}: a larger step leaves pixels uncovered by any window. "
                    f"Got {stride}; use a stride of at most the window."
                )
            self.window_, self.stride_ = window, stride
            self.masks_ = _window_masks(image_hw, window, stride, self.placement)
            # (n_pixels, n_windows) and windows per pixel: built once.
            cover = sparse.csr_array(
                self.masks_.reshape(len(self.masks_), -1).T.astype(np.float64)
            )
            self._cover = (cover, np.asarray(cover.sum(axis=1)).ravel())
        self.fill_, self.reference_ = _fit_background(self, X, layout, name)

    def _inputs_per_sample(self):
        return (len(self.masks_) + 1) * self._n_background()

    def _explain_chunk(self, X, targets, seeds):
        n, n_targets = targets.shape
        layout = self.layout_
        if n == 0:
            return {"maps": np.empty((0, n_targets, *self.input_shape_))}
        flat = X.reshape(n, -1)
        masks = np.asarray(self.masks_, dtype=bool)
        n_windows = len(masks)
        hidden = masks.reshape(n_windows, -1)
        if layout.kind == "image":
            hidden = layout.units_to_features(hidden)
        # Copy 0 keeps everything: the sample itself.
        keep = np.concatenate([np.ones((1, layout.n_features), bool), ~hidden])
        scores = self._scores(flat, keep, targets)
        drops = scores[:, :1] - scores[:, 1:]  # (n, n_windows, n_targets)
        if layout.kind == "tabular":
            unit_maps = drops.transpose(0, 2, 1)  # (n, n_targets, n_units)
            maps = np.zeros((n, n_targets, layout.n_features))
            covered = hidden.any(axis=0)
            # A unit's drop goes to every feature it hides.
            unit_of = np.argmax(hidden, axis=0)
            maps[..., covered] = unit_maps[..., unit_of[covered]]
        else:
            # (n_pixels, n_windows): mean drop of the windows covering a pixel.
            cover, counts = self._cover
            sums = cover @ drops.transpose(1, 0, 2).reshape(n_windows, -1)
            with np.errstate(invalid="ignore", divide="ignore"):
                pixel = np.where(counts[:, None] > 0, sums / counts[:, None], 0.0)
            pixel = pixel.reshape(-1, n, n_targets).transpose(1, 2, 0)
            maps = layout.units_to_features(pixel.reshape(n * n_targets, -1))
            maps = maps.reshape(n, n_targets, -1)
        if self.normalize == "maxabs":
            maps = _maxabs(maps)
        return {"maps": maps.reshape(n, n_targets, *self.input_shape_)}


def _window_starts(size, window, stride, placement):
    """First pixel of each window along one axis (may be negative when centred)."""
    if placement == "valid":  # captum: from the corner, the last one may be cut
        return np.arange(-(-(size - window) // stride) + 1) * stride
    n_windows = -(-size // stride)
    overhang = (n_windows - 1) * stride + window - size
    return np.arange(n_windows) * stride - overhang // 2


def _window_masks(image_hw, window, stride, placement="centered"):
    """Boolean masks ``(n_windows, height, width)``, True under each window."""
    (height, width), (win_h, win_w), (step_h, step_w) = image_hw, window, stride
    rows = _window_starts(height, win_h, step_h, placement)
    cols = _window_starts(width, win_w, step_w, placement)
    ys, xs = np.arange(height), np.arange(width)
    in_rows = (ys >= rows[:, None]) & (ys < rows[:, None] + win_h)
    in_cols = (xs >= cols[:, None]) & (xs < cols[:, None] + win_w)
    masks = in_rows[:, None, :, None] & in_cols[None, :, None, :]
    return masks.reshape(len(rows) * len(cols), height, width)


def _maxabs(maps):
    """Scale each map (last axis) to [-1, 1] by its largest absolute value.

    Maps whose largest value is below ``10 * eps`` are rounding noise and are left
    as they are, as :func:`sklearn.preprocessing.maxabs_scale` (and so
    xaitk-saliency) does.
    """
    scale = np.abs(maps).max(axis=-1, keepdims=True)
    scale[scale < 10 * np.finfo(scale.dtype).eps] = 1.0
    return np.clip(maps / scale, -1.0, 1.0)


# -------------------------------------------------------------------- RISE
class RISE(_PerturbationMixin, ExplainerMixin, BaseExplainer):
    """RISE: Randomized Input Sampling for Explanation of black-box models.

    The sample is multiplied by random masks and the model scores each masked
    copy. On an image the masks are smooth (coarse binary grids, bilinearly
    upsampled with random shifts); on a table each feature (or group) is kept
    independently with probability ``p1``, with no smoothing across columns.
    The saliency of a pixel or feature is the score-weighted mean of the masks,
    divided by ``p1``: values that are kept whenever the class score is high
    are important. The masks are drawn once in :meth:`fit` (``masks_``), so
    explanations are reproducible and comparable across samples.

    Parameters
    ----------
    model : object
        The fitted model to explain: a scikit-learn classifier or Pipeline, a
        skorch ``NeuralNet``, a ``torch.nn.Module`` or a callable ``f(X) ->
        scores``. It is never refit or copied.
    n_masks : int, default=1000
        Number of random masks.
    grid_size : int or tuple of (int, int), default=8
        Images only: rows and columns of the coarse random grid.
    p1 : float, default=0.5
        Probability that a grid cell (a feature or group of a table) is kept
        (mask value 1).
    fill : float, {'auto', 'mean', 'median', 'reference'} or array-like, \
            default='auto'
        What masked values fade to: ``x * M + fill * (1 - M)``. ``'auto'`` is
        ``'mean'`` on tables and 0 on images; a number;
        ``'mean'`` or ``'median'`` of each feature over the reference set given
        to :meth:`fit`; ``'reference'``, the score averaged over rows of that
        set (at most ``n_reference``); or a sample (one value per feature, or
        one per pixel). Categorical columns are filled by their most frequent
        value.
    debiased : bool or 'auto', default='auto'
        Weight the masks by ``M - p1`` instead of ``M`` (the debiased RISE that
        xaitk-saliency's ``RISEStack`` uses), which removes the constant
        ``f(x) * E[M]`` background from the maps. ``'auto'`` debiases tables
        (where that background would give every feature about the same value)
        and not images (the RISE of Petsiuk et al.).
    groups : array-like of shape (n_features,) or dict, default=None
        Tables only: a group label per column, or a dict ``name -> columns``;
        a group is kept or masked as one, and its features share its saliency
        (features in no group are never masked and get 0).
    n_reference : int, default=100
        Largest number of reference rows used by ``fill='reference'``.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images. ``None``: a 2-D ``X`` is a table, N-D samples are images
        ``(height, width)`` or ``(channels, height, width)``.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        Model output explained; ``'auto'`` uses ``decision_function`` when the
        model has it and ``predict_proba`` otherwise. The paper uses
        probabilities.
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
default='predicted'
        Class explained: the predicted one, the true one (``y`` given to
        :meth:`explain`), a class label, one label per sample, or ``'all'``
        for one map per class.
    batch_size : int or 'auto', default='auto'
        Largest number of model inputs (masked copies) in memory and in one
        model call. ``'auto'``: 1024 for images; for tables as many rows as
        hold about 8 MiB of float64, at least 1024 (34,952 rows of 30
        features), since a scikit-learn model's per-call overhead is not
        amortised by 1024 short rows.
    n_jobs : int, default=None
        Number of jobs to run in parallel. The samples are split over the jobs.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    random_state : int, RandomState instance or None, default=None
        Pseudo-random number generator to control the masks (and the
        reference rows) drawn in :meth:`fit`. Pass an int for reproducible
        results across multiple function calls (an int seed draws the same
        image masks as xaitk-saliency's ``RISEGrid(seed=...)``). See
        :term:`Glossary <random_state>`.
    verbose : int, default=0
        Controls the verbosity: a progress bar when positive.

    Attributes
    ----------
    masks_ : ndarray of float32
        The masks, values in [0, 1] (1 keeps the value): ``(n_masks, height,
        width)`` for images, ``(n_masks, n_units)`` for tables (one column per
        feature or group). They may be edited or replaced by masks of the same
        shape before explaining; explaining uses them as they are.
    fill_ : float, ndarray of shape (n_features_in_,) or None
        The fill value, in the input's layout; None for ``fill='reference'``.
    reference_ : ndarray of shape (n_reference, n_features_in_) or None
        The background rows of ``fill='reference'``.
    layout_ : Layout
        Which values of a sample are features, pixels and channels.
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map in an explanation.

    See Also
    --------
    Occlusion : Hide one window, feature or group at a time.

    Notes
    -----
    With masks :math:`M_1, \\dots, M_N` and class score :math:`f_c`,

    .. math:: s_c = \\frac{1}{N p_1} \\sum_{i=1}^N f_c(x \\odot M_i) \\, M_i

    (Petsiuk et al., 2018), and ``debiased=True`` replaces :math:`M_i` by
    :math:`M_i - p_1`. Each sample costs ``n_masks`` model inputs (times the
    reference rows for ``fill='reference'``).

    References
    ----------
    .. [1] Petsiuk, V., Das, A. and Saenko, K. "RISE: Randomized Input Sampling
       for Explanation of Black-box Models", BMVC 2018.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.datasets import load_digits_images
    >>> from skxai.saliency import RISE
    >>> X, y = load_digits_images(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X, y)
    >>> rise = RISE(clf, n_masks=200, grid_size=4, image_shape=(8, 8),
    ...             random_state=0).fit(X)
    >>> rise.masks_.shape
    (200, 8, 8)
    >>> rise.explain(X[:3]).maps.shape
    (3, 1, 8, 8)
    >>> RISE(clf, n_masks=200, random_state=0).fit(X).masks_.shape  # a table
    (200, 64)
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "n_masks": [Interval(Integral, 1, None, closed="left")],
        "grid_size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "p1": [Interval(Real, 0, 1, closed="right")],
        "fill": [Real, StrOptions(_FILL_WORDS), "array-like"],
        "debiased": ["boolean", StrOptions({"auto"})],
        "groups": ["array-like", dict, None],
        "n_reference": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        model,
        *,
        n_masks=1000,
        grid_size=8,
        p1=0.5,
        fill="auto",
        debiased="auto",
        groups=None,
        n_reference=100,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.n_masks = n_masks
        self.grid_size = grid_size
        self.p1 = p1
        self.fill = fill
        self.debiased = debiased
        self.groups = groups
        self.n_reference = n_reference
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, y):
        name = type(self).__name__
        layout = self.layout_
        if isinstance(self.random_state, Integral):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        if layout.kind == "tabular":
            rng = np.random.default_rng(seed)
            draws = rng.random((self.n_masks, layout.n_units))
            self.masks_ = (draws < self.p1).astype(np.float32)
        else:
            grid = _pair(self.grid_size, "grid_size", name)
            if min(grid) < 1:
                raise ValueError(
                    f"The 'grid_size' parameter of {name} must be at least 1 cell "
                    f"per axis. Got {grid}."
                )
            self.masks_ = _rise_masks(
                self.n_masks, grid, self.p1, layout.image_hw, seed
            )
        self.fill_, self.reference_ = _fit_background(self, X, layout, name)

    def _inputs_per_sample(self):
        return len(self.masks_) * self._n_background()

    def _unit_masks(self):
        """``masks_`` as it is now, checked: ``(n_masks, n_units)``."""
        layout = self.layout_
        masks = np.asarray(self.masks_)
        shape = (layout.n_units,) if layout.kind == "tabular" else layout.image_hw
        if masks.ndim != 1 + len(shape) or masks.shape[1:] != tuple(shape):
            expected = ", ".join(str(v) for v in shape)
            raise ValueError(
                f"The masks_ of {type(self).__name__} must have shape (n_masks, "
                f"{expected}); got {masks.shape}."
            )
        return masks.reshape(len(masks), -1)

    def _debiased(self):
        if isinstance(self.debiased, str):  # "auto"
            return self.layout_.kind == "tabular"
        return bool(self.debiased)

    def _explain_chunk(self, X, targets, seeds):
        n, n_targets = targets.shape
        if n == 0:
            return {"maps": np.empty((0, n_targets, *self.input_shape_))}
        layout = self.layout_
        units = self._unit_masks()  # read now: edits of masks_ are honoured
        n_masks = len(units)
        keep = layout.units_to_features(units)
        if layout.kind == "tabular" and X.dtype == object:
            keep = keep.astype(bool)
        scores = self._scores(X.reshape(n, -1), keep, targets)
        weights = units.astype(np.float64)
        if self._debiased():
            weights = weights - self.p1
        # (n, n_targets, n_units): score-weighted mean of the masks / p1.
        sal = np.einsum("nkt,ku->ntu", scores, weights) / (n_masks * self.p1)
        maps = self._spread(sal)
        return {"maps": maps.reshape(n, n_targets, *self.input_shape_)}


def _rise_masks(n_masks, grid, p1, image_hw, seed):
    """RISE masks ``(n_masks, height, width)`` as float32, in [0, 1].

    Draws the same masks as xaitk-saliency's ``RISEGrid(n, s, p1, seed)``: binary
    grids from ``default_rng(seed)``, upsampled bilinearly (pixel-centre aligned,
    mirrored borders) to ``(grid + 1) * cell`` pixels, then cropped at a random
    shift drawn from a second ``default_rng(seed)``.
    """
    grids = (np.random.default_rng(seed).random((n_masks, *grid)) < p1).astype(
        np.float32
    )
    shift_rng = np.random.default_rng(seed)
    cell = np.ceil(np.asarray(image_hw) / np.asarray(grid)).astype(int)
    up = (np.asarray(grid) + 1) * cell
    zoom = up / np.asarray(grid)
    height, width = image_hw
    masks = np.empty((n_masks, height, width), dtype=np.float32)
    for i in range(n_masks):
        dy = int(shift_rng.integers(0, cell[0]))
        dx = int(shift_rng.integers(0, cell[1]))
        big = ndimage.zoom(grids[i], zoom, order=1, mode="mirror", grid_mode=True)
        masks[i] = big[dy : dy + height, dx : dx + width]
    return masks
