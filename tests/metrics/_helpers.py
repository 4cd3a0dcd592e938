"""Tiny explainers for the metric tests."""

import numpy as np

from skxai.base import BaseExplainer, ExplainerMixin


class CoefTimesX(ExplainerMixin, BaseExplainer):
    """The exact attribution ``coef[target] * x`` of a linear model's decision."""

    def __init__(self, model, *, coef=None, image_shape=None, target="predicted",
                 batch_size=64, n_jobs=None, verbose=0):
        self.model = model
        self.coef = coef
        self.image_shape = image_shape
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y):
        coef = self.model.coef_ if self.coef is None else self.coef
        self.coef_ = np.asarray(coef, dtype=np.float64)

    def _explain_chunk(self, X, targets, seeds):
        maps = self.coef_[targets] * X[:, None, :]
        return {"maps": maps}


class AbsGradient(ExplainerMixin, BaseExplainer):
    """Absolute input gradient of the class score of a torch model."""

    _gradient_based = True
    _parallel_prefer = "threads"

    def __init__(self, model, *, target="predicted", batch_size=64, n_jobs=None,
                 verbose=0):
        self.model = model
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _explain_chunk(self, X, targets, seeds):
        import torch

        forward, module, device = self.adapter_.torch_forward(self.response_method_)
        x = torch.as_tensor(X, dtype=torch.float32, device=device).requires_grad_()
        out = forward(x)
        picked = out.gather(1, torch.as_tensor(targets[:, :1], device=device)).sum()
        (grad,) = torch.autograd.grad(picked, x)
        return {"maps": grad.abs().cpu().numpy()[:, None].astype(np.float64)}


def counting_model(clf):
    """A callable returning ``clf.predict_proba`` that counts the rows it sees."""

    def model(X):
        model.rows += len(X)
        model.calls += 1
        return clf.predict_proba(np.asarray(X).reshape(len(X), -1))

    model.rows = 0
    model.calls = 0
    return model
