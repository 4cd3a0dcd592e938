"""Tests of ContrastiveDisplay."""

import numpy as np
import pytest

from skxai.explanation import Explanation
from skxai.plotting import ContrastiveDisplay

from ._helpers import assert_same_images, hide_matplotlib


def _explanation(mode="pn"):
    rng = np.random.default_rng(0)
    images = rng.random((3, 4, 4))
    delta = rng.random((3, 4, 4)) * 0.2
    delta[2] = np.nan  # not found
    return Explanation(
        images=images,
        delta=delta,
        found=np.array([True, True, False]),
        original_class=np.array([1, 2, 3]),
        new_class=np.array([7, 5, 3]),
        savepoints={10: delta * 0.5, 20: delta, 5: delta * 0.1, 15: delta * 0.7},
        params={"mode": mode},
    )


def test_contrastive_display_pn_columns_and_titles(pyplot):
    """Check the PN columns, the classes in the titles and the 'not found' row."""
    expl = _explanation("pn")
    disp = ContrastiveDisplay.from_explanation(
        expl, class_names={7: "seven"}, max_savepoints=2
    )
    assert disp.column_names_ == [
        "original", "PN", "iteration 5", "iteration 20", "original + PN"
    ]
    assert disp.ax_[0, 1].get_title() == "PN -> seven"
    assert disp.ax_[2, 1].get_title() == "PN not found"
    np.testing.assert_allclose(
        disp.im_[0, -1].get_array(), expl.images[0] + expl.delta[0]
    )
    np.testing.assert_allclose(disp.im_[2, -1].get_array(), expl.images[2])


def test_contrastive_display_pp(pyplot):
    """Check that a PP shows the delta itself, without the sum column."""
    expl = _explanation("pp")
    disp = ContrastiveDisplay.from_explanation(expl, samples=[1], max_savepoints=0)
    assert disp.column_names_ == ["original", "PP"]
    assert disp.ax_[0, 1].get_title() == "PP keeps 5"
    np.testing.assert_allclose(disp.im_[0, 1].get_array(), expl.delta[1])


def test_contrastive_display_from_explainer_equals_from_explanation(
    pyplot, logreg, digits
):
    """Check that both constructors draw the same images (CEM when present)."""
    pytest.importorskip("torch")
    try:
        from skxai import CEM
    except (ImportError, AttributeError) as exc:  # pragma: no cover
        pytest.skip(f"CEM is not available yet: {exc}")
    X, _ = digits
    cem = CEM(logreg, mode="pn", max_iter=20, c_steps=1, save_freq=10,
              random_state=0).fit(X[:50])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expl = cem.explain(X[:2])
        a = ContrastiveDisplay.from_explanation(expl)
        b = ContrastiveDisplay.from_explainer(cem, X[:2])
    assert_same_images(a, b)
    assert a.ax_.shape[0] == 2


def test_contrastive_display_ax_and_bad_mode(pyplot):
    """Check that the axes are honoured and an unknown mode is an error."""
    rng = np.random.default_rng(0)
    fig, axes = pyplot.subplots(1, 2)
    disp = ContrastiveDisplay(rng.random((1, 3, 3)), rng.random((1, 3, 3)), mode="pp")
    disp.plot(ax=axes)
    assert disp.figure_ is fig and disp.ax_[0, 1] is axes[1]
    with pytest.raises(ValueError, match="'mode' of ContrastiveDisplay"):
        ContrastiveDisplay(rng.random((1, 3, 3)), rng.random((1, 3, 3)),
                           mode="xx").plot()


def test_contrastive_display_without_matplotlib(monkeypatch):
    """Check that a missing matplotlib raises an ImportError naming the extra."""
    hide_matplotlib(monkeypatch)
    with pytest.raises(ImportError, match=r"ContrastiveDisplay requires matplotlib"):
        ContrastiveDisplay.from_explanation(_explanation())
