"""Sanity checks of saliency maps (Adebayo et al., 2018)."""

import copy
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..base import _autograd_allowed
from ..utils._sklearn_compat import validate_params
from ._common import explained_maps


def _rank_rows(values):
    from scipy.stats import rankdata

    return rankdata(values, axis=1)


def spearman_rows(a, b):
    """Spearman rank correlation of each row of ``a`` with the same row of ``b``.

    Constant rows correlate 0 with anything.
    """
    ra = _rank_rows(np.asarray(a, dtype=np.float64))
    rb = _rank_rows(np.asarray(b, dtype=np.float64))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    num = (ra * rb).sum(axis=1)
    return np.divide(num, denom, out=np.zeros(len(ra)), where=denom > 0)


def _param_layers(module):
    """(name, submodule) of the modules that own parameters, in definition order."""
    return [
        (name, sub)
        for name, sub in module.named_modules()
        if any(True for _ in sub.parameters(recurse=False))
    ]


def _randomize(layer, seed):
    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
        else:
            for p in layer.parameters(recurse=False):
                p.normal_(0.0, float(p.detach().std()) if p.numel() > 1 else 0.1)


def _copy_model(model, is_skorch):
    """A copy of the model with its own weights.

    A skorch net is not deep-copied as a whole (skorch pickles its module to
    copy it, which fails for a module class defined inside a function): the copy
    shares the net's settings and gets a deep copy of ``module_``.
    """
    if not is_skorch:
        return copy.deepcopy(model)
    new = object.__new__(type(model))
    new.__dict__.update(model.__dict__)
    new.__dict__["module_"] = copy.deepcopy(model.module_)
    return new


def _with_model(explainer, old, new, targets):
    """A clone of ``explainer`` explaining ``new`` instead of ``old``."""
    est = clone(explainer)
    params = est.get_params(deep=True)
    update = {k: new for k, v in params.items() if v is old}
    update.update(
        {k: targets for k in params if k == "target" or k.endswith("__target")}
    )
    return est.set_params(**update)


@validate_params(
    {
        "explainer": "no_validation",
        "X": ["array-like"],
        "y": ["array-like", None],
        "X_fit": ["array-like", None],
        "y_fit": ["array-like", None],
        "absolute": ["boolean"],
        "random_state": [Integral],
    },
    prefer_skip_nested_validation=False,
)
def model_randomization_check(
    explainer, X, y=None, *, X_fit=None, y_fit=None, absolute=True, random_state=0
):
    """Model-parameter randomisation test, cascading from the top layer.

    The layers of a copy of the model are re-initialised one after another, from
    the output layer down to the input (Adebayo et al., 2018); after each, the
    explainer (a clone of it, on the copy) explains ``X`` again for the same
    classes, and the Spearman rank correlation between each new map and the
    original one is recorded. Maps that depend on what the model learned
    decorrelate fast; maps that do not (edge detectors) stay close. The user's
    model is never modified: the randomised model is a deep copy.

    Parameters
    ----------
    explainer : fitted explainer
        An explainer of a torch module or skorch net.
    X : array-like of shape (n_samples, *input_shape)
        Samples to explain.
    y : array-like of shape (n_samples,), default=None
        True labels, for ``target="true"``.
    X_fit, y_fit : array-like, default=None
        What the clones are fitted on; ``X`` and ``y`` by default.
    absolute : bool, default=True
        Correlate the absolute values of the maps (Adebayo et al. report both).
    random_state : int, default=0
        Seed of the re-initialisation (torch's global generator is left as it
        was).

    Returns
    -------
    frame : pandas.DataFrame
        One row per randomisation step and sample, with columns ``step`` (1 for
        the top layer alone, up to all layers), ``layer`` (the name of the layer
        randomised at that step), ``sample`` and ``spearman``.

    Notes
    -----
    A map passes the check when its correlations fall well below 1. The test
    suite uses a mean Spearman correlation below 0.5 at every step for the
    gradient maps of a small CNN trained on the digits (about 0.1 to 0.25 are
    measured); a map that ignores the model stays at exactly 1.

    References
    ----------
    .. [1] J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt and B. Kim,
       "Sanity Checks for Saliency Maps", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skxai import Occlusion
    >>> from skxai.metrics import model_randomization_check
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8),
    ...                           torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> X = np.random.RandomState(0).rand(4, 1, 4, 4).astype("float32")
    >>> occ = Occlusion(net, window=(2, 2)).fit(X)
    >>> frame = model_randomization_check(occ, X)
    >>> frame.groupby("step")["layer"].first().tolist()
    ['3', '1']
    """
    caller = "model_randomization_check"
    adapter = getattr(explainer, "adapter_", None)
    if adapter is None:
        raise ValueError(f"{caller} needs a fitted explainer; call fit(X) first.")
    if adapter.kind != "torch":
        raise TypeError(
            f"{caller} randomises the layers of torch models (torch modules and "
            f"skorch nets); the explainer explains a {type(adapter.model).__name__}."
        )
    _, X_valid, original, idx = explained_maps(explainer, X, y, caller)
    n = len(X_valid)
    targets = np.asarray(explainer.classes_)[idx]
    model = adapter.model
    # A caller's inference mode would make the copy's weights inference tensors.
    with _autograd_allowed():
        model_copy = _copy_model(model, adapter.is_skorch)
        module = model_copy.module_ if adapter.is_skorch else model_copy
        layers = _param_layers(module)[::-1]
        X_fit = X if X_fit is None else X_fit
        y_fit = y if X_fit is X and y_fit is None else y_fit
        rows = []
        for step, (name, layer) in enumerate(layers, 1):
            _randomize(layer, int(random_state) + step)
            est = _with_model(explainer, model, model_copy, targets)
            est.fit(X_fit, y_fit)
            maps = np.asarray(est.explain(X, y).maps)[:, 0].reshape(n, -1)
            if absolute:
                rho = spearman_rows(np.abs(original), np.abs(maps))
            else:
                rho = spearman_rows(original, maps)
            frame = {"step": step, "layer": name, "sample": np.arange(n)}
            rows.append(pd.DataFrame({**frame, "spearman": rho}))
    return pd.concat(rows, ignore_index=True)
