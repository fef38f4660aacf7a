"""Stopping and resuming the orchestrator: signals, time limits, disk, damaged files, --status, run log.

Real runs on the built-in tvb76 template (regions 2-4, 3 x 3 simulated s, 1 s pieces), compared
array by array with one uninterrupted run of the same command.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import DEFAULT_SIGINT, REPO, Hold, assert_same_arrays, descendants, run_region, tvb76_run
from deepsif_pipeline.store import claims
from deepsif_pipeline.run.verify import check_manifest
from deepsif_pipeline.store.files import format_bytes
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.config.settings import Settings
from deepsif_pipeline.steps.simulate import raw_bytes

RANGE = ("--start_region", 2, "--end_region", 5, "--sim-length", 3, "--piece-length", 1, "--skip-synthesis")


@pytest.fixture(scope="session")
def reference(tvb76_cache, tmp_path_factory):
    """One uninterrupted run of RANGE; its output folder."""
    out = tmp_path_factory.mktemp("reference") / "out"
    res = tvb76_run(tvb76_cache, out, *RANGE)
    assert res.returncode == 0, res.stdout[-3000:]
    return out


def _leftovers(out):
    """Temporary files, claims and raw folders left in an output folder."""
    found = [str(p.relative_to(out)) for p in out.rglob(".tmp_*")]
    found += [str(p.relative_to(out)) for p in (out / "claims").glob("*")] if (out / "claims").is_dir() else []
    found += [str(p.relative_to(out)) for p in (out / "raw_nmm").glob("a*")] if (out / "raw_nmm").is_dir() else []
    return found + [str(p.relative_to(out)) for p in out.rglob("*_job*.mat")]


@pytest.mark.interrupts
@pytest.mark.slow
def test_sigterm_under_nohup_stops_cleanly_and_resumes(tvb76_cache, reference, tmp_path):
    """Regions 2-4 share their step-1 passes (one worker holds them all); SIGTERM once region 3's step 2 of
    mean iteration 0 runs: region 2 has its first marker then, region 4 only raw data."""
    out = tmp_path / "out"
    log = tmp_path / "pipeline.log"
    cmd = ["nohup", sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output",
           str(out), "--progress", "none", *map(str, RANGE)]
    hold = Hold(tmp_path / "hold", "step2-started@3")  # Octave runs region 3's step 2 (mean iteration 0)
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache), **hold.env))
    hold.wait(proc, what=log.read_text)
    running = descendants(proc.pid)
    assert running, "Octave runs for region 3"
    lay = Layout(out)
    assert lay.marker(0, 2).is_file() and not lay.marker(0, 4).is_file(), "regions in order within a pass"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    text = log.read_text()
    assert "SIGTERM received: stopping the running steps" in text
    assert "Stopped by SIGTERM" in text and "Re-run the same command to resume" in text
    assert "Interrupted: 3 (2-4)" in text and "Not started" not in text
    assert "Traceback" not in text
    assert not any(os.path.exists(f"/proc/{pid}") for pid in running), "children stopped with the run"
    assert not [p for p in _leftovers(out) if not p.startswith("raw_nmm")], _leftovers(out)
    assert "stopped by SIGTERM" in (out / "logs" / "runs.log").read_text()
    # the manifest lists what is done, and only that: no region is done yet
    assert check_manifest(Layout(out)) == []
    listed = (json.loads(lay.manifest.read_text())["clip_sets"].get("spikes", {}).get("regions", {})
              if lay.manifest.is_file() else {})  # (no manifest yet: nothing listed)
    assert list(listed) == []
    assert lay.marker(0, 2).is_file() and not lay.marker(1, 2).is_file(), "region 2's first mean iteration is kept"

    status = tvb76_run(tvb76_cache, out, "--status", "--start_region", 2, "--end_region", 5)
    assert status.returncode == 0, status.stdout
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("region 2 "))
    assert "partial" in line and "markers for mean iterations 0 of 0, 1, 2" in line, line
    assert "step 4 (train): waiting for 76 of 76 regions" in status.stdout, status.stdout

    again = tvb76_run(tvb76_cache, out, *RANGE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "mean iterations 0 already have markers; simulating 1, 2" in again.stdout
    assert_same_arrays(out / "nmm_spikes", reference / "nmm_spikes")
    assert _leftovers(out) == []
    assert check_manifest(Layout(out)) == []
    made = json.loads(Layout(out).manifest.read_text())["clip_sets"]["spikes"]
    assert list(made["regions"]) == ["2", "3", "4"] and made["settings"]["sim_length"] == 3.0


@pytest.mark.interrupts
@pytest.mark.slow
def test_ctrl_c_during_step2_stops_cleanly_and_resumes(tvb76_cache, reference, tmp_path):
    """SIGINT to the whole process group, as a Ctrl-C in a terminal: Octave and the orchestrator get it."""
    out = tmp_path / "out"
    cmd = [*DEFAULT_SIGINT, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--progress", "none", *map(str, RANGE)]
    hold = Hold(tmp_path / "hold", "step2-started@3")  # Octave runs region 3's step 2
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            stdin=subprocess.DEVNULL, env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache),
                                                               **hold.env))
    hold.wait(proc)
    os.killpg(proc.pid, signal.SIGINT)
    text = proc.stdout.read()
    assert proc.wait(timeout=60) == 128 + signal.SIGINT, text[-3000:]
    assert "Stopped by SIGINT" in text and "Interrupted: 3 (2-4)" in text and "Traceback" not in text
    assert not [p for p in _leftovers(out) if not p.startswith("raw_nmm")], _leftovers(out)
    assert len(list(Layout(out).raw_dir(3).glob("*.mat"))) == 3, "region 3's raw data (mean iteration 0) is kept"
    assert not Layout(out).marker(0, 3).is_file(), "the step 2 that was stopped wrote no marker"
    again = tvb76_run(tvb76_cache, out, *RANGE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert_same_arrays(out / "nmm_spikes", reference / "nmm_spikes")
    assert _leftovers(out) == []


@pytest.mark.interrupts
@pytest.mark.slow
def test_time_limits_fail_the_region_and_damaged_raw_is_simulated_again(tvb76_cache, reference, tmp_path):
    out = tmp_path / "out"
    lay = Layout(out)
    # a step 1 that cannot finish in 0.5 s: every region fails, the run goes on to the next
    res = tvb76_run(tvb76_cache, out, *RANGE, "--timeout-step1", 0.5)
    assert res.returncode == 1, res.stdout[-3000:]
    # named for what ran (the default engine is the fast one), with the log of the region
    for r in (2, 3, 4):
        assert (f"\u2717 Step 1 (fast engine) failed for region {r}: step 1 (fast engine) stopped at its time limit "
                f"(--timeout-step1), log {lay.region_log(r)}") in res.stdout
        assert "stopped after its time limit of 0.5 s" in lay.region_log(r).read_text()
    assert "TVB simulation" not in res.stdout
    assert "Failed regions: 3 (2-4)" in res.stdout

    # step 2 (Octave) stopped at its limit: raw data kept, a failure record, --status says so. Octave
    # ignores a SIGTERM while it starts, then runs its job (here well under a second) to the end; with
    # a limit and a grace before SIGKILL far shorter than Octave's start, no region gets its markers
    res = tvb76_run(tvb76_cache, out, *RANGE, "--timeout-step2", 0.01, env={"DEEPSIF_PIPELINE_STOP_GRACE": "0.01"})
    assert res.returncode == 1, res.stdout[-3000:]
    assert res.stdout.count("step 2 (GNU Octave) stopped at its time limit (--timeout-step2)") >= 3
    # (mean iteration 0 of each region: its step 2 failed, so the next is not simulated)
    assert all(len(list(lay.raw_dir(r).glob("*.mat"))) == 3 for r in (2, 3, 4)), "raw data kept"
    assert "stopped after its time limit of 0.01 s" in lay.region_log(3).read_text()
    assert "--timeout-step2" in lay.failure_record(3).read_text()
    status = tvb76_run(tvb76_cache, out, "--status", "--start_region", 2, "--end_region", 5)
    assert "region 3  failed" in status.stdout and str(lay.region_log(3)) in status.stdout, status.stdout
    assert "raw data present: 3 files" in status.stdout and "failed: 3 (2-4)" in status.stdout

    # damage two raw pieces: one cut short, one with garbage; only those are simulated again
    cut = lay.raw_dir(3) / "mean_iter_0_a_iter_3_1.mat"
    cut.write_bytes(cut.read_bytes()[:5000])
    (lay.raw_dir(4) / "mean_iter_0_a_iter_4_2.mat").write_bytes(b"\0" * 4096)
    assert not any(lay.marker(m, r).exists() for m in (0, 1, 2) for r in (2, 3, 4))
    res = tvb76_run(tvb76_cache, out, *RANGE, "--progress", "lines", "--verbose")  # step 1's lines shown here too
    assert res.returncode == 0, res.stdout[-3000:]
    assert "region 3 mean iteration 0 piece 2/3 written" in res.stdout
    assert "region 4 mean iteration 0 piece 3/3 written" in res.stdout
    assert "region 3 mean iteration 0 piece 2/3 written" in (out / "logs" / "region_3.log").read_text()
    assert "region 2 mean iteration 0: all 3 raw pieces already complete" in res.stdout
    written = [ln for ln in res.stdout.splitlines() if "mean iteration 0 piece" in ln and ln.endswith(" written")]
    assert len(written) == 2, f"only the damaged pieces of mean iteration 0 are simulated again: {written}"
    assert_same_arrays(out / "nmm_spikes", reference / "nmm_spikes")
    assert not any(lay.failure_record(r).exists() for r in (2, 3, 4))
    assert _leftovers(out) == []
    runs = (out / "logs" / "runs.log").read_text()
    assert runs.count(" start: ") == 3 and "region 3: done" in runs
    assert "tvb-library 2.10" in runs and "GNU Octave" in runs and "seed 20220425" in runs


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["clip", "marker"])
def test_damaged_files_are_repaired_by_the_printed_command(tvb76_cache, reference, tmp_path, damage):
    """A clip or a marker cut short: the run fails that region and prints the --redo command (not "re-run the
    same command"), --verify prints the same command, and that command makes exactly the damaged mean
    iteration and those after it again: the folder then equals the undamaged one, array by array."""
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    lay = Layout(out)
    region = max((2, 3, 4), key=lambda r: len(list(lay.clip_dir(r).glob("nmm_*.mat"))))
    victim = lay.clip(region, 1) if damage == "clip" else lay.marker(1, region)
    victim.write_bytes(victim.read_bytes()[:1000])
    untouched = {r: lay.marker(0, r).read_bytes() for r in (2, 3, 4) if r != region}
    res = tvb76_run(tvb76_cache, out, *RANGE)
    assert res.returncode == 1, res.stdout[-3000:]
    line = next(line for line in res.stdout.splitlines() if line.startswith(f"  region {region}: "))
    assert str(victim) in line and "--redo deletes its markers from mean iteration" in line, line
    assert "Re-run the same command" not in res.stdout
    lines = res.stdout.splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith(f"Damaged: 1 region ({region})"))
    command = shlex.split(lines[at + 1])
    assert command[command.index("--regions") + 1] == str(region) and "--redo" in command
    assert line.endswith(lines[at + 1].strip())  # the region's own line gives the same command
    # --verify prints it too
    check = tvb76_run(tvb76_cache, out, "--verify")
    row = next(text for text in check.stdout.splitlines() if str(victim) in text)
    assert row.endswith(f"make them again with: {lines[at + 1].strip()}"), row
    fixed = subprocess.run(command, env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert f"--redo: region {region}: " in fixed.stdout and f"STEP 1: Generating TVB data for region {region}" in fixed.stdout
    assert_same_arrays(out / "nmm_spikes", reference / "nmm_spikes")
    assert all(lay.marker(0, r).read_bytes() == made for r, made in untouched.items())  # other regions untouched
    assert _leftovers(out) == []


def test_disk_shortage_is_refused_before_anything_is_created(tvb76_cache, tmp_path):
    out = tmp_path / "out"
    args = ("--start_region", 0, "--end_region", 3, "--sim-length", 1e6, "--piece-length", 1e4)
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output",
                          str(out), *map(str, args), "--skip-synthesis"], capture_output=True, text=True,
                         env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)), stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stdout + res.stderr
    rate = Settings().raw_rate  # the default --raw-rate
    need = format_bytes(raw_bytes(76, 1e6, 1e4, rate))  # tvb76: 76 connectivity regions
    (line,) = res.stderr.strip().splitlines()
    # one worker holds the 3 regions at once (their mean iterations share its step-1 processes)
    assert line.startswith(f"error: not enough disk space for 3 regions at once: its raw data needs about "
                           f"{format_bytes(3 * raw_bytes(76, 1e6, 1e4, rate))}")
    assert "free; free some space" in line and not out.exists()
    plan = tvb76_run(tvb76_cache, tmp_path / "other", *args, "--dry-run", "--workers", 2)
    assert plan.returncode == 0, plan.stdout
    assert "steps 1-3: 3 regions (0-2)" in plan.stdout and f"raw data per region: {need}" in plan.stdout
    assert f"peak with 3 at once: {format_bytes(3 * raw_bytes(76, 1e6, 1e4, rate))}" in plan.stdout
    assert "step 4 (train): would wait for 73 of 76 regions this command does not make (3-75)" in plan.stdout
    assert not (tmp_path / "other").exists(), "a dry run creates nothing"


def test_disk_filled_during_a_run_starts_no_further_region(tvb76_dir, tmp_path, monkeypatch):
    """The guard of a running run: a region without room for its raw data fails and halts the run."""
    from deepsif_pipeline.run import disk, runner
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.results import Status
    from deepsif_pipeline.steps import Context
    ctx = Context(Settings(sim_length=3.0, piece_length=1.0), load_template(tvb76_dir), Layout(tmp_path / "out"))
    guard, halt = disk.DiskGuard(ctx.layout.output), runner.Halt()
    need = raw_bytes(76, 3.0, 1.0, ctx.settings.raw_rate)
    monkeypatch.setattr(disk, "free_bytes", lambda path: disk.with_margin(1.5 * need))  # room for one region
    assert guard.reserve(9, need) is None  # a region running beside
    result = run_region(ctx, 0, guard, halt)
    assert result.status is Status.FAILED and halt
    assert result.detail.startswith(f"not enough disk space for region 0: its raw data needs about "
                                    f"{format_bytes(need)} (+ {format_bytes(need)} for the regions running beside")
    assert halt.reason == "not enough disk space (region 0, above)"
    assert run_region(ctx, 1, guard, halt).status is Status.NOT_STARTED
    assert not ctx.layout.raw_root.exists() and not list(ctx.layout.claim_dir.glob("*"))
    guard.release(9)
    assert guard.reserve(0, need) is None


def test_status_names_the_claim_holder(tvb76_cache, tmp_path):
    out = tmp_path / "out"
    claim = claims.try_claim(out / "claims", "region_7")
    try:
        res = tvb76_run(tvb76_cache, out, "--status", "--start_region", 6, "--end_region", 9)
    finally:
        claim.release()
    assert res.returncode == 0, res.stdout
    assert f"region 7  running      claimed by {claims.machine()['host']}:{os.getpid()}" in res.stdout
    assert f"or as soon as process {os.getpid()} of this machine ends" in res.stdout  # how it is taken over
    assert "not started: 2 (6, 8)" in res.stdout and not (out / "logs").exists()


def test_region_claimed_on_another_host_says_when_and_how_it_is_taken_over(tvb76_cache, tmp_path):
    """A run killed on another host left its claim: the region is left to it, and the run says that the
    claim is taken over after claims.DEFAULT_STALE_AFTER without a heartbeat, and how to take it over now."""
    out = tmp_path / "out"
    owner = dict(claims.owner_record("region_7"), host="node17", boot_id="another-boot", pid=4242)
    path = claims.claim_path(out / "claims", "region_7")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(owner))
    beat = time.time() - 16  # its last heartbeat, 16 s ago
    os.utime(path, (beat, beat))
    res = tvb76_run(tvb76_cache, out, "--start_region", 7, "--end_region", 8, "--skip-synthesis")
    assert res.returncode == 0, res.stdout[-3000:]
    assert claims.DEFAULT_STALE_AFTER == 600
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("region 7 is being processed by node17:4242"))
    assert ": left to that run; a run takes it over by itself after 10 min without a heartbeat (in about 9 min 4" in line
    assert line.endswith(f"; if node17 is down, delete {path} to take it over now"), line
    summary = res.stdout[res.stdout.index("Being processed by another run: 1 (7)"):]
    assert summary.splitlines()[1].startswith("  region 7: being processed by node17:4242 (heartbeat 1"), summary
    assert "after 10 min without a heartbeat (in about 9 min 4" in summary.splitlines()[1]
    assert summary.splitlines()[1].endswith(f"if node17 is down, delete {path} to take it over now"), summary

    path.unlink()  # the advice works: the region is made now
    res = tvb76_run(tvb76_cache, out, "--start_region", 7, "--end_region", 8, "--skip-synthesis", "--sim-length", 2,
                    "--piece-length", 2)
    assert res.returncode == 0 and "Successful regions: 1 (7)" in res.stdout, res.stdout[-3000:]


def test_takeover_advice_on_this_machine_and_for_an_unreadable_claim(tmp_path):
    me = claims.owner_record("region_1")
    here = claims.ClaimInfo("region_1", tmp_path / "region_1.claim", me, 16.0, False, "heartbeat 16 s ago")
    assert claims.takeover_advice(here) == (f"a run takes it over by itself after 10 min without a heartbeat "
                                            f"(in about 9 min 44 s), or as soon as process {os.getpid()} of this "
                                            f"machine ends")
    unknown = claims.ClaimInfo("region_1", tmp_path / "region_1.claim", None, 590.0, False, "modified 590 s ago")
    assert claims.takeover_advice(unknown, stale_after=600).endswith(
        f"(in about 10 s); if that run is known to be dead, delete {tmp_path / 'region_1.claim'} to take it over now")


@pytest.mark.parametrize("args, needle", [
    (("--timeout-step2", -1), "argument --timeout-step2: must be 0 (no limit) or a number of seconds, got '-1'"),
    (("--status", "--start_region", 3), "--status takes both --start_region and --end_region"),
    (("--status", "--verify"), "--status only reports"),
])
def test_bad_new_options(tmp_path, tvb76_cache, args, needle):
    res = tvb76_run(tvb76_cache, tmp_path / "out", *(("--start_region", 0, "--end_region", 1) if "--status"
                                                     not in args else ()), *args)
    assert res.returncode == 2 and needle in res.stdout and "Traceback" not in res.stdout, res.stdout


@pytest.mark.interrupts
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tgkill is Linux only")
def test_sigterm_delivered_to_another_thread_stops_the_region(tvb76_cache, tmp_path):
    """A signal to a process may be delivered to any of its threads (SLURM's scancel reached a worker
    thread of the orchestrator): the main thread, which alone runs the handlers, must still stop the run
    at once, not when the running region ends."""
    import ctypes
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--progress", "none", *map(str, RANGE)]
    hold = Hold(tmp_path / "hold", "step1-piece-written@2")  # region 2's step 1 runs
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache), **hold.env))
    hold.wait(proc)
    seen = []
    threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
    assert threads, "the orchestrator runs its regions in threads"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(234, proc.pid, threads[0], signal.SIGTERM) == 0  # tgkill(tgid, tid, sig), x86-64
    text = "".join(seen) + proc.stdout.read()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, text[-3000:]
    assert "Interrupted: 3 (2-4)" in text and "Not started" not in text, text[-3000:]  # (one pass holds them)
    assert "Failed regions: 0" in text and "Traceback" not in text, text[-3000:]
