"""pytest set-up for the doctests in ``skxai/`` (``--doctest-modules``).

The doctests that read the real MNIST IDX files skip cleanly where those files
are absent, as the tests in ``tests/`` do.
"""

import pytest

_NEEDS_MNIST = {"skxai.datasets.load_mnist"}


def pytest_collection_modifyitems(config, items):
    from skxai.datasets import default_mnist_dir

    mnist_dir = default_mnist_dir()
    if mnist_dir is not None and (mnist_dir / "t10k-images-idx3-ubyte.gz").exists():
        return
    skip = pytest.mark.skip(
        reason="MNIST IDX files not found (see skxai.datasets.default_mnist_dir)"
    )
    for item in items:
        if item.name in _NEEDS_MNIST:
            item.add_marker(skip)
