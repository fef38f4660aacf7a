"""Complete-or-absent files: temporary names, sweeping leftovers, spotting damaged MAT-files."""

import os

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from deepsif_pipeline.store.files import (format_bytes, mat_file_problem, sweep_temporaries, temporary_name,
                                          write_mat_atomic)


@pytest.mark.parametrize("compress", [False, True])
def test_whole_mat_files_pass_and_every_cut_is_found(tmp_path, compress):
    path = tmp_path / "x.mat"
    savemat(path, {"data": np.arange(600.0).reshape(20, 30), "name": "abc", "n": 3.0},
            do_compression=compress)
    assert mat_file_problem(path) is None
    whole = path.read_bytes()
    for cut in sorted({0, 1, 127, 128, 129, 135, 136, 200, len(whole) // 2, len(whole) - 1}):
        path.write_bytes(whole[:cut])
        problem = mat_file_problem(path)
        assert problem is not None, cut
        assert problem.startswith(("empty", "truncated", "not a MATLAB", "holds no")), (cut, problem)
    path.write_bytes(whole + b"\0" * 16)  # trailing garbage
    assert "garbled" in mat_file_problem(path)


def test_files_written_by_octave_pass(tmp_path, octave):
    from conftest import run_octave
    res = run_octave(octave, "s = struct('num_spike', 4, 'data', rand(500, 7)); "
                     "save_mat_atomic('m7.mat', s); save_mat_atomic('m6.mat', s, '-v6');", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("m7.mat", "m6.mat"):
        assert mat_file_problem(tmp_path / name) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m6.mat", "m7.mat"]  # no temporary left


def test_write_mat_atomic_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.mat"
    write_mat_atomic(path, {"x": np.ones(3)})
    assert loadmat(path)["x"].ravel().tolist() == [1, 1, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["a.mat"]
    with pytest.raises(Exception):
        write_mat_atomic(tmp_path / "b.mat", {"x": object()})  # savemat cannot write it
    assert [p.name for p in tmp_path.iterdir()] == ["a.mat"]


def test_sweep_removes_only_temporaries_of_the_given_names(tmp_path):
    keep = [tmp_path / "iter_0_i_5.mat", tmp_path / ".tmp_iter_0_i_55_99.mat"]
    gone = [temporary_name(tmp_path / "iter_0_i_5.mat", 1234), temporary_name(tmp_path / "iter_0_i_5.mat")]
    for p in keep + gone:
        p.write_bytes(b"x")
    assert sorted(sweep_temporaries(tmp_path, "iter_0_i_5_")) == sorted(gone)
    assert sorted(tmp_path.iterdir()) == sorted(keep)
    assert sweep_temporaries(tmp_path / "absent") == []
    assert os.path.basename(gone[0]) == ".tmp_iter_0_i_5_1234.mat"


def test_format_bytes():
    assert format_bytes(4.8e9) == "4.8 GB" and format_bytes(12_345_678) == "12.3 MB"
    assert format_bytes(999) == "1.0 kB" and format_bytes(2.5e12) == "2.5 TB"


def test_write_text_atomic_creates_the_folder_and_replaces(tmp_path):
    from deepsif_pipeline.store.files import write_text_atomic
    path = tmp_path / "logs" / "region_3.failed"
    write_text_atomic(path, "first\n")
    write_text_atomic(path, "second\n")
    assert path.read_text() == "second\n" and [p.name for p in path.parent.iterdir()] == ["region_3.failed"]
