"""A clip set holding double clips (step 2 up to b693363) and single ones (today's) works throughout.

The same clip values are written twice for the 76 tvb76 regions: all in
double precision, and with every other region's clips rounded to single
(as today's step 2 stores them). Step 4 (real Octave), the pack and
``--verify`` run on both folders: the step-4 files agree (scale ratios
within float32 rounding, everything else equal), the packs hold the same
float32 rows, and ``--verify`` passes on the mixed folder.
"""

import h5py
import numpy as np
from scipy.io import loadmat, savemat

from conftest import run_cli, write_step4_inputs


def _synthesis(out, tvb76_dir):
    res = run_cli("pipeline_orchestrator.py", "--synthesis-only", "--dataset", "test", "--anatomy", tvb76_dir,
                  "--output", out)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_mixed_double_and_single_clips(tvb76_dir, tmp_path):
    folders = {}
    for kind in ("double", "mixed"):
        folders[kind] = tmp_path / kind
        counts = write_step4_inputs(folders[kind] / "nmm_spikes", 76, seed=5)
    singles = 0
    for r in range(0, 76, 2):
        for n in range(1, counts[r] + 1):
            path = folders["mixed"] / "nmm_spikes" / f"a{r}" / f"nmm_{n}.mat"
            data = loadmat(str(path))["data"]
            assert data.dtype == np.float64
            savemat(str(path), {"data": data.astype(np.float32)})
            singles += 1
    assert singles > 20 and counts[1::2].sum() > 20

    for out in folders.values():
        _synthesis(out, tvb76_dir)
    step4 = {kind: loadmat(str(out / "test_sample_source1.mat")) for kind, out in folders.items()}
    names = {k for k in step4["double"] if not k.startswith("__")}
    assert names == {k for k in step4["mixed"] if not k.startswith("__")}
    for name in names:
        a, b = step4["double"][name], step4["mixed"][name]
        if name == "scale_ratio":
            # the ratios of single clips are those of their float32 values
            np.testing.assert_allclose(b, a, rtol=1e-5)
            assert not np.array_equal(a, b)  # the single clips were read (they differ in the last bits)
        elif name != "fingerprint":
            assert np.array_equal(a, b), name
    packs = {kind: h5py.File(out / "test_sample_nmm.h5", "r") for kind, out in folders.items()}
    try:
        assert packs["double"]["data"].dtype == np.float32
        assert np.array_equal(packs["double"]["data"][()], packs["mixed"]["data"][()])
    finally:
        for f in packs.values():
            f.close()

    res = run_cli("pipeline_orchestrator.py", "--verify", "--dataset", "test", "--anatomy", tvb76_dir,
                  "--output", folders["mixed"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "6 of 6 checks passed" in res.stdout
