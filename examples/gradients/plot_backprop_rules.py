"""
================================================================
Guided backprop, deconvolution, Grad-CAM, and softmax vs logits
================================================================

keras-vis shows the same images explained by vanilla gradients, guided
backpropagation, deconvolution (rectified backprop) and Grad-CAM, and warns that
the gradient of a softmax output can raise a class by lowering the others: it
explains the pre-softmax scores instead. skxai does the same by default
(``response_method="auto"`` explains the logits of a torch model); asking for
``"predict_proba"`` shows the difference.
"""

# %%
import os

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skxai.datasets import load_digits_images
from skxai.plotting import SaliencyDisplay
from skxai.saliency import (
    Deconvolution,
    GradCAM,
    GuidedBackprop,
    GuidedGradCAM,
    Saliency,
)

QUICK = os.environ.get("SKXAI_EXAMPLE_QUICK") == "1"
torch.manual_seed(0)
X, y = load_digits_images(return_X_y=True)
X = X.reshape(-1, 1, 8, 8).astype(np.float32)
y = y.astype(np.int64)
X_train, y_train, X_test, y_test = X[:-100], y[:-100], X[-100:], y[-100:]
if QUICK:  # a smoke run: fewer training images
    X_train, y_train = X_train[:500], y_train[:500]

module = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10),
)
net = NeuralNetClassifier(
    module, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=3e-3,
    max_epochs=3 if QUICK else 12, train_split=None, verbose=0,
).fit(X_train, y_train)

# %%
# Backpropagation rules, first image of each class
# ------------------------------------------------
# keras-vis compares vanilla gradients, guided backprop and rectified backprop
# (deconvolution) with Grad-CAM on the first image of each class. Grad-CAM picks
# the last layer with a spatial output (``layer_``) and upsamples its map; it is
# never negative, so it is drawn from white at zero to red.
first = [int(np.flatnonzero(y_test == c)[0]) for c in np.unique(y_test)]
if QUICK:
    first = first[:4]
rules = {
    "vanilla": Saliency(net),
    "guided": GuidedBackprop(net),
    "rectified": Deconvolution(net),
    "Grad-CAM": GradCAM(net),
    "guided Grad-CAM": GuidedGradCAM(net),
}
rules = {name: explainer.fit(X_train) for name, explainer in rules.items()}
print("Grad-CAM layer:", rules["Grad-CAM"].layer_)
SaliencyDisplay.from_explainer(rules, X_test, y_test, samples=first, overlay=False)

# %%
# Softmax against logits
# ----------------------
# The gradient of the class probability mixes in every other class; the logit's
# gradient is about the class alone. Below: the maps of the predicted class's
# logit and probability for the first image of each class (the colour bars say
# which is which: gradient of logit, gradient of probability), and their
# correlation per image.
logits = Saliency(net).fit(X_train)
proba = Saliency(net, response_method="predict_proba").fit(X_train)
SaliencyDisplay.from_explainer({"logit": logits, "softmax": proba}, X_test, y_test,
                               samples=first)
a = logits.transform(X_test[first])
b = proba.transform(X_test[first])
corr = [np.corrcoef(u, v)[0, 1] for u, v in zip(a, b)]
print(f"correlation of logit and softmax maps: median {np.median(corr):.2f}")
