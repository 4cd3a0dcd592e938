"""Tests of GuidedBackprop and Deconvolution."""

import threading
from pathlib import Path

import numpy as np
import pytest
import zoo
from sklearn.neural_network import MLPClassifier

from skxai import (
    Deconvolution,
    GuidedBackprop,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
nn = torch.nn
F = nn.functional

# Captum's maps on tests/zoo.py's networks (benchmarks/make_reference_backprop.py).
REFERENCE = (
    Path(__file__).resolve().parents[2] / "benchmarks/data/reference_backprop.npz"
)
ZOO = {"resnet": lambda: zoo.resnet18(width=4), "vgg": lambda: zoo.vgg()}


def _mlp():
    """A two-hidden-layer ReLU MLP in float64."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
    ).double()


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).randn(10, 6)


def _hand_backward(weights, biases, x, c, rule):
    """The rectified backward pass written out with numpy, for one sample."""
    pre = []
    h = x
    for W, b in zip(weights[:-1], biases[:-1]):
        z = W @ h + b
        pre.append(z)
        h = np.maximum(z, 0)
    g = weights[-1][c]
    for W, z in zip(weights[-2::-1], pre[::-1]):
        if rule == "guided":
            g = np.maximum(g, 0) * (z > 0)
        elif rule == "deconvolution":
            g = np.maximum(g, 0)
        else:
            g = g * (z > 0)
        g = W.T @ g
    return g


def _params(net):
    linears = [m for m in net if isinstance(m, nn.Linear)]
    return (
        [m.weight.detach().numpy() for m in linears],
        [m.bias.detach().numpy() for m in linears],
    )


@pytest.mark.parametrize(
    "cls, rule",
    [(GuidedBackprop, "guided"), (Deconvolution, "deconvolution"), (Saliency, None)],
)
def test_rectified_backprop_matches_hand_written_backward(X, cls, rule):
    """Check the rules on a two-layer ReLU MLP against a numpy backward pass."""
    net = _mlp()
    maps = cls(net, target="all").fit(X).explain(X).maps.reshape(10, 3, 6)
    weights, biases = _params(net)
    for i in range(10):
        for c in range(3):
            expected = _hand_backward(weights, biases, X[i], c, rule)
            np.testing.assert_allclose(maps[i, c], expected, rtol=1e-10, atol=1e-12)
    if rule is not None:
        vanilla = Saliency(net, target="all").fit(X).transform(X).reshape(10, 3, 6)
        assert not np.allclose(maps, vanilla)


def test_rectified_backprop_reused_relu_module(X):
    """Check that a ReLU module called twice gets the rule at both calls."""
    net = _mlp()
    relu = nn.ReLU()

    class Reused(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3 = net[0], net[2], net[4]
            self.relu = relu

        def forward(self, x):
            return self.l3(self.relu(self.l2(self.relu(self.l1(x)))))

    for cls, rule in [(GuidedBackprop, "guided"), (Deconvolution, "deconvolution")]:
        explainer = cls(Reused(), target=1).fit(X)
        assert explainer.relu_layers_ == ["relu"]
        weights, biases = _params(net)
        expected = [_hand_backward(weights, biases, x, 1, rule) for x in X]
        np.testing.assert_allclose(explainer.transform(X), expected, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_rectified_backprop_mlp_classifier(digits):
    """Check guided backprop of an MLPClassifier through its torch equivalent."""
    Xd, y = digits
    mlp = MLPClassifier(hidden_layer_sizes=(12, 8), max_iter=30, random_state=0)
    mlp.fit(Xd[:300], y[:300])
    gbp = GuidedBackprop(mlp, response_method="predict_proba").fit(Xd[:50])
    assert gbp.relu_layers_ == ["act_0", "act_1"]
    # response_method="predict_proba" ends with a softmax: differentiate the
    # probability through it, then apply the rule at the hidden ReLUs.
    maps = gbp.explain(Xd[:3])
    weights = [c.T for c in mlp.coefs_]
    biases = list(mlp.intercepts_)
    for i, c in enumerate(np.searchsorted(mlp.classes_, maps.targets[:, 0])):
        p = mlp.predict_proba(Xd[i : i + 1])[0]
        top = p[c] * (np.eye(len(p))[c] - p) @ weights[-1]
        g = top
        pre = []
        h = Xd[i]
        for W, b in zip(weights[:-1], biases[:-1]):
            pre.append(W @ h + b)
            h = np.maximum(pre[-1], 0)
        for W, z in zip(weights[-2::-1], pre[::-1]):
            g = W.T @ (np.maximum(g, 0) * (z > 0))
        np.testing.assert_allclose(maps.maps[i, 0].ravel(), g, rtol=1e-8, atol=1e-12)


def test_rectified_backprop_hooks_removed_and_mode_restored(X):
    """Check that no hook is left on the model and its train mode comes back."""
    net = _mlp().train()
    gbp = GuidedBackprop(net).fit(X)
    gbp.transform(X)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert all(m.training for m in net.modules())
    # the vanilla gradient is unchanged by an earlier guided call
    np.testing.assert_allclose(
        Saliency(net, target=0).fit(X).transform(X),
        _vanilla(net, X, 0),
        rtol=1e-12,
    )


def _vanilla(net, X, c):
    x = torch.as_tensor(X).requires_grad_()
    net(x)[:, c].sum().backward()
    return x.grad.numpy()


def test_rectified_backprop_n_jobs_and_smoothgrad(X):
    """Check thread invariance and that SmoothGrad over guided backprop works."""
    net = _mlp()
    one = GuidedBackprop(net, target="all").fit(X).transform(X)
    two = GuidedBackprop(net, target="all", n_jobs=2, batch_size=1).fit(X)
    np.testing.assert_allclose(two.transform(X), one, rtol=1e-12)
    smooth = SmoothGrad(GuidedBackprop(net, target="all"), noise=0.0, n_samples=2)
    np.testing.assert_allclose(smooth.fit(X).transform(X), one, rtol=1e-12)


def test_rectified_backprop_sigmoid_output_is_allowed(X):
    """Check that a non-ReLU output activation is differentiated, not rejected."""
    net = _mlp()
    model = nn.Sequential(net, nn.Sigmoid())
    gbp = GuidedBackprop(model, target=2).fit(X)
    assert gbp.relu_layers_ == ["0.1", "0.3"]
    assert gbp.transform(X).shape == (10, 6)


class _Functional(nn.Module):
    def __init__(self, activation):
        super().__init__()
        self.l1, self.l2 = nn.Linear(6, 8), nn.Linear(8, 3)
        self.activation = activation

    def forward(self, x):
        return self.l2(self.activation(self.l1(x)))


@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
@pytest.mark.parametrize(
    "model, match",
    [
        (_Functional(torch.tanh), "tanh"),
        (_Functional(lambda x: nn.functional.threshold(x, 0.1, 0.0)), "threshold"),
        (nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)), "tanh"),
        (nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3)), "gelu"),
        (
            nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(), nn.Linear(8, 3)),
            "leaky_relu activation in module '1'",
        ),
    ],
)
def test_rectified_backprop_rejects_unseen_activations(X, cls, model, match):
    """Check the clear error for activations the rule does not cover."""
    with pytest.raises(TypeError, match=f"{cls.__name__}.*{match}"):
        cls(model.double()).fit(X)
    assert all(not m._forward_hooks for m in model.modules())


def _relu_flags(model):
    return [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)]


def _assert_untouched(model, flags, state, training=False):
    """The in-place flags, hooks, torch function modes, mode and state are back."""
    assert _relu_flags(model) == flags
    assert all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        for m in model.modules()
    )
    assert torch._C._len_torch_function_stack() == 0
    assert all(m.training == training for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.exists():  # pragma: no cover
        pytest.skip(f"{REFERENCE} is absent: run make_reference_backprop.py")
    return dict(np.load(REFERENCE))


def zoo_case(reference, name):
    """The zoo network of the reference, in float64, with its inputs.

    Its logits are checked against the stored ones first: a failure there means
    the network builder changed, not the explainer.
    """
    model = ZOO[name]().double()
    X = reference[f"{name}_X"].astype(np.float64)
    with torch.no_grad():
        logits = model(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(
        logits, reference[f"{name}_logits"], rtol=1e-10, atol=1e-12
    )
    return model, X


@pytest.mark.parametrize("name", ["resnet", "vgg"])
@pytest.mark.parametrize(
    "cls, key", [(GuidedBackprop, "guided"), (Deconvolution, "deconv")]
)
def test_rectified_backprop_matches_captum_on_inplace_zoo(reference, name, cls, key):
    """Check the rules on torchvision-style ResNet and VGG with in-place ReLUs.

    The ResNet calls one in-place ReLU module twice per block. Captum computed
    the reference on the same networks with the in-place flags switched off.
    """
    model, X = zoo_case(reference, name)
    flags = _relu_flags(model)
    assert flags and all(flags)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    explainer = cls(model, target=reference["targets"]).fit(X)
    if name == "resnet":
        assert "layer1.0.relu" in explainer.relu_layers_
    maps = explainer.explain(X).maps[:, 0]
    expected = reference[f"{name}_{key}"]
    np.testing.assert_allclose(
        maps, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )
    _assert_untouched(model, flags, state)
    vanilla = Saliency(model, target=reference["targets"]).fit(X).explain(X).maps
    assert not np.allclose(vanilla[:, 0], expected, atol=1e-3 * np.abs(expected).max())


class _FunctionalMLP(nn.Module):
    """The _mlp layers with an activation call in place of the ReLU modules."""

    def __init__(self, net, activation):
        super().__init__()
        self.l1, self.l2, self.l3 = net[0], net[2], net[4]
        self.activation = activation

    def forward(self, x):
        return self.l3(self.activation(self.l2(self.activation(self.l1(x)))))


@pytest.mark.parametrize(
    "activation",
    [
        torch.relu,
        F.relu,
        lambda x: x.relu(),
        lambda x: F.relu(x, inplace=True),
        lambda x: F.relu(input=x, inplace=True),
        torch.relu_,
        lambda x: x.relu_(),
        nn.ReLU(inplace=True),
    ],
    ids=[
        "torch.relu",
        "F.relu",
        "Tensor.relu",
        "F.relu-inplace",
        "F.relu-kwargs",
        "torch.relu_",
        "Tensor.relu_",
        "ReLU-inplace-reused",
    ],
)
def test_rectified_backprop_functional_and_inplace_relu(X, activation):
    """Check every way of calling relu gets the rule, once per call."""
    net = _mlp()
    model = _FunctionalMLP(net, activation)
    weights, biases = _params(net)
    for cls, rule in [(GuidedBackprop, "guided"), (Deconvolution, "deconvolution")]:
        maps = cls(model, target=1).fit(X).transform(X)
        expected = [_hand_backward(weights, biases, x, 1, rule) for x in X]
        np.testing.assert_allclose(maps, expected, rtol=1e-10, atol=1e-12)


def test_rectified_backprop_keeps_inplace_semantics(X):
    """Check an in-place relu still rectifies every alias of its input.

    ``skip`` is the tensor the in-place ReLU rectifies, so the model computes
    ``l2(2 relu(l1 x))``; an out-of-place stand-in would compute
    ``l2(relu(l1 x) + l1 x)`` instead.
    """
    torch.manual_seed(1)
    l1, l2 = nn.Linear(6, 8).double(), nn.Linear(8, 3).double()

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.relu = l1, l2, nn.ReLU(inplace=True)

        def forward(self, x):
            h = self.l1(x)
            skip = h
            h = self.relu(h)
            return self.l2(h + skip)

    model = Skip()
    gbp = GuidedBackprop(model, target=0).fit(X)
    expl = gbp.explain(X)
    W1, b1 = l1.weight.detach().numpy(), l1.bias.detach().numpy()
    W2 = l2.weight.detach().numpy()
    expected = [W1.T @ (np.maximum(2 * W2[0], 0) * (W1 @ x + b1 > 0)) for x in X]
    np.testing.assert_allclose(expl.maps.reshape(10, 6), expected, rtol=1e-10)
    with torch.no_grad():
        predicted = model(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(expl.predictions, predicted)


def test_rectified_backprop_rule_is_thread_local(X):
    """Check a guided call does not change the gradient another thread computes."""
    net = _mlp()
    model = _FunctionalMLP(net, nn.ReLU(inplace=True))
    guided = GuidedBackprop(model, target="all").fit(X)
    plain = Saliency(model, target="all").fit(X)
    expected = {"guided": guided.transform(X), "plain": plain.transform(X)}
    results = {"guided": [], "plain": []}
    barrier = threading.Barrier(2)

    def run(name, explainer):
        barrier.wait()
        for _ in range(20):
            results[name].append(explainer.transform(X))

    threads = [
        threading.Thread(target=run, args=("guided", guided)),
        threading.Thread(target=run, args=("plain", plain)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, maps in results.items():
        assert len(maps) == 20
        for m in maps:
            np.testing.assert_array_equal(m, expected[name])


def test_rectified_backprop_model_restored_after_error(X):
    """Check an error in the explained forward leaves the model as it came."""
    net = _mlp()

    class Failing(_FunctionalMLP):
        fail = False

        def forward(self, x):
            if self.fail and torch.is_grad_enabled():
                self.activation(x.clone())
                raise RuntimeError("boom")
            return super().forward(x)

    model = Failing(net, nn.ReLU(inplace=True)).train()
    flags = _relu_flags(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for cls in (GuidedBackprop, Deconvolution):
        explainer = cls(model).fit(X)
        model.fail = True
        with pytest.raises(RuntimeError, match="boom"):
            explainer.transform(X)
        model.fail = False
        _assert_untouched(model, flags, state, training=True)
    # the relu of the model and of torch are plain again
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    (grad,) = torch.autograd.grad((torch.relu(x) * torch.tensor([-3.0, -4.0])).sum(), x)
    np.testing.assert_array_equal(grad.numpy(), [0.0, -4.0])


@pytest.mark.parametrize(
    "make, n_calls",
    [
        (lambda m: GuidedBackprop(m, batch_size=4), 3),
        (lambda m: Deconvolution(m, batch_size=4), 3),
        (lambda m: Saliency(m, batch_size=4), 3),
        # 5 path batches of 2 samples x 2 steps; f(baseline) and f(x): 11 rows
        # in 3 batches
        (
            lambda m: IntegratedGradients(
                m, n_steps=2, batch_size=4, delta_tolerance=None
            ),
            8,
        ),
    ],
)
def test_gradient_explainers_one_forward_per_batch(X, make, n_calls):
    """Check the predictions come from the explaining forward pass, not an extra one.

    10 samples in batches of 4: explain runs the model once per batch
    (IntegratedGradients: its path, then f(x) and f(baseline) for completeness,
    which give the predictions), and its predictions and targets are the
    model's argmax.
    """
    model = _mlp()
    explainer = make(model).fit(X)
    calls = []
    handle = model.register_forward_pre_hook(lambda m, inputs: calls.append(1))
    try:
        expl = explainer.explain(X)
    finally:
        handle.remove()
    assert len(calls) == n_calls
    with torch.no_grad():
        predicted = model(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(expl.predictions, predicted)
    np.testing.assert_array_equal(expl.targets[:, 0], predicted)
    fixed = make(model).set_params(target=2).fit(X).explain(X)
    np.testing.assert_array_equal(fixed.predictions, predicted)
    assert (fixed.targets == 2).all()


def test_rectified_backprop_zoo_train_mode_n_jobs(reference):
    """Check a train-mode ResNet: eval-mode maps, n_jobs=2 equal to 1, state back.

    BatchNorm must use its running statistics while explaining (the captum
    reference is in eval mode), the threads share one eval session, and the
    train mode, buffers and in-place flags come back afterwards.
    """
    model, X = zoo_case(reference, "resnet")
    model.train()
    flags = _relu_flags(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    targets = reference["targets"]
    one = GuidedBackprop(model, target=targets).fit(X).transform(X)
    two = GuidedBackprop(model, target=targets, n_jobs=2, batch_size=1).fit(X)
    np.testing.assert_allclose(two.transform(X), one, rtol=1e-10, atol=1e-15)
    expected = reference["resnet_guided"].reshape(len(X), -1)
    np.testing.assert_allclose(
        one, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )
    _assert_untouched(model, flags, state, training=True)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.filterwarnings("ignore:The forward of .* runs no torch function")
@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
def test_rectified_backprop_rejects_torchscript(X, cls):
    """Check a scripted module, whose relu calls no mode sees, gets a clear error."""
    scripted = torch.jit.script(_mlp())
    with pytest.raises(TypeError, match=f"{cls.__name__}.*TorchScript.*unscripted"):
        cls(scripted).fit(X)
    wrapped = nn.Sequential(scripted)
    with pytest.raises(TypeError, match="'0' is a TorchScript module"):
        cls(wrapped).fit(X)
