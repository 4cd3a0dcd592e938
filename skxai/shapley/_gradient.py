"""GradientSHAP: expected gradients with baselines drawn from a background set.

A gradient explainer (torch modules, skorch nets, scikit-learn linear models
and MLPs through :func:`skxai.models.to_torch`); torch is imported when it is
fitted.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._engine import sample_seeds
from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..utils._optional import import_optional
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["GradientSHAP"]


class GradientSHAP(ExplainerMixin, BaseExplainer):
    """GradientSHAP: gradients at random points between background rows and x.

    Expected gradients (Erion et al.), the gradient estimate of SHAP values of
    Lundberg and Lee: for each sample, ``n_samples`` draws of a background row
    ``b`` (from the rows given to :meth:`fit`), a point ``alpha`` uniform in [0,
    1] and, with ``stdevs > 0``, Gaussian noise ``e`` added to the input; the
    attribution is the mean of ``(x + e - b) * grad f(b + alpha (x + e - b))``.
    The same estimate as captum's ``GradientShap`` (equal values for equal
    draws).

    Parameters
    ----------
    model : object
        The fitted model to explain, never refit nor copied: a
        ``torch.nn.Module``, a skorch ``NeuralNet``, or a scikit-learn linear
        classifier, ``MLPClassifier`` or simple Pipeline (differentiated through
        :func:`skxai.models.to_torch`).
    n_samples : int, default=32
        Number of draws (background row, point on the path, noise) per sample.
    stdevs : float, default=0.0
        Standard deviation of the Gaussian noise added to the input at each
        draw (in the input's units, as captum's ``stdevs``).
    n_reference : int or None, default=None
        Largest number of background rows kept (a random subset drawn with
        ``random_state``); ``None`` keeps all rows given to :meth:`fit`.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images. ``None``: a 2-D ``X`` is a table, N-D samples are images
        ``(height, width)`` or ``(channels, height, width)``.
    response_method : {'auto', 'decision_function', 'predict_proba', \
'predict_log_proba'}, default='auto'
        The model output explained. ``'auto'`` explains the pre-softmax scores (a
        final softmax is bypassed).
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
default='predicted'
        Class explained: the predicted class, the true class (``y`` given to
        ``explain``), a class label, one label per sample, or every class.
    batch_size : int, default=1024
        Number of model inputs (samples x draws) in memory at once.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    random_state : int, RandomState instance or None, default=None
        Pseudo-random number generator to control the draws.
        Pass an int for reproducible results across multiple function calls.
        See :term:`Glossary <random_state>`.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    reference_ : ndarray of shape (n_reference, *input_shape_)
        The background rows the baselines are drawn from.
    expected_value_ : ndarray of shape (n_classes,)
        Mean score of the background rows: the ``base_values`` of every
        explanation.
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
    IntegratedGradients : The path integral from one fixed baseline.
    ShapleyValues : Model-agnostic Shapley values.
    KernelSHAP : Shapley values from a weighted linear regression.

    Notes
    -----
    With draws :math:`(b_k, \\alpha_k, e_k)`, ``k = 1..K`` and
    :math:`x_k = x + e_k`,

    .. math:: \\phi(x) = \\frac{1}{K} \\sum_k (x_k - b_k) \\odot
              \\nabla f_c\\big(b_k + \\alpha_k (x_k - b_k)\\big),

    an unbiased estimate of the integrated gradients averaged over the
    background; its values add up to ``f(x) - E_b f(b)`` in expectation
    (exactly for a linear model and ``stdevs=0``). ``explain(X).base_values``
    holds ``E_b f(b)`` (``expected_value_``) and ``residual`` the gap
    ``sum(phi) - (f(x) - base_values)``. The draws of a sample are seeded by
    ``random_state`` and the sample's values, so a sample gets the same values
    whatever its position, ``n_jobs`` or ``batch_size``. The model runs in
    eval mode and its parameters' ``.grad`` are never touched.

    References
    ----------
    .. [1] S. M. Lundberg and S.-I. Lee, "A Unified Approach to Interpreting
       Model Predictions", NeurIPS, 2017.
    .. [2] G. Erion, J. D. Janizek, P. Sturmfels, S. M. Lundberg and S.-I. Lee,
       "Improving performance of deep learning models with axiomatic
       attribution priors and expected gradients", Nature Machine
       Intelligence, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import GradientSHAP
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> gs = GradientSHAP(clf, n_samples=16, target=0, random_state=0).fit(X)
    >>> ex = gs.explain(X[:2])
    >>> ex.maps.shape, ex.base_values.shape
    ((2, 1, 4), (2, 1))
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "stdevs": [Interval(Real, 0, None, closed="left")],
        "n_reference": [Interval(Integral, 1, None, closed="left"), None],
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
        n_samples=32,
        stdevs=0.0,
        n_reference=None,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=1024,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.n_samples = n_samples
        self.stdevs = stdevs
        self.n_reference = n_reference
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, y):
        import_optional("torch", type(self).__name__)
        from ..saliency._autograd import as_tensor, explaining, to_numpy, torch_setup

        if self.n_reference is not None and len(X) > self.n_reference:
            rng = check_random_state(self.random_state)
            X = X[np.sort(rng.choice(len(X), size=self.n_reference, replace=False))]
        self.reference_ = np.array(X, copy=True)
        import torch

        forward, module, device, dtype = torch_setup(self)
        sums = None
        with explaining(module), torch.no_grad():
            for start in range(0, len(X), self.batch_size):
                out = forward(
                    as_tensor(X[start : start + self.batch_size], dtype, device)
                )
                part = to_numpy(out).sum(axis=0)
                sums = part if sums is None else sums + part
        self.expected_value_ = sums / len(X)

    def _inputs_per_sample(self):
        return self.n_samples

    def _draw_seeds(self, n_samples):
        # One seed per call; each sample's draws are seeded by it and the
        # sample's own values (position, n_jobs and batch_size do not matter).
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return np.full(n_samples, seed, dtype=np.int64)

    def _draws(self, X, seed):
        """Per-sample draws: background rows, points on the path and noise.

        Returns ``(index, alphas, noise)`` of shapes ``(n, n_samples)``, ``(n,
        n_samples)`` and ``(n, n_samples, *input_shape)`` (``None`` when
        ``stdevs == 0``).
        """
        n, k = len(X), self.n_samples
        index = np.empty((n, k), dtype=np.intp)
        alphas = np.empty((n, k))
        noise = None if self.stdevs == 0 else np.empty((n, k, *X.shape[1:]))
        for i, s in enumerate(sample_seeds(X, int(seed)) if n else []):
            rng = np.random.default_rng(int(s))
            index[i] = rng.integers(len(self.reference_), size=k)
            alphas[i] = rng.random(k)
            if noise is not None:
                noise[i] = self.stdevs * rng.standard_normal((k, *X.shape[1:]))
        return index, alphas, noise

    def _explain_chunk(self, X, targets, seeds):
        index, alphas, noise = self._draws(X, seeds[0] if len(seeds) else 0)
        return self._expected_gradients(X, targets, index, alphas, noise)

    def _expected_gradients(self, X, targets, index, alphas, noise=None):
        """Attributions for given draws (see :meth:`_draws`)."""
        import torch

        from ..saliency._autograd import (
            as_tensor,
            explaining,
            input_gradients,
            selected_scores,
            to_numpy,
            torch_setup,
        )

        forward, module, device, dtype = torch_setup(self)
        n, t = targets.shape
        k = index.shape[1]
        shape = X.shape[1:]
        ones = (1,) * len(shape)
        x = as_tensor(X, dtype, device)
        reference = as_tensor(self.reference_, dtype, device)
        a = torch.as_tensor(alphas, dtype=dtype, device=device)
        idx = torch.as_tensor(index, dtype=torch.long, device=device)
        tt = torch.as_tensor(targets, dtype=torch.long, device=device)
        eps = None if noise is None else as_tensor(noise, dtype, device)
        total = torch.zeros((n, t, *shape), dtype=dtype, device=device)
        # rows are (sample, draw) pairs, flattened sample-major
        n_rows = n * k
        with explaining(module):
            for start in range(0, n_rows, self.batch_size):
                rows = torch.arange(
                    start, min(start + self.batch_size, n_rows), device=device
                )
                i, j = rows // k, rows % k
                xi = x[i] if eps is None else x[i] + eps[i, j]
                b = reference[idx[i, j]]
                diff = xi - b
                point = b + a[i, j].view(-1, *ones) * diff
                grads = input_gradients(forward, point, tt[i])  # (m, t, *shape)
                total.index_add_(0, i, grads * diff.unsqueeze(1))
            attr = total / k
            fx = selected_scores(forward, x, tt) if n else torch.zeros((0, t))
        values = to_numpy(attr)
        full = to_numpy(fx)
        base = self.expected_value_[targets]
        return {
            "maps": values,
            "base_values": base,
            "residual": values.reshape(n, t, -1).sum(axis=2) - (full - base),
        }
