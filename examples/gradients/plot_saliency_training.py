"""
===========================================================
Comparing gradient saliency methods on a skorch CNN
===========================================================

FastEstimator's Saliency trace compares vanilla gradients, SmoothGrad,
Integrated Gradients and their combination ("SmInt") on the same images, and
shows how the maps change while the network trains. With skxai each method is an
estimator, the comparison grid is a :class:`~skxai.plotting.SaliencyDisplay`,
and :class:`~skxai.callbacks.SaliencyCallback` records maps during training.
"""

# %%
# A small CNN trained with skorch
# -------------------------------
import os

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skxai.callbacks import SaliencyCallback
from skxai.datasets import default_mnist_dir, load_digits_images, load_mnist
from skxai.plotting import SaliencyDisplay
from skxai.saliency import IntegratedGradients, Saliency, SmoothGrad

QUICK = os.environ.get("SKXAI_EXAMPLE_QUICK") == "1"
torch.manual_seed(0)
mnist_dir = default_mnist_dir()
if mnist_dir is not None and (mnist_dir / "t10k-images-idx3-ubyte.gz").exists() \
        and not QUICK:
    X, y = load_mnist(mnist_dir, return_X_y=True)
    X, y, side = X[:6000], y[:6000], 28
else:
    X, y = load_digits_images(return_X_y=True)
    side = 8
X = X.reshape(-1, 1, side, side).astype(np.float32)
y = y.astype(np.int64)
X_train, y_train, X_test, y_test = X[:-100], y[:-100], X[-100:], y[-100:]
if QUICK:  # a smoke run: fewer training images
    X_train, y_train = X_train[:500], y_train[:500]


class CNN(nn.Module):
    """Two convolutions with ReLU modules, a pooling and a dense head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (side // 2) ** 2, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        return self.head(self.features(x))


# %%
# The callback explains three fixed test images at the end of every epoch; the
# explainer's model is replaced by the net being trained.
names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
         "nine"]
callback = SaliencyCallback(Saliency(None), X_test[:3], y=y_test[:3],
                            class_names=names)
net = NeuralNetClassifier(
    CNN, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=3e-3,
    max_epochs=3 if QUICK else 10, batch_size=64, train_split=None, verbose=0,
    callbacks=[callback],
)
net.fit(X_train, y_train)
print(f"test accuracy: {(net.predict(X_test) == y_test).mean():.3f}")

# %%
# Maps recorded during training
# -----------------------------
# ``net.history`` holds one entry per epoch; the display shows the first and the
# last epoch side by side.
import matplotlib.pyplot as plt  # noqa: E402

history = net.history[:, "saliency"]
maps = np.stack([history[0][:, 0], history[-1][:, 0]], axis=1)
SaliencyDisplay(
    X_test[:3], maps, method_names=["epoch 1", f"epoch {len(history)}"],
    labels=y_test[:3], class_names=names, value_labels="gradient of logit",
).plot(scale="shared", overlay=False)

# %%
# Vanilla, smoothed, integrated and SmInt
# ---------------------------------------
# A dict of fitted explainers gives one column per method; the last column
# overlays the last map on the image. Each method has its own colour scale, and
# its colour bar says what the values are (gradients of the logit, logit
# differences for Integrated Gradients). Rows name the labels with
# ``class_names``, as FastEstimator's grid does.
n = 8 if QUICK else 32
methods = {
    "vanilla": Saliency(net),
    "smoothed": SmoothGrad(Saliency(net), n_samples=n, noise=0.15, random_state=0),
    "integrated": IntegratedGradients(net, n_steps=n),
    "SmInt": SmoothGrad(IntegratedGradients(net, n_steps=n), n_samples=n,
                        noise=0.15, random_state=0),
}
methods = {name: explainer.fit(X_train[:200]) for name, explainer in methods.items()}
SaliencyDisplay.from_explainer(methods, X_test, y_test, samples=[0, 1, 2, 3],
                               class_names=names)
plt.show()
