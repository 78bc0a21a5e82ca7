"""Multi-process (multi-host) set-up: ``jax.distributed`` from flags or the environment.

Every process of a run calls :func:`initialize` first, before any other JAX call, with
the same coordinator address and process count and its own id (from command-line flags,
or from JAX's environment variables ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``
and ``JAX_PROCESS_ID`` when the flags are not given). On CPU the processes talk through
gloo collectives. Afterwards each process passes :func:`process_slice` of the dataset to
the trainer, and only the :func:`is_writer` process (process 0) writes results and
figures.

Example:
    >>> from jaxcnn.train import distributed
    >>> distributed.initialize()  # no flags, no environment: a single process
    1
    >>> distributed.is_writer()
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from jaxcnn.validation import check_int, error

__all__ = ["ENV_VARS", "barrier", "initialize", "is_writer", "process_slice", "resolve"]

ENV_VARS = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
            "process_id": "JAX_PROCESS_ID"}
"""The environment variable JAX reads for each setting (used when a flag is not given)."""

def _from_env(name: str, value: Any) -> Any:
    if value is not None:
        return value
    text = os.environ.get(ENV_VARS[name])
    if text is None or text == "":
        return None
    if name == "coordinator":
        return text
    try:
        return int(text)
    except ValueError:
        raise error(ENV_VARS[name], "an int", text) from None


def _check_coordinator(coordinator: Any) -> str:
    host, sep, port = str(coordinator).rpartition(":")
    if not (isinstance(coordinator, str) and sep and host and port.isdigit()
            and 0 < int(port) < 65536):
        raise error("coordinator", "HOST:PORT, e.g. 127.0.0.1:12355", coordinator)
    return coordinator


def resolve(coordinator: str | None = None, num_processes: int | None = None,
            process_id: int | None = None) -> tuple[str, int, int] | None:
    """Checks the three settings (flags first, then the environment) for consistency.

    Returns:
      ``None`` for a single-process run (nothing given, or ``num_processes == 1``
      without a coordinator), else ``(coordinator, num_processes, process_id)``.

    Raises:
      ValueError: naming the setting: a process id >= the process count, a missing
        coordinator or id in a multi-process run, a malformed ``HOST:PORT``.
    """
    coordinator = _from_env("coordinator", coordinator)
    num_processes = _from_env("num_processes", num_processes)
    process_id = _from_env("process_id", process_id)
    if coordinator is None and process_id is None and num_processes in (None, 1):
        return None
    if num_processes is None:
        raise error("num_processes", "the number of processes (--num-processes or "
                    f"{ENV_VARS['num_processes']}) when a coordinator or process id is given",
                    None)
    num_processes = check_int(num_processes, name="num_processes", minimum=1)
    if coordinator is None:
        raise error("coordinator", f"HOST:PORT of process 0 (--coordinator or "
                    f"{ENV_VARS['coordinator']}) for {num_processes} processes", None)
    if process_id is None:
        raise error("process_id", f"this process's id in [0, {num_processes}) (--process-id "
                    f"or {ENV_VARS['process_id']})", None)
    process_id = check_int(process_id, name="process_id", minimum=0, maximum=num_processes - 1)
    return _check_coordinator(coordinator), num_processes, process_id


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, timeout_s: int = 120) -> int:
    """Starts ``jax.distributed`` when a multi-process run is asked for.

    Must run before any other JAX call of the process. On CPU it selects gloo
    collectives, so that processes on one or several hosts form one global mesh.
    Calling it again (e.g. a second experiment in one process) is a no-op.

    Args:
      coordinator: ``HOST:PORT`` of process 0 (default: ``JAX_COORDINATOR_ADDRESS``).
      num_processes: how many processes take part (default: ``JAX_NUM_PROCESSES``).
      process_id: this process's id in ``[0, num_processes)`` (default: ``JAX_PROCESS_ID``).
      timeout_s: how long to wait for the other processes.

    Returns:
      The number of processes (1 when nothing asks for more).

    Raises:
      ValueError: for inconsistent settings (see :func:`resolve`).
    """
    settings = resolve(coordinator, num_processes, process_id)
    if settings is None:
        return 1
    import jax

    if not jax.distributed.is_initialized():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        address, n, pid = settings
        jax.distributed.initialize(coordinator_address=address, num_processes=n,
                                   process_id=pid, initialization_timeout=timeout_s)
    return jax.process_count()


def is_writer() -> bool:
    """True in the process that writes results, figures and reports (process 0)."""
    import jax

    return jax.process_index() == 0


def process_slice(data: Mapping[str, Any]) -> dict[str, Any]:
    """This process's equal-sized, contiguous slice of every split of ``data``.

    Process ``p`` of ``P`` keeps rows ``[p * n // P, (p + 1) * n // P)`` of each array;
    the trainer concatenates the slices in process order, so the global dataset is the
    original one. Other entries (metadata) pass through. A single process gets ``data``
    unchanged.

    Raises:
      ValueError: if a split's length is not divisible by the process count.
    """
    import jax

    nproc, pid = jax.process_count(), jax.process_index()
    if nproc == 1:
        return dict(data)
    out = dict(data)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        if name not in data:
            continue
        n = len(data[name])
        if n % nproc:
            raise error(f"data['{name}']", f"a number of rows divisible by the {nproc} "
                        "processes (each loads an equal slice)", n)
        out[name] = data[name][pid * n // nproc:(pid + 1) * n // nproc]
    return out


def barrier(name: str) -> None:
    """Waits until every process reached the barrier ``name`` (no-op for one process).

    The barrier is a sum over every device of every process (public ``jax.sharding``
    APIs only): no process has the result before all have contributed to it.

    Raises:
      RuntimeError: the sum is not the number of devices (a process did not take part).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if jax.process_count() == 1:
        return
    mesh = Mesh(np.array(jax.devices()), ("all",))
    ones = jax.make_array_from_process_local_data(
        NamedSharding(mesh, PartitionSpec("all")), np.ones(jax.local_device_count(), np.int32))
    total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, PartitionSpec()))(ones)
    arrived = int(np.asarray(total.addressable_data(0)))
    if arrived != jax.device_count():
        raise RuntimeError(f"barrier {name!r}: {arrived} of {jax.device_count()} devices "
                           "took part")
