"""Shapley values: exact, permutation sampling, KernelSHAP and GradientSHAP."""

from ._explainers import KernelSHAP, ShapleyValues
from ._gradient import GradientSHAP

__all__ = ["GradientSHAP", "KernelSHAP", "ShapleyValues"]
