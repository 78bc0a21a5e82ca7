"""jaxcnn.data.augment: random translations and flips (shape, content, distribution, errors)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.data import augment as A

SHAPES = {1: (13,), 2: (9, 11), 3: (7, 6, 8)}


def _coords(n: int, spatial: tuple[int, ...], extra: int = 1, seed: int = 0) -> np.ndarray:
    """A batch whose channel ``d`` holds ``1 + position along spatial dim d`` (so a shift
    can be read off the output), then ``extra`` random channels that move along."""
    grids = np.meshgrid(*[np.arange(1, s + 1) for s in spatial], indexing="ij")
    coords = np.stack(grids, axis=-1).astype(np.float32)
    noise = np.random.default_rng(seed).normal(size=(n, *spatial, extra)).astype(np.float32)
    return np.concatenate([np.broadcast_to(coords, (n, *coords.shape)), noise], axis=-1)


def _shifts_of(out: np.ndarray, spatial: tuple[int, ...], m: tuple[int, ...], mode: str):
    """Each example's shift per dim, read at the centre (inside for every shift <= m)."""
    centre = tuple(s // 2 for s in spatial)
    shifts = []
    for d, size in enumerate(spatial):
        src = out[(slice(None), *centre, d)] - 1  # the position it came from
        s = centre[d] - src
        if mode == "wrap":
            s = (s + m[d]) % size - m[d]
        shifts.append(s.astype(int))
    return np.stack(shifts, axis=1)


def _reference(x: np.ndarray, shifts: np.ndarray, mode: str) -> np.ndarray:
    """NumPy: out[n, i] = x[n, i - s] (zeros, or cyclic, outside)."""
    out = np.zeros_like(x)
    nd = x.ndim - 2
    for n in range(x.shape[0]):
        y = x[n]
        for d in range(nd):
            y = np.roll(y, shifts[n, d], axis=d)
            if mode == "constant":
                s, idx = shifts[n, d], np.arange(y.shape[d])
                keep = ((idx - s) >= 0) & ((idx - s) < y.shape[d])
                y = y * keep.reshape([-1 if k == d else 1 for k in range(y.ndim)])
        out[n] = y
    return out


@pytest.mark.parametrize("mode", A.BORDER_MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_translate_content_and_every_offset_uniform(nd, mode):
    spatial = SHAPES[nd]
    m = tuple(min(3, (s - 1) // 2) for s in spatial)  # readable at the centre
    n = 3000 if nd < 3 else 1500
    x = _coords(n, spatial)
    out = np.asarray(jax.jit(lambda k, x: A.random_translate(k, x, m, mode=mode))(
        jax.random.key(nd), x))
    assert out.shape == x.shape and out.dtype == x.dtype
    shifts = _shifts_of(out, spatial, m, mode)
    np.testing.assert_array_equal(out, _reference(x, shifts, mode))  # the whole content
    for d in range(nd):  # every offset in [-m, m] is drawn, about equally often
        values, counts = np.unique(shifts[:, d], return_counts=True)
        assert values.tolist() == list(range(-m[d], m[d] + 1))
        expect = n / (2 * m[d] + 1)
        assert np.all(np.abs(counts - expect) < 5 * np.sqrt(expect)), counts
    if nd > 1:  # dims are drawn independently: every pair of offsets occurs
        pairs = {tuple(p) for p in shifts[:, :2]}
        assert len(pairs) == (2 * m[0] + 1) * (2 * m[1] + 1)


def test_translate_per_dim_max_shift_zero_shift_and_full_size():
    x = _coords(400, (9, 11))
    out = np.asarray(A.random_translate(jax.random.key(0), x, (0, 2)))
    shifts = _shifts_of(out, (9, 11), (0, 2), "constant")
    assert set(shifts[:, 0]) == {0} and set(shifts[:, 1]) == {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(A.random_translate(jax.random.key(0), x, 0), x)
    # max_shift = the image size is allowed: wrap shifts cyclically, constant may empty it
    signal = _coords(200, (9,))
    full = np.asarray(A.random_translate(jax.random.key(1), signal, 9, mode="wrap"))
    for row in full[:, :, 0]:
        assert sorted(row.tolist()) == list(range(1, 10))
    empty = np.asarray(A.random_translate(jax.random.key(1), signal, 9))
    assert (np.abs(empty).reshape(200, -1).sum(1) == 0).any()


def test_translate_keys_dtypes_and_jit():
    x = _coords(64, (12,))
    k = jax.random.key(5)
    a, b = A.random_translate(k, x, 3), A.random_translate(k, x, 3)
    np.testing.assert_array_equal(a, b)  # a function of the key only
    assert not np.array_equal(a, A.random_translate(jax.random.key(6), x, 3))
    legacy = A.random_translate(jax.random.PRNGKey(5), x, 3)  # raw uint32[2] keys work
    assert legacy.shape == x.shape
    ints = A.random_translate(k, jnp.ones((4, 8, 2), jnp.int32), 2)
    assert ints.dtype == jnp.int32
    bf = A.random_translate(k, jnp.ones((4, 8, 2), jnp.bfloat16), 2, mode="wrap")
    assert bf.dtype == jnp.bfloat16 and bool(jnp.all(bf == 1))
    many = jax.vmap(lambda kk: A.random_translate(kk, x[:4], 3))(jax.random.split(k, 3))
    assert many.shape == (3, 4, 12, 2)


@pytest.mark.parametrize("call, match", [
    (lambda x: A.random_translate(jax.random.key(0), x, -1),
     r"^max_shift: expected an int or 1 ints \(one per spatial dim\), each in \[0, size\] "
     r"for the spatial shape \(8,\), got -1$"),
    (lambda x: A.random_translate(jax.random.key(0), x, 9),
     r"^max_shift: expected .* for the spatial shape \(8,\), got 9$"),
    (lambda x: A.random_translate(jax.random.key(0), x, (1, 1)),
     r"^max_shift: expected an int or 1 ints .*, got \(1, 1\)$"),
    (lambda x: A.random_translate(jax.random.key(0), x, 1.5), r"^max_shift: .*got 1\.5$"),
    (lambda x: A.random_translate(jax.random.key(0), x[:, :, 0], 1),
     r"^x: expected a batch \(N, \*spatial, C\) with 1 to 3 spatial dims \(channels last\), "
     r"got shape \(2, 8\)$"),
    (lambda x: A.random_translate(jax.random.key(0), jnp.ones((1, 2, 2, 2, 2, 1)), 1),
     r"^x: expected a batch .*, got shape \(1, 2, 2, 2, 2, 1\)$"),
    (lambda x: A.random_translate(jax.random.key(0), [[1.0]], 1),
     r"^x: expected an array \(N, \*spatial, C\) with 1 to 3 spatial dims, got list$"),
    (lambda x: A.random_translate(jax.random.key(0), x, 1, mode="reflect"),
     r"^mode: expected one of \('constant', 'wrap'\), got 'reflect'$"),
    (lambda x: A.random_translate(0, x, 1), r"^key: expected a single jax.random key.*got 0$"),
    (lambda x: A.random_translate(jax.random.split(jax.random.key(0), 2), x, 1),
     r"^key: expected .*got a key array of shape \(2,\)$"),
    (lambda x: A.random_flip(jax.random.key(0), x, axes=1),
     r"^axes: expected spatial axes in \[0, 1\) .*got 1$"),
    (lambda x: A.random_flip(jax.random.key(0), x, axes=(0, 0)), r"^axes: .*got \(0, 0\)$"),
    (lambda x: A.random_flip(jax.random.key(0), x[:, :, 0]), r"^x: expected a batch"),
    (lambda x: A.Translate(-2), r"^max_shift: expected an int >= 0 or a tuple .*got -2$"),
    (lambda x: A.Translate(2, mode="edge"), r"^mode: expected one of .*got 'edge'$"),
    (lambda x: A.Chain(), r"^parts: expected one or more functions \(key, x\) -> x, got none$"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call(jnp.ones((2, 8, 3)))


def test_flip_axes_and_frequencies():
    x = _coords(2000, (5, 6), extra=0)
    out = np.asarray(A.random_flip(jax.random.key(2), x, axes=(0, 1)))
    flipped = np.stack([out[:, 0, 0, 0] != 1, out[:, 0, 0, 1] != 1], axis=1)  # per axis
    for combo in itertools.product([False, True], repeat=2):  # all four, ~500 each
        count = int(np.sum(np.all(flipped == combo, axis=1)))
        assert abs(count - 500) < 5 * np.sqrt(500 * 0.75), (combo, count)
    ref = x.copy()
    ref[flipped[:, 0]] = ref[flipped[:, 0]][:, ::-1]
    ref[flipped[:, 1]] = ref[flipped[:, 1]][:, :, ::-1]
    np.testing.assert_array_equal(out, ref)
    default = np.asarray(A.random_flip(jax.random.key(2), x))  # the last spatial axis only
    assert np.all(default[..., 0] == x[..., 0]) and np.any(default[..., 1] != x[..., 1])
    signal = np.asarray(A.random_flip(jax.random.key(3), _coords(50, (7,), extra=0)))
    assert {tuple(r) for r in signal[:, :, 0]} == {tuple(range(1, 8)), tuple(range(7, 0, -1))}


def test_hashable_augmentations():
    assert A.Translate(3) == A.Translate(3) and hash(A.Translate(3)) == hash(A.Translate(3))
    assert A.Translate(3) != A.Translate(3, mode="wrap") != A.Translate((3, 1))
    assert A.Chain(A.Translate(2), A.Flip()) == A.Chain(A.Translate(2), A.Flip())
    assert len({A.Flip(), A.Flip(None), A.Flip((0,))}) == 2
    x, k = _coords(16, (10,)), jax.random.key(4)
    np.testing.assert_array_equal(A.Translate(2, mode="wrap")(k, x),
                                  A.random_translate(k, x, 2, mode="wrap"))
    chained = A.Chain(A.Translate(2), A.Flip())(k, x)
    step = A.random_translate(jax.random.fold_in(k, 0), x, 2)
    np.testing.assert_array_equal(chained, A.random_flip(jax.random.fold_in(k, 1), step))
