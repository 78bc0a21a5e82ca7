"""Training suite: the scanned-epoch trainer and train_seeds against the hand-written floor.

    python -m benchmarks.train_suite                 # CPU: ~3 min on 2 cores
    python -m benchmarks.train_suite --seeds 1,8,64  # e.g. on a GPU
    python -m benchmarks.train_suite --quick         # tiny sizes (tests, dry runs)

Cases (all on MNIST-1D, 4000 train / 1000 test):

* ``cnn-floor``: the MNIST-1D CNN recipe (Adam 1e-2, batch 100, 6000 steps) as a
  hand-written ``lax.scan`` of pure functions (``benchmarks/scan_floor.py``; evaluation
  after the last epoch only);
* ``cnn-train``: the same through :func:`jaxcnn.train.train`;
* ``cnn-seeds-K``: :func:`jaxcnn.train.train_seeds` with ``K`` seeds, and
  ``cnn-sequential-K``: ``K`` single-seed ``train`` runs one after another;
* ``sfc-blasso``: the S-FC (alpha 16) beta-LASSO run of ``learn_conv``'s default preset;
* ``reference`` (when ``torch`` is installed; ``--no-torch`` skips it): the recipe in
  :func:`jaxcnn.train.train` against the same recipe in PyTorch (eager, CPU), each run in
  a fresh process (no warm caches), interleaved ``jaxcnn, torch 1 thread, torch 2
  threads`` ``--repeats`` times (3); the ratio is jaxcnn's minimum wall over PyTorch's
  minimum over both thread counts, with the breakdown ``compile`` (JAX's trace, lowering
  and XLA compile events), ``steps``, ``eval`` (one evaluation of the test set, at the
  end in both) and ``host`` (the rest: model construction, transfers, the loop).

The CNN cases evaluate after the last epoch only (``eval_every=epochs``), like the floor.

Reported per case: wall time including compilation, compile time alone (JAX's
compilation events: tracing, lowering, XLA), ms per optimizer step after compilation
(``(wall - compile) / steps``, evaluation included; for K seeds: per step of all K
replicas), and GFLOP/s of the model (XLA's cost analysis of one
training step's forward + backward, times the replicas). Ratios are taken within the one
run: trainer / floor, and K seeds together / K sequential runs. (The previous step-by-step
loop, ``cnn-old``, was retired with issue 20; its recorded numbers stay in BENCHMARKS.md.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import sys
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxcnn import models
from jaxcnn import train as T
from jaxcnn.train.steps import loss_and_correct
from jaxcnn.io import write_json_atomic

from benchmarks import scan_floor


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The MNIST-1D CNN recipe and the S-FC beta-LASSO run (sizes shrink with --quick)."""

    steps: int = 6000
    batch_size: int = 100
    lr: float = 1e-2
    sfc_epochs: int = 30
    sfc_batch: int = 100
    sfc_alpha: int = 16
    n_train: int | None = None  # None: all 4000


QUICK = Recipe(steps=80, sfc_epochs=2, sfc_alpha=2, n_train=400)


def load(recipe: Recipe) -> dict:
    from jaxcnn import data as jdata

    d = jdata.mnist1d()
    if recipe.n_train:
        d = dict(d, x_train=d["x_train"][:recipe.n_train], y_train=d["y_train"][:recipe.n_train])
    return d


def cnn(seed: int) -> nnx.Module:
    return models.MNIST1DCNN((40, 1), 10, rngs=nnx.Rngs(seed))


def epochs_for(recipe: Recipe, data: dict) -> int:
    return max(1, -(-recipe.steps * recipe.batch_size // len(data["y_train"])))


class CompileTimer:
    """Wall seconds JAX spends tracing, lowering and compiling inside a ``with`` block.

    From ``jax.monitoring``'s duration events (nested traces counted once: the union of
    the events' intervals). ``overlap(a, b)``: the part inside ``[a, b]``.
    """

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
              "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def __enter__(self) -> CompileTimer:
        self.spans: list[tuple[float, float]] = []
        jax.monitoring.register_event_duration_secs_listener(self._on_event)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self._on_event)

    def _on_event(self, event: str, duration: float, **_) -> None:
        if event in self.EVENTS:
            now = time.perf_counter()
            self.spans.append((now - duration, now))

    def overlap(self, a: float = float("-inf"), b: float = float("inf")) -> float:
        total, end = 0.0, float("-inf")
        for lo, hi in sorted(self.spans):
            lo, hi = max(lo, end, a), min(hi, b)
            if hi > lo:
                total += hi - lo
            end = max(end, hi)
        return total

    @property
    def seconds(self) -> float:
        return self.overlap()


def step_flops(model: nnx.Module, data: dict, batch_size: int) -> float:
    """FLOPs of one forward + backward on a batch, from XLA's cost analysis."""
    graph, params, rest = nnx.split(model, nnx.Param, ...)
    x = jnp.asarray(data["x_train"][:batch_size])
    y = jnp.asarray(data["y_train"][:batch_size])

    def loss(p, r):
        out = nnx.merge(graph, p, r, copy=True)(x)
        return jnp.mean(loss_and_correct(out, y, "cross_entropy")[0])

    cost = jax.jit(jax.grad(loss)).lower(params, rest).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan")))


def summarise(name: str, results: list[dict], wall: float, *, flops: float,
              compile_s: float, replicas: int = 1) -> dict:
    """Row of the table from train-schema results (one per sequential run) and the
    compile seconds measured around them (:class:`CompileTimer`)."""
    steps = sum(r["epochs_completed"] * r["steps_per_epoch"] for r in results)
    ms = 1e3 * max(wall - compile_s, 0.0) / steps
    return {"case": name, "wall_s": wall, "compile_s": compile_s, "steady_ms_per_step": ms,
            "gflops": replicas * flops / (ms * 1e6), "replicas": replicas,
            "runs": len(results), "test_acc": [r["final"]["test_acc"] for r in results]}


def _timed(fn):
    """``(result, wall seconds, compile seconds)`` of ``fn()``."""
    with CompileTimer() as timer:
        t0 = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - t0
    return out, wall, timer.seconds


def run_cnn_cases(recipe: Recipe, data: dict, seeds: list[int], *,
                  on_row=lambda rows: None) -> list[dict]:
    """The CNN cases in order; ``on_row(rows)`` after each (e.g. to save partial results)."""
    epochs = epochs_for(recipe, data)
    cfg = T.TrainConfig(epochs=epochs, batch_size=recipe.batch_size, progress=False,
                        eval_every=epochs)
    flops = step_flops(cnn(0), data, recipe.batch_size)
    rows = []
    floor, wall, comp = _timed(lambda: scan_floor.train(
        cnn(0), optax.adam(recipe.lr), data, config=cfg, evaluate_every_epoch=False))
    rows.append(summarise("cnn-floor", [floor], wall, flops=flops, compile_s=comp))
    on_row(rows)
    new, wall, comp = _timed(lambda: T.train(cnn(0), optax.adam(recipe.lr), data, config=cfg))
    rows.append(summarise("cnn-train", [new], wall, flops=flops, compile_s=comp))
    on_row(rows)
    for k in seeds:
        (_, res), wall, comp = _timed(lambda: T.train_seeds(
            cnn, optax.adam(recipe.lr), data, seeds=list(range(k)), config=cfg))
        rows.append(summarise(f"cnn-seeds-{k}", res["per_seed"][:1], wall, flops=flops,
                              compile_s=comp, replicas=k))
        on_row(rows)
        if k > 1 and k <= 8:
            seq, wall, comp = _timed(lambda: [
                T.train(cnn(s), optax.adam(recipe.lr), data,
                        config=dataclasses.replace(cfg, seed=s)) for s in range(k)])
            rows.append(summarise(f"cnn-sequential-{k}", seq, wall, flops=flops,
                                  compile_s=comp))
            on_row(rows)
    return rows


def run_sfc_case(recipe: Recipe, data: dict) -> dict:
    from experiments.harness.nets import build_model, make_optimizer
    from experiments.learn_conv.config import LearnConvConfig

    cfg = dataclasses.replace(LearnConvConfig(), epochs=recipe.sfc_epochs,
                              batch_size=recipe.sfc_batch, alpha=recipe.sfc_alpha)
    model = build_model("s-fc", (40, 1), 10, alpha=cfg.alpha, kernel_size=9,
                        key=jax.random.key(0))
    total = cfg.epochs * T.steps_per_epoch(len(data["y_train"]), batch_size=cfg.batch_size)
    tx, _ = make_optimizer("blasso", cfg, total_steps=total, model=model)
    flops = step_flops(model, data, cfg.batch_size)
    res, wall, comp = _timed(lambda: T.train(model, tx, data, config=T.TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, progress=False)))
    return summarise("sfc-blasso", [res], wall, flops=flops, compile_s=comp)


# ----------------------------------------------------------------------------- reference
# The recipe in jaxcnn against the same recipe in PyTorch, each in a fresh process.


def reference_jaxcnn(recipe: Recipe, data: dict) -> dict:
    """One timed run of the recipe through :func:`jaxcnn.train.train` (evaluation at the
    end only), with its breakdown; call in a fresh process (nothing compiled yet)."""
    from jaxcnn.train.run import Run

    spans, runs = [], []
    original = Run.train_span

    def timed_span(self, g0, g1):
        runs.append(self)
        t0 = time.perf_counter()
        try:
            return original(self, g0, g1)
        finally:
            spans.append((t0, time.perf_counter()))

    epochs = epochs_for(recipe, data)
    cfg = T.TrainConfig(epochs=epochs, batch_size=recipe.batch_size, progress=False,
                        eval_every=epochs)
    Run.train_span = timed_span
    try:
        with CompileTimer() as timer:
            t0 = time.perf_counter()
            res = T.train(cnn(0), optax.adam(recipe.lr), data, config=cfg)
            wall = time.perf_counter() - t0
    finally:
        Run.train_span = original
    run = runs[0]
    device = sum(b - a - timer.overlap(a, b) for a, b in spans)  # program execution
    te = run.data.splits["test"]
    evaluate = jax.jit(run.programs._evaluate)
    args = (run.params, run.rest, te["x"], te["y"], te["valid"])
    jax.block_until_ready(evaluate(*args))
    eval_s = min(_seconds(lambda: jax.block_until_ready(evaluate(*args))) for _ in range(5))
    return {"kind": "jaxcnn", "wall_s": wall, "compile_s": timer.seconds,
            "steps_s": device - eval_s, "eval_s": eval_s,
            "host_s": wall - timer.seconds - device, "program_calls": len(spans),
            "test_acc": res["final"]["test_acc"], "threads": None}


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def reference_torch(recipe: Recipe, data: dict, threads: int) -> dict:
    """The recipe in PyTorch (eager, CPU, ``threads`` intra-op threads): MNIST-1D's
    ``ConvBase`` (Conv1d 1->25 k5 s2 p1, 25->25 k3 s2 p1 twice, ReLU, Linear 125->10),
    Adam 1e-2, batch 100, a new permutation every epoch, evaluation at the end."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = nn.Sequential(nn.Conv1d(1, 25, 5, stride=2, padding=1), nn.ReLU(),
                          nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(125, 10))
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    x = torch.from_numpy(data["x_train"]).permute(0, 2, 1).contiguous()  # (N, C, L)
    y = torch.from_numpy(data["y_train"]).long()
    xt = torch.from_numpy(data["x_test"]).permute(0, 2, 1).contiguous()
    yt = torch.from_numpy(data["y_test"]).long()
    n, bs = x.shape[0], recipe.batch_size
    steps_per_epoch, epochs = n // bs, epochs_for(recipe, data)
    t1 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    t2 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        out = model(xt)
        acc = float((out.argmax(-1) == yt).float().mean())
        float(nn.functional.cross_entropy(out, yt))
    t3 = time.perf_counter()
    return {"kind": "torch", "wall_s": t3 - t0, "compile_s": 0.0, "steps_s": t2 - t1,
            "eval_s": t3 - t2, "host_s": t1 - t0, "program_calls": None, "test_acc": acc,
            "threads": threads, "torch": torch.__version__}


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _one_process(kind: str, threads: int, quick: bool) -> dict:
    """Runs one reference measurement in a fresh Python process; its result dict."""
    import json
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    cmd = [sys.executable, "-m", "benchmarks.train_suite", "--one", kind,
           "--threads", str(threads)] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_reference(recipe: Recipe, repeats: int, quick: bool) -> dict:
    """jaxcnn and PyTorch (1 and 2 threads) interleaved, ``repeats`` rounds; the ratio of
    the minimum wall times and each side's breakdown (of its fastest run)."""
    runs = []
    for _ in range(repeats):
        for kind, threads in (("jaxcnn", 0), ("torch", 1), ("torch", 2)):
            runs.append(_one_process(kind, threads, quick))
            print(f"  {kind}{f' {threads} thread(s)' if threads else ''}: "
                  f"{runs[-1]['wall_s']:.2f} s", flush=True)
    best = {k: min((r for r in runs if r["kind"] == k), key=lambda r: r["wall_s"])
            for k in ("jaxcnn", "torch")}
    return {"runs": runs, "best": best,
            "ratio_wall": best["jaxcnn"]["wall_s"] / best["torch"]["wall_s"]}


def print_reference(ref: dict) -> None:
    print("\n| reference recipe (min of runs) | wall s | compile s | steps s | eval s | host s |")
    print("|---|---|---|---|---|---|")
    for k, r in ref["best"].items():
        name = k if r["threads"] is None else f"{k} ({r['threads']} thread(s))"
        print(f"| {name} | {r['wall_s']:.2f} | {r['compile_s']:.2f} | {r['steps_s']:.2f} | "
              f"{r['eval_s']:.3f} | {r['host_s']:.2f} |")


def ratios(rows: list[dict]) -> dict:
    by = {r["case"]: r for r in rows}
    out = {}
    if "cnn-floor" in by and "cnn-train" in by:
        out["train_vs_floor_wall"] = by["cnn-train"]["wall_s"] / by["cnn-floor"]["wall_s"]
        out["train_vs_floor_steady"] = (by["cnn-train"]["steady_ms_per_step"]
                                        / by["cnn-floor"]["steady_ms_per_step"])
    for r in rows:
        if r["case"].startswith("cnn-seeds-"):
            k = r["replicas"]
            seq = by.get(f"cnn-sequential-{k}")
            if seq:
                out[f"seeds{k}_vs_sequential_wall"] = r["wall_s"] / seq["wall_s"]
            if "cnn-seeds-1" in by and k > 1:
                out[f"seeds{k}_vs_seeds1_wall"] = r["wall_s"] / by["cnn-seeds-1"]["wall_s"]
    return out


TARGETS = {"seeds8_vs_sequential_wall": 1.1, "jaxcnn_vs_torch_wall": 0.4}


def print_table(rows: list[dict], rat: dict) -> None:
    print("| case | wall s (incl. compile) | compile s | steady ms/step | GFLOP/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['wall_s']:.2f} | {r['compile_s']:.2f} | "
              f"{r['steady_ms_per_step']:.3f} | {r['gflops']:.2f} |")
    print()
    for k, v in rat.items():
        tgt = TARGETS.get(k)
        mark = "" if tgt is None else (f" (target <= {tgt}: "
                                       f"{'met' if v <= tgt else 'MISSED'})")
        print(f"{k}: {v:.3f}{mark}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="1,8", help="comma-separated replica counts")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--no-sfc", dest="sfc", action="store_false")
    ap.add_argument("--out", default=None, help="write JSON here")
    ap.add_argument("--no-torch", dest="torch", action="store_false",
                    help="skip the PyTorch reference (skipped anyway without torch)")
    ap.add_argument("--reference-only", action="store_true",
                    help="only the jaxcnn-vs-PyTorch reference recipe")
    ap.add_argument("--repeats", type=int, default=3, help="reference rounds (min taken)")
    ap.add_argument("--one", choices=("jaxcnn", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    recipe = QUICK if args.quick else Recipe()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    data = load(recipe)
    if args.one:  # a child process of run_reference: one measurement as a JSON line
        import json

        out = (reference_jaxcnn(recipe, data) if args.one == "jaxcnn"
               else reference_torch(recipe, data, args.threads))
        print(json.dumps(out))
        return out
    t0 = time.perf_counter()
    command = "python -m benchmarks.train_suite " + " ".join(
        sys.argv[1:] if argv is None else argv)

    def save_partial(rows):  # a run stopped by a time limit keeps the finished cases
        if args.out:
            write_json_atomic(args.out, dict(meta={"command": command, "partial": True},
                                             rows=rows, ratios=ratios(rows)), indent=1)

    rows = [] if args.reference_only else run_cnn_cases(recipe, data, seeds,
                                                         on_row=save_partial)
    if args.sfc and not args.reference_only:
        rows.append(run_sfc_case(recipe, data))
    rat = ratios(rows)
    reference = None
    if args.torch and torch_available():
        print("reference recipe, fresh processes, interleaved:", flush=True)
        reference = run_reference(recipe, args.repeats, args.quick)
        rat["jaxcnn_vs_torch_wall"] = reference["ratio_wall"]
    meta = dict(date=datetime.date.today().isoformat(), backend=jax.default_backend(),
                device=jax.devices()[0].device_kind, jax=jax.__version__,
                machine=platform.processor() or platform.machine(),
                command=command,
                recipe=dataclasses.asdict(recipe), suite_s=time.perf_counter() - t0)
    if reference is not None:
        print_reference(reference)
        print()
    print_table(rows, rat)
    print(f"\nsuite: {meta['suite_s']:.0f} s on {meta['backend']} ({meta['device']})")
    out = dict(meta=meta, rows=rows, ratios=rat, targets=TARGETS, reference=reference)
    if args.out:
        write_json_atomic(args.out, out, indent=1)
    return out


if __name__ == "__main__":
    main()
