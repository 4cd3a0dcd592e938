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
import threading
import warnings

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


def torch_ready(X):
    """``X`` as ``torch.as_tensor`` takes it: C-contiguous, writable (a loky memmap
    or a DataFrame's values is copied; torch warns on read-only arrays) and without
    a negative stride (torch refuses them; numpy calls a reversed one-row slice
    contiguous)."""
    return positive_strides(np.require(X, requirements=["C", "W"]))


def positive_strides(X):
    """``X``, copied if it has a negative stride (``X[::-1]``): its slices,
    even one row, must reach torch."""
    return X.copy() if any(s < 0 for s in X.strides) else X


def _binary_to_two_columns(scores):
    """Turn a 1-D binary decision ``d`` into the two class scores ``[-d, d]``."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return np.column_stack([-scores, scores])
    if scores.ndim == 2 and scores.shape[1] == 1:
        return np.column_stack([-scores[:, 0], scores[:, 0]])
    return scores


def _in_batches(score, X, batch_size):
    """``score`` of ``X`` in consecutive slices of at most ``batch_size`` rows."""
    n = len(X)
    if batch_size is None or n <= batch_size:
        return score(X)
    rows = X.iloc if hasattr(X, "iloc") else X
    step = max(1, int(batch_size))
    return np.concatenate(
        [np.asarray(score(rows[start : start + step])) for start in range(0, n, step)]
    )


def _check_finite_scores(scores, call, method):
    """Raise a clear error when a model call returned NaN or infinity."""
    finite = np.isfinite(scores)
    if not finite.all():
        bad = int((~finite.reshape(len(scores), -1).all(axis=1)).sum())
        raise ValueError(
            f"The model call {call}(X) returned NaN or infinite scores "
            f"({method!r}) for {bad} of {len(scores)} samples; skxai cannot "
            "explain non-finite outputs. Check the model and its inputs."
        )


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
    single_logit : bool or None
        Whether the model is binary with one score ``z`` per sample, whose
        two class scores are ``[-z, z]`` and whose probability of the second
        class is ``sigmoid(z)``. Its own log-loss is then the cross-entropy of
        the scores halved (``softmax([-z/2, z/2]) = [1 - sigmoid(z),
        sigmoid(z)]``), i.e. ``BCEWithLogits(z, y)``, not that of ``[-z, z]``
        (which is the log-loss of ``sigmoid(2 z)``). ``None`` until the
        model's output has been seen (torch modules and callables: set by
        their first call).
    """

    kind = "model"

    def __init__(self, model):
        self.model = model
        self.classes_ = None
        self._single_logit = None

    @property
    def single_logit(self):
        """Whether the model is binary with one logit ``z`` (scores ``[-z, z]``)."""
        return self._single_logit

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

    def check_columns(self, X, caller="This explainer"):
        """Check that a DataFrame ``X`` has the model's columns (no-op by default)."""

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

    @property
    def single_logit(self):
        """Binary scikit-learn classifiers have one decision score ``d`` and
        ``predict_proba`` ``sigmoid(d)``; a binary
        ``LogisticRegression(multi_class='multinomial')`` (scikit-learn < 1.8)
        is the exception: its probabilities are ``softmax([-d, d])``."""
        if len(self.classes_) != 2:
            return False
        final = self.model[-1] if hasattr(self.model, "steps") else self.model
        return not (
            type(final).__name__ == "LogisticRegression"
            and getattr(final, "multi_class", None) == "multinomial"
        )

    def check_columns(self, X, caller="This explainer"):
        """Refuse a DataFrame whose columns are not the model's, in its order.

        The scores of an ndarray are computed with the model's
        ``feature_names_in_`` as column names, so columns in another order would
        be relabelled, not reordered: the model would see scrambled inputs.
        """
        names = getattr(self.model, "feature_names_in_", None)
        columns = getattr(X, "columns", None)
        if names is None or columns is None:
            return
        columns = [str(c) for c in columns]
        if columns == [str(n) for n in names]:
            return
        if len(columns) == len(names) and sorted(columns) == sorted(map(str, names)):
            rule = "Feature names must be in the same order as they were in fit."
        else:
            rule = "X must have the columns the model was fitted on."
        raise ValueError(
            f"The feature names of X given to {caller} should match those that "
            f"were passed to {type(self.model).__name__} during fit. {rule} "
            f"Expected {[str(n) for n in names]}, got {columns}. Select the "
            "columns in the model's order: X[model.feature_names_in_]."
        )

    def scores(self, X, response_method="auto", *, batch_size=None):
        if response_method != "auto" and not hasattr(self.model, response_method):
            return self._torch_scores(X, response_method, batch_size)
        method = self.resolve_response_method(response_method)
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None and np.ndim(X) == 2 and len(names) == np.shape(X)[1]:
            import pandas as pd

            self.check_columns(X, "SklearnAdapter.scores")
            if not hasattr(X, "columns"):
                X = pd.DataFrame(X, columns=names, copy=False)
        out = _in_batches(getattr(self.model, method), X, batch_size)
        if method == "decision_function":
            out = _binary_to_two_columns(out)
        out = np.asarray(out, dtype=np.float64)
        _check_finite_scores(out, f"{type(self.model).__name__}.{method}", method)
        return out

    def _torch_scores(self, X, response_method, batch_size):
        """Scores the estimator has no method for (MLP logits), via torch."""
        import torch

        module, _, _ = self.torch_forward(response_method)
        X = np.asarray(X)
        n = len(X)
        step = n if batch_size is None else max(1, int(batch_size))
        outs = []
        with torch.no_grad():
            for start in range(0, n, step):
                xb = torch.as_tensor(
                    torch_ready(X[start : start + step]),
                    dtype=torch.float64,
                )
                outs.append(module(xb).numpy().astype(np.float64))
        out = np.concatenate(outs, axis=0) if outs else np.empty((0, 0))
        _check_finite_scores(
            out, f"the torch equivalent of {type(self.model).__name__}", response_method
        )
        return out

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
        out = np.asarray(_in_batches(self.model, X, batch_size))
        n = len(X)
        if out.ndim == 1 and out.shape[0] == n:
            out = _binary_to_two_columns(out)
            self._single_logit = True
        elif out.ndim == 2 and out.shape[0] == n:
            self._single_logit = False
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
        out = out.astype(np.float64, copy=False)
        name = getattr(self.model, "__qualname__", type(self.model).__name__)
        _check_finite_scores(out, name, "auto")
        return out

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


# Eval-mode sessions shared by every thread: id(module) -> _EvalSession.
_EVAL_LOCK = threading.Lock()
_EVAL_SESSIONS = {}


class _EvalSession:
    """The caller's training flags and buffers of a module, saved to restore them."""

    def __init__(self, module):
        self.module = module
        self.count = 0
        self.modes = [(m, m.training) for m in module.modules()]
        self.buffers = [
            (
                m,
                dict(m._buffers),
                {
                    name: (b._version, b.detach().clone())
                    for name, b in m._buffers.items()
                    if b is not None
                },
            )
            for m in module.modules()
        ]

    def restore(self):
        import torch

        for m, training in self.modes:
            m.training = training
        with torch.no_grad():
            for m, tensors, saved in self.buffers:
                current = m._buffers  # a dict, or a wrapper of a ScriptModule
                for name in set(current.keys()) - set(tensors):
                    del current[name]  # a buffer registered while explaining
                for name, tensor in tensors.items():
                    if name not in current.keys() or current[name] is not tensor:
                        current[name] = tensor
                for name, (version, value) in saved.items():
                    b = tensors[name]
                    if b._version != version:
                        b.copy_(value)


@contextlib.contextmanager
def eval_mode(module):
    """Put ``module`` in eval mode for the block, shared by every thread.

    One reference-counted session per module: the first thread to enter saves
    the training flag of every submodule and a copy of every buffer and calls
    ``module.eval()``; the last one to leave restores the flags and the buffers
    exactly (the buffer objects, and their values where they were written),
    also after an exception. Threads explaining the same module with ``n_jobs``
    therefore never see it switched back to train mode mid-way.
    """
    key = id(module)
    with _EVAL_LOCK:
        session = _EVAL_SESSIONS.get(key)
        if session is None:
            session = _EVAL_SESSIONS[key] = _EvalSession(module)
            module.eval()
        session.count += 1
    try:
        yield module
    finally:
        with _EVAL_LOCK:
            session.count -= 1
            if session.count == 0:
                del _EVAL_SESSIONS[key]
                session.restore()


# ------------------------------------------------------- the output activation
_ACTIVATIONS = None
_LOGS = None
_RESHAPES = None


def _activation_functions():
    """torch functions of a final activation -> 'softmax', 'log_softmax', 'sigmoid'."""
    global _ACTIVATIONS, _LOGS, _RESHAPES
    if _ACTIVATIONS is None:
        import torch

        F = torch.nn.functional
        T = torch.Tensor
        _LOGS = {torch.log, T.log}
        # Calls that change neither values nor samples: probs.squeeze(1), .view(n, -1),
        # copies, casts and device moves (probs.double(), probs.clone(), .cpu())
        _RESHAPES = {
            *(T.view, T.reshape, T.squeeze, T.flatten, T.contiguous, T.to, T.float),
            *(T.double, T.half, T.bfloat16, T.clone, T.cpu, T.cuda),
            *(torch.reshape, torch.squeeze, torch.flatten, torch.clone),
        }
        _ACTIVATIONS = {
            **dict.fromkeys(
                (torch.softmax, F.softmax, torch.Tensor.softmax, torch.special.softmax),
                "softmax",
            ),
            **dict.fromkeys(
                (
                    torch.log_softmax,
                    F.log_softmax,
                    torch.Tensor.log_softmax,
                    torch.special.log_softmax,
                ),
                "log_softmax",
            ),
            **dict.fromkeys(
                (torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid, torch.special.expit),
                "sigmoid",
            ),
        }
    return _ACTIVATIONS


_WATCH = None


def _make_watch():
    """A torch function mode remembering the last softmax / sigmoid of a forward."""
    global _WATCH
    if _WATCH is None:
        import torch

        activations = _activation_functions()

        class _OutputWatch(torch.overrides.TorchFunctionMode):
            """Records ``(kind, input, output, dim)`` of the last activation call.

            Torch function modes are per thread, so a watched forward sees only
            its own calls. A ``torch.log`` of the recorded softmax's output turns
            the record into a log-softmax of the same input; a reshape that keeps
            the samples and values (``probs.squeeze(1)``) is followed.
            """

            def __init__(self):
                super().__init__()
                self.last = None
                self.n_calls = 0

            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                self.n_calls += 1
                kind = activations.get(func)
                if kind is not None and args and isinstance(out, torch.Tensor):
                    dim = args[1] if len(args) > 1 else kwargs.get("dim")
                    self.last = (kind, args[0], out, dim)
                elif self.last is not None and args and args[0] is self.last[2]:
                    kind, pre, value, dim = self.last
                    if func in _LOGS and kind == "softmax":
                        self.last = ("log_softmax", pre, out, dim)
                    elif (
                        func in _RESHAPES
                        and isinstance(out, torch.Tensor)
                        and out.ndim in (1, 2)
                        and out.numel() == value.numel()
                        and len(out) == len(value)
                    ):
                        pre = pre.reshape(out.shape).to(out.device, out.dtype)
                        self.last = (kind, pre, out, None if out.ndim < 2 else dim)
                return out

        _WATCH = _OutputWatch
    return _WATCH()


def _final_activation(out, last):
    """``(kind, pre_activation)`` when ``out`` is the result of the ``last`` call."""
    if last is None or last[2] is not out:
        return None, None
    kind, pre, _, dim = last
    if out.ndim == 2 and kind != "sigmoid" and out.shape[1] > 1:
        if dim is None or dim in (1, -1):
            return kind, pre
        return None, None
    if kind == "sigmoid" and out.ndim in (1, 2):
        return kind, pre
    return None, None


def _hidden_activation(out, last):
    """Whether the last activation has the output's shape but was changed after."""
    if last is None or last[2] is out:
        return None
    kind, _, value, dim = last
    if tuple(value.shape) != tuple(out.shape) or out.ndim not in (1, 2):
        return None
    if kind != "sigmoid" and dim not in (None, 1, -1):
        return None
    return kind


def _looks_like_probabilities(out):
    """Rows of at least two non-negative scores summing to 1 (float tolerance)."""
    import torch

    if out.ndim != 2 or out.shape[1] < 2 or not out.is_floating_point():
        return False
    if _is_transformed(out):  # torch.func: no data-dependent checks
        return False
    out = out.detach()
    return bool(
        (out >= 0).all()
        and torch.allclose(
            out.sum(dim=1, dtype=torch.float64),
            torch.ones(len(out), dtype=torch.float64, device=out.device),
            atol=1e-3,
        )
    )


def _output_name(module):
    return f"{type(module).__name__}.forward"


def _check_tensor_output(out):
    import torch

    if isinstance(out, tuple | list | dict):
        raise ValueError(
            "The torch model returned a "
            f"{type(out).__name__}, not a tensor of class scores. Wrap it in a "
            "torch.nn.Module whose forward selects the class-score tensor."
        )
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"The torch model must return a tensor; got {type(out).__name__}."
        )
    if out.ndim not in (1, 2):
        raise ValueError(
            "The torch model must return class scores of shape (n_samples, "
            f"n_classes), or (n_samples,) / (n_samples, 1) for a binary model with "
            f"one logit; got a tensor of shape {tuple(out.shape)}."
        )
    return out


def _is_transformed(tensor):
    """Whether ``tensor`` is a torch.func (vmap / grad) wrapped tensor."""
    import torch

    check = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return check is not None and check(tensor)


def _check_finite(x, out, module, method):
    """Raise a clear error for inputs that overflowed and non-finite outputs."""
    import torch

    if _is_transformed(out):
        return
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"X holds values that are not finite in the model's dtype {x.dtype}: "
            f"NaN, or beyond its largest value {torch.finfo(x.dtype).max:.3g}, "
            f"which overflow to infinity when cast for {_output_name(module)}. "
            "Scale X, or run the model in float64 (module.double())."
        )
    finite = torch.isfinite(out)
    if not bool(finite.all()):
        bad = int((~finite.reshape(len(out), -1).all(dim=1)).sum())
        raise ValueError(
            f"The model call {_output_name(module)}(X) returned NaN or infinite "
            f"scores ({method!r}) for {bad} of {len(out)} samples; skxai cannot "
            "explain non-finite outputs. Check the model's weights and its inputs."
        )


class TorchAdapter(ModelAdapter):
    """Adapter for ``torch.nn.Module`` and skorch ``NeuralNet`` models.

    For a skorch net its fitted ``module_`` runs on the net's device, and the
    black-box ``"auto"`` scores apply the net's ``predict_nonlinearity`` (what
    ``net.predict_proba`` returns).

    The forward is watched (a per-thread torch function mode) for a final
    softmax, log-softmax or sigmoid whose result is the output, wherever it
    sits: an ``nn.Softmax`` module, a module attribute, a functional call. Its
    input is the pre-activation score:

    - ``"decision_function"`` (the gradient default) explains it, the logits;
    - ``"predict_proba"`` uses the model's probabilities as they are (never a
      second softmax), ``"predict_log_proba"`` their logarithm;
    - a binary model with one logit ``z`` (output ``(n,)`` or ``(n, 1)``) gets
      the two class scores ``[-z, z]`` or ``[1 - p, p]``, as scikit-learn's
      binary classifiers.

    A softmax that the forward changes before returning it (clamped, scaled)
    cannot be bypassed: a warning says so once.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skxai.models import check_model
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(4, 3)
    ...     def forward(self, x):
    ...         return torch.nn.functional.softmax(self.fc(x), dim=1)
    >>> net = Net()
    >>> X = np.ones((2, 4), dtype=np.float32)
    >>> adapter = check_model(net)
    >>> logits = adapter.scores(X, "decision_function")
    >>> bool(np.allclose(logits, net.fc(torch.as_tensor(X)).detach().numpy()))
    True
    >>> proba = adapter.scores(X, "predict_proba")  # the model's own, as it is
    >>> bool(np.allclose(proba, net(torch.as_tensor(X)).detach().numpy()))
    True
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
        # Channels-last input for CPU conv scores: None untried, False refused.
        self._channels_last = None
        self._warned = False

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

    # ------------------------------------------------------------- forward
    def _run(self, module, x, method, channels_last=False):
        """Class scores of ``method`` for the input tensor ``x``."""
        import torch

        watch = _make_watch()
        with watch:
            out = module(
                x.to(memory_format=torch.channels_last) if channels_last else x
            )
        if self.is_skorch and isinstance(out, tuple) and out:
            out = out[0]  # skorch predicts from a module's first output
        out = _check_tensor_output(out)
        kind, pre = _final_activation(out, watch.last)
        if kind is None and method != "auto" and not self._warned:
            hidden = _hidden_activation(out, watch.last)
            if hidden is not None:
                self._warn(
                    f"{_output_name(module)} applies a {hidden} whose result is "
                    "changed before it is returned, so skxai cannot bypass it",
                    f"pre-{hidden} scores",
                    method,
                )
            elif watch.n_calls == 0:
                self._warn(
                    f"The forward of {type(module).__name__} runs no torch "
                    "function skxai can watch (TorchScript, a C++ extension), so "
                    "a final softmax in it cannot be found and bypassed",
                    "pre-softmax scores (logits)",
                    method,
                )
            elif _looks_like_probabilities(out):
                self._warn(
                    f"{_output_name(module)} returns what look like probabilities "
                    "(every row non-negative, summing to 1) without a softmax call "
                    "skxai can bypass (one computed by hand, exp / sum?)",
                    "pre-softmax scores (logits)",
                    method,
                )
        return self._outputs(out, kind, pre, method)

    def _warn(self, problem, taken_as, method):
        self._warned = True
        warnings.warn(
            f"{problem}: response_method={method!r} is computed from the output "
            f"as it is returned, taken as {taken_as}. Return the logits from "
            "forward (apply the softmax in the loss), or explain the output as it "
            "is with response_method='auto' (black-box explainers).",
            UserWarning,
            stacklevel=4,
        )

    def _outputs(self, out, kind, pre, method):
        import torch

        self._single_logit = out.ndim == 1 or out.shape[1] == 1
        if method == "auto" and self.is_skorch:
            if out.ndim == 2 and out.shape[1] == 1:
                out = out.reshape(-1)  # what NeuralNetBinaryClassifier.infer does
            out = _check_tensor_output(self.model._get_predict_nonlinearity()(out))
            if out.ndim == 2 and out.shape[1] > 1:
                return out
            kind = pre = None  # one score per sample left: a logit
        F = torch.nn.functional
        if out.ndim == 1 or out.shape[1] == 1:
            # Binary, one logit z: the class scores [-z, z] or [1 - p, p].
            z = (pre if kind == "sigmoid" else out).reshape(-1, 1)
            if method in ("decision_function", "auto") and not (
                method == "auto" and kind == "sigmoid"
            ):
                return torch.cat([-z, z], dim=1)
            if method == "predict_log_proba":
                return torch.cat([F.logsigmoid(-z), F.logsigmoid(z)], dim=1)
            p = out.reshape(-1, 1) if kind == "sigmoid" else torch.sigmoid(z)
            return torch.cat([1 - p, p], dim=1)
        if method == "auto":
            return out
        if method == "decision_function":
            return out if kind is None else pre
        if kind == "sigmoid":  # multi-label: per-class probabilities
            if method == "predict_proba":
                return out
            return F.logsigmoid(pre)
        if method == "predict_proba":
            if kind == "softmax":
                return out
            return torch.softmax(out if kind is None else pre, dim=1)
        if kind == "log_softmax":
            return out
        return torch.log_softmax(out if kind is None else pre, dim=1)

    def scores(self, X, response_method="auto", *, batch_size=None):
        import torch

        method = self.resolve_response_method(response_method)
        module = self.module
        device = self.device
        dtype = _module_dtype(module)
        X = np.asarray(X)
        n = len(X)
        step = n if batch_size is None else max(1, int(batch_size))
        outs = []
        with torch.no_grad(), eval_mode(module):
            for start in range(0, n, step):
                xb = torch.as_tensor(
                    torch_ready(X[start : start + step]),
                    dtype=dtype,
                    device=device,
                )
                out = self._scores_batch(module, xb, method)
                _check_finite(xb, out, module, method)
                outs.append(out.detach().to("cpu", torch.float64).numpy())
        if not outs:
            return np.empty((0, 0 if self.classes_ is None else len(self.classes_)))
        return np.concatenate(outs, axis=0)

    def _scores_batch(self, module, xb, method):
        """Scores of one batch, channels-last where it is safe and faster.

        On the CPU, oneDNN convolutions of a batch of images run faster with a
        channels-last (NHWC) input. Only the input's layout changes (with
        ``Tensor.to``: ``contiguous`` leaves one-channel images in ambiguous NCHW
        strides); the module and its parameters are untouched. A model that
        cannot run on channels-last activations (``x.view(n, -1)`` after a
        convolution raises) is run as it is, now and for every later call of this
        adapter.
        """
        use = (
            self._channels_last is not False
            and xb.ndim == 4
            and xb.device.type == "cpu"
            and _has_conv2d(module)
        )
        if not use:
            return self._run(module, xb, method)
        try:
            out = self._run(module, xb, method, channels_last=True)
        except RuntimeError:
            self._channels_last = False  # for good, whatever other threads saw
            return self._run(module, xb, method)
        if self._channels_last is None:
            self._channels_last = True
        return out

    @property
    def supports_gradients(self):
        return True

    def torch_forward(self, response_method="auto"):
        method = self.resolve_response_method(response_method, gradients=True)
        module = self.module

        def forward(x):
            out = self._run(module, x, method)
            _check_finite(x, out, module, method)
            return out

        return forward, module, self.device


def _has_conv2d(module):
    import torch

    return any(isinstance(m, torch.nn.Conv2d) for m in module.modules())


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
