"""
=============================================
Occlusion and Shapley values on a DataFrame
=============================================

Most classifiers explained in practice take a table. A 2-D ``X`` given to a
scikit-learn model is a table for skxai (unless ``image_shape`` says its rows
are images): every explainer removes one feature (or one group of features) at
a time, and the results keep the DataFrame's column names and index.

On the breast cancer data (30 unscaled features), we explain a scaled
``LogisticRegression`` with :class:`~skxai.saliency.Occlusion` (feature
ablation against a background set) and a ``HistGradientBoostingClassifier``
with :class:`~skxai.shapley.ShapleyValues`, then draw the global importance,
a beeswarm summary and one sample's waterfall.
"""

# %%
# Data and models
# ---------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skxai import Occlusion, ShapleyValues
from skxai.plotting import BeeswarmDisplay, ImportanceDisplay, WaterfallDisplay

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=40, random_state=0, stratify=y
)
logreg = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
hgb = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(
    X_train, y_train
)
print(f"accuracy: logreg {logreg.score(X_test, y_test):.3f}, "
      f"gradient boosting {hgb.score(X_test, y_test):.3f}")

# %%
# Feature ablation against a background set
# -----------------------------------------
# ``fill="reference"`` replaces a feature by its values in the background rows
# given to ``fit`` (at most ``n_reference`` of them) and averages the model's
# score over them, the interventional background shap users know. A literal
# ``fill=0.0`` would lie far outside unscaled features such as ``mean area``
# (hundreds); ``"mean"`` and ``"median"`` are the cheaper one-row choices.
occ = Occlusion(logreg, fill="reference", n_reference=50, target=1, random_state=0)
occ.fit(X_train)
occ_expl = occ.explain(X_test)
occ_expl.to_frame().head()

# %%
# ``target=1`` explains the class "benign" for every sample (the default,
# ``"predicted"``, explains each sample's predicted class). On a linear model
# each feature's effect is exact: the coefficient (per raw unit) times the
# sample's distance to the background mean, in logits (the LogisticRegression
# is explained through its decision function).
coef = logreg[-1].coef_[0] / logreg[0].scale_
expected = coef * (X_test.to_numpy() - occ.reference_.mean(axis=0))
print("largest gap to coef * (x - mean(background)):",
      f"{np.abs(occ_expl.maps[:, 0] - expected).max():.1e}")

# %%
# ``importance()`` is the mean absolute value per feature, sorted, a pandas
# Series: the global view. :class:`~skxai.plotting.ImportanceDisplay` draws it.
print(occ_expl.importance().head())
ImportanceDisplay.from_explanation(occ_expl, max_display=10)
plt.show()

# %%
# Shapley values of the gradient boosting model
# ---------------------------------------------
# :class:`~skxai.shapley.ShapleyValues` averages a feature's effect over all
# coalitions of the other features, hidden features taking the background
# rows' values. With 30 features the exact sum is out of reach, so the values
# are estimated on random permutations of the features and their reverses.
# They add up to the sample's score minus ``base_values`` (the background's
# mean score), exactly when every background row is used (``n_permutations``
# at least ``n_reference``); ``residual`` reports the gap.
sv = ShapleyValues(
    hgb, method="permutation", n_permutations=32, n_reference=32, target=1,
    random_state=0,
).fit(X_train)
sv_expl = sv.explain(X_test)
print(f"method: {sv.method_}, largest |residual|: "
      f"{np.abs(sv_expl.residual).max():.2e}")

# %%
# The beeswarm: one dot per sample and feature, at its Shapley value, coloured
# by the feature's value (red high, blue low). A high ``worst concave points``
# (red) lowers the score of "benign", a low one raises it.
# ``Explanation.plot()`` draws this figure for a table's explanation of
# several samples.
BeeswarmDisplay.from_explanation(sv_expl, max_display=12)
plt.show()

# %%
# The waterfall of one sample: from the background's mean score to the
# sample's, feature by feature (``sv_expl.plot(samples=0)`` draws it too).
WaterfallDisplay.from_explanation(sv_expl, sample=0, max_display=10)
plt.show()

# %%
# Feature groups
# --------------
# The 30 columns are 10 measurements, each as a mean, a standard error and a
# worst value. ``groups`` (a label per column, or a dict of name to columns)
# makes each measurement one player that moves as a whole; with 10 players the
# exact Shapley values are affordable (``method="auto"`` picks them).
groups = [
    name.replace("mean ", "").replace(" error", "").replace("worst ", "")
    for name in X.columns
]
grouped = ShapleyValues(hgb, groups=groups, n_reference=10, target=1,
                        random_state=0)
grouped_expl = grouped.fit(X_train).explain(X_test.iloc[:10])
print(f"method: {grouped.method_}")
print(grouped_expl.importance().head())
