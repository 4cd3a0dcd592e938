"""SaliencyDisplay: rows of samples, columns of methods or classes."""

import numpy as np

from ._base import (
    below_colorbar,
    check_matplotlib_support,
    class_name,
    clear_ticks,
    color_scale,
    ensure_fitted_explainer,
    explanation_value_label,
    is_nonnegative,
    is_zero_map,
    layout_images,
    left_out_note,
    make_axes,
    mark_zero_map,
    method_title,
    select_samples,
    side_colorbar,
    take_rows,
    to_image,
    to_map,
    wrap_title,
)

_SCALES = ("shared", "column", "row", "each")


class SaliencyDisplay:
    """Saliency maps of several samples, side by side: one row per sample.

    The first column shows the input, the next ones the maps of each method (or
    of each explained class), and an optional last column overlays the last map
    on the input. Signed maps use a diverging colour map centred on zero (white
    at zero), maps without negative values (Grad-CAM, absolute gradients) its
    white-to-red half from zero; limits are shared as ``scale`` says, so that
    equal colours mean equal values. Colour bars say what the values are, and a
    map that is all (near) zero is marked as such.

    It is recommended to create a display with :meth:`from_explainer` or
    :meth:`from_explanation`; all parameters are stored as attributes.

    Parameters
    ----------
    images : ndarray of shape (n_samples, *image_shape) or None
        The explained inputs. ``None`` leaves out the input column.
    maps : ndarray of shape (n_samples, n_methods, *image_shape)
        One map per sample and method. Colour channels are summed for display.
    method_names : list of str, default=None
        Column titles of the maps; ``"map 0", "map 1", ...`` by default.
    labels : ndarray of shape (n_samples,), default=None
        True labels, shown at the start of each row.
    predictions : ndarray of shape (n_samples,), default=None
        The model's predictions, shown at the start of each row.
    class_names : dict or sequence of str, default=None
        Display names of the classes: a mapping ``{label: name}`` or a sequence
        indexed by the label.
    value_labels : str or list of str, default=None
        What the values of each method's maps are (one label for all, or one
        per method), e.g. ``"gradient of logit"``: the colour bars' labels.

    Attributes
    ----------
    im_ : ndarray of matplotlib AxesImage of shape (n_samples, n_columns)
        The drawn images; in the overlay column, the map drawn on top.
    ax_ : ndarray of matplotlib Axes of shape (n_samples, n_columns)
        The axes of the grid.
    figure_ : matplotlib Figure
        The figure holding the grid.
    colorbars_ : list of matplotlib Colorbar
        The colour bars drawn (one per map column for ``scale="column"``, one
        for ``scale="shared"``, none otherwise).
    column_names_ : list of str
        Titles of the columns, in order.
    zero_maps_ : ndarray of bool of shape (n_samples, n_methods)
        Which maps are all (near) zero, marked "all zero" in the figure.

    See Also
    --------
    ClassMapsDisplay : One map per class, and per-class averages.
    skxai.explanation.Explanation.plot : Plot an explanation with this display.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import SaliencyDisplay
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((2, 8, 8))
    >>> maps = rng.standard_normal((2, 2, 8, 8))
    >>> disp = SaliencyDisplay(images, maps, method_names=["a", "b"]).plot()
    >>> disp.ax_.shape
    (2, 4)
    """

    def __init__(
        self,
        images,
        maps,
        *,
        method_names=None,
        labels=None,
        predictions=None,
        class_names=None,
        value_labels=None,
    ):
        self.images = images
        self.maps = maps
        self.method_names = method_names
        self.labels = labels
        self.predictions = predictions
        self.class_names = class_names
        self.value_labels = value_labels

    # ------------------------------------------------------------------ plot
    def plot(
        self,
        *,
        ax=None,
        cmap=None,
        scale="column",
        overlay=True,
        colorbar=True,
        image_cmap="gray",
        alpha=0.6,
        im_kw=None,
        title=None,
    ):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on, ``n_samples * n_columns`` of them (one Axes when the
            grid has a single cell). A new figure is created when None.
        cmap : str or matplotlib Colormap, default=None
            Colour map of the attributions; by default ``"RdBu_r"`` centred on
            zero for a column of signed maps, and its white-to-red half from
            zero for a column without negative values.
        scale : {'column', 'shared', 'row', 'each'}, default='column'
            Which maps share symmetric colour limits: each method's column, all
            maps, each sample's row, or none.
        overlay : bool, default=True
            Add a last column with the last map drawn over the input.
        colorbar : bool, default=True
            Draw colour bars for ``scale="column"`` and ``scale="shared"``.
        image_cmap : str, default="gray"
            Colour map of grey inputs.
        alpha : float, default=0.6
            Opacity of the map in the overlay column.
        im_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.imshow` for
            the maps.
        title : str, default=None
            A title over the whole figure, above the column titles.

        Returns
        -------
        display : SaliencyDisplay
            The display, with ``figure_``, ``ax_`` and ``im_``.
        """
        plt = check_matplotlib_support("SaliencyDisplay")
        if scale not in _SCALES:
            raise ValueError(
                f"The 'scale' parameter of SaliencyDisplay.plot must be one of "
                f"{_SCALES}. Got {scale!r} instead."
            )
        maps = np.asarray(self.maps, dtype=np.float64)
        if maps.ndim < 3:
            raise ValueError(
                "SaliencyDisplay expects maps of shape (n_samples, n_methods, "
                f"*image_shape). Got shape {maps.shape}."
            )
        n_rows, n_methods = maps.shape[:2]
        flat = np.array(
            [[to_map(maps[i, j]) for j in range(n_methods)] for i in range(n_rows)]
        )
        names = self.method_names
        if names is None:
            names = [f"map {j}" for j in range(n_methods)]
        names = [str(name) for name in names]
        if len(names) != n_methods:
            raise ValueError(
                f"SaliencyDisplay got {len(names)} method names for {n_methods} "
                "maps per sample."
            )
        labels = self.value_labels
        if labels is None or isinstance(labels, str):
            labels = [labels or "attribution"] * n_methods
        labels = [str(label) for label in labels]
        if len(labels) != n_methods:
            raise ValueError(
                f"SaliencyDisplay got {len(labels)} value labels for {n_methods} "
                "maps per sample."
            )
        show_image = self.images is not None
        overlay = bool(overlay) and show_image
        columns = (["input"] if show_image else []) + names
        columns += ["overlay"] if overlay else []
        shared_bar = colorbar and scale == "shared"
        column_bars = colorbar and scale == "column"
        fig, axes = make_axes(
            plt,
            ax,
            n_rows,
            len(columns),
            left=0.5,
            right=1.0 if shared_bar else 0.15,
            top=0.8 if title else 0.4,
            bottom=0.95 if column_bars else 0.25,
            caller="SaliencyDisplay",
        )
        limits = _limits(flat, scale)
        # One colour map per method column; a shared scale is signed when any
        # map is.
        if scale == "shared":
            signs = [not is_nonnegative(flat)] * n_methods
        else:
            signs = [not is_nonnegative(flat[:, j]) for j in range(n_methods)]
        cmaps = [color_scale(flat[:, j], cmap, signed=signs[j])[0]
                 for j in range(n_methods)]
        self.zero_maps_ = np.array(
            [[is_zero_map(flat[i, j], limits[i, j])
              for j in range(n_methods)] for i in range(n_rows)]
        )
        im_kw = {} if im_kw is None else dict(im_kw)
        ims = np.empty((n_rows, len(columns)), dtype=object)
        offset = 1 if show_image else 0
        for i in range(n_rows):
            if show_image:
                image = to_image(self.images[i])
                ims[i, 0] = axes[i, 0].imshow(image, cmap=image_cmap)
            for j in range(n_methods):
                vmax = limits[i, j]
                kw = {"cmap": cmaps[j], "vmin": -vmax if signs[j] else 0.0,
                      "vmax": vmax, **im_kw}
                ims[i, offset + j] = axes[i, offset + j].imshow(flat[i, j], **kw)
                if self.zero_maps_[i, j]:
                    mark_zero_map(axes[i, offset + j])
            if overlay:
                ax_over = axes[i, -1]
                ax_over.imshow(to_image(self.images[i]), cmap=image_cmap)
                vmax = limits[i, -1]
                ims[i, -1] = ax_over.imshow(
                    flat[i, -1], cmap=cmaps[-1], vmin=-vmax if signs[-1] else 0.0,
                    vmax=vmax, alpha=alpha,
                )
            for j, axis in enumerate(axes[i]):
                clear_ticks(axis)
                if i == 0:
                    heading = wrap_title(columns[j])
                    long = max(len(line) for line in heading.split("\n")) > 16
                    axis.set_title(heading, fontsize="small" if long else "medium")
            axes[i, 0].set_ylabel(self._row_label(i), fontsize="small")
        if overlay:
            last = names[-1] if len(names[-1]) <= 16 else "the last map"
            axes[0, -1].set_title(f"overlay of\n{last}", fontsize="medium")
        self.colorbars_ = []
        if shared_bar:
            label = labels[0] if len(set(labels)) == 1 else "attribution (see columns)"
            self.colorbars_.append(
                side_colorbar(fig, axes[:, offset:], ims[0, offset], label=label)
            )
        elif column_bars:
            for j in range(n_methods):
                bar = below_colorbar(
                    axes[-1, offset + j], ims[-1, offset + j], label=labels[j]
                )
                self.colorbars_.append(bar)
        if title:
            # Above the column titles: the top margin keeps 0.4 inch for it.
            fig.suptitle(title, y=1 - 0.06 / fig.get_size_inches()[1], va="top")
        self.figure_, self.ax_, self.im_ = fig, axes, ims
        self.column_names_ = columns
        return self

    def _row_label(self, i):
        parts = []
        if self.labels is not None:
            parts.append(f"label: {class_name(self.labels[i], self.class_names)}")
        if self.predictions is not None:
            pred = class_name(self.predictions[i], self.class_names)
            parts.append(f"pred: {pred}")
        return "\n".join(parts)

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_explanation(
        cls,
        explanation,
        *,
        samples=None,
        class_names=None,
        ax=None,
        cmap=None,
        scale=None,
        overlay=None,
        colorbar=True,
        im_kw=None,
        title=None,
    ):
        """Plot an Explanation, or several side by side, one row per sample.

        Parameters
        ----------
        explanation : Explanation or dict of {str: Explanation}
            One explanation: its targets become the columns (one map per class
            for ``target="all"``). A dict ``{method name: explanation}`` of
            explanations of the same samples: one column per method, showing
            the map of the predicted class where an explanation holds several.
        samples : int or sequence of int, default=None
            Which samples to show; by default the first 4 (the figure says how
            many more there are).
        class_names : dict or sequence of str, default=None
            Display names of the classes (``{label: name}`` or a sequence).
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        cmap : str or matplotlib Colormap, default=None
            Colour map of the attributions; diverging around zero for signed
            maps, white-to-red from zero for maps without negative values when
            None.
        scale : {'column', 'shared', 'row', 'each'}, default=None
            Which maps share colour limits; ``"shared"`` for one explanation
            and ``"column"`` for a dict of methods when None.
        overlay : bool, default=None
            Add a column with the last map over the input. When None: True
            unless the columns are the classes of one explanation.
        colorbar : bool, default=True
            Draw colour bars.
        im_kw : dict, default=None
            Further keyword arguments of ``imshow`` for the maps.
        title : str, default=None
            A title over the whole figure.

        Returns
        -------
        display : SaliencyDisplay
            The plotted display.
        """
        check_matplotlib_support("SaliencyDisplay")
        if isinstance(explanation, dict):
            values = _from_dict(explanation, samples, class_names)
            scale = "column" if scale is None else scale
            overlay = True if overlay is None else overlay
        else:
            values = _from_single(explanation, samples, class_names)
            n_targets = values["maps"].shape[1]
            scale = "shared" if scale is None else scale
            overlay = (n_targets == 1) if overlay is None else overlay
        n_left_out = values.pop("n_left_out")
        first = (
            next(iter(explanation.values()))
            if isinstance(explanation, dict)
            else explanation
        )
        layout = getattr(first, "layout", None)
        values["maps"] = layout_images(layout, values["maps"], maps=True)
        values["images"] = layout_images(layout, values["images"])
        disp = cls(**values, class_names=class_names)
        disp.plot(
            ax=ax,
            cmap=cmap,
            scale=scale,
            overlay=overlay,
            colorbar=colorbar,
            im_kw=im_kw,
            title=title,
        )
        n_shown = len(values["maps"])
        disp.left_out_ = left_out_note(disp.figure_, n_shown, n_shown + n_left_out)
        return disp

    @classmethod
    def from_explainer(
        cls,
        explainer,
        X,
        y=None,
        *,
        samples=None,
        class_names=None,
        ax=None,
        cmap=None,
        scale=None,
        overlay=None,
        colorbar=True,
        im_kw=None,
    ):
        """Explain samples with one or several fitted explainers and plot them.

        Only the samples shown are explained.

        Parameters
        ----------
        explainer : explainer or dict of {str: explainer}
            A fitted skxai explainer, or a dict ``{method name: explainer}``.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            True labels, shown in the rows and used by ``target="true"``.
        samples : int or sequence of int, default=None
            Which samples of ``X`` to show; by default the first 4 (the figure says how
            many more there are).
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        cmap : str or matplotlib Colormap, default=None
            Colour map of the attributions; diverging around zero for signed
            maps, white-to-red from zero for maps without negative values when
            None.
        scale : {'column', 'shared', 'row', 'each'}, default=None
            Which maps share colour limits (see :meth:`from_explanation`).
        overlay : bool, default=None
            Add a column with the last map over the input.
        colorbar : bool, default=True
            Draw colour bars.
        im_kw : dict, default=None
            Further keyword arguments of ``imshow`` for the maps.

        Returns
        -------
        display : SaliencyDisplay
            The plotted display.
        """
        check_matplotlib_support("SaliencyDisplay")
        explainers = explainer if isinstance(explainer, dict) else {"": explainer}
        for value in explainers.values():
            ensure_fitted_explainer(value, "SaliencyDisplay.from_explainer")
        idx = select_samples(samples, _n_samples(X), caller="SaliencyDisplay")
        X_shown = take_rows(X, idx)
        y_shown = None if y is None else np.asarray(y)[idx]
        explanations = {
            name: value.explain(X_shown, y_shown)
            for name, value in explainers.items()
        }
        if not isinstance(explainer, dict):
            explanations = explanations[""]
        n_total = _n_samples(X)
        disp = cls.from_explanation(
            explanations,
            samples=np.arange(len(idx)),
            class_names=class_names,
            ax=ax,
            cmap=cmap,
            scale=scale,
            overlay=overlay,
            colorbar=colorbar,
            im_kw=im_kw,
        )
        if samples is None:
            disp.left_out_ = left_out_note(disp.figure_, len(idx), n_total)
        return disp


def _n_samples(X):
    shape = getattr(X, "shape", None)
    return shape[0] if shape is not None else len(X)


def _limits(flat, scale):
    """Symmetric colour limit of every map, shape (n_rows, n_methods)."""
    n_rows, n_methods = flat.shape[:2]
    absmax = np.abs(np.where(np.isfinite(flat), flat, 0)).reshape(
        n_rows, n_methods, -1
    ).max(axis=2)
    if scale == "shared":
        limit = np.full_like(absmax, absmax.max())
    elif scale == "column":
        limit = np.broadcast_to(absmax.max(axis=0, keepdims=True), absmax.shape)
    elif scale == "row":
        limit = np.broadcast_to(absmax.max(axis=1, keepdims=True), absmax.shape)
    else:
        limit = absmax
    return np.where(limit > 0, limit, 1.0)


def _take(value, idx):
    return None if value is None else np.asarray(value)[idx]


def _from_single(explanation, samples, class_names):
    maps = np.asarray(explanation.maps)
    idx = select_samples(samples, len(maps), caller="SaliencyDisplay")
    maps = maps[idx]
    targets = _take(explanation.targets, idx)
    n_targets = maps.shape[1]
    name = method_title(explanation.explainer, explanation.params)
    if n_targets == 1:
        method_names = [name]
    elif targets is not None:
        method_names = [class_name(t, class_names) for t in targets[0]]
    else:
        method_names = [f"target {j}" for j in range(n_targets)]
    return {
        "images": _take(explanation.images, idx),
        "maps": maps,
        "method_names": method_names,
        "labels": _take(explanation.labels, idx),
        "predictions": _take(explanation.predictions, idx),
        "value_labels": explanation_value_label(explanation),
        "n_left_out": _n_left_out(samples, len(np.asarray(explanation.maps)), idx),
    }


def _n_left_out(samples, n, idx):
    """How many samples the default choice leaves out (none when asked for)."""
    return n - len(idx) if samples is None else 0


def _predicted_column(explanation, idx):
    """Map of the predicted class (else the first target) for each sample."""
    maps = np.asarray(explanation.maps)[idx]
    if maps.shape[1] == 1:
        return maps[:, 0]
    cols = np.zeros(len(idx), dtype=int)
    if explanation.targets is not None and explanation.predictions is not None:
        targets = np.asarray(explanation.targets)[idx]
        preds = np.asarray(explanation.predictions)[idx]
        for i in range(len(idx)):
            hits = np.flatnonzero(targets[i] == preds[i])
            cols[i] = hits[0] if hits.size else 0
    return maps[np.arange(len(idx)), cols]


def _from_dict(explanations, samples, class_names=None):
    if not explanations:
        raise ValueError("SaliencyDisplay needs at least one explanation.")
    first = next(iter(explanations.values()))
    n = len(np.asarray(first.maps))
    for name, value in explanations.items():
        if len(np.asarray(value.maps)) != n:
            raise ValueError(
                "The explanations given to SaliencyDisplay must explain the same "
                f"samples: {name!r} has {len(np.asarray(value.maps))} samples, "
                f"expected {n}."
            )
    idx = select_samples(samples, n, caller="SaliencyDisplay")
    maps = np.stack(
        [_predicted_column(value, idx) for value in explanations.values()], axis=1
    )
    return {
        "images": _take(first.images, idx),
        "maps": maps,
        "method_names": [str(name) for name in explanations],
        "labels": _take(first.labels, idx),
        "predictions": _take(first.predictions, idx),
        "value_labels": [explanation_value_label(v) for v in explanations.values()],
        "n_left_out": _n_left_out(samples, n, idx),
    }
