"""How convolution-like is a dense layer? Metrics on dense weight matrices.

A dense weight ``W`` has shape ``(in_features, out_features)`` and is applied as
``x.reshape(*batch, -1) @ W``, the input being flattened in C order from
``in_shape = (*spatial, C_in)`` (1, 2 or 3 spatial dims). Column ``W[:, j]`` is hidden
unit ``j``'s filter; ``W[:, j].reshape(in_shape)`` is that filter as an image.

Reference scores (derived in each docstring and checked in ``tests/test_metrics.py``):

=====================  ==============  ===========  ==============  ===============
unit / matrix          ipr             locality     weight_sharing  conv_distance
=====================  ==============  ===========  ==============  ===============
conv-embedded          ipr(kernel)     1            1               0
locally connected      ~ 3/(k·C)       1            ≈ 0             > 0
random dense (D)       ≈ 3/D           ≈ k/S (+)    ≈ 0             ≈ 1
one-hot                1               1            —               —
=====================  ==============  ===========  ==============  ===============

(k = window size, S = spatial size.) :func:`weight_sharing` is calibrated against a
permutation null, so "nothing shared" is ≈ 0 at any number of units; the raw
:func:`aligned_filter_similarity` it builds on sits at a chance level that grows with the
number of units (:func:`weight_sharing_chance`).

All array metrics are pure, jittable functions (shapes and window sizes are static);
:func:`nonzeros` and :func:`sparsity` are host-side summaries that return Python numbers.
One topic per submodule: ``sparse`` (IPR, zero counts), ``spatial`` (spatial mass,
centre, best window, locality), ``similarity`` (raw aligned similarity and its chance level),
``sharing`` (the calibrated weight sharing; ``alignment`` holds its window alignment
and null), ``distance`` (to the conv and locally connected subspaces).
"""

from jaxcnn.metrics.distance import conv_distance, local_distance
from jaxcnn.metrics.sharing import SharingStats, weight_sharing, weight_sharing_stats
from jaxcnn.metrics.similarity import aligned_filter_similarity, weight_sharing_chance
from jaxcnn.metrics.sparse import ipr, nonzeros, sparsity
from jaxcnn.metrics.spatial import (
    Window,
    best_window,
    locality,
    receptive_field_center,
    spatial_mass,
)
from jaxcnn.tree import keypath_str

__all__ = [
    "SharingStats",
    "Window",
    "aligned_filter_similarity",
    "best_window",
    "conv_distance",
    "ipr",
    "keypath_str",
    "local_distance",
    "locality",
    "nonzeros",
    "receptive_field_center",
    "sparsity",
    "spatial_mass",
    "weight_sharing",
    "weight_sharing_chance",
    "weight_sharing_stats",
]
