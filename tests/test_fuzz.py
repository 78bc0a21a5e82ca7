"""Fuzzing the argument checking of the public functions (hypothesis).

Every drawn combination of shapes, strides, padding, dilation, groups, bias and
kernel either computes exactly what ``lax`` computes or raises ``ValueError`` with a
message ``"<argument>: expected <...>, got <...>"``. Any other exception (a
``TypeError``, a ``ZeroDivisionError``, an error from inside XLA) or an output shape
different from the reference fails the test.

The expected outcome is decided *independently* of jaxcnn's ``_shapes``:

* validity by the contract of docs/design.md (positive int strides/dilation, one per spatial
  dim; padding ``VALID``/``SAME``/``CIRCULAR`` in any case, a non-negative int or one
  non-negative ``(low, high)`` pair per dim; ``groups`` a positive int dividing both
  channel counts; kernel and bias shapes as documented) is re-implemented here;
* the output shape is ``jax.eval_shape`` of ``lax.conv_general_dilated`` (and of
  ``lax.conv_general_dilated_patches`` / ``_local``) with channels-last dimension
  numbers; CIRCULAR is Flax's rule (``jnp.pad(mode="wrap")`` by
  ``((k_eff - 1) // 2, k_eff // 2)``, then VALID). A window larger than the padded
  input is invalid by the contract; lax then returns an empty output dim, which the
  test cross-checks against its own arithmetic.

Everything uses ``jax.eval_shape`` (tracing only, no XLA compile), so 500+ draws stay
cheap; a second, small test compiles ~20 valid draws and compares values with lax.
"""

from __future__ import annotations

import collections
import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax import lax

import jaxcnn

S = jax.ShapeDtypeStruct
F32 = jnp.float32
HIGHEST = lax.Precision.HIGHEST
MESSAGE = re.compile(r"^\w[\w\[\]\. ]*: expected .+, got .+")
MODES = ("VALID", "SAME", "CIRCULAR")
NUM_EXAMPLES = 500

_SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])


# ------------------------------------------------------------------ contract oracle


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _per_dim(v, n):
    """Contract: a positive int, or a sequence of ``n`` positive ints -> tuple, else None."""
    if _is_int(v):
        return (int(v),) * n if v >= 1 else None
    if isinstance(v, (tuple, list)) and len(v) == n and all(_is_int(e) and e >= 1 for e in v):
        return tuple(int(e) for e in v)
    return None


def _padding(p, n):
    """Contract: a mode (any case), an int >= 0, or ``n`` pairs of ints >= 0; else None."""
    if isinstance(p, str):
        return p.upper() if p.upper() in MODES else None
    if _is_int(p):
        return ((int(p), int(p)),) * n if p >= 0 else None
    if isinstance(p, (tuple, list)) and len(p) == n and all(
            isinstance(q, (tuple, list)) and len(q) == 2 and all(_is_int(v) and v >= 0 for v in q)
            for q in p):
        return tuple((int(a), int(b)) for a, b in p)
    return None


def _kernel_size(ks):
    if isinstance(ks, (tuple, list)) and len(ks) > 0 and all(_is_int(k) and k >= 1 for k in ks):
        return tuple(int(k) for k in ks)
    return None


def _dn(n):
    sp = "DHW"[-n:]
    return ("N" + sp + "C", sp + "IO", "N" + sp + "C")


class Geo:
    """A contract-valid geometry, resolved for lax (or ``None`` from :func:`_geo`)."""

    def __init__(self, sp, ks, st_, dl, pad):
        self.sp, self.ks, self.st, self.dl, self.n = sp, ks, st_, dl, len(ks)
        self.pad = pad  # hashable: a mode string or a tuple of (low, high) pairs
        eff = [(k - 1) * d + 1 for k, d in zip(ks, dl)]
        self.circ = pad == "CIRCULAR"
        if self.circ:  # Flax's rule: wrap, then VALID
            self.wrap = [((e - 1) // 2, e // 2) for e in eff]
            self.lax_pad, self.fits = "VALID", True
        elif pad == "SAME":
            self.lax_pad, self.fits = "SAME", True
        elif pad == "VALID":
            self.lax_pad = "VALID"
            self.fits = all(e <= s for e, s in zip(eff, sp))
        else:
            self.lax_pad = list(pad)
            self.fits = all(e <= s + lo + hi for e, s, (lo, hi) in zip(eff, sp, pad))

    def pad_input(self, x):
        """Circular pre-padding of a ``(N, *spatial, C)`` array (identity otherwise)."""
        if not self.circ:
            return x
        return jnp.pad(x, [(0, 0)] + self.wrap + [(0, 0)], mode="wrap")


def _geo(sp, ks, strides, padding, dilation):
    ks = _kernel_size(ks)
    if ks is None or len(sp) != len(ks):
        return None
    n = len(ks)
    st_, dl, pad = _per_dim(strides, n), _per_dim(dilation, n), _padding(padding, n)
    if st_ is None or dl is None or pad is None:
        return None
    return Geo(tuple(sp), ks, st_, dl, pad)


def _lax_conv(x, k, g: Geo, groups, precision=None):
    return lax.conv_general_dilated(
        g.pad_input(x), k, g.st, g.lax_pad, rhs_dilation=g.dl, dimension_numbers=_dn(g.n),
        feature_group_count=groups, precision=precision)


@functools.lru_cache(maxsize=None)
def _lax_out_spatial(sp, ks, st_, dl, pad):
    """Cached: the same geometry is asked for by several functions of one draw."""
    g = Geo(sp, ks, st_, dl, pad)
    y = jax.eval_shape(functools.partial(_lax_conv, g=g, groups=1), S((1, *sp, 1), F32),
                       S((*ks, 1, 1), F32))
    return tuple(y.shape[1:-1])


def _split(x_shape, n):
    """``(*batch, *spatial, C)`` -> ``(batch, spatial, C)``, or ``None`` if ndim < n + 1."""
    if len(x_shape) < n + 1:
        return None
    return tuple(x_shape[:-n - 1]), tuple(x_shape[-n - 1:-1]), x_shape[-1]


def _ref_out_spatial(g: Geo):
    """Output spatial shape by ``eval_shape`` of lax (checked against the contract's fit)."""
    out = _lax_out_spatial(g.sp, g.ks, g.st, g.dl, g.pad)
    # lax says "empty output" exactly when the window does not fit the padded input.
    assert g.fits == all(o >= 1 for o in out), (g.__dict__, out)
    return out if g.fits else None


# --------------------------------------------------------- expected outcome per function


def expect_conv(x_shape, k_shape, b_shape, strides, padding, dilation, groups):
    """Expected output shape of ``jaxcnn.conv`` (from lax), or ``None`` for a ValueError."""
    if len(k_shape) < 3:
        return None
    n = len(k_shape) - 2
    parts = _split(x_shape, n)
    if parts is None:
        return None
    batch, sp, c_in = parts
    kc_in, c_out = k_shape[-2:]
    if not (_is_int(groups) and groups >= 1 and c_in % groups == 0 and c_out % groups == 0
            and c_in // groups == kc_in):
        return None
    if b_shape is not None and tuple(b_shape) != (c_out,):
        return None
    g = _geo(sp, k_shape[:n], strides, padding, dilation)
    if g is None or _ref_out_spatial(g) is None:
        return None
    y = jax.eval_shape(functools.partial(_lax_conv, g=g, groups=groups),
                       S((math.prod(batch), *sp, c_in), F32), S(k_shape, F32))
    return (*batch, *y.shape[1:])


def expect_patches(x_shape, kernel_size, strides, padding, dilation):
    ks = _kernel_size(kernel_size)
    if ks is None:
        return None
    parts = _split(x_shape, len(ks))
    if parts is None:
        return None
    batch, sp, c = parts
    g = _geo(sp, ks, strides, padding, dilation)
    if g is None or _ref_out_spatial(g) is None:
        return None
    y = jax.eval_shape(
        lambda x: lax.conv_general_dilated_patches(
            g.pad_input(x), g.ks, g.st, g.lax_pad, rhs_dilation=g.dl,
            dimension_numbers=_dn(g.n)),
        S((math.prod(batch), *sp, c), F32))
    return (*batch, *y.shape[1:])


def expect_local(x_shape, k_shape, b_shape, strides, padding, dilation):
    if len(k_shape) < 4 or len(k_shape) % 2:
        return None
    n = (len(k_shape) - 2) // 2
    parts = _split(x_shape, n)
    if parts is None:
        return None
    batch, sp, c_in = parts
    kc_in, c_out = k_shape[-2:]
    if kc_in != c_in:
        return None
    g = _geo(sp, k_shape[n:2 * n], strides, padding, dilation)
    if g is None:
        return None
    out = _ref_out_spatial(g)
    if out is None or tuple(k_shape[:n]) != out:
        return None
    if b_shape is not None and tuple(b_shape) != (*out, c_out):
        return None
    lax_k = S((*out, c_in * math.prod(g.ks), c_out), F32)  # lax: channel-major features
    y = jax.eval_shape(
        lambda x, k: lax.conv_general_dilated_local(
            g.pad_input(x), k, g.st, g.lax_pad, filter_shape=g.ks, rhs_dilation=g.dl,
            dimension_numbers=_dn(n)),
        S((math.prod(batch), *sp, c_in), F32), lax_k)
    return (*batch, *y.shape[1:])


def expect_output_shape(in_spatial, kernel_size, strides, padding, dilation):
    if not (isinstance(in_spatial, (tuple, list))
            and all(_is_int(s) and s >= 1 for s in in_spatial)):
        return None
    g = _geo(tuple(in_spatial), kernel_size, strides, padding, dilation)
    return None if g is None else _ref_out_spatial(g)


def expect_conv_to_dense(k_shape, in_shape, strides, padding, dilation, groups):
    if len(in_shape) < 2 or not all(_is_int(s) and s >= 1 for s in in_shape):
        return None
    n = len(in_shape) - 1
    if len(k_shape) != n + 2:
        return None
    out = expect_conv((1, *in_shape), k_shape, None, strides, padding, dilation, groups)
    if out is None:
        return None
    return (math.prod(in_shape), math.prod(out[1:]))


# ----------------------------------------------------------------------- strategies

_VALS = st.sampled_from([-1, 0, 1, 2, 3])
_ODD = st.sampled_from([1.0, 2.5, True, None, "2", (), np.int64(0)])  # never valid


def _with_one(strategy_list, n, bad):
    """``n`` entries from ``strategy_list`` with one (drawn) position replaced by ``bad``."""
    return st.tuples(st.lists(strategy_list, min_size=n, max_size=n), st.integers(0, n - 1),
                     bad).map(lambda t: tuple(t[0][:t[1]]) + (t[2],) + tuple(t[0][t[1] + 1:]))


@functools.lru_cache(maxsize=None)
def _strides_like(n, clean):
    """strides / dilation: small positive ints; corrupted: from {-1, 0, 1, 2, 3}, wrong
    lengths, wrong types (the pool still holds valid values)."""
    if clean:
        return st.one_of(st.integers(1, 2), st.tuples(*[st.integers(1, 2)] * n),
                         st.just(np.int64(1)), st.lists(st.integers(1, 3), min_size=n, max_size=n))
    return st.one_of(_VALS, st.lists(_VALS, min_size=n, max_size=n).map(tuple),
                     st.lists(_VALS, min_size=0, max_size=4).map(tuple), _ODD)


@functools.lru_cache(maxsize=None)
def _padding_like(n, clean):
    """padding: modes, ints >= 0, ``n`` pairs; corrupted: unknown strings, negative ints,
    pairs with a negative / non-int entry, wrong counts, triples, flat pairs."""
    pair = st.tuples(st.integers(0, 3), st.integers(0, 3))
    if clean:
        return st.one_of(
            st.sampled_from(["VALID", "SAME", "CIRCULAR", "same", "valid", "Circular"]),
            st.integers(0, 3), st.tuples(*[pair] * n),
            st.lists(pair.map(list), min_size=n, max_size=n))
    odd_pair = st.one_of(st.tuples(st.integers(-2, 3), st.just(-1)),
                         st.tuples(st.just(-1), st.integers(0, 3)),
                         st.tuples(st.integers(0, 2), st.sampled_from([1.0, None, "1", True])),
                         st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
                         st.tuples(st.integers(0, 2)), st.integers(0, 2))
    return st.one_of(
        st.sampled_from(["bogus", "SAME_LOWER", "", "FULL", 1.0, None, (1, 1), True]),
        st.integers(-2, 3),
        _with_one(pair, n, odd_pair),  # n entries, one of them malformed
        st.lists(pair, min_size=0, max_size=4).filter(lambda p: len(p) != n).map(tuple))


_CORRUPTIBLE = ("strides", "dilation", "padding", "groups", "channels", "x_rank", "bias",
                "local", "patch_ks", "in_spatial")


@st.composite
def draws(draw, clean_only=False):
    """One combination of arguments (see the module docstring).

    A third of the draws are "clean" (every argument valid by the contract; the window may still
    not fit the input). The others corrupt one or two arguments, each drawn from a pool of
    valid *and* invalid values, so every check is reached on its own (not only masked by an
    earlier check of another argument).
    """
    n = draw(st.integers(1, 3))
    bad = frozenset() if clean_only or draw(st.integers(0, 2)) == 0 else frozenset(
        draw(st.sets(st.sampled_from(_CORRUPTIBLE), min_size=1, max_size=2)))
    batch = tuple(draw(st.lists(st.integers(1, 2), min_size=0, max_size=2)))
    sp = tuple(draw(st.lists(st.integers(1, 7), min_size=n, max_size=n)))
    small = st.integers(1, 3)  # kernel sizes; sometimes up to 5 (larger than the input)
    ks = tuple(draw(st.lists(small if clean_only else st.one_of(small, st.integers(1, 5)),
                             min_size=n, max_size=n)))
    if "groups" in bad:
        groups = draw(st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 2.0, None])))
    else:
        groups = draw(st.integers(1, 3))
    if "channels" in bad or "groups" in bad:
        c_in, c_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        kc_in = draw(st.sampled_from([c_in, max(c_in // 2, 1), c_in + 1]))
    else:
        c_in = groups * draw(st.integers(1, 6 // groups))
        c_out = groups * draw(st.integers(1, 6 // groups))
        kc_in = c_in // groups
    x_shape = (*batch, *sp, c_in)
    if "x_rank" in bad:  # too few dims (or, with a batch, re-interpreted: still checked)
        x_shape = x_shape[-draw(st.integers(1, n + 1)):]
    bias = draw(st.sampled_from(["none", "ok", "plus1", "rank2", "scalar"] if "bias" in bad
                                else ["none", "ok"]))
    b_shape = {"none": None, "ok": (c_out,), "plus1": (c_out + 1,), "rank2": (1, c_out),
               "scalar": ()}[bias]
    local = draw(st.sampled_from(["ok", "out+1", "odd", "cin", "bias"]) if "local" in bad
                 else st.just("ok"))
    patch_ks = draw(st.sampled_from([ks, list(ks), ks[0], (), ks[:-1] + (0,), ks + (1,)])
                    ) if "patch_ks" in bad else ks
    in_spatial = draw(st.sampled_from([sp, list(sp), sp[:-1] + (-1,), sp[:-1] + (2.0,), sp[0],
                                       None])) if "in_spatial" in bad else sp
    return dict(
        n=n, x_shape=x_shape, k_shape=(*ks, kc_in, c_out), b_shape=b_shape, ks=ks,
        strides=draw(_strides_like(n, "strides" not in bad)),
        dilation=draw(_strides_like(n, "dilation" not in bad)),
        padding=draw(_padding_like(n, "padding" not in bad)), groups=groups, local=local,
        patch_ks=patch_ks, in_spatial=in_spatial)


# --------------------------------------------------------------------------- checks


def _outcome(thunk):
    """``("ok", result)`` or ``("ValueError", message)``; other exceptions propagate."""
    try:
        return "ok", thunk()
    except ValueError as e:
        msg = str(e)
        assert MESSAGE.match(msg), f"ValueError without '<arg>: expected ..., got ...': {msg!r}"
        return "ValueError", msg


def _check(name, expected, thunk, dtype=F32):
    kind, got = _outcome(thunk)
    if expected is None:
        assert kind == "ValueError", f"{name}: invalid by the contract, but returned {got}"
        return False
    assert kind == "ok", f"{name}: lax gives shape {expected}, jaxcnn raised {got}"
    shape = got if isinstance(got, tuple) else tuple(got.shape)
    assert shape == tuple(expected), f"{name}: shape {shape} != lax {tuple(expected)}"
    if dtype is not None:
        assert got.dtype == dtype, f"{name}: dtype {got.dtype}"
    return True


def _local_kernel(d, geo_out):
    """Local kernel (+bias) shaped from the reference output, sometimes deliberately wrong."""
    n = d["n"]
    out = geo_out if geo_out is not None else (1,) * n
    kc_in = d["x_shape"][-1]
    c_out = d["k_shape"][-1]
    k = [*out, *d["ks"], kc_in, c_out]
    b = (*out, c_out) if d["b_shape"] is not None else None
    if d["local"] == "out+1":
        k[0] += 1
    elif d["local"] == "odd":
        k = k[1:]
    elif d["local"] == "cin":
        k[-2] += 1
    elif d["local"] == "bias":
        b = (c_out,)
    return tuple(k), b


def check_all(d) -> dict:
    """Runs every public function on one draw; returns {function: valid?}."""
    geom = dict(strides=d["strides"], padding=d["padding"], dilation=d["dilation"])
    x, k = S(d["x_shape"], F32), S(d["k_shape"], F32)
    b = None if d["b_shape"] is None else S(d["b_shape"], F32)
    valid = {}

    valid["conv"] = _check(
        "conv", expect_conv(d["x_shape"], d["k_shape"], d["b_shape"], groups=d["groups"], **geom),
        lambda: jax.eval_shape(
            lambda x, k, b: jaxcnn.conv(x, k, b, groups=d["groups"], **geom), x, k, b))

    valid["extract_patches"] = _check(
        "extract_patches", expect_patches(d["x_shape"], d["patch_ks"], **geom),
        lambda: jax.eval_shape(lambda x: jaxcnn.extract_patches(x, d["patch_ks"], **geom), x))

    parts = _split(d["x_shape"], d["n"])
    g = _geo(parts[1], d["ks"], **geom) if parts else None
    out = _ref_out_spatial(g) if g is not None else None
    lk_shape, lb_shape = _local_kernel(d, out)
    lb = None if lb_shape is None else S(lb_shape, F32)
    valid["local_conv"] = _check(
        "local_conv", expect_local(d["x_shape"], lk_shape, lb_shape, **geom),
        lambda: jax.eval_shape(lambda x, k, b: jaxcnn.local_conv(x, k, b, **geom),
                               x, S(lk_shape, F32), lb))

    valid["output_shape"] = _check(
        "output_shape", expect_output_shape(d["in_spatial"], d["patch_ks"], **geom),
        lambda: jaxcnn.output_shape(d["in_spatial"], d["patch_ks"], **geom), dtype=None)

    if parts is not None:  # in_shape = (*spatial, C_in) of this draw (all small)
        in_shape = (*parts[1], parts[2])
        valid["conv_to_dense"] = _check(
            "conv_to_dense",
            expect_conv_to_dense(d["k_shape"], in_shape, groups=d["groups"], **geom),
            lambda: jax.eval_shape(
                lambda k: jaxcnn.conv_to_dense(k, in_shape, groups=d["groups"], **geom), k))
    return valid


# ---------------------------------------------------------------------------- tests


def test_fuzz_argument_checking():
    """>= 500 draws; each public function computes the lax shape or raises ValueError."""
    draws_by_class = collections.Counter()
    calls = collections.Counter()

    @settings(max_examples=NUM_EXAMPLES, **_SETTINGS)
    @given(draws())
    def run(d):
        valid = check_all(d)
        draws_by_class["valid" if valid["conv"] else "invalid"] += 1
        for fn, ok in valid.items():
            calls[fn, ok] += 1

    run()
    total = sum(draws_by_class.values())
    assert total >= NUM_EXAMPLES, draws_by_class
    # Both outcomes are well represented, overall and for every function.
    for cls in ("valid", "invalid"):
        assert draws_by_class[cls] >= 0.2 * total, draws_by_class
    for fn in ("conv", "extract_patches", "local_conv", "output_shape", "conv_to_dense"):
        n_fn = calls[fn, True] + calls[fn, False]
        assert min(calls[fn, True], calls[fn, False]) >= 0.1 * n_fn, (fn, dict(calls))
    print(f"\nfuzz: {total} draws {dict(draws_by_class)}; per function {dict(calls)}")


_numeric_count = collections.Counter()


@settings(max_examples=20, **_SETTINGS)
@given(draws(clean_only=True))
def test_fuzz_values_match_lax(d):
    """~20 valid draws: jaxcnn.conv values equal lax's (one small compile each)."""
    x_shape, k_shape, b_shape = d["x_shape"], d["k_shape"], d["b_shape"]
    geom = dict(strides=d["strides"], padding=d["padding"], dilation=d["dilation"])
    expected = expect_conv(x_shape, k_shape, b_shape, groups=d["groups"], **geom)
    if expected is None:  # a window larger than the input: nothing to compute
        return
    n = d["n"]
    batch, sp, c_in = _split(x_shape, n)
    g = _geo(sp, d["ks"], **geom)
    rng = np.random.default_rng(len(_numeric_count) + 17 * sum(x_shape) + sum(k_shape))
    x = rng.standard_normal(x_shape).astype(np.float32)
    k = rng.standard_normal(k_shape).astype(np.float32)
    b = None if b_shape is None else rng.standard_normal(b_shape).astype(np.float32)

    @jax.jit
    def both(x, k, b):
        ours = jaxcnn.conv(x, k, b, groups=d["groups"], precision=HIGHEST, **geom)
        ref = _lax_conv(x.reshape(-1, *sp, c_in), k, g, d["groups"], precision=HIGHEST)
        ref = ref.reshape(*batch, *ref.shape[1:])
        return ours, ref if b is None else ref + b

    ours, ref = both(x, k, b)
    assert ours.shape == ref.shape == tuple(expected)
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    err = np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30)
    assert err <= 1e-5, err
    _numeric_count[d["n"]] += 1


def test_fuzz_values_ran():
    """The numeric test above compared a reasonable number of valid draws."""
    if not _numeric_count:
        pytest.skip("test_fuzz_values_match_lax did not run in this session")
    assert sum(_numeric_count.values()) >= 10, _numeric_count


@pytest.mark.parametrize("fn", ["conv", "extract_patches", "local_conv"])
def test_zero_size_batch(fn):
    """A batch of size 0 is a valid input (lax computes it): same shape as lax, no crash."""
    x = S((0, 5, 2), F32)
    if fn == "conv":
        got = jax.eval_shape(lambda x, k: jaxcnn.conv(x, k), x, S((3, 2, 4), F32))
        want = (0, 3, 4)
    elif fn == "extract_patches":
        got = jax.eval_shape(lambda x: jaxcnn.extract_patches(x, (3,)), x)
        want = (0, 3, 6)
    else:
        got = jax.eval_shape(lambda x, k: jaxcnn.local_conv(x, k), x, S((3, 3, 2, 4), F32))
        want = (0, 3, 4)
    assert got.shape == want
    # and it computes (not only traces)
    xs = jnp.zeros(x.shape, F32)
    if fn == "conv":
        assert jaxcnn.conv(xs, jnp.ones((3, 2, 4))).shape == want
    elif fn == "extract_patches":
        assert jaxcnn.extract_patches(xs, (3,)).shape == want
    else:
        assert jaxcnn.local_conv(xs, jnp.ones((3, 3, 2, 4))).shape == want
