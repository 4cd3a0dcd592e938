"""skorch callbacks: watch saliency maps change while a net trains.

This module needs skorch (``pip install 'skxai[torch]'``); ``import skxai`` does
not import it.
"""

from pathlib import Path

import numpy as np
from sklearn.base import clone

from .utils._optional import import_optional

_skorch_callbacks = import_optional("skorch.callbacks", "SaliencyCallback")

__all__ = ["SaliencyCallback"]


def _model_params(explainer):
    """Names of the (possibly nested) ``model`` parameters of an explainer."""
    return [
        name
        for name in explainer.get_params(deep=True)
        if name == "model" or name.endswith("__model")
    ]


class SaliencyCallback(_skorch_callbacks.Callback):
    """Record saliency maps of a fixed batch at the end of training epochs.

    At the end of every ``every``-th epoch, a clone of ``explainer`` is pointed at
    the net being trained (its ``model`` parameter, nested ones included, is set
    to the net), fitted on ``X`` and asked to explain ``X``. The maps are
    recorded in the net's history under ``key`` (one entry per recorded epoch,
    as FastEstimator's Saliency trace does), and the figure of the maps can be
    saved each time.

    Parameters
    ----------
    explainer : explainer
        An unfitted skxai explainer, e.g. ``Saliency(None)`` or
        ``SmoothGrad(IntegratedGradients(None))``; its model is replaced by the
        net.
    X : array-like of shape (n_samples, *input_shape)
        The fixed batch to explain, as the net takes it.
    every : int, default=1
        Record the maps every ``every`` epochs.
    save_dir : str or path-like, default=None
        When given, save the maps as ``saliency_epoch_<epoch>.png`` in this
        directory each time (needs matplotlib).
    key : str, default="saliency"
        Name of the history column.
    y : array-like of shape (n_samples,), default=None
        Labels of ``X``, for ``target="true"`` and the figure's row labels.
    class_names : dict or sequence of str, default=None
        Display names of the classes in the saved figures (a mapping
        ``{label: name}`` or a sequence indexed by the label), e.g. the label
        names of FastEstimator's saliency grid.

    Attributes
    ----------
    saved_ : list of pathlib.Path
        The figures saved so far.

    See Also
    --------
    skxai.plotting.SaliencyDisplay : The figure saved each epoch.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skorch import NeuralNetClassifier
    >>> from skxai.callbacks import SaliencyCallback
    >>> from skxai.saliency import Saliency
    >>> X = np.random.default_rng(0).random((40, 4)).astype("float32")
    >>> y = (X[:, 0] > 0.5).astype("int64")
    >>> net = NeuralNetClassifier(
    ...     torch.nn.Linear(4, 2), criterion=torch.nn.CrossEntropyLoss,
    ...     max_epochs=3, train_split=None, verbose=0,
    ...     callbacks=[SaliencyCallback(Saliency(None), X[:2])],
    ... ).fit(X, y)
    >>> len(net.history[:, "saliency"]), net.history[-1, "saliency"].shape
    (3, (2, 1, 4))
    """

    def __init__(
        self,
        explainer,
        X,
        *,
        every=1,
        save_dir=None,
        key="saliency",
        y=None,
        class_names=None,
    ):
        self.explainer = explainer
        self.X = X
        self.every = every
        self.save_dir = save_dir
        self.key = key
        self.y = y
        self.class_names = class_names

    def initialize(self):
        if int(self.every) < 1:
            raise ValueError(
                f"The 'every' parameter of SaliencyCallback must be an int >= 1. "
                f"Got {self.every!r} instead."
            )
        if not _model_params(self.explainer):
            raise ValueError(
                "The 'explainer' of SaliencyCallback must have a 'model' parameter "
                f"to point at the net; {type(self.explainer).__name__} has none."
            )
        self.saved_ = []
        return self

    def explain(self, net):
        """Explain ``X`` with a clone of the explainer pointed at ``net``.

        Parameters
        ----------
        net : skorch.NeuralNet
            The (initialized) net.

        Returns
        -------
        explanation : Explanation
            The explanation of ``X``.
        """
        explainer = clone(self.explainer)
        explainer.set_params(**dict.fromkeys(_model_params(explainer), net))
        X = np.asarray(self.X)
        return explainer.fit(X).explain(X, self.y)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % int(self.every):
            return
        explanation = self.explain(net)
        net.history.record(self.key, np.asarray(explanation.maps))
        if self.save_dir is not None:
            self._save(explanation, epoch)

    def _save(self, explanation, epoch):
        from .plotting import SaliencyDisplay

        plt = import_optional("matplotlib.pyplot", "SaliencyCallback")
        directory = Path(self.save_dir)
        directory.mkdir(parents=True, exist_ok=True)
        display = SaliencyDisplay.from_explanation(
            explanation,
            samples=np.arange(len(explanation.maps)),
            class_names=self.class_names,
            title=f"epoch {epoch}",
        )
        path = directory / f"saliency_epoch_{epoch:03d}.png"
        display.figure_.savefig(path, dpi=80)
        plt.close(display.figure_)
        self.saved_.append(path)

