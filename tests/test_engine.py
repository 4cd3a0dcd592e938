"""Tests of skxai._engine: the one function that scores perturbed copies."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skxai._engine import sample_seeds, score_perturbations
from skxai._layout import Layout
from skxai.models import check_model


class CountingModel:
    """A callable model: fixed nonlinear scores, counting and sizing its calls."""

    def __init__(self, n_features, n_classes=3, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.normal(size=(n_features, n_classes))
        self.calls = []

    def __call__(self, X):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        self.calls.append(len(X))
        return np.tanh(X @ self.W) + 0.1 * (X**2) @ np.abs(self.W)


def _naive(model, X, masks, fill=None, reference=None):
    """The definition, one copy at a time."""
    out = []
    for i, x in enumerate(X):
        m_i = masks[i] if masks.ndim == 3 else masks
        f = None if fill is None else np.broadcast_to(fill, X.shape)[i]
        rows = []
        for m in m_i:
            m = m.astype(np.float64)
            if reference is None:
                rows.append(model((m * x + (1 - m) * f)[None])[0])
            else:
                copies = m * x + (1 - m) * reference
                rows.append(model(copies).mean(axis=0))
        out.append(rows)
    return np.asarray(out)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 6))
    X[:, 0] = 0.0  # equal to the fill: hiding feature 0 changes nothing
    return X


@pytest.mark.parametrize("mask_kind", ["bool", "float", "per_sample", "callable"])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_score_perturbations_matches_naive_loop(data, mask_kind, batch_size):
    """Check the engine equals a loop over copies, and never exceeds batch_size."""
    X = data
    rng = np.random.default_rng(1)
    shared = rng.random((9, X.shape[1])) < 0.5
    shared[3] = shared[2]  # a repeated copy
    shared[4] = True  # the sample itself
    shared[5] = ~np.eye(X.shape[1], dtype=bool)[0]  # hides feature 0 only: == x
    if mask_kind == "float":
        masks = shared * rng.uniform(0.2, 1.0, size=shared.shape)
        masks[shared] = 1.0
        masks[5] = shared[5]
    elif mask_kind == "per_sample":
        masks = np.stack([np.roll(shared, i, axis=0) for i in range(len(X))])
    else:
        masks = shared
    model = CountingModel(X.shape[1])
    adapter = check_model(model)
    arg = (lambda i: masks) if mask_kind == "callable" else masks
    got = score_perturbations(
        adapter,
        X,
        arg,
        0.0,
        response_method="auto",
        batch_size=batch_size,
    )
    assert max(model.calls) <= batch_size
    expected = _naive(model, X, np.asarray(masks), fill=0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_score_perturbations_skips_repeated_copies(data):
    """Check copies equal to the sample or to the previous copy are scored once."""
    X = data[:1]
    n_features = X.shape[1]
    masks = np.ones((6, n_features), dtype=bool)
    masks[1, 0] = False  # feature 0 already holds the fill: == x
    masks[2, 1] = False
    masks[3, 1] = False  # == copy 2
    masks[4, 2] = False
    masks[5] = True  # == x
    model = CountingModel(n_features)
    score_perturbations(
        check_model(model), X, masks, 0.0, response_method="auto", batch_size=100
    )
    # The sample itself once, copies 2 and 4.
    assert sum(model.calls) == 3


@pytest.mark.parametrize("batch_size", [1, 4, 7, 50, 1000])
def test_score_perturbations_reference_mean(data, batch_size):
    """Check the interventional score is the mean over reference rows."""
    X = data
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(7, X.shape[1]))
    masks = rng.random((5, X.shape[1])) < 0.5
    masks[0] = True
    model = CountingModel(X.shape[1])
    targets = np.array([[0, 2], [1, 1], [2, 0], [0, 0], [1, 2]])
    got = score_perturbations(
        check_model(model),
        X,
        masks,
        response_method="auto",
        batch_size=batch_size,
        targets=targets,
        reference=reference,
    )
    assert max(model.calls) <= batch_size
    expected = _naive(model, X, masks, reference=reference)
    expected = np.take_along_axis(expected, targets[:, None, :], axis=2)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask_kind", ["bool", "float", "per_sample", "callable"])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_score_perturbations_fill_index_matches_naive_loop(data, mask_kind, batch_size):
    """Check per-copy fill rows (fill_index) against a loop, with repeats skipped."""
    X = data
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(4, X.shape[1]))
    reference[2] = X[3]  # hiding anything of sample 3 against row 2: == x
    k = 10
    masks = rng.random((len(X), k, X.shape[1])) < 0.5
    masks[:, 4] = masks[:, 3]  # with the same fill row below: a repeated copy
    if mask_kind == "float":
        masks = np.where(masks, 1.0, rng.uniform(0.0, 0.8, size=masks.shape))
    index = rng.integers(0, len(reference), size=(len(X), k))
    index[:, 4] = index[:, 3]
    index[3, :] = 2
    if mask_kind in ("bool", "float"):  # one set of masks shared by all samples
        masks = masks[0]
        arg = masks
    elif mask_kind == "callable":
        arg = lambda i: masks[i]  # noqa: E731
    else:
        arg = masks
    model = CountingModel(X.shape[1])

    def run(batch_size):
        return score_perturbations(
            check_model(model),
            X,
            arg,
            response_method="auto",
            batch_size=batch_size,
            reference=reference,
            fill_index=index,
        )

    got = run(batch_size)
    assert max(model.calls) <= batch_size
    full = np.broadcast_to(masks, (len(X), k, X.shape[1])).astype(np.float64)
    expected = np.array(
        [
            [
                model((m * x + (1 - m) * reference[r])[None])[0]
                for m, r in zip(full[i], index[i])
            ]
            for i, x in enumerate(X)
        ]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # inputs sent: per sample at most k - 1 copies (copy 4 repeats copy 3) and
    # x; sample 3 only x (every copy equals it); the other 4 samples send x
    # only if one of their copies hides nothing that differs
    model.calls.clear()
    run(1000)
    assert sum(model.calls) <= 4 * (k - 1 + 1) + 1


def test_score_perturbations_fill_index_bad_input(data):
    """Check that a fill_index of the wrong shape or range is refused clearly."""
    X = data
    masks = np.ones((3, X.shape[1]), dtype=bool)
    adapter = check_model(CountingModel(X.shape[1]))
    reference = np.zeros((2, X.shape[1]))
    kw = {"response_method": "auto", "batch_size": 10}
    with pytest.raises(ValueError, match="needs a 'reference'"):
        score_perturbations(
            adapter, X, masks, 0.0, fill_index=np.zeros((5, 3), int), **kw
        )
    with pytest.raises(ValueError, match="shape"):
        score_perturbations(
            adapter,
            X,
            masks,
            reference=reference,
            fill_index=np.zeros((5, 2), int),
            **kw,
        )
    with pytest.raises(ValueError, match="rows of 'reference'"):
        score_perturbations(
            adapter,
            X,
            masks,
            reference=reference,
            fill_index=np.full((5, 3), 2),
            **kw,
        )
    with pytest.raises(ValueError, match="integer"):
        score_perturbations(
            adapter,
            X,
            masks,
            reference=reference,
            fill_index=np.zeros((5, 3)),
            **kw,
        )


def test_score_perturbations_row_independent_of_batch(data):
    """Check a sample's scores do not depend on the other samples or its position."""
    X = data
    masks = np.random.default_rng(3).random((8, X.shape[1]))
    adapter = check_model(CountingModel(X.shape[1]))
    kw = {"response_method": "auto", "batch_size": 5}
    all_rows = score_perturbations(adapter, X, masks, 0.5, **kw)
    alone = score_perturbations(adapter, X[3:4], masks, 0.5, **kw)
    reversed_ = score_perturbations(adapter, X[::-1], masks, 0.5, **kw)
    np.testing.assert_array_equal(all_rows[3], alone[0])
    np.testing.assert_array_equal(all_rows[::-1], reversed_)


def test_score_perturbations_layout_shapes_model_input():
    """Check the model gets inputs shaped by the layout."""
    layout = Layout.from_input((2, 3, 4))
    seen = []

    def model(X):
        seen.append(X.shape[1:])
        return X.reshape(len(X), -1)[:, :2]

    X = np.random.default_rng(0).random((2, 24))
    masks = np.random.default_rng(1).random((3, 24)) < 0.5
    got = score_perturbations(
        check_model(model),
        X,
        masks,
        0.0,
        response_method="auto",
        batch_size=4,
        layout=layout,
    )
    assert set(seen) == {(2, 3, 4)}
    expected = np.where(masks[None], X[:, None], 0.0)[..., :2]
    np.testing.assert_array_equal(got, expected)


def test_score_perturbations_raw_table_with_categories():
    """Check binary masks over a raw DataFrame keep the columns' dtypes."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 60),
            "city": rng.choice(["a", "b", "c"], 60),
            "income": rng.normal(3, 1, 60),
        }
    )
    y = (frame["city"] == "a") ^ (frame["age"] > 40)
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(), ["city"]), (StandardScaler(), ["age", "income"])
        ),
        LogisticRegression(),
    ).fit(frame, y)
    layout = Layout.from_input(
        (3,), feature_names=frame.columns, dtypes=list(frame.dtypes)
    )
    X = frame.to_numpy(dtype=object)[:4]
    fill = np.array([40.0, "b", 3.0], dtype=object)
    masks = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=bool)
    got = score_perturbations(
        check_model(pipe),
        X,
        masks,
        fill,
        response_method="decision_function",
        batch_size=2,
        layout=layout,
    )
    for i in range(4):
        for j, m in enumerate(masks):
            row = frame.iloc[[i]].copy()
            for c, keep in zip(frame.columns, m):
                if not keep:
                    row[c] = fill[list(frame.columns).index(c)]
            expected = pipe.decision_function(row)[0]
            np.testing.assert_allclose(got[i, j, 1], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="binary"):
        score_perturbations(
            check_model(pipe),
            X,
            np.full((1, 3), 0.5),
            fill,
            response_method="decision_function",
            batch_size=2,
            layout=layout,
        )


def test_score_perturbations_bad_shapes(data):
    """Check wrong masks, fill or reference shapes raise clear errors."""
    adapter = check_model(CountingModel(data.shape[1]))
    kw = {"response_method": "auto", "batch_size": 4}
    with pytest.raises(ValueError, match="'masks'"):
        score_perturbations(adapter, data, np.ones((3, 2)), 0.0, **kw)
    with pytest.raises(ValueError, match="'fill'"):
        score_perturbations(adapter, data, np.ones((3, 6)), np.zeros(4), **kw)
    with pytest.raises(ValueError, match="'reference'"):
        score_perturbations(
            adapter, data, np.ones((3, 6)), reference=np.zeros((2, 4)), **kw
        )
    with pytest.raises(ValueError, match="fill"):
        score_perturbations(adapter, data, np.ones((3, 6)), **kw)


def test_score_perturbations_empty(data):
    """Check zero samples give an empty result with the right shape."""
    adapter = check_model(CountingModel(data.shape[1]))
    out = score_perturbations(
        adapter,
        data[:0],
        np.ones((4, 6)),
        0.0,
        response_method="auto",
        batch_size=3,
        targets=np.zeros((0, 1), dtype=int),
    )
    assert out.shape == (0, 4, 1)


def test_sample_seeds_depend_on_content_only(data):
    """Check a sample's seed depends on its values and random_state only."""
    seeds = sample_seeds(data, 0)
    np.testing.assert_array_equal(sample_seeds(data[::-1], 0), seeds[::-1])
    np.testing.assert_array_equal(sample_seeds(data[2:3], 0), seeds[2:3])
    assert len(set(seeds.tolist())) == len(data)
    assert not np.array_equal(sample_seeds(data, 1), seeds)


def test_layout_to_model_never_truncates_integer_columns():
    """Check a fractional fill of an integer column of a raw table stays a float."""
    layout = Layout.from_input(
        (2,), feature_names=["rooms", "city"], dtypes=[np.dtype("int64"), object]
    )
    rows = np.array([[2.6, "a"], [3, "b"]], dtype=object)
    frame = layout.to_model(rows)
    assert frame["rooms"].tolist() == [2.6, 3.0]
    whole = layout.to_model(np.array([[2, "a"], [3, "b"]], dtype=object))
    assert whole["rooms"].dtype == np.int64


class RecordingModel:
    """Row-wise exact scores; keeps a copy of every input it is given."""

    def __init__(self):
        self.inputs = []

    def __call__(self, X):
        X = np.asarray(X)
        self.inputs.append(X.copy())
        Z = X.astype(np.float64)
        return np.stack([Z[:, 0] * 2.0 - Z[:, 1], np.abs(Z[:, 2]) + 1.0], axis=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("with_reference", [True, False])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 40])
@pytest.mark.parametrize("by_runs", [False, True])
@pytest.mark.parametrize("density", [0.15, 0.5, 0.85])
def test_score_perturbations_reused_buffer_gives_exact_copies(
    monkeypatch, dtype, with_reference, batch_size, by_runs, density
):
    """Check the reused input buffer holds exactly the copies of a naive loop.

    Every batch is written into one buffer; the model must see, bit for bit,
    the copies ``where(m, x, r)`` (signed zeros included), each batch at most
    ``batch_size`` rows, and the scores must equal the naive loop's; with a
    fill, copies are built per run of one sample's copies (``by_runs``) or
    from gathered samples and fills.
    """
    from skxai import _engine

    monkeypatch.setattr(_engine, "_RUN", 1 if by_runs else 10**9)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4, 5)).astype(dtype)
    reference = rng.normal(size=(6, 5)).astype(dtype)
    if dtype != np.int64:
        X[0, 1], reference[2, 3] = -0.0, -0.0
    X[1, 2] = reference[0, 2]  # agrees with a reference row
    # few, half or most features kept (copies against the reference rows
    # are written differently)
    masks = rng.random((4, 9, 5)) < density
    masks[:, 3] = masks[:, 2]  # repeated copies
    masks[:, 0] = True  # the sample itself
    model = RecordingModel()
    kw = {"response_method": "auto", "batch_size": batch_size}
    if with_reference:
        adapter = check_model(model)
        got = score_perturbations(adapter, X, masks, reference=reference, **kw)
        fills = reference
    else:
        fill = rng.normal(size=(4, 5)).astype(dtype)  # one fill per sample
        got = score_perturbations(check_model(model), X, masks, fill, **kw)
        fills = fill[:, None]
    assert max(len(batch) for batch in model.inputs) <= batch_size
    seen = np.concatenate(model.inputs)
    assert seen.dtype == dtype
    expected_rows, expected_scores = [], np.empty(got.shape)
    for i, x in enumerate(X):
        for j, m in enumerate(masks[i]):
            copies = np.where(m, x, fills if with_reference else fills[i])
            expected_scores[i, j] = model(copies).mean(axis=0)
            if j and not np.array_equal(m, masks[i, j - 1]):
                expected_rows.append(copies)
    model.inputs.clear()
    expected_rows = np.concatenate(expected_rows + [X]).view(np.uint8)
    seen = seen.view(np.uint8)  # compare bits: -0.0 differs from 0.0

    def rows(a):
        return {bytes(r) for r in a}

    # every copy the loop builds was sent, bit for bit, and nothing else
    assert rows(seen) <= rows(expected_rows)
    assert rows(expected_rows) - rows(seen) <= rows(X.view(np.uint8))
    np.testing.assert_allclose(got, expected_scores, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_per_sample_plan_in_chunks_equals_one_sample_at_a_time(monkeypatch, kind):
    """Check per-sample masks planned many samples at a time (in chunks) give
    the same skipped copies as the one-sample-at-a-time plan of a callable."""
    from skxai import _engine

    rng = np.random.default_rng(6)
    X = rng.normal(size=(11, 4))
    X[:, 1] = 0.0  # equal to the fill: hiding it changes nothing
    masks = rng.random((11, 8, 4)) < 0.5
    masks[:, 4] = masks[:, 3]
    if kind == "float":
        masks = np.where(masks, 1.0, rng.uniform(0, 0.9, masks.shape))
    fills = _engine._SampleFill(np.zeros_like(X))
    monkeypatch.setattr(_engine, "_PLAN_CHUNK", 3 * 8 * 4)  # 3 samples a step
    chunked = _engine._MaskSource(masks, X).plan(X, fills, None)
    looped = _engine._MaskSource(lambda i: masks[i], X).plan(X, fills, None)
    for a, b in zip(chunked, looped):
        np.testing.assert_array_equal(a, b)
    assert chunked[0].any() and not chunked[0].all() and chunked[1].any()
