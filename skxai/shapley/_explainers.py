"""Shapley values as explainers: exact, permutation sampling and KernelSHAP.

The players are the features of a table (or its feature groups: a categorical
column a ``ColumnTransformer`` encodes is one feature of the raw DataFrame), or
the cells of a grid of superpixels of an image (``window``). The worth of a
coalition ``S`` of players is the model's score of the sample with the features
outside ``S`` taken from the background set given to :meth:`fit` and averaged
over its rows (interventional Shapley values), or replaced by a ``fill`` value.
The model calls go through the one perturbation engine
(:func:`skxai._engine.score_perturbations`), many coalitions per call.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._engine import sample_seeds, score_perturbations
from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..utils._sklearn_compat import Interval, StrOptions
from ._maths import (
    _all_masks,
    chain_contributions,
    exact_reduce,
    kernel_plan,
    kernel_solve,
    paired_background_plan,
    permutation_plan,
)

__all__ = ["KernelSHAP", "ShapleyValues"]

# Exact Shapley values enumerate 2 ** n coalitions: refuse beyond this.
_MAX_EXACT_PLAYERS = 20
# method="auto" is exact when it costs at most this many model inputs per sample
# (or no more than permutation sampling).
_AFFORDABLE_INPUTS = 2**17
# Masks of the permutation plan up to this size are built at once, larger ones
# one engine sample at a time.
_EAGER_MASK_BYTES = 2**26


class _ShapleyMixin:
    """What ShapleyValues and KernelSHAP share: players, background, worths."""

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        name = type(self).__name__
        layout = self.layout_
        self.player_features_ = self._players(layout)
        self.n_players_ = len(self.player_features_)
        players = self.player_features_
        square = players.shape[0] == players.shape[1]
        self._one_player_per_feature = square and np.array_equal(
            players, np.eye(len(players), dtype=bool)
        )
        if self.n_players_ < 1:
            raise ValueError(f"{name} needs at least one feature to explain.")
        self.player_names_ = self._player_names(layout)
        self.reference_, self.fill_ = self._fit_background(X)
        # v(empty): the background's mean score, the same for every sample.
        if self.reference_ is not None:
            rows = self.reference_
        else:
            rows = self.fill_[None].astype(X.dtype)
        scores = self.adapter_.scores(
            layout.to_model(rows), self.response_method_, batch_size=self.batch_size
        )
        self.reference_scores_ = scores
        self.expected_value_ = scores.mean(axis=0)

    def _players(self, layout):
        """Boolean matrix (n_players, n_features): the features of each player."""
        name = type(self).__name__
        if layout.kind == "tabular":
            if self.window is not None:
                raise ValueError(
                    f"The 'window' parameter of {name} groups the pixels of images "
                    "into superpixels; X is a table. Use window=None (and 'groups' "
                    "to move columns together)."
                )
            eye = np.eye(layout.n_units, dtype=bool)
            features = layout.units_to_features(eye)
            if layout.groups is not None:  # features in no group are no player
                index = layout.unit_index()
                features &= index[None, :] >= 0
            return features
        height, width = layout.image_hw
        window = self.window
        if window is None:
            window = (1, 1)
        if isinstance(window, Integral):
            window = (int(window), int(window))
        window = tuple(window)
        if (
            len(window) != 2
            or not all(isinstance(v, Integral) for v in window)
            or min(window) < 1
            or window[0] > height
            or window[1] > width
        ):
            raise ValueError(
                f"The 'window' parameter of {name} must be an int or a (height, "
                f"width) pair of positive ints that fits inside the image "
                f"{(height, width)}. Got {self.window!r}."
            )
        rows = np.arange(height) // window[0]
        cols = np.arange(width) // window[1]
        n_cols = -(-width // window[1])
        cell = (rows[:, None] * n_cols + cols[None, :]).reshape(-1)
        n_cells = int(cell.max()) + 1
        pixels = cell[None, :] == np.arange(n_cells)[:, None]
        self.superpixels_ = cell.reshape(height, width)
        self._grid_cols = n_cols
        return layout.units_to_features(pixels)

    def _player_names(self, layout):
        if layout.kind == "tabular":
            return np.asarray(layout.unit_names, dtype=object)
        n_cols = self._grid_cols
        return np.asarray(
            [f"r{p // n_cols}c{p % n_cols}" for p in range(self.n_players_)],
            dtype=object,
        )

    def _fit_background(self, X):
        """``(reference_, fill_)``: the background rows, or the fill value."""
        name = type(self).__name__
        fill = self.fill
        if fill is None:
            n_ref = self.n_reference
            if n_ref is not None and len(X) > n_ref:
                rng = check_random_state(self.random_state)
                rows = np.sort(rng.choice(len(X), size=n_ref, replace=False))
                X = X[rows]
            return np.array(X, copy=True).reshape(len(X), -1), None
        X = X.reshape(len(X), -1)
        if X.dtype == object:
            raise ValueError(
                f"The 'fill' parameter of {name} must be None (the background rows "
                "given to fit replace the hidden features) for a DataFrame with "
                f"non-numeric columns. Got {fill!r}."
            )
        if isinstance(fill, str):
            return None, (X.mean(axis=0) if fill == "mean" else np.median(X, axis=0))
        if np.ndim(fill) == 0:
            value = float(fill)
            if not np.isfinite(value):
                raise ValueError(
                    f"The 'fill' parameter of {name} must be finite. Got {fill!r}."
                )
            return None, np.full(X.shape[1], value)
        array = np.asarray(getattr(fill, "to_numpy", lambda: fill)(), dtype=np.float64)
        if array.size != X.shape[1]:
            raise ValueError(
                f"The 'fill' parameter of {name} must be None, 'mean', 'median', a "
                f"number or one sample ({X.shape[1]} values). Got an array of shape "
                f"{array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"The 'fill' sample of {name} must hold finite values only; it "
                "contains NaN or infinity."
            )
        return None, array.reshape(-1)

    # -------------------------------------------------------------- explain
    def _draw_seeds(self, n_samples):
        # One seed per call; each sample's plan is seeded by it and the sample's
        # own values, so it does not depend on position, n_jobs or batch_size.
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return np.full(n_samples, seed, dtype=np.int64)

    def _worths(self, X, targets, masks):
        """Worths ``v(S)`` of coalitions of players for each sample.

        ``masks`` is ``(k, n_players)`` shared or a list of one ``(k_i,
        n_players)`` per sample. Returns ``(n, k, t)`` (or a list of ``(k_i,
        t)``).
        """
        shared = not isinstance(masks, list)
        n = len(X)
        if shared:
            k = len(masks)
            plans = None
        else:
            k = max((len(m) for m in masks), default=0)
            # pad each plan with copies of its last coalition: a copy equal to
            # the previous one is not sent to the model again
            plans = [
                np.concatenate([m, np.repeat(m[-1:], k - len(m), axis=0)])
                if len(m)
                else np.ones((k, self.n_players_), dtype=bool)
                for m in masks
            ]
        if k == 0:
            out = np.zeros((n, 0, targets.shape[1]))
            return out if shared else list(out)
        if shared:
            feature_masks = self._to_features(masks)
        else:

            def feature_masks(i):
                return self._to_features(plans[i])

        out = score_perturbations(
            self.adapter_,
            X.reshape(n, -1),
            feature_masks,
            fill=None if self.fill_ is None else self.fill_.astype(X.dtype),
            response_method=self.response_method_,
            batch_size=self.batch_size,
            targets=targets,
            reference=self.reference_,
            layout=self.layout_,
        )
        if shared:
            return out
        return [out[i, : len(m)] for i, m in enumerate(masks)]

    def _to_features(self, masks):
        """Coalitions of players ``(..., n_players)`` to feature masks."""
        players = self.player_features_
        if self._one_player_per_feature:
            return np.asarray(masks, dtype=bool)
        # float matmul runs on BLAS (integer matmul does not); counts stay exact
        covered = masks.astype(np.float32) @ players.astype(np.float32) > 0.5
        # features in no player are always kept
        return covered | ~players.any(axis=0)

    def _ends(self, X, targets):
        """``(v(N), v(empty))`` of shape (n, t): f(x) and the background's mean.

        With features in no player (groups leaving columns out), ``v(empty)``
        is the mean score of the background rows with those features taken
        from the sample.
        """
        scores = self.adapter_.scores(
            self.layout_.to_model(X), self.response_method_, batch_size=self.batch_size
        )
        full = np.take_along_axis(scores, targets, axis=1)
        if not self._fixed_features().any():
            return full, self.expected_value_[targets]
        # features in no player keep the sample's values, in v(empty) too
        none = np.zeros((1, self.n_players_), dtype=bool)
        return full, self._worths(X, targets, none)[:, 0]

    def _fixed_features(self):
        """Features in no player: they always keep the sample's values."""
        return ~self.player_features_.any(axis=0)

    def _result(self, X, targets, values, full, empty, extra=None):
        """Maps over features (each feature has its player's value) and extras."""
        n, t = targets.shape
        maps = values @ self.player_features_.astype(values.dtype)
        residual = values.sum(axis=2) - (full - empty)
        result = {
            "maps": maps.reshape(n, t, *self.input_shape_),
            "values": values,
            "base_values": empty,
            "residual": residual,
        }
        result.update(extra or {})
        return result


_COMMON_CONSTRAINTS = {
    "fill": [None, StrOptions({"mean", "median"}), Real, "array-like"],
    "n_reference": [Interval(Integral, 1, None, closed="left"), None],
    "window": [Integral, tuple, list, None],
    "groups": ["array-like", dict, None],
    "image_shape": [tuple, list, None],
    "response_method": [StrOptions(set(RESPONSE_METHODS))],
    "random_state": ["random_state"],
}


class ShapleyValues(_ShapleyMixin, ExplainerMixin, BaseExplainer):
    """Shapley values: each feature's average effect over all coalitions.

    The Shapley value of a player (a feature, a group of features or a
    superpixel) is its marginal effect on the class score, averaged over every
    coalition of the other players with the Shapley weights. Hidden features
    take the values of the background rows given to :meth:`fit`, and the score
    is averaged over them (interventional Shapley values, as shap's
    ``Independent`` masker), or a ``fill`` value. Computed exactly over all
    coalitions, or estimated on random permutations of the players.

    Parameters
    ----------
    model : object
        The fitted model to explain: a scikit-learn classifier or Pipeline, a
        skorch ``NeuralNet``, a ``torch.nn.Module`` or a callable ``f(X) ->
        scores``. It is never refit or copied.
    method : {'auto', 'exact', 'permutation'}, default='auto'
        ``'exact'`` evaluates all ``2 ** n_players`` coalitions against every
        background row (at most 20 players); ``'permutation'`` averages the
        marginal contributions along ``n_permutations`` random orders of the
        players and their reverses; ``'auto'`` is exact when that needs at
        most ``2 ** 17`` model inputs per sample (10 players with 100
        background rows) or no more than the permutations.
    n_permutations : int, default=128
        Number of random orders of the players for ``method='permutation'``;
        each is also used reversed (antithetic sampling). With a background,
        each pair of orders is evaluated against one background row, the rows
        taken in turn, so ``2 * n_permutations * (n_players - 1)`` model inputs
        are spent per sample; with ``n_permutations`` at least the number of
        background rows every row is used and the values add up exactly.
    fill : None, {'mean', 'median'}, float or array-like, default=None
        What hidden features become. ``None``: the background rows given to
        :meth:`fit` (at most ``n_reference`` of them), the score averaged over
        them. Otherwise the per-feature mean or median of the rows given to
        :meth:`fit`, a number, or one sample's values.
    n_reference : int or None, default=100
        Largest number of background rows kept (a random subset, drawn with
        ``random_state``); ``None`` keeps them all. Each coalition costs one
        model input per background row.
    window : int or tuple of (int, int), default=None
        Images only: the players are the cells of a grid of ``window`` pixels
        (superpixels, clipped at the border). ``None``: one player per pixel.
    groups : array-like or dict, default=None
        Tables only: a group label per column, or a dict ``name -> columns``;
        each group is one player (e.g. the one-hot columns of a category).
        Columns in no group are no player: they keep the sample's values, in
        ``base_values`` too.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images; ``None`` for tables and N-D inputs.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        Model output explained; ``'auto'`` uses ``decision_function`` when the
        model has it and ``predict_proba`` otherwise.
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
default='predicted'
        Class explained: the predicted one, the true one (``y`` given to
        :meth:`explain`), a class label, one label per sample, or ``'all'``.
    batch_size : int, default=8192
        Largest number of model inputs (coalitions times background rows) in
        memory and in one model call.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    random_state : int, RandomState instance or None, default=None
        Pseudo-random number generator to control the permutations and the
        background subset.
        Pass an int for reproducible results across multiple function calls.
        See :term:`Glossary <random_state>`.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    method_ : {'exact', 'permutation'}
        The method used.
    expected_value_ : ndarray of shape (n_classes,)
        Mean score of the background rows (or the score of the fill): the
        ``base_values`` of every explanation.
    reference_ : ndarray of shape (n_reference, n_features_in_) or None
        The background rows kept.
    fill_ : ndarray of shape (n_features_in_,) or None
        The fill value, when ``fill`` is not None.
    player_features_ : ndarray of shape (n_players_, n_features_in_) of bool
        The features of each player.
    n_players_ : int
        Number of players.
    player_names_ : ndarray of shape (n_players_,)
        Feature, group or cell names.
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
        Shape of one map.

    See Also
    --------
    KernelSHAP : Shapley values from a weighted linear regression.
    GradientSHAP : Expected gradients, for differentiable models.
    Occlusion : The effect of hiding one window, without coalitions.

    Notes
    -----
    With players :math:`N`, ``n = |N|`` and worth :math:`v(S) =
    \\frac{1}{|B|}\\sum_{b \\in B} f_c(x_S, b_{N \\setminus S})`,

    .. math:: \\phi_i = \\sum_{S \\subseteq N \\setminus \\{i\\}}
              \\frac{|S|!\\,(n - |S| - 1)!}{n!}\\big(v(S \\cup \\{i\\}) -
              v(S)\\big).

    The values add up to ``f_c(x) - v(empty)`` exactly, for the permutation
    estimate too (the contributions along an order telescope):
    ``explain(X).base_values`` holds ``v(empty)``, the mean background score,
    and ``residual`` the gap (float rounding; with fewer permutations than
    background rows, the gap between the rows used and all rows).

    The permutation estimate spends one model input per coalition: each order
    and its reverse run against one background row, every row serving as
    many pairs (stratified), and the estimate averages the rows' means (see
    :func:`~skxai.shapley._maths.paired_background_plan`). It is unbiased and
    exact for additive models; per model input it is far more accurate than
    averaging each coalition over all background rows, as shap's
    ``PermutationExplainer`` does. ``std_error`` estimates its standard error
    from the spread over the pairs (an upper estimate: stratification is
    ignored). With a ``fill`` value, a coalition met twice is evaluated once.
    The orders of a sample are seeded by ``random_state`` and the sample's
    values, so a sample gets the same values whatever its position,
    ``n_jobs`` or ``batch_size``. ``explain(X).values`` holds one value per
    player (they add up as above); in ``maps`` every feature of a player
    shows the player's value, as every pixel under an Occlusion window does.

    References
    ----------
    .. [1] L. S. Shapley, "A Value for n-Person Games", Contributions to the
       Theory of Games II, 1953.
    .. [2] E. Strumbelj and I. Kononenko, "Explaining prediction models and
       individual predictions with feature contributions", Knowledge and
       Information Systems, 2014.
    .. [3] R. Mitchell, J. Cooper, E. Frank and G. Holmes, "Sampling
       Permutations for Shapley Value Estimation", JMLR, 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import ShapleyValues
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> sv = ShapleyValues(clf, method="exact", target=0).fit(X[::3])
    >>> ex = sv.explain(X[:2])
    >>> ex.maps.shape, ex.base_values.shape
    ((2, 1, 4), (2, 1))
    >>> background = X[::3]
    >>> linear = clf.coef_[0] * (X[:2] - background.mean(axis=0))
    >>> bool(np.allclose(ex.maps[:, 0], linear))
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        **_COMMON_CONSTRAINTS,
        "method": [StrOptions({"auto", "exact", "permutation"})],
        "n_permutations": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        model,
        *,
        method="auto",
        n_permutations=128,
        fill=None,
        n_reference=100,
        window=None,
        groups=None,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=8192,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.method = method
        self.n_permutations = n_permutations
        self.fill = fill
        self.n_reference = n_reference
        self.window = window
        self.groups = groups
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, y):
        super()._fit(X, y)
        n = self.n_players_
        method = self.method
        if method == "auto":
            exact_cost = (2**n - 2) * self._n_background()
            affordable = max(self._permutation_cost(n), _AFFORDABLE_INPUTS)
            exact_ok = n <= _MAX_EXACT_PLAYERS and exact_cost <= affordable
            method = "exact" if exact_ok else "permutation"
        if method == "exact" and n > _MAX_EXACT_PLAYERS:
            raise ValueError(
                f"The 'method' parameter of ShapleyValues can be 'exact' for at most "
                f"{_MAX_EXACT_PLAYERS} players (2 ** n coalitions); there are {n}. "
                "Use method='permutation' or KernelSHAP, or fewer players (groups, "
                "a larger window)."
            )
        self.method_ = method
        if method == "exact":
            self._masks = _all_masks(n)  # empty first, grand coalition last

    def _n_background(self):
        reference = getattr(self, "reference_", None)
        return 1 if reference is None else len(reference)

    def _permutation_cost(self, n):
        """Model inputs per sample of permutation sampling with n players."""
        return 2 * self.n_permutations * max(n - 1, 1)

    def _inputs_per_sample(self):
        n = getattr(self, "n_players_", 1)
        if getattr(self, "method_", "permutation") == "exact":
            return max(1, (2**n - 2) * self._n_background())
        return self._permutation_cost(n)

    def _explain_chunk(self, X, targets, seeds):
        n, t = targets.shape
        full, empty = self._ends(X, targets)
        if self.method_ == "exact":
            masks = self._masks
            v = np.empty((len(masks), n, t))
            v[0], v[-1] = empty, full
            v[1:-1] = self._worths(X, targets, masks[1:-1]).transpose(1, 0, 2)
            values = exact_reduce(masks, v).transpose(1, 2, 0)  # (n, t, p)
            return self._result(X, targets, values, full, empty)
        rngs = [
            np.random.default_rng(int(seed))
            for seed in (sample_seeds(X, int(seeds[0])) if n else [])
        ]
        if self.reference_ is None:
            return self._permutation_fill(X, targets, full, empty, rngs)
        return self._permutation_background(X, targets, full, empty, rngs)

    def _permutation_fill(self, X, targets, full, empty, rngs):
        """Orders against the fill: repeated coalitions evaluated once."""
        n, t = targets.shape
        n_players, n_perm = self.n_players_, self.n_permutations
        plans = [permutation_plan(n_players, n_perm, rng) for rng in rngs]
        inner = [_inner_rows(masks) for masks, _, _ in plans]
        worths = self._worths(
            X, targets, [plans[i][0][rows] for i, rows in enumerate(inner)]
        )
        values = np.empty((n, t, n_players))
        std_error = np.zeros((n, t, n_players))
        for i, (masks, coef, pair_coef) in enumerate(plans):
            v = np.empty((len(masks), t))
            v[inner[i]] = worths[i]
            sizes = masks.sum(axis=1)
            v[sizes == 0] = empty[i]
            v[sizes == n_players] = full[i]
            values[i] = (coef.T @ v).T
            if n_perm > 1:
                per_pair = (pair_coef @ v).reshape(n_perm, n_players, t)
                std_error[i] = per_pair.std(axis=0, ddof=1).T / np.sqrt(n_perm)
        return self._result(X, targets, values, full, empty, {"std_error": std_error})

    def _permutation_background(self, X, targets, full, empty, rngs):
        """Each order and its reverse against one background row, stratified.

        One model input per coalition instead of one per background row (see
        :func:`~skxai.shapley._maths.paired_background_plan`): each copy of
        ``x`` is filled from its order's background row.
        """
        n, t = targets.shape
        n_players, n_perm = self.n_players_, self.n_permutations
        n_bg = len(self.reference_)
        plans = [paired_background_plan(n_players, n_perm, n_bg, rng) for rng in rngs]
        # chain[i, o, k]: worth of the first k players of order o of sample i
        chain = np.empty((n, 2 * n_perm, n_players + 1, t))
        for i, (_, rows, _) in enumerate(plans):
            chain[i, :, 0] = self.reference_scores_[rows[:, None], targets[i]]
        chain[:, :, n_players] = full[:, None, :]
        fixed = self._fixed_features().any()
        if (n_players > 1 or fixed) and n:
            inner, first = self._background_chains(X, targets, plans, fixed)
            chain[:, :, 1:n_players] = inner
            if fixed:
                chain[:, :, 0] = first
        values = np.empty((n, t, n_players))
        std_error = np.zeros((n, t, n_players))
        for i, (orders, _, weights) in enumerate(plans):
            contrib = chain_contributions(orders, chain[i])  # (2P, p, t)
            values[i] = np.einsum("o,opt->tp", weights, contrib)
            if n_perm > 1:
                per_pair = (contrib[:n_perm] + contrib[n_perm:]) / 2
                std_error[i] = per_pair.std(axis=0, ddof=1).T / np.sqrt(n_perm)
        return self._result(X, targets, values, full, empty, {"std_error": std_error})

    def _background_chains(self, X, targets, plans, fixed):
        """Worths along every order against its background row.

        Returns the inner prefixes' worths, shape (n, 2P, p - 1, t), and, when
        ``fixed`` (features in no player keep the sample's values), the empty
        prefix's worths, shape (n, 2P, t).

        Copy ``(o, s)`` of sample ``x`` keeps ``x``'s values on the first ``s``
        players of order ``o`` and takes the others from the order's background
        row: the engine's per-copy fill rows (``fill_index``), one model input
        per copy.
        """
        n, t = targets.shape
        n_players, n_perm = self.n_players_, self.n_permutations
        sizes = np.arange(0 if fixed else 1, n_players)
        n_chain = len(sizes)
        ranks = []
        for orders, _, _ in plans:
            rank = np.empty_like(orders)  # the inverse permutations
            np.put_along_axis(rank, orders, np.arange(n_players)[None], axis=1)
            ranks.append(rank)
        index = np.stack([np.repeat(rows, n_chain) for _, rows, _ in plans])
        n_copies = index.shape[1]

        def masks(i):
            # copies of sample i, built on demand (memory O(copies))
            prefixes = ranks[i][:, None, :] < sizes[None, :, None]
            return self._to_features(prefixes.reshape(n_copies, n_players))

        flat = X.reshape(n, -1)
        source = masks
        if n * n_copies * flat.shape[1] <= _EAGER_MASK_BYTES:
            source = np.stack([masks(i) for i in range(n)])
        scores = score_perturbations(
            self.adapter_,
            flat,
            source,
            response_method=self.response_method_,
            batch_size=self.batch_size,
            targets=targets,
            reference=self.reference_,
            fill_index=index,
            layout=self.layout_,
        )
        out = scores.reshape(n, 2 * n_perm, n_chain, t)
        if fixed:
            return out[:, :, 1:], out[:, :, 0]
        return out, None


def _inner_rows(masks):
    """Rows of coalitions that are neither empty nor grand."""
    sizes = masks.sum(axis=1)
    return (sizes > 0) & (sizes < masks.shape[1])


class KernelSHAP(_ShapleyMixin, ExplainerMixin, BaseExplainer):
    """KernelSHAP: Shapley values from a weighted linear regression on coalitions.

    The Shapley values are the solution of a weighted least-squares fit of the
    coalitions' worths by an additive model, under the constraint that the
    values add up to ``f(x) - v(empty)`` (Lundberg and Lee, 2017). Hidden
    features take the values of the background rows given to :meth:`fit` (the
    score averaged over them) or a ``fill`` value.

    Parameters
    ----------
    model : object
        The fitted model to explain: a scikit-learn classifier or Pipeline, a
        skorch ``NeuralNet``, a ``torch.nn.Module`` or a callable ``f(X) ->
        scores``. It is never refit or copied.
    n_samples : int, default=2048
        Budget of coalitions per sample (the empty and full ones not counted).
        Coalition sizes are enumerated completely from the smallest and largest
        inwards while the budget allows, the rest sampled in complementary
        pairs; with ``n_samples >= 2 ** n_players - 2`` every coalition is used
        and the values are exact.
    fill : None, {'mean', 'median'}, float or array-like, default=None
        What hidden features become. ``None``: the background rows given to
        :meth:`fit` (at most ``n_reference`` of them), the score averaged over
        them. Otherwise the per-feature mean or median of the rows given to
        :meth:`fit`, a number, or one sample's values.
    n_reference : int or None, default=100
        Largest number of background rows kept (a random subset, drawn with
        ``random_state``); ``None`` keeps them all.
    window : int or tuple of (int, int), default=None
        Images only: the players are the cells of a grid of ``window`` pixels.
        ``None``: one player per pixel.
    groups : array-like or dict, default=None
        Tables only: a group label per column, or a dict ``name -> columns``;
        each group is one player. Columns in no group are no player: they keep
        the sample's values, in ``base_values`` too.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        Model output explained; ``'auto'`` uses ``decision_function`` when the
        model has it and ``predict_proba`` otherwise.
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
default='predicted'
        Class explained: the predicted one, the true one (``y`` given to
        :meth:`explain`), a class label, one label per sample, or ``'all'``.
    batch_size : int, default=8192
        Largest number of model inputs (coalitions times background rows) in
        memory and in one model call.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    random_state : int, RandomState instance or None, default=None
        Pseudo-random number generator to control the sampled coalitions and
        the background subset.
        Pass an int for reproducible results across multiple function calls.
        See :term:`Glossary <random_state>`.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    expected_value_ : ndarray of shape (n_classes,)
        Mean score of the background rows (or the score of the fill).
    reference_ : ndarray of shape (n_reference, n_features_in_) or None
        The background rows kept.
    fill_ : ndarray of shape (n_features_in_,) or None
        The fill value, when ``fill`` is not None.
    player_features_ : ndarray of shape (n_players_, n_features_in_) of bool
        The features of each player.
    n_players_ : int
        Number of players.
    player_names_ : ndarray of shape (n_players_,)
        Feature, group or cell names.
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
        Shape of one map.

    See Also
    --------
    ShapleyValues : Exact or permutation Shapley values.

    Notes
    -----
    With coalitions :math:`z_k \\in \\{0, 1\\}^n`, the Shapley kernel weights
    :math:`\\pi(s) = (n - 1) / (\\binom{n}{s} s (n - s))` and
    :math:`y_k = v(z_k) - v(\\emptyset)`, the values solve

    .. math:: \\min_\\phi \\sum_k \\pi_k (y_k - z_k^\\top \\phi)^2
              \\quad \\text{s.t.} \\quad \\textstyle\\sum_i \\phi_i =
              v(N) - v(\\emptyset),

    in closed form (see :func:`skxai.shapley._maths.kernel_solve`), so they add
    up to ``f(x) - base_values`` exactly; ``residual`` reports the float gap.
    The coalitions of a sample are seeded by ``random_state`` and the sample's
    values, so a sample gets the same values whatever its position, ``n_jobs``
    or ``batch_size``.

    References
    ----------
    .. [1] S. M. Lundberg and S.-I. Lee, "A Unified Approach to Interpreting
       Model Predictions", NeurIPS, 2017.
    .. [2] I. Covert and S.-I. Lee, "Improving KernelSHAP: Practical Shapley
       Value Estimation via Linear Regression", AISTATS, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import KernelSHAP
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> ks = KernelSHAP(clf, n_samples=14, target=0, random_state=0).fit(X[::3])
    >>> ex = ks.explain(X[:2])
    >>> linear = clf.coef_[0] * (X[:2] - X[::3].mean(axis=0))
    >>> bool(np.allclose(ex.maps[:, 0], linear))
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        **_COMMON_CONSTRAINTS,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        model,
        *,
        n_samples=2048,
        fill=None,
        n_reference=100,
        window=None,
        groups=None,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=8192,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.n_samples = n_samples
        self.fill = fill
        self.n_reference = n_reference
        self.window = window
        self.groups = groups
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, y):
        super()._fit(X, y)
        n = self.n_players_
        self._all_coalitions = n < 2 or self.n_samples >= 2**n - 2
        if self._all_coalitions and n >= 2:
            masks, weights, _ = kernel_plan(n, 2**n - 2, np.random.default_rng(0))
            self._plan = (masks, *kernel_solve(masks, weights))

    def _inputs_per_sample(self):
        n = getattr(self, "n_players_", 1)
        k = min(self.n_samples, 2 ** min(n, 30))
        n_ref = 1 if getattr(self, "reference_", None) is None else len(self.reference_)
        return max(1, k * n_ref)

    def _explain_chunk(self, X, targets, seeds):
        n, t = targets.shape
        full, empty = self._ends(X, targets)
        n_players = self.n_players_
        gap = full - empty
        if n_players == 1:
            return self._result(X, targets, gap[:, :, None], full, empty)
        if self._all_coalitions:
            masks, L, c = self._plan
            v = self._worths(X, targets, masks)  # (n, k, t)
            values = np.einsum("pk,nkt->ntp", L, v - empty[:, None, :])
            values += gap[:, :, None] * c[None, None, :]
            return self._result(X, targets, values, full, empty)
        plans = []
        for seed in sample_seeds(X, int(seeds[0])) if n else []:
            rng = np.random.default_rng(int(seed))
            plans.append(kernel_plan(n_players, self.n_samples, rng))
        worths = self._worths(X, targets, [masks for masks, _, _ in plans])
        values = np.empty((n, t, n_players))
        for i, (masks, weights, _) in enumerate(plans):
            L, c = kernel_solve(masks, weights)
            values[i] = (L @ (worths[i] - empty[i]) + np.outer(c, gap[i])).T
        return self._result(X, targets, values, full, empty)
