"""The whole pipeline on the real 994-region DeepSIF template: the default step-1 engine (fast,
set up from tvb-library's configured simulator), real GNU Octave.

Regions 700 and 701 with 2.5 s per mean iteration (under a minute here):
with the default seed, region 700 yields real clips in mean iteration 0.
"""

import numpy as np
import pytest
from scipy.io import loadmat

from conftest import run_cli, tree_snapshot

pytestmark = pytest.mark.slow

REGIONS = (700, 701)
ARGS = ("--start_region", REGIONS[0], "--end_region", REGIONS[-1] + 1, "--sim-length", 2.5,
        "--piece-length", 1.25, "--progress", "lines")


@pytest.fixture(scope="module")
def first_run(anatomy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "source"
    res = run_cli("pipeline_orchestrator.py", "--anatomy", anatomy_dir, "--output", out, *ARGS)
    return out, res


def _mat_header(path):
    return path.read_bytes()[:19]


def test_run_succeeds_with_the_seed_banners(first_run):
    out, res = first_run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    text = res.stdout
    for i, r in enumerate(REGIONS):
        assert f"# Processing Region {r} ({i + 1}/2)" in text
        for step in (f"STEP 1: Generating TVB data for region {r}", f"STEP 2: Processing raw NMM data for region {r}",
                     f"STEP 3: Deleting raw data for region {r}"):
            assert step in text
        assert f"\u2713 Successfully generated TVB data for region {r}" in text
        assert f"\u2713 Successfully deleted raw data for region {r}" in text
        assert f"\u2713 Completed region {r} in" in text
    assert "Successful regions: 2 (700-701)" in text and "Failed regions: 0" in text
    assert "992 of 994 regions have no markers yet (0-699, 702-993)" in text  # step 4 waits, not a failure
    assert "\r" not in text + res.stderr


def test_output_tree_markers_and_raw_deleted(first_run):
    out, _ = first_run
    assert not any((out / "raw_nmm").iterdir())
    for r in REGIONS:
        totals = []
        for m in (0, 1, 2):
            marker = out / "nmm_spikes" / "clip_info" / f"iter{m}" / f"iter_{m}_i_{r}.mat"
            assert _mat_header(marker) == b"MATLAB 5.0 MAT-file"
            info = loadmat(marker)
            totals.append(int(info["num_spike"].ravel()[0]))
            assert info["spike_time"].size == totals[-1] - (totals[-2] if m else 0)
        assert totals == sorted(totals)
        clips = sorted((out / "nmm_spikes" / f"a{r}").glob("nmm_*.mat")) if totals[-1] else []
        assert [c.name for c in clips] == sorted(f"nmm_{n}.mat" for n in range(1, totals[-1] + 1))
    assert not list(out.rglob(".tmp_*")), "no temporary file may be left behind"


def test_real_clips_carry_the_source_spike(first_run):
    out, _ = first_run
    spike_times = loadmat(out / "nmm_spikes" / "clip_info" / "iter0" / "iter_0_i_700.mat")["spike_time"].ravel()
    assert spike_times.size, "region 700 must give clips in mean iteration 0 with the default seed"
    clips = [out / "nmm_spikes" / "a700" / f"nmm_{n}.mat" for n in range(1, spike_times.size + 1)]
    for clip, t in zip(clips, spike_times):  # clips 1..K of mean iteration 0, in spike order
        assert _mat_header(clip) == b"MATLAB 5.0 MAT-file"
        data = loadmat(clip)["data"]
        assert data.shape == (500, 994) and np.all(np.isfinite(data))
        peak_within = int(t) - (int(t) // 500) * 500  # 1-based position of the peak in its clip
        source = data[:, 700]
        # the spike peaks where the marker says (a local maximum: two spikes of the source
        # 100+ samples apart can share a clip of the published fixed 500-sample grid)
        lo = max(peak_within - 51, 0)
        assert lo + np.argmax(source[lo:peak_within + 50]) + 1 == peak_within
        # the scaled source spike stands far above every other region in the clip
        assert source.max() > 8 and source.max() > 5 * np.abs(np.delete(data, 700, axis=1)).max()


def test_second_run_skips_everything_and_changes_no_file(first_run, anatomy_dir):
    out, _ = first_run
    before = tree_snapshot(out)
    res = run_cli("pipeline_orchestrator.py", "--anatomy", anatomy_dir, "--output", out, *ARGS)
    assert res.returncode == 0, res.stdout[-3000:]
    for r in REGIONS:
        assert f"\u2713 Region {r} already processed" in res.stdout
    assert "STEP 1" not in res.stdout and "STEP 2" not in res.stdout
    assert "Already done, skipped: 2 (700-701)" in res.stdout
    after = tree_snapshot(out)
    runs = "logs/runs.log"  # the run log is the one file a run always appends to
    assert after.pop(runs)[0] > before.pop(runs)[0]
    assert after == before
    assert (out / runs).read_text().count(" start: ") == 2
