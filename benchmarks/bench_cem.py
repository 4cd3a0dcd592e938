"""CEM pertinent negatives and positives against alibi's CEM on the seed CNN.

The seed CNN (``_common.SeedCNN``) trained on MNIST test images 0..7999 explains
20 held-out images (9000..9019) for their predicted class, in both modes, with
the reference's settings: kappa 0, beta 0.1, gamma 0, c_init 1, c_steps 10,
max_iter 1000, learning rate 1e-2, feature range (0, 1), no_info 0.

For each mode it prints the share of valid explanations (the model's class
changes for x + PN, stays for the PP alone, checked with the model itself), the
mean l0 (pixels changed) and l1 of the deltas over the valid ones, and seconds
per image, for skxai batched (all images in one tensor) and at
``batch_size=1``. skxai runs twice: with its default ``f`` (pre-softmax
scores) and with ``response_method="predict_proba"``, which is what alibi's
Keras model (softmax output) gives its loss.

The reference, alibi 0.9.6's CEM (TensorFlow 1 graph mode, one image at a time,
always all c_steps x max_iter steps), was measured earlier on this machine
(2 cores): 34 s (PN) and 39 s (PP) per image, valid for 20 of 20, mean l0 12.7
(PN) and 1.9 (PP), mean l1 4.45 (PN) and 0.46 (PP). These figures are printed,
labelled as such. ``--alibi`` times alibi on 2 images in the same run when
TensorFlow and alibi's CEM import (tensorflow-cpu is an optional install of the
benchmark environment).

Targets: valid for at least 19 of 20 in each mode, mean l1 at most 1.1x
alibi's, and at least 20x faster per image than alibi.

The reference l1 figures do not come from this seed CNN: alibi's CEM run on a
Keras copy of it (``run_alibi``, f = softmax probabilities, same settings)
gives, per image, PN l1 9.73, 8.23, 7.17, 5.85, 6.13, 4.47 (images 9000-9005,
mean 6.93, l0 8-65 pixels) and PP l1 0.67, 1.02, 0, 0, 1.11, 0, 1.22, 1.92,
0.61, 1.25, 1.72, 1.89 (images 9000-9011, mean 0.95). Compare l1 with
``SAME_MODEL`` (``--alibi`` measures it again on the first 2 images).

Run it in the benchmark environment::

    /opt/skxai-bench/bin/python benchmarks/bench_cem.py
    /opt/skxai-bench/bin/python benchmarks/bench_cem.py --quick
"""

import argparse
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

REFERENCE = {  # alibi 0.9.6 CEM, TF1 graph mode, measured earlier on this machine
    "pn": {"s_per_image": 34.0, "valid": 20, "l0": 12.7, "l1": 4.45},
    "pp": {"s_per_image": 39.0, "valid": 20, "l0": 1.9, "l1": 0.46},
}
# alibi 0.9.6 CEM on a Keras copy of the seed CNN, per image (see above).
SAME_MODEL = {
    "pn": (9.73, 8.23, 7.17, 5.85, 6.13, 4.47),
    "pp": (0.67, 1.02, 0.0, 0.0, 1.11, 0.0, 1.22, 1.92, 0.61, 1.25, 1.72, 1.89),
}
SETTINGS = {
    "kappa": 0.0,
    "beta": 0.1,
    "gamma": 0.0,
    "c_init": 1.0,
    "c_steps": 10,
    "max_iter": 1000,
    "learning_rate": 1e-2,
    "feature_range": (0.0, 1.0),
    "no_info": 0.0,
}
ROWS = slice(9000, 9020)


def quality(model, X, ex, mode):
    """Valid count (checked with the model) and mean l0 / l1 over valid deltas."""
    n = len(X)
    delta = np.asarray(ex.delta, dtype=np.float64).reshape(X.shape)
    found = np.asarray(ex.found)
    point = X + np.nan_to_num(delta) if mode == "pn" else np.nan_to_num(delta)
    with torch.no_grad():
        pred = model(torch.as_tensor(point, dtype=torch.float32)).argmax(1).numpy()
    original = np.asarray(ex.original_class)
    ok = found & ((pred != original) if mode == "pn" else (pred == original))
    flat = np.abs(np.nan_to_num(delta.reshape(n, -1)))[ok]
    l0 = float((flat > 0).sum(1).mean()) if len(flat) else float("nan")
    l1 = float(flat.sum(1).mean()) if len(flat) else float("nan")
    return int(ok.sum()), l0, l1


def same_model_ratio(X, ex, mode):
    """skxai's mean l1 and alibi's on the images of ``SAME_MODEL`` (or None)."""
    ref = np.asarray(SAME_MODEL[mode])
    m = min(len(ref), len(X))
    delta = np.abs(np.asarray(ex.delta, dtype=np.float64).reshape(len(X), -1))
    ours = np.where(np.asarray(ex.found)[:m], delta[:m].sum(1), np.nan)
    if m == 0 or np.isnan(ours).any():
        return None
    return m, float(ours.mean()), float(ref[:m].mean())


def run_skxai(model, X, X_ref, mode, *, batch_size, response_method, settings):
    cem = CEM(
        model,
        mode=mode,
        batch_size=batch_size,
        response_method=response_method,
        **settings,
    ).fit(X_ref)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = cem.explain(X)
    seconds = time.perf_counter() - start
    steps = len(ex.history) / len(X)
    return ex, seconds / len(X), steps


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
            beta=settings["beta"],
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


def alibi_quality(X, explanations, mode):  # pragma: no cover - needs TensorFlow
    """Found count and mean l0 / l1 of alibi's deltas (PN: x + delta is returned)."""
    deltas = []
    for x, explanation in zip(X, explanations):
        try:
            found = getattr(explanation, mode.upper())
        except Exception:  # alibi leaves the attribute None or missing
            found = None
        if found is None:
            continue
        found = np.asarray(found, dtype=np.float64).reshape(x.shape)
        deltas.append(found - x if mode == "pn" else found)
    if not deltas:
        return 0, float("nan"), float("nan")
    flat = np.abs(np.stack(deltas).reshape(len(deltas), -1))
    return len(deltas), float((flat > 1e-6).sum(1).mean()), float(flat.sum(1).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 200 steps")
    parser.add_argument("--alibi", action="store_true", help="time alibi on 2 images")
    parser.add_argument(
        "--no-single", action="store_true", help="skip the batch_size=1 runs"
    )
    parser.add_argument(
        "--proba", action="store_true", help="also run with f = predict_proba"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--no-skxai", action="store_true", help="skip the skxai runs (with --alibi)"
    )
    parser.add_argument(
        "--modes", default="pn,pp", help="comma-separated modes to run (pn, pp)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print_environment("numpy", "torch", "scikit-learn")
    print(f"torch threads: {torch.get_num_threads()}")
    model = seed_cnn()
    X_all, _ = load_mnist_test()
    X = X_all[ROWS].astype(np.float32)
    X_ref = X_all[:1000]
    settings = dict(SETTINGS)
    if args.quick:
        X = X[:4]
        settings["max_iter"] = 200

    rows = []
    for mode in args.modes.split(","):
        ref = REFERENCE[mode]
        rows.append(
            {
                "mode": mode.upper(),
                "run": "alibi (reference, measured earlier)",
                "valid": f"{ref['valid']}/20",
                "mean l0": ref["l0"],
                "mean l1": ref["l1"],
                "s/image": ref["s_per_image"],
                "steps/image": 10000,
                "alibi_s": ref["s_per_image"],
            }
        )
        runs = [] if args.no_skxai else [("batched", len(X), "auto")]
        if args.proba:
            runs.append(("batched, f=proba", len(X), "predict_proba"))
        if not (args.no_single or args.no_skxai):
            runs.append(("batch_size=1", 1, "auto"))
        for name, batch_size, method in runs:
            ex, seconds, steps = run_skxai(
                model,
                X,
                X_ref,
                mode,
                batch_size=batch_size,
                response_method=method,
                settings=settings,
            )
            valid, l0, l1 = quality(model, X, ex, mode)
            rows.append(
                {
                    "mode": mode.upper(),
                    "run": f"skxai {name}",
                    "valid": f"{valid}/{len(X)}",
                    "mean l0": l0,
                    "mean l1": l1,
                    "s/image": seconds,
                    "steps/image": round(steps),
                    "alibi_s": ref["s_per_image"],
                }
            )
            print(
                f"{mode} {name}: {seconds:.2f} s/image, valid {valid}/{len(X)}, "
                f"l0 {l0:.1f}, l1 {l1:.3f} (alibi l1 ratio {l1 / ref['l1']:.2f})",
                flush=True,
            )
            same = same_model_ratio(X, ex, mode)
            if same is not None:
                m, ours, theirs = same
                print(
                    f"  on images 9000-{9000 + m - 1}: l1 {ours:.3f} vs alibi's "
                    f"{theirs:.3f} on this model (ratio {ours / theirs:.2f})",
                    flush=True,
                )
        if args.alibi:
            try:
                out = run_alibi(model, X[:2], mode, settings)
            except Exception as exc:  # report and go on with the other figures
                out = f"alibi's CEM failed: {type(exc).__name__}: {exc}"

            if isinstance(out, str):
                print(out)
            else:
                seconds = float(np.mean([s for s, _ in out]))
                valid, l0, l1 = alibi_quality(X[:2], [e for _, e in out], mode)
                print(f"{mode} alibi: {seconds:.2f} s/image on 2 images", flush=True)
                rows.append(
                    {
                        "mode": mode.upper(),
                        "run": "alibi (this run, 2 images)",
                        "valid": f"{valid}/2",
                        "mean l0": l0,
                        "mean l1": l1,
                        "s/image": seconds,
                        "steps/image": settings["c_steps"] * settings["max_iter"],
                        "alibi_s": ref["s_per_image"],
                    }
                )
    for row in rows:
        row["speed-up vs alibi"] = row.pop("alibi_s")
    print()
    print_table(
        [{k: v for k, v in r.items() if k != "speed-up vs alibi"} for r in rows],
        title="CEM on the seed CNN, MNIST 9000-9019 (alibi figures: reference)",
    )
    print()
    print("speed-up vs alibi's 34 s (PN) / 39 s (PP) per image (target >= 20x):")
    measured = {r["mode"]: r["s/image"] for r in rows if "this run" in r["run"]}
    for r in rows:
        if r["run"].startswith("skxai"):
            ratio = r["speed-up vs alibi"] / r["s/image"]
            line = f"  {r['mode']} {r['run']}: {ratio:.1f}x"
            if r["mode"] in measured:
                same_run = measured[r["mode"]] / r["s/image"]
                line += f" ({same_run:.1f}x vs alibi timed in this run)"
            print(line)


if __name__ == "__main__":
    main()
