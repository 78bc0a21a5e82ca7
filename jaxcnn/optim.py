"""β-LASSO (Neyshabur 2020, Algorithm 1) as an optax transformation.

Algorithm 1, with learning rate η, ℓ1 coefficient λ and threshold multiplier β::

    θ'  = θ − η (∇f(θ) + λ·sign(θ))          # subgradient step on f + λ‖θ‖₁
    θ'' = θ' ⊙ 1[|θ'| ≥ β·λ]                  # hard threshold at β·λ (no η in it)

:func:`beta_lasso` returns updates ``u`` with ``optax.apply_updates(θ, u) == θ''``
(bit-for-bit: kept entries get ``u = −η(∇f + λ·sign θ)`` so ``θ + u`` is the very
float computation of step 1, and zeroed entries get ``u = −θ`` so ``θ + u == 0``).

Because the update depends on the *parameters*, ``beta_lasso`` must be the **last**
transform of an ``optax.chain`` (anything after it would move the parameters away from
θ'' and break the exact zeros), and ``update`` must receive ``params``.

:func:`beta_lasso_partitioned` gives different λ to different parameter groups (the paper
searches λ separately for the first, conv-equivalent, layer and the later layers), with
:func:`path_label_fn` / :func:`first_layer_label_fn` to build the labels from parameter
paths such as ``"layers/0/kernel"``.

:func:`embedded_conv_step` rescales the gradient of a dense layer that holds an embedded
convolution (d'Ascoli et al. 2019's eCNN) so that its convolutional component moves as
the CNN's kernel did before the embedding.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxcnn.embed import conv_to_dense, dense_to_conv
from jaxcnn.tree import keypath_str
from jaxcnn.validation import check_scalar, error

__all__ = [
    "BetaLassoState",
    "embedded_conv_step",
    "beta_lasso",
    "beta_lasso_partitioned",
    "path_label_fn",
    "first_layer_label_fn",
    "keypath_str",
]

ScalarOrSchedule = float | Callable[[jax.Array], jax.Array]


class BetaLassoState(NamedTuple):
    """State of :func:`beta_lasso`: the number of updates applied so far."""

    count: jax.Array  # int32 scalar


def beta_lasso(
    learning_rate: ScalarOrSchedule, *, l1: float, beta: float
) -> optax.GradientTransformationExtraArgs:
    """β-LASSO (Neyshabur 2020, Algorithm 1) as an optax transformation.

    For every parameter leaf θ with gradient g (elementwise)::

        θ'  = θ − η (g + λ·sign(θ))
        θ'' = θ' · 1[|θ'| ≥ β·λ]
        u   = θ'' − θ      (returned update; u = −θ where the entry is zeroed)

    ``β = 0`` is plain subgradient ℓ1 SGD (nothing is thresholded) and ``λ = 0`` is plain
    SGD (whatever β). No momentum (as in the paper).

    It reads ``params``, so it must be the **last** transform of a chain, e.g.
    ``optax.chain(optax.clip_by_global_norm(1.0), beta_lasso(...))``; anything after it
    would break the exact zeros.

    Args:
      learning_rate: η, a float or an optax schedule ``count -> η`` (evaluated at the
        number of updates applied so far: 0 on the first step).
      l1: λ >= 0, the ℓ1 coefficient.
      beta: β >= 0, the threshold multiplier; entries with ``|θ'| < β·λ`` become 0.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update(grads, state, params)``
      requires ``params`` (a ``ValueError`` is raised otherwise).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> tx = beta_lasso(0.1, l1=1e-3, beta=50.0)
      >>> params = {"w": jnp.array([1.0, 0.02, -0.5])}
      >>> state = tx.init(params)
      >>> grads = {"w": jnp.zeros(3)}
      >>> updates, state = tx.update(grads, state, params)
      >>> optax.apply_updates(params, updates)["w"]  # 0.02 - 1e-4 < 50 * 1e-3
      Array([ 0.9999,  0.    , -0.4999], dtype=float32)
    """
    # floats >= 0 (inf allowed; NaN, bools and strings are not): numbers or 0-d arrays
    lam = check_scalar(l1, name="l1", minimum=0, finite=False)
    b = check_scalar(beta, name="beta", minimum=0, finite=False)
    if not callable(learning_rate):
        check_scalar(learning_rate, name="learning_rate", minimum=0, finite=False)
    return optax.GradientTransformationExtraArgs(
        _init, functools.partial(_update, learning_rate, lam, b * lam))


def _init(params) -> BetaLassoState:
    del params
    return BetaLassoState(count=jnp.zeros([], jnp.int32))


def _update(learning_rate, lam, threshold, updates, state, params=None, **extra_args):
    """One β-LASSO step: ``u = θ'' − θ`` per leaf (see :func:`beta_lasso`)."""
    del extra_args
    if params is None:
        raise error("params", "the current parameters (a pytree like the gradients) in "
                    "update(grads, state, params): beta_lasso needs `params`, so put it last "
                    "in the chain and pass params through", None)
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate

    def leaf(g, p):
        if g is None:
            return None
        step = -lr * (g + lam * jnp.sign(p))
        step = jnp.asarray(step).astype(p.dtype)
        p_new = p + step  # exactly what apply_updates computes
        keep = jnp.abs(p_new) >= threshold
        return jnp.where(keep, step, -p)

    new_updates = jax.tree_util.tree_map(leaf, updates, params)
    return new_updates, BetaLassoState(count=optax.safe_increment(state.count))


def beta_lasso_partitioned(
    learning_rate: ScalarOrSchedule,
    *,
    l1_by_label: Mapping[str, float],
    beta: float | Mapping[str, float],
    label_fn: Callable[[Any], Any] | Any,
) -> optax.GradientTransformationExtraArgs:
    """β-LASSO with one λ (and optionally one β) per parameter group.

    Built on ``optax.partition``: leaf labels come from ``label_fn(params)`` (or a label
    pytree), and the group labelled ``k`` is updated by
    ``beta_lasso(learning_rate, l1=l1_by_label[k], beta=beta[k] or beta)``. A group with
    ``λ = 0`` is plain SGD (threshold β·0 = 0): use it for biases and BatchNorm
    parameters, which the paper does not regularize. Like :func:`beta_lasso` it must be
    the last transform in a chain.

    Args:
      learning_rate: float or optax schedule, shared by all groups.
      l1_by_label: ``{label: λ}``; every label that ``label_fn`` produces must be a key.
      beta: β for all groups, or ``{label: β}``.
      label_fn: ``params -> pytree of labels`` (see :func:`first_layer_label_fn`), or the
        label pytree itself.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Example:
      >>> label_fn = first_layer_label_fn("layers/0")
      >>> tx = beta_lasso_partitioned(
      ...     0.1, l1_by_label={"first": 1e-5, "rest": 2e-5, "no_l1": 0.0},
      ...     beta=50.0, label_fn=label_fn)
    """
    if not isinstance(l1_by_label, Mapping) or not l1_by_label:
        raise error("l1_by_label", "a non-empty mapping label -> λ", l1_by_label)
    if isinstance(beta, Mapping):
        missing = set(l1_by_label) - set(beta)
        if missing:
            raise error("beta", f"a β for every label of l1_by_label "
                        f"{sorted(map(str, l1_by_label))} (missing {sorted(map(str, missing))})",
                        beta)
        betas = {k: beta[k] for k in l1_by_label}
    else:
        betas = {k: beta for k in l1_by_label}
    transforms = {
        k: beta_lasso(learning_rate, l1=lam, beta=betas[k]) for k, lam in l1_by_label.items()
    }
    return optax.partition(transforms, label_fn)


def path_label_fn(
    rules: Sequence[tuple[str, str]], *, default: str
) -> Callable[[Any], Any]:
    """A ``label_fn`` that labels each leaf by regex rules on its path string.

    The path string is :func:`keypath_str` of the leaf (e.g. ``"layers/0/kernel"``); the
    first ``(pattern, label)`` whose ``re.search(pattern, path)`` matches wins, otherwise
    ``default``.

    Args:
      rules: sequence of ``(regex, label)``.
      default: label for leaves no rule matches.

    Returns:
      ``params -> pytree of str labels`` with the structure of ``params``.

    Example:
      >>> fn = path_label_fn([(r"(^|/)bias$", "no_l1"), (r"^fc1/", "first")], default="rest")
      >>> fn({"fc1": {"kernel": 0, "bias": 0}, "fc2": {"kernel": 0}})
      {'fc1': {'bias': 'no_l1', 'kernel': 'first'}, 'fc2': {'kernel': 'rest'}}
    """
    compiled = [(re.compile(p), str(lab)) for p, lab in rules]

    def label_fn(params):
        def lab(path, _):
            s = keypath_str(path)
            for pat, label in compiled:
                if pat.search(s):
                    return label
            return default

        return jax.tree_util.tree_map_with_path(lab, params)

    return label_fn


def first_layer_label_fn(
    first: str,
    *,
    weight_names: Sequence[str] = ("kernel",),
    labels: tuple[str, str, str] = ("first", "rest", "no_l1"),
) -> Callable[[Any], Any]:
    """``label_fn`` for the paper's split: first layer / later layers / not regularized.

    A leaf whose last path component is in ``weight_names`` is labelled ``labels[0]`` if
    its path starts with the prefix ``first`` (whole components: ``"layers/0"`` matches
    ``"layers/0/kernel"`` but not ``"layers/01/kernel"``), else ``labels[1]``; every other
    leaf (biases, BatchNorm ``scale``/``bias``, ...) is ``labels[2]``, to be given λ = 0.

    Args:
      first: path prefix of the first layer, e.g. ``"layers/0"`` or ``"fc1"``.
      weight_names: leaf names that are ℓ1-regularized weights.
      labels: the three label strings.

    Returns:
      ``params -> pytree of labels``, for :func:`beta_lasso_partitioned`.

    Example:
      >>> fn = first_layer_label_fn("fc1")
      >>> fn({"fc1": {"kernel": 0, "bias": 0}, "fc2": {"kernel": 0}})
      {'fc1': {'bias': 'no_l1', 'kernel': 'first'}, 'fc2': {'kernel': 'rest'}}
    """
    prefix = first.strip("/")
    names = tuple(weight_names)

    def label_fn(params):
        def lab(path, _):
            s = keypath_str(path)
            if s.rsplit("/", 1)[-1] not in names:
                return labels[2]
            if s == prefix or s.startswith(prefix + "/"):
                return labels[0]
            return labels[1]

        return jax.tree_util.tree_map_with_path(lab, params)

    return label_fn


def embedded_conv_step(layer: str, in_shape, kernel_size, *, strides=1, padding="VALID",
                       dilation=1, groups: int = 1) -> optax.GradientTransformation:
    """The CNN's own step for the conv component of an embedded dense layer.

    After :func:`jaxcnn.models.embed` a dense layer holds ``W = A k`` (``A``: the linear
    map of :func:`jaxcnn.conv_to_dense`). Its gradient is ``g = dL/dW`` and the CNN's was
    ``dL/dk = Aᵀ g``. A plain step ``W - η g`` moves the projected kernel
    (:func:`jaxcnn.dense_to_conv`, ``(AᵀA)⁺ Aᵀ``) by ``η`` times the *mean* of the tied
    gradient entries, ``(η / P) dL/dk`` for a tap read at ``P`` positions: in FC space the
    convolutional part trains ``P`` times slower than it did as a CNN. This transform
    replaces the layer's gradient by::

        g' = g - Π g + A Aᵀ g,      Π = A (AᵀA)⁺ Aᵀ  (dense_to_conv, then conv_to_dense)

    so ``Π g' = A (dL/dk)``, the CNN's gradient embedded, while the component orthogonal
    to the conv subspace is untouched: ``(I - Π) g' = (I - Π) g``. The layer's bias
    ``(prod(out_spatial) * C_out,)`` gets the same treatment with ``A`` the broadcast of a
    per-channel bias over output positions (``Aᵀ``: the sum over positions). Stateless;
    put it before the optimizer in an ``optax.chain``. Other leaves pass unchanged.

    Args:
      layer: path of the dense layer (:func:`keypath_str` form), e.g. ``"features/0"``;
        its leaves ``layer + "/kernel"`` ``(prod(in_shape), prod(out_spatial) * C_out)``
        and, if present, ``layer + "/bias"`` are transformed.
      in_shape: ``(*spatial, C_in)`` of the layer's input.
      kernel_size, strides, padding, dilation, groups: the embedded convolution's
        geometry, as in :func:`jaxcnn.dense_to_conv`.

    Returns:
      An ``optax.GradientTransformation`` (stateless).

    Raises:
      ValueError: (at the first update) no leaf ``layer + "/kernel"`` in the updates, or
        a kernel whose shape does not fit the geometry (:func:`jaxcnn.dense_to_conv`).

    Example:
      >>> tx = optax.chain(embedded_conv_step("features/0", (40, 1), (9,), strides=2,
      ...                                     padding="SAME"), optax.sgd(0.02))
    """
    prefix = layer.strip("/")
    geometry = {"in_shape": in_shape, "kernel_size": kernel_size, "strides": strides,
                "padding": padding, "dilation": dilation, "groups": groups}

    def update_fn(updates, state, params=None):
        del params
        named = {keypath_str(p): g for p, g in jax.tree_util.tree_flatten_with_path(updates)[0]}
        if prefix + "/kernel" not in named:
            raise error("layer", f"a path whose '{prefix}/kernel' leaf is in the updates",
                        prefix)
        new_kernel, c_out = _conv_step_kernel(named[prefix + "/kernel"], **geometry)
        new = {prefix + "/kernel": new_kernel}
        if prefix + "/bias" in named:
            new[prefix + "/bias"] = _conv_step_bias(named[prefix + "/bias"], c_out)
        out = jax.tree_util.tree_map_with_path(
            lambda path, g: new.get(keypath_str(path), g), updates)
        return out, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def _conv_step_kernel(g, *, in_shape, kernel_size, **geometry):
    """``(g - Π g + A Aᵀ g, C_out)`` for a dense gradient ``g`` (:func:`embedded_conv_step`)."""
    k_mean = dense_to_conv(g, in_shape, kernel_size, **geometry)  # (AᵀA)⁺ Aᵀ g
    embed = lambda k: conv_to_dense(k, in_shape, **geometry)  # noqa: E731
    (k_sum,) = jax.vjp(embed, k_mean)[1](g.astype(k_mean.dtype))  # Aᵀ g
    return (g + embed(k_sum - k_mean)).astype(g.dtype), k_mean.shape[-1]


def _conv_step_bias(b, c_out: int):
    """A bias gradient ``(positions * C_out,)`` with its per-channel mean over positions
    replaced by the sum (the broadcast embedding's ``A Aᵀ`` for ``Π``)."""
    per_position = b.reshape(-1, c_out)
    return (per_position + per_position.sum(0) - per_position.mean(0)).reshape(b.shape)
