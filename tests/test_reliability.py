"""Checks across the package: public warnings, no dead helpers, clear errors."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import skxai
import skxai.exceptions


def _modules():
    """Every skxai module that imports here (optional extras may be missing)."""
    out = []
    for info in pkgutil.walk_packages(skxai.__path__, "skxai."):
        try:
            out.append(importlib.import_module(info.name))
        except ImportError:
            continue
    return out


def test_warnings_live_in_exceptions():
    """Check that every warning class skxai defines is in skxai.exceptions."""
    public = set(skxai.exceptions.__all__)
    for module in _modules():
        for name, obj in vars(module).items():
            if not (inspect.isclass(obj) and issubclass(obj, Warning)):
                continue
            if obj.__module__.startswith("skxai"):
                assert obj.__module__ == "skxai.exceptions", (
                    f"{obj.__module__}.{name} is a warning users filter: define it "
                    "in skxai/exceptions.py"
                )
                assert name in public
    for name in public:
        assert getattr(skxai.exceptions, name).__name__ == name


def test_zero_map_warning_is_the_public_class():
    """Check that GradCAM warns with skxai.exceptions.ZeroMapWarning."""
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(2 * 4 * 4, 3),
    ).double()
    with torch.no_grad():
        net[0].weight.fill_(-1.0)  # every activation is 0 after the ReLU
        net[0].bias.fill_(0.0)
    X = torch.rand(4, 1, 6, 6, dtype=torch.float64).numpy()
    with pytest.warns(skxai.exceptions.ZeroMapWarning, match="zero everywhere"):
        skxai.GradCAM(net).fit(X).transform(X)


def test_gradient_similarity_shows_the_loss_error():
    """Check that an error of the user's loss is raised as it is.

    Before, any exception under torch.func became a NotImplementedError that
    advised choosing other layers.
    """
    torch = pytest.importorskip("torch")

    class Scaled(torch.nn.Module):  # a parameter that no Linear/Conv holds
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor([1.0, -1.0]))

        def forward(self, x):
            return x.sum(1, keepdim=True) * self.scale

    def broken_loss(scores, target):
        raise KeyError("the loss failed on its own")

    X = np.random.RandomState(0).normal(size=(6, 3))
    gs = skxai.GradientSimilarity(Scaled().double(), loss=broken_loss)
    with pytest.raises(KeyError, match="the loss failed on its own"):
        gs.fit(X, np.arange(6) % 2)


def test_gradient_similarity_torch_func_limit_is_chained():
    """Check that what torch.func alone cannot do names it and chains the cause."""
    torch = pytest.importorskip("torch")

    class ItemCall(torch.nn.Module):  # .item() is fine plainly, not under vmap
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor([1.0, -1.0]))

        def forward(self, x):
            shift = float(x.abs().max().item() > 1e9)
            return (x.sum(1, keepdim=True) + shift) * self.scale

    X = np.random.RandomState(0).normal(size=(6, 3))
    gs = skxai.GradientSimilarity(ItemCall().double())
    with pytest.raises(NotImplementedError, match="torch.func") as info:
        gs.fit(X, np.arange(6) % 2)
    assert isinstance(info.value.__cause__, RuntimeError)



@pytest.fixture(scope="module")
def binary_data():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 4))
    y = (X[:, 0] > 0.5).astype(int)
    return LogisticRegression().fit(X, y), X, y


@pytest.mark.parametrize("target", [True, np.bool_(False), [True] * 30])
def test_target_bool_is_not_a_class(binary_data, target):
    """Check that target=True is rejected for integer classes (not class 1)."""
    clf, X, _ = binary_data
    with pytest.raises(ValueError, match="'target' parameter of Occlusion"):
        skxai.Occlusion(clf, target=target).fit(X)


def test_target_bool_when_classes_are_bools(binary_data):
    """Check that a bool target is a class of a model fitted on bool labels."""
    from sklearn.linear_model import LogisticRegression

    _, X, y = binary_data
    clf = LogisticRegression().fit(X, y.astype(bool))
    explanation = skxai.Occlusion(clf, target=True).fit(X).explain(X[:3])
    assert explanation.targets.tolist() == [[True]] * 3


def test_n_jobs_zero_rejected_in_fit(binary_data):
    """Check that n_jobs=0 fails in fit, naming the parameter."""
    clf, X, _ = binary_data
    with pytest.raises(ValueError, match="'n_jobs' parameter of Occlusion.*Got 0"):
        skxai.Occlusion(clf, n_jobs=0).fit(X)
    skxai.Occlusion(clf, n_jobs=-1).fit(X)  # negative counts stay valid


def test_n_jobs_zero_rejected_by_every_explainer():
    """Check n_jobs=0 on every public explainer, SmoothGrad's own constraints too."""
    torch = pytest.importorskip("torch")
    from sklearn.base import BaseEstimator

    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    for name in skxai.__all__:
        cls = getattr(skxai, name)
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            continue
        if name == "SmoothGrad":
            explainer = cls(skxai.Saliency(net), n_jobs=0)
        else:
            explainer = cls(net, n_jobs=0)
        with pytest.raises(ValueError, match=f"'n_jobs' parameter of {name}"):
            explainer.fit(np.zeros((6, 4), dtype=np.float32), np.arange(6) % 3)


@pytest.mark.parametrize("window", [0, (0, 2), (2, 0)])
def test_occlusion_window_zero_blames_window(window):
    """Check that a zero window names 'window' (before, 'stride' was blamed)."""
    from sklearn.linear_model import LogisticRegression

    X = np.random.RandomState(0).uniform(size=(10, 16))
    clf = LogisticRegression().fit(X, np.arange(10) % 2)
    with pytest.raises(ValueError, match="'window' parameter of Occlusion"):
        skxai.Occlusion(clf, window=window, image_shape=(4, 4)).fit(X)


_READ_ONLY_SCRIPT = """
import warnings
import numpy as np
import torch
import skxai
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

warnings.filterwarnings("error", message=".*not writable.*")
rng = np.random.RandomState(0)
X = rng.rand(12, 16).astype(np.float32)
y = np.arange(12) % 3
X.setflags(write=False)
images = X.reshape(12, 1, 4, 4)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(16, 3))
cnn = torch.nn.Sequential(
    torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    torch.nn.Linear(8, 3),
)
mlp = MLPClassifier((4,), max_iter=20).fit(X, y)
for explainer, data in [
    (skxai.Saliency(net), X),
    (skxai.IntegratedGradients(LogisticRegression().fit(X, y), n_steps=4), X),
    (skxai.Saliency(mlp), X),
    (skxai.Occlusion(net, image_shape=(4, 4), window=2), X),
    (skxai.GradCAM(cnn, relu=False), images),
    (skxai.GradientSimilarity(net), X),
    (skxai.CEM(net, max_iter=2, c_steps=1), X[:2]),
]:
    explainer.fit(data, y[: len(data)]).transform(data)
print("ok")
"""


def test_read_only_input_gives_no_torch_warning():
    """Check that read-only X (a loky memmap, a DataFrame's values) never makes
    torch warn that the array is not writable (a fresh process: torch warns
    only once per process)."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _READ_ONLY_SCRIPT],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("n_steps", [2, 5, 50])
def test_integrated_gradients_trapezoid_factor_against_captum(n_steps):
    """Check the documented relation to captum's trapezoid rule: the same points,
    weights summing to one here and to (n - 1) / n in captum (its step sizes
    1 / n halved at both ends, printed by captum 0.8 for n = 5:
    [0.1, 0.2, 0.2, 0.2, 0.1])."""
    from skxai.saliency._gradient import _path_weights

    alphas, weights = _path_weights("riemann_trapezoid", n_steps)
    captum = np.full(n_steps, 1.0 / n_steps)
    captum[[0, -1]] /= 2
    np.testing.assert_allclose(alphas, np.linspace(0, 1, n_steps))
    assert weights.sum() == pytest.approx(1.0)
    assert captum.sum() == pytest.approx((n_steps - 1) / n_steps)
    np.testing.assert_allclose(captum, weights * (n_steps - 1) / n_steps)
