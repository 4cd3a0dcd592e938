"""SimilarityDisplay: each sample beside the references the model finds alike."""

import numpy as np
import pandas as pd

from ._base import (
    check_matplotlib_support,
    class_name,
    clear_ticks,
    ensure_fitted_explainer,
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

    Attributes
    ----------
    im_ : ndarray of matplotlib AxesImage of shape (n_samples, 1 + k)
        The drawn images.
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

    def plot(self, *, ax=None, image_cmap="gray", bar_kw=None):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            Axes to draw on, ``n_samples * n_columns`` of them. A new figure is
            created when None.
        image_cmap : str, default="gray"
            Colour map of grey images.
        bar_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.bar`.

        Returns
        -------
        display : SimilarityDisplay
            The display, with ``figure_``, ``ax_``, ``im_`` and ``bars_``.
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
        bars = []
        headings = self.ref_titles or [f"#{j + 1}" for j in range(k)]
        for i in range(n_rows):
            ims[i, 0] = axes[i, 0].imshow(to_image(self.images[i]), cmap=image_cmap)
            parts = []
            if self.labels is not None:
                parts.append(f"label {class_name(self.labels[i], names)}")
            if self.predictions is not None:
                parts.append(f"pred {class_name(self.predictions[i], names)}")
            axes[i, 0].set_title("sample\n" + "\n".join(parts), fontsize="small")
            for j in range(k):
                axis = axes[i, 1 + j]
                ims[i, 1 + j] = axis.imshow(
                    to_image(self.ref_images[i][j]), cmap=image_cmap
                )
                parts = [f"{headings[j]}: score {scores[i, j]:.3g}"]
                if self.ref_labels is not None:
                    parts.append(f"label {class_name(self.ref_labels[i][j], names)}")
                if self.ref_predictions is not None:
                    pred = class_name(self.ref_predictions[i][j], names)
                    parts.append(f"pred {pred}")
                axis.set_title("\n".join(parts), fontsize="x-small")
            for axis in axes[i, : 1 + k]:
                clear_ticks(axis)
            if has_bars:
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
                axis.set_title("mean score per\nreference class", fontsize="small")
                axis.tick_params(axis="y", labelsize="x-small")
                axis.yaxis.get_major_locator().set_params(nbins=4)
        self.figure_, self.ax_, self.im_, self.bars_ = fig, axes, ims, bars
        return self

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
    ):
        """Plot a similarity Explanation (from ``GradientSimilarity.explain``).

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
        disp = cls(**values, class_names=class_names).plot(ax=ax, bar_kw=bar_kw)
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
        )
        if samples is None:
            disp.left_out_ = left_out_note(disp.figure_, len(idx), n)
        return disp


def _values(explanation, samples, k, n_least=0):
    scores = np.asarray(explanation.scores)
    order = np.asarray(explanation.ordered_indices)
    idx = select_samples(samples, len(scores), caller="SimilarityDisplay")
    images = np.asarray(explanation.images)
    layout = getattr(explanation, "layout", None)
    if getattr(layout, "kind", None) == "image" and images.ndim == 2:
        # flat rows of images (image_shape given): the references fold alike
        images = layout.to_display(images)
    most = np.asarray(explanation.most_similar)
    k = int(min(k, scores.shape[1], most.shape[1]))
    ref_images = most[idx, :k].reshape(len(idx), k, *images.shape[1:])
    shown = order[idx, :k]
    shown_scores = scores[idx, :k]
    titles = [f"most similar {j + 1}" for j in range(k)]
    least = getattr(explanation, "least_similar", None)
    if n_least and least is not None:
        least = np.asarray(least)
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
        "n_left_out": len(scores) - len(idx) if samples is None else 0,
    }
