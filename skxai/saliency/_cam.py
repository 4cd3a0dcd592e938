"""Class activation maps: GradCAM and GuidedGradCAM."""

import functools
import threading
import warnings

import numpy as np

from ..base import RESPONSE_METHODS, BaseExplainer, ExplainerMixin
from ..exceptions import ZeroMapWarning
from ..utils._sklearn_compat import HasMethods, StrOptions
from ._backprop import _relu_layer_names
from ._gradient import _check_torch

INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")


class GradCAM(ExplainerMixin, BaseExplainer):
    """Grad-CAM: a layer's activations weighted by their mean gradient.

    Parameters
    ----------
    model : object
        The fitted model to explain, never refit nor copied: a
        ``torch.nn.Module`` or a skorch ``NeuralNet`` with a layer of spatial
        (4-D, ``(n, channels, height, width)``) output.
    layer : 'auto', str or torch.nn.Module, default='auto'
        The layer whose output is weighted. ``'auto'`` picks the last layer
        run once whose output still has a spatial extent larger than 1x1
        (``layer4`` of a ResNet, not its 1x1 ``avgpool``), preferring
        convolution, pooling and container modules to element-wise ones (a
        ReLU after the last convolution); ``layer_`` tells which. A string
        is a module name of ``model.named_modules()`` (grid-searchable); a
        module is looked up in the model.
    relu : bool, default=True
        Keep only the positive evidence (the ReLU of the map). False keeps the
        sign.
    interpolate : {'bilinear', 'nearest', 'nearest-exact', 'bicubic', \
            'area'}, default='bilinear'
        How the layer-sized map is upsampled to the input size
        (:func:`torch.nn.functional.interpolate`).
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images, the size maps are upsampled to. ``None``: N-D samples are
        images ``(height, width)`` or ``(channels, height, width)``; a 2-D ``X``
        is a table, seen as a one-row image (the layer's output must then be
        one row high).
    response_method : {'auto', 'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='auto'
        The model output explained. ``'auto'`` explains the pre-softmax scores (a
        final ``Softmax``/``LogSoftmax`` module is bypassed, a skorch net's
        ``predict_nonlinearity`` is not applied).
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
            default='predicted'
        Class explained: the predicted class, the true class (``y`` given to
        ``explain``), a class label, one label per sample, or every class.
    batch_size : int, default=1024
        Number of model inputs in memory at once.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    layer_ : str
        Name of the layer used, in ``model.named_modules()``.
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has feature
        names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map.

    See Also
    --------
    GuidedGradCAM : Grad-CAM times guided backpropagation, at input resolution.
    Saliency : The plain gradient.

    Notes
    -----
    With ``A`` the layer's activations (channels ``k``) and ``f`` the class
    score, the map is ``ReLU(sum_k alpha_k A_k)`` with
    ``alpha_k = mean_{i,j} df / dA_k[i, j]``, upsampled to the input's height
    and width and repeated over its channels. A :class:`ZeroMapWarning` says
    when a map is zero everywhere.

    References
    ----------
    .. [1] R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh and
       D. Batra, "Grad-CAM: Visual Explanations from Deep Networks via
       Gradient-based Localization", ICCV, 2017.

    Examples
    --------
    >>> import torch
    >>> from skxai import GradCAM
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    ...     torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 3),
    ... )
    >>> X = torch.rand(6, 1, 8, 8).numpy()
    >>> cam = GradCAM(net, relu=False).fit(X)
    >>> cam.layer_
    '2'
    >>> cam.explain(X).maps.shape
    (6, 1, 1, 8, 8)
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "layer": [str, HasMethods(["forward", "named_modules"])],
        "relu": ["boolean"],
        "interpolate": [StrOptions(set(INTERPOLATIONS))],
        "image_shape": [tuple, list, None],
        "response_method": [StrOptions(set(RESPONSE_METHODS))],
    }
    _gradient_based = True
    _parallel_prefer = "threads"
    _predicts_in_pass = True

    def __init__(
        self,
        model,
        *,
        layer="auto",
        relu=True,
        interpolate="bilinear",
        image_shape=None,
        response_method="auto",
        target="predicted",
        batch_size=1024,
        n_jobs=None,
        verbose=0,
    ):
        self.model = model
        self.layer = layer
        self.relu = relu
        self.interpolate = interpolate
        self.image_shape = image_shape
        self.response_method = response_method
        self.target = target
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y):
        _check_torch(self)
        self.layer_ = self._find_layer(X)

    def _find_layer(self, X):
        """Resolve ``layer`` by a probe forward recording each module's output."""
        import torch

        from ._autograd import as_tensor, explaining, torch_setup

        forward, module, device, dtype = torch_setup(self)
        named = list(module.named_modules())
        runs = []  # (name, module, output) in the order modules finish
        owner = threading.get_ident()  # not the forwards of other threads

        def record(m, inputs, out, name):
            if threading.get_ident() == owner:
                runs.append((name, m, out))

        handles = [
            m.register_forward_hook(functools.partial(record, name=name))
            for name, m in named
            if name
        ]
        try:
            with torch.no_grad(), explaining(module):
                forward(as_tensor(X[:1], dtype, device))
        finally:
            for handle in handles:
                handle.remove()
        spatial = [
            (name, m)
            for name, m, out in runs
            if isinstance(out, torch.Tensor) and out.ndim == 4
        ]
        candidates = list(dict.fromkeys(name for name, _ in spatial))
        cls = type(self).__name__
        if not candidates:
            raise ValueError(
                f"{cls} needs a layer with spatial output of shape (n, channels, "
                "height, width), and no module of this model returns one. Use "
                "Saliency, IntegratedGradients or GuidedBackprop for this model."
            )
        layer = self.layer
        if isinstance(layer, str) and layer == "auto":
            name = _auto_layer(torch, runs, cls)
        elif isinstance(layer, str):
            name = layer
            if name not in dict(named):
                raise ValueError(
                    f"The 'layer' parameter of {cls} must name a module of the "
                    f"model; got {name!r}. Layers with spatial output: "
                    f"{candidates}."
                )
        else:
            names = [n for n, m in named if m is layer]
            if not names:
                raise ValueError(
                    f"The 'layer' parameter of {cls} must be a module of the "
                    f"model; got a {type(layer).__name__} that is not one of its "
                    f"submodules. Layers with spatial output: {candidates}."
                )
            name = names[0]
        if name not in candidates:
            shapes = [
                tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
                for n, _, out in runs
                if n == name
            ]
            got = f"returns {shapes[0]}" if shapes else "is not run by the forward"
            raise ValueError(
                f"The 'layer' parameter of {cls} must be a layer with spatial "
                f"output (n, channels, height, width); {name!r} {got}. Layers with "
                f"spatial output: {candidates}."
            )
        n_calls = sum(n == name for n, _, _ in runs)
        if n_calls != 1:
            raise ValueError(
                f"The 'layer' parameter of {cls} must be a module run once per "
                f"forward pass; {name!r} runs {n_calls} times."
            )
        out = next(out for n, _, out in runs if n == name)
        if len(self.input_shape_) == 1 and self.layout_.kind != "image":
            if out.shape[2] != 1:
                raise ValueError(
                    f"{cls} upsamples the maps of layer {name!r} "
                    f"({out.shape[2]}x{out.shape[3]}) to the input's size, and X "
                    "is a table (2-D, no image shape). If X holds flat images, "
                    "give image_shape=(height, width) or (height, width, "
                    "channels)."
                )
        return name

    def _cam_maps(self, X, targets):
        """Upsampled class activation maps, shape (n, n_targets, height, width).

        ``targets`` may hold -1 for the predicted class; the result's ``_pred``
        and ``_targets`` give the predictions and the classes explained, found
        by the same forward pass.
        """
        import torch

        from ._autograd import (
            as_tensor,
            explaining,
            forward_callbacks,
            input_gradients,
            to_numpy,
            torch_setup,
        )

        forward, module, device, dtype = torch_setup(self)
        layer = dict(module.named_modules())[self.layer_]
        size = self._spatial_size()
        n, n_targets = targets.shape
        cams = np.empty((n, n_targets, *size), dtype=np.float64)
        pred = np.empty(n, dtype=np.intp)
        done = np.empty((n, n_targets), dtype=np.intp)
        capture = []

        def keep(m, inputs, output):
            capture.append(output)

        align = False if self.interpolate in ("bilinear", "bicubic") else None
        with explaining(module), forward_callbacks({layer: keep}):
            for start in range(0, n, self.batch_size):
                stop = min(start + self.batch_size, n)
                capture.clear()
                x = as_tensor(X[start:stop], dtype, device)
                t = torch.as_tensor(
                    targets[start:stop], dtype=torch.long, device=device
                )
                grads, p, t = input_gradients(
                    forward, x, t, capture=capture, with_predictions=True
                )
                pred[start:stop] = p.cpu().numpy()
                done[start:stop] = t.cpu().numpy()
                acts = capture[0].detach().unsqueeze(1)
                weights = grads.mean(dim=(3, 4), keepdim=True)
                cam = (weights * acts).sum(dim=2)
                if self.relu:
                    cam = cam.clamp(min=0)
                cam = torch.nn.functional.interpolate(
                    cam, size=size, mode=self.interpolate, align_corners=align
                )
                cams[start:stop] = to_numpy(cam)
        capture.clear()
        return {"maps": cams, "_pred": pred, "_targets": done}

    def _spatial_size(self):
        """(height, width) maps are upsampled to: the input's last two axes, the
        flat image's, or one row of features for a table."""
        if len(self.input_shape_) >= 2:
            return tuple(int(v) for v in self.input_shape_[-2:])
        if self.layout_.kind == "image":
            return int(self.layout_.height), int(self.layout_.width)
        return 1, int(self.n_features_in_)

    def _to_input_shape(self, cams):
        """Spread maps of shape (n, n_targets, H, W) over the input's shape."""
        n, n_targets = cams.shape[:2]
        shape = tuple(self.input_shape_)
        if len(shape) >= 2:
            lead = (1,) * (len(shape) - 2)
            out = cams.reshape(n, n_targets, *lead, *cams.shape[2:])
            return np.broadcast_to(out, (n, n_targets, *shape)).copy()
        if self.layout_.kind != "image":  # a table: one row of features
            return cams.reshape(n, n_targets, *shape)
        image = tuple(self.image_shape_)
        out = cams.reshape(n, n_targets, *cams.shape[2:], *((1,) * (len(image) - 2)))
        out = np.broadcast_to(out, (n, n_targets, *image))
        return out.reshape(n, n_targets, *shape).copy()

    def _explain_chunk(self, X, targets, seeds):
        result = self._cam_maps(X, targets)
        cams = result["maps"]
        zero = ~np.any(cams.reshape(len(cams), cams.shape[1], -1) != 0, axis=2)
        result["maps"] = self._to_input_shape(cams)
        result["_zero"] = zero.any(axis=1)
        return result

    def _explain_all(self, X, targets):
        result = super()._explain_all(X, targets)
        zero = result.pop("_zero")
        if zero.any():
            hint = (
                "set relu=False to see the negative evidence, or choose another layer"
                if self.relu
                else "choose another layer"
            )
            warnings.warn(
                f"{type(self).__name__} maps of {int(zero.sum())} of {len(zero)} "
                f"samples are zero everywhere at layer {self.layer_!r}: no "
                f"activation there raises the class score; {hint}.",
                ZeroMapWarning,
                stacklevel=3,
            )
        return result


def _auto_layer(torch, runs, cls):
    """The last layer run once whose output is (n, channels, h, w) with h * w > 1.

    ``runs`` lists ``(name, module, output)`` in the order modules finish, so a
    container (a ResNet's ``layer4``) comes after its children. Among those
    layers, convolution, pooling and container modules are preferred to
    element-wise leaves (a ReLU or BatchNorm after the last convolution).
    """
    counts = {}
    for name, _, _ in runs:
        counts[name] = counts.get(name, 0) + 1
    spatial = [
        (name, m)
        for name, m, out in runs
        if isinstance(out, torch.Tensor)
        and out.ndim == 4
        and out.shape[2] * out.shape[3] > 1
        and counts[name] == 1
    ]
    if not spatial:
        raise ValueError(
            f"{cls}(layer='auto') needs a layer run once per forward pass whose "
            "output (n, channels, height, width) is larger than 1x1, and this "
            "model has none on these inputs: its maps would be constant. Give "
            "'layer' explicitly, or use Saliency or GuidedBackprop."
        )
    preferred = (
        torch.nn.modules.conv._ConvNd,
        torch.nn.modules.pooling._MaxPoolNd,
        torch.nn.modules.pooling._AvgPoolNd,
        torch.nn.modules.pooling._AdaptiveAvgPoolNd,
        torch.nn.modules.pooling._AdaptiveMaxPoolNd,
        torch.nn.modules.pooling._LPPoolNd,
    )
    chosen = [n for n, m in spatial if isinstance(m, preferred) or any(m.children())]
    return chosen[-1] if chosen else spatial[-1][0]


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map.

    Parameters
    ----------
    model : object
        The fitted model to explain, never refit nor copied: a
        ``torch.nn.Module`` or a skorch ``NeuralNet`` with a layer of spatial
        output, rectified by ReLUs (modules, in place or not, or functional).
    layer : 'auto', str or torch.nn.Module, default='auto'
        The Grad-CAM layer (see :class:`GradCAM`).
    relu : bool, default=True
        Keep only the positive evidence of the Grad-CAM map.
    interpolate : {'bilinear', 'nearest', 'nearest-exact', 'bicubic', \
            'area'}, default='bilinear'
        How the Grad-CAM map is upsampled to the input size (Captum's
        ``GuidedGradCam`` uses ``'nearest'``).
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat inputs that
        are images (see :class:`GradCAM`).
    response_method : {'auto', 'decision_function', 'predict_proba', \
            'predict_log_proba'}, default='auto'
        The model output explained. ``'auto'`` explains the pre-softmax scores.
    target : {'predicted', 'true', 'all'}, int, str or array-like, \
            default='predicted'
        Class explained: the predicted class, the true class (``y`` given to
        ``explain``), a class label, one label per sample, or every class.
    batch_size : int, default=1024
        Number of model inputs in memory at once.
    n_jobs : int, default=None
        Number of jobs to run in parallel over the samples.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors. See :term:`Glossary <n_jobs>`
        for more details.
    verbose : int, default=0
        Controls the verbosity when explaining.

    Attributes
    ----------
    layer_ : str
        Name of the Grad-CAM layer, in ``model.named_modules()``.
    relu_layers_ : list of str
        Names of the ``nn.ReLU`` modules the forward runs; guided
        backpropagation acts at every relu call.
    adapter_ : ModelAdapter
        The model seen through :func:`skxai.models.check_model`.
    classes_ : ndarray of shape (n_classes,)
        Class labels of the model.
    response_method_ : str
        The model output explained.
    n_features_in_ : int
        Number of features per sample.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has feature
        names that are all strings.
    input_shape_ : tuple of int
        Shape of one sample as the model takes it.
    image_shape_ : tuple of int
        Shape of one map.

    See Also
    --------
    GradCAM : The class activation map alone.
    GuidedBackprop : The guided gradient alone.

    Notes
    -----
    The map is ``GuidedBackprop(x) * upsample(GradCAM(x))``, elementwise; both
    are computed for the same class in two passes (the Grad-CAM weights come
    from the plain gradient).

    References
    ----------
    .. [1] R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh and
       D. Batra, "Grad-CAM: Visual Explanations from Deep Networks via
       Gradient-based Localization", ICCV, 2017.

    Examples
    --------
    >>> import torch
    >>> from skxai import GuidedGradCAM
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    ...     torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 3),
    ... )
    >>> X = torch.rand(6, 1, 8, 8).numpy()
    >>> ggc = GuidedGradCAM(net, relu=False).fit(X)
    >>> ggc.layer_, ggc.relu_layers_
    ('2', ['1'])
    >>> ggc.transform(X).shape
    (6, 64)
    """

    def _fit(self, X, y):
        super()._fit(X, y)
        self.relu_layers_ = _relu_layer_names(self, X)

    def _explain_chunk(self, X, targets, seeds):
        from ._autograd import gradient_maps

        result = super()._explain_chunk(X, targets, seeds)
        guided = gradient_maps(self, X, result["_targets"], rule="guided")
        result["maps"] *= guided["maps"]
        return result
