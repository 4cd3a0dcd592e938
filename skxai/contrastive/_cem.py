"""CEM: the Contrastive Explanation Method (pertinent positives and negatives)."""

import warnings
from collections import OrderedDict
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..explanation import Explanation
from ..utils._optional import import_optional
from ..utils._sklearn_compat import Interval, StrOptions
from ._search import CSearch, EarlyStopping, RowState, _shrink, _take

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
# With kappa = 0, a valid point must still beat the decision boundary by this
# share of the sample's score scale (max |f(x)|), so that rounding (another
# batch, float32 against float64) cannot undo it.
SAFETY_MARGIN = 1e-4


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
        Whether a valid PN (another class wins by the margin) or PP (the class
        stays ahead by the margin) was reached, checked with the model on the
        returned points, alone and together.
    original_class : ndarray of shape (n_samples,)
        The class explained (the model's prediction by default).
    new_class : ndarray of shape (n_samples,)
        The model's class for ``x + delta`` (PN) or ``delta`` (PP); where ``found``
        is False it repeats ``original_class``.
    margin : ndarray of shape (n_samples,)
        By how much the result is valid: ``max_{i != t0} f_i - f_t0`` at
        ``x + delta`` (PN) or ``f_t0 - max_{i != t0} f_i`` at ``delta`` (PP);
        at least ``required_margin`` where ``found``. NaN where not found.
    required_margin : ndarray of shape (n_samples,)
        The margin a result needs: ``kappa``, or the safety margin when
        ``kappa=0``.
    n_iter : ndarray of shape (n_samples,)
        Optimiser steps run for each sample, over all its ``c`` steps.
    savepoints : OrderedDict of {int: ndarray of shape (n_samples, *image_shape)}
        The optimiser's iterate after that many steps (MAXi's savepoints: for
        AdaExpGrad the mean of the iterates of the current ``c`` step, for FISTA
        the iterate), for the iterations that some sample ran; NaN for samples
        that had stopped before. Empty unless ``save_freq`` was set.
    best_savepoints : OrderedDict of {int: ndarray of shape (n_samples, *image_shape)}
        The best valid point found up to that iteration (before the final
        shrinking), NaN while none was valid; same keys as ``savepoints``.
    history : pandas.DataFrame
        One row per sample and optimiser step: ``sample``, ``iteration``,
        ``c_step``, ``c``, ``loss``, ``attack``, ``l1``, ``l2``, ``ae`` and
        ``valid``, measured at the point where the model was evaluated.
    feature_names : ndarray of str
        One name per input feature, used by :meth:`to_frame`.

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
        return str(self.params.get("mode", "pn")).lower()

    @property
    def found_rate(self):
        """Share of samples with a valid explanation."""
        found = np.asarray(getattr(self, "found", []), dtype=bool)
        return float(found.mean()) if found.size else float("nan")

    def to_frame(self):
        """The changed features of each found explanation, by name.

        Returns
        -------
        frame : pandas.DataFrame
            One row per found sample and feature that the explanation changes
            (PN) or keeps away from ``no_info`` (PP), with columns ``sample``
            (the input DataFrame's index when there was one), ``feature``,
            ``original`` (the sample's value), ``delta`` and ``value`` (the
            feature in ``x + delta`` for a PN, in the PP itself for a PP).
        """
        delta = np.asarray(self.delta, dtype=np.float64)
        delta = delta.reshape(len(delta), int(np.prod(delta.shape[1:])))
        images = getattr(self, "images", None)
        x = np.asarray(images, dtype=np.float64).reshape(delta.shape)
        names = getattr(self, "feature_names", None)
        if names is None:
            names = np.asarray([f"x{j}" for j in range(delta.shape[1])], dtype=object)
        no_info = np.asarray(getattr(self, "no_info", 0.0), dtype=np.float64)
        no_info = np.broadcast_to(no_info.reshape(-1), delta.shape[1:])
        changed = np.isfinite(delta) & (
            (delta != 0) if self.mode == "pn" else (delta != no_info)
        )
        changed &= np.asarray(self.found, dtype=bool)[:, None]
        rows, cols = np.nonzero(changed)
        labels = self._sample_labels()
        value = delta[rows, cols]
        frame = pd.DataFrame(
            {
                "sample": pd.Series(labels[rows]).infer_objects(),
                "feature": np.asarray(names, dtype=object)[cols],
                "original": x[rows, cols],
                "delta": value if self.mode == "pn" else value - no_info[cols],
                "value": x[rows, cols] + value if self.mode == "pn" else value,
            }
        )
        return frame

    # Drawn by ContrastiveDisplay (originals, deltas, savepoints): named here,
    # resolved by Explanation.plot, so computing code never imports plotting.
    _display = "skxai.plotting:ContrastiveDisplay"


class CEM(ExplainerMixin, BaseExplainer):
    """Contrastive explanations: pertinent negatives and pertinent positives.

    For each sample ``x`` of class ``t0``, the pertinent negative (PN) is a small,
    sparse addition ``delta`` that changes the model's class; the pertinent
    positive (PP) is a small, sparse part ``delta`` of ``x`` that alone keeps
    it (Dhurandhar et al., 2018). All samples of a chunk are optimised together
    in one torch tensor, each with its own constant ``c``, iteration count and
    stopping state; finished samples leave the batch.

    Two optimisers: projected FISTA, as in the paper and alibi (alibi's
    defaults), and MAXi's adaptive exponentiated gradient (``optimizer=
    "adaexpgrad"``, with MAXi's loss, step and step size).

    Torch modules, skorch nets and scikit-learn linear models and MLPs (through
    their exact torch equivalent) are differentiated exactly. Any other model
    (other scikit-learn classifiers, callables) gets a zeroth-order gradient
    estimate from its scores, seeded by each sample's content:
    ``n_directions + 1`` model evaluations per sample and step.

    Parameters
    ----------
    model : object
        The fitted model to explain: a scikit-learn classifier or Pipeline, a
        skorch ``NeuralNet``, a ``torch.nn.Module``, or a callable returning class
        scores.
    mode : {'pn', 'pp'}, default='pn'
        Find pertinent negatives or pertinent positives; ``'PN'`` and ``'PP'``
        (alibi's and MAXi's spelling) are accepted.
    kappa : float, default=0.0
        Confidence margin (MAXi's ``K``): a PN must make another class win by
        more than ``kappa``, a PP must keep ``t0`` ahead by more than
        ``kappa``. With ``kappa=0`` a result must still win by the safety margin
        ``1e-4 * max_i |f_i(x)|``, so no result is a tie.
    l1 : float, default=0.1
        Weight of ``|delta|_1`` (sparsity): alibi's ``beta``, MAXi's ``l1``.
    l2 : float, default=2.0
        Weight of ``|delta|_2^2 / 2``, as MAXi's ``l2``; the default 2.0 is the
        ``|delta|_2^2`` of the paper and alibi (which fixes it).
    beta : float, default=None
        alibi's name for ``l1``. When set it is the l1 weight, and ``l1`` must
        be left at its default.
    gamma : float, default=0.0
        Weight of the autoencoder reconstruction error; needs ``autoencoder``.
    c_init : float, default=10.0
        Initial weight ``c`` of the classification term (MAXi's ``c``).
    c_steps : int, default=10
        Most values of ``c`` tried per sample (bisection, as in alibi);
        ``c_steps=1`` keeps ``c = c_init`` (MAXi).
    max_iter : int, default=1000
        Most optimiser steps per value of ``c``.
    learning_rate : float, default=None
        Initial step size. None means alibi's 1e-2 for FISTA (decayed as
        ``sqrt(1 - k / max_iter)``) and MAXi's 1.0 for AdaExpGrad (where it is
        ``1 / eta``).
    optimizer : {'fista', 'adaexpgrad'}, default='fista'
        Projected FISTA with l1 shrinkage (the paper, alibi) or MAXi's adaptive
        exponentiated gradient.
    pn_box : {'sign', 'alibi'}, default='sign'
        Where a PN may move each feature. ``'sign'``: away from ``no_info`` on
        the feature's side (a feature above ``no_info`` only grows, one below
        only shrinks, one at ``no_info`` may do either), a box, so the
        optimisers project on it exactly. ``'alibi'``: alibi's rule, any value
        in ``feature_range`` farther from ``no_info`` than ``x`` is, which also
        allows jumping to the other side of ``no_info`` (a feature that ends
        closer is reset to ``x``).
    feature_range : tuple of (float or array-like, float or array-like) or \
'fit', default=None
        ``(min, max)`` of the features, scalars or arrays broadcast to the input
        shape. None: the minimum and maximum of the reference set (and of
        ``no_info``), one pair for all features. ``'fit'``: per feature.
    no_info : float, 'mean' or array-like, default=0.0
        The value of a feature that carries no information: a PP lies between it
        and ``x``, a PN moves features away from it. ``'mean'`` is the per-feature
        mean of the reference set.
    autoencoder : None, 'pca' or torch.nn.Module, default=None
        Autoencoder of the reconstruction term: a PCA learned in :meth:`fit`, or
        a module mapping inputs to inputs of the same shape.
    n_components : int or float, default=0.95
        Components (or share of variance) of the PCA autoencoder.
    groups : array-like or dict, default=None
        Tables only: one-hot encoded categorical features, as a group label per
        column or a dict ``name -> columns``. A group of several columns moves as
        a whole: a result switches it from one category to another (PN) or keeps
        or drops the sample's category (PP), never a mix. Each reference row
        must hold exactly one column of each such group at the column's maximum
        and the others at their minimum.
    save_freq : int, default=None
        Keep the iterate every ``save_freq`` optimiser steps (``savepoints``);
        None keeps none.
    tol : float, default=1e-3
        Relative improvement that counts as progress for early stopping.
    patience : int, None or 'auto', default='auto'
        Steps without progress after which a sample ends its current ``c`` step
        (with FISTA, after first annealing its step size to 0 over
        ``max(patience, max_iter // 10)`` more steps). None runs all
        ``max_iter`` steps of every ``c`` step (alibi, MAXi). ``'auto'``: 40
        for FISTA, None for AdaExpGrad (whose slow start looks like a stall).
    c_patience : int, default=3
        A sample with a valid point stops its ``c`` search after this many ``c``
        steps in a row that do not improve it; None tries all ``c_steps``
        (with ``patience=None``, alibi's full run).
    polish : bool, default=True
        Shrink each result while it stays valid (see Notes).
    prune_candidates : int, default=8
        The polish prunes each result greedily, trying in each round to drop
        each of its this many smallest nonzero features (see Notes); 0
        disables the pruning.
    n_directions : int, default=16
        Random directions per step of the zeroth-order gradient estimate.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        The scores ``f`` of the loss; ``'auto'`` takes pre-softmax scores where
        the model has them.
    target : 'predicted', 'true', int or array-like, default='predicted'
        The class ``t0`` that a PN must leave and a PP must keep.
    image_shape : tuple of int, default=None
        Shape of one sample as an image, for plots.
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
    l1_ : float
        The l1 weight used (``beta`` when set, else ``l1``).
    learning_rate_ : float
        The step size used.
    patience_ : int or None
        The early-stopping patience used.
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
    layout_ : Layout
        Features, names and groups of a sample.
    n_iter_ : ndarray of shape (n_samples,)
        Optimiser steps run for each sample by the last :meth:`explain` call
        (a property; :meth:`transform` and :meth:`score` explain too).
    classes_, input_shape_, image_shape_, n_features_in_, adapter_
        See :class:`~skxai.base.BaseExplainer`.

    See Also
    --------
    skxai.plotting.ContrastiveDisplay : Plots PPs and PNs with savepoints.

    Notes
    -----
    With ``f`` the scores, ``t0`` the explained class and ``m(u) = f_t0(u) -
    max_{i != t0} f_i(u)``, CEM minimises over ``delta`` in its box

    - PN: ``c * max(m(x + delta), -kappa) + l1 |delta|_1 + (l2 / 2)
      |delta|_2^2 + gamma |x + delta - AE(x + delta)|_2^2``;
    - PP: ``c * max(-m(delta), -kappa) + l1 |delta - no_info|_1 + (l2 / 2)
      |delta - no_info|_2^2 + gamma |delta - AE(delta)|_2^2`` with ``delta``
      between ``no_info`` and ``x``;

    the loss of alibi (``l2 = 2``) and of MAXi (where ``K`` is ``kappa``).
    FISTA's shrinkage threshold is ``l1`` itself, as in the paper (eq. 5) and
    alibi. AdaExpGrad is MAXi's step: with ``lam`` the running sum of
    ``max|grad|^2`` (from 1), ``alpha = sqrt(lam) / learning_rate`` and ``b =
    1 / n_features``, the dual point ``z = sign(x) log(1 + |x| / b) - grad /
    alpha`` gives the new magnitude in closed form with Lambert's W, where
    MAXi's update flips the sign of a coordinate with ``|z| < l1 / alpha`` it
    is set to 0 (the exact proximal step), then clipped to the box; the
    savepoints hold MAXi's output, the running mean of the iterates.

    A point is valid when ``-m(x + delta)`` (PN) or ``m(delta)`` (PP) exceeds
    the required margin: ``kappa``, or ``1e-4 * max_i |f_i(x)|`` when
    ``kappa=0``. The best valid point (smallest ``l1 |delta|_1 + (l2 / 2)
    |delta|_2^2`` plus the reconstruction term) over all steps and values of
    ``c`` is kept. A value of ``c`` that found a valid point is halved towards
    the largest failing one (bisection), one that did not is multiplied by 10
    until one succeeds. A sample ends a ``c`` step after ``patience`` steps
    without progress (FISTA first anneals its step size to 0) and its search
    after ``c_patience`` ``c`` steps in a row that do not improve its best
    point; a FISTA ``c`` step whose first iterate is still zero ends at once.
    FISTA starts every ``c`` step from zero (alibi). AdaExpGrad starts as MAXi
    does, a PN from zero and a PP from the sample itself (``delta = x``, valid
    when the model keeps its class there, then shrunk by the l1 and l2 terms).
    Each ``c`` step of a PP is a new MAXi run from the sample; a PN continues
    each new ``c`` step from its iterate, restarting its accumulator ``lam``
    and its mean: its step does not change when the whole loss is scaled,
    so a restart from zero with another ``c`` would mostly repeat the
    previous run.

    With ``polish=True`` the best point of each sample is then shrunk while it
    stays valid, with forward passes only: bisections on a soft threshold of
    all its coordinates, on a factor towards zero, and on how many of its
    smallest coordinates are set to zero, then on how many are set to zero
    with the others scaled up by their smallest valid factor; the result is
    then pruned greedily (one of its ``prune_candidates`` smallest coordinates
    set to zero, the others scaled up by the smallest valid factor) while the
    l1 size drops. With exact gradients (autograd), two more stages lower
    ``|delta|_1`` subject to validity, for either optimiser: a proximal
    homotopy from the polished point (150 steps: every coordinate is shrunk
    by a threshold ``tau``, and the row is pushed along the gradient of its
    margin while it is not valid; ``tau`` rises relative to the push, so
    only the coordinates where the margin grows fastest per unit of l1
    survive; the valid iterate of smallest l1 is kept), run a second time
    from the largest tenth of the result's nonzero coordinates (which can
    leave the basin of a dense point), then a descent (10 steps) of
    proximal steps on ``|delta|_1 - mu * margin`` with the smallest
    multiplier ``mu`` (bisection) that keeps the step valid, each accepted
    only when it is valid and lowers ``|delta|_1``. The concentrating,
    pruning, homotopy and descent keep the elastic-net size within the best
    iterate's. The polish aims a little above the required margin (by
    ``1e-3`` of it, at most up to the best point's own margin), so that the
    rounding of another batch does not undo it.
    Every stage keeps a valid point, so the shrinking stops at the required
    margin. Finally the model is called on the returned points, all together
    and each alone: a sample is ``found`` only when both calls accept it with
    the margin (if the polished point fails, the best iterate is tried).

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
    >>> cem = CEM(clf, c_steps=2, max_iter=100, image_shape=(8, 8)).fit(X)
    >>> ex = cem.explain(X[:2])
    >>> ex.delta.shape, ex.found.tolist()
    ((2, 8, 8), [True, True])
    >>> pn = ex.delta.reshape(2, -1)
    >>> (clf.predict(X[:2] + pn) != ex.original_class).tolist()
    [True, True]
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "mode": [StrOptions({"pn", "pp", "PN", "PP"})],
        "kappa": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "beta": [None, Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "c_init": [Interval(Real, 0, None, closed="neither")],
        "c_steps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [None, Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"fista", "adaexpgrad"})],
        "pn_box": [StrOptions({"sign", "alibi"})],
        "feature_range": [None, StrOptions({"fit"}), tuple, list],
        "no_info": [Real, StrOptions({"mean"}), "array-like"],
        "autoencoder": [None, StrOptions({"pca"}), callable],
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "groups": [None, dict, "array-like"],
        "save_freq": [None, Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "patience": [
            None,
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "c_patience": [None, Interval(Integral, 1, None, closed="left")],
        "polish": ["boolean"],
        "prune_candidates": [Interval(Integral, 0, None, closed="left")],
        "n_directions": [Interval(Integral, 1, None, closed="left")],
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
        l1=0.1,
        l2=2.0,
        beta=None,
        gamma=0.0,
        c_init=10.0,
        c_steps=10,
        max_iter=1000,
        learning_rate=None,
        optimizer="fista",
        pn_box="sign",
        feature_range=None,
        no_info=0.0,
        autoencoder=None,
        n_components=0.95,
        groups=None,
        save_freq=None,
        tol=1e-3,
        patience="auto",
        c_patience=3,
        polish=True,
        prune_candidates=8,
        n_directions=16,
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
        self.l1 = l1
        self.l2 = l2
        self.beta = beta
        self.gamma = gamma
        self.c_init = c_init
        self.c_steps = c_steps
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.pn_box = pn_box
        self.feature_range = feature_range
        self.no_info = no_info
        self.autoencoder = autoencoder
        self.n_components = n_components
        self.groups = groups
        self.save_freq = save_freq
        self.tol = tol
        self.patience = patience
        self.c_patience = c_patience
        self.polish = polish
        self.prune_candidates = prune_candidates
        self.n_directions = n_directions
        self.response_method = response_method
        self.target = target
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _mode(self):
        return str(self.mode).lower()

    @property
    def n_iter_(self):
        """Optimiser steps run for each sample by the last :meth:`explain` call."""
        last = getattr(self, "_last_explain", {})
        if "n_iter" not in last:
            raise AttributeError(
                f"{type(self).__name__} has no n_iter_ before explain, transform "
                "or score is called."
            )
        return last["n_iter"]

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
        if getattr(self.layout_, "dtypes", None) is not None:
            raise ValueError(
                f"{name} moves feature values continuously and needs numeric X; the "
                "DataFrame has non-numeric columns. One-hot encode them first, "
                "explain the model on the encoded columns, and pass the encoded "
                "columns of each feature as groups= so they move as a whole."
            )
        self.l1_ = float(self.l1 if self.beta is None else self.beta)
        if self.beta is not None and self.l1 != 0.1 and self.l1 != self.beta:
            raise ValueError(
                f"The 'beta' parameter of {name} is alibi's name for 'l1'; got "
                f"beta={self.beta!r} and l1={self.l1!r}. Set only one of them."
            )
        self._last_explain = {}
        if self.patience == "auto":
            self.patience_ = 40 if self.optimizer == "fista" else None
        else:
            self.patience_ = self.patience
        if self.learning_rate is not None:
            self.learning_rate_ = float(self.learning_rate)
        else:
            self.learning_rate_ = 1e-2 if self.optimizer == "fista" else 1.0
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
        self._onehot_ = self._check_onehot_groups(X)
        self.autoencoder_ = self._check_autoencoder(X)

    def _check_onehot_groups(self, X):
        """Groups of several columns, checked to be one-hot blocks of X."""
        groups = self.layout_.groups
        if groups is None:
            return []
        flat = X.reshape(len(X), -1)
        blocks = []
        for name, cols in zip(self.layout_.group_names, groups):
            if len(cols) < 2:
                continue
            block = flat[:, cols]
            on, off = block.max(axis=0), block.min(axis=0)
            is_on = block == on
            if not (np.all(is_on | (block == off)) and np.all(is_on.sum(axis=1) == 1)):
                raise ValueError(
                    f"The 'groups' parameter of {type(self).__name__} groups one-hot "
                    f"encoded columns; group {name!r} (columns {list(cols)}) is not "
                    "one-hot in X: each row must hold exactly one of its columns at "
                    "the column's maximum and the others at their minimum."
                )
            blocks.append((np.asarray(cols), on, off))
        return blocks

    def _check_feature_range(self, X, no_info):
        name = type(self).__name__
        flat = X.reshape(len(X), -1)
        if self.feature_range is None:
            return (
                float(min(X.min(), no_info.min())),
                float(max(X.max(), no_info.max())),
            )
        if isinstance(self.feature_range, str):  # "fit": per feature
            ref = no_info.reshape(-1)
            lo = np.minimum(flat.min(axis=0), ref).reshape(self.input_shape_)
            hi = np.maximum(flat.max(axis=0), ref).reshape(self.input_shape_)
            return lo, hi
        if len(self.feature_range) != 2:
            raise ValueError(
                f"The 'feature_range' parameter of {name} must be a (min, max) "
                f"pair or 'fit'; got {self.feature_range!r}."
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
                "'feature_range' (or leave it None or 'fit' to learn it in fit)."
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
        sample = torch.as_tensor(
            np.require(X[:1], requirements=["C", "W"]), dtype=dtype or torch.float32
        )
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
            return self.n_directions + 1
        return 1

    def _draw_seeds(self, n_samples):
        # One seed for the call; each sample's random directions are seeded by
        # it and the sample's own values (skxai._engine.sample_seeds), so they
        # do not depend on the sample's position, batch, n_jobs or batch_size.
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return np.full(n_samples, seed, dtype=np.int64)

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
            ``delta``, ``found``, ``original_class``, ``new_class``, ``margin``,
            ``n_iter``, ``savepoints``, ``best_savepoints`` and ``history``;
            ``maps`` holds the deltas.
        """
        check_is_fitted(self)
        self._check_in_range(self._validate_X(X, reset=False))
        ex = super().explain(X, y)
        n = len(ex.maps)
        if n == 0:  # the base class returns before any chunk is explained
            empty = self._explain_chunk(
                np.empty((0, *self.input_shape_)),
                np.empty((0, 1), dtype=np.intp),
                np.empty(0, dtype=np.int64),
            )
            for key, value in empty.items():
                if not hasattr(ex, key):
                    setattr(ex, key, value)
        shape = tuple(self.image_shape_)
        attrs = {k: v for k, v in vars(ex).items() if not k.startswith("_")}
        attrs["delta"] = np.asarray(ex.delta).reshape((n, *shape))
        classes = np.asarray(self.classes_)
        attrs["original_class"] = classes[np.asarray(ex.original_class, dtype=int)]
        attrs["new_class"] = classes[np.asarray(ex.new_class, dtype=int)]
        attrs["found"] = np.asarray(ex.found, dtype=bool)
        attrs["n_iter"] = np.asarray(ex.n_iter, dtype=np.int64)
        for key in ("savepoints", "best_savepoints"):
            attrs[key] = _merge_savepoints(getattr(ex, key), n, shape)
        attrs["history"] = _history_frame(ex.history, ex._sample_labels())
        attrs["feature_names"] = np.asarray(self.layout_.feature_names, dtype=object)
        attrs["no_info"] = self.no_info_.reshape(-1).copy()
        # Not a new attribute: transform must leave the estimator's __dict__ as is.
        self._last_explain["n_iter"] = attrs["n_iter"]
        n_missing = int((~attrs["found"]).sum())
        if n_missing:
            if self.optimizer == "fista":
                advice = "Raise max_iter, c_steps or c_init"
            else:
                advice = (
                    "Raise c_init (the weight of the classification term), "
                    "max_iter or learning_rate (MAXi's 1 / eta)"
                )
            if self.kappa > 0:
                advice += ", or lower kappa"
            warnings.warn(
                f"{type(self).__name__} found no valid {self._mode.upper()} for "
                f"{n_missing} of {n} samples; their delta is NaN and found=False. "
                f"{advice}.",
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
        if self._mode == "pp":
            delta = delta - self.no_info_.reshape(1, -1)
        room = (upper - lower).sum(axis=1)
        size = np.abs(np.where(ex.found[:, None], delta, 0.0)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(room > 0, np.minimum(size / room, 1.0), 0.0)
        return float(np.mean(np.where(ex.found, 1.0 - ratio, 0.0)))

    def _delta_bounds(self, flat):
        """Box of the optimised offsets ``z``: PN ``delta``, PP ``delta - no_info``.

        With ``pn_box='alibi'`` and for one-hot groups, a PN's box is all of
        ``feature_range`` (the rule on the side of ``no_info`` is applied as a
        projection).
        """
        lo, hi = self._flat_range()
        no_info = self.no_info_.reshape(1, -1)
        if self._mode == "pn":
            full_lo = np.minimum(lo - flat, 0.0)
            full_hi = np.maximum(hi - flat, 0.0)
            if self.pn_box == "alibi":
                lower, upper = full_lo, full_hi
            else:
                side = np.sign(flat - no_info)
                lower = np.where(side > 0, 0.0, full_lo)
                upper = np.where(side < 0, 0.0, full_hi)
            for cols, _, _ in self._onehot_:
                lower[:, cols], upper[:, cols] = full_lo[:, cols], full_hi[:, cols]
        else:
            gap = flat - no_info
            lower, upper = np.minimum(gap, 0.0), np.maximum(gap, 0.0)
        return lower, upper

    def _explain_chunk(self, X, targets, seeds):
        n = len(X)
        flat = X.reshape(n, self.n_features_in_).astype(np.float64)
        result = {
            "maps": np.full((n, 1, *self.input_shape_), np.nan),
            "delta": np.full((n, *self.input_shape_), np.nan),
            "found": np.zeros(n, dtype=bool),
            "original_class": targets[:, 0].astype(np.intp),
            "new_class": targets[:, 0].astype(np.intp),
            "margin": np.full(n, np.nan),
            "required_margin": np.full(n, np.nan),
            "n_iter": np.zeros(n, dtype=np.int64),
            "history": np.empty(n, dtype=object),
            "savepoints": np.empty(n, dtype=object),
            "best_savepoints": np.empty(n, dtype=object),
        }
        if n == 0:
            return result
        run = _CEMRun(self, flat, targets[:, 0], seeds)
        run.solve()
        out = run.out
        result["delta"] = out["delta"].reshape((n, *self.input_shape_))
        result["maps"] = out["delta"].reshape((n, 1, *self.input_shape_))
        for key in ("found", "margin", "required_margin", "n_iter"):
            result[key] = out[key]
        result["new_class"] = np.where(out["found"], out["class"], targets[:, 0])
        result["history"] = run.history()
        result["savepoints"] = out["savepoints"]
        result["best_savepoints"] = out["best_savepoints"]
        return result


class _Best:
    """Each row's best valid point so far (smallest elastic-net size)."""

    def __init__(self, z, t0):
        n = len(z)
        self.z = z.clone()
        self.size = np.full(n, np.inf)
        self.cls = np.asarray(t0, dtype=np.intp).copy()
        self.found = np.zeros(n, dtype=bool)
        self.at_step_start = np.full(n, np.inf)

    def update(self, valid, size, point, pred):
        better = valid & (size < self.size)
        if better.any():
            import torch

            mask = torch.as_tensor(better, device=self.z.device)
            self.z[mask] = point[mask].to(self.z.dtype)
            self.size[better] = size[better]
            self.cls[better] = pred[better]
            self.found |= better

    def improved(self, tol):
        return self.found & (self.size < _shrink(self.at_step_start, tol))

    def take_rows(self, mask):
        out = _Best.__new__(_Best)
        out.z = _take(self.z, mask)
        for name in ("size", "cls", "found", "at_step_start"):
            setattr(out, name, getattr(self, name)[mask])
        return out


class _CEMRun:
    """The batched optimisation of one chunk of samples.

    The per-sample state lives in one :class:`RowState` (anchor, box, target,
    required margin, the optimiser, the early stopping, the c search, the best
    point, savepoints); finished samples leave it in one call and are polished,
    checked and written out.
    """

    def __init__(self, cem, flat, t0, seeds):
        import torch

        self.cem = cem
        self.flat = flat
        self.n, self.n_features = flat.shape
        self.pn = cem._mode == "pn"
        self.sign = 1.0 if self.pn else -1.0
        self.lo, self.hi = cem._flat_range()
        self.no_info_np = cem.no_info_.reshape(-1)
        self.l1, self.l2, self.gamma = cem.l1_, float(cem.l2), float(cem.gamma)
        self.onehot = cem._onehot_
        if cem.gradient_ == "autograd":
            from ..models._adapters import _module_dtype as module_dtype
            from ..models._adapters import eval_mode

            forward, module, device = cem.adapter_.torch_forward(cem.response_method_)
            self.forward, self.module = forward, module
            self.eval_mode = eval_mode
            self.dtype, self.device = module_dtype(module), device
        else:
            self.dtype, self.device = torch.float64, torch.device("cpu")
            self.mu = 0.01 * float(np.mean(self.hi - self.lo) or 1.0)
        self.ae = None
        if cem.gamma > 0:
            ae = cem.autoencoder_
            if hasattr(ae, "as_torch"):
                self.ae = ae.as_torch(cem.input_shape_, self.dtype, self.device)
            else:
                self.ae = ae
        self.no_info = self._tensor(self.no_info_np)
        self.alibi_cols = None
        if self.pn and cem.pn_box == "alibi":
            cols = np.ones(self.n_features, dtype=bool)
            for group, _, _ in self.onehot:
                cols[group] = False
            self.alibi_cols = self._tensor(cols)

        t0 = np.asarray(t0, dtype=np.intp)
        lower, upper = cem._delta_bounds(flat)
        anchor = flat if self.pn else np.broadcast_to(self.no_info_np, flat.shape)
        scale = np.abs(self._scores_np(flat)).max(axis=1)
        if cem.kappa > 0:
            req = np.full(self.n, float(cem.kappa))
        else:
            req = SAFETY_MARGIN * np.maximum(scale, np.finfo(np.float32).tiny)
        rngs = []
        if cem.gradient_ != "autograd":
            from .._engine import sample_seeds

            rngs = [np.random.default_rng(int(s)) for s in sample_seeds(flat, seeds[0])]
        self.state = RowState(
            rows=np.arange(self.n),
            t0=torch.as_tensor(t0, device=self.device),
            x=self._tensor(flat),
            anchor=self._tensor(anchor),
            lower=self._tensor(lower),
            upper=self._tensor(upper),
            req=req,
            rngs=rngs if rngs else [None] * self.n,
            t=np.zeros(self.n, dtype=np.int64),
            saved=[{} for _ in range(self.n)],
            saved_best=[{} for _ in range(self.n)],
        )
        self.out = {
            "delta": np.full((self.n, self.n_features), np.nan),
            "found": np.zeros(self.n, dtype=bool),
            "class": t0.copy(),
            "margin": np.full(self.n, np.nan),
            "required_margin": req.copy(),
            "n_iter": np.zeros(self.n, dtype=np.int64),
            "savepoints": np.empty(self.n, dtype=object),
            "best_savepoints": np.empty(self.n, dtype=object),
        }
        self._hist = []

    def _tensor(self, value):
        import torch

        value = np.ascontiguousarray(value)
        if not value.flags.writeable:
            value = value.copy()
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    # ------------------------------------------------------------ the model
    def _black_box(self, X, masks, fill):
        """Black-box scores of ``m * X + (1 - m) * fill`` through the engine."""
        from .._engine import score_perturbations

        cem = self.cem
        return score_perturbations(
            cem.adapter_,
            X,
            masks,
            fill,
            response_method=cem.response_method_,
            batch_size=cem.batch_size,
            layout=cem.layout_,
        )

    def _scores(self, u):
        """Scores ``f`` at the points ``u`` (a tensor; no gradient)."""
        import torch

        cem = self.cem
        if cem.gradient_ == "autograd":
            with torch.no_grad():
                return self.forward(u.reshape((len(u), *cem.input_shape_))).to(
                    self.dtype
                )
        points = u.detach().cpu().numpy().astype(np.float64)
        ones = np.ones((1, self.n_features))
        return self._tensor(self._black_box(points, ones, 0.0)[:, 0])

    def _scores_np(self, points):
        """float64 scores of float64 points, as the user's own model call gives."""
        import torch

        cem = self.cem
        if cem.gradient_ == "autograd":
            u = torch.as_tensor(points, dtype=self.dtype, device=self.device)
            with torch.no_grad(), self._module_ctx():
                out = self.forward(u.reshape((len(u), *cem.input_shape_)))
            return out.detach().cpu().numpy().astype(np.float64)
        return self._black_box(points, np.ones((1, self.n_features)), 0.0)[:, 0]

    def _module_ctx(self):
        if self.cem.gradient_ == "autograd":
            return self.eval_mode(self.module)
        return _null()

    def _terms(self, y, st, c):
        """Margin, attack and AE terms at ``anchor + y``, the predicted class and
        the gradient of ``sum(c * attack) + gamma * sum(ae)`` in ``y``."""
        import torch

        cem = self.cem
        kappa = float(cem.kappa)
        shape = (len(y), *cem.input_shape_)
        with torch.enable_grad():
            yv = y.detach().requires_grad_(True)
            u = st.anchor + yv
            objective = 0.0
            if cem.gradient_ == "autograd":
                scores = self.forward(u.reshape(shape)).to(self.dtype)
                margin = _margin(scores, st.t0)
                attack = torch.clamp(self.sign * margin, min=-kappa)
                objective = (self._tensor(c) * attack).sum()
                pred = scores.detach().argmax(dim=1)
            else:
                margin, pred, attack_grad = self._zeroth_order(u.detach(), st)
                margin = self._tensor(margin)
                pred = torch.as_tensor(pred, device=self.device)
                attack = torch.clamp(self.sign * margin, min=-kappa)
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
                grad = grad + self._tensor(c[:, None] * attack_grad)
        return margin.detach(), attack.detach(), ae.detach(), pred, grad.detach()

    def _zeroth_order(self, u, st):
        """Margins at ``u`` and a forward-difference estimate of the attack term's
        gradient from ``n_directions`` random sign directions per sample, drawn
        from the sample's own generator (seeded by its content).

        The copies ``u + mu * d`` are the engine's ``m * (u - mu) + (1 - m) *
        (u + mu)`` with ``m = (1 - d) / 2``; ``m = 1/2`` gives ``u`` itself.
        """
        cem = self.cem
        u = u.cpu().numpy().astype(np.float64)
        n, q = len(u), cem.n_directions
        directions = np.stack(
            [rng.choice([-1.0, 1.0], size=(q, self.n_features)) for rng in st.rngs]
        )
        masks = np.concatenate(
            [np.full((n, 1, self.n_features), 0.5), (1.0 - directions) / 2], axis=1
        )
        scores = self._black_box(u - self.mu, masks, u + self.mu)
        t0 = st.t0.cpu().numpy()
        t_rep = np.repeat(t0[:, None], q + 1, axis=1)
        margin = _margin_np(scores, t_rep)
        attack = np.maximum(self.sign * margin, -float(cem.kappa))
        diffs = (attack[:, 1:] - attack[:, :1]) / (self.mu * q)
        grad = np.einsum("nq,nqf->nf", diffs, directions)
        pred = scores[:, 0].argmax(axis=1)
        return margin[:, 0], pred, grad

    # ------------------------------------------------------ the feasible set
    def _project(self, z, st):
        """alibi's PN rule (``pn_box='alibi'``): a feature that does not end
        farther from ``no_info`` than ``x`` is reset to ``x``."""
        if self.alibi_cols is None:
            return z
        import torch

        start = (st.x - self.no_info).abs()
        keep = ((st.x + z - self.no_info).abs() > start) | (self.alibi_cols == 0)
        return torch.where(keep, z, torch.zeros_like(z))

    def _snap(self, z, st):
        """Each one-hot group switched as a whole (PN: to the category of the
        largest value, the sample's own on ties; PP: the sample's category kept
        when at least half of it is)."""
        if not self.onehot:
            return z
        import torch

        z = z.clone()
        for cols, on, off in self.onehot:
            ct = self._tensor(cols).long()
            on_t, off_t = self._tensor(on), self._tensor(off)
            xb = st.x[:, ct]
            own = (xb == on_t).to(z.dtype).argmax(dim=1)
            rows = torch.arange(len(z), device=z.device)
            if self.pn:
                block = xb + z[:, ct]
                win = block.argmax(dim=1)
                win = torch.where(block[rows, win] <= block[rows, own], own, win)
                new = off_t.expand_as(xb).clone()
                new[rows, win] = on_t[win]
                z[:, ct] = new - xb
            else:
                gap = xb - st.anchor[:, ct]
                kept = z[:, ct][rows, own] >= gap[rows, own] / 2
                z[:, ct] = gap * kept.to(z.dtype)[:, None]
        return z

    def _feasible(self, z, st):
        """A candidate made feasible and checkable: box, PN rule, one-hot groups."""
        import torch

        z = torch.minimum(torch.maximum(z, st.lower), st.upper)
        return self._snap(self._project(z, st), st)

    def _gain(self, z, fs):
        """By how much ``anchor + z`` is valid (``-sign * m``), and the class there."""
        scores = self._scores(fs.anchor + z)
        gain = -self.sign * _margin(scores, fs.t0)
        return gain.cpu().numpy().astype(np.float64), scores.argmax(dim=1).cpu().numpy()

    def _column(self, values):
        """Per-row numbers as a column tensor ``(n, 1)`` of the run's dtype."""
        return self._tensor(np.asarray(values, dtype=float)[:, None])

    def _valid(self, z, fs):
        """Whether ``anchor + z`` beats the required margin, and the class there."""
        gain, cls = self._gain(z, fs)
        return gain > fs.req, cls

    # ------------------------------------------------------------ the loop
    def solve(self):
        import torch

        from ._optim import AdaExpGrad, Fista

        cem, st = self.cem, self.state
        tol, max_iter = float(cem.tol), int(cem.max_iter)
        z0 = torch.zeros(
            (self.n, self.n_features), dtype=self.dtype, device=self.device
        )
        if cem.optimizer == "fista":
            anneal = max(int(cem.patience_ or 1), max_iter // 10)
            st.opt = Fista(
                z0,
                learning_rate=cem.learning_rate_,
                l1=self.l1,
                l2=self.l2,
                max_iter=max_iter,
                anneal=anneal,
            )
        else:
            # MAXi starts a PP from the sample itself (usually valid from the
            # first step, then shrunk by the l1 and l2 steps), a PN from zero.
            # Each c step of a PP is a new run from that start; a PN continues
            # from its iterate (a new run from zero would mostly repeat).
            start = z0 if self.pn else st.lower + st.upper
            st.opt = AdaExpGrad(
                start,
                learning_rate=cem.learning_rate_,
                l1=self.l1,
                l2=self.l2,
                warm_start=self.pn,
            )
        st.stop = EarlyStopping(self.n, cem.patience_, tol)
        st.search = CSearch(self.n, cem.c_init, cem.c_steps, cem.c_patience)
        st.best = _Best(z0, st.t0.cpu().numpy())
        save_freq = cem.save_freq

        with self._module_ctx():
            while len(st):
                c = st.search.c
                point = st.opt.point
                margin, attack, ae, pred, grad = self._terms(point, st, c)
                check = point
                if self.onehot:
                    check = self._snap(point, st)
                    scores = self._scores(st.anchor + check)
                    margin, pred = _margin(scores, st.t0), scores.argmax(dim=1)
                l1 = check.abs().sum(dim=1)
                l2 = (check * check).sum(dim=1)
                stats = torch.stack(
                    [attack, l1, l2, ae, -self.sign * margin, pred.to(self.dtype)]
                )
                attack, l1, l2, ae, gain, pred = stats.cpu().numpy().astype(np.float64)
                size = self.l1 * l1 + self.l2 / 2 * l2 + self.gamma * ae
                loss = c * attack + size
                valid = gain > st.req
                pred = pred.astype(np.intp)
                self._hist.append(
                    (
                        st.rows.copy(),
                        np.column_stack(
                            [
                                st.t + 1,
                                st.search.step,
                                c,
                                loss,
                                attack,
                                l1,
                                l2,
                                ae,
                                valid,
                            ]
                        ).astype(np.float32),
                    )
                )
                st.best.update(valid, size, check, pred)
                st.stop.update(valid, size, loss)
                st.opt.step(
                    grad, st.lower, st.upper, lambda v, st=st: self._project(v, st)
                )
                st.t += 1
                if save_freq is not None:
                    self._save(st, save_freq)

                end = st.opt.k >= max_iter
                end |= st.opt.end_on_stall(st.stop.stalled)
                end |= st.stop.found & (st.stop.best_size <= 0)
                end |= st.opt.stuck()
                if not end.any():
                    continue
                improved = st.best.improved(tol)
                done = st.search.end_steps(end, st.stop.found, improved, st.best.found)
                done |= end & st.best.found & (st.best.size <= 0)
                restart = end & ~done
                if restart.any():
                    st.opt.reset(restart)
                    st.stop.reset(restart)
                    st.best.at_step_start[restart] = st.best.size[restart]
                if done.any():
                    self._finish(st.pop(done))

    def _save(self, st, save_freq):
        at = st.t % save_freq == 0
        if not at.any():
            return
        idx = np.flatnonzero(at)
        rows = st.rows[idx]
        it = self._to_delta(_take(st.opt.iterate, at), rows)
        best = self._to_delta(_take(st.best.z, at), rows)
        best[~st.best.found[idx]] = np.nan
        for j, i in enumerate(idx):
            key = int(st.t[i])
            st.saved[i][key] = it[j]
            st.saved_best[i][key] = best[j]

    # ---------------------------------------------------------- the results
    def _finish(self, fin):
        """Polish, check with the model and write out the finished rows."""
        rows, found = fin.rows, fin.best.found
        out = self.out
        out["n_iter"][rows] = fin.t
        for i, r in enumerate(rows):
            out["savepoints"][r] = fin.saved[i]
            out["best_savepoints"][r] = fin.saved_best[i]
        if not found.any():
            return
        fs = RowState(
            rows=rows[found],
            t0=_take(fin.t0, found),
            x=_take(fin.x, found),
            anchor=_take(fin.anchor, found),
            lower=_take(fin.lower, found),
            upper=_take(fin.upper, found),
            req=fin.req[found],
        )
        req = fs.req
        best_z = _take(fin.best.z, found)
        candidates = [best_z]
        if self.cem.polish:
            # The polish aims a little above the required margin (at most at
            # the best point's own), so that the rounding of another batch
            # does not undo its last step.
            gain = self._gain(best_z, fs)[0]
            fs.req = np.maximum(
                req,
                np.minimum(req * (1 + self.POLISH_SLACK), np.nextafter(gain, -np.inf)),
            )
            candidates.insert(0, self._polish(best_z, fs, fin.best.size[found]))
        todo = np.ones(len(fs), dtype=bool)
        for z in candidates:
            delta = self._to_delta(z, fs.rows)
            ok, cls, gain = self._confirm(delta, fs, req)
            take = todo & ok
            r = fs.rows[take]
            out["delta"][r] = delta[take]
            out["found"][r] = True
            out["class"][r] = cls[take]
            out["margin"][r] = gain[take]
            todo &= ~ok

    def _confirm(self, delta, fs, req):
        """The user's check: the model on the returned points, together and
        each alone; valid only when both beat the required margin ``req``."""
        t0 = fs.t0.cpu().numpy()
        x = self.flat[fs.rows]
        points = x + delta if self.pn else delta
        together = self._scores_np(points)
        alone = np.concatenate([self._scores_np(p[None]) for p in points])
        gain = np.minimum(
            -self.sign * _margin_np(together, t0),
            -self.sign * _margin_np(alone, t0),
        )
        ok = (gain > req) & np.isfinite(gain)
        return ok, together.argmax(axis=1), gain

    def _bisect(self, point_at, good, bad, cls, fs, steps):
        """Bisect a per-row scalar between a valid end ``good`` and ``bad``.

        ``point_at(v)`` gives each row's (feasible) offset at the value ``v`` of
        the row. Returns, after ``steps`` halvings, the valid end closest to
        ``bad`` and the model's class there (``cls`` where no midpoint was
        valid).
        """
        for _ in range(steps):
            mid = (good + bad) / 2
            ok, pred = self._valid(point_at(mid), fs)
            good = np.where(ok, mid, good)
            bad = np.where(ok, bad, mid)
            cls = np.where(ok, pred, cls)
        return good, cls

    # Bisection steps of the shrinking (factor in [0, 1]) and of the pruning.
    POLISH_STEPS = 12
    # Relative excess over the required margin that the polish keeps.
    POLISH_SLACK = 1e-3
    PRUNE_STEPS = 16

    def _polish(self, z, fs, limit):
        """Shrink each (valid) best point while it stays valid, forward passes only.

        Three bisections per row, each keeping a valid point: the largest soft
        threshold ``tau`` for which ``S_tau(z)`` stays valid, the smallest
        factor ``s`` in ``[0, 1]`` for which ``s * z`` does, then the most of
        its smallest coordinates that can be set to zero. The result is then
        concentrated (:meth:`_concentrate`), pruned (:meth:`_prune`) and, with
        exact gradients, moved by :meth:`_homotopy` and :meth:`_descend`.
        Every candidate is made feasible (box, PN rule, one-hot groups) before
        it is checked; every bisection is per row, so a row's result does not
        depend on its batch companions.
        """
        import torch

        from ._optim import soft_threshold

        m = len(z)
        _, cls = self._valid(z, fs)
        feas = lambda v: self._feasible(v, fs)  # noqa: E731
        col = self._column

        # 1. Soft-threshold: the largest valid tau of sign(z) max(|z| - tau, 0).
        t_hi = z.abs().amax(dim=1).cpu().numpy().astype(float)
        tau, cls = self._bisect(
            lambda v: feas(soft_threshold(z, col(v))),
            np.zeros(m),
            t_hi,
            cls,
            fs,
            self.POLISH_STEPS,
        )
        z = feas(soft_threshold(z, col(tau)))

        # 2. Scale towards zero: the smallest valid s (s = 1 is valid).
        s, cls = self._bisect(
            lambda v: feas(z * col(v)),
            np.ones(m),
            np.zeros(m),
            cls,
            fs,
            self.POLISH_STEPS,
        )
        z = feas(z * col(s))

        # 3. Drop the smallest coordinates: the largest valid count k of
        # coordinates set to zero, by rank of |z| (the zeros rank first).
        rank = torch.argsort(torch.argsort(z.abs(), dim=1, stable=True), dim=1)
        rank = rank.cpu().numpy()
        k_lo = (z == 0).sum(dim=1).cpu().numpy().astype(np.int64)  # valid
        k_hi = np.full(m, self.n_features + 1, dtype=np.int64)  # exclusive
        while np.any(k_hi - k_lo > 1):
            k = (k_lo + k_hi) // 2
            live = k_hi - k_lo > 1
            ok, _ = self._valid(feas(z * self._tensor(rank >= k[:, None])), fs)
            ok &= live
            k_lo = np.where(ok, k, k_lo)
            k_hi = np.where(live & ~ok, k, k_hi)
        z = feas(z * self._tensor(rank >= k_lo[:, None]))

        # 4. Concentrate: the most smallest coordinates dropped while the others,
        # scaled up by their smallest valid factor, stay within the size limit.
        z = self._concentrate(z, fs, limit)

        # 5. Greedy pruning: drop one small coordinate, scale the others up.
        z = self._prune(z, fs, limit)

        # 6. With exact gradients: a proximal homotopy from the valid point and
        # from its largest coordinates, then a descent that stays valid.
        z = self._homotopies(z, fs, limit)
        return self._descend(z, fs, limit)

    def _homotopies(self, z, fs, limit):
        """:meth:`_homotopy` from ``z``, then again from the core of its result
        (the ``HOMOTOPY_CORE`` share of its largest nonzero coordinates, made
        feasible), which leaves the basin of a dense point."""
        import torch

        if len(z) == 0 or self.HOMOTOPY_STEPS == 0 or self.cem.gradient_ != "autograd":
            return z
        z = self._homotopy(z, fs, limit)
        nnz = (z != 0).sum(dim=1, keepdim=True)
        rank = torch.argsort(torch.argsort(-z.abs(), dim=1, stable=True), dim=1)
        core = self._feasible(z * (rank < torch.ceil(nnz * self.HOMOTOPY_CORE)), fs)
        return self._homotopy(z, fs, limit, start=core)

    def _rescale(self, base, fs):
        """``base`` scaled by the smallest valid factor in ``[0, s_max]`` (the
        largest factor the box allows, at least 1); whether ``s_max`` is valid."""
        import torch

        nz = base != 0
        cap = torch.where(base > 0, fs.upper, fs.lower) / torch.where(nz, base, 1.0)
        s_max = np.maximum(torch.where(nz, cap, 0.0).amax(dim=1).cpu().numpy(), 1.0)

        def path(s):
            return self._feasible(base * self._tensor(np.asarray(s)[:, None]), fs)

        ok_end, pred_end = self._valid(path(s_max), fs)
        s, _ = self._bisect(
            path, s_max, np.zeros(len(base)), pred_end, fs, self.PRUNE_STEPS
        )
        return ok_end, path(s)

    def _concentrate(self, z, fs, limit):
        """Bisect on how many of the smallest coordinates are dropped when the
        rest is scaled up by its smallest valid factor; a count is accepted when
        the point is valid and its elastic-net size stays within ``limit``."""
        import torch

        m = len(z)
        rank = torch.argsort(torch.argsort(z.abs(), dim=1, stable=True), dim=1)
        rank = rank.cpu().numpy()
        k_lo = (z == 0).sum(dim=1).cpu().numpy().astype(np.int64)  # z itself
        k_hi = np.full(m, self.n_features, dtype=np.int64)  # exclusive
        out = z.clone()
        while np.any(k_hi - k_lo > 1):
            live = k_hi - k_lo > 1
            k = (k_lo + k_hi) // 2
            ok, trial = self._rescale(z * self._tensor(rank >= k[:, None]), fs)
            size = _elastic_net(trial, self.l1, self.l2)
            ok &= live & (size <= limit * (1 + 1e-9))
            if ok.any():
                out[torch.as_tensor(ok, device=out.device)] = trial[
                    torch.as_tensor(ok, device=out.device)
                ]
            k_lo = np.where(ok, k, k_lo)
            k_hi = np.where(live & ~ok, k, k_hi)
        return out

    def _prune(self, z, fs, limit):
        """Greedily drop small coordinates, scaling the rest up.

        Each round, for each row and each ``j`` of its ``prune_candidates``
        smallest nonzero coordinates, the other coordinates are scaled by the
        smallest valid factor (bisection, clipped to the box, so it may exceed
        1); the candidate of smallest ``|z|_1`` among those whose elastic-net
        size stays within ``limit`` (that of the best iterate) replaces the row
        if its ``|z|_1`` is smaller. Rounds repeat while some row improves.
        """
        import torch

        m, n_try = len(z), int(self.cem.prune_candidates)
        if m == 0 or n_try == 0:
            return z
        z = z.clone()
        active = np.ones(m, dtype=bool)
        while active.any():
            support = (z != 0).sum(dim=1).cpu().numpy()
            active &= support >= 2
            if not active.any():
                break
            idx = np.flatnonzero(active)
            n_cand = int(min(n_try, support[idx].max()))
            zi = _take(z, idx)
            # nonzero coordinates by increasing |z|, zeros last
            key = torch.where(zi != 0, zi.abs(), torch.full_like(zi, torch.inf))
            drop = torch.argsort(key, dim=1, stable=True)[:, :n_cand]
            real = np.arange(n_cand)[None, :] < support[idx][:, None]
            ci, cj = np.nonzero(real)
            cand = fs.take_rows(idx[ci])
            base = _take(zi, ci).clone()
            base[torch.arange(len(ci)), drop[ci, cj]] = 0
            ok_end, trial = self._rescale(base, cand)
            l1 = trial.abs().sum(dim=1).cpu().numpy().astype(float)
            size = _elastic_net(trial, self.l1, self.l2)
            l1 = np.where(ok_end & (size <= limit[idx[ci]] * (1 + 1e-9)), l1, np.inf)
            current = z.abs().sum(dim=1).cpu().numpy().astype(float)
            improved = np.zeros(m, dtype=bool)
            for r in idx:
                mine = np.flatnonzero(idx[ci] == r)
                best = mine[np.argmin(l1[mine])]
                if l1[best] < current[r] * (1 - 1e-6):
                    z[r] = trial[best]
                    improved[r] = True
            active &= improved
        return z

    # Steps of the l1 descent and bisection steps of its multiplier.
    DESCENT_STEPS = 10
    DESCENT_BISECT = 10
    DESCENT_RATIO = 1e4

    def _gain_grad(self, z, fs):
        """Each row's gain ``-sign * m(anchor + z)`` (float64) and its gradient
        in ``z`` (autograd models only)."""
        import torch

        shape = (len(z), *self.cem.input_shape_)
        with torch.enable_grad():
            zv = z.detach().requires_grad_(True)
            scores = self.forward((fs.anchor + zv).reshape(shape)).to(self.dtype)
            gain = -self.sign * _margin(scores, fs.t0)
            grad = torch.autograd.grad(gain.sum(), zv)[0].detach()
        return gain.detach().cpu().numpy().astype(np.float64), grad

    # Steps of the l1 homotopy, the range of its threshold-to-push ratio and
    # its first push relative to the mean nonzero magnitude.
    HOMOTOPY_STEPS = 150
    HOMOTOPY_THETA = (0.01, 1.0)
    HOMOTOPY_RHO = 4.0
    # Share of the largest nonzero coordinates that the second homotopy starts from.
    HOMOTOPY_CORE = 0.1

    def _homotopy(self, z, fs, limit, start=None):
        """Proximal subgradient steps for ``min |z|_1`` s.t. valid, from ``z``.

        Each step shrinks every coordinate by ``tau`` (soft threshold) after
        pushing the row along ``rho g / max|g|`` when it is not valid, ``g`` the
        gradient of its gain; ``tau = theta rho`` with ``theta`` rising
        geometrically over the steps (``HOMOTOPY_THETA``) and ``rho`` decaying
        as ``sqrt(1 - k / HOMOTOPY_STEPS)`` from ``HOMOTOPY_RHO`` times the
        row's mean nonzero magnitude. A coordinate survives where the push, in
        the share of steps the row is invalid, beats the shrinkage: where the
        gain rises fastest per unit of l1. The valid iterate of smallest ``|z|_1`` (with
        elastic-net size within ``limit``) replaces the row when it is smaller.
        """
        import torch

        from ._optim import soft_threshold

        m, n_steps = len(z), self.HOMOTOPY_STEPS
        if m == 0 or n_steps == 0 or self.cem.gradient_ != "autograd":
            return z
        best = z.clone()
        best_l1 = z.abs().sum(dim=1).cpu().numpy().astype(float)
        nnz = np.maximum((z != 0).sum(dim=1).cpu().numpy(), 1)
        rho0 = best_l1 / nnz * self.HOMOTOPY_RHO  # of z, also from another start
        th0, th1 = self.HOMOTOPY_THETA
        col = self._column
        cur = z.clone() if start is None else start.clone()
        for k in range(n_steps + 1):
            gain, g = self._gain_grad(cur, fs)
            valid = gain > fs.req
            l1 = cur.abs().sum(dim=1).cpu().numpy().astype(float)
            size = _elastic_net(cur, self.l1, self.l2)
            better = valid & (l1 < best_l1) & (size <= limit * (1 + 1e-9))
            if better.any():
                mask = torch.as_tensor(better, device=cur.device)
                best[mask] = cur[mask]
                best_l1[better] = l1[better]
            if k == n_steps:
                break
            rho = rho0 * np.sqrt(1 - k / n_steps)
            theta = th0 * (th1 / th0) ** (k / n_steps)
            gmax = g.abs().amax(dim=1).cpu().numpy().astype(float)
            push = np.where(valid | (gmax == 0), 0.0, rho / np.where(gmax > 0, gmax, 1))
            v = cur + col(push) * g
            cur = self._feasible(soft_threshold(v, col(theta * rho)), fs)
        return best

    def _descend(self, z, fs, limit):
        """Lower ``|z|_1`` of each valid row along the model's gradient.

        A proximal step on the Lagrangian ``|z|_1 - mu * gain(z)``: with ``g``
        the gradient of the row's gain at ``z`` and a threshold ``t``, the
        candidate is ``S_t(z + mu t g)`` made feasible, where the multiplier
        ``mu = r / max|g|`` takes the smallest ratio ``r`` in ``[1,
        DESCENT_RATIO]`` (geometric bisection) for which the candidate is
        valid. The candidate replaces the row when it is valid, its ``|z|_1``
        is smaller and its elastic-net size stays within ``limit``; ``t`` then
        grows by half, else it halves. Coordinates where the gain rises fastest
        per unit of l1 grow, the others shrink to zero: at a fixed point the
        support holds the coordinates of largest ``|g_j|`` (the linear
        problem's solution). Rows are independent; models without exact
        gradients skip this stage.
        """
        import torch

        from ._optim import soft_threshold

        m = len(z)
        if m == 0 or self.DESCENT_STEPS == 0 or self.cem.gradient_ != "autograd":
            return z
        z = z.clone()
        l1 = z.abs().sum(dim=1).cpu().numpy().astype(float)
        nnz = np.maximum((z != 0).sum(dim=1).cpu().numpy(), 1)
        t = l1 / nnz / 4  # a quarter of the mean nonzero magnitude
        active = l1 > 0
        col = self._column
        for _ in range(self.DESCENT_STEPS):
            active &= t > 1e-9 * np.maximum(l1 / nnz, 1e-300)
            if not active.any():
                break
            idx = np.flatnonzero(active)
            zi, fi = _take(z, idx), fs.take_rows(idx)
            _, g = self._gain_grad(zi, fi)
            gmax = g.abs().amax(dim=1).cpu().numpy().astype(float)
            gmax = np.where(gmax > 0, gmax, 1.0)
            ti = t[idx]

            def at(r, zi=zi, g=g, fi=fi, ti=ti, gmax=gmax):
                v = zi + col(np.asarray(r) * ti / gmax) * g
                return self._feasible(soft_threshold(v, col(ti)), fi)

            hi = np.full(len(idx), float(self.DESCENT_RATIO))
            lo = np.ones(len(idx))
            for _ in range(self.DESCENT_BISECT):
                mid = np.sqrt(lo * hi)
                ok, _ = self._valid(at(mid), fi)
                hi = np.where(ok, mid, hi)
                lo = np.where(ok, lo, mid)
            trial = at(hi)
            ok, _ = self._valid(trial, fi)
            new_l1 = trial.abs().sum(dim=1).cpu().numpy().astype(float)
            size = _elastic_net(trial, self.l1, self.l2)
            take = ok & (new_l1 < l1[idx] * (1 - 1e-6))
            take &= size <= limit[idx] * (1 + 1e-9)
            if take.any():
                rows = idx[take]
                z[torch.as_tensor(rows, device=z.device)] = trial[
                    torch.as_tensor(take, device=z.device)
                ]
                l1[rows] = new_l1[take]
            t[idx] = np.where(take, t[idx] * 1.5, t[idx] / 2)
        return z

    def _to_delta(self, z, rows):
        """Optimised offsets to deltas (float64, exactly inside the bounds)."""
        z = z.detach().cpu().numpy().astype(np.float64)
        lower, upper = self.cem._delta_bounds(self.flat[rows])
        if not self.pn:
            no_info = self.no_info_np[None, :]
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


def _elastic_net(z, l1, l2):
    """``l1 |z|_1 + (l2 / 2) |z|_2^2`` of each row of the tensor ``z``, as float64."""
    z = z.detach().cpu().numpy().astype(np.float64)
    return l1 * np.abs(z).sum(axis=1) + l2 / 2 * (z**2).sum(axis=1)


def _margin(scores, t0):
    """``f_t0 - max_{i != t0} f_i`` for each row of the tensor ``scores``."""
    import torch

    f_t = scores.gather(1, t0[:, None])[:, 0]
    onehot = torch.zeros_like(scores, dtype=torch.bool)
    onehot[torch.arange(len(scores)), t0] = True
    others = scores.masked_fill(onehot, -torch.inf).amax(dim=1)
    return f_t - others


def _margin_np(scores, t0):
    """``f_t0 - max_{i != t0} f_i`` over the last axis of ``scores`` (numpy)."""
    t0 = np.asarray(t0)[..., None]
    f_t = np.take_along_axis(scores, t0, axis=-1)[..., 0]
    others = scores.copy()
    np.put_along_axis(others, t0, -np.inf, axis=-1)
    return f_t - others.max(axis=-1)


def _merge_savepoints(per_sample, n, shape):
    """One OrderedDict ``iteration -> (n, *shape)`` from per-sample dicts."""
    dicts = [
        d if isinstance(d, dict) else {} for d in np.asarray(per_sample).reshape(-1)
    ]
    keys = sorted({k for d in dicts for k in d})
    merged = OrderedDict()
    for key in keys:
        values = np.full((n, int(np.prod(shape))), np.nan)
        for i, d in enumerate(dicts):
            if key in d:
                values[i] = d[key]
        merged[key] = values.reshape((n, *shape))
    return merged


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
