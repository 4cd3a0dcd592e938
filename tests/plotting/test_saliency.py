"""Tests of SaliencyDisplay."""

import numpy as np
import pytest

from skxai.explanation import Explanation
from skxai.plotting import SaliencyDisplay

from ._helpers import assert_same_images, hide_matplotlib


@pytest.fixture(scope="module")
def occlusion(logreg, digits):
    """An Occlusion explainer of the digits LogisticRegression, fitted."""
    from skxai import Occlusion

    X, _ = digits
    return Occlusion(
        logreg, window=(2, 2), stride=(2, 2), image_shape=(8, 8)
    ).fit(X[:50])


@pytest.fixture(scope="module")
def occlusion_all(logreg, digits):
    """An Occlusion explainer of every class, fitted."""
    from skxai import Occlusion

    X, _ = digits
    return Occlusion(
        logreg, window=(2, 2), stride=(2, 2), target="all", image_shape=(8, 8)
    ).fit(X[:50])


def test_saliency_display_from_explainer_equals_from_explanation(
    pyplot, occlusion, digits
):
    """Check that from_explainer and from_explanation draw the same images."""
    X, y = digits
    expl = occlusion.explain(X[:6], y[:6])
    by_expl = SaliencyDisplay.from_explanation(expl, samples=[1, 4])
    by_explainer = SaliencyDisplay.from_explainer(
        occlusion, X[:6], y[:6], samples=[1, 4]
    )
    assert_same_images(by_expl, by_explainer)
    assert by_expl.column_names_ == by_explainer.column_names_
    assert by_expl.ax_.shape == (2, 3)  # input, map, overlay


def test_saliency_display_dict_of_methods_columns(pyplot, occlusion, digits):
    """Check that a dict of explainers gives one column per method, in order."""
    X, y = digits
    from sklearn.base import clone

    coarse = clone(occlusion).set_params(window=(4, 4), stride=(4, 4)).fit(X[:50])
    disp = SaliencyDisplay.from_explainer(
        {"fine": occlusion, "coarse": coarse}, X[:3], y[:3]
    )
    assert disp.column_names_ == ["input", "fine", "coarse", "overlay"]
    assert disp.ax_.shape == (3, 4)
    np.testing.assert_allclose(
        disp.im_[0, 1].get_array(), occlusion.explain(X[:1]).maps[0, 0], atol=1e-12
    )
    # "column" scale: each method's limits are symmetric and shared over rows.
    for j in (1, 2):
        limits = {disp.im_[i, j].get_clim() for i in range(3)}
        assert len(limits) == 1
        lo, hi = limits.pop()
        assert lo == -hi > -np.inf


def test_saliency_display_shared_scale_is_symmetric(pyplot):
    """Check that scale='shared' gives every map the same limits, +-max|map|."""
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((2, 3, 4, 4))
    maps[1, 2, 0, 0] = -9.0
    disp = SaliencyDisplay(rng.random((2, 4, 4)), maps).plot(scale="shared")
    for im in disp.im_[:, 1:4].ravel():
        assert im.get_clim() == (-9.0, 9.0)
    each = SaliencyDisplay(None, maps).plot(scale="each", colorbar=False)
    assert each.im_[0, 0].get_clim()[1] == pytest.approx(np.abs(maps[0, 0]).max())


def test_saliency_display_all_targets_columns_named_by_class(
    pyplot, occlusion_all, digits
):
    """Check that per-class maps become columns titled with the class names."""
    X, y = digits
    names = {c: f"digit {c}" for c in range(10)}
    disp = occlusion_all.explain(X[:2], y[:2]).plot(class_names=names)
    assert disp.column_names_ == ["input"] + [f"digit {c}" for c in range(10)]
    assert "digit 0" in disp.ax_[0, 0].get_ylabel()


def test_saliency_display_ax_is_honoured(pyplot):
    """Check that the display draws on the given axes."""
    rng = np.random.default_rng(0)
    fig, axes = pyplot.subplots(2, 3)
    disp = SaliencyDisplay(rng.random((2, 5, 5)), rng.standard_normal((2, 1, 5, 5)))
    disp.plot(ax=axes)
    assert disp.figure_ is fig
    assert disp.ax_[1, 2] is axes[1, 2]
    assert len(axes[1, 2].images) == 2  # overlay: image and map
    with pytest.raises(ValueError, match="'ax' parameter of SaliencyDisplay"):
        disp.plot(ax=axes[0])


def test_saliency_display_channels_first_maps(pyplot):
    """Check that (1, h, w) torch-style images and maps are drawn as (h, w)."""
    rng = np.random.default_rng(0)
    expl = Explanation(
        maps=rng.standard_normal((2, 1, 1, 6, 6)),
        images=rng.random((2, 1, 6, 6)),
        targets=np.array([[0], [1]]),
        explainer="Saliency",
    )
    disp = SaliencyDisplay.from_explanation(expl)
    assert disp.im_[0, 1].get_array().shape == (6, 6)
    assert disp.column_names_ == ["input", "Saliency", "overlay"]


def test_saliency_display_bad_input(pyplot):
    """Check the errors for bad samples, scale and mismatched explanations."""
    rng = np.random.default_rng(0)
    expl = Explanation(maps=rng.standard_normal((2, 1, 4, 4)))
    with pytest.raises(ValueError, match="'samples' parameter of SaliencyDisplay"):
        SaliencyDisplay.from_explanation(expl, samples=[5])
    with pytest.raises(ValueError, match="'scale' parameter"):
        SaliencyDisplay(None, expl.maps).plot(scale="global")
    other = Explanation(maps=rng.standard_normal((3, 1, 4, 4)))
    with pytest.raises(ValueError, match="same samples"):
        SaliencyDisplay.from_explanation({"a": expl, "b": other})


def test_saliency_display_unfitted_explainer(pyplot, logreg, digits):
    """Check that an unfitted explainer raises NotFittedError."""
    from sklearn.exceptions import NotFittedError

    from skxai import Occlusion

    X, _ = digits
    with pytest.raises(NotFittedError):
        SaliencyDisplay.from_explainer(Occlusion(logreg, image_shape=(8, 8)), X[:2])


def test_saliency_display_without_matplotlib(monkeypatch):
    """Check that a missing matplotlib raises an ImportError naming the extra."""
    hide_matplotlib(monkeypatch)
    expl = Explanation(maps=np.zeros((1, 1, 2, 2)))
    with pytest.raises(ImportError, match=r"pip install 'skxai\[plot\]'"):
        SaliencyDisplay.from_explanation(expl)
    with pytest.raises(ImportError, match="SaliencyDisplay requires matplotlib"):
        expl.plot()
