"""The first step of ``benchmarks/gpu_run.sh``: is this machine ready for the measured steps?

    python -m benchmarks.preflight OUT            # on the GPU machine: fails without a GPU
    python -m benchmarks.preflight OUT --cpu-ok   # the CPU dry run

In about a minute, and in this order, stopping at the first failure with one line that
says what failed and what to do:

1. the versions of Python, jax/jaxlib, flax, optax, orbax, chex, numpy, matplotlib,
   scikit-learn, tqdm, torch, mnist1d and mlxtend (the last two are not on the GPU image:
   ``make gpu-wheels`` here, then carry ``.whl``), and the devices;
2. every measured step at tiny sizes, in this process (``benchmarks.run`` on the MNIST-1D
   conv shapes, ``train_suite --quick``, ``sfc_step --tiny``, ``emergence_part --tiny``);
3. a quick test subset (:data:`TESTS`) under pytest, float32 matmuls at full precision
   (TF32 would fail the comparisons with ``lax`` at ``precision=HIGHEST``, which is a
   statement about TF32, not about jaxcnn) and no GPU memory preallocation (this process
   holds its own); warnings, deprecations included, are listed in the log, not fatal.

Writes ``OUT/preflight.json`` (versions, every check's status and seconds). Exit status 0
when everything passed, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback

from experiments.harness.provenance import package_versions

#: Distributions whose versions are recorded; the last two must travel as wheels.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "chex", "numpy",
            "matplotlib", "scikit-learn", "tqdm", "torch", "mnist1d", "mlxtend")
REQUIRED = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "chex", "numpy",
            "matplotlib", "scikit-learn", "tqdm", "mnist1d", "mlxtend")
#: The quick test subset: the kernels against lax, forward and gradients, 1-D/2-D/3-D.
TESTS = ("tests/test_conv.py", "tests/test_public_names.py")
TEST_SECONDS = 40
#: The same on the CPU dry run (``--cpu-ok``), which may share a busy CI machine.
CPU_TEST_SECONDS = 600


def versions() -> dict:
    """Python's version and every :data:`PACKAGES` distribution's (``None``: absent)."""
    return {"python": platform.python_version(), **package_versions(PACKAGES)}


def tiny_runs(out: str) -> list[tuple[str, list[str], object]]:
    """``(name, argv, main)`` of every measured step at tiny sizes."""
    from benchmarks import emergence_part, run, sfc_step, train_suite

    return [
        ("kernels", ["--suite", "gpu", "--only", "conv", "--filter", "mnist1d",
                     "--mode", "fwd+bwd", "--repeats", "1", "--sample-ms", "2",
                     "--out", os.path.join(out, "preflight_kernels.json")], run.main),
        ("train", ["--quick", "--seeds", "1,2", "--no-sfc", "--no-torch"], train_suite.main),
        ("sfc", ["--tiny"], sfc_step.main),
        ("emergence", ["--tiny"], emergence_part.main),
    ]


class Preflight:
    """Runs the checks in order and records them; the first failure ends the run."""

    def __init__(self, out: str):
        self.out = out
        self.record: dict = {"checks": [], "passed": False}

    def check(self, name: str, fn) -> bool:
        print(f"-- preflight: {name}", flush=True)
        t0 = time.perf_counter()
        try:
            detail = fn()
            ok, why = (True, None) if detail is None else detail
        except BaseException as e:  # noqa: BLE001 - SystemExit from a main() too
            if isinstance(e, KeyboardInterrupt):
                raise
            traceback.print_exc()
            ok, why = False, f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - t0
        self.record["checks"].append({"name": name, "ok": ok, "seconds": seconds,
                                      "why": why})
        self.save()
        if not ok:
            print(f"PREFLIGHT FAILED at '{name}' ({why}); the measured steps were not run.",
                  flush=True)
        return ok

    def save(self) -> None:
        with open(os.path.join(self.out, "preflight.json"), "w") as f:
            json.dump(self.record, f, indent=1)


def _versions_check(pf: Preflight, cpu_ok: bool):
    v = versions()
    pf.record["versions"] = v
    for name, value in v.items():
        print(f"   {name:18s} {value}")
    missing = [n for n in REQUIRED if v.get(n) is None]
    if missing:
        return False, (f"missing {', '.join(missing)}: run `make gpu-wheels` on the "
                       f"development machine and carry .whl")
    import jax

    pf.record["backend"] = jax.default_backend()
    pf.record["devices"] = [str(d) for d in jax.devices()]
    print(f"   backend {jax.default_backend()}: {pf.record['devices']}")
    if not cpu_ok and jax.default_backend() != "gpu":
        return False, f"backend: expected gpu, got {jax.default_backend()!r}"
    return None


def _quiet(step_main, step_argv) -> None:
    """Runs a step's ``main(argv)``; its result is not a check's detail."""
    step_main(step_argv)


def _tests_check(limit: float = TEST_SECONDS):
    env = dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION="highest",
               XLA_PYTHON_CLIENT_PREALLOCATE="false")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m",
           "not slow", *TESTS]
    try:
        proc = subprocess.run(cmd, env=env, timeout=limit, capture_output=True,
                              text=True)
    except subprocess.TimeoutExpired:
        return False, f"tests: longer than {limit} s"
    print(proc.stdout[-2000:], proc.stderr[-2000:], flush=True)
    if proc.returncode != 0:
        return False, f"tests: pytest exit status {proc.returncode}"
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = [a for a in argv if a != "--cpu-ok"]
    if len(args) != 1:
        raise SystemExit("usage: python -m benchmarks.preflight OUT [--cpu-ok]")
    out = args[0]
    os.makedirs(out, exist_ok=True)
    pf = Preflight(out)
    ok = pf.check("versions", lambda: _versions_check(pf, "--cpu-ok" in argv))
    for name, step_argv, step_main in (tiny_runs(out) if ok else []):
        ok = ok and pf.check(f"tiny {name}", lambda m=step_main, a=step_argv: _quiet(m, a))
    ok = ok and pf.check("tests", lambda: _tests_check(
        CPU_TEST_SECONDS if "--cpu-ok" in argv else TEST_SECONDS))
    pf.record["passed"] = bool(ok)
    pf.save()
    total = sum(c["seconds"] for c in pf.record["checks"])
    print(f"preflight {'passed' if ok else 'FAILED'} in {total:.0f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
