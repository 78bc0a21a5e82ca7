"""Neyshabur et al. 2020's S-CONV, S-LOCAL, S-FC, D-CONV, D-LOCAL and D-FC.

"Towards learning convolutions from scratch": every layer but the last is followed
by BatchNorm then ReLU; no pooling. The S- networks have one windowed layer, the D-
networks eight; the -CONV, -LOCAL and -FC variants have the same layer sizes and
differ only in how a windowed layer is computed (shared conv, unshared locally
connected, dense). All six share the constructor (and its documented arguments) of
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
    BatchNorm then ReLU after every layer but the last. The conv maps
    ``(*spatial, C) -> (*ceil(spatial / 2), alpha)`` with one ``k x k x C -> alpha``
    kernel for every position.

    Args: those of :class:`jaxcnn.models.windowed.NeyshaburNet` (its ``__init__``);
    here ``kernel_size`` defaults to 9 and ``norm`` is ``"channel"`` only.

    Example:
      >>> m = SConv((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 16, 16, 3))).shape, m.features[0].kernel.shape
      ((4, 10), (9, 9, 3, 2))
    """

    plan = SHALLOW
    windowed = CONV


class SLocal(NeyshaburNet):
    """Neyshabur's S-LOCAL: S-CONV with an unshared (locally connected) first layer.

    ``locally connected k x k (alpha channels, stride 2, SAME) -> FC(24 alpha) -> FC(c)``,
    with BatchNorm then ReLU after every layer but the last. The first layer maps
    ``(*spatial, C) -> (*ceil(spatial / 2), alpha)``; every output position owns its
    own ``k x k x C -> alpha`` filter.

    Args: those of :class:`jaxcnn.models.windowed.NeyshaburNet` (its ``__init__``);
    here ``kernel_size`` defaults to 9 and ``norm`` is ``"channel"`` (default) or ``"unit"``.

    Example:
      >>> m = SLocal((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m.features[0].kernel.shape, m(jnp.ones((4, 16, 16, 3))).shape  # 8 x 8 filters
      ((8, 8, 9, 9, 3, 2), (4, 10))
    """

    plan = SHALLOW
    windowed = LOCAL


class SFC(NeyshaburNet):
    """Neyshabur's S-FC: S-CONV's layer sizes, every layer dense.

    ``flatten -> Linear(prod(in_shape) -> prod(ceil(spatial / 2)) * alpha) ->
    Linear(24 alpha) -> Linear(c)``, with BatchNorm then ReLU after every layer but
    the last; the first layer's kernel is
    ``(prod(in_shape), prod(ceil(spatial / 2)) * alpha)``.

    Args: those of :class:`jaxcnn.models.windowed.NeyshaburNet` (its ``__init__``);
    here ``kernel_size`` defaults to 9 and ``norm`` is ``"unit"`` (default) or ``"channel"``.

    Example:
      >>> m = SFC((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))  # 768 inputs, 8 * 8 * 2 units
      >>> [layer.kernel.shape for layer in (*m.features, *m.hidden, m.head)]
      [(768, 128), (128, 48), (48, 10)]
    """

    plan = SHALLOW
    windowed = DENSE


class DConv(NeyshaburNet):
    """Neyshabur's D-CONV: eight shared conv layers, then two FC layers.

    ``k x k`` convs (SAME) with (channels, stride) ``(a,1), (2a,2), (2a,1), (4a,2),
    (4a,1), (8a,2), (8a,1), (16a,2) -> FC(64a) -> FC(c)``, with BatchNorm then ReLU
    after every layer but the last. The last conv outputs
    ``(*ceil(spatial / 16), 16 alpha)``.

    Args: those of :class:`jaxcnn.models.windowed.NeyshaburNet` (its ``__init__``);
    here ``kernel_size`` defaults to 3 and ``norm`` is ``"channel"`` only.

    Example:
      >>> m = DConv((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m.layer_shapes[-1], m(jnp.ones((4, 16, 16, 3))).shape
      (((2, 2, 16), (1, 1, 32)), (4, 10))
    """

    plan = DEEP
    windowed = CONV


class DLocal(NeyshaburNet):
    """Neyshabur's D-LOCAL: D-CONV with unshared (locally connected) layers.

    ``k x k`` locally connected layers (SAME) with (channels, stride) ``(a,1), (2a,2),
    (2a,1), (4a,2), (4a,1), (8a,2), (8a,1), (16a,2) -> FC(64a) -> FC(c)``, with
    BatchNorm then ReLU after every layer but the last. The last windowed layer
    outputs ``(*ceil(spatial / 16), 16 alpha)``.

    Args: those of :class:`jaxcnn.models.windowed.NeyshaburNet` (its ``__init__``);
    here ``kernel_size`` defaults to 3 and ``norm`` is ``"channel"`` (default) or ``"unit"``.

    Example:
      >>> m = DLocal((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m.features[0].kernel.shape, m.features[-1].kernel.shape  # 16 x 16, 1 x 1 filters
      ((16, 16, 3, 3, 3, 2), (1, 1, 3, 3, 16, 32))
    """

    plan = DEEP
    windowed = LOCAL


class DFC(NeyshaburNet):
    """Neyshabur's D-FC: D-CONV's layer sizes, every windowed layer dense.

    ``flatten ->`` eight dense maps sized like D-CONV's convs (outputs ``(a,1), (2a,2),
    (2a,1), (4a,2), (4a,1), (8a,2), (8a,1), (16a,2)`` as (channels, stride))
    ``-> FC(64a) -> FC(c)``, with BatchNorm then ReLU after every layer but the last.
    The last windowed layer has ``prod(ceil(spatial / 16)) * 16 alpha`` outputs.

    Args: those of :class:`jaxcnn.models.windowed.NeyshaburNet` (its ``__init__``);
    here ``kernel_size`` defaults to 3 and ``norm`` is ``"unit"`` (default) or ``"channel"``.

    Example:
      >>> m = DFC((16, 16, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> m.features[0].kernel.shape, m.features[-1].kernel.shape, m.head.kernel.shape
      ((768, 512), (64, 32), (128, 10))
    """

    plan = DEEP
    windowed = DENSE
