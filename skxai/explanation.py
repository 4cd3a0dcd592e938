"""The :class:`Explanation`: named arrays and metadata returned by ``explain``."""

from importlib import import_module

import numpy as np
import pandas as pd


class Explanation:
    """Explanations of a set of samples, as named arrays plus metadata.

    Returned by every explainer's ``explain``. Arrays are available as attributes
    (``expl.maps``) and as items (``expl["maps"]``), like scikit-learn's ``Bunch``.
    Explainer-specific results (``delta`` for Integrated Gradients, ...) are extra
    attributes.

    Parameters
    ----------
    maps : ndarray of shape (n_samples, n_targets, *image_shape), default=None
        One attribution map per sample and target, shaped like the images.
    targets : ndarray of shape (n_samples, n_targets), default=None
        Class labels the maps explain.
    predictions : ndarray of shape (n_samples,), default=None
        The model's predicted class labels.
    labels : ndarray of shape (n_samples,), default=None
        True labels, when given to ``explain``.
    images : ndarray of shape (n_samples, *image_shape), default=None
        The explained samples, shaped like images (for plotting).
    index : pandas.Index, default=None
        Index of the samples when ``X`` was a DataFrame; kept by :meth:`to_frame`.
    layout : Layout, default=None
        Which values of a map are features, pixels and channels (the
        explainer's ``layout_``); without it, maps with one value axis are a
        table and the others images.
    params : dict, default=None
        Parameters of the explainer that made the explanation.
    explainer : str, default=None
        Name of the explainer class.
    **extras : dict
        Further named results.

    Examples
    --------
    >>> import numpy as np
    >>> from skxai.explanation import Explanation
    >>> expl = Explanation(maps=np.ones((2, 1, 2, 2)), targets=np.array([[0], [1]]))
    >>> expl.to_frame().shape
    (8, 5)
    >>> expl.mean(by=[0, 0]).maps.shape
    (1, 1, 2, 2)
    """

    # The Display that draws this kind of explanation, as "module:Class": the
    # computing code names it and never imports plotting; ``plot`` resolves it.
    _display = "skxai.plotting:SaliencyDisplay"

    def __init__(
        self,
        maps=None,
        *,
        targets=None,
        predictions=None,
        labels=None,
        images=None,
        index=None,
        layout=None,
        params=None,
        explainer=None,
        **extras,
    ):
        self.maps = maps
        self.layout = layout
        self.targets = targets
        self.predictions = predictions
        self.labels = labels
        self.images = images
        self.index = index
        self.params = {} if params is None else dict(params)
        self.explainer = explainer
        for key, value in extras.items():
            setattr(self, key, value)

    # ------------------------------------------------------------ Bunch-like
    def __getitem__(self, key):
        try:
            return getattr(self, key)
        except AttributeError as exc:
            raise KeyError(key) from exc

    def keys(self):
        """Names of the stored results."""
        return [k for k in vars(self) if not k.startswith("_")]

    def __len__(self):
        for value in (self.maps, self.predictions, self.targets):
            if value is not None:
                return len(value)
        return 0

    def __repr__(self):
        shape = None if self.maps is None else self.maps.shape
        name = self.explainer or "explainer"
        return f"Explanation({name}, n_samples={len(self)}, maps shape={shape})"

    # ------------------------------------------------------------- analysis
    @property
    def image_shape(self):
        """Shape of one map: ``maps.shape[2:]``."""
        return None if self.maps is None else tuple(self.maps.shape[2:])

    def _sample_labels(self):
        if self.index is not None:
            return np.asarray(self.index)
        return np.arange(len(self))

    def _is_tabular(self):
        if self.layout is not None:
            return self.layout.kind == "tabular"
        return self.maps is not None and np.ndim(self.maps) == 3

    def _feature_view(self):
        """``(values, names)``: maps ``(n, n_targets, n_columns)`` for tables.

        Grouped features share their group's value: one column per group.
        """
        maps = np.asarray(self.maps)
        n, n_targets = maps.shape[:2]
        flat = maps.reshape(n, n_targets, -1)
        layout = self.layout
        if layout is None:
            names = np.asarray([f"x{i}" for i in range(flat.shape[2])], dtype=object)
            return flat, names
        if layout.groups is not None:
            return layout.features_to_units(flat, reduce="mean"), layout.unit_names
        return flat, np.asarray(layout.feature_names, dtype=object)

    def to_frame(self):
        """Return the maps as a tidy long DataFrame.

        Returns
        -------
        frame : pandas.DataFrame
            One row per sample, target and feature (tables) or pixel (images),
            with columns ``sample`` (the input DataFrame's index when there was
            one), ``target``, then ``feature`` (the column or group name) for
            tables, or ``row``, ``col`` (and ``channel`` for colour images) for
            images, and ``value``.
        """
        maps = np.asarray(self.maps)
        n, n_targets = maps.shape[:2]
        targets = self.targets
        if targets is None:
            targets = np.tile(np.arange(n_targets), (n, 1))
        if self._is_tabular():
            values, names = self._feature_view()
            n_cols = values.shape[2]
            return pd.DataFrame(
                {
                    "sample": np.repeat(self._sample_labels(), n_targets * n_cols),
                    "target": np.repeat(np.asarray(targets).reshape(-1), n_cols),
                    "feature": np.tile(names, n * n_targets),
                    "value": values.reshape(-1),
                }
            )
        spatial = maps.shape[2:]
        names = ["row", "col", "channel"][: len(spatial)]
        if self.layout is not None and self.layout.channels_first:
            names = ["channel", "row", "col"]  # channels-first torch input
        elif self.layout is None and len(spatial) == 3:
            if spatial[0] <= 4 < min(spatial[1:]):
                names = ["channel", "row", "col"]
        grid = np.indices(spatial).reshape(len(spatial), -1)
        n_pix = grid.shape[1]
        columns = {
            "sample": np.repeat(self._sample_labels(), n_targets * n_pix),
            "target": np.repeat(np.asarray(targets).reshape(-1), n_pix),
        }
        for name, coords in zip(names, grid):
            columns[name] = np.tile(coords, n * n_targets)
        columns["value"] = maps.reshape(-1)
        return pd.DataFrame(columns)

    def importance(self):
        """Global importance: the mean absolute attribution per feature, sorted.

        Returns
        -------
        importance : pandas.Series or pandas.DataFrame
            For tables, indexed by feature (or group) name, largest first: a
            Series when each sample has one explained target (its name is
            ``"importance"``), a DataFrame with one column per target class
            for ``target="all"`` (sorted by the mean over classes). For images,
            one value per pixel (channels pooled), indexed ``"r{i}c{j}"``.
        """
        maps = np.asarray(self.maps, dtype=np.float64)
        n, n_targets = maps.shape[:2]
        if self._is_tabular():
            values, names = self._feature_view()
        else:
            flat = np.abs(maps.reshape(n, n_targets, -1))
            layout = self.layout
            if layout is None or layout.kind != "image":
                raise ValueError(
                    "Explanation.importance needs the layout of image maps; this "
                    "explanation has none."
                )
            values = layout.features_to_units(flat, reduce="mean")
            names = layout.unit_names
        mean_abs = np.abs(values).mean(axis=0)  # (n_targets, n_columns)
        if n_targets == 1:
            series = pd.Series(mean_abs[0], index=pd.Index(names, name="feature"))
            return series.rename("importance").sort_values(ascending=False)
        labels = range(n_targets)
        if self.targets is not None:
            labels = np.asarray(self.targets)[0]
        frame = pd.DataFrame(
            mean_abs.T, index=pd.Index(names, name="feature"), columns=list(labels)
        )
        order = np.argsort(-frame.mean(axis=1).to_numpy(), kind="stable")
        return frame.iloc[order]

    def mean(self, by=None):
        """Average maps per group of samples (the per-class "global" view).

        Parameters
        ----------
        by : array-like of shape (n_samples,), default=None
            Group of each sample, e.g. its true or predicted class. ``None``
            averages all samples into one group.

        Returns
        -------
        explanation : Explanation
            Maps of shape ``(n_groups, n_targets, *image_shape)``, with the sorted
            group labels as ``index`` and the per-group sample counts as
            ``counts``. Targets are kept where they are the same in a group.
        """
        maps = np.asarray(self.maps)
        by = np.zeros(len(maps), dtype=int) if by is None else np.asarray(by)
        if by.shape != (len(maps),):
            raise ValueError(
                f"'by' must give one group per sample ({len(maps)}); got an array "
                f"of shape {by.shape}."
            )
        groups, inverse, counts = np.unique(by, return_inverse=True, return_counts=True)
        sums = np.zeros((len(groups), *maps.shape[1:]), dtype=np.float64)
        np.add.at(sums, inverse, maps)
        means = sums / counts.reshape(-1, *([1] * (maps.ndim - 1)))
        targets = None
        if self.targets is not None:
            t = np.asarray(self.targets)
            first = np.stack([t[inverse == g][0] for g in range(len(groups))])
            same = all(
                (t[inverse == g] == first[g]).all() for g in range(len(groups))
            )
            targets = first if same else None
        images = None
        # Raw tables with text columns have no mean sample.
        if self.images is not None and np.asarray(self.images).dtype != object:
            img = np.asarray(self.images, dtype=np.float64)
            img_sums = np.zeros((len(groups), *img.shape[1:]))
            np.add.at(img_sums, inverse, img)
            images = img_sums / counts.reshape(-1, *([1] * (img.ndim - 1)))
        return Explanation(
            maps=means,
            targets=targets,
            images=images,
            index=pd.Index(groups, name="group"),
            layout=self.layout,
            params=self.params,
            explainer=self.explainer,
            response_method=getattr(self, "response_method", None),
            counts=counts,
        )

    def _check_samples_to_plot(self):
        if len(self) == 0:
            raise ValueError(
                f"{type(self).__name__}.plot needs at least one sample; this "
                "explanation has none (the X explained was empty)."
            )

    def plot(self, *, samples=None, ax=None, **kwargs):
        """Plot the explanation with its Display (needs matplotlib).

        Saliency explanations of images are drawn by
        :class:`skxai.plotting.SaliencyDisplay`: each sample's image beside its
        maps, with colour bars that say what the values are. Tabular ones (the
        layout says) by :class:`skxai.plotting.WaterfallDisplay` for one sample
        (an int ``samples``, or an explanation of one sample), else by
        :class:`skxai.plotting.BeeswarmDisplay` (every sample and feature).

        Parameters
        ----------
        samples : int or sequence of int, default=None
            Which samples to show; by default the first few images (the figure
            says how many are left out), or every row of a table.
        ax : array of matplotlib Axes, default=None
            Axes to draw on; created if None.
        **kwargs : dict
            Passed to the Display's ``from_explanation`` (``cmap``,
            ``class_names``, ...).

        Returns
        -------
        display : Display
            The display, with ``figure_`` and ``ax_``.
        """
        self._check_samples_to_plot()
        if type(self)._display == Explanation._display and self._is_tabular():
            plotting = import_module("skxai.plotting")
            if np.ndim(samples) == 0 and (samples is not None or len(self) == 1):
                sample = 0 if samples is None else samples
                return plotting.WaterfallDisplay.from_explanation(
                    self, sample=sample, ax=ax, **kwargs
                )
            return plotting.BeeswarmDisplay.from_explanation(
                self, samples=samples, ax=ax, **kwargs
            )
        return self.display_class().from_explanation(
            self, samples=samples, ax=ax, **kwargs
        )

    @classmethod
    def display_class(cls):
        """The :mod:`skxai.plotting` Display class that draws this explanation."""
        module, _, name = cls._display.partition(":")
        return getattr(import_module(module), name)
