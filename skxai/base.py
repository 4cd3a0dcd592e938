"""Base classes of all explainers: the estimator API, targets, batching and joblib.

An explainer is configured in ``__init__``, learns what it needs in :meth:`fit`, and
turns samples into explanations in :meth:`~ExplainerMixin.transform` and
:meth:`~ExplainerMixin.explain`. Subclasses implement two hooks:

``_fit(self, X, y)``
    Learn explainer-specific state from the validated reference set ``X`` (an
    ndarray of shape ``(n_samples, *input_shape_)``).
``_explain_chunk(self, X, targets, seeds)``
    Explain a chunk of validated samples. ``targets`` is an int array of shape
    ``(n_chunk, n_targets)`` holding class *indices* (columns of the model's
    scores); ``seeds`` an int array of shape ``(n_chunk,)`` (one seed per sample,
    drawn before fanning out so results do not depend on ``n_jobs`` or
    ``batch_size``). Return a dict whose ``"maps"`` entry has shape
    ``(n_chunk, n_targets, *input_shape_)``; other entries with a leading sample
    axis (``"delta"``, ...) are concatenated and land on the
    :class:`~skxai.explanation.Explanation`.
"""

import contextlib
import copy
import sys
import threading
import time
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state, gen_even_slices
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
)

from ._layout import Layout
from .explanation import Explanation
from .models._adapters import RESPONSE_METHODS, check_model, positive_strides
from .utils._sklearn_compat import (
    Interval,
    Parallel,
    StrOptions,
    _fit_context,
    delayed,
    validate_data,
)

_FLOAT_DTYPES = (np.float64, np.float32)
_TARGET_WORDS = ("predicted", "true", "all")


class ExplainerMixin(TransformerMixin):
    """Mixin giving explainers ``transform``, ``explain``, ``score`` and ``clone``.

    ``clone`` shares the explained model instead of copying it: the model is
    explained, never trained, so :class:`~sklearn.model_selection.GridSearchCV` can
    clone an explainer per candidate without copying weights.
    """

    _estimator_type = "explainer"

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        new_params = {
            name: value if name == "model" else clone(value, safe=False)
            for name, value in params.items()
        }
        new = type(self)(**new_params)
        if hasattr(self, "_sklearn_output_config"):
            new._sklearn_output_config = copy.deepcopy(self._sklearn_output_config)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------ public API
    def explain(self, X, y=None):
        """Explain samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            True labels, needed by ``target="true"``.

        Returns
        -------
        explanation : Explanation
            Maps of shape ``(n_samples, n_targets, *image_shape)``, the targets
            used, the model's predictions and the explainer's parameters.
        """
        check_is_fitted(self)
        index = getattr(X, "index", None)
        X = self._validate_X(X, reset=False)
        y = self._validate_y(y, len(X))
        if len(X) == 0:
            n_targets = self._n_targets()
            targets = np.empty((0, n_targets), dtype=np.intp)
            result = {"maps": np.empty((0, n_targets, *self.input_shape_))}
            return self._make_explanation(
                X, y, result, targets, np.empty(0, dtype=np.intp), index
            )
        if self._predicts_in_pass:
            # The explainer's own forward pass on X finds the predictions:
            # targets -1 ("predicted") are resolved there, no extra model call.
            targets = self._resolve_targets(y, np.full(len(X), -1), len(X))
            result = self._explain_all(X, targets)
            pred_idx, targets = result.pop("_pred"), result.pop("_targets")
            return self._make_explanation(X, y, result, targets, pred_idx, index)
        scores = self.adapter_.scores(
            self.layout_.to_model(X), self.response_method_, batch_size=self._batch_rows
        )
        pred_idx = scores.argmax(axis=1)
        targets = self._resolve_targets(y, pred_idx, len(X))
        result = self._explain_all(X, targets)
        return self._make_explanation(X, y, result, targets, pred_idx, index)

    def transform(self, X, y=None):
        """Return the explanation maps flattened per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            True labels, needed by ``target="true"`` only.

        Returns
        -------
        maps : ndarray of shape (n_samples, n_targets * n_features)
            One map per target, flattened; ``n_targets`` is the number of classes
            for ``target="all"`` and 1 otherwise.
        """
        maps = self.explain(X, y).maps
        return maps.reshape(len(maps), int(np.prod(maps.shape[1:])))

    def score(self, X, y=None):
        """Faithfulness of the explanations of ``X``; higher is better.

        The default metric of saliency explainers is the insertion AUC minus the
        deletion AUC of the explained class's probability (Petsiuk et al., 2018),
        computed by :func:`skxai.metrics.default_score`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples to explain and score.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.

        Returns
        -------
        score : float
            Mean faithfulness over the samples.
        """
        from .metrics import default_score

        return default_score(self, X, y)

    def get_feature_names_out(self, input_features=None):
        """Names of the columns :meth:`transform` returns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; by default ``feature_names_in_`` or ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names for a single target, ``"<class>__<name>"`` for
            ``target="all"``.
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features, generate_names=True)
        if self._n_targets() == 1:
            return np.asarray(names, dtype=object)
        return np.asarray(
            [f"{label}__{name}" for label in self.classes_ for name in names],
            dtype=object,
        )


class BaseExplainer(TransformerMixin, BaseEstimator):
    """Base class of explainers: validation, targets, batching and parallelism.

    Not meant to be used directly; subclasses implement ``_fit`` and
    ``_explain_chunk`` (see the module docstring).

    Attributes set by :meth:`fit`
    -----------------------------
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model, in the order of its scores.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample (product of ``input_shape_``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` was a DataFrame with string column names.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    layout_ : Layout
        Which values of a sample are features, pixels and channels (tabular
        unless ``image_shape`` is given or the samples are N-D).
    image_shape_ : tuple of int
        Shape of one map in an explanation, ``layout_.map_shape``:
        ``(n_features,)`` for tables, ``image_shape`` for flat images, the input
        shape for N-D inputs.
    """

    _parameter_constraints = {
        "model": "no_validation",
        "target": [StrOptions(set(_TARGET_WORDS)), Integral, str, "array-like"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
            None,
        ],
        "verbose": ["verbose"],
    }
    # Explainers that differentiate the model set this to True.
    _gradient_based = False
    # joblib preference of the fan-out ("threads" for torch work).
    _parallel_prefer = None
    # Explainers whose ``_explain_chunk`` runs the model on X itself set this to
    # True: their targets may hold -1 (the predicted class), and their result
    # gives ``_pred`` (predicted class indices) and ``_targets`` (resolved).
    _predicts_in_pass = False

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Learn what explaining needs from a reference set.

        The model is not refit: only the explainer's own state (baselines,
        masks, statistics, ...) is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Reference samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            Labels of the reference samples, when the explainer uses them.

        Returns
        -------
        self : object
            The fitted explainer.
        """
        adapter = check_model(self.model, type(self).__name__)
        adapter.check_columns(X, type(self).__name__)  # never relabel columns
        X = self._validate_X(X, reset=True)
        self._check_model_width(adapter)
        response_method = getattr(self, "response_method", "auto")
        self.response_method_ = adapter.resolve_response_method(
            response_method, gradients=self._gradient_based
        )
        if self._gradient_based:
            adapter.torch_forward(self.response_method_)  # clear error if none
        model_X = self.layout_.to_model(X[:1])
        if adapter.classes_ is None:
            adapter.infer_classes(model_X, self.response_method_)
        else:
            # One call checks the model runs on this input and scores every class.
            n_scores = adapter.scores(model_X, self.response_method_).shape[1]
            if n_scores != len(adapter.classes_):
                raise ValueError(
                    f"The model returned {n_scores} scores per sample but has "
                    f"{len(adapter.classes_)} classes."
                )
        self.adapter_ = adapter
        self.classes_ = adapter.classes_
        self._check_target_param()
        with _autograd_allowed():
            self._fit(X, y)
        return self

    def _fit(self, X, y):
        """Learn explainer-specific state (override in subclasses)."""

    def _explain_chunk(self, X, targets, seeds):
        raise NotImplementedError

    def _inputs_per_sample(self):
        """How many model inputs explaining one sample needs (for batching)."""
        return 1

    # ------------------------------------------------------------- validation
    def _validate_X(self, X, *, reset):
        """Validate X, keeping its sample shape; set or check the fitted layout."""
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            ndim = np.asarray(X).ndim if not hasattr(X, "columns") else 2
        if ndim <= 2:
            adapter = None if reset else getattr(self, "adapter_", None)
            if adapter is not None:  # fitted on an ndarray, given a DataFrame
                adapter.check_columns(X, type(self).__name__)
            dtypes = _raw_frame_dtypes(X) if reset else self._fitted_dtypes()
            if dtypes is not None:
                X = self._validate_raw_frame(X, dtypes, reset=reset)
            else:
                X = validate_data(
                    self,
                    X,
                    reset=reset,
                    dtype=_FLOAT_DTYPES,
                    ensure_all_finite=True,
                    ensure_min_samples=1 if reset else 0,
                )
            if reset:
                self.input_shape_ = (X.shape[1],)
                self._set_layout(dtypes)
            return X if dtypes is not None else positive_strides(X)
        X = check_array(
            X,
            allow_nd=True,
            dtype=_FLOAT_DTYPES,
            ensure_all_finite=True,
            ensure_min_samples=1 if reset else 0,
            input_name="X",
        )
        if reset:
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self.input_shape_ = tuple(X.shape[1:])
            self.n_features_in_ = int(np.prod(self.input_shape_))
            self._set_layout(None)
        elif tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but "
                f"{type(self).__name__} was fitted on samples of shape "
                f"{tuple(self.input_shape_)}."
            )
        return positive_strides(X)

    def _set_layout(self, dtypes):
        """Set ``layout_`` (and ``image_shape_``) from the fitted input shape."""
        self.layout_ = Layout.from_input(
            self.input_shape_,
            image_shape=getattr(self, "image_shape", None),
            feature_names=getattr(self, "feature_names_in_", None),
            groups=getattr(self, "groups", None),
            dtypes=dtypes,
            caller=type(self).__name__,
        )
        self.image_shape_ = tuple(self.layout_.map_shape)

    def _fitted_dtypes(self):
        layout = getattr(self, "layout_", None)
        return None if layout is None else layout.dtypes

    def _validate_raw_frame(self, X, dtypes, *, reset):
        """A DataFrame with non-numeric columns, for a model that encodes them.

        Kept as an object array (the model gets DataFrames with the original
        dtypes back through ``layout_.to_model``); numeric columns must be
        finite and no value may be missing.
        """
        name = type(self).__name__
        if self._gradient_based or getattr(self.model, "fit", None) is None:
            raise ValueError(
                f"{name} needs numeric X; the DataFrame has non-numeric columns "
                f"{_non_numeric(X)}. Explain a scikit-learn Pipeline that encodes "
                "them with a black-box explainer (Occlusion, RISE), or encode them "
                "first."
            )
        if not hasattr(X, "columns"):
            raise ValueError(
                f"{name} was fitted on a DataFrame with non-numeric columns "
                f"{[str(c) for c in self.feature_names_in_]}; X must be a "
                f"DataFrame with the same columns. Got {type(X).__name__}."
            )
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=None,
            ensure_all_finite=False,
            ensure_min_samples=1 if reset else 0,
        )
        X = np.asarray(X, dtype=object)
        missing = np.asarray(pd.isna(X), dtype=bool)
        if missing.any():
            column = self.feature_names_in_[np.flatnonzero(missing.any(axis=0))[0]]
            raise ValueError(
                f"Input X contains NaN (column {column!r}). {name} does not accept "
                "missing values: impute them first (e.g. with SimpleImputer)."
            )
        for j, dtype in enumerate(dtypes):
            if pd.api.types.is_numeric_dtype(dtype) and not np.all(
                np.isfinite(X[:, j].astype(np.float64))
            ):
                raise ValueError(
                    "Input X contains infinity in column "
                    f"{self.feature_names_in_[j]!r}."
                )
        return X

    def _check_model_width(self, adapter):
        expected = getattr(adapter.model, "n_features_in_", None)
        if adapter.kind == "sklearn" and expected is not None:
            if expected != self.n_features_in_:
                raise ValueError(
                    f"X has {self.n_features_in_} features, but the model "
                    f"{type(adapter.model).__name__} is expecting {expected} features "
                    "as input."
                )

    def _validate_y(self, y, n_samples):
        if y is None:
            return None
        y = np.asarray(getattr(y, "to_numpy", lambda: y)())
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(
                f"y must be a 1-D array of length {n_samples} (one label per "
                f"sample); got shape {y.shape}."
            )
        return y

    # ---------------------------------------------------------------- targets
    def _check_target_param(self):
        target = self.target
        if isinstance(target, str) and target in _TARGET_WORDS:
            return
        labels = [target] if np.ndim(target) == 0 else np.asarray(target).ravel()
        bool_classes = np.asarray(self.classes_).dtype == bool
        for label in labels:
            if isinstance(label, bool | np.bool_) and not bool_classes:
                raise ValueError(
                    f"The 'target' parameter of {type(self).__name__} must be "
                    "'predicted', 'true', 'all', a class label or one label per "
                    f"sample; a bool is not one of the model's classes "
                    f"{np.asarray(self.classes_).tolist()}. Got {target!r}."
                )
            self._class_index(label)

    def _class_index(self, label):
        matches = np.flatnonzero(np.asarray(self.classes_) == label)
        if matches.size == 0:
            raise ValueError(
                f"The 'target' class {label!r} of {type(self).__name__} is not one "
                f"of the model's classes {np.asarray(self.classes_).tolist()}."
            )
        return int(matches[0])

    def _n_targets(self):
        if isinstance(self.target, str) and self.target == "all":
            return len(self.classes_)
        return 1

    def _resolve_targets(self, y, pred_idx, n_samples):
        """Class indices to explain, shape (n_samples, n_targets)."""
        target = self.target
        if isinstance(target, str) and target in _TARGET_WORDS:
            if target == "predicted":
                return np.asarray(pred_idx, dtype=np.intp).reshape(-1, 1)
            if target == "all":
                return np.tile(np.arange(len(self.classes_)), (n_samples, 1))
            if y is None:
                raise ValueError(
                    f"target='true' needs the true labels: call "
                    f"{type(self).__name__}.explain(X, y) or transform(X, y)."
                )
            return np.array([[self._class_index(v)] for v in y], dtype=np.intp)
        if np.ndim(target) == 0:
            return np.full((n_samples, 1), self._class_index(target), dtype=np.intp)
        labels = np.asarray(target).ravel()
        if len(labels) != n_samples:
            raise ValueError(
                f"A sequence 'target' gives one class per sample: expected "
                f"{n_samples} labels, got {len(labels)}."
            )
        return np.array([[self._class_index(v)] for v in labels], dtype=np.intp)

    # ------------------------------------------------------------- fan-out
    @property
    def _batch_rows(self):
        """``batch_size`` as a number of model inputs, ``'auto'`` resolved."""
        if isinstance(self.batch_size, str):
            return self._auto_batch_size()
        return self.batch_size

    def _draw_seeds(self, n_samples):
        if "random_state" not in self.get_params(deep=False):
            # Nothing random to seed: numpy's global generator is left alone.
            return np.zeros(n_samples, dtype=np.int64)
        rng = check_random_state(self.random_state)
        return rng.randint(np.iinfo(np.int32).max, size=n_samples)

    def _explain_all(self, X, targets):
        """Run ``_explain_chunk`` over chunks of samples, in parallel."""
        with _autograd_allowed():
            return self._explain_chunks(X, targets)

    def _explain_chunks(self, X, targets):
        n_samples = len(X)
        seeds = self._draw_seeds(n_samples)
        if n_samples == 0:
            return self._explain_chunk(X, targets, seeds)
        per_task = max(1, self._batch_rows // max(1, self._inputs_per_sample()))
        n_tasks = -(-n_samples // per_task)
        n_jobs = self.n_jobs if self.n_jobs is not None else 1
        if n_jobs != 1:
            from joblib import effective_n_jobs

            n_tasks = max(n_tasks, min(n_samples, effective_n_jobs(n_jobs)))
        slices = list(gen_even_slices(n_samples, n_tasks))
        prefer = self._parallel_prefer
        if prefer is None and getattr(self, "adapter_", None) is not None:
            prefer = "threads" if self.adapter_.kind == "torch" else None
        parallel = Parallel(n_jobs=self.n_jobs, prefer=prefer, return_as="generator")
        results = run_tasks(
            parallel,
            self._explain_chunk,
            [(X[s], targets[s], seeds[s]) for s in slices],
        )
        results = list(_progress(results, len(slices), self.verbose, type(self)))
        return {
            key: np.concatenate([r[key] for r in results], axis=0)
            if _has_sample_axis(results[0][key])
            else results[0][key]
            for key in results[0]
        }

    def _make_explanation(self, X, y, result, targets, pred_idx, index):
        n = len(X)
        maps = result.pop("maps")
        shape = (n, maps.shape[1], *self.layout_.map_shape)
        images = X.reshape((n, *self.layout_.map_shape))
        # The model output the maps are made of, so that plot() names its unit.
        result.setdefault("response_method", resolved_response_method(self))
        return Explanation(
            maps=maps.reshape(shape),
            targets=np.asarray(self.classes_)[targets],
            predictions=np.asarray(self.classes_)[pred_idx],
            labels=y,
            images=images,
            index=index,
            params=self.get_params(deep=False),
            explainer=type(self).__name__,
            layout=self.layout_,
            **result,
        )


def resolved_response_method(explainer):
    """The model output a fitted explainer explains.

    Its ``response_method_``, with ``"auto"`` resolved where the model says what
    it is (a skorch net's ``predict_proba``: the module's output through its
    nonlinearity); a wrapper's (``SmoothGrad``) is its inner explainer's.
    """
    inner = getattr(explainer, "explainer_", None)
    if inner is not None:
        return resolved_response_method(inner)
    method = getattr(explainer, "response_method_", None)
    adapter = getattr(explainer, "adapter_", None)
    if method == "auto" and getattr(adapter, "is_skorch", False):
        return "predict_proba"
    return method


def _raw_frame_dtypes(X):
    """Column dtypes of a DataFrame with non-numeric columns, else None."""
    if not hasattr(X, "columns") or not hasattr(X, "dtypes"):
        return None
    if not _non_numeric(X):
        return None
    return list(X.dtypes)


def _non_numeric(X):
    return [
        str(c)
        for c, d in zip(X.columns, X.dtypes)
        if not pd.api.types.is_numeric_dtype(d)
    ]


def explainer_input(explainer, X):
    """``X`` as a fitted explainer validates it for explaining.

    For metrics, which query the model on the samples an explainer explained:
    the shape, the feature names and the dtypes the explainer was fitted on are
    checked; a DataFrame with non-numeric columns stays an object array (the
    explainer's ``layout_.to_model`` turns it back into a DataFrame).

    Parameters
    ----------
    explainer : fitted explainer
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

    Returns
    -------
    X : ndarray of shape (n_samples, *input_shape_)
    """
    check_is_fitted(explainer)
    return explainer._validate_X(X, reset=False)


def explain_classes(explainer, X, classes):
    """Maps of validated samples for one class index per sample.

    What ``explain`` gives with ``target=classes_[classes]``, without asking
    the model for its predictions first: metrics re-explain perturbed copies
    of a sample for the class explained on the sample itself.

    Parameters
    ----------
    explainer : fitted explainer
    X : ndarray of shape (n_samples, *input_shape_)
        Samples validated by :func:`explainer_input`.
    classes : array-like of shape (n_samples,)
        Class indices (columns of the model's scores).

    Returns
    -------
    maps : ndarray of shape (n_samples, *input_shape_)
    """
    check_is_fitted(explainer)
    targets = np.asarray(classes, dtype=np.intp).reshape(-1, 1)
    return np.asarray(explainer._explain_all(X, targets)["maps"])[:, 0]


def _has_sample_axis(value):
    return isinstance(value, np.ndarray) and value.ndim >= 1


def _progress(iterable, total, verbose, cls):
    """Yield from ``iterable``, printing a progress line to stderr if verbose."""
    if not verbose:
        yield from iterable
        return
    name = cls.__name__
    start = time.perf_counter()
    for i, item in enumerate(iterable, 1):
        elapsed = time.perf_counter() - start
        bar = "#" * int(20 * i / total)
        sys.stderr.write(f"\r[{name}] |{bar:<20}| {i}/{total} chunks, {elapsed:.1f}s")
        sys.stderr.flush()
        yield item
    sys.stderr.write("\n")


def _autograd_allowed():
    """Leave a caller's ``torch.inference_mode`` while explaining: gradients of the
    model are what gradient explainers compute (``torch.no_grad`` is left where
    they compute them)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.is_inference_mode_enabled():
        return contextlib.nullcontext()
    return torch.inference_mode(False)


class _TaskGuard:
    """Counts the tasks of one fan-out running in this process.

    joblib returns a task's error while the tasks of other threads still run on
    the model (in eval mode, with hooks or swapped parameters): after an error
    the caller waits until none runs, and tasks not started yet do nothing.
    Copied to another process (loky, dask), a guard is a fresh one there: the
    model is a copy there too.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._running = 0
        self._stopped = False

    def __reduce__(self):
        return (_TaskGuard, ())

    def call(self, fn, *args):
        with self._cond:
            if self._stopped:
                return None
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def stop_and_wait(self):
        with self._cond:
            self._stopped = True
            self._cond.wait_for(lambda: self._running == 0)


def run_tasks(parallel, fn, arg_tuples):
    """Yield ``fn(*args)`` for each of ``arg_tuples`` as ``parallel`` computes them.

    On an error no task is left running on the model when it reaches the caller.
    """
    guard = _TaskGuard()
    results = parallel(delayed(guard.call)(fn, *args) for args in arg_tuples)
    try:
        yield from results
    except Exception:
        guard.stop_and_wait()
        raise


__all__ = ["RESPONSE_METHODS", "BaseExplainer", "ExplainerMixin"]
