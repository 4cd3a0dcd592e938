"""Tests of skxai.models._adapters: one interface over every kind of model."""

import sys

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
    before = {k: (v.data_ptr(), v.stride(), v.clone()) for k, v in
              net.state_dict().items()}
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
