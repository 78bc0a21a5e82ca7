"""Timing and memory benchmarks for jaxcnn (``python -m benchmarks.run``)."""
