"""Issue 20: a region stops at the clips step 4 reads, and step-1 passes carry units of any regions.

Real tvb-library set-up, the real fast engine and GNU Octave on the built-in
tvb76 template. With ``--dataset test`` a region needs 10 clips; at 20 s per
mean iteration regions 3 and 4 reach them in their first mean iteration,
regions 2 and 5 do not (measured here: 32, 14, 0 and 5 clips after mean
iteration 0).
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.io import loadmat

import generate_tvb_data as gen
from deepsif_pipeline import science
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.steps.extract import judge
from deepsif_pipeline.steps.simulate import logged_passes

from conftest import REPO, mat_arrays, tvb76_run

pytestmark = pytest.mark.slow

RUN = ("--start_region", 2, "--end_region", 6, "--sim-length", 20, "--piece-length", 10, "--skip-synthesis")


@pytest.fixture(scope="session")
def template76(tvb76_dir):
    from deepsif_pipeline.head.anatomy import load_template
    return load_template(tvb76_dir)


def units_simulated(out):
    """``{(region, mean_iteration)}`` the step-1 processes of a folder's runs were asked for (its logs)."""
    return set().union(*logged_passes(out / "logs"))


def markers(out, region):
    """``{mean_iteration: num_spike}`` of the markers a region has."""
    layout = Layout(out)
    return {m: int(loadmat(layout.marker(m, region))["num_spike"].ravel()[0])
            for m in science.MEAN_ITERATIONS if layout.marker(m, region).is_file()}


@pytest.fixture(scope="module")
def stopped(tvb76_cache, tmp_path_factory):
    """Regions 2-5 with --dataset test (10 clips needed), the default --mean-iterations needed."""
    out = tmp_path_factory.mktemp("needed") / "source"
    res = tvb76_run(tvb76_cache, out, *RUN, "--dataset", "test")
    assert res.returncode == 0, res.stdout[-3000:]
    return out, res.stdout


@pytest.fixture(scope="module")
def published(tvb76_cache, tmp_path_factory):
    """The same regions with --mean-iterations all (the published behaviour)."""
    out = tmp_path_factory.mktemp("all") / "source"
    res = tvb76_run(tvb76_cache, out, *RUN, "--dataset", "test", "--mean-iterations", "all")
    assert res.returncode == 0, res.stdout[-3000:]
    return out, res.stdout


def test_a_region_stops_once_it_has_the_clips_step4_reads(stopped):
    out, stdout = stopped
    counts = {r: markers(out, r) for r in range(2, 6)}
    early = [r for r, c in counts.items() if len(c) < 3]
    assert early, f"no region stopped early: {counts}"
    for r, c in counts.items():
        made = sorted(c)
        assert made == list(range(len(made))), f"region {r}: markers {made} are not the first mean iterations"
        if r in early:
            assert c[made[-1]] >= 10 and all(c[m] < 10 for m in made[:-1]), (r, c)
            assert f"Completed region {r} in" in stdout
            assert "not needed (10 clips reached)" in stdout
        else:
            assert c[2] < 10 or all(c[m] < 10 for m in (0, 1)), (r, c)
    # the units simulated are exactly those markers: nothing was simulated that was not needed
    assert units_simulated(out) == {(r, m) for r, c in counts.items() for m in c}
    assert not any((out / "raw_nmm").iterdir())


def test_stopped_regions_are_done_not_missing(stopped, tvb76_cache):
    out, _ = stopped
    early = [r for r in range(2, 6) if len(markers(out, r)) < 3]
    import json
    regions = json.loads((out / "dataset.json").read_text())["clip_sets"]["spikes"]["regions"]
    for r in early:
        entry = regions[str(r)]
        assert entry["not_needed"]["mean_iterations"] == list(range(len(markers(out, r)), 3))
        assert "not needed (10 clips reached)" in entry["not_needed"]["why"]
    status = tvb76_run(tvb76_cache, out, "--status", "--start_region", 2, "--end_region", 6, "--dataset", "test")
    assert status.returncode == 0, status.stdout
    for r in early:
        line = next(l for l in status.stdout.splitlines() if l.startswith(f"region {r} "))
        assert " done " in line and "not needed (10 clips reached)" in line, line
    again = tvb76_run(tvb76_cache, out, *RUN, "--dataset", "test", "--dry-run")
    assert again.returncode == 0, again.stdout
    from deepsif_pipeline.store.layout import compact_ranges
    line = next(l for l in again.stdout.splitlines() if l.startswith("already done, skipped: 4 regions (2-5)"))
    assert (f"of these, {compact_ranges(early)} stopped early: later mean iterations not needed (10 clips "
            "reached)") in line, line
    # a run with the same options skips every region and simulates nothing
    before = units_simulated(out)
    rerun = tvb76_run(tvb76_cache, out, *RUN, "--dataset", "test")
    assert rerun.returncode == 0 and rerun.stdout.count("already processed") == 4, rerun.stdout[-2000:]
    assert units_simulated(out) == before


def test_clips_of_a_stopped_region_are_the_published_ones(stopped, published):
    """Clips 1..n of a region that stopped are the files the published three mean iterations make first."""
    out, _ = stopped
    ref, _ = published
    for r in range(2, 6):
        mine, theirs = markers(out, r), markers(ref, r)
        assert len(theirs) == 3
        for m, n in mine.items():
            assert theirs[m] == n, (r, m)
        layout_a, layout_b = Layout(out), Layout(ref)
        for n in range(1, max(mine.values(), default=0) + 1):
            a = loadmat(layout_a.clip(r, n))["data"]
            b = loadmat(layout_b.clip(r, n))["data"]
            assert np.array_equal(a, b), f"region {r} clip {n} differs"


def test_all_on_a_stopped_folder_simulates_only_what_is_missing(stopped, published, tvb76_cache, tmp_path):
    import shutil
    out = tmp_path / "source"
    shutil.copytree(stopped[0], out)
    before = units_simulated(out)
    res = tvb76_run(tvb76_cache, out, *RUN, "--dataset", "test", "--mean-iterations", "all")
    assert res.returncode == 0, res.stdout[-3000:]
    new = units_simulated(out) - before
    assert new and all(m >= 1 for _, m in new), new
    assert {(r, m) for r, m in new} == {(r, m) for r in range(2, 6) for m in science.MEAN_ITERATIONS} - before
    # the folder is now the published one, file for file
    a, b = mat_arrays(out / "nmm_spikes"), mat_arrays(published[0] / "nmm_spikes")
    assert a.keys() == b.keys()
    for name in b:
        assert np.array_equal(a[name].get("data", 0), b[name].get("data", 0)), name
        if "num_spike" in b[name]:
            assert a[name]["num_spike"] == b[name]["num_spike"], name
    # and a larger need (train, 100 clips) on the stopped folder resumes past 10 the same way
    out2 = tmp_path / "source2"
    shutil.copytree(stopped[0], out2)
    res = tvb76_run(tvb76_cache, out2, *RUN, "--dataset", "train")
    assert res.returncode == 0, res.stdout[-3000:]
    for r in range(2, 6):
        assert markers(out2, r) == markers(published[0], r)


@pytest.mark.interrupts
def test_a_kill_between_two_mean_iterations_resumes_to_the_same_files(stopped, published, tvb76_cache, tmp_path):
    """SIGKILL the run once region 2's first marker exists (between its mean iterations 0 and 1), then resume."""
    out = tmp_path / "source"
    layout = Layout(out)
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--progress", "none", *map(str, RUN), "--dataset", "test"]
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not layout.marker(0, 2).is_file():  # a state, not a time: mean iteration 0 of region 2 is done
            assert proc.poll() is None, "the run ended before region 2's first marker"
            assert time.monotonic() < deadline, "region 2's first marker never appeared"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    res = tvb76_run(tvb76_cache, out, *RUN, "--dataset", "test")
    assert res.returncode == 0, res.stdout[-3000:]
    for r in range(2, 6):
        assert markers(out, r) == markers(stopped[0], r), r
    a, b = mat_arrays(out / "nmm_spikes" / "a2"), mat_arrays(stopped[0] / "nmm_spikes" / "a2")
    assert a.keys() == b.keys()
    for name in b:
        assert np.array_equal(a[name]["data"], b[name]["data"]), name
    assert not any((out / "raw_nmm").iterdir())


def test_mixed_lanes_give_each_unit_its_output_alone(template76, tmp_path):
    """One pass of units of 4 regions writes, for each unit, the raw pieces it gets alone: bit for bit."""
    units = [(2, 0), (5, 1), (40, 2), (71, 0)]
    together = Layout(tmp_path / "together")
    gen.simulate_units(template76, together, units, 1.5, 0.5, 3.5, 11, progress_mode="none", engine="fast")
    for r, m in units:
        alone = Layout(tmp_path / f"alone_{r}_{m}")
        gen.simulate_units(template76, alone, [(r, m)], 1.5, 0.5, 3.5, 11, progress_mode="none", engine="fast")
        for a, b in zip(together.raw_pieces(r, m, 3), alone.raw_pieces(r, m, 3)):
            x, y = loadmat(a), loadmat(b)
            assert x["data"].dtype == np.float32 and x["data"].shape == (1000, 76)
            assert np.array_equal(x["data"], y["data"]), f"unit {r}:{m} piece {a.name} differs"
            assert np.array_equal(x["A"], y["A"]) and x["A"].ravel()[r] == 3.5
            assert int(x["seed"].ravel()[0]) == science.simulation_seed(11, r, m)
    # and the units are really different simulations (different regions excitable, other seeds)
    first = [loadmat(together.raw_pieces(r, m, 3)[2])["data"] for r, m in units]
    assert not any(np.array_equal(first[0], other) for other in first[1:])


def test_units_option_rejects_bad_input(tvb76_dir, tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "generate_tvb_data.py"), "--anatomy", str(tvb76_dir),
                          "--output", str(tmp_path), "--units", "3:7"], capture_output=True, text=True)
    assert res.returncode == 2 and "REGION:MEAN_ITERATION" not in res.stderr and "mean iteration" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = subprocess.run([sys.executable, str(REPO / "generate_tvb_data.py"), "--anatomy", str(tvb76_dir),
                          "--output", str(tmp_path), "--units", "80:0"], capture_output=True, text=True)
    assert res.returncode == 2 and "80" in res.stderr and "outside" in res.stderr, res.stderr
    assert not (tmp_path / "raw_nmm").exists()


def test_judge_counts_a_region_that_stopped_as_done(stopped):
    out, _ = stopped
    layout = Layout(out)
    for r in range(2, 6):
        made = markers(out, r)
        total = made[max(made)]
        as_made = judge(layout, r, None)
        assert as_made.current and as_made.clips == total
        test_rule = judge(layout, r, None, needed=10.0)
        assert test_rule.current
        all_rule = judge(layout, r, None, needed=float("inf"))
        assert all_rule.current == (len(made) == 3)
        if len(made) < 3:
            assert all_rule.todo == tuple(range(len(made), 3)) and all_rule.clips == total
            assert as_made.not_needed == all_rule.todo
            assert as_made.not_needed_text() == (
                f"mean iteration{'s' if len(all_rule.todo) > 1 else ''} "
                f"{', '.join(map(str, all_rule.todo))} not needed (10 clips reached)")


TRAINER_READS = ("selected_region", "nmm_idx", "random_samples", "current_snr", "scale_ratio", "mag_change")


@pytest.fixture(scope="module")
def whole_template(tvb76_cache, tmp_path_factory):
    """All 76 regions with --dataset test at 8 s (some regions reach 10 clips early), then the same folder
    completed with --mean-iterations all; step 4 and the pack run at the end of each."""
    import shutil
    root = tmp_path_factory.mktemp("step4_needed_all")
    needed, complete = root / "needed", root / "all"
    args = ("--start_region", 0, "--end_region", 76, "--sim-length", 8, "--piece-length", 8, "--dataset", "test")
    res = tvb76_run(tvb76_cache, needed, *args)
    assert res.returncode == 0 and "Synthetic source: done" in res.stdout, res.stdout[-3000:]
    shutil.copytree(needed, complete)
    more = tvb76_run(tvb76_cache, complete, *args, "--mean-iterations", "all")
    assert more.returncode == 0 and "Synthetic source: done" in more.stdout, more.stdout[-3000:]
    return needed, complete


def test_step4_and_the_pack_are_the_same_with_needed_or_all(whole_template):
    needed, complete = whole_template
    early = [r for r in range(76) if len(markers(needed, r)) < 3]
    assert early, "at 8 s some tvb76 regions have 10 clips after one or two mean iterations"
    assert all(len(markers(complete, r)) == 3 for r in range(76))
    assert any(markers(complete, r)[2] > markers(needed, r)[max(markers(needed, r))] for r in early), \
        "--mean-iterations all made more clips for a region that stopped"
    a, b = loadmat(needed / "test_sample_source1.mat"), loadmat(complete / "test_sample_source1.mat")
    for name in TRAINER_READS + ("sensor_snr",):
        assert np.array_equal(a[name], b[name]), f"{name} differs"
    import h5py
    with h5py.File(needed / "test_sample_nmm.h5", "r") as x, h5py.File(complete / "test_sample_nmm.h5", "r") as y:
        assert x["data"].shape == y["data"].shape and np.array_equal(x["data"][:], y["data"][:])


def test_verify_passes_on_a_folder_that_stopped_early(whole_template, tvb76_cache):
    needed, _ = whole_template
    res = tvb76_run(tvb76_cache, needed, "--verify", "--dataset", "test")
    assert res.returncode == 0, res.stdout[-3000:]
    early = [r for r in range(76) if len(markers(needed, r)) < 3]
    assert (f"76 regions, {sum(markers(needed, r)[max(markers(needed, r))] for r in range(76))} clips; "
            f"{len(early)} regions stopped early (later mean iterations not needed") in res.stdout, res.stdout
