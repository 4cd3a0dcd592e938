"""Tests of skxai._layout: one rule says which values are features and pixels."""

import numpy as np
import pytest

from skxai._layout import Layout

IMAGE_SHAPES = [(28, 28), (1, 4, 4), (3, 4, 4), (4, 4, 3), (3, 5, 2)]
TABLE_WIDTHS = [4, 9, 16, 30]


@pytest.mark.parametrize("input_shape", IMAGE_SHAPES)
def test_layout_nd_images_are_channels_first(input_shape):
    """Check N-D samples are (height, width) or (channels, height, width)."""
    layout = Layout.from_input(input_shape)
    assert layout.kind == "image"
    if len(input_shape) == 2:
        assert (layout.height, layout.width, layout.channels) == (*input_shape, 1)
    else:
        c, h, w = input_shape
        assert (layout.channels, layout.height, layout.width) == (c, h, w)
        assert layout.channels_first
    assert layout.n_units == layout.height * layout.width
    assert layout.map_shape == input_shape
    # A value at channel c, row i, column j lands on pixel (i, j) whatever c.
    x = np.zeros(input_shape)
    i, j = layout.height - 1, layout.width // 2
    index = (i, j) if len(input_shape) == 2 else (input_shape[0] - 1, i, j)
    x[index] = 1.0
    units = layout.features_to_units(x.reshape(1, -1))[0]
    assert np.flatnonzero(units).tolist() == [i * layout.width + j]
    assert layout.unit_names[i * layout.width + j] == f"r{i}c{j}"
    display = layout.to_display(x.reshape(1, -1))[0]
    assert display.shape == layout.display_shape
    assert display[i, j].sum() == 1.0
    # A pixel mask covers every channel of that pixel only.
    mask = np.zeros((1, layout.n_units))
    mask[0, i * layout.width + j] = 1
    features = layout.units_to_features(mask)[0].reshape(input_shape)
    expected = np.zeros(input_shape)
    if len(input_shape) == 2:
        expected[i, j] = 1
    else:
        expected[:, i, j] = 1
    np.testing.assert_array_equal(features, expected)


@pytest.mark.parametrize("image_shape", [(4, 4), (4, 4, 3), (3, 5, 2), (5, 2, 3)])
def test_layout_flat_images_are_channels_last(image_shape):
    """Check flat samples with image_shape are (height, width[, channels])."""
    n = int(np.prod(image_shape))
    layout = Layout.from_input((n,), image_shape=image_shape)
    assert layout.kind == "image" and not layout.channels_first
    assert layout.display_shape == image_shape == layout.map_shape
    x = np.zeros(image_shape)
    x[image_shape[0] - 1, 1, ...] = 1.0
    units = layout.features_to_units(x.reshape(1, -1), reduce="any")[0]
    assert np.flatnonzero(units).tolist() == [(image_shape[0] - 1) * image_shape[1] + 1]


@pytest.mark.parametrize("width", TABLE_WIDTHS)
def test_layout_two_d_is_tabular(width):
    """Check a 2-D X is a table whatever its width (no perfect-square guess)."""
    names = [f"f{i}" for i in range(width)]
    layout = Layout.from_input((width,), feature_names=names)
    assert layout.kind == "tabular"
    assert layout.display_shape == (width,) == layout.map_shape
    assert layout.n_units == width
    assert layout.unit_names.tolist() == names
    values = np.arange(width, dtype=float)[None]
    np.testing.assert_array_equal(layout.features_to_units(values), values)
    np.testing.assert_array_equal(layout.to_display(values), values)
    assert Layout.from_input((width,)).feature_names[-1] == f"x{width - 1}"


def test_layout_groups():
    """Check groups as labels or a dict map units onto their member features."""
    names = ["a", "b", "c", "d", "e"]
    by_label = Layout.from_input((5,), feature_names=names, groups=[0, 1, 0, 2, 1])
    assert by_label.n_units == 3
    assert by_label.unit_names.tolist() == ["0", "1", "2"]
    masks = np.array([[1, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(
        by_label.units_to_features(masks), [[1, 0, 1, 1, 0], [0, 1, 0, 1, 1]]
    )
    values = np.arange(5.0)[None]
    np.testing.assert_array_equal(by_label.features_to_units(values), [[2, 5, 3]])
    by_dict = Layout.from_input(
        (5,), feature_names=names, groups={"ac": ["a", "c"], "e": [4]}
    )
    assert by_dict.unit_names.tolist() == ["ac", "e"]
    # Features in no group are never hidden and pool to no unit.
    np.testing.assert_array_equal(
        by_dict.units_to_features(np.array([[0, 0]])), [[0, 1, 0, 1, 0]]
    )
    np.testing.assert_array_equal(by_dict.features_to_units(values), [[2, 4]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (64,), "image_shape": (7, 7)}, "image_shape"),
        ({"input_shape": (1, 8, 8), "image_shape": (8, 8)}, "image_shape"),
        ({"input_shape": (2, 3, 4, 5)}, "shape"),
        ({"input_shape": (3,), "groups": [0, 1]}, "one group label"),
        ({"input_shape": (3,), "groups": {"g": ["zz"]}}, "zz"),
        ({"input_shape": (3,), "groups": {"g": [0], "h": [0, 1]}}, "more than one"),
        ({"input_shape": (1, 4, 4), "groups": [0] * 16}, "groups"),
        ({"input_shape": (3,), "feature_names": ["a"]}, "feature names"),
    ],
)
def test_layout_bad_input(kwargs, match):
    """Check impossible layouts raise clear errors."""
    input_shape = kwargs.pop("input_shape")
    with pytest.raises(ValueError, match=match):
        Layout.from_input(input_shape, caller="Occlusion", **kwargs)


# ----------------------------------------------- explainers agree with layouts
def _one_value_model(position):
    """Class scores ``[v, -v]`` of the input value at ``position`` (flat index)."""

    def model(X):
        v = np.asarray(X, dtype=np.float64).reshape(len(X), -1)[:, position]
        return np.column_stack([v, -v])

    return model


@pytest.mark.parametrize("input_shape", IMAGE_SHAPES + [(48,), (30,)])
def test_explainers_and_frames_put_values_on_the_right_pixel(input_shape):
    """Check Occlusion, RISE, to_frame and importance agree on pixel positions.

    The model reads one known value (last channel, last row, middle column);
    flat samples are (4, 4, 3) and (3, 5, 2) images given by image_shape.
    """
    from skxai.saliency import RISE, Occlusion

    X, image_shape, position, (i, j) = _hot_pixel_case(input_shape)
    shape = input_shape if image_shape is None else image_shape
    model = _one_value_model(position)
    kw = {"image_shape": image_shape, "target": 0}
    occ = Occlusion(model, window=1, **kw).fit(X)
    layout = occ.layout_
    assert (
        layout.kind == "image"
        and (layout.height, layout.width) == shape[-2:]
        or (image_shape is not None and (layout.height, layout.width) == shape[:2])
    )
    expl = occ.explain(X)
    maps = expl.maps[:, 0]
    assert maps.shape == (3, *shape)
    # The map is the value itself on every channel of that pixel, 0 elsewhere.
    units = layout.features_to_units(maps.reshape(3, -1), reduce="max")
    assert np.flatnonzero(units[0]).tolist() == [i * layout.width + j]
    frame = expl.to_frame()
    hot = frame[frame["value"] != 0]
    assert set(hot["row"]) == {i} and set(hot["col"]) == {j}
    assert expl.importance().index[0] == f"r{i}c{j}"
    grid = max(2, min(shape[-2:] if image_shape is None else shape[:2]) // 2)
    rise = RISE(
        model, n_masks=300, grid_size=grid, debiased=True, random_state=0, **kw
    ).fit(X)
    sal = rise.layout_.to_display(rise.transform(X).reshape(3, -1))
    pixel = sal.reshape(3, layout.height, layout.width, -1).mean(axis=-1)
    best = np.unravel_index(pixel[0].argmax(), pixel[0].shape)
    assert abs(best[0] - i) <= 1 and abs(best[1] - j) <= 1  # smooth masks


@pytest.mark.parametrize("width", TABLE_WIDTHS)
def test_explainers_and_frames_put_values_on_the_right_feature(width):
    """Check tabular Occlusion, RISE, to_frame and importance agree on features."""
    import pandas as pd

    from skxai.saliency import RISE, Occlusion

    k = width - 2
    columns = [f"col_{c}" for c in range(width)]
    X = pd.DataFrame(
        np.random.default_rng(0).uniform(0.5, 1.0, size=(4, width)),
        columns=columns,
        index=[7, 8, 9, 10],
    )
    model = _one_value_model(k)
    occ = Occlusion(model, target=0, fill=0.0).fit(X)
    assert occ.layout_.kind == "tabular"
    expl = occ.explain(X)
    assert expl.maps.shape == (4, 1, width)
    assert (np.flatnonzero(expl.maps[0, 0]) == [k]).all()
    np.testing.assert_allclose(expl.maps[:, 0, k], X[columns[k]])
    frame = expl.to_frame()
    hot = frame[frame["value"] != 0]
    assert set(hot["feature"]) == {columns[k]}
    assert list(hot["sample"]) == [7, 8, 9, 10]
    assert expl.importance().index[0] == columns[k]
    rise = RISE(
        model, n_masks=400, debiased=True, fill=0.0, random_state=0, target=0
    ).fit(X)
    sal = rise.transform(X)
    assert (sal.argmax(axis=1) == k).all()
    out = rise.set_output(transform="pandas").transform(X)
    assert list(out.columns) == columns


def _hot_pixel_case(input_shape):
    """Samples, image_shape and the (row, col) of the one value the model reads."""
    image_shape = {48: (4, 4, 3), 30: (3, 5, 2)}.get(input_shape[0])
    shape = input_shape if image_shape is None else image_shape
    if len(shape) == 2:
        i, j = shape[0] - 1, shape[1] // 2
        index = (i, j)
    elif image_shape is None:  # channels first
        i, j = shape[1] - 1, shape[2] // 2
        index = (shape[0] - 1, i, j)
    else:  # channels last
        i, j = shape[0] - 1, shape[1] // 2
        index = (i, j, shape[2] - 1)
    position = int(np.ravel_multi_index(index, shape))
    X = np.random.default_rng(0).uniform(0.5, 1.0, size=(3, *input_shape))
    return X, image_shape, position, (i, j)


@pytest.mark.parametrize("input_shape", IMAGE_SHAPES + [(48,), (30,)])
def test_displays_and_metrics_put_values_on_the_right_pixel(input_shape):
    """Check Displays draw the map's value on its pixel and metrics remove it first.

    Channels-first N-D samples (``(1, 4, 4)``, ``(4, 4, 3)``: 4 channels) and
    channels-last flat images (``(3, 5, 2)``: 2 channels) are drawn by the
    layout, never by a guess from the sizes of the axes.
    """
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from skxai.metrics import deletion_curve
    from skxai.plotting import ClassMapsDisplay
    from skxai.saliency import Occlusion

    X, image_shape, position, (i, j) = _hot_pixel_case(input_shape)
    model = _one_value_model(position)
    occ = Occlusion(model, window=1, image_shape=image_shape, target="all").fit(X)
    hw = occ.layout_.image_hw
    expl = occ.explain(X)
    for disp in (
        expl.plot(samples=[0]),
        ClassMapsDisplay.from_explanation(expl, sample=0),
    ):
        images = [im.get_array() for a in np.ravel(disp.ax_) for im in a.get_images()]
        assert images and all(np.shape(im)[:2] == hw for im in images)
        maps = [np.asarray(im) for im in images if np.ndim(im) == 2]
        hot = [m for m in maps if np.abs(m).max() > 0 and np.ptp(m) > 0.6]
        assert hot, "no map drawn"
        for m in hot:
            assert np.unravel_index(np.abs(m).argmax(), m.shape) == (i, j)
        plt.close(disp.figure_)
    # SimilarityDisplay: a reference whose hot value is raised far above the
    # others shows its brightest pixel there.
    from skxai.plotting import SimilarityDisplay
    from skxai.similarity import SimilarityExplanation

    refs = X.copy()
    refs.reshape(3, -1)[:, position] += 10.0
    sim = SimilarityExplanation(
        np.ones((3, 3)),
        ordered_indices=np.tile(np.arange(3), (3, 1)),
        most_similar=refs[None].repeat(3, axis=0),
        images=X,
        layout=occ.layout_,
    )
    disp = SimilarityDisplay.from_explanation(sim, samples=[0], k=1)
    drawn = [im.get_array() for im in disp.ax_[0, 1].get_images()]
    sample = [im.get_array() for im in disp.ax_[0, 0].get_images()]
    assert np.shape(drawn[0])[:2] == hw and np.shape(sample[0])[:2] == hw
    bright = np.asarray(drawn[0], dtype=float)
    if bright.ndim == 3:
        bright = bright.sum(axis=-1)
    assert np.unravel_index(bright.argmax(), hw) == (i, j)
    plt.close(disp.figure_)
    # ContrastiveDisplay: a PN adding to the hot value only is drawn there,
    # as are its savepoints.
    from skxai.contrastive import ContrastiveExplanation

    delta = np.zeros_like(X)
    delta.reshape(3, -1)[:, position] = 5.0
    cem = ContrastiveExplanation(
        maps=delta[:, None], delta=delta, found=np.ones(3, dtype=bool),
        images=X, layout=occ.layout_, original_class=np.zeros(3),
        new_class=np.ones(3), params={"mode": "pn"}, savepoints={1: delta},
    )
    disp = cem.plot(samples=[0])
    for axis in disp.ax_[0, 1:3]:
        drawn = np.asarray(axis.get_images()[0].get_array(), dtype=float)
        assert drawn.shape[:2] == hw
        if drawn.ndim == 3:
            drawn = drawn.sum(axis=-1)
        assert np.unravel_index(drawn.argmax(), hw) == (i, j)
    plt.close(disp.figure_)
    # The deletion curve removes the hot pixel first: score 0 after one step.
    maps = expl.maps[:, 0]
    _, curves = deletion_curve(model, X, maps, [0, 0, 0], image_shape=image_shape)
    np.testing.assert_allclose(curves[:, 1], 0.5)
