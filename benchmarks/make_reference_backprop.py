"""Captum's rectified-backprop maps on the zoo's ResNet and VGG, stored for the tests.

``tests/saliency/test_backprop.py`` and ``test_cam.py`` compare skxai's
GuidedBackprop, Deconvolution and GuidedGradCAM with these arrays; captum is not
installed beside skxai's tests, so they are computed once here, in the benchmark
environment, and written to ``benchmarks/data/reference_backprop.npz``.

The networks are ``tests/zoo.py``'s ResNet-18 shape (width 4, one in-place ReLU
module called twice per block) and VGG shape (in-place ReLUs), built from their
seed in float64. Captum's hooks are given the same networks with every ReLU's
in-place flag switched off (what Captum needs); skxai explains them as they are.
Maps are stored in float32 (relative rounding 6e-8, far below the tests'
1e-5). The file also stores the inputs and the networks' logits, so a test can tell a
changed network builder from a changed explainer.

Run it in the benchmark environment::

    /opt/skxai-bench/bin/python benchmarks/make_reference_backprop.py
"""

import sys
from pathlib import Path

import numpy as np
import torch
from captum.attr import Deconvolution, GuidedBackprop, GuidedGradCam

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import zoo  # noqa: E402

OUT = HERE / "data" / "reference_backprop.npz"

# name -> (builder, input shape, Grad-CAM layer)
CASES = {
    "resnet": (lambda: zoo.resnet18(width=4), (3, 32, 32), "layer3"),
    "vgg": (lambda: zoo.vgg(), (3, 16, 16), "features"),
}
N_IMAGES = 3
TARGETS = np.array([1, 4, 7])


def _inplace_off(model):
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    return model


def main():
    torch.set_num_threads(1)
    arrays = {}
    for name, (build, shape, layer) in CASES.items():
        model = _inplace_off(build().double())
        X = zoo.images(N_IMAGES, shape, seed=1).astype(np.float64)
        x = torch.as_tensor(X)
        t = torch.as_tensor(TARGETS)
        with torch.no_grad():
            arrays[f"{name}_logits"] = model(x).numpy()
        arrays[f"{name}_X"] = X.astype(np.float32)  # exact: built as float32
        for key, method in [("guided", GuidedBackprop), ("deconv", Deconvolution)]:
            maps = method(model).attribute(x.clone(), target=t)
            arrays[f"{name}_{key}"] = maps.detach().numpy().astype(np.float32)
        ggc = GuidedGradCam(model, dict(model.named_modules())[layer])
        maps = ggc.attribute(x.clone(), target=t, interpolate_mode="nearest")
        arrays[f"{name}_guided_gradcam"] = maps.detach().numpy().astype(np.float32)
    arrays["targets"] = TARGETS
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    for key, value in arrays.items():
        print(f"{key:24s} {value.shape} max|.| {np.abs(value).max():.3g}")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
