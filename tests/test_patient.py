"""A patient's own head end to end (``--subject``, docs/patient.md): on a finished clip set of DeepSIF's template,
the template's step-4 file and pack, then two patients' beside them, each passing ``--verify``, the template's
untouched; the patients' lead fields against MNE's forward solution made directly; every bad input refused.

The patients are FreeSurfer subjects written here from files that install (tests/subject_surfaces.py: nilearn's
fsaverage5; tests/subject_bem.py: the BEM surfaces of fsaverage MNE ships, ico-3 here to keep the test quick):
P1 is fsaverage5 itself (its registration the identity), P2 fsaverage5 scaled by 1.1 and smoothly warped, its
sphere unchanged, its BEM and electrodes scaled with its head.
"""

import hashlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import mne
import numpy as np
import pytest
from scipy.io import loadmat

import subject_bem
import subject_surfaces
from conftest import REPO
from deepsif_pipeline.head.anatomy import leadfield_id, template_mapping
from deepsif_pipeline.head.leadfields import frames, patient, sensors
from deepsif_pipeline.head.recipe import average_reference, sum_regions
from deepsif_pipeline.results import State
from deepsif_pipeline.steps.pack import judge as pack_judge, linked_to
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.store.fingerprint import parse

pytestmark = pytest.mark.slow

SPEC = "standard_1020"  # within 6.6 mm of fsaverage's scalp (docs/patient.md)
BEM_SCALE = 1.12  # P2's head: its cortex is 1.1 times fsaverage's and warped by up to 3 mm, its skull a little more
ELECTRODE_SCALE = 1.14  # P2's electrodes, moved with its scalp (standard_1020 lies up to 6.6 mm inside fsaverage's)


def _scaled_montage(path, scale):
    """``standard_1020`` moved with a head scaled by ``scale`` about fsaverage's MRI origin, as a digitisation
    file in MNE's head frame (no fiducials: its positions are that frame); returns ``path``."""
    info = sensors.read_sensors(SPEC)
    to_head = frames.fsaverage_trans()
    mri = mne.transforms.apply_trans(mne.transforms.invert_transform(to_head), sensors.sensor_positions(info))
    head = mne.transforms.apply_trans(to_head, scale * mri)
    mne.channels.make_dig_montage(ch_pos=dict(zip(info["ch_names"], head)), coord_frame="head").save(
        path, overwrite=True, verbose="error")
    return path


@pytest.fixture(scope="session")
def heads(tmp_path_factory):
    root = tmp_path_factory.mktemp("patients")
    subjects = root / "subjects"
    p1 = subject_surfaces.write_subject(subjects, "P1")
    subject_bem.write_bem_surfaces(p1, grade=3)
    p2 = subject_surfaces.write_subject(subjects, "P2", warp=subject_surfaces.deform)
    subject_bem.write_bem_surfaces(p2, scale=BEM_SCALE, grade=3)
    return {"P1": p1, "P2": p2, "trans": subject_bem.trans_file(root / "fsaverage-trans.fif"),
            "P2_sensors": _scaled_montage(root / "P2-dig.fif", ELECTRODE_SCALE), "root": root}


def run(out, cache, *args, mode="--synthesis-only"):
    """The orchestrator in ``mode`` on the test clip set (``--dataset test --filename test --seed 7``), with its
    own cache; the CompletedProcess, its output in ``stdout``."""
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), mode, "--dataset", "test",
           "--filename", "test", "--seed", "7", "--output", str(out), "--progress", "none", *map(str, args)]
    return subprocess.run(cmd, env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(cache)), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=1800, stdin=subprocess.DEVNULL)


def digests(paths):
    return {Path(p).name: (hashlib.sha256(Path(p).read_bytes()).hexdigest(), Path(p).stat().st_mtime_ns)
            for p in paths}


def correlations(a, b):
    return (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


def mne_region_leadfield(pos, ori, template, info, subject_dir, trans):
    """MNE's own forward solution of sources at ``pos`` (m, MRI) along ``ori``, in the BEM of the subject's
    surfaces, fixed, summed per template region, average reference: the reference, made without the pipeline."""
    model = mne.make_bem_model(subject_dir.name, ico=None, conductivity=(0.3, 0.006, 0.3),
                               subjects_dir=subject_dir.parent, verbose="error")
    for surf in model:  # (FreeSurfer's big-endian triangles, which MNE's MEG code refuses: as the pipeline does)
        surf["tris"] = surf["tris"].astype(np.int64)
    bem = mne.make_bem_solution(model, verbose="error")
    src = mne.setup_volume_source_space(pos={"rr": pos, "nn": ori}, verbose="error")
    fwd = mne.make_forward_solution(info, trans=trans, src=src, bem=bem, eeg=True, meg=False, mindist=0.0,
                                    verbose="error")
    head_ori = ori @ trans["trans"][:3, :3].T
    gain = np.einsum("svk,vk->sv", fwd["sol"]["data"].reshape(len(info["ch_names"]), -1, 3), head_ori)
    return average_reference(sum_regions(gain, template_mapping(template), template.n_regions))


def test_two_patients_beside_the_templates_set(real_step4_inputs, anatomy_dir, deepsif_template, heads, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    (out / "nmm_test").symlink_to(real_step4_inputs["clip_dir"])
    base = ["--anatomy", anatomy_dir]
    res = run(out, cache, *base)
    assert res.returncode == 0, res.stdout[-3000:]
    template_files = [out / "test_sample_source1.mat", out / "test_sample_nmm.h5"]
    before = digests(template_files)

    patients = {"P1": ["--subject", heads["P1"], "--trans", heads["trans"], "--sensors", SPEC],
                "P2": ["--subject", heads["P2"], "--trans", heads["trans"], "--sensors", heads["P2_sensors"]]}
    for name, args in patients.items():
        res = run(out, cache, *base, *args)
        assert res.returncode == 0, res.stdout[-3000:]
        assert f"regions on {name}'s cortex: 994 regions on 20,484 sources; none empty; smallest: region 350, " \
               "4 sources" in res.stdout, res.stdout[-3000:]
        assert (out / f"test_sample_{name}_source1.mat").is_file() and (out / f"test_sample_{name}_nmm.h5").is_file()
        assert sorted(p.name for p in (out / "derived" / f"head_{name}").iterdir()) == [
            "dis_matrix_fs_20k.mat", "fs_cortex_20k.mat", "fs_cortex_20k_inflated.mat",
            "fs_cortex_20k_region_mapping.mat", "head.json"]
    assert digests(template_files) == before, "a patient's set touched the template's"
    for name in patients:  # a head's pack links to the template's (the same clips): no second copy
        pack = out / f"test_sample_{name}_nmm.h5"
        assert linked_to(pack) == "test_sample_nmm.h5" and pack.stat().st_size < 100_000
    p1 = Layout(out, "test", "P1")
    assert pack_judge(p1, "test").current
    template_files[1].rename(out / "moved.h5")  # without the pack it links to, it is not done
    assert pack_judge(p1, "test").state is State.STALE
    (out / "moved.h5").rename(template_files[1])
    assert pack_judge(p1, "test").current

    # each set is its own: the step-4 file names its lead field and its head, and records the clips'
    clips_leadfield = leadfield_id(anatomy_dir / "leadfield_75_20k.mat")
    made = {"P1": out / "derived" / "leadfield_P1_standard_1020.mat", "P2": out / "derived" / "leadfield_P2_P2-dig.mat"}
    for name, path in made.items():
        saved = loadmat(out / f"test_sample_{name}_source1.mat", variable_names=["leadfield_id", "fingerprint"])
        fingerprint = parse(np.asarray(saved["fingerprint"]).ravel()[0])
        assert str(saved["leadfield_id"].ravel()[0]) == leadfield_id(path) != clips_leadfield
        assert fingerprint["head"] == name and fingerprint["input.clips_leadfield"] == clips_leadfield
    template_fp = parse(np.asarray(loadmat(template_files[0], variable_names=["fingerprint"])["fingerprint"]).ravel()[0])
    assert "head" not in template_fp and template_fp["template.leadfield"] == clips_leadfield
    manifest = json.loads((out / "dataset.json").read_text())
    assert set(manifest["synthesis"]) == {"test", "test@P1", "test@P2"}

    # --verify checks the template's set and then every head's; --status lists them
    res = run(out, cache, *base, mode="--verify")
    assert res.returncode == 0, res.stdout[-4000:]
    assert "Head P1: test_sample_P1_source1.mat" in res.stdout and "Head P2: test_sample_P2_source1.mat" in res.stdout
    assert "leadfield_P1_standard_1020.mat (made for --subject P1 --sensors standard_1020)" in res.stdout
    res = run(out, cache, *base, mode="--status")
    assert res.returncode == 0 and "head P1:" in res.stdout and "head P2:" in res.stdout, res.stdout[-3000:]
    assert res.stdout.count("test_sample_P1_source1.mat present and up to date") == 1, res.stdout[-3000:]
    res = run(out, cache, *base, *patients["P2"], mode="--status")  # a head's status lists the others
    assert res.returncode == 0 and "head template:" in res.stdout and "head P1:" in res.stdout, res.stdout[-3000:]
    assert "test_sample_P2_source1.mat present and up to date" in res.stdout.split("head template:")[0]
    # the same command again: up to date, nothing made again
    stamp = digests([out / "test_sample_P1_source1.mat"])
    res = run(out, cache, *base, *patients["P1"])
    assert res.returncode == 0 and "is up to date" in res.stdout and digests([out / "test_sample_P1_source1.mat"]) == stamp
    assert digests(template_files) == before

    # the lead fields against MNE's forward solution made directly
    trans = patient.read_trans(heads["trans"])
    # P1 (fsaverage5): the template's own vertices and orientations (its ori turned into pos's axes); only the
    # normals' computation differs (the patient's: MNE's, from the pial mesh)
    pos, ori = frames.template_cortex_in_frame(deepsif_template)
    ori = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    reference = mne_region_leadfield(pos, ori, deepsif_template, sensors.read_sensors(SPEC), heads["P1"], trans)
    r = correlations(loadmat(made["P1"])["fwd"], reference)
    print(f"\nP1 against MNE on the template's vertices and orientations: per-region correlation median "
          f"{np.median(r):.5f}, 10th percentile {np.percentile(r, 10):.5f}, min {r.min():.5f}")
    assert np.median(r) >= 0.99 and np.percentile(r, 10) >= 0.95
    # P2 (deformed): MNE's forward at the warped vertices, along the warped pial mesh's normals: the same
    surfaces = subject_surfaces.fsaverage5_surfaces()
    warped = np.vstack([subject_surfaces.deform(surfaces[h]["pial"][0]) for h in ("lh", "rh")]) / 1000.0
    normals = np.vstack([mne.surface.complete_surface_info(
        {"rr": subject_surfaces.deform(surfaces[h]["pial"][0]) / 1000.0, "tris": surfaces[h]["pial"][1]},
        verbose="error")["nn"] for h in ("lh", "rh")])
    reference = mne_region_leadfield(warped, normals, deepsif_template, sensors.read_sensors(str(heads["P2_sensors"])),
                                     heads["P2"], trans)
    np.testing.assert_allclose(loadmat(made["P2"])["fwd"], reference, rtol=0, atol=1e-6 * np.abs(reference).max())


def test_bad_inputs_are_refused_in_one_line_and_nothing_is_written(real_step4_inputs, anatomy_dir, heads, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    (out / "nmm_test").symlink_to(real_step4_inputs["clip_dir"])
    base = ["--anatomy", anatomy_dir]
    good = {"--subject": heads["P1"], "--trans": heads["trans"], "--sensors": SPEC}

    def args(**changed):
        given = {**good, **{f"--{k}": v for k, v in changed.items()}}
        return [x for k, v in given.items() if v is not None for x in (k, v)]

    no_reg = heads["root"] / "subjects" / "no_reg"
    if not no_reg.exists():
        shutil.copytree(heads["P1"], no_reg)
        (no_reg / "surf" / "rh.sphere.reg").unlink()
    small_bem = heads["root"] / "subjects" / "small_bem"
    if not small_bem.exists():
        shutil.copytree(heads["P1"], small_bem)
        subject_bem.write_bem_surfaces(small_bem, scale=0.8, grade=3)
    raw = heads["root"] / "no_positions-raw.fif"
    info = mne.create_info(["E1", "E2", "E3"], 250.0, "eeg")
    mne.io.RawArray(np.zeros((3, 10)), info, verbose="error").save(raw, overwrite=True, verbose="error")
    cases = [
        (args(subject=no_reg), f"--subject {no_reg}: no surf/rh.sphere.reg (FreeSurfer's recon-all makes it; the "
                                "template's regions are carried by it)"),
        (args(trans=None), "--subject: give --trans FILE too, the patient's head <-> MRI transform"),
        (args(sensors=None), "--subject: give --sensors SPEC too, the patient's recording or digitisation"),
        (args(sensors=raw), "0 sensors with a position"),
        (args(subject=small_bem), "inner skull"),
        (["--anatomy", "tvb76", *args()], "has no FreeSurfer registration"),
    ]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    for given, message in cases:
        res = run(out, cache, *(given if given[0] == "--anatomy" else [*base, *given]))
        errors = [line for line in res.stdout.splitlines() if line.startswith("error: ")]
        assert res.returncode == 2 and len(errors) == 1 and message in errors[0], (given, res.stdout[-2000:])
        assert "Traceback" not in res.stdout
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before, f"{given} wrote into {out}"

    # the modes that write nothing never make a head: one not made yet is refused, naming the command that makes it
    for mode in ("--status", "--dry-run"):
        res = run(out, cache, *base, *args(), mode=mode)
        errors = [line for line in res.stdout.splitlines() if line.startswith("error: ")]
        assert res.returncode == 2 and len(errors) == 1 and "no head P1 in" in errors[0], res.stdout[-2000:]
        assert "--synthesis-only" in errors[0] and f"--subject {heads['P1']}" in errors[0]
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before and not (cache / "leadfields").exists()

    # a clip folder made with another template: its manifest records the clip set's template (tvb76, 76 regions)
    (out / "dataset.json").write_text(json.dumps({"format": 1, "clip_sets": {"test": {"settings": {
        "about.template": "tvb76 (~/.cache/deepsif-pipeline/tvb76-v3), leadfield_63_16k.mat", "template.regions": 76}}}}))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    res = run(out, cache, *base, *args())
    errors = [line for line in res.stdout.splitlines() if line.startswith("error: ")]
    assert res.returncode == 2 and len(errors) == 1 and "were made with another template" in errors[0], res.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
