"""ClassMapsDisplay: one map per class, for images or averaged per class."""

import copy

import numpy as np

from ._base import (
    check_matplotlib_support,
    class_name,
    clear_ticks,
    color_scale,
    ensure_fitted_explainer,
    explanation_value_label,
    is_zero_map,
    layout_images,
    left_out_note,
    make_axes,
    mark_zero_map,
    select_samples,
    side_colorbar,
    symmetric_limit,
    take_rows,
    to_image,
    to_map,
)

_NORMALIZE = (None, "maxabs")


class ClassMapsDisplay:
    """A grid of maps with one column per class.

    Each row is either one image with the map of every class (why the model
    would call it a 0, a 1, ...), or a group of images (e.g. all images of one
    true class) with the per-class maps averaged over the group: the global,
    "decision boundary" view of xaitk-saliency's MNIST tutorial. By default all
    maps share one colour scale, so columns and rows compare: symmetric around
    zero for signed maps (diverging colours, white at zero), from zero up for
    maps without negative values. ``normalize="maxabs"`` scales each map by its
    own largest absolute value instead, as xaitk draws them. The colour bar
    says what the values are; a map that is all (near) zero says so.

    It is recommended to create a display with :meth:`from_explainer` or
    :meth:`from_explanation`; all parameters are stored as attributes.

    Parameters
    ----------
    maps : ndarray of shape (n_rows, n_classes, *image_shape)
        The maps, one per row and class.
    images : ndarray of shape (n_rows, *image_shape), default=None
        The image of each row (the mean image for groups), drawn in a first
        column; None leaves the column out.
    classes : array-like of shape (n_classes,), default=None
        Class label of each column; ``0, 1, ...`` by default.
    row_names : list of str, default=None
        Label of each row.
    class_names : dict or sequence of str, default=None
        Display names of the classes: a mapping ``{label: name}`` or a sequence
        indexed by the label.
    value_label : str, default=None
        What the values are, e.g. ``"logit difference"``: the colour bar's
        label. ``from_explanation`` and ``from_explainer`` name it from the
        explainer and the model output it explains.

    Attributes
    ----------
    im_ : ndarray of matplotlib AxesImage of shape (n_rows, n_columns)
        The drawn images.
    ax_ : ndarray of matplotlib Axes of shape (n_rows, n_columns)
        The axes of the grid.
    figure_ : matplotlib Figure
        The figure holding the grid.
    colorbar_ : matplotlib Colorbar or None
        The shared colour bar.
    vmax_ : float
        The colour limit: maps are drawn from ``-vmax_`` (or 0 for maps without
        negative values) to ``vmax_``; 1 with ``normalize="maxabs"``.
    signed_ : bool
        Whether the maps were drawn with a diverging scale centred at zero.
    zero_maps_ : ndarray of bool of shape (n_rows, n_classes)
        Which maps are all (near) zero, marked "all zero" in the figure.

    See Also
    --------
    SaliencyDisplay : Compare several methods on the same samples.
    skxai.explanation.Explanation.mean : Per-group average maps.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.explanation import Explanation
    >>> from skxai.plotting import ClassMapsDisplay
    >>> rng = np.random.default_rng(0)
    >>> expl = Explanation(
    ...     maps=rng.standard_normal((6, 3, 8, 8)),
    ...     targets=np.tile(np.arange(3), (6, 1)),
    ...     images=rng.random((6, 8, 8)),
    ... )
    >>> disp = ClassMapsDisplay.from_explanation(expl, by=[0, 0, 1, 1, 2, 2])
    >>> disp.ax_.shape
    (3, 4)
    """

    def __init__(
        self,
        maps,
        *,
        images=None,
        classes=None,
        row_names=None,
        class_names=None,
        value_label=None,
    ):
        self.maps = maps
        self.images = images
        self.classes = classes
        self.row_names = row_names
        self.class_names = class_names
        self.value_label = value_label

    def plot(
        self,
        *,
        ax=None,
        cmap=None,
        colorbar=True,
        image_cmap="gray",
        im_kw=None,
        normalize=None,
    ):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on, ``n_rows * n_columns`` of them. A new figure is
            created when None.
        cmap : str or matplotlib Colormap, default=None
            Colour map of the maps; by default ``"RdBu_r"`` centred on zero for
            signed maps and its white-to-red half from zero for maps without
            negative values.
        colorbar : bool, default=True
            Draw the shared colour bar, as tall as the grid.
        image_cmap : str, default="gray"
            Colour map of grey images.
        im_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.imshow` for
            the maps.
        normalize : {'maxabs'} or None, default=None
            ``None``: one colour scale for all maps. ``'maxabs'``: each map
            divided by its own largest absolute value (from -1 to 1), which
            shows the pattern of every map but not how strong it is.

        Returns
        -------
        display : ClassMapsDisplay
            The display, with ``figure_``, ``ax_`` and ``im_``.
        """
        plt = check_matplotlib_support("ClassMapsDisplay")
        if normalize not in _NORMALIZE:
            raise ValueError(
                "The 'normalize' parameter of ClassMapsDisplay.plot must be "
                f"'maxabs' or None. Got {normalize!r} instead."
            )
        maps = np.asarray(self.maps, dtype=np.float64)
        if maps.ndim < 3:
            raise ValueError(
                "ClassMapsDisplay expects maps of shape (n_rows, n_classes, "
                f"*image_shape). Got shape {maps.shape}."
            )
        n_rows, n_classes = maps.shape[:2]
        classes = np.arange(n_classes) if self.classes is None else self.classes
        if len(classes) != n_classes:
            raise ValueError(
                f"ClassMapsDisplay got {len(classes)} classes for {n_classes} maps "
                "per row."
            )
        flat = np.array(
            [[to_map(maps[i, j]) for j in range(n_classes)] for i in range(n_rows)]
        )
        overall = symmetric_limit(flat)
        self.zero_maps_ = np.array(
            [[is_zero_map(flat[i, j], overall) for j in range(n_classes)]
             for i in range(n_rows)]
        )
        label = self.value_label or "attribution"
        if normalize == "maxabs":
            flat = np.array(
                [[m / symmetric_limit(m) for m in row] for row in flat]
            )
            label = f"{label}\n/ its max |.| in each map"
        cmap, self.signed_ = color_scale(flat, cmap)
        self.vmax_ = symmetric_limit(flat)
        vmin = -self.vmax_ if self.signed_ else 0.0
        show_image = self.images is not None
        offset = 1 if show_image else 0
        n_cols = n_classes + offset
        fig, axes = make_axes(
            plt,
            ax,
            n_rows,
            n_cols,
            cell=1.0,
            left=0.75 if self.row_names is not None else 0.1,
            right=1.15 if colorbar else 0.1,
            top=0.3,
            bottom=0.25,
            hspace=0.1,
            caller="ClassMapsDisplay",
        )
        im_kw = {"cmap": cmap, "vmin": vmin, "vmax": self.vmax_, **(im_kw or {})}
        ims = np.empty((n_rows, n_cols), dtype=object)
        for i in range(n_rows):
            if show_image:
                ims[i, 0] = axes[i, 0].imshow(to_image(self.images[i]), cmap=image_cmap)
            for j in range(n_classes):
                ims[i, offset + j] = axes[i, offset + j].imshow(flat[i, j], **im_kw)
                if self.zero_maps_[i, j]:
                    mark_zero_map(axes[i, offset + j])
            for axis in axes[i]:
                clear_ticks(axis)
            if self.row_names is not None:
                axes[i, 0].set_ylabel(str(self.row_names[i]), fontsize="small")
        if show_image:
            axes[0, 0].set_title("input", fontsize="small")
        for j, label_j in enumerate(classes):
            axes[0, offset + j].set_title(
                class_name(label_j, self.class_names), fontsize="small"
            )
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = side_colorbar(
                fig, axes[:, offset:], ims[0, offset], label=label
            )
        self.figure_, self.ax_, self.im_ = fig, axes, ims
        return self

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_explanation(
        cls,
        explanation,
        *,
        sample=None,
        by=None,
        diagonal=False,
        class_names=None,
        ax=None,
        cmap=None,
        colorbar=True,
        im_kw=None,
        normalize=None,
        value_label=None,
    ):
        """Plot the per-class maps of an Explanation made with ``target="all"``.

        Parameters
        ----------
        explanation : Explanation
            Maps of shape ``(n_samples, n_classes, *image_shape)``.
        sample : int or sequence of int, default=None
            The samples to show, one row each, when ``by`` is None; the first
            by default.
        by : array-like of shape (n_samples,), default=None
            Group of each sample (its true or predicted class): one row per group
            with the maps averaged over the group (:meth:`Explanation.mean`).
        diagonal : bool, default=False
            With ``by``: a single row whose column ``c`` is the average map of
            class ``c`` over the samples of group ``c`` (what the model sees in
            its own class).
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        cmap : str or matplotlib Colormap, default=None
            Colour map; diverging around zero for signed maps, white-to-red
            from zero for maps without negative values when None.
        colorbar : bool, default=True
            Draw the shared colour bar.
        im_kw : dict, default=None
            Further keyword arguments of ``imshow`` for the maps.
        normalize : {'maxabs'} or None, default=None
            One colour scale for all maps, or each map scaled by its own
            largest absolute value.
        value_label : str, default=None
            Label of the colour bar; named from the explainer when None
            (e.g. ``"logit difference"`` for Occlusion of logits).

        Returns
        -------
        display : ClassMapsDisplay
            The plotted display.
        """
        check_matplotlib_support("ClassMapsDisplay")
        values = _values(explanation, sample, by, diagonal, class_names)
        n_left_out = values.pop("n_left_out")
        layout = getattr(explanation, "layout", None)
        values["maps"] = layout_images(layout, values["maps"], maps=True)
        values["images"] = layout_images(layout, values["images"])
        if value_label is None:
            value_label = explanation_value_label(explanation)
        disp = cls(**values, class_names=class_names, value_label=value_label)
        disp.plot(
            ax=ax, cmap=cmap, colorbar=colorbar, im_kw=im_kw, normalize=normalize
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
        sample=None,
        by=None,
        diagonal=False,
        class_names=None,
        ax=None,
        cmap=None,
        colorbar=True,
        im_kw=None,
        normalize=None,
        value_label=None,
    ):
        """Explain samples for every class with a fitted explainer and plot them.

        The explainer is used with ``target="all"`` (a shallow copy is changed
        when it has another target; the explainer itself is left as it is).

        Parameters
        ----------
        explainer : explainer
            A fitted skxai explainer.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            True labels, shown in the rows and used by ``by="true"``.
        sample : int or sequence of int, default=None
            The samples to show when ``by`` is None (only these are explained).
        by : array-like of shape (n_samples,) or {'true', 'predicted'}, default=None
            Group of each sample for per-group averages: an array, the true
            labels ``y`` or the model's predictions.
        diagonal : bool, default=False
            With ``by``: one row of each class's average map over its own group.
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        cmap : str or matplotlib Colormap, default=None
            Colour map; diverging around zero for signed maps, white-to-red
            from zero for maps without negative values when None.
        colorbar : bool, default=True
            Draw the shared colour bar.
        im_kw : dict, default=None
            Further keyword arguments of ``imshow`` for the maps.
        normalize : {'maxabs'} or None, default=None
            One colour scale for all maps, or each map scaled by its own
            largest absolute value.
        value_label : str, default=None
            Label of the colour bar; named from the explainer when None
            (e.g. ``"logit difference"`` for Occlusion of logits).

        Returns
        -------
        display : ClassMapsDisplay
            The plotted display.
        """
        check_matplotlib_support("ClassMapsDisplay")
        ensure_fitted_explainer(explainer, "ClassMapsDisplay.from_explainer")
        if not (isinstance(explainer.target, str) and explainer.target == "all"):
            explainer = copy.copy(explainer)
            explainer.set_params(target="all")
        y_arr = None if y is None else np.asarray(y)
        n_total, default_sample = 0, sample is None
        if by is None:
            n_total = X.shape[0] if hasattr(X, "shape") else len(X)
            idx = select_samples(
                0 if sample is None else sample, n_total, caller="ClassMapsDisplay"
            )
            X = take_rows(X, idx)
            y_arr = None if y_arr is None else y_arr[idx]
            sample = np.arange(len(idx))
        explanation = explainer.explain(X, y_arr)
        if isinstance(by, str):
            if by == "true":
                if y_arr is None:
                    raise ValueError(
                        "by='true' needs the true labels: pass y to "
                        "ClassMapsDisplay.from_explainer."
                    )
                by = y_arr
            elif by == "predicted":
                by = explanation.predictions
            else:
                raise ValueError(
                    "The 'by' parameter of ClassMapsDisplay.from_explainer must be "
                    f"an array, 'true' or 'predicted'. Got {by!r} instead."
                )
        disp = cls.from_explanation(
            explanation,
            sample=sample,
            by=by,
            diagonal=diagonal,
            class_names=class_names,
            ax=ax,
            cmap=cmap,
            colorbar=colorbar,
            im_kw=im_kw,
            normalize=normalize,
            value_label=value_label,
        )
        if by is None and default_sample and n_total > len(idx):
            disp.left_out_ = left_out_note(disp.figure_, len(idx), n_total)
        return disp


def _values(explanation, sample, by, diagonal, class_names):
    maps = np.asarray(explanation.maps)
    targets = explanation.targets
    if by is None:
        idx = select_samples(
            0 if sample is None else sample, len(maps), caller="ClassMapsDisplay"
        )
        classes = None if targets is None else np.asarray(targets)[idx[0]]
        rows = []
        for i in idx:
            parts = [f"sample {i}"]
            if explanation.labels is not None:
                label = class_name(explanation.labels[i], class_names)
                parts.append(f"label: {label}")
            if explanation.predictions is not None:
                pred = class_name(explanation.predictions[i], class_names)
                parts.append(f"pred: {pred}")
            rows.append("\n".join(parts))
        images = None
        if explanation.images is not None:
            images = np.asarray(explanation.images)[idx]
        return {"maps": maps[idx], "images": images, "classes": classes,
                "row_names": rows, "n_left_out": len(maps) - 1 if sample is None else 0}
    mean = explanation.mean(by=by)
    groups = np.asarray(mean.index)
    classes = None if mean.targets is None else np.asarray(mean.targets)[0]
    if not diagonal:
        rows = [
            f"{class_name(g, class_names)} (n={n})"
            for g, n in zip(groups, mean.counts)
        ]
        return {"maps": mean.maps, "images": mean.images, "classes": classes,
                "row_names": rows, "n_left_out": 0}
    if classes is None:
        raise ValueError(
            "diagonal=True needs an explanation whose samples all have the same "
            "targets, as target='all' gives."
        )
    columns = []
    for g in groups:
        hits = np.flatnonzero(classes == g)
        if hits.size == 0:
            raise ValueError(
                "diagonal=True needs a map of every group's class; group "
                f"{np.asarray(g).tolist()!r} "
                f"is not one of the explained classes {classes.tolist()}."
            )
        columns.append(hits[0])
    maps = mean.maps[np.arange(len(groups)), columns][np.newaxis]
    return {"maps": maps, "images": None, "classes": groups,
            "row_names": ["mean over\nown class"], "n_left_out": 0}
