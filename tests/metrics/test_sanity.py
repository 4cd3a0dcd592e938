"""Tests of the model-parameter randomisation check (Adebayo et al., 2018)."""

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression

from skxai.base import BaseExplainer, ExplainerMixin
from skxai.metrics import model_randomization_check
from skxai.metrics._sanity import spearman_rows

from ._helpers import AbsGradient, CoefTimesX

torch = pytest.importorskip("torch")

# Documented threshold: on a trained CNN, the gradient maps of the model whose
# layers are randomised (from the top layer down) have a mean Spearman rank
# correlation with the original maps below 0.5 at every step (about 0.1 to 0.25
# measured on the digits CNN below), while a map that ignores the model stays at
# exactly 1.
THRESHOLD = 0.5


class InputMap(ExplainerMixin, BaseExplainer):
    """A 'map' that ignores the model: the input itself (an edge detector's kin)."""

    def __init__(self, model, *, target="predicted", batch_size=64, n_jobs=None,
                 verbose=0):
        self.model = model
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _explain_chunk(self, X, targets, seeds):
        return {"maps": np.repeat(X[:, None], targets.shape[1], axis=1)}


@pytest.fixture(scope="module")
def cnn(digits):
    """A small CNN trained on 300 digits (about 87% held-out accuracy)."""
    X, y = digits
    X = X.reshape(-1, 1, 8, 8).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(256, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    Xt, yt = torch.from_numpy(X[:300]), torch.from_numpy(y[:300])
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(X[1000:])).argmax(1).numpy() == y[1000:])
    assert accuracy.mean() > 0.8
    return net, X[1000:1030]


def test_spearman_rows_matches_scipy():
    """Check the row-wise rank correlation against scipy, ties included."""
    rng = np.random.RandomState(0)
    a = rng.randint(0, 5, size=(4, 30)).astype(float)
    b = a + rng.normal(size=a.shape)
    expected = [spearmanr(a[i], b[i]).statistic for i in range(4)]
    np.testing.assert_allclose(spearman_rows(a, b), expected)
    assert spearman_rows(np.ones((1, 5)), b[:1, :5])[0] == 0.0


def test_randomized_model_maps_decorrelate_on_a_trained_cnn(cnn):
    """Check that gradient maps of the randomised CNN correlate weakly with the
    original's (below THRESHOLD), cascading from the top layer."""
    net, X = cnn
    frame = model_randomization_check(AbsGradient(net).fit(X), X)
    means = frame.groupby("step")["spearman"].mean()
    assert list(frame.groupby("step")["layer"].first()) == ["3", "0"]
    assert len(frame) == 2 * len(X)
    assert (means < THRESHOLD).all(), means


def test_model_independent_maps_fail_the_check(cnn):
    """Check that a map ignoring the model keeps a rank correlation of 1."""
    net, X = cnn
    frame = model_randomization_check(InputMap(net).fit(X), X)
    np.testing.assert_allclose(frame["spearman"], 1.0)


def test_randomization_check_never_modifies_the_model(cnn):
    """Check that the user's model keeps its weights and training mode."""
    net, X = cnn
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    model_randomization_check(AbsGradient(net).fit(X), X[:3], absolute=False)
    assert net.training
    net.eval()
    for key, value in net.state_dict().items():
        assert torch.equal(before[key], value), key


def test_randomization_check_is_reproducible_and_brute_force(cnn):
    """Check the first step against randomising the top layer by hand."""
    import copy

    net, X = cnn
    frame = model_randomization_check(AbsGradient(net).fit(X), X[:5], random_state=3)
    original = AbsGradient(net).fit(X).explain(X[:5])
    manual = copy.deepcopy(net)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3 + 1)
        manual[3].reset_parameters()
    targets = original.targets[:, 0]
    maps = AbsGradient(manual, target=targets).fit(X).explain(X[:5]).maps
    expected = [
        spearmanr(original.maps[i].ravel(), maps[i].ravel()).statistic
        for i in range(5)
    ]
    np.testing.assert_allclose(frame.query("step == 1")["spearman"], expected)


def test_randomization_check_needs_a_torch_model(digits):
    """Check the error for an explainer of a scikit-learn model."""
    X, y = digits
    clf = LogisticRegression(max_iter=100).fit(X[:200], y[:200])
    with pytest.raises(TypeError, match="randomises the layers of torch models"):
        model_randomization_check(CoefTimesX(clf).fit(X[:10]), X[:3])
    with pytest.raises(ValueError, match="needs a fitted explainer"):
        model_randomization_check(CoefTimesX(clf), X[:3])


def test_randomization_of_skorch_net_with_local_module_class():
    """Check that a skorch net whose module class is defined inside a function
    (skorch's own copy pickles it, and fails) is randomised on a copy: the same
    correlations as the bare module, the net untouched."""
    pytest.importorskip("skorch")
    import zoo

    from skxai import Saliency

    net = zoo.skorch_binary_net()
    X, _ = zoo.digits_images(2, n=4)
    weights = {k: v.clone() for k, v in net.module_.state_dict().items()}
    got = model_randomization_check(Saliency(net).fit(X), X)
    bare = model_randomization_check(Saliency(net.module_).fit(X), X)
    np.testing.assert_allclose(got["spearman"], bare["spearman"])
    for key, value in net.module_.state_dict().items():
        assert torch.equal(value, weights[key])
