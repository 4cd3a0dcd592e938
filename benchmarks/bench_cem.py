"""CEM pertinent negatives and positives against alibi's CEM, and MAXi's settings.

The seed CNN (``_common.SeedCNN``) trained on MNIST test images 0..7999 explains
20 held-out images (9000..9019) for their predicted class, in both modes.

1. alibi's settings (FISTA): kappa 0, l1 (alibi's beta) 0.1, gamma 0, c_init 1,
   c_steps 10, max_iter 1000, learning rate 1e-2, feature range (0, 1),
   no_info 0; skxai batched (all images in one tensor) and, unless
   ``--no-single``, at ``batch_size=1``. With ``--alibi``, alibi's own CEM
   (TensorFlow 1 graph mode on a Keras copy of the seed CNN, softmax output, one
   image at a time, all c_steps x max_iter steps) runs on the same images in
   the same run.
2. MAXi's settings (the seed of issue 15): PP kappa (MAXi's K) 2, l1 0.05, l2
   0.005; PN kappa 10, l1 0.005, l2 0.0005; c_init 1; 1000 iterations; once with
   ``optimizer="adaexpgrad"`` (MAXi's optimiser, step size and starting
   points: a PP starts from the image itself) and once with FISTA on the same
   loss; with ``--maxi-c-steps 1``, MAXi's own setup (c = 1, no c search).

For each run it prints the share of valid explanations (checked with the torch
model itself: the class changes for x + PN with its margin, stays for the PP
alone), the mean l0 (pixels changed) and l1 of the deltas over the valid ones,
seconds per image, and ``os.getloadavg()``.

Targets: at least 20x faster than alibi per image in the same run; valid for
at least 19 of 20 in each mode; mean l1 at most 1.1x alibi's on the same
images; for the MAXi settings, AdaExpGrad valid for at least 19 of 20, its PP
l0 at most 1.5x FISTA's and its l1 at most 1.1x FISTA's.

Run it in the benchmark environment (alibi and tensorflow-cpu for ``--alibi``)::

    /opt/skxai-bench/bin/python benchmarks/bench_cem.py --alibi
    /opt/skxai-bench/bin/python benchmarks/bench_cem.py --quick --alibi
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    load_mnist_test,
    print_environment,
    print_table,
    seed_cnn,
)

from skxai.contrastive import CEM  # noqa: E402

ALIBI = {
    "kappa": 0.0,
    "l1": 0.1,
    "gamma": 0.0,
    "c_init": 1.0,
    "c_steps": 10,
    "max_iter": 1000,
    "learning_rate": 1e-2,
    "feature_range": (0.0, 1.0),
    "no_info": 0.0,
}
MAXI = {  # the seed of issue 15: MAXi's K, l1 and l2 per mode
    "pp": {"kappa": 2.0, "l1": 0.05, "l2": 0.005},
    "pn": {"kappa": 10.0, "l1": 0.005, "l2": 0.0005},
}
ROWS = slice(9000, 9020)


def quality(model, X, delta, found, original, mode, kappa=0.0):
    """Valid count (checked with the model) and mean l0 / l1 over valid deltas.

    A PN is valid when another class beats the original by more than
    ``kappa`` at ``x + delta``, a PP when the original beats the others by more
    than ``kappa`` at ``delta`` alone (ties are not valid).
    """
    n = len(X)
    delta = np.nan_to_num(np.asarray(delta, dtype=np.float64).reshape(X.shape))
    point = X + delta if mode == "pn" else delta
    with torch.no_grad():
        scores = model(torch.as_tensor(point, dtype=torch.float32)).double().numpy()
    rows = np.arange(n)
    f_t = scores[rows, original]
    others = scores.copy()
    others[rows, original] = -np.inf
    gain = others.max(1) - f_t if mode == "pn" else f_t - others.max(1)
    ok = np.asarray(found) & (gain > kappa)
    flat = np.abs(delta.reshape(n, -1))[ok]
    l0 = float((flat > 0).sum(1).mean()) if len(flat) else float("nan")
    l1 = float(flat.sum(1).mean()) if len(flat) else float("nan")
    return ok, l0, l1, flat.sum(1)


def run_skxai(model, X, X_ref, mode, *, batch_size=None, **settings):
    cem = CEM(model, mode=mode, batch_size=batch_size or len(X), **settings)
    cem.fit(X_ref)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = cem.explain(X)
    seconds = time.perf_counter() - start
    return ex, seconds / len(X)


def run_alibi(model, X, mode, settings):  # pragma: no cover - needs TensorFlow
    """Time alibi's CEM on ``X`` with a Keras copy of the seed CNN, or say why not."""
    try:
        import tensorflow as tf
        from alibi.explainers import CEM as AlibiCEM
    except Exception as exc:  # ImportError, or TF failing to load
        return f"alibi's CEM not run: {type(exc).__name__}: {exc}"
    tf.compat.v1.disable_eager_execution()
    keras = tf.keras
    last = "channels_last"
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    net = keras.Sequential(
        [
            keras.layers.Permute((2, 3, 1), input_shape=(1, 28, 28)),
            keras.layers.Conv2D(
                64, 2, padding="valid", activation="relu", data_format=last
            ),
            keras.layers.MaxPooling2D(2, data_format=last),
            keras.layers.Conv2D(
                32, 2, padding="valid", activation="relu", data_format=last
            ),
            keras.layers.MaxPooling2D(2, data_format=last),
            # torch flattens channels first
            keras.layers.Permute((3, 1, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    conv1, conv2 = net.layers[1], net.layers[3]
    dense1, dense2 = net.layers[7], net.layers[8]
    conv1.set_weights(
        [state["features.0.weight"].transpose(2, 3, 1, 0), state["features.0.bias"]]
    )
    conv2.set_weights(
        [state["features.4.weight"].transpose(2, 3, 1, 0), state["features.4.bias"]]
    )
    dense1.set_weights([state["classifier.1.weight"].T, state["classifier.1.bias"]])
    dense2.set_weights([state["classifier.4.weight"].T, state["classifier.4.bias"]])
    rows = []
    for x in X:
        cem = AlibiCEM(
            net,
            mode=mode.upper(),
            shape=(1, *x.shape),
            kappa=settings["kappa"],
            beta=settings["l1"],
            feature_range=settings["feature_range"],
            gamma=settings["gamma"],
            max_iterations=settings["max_iter"],
            c_init=settings["c_init"],
            c_steps=settings["c_steps"],
            learning_rate_init=settings["learning_rate"],
            no_info_val=settings["no_info"],
        )
        start = time.perf_counter()
        explanation = cem.explain(x[None])
        rows.append((time.perf_counter() - start, explanation))
    return rows


def alibi_deltas(X, explanations, mode):  # pragma: no cover - needs TensorFlow
    """alibi's deltas (its PN is x + delta) and whether it returned one."""
    deltas = np.full(X.shape, np.nan)
    found = np.zeros(len(X), dtype=bool)
    for i, (x, explanation) in enumerate(zip(X, explanations)):
        try:
            value = getattr(explanation, mode.upper())
        except Exception:  # alibi leaves the attribute None or missing
            value = None
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64).reshape(x.shape)
        deltas[i] = value - x if mode == "pn" else value
        found[i] = True
    return deltas, found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 200 steps")
    parser.add_argument("--alibi", action="store_true", help="run alibi's CEM too")
    parser.add_argument("--no-single", action="store_true", help="no batch_size=1")
    parser.add_argument("--no-maxi", action="store_true", help="no MAXi settings")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--modes", default="pn,pp", help="modes to run (pn, pp)")
    parser.add_argument("--images", type=int, default=20, help="images explained")
    parser.add_argument(
        "--maxi-c-steps",
        type=int,
        default=None,
        help="c steps of the MAXi-settings runs (1: MAXi's own setup, no c search)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print_environment("numpy", "torch", "scikit-learn")
    print(f"torch threads: {torch.get_num_threads()}, load {os.getloadavg()}")
    model = seed_cnn()
    X_all, _ = load_mnist_test()
    X = X_all[ROWS].astype(np.float32)[: args.images]
    X_ref = X_all[:1000]
    alibi_settings, max_iter = dict(ALIBI), 1000
    if args.quick:
        X = X[:4]
        max_iter = alibi_settings["max_iter"] = 200
    with torch.no_grad():
        original = model(torch.as_tensor(X)).argmax(1).numpy()
    n = len(X)

    rows, checks = [], []
    for mode in args.modes.split(","):
        found_l1 = {}
        runs = [("skxai batched", {})]
        if not args.no_single:
            runs.append(("skxai batch_size=1", {"batch_size": 1}))
        for name, extra in runs:
            ex, seconds = run_skxai(model, X, X_ref, mode, **alibi_settings, **extra)
            ok, l0, l1, per = quality(model, X, ex.delta, ex.found, original, mode)
            found_l1[name] = (ok, per, seconds)
            rows.append(_row(mode, name + " (alibi settings)", ok, n, l0, l1, seconds))
            print(rows[-1], flush=True)
        if args.alibi:
            out = _try_alibi(model, X, mode, alibi_settings)
            if isinstance(out, str):
                print(out)
            else:
                seconds = float(np.mean([s for s, _ in out]))
                deltas, found = alibi_deltas(X, [e for _, e in out], mode)
                ok, l0, l1, per = quality(model, X, deltas, found, original, mode)
                rows.append(_row(mode, "alibi (this run)", ok, n, l0, l1, seconds))
                print(rows[-1], flush=True)
                ours_ok, ours_l1, ours_s = found_l1["skxai batched"]
                both = ours_ok & ok
                ours_mean = _mean_on(ours_l1, ours_ok, both)
                theirs_mean = _mean_on(per, ok, both)
                checks.append(
                    f"{mode.upper()} speed-up vs alibi, same run: "
                    f"{seconds / ours_s:.1f}x (target >= 20x)"
                )
                checks.append(
                    f"{mode.upper()} l1 skxai / alibi on the {both.sum()} images both "
                    f"solved: {ours_mean / theirs_mean:.2f} (target <= 1.1)"
                )
        checks.append(
            f"{mode.upper()} skxai valid {found_l1['skxai batched'][0].sum()}/{n} "
            "(target >= 19/20)"
        )
        if args.no_maxi:
            continue
        maxi = {}
        for optimizer in ("adaexpgrad", "fista"):
            settings = dict(
                MAXI[mode],
                optimizer=optimizer,
                c_init=1.0,
                max_iter=max_iter,
                feature_range=(0.0, 1.0),
            )
            if args.maxi_c_steps is not None:
                settings["c_steps"] = args.maxi_c_steps
            ex, seconds = run_skxai(model, X, X_ref, mode, **settings)
            ok, l0, l1, per = quality(
                model, X, ex.delta, ex.found, original, mode, MAXI[mode]["kappa"]
            )
            maxi[optimizer] = (ok, l0, per)
            name = f"skxai {optimizer} (MAXi settings)"
            rows.append(_row(mode, name, ok, n, l0, l1, seconds))
            print(rows[-1], flush=True)
        (a_ok, a_l0, a_l1), (f_ok, f_l0, f_l1) = maxi["adaexpgrad"], maxi["fista"]
        both = a_ok & f_ok
        checks.append(
            f"{mode.upper()} MAXi settings: AdaExpGrad valid {a_ok.sum()}/{n} "
            "(target >= 19/20), "
            f"l0 AdaExpGrad / FISTA {a_l0 / f_l0:.2f} (target <= 1.5), "
            f"l1 ratio on {both.sum()} images both solved "
            f"{_mean_on(a_l1, a_ok, both) / _mean_on(f_l1, f_ok, both):.2f} "
            "(target <= 1.1)"
        )
    print()
    print_table(rows, title=f"CEM on the seed CNN, MNIST 9000-{9000 + n - 1}")
    print()
    for line in checks:
        print(line)
    print(f"load {os.getloadavg()}")


def _mean_on(values, ok, both):
    """Mean of ``values`` (given for the rows of ``ok``) over the rows ``both``."""
    full = np.full(len(ok), np.nan)
    full[ok] = values
    return float(np.nanmean(full[both])) if both.any() else float("nan")


def _row(mode, run, ok, n, l0, l1, seconds):
    return {
        "mode": mode.upper(),
        "run": run,
        "valid": f"{int(ok.sum())}/{n}",
        "mean l0": l0,
        "mean l1": l1,
        "s/image": seconds,
    }


def _try_alibi(model, X, mode, settings):  # pragma: no cover - needs TensorFlow
    try:
        return run_alibi(model, X, mode, settings)
    except Exception as exc:  # report and go on with the other figures
        return f"alibi's CEM failed: {type(exc).__name__}: {exc}"


if __name__ == "__main__":
    main()
