"""skxai: model explanations as first-class scikit-learn estimators.

``import skxai`` imports neither torch nor matplotlib: explainers are loaded on
first use, and those that need torch import it when they are fitted.
"""

import importlib

__version__ = "0.1.0.dev0"

_LAZY = {
    "CEM": "skxai.contrastive",
    "Deconvolution": "skxai.saliency",
    "Explanation": "skxai.explanation",
    "GradCAM": "skxai.saliency",
    "GradientSHAP": "skxai.shapley",
    "GradientSimilarity": "skxai.similarity",
    "GuidedBackprop": "skxai.saliency",
    "GuidedGradCAM": "skxai.saliency",
    "IntegratedGradients": "skxai.saliency",
    "KernelSHAP": "skxai.shapley",
    "Occlusion": "skxai.saliency",
    "RISE": "skxai.saliency",
    "Saliency": "skxai.saliency",
    "ShapleyValues": "skxai.shapley",
    "SmoothGrad": "skxai.saliency",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skxai' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
