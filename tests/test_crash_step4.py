"""Step 4 and the pack killed with SIGKILL at random moments, re-run until done: the same files.

The inputs are small synthetic clips for every tvb76 region (conftest.write_step4_inputs), so step 4
(test mode, scale ratios in one process per core) and the pack take a few seconds; the kills land in
the plan, ratio and finish stages and in the pack.
"""

import os
import random
import signal
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import REPO, assert_same_arrays, descendants, process_alive, write_step4_inputs

pytestmark = pytest.mark.interrupts  # .ci/run runs these again on a loaded machine

KILLS = 8
SEED = int(os.environ.get("CRASH_SEED", "20261125"))


def _command(tvb76_dir, out):
    return [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--synthesis-only", "--dataset", "test",
            "--anatomy", str(tvb76_dir), "--output", str(out)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("step4_inputs") / "source"
    write_step4_inputs(folder / "nmm_spikes", 76, seed=11)
    return folder


@pytest.mark.slow
def test_step4_and_pack_survive_sigkill(inputs, tvb76_dir, tmp_path):
    reference = tmp_path / "reference"
    shutil.copytree(inputs, reference)
    t0 = time.monotonic()
    res = subprocess.run(_command(tvb76_dir, reference), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout[-3000:]
    duration = time.monotonic() - t0

    out = tmp_path / "out"
    shutil.copytree(inputs, out)
    rng = random.Random(SEED)
    kills, attempts, restarts = [], 0, 0
    while True:
        attempts += 1
        assert attempts < 40, f"no complete run after {attempts} attempts: {kills}"
        proc = subprocess.Popen(_command(tvb76_dir, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        if len(kills) < KILLS:
            target = "octave" if len(kills) % 3 == 2 else "orchestrator"
            time.sleep(rng.uniform(0.2, duration))
            below = descendants(proc.pid)
            if target == "octave":
                octaves = [p for p in below if b"octave" in open(f"/proc/{p}/cmdline", "rb").read()] \
                    if below else []
                victim = octaves[0] if octaves else proc.pid
                target = "octave" if octaves else "orchestrator"
            else:
                victim = proc.pid
            if proc.poll() is None:
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills.append(target)
                except ProcessLookupError:
                    pass
            if target == "orchestrator" and kills and kills[-1] == "orchestrator":
                proc.wait()
                deadline = time.monotonic() + 10
                while any(process_alive(p) for p in below) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert not any(process_alive(p) for p in below), "a step-4 process outlived the orchestrator"
        if proc.wait(timeout=600) == 0:
            if len(kills) >= KILLS:
                break
            # finished before the kill: start the work over, so that every kill lands in step 4 or the pack
            (out / "test_sample_source1.mat").unlink()
            (out / "test_sample_nmm.h5").unlink()
            restarts += 1
    print(f"step 4 crash test (seed {SEED}): {len(kills)} kills ({kills.count('octave')} of Octave), "
          f"{attempts} attempts ({restarts} finished before their kill and were started over), "
          f"uninterrupted run {duration:.1f} s")

    assert_same_arrays(out / "test_sample_source1.mat", reference / "test_sample_source1.mat")
    with h5py.File(out / "test_sample_nmm.h5") as got, h5py.File(reference / "test_sample_nmm.h5") as want:
        assert np.array_equal(got["data"][()], want["data"][()])
    left = [p.name for p in out.rglob("*") if p.name.startswith(".tmp_") or "_job" in p.name]
    assert left == [], left
    assert not list((out / "claims").glob("*"))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["step4-started", "pack-row"])
def test_sigterm_during_step4_or_the_pack_stops_cleanly_and_resumes(inputs, tvb76_dir, tmp_path, point):
    """SIGTERM while step 4 starts, or while the pack writes its rows (held there by the test hook):
    exit 128 + SIGTERM, nothing half-written, and the same command then makes both files."""
    from conftest import Hold
    out = tmp_path / "out"
    shutil.copytree(inputs, out)
    hold = Hold(tmp_path / "hold", point)
    proc = subprocess.Popen(_command(tvb76_dir, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, env=dict(os.environ, **hold.env))
    hold.wait(proc)
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, text[-3000:]
    assert "Stopped by SIGTERM" in text and "Traceback" not in text, text[-3000:]
    assert (out / "test_sample_source1.mat").exists() == (point == "pack-row"), text[-3000:]
    assert not (out / "test_sample_nmm.h5").exists()
    left = [p.name for p in out.rglob("*") if p.name.startswith(".tmp_") or "_job" in p.name]
    assert left == [] and not list((out / "claims").glob("*")), left

    hold.release()
    res = subprocess.run(_command(tvb76_dir, out), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "Clip pack: done" in res.stdout, res.stdout[-3000:]
    with h5py.File(out / "test_sample_nmm.h5") as f:
        assert f["data"].shape[0] > 0
