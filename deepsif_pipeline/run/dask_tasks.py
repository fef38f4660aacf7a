"""Regions as tasks of a Dask distributed cluster (``pipeline_orchestrator.py --scheduler``).

The orchestrator's process (the *client*) sends the regions to an existing
Dask scheduler as tasks of a few regions each (a *group*, see
:func:`group_size`). A task runs, on whichever worker gets it, the
orchestrator itself for its regions as a subprocess::

    python pipeline_orchestrator.py --regions 8,9,10,11,12,13,14,15 --skip-synthesis ...

with the same output folder (the workers share the client's file system, at
the same paths), so everything a local run does holds on the worker too:
markers, resuming, each region's claim (``deepsif_pipeline/store/claims.py``),
and the step-1 passes whose lanes carry mean iterations of up to
``fast_engine.LANES`` regions of the group at once (``runner.lane_worker``;
a task of one region would leave lanes computing nothing once its region
stops early). The subprocess's output is appended to
``OUTPUT/logs/dask_regions_{group}.log``. The run writes its regions' typed
results (``deepsif_pipeline.results.Result`` as JSON) to a file the task
names (``--result-file``); the task reads it and returns it, so no printed
text is parsed. The client prints one line per finished region and returns
``{region: Result}``; step 4 stays in the client, after all regions.

A worker that dies
------------------
The scheduler reschedules the tasks of a worker that died on another
worker (or on the same worker once its nanny restarted it). Dask counts
such a death against each task the worker was running and gives up on a
task after ``distributed.scheduler.allowed-failures`` deaths (default 3,
a setting of the *scheduler*): its future then raises ``KilledWorker``
and the region is reported failed. Dask's ``retries=`` is a different
thing: it re-runs a task that *raised* (here: only an unexpected error of
the task itself, e.g. the log could not be opened). Every task has its own
key (run id and regions), so no two tasks are ever merged (``pure=False``
in effect). A rescheduled group resumes its regions: mean iterations and
raw pieces already complete are kept.

When a worker process dies, its group's subprocess must not live on: it
would keep its regions' claims and keep writing raw files while the
rescheduled task redoes them. So the task does not start the
orchestrator directly but a small *guard* (this file run as a script,
``--guard``), whose parent is the worker process:

- the guard asks the kernel for ``SIGTERM`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, Linux; the signal is tied to the worker
  thread that started it, which waits for it) and also checks its parent
  pid twice a second (any POSIX system);
- it starts the orchestrator in a session of its own, so that the
  orchestrator and its step-1 and step-2 processes form one process group;
- on its parent's death (or ``SIGTERM``) it sends ``SIGINT`` to that group
  (the orchestrator stops like after Ctrl-C and removes its claim), waits
  up to ``grace`` seconds, then ``SIGKILL``s whatever is left of the group.

A claim that stays behind anyway (the whole machine died) is taken over as
the claims module says: at once on the same machine once its process is
gone, after 10 minutes without heartbeat from another machine. A
rescheduled task that finds some of its regions claimed by a live process
(the previous attempt still stopping) runs those again every few seconds
for up to ``elsewhere_wait`` seconds before it reports them 'elsewhere'.

Workers need the repository and its Python environment at the same paths as
the client, and the output folder (and the template folder) at the same
path. The task functions travel *by value* (cloudpickle bytes inside the
graph, unpickled on the worker), so neither the scheduler nor the workers
need to import ``deepsif_pipeline``; ``run_regions_on_dask`` checks, before
sending any region, that every connected worker sees the output folder and
the scripts.

Only the standard library is imported at the top: this file also runs as
the guard script, and ``distributed`` is imported when a run starts.
"""

import functools
import inspect
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
import uuid

GUARD_FLAG = "--guard"
PR_SET_PDEATHSIG = 1
DEFAULT_GRACE = 10.0  # seconds between SIGINT and SIGKILL of a dead worker's region
DEFAULT_ELSEWHERE_WAIT = 120.0  # seconds a task waits for its region's claim to be freed
TASK_MARK = "--- dask task"


class DaskSetupError(Exception):
    """The cluster cannot run the regions (unreachable, workers not sharing the folders): one line."""


# ---------------------------------------------------------------------------
# the guard (runs as a script on the worker's machine)


def _set_parent_death_signal(signum):
    """``prctl(PR_SET_PDEATHSIG, signum)`` on Linux; False elsewhere or on failure."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # (only on Linux, in the guard)
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def guard_main(argv):
    """``dask_runner.py --guard PARENT_PID GRACE RUN_ID -- COMMAND...``: run COMMAND, stop it with its parent.

    Returns the command's exit status (128 + N when killed by signal N), 143 when stopped.
    """
    parent, grace = int(argv[0]), float(argv[1])
    command = argv[argv.index("--") + 1:]
    state = {"child": None, "why": None}

    def stop(why):
        """First call: remember why and send SIGINT to the region's process group."""
        if state["why"] is None:
            state["why"] = why
            if state["child"] is not None:
                _signal_group(state["child"].pid, signal.SIGINT)

    def on_signal(signum, frame):
        stop(f"got {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at a `dask worker` terminal: the worker decides
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the worker died before prctl took effect
        stop(f"worker process {parent} gone")
    if state["why"] is not None:
        print(f"dask guard: {state['why']} before starting the region", file=sys.stderr, flush=True)
        return 143
    # its own session: the orchestrator and its steps are one process group; SIGINT as usual
    # (an ignored signal stays ignored across exec, and ours is; the guard has one thread)
    state["child"] = child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if state["why"] is not None:  # a signal came during Popen
        _signal_group(child.pid, signal.SIGINT)
    while True:
        try:
            status = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if state["why"] is not None:
                break
            if os.getppid() != parent:  # no PDEATHSIG (not Linux), or it was missed
                stop(f"worker process {parent} gone")
                break
    if state["why"] is None:
        if status < 0:
            print(f"dask guard: the orchestrator was killed by signal {-status}", file=sys.stderr, flush=True)
            return 128 - status
        return status
    # the worker died (or we were told to stop): SIGINT was sent, SIGKILL after the grace period
    print(f"\ndask guard: {state['why']}: stopping the orchestrator (pid {child.pid}) and its steps",
          file=sys.stderr, flush=True)
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"dask guard: still running after {grace:g} s: killing", file=sys.stderr, flush=True)
    _signal_group(child.pid, signal.SIGKILL)  # the orchestrator and anything left in its group
    child.wait()
    return 143


# ---------------------------------------------------------------------------
# grouping the regions into tasks


MAX_GROUP_PASSES = 4  # a task holds at most 4 lane-fulls of regions (16 with the fast engine's 4 lanes)


def group_size(n_regions, threads, lanes):
    """Regions per task: enough to keep a step-1 process's lanes full, few enough to share the work.

    A task runs its regions ``lanes`` at a time and refills a lane when a
    region ends, so its lanes run empty only at the end of its group: the
    larger the group, the fuller the lanes (with half the regions stopping
    after one mean iteration and half after three, about 67% full for a
    group of 4 regions, 78% for 8, 87% for 16). The cluster's threads are
    kept busy by at least two tasks per thread. With one lane (tvb-library)
    a task is one region.

    Parameters
    ----------
    n_regions : int
        Regions of the run that need steps 1-3.
    threads : int
        Threads of the connected workers (0: none connected yet).
    lanes : int
        Units one step-1 process advances together (``runner.lanes_per_pass``).

    Returns
    -------
    int
        Between ``lanes`` and ``MAX_GROUP_PASSES * lanes`` (1 when ``lanes`` is 1).
    """
    if lanes <= 1:
        return 1
    if threads <= 0:  # no worker yet (an adaptive cluster starting): a middle size
        return 2 * lanes
    per_task = -(-n_regions // (2 * threads))
    return max(lanes, min(MAX_GROUP_PASSES * lanes, per_task))


def make_groups(todo, done, size):
    """The tasks' regions: groups of ``size``, the regions to process first, those already done after.

    Regions judged done still go to a worker (their run removes what a
    killed run may have left, under their claims) but do not take a
    group's lanes from regions that need them.

    Parameters
    ----------
    todo, done : sequence of int
    size : int

    Returns
    -------
    list of list of int
    """
    todo, done = list(todo), list(done)
    return [todo[i:i + size] for i in range(0, len(todo), size)] + \
           [done[i:i + size] for i in range(0, len(done), size)]


def group_label(regions):
    """``[8, 9, 10, 11]`` -> ``'8-11'``, ``[3, 17, 40, 41]`` -> ``'3_17_40-41'``: a group's name in file names."""
    from deepsif_pipeline.store.layout import compact_ranges  # (the guard script runs without the package)
    return compact_ranges(regions).replace(", ", "_")


# ---------------------------------------------------------------------------
# reading a group's run output


def read_results(path, regions, status, text):
    """The results of a group's run, as JSON (``Result.to_json``), from the file it wrote.

    A region missing from the file (the run wrote none: refused at once
    with exit status 2, killed, or crashed) gets a failed result saying
    so, with the run's last ``error:`` line.

    Parameters
    ----------
    path : str
        The ``--result-file`` given to the run.
    regions : sequence of int
        The regions it was given.
    status : int
        Its exit status.
    text : str
        What it printed (for the error line of a refusal).

    Returns
    -------
    dict
        ``{region: {'status': 'done' | 'skipped' | 'elsewhere' | 'failed' | ..., 'detail': ..., ...}}``.
    """
    try:
        with open(path) as fh:
            written = json.load(fh)["regions"]
    except (OSError, ValueError, KeyError, TypeError):
        written = {}
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    if status == 2 and errors:
        detail = f"the orchestrator refused the region: {errors[-1][len('error: '):]}"
    elif status > 128:
        detail = f"the orchestrator was stopped by signal {status - 128}"
    else:
        detail = f"the orchestrator exited with status {status} without a result"
    missing = {"status": "failed", "detail": detail, "clips": None, "seconds": 0.0}
    return {r: written.get(str(r), missing) for r in regions}


# ---------------------------------------------------------------------------
# on the worker: one group of regions


def run_group_task(regions, command, log_path, run_id, guard, probe=None, env=None, python=None,
                   grace=DEFAULT_GRACE, elsewhere_wait=DEFAULT_ELSEWHERE_WAIT, result_path="{tag}.json"):
    """The Dask task of a group of regions: the orchestrator for them (``--regions``), under the guard.

    Parameters
    ----------
    regions : list of int
    command : list of str
        ``[pipeline_orchestrator.py, --skip-synthesis, ...]`` (without the Python executable and the
        regions: ``--regions LIST`` is added).
    log_path : str
        Appended to: a start line, the orchestrator's output, an end line.
    run_id : str
        Identifies the client's run in the log lines and the guard's command line.
    guard : str
        Path of this file on the worker.
    probe : str, optional
        A file the client wrote in the output folder: the worker must see it (shared folder).
    env : dict, optional
        Variables set for the orchestrator on top of the worker's environment.
    python : str, optional
        Python executable (default: the worker's).
    result_path : str, optional
        Where the group's run writes its results: a ``str.format`` pattern with ``{tag}``, filled
        with this attempt's own tag (``Layout.task_result``).

    Returns
    -------
    dict
        ``regions``, ``results`` (``{region: Result as JSON}``, see :func:`read_results`),
        ``worker`` (address), ``host``, ``seconds``, ``interrupted`` (earlier attempts of this
        task in this run that never ended: their worker died).
    """
    started = time.time()
    host = socket.gethostname()
    try:
        from distributed import get_worker  # Dask: imported only on a worker
        worker = get_worker().address
    except Exception:  # run outside a worker (tests)
        worker = f"pid {os.getpid()}"
    regions = [int(r) for r in regions]
    info = {"regions": regions, "worker": worker, "host": host, "interrupted": 0}
    if probe is not None and not os.path.exists(probe):
        why = {"status": "failed", "detail": f"worker {worker} on {host} does not see the output folder "
                                             f"({os.path.dirname(os.path.dirname(probe))}); workers must share it"}
        return dict(info, seconds=0.0, results={r: why for r in regions})
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    label = group_label(regions)
    start_line = f"{TASK_MARK} {run_id} regions {label} started"
    end_line = f"{TASK_MARK} {run_id} regions {label} ended"
    try:
        earlier = log_path.read_text(errors="replace")
        info["interrupted"] = earlier.count(start_line) - earlier.count(end_line)
    except FileNotFoundError:
        pass
    python = python or sys.executable
    child_env = dict(os.environ, **(env or {}), PYTHONUNBUFFERED="1")
    deadline = time.monotonic() + elsewhere_wait
    pause = 2.0
    results, left = {}, regions
    with open(log_path, "ab") as log:
        log.write(f"\n{start_line} on worker {worker}, host {host}, pid {os.getpid()}, "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        while True:
            result_file = result_path.format(tag=f"{run_id}_{os.getpid()}_{uuid.uuid4().hex[:6]}")
            cmd = [python, guard, GUARD_FLAG, str(os.getpid()), repr(float(grace)), run_id, "--", python, *command,
                   "--regions", ",".join(map(str, left)), "--result-file", result_file]
            offset = log.tell()
            status = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=child_env).returncode
            log.flush()
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
            results.update(read_results(result_file, left, status, text))
            try:
                os.unlink(result_file)
            except OSError:
                pass
            left = [r for r in left if results[r]["status"] == "elsewhere"]
            if not left or time.monotonic() + pause > deadline:
                break
            # claimed by a live run: typically this group's previous attempt, still stopping
            log.write(f"{TASK_MARK} {run_id} regions {group_label(left)}: claimed elsewhere, trying again in "
                      f"{pause:g} s\n".encode())
            log.flush()
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
        seconds = time.time() - started
        counts = {}
        for res in results.values():
            counts[res["status"]] = counts.get(res["status"], 0) + 1
        log.write(f"{end_line}: {', '.join(f'{n} {k}' for k, n in sorted(counts.items()))} (exit {status}) in "
                  f"{seconds:.1f} s\n".encode())
    return dict(info, results={r: results[r] for r in regions}, seconds=seconds)


def _worker_sees(paths):
    """On a worker: host name and the paths of ``paths`` it cannot see."""
    return socket.gethostname(), [p for p in paths if not os.path.exists(p)]


def _stop_guards(run_id):
    """On a worker: SIGTERM its guards of run ``run_id`` (they stop their regions); how many (Linux)."""
    stopped = 0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                parent = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and GUARD_FLAG.encode() in args and run_id.encode() in args:
            try:
                os.kill(int(entry), signal.SIGTERM)
                stopped += 1
            except OSError:
                pass
    return stopped


# ---------------------------------------------------------------------------
# the client


def _workers(client):
    """``({address: info}, line)``: the connected workers and one line saying how many, where."""
    workers = client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) else \
        client.scheduler_info()["workers"]
    hosts = sorted({w.get("host", "?") for w in workers.values()})
    return workers, (f"{len(workers)} workers, {_threads(workers)} threads, on {', '.join(hosts)}" if workers
                     else "no worker connected yet: the regions wait for one")


def _threads(workers):
    return sum(w.get("nthreads", 0) for w in workers.values())


def _takes_n_workers(client):
    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def connect(address, connect_timeout=None):
    """A client of the Dask scheduler at ``address`` (checked before a run creates anything).

    Raises
    ------
    DaskSetupError
        The scheduler cannot be reached within ``connect_timeout`` seconds (default: Dask's
        ``distributed.comm.timeouts.connect``, 30 s).
    """
    from distributed import Client  # Dask: imported only for --scheduler
    try:
        return Client(address, set_as_default=False,
                      **({} if connect_timeout is None else {"timeout": connect_timeout}))
    except (OSError, TimeoutError) as exc:
        raise DaskSetupError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def run_regions_on_dask(scheduler, regions, command, log, output, env=None, python=None, lanes=1, done=(),
                        group=None, retries=1, grace=DEFAULT_GRACE, elsewhere_wait=DEFAULT_ELSEWHERE_WAIT,
                        connect_timeout=None, progress=None):
    """Process ``regions`` as tasks of a Dask cluster, a group of regions per task; ``{region: Result}``.

    Parameters
    ----------
    scheduler : str or distributed.Client
        Scheduler address, e.g. ``tcp://10.0.0.5:8786``, or a client of it (:func:`connect`).
    regions : sequence of int
    command : list
        ``[pipeline_orchestrator.py, --skip-synthesis, ...]``: the command of a group's run without
        the Python executable (the worker's is used unless ``python`` is given) and without the
        regions (each task adds ``--regions LIST``).
    log : callable
        Prints one line (the orchestrator's ``say``).
    output : Layout or path-like
        The output folder (shared with the workers, same path).
    env : dict, optional
        Environment variables for the orchestrators on the workers.
    lanes : int
        Units one step-1 process advances together (``runner.lanes_per_pass``).
    done : collection of int
        Regions judged done already: grouped after the others (:func:`make_groups`).
    group : int, optional
        Regions per task (default: :func:`group_size` for the workers connected now).
    retries : int
        Re-runs of a task that raised (not of a region that failed: that is a result).
    grace : float
        Seconds a dead worker's regions get to stop after SIGINT before they are killed.
    elsewhere_wait : float
        Seconds a task waits for its regions' claims to be freed (see the module docstring).
    connect_timeout : float, optional
        Seconds to reach the scheduler when ``scheduler`` is an address.
    progress : deepsif_pipeline.run.progress.RunProgress, optional
        The run's progress, told of every region's end (its estimate counts
        the workers' threads times ``lanes`` as the regions processed at once).

    Returns
    -------
    dict
        ``{region: deepsif_pipeline.results.Result}`` in region order.

    Raises
    ------
    DaskSetupError
        Scheduler unreachable, or a connected worker does not see the output folder or the scripts.
    """
    import cloudpickle  # Dask and the package: imported only by the client (the guard script runs without them)
    from dask.utils import apply
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    from deepsif_pipeline.console import plural
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.results import Result, Status

    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # older distributed
        from distributed import KilledWorker

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # our functions travel by value
    regions = list(regions)
    done = set(done)
    todo = [r for r in regions if r not in done]
    layout = output if isinstance(output, Layout) else Layout(Path(output))
    client = connect(scheduler, connect_timeout) if isinstance(scheduler, str) else scheduler
    address = client.scheduler.address
    run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    guard = str(Path(__file__).resolve())
    probe = layout.dask_probe(run_id)
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    command = [str(c) for c in command]
    try:
        with client:
            workers, line = _workers(client)
            log(f"Dask scheduler {address}: {line}")
            if progress is not None:
                progress.workers = max(1, _threads(workers) * lanes)
            if workers:
                seen = client.run(_worker_sees, [str(probe), guard, command[0]])
                blind = {addr: (host, missing) for addr, (host, missing) in seen.items() if missing}
                if blind:
                    addr, (host, missing) = next(iter(blind.items()))
                    raise DaskSetupError(
                        f"{len(blind)} of {len(seen)} Dask workers do not see the files of this run, e.g. "
                        f"{addr} on {host} misses {', '.join(missing)}: workers must share the output folder "
                        "and have the repository at the same path")
            size = group or group_size(len(todo), _threads(workers), lanes)
            groups = make_groups(todo, [r for r in regions if r in done], size)
            log(f"{plural(len(regions), 'region')} sent as {plural(len(groups), 'task')} of "
                + ("1 region" if size == 1 else f"up to {size} regions")
                + (", whose mean iterations share the lanes of their step-1 passes" if lanes > 1 and size > 1 else "")
                + f"; each task's output goes to {layout.dask_task_log('{regions}')}")
            futures = {}
            for i, members in enumerate(groups):
                task = functools.partial(run_group_task, members, command, str(layout.dask_task_log(group_label(members))),
                                         run_id, guard, str(probe), env, python, grace, elsewhere_wait,
                                         str(layout.task_result(group_label(members), "{tag}")))
                key = f"regions-{group_label(members)}-{run_id}"
                # The task travels as cloudpickle bytes, unpickled on the worker: Dask pickles a graph by
                # reference where it can, and the scheduler unpickles it, so neither needs to import
                # deepsif_pipeline. A unique key per run and group: never shared with another computation.
                graph = {key: (apply, (cloudpickle.loads, cloudpickle.dumps(task)), [])}
                future = client.get(graph, key, sync=False, retries=retries, priority=len(groups) - i)
                futures[future] = members
            results, ended = {}, 0
            try:
                for future in as_completed(futures, loop=client.loop):
                    members = futures[future]
                    where = {}
                    try:
                        ran = future.result()
                        again = (f" after {ran['interrupted']} interrupted attempt(s)" if ran["interrupted"] else "")
                        for r in members:
                            results[r] = Result.from_json(ran["results"][r])
                            where[r] = (f" on worker {ran['worker']} ({ran['host']}) in "
                                        f"{results[r].seconds:.1f} s{again}")
                    except KilledWorker as exc:
                        why = Result(Status.FAILED, f"its worker died each time it ran it "
                                                    f"({exc.allowed_failures + 1} times: Dask KilledWorker); log "
                                                    f"{layout.dask_task_log(group_label(members))}")
                        results.update({r: why for r in members})
                    except FutureCancelledError:
                        results.update({r: Result(Status.FAILED, "the Dask task was cancelled") for r in members})
                    except Exception as exc:  # the task itself raised (after its retries)
                        first = (str(exc).strip().splitlines() or [""])[0]
                        why = Result(Status.FAILED, f"the Dask task failed: {type(exc).__name__}: {first}")
                        results.update({r: why for r in members})
                    for r in members:
                        ended += 1
                        log(f"region {r}: {results[r]}{where.get(r, '')} ({ended}/{len(regions)})")
                        if progress is not None:
                            progress.end(r, results[r])
            except KeyboardInterrupt:
                client.cancel(list(futures))
                try:
                    stopped = sum(client.run(_stop_guards, run_id, wait=True).values())
                    log(f"interrupted: {stopped} running tasks stopped on the workers")
                except Exception:
                    log("interrupted: the running tasks could not be stopped; they finish on their workers")
                raise
            return dict(sorted(results.items()))
    finally:
        probe.unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == GUARD_FLAG:
        sys.exit(guard_main(sys.argv[2:]))
    print(f"usage: {sys.argv[0]} {GUARD_FLAG} PARENT_PID GRACE RUN_ID -- COMMAND... "
          "(started by the Dask tasks of pipeline_orchestrator.py --scheduler)", file=sys.stderr)
    sys.exit(2)
