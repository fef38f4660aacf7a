"""Running the ``matlab/`` functions in MATLAB or GNU Octave.

Arguments reach the function as a job file (a MAT-file written with
SciPy), so the command line only carries two quoted paths.
"""

from dataclasses import dataclass
from pathlib import Path
import shutil
import subprocess
import time

from deepsif_pipeline.processes import children
from deepsif_pipeline.store.files import write_mat_atomic

MATLAB_DIR = Path(__file__).resolve().parents[2] / "matlab"

INSTALL_HINT = ("Neither MATLAB nor Octave found: install GNU Octave "
                "(sudo apt-get install octave, or ./setup.sh) or put matlab on PATH")


class EngineNotFound(Exception):
    """No MATLAB or Octave of the requested kind on PATH (one-line message)."""


@dataclass(frozen=True)
class Engine:
    """A MATLAB or Octave executable."""

    kind: str  # 'matlab' or 'octave'
    executable: str

    @property
    def name(self):
        """``'GNU Octave'`` or ``'MATLAB'``: the name people know (steps 2 and 4 run in it)."""
        return "GNU Octave" if self.kind == "octave" else "MATLAB"

    def command(self, function, job_file):
        """Argument list that runs ``function('job_file')`` and exits non-zero on error."""
        call = f"addpath({matlab_string(MATLAB_DIR)}); {function}({matlab_string(job_file)});"
        if self.kind == "matlab":
            return [self.executable, "-batch", call]
        # a stopped Octave would save its workspace (the raw data) as ./octave-workspace: not wanted
        quiet_stop = "sigterm_dumps_octave_core(false); sighup_dumps_octave_core(false); "
        return [self.executable, "--no-gui", "--quiet", "--norc", "--no-history", "--eval", quiet_stop + call]

    def version(self):
        """One line naming the engine and its version."""
        args = [self.executable, "--version"] if self.kind == "octave" else [
            self.executable, "-batch", "disp(version)"]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
        except (OSError, subprocess.TimeoutExpired):
            return self.kind
        first = out.strip().splitlines()[0] if out.strip() else ""
        return first if self.kind == "octave" else f"MATLAB {first}"


def matlab_string(path):
    """A path as a MATLAB single-quoted string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def find_engine(choice="auto"):
    """The MATLAB or Octave to use.

    Parameters
    ----------
    choice : {'auto', 'matlab', 'octave'}
        ``auto`` prefers MATLAB when ``matlab`` is on PATH, else Octave.

    Raises
    ------
    EngineNotFound
    """
    matlab = shutil.which("matlab")
    octave = shutil.which("octave-cli") or shutil.which("octave")
    if choice in ("auto", "matlab") and matlab:
        return Engine("matlab", matlab)
    if choice in ("auto", "octave") and octave:
        return Engine("octave", octave)
    if choice == "matlab":
        raise EngineNotFound("MATLAB not found: put matlab on PATH or use --matlab octave")
    raise EngineNotFound(INSTALL_HINT)


def write_job(path, **fields):
    """Write the arguments of a ``matlab/`` function to a job file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mat_atomic(path, {k: (str(v) if isinstance(v, Path) else v) for k, v in fields.items()})
    return path


def run_function(engine, function, job_file, log_path, timeout=None, env=None):
    """Run a ``matlab/`` function, appending its output to ``log_path``.

    Returns
    -------
    int
        The exit status (non-zero when the function raised an error);
        ``children.TIMED_OUT`` when it was stopped after ``timeout`` seconds.
    """
    return run_functions(engine, function, [job_file], [log_path], timeout=timeout, env=env)[0]


def run_functions(engine, function, job_files, log_paths, timeout=None, single_threaded=False, env=None):
    """Run ``function`` once per job file, all at the same time, and wait for all.

    The processes are children of :mod:`deepsif_pipeline.processes.children`: they die
    with this process and stop when it is asked to stop.

    Parameters
    ----------
    job_files, log_paths : sequence of Path
        One job file and one log (appended to) per process.
    timeout : float or None
        Seconds after which the processes still running are stopped.
    single_threaded : bool
        Limit each process's BLAS to one thread (for one process per core).
    env : dict or None
        Environment of the processes (default: this one's).

    Returns
    -------
    list of int
        Exit status of each process; ``children.TIMED_OUT`` for one stopped
        after ``timeout``, negative (``-signal``) for one stopped by a signal.
    """
    if single_threaded:
        env = children.single_threaded_env(env)
    procs, logs = [], []
    try:
        for job_file, log_path in zip(job_files, log_paths):
            log_path = Path(log_path)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "a")
            logs.append(log)
            command = engine.command(function, job_file)
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            try:
                procs.append(children.spawn(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env))
            except ChildProcessError:
                log.write("not started: the run is stopping\n")
                break
        deadline = None if timeout is None else time.monotonic() + timeout
        status = []
        for proc, log in zip(procs, logs):
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            outcome = children.wait(proc, left)
            if outcome.timed_out:
                log.write(f"stopped after its time limit of {timeout:g} s\n")
            elif outcome.stopped:
                log.write("stopped: the run was interrupted\n")
            status.append(outcome.status)
        return status + [-1] * (len(job_files) - len(status))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
