"""jaxcnn vs lax: time ratios and compiled peak memory.

Usage::

    python -m benchmarks.run                       # CPU suite (< 5 min on 2 cores)
    python -m benchmarks.run --suite gpu           # GPU suite (batch 128, float32 + bfloat16)
    python -m benchmarks.run --out results.json    # also write every number as JSON
    python -m benchmarks.run --only conv,memory    # a subset of sections
    python -m benchmarks.run --no-check            # skip the exactness check

Method (built for a noisy, shared machine): every case compiles the jaxcnn function
and its ``lax`` reference once (``jax.jit(f).lower(*args).compile()``), warms both up,
then times them *interleaved* in one process -- jaxcnn, lax, lax, jaxcnn, ... -- each
sample a loop sized to ~``--sample-ms``, and reports the median over repeats of the
per-pair ratio ``t_jaxcnn / t_lax`` (< 1 means jaxcnn is faster). Pairing makes the
ratio robust to load that changes during the run; absolute times are printed too but
only the ratio is meant to be compared across runs.

References (what the equivalent Flax layers run):

* ``conv``            -- ``lax.conv_general_dilated``        (== ``flax.nnx.Conv``)
* ``local_conv``      -- ``lax.conv_general_dilated_local``  (Flax Linen ``ConvLocal``)
* ``extract_patches`` -- ``lax.conv_general_dilated_patches``

fwd+bwd = ``jax.value_and_grad`` of ``sum(out * R)`` (R a fixed random projection)
w.r.t. both the input and the kernel (the loss value keeps the forward pass in the
compiled program, as in a training step). Memory = ``memory_analysis()`` of the
compiled fwd+bwd executable: ``temp + output + argument`` bytes, reported as a ratio to lax's.

Exactness: unless ``--no-check``, each case is also evaluated once at
``precision=HIGHEST`` (float32) and compared with the reference; the max relative
error (``max|a-b| / max|b|``) is in the table's ``err`` column.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxcnn
from jaxcnn.io import write_json_atomic

HIGHEST = lax.Precision.HIGHEST
DN = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


# ----------------------------------------------------------------------------- timing


def _compile(f, args):
    return jax.jit(f).lower(*args).compile()


def _run(f, args, n):
    t0 = time.perf_counter()
    for _ in range(n):
        out = f(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / n


def time_pair(fa, fb, args, *, repeats: int, sample_ms: float) -> dict:
    """Interleaved timing of two compiled functions; returns medians and the paired ratio."""
    for _ in range(2):  # warm-up
        jax.block_until_ready(fa(*args))
        jax.block_until_ready(fb(*args))
    ta0, tb0 = _run(fa, args, 1), _run(fb, args, 1)
    na = max(1, int(sample_ms / 1e3 / max(ta0, 1e-7)))
    nb = max(1, int(sample_ms / 1e3 / max(tb0, 1e-7)))
    ta, tb = [], []
    for r in range(repeats):
        if r % 2 == 0:
            ta.append(_run(fa, args, na))
            tb.append(_run(fb, args, nb))
        else:
            tb.append(_run(fb, args, nb))
            ta.append(_run(fa, args, na))
    ratios = [a / b for a, b in zip(ta, tb)]
    return {
        "t_jaxcnn_ms": 1e3 * statistics.median(ta),
        "t_lax_ms": 1e3 * statistics.median(tb),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def mem_bytes(compiled) -> int | None:
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - some backends do not implement it
        return None
    if m is None:
        return None
    return int(m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes)


def rel_err(a, b) -> float:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    worst = 0.0
    for x, y in zip(leaves_a, leaves_b):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        scale = max(float(np.max(np.abs(y))), 1e-30)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale)
    return worst


# ------------------------------------------------------------------------------ cases


@dataclass
class Case:
    section: str  # conv | local_conv | extract_patches
    name: str
    mode: str  # fwd | fwd+bwd
    dtype: str
    make: Callable  # precision -> (f_jaxcnn, f_lax, args)
    memory: bool = False
    extra: dict = field(default_factory=dict)


def _grad_of(f):
    """(x, k, proj) -> (loss, (dloss/dx, dloss/dk)) for loss = sum(f(x, k) * proj).

    ``value_and_grad``, as a training step runs it: the loss value keeps the forward
    pass alive (with ``jax.grad`` alone XLA removes the forward GEMM, because the
    gradient of a linear loss does not need the layer's output, and "fwd+bwd" would
    time the backward pass only). ``proj`` is an argument (not a closure constant) so
    that it is counted, equally for both sides, in the argument bytes of the memory
    analysis: it stands for the cotangent that a real backward pass receives.
    """
    def loss(x, k, proj):
        return jnp.sum((f(x, k) * proj).astype(jnp.float32))

    return jax.value_and_grad(loss, argnums=(0, 1))


def conv_case(name, batch, spatial, cin, cout, ksize, *, strides=1, padding="SAME", dtype,
              mode, memory=False):
    n = len(spatial)

    def make(precision):
        kx, kk, kp = jax.random.split(jax.random.key(0), 3)
        x = jax.random.normal(kx, (batch, *spatial, cin), dtype)
        k = (jax.random.normal(kk, (*ksize, cin, cout), jnp.float32)
             / math.sqrt(math.prod(ksize) * cin)).astype(dtype)

        def ours(x, k):
            return jaxcnn.conv(x, k, strides=strides, padding=padding, precision=precision)

        def ref(x, k):
            return lax.conv_general_dilated(x, k, (strides,) * n if isinstance(strides, int)
                                            else strides, padding, dimension_numbers=DN[n],
                                            precision=precision)

        if mode == "fwd":
            return ours, ref, (x, k)
        out = jax.eval_shape(ref, x, k)
        proj = jax.random.normal(kp, out.shape, dtype)
        return _grad_of(ours), _grad_of(ref), (x, k, proj)

    return Case("conv", name, mode, jnp.dtype(dtype).name, make, memory=memory,
                extra=dict(batch=batch, in_shape=(*spatial, cin), cout=cout, kernel=ksize,
                           strides=strides, padding=padding))


def local_case(name, batch, spatial, cin, cout, ksize, *, strides=1, padding="VALID", dtype,
               mode):
    n = len(spatial)
    K = math.prod(ksize)

    def make(precision):
        out_sp = jaxcnn.output_shape(spatial, ksize, strides=strides, padding=padding)
        kx, kk, kp = jax.random.split(jax.random.key(1), 3)
        x = jax.random.normal(kx, (batch, *spatial, cin), dtype)
        k = (jax.random.normal(kk, (*out_sp, *ksize, cin, cout), jnp.float32)
             / math.sqrt(K * cin)).astype(dtype)

        def ours(x, k):
            return jaxcnn.local_conv(x, k, strides=strides, padding=padding, precision=precision)

        def ref(x, k):
            # lax wants (*out, C_in * K, C_out), channel-major; the layout change is part of
            # what a user of lax with our kernel would pay, but it is cheap and kept out of
            # the timing by passing the lax-layout kernel directly.
            return lax.conv_general_dilated_local(
                x, k, (strides,) * n, padding, ksize, dimension_numbers=DN[n],
                precision=precision)

        k_lax = jnp.swapaxes(k.reshape(*out_sp, K, cin, cout), -3, -2).reshape(
            *out_sp, cin * K, cout)

        if mode == "fwd":
            return (ours, (x, k)), (ref, (x, k_lax))
        out = jax.eval_shape(ours, x, k)
        proj = jax.random.normal(kp, out.shape, dtype)
        return (_grad_of(ours), (x, k, proj)), (_grad_of(ref), (x, k_lax, proj))

    return Case("local_conv", name, mode, jnp.dtype(dtype).name, make,
                extra=dict(batch=batch, in_shape=(*spatial, cin), cout=cout, kernel=ksize,
                           strides=strides, padding=padding))


def patches_case(name, batch, spatial, cin, ksize, *, strides=1, padding="SAME", dtype, mode):
    n = len(spatial)

    def make(precision):
        kx, kp = jax.random.split(jax.random.key(2))
        x = jax.random.normal(kx, (batch, *spatial, cin), dtype)
        K = math.prod(ksize)

        def ours(x):
            return jaxcnn.extract_patches(x, ksize, strides=strides, padding=padding)

        def ref(x):
            p = lax.conv_general_dilated_patches(x, ksize, (strides,) * n, padding,
                                                 dimension_numbers=DN[n], precision=precision)
            return p

        def ref_same_layout(x):  # for the exactness check only
            p = ref(x)
            return jnp.swapaxes(p.reshape(*p.shape[:-1], cin, K), -1, -2).reshape(p.shape)

        if mode == "fwd":
            return (ours, (x,)), (ref, (x,)), ref_same_layout
        out = jax.eval_shape(ours, x)
        proj = jax.random.normal(kp, out.shape, dtype)
        # Same projection for both: the gradient is a permutation-invariant cost, and
        # the check compares against the layout-corrected reference.
        g_ours = jax.value_and_grad(lambda x: jnp.sum(ours(x) * proj))
        g_ref = jax.value_and_grad(lambda x: jnp.sum(ref(x) * proj))
        g_ref_same = jax.value_and_grad(lambda x: jnp.sum(ref_same_layout(x) * proj))
        return (g_ours, (x,)), (g_ref, (x,)), g_ref_same

    return Case("extract_patches", name, mode, jnp.dtype(dtype).name, make,
                extra=dict(batch=batch, in_shape=(*spatial, cin), kernel=ksize,
                           strides=strides, padding=padding))


def suite_cases(suite: str, sections: set[str]) -> list[Case]:
    gpu = suite == "gpu"
    rb = 128 if gpu else 16  # ResNet batch
    alpha = 256 if gpu else 64  # S-CONV channels
    dtypes = [jnp.float32, jnp.bfloat16] if gpu else [jnp.float32]
    cases: list[Case] = []
    for dtype in dtypes:
        for mode in ("fwd", "fwd+bwd"):
            mem = mode == "fwd+bwd" and dtype == jnp.float32
            if "conv" in sections or ("memory" in sections and mem):
                cases += [
                    conv_case(f"resnet18 32x32x64->64 k3 b{rb}", rb, (32, 32), 64, 64, (3, 3),
                              dtype=dtype, mode=mode, memory=mem),
                    conv_case(f"resnet18 16x16x128->128 k3 b{rb}", rb, (16, 16), 128, 128,
                              (3, 3), dtype=dtype, mode=mode, memory=mem),
                    conv_case(f"resnet18 8x8x256->256 k3 b{rb}", rb, (8, 8), 256, 256, (3, 3),
                              dtype=dtype, mode=mode, memory=mem),
                    conv_case(f"resnet18 4x4x512->512 k3 b{rb}", rb, (4, 4), 512, 512, (3, 3),
                              dtype=dtype, mode=mode, memory=mem),
                    conv_case(f"s-conv 32x32x3->{alpha} k9 s2 b{rb}", rb, (32, 32), 3, alpha,
                              (9, 9), strides=2, padding="SAME", dtype=dtype, mode=mode,
                              memory=mem),
                    conv_case("mnist1d (40,1)->25 k5 s2 p1 b100", 100, (40,), 1, 25, (5,),
                              strides=2, padding=((1, 1),), dtype=dtype, mode=mode, memory=mem),
                    conv_case("mnist1d (19,25)->25 k3 s2 p1 b100", 100, (19,), 25, 25, (3,),
                              strides=2, padding=((1, 1),), dtype=dtype, mode=mode, memory=mem),
                    conv_case("mnist1d (10,25)->25 k3 s2 p1 b100", 100, (10,), 25, 25, (3,),
                              strides=2, padding=((1, 1),), dtype=dtype, mode=mode, memory=mem),
                ]
            if "local_conv" in sections:
                la = 64 if gpu else 8  # S-LOCAL at small alpha
                lb = 128 if gpu else 16
                cases += [
                    local_case(f"s-local 32x32x3->{la} k9 s2 SAME b{lb}", lb, (32, 32), 3, la,
                               (9, 9), strides=2, padding="SAME", dtype=dtype, mode=mode),
                    local_case(f"local 16x16x32->32 k3 SAME b{lb}", lb, (16, 16), 32, 32, (3, 3),
                               padding="SAME", dtype=dtype, mode=mode),
                    local_case("local 1d (19,25)->25 k3 s2 p1 b100", 100, (19,), 25, 25, (3,),
                               strides=2, padding=((1, 1),), dtype=dtype, mode=mode),
                ]
            if "extract_patches" in sections:
                # lax's patches backward is slow on CPU (seconds): smaller batch there
                pb = rb if (gpu or mode == "fwd") else 4
                cases += [
                    patches_case(f"patches 32x32x64 k3 b{pb}", pb, (32, 32), 64, (3, 3),
                                 dtype=dtype, mode=mode),
                    patches_case(f"patches 32x32x3 k9 s2 b{pb}", pb, (32, 32), 3, (9, 9),
                                 strides=2, dtype=dtype, mode=mode),
                    patches_case("patches 1d (40,1) k5 s2 b100", 100, (40,), 1, (5,), strides=2,
                                 padding=((1, 1),), dtype=dtype, mode=mode),
                ]
    return cases


# --------------------------------------------------------------------------- runners


def run_case(case: Case, args) -> dict:
    made = case.make(None)
    if case.section == "conv":
        fa, fb, a = made
        a_args = b_args = a
    elif case.section == "local_conv":
        (fa, a_args), (fb, b_args) = made
    else:
        (fa, a_args), (fb, b_args), _ = made
    row = dict(section=case.section, name=case.name, mode=case.mode, dtype=case.dtype,
               **{k: (list(v) if isinstance(v, tuple) else v) for k, v in case.extra.items()})
    ca, cb = _compile(fa, a_args), _compile(fb, b_args)
    if case.memory or args.memory_all:
        ma, mb = mem_bytes(ca), mem_bytes(cb)
        row.update(mem_jaxcnn_mb=None if ma is None else ma / 2**20,
                   mem_lax_mb=None if mb is None else mb / 2**20,
                   mem_ratio=None if not (ma and mb) else ma / mb)
    if "time" in args.what:
        if a_args is b_args:
            row.update(time_pair(ca, cb, a_args, repeats=args.repeats, sample_ms=args.sample_ms))
        else:  # different argument layouts: time with a closure over each's arguments
            ga = lambda *_: ca(*a_args)  # noqa: E731
            gb = lambda *_: cb(*b_args)  # noqa: E731
            row.update(time_pair(ga, gb, (), repeats=args.repeats, sample_ms=args.sample_ms))
    if args.check and case.dtype == "float32":
        made = case.make(HIGHEST)
        if case.section == "conv":
            fa, fb, a = made
            row["err"] = rel_err(jax.jit(fa)(*a), jax.jit(fb)(*a))
        elif case.section == "local_conv":
            (fa, a_args), (fb, b_args) = made
            ya, yb = jax.jit(fa)(*a_args), jax.jit(fb)(*b_args)
            if case.mode == "fwd+bwd":  # kernel grads are in different layouts: compare dx
                K = math.prod(case.extra["kernel"])
                loss_b, (gx, gk) = yb
                cin = case.extra["in_shape"][-1]
                gk = jnp.swapaxes(gk.reshape(*gk.shape[:-2], cin, K, gk.shape[-1]), -3, -2)
                yb = (loss_b, (gx, gk.reshape(ya[1][1].shape)))
            row["err"] = rel_err(ya, yb)
        else:
            (fa, a_args), _, fref = made
            row["err"] = rel_err(jax.jit(fa)(*a_args), jax.jit(fref)(*a_args))
    return row


def run_embed(args) -> list[dict]:
    """conv_to_dense build time for the S-FC first layer (needs jaxcnn.embed)."""
    try:
        embed = importlib.import_module("jaxcnn.embed")
        conv_to_dense = embed.conv_to_dense
    except (ImportError, AttributeError):
        print("  (skipped: jaxcnn.embed.conv_to_dense not available)")
        return []
    alpha = 64
    kernel = jax.random.normal(jax.random.key(3), (9, 9, 3, alpha), jnp.float32)
    in_shape = (32, 32, 3)
    build = jax.jit(lambda k: conv_to_dense(k, in_shape, strides=2, padding="SAME"))
    t0 = time.perf_counter()
    W = jax.block_until_ready(build(kernel))
    first = time.perf_counter() - t0
    ts = []
    for _ in range(max(3, args.repeats // 2)):
        t0 = time.perf_counter()
        jax.block_until_ready(build(kernel))
        ts.append(time.perf_counter() - t0)
    row = dict(section="embed", name=f"conv_to_dense 32x32x3 -> 16x16x{alpha} k9 s2 SAME",
               W_shape=list(W.shape), first_call_s=first, t_ms=1e3 * statistics.median(ts))
    print(f"  {row['name']}: W {tuple(W.shape)}, first call (trace+compile+run) "
          f"{first:.2f} s, jitted {row['t_ms']:.1f} ms")
    return [row]


def run_optim(args) -> list[dict]:
    """S-FC-sized dense stack, one beta-LASSO training step (needs jaxcnn.optim)."""
    try:
        optim = importlib.import_module("jaxcnn.optim")
        beta_lasso = optim.beta_lasso
        import optax
    except (ImportError, AttributeError):
        print("  (skipped: jaxcnn.optim.beta_lasso not available)")
        return []
    gpu = args.suite == "gpu"
    alpha = 256 if gpu else 64
    batch = 512 if gpu else 64
    sizes = [32 * 32 * 3, 16 * 16 * alpha, 24 * alpha, 10]  # S-FC
    keys = jax.random.split(jax.random.key(4), len(sizes))
    params = [dict(w=jax.random.normal(k, (a, b)) / math.sqrt(a), b=jnp.zeros(b))
              for k, a, b in zip(keys, sizes[:-1], sizes[1:])]
    tx = beta_lasso(0.1, l1=1e-6, beta=50.0)
    state = tx.init(params)
    x = jax.random.normal(keys[-1], (batch, sizes[0]))
    y = jnp.arange(batch) % 10

    def loss(params, x, y):
        h = x
        for i, p in enumerate(params):
            h = jaxcnn.dense(h, p["w"], p["b"])
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, y).mean()

    @jax.jit
    def step(params, state, x, y):
        g = jax.grad(loss)(params, x, y)
        u, state = tx.update(g, state, params)
        return optax.apply_updates(params, u), state

    params, state = jax.block_until_ready(step(params, state, x, y))
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        params, state = jax.block_until_ready(step(params, state, x, y))
        ts.append(time.perf_counter() - t0)
    t = statistics.median(ts)
    nparams = sum(p["w"].size + p["b"].size for p in params)
    row = dict(section="optim", name=f"S-FC alpha={alpha} beta_lasso step b{batch}",
               layers=sizes, params=int(nparams), t_step_ms=1e3 * t,
               examples_per_s=batch / t)
    print(f"  {row['name']}: {nparams / 1e6:.1f}M params, {1e3 * t:.1f} ms/step, "
          f"{batch / t:.0f} examples/s")
    return [row]


# ---------------------------------------------------------------------------- report


def fmt_row(r: dict) -> str:
    t = (f"{r['t_jaxcnn_ms']:9.3f} {r['t_lax_ms']:9.3f} {r['ratio']:6.2f} "
         f"[{r['ratio_min']:.2f},{r['ratio_max']:.2f}]") if "ratio" in r else " " * 42
    mem = f"{r['mem_ratio']:5.2f}" if r.get("mem_ratio") else "    -"
    err = f"{r['err']:.1e}" if "err" in r else "   -   "
    return f"{r['section'][:10]:10s} {r['name'][:40]:40s} {r['mode']:7s} {r['dtype'][:4]:4s} {t} {mem} {err}"


def summarize(rows: list[dict]) -> dict:
    out = {}
    for sec in ("conv", "local_conv", "extract_patches"):
        for mode in ("fwd", "fwd+bwd"):
            for dt in ("float32", "bfloat16"):
                rs = [r["ratio"] for r in rows
                      if r["section"] == sec and r["mode"] == mode and r["dtype"] == dt
                      and "ratio" in r]
                if rs:
                    out[f"{sec} {mode} {dt} median ratio"] = statistics.median(rs)
    for dt in ("float32", "bfloat16"):
        rs = [r["ratio"] for r in rows if r["section"] == "conv" and r["mode"] == "fwd+bwd"
              and r["dtype"] == dt and r["name"].startswith("resnet") and "ratio" in r]
        if rs:
            out[f"conv fwd+bwd {dt} max ratio (ResNet shapes)"] = max(rs)
    mem = [r["mem_ratio"] for r in rows if r.get("mem_ratio") and r["section"] == "conv"]
    if mem:
        out["conv fwd+bwd memory ratio (median)"] = statistics.median(mem)
        out["conv fwd+bwd memory ratio (max)"] = max(mem)
    return out


TARGETS = {  # issue 5's targets, per suite
    "cpu": {
        "conv fwd+bwd float32 median ratio": 0.9,
        "extract_patches fwd float32 median ratio": 0.5,
        "local_conv fwd+bwd float32 median ratio": 0.3,
        "conv fwd+bwd memory ratio (max)": 1.5,
    },
    "gpu": {  # vs cuDNN (what lax runs on GPU)
        "conv fwd+bwd float32 max ratio (ResNet shapes)": 1.25,
        "conv fwd+bwd bfloat16 max ratio (ResNet shapes)": 1.25,
        "local_conv fwd+bwd float32 median ratio": 0.3,
        "local_conv fwd+bwd bfloat16 median ratio": 0.3,
    },
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--only", default="conv,local_conv,extract_patches,memory,embed,optim",
                    help="comma-separated sections")
    ap.add_argument("--filter", default="", help="only cases whose name contains this")
    ap.add_argument("--mode", choices=("fwd", "fwd+bwd"), default=None,
                    help="only cases of this mode (default: both)")
    ap.add_argument("--targets-first", action="store_true",
                    help="run the cases the targets are about first (conv, local_conv "
                         "fwd+bwd), so that a run cut short by a time limit keeps them")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--sample-ms", type=float, default=50.0)
    ap.add_argument("--no-check", dest="check", action="store_false")
    ap.add_argument("--memory-all", action="store_true", help="memory for every case")
    ap.add_argument("--out", default=None, help="write JSON here")
    args = ap.parse_args(argv)
    sections = set(args.only.split(","))
    args.what = {"time"}
    if sections == {"memory"}:
        args.what = set()

    if args.suite == "gpu" and jax.default_backend() != "gpu":
        print(f"warning: --suite gpu on backend {jax.default_backend()!r}", file=sys.stderr)

    t_start = time.perf_counter()
    cpu_model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    meta = dict(suite=args.suite, date=datetime.date.today().isoformat(),
                jax=jax.__version__, backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()], cpu=cpu_model,
                cores=__import__("os").cpu_count(), python=platform.python_version(),
                repeats=args.repeats, sample_ms=args.sample_ms)
    print(f"jaxcnn benchmarks: suite={args.suite} backend={meta['backend']} jax={meta['jax']} "
          f"cpu={cpu_model} cores={meta['cores']}")
    header = (f"{'section':10s} {'case':40s} {'mode':7s} {'dt':4s} {'jaxcnn ms':>9s} "
              f"{'lax ms':>9s} {'ratio':>6s} {'[min,max]':>11s}   {'mem':>5s} {'err':>7s}")
    print(header)
    print("-" * len(header))
    rows = []
    cases = [c for c in suite_cases(args.suite, sections) if args.filter in c.name
             and args.mode in (None, c.mode)]
    if "memory" in sections and "conv" not in sections:
        cases = [c for c in cases if c.section != "conv" or c.memory]
    if args.targets_first:
        cases.sort(key=_target_rank)  # stable: the suite's order within a rank
    for case in cases:
        row = run_case(case, args)
        rows.append(row)
        print(fmt_row(row), flush=True)
        if args.out:  # after every case: a run stopped by a time limit keeps what it did
            _write(args.out, meta, rows, args.suite, partial=True)
    if "embed" in sections:
        print("embed:")
        rows += run_embed(args)
    if "optim" in sections:
        print("optim:")
        rows += run_optim(args)
    summary = summarize(rows)
    print("\nsummary (ratio = jaxcnn / lax; < 1 is faster / smaller):")
    for k, v in summary.items():
        tgt = TARGETS[args.suite].get(k)
        flag = "" if tgt is None else f"  target <= {tgt}: {'OK' if v <= tgt else 'MISSED'}"
        print(f"  {k:45s} {v:6.2f}{flag}")
    meta["elapsed_s"] = time.perf_counter() - t_start
    print(f"elapsed {meta['elapsed_s']:.0f} s")
    if args.out:
        _write(args.out, meta, rows, args.suite, partial=False)
        print(f"wrote {args.out}")


def _target_rank(case: Case) -> int:
    """0: conv fwd+bwd (ResNet, then the rest), 1: local_conv fwd+bwd, 2: everything else."""
    if case.mode == "fwd+bwd" and case.section == "conv":
        return 0
    return 1 if case.mode == "fwd+bwd" and case.section == "local_conv" else 2


def _write(path: str, meta: dict, rows: list, suite: str, *, partial: bool) -> None:
    write_json_atomic(path, dict(meta=meta, summary=summarize(rows), targets=TARGETS[suite],
                                 rows=rows, partial=partial), indent=1)


if __name__ == "__main__":
    main()
