"""Models: Neyshabur's S-/D-CONV, -LOCAL, -FC and 3-FC; MNIST-1D baselines; a two-layer net.

Every model is a Flax NNX module with one interface (:class:`Classifier`): built as
``Model(in_shape, num_classes, *, <hyperparameters>, rngs=nnx.Rngs(0))`` with
``in_shape = (*spatial, C)`` (1-3 spatial dims), it maps ``x: (*batch, *spatial, C)``
to logits ``(*batch, num_classes)``; ``model.train()`` / ``model.eval()`` switch every
BatchNorm between batch statistics (momentum 0.9) and the running averages.

What is where (everything is re-exported here):

* :mod:`~jaxcnn.models.base` -- :class:`Classifier`, the shared ``in_shape`` check;
* :mod:`~jaxcnn.models.neyshabur` -- :class:`SConv`, :class:`SLocal`, :class:`SFC`,
  :class:`DConv`, :class:`DLocal`, :class:`DFC`, on the shared base of
  :mod:`~jaxcnn.models.windowed` (layer plans, BatchNorm semantics);
* :mod:`~jaxcnn.models.baselines` -- :class:`ThreeFC`, :class:`MNIST1DMLP`,
  :class:`Logistic`, :class:`MNIST1DCNN`;
* :mod:`~jaxcnn.models.two_layer` -- :class:`TwoLayerNet`, :class:`FixedReadout`,
  :func:`erf_activation`;
* :mod:`~jaxcnn.models.inspection` -- :func:`first_layer`, :func:`first_layer_dense`,
  :func:`first_layer_path`, :func:`kernel_paths`, :func:`torch_default_init`;
* :mod:`~jaxcnn.models.param_count` -- :func:`paper_param_count` (closed forms);
  :func:`count_params` is :func:`jaxcnn.tree.count_params`;
* :mod:`~jaxcnn.models.embedding` -- :func:`embed`, the exact CNN -> LCN / FC map.

Example:
  >>> import jax.numpy as jnp
  >>> from flax import nnx
  >>> model = SConv((32, 32, 3), 10, alpha=4, rngs=nnx.Rngs(0))
  >>> model(jnp.ones((2, 32, 32, 3))).shape
  (2, 10)
  >>> fc = embed(model, to="fc")  # identical logits, as a fully connected network
"""

from jaxcnn.models.base import Classifier
from jaxcnn.models.baselines import MNIST1DCNN, MNIST1DMLP, Logistic, ThreeFC
from jaxcnn.models.embedding import embed
from jaxcnn.models.inspection import (first_layer, first_layer_dense, first_layer_path,
                                      kernel_paths, torch_default_init)
from jaxcnn.models.neyshabur import DFC, SFC, DConv, DLocal, SConv, SLocal
from jaxcnn.models.param_count import paper_param_count
from jaxcnn.models.two_layer import FixedReadout, TwoLayerNet, erf_activation  # noqa: F401
from jaxcnn.tree import count_params

__all__ = [
    "Classifier",
    "SConv", "SLocal", "SFC", "DConv", "DLocal", "DFC", "ThreeFC",
    "MNIST1DMLP", "MNIST1DCNN", "Logistic", "TwoLayerNet",
    "first_layer", "first_layer_dense", "first_layer_path", "kernel_paths", "embed",
    "count_params", "paper_param_count",
    "erf_activation", "torch_default_init",
]
