"""Gradient saliency: Saliency, IntegratedGradients and SmoothGrad.

These explainers differentiate the model: a torch module, a skorch net, or a
scikit-learn linear model or MLP through its exact torch equivalent
(:func:`skxai.models.to_torch`). torch is imported when they are fitted.
"""

import hashlib
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..exceptions import CompletenessWarning
from ..utils._optional import import_optional
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context

IG_METHODS = (
    "gausslegendre",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
)


def _check_torch(explainer):
    """Import torch (clear error naming the extra) and build the gradient path."""
    import_optional("torch", type(explainer).__name__)
    explainer.adapter_.torch_forward(explainer.response_method_)


def _path_weights(method, n_steps):
    """Points ``alpha`` in [0, 1] and weights of the path integral's quadrature."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        alphas = np.linspace(0.0, 1.0, n_steps)
        weights = np.full(n_steps, 1.0 / (n_steps - 1))
        weights[[0, -1]] /= 2
        return alphas, weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    alphas = (np.arange(n_steps) + offset[method]) / n_steps
    return alphas, np.full(n_steps, 1.0 / n_steps)


def _sample_rng(seed, x):
    """A generator seeded by ``seed`` and the bytes of the sample ``x``."""
    digest = hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=8)
    return np.random.default_rng([int(seed), int.from_bytes(digest.digest(), "little")])


class Saliency(ExplainerMixin, BaseExplainer):
    """Vanilla gradient saliency: the gradient of the class score to the input.

    Parameters
    ----------
    model : object
        The fitted model to explain, never refit nor copied: a
        ``torch.nn.Module``, a skorch ``NeuralNet``, or a scikit-learn linear
        classifier, ``MLPClassifier`` or simple Pipeline (differentiated through
        :func:`skxai.models.to_torch`).
    grad_modifier : {'abs', 'negate', 'relu'}, default=None
        Applied to the gradient: ``'abs'`` gives the classic saliency map of
        Simonyan et al. (Captum's default), ``'negate'`` the pixels whose
        decrease raises the score, ``'relu'`` only the positive part. None keeps
        the signed gradient.
    multiply_by_inputs : bool, default=False
        Multiply the (modified) gradient by the input ("gradient x input").
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images. ``None``: a 2-D ``X`` is a table, N-D samples are images
        ``(height, width)`` or ``(channels, height, width)``.
    response_method : {'auto', 'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='auto'
        The model output explained. ``'auto'`` explains the pre-softmax scores (a
        final ``Softmax``/``LogSoftmax`` module is bypassed, a skorch net's
        ``predict_nonlinearity`` is not applied): a softmax output can be raised
        by lowering the other classes.
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
            default='predicted'
        Class explained: the predicted class, the true class (``y`` given to
        ``explain``), a class label, one label per sample, or every class.
    batch_size : int, default=1024
        Number of model inputs in memory at once.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has feature
        names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map.

    See Also
    --------
    IntegratedGradients : Gradients integrated along a path from a baseline.
    SmoothGrad : Gradients averaged over noisy copies of the input.
    GuidedBackprop : Gradients with the guided ReLU backward rule.

    Notes
    -----
    The map of class ``c`` is ``m(df_c / dx)`` (times ``x`` with
    ``multiply_by_inputs``), where ``m`` is the ``grad_modifier``. The model runs
    in eval mode during the call; the caller's mode is restored afterwards and
    the parameters' ``.grad`` are left untouched.

    References
    ----------
    .. [1] K. Simonyan, A. Vedaldi and A. Zisserman, "Deep Inside Convolutional
       Networks: Visualising Image Classification Models and Saliency Maps",
       ICLR Workshop, 2014.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import Saliency
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> sal = Saliency(clf, target=2).fit(X)
    >>> maps = sal.transform(X[:2])
    >>> maps.shape
    (2, 4)
    >>> bool(abs(maps[0] - clf.coef_[2]).max() < 1e-8)
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "grad_modifier": [StrOptions({"abs", "negate", "relu"}), None],
        "multiply_by_inputs": ["boolean"],
        "image_shape": [tuple, list, None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
    }
    _gradient_based = True
    _parallel_prefer = "threads"
    _predicts_in_pass = True

    def __init__(
        self,
        model,
        *,
        grad_modifier=None,
        multiply_by_inputs=False,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=1024,
        n_jobs=None,
        verbose=0,
    ):
        self.model = model
        self.grad_modifier = grad_modifier
        self.multiply_by_inputs = multiply_by_inputs
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y):
        _check_torch(self)

    def _explain_chunk(self, X, targets, seeds):
        from ._autograd import gradient_maps

        result = gradient_maps(self, X, targets)
        grads = result["maps"]
        if self.grad_modifier == "abs":
            np.abs(grads, out=grads)
        elif self.grad_modifier == "negate":
            np.negative(grads, out=grads)
        elif self.grad_modifier == "relu":
            np.maximum(grads, 0.0, out=grads)
        if self.multiply_by_inputs:
            grads *= X[:, None]
        return result


class IntegratedGradients(ExplainerMixin, BaseExplainer):
    """Integrated Gradients: gradients integrated on a path from a baseline.

    Parameters
    ----------
    model : object
        The fitted model to explain, never refit nor copied: a
        ``torch.nn.Module``, a skorch ``NeuralNet``, or a scikit-learn linear
        classifier, ``MLPClassifier`` or simple Pipeline (differentiated through
        :func:`skxai.models.to_torch`).
    n_steps : int, default=50
        Number of points on the path from the baseline to the input.
    method : {'gausslegendre', 'riemann_left', 'riemann_right', \
            'riemann_middle', 'riemann_trapezoid'}, default='gausslegendre'
        Quadrature of the path integral. Gauss-Legendre is exact for
        polynomials of degree ``2 * n_steps - 1`` along the path; the trapezoid
        rule needs ``n_steps >= 2``. Its ``n_steps`` points ``0, 1/(n-1), ...,
        1`` are weighted ``1 / (n - 1)``, halved at both ends, and the weights
        sum to one (exact for a linear path). Captum's ``riemann_trapezoid``
        takes the same points but weights them ``1 / n``, halved at the ends,
        summing to ``(n - 1) / n``: its attributions are these times
        ``(n - 1) / n`` (0.98 for ``n_steps=50``), and its completeness gap
        stays ``f(x) - f(baseline)`` times ``1 / n`` even for a linear model.
    baseline : {'zeros', 'mean'}, float or array-like, default='zeros'
        Start of the path: all zeros, the mean of the reference set given to
        :meth:`fit`, a constant, or an array of the sample shape.
    delta_tolerance : float or None, default=0.05
        A :class:`CompletenessWarning` is raised when, for some sample and
        target, ``|delta|`` exceeds ``delta_tolerance * |f(x) - f(baseline)|``
        (differences within float rounding are ignored). None never warns.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images. ``None``: a 2-D ``X`` is a table, N-D samples are images
        ``(height, width)`` or ``(channels, height, width)``.
    response_method : {'auto', 'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='auto'
        The model output explained. ``'auto'`` explains the pre-softmax scores (a
        final ``Softmax``/``LogSoftmax`` module is bypassed, a skorch net's
        ``predict_nonlinearity`` is not applied).
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
            default='predicted'
        Class explained: the predicted class, the true class (``y`` given to
        ``explain``), a class label, one label per sample, or every class.
    batch_size : int, default=1024
        Number of model inputs (samples x steps) in memory at once.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    baseline_ : ndarray of shape input_shape_
        The baseline used.
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has feature
        names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map.

    See Also
    --------
    Saliency : The plain gradient.
    SmoothGrad : Wrap IntegratedGradients in it for "SmInt" (smoothed IG).

    Notes
    -----
    For input ``x``, baseline ``b`` and class score ``f``,

    .. math:: \\mathrm{IG}_i(x) = (x_i - b_i) \\sum_k w_k
              \\frac{\\partial f}{\\partial x_i}(b + \\alpha_k (x - b))

    with the quadrature points ``alpha_k`` and weights ``w_k`` of ``method``.
    The attributions add up to ``f(x) - f(b)`` when the integral is resolved
    (completeness); ``explain(X).delta`` of shape (n_samples, n_targets) gives
    ``sum(IG) - (f(x) - f(b))``. All steps of a batch of samples go through one
    forward and backward pass, up to ``batch_size`` inputs.

    References
    ----------
    .. [1] M. Sundararajan, A. Taly and Q. Yan, "Axiomatic Attribution for Deep
       Networks", ICML, 2017.

    Examples
    --------
    >>> import torch
    >>> from skxai import IntegratedGradients
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ... )
    >>> X = torch.rand(5, 6).numpy()
    >>> ig = IntegratedGradients(net, n_steps=32).fit(X)
    >>> expl = ig.explain(X)
    >>> expl.maps.shape, expl.delta.shape
    ((5, 1, 6), (5, 1))
    >>> bool(abs(expl.delta).max() < 1e-5)
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions(set(IG_METHODS))],
        "baseline": [StrOptions({"zeros", "mean"}), Real, "array-like"],
        "delta_tolerance": [Interval(Real, 0, None, closed="left"), None],
        "image_shape": [tuple, list, None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
    }
    _gradient_based = True
    _parallel_prefer = "threads"
    _predicts_in_pass = True

    def __init__(
        self,
        model,
        *,
        n_steps=50,
        method="gausslegendre",
        baseline="zeros",
        delta_tolerance=0.05,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=1024,
        n_jobs=None,
        verbose=0,
    ):
        self.model = model
        self.n_steps = n_steps
        self.method = method
        self.baseline = baseline
        self.delta_tolerance = delta_tolerance
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _inputs_per_sample(self):
        return self.n_steps

    def _fit(self, X, y):
        if self.method == "riemann_trapezoid" and self.n_steps < 2:
            raise ValueError(
                "The 'n_steps' parameter of IntegratedGradients must be at least 2 "
                f"with method='riemann_trapezoid'. Got {self.n_steps}."
            )
        self.baseline_ = self._make_baseline(X)
        _check_torch(self)

    def _make_baseline(self, X):
        shape = tuple(self.input_shape_)
        baseline = self.baseline
        if isinstance(baseline, str):
            if baseline == "zeros":
                return np.zeros(shape, dtype=X.dtype)
            return X.mean(axis=0).astype(X.dtype)
        if isinstance(baseline, Real):
            if not np.isfinite(baseline):
                raise ValueError(
                    "The 'baseline' parameter of IntegratedGradients must be "
                    f"finite. Got {baseline!r}."
                )
            return np.full(shape, baseline, dtype=X.dtype)
        array = np.asarray(getattr(baseline, "to_numpy", lambda: baseline)())
        if array.shape != shape and array.shape == (int(np.prod(shape)),):
            array = array.reshape(shape)
        if array.shape != shape:
            raise ValueError(
                "The 'baseline' parameter of IntegratedGradients must be 'zeros', "
                f"'mean', a number or an array of the sample shape {shape}. Got an "
                f"array of shape {array.shape}."
            )
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise ValueError(
                "The 'baseline' parameter of IntegratedGradients must hold finite "
                "numbers."
            )
        return array.astype(X.dtype)

    def _explain_chunk(self, X, targets, seeds):
        import torch

        from ._autograd import (
            as_tensor,
            explaining,
            input_gradients,
            to_numpy,
            torch_setup,
        )

        forward, module, device, dtype = torch_setup(self)
        n, n_targets = targets.shape
        n_steps = self.n_steps
        alphas, weights = _path_weights(self.method, n_steps)
        alphas = torch.as_tensor(alphas, dtype=dtype, device=device)
        weights = torch.as_tensor(weights, dtype=dtype, device=device)
        ones = (1,) * (X.ndim - 1)
        x = as_tensor(X, dtype, device)
        b = as_tensor(self.baseline_, dtype, device)
        t = torch.as_tensor(targets, dtype=torch.long, device=device)
        diff = x - b
        total = torch.zeros((n, n_targets, *X.shape[1:]), dtype=dtype, device=device)
        per_batch = self.batch_size // n_steps
        with explaining(module):
            if per_batch:
                # whole samples per batch: all their steps in one forward/backward
                for start in range(0, n, per_batch):
                    stop = min(start + per_batch, n)
                    inputs = b + alphas.view(1, -1, *ones) * diff[start:stop, None]
                    grads = input_gradients(
                        forward,
                        inputs.flatten(0, 1),
                        t[start:stop].repeat_interleave(n_steps, dim=0),
                    )
                    grads = grads.view(stop - start, n_steps, *grads.shape[1:])
                    total[start:stop] = torch.tensordot(weights, grads, dims=([0], [1]))
            else:
                # more steps than batch_size: split each sample's steps
                for i in range(n):
                    for first in range(0, n_steps, self.batch_size):
                        step = slice(first, first + self.batch_size)
                        inputs = b + alphas[step].view(-1, *ones) * diff[i]
                        grads = input_gradients(
                            forward, inputs, t[i : i + 1].expand(len(inputs), -1)
                        )
                        total[i] += torch.tensordot(weights[step], grads, dims=1)
            attr = total * diff.unsqueeze(1)
        return {"maps": to_numpy(attr)}

    def _endpoint_scores(self, X, targets):
        """f(x) and f(baseline) of the targets, the predictions, resolved targets.

        One forward pass over the baseline and X, in batches of ``batch_size``
        inputs (the baseline rides in the first one): it finds the predictions
        for targets -1, so explain needs no other.
        """
        import torch

        from ._autograd import (
            as_tensor,
            check_scores,
            explaining,
            predicted_targets,
            torch_setup,
        )

        forward, module, device, dtype = torch_setup(self)
        n, step = len(X), self.batch_size
        t = torch.as_tensor(targets, dtype=torch.long, device=device)
        b = as_tensor(self.baseline_, dtype, device).unsqueeze(0)
        with explaining(module), torch.no_grad():
            # row 0 is the baseline, row i + 1 the sample i
            scores = [
                check_scores(
                    forward(
                        torch.cat([b, as_tensor(X[: step - 1], dtype, device)])
                        if start == 0
                        else as_tensor(X[start - 1 : start - 1 + step], dtype, device)
                    )
                )
                for start in range(0, n + 1, step)
            ]
        scores = torch.cat(scores)
        fb, scores = scores[0], scores[1:]
        pred, t = predicted_targets(scores, t)
        fx, fb, pred, t = (
            v.cpu().numpy() for v in (scores.gather(1, t), fb[t], pred, t)
        )
        eps = float(torch.finfo(dtype).eps)
        return fx.astype(np.float64), fb.astype(np.float64), pred, t, eps

    def _explain_all(self, X, targets):
        from ._autograd import explaining, torch_setup

        # one eval-mode session for the call: the chunks' sessions nest in it
        with explaining(torch_setup(self)[1]):
            fx, fb, pred, targets, eps = self._endpoint_scores(X, targets)
            result = super()._explain_all(X, targets)
        n, n_targets = targets.shape
        attr = result["maps"].reshape(n, n_targets, -1)
        gap = np.abs(fx - fb)
        floor = 10 * eps * (np.abs(fx) + np.abs(fb) + np.abs(attr).sum(axis=2))
        result["delta"] = attr.sum(axis=2) - (fx - fb)
        result["_pred"], result["_targets"] = pred, targets
        if self.delta_tolerance is None or not len(gap):
            return result
        delta = np.abs(result["delta"])
        bad = delta > self.delta_tolerance * gap + floor
        if bad.any():
            knob = f"increase n_steps (now {self.n_steps})"
            if self.method != "gausslegendre":
                knob += " or use method='gausslegendre'"
            warnings.warn(
                f"Integrated gradients miss completeness for {bad.any(axis=1).sum()} "
                f"of {len(gap)} samples: |delta| up to {delta.max():.3g} exceeds "
                f"delta_tolerance={self.delta_tolerance} times |f(x) - "
                f"f(baseline)|. To resolve the path integral, {knob}.",
                CompletenessWarning,
                stacklevel=3,
            )
        return result


class SmoothGrad(ExplainerMixin, BaseExplainer):
    """SmoothGrad: a gradient explainer averaged over noisy copies of the input.

    A meta-explainer: it wraps any gradient explainer (``Saliency``,
    ``IntegratedGradients``, ``GuidedBackprop``, ...) and explains ``n_samples``
    copies of each sample with Gaussian noise added. SmoothGrad over
    IntegratedGradients is the "SmInt" of FastEstimator.

    Parameters
    ----------
    explainer : gradient explainer
        The explainer to smooth, unfitted; it gives the model, ``target`` and
        ``response_method``. A clone is fitted as ``explainer_``. Its
        parameters are reachable as ``explainer__<name>`` (e.g. by
        :class:`~sklearn.model_selection.GridSearchCV`).
    n_samples : int, default=16
        Number of noisy copies per sample.
    noise : float, default=0.15
        Standard deviation of the noise, as a fraction of each sample's value
        range ``max(x) - min(x)``. ``0`` gives the inner explainer's maps.
    form : {'mean', 'squared', 'variance'}, default='mean'
        How maps of the copies are combined: their mean (SmoothGrad), the mean
        of their squares (SmoothGrad-Squared) or their variance (VarGrad).
    batch_size : int, default=1024
        Number of model inputs (samples x noisy copies x the inner explainer's
        inputs per sample, e.g. its steps) in memory at once. The inner
        explainer's own ``batch_size`` bounds each of its calls too.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    random_state : int, RandomState instance or None, default=None
        Pseudo-random number generator to control the noise.
        Pass an int for reproducible results across multiple function calls.
        See :term:`Glossary <random_state>`.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    explainer_ : gradient explainer
        The fitted clone of ``explainer``.
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has feature
        names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map.

    See Also
    --------
    Saliency : The plain gradient.
    IntegratedGradients : Gradients integrated along a path from a baseline.

    Notes
    -----
    With ``sigma = noise * (max(x) - min(x))`` and ``e_k ~ N(0, sigma^2 I)``,
    the map is ``mean_k M(x + e_k)`` (``mean_k M(x + e_k)^2``, or the variance
    over ``k``) where ``M`` is the inner explainer. Each sample's noise is
    seeded by ``random_state`` and the sample's own values, so a sample gets
    the same map whatever its position, the other samples, ``n_jobs`` or
    ``batch_size``.

    References
    ----------
    .. [1] D. Smilkov, N. Thorat, B. Kim, F. Viegas and M. Wattenberg,
       "SmoothGrad: removing noise by adding noise", ICML Workshop, 2017.
    .. [2] J. Adebayo, J. Gilmer, I. Goodfellow and B. Kim, "Local Explanation
       Methods for Deep Neural Networks Lack Sensitivity to Parameter Values",
       ICLR Workshop, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai import IntegratedGradients, SmoothGrad
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> smint = SmoothGrad(
    ...     IntegratedGradients(clf, n_steps=8), n_samples=4, random_state=0
    ... ).fit(X)
    >>> smint.transform(X[:3]).shape
    (3, 4)
    >>> smint.get_params()["explainer__n_steps"]
    8
    """

    _parameter_constraints = {
        "explainer": [HasMethods(["fit", "explain"])],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "form": [StrOptions({"mean", "squared", "variance"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": BaseExplainer._parameter_constraints["n_jobs"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _gradient_based = True
    _parallel_prefer = "threads"

    def __init__(
        self,
        explainer,
        *,
        n_samples=16,
        noise=0.15,
        form="mean",
        batch_size=1024,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.explainer = explainer
        self.n_samples = n_samples
        self.noise = noise
        self.form = form
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # The model, target and response method are the inner explainer's.
    @property
    def _inner(self):
        return getattr(self, "explainer_", self.explainer)

    @property
    def model(self):
        """The model explained: the inner explainer's ``model``."""
        return self._inner.model

    @property
    def target(self):
        """The class explained: the inner explainer's ``target``."""
        return self._inner.target

    @property
    def response_method(self):
        """The output explained: the inner explainer's ``response_method``."""
        return getattr(self._inner, "response_method", "auto")

    @property
    def image_shape(self):
        """How flat samples fold into images: the inner explainer's ``image_shape``."""
        return getattr(self._inner, "image_shape", None)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit a clone of the inner explainer on the reference set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, *input_shape)
            Reference samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            Labels of the reference samples, when the inner explainer uses them.

        Returns
        -------
        self : object
            The fitted explainer.
        """
        if not (
            isinstance(self.explainer, BaseExplainer)
            and getattr(self.explainer, "_gradient_based", False)
        ):
            raise TypeError(
                "The 'explainer' parameter of SmoothGrad must be a gradient "
                "explainer (Saliency, IntegratedGradients, GuidedBackprop, "
                "Deconvolution, GradCAM, GuidedGradCAM). Got "
                f"{type(self.explainer).__name__}."
            )
        self._validate_X(X, reset=True)
        self.explainer_ = clone(self.explainer).fit(X, y)
        for name in ("adapter_", "classes_", "response_method_"):
            setattr(self, name, getattr(self.explainer_, name))
        return self

    def _inputs_per_sample(self):
        return self.n_samples * self._inner._inputs_per_sample()

    def _draw_seeds(self, n_samples):
        # One seed for the call; each sample's noise is seeded by it and the
        # sample's own values, so it does not depend on the sample's position,
        # its batch, n_jobs or batch_size.
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return np.full(n_samples, seed, dtype=np.int64)

    def _explain_chunk(self, X, targets, seeds):
        inner = self.explainer_
        n, n_targets = targets.shape
        n_copies = self.n_samples
        noisy = np.empty((n * n_copies, *X.shape[1:]), dtype=X.dtype)
        inner_seeds = np.empty(n * n_copies, dtype=np.int64)
        for i in range(n):
            rng = _sample_rng(seeds[i], X[i])
            sigma = self.noise * float(X[i].max() - X[i].min())
            draws = rng.standard_normal((n_copies, *X.shape[1:]))
            noisy[i * n_copies : (i + 1) * n_copies] = X[i] + sigma * draws
            inner_seeds[i * n_copies : (i + 1) * n_copies] = rng.integers(
                np.iinfo(np.int32).max, size=n_copies
            )
        repeated = np.repeat(targets, n_copies, axis=0)
        step = max(1, self.batch_size // max(1, inner._inputs_per_sample()))
        maps = [
            inner._explain_chunk(
                noisy[s : s + step], repeated[s : s + step], inner_seeds[s : s + step]
            )["maps"]
            for s in range(0, len(noisy), step)
        ]
        if not maps:
            return {"maps": np.empty((0, n_targets, *X.shape[1:]))}
        maps = np.concatenate(maps).reshape(n, n_copies, *maps[0].shape[1:])
        if self.form == "mean":
            return {"maps": maps.mean(axis=1)}
        if self.form == "squared":
            return {"maps": (maps**2).mean(axis=1)}
        return {"maps": maps.var(axis=1)}
