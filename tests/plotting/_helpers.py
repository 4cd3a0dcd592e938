"""Helpers shared by the display tests."""

import sys

import numpy as np


def image_arrays(display):
    """The data of every drawn image of a display, in grid order."""
    return [
        np.asarray(im.get_array())
        for im in np.asarray(display.im_, dtype=object).ravel()
        if im is not None
    ]


def assert_same_images(first, second):
    """Check that two displays drew the same images with the same colour limits."""
    a, b = image_arrays(first), image_arrays(second)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y)
    for x, y in zip(first.im_.ravel(), second.im_.ravel()):
        if x is not None:
            # a row explained alone or in a batch may differ in the last bits
            np.testing.assert_allclose(x.get_clim(), y.get_clim(), rtol=1e-12)


def hide_matplotlib(monkeypatch):
    """Make ``import matplotlib`` fail, as when the extra is not installed."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
