"""Looking inside a model: its first layer (as a module, a path, a dense matrix), its
kernels, and PyTorch's default re-initialisation.

Example:
    >>> from flax import nnx
    >>> from jaxcnn.models.baselines import Logistic
    >>> first_layer_path(Logistic((40, 1), 10, rngs=nnx.Rngs(0)))
    'head'
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp  # noqa: F401  (used by the docstring examples)
from flax import nnx

from jaxcnn import validation
from jaxcnn.embed import conv_to_dense, local_to_dense
from jaxcnn.models.baselines import MLP, MNIST1DCNN, ThreeFC  # noqa: F401  (ThreeFC: examples)
from jaxcnn.models.two_layer import TwoLayerNet
from jaxcnn.models.windowed import NeyshaburNet
from jaxcnn.nn import Conv, LocallyConnected
from jaxcnn.tree import keypath_str

__all__ = ["first_layer", "first_layer_dense", "first_layer_path", "kernel_paths",
           "torch_default_init"]

_UNSUPPORTED = "a jaxcnn.models model with a windowed or dense first layer"


def first_layer(model: nnx.Module) -> nnx.Module:
    """The module computing ``model``'s first affine map (before any BN or activation).

    A :class:`jaxcnn.nn.Conv`, :class:`jaxcnn.nn.LocallyConnected` or ``nnx.Linear``
    (which takes the flattened input). Not defined for :class:`TwoLayerNet` (use
    ``model.preactivations``).

    Example:
      >>> first_layer(MNIST1DCNN(rngs=nnx.Rngs(0))).kernel.shape
      (5, 1, 25)
    """
    if isinstance(model, NeyshaburNet):
        return model.features[0]
    if isinstance(model, MNIST1DCNN):
        return model.convs[0]
    if isinstance(model, MLP):
        return model.hidden[0] if len(model.hidden) else model.head
    raise validation.error("model", _UNSUPPORTED, type(model).__name__)


def first_layer_path(model: nnx.Module) -> str:
    """Parameter-path prefix of :func:`first_layer` inside ``nnx.state(model)``.

    The documented name experiments use for per-layer settings (e.g. a separate ℓ1
    strength for the first layer, :func:`jaxcnn.optim.first_layer_label_fn`), instead
    of hard-coding attribute names: ``"features/0"`` for the Neyshabur nets,
    ``"convs/0"`` for :class:`MNIST1DCNN`, ``"hidden/0"`` (or ``"head"`` without hidden
    layers) for the MLPs, ``"W"`` for :class:`TwoLayerNet`.

    Example:
      >>> first_layer_path(ThreeFC((8, 8, 3), 10, width=4, rngs=nnx.Rngs(0)))
      'hidden/0'
    """
    if isinstance(model, TwoLayerNet):
        return "W"
    if isinstance(model, NeyshaburNet):
        return "features/0"
    if isinstance(model, MNIST1DCNN):
        return "convs/0"
    if isinstance(model, MLP):
        return "hidden/0" if len(model.hidden) else "head"
    raise validation.error("model", _UNSUPPORTED, type(model).__name__)


def _kernel_order(name: str) -> tuple[int, int, str]:
    """Sort key: windowed layers, then hidden layers, then the head; by index inside."""
    groups = {"features": 0, "convs": 0, "hidden": 1, "head": 2}
    parts = name.split("/")
    idx = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
    return groups.get(parts[0], 3), idx, name


def kernel_paths(model: nnx.Module) -> list[str]:
    """Paths of the model's weight matrices / kernels (``nnx.Param`` named ``kernel``,
    or ``W`` / ``v`` of :class:`TwoLayerNet`), in forward order: first layer first.

    Example:
      >>> kernel_paths(ThreeFC((8, 8, 3), 10, width=4, rngs=nnx.Rngs(0)))
      ['hidden/0/kernel', 'hidden/1/kernel', 'head/kernel']
    """
    names = [keypath_str(path) for path, _ in
             jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]]
    if isinstance(model, TwoLayerNet):
        return [n for n in ("W", "v") if n in names]
    return sorted((n for n in names if n.rsplit("/", 1)[-1] == "kernel"), key=_kernel_order)


def first_layer_dense(model: nnx.Module) -> tuple[jax.Array, tuple[int, ...]]:
    """A model's first layer as a dense matrix, for locality / IPR metrics.

    Conv layers go through :func:`jaxcnn.conv_to_dense`, locally connected ones
    through :func:`jaxcnn.local_to_dense`, dense layers are returned as they are.
    The bias is not included. For :class:`TwoLayerNet` the matrix is the effective
    ``W / sqrt(D)`` (so that ``x_flat @ W_dense`` are the pre-activations).

    Args:
      model: any model of this package.

    Returns:
      ``(W, in_shape)``: ``W: (prod(in_shape), out_features)`` with
      ``x.reshape(*b, -1) @ W + bias == first_layer(model)(x).reshape(*b, -1)``, and the
      model's ``in_shape = (*spatial, C)`` (reshape a column to ``in_shape`` to see
      a unit's receptive field).

    Raises:
      ValueError: for an unsupported model.

    Example:
      >>> from jaxcnn.models.neyshabur import SConv
      >>> W, in_shape = first_layer_dense(SConv((8, 8, 3), 10, alpha=2, rngs=nnx.Rngs(0)))
      >>> W.shape, in_shape
      ((192, 32), (8, 8, 3))
    """
    if isinstance(model, TwoLayerNet):
        return model.W[...] * model.input_scale, model.in_shape
    layer = first_layer(model)
    in_shape = model.in_shape
    if isinstance(layer, Conv):
        W = conv_to_dense(layer.kernel[...], in_shape, strides=layer.strides,
                          padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    elif isinstance(layer, LocallyConnected):
        W = local_to_dense(layer.kernel[...], in_shape, strides=layer.strides,
                           padding=layer.padding, dilation=layer.dilation)
    else:
        W = layer.kernel[...]
    return W, in_shape


def torch_default_init(model: nnx.Module, *, key: jax.Array) -> nnx.Module:
    """Re-initialises every layer's kernel and bias as PyTorch's defaults do, in place.

    PyTorch's ``nn.Linear`` / ``nn.Conv1d`` draw weights and biases from
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_(a=sqrt(5))``), where
    ``fan_in`` is ``in_features`` (times the kernel size for convs). Published MNIST-1D
    baselines are trained from that initialisation; Flax's default (LeCun normal
    kernels, zero biases) differs. Every ``nnx.Param`` named ``kernel`` (shape
    ``(..., fan_in_dims..., out)``: fan-in = product of all but the last dim) and the
    ``bias`` of the same layer are redrawn; other variables are left alone.

    Args:
        model: any model whose layers hold ``kernel`` (and ``bias``) parameters.
        key: PRNG key (one fold per layer, in parameter-path order).

    Returns:
        ``model`` (modified in place).

    Example:
        >>> m = torch_default_init(MNIST1DCNN(rngs=nnx.Rngs(0)), key=jax.random.key(0))
        >>> float(jnp.abs(m.head.kernel[...]).max()) <= 1 / math.sqrt(125)
        True
    """
    for i, (path, layer) in enumerate(sorted(
            ((p, m) for p, m in nnx.iter_graph(model)
             if isinstance(m, nnx.Module) and isinstance(getattr(m, "kernel", None), nnx.Param)),
            key=lambda pm: str(pm[0]))):
        kernel = layer.kernel
        bound = 1.0 / math.sqrt(math.prod(kernel.shape[:-1]))
        kk, kb = jax.random.split(jax.random.fold_in(key, i))
        kernel[...] = jax.random.uniform(kk, kernel.shape, kernel[...].dtype, -bound, bound)
        bias = getattr(layer, "bias", None)
        if isinstance(bias, nnx.Param):
            bias[...] = jax.random.uniform(kb, bias.shape, bias[...].dtype, -bound, bound)
    return model
