"""Crash test (issue 7): SIGKILL the orchestrator, its TVB child and its Octave child at random moments.

On a short range of the built-in ``tvb76`` template, the same orchestrator
command is started again and again in one output folder; each attempt is
killed with ``SIGKILL`` at a random moment (most often the orchestrator
itself, in some rounds its step-1 TVB child or its step-2 Octave child), and
re-run until an attempt exits 0 after at least :data:`MIN_KILLS` kills in all.
Checked:

- the final outputs equal those of an uninterrupted run with the same seed,
  array by array (every clip and marker, the same set of files);
- no temporary file (``.tmp_*``, job files, claims, ...) is left anywhere in
  the output tree, and ``raw_nmm/`` holds no region folder;
- no raw folder ``raw_nmm/a{r}`` ever disappears before all three markers
  of ``r`` and the clips they count are on disk (a watcher thread polls
  every :data:`POLL` s during the whole loop);
- after each kill of the orchestrator, none of its child processes is still
  alive :data:`ORPHAN_TIMEOUT` s later, and none completes any output file
  more than :data:`ORPHAN_WORK_GRACE` s after the kill;
- a killed child makes its region fail, reported as such, and the run goes on.

Everything uses real processes (Python, TVB/numba, Octave); nothing is mocked.
The kill schedule comes from a seeded ``random.Random``: the seed is printed,
and ``DEEPSIF_CRASH_SEED=...`` replays a schedule (as far as timing allows).
Run with ``pytest -s tests/test_crash.py`` to see the per-kill table and summary.
"""

from dataclasses import dataclass, field
import os
from pathlib import Path
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from scipy.io import loadmat

from conftest import REPO
from deepsif_pipeline.run.verify import check_manifest
from deepsif_pipeline.store.layout import Layout

pytestmark = pytest.mark.interrupts  # .ci/run runs these again on a loaded machine

# tvb76 regions 6, 7 and 8: 9, 5 and 2 clips with these settings and the default seed (checked on
# the reference run). --sim-length 4 --piece-length 1: 4 pieces per mean iteration, 12 per region.
START, END = 6, 9
REGIONS = tuple(range(START, END))
SETTINGS = ("--sim-length", "4", "--piece-length", "1", "--skip-synthesis", "--workers", "1", "--progress", "none")
ITERATIONS = (0, 1, 2)
PIECES_PER_REGION = 12

MIN_KILLS = 20  # kills in all before an attempt may run to its end
MIN_CHILD_KILLS = 3  # at least this many kills of the TVB child, and of the Octave child
MAX_KILLS = 45  # the schedule gives up past this (a harness problem, reported as such)
TIME_LIMIT = 420.0  # seconds for the whole crash loop (a typical run takes 1.5-3 minutes)
ANCHOR_TIMEOUT = 120.0  # seconds to wait for the moment a kill is anchored to
ORPHAN_TIMEOUT = 5.0  # seconds after an orchestrator's SIGKILL by which all its children must be gone
ORPHAN_WORK_GRACE = 1.0  # an output file completed later than this after the kill is an orphan's work
REPORT_TIMEOUT = 60.0  # seconds for the orchestrator to report the region of a killed child as failed
POLL = 0.02  # the ordering watcher's period
TICK = 0.01  # the kill loop's period while waiting for a moment

# What each kill targets and the moment it waits for, with its weight in the random schedule.
#
# Why anchored moments rather than one delay from the attempt's start: about 2.5 s of a region's
# 3.5-4 s go to the TVB child's start-up (imports), while its 12 pieces are written in ~0.3 s,
# Octave runs for ~0.3 s and step 3 takes milliseconds. Delays drawn from the start alone would
# put most kills in the TVB start-up and almost none where files are written, renamed or deleted.
# Each kill therefore waits for a random one of these moments in the running attempt (a process
# appearing or ending, a new raw piece), then for a random delay (seeded), and kills its target:
#   start   the orchestrator, U(0, 4.5) s after the attempt started: start-up, claims, skip checks,
#           TVB start-up;
#   pieces  the orchestrator, U(0, 0.3) s after the TVB child wrote its first new raw piece;
#   step2   the orchestrator, U(0, 0.4) s after Octave appeared (clips, markers, step 3);
#   step3   the orchestrator, U(0, 0.12) s after Octave ended (job file removal, raw deletion,
#           claim release, next region);
#   tvb     the TVB child, U(0.05, 2.0) s after it appeared (falls back to the orchestrator if the
#           child is already gone);
#   octave  the Octave child, U(0, 0.25) s after it appeared (same fallback).
# A killed child makes its region fail and the same attempt goes on: the next kill of the schedule
# then lands in that attempt's next region.
#
# Why "rounds": a kill never makes more than about one region of progress, but several kills in a
# row may each finish a region, so the 3 regions can be done before MIN_KILLS kills happened. The
# attempt that completes then ends the round (its outputs are checked like the final ones) and
# the crash loop starts over in a fresh output folder with the same command, until MIN_KILLS kills
# (and MIN_CHILD_KILLS of each child) are reached. This keeps one reference run, keeps every kill
# at a moment where there is work left, and cannot end before MIN_KILLS.
WEIGHTS = {"start": 3, "pieces": 3, "step2": 3, "step3": 2, "tvb": 2, "octave": 2}
DELAYS = {"start": (0.0, 4.5), "pieces": (0.0, 0.3), "step2": (0.0, 0.4), "step3": (0.0, 0.12),
          "tvb": (0.05, 2.0), "octave": (0.0, 0.25)}


# ---------------------------------------------------------------------------
# processes, from /proc (psutil is not a dependency)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start: int  # clock ticks after boot: (pid, start) identifies a process across pid reuse
    comm: str


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    close = text.rfind(")")
    fields = text[close + 2:].split()
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0], int(fields[19]),
                text[text.find("(") + 1:close])


def _table():
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = _stat(int(name))
            if proc is not None:
                table[proc.pid] = proc
    return table


def _descendants(root, table=None):
    """Live descendants of ``root`` (any depth)."""
    table = _table() if table is None else table
    kids = {}
    for proc in table.values():
        kids.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = [], [root]
    while todo:
        for pid in kids.get(todo.pop(), []):
            if table[pid].state not in "ZX":
                found.append(table[pid])
            todo.append(pid)
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def _kind(proc):
    """What a descendant of the orchestrator is.

    'tvb' (step 1: generate_tvb_data.py), 'octave' (step 2: Octave running
    process_region_nmm; not e.g. the ``octave-cli --version`` the
    orchestrator runs at start-up), 'starting' (a launcher such as
    with_parent.py before it execs the step's command) or 'other'.
    """
    args = _cmdline(proc.pid)
    names = [Path(a).name for a in args[:4]]
    if "with_parent.py" in names:
        return "starting"
    if "generate_tvb_data.py" in names:
        return "tvb"
    if (proc.comm.startswith("octave") or (args and Path(args[0]).name.startswith("octave"))) \
            and "process_region_nmm" in " ".join(args):
        return "octave"
    return "other"


def _alive(proc):
    now = _stat(proc.pid)
    return now is not None and now.start == proc.start and now.state not in "ZX"


def _describe(proc):
    return f"pid {proc.pid} ({' '.join(_cmdline(proc.pid))[:160] or proc.comm})"


def _option(args, name):
    return args[args.index(name) + 1] if name in args[:-1] else None


def _regions_of(proc, kind):
    """The regions a TVB or Octave child works on (from its command line): a step-1 child simulates the units
    ``--units R:M ...`` of up to 4 regions (they share its lanes), an Octave child one region's step 2."""
    args = _cmdline(proc.pid)
    if kind == "tvb":
        if "--units" in args:
            found = []
            for word in args[args.index("--units") + 1:]:
                if word.startswith("--"):
                    break
                found.append(int(word.split(":")[0]))
            return sorted(set(found))
        value = _option(args, "--a_start")
        return [int(value)] if value is not None else []
    found = re.search(r"region_(\d+)_step2_job", " ".join(args))
    return [int(found.group(1))] if found else []


def _region_of(proc, kind):
    """The first region a TVB or Octave child works on, or None."""
    regions = _regions_of(proc, kind)
    return regions[0] if regions else None


# ---------------------------------------------------------------------------
# output folder


def _out_files(out):
    """Relative paths of every file under ``out`` (os.walk: folders may vanish while it looks)."""
    return {os.path.relpath(os.path.join(folder, name), out) for folder, _, names in os.walk(out) for name in names}


def _finished(out):
    """Output files that are complete (not temporary): what a working child leaves behind."""
    return {f for f in _out_files(out) if not Path(f).name.startswith(".")}


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _raw_pieces(out, region):
    return sum(1 for name in _listdir(out / "raw_nmm" / f"a{region}") if name.startswith("mean_iter_"))


def _marker(out, m, r):
    return out / "nmm_spikes" / "clip_info" / f"iter{m}" / f"iter_{m}_i_{r}.mat"


def _num_spike(path):
    return int(np.asarray(loadmat(str(path), variable_names=["num_spike"])["num_spike"]).ravel()[0])


def _arrays(root):
    """``{relative path: {variable: array}}`` of every (non-hidden) MAT-file under root."""
    return {str(p.relative_to(root)): {k: v for k, v in loadmat(p).items() if not k.startswith("__")}
            for p in sorted(root.rglob("*.mat")) if not p.name.startswith(".")}


def _allowed(rel, is_dir):
    """Whether a path may be left in a finished output folder (clips, markers, logs)."""
    regions = "|".join(map(str, REGIONS))
    if is_dir:
        return re.fullmatch(rf"raw_nmm|claims|logs|nmm_spikes|nmm_spikes/a({regions})|nmm_spikes/clip_info"
                            r"|nmm_spikes/clip_info/iter[012]", rel) is not None
    if re.fullmatch(rf"nmm_spikes/a({regions})/nmm_[1-9][0-9]*\.mat", rel):
        return True
    found = re.fullmatch(rf"nmm_spikes/clip_info/iter([012])/iter_([012])_i_({regions})\.mat", rel)
    if found:
        return found.group(1) == found.group(2)
    return rel == "dataset.json" or re.fullmatch(r"logs/[^./][^/]*\.log", rel) is not None


def _leftovers(out):
    """Paths under ``out`` that a finished run must not leave, ``{category: [relative path]}``."""
    found = {}
    for p in sorted(out.rglob("*")):
        rel = str(p.relative_to(out))
        if _allowed(rel, p.is_dir()):
            continue
        name = p.name
        if rel.startswith("claims/"):
            category = "claim files left"
        elif name.startswith(".tmp_") or ".tmp" in name or name.endswith((".probe", ".part")):
            category = "temporary files left"
        elif name.endswith("_job.mat"):
            category = "job files left"
        else:
            category = "unexpected files left"
            rel += "/" if p.is_dir() else ""
        found.setdefault(category, []).append(rel)
    return found


def _compare(reference, out):
    """Differences between two ``nmm_spikes`` trees, array by array (one line each)."""
    ref, got = _arrays(reference), _arrays(out)
    problems = [f"missing {k}" for k in sorted(ref.keys() - got.keys())]
    problems += [f"extra {k}" for k in sorted(got.keys() - ref.keys())]
    for name in sorted(ref.keys() & got.keys()):
        a_vars, b_vars = ref[name], got[name]
        if a_vars.keys() != b_vars.keys():
            problems.append(f"{name}: variables {sorted(a_vars)} != {sorted(b_vars)}")
            continue
        for var, a in a_vars.items():
            b = b_vars[var]
            if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(
                    a, b, equal_nan=a.dtype.kind in "fc"):
                problems.append(f"{name}: {var} differs (shape {a.shape} vs {b.shape})")
    return problems


# ---------------------------------------------------------------------------
# the ordering watcher


class OrderWatcher(threading.Thread):
    """Polls one output folder: a raw folder seen once may only be absent when its region is complete.

    The raw folder is looked at first, then the markers and clips: those only
    ever grow, so a region found incomplete while its raw folder is already
    gone really had its raw data deleted too early.
    """

    def __init__(self, out, label):
        super().__init__(name=f"order-watcher-{label}", daemon=True)
        self.out, self.label = out, label
        self.seen, self.complete = set(), set()
        self.violations = {}  # region -> first description
        self.polls = 0
        self.errors = []
        self._stop_event = threading.Event()

    def problems(self, r):
        """Why region ``r`` is incomplete (empty list if complete), None when a marker could not be read."""
        markers = [_marker(self.out, m, r) for m in ITERATIONS]
        absent = [str(p.relative_to(self.out)) for p in markers if not p.is_file()]
        if absent:
            return [f"no marker {', '.join(absent)}"]
        try:
            total = _num_spike(markers[-1])
        except Exception:
            return None  # cannot happen with atomic writes; retried at the next poll
        clips = self.out / "nmm_spikes" / f"a{r}"
        missing = [n for n in range(1, total + 1) if not (clips / f"nmm_{n}.mat").is_file()]
        return [f"{len(missing)} of {total} clips missing (first nmm_{missing[0]}.mat)"] if missing else []

    def check(self):
        self.polls += 1
        for r in REGIONS:
            if (self.out / "raw_nmm" / f"a{r}").is_dir():  # FIRST the raw folder
                self.seen.add(r)
                continue
            if r not in self.seen or r in self.complete or r in self.violations:
                continue
            problems = self.problems(r)
            if problems is None:
                continue
            if problems:
                self.violations[r] = (f"{self.label}: raw_nmm/a{r} was deleted while region {r} was incomplete: "
                                      + "; ".join(problems))
            else:
                self.complete.add(r)

    def run(self):
        while not self._stop_event.is_set():
            try:
                self.check()
            except Exception as exc:  # keep watching; reported at the end
                self.errors.append(repr(exc))
            self._stop_event.wait(POLL)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)


# ---------------------------------------------------------------------------
# attempts and kills


class Attempt:
    """One run of the orchestrator command, its output in its own log file."""

    def __init__(self, cmd, env, log_path, round_no, number):
        self.log, self.round_no, self.number = log_path, round_no, number
        with open(log_path, "w") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=log_path.parent, start_new_session=True)
        self.t0 = time.monotonic()
        self.orchestrator_killed = False
        self.child_kills = []  # region of each child killed in this attempt

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def children(self):
        """``{kind: [Proc]}`` of the orchestrator's live descendants."""
        out = {}
        for proc in _descendants(self.pid):
            out.setdefault(_kind(proc), []).append(proc)
        return out


@dataclass
class Kill:
    number: int
    round_no: int
    attempt: int
    plan: str  # entry of WEIGHTS
    target: str  # what was killed: 'orchestrator', 'tvb' or 'octave'
    step: str  # where it landed: 'start-up', 'region start', 'step 1', 'step 2', 'step 3', 'summary'
    detail: str
    at: float  # seconds after the attempt started
    delay: float  # seconds after the anchor
    fallback: str = ""
    orphans: list = field(default_factory=list)  # children alive ORPHAN_TIMEOUT s after the kill
    orphan_files: list = field(default_factory=list)  # files completed by them after ORPHAN_WORK_GRACE s


_BANNER = re.compile(r"# Processing Region (\d+)|STEP ([1-4]): [^\n]*?region (\d+)|# Summary")


def _landing(att, out, kinds):
    """Where the attempt is right now: ``(step, detail)``, from its live children, log and files."""
    last = None
    for last in _BANNER.finditer(att.text()):
        pass
    if "octave" in kinds:
        r = _region_of(kinds["octave"][0], "octave")
        written = sorted(n for n in _listdir(out / "nmm_spikes" / f"a{r}") if n.endswith(".mat"))
        temporary = [n for n in written if n.startswith(".")]
        markers = sum(_marker(out, m, r).is_file() for m in ITERATIONS)
        return "step 2", (f"Octave running on region {r}: {len(written) - len(temporary)} clips, {markers}/3 markers"
                          + (f", writing {temporary[0]}" if temporary else ""))
    if "tvb" in kinds:
        r = _region_of(kinds["tvb"][0], "tvb")
        pieces = _raw_pieces(out, r) if r is not None else 0
        return "step 1", f"TVB child running on region {r}: {pieces}/{PIECES_PER_REGION} raw pieces on disk"
    if "starting" in kinds:
        launching = " ".join(_cmdline(kinds["starting"][0].pid))
        step = "step 1" if "generate_tvb_data.py" in launching else "step 2" if "process_region_nmm" in launching \
            else "start-up"
        return step, f"launching: {launching[:120]}"
    if last is None:
        return "start-up", "before the first region banner"
    if last.group(0) == "# Summary":
        return "summary", "after the last region"
    if last.group(1) is not None:
        return "region start", f"region {last.group(1)}: claim / skip checks"
    step, r = last.group(2), int(last.group(3))
    detail = {"1": "no TVB child (starting it or checking its result)",
              "2": "no Octave (job file, result checks)",
              "3": "raw data deletion, claim release"}.get(step, "")
    pieces = f", {_raw_pieces(out, r)}/{PIECES_PER_REGION} raw pieces on disk" if step in "13" else ""
    return f"step {step}", f"region {r}: {detail}{pieces}"


class Deadline(Exception):
    """The crash loop ran out of time."""


class Abort(Exception):
    """The crash loop cannot go on (message says why)."""


class CrashLoop:
    """The kill schedule and its bookkeeping (see the comment above WEIGHTS)."""

    def __init__(self, rng, cmd_for, env, root, deadline):
        self.rng, self.cmd_for, self.env, self.root, self.deadline = rng, cmd_for, env, root, deadline
        self.kills, self.attempts, self.rounds = [], [], []
        self.findings = []  # (category, text) problems seen during the loop
        self.watchers = []
        self.out = None
        self.attempt = None

    # -- helpers

    def check_time(self):
        if time.monotonic() > self.deadline:
            raise Deadline()

    def count(self, target):
        return sum(k.target == target for k in self.kills)

    def effective(self):
        """Kills that hit a running process (not those that arrived just after it ended)."""
        return [k for k in self.kills if not k.target.endswith("(missed)")]

    def schedule_done(self):
        return (len(self.effective()) >= MIN_KILLS and self.count("tvb") >= MIN_CHILD_KILLS
                and self.count("octave") >= MIN_CHILD_KILLS)

    def next_plan(self):
        needed = {k: max(0, MIN_CHILD_KILLS - self.count(k)) for k in ("tvb", "octave")}
        if sum(needed.values()) >= MIN_KILLS - len(self.effective()):
            choices = [k for k, n in needed.items() if n]
            if choices:
                return self.rng.choice(choices)
        kinds = list(WEIGHTS)
        return self.rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]

    def new_round(self):
        if self.watchers:
            self.watchers[-1].stop()
        label = f"round {len(self.rounds) + 1}"
        self.out = self.root / f"round{len(self.rounds) + 1}"
        self.rounds.append({"label": label, "out": self.out, "attempts": 0})
        watcher = OrderWatcher(self.out, label)
        watcher.start()
        self.watchers.append(watcher)

    def start_attempt(self):
        info = self.rounds[-1]
        info["attempts"] += 1
        log = self.root / f"round{len(self.rounds)}_attempt{info['attempts']:02d}.log"
        self.attempt = Attempt(self.cmd_for(self.out), self.env, log, len(self.rounds), info["attempts"])
        self.attempts.append(self.attempt)
        return self.attempt

    def sleep(self, att, seconds):
        """Wait ``seconds`` while the attempt runs; False when it ended first."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not att.running():
                return False
            time.sleep(min(TICK, max(end - time.monotonic(), 0)))
        return att.running()

    def wait_for(self, att, predicate):
        """Poll ``predicate()`` until it returns something; None when the attempt ended first."""
        limit = time.monotonic() + ANCHOR_TIMEOUT
        while att.running():
            self.check_time()
            found = predicate()
            if found:
                return found
            if time.monotonic() > limit:
                self.findings.append(("harness", f"attempt {att.log.name}: no anchor within {ANCHOR_TIMEOUT:.0f} s"))
                return "timeout"
            time.sleep(TICK)
        return None

    def child(self, att, kind):
        procs = att.children().get(kind)
        return procs[0] if procs else None

    # -- one kill

    def anchor(self, att, plan):
        """Wait for the plan's moment; ``(target process or None for the orchestrator, delay)`` or None."""
        low, high = DELAYS[plan]
        delay = self.rng.uniform(low, high)
        if plan == "start":  # from the attempt's start, or from now when it goes on after a child kill
            base = time.monotonic() if att.child_kills else att.t0
            left = base + delay - time.monotonic()
            return (None, delay) if self.sleep(att, max(left, 0)) else None
        if plan == "pieces":
            state = {}

            def new_piece():
                tvb = self.child(att, "tvb")
                if tvb is None:
                    state.clear()
                    return None
                if state.get("proc") != (tvb.pid, tvb.start):
                    r = _region_of(tvb, "tvb")
                    folder = self.out / "raw_nmm" / f"a{r}"
                    state.update(proc=(tvb.pid, tvb.start), folder=folder, names=set(_listdir(folder)))
                    return None
                return bool(set(_listdir(state["folder"])) - state["names"])
            found = self.wait_for(att, new_piece)
        elif plan in ("step2", "octave", "tvb"):
            kind = "tvb" if plan == "tvb" else "octave"
            found = self.wait_for(att, lambda: self.child(att, kind))
        else:  # step3: Octave has ended
            octave = self.wait_for(att, lambda: self.child(att, "octave"))
            if octave is None or octave == "timeout":
                found = octave
            else:
                found = self.wait_for(att, lambda: not _alive(octave))
        if found is None:
            return None
        if found == "timeout":
            return None, 0.0
        if not self.sleep(att, delay):
            return None
        return (found if plan in ("tvb", "octave") else None), delay

    def kill_once(self, att, plan):
        """Carry out one kill of the schedule on ``att``; the Kill, or None when the attempt ended first."""
        anchored = self.anchor(att, plan)
        if anchored is None:
            return None
        target_proc, delay = anchored
        fallback = ""
        for _ in range(2):  # where the kill lands, then the kill itself with as little in between as possible
            if target_proc is not None and not _alive(target_proc):
                fallback = f"the {plan} child had ended: killed the orchestrator instead"
                target_proc = None
            if target_proc is None and att.proc.poll() is not None:
                return None
            snapshot = _descendants(att.pid)
            kinds = {}
            for proc in snapshot:
                kinds.setdefault(_kind(proc), []).append(proc)
            step, detail = _landing(att, self.out, kinds)
            region = _regions_of(target_proc, plan) if target_proc is not None else None
            offset = len(att.text())
            if target_proc is None or _alive(target_proc):
                break
        kill = Kill(len(self.kills) + 1, att.round_no, att.number, plan, plan if target_proc else "orchestrator",
                    step, detail, time.monotonic() - att.t0, delay, fallback)
        os.kill(target_proc.pid if target_proc is not None else att.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        self.kills.append(kill)
        if target_proc is None:
            att.proc.wait(timeout=30)
            if att.proc.returncode == -signal.SIGKILL:
                att.orchestrator_killed = True
            else:  # it had just ended by itself: the signal hit nothing
                kill.target += " (missed)"
            self.check_orphans(att, kill, snapshot, killed_at)
        else:
            self.check_reported(att, kill, region, offset)
        return kill

    def check_orphans(self, att, kill, snapshot, killed_at):
        """All children of the killed orchestrator must be gone within ORPHAN_TIMEOUT s, having done nothing more."""
        tracked = {(p.pid, p.start): p for p in snapshot}
        for proc in _table().values():  # children started after the snapshot stay in its group / session
            if att.pid in (proc.pgid, proc.sid) and proc.pid != att.pid and proc.state not in "ZX":
                tracked.setdefault((proc.pid, proc.start), proc)
        names = {p: _describe(p) for p in tracked.values()}
        before = None
        while True:
            left = [p for p in tracked.values() if _alive(p)]
            now = time.monotonic()
            if before is None and left and now - killed_at >= ORPHAN_WORK_GRACE:
                before = _finished(self.out)
            if not left or now - killed_at >= ORPHAN_TIMEOUT:
                break
            time.sleep(TICK)
        kill.orphans = [names[p] for p in left]
        for proc in left:  # clean up, so that the next attempt runs alone (only these pids)
            if _alive(proc):
                os.kill(proc.pid, signal.SIGKILL)
        limit = time.monotonic() + 10
        while any(_alive(p) for p in left) and time.monotonic() < limit:
            time.sleep(TICK)
        if before is not None:
            kill.orphan_files = sorted(_finished(self.out) - before)

    def check_reported(self, att, kill, regions, offset):
        """A killed child: each region it worked on must be reported failed, and the run goes on to its end.

        A step-1 child serves up to 4 regions (their units share its lanes); an
        Octave child one. A child that had finished its work when the signal
        came (it was exiting) is reported a success: that kill missed and does
        not count. The run then goes on (a step, a region or its summary).
        """
        text = lambda: att.text()[offset:]  # noqa: E731
        step = "generated TVB" if kill.target == "tvb" else "processed raw NMM"
        done = lambda r: re.search(rf"Region {r} failed|Successfully {step} data for region {r}\b", text())  # noqa
        limit = time.monotonic() + REPORT_TIMEOUT
        while time.monotonic() < limit and att.running() and not all(done(r) for r in regions):
            time.sleep(TICK)
        if all(re.search(rf"Successfully {step} data for region {r}\b", text())
               and not re.search(rf"Region {r} failed", text()) for r in regions):
            kill.target += " (missed)"
            return
        att.child_kills.extend(regions)
        for r in regions:
            failed = re.compile(rf"Region {r} failed")
            limit = time.monotonic() + REPORT_TIMEOUT
            while time.monotonic() < limit and att.running() and not failed.search(text()):
                time.sleep(TICK)
            if not failed.search(text()):
                att.proc.poll()
                self.findings.append(("child kill not reported", f"kill {kill.number}: the {kill.target} child of "
                                      f"regions {regions} was killed, but {att.log.name} never says 'Region {r} "
                                      f"failed' (exit {att.proc.returncode})"))
                return
        after = max(text().index(f"Region {r} failed") for r in regions)
        goes_on = re.compile(r"# Processing Region|STEP [1-4]:|Successfully|# Summary")
        limit = time.monotonic() + REPORT_TIMEOUT
        while time.monotonic() < limit and att.running() and not goes_on.search(text()[after:]):
            time.sleep(TICK)
        att.proc.poll()
        if not goes_on.search(text()[after:]):
            self.findings.append(("child kill not reported", f"kill {kill.number}: the {kill.target} child of "
                                  f"regions {regions} was killed, but {att.log.name} never goes on after "
                                  f"reporting them (exit {att.proc.returncode})"))

    # -- attempts and rounds

    def finished(self, att):
        """Bookkeeping of an attempt that ended by itself; True when it completed (exit 0)."""
        status = att.proc.returncode
        text = att.text()
        if status == 0:
            if att.child_kills:
                self.findings.append(("child kill not reported", f"{att.log.name}: regions {att.child_kills} had "
                                      "a child killed, yet the attempt exited 0"))
            return True
        if status == 1 and att.child_kills:
            return False
        self.findings.append(("unexpected exit", f"{att.log.name} exited {status} without a kill that explains it; "
                              "its last lines:\n" + "\n".join(text.splitlines()[-15:])))
        return False

    def check_round(self, info, reference):
        out = info["out"]
        problems = _compare(reference / "nmm_spikes", out / "nmm_spikes")
        if problems:
            self.findings.append(("outputs differ", f"{info['label']}: {len(problems)} differences from the "
                                  "uninterrupted run:\n  " + "\n  ".join(problems[:30])))
        for category, paths in _leftovers(out).items():
            self.findings.append((category, f"{info['label']}: " + ", ".join(paths)))
        disagree = check_manifest(Layout(out))
        if disagree:
            self.findings.append(("manifest disagrees with the files", f"{info['label']}: " + "; ".join(disagree)))
        raw = out / "raw_nmm"
        left = sorted(p.name for p in raw.iterdir()) if raw.is_dir() else []
        if left:
            self.findings.append(("raw data left", f"{info['label']}: raw_nmm/ still holds {left}"))
        info["checked"] = True

    def run(self, reference):
        self.new_round()
        consecutive_failures = 0
        while True:
            self.check_time()
            att = self.attempt
            if att is None or not att.running():
                if att is not None and not att.orchestrator_killed:
                    if self.finished(att):
                        self.check_round(self.rounds[-1], reference)
                        if self.schedule_done():
                            return
                        self.new_round()
                        consecutive_failures = 0
                    elif not att.child_kills:
                        consecutive_failures += 1
                        if consecutive_failures >= 3:
                            raise Abort(f"3 attempts in a row failed without a kill; last log "
                                        f"{att.log}:\n{att.text()[-3000:]}")
                att = self.start_attempt()
            if self.schedule_done():
                while att.running():  # no more kills: let it run to its end
                    self.check_time()
                    time.sleep(0.05)
                continue
            if len(self.kills) >= MAX_KILLS:
                raise Abort(f"{MAX_KILLS} kills without {MIN_CHILD_KILLS} kills of each child: "
                            f"tvb {self.count('tvb')}, octave {self.count('octave')}")
            self.kill_once(att, self.next_plan())

    def stop(self):
        """Stop the running attempt and its children (only those pids) and the watchers."""
        att = self.attempt
        if att is not None and att.running():
            snapshot = _descendants(att.pid)
            att.proc.kill()
            att.proc.wait(timeout=30)
            for proc in snapshot:
                if _alive(proc):
                    os.kill(proc.pid, signal.SIGKILL)
        for watcher in self.watchers:
            watcher.stop()


def _summary(loop, seed, times):
    lines = [f"crash test seed {seed} (replay with DEEPSIF_CRASH_SEED={seed})",
             f"{len(loop.effective())} kills ({len(loop.kills) - len(loop.effective())} more missed: the "
             f"process had just ended), {len(loop.attempts)} attempts, {len(loop.rounds)} rounds "
             f"(attempts per round: {', '.join(str(r['attempts']) for r in loop.rounds)})",
             "kills by target: " + ", ".join(f"{t} {loop.count(t)}" for t in ("orchestrator", "tvb", "octave")),
             "kills by step: " + ", ".join(f"{s} {n}" for s, n in sorted(
                 {k.step: sum(x.step == k.step for x in loop.effective()) for k in loop.effective()}.items())),
             "kills by plan: " + ", ".join(f"{p} {sum(k.plan == p for k in loop.effective())}" for p in WEIGHTS),
             f"fallbacks (wanted child gone): {sum(bool(k.fallback) for k in loop.effective())}",
             f"watcher polls: {sum(w.polls for w in loop.watchers)}",
             "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items())]
    table = [f"  #{k.number:>2} r{k.round_no} a{k.attempt:<2} {k.plan:<6} -> {k.target:<12} at {k.at:5.2f} s "
             f"(+{k.delay:4.2f}) {k.step:<12} {k.detail}" + (f" [{k.fallback}]" if k.fallback else "")
             + (f" ORPHANS: {k.orphans}" if k.orphans else "") + (f" ORPHAN FILES: {k.orphan_files}"
                                                                    if k.orphan_files else "")
             for k in loop.kills]
    return "\n".join(lines), "\n".join(table)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc (Linux)")
def test_sigkill_at_random_moments_resumes_to_the_same_outputs(tvb76_cache, tmp_path):
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))

    def cmd_for(out):
        return [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
                "--start_region", str(START), "--end_region", str(END), *SETTINGS]

    seed = int(os.environ.get("DEEPSIF_CRASH_SEED") or random.SystemRandom().randrange(2 ** 32))
    print(f"\ncrash test seed {seed} (replay with DEEPSIF_CRASH_SEED={seed})", flush=True)
    times = {}

    # 1. the uninterrupted reference run
    t0 = time.monotonic()
    reference = tmp_path / "reference"
    res = subprocess.run(cmd_for(reference), env=env, capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL, cwd=tmp_path)
    times["reference run"] = time.monotonic() - t0
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    counts = {r: _num_spike(_marker(reference, 2, r)) for r in REGIONS}
    assert all(n > 0 for n in counts.values()), f"every region of the range should have clips: {counts}"
    print(f"reference run: clips per region {counts} in {times['reference run']:.1f} s", flush=True)

    # 2.-4. the crash loop (with the ordering watcher and the orphan checks)
    crash_root = tmp_path / "crash"
    crash_root.mkdir()
    t1 = time.monotonic()
    loop = CrashLoop(random.Random(seed), cmd_for, env, crash_root, t1 + TIME_LIMIT)
    aborted = None
    try:
        loop.run(reference)
    except Deadline:
        aborted = f"the crash loop did not finish within {TIME_LIMIT:.0f} s"
    except Abort as exc:
        aborted = str(exc)
    finally:
        loop.stop()
    times["crash loop"] = time.monotonic() - t1
    times["total"] = time.monotonic() - t0
    summary, table = _summary(loop, seed, times)
    print(table)
    print(summary, flush=True)
    assert aborted is None, (f"{aborted} (seed {seed}); logs in {crash_root}\nfindings so far: "
                             f"{loop.findings}\n{summary}")

    # 5. the final outputs, and everything seen on the way
    assert loop.schedule_done() and all(r.get("checked") for r in loop.rounds), summary
    findings = list(loop.findings)
    for att in loop.attempts:
        text = att.text()
        if "Traceback" in text:
            findings.append(("traceback", f"{att.log.name} (exit {att.proc.returncode}) holds a Python traceback:\n"
                             + text[text.index("Traceback"):][:1500]))
    for watcher in loop.watchers:
        findings += [("raw folder deleted too early", text) for text in watcher.violations.values()]
        findings += [("watcher error", text) for text in watcher.errors[:5]]
    for k in loop.kills:
        if k.orphans:
            findings.append(("orphaned children", f"kill {k.number} ({k.step}: {k.detail}): still alive "
                             f"{ORPHAN_TIMEOUT:.0f} s after the orchestrator's SIGKILL: {'; '.join(k.orphans)}"))
        if k.orphan_files:
            findings.append(("orphaned children", f"kill {k.number} ({k.step}: {k.detail}): files completed "
                             f"more than {ORPHAN_WORK_GRACE:.0f} s after the orchestrator's SIGKILL: "
                             f"{', '.join(k.orphan_files)}"))
    by_category = {}
    for category, text in findings:
        by_category.setdefault(category, []).append(text)
    report = "\n".join(f"[{category}] ({len(texts)})\n  " + "\n  ".join(t.replace("\n", "\n    ") for t in texts)
                       for category, texts in by_category.items())
    if report:
        print(report)
    assert not findings, (f"crash safety violated (seed {seed}, logs in {crash_root}):\n{report}\n\n"
                          f"{summary}\n{table}")
