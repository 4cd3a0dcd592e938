"""Tests of GradCAM and GuidedGradCAM."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import zoo
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from skxai import GradCAM, GuidedBackprop, GuidedGradCAM
from skxai.saliency._cam import ZeroMapWarning

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
nn = torch.nn
F = nn.functional

# Captum's maps on tests/zoo.py's networks (benchmarks/make_reference_backprop.py).
REFERENCE = (
    Path(__file__).resolve().parents[2] / "benchmarks/data/reference_backprop.npz"
)


def _conv_net(pool=False, in_channels=1):
    """conv -> relu -> conv -> relu (-> maxpool) -> linear, in float64, on 6x6."""
    torch.manual_seed(0)
    side = 3 if pool else 6
    layers = [
        nn.Conv2d(in_channels, 3, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(3, 2, 3, padding=1),
        nn.ReLU(),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(2 * side * side, 3)]
    return nn.Sequential(*layers).double()


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).rand(8, 1, 6, 6)


def _hand_cam(net, X, c, relu=True):
    """Grad-CAM of layer '2' (the last conv) written out from its definition."""
    A = net[:3](torch.as_tensor(X)).detach().numpy()  # (n, 2, 6, 6)
    W = net[-1].weight.detach().numpy()[c].reshape(2, 6, 6)
    dA = W * (A > 0)  # d score / d A through relu and the linear head
    alpha = dA.mean(axis=(2, 3))  # (n, 2)
    cam = np.einsum("nk,nkij->nij", alpha, A)
    return np.maximum(cam, 0) if relu else cam


@pytest.mark.parametrize("relu", [True, False])
def test_gradcam_matches_hand_formula(X, relu):
    """Check Grad-CAM on a tiny conv net against the formula computed by hand."""
    net = _conv_net()
    cam = GradCAM(net, layer="2", relu=relu, target="all").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroMapWarning)
        maps = cam.explain(X).maps
    assert maps.shape == (8, 3, 1, 6, 6)
    for c in range(3):
        np.testing.assert_allclose(
            maps[:, c, 0], _hand_cam(net, X, c, relu), rtol=1e-10, atol=1e-12
        )


def test_gradcam_auto_layer_and_module_layer(X):
    """Check 'auto' picks the last conv/pool layer, and a module maps to its name."""
    net = _conv_net(pool=True)
    assert GradCAM(net).fit(X).layer_ == "4"
    assert GradCAM(_conv_net()).fit(X).layer_ == "2"
    assert GradCAM(net, layer=net[2]).fit(X).layer_ == "2"
    cam = clone(GradCAM(net, layer="0"))
    assert cam.model is net
    assert cam.set_params(layer="2").fit(X).layer_ == "2"


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_gradcam_upsampled_to_input_size(X, mode):
    """Check the pooled 3x3 map is upsampled to 6x6 as interpolate says."""
    net = _conv_net(pool=True)
    up = GradCAM(net, interpolate=mode, relu=False, target=1).fit(X)
    maps = up.explain(X).maps[:, 0, 0]
    acts = net[:5](torch.as_tensor(X)).detach()
    W = net[-1].weight.detach()[1].reshape(2, 3, 3)
    cam = (W.mean(dim=(1, 2)).view(1, 2, 1, 1) * acts).sum(1, keepdim=True)
    if mode == "nearest":
        expected = np.kron(cam[:, 0].numpy(), np.ones((2, 2)))
    else:
        expected = F.interpolate(cam, size=(6, 6), mode=mode)[:, 0].numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-10, atol=1e-12)


def test_gradcam_flat_and_multichannel_inputs(X):
    """Check flat inputs (image_shape) and maps repeated over input channels."""
    net = _conv_net()
    reference = GradCAM(net, relu=False, target=0).fit(X).transform(X)
    flat = nn.Sequential(nn.Unflatten(1, (1, 6, 6)), net)
    cam = GradCAM(flat, relu=False, target=0, image_shape=(6, 6))
    maps = cam.fit(X.reshape(8, 36))
    assert maps.layer_ == "1.2"
    np.testing.assert_allclose(maps.transform(X.reshape(8, 36)), reference)
    with pytest.raises(ValueError, match=r"'1.2' \(6x6\).*table.*image_shape="):
        GradCAM(flat, relu=False).fit(X.reshape(8, 36))
    rgb = _conv_net(in_channels=3)
    X3 = np.random.RandomState(1).rand(4, 3, 6, 6)
    out = GradCAM(rgb, relu=False).fit(X3).explain(X3).maps
    assert out.shape == (4, 1, 3, 6, 6)
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])


def test_gradcam_zero_map_warning(X):
    """Check the warning when no activation raises the class score."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(72, 2)
    ).double()
    with torch.no_grad():
        net[0].weight.abs_()
        net[0].bias.abs_()
        net[3].weight.abs_().neg_()
    cam = GradCAM(net, layer="1", target=0).fit(X)
    with pytest.warns(ZeroMapWarning, match="8 of 8 samples.*layer '1'.*relu=False"):
        maps = cam.transform(X)
    assert np.all(maps == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroMapWarning)
        assert np.all(cam.set_params(relu=False).transform(X) < 0)


def test_guided_gradcam_is_guided_backprop_times_cam(X):
    """Check Guided Grad-CAM equals guided backprop times the upsampled CAM."""
    net = _conv_net(pool=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroMapWarning)
        ggc = GuidedGradCAM(net, target="all").fit(X).transform(X)
        cam = GradCAM(net, target="all").fit(X).transform(X)
    gbp = GuidedBackprop(net, target="all").fit(X).transform(X)
    np.testing.assert_allclose(ggc, gbp * cam, rtol=1e-10, atol=1e-14)


def test_gradcam_n_jobs_batch_size_and_mode(X):
    """Check n_jobs/batch_size invariance and that train mode comes back."""
    net = _conv_net(pool=True).train()
    one = GradCAM(net, relu=False, target="all").fit(X).transform(X)
    two = GradCAM(net, relu=False, target="all", n_jobs=2, batch_size=3).fit(X)
    np.testing.assert_allclose(two.transform(X), one, rtol=1e-12)
    assert all(m.training for m in net.modules())
    assert all(not m._forward_hooks for m in net.modules())


def test_gradcam_unknown_layer(X):
    """Check that an unknown layer name lists the candidates."""
    with pytest.raises(ValueError, match=r"'layer'.*'conv9'.*\['0', '1', '2', '3'\]"):
        GradCAM(_conv_net(), layer="conv9").fit(X)
    with pytest.raises(ValueError, match="not one of its submodules"):
        GradCAM(_conv_net(), layer=nn.Conv2d(1, 1, 1)).fit(X)


def test_gradcam_layer_without_spatial_output(X):
    """Check the error for a layer with no spatial output."""
    with pytest.raises(ValueError, match=r"spatial output.*'5' returns \(1, 3\)"):
        GradCAM(_conv_net(), layer="5").fit(X)


def test_gradcam_model_without_spatial_layer(digits):
    """Check the error for a model with no spatial layer at all."""
    Xd, y = digits
    clf = LogisticRegression(max_iter=50).fit(Xd[:100], y[:100])
    with pytest.raises(ValueError, match="no module of this model returns one"):
        GradCAM(clf).fit(Xd[:10])


@pytest.mark.parametrize("side, layer", [(64, "layer4"), (32, "layer3")])
def test_gradcam_auto_layer_resnet(side, layer):
    """Check 'auto' picks the last ResNet stage whose output is larger than 1x1.

    The stem and three stride-2 stages divide the side by 32: layer4 is 2x2 on
    64x64 inputs, 1x1 (a constant map) on 32x32 ones, where layer3 is 2x2. The
    1x1 avgpool and the twice-called ReLU modules are never chosen.
    """
    model = zoo.resnet18(width=4).double()
    X = zoo.images(3, (3, side, side)).astype(np.float64)
    cam = GradCAM(model, relu=False).fit(X)
    assert cam.layer_ == layer
    maps = cam.explain(X).maps[:, 0, 0]
    assert all(np.ptp(m) > 0 for m in maps)
    explicit = GradCAM(model, layer=layer, relu=False).fit(X).explain(X).maps
    np.testing.assert_array_equal(maps, explicit[:, 0, 0])


def test_gradcam_auto_layer_ignores_other_threads():
    """Check that the forwards of other threads during fit's probe do not count
    as runs of a layer ('auto' saw every layer run twice and refused the model),
    and that GuidedBackprop's probe is not confused either."""
    inner = zoo.resnet18(width=4).double()
    model = zoo.forwards_in_another_thread_too(inner)
    X = zoo.images(2, (3, 64, 64)).astype(np.float64)
    cam = GradCAM(model, relu=False).fit(X)
    assert cam.layer_ == "inner.layer4"
    np.testing.assert_allclose(
        cam.transform(X), GradCAM(inner, relu=False).fit(X).transform(X)
    )
    np.testing.assert_allclose(
        GuidedBackprop(model).fit(X).transform(X),
        GuidedBackprop(inner).fit(X).transform(X),
    )


def test_gradcam_auto_layer_vgg():
    """Check 'auto' on the VGG shape: its 2x2 avgpool, the same map as features."""
    model = zoo.vgg().double()
    X = zoo.images(3, (3, 16, 16)).astype(np.float64)
    cam = GradCAM(model, relu=False, target="all").fit(X)
    assert cam.layer_ == "avgpool"
    features = GradCAM(model, layer="features", relu=False, target="all").fit(X)
    np.testing.assert_allclose(
        cam.transform(X), features.transform(X), rtol=1e-10, atol=1e-15
    )


def test_gradcam_auto_layer_needs_spatial_extent():
    """Check the error when every spatial layer is 1x1 (maps would be constant)."""
    net = nn.Sequential(
        nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(2, 3)
    ).double()
    X = np.random.RandomState(0).rand(4, 1, 1, 1)
    with pytest.raises(ValueError, match=r"layer='auto'.*larger than 1x1.*'layer'"):
        GradCAM(net).fit(X)
    assert GradCAM(net, layer="0").fit(X).layer_ == "0"


@pytest.mark.filterwarnings("ignore::skxai.saliency._cam.ZeroMapWarning")
@pytest.mark.parametrize("name, layer", [("resnet", "layer3"), ("vgg", "features")])
def test_guided_gradcam_matches_captum_on_inplace_zoo(name, layer):
    """Check Guided Grad-CAM on networks with in-place and reused ReLUs.

    Captum's GuidedGradCam (nearest upsampling, ReLU of the map) computed the
    reference on the same networks with the in-place flags switched off.
    """
    if not REFERENCE.exists():  # pragma: no cover
        pytest.skip(f"{REFERENCE} is absent: run make_reference_backprop.py")
    reference = np.load(REFERENCE)
    model = {"resnet": lambda: zoo.resnet18(width=4), "vgg": zoo.vgg}[name]()
    model = model.double()
    X = reference[f"{name}_X"].astype(np.float64)
    with torch.no_grad():
        logits = model(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(logits, reference[f"{name}_logits"], rtol=1e-10)
    ggc = GuidedGradCAM(
        model, layer=layer, interpolate="nearest", target=reference["targets"]
    ).fit(X)
    maps = ggc.explain(X).maps[:, 0]
    expected = reference[f"{name}_guided_gradcam"]
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(
        maps, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    assert torch._C._len_torch_function_stack() == 0


@pytest.mark.filterwarnings("ignore::skxai.saliency._cam.ZeroMapWarning")
@pytest.mark.parametrize("cls, per_batch", [(GradCAM, 1), (GuidedGradCAM, 2)])
def test_gradcam_predictions_from_its_forward_pass(X, cls, per_batch):
    """Check explain runs the model once per batch (Guided: twice), no extra pass."""
    net = _conv_net(pool=True)
    cam = cls(net, batch_size=3).fit(X)
    calls = []
    handle = net.register_forward_pre_hook(lambda m, inputs: calls.append(1))
    try:
        expl = cam.explain(X)
    finally:
        handle.remove()
    assert len(calls) == per_batch * 3
    with torch.no_grad():
        predicted = net(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(expl.predictions, predicted)
    np.testing.assert_array_equal(expl.targets[:, 0], predicted)
    explicit = cls(net, target=predicted).fit(X).explain(X).maps
    np.testing.assert_allclose(expl.maps, explicit, rtol=1e-12)
