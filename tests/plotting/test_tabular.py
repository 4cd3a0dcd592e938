"""Tests of the tabular displays: importance bars, beeswarm and waterfall."""

from itertools import combinations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skxai.explanation import Explanation
from skxai.plotting import BeeswarmDisplay, ImportanceDisplay, WaterfallDisplay

from ._helpers import hide_matplotlib


@pytest.fixture(scope="module")
def cancer():
    """breast_cancer as a DataFrame, a scaled LogisticRegression and its exact
    attributions ``coef * z`` of the decision function (z the scaled sample)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:120], y.iloc[:120]
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    values = clf[-1].coef_[0] * clf[0].transform(X)
    return X, clf, values


def _layout(names):
    from skxai._layout import Layout

    return Layout.from_input((len(names),), feature_names=np.asarray(names))


def _explanation(X, values, *, base=None, targets=1):
    extras = {} if base is None else {"base_values": base}
    return Explanation(
        maps=values[:, None, :],
        targets=np.full((len(X), 1), targets),
        images=np.asarray(X, dtype=object),
        index=getattr(X, "index", None),
        explainer="Occlusion",
        layout=_layout(list(X.columns)),
        **extras,
    )


def _labels(texts):
    return [t.get_text() for t in texts]


def assert_readable(display, path):
    """Save the figure and check that no two tick labels overlap and that every
    tick label lies inside the figure."""
    fig = display.figure_
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 0
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.canvas.get_width_height()
    for axis in (display.ax_.xaxis, display.ax_.yaxis):
        lo, hi = sorted(axis.get_view_interval())
        texts = [
            t for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs())
            if t.get_visible() and t.get_text() and lo <= loc <= hi
        ]
        boxes = [t.get_window_extent(renderer) for t in texts]
        for a, b in combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)
        for box in boxes:
            assert box.x0 >= -1 and box.x1 <= width + 1
            assert box.y0 >= -1 and box.y1 <= height + 1


def test_importance_display_bars_are_mean_abs_sorted(pyplot, cancer, tmp_path):
    """Check the bars: the mean |attribution| of the top features, in decreasing
    order, named by the DataFrame's columns, with a note of those not shown."""
    X, _, values = cancer
    disp = ImportanceDisplay.from_explanation(_explanation(X, values))
    expected = np.abs(values).mean(axis=0)
    order = np.argsort(-expected)[:10]
    assert len(disp.bars_) == 10
    np.testing.assert_allclose([b.get_width() for b in disp.bars_], expected[order])
    assert _labels(disp.ax_.get_yticklabels()) == list(X.columns[order])
    assert disp.note_.get_text() == "20 more features not shown"
    assert disp.ax_.get_title() == "Occlusion, class 1"
    # an Explanation made by hand does not say which model output it holds
    assert disp.ax_.get_xlabel() == "mean |model score difference|"
    assert_readable(disp, tmp_path / "importance.png")


def test_importance_display_all_features_no_note(pyplot):
    """Check that no note is drawn when every feature fits, and the given axes
    are used."""
    _, ax = pyplot.subplots()
    disp = ImportanceDisplay([0.2, 0.5], ["a", "b"]).plot(ax=ax)
    assert disp.ax_ is ax and disp.note_ is None
    assert _labels(ax.get_yticklabels()) == ["b", "a"]


def test_beeswarm_display_dots_and_colours(pyplot, cancer, tmp_path):
    """Check one row of dots per shown feature at the attributions, coloured from
    blue (low value) to red (high value), and the colour bar's label."""
    X, _, values = cancer
    disp = BeeswarmDisplay.from_explanation(_explanation(X, values), max_display=8)
    order = np.argsort(-np.abs(values).mean(axis=0))[:8]
    assert len(disp.collections_) == 8
    assert _labels(disp.ax_.get_yticklabels()) == list(X.columns[order])
    for row, (coll, j) in enumerate(zip(disp.collections_, order)):
        offsets = coll.get_offsets()
        np.testing.assert_allclose(offsets[:, 0], values[:, j])
        assert np.all(np.abs(offsets[:, 1] + row) <= 0.4 + 1e-12)
        colours = coll.get_facecolors()
        column = X.iloc[:, j].to_numpy()
        high, low = colours[column.argmax()], colours[column.argmin()]
        assert high[0] > high[2] and low[2] > low[0]  # red, blue
    assert disp.colorbar_.ax.get_ylabel() == "feature value (low->high)"
    assert _labels(disp.colorbar_.ax.get_yticklabels()) == ["low", "high"]
    assert disp.note_.get_text() == "22 more features not shown"
    assert_readable(disp, tmp_path / "beeswarm.png")


def test_beeswarm_display_categories_are_grey(pyplot):
    """Check that a column whose values are not numbers gets grey dots and that
    dots of one row never overlap a neighbour row."""
    rng = np.random.RandomState(0)
    values = rng.normal(size=(40, 2))
    data = np.empty((40, 2), dtype=object)
    data[:, 0] = rng.choice(["red", "green"], 40)
    data[:, 1] = rng.normal(size=40)
    disp = BeeswarmDisplay(values, ["colour", "size"], data=data).plot()
    by_name = dict(zip(_labels(disp.ax_.get_yticklabels()), disp.collections_))
    np.testing.assert_allclose(by_name["colour"].get_facecolors()[:, :3], 0.6)
    assert not np.allclose(by_name["size"].get_facecolors()[:, :3], 0.6)
    disp = BeeswarmDisplay(values, ["a", "b"]).plot()
    assert disp.colorbar_ is None


def test_waterfall_display_adds_up_from_the_base_value(pyplot, cancer, tmp_path):
    """Check that the bars start at the base value, chain, and end at
    base + sum = the decision function, with the rest summed in one bar."""
    X, clf, values = cancer
    base = np.full((len(X), 1), clf[-1].intercept_[0])
    disp = WaterfallDisplay.from_explanation(
        _explanation(X, values, base=base), sample=3
    )
    f_x = clf.decision_function(X.iloc[3:4])[0]
    np.testing.assert_allclose(disp.end_, f_x)
    widths = np.array([b.get_width() for b in disp.bars_])
    lefts = np.array([b.get_x() for b in disp.bars_])
    assert len(widths) == 10
    np.testing.assert_allclose(lefts[0], base[3, 0])
    np.testing.assert_allclose(lefts[1:], lefts[:-1] + widths[:-1])
    np.testing.assert_allclose(lefts[-1] + widths[-1], f_x)
    order = np.argsort(-np.abs(values[3]))
    np.testing.assert_allclose(widths[0], values[3, order[9:]].sum())
    np.testing.assert_allclose(widths[1:], values[3, order[:9]][::-1])
    labels = _labels(disp.ax_.get_yticklabels())
    assert labels[0] == "21 other features"
    name = X.columns[order[0]]
    assert labels[-1] == f"{name} = {X.iloc[3][name]:.3g}"
    legend = _labels(disp.ax_.get_legend().get_texts())
    assert legend == [f"base value = {base[3, 0]:.4g}", f"f(x) = {f_x:.4g}"]
    assert disp.ax_.get_title() == f"sample {X.index[3]}, class 1"
    assert_readable(disp, tmp_path / "waterfall.png")


def test_waterfall_display_without_base_values(pyplot):
    """Check that without base values the bars start at 0 and the end is called
    the sum of the attributions, not f(x)."""
    disp = WaterfallDisplay(np.array([0.5, -0.2, 0.1]), ["a", "b", "c"]).plot()
    assert disp.bars_[0].get_x() == 0.0
    np.testing.assert_allclose(disp.end_, 0.4)
    legend = _labels(disp.ax_.get_legend().get_texts())
    assert legend == ["start = 0", "sum of attributions = 0.4"]


def test_tabular_displays_reject_images_and_bad_parameters(pyplot, cancer):
    """Check the errors of image maps, a bad target, max_display and sample."""
    X, _, values = cancer
    image = Explanation(maps=np.zeros((2, 1, 4, 4)))
    for cls in (ImportanceDisplay, BeeswarmDisplay, WaterfallDisplay):
        with pytest.raises(ValueError, match="Use SaliencyDisplay for images"):
            cls.from_explanation(image)
    expl = _explanation(X, values)
    with pytest.raises(ValueError, match="'target' parameter of ImportanceDisplay"):
        ImportanceDisplay.from_explanation(expl, target=1)
    with pytest.raises(ValueError, match="'max_display' parameter of Beeswarm"):
        BeeswarmDisplay.from_explanation(expl, max_display=0)
    with pytest.raises(ValueError, match="'sample' parameter of WaterfallDisplay"):
        WaterfallDisplay.from_explanation(expl, sample=len(X))
    with pytest.raises(ValueError, match="one importance per feature name"):
        ImportanceDisplay([1.0, 2.0], ["a"]).plot()


def test_tabular_displays_without_matplotlib(monkeypatch, cancer):
    """Check that a missing matplotlib raises an ImportError naming the extra."""
    X, _, values = cancer
    hide_matplotlib(monkeypatch)
    expl = _explanation(X, values)
    for cls in (ImportanceDisplay, BeeswarmDisplay, WaterfallDisplay):
        with pytest.raises(ImportError, match=r"skxai\[plot\]"):
            cls.from_explanation(expl)


def test_explanation_plot_picks_the_display_from_the_layout(pyplot, cancer):
    """Check that Explanation.plot draws a table's many samples as a beeswarm,
    one sample (an int, or a one-sample explanation) as a waterfall, and keeps
    SaliencyDisplay for images."""
    from skxai.plotting import SaliencyDisplay

    X, _, values = cancer
    expl = _explanation(X, values)
    many = expl.plot()
    assert isinstance(many, BeeswarmDisplay)
    assert len(many.collections_[0].get_offsets()) == len(X)
    subset = expl.plot(samples=[0, 5, 7])
    assert len(subset.collections_[0].get_offsets()) == 3
    one = expl.plot(samples=4)
    assert isinstance(one, WaterfallDisplay)
    np.testing.assert_allclose(one.end_, values[4].sum())
    single = _explanation(X.iloc[4:5], values[4:5]).plot()
    assert isinstance(single, WaterfallDisplay)
    np.testing.assert_allclose(single.end_, one.end_)
    image = Explanation(maps=np.ones((2, 1, 4, 4)), images=np.ones((2, 4, 4)))
    assert isinstance(image.plot(), SaliencyDisplay)


def test_tabular_displays_from_explainer(pyplot, cancer):
    """Check that from_explainer explains X and draws what from_explanation
    draws from the same explanation, with the DataFrame's column names."""
    from skxai import Occlusion

    X, clf, _ = cancer
    occ = Occlusion(clf, fill="mean").fit(X)
    expl = occ.explain(X.iloc[:20])
    a = ImportanceDisplay.from_explainer(occ, X.iloc[:20])
    b = ImportanceDisplay.from_explanation(expl)
    assert _labels(a.ax_.get_yticklabels()) == _labels(b.ax_.get_yticklabels())
    assert set(_labels(a.ax_.get_yticklabels())) <= set(X.columns)
    np.testing.assert_allclose(
        [r.get_width() for r in a.bars_], [r.get_width() for r in b.bars_]
    )
    a = BeeswarmDisplay.from_explainer(occ, X.iloc[:20], max_display=5)
    b = BeeswarmDisplay.from_explanation(expl, max_display=5)
    for x, y in zip(a.collections_, b.collections_):
        np.testing.assert_allclose(x.get_offsets(), y.get_offsets())
    a = WaterfallDisplay.from_explainer(occ, X.iloc[:20], sample=6)
    b = WaterfallDisplay.from_explanation(expl, sample=6)
    np.testing.assert_allclose(a.end_, b.end_)
    assert a.ax_.get_title() == b.ax_.get_title() == f"sample {X.index[6]}, class 0"
    with pytest.raises(ValueError, match="'sample' parameter of WaterfallDisplay"):
        WaterfallDisplay.from_explainer(occ, X.iloc[:20], sample=20)


def test_tabular_displays_show_feature_groups(pyplot, cancer):
    """Check that a grouped explanation (each member holding its group's value)
    is drawn one row per group, named by the group, a one-column group coloured
    by its column's values and a wider group grey."""
    from skxai._layout import Layout

    X, _, values = cancer
    names = list(X.columns)
    groups = {"size": names[:4], "texture": [names[4]], "rest": names[5:]}
    layout = Layout.from_input((30,), feature_names=np.asarray(names), groups=groups)
    unit_values = np.stack(
        [values[:, layout.groups[u]].sum(axis=1) for u in range(3)], axis=1
    )
    maps = unit_values[:, layout.unit_index()]
    expl = Explanation(maps=maps[:, None], targets=np.ones((len(X), 1), int),
                       images=X.to_numpy(), layout=layout)
    bars = ImportanceDisplay.from_explanation(expl)
    order = np.argsort(-np.abs(unit_values).mean(axis=0), kind="stable")
    assert _labels(bars.ax_.get_yticklabels()) == [
        ["size", "texture", "rest"][u] for u in order
    ]
    np.testing.assert_allclose(
        [b.get_width() for b in bars.bars_], np.abs(unit_values).mean(0)[order]
    )
    swarm = BeeswarmDisplay.from_explanation(expl)
    rows = dict(zip(_labels(swarm.ax_.get_yticklabels()), swarm.collections_))
    np.testing.assert_allclose(rows["size"].get_facecolors()[:, :3], 0.6)
    assert not np.allclose(rows["texture"].get_facecolors()[:, :3], 0.6)
    fall = WaterfallDisplay.from_explanation(expl, sample=2)
    np.testing.assert_allclose(fall.end_, unit_values[2].sum())
    assert f"texture = {X.iloc[2, 4]:.3g}" in _labels(fall.ax_.get_yticklabels())


def test_beeswarm_title_says_when_classes_differ(pyplot, cancer):
    """Check that the title names the class when every sample explains the same
    one, and says so when each sample explains its own (target="predicted")."""
    X, _, values = cancer
    expl = _explanation(X, values)
    expl.targets = np.where(np.arange(len(X)) % 2, 1, 0)[:, None]
    disp = BeeswarmDisplay.from_explanation(expl)
    assert disp.ax_.get_title() == "Occlusion, each sample's explained class"
    disp = BeeswarmDisplay.from_explanation(expl, samples=[1, 3])
    assert disp.ax_.get_title() == "Occlusion, class 1"


def test_tabular_displays_name_the_unit_of_the_attributions(pyplot, cancer):
    """Check that the attribution axis says what the values are and their unit:
    logit differences of Occlusion on a LogisticRegression, Shapley values of
    probabilities, 'attribution' for a Display built without an explainer."""
    from skxai import Occlusion
    from skxai.shapley import ShapleyValues

    X, clf, _ = cancer
    expl = Occlusion(clf, fill="mean").fit(X).explain(X.iloc[:6])
    assert expl.plot().ax_.get_xlabel() == "logit difference"
    assert expl.plot(samples=0).ax_.get_xlabel() == "logit difference (cumulative)"
    disp = ImportanceDisplay.from_explanation(expl)
    assert disp.ax_.get_xlabel() == "mean |logit difference|"
    sv = ShapleyValues(
        clf, response_method="predict_proba", n_permutations=2, n_reference=4,
        random_state=0,
    ).fit(X)
    label = sv.explain(X.iloc[:3]).plot().ax_.get_xlabel()
    assert label == "Shapley value (probability difference)"
    disp = BeeswarmDisplay(np.ones((2, 2)), ["a", "b"]).plot()
    assert disp.ax_.get_xlabel() == "attribution"
