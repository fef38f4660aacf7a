#!/usr/bin/env python3
"""The whole dataset, this tree against commit 2645c43, side by side (issue 20's targets).

What runs
---------
Two code trees, each through its own ``pipeline_orchestrator.py`` as a user
runs it (defaults: fast engine, 200 simulated seconds per mean iteration;
``--anatomy`` DeepSIF's 994-region template), with the same ``.venv``
python, each into its own output folders:

- ``new``: this tree;
- ``old``: commit ``--old-commit`` (default ``2645c43``, the code before
  issue 20), its whole tree exported with ``git archive`` into a temporary
  folder, as ``bench/bench_engines.py`` does for the previous engine;
- ``new-all``: this tree with ``--mean-iterations all``, only when this
  tree's ``--help`` has that option and the step-4 check is on.

The regions: ``--n-random`` regions drawn with Python's ``random.seed(
--sample-seed); random.sample(range(994), n)`` (the draw of issue 20: its
first 16 of 40 are the 16 drawn here), which the time and clip-folder
extrapolation use; plus the hand-picked regions (330, 331, 700, 701: many
clips; 0, 1, 922, 923: few or none), reported separately as a check.
A region in both sets runs in both (separate output folders).

Each tree first runs region 922 untimed at 1.5 s (its numba cache
compiled, as in any run after the first), then the same command again on
that finished folder: the region is skipped, so that run's whole wall is
the orchestrator's start-up (imports, template, plan, claims, checks),
measured once per tree and printed.

How this maps to ``--workers 2`` on all 994 regions
---------------------------------------------------
Each set (random, hand-picked) is split into chunks of ``--chunk`` regions
(default 8: two workers holding 4 regions each, so that step 1's 4 lanes
can be filled with units of several regions). Every chunk is a round; in
a round each tree runs the chunk in turn, and the tree that goes first
rotates from round to round, so the load of the machine (shared with
others) falls on every tree alike.

- A tree whose ``--help`` has ``--regions`` (``new``, ``new-all``): the
  chunk is ONE orchestrator run ``--regions <chunk> --workers 2
  --skip-synthesis``, exactly what a user's ``--workers 2`` run does on
  these regions: each worker holds up to 4 regions and one step-1 process
  (``generate_tvb_data.py --units R:M ...``) advances up to 4 units of any
  of them.
- The old tree (no ``--regions``): one run per region (``--start_region r
  --end_region r+1 --workers 1``), two at a time from a queue. That is its
  ``--workers 2``: its step-1 process never holds more than one region.

A run of all 994 regions pays one start-up; a chunk pays one (new) or one
per region, two at a time (old). So the hours per tree are (sum of its
chunk walls - its start-ups in them) / regions run x 994 + one start-up,
the start-ups in a chunk being ``start-up x runs / runs at once`` (1 for a
chunked tree, regions / 2 for the old one: two start-ups overlap). What
this leaves out: a 994-region run keeps both workers busy until its end,
while each chunk ends with a tail where one worker may wait for the other
(both trees have it, once per chunk; larger chunks shrink it).

Step attribution: while each orchestrator runs, a watcher reads ``/proc``
every 0.2 s and records each step-1 process (``generate_tvb_data.py
--units ...`` in this tree, ``--a_start r`` in the old one) and step-2
process (the Octave run of ``logs/region_{r}_step2_job.mat``): its wall
(first to last seen) and peak memory (``VmHWM``), and the size of each
region's ``raw_nmm/a{r}``. A step-1 process of this tree serves several
regions, so step 1 is reported per tree as (sum of step-1 process walls) /
(sum of step-1 and step-2 process walls), with its peak memory; clips are
reported per region.

Step 4 and the pack at full scale, per tree: step 4 (train) of that tree
(its ``bench/bench_step4.py``) on the template with a fixture of as many
clips per region as that tree's random-sample mean, plus one read of the
clips it draws at the disk's read rate (``dd iflag=direct``); the pack: its
per-clip time with that tree's code on its random-sample clips, plus one
read of the drawn clips and one write of the pack at the disk's rates. The
drawn clips: 0.98 x (mean over regions of min(clips, nper 100)) x 994
(97,300 of 99,400 fixture clips are drawn at 100 per region): step 4 and
the pack read only the clips step 4 draws (``clip_rows``). The clip folder:
mean clips per region x bytes per clip x 994 (also for ``new-all``).

Only ``--sim-length 200`` measures the target. Shorter runs are printed as
run, nothing scaled (hours, clips, clip folder at that length), and marked
as not the target's measure: with chunks, a region's step-1 time cannot be
separated from the others' in its passes, so the per-region scaling of
earlier versions does not carry over; and with ``needed`` a tree decides
to stop on its clip count at that length, not at 200 s.

The step-4 check (when this tree has ``--mean-iterations``): the sample's
regions are also run with ``--mean-iterations all``; step 4 (train) then
runs twice with this tree's code on the template, the other regions from a
fixture (``tests/clip_fixture.py``, as written by step 2) and the sample's
regions from the real clips of either folder (hard links), and the two
step-4 files are compared with ``numpy.array_equal`` in ``selected_region``,
``nmm_idx``, ``random_samples``, ``current_snr``, ``scale_ratio`` and
``mag_change``.

Commands
--------
The full run, for issue 20's targets (16 random + 8 hand-picked regions in
3 chunks of 8; 3 trees)::

    .venv/bin/python bench/bench_dataset.py --anatomy /work/shared/anatomy/deepsif

Its duration, estimated from issue 20's figures (not run through here): on
an idle 2-core machine the old tree did 100 regions per hour with two at a
time, so its 24 regions take about 15 min; ``new-all`` about the same or
less (full lanes), ``new`` about half (the 2x target); warm-ups and
start-ups 1 min; step 4 at full scale twice (242 s each on 2026-11-29,
README "Measured here", plus a fixture of 2 files per region, about 2 min),
the packs' probes 2 min each, the check's fixture and two step-4 runs
10 min: about 1 h 10 min idle; more on a shared machine.

Without the step-4 parts (2 trees, about 25 min idle)::

    .venv/bin/python bench/bench_dataset.py --anatomy /work/shared/anatomy/deepsif --no-step4

A fast check that everything runs (not a measure; about 2 minutes here on
2026-12-06 with a load average of 5 on the 2 cores)::

    .venv/bin/python bench/bench_dataset.py --anatomy /work/shared/anatomy/deepsif --sim-length 2 \
        --n-random 2 --hand-picked 922 923 --no-step4 --chunk 2
"""

import argparse
import os
from pathlib import Path
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from scipy.io import loadmat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import deepsif_anatomy  # noqa: E402
from tests.clip_fixture import write_spike_clips  # noqa: E402

from deepsif_pipeline.store.layout import Layout  # noqa: E402

STEP1_OLD = re.compile(r"generate_tvb_data\.py.*--a_start\s+(\d+)")  # 2645c43: one region's mean iterations
STEP1_NEW = re.compile(r"generate_tvb_data\.py.*--units((?:\s+\d+:\d+)+)")  # units (region:mean iteration) of any regions
STEP2 = re.compile(r"region_(\d+)_step2_job\.mat")
WORKERS = 2  # the target's --workers
OLD_COMMIT = "2645c43"  # before issue 20
HAND_PICKED = [330, 331, 700, 701, 0, 1, 922, 923]
PUBLISHED_S = 200.0  # simulated seconds per mean iteration in the published run
PROBE_S = 1.5  # simulated seconds of the warm-up and of the start-up probe (the shortest allowed)
PROBE_REGION = 922  # no outgoing connection: no clips, step 2 quick
TARGET_RATIO = 2.0  # issue 20: the whole dataset at least 2x faster
CHECKED = ["selected_region", "nmm_idx", "random_samples", "current_snr", "scale_ratio", "mag_change"]
CLIP_FILE = re.compile(r"nmm_\d+\.mat$")

# Seconds per clip of a tree's pack code on a folder's clips, run in a child with that tree first on
# sys.path (argv: tree, output folder, "r:n,r:n,...").
PACK_PROBE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import numpy as np
from scipy.io import savemat
try:
    from deepsif_pipeline.store.layout import Layout
except ModuleNotFoundError:  # a tree from before the package had subpackages
    from deepsif_pipeline.layout import Layout
from deepsif_pipeline.steps import pack
layout = Layout(Path(sys.argv[2]))
rows = [(int(r), k) for item in sys.argv[3].split(",") for r, n in [item.split(":")] for k in range(1, int(n) + 1)]
fake = layout.synthesis_file("test")
savemat(fake, {"clip_rows": np.array(rows, dtype=float)})
try:
    start = time.time()
    pack.pack_clips(layout, "test", log=lambda *_: None)
    print((time.time() - start) / len(rows))
finally:
    fake.unlink(missing_ok=True)
    layout.pack_file("test").unlink(missing_ok=True)
"""
# ---------------------------------------------------------------------------
# watching the orchestrator's children


def _children_of(root):
    """Pids of every descendant of ``root`` (from ``/proc/*/stat``)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [root]
    while todo:
        p = todo.pop()
        for child, par in parent.items():
            if par == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _peak_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Watcher(threading.Thread):
    """Samples a process tree and a raw folder: each step-1 and step-2 process; raw peak bytes per region.

    A step-1 process of this tree (``--units 3:0 17:0 ...``) serves several
    regions, so processes are recorded as they are, not per region.
    """

    def __init__(self, root_pid, raw_root, period=0.2):
        super().__init__(daemon=True)
        self.root, self.raw_root, self.period = root_pid, Path(raw_root), period
        self.procs = {}  # (pid, step) -> {"step", "regions", "first", "last", "peak_kb"}
        self.raw_peak = {}  # region -> bytes
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            now = time.time()
            for pid in _children_of(self.root):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                m_old, m_new, m2 = STEP1_OLD.search(cmd), STEP1_NEW.search(cmd), STEP2.search(cmd)
                if m_new:
                    step, regions = 1, sorted({int(u.split(":")[0]) for u in m_new.group(1).split()})
                elif m_old:
                    step, regions = 1, [int(m_old.group(1))]
                elif m2:
                    step, regions = 2, [int(m2.group(1))]
                else:
                    continue
                info = self.procs.setdefault((pid, step), {"step": step, "regions": regions, "first": now,
                                                           "last": now, "peak_kb": 0})
                info["last"] = now
                info["peak_kb"] = max(info["peak_kb"], _peak_kb(pid) or 0)
            if self.raw_root.is_dir():
                for folder in self.raw_root.glob("a*"):
                    try:
                        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
                    except OSError:
                        continue
                    r = int(folder.name[1:])
                    self.raw_peak[r] = max(self.raw_peak.get(r, 0), size)
            self.done.wait(self.period)

    def records(self):
        """One dict per process seen: ``step``, ``regions``, ``wall`` (s, first to last seen), ``mb`` (peak)."""
        return [{"step": x["step"], "regions": x["regions"], "wall": x["last"] - x["first"] + self.period,
                 "mb": x["peak_kb"] / 1024} for x in self.procs.values()]


# ---------------------------------------------------------------------------
# the disk


def disk_rates(folder, size_mb=2048):
    """(write, read) MB/s of ``folder``'s disk: ``dd`` with direct I/O on a file of ``size_mb``."""
    probe = Path(folder) / ".bench_disk_probe"
    try:
        rates = []
        for cmd in (["dd", "if=/dev/zero", f"of={probe}", "bs=16M", f"count={size_mb // 16}", "oflag=direct",
                     "conv=fsync"],
                    ["dd", f"if={probe}", "of=/dev/null", "bs=16M", "iflag=direct"]):
            start = time.time()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rates.append(size_mb / (time.time() - start))
        return tuple(rates)
    finally:
        probe.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# the trees and their runs


class Tree:
    """A code tree, the options its orchestrator gets beyond the bench's, and its runs.

    Attributes
    ----------
    label : str
        ``new``, ``old`` or ``new-all``.
    root : Path
        The tree's root (``pipeline_orchestrator.py`` there).
    extra : list of str
        Options added to every run of this tree.
    chunked : bool
        Whether its orchestrator has ``--regions``: then a chunk is one run
        ``--regions <chunk> --workers 2``; otherwise one run per region,
        two at a time.
    startup : float
        Seconds of one orchestrator run that has nothing to do (measured).
    runs : dict
        ``(set name, region) -> dict`` of ``raw`` (peak raw bytes),
        ``clips``, ``bytes``, ``out`` (output folder).
    chunks : list of dict
        ``set``, ``regions``, ``wall`` (s), ``launches`` (orchestrator runs),
        ``slots`` (runs at once).
    procs : dict
        ``set name -> list`` of the watcher's records of its step-1 and
        step-2 processes.
    """

    def __init__(self, label, root, extra=()):
        self.label, self.root, self.extra = label, Path(root), list(extra)
        self.chunked = has_option(self.root, "--regions")
        self.startup = 0.0
        self.runs, self.chunks, self.procs = {}, [], {}


def export_commit(commit, into):
    """Extract the tree of ``commit`` of this repository into the folder ``into``; return ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def has_option(root, option):
    """Whether ``option`` appears in the ``--help`` of ``root``'s orchestrator."""
    text = subprocess.run([sys.executable, str(root / "pipeline_orchestrator.py"), "--help"], check=True,
                          capture_output=True, text=True).stdout
    return option in text


def orchestrator(tree, anatomy, out, regions, sim_length):
    """The command line of one run of ``tree`` on ``regions`` (step 4 left out).

    A chunked tree gets ``--regions`` and ``--workers 2``; the old tree gets
    one region, ``--start_region r --end_region r+1 --workers 1``.
    """
    cmd = [sys.executable, str(tree.root / "pipeline_orchestrator.py"), "--anatomy", str(anatomy),
           "--output", str(out)]
    if tree.chunked:
        cmd += ["--regions", ",".join(map(str, regions)), "--workers", str(WORKERS)]
    else:
        (region,) = regions
        cmd += ["--start_region", str(region), "--end_region", str(region + 1), "--workers", "1"]
    return cmd + ["--sim-length", f"{sim_length:g}", "--skip-synthesis", "--progress", "lines", *tree.extra]


def clips_of(out, region):
    """(clips, bytes) in ``out``'s clip folder of ``region``."""
    folder = Layout(out).clip_dir(region)
    files = [p for p in folder.iterdir() if CLIP_FILE.match(p.name)] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def run_chunk(tree, set_name, regions, anatomy, sim_length, work):
    """Run one chunk of ``regions`` with ``tree`` as a ``--workers 2`` run would; record it; its wall seconds.

    A chunked tree: one orchestrator run ``--regions <chunk> --workers 2``.
    The old tree: one run per region, two at a time (a queue: the next
    region starts when one ends), as its ``--workers 2`` runs them.
    """
    out = work / tree.label / set_name
    out.mkdir(parents=True, exist_ok=True)
    queue = [list(regions)] if tree.chunked else [[r] for r in regions]
    slots = 1 if tree.chunked else WORKERS
    launches, running, raw = len(queue), [], {}
    procs = tree.procs.setdefault(set_name, [])
    t0 = time.time()
    while queue or running:
        while queue and len(running) < slots:
            group = queue.pop(0)
            log_path = out / f"bench_{'chunk_' if tree.chunked else ''}{group[0]}.log"
            log = open(log_path, "w")
            proc = subprocess.Popen(orchestrator(tree, anatomy, out, group, sim_length), stdout=log,
                                    stderr=subprocess.STDOUT, cwd=str(tree.root))
            watch = Watcher(proc.pid, Layout(out).raw_root)
            watch.start()
            running.append((group, proc, watch, log, log_path))
        for item in list(running):
            group, proc, watch, log, log_path = item
            if proc.poll() is None:
                continue
            running.remove(item)
            watch.done.set()
            watch.join()
            log.close()
            if proc.returncode != 0:
                sys.exit(f"{tree.label}: the orchestrator failed on regions {group} (exit {proc.returncode}); "
                         f"see {log_path}")
            procs.extend(watch.records())
            for r, size in watch.raw_peak.items():
                raw[r] = max(raw.get(r, 0), size)
        time.sleep(0.1)
    wall = time.time() - t0
    for r in regions:
        clips, size = clips_of(out, r)
        tree.runs[(set_name, r)] = {"raw": raw.get(r, 0), "clips": clips, "bytes": size, "out": out}
    tree.chunks.append({"set": set_name, "regions": list(regions), "wall": wall, "launches": launches,
                        "slots": slots})
    return wall


def warm_up(tree, anatomy, work):
    """One untimed region of ``tree`` at 1.5 s (numba's cache compiled), then its start-up measured.

    The start-up: the same command again on the finished folder, which
    skips the region, so its whole wall is the orchestrator's start-up
    (imports, template, plan, claims, checks). Stored in ``tree.startup``.
    """
    out = work / f"warmup_{tree.label}"
    cmd = orchestrator(tree, anatomy, out, [PROBE_REGION], PROBE_S)
    t0 = time.time()
    for what in ("warm-up", "start-up"):
        t0 = time.time()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tree.root))
        if done.returncode != 0:
            sys.exit(f"the {what} of {tree.label} failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
        if what == "warm-up":
            print(f"  warm-up of {tree.label} ({tree.root}): {time.time() - t0:.0f} s", flush=True)
    tree.startup = time.time() - t0
    shutil.rmtree(out, ignore_errors=True)
    print(f"  start-up of {tree.label} (a run on region {PROBE_REGION}'s finished folder: nothing to do): "
          f"{tree.startup:.1f} s", flush=True)


# ---------------------------------------------------------------------------
# extrapolation


def summary(tree, set_name, args):
    """Figures of ``tree`` on one set, as run (nothing scaled), for ``args.regions`` regions.

    The hours: (sum of the set's chunk walls - the start-ups in them) /
    regions run x ``args.regions``, plus one start-up. A chunk's runs at
    once overlap their start-ups, so a chunk holds ``launches / slots``
    start-ups of wall time (one for a chunked tree; half a run per region
    for the old tree, two at a time).

    Returns
    -------
    dict
        ``n`` (regions run), ``wall`` (sum of chunk walls, s),
        ``startups`` (s subtracted), ``region_s`` (wall per region without
        start-up), ``hours``, ``clips`` (mean per region), ``used`` (mean
        clips per region step 4 can draw, at most nper 100), ``per_clip``
        (bytes), ``volume`` (bytes of the clip folder), ``s1_share`` (step-1
        process walls / step-1 and step-2 process walls), ``n1`` (step-1
        processes), ``m1``, ``m2`` (peak MB), ``raw`` (peak raw bytes of a
        region).
    """
    chunks = [c for c in tree.chunks if c["set"] == set_name]
    regions = [r for c in chunks for r in c["regions"]]
    wall = sum(c["wall"] for c in chunks)
    startups = sum(tree.startup * c["launches"] / c["slots"] for c in chunks)
    region_s = (wall - startups) / len(regions)
    runs = [tree.runs[(set_name, r)] for r in regions]
    clips = [x["clips"] for x in runs]
    n_clips = sum(clips)
    per_clip = sum(x["bytes"] for x in runs) / n_clips if n_clips else float("nan")
    mean_clips = float(np.mean(clips))
    procs = tree.procs.get(set_name, [])
    s1 = sum(p["wall"] for p in procs if p["step"] == 1)
    s2 = sum(p["wall"] for p in procs if p["step"] == 2)
    return {"n": len(regions), "wall": wall, "startups": startups, "region_s": region_s,
            "hours": (region_s * args.regions + tree.startup) / 3600,
            "clips": mean_clips, "used": float(np.mean(np.minimum(clips, 100))), "per_clip": per_clip,
            "volume": mean_clips * per_clip * args.regions if n_clips else 0.0,
            "s1_share": s1 / (s1 + s2) if s1 + s2 else float("nan"),
            "n1": sum(p["step"] == 1 for p in procs),
            "m1": max([p["mb"] for p in procs if p["step"] == 1], default=0.0),
            "m2": max([p["mb"] for p in procs if p["step"] == 2], default=0.0),
            "raw": max(x["raw"] for x in runs)}


def step4_at_full_scale(tree, anatomy, clips_per_region, workdir):
    """Wall seconds of step 4 (train) of ``tree`` on the template with ``clips_per_region`` fixture clips."""
    cmd = [sys.executable, str(tree.root / "bench" / "bench_step4.py"), "--anatomy", str(anatomy),
           "--clips-per-region", str(clips_per_region), "--dataset", "train", "--workdir", str(workdir)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    print("    " + out.strip().replace("\n", "\n    "), flush=True)
    return float(re.search(r"step 4, \d+ process\(es\): ([\d.]+) s wall", out).group(1))


def pack_seconds_per_clip(tree, out, regions):
    """Seconds per clip of ``tree``'s pack code on the clips of ``regions`` in ``out`` (None without clips)."""
    items = [f"{r}:{tree.runs[(s, r)]['clips']}" for s, r in regions if tree.runs[(s, r)]["clips"]]
    if not items:
        return None
    text = subprocess.run([sys.executable, "-c", PACK_PROBE, str(tree.root), str(out), ",".join(items)],
                          check=True, stdout=subprocess.PIPE, text=True).stdout
    return float(text.split()[-1])


# ---------------------------------------------------------------------------
# the step-4 check


def step4_check(anatomy, sources, work, fixture_clips=100, dataset="train"):
    """Step 4 (this tree's) on the template, the sample's regions from each folder; compare.

    Parameters
    ----------
    anatomy : Path
        The template.
    sources : dict
        ``name -> {region: clip folder}``: the sample's real clips of each
        run (the other regions get fixture clips).
    work : Path
        Folder for the fixture and the step-4 files (removed by the caller).
    fixture_clips : int
        Clips per region of the fixture.
    dataset : {'train', 'test'}
        Step 4's mode (``train``: nper 100, as the default ``needed`` stops at).

    Returns
    -------
    dict
        ``variable -> bool``: identical in every step-4 file.
    """
    from deepsif_pipeline.head.anatomy import DISTANCES_VARIABLE, distance_file, load_template
    from deepsif_pipeline.processes.engine import find_engine
    from deepsif_pipeline.config.settings import Settings
    from deepsif_pipeline.steps import Context, extract, synthesise

    template = load_template(str(anatomy))
    engine = find_engine("auto")
    layout = Layout(work)
    distances = distance_file(template, layout.derived_dir, log=lambda *_: None)
    base = np.full(template.n_regions, fixture_clips)
    t0 = time.time()
    write_spike_clips(layout.clip_root, base, loadmat(str(distances))[DISTANCES_VARIABLE], template.leadfield,
                      distinct=2)
    print(f"  fixture: {fixture_clips} clips for each other region, written in {time.time() - t0:.0f} s",
          flush=True)
    saved = {}
    for name, folders in sources.items():
        counts = base.copy()
        for r, src in folders.items():
            dst = layout.clip_dir(r)
            shutil.rmtree(dst)
            dst.mkdir()
            files = [p for p in src.iterdir() if CLIP_FILE.match(p.name)] if src.is_dir() else []
            for p in files:
                os.link(p, dst / p.name)
            counts[r] = len(files)
        ctx = Context(Settings(dataset=dataset), template, layout, engine)
        out = layout.synthesis_file(dataset)
        asked = synthesise.fingerprint(ctx.settings, template, ctx.leadfield, ctx.fingerprint(extract.STEP), counts)
        fields = synthesise.job_fields(ctx, counts, distances, out, asked)
        t0 = time.time()
        if synthesise.run_staged(engine, fields, layout, dataset, synthesise.processes()) != 0:
            sys.exit(f"step 4 of the check failed ({name}); see {layout.synthesis_log(dataset)}")
        keep = work / f"step4_{name}.mat"
        out.replace(keep)
        saved[name] = loadmat(str(keep), variable_names=CHECKED)
        print(f"  step 4 with the clips of {name}: {time.time() - t0:.0f} s; sample counts "
              f"{', '.join(f'{r}: {counts[r]}' for r in sorted(folders))}", flush=True)
    first, *others = saved.values()
    return {v: all(v in first and v in o and np.array_equal(first[v], o[v]) for o in others) for v in CHECKED}


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(deepsif_anatomy.locate().folder),
                    help="DeepSIF's anatomy/ folder (default: $DEEPSIF_ANATOMY, else ../shared/anatomy/deepsif)")
    ap.add_argument("--old-commit", default=OLD_COMMIT, help="the commit compared with this tree")
    ap.add_argument("--n-random", type=int, default=16, help="regions drawn at random (at least 16 for the target)")
    ap.add_argument("--sample-seed", type=int, default=7, help="random.seed of the draw")
    ap.add_argument("--hand-picked", type=int, nargs="*", default=HAND_PICKED,
                    help="regions run as a check, reported separately")
    ap.add_argument("--chunk", type=int, default=4 * WORKERS,
                    help="regions per round (one --regions run of a chunked tree; default 8: 2 workers x 4 lanes)")
    ap.add_argument("--sim-length", type=float, default=PUBLISHED_S,
                    help="simulated seconds per mean iteration; only 200 measures the target (nothing is scaled)")
    ap.add_argument("--regions", type=int, default=994, help="regions of the whole dataset")
    ap.add_argument("--step4", action=argparse.BooleanOptionalAction, default=True,
                    help="step 4 at full scale per tree, and the step-4 check (tens of minutes)")
    ap.add_argument("--workdir", default=None, help="output folders (kept); default: a temporary one, removed")
    args = ap.parse_args()
    args.anatomy = Path(args.anatomy).resolve()

    work = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    work.mkdir(parents=True, exist_ok=True)
    if any((work / name).exists() for name in ("old", "new", "new-all")):
        sys.exit(f"{work} holds the runs of an earlier bench (regions done are skipped): give a new --workdir")
    rng = random.Random(args.sample_seed)
    drawn = rng.sample(range(args.regions), args.n_random)
    def chunks(regions):
        return [regions[i:i + args.chunk] for i in range(0, len(regions), args.chunk)]

    if args.n_random < 1 or args.chunk < 1:
        sys.exit("--n-random and --chunk must be at least 1")
    sets = [(name, regions) for name, regions in (("random", drawn), ("hand", args.hand_picked)) if regions]
    jobs = [("random", c) for c in chunks(drawn)] + [("hand", c) for c in chunks(args.hand_picked)]

    new = Tree("new", REPO)
    old_root = export_commit(args.old_commit, work / "old_tree")
    old = Tree("old", old_root)
    trees = [old, new]
    check = has_option(REPO, "--mean-iterations")
    if check and args.step4:
        trees.append(Tree("new-all", REPO, ["--mean-iterations", "all"]))
    short = args.sim_length != PUBLISHED_S
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.sim_length:g} simulated s per "
          f"mean iteration{' (NOT the target: only 200 measures it; nothing scaled)' if short else ''}; chunks of "
          f"{args.chunk} regions; trees: " + "; ".join(
              f"{t.label} = {t.root}" + (f" {' '.join(t.extra)}" if t.extra else "")
              + (f" (a chunk = one run --regions ... --workers {WORKERS})" if t.chunked
                 else f" (no --regions: a chunk = one run per region, {WORKERS} at a time)") for t in trees))
    print(f"random regions (random.seed({args.sample_seed}), random.sample(range({args.regions}), {args.n_random})): "
          f"{drawn}; hand-picked: {args.hand_picked}", flush=True)
    for tree in trees:
        warm_up(tree, args.anatomy, work)

    t_start = time.time()
    for i, (set_name, regions) in enumerate(jobs):
        order = trees[i % len(trees):] + trees[:i % len(trees)]
        line = [f"{tree.label} {run_chunk(tree, set_name, regions, args.anatomy, args.sim_length, work):.0f} s"
                for tree in order]
        print(f"  round {i + 1}/{len(jobs)}, {set_name} {regions}: " + "; ".join(line)
              + f" ({(time.time() - t_start) / 60:.1f} min)", flush=True)

    for set_name, regions in sets:
        print(f"\n{set_name} regions, clips per region (at {args.sim_length:g} s):")
        print(f"{'region':>7}" + "".join(f"{t.label:>10}" for t in trees))
        for r in regions:
            print(f"{r:>7}" + "".join(f"{t.runs[(set_name, r)]['clips']:>10}" for t in trees))

    for tree in trees:
        if tree.chunked:
            logs = sorted((work / tree.label).glob("*/logs/region_*.log"))
            firsts = [p.read_text().split("\n", 1)[0] for p in logs]
            units = sum(line.startswith("$ ") and "--units" in line for line in firsts)
            print(f"logs of {tree.label}: {units} of {len(logs)} region logs begin with a step-1 command "
                  f"with --units")

    write_mb, read_mb = disk_rates(work)
    print(f"\ndisk: {write_mb:.0f} MB/s write, {read_mb:.0f} MB/s read (dd, direct I/O)")
    results = {}
    for set_name, regions in sets:
        print(f"\n{'RANDOM SAMPLE (the extrapolation)' if set_name == 'random' else 'HAND-PICKED (a check)'}: "
              f"{len(regions)} regions" + (f"; as run at {args.sim_length:g} s, nothing scaled: NOT the target's "
                                          f"measure" if short else ""))
        for tree in trees:
            s = summary(tree, set_name, args)
            results[(tree.label, set_name)] = s
            print(f"  {tree.label:>8}: chunks {s['wall']:.0f} s - start-ups {s['startups']:.0f} s = "
                  f"{s['region_s']:.1f} s per region -> {args.regions} regions + 1 start-up {s['hours']:.2f} h; "
                  f"{s['clips']:.1f} clips per region ({s['used']:.1f} drawable), {s['per_clip'] / 1e6:.2f} MB "
                  f"per clip -> clip folder {s['volume'] / 1e9:.0f} GB; step 1 {100 * s['s1_share']:.0f}% of the "
                  f"step-1 + step-2 process time ({s['n1']} step-1 processes); peaks: step 1 {s['m1']:.0f} MB, "
                  f"step 2 {s['m2']:.0f} MB, raw {s['raw'] / 1e6:.0f} MB", flush=True)

    totals = {}
    for tree in (old, new):
        s = results[(tree.label, "random")]
        rows = 0.98 * s["used"] * args.regions  # measured: 97,300 of 99,400 clips drawn at 100 per region
        read_s = rows * s["per_clip"] / 1e6 / read_mb if s["clips"] else 0.0
        step4_s = pack_s = None
        if args.step4 and s["clips"]:
            print(f"\nstep 4 (train) of {tree.label} at full scale, {round(s['clips'])} fixture clips per region:",
                  flush=True)
            step4_s = step4_at_full_scale(tree, args.anatomy, max(1, round(s["clips"])), work / "step4_fixture")
            step4_s += read_s
        per_pack = pack_seconds_per_clip(tree, work / tree.label / "random", [("random", r) for r in drawn])
        if per_pack is not None:
            r, x = next((r, x) for (_, r), x in tree.runs.items() if x["clips"])
            shape = loadmat(str(Layout(x["out"]).clip(r, 1)), variable_names=["data"])["data"].size
            pack_s = rows * per_pack + read_s + rows * shape * 4 / 1e6 / write_mb  # the pack stores float32
            print(f"the pack of {tree.label}: {per_pack * 1e3:.1f} ms per clip here (page cache), {rows:.0f} rows "
                  f"at full scale")
        totals[tree.label] = s["hours"] + (step4_s or 0) / 3600 + (pack_s or 0) / 3600
        print(f"{tree.label}: whole dataset {args.regions} regions {s['hours']:.2f} h"
              + (f" + step 4 {step4_s / 3600:.2f} h" if step4_s else " + step 4 (not run)")
              + (f" + pack {pack_s / 3600:.2f} h" if pack_s else "")
              + f" = {totals[tree.label]:.2f} h" + (f" (at {args.sim_length:g} s)" if short else ""), flush=True)
    shutil.rmtree(work / "step4_fixture", ignore_errors=True)

    print("\nTARGETS (issue 20)" + (f": NOT measured: mean iterations of {args.sim_length:g} s, nothing scaled "
                                    f"(only --sim-length 200 measures the target)" if short else ""))
    print("  start-ups (one orchestrator run with nothing to do): "
          + ", ".join(f"{t.label} {t.startup:.1f} s" for t in trees))
    for set_name, _ in sets:
        o, n = results[("old", set_name)], results[("new", set_name)]
        print(f"  {set_name}: regions only, old / new {o['hours'] / n['hours']:.2f}x; clip folder old "
              f"{o['volume'] / 1e9:.0f} GB, new {n['volume'] / 1e9:.0f} GB"
              + (f", new-all {results[('new-all', set_name)]['volume'] / 1e9:.0f} GB"
                 if ("new-all", set_name) in results else ""))
        each = [a["wall"] / b["wall"] for a, b in zip(old.chunks, new.chunks) if a["set"] == set_name]
        print(f"    old / new wall of each chunk as run (start-ups included): "
              f"geometric mean {np.exp(np.mean(np.log(each))):.2f}x, from {min(each):.2f}x to {max(each):.2f}x")
    ratio = totals["old"] / totals["new"]
    what = "whole dataset (regions + step 4 + pack)" if args.step4 else "regions + pack (step 4 not run)"
    small = f"; only {len(drawn)} random regions, the target asks at least 16" if len(drawn) < 16 else ""
    print(f"  the {what} at least {TARGET_RATIO:g}x faster, random sample: old {totals['old']:.2f} h / new "
          f"{totals['new']:.2f} h = {ratio:.2f}x ({'met' if ratio >= TARGET_RATIO else 'NOT met'}{small}"
          + (f"; at {args.sim_length:g} s: not the target's measure" if short else "") + ")")

    if not check:
        print("  step-4 check: skipped: this tree has no --mean-iterations")
    elif not args.step4:
        print("  step-4 check: skipped (--no-step4)")
    else:
        print("\nstep-4 check: this tree's default against --mean-iterations all, on the sample:", flush=True)
        sources = {}
        for tree in trees:
            if tree.label in ("new", "new-all"):
                folders = sources[tree.label] = {}
                for (set_name, r), x in sorted(tree.runs.items(), key=lambda item: item[0][0] != "random"):
                    folders.setdefault(r, Layout(x["out"]).clip_dir(r))  # in both sets: its random run
        same = step4_check(args.anatomy, sources, work / "step4_check")
        print("  " + ", ".join(f"{v} {'identical' if ok else 'DIFFERENT'}" for v, ok in same.items()))
        print(f"  step 4 unchanged: {'met' if all(same.values()) else 'NOT met'}")
        shutil.rmtree(work / "step4_check", ignore_errors=True)
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
