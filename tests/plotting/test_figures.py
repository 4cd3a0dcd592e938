"""Every Display drawn to a PNG file, checked on the figure's artists.

Each figure is saved in ``tmp_path`` (so that the layout is the one a user
gets), then its artists are checked: the colour map of the maps, the colour
bar's label (what the values are), no two pieces of text overlapping (their
bounding boxes as the renderer drew them), and the titles present.
"""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from skxai.explanation import Explanation
from skxai.plotting import (
    ClassMapsDisplay,
    ContrastiveDisplay,
    CurveDisplay,
    SaliencyDisplay,
    SimilarityDisplay,
)

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
         "nine"]


def _hidden_tick_labels(fig):
    """Tick labels matplotlib does not draw (ticks outside the view limits)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.get_major_ticks() + axis.get_minor_ticks()
            drawn = {id(t) for t in axis._update_ticks()}
            for tick in ticks:
                if id(tick) not in drawn:
                    hidden.update({id(tick.label1), id(tick.label2)})
    return hidden


def _texts(fig):
    """Drawn, non-empty texts of a figure with their boxes in pixels."""
    from matplotlib.table import Table
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    hidden = _hidden_tick_labels(fig)
    out = []
    # A table's cells hold their texts outside the artist tree findobj walks.
    cell_texts = [
        cell.get_text()
        for table in fig.findobj(Table)
        for cell in table.get_celld().values()
    ]
    for text in fig.findobj(Text) + cell_texts:
        if not text.get_visible() or not text.get_text().strip():
            continue
        if id(text) in hidden:
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        out.append((text, text.get_window_extent(renderer)))
    return out


def check_figure(disp, path, *, titles=()):
    """Save the figure, then check that texts do not overlap and stay in the
    figure, and that the given titles are drawn."""
    fig = disp.figure_
    fig.savefig(path, dpi=72)
    assert path.read_bytes()[:4] == b"\x89PNG"
    fig.canvas.draw()  # lay out again at the figure's dpi, which is measured
    width, height = fig.canvas.get_width_height()
    texts = _texts(fig)
    for (a, box_a), (b, box_b) in combinations(texts, 2):
        assert not box_a.overlaps(box_b), (a.get_text(), b.get_text())
    for text, box in texts:
        assert box.x0 >= -1 and box.x1 <= width + 1, text.get_text()
        assert box.y0 >= -1 and box.y1 <= height + 1, text.get_text()
    drawn = [t.get_text() for t, _ in texts]
    for title in titles:
        assert any(title in t for t in drawn), (title, drawn)
    return drawn


def _cmap_at(im, value):
    """RGBA colour an image draws for ``value``."""
    return np.asarray(im.cmap(im.norm(value)))


def _signed_maps(rng, n=3, k=4, side=8):
    return rng.standard_normal((n, k, side, side))


# ------------------------------------------------------------- class maps
def test_class_maps_figure(pyplot, tmp_path):
    """Check the class-map grid: diverging map white at zero, the colour bar
    labelled and as tall as the grid, ticks apart, class names as titles."""
    rng = np.random.default_rng(0)
    maps = _signed_maps(rng, n=10, k=10) * 1e-3
    disp = ClassMapsDisplay(
        maps, images=rng.random((10, 8, 8)), class_names=NAMES,
        row_names=[f"row {i}" for i in range(10)], value_label="logit difference",
    ).plot()
    check_figure(disp, tmp_path / "class_maps.png", titles=["input", "seven"])
    im = disp.im_[0, 1]
    assert im.get_clim() == (-disp.vmax_, disp.vmax_)
    np.testing.assert_allclose(_cmap_at(im, 0.0)[:3], 1.0, atol=0.04)  # white
    label = disp.colorbar_.ax.get_ylabel()
    assert "logit difference" in label and "1e-3" in label
    bar_box = disp.colorbar_.ax.get_position()
    grid_top = disp.ax_[0, 1].get_position().y1
    grid_bottom = disp.ax_[-1, 1].get_position().y0
    assert bar_box.y1 == pytest.approx(grid_top)
    assert bar_box.y0 == pytest.approx(grid_bottom)


def test_class_maps_one_row_long_label(pyplot, tmp_path):
    """Check that a long colour-bar label is wrapped to a one-row grid's bar
    and stays inside the figure."""
    rng = np.random.default_rng(10)
    disp = ClassMapsDisplay(
        np.abs(_signed_maps(rng, n=1, k=10)), row_names=["mean over\nown class"],
        value_label="mean squared gradient of probability over noise",
    ).plot()
    check_figure(disp, tmp_path / "one_row.png")
    assert "\n" in disp.colorbar_.ax.get_ylabel()


def test_class_maps_normalize_maxabs(pyplot, tmp_path):
    """Check normalize='maxabs': each map scaled by its own largest |value|."""
    rng = np.random.default_rng(1)
    maps = _signed_maps(rng, n=2, k=3) * np.array([1.0, 100.0, 0.01])[:, None, None]
    disp = ClassMapsDisplay(maps, value_label="probability difference").plot(
        normalize="maxabs"
    )
    check_figure(disp, tmp_path / "maxabs.png")
    for i in range(2):
        for j in range(3):
            drawn = np.asarray(disp.im_[i, j].get_array())
            assert np.abs(drawn).max() == pytest.approx(1.0)
            np.testing.assert_allclose(
                drawn, maps[i, j] / np.abs(maps[i, j]).max(), rtol=1e-12
            )
    assert "max |.|" in disp.colorbar_.ax.get_ylabel()
    with pytest.raises(ValueError, match="'normalize' parameter"):
        ClassMapsDisplay(maps).plot(normalize="minmax")


def test_class_maps_nonnegative_and_zero_map(pyplot, tmp_path):
    """Check that maps without negative values are drawn from zero up, white
    at zero, and that an all-zero map says so in its panel."""
    rng = np.random.default_rng(2)
    maps = np.abs(_signed_maps(rng, n=2, k=3))
    maps[1, 2] = 0.0
    disp = ClassMapsDisplay(maps, value_label="Grad-CAM of logit").plot()
    drawn = check_figure(disp, tmp_path / "positive.png", titles=["all zero"])
    assert drawn.count("all zero") == 1
    assert not disp.signed_
    assert disp.im_[0, 0].get_clim() == (0.0, disp.vmax_)
    np.testing.assert_allclose(_cmap_at(disp.im_[0, 0], 0.0)[:3], 1.0, atol=0.04)
    assert disp.zero_maps_.tolist() == [[False] * 3, [False, False, True]]


def test_class_maps_names_what_values_are(pyplot, tmp_path, digits, logreg):
    """Check that the colour bar of an explainer's maps names the score: logit
    differences for a LogisticRegression's decision function, probability
    differences for predict_proba, whatever response_method='auto' chose."""
    from sklearn.neural_network import MLPClassifier

    from skxai.saliency import Occlusion

    X, y = digits
    occ = Occlusion(logreg, window=(4, 4), target="all", image_shape=(8, 8))
    disp = ClassMapsDisplay.from_explainer(occ.fit(X[:20]), X[:3])
    assert disp.colorbar_.ax.get_ylabel().replace("\n", " ") == "logit difference"
    # The default choice of the first sample says how many were left out.
    assert "2 of 3 samples not shown" in check_figure(disp, tmp_path / "lr.png")
    mlp = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    with pytest.warns(Warning):
        mlp.fit(X[:100], y[:100])
    occ = Occlusion(mlp, window=(4, 4), target="all", image_shape=(8, 8))
    disp = ClassMapsDisplay.from_explainer(occ.fit(X[:20]), X[:3], sample=[0])
    assert disp.colorbar_.ax.get_ylabel().replace("\n", " ") == (
        "probability difference"
    )
    assert disp.left_out_ is None  # the sample was asked for


def test_bare_explanation_plot_names_the_resolved_output(pyplot, tmp_path, digits,
                                                         logreg):
    """Check that explain() records the resolved response method, so that a
    bare explain(X).plot() labels its colour bar with the model output the
    maps are made of ('auto' is a LogisticRegression's decision function)."""
    from skxai.saliency import Occlusion

    X, _ = digits
    occ = Occlusion(logreg, window=(4, 4), image_shape=(8, 8)).fit(X[:20])
    expl = occ.explain(X[:2])
    assert expl.response_method == "decision_function"
    disp = expl.plot()
    check_figure(disp, tmp_path / "bare.png")
    assert [b.ax.get_ylabel() for b in disp.colorbars_] == ["logit difference"]
    # Class averages keep it.
    means = occ.explain(X[:4]).mean(by=[0, 0, 1, 1])
    assert means.response_method == "decision_function"
    occ = Occlusion(logreg, window=(4, 4), image_shape=(8, 8),
                    response_method="predict_proba").fit(X[:20])
    disp = occ.explain(X[:2]).plot()
    assert [b.ax.get_ylabel() for b in disp.colorbars_] == [
        "probability difference"
    ]


# --------------------------------------------------------------- saliency
def test_saliency_figure_column_bars(pyplot, tmp_path):
    """Check per-column colour bars with labels and few, separate ticks, a
    sequential map for a non-negative column, and long titles wrapped."""
    rng = np.random.default_rng(3)
    maps = _signed_maps(rng, n=3, k=3)
    maps[:, 1] = np.abs(maps[:, 1]) * 5e-4  # tiny non-negative values
    disp = SaliencyDisplay(
        rng.random((3, 8, 8)), maps,
        method_names=["Saliency", "GradCAM", "SmoothGrad(IntegratedGradients)"],
        labels=[1, 2, 3], predictions=[1, 2, 4], class_names=NAMES,
        value_labels=["gradient of logit", "Grad-CAM of logit",
                      "mean logit difference (IG) over noise"],
    ).plot(scale="column")
    drawn = check_figure(
        disp, tmp_path / "saliency.png",
        titles=["input", "SmoothGrad\n(IntegratedGradients)", "pred: four"],
    )
    assert [b.ax.get_xlabel().replace("\n", " ") for b in disp.colorbars_] == [
        "gradient of logit", "Grad-CAM of logit (x 1e-3)",
        "mean logit difference (IG) over noise",
    ]
    for bar in disp.colorbars_:
        assert 2 <= len([t for t in bar.ax.get_xticklabels() if t.get_text()]) <= 5
    lo, hi = disp.im_[0, 2].get_clim()
    assert lo == 0.0 and hi > 0  # GradCAM column from zero
    lo, hi = disp.im_[0, 1].get_clim()
    assert lo == -hi
    assert not any("1e" in t and t.startswith("\u00d7") for t in drawn)


def test_saliency_title_over_column_titles(pyplot, tmp_path):
    """Check that a figure title does not touch the column titles."""
    rng = np.random.default_rng(4)
    disp = SaliencyDisplay(rng.random((2, 8, 8)), _signed_maps(rng, 2, 1)).plot(
        title="epoch 3"
    )
    check_figure(disp, tmp_path / "title.png", titles=["epoch 3", "input"])


def test_saliency_from_explanation_nested_name_and_left_out(pyplot, tmp_path):
    """Check that a SmoothGrad(IntegratedGradients) column shows the nesting,
    and that samples left out by the default choice are counted."""
    from skxai.saliency import IntegratedGradients, SmoothGrad

    rng = np.random.default_rng(5)
    inner = IntegratedGradients(None)
    expl = Explanation(
        maps=_signed_maps(rng, n=6, k=1), targets=np.zeros((6, 1), dtype=int),
        images=rng.random((6, 8, 8)), explainer="SmoothGrad",
        params=SmoothGrad(inner).get_params(deep=False),
    )
    disp = expl.plot()
    drawn = check_figure(disp, tmp_path / "nested.png")
    assert "SmoothGrad\n(IntegratedGradients)" in drawn
    assert "2 of 6 samples not shown" in drawn
    assert disp.colorbars_[0].ax.get_ylabel() == (
        "mean logit difference (IG) over noise"
    )
    assert expl.plot(samples=[0, 1, 2, 3, 4]).left_out_ is None


# ------------------------------------------------------------- similarity
def _similarity_explanation(rng, n=5, n_ref=30):
    from skxai.similarity import SimilarityExplanation

    scores = np.sort(rng.random((n, n_ref)), axis=1)[:, ::-1]
    order = np.array([rng.permutation(n_ref) for _ in range(n)])
    refs = rng.random((n_ref, 8, 8))
    return SimilarityExplanation(
        scores, ordered_indices=order, most_similar=refs[order[:, :5]],
        least_similar=refs[order[:, ::-1][:, :5]],
        ref_labels=np.arange(n_ref) % 10, ref_predictions=np.arange(n_ref) % 10,
        images=rng.random((n, 8, 8)), labels=np.arange(n) % 10,
        predictions=np.arange(n) % 10,
    )


def test_similarity_figure_class_names(pyplot, tmp_path):
    """Check that bar labels with class names stand apart, and that every
    requested sample is drawn."""
    rng = np.random.default_rng(6)
    expl = _similarity_explanation(rng)
    disp = SimilarityDisplay.from_explanation(
        expl, samples=[0, 1, 2, 3, 4], k=3, class_names=NAMES
    )
    check_figure(disp, tmp_path / "similarity.png",
                 titles=["sample", "most similar 1", "seven"])
    assert disp.ax_.shape == (5, 5)
    assert disp.left_out_ is None
    labels = [t.get_text() for t in disp.ax_[0, -1].get_xticklabels()]
    assert labels == NAMES


def test_similarity_figure_table_rows(pyplot, tmp_path):
    """Check the figure of table rows: named features in small tables beside
    the bars, no text overlapping, long class names upright."""
    from skxai._layout import Layout
    from skxai.similarity import SimilarityExplanation

    rng = np.random.default_rng(7)
    names = ["mean radius", "mean texture", "worst concave points", "area error",
             "mean fractal dimension", "worst symmetry"]
    refs = rng.normal(size=(20, 6)) * [10, 20, 0.1, 40, 0.01, 0.3]
    order = np.array([rng.permutation(20) for _ in range(3)])
    expl = SimilarityExplanation(
        np.sort(rng.random((3, 20)), axis=1)[:, ::-1], ordered_indices=order,
        most_similar=refs[order[:, :5]], least_similar=refs[order[:, ::-1][:, :5]],
        ref_labels=np.arange(20) % 2,
        ref_predictions=np.arange(20) % 2, images=refs[:3] * 1.1,
        labels=np.array([0, 1, 0]), predictions=np.array([0, 1, 1]),
        layout=Layout.from_input((6,), feature_names=names),
    )
    disp = SimilarityDisplay.from_explanation(
        expl, k=3, n_least=1, class_names=["malignant", "benign"]
    )
    check_figure(disp, tmp_path / "tables.png",
                 titles=["worst concave points", "malignant", "#3", "least #1"])
    assert disp.im_ is None and len(disp.tables_) == 3


def test_similarity_default_samples_say_how_many_left_out(pyplot, tmp_path):
    """Check the note when the default choice drops samples, and the least
    similar references shown by n_least."""
    rng = np.random.default_rng(7)
    disp = SimilarityDisplay.from_explanation(
        _similarity_explanation(rng), k=2, n_least=2
    )
    drawn = check_figure(disp, tmp_path / "least.png", titles=["least similar 2"])
    assert "1 of 5 samples not shown" in drawn


# ------------------------------------------------------------ contrastive
def _cem_explanation(mode):
    rng = np.random.default_rng(8)
    images = rng.random((3, 8, 8))
    delta = rng.random((3, 8, 8)) * 0.3
    delta[1] = 0.0  # found but empty
    delta[2] = np.nan  # not found
    return Explanation(
        images=images, delta=delta, found=np.array([True, True, False]),
        original_class=np.array([1, 7, 3]), new_class=np.array([7, 7, 3]),
        savepoints={10: delta * 0.5, 20: delta}, params={"mode": mode},
    )


def test_contrastive_figure_pn(pyplot, tmp_path):
    """Check that the PN map is white at zero, the colour bar says what it is,
    and that the not-found and empty rows say so in panel and title."""
    disp = ContrastiveDisplay.from_explanation(_cem_explanation("pn"))
    drawn = check_figure(
        disp, tmp_path / "pn.png", titles=["PN -> 7", "PN not found", "no PN\nfound"]
    )
    np.testing.assert_array_equal(_cmap_at(disp.im_[0, 1], 0.0)[:3], 1.0)
    assert disp.colorbar_.ax.get_ylabel() == "pixel value added (PN)"
    assert disp.status_ == ["found", "empty", "not found"]
    assert "empty" in drawn


def test_contrastive_figure_empty_pp(pyplot, tmp_path):
    """Check that an empty PP is reported as empty, not as a finding."""
    disp = ContrastiveDisplay.from_explanation(_cem_explanation("pp"))
    check_figure(
        disp, tmp_path / "pp.png",
        titles=["PP keeps 7", "empty PP:\nblank input is 7", "PP not found"],
    )
    assert disp.colorbar_.ax.get_ylabel() == "pixel value kept (PP)"


# ------------------------------------------------------------------ curve
def test_curve_figure_legend_off_the_curves(pyplot, tmp_path):
    """Check a figure large enough, with the legend outside the axes."""
    x = np.linspace(0, 1, 9)
    curves = {}
    for name in ("occlusion", "integrated", "vanilla"):
        curves[f"{name} deletion"] = np.array([1 - x, 1 - x**2])
        curves[f"{name} insertion"] = np.array([x, x**0.5])
    disp = CurveDisplay(x, curves).plot()
    check_figure(disp, tmp_path / "curves.png")
    width, height = disp.figure_.get_size_inches() * 72
    assert width >= 500 and height >= 300
    renderer = disp.figure_.canvas.get_renderer()
    legend = disp.ax_.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(disp.ax_.get_window_extent(renderer))
    # One colour per method, dashed insertion.
    lines = disp.lines_
    colour = lines["vanilla deletion"].get_color()
    assert lines["vanilla insertion"].get_color() == colour
    assert lines["vanilla insertion"].get_linestyle() == "--"


def test_tidy_frame_curve_figure(pyplot, tmp_path):
    """Check from_frame draws a checked figure too."""
    frame = pd.DataFrame({
        "curve": ["deletion"] * 4, "sample": [0, 0, 1, 1],
        "fraction": [0.0, 1.0, 0.0, 1.0], "value": [0.9, 0.1, 0.8, 0.2],
    })
    check_figure(CurveDisplay.from_frame(frame), tmp_path / "frame.png")


# ------------------------------------------------------------ callback
def test_saliency_callback_figure(pyplot, tmp_path, monkeypatch):
    """Check the figure SaliencyCallback saves: the epoch title clear of the
    column titles, the rows named with class_names, the colour bar labelled."""
    pytest.importorskip("skorch")
    import torch
    from skorch import NeuralNetClassifier

    from skxai.callbacks import SaliencyCallback
    from skxai.saliency import Saliency

    rng = np.random.default_rng(9)
    X = rng.random((30, 1, 4, 4)).astype(np.float32)
    y = (X[:, 0, 0, 0] > 0.5).astype(np.int64)
    figures = []
    monkeypatch.setattr(pyplot, "close", figures.append)
    torch.manual_seed(0)
    callback = SaliencyCallback(
        Saliency(None), X[:2], y=y[:2], save_dir=tmp_path,
        class_names=["left", "right"],
    )
    NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)),
        max_epochs=1, train_split=None, verbose=0, callbacks=[callback],
    ).fit(X, y)
    (fig,) = figures

    class Shown:
        figure_ = fig

    drawn = check_figure(Shown, tmp_path / "epoch.png", titles=["epoch 1"])
    assert any(t.startswith("label: left") or t.startswith("label: right")
               for t in drawn)
    assert "gradient of logit" in drawn
