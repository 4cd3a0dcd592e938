"""
===================================================
Pertinent positives and negatives with CEM
===================================================

The contrastive explanation method (Dhurandhar et al., 2018) answers two
questions about an image: what is the smallest part of it that alone keeps the
class (pertinent positive, PP), and what is the smallest addition that changes
it (pertinent negative, PN)? As in the MAXi tutorial we look at both, with the
solution saved at a few iterations of the optimiser (``save_freq``).
"""

# %%
import os
import warnings

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skxai.contrastive import CEM
from skxai.datasets import load_digits_images
from skxai.plotting import ContrastiveDisplay

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
    max_epochs=8 if QUICK else 12, train_split=None, verbose=0,
).fit(X_train, y_train)
max_iter = 100 if QUICK else 500

# %%
# Pertinent negatives
# -------------------
# ``explain`` optimises all images of a batch at once. ``found`` says which
# images got a valid PN; ``new_class`` is the class the PN leads to.
pn = CEM(net, mode="pn", kappa=0.0, beta=0.1, max_iter=max_iter,
         c_steps=2 if QUICK else 5, save_freq=max_iter // 4,
         random_state=0).fit(X_train)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # images without a PN are marked not found
    explanation = pn.explain(X_test[:4])
print("found:", explanation.found, "new classes:", explanation.new_class)
print(f"found rate: {explanation.found_rate:.0%}")
ContrastiveDisplay.from_explanation(explanation)

# %%
# Pertinent positives
# -------------------
pp = CEM(net, mode="pp", kappa=0.0, beta=0.1, max_iter=max_iter,
         c_steps=2 if QUICK else 5, save_freq=max_iter // 4,
         random_state=0).fit(X_train)
# A PP can be found and still be empty: when the network already gives the
# class to a blank image, nothing of the image is needed to keep it. The display
# marks such a PP as empty (and a missing one as not found) rather than
# drawing it as a finding; ``status_`` says what each row shows.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    shown = [0, 1] if QUICK else [0, 1, 2, 3]
    display = ContrastiveDisplay.from_explainer(pp, X_test, samples=shown)
print("PP rows:", display.status_)

# %%
# How sparse are they? The l0 "norm" (pixels used) of each found solution.
delta = np.nan_to_num(explanation.delta).reshape(len(explanation.delta), -1)
print("PN pixels changed:", (np.abs(delta) > 1e-3).sum(axis=1))
