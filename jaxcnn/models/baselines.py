"""Dense and small-CNN baselines: Neyshabur's 3-FC and the MNIST-1D MLP, logistic and CNN.

All but :class:`MNIST1DCNN` are an :class:`MLP`: ``flatten -> [Linear -> (BN) ->
activation] * len(hidden) -> Linear(num_classes)``.

Example:
    >>> ThreeFC.width_for_params(10_000, (8, 8, 3), 10)  # 192 * 41 + 41**2 + 41 * 10 = 10,163
    41
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn import validation
from jaxcnn.models.base import Classifier, check_in_shape
from jaxcnn.models.base import batch_norm as new_batch_norm  # `batch_norm` is an argument below
from jaxcnn.nn import Conv

__all__ = ["MLP", "MNIST1DCNN", "MNIST1DMLP", "Logistic", "ThreeFC"]


class MLP(Classifier):
    """``flatten -> [Linear -> (BN) -> activation] * len(hidden) -> Linear(num_classes)``.

    The shared base of :class:`ThreeFC`, :class:`MNIST1DMLP` and :class:`Logistic`.
    Parameters: ``hidden/i``, ``hidden_norms/i`` (with ``batch_norm``) and ``head``.

    Args:
      in_shape: ``(*spatial, C)``.
      num_classes: number of logits.
      hidden: the hidden widths (may be empty).
      batch_norm: BatchNorm after every hidden Linear.
      activation: the nonlinearity (ReLU).
      momentum: BatchNorm running-average momentum.
      epsilon: BatchNorm epsilon.
      use_bias: biases in all Linear maps.
      dtype: computation dtype.
      param_dtype: parameter dtype.
      rngs: ``nnx.Rngs``.
    """

    def __init__(self, in_shape, num_classes: int, *, hidden: Sequence[int], batch_norm: bool,
                 activation: Callable = jax.nn.relu, momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = check_in_shape(in_shape)
        self.num_classes = validation.check_int(num_classes, name="num_classes", minimum=1)
        widths = (math.prod(self.in_shape),
                  *(validation.check_int(h, name="hidden", minimum=1) for h in hidden))
        kw = dict(use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.hidden = nnx.List([nnx.Linear(a, b, **kw) for a, b in zip(widths[:-1], widths[1:])])
        self.hidden_norms = (nnx.List([new_batch_norm(b, momentum, epsilon, dtype,
                                                      param_dtype, rngs) for b in widths[1:]])
                             if batch_norm else None)
        self.head = nnx.Linear(widths[-1], self.num_classes, **kw)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, *in_shape) -> (*batch, num_classes)``."""
        h = x.reshape(*self._batch_shape(x), -1)
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if self.hidden_norms is not None:
                h = self.hidden_norms[i](h)
            h = self.activation(h)
        return self.head(h)


class ThreeFC(MLP):
    """Neyshabur's 3-FC: ``flatten -> FC(width) -> FC(width) -> FC(c)``, BN + ReLU.

    The paper picks ``width`` to match another model's parameter count; see
    :meth:`width_for_params`.

    Args:
      in_shape: ``(*spatial, C)``.
      num_classes: ``c``.
      width: the two hidden widths.
      momentum, epsilon, use_bias, dtype, param_dtype, rngs: as in :class:`SConv`.

    Example:
      >>> m = ThreeFC((8, 8, 3), 10, width=32, rngs=nnx.Rngs(0))
      >>> m(jnp.ones((4, 8, 8, 3))).shape
      (4, 10)
    """

    def __init__(self, in_shape, num_classes: int, *, width: int, momentum: float = 0.9,
                 epsilon: float = 1e-5, use_bias: bool = True, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.width = validation.check_int(width, name="width", minimum=1)
        super().__init__(in_shape, num_classes, hidden=(self.width, self.width),
                         batch_norm=True, momentum=momentum, epsilon=epsilon,
                         use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    @staticmethod
    def width_for_params(num_params: int, in_shape, num_classes: int) -> int:
        """Width ``w`` whose weight count ``D w + w^2 + w c`` is closest to ``num_params``.

        ``D = prod(in_shape)``; biases and BN parameters are ignored (as in the paper).
        """
        d = math.prod(check_in_shape(in_shape))
        c = validation.check_int(num_classes, name="num_classes", minimum=1)
        b = d + c
        w = (-b + math.sqrt(b * b + 4 * num_params)) / 2
        return max(1, min((math.floor(w), math.ceil(w)),
                          key=lambda v: abs(v * b + v * v - num_params)))


class MNIST1DMLP(MLP):
    """MNIST-1D MLP baseline: ``40 -> 100 -> 100 -> 10``, ReLU, no BN (15,210 parameters).

    Args:
      in_shape: ``(40, 1)`` for MNIST-1D (``jaxcnn.data.mnist1d`` adds the channel axis).
      num_classes: 10.
      hidden: hidden widths.
      rngs: ``nnx.Rngs``.

    Example:
      >>> MNIST1DMLP(rngs=nnx.Rngs(0))(jnp.ones((5, 40, 1))).shape
      (5, 10)
    """

    def __init__(self, in_shape=(40, 1), num_classes: int = 10, *,
                 hidden: Sequence[int] = (100, 100), dtype=None, param_dtype=jnp.float32,
                 rngs: nnx.Rngs):
        super().__init__(in_shape, num_classes, hidden=tuple(hidden), batch_norm=False,
                         dtype=dtype, param_dtype=param_dtype, rngs=rngs)


class Logistic(MLP):
    """Logistic-regression (linear) baseline: ``flatten -> Linear(num_classes)``.

    MNIST-1D: 410 parameters, about 32% test accuracy.

    Example:
      >>> Logistic((40, 1), 10, rngs=nnx.Rngs(0))(jnp.ones((5, 40, 1))).shape
      (5, 10)
    """

    def __init__(self, in_shape=(40, 1), num_classes: int = 10, *, dtype=None,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        super().__init__(in_shape, num_classes, hidden=(), batch_norm=False, dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs)


class MNIST1DCNN(Classifier):
    """MNIST-1D CNN baseline (Greydanus & Kobak), 5,210 parameters for ``(40, 1)`` input.

    ``Conv1d(1, 25, k5, s2, p1) -> Conv1d(25, 25, k3, s2, p1) -> Conv1d(25, 25, k3, s2, p1)
    -> flatten (5 x 25 = 125) -> Linear(125, 10)``, ReLU after every conv. Lengths:
    40 -> 19 -> 10 -> 5. The flatten is position-major (channels last), unlike
    PyTorch's channel-major ``view``; this permutes the Linear's rows only.

    Args:
      in_shape: ``(length, C)``; ``(40, 1)`` for MNIST-1D.
      num_classes: 10.
      channels: conv width (25).
      rngs: ``nnx.Rngs``.

    Example:
      >>> MNIST1DCNN(rngs=nnx.Rngs(0))(jnp.ones((5, 40, 1))).shape
      (5, 10)
    """

    def __init__(self, in_shape=(40, 1), num_classes: int = 10, *, channels: int = 25,
                 dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.in_shape = check_in_shape(in_shape)
        if len(self.in_shape) != 2:
            raise validation.error("in_shape", "(length, C) for a 1-D CNN", in_shape)
        self.num_classes = validation.check_int(num_classes, name="num_classes", minimum=1)
        ch = validation.check_int(channels, name="channels", minimum=1)
        plan = (((5,), self.in_shape[-1], ch), ((3,), ch, ch), ((3,), ch, ch))
        layers, spatial = [], self.in_shape[:-1]
        for ks, cin, cout in plan:
            layers.append(Conv(cin, cout, ks, strides=2, padding=((1, 1),), dtype=dtype,
                               param_dtype=param_dtype, rngs=rngs))
            spatial = layers[-1].out_spatial(spatial)
        self.convs = nnx.List(layers)
        self.flat_features = math.prod(spatial) * ch
        self.head = nnx.Linear(self.flat_features, self.num_classes, dtype=dtype,
                               param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(*batch, length, C) -> (*batch, num_classes)``."""
        batch = self._batch_shape(x)
        h = x
        for layer in self.convs:
            h = jax.nn.relu(layer(h))
        return self.head(h.reshape(*batch, -1))
