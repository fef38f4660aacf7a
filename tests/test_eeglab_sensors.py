"""EEGLAB channel locations as --sensors SPEC (deepsif_pipeline/head/leadfields/eeglab.py): DeepSIF's own
electrode_75.mat (eloc75), chanlocs written here with scipy, and .mat files that hold none (issue 28)."""

from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from deepsif_pipeline.head.leadfields import LeadFieldError, eeglab, frames, sensors

mne = pytest.importorskip("mne", reason="mne is not installed (pip install -r requirements.txt)")

NOT_READ = "not a sensor file MNE or EEGLAB's chanlocs can read"


def write_chanlocs(path, labels, xyz, variable="chanlocs", nest=None):
    """A chanlocs struct array (labels, X, Y, Z, type) as EEGLAB saves it, written with scipy."""
    entries = np.zeros((1, len(labels)), dtype=[("labels", "O"), ("X", "O"), ("Y", "O"), ("Z", "O"), ("type", "O")])
    for i, (label, (x, y, z)) in enumerate(zip(labels, xyz)):
        entries[0, i] = (label, float(x), float(y), float(z), "EEG")
    content = {variable: entries}
    if nest:  # as in an EEGLAB .set: EEG.chanlocs
        outer = np.zeros((1, 1), dtype=[(variable, "O"), ("srate", "O")])
        outer[0, 0] = (entries, 250.0)
        content = {nest: outer}
    savemat(path, content)
    return path


def head_frame_cap(name="biosemi32"):
    """Labels and head-frame positions (metres) of an MNE montage, and its fiducials (head frame)."""
    montage = mne.channels.make_standard_montage(name)
    info = mne.create_info(montage.ch_names, 1000.0, "eeg")
    info.set_montage(montage)
    cardinal = mne.io.constants.FIFF.FIFFV_POINT_CARDINAL
    fiducials = {int(d["ident"]): d["r"] for d in info["dig"] if d["kind"] == cardinal}
    return list(info["ch_names"]), sensors.sensor_positions(info), fiducials


def to_eeglab_axes(positions):
    """MNE's head frame (x right, y nose, z up) into EEGLAB's axes (x nose, y left, z up), written out by hand."""
    positions = np.asarray(positions)
    return np.c_[positions[:, 1], -positions[:, 0], positions[:, 2]]


def test_the_conversion_is_eeglab_axes_into_mne_axes():
    # EEGLAB's +X (nose) is MNE's +Y, EEGLAB's +Y (left ear) is MNE's -X, +Z is up in both
    assert np.allclose(eeglab.eeglab_to_mne([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    rng = np.random.default_rng(0)
    points = rng.standard_normal((5, 3))
    assert np.allclose(eeglab.eeglab_to_mne(to_eeglab_axes(points)), points)


@pytest.mark.parametrize("unit, factor", [("millimetres", 1000.0), ("centimetres", 100.0), ("metres", 1.0)])
def test_a_chanlocs_without_fiducials_in_any_unit(tmp_path, unit, factor):
    labels, positions, _ = head_frame_cap()
    path = write_chanlocs(tmp_path / "cap.mat", labels, to_eeglab_axes(positions) * factor)
    assert eeglab.read_chanlocs(path).unit == unit
    info = sensors.read_sensors(path)
    assert info["ch_names"] == labels and set(info.get_channel_types()) == {"eeg"}
    assert np.allclose(sensors.sensor_positions(info), positions, atol=1e-7)
    assert info["description"] == sensors.NO_FIDUCIALS  # taken as MNE's head frame, and said


def test_a_unit_sphere_is_scaled_to_mne_default_head(tmp_path):
    labels, positions, _ = head_frame_cap()
    center, radius = eeglab.fit_sphere(positions)
    path = write_chanlocs(tmp_path / "cap.mat", labels, to_eeglab_axes((positions - center) / radius))
    chanlocs = eeglab.read_chanlocs(path)
    assert chanlocs.unit == "a unit sphere (normalised)"
    assert eeglab.fit_sphere(chanlocs.positions())[1] == pytest.approx(mne.defaults.HEAD_SIZE_DEFAULT)


def test_a_chanlocs_with_fiducials_and_one_inside_an_eeglab_set_struct(tmp_path):
    labels, positions, fiducials = head_frame_cap()
    fid = mne.io.constants.FIFF
    rows = labels + ["Nz", "LPA", "RPA"]
    xyz = np.r_[positions, [fiducials[fid.FIFFV_POINT_NASION], fiducials[fid.FIFFV_POINT_LPA],
                            fiducials[fid.FIFFV_POINT_RPA]]]
    path = write_chanlocs(tmp_path / "subject.set", rows, to_eeglab_axes(xyz) * 1000, nest="EEG")
    assert eeglab.read_chanlocs(path).variable == "EEG.chanlocs"
    info = sensors.read_sensors(path)
    assert info["ch_names"] == labels + ["Nz"]  # LPA, RPA are fiducials only; Nz is an electrode too
    assert np.allclose(sensors.sensor_positions(info)[:len(labels)], positions, atol=1e-6)
    assert info["description"] != sensors.NO_FIDUCIALS


@pytest.mark.parametrize("content, says", [
    ({"fwd": np.zeros((3, 4))}, "EEGLAB chanlocs: no struct array with fields labels, X, Y, Z among its variables "
                                "(fwd)"),
    ("not MATLAB", "EEGLAB chanlocs: not a MATLAB file (MatReadError)"),
])
def test_a_mat_that_is_no_chanlocs_is_refused_in_one_line_of_ours(tmp_path, content, says):
    path = tmp_path / "leadfield.mat"
    if isinstance(content, dict):
        savemat(path, content)
    else:
        path.write_text(content)
    with pytest.raises(LeadFieldError) as err:
        sensors.read_sensors(path)
    assert str(err.value) == f"--sensors {path}: {NOT_READ} ({says})"
    assert "unexpected keyword" not in str(err.value) and "fieldtrip" not in str(err.value)


def test_positions_in_no_known_unit_are_refused(tmp_path):
    labels, positions, _ = head_frame_cap()
    path = write_chanlocs(tmp_path / "cap.mat", labels, to_eeglab_axes(positions) * 1e5)
    with pytest.raises(LeadFieldError, match=r"its positions lie on a sphere of radius .*: a head in no unit known"
                       ) as err:
        sensors.read_sensors(path)
    assert "\n" not in str(err.value)


def test_deepsifs_electrode_75_is_a_spec(anatomy_dir):
    """DeepSIF's electrode_75.mat (eloc75, millimetres, EEGLAB's axes): its 75 channels, in MNE's head frame, on
    fsaverage's scalp once placed by MNE's fsaverage transform (as the fsaverage template's cortex is)."""
    path = Path(anatomy_dir) / "electrode_75.mat"
    labels = [str(x["labels"]) for x in loadmat(path, squeeze_me=True)["eloc75"]]
    chanlocs = eeglab.read_chanlocs(path)
    assert (chanlocs.variable, chanlocs.unit) == ("eloc75", "millimetres")
    info = sensors.read_sensors(path)
    assert info["ch_names"] == labels and len(labels) == 75 and set(info.get_channel_types()) == {"eeg"}
    at = dict(zip(labels, sensors.sensor_positions(info)))
    for front in ("Fpz", "Fp1", "Fp2"):
        assert at[front][1] > 0.08  # +Y: the nose
    assert at["Oz"][1] < -0.07
    assert at["T7"][0] < -0.07 and at["T8"][0] > 0.07  # -X: left, +X: right
    assert at["Fp1"][0] < 0 < at["Fp2"][0]
    highest = sorted(at, key=lambda name: -at[name][2])[:5]
    assert "Cz" in highest and at["Cz"][2] > 0.12 and abs(at["Cz"][0]) < 0.01, highest  # +Z: up
    # placed on fsaverage: the distance of each electrode to MNE's shipped fsaverage scalp
    from scipy.spatial import cKDTree
    head = mne.read_bem_surfaces(Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-head.fif",
                                 verbose="error")[0]
    in_mri = mne.transforms.apply_trans(mne.transforms.invert_transform(frames.fsaverage_trans()),
                                        sensors.sensor_positions(info))
    distance, _ = cKDTree(head["rr"]).query(in_mri)
    assert np.median(distance) < 0.008 and distance.max() < 0.02, (np.median(distance), distance.max())
