"""Shared references and helpers for the core tests.

* ``lax_conv`` / ``lax_local_conv`` / ``lax_patches``: independent references built
  directly on ``lax`` (channels-last dimension numbers for any ``n``), with CIRCULAR
  done as ``jnp.pad(mode="wrap")`` + VALID (Flax's pad widths).
* ``rel_err`` / ``assert_close``: comparisons that also check shape, dtype and that
  the reference is not trivially zero (so a test can fail).
* ``make_cases``: a seeded sampler of convolution geometries (1-D/2-D/3-D, strides,
  dilation, every padding mode, groups, batch shapes) with readable ids.
* ``results_numbers`` / ``VOLATILE``: an experiment's results JSON without the keys that
  differ between an uninterrupted and a resumed run (the resume and fault tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os

# Compile time dominates these tests (hundreds of tiny XLA programs). Cheaper LLVM
# codegen changes no numerics; set JAXCNN_TEST_FULL_OPT=1 to test with XLA's defaults.
# (XLA reads the flags when the CPU backend starts, i.e. after this import.)
if os.environ.get("JAXCNN_TEST_FULL_OPT", "0") != "1":
    _fast = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _fast).strip()

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

HIGHEST = lax.Precision.HIGHEST
PAD_KINDS = ("VALID", "SAME", "int", "pairs", "asym", "CIRCULAR")
_SPATIAL_CHARS = "DHW"


# ------------------------------------------------------------------ comparisons


def rel_err(got, want) -> float:
    """Relative error ``||got - want|| / ||want||`` in float64 (Frobenius norm)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    denom = max(float(np.linalg.norm(want)), 1e-30)
    return float(np.linalg.norm(got - want)) / denom


def assert_close(got, want, *, tol=1e-5, name="", dtype=None, allow_zero=False):
    """Asserts equal shapes, (optionally) dtype, a non-zero reference and rel err <= tol."""
    assert tuple(np.shape(got)) == tuple(np.shape(want)), (
        f"{name}: shape {np.shape(got)} != reference {np.shape(want)}")
    if dtype is not None:
        assert got.dtype == dtype, f"{name}: dtype {got.dtype} != {dtype}"
    if not allow_zero:
        assert np.any(np.asarray(want, np.float64) != 0), f"{name}: reference is all zeros"
        assert np.any(np.asarray(got, np.float64) != 0), f"{name}: result is all zeros"
    err = rel_err(got, want)
    assert err <= tol, f"{name}: relative error {err:.3g} > {tol:.1g}"


def compare_vjp(f_ours, f_ref, args, cotangent, *, names, tol=1e-5, skip=(), dtype=None):
    """Compares forward values and VJPs (w.r.t. every arg) of ``f_ours`` and ``f_ref``.

    Both run inside ONE ``jax.jit`` (a single compile per case). ``names`` labels the
    args in messages; args whose name is in ``skip`` are not compared (e.g. an unused
    bias, whose gradient is zero). Returns our forward output.
    """

    @jax.jit
    def both(args, ct):
        y, vjp = jax.vjp(f_ours, *args)
        y_ref, vjp_ref = jax.vjp(f_ref, *args)
        return y, vjp(ct), y_ref, vjp_ref(ct)

    y, grads, y_ref, grads_ref = both(tuple(args), cotangent)
    assert_close(y, y_ref, tol=tol, name="forward", dtype=dtype)
    for g, g_ref, nm in zip(grads, grads_ref, names):
        if nm in skip:
            continue
        leaves, leaves_ref = jax.tree.leaves(g), jax.tree.leaves(g_ref)
        assert len(leaves) == len(leaves_ref)
        for i, (a, b) in enumerate(zip(leaves, leaves_ref)):
            assert_close(a, b, tol=tol, name=f"d/d{nm}" + (f"[leaf {i}]" if len(leaves) > 1 else ""))
    return y


def assert_tree_close(got, want, *, tol=1e-5, names=None):
    got_leaves, want_leaves = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got_leaves) == len(want_leaves)
    names = names or [f"leaf{i}" for i in range(len(got_leaves))]
    for g, w, nm in zip(got_leaves, want_leaves, names):
        assert_close(g, w, tol=tol, name=nm)


#: Keys of an experiment's results that differ between an uninterrupted and a resumed run
#: by design.
VOLATILE = frozenset({"wall_time", "provenance", "resumed_from"})


def results_numbers(obj):
    """The results without the keys that may differ between runs (:data:`VOLATILE`)."""
    if isinstance(obj, dict):
        return {k: results_numbers(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [results_numbers(v) for v in obj]
    return obj


# ------------------------------------------------------------- lax references


def dimension_numbers(n: int) -> tuple[str, str, str]:
    """Channels-last specs for ``n`` spatial dims: ('NHWC', 'HWIO', 'NHWC') for n=2."""
    if n <= 3:
        sp = _SPATIAL_CHARS[-n:]
    else:  # any other distinct letters work for lax
        sp = "ABDEFGJKLMPQRSTUVWXYZ"[:n]
    return ("N" + sp + "C", sp + "IO", "N" + sp + "C")


def _tuple(v, n):
    return (int(v),) * n if np.ndim(v) == 0 else tuple(int(i) for i in v)


def circular_pads(kernel_size, dilation):
    """Flax's CIRCULAR pad widths ((k_eff - 1) // 2, k_eff // 2) per dim."""
    eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    return [((e - 1) // 2, e // 2) for e in eff]


def _prepare(x, n, kernel_size, padding, dilation):
    """Flattens batch dims to one and resolves padding for lax.

    Returns ``(x_flat, lax_padding, unflatten)`` where ``unflatten(y)`` restores the
    original batch dims (none for an unbatched input).
    """
    batch = x.shape[:-n - 1]
    xf = x.reshape((math.prod(batch),) + x.shape[-n - 1:])
    if isinstance(padding, str) and padding.upper() == "CIRCULAR":
        pads = circular_pads(kernel_size, dilation)
        xf = jnp.pad(xf, [(0, 0)] + pads + [(0, 0)], mode="wrap")
        lax_pad = "VALID"
    elif isinstance(padding, str):
        lax_pad = padding.upper()
    elif np.ndim(padding) == 0:
        lax_pad = [(int(padding), int(padding))] * n
    else:
        lax_pad = [tuple(int(v) for v in p) for p in padding]

    def unflatten(y):
        return y.reshape(batch + y.shape[1:])

    return xf, lax_pad, unflatten


def lax_conv(x, kernel, bias=None, *, strides=1, padding="VALID", dilation=1, groups=1,
             precision=HIGHEST):
    """Reference: ``lax.conv_general_dilated`` with channels-last specs (+ bias)."""
    n = kernel.ndim - 2
    dl = _tuple(dilation, n)
    xf, pad, unflatten = _prepare(x, n, kernel.shape[:n], padding, dl)
    y = lax.conv_general_dilated(
        xf, kernel, window_strides=_tuple(strides, n), padding=pad, rhs_dilation=dl,
        dimension_numbers=dimension_numbers(n), feature_group_count=groups,
        precision=precision)
    if bias is not None:
        y = y + bias
    return unflatten(y)


def local_kernel_to_lax(kernel, n: int):
    """Ours ``(*out, *k, C_in, C_out)`` -> lax ``(*out, C_in * prod(k), C_out)`` (channel-major)."""
    out, ks = kernel.shape[:n], kernel.shape[n:2 * n]
    c_in, c_out = kernel.shape[-2:]
    perm = tuple(range(n)) + (2 * n,) + tuple(range(n, 2 * n)) + (2 * n + 1,)
    return jnp.transpose(kernel, perm).reshape(*out, c_in * math.prod(ks), c_out)


def lax_local_conv(x, kernel, bias=None, *, strides=1, padding="VALID", dilation=1,
                   precision=HIGHEST):
    """Reference: ``lax.conv_general_dilated_local`` with our local-kernel layout."""
    n = (kernel.ndim - 2) // 2
    ks = kernel.shape[n:2 * n]
    dl = _tuple(dilation, n)
    xf, pad, unflatten = _prepare(x, n, ks, padding, dl)
    y = lax.conv_general_dilated_local(
        xf, local_kernel_to_lax(kernel, n), window_strides=_tuple(strides, n), padding=pad,
        filter_shape=ks, rhs_dilation=dl, dimension_numbers=dimension_numbers(n),
        precision=precision)
    if bias is not None:
        y = y + bias
    return unflatten(y)


def lax_patches(x, kernel_size, *, strides=1, padding="VALID", dilation=1, precision=HIGHEST):
    """Reference: ``lax.conv_general_dilated_patches`` converted to our layout.

    lax orders the patch features channel-major ``(C, *kernel)``; ours is
    ``(*kernel, C)`` (channel fastest).
    """
    n = len(kernel_size)
    dl = _tuple(dilation, n)
    xf, pad, unflatten = _prepare(x, n, kernel_size, padding, dl)
    p = lax.conv_general_dilated_patches(
        xf, tuple(kernel_size), window_strides=_tuple(strides, n), padding=pad,
        rhs_dilation=dl, dimension_numbers=dimension_numbers(n), precision=precision)
    c = x.shape[-1]
    K = math.prod(kernel_size)
    p = p.reshape(*p.shape[:-1], c, K)
    p = jnp.swapaxes(p, -1, -2).reshape(*p.shape[:-2], K * c)
    return unflatten(p)


# ----------------------------------------------------------------- seeded cases


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution geometry (all static)."""

    n: int
    batch: tuple
    spatial: tuple
    c_in: int
    c_out: int
    kernel_size: tuple
    strides: object  # int or tuple
    dilation: object  # int or tuple
    padding: object  # str, int or tuple of pairs
    groups: int

    @property
    def x_shape(self):
        return (*self.batch, *self.spatial, self.c_in)

    @property
    def kernel_shape(self):
        return (*self.kernel_size, self.c_in // self.groups, self.c_out)

    @property
    def geom(self):
        return dict(strides=self.strides, padding=self.padding, dilation=self.dilation)

    def out_spatial(self):
        """Output spatial shape from first principles (independent of jaxcnn)."""
        st, dl = _tuple(self.strides, self.n), _tuple(self.dilation, self.n)
        eff = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, dl)]
        if self.padding == "SAME":
            return tuple(-(-s // t) for s, t in zip(self.spatial, st))
        if self.padding == "VALID":
            pads = [(0, 0)] * self.n
        elif self.padding == "CIRCULAR":
            pads = circular_pads(self.kernel_size, dl)
        elif isinstance(self.padding, int):
            pads = [(self.padding, self.padding)] * self.n
        else:
            pads = self.padding
        return tuple((s + lo + hi - e) // t + 1
                     for s, (lo, hi), e, t in zip(self.spatial, pads, eff, st))

    @property
    def id(self):
        def fmt(v):
            return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)

        if isinstance(self.padding, str):
            pad = self.padding
        elif isinstance(self.padding, int):
            pad = f"p{self.padding}"
        else:
            pad = "p" + "_".join(f"{lo}-{hi}" for lo, hi in self.padding)
        b = "b" + fmt(self.batch) if self.batch else "nob"
        return (f"{self.n}d-{b}-s{fmt(self.spatial)}-c{self.c_in}o{self.c_out}"
                f"-k{fmt(self.kernel_size)}-st{fmt(self.strides)}-dl{fmt(self.dilation)}"
                f"-{pad}-g{self.groups}")


_SIZES = {1: (5, 13), 2: (4, 9), 3: (3, 6)}
_BATCHES = ((), (2,), (1, 2), (2, 1))


def _per_dim(rng, n, lo, hi):
    """An int or (half the time, for n > 1) one int per dim, in [lo, hi]."""
    if n > 1 and rng.random() < 0.5:
        return tuple(int(v) for v in rng.integers(lo, hi + 1, size=n))
    return int(rng.integers(lo, hi + 1))


def _sample_case(rng, n, pad_kind, groups, batch):
    lo, hi = _SIZES[n]
    for _ in range(1000):
        spatial = tuple(int(v) for v in rng.integers(lo, hi + 1, size=n))
        kernel_size = tuple(int(v) for v in rng.integers(1, 4 if n < 3 else 3, size=n))
        strides = _per_dim(rng, n, 1, 3)
        dilation = _per_dim(rng, n, 1, 2)
        if pad_kind == "int":
            padding = int(rng.integers(1, 3))
        elif pad_kind == "pairs":
            v = [int(rng.integers(0, 3)) for _ in range(n)]
            padding = tuple((p, p) for p in v)
        elif pad_kind == "asym":
            padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 4, size=(n, 2)))
            if all(a == b for a, b in padding):
                padding = ((padding[0][0], padding[0][1] + 1),) + padding[1:]
        else:
            padding = pad_kind
        c_in = groups * int(rng.integers(1, 3))
        c_out = groups * int(rng.integers(1, 3))
        case = Case(n, tuple(batch), spatial, c_in, c_out, kernel_size, strides, dilation,
                    padding, groups)
        # Keep the window inside the (padded) input; CIRCULAR is always fine.
        dl = _tuple(dilation, n)
        eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dl)]
        if pad_kind in ("SAME", "CIRCULAR"):
            return case
        if pad_kind == "VALID":
            pads = [(0, 0)] * n
        elif pad_kind == "int":
            pads = [(padding, padding)] * n
        else:
            pads = padding
        if all(s + a + b >= e for s, (a, b), e in zip(spatial, pads, eff)):
            return case
    raise RuntimeError("could not sample a valid case")


def make_cases(seed: int, count: int, *, groups=(1, 2, 4), ns=(1, 2, 3), pad_kinds=PAD_KINDS,
               batches=_BATCHES):
    """``count`` seeded cases cycling through dims, padding kinds, groups and batch shapes
    (so every combination axis is covered even for small ``count``)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        n = ns[i % len(ns)]
        pad_kind = pad_kinds[(i // len(ns)) % len(pad_kinds)]
        g = groups[int(rng.integers(len(groups)))]
        batch = batches[i % len(batches) if i % 3 else int(rng.integers(len(batches)))]
        cases.append(_sample_case(rng, n, pad_kind, g, batch))
    return cases


def case_params(cases):
    return [pytest.param(c, id=c.id) for c in cases]


def random_arrays(seed, *shapes, dtype=jnp.float32):
    """Fresh standard-normal arrays, one per shape, from a seeded NumPy generator.

    (NumPy, not ``jax.random``: every new shape would otherwise cost an XLA compile.)
    """
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(s).astype(np.float64), dtype=dtype) for s in shapes]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ------------------------------------------------------------- compile counting

#: jax.monitoring events of one jaxpr trace and of one XLA compilation.
TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compiles(watched=(TRACE_EVENT, COMPILE_EVENT)):
    """The ``watched`` jax.monitoring events (default: traces and XLA compiles) inside the
    block, as a list of event names."""
    events: list[str] = []

    def listener(name, _duration, **_kw):
        if name in watched:
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
