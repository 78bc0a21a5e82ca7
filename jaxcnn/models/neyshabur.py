"""Neyshabur et al. 2020's S-CONV, S-LOCAL, S-FC, D-CONV, D-LOCAL and D-FC.

"Towards learning convolutions from scratch": every layer but the last is followed
by BatchNorm then ReLU; no pooling. The S- networks have one windowed layer, the D-
networks eight; the -CONV, -LOCAL and -FC variants have the same layer sizes and
differ only in how a windowed layer is computed (shared conv, unshared locally
connected, dense). All six share the constructor of
:class:`jaxcnn.models.windowed.NeyshaburNet`.

Example:
    >>> from flax import nnx
    >>> m = SConv((8, 8, 3), 10, alpha=2, rngs=nnx.Rngs(0))
    >>> m.layer_shapes[0]
    ((8, 8, 3), (4, 4, 2))
"""

from __future__ import annotations

import jax.numpy as jnp  # noqa: F401  (used by the docstring examples)
from flax import nnx  # noqa: F401  (used by the docstring examples)

from jaxcnn.models.windowed import CONV, DEEP, DENSE, LOCAL, SHALLOW, NeyshaburNet

__all__ = ["DConv", "DFC", "DLocal", "SConv", "SFC", "SLocal"]


class SConv(NeyshaburNet):
    """Neyshabur's S-CONV: one shared conv layer, then two FC layers.

    ``conv k x k (alpha channels, stride 2, SAME) -> FC(24 alpha) -> FC(c)``, with
    BatchNorm then ReLU after every layer but the last.

    Shapes:
      ``x: (*batch, *spatial, C) -> logits (*batch, c)``; the conv maps
      ``(*spatial, C) -> (*ceil(spatial / 2), alpha)``.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a`` (the paper uses ``a = 150`` at ``s = 32``).
      kernel_size: window of the conv, an int (same in every dim) or one int per dim;
        default 9. Odd input sizes are allowed.
      norm: BatchNorm after the conv; only ``"channel"`` (per channel over batch and
        positions), the default.
      padding: padding of the conv (default ``"SAME"``).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all linear maps (redundant before BN, but kept so that
        models embed into each other exactly).
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = SConv((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

    plan = SHALLOW
    windowed = CONV


class SLocal(NeyshaburNet):
    """Neyshabur's S-LOCAL: S-CONV with an unshared (locally connected) first layer.

    ``locally connected k x k (alpha channels, stride 2, SAME) -> FC(24 alpha) -> FC(c)``,
    with BatchNorm then ReLU after every layer but the last. Every output position owns
    its own ``k x k x C -> alpha`` filter.

    Shapes:
      ``x: (*batch, *spatial, C) -> logits (*batch, c)``; the first layer maps
      ``(*spatial, C) -> (*ceil(spatial / 2), alpha)``.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a``.
      kernel_size: window of the first layer, an int (same in every dim) or one int per
        dim; default 9.
      norm: BatchNorm after the first layer: ``"channel"`` (the default; per channel
        over batch and positions, as after a conv, so S-LOCAL differs from S-CONV only
        in weight sharing) or ``"unit"`` (per (position, channel) unit).
      padding: padding of the first layer (default ``"SAME"``).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all linear maps (kept so that an S-CONV embeds exactly).
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = SLocal((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

    plan = SHALLOW
    windowed = LOCAL


class SFC(NeyshaburNet):
    """Neyshabur's S-FC: S-CONV's layer sizes, every layer dense.

    ``flatten -> Linear(prod(in_shape) -> prod(ceil(spatial / 2)) * alpha) ->
    Linear(24 alpha) -> Linear(c)``, with BatchNorm then ReLU after every layer but
    the last.

    Shapes:
      ``x: (*batch, *spatial, C) -> logits (*batch, c)``; the first layer's kernel is
      ``(prod(in_shape), prod(ceil(spatial / 2)) * alpha)``.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a`` (the paper uses ``a = 150`` at ``s = 32``).
      kernel_size: window of the S-CONV layer this one is sized like (default 9); it
        fixes the output size only.
      norm: BatchNorm after the first layer: ``"unit"`` (the default; per unit) or
        ``"channel"`` (the flat features viewed as ``(positions, alpha)`` in C order
        and normalised per channel, as :func:`jaxcnn.models.embed` builds it).
      padding: padding of the S-CONV layer this one is sized like (default ``"SAME"``).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all linear maps (kept so that an S-CONV embeds exactly).
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = SFC((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

    plan = SHALLOW
    windowed = DENSE


class DConv(NeyshaburNet):
    """Neyshabur's D-CONV: eight shared conv layers, then two FC layers.

    ``k x k`` convs (SAME) with (channels, stride) ``(a,1), (2a,2), (2a,1), (4a,2),
    (4a,1), (8a,2), (8a,1), (16a,2) -> FC(64a) -> FC(c)``, with BatchNorm then ReLU
    after every layer but the last.

    Shapes:
      ``x: (*batch, *spatial, C) -> logits (*batch, c)``; the last conv outputs
      ``(*ceil(spatial / 16), 16 alpha)``.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a``.
      kernel_size: window of every conv, an int (same in every dim) or one int per dim;
        default 3.
      norm: BatchNorm after the convs; only ``"channel"`` (per channel over batch and
        positions), the default.
      padding: padding of the convs (default ``"SAME"``).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all linear maps (kept so that models embed exactly).
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = DConv((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

    plan = DEEP
    windowed = CONV


class DLocal(NeyshaburNet):
    """Neyshabur's D-LOCAL: D-CONV with unshared (locally connected) layers.

    ``k x k`` locally connected layers (SAME) with (channels, stride) ``(a,1), (2a,2),
    (2a,1), (4a,2), (4a,1), (8a,2), (8a,1), (16a,2) -> FC(64a) -> FC(c)``, with
    BatchNorm then ReLU after every layer but the last.

    Shapes:
      ``x: (*batch, *spatial, C) -> logits (*batch, c)``; the last windowed layer
      outputs ``(*ceil(spatial / 16), 16 alpha)``.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a``.
      kernel_size: window of every windowed layer, an int (same in every dim) or one
        int per dim; default 3.
      norm: BatchNorm after the windowed layers: ``"channel"`` (the default; per
        channel over batch and positions) or ``"unit"`` (per (position, channel) unit).
      padding: padding of the windowed layers (default ``"SAME"``).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all linear maps (kept so that a D-CONV embeds exactly).
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = DLocal((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

    plan = DEEP
    windowed = LOCAL


class DFC(NeyshaburNet):
    """Neyshabur's D-FC: D-CONV's layer sizes, every windowed layer dense.

    ``flatten ->`` eight dense maps sized like D-CONV's convs (outputs ``(a,1), (2a,2),
    (2a,1), (4a,2), (4a,1), (8a,2), (8a,1), (16a,2)`` as (channels, stride))
    ``-> FC(64a) -> FC(c)``, with BatchNorm then ReLU after every layer but the last.

    Shapes:
      ``x: (*batch, *spatial, C) -> logits (*batch, c)``; the last windowed layer has
      ``prod(ceil(spatial / 16)) * 16 alpha`` outputs.

    Args:
      in_shape: ``(*spatial, C)``, 1-3 spatial dims (e.g. ``(32, 32, 3)``, ``(40, 1)``).
      num_classes: ``c``, the number of logits.
      alpha: channel multiplier ``a``.
      kernel_size: window of the D-CONV layers these are sized like (default 3); it
        fixes the output sizes only.
      norm: BatchNorm after the windowed layers: ``"unit"`` (the default; per unit) or
        ``"channel"`` (per channel of the ``(positions, channels)`` view, as
        :func:`jaxcnn.models.embed` builds it).
      padding: padding of the D-CONV layers these are sized like (default ``"SAME"``).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all linear maps (kept so that a D-CONV embeds exactly).
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> m = DFC((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape
      (4, 10)
    """

    plan = DEEP
    windowed = DENSE
