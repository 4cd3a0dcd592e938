"""The per-sample bookkeeping of CEM's search: row state, early stopping, c search.

CEM optimises all samples of a chunk together, each with its own constant ``c``,
iteration count and stopping state. :class:`RowState` holds every per-sample
array and tensor, and drops the finished samples from all of them in one call;
:class:`EarlyStopping` (skorch's callback, one counter per row) ends a ``c`` step
without progress; :class:`CSearch` is alibi's search of ``c``.
"""

import numpy as np


def _take(value, mask):
    """Rows ``mask`` (a bool mask or indices) of an array, tensor, list or state."""
    if hasattr(value, "take_rows"):
        return value.take_rows(mask)
    if isinstance(value, np.ndarray):
        return value[mask]
    if isinstance(value, list):
        mask = np.asarray(mask)
        if mask.dtype == bool:
            mask = np.flatnonzero(mask)
        return [value[i] for i in mask]
    import torch

    if isinstance(value, torch.Tensor):
        return value[torch.as_tensor(mask, device=value.device)]
    raise TypeError(f"Cannot take rows of a {type(value).__name__}.")


class RowState:
    """Named per-sample values of the live rows, dropped together.

    Each field is an ndarray, a torch tensor or a list with one entry per live
    row, or an object with a ``take_rows(mask)`` method (the optimiser, the early
    stopping, the c search), which returns the same object restricted to the
    rows of ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> from skxai.contrastive._search import RowState
    >>> state = RowState(rows=np.arange(3), c=np.array([1.0, 10.0, 100.0]))
    >>> done = state.pop(np.array([False, True, False]))
    >>> state.rows.tolist(), done.c.tolist()
    ([0, 2], [10.0])
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __len__(self):
        return len(self.rows)

    def take_rows(self, mask):
        return RowState(**{name: _take(v, mask) for name, v in vars(self).items()})

    def pop(self, mask):
        """Remove the rows of ``mask`` from every field and return them."""
        mask = np.asarray(mask, dtype=bool)
        popped = self.take_rows(mask)
        self.__dict__.update(vars(self.take_rows(~mask)))
        return popped


class EarlyStopping:
    """Per-row patience within a ``c`` step, as skorch's ``EarlyStopping``.

    A step makes progress when it gives the row's first valid point of the
    ``c`` step, a valid point whose size is below the best of the step by more
    than ``tol`` (relative), or, before any valid point, a loss lower than the
    lowest so far by more than ``tol``. ``stalled`` is True for rows without
    progress for ``patience`` steps (never when ``patience`` is None).

    Parameters
    ----------
    n : int
        Number of rows.
    patience : int or None
        Steps without progress before a row is stalled.
    tol : float
        Relative improvement that counts as progress.
    """

    def __init__(self, n, patience, tol):
        self.patience, self.tol = patience, float(tol)
        self.found = np.zeros(n, dtype=bool)
        self.best_size = np.full(n, np.inf)
        self.best_loss = np.full(n, np.inf)
        self.since = np.zeros(n, dtype=np.int64)

    def update(self, valid, size, loss):
        """Record one step of every row: validity, size and loss of its point."""
        first = valid & ~self.found
        smaller = valid & self.found & (size < _shrink(self.best_size, self.tol))
        lower = ~self.found & ~valid & (loss < _shrink(self.best_loss, self.tol))
        self.found |= valid
        self.best_size = np.where(
            valid, np.minimum(self.best_size, size), self.best_size
        )
        self.best_loss = np.minimum(self.best_loss, loss)
        self.since = np.where(first | smaller | lower, 0, self.since + 1)

    @property
    def stalled(self):
        if self.patience is None:
            return np.zeros(len(self.since), dtype=bool)
        return self.since >= self.patience

    def reset(self, mask):
        """Start a new ``c`` step for the rows of ``mask``."""
        self.found[mask] = False
        self.best_size[mask] = np.inf
        self.best_loss[mask] = np.inf
        self.since[mask] = 0

    def take_rows(self, mask):
        out = EarlyStopping(0, self.patience, self.tol)
        for name in ("found", "best_size", "best_loss", "since"):
            setattr(out, name, getattr(self, name)[mask])
        return out


class CSearch:
    """alibi's search of the weight ``c`` of the classification term, per row.

    A ``c`` step that found a valid point lowers the row's upper bound to its
    ``c``, one that did not raises the lower bound; the next ``c`` is the middle
    of the bounds once an upper bound is known and ``10 c`` before. A row is
    done after ``c_steps`` steps, or, when ``c_patience`` is set, after that many
    steps in a row that did not improve its best valid point.

    Parameters
    ----------
    n : int
        Number of rows.
    c_init : float
        The first ``c`` of every row.
    c_steps : int
        Most ``c`` steps per row.
    c_patience : int or None
        Steps without improvement after which a row with a valid point stops.
    """

    # alibi's "no upper bound yet" value of c.
    UNBOUNDED = 1e10

    def __init__(self, n, c_init, c_steps, c_patience):
        self.c_steps, self.c_patience = int(c_steps), c_patience
        self.c = np.full(n, float(c_init))
        self.lower = np.zeros(n)
        self.upper = np.full(n, self.UNBOUNDED)
        self.step = np.zeros(n, dtype=np.int64)
        self.stale = np.zeros(n, dtype=np.int64)

    def end_steps(self, end, found_in_step, improved, found):
        """Move the ``c`` of the rows whose step ends; return the rows done.

        Parameters
        ----------
        end : ndarray of bool
            Rows whose ``c`` step ends now.
        found_in_step : ndarray of bool
            Rows that found a valid point in this ``c`` step.
        improved : ndarray of bool
            Rows whose best valid point improved in this ``c`` step.
        found : ndarray of bool
            Rows with a valid point from any step.
        """
        self.upper = np.where(
            end & found_in_step, np.minimum(self.upper, self.c), self.upper
        )
        self.lower = np.where(
            end & ~found_in_step, np.maximum(self.lower, self.c), self.lower
        )
        bounded = self.upper < self.UNBOUNDED / 10
        c_next = np.where(bounded, (self.lower + self.upper) / 2, self.c * 10)
        self.c = np.where(end, c_next, self.c)
        self.step = self.step + end
        self.stale = np.where(end, np.where(improved, 0, self.stale + 1), self.stale)
        done = end & (self.step >= self.c_steps)
        if self.c_patience is not None:
            done |= end & found & (self.stale >= self.c_patience)
        return done

    def take_rows(self, mask):
        out = CSearch(0, 1.0, self.c_steps, self.c_patience)
        for name in ("c", "lower", "upper", "step", "stale"):
            setattr(out, name, getattr(self, name)[mask])
        return out


def _shrink(value, tol):
    """``value - tol * |value|``, keeping infinities (no ``inf - inf``)."""
    finite = np.isfinite(value)
    return np.where(finite, value - tol * np.abs(np.where(finite, value, 0.0)), value)
