"""skxai against Captum on a ResNet-18-shaped network at 3x224x224.

The network is ``tests/zoo.py``'s ResNet-18, written as torchvision writes it (one
in-place ReLU module called twice per ``BasicBlock``, ``out += identity``,
BatchNorm, adaptive average pooling, 1000 classes), seeded, in eval mode. Captum's
hooks need the in-place flags off, so Captum explains a copy with the flags
switched off (same weights); skxai explains the network as it is.

=======================  =================================================
skxai                    Captum
=======================  =================================================
Saliency                 Saliency(abs=False)
IntegratedGradients(16)  IntegratedGradients(n_steps=16, gausslegendre)
GuidedBackprop           GuidedBackprop
GradCAM(layer4)          LayerGradCam(layer4, relu) + bilinear interpolate
Occlusion(32, 16, valid) Occlusion((3, 32, 32), strides (3, 16, 16))
=======================  =================================================

Both sides explain the predicted class and do the same work: skxai's ``explain``
finds the predictions itself, so the Captum side is timed as
``model(x).argmax(1)`` followed by ``attribute``. Rounds alternate between the two
libraries (skxai, Captum, skxai, ...) so a change of machine load hits both; the
best round of each is reported (load from other processes only adds time).
Batches: IntegratedGradients 16 inputs per pass on both sides (``batch_size=16``,
``internal_batch_size=16``), Occlusion 64 occluded copies per model call
(``batch_size=64``, ``perturbations_per_eval = 64 / n_images``).

Printed per method: wall-clock seconds per image for each library, the ratio
Captum / skxai (target: at least 1; the same ratio of CPU seconds beside it, less
sensitive to other processes), and the largest difference between the maps
relative to the largest Captum value. The load average is printed before and
after: figures measured on a busy machine are indicative only.

Run it in the benchmark environment (numpy<2, captum)::

    /opt/skxai-bench/bin/python benchmarks/bench_resnet.py
    /opt/skxai-bench/bin/python benchmarks/bench_resnet.py --quick
"""

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import zoo  # noqa: E402
from _common import max_rss, mib, print_environment  # noqa: E402

from skxai import (  # noqa: E402
    GradCAM,
    GuidedBackprop,
    IntegratedGradients,
    Occlusion,
    Saliency,
)

N_STEPS = 16
WINDOW, STRIDE = 32, 16
IG_BATCH = 16
OCCLUSION_BATCH = 64


def _captum_methods(model, n_images):
    """Captum callables ``f(x) -> maps`` for the predicted class."""
    import captum.attr as ca

    warnings.filterwarnings("ignore", category=UserWarning, module="captum")

    def predicted(x):
        with torch.no_grad():
            return model(x).argmax(1)

    saliency = ca.Saliency(model)
    ig = ca.IntegratedGradients(model)
    gbp = ca.GuidedBackprop(model)
    gradcam = ca.LayerGradCam(model, model.layer4)
    occlusion = ca.Occlusion(model)
    ppe = max(1, OCCLUSION_BATCH // n_images)

    def run_gradcam(x):
        cam = gradcam.attribute(x, target=predicted(x), relu_attributions=True)
        return ca.LayerAttribution.interpolate(cam, x.shape[2:], "bilinear")

    return {
        "Saliency": lambda x: saliency.attribute(x, target=predicted(x), abs=False),
        "IntegratedGradients": lambda x: ig.attribute(
            x,
            target=predicted(x),
            n_steps=N_STEPS,
            method="gausslegendre",
            internal_batch_size=IG_BATCH,
        ),
        "GuidedBackprop": lambda x: gbp.attribute(x, target=predicted(x)),
        "GradCAM": run_gradcam,
        "Occlusion": lambda x: occlusion.attribute(
            x,
            target=predicted(x),
            sliding_window_shapes=(3, WINDOW, WINDOW),
            strides=(3, STRIDE, STRIDE),
            baselines=0.0,
            perturbations_per_eval=ppe,
        ),
    }


def _skxai_explainers(model):
    return {
        "Saliency": Saliency(model),
        "IntegratedGradients": IntegratedGradients(
            model, n_steps=N_STEPS, batch_size=IG_BATCH, delta_tolerance=None
        ),
        "GuidedBackprop": GuidedBackprop(model),
        "GradCAM": GradCAM(model, layer="layer4"),
        "Occlusion": Occlusion(
            model,
            window=WINDOW,
            stride=STRIDE,
            placement="valid",
            fill=0.0,
            batch_size=OCCLUSION_BATCH,
        ),
    }


def _timed(fn):
    """Wall-clock and CPU seconds of ``fn()``, and its result."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 image, 3 rounds")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--methods", nargs="*", default=None, help="subset of the methods to run"
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the batch_size memory check"
    )
    args = parser.parse_args(argv)
    n_images = args.images or (1 if args.quick else 8)
    rounds = args.rounds or 3
    torch.set_num_threads(args.threads)
    print_environment("numpy", "torch", "captum", "scikit-learn")
    print(
        f"ResNet-18 shape, 3x224x224, {n_images} images, {rounds} round(s), "
        f"{torch.get_num_threads()} torch threads; load average before "
        f"{os.getloadavg()[0]:.2f}",
        flush=True,
    )

    model = zoo.resnet18(width=64, num_classes=1000)
    reference = copy.deepcopy(model)  # Captum's copy: in-place flags off
    for m in reference.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    X = zoo.images(n_images, (3, 224, 224), seed=0)
    x = torch.as_tensor(X)

    ours = _skxai_explainers(model)
    theirs = _captum_methods(reference, n_images)
    names = args.methods or list(ours)
    rows = []
    for name in names:
        explainer = ours[name].fit(X[:1])
        # warm-up on one image (oneDNN primitives, lazy imports)
        explainer.explain(X[:1])
        theirs[name](x[:1])
        times_ours, times_theirs, cpu_ours, cpu_theirs = [], [], [], []
        for _ in range(rounds):
            t, c, expl = _timed(lambda: explainer.explain(X))
            times_ours.append(t / n_images)
            cpu_ours.append(c / n_images)
            t, c, maps = _timed(lambda: theirs[name](x))
            times_theirs.append(t / n_images)
            cpu_theirs.append(c / n_images)
        mine = expl.maps[:, 0]
        ref = maps.detach().numpy()
        if name == "GradCAM":
            ref = np.broadcast_to(ref, mine.shape)
        diff = np.abs(mine - ref).max() / np.abs(ref).max()
        # best of the rounds: bursts of load from other processes only add time
        ours_s, theirs_s = min(times_ours), min(times_theirs)
        cpu_ratio = min(cpu_theirs) / min(cpu_ours)
        rows.append((name, ours_s, theirs_s, theirs_s / ours_s, diff))
        print(
            f"{name:20s} skxai {ours_s:7.3f} s/img  captum {theirs_s:7.3f} s/img  "
            f"captum/skxai {theirs_s / ours_s:5.2f} (CPU time {cpu_ratio:5.2f})  "
            f"max rel diff {diff:.1e}",
            flush=True,
        )
    if not args.no_memory:
        _memory_by_batch_size(model, X)
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return rows


def _memory_by_batch_size(model, X):
    """Lifetime peak RSS of a fresh process explaining ``X`` per ``batch_size``.

    Each figure comes from its own process (this script with ``--memory-child``):
    an allocator keeps freed memory, so peaks measured one after another in one
    process hide each other. ``fit only`` is the same process without explaining.
    """
    import subprocess

    for name in ("IntegratedGradients", "Occlusion"):
        peaks = {}
        for batch_size in (0, 8, 32):
            out = subprocess.run(
                [sys.executable, "-W", "ignore", __file__, "--memory-child",
                 name, str(batch_size), str(len(X))],
                capture_output=True, text=True, check=True,
            )
            peaks[batch_size] = float(out.stdout.split()[-1])
        print(
            f"{name:20s} peak RSS of a process explaining {len(X)} images: "
            f"fit only {peaks[0]:.0f} MiB, batch_size=8 {peaks[8]:.0f} MiB, "
            f"batch_size=32 {peaks[32]:.0f} MiB",
            flush=True,
        )


def _memory_child(name, batch_size, n_images):
    torch.set_num_threads(2)
    model = zoo.resnet18(width=64, num_classes=1000)
    X = zoo.images(n_images, (3, 224, 224), seed=0)
    explainer = _skxai_explainers(model)[name]
    explainer.set_params(batch_size=max(batch_size, 1)).fit(X[:1])
    if batch_size:
        explainer.explain(X)
    print(mib(max_rss()))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-child":
        _memory_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
