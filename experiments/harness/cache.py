"""JAX's persistent compilation cache for the studies.

Identical programs (same model, optimizer and shapes) are then compiled once per machine
instead of once per :func:`jaxcnn.train.train` call.
"""

from __future__ import annotations

import os

__all__ = ["enable_compilation_cache"]


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turns on JAX's persistent compilation cache (unless one is configured already).

    Args:
      path: cache folder; default ``jaxcnn.data.cache_dir()/xla``.

    Returns:
      The cache folder in use, or ``None`` when disabled by ``JAXCNN_NO_COMPILE_CACHE=1``.
    """
    import jax

    if os.environ.get("JAXCNN_NO_COMPILE_CACHE", "0") == "1":
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    from jaxcnn.data import cache_dir

    path = path or os.path.join(cache_dir(), "xla")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path
