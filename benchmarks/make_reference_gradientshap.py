"""Captum's GradientShap on a small CNN, with its draws, stored for the tests.

``tests/shapley/test_gradient.py`` checks that skxai's GradientSHAP gives
captum's values for the same draws (background rows and points on the path).
captum is not installed beside skxai's tests, so the values are computed once
here, in the benchmark environment, and written to
``benchmarks/data/reference_gradientshap.npz`` with the network's weights, the
inputs, the background and the draws.

Captum draws the background rows with ``np.random.choice(n_background, n *
n_samples)`` and then the path points with ``np.random.uniform(0, 1, n *
n_samples)`` (input-major order); the script replays the same numpy stream to
record them, and checks the record by recomputing captum's values from it.

Run it in the benchmark environment::

    /opt/skxai-bench/bin/python benchmarks/make_reference_gradientshap.py
"""

from pathlib import Path

import numpy as np
import torch
from captum.attr import GradientShap
from torch import nn

OUT = Path(__file__).resolve().parent / "data" / "reference_gradientshap.npz"
N_SAMPLES = 7
SEED = 0


def small_cnn():
    """Conv(4, 3x3) -> ReLU -> MaxPool(2) -> Flatten -> Linear(3), on (1, 8, 8)."""
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 3),
    )


def main():
    torch.manual_seed(SEED)
    model = small_cnn().double().eval()
    rng = np.random.default_rng(SEED)
    X = rng.uniform(size=(4, 1, 8, 8))
    background = rng.uniform(size=(10, 1, 8, 8))
    targets = np.array([0, 2, 1, 2])
    np.random.seed(SEED)
    attr = GradientShap(model).attribute(
        torch.as_tensor(X),
        baselines=torch.as_tensor(background),
        target=torch.as_tensor(targets),
        n_samples=N_SAMPLES,
        stdevs=0.0,
    )
    np.random.seed(SEED)
    n = len(X)
    index = np.asarray(np.random.choice(len(background), n * N_SAMPLES))
    alphas = np.random.uniform(0.0, 1.0, n * N_SAMPLES)
    # check the record: captum's values recomputed from the recorded draws
    x = torch.as_tensor(np.repeat(X, N_SAMPLES, axis=0))
    b = torch.as_tensor(background[index])
    point = (b + torch.as_tensor(alphas).view(-1, 1, 1, 1) * (x - b)).requires_grad_()
    out = model(point).gather(
        1, torch.as_tensor(np.repeat(targets, N_SAMPLES))[:, None]
    )
    (grad,) = torch.autograd.grad(out.sum(), point)
    again = ((x - b) * grad).view(n, N_SAMPLES, 1, 8, 8).mean(1)
    gap = float((again - attr).abs().max())
    assert gap < 1e-12, f"the recorded draws do not give captum's values: {gap}"
    OUT.parent.mkdir(exist_ok=True)
    weights = {f"w_{k}": v.numpy() for k, v in model.state_dict().items()}
    np.savez_compressed(
        OUT,
        X=X,
        background=background,
        targets=targets,
        index=index.reshape(n, N_SAMPLES),
        alphas=alphas.reshape(n, N_SAMPLES),
        captum=attr.detach().numpy(),
        **weights,
    )
    print(f"wrote {OUT} (record check gap {gap:.1e})")


if __name__ == "__main__":
    main()
