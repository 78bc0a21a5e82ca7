"""jaxcnn: convolution as a shared dense map over patches, in JAX.

CNN ⊂ LCN ⊂ FC, made exact: ``conv`` is a dense map shared across patch
positions (``jax.vmap``), ``local_conv`` the same map unshared, and ``embed``
turns each into the dense matrix of the fully connected layer it is.
"""

from jaxcnn.conv import conv, dense, fc_as_conv, local_conv, mlp_conv
from jaxcnn.patches import extract_patches, output_shape

__version__ = "0.1.0"

__all__ = [
    "conv",
    "dense",
    "extract_patches",
    "fc_as_conv",
    "local_conv",
    "mlp_conv",
    "output_shape",
]
