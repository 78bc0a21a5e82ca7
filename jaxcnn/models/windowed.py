"""The shared base of Neyshabur's S-/D- networks: windowed layers -> hidden FC -> head.

A network of the family is fixed by two choices, both class attributes of a subclass
of :class:`NeyshaburNet` (see :mod:`jaxcnn.models.neyshabur`):

* its :class:`Plan` -- :data:`SHALLOW` (one stride-2 layer, FC(24a)) or :data:`DEEP`
  (eight layers, FC(64a));
* its :class:`WindowedLayers` -- :data:`CONV`, :data:`LOCAL` or :data:`DENSE`: which
  module computes each windowed layer, and which BatchNorm semantics it allows.

Every layer but the head is followed by BatchNorm then ReLU; no pooling.

BatchNorm semantics (the ``norm`` option) -- a detail that matters for embedding:

* after a conv layer BN normalises **per channel** over (batch, positions);
* after a locally connected layer it also normalises **per channel** by default
  (``norm="channel"``), so an S-LOCAL differs from an S-CONV only in weight sharing;
  ``norm="unit"`` normalises every (position, channel) unit;
* after a dense layer (S-FC, D-FC, and the hidden FC layers of all models) BN
  normalises **per unit** (``norm="unit"``, the default of the *-FC models).
  ``norm="channel"`` instead views the flat features as ``(positions, channels)``
  (C-order, as :func:`jaxcnn.conv_to_dense` lays them out) and normalises per
  channel, exactly like the conv layer the dense layer came from;
  :func:`jaxcnn.models.embed` builds that, so the embedded network has identical
  outputs in both modes (d'Ascoli et al.'s eCNN).

Example:
    >>> [spec[1:] for spec in DEEP.specs(3, 2, alpha=1)][:3]
    [(1, (1, 1)), (2, (2, 2)), (2, (1, 1))]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn import validation
from jaxcnn.models.base import Classifier, batch_norm, check_in_shape
from jaxcnn.nn import Conv, LocallyConnected

__all__ = ["CONV", "DEEP", "DENSE", "LOCAL", "NORMS", "SHALLOW", "NeyshaburNet", "Plan",
           "WindowedLayers"]

NORMS = ("channel", "unit")


class Plan(NamedTuple):
    """A family's layer plan, in units of the channel multiplier ``alpha``."""

    stages: tuple[tuple[int, int], ...]  # (channels / alpha, stride) per windowed layer
    hidden_per_alpha: int                # width of the hidden FC layer / alpha
    default_kernel_size: int

    def specs(self, kernel_size, n: int, alpha: int):
        """``[(kernel_size, channels, strides), ...]`` for ``n`` spatial dims."""
        ks = validation.as_tuple(kernel_size, n, name="kernel_size")
        return [(ks, m * alpha, (s,) * n) for m, s in self.stages]


SHALLOW = Plan(stages=((1, 2),), hidden_per_alpha=24, default_kernel_size=9)
DEEP = Plan(stages=((1, 1), (2, 2), (2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2)),
            hidden_per_alpha=64, default_kernel_size=3)


def conv_layer(in_shape, out_shape, kernel_size, strides, padding, **common) -> Conv:
    """A shared-weight windowed layer ``in_shape -> out_shape`` (shapes ``(*spatial, C)``)."""
    return Conv(in_shape[-1], out_shape[-1], kernel_size, strides=strides, padding=padding,
                **common)


def local_layer(in_shape, out_shape, kernel_size, strides, padding,
                **common) -> LocallyConnected:
    """An unshared (locally connected) windowed layer ``in_shape -> out_shape``."""
    return LocallyConnected(in_shape[-1], out_shape[-1], kernel_size, in_spatial=in_shape[:-1],
                            strides=strides, padding=padding, **common)


def dense_layer(in_shape, out_shape, kernel_size, strides, padding, **common) -> nnx.Linear:
    """A dense map ``prod(in_shape) -> prod(out_shape)`` sized like the windowed layer."""
    del kernel_size, strides, padding  # the geometry only fixes out_shape
    return nnx.Linear(math.prod(in_shape), math.prod(out_shape), **common)


class WindowedLayers(NamedTuple):
    """How a network computes its windowed layers."""

    build: Callable[..., nnx.Module]  # (in_shape, out_shape, kernel_size, strides, padding, **kw)
    flat_input: bool                  # True: the layers take the flattened input
    norms: tuple[str, ...]            # the allowed ``norm`` values; the first is the default


CONV = WindowedLayers(conv_layer, flat_input=False, norms=("channel",))
LOCAL = WindowedLayers(local_layer, flat_input=False, norms=("channel", "unit"))
DENSE = WindowedLayers(dense_layer, flat_input=True, norms=("unit", "channel"))


class NeyshaburNet(Classifier):
    """Windowed layers (conv / local / their dense maps) -> one hidden FC layer -> head.

    Subclasses set ``plan`` (a :class:`Plan`) and ``windowed`` (a
    :class:`WindowedLayers`): the six networks of :mod:`jaxcnn.models.neyshabur`
    (:class:`jaxcnn.models.SConv` etc.), each documenting its architecture. The
    constructor's arguments, the same for all six, are documented once, on
    ``NeyshaburNet.__init__``. Static description after construction:
    ``specs = ((kernel_size, channels, strides), ...)`` and ``layer_shapes[i] =
    (in_shape_i, out_shape_i)`` with shapes ``(*spatial, C)``.

    Parameters: ``features/i`` (the windowed layers), ``feature_norms/i``,
    ``hidden/0``, ``hidden_norms/0`` and ``head``.
    """

    plan: Plan
    windowed: WindowedLayers

    def __init__(self, in_shape, num_classes: int, *, alpha: int, kernel_size=None,
                 norm: str | None = None, padding="SAME", momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        """Builds the network of the subclass's ``plan`` and ``windowed`` layers.

        Args:
          in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``,
            ``(40, 1)``); odd sizes are allowed.
          num_classes: ``c``, the number of logits.
          alpha: channel multiplier ``a`` (the paper uses ``a = 150`` at ``s = 32``).
          kernel_size: window of the windowed layers, an int (same in every dim) or one
            int per dim; ``None``: the plan's, 9 for the S- and 3 for the D- networks.
            The dense layers of S-FC and D-FC are sized like the conv layers of that
            window: it fixes their output sizes only.
          norm: BatchNorm after the windowed layers, one of ``windowed.norms``
            (``None``: the first): ``"channel"`` normalises per channel over batch and
            positions (after a dense layer: the flat features viewed as ``(positions,
            channels)`` in C order, as :func:`jaxcnn.models.embed` builds it),
            ``"unit"`` per (position, channel) unit. -CONV: ``"channel"`` only;
            -LOCAL: ``"channel"`` (the default, so it differs from -CONV only in weight
            sharing) or ``"unit"``; -FC: ``"unit"`` (the default) or ``"channel"``.
          padding: padding of the windowed layers (for S-FC and D-FC: of the conv
            layers they are sized like); default ``"SAME"``.
          momentum: BatchNorm running-average momentum.
          epsilon: BatchNorm epsilon.
          use_bias: biases in all linear maps (redundant before BN, but kept so that
            the models embed into each other exactly).
          dtype: computation dtype.
          param_dtype: parameter dtype.
          rngs: ``nnx.Rngs`` with a ``params`` stream.
        """
        n = len(check_in_shape(in_shape)) - 1
        alpha = validation.check_int(alpha, name="alpha", minimum=1)
        kernel_size = self.plan.default_kernel_size if kernel_size is None else kernel_size
        norm = self.windowed.norms[0] if norm is None else norm
        specs = self.plan.specs(kernel_size, n, alpha)
        self._configure(in_shape, num_classes, alpha, kernel_size, norm, padding)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.use_bias = bool(use_bias)
        self.dtype, self.param_dtype = dtype, param_dtype
        shape = self._build_windowed(specs, rngs)
        self._build_dense(shape, (self.plan.hidden_per_alpha * alpha,), rngs)

    def _configure(self, in_shape, num_classes, alpha, kernel_size, norm, padding) -> None:
        self.in_shape = check_in_shape(in_shape)
        self.num_classes = validation.check_int(num_classes, name="num_classes", minimum=1)
        self.alpha = validation.check_int(alpha, name="alpha", minimum=1)
        n = len(self.in_shape) - 1
        self.kernel_size = validation.as_tuple(kernel_size, n, name="kernel_size")
        validation.check_choice(norm, NORMS, name="norm")
        if norm not in self.windowed.norms:
            raise validation.error("norm", f"one of {self.windowed.norms} for "
                                   f"{type(self).__name__}", norm)
        self.norm = norm
        self.padding = validation.normalize_padding(padding, n)

    def _build_windowed(self, specs, rngs: nnx.Rngs) -> tuple[int, ...]:
        """Builds ``features`` and ``feature_norms``; returns the last output shape."""
        common = dict(use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype,
                      rngs=rngs)
        shapes, layers, norms = [], [], []
        shape = self.in_shape
        for ks, ch, st in specs:
            geom = validation.geometry(shape[:-1], ks, strides=st, padding=self.padding)
            out = (*geom.out_spatial, ch)
            layers.append(self.windowed.build(shape, out, ks, st, self.padding, **common))
            norms.append(batch_norm(ch if self.norm == "channel" else math.prod(out),
                                    self.momentum, self.epsilon, self.dtype, self.param_dtype,
                                    rngs))
            shapes.append((shape, out))
            shape = out
        self.specs = tuple((tuple(ks), int(ch), tuple(st)) for ks, ch, st in specs)
        self.layer_shapes = tuple(shapes)
        self.features = nnx.List(layers)
        self.feature_norms = nnx.List(norms)
        return shape

    def _build_dense(self, shape, hidden: Sequence[int], rngs: nnx.Rngs) -> None:
        """Builds ``hidden``, ``hidden_norms`` and ``head`` after the windowed layers."""
        kw = dict(use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype,
                  rngs=rngs)
        widths = (math.prod(shape), *hidden)
        self.hidden = nnx.List([nnx.Linear(a, b, **kw) for a, b in zip(widths[:-1], widths[1:])])
        self.hidden_norms = nnx.List([batch_norm(b, self.momentum, self.epsilon, self.dtype,
                                                 self.param_dtype, rngs) for b in widths[1:]])
        self.head = nnx.Linear(widths[-1], self.num_classes, **kw)

    def _normalize(self, bn, h, batch, channels):
        if self.norm == "channel":
            return bn(h.reshape(*batch, -1, channels)).reshape(h.shape)
        return bn(h.reshape(*batch, -1)).reshape(h.shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_shape) -> (*batch, num_classes)``."""
        batch = self._batch_shape(x)
        h = x.reshape(*batch, -1) if self.windowed.flat_input else x
        for layer, bn, (_, out) in zip(self.features, self.feature_norms, self.layer_shapes):
            h = jax.nn.relu(self._normalize(bn, layer(h), batch, out[-1]))
        h = h.reshape(*batch, -1)
        for layer, bn in zip(self.hidden, self.hidden_norms):
            h = jax.nn.relu(bn(layer(h)))
        return self.head(h)
