"""Tests of CurveDisplay."""

import numpy as np
import pandas as pd
import pytest

from skxai.plotting import CurveDisplay

from ._helpers import hide_matplotlib


@pytest.fixture(scope="module")
def occlusion(logreg, digits):
    """An Occlusion explainer of the digits LogisticRegression, fitted."""
    from skxai import Occlusion

    X, _ = digits
    return Occlusion(
        logreg, window=(2, 2), stride=(2, 2), image_shape=(8, 8)
    ).fit(X[:50])


def test_curve_display_values(pyplot):
    """Check the mean curve, the percentile band and the AUC in the legend."""
    x = np.linspace(0, 1, 5)
    curves = np.stack([1 - x, 1 - x**2, (1 - x) ** 2])
    disp = CurveDisplay(x, {"deletion": curves}).plot()
    np.testing.assert_allclose(disp.lines_["deletion"].get_ydata(), curves.mean(0))
    auc = (getattr(np, "trapezoid", None) or np.trapz)(curves.mean(0), x)
    assert disp.ax_.get_legend().get_texts()[0].get_text() == (
        f"deletion (AUC {auc:.3f})"
    )
    assert "deletion" in disp.bands_
    with pytest.raises(ValueError, match="has 4 steps, but there are 5"):
        CurveDisplay(x, {"bad": curves[:, :4]}).plot()


def test_curve_display_from_explainer_equals_from_explanation(
    pyplot, occlusion, digits
):
    """Check that both constructors draw the curves of skxai.metrics."""
    from skxai.metrics import deletion_curve

    X, y = digits
    a = CurveDisplay.from_explainer(occlusion, X[:6], n_steps=8)
    expl = occlusion.explain(X[:6])
    b = CurveDisplay.from_explanation(expl, occlusion, X[:6], n_steps=8)
    assert list(a.lines_) == list(b.lines_) == ["deletion", "insertion"]
    for name in a.lines_:
        np.testing.assert_allclose(
            a.lines_[name].get_ydata(), b.lines_[name].get_ydata()
        )
    fractions, curves = deletion_curve(
        occlusion, X[:6], expl.maps[:, 0].reshape(6, -1), expl.targets[:, 0],
        n_steps=8,
    )
    np.testing.assert_allclose(a.lines_["deletion"].get_xdata(), fractions)
    np.testing.assert_allclose(a.lines_["deletion"].get_ydata(), curves.mean(0))


def test_curve_display_from_frame(pyplot, occlusion, digits):
    """Check that evaluate's curves frame gives one line per explainer and curve."""
    from skxai.metrics import evaluate

    X, y = digits
    result = evaluate({"occ": occlusion}, X[:4], y[:4],
                      metrics=["deletion", "insertion"])
    disp = CurveDisplay.from_frame(result.curves)
    assert sorted(disp.lines_) == ["occ deletion", "occ insertion"]


def test_curve_display_ax_and_bad_kind(pyplot, occlusion, digits):
    """Check that the axes are honoured and an unknown kind is an error."""
    X, _ = digits
    fig, ax = pyplot.subplots()
    disp = CurveDisplay([0, 1], {"a": [[1.0, 0.0]]}).plot(ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    with pytest.raises(ValueError, match="'kinds' parameter of CurveDisplay"):
        CurveDisplay.from_explainer(occlusion, X[:2], kinds=("morf",))


def test_curve_display_without_matplotlib(monkeypatch):
    """Check that a missing matplotlib raises an ImportError naming the extra."""
    hide_matplotlib(monkeypatch)
    with pytest.raises(ImportError, match=r"CurveDisplay requires matplotlib"):
        CurveDisplay([0, 1], {"a": [[1.0, 0.0]]}).plot()


def test_curve_display_names_what_is_removed(pyplot, occlusion, digits):
    """Check that the x axis says pixels for images, features for a table and
    feature groups for a grouped table, read from the layout."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skxai import Occlusion

    X, _ = digits
    disp = CurveDisplay.from_explainer(occlusion, X[:2], n_steps=4)
    assert disp.ax_.get_xlabel().startswith("fraction of pixels removed")
    Xc, yc = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xc, yc)
    occ = Occlusion(clf, fill="mean").fit(Xc)
    disp = CurveDisplay.from_explainer(occ, Xc.iloc[:3], n_steps=4)
    assert disp.ax_.get_xlabel().startswith("fraction of features removed")
    groups = [name.split()[0] for name in Xc.columns]  # mean / radius ... / worst
    grouped = Occlusion(clf, fill="mean", groups=groups).fit(Xc)
    expl = grouped.explain(Xc.iloc[:3])
    disp = CurveDisplay.from_explanation(expl, grouped, Xc.iloc[:3], n_steps=4)
    assert disp.ax_.get_xlabel().startswith("fraction of feature groups removed")
    assert len(disp.lines_["deletion"].get_xdata()) == 5
    frame_disp = CurveDisplay.from_frame(
        pd.DataFrame({"curve": "deletion", "sample": 0, "fraction": [0.0, 1.0],
                      "value": [0.9, 0.1]}),
        unit="pixels",
    )
    assert frame_disp.ax_.get_xlabel().startswith("fraction of pixels removed")
