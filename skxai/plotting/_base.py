"""Helpers shared by the Display classes: matplotlib check, images, colour scales."""

import numpy as np

from ..utils._optional import import_optional

_CHANNELS = (1, 3, 4)


def check_matplotlib_support(caller):
    """Raise an ImportError naming the ``plot`` extra when matplotlib is missing.

    Parameters
    ----------
    caller : str
        What needs matplotlib, used in the message, e.g. ``"SaliencyDisplay"``.
    """
    import_optional("matplotlib", caller)
    return import_optional("matplotlib.pyplot", caller)


def _channel_axis(shape):
    """Axis holding colour channels of one image shape, or None for grey images."""
    if len(shape) != 3:
        return None
    if shape[0] in _CHANNELS and shape[-1] not in _CHANNELS:
        return 0  # channels-first, as torch takes images
    if shape[-1] in _CHANNELS:
        return 2
    return 0


def to_image(image):
    """One image as matplotlib shows it: (height, width) or (height, width, 3|4).

    Flat rows of ``n`` pixels become ``(1, n)``; channels-first images are moved to
    channels-last; one-channel images are squeezed to grey.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 1:
        # nothing guessed from a perfect square (design rule 8): a flat image
        # is folded by its layout before it gets here
        return image.reshape(1, image.size)
    axis = _channel_axis(image.shape)
    if axis is None:
        return image
    image = np.moveaxis(image, axis, -1)
    if image.shape[-1] == 1:
        return image[..., 0]
    lo, hi = image.min(), image.max()
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def to_map(attribution):
    """One attribution map as a 2-D array: colour channels are summed (signed)."""
    attribution = np.asarray(attribution, dtype=np.float64)
    if attribution.ndim == 1:
        return to_image(attribution)
    axis = _channel_axis(attribution.shape)
    if axis is None:
        return attribution
    return attribution.sum(axis=axis)


def layout_images(layout, arrays, *, maps=False):
    """Images (or maps) of an image layout as drawn, read from the layout.

    ``arrays`` holds samples in the layout's map shape (or flat) after any
    leading axes. Returns ``(..., height, width)``, or ``(..., height, width,
    3 | 4)`` for colour images: channels-first samples get their channels
    last, one channel is squeezed, other channel counts are averaged to grey;
    maps have their channels summed (signed). Nothing is guessed from the
    sizes of the axes (design rule 8). Without an image layout, ``arrays`` is
    returned as it is.
    """
    if arrays is None or getattr(layout, "kind", None) != "image":
        return arrays
    arrays = np.asarray(arrays)
    if arrays.dtype == object:
        return arrays
    height, width, channels = layout.height, layout.width, layout.channels or 1
    n_values = height * width * channels
    for shape in (tuple(layout.map_shape), tuple(layout.input_shape), (n_values,)):
        if arrays.ndim >= len(shape) and arrays.shape[-len(shape) :] == shape:
            lead = arrays.shape[: -len(shape)]
            break
    else:
        return arrays
    if layout.channels_first:
        images = np.moveaxis(arrays.reshape(*lead, channels, height, width), -3, -1)
    else:
        images = arrays.reshape(*lead, height, width, channels)
    if maps:
        return images.sum(axis=-1)
    if channels in (3, 4):
        return images
    return images.mean(axis=-1)


def symmetric_limit(maps):
    """The largest absolute finite value of ``maps`` (1.0 when all are zero)."""
    maps = np.asarray(maps, dtype=np.float64)
    finite = np.abs(maps[np.isfinite(maps)])
    vmax = float(finite.max()) if finite.size else 0.0
    return vmax if vmax > 0 else 1.0


def class_name(label, class_names):
    """Display name of a class label through a mapping or a sequence."""
    if class_names is None or label is None:
        return "" if label is None else str(label)
    if isinstance(class_names, dict):
        return str(class_names.get(label, label))
    try:
        return str(class_names[int(label)])
    except (TypeError, ValueError, IndexError):
        return str(label)


def make_axes(
    plt,
    ax,
    n_rows,
    n_cols,
    *,
    cell=1.6,
    left=0.45,
    right=0.15,
    top=0.35,
    bottom=0.1,
    wspace=0.08,
    hspace=0.2,
    caller="Display",
):
    """Return ``(figure, axes)`` with axes an object array (n_rows, n_columns).

    ``ax`` may be None (a new figure whose margins, in inches, are ``left``,
    ``right``, ``top`` and ``bottom``, and gaps ``wspace`` and ``hspace`` as
    fractions of a cell), a single Axes when the grid has one cell, or an
    array-like of Axes with ``n_rows * n_cols`` elements. A fixed layout is used
    rather than matplotlib's constrained layout, which is slow on large grids.
    """
    if ax is None:
        width = left + right + cell * (n_cols + wspace * (n_cols - 1))
        height = top + bottom + cell * (n_rows + hspace * (n_rows - 1))
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, height), squeeze=False)
        fig.subplots_adjust(
            left=left / width,
            right=1 - right / width,
            top=1 - top / height,
            bottom=bottom / height,
            wspace=wspace,
            hspace=hspace,
        )
        return fig, axes
    axes = np.asarray(ax, dtype=object)
    if axes.size != n_rows * n_cols:
        raise ValueError(
            f"The 'ax' parameter of {caller} must hold {n_rows * n_cols} Axes "
            f"({n_rows} rows x {n_cols} columns). Got {axes.size}."
        )
    axes = axes.reshape(n_rows, n_cols)
    return axes.flat[0].figure, axes


def side_colorbar(fig, axes, mappable, *, label=None, width=0.12, pad=0.08):
    """A vertical colour bar right of ``axes``, as tall as the grid they span.

    Sizes are in inches; ``label`` says what the values are.
    """
    boxes = [a.get_position() for a in np.asarray(axes, dtype=object).ravel()]
    x1 = max(b.x1 for b in boxes)
    y0 = min(b.y0 for b in boxes)
    y1 = max(b.y1 for b in boxes)
    fig_w, fig_h = fig.get_size_inches()
    cax = fig.add_axes([x1 + pad / fig_w, y0, width / fig_w, y1 - y0])
    bar = fig.colorbar(mappable, cax=cax)
    style_colorbar(bar, label, nbins=6 if (y1 - y0) * fig_h > 2.5 else 4)
    return bar


def below_colorbar(ax, mappable, *, label=None):
    """A horizontal colour bar under one Axes, with few ticks so they never touch."""
    cax = ax.inset_axes([0.05, -0.14, 0.9, 0.07])
    bar = ax.figure.colorbar(mappable, cax=cax, orientation="horizontal")
    style_colorbar(bar, label, nbins=3, labelsize="x-small")
    return bar


def style_colorbar(bar, label=None, *, nbins=4, labelsize="small"):
    """Few ticks, short tick labels, and a label saying what the values are.

    Values far from 1 get their power of ten in the label (``"... (x 1e-3)"``)
    rather than in matplotlib's offset text, which collides with titles and
    labels in small grids.
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    lo, hi = bar.mappable.get_clim()
    top = max(abs(lo), abs(hi)) if lo is not None and hi is not None else 0.0
    power = int(np.floor(np.log10(top))) if top > 0 else 0
    power = power if power < -2 or power > 3 else 0
    scale = 10.0**power
    bar.locator = MaxNLocator(nbins=nbins, symmetric=_is_symmetric(bar))
    bar.formatter = FuncFormatter(
        lambda v, pos: f"{v / scale:.3g}".replace("-", "\u2212")
    )
    bar.update_ticks()
    bar.ax.tick_params(labelsize=labelsize)
    lines = [] if label is None else [str(label)]
    if lines:
        import textwrap

        # Wrap the label to the length of the bar (about 0.6 em per character);
        # bars under a map cell (inset axes) take 24 characters.
        width = 24
        if bar.orientation == "vertical":
            height = bar.ax.get_position().height * bar.ax.figure.get_size_inches()[1]
            width = max(12, int(height * 72 / (0.6 * mpl_font_size(labelsize))))
        lines = textwrap.wrap(lines[0], width, break_long_words=False)
    if power:
        unit = f"(x 1e{power})"
        if lines and len(lines[-1]) + len(unit) < width:
            lines[-1] = f"{lines[-1]} {unit}"
        else:
            lines.append(unit)
    if lines:
        bar.set_label("\n".join(lines), fontsize=labelsize)
    return bar


def mpl_font_size(size):
    """Points of a matplotlib font size given as a name or a number."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size).get_size_in_points()


def _is_symmetric(bar):
    lo, hi = bar.mappable.get_clim()
    return lo is not None and hi is not None and np.isclose(lo, -hi)


# ------------------------------------------------------------ colour scales
def positive_cmap(cmap):
    """The upper half of a diverging colour map: white at zero, then its reds.

    Non-negative maps drawn with it keep the colours they would have in the
    signed map, and zero stays white.
    """
    import matplotlib as mpl
    from matplotlib.colors import ListedColormap

    base = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
    colours = base(np.linspace(0.5, 1.0, 128))
    colours[0, :3] = 1.0  # zero is white, not the diverging map's light grey
    return ListedColormap(colours, name=f"{base.name}_pos")


def is_nonnegative(maps, *, tol=1e-12):
    """Whether every finite value of ``maps`` is >= 0 (up to ``tol`` x max)."""
    maps = np.asarray(maps, dtype=np.float64)
    finite = maps[np.isfinite(maps)]
    if not finite.size:
        return False
    top = np.abs(finite).max()
    return bool(top > 0 and finite.min() >= -tol * top)


def color_scale(maps, cmap=None, *, signed=None):
    """``(cmap, signed)`` for maps: diverging around zero, or from zero up.

    ``signed=None`` decides from the values: maps without a negative value
    (Grad-CAM, ``abs`` gradients, squared SmoothGrad) get the white-to-red half
    of the diverging map from zero, signed maps the whole map centred at zero.
    A colour map given by the caller is kept as it is.
    """
    if signed is None:
        signed = not is_nonnegative(maps)
    if cmap is None:
        cmap = "RdBu_r" if signed else positive_cmap("RdBu_r")
    return cmap, signed


def is_zero_map(values, scale, *, rtol=1e-6):
    """Whether a map is all (near) zero: below ``rtol`` of the scale it is
    drawn on, or exactly zero."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    return top == 0.0 or top <= rtol * float(scale)


def mark_zero_map(ax, text="all zero"):
    """Write on an Axes that its map is all (near) zero, so that a blank panel
    is not taken for a drawing error."""
    return ax.text(
        0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
        fontsize="x-small", color="0.25",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "alpha": 0.85},
    )


def left_out_note(fig, n_shown, n_total, what="samples"):
    """Say in the figure how many of the asked-for items are not drawn."""
    if n_total <= n_shown:
        return None
    return fig.text(
        0.005, 0.005, f"{n_total - n_shown} of {n_total} {what} not shown",
        fontsize="x-small", color="0.3", ha="left", va="bottom",
    )


def wrap_title(text, width=14):
    """Break a long title before a nested name, e.g. after ``SmoothGrad``."""
    text = str(text)
    if len(text) <= width or "\n" in text:
        return text
    if "(" in text:
        head, _, tail = text.partition("(")
        return f"{head}\n({tail}"
    import textwrap

    lines = textwrap.wrap(
        text, width, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines) or text


def clear_ticks(ax):
    """Hide ticks and tick labels, keep the axis labels."""
    ax.set_xticks([])
    ax.set_yticks([])


def select_samples(samples, n_samples, default_max=4, caller="Display"):
    """Indices of the samples to show."""
    if samples is None:
        return np.arange(min(n_samples, default_max))
    idx = np.atleast_1d(np.asarray(samples))
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise ValueError(
            f"The 'samples' parameter of {caller} must be an int or a sequence of "
            f"ints. Got {samples!r}."
        )
    if idx.size == 0 or idx.min() < -n_samples or idx.max() >= n_samples:
        raise ValueError(
            f"The 'samples' parameter of {caller} must index the {n_samples} "
            f"explained samples. Got {samples!r}."
        )
    return idx


def ensure_fitted_explainer(explainer, caller):
    """Raise NotFittedError (scikit-learn's wording) for an unfitted explainer."""
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(explainer, "explain"):
        raise TypeError(
            f"{caller} expects a fitted skxai explainer with an 'explain' method. "
            f"Got {type(explainer).__name__}."
        )
    check_is_fitted(explainer)


def take_rows(X, idx):
    """Rows ``idx`` of an array or a DataFrame (keeping its index)."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return np.asarray(X)[idx]


# ------------------------------------------------------------ what values are
_SCORE_NAMES = {
    "decision_function": "logit",
    "predict_proba": "probability",
    "predict_log_proba": "log-probability",
}
_GRADIENT_EXPLAINERS = {
    "Saliency", "IntegratedGradients", "SmoothGrad", "GuidedBackprop",
    "Deconvolution", "GradCAM", "GuidedGradCAM", "GradientSHAP",
}


def score_name(response_method, *, gradients=False):
    """The model output a map is made of: ``"logit"``, ``"probability"``, ...

    Gradient explainers explain the pre-softmax output under ``"auto"``; a
    black-box ``"auto"`` depends on the model, and is named ``"model score"``
    when it is not known.
    """
    if response_method in (None, "auto"):
        return "logit" if gradients else "model score"
    return _SCORE_NAMES.get(str(response_method), str(response_method))


def value_label(name, params=None, response_method=None):
    """What the values of an explainer's maps are, for a colour bar.

    Parameters
    ----------
    name : str
        Class name of the explainer (``Explanation.explainer``).
    params : dict, default=None
        Its parameters (``Explanation.params``).
    response_method : str, default=None
        The resolved model output (``response_method_``), when known; the
        ``response_method`` parameter is used otherwise.
    """
    params = {} if params is None else params
    if name == "SmoothGrad":
        inner = params.get("explainer")
        inner_params = {}
        if hasattr(inner, "get_params"):
            inner_params = inner.get_params(deep=False)
        label = value_label(type(inner).__name__, inner_params, response_method)
        form = params.get("form", "mean")
        if form == "squared":
            return f"mean square of {label}"
        if form == "variance":
            return f"variance of {label}"
        return f"mean {label} over noise"
    rm = response_method or params.get("response_method")
    score = score_name(rm, gradients=name in _GRADIENT_EXPLAINERS)
    if name == "Occlusion":
        if params.get("normalize") == "maxabs":
            return f"{score} difference / its max |.|"
        return f"{score} difference"
    if name == "RISE":
        return f"{score} under masks (RISE)"
    if name == "Saliency":
        modifier = params.get("grad_modifier")
        label = f"gradient of {score}"
        if params.get("multiply_by_inputs"):
            label = f"gradient x input ({score})"
        if modifier == "abs":
            return f"|{label}|"
        if modifier == "relu":
            return f"{label}, positive part"
        if modifier == "negate":
            return f"-{label}"
        return label
    if name == "IntegratedGradients":
        return f"{score} difference (IG)"
    if name == "GuidedBackprop":
        return f"guided gradient of {score}"
    if name == "Deconvolution":
        return f"deconvolution of {score}"
    if name == "GradCAM":
        return f"Grad-CAM of {score}"
    if name == "GuidedGradCAM":
        return f"guided Grad-CAM of {score}"
    if name in ("ShapleyValues", "KernelSHAP"):
        return f"Shapley value ({score} difference)"
    if name == "GradientSHAP":
        return f"expected gradients ({score} difference)"
    return "attribution"


def explanation_value_label(explanation):
    """:func:`value_label` of an Explanation."""
    return value_label(
        explanation.explainer,
        getattr(explanation, "params", None),
        getattr(explanation, "response_method", None),
    )


def method_title(name, params=None):
    """Title of an explainer, nested ones shown: ``SmoothGrad(IntegratedGradients)``."""
    if not name:
        return "map"
    inner = (params or {}).get("explainer")
    if inner is not None and hasattr(inner, "get_params"):
        inner_title = method_title(type(inner).__name__, inner.get_params(deep=False))
        return f"{name}({inner_title})"
    return str(name)
