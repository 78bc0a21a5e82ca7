"""What every model shares: the :class:`Classifier` interface, the ``in_shape`` check, BatchNorm.

:func:`check_in_shape` is the package's one check of a model's ``in_shape``
(:func:`jaxcnn.validation.in_shape_tuple` plus the limit of 1 to 3 spatial dims);
:func:`batch_norm` builds the ``nnx.BatchNorm`` every model uses.

Example:
    >>> check_in_shape([32, 32, 3])
    (32, 32, 3)
    >>> check_in_shape((2, 2, 2, 2, 1))
    Traceback (most recent call last):
    ...
    ValueError: in_shape: expected (*spatial, C) with 1 to 3 spatial dims, got (2, 2, 2, 2, 1)
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from jaxcnn import validation

__all__ = ["Classifier", "batch_norm", "check_in_shape"]

MAX_SPATIAL_DIMS = 3


def check_in_shape(in_shape: Any) -> tuple[int, ...]:
    """Returns ``in_shape = (*spatial, C)`` as a tuple of positive ints, 1 to 3 spatial dims.

    Raises:
      ValueError: ``"in_shape: expected ..., got <in_shape>"``.
    """
    shape = validation.in_shape_tuple(in_shape)
    if len(shape) > MAX_SPATIAL_DIMS + 1:
        raise validation.error("in_shape", "(*spatial, C) with 1 to 3 spatial dims", in_shape)
    return shape


def batch_norm(num_features: int, momentum: float, epsilon: float, dtype, param_dtype,
               rngs: nnx.Rngs) -> nnx.BatchNorm:
    """The ``nnx.BatchNorm`` of every model (``momentum`` is the running-average momentum)."""
    return nnx.BatchNorm(num_features, momentum=momentum, epsilon=epsilon, dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs)


class Classifier(nnx.Module):
    """Common interface: ``(*batch, *in_shape) -> logits (*batch, num_classes)``.

    Attributes:
      in_shape: ``(*spatial, C)`` the model was built for.
      num_classes: number of outputs.
    """

    in_shape: tuple[int, ...]
    num_classes: int

    def _batch_shape(self, x: jax.Array) -> tuple[int, ...]:
        k = len(self.in_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != tuple(self.in_shape):
            raise validation.error("x", f"shape (*batch, {', '.join(map(str, self.in_shape))}) "
                                   f"(in_shape={self.in_shape})", f"shape {tuple(x.shape)}")
        return tuple(x.shape[:x.ndim - k])
