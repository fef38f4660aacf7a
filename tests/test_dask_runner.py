"""Regions as Dask tasks (deepsif_pipeline/dask_tasks.py, ``pipeline_orchestrator.py --scheduler``).

The slow tests run a real ``distributed.LocalCluster`` (worker processes with nannies, on
loopback) and the real pipeline on the built-in tvb76 template.
"""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from conftest import DEFAULT_SIGINT, REPO, Hold
from deepsif_pipeline.run import dask_tasks
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.results import Result, Status
from deepsif_pipeline.steps.extract import judge
from deepsif_pipeline.steps.simulate import logged_passes


def region_done(layout, region):
    """Every marker of the region and the clips they count (whatever settings made them)."""
    return judge(layout, region, None).current

SHORT = ["--sim-length", "2", "--piece-length", "2", "--progress", "none"]


def claim_holders(out):
    """The pids holding region claims in a folder."""
    holders = set()
    for path in (out / "claims").glob("region_*.claim"):
        try:
            holders.add(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            pass  # being written or removed
    return holders


def _arrays(root):
    """``{relative path: {variable: array}}`` of every MAT-file under root."""
    from scipy.io import loadmat
    return {str(p.relative_to(root)): {k: v for k, v in loadmat(p).items() if not k.startswith("__")}
            for p in sorted(Path(root).rglob("*.mat"))}


def _assert_same_arrays(found, expected):
    assert found.keys() == expected.keys() and any(k.startswith("a") for k in expected)
    for name, variables in expected.items():
        assert all(np.array_equal(found[name][v], a, equal_nan=a.dtype.kind == "f")
                   for v, a in variables.items()), name


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:  # a zombie is gone for our purpose
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _ancestors(pid):
    out = []
    while pid and pid > 1:
        pid = _parent(pid)
        if pid:
            out.append(pid)
    return out


def _group(pgid):
    """Live processes of process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _processes_mentioning(text):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and _alive(int(entry)):
                out.append((int(entry), cmdline))
    return out


# ---------------------------------------------------------------------------
# fast: result parsing, option forwarding, the guard


def test_results_are_the_file_the_group_run_wrote(tmp_path):
    path = tmp_path / "result.json"
    made = {"status": "failed", "detail": "step 1 (TVB simulation) failed", "clips": None, "seconds": 3.0}
    done = {"status": "done", "detail": "", "clips": 12, "seconds": 40.0}
    path.write_text(json.dumps({"regions": {"5": made, "6": done}}))
    assert dask_tasks.read_results(str(path), [5, 6], 1, "whatever was printed\n# Summary\n") == {5: made, 6: done}
    assert Result.from_json(made) == Result(Status.FAILED, "step 1 (TVB simulation) failed", None, 3.0)
    # a region the run did not write (it was stopped before): failed, with the exit status
    assert dask_tasks.read_results(str(path), [6, 7], 130, "")[7]["detail"] == \
        "the orchestrator was stopped by signal 2"


def test_results_without_a_result_file():
    refused = dask_tasks.read_results("/nonexistent", [3, 4], 2, "error: --end_region (3) must be greater\n")
    assert all("refused the region: --end_region" in refused[r]["detail"] for r in (3, 4))
    assert dask_tasks.read_results("/nonexistent", [3], 130, "STEP 1\n") == {3: {
        "status": "failed", "detail": "the orchestrator was stopped by signal 2", "clips": None, "seconds": 0.0}}
    assert dask_tasks.read_results("/nonexistent", [3], 1, "STEP 1\n")[3]["detail"] == \
        "the orchestrator exited with status 1 without a result"


@pytest.mark.parametrize("n, threads, lanes, size", [
    (994, 2, 4, 16),    # few threads, many regions: the largest groups, the fullest lanes
    (994, 32, 4, 16),   # 994 / 64 = 15.5: two tasks per thread
    (994, 128, 4, 4),   # 3.9 per task: never fewer than a pass's lanes
    (10, 2, 4, 4),
    (994, 0, 4, 8),     # no worker connected yet
    (994, 2, 1, 1),     # tvb-library: one region per task
])
def test_group_size(n, threads, lanes, size):
    assert dask_tasks.group_size(n, threads, lanes) == size


def test_groups_put_the_regions_done_apart():
    assert dask_tasks.make_groups([0, 2, 3, 5, 6], [1, 4], 2) == [[0, 2], [3, 5], [6], [1, 4]]
    assert dask_tasks.make_groups([], [1, 4], 4) == [[1, 4]]
    assert dask_tasks.group_label([3, 17, 40, 41]) == "3_17_40-41"
    assert dask_tasks.group_label([8, 9, 10, 11]) == "8-11"


def test_group_task_runs_again_only_its_regions_claimed_elsewhere(tmp_path):
    """A group's run finds region 5 claimed by a live run (a previous attempt still stopping): the task
    runs region 5 alone again, and returns every region's result; the log has one start and end line."""
    calls = tmp_path / "calls.txt"
    stand_in = tmp_path / "orchestrator.py"
    stand_in.write_text(textwrap.dedent(f"""
        import json, sys
        regions = [int(r) for r in sys.argv[sys.argv.index("--regions") + 1].split(",")]
        out = sys.argv[sys.argv.index("--result-file") + 1]
        with open({str(calls)!r}, "a") as fh:
            fh.write(",".join(map(str, regions)) + "\\n")
        first = open({str(calls)!r}).read().count("\\n") == 1
        made = {{str(r): {{"status": "elsewhere" if first and r == 5 else "done", "detail": "", "clips": r,
                          "seconds": 1.0}} for r in regions}}
        json.dump({{"regions": made}}, open(out, "w"))
        """))
    log = tmp_path / "logs" / "dask_regions_4-6.log"
    ran = dask_tasks.run_group_task([4, 5, 6], [str(stand_in)], str(log), "run1", dask_tasks.__file__,
                                     elsewhere_wait=30, result_path=str(tmp_path / "r_{tag}.json"))
    assert calls.read_text().splitlines() == ["4,5,6", "5"]
    assert {r: res["status"] for r, res in ran["results"].items()} == {4: "done", 5: "done", 6: "done"}
    assert ran["results"][5]["clips"] == 5 and ran["interrupted"] == 0
    text = log.read_text()
    assert text.count("regions 4-6 started") == 1 and "regions 5: claimed elsewhere, trying again" in text
    assert "regions 4-6 ended: 3 done (exit 0)" in text, text
    assert not list(tmp_path.glob("r_*.json")), "the result files are removed"


def _fake_worker(tmp_path, inner):
    """A process standing for a Dask worker: it starts the guard on ``inner`` and waits for it."""
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(f"""
        import os, subprocess, sys
        cmd = [sys.executable, {str(Path(dask_tasks.__file__))!r}, "--guard", str(os.getpid()), "3", "run1",
               "--", sys.executable, "-c", {inner!r}]
        print(subprocess.run(cmd).returncode, flush=True)
        """))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)


def test_guard_passes_the_exit_status(tmp_path):
    worker = _fake_worker(tmp_path, "import sys; sys.exit(3)")
    assert worker.communicate(timeout=60)[0].strip() == "3"


@pytest.mark.interrupts
def test_guard_stops_the_region_and_its_children_when_the_worker_dies(tmp_path):
    """SIGKILL the worker: the orchestrator (here a stand-in) gets SIGINT and may clean up; its own
    child, which ignores SIGINT, is SIGKILLed after the grace period; nothing is left."""
    pids = tmp_path / "pids.json"
    cleaned = tmp_path / "cleaned"
    inner = textwrap.dedent(f"""
        import json, os, signal, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
                                  "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"])
        open({str(pids)!r}, "w").write(json.dumps({{"orchestrator": os.getpid(), "step": child.pid}}))
        try:
            time.sleep(600)
        except KeyboardInterrupt:
            open({str(cleaned)!r}, "w").write("released the claim")
            time.sleep(600)  # then hangs: the guard kills it after the grace period
        """)
    worker = _fake_worker(tmp_path, inner)
    deadline = time.monotonic() + 30
    while not (pids.is_file() and pids.read_text()):
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.05)
    found = json.loads(pids.read_text())
    assert _parent(_parent(found["orchestrator"])) == worker.pid  # worker -> guard -> orchestrator
    worker.kill()
    worker.wait()
    deadline = time.monotonic() + 20
    while _alive(found["orchestrator"]) or _alive(found["step"]):
        assert time.monotonic() < deadline, "the region's processes outlived their worker"
        time.sleep(0.1)
    assert cleaned.is_file(), "the orchestrator got SIGINT first (its claim is released on the way out)"


# ---------------------------------------------------------------------------
# slow: a real LocalCluster, a real worker killed while it holds a region


@pytest.fixture
def local_cluster():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as client:
        yield cluster, client


def _reference(out, regions, env):
    """The same regions run locally, without Dask."""
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output",
                          str(out), "--start_region", str(regions[0]), "--end_region", str(regions[-1] + 1),
                          *SHORT, "--skip-synthesis", "--workers", "2"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return _arrays(out / "nmm_spikes")


@pytest.mark.interrupts
@pytest.mark.slow
def test_region_of_a_killed_worker_is_redone(tvb76_cache, tmp_path, local_cluster):
    """tvb76 regions 0-5 on a LocalCluster of 2 worker processes; a worker is SIGKILLed while it
    holds a region: the region is rescheduled and done, its first attempt's processes are gone,
    every region has its markers, no claim is left, and the clips equal a run without Dask."""
    cluster, client = local_cluster
    regions = list(range(6))
    out = tmp_path / "dask_out"
    hold = Hold(tmp_path / "hold", "step1-piece-written")  # every region waits after its first raw piece
    env = {"DEEPSIF_PIPELINE_CACHE": str(tvb76_cache), **hold.env}
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2

    killed = {}
    stop = threading.Event()

    def kill_a_worker_holding_a_region():
        """Once a region holds in step 1 (a piece written), SIGKILL its worker, then release the others."""
        try:
            _, region = hold.wait(timeout=300)
            path = out / "claims" / f"region_{region}.claim"
            owner = json.loads(path.read_text())
            chain = _ancestors(owner["pid"])
            hit = [p for p in chain if p in worker_pids]
            killed.update(region=int(region), worker=hit[0], orchestrator=owner["pid"], group=_group(owner["pid"]),
                          guard=chain[0])
            os.kill(hit[0], signal.SIGKILL)
        finally:
            hold.release()

    killer = threading.Thread(target=kill_a_worker_holding_a_region, daemon=True)
    killer.start()
    lines = []
    start = time.monotonic()
    command = [str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out), *SHORT,
               "--skip-synthesis"]
    try:
        results = dask_tasks.run_regions_on_dask(cluster.scheduler_address, regions, command, lines.append, out,
                                                  env=env, grace=5, lanes=4, group=3)
    finally:
        stop.set()
        killer.join()
    elapsed = time.monotonic() - start
    print("\n".join(lines), f"\ndask run: {elapsed:.1f} s; killed {killed}")

    assert killed, "no worker was killed while holding a region"
    r = killed["region"]
    assert sorted(results) == regions
    assert all(why.status is Status.DONE for q, why in results.items() if q != r), results
    assert results[r].status in (Status.DONE, Status.SKIPPED), results  # skipped if killed after its last marker
    assert all(region_done(Layout(out), q) for q in regions)
    assert not list((out / "claims").glob("*.claim")), "a claim was left behind"
    # the first attempt was stopped by its guard, nothing of it outlived the worker
    label = "0-2" if r < 3 else "3-5"  # its group (3 regions a task)
    log = (out / "logs" / f"dask_regions_{label}.log").read_text()
    assert log.count(f"regions {label} started") == 2, log[-3000:]
    assert "dask guard: " in log and "stopping the orchestrator" in log, log[-3000:]
    assert not any(_alive(p) for p in [killed["guard"], killed["orchestrator"], *killed["group"]])
    assert not _processes_mentioning(str(out))
    assert any(line.startswith(f"region {r}: ") and "after 1 interrupted attempt" in line for line in lines), lines
    assert len([line for line in lines if line.startswith("region ")]) == len(regions)
    # the same clips and markers as a run without Dask
    _assert_same_arrays(_arrays(out / "nmm_spikes"),
                        _reference(tmp_path / "local_out", regions, dict(os.environ, **env)))


@pytest.mark.slow
def test_orchestrator_scheduler_option(tvb76_cache, tmp_path, local_cluster):
    """``pipeline_orchestrator.py --scheduler``: progress per region, the usual summary, step 4 in
    the client waiting for the other regions; a re-run finds the regions done."""
    cluster, client = local_cluster
    out = tmp_path / "out"
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--start_region", "10", "--end_region", "12", *SHORT, "--scheduler", cluster.scheduler_address]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Dask scheduler tcp://127.0.0.1:" in res.stdout and "2 workers" in res.stdout
    assert "region 10: done on worker tcp://127.0.0.1:" in res.stdout
    assert "Successful regions: 2 (10-11)" in res.stdout and "Failed regions: 0" in res.stdout
    assert "Synthetic source: waiting" in res.stdout
    assert all(region_done(Layout(out), r) for r in (10, 11))
    # one task for both regions (2 regions, 2 threads): their mean iterations shared the step-1 passes
    assert "2 regions sent as 1 task of up to 4 regions" in res.stdout, res.stdout[-3000:]
    assert (out / "logs" / "dask_regions_10-11.log").is_file()
    assert logged_passes(out / "logs") == [{(10, m), (11, m)} for m in range(3)]
    assert not list((out / "logs").glob(".dask_run_*"))
    again = subprocess.run(cmd + ["--skip-synthesis"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "Already done, skipped: 2 (10-11)" in again.stdout, again.stdout[-3000:]


@pytest.mark.slow
def test_scheduler_run_shows_the_run_progress(tvb76_cache, tmp_path, local_cluster):
    """A Dask run prints the run-level progress line as a local run does: after each region, with the clips
    made so far (those on disk) and an estimate from the regions measured."""
    cluster, client = local_cluster
    out = tmp_path / "out"
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--start_region", "10", "--end_region", "12", *SHORT, "--progress", "lines", "--skip-synthesis",
           "--scheduler", cluster.scheduler_address]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("Progress: ")]
    assert len(lines) == 2, res.stdout[-3000:]
    assert lines[0].startswith("Progress: 1 of 2 regions done, 1 to do; ") and " left (" in lines[0], lines
    clips = len(list((out / "nmm_spikes").glob("a*/nmm_*.mat")))
    assert lines[1].startswith(f"Progress: 2 of 2 regions done; {clips} clip"), (lines, clips)
    # the line of each region comes first, then the progress line
    text = res.stdout
    assert min(text.index("region 10: "), text.index("region 11: ")) < text.index(lines[0]) < text.index(lines[1])


def test_scheduler_option_errors(tmp_path, tvb76_cache):
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    base = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output",
            str(tmp_path / "out")]
    for extra, needle in ((["--synthesis-only"], "does not go with --synthesis-only"),
                          (["--start_region", "0", "--end_region", "1", "--workers", "2"], "--workers is for local"),
                          (["--start_region", "0", "--end_region", "1"], "cannot reach the Dask scheduler")):
        res = subprocess.run(base + extra + ["--scheduler", "tcp://127.0.0.1:9"],
                             env=dict(env, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s"), capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 2 and needle in res.stderr, res.stdout[-2000:] + res.stderr


def test_workers_that_do_not_share_the_output_are_refused(tmp_path, monkeypatch):
    """A worker that does not see the run's files: refused before any region is sent."""
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        monkeypatch.setattr(dask_tasks, "_worker_sees", lambda paths: ("elsewhere", paths[:1]))
        with pytest.raises(dask_tasks.DaskSetupError, match="workers must share the output folder"):
            dask_tasks.run_regions_on_dask(cluster.scheduler_address, [0], [str(REPO / "x.py")],
                                            print, tmp_path / "out")


@pytest.fixture
def workers_hold_in_step1(tmp_path, monkeypatch):
    """Every region on the workers started after this waits after its first raw piece (test-only hold):
    the workers inherit the variables, so no region can end before the test acts."""
    hold = Hold(tmp_path / "hold", "step1-piece-written")
    for name, value in hold.env.items():
        monkeypatch.setenv(name, value)
    return hold


@pytest.mark.interrupts
@pytest.mark.slow
def test_ctrl_c_stops_the_regions_on_the_workers(tvb76_cache, tmp_path, workers_hold_in_step1, local_cluster):
    """SIGINT to ``pipeline_orchestrator.py --scheduler`` while regions run on the workers: the pending
    regions are cancelled, the running ones stopped (their guards SIGINT them, claims released),
    exit status 130, nothing of the run left."""
    cluster, client = local_cluster
    out = tmp_path / "out"
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    proc = subprocess.Popen([*DEFAULT_SIGINT, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output",
                             str(out), "--start_region", "20", "--end_region", "30", "--sim-length", "20",
                             "--piece-length", "10", "--progress", "none", "--scheduler", cluster.scheduler_address],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while len(claim_holders(out)) < 2:  # both workers run a task (4 regions each)
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    workers_hold_in_step1.wait(proc)  # a region is in step 1; none can end now
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, text[-3000:]
    assert "interrupted: 2 running tasks stopped on the workers" in text, text[-3000:]
    deadline = time.monotonic() + 30
    while _processes_mentioning(str(out)) or list((out / "claims").glob("*.claim")):
        assert time.monotonic() < deadline, (_processes_mentioning(str(out)),
                                             list((out / "claims").glob("*.claim")))
        time.sleep(0.2)
    logs = "".join(p.read_text() for p in (out / "logs").glob("dask_regions_*.log"))
    assert logs.count("dask guard: got SIGTERM: stopping the orchestrator") == 2
    assert not all(region_done(Layout(out), r) for r in range(20, 30))
