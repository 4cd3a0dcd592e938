"""The model zoo through the adapters, explainers and metrics.

Every kind of network people hand us (``tests/zoo.py``): an ``nn.Sequential``
ending in logits, ``nn.Softmax`` or ``nn.LogSoftmax``; custom modules ending in a
functional softmax, a log-softmax or a softmax attribute; skorch nets on them with
the default ``NLLLoss``; CNNs flattening with ``.view()``; ResNet-18- and VGG-shaped
nets (in-place ReLUs); a train-mode net with BatchNorm and Dropout; single-logit
binary models, plain and through skorch.
"""

import copy

import numpy as np
import pytest
import zoo

from skxai import RISE, Occlusion, Saliency
from skxai.metrics import deletion_score
from skxai.metrics._common import MetricModel
from skxai.models import check_model

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


_SKORCH = {}


def _skorch(name):
    """skorch nets are trained once per test session (2 epochs)."""
    if name not in _SKORCH:
        pytest.importorskip("skorch")
        if name == "skorch_nll":
            _SKORCH[name] = zoo.skorch_softmax_net("F.softmax")
        else:
            _SKORCH[name] = zoo.skorch_binary_net()
    return _SKORCH[name]


def _softmax(z):
    return torch.softmax(z, dim=1)


def _binary(z):
    return torch.cat([-z, z], dim=1)


def _binary_proba(z):
    p = torch.sigmoid(z)
    return torch.cat([1 - p, p], dim=1)


# name -> (build, hand logits(model, x), hand probabilities(model, x, X)):
# the hand functions compute on an eval-mode deep copy of the model.
ZOO = {
    "seq_logits": (
        lambda: zoo.sequential("logits"),
        lambda m, x: m(x),
        lambda m, x, X: _softmax(m(x)),
    ),
    "seq_softmax": (
        lambda: zoo.sequential("softmax"),
        lambda m, x: m[:-1](x),
        lambda m, x, X: m(x),
    ),
    "seq_log_softmax": (
        lambda: zoo.sequential("log_softmax"),
        lambda m, x: m[:-1](x),
        lambda m, x, X: m(x).exp(),
    ),
    **{
        final: (
            lambda final=final: zoo.softmax_net(final),
            lambda m, x: m.logits(x),
            (lambda m, x, X: m(x).exp()) if "log" in final else (lambda m, x, X: m(x)),
        )
        for final in zoo.FINALS
    },
    "skorch_nll": (
        lambda: _skorch("skorch_nll"),
        lambda m, x: m.module_.logits(x),
        lambda m, x, X: torch.as_tensor(m.predict_proba(X)),
    ),
    "view_size": (
        lambda: zoo.view_cnn("size"),
        lambda m, x: m(x),
        lambda m, x, X: _softmax(m(x)),
    ),
    "view_k": (
        lambda: zoo.view_cnn("k"),
        lambda m, x: m(x),
        lambda m, x, X: _softmax(m(x)),
    ),
    "resnet": (
        lambda: zoo.resnet18(num_classes=3, width=4, in_channels=1),
        lambda m, x: m(x),
        lambda m, x, X: _softmax(m(x)),
    ),
    "vgg": (
        lambda: zoo.vgg(num_classes=3, in_channels=1),
        lambda m, x: m(x),
        lambda m, x, X: _softmax(m(x)),
    ),
    "train_mode": (
        zoo.train_mode_net,
        lambda m, x: m(x),
        lambda m, x, X: _softmax(m(x)),
    ),
    "binary": (
        lambda: zoo.binary_net(),
        lambda m, x: _binary(m.logit(x)),
        lambda m, x, X: _binary_proba(m.logit(x)),
    ),
    "binary_sigmoid": (
        lambda: zoo.binary_net(sigmoid=True),
        lambda m, x: _binary(m.logit(x)),
        lambda m, x, X: torch.cat([1 - m(x), m(x)], dim=1),
    ),
    "skorch_binary": (
        lambda: _skorch("skorch_binary"),
        lambda m, x: _binary(m.module_.logit(x)),
        lambda m, x, X: torch.as_tensor(m.predict_proba(X)),
    ),
}


def _data(name, n=6):
    X, _ = zoo.digits_images(2 if "binary" in name else 3)
    return X[::37][:n]  # a few of each class


def _module(model):
    return getattr(model, "module_", model)


def _eval_copy(model):
    """An eval-mode deep copy of the model (the hand computations run on it)."""
    if hasattr(model, "module_"):
        return model  # skorch nets here are in eval mode after fit
    return copy.deepcopy(model).eval()


def _state(model):
    """Everything explaining must leave as it was: modes, tensors, hooks, layout."""
    module = _module(model)
    tensors = {
        name: (t.data_ptr(), t.stride(), t.detach().clone())
        for name, t in (*module.named_parameters(), *module.named_buffers())
    }
    modes = [m.training for m in module.modules()]
    hooks = [
        (
            len(m._forward_hooks),
            len(m._forward_pre_hooks),
            len(m._backward_hooks),
        )
        for m in module.modules()
    ]
    grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
    return tensors, modes, hooks, grads


def _assert_same_state(before, model):
    after = _state(model)
    tensors, modes, hooks, grads = before
    assert after[1] == modes, "training flags changed"
    assert after[2] == hooks, "hooks left behind"
    for new, old in zip(after[3], grads, strict=True):
        assert (new is None) == (old is None), "a parameter's .grad changed"
        if new is not None:
            torch.testing.assert_close(new, old, rtol=0, atol=0)
    assert after[0].keys() == tensors.keys()
    for name, (ptr, stride, value) in tensors.items():
        new_ptr, new_stride, new_value = after[0][name]
        assert (new_ptr, new_stride) == (ptr, stride), name
        torch.testing.assert_close(new_value, value, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_saliency_is_the_logit_gradient(name):
    """Check that Saliency's map is the hand torch.autograd.grad of the explained
    logit, for the predicted class and for every class (binary: class 0 is -z)."""
    build, logits, _ = ZOO[name]
    model = build()
    X = _data(name)
    before = _state(model)
    sal = Saliency(model, target="all").fit(X)
    assert sal.response_method_ == "decision_function"
    maps = sal.explain(X).maps
    assert maps.shape == (len(X), len(sal.classes_), 1, 8, 8)
    x = torch.as_tensor(X).requires_grad_(True)
    z = logits(_eval_copy(model), x)
    assert z.shape == (len(X), len(sal.classes_))
    for c in range(z.shape[1]):
        (grad,) = torch.autograd.grad(z[:, c].sum(), x, retain_graph=True)
        np.testing.assert_allclose(maps[:, c], grad.numpy(), rtol=1e-5, atol=1e-7)
    predicted = Saliency(model).fit(X).explain(X)
    np.testing.assert_array_equal(
        predicted.predictions, sal.classes_[z.detach().numpy().argmax(1)]
    )
    _assert_same_state(before, model)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_predict_proba_is_the_models_own(name):
    """Check that predict_proba is the model's (or skorch's) own probabilities,
    never softmaxed again, for the adapter and the metrics alike."""
    build, logits, proba = ZOO[name]
    model = build()
    X = _data(name)
    adapter = check_model(model)
    with torch.no_grad():
        m = _eval_copy(model)
        x = torch.as_tensor(X)
        expected = proba(m, x, X).double().numpy()
        expected_logits = logits(m, x).double().numpy()
    got = adapter.scores(X, "predict_proba")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(
        adapter.scores(X, "predict_log_proba"), np.log(expected), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        adapter.scores(X, "decision_function"), expected_logits, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        MetricModel(model, "test").proba(X, 4), expected, rtol=1e-5, atol=1e-7
    )
    if hasattr(model, "module_"):  # skorch: 'auto' is net.predict_proba
        np.testing.assert_allclose(adapter.scores(X), model.predict_proba(X), atol=0)
    np.testing.assert_array_equal(adapter.infer_classes(X), np.arange(got.shape[1]))


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_black_box_explainers_and_metrics_run(name):
    """Check that Occlusion, RISE and the deletion score run on every zoo model,
    give finite values, and leave the model exactly as it came."""
    build, _, _ = ZOO[name]
    model = build()
    X = _data(name, n=4)
    before = _state(model)
    occ = Occlusion(model, window=(4, 4), stride=(4, 4)).fit(X)
    maps = occ.transform(X)
    assert maps.shape == (len(X), 64) and np.isfinite(maps).all()
    rise = RISE(model, n_masks=32, grid_size=4, random_state=0).fit(X)
    assert np.isfinite(rise.transform(X)).all()
    scores = deletion_score(model, X, maps.reshape(X.shape), n_steps=8)
    assert scores.shape == (len(X),) and np.isfinite(scores).all()
    assert np.isfinite(occ.score(X))
    _assert_same_state(before, model)


@pytest.mark.parametrize(
    "name", ["train_mode", "F.softmax", "view_size", "binary", "resnet"]
)
def test_zoo_n_jobs_two_equals_one(name):
    """Check that n_jobs=2 (threads) gives the n_jobs=1 maps and leaves the model's
    mode, buffers, parameters and hooks untouched (a train-mode BatchNorm+Dropout
    net is explained in eval mode and comes back in train mode)."""
    build, _, _ = ZOO[name]
    model = build()
    X = _data(name, n=8)
    before = _state(model)
    for make in (
        lambda n_jobs: RISE(
            model,
            n_masks=32,
            grid_size=4,
            random_state=0,
            batch_size=8,
            n_jobs=n_jobs,
        ),
        lambda n_jobs: Saliency(model, batch_size=2, n_jobs=n_jobs),
        lambda n_jobs: Occlusion(
            model, window=(2, 2), stride=(2, 2), batch_size=16, n_jobs=n_jobs
        ),
    ):
        one = make(1).fit(X).transform(X)
        two = make(2).fit(X).transform(X)
        np.testing.assert_allclose(two, one, rtol=1e-6, atol=1e-7)
        _assert_same_state(before, model)
    if name == "train_mode":
        assert model.training and model[1].training and model[3].training


@pytest.mark.parametrize("flatten", ["size", "k"])
def test_zoo_view_cnn_under_the_channels_last_path(flatten):
    """Check that a CNN flattening with .view() runs where the channels-last speed
    path would break it: scores equal the module's own, the path is switched
    off for that adapter, and a CNN that can take it keeps it."""
    model = zoo.view_cnn(flatten)
    X = _data("view")
    adapter = check_model(model)
    before = _state(model)
    got = adapter.scores(X, "decision_function", batch_size=4)
    with torch.no_grad():
        expected = model(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert adapter._channels_last is False
    np.testing.assert_allclose(adapter.scores(X), expected, rtol=1e-5, atol=1e-7)
    _assert_same_state(before, model)
    flat = zoo.train_mode_net().eval()
    flat_adapter = check_model(flat)
    with torch.no_grad():
        expected = flat(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(flat_adapter.scores(X), expected, rtol=1e-5, atol=1e-6)
    assert flat_adapter._channels_last is True


@pytest.mark.parametrize(
    "name",
    ["seq_softmax", "F.softmax", "F.log_softmax", "skorch_nll", "binary_sigmoid"],
)
def test_zoo_predict_proba_keeps_the_softmax(name):
    """Check that response_method='predict_proba' explains the probabilities: the
    gradient of the model's own probability, not of the logit."""
    build, _, proba = ZOO[name]
    model = build()
    X = _data(name)
    sal = Saliency(model, response_method="predict_proba", target="all").fit(X)
    assert sal.response_method_ == "predict_proba"
    maps = sal.explain(X).maps
    x = torch.as_tensor(X).requires_grad_(True)
    if hasattr(model, "module_"):  # skorch: NLLLoss nets output probabilities
        p = model.module_(x)
    else:
        p = proba(_eval_copy(model), x, X)
    for c in range(p.shape[1]):
        (grad,) = torch.autograd.grad(p[:, c].sum(), x, retain_graph=True)
        np.testing.assert_allclose(maps[:, c], grad.numpy(), rtol=1e-5, atol=1e-8)


def test_zoo_skorch_binary_without_nonlinearity_gives_two_logit_scores():
    """Check that a NeuralNetBinaryClassifier whose predict_nonlinearity is None
    (one raw logit z per sample) is scored as the two classes [-z, z]."""
    net = _skorch("skorch_binary")
    X = _data("binary")
    with torch.no_grad():
        z = net.module_.logit(torch.as_tensor(X)).double().numpy()
    net.set_params(predict_nonlinearity=None)
    try:
        scores = check_model(net).scores(X)
    finally:
        net.set_params(predict_nonlinearity="auto")
    np.testing.assert_allclose(scores, np.hstack([-z, z]), atol=0)


def test_zoo_explaining_inside_inference_mode():
    """Check that explainers and metrics called inside the user's
    torch.inference_mode() give the results they give outside it (gradients
    are taken outside inference mode; a torch error before)."""
    from skxai import (
        GradCAM,
        GradientSimilarity,
        GuidedBackprop,
        IntegratedGradients,
        SmoothGrad,
    )
    from skxai.metrics import model_randomization_check

    model = zoo.view_cnn()
    X = _data("view", n=4)
    y = np.array([0, 1, 2, 0])
    makers = [
        lambda: Saliency(model),
        lambda: IntegratedGradients(model, n_steps=4),
        lambda: GuidedBackprop(model),
        lambda: GradCAM(model),
        lambda: SmoothGrad(Saliency(model), n_samples=2, random_state=0),
        lambda: GradientSimilarity(model),
    ]
    expected = [make().fit(X, y).transform(X) for make in makers]
    randomized = model_randomization_check(Saliency(model).fit(X), X)
    before = _state(model)
    with torch.inference_mode():
        for make, want in zip(makers, expected, strict=True):
            np.testing.assert_allclose(make().fit(X, y).transform(X), want)
        got = model_randomization_check(Saliency(model).fit(X), X)
    np.testing.assert_allclose(got["spearman"], randomized["spearman"])
    _assert_same_state(before, model)
