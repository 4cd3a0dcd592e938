"""Shapley values against shap (and GradientSHAP against captum), same workload.

Workload (issue 14): breast_cancer, a ``HistGradientBoostingClassifier`` and a
scaled ``LogisticRegression`` (``make_pipeline(StandardScaler(),
LogisticRegression())``), the probability of class 1 explained, 100 background
rows (interventional: shap's ``Independent`` masker / ``KernelExplainer`` data,
skxai's ``fit(background)``), 100 samples. Both libraries get the same model
function, the same background and the same samples, in the same process.

- exact: models on the first 10 features, skxai ``ShapleyValues(method="exact")``
  against ``shap.ExactExplainer``; the values must agree to 1e-8. Target: 3x.
- permutation: skxai ``ShapleyValues(method="permutation")`` against
  ``shap.PermutationExplainer`` at about the same number of model evaluations
  (model inputs, counted by a wrapper of the model), and at a tenth of them;
  mean absolute error against the exact values on the 10-feature models, time
  on those and on the 30-feature models. skxai runs each pair of orders
  against one background row (stratified), shap each coalition against all
  100. Target: equal accuracy, 3x.
- kernel: skxai ``KernelSHAP`` against ``shap.KernelExplainer`` (``l1_reg=False``:
  the plain regression both compute) at the same ``nsamples``; error against
  the exact values (10 features), time on 10 and 30 features. Target: equal or
  smaller error, 10x.
- GradientSHAP against captum's ``GradientShap`` on the seed CNN (MNIST): the
  same values for the same draws (captum's numpy draws are replayed and given
  to skxai), and the time of each library's own call with ``n_samples`` draws.
  Target: time ratio at most 1.0.

Run it in the benchmark environment (numpy<2, shap, captum)::

    /opt/skxai-bench/bin/python benchmarks/bench_shapley.py
    /opt/skxai-bench/bin/python benchmarks/bench_shapley.py --quick

The load average is printed: figures taken on a busy machine are not claims.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    HELD_OUT_ROWS,
    load_mnist_test,
    print_environment,
    print_table,
    seed_cnn,
)

from skxai.shapley import GradientSHAP, KernelSHAP, ShapleyValues  # noqa: E402


class Counted:
    """The model's class-1 probability (shap) or both columns (skxai), counted."""

    def __init__(self, model):
        self.model = model
        self.rows = 0

    def both(self, X):
        self.rows += len(X)
        return self.model.predict_proba(X)

    def positive(self, X):
        self.rows += len(X)
        return self.model.predict_proba(X)[:, 1]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _data(n_features, n_background, n_samples):
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :n_features]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    background = X[order[:n_background]]
    samples = X[order[n_background : n_background + n_samples]]
    models = {
        "HGB": HistGradientBoostingClassifier(random_state=0).fit(X, y),
        "LogReg": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
    }
    return background, samples, models


def _skxai(explainer_cls, counted, background, samples, **params):
    explainer = explainer_cls(
        counted.both, target=1, batch_size=1 << 16, random_state=0, **params
    ).fit(background)
    counted.rows = 0
    ex, seconds = _timed(lambda: explainer.explain(samples))
    return ex.values[:, 0], seconds, counted.rows


def _shap_call(fn, counted):
    counted.rows = 0
    values, seconds = _timed(fn)
    values = getattr(values, "values", values)
    return np.asarray(values), seconds, counted.rows


def bench_tabular(args):
    import shap

    n_bg, n_samples = args.n_background, args.n_samples
    rows = {"exact": [], "permutation": [], "kernel": []}
    for n_features in (10, 30):
        background, samples, models = _data(n_features, n_bg, n_samples)
        for name, model in models.items():
            counted = Counted(model)
            masker = shap.maskers.Independent(background, max_samples=n_bg)
            exact = None
            if n_features == 10:
                ours, t_ours, _ = _skxai(
                    ShapleyValues, counted, background, samples, method="exact"
                )
                theirs, t_shap, _ = _shap_call(
                    lambda: shap.ExactExplainer(counted.positive, masker)(samples),
                    counted,
                )
                exact = ours
                rows["exact"].append(
                    {
                        "model": name,
                        "features": n_features,
                        "max |diff|": float(np.abs(ours - theirs).max()),
                        "shap_s": t_shap,
                        "skxai_s": t_ours,
                    }
                )
            # permutation at about the same number of model evaluations
            evals = args.max_evals
            theirs, t_shap, shap_rows = _shap_call(
                lambda: shap.PermutationExplainer(counted.positive, masker)(
                    samples, max_evals=evals, silent=True
                ),
                counted,
            )
            # skxai spends 2 * (n - 1) model inputs per pair of orders (one
            # background row per pair); shap averages every coalition over all
            # background rows. Same inputs, then a tenth of them.
            per_pair = 2 * (n_features - 1)
            same = max(1, round(shap_rows / n_samples / per_pair))
            for label, n_perm in (("same", same), ("1/10", max(1, same // 10))):
                ours, t_ours, our_rows = _skxai(
                    ShapleyValues,
                    counted,
                    background,
                    samples,
                    method="permutation",
                    n_permutations=n_perm,
                )
                row = {
                    "model": name,
                    "features": n_features,
                    "evals": label,
                    "shap evals/sample": shap_rows // n_samples,
                    "skxai evals/sample": our_rows // n_samples,
                    "n_permutations": n_perm,
                }
                if exact is not None:
                    row["shap MAE"] = float(np.abs(theirs - exact).mean())
                    row["skxai MAE"] = float(np.abs(ours - exact).mean())
                row.update(shap_s=t_shap, skxai_s=t_ours)
                rows["permutation"].append(row)
            # kernel at the same nsamples
            nsamples = args.kernel_samples[0 if n_features == 10 else 1]
            kernel = shap.KernelExplainer(counted.positive, background)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs, t_shap, shap_rows = _shap_call(
                    lambda: kernel.shap_values(
                        samples, nsamples=nsamples, l1_reg=False, silent=True
                    ),
                    counted,
                )
            ours, t_ours, our_rows = _skxai(
                KernelSHAP, counted, background, samples, n_samples=nsamples
            )
            row = {
                "model": name,
                "features": n_features,
                "nsamples": nsamples,
                "shap evals/sample": shap_rows // n_samples,
                "skxai evals/sample": our_rows // n_samples,
            }
            if exact is not None:
                row["shap MAE"] = float(np.abs(theirs - exact).mean())
                row["skxai MAE"] = float(np.abs(ours - exact).mean())
            row.update(shap_s=t_shap, skxai_s=t_ours)
            rows["kernel"].append(row)
    ratio = {"speed-up": ("shap_s", "skxai_s")}
    print_table(rows["exact"], ratios=ratio, title="Exact Shapley values (target 3x)")
    print()
    print_table(
        rows["permutation"],
        ratios=ratio,
        title=f"Permutation sampling, shap max_evals={args.max_evals} (target 3x)",
    )
    print()
    print_table(rows["kernel"], ratios=ratio, title="KernelSHAP (target 10x)")
    print()


def bench_gradient_shap(args):
    import torch
    from captum.attr import GradientShap

    model = seed_cnn(verbose=False).double().eval()
    X, _ = load_mnist_test()
    held = X[HELD_OUT_ROWS].astype(np.float64)
    background, images = held[: args.n_background], held[-args.n_images :]
    with torch.no_grad():
        targets = model(torch.as_tensor(images)).argmax(1).numpy()
    k = args.gradient_samples
    gs = GradientSHAP(model, n_samples=k, target=targets, random_state=0)
    gs.fit(background)
    captum = GradientShap(model)
    x, b, t = (torch.as_tensor(a) for a in (images, background, targets))

    def run_captum():
        np.random.seed(0)
        return captum.attribute(x, baselines=b, target=t, n_samples=k, stdevs=0.0)

    theirs, t_captum = _timed(run_captum)
    # captum's draws, replayed: background rows, then points on the path
    np.random.seed(0)
    index = np.random.choice(len(background), len(images) * k).reshape(-1, k)
    alphas = np.random.uniform(0.0, 1.0, len(images) * k).reshape(-1, k)
    same = gs._expected_gradients(images, targets[:, None], index, alphas)["maps"]
    ours, t_ours = _timed(lambda: gs.explain(images))
    _, t_captum2 = _timed(run_captum)
    _, t_ours2 = _timed(lambda: gs.explain(images))
    rows = [
        {
            "images": len(images),
            "n_samples": k,
            "max |diff| same draws": float(
                np.abs(same[:, 0] - theirs.detach().numpy()).max()
            ),
            "captum_s": min(t_captum, t_captum2),
            "skxai_s": min(t_ours, t_ours2),
        }
    ]
    print_table(
        rows,
        ratios={"time ratio skxai/captum": ("skxai_s", "captum_s")},
        title="GradientSHAP on the seed CNN (target ratio <= 1.0)",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument(
        "--n-samples", type=int, default=100, help="samples explained (default 100)"
    )
    args = parser.parse_args(argv)
    args.n_background = 100
    args.n_samples = 3 if args.quick else args.n_samples
    args.max_evals = 500
    args.kernel_samples = (200, 2048) if not args.quick else (100, 300)
    args.n_images = 4 if args.quick else 32
    args.gradient_samples = 8 if args.quick else 32
    print_environment("numpy", "scikit-learn", "torch", "shap", "captum")
    print(f"load average {os.getloadavg()}")
    bench_tabular(args)
    bench_gradient_shap(args)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
