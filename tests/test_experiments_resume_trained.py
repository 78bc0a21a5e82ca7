"""Resume of the three trainer-based experiments: learn_conv, mnist1d_table, sample_efficiency.

(ecnn and nlgp_localization have theirs in test_experiments_resume.py; learn_conv is also
SIGKILLed at 20 moments in test_fault_injection.py.) Each run is interrupted in-process
right after its ``n``-th checkpoint save (an exception, like a crash: only the files on
disk survive), rerun with ``--resume``, and must give an uninterrupted run's results JSON
number for number (exactly; wall times, provenance and ``resumed_from`` aside) and
record where it resumed.
"""

from __future__ import annotations

import json

import pytest
from conftest import results_numbers

from jaxcnn.train import checkpoint

from experiments.learn_conv import run as learn_conv
from experiments.mnist1d_table import run as mnist1d_table
from experiments.sample_efficiency import run as sample_efficiency

CASES = {
    "learn_conv": (learn_conv, ["--preset", "smoke", "--seeds", "2", "--set",
                                "checkpoint_every=1"], 2),
    "mnist1d_table": (mnist1d_table, ["--preset", "smoke", "--seeds", "2", "--set",
                                      "checkpoint_every=1"], 2),
    "sample_efficiency": (sample_efficiency, ["--preset", "smoke", "--seeds", "2", "--set",
                                              "checkpoint_every=1"], 2),
}


def _resumed(obj) -> list:
    found = []
    if isinstance(obj, dict):
        if "resumed_from" in obj:
            found.append(obj["resumed_from"])
        for v in obj.values():
            found += _resumed(v)
    elif isinstance(obj, list):
        for v in obj:
            found += _resumed(v)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_resume_after_a_crash_is_identical(name, tmp_path, monkeypatch):
    module, argv, n = CASES[name]
    argv = [*argv, "--no-progress"]
    ref_out, out = tmp_path / "ref", tmp_path / "resumed"
    module.main([*argv, "--out", str(ref_out), "--resume"])
    save, calls = checkpoint.CheckpointManager.save, []

    def crash_after_nth_save(self, *a, **kw):
        save(self, *a, **kw)
        calls.append(1)
        if len(calls) == n:
            self.close()  # the checkpoint is on disk, as after a real crash
            raise KeyboardInterrupt(f"injected crash after checkpoint save {n}")

    with monkeypatch.context() as m:
        m.setattr(checkpoint.CheckpointManager, "save", crash_after_nth_save)
        with pytest.raises(KeyboardInterrupt, match="injected crash"):
            module.main([*argv, "--out", str(out), "--resume"])
    assert not (out / f"{module.NAME}.json").exists()
    restore, restored = checkpoint.CheckpointManager.restore_latest, []

    def recording_restore(self, *a, **kw):
        got = restore(self, *a, **kw)
        restored.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(checkpoint.CheckpointManager, "restore_latest", recording_restore)
        module.main([*argv, "--out", str(out), "--resume"])
    assert any(restored), restored  # it continued from the checkpoints, not afresh
    ref = json.loads((ref_out / f"{module.NAME}.json").read_text())
    res = json.loads((out / f"{module.NAME}.json").read_text())
    assert results_numbers(res) == results_numbers(ref)  # exact: bitwise-equal floats
    assert all(r is None for r in _resumed(ref))
