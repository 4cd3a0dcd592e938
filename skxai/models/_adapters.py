"""Adapters that give every kind of model the same two faces.

Explainers never talk to a model directly. :func:`check_model` wraps what the user
hands in (a scikit-learn classifier or Pipeline, a skorch net, a torch module, or a
plain callable) into a :class:`ModelAdapter` with

- ``scores(X, response_method)``: class scores as a float64 ndarray of shape
  ``(n_samples, n_classes)``, computed in batches (black-box explainers), and
- ``torch_forward(response_method)``: a differentiable torch function and the module
  it runs, for gradient explainers (torch, skorch, and scikit-learn linear models and
  MLPs through their exact torch equivalent).

torch and skorch are imported only when a torch object is given or gradients are
asked for.
"""

import contextlib

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..utils._optional import import_optional, is_skorch_net, is_torch_object

RESPONSE_METHODS = ("auto", "decision_function", "predict_proba", "predict_log_proba")

_NO_GRADIENT_HINT = (
    "Use a black-box explainer (Occlusion, RISE) for this model, or give a torch "
    "module, a skorch net, or a scikit-learn linear model or MLPClassifier."
)


def _binary_to_two_columns(scores):
    """Turn a 1-D binary decision ``d`` into the two class scores ``[-d, d]``."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return np.column_stack([-scores, scores])
    if scores.ndim == 2 and scores.shape[1] == 1:
        return np.column_stack([-scores[:, 0], scores[:, 0]])
    return scores


class ModelAdapter:
    """Common interface of the model adapters.

    Parameters
    ----------
    model : object
        The fitted model being explained. It is referenced, never copied or refit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,) or None
        Class labels, in the order of the score columns. ``None`` until known for
        models that do not expose them (callables, torch modules); set by
        :meth:`infer_classes`.
    """

    kind = "model"

    def __init__(self, model):
        self.model = model
        self.classes_ = None

    # ------------------------------------------------------------------ scores
    def resolve_response_method(self, response_method, *, gradients=False):
        """Return the concrete response method ``"auto"`` stands for."""
        if response_method not in RESPONSE_METHODS:
            raise ValueError(
                f"The 'response_method' parameter must be one of {RESPONSE_METHODS}. "
                f"Got {response_method!r} instead."
            )
        return response_method

    def scores(self, X, response_method="auto", *, batch_size=None):
        """Class scores of shape (n_samples, n_classes) as float64."""
        raise NotImplementedError

    def infer_classes(self, X, response_method="auto"):
        """Set ``classes_`` from one call on ``X[:1]`` when the model has none."""
        if self.classes_ is None:
            n_classes = self.scores(X[:1], response_method).shape[1]
            self.classes_ = np.arange(n_classes)
        return self.classes_

    # --------------------------------------------------------------- gradients
    @property
    def supports_gradients(self):
        """Whether :meth:`torch_forward` is available."""
        return False

    def torch_forward(self, response_method="auto"):
        """Return ``(forward, module, device)`` for gradient explainers.

        ``forward`` maps a float tensor shaped like the model's input to class
        scores; ``module`` is the ``torch.nn.Module`` it runs (hooks go there).
        """
        raise TypeError(
            f"{type(self.model).__name__} has no gradient path. " + _NO_GRADIENT_HINT
        )


# --------------------------------------------------------------------- sklearn
class SklearnAdapter(ModelAdapter):
    """Adapter for fitted scikit-learn classifiers and Pipelines."""

    kind = "sklearn"

    def __init__(self, model):
        super().__init__(model)
        check_is_fitted(model)
        classes = getattr(model, "classes_", None)
        if classes is None:
            raise TypeError(
                f"The model must be a fitted classifier with a 'classes_' attribute; "
                f"got {type(model).__name__}."
            )
        self.classes_ = np.asarray(classes)
        self._torch = {}

    def resolve_response_method(self, response_method, *, gradients=False):
        response_method = super().resolve_response_method(response_method)
        if response_method == "auto":
            if gradients:
                # Pre-softmax scores, through the exact torch equivalent.
                return "decision_function"
            for name in ("decision_function", "predict_proba"):
                if hasattr(self.model, name):
                    return name
            raise TypeError(
                f"{type(self.model).__name__} has neither 'decision_function' nor "
                "'predict_proba'; skxai needs one of them to score perturbed inputs. "
                "Wrap the model in a callable returning class scores."
            )
        if not gradients and not hasattr(self.model, response_method):
            raise TypeError(
                f"{type(self.model).__name__} has no {response_method!r} method. "
                "Choose another 'response_method'."
            )
        return response_method

    def scores(self, X, response_method="auto", *, batch_size=None):
        if response_method != "auto" and not hasattr(self.model, response_method):
            return self._torch_scores(X, response_method, batch_size)
        method = self.resolve_response_method(response_method)
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None and np.ndim(X) == 2 and len(names) == np.shape(X)[1]:
            import pandas as pd

            X = pd.DataFrame(X, columns=names, copy=False)
        out = getattr(self.model, method)(X)
        if method == "decision_function":
            out = _binary_to_two_columns(out)
        return np.asarray(out, dtype=np.float64)

    def _torch_scores(self, X, response_method, batch_size):
        """Scores the estimator has no method for (MLP logits), via torch."""
        import torch

        module, _, _ = self.torch_forward(response_method)
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(X), dtype=torch.float64))
        return out.numpy().astype(np.float64)

    @property
    def supports_gradients(self):
        return True

    def torch_forward(self, response_method="auto"):
        method = self.resolve_response_method(response_method, gradients=True)
        if method not in self._torch:
            import_optional("torch", "Gradient explainers")
            from ._convert import to_torch

            self._torch[method] = to_torch(self.model, response_method=method)
        module = self._torch[method]
        return module, module, _module_device(module)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_torch"] = {}  # rebuilt on demand; never pickled
        return state


# -------------------------------------------------------------------- callable
class CallableAdapter(ModelAdapter):
    """Adapter for a plain function ``f(X) -> scores`` (black-box only)."""

    kind = "callable"

    def resolve_response_method(self, response_method, *, gradients=False):
        super().resolve_response_method(response_method)
        return "auto"

    def scores(self, X, response_method="auto", *, batch_size=None):
        out = np.asarray(self.model(X))
        n = len(X)
        if out.ndim == 1 and out.shape[0] == n:
            out = _binary_to_two_columns(out)
        if out.ndim != 2 or out.shape[0] != n:
            raise ValueError(
                "The model callable must return class scores of shape "
                f"(n_samples, n_classes) = ({n}, n_classes) for an input of "
                f"{n} samples; got an array of shape {out.shape}."
            )
        if not np.issubdtype(out.dtype, np.number):
            raise ValueError(
                f"The model callable must return numeric scores; got dtype {out.dtype}."
            )
        return out.astype(np.float64, copy=False)

    def torch_forward(self, response_method="auto"):
        raise TypeError(
            "A plain callable has no gradient path: gradient explainers need a torch "
            "module, a skorch net or a scikit-learn linear model / MLPClassifier. "
            "Use a black-box explainer (Occlusion, RISE) for a callable."
        )


# ----------------------------------------------------------------------- torch
def _module_device(module):
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    import torch

    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(module):
    """Put ``module`` in eval mode for the block, then restore every submodule."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


def split_final_activation(module):
    """Return ``(body, final)`` where ``final`` is a trailing (Log)Softmax or None.

    ``body`` computes the pre-softmax scores. Only an ``nn.Sequential`` whose last
    child (recursively) is ``nn.Softmax`` or ``nn.LogSoftmax`` is split.
    """
    import torch

    final = None
    if isinstance(module, torch.nn.Sequential) and len(module) > 0:
        last = module[-1]
        if isinstance(last, torch.nn.Softmax | torch.nn.LogSoftmax):
            return module[:-1], last
        if isinstance(last, torch.nn.Sequential):
            inner, final = split_final_activation(last)
            if final is not None:
                return torch.nn.Sequential(*module[:-1], *inner), final
    return module, final


def _check_tensor_output(out):
    import torch

    if isinstance(out, tuple | list | dict):
        raise ValueError(
            "The torch model returned a "
            f"{type(out).__name__}, not a tensor of class scores. Wrap it in a "
            "module that selects the score tensor, e.g. "
            "nn.Sequential(model, SelectOutput(0))."
        )
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"The torch model must return a tensor; got {type(out).__name__}."
        )
    if out.ndim == 1:
        out = torch.stack([-out, out], dim=1)
    elif out.ndim != 2:
        raise ValueError(
            "The torch model must return class scores of shape (n_samples, "
            f"n_classes); got a tensor of shape {tuple(out.shape)}."
        )
    return out


class TorchAdapter(ModelAdapter):
    """Adapter for ``torch.nn.Module`` and skorch ``NeuralNet`` models.

    For a skorch net its fitted ``module_`` runs on the net's device, and the
    black-box ``"auto"`` scores apply the net's ``predict_nonlinearity`` (what
    ``net.predict_proba`` returns). Gradient explainers get pre-softmax scores by
    default: a trailing ``Softmax``/``LogSoftmax`` module is bypassed.
    """

    kind = "torch"

    def __init__(self, model):
        super().__init__(model)
        self.is_skorch = is_skorch_net(model)
        if self.is_skorch:
            if not getattr(model, "initialized_", False) or not hasattr(
                model, "module_"
            ):
                raise NotFittedError(
                    f"This {type(model).__name__} is not initialized yet. Call 'fit' "
                    "(or 'initialize') before explaining it."
                )
            classes = getattr(model, "classes_", None)
            if classes is None:
                classes = getattr(model, "classes_inferred_", None)
            if classes is not None:
                self.classes_ = np.asarray(classes)

    @property
    def module(self):
        return self.model.module_ if self.is_skorch else self.model

    @property
    def device(self):
        if self.is_skorch:
            import torch

            return torch.device(self.model.device)
        return _module_device(self.model)

    def resolve_response_method(self, response_method, *, gradients=False):
        response_method = super().resolve_response_method(response_method)
        if response_method == "auto":
            return "decision_function" if gradients else "auto"
        return response_method

    def _forward_fn(self, method, call=None):
        import torch

        call = _plain_call if call is None else call
        module = self.module
        body, final = split_final_activation(module)
        if method == "auto":
            if self.is_skorch:
                nonlin = self.model._get_predict_nonlinearity()
                return lambda x: _check_tensor_output(nonlin(call(module, x)))
            return lambda x: _check_tensor_output(call(module, x))
        if method == "decision_function":
            return lambda x: _check_tensor_output(call(body, x))
        if isinstance(final, torch.nn.LogSoftmax) and method == "predict_log_proba":
            return lambda x: _check_tensor_output(call(module, x))
        if method == "predict_proba":
            return lambda x: torch.softmax(_check_tensor_output(call(body, x)), dim=1)
        return lambda x: torch.log_softmax(_check_tensor_output(call(body, x)), dim=1)

    def scores(self, X, response_method="auto", *, batch_size=None):
        import torch

        method = self.resolve_response_method(response_method)
        device = self.device
        dtype = _module_dtype(self.module)
        X = np.asarray(X)
        call = None
        if X.ndim == 4 and device.type == "cpu" and _has_conv2d(self.module):
            call = _ChannelsLastCall()
        forward = self._forward_fn(method, call)
        n = len(X)
        step = n if batch_size is None else max(1, int(batch_size))
        outs = []
        with torch.no_grad(), eval_mode(self.module):
            for start in range(0, n, step):
                xb = torch.as_tensor(  # torch refuses negative strides
                    np.ascontiguousarray(X[start : start + step]),
                    dtype=dtype,
                    device=device,
                )
                outs.append(forward(xb).detach().to("cpu", torch.float64).numpy())
        if not outs:
            return np.empty((0, 0 if self.classes_ is None else len(self.classes_)))
        return np.concatenate(outs, axis=0)

    @property
    def supports_gradients(self):
        return True

    def torch_forward(self, response_method="auto"):
        method = self.resolve_response_method(response_method, gradients=True)
        return self._forward_fn(method), self.module, self.device


def _plain_call(module, x):
    return module(x)


def _has_conv2d(module):
    import torch

    return any(isinstance(m, torch.nn.Conv2d) for m in module.modules())


class _ChannelsLastCall:
    """Run a module with channels-last copies of its 4-D parameters and buffers.

    On the CPU, oneDNN convolutions of a batch of images run about twice as
    fast in the channels-last layout (NHWC). The module itself is never
    touched: :func:`torch.func.functional_call` runs it with the copies, made
    once per ``scores`` call. ``Tensor.to(memory_format=...)`` is used rather
    than ``contiguous``, which leaves single-channel weights in the ambiguous
    NCHW strides.
    """

    def __init__(self):
        self._params = {}

    def __call__(self, module, x):
        import torch
        from torch.func import functional_call

        params = self._params.get(id(module))
        if params is None:
            params = {
                name: t.detach().to(memory_format=torch.channels_last)
                if t.ndim == 4
                else t
                for name, t in (*module.named_parameters(), *module.named_buffers())
            }
            self._params[id(module)] = params
        return functional_call(module, params, (x,))


def _module_dtype(module):
    import torch

    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


# ----------------------------------------------------------------------- check
def check_model(model, caller="This explainer"):
    """Wrap a model into the adapter that fits it.

    Parameters
    ----------
    model : object
        A fitted scikit-learn classifier or Pipeline, a skorch ``NeuralNet``, a
        ``torch.nn.Module``, or a callable ``f(X) -> scores``.
    caller : str, default="This explainer"
        Name used in error messages.

    Returns
    -------
    adapter : ModelAdapter
        The adapter. It references ``model``; nothing is copied.

    Raises
    ------
    NotFittedError
        If a scikit-learn model or skorch net is not fitted.
    TypeError
        If the model is none of the supported kinds.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skxai.models import check_model
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = check_model(LogisticRegression(max_iter=500).fit(X, y))
    >>> adapter.scores(X[:2]).shape
    (2, 3)
    """
    if isinstance(model, ModelAdapter):
        return model
    if is_torch_object(model):
        return TorchAdapter(model)
    if hasattr(model, "fit") and (
        is_classifier(model)
        or hasattr(model, "predict_proba")
        or hasattr(model, "decision_function")
    ):
        return SklearnAdapter(model)
    if hasattr(model, "fit") and hasattr(model, "predict"):
        raise TypeError(
            f"{caller} explains classifiers; {type(model).__name__} has neither "
            "'decision_function' nor 'predict_proba'."
        )
    if callable(model):
        return CallableAdapter(model)
    raise TypeError(
        f"{caller} cannot explain a {type(model).__name__}: give a fitted "
        "scikit-learn classifier or Pipeline, a skorch NeuralNet, a torch.nn.Module "
        "or a callable f(X) -> class scores."
    )


def check_class_index(adapter, label):
    """Index of class ``label`` in ``adapter.classes_`` or a clear ValueError."""
    classes = adapter.classes_
    matches = np.flatnonzero(classes == label)
    if matches.size == 0:
        raise ValueError(
            f"Target class {label!r} is not one of the model's classes "
            f"{classes.tolist()}."
        )
    return int(matches[0])
