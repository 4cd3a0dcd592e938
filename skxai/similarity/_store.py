"""Per-example gradient store of :class:`~skxai.similarity.GradientSimilarity`.

The per-example gradient of the loss with respect to a layer's parameters is never
materialised when a smaller exact form exists:

* ``nn.Linear``: the weight gradient of one example is the outer product
  ``delta a^T`` of the gradient ``delta`` of the loss with respect to the layer's
  output and the layer's input ``a`` (the bias gradient is ``delta``: append a
  constant 1 to ``a``). Hence ``<g_i, g_j> = (delta_i . delta_j) (a_i . a_j)``;
  the store keeps ``a`` and ``delta``.
* ``nn.Conv2d``: the weight gradient is ``sum_p delta_p a_p^T`` over output
  positions ``p`` (``a_p`` the unfolded input patch). The store keeps either the
  summed gradient (``C_out x (C_in k k + 1)``, the bias as a row of ones in the
  unfolded patches, one batched product for the whole batch) or the
  per-position factors, whichever is smaller; with factors,
  ``<g_i, g_j> = sum_{p, q} (delta_ip . delta_jq) (a_ip . a_jq)``.
* Any other module with parameters: per-example gradients of its own parameters
  from :func:`torch.func.vmap` over :func:`torch.func.grad`, stored flat.

``a`` and ``delta`` of a whole batch come from forward hooks and one backward of
the summed per-example losses (a sum makes the output gradients per-example).

With ``projection_dim=k`` every stored factor (or flat gradient) longer than ``k``
is multiplied by a seeded Gaussian matrix with entries ``N(0, 1/k)``: for factored
layers ``a`` and ``delta`` are projected separately, which is the Kronecker
projection ``(R_delta ⊗ R_a)`` of the full gradient without forming it. Inner
products are then unbiased estimates of the exact ones.

After ``fit``, :func:`compact` drops the columns (last axis) of every stored array
that are zero for every reference: a unit that no reference activates (a dead
ReLU channel, a dead convolution input channel) adds nothing to any inner
product with a reference, whatever the query. The queries' arrays are cut to
the same columns (:func:`select`) after their norms are taken, so the
similarities stay exact. On the seed CNN this drops a quarter of the store.

This module imports torch at the top: it is imported lazily, from methods.
"""

import threading
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..models._adapters import eval_mode, torch_ready

# Hooks registered by one thread ignore forwards run by another (n_jobs threads).
_SUPPORTED = "nn.Linear and nn.Conv2d (groups=1, zero padding)"
# torch.func.functional_call swaps a module's parameters for every thread: the
# collection of a model with 'func' modules runs one thread at a time.
_FUNC_LOCK = threading.RLock()
# Elements of the (n_query * P, n_ref * P) blocks of factored layers with P > 1.
_BLOCK_ELEMENTS = 1 << 24


@dataclass
class LayerPlan:
    """How one module's per-example gradients are stored.

    Attributes
    ----------
    name : str
        Module name in ``module.named_modules()``.
    op : {'linear', 'conv2d', 'func'}
        How ``a`` and ``delta`` are obtained: hooks for linear and conv layers,
        :mod:`torch.func` per-sample gradients otherwise.
    form : {'factored', 'dense'}
        Stored as the factors ``(a, delta)`` or as the flat gradient.
    params : list of str
        Names (relative to the module) of the parameters covered.
    use_weight, use_bias : bool
        Which of the weight and bias require gradients (hooked layers).
    n_positions : int
        Positions ``P`` summed over (1 for a linear layer on flat inputs).
    clone_output : bool
        Whether the forward modifies the layer's output in place (an in-place
        activation), so the hook hands a copy on.
    dim_a, dim_delta : int
        Lengths of ``a`` (bias column included) and ``delta``.
    proj_a, proj_delta, proj : ndarray or None
        Projection matrices of ``a``, ``delta`` (factored) or of the flat
        gradient (dense).
    keep : list of (ndarray or None) or None
        Per stored array, the indices of the columns kept by :func:`compact`
        (None: all of them); None before :func:`compact`.
    """

    name: str
    op: str
    form: str
    params: list = field(default_factory=list)
    use_weight: bool = True
    use_bias: bool = False
    n_positions: int = 1
    clone_output: bool = False
    dim_a: int = 0
    dim_delta: int = 0
    proj_a: np.ndarray | None = None
    proj_delta: np.ndarray | None = None
    proj: np.ndarray | None = None
    keep: list | None = None

    @property
    def full_size(self):
        """Length of the flattened exact per-example gradient."""
        return self.dim_a * self.dim_delta


# ------------------------------------------------------------------ selection
def _direct_trainable(module):
    return [
        (name, p) for name, p in module.named_parameters(recurse=False)
        if p.requires_grad
    ]


def select_modules(module, layers, caller):
    """Modules (name, module) whose own trainable parameters are explained."""
    named = list(module.named_modules())
    owners = [(name, m) for name, m in named if _direct_trainable(m)]
    if not owners:
        raise ValueError(
            f"{caller} needs a model with trainable parameters; no parameter of "
            f"{type(module).__name__} requires gradients."
        )
    if isinstance(layers, str):
        return owners if layers == "all" else owners[-1:]
    known = {name for name, _ in named}
    unknown = [name for name in layers if name not in known]
    if unknown:
        shown = sorted(name for name, _ in owners)
        raise ValueError(
            f"The 'layers' parameter of {caller} names unknown module(s) "
            f"{unknown}. Modules with trainable parameters: {shown[:20]}"
            + (" ..." if len(shown) > 20 else "")
            + "."
        )
    picked = [
        (name, m) for name, m in owners
        if any(name == lay or name.startswith(lay + ".") or lay == "" for lay in layers)
    ]
    if not picked:
        raise ValueError(
            f"The 'layers' parameter of {caller} selects no trainable parameter: "
            f"{list(layers)} contain none. Give modules among "
            f"{sorted(name for name, _ in owners)[:20]}."
        )
    return picked


def _hookable(m):
    if isinstance(m, torch.nn.Linear):
        return "linear"
    if (
        isinstance(m, torch.nn.Conv2d)
        and m.groups == 1
        and m.padding_mode == "zeros"
    ):
        return "conv2d"
    return None


def build_plan(forward, module, x_probe, layers, caller, projection_dim, rng):
    """Probe one forward and decide, per module, how gradients are stored."""
    selected = select_modules(module, layers, caller)
    calls = {name: [] for name, _ in selected}
    handles = []
    owner = threading.get_ident()  # not the forwards of other threads
    for name, m in selected:

        def hook(mod, inp, out, name=name):
            if threading.get_ident() != owner:
                return
            tensor = torch.is_tensor(out)
            calls[name].append(
                (tuple(out.shape), out, out._version) if tensor else None
            )

        handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad(), eval_mode(module):
            forward(x_probe)
    finally:
        for h in handles:
            h.remove()
    plans = []
    for name, m in selected:
        shapes = calls[name]
        if not shapes:
            continue  # not used by the forward: a zero gradient
        trainable = dict(_direct_trainable(m))
        op = _hookable(m) if len(shapes) == 1 and shapes[0] is not None else None
        if op is not None and set(trainable) <= {"weight", "bias"}:
            use_w = "weight" in trainable
            use_b = "bias" in trainable
            out_shape, out, version = shapes[0]
            if op == "linear":
                n_pos = int(np.prod(out_shape[1:-1], dtype=np.int64))
                dim_a = m.in_features * use_w + use_b
                dim_d = m.out_features
            else:
                n_pos = int(np.prod(out_shape[2:], dtype=np.int64))
                dim_a = int(np.prod(m.weight.shape[1:])) * use_w + use_b
                dim_d = m.out_channels
            factored = n_pos * (dim_a + dim_d) < dim_a * dim_d
            plan = LayerPlan(
                name, op, "factored" if factored else "dense",
                params=sorted(trainable), use_weight=use_w, use_bias=use_b,
                n_positions=n_pos, dim_a=dim_a, dim_delta=dim_d,
                clone_output=out._version != version,
            )
        else:
            size = sum(p.numel() for p in trainable.values())
            plan = LayerPlan(
                name, "func", "dense", params=sorted(trainable),
                dim_a=size, dim_delta=1,
            )
        if projection_dim is not None:
            k = projection_dim
            if plan.form == "factored":
                plan.proj_a = _gaussian(rng, plan.dim_a, k)
                plan.proj_delta = _gaussian(rng, plan.dim_delta, k)
            else:
                plan.proj = _gaussian(rng, plan.full_size, k)
        plans.append(plan)
    if not plans:
        raise ValueError(
            f"{caller} found no selected module with trainable parameters that the "
            "model's forward uses."
        )
    return plans


def _gaussian(rng, dim, k):
    """A (dim, k) Gaussian matrix with N(0, 1/k) entries, or None when dim <= k."""
    if dim <= k:
        return None
    return rng.standard_normal((dim, k)) / np.sqrt(k)


# ---------------------------------------------------------------- collection
def default_loss(scores, target):
    """Cross-entropy of the scores, one value per sample."""
    return F.cross_entropy(scores, target, reduction="none")


def single_logit_loss(scores, target):
    """Log-loss of a binary model with one logit ``z``, from its scores ``[-z, z]``.

    The model's probability is ``sigmoid(z) = softmax([-z/2, z/2])``, so its
    log-loss (``BCEWithLogits(z, y)``) is the cross-entropy of the halved
    scores; that of ``[-z, z]`` would be the log-loss of ``sigmoid(2 z)``.
    """
    return F.cross_entropy(scores / 2, target, reduction="none")


def of_logit(loss):
    """``loss`` of a binary model's one logit ``z``, taking its scores ``[-z, z]``.

    The returned function passes ``z`` (the second column, shape ``(n, 1)``)
    and the class indices to ``loss``: a loss written for the model's own
    output (``BCEWithLogits(z, y)``) is then that of the model.
    """

    def loss_of_logit(scores, target):
        return loss(scores[:, 1:], target)

    return loss_of_logit


def probability_loss(scores, target):
    """Log-loss ``-log p_y`` of probabilities (the scores of ``'predict_proba'``);
    the cross-entropy would take a softmax of the probabilities."""
    return F.nll_loss(torch.log(scores), target, reduction="none")


def _per_sample_loss(loss, scores, target, caller):
    values = loss(scores, target)
    if not torch.is_tensor(values) or tuple(values.shape) != (len(target),):
        shape = tuple(getattr(values, "shape", ()))
        raise ValueError(
            f"The 'loss' callable of {caller} must return one loss per sample, a "
            f"tensor of shape ({len(target)},); got shape {shape}. Use a per-sample "
            "loss, e.g. torch.nn.CrossEntropyLoss(reduction='none') of scores of "
            "shape (n, n_classes), or, for the logit z of shape (n, 1) of a binary "
            "model with one output, F.binary_cross_entropy_with_logits(z[:, 0], "
            "target.to(z.dtype), reduction='none')."
        )
    return values


class _FuncWrapper(torch.nn.Module):
    """Module whose forward is ``forward``, for :func:`torch.func.functional_call`."""

    def __init__(self, forward, module):
        super().__init__()
        self.module = module
        self._forward = forward

    def forward(self, x):
        return self._forward(x)


def _proj(t, matrix):
    if matrix is None:
        return t
    return t @ torch.as_tensor(matrix, dtype=t.dtype, device=t.device)


def collect(
    plans, forward, module, X, target, *, loss, caller, dtype, device, numpy=True
):
    """Per-example gradient representations of a batch.

    Parameters
    ----------
    plans : list of LayerPlan
    forward, module : the model's differentiable forward and its module.
    X : ndarray of shape (n, *input_shape)
    target : ndarray of shape (n,) of class indices, or None for the predictions.
    numpy : bool, default=True
        Return the representations as numpy arrays; as detached CPU tensors
        (no copy) when False.

    Returns
    -------
    reps : list of tuple of ndarray
        Per plan: ``(a, delta)`` shaped ``(n, [P,] k)`` when factored, ``(g,)``
        shaped ``(n, k)`` when dense.
    sqnorm : ndarray of shape (n,)
        Squared norms of the (projected) per-example gradients, float64.
    pred : ndarray of shape (n,)
        Index of the model's largest score per sample.
    """
    if any(plan.op == "func" for plan in plans):
        with _FUNC_LOCK:
            return _collect(plans, forward, module, X, target, loss, caller, dtype,
                            device, numpy)
    return _collect(
        plans, forward, module, X, target, loss, caller, dtype, device, numpy
    )


def to_tensor(X, dtype, device):
    """``X`` as a tensor (a copy when read-only, e.g. a DataFrame's values)."""
    return torch.as_tensor(torch_ready(X), dtype=dtype, device=device)


def _collect(plans, forward, module, X, target, loss, caller, dtype, device, numpy):
    loss = default_loss if loss is None else loss
    x = to_tensor(X, dtype, device)
    owner = threading.get_ident()
    records, recording = {}, [True]
    hooked = [p for p in plans if p.op != "func"]
    named = dict(module.named_modules())
    handles = []
    for plan in hooked:

        def hook(mod, inp, out, plan=plan):
            if not recording[0] or threading.get_ident() != owner:
                return None
            records[plan.name] = (_layer_input(mod, plan, inp[0]), out)
            # A later in-place op must not change `out`: hand a copy on.
            return out.clone() if plan.clone_output else None

        handles.append(named[plan.name].register_forward_hook(hook))
    try:
        with eval_mode(module), torch.enable_grad():
            scores = forward(x)
            pred = scores.detach().argmax(dim=1)
            tgt = pred if target is None else torch.as_tensor(
                target, dtype=torch.long, device=device
            )
            values = _per_sample_loss(loss, scores, tgt, caller)
            _check_finite_values(values, "loss", caller)
            if hooked:
                total = values.sum()
                outs = [records[p.name][1] for p in hooked]
                grads = torch.autograd.grad(total, outs, allow_unused=True)
                deltas = dict(zip([p.name for p in hooked], grads))
            recording[0] = False
            with torch.no_grad():  # torch.func.grad ignores an outer no_grad
                func_grads = _func_grads(plans, forward, module, x, tgt, loss)
    finally:
        for h in handles:
            h.remove()
    reps, sqnorm = [], torch.zeros(len(x), dtype=torch.float64, device=device)
    for plan in plans:
        if plan.op == "func":
            rep = _dense_rep(plan, func_grads[plan.name])
        elif plan.op == "conv2d" and plan.form == "dense":
            a, out = records[plan.name]
            grad = deltas[plan.name]
            grad = torch.zeros_like(out) if grad is None else grad
            # sum_p delta_p [a_p, 1]^T of every sample in one batched product.
            g = torch.bmm(grad.reshape(len(a), plan.dim_delta, -1), a.transpose(1, 2))
            rep = _dense_rep(plan, g.flatten(1))
        else:
            a = records[plan.name][0]
            delta = _layer_delta(plan, deltas[plan.name], records[plan.name][1])
            if plan.form == "factored":
                rep = _factored_rep(plan, _with_bias_column(plan, a), delta)
            else:
                rep = _dense_rep(plan, _summed_gradient(plan, a, delta))
        tensors, norm = rep
        sqnorm += norm.detach()
        tensors = tuple(_stored(t) for t in tensors)
        reps.append(tuple(t.numpy() for t in tensors) if numpy else tensors)
    _check_finite_values(sqnorm, "per-example gradient of the loss", caller)
    return reps, sqnorm.cpu().numpy(), pred.cpu().numpy()


def _stored(t):
    """A representation as stored: on the CPU; bfloat16 (which numpy lacks) as
    float32."""
    t = t.detach().cpu()
    return t.float() if t.dtype == torch.bfloat16 else t


def _check_finite_values(values, what, caller):
    """A clear error where a sample's loss or gradient is NaN or infinite: its
    similarities (and so the rankings) would mean nothing."""
    bad = int((~torch.isfinite(values.detach())).sum())
    if bad:
        raise ValueError(
            f"The {what} of {caller} is NaN or infinite for {bad} of {len(values)} "
            "samples, so their similarities would mean nothing. Check the 'loss' "
            "callable (it gets the model's scores and the class indices) and the "
            "model's weights."
        )


def _layer_input(mod, plan, a):
    """The layer input as (n, P, dim_a) (unfolded patches for a convolution).

    For a convolution stored dense: (n, dim_a, P), the patches and a row of
    ones for the bias, ready for the batched product with the output gradient.
    """
    n = a.shape[0]
    a = a.detach()
    if plan.op == "conv2d" and plan.form == "dense":
        # (n, dim_a, P): the patches with a row of ones for the bias.
        return unfold(a, mod, weight=plan.use_weight, ones=plan.use_bias)
    if plan.op == "conv2d":
        a = unfold(a, mod).transpose(1, 2)
    else:
        # Copied: a later in-place op could change the input before it is used.
        a = a.reshape(n, -1, a.shape[-1]).clone()
    return a if plan.use_weight else a[:, :, :0]


def _with_bias_column(plan, a):
    """``a`` with a column of ones for the bias: the factor of ``[W, b]``."""
    if not plan.use_bias:
        return a
    return torch.cat([a, a.new_ones(a.shape[:2] + (1,))], dim=2)


def _summed_gradient(plan, a, delta):
    """Per-example gradient of ``[W, b]``: ``sum_p delta_p [a_p, 1]^T``, flat."""
    parts = [delta.transpose(1, 2) @ a] if plan.use_weight else []
    if plan.use_bias:
        parts.append(delta.sum(1, keepdim=True).transpose(1, 2))
    g = torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]
    return g.flatten(1)


def unfold(a, conv, *, weight=True, ones=False):
    """The input patches of ``conv``, as :func:`torch.nn.functional.unfold` gives.

    Shape ``(n, C_in * kh * kw, L)``; built from ``kh * kw`` strided slices,
    which is much faster than ``F.unfold`` on CPU. With ``ones`` a last row of
    ones is appended (the factor of the bias), written in place: shape
    ``(n, C_in * kh * kw + 1, L)``. With ``weight=False`` the patches are left
    out (only the row of ones, if any).
    """
    (kh, kw), (dh, dw), (sh, sw) = conv.kernel_size, conv.dilation, conv.stride
    padding = conv.padding
    if isinstance(padding, str):
        # 'same' pads dilation * (kernel - 1) in total, the extra one after.
        pads = []
        for k, d in ((kw, dw), (kh, dh)):
            total = d * (k - 1) if padding == "same" else 0
            pads += [total // 2, total - total // 2]
    else:
        pads = [padding[1], padding[1], padding[0], padding[0]]
    n, c, h, w = a.shape
    h, w = h + pads[2] + pads[3], w + pads[0] + pads[1]
    ho = (h - dh * (kh - 1) - 1) // sh + 1
    wo = (w - dw * (kw - 1) - 1) // sw + 1
    n_rows = c * kh * kw * weight
    out = a.new_empty((n, n_rows + ones, ho * wo))
    if ones:
        out[:, n_rows].fill_(1)
    if not weight:
        return out
    if any(pads):
        a = F.pad(a, pads)
    view = out[:, :n_rows].view(n, c, kh * kw, ho, wo)
    for i in range(kh):
        for j in range(kw):
            view[:, :, i * kw + j].copy_(
                a[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                  j * dw : j * dw + sw * (wo - 1) + 1 : sw]
            )
    return out


def _layer_delta(plan, grad, out):
    """The output gradient as (n, P, dim_delta)."""
    if grad is None:
        grad = torch.zeros_like(out)
    n = grad.shape[0]
    if plan.op == "conv2d":
        return grad.reshape(n, plan.dim_delta, -1).transpose(1, 2)
    return grad.reshape(n, -1, plan.dim_delta)


def _factored_rep(plan, a, delta):
    a = _proj(a, plan.proj_a)
    delta = _proj(delta, plan.proj_delta)
    if plan.n_positions == 1:
        a, delta = a[:, 0], delta[:, 0]
        norm = a.double().square().sum(1) * delta.double().square().sum(1)
        return (a, delta), norm
    ka, kd, n_pos = a.shape[2], delta.shape[2], plan.n_positions
    if ka * kd <= n_pos * n_pos:
        norm = (delta.double().transpose(1, 2) @ a.double()).square().sum((1, 2))
    else:
        gram_a = a.double() @ a.double().transpose(1, 2)
        gram_d = delta.double() @ delta.double().transpose(1, 2)
        norm = (gram_a * gram_d).sum((1, 2))
    return (a, delta), norm


def _dense_rep(plan, g):
    g = _proj(g, plan.proj)
    return (g,), g.double().square().sum(1)


def _func_grads(plans, forward, module, x, target, loss):
    """Per-sample gradients of the 'func' modules' parameters, flat per module."""
    func_plans = [p for p in plans if p.op == "func"]
    if not func_plans:
        return {}
    from torch.func import functional_call, grad, vmap

    wrapper = _FuncWrapper(forward, module)
    names = [
        f"{p.name}.{q}" if p.name else q for p in func_plans for q in p.params
    ]
    all_params = dict(module.named_parameters())
    params = {f"module.{n}": all_params[n].detach() for n in names}

    def one(params, xi, ti):
        scores = functional_call(wrapper, params, (xi[None],))
        return loss(scores, ti[None]).sum()

    try:
        grads = vmap(grad(one), in_dims=(None, 0, 0))(params, x, target)
    except Exception as exc:
        # An error of the model or of the loss itself is raised as it is (the
        # torch.func one chained to it); only what torch.func alone cannot do
        # becomes NotImplementedError.
        _per_sample_loss(loss, forward(x[:1]), target[:1], "GradientSimilarity")
        raise NotImplementedError(
            f"Per-example gradients of the modules {[p.name for p in func_plans]} "
            f"could not be computed with torch.func ({exc}). Exact factored "
            f"gradients support {_SUPPORTED}; choose other modules with 'layers'."
        ) from exc
    out = {}
    for p in func_plans:
        keys = [f"module.{p.name}.{q}" if p.name else f"module.{q}" for q in p.params]
        out[p.name] = torch.cat([grads[k].flatten(1) for k in keys], dim=1)
    return out


# -------------------------------------------------------------------- store
def concat(rep_list):
    """Concatenate per-batch representations along the sample axis."""
    return [
        tuple(np.concatenate(parts, axis=0) for parts in zip(*layer))
        for layer in zip(*rep_list)
    ]


def nbytes(reps):
    """Bytes held by the arrays of ``reps``."""
    return int(sum(arr.nbytes for layer in reps for arr in layer))


def compact(plans, reps):
    """Drop the columns that are zero for every reference; set ``plan.keep``.

    Exact: a column that is zero in every reference contributes nothing to any
    inner product with a reference. Norms must be taken before.

    Parameters
    ----------
    plans : list of LayerPlan
    reps : list of tuple of ndarray
        The reference set's representations (last axis: columns). Each layer's
        entry is replaced in place as soon as it is cut, so that only one
        layer's arrays are held twice at a time.

    Returns
    -------
    reps : list of tuple of ndarray
        The same list, without those columns (arrays with no zero column are
        kept as they are).
    """
    for i, plan in enumerate(plans):
        keep, arrays = [], []
        for arr in reps[i]:
            used = None
            if arr.size:
                used = np.flatnonzero(arr.reshape(-1, arr.shape[-1]).any(axis=0))
            if used is None or len(used) == arr.shape[-1]:
                keep.append(None)
                arrays.append(arr)
            else:
                keep.append(used)
                arrays.append(np.take(arr, used, axis=-1))  # C order, fast
        plan.keep = keep
        reps[i] = tuple(arrays)
    return reps


def select(plans, reps):
    """Cut query representations to the columns :func:`compact` kept."""
    out = []
    for plan, layer in zip(plans, reps):
        keep = plan.keep or [None] * len(layer)
        out.append(tuple(
            arr if idx is None else _take_columns(arr, idx)
            for arr, idx in zip(layer, keep)
        ))
    return out


def _take_columns(arr, idx):
    if torch.is_tensor(arr):
        idx = torch.from_numpy(idx).to(arr.device)
        return torch.index_select(arr, arr.dim() - 1, idx)
    return np.take(arr, idx, axis=-1)


def _tensor(x):
    """``x`` as a CPU tensor, sharing memory with numpy arrays when possible."""
    if torch.is_tensor(x):
        return x
    x = np.asarray(x)
    if x.flags.writeable and x.flags.c_contiguous:
        return torch.from_numpy(x)
    return torch.tensor(x)


def gram(plans, reps_q, reps_r):
    """Inner products ``<g(x_i), g(r_j)>`` summed over layers, float64.

    Products are computed by torch in the store's dtype, one layer at a time,
    and summed in float64.

    Parameters
    ----------
    plans : list of LayerPlan
    reps_q, reps_r : representations of the queries and of the references
        (numpy arrays or CPU tensors), cut to the same columns.

    Returns
    -------
    K : ndarray of shape (n_queries, n_references)
    """
    nq = len(reps_q[0][0]) if reps_q else 0
    nr = len(reps_r[0][0]) if reps_r else 0
    K = torch.zeros((nq, nr), dtype=torch.float64)
    for plan, q, r in zip(plans, reps_q, reps_r):
        q, r = [_tensor(t) for t in q], [_tensor(t) for t in r]
        if plan.form == "dense":
            K += _cross(q[0], r[0])
        elif plan.n_positions == 1:
            K += _cross(q[1], r[1]).double() * _cross(q[0], r[0])
        else:
            _add_positional(K, q, r, plan.n_positions)
    return K.numpy()


def _cross(q, r):
    """``q @ r.T``, written as ``(r @ q.T).T``: much faster when there are few
    queries and many references."""
    return (r @ q.T).T


def _add_positional(K, q, r, n_pos):
    """Add ``sum_{p,q} (d_ip . d_jq)(a_ip . a_jq)`` in blocks of references."""
    K = _tensor(K)
    (aq, dq), (ar, dr) = [_tensor(t) for t in q], [_tensor(t) for t in r]
    nq, nr = len(aq), len(ar)
    aq2, dq2 = aq.reshape(nq * n_pos, -1), dq.reshape(nq * n_pos, -1)
    step = max(1, _BLOCK_ELEMENTS // max(1, nq * n_pos * n_pos))
    for start in range(0, nr, step):
        stop = min(nr, start + step)
        ar2 = ar[start:stop].reshape((stop - start) * n_pos, -1)
        dr2 = dr[start:stop].reshape((stop - start) * n_pos, -1)
        block = _cross(aq2, ar2).double() * _cross(dq2, dr2)
        K[:, start:stop] += block.reshape(nq, n_pos, stop - start, n_pos).sum((1, 3))
