"""Tests of skxai.models._adapters: one interface over every kind of model."""

import copy
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from skxai.models import CallableAdapter, SklearnAdapter, TorchAdapter, check_model


def test_check_model_sklearn_auto_prefers_decision_function(digits, logreg):
    """Check that 'auto' uses decision_function when the model has one."""
    X, _ = digits
    adapter = check_model(logreg)
    assert isinstance(adapter, SklearnAdapter)
    assert adapter.resolve_response_method("auto") == "decision_function"
    np.testing.assert_allclose(adapter.scores(X[:5]), logreg.decision_function(X[:5]))
    np.testing.assert_allclose(
        adapter.scores(X[:5], "predict_proba"), logreg.predict_proba(X[:5])
    )


def test_check_model_binary_decision_becomes_two_columns(digits, binary_logreg):
    """Check that a 1-D binary decision d becomes the two scores [-d, d]."""
    X, _ = digits
    d = binary_logreg.decision_function(X[:4])
    scores = check_model(binary_logreg).scores(X[:4])
    np.testing.assert_allclose(scores, np.column_stack([-d, d]))


def test_check_model_predict_proba_only(digits):
    """Check that 'auto' falls back to predict_proba."""
    from sklearn.naive_bayes import GaussianNB

    X, y = digits
    nb = GaussianNB().fit(X, y)
    adapter = check_model(nb)
    assert adapter.resolve_response_method("auto") == "predict_proba"


def test_check_model_errors(digits):
    """Check the errors for unfitted, non-classifier and method-less models."""
    X, y = digits
    with pytest.raises(NotFittedError):
        check_model(LogisticRegression())
    with pytest.raises(TypeError, match="has neither"):
        check_model(LinearRegression().fit(X, y))
    svc = LinearSVC().fit(X[:200], y[:200])
    with pytest.raises(TypeError, match="no 'predict_proba'"):
        check_model(svc).scores(X[:2], "predict_proba")
    with pytest.raises(ValueError, match="'response_method'"):
        check_model(svc).scores(X[:2], "predict")
    with pytest.raises(TypeError, match="cannot explain"):
        check_model(42)


def test_callable_adapter_shapes(digits, logreg):
    """Check that a callable is accepted and a wrong output shape is rejected."""
    X, _ = digits
    adapter = check_model(logreg.decision_function)
    assert isinstance(adapter, CallableAdapter)
    assert adapter.scores(X[:3]).shape == (3, 10)
    assert adapter.infer_classes(X).tolist() == list(range(10))
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_classes\)"):
        check_model(lambda X: np.zeros((len(X) + 1, 3))).scores(X[:2])
    with pytest.raises(TypeError, match="no gradient path"):
        adapter.torch_forward()


def test_import_skxai_is_light():
    """Check that importing skxai and the black-box machinery needs no torch."""
    import subprocess

    code = (
        "import sys, skxai, skxai.base, skxai.models, skxai.metrics;"
        "skxai.Explanation;"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


def _torch_net():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
        torch.nn.Softmax(dim=1),
    )


def test_torch_adapter_softmax_bypass(digits):
    """Check that a final Softmax is bypassed for logits and kept for 'auto'."""
    import torch

    X, _ = digits
    net = _torch_net()
    net.train()
    adapter = check_model(net)
    assert isinstance(adapter, TorchAdapter)
    Xt = X[:5].reshape(5, 1, 8, 8).astype(np.float32)
    proba = adapter.scores(Xt)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    logits = adapter.scores(Xt, "decision_function")
    with torch.no_grad():
        expected = net[1](net[0](torch.as_tensor(Xt))).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        adapter.scores(Xt, "predict_log_proba"), np.log(proba), atol=1e-5
    )
    assert net.training, "the caller's train mode must be restored"
    forward, module, device = adapter.torch_forward()
    out = forward(torch.as_tensor(Xt))
    np.testing.assert_allclose(out.detach().numpy(), logits, rtol=1e-5, atol=1e-6)
    assert adapter.resolve_response_method("auto", gradients=True) == (
        "decision_function"
    )


@pytest.mark.parametrize("in_channels", [1, 3])
def test_torch_adapter_channels_last_scores_leave_the_module_alone(in_channels):
    """Check that conv scores on the CPU (run in channels-last layout) equal the
    module's own output and that the module's tensors are not touched."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 5 * 5, 3),
        torch.nn.Softmax(dim=1),
    ).eval()
    net[1].running_mean.normal_()
    before = {
        k: (v.data_ptr(), v.stride(), v.clone()) for k, v in net.state_dict().items()
    }
    X = np.random.RandomState(0).rand(7, in_channels, 8, 8).astype(np.float32)
    adapter = check_model(net)
    logits = adapter.scores(X, "decision_function", batch_size=3)
    proba = adapter.scores(X, "auto", batch_size=3)
    with torch.no_grad():
        expected_logits = net[:-1](torch.as_tensor(X)).numpy()
        expected = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-7)
    for k, v in net.state_dict().items():
        ptr, stride, value = before[k]
        assert v.data_ptr() == ptr and v.stride() == stride
        torch.testing.assert_close(v, value, rtol=0, atol=0)


def test_torch_adapter_tuple_output_error(digits):
    """Check that a module returning a tuple gets a clear error."""
    torch = pytest.importorskip("torch")

    class Two(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :3], x

    X, _ = digits
    with pytest.raises(ValueError, match="returned a tuple"):
        check_model(Two()).scores(X[:2].astype(np.float32))


def test_skorch_adapter(digits):
    """Check that a skorch net is explained through its module and nonlinearity."""
    pytest.importorskip("skorch")
    import torch
    from skorch import NeuralNetClassifier

    X, y = digits
    net = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(64, 10)),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    with pytest.raises(NotFittedError):
        check_model(net)
    net.fit(X.astype(np.float32), y)
    adapter = check_model(net)
    np.testing.assert_array_equal(adapter.classes_, np.arange(10))
    Xf = X[:6].astype(np.float32)
    np.testing.assert_allclose(adapter.scores(Xf), net.predict_proba(Xf), atol=1e-6)
    logits = adapter.scores(Xf, "decision_function")
    np.testing.assert_allclose(logits.argmax(1), net.predict(Xf))


def test_sklearn_adapter_mlp_logits_through_torch(digits, mlp):
    """Check that MLP logits (no sklearn method) come from the exact torch twin."""
    pytest.importorskip("torch")
    X, _ = digits
    adapter = check_model(mlp)
    assert adapter.resolve_response_method("auto") == "predict_proba"
    assert adapter.resolve_response_method("auto", gradients=True) == (
        "decision_function"
    )
    logits = adapter.scores(X[:5], "decision_function")
    shifted = logits - logits.max(1, keepdims=True)
    proba = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    np.testing.assert_allclose(proba, mlp.predict_proba(X[:5]), atol=1e-10)


def test_torch_adapter_softmax_changed_after_warns():
    """Check that a softmax the forward changes before returning it (so it cannot be
    bypassed) gives a warning naming the option, never a silent wrong gradient."""
    torch = pytest.importorskip("torch")

    class Clamped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.softmax(self.fc(x), dim=1).clamp(min=1e-6)

    X = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    adapter = check_model(Clamped())
    with pytest.warns(UserWarning, match="cannot bypass it.*response_method='auto'"):
        adapter.scores(X, "decision_function")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter.scores(X)  # 'auto' is the output as it is: nothing to warn about


@pytest.mark.parametrize("binary", [True, False])
def test_torch_adapter_follows_reshapes_of_the_final_activation(binary):
    """Check that a final sigmoid or softmax reshaped before it is returned
    (``torch.sigmoid(z).squeeze(1)``, ``softmax(z).view(n, -1)``) is bypassed."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 1 if binary else 3)

        def forward(self, x):
            if binary:
                return torch.sigmoid(self.fc(x)).squeeze(1)
            return torch.softmax(self.fc(x), dim=1).view(len(x), -1).contiguous()

    torch.manual_seed(0)
    net = Net()
    X = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    with torch.no_grad():
        z = net.fc(torch.as_tensor(X)).double().numpy()
    adapter = check_model(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logits = adapter.scores(X, "decision_function")
        proba = adapter.scores(X, "predict_proba")
    if binary:
        p = 1 / (1 + np.exp(-z))
        np.testing.assert_allclose(logits, np.hstack([-z, z]), rtol=1e-6)
        np.testing.assert_allclose(proba, np.hstack([1 - p, p]), rtol=1e-6)
    else:
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        np.testing.assert_allclose(logits, z, rtol=1e-6)
        np.testing.assert_allclose(proba, p, rtol=1e-5)


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)
def test_torch_adapter_torchscript_softmax_warns():
    """Check that a TorchScript module, whose forward cannot be watched for a final
    softmax, gets a warning for the logits it cannot find."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).eval()
    X = np.random.RandomState(0).rand(5, 4).astype(np.float32)
    adapter = check_model(torch.jit.script(net))
    with pytest.warns(UserWarning, match="TorchScript.*cannot be found and bypassed"):
        out = adapter.scores(X, "decision_function")
    with torch.no_grad():
        np.testing.assert_allclose(out, net(torch.as_tensor(X)).numpy(), atol=1e-7)


def test_torch_forward_bypasses_softmax_under_torch_func():
    """Check that the watched forward works under torch.func (vmap of grad), as
    per-example gradients use it, and gives the logits' gradients."""
    torch = pytest.importorskip("torch")
    from torch.func import functional_call, grad, vmap

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.nn.functional.softmax(self.fc(x), dim=-1)

    class Wrapper(torch.nn.Module):  # runs the adapter's forward on the module
        def __init__(self, forward, module):
            super().__init__()
            self.module, self._forward = module, forward

        def forward(self, x):
            return self._forward(x)

    torch.manual_seed(0)
    forward, module, _ = check_model(Net()).torch_forward()
    wrapper = Wrapper(forward, module)
    params = {f"module.{k}": v.detach() for k, v in module.named_parameters()}
    x = torch.randn(5, 4)

    def logit(p, xi):
        return functional_call(wrapper, p, (xi[None],))[0, 1]

    grads = vmap(grad(logit), in_dims=(None, 0))(params, x)
    expected = torch.zeros(5, 3, 4)
    expected[:, 1] = x
    torch.testing.assert_close(grads["module.fc.weight"], expected)


def test_eval_mode_is_shared_between_threads():
    """Check that eval_mode is one reference-counted session per module: a thread
    leaving early does not put the module back in train mode under another."""
    torch = pytest.importorskip("torch")
    import threading

    from skxai.models._adapters import eval_mode

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout()).train()
    inside, release, seen = threading.Event(), threading.Event(), []

    def worker():
        with eval_mode(net):
            inside.set()
            release.wait(5)
            seen.append(net.training or net[1].training)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    with eval_mode(net):
        assert not net[1].training
    assert not net[1].training, "the other thread is still explaining"
    release.set()
    thread.join()
    assert seen == [False]
    assert net.training and net[1].training


def test_eval_mode_restores_mode_and_buffers_after_an_error():
    """Check that the mode, the buffer objects and their values come back exactly,
    also when the forward writes into a buffer, replaces one, and then raises."""
    torch = pytest.importorskip("torch")

    class Writes(torch.nn.Module):
        def __init__(self, fail):
            super().__init__()
            self.fail = fail
            self.bn = torch.nn.BatchNorm1d(3)
            self.register_buffer("calls", torch.zeros(()))
            self.register_buffer("scale", torch.ones(3))

        def forward(self, x):
            self.calls += 1
            self.scale = self.scale * 2
            self.bn.running_mean.add_(1.0)
            if self.fail:
                raise RuntimeError("boom")
            return self.bn(x) * self.scale

    X = np.random.RandomState(0).rand(4, 3).astype(np.float32)
    for fail in (False, True):
        net = Writes(fail).train()
        net.bn.running_mean.normal_()
        before = {k: (v, v.clone()) for k, v in net.state_dict(keep_vars=True).items()}
        if fail:
            with pytest.raises(RuntimeError, match="boom"):
                check_model(net).scores(X)
        else:
            check_model(net).scores(X)
        assert net.training and net.bn.training
        after = net.state_dict(keep_vars=True)
        for k, (tensor, value) in before.items():
            assert after[k] is tensor, k
            torch.testing.assert_close(after[k], value, rtol=0, atol=0)


def test_model_non_finite_outputs_raise(digits, logreg):
    """Check that NaN or infinite model outputs raise an error naming the model
    call, and that inputs overflowing float32 for a float32 model raise."""
    torch = pytest.importorskip("torch")
    X, _ = digits

    class Inf(torch.nn.Module):
        def forward(self, x):
            out = x.flatten(1)[:, :3].clone()
            out[0, 1] = float("inf")
            return out

    Xt = X[:3].astype(np.float32)
    with pytest.raises(ValueError, match=r"Inf\.forward\(X\) returned NaN or inf"):
        check_model(Inf()).scores(Xt)
    forward, _, _ = check_model(Inf()).torch_forward()
    with pytest.raises(ValueError, match="returned NaN or infinite scores"):
        forward(torch.as_tensor(Xt))
    with pytest.raises(ValueError, match="overflow to infinity"):
        check_model(torch.nn.Linear(64, 3)).scores(np.full((2, 64), 1e39))
    with pytest.raises(ValueError, match=r"<lambda>\(X\) returned NaN"):
        check_model(lambda X: np.full((len(X), 2), np.nan)).scores(X[:2])
    broken = copy.deepcopy(logreg)
    broken.coef_[0, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"LogisticRegression\.decision_function\(X\) returned NaN"
    ):
        check_model(broken).scores(X[:2])
    from skxai import Saliency

    with pytest.raises(ValueError, match="returned NaN or infinite"):
        Saliency(Inf()).fit(Xt.reshape(3, 1, 8, 8))
    with pytest.raises(ValueError, match="overflow to infinity"):
        Saliency(torch.nn.Linear(64, 3)).fit(X[:2]).transform(np.full((1, 64), 1e39))

    class NaNRows(torch.nn.Module):  # NaN scores for the samples with x0 > 0.5
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) * torch.where(x[:, :1] > 0.5, float("nan"), 1.0)

    from skxai import GradientSimilarity

    Xn = np.array([[0.1, 0, 0, 0], [0.9, 0, 0, 0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"NaNRows\.forward\(X\) returned NaN"):
        GradientSimilarity(NaNRows()).fit(Xn, np.array([0, 1]))


def test_reordered_dataframe_columns_are_refused(digits):
    """Check that a model fitted on a DataFrame, explained with its columns in
    another order, raises instead of relabelling them."""
    pd = pytest.importorskip("pandas")
    from skxai import Occlusion, Saliency

    X, y = digits
    columns = [f"p{i}" for i in range(64)]
    df = pd.DataFrame(X[:300], columns=columns)
    model = LogisticRegression(max_iter=200).fit(df, y[:300])
    reversed_df = df[columns[::-1]]
    for explainer in (Saliency(model), Occlusion(model, window=4, image_shape=(8, 8))):
        with pytest.raises(ValueError, match="same order as they were in fit"):
            explainer.fit(reversed_df)
        explainer.fit(df)  # the model's order is fine
    with pytest.raises(ValueError, match="same order"):
        check_model(model).scores(reversed_df)
    with pytest.raises(ValueError, match="columns the model was fitted on"):
        Saliency(model).fit(df.rename(columns={"p0": "other"}))
    np.testing.assert_allclose(
        check_model(model).scores(df[:5]), model.decision_function(df[:5])
    )


def test_sklearn_mlp_negative_strides_and_batch_size(digits, mlp):
    """Check that arrays with negative strides work for gradient explainers on an
    MLPClassifier, and that its torch logits are computed batch_size at a time."""
    pytest.importorskip("torch")
    from skxai import IntegratedGradients, Saliency

    X, _ = digits
    Xr = X[:10][::-1]
    for explainer in (Saliency(mlp), IntegratedGradients(mlp, n_steps=4)):
        explainer.fit(X[:20])
        np.testing.assert_allclose(
            explainer.transform(Xr), explainer.transform(np.ascontiguousarray(Xr))
        )
    adapter = check_model(mlp)
    sizes = []
    module, _, _ = adapter.torch_forward("decision_function")
    handle = module.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    try:
        out = adapter.scores(Xr, "decision_function", batch_size=4)
    finally:
        handle.remove()
    assert sizes == [4, 4, 2]
    np.testing.assert_allclose(
        out, adapter.scores(np.ascontiguousarray(Xr), "decision_function")
    )


@pytest.mark.parametrize("n", [1, 3])
def test_reversed_arrays_reach_torch(digits, mlp, n):
    """Check that X[::-1] (and its one-row slices, which numpy calls contiguous
    but torch refuses) is fitted and explained like its copy, on a torch module
    and an MLPClassifier, by gradient and black-box explainers and metrics."""
    torch = pytest.importorskip("torch")
    from skxai import CEM, GradientSimilarity, Occlusion, Saliency
    from skxai.metrics import deletion_score

    X, y = digits
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 10)).double()
    Xr, yr = X[:n][::-1], y[:n][::-1]
    Xc = np.ascontiguousarray(Xr)
    for model in (net, mlp):
        for make in (
            lambda: Saliency(model),
            lambda: Occlusion(model, window=8, image_shape=(8, 8)),
            lambda: GradientSimilarity(model),
            lambda: CEM(model, max_iter=2, c_steps=1, random_state=0),
        ):
            got = make().fit(Xr, yr).transform(Xr)
            np.testing.assert_allclose(got, make().fit(Xc, yr.copy()).transform(Xc))
        np.testing.assert_allclose(
            deletion_score(model, Xr, Xr), deletion_score(model, Xc, Xc)
        )


def test_skorch_module_with_several_outputs_uses_the_first():
    """Check that a skorch net whose module returns several outputs is explained
    through the first, as skorch's predict_proba does, softmax bypassed."""
    pytest.importorskip("skorch")
    import torch
    from skorch import NeuralNetClassifier

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            z = self.fc(x)
            return torch.nn.functional.softmax(z, dim=-1), z.abs().mean()

    class Net(NeuralNetClassifier):
        def get_loss(self, y_pred, y_true, *args, **kwargs):
            return super().get_loss(y_pred[0], y_true, *args, **kwargs)

    torch.manual_seed(0)
    X = np.random.RandomState(0).rand(30, 4).astype(np.float32)
    net = Net(Two, max_epochs=1, train_split=None, verbose=0).fit(X, np.arange(30) % 3)
    adapter = check_model(net)
    np.testing.assert_allclose(adapter.scores(X), net.predict_proba(X), atol=0)
    with torch.no_grad():
        logits = net.module_.fc(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(adapter.scores(X, "decision_function"), logits, atol=0)


def test_sklearn_and_callable_scores_respect_batch_size():
    """Check that scikit-learn models and callables get at most batch_size rows
    per call (DataFrames too), with the same scores as one call, and that an
    explainer's own prediction pass on X honours its batch_size."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from skxai import Occlusion
    from skxai.models import check_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(11, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    sizes = []

    class Counting(LogisticRegression):
        def predict_proba(self, X):
            sizes.append(len(X))
            return super().predict_proba(X)

    clf = Counting().fit(X, y)
    sizes.clear()
    adapter = check_model(clf)
    got = adapter.scores(X, "predict_proba", batch_size=4)
    assert sizes == [4, 4, 3]
    np.testing.assert_array_equal(got, LogisticRegression().fit(X, y).predict_proba(X))

    def f(Z):
        sizes.append(len(Z))
        return np.asarray(Z)[:, :2]

    sizes.clear()
    out = check_model(f).scores(X.to_numpy(), batch_size=5)
    assert sizes == [5, 5, 1]
    np.testing.assert_array_equal(out, X.to_numpy()[:, :2])
    occ = Occlusion(f, batch_size=2).fit(X.to_numpy())
    sizes.clear()
    occ.explain(X.to_numpy()[:5])
    assert max(sizes) <= 2


def test_softmax_by_hand_is_reported():
    """Check that a forward returning probabilities computed by hand (exp / sum,
    no softmax call to bypass) is said to be explained as it is, for gradients
    and predict_proba, while a logit model's is not."""
    torch = pytest.importorskip("torch")
    from skxai import Saliency

    class HandSoftmax(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            z = self.linear(x)
            e = torch.exp(z - z.max(dim=1, keepdim=True).values)
            return e / e.sum(dim=1, keepdim=True)

    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match="look like probabilities .* exp / sum"):
        Saliency(HandSoftmax()).fit(X)
    with pytest.warns(UserWarning, match="response_method='predict_proba'"):
        check_model(HandSoftmax()).scores(X, "predict_proba")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Saliency(torch.nn.Linear(4, 3)).fit(X).transform(X)


def test_softmax_by_hand_check_is_skipped_under_torch_func():
    """Check that the probabilities check does not break torch.func (vmap)
    per-example gradients: GradientSimilarity of a net with BatchNorm."""
    torch = pytest.importorskip("torch")
    from skxai import GradientSimilarity

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 3)
    ).eval()
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    gs = GradientSimilarity(net, layers=["1"]).fit(X, np.arange(6) % 3)
    assert [plan.op for plan in gs.plans_] == ["func"]
    assert gs.transform(X).shape == (6, 6)


@pytest.mark.parametrize("after", ["double", "clone", "log_double"])
def test_softmax_followed_by_a_copy_or_cast_is_bypassed(after):
    """Check that a final softmax whose result is only copied or cast before it
    is returned (probs.double(), probs.clone()) is still found and bypassed:
    gradients of the logit, the model's own probabilities, no warning."""
    torch = pytest.importorskip("torch")
    from skxai import Saliency

    class CastProbabilities(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            p = torch.softmax(self.linear(x), dim=1)
            if after == "log_double":
                return torch.log(p.double())
            return p.double() if after == "double" else p.clone()

    torch.manual_seed(0)
    model = CastProbabilities()
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    x = torch.as_tensor(X).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.linear(x)[:, 0].sum(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = Saliency(model, target=0).fit(X).transform(X)
        proba = check_model(model).scores(X, "predict_proba")
    np.testing.assert_allclose(maps, grad.numpy(), rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        expected = model(torch.as_tensor(X)).double()
    expected = expected.exp() if after == "log_double" else expected
    np.testing.assert_allclose(proba, expected.numpy(), rtol=1e-6)
