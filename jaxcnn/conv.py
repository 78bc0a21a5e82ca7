"""Every layer is one dense map applied to patches.

* ``dense``      -- the map itself: ``x @ w + b`` (Flax ``Linear`` layout).
* ``conv``       -- the dense map *shared* across positions: ``jax.vmap(dense)``
                    over patches with the weight broadcast (``in_axes=None``).
* ``local_conv`` -- the same map, *unshared*: weights vmapped with the patches.
* ``mlp_conv``   -- Network-in-Network: a shared MLP over patches (kernel 1 gives
                    a stack of 1x1 convolutions).
* ``fc_as_conv`` -- LeCun's view: a fully connected layer is a convolution whose
                    window is the whole input.

``vmap`` of a matrix-vector product with a shared matrix lowers to a single
``dot_general`` (per group), so XLA sees one GEMM. ``conv`` runs that GEMM over
chunks of the batch (``lax.map``) with ``jax.checkpoint``, so the patch tensor --
``prod(kernel_size)`` times the input -- is never materialised for the whole batch,
neither in the forward nor in the backward pass (see ``_chunk_size``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxcnn import validation
from jaxcnn.validation import Geometry, Text
from jaxcnn.patches import patches_from_geometry

__all__ = ["dense", "conv", "local_conv", "mlp_conv", "fc_as_conv"]


def dense(x: jax.Array, w: jax.Array, b: jax.Array | None = None, *, precision=None
          ) -> jax.Array:
    """The shared dense map ``x @ w + b``.

    Args:
      x: ``(*batch, in_features)``.
      w: ``(in_features, out_features)`` (Flax ``Linear`` layout).
      b: optional ``(out_features,)``.
      precision: passed to ``jnp.matmul`` (e.g. ``jax.lax.Precision.HIGHEST``).

    Returns:
      ``(*batch, out_features)``.

    Example:
      >>> dense(jnp.ones((4, 3)), jnp.ones((3, 2))).shape
      (4, 2)
    """
    x, w = jnp.asarray(x), jnp.asarray(w)
    if w.ndim != 2:
        raise validation.error("w", "a 2-D weight (in_features, out_features)",
                               Text(f"shape {tuple(w.shape)}"))
    if x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise validation.error("x", f"shape (*batch, {w.shape[0]}) to match w {tuple(w.shape)}",
                               Text(f"shape {tuple(x.shape)}"))
    y = jnp.matmul(x, w, precision=precision)
    if b is not None:
        b = jnp.asarray(b)
        validation.check_shape(b, (w.shape[1],), name="b", what="(out_features,)")
        y = y + b
    return y


# --------------------------------------------------------------------------- conv


# Patch tensors are ``prod(kernel_size)`` times larger than the input. Materialising
# them for a whole batch is what made a patch-based conv slow and memory-hungry (on CPU,
# a fresh multi-MB temporary costs more in page faults than the copy itself), so ``conv``
# maps the shared dense map over *chunks* of the batch: each chunk's patches are built,
# contracted and dropped (they stay in cache), and ``jax.checkpoint`` makes the backward
# pass rebuild them per chunk instead of storing them.
#
# Chunk size, in bytes of patches per chunk:
#   * at most ``_CHUNK_IO_FRACTION`` of the layer's own input + output bytes, so the
#     extra memory of a forward+backward pass stays a fraction of what lax needs;
#   * at most ``_CHUNK_CAP`` (per backend: on CPU, large fresh buffers are slow);
#   * at least half the kernel bytes: every chunk re-reads the weight and adds its
#     share to the weight gradient, which must stay small next to the chunk's GEMM
#     (so 4x4x512 layers are not chunked at all).
# Measured on the benchmark shapes: benchmarks/BENCHMARKS.md.
_CHUNK_CAP = {"cpu": 4 << 20}
_CHUNK_CAP_DEFAULT = 64 << 20  # accelerators: big enough to keep the GEMMs large
_CHUNK_IO_FRACTION = 0.75


def _chunk_size(batch: int, per_example: int, *, weight_bytes: int, io_bytes: int) -> int:
    """Examples per chunk (``batch`` means: do not chunk).

    Args:
      batch: number of examples.
      per_example: patch bytes of one example.
      weight_bytes: bytes of the kernel.
      io_bytes: bytes of the whole batch's input plus output.
    """
    cap = _CHUNK_CAP.get(jax.default_backend(), _CHUNK_CAP_DEFAULT)
    target = max(weight_bytes // 2, min(cap, int(_CHUNK_IO_FRACTION * io_bytes)))
    if batch * per_example <= target or batch == 1:  # small: one GEMM, no loop
        return batch
    chunk = max(1, target // per_example)
    # prefer a divisor of the batch (no remainder step) if one is close
    divisor = max(d for d in range(1, chunk + 1) if batch % d == 0)
    return divisor if 2 * divisor >= chunk else chunk


def _conv_chunk(xb, kernel, geom: Geometry) -> int:
    """Examples per chunk for ``conv`` of ``xb: (B, *spatial, C_in)`` (arrays or shape structs)."""
    if geom.window == 1:  # 1x1: the patches are the input, nothing to save
        return xb.shape[0]
    positions = math.prod(geom.out_spatial)
    itemsize = jnp.dtype(xb.dtype).itemsize
    per_example = positions * geom.window * xb.shape[-1] * itemsize
    io_bytes = xb.shape[0] * (math.prod(xb.shape[1:]) + positions * kernel.shape[-1]) * itemsize
    return _chunk_size(xb.shape[0], per_example, io_bytes=io_bytes,
                       weight_bytes=math.prod(kernel.shape) * jnp.dtype(kernel.dtype).itemsize)


def _map_chunks(f, x: jax.Array, chunk: int) -> jax.Array:
    """``f`` over chunks of ``x``'s leading axis (``lax.map``, plus a remainder call)."""
    batch = x.shape[0]
    if chunk >= batch:
        return f(x)
    steps, rem = divmod(batch, chunk)
    main = x[:steps * chunk].reshape(steps, chunk, *x.shape[1:])
    y = jax.lax.map(f, main)
    y = y.reshape(steps * chunk, *y.shape[2:])
    if rem:
        y = jnp.concatenate([y, f(x[steps * chunk:])], axis=0)
    return y


def _shared_dense_over_patches(x, kernel, geom: Geometry, groups: int, precision):
    """``x: (B, *spatial, C_in) -> (B, *out, C_out)``: the shared dense map on every patch."""
    patches = patches_from_geometry(x, geom)  # (B, *out, K * C_in)
    lead = patches.shape[:-1]
    cout = kernel.shape[-1]
    dense_p = functools.partial(dense, precision=precision)
    if groups == 1:
        w = kernel.reshape(math.prod(kernel.shape[:-1]), cout)  # HWIO -> (K * C_in, C_out): matches the patch layout
        y = jax.vmap(dense_p, in_axes=(0, None))(patches.reshape(math.prod(lead), w.shape[0]), w)
        return y.reshape(*lead, cout)
    cin_g = kernel.shape[-2]
    p = patches.reshape(math.prod(lead), geom.window, groups, cin_g)
    p = jnp.swapaxes(p, 1, 2).reshape(p.shape[0], groups, geom.window * cin_g)
    w = kernel.reshape(geom.window * cin_g, groups, cout // groups).swapaxes(0, 1)
    per_group = jax.vmap(dense_p, in_axes=(0, 0))
    shared = jax.vmap(per_group, in_axes=(0, None))  # the weight is shared over positions
    return shared(p, w).reshape(*lead, cout)


@functools.partial(jax.jit, static_argnames=("geom", "groups", "precision"))
def _conv(x, kernel, bias, geom: Geometry, groups: int, precision):
    n = geom.ndim
    lead = x.shape[:-n - 1]
    xb = x.reshape(math.prod(lead), *x.shape[-n - 1:])
    chunk = _conv_chunk(xb, kernel, geom)
    block = jax.checkpoint(functools.partial(_shared_dense_over_patches, kernel=kernel,
                                             geom=geom, groups=groups, precision=precision))
    y = _map_chunks(block, xb, chunk)
    y = y.reshape(*lead, *y.shape[1:])
    return y if bias is None else y + bias


def conv(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None, *, strides=1,
         padding="VALID", dilation=1, groups: int = 1, precision=None) -> jax.Array:
    """N-D convolution as a shared dense map vmapped over patches.

    Equal to ``lax.conv_general_dilated(x, kernel, strides, padding,
    rhs_dilation=dilation, feature_group_count=groups)`` with channels-last
    ('...HWC', 'HWIO') layouts, plus ``bias``.

    Args:
      x: ``(*batch, *spatial, C_in)``; ``batch`` may be empty.
      kernel: ``(*kernel_size, C_in // groups, C_out)``; ``n = kernel.ndim - 2``
        spatial dims.
      bias: optional ``(C_out,)``.
      strides: int or ``n`` ints.
      padding: ``"VALID"``, ``"SAME"``, ``"CIRCULAR"``, int, or ``n`` ``(low, high)`` pairs.
      dilation: int or ``n`` ints (kernel / "atrous" dilation).
      groups: feature groups; must divide ``C_in`` and ``C_out``.
      precision: matmul precision (``None`` = backend default).

    Returns:
      ``(*batch, *out_spatial, C_out)``.

    Example:
      >>> x = jnp.ones((8, 32, 32, 3)); k = jnp.ones((3, 3, 3, 16))
      >>> conv(x, k, padding="SAME").shape
      (8, 32, 32, 16)
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    if kernel.ndim < 3:
        raise validation.error("kernel", "shape (*kernel_size, C_in // groups, C_out) with >= 1 "
                               "spatial dim", Text(f"shape {tuple(kernel.shape)}"))
    n = kernel.ndim - 2
    validation.check_input(x, n)
    groups = validation.check_groups(groups, x.shape[-1], kernel.shape[-1], kernel.shape[-2])
    geom = validation.geometry(x.shape[-n - 1:-1], kernel.shape[:n], strides=strides,
                               padding=padding, dilation=dilation)
    if bias is not None:
        bias = jnp.asarray(bias)
        validation.check_shape(bias, (kernel.shape[-1],), name="bias", what="(C_out,)")
    return _conv(x, kernel, bias, geom, groups, precision)


# --------------------------------------------------------------------- local conv


@functools.partial(jax.jit, static_argnames=("geom", "precision"))
def _local_conv(x, kernel, bias, geom: Geometry, precision):
    patches = patches_from_geometry(x, geom)  # (*b, *out, K * C_in)
    n = geom.ndim
    lead, out = patches.shape[:-n - 1], geom.out_spatial
    positions = math.prod(out)
    p = patches.reshape(math.prod(lead), positions, patches.shape[-1])  # (B, P, K*C_in)
    w = kernel.reshape(positions, patches.shape[-1], kernel.shape[-1])  # (P, K*C_in, C_out)
    b = None if bias is None else bias.reshape(positions, kernel.shape[-1])
    unshared = jax.vmap(functools.partial(dense, precision=precision),
                        in_axes=(1, 0, None if b is None else 0), out_axes=1)
    y = unshared(p, w, b)  # (B, P, C_out)
    return y.reshape(*lead, *out, kernel.shape[-1])


def local_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None, *, strides=1,
               padding="VALID", dilation=1, precision=None) -> jax.Array:
    """Locally connected layer: the dense map with *unshared* weights per position.

    Equal to ``lax.conv_general_dilated_local`` (with our channels-last kernel
    layout). The weights are vmapped together with the patches.

    Args:
      x: ``(*batch, *spatial, C_in)``.
      kernel: ``(*out_spatial, *kernel_size, C_in, C_out)`` (kernel dims unfused);
        ``n = (kernel.ndim - 2) // 2``.
      bias: optional ``(*out_spatial, C_out)`` (one bias per position and channel).
      strides, padding, dilation, precision: as in :func:`conv`.

    Returns:
      ``(*batch, *out_spatial, C_out)``.

    Example:
      >>> x = jnp.ones((8, 6, 6, 3)); k = jnp.ones((4, 4, 3, 3, 3, 5))
      >>> local_conv(x, k).shape
      (8, 4, 4, 5)
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    if kernel.ndim < 4 or kernel.ndim % 2:
        raise validation.error("kernel", "shape (*out_spatial, *kernel_size, C_in, C_out) with "
                               "equal numbers of out_spatial and kernel dims",
                               Text(f"shape {tuple(kernel.shape)}"))
    n = (kernel.ndim - 2) // 2
    validation.check_input(x, n, kernel.shape[-2])
    geom = validation.geometry(x.shape[-n - 1:-1], kernel.shape[n:2 * n], strides=strides,
                               padding=padding, dilation=dilation)
    validation.check_shape(kernel, (*geom.out_spatial, *geom.kernel_size, *kernel.shape[-2:]),
                           name="kernel", what="(*out_spatial, *kernel_size, C_in, C_out) for "
                           f"output spatial shape {geom.out_spatial}")
    if bias is not None:
        bias = jnp.asarray(bias)
        validation.check_shape(bias, (*geom.out_spatial, kernel.shape[-1]), name="bias",
                               what="(*out_spatial, C_out)")
    return _local_conv(x, kernel, bias, geom, precision)


# ----------------------------------------------------------------------- mlp conv


def _layer_arrays(layer, i: int):
    if isinstance(layer, dict):
        w = layer.get("kernel", layer.get("w"))
        b = layer.get("bias", layer.get("b"))
    elif isinstance(layer, Sequence) and len(layer) in (1, 2):
        w, b = layer[0], (layer[1] if len(layer) == 2 else None)
    else:
        w, b = layer, None
    if w is None:
        raise validation.error(f"layers[{i}]",
                               "a (w, b) pair, a dict with 'kernel'/'w', or an array",
                               Text(type(layer).__name__))
    return jnp.asarray(w), (None if b is None else jnp.asarray(b))


def _mlp_params(layers, ks: tuple[int, ...], c_in: int) -> list:
    """Checked ``[(w, b), ...]`` of :func:`mlp_conv` (first ``w`` flattened to 2-D); each
    ``w`` must chain from ``prod(kernel_size) * C_in`` features, else ``ValueError``."""
    if not isinstance(layers, Sequence) or len(layers) == 0:
        given = (Text(f"an array of shape {tuple(layers.shape)}") if hasattr(layers, "shape")
                 else layers)
        raise validation.error("layers", "a non-empty sequence of (w, b) pairs", given)
    params = [_layer_arrays(layer, i) for i, layer in enumerate(layers)]
    w0, b0 = params[0]
    if w0.ndim == len(ks) + 2:
        validation.check_shape(w0, (*ks, c_in, w0.shape[-1]), name="layers[0]",
                               what="(*kernel_size, C_in, H_1)")
        params[0] = (w0.reshape(math.prod(w0.shape[:-1]), w0.shape[-1]), b0)
    features = math.prod(ks) * c_in
    for i, (w, b) in enumerate(params):
        if w.ndim != 2:
            raise validation.error(f"layers[{i}]", f"a 2-D weight ({features}, out_features)",
                                   Text(f"shape {tuple(w.shape)}"))
        validation.check_shape(w, (features, w.shape[1]), name=f"layers[{i}]",
                               what="weight (in_features, out_features)")
        if b is not None:
            validation.check_shape(b, (w.shape[1],), name=f"layers[{i}]",
                                   what="bias (out_features,)")
        features = w.shape[1]
    return params


def mlp_conv(x: jax.Array, layers, *, kernel_size, strides=1, padding="VALID", dilation=1,
             activation: Callable[[jax.Array], jax.Array] = jax.nn.relu, precision=None
             ) -> jax.Array:
    """Network-in-Network "MLPconv": one MLP shared across all patches.

    The first layer reads a whole window, the later ones act per position (they
    are 1x1 convolutions). ``activation`` follows every layer but the last, so
    the output is linear (add an activation or a norm after it as you like).
    With ``kernel_size=(1,)*n`` this is a per-position MLP, i.e. a stack of 1x1
    convolutions.

    Args:
      x: ``(*batch, *spatial, C_in)``.
      layers: sequence of ``(w, b)`` pairs (``b`` may be ``None``) or dicts with
        ``kernel``/``bias``. The first ``w`` is ``(prod(kernel_size) * C_in, H_1)``
        or an HWIO kernel ``(*kernel_size, C_in, H_1)``; the rest are
        ``(H_i, H_{i+1})``.
      kernel_size: window of the first layer, one int per spatial dim.
      strides, padding, dilation, precision: as in :func:`conv`.
      activation: elementwise nonlinearity between layers.

    Returns:
      ``(*batch, *out_spatial, H_last)``.

    Example:
      >>> x = jnp.ones((2, 8, 8, 3))
      >>> layers = [(jnp.ones((27, 16)), None), (jnp.ones((16, 10)), jnp.zeros(10))]
      >>> mlp_conv(x, layers, kernel_size=(3, 3)).shape
      (2, 6, 6, 10)
    """
    ks = validation.kernel_size_tuple(kernel_size)
    n = len(ks)
    x = jnp.asarray(x)
    validation.check_input(x, n)
    params = _mlp_params(layers, ks, x.shape[-1])
    geom = validation.geometry(x.shape[-n - 1:-1], ks, strides=strides, padding=padding,
                               dilation=dilation)
    patches = patches_from_geometry(x, geom)

    def mlp(patch):
        h = patch
        for i, (w, b) in enumerate(params):
            h = dense(h, w, b, precision=precision)
            if i < len(params) - 1:
                h = activation(h)
        return h

    lead = patches.shape[:-1]
    y = jax.vmap(mlp)(patches.reshape(math.prod(lead), patches.shape[-1]))
    return y.reshape(*lead, y.shape[-1])


# ------------------------------------------------------------------- FC as conv


def fc_as_conv(W: jax.Array, in_shape) -> jax.Array:
    """A dense layer as a convolution whose window is the whole input.

    ``conv(x, fc_as_conv(W, in_shape))`` has shape ``(*batch, 1, ..., 1, C_out)``
    and equals ``x.reshape(*batch, -1) @ W`` (VALID padding).

    Args:
      W: ``(prod(in_shape), C_out)`` dense weight (``x @ W`` layout, C-order flattening).
      in_shape: ``(*spatial, C_in)``.

    Returns:
      Kernel ``(*spatial, C_in, C_out)``.

    Example:
      >>> fc_as_conv(jnp.ones((4 * 4 * 3, 10)), (4, 4, 3)).shape
      (4, 4, 3, 10)
    """
    in_shape = validation.in_shape_tuple(in_shape)
    W = jnp.asarray(W)
    if W.ndim != 2:
        raise validation.error("W", "a 2-D dense weight (in_features, out_features)",
                               Text(f"shape {tuple(W.shape)}"))
    validation.check_shape(W, (math.prod(in_shape), W.shape[1]), name="W",
                           what=f"(prod(in_shape)={math.prod(in_shape)}, out_features)")
    return W.reshape(*in_shape, W.shape[1])
