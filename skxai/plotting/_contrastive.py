"""ContrastiveDisplay: pertinent positives and negatives of CEM, with savepoints."""

import numpy as np

from ._base import (
    check_matplotlib_support,
    class_name,
    clear_ticks,
    ensure_fitted_explainer,
    is_zero_map,
    layout_images,
    left_out_note,
    make_axes,
    mark_zero_map,
    positive_cmap,
    select_samples,
    side_colorbar,
    take_rows,
    to_image,
)

_MODES = ("pn", "pp")


class ContrastiveDisplay:
    """Contrastive explanations: the original, the PP or PN, and how it was found.

    One row per sample: the original image with its class; the pertinent
    positive (what alone keeps the class) or the pertinent negative (what must be
    added to change it) with the class it leads to; the delta at a few of the
    optimiser's savepoints; and, for a PN, the original with the PN added (the
    figures of the MAXi tutorial). A sample whose explanation was not found says
    so in its title and in the panel; a PP that is empty (the model already
    gives the class to a blank input) is shown as empty, not as a finding.
    Images and deltas share one scale from zero, drawn in the colour bar: grey
    for a PP (a part of the image), white to red for a PN (what is added).

    It is recommended to create a display with :meth:`from_explainer` or
    :meth:`from_explanation`; all parameters are stored as attributes.

    Parameters
    ----------
    images : ndarray of shape (n_samples, *image_shape)
        The explained samples.
    deltas : ndarray of shape (n_samples, *image_shape)
        The PP or PN of each sample.
    mode : {'pn', 'pp'}, default='pn'
        Which explanation the deltas are.
    original_class : ndarray of shape (n_samples,), default=None
        Class of each sample as the model predicts it.
    new_class : ndarray of shape (n_samples,), default=None
        Class the model predicts for ``x + delta`` (PN) or ``delta`` (PP).
    found : ndarray of bool of shape (n_samples,), default=None
        Whether a valid explanation was found for each sample.
    savepoints : dict of {int: ndarray of shape (n_samples, *image_shape)}, \
default=None
        Deltas at some iterations of the optimiser (NaN for a sample whose
        optimiser had stopped before, drawn as "stopped earlier").
    class_names : dict or sequence of str, default=None
        Display names of the classes.

    Attributes
    ----------
    im_ : ndarray of matplotlib AxesImage of shape (n_samples, n_columns)
        The drawn images.
    ax_ : ndarray of matplotlib Axes of shape (n_samples, n_columns)
        The axes of the grid.
    figure_ : matplotlib Figure
        The figure holding the grid.
    column_names_ : list of str
        Titles of the columns.
    status_ : list of str
        What was drawn for each sample: ``"found"``, ``"not found"`` or
        ``"empty"`` (a found PP of all zeros).
    colorbar_ : matplotlib Colorbar or None
        The colour bar of the deltas.

    See Also
    --------
    skxai.contrastive.CEM : The explainer these figures show.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import ContrastiveDisplay
    >>> rng = np.random.default_rng(0)
    >>> disp = ContrastiveDisplay(
    ...     rng.random((2, 8, 8)), rng.random((2, 8, 8)), mode="pn",
    ...     original_class=[3, 5], new_class=[8, 6], found=[True, False],
    ... ).plot()
    >>> disp.column_names_
    ['original', 'PN', 'original + PN']
    """

    def __init__(
        self,
        images,
        deltas,
        *,
        mode="pn",
        original_class=None,
        new_class=None,
        found=None,
        savepoints=None,
        class_names=None,
    ):
        self.images = images
        self.deltas = deltas
        self.mode = mode
        self.original_class = original_class
        self.new_class = new_class
        self.found = found
        self.savepoints = savepoints
        self.class_names = class_names

    def plot(
        self,
        *,
        ax=None,
        max_savepoints=3,
        image_cmap="gray",
        delta_cmap=None,
        colorbar=True,
    ):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on, ``n_samples * n_columns`` of them. A new figure is
            created when None.
        max_savepoints : int, default=3
            Show at most this many savepoints, evenly spread over the run.
        image_cmap : str, default="gray"
            Colour map of the images.
        delta_cmap : str, default=None
            Colour map of the deltas; ``"gray"`` for a PP (a part of the image)
            and white-to-red, white at zero, for a PN (what is added) when None.
        colorbar : bool, default=True
            Draw the colour bar of the deltas.

        Returns
        -------
        display : ContrastiveDisplay
            The display, with ``figure_``, ``ax_`` and ``im_``.
        """
        plt = check_matplotlib_support("ContrastiveDisplay")
        mode = str(self.mode).lower()
        if mode not in _MODES:
            raise ValueError(
                f"The 'mode' of ContrastiveDisplay must be one of {_MODES}. "
                f"Got {self.mode!r} instead."
            )
        images = np.asarray(self.images, dtype=np.float64)
        deltas = np.asarray(self.deltas, dtype=np.float64).reshape(images.shape)
        n_rows = len(images)
        iterations = _pick_savepoints(self.savepoints, max_savepoints)
        name = mode.upper()
        columns = ["original", name] + [f"iteration {it}" for it in iterations]
        if mode == "pn":
            columns.append("original + PN")
        fig, axes = make_axes(
            plt,
            ax,
            n_rows,
            len(columns),
            left=0.15,
            right=1.0 if colorbar else 0.15,
            top=0.5,
            bottom=0.25,
            hspace=0.45,
            caller="ContrastiveDisplay",
        )
        if delta_cmap is None:
            delta_cmap = positive_cmap("RdBu_r") if mode == "pn" else "gray"
        names = self.class_names
        ims = np.empty((n_rows, len(columns)), dtype=object)
        # Deltas and images share one scale from zero: the largest value of the
        # images (or deltas) is white for the images and a PP, dark red for a PN.
        values = np.abs(np.concatenate([images.ravel(), deltas.ravel()]))
        top = np.nanmax(values) if np.isfinite(values).any() else 0.0
        limits = {"vmin": 0.0, "vmax": float(top) if top > 0 else 1.0}
        self.status_ = []
        for i in range(n_rows):
            original = class_name(_at(self.original_class, i), names)
            new = class_name(_at(self.new_class, i), names)
            found = True if self.found is None else bool(np.asarray(self.found)[i])
            delta = np.nan_to_num(deltas[i])
            empty = found and is_zero_map(delta, limits["vmax"])
            status = "not found" if not found else ("empty" if empty else "found")
            self.status_.append(status)
            ims[i, 0] = axes[i, 0].imshow(
                to_image(images[i]), cmap=image_cmap, **limits
            )
            axes[i, 0].set_title(f"original: {original}", fontsize="small")
            ims[i, 1] = axes[i, 1].imshow(to_image(delta), cmap=delta_cmap, **limits)
            if status == "not found":
                title = f"{name} not found"
                mark_zero_map(axes[i, 1], f"no {name}\nfound")
            elif status == "empty":
                title = f"empty {name}:\nblank input is {new}"
                mark_zero_map(axes[i, 1], "empty")
            elif mode == "pn":
                title = f"PN -> {new}"
            else:
                title = f"PP keeps {new}"
            axes[i, 1].set_title(title, fontsize="small")
            for j, it in enumerate(iterations):
                saved = np.asarray(self.savepoints[it], dtype=np.float64)
                saved = saved.reshape(images.shape)[i]
                ims[i, 2 + j] = axes[i, 2 + j].imshow(
                    to_image(np.nan_to_num(saved)), cmap=delta_cmap, **limits
                )
                axes[i, 2 + j].set_title(f"iteration {it}", fontsize="small")
                if np.isnan(saved).all():
                    # This sample's optimiser had stopped before this iteration.
                    mark_zero_map(axes[i, 2 + j], "stopped\nearlier")
                elif is_zero_map(np.nan_to_num(saved), limits["vmax"]):
                    mark_zero_map(axes[i, 2 + j], "empty")
            if mode == "pn":
                ims[i, -1] = axes[i, -1].imshow(
                    to_image(images[i] + delta), cmap=image_cmap, **limits
                )
                axes[i, -1].set_title(
                    f"original + PN: {new}" if found else "original\n(no PN to add)",
                    fontsize="small",
                )
            for axis in axes[i]:
                clear_ticks(axis)
        self.colorbar_ = None
        if colorbar and n_rows:
            label = "pixel value " + ("added (PN)" if mode == "pn" else "kept (PP)")
            self.colorbar_ = side_colorbar(fig, axes, ims[0, 1], label=label)
        self.figure_, self.ax_, self.im_ = fig, axes, ims
        self.column_names_ = columns
        return self

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_explanation(
        cls, explanation, *, samples=None, class_names=None, ax=None, max_savepoints=3
    ):
        """Plot a CEM Explanation.

        Parameters
        ----------
        explanation : Explanation
            From ``CEM.explain``: ``delta``, ``found``, ``original_class``,
            ``new_class``, ``savepoints``, and the explainer's ``mode`` in
            ``params``.
        samples : int or sequence of int, default=None
            Which samples to show; by default the first 4 (the figure says how
            many more there are).
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_savepoints : int, default=3
            Show at most this many savepoints.

        Returns
        -------
        display : ContrastiveDisplay
            The plotted display.
        """
        check_matplotlib_support("ContrastiveDisplay")
        delta = np.asarray(explanation.delta)
        idx = select_samples(samples, len(delta), caller="ContrastiveDisplay")
        n_total = len(delta) if samples is None else len(idx)
        # drawn as the layout says (channels-first images get channels last)
        layout = getattr(explanation, "layout", None)
        images = layout_images(layout, np.asarray(explanation.images)[idx])
        savepoints = getattr(explanation, "savepoints", None)
        if savepoints:
            savepoints = {
                int(it): layout_images(
                    layout, np.asarray(value).reshape(len(delta), -1)[idx]
                ).reshape(len(idx), -1)
                for it, value in savepoints.items()
            }
        deltas = delta.reshape(len(delta), -1)[idx]
        disp = cls(
            images,
            layout_images(layout, deltas).reshape(images.shape),
            mode=explanation.params.get("mode", "pn"),
            original_class=_take(getattr(explanation, "original_class", None), idx),
            new_class=_take(getattr(explanation, "new_class", None), idx),
            found=_take(getattr(explanation, "found", None), idx),
            savepoints=savepoints or None,
            class_names=class_names,
        ).plot(ax=ax, max_savepoints=max_savepoints)
        disp.left_out_ = left_out_note(disp.figure_, len(idx), n_total)
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
        max_savepoints=3,
    ):
        """Explain samples with a fitted CEM and plot them.

        Only the samples shown are explained.

        Parameters
        ----------
        explainer : CEM
            A fitted contrastive explainer.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.
        samples : int or sequence of int, default=None
            Which samples of ``X`` to show; by default the first 4 (the figure says how
            many more there are).
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_savepoints : int, default=3
            Show at most this many savepoints.

        Returns
        -------
        display : ContrastiveDisplay
            The plotted display.
        """
        check_matplotlib_support("ContrastiveDisplay")
        ensure_fitted_explainer(explainer, "ContrastiveDisplay.from_explainer")
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        idx = select_samples(samples, n, caller="ContrastiveDisplay")
        y_shown = None if y is None else np.asarray(y)[idx]
        explanation = explainer.explain(take_rows(X, idx), y_shown)
        disp = cls.from_explanation(
            explanation,
            samples=np.arange(len(idx)),
            class_names=class_names,
            ax=ax,
            max_savepoints=max_savepoints,
        )
        if samples is None:
            disp.left_out_ = left_out_note(disp.figure_, len(idx), n)
        return disp


def _take(value, idx):
    return None if value is None else np.asarray(value)[idx]


def _at(value, i):
    return None if value is None else np.asarray(value)[i]


def _pick_savepoints(savepoints, max_savepoints):
    """At most ``max_savepoints`` iterations, evenly spread, in increasing order."""
    if not savepoints or max_savepoints < 1:
        return []
    keys = sorted(savepoints)
    if len(keys) <= max_savepoints:
        return keys
    picks = np.linspace(0, len(keys) - 1, max_savepoints).round().astype(int)
    return [keys[p] for p in dict.fromkeys(picks)]
