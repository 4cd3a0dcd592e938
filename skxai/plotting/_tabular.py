"""Displays of tabular explanations: importance bars, beeswarm, waterfall.

A tabular explanation holds one attribution per sample, target and feature (or
feature group). The three displays show it with the feature names on the axes:
the mean absolute attribution per feature (:class:`ImportanceDisplay`), every
sample's attribution coloured by the feature's value (:class:`BeeswarmDisplay`),
and one sample's attributions adding up from the base value
(:class:`WaterfallDisplay`).
"""

import numpy as np

from ._base import (
    check_matplotlib_support,
    ensure_fitted_explainer,
    explanation_value_label,
    select_samples,
)

# The explained class differs between samples (e.g. target="predicted").
_EACH = object()
# Colours of positive and negative attributions (red raises the output).
_POSITIVE = "#d6404e"
_NEGATIVE = "#1e88e5"


# ---------------------------------------------------------------- explanation
def _layout(explanation):
    return getattr(explanation, "layout", None)


def _feature_names(explanation, n_units):
    """Names of the ``n_units`` columns of the maps: groups, features or x0, x1..."""
    layout = _layout(explanation)
    if layout is not None:
        for attr in ("unit_names", "group_names", "feature_names"):
            names = getattr(layout, attr, None)
            if names is not None and len(names) == n_units:
                return np.asarray([str(name) for name in names], dtype=object)
    return np.asarray([f"x{j}" for j in range(n_units)], dtype=object)


def _feature_values(explanation, n_samples, n_units):
    """The samples' feature values, shape (n_samples, n_units) of objects, or None.

    A feature group has no single value unless it holds one column; such a
    group's values are None.
    """
    data = None
    for attr in ("data", "images"):
        value = getattr(explanation, attr, None)
        if value is not None:
            data = value
            break
    if data is None:
        return None
    data = np.asarray(getattr(data, "to_numpy", lambda: data)(), dtype=object)
    if len(data) != n_samples:
        return None
    data = data.reshape(n_samples, -1)
    if data.shape[1] == n_units:
        return data
    layout = _layout(explanation)
    groups = getattr(layout, "groups", None)
    if groups is None or len(groups) != n_units:
        return None
    values = np.full((n_samples, n_units), None, dtype=object)
    for j, members in enumerate(groups):
        members = np.atleast_1d(members)
        if members.size == 1:
            values[:, j] = data[:, int(members[0])]
    return values


def _numeric(column):
    """A column of values as floats (NaN where not a number), or None if none is."""
    out = np.full(len(column), np.nan)
    for i, value in enumerate(column):
        if value is None or isinstance(value, (str, bytes)):
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            continue
    return out if np.isfinite(out).any() else None


def _format_value(value):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)


def _check_tabular(explanation, target, caller, samples=None):
    """``(values, names, data, target_label)`` of one target of an explanation,
    for all its samples or those at positions ``samples``."""
    maps = getattr(explanation, "maps", None)
    if maps is None:
        raise ValueError(f"{caller} needs an explanation with attribution maps.")
    maps = np.asarray(maps, dtype=np.float64)
    layout = _layout(explanation)
    kind = getattr(layout, "kind", "tabular" if maps.ndim == 3 else "image")
    if kind != "tabular" or maps.ndim != 3:
        raise ValueError(
            f"{caller} draws tabular explanations, with maps of shape (n_samples, "
            f"n_targets, n_features); got maps of shape {maps.shape} ({kind} "
            "layout). Use SaliencyDisplay for images."
        )
    groups = getattr(layout, "groups", None)
    if groups is not None and maps.shape[2] == layout.n_features:
        # Every member of a group holds the group's value: one column a group.
        maps = layout.features_to_units(maps, reduce="mean")
    n, n_targets, n_units = maps.shape
    if not isinstance(target, (int, np.integer)) or not -n_targets <= target < (
        n_targets
    ):
        raise ValueError(
            f"The 'target' parameter of {caller} must be the position of a target "
            f"in the explanation, an int in [0, {n_targets}). Got {target!r}."
        )
    rows = np.arange(n)
    if samples is not None:
        rows = select_samples(samples, n, caller=caller)
    values = maps[rows, target]
    names = _feature_names(explanation, n_units)
    data = _feature_values(explanation, n, n_units)
    data = None if data is None else data[rows]
    label = None
    targets = getattr(explanation, "targets", None)
    if targets is not None and len(rows):
        column = np.asarray(targets)[rows, target]
        label = column[0] if np.all(column == column[0]) else _EACH
    return values, names, data, label


def _target_title(label, explainer):
    parts = [str(explainer)] if explainer else []
    if label is _EACH:
        parts.append("each sample's explained class")
    elif label is not None:
        parts.append(f"class {label}")
    return ", ".join(parts)


def _check_max_display(max_display, caller):
    if (
        not isinstance(max_display, (int, np.integer))
        or isinstance(max_display, bool)
        or max_display < 1
    ):
        raise ValueError(
            f"The 'max_display' parameter of {caller} must be an int >= 1. Got "
            f"{max_display!r}."
        )


def _more_note(ax, n_hidden, y):
    """An "n more features" note in the row below the last one shown."""
    if n_hidden <= 0:
        return None
    word = "feature" if n_hidden == 1 else "features"
    return ax.text(
        0.0,
        y,
        f"{n_hidden} more {word} not shown",
        transform=ax.get_yaxis_transform(),
        ha="left",
        va="center",
        fontsize="small",
        style="italic",
        color="0.35",
    )


def _rows_figure(plt, ax, n_rows, width=6.4):
    """A figure tall enough for ``n_rows`` labelled rows, or ``ax``'s figure."""
    if ax is not None:
        return ax.figure, ax
    height = max(3.0, 1.3 + 0.32 * n_rows)
    return plt.subplots(figsize=(width, height), layout="constrained")


# ------------------------------------------------------------------ importance
class ImportanceDisplay:
    """Global feature importance: mean absolute attribution per feature.

    One horizontal bar per feature, the most important at the top; only the
    ``max_display`` largest are drawn, with a note of how many more there are.

    It is recommended to create a display with :meth:`from_explanation` or
    :meth:`from_explainer`; all parameters are stored as attributes.

    Parameters
    ----------
    importances : ndarray of shape (n_features,)
        Mean absolute attribution of each feature (or feature group).
    feature_names : array-like of str of shape (n_features,)
        Their names.
    title : str, default=None
        Title of the axes.
    value_label : str, default=None
        What the attributions are, with their unit (e.g. ``"logit
        difference"``), on the attribution axis; ``"attribution"`` when None.
        :meth:`from_explanation` names it from the explainer.

    Attributes
    ----------
    bars_ : matplotlib BarContainer
        The bars, most important first.
    shown_ : ndarray of int
        Indices of the features drawn, most important first.
    note_ : matplotlib Text or None
        The "n more features not shown" note.
    ax_ : matplotlib Axes
        The axes.
    figure_ : matplotlib Figure
        The figure.

    See Also
    --------
    BeeswarmDisplay : Every sample's attribution, coloured by the feature's value.
    WaterfallDisplay : One sample's attributions, from the base value.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import ImportanceDisplay
    >>> disp = ImportanceDisplay(np.array([0.1, 0.5, 0.2]), ["a", "b", "c"]).plot()
    >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
    ['b', 'c', 'a']
    """

    def __init__(self, importances, feature_names, *, title=None, value_label=None):
        self.importances = importances
        self.feature_names = feature_names
        self.title = title
        self.value_label = value_label

    def plot(self, *, ax=None, max_display=10, bar_kw=None):
        """Draw the bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=10
            How many of the most important features to draw.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : ImportanceDisplay
            The display, with ``figure_``, ``ax_`` and ``bars_``.
        """
        plt = check_matplotlib_support("ImportanceDisplay")
        _check_max_display(max_display, "ImportanceDisplay")
        importances = np.asarray(self.importances, dtype=np.float64)
        names = np.asarray(self.feature_names, dtype=object)
        if importances.ndim != 1 or len(names) != len(importances):
            raise ValueError(
                "ImportanceDisplay needs one importance per feature name: got "
                f"{importances.shape} importances and {len(names)} names."
            )
        order = np.argsort(-importances, kind="stable")
        shown = order[:max_display]
        n_hidden = len(order) - len(shown)
        fig, ax = _rows_figure(plt, ax, len(shown) + (n_hidden > 0))
        y = -np.arange(len(shown), dtype=np.float64)
        kw = {"color": _POSITIVE, "height": 0.7, **(bar_kw or {})}
        self.bars_ = ax.barh(y, importances[shown], **kw)
        ax.set_yticks(y, [str(v) for v in names[shown]])
        ax.bar_label(self.bars_, fmt="%.3g", padding=3, fontsize="small")
        bottom = y[-1] - 1 if len(y) else -1
        self.note_ = _more_note(ax, n_hidden, bottom)
        ax.set_ylim(bottom - 0.6 if n_hidden else bottom + 0.4, 0.6)
        ax.set_xlim(0, max(float(importances.max(initial=0.0)), 1e-300) * 1.18)
        ax.set_xlabel(f"mean |{self.value_label or 'attribution'}|")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if self.title:
            ax.set_title(self.title)
        self.shown_ = shown
        self.figure_, self.ax_ = fig, ax
        return self

    @classmethod
    def from_explanation(
        cls, explanation, *, samples=None, target=0, ax=None, max_display=10,
        bar_kw=None,
    ):
        """Plot the mean absolute attribution per feature of an explanation.

        Parameters
        ----------
        explanation : Explanation
            A tabular explanation: maps of shape ``(n_samples, n_targets,
            n_features)``.
        samples : sequence of int, default=None
            Positions of the samples averaged; all of them when None.
        target : int, default=0
            Which of the explanation's targets (its position, e.g. the class
            index for ``target="all"``).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=10
            How many of the most important features to draw.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : ImportanceDisplay
            The plotted display.
        """
        check_matplotlib_support("ImportanceDisplay")
        values, names, _, label = _check_tabular(
            explanation, target, "ImportanceDisplay", samples
        )
        importances = np.abs(values).mean(axis=0) if len(values) else (
            np.zeros(values.shape[1])
        )
        title = _target_title(label, getattr(explanation, "explainer", None))
        value_label = explanation_value_label(explanation)
        return cls(
            importances, names, title=title or None, value_label=value_label
        ).plot(
            ax=ax, max_display=max_display, bar_kw=bar_kw
        )

    @classmethod
    def from_explainer(
        cls, explainer, X, y=None, *, target=0, ax=None, max_display=10, bar_kw=None
    ):
        """Explain ``X`` with a fitted explainer and plot the feature importances.

        Parameters
        ----------
        explainer : fitted explainer
            A fitted explainer of a tabular model.
        X : array-like of shape (n_samples, n_features)
            Samples to explain.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.
        target : int, default=0
            Which of the explanation's targets.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=10
            How many of the most important features to draw.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : ImportanceDisplay
            The plotted display.
        """
        check_matplotlib_support("ImportanceDisplay")
        ensure_fitted_explainer(explainer, "ImportanceDisplay.from_explainer")
        return cls.from_explanation(
            explainer.explain(X, y),
            target=target,
            ax=ax,
            max_display=max_display,
            bar_kw=bar_kw,
        )


# -------------------------------------------------------------------- beeswarm
def _swarm_offsets(x, *, n_bins=100, height=0.8):
    """Vertical offsets that spread points of close ``x`` apart (a beeswarm).

    Points are binned along ``x``; within a bin they take alternate layers
    above and below the row's centre, and the layers are scaled to fit
    ``height``.
    """
    n = len(x)
    if n == 0:
        return np.zeros(0)
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi > lo:
        bins = np.round((x - lo) / (hi - lo) * n_bins).astype(np.intp)
    else:
        bins = np.zeros(n, dtype=np.intp)
    order = np.lexsort((x, bins))
    sorted_bins = bins[order]
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    counts = np.diff(np.r_[starts, n])
    layer = np.arange(n) - np.repeat(starts, counts)
    offsets = np.empty(n)
    offsets[order] = np.ceil(layer / 2) * np.where(layer % 2, 1.0, -1.0)
    top = np.abs(offsets).max()
    return offsets * (height / 2 / top) if top > 0 else offsets


def _colour_levels(values):
    """Feature values scaled to [0, 1] between their 5th and 95th percentiles.

    NaN where a value is not a number (categories, groups without one value).
    """
    if values is None:
        return None
    numeric = _numeric(values)
    if numeric is None:
        return None
    finite = numeric[np.isfinite(numeric)]
    lo, hi = np.percentile(finite, [5, 95])
    if hi <= lo:
        lo, hi = finite.min(), finite.max()
    if hi <= lo:
        return np.where(np.isfinite(numeric), 0.5, np.nan)
    return np.clip((numeric - lo) / (hi - lo), 0.0, 1.0)


class BeeswarmDisplay:
    """Summary of a tabular explanation: one dot per sample and feature.

    Each row is a feature (the ``max_display`` with the largest mean absolute
    attribution, most important at the top); each dot is a sample, at its
    attribution on the x-axis, spread vertically where dots crowd, and coloured
    by the sample's value of the feature (low to high between the feature's
    5th and 95th percentiles). Dots of values that are not numbers (a
    categorical column, a group of several columns) are grey.

    It is recommended to create a display with :meth:`from_explanation` or
    :meth:`from_explainer`; all parameters are stored as attributes.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        Attribution of each sample and feature.
    feature_names : array-like of str of shape (n_features,)
        Names of the features.
    data : array-like of shape (n_samples, n_features), default=None
        The samples' feature values, for the colours; all grey when None.
    title : str, default=None
        Title of the axes.
    value_label : str, default=None
        What the attributions are, with their unit (e.g. ``"logit
        difference"``), on the attribution axis; ``"attribution"`` when None.
        :meth:`from_explanation` names it from the explainer.

    Attributes
    ----------
    collections_ : list of matplotlib PathCollection
        The dots of each row drawn, most important feature first.
    shown_ : ndarray of int
        Indices of the features drawn, most important first.
    colorbar_ : matplotlib Colorbar or None
        The colour bar of the feature values (None when no value is a number).
    note_ : matplotlib Text or None
        The "n more features not shown" note.
    ax_ : matplotlib Axes
        The axes.
    figure_ : matplotlib Figure
        The figure.

    See Also
    --------
    ImportanceDisplay : The mean absolute attribution per feature.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import BeeswarmDisplay
    >>> rng = np.random.RandomState(0)
    >>> data = rng.normal(size=(50, 3))
    >>> disp = BeeswarmDisplay(data * [1, 3, 0.5], ["a", "b", "c"], data=data).plot()
    >>> disp.colorbar_.ax.get_ylabel()
    'feature value (low->high)'
    """

    def __init__(
        self, values, feature_names, *, data=None, title=None, value_label=None
    ):
        self.values = values
        self.feature_names = feature_names
        self.data = data
        self.title = title
        self.value_label = value_label

    def plot(self, *, ax=None, max_display=20, cmap="coolwarm", scatter_kw=None):
        """Draw the dots.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=20
            How many of the most important features to draw.
        cmap : str or Colormap, default="coolwarm"
            Colour map of the feature values, low to high.
        scatter_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : BeeswarmDisplay
            The display, with ``figure_``, ``ax_`` and ``collections_``.
        """
        plt = check_matplotlib_support("BeeswarmDisplay")
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        _check_max_display(max_display, "BeeswarmDisplay")
        values = np.asarray(self.values, dtype=np.float64)
        names = np.asarray(self.feature_names, dtype=object)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(
                "BeeswarmDisplay needs values of shape (n_samples, n_features) with "
                f"one name per feature: got values of shape {values.shape} and "
                f"{len(names)} names."
            )
        data = None
        if self.data is not None:
            data = np.asarray(
                getattr(self.data, "to_numpy", lambda: self.data)(), dtype=object
            )
            if data.shape != values.shape:
                raise ValueError(
                    "The 'data' of BeeswarmDisplay must have the shape of the values "
                    f"{values.shape}; got {data.shape}."
                )
        importance = np.abs(values).mean(axis=0) if len(values) else np.zeros(
            values.shape[1]
        )
        order = np.argsort(-importance, kind="stable")
        shown = order[:max_display]
        n_hidden = len(order) - len(shown)
        fig, ax = _rows_figure(plt, ax, len(shown) + (n_hidden > 0), width=7.0)
        colormap = plt.get_cmap(cmap) if isinstance(cmap, str) else cmap
        kw = {"s": 12, "linewidths": 0, "alpha": 0.85, **(scatter_kw or {})}
        self.collections_ = []
        any_colour = False
        for row, j in enumerate(shown):
            x = values[:, j]
            y = -row + _swarm_offsets(x)
            levels = None if data is None else _colour_levels(data[:, j])
            colours = np.tile([0.6, 0.6, 0.6, 1.0], (len(x), 1))
            if levels is not None:
                ok = np.isfinite(levels)
                colours[ok] = colormap(levels[ok])
                any_colour = any_colour or bool(ok.any())
            self.collections_.append(ax.scatter(x, y, c=colours, **kw))
        ticks = -np.arange(len(shown), dtype=np.float64)
        ax.set_yticks(ticks, [str(v) for v in names[shown]])
        ax.axvline(0.0, color="0.5", linewidth=0.8, zorder=0)
        for row in range(len(shown)):
            ax.axhline(-row, color="0.9", linewidth=0.6, zorder=0)
        bottom = ticks[-1] - 1 if len(ticks) else -1
        self.note_ = _more_note(ax, n_hidden, bottom)
        ax.set_ylim(bottom - 0.6 if n_hidden else bottom + 0.4, 0.6)
        ax.set_xlabel(self.value_label or "attribution")
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="y", length=0)
        self.colorbar_ = None
        if any_colour:
            mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colormap)
            bar = fig.colorbar(mappable, ax=ax, ticks=[0.0, 1.0], aspect=40, pad=0.02)
            bar.ax.set_yticklabels(["low", "high"])
            bar.ax.tick_params(labelsize="small", length=0)
            bar.set_label("feature value (low->high)")
            bar.outline.set_visible(False)
            self.colorbar_ = bar
        if self.title:
            ax.set_title(self.title)
        self.shown_ = shown
        self.figure_, self.ax_ = fig, ax
        return self

    @classmethod
    def from_explanation(
        cls,
        explanation,
        *,
        samples=None,
        target=0,
        ax=None,
        max_display=20,
        cmap="coolwarm",
        scatter_kw=None,
    ):
        """Plot every sample's attributions of a tabular explanation.

        Parameters
        ----------
        explanation : Explanation
            A tabular explanation: maps of shape ``(n_samples, n_targets,
            n_features)``; its samples colour the dots.
        samples : sequence of int, default=None
            Positions of the samples drawn; all of them when None.
        target : int, default=0
            Which of the explanation's targets (its position).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=20
            How many of the most important features to draw.
        cmap : str or Colormap, default="coolwarm"
            Colour map of the feature values, low to high.
        scatter_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : BeeswarmDisplay
            The plotted display.
        """
        check_matplotlib_support("BeeswarmDisplay")
        values, names, data, label = _check_tabular(
            explanation, target, "BeeswarmDisplay", samples
        )
        title = _target_title(label, getattr(explanation, "explainer", None))
        value_label = explanation_value_label(explanation)
        return cls(
            values, names, data=data, title=title or None, value_label=value_label
        ).plot(
            ax=ax, max_display=max_display, cmap=cmap, scatter_kw=scatter_kw
        )

    @classmethod
    def from_explainer(
        cls,
        explainer,
        X,
        y=None,
        *,
        target=0,
        ax=None,
        max_display=20,
        cmap="coolwarm",
        scatter_kw=None,
    ):
        """Explain ``X`` with a fitted explainer and plot the beeswarm.

        Parameters
        ----------
        explainer : fitted explainer
            A fitted explainer of a tabular model.
        X : array-like of shape (n_samples, n_features)
            Samples to explain.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.
        target : int, default=0
            Which of the explanation's targets (its position).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=20
            How many of the most important features to draw.
        cmap : str or Colormap, default="coolwarm"
            Colour map of the feature values, low to high.
        scatter_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : BeeswarmDisplay
            The plotted display.
        """
        check_matplotlib_support("BeeswarmDisplay")
        ensure_fitted_explainer(explainer, "BeeswarmDisplay.from_explainer")
        return cls.from_explanation(
            explainer.explain(X, y),
            target=target,
            ax=ax,
            max_display=max_display,
            cmap=cmap,
            scatter_kw=scatter_kw,
        )


# ------------------------------------------------------------------- waterfall
def _base_value(explanation, sample, target):
    """The explanation's base value for one sample and target, or None."""
    base = getattr(explanation, "base_values", None)
    if base is None:
        return None
    base = np.asarray(base, dtype=np.float64)
    n = len(explanation)
    if base.ndim == 0:
        return float(base)
    if base.ndim == 1:
        return float(base[sample] if len(base) == n and n > 1 else base[target])
    return float(base[sample, target])


class WaterfallDisplay:
    """One sample's attributions, adding up from the base value.

    Bars go from the base value (the mean output on the background data, when
    the explanation has ``base_values``; 0 otherwise), one feature after the
    other, to the base value plus every attribution: the model's output
    ``f(x)`` for attributions that sum to it (Shapley values). The features
    with the largest absolute attribution are drawn at the top, each labelled
    ``name = value``; the rest are summed into one bar.

    It is recommended to create a display with :meth:`from_explanation` or
    :meth:`from_explainer`; all parameters are stored as attributes.

    Parameters
    ----------
    values : ndarray of shape (n_features,)
        The sample's attribution of each feature.
    feature_names : array-like of str of shape (n_features,)
        Names of the features.
    data : array-like of shape (n_features,), default=None
        The sample's feature values, shown beside the names.
    base_value : float, default=None
        Where the bars start; None starts at 0 (the end is then the sum of the
        attributions, not an output of the model).
    title : str, default=None
        Title of the axes.
    value_label : str, default=None
        What the attributions are, with their unit (e.g. ``"logit
        difference"``), on the attribution axis; ``"attribution"`` when None.
        :meth:`from_explanation` names it from the explainer.

    Attributes
    ----------
    bars_ : matplotlib BarContainer
        The bars, bottom to top.
    end_ : float
        ``base_value + values.sum()``.
    ax_ : matplotlib Axes
        The axes.
    figure_ : matplotlib Figure
        The figure.

    See Also
    --------
    BeeswarmDisplay : Every sample at once.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import WaterfallDisplay
    >>> disp = WaterfallDisplay(np.array([0.3, -0.1]), ["a", "b"],
    ...                         base_value=0.5).plot()
    >>> round(disp.end_, 3)
    0.7
    """

    def __init__(self, values, feature_names, *, data=None, base_value=None,
                 title=None, value_label=None):
        self.values = values
        self.feature_names = feature_names
        self.data = data
        self.base_value = base_value
        self.title = title
        self.value_label = value_label

    def plot(self, *, ax=None, max_display=10, bar_kw=None):
        """Draw the bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=10
            How many bars to draw; beyond it the smallest attributions are
            summed into the last one.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : WaterfallDisplay
            The display, with ``figure_``, ``ax_``, ``bars_`` and ``end_``.
        """
        plt = check_matplotlib_support("WaterfallDisplay")
        _check_max_display(max_display, "WaterfallDisplay")
        values = np.asarray(self.values, dtype=np.float64)
        names = np.asarray(self.feature_names, dtype=object)
        if values.ndim != 1 or len(values) != len(names):
            raise ValueError(
                "WaterfallDisplay needs one value per feature name: got values of "
                f"shape {values.shape} and {len(names)} names."
            )
        data = None if self.data is None else np.asarray(self.data, dtype=object)
        if data is not None and data.shape != values.shape:
            raise ValueError(
                "The 'data' of WaterfallDisplay must have one value per feature "
                f"({len(values)}); got shape {data.shape}."
            )
        labels = [
            str(name) if data is None or data[j] is None
            else f"{name} = {_format_value(data[j])}"
            for j, name in enumerate(names)
        ]
        order = np.argsort(-np.abs(values), kind="stable")
        if len(order) > max_display:
            shown, rest = order[: max_display - 1], order[max_display - 1 :]
            widths = np.r_[values[shown], values[rest].sum()]
            word = "feature" if len(rest) == 1 else "features"
            row_labels = [labels[j] for j in shown] + [f"{len(rest)} other {word}"]
        else:
            widths = values[order]
            row_labels = [labels[j] for j in order]
        base = 0.0 if self.base_value is None else float(self.base_value)
        # Bottom row first: the bars add up from the base upwards.
        widths, row_labels = widths[::-1], row_labels[::-1]
        lefts = base + np.r_[0.0, np.cumsum(widths)[:-1]]
        self.end_ = base + float(values.sum())
        fig, ax = _rows_figure(plt, ax, len(widths) + 1)
        y = np.arange(len(widths), dtype=np.float64)
        colours = np.where(widths >= 0, _POSITIVE, _NEGATIVE)
        kw = {"height": 0.7, "color": colours, **(bar_kw or {})}
        self.bars_ = ax.barh(y, widths, left=lefts, **kw)
        ax.bar_label(
            self.bars_,
            labels=[f"{w:+.3g}" for w in widths],
            padding=3,
            fontsize="small",
        )
        ax.set_yticks(y, row_labels)
        start_name = "base value" if self.base_value is not None else "start"
        end_name = "f(x)" if self.base_value is not None else "sum of attributions"
        ax.axvline(base, color="0.4", linestyle=":", linewidth=1,
                   label=f"{start_name} = {base:.4g}")
        ax.axvline(self.end_, color="0.2", linestyle="--", linewidth=1,
                   label=f"{end_name} = {self.end_:.4g}")
        ends = np.r_[lefts, lefts + widths, base, self.end_]
        lo, hi = float(ends.min()), float(ends.max())
        pad = 0.15 * (hi - lo) if hi > lo else 1.0
        ax.set_xlim(lo - pad, hi + pad)
        # A free row on top holds the legend of the two lines.
        ax.set_ylim(-0.6, len(widths) + 0.8)
        ax.set_xlabel(f"{self.value_label or 'attribution'} (cumulative)")
        ax.legend(loc="upper center", ncol=2, fontsize="small", frameon=False,
                  borderaxespad=0.2)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if self.title:
            ax.set_title(self.title)
        self.figure_, self.ax_ = fig, ax
        return self

    @classmethod
    def from_explanation(
        cls, explanation, *, sample=0, target=0, ax=None, max_display=10, bar_kw=None
    ):
        """Plot one sample's attributions of a tabular explanation.

        Parameters
        ----------
        explanation : Explanation
            A tabular explanation; its ``base_values`` (when present) give the
            start of the bars.
        sample : int, default=0
            Position of the sample in the explanation.
        target : int, default=0
            Which of the explanation's targets (its position).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=10
            How many bars to draw.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : WaterfallDisplay
            The plotted display.
        """
        check_matplotlib_support("WaterfallDisplay")
        values, names, data, _ = _check_tabular(
            explanation, target, "WaterfallDisplay"
        )
        n = len(values)
        if not isinstance(sample, (int, np.integer)) or not -n <= sample < n:
            raise ValueError(
                "The 'sample' parameter of WaterfallDisplay must be the position of "
                f"an explained sample, an int in [0, {n}). Got {sample!r}."
            )
        sample = int(sample) % n
        index = getattr(explanation, "index", None)
        name = index[sample] if index is not None else sample
        label = None
        if getattr(explanation, "targets", None) is not None:
            label = np.asarray(explanation.targets)[sample, target]
        title = f"sample {name}"
        if label is not None:
            title += f", class {label}"
        return cls(
            values[sample],
            names,
            data=None if data is None else data[sample],
            base_value=_base_value(explanation, sample, target),
            title=title,
            value_label=explanation_value_label(explanation),
        ).plot(ax=ax, max_display=max_display, bar_kw=bar_kw)

    @classmethod
    def from_explainer(
        cls, explainer, X, y=None, *, sample=0, target=0, ax=None, max_display=10,
        bar_kw=None,
    ):
        """Explain one row of ``X`` with a fitted explainer and plot its waterfall.

        Parameters
        ----------
        explainer : fitted explainer
            A fitted explainer of a tabular model.
        X : array-like of shape (n_samples, n_features)
            Samples; only row ``sample`` is explained.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.
        sample : int, default=0
            Position of the sample in ``X``.
        target : int, default=0
            Which of the explanation's targets (its position).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        max_display : int, default=10
            How many bars to draw.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.barh`.

        Returns
        -------
        display : WaterfallDisplay
            The plotted display.
        """
        check_matplotlib_support("WaterfallDisplay")
        ensure_fitted_explainer(explainer, "WaterfallDisplay.from_explainer")
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if not isinstance(sample, (int, np.integer)) or not -n <= sample < n:
            raise ValueError(
                "The 'sample' parameter of WaterfallDisplay must index a row of X, "
                f"an int in [0, {n}). Got {sample!r}."
            )
        rows = slice(int(sample) % n, int(sample) % n + 1)
        X_one = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
        y_one = None
        if y is not None:
            y_one = y.iloc[rows] if hasattr(y, "iloc") else np.asarray(y)[rows]
        return cls.from_explanation(
            explainer.explain(X_one, y_one),
            sample=0,
            target=target,
            ax=ax,
            max_display=max_display,
            bar_kw=bar_kw,
        )
