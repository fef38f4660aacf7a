"""Against a real SLURM (issue 14): job arrays, scancel and time limits mid-region.

A one-node SLURM is started on this machine by ``bench/slurm/local_slurm.sh`` (SLURM and MUNGE
from the distribution's packages, daemons started without systemd) once per session, and stopped
at the end when this session started it. Nothing is mocked: the jobs are the README's job script
``slurm/deepsif_array.sbatch``, run by slurmd, and SLURM itself sends the SIGTERM (``scancel``, the
time limit) and the SIGKILL after ``KillWait`` (5 s; the jobs' ``DEEPSIF_PIPELINE_STOP_GRACE`` is 2 s).

Every test processes tvb76 regions 2-5 (3 x 3 simulated s, 1 s pieces, ``--dataset test``) in an
output folder where every other region of the template already has its markers with no clip, so
that the task completing the last region of the range runs step 4 and the pack for real (the
markers are written here as step 2 writes those of a region without a clean spike). The files
must equal those of one local run of the same command, array by array.

Without root (or when the daemons cannot start) the tests are skipped with the reason, unless
``DEEPSIF_REQUIRE_SLURM=1``, which makes that a failure. Run them alone with
``.venv/bin/python -m pytest -m slurm tests/test_slurm.py``.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from conftest import REPO, Hold, assert_same_arrays, tvb76_run
from deepsif_pipeline.run.verify import check_manifest
from deepsif_pipeline import science
from deepsif_pipeline.head.anatomy import load_template
from deepsif_pipeline.head.leadfields import template_leadfield
from deepsif_pipeline.config.options import region_slice
from deepsif_pipeline.store.fingerprint import canonical
from deepsif_pipeline.store.layout import Layout, compact_ranges
from deepsif_pipeline.config.settings import Settings
from deepsif_pipeline.steps import extract

LOCAL_SLURM = REPO / "bench" / "slurm" / "local_slurm.sh"
JOB_SCRIPT = REPO / "slurm" / "deepsif_array.sbatch"
START, END = 2, 6
REGIONS = tuple(range(START, END))
SETTINGS = ("--sim-length", 3, "--piece-length", 1, "--dataset", "test")
STOP_GRACE = "2"  # seconds; below the local SLURM's KillWait of 5 s
JOB_TIMEOUT = 300.0  # seconds for any job of these tests to end


def test_region_slices_cover_the_range_once():
    for start, end in ((0, 994), (2, 6), (5, 6), (0, 7)):
        for n in range(1, min(end - start, 9) + 1):
            slices = [region_slice(start, end, (i, n)) for i in range(n)]
            assert sum(slices, []) == list(range(start, end)), (start, end, n)
            assert max(map(len, slices)) - min(map(len, slices)) <= 1 and min(map(len, slices)) >= 1


# ---------------------------------------------------------------------------
# the local SLURM


@pytest.fixture(scope="session")
def slurm():
    """The environment to run SLURM commands with (``SLURM_CONF`` of the running local SLURM)."""
    required = os.environ.get("DEEPSIF_REQUIRE_SLURM") == "1"

    def unavailable(why):
        if required:
            pytest.fail(f"{why} (DEEPSIF_REQUIRE_SLURM=1)")
        pytest.skip(f"{why}; DEEPSIF_REQUIRE_SLURM=1 makes this a failure")

    if os.geteuid() != 0:
        unavailable("the SLURM tests start SLURM's daemons and need root (bench/slurm/local_slurm.sh)")
    try:
        res = subprocess.run(["bash", str(LOCAL_SLURM), "start"], capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        unavailable("bench/slurm/local_slurm.sh start did not finish in 10 minutes")
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
        unavailable(f"the local SLURM did not start: {last}")
    conf = re.search(r"export SLURM_CONF=(\S+)", res.stdout).group(1)
    env = dict(os.environ, SLURM_CONF=conf)
    yield env
    if "already running" not in res.stdout:
        subprocess.run(["bash", str(LOCAL_SLURM), "stop"], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def _slurm(env, *cmd):
    res = subprocess.run(list(map(str, cmd)), env=env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))}: {res.stdout}{res.stderr}"
    return res.stdout


def _job_env(slurm, tvb76_cache, **extra):
    """What the jobs inherit from sbatch: the template cache, this checkout and its Python, the grace."""
    return dict(slurm, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache), DEEPSIF_REPO=str(REPO), DEEPSIF_PYTHON=sys.executable,
                DEEPSIF_PIPELINE_STOP_GRACE=STOP_GRACE, **extra)


def _sbatch(env, *args):
    """Submit; the job id."""
    return _slurm(env, "sbatch", "--parsable", *args).strip().split(";")[0]


def _states(env, job):
    """``{array task id or job id: JobState}`` of every task of ``job`` (finished ones included)."""
    res = subprocess.run(["scontrol", "-o", "show", "job", job], env=env, capture_output=True, text=True, timeout=60)
    states = {}
    for line in res.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        states[fields.get("ArrayTaskId", fields["JobId"])] = fields["JobState"]
    return states


def _wait(env, *jobs, timeout=JOB_TIMEOUT):
    """Wait until every job (every task of an array) has ended; ``{job: {task: state}}``."""
    deadline = time.monotonic() + timeout
    while True:
        states = {job: _states(env, job) for job in jobs}
        if all(s and not any(v in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED") for v in s.values())
               for s in states.values()):
            return states
        assert time.monotonic() < deadline, f"jobs still running after {timeout} s: {states}"
        time.sleep(0.5)


def _wait_for_line(path, text, timeout=JOB_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (path.is_file() and text in path.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"no {text!r} in {path} after {timeout} s"
        time.sleep(0.02)


def _array(env, out, logs, *sbatch_options, options=()):
    """Submit the job script as an array over REGIONS into ``out`` (orchestrator ``options`` added); the job id."""
    logs.mkdir(parents=True, exist_ok=True)
    return _sbatch(env, *sbatch_options, f"--output={logs}/task_%A_%a.out", str(JOB_SCRIPT), "--anatomy", "tvb76",
                   "--output", str(out), "--start_region", START, "--end_region", END, *SETTINGS, "--progress", "none",
                   *options)


# ---------------------------------------------------------------------------
# the folder and the reference


def _prefill(out, tvb76_dir):
    """Markers with no clip for every region outside REGIONS, as step 2 writes them for a region without spikes."""
    settings = Settings(sim_length=3.0, piece_length=1.0, dataset="test")
    fingerprint = canonical(extract.fingerprint(settings, load_template(tvb76_dir), template_leadfield(load_template(tvb76_dir))))
    layout = Layout(out)
    for m in science.MEAN_ITERATIONS:
        layout.marker(m, 0).parent.mkdir(parents=True, exist_ok=True)
        for r in set(range(76)) - set(REGIONS):
            savemat(layout.marker(m, r), {"num_spike": 0.0, "spike_time": np.zeros((1, 0)), "seed": 0.0,
                                          "fingerprint": fingerprint})
    return out


@pytest.fixture(scope="session")
def prefilled(tvb76_dir, tmp_path_factory):
    return _prefill(tmp_path_factory.mktemp("prefilled") / "out", tvb76_dir)


@pytest.fixture(scope="session")
def reference(tvb76_cache, prefilled, tmp_path_factory):
    """One local run of REGIONS, with step 4 and the pack, in a copy of the prefilled folder."""
    out = tmp_path_factory.mktemp("slurm_reference") / "out"
    shutil.copytree(prefilled, out)
    res = tvb76_run(tvb76_cache, out, "--start_region", START, "--end_region", END, *SETTINGS)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "Synthetic source: done" in res.stdout and "Clip pack: done" in res.stdout, res.stdout[-3000:]
    return out


def _copy(prefilled, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(prefilled, out)
    return out


def _leftovers(out):
    """Temporary files, claims, raw folders and step-2 job files left in an output folder."""
    found = [p for p in out.rglob(".tmp_*")] + list(out.rglob("*_job*.mat"))
    found += list((out / "claims").glob("*")) if (out / "claims").is_dir() else []
    found += list((out / "raw_nmm").glob("a*")) if (out / "raw_nmm").is_dir() else []
    return sorted(str(p.relative_to(out)) for p in found)


def _assert_equals_reference(out, reference):
    """Clips, markers, step-4 file and pack equal the local run's; nothing left over; the manifest agrees."""
    assert_same_arrays(out / "nmm_spikes", reference / "nmm_spikes")
    assert_same_arrays(out / "test_sample_source1.mat", reference / "test_sample_source1.mat")
    with h5py.File(out / "test_sample_nmm.h5") as got, h5py.File(reference / "test_sample_nmm.h5") as ref:
        assert got.keys() == ref.keys()
        for key in ref:
            assert np.array_equal(got[key][()], ref[key][()]), key
    assert _leftovers(out) == []
    assert check_manifest(Layout(out)) == []


def _runs_log(out):
    return (out / "logs" / "runs.log").read_text()


def _assert_each_region_done_once(out):
    runs = _runs_log(out)
    for r in REGIONS:
        assert len(re.findall(rf" region {r}: done ", runs)) == 1, runs
    assert len(re.findall(r"step 4: done", runs)) == 1, runs


# ---------------------------------------------------------------------------
# the tests


@pytest.mark.slurm
def test_two_task_array_equals_one_local_run(slurm, tvb76_cache, prefilled, reference, tmp_path):
    """Two array tasks, one slice each; the task that completes the last region runs step 4 and the pack."""
    out, logs = _copy(prefilled, tmp_path), tmp_path / "logs"
    env = _job_env(slurm, tvb76_cache)
    job = _array(env, out, logs, "--array=0-1")
    states = _wait(env, job)[job]
    texts = {t: (logs / f"task_{job}_{t}.out").read_text() for t in ("0", "1")}
    assert states == {"0": "COMPLETED", "1": "COMPLETED"}, (states, texts)
    assert "slice 0/2 of regions 2..5: regions 2-3" in texts["0"] and "Successful regions: 2 (2-3)" in texts["0"]
    assert "slice 1/2 of regions 2..5: regions 4-5" in texts["1"] and "Successful regions: 2 (4-5)" in texts["1"]
    assert sum("Synthetic source: done" in t for t in texts.values()) == 1, texts
    _assert_equals_reference(out, reference)
    _assert_each_region_done_once(out)


@pytest.mark.interrupts
@pytest.mark.slurm
def test_requeued_task_and_step4_as_a_dependent_job(slurm, tvb76_cache, prefilled, reference, tmp_path):
    """The other way: tasks with --skip-synthesis, step 4 and the pack in a job that starts once all succeeded.

    Task 0 runs with --requeue and is requeued (``scontrol requeue``, as a preemption does) while region 3
    is in step 1: SLURM stops it with SIGTERM and starts it again by itself; the dependent job waits for it.
    """
    out, logs = _copy(prefilled, tmp_path), tmp_path / "logs"
    hold = Hold(tmp_path / "hold", "step1-piece-written@3")  # region 3 waits in step 1 (test hook)
    env = _job_env(slurm, tvb76_cache, **hold.env)
    # held until the dependent job is in the queue
    job = _array(env, out, logs, "--array=0-1", "--hold", "--requeue", "--open-mode=append",
                 options=("--skip-synthesis",))
    step4 = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--synthesis-only", "--anatomy", "tvb76",
             "--output", str(out), *map(str, SETTINGS), "--progress", "none"]
    dependent = _sbatch(env, f"--dependency=afterok:{job}", f"--output={logs}/step4_%j.out", "--wrap",
                        shlex.join(step4))
    _slurm(env, "scontrol", "release", job)
    hold.wait(what=lambda: _text(logs / f"task_{job}_0.out"))
    _slurm(env, "scontrol", "requeue", f"{job}_0")
    _wait_for_line(logs / f"task_{job}_0.out", "Stopped by SIGTERM")  # the first run ended mid-region
    hold.release()  # the restarted task goes through
    states = _wait(env, job, dependent)
    text = (logs / f"task_{job}_0.out").read_text()
    assert states == {job: {"0": "COMPLETED", "1": "COMPLETED"}, dependent: {dependent: "COMPLETED"}}, states
    first, again = text.split("restart 1)")
    assert "DUE TO JOB REQUEUE" in first and "Stopped by SIGTERM" in first, first[-3000:]
    # regions 2 and 3 share the task's step-1 passes: both were in step 1
    assert "Interrupted: 2 (2-3)" in first and "Successful regions: 0" in first, first[-3000:]
    assert "Successful regions: 2 (2-3)" in again, again[-3000:]
    text = (logs / f"step4_{dependent}.out").read_text()
    assert "Synthetic source: done" in text and "Clip pack: done" in text, text
    _assert_equals_reference(out, reference)
    _assert_each_region_done_once(out)
    assert "region 3: interrupted" in _runs_log(out)


def _text(log):
    return log.read_text(errors="replace") if log.is_file() else f"no {log}"


def _resubmit(env, out, logs, tasks, slices):
    """Submit ``tasks`` of the array again (as a user re-submits a cancelled task); wait; the job and its texts."""
    job = _array(dict(env, SLICES=str(slices)), out, logs, f"--array={tasks}")
    states = _wait(env, job)[job]
    texts = {t: (logs / f"task_{job}_{t}.out").read_text() for t in states}
    assert set(states.values()) == {"COMPLETED"}, (states, texts)
    return job, texts


def _assert_stopped_cleanly(out, text, regions, held=3):
    """A task stopped by SLURM's SIGTERM while ``regions`` ran (sharing their step-1 passes), ``held`` at a
    hold point: its summary, no half-written file, no claim."""
    assert "SIGTERM received: stopping the running steps" in text and "Stopped by SIGTERM" in text, text[-3000:]
    assert f"Interrupted: {len(regions)} ({compact_ranges(regions)})" in text and "Traceback" not in text, \
        text[-3000:]
    assert [p for p in _leftovers(out) if not any(p.startswith(f"raw_nmm/a{r}") for r in regions)] == [], \
        _leftovers(out)
    layout = Layout(out)
    assert not all(layout.marker(m, held).is_file() for m in science.MEAN_ITERATIONS)
    assert not (out / "test_sample_source1.mat").exists()
    assert "stopped by SIGTERM" in _runs_log(out)


@pytest.mark.interrupts
@pytest.mark.slurm
@pytest.mark.parametrize("step", ["step 1", "step 2"])
def test_scancel_of_a_task_mid_region_then_resubmitted(slurm, tvb76_cache, prefilled, reference, tmp_path, step):
    """scancel task 0 while region 3 is in step 1 (raw pieces being written) or in step 2 (Octave).

    Region 3 is held there by the test hook (a raw piece written; Octave running its job) until the
    task is cancelled, so the signal surely lands mid-region whatever the machine's speed. The
    step-2 case gives the jobs a grace of 0.01 s before the orchestrator's SIGKILL of Octave.
    """
    out, logs = _copy(prefilled, tmp_path), tmp_path / "logs"
    hold = Hold(tmp_path / "hold", "step1-piece-written@3" if step == "step 1" else "step2-started@3")
    env = _job_env(slurm, tvb76_cache, **hold.env)
    if step == "step 2":
        env["DEEPSIF_PIPELINE_STOP_GRACE"] = "0.01"
    job = _array(env, out, logs, "--array=0-1")
    log0 = logs / f"task_{job}_0.out"
    hold.wait(what=lambda: _text(log0))
    _slurm(env, "scancel", f"{job}_0")
    states = _wait(env, job)[job]
    hold.release()  # for the re-submitted task
    text = log0.read_text()
    assert states == {"0": "CANCELLED", "1": "COMPLETED"}, (states, text[-3000:])
    assert "Successful regions: 0" in text and "CANCELLED AT" in text, text[-3000:]
    _assert_stopped_cleanly(out, text, [2, 3])  # (task 0's regions share their step-1 passes)

    _, texts = _resubmit(env, out, logs, "0", 2)
    assert "Successful regions: 2 (2-3)" in texts["0"], texts["0"]
    assert "Synthetic source: done" in texts["0"] and "Clip pack: done" in texts["0"], texts["0"][-3000:]
    _assert_equals_reference(out, reference)
    _assert_each_region_done_once(out)


@pytest.mark.interrupts
@pytest.mark.slurm
def test_time_limit_mid_region_then_resubmitted(slurm, tvb76_cache, prefilled, reference, tmp_path):
    """A task over its --time of 1 minute: SLURM's SIGTERM mid-region, SIGKILL 5 s later (KillWait).

    slurmctld checks the time limits every 30 s, so a 1-minute job ends 60-90 s after it started.
    Region 3 is held in step 1 (a raw piece written) by the test hook until SLURM ends the job: the
    time limit surely lands mid-region, whatever the machine's speed and slurmctld's timing. The job
    is the README's job script, regions 2-5 in one slice; the re-submitted task goes through.
    """
    out, logs = _copy(prefilled, tmp_path), tmp_path / "logs"
    hold = Hold(tmp_path / "hold", "step1-piece-written@3")
    env = _job_env(slurm, tvb76_cache, **hold.env)
    job = _array(dict(env, SLICES="1"), out, logs, "--array=0", "--time=1")
    log = logs / f"task_{job}_0.out"
    hold.wait(what=lambda: _text(log))
    assert _states(env, job) == {"0": "RUNNING"}, "region 3 is held while the job runs"
    states = _wait(env, job)[job]  # SLURM ends it at its limit; the region is still held
    text = log.read_text()
    assert states == {"0": "TIMEOUT"}, (states, text[-3000:])
    assert "DUE TO TIME LIMIT" in text, text[-3000:]
    assert "Successful regions: 0" in text and "Not started" not in text, text[-3000:]
    _assert_stopped_cleanly(out, text, [2, 3, 4, 5])  # (one worker holds the task's 4 regions)
    hold.release()

    _, texts = _resubmit(env, out, logs, "0", 1)
    assert "Successful regions: 4 (2-5)" in texts["0"], texts["0"][-3000:]
    assert "Synthetic source: done" in texts["0"], texts["0"][-3000:]
    _assert_equals_reference(out, reference)
    _assert_each_region_done_once(out)


def _job_of_pid(env, jobs, pid):
    """The SLURM job among ``jobs`` whose processes include ``pid`` (``scontrol listpids``), or None."""
    for job in jobs:
        res = subprocess.run(["scontrol", "listpids", job], env=env, capture_output=True, text=True, timeout=60)
        if str(pid) in {line.split()[0] for line in res.stdout.splitlines()[1:] if line.split()}:
            return job
    return None


@pytest.mark.interrupts
@pytest.mark.slurm
def test_dask_slurmcluster_loses_a_worker_job_mid_region(slurm, tvb76_cache, prefilled, reference, tmp_path):
    """The README's slurm/dask_slurm.py: a SLURMCluster of 2 single-core worker jobs; one is scancel'ed
    while it holds a region; the region is redone by the other, every region once, step 4 here."""
    pytest.importorskip("dask_jobqueue", reason="dask-jobqueue is not installed (pip install -r requirements.txt)")
    out, logs = _copy(prefilled, tmp_path), tmp_path / "logs"
    hold = Hold(tmp_path / "hold", "step1-piece-written")  # each region waits after its first raw piece
    env = _job_env(slurm, tvb76_cache, **hold.env)
    cmd = [sys.executable, str(REPO / "slurm" / "dask_slurm.py"), "--jobs", "2", "--cores", "1", "--walltime",
           "00:10:00", "--log-directory", str(logs), "--", "--anatomy", "tvb76", "--output", str(out),
           "--start_region", str(START), "--end_region", str(END), *map(str, SETTINGS), "--progress", "none"]
    client = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL)
    try:
        import json
        deadline = time.monotonic() + JOB_TIMEOUT
        victim = None
        while victim is None:  # a region held in step 1 by an orchestrator under a worker job, both workers up
            assert time.monotonic() < deadline and client.poll() is None, "no region was held on a worker"
            workers = _slurm(env, "squeue", "-h", "-n", "dask-worker", "-t", "RUNNING", "-o", "%i").split()
            if hold.reached and len(workers) == 2:
                region = int(hold.wait()[1])
                owner = json.loads((out / "claims" / f"region_{region}.claim").read_text())
                victim = _job_of_pid(env, workers, owner["pid"])
            time.sleep(0.1)
        _slurm(env, "scancel", victim)
        _wait(env, victim)
        hold.release()  # the other regions, and this one redone, go through
        text, _ = client.communicate(timeout=JOB_TIMEOUT)
    finally:
        hold.release()
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, text[-4000:]
    assert f"region {region}: done on worker" in text and "after 1 interrupted attempt" in text, text[-4000:]
    assert f"Successful regions: {len(REGIONS)} ({START}-{END - 1})" in text and "Synthetic source: done" in text
    assert _states(env, victim)[victim] == "CANCELLED"
    assert _slurm(env, "squeue", "-h", "-n", "dask-worker").strip() == "", "the worker jobs end with the run"
    _assert_equals_reference(out, reference)
    runs = _runs_log(out)
    assert f"region {region}: interrupted" in runs, runs
    _assert_each_region_done_once(out)
