"""Step 2 (matlab/process_region_nmm.m and its helpers) run in GNU Octave.

The Octave unit tests live in ``tests/octave/test_step2_*.m`` (known answers
on tiny synthetic inputs); each runs in its own Octave process. One more test
builds a raw folder and a job file (full paths, as the pipeline writes them)
from Python, runs ``process_region_nmm`` and checks its outputs with SciPy.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from conftest import run_octave
from deepsif_pipeline.processes.engine import matlab_string

REPO = Path(__file__).resolve().parent.parent
OCTAVE_TESTS = REPO / "tests" / "octave"
OCTAVE_TEST_NAMES = sorted(p.stem for p in OCTAVE_TESTS.glob("test_step2_*.m"))

# step-2 constants the synthetic data is built around (deepsif_pipeline/science/science.json)
TRANSIENT = 1000
FACTOR = 4


def test_octave_tests_found():
    assert len(OCTAVE_TEST_NAMES) >= 9, OCTAVE_TEST_NAMES


@pytest.mark.parametrize("name", OCTAVE_TEST_NAMES)
def test_octave_unit(octave, tmp_path, name):
    # Octave on this machine may print "error: ignoring const execution_exception&
    # while preparing to exit" after a clean run: only the return code counts.
    res = run_octave(octave, name, tmp_path)
    assert res.returncode == 0, f"{name} failed:\n{res.stdout}\n{res.stderr}"


# ---------------------------------------------------------------------------
def synthetic_signal(n_samples, n_columns, bumps):
    """Quiet background plus 12 mV bumps; ``bumps`` lists (0-based column, 1-based peak)."""
    t = np.arange(1, n_samples + 1, dtype=float)
    ds = np.stack([0.05 * np.sin(0.37 * t + 1.3 * (c + 1)) for c in range(n_columns)], axis=1)
    for c, t0 in bumps:
        ds[:, c] += 12 * np.exp(-(t - t0) ** 2 / 128)
    return ds.astype(np.float32)


def write_raw(raw_dir, m, r, ds, split):
    """Raw pieces (float32) whose drop-transient-and-keep-every-4th gives back ``ds``.

    Returns their paths, in time order.
    """
    junk = 500 + 400 * np.sin(np.arange(1, TRANSIENT + 1) / 30)[:, None] * np.ones(ds.shape[1])
    raw = np.vstack([junk, np.repeat(ds, FACTOR, axis=0)]).astype(np.float32)
    edges = [0, split, raw.shape[0]]
    paths = []
    for k in range(2):
        rows = np.arange(edges[k], edges[k + 1])
        paths.append(raw_dir / f"mean_iter_{m}_a_iter_{r}_{k}.mat")
        savemat(str(paths[-1]), {"data": raw[rows], "time": (rows * 0.5)[None, :]})
    return paths


def cell_row(items):
    """A MATLAB 1 x n cell for savemat: str entries, or further cells."""
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def expected_alpha(nmm, fwd, col, spikes, snr_db):
    """Step 2 item 7 written independently in NumPy (col, spikes 0-based)."""
    idx = np.concatenate([np.arange(t - 99, t + 101) for t in spikes])
    x = nmm[idx] - nmm.mean(axis=0)
    others = [c for c in range(nmm.shape[1]) if c != col]
    ps = np.sum((x[:, [col]] @ fwd[:, [col]].T) ** 2) / len(idx)
    pn = np.sum((x[:, others] @ fwd[:, others].T) ** 2) / len(idx)
    return np.sqrt(10 ** (snr_db / 10) * pn / ps)


def test_process_region_from_python(octave, tmp_path):
    """A raw folder written by SciPy: one clean spike kept, one rejected, remapped columns."""
    region, n_samples = 1, 3000
    columns = np.array([1, 4, 3])   # 1-based: raw column 2 is dropped, 4 is region 1
    raw_dir = tmp_path / "raw_nmm" / f"a{region}"
    raw_dir.mkdir(parents=True)
    # iteration 0: source (raw col 4) peaks at 750 and 1750; region 0 (raw col 1)
    # peaks at 1600, near the second -> rejected. Raw col 2 peaks at 1200, inside
    # the first clip's isolation window, but it is not a kept column.
    bumps = {0: [(3, 750), (3, 1750), (0, 1600), (1, 1200)], 1: [], 2: []}
    raw_ds, pieces = {}, {}
    for m in range(3):
        raw_ds[m] = synthetic_signal(n_samples, 4, bumps[m])
        pieces[m] = write_raw(raw_dir, m, region, raw_ds[m], split=5003 + m)
    fwd = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, 0.4]])
    savemat(str(tmp_path / "lf.mat"), {"fwd": fwd})
    clip_dir = tmp_path / "nmm_spikes"
    markers = [clip_dir / "clip_info" / f"iter{m}" / f"iter_{m}_i_{region}.mat" for m in range(3)]
    clip_pattern = str(clip_dir / f"a{region}").replace("%", "%%") + "/nmm_%d.mat"
    fingerprint = json.dumps({"step": "extract", "target_snr": 15.0, "seed": 7, "note": "50% 'quoted'"},
                             sort_keys=True, separators=(",", ":"))
    job = tmp_path / "job.mat"
    seeds = np.array([101.0, 202.0, 303.0])
    savemat(str(job), {"raw_pieces": cell_row([cell_row([str(p) for p in pieces[m]]) for m in range(3)]),
                       "markers": cell_row([str(p) for p in markers]), "clip_pattern": clip_pattern,
                       "region": float(region), "columns": columns.astype(float)[None, :],
                       "leadfield": str(tmp_path / "lf.mat"), "target_snr": 15.0,
                       "iterations": np.array([[0.0, 1.0, 2.0]]), "seeds": seeds[None, :],
                       "fingerprint": fingerprint})

    res = run_octave(octave, f"process_region_nmm({matlab_string(job)});", tmp_path)
    assert res.returncode == 0, f"process_region_nmm failed:\n{res.stdout}\n{res.stderr}"
    assert "iter 0 region 1: 1 clip (total 1)" in res.stdout, res.stdout

    kept = raw_ds[0][:, columns - 1].astype(np.float64)   # downsampled, remapped
    alpha = expected_alpha(kept, fwd, region, [749], 15.0)
    for m in range(3):
        info = loadmat(str(clip_dir / "clip_info" / f"iter{m}" / f"iter_{m}_i_{region}.mat"))
        assert info["num_spike"].item() == 1
        assert np.asarray(info["fingerprint"]).ravel()[0] == fingerprint  # the job's, unchanged
        assert info["seed"].item() == seeds[m] and info["target_snr"].item() == 15.0
        if m == 0:
            assert info["spike_time"].tolist() == [[750]]
            np.testing.assert_allclose(info["alpha"].item(), alpha, rtol=1e-9)
        else:
            assert info["spike_time"].shape == (1, 0)
            assert np.isnan(info["alpha"].item())

    clips = sorted(p.name for p in (clip_dir / f"a{region}").iterdir())
    assert clips == ["nmm_1.mat"]
    data = loadmat(str(clip_dir / f"a{region}" / "nmm_1.mat"))["data"]
    # single precision, as the published step 2 keeps the raw data's (DeepSIF's trainer reads data
    # (500, regions) from the pack, float32 either way)
    assert data.dtype == np.float32 and data.shape == (500, 3)
    # clip 501..1000 (1-based): the other regions are the input, exactly
    np.testing.assert_array_equal(data[:, [0, 2]], kept[500:1000, [0, 2]])
    # the source carries the scaled peak at 750 (row 249, 0-based)
    source = kept[:, region]
    assert int(np.argmax(data[:, region])) == 249
    np.testing.assert_allclose(data[249, region],
                               (source[749] - source.mean()) * alpha + source.mean(), rtol=2 ** -24)
