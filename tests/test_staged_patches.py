"""The three patch builds: direct (one slice per offset), staged (one spatial dim at a
time), phased (stride-1 slices of the input's stride phases).

``extract_patches`` and ``conv`` compute values with one build and derivatives with
another (a custom JVP): staged values when the input has 2+ spatial dims and at least
``_STAGED_MIN_CHANNELS`` channels, phased tangents when a stride is > 1. The seeded grids
in test_patches/test_conv use few channels, so this file covers the many-channel path,
the builds' bitwise equality, and forward/reverse/forward-over-reverse derivatives.
"""

from __future__ import annotations

import math
import sys

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcnn
from conftest import HIGHEST, assert_close, compare_vjp, lax_conv, lax_patches, random_arrays

TOL = 1e-5
patches_mod = sys.modules["jaxcnn.patches"]
C = patches_mod._STAGED_MIN_CHANNELS  # the smallest channel count on the staged path

# (x_shape without channels, kernel_size, geometry)
GEOMS = [
    ((2, 7, 6), (3, 3), dict(padding="SAME")),
    ((1, 9, 8), (3, 2), dict(strides=(2, 1), padding=((1, 0), (2, 1)))),
    ((2, 8, 7), (2, 3), dict(dilation=(2, 1), padding="VALID")),
    ((1, 6, 7), (3, 3), dict(strides=2, dilation=2, padding=1)),
    ((2, 5, 6), (3, 2), dict(padding="CIRCULAR", dilation=(1, 2))),
    ((1, 4, 5, 4), (2, 3, 2), dict(strides=(1, 2, 1), padding="SAME")),
    ((2, 3, 6, 5), (3, 2), dict(padding=((0, 1), (1, 0)))),  # two batch dims
    ((2, 11), (4,), dict(strides=3, dilation=2, padding=((2, 1),))),  # 1-D, stride 3
    ((1, 9, 8), (3, 3), dict(strides=(3, 2), padding="CIRCULAR")),
]
IDS = [f"g{i}" for i in range(len(GEOMS))]


def _geom(spatial, ks, kw):
    return jaxcnn.validation.geometry(spatial, ks, **kw)


@pytest.mark.parametrize("spec", GEOMS, ids=IDS)
def test_staged_equals_direct_bitwise(spec):
    lead, ks, kw = spec
    n = len(ks)
    (x,) = random_arrays(1, (*lead, C + 1))
    geom = _geom(x.shape[-n - 1:-1], ks, kw)
    direct = patches_mod._direct(x, geom)
    for build in (patches_mod._separable, patches_mod._phased):
        got = build(x, geom)
        assert got.shape == direct.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(direct))


def _value_slices(x, ks, **kw):
    """Slices in the values build of the custom JVP, or None when there is none."""
    jaxpr = jax.make_jaxpr(lambda x: jaxcnn.extract_patches(x, ks, **kw))(x)
    calls = [e for e in jaxpr.jaxpr.eqns if e.primitive.name in ("pjit", "jit")]
    cj = [e for e in calls[0].params["jaxpr"].jaxpr.eqns if e.primitive.name == "custom_jvp_call"]
    if not cj:
        return None
    values = cj[0].params["call_jaxpr"].jaxpr
    return sum(e.primitive.name == "slice" for e in values.eqns)


def test_path_choice():
    """Values: staged for many channels (sum(kernel_size) slices), else direct
    (prod(kernel_size)); tangents: phased for strides > 1; no custom JVP when both are
    the direct build (stride 1, few channels, or 1-D)."""
    x_many, x_few, x_1d = random_arrays(2, (2, 8, 8, C), (2, 8, 8, C - 1), (2, 8, C))
    assert _value_slices(x_many, (3, 3)) == 3 + 3
    assert _value_slices(x_few, (3, 3), strides=2) == 3 * 3
    assert _value_slices(x_few, (3, 3)) is None
    assert _value_slices(x_1d, (3,)) is None
    assert _value_slices(x_1d, (3,), strides=2) == 3


def _max_interior_padding(jaxpr) -> int:
    """Largest interior (stride) padding of any lax.pad in a jaxpr, sub-jaxprs included."""
    worst = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "pad":
            worst = max(worst, max(int(i) for _, _, i in eqn.params["padding_config"]))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            worst = max(worst, _max_interior_padding(sub))
    return worst


def test_phased_tangent_is_used_for_strides():
    """The backward pass of a strided extraction is the phased build's transpose: no
    interior (strided) padding in the VJP, unlike the direct build's."""
    (x,) = random_arrays(3, (2, 12, 12, 3))
    kw = dict(strides=2, padding="SAME")
    geom = jaxcnn.validation.geometry((12, 12), (5, 5), **kw)

    def vjp_jaxpr(fn):
        return jax.make_jaxpr(lambda x: jax.vjp(fn, x)[1](fn(x))[0])(x).jaxpr

    direct = vjp_jaxpr(lambda x: patches_mod._direct(x, geom))
    ours = vjp_jaxpr(lambda x: jaxcnn.extract_patches(x, (5, 5), **kw))
    assert _max_interior_padding(direct) == 1  # transpose of a stride-2 slice
    assert _max_interior_padding(ours) == 0


@pytest.mark.parametrize("spec", GEOMS, ids=IDS)
@pytest.mark.parametrize("channels", [C, 3])
def test_patches_match_lax_forward_reverse_and_jvp(spec, channels):
    lead, ks, kw = spec
    n = len(ks)
    spatial = lead[-n:]
    out = jaxcnn.output_shape(spatial, ks, **kw)
    x, ct, dx = random_arrays(3, (*lead, channels), (*lead[:-n], *out, math.prod(ks) * channels),
                              (*lead, channels))

    def ours(x):
        return jaxcnn.extract_patches(x, ks, **kw)

    def ref(x):
        return lax_patches(x, ks, **kw)

    compare_vjp(ours, ref, (x,), ct, names=("x",), tol=TOL, dtype=jnp.float32)
    _, t = jax.jvp(ours, (x,), (dx,))
    _, t_ref = jax.jvp(ref, (x,), (dx,))
    assert_close(t, t_ref, tol=TOL, name="jvp")


@pytest.mark.parametrize("spec", GEOMS, ids=IDS)
@pytest.mark.parametrize("groups", [1, 2])
def test_staged_conv_matches_lax(spec, groups):
    lead, ks, kw = spec
    n = len(ks)
    out = jaxcnn.output_shape(lead[-n:], ks, **kw)
    cout = 2 * groups
    x, k, b, ct = random_arrays(4 + groups, (*lead, C), (*ks, C // groups, cout), (cout,),
                                (*lead[:-n], *out, cout))
    compare_vjp(lambda x, k, b: jaxcnn.conv(x, k, b, groups=groups, precision=HIGHEST, **kw),
                lambda x, k, b: lax_conv(x, k, b, groups=groups, **kw), (x, k, b), ct,
                names=("x", "kernel", "bias"), tol=TOL, dtype=jnp.float32)


def test_staged_conv_forward_mode_and_hvp():
    """jvp / jacfwd / forward-over-reverse (Hessian-vector product) through a conv on the
    staged path agree with lax -- the custom JVP must not break forward mode."""
    x, k, dx, dk, v = random_arrays(7, (2, 6, 5, C), (3, 3, C, 3), (2, 6, 5, C), (3, 3, C, 3),
                                    (3, 3, C, 3))
    f = lambda x, k: jaxcnn.conv(x, k, padding="SAME", strides=(2, 1), precision=HIGHEST)  # noqa
    ref = lambda x, k: lax_conv(x, k, padding="SAME", strides=(2, 1))  # noqa: E731

    def loss(fn):
        return lambda x, k: jnp.sum(jnp.tanh(fn(x, k)))

    def hvp(fn):  # d/dk of grad_k loss, along v (forward over reverse)
        return jax.jvp(jax.grad(loss(fn), argnums=1), (x, k), (jnp.zeros_like(x), v))[1]

    @jax.jit
    def run():
        return dict(jvp=jax.jvp(f, (x, k), (dx, dk))[1], jvp_ref=jax.jvp(ref, (x, k), (dx, dk))[1],
                    hvp=hvp(f), hvp_ref=hvp(ref),
                    jacfwd=jax.jacfwd(lambda x: f(x, k)[0, 0, 0])(x),
                    jacfwd_ref=jax.jacfwd(lambda x: ref(x, k)[0, 0, 0])(x))

    r = run()
    for name in ("jvp", "hvp", "jacfwd"):
        assert_close(r[name], r[f"{name}_ref"], tol=TOL, name=name)


def test_staged_conv_vmap_over_kernels_and_no_retrace():
    x, ks = random_arrays(8, (2, 6, 6, C), (3, 2, 2, C, 4))
    f = jax.jit(jax.vmap(lambda k: jaxcnn.conv(x, k, padding="SAME", precision=HIGHEST)))
    got = f(ks)
    want = jnp.stack([lax_conv(x, k, padding="SAME") for k in ks])
    assert_close(got, want, tol=TOL, name="vmap over kernels")
    f(ks + 1.0)
    assert f._cache_size() == 1
