"""Tests of ClassMapsDisplay."""

import numpy as np
import pytest

from skxai.explanation import Explanation
from skxai.plotting import ClassMapsDisplay

from ._helpers import assert_same_images, hide_matplotlib


@pytest.fixture(scope="module")
def occlusion_all(logreg, digits):
    """An Occlusion explainer of every class, fitted."""
    from skxai import Occlusion

    X, _ = digits
    return Occlusion(
        logreg, window=(2, 2), stride=(2, 2), target="all", image_shape=(8, 8)
    ).fit(X[:50])


def test_class_maps_display_one_image(pyplot, occlusion_all, digits):
    """Check that one image gives the image and one map per class, in order."""
    X, y = digits
    expl = occlusion_all.explain(X[:3], y[:3])
    disp = ClassMapsDisplay.from_explanation(expl, sample=2)
    assert disp.ax_.shape == (1, 11)
    for c in range(10):
        np.testing.assert_allclose(disp.im_[0, 1 + c].get_array(), expl.maps[2, c])
        assert disp.ax_[0, 1 + c].get_title() == str(c)
    assert disp.vmax_ == pytest.approx(np.abs(expl.maps[2]).max())


def test_class_maps_display_from_explainer_equals_from_explanation(
    pyplot, occlusion_all, digits
):
    """Check that from_explainer and from_explanation draw the same images."""
    X, y = digits
    keep = np.flatnonzero(y < 3)[:12]  # three groups keep the grids small
    X, y = X[keep], y[keep]
    expl = occlusion_all.explain(X, y)
    for kw in ({"sample": [0, 3]}, {"by": y}, {"by": y, "diagonal": True}):
        a = ClassMapsDisplay.from_explanation(expl, colorbar=False, **kw)
        b = ClassMapsDisplay.from_explainer(occlusion_all, X, y, colorbar=False, **kw)
        assert_same_images(a, b)
    a = ClassMapsDisplay.from_explanation(expl, by=expl.predictions, colorbar=False)
    b = ClassMapsDisplay.from_explainer(
        occlusion_all, X, y, by="predicted", colorbar=False
    )
    assert_same_images(a, b)


def test_class_maps_display_per_class_averages(pyplot, occlusion_all, digits):
    """Check that rows average the maps of each group, and the diagonal view."""
    X, y = digits
    keep = np.flatnonzero(np.isin(y, [0, 4, 7]))[:20]
    X, y = X[keep], y[keep]
    expl = occlusion_all.explain(X, y)
    disp = ClassMapsDisplay.from_explanation(expl, by=y)
    assert disp.ax_.shape == (3, 11)
    for row, g in enumerate((0, 4, 7)):
        expected = expl.maps[y == g].mean(axis=0)
        mean_image = X[y == g].mean(axis=0).reshape(8, 8)
        np.testing.assert_allclose(disp.im_[row, 0].get_array(), mean_image)
        for c in (0, 7):
            np.testing.assert_allclose(disp.im_[row, 1 + c].get_array(), expected[c])
    with pytest.raises(ValueError, match="group 4 is not one of"):
        ClassMapsDisplay.from_explanation(_subset_targets(expl), by=y, diagonal=True)
    diag = ClassMapsDisplay.from_explanation(expl, by=y, diagonal=True)
    assert diag.ax_.shape == (1, 3)
    np.testing.assert_allclose(
        diag.im_[0, 1].get_array(), expl.maps[y == 4, 4].mean(axis=0)
    )
    # One colour limit for the whole grid, symmetric around zero.
    assert {im.get_clim() for im in disp.im_[:, 1:].ravel()} == {
        (-disp.vmax_, disp.vmax_)
    }


def _subset_targets(expl):
    """The explanation restricted to the maps of classes 0 and 7."""
    return Explanation(
        maps=expl.maps[:, [0, 7]], targets=expl.targets[:, [0, 7]], images=expl.images
    )


def test_class_maps_display_explainer_target_not_all(pyplot, logreg, digits):
    """Check that an explainer with another target is used with target='all'
    and left unchanged."""
    from skxai import Occlusion

    X, _ = digits
    occ = Occlusion(logreg, window=(4, 4), image_shape=(8, 8)).fit(X[:20])
    disp = ClassMapsDisplay.from_explainer(occ, X[:5], sample=1)
    assert disp.ax_.shape == (1, 11)
    assert occ.target == "predicted"


def test_class_maps_display_ax_is_honoured(pyplot):
    """Check that the display draws on the given axes."""
    rng = np.random.default_rng(0)
    fig, axes = pyplot.subplots(2, 3)
    disp = ClassMapsDisplay(rng.standard_normal((2, 3, 4, 4))).plot(
        ax=axes, colorbar=False
    )
    assert disp.figure_ is fig and disp.ax_[1, 2] is axes[1, 2]
    with pytest.raises(ValueError, match="'ax' parameter of ClassMapsDisplay"):
        disp.plot(ax=axes[:1])


def test_class_maps_display_bad_input(pyplot):
    """Check the errors for a bad 'by' and a diagonal without shared targets."""
    rng = np.random.default_rng(0)
    expl = Explanation(maps=rng.standard_normal((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="diagonal=True"):
        ClassMapsDisplay.from_explanation(expl, by=[0, 0, 1, 1], diagonal=True)
    with pytest.raises(ValueError, match="one group per sample"):
        ClassMapsDisplay.from_explanation(expl, by=[0, 1])
    with pytest.raises(ValueError, match="2 classes for 3 maps"):
        ClassMapsDisplay(rng.standard_normal((1, 3, 2, 2)), classes=[0, 1]).plot()


def test_class_maps_display_without_matplotlib(monkeypatch):
    """Check that a missing matplotlib raises an ImportError naming the extra."""
    hide_matplotlib(monkeypatch)
    expl = Explanation(maps=np.zeros((1, 2, 2, 2)))
    with pytest.raises(ImportError, match=r"ClassMapsDisplay requires matplotlib"):
        ClassMapsDisplay.from_explanation(expl)
