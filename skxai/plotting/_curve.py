"""CurveDisplay: deletion and insertion curves of saliency maps."""

import numpy as np

from ._base import check_matplotlib_support, ensure_fitted_explainer

# numpy < 2 (the oldest numpy skxai supports, 1.26) names it trapz.
_trapezoid = getattr(np, "trapezoid", None) or np.trapz

_KINDS = ("deletion", "insertion")


class CurveDisplay:
    """Deletion / insertion curves: the class probability as features go or come.

    Each curve is the probability of the explained class as the most salient
    pixels of an image, or features (or feature groups) of a table, are removed
    (deletion: a good map makes it fall fast) or inserted (insertion: a good map
    makes it rise fast), against the fraction of them changed (Petsiuk et al.,
    2018). The mean over samples is drawn with a band
    between the 25th and 75th percentiles; the legend gives the mean area under
    the curve.

    It is recommended to create a display with :meth:`from_explainer`,
    :meth:`from_explanation` or :meth:`from_frame`; all parameters are stored as
    attributes.

    Parameters
    ----------
    fractions : ndarray of shape (n_steps,)
        Fraction of pixels or features removed or inserted at each step, from 0
        to 1.
    curves : dict of {str: ndarray of shape (n_samples, n_steps)}
        The curves, by name (e.g. ``"occlusion deletion"``).
    aucs : dict of {str: float}, default=None
        Area under each curve; the trapezoid rule over the mean curve when None.
    unit : str, default=None
        What the curves remove and insert, named on the x axis: ``"pixels"``,
        ``"features"`` or ``"feature groups"``. The constructors read it from
        the explanation's layout; None says ``"features"``.

    Attributes
    ----------
    lines_ : dict of {str: matplotlib Line2D}
        The mean curves.
    bands_ : dict of {str: matplotlib PolyCollection}
        The percentile bands (empty when ``band=False`` or one sample).
    ax_ : matplotlib Axes
        The axes.
    figure_ : matplotlib Figure
        The figure.

    See Also
    --------
    SaliencyDisplay : The maps whose faithfulness these curves measure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skxai.plotting import CurveDisplay
    >>> x = np.linspace(0, 1, 5)
    >>> disp = CurveDisplay(x, {"deletion": np.array([1 - x, 1 - x ** 2])}).plot()
    >>> sorted(disp.lines_)
    ['deletion']
    """

    def __init__(self, fractions, curves, *, aucs=None, unit=None):
        self.fractions = fractions
        self.curves = curves
        self.aucs = aucs
        self.unit = unit

    def plot(self, *, ax=None, band=True, line_kw=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        band : bool, default=True
            Shade the band between the 25th and 75th percentiles of the samples.
        line_kw : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : CurveDisplay
            The display, with ``figure_``, ``ax_`` and ``lines_``.
        """
        plt = check_matplotlib_support("CurveDisplay")
        if ax is None:
            fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
        else:
            fig = ax.figure
        x = np.asarray(self.fractions, dtype=np.float64)
        self.lines_, self.bands_ = {}, {}
        # One colour per method, one line style per kind of curve.
        colours = {}
        for name, values in self.curves.items():
            values = np.atleast_2d(np.asarray(values, dtype=np.float64))
            if values.shape[1] != len(x):
                raise ValueError(
                    f"The curve {name!r} of CurveDisplay has {values.shape[1]} "
                    f"steps, but there are {len(x)} fractions."
                )
            mean = values.mean(axis=0)
            auc = None if self.aucs is None else self.aucs.get(name)
            if auc is None:
                auc = float(_trapezoid(mean, x))
            method, kind = _split_name(name)
            kw = {"linestyle": "--" if kind == "insertion" else "-"}
            if method in colours:
                kw["color"] = colours[method]
            kw.update(line_kw or {})
            (line,) = ax.plot(x, mean, label=f"{name} (AUC {auc:.3f})", **kw)
            colours.setdefault(method, line.get_color())
            self.lines_[name] = line
            if band and len(values) > 1:
                lo, hi = np.percentile(values, [25, 75], axis=0)
                self.bands_[name] = ax.fill_between(
                    x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0
                )
        unit = self.unit or "features"
        ax.set_xlabel(f"fraction of {unit} removed (deletion) / inserted (insertion)")
        ax.set_ylabel("probability of the explained class")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        # The legend sits right of the axes, never over the curves.
        ax.legend(
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            title="mean over samples (band: 25-75%)" if self.bands_ else None,
            title_fontsize="small",
        )
        self.figure_, self.ax_ = fig, ax
        return self

    @classmethod
    def from_frame(cls, frame, *, unit=None, ax=None, band=True, line_kw=None):
        """Plot curves given as a tidy DataFrame.

        Parameters
        ----------
        frame : pandas.DataFrame
            Columns ``curve`` (the name of each curve, or ``metric``, with an
            optional ``explainer`` column prefixed to it), ``sample``,
            ``fraction`` and ``value``, as :func:`skxai.metrics.evaluate` returns
            curves.
        unit : str, default=None
            What the curves remove and insert (``"pixels"``, ``"features"``,
            ``"feature groups"``), for the x axis; None says ``"features"``.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        band : bool, default=True
            Shade the 25th-75th percentile band.
        line_kw : dict, default=None
            Further keyword arguments of ``Axes.plot``.

        Returns
        -------
        display : CurveDisplay
            The plotted display.
        """
        check_matplotlib_support("CurveDisplay")
        frame = frame.copy()
        name_col = "curve" if "curve" in frame else "metric"
        names = frame[name_col].astype(str)
        if "explainer" in frame:
            names = frame["explainer"].astype(str) + " " + names
        frame["_name"] = names
        fractions = np.sort(frame["fraction"].unique())
        curves = {}
        for name, group in frame.groupby("_name", sort=False):
            table = group.pivot_table(
                index="sample", columns="fraction", values="value", aggfunc="mean"
            )
            curves[name] = table.reindex(columns=fractions).to_numpy()
        return cls(fractions, curves, unit=unit).plot(
            ax=ax, band=band, line_kw=line_kw
        )

    @classmethod
    def from_explainer(
        cls,
        explainer,
        X,
        y=None,
        *,
        kinds=_KINDS,
        n_steps=16,
        ax=None,
        band=True,
        line_kw=None,
        **kwargs,
    ):
        """Compute deletion / insertion curves of a fitted explainer and plot them.

        Parameters
        ----------
        explainer : explainer or dict of {str: explainer}
            A fitted saliency explainer, or several by name.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Samples to explain and perturb.
        y : array-like of shape (n_samples,), default=None
            True labels, used by ``target="true"``.
        kinds : sequence of {'deletion', 'insertion'}, default=('deletion', \
'insertion')
            Which curves to draw.
        n_steps : int, default=16
            Number of steps from none of the pixels (features) to all of them.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        band : bool, default=True
            Shade the 25th-75th percentile band.
        line_kw : dict, default=None
            Further keyword arguments of ``Axes.plot``.
        **kwargs : dict
            Passed to the metric (e.g. ``fill``).

        Returns
        -------
        display : CurveDisplay
            The plotted display.
        """
        check_matplotlib_support("CurveDisplay")
        explainers = explainer if isinstance(explainer, dict) else {"": explainer}
        for value in explainers.values():
            ensure_fitted_explainer(value, "CurveDisplay.from_explainer")
        explanations = {
            name: value.explain(X, y) for name, value in explainers.items()
        }
        models = dict(explainers)
        if not isinstance(explainer, dict):
            explanations, models = explanations[""], explainer
        return cls.from_explanation(
            explanations,
            models,
            X,
            kinds=kinds,
            n_steps=n_steps,
            ax=ax,
            band=band,
            line_kw=line_kw,
            **kwargs,
        )

    @classmethod
    def from_explanation(
        cls,
        explanation,
        model,
        X,
        *,
        kinds=_KINDS,
        n_steps=16,
        ax=None,
        band=True,
        line_kw=None,
        **kwargs,
    ):
        """Compute deletion / insertion curves of explanations and plot them.

        Parameters
        ----------
        explanation : Explanation or dict of {str: Explanation}
            Explanations of ``X`` (the first target's map of each sample is
            used), or several by name.
        model : explainer, model, or dict of {str: explainer or model}
            What to query for the class probabilities: a fitted explainer (its
            model) or a model; a dict with the keys of ``explanation``.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The explained samples, as the model takes them.
        kinds : sequence of {'deletion', 'insertion'}, default=('deletion', \
'insertion')
            Which curves to draw.
        n_steps : int, default=16
            Number of steps from none of the pixels (features) to all of them.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is created when None.
        band : bool, default=True
            Shade the 25th-75th percentile band.
        line_kw : dict, default=None
            Further keyword arguments of ``Axes.plot``.
        **kwargs : dict
            Passed to :func:`skxai.metrics.deletion_curve` and
            :func:`skxai.metrics.insertion_curve` (e.g. ``fill``).

        Returns
        -------
        display : CurveDisplay
            The plotted display.
        """
        check_matplotlib_support("CurveDisplay")
        for kind in kinds:
            if kind not in _KINDS:
                raise ValueError(
                    "The 'kinds' parameter of CurveDisplay must hold values of "
                    f"{_KINDS}. Got {kind!r}."
                )
        if isinstance(explanation, dict):
            explanations = explanation
            if not isinstance(model, dict):
                model = dict.fromkeys(explanations, model)
        else:
            explanations, model = {"": explanation}, {"": model}
        # A DataFrame goes to the metrics as it is (its column names checked).
        shape = tuple(np.shape(X))
        curves, aucs, units = {}, {}, []
        fractions = None
        for prefix, expl in explanations.items():
            units.append(
                _unit(model[prefix], expl, shape, kwargs.get("image_shape"))
            )
            maps = np.asarray(expl.maps)[:, 0].reshape(shape)
            targets = None
            if expl.targets is not None:
                targets = np.asarray(expl.targets)[:, 0]
            for kind in kinds:
                fractions, values = _curve(
                    model[prefix], X, maps, targets, kind, n_steps, kwargs
                )
                name = f"{prefix} {kind}".strip()
                curves[name] = values
                aucs[name] = float(_trapezoid(values, fractions, axis=1).mean())
        unit = units[0] if len(set(units)) == 1 else "features"
        return cls(fractions, curves, aucs=aucs, unit=unit).plot(
            ax=ax, band=band, line_kw=line_kw
        )


def _unit(model, explanation, shape, image_shape):
    """What the metrics remove on ``X`` of ``shape``: pixels, features or
    feature groups.

    The layout the metrics use: an image when ``image_shape`` is given, else the
    explainer's ``layout_`` or the explanation's ``layout``, else a 2-D ``X`` is
    a table (design rule 8).
    """
    if image_shape is not None:
        return "pixels"
    layout = getattr(model, "layout_", None) or getattr(explanation, "layout", None)
    if layout is None or tuple(layout.input_shape) != tuple(shape[1:]):
        return "features" if len(shape) == 2 else "pixels"
    if layout.kind != "tabular":
        return "pixels"
    return "features" if layout.groups is None else "feature groups"


def _split_name(name):
    """``(method, kind)`` of a curve named ``"<method> deletion"`` or alike."""
    for kind in _KINDS:
        if name == kind or name.endswith(f" {kind}"):
            return name[: -len(kind)].strip(), kind
    return name, None


def _curve(model, X, maps, targets, kind, n_steps, kwargs):
    """``(fractions, curves)`` of one kind, from :mod:`skxai.metrics`."""
    from .. import metrics

    func = getattr(metrics, f"{kind}_curve")
    fractions, values = func(model, X, maps, targets, n_steps=n_steps, **kwargs)
    return np.asarray(fractions), np.asarray(values)
