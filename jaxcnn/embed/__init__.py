"""CNN ⊂ LCN ⊂ FC, exactly: the embeddings as dense matrices and the projections back.

Every windowed layer is a linear map ``R^{in_features} -> R^{out_features}`` with
``in_features = prod(in_shape)``, ``in_shape = (*spatial, C_in)``, and
``out_features = prod(out_spatial) * C_out``. As a dense weight (Flax ``Linear``
layout, C-order flattening of ``(*spatial, C_in)`` and ``(*out_spatial, C_out)``)::

    x.reshape(*b, -1) @ conv_to_dense(kernel, in_shape, ...)
        == conv(x, kernel, ...).reshape(*b, -1)

The three layer families are nested linear subspaces of the dense weights:

* **CNN**: ``W = A k`` for a shared kernel ``k`` (``A`` = :func:`conv_to_dense`);
* **LCN**: ``W = B L`` for a local kernel ``L`` (``B`` = :func:`local_to_dense`),
  i.e. ``W`` is zero outside :func:`locality_mask`;
* **FC**: any ``W``.

How the maps are built
----------------------
Per spatial dim ``d`` the geometry (stride, dilation, padding) is a 0/1 *selection
tensor* ``S_d[o, i, p] = 1`` iff kernel tap ``o`` of output position ``p`` reads
input position ``i`` (``i = p*stride + o*dilation - pad_low``, wrapped modulo the
input size for ``"CIRCULAR"``, dropped when it falls on zero padding). The full
selection is the product over dims, so a shared kernel embeds as::

    W[i, c, p, e] = sum_o  prod_d S_d[o_d, i_d, p_d] * k[o, c, e]

computed as one small ``einsum`` per spatial dim (``precision=HIGHEST``). Each
entry of ``W`` is a sum of one product ``k * 1.0`` and zeros, hence *bit-exact*
(taps that alias under ``"CIRCULAR"`` padding with a window larger than the input
are summed, exactly as the convolution sums them). Memory is ``O(size of W)`` and
there is no Python loop over entries: the S-FC first layer (32x32x3 input, 9x9x3x64
kernel, stride 2, SAME; a 3072 x 16384 matrix) takes about a second on a laptop CPU.

Why the projections are "means of tied entries"
-----------------------------------------------
The orthogonal (Frobenius) projection of ``W`` onto the range of ``A`` is
``A k*`` with ``k* = argmin_k ||W - A k||_F = (AᵀA)⁺ Aᵀ W``. ``Aᵀ W`` *sums* the
entries of ``W`` tied to each kernel weight (it is the transpose of the
embedding, computable with the same einsums). Because ``A`` copies the same
channel block to every (tap, position) pair, ``AᵀA = G ⊗ I_channels`` with the
small ``K x K`` Gram matrix over kernel offsets (``K = prod(kernel_size)``)::

    G[o, o'] = #{(i, p): tap o and tap o' of position p both read input i}
             = ⊗_d G_d,   G_d[o, o'] = sum_{i,p} S_d[o, i, p] S_d[o', i, p].

Without aliasing ``G`` is diagonal and ``G[o, o]`` counts the positions where tap
``o`` falls on real input, so ``k*[o] = (sum of the tied entries) / (their
count)``: the projection is the mean of the tied entries — the least-squares
fit of one shared value to many copies. Taps that only ever fall on padding
(``G[o, o] = 0``) do not affect the map; the pseudo-inverse returns ``0`` for
them. With ``"CIRCULAR"`` padding and a window larger than the input, two taps
can read the same input (``G`` is not diagonal, ``A`` is not injective); then
``(AᵀA)⁺ = ⊗_d G_d⁺ ⊗ I`` still gives the exact projection, expressed as the
minimum-norm kernel. The same holds for the LCN with one Gram matrix per output
position, ``G_p = ⊗_d G_{d, p_d}``; without aliasing it is a 0/1 diagonal, so
:func:`dense_to_local` is the restriction of ``W`` to the window (entries on
padding -> 0).

How the mean is computed: without aliasing, :func:`dense_to_conv` and
:func:`local_to_conv` gather the tied entries (the convolution's nonzero pattern,
smaller than ``W``) and take their mean as ``r + mean(x - r)``, ``r`` the entry at
the tap's first valid position. For equal entries every deviation is ``0`` and ``r``
comes back bit for bit (a float32 sum of ``P`` equal numbers divided by ``P`` can miss
by an ulp); for unequal entries it is the mean to float rounding. A non-finite entry
of ``W`` makes its channel pair NaN at every tap (as the sum ``Aᵀ W`` would). The
aliased case uses the einsum chain above and the pseudo-inverse, and is exact only up
to float rounding.

Consequences (all tested): ``dense_to_conv(conv_to_dense(k)) == k`` **bit for bit**
wherever every tap touches the input and no taps alias (and
``local_to_conv(conv_to_local(k)) == k`` likewise); ``conv_to_dense(dense_to_conv(.))``
is idempotent and its residual is orthogonal to every convolution (to float
rounding); likewise for the LCN.

All functions validate their arguments at trace time (``ValueError`` naming the
argument), are pure, and jit/vmap/grad-safe with the geometry as static
Python values. Results keep the input dtype (integers are promoted to float for
the projections only).
"""

from jaxcnn.embed.conv_dense import conv_to_dense, dense_to_conv
from jaxcnn.embed.conv_local import conv_to_local, local_to_conv
from jaxcnn.embed.local_dense import dense_to_local, local_to_dense
from jaxcnn.embed.mask import locality_mask

__all__ = [
    "conv_to_dense",
    "conv_to_local",
    "dense_to_conv",
    "dense_to_local",
    "local_to_conv",
    "local_to_dense",
    "locality_mask",
]
