"""How convolution-like is a dense layer? Metrics on dense weight matrices and layers.

A dense weight ``W`` has shape ``(in_features, out_features)`` and is applied as
``x.reshape(*batch, -1) @ W``, the input being flattened in C order from
``in_shape = (*spatial, C_in)`` (1, 2 or 3 spatial dims, **the channel axis last**).
Column ``W[:, j]`` is hidden unit ``j``'s filter; ``W[:, j].reshape(in_shape)`` is that
filter as an image.

**Spatial rank.** ``in_shape`` alone cannot tell ``(28, 28)`` read as 1-D with 28
channels from a 28x28 image whose channel axis was forgotten, so every function that
takes ``(in_shape, window)`` (or ``kernel_size``) reads the rank from the window: a
tuple window fixes it (``in_shape`` must then have ``len(window) + 1`` entries); an int
window is accepted only where ``in_shape`` reads one way — 3 spatial dims, or
``C_in == 1``, or ``C_in`` smaller than the window. Anything else is refused with
``in_shape: expected ...``: pass ``(28, 28, 1)``, or a tuple window.

**Reference scores** (derived in each docstring and checked in ``tests/test_metrics*.py``;
``k`` = window size, ``S`` = spatial size):

====================  ===========  =========  ==========  =======  ==========  =========
unit / matrix         ipr          locality   cal. loc.   sharing  equivar.    conv dist.
====================  ===========  =========  ==========  =======  ==========  =========
conv-embedded         ipr(kernel)  1          1           1        1           0
locally connected     ~ 3/(k·C)    1          1           ≈ 0      ≈ 0         > 0
random dense (D)      ≈ 3/D        ≈ k/S (+)  ≈ 0         ≈ 0      ≈ 0         ≈ 1
3 taps, compact       ≥ 1/3        1          1           —        —           —
3 taps, scattered     ≥ 1/3        ≈ 0.7      ≈ 0         —        —           —
one tap               1            1          NaN         —        —           —
half-taps of shared   —            1          1           1        —           —
====================  ===========  =========  ==========  =======  ==========  =========

(``cal. loc.`` = :func:`calibrated_locality`, ``sharing`` = :func:`weight_sharing`,
``equivar.`` = :func:`translation_equivariance` at shifts 1-4, ``conv dist.`` =
:func:`conv_distance`; the 3-tap rows on a 28x28 input with a 5x5 window; measured
values in ``tests/test_metrics_calibrated.py``: e.g. a conv layer scores 1.00 on
sharing, calibrated locality and equivariance at 100 and at 2,000 units.)

"half-taps of shared": every unit keeps a different random half of the 20 taps of one
of a few shared filters, at different positions (what an L1-pruned layer that shares
would look like); full copies score the same, unrelated units of the same taps ≈ 0.

**Read them with their power and census.** A sparse unit is local by construction (a
one-tap unit has locality 1): :func:`calibrated_locality` compares it with the same
weights scattered at random. Weight sharing needs taps to compare: units of 1-2 taps
cannot show it, and :func:`sharing_power` says, at a layer's own sparsity, whether
planted sharing would be detected — below a detection rate of 0.8 a low score means
"not detectable here", not "no sharing". :func:`weight_sharing_stats` gives the
unclipped ``S − S₀``, so a comparison of two layers can fail either way.
:func:`census` counts dead units and taps per live unit; average the unit metrics over
live units and state the dead fraction beside them. :func:`translation_equivariance`
needs no weights at all: it compares the layer's responses to shifted inputs.

**The learned change.** Every weight metric applies to any dense matrix, in particular
to ``W − W₀``: a layer trained by SGD stays close to its random initialisation ``W₀``,
so its own locality and sharing measure the initialisation; those of ``W − W₀``
measure what was learned (:func:`census` takes ``w0=`` for the same purpose).

**Non-finite weights** never give a finite score: array metrics return NaN (per unit
where they are per unit; the whole score where one entry enters it, e.g.
:func:`weight_sharing`), host-side summaries (:func:`nonzeros`, :func:`sparsity`,
:func:`census`, :func:`sharing_power`) raise ``ValueError`` naming the argument.

All array metrics are pure, jittable functions (shapes and window sizes are static);
:func:`nonzeros`, :func:`sparsity`, :func:`census` and :func:`sharing_power` are
host-side summaries that return Python numbers. One topic per submodule: ``sparse``
(IPR, zero counts, census), ``spatial`` (spatial mass, centre, best window, locality
and its calibrated form), ``similarity`` (raw aligned similarity and its chance level),
``sharing`` (the calibrated weight sharing; ``alignment`` holds its window alignment,
anchors, evidence and null), ``power`` (its detection power at a given sparsity),
``equivariance`` (the functional test), ``distance`` (to the conv and locally connected
subspaces).
"""

from jaxcnn.metrics.distance import conv_distance, local_distance
from jaxcnn.metrics.equivariance import translation_equivariance
from jaxcnn.metrics.power import SharingPower, sharing_power, sharing_stats_and_power
from jaxcnn.metrics.sharing import SharingStats, weight_sharing, weight_sharing_stats
from jaxcnn.metrics.similarity import aligned_filter_similarity, weight_sharing_chance
from jaxcnn.metrics.sparse import Census, census, ipr, nonzeros, sparsity
from jaxcnn.metrics.spatial import (
    Window,
    best_window,
    calibrated_locality,
    locality,
    receptive_field_center,
    spatial_mass,
)
from jaxcnn.tree import keypath_str

__all__ = [
    "Census",
    "SharingPower",
    "SharingStats",
    "Window",
    "aligned_filter_similarity",
    "best_window",
    "calibrated_locality",
    "census",
    "conv_distance",
    "ipr",
    "keypath_str",
    "local_distance",
    "locality",
    "nonzeros",
    "receptive_field_center",
    "sharing_power",
    "sharing_stats_and_power",
    "sparsity",
    "spatial_mass",
    "translation_equivariance",
    "weight_sharing",
    "weight_sharing_chance",
    "weight_sharing_stats",
]
