"""The built-in tvb76 template, built from tvb-data in DeepSIF's layout."""

import json
import shutil
import zipfile

import numpy as np
import pytest
from scipy.io import loadmat, whosmat

from deepsif_pipeline.head.anatomy import AnatomyError, load_template
from deepsif_pipeline.head.builtin import (BUILD_VERSION, TARGET_MEAN_IN_STRENGTH, hemisphere_mesh,
                                           label_hemispheres, mean_in_strength, region_leadfield, region_neighbours,
                                           resolve_template)


def _weights(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        return np.loadtxt(zf.open("weights.txt"))


def test_template_loads_like_deepsif(tvb76_dir):
    t = load_template(tvb76_dir)  # the template's own lead field by default
    assert t.n_regions == 76 and t.connectivity.name == "connectivity_76.zip"
    assert t.leadfield.name == "leadfield_63_16k.mat" and t.n_sensors == 63
    assert np.array_equal(t.columns, np.arange(76))


def test_files_shapes_and_values(tvb76_dir):
    fwd = loadmat(tvb76_dir / "leadfield_63_16k.mat")["fwd"]
    assert fwd.shape == (63, 76) and np.all(np.isfinite(fwd)) and np.all(np.abs(fwd).sum(axis=0) > 0)
    cortex = loadmat(tvb76_dir / "fs_cortex_20k.mat")
    assert cortex["pos"].shape == (16384, 3) and cortex["ori"].shape == (16384, 3)
    assert cortex["tri"].min() == 1 and cortex["tri"].max() == 16384  # 1-based, as DeepSIF's
    rmap = loadmat(tvb76_dir / "fs_cortex_20k_region_mapping.mat")
    rm = rmap["rm"].ravel()
    assert rmap["rm"].shape == (1, 16384) and rm.min() == 0 and rm.max() == 75
    centre = loadmat(tvb76_dir / "fs_cortex_20k_inflated.mat")["centre"]
    assert centre.shape == (76, 3) and np.all(np.isfinite(centre))
    assert [name for name, _, _ in whosmat(tvb76_dir / "dis_matrix_fs_20k.mat")] == ["raw_dis_matrix"]
    d = loadmat(tvb76_dir / "dis_matrix_fs_20k.mat")["raw_dis_matrix"]
    assert d.shape == (76, 76) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert np.all(d[~np.eye(76, dtype=bool)] > 0)


# ---- variable names, shapes and index bases as in DeepSIF's own files ------------------------------

FILES = ("fs_cortex_20k.mat", "fs_cortex_20k_inflated.mat", "fs_cortex_20k_region_mapping.mat",
         "leadfield_75_20k.mat")


def _variables(path):
    return {name: (shape, kind) for name, shape, kind in whosmat(path)}


@pytest.mark.parametrize("name", FILES)
def test_variables_are_deepsifs(tvb76_dir, anatomy_dir, name):
    """Each tvb76 file holds the variables of DeepSIF's file (MATLAB doubles), and nothing else."""
    ours = _variables(tvb76_dir / ("leadfield_63_16k.mat" if name.startswith("leadfield") else name))
    theirs = _variables(anatomy_dir / name)
    assert set(ours) == set(theirs)
    for var, (shape, kind) in theirs.items():
        assert ours[var][1] == kind, var
        # left_ind is a column and right_ind a row in DeepSIF's file; the others are alike too
        assert [n == 1 for n in ours[var][0]] == [n == 1 for n in shape], (var, ours[var][0], shape)


def _check_hemispheres(folder):
    """DeepSIF's relations between the hemisphere variables; returns the 0-based left and right indices."""
    cortex = loadmat(folder / "fs_cortex_20k.mat")
    inflated = loadmat(folder / "fs_cortex_20k_inflated.mat")
    n = cortex["pos"].shape[0]
    tri = cortex["tri"].astype(int) - 1
    assert tri.min() == 0 and tri.max() == n - 1  # 1-based in the file
    sides = {}
    for side, short in (("left", "l"), ("right", "r")):
        ind = cortex[f"{side}_ind"].ravel().astype(int) - 1  # 1-based vertex numbers, ascending
        local = cortex[f"{side}_tri"].astype(int) - 1         # 1-based, numbered within the hemisphere
        assert np.all(np.diff(ind) > 0) and local.min() == 0 and local.max() == ind.size - 1
        rows = np.isin(tri, ind).all(axis=1)
        assert np.array_equal(ind[local], tri[rows])          # the hemisphere's rows of tri, in order
        assert np.array_equal(inflated[f"tri{short}"], cortex[f"{side}_tri"])
        assert np.array_equal(inflated[f"pos{short}"], inflated["pos"][ind])
        sides[side] = ind
    assert np.array_equal(np.sort(np.concatenate(list(sides.values()))), np.arange(n))
    assert sum(np.isin(tri, ind).all(axis=1).sum() for ind in sides.values()) == tri.shape[0]
    return sides["left"], sides["right"]


def test_deepsif_hemisphere_relations(anatomy_dir):
    """The relations checked on tvb76 hold in DeepSIF's own fs_cortex_20k(_inflated).mat."""
    left, right = _check_hemispheres(anatomy_dir)
    assert np.array_equal(left, np.arange(10242)) and np.array_equal(right, np.arange(10242, 20484))


def test_hemispheres_from_region_labels(tvb76_dir):
    """Each vertex is in the hemisphere of its region, TVB's reading of the labels; the mesh splits there."""
    from generate_tvb_data import _import_tvb
    Connectivity = _import_tvb().Connectivity  # tvb's loggers set up the way the pipeline does it
    left, right = _check_hemispheres(tvb76_dir)
    conn = Connectivity.from_file(str(tvb76_dir / "connectivity_76.zip"))
    conn.configure()  # TVB computes hemispheres from the labels (the zip has no hemispheres file)
    assert np.array_equal(label_hemispheres(conn.region_labels), conn.hemispheres)
    assert conn.hemispheres.sum() == 38
    rm = loadmat(tvb76_dir / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    assert np.all(conn.hemispheres[rm[right]]) and not np.any(conn.hemispheres[rm[left]])
    assert (left.size, right.size) == (8192, 8192)
    # the label split is a split of the surface: the two halves lie where their regions' centres do
    pos = loadmat(tvb76_dir / "fs_cortex_20k.mat")["pos"]
    surface = pos[right].mean(axis=0) - pos[left].mean(axis=0)
    centres = conn.centres[conn.hemispheres].mean(axis=0) - conn.centres[~conn.hemispheres].mean(axis=0)
    assert surface @ centres / (np.linalg.norm(surface) * np.linalg.norm(centres)) > 0.9


def test_label_hemispheres_rule():
    assert label_hemispheres(["rA1", "Lv2", "lCC", "Rx"]).tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="without a hemisphere prefix"):
        label_hemispheres(["rA1", "CC"])


def test_hemisphere_mesh_renumbers_within_the_hemisphere():
    tri = np.array([[0, 2, 4], [1, 3, 5], [4, 2, 6]])
    ind, local = hemisphere_mesh(tri, np.array([1, 0, 1, 0, 1, 0, 1], dtype=bool))
    assert ind.tolist() == [0, 2, 4, 6] and local.tolist() == [[0, 1, 2], [2, 1, 3]]
    with pytest.raises(ValueError, match="1 triangles have vertices in both hemispheres"):
        hemisphere_mesh(np.array([[0, 1, 2]]), np.array([True, True, False]))


def test_neighbours_are_symmetric_and_one_based(tvb76_dir):
    nbs = loadmat(tvb76_dir / "fs_cortex_20k_region_mapping.mat")["nbs"]
    assert nbs.shape == (1, 76)
    lists = [set(np.asarray(nbs[0, r]).ravel().astype(int) - 1) for r in range(76)]
    assert all(lists), "every region shares an edge with another"
    for r, nb in enumerate(lists):
        assert r not in nb and all(0 <= j < 76 for j in nb)
        assert all(r in lists[j] for j in nb)


def test_connectivity_scaled_to_the_998_template_strength(tvb76_dir):
    import tvb_data
    from pathlib import Path
    shipped = _weights(Path(tvb_data.__file__).parent / "connectivity" / "connectivity_76.zip")
    scaled = _weights(tvb76_dir / "connectivity_76.zip")
    info = json.loads((tvb76_dir / "template.json").read_text())
    assert np.isclose(mean_in_strength(shipped), 39.33, atol=0.01)
    assert np.isclose(mean_in_strength(scaled), TARGET_MEAN_IN_STRENGTH, rtol=1e-9)
    assert np.isclose(info["weight_scale"], TARGET_MEAN_IN_STRENGTH / mean_in_strength(shipped))
    assert np.allclose(scaled, shipped * info["weight_scale"], rtol=1e-9)
    with zipfile.ZipFile(tvb76_dir / "connectivity_76.zip") as zf:
        assert "tract_lengths.txt" in zf.namelist() and "centres.txt" in zf.namelist()


def test_matches_deepsif_strength(anatomy_dir):
    """The target is the mean in-strength of DeepSIF's own 998-region connectivity."""
    assert np.isclose(mean_in_strength(_weights(anatomy_dir / "connectivity_998.zip")),
                      TARGET_MEAN_IN_STRENGTH, atol=0.01)


def test_region_leadfield_sums_vertices():
    vertex = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, -1.0, 2.0]])
    assert np.array_equal(region_leadfield(vertex, [1, 0, 1, 1], 2), [[2.0, 8.0], [0.5, 1.5]])


def test_region_neighbours_from_shared_edges():
    # two triangles sharing edge (1, 2); regions 0 | 1 | 2 on vertices 0, 1-2, 3
    nbs = region_neighbours(np.array([[0, 1, 2], [1, 3, 2]]), np.array([0, 1, 1, 2]), 3)
    assert [n.tolist() for n in nbs] == [[1], [0, 2], [1]]


def test_resolve_builds_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSIF_PIPELINE_CACHE", str(tmp_path))
    old = tmp_path / "tvb76-v1"  # a build of version 1 (distances under 'all_dis'): left alone, not used
    old.mkdir()
    (old / "template.json").write_text('{"name": "tvb76", "build_version": 1}\n')
    lines = []
    t = resolve_template("tvb76", log=lines.append)
    assert t.folder == tmp_path / f"tvb76-v{BUILD_VERSION}" and BUILD_VERSION >= 2
    assert "building the built-in template tvb76" in lines[0]
    assert "raw_dis_matrix" in loadmat(t.path("dis_matrix_fs_20k.mat"))
    assert sorted(p.name for p in old.iterdir()) == ["template.json"]
    lines.clear()
    assert resolve_template("tvb76", log=lines.append).folder == t.folder and lines == []
    assert not list(tmp_path.glob(".*tmp*"))


def test_leadfield_of_another_template_fails_with_both_sizes(tvb76_dir, anatomy_dir, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(tvb76_dir, folder)
    (folder / "leadfield_75_20k.mat").symlink_to(anatomy_dir / "leadfield_75_20k.mat")
    with pytest.raises(AnatomyError, match="has 994 columns but the template has 76 regions"):
        load_template(folder, "leadfield_75_20k.mat")
