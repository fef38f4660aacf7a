"""Template checks and derived distances, on the real DeepSIF template."""

import numpy as np
import pytest
from scipy.io import loadmat, savemat, whosmat

from deepsif_pipeline.head.anatomy import (AnatomyError, DEEPSIF_REMAP, DISTANCES_VARIABLE, distance_file,
                                           load_template, region_columns, region_distances)


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
    assert DISTANCES_VARIABLE == "raw_dis_matrix"  # DeepSIF's name (anatomy/README.md, eval_sim.py)
    assert [name for name, _, _ in whosmat(path)] == ["raw_dis_matrix"]
    d = loadmat(path)["raw_dis_matrix"]
    assert d.shape == (994, 994) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert np.all(np.isfinite(d)) and d[np.triu_indices(994, 1)].min() > 0
    assert "derived" in lines[0]
    # cached: a second call derives nothing
    lines.clear()
    assert distance_file(deepsif_template, tmp_path / "derived", log=lines.append) == path
    assert lines == []


def test_cache_of_the_former_name_is_derived_again(deepsif_template, tmp_path):
    """A derived file from before the rename (``all_dis``) is the pipeline's own cache: replaced, not refused."""
    cache = tmp_path / "derived"
    cache.mkdir()
    old = cache / "dis_matrix_fs_20k.mat"
    savemat(old, {"all_dis": np.ones((994, 994))})
    lines = []
    path = distance_file(deepsif_template, cache, log=lines.append)
    assert path == old and "derived the distances between the 994 region centres" in lines[0]
    assert [name for name, _, _ in whosmat(path)] == ["raw_dis_matrix"]
    d = loadmat(path)["raw_dis_matrix"]
    pos = loadmat(deepsif_template.path("fs_cortex_20k.mat"))["pos"]
    rm = loadmat(deepsif_template.path("fs_cortex_20k_region_mapping.mat"))["rm"].ravel()
    assert np.array_equal(d, region_distances(pos, rm, 994))
    assert sorted(p.name for p in cache.iterdir()) == ["dis_matrix_fs_20k.mat"]  # written aside, renamed


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
    from deepsif_pipeline.head.anatomy import leadfield_id
    a, b = tmp_path / "a.mat", tmp_path / "b.mat"
    savemat(a, {"fwd": np.eye(3)})
    b.write_bytes(a.read_bytes())
    assert leadfield_id(a) == leadfield_id(b)
    assert leadfield_id(a).startswith("sha256:") and len(leadfield_id(a)) == 7 + 64
    savemat(b, {"fwd": 2 * np.eye(3)})
    assert leadfield_id(a) != leadfield_id(b)


# ---- broken templates: every defect is named with its file and variable ---------------------------
# Each test breaks one file of `anatomy_copy` (symlinks to the real template) and checks that the
# AnatomyError names the file's path, the variable (or zip member) and what is wrong.

MAPPING = "fs_cortex_20k_region_mapping.mat"
CORTEX = "fs_cortex_20k.mat"
INFLATED = "fs_cortex_20k_inflated.mat"
LEADFIELD = "leadfield_75_20k.mat"
CONNECTIVITY = "connectivity_998.zip"


def _variables(folder, name):
    """Every variable of a MAT-file of the template (no header entries)."""
    return {k: v for k, v in loadmat(folder / name).items() if not k.startswith("__")}


def _rewrite_mat(folder, name, change):
    """Replace the symlink ``folder/name`` by a copy whose variables went through ``change(dict)``."""
    variables = _variables(folder, name)
    change(variables)
    (folder / name).unlink()
    savemat(folder / name, variables)
    return folder / name


def _rewrite_zip_member(folder, member, change):
    """Replace the connectivity zip by a copy whose ``member`` (bytes) went through ``change``.

    ``change`` returns the new bytes, or None to leave the member out.
    """
    import zipfile
    path = folder / CONNECTIVITY
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    path.unlink()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for n, data in members.items():
            data = change(data) if n == member else data
            if data is not None:
                dst.writestr(n, data)
    return path


def _set_token(row, col, token):
    """A ``change`` for :func:`_rewrite_zip_member`: one number of a text matrix replaced by ``token``."""
    def change(data):
        lines = data.split(b"\n")
        tokens = lines[row].split()
        tokens[col] = token
        lines[row] = b" ".join(tokens)
        return b"\n".join(lines)
    return change


def _drop_last_column(data):
    return b"\n".join(b" ".join(line.split()[:-1]) for line in data.split(b"\n") if line.strip()) + b"\n"


def _drop_last_row(data):
    return b"\n".join([line for line in data.split(b"\n") if line.strip()][:-1]) + b"\n"


def _error(folder, leadfield=None):
    """The one-line message of the AnatomyError that loading ``folder`` raises."""
    with pytest.raises(AnatomyError) as info:
        load_template(folder, leadfield)
    message = str(info.value)
    assert "\n" not in message
    return message


def _assert_names(message, path, variable, *needles):
    assert str(path) in message, message
    assert f"'{variable}'" in message, message
    for needle in needles:
        assert needle in message, message


def _with(name, value):
    return lambda v: v.__setitem__(name, value)


def _without(name):
    return lambda v: v.pop(name)


def _edited(name, edit):
    """A ``change`` for :func:`_rewrite_mat`: ``v[name] = edit(copy of v[name])``."""
    def change(variables):
        value = variables[name].astype(float)
        variables[name] = edit(value)
    return change


def _put(index, value):
    def edit(array):
        array[index] = value
        return array
    return edit


# -- lead field: file `leadfield_75_20k.mat`, variable `fwd`

@pytest.mark.parametrize("change,needles", [
    (_without("fwd"), ["has no variable 'fwd'", "save the data under the name 'fwd'"]),
    (_edited("fwd", _put((3, 10), np.nan)), ["contains 1 NaN value", "(first at 0-based index (3, 10))",
                                             "must be finite"]),
    (_edited("fwd", lambda f: np.where(np.arange(f.size).reshape(f.shape) % 100 == 0, np.nan, f)),
     ["contains 746 NaN values"]),
    (_edited("fwd", _put((0, 0), -np.inf)), ["contains 1 Inf value"]),
    (_edited("fwd", lambda f: f[0]), ["has shape (1, 994): a single sensor"]),
    (_edited("fwd", lambda f: f[:, :993]), ["has 993 columns but the template has 994 regions"]),
    (_edited("fwd", lambda f: f.T), ["has 75 columns", "looks transposed"]),
    (_edited("fwd", lambda f: np.stack([f, f, f], axis=2)), ["must be a sensors x regions matrix",
                                                              "(75, 994, 3)"]),
    (_with("fwd", "not a matrix"), ["is a char array", "not a real numeric array"]),
], ids=["missing", "nan", "many-nan", "inf", "one-row", "columns", "transposed", "3-d", "char"])
def test_broken_leadfield_names_file_and_fwd(anatomy_copy, change, needles):
    path = _rewrite_mat(anatomy_copy, LEADFIELD, change)
    _assert_names(_error(anatomy_copy), path, "fwd", *needles)


def test_leadfield_option_file_is_checked_too(anatomy_copy):
    fwd = loadmat(anatomy_copy / LEADFIELD)["fwd"]
    fwd[:, 5] = np.nan
    savemat(anatomy_copy / "lf_nan.mat", {"fwd": fwd})
    _assert_names(_error(anatomy_copy, "lf_nan.mat"), anatomy_copy / "lf_nan.mat", "fwd", "75 NaN values")


# -- region mapping: `rm` (0-based region of each vertex), `nbs` (1-based neighbour lists)

@pytest.mark.parametrize("variable,change,needles", [
    ("rm", _without("rm"), ["has no variable 'rm'", "it holds 'nbs'"]),
    ("rm", _edited("rm", lambda rm: rm.reshape(2, -1)), ["must be a vector", "(2, 10242)"]),
    ("rm", _edited("rm", lambda rm: rm[:, :20000]),
     ["has 20000 entries", f"{CORTEX} has 20484 vertices", "region mapping made for this cortex"]),
    ("rm", _edited("rm", _put((0, 17), np.nan)), ["1 NaN value", "at vertex 17"]),
    ("rm", _edited("rm", _put((0, 5), np.inf)), ["1 Inf value", "at vertex 5"]),
    ("rm", _edited("rm", _put((0, 9), 3.5)), ["1 non-integer value", "the first 3.5 at vertex 9",
                                             "integers 0..993"]),
    ("rm", _edited("rm", _put((0, 2), 994)), ["1 value outside 0..993", "at vertex 2"]),
    ("rm", _edited("rm", _put((0, 2), -1)), ["1 value outside 0..993", "min -1"]),
    ("rm", _edited("rm", lambda rm: rm + 1),
     ["outside 0..993", "must be integers 0..993 (these look 1-based: subtract 1)"]),
    ("rm", _with("rm", np.array(["x"])), ["is a char array"]),
    ("nbs", _without("nbs"), ["has no variable 'nbs'", "it holds 'rm'"]),
    ("nbs", _with("nbs", np.ones((1, 994))), ["must be a cell array", "is a float64 array"]),
    ("nbs", lambda v: v["nbs"].__setitem__((0, 12), np.array([[2.0, 995.0]])),
     ["1 value outside 1..994", "the first 995 at entry 12 (0-based region)"]),
    ("nbs", lambda v: v["nbs"].__setitem__((0, 40), np.array([[2.0, np.nan]])),
     ["1 NaN value", "entry 40 (0-based region)"]),
    ("nbs", lambda v: v["nbs"].__setitem__((0, 3), np.array([[1.5]])), ["non-integer", "entry 3"]),
    ("nbs", lambda v: v["nbs"].__setitem__((0, 3), "abc"), ["entry 3 (0-based region) is a char array"]),
], ids=["rm-missing", "rm-matrix", "rm-length", "rm-nan", "rm-inf", "rm-fraction", "rm-too-large", "rm-negative",
        "rm-1-based", "rm-char", "nbs-missing", "nbs-not-cell", "nbs-range", "nbs-nan", "nbs-fraction",
        "nbs-char-entry"])
def test_broken_region_mapping_names_file_and_variable(anatomy_copy, variable, change, needles):
    path = _rewrite_mat(anatomy_copy, MAPPING, change)
    _assert_names(_error(anatomy_copy), path, variable, *needles)


# -- surfaces: `pos` of the cortex and the inflated cortex, `centre` of the inflated cortex

@pytest.mark.parametrize("name,variable,change,needles", [
    (CORTEX, "pos", _without("pos"), ["has no variable 'pos'"]),
    (CORTEX, "pos", _edited("pos", lambda p: p[:, :2]), ["must be N x 3", "(20484, 2)"]),
    (CORTEX, "pos", _edited("pos", _put((100, 1), np.nan)), ["1 NaN value", "(100, 1)", "re-export the surface"]),
    (INFLATED, "pos", _edited("pos", _put((7, 0), np.inf)), ["1 Inf value"]),
    (INFLATED, "pos", _edited("pos", lambda p: p[:-1]), ["has 20483 rows but 20484 vertices"]),
    (INFLATED, "centre", _without("centre"), ["has no variable 'centre'"]),
    (INFLATED, "centre", _edited("centre", lambda c: c[:-1]), ["has 993 rows but 994 region centres"]),
    (INFLATED, "centre", _edited("centre", lambda c: c.T), ["must be N x 3", "(3, 994)"]),
    (INFLATED, "centre", _edited("centre", _put((6, 2), np.nan)), ["1 NaN value"]),
], ids=["pos-missing", "pos-2-columns", "pos-nan", "inflated-pos-inf", "inflated-pos-rows",
        "centre-missing", "centre-rows", "centre-transposed", "centre-nan"])
def test_broken_surface_names_file_and_variable(anatomy_copy, name, variable, change, needles):
    path = _rewrite_mat(anatomy_copy, name, change)
    _assert_names(_error(anatomy_copy), path, variable, *needles)


def test_cortex_of_another_size_names_both_files(anatomy_copy):
    cortex = _rewrite_mat(anatomy_copy, CORTEX, _edited("pos", lambda p: p[:-4]))
    _assert_names(_error(anatomy_copy), anatomy_copy / MAPPING, "rm", "has 20484 entries but",
                  f"{cortex} has 20480 vertices ('pos')", "region mapping made for this cortex")


# -- the template's own distances (optional file): `raw_dis_matrix`, DeepSIF's name

@pytest.mark.parametrize("distances,needles", [
    (np.zeros((994, 993)), ["has shape (994, 993) but the template has 994 regions", "delete the file"]),
    (np.where(np.eye(994) > 0, np.nan, 1.0), ["contains 994 NaN values"]),
], ids=["shape", "nan"])
def test_broken_distances_name_file_and_raw_dis_matrix(anatomy_copy, distances, needles):
    savemat(anatomy_copy / "dis_matrix_fs_20k.mat", {"raw_dis_matrix": distances})
    _assert_names(_error(anatomy_copy), anatomy_copy / "dis_matrix_fs_20k.mat", "raw_dis_matrix", *needles)


def test_distances_under_the_former_name_are_refused(anatomy_copy):
    """``all_dis`` (this pipeline's former name) is not DeepSIF's format: refused, with both ways out."""
    savemat(anatomy_copy / "dis_matrix_fs_20k.mat", {"all_dis": np.ones((994, 994))})
    message = _error(anatomy_copy)
    _assert_names(message, anatomy_copy / "dis_matrix_fs_20k.mat", "raw_dis_matrix", "has no variable 'raw_dis_matrix'",
                  "it holds 'all_dis'", "save the data under the name 'raw_dis_matrix'",
                  "or delete the file to have the distances derived")


def test_deepsif_distances_file_is_accepted_and_used_as_is(anatomy_copy, tmp_path):
    """A DeepSIF-style ``dis_matrix_fs_20k.mat`` (``raw_dis_matrix``, 994 x 994) is read, nothing derived."""
    derived = region_distances(loadmat(anatomy_copy / CORTEX)["pos"], loadmat(anatomy_copy / MAPPING)["rm"].ravel(),
                               994)
    own = anatomy_copy / "dis_matrix_fs_20k.mat"
    savemat(own, {"raw_dis_matrix": derived})
    template = load_template(anatomy_copy)
    assert template.n_regions == 994
    lines = []
    assert distance_file(template, tmp_path / "derived", log=lines.append) == own
    assert lines == [] and not (tmp_path / "derived").exists()
    assert np.array_equal(loadmat(own)["raw_dis_matrix"], derived)


# -- connectivity zip: members weights.txt, tract_lengths.txt, centres.txt (what TVB reads in step 1)

@pytest.mark.parametrize("member,change,needles", [
    ("weights.txt", _set_token(3, 5, b"nan"), ["contains 1 NaN value", "(3, 5)", "must be finite"]),
    ("weights.txt", _set_token(997, 0, b"inf"), ["contains 1 Inf value", "(997, 0)"]),
    ("tract_lengths.txt", _set_token(0, 1, b"NaN"), ["contains 1 NaN value"]),
    ("tract_lengths.txt", _set_token(10, 10, b"-3.5"), ["1 negative length", "min -3.5", ">= 0"]),
    ("weights.txt", _drop_last_column, ["is 998 x 997 but the connectivity has 998 regions", "must be 998 x 998"]),
    ("tract_lengths.txt", _drop_last_row, ["is 997 x 998 but the connectivity has 998 regions"]),
    ("weights.txt", _set_token(2, 4, b"x"), ["is not a table of numbers", "could not convert string 'x'"]),
    ("weights.txt", _set_token(2, 4, b""), ["is not a table of numbers", "number of columns changed"]),
    ("tract_lengths.txt", lambda data: None, ["has no member 'tract_lengths'"]),
    ("centres.txt", _set_token(5, 2, b"nan"), ["contains 1 NaN value", "region centres must be finite"]),
    ("centres.txt", lambda data: data.replace(b"rLOF", b"", 1), ["is not a table of numbers"]),
], ids=["weights-nan", "weights-inf", "lengths-nan", "lengths-negative", "weights-not-square",
        "lengths-size", "weights-garbage", "weights-ragged", "lengths-missing", "centres-nan", "centres-columns"])
def test_broken_connectivity_names_zip_and_member(anatomy_copy, member, change, needles):
    path = _rewrite_zip_member(anatomy_copy, member, change)
    variable = member if "has no member" not in needles[0] else member.split(".")[0]
    _assert_names(_error(anatomy_copy), path, variable, *needles)


def test_connectivity_centres_of_another_size_named(anatomy_copy):
    _rewrite_zip_member(anatomy_copy, "centres.txt", _drop_last_row)
    message = _error(anatomy_copy)
    assert "no connectivity in" in message and str(anatomy_copy) in message
    assert "connectivity_998.zip (997 regions)" in message and "centres file" in message


def test_rewritten_but_intact_template_still_loads(anatomy_copy):
    # the helpers alone break nothing: a failing check above is the defect, not the copying
    _rewrite_mat(anatomy_copy, MAPPING, lambda v: None)
    _rewrite_mat(anatomy_copy, LEADFIELD, lambda v: None)
    _rewrite_zip_member(anatomy_copy, "weights.txt", lambda data: data)
    t = load_template(anatomy_copy)
    assert (t.n_regions, t.n_sensors, t.n_connectivity) == (994, 75, 998)


def test_builtin_template_passes_the_checks(tvb76_dir):
    t = load_template(tvb76_dir)
    assert t.n_regions == 76 and t.n_connectivity == 76
