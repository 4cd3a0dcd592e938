"""Shared fixtures: small data and models built once per session, fixed seeds."""

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

MNIST_DIR = Path(
    os.environ.get(
        "SKXAI_MNIST_DIR", Path(__file__).resolve().parents[2] / "shared/data/mnist"
    )
)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread: on 2 cores, joblib workers and BLAS threads otherwise fight."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run torch on one thread for a module: its models are tiny, and on a busy
    machine intra-op threads only wait on each other. Modules that use torch
    ask for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    torch = pytest.importorskip("torch")
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(autouse=True)
def _seed():
    """Fix numpy's and torch's global seeds for every test."""
    np.random.seed(0)
    try:
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(0)
    except Exception:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def digits():
    """The 8x8 digits as (X, y): X float64 in [0, 1], shape (1797, 64)."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def logreg(digits):
    """A LogisticRegression fitted on the digits (10 classes)."""
    X, y = digits
    return LogisticRegression(max_iter=300).fit(X, y)


@pytest.fixture(scope="session")
def binary_logreg(digits):
    """A binary LogisticRegression (digit 0 against 1)."""
    X, y = digits
    mask = y < 2
    return LogisticRegression(max_iter=300).fit(X[mask], y[mask])


@pytest.fixture(scope="session")
def mlp(digits):
    """A small MLPClassifier fitted on the digits."""
    X, y = digits
    return MLPClassifier(
        hidden_layer_sizes=(16,), max_iter=60, random_state=0
    ).fit(X, y)


@pytest.fixture(scope="session")
def mnist_dir():
    """Directory of the real MNIST test set; skip when it is absent."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found in {MNIST_DIR}")
    return MNIST_DIR


@pytest.fixture
def pyplot():
    """matplotlib.pyplot with the Agg backend; figures closed before and after."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    yield plt
    plt.close("all")
