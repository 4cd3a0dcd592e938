"""Tabular Occlusion against captum's FeatureAblation and permutation importance.

Workloads: breast_cancer (569 x 30) and a synthetic 50,000 x 20 table
(``make_classification``), each with a ``HistGradientBoostingClassifier`` and a
scaled ``LogisticRegression`` (``make_pipeline(StandardScaler(), ...)``).

- Local attributions: skxai's ``Occlusion(fill="reference", n_reference=100)``
  (the score averaged over 100 reference rows, one feature hidden at a time)
  against captum's ``FeatureAblation`` with the same baselines: one call per
  reference row (``perturbations_per_eval`` = all features in one batch), the
  attributions averaged, which is the same quantity by linearity. captum's
  calls hold all samples x features (6,200 rows for 200 samples of 30
  features); skxai runs with its default ``batch_size="auto"`` (about 8 MiB
  of rows per call on a table; ``--batch-size`` sets a number: 1024, the
  image default, makes three model calls per 30-feature sample and the
  per-call overhead of a scikit-learn model doubles the time). Both explain
  the positive class's ``predict_proba`` of the same rows; the script prints
  milliseconds per sample, the speed-up, and the largest difference.
- Global view: ``Explanation.importance()`` (mean absolute attribution per
  feature) next to ``sklearn.inspection.permutation_importance`` (5 repeats,
  ``scoring="neg_log_loss"``: a probability score, as the explained output;
  accuracy barely moves on a few well-classified rows and gives all-zero
  importances): time and Spearman rank correlation of the two orderings.
- Memory: the traced peak of Occlusion for several ``batch_size`` values.

Run it in the benchmark environment (captum installed)::

    /opt/skxai-bench/bin/python benchmarks/bench_tabular.py
    /opt/skxai-bench/bin/python benchmarks/bench_tabular.py --quick

Figures measured on a loaded machine are not comparable: the script prints
``os.getloadavg()`` first and last.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    mib,
    print_environment,
    print_table,
    timeit,
    traced_peak,
)

from skxai.saliency import Occlusion  # noqa: E402

SEED = 0
N_REFERENCE = 100
PERMUTATION = {"n_repeats": 5, "random_state": SEED, "scoring": "neg_log_loss"}


def _captum():
    try:
        import torch
        from captum.attr import FeatureAblation
    except ImportError as exc:
        sys.exit(f"captum and torch are needed for this benchmark ({exc}).")
    return torch, FeatureAblation


def datasets(quick):
    """``name -> (X_train, y_train, X_explain)`` as float64 arrays."""
    X, y = load_breast_cancer(return_X_y=True)
    n_rows = 5_000 if quick else 50_000
    Xs, ys = make_classification(
        n_samples=n_rows,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        random_state=SEED,
    )
    return {
        "breast_cancer 569x30": (X, y),
        f"synthetic {n_rows}x20": (Xs, ys),
    }


def models():
    return {
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(
            max_iter=100, random_state=SEED
        ),
        "scaled LogisticRegression": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
    }


def captum_reference_ablation(model, X, reference, *, target=1):
    """captum FeatureAblation averaged over the reference rows (same baselines)."""
    torch, FeatureAblation = _captum()

    def forward(t):
        return torch.as_tensor(model.predict_proba(t.detach().numpy()))

    ablation = FeatureAblation(forward)
    inputs = torch.as_tensor(X)
    total = torch.zeros_like(inputs)
    for row in reference:
        total += ablation.attribute(
            inputs,
            baselines=torch.as_tensor(row[None]),
            target=target,
            perturbations_per_eval=X.shape[1],
        )
    return (total / len(reference)).numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--n-explain", type=int, default=200, help="rows explained per workload"
    )
    parser.add_argument(
        "--batch-size",
        type=lambda v: v if v == "auto" else int(v),
        default="auto",
        help="skxai's batch_size (model rows per call; default 'auto', the "
        "library's default: about 8 MiB of rows on a table)",
    )
    args = parser.parse_args(argv)
    torch, _ = _captum()
    torch.set_num_threads(1)
    print_environment("numpy", "scikit-learn", "torch", "captum")
    print(f"load average at start: {os.getloadavg()}")
    n_explain = 20 if args.quick else args.n_explain
    repeat = 1 if args.quick else 3
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", message="An input array is constant")

    rows, ratios = [], []
    for data_name, (X, y) in datasets(args.quick).items():
        rng = np.random.default_rng(SEED)
        order = rng.permutation(len(X))
        train, explain = order[: len(X) // 2], order[len(X) // 2 :][:n_explain]
        X_train, y_train, X_explain = X[train], y[train], X[explain]
        for model_name, make in models().items():
            model = make().fit(X_train, y_train)
            occ = Occlusion(
                model,
                fill="reference",
                n_reference=N_REFERENCE,
                response_method="predict_proba",
                target=1,
                random_state=SEED,
                batch_size=args.batch_size,
            ).fit(X_train)
            reference = occ.reference_

            def ours(occ=occ):
                return occ.explain(X_explain).maps[:, 0]

            def theirs(model=model, reference=reference):
                return captum_reference_ablation(model, X_explain, reference)

            ours_maps, theirs_maps = ours(), theirs()
            diff = float(np.abs(ours_maps - theirs_maps).max())
            t_ours = timeit(ours, repeat=repeat, warmup=0).best
            t_theirs = timeit(theirs, repeat=1 if args.quick else 2, warmup=0).best
            label = f"{data_name} / {model_name}"
            rows.append(
                {
                    "workload": label,
                    "skxai ms/sample": 1e3 * t_ours / n_explain,
                    "captum ms/sample": 1e3 * t_theirs / n_explain,
                    "speed-up": t_theirs / t_ours,
                    "max |diff|": diff,
                }
            )
            ratios.append(t_theirs / t_ours)

            # Global view: importance() against permutation_importance.
            X_eval, y_eval = X[explain], y[explain]
            t_imp = timeit(
                lambda occ=occ: occ.explain(X_eval).importance(),
                repeat=1,
                warmup=0,
            ).best
            importance = occ.explain(X_eval).importance()
            ranks = importance.reindex([f"x{i}" for i in range(X.shape[1])])
            t_perm = timeit(
                lambda model=model: permutation_importance(
                    model, X_eval, y_eval, **PERMUTATION
                ),
                repeat=1,
                warmup=0,
            ).best
            perm = permutation_importance(model, X_eval, y_eval, **PERMUTATION)
            rho = spearmanr(ranks.to_numpy(), perm.importances_mean).statistic
            print(
                f"{label}: importance() {t_imp:.2f}s, permutation_importance "
                f"{t_perm:.2f}s, Spearman rank correlation {rho:.2f}"
            )
    print_table(rows, title=f"Occlusion fill='reference' ({N_REFERENCE} rows)")
    print(f"geometric mean speed-up: {np.exp(np.mean(np.log(ratios))):.1f}x")

    # Peak memory is bounded by batch_size, not by the number of copies.
    X, y = list(datasets(args.quick).values())[1]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    memory = []
    for batch_size in (256, 4096, 65536):
        occ = Occlusion(
            model,
            fill="reference",
            n_reference=N_REFERENCE,
            batch_size=batch_size,
            random_state=SEED,
        ).fit(X)
        _, peak = traced_peak(occ.explain, X[: 5 * n_explain])
        copies = 5 * n_explain * (X.shape[1] * N_REFERENCE + 1)
        memory.append(
            {"batch_size": batch_size, "model inputs": copies, "peak MiB": mib(peak)}
        )
    print_table(memory, title="Occlusion peak memory (tracemalloc)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
