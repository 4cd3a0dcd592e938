"""Torch networks written the way people write them, for the tests and benchmarks.

The ResNet and VGG shapes follow torchvision's code (its wheel does not import beside
the CPU torch build used here): one ``nn.ReLU(inplace=True)`` module called twice per
``BasicBlock``, ``out += identity``, BatchNorm, adaptive average pooling; a VGG with
in-place ReLUs in ``features`` and ``classifier`` and Dropout.

Torch is imported lazily: ``import zoo`` works without it, and every builder
skips the calling test when torch is absent. The benchmarks import it too (their
environment has no pytest).
"""


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover
        import pytest

        pytest.skip("torch is not installed")
    return torch, torch.nn


def _conv3x3(nn, in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def _basic_block_class():
    torch, nn = _torch()

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = _conv3x3(nn, inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = _conv3x3(nn, planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x
            out = self.conv1(x)
            out = self.bn1(out)
            out = self.relu(out)
            out = self.conv2(out)
            out = self.bn2(out)
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            out = self.relu(out)
            return out

    return BasicBlock


def _resnet_class():
    torch, nn = _torch()
    BasicBlock = _basic_block_class()

    class ResNet(nn.Module):
        """ResNet-18 shape: layers [2, 2, 2, 2], torchvision's stem, avgpool, fc."""

        def __init__(
            self, num_classes=10, width=64, in_channels=3, layers=(2, 2, 2, 2)
        ):
            super().__init__()
            self.inplanes = width
            self.conv1 = nn.Conv2d(
                in_channels, width, kernel_size=7, stride=2, padding=3, bias=False
            )
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(BasicBlock, width, layers[0])
            self.layer2 = self._make_layer(BasicBlock, 2 * width, layers[1], stride=2)
            self.layer3 = self._make_layer(BasicBlock, 4 * width, layers[2], stride=2)
            self.layer4 = self._make_layer(BasicBlock, 8 * width, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8 * width, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(
                        m.weight, mode="fan_out", nonlinearity="relu"
                    )
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make_layer(self, block, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )
            layers = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            for _ in range(1, blocks):
                layers.append(block(self.inplanes, planes))
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.conv1(x)
            x = self.bn1(x)
            x = self.relu(x)
            x = self.maxpool(x)
            x = self.layer1(x)
            x = self.layer2(x)
            x = self.layer3(x)
            x = self.layer4(x)
            x = self.avgpool(x)
            x = torch.flatten(x, 1)
            x = self.fc(x)
            return x

    return ResNet


def _vgg_class():
    torch, nn = _torch()

    class VGG(nn.Module):
        """VGG shape: conv/ReLU(inplace)/maxpool features, avgpool, classifier with
        in-place ReLUs and Dropout."""

        def __init__(self, cfg, num_classes=10, in_channels=3, hidden=4096, pool=7):
            super().__init__()
            layers = []
            c = in_channels
            for v in cfg:
                if v == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    conv = nn.Conv2d(c, v, kernel_size=3, padding=1)
                    layers += [conv, nn.ReLU(inplace=True)]
                    c = v
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
            self.classifier = nn.Sequential(
                nn.Linear(c * pool * pool, hidden),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(hidden, hidden),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(hidden, num_classes),
            )

        def forward(self, x):
            x = self.features(x)
            x = self.avgpool(x)
            x = torch.flatten(x, 1)
            x = self.classifier(x)
            return x

    return VGG


def resnet18(num_classes=10, width=64, in_channels=3, seed=0):
    """A ResNet-18-shaped network in eval mode, built deterministically from ``seed``.

    ``width=64`` is torchvision's ResNet-18 (for 3x224x224 inputs); tests use a
    narrow one (``width=4``). The stem and three stride-2 stages divide the side by
    32: ``layer4``'s output is 2x2 on 64x64 inputs and 1x1 on 32x32 or smaller.
    BatchNorm running statistics and affine parameters are set to seeded
    non-trivial values so BatchNorm is not the identity.
    """
    torch, nn = _torch()
    torch.manual_seed(seed)
    model = _resnet_class()(
        num_classes=num_classes, width=width, in_channels=in_channels
    )
    _randomize_batchnorm(torch, nn, model)
    return model.eval()


def vgg(
    num_classes=10,
    in_channels=3,
    cfg=(8, "M", 16, "M", 16, 16, "M"),
    hidden=32,
    pool=2,
    seed=0,
):
    """A small VGG-shaped network in eval mode, built deterministically from ``seed``.

    The defaults suit 16x16 inputs (three 2x2 max pools leave 2x2, then avgpool 2x2).
    """
    torch, nn = _torch()
    torch.manual_seed(seed)
    model = _vgg_class()(
        list(cfg),
        num_classes=num_classes,
        in_channels=in_channels,
        hidden=hidden,
        pool=pool,
    )
    return model.eval()


def _randomize_batchnorm(torch, nn, model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def images(n, shape=(3, 16, 16), seed=0):
    """Seeded float32 images ``(n, *shape)`` as a numpy array."""
    import numpy as np

    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(np.float32)


# ----------------------------------------------------------------------------------
# Small nets ending in every kind of output layer people write (logits, nn.Softmax,
# nn.LogSoftmax, a functional softmax in forward, a softmax attribute, one logit),
# CNNs that flatten with .view(), a train-mode net, and skorch nets on them. All on
# 1x8x8 images (digits), tiny and seeded.


def _skorch():
    try:
        import skorch
    except ImportError:  # pragma: no cover
        import pytest

        pytest.skip("skorch is not installed")
    return skorch


def digits_images(n_classes=3, n=None):
    """Digits of the first ``n_classes`` classes as float32 images ``(n, 1, 8, 8)``."""
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=n_classes, return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return (X, y) if n is None else (X[:n], y[:n])


def _mlp_body(nn, n_out=3, hidden=16):
    return [nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, n_out)]


def sequential(final="logits", n_out=3, seed=0):
    """``nn.Sequential`` MLP on 1x8x8 ending in ``final``: 'logits', 'softmax' or
    'log_softmax' (an ``nn.Softmax`` / ``nn.LogSoftmax`` module)."""
    torch, nn = _torch()
    torch.manual_seed(seed)
    layers = _mlp_body(nn, n_out)
    if final == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif final == "log_softmax":
        layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers).eval()


# How a custom module's forward turns its logits into its output.
FINALS = (
    "F.softmax",
    "torch.softmax",
    "Tensor.softmax",
    "F.log_softmax",
    "attribute",
    "log(softmax)",
)


def _softmax_net_class():
    torch, nn = _torch()
    F = torch.nn.functional

    class SoftmaxNet(nn.Module):
        """A custom MLP whose forward ends in a softmax written as ``final``."""

        def __init__(self, final="F.softmax", hidden=16, n_out=3):
            super().__init__()
            self.final = final
            self.hidden = nn.Linear(64, hidden)
            self.out = nn.Linear(hidden, n_out)
            self.softmax = nn.Softmax(dim=-1)

        def logits(self, x):
            return self.out(F.relu(self.hidden(x.reshape(len(x), -1))))

        def forward(self, x):
            z = self.logits(x)
            if self.final == "F.softmax":
                return F.softmax(z, dim=-1)
            if self.final == "torch.softmax":
                return torch.softmax(z, 1)
            if self.final == "Tensor.softmax":
                return z.softmax(dim=1)
            if self.final == "F.log_softmax":
                return F.log_softmax(z, dim=1)
            if self.final == "attribute":
                return self.softmax(z)
            if self.final == "log(softmax)":
                return torch.log(F.softmax(z, dim=1))
            return z

    return SoftmaxNet


def softmax_net(final="F.softmax", seed=0):
    """A custom module whose forward ends in ``final`` (one of :data:`FINALS`);
    ``model.logits(x)`` gives its pre-softmax scores."""
    torch, _ = _torch()
    torch.manual_seed(seed)
    return _softmax_net_class()(final).eval()


def skorch_softmax_net(final="F.softmax", seed=0, max_epochs=2):
    """skorch ``NeuralNetClassifier`` on :func:`softmax_net`'s module with its
    default criterion ``NLLLoss``, trained ``max_epochs`` on 3-class digits."""
    torch, _ = _torch()
    skorch = _skorch()
    torch.manual_seed(seed)
    X, y = digits_images(3)
    net = skorch.NeuralNetClassifier(
        _softmax_net_class(),
        module__final=final,
        max_epochs=max_epochs,
        lr=0.1,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, y.astype("int64"))


def _view_cnn_class():
    torch, nn = _torch()

    class ViewCNN(nn.Module):
        """A tutorial-style CNN flattening with ``x.view(x.size(0), -1)`` (or
        ``x.view(-1, k)``): the view needs contiguous NCHW activations."""

        def __init__(self, flatten="size", n_out=3):
            super().__init__()
            self.flatten = flatten
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
            self.fc = nn.Linear(6 * 4 * 4, n_out)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = torch.relu(self.conv2(x))
            if self.flatten == "size":
                x = x.view(x.size(0), -1)
            else:
                x = x.view(-1, 6 * 4 * 4)
            return self.fc(x)

    return ViewCNN


def view_cnn(flatten="size", seed=0):
    """CNN on 1x8x8 flattening with ``x.view(x.size(0), -1)`` (``flatten='size'``)
    or ``x.view(-1, 96)`` (``flatten='k'``)."""
    torch, _ = _torch()
    torch.manual_seed(seed)
    return _view_cnn_class()(flatten).eval()


def train_mode_net(seed=0):
    """A CNN with BatchNorm and Dropout left in train mode, with non-trivial
    running statistics (a skorch net fitted with ``train_split=None``)."""
    torch, nn = _torch()
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 3),
    )
    _randomize_batchnorm(torch, nn, model)
    return model.train()


def _binary_net_class():
    torch, nn = _torch()

    class BinaryNet(nn.Module):
        """One logit per sample, shape ``(n, 1)``; ``sigmoid=True`` returns
        ``torch.sigmoid`` of it."""

        def __init__(self, sigmoid=False, hidden=8):
            super().__init__()
            self.sigmoid = sigmoid
            self.hidden = nn.Linear(64, hidden)
            self.out = nn.Linear(hidden, 1)

        def logit(self, x):
            return self.out(torch.relu(self.hidden(x.flatten(1))))

        def forward(self, x):
            z = self.logit(x)
            return torch.sigmoid(z) if self.sigmoid else z

    return BinaryNet


def binary_net(sigmoid=False, seed=0):
    """A single-logit binary module (``(n, 1)`` output), plain or ending in a
    sigmoid; ``model.logit(x)`` gives the logit."""
    torch, _ = _torch()
    torch.manual_seed(seed)
    return _binary_net_class()(sigmoid).eval()


def skorch_binary_net(seed=0, max_epochs=2):
    """skorch ``NeuralNetBinaryClassifier`` on :func:`binary_net`'s module
    (BCEWithLogitsLoss), trained ``max_epochs`` on digits 0 vs 1."""
    torch, _ = _torch()
    skorch = _skorch()
    torch.manual_seed(seed)
    X, y = digits_images(2)
    net = skorch.NeuralNetBinaryClassifier(
        _binary_net_class(), max_epochs=max_epochs, lr=0.1, train_split=None, verbose=0
    )
    return net.fit(X, y.astype("float32"))


def _other_thread_class():
    torch, nn = _torch()

    class ForwardsInAnotherThreadToo(nn.Module):
        """Each forward also runs ``inner`` in another thread, as a second
        explainer (GridSearchCV with threads) or a server would meanwhile."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            import threading

            with torch.no_grad():
                other = threading.Thread(target=self.inner, args=(x.detach(),))
                other.start()
                other.join()
            return self.inner(x)

    return ForwardsInAnotherThreadToo


def forwards_in_another_thread_too(inner):
    """``inner`` wrapped so that each forward also runs it in another thread (its
    submodules are ``inner.*``)."""
    return _other_thread_class()(inner)
