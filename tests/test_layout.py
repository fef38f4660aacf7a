"""Output tree names, markers and default locations."""

import numpy as np
from scipy.io import savemat

from deepsif_pipeline.layout import Layout, compact_ranges, missing_clips, resolve_locations, clip_counts


def test_piece_names_sort_in_time_order():
    names = [Layout.piece_name(3, 1, k, 20) for k in range(20)]
    assert names[2] == "mean_iter_1_a_iter_3_02.mat"
    assert sorted(names) == names
    assert Layout.piece_name(3, 1, 0, 1) == "mean_iter_1_a_iter_3_0.mat"


def test_paths_follow_deepsif_tree(tmp_path):
    lay = Layout(tmp_path, "spikes")
    assert lay.clip(4, 2) == tmp_path / "nmm_spikes" / "a4" / "nmm_2.mat"
    assert lay.marker(1, 4) == tmp_path / "nmm_spikes" / "clip_info" / "iter1" / "iter_1_i_4.mat"
    assert lay.synthesis_file("train") == tmp_path / "train_sample_source1.mat"


def _marker(lay, m, r, n):
    lay.marker(m, r).parent.mkdir(parents=True, exist_ok=True)
    savemat(lay.marker(m, r), {"num_spike": n, "spike_time": np.zeros((1, 0))})


def test_missing_clips_needs_markers_and_files(tmp_path):
    lay = Layout(tmp_path)
    assert missing_clips(lay, 0)  # nothing yet
    for m, n in ((0, 1), (1, 1), (2, 2)):
        _marker(lay, m, 0, n)
    problems = missing_clips(lay, 0)
    assert len(problems) == 1 and "2 of 2 clip files missing" in problems[0]
    lay.clip_dir(0).mkdir(parents=True)
    for n in (1, 2):
        savemat(lay.clip(0, n), {"data": np.zeros((500, 3))})
    assert missing_clips(lay, 0) == []
    lay.marker(1, 0).write_bytes(b"garbage")
    assert "is damaged" in missing_clips(lay, 0)[0] and str(lay.marker(1, 0)) in missing_clips(lay, 0)[0]


def test_clip_counts(tmp_path):
    lay = Layout(tmp_path)
    for m in (0, 1, 2):
        _marker(lay, m, 1, 3 + m)
    _marker(lay, 2, 0, 5)  # region 0 lacks iterations 0 and 1
    assert clip_counts(lay, 3).tolist() == [-1, 5, -1]


def test_compact_ranges():
    assert compact_ranges([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8"
    assert compact_ranges([]) == ""


def test_default_locations_follow_deepsif_checkout(tmp_path):
    (tmp_path / "anatomy").mkdir()
    (tmp_path / "forward").mkdir()
    anatomy, out = resolve_locations(cwd=tmp_path / "forward")
    assert (anatomy, out) == (tmp_path / "anatomy", tmp_path / "source")
    anatomy, out = resolve_locations(cwd=tmp_path)  # no ../anatomy there: the built-in template
    assert anatomy == "tvb76" and out == tmp_path / "source"
    assert resolve_locations("tvb76", cwd=tmp_path)[0] == "tvb76"
    anatomy, out = resolve_locations(str(tmp_path / "x"), "y", cwd=tmp_path)
    assert anatomy == tmp_path / "x" and out.name == "y"


def test_damaged_clip_is_named_with_its_mean_iteration(tmp_path):
    lay = Layout(tmp_path)
    for m, n in ((0, 1), (1, 3), (2, 4)):
        _marker(lay, m, 0, n)
    lay.clip_dir(0).mkdir(parents=True)
    for n in range(1, 5):
        savemat(lay.clip(0, n), {"data": np.full((500, 3), float(n))})
    assert missing_clips(lay, 0) == []
    whole = lay.clip(0, 3).read_bytes()
    lay.clip(0, 3).write_bytes(whole[:len(whole) // 2])  # a copy that stopped half way
    problems = missing_clips(lay, 0)
    assert len(problems) == 1
    assert f"clip {lay.clip(0, 3)} is damaged (truncated" in problems[0]
    assert f"the marker {lay.marker(1, 0)}" in problems[0] and "mean iteration 1 of region 0" in problems[0]
