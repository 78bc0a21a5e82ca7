"""jaxcnn: convolution as a shared dense map over patches, in JAX.

CNN ⊂ LCN ⊂ FC, made exact: ``conv`` is a dense map shared across patch
positions (``jax.vmap``), ``local_conv`` the same map unshared, and the
``*_to_dense`` embeddings turn each into the dense matrix of the fully connected
layer it is; ``dense_to_*`` are the orthogonal projections back.

Submodules: ``jaxcnn.metrics``, ``jaxcnn.optim``, ``jaxcnn.nn``, ``jaxcnn.models``,
``jaxcnn.data``, ``jaxcnn.train`` (imported on first use).
"""

from jaxcnn.conv import conv, dense, fc_as_conv, local_conv, mlp_conv
from jaxcnn.embed import (
    conv_to_dense,
    conv_to_local,
    dense_to_conv,
    dense_to_local,
    local_to_conv,
    local_to_dense,
    locality_mask,
)
from jaxcnn.patches import extract_patches, output_shape

__version__ = "0.1.0"

_SUBMODULES = ("data", "embed", "io", "metrics", "models", "nn", "optim", "patches", "stats", "train",
               "tree", "validation")

__all__ = [
    "conv",
    "conv_to_dense",
    "conv_to_local",
    "dense",
    "dense_to_conv",
    "dense_to_local",
    "extract_patches",
    "fc_as_conv",
    "local_conv",
    "local_to_conv",
    "local_to_dense",
    "locality_mask",
    "mlp_conv",
    "output_shape",
    *_SUBMODULES,
]


def __getattr__(name):
    # Lazy submodules: `import jaxcnn` stays light (no flax/optax import until used).
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"jaxcnn.{name}")
    raise AttributeError(f"module 'jaxcnn' has no attribute {name!r}")
