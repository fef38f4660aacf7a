"""Output tree names, markers and default locations."""

from deepsif_pipeline.store.layout import Layout, compact_ranges, resolve_locations


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


def test_raw_pieces_and_clip_patterns_come_from_one_definition(tmp_path):
    lay = Layout(tmp_path / "o%d")
    pieces = lay.raw_pieces(3, 1, 12)
    assert [p.name for p in pieces[:3]] == ["mean_iter_1_a_iter_3_00.mat", "mean_iter_1_a_iter_3_01.mat",
                                            "mean_iter_1_a_iter_3_02.mat"]
    assert all(Layout.parse_piece_name(p.name) == (1, 3, k) for k, p in enumerate(pieces))
    assert Layout.parse_piece_name("mean_iter_1_a_iter_3_02_ds.mat") is None
    # the MATLAB sprintf patterns give the paths Python gives (a % in the folder is escaped)
    assert lay.clip_pattern(4) % 2 == str(lay.clip(4, 2))
    assert lay.clip_pattern() % (4, 2) == str(lay.clip(4, 2))
    assert lay.pack_file("test").name == "test_sample_nmm.h5"  # DeepSIF's trainer: path[:-12] + '_nmm.h5'


def test_raw_pieces_present_and_regions_with_marker(tmp_path):
    lay = Layout(tmp_path)
    lay.raw_dir(3).mkdir(parents=True)
    for name in ("mean_iter_1_a_iter_3_0.mat", "mean_iter_1_a_iter_3_07.mat", "mean_iter_2_a_iter_3_0.mat",
                 "mean_iter_1_a_iter_3_0_ds.mat", "notes.txt"):
        (lay.raw_dir(3) / name).write_bytes(b"")
    assert [p.name for p in lay.raw_pieces_present(3, 1)] == ["mean_iter_1_a_iter_3_0.mat",
                                                               "mean_iter_1_a_iter_3_07.mat"]
    for r in (0, 12):
        lay.marker(2, r).parent.mkdir(parents=True, exist_ok=True)
        lay.marker(2, r).write_bytes(b"")
    (lay.marker(2, 0).parent / ".tmp_iter_2_i_5_77.mat").write_bytes(b"")
    assert lay.regions_with_marker(2) == {0, 12} and lay.regions_with_marker(1) == set()


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
