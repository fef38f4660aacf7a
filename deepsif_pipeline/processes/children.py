"""The orchestrator's child processes: time limits, stopping on a signal, dying with it.

Every step-1, step-2 and step-4 process is started through :func:`spawn`:

- it is started through ``with_parent.py``, which asks the kernel to
  ``SIGKILL`` it when the orchestrator dies (``prctl(PR_SET_PDEATHSIG)``,
  Linux), then ``exec``s the real command. An orchestrator killed with
  ``SIGKILL`` (or by the out-of-memory killer) leaves no TVB or Octave
  process writing into the region the next run takes over;
- :func:`wait` stops it after its time limit: ``SIGTERM``, then ``SIGKILL``
  after :func:`grace` seconds;
- on ``SIGINT``, ``SIGTERM`` or ``SIGHUP`` (:func:`install_signal_handlers`),
  :func:`request_stop` sets :data:`STOP` and stops the running children
  the same way; the orchestrator then starts nothing new, cleans up and
  exits ``128 + signal``.

The children stay in the orchestrator's process group, so a Ctrl-C in the
terminal, or a Dask guard's signal to the group, reaches them too.
"""

from dataclasses import dataclass
import contextlib
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading

# Thread-count variables of the numerical libraries in the children (OpenBLAS, MKL, OpenMP, numba).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
GRACE = 10.0  # seconds a stopped child gets to exit after SIGTERM before SIGKILL (default)
GRACE_VARIABLE = "DEEPSIF_PIPELINE_STOP_GRACE"  # sets it: keep it below a cluster's KillWait
TIMED_OUT = 124  # exit status reported for a child stopped at its time limit (as coreutils' timeout)
WITH_PARENT = Path(__file__).resolve().parent / "with_parent.py"

# a child ended by a stop signal: killed by it (-N), or exiting 128 + N from its handler (step 1's)
STOP_STATUSES = tuple(status for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
                      for status in (-signum, 128 + signum))
STOP_SIGNAL_WAIT = 2.0  # seconds to wait for this process's own stop after such a child's end (Outcome.from_status)
NO_LIMIT = 10.0 ** 9  # seconds: the timeout of a wait without limit (children.wait)
STOP = threading.Event()  # set once the orchestrator was asked to stop
_stop = {"signal": None}
_running = set()
_lock = threading.RLock()  # re-entrant: the signal handler may interrupt spawn() in the main thread


@dataclass(frozen=True)
class Outcome:
    """How a child ended: ``status`` (exit status, ``-N`` for signal N), ``timed_out``, ``stopped``."""

    status: int
    timed_out: bool = False
    stopped: bool = False

    @property
    def ok(self):
        return self.status == 0 and not (self.timed_out or self.stopped)

    @classmethod
    def from_status(cls, status):
        """The outcome of a child that ended with ``status`` (as ``engine.run_function`` reports it).

        A child killed by ``SIGTERM``, ``SIGINT`` or ``SIGHUP`` most often got a signal sent to the
        whole process group or job at once (Ctrl-C, SLURM's ``scancel`` or time limit, which signal
        every process of the job): this process gets it too, but its handler runs in the main
        thread, maybe after the thread waiting for the child saw it end. Such an end is taken as a
        stop when the stop comes within :data:`STOP_SIGNAL_WAIT` seconds, as a failure otherwise.
        """
        if status in STOP_STATUSES and not STOP.is_set():
            STOP.wait(STOP_SIGNAL_WAIT)
        timed_out = status == TIMED_OUT and not STOP.is_set()
        return cls(status, timed_out, STOP.is_set() and status != 0 and not timed_out)


def grace():
    """Seconds a stopped child gets after ``SIGTERM``: ``$DEEPSIF_PIPELINE_STOP_GRACE``, else :data:`GRACE`.

    Octave ignores a ``SIGTERM`` that arrives while it starts and then runs
    its job to the end, so a step stopped early is only stopped by the
    ``SIGKILL`` after this grace.

    Raises
    ------
    ValueError
        When the variable is not a number of seconds above 0 (one-line message).
    """
    text = os.environ.get(GRACE_VARIABLE, "").strip()
    if not text:
        return GRACE
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"{GRACE_VARIABLE}={text!r} is not a number of seconds above 0 (unset it for "
                         f"the default, {GRACE:g})")
    return value


def single_threaded_env(env=None):
    """An environment (default: this one's) with one numerical thread.

    Results do not depend on how many regions run at once: a BLAS product
    split over another number of threads can differ in the last bit (seen
    in step 2's clips), and each region is a serial job anyway.
    """
    return dict(os.environ if env is None else env, **{name: "1" for name in THREAD_VARIABLES})


def spawn(command, **popen):
    """Start ``command`` (a list) as a child that dies with this process; the ``Popen``.

    Raises
    ------
    ChildProcessError
        When a stop was requested (nothing is started any more).
    """
    with _lock:
        if STOP.is_set():
            raise ChildProcessError("stop requested")
        proc = subprocess.Popen([sys.executable, "-I", str(WITH_PARENT), str(os.getpid()), *map(str, command)],
                                **popen)
        _running.add(proc)
    return proc


def wait(proc, timeout=None):
    """Wait for a child of :func:`spawn`, stopping it after ``timeout`` seconds; an :class:`Outcome`."""
    timed_out = False
    try:
        # always with a timeout: Popen.wait then polls (sleeps of at most 50 ms) instead of blocking
        # in waitpid, so that in the main thread (step 4) the signal handlers run at once even when
        # the signal was delivered to another thread of this process
        proc.wait(timeout=NO_LIMIT if timeout is None else timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _terminate(proc)
    finally:
        with _lock:
            _running.discard(proc)
    return Outcome(TIMED_OUT, True) if timed_out else Outcome.from_status(proc.returncode)


def run(command, timeout=None, log=None, echo=None, **popen):
    """:func:`spawn` then :func:`wait`; an :class:`Outcome` (``stopped`` when never started).

    Parameters
    ----------
    command : list
    timeout : float or None
        Seconds after which the child is stopped.
    log : Path, list of Path, or None
        Append the child's output (stdout and stderr, line by line) to this
        file (to each of these files: a step-1 pass of several regions goes
        to each region's log), after a ``$ command`` line, instead of
        letting it inherit ours.
    echo : callable or None
        With ``log``: also called with each line (without its newline).
    """
    if log is None:
        try:
            proc = spawn(command, **popen)
        except ChildProcessError:
            return Outcome(-1, stopped=True)
        return wait(proc, timeout)
    paths = [Path(p) for p in (log if isinstance(log, (list, tuple)) else [log])]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:
        outs = [files.enter_context(open(path, "a")) for path in paths]
        _write(outs, f"$ {' '.join(map(str, command))}\n")
        try:
            proc = spawn(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                         **popen)
        except ChildProcessError:
            _write(outs, "not started: the run is stopping\n")
            return Outcome(-1, stopped=True)
        copier = threading.Thread(target=_copy_lines, args=(proc.stdout, outs, echo), daemon=True)
        copier.start()
        outcome = wait(proc, timeout)
        copier.join(timeout=max(grace(), 5.0))
        if outcome.timed_out:
            _write(outs, f"stopped after its time limit of {timeout:g} s\n")
        elif outcome.stopped:
            _write(outs, "stopped: the run was interrupted\n")
    return outcome


def _write(outs, text):
    """Write ``text`` to every open log, flushed."""
    for out in outs:
        out.write(text)
        out.flush()


def _copy_lines(source, logs, echo):
    """Copy a child's output to its logs (flushed line by line), and each line to ``echo``."""
    for line in source:
        _write(logs, line)
        if echo is not None:
            echo(line.rstrip("\n"))


def _terminate(proc):
    """``SIGTERM``, then ``SIGKILL`` after :func:`grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace())
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_stop(signum=None):
    """Stop: start no new child, ``SIGTERM`` the running ones, ``SIGKILL`` them after :func:`grace` s.

    A second request kills the running children at once.
    """
    again = STOP.is_set()
    if _stop["signal"] is None:
        _stop["signal"] = signum
    STOP.set()
    with _lock:
        procs = list(_running)
    for proc in procs:
        try:
            proc.kill() if again else proc.terminate()
        except OSError:
            pass
    if not again and procs:
        timer = threading.Timer(grace(), lambda: [p.kill() for p in procs if p.poll() is None])
        timer.daemon = True
        timer.start()


def stop_signal():
    """The signal number that stopped the run, or None."""
    return _stop["signal"]


def install_signal_handlers(on_first=None):
    """Turn ``SIGINT``, ``SIGTERM`` and ``SIGHUP`` into :func:`request_stop` (main thread only).

    ``on_first(name)`` is called on the first signal (to print what happens next).
    """
    def handler(signum, frame):
        first = not STOP.is_set()
        request_stop(signum)
        if first and on_first is not None:
            on_first(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
            signal.signal(signum, handler)
