"""The one place where skxai imports scikit-learn's semi-private helpers.

A scikit-learn release that moves one of these touches this file only.
"""

from sklearn.base import _fit_context
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "LinearClassifierMixin",
    "Parallel",
    "StrOptions",
    "_fit_context",
    "delayed",
    "validate_data",
    "validate_parameter_constraints",
    "validate_params",
]
