"""Flax NNX modules over jaxcnn's pure layer functions.

Each module owns its parameters and calls the pure function for the forward
pass, so a module's output is *by construction* the function's output with the
module's parameters:

* :class:`Conv`             -> :func:`jaxcnn.conv`        (shared kernel)
* :class:`LocallyConnected` -> :func:`jaxcnn.local_conv`  (unshared kernel)
* :class:`MLPConv`          -> :func:`jaxcnn.mlp_conv`    (NiN: shared MLP over patches)

Initialisation uses the *true* fan-in of one output unit,
``fan_in = prod(kernel_size) * in_features / groups``, with LeCun normal
(truncated normal, variance ``1 / fan_in``) as the default, as
``flax.nnx.Conv``/``nnx.Linear`` do. So a unit-variance input gives unit-variance
pre-activations at initialisation for every layer type (away from zero-padded
borders). LeCun rather than He (variance ``2 / fan_in``) because jaxcnn's models
put BatchNorm after every hidden layer, which removes the scale anyway, and
LeCun keeps the modules drop-in compatible with ``nnx.Conv``; pass
``kernel_init=nnx.initializers.he_normal()`` (or :func:`local_kernel_init` with
``scale=2.0`` for :class:`LocallyConnected`) for He.

The unshared kernel ``(*out_spatial, *kernel_size, C_in, C_out)`` needs care:
stock ``variance_scaling`` initialisers take every axis but the last two as
"receptive field" and so count the output positions in the fan-in, giving a
variance ``prod(out_spatial)`` times too small (Flax Linen's ``ConvLocal`` has
this problem). :func:`local_kernel_init` passes explicit ``in_axis``,
``out_axis`` and ``batch_axis`` (the output positions) to ``variance_scaling``.

Example:
  >>> from flax import nnx
  >>> layer = Conv(3, 16, (3, 3), padding="SAME", rngs=nnx.Rngs(0))
  >>> layer(jnp.ones((8, 32, 32, 3))).shape
  (8, 32, 32, 16)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn.dtypes import promote_dtype

from jaxcnn import validation
from jaxcnn.conv import conv, local_conv, mlp_conv

__all__ = ["Conv", "LocallyConnected", "MLPConv", "local_kernel_init", "default_kernel_init"]

Initializer = Callable[..., jax.Array]

#: LeCun normal, variance ``1 / fan_in`` with ``fan_in = prod(shape[:-1])`` for a
#: shared HWIO kernel ``(*kernel_size, C_in // groups, C_out)`` or a dense
#: ``(in_features, out_features)`` weight -- the true fan-in for both.
default_kernel_init: Initializer = nnx.initializers.lecun_normal()


def local_kernel_init(ndim: int, *, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal") -> Initializer:
    """``variance_scaling`` for an unshared kernel ``(*out_spatial, *kernel_size, C_in, C_out)``.

    The output positions are independent "batch" axes, ``(*kernel_size, C_in)``
    the fan-in axes and ``C_out`` the fan-out axis, so every position's weights
    get variance ``scale / (prod(kernel_size) * C_in)`` (``mode="fan_in"``),
    exactly as a shared kernel of the same window would.

    Args:
      ndim: number of spatial dims ``n`` (the kernel has ``2 n + 2`` axes).
      scale, mode, distribution: as in ``jax.nn.initializers.variance_scaling``
        (``scale=1.0, "fan_in", "truncated_normal"`` is LeCun normal; ``scale=2.0``
        is He normal).

    Returns:
      An initializer ``init(key, shape, dtype)``.

    Example:
      >>> w = local_kernel_init(2)(jax.random.key(0), (4, 4, 3, 3, 16, 8))
      >>> bool(abs(w.var() * 3 * 3 * 16 - 1) < 0.1)  # variance 1 / (3 * 3 * 16)
      True
    """
    n = validation.check_int(ndim, name="ndim", minimum=1)
    return jax.nn.initializers.variance_scaling(
        scale, mode, distribution, in_axis=tuple(range(n, 2 * n + 1)), out_axis=2 * n + 1,
        batch_axis=tuple(range(n)))


def _set_features(layer: nnx.Module, in_features, out_features, kernel_size) -> int:
    """Checks and sets ``in_features``, ``out_features`` and ``kernel_size`` of a layer;
    returns the number of spatial dims."""
    layer.in_features = validation.check_int(in_features, name="in_features", minimum=1)
    layer.out_features = validation.check_int(out_features, name="out_features", minimum=1)
    layer.kernel_size = validation.kernel_size_tuple(kernel_size)
    return len(layer.kernel_size)


def _set_window(layer: nnx.Module, n: int, strides, dilation, padding) -> None:
    """Checks and sets ``strides``, ``dilation`` and ``padding`` of a layer (``n`` dims)."""
    layer.strides = validation.as_tuple(strides, n, name="strides")
    layer.dilation = validation.as_tuple(dilation, n, name="dilation")
    layer.padding = validation.normalize_padding(padding, n)


class Conv(nnx.Module):
    """N-D convolution: a shared dense map over patches (calls :func:`jaxcnn.conv`).

    Parameters:
      * ``kernel``: ``(*kernel_size, in_features // groups, out_features)`` (HWIO).
      * ``bias``: ``(out_features,)`` (absent when ``use_bias=False``).

    Unlike ``flax.nnx.Conv`` an int ``kernel_size`` is rejected: nnx reads ``3``
    as the 1-D kernel ``(3,)``, a silent trap for 2-D inputs; give one int per
    spatial dim. The default padding is ``"VALID"`` (jaxcnn's convention; nnx
    uses ``"SAME"``).

    Args:
      in_features: input channels ``C_in``.
      out_features: output channels ``C_out``.
      kernel_size: window, one int per spatial dim, e.g. ``(3, 3)``.
      strides: int or one int per spatial dim.
      padding: ``"VALID"``, ``"SAME"``, ``"CIRCULAR"``, an int, or ``(low, high)`` pairs.
      dilation: kernel dilation, int or one int per spatial dim.
      groups: feature groups (must divide ``in_features`` and ``out_features``).
      use_bias: whether to add a bias.
      kernel_init: initializer for the kernel; default LeCun normal with fan-in
        ``prod(kernel_size) * in_features // groups``.
      bias_init: initializer for the bias (zeros).
      dtype: computation dtype (``None``: promote input and parameters).
      param_dtype: parameter dtype.
      precision: matmul precision passed to :func:`jaxcnn.conv`.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> layer = Conv(3, 8, (5,), strides=2, padding="SAME", rngs=nnx.Rngs(0))
      >>> layer(jnp.ones((4, 40, 3))).shape
      (4, 20, 8)
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *,
                 strides=1, padding="VALID", dilation=1, groups: int = 1,
                 use_bias: bool = True, kernel_init: Initializer = default_kernel_init,
                 bias_init: Initializer = nnx.initializers.zeros_init(), dtype=None,
                 param_dtype=jnp.float32, precision=None, rngs: nnx.Rngs):
        n = _set_features(self, in_features, out_features, kernel_size)
        _set_window(self, n, strides, dilation, padding)
        validation.check_int(groups, name="groups", minimum=1)
        if self.in_features % groups:
            raise validation.error("groups", f"a divisor of in_features ({self.in_features})",
                                   groups)
        if self.out_features % groups:
            raise validation.error("groups", f"a divisor of out_features ({self.out_features})",
                                   groups)
        self.groups = int(groups)
        self.use_bias = bool(use_bias)
        self.dtype, self.param_dtype, self.precision = dtype, param_dtype, precision
        shape = (*self.kernel_size, self.in_features // self.groups, self.out_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), shape, param_dtype))
        self.bias = (nnx.Param(bias_init(rngs.params(), (self.out_features,), param_dtype))
                     if self.use_bias else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *spatial, in_features) -> (*batch, *out_spatial, out_features)``."""
        kernel = self.kernel[...]
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = promote_dtype((x, kernel, bias), dtype=self.dtype)
        return conv(x, kernel, bias, strides=self.strides, padding=self.padding,
                    dilation=self.dilation, groups=self.groups, precision=self.precision)

    def out_spatial(self, in_spatial: Sequence[int]) -> tuple[int, ...]:
        """Output spatial shape for an input spatial shape."""
        return validation.geometry(in_spatial, self.kernel_size, strides=self.strides,
                                   padding=self.padding, dilation=self.dilation).out_spatial


class LocallyConnected(nnx.Module):
    """Locally connected (unshared) layer; calls :func:`jaxcnn.local_conv`.

    Every output position has its own dense map over its window. The input
    spatial shape must be known at construction (``in_spatial``) to size the
    kernel.

    Parameters:
      * ``kernel``: ``(*out_spatial, *kernel_size, in_features, out_features)``.
      * ``bias``: ``(*out_spatial, out_features)`` (one bias per position and channel).

    Args:
      in_features: input channels ``C_in``.
      out_features: output channels ``C_out``.
      kernel_size: window, one int per spatial dim.
      in_spatial: input spatial shape, e.g. ``(32, 32)``.
      strides, padding, dilation: as in :class:`Conv`.
      use_bias: whether to add the per-position bias.
      kernel_init: initializer called with the full unshared kernel shape; default
        :func:`local_kernel_init` (LeCun normal with the true fan-in
        ``prod(kernel_size) * in_features``). A stock Flax initializer would count
        the output positions in the fan-in; build one with :func:`local_kernel_init`.
      bias_init: initializer for the bias (zeros).
      dtype, param_dtype, precision: as in :class:`Conv`.
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> layer = LocallyConnected(3, 8, (3, 3), in_spatial=(8, 8), rngs=nnx.Rngs(0))
      >>> layer.kernel.shape, layer(jnp.ones((2, 8, 8, 3))).shape
      ((6, 6, 3, 3, 3, 8), (2, 6, 6, 8))
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *,
                 in_spatial: Sequence[int], strides=1, padding="VALID", dilation=1,
                 use_bias: bool = True, kernel_init: Initializer | None = None,
                 bias_init: Initializer = nnx.initializers.zeros_init(), dtype=None,
                 param_dtype=jnp.float32, precision=None, rngs: nnx.Rngs):
        n = _set_features(self, in_features, out_features, kernel_size)
        if not (isinstance(in_spatial, Sequence) and len(in_spatial) == n):
            raise validation.error("in_spatial", f"a sequence of {n} ints (one per spatial dim of "
                                   f"kernel_size={self.kernel_size})", in_spatial)
        self.in_spatial = validation.as_tuple(in_spatial, n, name="in_spatial")
        _set_window(self, n, strides, dilation, padding)
        geom = validation.geometry(self.in_spatial, self.kernel_size, strides=self.strides,
                                   padding=self.padding, dilation=self.dilation)
        self.out_spatial = geom.out_spatial
        self.use_bias = bool(use_bias)
        self.dtype, self.param_dtype, self.precision = dtype, param_dtype, precision
        init = local_kernel_init(n) if kernel_init is None else kernel_init
        shape = (*self.out_spatial, *self.kernel_size, self.in_features, self.out_features)
        self.kernel = nnx.Param(init(rngs.params(), shape, param_dtype))
        self.bias = (nnx.Param(bias_init(rngs.params(), (*self.out_spatial, self.out_features),
                                         param_dtype)) if self.use_bias else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_spatial, in_features) -> (*batch, *out_spatial, out_features)``."""
        kernel = self.kernel[...]
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = promote_dtype((x, kernel, bias), dtype=self.dtype)
        return local_conv(x, kernel, bias, strides=self.strides, padding=self.padding,
                          dilation=self.dilation, precision=self.precision)


class MLPConv(nnx.Module):
    """Network-in-Network "MLPconv": one MLP shared over all patches (:func:`jaxcnn.mlp_conv`).

    The first layer reads a ``kernel_size`` window of ``in_features`` channels;
    the later layers act per position (1x1 convolutions). ``activation`` follows
    every layer *but the last*, so the output is linear, as in
    :func:`jaxcnn.mlp_conv` (NiN also applies ReLU after the last layer: apply it
    yourself).

    Parameters (``L = len(hidden_features)``):
      * ``kernels[0]``: ``(*kernel_size, in_features, hidden_features[0])`` (HWIO).
      * ``kernels[i]``: ``(hidden_features[i-1], hidden_features[i])`` for ``i >= 1``.
      * ``biases[i]``: ``(hidden_features[i],)`` (absent when ``use_bias=False``).

    Args:
      in_features: input channels.
      hidden_features: widths of the shared MLP's layers; the last is the output
        channel count.
      kernel_size: window of the first layer, one int per spatial dim.
      strides, padding, dilation: as in :class:`Conv`.
      activation: elementwise nonlinearity between layers (``jax.nn.relu``).
      use_bias, kernel_init, bias_init, dtype, param_dtype, precision: as in
        :class:`Conv` (``kernel_init`` is called with each layer's weight shape,
        so the default gives each layer its true fan-in).
      rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
      >>> layer = MLPConv(3, (16, 10), (3, 3), rngs=nnx.Rngs(0))
      >>> layer(jnp.ones((2, 8, 8, 3))).shape
      (2, 6, 6, 10)
    """

    def __init__(self, in_features: int, hidden_features: Sequence[int],
                 kernel_size: Sequence[int], *, strides=1, padding="VALID", dilation=1,
                 activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
                 use_bias: bool = True, kernel_init: Initializer = default_kernel_init,
                 bias_init: Initializer = nnx.initializers.zeros_init(), dtype=None,
                 param_dtype=jnp.float32, precision=None, rngs: nnx.Rngs):
        self.in_features = validation.check_int(in_features, name="in_features", minimum=1)
        if (not isinstance(hidden_features, Sequence) or isinstance(hidden_features, str)
                or len(hidden_features) == 0):
            raise validation.error("hidden_features", "a non-empty sequence of positive ints",
                                   hidden_features)
        self.hidden_features = tuple(
            validation.check_int(h, name=f"hidden_features[{i}]", minimum=1)
            for i, h in enumerate(hidden_features))
        self.kernel_size = validation.kernel_size_tuple(kernel_size)
        n = len(self.kernel_size)
        _set_window(self, n, strides, dilation, padding)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.dtype, self.param_dtype, self.precision = dtype, param_dtype, precision
        shapes = [(*self.kernel_size, self.in_features, self.hidden_features[0])]
        shapes += list(zip(self.hidden_features[:-1], self.hidden_features[1:]))
        self.kernels = nnx.List([nnx.Param(kernel_init(rngs.params(), s, param_dtype))
                                 for s in shapes])
        self.biases = (nnx.List([nnx.Param(bias_init(rngs.params(), (h,), param_dtype))
                                 for h in self.hidden_features]) if self.use_bias else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *spatial, in_features) -> (*batch, *out_spatial, hidden_features[-1])``."""
        ws = [k[...] for k in self.kernels]
        bs = [None] * len(ws) if self.biases is None else [b[...] for b in self.biases]
        x, *arrays = promote_dtype((x, *ws, *bs), dtype=self.dtype)
        layers = list(zip(arrays[:len(ws)], arrays[len(ws):]))
        return mlp_conv(x, layers, kernel_size=self.kernel_size, strides=self.strides,
                        padding=self.padding, dilation=self.dilation,
                        activation=self.activation, precision=self.precision)
