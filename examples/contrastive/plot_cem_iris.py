"""
======================================================
Contrastive explanations of iris flowers (alibi's CEM)
======================================================

A replay of alibi's "Contrastive Explanations Method (CEM) applied to Iris
dataset" notebook with :class:`~skxai.contrastive.CEM`: a small neural network
classifies standardised iris flowers, and CEM tells, for one flower, which
feature values alone are enough for its class (pertinent positive, PP) and
which change would make it another species (pertinent negative, PN).

The settings are the notebook's: ``kappa=0.2`` on the class probabilities,
l1 weight (alibi's ``beta``) 0.1, ``c_init=10``, 10 ``c`` steps of up to 1000
FISTA steps, the feature range of the training set widened by 0.1, the median
of the training set as the "no information" value, and alibi's rule for where
a PN may move a feature (``pn_box="alibi"``).
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from skxai.contrastive import CEM

data = load_iris()
X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
X = pd.DataFrame(X, columns=[name.replace(" (cm)", "") for name in data.feature_names])
y = data.target
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=0, stratify=y
)
clf = MLPClassifier(hidden_layer_sizes=(10, 10), max_iter=2000, random_state=0)
clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.2f}")

# %%
# The settings of the notebook
# ----------------------------
# alibi's ``feature_range`` is the training range widened by 0.1 and its
# ``no_info_type='median'`` the per-feature median of the training set.
settings = {
    "kappa": 0.2,
    "beta": 0.1,
    "c_init": 10.0,
    "c_steps": 10,
    "max_iter": 1000,
    "feature_range": (X_train.min().to_numpy() - 0.1, X_train.max().to_numpy() + 0.1),
    "no_info": X_train.median().to_numpy(),
    "response_method": "predict_proba",
}
flower = X_test.iloc[[0]]
names = np.asarray(data.target_names)
print("explained flower:", names[clf.predict(flower)][0])
print(flower.T)

# %%
# Pertinent negative
# ------------------
# The smallest change, away from the median, that makes the network pick
# another species with a margin of 0.2 in probability.
pn = CEM(clf, mode="PN", pn_box="alibi", **settings).fit(X_train)
ex_pn = pn.explain(flower)
print("found:", ex_pn.found[0], "->", names[ex_pn.new_class][0])
print(ex_pn.to_frame())

# %%
# Pertinent positive
# ------------------
# The smallest part of the flower (features between the median and their
# value) that alone keeps the species.
pp = CEM(clf, mode="PP", **settings).fit(X_train)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a flower without a PP is marked not found
    ex_pp = pp.explain(flower)
print("found:", ex_pp.found[0], "->", names[ex_pp.new_class][0])
print(ex_pp.to_frame())

# %%
# The flower, its PN and its PP, feature by feature
# ----------------------------------------------------
# The PN moves a few features to where the other species lives; the PP keeps
# only what is needed, the rest at the median (dashed).
x = flower.to_numpy()[0]
values = {"flower": x}
if ex_pn.found[0]:
    values["flower + PN"] = x + ex_pn.delta.reshape(-1)
if ex_pp.found[0]:
    values["PP"] = ex_pp.delta.reshape(-1)
fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.8 / len(values)
for k, (label, v) in enumerate(values.items()):
    ax.bar(np.arange(4) + k * width, v, width, label=label)
ax.plot(
    np.arange(4) + 0.4 - width / 2, settings["no_info"], "k--", lw=1, label="median"
)
ax.set_xticks(np.arange(4) + 0.4 - width / 2, X.columns, rotation=15)
ax.set_ylabel("standardised value")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
