"""Tests for skxai.datasets: digits, the IDX reader, MNIST from files or OpenML."""

import gzip
import re
import struct

import numpy as np
import pytest
from sklearn.utils import Bunch

from skxai import datasets
from skxai.datasets import default_mnist_dir, load_digits_images, load_mnist


def _write_idx(path, array, *, type_code=0x08, compress=True):
    """Write ``array`` as an IDX file (gzipped when ``compress``)."""
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _write_mnist(directory, n=5, *, part="t10k", compress=True):
    """Write a tiny fake MNIST part (``n`` images) to ``directory``."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    suffix = ".gz" if compress else ""
    _write_idx(
        directory / f"{part}-images-idx3-ubyte{suffix}", images, compress=compress
    )
    _write_idx(
        directory / f"{part}-labels-idx1-ubyte{suffix}", labels, compress=compress
    )
    return images, labels


@pytest.fixture
def real_mnist_dir():
    directory = default_mnist_dir()
    if directory is None or not (directory / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("the MNIST IDX files are not available")
    return directory


def test_load_digits_images_shapes_and_range():
    """Check that the digits come scaled to [0, 1] with images matching the rows."""
    digits = load_digits_images()
    assert isinstance(digits, Bunch)
    assert digits.data.shape == (1797, 64)
    assert digits.images.shape == (1797, 8, 8)
    assert digits.image_shape == (8, 8)
    assert digits.data.min() == 0.0
    assert digits.data.max() == 1.0
    np.testing.assert_array_equal(digits.images.reshape(1797, 64), digits.data)
    np.testing.assert_array_equal(digits.target_names, np.arange(10))
    assert set(np.unique(digits.target)) == set(range(10))
    assert "digits" in digits.DESCR.lower()


def test_load_digits_images_return_X_y_and_frame():
    """Check return_X_y and as_frame give the same values as the Bunch."""
    digits = load_digits_images()
    X, y = load_digits_images(return_X_y=True)
    np.testing.assert_array_equal(X, digits.data)
    np.testing.assert_array_equal(y, digits.target)

    pd = pytest.importorskip("pandas")
    framed = load_digits_images(as_frame=True)
    assert isinstance(framed.data, pd.DataFrame)
    assert isinstance(framed.target, pd.Series)
    assert framed.frame.shape == (1797, 65)
    assert list(framed.data.columns) == digits.feature_names
    np.testing.assert_array_equal(framed.data.to_numpy(), digits.data)


def test_load_mnist_real_test_set(real_mnist_dir):
    """Check that the real MNIST test set loads as float32 in [0, 1]."""
    mnist = load_mnist(real_mnist_dir)
    assert mnist.data.shape == (10000, 784)
    assert mnist.data.dtype == np.float32
    assert mnist.images.shape == (10000, 28, 28)
    assert mnist.image_shape == (28, 28)
    assert 0.0 <= mnist.data.min() and mnist.data.max() <= 1.0
    assert mnist.data.max() == 1.0
    assert mnist.target.dtype == np.int64
    np.testing.assert_array_equal(mnist.target[:5], [7, 2, 1, 0, 4])
    np.testing.assert_array_equal(np.unique(mnist.target), np.arange(10))
    assert mnist.source == str(real_mnist_dir)


def test_load_mnist_uses_default_dir(real_mnist_dir):
    """Check that data_home=None reads the default directory."""
    X, y = load_mnist(return_X_y=True)
    assert X.shape == (10000, 784)
    assert y.shape == (10000,)


def test_default_mnist_dir_env_var(monkeypatch, tmp_path):
    """Check that SKXAI_MNIST_DIR takes precedence."""
    monkeypatch.setenv("SKXAI_MNIST_DIR", str(tmp_path))
    assert default_mnist_dir() == tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_reads_idx_files(tmp_path, compress):
    """Check the IDX reader on a small file, gzipped or not, against its source."""
    images, labels = _write_mnist(tmp_path, n=7, compress=compress)
    mnist = load_mnist(tmp_path)
    np.testing.assert_allclose(mnist.data, images.reshape(7, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(mnist.target, labels)
    np.testing.assert_array_equal(mnist.images[0] * 255, images[0])


def test_load_mnist_subsets(tmp_path):
    """Check that 'all' puts the training images before the test images."""
    train_images, train_labels = _write_mnist(tmp_path, n=4, part="train")
    test_images, test_labels = _write_mnist(tmp_path, n=3, part="t10k")
    X, y = load_mnist(tmp_path, subset="train", return_X_y=True)
    assert X.shape == (4, 784)
    X, y = load_mnist(tmp_path, subset="all", return_X_y=True)
    assert X.shape == (7, 784)
    np.testing.assert_array_equal(y, np.concatenate([train_labels, test_labels]))


def test_load_mnist_missing_files_name_the_directory(tmp_path):
    """Check that absent files give a FileNotFoundError naming the directory
    and every file looked for."""
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))) as info:
        load_mnist(tmp_path)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert f"{name}.gz (or {name})" in str(info.value)
    assert "download=True" in str(info.value)
    _write_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte") as info:
        load_mnist(tmp_path, subset="train")
    assert "train-labels-idx1-ubyte" in str(info.value)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x01\x02\x03\x04" + b"\x00" * 100, "not an IDX file"),
        (bytes([0, 0, 0x08, 3, 0, 0]), "truncated"),
        (
            bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2, 28, 28) + b"\x00" * 9,
            "wrong size",
        ),
    ],
)
def test_load_mnist_corrupted_idx(tmp_path, content, match):
    """Check that a corrupted IDX file gives a clear ValueError."""
    _write_mnist(tmp_path)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(content)
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path)


def test_load_mnist_not_gzip(tmp_path):
    """Check that a .gz file that is not gzip data gives a ValueError."""
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip data at all")
    with pytest.raises(ValueError, match="Could not read the IDX file"):
        load_mnist(tmp_path)


def test_load_mnist_swapped_files(tmp_path):
    """Check that a label file in place of the image file is refused."""
    _write_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="magic number must be 0x00000803"):
        load_mnist(tmp_path)


def test_load_mnist_wrong_image_shape(tmp_path):
    """Check that images that are not 28x28 are refused."""
    _write_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        load_mnist(tmp_path)


def test_load_mnist_label_count_mismatch(tmp_path):
    """Check that a label file of the wrong length is refused."""
    _write_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="one label per image"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"subset": "validation"}, "'subset' parameter of load_mnist"),
        ({"download": "yes"}, "'download' parameter of load_mnist"),
        ({"data_home": 3}, "'data_home' parameter of load_mnist"),
    ],
)
def test_load_mnist_bad_parameters(tmp_path, params, match):
    """Check that unknown subset and download values are refused."""
    params = {"data_home": tmp_path, **params}
    with pytest.raises(ValueError, match=match):
        load_mnist(**params)


def _fake_fetch_openml(calls):
    """Return a stand-in for fetch_openml serving 70,000 constant rows."""

    def fetch_openml(name, **kwargs):
        calls.append((name, kwargs))
        pixels = np.broadcast_to(np.arange(784) % 256, (70000, 784)).astype(
            np.float64, copy=False
        )
        target = (np.arange(70000) % 10).astype(str).astype(object)
        return Bunch(data=pixels, target=target)

    return fetch_openml


@pytest.mark.parametrize(
    "subset, n_samples, first_label", [("test", 10000, 0), ("train", 60000, 0)]
)
def test_load_mnist_openml(monkeypatch, tmp_path, subset, n_samples, first_label):
    """Check the OpenML path, asked for with download=True (fetch_openml mocked)."""
    calls = []
    monkeypatch.setattr(datasets, "fetch_openml", _fake_fetch_openml(calls))
    mnist = load_mnist(tmp_path, subset=subset, download=True)
    assert calls[0][0] == "mnist_784"
    assert calls[0][1]["as_frame"] is False
    assert calls[0][1]["data_home"] == tmp_path
    assert mnist.data.shape == (n_samples, 784)
    assert mnist.data.dtype == np.float32
    assert mnist.data.max() == 1.0
    assert mnist.target.dtype == np.int64
    assert mnist.target[0] == first_label
    assert mnist.source == "openml"


def test_load_mnist_directory_never_downloads(monkeypatch, tmp_path):
    """Check that reading a directory without the files neither downloads nor
    writes anything there (before, it went to OpenML and created DIR/openml)."""
    calls = []
    monkeypatch.setattr(datasets, "fetch_openml", _fake_fetch_openml(calls))
    monkeypatch.delenv("SKXAI_MNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="without downloading"):
        load_mnist(tmp_path)
    monkeypatch.setenv("SKXAI_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="without downloading"):
        load_mnist()
    assert calls == []
    assert list(tmp_path.iterdir()) == []


def test_load_mnist_without_directory_uses_openml(monkeypatch):
    """Check that with no directory at all, OpenML is used (its default cache)."""
    calls = []
    monkeypatch.setattr(datasets, "fetch_openml", _fake_fetch_openml(calls))
    monkeypatch.setattr(datasets, "default_mnist_dir", lambda: None)
    assert load_mnist().source == "openml"
    assert calls[0][1]["data_home"] is None


def test_load_mnist_prefers_files(monkeypatch, tmp_path):
    """Check that the files are read when they are there, even with download."""
    calls = []
    monkeypatch.setattr(datasets, "fetch_openml", _fake_fetch_openml(calls))
    _write_mnist(tmp_path)
    assert load_mnist(tmp_path, download=True).source == str(tmp_path)
    assert calls == []


def test_idx_size_error_shows_the_real_byte_count(tmp_path):
    """Check that a huge declared shape reports its true (positive) size.

    Before, the int64 product of the sizes overflowed to a negative count.
    """
    _write_mnist(tmp_path)
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 28)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header)
    expected = 16 + (2**32 - 1) ** 2 * 28
    with pytest.raises(ValueError, match=f"expected {expected} bytes, got 16"):
        load_mnist(tmp_path)
