"""Tests of skxai/similarity/_store.py (the per-example gradient store)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skxai.similarity import _store  # noqa: E402


def _forward(module):
    return lambda x: module(x)


def _plans(module, X, layers="all", projection_dim=None, seed=0):
    x = torch.as_tensor(X[:1])
    return _store.build_plan(
        _forward(module), module, x, layers, "Test", projection_dim,
        np.random.RandomState(seed),
    )


def _collect(plans, module, X, y):
    return _store.collect(
        plans, _forward(module), module, X, y, loss=None, caller="Test",
        dtype=torch.float64, device=torch.device("cpu"),
    )


def _flat_grads(module, X, y):
    """Per-example gradients of all parameters with a Python loop (reference)."""
    out = []
    for x, t in zip(torch.as_tensor(X), torch.as_tensor(y)):
        module.zero_grad()
        nn.functional.cross_entropy(module(x[None]), t[None]).backward()
        out.append(torch.cat([
            torch.zeros(p.numel(), dtype=p.dtype) if p.grad is None
            else p.grad.flatten()
            for p in module.parameters()
        ]))
    module.zero_grad()
    return torch.stack(out).numpy()


def test_store_factored_and_dense_conv_agree():
    """Check that per-position factors and summed gradients give the same Gram."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 30, 3, bias=True), nn.ReLU(), nn.Flatten(), nn.Linear(30 * 4, 3)
    ).double()
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(9, 2, 4, 4)), rng.randint(0, 3, 9)
    plans = _plans(net, X)
    assert [(p.op, p.form, p.n_positions) for p in plans] == [
        ("conv2d", "factored", 4), ("linear", "factored", 1)
    ]
    reps, sqnorm, _ = _collect(plans, net, X, y)
    G = _flat_grads(net, X, y)
    np.testing.assert_allclose(_store.gram(plans, reps, reps), G @ G.T, rtol=1e-10)
    np.testing.assert_allclose(sqnorm, (G**2).sum(1), rtol=1e-10)
    # Force the dense form of both layers: same Gram.
    for plan in plans:
        plan.form = "dense"
    dense, _, _ = _collect(plans, net, X, y)
    assert dense[0][0].shape == (9, 30 * (2 * 9 + 1))
    np.testing.assert_allclose(_store.gram(plans, dense, dense), G @ G.T, rtol=1e-10)


def test_store_positional_blocks(monkeypatch):
    """Check that the blocked sum over position pairs ignores the block size."""
    rng = np.random.RandomState(0)
    q = (rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 2)))
    r = (rng.normal(size=(7, 5, 4)), rng.normal(size=(7, 5, 2)))
    expected = np.einsum(
        "ipa,jqa,ipd,jqd->ij", q[0], r[0], q[1], r[1]
    )
    monkeypatch.setattr(_store, "_BLOCK_ELEMENTS", 100)
    K = np.zeros((3, 7))
    _store._add_positional(K, q, r, 5)
    np.testing.assert_allclose(K, expected)


def test_store_linear_never_forms_gradient_and_shared_modules():
    """Check factors for linear layers, unused modules, and a module used twice."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(6, 6)
            self.unused = nn.Linear(6, 6)
            self.out = nn.Linear(6, 2)

        def forward(self, x):
            return self.out(torch.tanh(self.a(torch.tanh(self.a(x)))))

    net = Net().double()
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(8, 6)), rng.randint(0, 2, 8)
    plans = _plans(net, X)
    assert {p.name: p.op for p in plans} == {"a": "func", "out": "linear"}
    reps, sqnorm, pred = _collect(plans, net, X, y)
    G = _flat_grads(net, X, y)
    G = G[:, np.r_[0:42, 84:98]]  # drop the unused layer (zero gradient)
    np.testing.assert_allclose(_store.gram(plans, reps, reps), G @ G.T, rtol=1e-10)
    assert reps[1][0].shape == (8, 7) and reps[1][1].shape == (8, 2)
    with torch.no_grad():
        np.testing.assert_array_equal(pred, net(torch.as_tensor(X)).argmax(1))


def test_store_select_modules():
    """Check 'all', 'last', names with their submodules, and unknown names."""
    net = nn.Sequential(
        nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    )
    net[0].bias.requires_grad_(False)
    names = [n for n, _ in _store.select_modules(net, "all", "T")]
    assert names == ["0", "1.0", "1.2"]
    assert [n for n, _ in _store.select_modules(net, "last", "T")] == ["1.2"]
    assert [n for n, _ in _store.select_modules(net, ["1"], "T")] == ["1.0", "1.2"]
    with pytest.raises(ValueError, match=r"unknown module\(s\) \['2'\]"):
        _store.select_modules(net, ["2"], "T")
    plans = _plans(net.double(), np.ones((1, 3)))
    assert (plans[0].use_weight, plans[0].use_bias, plans[0].dim_a) == (True, False, 3)


def test_store_projection_is_kronecker():
    """Check projected factor sizes and the unbiasedness of projected products."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(40, 30), nn.Tanh(), nn.Linear(30, 10)).double()
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(6, 40)), rng.randint(0, 10, 6)
    exact_plans = _plans(net, X)
    exact, _, _ = _collect(exact_plans, net, X, y)
    K = _store.gram(exact_plans, exact, exact)
    estimates = []
    for seed in range(40):
        plans = _plans(net, X, projection_dim=8, seed=seed)
        reps, _, _ = _collect(plans, net, X, y)
        assert [r[0].shape[1] for r in reps] == [8, 8]  # a: 41 -> 8, 31 -> 8
        assert [r[1].shape[1] for r in reps] == [8, 8]  # delta: 30 -> 8, 10 -> 8
        estimates.append(_store.gram(plans, reps, reps))
    mean = np.mean(estimates, axis=0)
    spread = np.std(estimates, axis=0) / np.sqrt(len(estimates))
    assert np.all(np.abs(mean - K) < 5 * spread + 1e-12)


def test_store_nbytes_and_concat():
    """Check that nbytes counts every stored array and concat keeps sample order."""
    a = [(np.ones((2, 3)), np.ones((2, 4)))]
    b = [(np.zeros((1, 3)), np.zeros((1, 4)))]
    both = _store.concat([a, b])
    assert both[0][0].shape == (3, 3) and both[0][1][2].sum() == 0
    assert _store.nbytes(both) == (9 + 12) * 8


def test_store_loss_must_be_per_sample():
    """Check the error for a loss that reduces over the batch."""
    net = nn.Linear(3, 2).double()
    plans = _plans(net, np.ones((1, 3)))
    with pytest.raises(ValueError, match="one loss per sample"):
        _store.collect(
            plans, _forward(net), net, np.ones((4, 3)), np.zeros(4, int),
            loss=lambda s, t: nn.functional.cross_entropy(s, t), caller="Test",
            dtype=torch.float64, device=torch.device("cpu"),
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 2)},
        {"kernel_size": 3, "dilation": 2, "padding": 1, "stride": 2},
        {"kernel_size": 2, "padding": "same"},
        {"kernel_size": (3, 2), "dilation": (1, 2), "padding": "same"},
        {"kernel_size": 3, "padding": "valid"},
    ],
)
def test_store_unfold_matches_conv(kwargs):
    """Check the sliced unfold against the convolution it stands for."""
    conv = nn.Conv2d(2, 3, **kwargs).double()
    x = torch.randn(4, 2, 7, 8, dtype=torch.float64)
    patches = _store.unfold(x, conv)
    # The bias factor: a last row of ones, written in place; only it without weight.
    with_ones = _store.unfold(x, conv, ones=True)
    np.testing.assert_array_equal(with_ones[:, :-1].numpy(), patches.numpy())
    np.testing.assert_array_equal(with_ones[:, -1].numpy(), 1.0)
    only_ones = _store.unfold(x, conv, weight=False, ones=True)
    assert only_ones.shape == (4, 1, patches.shape[2])
    np.testing.assert_array_equal(only_ones.numpy(), 1.0)
    out = conv.weight.reshape(3, -1) @ patches + conv.bias[:, None]
    with torch.no_grad():
        expected = conv(x)
    np.testing.assert_allclose(
        out.detach().reshape(expected.shape).numpy(), expected.numpy(), atol=1e-12
    )
    if not isinstance(conv.padding, str):
        reference = nn.functional.unfold(
            x, conv.kernel_size, conv.dilation, conv.padding, conv.stride
        )
        np.testing.assert_array_equal(patches.numpy(), reference.numpy())


@pytest.mark.parametrize("bias, frozen", [(True, None), (False, None),
                                          (True, "weight"), (True, "bias")])
def test_store_dense_conv_bias_row(bias, frozen):
    """Check the dense convolution gradient (bias as a row of ones) against a loop.

    Covers a convolution without bias and one whose weight or bias is frozen.
    """
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=bias), nn.ReLU(), nn.Flatten(),
        nn.Linear(3 * 5 * 5, 3),
    ).double()
    if frozen is not None:
        getattr(net[0], frozen).requires_grad_(False)
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(6, 2, 5, 5)), rng.randint(0, 3, 6)
    plans = _plans(net, X)
    assert (plans[0].op, plans[0].form) == ("conv2d", "dense")
    use_w, use_b = frozen != "weight", bias and frozen != "bias"
    assert plans[0].dim_a == 18 * use_w + use_b
    reps, sqnorm, _ = _collect(plans, net, X, y)
    # The loop reference: gradients of the trainable parameters only.
    G = []
    for x, t in zip(torch.as_tensor(X), torch.as_tensor(y)):
        net.zero_grad()
        nn.functional.cross_entropy(net(x[None]), t[None]).backward()
        G.append(torch.cat([p.grad.flatten() for p in net.parameters()
                            if p.requires_grad]))
    net.zero_grad()
    G = torch.stack(G).numpy()
    np.testing.assert_allclose(_store.gram(plans, reps, reps), G @ G.T, rtol=1e-10)
    np.testing.assert_allclose(sqnorm, (G**2).sum(1), rtol=1e-10)
    conv_part = G[:, : plans[0].full_size] if use_w else G[:, :0]
    if use_w:
        # [W, b] row by row: the first output channel's weights, then its bias.
        assert reps[0][0].shape == (6, plans[0].full_size)
        w = reps[0][0].reshape(6, 3, plans[0].dim_a)[:, :, :18].reshape(6, -1)
        np.testing.assert_allclose(w, conv_part[:, :54], rtol=1e-10)


def test_store_compact_drops_columns_zero_for_every_reference():
    """Check that compact drops exactly the all-zero columns, and select follows."""
    plan = _store.LayerPlan("a", "linear", "factored")
    other = _store.LayerPlan("b", "conv2d", "factored", n_positions=2)
    a = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    d = np.array([[1.0, 2.0], [0.0, 1.0]])
    pa = np.zeros((2, 2, 4))
    pa[0, 1, 2] = 1.0
    pd = np.ones((2, 2, 1))
    out = _store.compact([plan, other], [(a, d), (pa, pd)])
    np.testing.assert_array_equal(plan.keep[0], [0, 2])
    assert plan.keep[1] is None and other.keep[1] is None
    np.testing.assert_array_equal(other.keep[0], [2])
    np.testing.assert_array_equal(out[0][0], a[:, [0, 2]])
    assert out[0][1] is d and out[1][0].shape == (2, 2, 1)
    # Queries: numpy arrays and tensors are cut to the same columns.
    q = [(np.arange(6.0).reshape(2, 3), d), (np.ones((1, 2, 4)), pd[:1])]
    for query in (q, [tuple(torch.as_tensor(t) for t in layer) for layer in q]):
        cut = _store.select([plan, other], query)
        np.testing.assert_array_equal(np.asarray(cut[0][0]), [[0, 2], [3, 5]])
        assert tuple(cut[1][0].shape) == (1, 2, 1)
    # The Gram is unchanged by the cut, whatever the queries hold there.
    full = _store.gram([plan, other], q, [(a, d), (pa, pd)])
    np.testing.assert_allclose(
        _store.gram([plan, other], _store.select([plan, other], q), out), full
    )


def test_plan_ignores_forwards_of_other_threads():
    """Check that a forward run by another thread during the plan's probe is not
    counted as a second call of each layer (which sent every layer to the slow
    torch.func path)."""
    import zoo

    from skxai import GradientSimilarity

    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    gs = GradientSimilarity(zoo.forwards_in_another_thread_too(inner)).fit(X, y)
    assert [plan.op for plan in gs.plans_] == ["linear", "linear"]
    np.testing.assert_array_equal(
        gs.transform(X), GradientSimilarity(inner).fit(X, y).transform(X)
    )
