"""
=====================================================
Black-box saliency of scikit-learn digit classifiers
=====================================================

Which pixels make a LogisticRegression or an MLPClassifier call an image a "3"?
:class:`~skxai.saliency.Occlusion` hides the image under a small sliding window
and records how much each class score drops; :class:`~skxai.saliency.RISE` hides
it under random smooth masks. Both only need the model's scores, so they explain
any fitted classifier. This redoes xaitk-saliency's MNIST tutorial: one map per
class for an image (the local view), and the maps averaged over many images of
each class (the global view).
"""

# %%
# Data and models
# ---------------
# The MNIST test set when it is at hand, else scikit-learn's 8x8 digits.
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from skxai.datasets import default_mnist_dir, load_digits_images, load_mnist
from skxai.plotting import ClassMapsDisplay
from skxai.saliency import RISE, Occlusion

QUICK = os.environ.get("SKXAI_EXAMPLE_QUICK") == "1"
mnist_dir = default_mnist_dir()
if mnist_dir is not None and (mnist_dir / "t10k-images-idx3-ubyte.gz").exists() \
        and not QUICK:
    X, y = load_mnist(mnist_dir, return_X_y=True)
    X, y, window = X[:4000].astype(np.float64), y[:4000], (2, 2)
    image_shape = (28, 28)
else:
    X, y = load_digits_images(return_X_y=True)
    window, image_shape = (2, 2), (8, 8)
n_test = 40 if QUICK else 200
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=n_test, random_state=0, stratify=y
)
if QUICK:  # a smoke run: fewer training images
    X_train, y_train = X_train[:500], y_train[:500]

logreg = LogisticRegression(max_iter=200).fit(X_train, y_train)
mlp = MLPClassifier(hidden_layer_sizes=(50,), max_iter=30 if QUICK else 100,
                    random_state=0).fit(X_train, y_train)
print(f"accuracy: logreg {logreg.score(X_test, y_test):.3f}, "
      f"MLP {mlp.score(X_test, y_test):.3f}")

# %%
# One map per class for one image
# -------------------------------
# ``target="all"`` explains every class. The rows of ``X`` are flat images, so
# ``image_shape`` says how to fold them. Red pixels raise the class score when
# present, blue ones lower it; the colour scale is shared and symmetric, and the
# colour bar says what the values are: with ``response_method="auto"`` the
# LogisticRegression is explained through its decision function, so the maps
# are logit differences.
occ = Occlusion(logreg, window=window, stride=(1, 1), target="all",
                image_shape=image_shape).fit(X_train)
explanation = occ.explain(X_test, y_test)
print(explanation)
ClassMapsDisplay.from_explanation(explanation, sample=0)

# %%
# The tidy frame makes the maps a pandas question: the pixels that matter most
# for the predicted class of the first image.
frame = explanation.to_frame()
first = frame[(frame["sample"] == 0) & (frame["target"] == explanation.predictions[0])]
print(first.nlargest(5, "value"))

# %%
# Per-class average maps
# ----------------------
# :meth:`~skxai.explanation.Explanation.mean` averages the maps over the images
# of each true class; each row is a true digit, each column an explained class.
ClassMapsDisplay.from_explanation(explanation, by=y_test)

# %%
# xaitk draws each map on its own scale, which shows the pattern of weak maps
# too (but no longer how strong each map is): ``normalize="maxabs"``.
ClassMapsDisplay.from_explanation(explanation, by=y_test, normalize="maxabs")

# %%
# The same for the MLP, with RISE
# -------------------------------
# RISE draws its random masks once in ``fit``, so maps are reproducible. The
# MLP has no decision function, so ``"auto"`` explains its probabilities. The
# single row is each class's average map over the images of that class.
rise = RISE(mlp, n_masks=100 if QUICK else 1000, grid_size=4, target="all",
            image_shape=image_shape, random_state=0).fit(X_train)
ClassMapsDisplay.from_explainer(rise, X_test, y_test, by="true", diagonal=True)
