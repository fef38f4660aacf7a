"""The run log ``OUTPUT/logs/runs.log``: one timestamped line per event of every run on a folder."""

from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
import os
from pathlib import Path
import socket
import subprocess
import sys

from deepsif_pipeline import __version__
from deepsif_pipeline.console import say

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("tvb-library", "numpy", "scipy", "numba", "h5py")  # what computes the data, besides MATLAB/Octave


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(layout, text):
    """Append one line (time, host:pid, ``text``) to the run log.

    Each line is one ``write`` on a file opened for appending, so lines of
    runs sharing the folder do not mix.
    """
    line = f"{utc_now()} {socket.gethostname()}:{os.getpid()} {text}\n"
    try:
        layout.run_log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.run_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        say(f"warning: cannot write the run log {layout.run_log}: {exc.strerror}")


def versions(engine):
    """One line: the project (with its git commit), the Python packages that compute, MATLAB/Octave, Python."""

    def installed(package):
        try:
            return f"{package} {version(package)}"
        except PackageNotFoundError:
            return f"{package} not installed"

    packages = ", ".join(installed(p) for p in PACKAGES)
    commit = ""
    if (REPO / ".git").exists():
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL).stdout.strip()
    return (f"deepsif-pipeline {__version__}{f' ({commit})' if commit else ''}, {packages}, "
            + (engine.version() if engine else "no MATLAB/Octave needed") + f", Python {sys.version.split()[0]}")
