"""Fuzzing non-finite input (hypothesis): never a finite number where it entered.

Issue 25, item 9. Every public function of ``jaxcnn`` (layers, patches, embeddings) and
of ``jaxcnn.metrics`` that takes data (``x``, ``kernel``, ``w``, ``W``, ``bias``, a tree) is
called with one entry of that argument set to NaN, +inf or -inf (drawn, at a drawn
position). It must either raise ``ValueError`` in the library's form naming that argument
(``"<argument>...: expected ..., got ..."``), or return an output that is not finite where
the entry enters it:

* layers and embeddings (linear maps): every output that a *finite* change of the entry
  changes (found by perturbing the clean input by +1) is non-finite in the poisoned output
  (±inf may stay ±inf: ``inf * w`` is exact; more non-finite outputs than that are fine);
* array metrics: NaN in the poisoned unit's score (per-unit metrics) or in the whole score
  (scalar metrics), as ``docs/design.md`` promises;
* host-side summaries (``nonzeros``, ``sparsity``, ``census``, ``sharing_power``): a
  ``ValueError`` naming the argument.

Shapes are tiny and fixed per function (one compile each), so the whole file takes
seconds; ``translation_equivariance`` and ``sharing_power`` are called once per value.
:func:`test_every_public_function_is_covered` keeps the list complete: a new public
function with a data argument needs a case here.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxcnn
import jaxcnn.embed

SETTINGS = {"deadline": None, "derandomize": True, "database": None, "print_blob": True,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}
VALUES = st.sampled_from([np.nan, np.inf, -np.inf])
RNG = np.random.default_rng(2025)


def _normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _poison(a, idx, value):
    a = np.array(a, np.float32, copy=True)
    a[idx] = value
    return a


def _index(shape):
    """A strategy for one position of an array of ``shape``."""
    return st.tuples(*[st.integers(0, s - 1) for s in shape])


def _named_error(e: ValueError, arg: str) -> bool:
    return re.match(rf"^{re.escape(arg)}(\[[^\]]*\])*: expected .+, got .+", str(e)) is not None


# ------------------------------------------------------- layers, patches, embeddings

X = _normal(2, 5, 5, 2)          # (batch, H, W, C_in)
K = _normal(3, 3, 2, 4)          # HWIO
B = _normal(4)
LK = _normal(3, 3, 3, 3, 2, 4)   # local kernel for a 5x5 VALID input
IN = (5, 5, 2)
WD = _normal(50, 36)             # dense weight of a 5x5x2 input, 36 units
LAYERS = [(_normal(18, 3), _normal(3)), (_normal(3, 4), _normal(4))]


def _identity(h):
    """``mlp_conv``'s activation here: linear, so ±inf stay non-finite through it."""
    return h


# name -> (function of the data argument and a padding, the clean argument, its name).
# The padding is drawn (VALID, SAME, CIRCULAR) where the function takes one.
LINEAR = {
    "conv(x)": (lambda a, p: jaxcnn.conv(a, K, B, padding=p), X, "x"),
    "conv(kernel)": (lambda a, p: jaxcnn.conv(X, a, B, padding=p, strides=2), K, "kernel"),
    "conv(bias)": (lambda a, p: jaxcnn.conv(X, K, a, padding=p), B, "bias"),
    "conv(groups=2)": (lambda a, p: jaxcnn.conv(a, K[:, :, :1], padding=p, groups=2), X, "x"),
    "local_conv(x)": (lambda a, p: jaxcnn.local_conv(a, LK), X, "x"),
    "local_conv(kernel)": (lambda a, p: jaxcnn.local_conv(X, a), LK, "kernel"),
    "dense(x)": (lambda a, p: jaxcnn.dense(a, WD[:, :4]), X.reshape(2, 50), "x"),
    "dense(w)": (lambda a, p: jaxcnn.dense(X.reshape(2, 50), a), WD[:, :4], "w"),
    "extract_patches(x)": (lambda a, p: jaxcnn.extract_patches(a, (3, 3), padding=p), X, "x"),
    "mlp_conv(x)": (lambda a, p: jaxcnn.mlp_conv(a, LAYERS, kernel_size=(3, 3), padding=p,
                                                 activation=_identity), X, "x"),
    "mlp_conv(layers)": (lambda a, p: jaxcnn.mlp_conv(X, [(a, LAYERS[0][1]), LAYERS[1]],
                                                      kernel_size=(3, 3), padding=p,
                                                      activation=_identity),
                         LAYERS[0][0], "layers"),
    "fc_as_conv(W)": (lambda a, p: jaxcnn.fc_as_conv(a, IN), WD, "W"),
    "conv_to_dense(kernel)": (lambda a, p: jaxcnn.conv_to_dense(a, IN, padding=p), K, "kernel"),
    "conv_to_local(kernel)": (lambda a, p: jaxcnn.conv_to_local(a, IN, padding=p), K, "kernel"),
    "local_to_dense(kernel)": (lambda a, p: jaxcnn.local_to_dense(a, IN), LK, "kernel"),
    "local_to_conv(kernel)": (lambda a, p: jaxcnn.local_to_conv(a, IN), LK, "kernel"),
    "dense_to_conv(W)": (lambda a, p: jaxcnn.dense_to_conv(a, IN, (3, 3)), WD[:, :18], "W"),
    "dense_to_conv(W, SAME)": (lambda a, p: jaxcnn.dense_to_conv(a, IN, (3, 3), padding="SAME"),
                               _normal(50, 50), "W"),
    "dense_to_local(W)": (lambda a, p: jaxcnn.dense_to_local(a, IN, (3, 3)), WD[:, :18], "W"),
}
# Functions whose padding is fixed by the case (the drawn one is ignored).
_FIXED_PADDING = {"local_conv(x)", "local_conv(kernel)", "dense(x)", "dense(w)", "fc_as_conv(W)",
                  "local_to_dense(kernel)", "local_to_conv(kernel)", "dense_to_conv(W)",
                  "dense_to_conv(W, SAME)", "dense_to_local(W)"}


def _linear_case(name):
    fn, clean, arg = LINEAR[name]
    paddings = ["VALID"] if name in _FIXED_PADDING else ["VALID", "SAME", "CIRCULAR"]
    return fn, clean, arg, st.sampled_from(paddings)


@pytest.mark.parametrize("name", list(LINEAR))
def test_layers_and_embeddings_never_finite_where_poisoned(name):
    """Every output the poisoned entry enters is non-finite (or a ValueError naming it)."""
    fn, clean, arg, paddings = _linear_case(name)
    seen = {"influenced": 0}

    @settings(max_examples=8, **SETTINGS)
    @given(idx=_index(clean.shape), value=VALUES, padding=paddings)
    def run(idx, value, padding):
        base = np.asarray(fn(clean, padding))
        moved = np.asarray(fn(_poison(clean, idx, clean[idx] + 1.0), padding))
        influenced = base != moved
        try:
            out = np.asarray(fn(_poison(clean, idx, value), padding))
        except ValueError as e:
            assert _named_error(e, arg), f"{name}: ValueError not naming {arg!r}: {e}"
            return
        assert out.shape == base.shape
        finite_there = influenced & np.isfinite(out)
        assert not finite_there.any(), (
            f"{name} with {arg}[{idx}] = {value} (padding {padding}): "
            f"{int(finite_there.sum())} of the {int(influenced.sum())} outputs that entry "
            f"enters are finite, e.g. at {tuple(int(i) for i in np.argwhere(finite_there)[0])}: "
            f"{out[tuple(np.argwhere(finite_there)[0])]}")
        seen["influenced"] += bool(influenced.any())

    run()
    assert seen["influenced"] >= 1, f"{name}: no draw reached an entry that enters the output"


def test_mlp_conv_relu_propagates_nan():
    """With its default ReLU, ``mlp_conv`` keeps a NaN input NaN (ReLU(-inf) = 0 is exact,
    so only NaN is required to pass through the nonlinearity)."""
    out = np.asarray(jaxcnn.mlp_conv(_poison(X, (0, 2, 2, 1), np.nan), LAYERS,
                                     kernel_size=(3, 3)))
    assert np.isnan(out[0]).any() and not np.isnan(out[1]).any()
    assert np.isnan(out[0, :, :, :]).all(), "every patch containing the NaN must be NaN"


# ------------------------------------------------------------------------- metrics

M_IN = (6, 6, 2)        # in_shape of the metric weights
M_WIN = (3, 3)
M_W = _normal(72, 5)    # (prod(M_IN), units)
M_WC = _normal(72, 16)  # a dense layer of the 4x4 VALID output, 1 channel (the distances)


def _key():
    return jax.random.key(0)


def _metric_cases():
    """name -> (call of the poisoned w, the argument named, the part that must be NaN).

    ``part(out, i, j)`` picks what must be NaN for entry ``(i, j)`` of ``w`` (input
    feature ``i`` of unit ``j``). The distances take ``M_WC``, every other metric ``M_W``.
    """
    M = jaxcnn.metrics

    def mass_at(out, i, j):  # the unit's mass at the poisoned entry's position
        pos = np.unravel_index(i, M_IN)[:-1]
        return np.asarray(out)[(j, *pos)]

    unit = lambda out, i, j: np.asarray(out)[j]
    whole = lambda out, i, j: np.asarray(out)
    return {
        "ipr": (lambda w: M.ipr(w), "w", unit),
        "ipr(axis=1)": (lambda w: M.ipr(w.T, axis=1), "w", unit),
        "locality": (lambda w: M.locality(w, M_IN, M_WIN), "w", unit),
        "locality(periodic)": (lambda w: M.locality(w, M_IN, M_WIN, periodic=True), "w", unit),
        "calibrated_locality": (lambda w: M.calibrated_locality(w, M_IN, M_WIN, key=_key(),
                                                                draws=4), "w", unit),
        "spatial_mass": (lambda w: M.spatial_mass(w, M_IN), "w", mass_at),
        "receptive_field_center": (lambda w: M.receptive_field_center(w, M_IN), "w", unit),
        "best_window": (lambda w: M.best_window(w, M_IN, M_WIN).fraction, "w", unit),
        "weight_sharing": (lambda w: M.weight_sharing(w, M_IN, M_WIN, key=_key()), "w", whole),
        "weight_sharing_stats": (lambda w: M.weight_sharing_stats(w, M_IN, M_WIN, key=_key()
                                                                  ).score, "w", whole),
        "aligned_filter_similarity": (lambda w: M.aligned_filter_similarity(w, M_IN, M_WIN),
                                      "w", whole),
        "aligned_filter_similarity(per_unit)": (
            lambda w: M.aligned_filter_similarity(w, M_IN, M_WIN, per_unit=True), "w", unit),
        "conv_distance": (lambda w: M.conv_distance(w, M_IN, M_WIN), "w", whole),
        "local_distance": (lambda w: M.local_distance(w, M_IN, M_WIN), "w", whole),
        "conv_distance(SAME)": (lambda w: M.conv_distance(w, M_IN, M_WIN, padding="SAME"),
                                "w", whole),
    }


METRICS = ["ipr", "ipr(axis=1)", "locality", "locality(periodic)", "calibrated_locality",
           "spatial_mass", "receptive_field_center", "best_window", "weight_sharing",
           "weight_sharing_stats", "aligned_filter_similarity",
           "aligned_filter_similarity(per_unit)", "conv_distance", "local_distance",
           "conv_distance(SAME)"]


@pytest.mark.parametrize("name", METRICS)
def test_array_metrics_nan_for_non_finite_weights(name):
    """One NaN/±inf weight: NaN in that unit's score (or the whole score), never finite."""
    call, arg, part = _metric_cases()[name]
    clean = M_WC if "distance" in name else M_W
    if name == "conv_distance(SAME)":  # 6x6 SAME output: 36 positions, 1 channel
        clean = _normal(72, 36)
    base = part(call(clean), 0, 0)  # the clean weight is valid: a ValueError below is about w
    assert np.all(np.isfinite(base)), f"metrics.{name} of a random weight: {base}"

    @settings(max_examples=6, **SETTINGS)
    @given(i=st.integers(0, clean.shape[0] - 1), j=st.integers(0, clean.shape[1] - 1),
           value=VALUES)
    def run(i, j, value):
        w = _poison(clean, (i, j), value)
        try:
            out = call(w)
        except ValueError as e:
            assert _named_error(e, arg), f"{name}: ValueError not naming {arg!r}: {e}"
            return
        got = part(out, i, j)
        assert np.all(np.isnan(got)), (
            f"metrics.{name} with w[{i}, {j}] = {value}: expected NaN, got {got!r}")

    run()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_host_side_summaries_raise_naming_the_argument(value):
    """``nonzeros``, ``sparsity``, ``census`` (``w`` and ``w0``) raise naming the argument."""
    M = jaxcnn.metrics
    bad = _poison(M_W, (3, 1), value)
    calls = {
        "nonzeros": (lambda: M.nonzeros({"layer": {"kernel": bad}}), "tree"),
        "sparsity": (lambda: M.sparsity({"layer": {"kernel": bad}}), "tree"),
        "census(w)": (lambda: M.census(bad), "w"),
        "census(w0)": (lambda: M.census(M_W, w0=bad), "w0"),
    }
    for what, (call, arg) in calls.items():
        with pytest.raises(ValueError) as e:
            got = call()
            pytest.fail(f"metrics.{what} with a {value} entry returned {got!r}")
        assert _named_error(e.value, arg), f"metrics.{what}: {e.value}"


def test_sharing_power_refuses_non_finite_weights():
    """``sharing_power`` (host side, slow): one call per value, each refused up front."""
    M = jaxcnn.metrics
    for value in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError) as e:
            got = M.sharing_power(_poison(M_W, (10, 2), value), M_IN, M_WIN, key=_key(),
                                  draws=2, fractions=(1.0,))
            pytest.fail(f"metrics.sharing_power with a {value} weight returned {got!r}")
        assert _named_error(e.value, "w"), str(e.value)


def test_sharing_stats_and_power_nan_score_or_refused():
    """``sharing_stats_and_power``: the score alone is NaN; with the power it is refused
    up front naming ``w`` (as ``sharing_power``)."""
    M = jaxcnn.metrics
    for value in (np.nan, np.inf, -np.inf):
        w = _poison(M_W, (10, 2), value)
        st, pw = M.sharing_stats_and_power(w, M_IN, M_WIN, power=False, key=_key())
        assert pw is None and all(np.isnan(float(v)) for v in (st.score, st.unclipped)), (
            f"metrics.sharing_stats_and_power with a {value} weight returned {st!r}")
        with pytest.raises(ValueError) as e:
            got = M.sharing_stats_and_power(w, M_IN, M_WIN, key=_key(), draws=2,
                                            fractions=(1.0,))
            pytest.fail(f"metrics.sharing_stats_and_power with a {value} weight returned {got!r}")
        assert _named_error(e.value, "w"), str(e.value)


def test_translation_equivariance_nan_for_non_finite_input():
    """One non-finite input entry: every shift's score is NaN (or a ValueError naming x)."""
    M = jaxcnn.metrics
    x = _normal(6, 8, 8, 1)
    kernel = jnp.asarray(_normal(3, 3, 1, 3))

    def layer(xs):
        return jaxcnn.conv(xs, kernel, padding="CIRCULAR")

    for value in (np.nan, np.inf, -np.inf):
        try:
            out = np.asarray(M.translation_equivariance(layer, _poison(x, (2, 3, 4, 0), value),
                                                        shifts=(1, 2), key=_key()))
        except ValueError as e:
            assert _named_error(e, "x"), str(e)
            continue
        assert out.shape == (2,) and np.all(np.isnan(out)), (
            f"metrics.translation_equivariance with x[2, 3, 4, 0] = {value}: {out}")


# -------------------------------------------------------------------- completeness

# Public names without a data argument (geometry only, counts, helpers, result types).
NO_DATA = {"output_shape", "locality_mask", "weight_sharing_chance", "keypath_str",
           "Census", "SharingPower", "SharingStats", "Window"}
COVERED = {name.split("(")[0] for name in LINEAR} | {name.split("(")[0] for name in METRICS} | {
    "nonzeros", "sparsity", "census", "sharing_power", "sharing_stats_and_power",
    "translation_equivariance"}


def test_every_public_function_is_covered():
    """Every public conv, embed and metrics function has a case above (or takes no data)."""
    names = [n for n in jaxcnn.__all__ if callable(getattr(jaxcnn, n))
             and not isinstance(getattr(jaxcnn, n), type(jaxcnn))]
    names += list(jaxcnn.embed.__all__) + list(jaxcnn.metrics.__all__)
    missing = sorted(set(names) - COVERED - NO_DATA)
    assert not missing, f"public functions without a non-finite fuzz case: {missing}"
