"""GradientSimilarity: the reference examples whose loss gradients look alike."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state, gen_even_slices
from sklearn.utils.validation import check_is_fitted

from ..base import (
    RESPONSE_METHODS,
    BaseExplainer,
    ExplainerMixin,
    _autograd_allowed,
    _progress,
    resolved_response_method,
    run_tasks,
)
from ..explanation import Explanation
from ..utils._sklearn_compat import Interval, Parallel, StrOptions

# alibi's names are aliases of ours.
_SIMILARITIES = {
    "dot": "dot",
    "cos": "cos",
    "asym_dot": "asym_dot",
    "grad_dot": "dot",
    "grad_cos": "cos",
    "grad_asym_dot": "asym_dot",
}
# How many of the most and least similar references ``explain`` returns.
_N_SHOWN = 5


class SimilarityExplanation(Explanation):
    """Similarity explanations: references ranked by similarity for each sample.

    Returned by :meth:`GradientSimilarity.explain`. Arrays are attributes and
    items, as for :class:`~skxai.explanation.Explanation`.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_ranked)
        Similarity of each sample to its ranked references, in decreasing order.
    ordered_indices : ndarray of shape (n_samples, n_ranked)
        Indices of the references in the reference set, most similar first.
    most_similar : ndarray of shape (n_samples, n_shown, *input_shape), default=None
        The most similar reference samples, most similar first.
    least_similar : ndarray of shape (n_samples, n_shown, *input_shape), default=None
        The least similar reference samples, least similar first.
    ref_labels : ndarray of shape (n_references,), default=None
        Labels of the whole reference set (index with ``ordered_indices``).
    ref_predictions : ndarray of shape (n_references,), default=None
        The model's predictions on the reference set.
    ref_index : ndarray of shape (n_references,), default=None
        Names of the references in :meth:`to_frame` (the reference
        DataFrame's index); their positions when None.
    **kwargs : dict
        Passed to :class:`~skxai.explanation.Explanation` (``predictions``,
        ``labels``, ``images``, ``index``, ``params``, ``explainer``,
        ``response_method``, extras).

    Examples
    --------
    >>> import numpy as np
    >>> from skxai.similarity import SimilarityExplanation
    >>> expl = SimilarityExplanation(
    ...     np.array([[0.9, 0.1]]), ordered_indices=np.array([[1, 0]]),
    ...     ref_labels=np.array([3, 5]), ref_predictions=np.array([3, 3]),
    ...     predictions=np.array([5]))
    >>> expl.to_frame()[["rank", "ref_index", "score", "ref_label"]]
       rank  ref_index  score  ref_label
    0     0          1    0.9          5
    1     1          0    0.1          3
    >>> expl.mean().loc[0].to_dict()
    {3: 0.1, 5: 0.9}
    """

    def __init__(
        self,
        scores,
        *,
        ordered_indices,
        most_similar=None,
        least_similar=None,
        ref_labels=None,
        ref_predictions=None,
        ref_index=None,
        **kwargs,
    ):
        super().__init__(
            None,
            scores=scores,
            ordered_indices=ordered_indices,
            most_similar=most_similar,
            least_similar=least_similar,
            ref_labels=ref_labels,
            ref_predictions=ref_predictions,
            ref_index=ref_index,
            **kwargs,
        )

    def __len__(self):
        return len(self.scores)

    def __repr__(self):
        name = self.explainer or "explainer"
        n, k = np.shape(self.scores)
        return f"SimilarityExplanation({name}, n_samples={n}, n_ranked={k})"

    def to_frame(self):
        """Return the rankings as a tidy long DataFrame.

        Returns
        -------
        frame : pandas.DataFrame
            One row per sample and rank, with columns ``sample`` (the input
            DataFrame's index when there was one), ``rank`` (0 is the most
            similar), ``ref_index`` (the reference DataFrame's index when
            there was one, else the position in the reference set), ``score``,
            ``ref_label``, ``ref_prediction``,
            ``sample_label`` (None without labels) and ``sample_prediction``.
        """
        order = np.asarray(self.ordered_indices)
        n, k = order.shape
        flat = order.reshape(-1)

        def per_ref(values):
            return None if values is None else np.asarray(values)[flat]

        def per_sample(values):
            return None if values is None else np.repeat(np.asarray(values), k)

        return pd.DataFrame(
            {
                "sample": np.repeat(self._sample_labels(), k),
                "rank": np.tile(np.arange(k), n),
                "ref_index": flat if self.ref_index is None else (
                    np.asarray(self.ref_index)[flat]
                ),
                "score": np.asarray(self.scores).reshape(-1),
                "ref_label": per_ref(self.ref_labels),
                "ref_prediction": per_ref(self.ref_predictions),
                "sample_label": per_sample(self.labels),
                "sample_prediction": per_sample(self.predictions),
            }
        )

    def mean(self, by=None):
        """Mean similarity to each reference class, per group of samples.

        Parameters
        ----------
        by : array-like of shape (n_samples,), default=None
            Group of each sample, e.g. its true or predicted class. ``None``
            puts all samples in one group ``0``.

        Returns
        -------
        frame : pandas.DataFrame
            One row per group and one column per reference label: the mean
            score of the group's samples to the references of that label (over
            the ranked references, all of them unless ``n_top`` was set).
        """
        n, k = np.shape(self.scores)
        by = np.zeros(n, dtype=int) if by is None else np.asarray(by)
        if by.shape != (n,):
            raise ValueError(
                f"'by' must give one group per sample ({n}); got an array of shape "
                f"{by.shape}."
            )
        frame = self.to_frame()
        frame["group"] = np.repeat(by, k)
        return frame.pivot_table(
            index="group", columns="ref_label", values="score", aggfunc="mean"
        )

    # Drawn by SimilarityDisplay; computing code never imports plotting.
    _display = "skxai.plotting:SimilarityDisplay"

    def plot(self, *, samples=None, n_shown=3, ax=None, **kwargs):
        """Show each sample beside its most and least similar references.

        Drawn by :class:`skxai.plotting.SimilarityDisplay` (needs matplotlib).

        Parameters
        ----------
        samples : int or sequence of int, default=None
            Which samples to show; by default the first 4 (the figure says how
            many more there are).
        n_shown : int, default=3
            How many most and least similar references to show.
        ax : array of matplotlib Axes, default=None
            Axes of shape ``(n_rows, 1 + 2 * n_shown)``; created if None.
        **kwargs : dict
            Passed to :meth:`SimilarityDisplay.from_explanation
            <skxai.plotting.SimilarityDisplay.from_explanation>` (``bars=True``
            adds the mean score per reference class, ``class_names``, ...).

        Returns
        -------
        display : SimilarityDisplay
            The display, with ``figure_`` and ``ax_``, as
            :meth:`Explanation.plot <skxai.explanation.Explanation.plot>`
            returns.
        """
        self._check_samples_to_plot()
        if self.images is None or self.most_similar is None:
            raise ValueError(
                "plot needs the samples and their most similar references."
            )
        kwargs.setdefault("bars", False)
        return self.display_class().from_explanation(
            self, samples=samples, k=n_shown, n_least=n_shown, ax=ax, **kwargs
        )


class GradientSimilarity(ExplainerMixin, BaseExplainer):
    """Rank reference examples by the similarity of their loss gradients.

    For a sample ``x`` with label ``y`` (its true label when given, the model's
    prediction otherwise), ``g(x)`` is the gradient of the loss with respect to
    the model's parameters. References similar to ``x`` "as the model sees it"
    are those with similar gradients (Charpiat et al., 2019; Hanawa et al.,
    2021). :meth:`fit` computes the per-example gradients of the reference set
    once, in batches, and stores them in an exact compact form: for a linear
    layer the input and the output gradient instead of their outer product, for
    a convolution the summed gradient or the per-position factors, whichever is
    smaller, without the coordinates that are zero for every reference (units
    that no reference activates, e.g. dead ReLU channels). The scores equal
    those of alibi's ``GradientSimilarity``, which stores every flattened
    gradient.

    Parameters
    ----------
    model : object
        The fitted model: a torch module, a skorch net, or a scikit-learn
        ``LogisticRegression`` / ``MLPClassifier`` (through its exact torch
        equivalent). It is explained, never refit or copied.
    similarity : {'dot', 'cos', 'asym_dot'}, default='dot'
        ``'dot'``: ``<g(x), g(r)>``; ``'cos'``: the cosine of the gradients;
        ``'asym_dot'``: ``<g(x), g(r)> / ||g(r)||^2``. alibi's names
        ``'grad_dot'``, ``'grad_cos'`` and ``'grad_asym_dot'`` are aliases.
        A zero gradient has similarity 0 under ``'cos'`` and ``'asym_dot'``.
    loss : 'cross_entropy' or callable, default='cross_entropy'
        Loss whose gradient is compared. ``'cross_entropy'`` is the model's
        own log-loss ``-log p_y``: the cross-entropy of the logits (softmax of
        the scores of ``response_method``), of the log-probabilities, or
        ``-log`` of the probabilities with ``'predict_proba'`` (no softmax of
        them). For a binary model with one logit ``z`` (a torch module or
        skorch ``NeuralNetBinaryClassifier`` with one output, a binary
        scikit-learn model), whose scores are ``[-z, z]``, it is
        ``BCEWithLogits(z, y)``, the cross-entropy of ``[-z/2, z/2]`` (that
        of ``[-z, z]`` would be the log-loss of ``sigmoid(2 z)``). A callable
        ``loss(scores, target)`` takes the model's output for
        ``response_method`` as a float tensor and the class indices ``target``
        (int64, shape ``(n,)``) and returns one loss per sample, shape
        ``(n,)``. The output has shape ``(n, n_classes)``, except the logits
        (``'auto'``, ``'decision_function'``) of a binary model with one
        logit: they are ``z`` itself (the decision function ``d`` of a binary
        scikit-learn model), shape ``(n, 1)``, not ``[-z, z]``, so that the
        loss the model was trained with applies as it is, e.g.
        ``lambda z, t: F.binary_cross_entropy_with_logits(z[:, 0],
        t.to(z.dtype), reduction='none')`` (the default). Its probabilities
        (``'predict_proba'``) and log-probabilities are ``[1 - p, p]`` and
        ``[log(1 - p), log p]``, shape ``(n, 2)``, as scikit-learn's.
    layers : 'all', 'last' or list of str, default='all'
        Parameters whose gradients are compared: all trainable parameters, those
        of the last module with parameters, or those of the named modules (names
        of ``module.named_modules()``, their submodules included). Parameters
        that do not require gradients are skipped.
    projection_dim : int, default=None
        If set, every stored factor or flat gradient longer than
        ``projection_dim`` is multiplied by a seeded Gaussian random matrix
        (for linear layers the input and the output gradient are projected
        separately, a Kronecker-structured projection of the full gradient).
        This saves memory for very large reference sets but makes the
        similarities **approximate** (unbiased inner products whose error
        shrinks like ``1 / sqrt(projection_dim)``).
    n_top : int, default=None
        Number of ranked references :meth:`transform` and :meth:`explain`
        return per sample; all of them when None. At most the number of
        references.
    eps : float, default=0.0
        Added to the denominators of ``'cos'`` (``||g(x)|| ||g(r)|| + eps``) and
        ``'asym_dot'`` (``||g(r)||^2 + eps``). 0 gives the exact similarities;
        ``eps=1e-7`` reproduces alibi's values, in which the ``eps`` dominates
        for references with tiny gradients (well-learnt examples).
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images, as the samples and references are shown. ``None``: a 2-D
        ``X`` is a table, N-D samples are images ``(height, width)`` or
        ``(channels, height, width)``.
    response_method : {'auto', 'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='auto'
        Model output the loss is computed on; ``'auto'`` is the pre-softmax
        scores.
    batch_size : int, default=128
        Number of samples whose gradients are computed at once.
    n_jobs : int, default=None
        Number of jobs to run in parallel. ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context. ``-1`` means using all
        processors.
    random_state : int, RandomState instance or None, default=None
        Seed of the random projection (used only with ``projection_dim``).
        Pass an int for reproducible output across multiple function calls.
    verbose : int, default=0
        Controls the verbosity: a progress bar on long work when positive.

    Attributes
    ----------
    X_ref_ : ndarray of shape (n_references, *input_shape)
        The reference samples.
    y_ref_ : ndarray of shape (n_references,)
        Their labels.
    ref_index_ : ndarray of shape (n_references,)
        Their names in :meth:`SimilarityExplanation.to_frame`: the index of a
        reference DataFrame, else their positions.
    ref_predictions_ : ndarray of shape (n_references,)
        The model's predictions on them.
    layers_ : list of str
        Names of the modules whose gradients are compared.
    nbytes_ : int
        Bytes of everything ``fit`` stores per reference for the similarities:
        the gradient representation (factors or flat gradients, without the
        columns that are zero for every reference), the indices of the kept
        columns, the squared norms, the projection matrices, ``y_ref_`` and
        ``ref_predictions_``. ``X_ref_`` (the samples as given, kept for
        ``most_similar``) is not counted; its size is ``X_ref_.nbytes``.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    n_features_in_ : int
        Number of features per sample.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.

    See Also
    --------
    skxai.saliency.Saliency : Gradients with respect to the input instead.

    Notes
    -----
    For an ``nn.Linear`` layer with input ``a`` and output gradient ``delta``,
    the per-example weight gradient is ``delta a^T``, so
    ``<g_i, g_j> = (delta_i . delta_j)(a_i . a_j)`` and only ``a`` and ``delta``
    are stored. For an ``nn.Conv2d`` layer the gradient is
    ``sum_p delta_p a_p^T`` over output positions. Other modules with
    parameters fall back to :mod:`torch.func` per-sample gradients. ``fit``
    takes one forward and one backward per batch (the backward stops at the
    layers' outputs; no summed parameter gradient is formed); the model is put
    in eval mode. A stored coordinate that is zero for every reference adds
    nothing to any inner product with a reference, so it is dropped; a query's
    norm (``'cos'``) is taken on its whole gradient before the cut, so the
    similarities stay exact.

    The identical-class test (:meth:`score`) is the share of samples whose most
    similar reference has the class the model predicts for them (Hanawa et al.,
    2021).

    References
    ----------
    .. [1] G. Charpiat, N. Girard, L. Felardos and Y. Tarabalka, "Input
       Similarity from the Neural Network Perspective", NeurIPS 2019.
    .. [2] K. Hanawa, S. Yokoi, S. Hara and K. Inui, "Evaluation of Similarity-
       based Explanations", ICLR 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import GradientSimilarity
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X[:500], y[:500])
    >>> gs = GradientSimilarity(clf, similarity="cos", n_top=3).fit(X[:300], y[:300])
    >>> gs.transform(X[500:502]).shape
    (2, 3)
    >>> ex = gs.explain(X[500:502])
    >>> ex.scores.shape, ex.most_similar.shape
    ((2, 3), (2, 5, 64))
    >>> bool(gs.score(X[500:600]) > 0.5)
    True
    """

    _parameter_constraints = {
        **{
            key: value
            for key, value in BaseExplainer._parameter_constraints.items()
            if key != "target"
        },
        "similarity": [StrOptions(set(_SIMILARITIES))],
        "loss": [StrOptions({"cross_entropy"}), callable],
        "layers": [StrOptions({"all", "last"}), list, tuple],
        "projection_dim": [Interval(Integral, 1, None, closed="left"), None],
        "n_top": [Interval(Integral, 1, None, closed="left"), None],
        "eps": [Interval(Real, 0, None, closed="left")],
        "image_shape": [tuple, list, None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
        "random_state": ["random_state"],
    }
    _gradient_based = True
    _parallel_prefer = "threads"

    def __init__(
        self,
        model,
        *,
        similarity="dot",
        loss="cross_entropy",
        layers="all",
        projection_dim=None,
        n_top=None,
        eps=0.0,
        image_shape=None,
        response_method="auto",
        batch_size=128,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.similarity = similarity
        self.loss = loss
        self.layers = layers
        self.projection_dim = projection_dim
        self.n_top = n_top
        self.eps = eps
        self.image_shape = image_shape
        self.response_method = response_method
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _check_target_param(self):
        """No ``target``: the label of a gradient is ``y`` or the prediction."""

    # -------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Compute and store the per-example gradients of the reference set.

        Parameters
        ----------
        X : array-like of shape (n_references, n_features) or \
                (n_references, *input_shape)
            Reference samples, as the model takes them.
        y : array-like of shape (n_references,)
            Their labels (required): each reference's gradient is taken at its
            own label.

        Returns
        -------
        self : object
            The fitted explainer.
        """
        index = getattr(X, "index", None)
        super().fit(X, y)
        self.ref_index_ = (
            np.arange(len(self.X_ref_)) if index is None else np.asarray(index)
        )
        return self

    def _fit(self, X, y):
        from ..models._adapters import _module_dtype
        from ._store import build_plan, compact, nbytes, to_tensor

        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None. "
                "fit needs the reference labels: call fit(X_ref, y_ref); each "
                "reference's gradient is taken at its own label."
            )
        y = self._validate_y(y, len(X))
        y_idx = self._label_indices(y, "y")
        if self.n_top is not None and self.n_top > len(X):
            raise ValueError(
                f"The 'n_top' parameter of {name} must be at most the number of "
                f"reference samples ({len(X)}). Got {self.n_top}."
            )
        forward, module, device = self.adapter_.torch_forward(self.response_method_)
        self._dtype = _module_dtype(module)
        x_probe = to_tensor(X[:1], self._dtype, device)
        self.plans_ = build_plan(
            forward, module, x_probe, self.layers, name, self.projection_dim,
            check_random_state(self.random_state),
        )
        self.layers_ = [plan.name for plan in self.plans_]
        # The probe forward has shown the output: one logit z of a binary model
        # is scored [-z, z], whose cross-entropy is not the model's log-loss.
        self._single_logit = bool(self.adapter_.single_logit)
        # Batches are written into preallocated arrays as they arrive, so the
        # peak memory is the store plus one batch.
        store, sqnorm, pred = None, np.empty(len(X)), np.empty(len(X), dtype=int)
        slices, results = self._map_batches(self._collect_batch, X, y_idx, lazy=True)
        for s, (reps, batch_sqnorm, batch_pred) in zip(slices, results):
            if store is None:
                store = [
                    tuple(np.empty((len(X), *a.shape[1:]), a.dtype) for a in layer)
                    for layer in reps
                ]
            for arrays, batch in zip(store, reps):
                for array, part in zip(arrays, batch):
                    array[s] = part
            sqnorm[s], pred[s] = batch_sqnorm, batch_pred
        # Columns zero for every reference add nothing to any similarity.
        self.store_, self.ref_sqnorm_ = compact(self.plans_, store), sqnorm
        self.X_ref_ = X
        self.y_ref_ = y
        self.ref_predictions_ = np.asarray(self.classes_)[pred]
        extras = sum(
            m.nbytes
            for plan in self.plans_
            for m in (plan.proj_a, plan.proj_delta, plan.proj, *(plan.keep or ()))
            if m is not None
        )
        self.nbytes_ = (
            nbytes(self.store_) + extras + self.ref_sqnorm_.nbytes
            + np.asarray(self.y_ref_).nbytes + self.ref_predictions_.nbytes
        )
        return self

    # ------------------------------------------------------------- internals
    def _label_indices(self, y, name):
        """Class indices of labels ``y``, or a clear error for unknown ones."""
        classes = np.asarray(self.classes_)
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        try:
            return np.array([lookup[v] for v in y.tolist()], dtype=np.int64)
        except (KeyError, TypeError):
            unknown = sorted(
                {v for v in y.tolist() if _safe_lookup(lookup, v) is None}, key=str
            )
            raise ValueError(
                f"{name} holds labels that the model explained by "
                f"{type(self).__name__} does not know: {unknown[:10]}. The model's "
                f"classes are {classes.tolist()}."
            ) from None

    def _map_batches(self, fn, X, y_idx, lazy=False):
        """Apply ``fn(X_batch, y_batch)`` to batches of at most ``batch_size``.

        Returns the list of results, or ``(slices, generator)`` when ``lazy``
        (consumed in ``_fit``, which leaves a caller's inference mode).
        """
        if not lazy:
            with _autograd_allowed():
                return list(self._map_batches(fn, X, y_idx, lazy=True)[1])
        n = len(X)
        n_tasks = max(1, -(-n // self.batch_size))
        if self.n_jobs not in (None, 1):
            from joblib import effective_n_jobs

            n_tasks = max(n_tasks, min(n, effective_n_jobs(self.n_jobs)))
        slices = list(gen_even_slices(n, n_tasks)) if n else [slice(0, 0)]
        if len(slices) == 1:  # one task: no dispatch overhead
            s = slices[0]
            results = iter([fn(X[s], None if y_idx is None else y_idx[s])])
            return slices, results
        parallel = Parallel(
            n_jobs=self.n_jobs, prefer=self._parallel_prefer, return_as="generator"
        )
        results = run_tasks(
            parallel,
            fn,
            [(X[s], None if y_idx is None else y_idx[s]) for s in slices],
        )
        results = _progress(results, len(slices), self.verbose, type(self))
        return slices, results

    def _collect_batch(self, X, y_idx, numpy=True):
        from ._store import collect

        forward, module, device = self.adapter_.torch_forward(self.response_method_)
        return collect(
            self.plans_, forward, module, X, y_idx,
            loss=self._loss_function(),
            caller=type(self).__name__, dtype=self._dtype, device=device,
            numpy=numpy,
        )

    def _loss_function(self):
        """The per-sample loss; None for the plain cross-entropy of the scores.

        ``'cross_entropy'`` is the model's own log-loss ``-log p_y`` whatever
        the response method. For a binary model with one logit ``z`` explained
        on its logits, the scores are ``[-z, z]`` and the log-loss is the
        cross-entropy of ``[-z/2, z/2]`` (``BCEWithLogits(z, y)``).
        Probabilities are taken as they are (no softmax of them);
        log-probabilities need nothing, their softmax is the probabilities.
        A callable is given ``z`` itself, not ``[-z, z]``.
        """
        from ._store import of_logit, probability_loss, single_logit_loss

        single_logit = (
            self._single_logit and self.response_method_ == "decision_function"
        )
        if self.loss != "cross_entropy":
            return of_logit(self.loss) if single_logit else self.loss
        if self.response_method_ == "predict_proba":
            return probability_loss
        if single_logit:
            return single_logit_loss
        return None

    def _similarity_batch(self, X, y_idx):
        from ._store import gram, select

        reps, sqnorm, pred = self._collect_batch(X, y_idx, numpy=False)
        K = gram(self.plans_, select(self.plans_, reps), self.store_)
        kind = _SIMILARITIES[self.similarity]
        if kind == "dot":
            return K, pred
        if kind == "asym_dot":
            denom = np.broadcast_to(self.ref_sqnorm_ + self.eps, K.shape)
        else:
            denom = np.sqrt(np.outer(sqnorm, self.ref_sqnorm_)) + self.eps
        out = np.zeros_like(K)
        np.divide(K, denom, out=out, where=denom > 0)
        return out, pred

    def _similarities(self, X, y):
        """Validated ``X`` and ``y``, the similarity matrix and the predictions."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        y = self._validate_y(y, len(X))
        y_idx = None if y is None else self._label_indices(y, "y")
        if len(X) == 0:
            return X, y, np.empty((0, len(self.X_ref_))), np.empty(0, dtype=int)
        results = self._map_batches(self._similarity_batch, X, y_idx)
        S = np.concatenate([r[0] for r in results])
        pred = np.concatenate([r[1] for r in results])
        return X, y, S, pred

    def _n_ranked(self):
        return len(self.X_ref_) if self.n_top is None else self.n_top

    # ------------------------------------------------------------ public API
    def transform(self, X, y=None):
        """Rank the reference set for each sample, most similar first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            Labels at which the samples' gradients are taken; the model's
            predictions when None.

        Returns
        -------
        ranking : ndarray of shape (n_samples, n_top or n_references)
            Indices into the reference set, most similar first.
        """
        _, _, S, _ = self._similarities(X, y)
        return _rank(S, self._n_ranked())

    def explain(self, X, y=None):
        """Explain samples by their most and least similar references.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            Labels at which the samples' gradients are taken; the model's
            predictions when None.

        Returns
        -------
        explanation : SimilarityExplanation
            ``scores`` and ``ordered_indices`` of shape ``(n_samples, n_ranked)``
            (decreasing similarity), ``most_similar`` and ``least_similar`` (the
            5 most and least similar reference samples, shaped like ``X``), the
            reference labels ``ref_labels`` and predictions ``ref_predictions``,
            the samples' ``predictions`` and ``labels``, their ``layout``
            (a table's feature names) and ``response_method``, the model output
            the loss is computed on (``'auto'`` resolved).
        """
        index = getattr(X, "index", None)
        X, y, S, pred = self._similarities(X, y)
        k, n_ref = self._n_ranked(), len(self.X_ref_)
        n_shown = min(_N_SHOWN, n_ref)
        order = _rank(S, max(k, n_shown))
        if k == n_ref:
            least = order[:, ::-1][:, :n_shown]
        else:  # only the first k are sorted: the least similar apart
            least = _rank_least(S, n_shown)
        return SimilarityExplanation(
            np.take_along_axis(S, order[:, :k], axis=1),
            ordered_indices=order[:, :k],
            most_similar=self.X_ref_[order[:, :n_shown]],
            least_similar=self.X_ref_[least],
            ref_labels=self.y_ref_,
            ref_predictions=self.ref_predictions_,
            ref_index=self.ref_index_,
            predictions=np.asarray(self.classes_)[pred],
            labels=y,
            images=X,
            index=index,
            layout=self.layout_,
            params=self.get_params(deep=False),
            explainer=type(self).__name__,
            # The model output the loss is taken on, so that plots name it.
            response_method=resolved_response_method(self),
        )

    def score(self, X, y=None):
        """Identical-class test: share of samples explained by their own class.

        The share of samples whose most similar reference has, as its label, the
        class the model predicts for the sample (Hanawa et al., 2021). Higher is
        better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples.
        y : array-like of shape (n_samples,), default=None
            Labels at which the samples' gradients are taken; the model's
            predictions when None.

        Returns
        -------
        score : float
            The identical-class rate, in [0, 1].
        """
        _, _, S, pred = self._similarities(X, y)
        if len(S) == 0:
            return float("nan")
        top = S.argmax(axis=1)
        return float(np.mean(self.y_ref_[top] == np.asarray(self.classes_)[pred]))

    def get_feature_names_out(self, input_features=None):
        """Names of the ranking columns :meth:`transform` returns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored: the columns are ranks, not input features.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``rank0, rank1, ...``.
        """
        check_is_fitted(self)
        return np.asarray([f"rank{i}" for i in range(self._n_ranked())], dtype=object)


def _safe_lookup(lookup, value):
    try:
        return lookup.get(value)
    except TypeError:
        return None



def _rank(S, k):
    """The ``k`` columns of largest ``S`` per row, in decreasing order.

    Ties are broken by the smaller column index, as a stable sort of ``-S``
    does. When ``k`` is small only the first ``k`` are sorted
    (:func:`numpy.argpartition`); rows with a tie across the ``k``-th place
    fall back to the full stable sort.
    """
    n = S.shape[1]
    if k >= n or 4 * k > n:
        return np.argsort(-S, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-S, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(S, part, axis=1)
    top = np.take_along_axis(part, np.lexsort((part, -vals), axis=1), axis=1)
    ties = (S >= vals.min(axis=1, keepdims=True)).sum(axis=1) > k
    if ties.any():
        top[ties] = np.argsort(-S[ties], axis=1, kind="stable")[:, :k]
    return top


def _rank_least(S, k):
    """The ``k`` columns of smallest ``S`` per row, least similar first.

    The reverse of the full stable order of :func:`_rank` (among ties, the
    larger column index first).
    """
    n = S.shape[1]
    return n - 1 - _rank(-S[:, ::-1], k)
