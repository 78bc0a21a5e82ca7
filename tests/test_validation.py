"""Every argument check: ValueError with "<argument>: expected <...>, got <...>".

Each case names the argument, a fragment of the expected text and the given value,
all of which must appear in the message. Checks run on static shapes, so they also
fire at trace time under ``jax.jit`` (a ValueError, not an XLA error).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcnn

z = np.zeros  # NumPy inputs: no XLA compile just to build test data


def _x2():  # (batch, 6, 6, 3)
    return z((2, 6, 6, 3))


# (id, thunk, argument, expected fragment, given fragment)
CASES = [
    # ---------------------------------------------------------------- x rank / channels
    ("conv-x-rank", lambda: jaxcnn.conv(z((6, 3)), z((3, 3, 3, 4))),
     "x", "ndim >= 3", "shape (6, 3)"),
    ("conv-x-rank-1d", lambda: jaxcnn.conv(z((3,)), z((3, 3, 4))),
     "x", "(*batch, *spatial[1], C)", "shape (3,)"),
    ("patches-x-rank", lambda: jaxcnn.extract_patches(z((5, 5)), (2, 2, 2)),
     "x", "ndim >= 4", "shape (5, 5)"),
    ("local-x-rank", lambda: jaxcnn.local_conv(z((6, 3)), z((4, 4, 3, 3, 3, 5))),
     "x", "ndim >= 3", "shape (6, 3)"),
    ("mlp-x-rank", lambda: jaxcnn.mlp_conv(z((6, 3)), [z((27, 4))], kernel_size=(3, 3)),
     "x", "ndim >= 3", "shape (6, 3)"),
    ("conv-channel-mismatch", lambda: jaxcnn.conv(_x2(), z((3, 3, 2, 4))),
     "kernel", "C_in // groups = 3", "C_in // groups = 2"),
    ("local-channel-mismatch", lambda: jaxcnn.local_conv(_x2(), z((4, 4, 3, 3, 2, 5))),
     "x", "2 input channels", "with 3 channels"),
    # ---------------------------------------------------------------- groups
    ("groups-not-dividing-in", lambda: jaxcnn.conv(z((1, 6, 6, 6)), z((3, 3, 2, 8)), groups=4),
     "groups", "a divisor of the input channels (6)", "got 4"),
    ("groups-not-dividing-out", lambda: jaxcnn.conv(z((1, 6, 6, 4)), z((3, 3, 2, 3)), groups=2),
     "groups", "a divisor of the kernel's output channels (3)", "got 2"),
    ("kernel-cin-vs-groups", lambda: jaxcnn.conv(z((1, 6, 6, 4)), z((3, 3, 4, 4)), groups=2),
     "kernel", "C_in // groups = 2", "C_in // groups = 4"),
    ("groups-zero", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 3)), groups=0),
     "groups", "a positive int", "got 0"),
    ("groups-float", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 3)), groups=1.0),
     "groups", "a positive int", "got 1.0"),
    # ---------------------------------------------------------------- strides / dilation
    ("stride-zero", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), strides=0),
     "strides", "values >= 1", "got 0"),
    ("stride-negative-in-tuple", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), strides=(1, -2)),
     "strides", "values >= 1", "got (1, -2)"),
    ("stride-wrong-length", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), strides=(1, 2, 3)),
     "strides", "a sequence of 2 ints (one per spatial dim)", "got (1, 2, 3)"),
    ("stride-float", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), strides=1.5),
     "strides", "an int or a sequence of 2 ints", "got 1.5"),
    ("stride-bool", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), strides=True),
     "strides", "an int or a sequence of 2 ints", "got True"),
    ("dilation-zero", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), dilation=0),
     "dilation", "values >= 1", "got 0"),
    ("dilation-negative", lambda: jaxcnn.local_conv(_x2(), z((4, 4, 3, 3, 3, 5)), dilation=-1),
     "dilation", "values >= 1", "got -1"),
    ("dilation-wrong-length", lambda: jaxcnn.extract_patches(_x2(), (2, 2), dilation=(1,)),
     "dilation", "a sequence of 2 ints", "got (1,)"),
    # ---------------------------------------------------------------- window too large
    ("window-too-large", lambda: jaxcnn.conv(z((1, 5, 5, 3)), z((7, 7, 3, 4))),
     "kernel_size", "no larger than the padded input (5, 5)", "got (7, 7)"),
    ("dilated-window-too-large",
     lambda: jaxcnn.extract_patches(z((1, 5, 5, 3)), (3, 3), dilation=(1, 3)),
     "kernel_size", "(kernel-1)*dilation+1=(3, 7)", "got (3, 3)"),
    ("window-too-large-after-padding",
     lambda: jaxcnn.conv(z((1, 5, 3)), z((9, 3, 4)), padding=((1, 2),)),
     "kernel_size", "padded input (8,)", "got (9,)"),
    ("output-shape-window-too-large", lambda: jaxcnn.output_shape((4,), (5,)),
     "kernel_size", "no larger than the padded input (4,)", "got (5,)"),
    ("output-shape-in-spatial-float", lambda: jaxcnn.output_shape((5.5, 4), (3, 3)),
     "in_spatial", "a sequence of 2 non-negative ints", "got (5.5, 4)"),
    ("output-shape-in-spatial-negative", lambda: jaxcnn.output_shape((-1, 4), (3, 3)),
     "in_spatial", "non-negative ints", "got (-1, 4)"),
    ("output-shape-in-spatial-int", lambda: jaxcnn.output_shape(5, (3,)),
     "in_spatial", "a sequence of 1 non-negative ints", "got 5"),
    # ---------------------------------------------------------------- padding
    ("padding-unknown-string", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding="FULL"),
     "padding", "one of ('VALID', 'SAME', 'CIRCULAR')", "got 'FULL'"),
    ("padding-negative-int", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding=-1),
     "padding", "a non-negative int", "got -1"),
    ("padding-wrong-count", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding=((1, 1),)),
     "padding", "2 (low, high) pairs of non-negative ints", "got ((1, 1),)"),
    ("padding-negative-pair",
     lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding=((1, -1), (0, 0))),
     "padding", "2 (low, high) pairs of non-negative ints", "got ((1, -1), (0, 0))"),
    ("padding-non-int-pair",
     lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding=((1.5, 1), (0, 0))),
     "padding", "2 (low, high) pairs", "got ((1.5, 1), (0, 0))"),
    ("padding-triple",
     lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding=((1, 1, 1), (0, 0, 0))),
     "padding", "2 (low, high) pairs", "got ((1, 1, 1), (0, 0, 0))"),
    ("padding-flat-pair", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), padding=(1, 1)),
     "padding", "2 (low, high) pairs", "got (1, 1)"),
    ("padding-strings-in-pairs",
     lambda: jaxcnn.extract_patches(_x2(), (2, 2), padding=("ab", "cd")),
     "padding", "2 (low, high) pairs", "got ('ab', 'cd')"),
    ("padding-float", lambda: jaxcnn.extract_patches(_x2(), (2, 2), padding=1.0),
     "padding", "one of ('VALID', 'SAME', 'CIRCULAR')", "got 1.0"),
    # ---------------------------------------------------------------- kernel / bias shapes
    ("conv-kernel-rank", lambda: jaxcnn.conv(_x2(), z((3, 4))),
     "kernel", "(*kernel_size, C_in // groups, C_out)", "shape (3, 4)"),
    ("conv-kernel-spatial-dims", lambda: jaxcnn.conv(z((6, 6, 3)), z((3, 3, 3, 3, 4))),
     "x", "(*batch, *spatial[3], C) with ndim >= 4", "shape (6, 6, 3)"),
    ("conv-bias-shape", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), z((3,))),
     "bias", "shape (4,) (C_out,)", "shape (3,)"),
    ("conv-bias-rank", lambda: jaxcnn.conv(_x2(), z((3, 3, 3, 4)), z((1, 4))),
     "bias", "shape (4,)", "shape (1, 4)"),
    ("local-kernel-odd-rank", lambda: jaxcnn.local_conv(_x2(), z((4, 4, 3, 3, 5))),
     "kernel", "(*out_spatial, *kernel_size, C_in, C_out)", "shape (4, 4, 3, 3, 5)"),
    ("local-kernel-rank-too-small", lambda: jaxcnn.local_conv(_x2(), z((3, 5))),
     "kernel", "(*out_spatial, *kernel_size, C_in, C_out)", "shape (3, 5)"),
    ("local-kernel-wrong-out-spatial", lambda: jaxcnn.local_conv(_x2(), z((3, 3, 3, 3, 3, 5))),
     "kernel", "shape (4, 4, 3, 3, 3, 5)", "shape (3, 3, 3, 3, 3, 5)"),
    ("local-kernel-wrong-out-spatial-strided",
     lambda: jaxcnn.local_conv(_x2(), z((4, 4, 3, 3, 3, 5)), strides=2, padding="SAME"),
     "kernel", "output spatial shape (3, 3)", "shape (4, 4, 3, 3, 3, 5)"),
    ("local-bias-shape", lambda: jaxcnn.local_conv(_x2(), z((4, 4, 3, 3, 3, 5)), z((5,))),
     "bias", "shape (4, 4, 5) (*out_spatial, C_out)", "shape (5,)"),
    # ---------------------------------------------------------------- mlp_conv layers
    ("mlp-empty-layers", lambda: jaxcnn.mlp_conv(_x2(), [], kernel_size=(3, 3)),
     "layers", "a non-empty sequence", "got []"),
    ("mlp-layers-not-sequence", lambda: jaxcnn.mlp_conv(_x2(), None, kernel_size=(3, 3)),
     "layers", "a non-empty sequence", "got None"),
    ("mlp-first-in-features",
     lambda: jaxcnn.mlp_conv(_x2(), [(z((26, 8)), None)], kernel_size=(3, 3)),
     "layers[0]", "shape (27, 8) weight (in_features, out_features)", "shape (26, 8)"),
    ("mlp-second-in-features",
     lambda: jaxcnn.mlp_conv(_x2(), [(z((27, 8)), None), (z((7, 4)), None)], kernel_size=(3, 3)),
     "layers[1]", "shape (8, 4)", "shape (7, 4)"),
    ("mlp-bias-shape",
     lambda: jaxcnn.mlp_conv(_x2(), [(z((27, 8)), z((7,)))], kernel_size=(3, 3)),
     "layers[0]", "shape (8,) bias (out_features,)", "shape (7,)"),
    ("mlp-hwio-channels",
     lambda: jaxcnn.mlp_conv(_x2(), [(z((3, 3, 2, 8)), None)], kernel_size=(3, 3)),
     "layers[0]", "shape (3, 3, 3, 8) (*kernel_size, C_in, H_1)", "shape (3, 3, 2, 8)"),
    ("mlp-dict-without-kernel",
     lambda: jaxcnn.mlp_conv(_x2(), [{"weight": z((27, 8))}], kernel_size=(3, 3)),
     "layers[0]", "a dict with 'kernel'/'w'", "dict"),
    ("mlp-bad-kernel-size", lambda: jaxcnn.mlp_conv(_x2(), [z((27, 8))], kernel_size=3),
     "kernel_size", "a non-empty sequence of positive ints", "got 3"),
    # ---------------------------------------------------------------- fc_as_conv / dense
    ("fc-W-rank", lambda: jaxcnn.fc_as_conv(z((48,)), (4, 4, 3)),
     "W", "a 2-D dense weight", "shape (48,)"),
    ("fc-W-in-features", lambda: jaxcnn.fc_as_conv(z((47, 10)), (4, 4, 3)),
     "W", "shape (48, 10) (prod(in_shape)=48", "shape (47, 10)"),
    ("fc-in-shape-too-short", lambda: jaxcnn.fc_as_conv(z((4, 10)), (4,)),
     "in_shape", "(*spatial, C_in) with at least one spatial dim", "got (4,)"),
    ("fc-in-shape-zero", lambda: jaxcnn.fc_as_conv(z((0, 10)), (4, 0)),
     "in_shape", "values >= 1", "got (4, 0)"),
    ("dense-w-rank", lambda: jaxcnn.dense(z((2, 3)), z((3,))),
     "w", "a 2-D weight", "shape (3,)"),
    ("dense-x-features", lambda: jaxcnn.dense(z((2, 4)), z((3, 5))),
     "x", "shape (*batch, 3)", "shape (2, 4)"),
    ("dense-bias", lambda: jaxcnn.dense(z((2, 3)), z((3, 5)), z((4,))),
     "b", "shape (5,)", "shape (4,)"),
    # ---------------------------------------------------------------- kernel_size
    ("patches-kernel-size-int", lambda: jaxcnn.extract_patches(_x2(), 3),
     "kernel_size", "a non-empty sequence", "got 3"),
    ("patches-kernel-size-empty", lambda: jaxcnn.extract_patches(_x2(), ()),
     "kernel_size", "a non-empty sequence", "got ()"),
    ("patches-kernel-size-zero", lambda: jaxcnn.extract_patches(_x2(), (0, 2)),
     "kernel_size", "values >= 1", "got (0, 2)"),
]


def _check_message(err: ValueError, arg: str, expected: str, given: str):
    msg = str(err)
    assert msg.startswith(f"{arg}: expected "), msg
    head, _, got = msg.partition(", got ")
    assert got, f"no ', got ' part in {msg!r}"
    assert expected in msg, f"{expected!r} not in {msg!r}"
    assert given.removeprefix("got ") in msg, f"{given!r} not in {msg!r}"


@pytest.mark.parametrize("thunk,arg,expected,given",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_error_message(thunk, arg, expected, given):
    with pytest.raises(ValueError) as info:
        thunk()
    _check_message(info.value, arg, expected, given)


@pytest.mark.parametrize(
    "fn,args,kwargs,arg,expected",
    [
        (jaxcnn.conv, ((1, 5, 5, 3), (3, 3, 2, 4)), {}, "kernel", "C_in // groups = 3"),
        (jaxcnn.conv, ((1, 5, 5, 3), (7, 7, 3, 4)), {}, "kernel_size", "padded input"),
        (jaxcnn.conv, ((1, 5, 5, 3), (3, 3, 3, 4), (5,)), {}, "bias", "shape (4,)"),
        (jaxcnn.local_conv, ((1, 6, 6, 3), (3, 3, 3, 3, 3, 5)), {}, "kernel", "(4, 4, 3, 3, 3, 5)"),
        (jaxcnn.extract_patches, ((5, 5),), dict(kernel_size=(2, 2)), "x", "ndim >= 3"),
        (jaxcnn.conv, ((1, 5, 5, 3), (3, 3, 3, 4)), dict(strides=(1, 0)), "strides", ">= 1"),
    ],
    ids=["conv-channels", "conv-window", "conv-bias", "local-kernel", "patches-rank",
         "conv-stride"],
)
def test_errors_raised_at_trace_time_under_jit(fn, args, kwargs, arg, expected):
    """Bad shapes under jit raise our ValueError while tracing (before any XLA call)."""
    arrays = [jnp.asarray(np.zeros(s, np.float32)) for s in args]
    jitted = jax.jit(lambda *a: fn(*a, **kwargs))
    with pytest.raises(ValueError) as info:
        jitted(*arrays)
    msg = str(info.value)
    assert msg.startswith(f"{arg}: expected ") and expected in msg, msg
    # ... and also with abstract inputs only (no data, no compile):
    with pytest.raises(ValueError, match=f"^{arg}: expected"):
        jax.eval_shape(lambda *a: fn(*a, **kwargs),
                       *[jax.ShapeDtypeStruct(s, jnp.float32) for s in args])


def test_valid_edge_cases_do_not_raise():
    """Boundaries of the checks: a window exactly the padded input, numpy ints,
    list pads, lower-case modes, kernel 1, stride larger than the input.
    (Shape-only via jax.eval_shape: validation runs at trace time.)"""
    x = jax.ShapeDtypeStruct((1, 5, 5, 3), jnp.float32)

    def shape(kernel_shape, x=x, **kw):
        k = jax.ShapeDtypeStruct(kernel_shape, jnp.float32)
        return jax.eval_shape(lambda x, k: jaxcnn.conv(x, k, **kw), x, k).shape

    assert shape((5, 5, 3, 2)) == (1, 1, 1, 2)
    assert shape((7, 7, 3, 2), padding=1) == (1, 1, 1, 2)
    assert shape((3, 3, 3, 2), strides=np.int64(2), dilation=(np.int32(2), 1)) == (1, 1, 2, 2)
    assert shape((3, 3, 3, 2), padding=[[1, 0], [0, 1]]) == (1, 4, 4, 2)
    assert shape((3, 3, 3, 2), padding="circular") == (1, 5, 5, 2)
    assert shape((1, 1, 3, 2), strides=9) == (1, 1, 1, 2)
    x0 = jax.ShapeDtypeStruct((5, 5, 3), jnp.float32)
    assert shape((3, 3, 3, 2), x=x0, padding="valid") == (3, 3, 2)
    # and one real (eager, NumPy input) call
    y = jaxcnn.conv(np.ones((1, 5, 5, 3), np.float32), np.ones((5, 5, 3, 2), np.float32))
    np.testing.assert_allclose(np.asarray(y), np.full((1, 1, 1, 2), 75.0))
