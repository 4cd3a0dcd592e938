"""Rectified backpropagation: GuidedBackprop and Deconvolution.

Both change how gradients flow back through ReLUs, during the call only: a
thread-local torch function mode replaces every relu call of the explained forward
(``nn.ReLU`` modules, in place or not, reused or not, and functional relu) by a
ReLU with the rule's backward, once per call. The module itself is never changed:
no hook, no in-place flag. Other activations (tanh, GELU, LeakyReLU, ...) are found
in :meth:`fit` by a probe forward pass and rejected with a clear error rather than
explained with the vanilla gradient.
"""

from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..utils._sklearn_compat import StrOptions
from ._gradient import _check_torch


class _RectifiedBackprop(ExplainerMixin, BaseExplainer):
    """Shared code of GuidedBackprop and Deconvolution (``_rule`` picks one)."""

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "image_shape": [tuple, list, None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
    }
    _gradient_based = True
    _parallel_prefer = "threads"
    _predicts_in_pass = True
    _rule = None

    def __init__(
        self,
        model,
        *,
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=1024,
        n_jobs=None,
        verbose=0,
    ):
        self.model = model
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y):
        _check_torch(self)
        self.relu_layers_ = _relu_layer_names(self, X)

    def _explain_chunk(self, X, targets, seeds):
        from ._autograd import gradient_maps

        return gradient_maps(self, X, targets, rule=self._rule)


def _relu_layer_names(explainer, X):
    """Names of the model's ReLU modules, checked by a probe forward on ``X[:1]``."""
    from ._autograd import as_tensor, explaining, find_relus, module_names, torch_setup

    forward, module, device, dtype = torch_setup(explainer)
    names = module_names(module)
    with explaining(module):
        relus = find_relus(
            forward, module, as_tensor(X[:1], dtype, device), type(explainer).__name__
        )
    return [names[id(m)] for m in relus]


_SHARED_PARAMS = """
    Parameters
    ----------
    model : object
        The fitted model to explain, never refit nor copied: a
        ``torch.nn.Module``, a skorch ``NeuralNet``, or a scikit-learn
        ``MLPClassifier`` or linear classifier (differentiated through
        :func:`skxai.models.to_torch`). Its rectifications may be ``nn.ReLU``
        modules, in place or not and called once or several times, or
        functional relu calls; other activations are refused.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images. ``None``: a 2-D ``X`` is a table, N-D samples are images
        ``(height, width)`` or ``(channels, height, width)``.
    response_method : {'auto', 'decision_function', 'predict_proba', \\
            'predict_log_proba'}, default='auto'
        The model output explained. ``'auto'`` explains the pre-softmax scores (a
        final ``Softmax``/``LogSoftmax`` module is bypassed, a skorch net's
        ``predict_nonlinearity`` is not applied).
    target : {'predicted', 'true', 'all'}, int, str or array-like, \\
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
    relu_layers_ : list of str
        Names of the ``nn.ReLU`` modules the forward runs (functional relu calls
        get the rule too, without a name).
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
"""


class GuidedBackprop(_RectifiedBackprop):
    __doc__ = (
        """Guided backpropagation: only positive gradients flow back through ReLUs.
"""
        + _SHARED_PARAMS
        + """
    See Also
    --------
    Deconvolution : The other rectified backward rule.
    GuidedGradCAM : Guided backpropagation times the Grad-CAM map.
    Saliency : The plain gradient.

    Notes
    -----
    At each ReLU ``y = max(x, 0)`` the backward pass gives
    ``dx = max(dy, 0) * (x > 0)``: the gradient is masked by the forward
    activation, as the gradient is, and by its own sign, as in deconvolution.
    The rule applies at every relu call, only during the explaining call, and
    leaves the module unchanged; it equals Captum's on the same network with
    its in-place flags switched off. :meth:`fit` raises a TypeError when the
    model has other activations (tanh, GELU, LeakyReLU, ...), rather than
    silently returning the vanilla gradient there.

    References
    ----------
    .. [1] J. T. Springenberg, A. Dosovitskiy, T. Brox and M. Riedmiller,
       "Striving for Simplicity: The All Convolutional Net", ICLR Workshop,
       2015.

    Examples
    --------
    >>> import torch
    >>> from skxai import GuidedBackprop
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ... )
    >>> X = torch.rand(5, 4).numpy()
    >>> gbp = GuidedBackprop(net).fit(X)
    >>> gbp.relu_layers_
    ['1']
    >>> gbp.transform(X).shape
    (5, 4)
    """
    )
    _rule = "guided"


class Deconvolution(_RectifiedBackprop):
    __doc__ = (
        """Deconvolution: ReLUs pass back the rectified gradient, unmasked.
"""
        + _SHARED_PARAMS
        + """
    See Also
    --------
    GuidedBackprop : The rule that also masks by the forward activation.
    Saliency : The plain gradient.

    Notes
    -----
    At each ReLU the backward pass gives ``dx = max(dy, 0)``, whatever the
    forward input was (the "deconvnet" of Zeiler and Fergus, as Captum
    computes it), at every relu call, only during the explaining call.
    :meth:`fit` raises a TypeError when the model has other activations (tanh,
    GELU, LeakyReLU, ...).

    References
    ----------
    .. [1] M. D. Zeiler and R. Fergus, "Visualizing and Understanding
       Convolutional Networks", ECCV, 2014.

    Examples
    --------
    >>> import torch
    >>> from skxai import Deconvolution
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ... )
    >>> X = torch.rand(5, 4).numpy()
    >>> Deconvolution(net, target="all").fit(X).explain(X).maps.shape
    (5, 3, 4)
    """
    )
    _rule = "deconvolution"
