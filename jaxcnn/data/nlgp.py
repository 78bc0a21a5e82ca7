r"""Ingrosso & Goldt's non-linear Gaussian process (NLGP) and its Gaussian clone.

Definitions (PNAS 2022, "Data-driven emergence of convolutional structure"):

* Latent field on a ring (``shape=(D,)``) or torus (``shape=(H, W)``):
  ``z ~ N(0, C)`` with ``C_1D[i, j] = exp(-d_ij^p / xi^p)``, ``d_ij = min(|i-j|, n-|i-j|)``
  the periodic distance; in 2-D ``C = C_H ⊗ C_W`` (row-major flattening), and ``1e-3``
  is added once to the diagonal of the final ``C`` (so ``C_ii = 1.001``).
* Inputs: ``x = erf(g z / sqrt(2)) / sqrt(gamma(g))`` with
  ``gamma(g) = (2/pi) arcsin(g^2 / (1 + g^2))``, so ``Var(x_i) = 1`` (exactly for a unit
  diagonal; ``1 + O(1e-3)`` with the jitter).
* Covariance of ``x`` (Price / arcsine law; for ``a = g/sqrt(2)``,
  ``E[erf(a z_i) erf(a z_j)] = (2/pi) arcsin(2a^2 C_ij / sqrt((1+2a^2 C_ii)(1+2a^2 C_jj)))``)::

      K_ij = (2 / (pi gamma(g))) * arcsin(g^2 C_ij / (1 + g^2 C_00))

* Gaussian clone (``gaussian=True``): ``x ~ N(0, K)`` with exactly that ``K``.
  ``g -> 0`` gives back ``z`` (Gaussian); ``g -> inf`` gives ``sign(z)``.

Because ``C_ij`` (and hence ``K_ij``) depends only on the periodic offset ``j - i``, both are
(block-)circulant: their eigenvalues are the (2-D) DFT of the first row laid out as an
image. (The periodic kernel ``exp(-d^p/xi^p)`` is positive semi-definite only
approximately: if ``xi`` is not small compared with the side length, some eigenvalues
are negative; they are clipped to 0 with a warning, which samples the nearest PSD
circulant covariance instead.) Samples are drawn by circulant embedding
(:func:`sample_stationary_gaussian`): one complex FFT of ``sqrt(lambda)``-scaled complex
white noise gives two independent real samples; the cost is ``O(N D log D)`` -- no
``O(D^3)`` Cholesky.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.data.circulant import check_field_shape, circulant_matrix, sample_stationary_gaussian
from jaxcnn.data.common import finish, random_permutation
from jaxcnn.validation import check_int, check_key, check_scalar, error, is_concrete

__all__ = [
    "JITTER",
    "nlgp",
    "nlgp_task",
    "nlgp_dataset",
    "nlgp_gamma",
    "nlgp_latent_covariance",
    "nlgp_covariance",
    "circulant_matrix",
    "sample_stationary_gaussian",
]

#: Added to the diagonal of the latent covariance ``C``.
JITTER = 1e-3


# ------------------------------------------------------------------------- covariances


def _all_concrete(*values) -> bool:
    return all(is_concrete(v) for v in values)


def _gamma(gain, xp):
    g2 = xp.square(gain)
    return (2.0 / xp.pi) * xp.arcsin(g2 / (1.0 + g2))


def _latent_row(shape, xi, p, xp):
    row = None
    for n in shape:
        k = np.arange(n)
        d = np.minimum(k, n - k).astype(np.float64)
        r = xp.exp(-xp.power(d / xi, p))
        row = r if row is None else row[..., None] * r
    if xp is np:
        row = row.copy()
        row[(0,) * len(shape)] += JITTER
        return row
    return row.at[(0,) * len(shape)].add(JITTER)


def _output_row(shape, xi, gain, p, xp):
    c = _latent_row(shape, xi, p, xp)
    g2 = xp.square(gain)
    c00 = c[(0,) * len(shape)]
    return (2.0 / xp.pi) * xp.arcsin(g2 * c / (1.0 + g2 * c00)) / _gamma(gain, xp)


def nlgp_gamma(gain):
    r"""``gamma(g) = (2/pi) arcsin(g^2 / (1 + g^2))``: the variance of ``erf(g z/sqrt(2))``
    for ``z ~ N(0, 1)``.

    Returns:
        float32 scalar ``jax.Array``.

    Example:
        >>> round(float(nlgp_gamma(1e6)), 4)  # -> 1 as g -> inf (sign(z) has variance 1)
        1.0
    """
    if is_concrete(gain):
        return jnp.asarray(_gamma(np.float64(gain), np), jnp.float32)
    return _gamma(jnp.asarray(gain, jnp.float32), jnp)


def nlgp_latent_covariance(shape, *, xi, p=2.0) -> jax.Array:
    r"""First row of the latent covariance ``C``, laid out with ``shape``.

    ``row[k] = prod_a exp(-d(k_a)^p / xi^p) + 1e-3 * [k == 0]`` with the periodic distance
    ``d(k_a) = min(k_a, n_a - k_a)``; ``C[i, j] = row[(j - i) mod shape]`` (see
    :func:`circulant_matrix`), i.e. ``C = C_H ⊗ C_W + 1e-3 I`` in 2-D. Computed in float64
    NumPy for concrete arguments (no compilation), in ``jnp`` when traced.

    Args:
        shape: ``(D,)`` or ``(H, W)``.
        xi: correlation length (> 0).
        p: exponent (the paper uses 2).

    Returns:
        float32 ``jax.Array`` of shape ``shape``.

    Example:
        >>> nlgp_latent_covariance((8,), xi=2.0)[0]  # 1 + 1e-3
        Array(1.001, dtype=float32)
    """
    shape = check_field_shape(shape)
    for name, v in (("xi", xi), ("p", p)):
        check_scalar(v, name=name, minimum=0, strict=True)  # finite, > 0; traced values pass
    if _all_concrete(xi, p):
        return jnp.asarray(_latent_row(shape, np.float64(xi), np.float64(p), np), jnp.float32)
    return _latent_row(shape, jnp.asarray(xi, jnp.float32), p, jnp).astype(jnp.float32)


def nlgp_covariance(shape, *, xi, gain, p=2.0) -> jax.Array:
    r"""First row of the NLGP input covariance ``K = Cov(x)`` (also the Gaussian clone's).

    ``K_ij = (2 / (pi gamma(g))) arcsin(g^2 C_ij / (1 + g^2 C_00))``, from
    ``E[erf(a z_i) erf(a z_j)] = (2/pi) arcsin(2a^2 C_ij / sqrt((1+2a^2 C_ii)(1+2a^2 C_jj)))``
    with ``a = g/sqrt(2)`` and the stationary diagonal ``C_ii = C_00 = 1 + 1e-3``.
    ``K`` depends on ``i, j`` only through the periodic offset, so it is (block-)circulant
    like ``C``.

    Returns:
        float32 ``jax.Array`` of shape ``shape``; ``K[i, j] = row[(j - i) mod shape]``.

    Example:
        >>> k = nlgp_covariance((20, 20), xi=2.0, gain=3.0)
        >>> abs(float(k[0, 0]) - 1) < 1e-3
        True
    """
    shape = check_field_shape(shape)
    for name, v in (("xi", xi), ("gain", gain), ("p", p)):
        check_scalar(v, name=name, minimum=0, strict=True)  # finite, > 0; traced values pass
    if _all_concrete(xi, gain, p):
        row = _output_row(shape, np.float64(xi), np.float64(gain), np.float64(p), np)
        return jnp.asarray(row, jnp.float32)
    f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    return _output_row(shape, f32(xi), f32(gain), p, jnp).astype(jnp.float32)


# ---------------------------------------------------------------------------- sampling


@jax.jit
def _erf_link(z, gain):
    g = jnp.asarray(gain, jnp.float32)
    x = jax.scipy.special.erf(g * z / math.sqrt(2.0)) / jnp.sqrt(_gamma(g, jnp))
    return x[..., None].astype(jnp.float32)


def nlgp(key, num_samples: int, *, shape, xi, gain, gaussian: bool = False, p=2.0) -> jax.Array:
    r"""Samples NLGP inputs (or their Gaussian clone) on a ring or torus.

    ``z ~ N(0, C)``, ``C[i, j] = exp(-d_ij^p / xi^p)`` (periodic distance; ``C_H ⊗ C_W`` in
    2-D; ``+1e-3`` on the diagonal), and

        ``x = erf(g z / sqrt(2)) / sqrt(gamma(g))``,
        ``gamma(g) = (2/pi) arcsin(g^2 / (1 + g^2))``,

    so ``Var(x_i) ≈ 1`` and ``Cov(x) = K`` of :func:`nlgp_covariance`. With
    ``gaussian=True``, ``x ~ N(0, K)`` instead: same mean and covariance, no higher-order
    structure (the paper's "GP" control). ``z`` is drawn by FFT from ``key``
    (:func:`sample_stationary_gaussian`), so ``nlgp(key, ...)`` equals
    ``erf(g z/√2)/√γ`` for ``z = sample_stationary_gaussian(key, N,
    nlgp_latent_covariance(shape, xi=xi, p=p))``.

    Pure and jit-compatible (``num_samples``, ``shape``, ``gaussian`` static; ``xi``,
    ``gain``, ``p`` may be traced). One compilation per ``(num_samples, shape)``, shared
    by the NLGP and its Gaussian clone.

    Args:
        key: ``jax.random`` key.
        num_samples: number of samples ``N``.
        shape: ``(D,)`` (ring) or ``(H, W)`` (torus); an int means ``(D,)``.
        xi: correlation length (> 0).
        gain: non-linearity gain ``g`` (> 0, finite): ``g -> 0`` Gaussian,
            ``g -> inf`` ``sign(z)``.
        gaussian: sample the Gaussian clone with the same covariance.
        p: exponent of the latent covariance (paper: 2).

    Returns:
        float32 ``jax.Array`` of shape ``(N, *shape, 1)`` (channels last).

    Example:
        >>> x = nlgp(jax.random.key(0), 1000, shape=(20, 20), xi=2.0, gain=3.0)
        >>> x.shape
        (1000, 20, 20, 1)
    """
    shape = check_field_shape(shape)
    if gaussian:
        row = nlgp_covariance(shape, xi=xi, gain=gain, p=p)
        return sample_stationary_gaussian(key, num_samples, row)[..., None]
    check_scalar(gain, name="gain", minimum=0, strict=True)
    z = sample_stationary_gaussian(key, num_samples, nlgp_latent_covariance(shape, xi=xi, p=p))
    return _erf_link(z, gain)


def nlgp_task(
    key, num_samples: int, *, shape, xi, gain, gaussian: bool = False, p=2.0
) -> tuple[jax.Array, jax.Array]:
    r"""The two-class NLGP discrimination task: which correlation length made ``x``?

    Class ``k`` (label ``k``) is drawn from :func:`nlgp` with correlation length
    ``xi[k]``; both classes share ``gain`` (and ``gaussian``), so they have the same
    mean and variance and differ only in spatial correlations. Labels are balanced
    (``N // 2`` zeros, ``N - N // 2`` ones) and the examples are shuffled.

    Args:
        key: ``jax.random`` key.
        num_samples: ``N`` (>= 2).
        shape: ``(D,)`` or ``(H, W)``.
        xi: pair ``(xi_0, xi_1)`` of correlation lengths.
        gain: ``g`` of both classes.
        gaussian: use the Gaussian clones of both classes.
        p: exponent of the latent covariance.

    Returns:
        ``(x, y)``: float32 ``(N, *shape, 1)`` and int32 ``(N,)`` jax arrays.

    Example:
        >>> x, y = nlgp_task(jax.random.key(0), 100, shape=(20, 20), xi=(1.0, 3.0), gain=3.0)
        >>> x.shape, int(y.sum())
        ((100, 20, 20, 1), 50)
    """
    key = check_key(key, name="key")
    num_samples = check_int(num_samples, name="num_samples", minimum=2)
    if not isinstance(xi, Sequence) or len(xi) != 2:
        raise error("xi", "a pair (xi_0, xi_1) of correlation lengths", xi)
    n0 = num_samples // 2
    n1 = num_samples - n0
    k0, k1, kperm = jax.random.split(key, 3)
    kw = dict(shape=shape, gain=gain, gaussian=gaussian, p=p)
    # both classes drawn with n1 samples (one compilation); class 0 keeps n0 of them
    x0 = nlgp(k0, n1, xi=xi[0], **kw)
    x1 = nlgp(k1, n1, xi=xi[1], **kw)
    if not _all_concrete(key, x0):
        perm = jax.random.permutation(kperm, num_samples)  # traced: stay in JAX
    else:
        perm = jnp.asarray(random_permutation(kperm, num_samples))
    return _assemble(perm, x0, x1, n0)


@functools.partial(jax.jit, static_argnames=("n0",))
def _assemble(perm, x0, x1, n0):
    x = jnp.concatenate([x0[:n0], x1])
    y = jnp.concatenate([jnp.zeros(n0, jnp.int32), jnp.ones(x1.shape[0], jnp.int32)])
    return x[perm], y[perm]


def nlgp_dataset(
    key,
    *,
    num_train: int = 10_000,
    num_test: int = 2_000,
    shape=(20, 20),
    xi=(1.0, 3.0),
    gain=3.0,
    gaussian: bool = False,
    p=2.0,
    standardize: bool = False,
) -> dict[str, np.ndarray]:
    r"""The NLGP task (:func:`nlgp_task`) as a standard 4-array dataset dict.

    Train and test are independent draws (``jax.random.split(key)``). The inputs already
    have mean 0 and variance ≈ 1 by construction, so ``standardize`` defaults to False
    (standardizing would perturb the analytic covariance by sampling noise).

    Args:
        key: ``jax.random`` key.
        num_train: training examples (balanced classes).
        num_test: test examples (balanced classes).
        shape, xi, gain, gaussian, p: as in :func:`nlgp_task` (defaults: 20x20 torus,
            ``xi = (1, 3)``, ``g = 3``).
        standardize: per-channel standardization with training statistics.

    Returns:
        ``{"x_train": (num_train, *shape, 1) float32, "y_train": int32, "x_test", "y_test"}``
        as NumPy arrays.

    Example:
        >>> d = nlgp_dataset(jax.random.key(0), num_train=200, num_test=100)
        >>> d["x_train"].shape
        (200, 20, 20, 1)
    """
    key = check_key(key, name="key")
    ktr, kte = jax.random.split(key)
    kw = dict(shape=shape, xi=xi, gain=gain, gaussian=gaussian, p=p)
    xtr, ytr = nlgp_task(ktr, num_train, **kw)
    xte, yte = nlgp_task(kte, num_test, **kw)
    return finish(
        np.asarray(xtr), np.asarray(ytr), np.asarray(xte), np.asarray(yte),
        standardize_inputs=standardize,
    )
