"""
=====================================================
Similar training examples, as the model sees them
=====================================================

alibi's gradient-similarity notebook explains a prediction by the training
examples whose loss gradients point the same way: "I call this a 4 because it
resembles these 4s". :class:`~skxai.similarity.GradientSimilarity` is a
scikit-learn estimator: ``fit`` stores what the similarities need from the
reference set, ``explain`` ranks it, and the tidy frame turns the notebook's
pandas analysis into one line.
"""

# %%
import os

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skxai.datasets import load_digits_images
from skxai.plotting import SimilarityDisplay
from skxai.similarity import GradientSimilarity

QUICK = os.environ.get("SKXAI_EXAMPLE_QUICK") == "1"
torch.manual_seed(0)
X, y = load_digits_images(return_X_y=True)
X = X.reshape(-1, 1, 8, 8).astype(np.float32)
y = y.astype(np.int64)
X_train, y_train, X_test, y_test = X[:-100], y[:-100], X[-100:], y[-100:]
if QUICK:  # a smoke run: fewer training images
    X_train, y_train = X_train[:500], y_train[:500]
module = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(16 * 16, 32), nn.ReLU(), nn.Linear(32, 10),
)
net = NeuralNetClassifier(
    module, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=3e-3,
    max_epochs=3 if QUICK else 12, train_split=None, verbose=0,
).fit(X_train, y_train)

# %%
# Fit on a reference set, explain test images
# -------------------------------------------
n_ref = 300 if QUICK else 1000
gs = GradientSimilarity(net, similarity="cos").fit(X_train[:n_ref], y_train[:n_ref])
print(f"stored {gs.nbytes_ / 1e6:.2f} MB for {n_ref} references")
# One row per test image: its five most similar references as the network sees
# them, and the mean similarity to the references of each class (alibi's
# figure), with the classes named.
names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
         "nine"]
SimilarityDisplay.from_explainer(gs, X_test, y_test, samples=[0, 1, 2], k=5,
                                 class_names=names)

# %%
# The pandas analysis
# -------------------
# One row per test image and reference: the mean score per reference class, and
# how often the most similar reference has the predicted class (the
# identical-class test, which is also ``gs.score``).
explanation = gs.explain(X_test, y_test)
frame = explanation.to_frame()
print(frame.head())
per_class = frame.groupby(["sample_prediction", "ref_label"])["score"].mean()
print(per_class.unstack().round(3).iloc[:5])
top = frame[frame["rank"] == 0]
print(f"identical class: {(top['ref_label'] == top['sample_prediction']).mean():.2f}"
      f" (score: {gs.score(X_test, y_test):.2f})")
