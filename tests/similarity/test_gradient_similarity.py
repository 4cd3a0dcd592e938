"""Tests of skxai/similarity/_gradient_similarity.py (GradientSimilarity)."""

import copy
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.func import functional_call, grad, vmap  # noqa: E402

from skxai import GradientSimilarity  # noqa: E402
from skxai.similarity import SimilarityExplanation  # noqa: E402


# --------------------------------------------------------------------- helpers
class SmallCNN(nn.Module):
    """Conv ('same', even kernel) -> BatchNorm -> conv (stride) -> conv -> linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 3, 2, padding="same")
        self.bn = nn.BatchNorm2d(3)
        self.c2 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(8, 40, 2, bias=False)  # few positions: factored
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(40 * 2 * 2, 12), nn.ReLU())
        self.out = nn.Linear(12, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.c1(x)))
        x = torch.relu(self.c2(x))
        x = torch.relu(self.c3(x))
        return self.out(self.head(x))


@pytest.fixture(scope="module")
def cnn_data():
    """A float64 SmallCNN in eval mode with 6x6 one-channel images and labels."""
    torch.manual_seed(0)
    net = SmallCNN().double().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.1, 0.1)
        net.bn.running_var.uniform_(0.5, 2.0)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 1, 6, 6))
    y = rng.randint(0, 3, size=30)
    return net, X, y


@pytest.fixture(scope="module")
def mlp_data():
    """A float64 torch MLP (in-place ReLU) with 10 features and 4 classes."""
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Linear(10, 16), nn.ReLU(inplace=True), nn.Linear(16, 8), nn.Tanh(),
        nn.Linear(8, 4),
    ).double()
    rng = np.random.RandomState(1)
    return net, rng.normal(size=(30, 10)), rng.randint(0, 4, size=30)


def _brute_grads(model, X, y, prefixes=None):
    """Per-example gradients of the selected parameters, flattened (torch.func)."""
    params = {
        name: p.detach()
        for name, p in model.named_parameters()
        if prefixes is None or any(name.startswith(pre + ".") for pre in prefixes)
    }

    def loss(p, x, t):
        out = functional_call(model, p, (x[None],))
        return nn.functional.cross_entropy(out, t[None])

    with torch.no_grad():
        g = vmap(grad(loss), in_dims=(None, 0, 0))(
            params, torch.as_tensor(X), torch.as_tensor(y)
        )
    return torch.cat([v.flatten(1) for v in g.values()], dim=1).numpy()


def _brute_similarity(model, X_ref, y_ref, X, similarity, prefixes=None):
    with torch.no_grad():
        pred = model(torch.as_tensor(X)).argmax(1).numpy()
    G = _brute_grads(model, X_ref, y_ref, prefixes)
    Q = _brute_grads(model, X, pred, prefixes)
    K = Q @ G.T
    if similarity == "cos":
        K = K / np.outer(np.linalg.norm(Q, axis=1), np.linalg.norm(G, axis=1))
    elif similarity == "asym_dot":
        K = K / np.linalg.norm(G, axis=1) ** 2
    return K


# ---------------------------------------------------------------- exactness
@pytest.mark.parametrize(
    "data, layers, prefixes",
    [
        ("cnn_data", "all", None),
        ("cnn_data", ["c3", "bn", "head"], ["c3", "bn", "head.1"]),
        ("mlp_data", "all", None),
        ("mlp_data", "last", ["4"]),
        ("mlp_data", ["0"], ["0"]),
    ],
)
def test_gradient_similarity_matches_brute_force(request, data, layers, prefixes):
    """Check that all similarities equal flattened torch.func per-example gradients."""
    net, X, y = request.getfixturevalue(data)
    gs = GradientSimilarity(net, layers=layers, batch_size=7).fit(X[:20], y[:20])
    for similarity in ("dot", "cos", "asym_dot"):
        # The fitted store serves every similarity.
        expl = gs.set_params(similarity=similarity).explain(X[20:])
        K = _brute_similarity(net, X[:20], y[:20], X[20:], similarity, prefixes)
        expected = np.take_along_axis(K, expl.ordered_indices, axis=1)
        np.testing.assert_allclose(expl.scores, expected, rtol=1e-5, atol=1e-12)
        assert np.all(np.diff(expl.scores, axis=1) <= 0)
        np.testing.assert_array_equal(expl.ordered_indices, gs.transform(X[20:]))
    fresh = GradientSimilarity(net, layers=layers, similarity="cos").fit(X[:20], y[:20])
    gs.set_params(similarity="cos")
    np.testing.assert_array_equal(fresh.transform(X[20:]), gs.transform(X[20:]))


def test_gradient_similarity_store_is_compact(cnn_data):
    """Check that linear layers are stored as factors, smaller than the gradients."""
    net, X, y = cnn_data
    gs = GradientSimilarity(net).fit(X[:20], y[:20])
    forms = {plan.name: (plan.op, plan.form) for plan in gs.plans_}
    assert forms["out"] == ("linear", "factored")
    assert forms["c3"] == ("conv2d", "factored")
    assert forms["bn"] == ("func", "dense")
    n_params = sum(p.numel() for p in net.parameters())
    assert gs.nbytes_ < 20 * n_params * 8
    assert gs.layers_ == ["c1", "bn", "c2", "c3", "head.1", "out"]


def test_gradient_similarity_dead_units_are_dropped_exactly():
    """Check units no reference activates: dropped from the store, scores exact.

    Hidden unit 0 fires only when x[0] > 5: never for the references, for one
    query. Its columns (the unit's input weights and the next layer's input
    column) are zero for every reference and are not stored; the query's
    gradient there still counts in its norm (cos).
    """
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3)).double()
    with torch.no_grad():
        net[0].weight[0] = torch.tensor([1.0, 0.0, 0.0])
        net[0].bias[0] = -5.0
    rng = np.random.RandomState(0)
    X_ref, y_ref = rng.uniform(-1, 1, size=(15, 3)), rng.randint(0, 3, 15)
    X = np.vstack([rng.uniform(-1, 1, size=(3, 3)), [[8.0, 0.5, -0.5]]])
    gs = GradientSimilarity(net, batch_size=4).fit(X_ref, y_ref)
    first, last = gs.plans_
    np.testing.assert_array_equal(first.keep[1], [1, 2, 3])  # delta of unit 0
    np.testing.assert_array_equal(last.keep[0], [1, 2, 3, 4])  # a: unit 0 out
    assert gs.store_[0][1].shape == (15, 3) and gs.store_[1][0].shape == (15, 4)
    full = 15 * (4 + 4 + 5 + 3) * 8
    assert gs.nbytes_ == full - 15 * 2 * 8 + 7 * 8 + 15 * 8 * 3
    for similarity in ("dot", "cos", "asym_dot"):
        S = gs.set_params(similarity=similarity).explain(X)
        K = _brute_similarity(net, X_ref, y_ref, X, similarity)
        np.testing.assert_allclose(
            S.scores, np.take_along_axis(K, S.ordered_indices, axis=1),
            rtol=1e-10, atol=1e-14,
        )
    # The last query has a gradient on the dropped columns (so the check above
    # covers a query that uses them).
    Q = _brute_grads(net, X[3:], net(torch.as_tensor(X[3:])).argmax(1).numpy())
    assert np.abs(Q[0, :3]).sum() > 0


def test_gradient_similarity_partial_ranking_matches_full_sort():
    """Check the partial (argpartition) ranking against a stable sort, with ties."""
    from skxai.similarity._gradient_similarity import _rank, _rank_least

    rng = np.random.RandomState(0)
    for S in (rng.rand(20, 90), np.round(rng.rand(20, 90), 1), np.zeros((2, 30))):
        full = np.argsort(-S, axis=1, kind="stable")
        for k in (1, 5, 22, 23, 90):
            np.testing.assert_array_equal(_rank(S, k), full[:, :k])
            np.testing.assert_array_equal(_rank_least(S, k), full[:, ::-1][:, :k])


def test_gradient_similarity_n_top_keeps_least_similar(mlp_data):
    """Check that n_top changes neither the first ranks nor the least similar."""
    net, X, y = mlp_data
    full = GradientSimilarity(net, similarity="cos").fit(X[:25], y[:25])
    top = clone(full).set_params(n_top=3).fit(X[:25], y[:25])
    a, b = full.explain(X[25:]), top.explain(X[25:])
    np.testing.assert_array_equal(b.ordered_indices, a.ordered_indices[:, :3])
    np.testing.assert_array_equal(b.scores, a.scores[:, :3])
    np.testing.assert_array_equal(b.most_similar, a.most_similar)
    np.testing.assert_array_equal(b.least_similar, a.least_similar)
    np.testing.assert_array_equal(
        b.least_similar, X[:25][a.ordered_indices[:, ::-1][:, :5]]
    )


def test_gradient_similarity_aliases_and_labels(mlp_data):
    """Check alibi's names and that y gives the label of the samples' gradients."""
    net, X, y = mlp_data
    a = GradientSimilarity(net, similarity="grad_cos").fit(X[:20], y[:20])
    b = GradientSimilarity(net, similarity="cos").fit(X[:20], y[:20])
    np.testing.assert_array_equal(a.transform(X[20:]), b.transform(X[20:]))
    with torch.no_grad():
        pred = net(torch.as_tensor(X[20:])).argmax(1).numpy()
    np.testing.assert_array_equal(b.transform(X[20:], pred), b.transform(X[20:]))
    other = (pred + 1) % 4
    expl = b.explain(X[20:], other)
    K = _brute_grads(net, X[20:], other) @ _brute_grads(net, X[:20], y[:20]).T
    assert np.argmax(K[0] / np.linalg.norm(_brute_grads(net, X[:20], y[:20]), axis=1)
                     ) == expl.ordered_indices[0, 0]
    np.testing.assert_array_equal(expl.labels, other)
    np.testing.assert_array_equal(expl.predictions, pred)


# ------------------------------------------------------------------ invariance
def test_gradient_similarity_invariant_to_batch_and_jobs(cnn_data):
    """Check that rankings ignore batch membership, batch_size and n_jobs."""
    net, X, y = cnn_data
    ref = GradientSimilarity(net, similarity="cos", batch_size=64).fit(X[:20], y[:20])
    full = ref.transform(X[20:])
    alone = np.vstack([ref.transform(X[i : i + 1]) for i in range(20, 30)])
    np.testing.assert_array_equal(full, alone)
    for batch_size, n_jobs in [(3, 1), (4, 2)]:
        gs = GradientSimilarity(
            net, similarity="cos", batch_size=batch_size, n_jobs=n_jobs
        ).fit(X[:20], y[:20])
        np.testing.assert_array_equal(gs.transform(X[20:]), full)
        np.testing.assert_allclose(gs.ref_sqnorm_, ref.ref_sqnorm_, rtol=1e-12)


# ------------------------------------------------------------------ projection
def test_gradient_similarity_projection_error_shrinks(mlp_data):
    """Check that the projection error falls as projection_dim grows (measured)."""
    net, X, y = mlp_data
    exact = GradientSimilarity(net).fit(X[:20], y[:20])
    S = exact._similarities(X[20:], None)[2]
    errors = []
    for k in (2, 8, 32):
        err = []
        for seed in range(5):
            gs = GradientSimilarity(net, projection_dim=k, random_state=seed)
            Sp = gs.fit(X[:20], y[:20])._similarities(X[20:], None)[2]
            err.append(np.linalg.norm(Sp - S) / np.linalg.norm(S))
        errors.append(np.mean(err))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.5
    # Seeded: the same random_state gives the same scores.
    a = GradientSimilarity(net, projection_dim=4, random_state=3).fit(X[:20], y[:20])
    b = clone(a).fit(X[:20], y[:20])
    np.testing.assert_array_equal(a.transform(X[20:]), b.transform(X[20:]))


# ------------------------------------------------------------ scikit-learn models
def test_gradient_similarity_sklearn_models(digits, logreg, mlp):
    """Check LogisticRegression and MLPClassifier through their torch equivalent."""
    X, y = digits
    for clf, X_ref, y_ref in [(logreg, X[:60], y[:60]), (mlp, X[:60], y[:60])]:
        gs = GradientSimilarity(clf, similarity="dot").fit(X_ref, y_ref)
        module = gs.adapter_.torch_forward(gs.response_method_)[1]
        idx = np.searchsorted(clf.classes_, y_ref)
        Xq = X[300:305]
        pred = np.searchsorted(clf.classes_, clf.predict(Xq))
        G, Q = _brute_grads(module, X_ref, idx), _brute_grads(module, Xq, pred)
        expl = gs.explain(Xq)
        expected = np.take_along_axis(Q @ G.T, expl.ordered_indices, axis=1)
        np.testing.assert_allclose(expl.scores, expected, rtol=1e-5, atol=1e-12)
        np.testing.assert_array_equal(expl.predictions, clf.predict(Xq))
        np.testing.assert_array_equal(gs.ref_predictions_, clf.predict(X_ref))


# ------------------------------------------------------------- binary models
class _OneLogit(nn.Module):
    """A binary torch model with one logit: shape (n,), (n, 1), or sigmoid(z)."""

    def __init__(self, output):
        super().__init__()
        torch.manual_seed(4)
        self.hidden = nn.Linear(5, 6)
        self.out = nn.Linear(6, 1)
        self.output = output

    def forward(self, x):
        z = self.out(torch.tanh(self.hidden(x)))
        if self.output == "sigmoid":
            return torch.sigmoid(z)
        return z[:, 0] if self.output == "flat" else z


def _bce_grads(model, X, y):
    """Per-example gradients of the model's own binary log-loss (torch.func)."""
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss(p, x, t):
        out = functional_call(model, p, (x[None],)).reshape(-1)
        if model.output == "sigmoid":  # the model's probability, as it is
            return nn.functional.binary_cross_entropy(out, t[None])
        return nn.functional.binary_cross_entropy_with_logits(out, t[None])

    with torch.no_grad():
        g = vmap(grad(loss), in_dims=(None, 0, 0))(
            params, torch.as_tensor(X), torch.as_tensor(y, dtype=torch.float64)
        )
    return torch.cat([v.flatten(1) for v in g.values()], dim=1).numpy()


@pytest.mark.parametrize("output", ["column", "flat", "sigmoid"])
@pytest.mark.parametrize("similarity", ["dot", "asym_dot"])
def test_gradient_similarity_single_logit_torch(output, similarity):
    """Check that a binary torch model with one logit z compares the gradients of
    its own log-loss BCEWithLogits(z, y), not the cross-entropy of [-z, z]."""
    model = _OneLogit(output).double()
    rng = np.random.RandomState(5)
    X, y = rng.normal(size=(24, 5)), rng.randint(0, 2, size=24)
    Xq, yq = rng.normal(size=(6, 5)), rng.randint(0, 2, size=6)
    gs = GradientSimilarity(model, similarity=similarity).fit(X, y)
    assert gs.adapter_.single_logit is True
    G, Q = _bce_grads(model, X, y), _bce_grads(model, Xq, yq)
    np.testing.assert_allclose(gs.ref_sqnorm_, (G**2).sum(1), rtol=1e-10)
    K = Q @ G.T
    if similarity == "asym_dot":
        K = K / (G**2).sum(1)
    S = gs._similarities(Xq, yq)[2]
    np.testing.assert_allclose(S, K, rtol=1e-9, atol=1e-14)
    # The cross-entropy of [-z, z] (the log-loss of sigmoid(2 z)) differs.
    gs_ce = GradientSimilarity(model, similarity=similarity, loss=_two_score_ce_of_z)
    assert not np.allclose(gs_ce.fit(X, y)._similarities(Xq, yq)[2], K, rtol=1e-3)
    # [log(1 - p), log p] and [1 - p, p]: the same log-loss.
    for method in ("predict_log_proba", "predict_proba"):
        gs_p = GradientSimilarity(
            model, similarity=similarity, response_method=method
        ).fit(X, y)
        np.testing.assert_allclose(gs_p._similarities(Xq, yq)[2], K, rtol=1e-9)


def _two_score_ce(scores, target):
    return nn.functional.cross_entropy(scores, target, reduction="none")


def _two_score_ce_of_z(z, target):
    """The cross-entropy of [-z, z], from a single-logit model's z."""
    return _two_score_ce(torch.cat([-z, z], dim=1), target)


def _bce_of_z(z, target):
    """A single-logit model's own loss BCEWithLogits(z, y), written by a user."""
    assert z.ndim == 2 and z.shape[1] == 1, z.shape
    return nn.functional.binary_cross_entropy_with_logits(
        z[:, 0], target.to(z.dtype), reduction="none"
    )


def _single_logit_models():
    """(name, model, X, y) of binary models with one logit z."""
    import zoo

    rng = np.random.RandomState(8)
    X, y = rng.normal(size=(24, 5)), rng.randint(0, 2, size=24)
    X_img, y_img = zoo.digits_images(2, n=40)
    yield "torch (n, 1)", _OneLogit("column").double(), X, y
    yield "torch (n,)", _OneLogit("flat").double(), X, y
    yield "torch sigmoid", _OneLogit("sigmoid").double(), X, y
    yield "zoo binary_net", zoo.binary_net(), X_img, y_img
    yield "skorch binary", zoo.skorch_binary_net(), X_img, y_img


@pytest.mark.parametrize("response_method", ["auto", "decision_function"])
def test_custom_loss_of_single_logit_is_the_logit(response_method):
    """Check that a custom loss of a binary model with one logit is given z,
    shape (n, 1) (not the internal scores [-z, z]): the model's own
    BCEWithLogits(z, y) written by hand gives the default's similarities, and a
    two-class cross-entropy is an error instead of a silently other loss."""
    for name, model, X, y in _single_logit_models():
        ref, query = slice(0, 16), slice(16, 24)
        default = GradientSimilarity(model, response_method=response_method)
        default.fit(X[ref], y[ref])
        mine = GradientSimilarity(
            model, loss=_bce_of_z, response_method=response_method
        ).fit(X[ref], y[ref])
        assert mine.adapter_.single_logit is True, name
        np.testing.assert_allclose(
            mine.ref_sqnorm_, default.ref_sqnorm_, rtol=1e-6, err_msg=name
        )
        for y_query in (None, y[query]):
            np.testing.assert_allclose(
                mine._similarities(X[query], y_query)[2],
                default._similarities(X[query], y_query)[2],
                rtol=1e-5, atol=1e-12, err_msg=name,
            )
        with pytest.raises(IndexError, match="out of bounds"):
            GradientSimilarity(
                model, loss=nn.CrossEntropyLoss(reduction="none")
            ).fit(X[ref], y[ref])


def test_custom_loss_of_single_logit_probabilities():
    """Check that with 'predict_proba' a custom loss of a single-logit model is
    given the two columns [1 - p, p], as scikit-learn's predict_proba."""
    model = _OneLogit("sigmoid").double()
    rng = np.random.RandomState(9)
    X, y = rng.normal(size=(20, 5)), rng.randint(0, 2, size=20)
    with torch.no_grad():
        p_model = model(torch.as_tensor(X))[:, 0].numpy()
    seen = []

    def nll(p, t):
        seen.append(tuple(p.shape))
        np.testing.assert_allclose(p.detach().numpy(), np.c_[1 - p_model, p_model])
        return nn.functional.nll_loss(torch.log(p), t, reduction="none")

    mine = GradientSimilarity(model, loss=nll, response_method="predict_proba")
    default = GradientSimilarity(model, response_method="predict_proba")
    np.testing.assert_allclose(
        mine.fit(X, y).ref_sqnorm_, default.fit(X, y).ref_sqnorm_, rtol=1e-12
    )
    assert seen == [(20, 2)]


def test_custom_loss_of_two_logit_binary_takes_both_scores():
    """Check that a binary model with two logits still gives a custom loss both
    scores, shape (n, 2)."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    rng = np.random.RandomState(6)
    X, y = rng.normal(size=(20, 5)), rng.randint(0, 2, size=20)
    seen = []

    def ce(scores, target):
        seen.append(tuple(scores.shape))
        return _two_score_ce(scores, target)

    mine = GradientSimilarity(model, loss=ce).fit(X, y)
    default = GradientSimilarity(model).fit(X, y)
    assert mine.adapter_.single_logit is False and seen == [(20, 2)]
    np.testing.assert_allclose(mine.ref_sqnorm_, default.ref_sqnorm_, rtol=1e-12)
    np.testing.assert_allclose(
        mine._similarities(X[:5], None)[2], default._similarities(X[:5], None)[2],
        rtol=1e-12,
    )


def test_custom_loss_of_single_logit_wrong_shape():
    """Check that a loss of z that is not one value per sample (BCE of z as
    it is, shape (n, 1)) is the clear error."""
    model = _OneLogit("column").double()
    rng = np.random.RandomState(10)
    X, y = rng.normal(size=(12, 5)), rng.randint(0, 2, size=12)

    def unreduced(z, t):
        return nn.functional.binary_cross_entropy_with_logits(
            z, t[:, None].to(z.dtype), reduction="none"
        )

    with pytest.raises(
        ValueError, match=r"one loss per sample.*\(12,\); got shape \(12, 1\)"
    ):
        GradientSimilarity(model, loss=unreduced).fit(X, y)


def test_gradient_similarity_binary_logreg(digits, binary_logreg):
    """Check a binary LogisticRegression against its log-loss gradient in closed
    form: (p - y) [x, 1] with p = predict_proba(x)[:, 1]."""
    X, y = digits
    X01, y01 = X[y < 2], y[y < 2]
    X_ref, y_ref, Xq, yq = X01[:40], y01[:40], X01[300:306], y01[300:306]

    def closed_form(A, t):
        p = binary_logreg.predict_proba(A)[:, 1]
        return (p - t)[:, None] * np.column_stack([A, np.ones(len(A))])

    G, Q = closed_form(X_ref, y_ref), closed_form(Xq, yq)
    gs = GradientSimilarity(binary_logreg, similarity="dot").fit(X_ref, y_ref)
    assert gs.adapter_.single_logit is True
    np.testing.assert_allclose(gs.ref_sqnorm_, (G**2).sum(1), rtol=1e-9)
    np.testing.assert_allclose(gs._similarities(Xq, yq)[2], Q @ G.T, rtol=1e-9)
    # Without y the queries' gradients are taken at the predictions.
    pred = binary_logreg.predict(Xq)
    expl = gs.explain(Xq)
    expected = closed_form(Xq, pred) @ G.T
    np.testing.assert_allclose(
        expl.scores, np.take_along_axis(expected, expl.ordered_indices, axis=1),
        rtol=1e-9, atol=1e-15,
    )
    np.testing.assert_array_equal(expl.predictions, pred)
    # The rankings of 'asym_dot' follow the true per-reference scale 1/||g_r||^2.
    asym = GradientSimilarity(binary_logreg, similarity="asym_dot").fit(X_ref, y_ref)
    np.testing.assert_array_equal(
        asym.transform(Xq, yq), np.argsort(-(Q @ G.T) / (G**2).sum(1), kind="stable")
    )


def test_gradient_similarity_skorch_binary():
    """Check a skorch NeuralNetBinaryClassifier (one logit, trained with
    BCEWithLogits) against the gradients of its own criterion."""
    skorch = pytest.importorskip("skorch")
    model = _OneLogit("flat").double()
    net = skorch.NeuralNetBinaryClassifier(
        model, max_epochs=2, train_split=None, verbose=0
    )
    rng = np.random.RandomState(7)
    X, y = rng.normal(size=(24, 5)), rng.randint(0, 2, size=24)
    net.fit(X, y.astype(np.float64))
    Xq, yq = rng.normal(size=(5, 5)), rng.randint(0, 2, size=5)
    gs = GradientSimilarity(net, similarity="dot").fit(X, y)
    assert gs.adapter_.single_logit is True
    G, Q = _bce_grads(model, X, y), _bce_grads(model, Xq, yq)
    np.testing.assert_allclose(gs._similarities(Xq, yq)[2], Q @ G.T, rtol=1e-9)


def test_single_logit_of_adapters(digits, logreg, binary_logreg):
    """Check the adapters' single_logit: known for scikit-learn models, set by
    the first call of torch modules and callables."""
    from skxai.models import check_model

    assert check_model(binary_logreg).single_logit is True
    assert check_model(logreg).single_logit is False
    torch_adapter = check_model(_OneLogit("column").double())
    assert torch_adapter.single_logit is None
    torch_adapter.scores(np.zeros((2, 5)))
    assert torch_adapter.single_logit is True
    fn = check_model(lambda X: X[:, 0])
    assert fn.single_logit is None
    fn.scores(np.zeros((2, 3)))
    assert fn.single_logit is True


def test_gradient_similarity_log_loss_of_every_response_method(mlp_data):
    """Check that 'cross_entropy' is the model's log-loss -log p_y whatever the
    response method: probabilities are not put through a second softmax."""
    net, X, y = mlp_data
    expected = _brute_similarity(net, X[:20], y[:20], X[20:], "dot")
    for method in ("decision_function", "predict_log_proba", "predict_proba"):
        gs = GradientSimilarity(net, response_method=method).fit(X[:20], y[:20])
        np.testing.assert_allclose(
            gs._similarities(X[20:], None)[2], expected, rtol=1e-9, atol=1e-14
        )


def test_gradient_similarity_two_logit_binary_unchanged():
    """Check that a binary model with two logits keeps the cross-entropy of its
    scores (its own log-loss)."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    rng = np.random.RandomState(6)
    X, y = rng.normal(size=(20, 5)), rng.randint(0, 2, size=20)
    Xq = rng.normal(size=(5, 5))
    gs = GradientSimilarity(model, similarity="dot").fit(X, y)
    assert gs.adapter_.single_logit is False
    np.testing.assert_allclose(
        gs._similarities(Xq, None)[2],
        _brute_similarity(model, X, y, Xq, "dot"),
        rtol=1e-9, atol=1e-14,
    )


def test_gradient_similarity_grid_search(digits, logreg):
    """Check GridSearchCV over similarity, scored by the identical-class test."""
    X, y = digits
    gs = GradientSimilarity(logreg, n_top=3)
    search = GridSearchCV(gs, {"similarity": ["dot", "cos", "asym_dot"]}, cv=2)
    search.fit(X[:120], y[:120])
    scores = search.cv_results_["mean_test_score"]
    assert np.all((scores >= 0) & (scores <= 1)) and scores.max() > 0.5
    assert search.best_estimator_.model is logreg
    # score is the identical-class rate, computed by hand.
    best = search.best_estimator_
    S = best._similarities(X[200:260], None)[2]
    manual = np.mean(best.y_ref_[S.argmax(1)] == logreg.predict(X[200:260]))
    assert best.score(X[200:260]) == pytest.approx(manual)


# ---------------------------------------------------------------- outputs
def test_gradient_similarity_explanation_frame(digits, logreg):
    """Check the explanation's arrays, its long frame and per-class means."""
    import pandas as pd

    X, y = digits
    gs = GradientSimilarity(logreg, similarity="cos").fit(X[:50], y[:50])
    Xq = pd.DataFrame(X[100:103], index=["a", "b", "c"])
    gs_df = GradientSimilarity(logreg, similarity="cos").fit(
        pd.DataFrame(X[:50]), y[:50]
    )
    expl = gs_df.explain(Xq, y[100:103])
    assert isinstance(expl, SimilarityExplanation)
    assert expl.scores.shape == expl.ordered_indices.shape == (3, 50)
    np.testing.assert_array_equal(
        expl.most_similar[:, 0], X[expl.ordered_indices[:, 0]]
    )
    np.testing.assert_array_equal(
        expl.least_similar[:, 0], X[expl.ordered_indices[:, -1]]
    )
    assert expl.most_similar.shape == (3, 5, 64)
    frame = expl.to_frame()
    assert list(frame.columns) == [
        "sample", "rank", "ref_index", "score", "ref_label", "ref_prediction",
        "sample_label", "sample_prediction",
    ]
    assert len(frame) == 150 and list(frame["sample"].unique()) == ["a", "b", "c"]
    row = frame.iloc[51]
    assert row["ref_index"] == expl.ordered_indices[1, 1]
    assert row["ref_label"] == y[row["ref_index"]]
    assert row["sample_label"] == y[101]
    means = expl.mean()
    by_hand = frame.groupby("ref_label")["score"].mean()
    np.testing.assert_allclose(means.loc[0].to_numpy(), by_hand.to_numpy())
    assert expl.mean(by=[0, 1, 1]).shape == (2, len(np.unique(y[:50])))
    np.testing.assert_array_equal(
        gs.transform(X[100:103]), gs_df.transform(Xq)
    )


def _response_method_models():
    """(name, model, X, y): a torch module with logits, a skorch net whose
    module ends in a softmax, and a scikit-learn pipeline."""
    import zoo
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_img, y_img = zoo.digits_images(3, n=30)
    yield "torch logits", zoo.sequential("logits"), X_img, y_img
    yield "skorch", zoo.skorch_softmax_net(), X_img, y_img
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    yield "pipeline", pipe, X[:30], y[:30]


def test_explanation_records_response_method():
    """Check that the explanation records the model output the loss is taken
    on, as every explainer's (resolved_response_method), so that plots name it."""
    from skxai.base import resolved_response_method

    for name, model, X, y in _response_method_models():
        gs = GradientSimilarity(model).fit(X[:20], y[:20])
        expl = gs.explain(X[20:23])
        assert expl.response_method == resolved_response_method(gs), name
        # 'auto' of a gradient explainer is the pre-softmax scores.
        assert expl.response_method == "decision_function", name
        gs = GradientSimilarity(model, response_method="predict_proba")
        expl = gs.fit(X[:20], y[:20]).explain(X[20:23])
        assert expl.response_method == "predict_proba", name
        assert expl.response_method == resolved_response_method(gs), name


def test_gradient_similarity_n_top_and_set_output(digits, logreg):
    """Check n_top columns, their names and a pandas output."""
    X, y = digits
    gs = GradientSimilarity(logreg, n_top=4).fit(X[:40], y[:40])
    full = GradientSimilarity(logreg).fit(X[:40], y[:40]).transform(X[50:55])
    out = gs.transform(X[50:55])
    assert out.shape == (5, 4) and out.dtype.kind == "i"
    np.testing.assert_array_equal(out, full[:, :4])
    assert list(gs.get_feature_names_out()) == ["rank0", "rank1", "rank2", "rank3"]
    frame = gs.set_output(transform="pandas").transform(X[50:55])
    assert list(frame.columns) == ["rank0", "rank1", "rank2", "rank3"]
    expl = gs.explain(X[50:55])
    assert expl.scores.shape == (5, 4) and expl.least_similar.shape == (5, 5, 64)


def test_gradient_similarity_pickle_and_clone(mlp_data):
    """Check that a fitted explainer pickles and that clone shares the model."""
    net, X, y = mlp_data
    gs = GradientSimilarity(net, similarity="asym_dot").fit(X[:20], y[:20])
    again = pickle.loads(pickle.dumps(gs))
    np.testing.assert_array_equal(again.transform(X[20:]), gs.transform(X[20:]))
    assert clone(gs).model is net


def test_gradient_similarity_plot(pyplot, digits, logreg):
    """Check that plot returns the SimilarityDisplay (as Explanation.plot
    returns its Display), each image sample beside its 2 most and 2 least
    similar references, and rows of a table as tables."""
    from skxai.plotting import SimilarityDisplay

    X, y = digits
    gs = GradientSimilarity(logreg, image_shape=(8, 8)).fit(X[:30], y[:30])
    expl = gs.explain(X[40:42])
    disp = expl.plot(n_shown=2)
    assert isinstance(disp, SimilarityDisplay)
    assert disp.ax_.shape == (2, 5) and len(disp.figure_.axes) == 2 * 5
    np.testing.assert_allclose(
        disp.im_[0, 1].get_array(), X[:30][expl.ordered_indices[0, 0]].reshape(8, 8)
    )
    table = GradientSimilarity(logreg).fit(X[:30], y[:30])
    disp = table.explain(X[40:42]).plot(n_shown=2)
    assert disp.im_ is None and len(disp.tables_) == 2


# ------------------------------------------------------------------- errors
def test_gradient_similarity_reference_labels_errors(digits, logreg):
    """Check clear errors for missing, wrongly sized and unknown labels."""
    X, y = digits
    gs = GradientSimilarity(logreg)
    with pytest.raises(ValueError, match=r"requires y to be passed.*fit\(X_ref"):
        gs.fit(X[:20])
    with pytest.raises(ValueError, match="length 20"):
        gs.fit(X[:20], y[:19])
    with pytest.raises(ValueError, match=r"does not know: \[11, 12\]"):
        gs.fit(X[:20], np.r_[y[:18], 11, 12])
    gs.fit(X[:20], y[:20])
    with pytest.raises(ValueError, match=r"does not know: \[42\]"):
        gs.transform(X[:2], [1, 42])


def test_gradient_similarity_model_errors(digits):
    """Check clear errors for a model without a gradient path."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = digits
    with pytest.raises(TypeError, match="gradient path"):
        GradientSimilarity(lambda Z: np.ones((len(Z), 2))).fit(X[:5], [0] * 5)
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="black-box explainer"):
        GradientSimilarity(forest).fit(X[:5], y[:5])


def test_gradient_similarity_layer_and_n_top_errors(mlp_data):
    """Check clear errors for unknown layers and n_top beyond the references."""
    net, X, y = mlp_data
    with pytest.raises(ValueError, match=r"unknown module\(s\) \['conv9'\]"):
        GradientSimilarity(net, layers=["conv9"]).fit(X, y)
    with pytest.raises(ValueError, match=r"'n_top' .* at most .*\(30\). Got 31"):
        GradientSimilarity(net, n_top=31).fit(X, y)
    with pytest.raises(ValueError, match="'similarity' parameter"):
        GradientSimilarity(net, similarity="euclid").fit(X, y)
    with pytest.raises(ValueError, match="selects no trainable"):
        GradientSimilarity(net, layers=["1"]).fit(X, y)
    frozen = nn.Sequential(nn.Linear(10, 4)).double().requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter .* requires gradients"):
        GradientSimilarity(frozen).fit(X, y)


def test_gradient_similarity_loss_callable(mlp_data):
    """Check a per-sample loss callable, and the error for a reduced loss."""
    net, X, y = mlp_data
    mine = GradientSimilarity(
        net, loss=nn.CrossEntropyLoss(reduction="none")
    ).fit(X[:20], y[:20])
    default = GradientSimilarity(net).fit(X[:20], y[:20])
    np.testing.assert_allclose(mine.ref_sqnorm_, default.ref_sqnorm_, rtol=1e-12)
    doubled = GradientSimilarity(
        net, loss=lambda s, t: 2 * nn.functional.cross_entropy(s, t, reduction="none")
    ).fit(X[:20], y[:20])
    np.testing.assert_allclose(doubled.ref_sqnorm_, 4 * default.ref_sqnorm_)
    with pytest.raises(ValueError, match=r"one loss per sample.*reduction='none'"):
        GradientSimilarity(net, loss=nn.CrossEntropyLoss()).fit(X[:20], y[:20])


def test_gradient_similarity_zero_gradient_is_defined():
    """Check that cos and asym_dot give 0, not NaN, for a zero gradient."""
    net = nn.Linear(3, 2, bias=False).double()
    X_ref = np.zeros((1, 3))  # input 0: the weight gradient is 0
    for similarity in ("cos", "asym_dot"):
        gs = GradientSimilarity(net, similarity=similarity).fit(X_ref, [1])
        expl = gs.explain(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
        np.testing.assert_array_equal(expl.scores, [[0.0], [0.0]])
        assert gs.score(np.ones((2, 3))) in (0.0, 1.0)


def test_gradient_similarity_requires_fit_and_shapes(mlp_data):
    """Check unfitted use and inputs of the wrong width."""
    from sklearn.exceptions import NotFittedError

    net, X, y = mlp_data
    with pytest.raises(NotFittedError):
        GradientSimilarity(net).transform(X)
    gs = GradientSimilarity(net).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        gs.transform(X[:, :5])
    assert gs.transform(X[:0]).shape == (0, 30)


def test_gradient_similarity_eps_follows_alibi(mlp_data):
    """Check that eps enters the denominators as in alibi's cos and asym_dot."""
    net, X, y = mlp_data
    with torch.no_grad():
        pred = net(torch.as_tensor(X[20:])).argmax(1).numpy()
    G = _brute_grads(net, X[:20], y[:20])
    Q = _brute_grads(net, X[20:], pred)
    eps = 0.05
    gs = GradientSimilarity(net, similarity="cos", eps=eps).fit(X[:20], y[:20])
    expected = (Q @ G.T) / (
        np.outer(np.linalg.norm(Q, axis=1), np.linalg.norm(G, axis=1)) + eps
    )
    np.testing.assert_allclose(gs._similarities(X[20:], None)[2], expected, rtol=1e-9)
    gs.set_params(similarity="grad_asym_dot")
    expected = (Q @ G.T) / (np.linalg.norm(G, axis=1) ** 2 + eps)
    np.testing.assert_allclose(gs._similarities(X[20:], None)[2], expected, rtol=1e-9)
    with pytest.raises(ValueError, match="'eps' parameter"):
        GradientSimilarity(net, eps=-1.0).fit(X[:20], y[:20])


def test_gradient_similarity_skorch_net(mlp_data):
    """Check that a skorch net is explained through its fitted module."""
    skorch = pytest.importorskip("skorch")
    _, X, y = mlp_data
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 4)),
        criterion=nn.CrossEntropyLoss, max_epochs=2, train_split=None,
        verbose=0,
    ).fit(X.astype(np.float32), y)
    gs = GradientSimilarity(net, similarity="cos").fit(X[:20], y[:20])
    direct = GradientSimilarity(net.module_, similarity="cos").fit(X[:20], y[:20])
    np.testing.assert_array_equal(gs.transform(X[20:]), direct.transform(X[20:]))
    assert gs.layers_ == ["0", "2"]


@pytest.mark.parametrize("similarity", ["dot", "cos"])
def test_gradient_similarity_tabular_pipeline(similarity):
    """Check GradientSimilarity on make_pipeline(StandardScaler(),
    LogisticRegression()) with a DataFrame (it crashed with AttributeError): the
    scores equal those of the final step on the scaled data, the explanation is
    tabular with the DataFrame's column names and index, and transform keeps
    working with set_output(transform="pandas")."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.index = X.index + 1000
    ref, query = slice(0, 80), slice(80, 86)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    gs = GradientSimilarity(clf, similarity=similarity).fit(X.iloc[ref], y.iloc[ref])
    Z = clf[0].transform(X)
    bare = GradientSimilarity(clf[-1], similarity=similarity).fit(
        Z[ref], y.iloc[ref].to_numpy()
    )
    np.testing.assert_allclose(
        gs._similarities(X.iloc[query], None)[2],
        bare._similarities(Z[query], None)[2],
        rtol=1e-9, atol=1e-30,
    )
    expl = gs.explain(X.iloc[query])
    assert expl.layout.kind == "tabular"
    assert list(expl.layout.feature_names) == list(X.columns)
    assert expl.most_similar.shape == (6, 5, 30)
    np.testing.assert_allclose(
        expl.most_similar[:, 0], X.iloc[ref].to_numpy()[expl.ordered_indices[:, 0]]
    )
    frame = expl.to_frame()
    assert list(frame["sample"].unique()) == list(X.index[query])
    # the references are named by the reference DataFrame's index, as samples
    np.testing.assert_array_equal(gs.ref_index_, X.index[ref])
    np.testing.assert_array_equal(
        frame["ref_index"], X.index[ref][expl.ordered_indices.ravel()]
    )
    labels = y.to_numpy()[ref][expl.ordered_indices.ravel()]
    np.testing.assert_array_equal(frame["ref_label"], labels)
    gs.set_output(transform="pandas")
    ranks = gs.transform(X.iloc[query])
    assert list(ranks.index) == list(X.index[query])
    assert 0.0 <= gs.score(X.iloc[80:120], y.iloc[80:120]) <= 1.0


@pytest.mark.parametrize("layers", ["all", ["2"], ["1"]])
def test_non_finite_loss_or_gradient_is_an_error(layers):
    """Check that a loss that is NaN for some samples, or whose gradient is, is a
    clear error instead of rankings of meaningless similarities (hooked layers
    and the torch.func path, which LayerNorm takes)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])

    def nan_for_class_1(scores, target):
        ce = nn.functional.cross_entropy(scores, target, reduction="none")
        return ce + torch.where(target == 1, float("nan"), 0.0)  # finite gradient

    def infinite_gradient(scores, target):
        return torch.sqrt(0 * scores.gather(1, target[:, None])[:, 0])

    with pytest.raises(ValueError, match="loss of GradientSimilarity is NaN or inf"):
        GradientSimilarity(net, loss=nan_for_class_1, layers=layers).fit(X, y)
    with pytest.raises(ValueError, match="per-example gradient of the loss .* NaN"):
        GradientSimilarity(net, loss=infinite_gradient, layers=layers).fit(X, y)
    gs = GradientSimilarity(net, loss=nan_for_class_1, layers=layers)
    gs.fit(X[y != 1], y[y != 1])
    with pytest.raises(ValueError, match="for 2 of 6 samples"):
        gs.transform(X, y)


def test_bfloat16_model():
    """Check that a bfloat16 model (a dtype numpy lacks) is explained, with the
    float32 model's similarities up to bfloat16 precision."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    want = GradientSimilarity(net, similarity="cos").fit(X, y).explain(X).scores
    net_bf16 = copy.deepcopy(net).to(torch.bfloat16)
    got = GradientSimilarity(net_bf16, similarity="cos").fit(X, y).explain(X).scores
    np.testing.assert_allclose(got, want, atol=0.05)
