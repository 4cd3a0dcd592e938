"""Warnings and errors raised by skxai, in one public module.

Filter them as scikit-learn's (:mod:`sklearn.exceptions`)::

    import warnings
    from skxai.exceptions import ZeroMapWarning

    warnings.simplefilter("ignore", ZeroMapWarning)

:class:`~sklearn.exceptions.ConvergenceWarning` and
:class:`~sklearn.exceptions.NotFittedError` are scikit-learn's own, re-exported
here so that filtering scikit-learn's also filters skxai's.
"""

from sklearn.exceptions import ConvergenceWarning, NotFittedError

__all__ = [
    "CompletenessWarning",
    "ConvergenceWarning",
    "NotFittedError",
    "ZeroMapWarning",
]


class CompletenessWarning(UserWarning):
    """Integrated gradients do not add up to ``f(x) - f(baseline)``.

    Raised by :class:`~skxai.IntegratedGradients` when the completeness gap
    ``delta`` exceeds its ``delta_tolerance``: the path integral is not resolved
    by the ``n_steps`` steps of the chosen ``method``.

    Examples
    --------
    >>> import warnings
    >>> from skxai.exceptions import CompletenessWarning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", CompletenessWarning)
    ...     warnings.warn("delta above delta_tolerance", CompletenessWarning)
    >>> caught[0].category.__name__
    'CompletenessWarning'
    """


class ZeroMapWarning(UserWarning):
    """A class activation map is zero everywhere.

    Raised by :class:`~skxai.GradCAM` and :class:`~skxai.GuidedGradCAM` when,
    after the ReLU, no activation of the layer raises the explained class score.

    Examples
    --------
    >>> import warnings
    >>> from skxai.exceptions import ZeroMapWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ZeroMapWarning)
    ...     warnings.warn("all zero", ZeroMapWarning)
    """
