"""The run's progress: regions done and to do, clips so far, elapsed time and an estimate of what is left.

On a terminal it is a bar kept on the last line (redrawn every second);
otherwise (a pipe, ``nohup``) it is a plain line after every region and,
while a long region runs, every :data:`HEARTBEAT_S` seconds. The estimate
comes from the regions this run processed (regions found done are not
counted: they take no time).
"""

import shutil
import sys
import threading
import time

from deepsif_pipeline.console import plural, say, set_footer
from deepsif_pipeline.results import Status

HEARTBEAT_S = 600.0  # a plain line at least this often while regions run (lines mode)
REDRAW_S = 1.0       # the bar's redraw interval (bar mode)
PROCESSED = (Status.DONE, Status.FAILED)  # results whose time measures a region's work


def clock(seconds):
    """``'0:04:07'``; days as ``'2 d 3:04:05'``."""
    seconds = int(round(max(0.0, seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days} d " if days else "") + f"{hours}:{minutes:02d}:{secs:02d}"


def eta_seconds(measured, remaining, running, workers):
    """Seconds until the regions still to process are done, from the measured ones.

    Parameters
    ----------
    measured : sequence of float
        Seconds of each region this run processed (steps run).
    remaining : int
        Regions still to process, the running ones included.
    running : sequence of float
        Seconds the running regions have spent so far.
    workers : int
        Regions processed at once.

    Returns
    -------
    float or None
        None before any region was measured.
    """
    if not measured:
        return None
    if remaining <= 0:
        return 0.0
    per_region = sum(measured) / len(measured)
    left = per_region * remaining - sum(min(t, per_region) for t in running)
    return max(0.0, left / max(1, min(workers, remaining)))


def progress_line(done, total, clips, elapsed, eta, per_region=None):
    """The plain progress line.

    Examples
    --------
    >>> progress_line(3, 8, 1, 14.2, 23.0, 4.7)
    'Progress: 3 of 8 regions done, 5 to do; 1 clip so far; 0:00:14 elapsed, about 0:00:23 left (4.7 s per region)'
    """
    text = f"Progress: {done} of {total} regions done"
    if done < total:
        text += f", {total - done} to do"
    text += f"; {plural(clips, 'clip')} so far; {clock(elapsed)} elapsed"
    if done < total:
        if eta is None:
            text += ", time left known after the first region"
        else:
            text += f", about {clock(eta)} left" + (f" ({per_region:.1f} s per region)" if per_region else "")
    return text


def progress_bar(done, total, clips, elapsed, eta, width, running=()):
    """The one-line bar for a terminal of ``width`` columns (no newline); ``running``: regions being processed."""
    tail = (f" {done}/{total} regions | {plural(clips, 'clip')} | {clock(elapsed)} elapsed | "
            + ("ETA after the first region" if eta is None else f"ETA {clock(eta)}")
            + (f" | running: {', '.join(map(str, running))}" if running else ""))
    cells = max(10, min(40, width - len(tail) - 3))
    filled = int(cells * done / total) if total else cells
    return ("[" + "#" * filled + "-" * (cells - filled) + "]" + tail)[:max(20, width - 1)]


def mode_for(choice, stream=None):
    """``'bar'``, ``'lines'`` or ``'none'`` from ``--progress`` (``auto``: a bar on a terminal)."""
    stream = sys.stdout if stream is None else stream
    if choice == "auto":
        return "bar" if stream.isatty() else "lines"
    return choice


class RunProgress:
    """Progress of the regions of one run, shown as :func:`progress_bar` or :func:`progress_line`.

    Parameters
    ----------
    total : int
        Regions of the range.
    to_process : int
        Of these, the regions that need work (not already done).
    workers : int
    mode : {'bar', 'lines', 'none'}
    heartbeat : float
        Seconds between plain lines while regions run (``lines`` mode).
    """

    def __init__(self, total, to_process, workers, mode, heartbeat=HEARTBEAT_S):
        self.total, self.to_process, self.workers, self.mode = total, to_process, workers, mode
        self.heartbeat = heartbeat
        self.start = self.last_line = time.time()
        self.measured, self.running, self.clips, self.done, self.processed = [], {}, 0, 0, 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if mode != "none":
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def begin(self, region):
        """Region ``region`` starts (its claim is being taken)."""
        with self._lock:
            self.running[region] = time.time()

    def end(self, region, result):
        """Region ``region`` ended with ``result`` (a :class:`deepsif_pipeline.results.Result`)."""
        with self._lock:
            self.running.pop(region, None)
            self.done += 1
            if result.status in PROCESSED:
                self.measured.append(result.seconds)
                self.processed += 1
            if result.status is Status.DONE and result.clips:
                self.clips += result.clips
        self.show()

    def estimate(self, now=None):
        """``(eta seconds or None, mean seconds per processed region or None)``."""
        now = time.time() if now is None else now
        with self._lock:
            remaining = max(0, self.to_process - self.processed)
            eta = eta_seconds(self.measured, remaining, [now - t for t in self.running.values()], self.workers)
            per = sum(self.measured) / len(self.measured) if self.measured else None
        return eta, per

    def text(self, now=None):
        """The plain line as of ``now``."""
        now = time.time() if now is None else now
        eta, per = self.estimate(now)
        return progress_line(self.done, self.total, self.clips, now - self.start, eta, per)

    def show(self):
        """Print the line (``lines``) or redraw the bar (``bar``)."""
        if self.mode == "lines":
            self.last_line = time.time()
            say(self.text())
        elif self.mode == "bar":
            now = time.time()
            eta, _ = self.estimate(now)
            with self._lock:
                running = sorted(self.running)
            set_footer(progress_bar(self.done, self.total, self.clips, now - self.start, eta,
                                    shutil.get_terminal_size().columns, running))

    def _tick(self):
        while not self._stop.wait(REDRAW_S if self.mode == "bar" else min(self.heartbeat, 5.0)):
            if self.mode == "bar" or time.time() - self.last_line >= self.heartbeat:
                if self.mode == "lines":
                    with self._lock:
                        running = sorted(self.running.items())
                    now = time.time()
                    self.last_line = now
                    say(self.text(now) + "".join(f"; region {r} running for {clock(now - t)}" for r, t in running))
                else:
                    self.show()

    def close(self):
        """Stop the redraws and remove the bar (the summary follows)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.mode == "bar":
            set_footer(None)
