"""
=================================================
Grid search over explainer parameters
=================================================

Explainers are scikit-learn estimators, so :class:`~sklearn.model_selection.
GridSearchCV` tunes them. Their ``score`` is a faithfulness figure where higher
is better (insertion AUC minus deletion AUC for saliency maps), so no scorer is
needed; named scorers come from :func:`skxai.metrics.get_scorer`. The deletion
and insertion curves behind the scores are drawn with
:class:`~skxai.plotting.CurveDisplay`.
"""

# %%
import os

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skxai.datasets import load_digits_images
from skxai.metrics import get_scorer
from skxai.plotting import CurveDisplay
from skxai.saliency import Occlusion

QUICK = os.environ.get("SKXAI_EXAMPLE_QUICK") == "1"
X, y = load_digits_images(return_X_y=True)
clf = LogisticRegression(max_iter=300).fit(X[:1200], y[:1200])
X_val, y_val = X[1200:1260] if QUICK else X[1200:1500], y[1200:1260] if QUICK \
    else y[1200:1500]

# %%
# The default score
# -----------------
search = GridSearchCV(
    Occlusion(clf, image_shape=(8, 8)),
    {"window": [(1, 1), (2, 2), (4, 4)], "fill": [0.0, "mean"]},
    cv=3,
)
search.fit(X_val, y_val)
results = pd.DataFrame(search.cv_results_)
print(results[["param_window", "param_fill", "mean_test_score"]])
print("best:", search.best_params_)

# %%
# A named scorer
# --------------
search_ins = GridSearchCV(
    Occlusion(clf, image_shape=(8, 8)), {"window": [(1, 1), (2, 2), (4, 4)]},
    scoring=get_scorer("insertion"), cv=3,
).fit(X_val, y_val)
print(pd.DataFrame(search_ins.cv_results_)[["param_window", "mean_test_score"]])

# %%
# The curves behind the scores
# ----------------------------
windows = {
    f"window {w}": Occlusion(clf, window=w, image_shape=(8, 8)).fit(X_val)
    for w in [(1, 1), (4, 4)]
}
CurveDisplay.from_explainer(windows, X_val[:30], y_val[:30], kinds=("deletion",))
