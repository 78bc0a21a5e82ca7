"""jaxcnn.extract_patches against lax.conv_general_dilated_patches and a NumPy loop."""

from __future__ import annotations

import itertools
import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcnn
from conftest import (
    HIGHEST,
    assert_close,
    case_params,
    circular_pads,
    compare_vjp,
    lax_patches,
    make_cases,
    random_arrays,
)

TOL = 1e-5
PATCH_CASES = make_cases(2, 20, groups=(1,))


@pytest.mark.parametrize("case", case_params(PATCH_CASES))
def test_patches_match_lax(case):
    out_shape = (*case.batch, *case.out_spatial(), math.prod(case.kernel_size) * case.c_in)
    seed = zlib.crc32(case.id.encode())
    x, ct = random_arrays(seed, case.x_shape, out_shape)

    def ours(x):
        return jaxcnn.extract_patches(x, case.kernel_size, **case.geom)

    def ref(x):
        return lax_patches(x, case.kernel_size, **case.geom)

    y = compare_vjp(ours, ref, (x,), ct, names=("x",), tol=TOL, dtype=jnp.float32)
    assert y.shape == out_shape


def _numpy_patches(x, kernel_size, strides, pads, dilation, wrap):
    """Direct loop: out[*b, *o, :] = concat over row-major offsets of x_pad[*b, o*s + off*d, :]."""
    n = len(kernel_size)
    mode = "wrap" if wrap else "constant"
    xp = np.pad(x, [(0, 0)] * (x.ndim - n - 1) + list(pads) + [(0, 0)], mode=mode)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    out = [(p - e) // s + 1 for p, e, s in zip(xp.shape[-n - 1:-1], eff, strides)]
    res = np.zeros(x.shape[:-n - 1] + tuple(out) + (math.prod(kernel_size) * x.shape[-1],),
                   x.dtype)
    for o in itertools.product(*(range(m) for m in out)):
        window = []
        for off in itertools.product(*(range(k) for k in kernel_size)):
            idx = tuple(oo * s + kk * d for oo, s, kk, d in zip(o, strides, off, dilation))
            window.append(xp[(Ellipsis, *idx, slice(None))])
        res[(Ellipsis, *o, slice(None))] = np.concatenate(window, axis=-1)
    return res


@pytest.mark.parametrize(
    "x_shape,ks,strides,padding,pads,dilation",
    [
        ((2, 7, 3), (3,), (2,), "VALID", [(0, 0)], (1,)),
        ((6, 5, 2), (2, 3), (1, 2), ((1, 0), (2, 1)), [(1, 0), (2, 1)], (2, 1)),
        ((1, 4, 5, 3, 2), (2, 2, 2), (1, 2, 1), 1, [(1, 1)] * 3, (1, 1, 2)),
        ((2, 5, 6, 1), (3, 2), (1, 1), "CIRCULAR", None, (1, 2)),
    ],
    ids=["1d", "2d-unbatched-asym", "3d-int-pad", "2d-circular"],
)
def test_patch_layout_contract(x_shape, ks, strides, padding, pads, dilation):
    """patch.reshape(*kernel_size, C) is the window (row-major offsets, channel fastest)."""
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    wrap = padding == "CIRCULAR"
    if wrap:
        pads = circular_pads(ks, dilation)
    got = jaxcnn.extract_patches(x, ks, strides=strides, padding=padding, dilation=dilation)
    want = _numpy_patches(x, ks, strides, pads, dilation, wrap)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.asarray(got), want)  # pure data movement: exact


def test_patches_times_kernel_is_conv():
    """The contract with HWIO kernels: patches @ kernel.reshape(-1, C_out) == conv."""
    x, k = random_arrays(1, (2, 6, 7, 3), (3, 2, 3, 5))
    p = jaxcnn.extract_patches(x, (3, 2), strides=(1, 2), padding="SAME", dilation=(2, 1))
    y = jnp.matmul(p, k.reshape(-1, 5), precision=HIGHEST)
    want = jaxcnn.conv(x, k, strides=(1, 2), padding="SAME", dilation=(2, 1), precision=HIGHEST)
    assert_close(y, want, tol=TOL)


def test_patches_docstring_example_and_dtype():
    x = jnp.ones((2, 8, 8, 3), jnp.bfloat16)
    p = jaxcnn.extract_patches(x, (3, 3), strides=2, padding="SAME")
    assert p.shape == (2, 4, 4, 27) and p.dtype == jnp.bfloat16
    # ints pass through unchanged as well (pure data movement)
    xi = jnp.arange(2 * 5 * 2, dtype=jnp.int32).reshape(2, 5, 2)
    pi = jaxcnn.extract_patches(xi, (2,))
    assert pi.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(pi[0, 0]), [0, 1, 2, 3])


def test_patches_accept_numpy_and_lists():
    x = np.arange(12, dtype=np.float32).reshape(1, 6, 2)
    p = jaxcnn.extract_patches(x, [3], strides=[3], padding=[(0, 0)], dilation=[1])
    np.testing.assert_array_equal(np.asarray(p), [[[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]])


def test_patches_vmap_and_jit():
    x = random_arrays(2, (3, 2, 5, 4, 2))[0]
    f = jax.jit(lambda x: jaxcnn.extract_patches(x, (2, 2), padding="SAME"))
    stacked = jax.vmap(f)(x)
    assert_close(stacked, f(x), tol=0)
    assert_close(stacked, jnp.stack([f(xi) for xi in x]), tol=0)
