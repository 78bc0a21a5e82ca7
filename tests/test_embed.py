"""Tests for jaxcnn.embed: CNN ⊂ LCN ⊂ FC as exact dense matrices, and the projections back.

References: ``jaxcnn.conv`` / ``jaxcnn.local_conv`` and, independently,
``lax.conv_general_dilated`` / ``lax.conv_general_dilated_patches`` at HIGHEST
precision; projections against ``np.linalg.lstsq`` on an explicitly built matrix.
"""

from __future__ import annotations

import functools
import math
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcnn import validation
from jaxcnn.conv import conv, local_conv
from jaxcnn.embed import (conv_to_dense, conv_to_local, dense_to_conv, dense_to_local,
                          local_to_conv, local_to_dense, locality_mask)

HI = lax.Precision.HIGHEST
RTOL = 1e-5


# ------------------------------------------------------------------------ cases


def _make_cases(num: int, seed: int = 20240601):
    """A seeded grid over 1-D/2-D/3-D, strides 1-3, dilation 1-2, all padding kinds, groups 1/2."""
    rng = np.random.RandomState(seed)
    cases = []
    while len(cases) < num:
        n = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
        hi = {1: 9, 2: 6, 3: 4}[n]
        spatial = tuple(int(v) for v in rng.randint(3, hi + 1, size=n))
        ks = tuple(int(v) for v in rng.randint(1, 4, size=n))
        strides = tuple(int(v) for v in rng.randint(1, 4, size=n))
        dilation = int(rng.randint(1, 3))
        kind = ["VALID", "SAME", "CIRCULAR", "int", "pairs"][len(cases) % 5]
        if kind == "int":
            padding = int(rng.randint(0, 3))
        elif kind == "pairs":
            padding = tuple((int(a), int(b)) for a, b in rng.randint(0, 3, size=(n, 2)))
        else:
            padding = kind
        groups = int(rng.choice([1, 2]))
        c_in = int(rng.choice([2, 4])) if groups == 2 else int(rng.randint(1, 4))
        c_out = int(rng.choice([2, 4])) if groups == 2 else int(rng.randint(1, 4))
        try:
            validation.geometry(spatial, ks, strides=strides, padding=padding, dilation=dilation)
        except ValueError:
            continue
        cases.append(dict(in_shape=(*spatial, c_in), ks=ks, c_out=c_out, strides=strides,
                          padding=padding, dilation=dilation, groups=groups))
    return cases


# Hand-picked: CIRCULAR windows larger than the input (aliased taps), all-padding taps.
SPECIAL = [
    dict(in_shape=(3, 2), ks=(5,), c_out=2, strides=1, padding="CIRCULAR", dilation=1, groups=1),
    dict(in_shape=(4, 2), ks=(3,), c_out=2, strides=1, padding="CIRCULAR", dilation=2, groups=2),
    dict(in_shape=(2, 3, 1), ks=(3, 2), c_out=2, strides=(1, 2), padding="CIRCULAR",
         dilation=(1, 3), groups=1),
    dict(in_shape=(3, 2), ks=(3,), c_out=1, strides=1, padding=3, dilation=1, groups=1),
    dict(in_shape=(2, 2, 2), ks=(3, 3), c_out=2, strides=2, padding=((2, 2), (0, 3)),
         dilation=1, groups=1),
]

RANDOM = _make_cases(16)
CASES = RANDOM + SPECIAL


def _id(c):
    pad = c["padding"]
    pad = pad if isinstance(pad, (str, int)) else "p" + "".join(f"{a}{b}" for a, b in pad)
    return (f"in{'x'.join(map(str, c['in_shape']))}-k{'x'.join(map(str, c['ks']))}-o{c['c_out']}"
            f"-s{c['strides']}-{pad}-d{c['dilation']}-g{c['groups']}").replace(" ", "")


def _kw(c, groups=True):
    kw = dict(strides=c["strides"], padding=c["padding"], dilation=c["dilation"])
    if groups:
        kw["groups"] = c["groups"]
    return kw


def _geom(c):
    return validation.geometry(c["in_shape"][:-1], c["ks"], **_kw(c, groups=False))


# Data come from a seeded NumPy generator: no per-shape compilation of jax.random.


def _rng(c, salt=0):
    return np.random.default_rng(zlib.crc32(f"{_id(c)}/{salt}".encode()))


def _normal(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _kernel(c, rng):
    cin = c["in_shape"][-1] // c["groups"]
    return _normal(rng, (*c["ks"], cin, c["c_out"]))


def _local_kernel(c, rng):
    g = _geom(c)
    return _normal(rng, (*g.out_spatial, *c["ks"], c["in_shape"][-1], c["c_out"]))


def _dense(c, rng):
    g = _geom(c)
    return _normal(rng, (math.prod(c["in_shape"]), math.prod(g.out_spatial) * c["c_out"]))


def _aliased(c):
    g = _geom(c)
    return g.wrap and any((k - 1) * d + 1 > s for k, d, s in
                          zip(g.kernel_size, g.dilation, g.in_spatial))


def _tap_mask(c):
    """(*ks) bool: taps that read real input at some position, and (*out, *ks) per position."""
    g = _geom(c)
    per_dim = []
    for size, k, s, d, (lo, _), m in zip(g.in_spatial, g.kernel_size, g.strides, g.dilation,
                                         g.pads, g.out_spatial):
        pos = np.arange(m)[:, None] * s + np.arange(k)[None, :] * d - lo
        per_dim.append(np.ones_like(pos, bool) if g.wrap else (pos >= 0) & (pos < size))
    local = per_dim[0]
    for md in per_dim[1:]:
        n_done = local.ndim // 2
        a = local.reshape(*local.shape[:n_done], 1, *local.shape[n_done:], 1)
        local = a & md.reshape((1,) * n_done + md.shape[:1] + (1,) * n_done + md.shape[1:])
    n = g.ndim
    return local.any(axis=tuple(range(n))), local


# ----------------------------------------------------------------- references
# Jitted with static geometry so that each reference compiles once per case.


def _spec(n):
    sp = "DHW"[3 - n:]
    return (f"N{sp}C", f"{sp}IO", f"N{sp}C")


def _pad_for_lax(x, g):
    if g.wrap:  # lax has no circular padding: wrap explicitly, then VALID
        return jnp.pad(x, [(0, 0)] + list(g.pads) + [(0, 0)], mode="wrap"), [(0, 0)] * g.ndim
    return x, list(g.pads)


@functools.partial(jax.jit, static_argnames=("g", "groups"))
def _lax_conv_jit(x, k, g, groups):
    x, pads = _pad_for_lax(x, g)
    return lax.conv_general_dilated(x, k, g.strides, pads, rhs_dilation=g.dilation,
                                    dimension_numbers=_spec(g.ndim),
                                    feature_group_count=groups, precision=HI)


@functools.partial(jax.jit, static_argnames=("g",))
def _lax_local_jit(x, lk, g):
    """Local conv from lax's identity-kernel patches (channel-major) at HIGHEST precision."""
    x, pads = _pad_for_lax(x, g)
    p = lax.conv_general_dilated_patches(x, g.kernel_size, g.strides, pads,
                                         rhs_dilation=g.dilation,
                                         dimension_numbers=_spec(g.ndim), precision=HI)
    cin = x.shape[-1]
    p = jnp.swapaxes(p.reshape(*p.shape[:-1], cin, g.window), -1, -2)
    lk = lk.reshape(*g.out_spatial, g.window, cin, lk.shape[-1])
    return jnp.einsum("...kc,...kco->...o", p, lk, precision=HI)


def _lax_conv(x, k, c):
    return _lax_conv_jit(x, k, _geom(c), c["groups"])


def _lax_local(x, lk, c):
    return _lax_local_jit(x, lk, _geom(c))


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def _flat_matmul(x, W):
    return np.asarray(x, np.float64).reshape(x.shape[0], -1) @ np.asarray(W, np.float64)


def _explicit_A(c, local: bool):
    """Brute force, in NumPy loops: column j = vec(dense matrix) of the j-th one-hot kernel.

    Input index of tap ``o`` at output ``p``: ``p*stride + o*dilation - pad_low`` per dim
    (mod the input size for CIRCULAR; skipped when it falls on zero padding).
    """
    g = _geom(c)
    in_shape, c_out, groups = c["in_shape"], c["c_out"], c["groups"]
    c_in = in_shape[-1]
    cig, cog = c_in // groups, c_out // groups
    P = math.prod(g.out_spatial)
    if local:
        shape = (*g.out_spatial, *g.kernel_size, c_in, c_out)
    else:
        shape = (*g.kernel_size, cig, c_out)
    A = np.zeros((math.prod(in_shape), P * c_out, math.prod(shape)))
    for p in np.ndindex(*g.out_spatial):
        for o in np.ndindex(*g.kernel_size):
            i = []
            for pd, od, s, d, (lo, _), size in zip(p, o, g.strides, g.dilation, g.pads,
                                                  g.in_spatial):
                pos = pd * s + od * d - lo
                i.append(pos % size if g.wrap else pos)
            if not all(0 <= v < size for v, size in zip(i, g.in_spatial)):
                continue
            for ci in range(c_in):
                for co in range(c_out):
                    row = np.ravel_multi_index((*i, ci), in_shape)
                    col = np.ravel_multi_index((*p, co), (*g.out_spatial, c_out))
                    if local:
                        j = np.ravel_multi_index((*p, *o, ci, co), shape)
                    elif ci // cig == co // cog:
                        j = np.ravel_multi_index((*o, ci % cig, co), shape)
                    else:
                        continue
                    A[row, col, j] += 1.0
    return A.reshape(-1, A.shape[-1]), shape


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("c", CASES, ids=_id)
def test_conv_embedding_and_projection(c):
    rng = _rng(c)
    k, W, k2 = _kernel(c, rng), _dense(c, rng), _kernel(c, rng)
    in_shape, kw = c["in_shape"], _kw(c)
    x = _normal(rng, (3, *in_shape))
    A = conv_to_dense(k, in_shape, **kw)
    g = _geom(c)
    assert A.shape == (math.prod(in_shape), math.prod(g.out_spatial) * c["c_out"])
    assert A.dtype == jnp.float32
    A = np.asarray(A)

    # exactness against jaxcnn.conv and lax
    y = _flat_matmul(x, A)
    assert _rel(y, conv(x, k, **kw, precision=HI).reshape(3, -1)) <= RTOL
    assert _rel(y, _lax_conv(x, k, c).reshape(3, -1)) <= RTOL
    if not _aliased(c):  # every entry is a bit-exact copy of a weight, or zero
        assert np.all(np.isin(A[A != 0], k))

    # support = the locality mask for a generic kernel; analytic count for VALID
    mask = np.asarray(locality_mask(in_shape, c["ks"], out_channels=c["c_out"], **kw))
    assert mask.shape == A.shape and mask.dtype == bool
    np.testing.assert_array_equal(A != 0, mask)
    if c["padding"] == "VALID":
        assert mask.sum() == (math.prod(g.out_spatial) * g.window * in_shape[-1] * c["c_out"]
                              // c["groups"])

    # round trip: dense_to_conv(conv_to_dense(k)) == k where every tap touches input
    kr = np.asarray(dense_to_conv(A, in_shape, c["ks"], **kw))
    assert kr.shape == k.shape
    if _aliased(c):
        assert _rel(conv_to_dense(kr, in_shape, **kw), A) <= RTOL
    else:  # bit for bit: the mean of equal tied entries is taken as r + mean(x - r)
        taps = _tap_mask(c)[0][..., None, None]
        np.testing.assert_array_equal(kr, np.where(taps, k, 0.0))

    # the projector P = A(AᵀA)⁺Aᵀ: idempotent, residual orthogonal to every conv
    PW = conv_to_dense(dense_to_conv(W, in_shape, c["ks"], **kw), in_shape, **kw)
    PPW = conv_to_dense(dense_to_conv(PW, in_shape, c["ks"], **kw), in_shape, **kw)
    assert _rel(PPW, PW) <= RTOL
    B = np.asarray(conv_to_dense(k2, in_shape, **kw), np.float64)
    R = np.asarray(W, np.float64) - np.asarray(PW, np.float64)
    assert abs(np.sum(R * B)) <= 1e-5 * np.linalg.norm(W) * np.linalg.norm(B)


LOCAL_CASES = RANDOM[::2] + SPECIAL


@pytest.mark.parametrize("c", LOCAL_CASES, ids=_id)
def test_local_embedding_and_projection(c):
    rng = _rng(c, 1)
    L, W, L2 = _local_kernel(c, rng), _dense(c, rng), _local_kernel(c, rng)
    in_shape, kw = c["in_shape"], _kw(c, groups=False)
    x = _normal(rng, (3, *in_shape))
    B = np.asarray(local_to_dense(L, in_shape, **kw))
    y = _flat_matmul(x, B)
    assert _rel(y, local_conv(x, L, **kw, precision=HI).reshape(3, -1)) <= RTOL
    assert _rel(y, _lax_local(x, L, c).reshape(3, -1)) <= RTOL

    # support = the mask of the (ungrouped) layer
    mask = np.asarray(locality_mask(in_shape, c["ks"], out_channels=c["c_out"], **kw))
    np.testing.assert_array_equal(B != 0, mask)

    # round trip with entries on padding zeroed first
    Lr = np.asarray(dense_to_local(B, in_shape, c["ks"], **kw))
    assert Lr.shape == L.shape
    PW = np.asarray(local_to_dense(dense_to_local(W, in_shape, c["ks"], **kw), in_shape, **kw))
    if _aliased(c):
        assert _rel(local_to_dense(Lr, in_shape, **kw), B) <= RTOL
    else:
        per_pos = _tap_mask(c)[1][..., None, None]
        np.testing.assert_array_equal(Lr, np.where(per_pos, L, 0.0))  # exact restriction
        np.testing.assert_array_equal(PW, np.where(mask, W, 0.0))  # the projector is the mask

    PPW = local_to_dense(dense_to_local(PW, in_shape, c["ks"], **kw), in_shape, **kw)
    assert _rel(PPW, PW) <= RTOL
    B2 = np.asarray(local_to_dense(L2, in_shape, **kw), np.float64)
    R = np.asarray(W, np.float64) - np.asarray(PW, np.float64)
    assert abs(np.sum(R * B2)) <= 1e-5 * np.linalg.norm(W) * np.linalg.norm(B2)


@pytest.mark.parametrize("c", RANDOM[1::5] + SPECIAL[:3], ids=_id)
def test_conv_local_round_trip(c):
    rng = _rng(c, 2)
    k, L = _kernel(c, rng), _local_kernel(c, rng)
    in_shape = c["in_shape"]
    Lk = conv_to_local(k, in_shape, **_kw(c))
    assert Lk.shape == L.shape
    x = _normal(rng, (2, *in_shape))
    assert _rel(local_conv(x, Lk, **_kw(c, False), precision=HI),
                conv(x, k, **_kw(c), precision=HI)) <= RTOL
    np.testing.assert_array_equal(local_to_dense(Lk, in_shape, **_kw(c, False)),
                                  conv_to_dense(k, in_shape, **_kw(c)))
    kr = local_to_conv(Lk, in_shape, **_kw(c))
    if not _aliased(c):  # bit for bit, as for dense_to_conv
        taps = _tap_mask(c)[0][..., None, None]
        np.testing.assert_array_equal(kr, np.where(taps, k, 0.0))
    # local_to_conv is the projection of the LCN's dense matrix onto the convs
    ref = dense_to_conv(local_to_dense(L, in_shape, **_kw(c, False)), in_shape, c["ks"], **_kw(c))
    np.testing.assert_allclose(local_to_conv(L, in_shape, **_kw(c)), ref, rtol=1e-5, atol=1e-5)


LSTSQ_CASES = SPECIAL[:3] + [
    dict(in_shape=(5, 2), ks=(3,), c_out=2, strides=2, padding="SAME", dilation=1, groups=1),
    dict(in_shape=(3, 4, 2), ks=(2, 3), c_out=2, strides=(1, 2), padding=1, dilation=1,
         groups=2),
    dict(in_shape=(2, 3, 2, 1), ks=(2, 2, 2), c_out=1, strides=1, padding="CIRCULAR",
         dilation=(2, 1, 2), groups=1),
]


@pytest.mark.parametrize("c", LSTSQ_CASES, ids=_id)
def test_projections_match_lstsq(c):
    W = _dense(c, _rng(c, 3))
    w = np.asarray(W, np.float64).reshape(-1)
    A, shape = _explicit_A(c, local=False)
    k_ls = np.linalg.lstsq(A, w, rcond=None)[0].reshape(shape)
    np.testing.assert_allclose(dense_to_conv(W, c["in_shape"], c["ks"], **_kw(c)), k_ls,
                               rtol=1e-4, atol=1e-5)
    A, shape = _explicit_A(c, local=True)
    L_ls = np.linalg.lstsq(A, w, rcond=None)[0].reshape(shape)
    np.testing.assert_allclose(dense_to_local(W, c["in_shape"], c["ks"], **_kw(c, False)), L_ls,
                               rtol=1e-4, atol=1e-5)


def test_aliased_gram_is_not_diagonal():
    # in=3, window 5, CIRCULAR: taps 0 and 3 (and 1 and 4) read the same input.
    c = SPECIAL[0]
    k = jnp.arange(1.0, 11.0).reshape(5, 1, 2)
    k = jnp.concatenate([k, k], axis=1)  # (5, 2, 2)
    A = conv_to_dense(k, (3, 2), padding="CIRCULAR")
    kr = dense_to_conv(A, (3, 2), (5,), padding="CIRCULAR")
    # minimum-norm: aliased taps share their sum equally
    np.testing.assert_allclose(kr[0], (k[0] + k[3]) / 2, rtol=1e-6)
    np.testing.assert_allclose(kr[4], (k[1] + k[4]) / 2, rtol=1e-6)
    np.testing.assert_allclose(kr[2], k[2], rtol=1e-6)
    np.testing.assert_allclose(conv_to_dense(kr, (3, 2), padding="CIRCULAR"), A, rtol=1e-6)
    del c


def test_mean_of_tied_entries():
    # 1-D, 1 channel, VALID: the projection is the mean along each diagonal band.
    W = jnp.arange(30.0).reshape(6, 5) ** 1.5  # in 6, out 4*... -> kernel 3 gives out 4
    W = W[:, :4]
    k = dense_to_conv(W, (6, 1), (3,))
    Wn = np.asarray(W)
    expect = [np.mean([Wn[p + o, p] for p in range(4)]) for o in range(3)]
    np.testing.assert_allclose(k[:, 0, 0], expect, rtol=1e-6)


def test_jit_vmap_grad_and_dtypes():
    c = dict(in_shape=(6, 5, 2), ks=(3, 2), c_out=4, strides=(2, 1), padding="SAME",
             dilation=(1, 2), groups=1)
    in_shape, kw = c["in_shape"], _kw(c)
    rng = np.random.default_rng(0)
    k = _kernel(c, rng)
    f = jax.jit(lambda k: conv_to_dense(k, in_shape, **kw))
    A = np.asarray(conv_to_dense(k, in_shape, **kw))
    np.testing.assert_array_equal(f(k), A)
    np.testing.assert_array_equal(jax.vmap(f)(np.stack([k, 2 * k]))[1], 2 * A)
    # the embedding is linear; its adjoint (the gradient of <A k, W>) is Aᵀ W
    W = _dense(c, rng)
    gk = jax.grad(lambda k: jnp.sum(f(k) * W))(k)
    A_explicit, _ = _explicit_A(c, local=False)
    np.testing.assert_allclose(np.asarray(gk).ravel(), A_explicit.T @ W.ravel().astype(np.float64),
                               rtol=1e-5, atol=1e-5)
    gW = jax.grad(lambda W: jnp.sum(dense_to_conv(W, in_shape, c["ks"], **kw) ** 2))(W)
    assert gW.shape == W.shape and np.isfinite(np.asarray(gW)).all()
    # bf16 stays bf16 and exact; ints embed exactly (projections promote to float)
    Ab = conv_to_dense(k.astype(jnp.bfloat16), in_shape, **kw)
    assert Ab.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(Ab, np.float32),
                                  conv_to_dense(np.asarray(k.astype(jnp.bfloat16), np.float32),
                                                in_shape, **kw))
    ki = np.arange(k.size, dtype=np.int32).reshape(k.shape)
    Ai = conv_to_dense(ki, in_shape, **kw)
    assert Ai.dtype == jnp.int32
    np.testing.assert_array_equal(Ai, conv_to_dense(ki.astype(np.float32), in_shape, **kw))
    assert dense_to_conv(Ai, in_shape, c["ks"], **kw).dtype == jnp.float32


def test_eager_calls_do_not_recompile():
    from jaxcnn.embed import conv_dense
    k = np.ones((3, 2, 2), np.float32)
    conv_to_dense(k, (7, 2), padding="SAME")
    before = conv_dense._conv_to_dense._cache_size()
    for _ in range(3):
        conv_to_dense(k + 1, (7, 2), padding="SAME")
    assert conv_dense._conv_to_dense._cache_size() == before


def test_errors():
    k = jnp.ones((3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"kernel: expected shape \(\*kernel_size"):
        conv_to_dense(jnp.ones((3, 2, 4)), (8, 8, 2))
    with pytest.raises(ValueError, match="in_shape: expected"):
        conv_to_dense(k, (8,))
    with pytest.raises(ValueError, match="groups: expected a divisor of the input channels"):
        conv_to_dense(jnp.ones((3, 3, 1, 4)), (8, 8, 3), groups=3 - 1)
    with pytest.raises(ValueError, match="kernel: expected .*C_in // groups = 1"):
        conv_to_dense(k, (8, 8, 2), groups=2)
    with pytest.raises(ValueError, match="padding: expected"):
        conv_to_dense(k, (8, 8, 2), padding="FULL")
    with pytest.raises(ValueError, match="kernel_size: expected a dilated window"):
        conv_to_dense(k, (2, 2, 2))
    with pytest.raises(ValueError, match="strides: expected"):
        conv_to_dense(k, (8, 8, 2), strides=(1, 2, 3))
    # local kernels
    with pytest.raises(ValueError, match=r"kernel: expected shape \(6, 6, 3, 3, 2, 4\)"):
        local_to_dense(jnp.ones((5, 5, 3, 3, 2, 4)), (8, 8, 2))
    with pytest.raises(ValueError, match="kernel: expected shape .*ndim 6"):
        local_to_dense(k, (8, 8, 2))
    with pytest.raises(ValueError, match=r"kernel: expected shape \(6, 6, 3, 3, 2, 4\)"):
        local_to_conv(jnp.ones((6, 6, 3, 3, 3, 4)), (8, 8, 2))
    # dense weights
    W = jnp.ones((128, 6 * 6 * 4))
    assert dense_to_conv(W, (8, 8, 2), (3, 3)).shape == (3, 3, 2, 4)
    with pytest.raises(ValueError, match=r"W: expected shape \(prod\(in_shape\)=128"):
        dense_to_conv(jnp.ones((100, 144)), (8, 8, 2), (3, 3))
    with pytest.raises(ValueError, match=r"W: expected .*36\*C_out"):
        dense_to_conv(jnp.ones((128, 145)), (8, 8, 2), (3, 3))
    with pytest.raises(ValueError, match="W: expected a 2-D"):
        dense_to_local(jnp.ones((128,)), (8, 8, 2), (3, 3))
    with pytest.raises(ValueError, match="kernel_size: expected 2 ints"):
        dense_to_local(W, (8, 8, 2), (3,))
    with pytest.raises(ValueError, match="groups: expected a divisor of the kernel's output"):
        dense_to_conv(jnp.ones((128, 36 * 3)), (8, 8, 2), (3, 3), groups=2)
    with pytest.raises(ValueError, match="groups: expected a positive int"):
        dense_to_conv(W, (8, 8, 2), (3, 3), groups=0)
    with pytest.raises(ValueError, match="out_channels: expected an int >= 1, got 0"):
        locality_mask((8, 8, 2), (3, 3), out_channels=0)
    with pytest.raises(ValueError, match="groups: expected a divisor of the input"):
        locality_mask((8, 8, 3), (3, 3), out_channels=4, groups=2)
    with pytest.raises(ValueError, match="dilation: expected"):
        locality_mask((8, 8, 3), (3, 3), dilation=0)


@pytest.mark.slow
def test_sfc_first_layer():
    """S-FC's first layer: 32x32x3 -> 9x9x3x64 stride 2 SAME -> 16x16x64 (50M entries)."""
    k = np.random.default_rng(0).standard_normal((9, 9, 3, 64)).astype(np.float32)
    t0 = time.perf_counter()
    W = conv_to_dense(k, (32, 32, 3), strides=2, padding="SAME").block_until_ready()
    elapsed = time.perf_counter() - t0
    assert W.shape == (3072, 16384)
    assert elapsed < 30, elapsed  # ~1 s on 2 CPU cores; generous bound for loaded CI
    Wn, kn = np.asarray(W).reshape(32, 32, 3, 16, 16, 64), np.asarray(k)
    # column at output (row, col, ch): the kernel placed at (2*row - 3, 2*col - 3), cut to input
    for (r, s, e) in [(0, 0, 0), (5, 9, 17), (15, 15, 63), (7, 0, 31)]:
        expect = np.zeros((32, 32, 3), np.float32)
        for a in range(9):
            for b in range(9):
                i, j = 2 * r - 3 + a, 2 * s - 3 + b
                if 0 <= i < 32 and 0 <= j < 32:
                    expect[i, j] = kn[a, b, :, e]
        np.testing.assert_array_equal(Wn[:, :, :, r, s, e], expect)
    x = np.random.default_rng(1).standard_normal((2, 32, 32, 3)).astype(np.float32)
    y = lax.conv_general_dilated(x, k, (2, 2), "SAME", dimension_numbers=_spec(2), precision=HI)
    assert _rel(_flat_matmul(x, Wn.reshape(3072, -1)), y.reshape(2, -1)) <= RTOL
    mask = locality_mask((32, 32, 3), (9, 9), out_channels=64, strides=2, padding="SAME")
    np.testing.assert_array_equal(np.asarray(mask), Wn.reshape(3072, -1) != 0)


# A trained layer's kernel: float32 weights of mixed magnitudes (before this test the
# round trip missed by up to 8.9e-8, the float32 mean of P equal tied entries).
TRAINED_LIKE = [
    dict(in_shape=(28, 28, 1), ks=(5, 5), c_out=16, strides=1, padding="SAME"),
    dict(in_shape=(32, 32, 3), ks=(9, 9), c_out=4, strides=2, padding="SAME"),
    dict(in_shape=(40, 1), ks=(5,), c_out=8, strides=1, padding="VALID"),
    dict(in_shape=(12, 12, 2), ks=(3, 3), c_out=4, strides=1, padding="CIRCULAR"),
]


@pytest.mark.parametrize("c", TRAINED_LIKE, ids=lambda c: "x".join(map(str, c["in_shape"])))
def test_round_trip_is_bit_exact_on_a_trained_like_kernel(c):
    rng = np.random.default_rng(7)
    shape = (*c["ks"], c["in_shape"][-1], c["c_out"])
    k = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 0, shape)).astype(np.float32)
    kw = dict(strides=c["strides"], padding=c["padding"])
    W = conv_to_dense(k, c["in_shape"], **kw)
    # Tolerance 0: every kernel weight comes back bit for bit (any error, even 1 ulp, fails).
    np.testing.assert_array_equal(dense_to_conv(W, c["in_shape"], c["ks"], **kw), k)
    np.testing.assert_array_equal(local_to_conv(conv_to_local(k, c["in_shape"], **kw),
                                                c["in_shape"], **kw), k)
    kb = k.astype(jnp.bfloat16)
    Wb = conv_to_dense(kb, c["in_shape"], **kw)
    assert dense_to_conv(Wb, c["in_shape"], c["ks"], **kw).dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(dense_to_conv(Wb, c["in_shape"], c["ks"], **kw),
                                             np.float32), np.asarray(kb, np.float32))
    # Unequal tied entries: still their mean, to float32 rounding of the float64 mean.
    W2 = np.asarray(W) + np.where(np.asarray(W) != 0, 1e-3, 0.0).astype(np.float32) * \
        rng.standard_normal(W.shape).astype(np.float32)
    k2 = np.asarray(dense_to_conv(W2, c["in_shape"], c["ks"], **kw), np.float64)
    g = validation.geometry(c["in_shape"][:-1], c["ks"], **kw)
    expect = _mean_tied_float64(W2, c["in_shape"], g)
    np.testing.assert_allclose(k2, expect, rtol=0, atol=4 * np.spacing(np.float32(1.0)))


def _mean_tied_float64(W, in_shape, g):
    """The mean of the tied entries of each kernel weight, in float64, by explicit loops."""
    n = len(g.kernel_size)
    w = np.asarray(W, np.float64).reshape(*in_shape, *g.out_spatial, -1)
    out = np.zeros((*g.kernel_size, in_shape[-1], w.shape[-1]))
    count = np.zeros(g.kernel_size)
    for o in np.ndindex(*g.kernel_size):
        for p in np.ndindex(*g.out_spatial):
            i = [p[d] * g.strides[d] + o[d] * g.dilation[d] - g.pads[d][0] for d in range(n)]
            if g.wrap:
                i = [i[d] % in_shape[d] for d in range(n)]
            elif any(not 0 <= i[d] < in_shape[d] for d in range(n)):
                continue
            out[o] += w[(*i, slice(None), *p, slice(None))]
            count[o] += 1
    return out / np.maximum(count, 1)[..., None, None]


def test_projections_propagate_non_finite_entries():
    # A NaN or inf anywhere in W (on the conv pattern or off it) makes its channel pair NaN
    # at every tap: a broken weight never hides behind a finite kernel.
    k = np.ones((3, 2, 2), np.float32)
    A = np.asarray(conv_to_dense(k, (10, 2)))
    for row, col, bad in [(0, 1, np.nan), (9, 0, np.inf), (5, 2, -np.inf)]:
        W = A.copy()
        W[row, col] = bad  # rows (input, C_in), cols (position, C_out); (9, 0) is off the pattern
        kr = np.asarray(dense_to_conv(W, (10, 2), (3,)))
        c_in, c_out = row % 2, col % 2
        assert np.isnan(kr[:, c_in, c_out]).all()
        others = np.ones((2, 2), bool)
        others[c_in, c_out] = False
        np.testing.assert_array_equal(kr[:, others], 1.0)
    L = np.array(conv_to_local(k, (10, 2)))
    L[3, 1, 0, 1] = np.nan
    kl = np.asarray(local_to_conv(L, (10, 2)))
    assert np.isnan(kl[:, 0, 1]).all() and np.isfinite(kl[:, 1]).all()


def test_projection_gradient_is_the_adjoint():
    # <dense_to_conv(W), K> = <W, A G⁻¹ K>: the gradient in W is A (K / tap counts).
    c = dict(in_shape=(6, 5, 2), ks=(3, 2), c_out=3, strides=(2, 1), padding="SAME",
             dilation=(1, 2), groups=1)
    in_shape, kw = c["in_shape"], _kw(c)
    rng = np.random.default_rng(3)
    W, K = _dense(c, rng), _kernel(c, rng)
    gW = jax.grad(lambda W: jnp.sum(dense_to_conv(W, in_shape, c["ks"], **kw) * K))(W)
    A, _ = _explicit_A(c, local=False)
    A = A.reshape(-1, A.shape[-1])
    gram = np.diag(A.T @ A)  # tap counts (G is diagonal here)
    expect = A @ np.where(gram > 0, K.ravel() / np.where(gram > 0, gram, 1), 0.0)
    np.testing.assert_allclose(np.asarray(gW).ravel(), expect, rtol=1e-5, atol=1e-6)
