"""The ``skxai demo``: explain digit classifiers and write figures, CSVs and a report.

The black-box part needs only scikit-learn and matplotlib: a LogisticRegression
and an MLPClassifier are fitted on the digits (or MNIST), and Occlusion explains
them for every class. When torch and skorch are installed, a small CNN is trained
and the gradient, backprop, similarity, contrastive and faithfulness figures are
added. Everything lands in one folder with ``report.html``, a page that shows
each figure with a line on what it shows.
"""

import html
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

_CLASS_NAMES = [str(c) for c in range(10)]


def _fresh(path):
    """``path`` ready to be written: a symbolic link there is removed first.

    Files are never written through a link, which could point out of the
    output folder.
    """
    if path.is_symlink():
        path.unlink()
    return path


class _Report:
    """Collects the written files and what each shows."""

    def __init__(self, out_dir, verbose):
        self.out_dir = Path(out_dir)
        self.verbose = verbose
        self.figures = []  # (section, filename, title, caption)
        self.tables = []  # (filename, caption)
        self.skipped = []  # (what, why)
        self.findings = []  # (explainer, what it found, what it did not find)
        self.start = time.perf_counter()

    def log(self, message):
        if self.verbose:
            elapsed = time.perf_counter() - self.start
            print(f"[skxai demo {elapsed:5.1f}s] {message}", flush=True)

    def figure(self, display_or_fig, filename, section, title, caption, dpi=90):
        import matplotlib.pyplot as plt

        fig = getattr(display_or_fig, "figure_", display_or_fig)
        path = _fresh(self.out_dir / filename)
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        self.figures.append((section, filename, title, caption))
        self.log(f"wrote {path}")
        return path

    def table(self, frame, filename, caption):
        path = _fresh(self.out_dir / filename)
        frame.to_csv(path, index=False)
        self.tables.append((filename, caption))
        self.log(f"wrote {path} ({len(frame)} rows)")
        return path

    def finding(self, explainer, found, not_found):
        """Record what an explainer found and what it did not (or ``"-"``)."""
        self.findings.append((explainer, found, not_found or "-"))
        self.log(f"{explainer}: {found}; not found: {not_found or '-'}")

    def skip(self, what, exc):
        why = f"{type(exc).__name__}: {exc}"
        self.skipped.append((what, why))
        self.log(f"skipped {what}: {why}")
        if self.verbose > 1:
            traceback.print_exception(exc)


# ------------------------------------------------------------------- data
def _load_data(mnist, quick):
    """``(X, y, image_shape, name)`` with X flat float64 in [0, 1]."""
    if mnist is not None:
        from .datasets import load_mnist

        X, y = load_mnist(mnist, subset="test", return_X_y=True)
        X = np.asarray(X, dtype=np.float64)
        return X, np.asarray(y), (28, 28), "MNIST"
    from .datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y), (8, 8), "digits"


def _sizes(name, quick):
    """Sizes of the run; ``quick`` is a smoke run (figures look rough)."""
    sizes = {
        "n_train": 1000, "n_explain": 300, "window": (2, 2), "stride": (1, 1),
        "epochs": 6, "n_steps": 16, "cem_iter": 100, "cem_c_steps": 2,
        "cem_modes": 2, "n_ref": 400, "n_curve": 40, "mlp_iter": 100,
        "n_cem": 10,
    }
    if name == "MNIST":
        sizes.update(n_train=6000, n_explain=200, stride=(2, 2), epochs=4,
                     cem_iter=150, mlp_iter=10)
    if quick:
        sizes.update(
            n_train=300, n_explain=30, epochs=3, n_steps=4, cem_iter=30,
            cem_c_steps=1, cem_modes=2, n_ref=100, n_curve=8, mlp_iter=40,
            n_cem=3,
        )
        if name == "MNIST":
            sizes.update(n_train=200, n_explain=20, window=(4, 4), stride=(4, 4),
                         mlp_iter=10)
    return sizes


# ------------------------------------------------------------ black box part
def _black_box(report, X_train, y_train, X_test, y_test, image_shape, sizes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    from .plotting import ClassMapsDisplay
    from .plotting._base import score_name
    from .saliency import Occlusion

    n = len(X_train)
    models = {
        "logreg": (
            "LogisticRegression",
            LogisticRegression(C=50.0 / n, solver="saga", tol=0.1, max_iter=200)
            if image_shape == (28, 28)
            else LogisticRegression(max_iter=300),
        ),
        "mlp": (
            "MLPClassifier",
            MLPClassifier(hidden_layer_sizes=(50,), max_iter=sizes["mlp_iter"],
                          random_state=0),
        ),
    }
    fitted = {}
    for key, (label, model) in models.items():
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        accuracy = model.score(X_test, y_test)
        report.log(f"{label}: accuracy {accuracy:.3f} on {len(X_test)} held-out images")
        fitted[key] = model
        occ = Occlusion(
            model, window=sizes["window"], stride=sizes["stride"], target="all",
            image_shape=image_shape,
        ).fit(X_train)
        expl = occ.explain(X_test, y_test)
        score = score_name(expl.response_method)
        maps = np.asarray(expl.maps).reshape(len(X_test), expl.maps.shape[1], -1)
        n_zero = int((np.abs(maps).max(axis=2) == 0).sum())
        report.finding(
            f"Occlusion of the {label}",
            f"{maps.shape[0] * maps.shape[1]} maps ({len(X_test)} images x "
            f"{maps.shape[1]} classes) in {score} differences",
            f"{n_zero} maps are all zero (no window changes that class's {score})"
            if n_zero else None,
        )
        report.figure(
            ClassMapsDisplay.from_explanation(expl, sample=0),
            f"{key}_class_maps.png",
            "Black-box maps (Occlusion)",
            f"{label}: one map per class for the first test image",
            f"Occlusion maps of the {label} (held-out accuracy {accuracy:.1%}) for "
            "the first test image, one per class. Red pixels raise that class's "
            "score, blue pixels lower it: the map of the predicted class shows what "
            "makes the model call the image so, the others what speaks against "
            "each alternative.",
        )
        report.figure(
            ClassMapsDisplay.from_explanation(expl, by=y_test),
            f"{key}_class_averages.png",
            "Black-box maps (Occlusion)",
            f"{label}: per-class average maps",
            f"The {label}'s Occlusion maps averaged over the {len(X_test)} test "
            "images, one row per true digit (the mean image first) and one column "
            "per explained class: the global view of which pixels the model uses "
            f"for each class, in {score} differences on one shared scale. The "
            "diagonal shows what a digit looks like to the model; off-diagonal "
            "blue marks the strokes that rule a class out.",
        )
        n_csv = min(len(X_test), 20)
        report.table(
            occ.explain(X_test[:n_csv], y_test[:n_csv]).to_frame(),
            f"{key}_maps.csv",
            f"{label}: the Occlusion maps of the first {n_csv} test images in tidy "
            "form (sample, target, row, col, value).",
        )
        report.table(
            expl.mean(by=y_test).to_frame().rename(columns={"sample": "true_class"}),
            f"{key}_class_averages.csv",
            f"{label}: the per-class average maps (true_class, target, row, col, "
            "value).",
        )
    return fitted


# ------------------------------------------------------------------ torch part
def _make_cnn(image_shape):
    import torch
    from torch import nn

    side = image_shape[0]

    class DemoCNN(nn.Module):
        """Two 3x3 convolutions, a pooling and two dense layers."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(32 * (side // 2) ** 2, 64)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):
            x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
            return self.fc2(self.relu3(self.fc1(self.flatten(x))))

    torch.manual_seed(0)
    return DemoCNN


def _torch_part(report, X_train, y_train, X_test, y_test, image_shape, sizes):
    import torch
    from skorch import NeuralNetClassifier

    from .callbacks import SaliencyCallback
    from .plotting import SaliencyDisplay
    from .saliency import Saliency

    torch.set_num_threads(2)
    shape = (-1, 1, *image_shape)
    Xt_train = X_train.reshape(shape).astype(np.float32)
    Xt_test = X_test.reshape(shape).astype(np.float32)
    watched = Xt_test[:3]
    training_maps = SaliencyCallback(Saliency(None), watched, y=y_test[:3])
    net = NeuralNetClassifier(
        _make_cnn(image_shape),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=sizes["epochs"],
        batch_size=64,
        train_split=None,
        callbacks=[training_maps],
        verbose=0,
    )
    net.fit(Xt_train, y_train.astype(np.int64))
    accuracy = float((net.predict(Xt_test) == y_test).mean())
    report.log(f"CNN (skorch): accuracy {accuracy:.3f}")

    # Saliency maps recorded by the callback during training.
    _training_figure(report, net, watched, y_test[:3])

    steps = sizes["n_steps"]
    samples = min(4, len(Xt_test))
    try:
        from .saliency import IntegratedGradients, SmoothGrad

        methods = {
            "Saliency": Saliency(net),
            "SmoothGrad(Saliency)": SmoothGrad(
                Saliency(net), n_samples=steps, noise=0.15, random_state=0
            ),
            "IntegratedGradients": IntegratedGradients(net, n_steps=steps),
            "SmoothGrad(IntegratedGradients)": SmoothGrad(
                IntegratedGradients(net, n_steps=steps), n_samples=steps,
                noise=0.15, random_state=0,
            ),
        }
        methods = {k: v.fit(Xt_train) for k, v in methods.items()}
        display = SaliencyDisplay.from_explainer(
            methods, Xt_test, y_test, samples=np.arange(samples)
        )
        report.figure(
            display,
            "cnn_saliency_grid.png",
            "Gradient saliency on a CNN",
            "Vanilla, smoothed, integrated and SmInt gradients",
            "Gradient maps of the CNN for its predicted class, one row per test "
            "image: the vanilla gradient of the logit, SmoothGrad (gradients "
            "averaged over noisy copies), Integrated Gradients (gradients along "
            "the path from a black image, times the input: logit differences that "
            "add up to the logit's change from the black image), and SmoothGrad "
            "over Integrated Gradients (SmInt); the last column overlays SmInt on "
            "the image. Each column has its own colour scale, symmetric around "
            "zero, labelled with what its values are."
            + _zero_note(display),
        )
        _completeness(report, methods["IntegratedGradients"], Xt_test, y_test,
                      sizes)
        curve_methods = {"integrated": methods["IntegratedGradients"],
                         "vanilla": methods["Saliency"]}
    except (ImportError, AttributeError) as exc:
        report.skip("gradient saliency grid", exc)
        curve_methods = {"vanilla": Saliency(net).fit(Xt_train)}

    try:
        from .saliency import Deconvolution, GradCAM, GuidedBackprop

        rules = {
            "vanilla": Saliency(net),
            "guided": GuidedBackprop(net),
            "deconv": Deconvolution(net),
            "Grad-CAM": GradCAM(net),
        }
        rules = {k: v.fit(Xt_train) for k, v in rules.items()}
        with warnings.catch_warnings():
            # All-zero Grad-CAM maps are marked in the figure and counted below.
            warnings.simplefilter("ignore", UserWarning)
            display = SaliencyDisplay.from_explainer(
                rules, Xt_test, y_test, samples=np.arange(samples)
            )
        zero = display.zero_maps_
        for j, name in enumerate(rules):
            report.finding(
                f"{name} (CNN)",
                f"{len(zero) - zero[:, j].sum()} of {len(zero)} shown maps non-zero",
                f"{zero[:, j].sum()} maps all zero" if zero[:, j].any() else None,
            )
        report.figure(
            display,
            "cnn_backprop_grid.png",
            "Gradient saliency on a CNN",
            "Vanilla, guided backprop, deconvolution and Grad-CAM",
            "The same images explained by backpropagation rules: guided backprop "
            "lets only positive gradients through the ReLUs, deconvolution passes "
            "back rectified gradients, Grad-CAM weighs the last convolution's "
            "feature maps by their gradients (coarse but class-specific; never "
            "negative, so it is drawn from white at zero to red)."
            + _zero_note(display),
        )
    except (ImportError, AttributeError) as exc:
        report.skip("backprop rules", exc)

    _similarity_part(report, net, Xt_train, y_train, Xt_test, y_test, sizes)
    _cem_part(report, net, Xt_train, Xt_test, y_test, sizes)
    _curve_part(
        report, net, curve_methods, Xt_train, Xt_test, y_test, image_shape, sizes
    )


def _training_figure(report, net, watched, labels):
    from .plotting import SaliencyDisplay

    history = [np.asarray(m) for m in net.history[:, "saliency"]]
    epochs = np.linspace(0, len(history) - 1, min(4, len(history))).round()
    epochs = list(dict.fromkeys(epochs.astype(int)))
    maps = np.stack([history[e][:, 0] for e in epochs], axis=1)
    display = SaliencyDisplay(
        watched,
        maps,
        method_names=[f"epoch {e + 1}" for e in epochs],
        labels=labels,
        value_labels="gradient of logit",
    ).plot(scale="shared", overlay=False)
    report.figure(
        display,
        "cnn_saliency_training.png",
        "Gradient saliency on a CNN",
        "Saliency during training (skorch callback)",
        "Vanilla gradient maps (gradient of the logit of the predicted class) of "
        "three fixed test images, recorded by skxai.callbacks.SaliencyCallback at "
        "the end of training epochs, on one shared colour scale: the maps sharpen "
        "onto the strokes as the network learns.",
    )


def _zero_note(display):
    """A caption sentence on the maps a display marked as all zero."""
    n_zero = int(np.asarray(display.zero_maps_).sum())
    if not n_zero:
        return ""
    return (
        f" {n_zero} of the maps are all zero (the method found nothing for that "
        "image); their panels say so."
    )


def _completeness(report, ig, Xt_test, y_test, sizes):
    """Report how far Integrated Gradients' maps are from adding up."""
    n = min(len(Xt_test), sizes["n_curve"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expl = ig.explain(Xt_test[:n], y_test[:n])
    delta = np.abs(np.asarray(expl.delta, dtype=np.float64)).ravel()
    gap = np.abs(
        np.asarray(expl.maps, dtype=np.float64).reshape(n, -1).sum(axis=1)
        - np.asarray(expl.delta, dtype=np.float64).ravel()
    )
    relative = delta / np.maximum(gap, 1e-12)
    report.finding(
        f"IntegratedGradients (CNN, n_steps={ig.n_steps})",
        f"maps of {n} images; completeness delta |sum of map - (f(x) - "
        f"f(black))|: median {np.median(delta):.2g}, max {delta.max():.2g} logits "
        f"(median {np.median(relative):.1%} of the logit change)",
        f"{int((relative > 0.05).sum())} of {n} images are more than 5% off: more "
        "n_steps would close the gap" if (relative > 0.05).any() else None,
    )


def _similarity_part(report, net, Xt_train, y_train, Xt_test, y_test, sizes):
    try:
        from .plotting import SimilarityDisplay
        from .similarity import GradientSimilarity

        n_ref = min(sizes["n_ref"], len(Xt_train))
        gs = GradientSimilarity(net, similarity="cos").fit(
            Xt_train[:n_ref], y_train[:n_ref]
        )
        display = SimilarityDisplay.from_explainer(
            gs, Xt_test, y_test, samples=np.arange(3), k=4
        )
        report.figure(
            display,
            "cnn_similarity.png",
            "Similar examples",
            "Most similar training images (GradientSimilarity)",
            f"Each test image beside the {n_ref}-image reference set's four most "
            "similar images as the CNN sees them (cosine of the loss gradients), "
            "with labels, predictions and scores; the bars give the mean "
            "similarity to the references of each class.",
        )
        expl = gs.explain(Xt_test[:10], y_test[:10])
        top = np.asarray(expl.ref_labels)[np.asarray(expl.ordered_indices)[:, 0]]
        same = int((top == y_test[:10]).sum())
        report.finding(
            "GradientSimilarity (CNN, cosine)",
            f"the most similar of {n_ref} references has the image's label for "
            f"{same} of 10 test images",
            f"{10 - same} of 10 have a most similar reference of another label"
            if same < 10 else None,
        )
        frame = expl.to_frame()
        report.table(
            frame,
            "cnn_similarity.csv",
            "GradientSimilarity rankings of the first 10 test images (sample, "
            "rank, ref_index, score, ref_label, ref_prediction, ...).",
        )
    except (ImportError, AttributeError) as exc:
        report.skip("similarity", exc)


def _cem_part(report, net, Xt_train, Xt_test, y_test, sizes):
    from sklearn.exceptions import ConvergenceWarning

    try:
        from .contrastive import CEM
        from .plotting import ContrastiveDisplay

        max_iter = sizes["cem_iter"]
        n = min(len(Xt_test), sizes["n_cem"])
        for mode in ("pn", "pp")[: sizes["cem_modes"]]:
            cem = CEM(net, mode=mode, kappa=0.0, beta=0.1, max_iter=max_iter,
                      save_freq=max(1, max_iter // 4),
                      c_steps=sizes["cem_c_steps"]).fit(Xt_train)
            with warnings.catch_warnings():
                # Samples without a solution are shown and counted as such.
                warnings.simplefilter("ignore", ConvergenceWarning)
                expl = cem.explain(Xt_test[:n], y_test[:n])
            display = ContrastiveDisplay.from_explanation(
                expl, samples=np.arange(min(3, n))
            )
            _cem_report(report, mode, expl, display, n, max_iter)
    except (ImportError, AttributeError, TypeError) as exc:
        report.skip("contrastive explanations", exc)


def _cem_report(report, mode, expl, display, n, max_iter):
    """The CEM finding and figure, captioned with what was and was not found."""
    found = np.asarray(expl.found, dtype=bool)
    delta = np.nan_to_num(np.asarray(expl.delta, dtype=np.float64)).reshape(n, -1)
    empty = found & (np.abs(delta).max(axis=1) == 0)
    name = mode.upper()
    missing = []
    if (~found).any():
        missing.append(
            f"no {name} within {max_iter} iterations for {(~found).sum()} of {n} "
            "images"
        )
    if empty.any():
        missing.append(
            f"{empty.sum()} of the {name}s found are empty: the CNN already gives "
            "the class to a blank image, so nothing of the image is needed to "
            "keep it"
        )
    report.finding(
        f"CEM pertinent {'negatives' if mode == 'pn' else 'positives'} (CNN)",
        f"{name} found for {found.sum()} of {n} test images (found rate "
        f"{found.mean():.0%}), {(found & ~empty).sum()} of them non-empty",
        "; ".join(missing) or None,
    )
    shown = display.status_
    counts = {s: shown.count(s) for s in ("found", "not found", "empty")}
    if mode == "pn":
        what = ("the smallest addition (red, white at zero) that makes the CNN "
                "change its answer, and the image with it added")
    else:
        what = ("the smallest part of the image that alone keeps the CNN's "
                "answer")
    caption = f"CEM {name}s of {len(shown)} test images: {what}"
    if counts["found"] < len(shown):
        caption += (
            f". Only {counts['found']} of the {len(shown)} shown images have one"
        )
        details = []
        if counts["not found"]:
            details.append(f"{counts['not found']} not found (marked 'no {name} "
                           "found')")
        if counts["empty"]:
            details.append(f"{counts['empty']} empty (the CNN calls a blank image "
                           "that class already)")
        caption += ": " + ", ".join(details)
    caption += (
        ". The middle columns show the optimiser's iterate at a few iterations "
        f"(MAXi's savepoints). Over the {n} explained images: found for "
        f"{found.sum()}, of which {empty.sum()} empty."
    )
    report.figure(
        display,
        f"cnn_cem_{mode}.png",
        "Contrastive explanations (CEM)",
        f"Pertinent {'negatives' if mode == 'pn' else 'positives'}",
        caption,
    )


def _curve_part(report, net, methods, Xt_train, Xt_test, y_test, image_shape,
                sizes):
    try:
        from .plotting import CurveDisplay
        from .saliency import Occlusion

        window = (2, 2) if image_shape == (8, 8) else (4, 4)
        explainers = {"occlusion": Occlusion(net, window=window).fit(Xt_train),
                      **methods}
        n = min(len(Xt_test), sizes["n_curve"])
        display = CurveDisplay.from_explainer(
            explainers, Xt_test[:n], y_test[:n], n_steps=sizes["n_steps"] * 2
        )
        aucs = display.aucs
        for method in explainers:
            deletion = aucs.get(f"{method} deletion")
            insertion = aucs.get(f"{method} insertion")
            report.finding(
                f"{method} (CNN), faithfulness",
                f"deletion AUC {deletion:.3f} (lower is better), insertion AUC "
                f"{insertion:.3f} (higher is better) over {n} images",
                None,
            )
        report.figure(
            display,
            "cnn_curves.png",
            "Faithfulness",
            "Deletion and insertion curves",
            f"How the CNN's probability for its predicted class changes as the "
            f"most salient pixels of {n} test images are removed (deletion: a "
            "faithful map makes it fall fast, low AUC is better) or inserted into "
            "a blank image (insertion: high AUC is better), for each method; "
            "bands span the 25th to 75th percentile of the images.",
        )
    except (ImportError, AttributeError) as exc:
        report.skip("faithfulness curves", exc)


# ------------------------------------------------------------------ report
_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; margin-top: 0.4em; }
.note { color: #666; font-size: 0.9em; }
table.findings { border-collapse: collapse; font-size: 0.92em; }
table.findings th, table.findings td { border: 1px solid #ccc; padding: 0.3em 0.5em;
       text-align: left; vertical-align: top; }
"""


def _write_html(report, dataset, elapsed):
    from . import __version__

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>skxai demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>skxai demo</h1>",
        f'<p class="note">skxai {html.escape(__version__)}, {html.escape(dataset)}'
        f", made in {elapsed:.0f} s.</p>",
        "<p>Explanations of digit classifiers. Signed maps are drawn in red "
        "(this pixel raises the score of the class) and blue (it lowers it), "
        "with white at zero and colour scales symmetric around zero; maps that "
        "cannot be negative (Grad-CAM) go from white at zero to red. Every colour "
        "bar says what its values are (a logit or probability difference, a "
        "gradient of the logit, ...). A map that is all zero, and an explanation "
        "that was not found, say so in their panel.</p>",
    ]
    if report.findings:
        parts.append(
            '<h2>What each explainer found</h2><table class="findings">'
            "<tr><th>explainer</th><th>found</th><th>did not find</th></tr>"
        )
        for explainer, found, not_found in report.findings:
            parts.append(
                f"<tr><td>{html.escape(explainer)}</td><td>{html.escape(found)}</td>"
                f"<td>{html.escape(not_found)}</td></tr>"
            )
        parts.append("</table>")
    section = None
    for sec, filename, title, caption in report.figures:
        if sec != section:
            parts.append(f"<h2>{html.escape(sec)}</h2>")
            section = sec
        name = html.escape(filename)
        parts.append(
            f'<figure><h3>{html.escape(title)}</h3><img src="{name}" '
            f'alt="{html.escape(title)}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>"
        )
    if report.tables:
        parts.append("<h2>Tables</h2><ul>")
        for filename, caption in report.tables:
            name = html.escape(filename)
            parts.append(
                f'<li><a href="{name}">{name}</a>: {html.escape(caption)}</li>'
            )
        parts.append("</ul>")
    if report.skipped:
        parts.append("<h2>Left out</h2><ul>")
        for what, why in report.skipped:
            parts.append(
                f"<li>{html.escape(what)}: {html.escape(why)}</li>"
            )
        parts.append("</ul>")
    parts.append("</body></html>")
    path = _fresh(report.out_dir / "report.html")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def run_demo(out_dir="skxai-demo", *, mnist=None, quick=False, torch="auto",
             verbose=1):
    """Explain digit classifiers and write figures, CSV tables and a report.

    Parameters
    ----------
    out_dir : str or path-like, default="skxai-demo"
        Folder the files are written to (created if needed).
    mnist : str or path-like, default=None
        Folder of the MNIST IDX files; the embedded digits are used when None.
    quick : bool, default=False
        Smaller sizes, for a smoke run.
    torch : {'auto', True, False}, default='auto'
        Whether to add the torch figures (CNN saliency, similarity, CEM,
        curves); ``'auto'`` adds them when torch and skorch are installed.
    verbose : int, default=1
        Print progress when positive.

    Returns
    -------
    files : dict
        ``figures`` and ``tables`` (lists of paths), ``report`` (the path of
        ``report.html``), ``skipped`` (list of ``(part, reason)``) and
        ``findings`` (list of ``(explainer, found, not found)``).
    """
    import matplotlib.pyplot as plt  # noqa: F401  (fails early without matplotlib)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = _Report(out_dir, verbose)
    X, y, image_shape, dataset = _load_data(mnist, quick)
    sizes = _sizes(dataset, quick)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train = order[: sizes["n_train"]]
    test = order[sizes["n_train"] : sizes["n_train"] + sizes["n_explain"]]
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    report.log(
        f"{dataset}: {len(X_train)} training and {len(X_test)} explained images "
        f"of {image_shape[0]}x{image_shape[1]} pixels"
    )
    _black_box(report, X_train, y_train, X_test, y_test, image_shape, sizes)
    use_torch = torch
    if torch == "auto":
        import importlib.util

        use_torch = all(
            importlib.util.find_spec(name) is not None for name in ("torch", "skorch")
        )
    if use_torch:
        _torch_part(report, X_train, y_train, X_test, y_test, image_shape, sizes)
    else:
        report.skipped.append(
            ("CNN figures", "torch and skorch are not installed: "
             "pip install 'skxai[torch]'")
        )
    elapsed = time.perf_counter() - report.start
    path = _write_html(report, dataset, elapsed)
    report.log(f"wrote {path}")
    return {
        "figures": [out_dir / f for _, f, _, _ in report.figures],
        "tables": [out_dir / f for f, _ in report.tables],
        "report": path,
        "skipped": list(report.skipped),
        "findings": list(report.findings),
    }
