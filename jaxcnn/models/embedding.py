"""The exact CNN -> LCN / FC (and LCN -> FC) conversion of the S-/D- networks (:func:`embed`).

Example:
    >>> sorted(EMBED_TARGETS[SConv])
    ['fc', 'local']
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxcnn import validation
from jaxcnn.embed import conv_to_dense, conv_to_local, local_to_dense
from jaxcnn.models.neyshabur import DFC, SFC, DConv, DLocal, SConv, SLocal
from jaxcnn.models.windowed import NeyshaburNet
from jaxcnn.nn import Conv

__all__ = ["EMBED_TARGETS", "embed"]

EMBED_TARGETS = {
    SConv: {"fc": SFC, "local": SLocal},
    SLocal: {"fc": SFC},
    DConv: {"fc": DFC, "local": DLocal},
    DLocal: {"fc": DFC},
}


def embed(model: nnx.Module, to: str = "fc") -> nnx.Module:
    """The equivalent LCN or FC network of a CNN (or FC of an LCN), with identical outputs.

    d'Ascoli et al.'s eCNN: every windowed layer is replaced by its exact embedding
    (:func:`jaxcnn.conv_to_dense`, :func:`jaxcnn.conv_to_local`,
    :func:`jaxcnn.local_to_dense`), biases are broadcast over positions, and the
    BatchNorms keep their semantics: the target is built with ``norm`` equal to the
    source's (``"channel"`` for a CNN), so a dense layer's BN still normalises per
    channel over (batch, positions). BN scale/bias *and* running statistics, the
    hidden FC layers and the head are copied, and each BN's train/eval mode is kept.
    So ``embed(m, to)(x) == m(x)`` in both modes, and a train-mode call updates the
    running statistics of both identically. The two models are independent
    afterwards (training one never changes the other).

    The target is first built abstractly (``nnx.eval_shape``), so no random
    initialisation of the (possibly huge) dense weights takes place.

    Args:
      model: an :class:`SConv`, :class:`SLocal`, :class:`DConv` or :class:`DLocal`.
      to: ``"fc"`` (S-FC / D-FC) or ``"local"`` (S-LOCAL / D-LOCAL; CNNs only).

    Returns:
      A new model of the target class with ``norm=`` the source's normalisation.

    Raises:
      ValueError: for an unknown ``to`` or an unsupported (model, to) pair.

    Example:
      >>> cnn = SConv((8, 8, 3), 10, alpha=2, rngs=nnx.Rngs(0))
      >>> fc = embed(cnn, to="fc")
      >>> x = jnp.ones((4, 8, 8, 3))
      >>> bool(jnp.allclose(fc(x), cnn(x), atol=1e-5))
      True
    """
    cls = _target_class(model, to)
    new = nnx.eval_shape(lambda: _build_like(cls, model))
    for src, dst, (in_shape, out) in zip(model.features, new.features, model.layer_shapes):
        _embed_layer(src, dst, in_shape, out, to)
    _copy_dense_and_norms(model, new)
    leftover = [p for p, v in nnx.to_flat_state(nnx.state(new))
                if isinstance(v.get_value(), jax.ShapeDtypeStruct)]
    assert not leftover, f"embed: uninitialised variables {leftover}"  # internal invariant
    return new


def _target_class(model: nnx.Module, to: str) -> type[NeyshaburNet]:
    """The class ``model`` embeds into for ``to``, or the error for an unsupported pair."""
    if to not in ("fc", "local"):
        raise validation.error("to", "'fc' or 'local'", to)
    targets = EMBED_TARGETS.get(type(model))
    if targets is None or to not in targets:
        supported = ", ".join(f"{s.__name__} -> {sorted(t)}" for s, t in EMBED_TARGETS.items())
        raise validation.error("model", f"a model with an embedding to {to!r} ({supported})",
                               type(model).__name__)
    return targets[to]


def _build_like(cls: type[NeyshaburNet], model: NeyshaburNet) -> NeyshaburNet:
    """A ``cls`` with ``model``'s configuration (meant to run under ``nnx.eval_shape``)."""
    return cls(model.in_shape, model.num_classes, alpha=model.alpha,
               kernel_size=model.kernel_size, norm=model.norm, padding=model.padding,
               momentum=model.momentum, epsilon=model.epsilon, use_bias=model.use_bias,
               dtype=model.dtype, param_dtype=model.param_dtype, rngs=nnx.Rngs(0))


def _embed_layer(src: nnx.Module, dst: nnx.Module, in_shape, out, to: str) -> None:
    """Sets ``dst``'s kernel and bias to the exact embedding of windowed layer ``src``."""
    geo = dict(strides=src.strides, padding=src.padding, dilation=src.dilation)
    k = src.kernel[...]
    b = None if src.bias is None else src.bias[...]
    if isinstance(src, Conv) and to == "local":
        dst.kernel.set_value(conv_to_local(k, in_shape, groups=src.groups, **geo))
        b = None if b is None else jnp.broadcast_to(b, out)
    elif isinstance(src, Conv):
        dst.kernel.set_value(conv_to_dense(k, in_shape, groups=src.groups, **geo))
        b = None if b is None else jnp.broadcast_to(b, out).reshape(-1)
    else:  # LocallyConnected -> dense
        dst.kernel.set_value(local_to_dense(k, in_shape, **geo))
        b = None if b is None else b.reshape(-1)
    if b is not None:
        dst.bias.set_value(b)


def _copy_dense_and_norms(model: NeyshaburNet, new: NeyshaburNet) -> None:
    """Copies the BatchNorms, hidden FC layers and head, and every BN's train/eval mode."""
    for name in ("feature_norms", "hidden", "hidden_norms", "head"):
        nnx.update(getattr(new, name), nnx.state(getattr(model, name)))
    for src, dst in zip([*model.feature_norms, *model.hidden_norms],
                        [*new.feature_norms, *new.hidden_norms]):
        dst.use_running_average = src.use_running_average
