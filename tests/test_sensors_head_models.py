"""The other head models of --sensors (deepsif_pipeline/head/leadfields/): a user's forward solution as SPEC
(``-fwd.fif``, matched to the template's vertices by position) and an MNE BEM solution (``--bem``).

Each forward model here is computed by MNE in the test, on the real template cortex; the lead field
``--sensors`` makes from it is checked against MNE's own fixed-orientation gains (forward solution)
or against the analytic sphere model the BEM discretises (BEM).
"""

import numpy as np
import pytest
from scipy.io import loadmat

from conftest import made_leadfield
from deepsif_pipeline.head import anatomy, recipe
from deepsif_pipeline.head.anatomy import load_template
from deepsif_pipeline.head.leadfields import bem, frames, geometry, sensors, sphere

mne = pytest.importorskip("mne", reason="mne is not installed (pip install -r requirements.txt)")


def cortex(template):
    """The template's cortex: positions (m) and unit normals, in its own frame, ``(n_vertices, 3)`` each (the
    normals in the axes of the positions: ``frames.template_cortex_in_frame``)."""
    pos, ori = frames.template_cortex_in_frame(template)
    return pos, ori / np.linalg.norm(ori, axis=1, keepdims=True)


def wide_sphere(info):
    """A 4-layer sphere centred on the sensors, wide enough that every tvb76 vertex lies inside its brain layer."""
    center, _ = geometry.fit_sphere(sensors.sensor_positions(info))
    return mne.make_sphere_model(r0=center, head_radius=0.2, verbose="error")


def tvb76_placement(template, info):
    """The rigid MRI -> head transform ``--sensors`` places tvb76's cortex with (rotation and sphere shift)."""
    pos, _ = cortex(template)
    placed, _, _ = frames.cortex_in_head_frame(template, sensors.sensor_positions(info))
    trans = np.eye(4)
    trans[:3, :3] = geometry.SCS_TO_RAS
    trans[:3, 3] = placed[0] - geometry.SCS_TO_RAS @ pos[0]
    return mne.transforms.Transform("mri", "head", trans)


def write_forward(path, template, info, order=None, shift=0.0, keep=None):
    """A free-orientation forward solution on the template's vertices (in its frame, MRI), saved to ``path``.

    ``order`` shuffles the sources, ``shift`` (m) moves them along x, ``keep`` leaves some out.
    """
    pos, ori = cortex(template)
    index = np.arange(len(pos)) if order is None else order
    index = index if keep is None else index[keep]
    src = mne.setup_volume_source_space(pos={"rr": pos[index] + [shift, 0, 0], "nn": ori[index]}, verbose="error")
    fwd = mne.make_forward_solution(info, trans=tvb76_placement(template, info), src=src, bem=wide_sphere(info),
                                    eeg=True, meg=False, mindist=0.0, verbose="error")
    mne.write_forward_solution(str(path), fwd, overwrite=True, verbose="error")
    return fwd


def test_a_forward_solution_is_matched_to_the_template_by_position(tvb76_dir, tmp_path):
    """--sensors X-fwd.fif: sources in any order are put back on the template's vertices, each gain is fixed
    along the template's normal turned into the head frame, summed per region and average-referenced;
    the result equals MNE's own fixed-orientation gains of the same model, region by region."""
    template = load_template(tvb76_dir)
    info = sensors.read_sensors("biosemi64")
    order = np.random.default_rng(3).permutation(len(cortex(template)[0]))
    path = tmp_path / "tvb76-fwd.fif"
    write_forward(path, template, info, order=order)
    made, n = made_leadfield(template, path, tmp_path / "cache")
    saved = loadmat(made)
    assert n == 64 and saved["fwd"].shape == (64, 76)
    assert [str(c[0]) for c in saved["ch_names"].ravel()] == info["ch_names"]
    assert "tvb76-fwd.fif (its own head model)" in str(saved["head_model"][0])

    # expected: MNE fixes the orientations itself (surf_ori + force_fixed) on the cortex placed in the head frame
    pos, ori = cortex(template)
    trans = tvb76_placement(template, info)
    src = mne.setup_volume_source_space(pos={"rr": mne.transforms.apply_trans(trans, pos),
                                             "nn": ori @ trans["trans"][:3, :3].T}, verbose="error")
    direct = mne.make_forward_solution(info, trans=None, src=src, bem=wide_sphere(info), eeg=True, meg=False,
                                       mindist=0.0, verbose="error")
    fixed = mne.convert_forward_solution(direct, surf_ori=True, force_fixed=True, verbose="error")["sol"]["data"]
    expected = np.zeros((64, 76))
    np.add.at(expected.T, anatomy.template_mapping(template), fixed.T)
    expected -= expected.mean(axis=0)
    assert np.allclose(saved["fwd"], expected, rtol=0, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("change, message", [
    ("fewer", "a forward solution on 16383 sources; the template's cortex has 16384 vertices"),
    ("shifted", "a forward solution on another source space: "),  # (then: how many vertices lack a source near them)
])
def test_a_forward_solution_on_another_source_space_is_refused(tvb76_cache, tvb76_dir, tmp_path, change, message):
    from conftest import assert_refused, tvb76_run
    template = load_template(tvb76_dir)
    info = sensors.read_sensors("biosemi32")
    path = tmp_path / f"{change}-fwd.fif"
    n = len(cortex(template)[0])
    write_forward(path, template, info, shift=0.005 if change == "shifted" else 0.0,
                  keep=np.arange(1, n) if change == "fewer" else None)
    out = tmp_path / "out"
    res = tvb76_run(tvb76_cache, out, "--start_region", 0, "--end_region", 1, "--sim-length", 2, "--sensors", path)
    assert_refused(res, f"--sensors {path}: {message}", out)


@pytest.fixture(scope="module")
def sphere_bem(anatomy_dir, tmp_path_factory):
    """A 3-layer BEM solution of concentric spheres (ico-3) around DeepSIF's cortex, in fsaverage's MRI frame.

    Returns ``(path, centre (m, MRI frame), radii (m, inner skull to scalp), conductivities)``.
    """
    from mne.io.constants import FIFF
    from mne.surface import _get_ico_surface
    from scipy.spatial import ConvexHull
    pos, _ = cortex(load_template(anatomy_dir))
    center, _ = geometry.fit_sphere(pos[ConvexHull(pos).vertices])
    inner = np.linalg.norm(pos - center, axis=1).max() + 0.003
    radii, sigmas = (inner, inner + 0.007, inner + 0.014), (0.3, 0.006, 0.3)
    ico = _get_ico_surface(3)
    surfs = [dict(id=kind, sigma=sigma, np=len(ico["rr"]), ntri=len(ico["tris"]), coord_frame=FIFF.FIFFV_COORD_MRI,
                  rr=ico["rr"] * radius + center, tris=ico["tris"])
             for kind, radius, sigma in zip((FIFF.FIFFV_BEM_SURF_ID_HEAD, FIFF.FIFFV_BEM_SURF_ID_SKULL,
                                             FIFF.FIFFV_BEM_SURF_ID_BRAIN), radii[::-1], sigmas[::-1])]
    path = tmp_path_factory.mktemp("bem") / "spheres-bem-sol.fif"
    mne.write_bem_solution(str(path), mne.make_bem_solution(surfs, verbose="error"), verbose="error")
    return path, center, radii, sigmas


@pytest.mark.slow
def test_a_bem_gives_the_lead_field_of_the_sphere_it_discretises(anatomy_dir, sphere_bem, tmp_path, monkeypatch):
    """--bem on DeepSIF's template: the BEM (in fsaverage's MRI frame, the cortex's) and the sensors (MNE's head
    frame) are related by MNE's fsaverage transform; a BEM of concentric spheres gives the lead field of the
    analytic sphere with the same radii, region by region (correlation across the sensors)."""
    path, center, radii, sigmas = sphere_bem
    template = load_template(anatomy_dir)
    made, n = made_leadfield(template, "biosemi64", tmp_path / "cache", bem=path)
    saved = loadmat(made)
    assert n == 64 and saved["fwd"].shape == (64, template.n_regions)
    assert str(saved["bem"][0]) == str(path) and "3 layer(s)" in str(saved["head_model"][0])
    assert np.allclose(saved["fwd"].mean(axis=0), 0)
    # found again by its inputs (the BEM by its bytes) without reading the BEM, which can be a gigabyte

    def no_read(path):
        raise AssertionError("the BEM was read again")
    monkeypatch.setattr(bem, "read_bem", no_read)
    assert made_leadfield(template, "biosemi64", tmp_path / "cache", bem=path) == (made, 64)
    monkeypatch.undo()

    info = sensors.read_sensors("biosemi64")
    trans = frames.fsaverage_trans()
    model = mne.make_sphere_model(r0=mne.transforms.apply_trans(trans, center), head_radius=radii[-1],
                                   relative_radii=[r / radii[-1] for r in radii], sigmas=sigmas, verbose="error")
    pos, ori = cortex(template)
    gain = sphere.vertex_gain(info, mne.transforms.apply_trans(trans, pos), ori @ trans["trans"][:3, :3].T, model)
    expected = recipe.average_reference(recipe.sum_regions(gain, anatomy.template_mapping(template),
                                                             template.n_regions))
    a, b = saved["fwd"], expected
    r = (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
    # ico-3 spheres (642 vertices each) with a 7 mm skull: measured median 0.985, 10th percentile 0.946
    assert np.median(r) > 0.97 and np.percentile(r, 10) > 0.9
    # and without the fsaverage transform (the cortex taken as if in the head frame) it would not agree
    wrong = sphere.vertex_gain(info, pos, ori, mne.make_sphere_model(r0=center, head_radius=radii[-1],
                                                                      relative_radii=[x / radii[-1] for x in radii],
                                                                      sigmas=sigmas, verbose="error"))
    c = recipe.average_reference(recipe.sum_regions(wrong, anatomy.template_mapping(template), template.n_regions))
    assert np.median((a * c).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(c, axis=0))) < 0.9


@pytest.mark.parametrize("extra, message", [
    (["--bem", "BEM"], "--bem is the head model of the lead field --sensors makes: give --sensors too"),
    (["--sensors", "biosemi32", "--bem", "/nowhere/x-bem-sol.fif"], "--bem /nowhere/x-bem-sol.fif: no such file"),
    (["--sensors", "biosemi32", "--bem", "TEXT"], ": not an MNE BEM solution"),
    (["--sensors", "biosemi32", "--bem", "BEM"], "--bem: the template's cortex (16384 vertices) is not DeepSIF's "
                                                 "fsaverage5 template"),
])
def test_bad_bem_is_refused_before_anything_is_created(tvb76_cache, tmp_path, extra, message):
    from conftest import assert_refused, tvb76_run
    text = tmp_path / "notes-bem-sol.fif"
    text.write_text("not a BEM\n")
    bem = tmp_path / "one-bem-sol.fif"
    if "BEM" in extra:  # a real one-layer BEM solution (a sphere), on a template it cannot be placed under
        from mne.io.constants import FIFF
        from mne.surface import _get_ico_surface
        ico = _get_ico_surface(2)
        surf = dict(id=FIFF.FIFFV_BEM_SURF_ID_BRAIN, sigma=0.3, np=len(ico["rr"]), ntri=len(ico["tris"]),
                    coord_frame=FIFF.FIFFV_COORD_MRI, rr=ico["rr"] * 0.08, tris=ico["tris"])
        mne.write_bem_solution(str(bem), mne.make_bem_solution([surf], verbose="error"), verbose="error")
    extra = [str(bem) if e == "BEM" else str(text) if e == "TEXT" else e for e in extra]
    out = tmp_path / "out"
    res = tvb76_run(tvb76_cache, out, "--start_region", 0, "--end_region", 1, "--sim-length", 2, *extra)
    assert_refused(res, message, out)
