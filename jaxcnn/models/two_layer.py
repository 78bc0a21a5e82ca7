"""Ingrosso & Goldt's two-layer network, its ``erf`` activation and the fixed readout.

Example:
    >>> import jax.numpy as jnp
    >>> float(erf_activation(jnp.array(0.0)))
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn import validation
from jaxcnn.models.base import Classifier, check_in_shape

__all__ = ["FixedReadout", "TwoLayerNet", "erf_activation"]

READOUTS = ("learned", "fixed")


def erf_activation(x: jax.Array) -> jax.Array:
    """``g(x) = erf(x / sqrt(2))``, Ingrosso & Goldt's activation (odd, saturating at +-1)."""
    return jax.scipy.special.erf(x / math.sqrt(2.0))


class FixedReadout(nnx.Variable):
    """A non-trainable second-layer weight (not an ``nnx.Param``: ``nnx.grad`` skips it)."""


class TwoLayerNet(Classifier):
    """Ingrosso & Goldt's two-layer network ``y = g(x W / sqrt(D) + b) v``.

    ``x`` is flattened to ``D = prod(in_shape)`` features, ``W: (D, K)`` has
    standard-normal entries, so the pre-activations ``x W / sqrt(D)`` are O(1)
    for unit-variance inputs (Ingrosso & Goldt's scaling), ``g(x) = erf(x / sqrt(2))``.
    Column ``W[:, k]`` is hidden unit ``k``'s receptive field: its IPR
    ``sum w^4 / (sum w^2)^2`` (``jaxcnn.metrics.ipr(model.W[...], axis=0)``)
    measures localisation (about ``3 / D`` at initialisation).

    The readout ``v: (K, out_features)``:

    * ``readout="learned"``: an ``nnx.Param``, initialised ``N(0, 1 / K)``;
    * ``readout="fixed"``: all entries ``1 / K`` (the committee machine's mean over
      hidden units), stored as :class:`FixedReadout`, so only ``W`` (and ``b``)
      learn -- the setting of the paper's analysis.

    Args:
      in_shape: ``(*spatial, C)``, e.g. ``(20, 20, 1)`` (D = 400) or ``(400, 1)``.
      hidden: ``K``, the number of hidden units.
      out_features: outputs (1 for the MSE task with labels +-1; or the classes).
      activation: ``g`` (default :func:`erf_activation`).
      readout: ``"learned"`` or ``"fixed"``.
      use_bias: hidden biases ``b: (K,)`` (default False).
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs``.

    Example:
      >>> net = TwoLayerNet((20, 20, 1), 8, rngs=nnx.Rngs(0))
      >>> net.W.shape, net(jnp.ones((3, 20, 20, 1))).shape
      ((400, 8), (3, 1))
    """

    def __init__(self, in_shape, hidden: int, *, out_features: int = 1,
                 activation: Callable = erf_activation, readout: str = "learned",
                 use_bias: bool = False, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = check_in_shape(in_shape)
        self.hidden_units = validation.check_int(hidden, name="hidden", minimum=1)
        self.num_classes = validation.check_int(out_features, name="out_features", minimum=1)
        self.readout = validation.check_choice(readout, READOUTS, name="readout")
        d, k = math.prod(self.in_shape), self.hidden_units
        self.input_scale = 1.0 / math.sqrt(d)
        self.activation = activation
        self.W = nnx.Param(jax.random.normal(rngs.params(), (d, k), param_dtype))
        self.b = nnx.Param(jnp.zeros((k,), param_dtype)) if use_bias else None
        if readout == "learned":
            self.v = nnx.Param(jax.random.normal(rngs.params(), (k, self.num_classes),
                                                 param_dtype) / math.sqrt(k))
        else:
            self.v = FixedReadout(jnp.full((k, self.num_classes), 1.0 / k, param_dtype))

    def preactivations(self, x: jax.Array) -> jax.Array:
        """``x W / sqrt(D) + b``: ``(*batch, *in_shape) -> (*batch, K)``."""
        h = x.reshape(*self._batch_shape(x), -1) @ self.W[...] * self.input_scale
        return h if self.b is None else h + self.b[...]

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_shape) -> (*batch, out_features)``."""
        return self.activation(self.preactivations(x)) @ self.v[...]
