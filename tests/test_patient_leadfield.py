"""A patient's own head (head/leadfields/patient.py): a BEM of a subject's surfaces, its checks, its region lead field.

The subject is a copy of fsaverage made here from the files MNE ships
(tests/subject_bem.py: 3 x 1,280 triangles, ico-3, to keep the tests quick; bench/bench_patient.py times the
3 x 5,120 of a real head); its cortex is DeepSIF's
fsaverage5 template (fsaverage's MRI frame), so MNE's own forward solution of
the same sources is the reference.
"""

import time

import mne
import numpy as np
import pytest
from scipy.io import loadmat

import subject_bem
from deepsif_pipeline.head.anatomy import template_cortex, template_mapping
from deepsif_pipeline.head.leadfields import patient, sensors
from deepsif_pipeline.head.leadfields.base import LeadFieldError
from deepsif_pipeline.head.leadfields.geometry import SCS_TO_RAS

SPEC = "standard_1020"  # MNE's standard_1020 (colin27's) lies within 6.6 mm of fsaverage's scalp (biosemi64: 23 mm)


@pytest.fixture(scope="session")
def subject(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subjects") / "fsa"
    subject_bem.write_bem_surfaces(folder, grade=3)
    return folder


@pytest.fixture(scope="session")
def trans_path(tmp_path_factory):
    return subject_bem.trans_file(tmp_path_factory.mktemp("trans") / "fsa-trans.fif")


@pytest.fixture(scope="session")
def eeg():
    return sensors.read_sensors(SPEC)


@pytest.fixture(scope="session")
def eeg_bem(subject, eeg):
    start = time.perf_counter()
    solution, description = patient.subject_bem(subject, eeg)
    print(f"\nmake_bem_model + make_bem_solution, 3 x 1,280 triangles: {time.perf_counter() - start:.1f} s")
    return solution, description


@pytest.fixture(scope="session")
def cortex(deepsif_template):
    pos, ori = template_cortex(deepsif_template)
    return pos, ori, template_mapping(deepsif_template), deepsif_template.n_regions


@pytest.fixture(scope="session")
def template_ori_leadfield(cortex, eeg, eeg_bem, trans_path):
    pos, ori, rm, n = cortex
    start = time.perf_counter()
    fwd, about = patient.patient_region_leadfield(pos, ori, rm, n, eeg, patient.read_trans(trans_path), eeg_bem[0],
                                                  spec=SPEC, head_model=eeg_bem[1])
    print(f"\npatient_region_leadfield, {len(pos)} sources x {len(eeg['ch_names'])} electrodes: "
          f"{time.perf_counter() - start:.1f} s")
    return fwd, about


def test_the_test_head_is_three_ico_layers_mne_accepts(eeg_bem):
    solution, description = eeg_bem
    assert [len(s["tris"]) for s in solution["surfs"]] == [1280, 1280, 1280]
    assert [s["sigma"] for s in solution["surfs"]] == pytest.approx([0.3, 0.006, 0.3])
    assert description.startswith("BEM of fsa's bem/inner_skull.surf, outer_skull.surf, outer_skin.surf: 3 layer(s)")
    inner5 = mne.read_bem_surfaces(subject_bem.FSAVERAGE_DATA / "fsaverage-inner_skull-bem.fif", verbose="error")[0]
    inner = next(s for s in solution["surfs"] if s["id"] == mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_BRAIN)
    # the ico-3 inner skull is fsaverage's own first 642 vertices, each moved out by the margin (ico-4: 2,562,
    # not moved: the bench's)
    nearest = np.linalg.norm(inner["rr"][:, None, :] - inner5["rr"][None, :642, :], axis=2).min(axis=1)
    np.testing.assert_allclose(nearest, subject_bem.COARSE_MARGIN_M, atol=1e-6)
    rr4, tris4 = subject_bem.ico4_of_ico5(inner5["rr"], 4)
    np.testing.assert_allclose(np.sort(rr4, axis=0), np.sort(inner5["rr"][:2562], axis=0), atol=1e-6)
    assert len(tris4) == 5120


def test_region_leadfield_is_mnes_forward_fixed_and_summed(cortex, eeg, eeg_bem, trans_path, template_ori_leadfield):
    """The template's own vertices and ``ori``: patient_region_leadfield is MNE's forward solution made directly,
    fixed along ori, summed per region, average reference."""
    pos, ori, rm, n = cortex
    fwd, about = template_ori_leadfield
    unit = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    src = mne.setup_volume_source_space(pos={"rr": pos, "nn": unit}, verbose="error")
    direct = mne.make_forward_solution(eeg, trans=str(trans_path), src=src, bem=eeg_bem[0], eeg=True, meg=False,
                                       mindist=0.0, verbose="error")
    assert direct["nsource"] == len(pos)
    to_head = subject_bem_to_head(trans_path)
    gain = direct["sol"]["data"].reshape(len(eeg["ch_names"]), len(pos), 3)
    fixed = np.einsum("svk,vk->sv", gain, unit @ to_head.T)
    region = np.zeros((len(eeg["ch_names"]), n))
    np.add.at(region.T, rm, fixed.T)
    region -= region.mean(axis=0)
    assert fwd.shape == (94, 994)
    np.testing.assert_allclose(fwd, region, rtol=0, atol=1e-9 * np.abs(region).max())
    assert about["reference"] == "average of the EEG sensors" and about["moved"] == 0 and about["farthest"] == 0.0
    assert about["head_model"] == eeg_bem[1] and len(about["empty_regions"]) == 0


def subject_bem_to_head(trans_path):
    trans = mne.read_trans(str(trans_path))
    if trans["from"] != mne.io.constants.FIFF.FIFFV_COORD_MRI:
        trans = mne.transforms.invert_transform(trans)
    return trans["trans"][:3, :3]


def test_orientations_from_the_pial_mesh_give_nearly_the_same_columns(anatomy_dir, cortex, eeg, eeg_bem, trans_path,
                                                                       template_ori_leadfield):
    """The pial mesh's own vertex normals (area-weighted, MNE's complete_surface_info) against DeepSIF's ``ori``.

    Measured: the template's ``ori`` is NOT the normal of its mesh in the frame of ``pos`` (median angle 77
    degrees): it is the normal's components in Brainstorm's axes (x nose, y left), i.e. turned 90 degrees about
    the vertical axis; turned back (``geometry.SCS_TO_RAS``) it is the mesh normal (median angle ~2.5 degrees).
    The region lead field of the mesh normals agrees with that of the turned-back ``ori``.
    """
    pos, ori, rm, n = cortex
    tri = loadmat(str(anatomy_dir / "fs_cortex_20k.mat"), variable_names=["tri"])["tri"].astype(int) - 1
    normals = mne.surface.complete_surface_info({"rr": np.ascontiguousarray(pos), "tris": np.ascontiguousarray(tri)},
                                                verbose="error")["nn"]
    unit = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    turned = unit @ SCS_TO_RAS.T
    trans = patient.read_trans(trans_path)
    mine, _ = patient.patient_region_leadfield(pos, normals, rm, n, eeg, trans, eeg_bem[0])
    theirs, _ = patient.patient_region_leadfield(pos, turned, rm, n, eeg, trans, eeg_bem[0])
    raw = template_ori_leadfield[0]
    for label, o, ref in (("ori as stored", unit, raw), ("ori turned from Brainstorm's axes", turned, theirs)):
        angle = np.degrees(np.arccos(np.clip(np.sum(o * normals, axis=1), -1, 1)))
        corr = np.array([np.corrcoef(mine[:, r], ref[:, r])[0, 1] for r in range(n)])
        print(f"\n{label}: normal angles (deg) median {np.median(angle):.2f}, 90th {np.percentile(angle, 90):.2f}, "
              f"max {angle.max():.2f}; region correlation with the mesh normals' lead field: median "
              f"{np.median(corr):.5f}, 10th {np.percentile(corr, 10):.5f}, min {corr.min():.5f}")
    assert np.median(corr) >= 0.99 and np.percentile(corr, 10) >= 0.95
    assert np.median(np.degrees(np.arccos(np.clip(np.sum(unit * normals, axis=1), -1, 1)))) > 60  # as stored: not


def test_a_cortex_outside_the_inner_skull_is_refused(cortex, eeg_bem):
    pos = cortex[0] + [0.0, 0.0, 0.05]
    with pytest.raises(LeadFieldError) as caught:
        patient.check_inside(pos, eeg_bem[0])
    assert str(caught.value) == ("--subject: 11535 of the 20484 sources lie outside the BEM's inner skull, the "
                                 "farthest by 41.9 mm: the source space and the BEM are not of one head; make both "
                                 "from the same FreeSurfer subject")


def _moved(info, toward, by):
    """A copy of an EEG Info with each electrode moved ``by`` metres toward ``toward`` (head frame)."""
    info = info.copy()
    for ch in info["chs"]:
        r = ch["loc"][:3]
        ch["loc"][:3] = r + by * (toward - r) / np.linalg.norm(toward - r)
    return info


def test_electrodes_inside_the_scalp_are_refused(eeg, eeg_bem, trans_path):
    trans = patient.read_trans(trans_path)
    patient.check_sensors_outside(eeg, trans, eeg_bem[0], SPEC)  # standard_1020: up to 6.6 mm inside, taken
    inner = next(s for s in eeg_bem[0]["surfs"] if s["id"] == mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_BRAIN)
    centre = mne.transforms.apply_trans(trans, inner["rr"].mean(axis=0))
    with pytest.raises(LeadFieldError) as caught:
        patient.check_sensors_outside(_moved(eeg, centre, 0.03), trans, eeg_bem[0], SPEC)
    assert str(caught.value) == ("--sensors standard_1020: 94 of its 94 electrodes lie more than 7 mm inside the "
                                 "scalp, up to 35.1 mm (Oz): they are not on this head; check --trans (mne coreg) "
                                 "and give the electrodes' digitised positions")
    with pytest.raises(LeadFieldError) as caught:  # MNE's biosemi64 is not on fsaverage's head (Fpz: 23.2 mm inside its ico-3 scalp)
        patient.check_sensors_outside(sensors.read_sensors("biosemi64"), trans, eeg_bem[0], "biosemi64")
    assert str(caught.value).startswith("--sensors biosemi64: 12 of its 64 electrodes lie more than 7 mm inside the "
                                        "scalp, up to 23.2 mm (Fpz)")


def test_sensors_without_positions_are_refused(eeg, eeg_bem, trans_path):
    info = eeg.copy()
    info["chs"][0]["loc"][:3] = 0.0
    with pytest.raises(LeadFieldError) as caught:
        patient.check_sensors_outside(info, patient.read_trans(trans_path), eeg_bem[0], "cap.elc")
    assert str(caught.value) == (f"--sensors cap.elc: no positions for 1 of its 94 sensors ({info['ch_names'][0]}); "
                                 "give a montage or digitisation file with them")


def test_a_missing_surface_is_refused(tmp_path, eeg):
    folder = tmp_path / "sub"
    subject_bem.write_bem_surfaces(folder, grade=3)
    (folder / "bem" / "outer_skull.surf").unlink()
    with pytest.raises(LeadFieldError) as caught:
        patient.subject_bem(folder, eeg)
    assert str(caught.value) == (f"--subject {folder}: no bem/outer_skull.surf; make the BEM surfaces with mne "
                                 f"watershed_bem -s sub -d {tmp_path}")


def test_a_missing_or_unreadable_trans_is_refused(tmp_path, trans_path):
    with pytest.raises(LeadFieldError) as caught:
        patient.read_trans(tmp_path / "none-trans.fif")
    assert str(caught.value) == (f"--trans {tmp_path / 'none-trans.fif'}: no such file; make it with mne coreg (it "
                                 "saves SUBJECT-trans.fif)")
    text = tmp_path / "notes-trans.fif"
    text.write_text("not a transform\n")
    with pytest.raises(LeadFieldError) as caught:
        patient.read_trans(text)
    message = str(caught.value)
    assert message.startswith(f"--trans {text}: not an MNE head <-> MRI transform (")
    assert message.endswith("); make it with mne coreg (it saves SUBJECT-trans.fif)") and "\n" not in message
    trans = patient.read_trans(trans_path)  # the file holds head -> MRI; it is given as MRI -> head
    assert trans["from"] == mne.io.constants.FIFF.FIFFV_COORD_MRI and trans["to"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD


def test_meg_uses_the_inner_skull_alone(subject, cortex, trans_path):
    info = subject_bem.meg_info()
    solution, description = patient.subject_bem(subject, info)
    assert len(solution["surfs"]) == 1 and solution["surfs"][0]["sigma"] == pytest.approx(0.3)
    assert description.startswith("BEM of fsa's bem/inner_skull.surf: 1 layer(s), 1280 triangles")
    pos, ori, rm, n = cortex
    keep = np.arange(0, len(pos), 7)  # a sparse cortex: some regions without a source
    fwd, about = patient.patient_region_leadfield(pos[keep], ori[keep], rm[keep], n, info,
                                                  patient.read_trans(trans_path), solution, spec="meg")
    assert fwd.shape == (60, n) and about["row_scale"].shape == (60,) and about["reference"] == "none (MEG)"
    empty = np.setdiff1d(np.arange(n), rm[keep])
    np.testing.assert_array_equal(about["empty_regions"], empty)
    assert not np.any(fwd[:, empty]) and np.all(np.any(fwd[:, np.unique(rm[keep])], axis=0))
    if len(empty):
        assert f"{len(empty)} region(s) without a source, zero columns" in about["placement"]


def test_a_given_bem_solution_is_used_and_one_layer_is_refused_for_eeg(subject, eeg, eeg_bem, tmp_path):
    """--bem FILE with --subject: the solution as given (the subject's surfaces are not read); a 1-layer one
    cannot serve EEG."""
    path = tmp_path / "fsa-1280-1280-1280-bem-sol.fif"
    mne.write_bem_solution(path, eeg_bem[0], verbose="error")
    solution, description = patient.subject_bem(tmp_path / "no-such-subject", eeg, bem=path)
    assert description.startswith("MNE BEM solution fsa-1280-1280-1280-bem-sol.fif: 3 layer(s)")
    np.testing.assert_allclose(solution["solution"], eeg_bem[0]["solution"])
    one = tmp_path / "fsa-1280-bem-sol.fif"
    mne.write_bem_solution(one, patient.subject_bem(subject, subject_bem.meg_info())[0], verbose="error")
    with pytest.raises(LeadFieldError) as caught:
        patient.subject_bem(subject, eeg, bem=one)
    assert str(caught.value).startswith(f"--bem {one}: 1 layer(s); EEG needs the 3 of a BEM")
