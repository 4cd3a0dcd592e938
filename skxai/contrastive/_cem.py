"""CEM: the Contrastive Explanation Method (pertinent positives and negatives)."""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..explanation import Explanation
from ..utils._optional import import_optional
from ..utils._sklearn_compat import Interval, StrOptions

HISTORY_COLUMNS = (
    "iteration",
    "c_step",
    "c",
    "loss",
    "attack",
    "l1",
    "l2",
    "ae",
    "valid",
)
# Random directions per step of the zeroth-order gradient estimate.
_N_DIRECTIONS = 16
# Consecutive c steps that do not improve a found solution before the search stops
# (2 stops PPs early: their bisection between 10^k and 10^(k+1) needs more steps).
_C_PATIENCE = 3
_C_UPPER = 1e10
# FISTA anneals the step size of a stalled c step to 0 over
# ``max(patience, max_iter // _ANNEAL_DIV)`` steps.
_ANNEAL_DIV = 10
# Bisection steps of the final shrinking of each best point (factor in [0, 1]).
_POLISH_SCALE_STEPS = 12
# Supports of at most this many coordinates are pruned greedily by the polish,
# with this many bisection steps of the scale of each candidate.
_PRUNE_MAX_SUPPORT = 8
_POLISH_PRUNE_STEPS = 16


class ContrastiveExplanation(Explanation):
    """Pertinent positives or negatives of a set of samples, returned by CEM.

    An :class:`~skxai.explanation.Explanation` whose ``maps`` are the deltas (so
    saliency plots work), with the contrastive results as named arrays.

    Parameters
    ----------
    maps : ndarray of shape (n_samples, 1, *image_shape), default=None
        The deltas, as attribution maps.
    **kwargs : dict
        The other named results, see Attributes.

    Attributes
    ----------
    delta : ndarray of shape (n_samples, *image_shape)
        The pertinent negative (what is added to the sample) or the pertinent
        positive (the part of the sample that alone keeps its class). NaN where
        ``found`` is False.
    found : ndarray of bool of shape (n_samples,)
        Whether a valid PN (the class changes) or PP (the class is kept) was
        reached.
    original_class : ndarray of shape (n_samples,)
        The class explained (the model's prediction by default).
    new_class : ndarray of shape (n_samples,)
        The model's class for ``x + delta`` (PN) or ``delta`` (PP); where ``found``
        is False it repeats ``original_class``.
    savepoints : dict of {int: ndarray of shape (n_samples, *image_shape)}
        Each sample's best valid delta after its first ``iteration`` optimiser
        steps (NaN while none was valid); empty unless ``save_freq`` was set.
    history : pandas.DataFrame
        One row per sample and optimiser step: ``sample``, ``iteration``,
        ``c_step``, ``c``, ``loss``, ``attack``, ``l1``, ``l2``, ``ae`` and
        ``valid``, measured at the point where the model was evaluated.

    Examples
    --------
    >>> import numpy as np
    >>> from skxai.contrastive import ContrastiveExplanation
    >>> ex = ContrastiveExplanation(maps=np.zeros((2, 1, 2, 2)),
    ...                             found=np.array([True, False]))
    >>> ex.found_rate
    0.5
    """

    @property
    def mode(self):
        """``"pn"`` or ``"pp"``: which explanation the deltas are."""
        return self.params.get("mode", "pn")

    @property
    def found_rate(self):
        """Share of samples with a valid explanation."""
        found = np.asarray(getattr(self, "found", []), dtype=bool)
        return float(found.mean()) if found.size else float("nan")

    def plot(self, *, samples=None, ax=None, **kwargs):
        """Plot the originals, deltas and savepoints with ContrastiveDisplay.

        Parameters
        ----------
        samples : int or sequence of int, default=None
            Which samples to show; by default the first (at most 4).
        ax : array of matplotlib Axes, default=None
            Axes to draw on; created if None.
        **kwargs : dict
            Passed to :meth:`skxai.plotting.ContrastiveDisplay.from_explanation`.

        Returns
        -------
        display : skxai.plotting.ContrastiveDisplay
        """
        from ..plotting import ContrastiveDisplay

        return ContrastiveDisplay.from_explanation(
            self, samples=samples, ax=ax, **kwargs
        )


class CEM(ExplainerMixin, BaseExplainer):
    """Contrastive explanations: pertinent negatives and pertinent positives.

    For each sample ``x`` of class ``t0``, the pertinent negative (PN) is a small,
    sparse addition ``delta`` that changes the model's class; the pertinent
    positive (PP) is a small, sparse part ``delta`` of ``x`` that alone keeps
    it (Dhurandhar et al., 2018). All samples of a chunk are optimised together
    in one torch tensor, each with its own constant ``c``, iteration count and
    stopping state; finished samples leave the batch.

    Torch modules, skorch nets and scikit-learn linear models and MLPs (through
    their exact torch equivalent) are differentiated exactly. Any other model
    (other scikit-learn classifiers, callables) gets a seeded zeroth-order
    gradient estimate from its scores: correct but slow, ``17`` model
    evaluations per sample and step.

    Parameters
    ----------
    model : object
        The fitted model to explain: a scikit-learn classifier or Pipeline, a
        skorch ``NeuralNet``, a ``torch.nn.Module``, or a callable returning class
        scores.
    mode : {'pn', 'pp'}, default='pn'
        Find pertinent negatives or pertinent positives.
    kappa : float, default=0.0
        Confidence margin: a PN must make another class win by more than
        ``kappa``, a PP must keep ``t0`` ahead by more than ``kappa``.
    beta : float, default=0.1
        Weight of ``|delta|_1`` (sparsity).
    gamma : float, default=0.0
        Weight of the autoencoder reconstruction error; needs ``autoencoder``.
    c_init : float, default=10.0
        Initial weight ``c`` of the classification term.
    c_steps : int, default=10
        Most values of ``c`` tried per sample (bisection, as in alibi).
    max_iter : int, default=1000
        Most optimiser steps per value of ``c``.
    learning_rate : float, default=1e-2
        Initial step size (FISTA: decayed as ``sqrt(1 - k / max_iter)``;
        AdaExpGrad: ``1 / eta``, values near 1 are typical).
    optimizer : {'fista', 'adaexpgrad'}, default='fista'
        Projected FISTA with l1 shrinkage (the paper, alibi) or the adaptive
        exponentiated gradient of MAXi with a corrected elastic-net step.
    feature_range : tuple of (float or array-like, float or array-like), \
default=None
        ``(min, max)`` of the features, scalars or arrays broadcast to the input
        shape. By default the minimum and maximum of the reference set (and of
        ``no_info``).
    no_info : float, 'mean' or array-like, default=0.0
        The value of a feature that carries no information: a PP lies between it
        and ``x``, a PN moves features away from it. ``'mean'`` is the per-feature
        mean of the reference set.
    autoencoder : None, 'pca' or torch.nn.Module, default=None
        Autoencoder of the reconstruction term: a PCA learned in :meth:`fit`, or
        a module mapping inputs to inputs of the same shape.
    n_components : int or float, default=0.95
        Components (or share of variance) of the PCA autoencoder.
    save_freq : int, default=None
        Keep savepoints every ``save_freq`` optimiser steps; None keeps none.
    tol : float, default=1e-3
        Relative improvement that counts as progress for early stopping.
    patience : int, default=40
        Steps without progress after which a sample ends its current ``c`` step
        (with FISTA, after first annealing its step size to 0 over
        ``max(patience, max_iter // 10)`` more steps).
        None disables early stopping: every sample runs all ``c_steps *
        max_iter`` steps, as alibi does.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        The scores ``f`` of the loss; ``'auto'`` takes pre-softmax scores where
        the model has them.
    target : 'predicted', 'true', int or array-like, default='predicted'
        The class ``t0`` that a PN must leave and a PP must keep.
    image_shape : tuple of int, default=None
        Shape of one sample as an image, for plots; inferred when square.
    batch_size : int, default=256
        Most samples optimised together in one tensor.
    n_jobs : int, default=None
        Number of jobs to run in parallel. ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context. ``-1`` means using all
        processors.
    random_state : int, RandomState instance or None, default=None
        Controls the randomness of the zeroth-order gradient estimate.
        Pass an int for reproducible output across multiple function calls.
    verbose : int, default=0
        Controls the verbosity.

    Attributes
    ----------
    feature_range_ : tuple of (float or ndarray, float or ndarray)
        The bounds used.
    no_info_ : ndarray of shape input_shape_
        The no-information value of each feature.
    autoencoder_ : object or None
        The autoencoder used (a fitted ``PCAAutoencoder`` for ``'pca'``).
    gradient_ : {'autograd', 'zeroth-order'}
        How the model is differentiated.
    response_method_ : str
        The model output explained.
    classes_, input_shape_, image_shape_, n_features_in_, adapter_
        See :class:`~skxai.base.BaseExplainer`.

    See Also
    --------
    skxai.plotting.ContrastiveDisplay : Plots PPs and PNs with savepoints.

    Notes
    -----
    With ``f`` the scores, ``t0`` the explained class and ``m(u) = f_t0(u) -
    max_{i != t0} f_i(u)``, CEM minimises over ``delta`` in its box

    - PN: ``c * max(m(x + delta), -kappa) + beta |delta|_1 + |delta|_2^2 +
      gamma |x + delta - AE(x + delta)|_2^2`` with ``delta`` moving features
      away from ``no_info`` and ``x + delta`` inside ``feature_range``;
    - PP: ``c * max(-m(delta), -kappa) + beta |delta - no_info|_1 +
      |delta - no_info|_2^2 + gamma |delta - AE(delta)|_2^2`` with ``delta``
      between ``no_info`` and ``x``.

    The best valid point (smallest elastic-net distance plus reconstruction
    term) over all steps and values of ``c`` is returned. A value of ``c`` that
    found a valid point is halved towards the largest failing one (bisection),
    one that did not is multiplied by 10 until one succeeds. A sample ends a
    ``c`` step after ``patience`` steps without progress (FISTA first anneals
    its step size to 0, where the fixed l1 threshold shrinks the iterate, as in
    the last steps of a full run) and its search after three ``c`` steps in a
    row that do not improve its best point; a FISTA ``c`` step whose first
    iterate is still zero ends at once (the step size only decays, so it would
    never move).

    The best point of each sample is finally shrunk while it stays valid, with
    forward passes only: bisections on a soft threshold of all its coordinates,
    on a factor towards zero, and on how many of its smallest coordinates are
    set to zero. Each stage keeps a valid point and lowers ``|delta|_1`` and
    ``|delta|_2``, so the result is never larger than the best iterate; it lies
    (up to the bisection tolerance) on the model's decision boundary. Supports
    of at most 8 coordinates (typical of PPs) are then pruned greedily: each
    coordinate in turn is set to zero and the others scaled up (within the box)
    by the smallest valid factor; the candidate of smallest ``|delta|_1`` is
    kept while it lowers ``|delta|_1`` and its elastic-net size stays within
    that of the best iterate.

    FISTA's shrinkage threshold is ``beta`` itself, as in the paper (eq. 5) and
    alibi, not ``learning_rate * beta``.

    References
    ----------
    .. [1] A. Dhurandhar et al., "Explanations based on the Missing: Towards
       Contrastive Explanations with Pertinent Negatives", NeurIPS 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import CEM
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X[:300] / 16
    >>> clf = LogisticRegression(max_iter=200).fit(X, y[:300])
    >>> cem = CEM(clf, c_steps=2, max_iter=100, patience=20).fit(X)
    >>> ex = cem.explain(X[:2])
    >>> ex.delta.shape, ex.found.tolist()
    ((2, 8, 8), [True, True])
    >>> pn = ex.delta.reshape(2, -1)
    >>> (clf.predict(X[:2] + pn) != ex.original_class).tolist()
    [True, True]
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "mode": [StrOptions({"pn", "pp"})],
        "kappa": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "c_init": [Interval(Real, 0, None, closed="neither")],
        "c_steps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"fista", "adaexpgrad"})],
        "feature_range": [None, tuple, list],
        "no_info": [Real, StrOptions({"mean"}), "array-like"],
        "autoencoder": [None, StrOptions({"pca"}), callable],
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "save_freq": [None, Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "patience": [None, Interval(Integral, 1, None, closed="left")],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
        "image_shape": [None, tuple, list],
        "random_state": ["random_state"],
    }
    _parallel_prefer = "threads"

    def __init__(
        self,
        model,
        *,
        mode="pn",
        kappa=0.0,
        beta=0.1,
        gamma=0.0,
        c_init=10.0,
        c_steps=10,
        max_iter=1000,
        learning_rate=1e-2,
        optimizer="fista",
        feature_range=None,
        no_info=0.0,
        autoencoder=None,
        n_components=0.95,
        save_freq=None,
        tol=1e-3,
        patience=40,
        response_method="auto",
        target="predicted",
        image_shape=None,
        batch_size=256,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.mode = mode
        self.kappa = kappa
        self.beta = beta
        self.gamma = gamma
        self.c_init = c_init
        self.c_steps = c_steps
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.feature_range = feature_range
        self.no_info = no_info
        self.autoencoder = autoencoder
        self.n_components = n_components
        self.save_freq = save_freq
        self.tol = tol
        self.patience = patience
        self.response_method = response_method
        self.target = target
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -------------------------------------------------------------------- fit
    def _fit(self, X, y):
        import_optional("torch", "CEM")
        name = type(self).__name__
        if isinstance(self.target, str) and self.target == "all":
            raise ValueError(
                f"The 'target' parameter of {name} must name one class per sample "
                "('predicted', 'true', a class or a sequence); got 'all'. Explain "
                "each class with its own CEM instead."
            )
        adapter = self.adapter_
        self.response_method_ = adapter.resolve_response_method(
            self.response_method, gradients=True
        )
        self.gradient_ = "zeroth-order"
        if adapter.supports_gradients:
            try:
                adapter.torch_forward(self.response_method_)
                self.gradient_ = "autograd"
            except (TypeError, NotImplementedError):
                pass
        if self.gradient_ == "zeroth-order":
            self.response_method_ = adapter.resolve_response_method(
                self.response_method
            )
        no_info = self._no_info_values(X)
        self.feature_range_ = self._check_feature_range(X, no_info)
        self._check_in_range(X, "the reference set X given to fit")
        self.no_info_ = self._check_no_info(no_info)
        self.autoencoder_ = self._check_autoencoder(X)

    def _check_feature_range(self, X, no_info):
        name = type(self).__name__
        if self.feature_range is None:
            return (
                float(min(X.min(), no_info.min())),
                float(max(X.max(), no_info.max())),
            )
        if len(self.feature_range) != 2:
            raise ValueError(
                f"The 'feature_range' parameter of {name} must be a (min, max) "
                f"pair; got {self.feature_range!r}."
            )
        bounds = []
        for value in self.feature_range:
            arr = np.asarray(value, dtype=np.float64)
            if arr.ndim == 0:
                bounds.append(float(arr))
                continue
            try:
                bounds.append(np.broadcast_to(arr, self.input_shape_).copy())
            except ValueError as exc:
                raise ValueError(
                    f"The bounds in 'feature_range' of {name} must be scalars or "
                    f"arrays broadcastable to the input shape {self.input_shape_}; "
                    f"got shape {arr.shape}."
                ) from exc
        lo, hi = bounds
        if not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
            raise ValueError(f"The 'feature_range' parameter of {name} must be finite.")
        if np.any(np.asarray(lo) > np.asarray(hi)):
            raise ValueError(
                f"The 'feature_range' parameter of {name} must have min <= max; "
                f"got {self.feature_range!r}."
            )
        return lo, hi

    def _flat_range(self):
        n_features = self.n_features_in_
        lo, hi = self.feature_range_
        return (
            np.broadcast_to(
                np.asarray(lo, dtype=np.float64), self.input_shape_
            ).reshape(n_features),
            np.broadcast_to(
                np.asarray(hi, dtype=np.float64), self.input_shape_
            ).reshape(n_features),
        )

    def _check_in_range(self, X, what="X"):
        if len(X) == 0:
            return
        lo, hi = self._flat_range()
        flat = X.reshape(len(X), -1)
        below, above = flat < lo, flat > hi
        if below.any() or above.any():
            raise ValueError(
                f"The 'feature_range' of {type(self).__name__} must contain "
                f"{what}: its values span [{flat.min():.6g}, {flat.max():.6g}] but "
                f"the range is {_describe_range(self.feature_range_)}. Widen "
                "'feature_range' (or leave it None to learn it in fit)."
            )

    def _no_info_values(self, X):
        if isinstance(self.no_info, str):
            return X.mean(axis=0)
        arr = np.asarray(self.no_info, dtype=np.float64)
        try:
            return np.broadcast_to(arr, self.input_shape_).copy()
        except ValueError as exc:
            raise ValueError(
                f"The 'no_info' parameter of {type(self).__name__} must be a number, "
                "'mean' or an array broadcastable to the input shape "
                f"{self.input_shape_}; got shape {arr.shape}."
            ) from exc

    def _check_no_info(self, no_info):
        name = type(self).__name__
        if not np.all(np.isfinite(no_info)):
            raise ValueError(f"The 'no_info' parameter of {name} must be finite.")
        lo, hi = self._flat_range()
        flat = no_info.reshape(-1)
        if np.any(flat < lo) or np.any(flat > hi):
            raise ValueError(
                f"The 'no_info' value of {name} must lie inside feature_range "
                f"{_describe_range(self.feature_range_)}; got values in "
                f"[{flat.min():.6g}, {flat.max():.6g}]."
            )
        return no_info

    def _check_autoencoder(self, X):
        name = type(self).__name__
        if self.autoencoder is None:
            if self.gamma > 0:
                raise ValueError(
                    f"The 'gamma' parameter of {name} is {self.gamma!r} > 0, which "
                    "weighs an autoencoder's reconstruction error, but "
                    "autoencoder=None. Set autoencoder='pca' or a torch module, or "
                    "gamma=0."
                )
            return None
        if isinstance(self.autoencoder, str):
            from ._autoencoder import PCAAutoencoder

            return PCAAutoencoder(self.n_components).fit(X)
        import torch

        module = self.autoencoder
        dtype = _module_dtype(module) if isinstance(module, torch.nn.Module) else None
        sample = torch.as_tensor(X[:1], dtype=dtype or torch.float32)
        try:
            with torch.no_grad():
                out = module(sample.to(_module_device(module)))
        except Exception as exc:
            raise ValueError(
                f"The 'autoencoder' of {name} failed on an input of shape "
                f"{tuple(sample.shape)}: {exc}"
            ) from exc
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(sample.shape):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
            raise ValueError(
                f"The 'autoencoder' of {name} must return outputs shaped like its "
                f"inputs {tuple(sample.shape)}; got {got}."
            )
        return module

    def _inputs_per_sample(self):
        if getattr(self, "gradient_", "autograd") == "zeroth-order":
            return _N_DIRECTIONS + 1
        return 1

    # ------------------------------------------------------------ explaining
    def explain(self, X, y=None):
        """Find the PN or PP of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them, inside ``feature_range_``.
        y : array-like of shape (n_samples,), default=None
            True labels, needed by ``target="true"``.

        Returns
        -------
        explanation : ContrastiveExplanation
            ``delta``, ``found``, ``original_class``, ``new_class``,
            ``savepoints`` and ``history``; ``maps`` holds the deltas.
        """
        check_is_fitted(self)
        self._check_in_range(self._validate_X(X, reset=False))
        ex = super().explain(X, y)
        n = len(ex.maps)
        shape = tuple(self.image_shape_)
        attrs = {k: v for k, v in vars(ex).items() if not k.startswith("_")}
        attrs["delta"] = np.asarray(ex.delta).reshape((n, *shape))
        classes = np.asarray(self.classes_)
        attrs["original_class"] = classes[np.asarray(ex.original_class, dtype=int)]
        attrs["new_class"] = classes[np.asarray(ex.new_class, dtype=int)]
        attrs["found"] = np.asarray(ex.found, dtype=bool)
        savepoints = {}
        if self.save_freq is not None:
            saved = np.asarray(ex.savepoints)
            for j, key in enumerate(self._savepoint_keys()):
                savepoints[key] = saved[:, j].reshape((n, *shape))
        attrs["savepoints"] = savepoints
        attrs["history"] = _history_frame(ex.history, ex._sample_labels())
        n_missing = int((~attrs["found"]).sum())
        if n_missing:
            warnings.warn(
                f"{type(self).__name__} found no valid {self.mode.upper()} for "
                f"{n_missing} of {n} samples; their delta is NaN and found=False. "
                "Raise max_iter, c_steps or c_init.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return ContrastiveExplanation(**attrs)

    def score(self, X, y=None):
        """Share of valid explanations, each discounted by its relative size.

        Each sample scores ``1 - |delta|_1 / room`` when a valid explanation was
        found and 0 otherwise, where ``room`` is the l1 size of the largest change
        the bounds allow (for a PN, up to the edge of ``feature_range``; for a
        PP, all of ``x - no_info``) and ``delta`` is measured from ``0`` (PN) or
        ``no_info`` (PP). Higher is better; 1 is an empty valid explanation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples to explain.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.

        Returns
        -------
        score : float
            Mean over the samples, in [0, 1].
        """
        ex = self.explain(X, y)
        Xv = self._validate_X(X, reset=False)
        if len(Xv) == 0:
            return float("nan")
        flat = Xv.reshape(len(Xv), -1)
        lower, upper = self._delta_bounds(flat)
        delta = ex.delta.reshape(len(flat), -1)
        if self.mode == "pp":
            delta = delta - self.no_info_.reshape(1, -1)
        room = (upper - lower).sum(axis=1)
        size = np.abs(np.where(ex.found[:, None], delta, 0.0)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(room > 0, size / room, 0.0)
        return float(np.mean(np.where(ex.found, 1.0 - ratio, 0.0)))

    def _savepoint_keys(self):
        last = self.c_steps * self.max_iter
        return list(range(self.save_freq, last + 1, self.save_freq))

    def _delta_bounds(self, flat):
        """Box of the optimised offsets ``z``: PN ``delta``, PP ``delta - no_info``."""
        lo, hi = self._flat_range()
        no_info = self.no_info_.reshape(1, -1)
        if self.mode == "pn":
            side = np.sign(flat - no_info)
            lower = np.where(side > 0, 0.0, np.minimum(lo - flat, 0.0))
            upper = np.where(side < 0, 0.0, np.maximum(hi - flat, 0.0))
        else:
            gap = flat - no_info
            lower, upper = np.minimum(gap, 0.0), np.maximum(gap, 0.0)
        return lower, upper

    def _explain_chunk(self, X, targets, seeds):
        n = len(X)
        flat = X.reshape(n, -1).astype(np.float64)
        n_features = flat.shape[1]
        result = {
            "maps": np.full((n, 1, *self.input_shape_), np.nan),
            "delta": np.full((n, *self.input_shape_), np.nan),
            "found": np.zeros(n, dtype=bool),
            "original_class": targets[:, 0].astype(np.intp),
            "new_class": targets[:, 0].astype(np.intp),
            "history": np.empty(n, dtype=object),
        }
        if self.save_freq is not None:
            n_keys = len(self._savepoint_keys())
            result["savepoints"] = np.full((n, n_keys, n_features), np.nan)
        if n == 0:
            return result
        run = _CEMRun(self, flat, targets[:, 0], seeds)
        run.solve()
        delta = run.out_delta
        result["delta"] = delta.reshape((n, *self.input_shape_))
        result["maps"] = delta.reshape((n, 1, *self.input_shape_))
        result["found"] = run.out_found
        result["new_class"] = np.where(run.out_found, run.out_class, targets[:, 0])
        result["history"] = run.history()
        if self.save_freq is not None:
            result["savepoints"] = run.savepoints
        return result


class _CEMRun:
    """The batched optimisation of one chunk: per-sample c search and stopping."""

    def __init__(self, cem, flat, t0, seeds):
        import torch

        self.cem = cem
        self.flat = flat
        self.t0 = np.asarray(t0, dtype=np.intp)
        self.n, self.n_features = flat.shape
        self.pn = cem.mode == "pn"
        self.lower_np, self.upper_np = cem._delta_bounds(flat)
        self.lo, self.hi = cem._flat_range()
        self.no_info = cem.no_info_.reshape(-1)
        if cem.gradient_ == "autograd":
            from ..models._adapters import _module_dtype as module_dtype
            from ..models._adapters import eval_mode

            forward, module, device = cem.adapter_.torch_forward(cem.response_method_)
            self.forward, self.module = forward, module
            self.eval_mode = eval_mode
            self.dtype, self.device = module_dtype(module), device
        else:
            self.dtype, self.device = torch.float64, torch.device("cpu")
            self.rngs = [np.random.default_rng(int(s)) for s in seeds]
            self.mu = 0.01 * float(np.mean(self.hi - self.lo) or 1.0)
        self.ae = None
        if cem.gamma > 0:
            ae = cem.autoencoder_
            if hasattr(ae, "as_torch"):
                self.ae = ae.as_torch(cem.input_shape_, self.dtype, self.device)
            else:
                self.ae = ae
        anchor = flat if self.pn else np.broadcast_to(self.no_info, flat.shape).copy()
        as_t = self._tensor
        self.anchor = as_t(anchor)
        self.lower, self.upper = as_t(self.lower_np), as_t(self.upper_np)
        self.out_delta = np.full((self.n, self.n_features), np.nan)
        self.out_found = np.zeros(self.n, dtype=bool)
        self.out_class = self.t0.copy()
        self._hist = []
        if cem.save_freq is not None:
            n_keys = len(cem._savepoint_keys())
            self.savepoints = np.full((self.n, n_keys, self.n_features), np.nan)

    def _tensor(self, value):
        import torch

        return torch.as_tensor(
            np.ascontiguousarray(value), dtype=self.dtype, device=self.device
        )

    # --------------------------------------------------------- model terms
    def _margin_and_grad(self, y, anchor, t0, c, rows):
        """Margin ``f_t0 - max_other``, predicted class, AE term and the gradient.

        The gradient is that of ``sum(c * attack) + gamma * sum(ae)`` in ``y``.
        """
        import torch

        cem = self.cem
        sign = 1.0 if self.pn else -1.0
        shape = (len(y), *cem.input_shape_)
        with torch.enable_grad():
            yv = y.detach().requires_grad_(True)
            u = anchor + yv
            objective = 0.0
            if cem.gradient_ == "autograd":
                scores = self.forward(u.reshape(shape)).to(self.dtype)
                margin = _margin(scores, t0)
                attack = torch.clamp(sign * margin, min=-cem.kappa)
                objective = (c * attack).sum()
                pred = scores.detach().argmax(dim=1)
            else:
                margin, pred, attack_grad = self._zeroth_order(u.detach(), t0, rows)
                margin = self._tensor(margin)
                pred = torch.as_tensor(pred, device=self.device)
                attack = torch.clamp(sign * margin, min=-cem.kappa)
            ae = torch.zeros(len(y), dtype=self.dtype, device=self.device)
            if self.ae is not None:
                u_img = u.reshape(shape)
                ae_dtype = _module_dtype(self.ae) or self.dtype
                rec = self.ae(u_img.to(ae_dtype)).to(self.dtype)
                ae = ((rec - u_img) ** 2).reshape(len(y), -1).sum(dim=1)
                objective = objective + cem.gamma * ae.sum()
            if torch.is_tensor(objective) and objective.requires_grad:
                grad = torch.autograd.grad(objective, yv)[0]
            else:
                grad = torch.zeros_like(y)
            if cem.gradient_ != "autograd":
                grad = grad + c[:, None] * self._tensor(attack_grad)
        return margin.detach(), attack.detach(), ae.detach(), pred, grad.detach()

    def _zeroth_order(self, u, t0, rows):
        """Margins at ``u`` and a seeded forward-difference estimate of the attack
        term's gradient, from the black-box scores (``_N_DIRECTIONS`` random sign
        directions per sample)."""
        cem = self.cem
        sign = 1.0 if self.pn else -1.0
        u = u.cpu().numpy().astype(np.float64)
        n, q = len(u), _N_DIRECTIONS
        directions = np.stack(
            [self.rngs[r].choice([-1.0, 1.0], size=(q, self.n_features)) for r in rows]
        )
        points = np.concatenate(
            [u[:, None], u[:, None] + self.mu * directions], axis=1
        ).reshape((n * (q + 1), *cem.input_shape_))
        scores = cem.adapter_.scores(points, cem.response_method_)
        scores = scores.reshape(n, q + 1, -1)
        t_rep = np.repeat(np.asarray(t0)[:, None], q + 1, axis=1)
        f_t = np.take_along_axis(scores, t_rep[..., None], axis=2)[..., 0]
        others = scores.copy()
        np.put_along_axis(others, t_rep[..., None], -np.inf, axis=2)
        margin = f_t - others.max(axis=2)
        attack = np.maximum(sign * margin, -cem.kappa)
        diffs = (attack[:, 1:] - attack[:, :1]) / (self.mu * q)
        grad = np.einsum("nq,nqf->nf", diffs, directions)
        pred = scores[:, 0].argmax(axis=1)
        return margin[:, 0], pred, grad

    # ------------------------------------------------------------ the loop
    def solve(self):
        import torch

        cem = self.cem
        n, tol = self.n, float(cem.tol)
        patience = cem.patience
        fista = cem.optimizer == "fista"
        beta, gamma, kappa = float(cem.beta), float(cem.gamma), float(cem.kappa)
        max_iter, c_steps = int(cem.max_iter), int(cem.c_steps)
        if patience is not None:
            anneal = max(int(patience), max_iter // _ANNEAL_DIV)
        sign = 1.0 if self.pn else -1.0

        rows = np.arange(n)
        z = torch.zeros((n, self.n_features), dtype=self.dtype, device=self.device)
        y = z.clone()
        best_z = z.clone()
        lam = torch.ones((n, 1), dtype=self.dtype, device=self.device)
        anchor, lower, upper = self.anchor, self.lower, self.upper
        t0 = torch.as_tensor(self.t0, device=self.device)
        k = np.zeros(n, dtype=np.int64)
        t = np.zeros(n, dtype=np.int64)
        c_step = np.zeros(n, dtype=np.int64)
        c = np.full(n, float(cem.c_init))
        c_lb, c_ub = np.zeros(n), np.full(n, _C_UPPER)
        step_found = np.zeros(n, dtype=bool)
        step_best = np.full(n, np.inf)
        step_loss = np.full(n, np.inf)
        since = np.zeros(n, dtype=np.int64)
        k_anneal = np.full(n, -1, dtype=np.int64)  # -1: not annealing
        lr_anneal = np.zeros(n)
        best = np.full(n, np.inf)
        best_at_start = np.full(n, np.inf)
        best_class = self.t0.copy()
        found = np.zeros(n, dtype=bool)
        c_stale = np.zeros(n, dtype=np.int64)
        save_freq = cem.save_freq

        module_ctx = (
            self.eval_mode(self.module) if cem.gradient_ == "autograd" else _null()
        )
        with module_ctx:
            while len(rows):
                c_t = self._tensor(c)
                margin, attack, ae, pred, grad = self._margin_and_grad(
                    y, anchor, t0, c_t, rows
                )
                l1 = y.abs().sum(dim=1)
                l2 = (y * y).sum(dim=1)
                dist = beta * l1 + l2 + gamma * ae
                loss = c_t * attack + dist
                valid = (sign * margin < -kappa).to(self.dtype)
                stats = torch.stack(
                    [loss, attack, l1, l2, ae, valid, dist, pred.to(self.dtype)]
                )
                stats = stats.cpu().numpy().astype(np.float64)
                loss_np, dist_np = stats[0], stats[6]
                valid_np = stats[5] > 0.5
                self._hist.append(
                    (
                        rows.copy(),
                        np.column_stack(
                            [
                                t + 1,
                                c_step,
                                c,
                                stats[0],
                                stats[1],
                                stats[2],
                                stats[3],
                                stats[4],
                                stats[5],
                            ]
                        ).astype(np.float32),
                    )
                )
                # Best valid point overall.
                better = valid_np & (dist_np < best)
                if better.any():
                    mask = torch.as_tensor(better, device=self.device)
                    best_z[mask] = y[mask]
                    best[better] = dist_np[better]
                    best_class[better] = stats[7][better].astype(np.intp)
                    found |= better
                # Progress within the c step.
                first = valid_np & ~step_found
                step_gain = valid_np & step_found & (dist_np < _shrink(step_best, tol))
                loss_gain = (
                    ~step_found & ~valid_np & (loss_np < _shrink(step_loss, tol))
                )
                step_found |= valid_np
                step_best = np.where(
                    valid_np, np.minimum(step_best, dist_np), step_best
                )
                step_loss = np.minimum(step_loss, loss_np)
                since = np.where(first | step_gain | loss_gain, 0, since + 1)

                # Optimiser step, each row at its own iteration count.
                if fista:
                    kf = k.astype(np.float64)
                    lr = cem.learning_rate * np.sqrt(np.maximum(1.0 - kf / max_iter, 0))
                    if patience is not None:
                        annealing = k_anneal >= 0
                        left = 1.0 - (k - k_anneal) / anneal
                        lr = np.where(
                            annealing, lr_anneal * np.sqrt(np.maximum(left, 0)), lr
                        )
                    momentum = kf / (kf + 3.0)
                    z, y = _fista(
                        z,
                        y,
                        grad + 2.0 * y,
                        self._tensor(lr[:, None]),
                        beta,
                        self._tensor(momentum[:, None]),
                        lower,
                        upper,
                    )
                else:
                    from ._optim import adaexpgrad_step

                    y, lam = adaexpgrad_step(
                        y,
                        grad,
                        lam,
                        learning_rate=cem.learning_rate,
                        l1=beta,
                        l2=2.0,
                        lower=lower,
                        upper=upper,
                    )
                    z = y
                k += 1
                t += 1

                if save_freq is not None:
                    at = t % save_freq == 0
                    if at.any():
                        slot = t[at] // save_freq - 1
                        values = self._to_delta(
                            best_z[torch.as_tensor(at, device=self.device)],
                            rows[at],
                        )
                        values[~found[at]] = np.nan
                        self.savepoints[rows[at], slot] = values

                # End of a c step.
                end = k >= max_iter
                if patience is not None and fista:
                    # No progress: anneal the step size to 0 over `anneal`
                    # steps (what the last steps of a full FISTA run do, where
                    # the fixed l1 threshold wins; the best point of a c step
                    # is mostly found there), then end the c step.
                    start = (k_anneal < 0) & (since >= patience)
                    if start.any():
                        kf = k[start].astype(np.float64)
                        lr_anneal[start] = cem.learning_rate * np.sqrt(
                            np.maximum(1.0 - kf / max_iter, 0)
                        )
                        k_anneal[start] = k[start]
                    end |= (k_anneal >= 0) & (k - k_anneal >= anneal)
                elif patience is not None:
                    end |= since >= patience
                end |= step_found & (step_best <= 0)
                if fista:
                    # FISTA's step size only decays: an iterate still exactly 0
                    # after the first step never moves in this c step.
                    end |= (k == 1) & (z.abs().amax(dim=1) == 0).cpu().numpy()
                if not end.any():
                    continue
                improved = step_found & (best < _shrink(best_at_start, tol))
                c_ub = np.where(end & step_found, np.minimum(c_ub, c), c_ub)
                c_lb = np.where(end & ~step_found, np.maximum(c_lb, c), c_lb)
                c_next = np.where(c_ub < 1e9, (c_lb + c_ub) / 2, c * 10)
                c = np.where(end, c_next, c)
                c_step = c_step + end
                c_stale = np.where(end, np.where(improved, 0, c_stale + 1), c_stale)
                done = end & (c_step >= c_steps)
                done |= end & found & (best <= 0)
                if patience is not None:
                    done |= end & found & (c_stale >= _C_PATIENCE)
                restart = end & ~done
                if restart.any():
                    mask = torch.as_tensor(restart, device=self.device)
                    z = torch.where(mask[:, None], torch.zeros_like(z), z)
                    y = torch.where(mask[:, None], torch.zeros_like(y), y)
                    lam = torch.where(mask[:, None], torch.ones_like(lam), lam)
                    k[restart] = 0
                    step_found[restart] = False
                    step_best[restart] = np.inf
                    step_loss[restart] = np.inf
                    since[restart] = 0
                    k_anneal[restart] = -1
                    best_at_start[restart] = best[restart]
                if done.any():
                    dmask = torch.as_tensor(done, device=self.device)
                    final_z, final_class = best_z[dmask], best_class[done]
                    if found[done].any():
                        final_z, final_class = self._polish(
                            final_z,
                            anchor[dmask],
                            t0[dmask],
                            rows[done],
                            found[done],
                            final_class,
                        )
                    self._finish(rows[done], final_z, found[done], final_class, t[done])
                    keep = ~done
                    kt = torch.as_tensor(keep, device=self.device)
                    rows = rows[keep]
                    z, y, best_z, lam = z[kt], y[kt], best_z[kt], lam[kt]
                    anchor, lower, upper = anchor[kt], lower[kt], upper[kt]
                    t0 = t0[kt]
                    (
                        k,
                        t,
                        c_step,
                        c,
                        c_lb,
                        c_ub,
                        step_found,
                        step_best,
                        step_loss,
                        since,
                        best,
                        best_at_start,
                        best_class,
                        found,
                        c_stale,
                        k_anneal,
                        lr_anneal,
                    ) = (
                        a[keep]
                        for a in (
                            k,
                            t,
                            c_step,
                            c,
                            c_lb,
                            c_ub,
                            step_found,
                            step_best,
                            step_loss,
                            since,
                            best,
                            best_at_start,
                            best_class,
                            found,
                            c_stale,
                            k_anneal,
                            lr_anneal,
                        )
                    )

    def _scores(self, u):
        """Scores ``f`` at the points ``u`` (no gradient)."""
        import torch

        cem = self.cem
        shape = (len(u), *cem.input_shape_)
        if cem.gradient_ == "autograd":
            with torch.no_grad():
                return self.forward(u.reshape(shape)).to(self.dtype)
        points = u.detach().cpu().numpy().astype(np.float64).reshape(shape)
        return self._tensor(cem.adapter_.scores(points, cem.response_method_))

    def _valid(self, z, anchor, t0):
        """Whether ``anchor + z`` is a valid PN / PP, and the model's class there."""
        sign = 1.0 if self.pn else -1.0
        scores = self._scores(anchor + z)
        valid = sign * _margin(scores, t0) < -float(self.cem.kappa)
        return valid.cpu().numpy(), scores.argmax(dim=1).cpu().numpy()

    def _bisect(self, point_at, good, bad, cls, anchor, t0, steps):
        """Bisect a per-row scalar between a valid end ``good`` and ``bad``.

        ``point_at(v)`` gives each row's offset at the value ``v`` of the row.
        Returns, after ``steps`` halvings, the valid end closest to ``bad`` and
        the model's class there (``cls`` where no midpoint was valid).
        """
        for _ in range(steps):
            mid = (good + bad) / 2
            ok, pred = self._valid(point_at(mid), anchor, t0)
            good = np.where(ok, mid, good)
            bad = np.where(ok, bad, mid)
            cls = np.where(ok, pred, cls)
        return good, cls

    def _polish(self, z, anchor, t0, rows, found, best_class):
        """Shrink each found best point while it stays valid (forward passes only).

        Three bisections per sample, each keeping a valid point at every stage:
        the largest soft threshold ``tau`` for which ``S_tau(z)`` stays valid,
        the smallest factor ``s`` in ``[0, 1]`` for which ``s * z`` does, then
        the most of its smallest coordinates that can be set to zero. Each only
        lowers ``|z|_1`` and ``|z|_2``, so the elastic-net size never grows.
        Small supports are then pruned by :meth:`_prune`, which lowers
        ``|z|_1`` and keeps the elastic-net size within that of ``z``.
        Rows of ``found`` False are returned unchanged; every bisection is per
        row, so a row's result does not depend on its batch companions.
        """
        import torch

        z = z.clone()
        best_class = best_class.copy()
        idx = np.flatnonzero(found)
        sel = torch.as_tensor(idx, device=self.device)
        zf, af, tf = z[sel], anchor[sel], t0[sel]
        m, n_features = zf.shape
        cls = best_class[idx]
        limit = _elastic_net(zf, self.cem.beta)

        # 1. Soft-threshold: the largest valid tau of sign(z) max(|z| - tau, 0).
        from ._optim import soft_threshold

        t_hi = zf.abs().amax(dim=1).cpu().numpy().astype(float)
        tau, cls = self._bisect(
            lambda v: soft_threshold(zf, self._tensor(v[:, None])),
            np.zeros(m), t_hi, cls, af, tf, _POLISH_SCALE_STEPS,
        )
        zf = soft_threshold(zf, self._tensor(tau[:, None]))

        # 2. Scale towards zero: the smallest valid s (s = 1 is valid).
        s, cls = self._bisect(
            lambda v: zf * self._tensor(v[:, None]),
            np.ones(m), np.zeros(m), cls, af, tf, _POLISH_SCALE_STEPS,
        )
        zf = zf * self._tensor(s[:, None])

        # 3. Drop the smallest coordinates: the largest valid count k of
        # coordinates set to zero, by rank of |z| (the zeros rank first).
        rank = torch.argsort(torch.argsort(zf.abs(), dim=1, stable=True), dim=1)
        rank = rank.cpu().numpy()
        k_lo = (zf == 0).sum(dim=1).cpu().numpy().astype(np.int64)  # valid
        k_hi = np.full(m, n_features + 1, dtype=np.int64)  # exclusive
        while np.any(k_hi - k_lo > 1):
            k = (k_lo + k_hi) // 2
            live = k_hi - k_lo > 1
            keep = rank >= k[:, None]
            trial = zf * self._tensor(keep)
            ok, pred = self._valid(trial, af, tf)
            ok &= live
            k_lo = np.where(ok, k, k_lo)
            k_hi = np.where(live & ~ok, k, k_hi)
            cls = np.where(ok, pred, cls)
        zf = zf * self._tensor(rank >= k_lo[:, None])

        # 4. Small supports: drop one coordinate and scale the others up.
        zf, cls = self._prune(zf, af, tf, rows[idx], cls, limit)

        z[sel] = zf
        best_class[idx] = cls
        return z, best_class

    def _prune(self, z, anchor, t0, rows, cls, limit):
        """Greedily drop coordinates of small supports, scaling the rest up.

        For each row with at most ``_PRUNE_MAX_SUPPORT`` nonzero coordinates and
        each of them ``j``, the other coordinates are scaled by the smallest
        valid factor ``s`` (bisection, clipped to the box, so ``s`` may exceed
        1); the candidate of smallest ``|z|_1`` among those whose elastic-net
        size ``beta |z|_1 + |z|_2^2`` stays within ``limit`` (that of the best
        iterate) replaces the row if its ``|z|_1`` is smaller. Rounds repeat
        while some row improves. Every candidate is valid, so validity is kept,
        ``|z|_1`` never grows and the elastic-net size stays within ``limit``;
        each row is handled alone, so the result does not depend on the
        batch.
        """
        import torch

        m = len(z)
        if m == 0:
            return z, cls
        rt = torch.as_tensor(rows, device=self.device)
        lower, upper = self.lower[rt], self.upper[rt]
        z, cls = z.clone(), cls.copy()
        active = np.ones(m, dtype=bool)
        for _ in range(_PRUNE_MAX_SUPPORT):
            support = (z != 0).sum(dim=1).cpu().numpy()
            active &= (support >= 2) & (support <= _PRUNE_MAX_SUPPORT)
            if not active.any():
                break
            idx = np.flatnonzero(active)
            n_cand = int(support[idx].max())
            # Candidates: row idx[i] without its c-th nonzero coordinate.
            zi = z[torch.as_tensor(idx, device=self.device)]
            order = torch.argsort((zi != 0).to(zi.dtype), dim=1, descending=True)
            drop = order[:, :n_cand]  # nonzero coordinates first
            real = np.arange(n_cand)[None, :] < support[idx][:, None]
            ci, cj = np.nonzero(real)
            cand_row = idx[ci]
            base = zi[torch.as_tensor(ci, device=self.device)].clone()
            base[torch.arange(len(ci)), drop[ci, cj]] = 0
            lo = lower[torch.as_tensor(cand_row, device=self.device)]
            hi = upper[torch.as_tensor(cand_row, device=self.device)]
            nz = base != 0
            cap = torch.where(base > 0, hi, lo) / torch.where(nz, base, 1.0)
            s_max = torch.where(nz, cap, 0.0).amax(dim=1).cpu().numpy()
            s_max = np.maximum(s_max, 1.0)

            def path(s, base=base, lo=lo, hi=hi):
                scaled = base * self._tensor(np.asarray(s)[:, None])
                return torch.minimum(torch.maximum(scaled, lo), hi)

            a_cand, t_cand = anchor[cand_row], t0[cand_row]
            ok_end, pred_end = self._valid(path(s_max), a_cand, t_cand)
            s, c_cls = self._bisect(
                path, s_max, np.zeros(len(ci)), pred_end, a_cand, t_cand,
                _POLISH_PRUNE_STEPS,
            )
            trial = path(s)
            l1 = trial.abs().sum(dim=1).cpu().numpy().astype(float)
            size = _elastic_net(trial, self.cem.beta)
            l1 = np.where(ok_end & (size <= limit[cand_row]), l1, np.inf)
            current = z.abs().sum(dim=1).cpu().numpy().astype(float)
            improved = np.zeros(m, dtype=bool)
            for r in idx:
                mine = np.flatnonzero(cand_row == r)
                best = mine[np.argmin(l1[mine])]
                if l1[best] < current[r] * (1 - 1e-6):
                    z[r] = trial[best]
                    cls[r] = c_cls[best]
                    improved[r] = True
            active &= improved
        return z, cls

    def _to_delta(self, z, rows):
        """Optimised offsets to deltas (float64, exactly inside the bounds)."""
        z = z.detach().cpu().numpy().astype(np.float64)
        lower, upper = self.lower_np[rows], self.upper_np[rows]
        if not self.pn:
            no_info = self.no_info[None, :]
            return np.clip(no_info + z, no_info + lower, no_info + upper)
        delta = np.clip(z, lower, upper)
        x = self.flat[rows]
        for _ in range(8):  # rounding of x + delta: nudge by one ulp at a time
            adv = x + delta
            over, under = adv > self.hi, adv < self.lo
            if not (over.any() or under.any()):
                break
            delta = np.where(over, np.nextafter(delta, -np.inf), delta)
            delta = np.where(under, np.nextafter(delta, np.inf), delta)
        return delta

    def _finish(self, rows, best_z, found, best_class, t_end):
        delta = self._to_delta(best_z, rows)
        delta[~found] = np.nan
        self.out_delta[rows] = delta
        self.out_found[rows] = found
        self.out_class[rows] = best_class
        if self.cem.save_freq is not None:
            keys = np.asarray(self.cem._savepoint_keys())
            later = keys[None, :] >= t_end[:, None]
            for i, r in enumerate(rows):
                self.savepoints[r, later[i]] = delta[i]

    def history(self):
        """One float32 array of shape (n_steps, len(HISTORY_COLUMNS)) per sample."""
        out = np.empty(self.n, dtype=object)
        if not self._hist:
            for i in range(self.n):
                out[i] = np.empty((0, len(HISTORY_COLUMNS)), dtype=np.float32)
            return out
        rows = np.concatenate([r for r, _ in self._hist])
        values = np.concatenate([v for _, v in self._hist])
        order = np.argsort(rows, kind="stable")
        rows, values = rows[order], values[order]
        bounds = np.searchsorted(rows, np.arange(self.n + 1))
        for i in range(self.n):
            out[i] = values[bounds[i] : bounds[i + 1]]
        return out


def _elastic_net(z, beta):
    """``beta |z|_1 + |z|_2^2`` of each row of the tensor ``z``, as float64."""
    z = z.detach().cpu().numpy().astype(np.float64)
    return beta * np.abs(z).sum(axis=1) + (z**2).sum(axis=1)


def _shrink(value, tol):
    """``value - tol * |value|``, keeping infinities (no ``inf - inf``)."""
    finite = np.isfinite(value)
    return np.where(finite, value - tol * np.abs(np.where(finite, value, 0.0)), value)


def _fista(z, y, grad, lr, beta, momentum, lower, upper):
    from ._optim import fista_step

    return fista_step(
        z,
        y,
        grad,
        learning_rate=lr,
        beta=beta,
        momentum=momentum,
        lower=lower,
        upper=upper,
    )


def _margin(scores, t0):
    """``f_t0 - max_{i != t0} f_i`` for each row of ``scores``."""
    import torch

    f_t = scores.gather(1, t0[:, None])[:, 0]
    onehot = torch.zeros_like(scores, dtype=torch.bool)
    onehot[torch.arange(len(scores)), t0] = True
    others = scores.masked_fill(onehot, -torch.inf).amax(dim=1)
    return f_t - others


def _history_frame(history, labels):
    history = list(np.asarray(history, dtype=object).reshape(-1))
    labels = np.asarray(labels, dtype=object).reshape(-1)
    if len(labels) != len(history):
        labels = np.arange(len(history))
    parts, samples = [], []
    for label, values in zip(labels, history):
        values = np.asarray(values, dtype=np.float64).reshape(-1, len(HISTORY_COLUMNS))
        parts.append(values)
        samples.append(np.repeat(np.asarray([label], dtype=object), len(values)))
    if parts:
        values = np.concatenate(parts)
        sample = np.concatenate(samples)
    else:
        values = np.empty((0, len(HISTORY_COLUMNS)))
        sample = np.empty(0, dtype=object)
    frame = pd.DataFrame(values, columns=list(HISTORY_COLUMNS))
    for name in ("iteration", "c_step"):
        frame[name] = frame[name].astype(np.int64)
    frame["valid"] = frame["valid"].astype(bool)
    frame.insert(0, "sample", pd.Series(sample).infer_objects())
    return frame


def _describe_range(feature_range):
    lo, hi = feature_range
    lo_s = f"{float(np.min(lo)):.6g}" if np.ndim(lo) else f"{lo:.6g}"
    hi_s = f"{float(np.max(hi)):.6g}" if np.ndim(hi) else f"{hi:.6g}"
    return f"({lo_s}, {hi_s})"


def _module_dtype(module):
    for p in getattr(module, "parameters", lambda: [])():
        if p.is_floating_point():
            return p.dtype
    return None


def _module_device(module):
    import torch

    for p in getattr(module, "parameters", lambda: [])():
        return p.device
    return torch.device("cpu")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
