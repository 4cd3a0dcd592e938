"""Shapley values: exact, permutation sampling, KernelSHAP and GradientSHAP."""

from ._explainers import KernelSHAP, ShapleyValues

__all__ = ["KernelSHAP", "ShapleyValues"]
