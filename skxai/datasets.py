"""Image data sets to explain: scikit-learn's digits and MNIST.

The digits ship with scikit-learn, so they are always at hand. MNIST is read from
the IDX files of the original distribution when they lie in a directory, or fetched
from OpenML with :func:`sklearn.datasets.fetch_openml` when no directory is given
or ``download=True`` asks for it.
"""

import gzip
import math
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import fetch_openml, load_digits
from sklearn.utils import Bunch

from .utils._sklearn_compat import StrOptions, validate_params

__all__ = ["default_mnist_dir", "load_digits_images", "load_mnist"]

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Magic numbers of MNIST's IDX files: unsigned bytes, 3 dimensions or 1.
_MNIST_IMAGES_MAGIC = 0x00000803
_MNIST_LABELS_MAGIC = 0x00000801
_MNIST_SHAPE = (28, 28)
_MNIST_N_TRAIN = 60_000
_MNIST_N_TEST = 10_000

# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_DIGITS_DESCR = """\
Digits as images
----------------

scikit-learn's embedded optical recognition of handwritten digits data set
(1,797 images of 8x8 pixels, 10 classes), with pixel values scaled from 0..16
to [0, 1]. See :func:`sklearn.datasets.load_digits` for its origin.
"""

_MNIST_DESCR = """\
MNIST
-----

The MNIST database of handwritten digits (LeCun, Cortes and Burges): 60,000
training and 10,000 test images of 28x28 pixels, 10 classes, with pixel values
scaled from 0..255 to [0, 1] as float32. Images are flattened row by row into
784 features; ``images`` holds them as (n_samples, 28, 28).
"""


def load_digits_images(*, return_X_y=False, as_frame=False):
    """Load scikit-learn's digits as images with pixels in [0, 1].

    The embedded :func:`sklearn.datasets.load_digits` data, with pixel values
    divided by 16 so that every feature lies in [0, 1]. Each row of ``data`` is an
    8x8 image flattened row by row.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with columns ``pixel_<row>_<col>``,
        ``target`` a Series and ``frame`` a DataFrame holding both.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {ndarray, DataFrame} of shape (1797, 64)
            The flattened images, float64 in [0, 1].
        target : {ndarray, Series} of shape (1797,)
            The digit shown, 0 to 9.
        images : ndarray of shape (1797, 8, 8)
            The same pixels as ``data``, shaped as images.
        image_shape : tuple of int
            ``(8, 8)``: how the features of a row form an image. Give it to an
            explainer as ``image_shape``: without it, a 2-D ``X`` is a table of
            64 features.
        feature_names : list of str
            ``pixel_<row>_<col>`` for each column of ``data``.
        target_names : ndarray of shape (10,)
            The classes, 0 to 9.
        frame : DataFrame of shape (1797, 65)
            Only when ``as_frame=True``: ``data`` and ``target`` together.
        DESCR : str
            A description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The data and target described above.

    See Also
    --------
    load_mnist : The larger 28x28 MNIST digits.

    Examples
    --------
    >>> from skxai.datasets import load_digits_images
    >>> digits = load_digits_images()
    >>> digits.data.shape, digits.image_shape
    ((1797, 64), (8, 8))
    >>> float(digits.data.min()), float(digits.data.max())
    (0.0, 1.0)
    """
    raw = load_digits()
    data = raw.data / 16.0
    target = raw.target.astype(np.int64)
    image_shape = (8, 8)
    bunch = Bunch(
        data=data,
        target=target,
        images=data.reshape(-1, *image_shape),
        image_shape=image_shape,
        feature_names=list(raw.feature_names),
        target_names=np.arange(10),
        frame=None,
        DESCR=_DIGITS_DESCR,
    )
    if as_frame:
        import pandas as pd

        bunch.data = pd.DataFrame(data, columns=bunch.feature_names)
        bunch.target = pd.Series(target, name="target")
        bunch.frame = pd.concat([bunch.data, bunch.target], axis=1)
    if return_X_y:
        return bunch.data, bunch.target
    return bunch


def default_mnist_dir():
    """Return the directory where :func:`load_mnist` looks for the IDX files.

    The environment variable ``SKXAI_MNIST_DIR`` comes first. Otherwise, when
    skxai runs from a source checkout, ``shared/data/mnist`` beside the checkout
    (``/work/shared/data/mnist`` for a checkout in ``/work/main``) is used if it
    exists.

    Returns
    -------
    path : pathlib.Path or None
        The directory, or None when neither is set or found.

    Examples
    --------
    >>> from skxai.datasets import default_mnist_dir
    >>> default_mnist_dir()  # doctest: +SKIP
    PosixPath('/work/shared/data/mnist')
    """
    env = os.environ.get("SKXAI_MNIST_DIR")
    if env:
        return Path(env).expanduser()
    beside_checkout = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    if beside_checkout.is_dir():
        return beside_checkout
    return None


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "subset": [StrOptions({"test", "train", "all"})],
        "return_X_y": ["boolean"],
        "download": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist(data_home=None, *, subset="test", return_X_y=False, download=False):
    """Load the MNIST digits, from IDX files or from OpenML.

    A directory is only read: nothing is downloaded into it unless
    ``download=True``. Without a directory (none given, ``SKXAI_MNIST_DIR``
    unset and none beside the checkout), ``mnist_784`` is fetched from OpenML
    into scikit-learn's data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory holding the IDX files (``t10k-images-idx3-ubyte.gz``,
        ``t10k-labels-idx1-ubyte.gz`` and, for the training set,
        ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``; the
        uncompressed files work too). None uses :func:`default_mnist_dir`.

    subset : {'test', 'train', 'all'}, default='test'
        Which images to load: the 10,000 test images, the 60,000 training
        images, or all 70,000 (training first).

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    download : bool, default=False
        When the IDX files are not in the directory, fetch ``mnist_784`` from
        OpenML (:func:`~sklearn.datasets.fetch_openml`, which needs a network
        the first time) and cache it in ``data_home``. When False, a directory
        without the files is an error.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 784)
            The flattened images, float32 in [0, 1].
        target : ndarray of shape (n_samples,)
            The digit shown, 0 to 9, as int64.
        images : ndarray of shape (n_samples, 28, 28)
            A view of ``data`` shaped as images.
        image_shape : tuple of int
            ``(28, 28)``: how the features of a row form an image. Give it to
            an explainer as ``image_shape``: without it, a 2-D ``X`` is a table
            of 784 features.
        target_names : ndarray of shape (10,)
            The classes, 0 to 9.
        source : str
            Where the data came from: the directory read, or ``'openml'``.
        DESCR : str
            A description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The data and target described above.

    Raises
    ------
    FileNotFoundError
        If the IDX files are not in the directory and ``download`` is False;
        the message lists the files looked for.
    ValueError
        If a file is not a valid IDX file of MNIST images or labels.

    See Also
    --------
    load_digits_images : The small 8x8 digits shipped with scikit-learn.

    Examples
    --------
    >>> from skxai.datasets import load_mnist
    >>> mnist = load_mnist(subset="test")  # the IDX files in default_mnist_dir()
    >>> mnist.data.shape, mnist.data.dtype, mnist.image_shape
    ((10000, 784), dtype('float32'), (28, 28))
    >>> mnist.target[:5]
    array([7, 2, 1, 0, 4])
    """
    directory = Path(data_home).expanduser() if data_home is not None else None
    if directory is None:
        directory = default_mnist_dir()
    missing = None if directory is None else _mnist_files_missing(directory, subset)
    if directory is not None and not missing:
        data, target = _read_mnist_idx(directory, subset)
        where = str(directory)
    elif directory is None or download:
        data, target = _fetch_mnist_openml(directory, subset)
        where = "openml"
    else:
        raise FileNotFoundError(
            f"{missing} load_mnist reads a directory without downloading: put "
            "the files there, or pass download=True to fetch mnist_784 from "
            "OpenML into it."
        )

    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        images=data.reshape(-1, *_MNIST_SHAPE),
        image_shape=_MNIST_SHAPE,
        target_names=np.arange(10),
        source=where,
        DESCR=_MNIST_DESCR,
    )


def _mnist_files_missing(directory, subset):
    """Which IDX files of ``subset`` are not in ``directory``, in one line, or None.

    Each file is looked for gzipped (``name.gz``) and plain (``name``).
    """
    directory = Path(directory)
    parts = ["train", "test"] if subset == "all" else [subset]
    names = [name for part in parts for name in _MNIST_FILES[part]]
    missing = [
        name
        for name in names
        if not any((directory / f).is_file() for f in (f"{name}.gz", name))
    ]
    if not missing:
        return None
    looked_for = ", ".join(f"{name}.gz (or {name})" for name in names)
    return (
        f"The MNIST files {', '.join(missing)} are not in the directory "
        f"{directory}; looked for {looked_for}."
    )


def _read_mnist_idx(directory, subset):
    """Read the images and labels of ``subset`` from the IDX files in ``directory``."""
    parts = ["train", "test"] if subset == "all" else [subset]
    data, target = [], []
    for part in parts:
        image_name, label_name = _MNIST_FILES[part]
        images = _read_idx(
            _find_idx_file(directory, image_name), magic=_MNIST_IMAGES_MAGIC
        )
        labels = _read_idx(
            _find_idx_file(directory, label_name), magic=_MNIST_LABELS_MAGIC
        )
        if images.ndim != 3 or images.shape[1:] != _MNIST_SHAPE:
            raise ValueError(
                f"The MNIST image file {image_name} in {directory} must hold "
                f"images of shape {_MNIST_SHAPE}. Got an array of shape "
                f"{images.shape}."
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"The MNIST label file {label_name} in {directory} must hold one "
                f"label per image ({len(images)}). Got an array of shape "
                f"{labels.shape}."
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(
                f"The MNIST labels in {label_name} must lie in 0..9. Got values "
                f"from {labels.min()} to {labels.max()}."
            )
        data.append(_scale_pixels(images.reshape(len(images), -1)))
        target.append(labels.astype(np.int64))
    if len(parts) == 1:
        return data[0], target[0]
    return np.concatenate(data), np.concatenate(target)


def _find_idx_file(directory, name):
    """Return the path of ``name`` (gzipped or not) in ``directory``."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"The MNIST file {name}.gz (or {name}) was not found in the directory "
        f"{directory}."
    )


def _read_idx(path, magic=None):
    """Parse an IDX file (optionally gzipped) into a numpy array.

    The format: two zero bytes, a type code, the number of dimensions, then one
    big-endian uint32 size per dimension, then the data in C order. ``magic``, when
    given, is the first four bytes expected as a big-endian int.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"Could not read the IDX file {path}: {exc}") from exc

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: its magic number must be two zero bytes, "
            f"a type code and a number of dimensions. Got {raw[:4].hex()!r}."
        )
    if magic is not None and int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(
            f"{path} does not hold what its name says: its magic number must be "
            f"{magic:#010x}. Got {int.from_bytes(raw[:4], 'big'):#010x}."
        )
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"The IDX file {path} is truncated: its header needs {header} bytes, "
            f"the file has {len(raw)}."
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    # Python ints: sizes up to 2**32 per axis overflow int64 products.
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"The IDX file {path} has the wrong size for shape {shape}: expected "
            f"{expected} bytes, got {len(raw)}. It may be truncated or corrupted."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _fetch_mnist_openml(data_home, subset):
    """Fetch ``mnist_784`` from OpenML and return the rows of ``subset``."""
    bunch = fetch_openml(
        "mnist_784", version=1, data_home=data_home, as_frame=False, parser="auto"
    )
    X, y = np.asarray(bunch.data), np.asarray(bunch.target)
    if X.shape != (_MNIST_N_TRAIN + _MNIST_N_TEST, 784):
        raise ValueError(
            "OpenML's mnist_784 must have 70,000 rows of 784 pixels. Got shape "
            f"{X.shape}."
        )
    rows = {
        "train": slice(0, _MNIST_N_TRAIN),
        "test": slice(_MNIST_N_TRAIN, None),
        "all": slice(None),
    }[subset]
    return _scale_pixels(X[rows]), y[rows].astype(np.int64)


def _scale_pixels(pixels):
    """Scale 0..255 pixels to float32 in [0, 1]."""
    return np.asarray(pixels, dtype=np.float32) / np.float32(255.0)
