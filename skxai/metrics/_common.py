"""What every metric shares: the model behind an estimator, targets, maps, outputs."""

import numpy as np
from sklearn.pipeline import Pipeline

from ..base import explainer_input
from ..models._adapters import ModelAdapter, check_model, positive_strides

# Constraints of the arguments every metric takes (scikit-learn's
# validate_params); maps and targets may be an Explanation, checked by
# check_maps and check_targets.
METRIC_PARAMS = {
    "model": "no_validation",
    "X": ["array-like"],
    "maps": "no_validation",
    "targets": "no_validation",
}


def is_explainer(estimator):
    """Return True if ``estimator`` is an skxai explainer (fitted or not)."""
    return getattr(estimator, "_estimator_type", None) == "explainer"


def unwrap_pipeline(estimator, X):
    """``(final_step, X_transformed)`` for a Pipeline, else ``(estimator, X)``."""
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
        return estimator.steps[-1][1], X
    return estimator, X


class MetricModel:
    """The model a metric queries, seen through its adapter.

    Parameters
    ----------
    model : explainer, ModelAdapter or model
        A fitted explainer (its adapter is used), an adapter, or anything
        :func:`~skxai.models.check_model` accepts.
    caller : str
        Name used in error messages.
    """

    def __init__(self, model, caller):
        self.explainer = model if is_explainer(model) else None
        if self.explainer is not None:
            adapter = getattr(model, "adapter_", None)
            if adapter is None:
                raise ValueError(
                    f"{caller} needs a fitted explainer: call "
                    f"{type(model).__name__}.fit(X) first."
                )
        elif isinstance(model, ModelAdapter):
            adapter = model
        else:
            adapter = check_model(model, caller)
        self.adapter = adapter
        self.caller = caller
        self._proba_plan = None

    @property
    def classes(self):
        return self.adapter.classes_

    def layout(self, X, image_shape=None, maps=None):
        """The :class:`~skxai._layout.Layout` of the samples ``X``.

        ``image_shape`` when given; else the explainer's ``layout_``, or that of
        an :class:`~skxai.explanation.Explanation` passed as ``maps``; else the
        rule of :meth:`Layout.from_input` (a 2-D ``X`` is a table).
        """
        from .._layout import Layout

        input_shape = tuple(X.shape[1:])
        if image_shape is not None:
            return Layout.from_input(
                input_shape, image_shape=image_shape, caller=self.caller
            )
        for owner, attr in ((self.explainer, "layout_"), (maps, "layout")):
            layout = getattr(owner, attr, None)
            if layout is not None and tuple(layout.input_shape) == input_shape:
                return layout
        return Layout.from_input(input_shape, caller=self.caller)

    def _model_input(self, X):
        """``X`` as the model takes it: a raw table goes back to a DataFrame."""
        layout = getattr(self.explainer, "layout_", None)
        if layout is not None and layout.dtypes is not None and X.ndim == 2:
            return layout.to_model(X)
        return X

    def response_method(self, response_method):
        """The concrete response method of ``"auto"`` (the explainer's own)."""
        if response_method == "auto" and self.explainer is not None:
            return self.explainer.response_method_
        return self.adapter.resolve_response_method(response_method)

    def scores(self, X, response_method, batch_size):
        return self.adapter.scores(
            self._model_input(X), response_method, batch_size=batch_size
        )

    def proba(self, X, batch_size):
        """Class probabilities: ``predict_proba``, or a softmax of the scores.

        Which of the two is decided on the first call and kept, so that every
        point of a curve comes from the same output.
        """
        if self._proba_plan is None:
            plan = ("auto", True)
            try:
                method = self.adapter.resolve_response_method("predict_proba")
                plan = (method, False)
            except (TypeError, ValueError, AttributeError):
                pass
            scores = self.scores(X, plan[0], batch_size)
            # A model's own predict_proba is used as it is (never softmaxed
            # again); only a callable's unnamed output is judged by its values.
            if plan[0] != "predict_proba" and not _looks_like_proba(scores):
                plan = (plan[0], True)
            elif plan[0] == "auto" and _looks_like_proba(scores):
                plan = ("auto", False)
            self._proba_plan = plan
            return _softmax(scores) if plan[1] else scores
        method, softmax = self._proba_plan
        scores = self.scores(X, method, batch_size)
        return _softmax(scores) if softmax else scores

    def perturbed(self, X, masks, fill, targets, *, kind, batch_size, layout):
        """Target outputs of perturbed copies ``m * x + (1 - m) * fill``.

        The copies are built and scored by the perturbation engine
        (:func:`skxai._engine.score_perturbations`), at most ``batch_size``
        model inputs at a time.

        Parameters
        ----------
        X : ndarray of shape (n, n_features)
            Flattened samples.
        masks, fill :
            The plan, as :func:`~skxai._engine.score_perturbations` takes it.
        targets : ndarray of shape (n,)
            Class index of each sample.
        kind : str
            ``"proba"`` or a response method.
        layout : Layout
            Gives the model's input shape.

        Returns
        -------
        outputs : ndarray of shape (n, k)
        """
        from .._engine import score_perturbations

        softmax = False
        method = kind
        if kind == "proba":
            if self._proba_plan is None:
                self.proba(X[:1].reshape(1, *layout.input_shape), batch_size)
            method, softmax = self._proba_plan
        picked = None if softmax else targets[:, None]
        scores = score_perturbations(
            self.adapter, X, masks, fill, response_method=method,
            batch_size=batch_size, targets=picked, layout=layout,
        )
        if not softmax:
            return scores[:, :, 0]
        n, k, n_classes = scores.shape
        proba = _softmax(scores.reshape(n * k, n_classes)).reshape(n, k, n_classes)
        return np.take_along_axis(proba, targets[:, None, None], axis=2)[:, :, 0]


def _looks_like_proba(scores):
    if scores.size == 0:
        return True
    return bool(
        np.all(scores >= -1e-7)
        and np.all(scores <= 1 + 1e-7)
        and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    )


def _softmax(scores):
    scores = scores - scores.max(axis=1, keepdims=True)
    expd = np.exp(scores)
    return expd / expd.sum(axis=1, keepdims=True)


def check_X(X, caller):
    """X as a float ndarray with a sample axis (keeps float32)."""
    X = np.asarray(getattr(X, "to_numpy", lambda: X)())
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.ndim < 2:
        raise ValueError(
            f"{caller} expects X of shape (n_samples, n_features) or "
            f"(n_samples, *input_shape); got an array of shape {X.shape}."
        )
    _check_samples(X, caller)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"Input X contains NaN or infinity ({caller}).")
    return positive_strides(X)


def _check_samples(X, caller):
    """A clear error for X (or per-sample values) without samples."""
    if len(X) == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
            f"is required by {caller}: a metric averages over samples."
        )


def check_maps(maps, X, caller):
    """Maps flattened per sample, shape (n_samples, n_features), or a clear error."""
    _check_samples(X, caller)
    maps = np.asarray(getattr(maps, "maps", maps))
    n = len(X)
    n_features = int(np.prod(X.shape[1:]))
    if maps.ndim < 2 or len(maps) != n or maps[0].size != n_features:
        raise ValueError(
            f"{caller} needs one map per sample with as many values as a sample "
            f"of X: X has shape {X.shape}, so maps must have shape ({n}, "
            f"{n_features}) or ({n}, *{tuple(X.shape[1:])}); got maps of shape "
            f"{maps.shape}. Explain a single target (target='predicted', 'true' "
            "or a class) for metrics."
        )
    maps = maps.reshape(n, n_features).astype(np.float64, copy=False)
    if not np.all(np.isfinite(maps)):
        raise ValueError(f"maps contains NaN or infinity ({caller}).")
    return maps


def check_targets(targets, mm, X, batch_size, caller, *, first_scores=None):
    """Class indices of shape (n_samples,): given labels, or the predicted class."""
    n = len(X)
    if targets is None:
        if first_scores is None:
            first_scores = mm.proba(X, batch_size)
        return np.asarray(first_scores).argmax(axis=1).astype(np.intp)
    targets = np.asarray(getattr(targets, "targets", targets))
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim == 0:
        targets = np.full(n, targets.item())
    if targets.ndim != 1 or len(targets) != n:
        raise ValueError(
            f"The 'targets' of {caller} must give one class per sample: expected "
            f"{n} labels, got an array of shape {targets.shape}."
        )
    classes = mm.classes
    if classes is None:
        mm.adapter.infer_classes(X[:1])
        classes = mm.classes
    classes = np.asarray(classes)
    index = np.empty(n, dtype=np.intp)
    for i, label in enumerate(targets):
        match = np.flatnonzero(classes == label)
        if match.size == 0:
            raise ValueError(
                f"The target class {label!r} given to {caller} is not one of the "
                f"model's classes {classes.tolist()}."
            )
        index[i] = match[0]
    return index


def explained_maps(explainer, X, y, caller):
    """Explain ``X`` once for a metric: ``(explanation, X, maps, targets)``.

    ``X`` is validated as the explainer validates it, ``maps`` holds one
    flattened map per sample and ``targets`` its class index: the explained
    class, or the predicted one when the explainer explains every class
    (``target="all"``), so that a metric never judges another class's map.
    """
    expl = explainer.explain(X, y)
    X = explainer_input(explainer, X)
    _check_samples(X, caller)
    maps = np.asarray(expl.maps)
    labels = np.asarray(expl.targets)
    rows = np.arange(len(maps))
    column = np.zeros(len(maps), dtype=np.intp)
    if labels.shape[1] > 1:  # target="all": the predicted class's map
        column = np.argmax(labels == np.asarray(expl.predictions)[:, None], axis=1)
    maps = check_maps(maps[rows, column], X, caller)
    classes = np.asarray(explainer.classes_)
    targets = np.array(
        [int(np.flatnonzero(classes == label)[0]) for label in labels[rows, column]],
        dtype=np.intp,
    )
    return expl, X, maps, targets
