"""The layout of one sample: which values are features, pixels and channels.

Every explainer, :class:`~skxai.explanation.Explanation`, metric and Display reads
one :class:`Layout` (design rule 8): a 2-D ``X`` is **tabular** (one value per
feature) unless ``image_shape`` is given, then it is a flat image of that shape
(``(height, width)`` or ``(height, width, channels)``, channels last); N-D
samples are images as torch takes them: ``(height, width)`` or
``(channels, height, width)``. Nothing is guessed from a perfect square.

Perturbations act on *units* (the players of a mask): the features (or feature
groups) of a table, the pixels of an image (a pixel covers all its channels).
"""

from numbers import Integral

import numpy as np

__all__ = ["Layout"]


class Layout:
    """Which axes of one sample are features, pixels and channels.

    Build it with :meth:`from_input`; the constructor only stores values.

    Attributes
    ----------
    kind : {'tabular', 'image'}
        Whether a sample is a row of features or an image.
    input_shape : tuple of int
        Shape of one sample as the model takes it.
    n_features : int
        Number of model input values per sample, ``prod(input_shape)``.
    image_shape : tuple of int or None
        Display shape of an image, ``(height, width)`` or ``(height, width,
        channels)``; ``None`` for tables.
    height, width, channels : int or None
        Image geometry; ``None`` for tables.
    channels_first : bool
        Whether the input holds the channels first (N-D torch input).
    feature_names : ndarray of str
        One name per feature (a DataFrame's columns, ``x0, x1, ...``, or
        ``"c{k}r{i}c{j}"`` / ``"r{i}c{j}"`` for image values).
    groups : list of ndarray of int or None
        Feature indices of each unit when features are grouped (tables only).
    group_names : ndarray of str or None
        Name of each group.
    n_units : int
        Number of perturbation units: groups or features of a table, pixels of
        an image (``height * width``).
    unit_names : ndarray of str
        Name of each unit.
    dtypes : list or None
        Per-column dtypes of a raw DataFrame with non-numeric columns (the model
        is then given DataFrames); ``None`` for numeric inputs.
    """

    def __init__(
        self,
        kind,
        input_shape,
        *,
        image_shape=None,
        height=None,
        width=None,
        channels=None,
        channels_first=False,
        feature_names=None,
        groups=None,
        group_names=None,
        dtypes=None,
    ):
        self.kind = kind
        self.input_shape = tuple(int(v) for v in input_shape)
        self.n_features = int(np.prod(self.input_shape))
        self.image_shape = image_shape
        self.height = height
        self.width = width
        self.channels = channels
        self.channels_first = channels_first
        self.feature_names = feature_names
        self.groups = groups
        self.group_names = group_names
        self.dtypes = dtypes

    # ------------------------------------------------------------- building
    @classmethod
    def from_input(
        cls,
        input_shape,
        *,
        image_shape=None,
        feature_names=None,
        groups=None,
        dtypes=None,
        caller="skxai",
    ):
        """The layout of samples of shape ``input_shape``.

        Parameters
        ----------
        input_shape : tuple of int
            Shape of one sample as the model takes it.
        image_shape : tuple of int, default=None
            ``(height, width)`` or ``(height, width, channels)`` of flat samples
            that are images; must be ``None`` or equal ``input_shape`` for N-D
            samples.
        feature_names : array-like of str, default=None
            Names of the features of flat samples (a DataFrame's columns).
        groups : array-like or dict, default=None
            Tables only: a group label per feature, or a dict ``name ->
            columns`` (names or indices); grouped features move together.
        dtypes : list, default=None
            Per-column dtypes of a raw DataFrame the model takes as such.
        caller : str, default="skxai"
            Name used in error messages.

        Returns
        -------
        layout : Layout
        """
        input_shape = tuple(int(v) for v in input_shape)
        n_features = int(np.prod(input_shape))
        if image_shape is not None:
            image_shape = _check_image_shape(image_shape, input_shape, caller)
        if len(input_shape) == 1 and image_shape is None:
            names = _feature_names(feature_names, n_features, caller)
            unit_groups, group_names = _parse_groups(groups, names, caller)
            return cls(
                "tabular",
                input_shape,
                feature_names=names,
                groups=unit_groups,
                group_names=group_names,
                dtypes=None if dtypes is None else list(dtypes),
            )
        if groups is not None:
            raise ValueError(
                f"The 'groups' parameter of {caller} groups the columns of a table; "
                f"samples of shape {input_shape} are images. Use groups=None."
            )
        channels_first = False
        if len(input_shape) == 1:
            height, width, *rest = image_shape
            channels = rest[0] if rest else 1
        elif len(input_shape) == 2:
            (height, width), channels = input_shape, 1
        elif len(input_shape) == 3:
            channels, height, width = input_shape
            channels_first = True
        else:
            raise ValueError(
                f"{caller} explains tables and images: samples must be flat (one "
                "value per feature, or an image with 'image_shape'), (height, "
                "width) or (channels, height, width). Got samples of shape "
                f"{input_shape}."
            )
        display = (height, width) if channels == 1 else (height, width, channels)
        if len(input_shape) == 1:
            display = tuple(image_shape)
        layout = cls(
            "image",
            input_shape,
            image_shape=display,
            height=height,
            width=width,
            channels=channels,
            channels_first=channels_first,
        )
        if len(input_shape) == 1 and feature_names is not None:
            layout.feature_names = _feature_names(feature_names, n_features, caller)
        else:
            layout.feature_names = _image_feature_names(layout)
        return layout

    # ----------------------------------------------------------- properties
    @property
    def n_units(self):
        """Number of perturbation units (groups, features or pixels)."""
        if self.kind == "image":
            return self.height * self.width
        if self.groups is not None:
            return len(self.groups)
        return self.n_features

    @property
    def unit_names(self):
        """Name of each unit: group or feature names, ``"r{i}c{j}"`` pixels."""
        if self.kind == "image":
            rows, cols = np.indices((self.height, self.width)).reshape(2, -1)
            return np.asarray([f"r{i}c{j}" for i, j in zip(rows, cols)], dtype=object)
        if self.groups is not None:
            return self.group_names
        return self.feature_names

    @property
    def display_shape(self):
        """Shape of one map for display: ``(n_features,)`` or ``image_shape``."""
        if self.kind == "tabular":
            return (self.n_features,)
        return tuple(self.image_shape)

    @property
    def map_shape(self):
        """Shape of one map in an Explanation: the input's for N-D samples."""
        if len(self.input_shape) > 1:
            return self.input_shape
        return self.display_shape

    @property
    def image_hw(self):
        """``(height, width)`` of an image; ``None`` for tables."""
        if self.kind != "image":
            return None
        return (self.height, self.width)

    def __repr__(self):
        if self.kind == "image":
            return (
                f"Layout(image, input_shape={self.input_shape}, "
                f"image_shape={self.image_shape}, channels_first="
                f"{self.channels_first})"
            )
        extra = "" if self.groups is None else f", n_groups={len(self.groups)}"
        return f"Layout(tabular, n_features={self.n_features}{extra})"

    def __eq__(self, other):
        if not isinstance(other, Layout):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.input_shape == other.input_shape
            and self.image_shape == other.image_shape
            and self.channels_first == other.channels_first
            and np.array_equal(self.feature_names, other.feature_names)
            and _same_groups(self.groups, other.groups)
        )

    __hash__ = None

    # --------------------------------------------------------------- mapping
    def unit_index(self):
        """Unit of each feature, shape ``(n_features,)``; -1 for ungrouped ones."""
        if self.kind == "tabular":
            if self.groups is None:
                return np.arange(self.n_features)
            index = np.full(self.n_features, -1, dtype=np.intp)
            for unit, members in enumerate(self.groups):
                index[members] = unit
            return index
        pixels = np.arange(self.height * self.width).reshape(self.height, self.width)
        if self.channels == 1:
            return pixels.reshape(-1)
        if self.channels_first:
            return np.broadcast_to(pixels, (self.channels, *pixels.shape)).reshape(-1)
        return np.broadcast_to(
            pixels[..., None], (*pixels.shape, self.channels)
        ).reshape(-1)

    def units_to_features(self, masks):
        """Spread unit values over features: ``(k, n_units) -> (k, n_features)``.

        Image masks may also be given as ``(k, height, width)``. A pixel's value
        goes to all its channels, a group's to all its members; features in no
        group get 1 (kept). The result is in the input's order, ready to be
        reshaped to ``input_shape``.
        """
        masks = np.asarray(masks)
        k = len(masks)
        masks = masks.reshape(k, self.n_units)
        index = self.unit_index()
        if self.kind == "tabular" and self.groups is None:
            return masks
        if self.kind == "image" and self.channels == 1:
            return masks
        if np.all(index >= 0):
            return masks[:, index]
        padded = np.concatenate([masks, np.ones((k, 1), dtype=masks.dtype)], axis=1)
        return padded[:, index]

    def features_to_units(self, values, reduce="sum"):
        """Pool feature values per unit: ``(..., n_features) -> (..., n_units)``.

        Parameters
        ----------
        values : ndarray of shape (..., n_features)
        reduce : {'sum', 'mean', 'any', 'max'}, default='sum'
            How the values of one unit's features (a pixel's channels, a group's
            members) are pooled.
        """
        values = np.asarray(values)
        lead = values.shape[:-1]
        flat = values.reshape(-1, self.n_features)
        index = self.unit_index()
        if (
            self.kind == "tabular"
            and self.groups is None
            or (self.kind == "image" and self.channels == 1)
        ):
            out = flat if reduce != "any" else flat.astype(bool)
            return out.reshape(*lead, self.n_units)
        keep = index >= 0
        flat, index = flat[:, keep], index[keep]
        n_units = self.n_units
        if reduce in ("sum", "mean"):
            out = np.zeros((len(flat), n_units), dtype=np.result_type(flat, float))
            np.add.at(out.T, index, flat.T)
            if reduce == "mean":
                counts = np.bincount(index, minlength=n_units)
                out /= np.maximum(counts, 1)
        elif reduce in ("any", "max"):
            init = False if reduce == "any" else -np.inf
            dtype = bool if reduce == "any" else np.result_type(flat, float)
            out = np.full((len(flat), n_units), init, dtype=dtype)
            ufunc = np.logical_or if reduce == "any" else np.maximum
            ufunc.at(out.T, index, flat.T.astype(dtype))
        else:
            raise ValueError(
                "The 'reduce' parameter of Layout.features_to_units must be one of "
                f"'sum', 'mean', 'any', 'max'. Got {reduce!r}."
            )
        return out.reshape(*lead, n_units)

    def to_display(self, maps):
        """Maps in the input's order to display shape.

        ``(..., n_features)`` (or ``(..., *input_shape)``) to ``(...,
        *display_shape)``: channels are moved last for channels-first images.
        """
        maps = np.asarray(maps)
        if (
            maps.shape[-len(self.input_shape) :] == self.input_shape
            and len(self.input_shape) > 1
        ):
            lead = maps.shape[: -len(self.input_shape)]
        else:
            lead = maps.shape[:-1]
        flat = maps.reshape(*lead, self.n_features)
        if self.kind == "image" and self.channels_first and self.channels > 1:
            chw = flat.reshape(*lead, self.channels, self.height, self.width)
            return np.moveaxis(chw, -3, -1)
        return flat.reshape(*lead, *self.display_shape)

    def to_model(self, flat):
        """Flat samples ``(m, n_features)`` as the model takes them.

        Reshaped to ``input_shape``, or a DataFrame with the original columns and
        dtypes for raw tables with non-numeric columns.
        """
        flat = np.asarray(flat)
        if self.dtypes is not None:
            import pandas as pd

            frame = pd.DataFrame(flat, columns=list(self.feature_names))
            dtypes = {}
            for j, (column, dtype) in enumerate(zip(frame.columns, self.dtypes)):
                if pd.api.types.is_integer_dtype(dtype):
                    # A mean or a fraction filled in must not be truncated.
                    values = flat[:, j].astype(np.float64)
                    if not np.array_equal(values, np.round(values)):
                        dtype = np.float64
                dtypes[column] = dtype
            return frame.astype(dtypes)
        return flat.reshape(len(flat), *self.input_shape)


# ------------------------------------------------------------------ helpers
def _check_image_shape(image_shape, input_shape, caller):
    given = tuple(int(v) for v in np.atleast_1d(image_shape))
    n_features = int(np.prod(input_shape))
    if len(given) not in (2, 3) or int(np.prod(given)) != n_features:
        raise ValueError(
            f"The 'image_shape' parameter of {caller} must be (height, width) or "
            "(height, width, channels) with as many values as a sample has "
            f"({n_features}). Got {given}."
        )
    if len(input_shape) > 1 and given != tuple(input_shape):
        raise ValueError(
            f"The 'image_shape' parameter of {caller} must be None or the input "
            f"shape {tuple(input_shape)} for N-D inputs. Got {given}."
        )
    return given


def _feature_names(feature_names, n_features, caller):
    if feature_names is None:
        return np.asarray([f"x{i}" for i in range(n_features)], dtype=object)
    names = np.asarray(feature_names, dtype=object).ravel()
    if len(names) != n_features:
        raise ValueError(
            f"{caller} got {len(names)} feature names for samples with "
            f"{n_features} features."
        )
    return names


def _image_feature_names(layout):
    rows, cols = np.indices((layout.height, layout.width)).reshape(2, -1)
    pixels = [f"r{i}c{j}" for i, j in zip(rows, cols)]
    if layout.channels == 1:
        return np.asarray(pixels, dtype=object)
    if layout.channels_first:
        names = [f"c{c}{p}" for c in range(layout.channels) for p in pixels]
    else:
        names = [f"{p}c{c}" for p in pixels for c in range(layout.channels)]
    # "c0r1c2" reads channel 0, row 1, column 2.
    return np.asarray(names, dtype=object)


def _parse_groups(groups, names, caller):
    """``(list of index arrays, names)`` from a label per column or a dict."""
    if groups is None:
        return None, None
    n_features = len(names)
    if isinstance(groups, dict):
        position = {str(name): i for i, name in enumerate(names)}
        unit_groups, group_names = [], []
        taken = np.zeros(n_features, dtype=bool)
        for group, columns in groups.items():
            if isinstance(columns, str | Integral):
                columns = [columns]
            members = []
            for column in columns:
                if isinstance(column, Integral) and not isinstance(column, bool):
                    index = int(column)
                    if not 0 <= index < n_features:
                        raise ValueError(
                            f"The 'groups' parameter of {caller} names column "
                            f"{index} in group {group!r}, but samples have "
                            f"{n_features} features."
                        )
                elif str(column) in position:
                    index = position[str(column)]
                else:
                    raise ValueError(
                        f"The 'groups' parameter of {caller} names column "
                        f"{column!r} in group {group!r}, which is not a feature. "
                        f"Features: {list(names)[:10]}..."
                    )
                members.append(index)
            members = np.unique(np.asarray(members, dtype=np.intp))
            if members.size == 0:
                raise ValueError(
                    f"The 'groups' parameter of {caller} has an empty group {group!r}."
                )
            if taken[members].any():
                raise ValueError(
                    f"The 'groups' parameter of {caller} puts column(s) "
                    f"{list(names[members[taken[members]]])} in more than one "
                    "group; each column belongs to one group at most."
                )
            taken[members] = True
            unit_groups.append(members)
            group_names.append(str(group))
        if not unit_groups:
            raise ValueError(f"The 'groups' parameter of {caller} is an empty dict.")
        return unit_groups, np.asarray(group_names, dtype=object)
    labels = np.asarray(groups, dtype=object).ravel()
    if len(labels) != n_features:
        raise ValueError(
            f"The 'groups' parameter of {caller} must give one group label per "
            f"feature ({n_features}) or be a dict of name -> columns. Got "
            f"{len(labels)} labels."
        )
    order, seen = [], {}
    for i, label in enumerate(labels):
        key = str(label)
        if key not in seen:
            seen[key] = []
            order.append(key)
        seen[key].append(i)
    unit_groups = [np.asarray(seen[key], dtype=np.intp) for key in order]
    return unit_groups, np.asarray(order, dtype=object)


def _same_groups(a, b):
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
