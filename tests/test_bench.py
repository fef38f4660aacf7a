"""The bench scripts: each answers ``--help`` (so a moved import fails here), and bench_outputs' comparison.

The benches run for minutes or hours and no test runs them whole; this
runs every ``bench/*.py`` and ``bench/slurm/*.py`` script (found by
globbing, so a new one is covered) with ``--help`` in a child process with
the project's Python, which imports everything the script imports at its
top. The comparison of ``bench/bench_outputs.py`` (``tests/tree_compare.py``) is checked on
two tiny output folders written here.
"""

from pathlib import Path
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from tree_compare import Difference, compare_files, compare_trees, compare_values

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"

SCRIPTS = sorted(path for pattern in ("*.py", "slurm/*.py") for path in BENCH.glob(pattern)
                 if path.name != "__init__.py")
TODAY = {"bench_dask.py", "bench_dataset.py", "bench_deepsif_loader.py", "bench_engines.py", "bench_leadfield.py",
         "bench_outputs.py", "bench_patient.py", "bench_region.py", "bench_startup.py", "bench_step4.py",
         "bench_workers.py"}


def name(script):
    """The script's path under bench/."""
    return script.relative_to(BENCH).as_posix()


def test_the_glob_finds_every_bench_script():
    assert TODAY <= {name(script) for script in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=name)
def test_help(script):
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, f"{name(script)} --help exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert done.stdout.startswith("usage:"), f"{name(script)} --help printed:\n{done.stdout[:1000]}{done.stderr}"


# ---------------------------------------------------------------------------------------------
# bench_outputs: the comparison of two output folders
# ---------------------------------------------------------------------------------------------

def mat_variables():
    """The variables of the folders' MAT-file: a NaN, a cell array, a string, a struct."""
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    data[0, 0] = np.nan
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0], cells[0, 1] = np.array([1.0, 2.0]), "label"
    return {"data": data, "cells": cells, "fingerprint": '{"seed": 1}', "counts": np.array([[3, 0, 7]]),
            "info": {"n": 2.0, "name": "tvb76"}}


def write_folder(root, mat=None, attribute='{"seed": 1}', h5=True):
    """An output folder: ``nmm/a1/nmm_1.mat``, ``test_sample_nmm.h5`` and files that are never compared."""
    (root / "nmm" / "a1").mkdir(parents=True)
    savemat(root / "nmm" / "a1" / "nmm_1.mat", mat_variables() if mat is None else mat)
    if h5:
        with h5py.File(root / "test_sample_nmm.h5", "w") as f:
            f.attrs["fingerprint"] = attribute
            f.create_dataset("data", data=np.linspace(0, 1, 10).reshape(2, 5))
            group = f.create_group("rows")
            group.create_dataset("region", data=np.array([3, 5], dtype=np.int64))
            group["region"].attrs["unit"] = "index"
    for ignored in ("logs", "claims", "raw_nmm/a1"):  # each tree's own: not compared
        (root / ignored).mkdir(parents=True)
        savemat(root / ignored / f"{root.name}.mat", {"x": np.array([1.0])})
    return root


def test_identical_folders_compare_equal(tmp_path):
    a = write_folder(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    savemat(b / "nmm" / "a1" / "nmm_1.mat", mat_variables())  # written again: another header time, same values
    result = compare_trees(a, b)
    assert result.differences == []
    assert result.identical
    assert result.files == 2
    # 5 variables; 2 datasets and 2 attributes
    assert result.arrays == 9
    assert result.summary("case") == "case: 2 files, 9 arrays: identical"


def test_a_changed_value_is_reported(tmp_path):
    variables = mat_variables()
    variables["data"][2, 3] += 0.5
    result = compare_trees(write_folder(tmp_path / "a"), write_folder(tmp_path / "b", mat=variables))
    assert result.differences == [Difference("nmm/a1/nmm_1.mat", "data",
                                             "values: 1 of 12 elements differ, max abs difference 0.5")]
    assert not result.identical
    assert result.summary("case") == "case: 2 files, 9 arrays: 1 differences"


def test_a_changed_cell_element_is_reported(tmp_path):
    variables = mat_variables()
    variables["cells"][0, 1] = "other"
    result = compare_trees(write_folder(tmp_path / "a"), write_folder(tmp_path / "b", mat=variables))
    assert [(d.file, d.variable) for d in result.differences] == [("nmm/a1/nmm_1.mat", "cells")]
    assert result.differences[0].how.startswith("element (0, 1): ")


def test_a_missing_variable_is_reported(tmp_path):
    variables = mat_variables()
    del variables["counts"]
    result = compare_trees(write_folder(tmp_path / "a"), write_folder(tmp_path / "b", mat=variables),
                           labels=("reference", "this tree"))
    assert result.differences == [Difference("nmm/a1/nmm_1.mat", "counts", "only in reference")]


def test_a_missing_file_is_reported(tmp_path):
    result = compare_trees(write_folder(tmp_path / "a"), write_folder(tmp_path / "b", h5=False),
                           labels=("reference", "this tree"))
    assert result.differences == [Difference("test_sample_nmm.h5", "", "only in reference")]
    assert result.files == 1


def test_a_changed_h5_attribute_is_reported(tmp_path):
    result = compare_trees(write_folder(tmp_path / "a"), write_folder(tmp_path / "b", attribute='{"seed": 2}'))
    assert [(d.file, d.variable) for d in result.differences] == [("test_sample_nmm.h5", "/@fingerprint")]
    assert result.differences[0].how.startswith("values: ")


def test_a_changed_h5_dataset_attribute_and_group(tmp_path):
    a, b = write_folder(tmp_path / "a"), write_folder(tmp_path / "b")
    with h5py.File(b / "test_sample_nmm.h5", "a") as f:
        f["rows/region"].attrs["unit"] = "number"
        f.create_group("extra")
    arrays, differences = compare_files(a / "test_sample_nmm.h5", b / "test_sample_nmm.h5")
    assert arrays == 4
    assert [(d.variable, d.how) for d in differences] == [("/extra", "group only in b"),
                                                          ("/rows/region@unit", "values: 1 of 1 elements differ")]


def test_compare_values():
    x = np.array([1.0, np.nan, 3.0])
    assert compare_values(x, x.copy()) is None  # NaN equal to NaN
    assert compare_values(x, np.array([1.0, 2.0, 3.0])) == "values: 1 of 3 elements differ, NaN against numbers"
    assert compare_values(x, x[:2]) == "shape (3,) vs (2,)"
    assert compare_values(x, x.astype(np.float32)) == "dtype float64 vs float32"
    assert compare_values(np.array([1, 2]), np.array([1, 5])) == "values: 1 of 2 elements differ, max abs difference 3"
    assert compare_values("abc", "abcd") == "values: 1 of 1 elements differ"
    assert compare_values(np.array(["ab"]), np.array(["ab"], dtype="<U5")) is None  # strings: by value
