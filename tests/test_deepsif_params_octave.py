"""matlab/deepsif_params.m, run in GNU Octave, returns what science.py reads from science.json."""

import shutil

import numpy as np
from scipy.io import loadmat

from conftest import run_octave
from deepsif_pipeline import science
from deepsif_pipeline.processes.engine import MATLAB_DIR


def expected_struct():
    """The struct deepsif_params.m should return, from the values Python reads.

    Steps 2 and 4 whole but for ``target_snr_db`` (the Python side's
    ``--target-snr`` default), and ``mean_iterations`` of step 1.
    """
    step2 = science.values("step2")
    del step2["target_snr_db"]
    return {**step2, "mean_iterations": science.values("step1")["mean_iterations"],
            **science.values("step4")}


def struct_problems(got, expected, where="p"):
    """Differences between a struct loaded by SciPy and ``{name: value}``.

    Scalars must be 1 x 1 doubles, lists 1 x n doubles (row vectors), dicts
    structs; the values must be equal exactly.
    """
    names = set(got.dtype.names)
    problems = [f"{where}: fields {sorted(names ^ set(expected))} differ"] if names != set(expected) else []
    for name in sorted(names & set(expected)):
        value, want = got[name][0, 0], expected[name]
        if isinstance(want, dict):
            problems += struct_problems(value, want, f"{where}.{name}")
            continue
        want = np.atleast_2d(np.asarray(want, dtype=float))
        if value.dtype != np.float64 or value.shape != want.shape or not np.array_equal(value, want):
            problems.append(f"{where}.{name}: {value.dtype} {value.shape} {value.tolist()}, "
                            f"expected {want.shape} {want.tolist()}")
    return problems


def test_octave_reads_the_json_values(octave, tmp_path):
    res = run_octave(octave, "p = deepsif_params(); save('-v7', 'p.mat', 'p');", tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    p = loadmat(tmp_path / "p.mat")["p"]
    assert p.shape == (1, 1)
    problems = struct_problems(p, expected_struct())
    assert not problems, "\n".join(problems)
    # the shapes the steps rely on
    assert p["snr_window"][0, 0].shape == (1, 2) and p["mean_iterations"][0, 0].shape == (1, 3)
    assert p["modes"][0, 0]["train"][0, 0]["target_snr"][0, 0].shape == (1, 6)
    assert p["sensor_snr_levels"][0, 0].shape == (1, 4) and p["clip_length"][0, 0].shape == (1, 1)


def test_struct_problems_sees_a_difference():
    """The comparison fails on a changed value, a column vector or a missing field."""
    good = {"a": 1.0, "v": [1, 2], "g": {"n": 3}}
    row = np.zeros((1, 1), dtype=[("a", object), ("v", object), ("g", object)])
    inner = np.zeros((1, 1), dtype=[("n", object)])
    inner["n"][0, 0] = np.array([[3.0]])
    row["a"][0, 0], row["v"][0, 0], row["g"][0, 0] = np.array([[1.0]]), np.array([[1.0, 2.0]]), inner
    assert not struct_problems(row, good)
    assert struct_problems(row, {**good, "a": 1.5})
    assert struct_problems(row, {**good, "g": {"n": 4}})
    assert struct_problems(row, {**good, "x": 0})
    row["v"][0, 0] = np.array([[1.0], [2.0]])
    assert struct_problems(row, good)


def test_missing_file_is_a_clear_error(octave, tmp_path):
    (tmp_path / "matlab").mkdir()
    shutil.copy(MATLAB_DIR / "deepsif_params.m", tmp_path / "matlab")
    res = run_octave(octave, "rmpath(fileparts(which('deepsif_params'))); addpath('matlab'); deepsif_params();",
                     tmp_path)
    assert res.returncode != 0
    assert "deepsif_params: parameter file" in res.stderr and "science.json not found" in res.stderr, res.stderr
