"""The main job on the built-in tvb76 template: all 76 regions, steps 1 to 4, real TVB and Octave.

2 s per mean iteration (about 5 minutes here); the synthetic source file
is made in test mode by the run that completes the last region.
"""

import os

import numpy as np
import pytest
from scipy.io import loadmat


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tvb76_run(tvb76_cache, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("tvb76_run")  # no ../anatomy here: the default is tvb76
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    import subprocess
    import sys
    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--start_region", "0",
                          "--end_region", "76", "--sim-length", "2", "--piece-length", "2", "--dataset", "test",
                          "--progress", "lines"], cwd=cwd, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    return cwd / "source", res


def test_all_regions_then_synthesis(tvb76_run):
    out, res = tvb76_run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "anatomy tvb76 (built-in" in res.stdout
    assert "Successful regions: 76 (0-75)" in res.stdout and "Failed regions: 0" in res.stdout
    assert "Synthetic source: done" in res.stdout
    assert not any((out / "raw_nmm").iterdir())


def test_synthetic_source_uses_only_regions_with_clips(tvb76_run):
    out, _ = tvb76_run
    counts = np.array([int(loadmat(out / "nmm_spikes" / "clip_info" / "iter2" / f"iter_2_i_{r}.mat")
                           ["num_spike"].ravel()[0]) for r in range(76)])
    for r in range(76):
        assert len(list((out / "nmm_spikes" / f"a{r}").glob("nmm_*.mat"))) == counts[r]
    with_clips = int((counts > 0).sum())
    assert with_clips > 0, "some tvb76 regions spike alone within 2 s"
    d = loadmat(out / "test_sample_source1.mat")
    n_ex = 3 * with_clips * 4  # test mode: n_iter 3, 4 sensor SNR levels
    assert d["selected_region"].shape == (n_ex, 2, 70)
    assert d["nmm_idx"].shape == d["random_samples"].shape == (n_ex, 2)
    assert d["scale_ratio"].shape == (n_ex, 2, 2) and np.all(np.isfinite(d["scale_ratio"]))
    assert d["mag_change"].shape == (n_ex, 2, 70)
    assert d["sensor_snr"].shape == d["current_snr"].shape == (n_ex, 1)
    centres = d["selected_region"][:, :, 0].astype(int)
    assert np.all(counts[centres] > 0), "every source centre is a region that has clips"
    assert np.all(d["random_samples"] >= 1) and np.all(d["random_samples"] <= np.minimum(counts[centres], 10))
    patches = d["selected_region"]
    assert np.all((patches < 76) | (patches == 15213))
    assert np.allclose(d["mag_change"][:, :, 0], 1.0)


PAD = 15213


def build_example(meta, clips, fwd, index, sources=None, ratio=0):
    """One training example built exactly as DeepSIF's loaders.SpikeEEGBuild does (reference, not product).

    The pack row ``nmm_idx[index, k]`` is the source's clip; its centre waveform
    is normalised to its peak, scaled by a scale ratio, copied over the patch
    with ``mag_change``, the sources are summed and projected with the lead
    field. The trainer then adds white noise at ``sensor_snr``; the noise-free
    EEG is returned here. Returns (eeg (500, n_sensors), nmm (500, n_regions)).
    """
    raw_lb = meta["selected_region"][index].astype(int)
    raw_nmm = np.zeros((500, fwd.shape[1]))
    for kk in range(raw_lb.shape[0]) if sources is None else sources:
        curr_lb = raw_lb[kk, raw_lb[kk] != PAD]
        current_nmm = np.array(clips[meta["nmm_idx"][index][kk]], dtype=float)
        ssig = current_nmm[:, [curr_lb[0]]]
        ssig = ssig / np.max(ssig) * meta["scale_ratio"][index][kk][ratio]
        weight_decay = meta["mag_change"][index][kk]
        weight_decay = weight_decay[weight_decay != PAD]
        current_nmm[:, curr_lb] = ssig.reshape(-1, 1) * weight_decay
        raw_nmm = raw_nmm + current_nmm
    return (fwd @ raw_nmm.T).T, raw_nmm


def test_pack_rows_are_the_clips_step4_names(tvb76_run):
    import h5py
    out, res = tvb76_run
    assert "Clip pack: done" in res.stdout
    meta = loadmat(out / "test_sample_source1.mat")
    with h5py.File(out / "test_sample_nmm.h5", "r") as f:
        data = f["data"]
        assert data.dtype == np.float32 and data.shape[1:] == (500, 76) and data.chunks == (1, 500, 76)
        seen = {}
        for i in range(meta["nmm_idx"].shape[0]):
            for k in range(2):
                row = int(meta["nmm_idx"][i, k])
                clip = (int(meta["selected_region"][i, k, 0]), int(meta["random_samples"][i, k]))
                assert seen.setdefault(row, clip) == clip, "one row, one clip"
        assert len(seen) <= data.shape[0]
        for row, (region, n) in seen.items():
            expected = loadmat(out / "nmm_spikes" / f"a{region}" / f"nmm_{n}.mat")["data"]
            assert np.array_equal(data[row], expected.astype(np.float32)), (row, region, n)


def test_trainer_reference_builds_examples(tvb76_run, tvb76_dir):
    import h5py
    out, _ = tvb76_run
    meta = loadmat(out / "test_sample_source1.mat")
    fwd = loadmat(tvb76_dir / "leadfield_63_16k.mat")["fwd"]
    correlations = []
    with h5py.File(out / "test_sample_nmm.h5", "r") as f:
        clips = f["data"]
        for index in range(0, meta["nmm_idx"].shape[0], 7):
            eeg, nmm = build_example(meta, clips, fwd, index)
            assert eeg.shape == (500, 63) and np.all(np.isfinite(eeg)) and np.abs(eeg).max() > 0
            # The first source alone, at its highest scale ratio (20 dB over the clip's background):
            # after the trainer's removal of the time mean, the scalp map at the source's peak is
            # the lead field's prediction for its patch, and so are its largest sensors.
            eeg1, nmm1 = build_example(meta, clips, fwd, index, sources=[0], ratio=-1)
            eeg1 = eeg1 - eeg1.mean(axis=0)
            patch = meta["selected_region"][index, 0]
            patch = patch[patch != PAD].astype(int)
            predicted = fwd[:, patch] @ meta["mag_change"][index, 0][: len(patch)]
            topo = eeg1[int(np.argmax(nmm1[:, patch[0]]))]
            correlations.append(np.corrcoef(topo, predicted)[0, 1])
            # background in the clip bends single maps a little (lowest seen 0.948); the map of
            # another region than the patch reaches 0.89 at most on tvb76 (median -0.1)
            assert correlations[-1] > 0.93, index
            largest = set(np.argsort(np.abs(topo))[-5:])
            assert len(largest & set(np.argsort(np.abs(predicted))[-5:])) >= 3, index
    assert np.median(correlations) > 0.99
