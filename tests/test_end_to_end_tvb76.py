"""The main job on the built-in tvb76 template: all 76 regions, steps 1 to 4, real TVB and Octave.

2 s per mean iteration (about 5 minutes here); the synthetic source file
is made in test mode by the run that completes the last region.
"""

import os

import numpy as np
import pytest
from scipy.io import loadmat

from conftest import run_cli

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
