"""Tests of SimilarityDisplay."""

import numpy as np
import pytest

from skxai.plotting import SimilarityDisplay

from ._helpers import assert_same_images, hide_matplotlib


@pytest.fixture(scope="module")
def similarity(logreg, digits):
    """A GradientSimilarity of the digits LogisticRegression; skip when absent."""
    pytest.importorskip("torch")
    try:
        from skxai import GradientSimilarity
    except (ImportError, AttributeError) as exc:  # pragma: no cover
        pytest.skip(f"GradientSimilarity is not available yet: {exc}")
    X, y = digits
    return GradientSimilarity(logreg, image_shape=(8, 8)).fit(X[:60], y[:60])


def test_similarity_display_from_explainer_equals_from_explanation(
    pyplot, similarity, digits
):
    """Check that both constructors draw the same images and bars."""
    X, y = digits
    expl = similarity.explain(X[100:104], y[100:104])
    a = SimilarityDisplay.from_explanation(expl, samples=[0, 2], k=3)
    b = SimilarityDisplay.from_explainer(
        similarity, X[100:104], y[100:104], samples=[0, 2], k=3
    )
    assert_same_images(a, b)
    assert a.ax_.shape == (2, 5)  # sample, 3 references, bars
    for bars_a, bars_b in zip(a.bars_, b.bars_):
        np.testing.assert_allclose(
            [r.get_height() for r in bars_a], [r.get_height() for r in bars_b]
        )


def test_similarity_display_values(pyplot, similarity, digits):
    """Check the shown references, their labels, and the per-class means."""
    X, y = digits
    expl = similarity.explain(X[100:103], y[100:103])
    disp = SimilarityDisplay.from_explanation(expl, k=2)
    order = expl.ordered_indices
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(
                disp.im_[i, 1 + j].get_array(), X[:60][order[i, j]].reshape(8, 8)
            )
            assert f"label {y[:60][order[i, j]]}" in disp.ax_[i, 1 + j].get_title()
        means = {
            c: expl.scores[i][y[:60][order[i]] == c].mean()
            for c in np.unique(y[:60])
        }
        heights = [r.get_height() for r in disp.bars_[i]]
        np.testing.assert_allclose(heights, [means[c] for c in sorted(means)])


def test_similarity_display_flat_digits_without_image_shape_stay_rows(
    pyplot, logreg, digits
):
    """Check that 64 flat features are not folded into an 8x8 image unless the
    explainer was given image_shape (no perfect-square guess, design rule 8)."""
    pytest.importorskip("torch")
    from skxai import GradientSimilarity

    X, y = digits
    table = GradientSimilarity(logreg).fit(X[:30], y[:30])
    disp = SimilarityDisplay.from_explainer(table, X[40:41], k=1)
    assert disp.im_ is None and len(disp.tables_) == 1  # a table, not a strip
    assert all(name.startswith("x") for name in disp.features_[0])
    image = GradientSimilarity(logreg, image_shape=(8, 8)).fit(X[:30], y[:30])
    disp = SimilarityDisplay.from_explainer(image, X[40:41], k=1)
    assert disp.im_[0, 0].get_array().shape == (8, 8)
    np.testing.assert_allclose(disp.im_[0, 0].get_array(), X[40].reshape(8, 8))


def _table_explanation(rng, n=3, n_ref=20, d=12):
    """A similarity explanation of table rows whose features have very
    different scales, with a tabular layout naming them."""
    from skxai._layout import Layout
    from skxai.similarity import SimilarityExplanation

    scale = 10.0 ** np.arange(-3, d - 3)
    refs = rng.normal(size=(n_ref, d)) * scale
    X = rng.normal(size=(n, d)) * scale
    scores = np.sort(rng.random((n, n_ref)), axis=1)[:, ::-1]
    order = np.array([rng.permutation(n_ref) for _ in range(n)])
    names = [f"feature {chr(97 + j)}" for j in range(d)]
    return SimilarityExplanation(
        scores, ordered_indices=order, most_similar=refs[order[:, :5]],
        least_similar=refs[order[:, ::-1][:, :5]],
        ref_labels=np.arange(n_ref) % 2, ref_predictions=np.arange(n_ref) % 2,
        images=X, labels=np.arange(n) % 2, predictions=np.arange(n) % 2,
        layout=Layout.from_input((d,), feature_names=names),
    ), names


def test_similarity_display_table_rows(pyplot):
    """Check that rows of a table are drawn as tables of named feature values:
    the features where the references differ most from the sample (in units of
    each feature's spread over the rows shown), with the values, labels and
    scores in the cells."""
    rng = np.random.default_rng(0)
    expl, names = _table_explanation(rng)
    disp = SimilarityDisplay.from_explanation(expl, k=3, max_features=4)
    assert disp.im_ is None and disp.ax_.shape == (3, 2)  # table, bars
    shown_rows = np.concatenate(
        [expl.images[:, None], expl.most_similar[:, :3]], axis=1
    )
    spread = shown_rows.reshape(-1, 12).std(axis=0)
    for i, table in enumerate(disp.tables_):
        diff = np.abs(shown_rows[i, 1:] - shown_rows[i, :1]).mean(axis=0) / spread
        expected = np.argsort(-diff, kind="stable")[:4]
        assert list(disp.features_[i]) == [names[f] for f in expected]
        cells = table.get_celld()
        text = {(r, c): cell.get_text().get_text() for (r, c), cell in cells.items()}
        assert [text[(0, c)] for c in range(5)] == ["", "sample", "#1", "#2", "#3"]
        assert text[(1, 0)] == "score" and text[(1, 2)] == f"{expl.scores[i, 0]:.3g}"
        assert text[(2, 0)] == "label" and text[(2, 1)] == str(expl.labels[i])
        for r, f in enumerate(expected, start=4):
            assert text[(r, 0)] == names[f]
            assert text[(r, 1)] == f"{expl.images[i, f]:.4g}"
            assert text[(r, 3)] == f"{expl.most_similar[i, 1, f]:.4g}"
    # every feature when there are fewer than max_features
    disp = SimilarityDisplay.from_explanation(expl, k=1, max_features=50, bars=False)
    assert disp.ax_.shape == (3, 1) and sorted(disp.features_[0]) == sorted(names)


def test_similarity_display_ax_is_honoured(pyplot):
    """Check that the display draws on the given axes, and the size check."""
    rng = np.random.default_rng(0)
    fig, axes = pyplot.subplots(2, 3)
    disp = SimilarityDisplay(
        rng.random((2, 4, 4)), rng.random((2, 2, 4, 4)), rng.random((2, 2))
    ).plot(ax=axes)
    assert disp.figure_ is fig and disp.ax_[1, 2] is axes[1, 2]
    with pytest.raises(ValueError, match="'ax' parameter of SimilarityDisplay"):
        disp.plot(ax=axes[0])


def test_similarity_display_without_matplotlib(monkeypatch):
    """Check that a missing matplotlib raises an ImportError naming the extra."""
    hide_matplotlib(monkeypatch)
    disp = SimilarityDisplay(np.zeros((1, 2, 2)), np.zeros((1, 1, 2, 2)), [[0.0]])
    with pytest.raises(ImportError, match=r"SimilarityDisplay requires matplotlib"):
        disp.plot()
