"""Torch helpers shared by the gradient explainers.

- :func:`torch_setup` gives an explainer's differentiable forward, module, device
  and dtype through its model adapter.
- :func:`explaining` puts a module in eval mode for the duration of a call and
  restores the caller's mode afterwards: the adapters' ``eval_mode``, one
  reference-counted session per module shared by every thread (``n_jobs`` with
  threads) and by black-box scoring, so the caller's mode comes back only when
  the last one leaves.
- :func:`forward_callbacks` runs a callback after a submodule's forward in the
  current thread only (activation capture). One dispatching hook per module is
  registered for as long as some thread uses it, and removed in a ``finally``;
  other threads see no callback.
- :func:`input_gradients` computes the gradients of the selected class scores with
  respect to the input only (``torch.autograd.grad``): parameters' ``.grad`` are
  never touched.
- :func:`with_rule` runs a forward whose relu calls have a rectified backward
  (guided backpropagation, deconvolution), through a thread-local torch function
  mode: the module is never changed.

This module imports torch at the top; it is only imported from methods of
explainers that need torch.
"""

import contextlib
import threading

import numpy as np
import torch

from ..models._adapters import _module_dtype, eval_mode, torch_ready

_LOCK = threading.Lock()
_LOCAL = threading.local()
# id(module) -> [hook handle, count]
_HOOKS = {}


def torch_setup(explainer):
    """Return ``(forward, module, device, dtype)`` of a fitted gradient explainer."""
    forward, module, device = explainer.adapter_.torch_forward(
        explainer.response_method_
    )
    return forward, module, device, _module_dtype(module)


def as_tensor(X, dtype, device):
    """A tensor copy of the validated array ``X`` with the module's dtype.

    A read-only ``X`` (a loky memmap, a DataFrame's values) is copied first:
    torch warns on arrays it cannot write.
    """
    return torch.as_tensor(torch_ready(X), dtype=dtype, device=device)


def to_numpy(tensor):
    """A float64 ndarray from a tensor on any device."""
    return tensor.detach().to("cpu", torch.float64).numpy()


def explaining(module):
    """Eval mode for the block, shared by every thread explaining ``module``.

    The adapters' reference-counted session (:func:`skxai.models._adapters.
    eval_mode`): the caller's mode and buffers come back when the last thread
    leaves, also after an exception.
    """
    return eval_mode(module)


def _dispatch(module, inputs, output):
    """The forward hook: call this thread's callback for ``module``, if any."""
    callbacks = getattr(_LOCAL, "callbacks", None)
    if callbacks:
        callback = callbacks.get(id(module))
        if callback is not None:
            return callback(module, inputs, output)
    return None


@contextlib.contextmanager
def forward_callbacks(callbacks):
    """Run ``callbacks[module](module, inputs, output)`` after each module's forward.

    Only in the current thread, and only within the block. A callback may return
    a replacement output, as a forward hook does.
    """
    modules = list(callbacks)
    with _LOCK:
        for m in modules:
            entry = _HOOKS.get(id(m))
            if entry is None:
                entry = _HOOKS[id(m)] = [m.register_forward_hook(_dispatch), 0]
            entry[1] += 1
    previous = getattr(_LOCAL, "callbacks", None)
    _LOCAL.callbacks = {**(previous or {}), **{id(m): f for m, f in callbacks.items()}}
    try:
        yield
    finally:
        _LOCAL.callbacks = previous
        with _LOCK:
            for m in modules:
                entry = _HOOKS[id(m)]
                entry[1] -= 1
                if entry[1] == 0:
                    entry[0].remove()
                    del _HOOKS[id(m)]


def check_scores(out, n_classes=None):
    """Check the forward returned 2-D class scores."""
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
        raise ValueError(
            "The model must return class scores of shape (n_samples, n_classes); "
            f"got {shape}."
        )
    return out


def input_gradients(forward, x, targets, *, capture=None, with_predictions=False):
    """Gradients of the selected class scores with respect to the input.

    Parameters
    ----------
    forward : callable
        Differentiable map from inputs to class scores of shape (m, n_classes).
    x : Tensor of shape (m, *input_shape)
        Model inputs.
    targets : LongTensor of shape (m, n_targets)
        Class index per input and target; ``-1`` stands for the predicted class,
        the argmax of the scores this forward pass computes (no extra pass).
    capture : list, default=None
        When given, a list a forward callback fills with one tensor (a layer's
        activation): gradients are then taken with respect to that tensor
        instead of the input, and returned with it.
    with_predictions : bool, default=False
        Also return the predictions and the resolved targets.

    Returns
    -------
    grads : Tensor of shape (m, n_targets, *shape)
        ``d scores[i, targets[i, j]] / d x[i]`` (or the captured activation).
        Samples are independent in eval mode, so summing the selected scores
        over the batch gives every sample's gradient in one backward pass.
    pred : LongTensor of shape (m,)
        The predicted class index of each input (``with_predictions`` only).
    targets : LongTensor of shape (m, n_targets)
        The class indices explained, ``-1`` replaced by ``pred``
        (``with_predictions`` only).
    """
    n_targets = targets.shape[1]
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = check_scores(forward(x))
        pred, targets = predicted_targets(out, targets)
        wrt = x
        if capture is not None:
            if len(capture) != 1:
                raise RuntimeError(
                    f"The layer ran {len(capture)} times in one forward pass; it "
                    "must run exactly once."
                )
            wrt = capture[0]
        grads = []
        for j in range(n_targets):
            selected = out.gather(1, targets[:, j : j + 1]).sum()
            (grad,) = torch.autograd.grad(selected, wrt, retain_graph=j < n_targets - 1)
            grads.append(grad)
    if not grads:
        grads = torch.empty((len(x), 0, *wrt.shape[1:]), dtype=x.dtype, device=x.device)
    else:
        grads = torch.stack(grads, dim=1)
    return (grads, pred, targets) if with_predictions else grads


def predicted_targets(out, targets):
    """The argmax of the scores ``out`` and ``targets`` with -1 replaced by it."""
    pred = out.detach().argmax(1)
    return pred, torch.where(targets < 0, pred[:, None], targets)


def selected_scores(forward, x, targets):
    """Scores ``f(x)[i, targets[i, j]]`` of shape (m, n_targets), without grad."""
    with torch.no_grad():
        out = check_scores(forward(x))
    return out.gather(1, targets)


# ------------------------------------------------------------ backprop rules
class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients where the output is > 0.

    ``inplace`` keeps the semantics of the call it stands for (``relu_``,
    ``nn.ReLU(inplace=True)``): the input is rectified in place and returned.
    The output is saved for the backward, as torch's own ReLU saves it (a later
    in-place change of it is refused by autograd, as for torch's ReLU).
    """

    @staticmethod
    def forward(ctx, x, inplace):
        if inplace:
            out = torch.relu_(x)
            ctx.mark_dirty(x)
        else:
            out = torch.relu(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        # torch's ReLU backward (grad where out > 0), then only positive values
        return torch.ops.aten.threshold_backward(grad, out, 0).clamp_(min=0), None


class _DeconvReLU(torch.autograd.Function):
    """ReLU whose backward is the ReLU of the incoming gradient (Zeiler & Fergus)."""

    @staticmethod
    def forward(ctx, x, inplace):
        if inplace:
            ctx.mark_dirty(x)
            return torch.relu_(x)
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad):
        return torch.relu(grad), None


_RULES = {"guided": _GuidedReLU, "deconvolution": _DeconvReLU}

F = torch.nn.functional
# The calls every ReLU goes through (nn.ReLU.forward calls F.relu): whether each
# works in place (None: F.relu's own ``inplace`` argument says).
_RELU_CALLS = {
    F.relu: None,
    torch.relu: False,
    torch.relu_: True,
    torch.Tensor.relu: False,
    torch.Tensor.relu_: True,
}


class _RuleMode(torch.overrides.TorchFunctionMode):
    """Replace every relu call of the current thread by the rule's ReLU.

    Torch function modes are thread-local: other threads running the same module
    keep the plain ReLU. The module is not touched (no hook, no flag changed), so
    in-place and reused ReLU modules and functional relu calls all get the rule,
    once per call.
    """

    def __init__(self, function):
        super().__init__()
        self.function = function

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in _RELU_CALLS:
            return func(*args, **kwargs)
        x = args[0] if args else kwargs["input"]
        inplace = _RELU_CALLS[func]
        if inplace is None:
            inplace = bool(args[1] if len(args) > 1 else kwargs.get("inplace", False))
        return self.function.apply(x, inplace)


def with_rule(forward, rule):
    """``forward`` whose relu calls follow ``rule`` ('guided', 'deconvolution')."""
    function = _RULES[rule]

    def ruled(x):
        with _RuleMode(function):
            return forward(x)

    return ruled


# Activations a rectified-backprop rule does not cover.
_OTHER_ACTIVATIONS = {
    torch.tanh: "tanh",
    torch.Tensor.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    torch.Tensor.sigmoid: "sigmoid",
    F.threshold: "threshold",
    F.gelu: "gelu",
    F.elu: "elu",
    F.selu: "selu",
    F.celu: "celu",
    F.leaky_relu: "leaky_relu",
    F.silu: "silu",
    F.mish: "mish",
    F.softplus: "softplus",
    F.hardtanh: "hardtanh",
    F.relu6: "relu6",
    F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid",
    F.prelu: "prelu",
    F.rrelu: "rrelu",
    F.glu: "glu",
    F.logsigmoid: "logsigmoid",
    F.softsign: "softsign",
}


class _ActivationProbe(torch.overrides.TorchFunctionMode):
    """Record the activation calls of a forward pass."""

    def __init__(self, names):
        super().__init__()
        self.names = names  # id(module) -> name, for modules being run
        self.stack = []  # modules being run, innermost last
        self.found = []  # (description, output) of activations no rule covers

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _OTHER_ACTIVATIONS:
            where = ""
            if self.stack:
                where = f" in module {self.names.get(id(self.stack[-1]), '?')!r}"
            self.found.append((f"a {_OTHER_ACTIVATIONS[func]} activation{where}", out))
        return out


def find_relus(forward, module, x, caller):
    """The ReLU modules of ``module``, after checking no other activation is run.

    Runs one probe forward on ``x``. Every relu call (``nn.ReLU`` modules, in
    place or not, called once or several times, and functional relu) gets a
    rectified-backprop rule; a TypeError names any other activation (tanh, GELU,
    LeakyReLU, ...) the explained output depends on, unless it is the output
    itself (a final sigmoid is differentiated as it is).

    Returns
    -------
    relus : list of nn.ReLU
        The ReLU modules run by the forward.
    """
    scripted = [
        name or type(m).__name__
        for name, m in module.named_modules()
        if isinstance(m, torch.jit.ScriptModule)
    ]
    if scripted:
        raise TypeError(
            f"{caller} changes the backward pass of the relu calls of a Python "
            f"forward, and {scripted[0]!r} is a TorchScript module, whose calls "
            "it cannot see. Explain the original (unscripted) module."
        )
    names = {id(m): name or type(m).__name__ for name, m in module.named_modules()}
    probe = _ActivationProbe(names)
    relus = {}

    owner = threading.get_ident()  # forwards of other threads are not probed

    def pre(m, inputs):
        if threading.get_ident() != owner:
            return
        probe.stack.append(m)
        if isinstance(m, torch.nn.ReLU):
            relus[id(m)] = m

    def post(m, inputs, output):
        if threading.get_ident() == owner:
            probe.stack.pop()

    handles = []
    try:
        for m in module.modules():
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
        with torch.enable_grad(), probe:
            out = forward(x.detach().requires_grad_(True))
    finally:
        for handle in handles:
            handle.remove()
    upstream = _graph_nodes(out)
    problems = [
        desc
        for desc, value in probe.found
        if value is not out and value.grad_fn is not None and value.grad_fn in upstream
    ]
    if problems:
        listed = "; ".join(dict.fromkeys(problems))
        raise TypeError(
            f"{caller} changes the backward pass of ReLUs only, and this model "
            f"has {listed}. Models with other activations (tanh, GELU, "
            "LeakyReLU, ...) are not rectified networks: explain them with "
            "Saliency or IntegratedGradients."
        )
    return list(relus.values())


def _graph_nodes(tensor):
    """The autograd nodes ``tensor`` was computed through."""
    seen = set()
    stack = [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return seen


def module_names(module):
    """Map id(submodule) -> its qualified name in ``module``."""
    return {id(m): name for name, m in module.named_modules()}


def gradient_maps(explainer, X, targets, *, rule=None):
    """Input gradients of a fitted explainer's model, in batches of ``batch_size``.

    Parameters
    ----------
    explainer : fitted gradient explainer
        Gives the model (``adapter_``, ``response_method_``) and ``batch_size``.
    X : ndarray of shape (n, *input_shape)
        Validated samples.
    targets : ndarray of shape (n, n_targets)
        Class indices; -1 for the predicted class.
    rule : {'guided', 'deconvolution'}, default=None
        Backward rule of every relu call (see :func:`with_rule`); None keeps the
        plain gradient.

    Returns
    -------
    result : dict
        ``maps``: ndarray of shape (n, n_targets, *input_shape), float64;
        ``_pred``: the predicted class indices, shape (n,), found by the same
        forward pass; ``_targets``: the class indices explained.
    """
    forward, module, device, dtype = torch_setup(explainer)
    if rule is not None:
        forward = with_rule(forward, rule)
    n, n_targets = targets.shape
    grads = np.empty((n, n_targets, *X.shape[1:]), dtype=np.float64)
    pred = np.empty(n, dtype=np.intp)
    done = np.empty((n, n_targets), dtype=np.intp)
    step = explainer.batch_size
    with explaining(module):
        for start in range(0, n, step):
            stop = min(start + step, n)
            x = as_tensor(X[start:stop], dtype, device)
            t = torch.as_tensor(targets[start:stop], dtype=torch.long, device=device)
            g, p, t = input_gradients(forward, x, t, with_predictions=True)
            grads[start:stop] = to_numpy(g)
            pred[start:stop] = p.cpu().numpy()
            done[start:stop] = t.cpu().numpy()
    return {"maps": grads, "_pred": pred, "_targets": done}
