"""Store xaitk-saliency's and captum's Occlusion maps for skxai's tests.

Run once with the reference libraries installed (not needed by the tests)::

    /opt/skxai-bench/bin/python benchmarks/make_reference_occlusion.py

For a few image sizes and window/stride pairs it draws small random images and a
fixed nonlinear model ``f(x) = tanh(x W1) W2`` (weights stored too, so the tests
rebuild the same model in numpy), then computes

- xaitk-saliency's ``SlidingWindow`` masks, the occluded images and
  ``OcclusionScoring`` maps (``xaitk_*``), and
- captum's ``Occlusion`` maps with the same window, stride and fill
  (``captum_*``),

and writes them to ``benchmarks/data/reference_occlusion.npz``.
``tests/saliency/test_perturbation.py`` compares skxai's ``Occlusion`` (default
placement and ``normalize='maxabs'`` against xaitk, ``placement='valid'``
against captum) with these arrays.
"""

from pathlib import Path

import numpy as np
import torch
from captum.attr import Occlusion as CaptumOcclusion
from xaitk_saliency.impls.gen_classifier_conf_sal.occlusion_scoring import (
    OcclusionScoring,
)
from xaitk_saliency.impls.perturb_image.sliding_window import SlidingWindow
from xaitk_saliency.utils.masking import occlude_image_batch

# (height, width), window, stride
CASES = [
    ((8, 8), (3, 3), (1, 1)),
    ((28, 28), (4, 4), (2, 2)),
    ((8, 8), (2, 2), (2, 2)),
    ((10, 10), (4, 4), (3, 3)),
    ((7, 9), (3, 2), (2, 1)),
    ((12, 12), (5, 5), (2, 2)),
]
N_IMAGES, N_HIDDEN, N_CLASSES, FILL = 2, 5, 3, 0.25
OUT = Path(__file__).parent / "data" / "reference_occlusion.npz"


def scores(X, W1, W2):
    """The reference model on flat images ``(n, h * w)``."""
    return np.tanh(X @ W1) @ W2


def main():
    arrays = {}
    for case, (hw, window, stride) in enumerate(CASES):
        rng = np.random.default_rng(case)
        n_pixels = hw[0] * hw[1]
        images = rng.random((N_IMAGES, *hw))
        W1 = rng.normal(size=(n_pixels, N_HIDDEN)) / np.sqrt(n_pixels) * 3
        W2 = rng.normal(size=(N_HIDDEN, N_CLASSES))
        key = f"case{case}"
        arrays[f"{key}_images"] = images
        arrays[f"{key}_W1"] = W1
        arrays[f"{key}_W2"] = W2
        arrays[f"{key}_spec"] = np.array([*hw, *window, *stride])

        # xaitk-saliency: SlidingWindow masks (1 keeps), occluded copies, scoring.
        perturber = SlidingWindow(window_size=window, stride=stride)
        scorer = OcclusionScoring()
        xaitk = []
        for image in images:
            masks = perturber.perturb(image)
            occluded = occlude_image_batch(image, masks, FILL)
            base = scores(image.reshape(1, -1), W1, W2)[0]
            perturbed = scores(occluded.reshape(len(masks), -1), W1, W2)
            sal = scorer.generate(base, perturbed, masks)  # (classes, h, w)
            xaitk.append(sal)
        arrays[f"{key}_xaitk"] = np.stack(xaitk)

        # captum: Occlusion with whole windows only.
        W1_t, W2_t = torch.as_tensor(W1), torch.as_tensor(W2)

        def forward(x, W1_t=W1_t, W2_t=W2_t):
            return torch.tanh(x.reshape(len(x), -1) @ W1_t) @ W2_t

        occlusion = CaptumOcclusion(forward)
        inputs = torch.as_tensor(images[:, None])
        captum = np.stack(
            [
                occlusion.attribute(
                    inputs,
                    sliding_window_shapes=(1, *window),
                    strides=(1, *stride),
                    baselines=FILL,
                    target=c,
                )[:, 0]
                .detach()
                .numpy()
                for c in range(N_CLASSES)
            ],
            axis=1,
        )
        arrays[f"{key}_captum"] = captum
        print(key, hw, window, stride, "xaitk", arrays[f"{key}_xaitk"].shape)
    arrays["fill"] = np.array(FILL)
    arrays["n_cases"] = np.array(len(CASES))
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print("wrote", OUT, f"{OUT.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
