"""jit / vmap / grad / no-retrace / dtypes (float32, float64, bfloat16)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcnn
from conftest import (
    count_compiles,
    HIGHEST,
    assert_close,
    lax_conv,
    lax_local_conv,
    lax_patches,
    random_arrays,
)

TOL = 1e-5
GEOM = dict(strides=(2, 1), padding="SAME", dilation=(1, 2))


# ------------------------------------------------------------------- compile counting




def _conv_args(seed=0):
    return random_arrays(seed, (2, 7, 6, 4), (3, 2, 2, 6), (6,))


def test_jitted_user_function_does_not_retrace():
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(x, k, b):
        return jaxcnn.conv(x, k, b, groups=2, **GEOM)

    x, k, b = _conv_args(0)
    x2, k2, b2 = _conv_args(1)
    y1 = f(x, k, b)
    y2 = f(x2, k2, b2)  # same shapes, new values: no retrace
    assert_close(y2, lax_conv(x2, k2, b2, groups=2, **GEOM), tol=1e-4)
    assert not np.allclose(y1, y2)
    # The counter is live: a new shape must retrace, which assert_max_traces rejects.
    with pytest.raises(AssertionError):
        f(x2[:1], k2, b2)
    chex.clear_trace_counter()


@pytest.mark.parametrize("fn", ["conv", "local_conv", "extract_patches", "mlp_conv"])
def test_eager_calls_reuse_compiled_code(fn):
    """A second eager call with the same shapes (and equivalent spellings of the
    geometry) neither traces nor compiles anything; a new geometry does."""
    x, k, b = _conv_args(2)
    x2 = x + 1.0
    out = jaxcnn.output_shape((7, 6), (3, 2), **GEOM)
    lk = random_arrays(3, (*out, 3, 2, 4, 5))[0]
    layers = [(random_arrays(4, (24, 5))[0], jnp.ones(5)), (jnp.ones((5, 3)), None)]
    calls = {
        "conv": lambda x, **g: jaxcnn.conv(x, k, b, groups=2, **g),
        "local_conv": lambda x, **g: jaxcnn.local_conv(x, lk, **g),
        "extract_patches": lambda x, **g: jaxcnn.extract_patches(x, (3, 2), **g),
        "mlp_conv": lambda x, **g: jaxcnn.mlp_conv(x, layers, kernel_size=(3, 2), **g),
    }
    call = calls[fn]
    jax.block_until_ready(call(x, **GEOM))  # warm up
    with count_compiles() as events:
        y = call(x2, strides=[2, 1], padding="same", dilation=(1, np.int64(2)))
        jax.block_until_ready(y)
    assert events == [], f"second call traced/compiled: {events}"
    if fn != "local_conv":  # (a local kernel is tied to one output shape)
        with count_compiles() as events:
            jax.block_until_ready(call(x2, strides=1, padding="VALID", dilation=1))
        assert events, "the compile counter saw nothing for a new geometry"


# ------------------------------------------------------------------------ jit


def test_jit_equals_eager():
    x, k, b = _conv_args(5)
    f = jax.jit(jaxcnn.conv, static_argnames=("strides", "padding", "dilation", "groups"))
    got = f(x, k, b, groups=2, strides=(2, 1), padding="SAME", dilation=(1, 2))
    assert_close(got, jaxcnn.conv(x, k, b, groups=2, **GEOM), tol=1e-6)
    assert_close(got, lax_conv(x, k, b, groups=2, **GEOM), tol=1e-4)
    # padding pairs as a static (hashable) tuple
    g = jax.jit(lambda x: jaxcnn.extract_patches(x, (2, 2), padding=((1, 0), (0, 2))))
    assert_close(g(x), lax_patches(x, (2, 2), padding=((1, 0), (0, 2))), tol=TOL)


# ----------------------------------------------------------------------- vmap
#
# Each test computes everything inside ONE jax.jit (one XLA compile) and compares
# outside; vmap/grad semantics are the same under jit, and eager use is covered above.


def test_vmap_over_extra_leading_axis_of_x():
    xs = random_arrays(6, (3, 2, 7, 6, 4))[0]
    _, k, b = _conv_args(6)
    f = lambda x: jaxcnn.conv(x, k, b, groups=2, precision=HIGHEST, **GEOM)  # noqa: E731

    @jax.jit
    def run(xs):
        return dict(
            vmapped=jax.vmap(f)(xs),
            native=f(xs),  # two batch dims natively
            loop=jnp.stack([f(xs[i]) for i in range(xs.shape[0])]),
            ref=lax_conv(xs, k, b, groups=2, **GEOM),
            axis1=jax.vmap(f, in_axes=1, out_axes=1)(xs),  # a non-leading mapped axis
            unbatched=jax.vmap(f)(xs[0]),  # each example is unbatched (7, 6, 4)
            unbatched_native=f(xs[0]),
        )

    r = run(xs)
    assert r["vmapped"].shape == (3, 2, 4, 6, 6)
    for key in ("native", "loop", "ref"):
        assert_close(r["vmapped"], r[key], tol=TOL, name=key)
    assert_close(r["axis1"], r["native"], tol=TOL, name="in_axes=1")
    assert_close(r["unbatched"], r["unbatched_native"], tol=TOL, name="unbatched")


def test_vmap_over_kernels_and_biases():
    x, _, _ = _conv_args(7)
    ks, bs = random_arrays(7, (5, 3, 2, 2, 6), (5, 6))
    xs = random_arrays(8, (5, 7, 6, 4))[0]
    conv = lambda x, k, b: jaxcnn.conv(x, k, b, groups=2, precision=HIGHEST, **GEOM)  # noqa
    ref = lambda x, k, b: lax_conv(x, k, b, groups=2, **GEOM)  # noqa: E731

    @jax.jit
    def run(x, xs, ks, bs):
        return dict(
            kernels=jax.vmap(conv, in_axes=(None, 0, 0))(x, ks, bs),
            kernels_ref=jnp.stack([ref(x, ks[i], bs[i]) for i in range(5)]),
            # per-example kernels: x and kernel mapped together (unbatched examples)
            pairs=jax.vmap(conv, in_axes=(0, 0, None))(xs, ks, bs[0]),
            pairs_ref=jnp.stack([ref(xs[i], ks[i], bs[0]) for i in range(5)]),
        )

    r = run(x, xs, ks, bs)
    assert r["kernels"].shape == (5, 2, 4, 6, 6)
    assert_close(r["kernels"], r["kernels_ref"], tol=TOL, name="vmap over kernels")
    assert r["pairs"].shape == (5, 4, 6, 6)
    assert_close(r["pairs"], r["pairs_ref"], tol=TOL, name="vmap over (x, kernel)")


def test_vmap_local_conv_and_patches():
    x = random_arrays(9, (2, 6, 5, 3))[0]
    pad = ((1, 0), (0, 1))
    out = jaxcnn.output_shape((6, 5), (2, 3), padding=pad)
    ks, bs = random_arrays(9, (3, *out, 2, 3, 3, 4), (3, *out, 4))
    xs = random_arrays(10, (3, 2, 6, 5, 3))[0]
    local = lambda x, k, b: jaxcnn.local_conv(x, k, b, padding=pad, precision=HIGHEST)  # noqa
    patches = lambda x: jaxcnn.extract_patches(x, (2, 3), padding=pad, strides=(2, 1))  # noqa

    @jax.jit
    def run(x, xs, ks, bs):
        return dict(
            kernels=jax.vmap(local, in_axes=(None, 0, 0))(x, ks, bs),
            kernels_ref=jnp.stack([lax_local_conv(x, ks[i], bs[i], padding=pad)
                                   for i in range(3)]),
            xs=jax.vmap(local, in_axes=(0, None, None))(xs, ks[0], bs[0]),
            xs_native=local(xs, ks[0], bs[0]),
            patches=jax.vmap(patches)(xs),
            patches_ref=lax_patches(xs, (2, 3), padding=pad, strides=(2, 1)),
        )

    r = run(x, xs, ks, bs)
    assert_close(r["kernels"], r["kernels_ref"], tol=TOL, name="local: vmap over kernels")
    assert_close(r["xs"], r["xs_native"], tol=TOL, name="local: vmap over x")
    assert_close(r["patches"], r["patches_ref"], tol=TOL, name="patches: vmap over x")


# ----------------------------------------------------------------------- grad


def test_grad_forward_and_reverse_mode():
    """jacfwd == jacrev (tiny case), jvp is bilinear (d conv = conv(dx, k) + conv(x, dk)),
    and reverse mode of a nonlinear scalar loss matches lax."""
    x, k, dx, dk = random_arrays(11, (1, 5, 2), (3, 2, 2), (1, 5, 2), (3, 2, 2))
    f = lambda x, k: jaxcnn.conv(x, k, padding="CIRCULAR", strides=2, precision=HIGHEST)  # noqa
    ref = lambda x, k: lax_conv(x, k, padding="CIRCULAR", strides=2)  # noqa: E731
    loss = lambda fn: lambda x, k: jnp.sum(jnp.sin(fn(x, k)))  # noqa: E731

    @jax.jit
    def run(x, k, dx, dk):
        _, dy = jax.jvp(f, (x, k), (dx, dk))
        return dict(
            jacfwd=jax.jacfwd(f, argnums=(0, 1))(x, k),
            jacrev=jax.jacrev(f, argnums=(0, 1))(x, k),
            jac_ref=jax.jacrev(ref, argnums=(0, 1))(x, k),
            jvp=dy,
            bilinear=f(dx, k) + f(x, dk),
            grad=jax.grad(loss(f), argnums=(0, 1))(x, k),
            grad_ref=jax.grad(loss(ref), argnums=(0, 1))(x, k),
        )

    r = run(x, k, dx, dk)
    for i in range(2):
        assert_close(r["jacfwd"][i], r["jacrev"][i], tol=TOL, name="jacfwd vs jacrev")
        assert_close(r["jacrev"][i], r["jac_ref"][i], tol=TOL, name="jacobian vs lax")
        assert_close(r["grad"][i], r["grad_ref"][i], tol=TOL, name="grad vs lax")
    assert_close(r["jvp"], r["bilinear"], tol=TOL, name="jvp")


def test_grad_under_jit_and_vmap_per_example():
    """Per-example gradients (vmap of grad) equal the per-example lax gradients."""
    xs, k, b = random_arrays(12, (4, 6, 5, 4), (3, 2, 2, 6), (6,))

    def loss(k, b, x):
        return jnp.mean(jnp.tanh(jaxcnn.conv(x, k, b, groups=2, precision=HIGHEST, **GEOM)))

    def loss_ref(k, b, x):
        return jnp.mean(jnp.tanh(lax_conv(x, k, b, groups=2, **GEOM)))

    @jax.jit
    def run(k, b, xs):
        per_ex = jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(None, None, 0))(k, b, xs)
        loop = [jax.grad(loss_ref, argnums=(0, 1))(k, b, xs[i]) for i in range(xs.shape[0])]
        return per_ex, jax.tree.map(lambda *a: jnp.stack(a), *loop)

    (gk, gb), (gk_ref, gb_ref) = run(k, b, xs)
    assert gk.shape == (4, *k.shape) and gb.shape == (4, 6)
    assert_close(gk, gk_ref, tol=TOL, name="per-example d/dkernel")
    assert_close(gb, gb_ref, tol=TOL, name="per-example d/dbias")


# ---------------------------------------------------------------------- dtypes


def _enable_x64():
    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:  # older JAX
        from jax.experimental import enable_x64 as ctx
    return ctx(True)


def test_float64():
    pad = ((1, 0), (0, 0))
    with _enable_x64():
        x, k, b, lk = random_arrays(13, (2, 6, 5, 4), (3, 2, 2, 6), (6,), (5, 4, 3, 2, 4, 3),
                                    dtype=jnp.float64)
        assert x.dtype == jnp.float64
        sq = lambda f: lambda k: jnp.sum(f(k) ** 2)  # noqa: E731

        @jax.jit
        def run(x, k, b, lk):
            return dict(
                conv=jaxcnn.conv(x, k, b, groups=2, padding=pad),
                conv_ref=lax_conv(x, k, b, groups=2, padding=pad),
                grad=jax.grad(sq(lambda k: jaxcnn.conv(x, k, groups=2, padding="CIRCULAR")))(k),
                grad_ref=jax.grad(sq(lambda k: lax_conv(x, k, groups=2, padding="CIRCULAR")))(k),
                local=jaxcnn.local_conv(x, lk, padding=pad),
                local_ref=lax_local_conv(x, lk, padding=pad),
                patches=jaxcnn.extract_patches(x, (2, 2), strides=2, padding="SAME"),
                patches_ref=lax_patches(x, (2, 2), strides=2, padding="SAME"),
            )

        r = run(x, k, b, lk)
        for key in ("conv", "grad", "local", "patches"):
            assert r[key].dtype == jnp.float64, key
            assert_close(r[key], r[key + "_ref"], tol=1e-12, name=key)
        # eager too (the internal jit caches are keyed on the x64 flag)
        y = jaxcnn.conv(x, k, b, groups=2, padding=pad)
        assert y.dtype == jnp.float64
        assert_close(y, r["conv_ref"], tol=1e-12, name="eager f64")
    # x64 is off again afterwards, and float32 still works
    assert jnp.zeros(1).dtype == jnp.float32
    x32, k32 = random_arrays(13, (2, 6, 5, 4), (3, 2, 2, 6))
    assert jaxcnn.conv(x32, k32, groups=2, padding=pad).dtype == jnp.float32


def test_float32_default_dtype():
    x, k, b = _conv_args(14)
    assert jaxcnn.conv(x, k, b, groups=2).dtype == jnp.float32
    assert jaxcnn.extract_patches(x, (2, 2)).dtype == jnp.float32


def test_bfloat16_against_float32():
    x, k, b, lk = random_arrays(15, (2, 7, 6, 4), (3, 2, 2, 6), (6,), (4, 6, 3, 2, 4, 3))
    xb, kb, bb, lkb = (a.astype(jnp.bfloat16) for a in (x, k, b, lk))
    up = lambda a: a.astype(jnp.float32)  # noqa: E731  (same rounded inputs in f32)

    @jax.jit
    def run(xb, kb, bb, lkb):
        loss = lambda k: jnp.sum(jaxcnn.conv(xb, k, groups=2, **GEOM).astype(jnp.float32))  # noqa
        loss_ref = lambda k: jnp.sum(lax_conv(up(xb), k, groups=2, **GEOM))  # noqa: E731
        return dict(
            conv=jaxcnn.conv(xb, kb, bb, groups=2, **GEOM),
            conv_ref=lax_conv(up(xb), up(kb), up(bb), groups=2, **GEOM),
            local=jaxcnn.local_conv(xb, lkb, **GEOM),
            local_ref=lax_local_conv(up(xb), up(lkb), **GEOM),
            patches=jaxcnn.extract_patches(xb, (3, 2), **GEOM),
            patches_ref=lax_patches(up(xb), (3, 2), **GEOM),
            grad=jax.grad(loss)(kb),
            grad_ref=jax.grad(loss_ref)(up(kb)),
        )

    r = run(xb, kb, bb, lkb)
    for key in ("conv", "local", "patches", "grad"):
        assert r[key].dtype == jnp.bfloat16, key
        tol = 0 if key == "patches" else 2e-2  # patches are exact data movement
        assert_close(up(r[key]), r[key + "_ref"], tol=tol, name=key)
