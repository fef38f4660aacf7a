"""The sensors of a lead field (deepsif_pipeline/head/leadfields/): reading them with MNE, their checks, and DeepSIF's
recipe from vertex gains to a region lead field."""

import numpy as np
import pytest

from conftest import inputs_key, made_leadfield
from deepsif_pipeline.head import recipe
from deepsif_pipeline.head.leadfields import LeadFieldError, frames, geometry, sensors, sphere
from deepsif_pipeline.head.leadfields.geometry import SCS_TO_RAS

mne = pytest.importorskip("mne", reason="mne is not installed (pip install -r requirements.txt)")


def test_a_standard_montage_gives_its_eeg_sensors():
    info = sensors.read_sensors("biosemi64")
    assert len(info["ch_names"]) == 64 and set(info.get_channel_types()) == {"eeg"}
    assert info["ch_names"][:2] == mne.channels.make_standard_montage("biosemi64").ch_names[:2]
    positions = sensors.sensor_positions(info)
    assert np.all(np.isfinite(positions)) and geometry.check_positions(positions) is None


def test_an_unknown_montage_name_says_the_closest_ones():
    with pytest.raises(LeadFieldError, match=r"--sensors biosemi65: neither a file nor one of MNE's standard "
                                          r"montages \(did you mean biosemi64"):
        sensors.read_sensors("biosemi65")
    assert len(sensors.read_sensors("standard_1020")["ch_names"]) == 94  # an older name MNE still takes
    with pytest.raises(LeadFieldError, match="get_builtin_montages"):
        sensors.read_sensors("nothing-like-a-cap")


def test_a_digitisation_file_and_a_recording_give_their_sensors(tmp_path):
    montage = mne.channels.make_standard_montage("colin27_1020")
    dig = tmp_path / "cap-dig.fif"
    montage.save(dig)
    assert len(sensors.read_sensors(dig)["ch_names"]) == len(montage.ch_names)
    # a recording: its EEG channels (not the stimulus channel), at the positions it holds
    names = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "Cz", "Pz"]
    info = mne.create_info(names + ["STI"], 250.0, ["eeg"] * len(names) + ["stim"])
    info.set_montage(montage)
    raw = mne.io.RawArray(np.zeros((len(names) + 1, 100)), info, verbose="error")
    recording = tmp_path / "subject_raw.fif"
    raw.save(recording, verbose="error")
    read = sensors.read_sensors(recording)
    assert read["ch_names"] == names
    assert np.allclose(sensors.sensor_positions(read), sensors.sensor_positions(info)[:len(names)])
    # an -info.fif (the measurement info alone, as mne.io.write_info saves it): the same sensors
    alone = tmp_path / "subject-info.fif"
    mne.io.write_info(alone, info)
    read = sensors.read_sensors(alone)
    assert read["ch_names"] == names
    assert np.allclose(sensors.sensor_positions(read), sensors.sensor_positions(info)[:len(names)])


def test_a_montage_text_file(tmp_path):
    montage = mne.channels.make_standard_montage("biosemi32")
    path = tmp_path / "cap.sfp"
    positions = montage.get_positions()["ch_pos"]
    path.write_text("".join(f"{name}\t{x * 100:.4f}\t{y * 100:.4f}\t{z * 100:.4f}\n"
                            for name, (x, y, z) in positions.items()))  # .sfp: centimetres
    info = sensors.read_sensors(path)
    assert info["ch_names"] == list(positions)
    assert np.allclose(sensors.sensor_positions(info), list(positions.values()), atol=1e-6)
    assert info["description"] == sensors.NO_FIDUCIALS  # no fiducials in the file: said, not silently assumed


@pytest.mark.parametrize("content, message", [
    ("Fp1\t8\t3\t2\nFp2\t8\t-3\t2\nCz\t0\t0\t9\n", "3 sensors with a position; a lead field needs at least 8"),
    ("not a montage at all\n",
     r"not a sensor file MNE or EEGLAB's chanlocs can read \(recording: \w+; montage: \w+\)$"),
])
def test_bad_files_are_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "cap.sfp"
    path.write_text(content)
    with pytest.raises(LeadFieldError, match=message) as err:
        sensors.read_sensors(path)
    assert "\n" not in str(err.value)


def test_sensors_that_do_not_surround_a_head():
    rng = np.random.default_rng(0)
    cap = sensors.sensor_positions(sensors.read_sensors("standard_1020"))
    assert geometry.check_positions(cap) is None
    assert "millimetres" in geometry.check_positions(cap * 1000)
    assert "line or a plane" in geometry.check_positions(np.c_[np.linspace(-0.1, 0.1, 10), np.zeros((10, 2))])
    direction = np.array([0.0, 0.0, 1.0])  # a cluster of 20 sensors around the vertex
    cluster = direction + 0.05 * rng.standard_normal((20, 3))
    cluster = 0.09 * cluster / np.linalg.norm(cluster, axis=1, keepdims=True)
    assert "do not surround the head" in geometry.check_positions(cluster)


def test_fit_sphere_finds_a_known_sphere():
    rng = np.random.default_rng(1)
    points = rng.standard_normal((50, 3))
    points = np.array([0.01, -0.02, 0.04]) + 0.095 * points / np.linalg.norm(points, axis=1, keepdims=True)
    center, radius = geometry.fit_sphere(points)
    assert np.allclose(center, [0.01, -0.02, 0.04]) and radius == pytest.approx(0.095)


def test_deepsif_recipe_fixes_orientations_then_sums_regions():
    """lfd_free2fix then fwd_to_rmfwd, against plain loops on random gains."""
    rng = np.random.default_rng(2)
    n_sensors, n_vertices, n_regions = 5, 7, 4
    gain = rng.standard_normal((n_sensors, 3 * n_vertices))
    ori = rng.standard_normal((n_vertices, 3))
    ori /= np.linalg.norm(ori, axis=1, keepdims=True)
    fixed = recipe.fix_orientations(gain, ori)
    for v in range(n_vertices):
        assert np.allclose(fixed[:, v], gain[:, 3 * v:3 * v + 3] @ ori[v])
    mapping = np.array([0, 2, 2, 0, 1, 2, 0])  # region 3 has no vertex
    fwd = recipe.sum_regions(fixed, mapping, n_regions)
    for r in range(n_regions):
        assert np.allclose(fwd[:, r], fixed[:, mapping == r].sum(axis=1))
    assert not fwd[:, 3].any()
    referenced = recipe.average_reference(fwd)
    assert np.allclose(referenced.mean(axis=0), 0) and np.allclose(referenced - fwd, referenced[0] - fwd[0])
    with pytest.raises(ValueError, match="expected 3 x 7 vertices"):
        recipe.fix_orientations(gain[:, :-1], ori)
    with pytest.raises(ValueError, match="outside 0..3"):
        recipe.sum_regions(fixed, mapping + 2, n_regions)


def _tvb_data_eeg65():
    """tvb-data's 65 Brainstorm EEG sensors: names, positions (metres), and which rows its projection fills."""
    import os
    import tvb_data
    root = os.path.dirname(tvb_data.__file__)
    table = os.path.join(root, "sensors", "eeg_brainstorm_65.txt")
    names = list(np.loadtxt(table, usecols=0, dtype=str))
    positions = np.loadtxt(table, usecols=(1, 2, 3)) / 1000.0
    projection = np.load(os.path.join(root, "projectionMatrix", "projection_eeg_65_surface_16k.npy"))
    return names, positions, np.all(np.isfinite(projection), axis=1)


def test_tvb76_lead_field_from_its_sensors_agrees_with_brainstorms(tvb76_dir):
    """tvb-data's 65 EEG sensors, MNE's sphere fitted to them, the cortex placed by the sphere fits
    (align_by_spheres): the region lead field, summed as DeepSIF does, correlates with the built-in one
    (Brainstorm's projection summed per region) with a median of at least 0.95 across the 76 regions,
    every one of the 16,384 vertices kept."""
    from scipy.io import loadmat
    names, positions, good = _tvb_data_eeg65()
    info = mne.create_info(names, 1000.0, "eeg")
    info.set_montage(mne.channels.make_dig_montage(dict(zip(names, positions)), coord_frame="head"))
    cortex = loadmat(tvb76_dir / "fs_cortex_20k.mat")
    rm = loadmat(tvb76_dir / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    reference = loadmat(tvb76_dir / "leadfield_63_16k.mat")["fwd"]
    shift = geometry.align_by_spheres(cortex["pos"] / 1000.0, positions)
    assert 0.04 < shift[2] < 0.08 and np.linalg.norm(shift[:2]) < 0.02  # the cortex goes up under the cap
    model = sphere.sphere_model(positions)
    placed, moved, farthest = sphere.pull_inside(cortex["pos"] / 1000.0 + shift, model)
    assert moved < 0.05 * len(placed) and farthest < 0.01  # a few low vertices, by less than 1 cm
    fixed = sphere.vertex_gain(info, placed, cortex["ori"], model)
    fwd = recipe.average_reference(recipe.sum_regions(fixed[good], rm, 76))
    ref = recipe.average_reference(reference)
    corr = np.array([np.corrcoef(fwd[:, r], ref[:, r])[0, 1] for r in range(76)])
    assert np.median(corr) >= 0.95 and np.percentile(corr, 10) >= 0.9, (np.median(corr), np.percentile(corr, 10))


# ---------------------------------------------------------------------------
# pipeline_orchestrator.py --sensors


@pytest.mark.slow
def test_sensors_option_makes_the_lead_field_steps_use(tvb76_cache, tmp_path):
    """--sensors biosemi64 on tvb76: the lead field is made once into derived/, step 2 projects the clips
    with it (64 sensor rows), the markers record its content, the suggested commands name --sensors,
    and the same command again finds the region done; other sensors are then refused, nothing changed."""
    from scipy.io import loadmat
    from conftest import tvb76_run
    from deepsif_pipeline.head.anatomy import content_digest
    from deepsif_pipeline.store.fingerprint import parse
    from deepsif_pipeline.store.layout import Layout
    out = tmp_path / "out"
    args = ("--start_region", 3, "--end_region", 4, "--sim-length", 2, "--skip-synthesis")
    res = tvb76_run(tvb76_cache, out, "--sensors", "biosemi64", *args)
    assert res.returncode == 0, res.stdout[-3000:]
    made = loadmat(out / "derived" / "leadfield_biosemi64.mat")
    assert made["fwd"].shape == (64, 76) and np.allclose(made["fwd"].mean(axis=0), 0)  # average reference
    assert [str(n[0]) for n in made["ch_names"].ravel()][:3] == ["Fp1", "AF7", "AF3"]
    assert "Brainstorm's axes" in str(made["placement"]) and "fitted to the sensors" in str(made["head_model"])
    assert f"({64} sensors; tvb-data's cortex turned" in res.stdout
    lay = Layout(out)
    clips = sorted(lay.clip_dir(3).glob("nmm_*.mat"))
    assert clips and loadmat(clips[0])["proj"].shape == (64, 500)
    recorded = parse(str(loadmat(lay.marker(0, 3))["fingerprint"].ravel()[0]))
    assert content_digest(made["fwd"].astype(float)) in recorded.values()
    assert "--sensors biosemi64" in res.stdout.splitlines()[-1]  # the --verify command
    again = tvb76_run(tvb76_cache, out, "--sensors", "biosemi64", *args)
    assert again.returncode == 0 and "Region 3 already processed" in again.stdout, again.stdout[-3000:]
    # --status finds the folder's lead field without being told the sensors (the manifest's digest)
    status = tvb76_run(tvb76_cache, out, "--status", "--start_region", 3, "--end_region", 4)
    assert status.returncode == 0 and "done: 1 (3)" in status.stdout, status.stdout[-3000:]
    before = {p: p.read_bytes() for p in out.rglob("*.mat")}
    other = tvb76_run(tvb76_cache, out, "--sensors", "biosemi32", *args)
    assert other.returncode == 2 and "made with other settings" in other.stdout
    assert "leadfield_biosemi32.mat (--sensors biosemi32)" in other.stdout
    assert {p: p.read_bytes() for p in out.rglob("*.mat")} == before


@pytest.mark.parametrize("extra, message", [
    (["--sensors", "biosemi65"], "--sensors biosemi65: neither a file nor one of MNE's standard montages (did you "
                                 "mean biosemi64"),
    (["--sensors", "/nowhere/cap.sfp"], "--sensors /nowhere/cap.sfp: no such file"),
    (["--sensors", "biosemi64", "--leadfield", "leadfield_63_16k.mat"], "does not go with --leadfield"),
    (["--sensors", "FEW"], "3 sensors with a position; a lead field needs at least 8"),
])
def test_bad_sensors_are_refused_before_anything_is_created(tvb76_cache, tmp_path, extra, message):
    from conftest import assert_refused, tvb76_run
    if extra[1] == "FEW":
        few = tmp_path / "few.sfp"
        few.write_text("Fp1\t8\t3\t2\nFp2\t8\t-3\t2\nCz\t0\t0\t9\n")
        extra = ["--sensors", str(few)]
        message = f"--sensors {few}: {message}"
    out = tmp_path / "out"
    res = tvb76_run(tvb76_cache, out, "--start_region", 0, "--end_region", 1, "--sim-length", 2, *extra)
    assert_refused(res, message, out)


@pytest.mark.slow
def test_step4_and_the_pack_use_the_made_lead_field_and_verify_passes(tvb76_dir, tmp_path):
    """Step 4 on a finished tvb76 clip set with --sensors GSN-HydroCel-128: its scale ratios come from the
    128-sensor lead field (they differ from those made with the template's), the examples drawn are the
    same, and --verify (without --sensors: it finds the folder's lead field) passes."""
    import shutil
    from scipy.io import loadmat
    from conftest import run_cli, write_step4_inputs
    made, own = tmp_path / "made", tmp_path / "own"
    write_step4_inputs(made / "nmm_spikes", 76, seed=5)
    shutil.copytree(made, own)
    for out, extra in ((made, ["--sensors", "GSN-HydroCel-128"]), (own, [])):
        res = run_cli("pipeline_orchestrator.py", "--synthesis-only", "--dataset", "test", "--anatomy", tvb76_dir,
                      "--output", out, *extra)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    a, b = loadmat(made / "test_sample_source1.mat"), loadmat(own / "test_sample_source1.mat")
    assert all(np.array_equal(a[k], b[k]) for k in ("selected_region", "nmm_idx", "random_samples", "mag_change"))
    assert not np.allclose(a["scale_ratio"], b["scale_ratio"])
    lead = loadmat(made / "derived" / "leadfield_GSN-HydroCel-128.mat")["fwd"]
    assert lead.shape == (128, 76)
    # the step-4 file names the lead field the trainer must project with, and its content
    from deepsif_pipeline.head.anatomy import content_digest
    assert str(a["leadfield"][0]) == "leadfield_GSN-HydroCel-128.mat" and str(b["leadfield"][0]) == "leadfield_63_16k.mat"
    assert str(a["leadfield_id"][0]) == content_digest(lead.astype(float))
    check = run_cli("pipeline_orchestrator.py", "--verify", "--qc", "--dataset", "test", "--anatomy", tvb76_dir,
                    "--output", made)
    assert check.returncode == 0 and "6 of 6 checks passed" in check.stdout, check.stdout
    row = next(line for line in check.stdout.splitlines() if " lead field " in line)
    assert "leadfield_GSN-HydroCel-128.mat (made for --sensors GSN-HydroCel-128): 128 sensors x 76 regions" in row
    # the QC figure maps the first source through the made lead field, at its sensors' positions
    from deepsif_pipeline.cli.qc import build_figure
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.head.leadfields import recorded_leadfield
    from deepsif_pipeline.store.layout import Layout
    template = load_template(tvb76_dir)
    lead_made = recorded_leadfield(Layout(made), template)  # the one the folder's clips were made with
    assert lead_made.path == made / "derived" / "leadfield_GSN-HydroCel-128.mat"
    fig = build_figure(Layout(made), template, lead_made, "test")
    topo = next(ax for ax in fig.axes if ax.get_title().startswith("example 1, source 1"))
    assert "sensors seen from above, nose up" in topo.get_title() and len(topo.collections[0].get_offsets()) == 128
    patch = a["selected_region"][0, 0]
    patch = patch[patch != 15213].astype(int)
    assert np.allclose(topo.collections[0].get_array(), lead[:, patch] @ a["mag_change"][0, 0][: len(patch)])
    assert (made / "qc_test.png").is_file()
    # the trainer (DeepSIF's loaders.SpikeEEGBuild, as the reference in test_end_to_end_tvb76 builds it) given this
    # lead field: 128-sensor examples whose first source's map is the patch's map through the made lead field
    import h5py
    from test_end_to_end_tvb76 import build_example
    with h5py.File(made / "test_sample_nmm.h5", "r") as f:
        for index in range(0, a["nmm_idx"].shape[0], 97):
            eeg, _ = build_example(a, f["data"], lead, index)
            assert eeg.shape == (500, 128) and np.all(np.isfinite(eeg)) and np.abs(eeg).max() > 0
            eeg1, nmm1 = build_example(a, f["data"], lead, index, sources=[0], ratio=-1)
            eeg1 = eeg1 - eeg1.mean(axis=0)
            patch = a["selected_region"][index, 0]
            patch = patch[patch != 15213].astype(int)
            predicted = lead[:, patch] @ a["mag_change"][index, 0][: len(patch)]
            assert np.corrcoef(eeg1[int(np.argmax(nmm1[:, patch[0]]))], predicted)[0, 1] > 0.9, index
    # the folder made with the template's lead field, checked against the 128-sensor one: the lead field row fails
    wrong = run_cli("pipeline_orchestrator.py", "--verify", "--dataset", "test", "--anatomy", tvb76_dir, "--output",
                    own, "--sensors", "GSN-HydroCel-128")
    assert wrong.returncode == 1 and "failed: lead field" in wrong.stdout, wrong.stdout
    assert "the step-4 file was made with another lead field" in wrong.stdout


def test_a_made_lead_field_is_found_by_its_inputs_not_made_again(tvb76_dir, tmp_path, monkeypatch):
    """A resumed run (or each Dask task) finds the lead field in the cache without computing it; other
    sensors, or the same file name with other content, are made anew."""
    from deepsif_pipeline.head.anatomy import load_template
    template = load_template(tvb76_dir)
    first, n = made_leadfield(template, "biosemi32", tmp_path)
    assert n == 32 and first.is_file()

    def no_forward(*args):
        raise AssertionError("the lead field was computed again")
    monkeypatch.setattr(sphere, "sphere_gain", no_forward)
    assert made_leadfield(template, "biosemi32", tmp_path) == (first, 32)
    with pytest.raises(AssertionError, match="computed again"):
        made_leadfield(template, "biosemi64", tmp_path)
    cap = tmp_path / "cap.sfp"
    positions = mne.channels.make_standard_montage("biosemi16").get_positions()["ch_pos"]
    cap.write_text("".join(f"{k}\t{100 * x:.4f}\t{100 * y:.4f}\t{100 * z:.4f}\n" for k, (x, y, z) in positions.items()))
    assert inputs_key(template, cap) != inputs_key(template, "biosemi16")
    before = inputs_key(template, cap)
    cap.write_text(cap.read_text().replace("\t", " ", 1))  # same name, other bytes
    assert inputs_key(template, cap) != before


# ---------------------------------------------------------------------------
# MEG: a small recording made here, its sensors in the head frame, the head's sphere, one SNR across types

HEAD_CENTER, HEAD_RADIUS = np.array([0.0, 0.005, 0.045]), 0.092  # the head of the recording below (head frame)
PITCH_DEG = 12.0  # its device-to-head rotation (about x)


def _meg_recording(path, n_sites=20, head_shape=True):
    """A recording (``-raw.fif``) of ``n_sites`` Vectorview triplets (a magnetometer, two planar gradiometers)
    at sites spread over MNE's 306m helmet (device frame), a device-to-head transform that turns it by
    :data:`PITCH_DEG` and puts the helmet's centre near the head's, and (``head_shape``) fiducials and 60
    head-shape points on the sphere of :data:`HEAD_CENTER`, :data:`HEAD_RADIUS`. Returns its Info."""
    from subject_bem import helmet_info  # (the tests' MEG helmet, shared)
    info, rr = helmet_info(n_sites)
    names = info["ch_names"]
    angle = np.radians(PITCH_DEG)
    trans = np.eye(4)
    trans[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    trans[:3, 3] = HEAD_CENTER + [0.0, -0.01, 0.01] - trans[:3, :3] @ geometry.fit_sphere(rr)[0]
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", trans)
    if head_shape:
        d = np.random.default_rng(3).standard_normal((60, 3))
        d[:, 2] = np.abs(d[:, 2])
        hsp = HEAD_CENTER + HEAD_RADIUS * d / np.linalg.norm(d, axis=1, keepdims=True)
        info.set_montage(mne.channels.make_dig_montage(nasion=[0, 0.1, 0], lpa=[-0.08, 0, 0], rpa=[0.08, 0, 0],
                                                       hsp=hsp, coord_frame="head"))
    raw = mne.io.RawArray(np.zeros((len(names), 50)), info, verbose="error")
    raw.save(path, overwrite=True, verbose="error")
    return info


# The coils' integration points (MNE's coil_def.dat, normal accuracy, which MNE uses with a sphere model):
# (dx, dy, dz) in the coil's frame (ex, ey, ez), weight.
COILS = {3024: [((sx * 5.25e-3, sy * 5.25e-3, 3e-4), 0.25) for sx in (-1, 1) for sy in (-1, 1)],
         3012: [((sx * 8.4e-3, sy * 6.713e-3, 3e-4), sx * 29.7619) for sx in (1, -1) for sy in (1, -1)]}


def _sarvas(dipoles, moments, r):
    """``(n_dipoles, 3)`` magnetic field (T per A.m) at ``r`` of dipoles in a conducting sphere centred at 0
    (Sarvas 1987, written out here: the expectation MNE's forward is checked against)."""
    a = r - dipoles
    an, rn = np.linalg.norm(a, axis=1), np.linalg.norm(r)
    adr = a @ r
    f = an * (rn * an + rn ** 2 - dipoles @ r)
    grad_f = (an ** 2 / rn + adr / an + 2 * an + 2 * rn)[:, None] * r - (an + 2 * rn + adr / an)[:, None] * dipoles
    qxr0 = np.cross(moments, dipoles)
    return 1e-7 / f[:, None] ** 2 * (f[:, None] * qxr0 - (qxr0 @ r)[:, None] * grad_f)


def _meg_gain(chs, dev_head, center, dipoles, moments):
    """``(n_channels, n_dipoles)`` gains: each coil's integration points moved into the head frame by
    ``dev_head`` (4 x 4), the field along the coil's normal, weighted."""
    rot, t = dev_head[:3, :3], dev_head[:3, 3]
    out = np.zeros((len(chs), len(dipoles)))
    for i, ch in enumerate(chs):
        loc = ch["loc"]
        r0, ex, ey, ez = rot @ loc[:3] + t, rot @ loc[3:6], rot @ loc[6:9], rot @ loc[9:12]
        for (dx, dy, dz), w in COILS[int(ch["coil_type"])]:
            out[i] += w * (_sarvas(dipoles - center, moments, r0 + dx * ex + dy * ey + dz * ez - center) @ ez)
    return out


def test_noise_levels_and_noise_units():
    """row_scale is MNE's ad-hoc noise of each row's type (mag 20 fT, grad 5 fT/cm, EEG 0.2 uV) in the Info's
    order; the saved lead field times it is the physical one; one scale for all rows changes no SNR ratio, and
    after scaling a magnetometer and a gradiometer with the same signal-to-own-noise count alike."""
    info = mne.create_info(["G1", "M1", "E1", "G2"], 250.0, ["grad", "mag", "eeg", "grad"])
    scale = sensors.noise_levels(info)
    assert np.allclose(scale, [5e-13, 20e-15, 0.2e-6, 5e-13], rtol=1e-12)
    rng = np.random.default_rng(4)
    physical = rng.standard_normal((4, 6)) * scale[:, None] * 30
    saved = recipe.in_noise_units(physical, scale)
    assert np.allclose(saved * scale[:, None], physical) and np.allclose(saved, physical / scale[:, None])
    for bad in (scale[:3], np.r_[scale[:3], 0.0]):
        with pytest.raises(ValueError, match="row_scale must be 4 positive numbers"):
            recipe.in_noise_units(physical, bad)

    activity = rng.standard_normal((50, 6))  # 50 samples of 6 regions

    def alpha(fwd, snr_db=10.0):  # step 2's scale (snr_power_ratio.m): region 0 against the others, all rows
        ps = np.sum(np.outer(activity[:, 0], fwd[:, 0]) ** 2)
        pn = np.sum((activity[:, 1:] @ fwd[:, 1:].T) ** 2)
        return np.sqrt(10 ** (snr_db / 10) * pn / ps)
    mags = physical[[1]] * np.array([[1.0], [3.0], [0.5]])  # a single-type (magnetometer) lead field
    assert alpha(recipe.in_noise_units(mags, np.full(3, 20e-15))) == pytest.approx(alpha(mags), rel=1e-12)
    # a magnetometer and a gradiometer each seeing 5 times their noise: equal rows once in noise units
    pair = np.array([[5 * 20e-15], [5 * 5e-13]]) * np.ones((2, 6))
    units = recipe.in_noise_units(pair, sensors.noise_levels(mne.create_info(["M", "G"], 250.0, ["mag", "grad"])))
    assert np.allclose(units[0], units[1]) and np.allclose(units, 5.0)
    assert pair[1, 0] / pair[0, 0] == pytest.approx(25.0)  # as they are, the gradiometer's number is 25 times


def test_meg_sensors_are_read_in_the_head_frame_and_the_head_from_its_shape(tmp_path):
    """A recording's MEG sensors (not its stimulus channel): positions moved from the device frame by its
    dev_head_t; the head's sphere is fitted to its head shape, not to the helmet; without a head shape the
    head is assumed centred in the helmet, said so; a recording with EEG too gives its EEG."""
    info = _meg_recording(tmp_path / "meg_raw.fif")
    read = sensors.read_sensors(tmp_path / "meg_raw.fif")
    assert read["ch_names"] == info["ch_names"] and read.get_channel_types().count("grad") == 40
    trans = info["dev_head_t"]["trans"]
    device = np.array([ch["loc"][:3] for ch in info["chs"]])
    assert np.allclose(sensors.sensor_positions(read), device @ trans[:3, :3].T + trans[:3, 3])
    center, radius, how = sphere.meg_head_sphere(read)
    assert np.allclose(center, HEAD_CENTER, atol=1e-6) and radius == pytest.approx(HEAD_RADIUS, abs=1e-6)
    assert "60 digitised head points" in how
    helmet_center, helmet_radius = geometry.fit_sphere(sensors.sensor_positions(read))
    assert helmet_radius > radius + 0.02  # (the helmet's sphere would have been the wrong one)
    _meg_recording(tmp_path / "bare_raw.fif", head_shape=False)
    center, radius, how = sphere.meg_head_sphere(sensors.read_sensors(tmp_path / "bare_raw.fif"))
    assert np.allclose(center, helmet_center) and radius == pytest.approx(sphere.HEAD_RADIUS_DEFAULT_M)
    assert "assumed centred in the helmet" in how
    # EEG and MEG in one recording: the EEG (docs/sensors.md says how to give the MEG)
    raw = mne.io.read_raw_fif(tmp_path / "meg_raw.fif", verbose="error")
    eeg = mne.io.RawArray(np.zeros((10, 50)), mne.create_info([f"E{i}" for i in range(10)], 250.0, "eeg"),
                          verbose="error")
    montage = mne.channels.make_standard_montage("biosemi16")
    eeg.rename_channels(dict(zip(eeg.ch_names, montage.ch_names[:10])))
    eeg.set_montage(montage, on_missing="ignore")
    raw.load_data().add_channels([eeg], force_update_info=True)
    raw.save(tmp_path / "both_raw.fif", verbose="error")
    assert set(sensors.read_sensors(tmp_path / "both_raw.fif").get_channel_types()) == {"eeg"}


def test_meg_sensors_inside_the_head_are_refused(tvb76_cache, tmp_path):
    """A device-to-head transform that puts the head in the helmet's side: one line, not MNE's traceback."""
    info = _meg_recording(tmp_path / "meg_raw.fif")
    read = sensors.read_sensors(tmp_path / "meg_raw.fif")
    trans = info["dev_head_t"]["trans"].copy()
    trans[:3, 3] += [0.0, 0.0, -0.06]  # the helmet 6 cm lower: the head's top pierces it
    read["dev_head_t"] = mne.transforms.Transform("meg", "head", trans)
    with pytest.raises(LeadFieldError, match=r"of 60 MEG sensors lie inside the head \(the sphere through") as err:
        sphere.meg_sphere_model(read)
    assert "\n" not in str(err.value)
    # the same recording saved so, through the command line: exit 2, that line, no output folder
    from conftest import assert_refused, tvb76_run
    raw = mne.io.read_raw_fif(tmp_path / "meg_raw.fif", verbose="error")
    raw.info["dev_head_t"] = mne.transforms.Transform("meg", "head", trans)
    raw.save(tmp_path / "low_raw.fif", verbose="error")
    out = tmp_path / "out"
    res = tvb76_run(tvb76_cache, out, "--sensors", tmp_path / "low_raw.fif", "--start_region", 0, "--end_region", 1,
                    "--sim-length", 2)
    assert_refused(res, "MEG sensors lie inside the head", out)


@pytest.mark.slow
def test_meg_recording_through_the_cli_gives_sarvas_field_in_noise_units(tvb76_cache, tmp_path):
    """--sensors meg_raw.fif (20 magnetometers, 40 gradiometers) on tvb76: step 2 projects with 60 rows; the
    derived file names their types and row_scale (20 fT, 5e-13 T/m); fwd * row_scale is the field of the
    cortex's dipoles in a sphere at the head shape's centre, Sarvas' formula written out in this test with the
    coils moved by the recording's dev_head_t (within 2%, every region correlating above 0.999)."""
    from scipy.io import loadmat
    from conftest import tvb76_run
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.head.builtin import BUILD_VERSION
    info = _meg_recording(tmp_path / "meg_raw.fif")
    out = tmp_path / "out"
    res = tvb76_run(tvb76_cache, out, "--sensors", tmp_path / "meg_raw.fif", "--start_region", 3, "--end_region", 4,
                    "--sim-length", 2, "--skip-synthesis")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "(60 sensors; tvb-data's cortex turned" in res.stdout
    clips = sorted(Layout(out).clip_dir(3).glob("nmm_*.mat"))
    assert clips and loadmat(clips[0])["proj"].shape == (60, 500)
    made = loadmat(out / "derived" / "leadfield_meg_raw.mat")
    kinds = [str(t[0]) for t in made["ch_types"].ravel()]
    assert kinds[:3] == ["mag", "grad", "grad"] and kinds.count("mag") == 20
    scale = made["row_scale"].ravel()
    assert np.allclose(scale, [20e-15 if k == "mag" else 5e-13 for k in kinds])
    assert str(made["reference"][0]) == "none (MEG)" and "60 digitised head points" in str(made["head_model"][0])
    assert "divided by row_scale" in str(made["row_scale_about"][0])
    # the expectation: the cortex placed as documented (rotated into MNE's axes, its hull's sphere centred on the
    # head's), no vertex moved: the sphere is widened about the same centre instead (for MEG only the centre
    # counts) although 0.9 of the head's radius leaves many vertices outside; Sarvas' field
    template = tvb76_cache / f"tvb76-v{BUILD_VERSION}"
    cortex = loadmat(template / "fs_cortex_20k.mat")
    rm = loadmat(template / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    pos, ori = cortex["pos"] / 1000.0 @ geometry.SCS_TO_RAS.T, cortex["ori"] @ geometry.SCS_TO_RAS.T
    pos = pos + geometry.align_by_spheres(pos, geometry.sphere_points(HEAD_CENTER, HEAD_RADIUS))
    assert (np.linalg.norm(pos - HEAD_CENTER, axis=1) > 0.9 * HEAD_RADIUS).sum() > 500  # (949)
    assert made["moved_vertices"].item() == 0
    gain = _meg_gain(info["chs"], info["dev_head_t"]["trans"], HEAD_CENTER, pos,
                     ori / np.linalg.norm(ori, axis=1, keepdims=True))
    expected = recipe.sum_regions(gain, rm, 76)
    physical = made["fwd"] * scale[:, None]
    assert np.linalg.norm(physical - expected) / np.linalg.norm(expected) < 0.02
    corr = np.array([np.corrcoef(physical[:, r], expected[:, r])[0, 1] for r in range(76)])
    assert corr.min() > 0.999, corr.min()


@pytest.mark.slow
def test_meg_on_deepsifs_template_keeps_every_vertex_and_is_sarvas_field(anatomy_dir, tmp_path):
    """MEG on DeepSIF's fsaverage5 cortex: the cortex goes into the head frame by MNE's fsaverage transform,
    nothing bounds or moves its vertices (the sphere has no layers), and fwd * row_scale is Sarvas' field at
    the head shape's centre, every region correlating above 0.999."""
    from scipy.io import loadmat
    from deepsif_pipeline.head.anatomy import load_template
    info = _meg_recording(tmp_path / "meg_raw.fif")
    template = load_template(anatomy_dir)
    path, n = made_leadfield(template, tmp_path / "meg_raw.fif", tmp_path / "cache")
    made = loadmat(path)
    assert n == 60 and made["fwd"].shape == (60, template.n_regions) and made["moved_vertices"].item() == 0
    assert "no layers" in str(made["head_model"][0]) and "fsaverage transform" in str(made["placement"][0])
    cortex = loadmat(anatomy_dir / "fs_cortex_20k.mat")
    trans = frames.fsaverage_trans()
    pos = mne.transforms.apply_trans(trans, cortex["pos"] / 1000.0)
    ori = cortex["ori"] @ SCS_TO_RAS.T @ trans["trans"][:3, :3].T  # (its ori: Brainstorm's axes)
    assert (np.linalg.norm(pos - HEAD_CENTER, axis=1) > 0.9 * HEAD_RADIUS).sum() > 100  # once pulled inside
    rm = loadmat(anatomy_dir / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    gain = _meg_gain(info["chs"], info["dev_head_t"]["trans"], HEAD_CENTER, pos,
                     ori / np.linalg.norm(ori, axis=1, keepdims=True))
    expected = recipe.sum_regions(gain, rm, template.n_regions)
    physical = made["fwd"] * made["row_scale"]
    assert np.linalg.norm(physical - expected) / np.linalg.norm(expected) < 0.02
    a, b = physical - physical.mean(axis=0), expected - expected.mean(axis=0)
    corr = (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
    assert corr.min() > 0.999, corr.min()


def test_a_template_declares_its_frame(tvb76_dir, tmp_path):
    """The frame of a template's cortex is data the template declares (its template.json, or its known name or
    cortex), not a branch on its name or its vertex count: a copy of tvb76 that declares none is refused by
    --sensors, and declaring the frame in its template.json is enough."""
    import json
    from deepsif_pipeline.head.anatomy import load_template
    copy = tmp_path / "template"
    copy.mkdir()
    for path in tvb76_dir.iterdir():
        if path.name != "template.json":
            (copy / path.name).symlink_to(path)
    info = {k: v for k, v in json.loads((tvb76_dir / "template.json").read_text()).items() if k not in ("name", "frame")}
    (copy / "template.json").write_text(json.dumps(info))
    cap = sensors.sensor_positions(sensors.read_sensors("biosemi32"))
    assert load_template(copy).frame is None
    with pytest.raises(LeadFieldError, match=r"the frame of this template's cortex \(16384 vertices\) is not known"):
        frames.cortex_in_head_frame(load_template(copy), cap)
    (copy / "template.json").write_text(json.dumps(dict(info, frame="brainstorm")))
    placed, _, how = frames.cortex_in_head_frame(load_template(copy), cap)
    assert "Brainstorm's axes" in how and placed.shape == (16384, 3)
    assert load_template(tvb76_dir).frame == "brainstorm"  # the built-in's, by its name


def test_deepsifs_template_is_known_by_its_cortex(anatomy_dir):
    from deepsif_pipeline.head.anatomy import load_template
    assert load_template(anatomy_dir).frame == "fsaverage"


def test_deepsifs_template_stores_ori_in_brainstorms_axes_and_the_frame_turns_them(deepsif_template):
    """DeepSIF's fs_cortex_20k.mat: pos in fsaverage's MRI (RAS) axes, ori in Brainstorm's (x to the nose, y to
    the left). The normals of its own pial mesh are 77 degrees (median) from ori as stored, 2.2 once turned by
    SCS_TO_RAS; the frame (``Frame.ori_axes``) turns them for every provider that places the cortex."""
    import mne
    from scipy.io import loadmat
    saved = loadmat(deepsif_template.path("fs_cortex_20k.mat"), variable_names=["pos", "tri", "ori"])
    surface = mne.surface.complete_surface_info({"rr": saved["pos"] / 1000.0, "tris": saved["tri"].astype(int) - 1},
                                                verbose="error")

    def degrees(ori):
        ori = ori / np.linalg.norm(ori, axis=1, keepdims=True)
        return np.degrees(np.arccos(np.clip((ori * surface["nn"]).sum(axis=1), -1, 1)))

    as_stored, turned = degrees(saved["ori"]), degrees(saved["ori"] @ SCS_TO_RAS.T)
    assert np.median(as_stored) > 60 and np.median(turned) < 3 and np.percentile(turned, 99) < 3
    pos, ori = frames.template_cortex_in_frame(deepsif_template)
    np.testing.assert_allclose(pos, saved["pos"] / 1000.0)
    assert np.max(degrees(ori)) == pytest.approx(np.max(turned))
