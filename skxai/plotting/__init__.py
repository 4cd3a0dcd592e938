"""Displays: figures of explanations in scikit-learn's Display style.

Each display stores values in ``__init__``, is built with ``from_explainer`` or
``from_explanation``, and draws with ``plot(ax=...)``, which returns the display
with ``figure_`` and ``ax_``. matplotlib is imported only when a figure is drawn.
"""

from ._class_maps import ClassMapsDisplay
from ._contrastive import ContrastiveDisplay
from ._curve import CurveDisplay
from ._saliency import SaliencyDisplay
from ._similarity import SimilarityDisplay
from ._tabular import BeeswarmDisplay, ImportanceDisplay, WaterfallDisplay

__all__ = [
    "BeeswarmDisplay",
    "ClassMapsDisplay",
    "ContrastiveDisplay",
    "CurveDisplay",
    "ImportanceDisplay",
    "SaliencyDisplay",
    "SimilarityDisplay",
    "WaterfallDisplay",
]
