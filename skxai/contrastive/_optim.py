"""Optimisers of CEM: projected FISTA and the corrected AdaExpGrad, on torch tensors.

Every function works on a batch: one row per explained sample, with per-row step
sizes, so that all samples of a chunk move in one tensor operation. The feasible
set of each row is a box ``[lower, upper]`` that contains 0 (the coordinates are
offsets from the sample's anchor).
"""

import numpy as np
import torch


def soft_threshold(v, threshold):
    """Element-wise shrinkage ``sign(v) * max(|v| - threshold, 0)``.

    The proximal operator of ``threshold * |v|_1``.

    Parameters
    ----------
    v : torch.Tensor
        Values to shrink.
    threshold : float or torch.Tensor
        Non-negative threshold, broadcast against ``v``.

    Returns
    -------
    shrunk : torch.Tensor
        The shrunk values; exact zeros where ``|v| <= threshold``.

    Examples
    --------
    >>> import torch
    >>> from skxai.contrastive._optim import soft_threshold
    >>> soft_threshold(torch.tensor([-0.5, 0.05, 0.3]), 0.1)
    tensor([-0.4000,  0.0000,  0.2000])
    """
    return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0.0)


def fista_step(z, y, grad, *, learning_rate, beta, momentum, lower, upper):
    """One projected FISTA step with the l1 shrinkage of Dhurandhar et al. (2018).

    ``z_new = clip(S_beta(y - learning_rate * grad), lower, upper)`` and
    ``y_new = clip(z_new + momentum * (z_new - z), lower, upper)``, where
    ``S_beta`` is :func:`soft_threshold`. As in the paper (eq. 5) and alibi's
    implementation, the shrinkage threshold is ``beta`` itself, not
    ``learning_rate * beta``.

    Parameters
    ----------
    z : torch.Tensor of shape (n, n_features)
        The current iterate ``delta(k)``.
    y : torch.Tensor of shape (n, n_features)
        The current extrapolated point ``y(k)``, where ``grad`` was taken.
    grad : torch.Tensor of shape (n, n_features)
        Gradient of the smooth part of the loss at ``y``.
    learning_rate : float or torch.Tensor of shape (n, 1)
        Step size of each row.
    beta : float
        Weight of the l1 term (the shrinkage threshold).
    momentum : float or torch.Tensor of shape (n, 1)
        Extrapolation weight of each row, ``k / (k + 3)`` at iteration ``k``.
    lower, upper : torch.Tensor of shape (n, n_features)
        Bounds of the feasible box.

    Returns
    -------
    z_new, y_new : torch.Tensor of shape (n, n_features)
        The next iterate and the next extrapolated point, both inside the box.

    Examples
    --------
    >>> import torch
    >>> from skxai.contrastive._optim import fista_step
    >>> z = y = torch.zeros(1, 2)
    >>> lo, hi = torch.zeros(1, 2), torch.ones(1, 2)
    >>> z, y = fista_step(z, y, torch.tensor([[-20.0, -5.0]]), learning_rate=0.01,
    ...                   beta=0.1, momentum=0.0, lower=lo, upper=hi)
    >>> z
    tensor([[0.1000, 0.0000]])
    """
    v = y - learning_rate * grad
    z_new = torch.clamp(soft_threshold(v, beta), lower, upper)
    y_new = torch.clamp(z_new + momentum * (z_new - z), lower, upper)
    return z_new, y_new


def lambertw_exp(s, n_iter=None):
    """The principal branch of Lambert's W at ``exp(s)``, real, for any real ``s``.

    Solves ``w + log(w) = s`` for ``w > 0`` by Newton's method from an
    asymptotic start, without forming ``exp(s)`` (which overflows for large
    ``s``, where ``scipy.special.lambertw(np.exp(s))`` fails).

    Parameters
    ----------
    s : torch.Tensor
        Log of the argument of W.
    n_iter : int, default=None
        Newton iterations; by default enough for the tensor's precision.

    Returns
    -------
    w : torch.Tensor
        ``W(exp(s))``, positive and real.

    Examples
    --------
    >>> import torch
    >>> from skxai.contrastive._optim import lambertw_exp
    >>> lambertw_exp(torch.tensor([1.0, 1000.0], dtype=torch.float64))
    tensor([  1.0000, 993.0992], dtype=torch.float64)
    """
    if n_iter is None:
        n_iter = 6 if s.dtype == torch.float64 else 4
    big = s > 1.0
    s_big = torch.where(big, s, torch.ones_like(s))
    w = torch.where(big, s_big - torch.log(s_big), torch.exp(torch.clamp(s, max=1.0)))
    w = torch.clamp(w, min=torch.finfo(s.dtype).tiny)
    for _ in range(n_iter):
        # Newton on g(w) = w + log(w) - s, g'(w) = 1 + 1/w.
        w = w - (w + torch.log(w) - s) * w / (w + 1.0)
        w = torch.clamp(w, min=torch.finfo(s.dtype).tiny)
    return w


def adaexpgrad_step(x, grad, lam, *, learning_rate, l1, l2, lower, upper):
    """One step of the adaptive exponentiated gradient, with an elastic-net penalty.

    The mirror map is ``psi'(x) = sign(x) * log(1 + |x| / b)`` with
    ``b = 1 / n_features`` (MAXi's AdaExpGrad). With ``lam += max|grad|^2`` and
    ``alpha = sqrt(lam) / learning_rate``, the dual point is
    ``z = psi'(x) - grad / alpha`` and the new magnitude ``m >= 0`` solves
    ``log(1 + m / b) + (l2 / alpha) m = |z| - l1 / alpha``:

    - ``l2 = 0``: ``m = b * (exp(max(|z| - l1 / alpha, 0)) - 1)``;
    - ``l2 > 0``: ``m = W(a c exp(a c + max(|z| - l1 / alpha, 0))) / c - b`` with
      ``a = b``, ``c = l2 / alpha`` and ``W`` Lambert's W (kept real).

    The ``max(., 0)`` is the soft threshold that MAXi's published update lacks:
    without it, a coordinate with ``|z| < l1 / alpha`` gets a negative magnitude
    and flips sign instead of reaching exactly zero. The result is clipped to the
    box, coordinate by coordinate.

    Parameters
    ----------
    x : torch.Tensor of shape (n, n_features)
        The current iterate.
    grad : torch.Tensor of shape (n, n_features)
        Gradient of the smooth part of the loss at ``x`` (without the l1 and l2
        terms, which the step handles exactly).
    lam : torch.Tensor of shape (n, 1)
        The accumulated squared gradient norms (1 at the start).
    learning_rate : float
        Step size, ``1 / eta`` in MAXi's terms.
    l1, l2 : float
        Weights of ``|x|_1`` and ``(1/2) |x|_2^2`` in the objective.
    lower, upper : torch.Tensor of shape (n, n_features)
        Bounds of the feasible box.

    Returns
    -------
    x_new : torch.Tensor of shape (n, n_features)
        The next iterate.
    lam_new : torch.Tensor of shape (n, 1)
        The updated accumulator.

    Examples
    --------
    >>> import torch
    >>> from skxai.contrastive._optim import adaexpgrad_step
    >>> x = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    >>> g = torch.tensor([[-1.0, 0.1]], dtype=torch.float64)
    >>> lam = torch.ones(1, 1, dtype=torch.float64)
    >>> box = torch.full((1, 2), 5.0, dtype=torch.float64)
    >>> x, lam = adaexpgrad_step(x, g, lam, learning_rate=1.0, l1=0.5, l2=0.0,
    ...                          lower=-box, upper=box)
    >>> x   # the small coordinate is shrunk to an exact zero
    tensor([[0.2121, 0.0000]], dtype=torch.float64)
    """
    n_features = x.shape[1]
    b = 1.0 / n_features
    lam = lam + grad.abs().amax(dim=1, keepdim=True) ** 2
    alpha = torch.sqrt(lam) / learning_rate
    z = torch.sign(x) * torch.log1p(x.abs() / b) - grad / alpha
    excess = torch.clamp(z.abs() - l1 / alpha, min=0.0)  # the soft threshold
    if l2 == 0:
        magnitude = b * torch.expm1(excess)
    else:
        c = l2 / alpha
        # W(ab exp(ab + excess)) with a = b: pass the log of the argument.
        s = torch.log(b * c) + b * c + excess
        magnitude = lambertw_exp(s) / c - b
    magnitude = torch.clamp(magnitude, min=0.0)
    # ``+ 0.0`` turns the -0.0 of negative zeros into 0.0.
    x_new = torch.clamp(torch.sign(z) * magnitude + 0.0, lower, upper)
    return x_new, lam


class Fista:
    """Projected FISTA on a batch of rows, as in alibi's CEM.

    The smooth part of the loss is ``c * attack + gamma * ae + (l2 / 2)
    |delta|_2^2``; the l1 term is handled by the shrinkage of
    :func:`fista_step`. Each row has its own iteration count ``k``, its step size
    decays as ``learning_rate * sqrt(1 - k / max_iter)`` (alibi's polynomial
    decay) and its momentum is ``k / (k + 3)``. A stalled row (no progress for
    ``patience`` steps) anneals its step size to 0 over ``anneal`` steps, where
    the fixed l1 threshold shrinks the iterate, as in the last steps of a full
    run, and then ends its ``c`` step.

    Parameters
    ----------
    z : torch.Tensor of shape (n, n_features)
        The starting iterate (zeros).
    learning_rate, l1, l2 : float
        Initial step size and penalty weights.
    max_iter : int
        Steps of a ``c`` step (the horizon of the decay).
    anneal : int
        Steps of the annealing of a stalled row.
    """

    def __init__(self, z, *, learning_rate, l1, l2, max_iter, anneal):
        n = len(z)
        self.learning_rate, self.l1, self.l2 = (
            float(learning_rate),
            float(l1),
            float(l2),
        )
        self.max_iter, self.anneal = int(max_iter), int(anneal)
        self.z, self.y = z.clone(), z.clone()
        self.k = np.zeros(n, dtype=np.int64)
        self.k_anneal = np.full(n, -1, dtype=np.int64)  # -1: not annealing
        self.lr_anneal = np.zeros(n)

    @property
    def point(self):
        """Where the loss and its gradient are evaluated (the extrapolated ``y``)."""
        return self.y

    @property
    def iterate(self):
        """The iterate ``delta(k)`` (what savepoints hold)."""
        return self.z

    def _decayed(self, k):
        return self.learning_rate * np.sqrt(np.maximum(1.0 - k / self.max_iter, 0.0))

    def step(self, grad, lower, upper, project):
        """One step of every row; ``grad`` excludes the l2 term."""
        kf = self.k.astype(np.float64)
        lr = self._decayed(kf)
        annealing = self.k_anneal >= 0
        left = 1.0 - (self.k - self.k_anneal) / self.anneal
        lr = np.where(annealing, self.lr_anneal * np.sqrt(np.maximum(left, 0.0)), lr)
        z_new, y_new = fista_step(
            self.z,
            self.y,
            grad + self.l2 * self.y,
            learning_rate=self._column(lr),
            beta=self.l1,
            momentum=self._column(kf / (kf + 3.0)),
            lower=lower,
            upper=upper,
        )
        self.z, self.y = project(z_new), project(y_new)
        self.k += 1

    def _column(self, values):
        return torch.as_tensor(
            values[:, None], dtype=self.z.dtype, device=self.z.device
        )

    def end_on_stall(self, stalled):
        """Rows whose ``c`` step ends: annealing starts on stall, ends after it."""
        start = (self.k_anneal < 0) & stalled
        self.lr_anneal[start] = self._decayed(self.k[start].astype(float))
        self.k_anneal[start] = self.k[start]
        return (self.k_anneal >= 0) & (self.k - self.k_anneal >= self.anneal)

    def stuck(self):
        """Rows still at exactly 0 after their first step: the step size only
        decays, so they would never move in this ``c`` step."""
        return (self.k == 1) & (self.z.abs().amax(dim=1) == 0).cpu().numpy()

    def reset(self, mask):
        """Restart the rows of ``mask`` from zero."""
        m = torch.as_tensor(mask, device=self.z.device)[:, None]
        self.z = torch.where(m, torch.zeros_like(self.z), self.z)
        self.y = torch.where(m, torch.zeros_like(self.y), self.y)
        self.k[mask] = 0
        self.k_anneal[mask] = -1

    def take_rows(self, mask):
        out = Fista.__new__(Fista)
        out.__dict__.update(self.__dict__)
        t = torch.as_tensor(mask, device=self.z.device)
        out.z, out.y = self.z[t], self.y[t]
        out.k, out.k_anneal, out.lr_anneal = (
            self.k[mask],
            self.k_anneal[mask],
            self.lr_anneal[mask],
        )
        return out


class AdaExpGrad:
    """MAXi's adaptive exponentiated gradient on a batch of rows.

    The loss and its gradient are evaluated at the iterate ``x``; each step is
    :func:`adaexpgrad_step` (the l1 and ``(l2 / 2) |x|_2^2`` terms are handled by
    the step exactly) and MAXi's output, the running mean of the iterates of the
    ``c`` step (``y_t = x_t / t + (1 - 1 / t) y_{t-1}``), is kept as
    ``iterate``. A stalled row ends its ``c`` step at once. :meth:`reset`
    starts a new ``c`` step: the accumulator and the mean restart, the iterate
    is kept when ``warm_start`` (else it restarts from ``x``).

    Parameters
    ----------
    x : torch.Tensor of shape (n, n_features)
        The starting iterate: zeros for a PN, the sample itself (its offset
        from ``no_info``) for a PP, as MAXi starts them.
    learning_rate, l1, l2 : float
        ``1 / eta`` in MAXi's terms, and the penalty weights.
    warm_start : bool, default=True
        Whether a new ``c`` step continues from the current iterate.
    """

    def __init__(self, x, *, learning_rate, l1, l2, warm_start=True):
        self.warm_start = warm_start
        self.learning_rate, self.l1, self.l2 = (
            float(learning_rate),
            float(l1),
            float(l2),
        )
        self.start, self.x, self.mean = x.clone(), x.clone(), x.clone()
        self.lam = torch.ones((len(x), 1), dtype=x.dtype, device=x.device)
        self.k = np.zeros(len(x), dtype=np.int64)

    @property
    def point(self):
        """Where the loss and its gradient are evaluated (the iterate ``x``)."""
        return self.x

    @property
    def iterate(self):
        """MAXi's output: the mean of the iterates of the current ``c`` step."""
        return self.mean

    def step(self, grad, lower, upper, project):
        """One step of every row; ``grad`` excludes the l1 and l2 terms."""
        x, self.lam = adaexpgrad_step(
            self.x,
            grad,
            self.lam,
            learning_rate=self.learning_rate,
            l1=self.l1,
            l2=self.l2,
            lower=lower,
            upper=upper,
        )
        self.x = project(x)
        self.k += 1
        weight = torch.as_tensor(1.0 / self.k[:, None], dtype=x.dtype, device=x.device)
        self.mean = self.mean + weight * (self.x - self.mean)

    def end_on_stall(self, stalled):
        return stalled

    def stuck(self):
        return np.zeros(len(self.k), dtype=bool)

    def reset(self, mask):
        m = torch.as_tensor(mask, device=self.x.device)[:, None]
        if not self.warm_start:
            self.x = torch.where(m, self.start, self.x)
        self.mean = torch.where(m, self.x, self.mean)
        self.lam = torch.where(m, torch.ones_like(self.lam), self.lam)
        self.k[mask] = 0

    def take_rows(self, mask):
        out = AdaExpGrad.__new__(AdaExpGrad)
        out.__dict__.update(self.__dict__)
        t = torch.as_tensor(mask, device=self.x.device)
        out.start, out.x = self.start[t], self.x[t]
        out.mean, out.lam = self.mean[t], self.lam[t]
        out.k = self.k[mask]
        return out
