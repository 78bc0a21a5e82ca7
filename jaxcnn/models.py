"""Models: Neyshabur's S-/D-CONV, -LOCAL, -FC and 3-FC; MNIST-1D baselines; a two-layer net.

Every model is a Flax NNX module with one interface (:class:`Classifier`):

* built as ``Model(in_shape, num_classes, *, <hyperparameters>, rngs=nnx.Rngs(0))``
  with ``in_shape = (*spatial, C)`` (1-D, 2-D or 3-D spatial);
* ``model(x)`` maps ``x: (*batch, *spatial, C)`` to logits ``(*batch, num_classes)``;
* ``model.train()`` / ``model.eval()`` switch every BatchNorm between batch
  statistics (updating the running averages, momentum 0.9) and the running
  averages. Models start in training mode, as ``nnx.BatchNorm`` does.

Neyshabur et al. 2020 ("Towards learning convolutions from scratch"): every layer
but the last is followed by BatchNorm then ReLU; no pooling. With ``a`` = ``alpha``:

* S-CONV: conv ``k x k`` (k = 9), ``a`` channels, stride 2, SAME -> FC(24a) -> FC(c)
* S-LOCAL: the same with an unshared (locally connected) first layer.
* S-FC: the same layer sizes as dense maps:
  ``prod(in_shape) -> prod(out_spatial) * a -> 24a -> c``.
* D-CONV: 3x3 convs with (channels, stride) (a,1),(2a,2),(2a,1),(4a,2),(4a,1),(8a,2),
  (8a,1),(16a,2), SAME -> FC(64a) -> FC(c); D-LOCAL / D-FC analogously.
* 3-FC: two equal hidden layers.

BatchNorm semantics (the ``norm`` option) -- a detail that matters for embedding:

* after a conv layer BN normalises **per channel** over (batch, positions);
* after a locally connected layer jaxcnn also normalises **per channel** by
  default (``norm="channel"``), so an S-LOCAL differs from an S-CONV only in
  weight sharing; ``norm="unit"`` normalises every (position, channel) unit;
* after a dense layer (S-FC, D-FC, 3-FC, the hidden FC layers of all models) BN
  normalises **per unit** (``norm="unit"``, the default of the *-FC models).
  ``norm="channel"`` instead views the flat features as ``(positions, channels)``
  (C-order, as :func:`jaxcnn.conv_to_dense` lays them out) and normalises per
  channel, exactly like the conv layer the dense layer came from.

:func:`embed` uses ``norm="channel"`` to map a CNN to the LCN / FC network with
identical outputs in both modes (d'Ascoli et al.'s eCNN). :func:`first_layer_dense`
returns any model's first layer as a dense matrix (for locality / IPR metrics),
:func:`count_params` counts parameters (also of abstract ``nnx.eval_shape`` models)
and :func:`paper_param_count` gives the closed-form counts.

Example:
  >>> from flax import nnx
  >>> model = SConv((32, 32, 3), 10, alpha=4, rngs=nnx.Rngs(0))
  >>> model(jnp.ones((2, 32, 32, 3))).shape
  (2, 10)
  >>> fc = embed(model, to="fc")  # identical logits, as a fully connected network
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn import validation
from jaxcnn.embed import conv_to_dense, conv_to_local, local_to_dense
from jaxcnn.nn import Conv, LocallyConnected
from jaxcnn.tree import count_params

__all__ = [
    "Classifier",
    "SConv", "SLocal", "SFC", "DConv", "DLocal", "DFC", "ThreeFC",
    "MNIST1DMLP", "MNIST1DCNN", "Logistic", "TwoLayerNet",
    "first_layer", "first_layer_dense", "first_layer_path", "kernel_paths", "embed", "count_params", "paper_param_count",
    "erf_activation", "torch_default_init",
]

_NORMS = ("channel", "unit")
_KINDS = ("conv", "local", "fc")


# ------------------------------------------------------------------- helpers


def _in_shape(in_shape) -> tuple[int, ...]:
    shape = validation.in_shape_tuple(in_shape)
    if len(shape) > 4:
        raise validation.error("in_shape", "(*spatial, C) with 1 to 3 spatial dims", in_shape)
    return shape


def _positive(value, name: str) -> int:
    if not validation.is_int(value) or int(value) < 1:
        raise validation.error(name, "a positive int", value)
    return int(value)


def _bn(num_features: int, momentum: float, epsilon: float, dtype, param_dtype, rngs):
    return nnx.BatchNorm(num_features, momentum=momentum, epsilon=epsilon, dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs)


def erf_activation(x: jax.Array) -> jax.Array:
    """``g(x) = erf(x / sqrt(2))``, Ingrosso & Goldt's activation (odd, saturating at +-1)."""
    return jax.scipy.special.erf(x / math.sqrt(2.0))


class Classifier(nnx.Module):
    """Common interface: ``(*batch, *in_shape) -> logits (*batch, num_classes)``.

    Attributes:
      in_shape: ``(*spatial, C)`` the model was built for.
      num_classes: number of outputs.
    """

    in_shape: tuple[int, ...]
    num_classes: int

    def _batch_shape(self, x: jax.Array) -> tuple[int, ...]:
        k = len(self.in_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != tuple(self.in_shape):
            raise validation.error("x", f"shape (*batch, {', '.join(map(str, self.in_shape))}) "
                               f"(in_shape={self.in_shape})", f"shape {tuple(x.shape)}")
        return tuple(x.shape[:x.ndim - k])


# --------------------------------------------------- S-/D- networks (Neyshabur)


class _WindowedNet(Classifier):
    """Windowed layers (conv / local / their dense maps) -> hidden FC layers -> head.

    Every layer but the head: BatchNorm then ReLU. Static description:
    ``specs = ((kernel_size, channels, stride), ...)``; ``layer_shapes[i] =
    (in_shape_i, out_shape_i)`` with shapes ``(*spatial, C)``.
    """

    kind: str = "conv"

    def __init__(self, in_shape, num_classes: int, *, alpha: int, kernel_size, specs,
                 hidden: Sequence[int], norm: str, padding="SAME", momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = _in_shape(in_shape)
        self.num_classes = _positive(num_classes, "num_classes")
        self.alpha = _positive(alpha, "alpha")
        n = len(self.in_shape) - 1
        self.kernel_size = validation.as_tuple(kernel_size, n, name="kernel_size")
        if norm not in _NORMS:
            raise validation.error("norm", f"one of {_NORMS}", norm)
        if self.kind == "conv" and norm != "channel":
            raise validation.error("norm", "'channel' for a convolutional model", norm)
        self.norm = norm
        self.padding = validation.normalize_padding(padding, n)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.use_bias = bool(use_bias)
        self.dtype, self.param_dtype = dtype, param_dtype

        shapes, layers, norms = [], [], []
        shape = self.in_shape
        for ks, ch, st in specs:
            geom = validation.geometry(shape[:-1], ks, strides=st, padding=self.padding)
            out = (*geom.out_spatial, ch)
            common = dict(use_bias=self.use_bias, dtype=dtype, param_dtype=param_dtype,
                          rngs=rngs)
            if self.kind == "conv":
                layer = Conv(shape[-1], ch, ks, strides=st, padding=self.padding, **common)
            elif self.kind == "local":
                layer = LocallyConnected(shape[-1], ch, ks, in_spatial=shape[:-1], strides=st,
                                         padding=self.padding, **common)
            else:
                layer = nnx.Linear(math.prod(shape), math.prod(out), **common)
            layers.append(layer)
            norms.append(_bn(ch if norm == "channel" else math.prod(out), self.momentum,
                             self.epsilon, dtype, param_dtype, rngs))
            shapes.append((shape, out))
            shape = out
        self.specs = tuple((tuple(ks), int(ch), tuple(st)) for ks, ch, st in specs)
        self.layer_shapes = tuple(shapes)
        self.features = nnx.List(layers)
        self.feature_norms = nnx.List(norms)
        widths = (math.prod(shape), *hidden)
        self.hidden = nnx.List([nnx.Linear(a, b, use_bias=self.use_bias, dtype=dtype,
                                           param_dtype=param_dtype, rngs=rngs)
                                for a, b in zip(widths[:-1], widths[1:])])
        self.hidden_norms = nnx.List([_bn(b, self.momentum, self.epsilon, dtype, param_dtype,
                                          rngs) for b in widths[1:]])
        self.head = nnx.Linear(widths[-1], self.num_classes, use_bias=self.use_bias,
                               dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def _normalize(self, bn, h, batch, channels):
        if self.norm == "channel":
            return bn(h.reshape(*batch, -1, channels)).reshape(h.shape)
        return bn(h.reshape(*batch, -1)).reshape(h.shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_shape) -> (*batch, num_classes)``."""
        batch = self._batch_shape(x)
        h = x.reshape(*batch, -1) if self.kind == "fc" else x
        for layer, bn, (_, out) in zip(self.features, self.feature_norms, self.layer_shapes):
            h = jax.nn.relu(self._normalize(bn, layer(h), batch, out[-1]))
        h = h.reshape(*batch, -1)
        for layer, bn in zip(self.hidden, self.hidden_norms):
            h = jax.nn.relu(bn(layer(h)))
        return self.head(h)


def _s_specs(kernel_size, n, alpha):
    return [(validation.as_tuple(kernel_size, n, name="kernel_size"), alpha, (2,) * n)]


_D_PLAN = ((1, 1), (2, 2), (2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2))


def _d_specs(kernel_size, n, alpha):
    ks = validation.as_tuple(kernel_size, n, name="kernel_size")
    return [(ks, m * alpha, (s,) * n) for m, s in _D_PLAN]


_S_DOC = """{title}

    ``{arch}``; BatchNorm then ReLU after every layer but the last.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a`` (the paper uses ``a = 150`` at ``s = 32``).
      kernel_size: window of the first layer, an int (same in every dim) or one
        int per dim; default 9. Output spatial size is ``ceil(s / 2)`` per dim
        (SAME, stride 2; odd sizes are allowed).{norm_doc}
      padding: padding of the windowed layer (``"SAME"``).
      momentum, epsilon: BatchNorm running-average momentum and epsilon.
      use_bias: biases in all linear maps (redundant before BN, but kept so that
        models embed into each other exactly).
      dtype, param_dtype: computation and parameter dtypes.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = {name}((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

_NORM_DOC = """
      norm: BatchNorm after the first layer: ``"channel"`` (per channel over batch and
        positions, as after a conv) or ``"unit"`` (per (position, channel) unit).
        Default {default}."""


class _NeyshaburNet(_WindowedNet):
    """Shared constructor of the S-* and D-* families (the family fixes the layer plan,
    the subclass's ``kind`` fixes conv / local / fc)."""

    _specs = staticmethod(_s_specs)  # layer plan: (kernel_size, n, alpha) -> specs
    _hidden_per_alpha = 24           # width of the hidden FC layer, in units of alpha
    _default_kernel = 9

    def __init__(self, in_shape, num_classes: int, *, alpha: int, kernel_size=None,
                 norm: str | None = None, padding="SAME", momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        n = len(_in_shape(in_shape)) - 1
        alpha = _positive(alpha, "alpha")
        kernel_size = self._default_kernel if kernel_size is None else kernel_size
        if norm is None:
            norm = "unit" if self.kind == "fc" else "channel"
        super().__init__(in_shape, num_classes, alpha=alpha, kernel_size=kernel_size,
                         specs=self._specs(kernel_size, n, alpha),
                         hidden=(self._hidden_per_alpha * alpha,), norm=norm,
                         padding=padding, momentum=momentum, epsilon=epsilon,
                         use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)


class _DNet(_NeyshaburNet):
    _specs = staticmethod(_d_specs)
    _hidden_per_alpha = 64
    _default_kernel = 3


class SConv(_NeyshaburNet):
    kind = "conv"


class SLocal(_NeyshaburNet):
    kind = "local"


class SFC(_NeyshaburNet):
    kind = "fc"


class DConv(_DNet):
    kind = "conv"


class DLocal(_DNet):
    kind = "local"


class DFC(_DNet):
    kind = "fc"


_S_ARCH = "conv k x k, alpha ch, stride 2, SAME -> FC(24 alpha) -> FC(c)"
_D_ARCH = ("3x3 convs (a,1),(2a,2),(2a,1),(4a,2),(4a,1),(8a,2),(8a,1),(16a,2), SAME "
           "-> FC(64a) -> FC(c)")
for _cls, _title, _arch, _default in (
        (SConv, "Neyshabur's S-CONV: one shared conv layer, then two FC layers.", _S_ARCH, None),
        (SLocal, "Neyshabur's S-LOCAL: S-CONV with an unshared (locally connected) first layer.",
         _S_ARCH.replace("conv", "locally connected"), '``"channel"``'),
        (SFC, "Neyshabur's S-FC: S-CONV's layer sizes, every layer dense.",
         "flatten -> Linear(prod(in_shape) -> prod(out_spatial) * alpha) -> Linear(24 alpha) "
         "-> Linear(c)", '``"unit"`` (``embed`` builds ``"channel"``)'),
        (DConv, "Neyshabur's D-CONV: eight shared conv layers, then two FC layers.", _D_ARCH,
         None),
        (DLocal, "Neyshabur's D-LOCAL: D-CONV with unshared (locally connected) layers.",
         _D_ARCH.replace("convs", "locally connected layers"), '``"channel"``'),
        (DFC, "Neyshabur's D-FC: D-CONV's layer sizes, every windowed layer dense.",
         _D_ARCH.replace("convs", "dense maps sized like convs"),
         '``"unit"`` (``embed`` builds ``"channel"``)')):
    _doc = _S_DOC.format(title=_title, arch=_arch, name=_cls.__name__,
                         norm_doc="" if _default is None else _NORM_DOC.format(default=_default))
    if _cls in (DConv, DLocal, DFC):
        _doc = _doc.replace("window of the first layer", "window of every windowed layer")
        _doc = _doc.replace("default 9. Output spatial size is ``ceil(s / 2)`` per dim\n"
                            "        (SAME, stride 2; odd sizes are allowed).",
                            "default 3. The output spatial size after the last windowed "
                            "layer\n        is ``ceil(s / 16)`` per dim.")
    _cls.__doc__ = _doc
del _cls, _title, _arch, _default, _doc


# ------------------------------------------------------------------- 3-FC, MLPs


class _MLP(Classifier):
    """flatten -> [Linear -> (BN) -> act] * len(hidden) -> Linear(num_classes)."""

    def __init__(self, in_shape, num_classes: int, *, hidden: Sequence[int], batch_norm: bool,
                 activation: Callable = jax.nn.relu, momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = _in_shape(in_shape)
        self.num_classes = _positive(num_classes, "num_classes")
        widths = (math.prod(self.in_shape), *(_positive(h, "hidden") for h in hidden))
        kw = dict(use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.hidden = nnx.List([nnx.Linear(a, b, **kw) for a, b in zip(widths[:-1], widths[1:])])
        self.hidden_norms = (nnx.List([_bn(b, momentum, epsilon, dtype, param_dtype, rngs)
                                       for b in widths[1:]]) if batch_norm else None)
        self.head = nnx.Linear(widths[-1], self.num_classes, **kw)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_shape) -> (*batch, num_classes)``."""
        h = x.reshape(*self._batch_shape(x), -1)
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if self.hidden_norms is not None:
                h = self.hidden_norms[i](h)
            h = self.activation(h)
        return self.head(h)


class ThreeFC(_MLP):
    """Neyshabur's 3-FC: ``flatten -> FC(width) -> FC(width) -> FC(c)``, BN + ReLU.

    The paper picks ``width`` to match another model's parameter count; see
    :meth:`width_for_params`.

    Args:
      in_shape: ``(*spatial, C)``.
      num_classes: ``c``.
      width: the two hidden widths.
      momentum, epsilon, use_bias, dtype, param_dtype, rngs: as in :class:`SConv`.

    Example:
      >>> m = ThreeFC((8, 8, 3), 10, width=32, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 8, 8, 3))).shape
      (4, 10)
    """

    def __init__(self, in_shape, num_classes: int, *, width: int, momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.width = _positive(width, "width")
        super().__init__(in_shape, num_classes, hidden=(self.width, self.width),
                         batch_norm=True, momentum=momentum, epsilon=epsilon,
                         use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    @staticmethod
    def width_for_params(num_params: int, in_shape, num_classes: int) -> int:
        """Width ``w`` whose weight count ``D w + w^2 + w c`` is closest to ``num_params``.

        ``D = prod(in_shape)``; biases and BN parameters are ignored (as in the paper).
        """
        d, c = math.prod(_in_shape(in_shape)), _positive(num_classes, "num_classes")
        b = d + c
        w = (-b + math.sqrt(b * b + 4 * num_params)) / 2
        return max(1, min((math.floor(w), math.ceil(w)),
                          key=lambda v: abs(v * b + v * v - num_params)))


class MNIST1DMLP(_MLP):
    """MNIST-1D MLP baseline: ``40 -> 100 -> 100 -> 10``, ReLU, no BN (15,210 parameters).

    Args:
      in_shape: ``(40, 1)`` for MNIST-1D (``jaxcnn.data.mnist1d`` adds the channel axis).
      num_classes: 10.
      hidden: hidden widths.
      rngs: ``nnx.Rngs``.

    Example:
      >>> MNIST1DMLP(rngs=nnx.Rngs(0))(jnp.ones((5, 40, 1))).shape
      (5, 10)
    """

    def __init__(self, in_shape=(40, 1), num_classes: int = 10, *,
                 hidden: Sequence[int] = (100, 100), dtype=None, param_dtype=jnp.float32,
                 rngs: nnx.Rngs):
        super().__init__(in_shape, num_classes, hidden=tuple(hidden), batch_norm=False,
                         dtype=dtype, param_dtype=param_dtype, rngs=rngs)


class Logistic(_MLP):
    """Logistic-regression (linear) baseline: ``flatten -> Linear(num_classes)``.

    MNIST-1D: 410 parameters, about 32% test accuracy.

    Example:
      >>> Logistic((40, 1), 10, rngs=nnx.Rngs(0))(jnp.ones((5, 40, 1))).shape
      (5, 10)
    """

    def __init__(self, in_shape=(40, 1), num_classes: int = 10, *, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        super().__init__(in_shape, num_classes, hidden=(), batch_norm=False, dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs)


class MNIST1DCNN(Classifier):
    """MNIST-1D CNN baseline (Greydanus & Kobak), 5,210 parameters for ``(40, 1)`` input.

    ``Conv1d(1, 25, k5, s2, p1) -> Conv1d(25, 25, k3, s2, p1) -> Conv1d(25, 25, k3, s2, p1)
    -> flatten (5 x 25 = 125) -> Linear(125, 10)``, ReLU after every conv. Lengths:
    40 -> 19 -> 10 -> 5. The flatten is position-major (channels last), unlike
    PyTorch's channel-major ``view``; this permutes the Linear's rows only.

    Args:
      in_shape: ``(length, C)``; ``(40, 1)`` for MNIST-1D.
      num_classes: 10.
      channels: conv width (25).
      rngs: ``nnx.Rngs``.

    Example:
      >>> MNIST1DCNN(rngs=nnx.Rngs(0))(jnp.ones((5, 40, 1))).shape
      (5, 10)
    """

    def __init__(self, in_shape=(40, 1), num_classes: int = 10, *, channels: int = 25,
                 dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = _in_shape(in_shape)
        if len(self.in_shape) != 2:
            raise validation.error("in_shape", "(length, C) for a 1-D CNN", in_shape)
        self.num_classes = _positive(num_classes, "num_classes")
        ch = _positive(channels, "channels")
        plan = (((5,), self.in_shape[-1], ch), ((3,), ch, ch), ((3,), ch, ch))
        layers, spatial = [], self.in_shape[:-1]
        for ks, cin, cout in plan:
            layers.append(Conv(cin, cout, ks, strides=2, padding=((1, 1),), dtype=dtype,
                               param_dtype=param_dtype, rngs=rngs))
            spatial = layers[-1].out_spatial(spatial)
        self.convs = nnx.List(layers)
        self.flat_features = math.prod(spatial) * ch
        self.head = nnx.Linear(self.flat_features, self.num_classes, dtype=dtype,
                               param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, length, C) -> (*batch, num_classes)``."""
        batch = self._batch_shape(x)
        h = x
        for layer in self.convs:
            h = jax.nn.relu(layer(h))
        return self.head(h.reshape(*batch, -1))


# -------------------------------------------------------------- two-layer net


class FixedReadout(nnx.Variable):
    """A non-trainable second-layer weight (not an ``nnx.Param``: ``nnx.grad`` skips it)."""


class TwoLayerNet(Classifier):
    """Ingrosso & Goldt's two-layer network ``y = g(x W / sqrt(D) + b) v``.

    ``x`` is flattened to ``D = prod(in_shape)`` features, ``W: (D, K)`` has
    standard-normal entries, so the pre-activations ``x W / sqrt(D)`` are O(1)
    for unit-variance inputs (Ingrosso & Goldt's scaling), ``g(x) = erf(x / sqrt(2))``.
    Column ``W[:, k]`` is hidden unit ``k``'s receptive field: its IPR
    ``sum w^4 / (sum w^2)^2`` (``jaxcnn.metrics.ipr(model.W[...], axis=0)``)
    measures localisation (about ``3 / D`` at initialisation).

    The readout ``v: (K, out_features)``:

    * ``readout="learned"``: an ``nnx.Param``, initialised ``N(0, 1 / K)``;
    * ``readout="fixed"``: all entries ``1 / K`` (the committee machine's mean over
      hidden units), stored as :class:`FixedReadout`, so only ``W`` (and ``b``)
      learn -- the setting of the paper's analysis.

    Args:
      in_shape: ``(*spatial, C)``, e.g. ``(20, 20, 1)`` (D = 400) or ``(400, 1)``.
      hidden: ``K``, the number of hidden units.
      out_features: outputs (1 for the MSE task with labels +-1; or the classes).
      activation: ``g`` (default :func:`erf_activation`).
      readout: ``"learned"`` or ``"fixed"``.
      use_bias: hidden biases ``b: (K,)`` (default False).
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs``.

    Example:
      >>> net = TwoLayerNet((20, 20, 1), 8, rngs=nnx.Rngs(0))
      >>> net.W.shape, net(jnp.ones((3, 20, 20, 1))).shape
      ((400, 8), (3, 1))
    """

    def __init__(self, in_shape, hidden: int, *, out_features: int = 1,
                 activation: Callable = erf_activation, readout: str = "learned",
                 use_bias: bool = False, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = _in_shape(in_shape)
        self.hidden_units = _positive(hidden, "hidden")
        self.num_classes = _positive(out_features, "out_features")
        if readout not in ("learned", "fixed"):
            raise validation.error("readout", "'learned' or 'fixed'", readout)
        self.readout = readout
        d, k = math.prod(self.in_shape), self.hidden_units
        self.input_scale = 1.0 / math.sqrt(d)
        self.activation = activation
        self.W = nnx.Param(jax.random.normal(rngs.params(), (d, k), param_dtype))
        self.b = nnx.Param(jnp.zeros((k,), param_dtype)) if use_bias else None
        if readout == "learned":
            self.v = nnx.Param(jax.random.normal(rngs.params(), (k, self.num_classes),
                                                 param_dtype) / math.sqrt(k))
        else:
            self.v = FixedReadout(jnp.full((k, self.num_classes), 1.0 / k, param_dtype))

    def preactivations(self, x: jax.Array) -> jax.Array:
        """``x W / sqrt(D) + b``: ``(*batch, *in_shape) -> (*batch, K)``."""
        h = x.reshape(*self._batch_shape(x), -1) @ self.W[...] * self.input_scale
        return h if self.b is None else h + self.b[...]

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_shape) -> (*batch, out_features)``."""
        return self.activation(self.preactivations(x)) @ self.v[...]


# ------------------------------------------------------- first layer, params


def first_layer(model: nnx.Module) -> nnx.Module:
    """The module computing ``model``'s first affine map (before any BN or activation).

    A :class:`jaxcnn.nn.Conv`, :class:`jaxcnn.nn.LocallyConnected` or ``nnx.Linear``
    (which takes the flattened input). Not defined for :class:`TwoLayerNet` (use
    ``model.preactivations``).
    """
    if isinstance(model, _WindowedNet):
        return model.features[0]
    if isinstance(model, MNIST1DCNN):
        return model.convs[0]
    if isinstance(model, _MLP):
        return model.hidden[0] if len(model.hidden) else model.head
    raise validation.error("model", "a jaxcnn.models model with a windowed or dense first layer",
                       type(model).__name__)


def first_layer_path(model: nnx.Module) -> str:
    """Parameter-path prefix of :func:`first_layer` inside ``nnx.state(model)``.

    The documented name experiments use for per-layer settings (e.g. a separate ℓ1
    strength for the first layer, :func:`jaxcnn.optim.first_layer_label_fn`), instead
    of hard-coding attribute names: ``"features/0"`` for the Neyshabur nets,
    ``"convs/0"`` for :class:`MNIST1DCNN`, ``"hidden/0"`` (or ``"head"`` without hidden
    layers) for the MLPs, ``"W"`` for :class:`TwoLayerNet`.

    Example:
      >>> first_layer_path(ThreeFC((8, 8, 3), 10, width=4, rngs=nnx.Rngs(0)))
      'hidden/0'
    """
    if isinstance(model, TwoLayerNet):
        return "W"
    if isinstance(model, _WindowedNet):
        return "features/0"
    if isinstance(model, MNIST1DCNN):
        return "convs/0"
    if isinstance(model, _MLP):
        return "hidden/0" if len(model.hidden) else "head"
    raise validation.error("model", "a jaxcnn.models model with a windowed or dense first layer",
                           type(model).__name__)


def kernel_paths(model: nnx.Module) -> list[str]:
    """Paths of the model's weight matrices / kernels (``nnx.Param`` named ``kernel``,
    or ``W`` / ``v`` of :class:`TwoLayerNet`), in forward order: first layer first.

    Example:
      >>> kernel_paths(ThreeFC((8, 8, 3), 10, width=4, rngs=nnx.Rngs(0)))
      ['hidden/0/kernel', 'hidden/1/kernel', 'head/kernel']
    """
    from jaxcnn.tree import keypath_str

    names = [keypath_str(path) for path, _ in
             jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]]
    if isinstance(model, TwoLayerNet):
        return [n for n in ("W", "v") if n in names]
    groups = {"features": 0, "convs": 0, "hidden": 1, "head": 2}

    def order(name):
        parts = name.split("/")
        idx = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
        return groups.get(parts[0], 3), idx, name

    return sorted((n for n in names if n.rsplit("/", 1)[-1] == "kernel"), key=order)


def first_layer_dense(model: nnx.Module) -> tuple[jax.Array, tuple[int, ...]]:
    """A model's first layer as a dense matrix, for locality / IPR metrics.

    Conv layers go through :func:`jaxcnn.conv_to_dense`, locally connected ones
    through :func:`jaxcnn.local_to_dense`, dense layers are returned as they are.
    The bias is not included. For :class:`TwoLayerNet` the matrix is the effective
    ``W / sqrt(D)`` (so that ``x_flat @ W_dense`` are the pre-activations).

    Args:
      model: any model of this module.

    Returns:
      ``(W, in_shape)``: ``W: (prod(in_shape), out_features)`` with
      ``x.reshape(*b, -1) @ W + bias == first_layer(model)(x).reshape(*b, -1)``, and the
      model's ``in_shape = (*spatial, C)`` (reshape a column to ``in_shape`` to see
      a unit's receptive field).

    Raises:
      ValueError: for an unsupported model.

    Example:
      >>> W, in_shape = first_layer_dense(SConv((8, 8, 3), 10, alpha=2, rngs=nnx.Rngs(0)))
      >>> W.shape, in_shape
      ((192, 32), (8, 8, 3))
    """
    if isinstance(model, TwoLayerNet):
        return model.W[...] * model.input_scale, model.in_shape
    layer = first_layer(model)
    in_shape = model.in_shape
    if isinstance(layer, Conv):
        W = conv_to_dense(layer.kernel[...], in_shape, strides=layer.strides,
                          padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    elif isinstance(layer, LocallyConnected):
        W = local_to_dense(layer.kernel[...], in_shape, strides=layer.strides,
                           padding=layer.padding, dilation=layer.dilation)
    else:
        W = layer.kernel[...]
    return W, in_shape


def torch_default_init(model: nnx.Module, *, key: jax.Array) -> nnx.Module:
    """Re-initialises every layer's kernel and bias as PyTorch's defaults do, in place.

    PyTorch's ``nn.Linear`` / ``nn.Conv1d`` draw weights and biases from
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_(a=sqrt(5))``), where
    ``fan_in`` is ``in_features`` (times the kernel size for convs). Published MNIST-1D
    baselines are trained from that initialisation; Flax's default (LeCun normal
    kernels, zero biases) differs. Every ``nnx.Param`` named ``kernel`` (shape
    ``(..., fan_in_dims..., out)``: fan-in = product of all but the last dim) and the
    ``bias`` of the same layer are redrawn; other variables are left alone.

    Args:
        model: any model whose layers hold ``kernel`` (and ``bias``) parameters.
        key: PRNG key (one fold per layer, in parameter-path order).

    Returns:
        ``model`` (modified in place).

    Example:
        >>> m = torch_default_init(MNIST1DCNN(rngs=nnx.Rngs(0)), key=jax.random.key(0))
        >>> float(jnp.abs(m.head.kernel[...]).max()) <= 1 / math.sqrt(125)
        True
    """
    for i, (path, layer) in enumerate(sorted(
            ((p, m) for p, m in nnx.iter_graph(model)
             if isinstance(m, nnx.Module) and isinstance(getattr(m, "kernel", None), nnx.Param)),
            key=lambda pm: str(pm[0]))):
        kernel = layer.kernel
        bound = 1.0 / math.sqrt(math.prod(kernel.shape[:-1]))
        kk, kb = jax.random.split(jax.random.fold_in(key, i))
        kernel[...] = jax.random.uniform(kk, kernel.shape, kernel[...].dtype, -bound, bound)
        bias = getattr(layer, "bias", None)
        if isinstance(bias, nnx.Param):
            bias[...] = jax.random.uniform(kb, bias.shape, bias[...].dtype, -bound, bound)
    return model


def paper_param_count(name: str, *, s: int, alpha: int, c: int, in_channels: int = 3,
                      kernel_size: int | None = None, width: int | None = None) -> int:
    """Closed-form weight counts (biases and BN parameters excluded) for ``s x s`` inputs.

    With ``C = in_channels``, ``k = kernel_size`` (9 for S-*, 3 for D-*), ``a = alpha``:

    * ``"s-conv"``:  ``k²Ca + (s/2)²a·24a + 24ac = 6s²a² + (k²C + 24c)a``
      (``= 6s²a² + (243 + 24c)a`` for ``k = 9, C = 3``, the paper's formula);
    * ``"s-local"``: ``6s²a² + ((s/2)²k²C + 24c)a`` (each of the ``(s/2)²`` positions owns
      a ``k²C x a`` map; ``= 6s²a² + (243s²/4 + 24c)a``);
    * ``"s-fc"``:    ``6s²a² + (Cs²·s²/4 + 24c)a`` (``= 6s²a² + (3s⁴/4 + 24c)a``);
    * ``"d-conv"``:  ``k²(C + 254a)a + 4s²a² + 64ac``: conv weights
      ``k²·a·(C + 2a + 4a + 8a + 16a + 32a + 64a + 128a)``, then
      ``(s/16)²·16a·64a = 4s²a²`` and ``64ac``; ``= (2286 + 4s²)a² + (27 + 64c)a``
      for ``k = 3, C = 3``;
    * ``"d-local"``: conv weights times output positions
      ``s²k²Ca + s²k²a²(2/4 + 4/4 + 8/16 + 16/16 + 32/64 + 64/64 + 128/256)``
      ``= s²k²Ca + 5k²s²a²`` plus ``4s²a² + 64ac``;
      ``= 49s²a² + (27s² + 64c)a`` for ``k = 3, C = 3``;
    * ``"d-fc"``:    dense maps between the layer sizes ``Cs², s²a, s²a/2, s²a/2, s²a/4,
      s²a/4, s²a/8, s²a/8, s²a/16``: ``Cs⁴a + (127/128)s⁴a² + 4s²a² + 64ac``;
    * ``"3-fc"``:    ``Cs²w + w² + wc`` (needs ``width=w``).

    Args:
      name: one of the above (case-insensitive; ``_`` works for ``-``).
      s: image side (even for S-*, a multiple of 16 for D-*).
      alpha: channel multiplier.
      c: number of classes.
      in_channels: ``C``.
      kernel_size: ``k``; default 9 (S-*) or 3 (D-*).
      width: hidden width for ``"3-fc"``.

    Returns:
      The count as an int.

    Example:
      >>> paper_param_count("s-fc", s=32, alpha=150, c=10)  # ~ 256M, the paper's choice
      256240800
    """
    key = str(name).lower().replace("_", "-")
    names = ("s-conv", "s-local", "s-fc", "d-conv", "d-local", "d-fc", "3-fc")
    if key not in names:
        raise validation.error("name", f"one of {names}", name)
    s, a, c = _positive(s, "s"), _positive(alpha, "alpha"), _positive(c, "c")
    C = _positive(in_channels, "in_channels")
    if key == "3-fc":
        if width is None:
            raise validation.error("width", "an int for '3-fc'", width)
        w = _positive(width, "width")
        return C * s * s * w + w * w + w * c
    k = _positive(kernel_size if kernel_size is not None else (9 if key[0] == "s" else 3),
                  "kernel_size")
    if key[0] == "s":
        if s % 2:
            raise validation.error("s", "an even image side (the stride-2 layer halves it)", s)
        fc = (s // 2) ** 2 * a * 24 * a + 24 * a * c
        first = {"s-conv": k * k * C * a, "s-local": (s // 2) ** 2 * k * k * C * a,
                 "s-fc": C * s * s * (s // 2) ** 2 * a}[key]
        return first + fc
    if s % 16:
        raise validation.error("s", "a multiple of 16 (four stride-2 layers)", s)
    tail = (s // 16) ** 2 * 16 * a * 64 * a + 64 * a * c
    chans = [C] + [m * a for m, _ in _D_PLAN]
    if key == "d-conv":
        return sum(k * k * ci * co for ci, co in zip(chans[:-1], chans[1:])) + tail
    side, sizes, total = s, [C * s * s], 0
    for (m, st), ci, co in zip(_D_PLAN, chans[:-1], chans[1:]):
        side //= st
        if key == "d-local":
            total += side * side * k * k * ci * co
        sizes.append(side * side * co)
    if key == "d-fc":
        total = sum(x * y for x, y in zip(sizes[:-1], sizes[1:]))
    return total + tail


# ------------------------------------------------------------------- embed

_EMBED_TARGETS = {
    SConv: {"fc": SFC, "local": SLocal},
    SLocal: {"fc": SFC},
    DConv: {"fc": DFC, "local": DLocal},
    DLocal: {"fc": DFC},
}


def embed(model: nnx.Module, to: str = "fc") -> nnx.Module:
    """The equivalent LCN or FC network of a CNN (or FC of an LCN), with identical outputs.

    d'Ascoli et al.'s eCNN: every windowed layer is replaced by its exact embedding
    (:func:`jaxcnn.conv_to_dense`, :func:`jaxcnn.conv_to_local`,
    :func:`jaxcnn.local_to_dense`), biases are broadcast over positions, and the
    BatchNorms keep their semantics: the target is built with ``norm`` equal to the
    source's (``"channel"`` for a CNN), so a dense layer's BN still normalises per
    channel over (batch, positions). BN scale/bias *and* running statistics, the
    hidden FC layers and the head are copied, and each BN's train/eval mode is kept.
    So ``embed(m, to)(x) == m(x)`` in both modes, and a train-mode call updates the
    running statistics of both identically. The two models are independent
    afterwards (training one never changes the other).

    The target is first built abstractly (``nnx.eval_shape``), so no random
    initialisation of the (possibly huge) dense weights takes place.

    Args:
      model: an :class:`SConv`, :class:`SLocal`, :class:`DConv` or :class:`DLocal`.
      to: ``"fc"`` (S-FC / D-FC) or ``"local"`` (S-LOCAL / D-LOCAL; CNNs only).

    Returns:
      A new model of the target class with ``norm=`` the source's normalisation.

    Raises:
      ValueError: for an unknown ``to`` or an unsupported (model, to) pair.

    Example:
      >>> cnn = SConv((8, 8, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> fc = embed(cnn, to="fc")
      >>> x = jnp.ones((4, 8, 8, 3))
      >>> bool(jnp.allclose(fc(x), cnn(x), atol=1e-5))
      True
    """
    if to not in ("fc", "local"):
        raise validation.error("to", "'fc' or 'local'", to)
    targets = _EMBED_TARGETS.get(type(model))
    if targets is None or to not in targets:
        supported = ", ".join(f"{s.__name__} -> {sorted(t)}" for s, t in _EMBED_TARGETS.items())
        raise validation.error("model", f"a model with an embedding to {to!r} ({supported})",
                           type(model).__name__)
    cls = targets[to]

    def build():
        return cls(model.in_shape, model.num_classes, alpha=model.alpha,
                   kernel_size=model.kernel_size, norm=model.norm, padding=model.padding,
                   momentum=model.momentum, epsilon=model.epsilon, use_bias=model.use_bias,
                   dtype=model.dtype, param_dtype=model.param_dtype, rngs=nnx.Rngs(0))

    new = nnx.eval_shape(build)
    for src, dst, (in_shape, out) in zip(model.features, new.features, model.layer_shapes):
        geo = dict(strides=src.strides, padding=src.padding, dilation=src.dilation)
        k = src.kernel[...]
        b = None if src.bias is None else src.bias[...]
        if isinstance(src, Conv) and to == "local":
            dst.kernel.set_value(conv_to_local(k, in_shape, groups=src.groups, **geo))
            b = None if b is None else jnp.broadcast_to(b, out)
        elif isinstance(src, Conv):
            dst.kernel.set_value(conv_to_dense(k, in_shape, groups=src.groups, **geo))
            b = None if b is None else jnp.broadcast_to(b, out).reshape(-1)
        else:  # LocallyConnected -> dense
            dst.kernel.set_value(local_to_dense(k, in_shape, **geo))
            b = None if b is None else b.reshape(-1)
        if b is not None:
            dst.bias.set_value(b)
    for name in ("feature_norms", "hidden", "hidden_norms", "head"):
        nnx.update(getattr(new, name), nnx.state(getattr(model, name)))
    for src, dst in zip([*model.feature_norms, *model.hidden_norms],
                        [*new.feature_norms, *new.hidden_norms]):
        dst.use_running_average = src.use_running_average
    leftover = [p for p, v in nnx.to_flat_state(nnx.state(new))
                if isinstance(v.get_value(), jax.ShapeDtypeStruct)]
    assert not leftover, f"embed: uninitialised variables {leftover}"  # internal invariant
    return new
