r"""Stationary Gaussian fields on a ring or torus, by circulant embedding (no Cholesky).

A covariance ``M`` whose entries depend only on the periodic offset ``j - i`` is
(block-)circulant: it is given by its first row laid out as the field (shape ``(D,)``
or ``(H, W)``), and its eigenvalues are the (2-D) DFT of that row. One complex FFT of
``sqrt(lambda)``-scaled complex white noise gives two independent real samples of
``N(0, M)``, for ``O(N D log D)`` in all. :mod:`jaxcnn.data.nlgp` samples its latent
fields (and Gaussian clones) this way.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.data.common import noise_bucket, normal_flat
from jaxcnn.validation import check_int, check_key, error, is_concrete, is_int

__all__ = ["check_field_shape", "circulant_matrix", "sample_stationary_gaussian"]


def check_field_shape(shape, *, name: str = "shape") -> tuple[int, ...]:
    """``shape`` as ``(D,)`` (a ring) or ``(H, W)`` (a torus) of positive ints (an int: ``(D,)``).

    Raises:
      ValueError: ``"<name>: expected (D,) for a ring or (H, W) for a torus, ..."``.
    """
    if is_int(shape):
        shape = (int(shape),)
    if (not isinstance(shape, Sequence) or len(shape) not in (1, 2)
            or any(not is_int(s) or s < 1 for s in shape)):
        raise error(name, "(D,) for a ring or (H, W) for a torus, with positive ints", shape)
    return tuple(int(s) for s in shape)


def circulant_matrix(row) -> jax.Array:
    r"""Dense ``(D, D)`` (block-)circulant matrix ``M[i, j] = row[(j - i) mod shape]``.

    ``i`` and ``j`` are multi-indices flattened in row-major order, so for a 2-D ``row``
    the result is the block-circulant covariance of the flattened ``(H*W)`` field. For
    tests and small sizes only (``O(D^2)`` memory).

    Example:
        >>> circulant_matrix(jnp.array([1.0, 0.5, 0.5])).shape
        (3, 3)
    """
    row = jnp.asarray(row)
    shape = row.shape
    idx = np.indices(shape).reshape(len(shape), -1)  # (ndim, D)
    diff = (idx[:, None, :] - idx[:, :, None]) % np.array(shape)[:, None, None]
    return row[tuple(diff)]


@functools.partial(jax.jit, static_argnames=("num_samples",))
def _fft_sample(noise, num_samples: int, cov_row):
    shape = cov_row.shape
    axes = tuple(range(-len(shape), 0))
    size = math.prod(shape)
    num_pairs = (num_samples + 1) // 2
    lam = jnp.maximum(jnp.fft.fftn(cov_row, axes=axes).real, 0.0)
    # circulant embedding: zeta = F(sqrt(lam / D) * (u + i v)), u, v iid N(0, I);
    # Re(zeta) and Im(zeta) are two independent N(0, M) fields.
    u = noise[: num_pairs * size].reshape(num_pairs, *shape)
    v = noise[num_pairs * size : 2 * num_pairs * size].reshape(num_pairs, *shape)
    scale = jnp.sqrt(lam / size)
    zeta = jnp.fft.fftn(jax.lax.complex(scale * u, scale * v), axes=axes)
    z = jnp.concatenate([zeta.real, zeta.imag], axis=0)[:num_samples]
    return z.astype(jnp.float32)


def _sample_stationary(key, num_samples: int, cov_row):
    num_pairs = (num_samples + 1) // 2
    # a bucketed flat draw (few threefry compilations); _fft_sample uses its prefix
    noise = normal_flat(key, noise_bucket(2 * num_pairs * math.prod(cov_row.shape)))
    return _fft_sample(noise, num_samples, cov_row)


def _warn_if_not_psd(cov_row) -> None:
    lam = np.fft.fftn(np.asarray(cov_row, np.float64)).real
    if lam.min() < -1e-4 * max(lam.max(), 0.0):
        warnings.warn(
            f"the circulant covariance is not positive semi-definite (smallest "
            f"eigenvalue {lam.min():.3g}, largest {lam.max():.3g}); negative eigenvalues "
            f"are clipped to 0, so samples follow its nearest PSD circulant projection. "
            f"For the NLGP this happens when xi is not small compared with the side "
            f"length (the periodic squared-exponential is then not a valid kernel).",
            stacklevel=3,
        )


def sample_stationary_gaussian(key, num_samples: int, cov_row) -> jax.Array:
    r"""Samples ``N(0, M)`` for a symmetric (block-)circulant ``M`` given by its first row.

    The DFT diagonalises ``M``; its eigenvalues are ``lambda = DFT(row)`` (real, because
    the row is symmetric under ``k -> -k``; tiny negative ones from rounding are clipped
    to 0). Circulant embedding: with ``u, v ~ N(0, I)`` independent,
    ``zeta = DFT(sqrt(lambda / D) * (u + i v))`` has ``E[zeta zeta^H] = 2M`` and
    ``E[zeta zeta^T] = 0``, so ``Re(zeta)`` and ``Im(zeta)`` are two independent
    ``N(0, M)`` samples. Cost: one complex FFT per two samples, ``O(N D log D)``.

    Args:
        key: ``jax.random`` key.
        num_samples: ``N``.
        cov_row: first row of ``M`` laid out as the field, shape ``(D,)`` or ``(H, W)``;
            must satisfy ``row[k] == row[-k mod shape]``.

    Returns:
        float32 ``(N, *cov_row.shape)`` (no channel axis).

    Example:
        >>> from jaxcnn.data import nlgp_latent_covariance
        >>> row = nlgp_latent_covariance((20, 20), xi=3.0)
        >>> sample_stationary_gaussian(jax.random.key(0), 5, row).shape
        (5, 20, 20)
    """
    key = check_key(key, name="key")
    num_samples = check_int(num_samples, name="num_samples", minimum=1)
    if is_concrete(cov_row):
        _warn_if_not_psd(cov_row)
    cov_row = jnp.asarray(cov_row, jnp.float32)
    check_field_shape(cov_row.shape, name="cov_row.shape")
    return _sample_stationary(key, num_samples, cov_row)
