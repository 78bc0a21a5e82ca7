"""Inconsistent multi-process settings are refused before any JAX work (exit 2, one line).

Every experiment takes ``--coordinator HOST:PORT --num-processes N --process-id I`` (or
JAX's environment variables). A process id outside ``[0, N)``, a missing coordinator,
process count or id, or a malformed address is a user error: one line on stderr naming
the flag, exit status 2, nothing written to ``--out``. Also: the unit behaviour of
:mod:`jaxcnn.train.distributed` (resolve, process_slice) for a single process and for a
simulated second process.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.ecnn import run as ecnn
from experiments.equivalence import run as equivalence
from experiments.learn_conv import run as learn_conv
from experiments.mnist1d_table import run as mnist1d_table
from experiments.nlgp_localization import run as nlgp_localization
from experiments.sample_efficiency import run as sample_efficiency
from jaxcnn.train import distributed

MODULES = [learn_conv, mnist1d_table, sample_efficiency, ecnn, nlgp_localization, equivalence]
ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")

BAD_FLAGS = [
    (["--coordinator", "127.0.0.1:12355", "--num-processes", "2", "--process-id", "2"],
     "--process-id: expected an int >= 0 and <= 1, got 2"),
    (["--coordinator", "127.0.0.1:12355", "--num-processes", "2", "--process-id", "-1"],
     "--process-id: expected an int >= 0 and <= 1, got -1"),
    (["--num-processes", "2", "--process-id", "0"],
     "--coordinator: expected HOST:PORT of process 0 (--coordinator or "
     "JAX_COORDINATOR_ADDRESS) for 2 processes, got None"),
    (["--coordinator", "127.0.0.1:12355", "--process-id", "1"],
     "--num-processes: expected the number of processes (--num-processes or "
     "JAX_NUM_PROCESSES) when a coordinator or process id is given, got None"),
    (["--coordinator", "127.0.0.1:12355", "--num-processes", "2"],
     "--process-id: expected this process's id in [0, 2) (--process-id or JAX_PROCESS_ID), "
     "got None"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"],
     "--coordinator: expected HOST:PORT, e.g. 127.0.0.1:12355, got 'localhost'"),
    (["--coordinator", "127.0.0.1:12355", "--num-processes", "0", "--process-id", "0"],
     "--num-processes: expected an int >= 1, got 0"),
]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for k in ENV:
        monkeypatch.delenv(k, raising=False)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
@pytest.mark.parametrize("flags, message", BAD_FLAGS, ids=range(len(BAD_FLAGS)))
def test_inconsistent_process_flags_exit_2(module, flags, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        module.main(["--preset", "smoke", "--out", str(out), *flags])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"python -m experiments.{module.NAME}: error: {message}", err
    assert not out.exists()


def test_environment_variables_are_read(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:12355")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "7")
    with pytest.raises(SystemExit) as e:
        learn_conv.main(["--preset", "smoke", "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().endswith(
        "error: --process-id: expected an int >= 0 and <= 1, got 7")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match=r"^JAX_NUM_PROCESSES: expected an int, got 'two'$"):
        distributed.resolve()


def test_flags_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "8")
    monkeypatch.setenv("JAX_PROCESS_ID", "7")
    assert distributed.resolve("127.0.0.1:5", 2, 1) == ("127.0.0.1:5", 2, 1)
    assert distributed.resolve() == ("10.0.0.1:1", 8, 7)


def test_single_process_settings():
    assert distributed.resolve() is None
    assert distributed.resolve(num_processes=1) is None
    assert distributed.initialize() == 1
    assert distributed.is_writer()
    data = {"x_train": np.arange(6), "y_train": np.arange(6), "meta": "kept"}
    assert distributed.process_slice(data) == data


def test_process_slice_of_a_second_process(monkeypatch):
    import jax

    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    data = {"x_train": np.arange(8).reshape(4, 2), "y_train": np.arange(4),
            "x_test": np.arange(6), "y_test": np.arange(6), "name": "d"}
    local = distributed.process_slice(data)
    np.testing.assert_array_equal(local["x_train"], [[4, 5], [6, 7]])
    np.testing.assert_array_equal(local["y_test"], [3, 4, 5])
    assert local["name"] == "d" and not distributed.is_writer()
    with pytest.raises(ValueError, match=r"^data\['y_test'\]: expected a number of rows "
                                         r"divisible by the 2 processes \(each loads an "
                                         r"equal slice\), got 5$"):
        distributed.process_slice({**data, "y_test": np.arange(5)})
