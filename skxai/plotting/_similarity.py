"""SimilarityDisplay: each sample beside the references the model finds alike."""

import numpy as np
import pandas as pd

from ._base import (
    check_matplotlib_support,
    class_name,
    clear_ticks,
    ensure_fitted_explainer,
    layout_images,
    left_out_note,
    make_axes,
    select_samples,
    take_rows,
    to_image,
)


class SimilarityDisplay:
    """Samples, their most similar reference examples, and scores per class.

    One row per sample: the sample (with its label and the model's prediction),
    its ``k`` most similar references (with their labels, predictions and
    similarity scores), optionally its least similar ones, and a bar chart of
    the mean similarity of the sample to the references of each class, as in
    alibi's gradient-similarity notebook.

    Images are drawn as images. Rows of a table (``feature_names`` given, as
    :meth:`from_explanation` does for a tabular layout) are drawn as a small
    table instead: a column for the sample and one per reference, with their
    labels, predictions and scores, and the values of the features in which
    the references differ most from the sample (in units of each feature's
    spread over the rows shown), named.

    It is recommended to create a display with :meth:`from_explainer` or
    :meth:`from_explanation`; all parameters are stored as attributes.

    Parameters
    ----------
    images : ndarray of shape (n_samples, *image_shape)
        The explained samples.
    ref_images : ndarray of shape (n_samples, k, *image_shape)
        The references shown for each sample, in the order drawn (the most
        similar first, then any least similar ones).
    scores : ndarray of shape (n_samples, k)
        Their similarity scores.
    ref_labels : ndarray of shape (n_samples, k), default=None
        Labels of the shown references.
    ref_predictions : ndarray of shape (n_samples, k), default=None
        The model's predictions on the shown references.
    labels : ndarray of shape (n_samples,), default=None
        Labels of the samples.
    predictions : ndarray of shape (n_samples,), default=None
        The model's predictions on the samples.
    class_scores : pandas.DataFrame of shape (n_samples, n_classes), default=None
        Mean score of each sample against the references of each class (columns
        are the reference classes); drawn as a bar chart. None leaves it out.
    class_names : dict or sequence of str, default=None
        Display names of the classes.
    ref_titles : list of str, default=None
        A heading for each shown reference column, e.g. ``"most similar 1"``;
        ``"#1", "#2", ...`` by default.
    feature_names : sequence of str, default=None
        Names of the features when the samples are rows of a table; they are
        then drawn as tables of feature values, not as images.

    Attributes
    ----------
    im_ : ndarray of matplotlib AxesImage of shape (n_samples, 1 + k) or None
        The drawn images (None for tables).
    tables_ : list of matplotlib Table or None
        The drawn tables, one per sample (None for images).
    features_ : list of ndarray of str or None
        The features each table shows, most different first (None for
        images).
    bars_ : list of matplotlib BarContainer
        The bar charts, one per sample (empty without ``class_scores``).
    ax_ : ndarray of matplotlib Axes of shape (n_samples, n_columns)
        The axes of the grid.
    figure_ : matplotlib Figure
        The figure holding the grid.

    See Also
    --------
    skxai.similarity.GradientSimilarity : The explainer these figures show.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import SimilarityDisplay
    >>> rng = np.random.default_rng(0)
    >>> disp = SimilarityDisplay(
    ...     rng.random((2, 8, 8)), rng.random((2, 3, 8, 8)), rng.random((2, 3))
    ... ).plot()
    >>> disp.ax_.shape
    (2, 4)
    """

    def __init__(
        self,
        images,
        ref_images,
        scores,
        *,
        ref_labels=None,
        ref_predictions=None,
        labels=None,
        predictions=None,
        class_scores=None,
        class_names=None,
        ref_titles=None,
        feature_names=None,
    ):
        self.images = images
        self.ref_images = ref_images
        self.scores = scores
        self.ref_labels = ref_labels
        self.ref_predictions = ref_predictions
        self.labels = labels
        self.predictions = predictions
        self.class_scores = class_scores
        self.class_names = class_names
        self.ref_titles = ref_titles
        self.feature_names = feature_names

    def plot(self, *, ax=None, image_cmap="gray", bar_kw=None, max_features=8):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on, ``n_samples * n_columns`` of them (``n_columns`` is
            ``1 + k`` images, or one table, plus one for the bars). A new figure
            is created when None.
        image_cmap : str, default="gray"
            Colour map of grey images.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.bar`.
        max_features : int, default=8
            Tables only: how many features each table shows, those in which the
            references differ most from the sample.

        Returns
        -------
        display : SimilarityDisplay
            The display, with ``figure_``, ``ax_``, ``im_`` (or ``tables_``) and
            ``bars_``.
        """
        plt = check_matplotlib_support("SimilarityDisplay")
        scores = np.asarray(self.scores, dtype=np.float64)
        n_rows, k = scores.shape
        has_bars = self.class_scores is not None
        names = self.class_names
        bar_labels = []
        if has_bars:
            bar_labels = [class_name(c, names) for c in self.class_scores.columns]
        # Class names longer than a digit or two are written upright under the
        # bars so that they never run together.
        rotate = any(len(label) > 2 for label in bar_labels)
        headings = self.ref_titles or [f"#{j + 1}" for j in range(k)]
        self.im_ = self.tables_ = self.features_ = None
        if self.feature_names is not None:
            longest = max((len(label) for label in bar_labels), default=0)
            fig, axes = self._plot_tables(
                plt, ax, scores, headings, has_bars, longest if rotate else 0,
                max_features,
            )
        else:
            fig, axes = self._plot_images(plt, ax, scores, headings, has_bars, rotate,
                                          image_cmap)
        bars = []
        for i in range(n_rows if has_bars else 0):
            axis = axes[i, -1]
            row = self.class_scores.iloc[i]
            positions = np.arange(len(row))
            bars.append(
                axis.bar(positions, row.to_numpy(dtype=float), **(bar_kw or {}))
            )
            axis.set_xticks(positions)
            axis.set_xticklabels(
                bar_labels, rotation=90 if rotate else 0, fontsize="x-small"
            )
            # pad: room for the axis' offset text (x 1e-7) under the title
            axis.set_title("mean score per\nreference class", fontsize="small",
                           pad=12)
            axis.tick_params(axis="y", labelsize="x-small")
            axis.yaxis.get_major_locator().set_params(nbins=4)
        self.figure_, self.ax_, self.bars_ = fig, axes, bars
        return self

    def _titles(self, i, scores, headings):
        """``(sample_lines, [reference_lines, ...])``: label, prediction, score."""
        names = self.class_names
        sample = []
        if self.labels is not None:
            sample.append(f"label {class_name(self.labels[i], names)}")
        if self.predictions is not None:
            sample.append(f"pred {class_name(self.predictions[i], names)}")
        refs = []
        for j in range(scores.shape[1]):
            parts = [f"{headings[j]}: score {scores[i, j]:.3g}"]
            if self.ref_labels is not None:
                parts.append(f"label {class_name(self.ref_labels[i][j], names)}")
            if self.ref_predictions is not None:
                parts.append(f"pred {class_name(self.ref_predictions[i][j], names)}")
            refs.append(parts)
        return sample, refs

    def _plot_images(self, plt, ax, scores, headings, has_bars, rotate, image_cmap):
        n_rows, k = scores.shape
        n_cols = 1 + k + (1 if has_bars else 0)
        fig, axes = make_axes(
            plt,
            ax,
            n_rows,
            n_cols,
            left=0.15,
            right=0.2,
            top=0.75,
            bottom=0.75 if rotate else 0.4,
            wspace=0.35 if has_bars else 0.08,
            hspace=1.0 if rotate else 0.7,
            caller="SimilarityDisplay",
        )
        ims = np.empty((n_rows, 1 + k), dtype=object)
        for i in range(n_rows):
            sample, refs = self._titles(i, scores, headings)
            ims[i, 0] = axes[i, 0].imshow(to_image(self.images[i]), cmap=image_cmap)
            axes[i, 0].set_title("sample\n" + "\n".join(sample), fontsize="small")
            for j in range(k):
                axis = axes[i, 1 + j]
                ims[i, 1 + j] = axis.imshow(
                    to_image(self.ref_images[i][j]), cmap=image_cmap
                )
                axis.set_title("\n".join(refs[j]), fontsize="x-small")
            for axis in axes[i, : 1 + k]:
                clear_ticks(axis)
        self.im_ = ims
        return fig, axes

    def _plot_tables(self, plt, ax, scores, headings, has_bars, label_len,
                     max_features):
        """One table per sample: the sample and its references, with their
        labels, predictions, scores and most different feature values.

        ``label_len``: characters of the longest bar label written upright (0
        when they are level), which the gap under each row makes room for.
        """
        n_rows, k = scores.shape
        names = np.asarray(self.feature_names, dtype=str)
        images = np.asarray(self.images).reshape(n_rows, -1)
        refs = np.asarray(self.ref_images).reshape(n_rows, k, -1)
        chosen = _most_different(images, refs, max_features)
        n_meta = 1 + (self.labels is not None or self.ref_labels is not None) + (
            self.predictions is not None or self.ref_predictions is not None
        )
        n_lines = 1 + n_meta + chosen.shape[1]  # the header too
        # Sizes in inches: a name column as wide as the longest name shown, a
        # column per sample and reference; rows of small type.
        name_w = 0.15 + 0.06 * max(len(n) for n in names[chosen].ravel())
        value_w = 0.75
        table_w = name_w + value_w * (1 + k)
        bar_w = 1.6
        row_h = max(0.19 * n_lines, 1.4 if has_bars else 0.0)
        left, right, top, gap = 0.15, 0.2, 0.75, 0.45
        under = 0.2 + 0.07 * label_len  # the bars' class labels
        bottom, vgap = under + 0.1, under + 0.6
        widths = [table_w] + ([bar_w] if has_bars else [])
        n_cols = len(widths)
        if ax is None:
            width = left + right + sum(widths) + gap * (n_cols - 1)
            height = top + bottom + row_h * n_rows + vgap * (n_rows - 1)
            fig, axes = plt.subplots(
                n_rows, n_cols, figsize=(width, height), squeeze=False,
                gridspec_kw={"width_ratios": widths},
            )
            fig.subplots_adjust(
                left=left / width, right=1 - right / width, top=1 - top / height,
                bottom=bottom / height, wspace=gap / np.mean(widths),
                hspace=vgap / row_h,
            )
        else:
            fig, axes = make_axes(plt, ax, n_rows, n_cols, caller="SimilarityDisplay")
        tables, shown = [], []
        for i in range(n_rows):
            sample, ref_titles = self._titles(i, scores, headings)
            rows = [["score", "", *(f"{scores[i, j]:.3g}" for j in range(k))]]
            for word in ("label", "pred"):
                cells = [_pick(sample, word)] + [_pick(t, word) for t in ref_titles]
                if any(cells):
                    rows.append([word, *cells])
            for f in chosen[i]:
                rows.append(
                    [names[f], _format(images[i, f]),
                     *(_format(refs[i, j, f]) for j in range(k))]
                )
            axis = axes[i, 0]
            clear_ticks(axis)
            axis.set_axis_off()
            table = axis.table(
                cellText=rows,
                colLabels=["", "sample", *(_short(h) for h in headings)],
                cellLoc="right",
                loc="center",
                bbox=[0, 0, 1, 1],
            )
            table.auto_set_font_size(False)
            table.set_fontsize(7)
            for (r, c), cell in table.get_celld().items():
                cell.set_width(name_w if c == 0 else value_w)
                cell.set_linewidth(0.3)
                if c == 0:
                    cell.set_text_props(ha="left")
                    cell.PAD = 0.02
                if r == 0 or r <= len(rows) - len(chosen[i]):
                    cell.set_facecolor("0.93")
            axis.set_title(
                "sample and its most similar references: features that differ most",
                fontsize="small",
            )
            tables.append(table)
            shown.append(names[chosen[i]])
        self.tables_, self.features_ = tables, shown
        return fig, axes

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_explanation(
        cls,
        explanation,
        *,
        samples=None,
        k=5,
        n_least=0,
        class_names=None,
        ax=None,
        bars=True,
        bar_kw=None,
        max_features=8,
    ):
        """Plot a similarity Explanation (from ``GradientSimilarity.explain``).

        Images are drawn as images; the rows of a table (the explanation's
        ``layout.kind == "tabular"``) as a table of named feature values.

        Parameters
        ----------
        explanation : Explanation
            From :meth:`GradientSimilarity.explain`: ``scores`` and
            ``ordered_indices`` (references from most to least similar),
            ``most_similar`` and ``least_similar`` (the reference rows),
            ``ref_labels`` and ``ref_predictions`` (of the whole reference set).
        samples : int or sequence of int, default=None
            Which samples to show; by default the first 4 (the figure says how
            many more there are).
        k : int, default=5
            How many of the most similar references to show per sample.
        n_least : int, default=0
            How many of the least similar references to show after them.
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        bars : bool, default=True
            Draw the bar chart of the mean score per reference class.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.bar`.
        max_features : int, default=8
            Tables only: how many features each table shows, those in which the
            references differ most from the sample.

        Returns
        -------
        display : SimilarityDisplay
            The plotted display.
        """
        check_matplotlib_support("SimilarityDisplay")
        values = _values(explanation, samples, k, n_least)
        if not bars:
            values["class_scores"] = None
        n_left_out = values.pop("n_left_out")
        disp = cls(**values, class_names=class_names).plot(
            ax=ax, bar_kw=bar_kw, max_features=max_features
        )
        n_shown = len(values["scores"])
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
        k=5,
        n_least=0,
        class_names=None,
        ax=None,
        bar_kw=None,
        max_features=8,
    ):
        """Explain samples with a fitted similarity explainer and plot them.

        Only the samples shown are explained.

        Parameters
        ----------
        explainer : GradientSimilarity
            A fitted similarity explainer.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples, as the model takes them.
        y : array-like of shape (n_samples,), default=None
            Labels of the samples (used for their gradients and shown).
        samples : int or sequence of int, default=None
            Which samples of ``X`` to show; by default the first 4 (the figure
            says how many more there are).
        k : int, default=5
            How many of the most similar references to show per sample.
        n_least : int, default=0
            How many of the least similar references to show after them.
        class_names : dict or sequence of str, default=None
            Display names of the classes.
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.bar`.
        max_features : int, default=8
            Tables only: how many features each table shows.

        Returns
        -------
        display : SimilarityDisplay
            The plotted display.
        """
        check_matplotlib_support("SimilarityDisplay")
        ensure_fitted_explainer(explainer, "SimilarityDisplay.from_explainer")
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        idx = select_samples(samples, n, caller="SimilarityDisplay")
        y_shown = None if y is None else np.asarray(y)[idx]
        explanation = explainer.explain(take_rows(X, idx), y_shown)
        disp = cls.from_explanation(
            explanation,
            samples=np.arange(len(idx)),
            k=k,
            n_least=n_least,
            class_names=class_names,
            ax=ax,
            bar_kw=bar_kw,
            max_features=max_features,
        )
        if samples is None:
            disp.left_out_ = left_out_note(disp.figure_, len(idx), n)
        return disp


def _most_different(images, refs, max_features):
    """Per sample, the features in which its references differ most from it.

    A numeric feature's difference is the mean ``|reference - sample|`` over the
    references, in units of the feature's standard deviation over every row
    shown (so that unscaled features compare); a non-numeric one's the share of
    references whose value differs. Returns indices of shape ``(n, m)``, the
    most different first.
    """
    n, k, d = refs.shape
    rows = np.concatenate([images[:, None], refs], axis=1)
    diff = np.empty((n, d))
    for f in range(d):
        try:
            values = rows[:, :, f].astype(np.float64)
        except (TypeError, ValueError):
            diff[:, f] = (rows[:, 1:, f] != rows[:, :1, f]).mean(axis=1)
            continue
        spread = float(np.nanstd(values))
        spread = spread if spread > 0 else 1.0
        diff[:, f] = np.abs(values[:, 1:] - values[:, :1]).mean(axis=1) / spread
    m = int(min(max(max_features, 1), d))
    return np.argsort(-diff, axis=1, kind="stable")[:, :m]


def _format(value):
    """A table cell: a number in 4 significant digits, else its text."""
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)[:12]


def _pick(lines, word):
    """The rest of the line of ``lines`` that starts with ``word``, or ''."""
    for line in lines:
        if line.startswith(f"{word} "):
            return line[len(word) + 1 :]
    return ""


def _short(heading):
    """A column heading of a table: ``"most similar 2"`` becomes ``"#2"``."""
    heading = str(heading)
    for prefix, short in (("most similar ", "#"), ("least similar ", "least #")):
        if heading.startswith(prefix):
            return short + heading[len(prefix) :]
    return heading


def _values(explanation, samples, k, n_least=0):
    scores = np.asarray(explanation.scores)
    order = np.asarray(explanation.ordered_indices)
    idx = select_samples(samples, len(scores), caller="SimilarityDisplay")
    images = np.asarray(explanation.images)
    layout = getattr(explanation, "layout", None)
    # images drawn as the layout says (channels-first or flat rows folded);
    # the references fold alike
    images = layout_images(layout, images)
    feature_names = None
    if getattr(layout, "kind", None) == "tabular":
        feature_names = list(layout.feature_names)  # drawn as tables
    most = layout_images(layout, np.asarray(explanation.most_similar))
    k = int(min(k, scores.shape[1], most.shape[1]))
    ref_images = most[idx, :k].reshape(len(idx), k, *images.shape[1:])
    shown = order[idx, :k]
    shown_scores = scores[idx, :k]
    titles = [f"most similar {j + 1}" for j in range(k)]
    least = getattr(explanation, "least_similar", None)
    if n_least and least is not None:
        least = layout_images(layout, np.asarray(least))
        n_least = int(min(n_least, least.shape[1], scores.shape[1]))
        ref_images = np.concatenate(
            [ref_images,
             least[idx, :n_least].reshape(len(idx), n_least, *images.shape[1:])],
            axis=1,
        )
        last = order.shape[1] - 1 - np.arange(n_least)
        shown = np.concatenate([shown, order[idx][:, last]], axis=1)
        shown_scores = np.concatenate([shown_scores, scores[idx][:, last]], axis=1)
        titles += [f"least similar {j + 1}" for j in range(n_least)]
    ref_labels = getattr(explanation, "ref_labels", None)
    ref_predictions = getattr(explanation, "ref_predictions", None)
    class_scores = None
    if ref_labels is not None:
        ref_labels = np.asarray(ref_labels)
        frame = pd.DataFrame(
            {
                "sample": np.repeat(np.arange(len(idx)), order.shape[1]),
                "ref_label": ref_labels[order[idx]].reshape(-1),
                "score": scores[idx].reshape(-1),
            }
        )
        class_scores = frame.pivot_table(
            index="sample", columns="ref_label", values="score", aggfunc="mean"
        )
    labels = getattr(explanation, "labels", None)
    predictions = getattr(explanation, "predictions", None)
    return {
        "images": images[idx],
        "ref_images": ref_images,
        "scores": shown_scores,
        "ref_labels": None if ref_labels is None else ref_labels[shown],
        "ref_predictions": None
        if ref_predictions is None
        else np.asarray(ref_predictions)[shown],
        "labels": None if labels is None else np.asarray(labels)[idx],
        "predictions": None if predictions is None else np.asarray(predictions)[idx],
        "class_scores": class_scores,
        "ref_titles": titles,
        "feature_names": feature_names,
        "n_left_out": len(scores) - len(idx) if samples is None else 0,
    }
