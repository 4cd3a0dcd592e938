"""Tabular data end to end, as a scikit-learn user meets it (issue 13).

DataFrames in, a scaled LogisticRegression pipeline, Occlusion with a learned
fill, tidy frames with the column names, global importance, metrics, the
similarity explainer, the Displays, a multi-class table and a ColumnTransformer
with a categorical column.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skxai import Occlusion
from skxai.metrics import deletion_score, infidelity_error, insertion_score


@pytest.fixture(scope="module")
def cancer():
    """breast_cancer as a DataFrame (index shifted) and a scaled
    LogisticRegression pipeline fitted on it."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.index = X.index + 100
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return X, y, clf


@pytest.fixture(scope="module")
def cities():
    """A table with a categorical column, a ColumnTransformer pipeline on it."""
    rng = np.random.RandomState(0)
    n = 150
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.normal(50, 15, n),
            "city": rng.choice(["oslo", "paris", "rome"], n, p=[0.2, 0.5, 0.3]),
        }
    )
    y = ((X["age"] - 40) / 10 + 2 * (X["city"] == "rome") > 0.8).astype(int)
    encode = ColumnTransformer(
        [("num", StandardScaler(), ["age", "income"]),
         ("cat", OneHotEncoder(), ["city"])]
    )
    clf = make_pipeline(encode, LogisticRegression()).fit(X, y)
    return X, y, clf


def test_breast_cancer_occlusion_frame_importance_and_metrics(cancer):
    """Check the user's first steps: Occlusion(fill="mean") hides one feature at
    a time (coef * scaled x on the decision function), to_frame has the column
    names and the DataFrame's index, importance() ranks the features, and the
    metrics score the explanation above a random one."""
    X, _, clf = cancer
    occ = Occlusion(clf, fill="mean").fit(X)
    assert occ.layout_.kind == "tabular"
    expl = occ.explain(X.iloc[:5])
    assert expl.maps.shape == (5, 1, 30)
    frame = expl.to_frame()
    assert list(frame.columns) == ["sample", "target", "feature", "value"]
    assert list(frame["feature"][:30]) == list(X.columns)
    assert list(frame["sample"].unique()) == list(X.index[:5])
    # The fill is the mean of X, which the scaler maps to 0: hiding feature j
    # moves the decision function by coef_j * z_j (sign of the explained class).
    z = clf[0].transform(X.iloc[:5])
    sign = np.where(np.asarray(expl.targets)[:, 0] == 1, 1.0, -1.0)[:, None]
    np.testing.assert_allclose(
        expl.maps[:, 0], sign * clf[-1].coef_[0] * z, atol=1e-10
    )
    importance = occ.explain(X.iloc[:200]).importance()
    expected = np.abs(clf[-1].coef_[0] * clf[0].transform(X.iloc[:200])).mean(0)
    expected = pd.Series(expected, index=X.columns).sort_values(ascending=False)
    assert list(importance.index) == list(expected.index)
    np.testing.assert_allclose(importance.to_numpy(), expected.to_numpy(), atol=1e-9)
    # Metrics: the exact attribution removes evidence faster than a random map.
    X20 = X.iloc[:20]
    exact = occ.explain(X20)
    random = np.random.RandomState(0).normal(size=(20, 30))
    assert np.isfinite(occ.score(X20))
    assert deletion_score(occ, X20, exact, fill="mean").mean() > deletion_score(
        occ, X20, random, np.asarray(exact.targets)[:, 0], fill="mean"
    ).mean()
    ins = insertion_score(occ, X20, exact)
    assert np.all((ins >= 0) & (ins <= 1))
    assert infidelity_error(occ, X20, exact, random_state=0).shape == (20,)


def test_breast_cancer_gradient_similarity(cancer):
    """Check that GradientSimilarity ranks references of a pipeline on a table."""
    pytest.importorskip("torch")
    from skxai import GradientSimilarity

    X, y, clf = cancer
    gs = GradientSimilarity(clf, similarity="cos", n_top=3).fit(
        X.iloc[:200], y.iloc[:200]
    )
    assert gs.transform(X.iloc[300:305]).shape == (5, 3)
    expl = gs.explain(X.iloc[300:305])
    assert list(expl.layout.feature_names) == list(X.columns)
    assert gs.score(X.iloc[300:400]) > 0.5


def test_wine_all_classes(pyplot):
    """Check a 3-class table: one map per class, importance per class, and a
    Display of the third class with the wine column names."""
    from skxai.plotting import ImportanceDisplay

    X, y = load_wine(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    occ = Occlusion(clf, fill="median", target="all").fit(X)
    expl = occ.explain(X.iloc[:8])
    assert expl.maps.shape == (8, 3, 13)
    frame = expl.to_frame()
    assert len(frame) == 8 * 3 * 13
    assert set(frame["feature"]) == set(X.columns)
    importance = expl.importance()
    assert list(importance.columns) == [0, 1, 2]
    disp = ImportanceDisplay.from_explanation(expl, target=2, max_display=13)
    widths = np.array([b.get_width() for b in disp.bars_])
    expected = np.abs(expl.maps[:, 2]).mean(axis=0)
    np.testing.assert_allclose(widths, np.sort(expected)[::-1])
    labels = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert labels == list(X.columns[np.argsort(-expected, kind="stable")])
    assert disp.ax_.get_title() == "Occlusion, class 2"


def test_column_transformer_categorical_column_is_one_feature(cities, pyplot):
    """Check that a ColumnTransformer pipeline is explained in the original
    columns (the one-hot city is one feature, filled with its most frequent
    value), that the metrics run on the raw table and that plot() draws it."""
    X, _, clf = cities
    occ = Occlusion(clf, fill="mean").fit(X)
    expl = occ.explain(X.iloc[:10])
    assert expl.maps.shape == (10, 1, 3)
    assert list(expl.to_frame()["feature"][:3]) == ["age", "income", "city"]
    paris = (X["city"].iloc[:10] == "paris").to_numpy()
    np.testing.assert_array_equal(expl.maps[paris, 0, 2], 0.0)  # the mode: no change
    assert np.all(expl.maps[~paris, 0, 2] != 0.0)
    assert np.isfinite(occ.score(X.iloc[:10]))
    scores = deletion_score(occ, X.iloc[:10], expl)
    assert scores.shape == (10,) and np.all(np.isfinite(scores))
    assert infidelity_error(occ, X.iloc[:10], expl, random_state=0).shape == (10,)
    disp = expl.plot()
    assert type(disp).__name__ == "BeeswarmDisplay"
    labels = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert sorted(labels) == ["age", "city", "income"]
    city = disp.collections_[labels.index("city")]
    np.testing.assert_allclose(city.get_facecolors()[:, :3], 0.6)  # no numeric value
    one = expl.plot(samples=3)
    assert type(one).__name__ == "WaterfallDisplay"
    assert f"city = {X['city'].iloc[3]}" in [
        t.get_text() for t in one.ax_.get_yticklabels()
    ]


def test_noise_metrics_on_a_raw_table_raise(cities):
    """Check that metrics adding noise to every feature refuse a table with a
    categorical column, naming the fix."""
    from skxai.metrics import max_sensitivity_error

    X, _, clf = cities
    occ = Occlusion(clf, fill="mean").fit(X)
    with pytest.raises(ValueError, match="non-numeric columns.*'subset'"):
        infidelity_error(occ, X.iloc[:4], occ.explain(X.iloc[:4]),
                         perturbation="gaussian", noise=0.1)
    with pytest.raises(ValueError, match="non-numeric columns.*deletion_score"):
        max_sensitivity_error(occ, X.iloc[:4], random_state=0)
