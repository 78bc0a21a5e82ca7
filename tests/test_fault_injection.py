"""SIGKILL at seeded moments of a learn_conv run; ``--resume`` must always recover.

An uninterrupted run (``--resume`` from the start, so that it checkpoints every epoch) is
profiled first: ``tests/scripts/faulty.py`` records every file rename (orbax checkpoint
files and step folders, the results JSON, each PNG) and every checkpoint save. From that
profile, ``JAXCNN_FAULT_KILLS`` moments (default 8, to keep the suite short; 20 for the
full sweep) are drawn with a fixed seed: the last moment of a write (right before its
rename) for renames of every kind, moments with an orbax save in flight, and moments at
random times (while importing, compiling, training or measuring). For each moment a
fresh run is SIGKILLed there; then

* no partial JSON or PNG is visible under ``--out`` (every ``*.json`` / ``*.png``
  outside orbax's temporary folders parses completely), and
* rerunning the same command with ``--resume`` completes and writes results identical to
  the uninterrupted run's (every number bitwise; wall times, provenance and
  ``resumed_from`` aside) and pixel-identical figures.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import results_numbers

ROOT = Path(__file__).resolve().parents[1]
FAULTY = ROOT / "tests" / "scripts" / "faulty.py"
ARGS = ["--preset", "smoke", "--seeds", "2", "--models", "s-fc-blasso", "--set", "epochs=3",
        "--set", "checkpoint_every=1", "--no-progress", "--resume"]
NUM_KILLS = max(6, int(os.environ.get("JAXCNN_FAULT_KILLS", "8")))
SEED = 20261201
TIMEOUT_S = 240


def _env() -> dict:
    env = dict(os.environ)
    # XLA_FLAGS as conftest set them (cheaper codegen, same for every run compared here)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(out: Path, *, kill: list[str] = (), events: Path | None = None):
    cmd = [sys.executable, str(FAULTY), *kill]
    if events is not None:
        cmd += ["--events", str(events)]
    cmd += ["--", "experiments.learn_conv", *ARGS, "--out", str(out)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
                          cwd=ROOT)


def _visible_outputs(out: Path) -> list[Path]:
    """``*.json`` / ``*.png`` under ``out``, outside orbax's temporary step folders."""
    return [p for p in out.rglob("*") if p.suffix in (".json", ".png") and p.is_file()
            and not any("orbax-checkpoint-tmp" in part for part in p.parts)]


def _assert_complete(out: Path) -> None:
    import matplotlib.image as mpimg

    for p in _visible_outputs(out):
        if p.suffix == ".json":
            json.loads(p.read_text())  # raises on a partial file
        else:
            assert mpimg.imread(p).size > 0, p


def _pixels(out: Path) -> dict[str, np.ndarray]:
    import matplotlib.image as mpimg

    return {p.name: mpimg.imread(p) for p in sorted(out.glob("*.png"))}


def draw_moments(events: list[dict], total_s: float, rng: np.random.Generator) -> list[list[str]]:
    """:data:`NUM_KILLS` kill moments: a rename of each kind (checkpoint, JSON, PNG), a
    save in flight, then half of the rest at other events, half at random times.

    Returns the ``faulty.py`` flags of each moment.
    """
    renames = [i for i, e in enumerate(events) if e["kind"] == "rename"]
    counts = {"rename": 0, "save": 0}
    index = []  # (kind, n) with n counted per kind from 1
    for e in events:
        counts[e["kind"]] += 1
        index.append((e["kind"], counts[e["kind"]]))
    by_target = {
        "checkpoint": [i for i in renames if Path(events[i]["target"]).suffix == ""],
        "json": [i for i in renames if events[i]["target"].endswith(".json")],
        "png": [i for i in renames if events[i]["target"].endswith(".png")],
        "save": [i for i, e in enumerate(events) if e["kind"] == "save"],
    }
    assert all(by_target.values()), {k: len(v) for k, v in by_target.items()}
    chosen = [int(rng.choice(v)) for v in by_target.values()]  # one of every kind
    pool = [i for i in range(len(events)) if i not in chosen]
    extra = (NUM_KILLS - len(chosen)) // 2
    chosen += [int(i) for i in rng.choice(pool, size=min(extra, len(pool)), replace=False)]
    moments = [["--kill-at", f"{index[i][0]}:{index[i][1]}"] for i in chosen]
    times = rng.uniform(0.5, total_s, size=NUM_KILLS - len(moments))
    moments += [["--kill-after", f"{t:.2f}"] for t in sorted(times)]
    return moments


def _kill(out: Path, moment: list[str]) -> tuple[list[str], bool]:
    """Runs until the moment; a timed moment the run outlived is halved (a fresh ``out``)."""
    for _ in range(4):
        killed = _run(out, kill=moment)
        if killed.returncode == -signal.SIGKILL or moment[0] != "--kill-after":
            break
        shutil.rmtree(out, ignore_errors=True)
        moment = ["--kill-after", f"{float(moment[1]) / 2:.2f}"]
    return moment, killed.returncode == -signal.SIGKILL


def _trial(tmp: Path, i: int, moment: list[str]) -> tuple[str, dict, dict, list[str]]:
    out = tmp / f"kill{i:02d}"
    moment, died = _kill(out, moment)
    _assert_complete(out)
    resumed = _run(out)
    assert resumed.returncode == 0, (moment, resumed.stderr[-2000:])
    res = json.loads((out / "learn_conv.json").read_text())
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    return (" ".join(moment) + ("" if died else " (finished before the kill)"), res,
            _pixels(out), leftovers)


def _differences(got, want, path: str = "") -> list[str]:
    """The paths (``a/b/0``) where two results trees differ, with both values (≤ 10)."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = [f"{path}/{k}: only in one" for k in sorted(set(got) ^ set(want))]
        for k in sorted(set(got) & set(want)):
            out += _differences(got[k], want[k], f"{path}/{k}")
        return out[:10]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want))
                for d in _differences(g, w, f"{path}/{i}")][:10]
    return [] if got == want else [f"{path}: {str(got)[:80]} != {str(want)[:80]}"]


@pytest.mark.slow
def test_sigkill_at_seeded_moments_then_resume_is_identical(tmp_path):
    ref_out, log = tmp_path / "ref", tmp_path / "events.jsonl"
    ref = _run(ref_out, events=log)
    assert ref.returncode == 0, ref.stderr[-2000:]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    total = events[-1]["t"]
    moments = draw_moments(events, total, np.random.default_rng(SEED))
    assert len(moments) == NUM_KILLS
    want = results_numbers(json.loads((ref_out / "learn_conv.json").read_text()))
    want_px = _pixels(ref_out)
    assert len(want_px) == 4, sorted(want_px)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        trials = list(pool.map(lambda a: _trial(tmp_path, *a), enumerate(moments)))
    killed = 0
    for label, res, px, leftovers in trials:
        killed += "finished before" not in label
        assert results_numbers(res) == want, (label, _differences(results_numbers(res), want))
        assert set(px) == set(want_px), label
        for name in want_px:
            assert np.array_equal(px[name], want_px[name]), (label, name)
        assert not leftovers, (label, leftovers)
    assert killed == NUM_KILLS, [t[0] for t in trials]


def test_moments_cover_every_kind_of_write():
    events = ([{"kind": "save", "target": "1", "t": 1.0}]
              + [{"kind": "rename", "target": n, "t": 2.0 + i} for i, n in
                 enumerate(["state", "1", "a.png", "b.png", "learn_conv.json"])])
    moments = draw_moments(events, 8.0, np.random.default_rng(0))
    flags = [" ".join(m) for m in moments]
    assert len(moments) == NUM_KILLS
    assert "--kill-at save:1" in flags and "--kill-at rename:5" in flags  # the JSON
    assert any(f in flags for f in ("--kill-at rename:3", "--kill-at rename:4"))  # a PNG
    assert any(f in flags for f in ("--kill-at rename:1", "--kill-at rename:2"))  # ckpt
    assert sum(f.startswith("--kill-after") for f in flags) == NUM_KILLS - len(events)
