"""The 2-D (torus) runs of experiments.nlgp_localization and its tiling statistic.

* ``--torus --preset smoke`` runs end to end: ``nlgp_localization_2d.json`` (a torus
  config, per-unit receptive fields, ``tiling``), the ``nlgp2d_*`` PNGs, drawn again from
  the JSON alone pixel for pixel; its tables are ``nlgp_localization_2d.*`` and render
  through the report harness; a second run into the same ``--out`` is refused.
* The tiling statistic on planted centres: evenly spaced centres give a larger mean
  nearest-neighbour distance than uniform ones (high percentile), clustered centres a
  smaller one; the periodic centroid is right across the wrap-around of the torus.
* Bad input raises ``ValueError`` in the library's form ``"<arg>: expected ..., got ..."``.
"""

from __future__ import annotations

import contextlib
import io
import json

import jax
import numpy as np
import pytest

from experiments.nlgp_localization import figures, tables, tiling
from experiments.nlgp_localization import run as nlgp
from experiments.nlgp_localization.config import TORUS_PRESETS, presets_for, results_stem

SHAPE = (20, 20)
KEY = jax.random.key(0)
DRAWS = 1000


def blob(centre, shape=SHAPE, sigma=1.2):
    """A periodic Gaussian blob ``(H, W)`` centred at ``centre`` (row, col)."""
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    d2 = 0.0
    for g, c, n in zip(grids, centre, shape):
        d = np.abs(g - c) % n
        d2 = d2 + np.minimum(d, n - d) ** 2
    return np.exp(-d2 / (2 * sigma ** 2))


def torus_offset(a, b, shape=SHAPE):
    d = np.abs(np.asarray(a) - np.asarray(b)) % np.asarray(shape)
    return np.minimum(d, np.asarray(shape) - d)


# ------------------------------------------------------------------ centroid


@pytest.mark.parametrize("centre", [(0.0, 0.0), (19.5, 10.0), (3.0, 19.0), (10.0, 10.0),
                                    (0.5, 19.5)])
def test_centroid_is_right_across_the_wrap_around(centre):
    got = tiling.periodic_centroid(blob(centre) ** 2)
    assert np.all(torus_offset(got, centre) < 1e-6), (got, centre)
    assert np.all((0 <= got) & (got < 20))


def test_plain_centre_of_mass_would_be_wrong_at_the_edge():
    # the blob at the corner is split over four corners; its plain centre of mass is
    # near the middle, the periodic centroid at the corner.
    m = blob((0.0, 0.0)) ** 2
    rows, cols = np.indices(SHAPE)
    plain = np.array([(rows * m).sum(), (cols * m).sum()]) / m.sum()
    assert np.all(torus_offset(plain, (0, 0)) > 5)
    assert np.all(torus_offset(tiling.periodic_centroid(m), (0, 0)) < 1e-6)


def test_centroid_on_a_ring_and_from_weights():
    w = np.stack([blob((99.0,), (100,), 2.0), blob((40.0,), (100,), 2.0)], axis=1)
    got = tiling.centres_of(w, (100,), [0, 1])
    assert abs(got[0][0] - 99.0) < 1e-6 and abs(got[1][0] - 40.0) < 1e-6


# ------------------------------------------------------------------ tiling statistic


def test_evenly_spaced_centres_beat_uniform():
    even = np.array([[r, c] for r in (2.5, 12.5) for c in (2.5, 12.5)]) + 0.3
    out = tiling.tiling_statistic(even, SHAPE, key=KEY, draws=DRAWS)
    assert out["mean_nn"] == pytest.approx(10.0)
    assert out["num_units"] == 4 and out["ratio"] > 1.5 and out["percentile"] > 99
    assert out["null_mean"] == pytest.approx(out["mean_nn"] / out["ratio"])


def test_clustered_centres_lose_to_uniform():
    rng = np.random.default_rng(0)
    clustered = np.array([19.5, 19.5]) + rng.normal(0, 0.7, (6, 2))  # wraps around
    out = tiling.tiling_statistic(clustered, SHAPE, key=KEY, draws=DRAWS)
    assert out["ratio"] < 0.5 and out["percentile"] < 1


def test_uniform_centres_sit_in_the_middle_of_the_null():
    pts = np.asarray(jax.random.uniform(jax.random.key(7), (200, 5, 2))) * 20
    pct = [tiling.tiling_statistic(p, SHAPE, key=KEY, draws=400)["percentile"] for p in pts]
    assert 40 < np.mean(pct) < 60  # calibrated: uniform percentiles are uniform


def test_distances_wrap_and_null_is_seeded():
    d = tiling.torus_distances(np.array([[0.0, 0.0], [19.0, 19.0], [10.0, 0.0]]), SHAPE)
    assert d[0, 1] == pytest.approx(np.sqrt(2)) and d[0, 2] == pytest.approx(10.0)
    a = tiling.uniform_nn_null(3, SHAPE, key=KEY, draws=50)
    assert np.array_equal(a, tiling.uniform_nn_null(3, SHAPE, key=KEY, draws=50))
    assert tiling.tiling_statistic(np.array([[1.0, 1.0]]), SHAPE, key=KEY) is None


def test_arm_tiling_picks_the_localised_units():
    centres = [(2.0, 2.0), (2.0, 12.0), (12.0, 2.0), (12.0, 12.0)]
    w = np.stack([blob(c) for c in centres] + [np.ones(SHAPE)], axis=-1).reshape(400, 5)
    iprs = [float((v ** 4).sum() / (v ** 2).sum() ** 2) for v in w.T]
    out = tiling.arm_tiling([w, w], [iprs, iprs], [0, 1], SHAPE, threshold=0.0375, key=KEY,
                            draws=DRAWS)
    assert [p["units"] for p in out["per_seed"]] == [[0, 1, 2, 3]] * 2
    assert np.allclose(out["per_seed"][0]["centres"], centres)
    assert out["n"] == 2 and out["ratio"]["mean"] > 1.5
    assert out["ratio_minus_1"]["mean"] == pytest.approx(out["ratio"]["mean"] - 1)
    lone = tiling.arm_tiling([w], [[1.0] + [0.0] * 4], [0], SHAPE, threshold=0.5, key=KEY)
    assert lone["n"] == 0 and lone["ratio"] is None and lone["ratio_minus_1"] is None


@pytest.mark.parametrize("call, message", [
    (lambda: tiling.periodic_centroid(-np.ones((4, 4))),
     "mass: expected finite values >= 0 with a positive sum, got min -1, sum -16"),
    (lambda: tiling.periodic_centroid(np.ones((2, 2, 2))),
     "mass.shape: expected (D,) or (H, W) of ints >= 1, got (2, 2, 2)"),
    (lambda: tiling.mean_nn_distance(np.zeros((1, 2)), SHAPE),
     "points: expected at least 2 points, got 1"),
    (lambda: tiling.torus_distances(np.zeros((3, 3)), SHAPE),
     "points: expected (k, 2) coordinates, got shape (3, 3)"),
    (lambda: tiling.uniform_nn_null(1, SHAPE, key=KEY),
     "num_points: expected an int >= 2, got 1"),
    (lambda: tiling.uniform_nn_null(3, SHAPE, key=KEY, draws=0),
     "draws: expected an int >= 1, got 0"),
    (lambda: tiling.centres_of(np.zeros((10, 2)), SHAPE, [0]),
     "weights: expected (400, K) weights, got shape (10, 2)"),
    (lambda: tiling.tiling_statistic(np.zeros((3, 2)), (20, 0), key=KEY),
     "shape: expected (D,) or (H, W) of ints >= 1, got (20, 0)"),
])
def test_bad_input_raises_the_one_form(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message


# ------------------------------------------------------------------ the 2-D run


def test_balanced_chunks_hold_half_of_each_class_and_stay_paired():
    from experiments.nlgp_localization.model import sample_task

    cfg = TORUS_PRESETS["smoke"]
    x, y = sample_task(KEY, 101, cfg, 3.0, False)
    _, yg = sample_task(KEY, 101, cfg, 3.0, True)
    assert x.shape == (101, 8, 8, 1) and y.shape == (101, 1)
    assert int((y == 1).sum()) == 101 - 101 // 2 and np.array_equal(y, yg)
    # class +1 (xi = 3) is smoother than class -1 (xi = 1): neighbours correlate more
    near = np.asarray(x[..., 0] * np.roll(x[..., 0], 1, axis=-1)).mean(axis=(1, 2))
    assert near[np.asarray(y[:, 0]) > 0].mean() > near[np.asarray(y[:, 0]) < 0].mean() + 0.2


def test_presets_and_stems():
    assert presets_for(True) is TORUS_PRESETS and presets_for(False) is nlgp.PRESETS
    assert TORUS_PRESETS["default"].shape == SHAPE and TORUS_PRESETS["default"].hidden == 8
    assert TORUS_PRESETS["default"].lr == 0.05 and TORUS_PRESETS["paper"] == nlgp.PRESETS["paper"]
    assert results_stem((100,)) == "nlgp_localization"
    assert results_stem(SHAPE) == "nlgp_localization_2d"


@pytest.fixture(scope="module")
def smoke_2d(tmp_path_factory):
    """``(out folder, printed stdout)`` of the 2-D smoke run."""
    out = tmp_path_factory.mktemp("nlgp2d")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        nlgp.main(["--torus", "--preset", "smoke", "--out", str(out), "--no-progress"])
    return out, printed.getvalue()


def test_smoke_2d_writes_json_and_figures(smoke_2d):
    out, printed = smoke_2d
    assert not (out / "nlgp_localization.json").exists()
    res = json.loads((out / "nlgp_localization_2d.json").read_text())
    cfg = TORUS_PRESETS["smoke"]
    d, k, n = 64, cfg.hidden, cfg.seeds
    assert res["experiment"] == "nlgp_localization" and res["config"]["shape"] == [8, 8]
    assert res["provenance"]["command"].startswith("python -m experiments.nlgp_localization")
    assert "--torus" in res["provenance"]["command"]
    for arm in ("nlgp", "gp"):
        fields = res["receptive_fields"][arm]
        assert len(fields) == n and all(len(w) == d and len(w[0]) == k for w in fields)
        t = res["tiling"][arm]
        assert [p["seed"] for p in t["per_seed"]] == res["seeds"]
        for p, c in zip(t["per_seed"], res["curves"][arm]["per_seed"]):
            assert p["units"] == [j for j, v in enumerate(c["ipr_units"][-1])
                                  if v > res["tiling"]["threshold"]]
            assert len(p["centres"]) == len(p["units"])
    assert res["tiling"]["threshold"] == pytest.approx(5 * 3 / d)
    assert sorted(res["figures"]) == sorted(figures.FIGURES_2D)
    for name in res["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = tables.report_tables(res)
    assert list(got) == [f"nlgp_localization_2d.{t}" for t in
                         ("main", "comparisons", "localised", "tiling")]
    assert all(table in printed for table in got.values())


def test_smoke_2d_figures_redrawn_from_the_json_alone(smoke_2d, tmp_path):
    from matplotlib.image import imread

    from experiments.plot import figure_function

    out, _ = smoke_2d
    res = json.loads((out / "nlgp_localization_2d.json").read_text())
    assert figure_function(res) is figures.draw
    written = figures.draw(res, tmp_path)
    assert sorted(written) == sorted(res["figures"])
    for name in written:
        assert np.array_equal(imread(tmp_path / name), imread(out / name)), name


def test_figures_with_localised_units(smoke_2d, tmp_path):
    """The unit grid and tiling panel with planted localised units (centres drawn)."""
    out, _ = smoke_2d
    res = json.loads((out / "nlgp_localization_2d.json").read_text())
    res["tiling"]["nlgp"]["per_seed"][0].update(units=[0, 1], centres=[[1.0, 7.5], [4, 4]])
    stat = {"mean": 3.0, "std": 0.0, "n": 1}
    res["tiling"]["nlgp"].update(n=1, mean_nn=stat, null_mean=stat, ratio=stat,
                                 percentile=stat)
    written = figures.draw(res, tmp_path)
    assert set(written) == set(figures.FIGURES_2D)


def test_2d_tables_render_through_the_report(smoke_2d, tmp_path):
    from experiments.harness.render import render_tables

    out, _ = smoke_2d
    (tmp_path / "nlgp_localization_2d.json").write_bytes(
        (out / "nlgp_localization_2d.json").read_bytes())
    rendering = render_tables(tmp_path, registry={
        "nlgp_localization_2d": "experiments.nlgp_localization.tables"})
    assert set(rendering.bodies) == {f"nlgp_localization_2d.{t}" for t in
                                     ("main", "comparisons", "localised", "tiling")}


def test_second_2d_run_into_the_same_out_is_refused(smoke_2d, capsys):
    out, _ = smoke_2d
    with pytest.raises(SystemExit) as e:
        nlgp.main(["--torus", "--preset", "smoke", "--out", str(out), "--no-progress"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "already holds nlgp_localization_2d.json" in err


def test_torus_checkpoints_have_their_own_folder(tmp_path):
    from experiments.harness.cli import RunOptions
    from experiments.nlgp_localization.results import run_checkpoint

    options = RunOptions(name="nlgp_localization", preset="smoke", out=str(tmp_path),
                         resume=True)
    assert "/smoke-2d-nlgp/" in run_checkpoint(options, tag=nlgp.TORUS_TAG)("nlgp")
    assert "/smoke-nlgp/" in run_checkpoint(options)("nlgp")
