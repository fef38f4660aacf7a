"""Template checks and derived distances, on the real DeepSIF template."""

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from deepsif_pipeline.anatomy import (AnatomyError, DEEPSIF_REMAP, distance_file, load_template,
                                      region_columns, region_distances)


def test_real_template_is_described(deepsif_template):
    t = deepsif_template
    assert t.connectivity.name == "connectivity_998.zip"
    assert (t.n_regions, t.n_sensors, t.n_connectivity) == (994, 75, 998)
    assert t.columns.shape == (994,)
    assert [t.columns[r] for r in (7, 325, 921, 949)] == [994, 997, 996, 995]
    assert t.columns[0] == 0 and t.columns[993] == 993
    assert len(set(t.columns.tolist())) == 994


def test_region_columns_rules():
    assert np.array_equal(region_columns(76, 76), np.arange(76))
    assert region_columns(998, 990) is None
    assert region_columns(76, 994) is None
    cols = region_columns(998, 994)
    assert {r: cols[r] for r in DEEPSIF_REMAP} == DEEPSIF_REMAP


def test_region_distances_known_answer():
    pos = np.array([[0, 0, 0], [2, 0, 0], [0, 3, 0], [0, 5, 0], [0, 0, 4.0]])
    rm = np.array([0, 0, 1, 1, 2])  # centres (1,0,0), (0,4,0), (0,0,4)
    d = region_distances(pos, rm, 3)
    assert np.allclose(d, [[0, np.sqrt(17), np.sqrt(17)], [np.sqrt(17), 0, np.sqrt(32)],
                           [np.sqrt(17), np.sqrt(32), 0]])


def test_distance_file_is_derived_beside_outputs(deepsif_template, tmp_path):
    lines = []
    path = distance_file(deepsif_template, tmp_path / "derived", log=lines.append)
    assert path.parent == tmp_path / "derived"
    assert not (deepsif_template.folder / "dis_matrix_fs_20k.mat").exists()
    d = loadmat(path)["all_dis"]
    assert d.shape == (994, 994) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert np.all(np.isfinite(d)) and d[np.triu_indices(994, 1)].min() > 0
    assert "derived" in lines[0]
    # cached: a second call derives nothing
    lines.clear()
    assert distance_file(deepsif_template, tmp_path / "derived", log=lines.append) == path
    assert lines == []


def test_missing_folder_and_file(anatomy_copy, tmp_path):
    with pytest.raises(AnatomyError, match="anatomy folder not found"):
        load_template(tmp_path / "nope")
    (anatomy_copy / "fs_cortex_20k_inflated.mat").unlink()
    with pytest.raises(AnatomyError, match="missing anatomy file fs_cortex_20k_inflated.mat"):
        load_template(anatomy_copy)


def test_leadfield_size_mismatch_names_both_numbers(anatomy_copy):
    savemat(anatomy_copy / "leadfield_76.mat", {"fwd": np.ones((65, 76))})
    with pytest.raises(AnatomyError, match="has 76 columns but the template has 994 regions"):
        load_template(anatomy_copy, "leadfield_76.mat")


def test_leadfield_without_fwd(anatomy_copy):
    savemat(anatomy_copy / "lf_bad.mat", {"L": np.ones((65, 994))})
    with pytest.raises(AnatomyError, match="no variable 'fwd'"):
        load_template(anatomy_copy, "lf_bad.mat")


def test_leadfield_id_follows_the_file_bytes(tmp_path):
    from scipy.io import savemat
    from deepsif_pipeline.anatomy import leadfield_id
    a, b = tmp_path / "a.mat", tmp_path / "b.mat"
    savemat(a, {"fwd": np.eye(3)})
    b.write_bytes(a.read_bytes())
    assert leadfield_id(a) == leadfield_id(b)
    assert leadfield_id(a).startswith("sha256:") and len(leadfield_id(a)) == 7 + 64
    savemat(b, {"fwd": 2 * np.eye(3)})
    assert leadfield_id(a) != leadfield_id(b)
