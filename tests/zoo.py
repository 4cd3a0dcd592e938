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
