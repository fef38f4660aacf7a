"""Step 4 (generate_synthetic_source.m): Octave unit tests and one run on the real template."""

from pathlib import Path
import time

import numpy as np
import pytest
from scipy.io import loadmat, savemat, whosmat

from conftest import run_octave
from deepsif_pipeline.processes.engine import matlab_string


REPO = Path(__file__).resolve().parent.parent
OCTAVE_TESTS = REPO / "tests" / "octave"
UNIT_TESTS = sorted(p.stem for p in OCTAVE_TESTS.glob("test_step4_*.m"))
PAD = 15213
MAX_SIZE = 70
SNR_LEVELS = (5, 10, 15, 20)
TEST_MODE = {"nper": 10, "n_iter": 3, "target_snr": (10, 15)}  # science.json, step4 modes.test
FINGERPRINT = '{"dataset":"test","seed":12345,"step":"synthesis"}'  # JSON text, as the pipeline passes it


def _run_octave(octave, code, cwd, timeout):
    """Run Octave code; return (returncode, combined output, seconds)."""
    start = time.monotonic()
    proc = run_octave(octave, code, cwd, timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


@pytest.mark.parametrize("name", UNIT_TESTS)
def test_octave_unit(octave, tmp_path, name):
    code = name
    rc, output, _ = _run_octave(octave, code, tmp_path, timeout=600)
    assert rc == 0, f"{name} failed (exit {rc}):\n{output}"


def test_unit_tests_found():
    assert {"test_step4_smooth_patch", "test_step4_grow_patches", "test_step4_clip_row_index",
            "test_step4_scale_ratio", "test_step4_generate"} <= set(UNIT_TESTS)


# ---- the real 994-region template --------------------------------------------------

@pytest.fixture(scope="session")
def real_step4_run(octave, anatomy_dir, real_step4_inputs):
    """Run generate_synthetic_source in test mode on the real template (once)."""
    inp = real_step4_inputs
    folder = inp["folder"]
    output = folder / "test_sample_source1.mat"
    job = folder / "job.mat"
    savemat(job, {
        "inflated": str(anatomy_dir / "fs_cortex_20k_inflated.mat"),
        "region_mapping": str(anatomy_dir / "fs_cortex_20k_region_mapping.mat"),
        "distances": str(inp["distances"]),
        "leadfield": str(anatomy_dir / "leadfield_75_20k.mat"),
        "clip_pattern": str(inp["clip_dir"]).replace("%", "%%") + "/a%d/nmm_%d.mat",
        "clip_counts": inp["counts"].astype(float)[None, :],
        "mode": "test",
        "seed": 12345.0,
        "output": str(output),
        "fingerprint": FINGERPRINT,
    })
    code = f"generate_synthetic_source({matlab_string(job)});"
    rc, log, seconds = _run_octave(octave, code, folder, timeout=1800)
    assert rc == 0, f"generate_synthetic_source failed (exit {rc}):\n{log}"
    print(f"\nstep 4 on the real template (test mode): {seconds:.1f} s\n{log}")
    return loadmat(output), seconds


@pytest.mark.slow
def test_real_template_step4(real_step4_run, real_step4_inputs, anatomy_dir):
    out, seconds = real_step4_run
    counts = real_step4_inputs["counts"]
    n = real_step4_inputs["n"]
    n_cen = int((counts > 0).sum())
    n_ex = TEST_MODE["n_iter"] * n_cen * len(SNR_LEVELS)
    n_target = len(TEST_MODE["target_snr"])

    sr = out["selected_region"]
    assert sr.shape == (n_ex, 2, MAX_SIZE)
    assert out["mag_change"].shape == (n_ex, 2, MAX_SIZE)
    assert out["scale_ratio"].shape == (n_ex, 2, n_target)
    assert out["random_samples"].shape == (n_ex, 2)
    assert out["nmm_idx"].shape == (n_ex, 2)
    assert out["current_snr"].shape == (n_ex, 1)
    assert out["sensor_snr"].shape == (n_ex, 1)

    # padding: region ids first, then only 15213; centre first and unique
    is_pad = sr == PAD
    n_real = (~is_pad).sum(axis=2)
    assert n_real.min() >= 1
    assert np.array_equal(is_pad, np.arange(MAX_SIZE)[None, None, :] >= n_real[:, :, None])
    ids = sr[~is_pad]
    assert ids.min() >= 0 and ids.max() < n and np.all(ids == np.round(ids))
    for e in range(0, n_ex, 97):
        for k in range(2):
            row = sr[e, k, :n_real[e, k]]
            assert len(set(row.tolist())) == row.size

    centres = sr[:, :, 0].astype(int)
    assert np.all(counts[centres] > 0), "a region without clips was used as a centre"
    rs = out["random_samples"]
    assert np.all(rs >= 1) and np.all(rs <= np.minimum(counts[centres], TEST_MODE["nper"]))
    offset = np.concatenate([[0], np.cumsum(np.minimum(counts, TEST_MODE["nper"]))])
    assert np.issubdtype(out["nmm_idx"].dtype, np.integer)
    assert np.array_equal(out["nmm_idx"], offset[centres] + rs - 1)

    ratio = out["scale_ratio"]
    assert np.all(np.isfinite(ratio)) and np.all(ratio > 0)
    assert np.allclose(ratio[:, :, 1] / ratio[:, :, 0], np.sqrt(10 ** 0.5), rtol=1e-9)

    mag = out["mag_change"]
    assert np.array_equal(mag == PAD, is_pad)
    assert np.all(mag[:, :, 0] == 1)
    assert np.all((mag[~is_pad] > 0) & (mag[~is_pad] <= 1))

    snr = out["sensor_snr"]
    assert np.array_equal(snr, out["current_snr"])
    assert set(np.unique(snr).tolist()) <= set(SNR_LEVELS)
    assert np.array_equal(snr.ravel(), np.tile(SNR_LEVELS, n_ex // len(SNR_LEVELS)))

    # a sample of scale ratios against the published computation, in NumPy
    fwd = loadmat(anatomy_dir / "leadfield_75_20k.mat")["fwd"].astype(float)
    clip_dir = real_step4_inputs["clip_dir"]
    for e, k in [(0, 0), (1, 1), (n_ex // 2, 0), (n_ex - 1, 1), (4321 % n_ex, 1)]:
        patch = sr[e, k, :n_real[e, k]].astype(int)
        data = loadmat(clip_dir / f"a{patch[0]}" / f"nmm_{int(rs[e, k])}.mat")["data"]
        expected = _published_alpha(data.astype(float), fwd, patch, TEST_MODE["target_snr"])
        assert np.allclose(ratio[e, k], expected, rtol=1e-8)
    assert seconds < 300, f"step 4 on the real template took {seconds:.0f} s"


@pytest.mark.slow
def test_real_template_step4_saves_the_job_fingerprint(real_step4_run):
    out, _ = real_step4_run
    assert np.asarray(out["fingerprint"]).ravel()[0] == FINGERPRINT


@pytest.mark.slow
def test_real_template_step4_reads_raw_dis_matrix(real_step4_run, real_step4_inputs):
    """Step 4 took its distances from ``raw_dis_matrix``, DeepSIF's name, the file's only variable.

    Every magnitude is exp(-d^2 / (2 sigma^2)) with one sigma for the data set:
    d^2 / -log(magnitude) is the same number for every patch region.
    """
    path = real_step4_inputs["distances"]
    assert [name for name, _, _ in whosmat(path)] == ["raw_dis_matrix"]
    d = loadmat(path)["raw_dis_matrix"]
    out, _ = real_step4_run
    sr, mag = out["selected_region"], out["mag_change"]
    centre = np.broadcast_to(sr[:, :, :1], sr.shape)
    inner = (sr != PAD) & (np.arange(MAX_SIZE) > 0)
    dist = d[centre[inner].astype(int), sr[inner].astype(int)]
    two_sigma_sq = dist ** 2 / -np.log(mag[inner])
    assert inner.sum() > 1000 and np.allclose(two_sigma_sq, two_sigma_sq[0], rtol=1e-9)


def _published_alpha(data, fwd, patch, target_snr):
    """find_alpha of the published script (window start clamped to the first sample)."""
    shape = data[:, patch[0]] / data[:, patch[0]].max()
    peak = int(np.argmax(shape))  # 0-based
    data = data.copy()
    data[:, patch] = shape[:, None]
    win = slice(max(peak - 50, 0), data.shape[0])
    others = np.setdiff1d(np.arange(data.shape[1]), patch)
    sig = fwd[:, patch] @ data[:, patch].T
    noise = fwd[:, others] @ data[:, others].T
    sig = sig - sig.mean(axis=1, keepdims=True)
    noise = noise - noise.mean(axis=1, keepdims=True)
    n_win = data.shape[0] - win.start
    ps = (sig[:, win] ** 2).sum() / n_win
    pn = (noise[:, win] ** 2).sum() / n_win
    return np.sqrt(10 ** (np.asarray(target_snr) / 10) * pn / ps)
