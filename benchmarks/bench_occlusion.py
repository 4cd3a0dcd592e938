"""Occlusion and RISE against xaitk-saliency on xaitk's MNIST workload.

xaitk-saliency's MNIST tutorial explains a LogisticRegression and an
MLPClassifier trained on MNIST with per-class saliency maps. This script runs
that workload with skxai's :class:`~skxai.saliency.Occlusion` and
:class:`~skxai.saliency.RISE` and, in the same run, with xaitk-saliency's
``SlidingWindowStack`` and ``RISEStack`` on the same models, the same images and
the same model output (``predict_proba``, as the tutorial's black box):

- models trained on the first 8,000 MNIST test images, 20 held-out images
  explained, all 10 classes;
- Occlusion: 2x2 window, stride 1 (784 windows), against
  ``SlidingWindowStack((2, 2), (1, 1), threads=4)``;
- RISE: 1,000 masks on an 8x8 grid, p1 = 0.5, debiased, against
  ``RISEStack(n=1000, s=8, p1=0.5)`` with the same seed (skxai draws the same
  masks as xaitk's ``RISEGrid`` for an int seed; the script checks it).

It prints milliseconds per image, the speed-up, and the largest difference
between skxai's maps scaled to [-1, 1] (``normalize="maxabs"``) and xaitk's; then
the peak memory of Occlusion for several ``batch_size`` values.

Run it in the benchmark environment (numpy<2, xaitk-saliency)::

    /opt/skxai-bench/bin/python benchmarks/bench_occlusion.py
    /opt/skxai-bench/bin/python benchmarks/bench_occlusion.py --quick

xaitk's black box scores all perturbed images of one call to ``classify_images``
with a single ``predict_proba`` call (the fastest way to use it), so the
comparison measures the explainers, not per-image model overhead.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HELD_OUT_ROWS,
    TRAIN_ROWS,
    load_mnist_test,
    mib,
    print_environment,
    print_table,
    timeit,
    traced_peak,
)

from skxai.saliency import RISE, Occlusion  # noqa: E402

N_CLASSES = 10
SEED = 0


def _xaitk():
    """Import xaitk-saliency, or exit with a clear message."""
    try:
        from smqtk_classifier import ClassifyImage
        from xaitk_saliency.impls.gen_image_classifier_blackbox_sal.rise import (
            RISEStack,
        )
        from xaitk_saliency.impls.gen_image_classifier_blackbox_sal.slidingwindow import (  # noqa: E501
            SlidingWindowStack,
        )
    except ImportError as exc:
        sys.exit(f"xaitk-saliency is needed for this benchmark ({exc}).")

    class Blackbox(ClassifyImage):
        """predict_proba of a fitted model on (28, 28) images, one call per batch."""

        def __init__(self, model):
            self.model = model
            self.labels = list(model.classes_)

        def get_labels(self):
            return self.labels

        def classify_images(self, img_iter):
            images = np.stack(list(img_iter))
            proba = self.model.predict_proba(images.reshape(len(images), -1))
            for row in proba:
                yield dict(zip(self.labels, row))

        def get_config(self):
            return {}

    return Blackbox, SlidingWindowStack, RISEStack


def _models(X_train, y_train):
    """The two models of xaitk's MNIST tutorial."""
    n_train = len(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        logreg = LogisticRegression(C=50.0 / n_train, solver="saga", tol=0.1)
        mlp = MLPClassifier(
            hidden_layer_sizes=(50,),
            max_iter=10,
            alpha=1e-4,
            solver="sgd",
            learning_rate_init=0.1,
            random_state=1,
        )
        return {
            "LogisticRegression": logreg.fit(X_train, y_train),
            "MLPClassifier": mlp.fit(X_train, y_train),
        }


def _maxabs(maps):
    """Scale each map of (..., H, W) to [-1, 1] by its largest |value|."""
    flat = maps.reshape(*maps.shape[:-2], -1)
    scale = np.abs(flat).max(axis=-1, keepdims=True)
    scale[scale < 10 * np.finfo(scale.dtype).eps] = 1.0  # as maxabs_scale
    return (flat / scale).reshape(maps.shape)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--n-explain", type=int, default=20)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads for both libraries (default: BLAS's own)",
    )
    args = parser.parse_args(argv)
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    n_explain = 4 if args.quick else args.n_explain
    repeat = 1 if args.quick else 3

    Blackbox, SlidingWindowStack, RISEStack = _xaitk()
    print_environment("numpy", "scikit-learn", "xaitk-saliency", "skxai")
    try:
        X, y = load_mnist_test(flat=True)
    except (OSError, ValueError) as exc:
        sys.exit(f"MNIST is not available ({exc}); skipping the benchmark.")
    # float64 pixels, as the tutorial's fetch_openml data: float32 inputs make
    # scikit-learn models compute in float32, whose rounding depends on how many
    # rows a call holds, so no two libraries could agree below 1e-6.
    X = X.astype(np.float64)
    X_train, y_train = X[TRAIN_ROWS], y[TRAIN_ROWS]
    X_explain = X[HELD_OUT_ROWS][:n_explain]
    images = X_explain.reshape(-1, 28, 28)
    models = _models(X_train, y_train)
    for name, model in models.items():
        accuracy = model.score(X[HELD_OUT_ROWS], y[HELD_OUT_ROWS])
        print(f"{name}: held-out accuracy {accuracy:.3f}")
    print(f"{n_explain} images explained, all {N_CLASSES} classes, predict_proba\n")

    rows = []
    for name, model in models.items():
        # ---------------------------------------------------- Occlusion
        occ = Occlusion(
            model,
            window=(2, 2),
            stride=(1, 1),
            image_shape=(28, 28),
            normalize="maxabs",
            response_method="predict_proba",
            target="all",
        ).fit(X_train)
        ours = occ.explain(X_explain).maps
        sws = SlidingWindowStack(window_size=(2, 2), stride=(1, 1), threads=4)
        blackbox = Blackbox(model)
        theirs = np.stack([sws(image, blackbox) for image in images])
        t_ours = timeit(lambda: occ.explain(X_explain), repeat=3 * repeat + 1)
        t_theirs = timeit(
            lambda: [sws(image, blackbox) for image in images],
            repeat=repeat,
            warmup=0,
        )
        rows.append(
            {
                "explainer": "Occlusion 2x2/1",
                "model": name,
                "skxai_ms": 1e3 * t_ours.best / n_explain,
                "xaitk_ms": 1e3 * t_theirs.best / n_explain,
                "max_abs_diff": float(np.abs(ours - theirs).max()),
            }
        )

        # --------------------------------------------------------- RISE
        rise = RISE(
            model,
            n_masks=1000,
            grid_size=8,
            p1=0.5,
            debiased=True,
            image_shape=(28, 28),
            response_method="predict_proba",
            target="all",
            random_state=SEED,
        ).fit(X_train)
        stack = RISEStack(n=1000, s=8, p1=0.5, seed=SEED)
        same_masks = np.array_equal(
            stack._po._perturber.perturb(images[0]), rise.masks_
        )
        if not same_masks:
            print("note: RISE masks differ from xaitk's; reusing xaitk's masks")
            rise.masks_ = stack._po._perturber.perturb(images[0])
        ours = _maxabs(rise.explain(X_explain).maps)
        theirs = np.stack([stack(image, blackbox) for image in images])
        t_ours = timeit(lambda: rise.explain(X_explain), repeat=3 * repeat + 1)
        t_theirs = timeit(
            lambda: [stack(image, blackbox) for image in images],
            repeat=repeat,
            warmup=0,
        )
        rows.append(
            {
                "explainer": "RISE 1000/8" + ("" if same_masks else " (xaitk masks)"),
                "model": name,
                "skxai_ms": 1e3 * t_ours.best / n_explain,
                "xaitk_ms": 1e3 * t_theirs.best / n_explain,
                "max_abs_diff": float(np.abs(ours - theirs).max()),
            }
        )

    print_table(
        rows,
        ratios={"speed-up": ("xaitk_ms", "skxai_ms")},
        title="Milliseconds per image (best of runs); max |skxai - xaitk| on "
        "maps scaled to [-1, 1]. Targets: Occlusion >= 20x, RISE >= 10x, "
        "difference < 1e-6.",
    )

    # ----------------------------------------------------------- memory
    model = models["LogisticRegression"]
    memory = []
    for batch_size in (128, 512, 1024, 4096, 16384):
        occ = Occlusion(
            model,
            window=(2, 2),
            stride=(1, 1),
            image_shape=(28, 28),
            response_method="predict_proba",
            target="all",
            batch_size=batch_size,
        ).fit(X_train[:100])
        _, peak = traced_peak(occ.explain, X_explain)
        t = timeit(lambda occ=occ: occ.explain(X_explain), repeat=repeat)
        memory.append(
            {
                "batch_size": batch_size,
                "peak_MiB": mib(peak),
                "ms_per_image": 1e3 * t.best / n_explain,
            }
        )
    print()
    print_table(
        memory,
        title="Occlusion (LogisticRegression): peak traced memory of explain() "
        f"on {n_explain} images against batch_size (785 model inputs per image)",
    )


if __name__ == "__main__":
    main()
