"""Patch extraction by strided slicing, and output shapes.

A windowed layer sees its input through patches: for every output position,
the (dilated) window of the padded input, flattened. jaxcnn builds the patch
tensor from strided slices of the padded input — one slice per kernel offset
(``_direct``), one spatial dim at a time (``_separable``), or from the input's
stride phases (``_phased``); ``patches_from_geometry`` picks one build for values and one for
derivatives — instead of ``lax.conv_general_dilated_patches``
(an identity-kernel convolution that is several times slower on CPU).

Patch layout (the contract): kernel offsets in row-major order, channel
fastest, so ``patch.reshape(*kernel_size, C)`` is the window, and a patch
dotted with ``kernel.reshape(-1, C_out)`` of an HWIO kernel is the convolution.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn import validation
from jaxcnn.validation import Geometry

__all__ = ["extract_patches", "output_shape"]


def output_shape(in_spatial, kernel_size, *, strides=1, padding="VALID", dilation=1
                 ) -> tuple[int, ...]:
    """Spatial output shape of a windowed layer, exactly as ``lax`` computes it.

    Args:
      in_spatial: input spatial shape, e.g. ``(32, 32)``.
      kernel_size: window size, one int per spatial dim.
      strides: int or one int per spatial dim.
      padding: ``"VALID"``, ``"SAME"``, ``"CIRCULAR"``, an int, or ``(low, high)`` pairs.
      dilation: int or one int per spatial dim (kernel dilation).

    Returns:
      The output spatial shape as a tuple of ints.

    Example:
      >>> output_shape((32, 32), (9, 9), strides=2, padding="SAME")
      (16, 16)
    """
    return validation.geometry(in_spatial, kernel_size, strides=strides, padding=padding,
                               dilation=dilation).out_spatial


def pad_input(x: jax.Array, geom: Geometry) -> jax.Array:
    """Pads the spatial dims of ``x: (*batch, *spatial, C)`` as ``geom`` says."""
    n = geom.ndim
    if not any(lo or hi for lo, hi in geom.pads):
        return x
    widths = [(0, 0)] * (x.ndim - n - 1) + list(geom.pads) + [(0, 0)]
    return jnp.pad(x, widths, mode="wrap" if geom.wrap else "constant")


def _window_slices(xp: jax.Array, geom: Geometry) -> list[jax.Array]:
    """One strided slice of the padded input per kernel offset (row-major)."""
    n = geom.ndim
    lead = xp.ndim - n - 1
    slices = []
    for offset in itertools.product(*(range(k) for k in geom.kernel_size)):
        start = [0] * lead + [o * d for o, d in zip(offset, geom.dilation)] + [0]
        limit = ([xp.shape[i] for i in range(lead)]
                 + [s + (m - 1) * st + 1 for s, m, st in
                    zip(start[lead:lead + n], geom.out_spatial, geom.strides)]
                 + [xp.shape[-1]])
        strides = [1] * lead + list(geom.strides) + [1]
        slices.append(lax.slice(xp, start, limit, strides))
    return slices


def _direct(x: jax.Array, geom: Geometry) -> jax.Array:
    """Patches from ``prod(kernel_size)`` strided slices stacked at once."""
    windows = jnp.stack(_window_slices(pad_input(x, geom), geom), axis=-2)  # (*b, *out, K, C)
    # explicit sizes, not -1: a -1 is ambiguous for zero-size arrays (e.g. batch 0)
    return windows.reshape(*windows.shape[:-2], windows.shape[-2] * windows.shape[-1])


def _separable(x: jax.Array, geom: Geometry) -> jax.Array:
    """The same patches, one spatial dim at a time (last first).

    Stage ``d`` stacks the ``kernel_size[d]`` strided slices along dim ``d`` in front
    of the feature block built so far, so after the last stage the features are
    ``(k_0, ..., k_{n-1}, C)`` row-major -- the same layout as :func:`_direct`. It
    takes ``sum(kernel_size)`` slices instead of ``prod(kernel_size)``, each copying
    runs of ``k_{d+1} * ... * C`` contiguous values instead of ``C``; on CPU that is
    2-3x faster at ResNet shapes (``benchmarks/BENCHMARKS.md``).
    """
    y = pad_input(x, geom)
    n = geom.ndim
    lead = y.ndim - n - 1
    for d in reversed(range(n)):
        k, dil, st, m = geom.kernel_size[d], geom.dilation[d], geom.strides[d], geom.out_spatial[d]
        cols = [lax.slice_in_dim(y, j * dil, j * dil + (m - 1) * st + 1, st, axis=lead + d)
                for j in range(k)]
        y = jnp.stack(cols, axis=-2)
        y = y.reshape(*y.shape[:-2], y.shape[-2] * y.shape[-1])
    return y


def _phased(x: jax.Array, geom: Geometry) -> jax.Array:
    """The same patches, from the input split into its stride phases.

    With stride ``s``, offset ``o`` (dilated: ``o * d``) reads input positions
    ``out * s + o * d``, i.e. phase ``(o * d) % s`` of the input at ``out + (o * d) // s``.
    Splitting the (padded) input into its ``prod(strides)`` phases by a reshape makes
    every per-offset slice a stride-1 slice. Same values as :func:`_direct`; what
    differs is the transpose (the backward col2im): one fused sum per phase over only
    the offsets of that phase (~``prod(kernel_size) / prod(strides)`` padded slices per
    value, no interior padding) instead of all ``prod(kernel_size)`` strided ones.
    """
    n, s = geom.ndim, geom.strides
    xp = pad_input(x, geom)
    lead = xp.ndim - n - 1
    # pad each spatial dim up to a multiple of its stride, then split it into (L / s, s)
    extra = [(-xp.shape[lead + d]) % s[d] for d in range(n)]
    xp = jnp.pad(xp, [(0, 0)] * lead + [(0, e) for e in extra] + [(0, 0)])
    blocks = [xp.shape[lead + d] // s[d] for d in range(n)]
    split = xp.reshape(*xp.shape[:lead], *itertools.chain(*zip(blocks, s)), xp.shape[-1])
    b, c = list(xp.shape[:lead]), xp.shape[-1]

    @functools.cache
    def phase(r):  # (*b, *blocks, C): the input at positions r + s * i
        p = lax.slice(split, [0] * lead + list(itertools.chain(*((0, ri) for ri in r))) + [0],
                      b + list(itertools.chain(*((m, ri + 1) for m, ri in zip(blocks, r)))) + [c])
        return p.reshape(*b, *blocks, c)

    slices = []
    for offset in itertools.product(*(range(k) for k in geom.kernel_size)):
        pos = [o * dl for o, dl in zip(offset, geom.dilation)]
        base = [p // st for p, st in zip(pos, s)]
        slices.append(lax.slice(phase(tuple(p % st for p, st in zip(pos, s))),
                                [0] * lead + base + [0],
                                b + [i + m for i, m in zip(base, geom.out_spatial)] + [c]))
    windows = jnp.stack(slices, axis=-2)
    return windows.reshape(*windows.shape[:-2], windows.shape[-2] * windows.shape[-1])


def _paired(primal_fn, tangent_fn):
    """``primal_fn`` for values, ``tangent_fn`` for derivatives (a custom JVP).

    All builds move the same values (bit-identical), so this is exact; it only picks
    which ops XLA runs. The backward pass is the *transpose of the tangent path*: the
    direct build transposes to one fused sum of ``prod(kernel_size)`` padded slices,
    the staged build to one such sum per spatial dim, the phased one to one per stride
    phase. Forward mode (jvp, jacfwd, Hessian-vector products) keeps working, unlike
    with a ``custom_vjp``.
    """

    @functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
    def extract(x, geom):
        return primal_fn(x, geom)

    @extract.defjvp
    def _jvp(geom, primals, tangents):
        (x,), (dx,) = primals, tangents
        return primal_fn(x, geom), tangent_fn(dx, geom)

    return extract


# Which build runs where (measured on 2 CPU cores, benchmarks/BENCHMARKS.md):
# * values: the staged build for many channels (1.3-2.5x faster than the direct one at
#   ResNet shapes); the direct one for few (runs of 3 RGB values gain nothing from
#   staging: S-CONV's 9x9/2 first layer is faster direct);
# * derivatives: the phased build for strided windows (its col2im is 2x faster at
#   S-CONV's 9x9/2 and keeps the backward pass's memory at the direct build's), the
#   direct one otherwise (its col2im is ~3x faster than the staged one's).
_STAGED_MIN_CHANNELS = 16


@functools.cache
def _builds(staged_values: bool, phased_tangents: bool):
    return _paired(_separable if staged_values else _direct,
                   _phased if phased_tangents else _direct)


@functools.partial(jax.jit, static_argnames=("geom",))
def patches_from_geometry(x: jax.Array, geom: Geometry) -> jax.Array:
    """:func:`extract_patches` for an already validated :class:`~jaxcnn.validation.Geometry`.

    The entry point for the layers in :mod:`jaxcnn.conv`, which resolve the
    geometry once themselves. ``x`` is ``(*batch, *geom.in_spatial, C)``; the
    result is ``(*batch, *geom.out_spatial, geom.window * C)``.
    """
    staged = geom.ndim >= 2 and geom.window > 1 and x.shape[-1] >= _STAGED_MIN_CHANNELS
    phased = geom.window > 1 and any(st > 1 for st in geom.strides)
    if not (staged or phased):
        return _direct(x, geom)
    return _builds(staged, phased)(x, geom)


def extract_patches(x: jax.Array, kernel_size, *, strides=1, padding="VALID", dilation=1
                    ) -> jax.Array:
    """Extracts flattened (dilated, strided, padded) windows of ``x``.

    Args:
      x: input ``(*batch, *spatial, C)``; ``batch`` may be empty.
      kernel_size: window size, a sequence of ints (its length is the number of
        spatial dims ``n``; 1, 2 and 3 are typical).
      strides: int or ``n`` ints.
      padding: ``"VALID"``, ``"SAME"`` (lax's SAME), ``"CIRCULAR"``, an int, or
        ``n`` ``(low, high)`` pairs.
      dilation: int or ``n`` ints (spacing between window taps).

    Returns:
      Patches of shape ``(*batch, *out_spatial, prod(kernel_size) * C)``, kernel
      offsets row-major and channels fastest: ``p[..., :].reshape(*kernel_size, C)``
      is the window at that output position.

    Example:
      >>> x = jnp.ones((2, 8, 8, 3))
      >>> extract_patches(x, (3, 3), strides=2, padding="SAME").shape
      (2, 4, 4, 27)
    """
    ks = validation.kernel_size_tuple(kernel_size)
    x = jnp.asarray(x)
    validation.check_input(x, len(ks))
    geom = validation.geometry(x.shape[-len(ks) - 1:-1], ks, strides=strides, padding=padding,
                               dilation=dilation)
    return patches_from_geometry(x, geom)
