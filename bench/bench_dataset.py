#!/usr/bin/env python3
"""The whole dataset on this machine: a sample of regions at the published length, extrapolated.

Runs the orchestrator as a user would (default settings: fast engine,
200 simulated seconds per mean iteration, ``--workers 2``) on a sample of
regions spread over the 994-region template, one range of ``--workers``
neighbouring regions per start (``--starts``). The default sample holds
regions with many clips (330, 700) and with none (922, 923: no outgoing
connection). While it runs, a watcher reads ``/proc`` every 0.2 s and
attributes each child process to a step and region (step 1 is
``generate_tvb_data.py --a_start r``, step 2 the Octave run of
``logs/region_{r}_step2_job.mat``): its wall time (first to last seen) and
peak memory (``VmHWM``), and the size of each region's ``raw_nmm/a{r}``.

Prints, per region, steps 1 and 2 (wall, peak memory), the rest of the
region (claims, checks, step 3), the peak raw disk and the clips; then the
regions per hour of the sample and the extrapolation to all regions, plus
step 4 and the pack at full scale:

- step 4: run for real on the template with a fixture of as many clips per
  region as the sample's mean (``bench/bench_step4.py``'s fixture: page
  cache reads), plus one read of the real clip volume at the disk's read
  rate (``dd iflag=direct`` on a file written here);
- the pack: its per-clip time measured by packing the sample's real clips,
  plus one read of the clip volume and one write of the pack at the disk's
  rates (the pack of the full dataset does not fit on this disk).

    python bench/bench_dataset.py                                  # the published length, ~25 min
    python bench/bench_dataset.py --sim-length 20 --starts 700 --no-step4
"""

import argparse
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from scipy.io import loadmat, savemat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import deepsif_anatomy  # noqa: E402

from deepsif_pipeline.layout import Layout  # noqa: E402

STEP1 = re.compile(r"generate_tvb_data\.py.*--a_start\s+(\d+)")
STEP2 = re.compile(r"region_(\d+)_step2_job\.mat")


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
    """Samples a process tree and a raw folder; per (step, region): wall seconds, peak MB; raw peak bytes."""

    def __init__(self, root_pid, raw_root, period=0.2):
        super().__init__(daemon=True)
        self.root, self.raw_root, self.period = root_pid, Path(raw_root), period
        self.procs = {}  # pid -> {"step", "region", "first", "last", "peak_kb"}
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
                m1, m2 = STEP1.search(cmd), STEP2.search(cmd)
                if not (m1 or m2):
                    continue
                key = (pid, 1 if m1 else 2)
                info = self.procs.setdefault(key, {"step": key[1], "region": int((m1 or m2).group(1)),
                                                   "first": now, "last": now, "peak_kb": 0})
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

    def steps(self):
        """``{(step, region): (wall s, peak MB)}``; several processes of one step add their time."""
        out = {}
        for info in self.procs.values():
            wall, mb = out.get((info["step"], info["region"]), (0.0, 0.0))
            out[(info["step"], info["region"])] = (wall + info["last"] - info["first"] + self.period,
                                                   max(mb, info["peak_kb"] / 1024))
        return out


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
# step 4 and the pack


def step4_at_full_scale(anatomy, clips_per_region, workdir):
    """Wall seconds of step 4 (train) on the template with ``clips_per_region`` fixture clips per region."""
    cmd = [sys.executable, str(REPO / "bench" / "bench_step4.py"), "--anatomy", str(anatomy),
           "--clips-per-region", str(clips_per_region), "--dataset", "train", "--workdir", str(workdir)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    print("  " + out.strip().replace("\n", "\n  "))
    return float(re.search(r"step 4, \d+ process\(es\): ([\d.]+) s wall", out).group(1))


def clip_shape(layout, regions):
    """Values in one clip (samples x regions), read from a clip of the sample."""
    r = next(r for r, n in regions.items() if n)
    return loadmat(str(layout.clip(r, 1)), variable_names=["data"])["data"].size


def pack_seconds_per_clip(layout, regions):
    """Seconds per clip of the real pack code on the sample's clips (``None`` without clips).

    A step-4 file holding only ``clip_rows`` (every clip of the sample) is
    written for it and removed after.
    """
    from deepsif_pipeline.steps import pack
    rows = [(r, k) for r, n in regions.items() for k in range(1, n + 1)]
    if not rows:
        return None
    fake = layout.synthesis_file("test")
    savemat(fake, {"clip_rows": np.array(rows, dtype=float)})
    try:
        start = time.time()
        pack.pack_clips(layout, "test", log=lambda *_: None)
        return (time.time() - start) / len(rows)
    finally:
        fake.unlink(missing_ok=True)
        layout.pack_file("test").unlink(missing_ok=True)


# ---------------------------------------------------------------------------


def run_range(args, out, start):
    """Run the orchestrator on ``start .. start + workers - 1``; (wall s, watcher)."""
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", args.anatomy, "--output", str(out),
           "--start_region", str(start), "--end_region", str(start + args.workers), "--workers",
           str(args.workers), "--sim-length", str(args.sim_length), "--skip-synthesis", "--progress", "lines"]
    with open(out / f"bench_{start}.log", "w") as log:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        watch = Watcher(proc.pid, Layout(out).raw_root)
        watch.start()
        rc = proc.wait()
        watch.done.set()
        watch.join()
        wall = time.time() - t0
    if rc != 0:
        sys.exit(f"the orchestrator failed on regions {start}-{start + args.workers - 1} (exit {rc}); "
                 f"see {out / f'bench_{start}.log'}")
    return wall, watch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(deepsif_anatomy.locate().folder),
                    help="DeepSIF's anatomy/ folder (default: $DEEPSIF_ANATOMY, else ../shared/anatomy/deepsif)")
    ap.add_argument("--starts", type=int, nargs="+", default=[0, 330, 700, 922],
                    help="first region of each range of --workers regions")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sim-length", type=float, default=200.0, help="simulated seconds per mean iteration")
    ap.add_argument("--regions", type=int, default=994, help="regions of the whole dataset")
    ap.add_argument("--step4", action=argparse.BooleanOptionalAction, default=True,
                    help="run step 4 at full scale on a fixture (several minutes)")
    ap.add_argument("--workdir", default=None, help="output folder (kept); default: a temporary one, removed")
    args = ap.parse_args()

    out = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    out.mkdir(parents=True, exist_ok=True)
    layout = Layout(out)
    print(f"{os.cpu_count()} cores; {args.sim_length:g} simulated s per mean iteration; --workers {args.workers}; "
          f"regions {', '.join(f'{s}-{s + args.workers - 1}' for s in args.starts)}", flush=True)
    walls, steps, raw_peak = [], {}, {}
    for start in args.starts:
        wall, watch = run_range(args, out, start)
        walls.append(wall)
        steps.update(watch.steps())
        raw_peak.update(watch.raw_peak)
        print(f"  regions {start}-{start + args.workers - 1}: {wall:.1f} s", flush=True)

    made = json.loads(layout.manifest.read_text())["clip_sets"]["spikes"]["regions"]
    regions = {int(r): e["clips"] for r, e in made.items()}
    clip_bytes = {int(r): e["bytes"] for r, e in made.items()}
    print(f"\n{'region':>7}{'step 1 s':>10}{'MB':>7}{'step 2 s':>10}{'MB':>7}{'raw peak MB':>13}{'clips':>7}"
          f"{'clip MB':>9}")
    for r in sorted(regions):
        s1, m1 = steps.get((1, r), (float("nan"),) * 2)
        s2, m2 = steps.get((2, r), (float("nan"),) * 2)
        print(f"{r:>7}{s1:>10.1f}{m1:>7.0f}{s2:>10.1f}{m2:>7.0f}{raw_peak.get(r, 0) / 1e6:>13.0f}"
              f"{regions[r]:>7}{clip_bytes[r] / 1e6:>9.0f}")
    n = len(regions)
    hours = sum(walls) / 3600
    per_hour = n / hours
    clips = sum(regions.values())
    per_clip = sum(clip_bytes.values()) / clips if clips else float("nan")
    mean_clips = clips / n
    volume = mean_clips * args.regions * per_clip
    print(f"\nsample: {n} regions in {sum(walls):.0f} s: {per_hour:.1f} regions per hour with --workers "
          f"{args.workers}; {mean_clips:.1f} clips per region, {per_clip / 1e6:.2f} MB per clip")
    print(f"peak memory per running region: step 1 {max(m for (s, _), (_, m) in steps.items() if s == 1):.0f} MB, "
          f"step 2 {max((m for (s, _), (_, m) in steps.items() if s == 2), default=0):.0f} MB; "
          f"peak raw disk per running region {max(raw_peak.values(), default=0) / 1e6:.0f} MB")

    write_mb, read_mb = disk_rates(out)
    regions_h = args.regions / per_hour
    read_s = volume / 1e6 / read_mb
    print(f"\ndisk: {write_mb:.0f} MB/s write, {read_mb:.0f} MB/s read (dd, direct I/O); the clips of "
          f"{args.regions} regions: {volume / 1e9:.0f} GB, one read {read_s / 60:.1f} min")
    step4_s = None
    if args.step4 and clips:
        print(f"step 4 (train) at full scale, {round(mean_clips)} fixture clips per region:", flush=True)
        step4_s = step4_at_full_scale(args.anatomy, max(1, round(mean_clips)), out / "step4_fixture") + read_s
    per_pack = pack_seconds_per_clip(layout, regions)
    pack_s = None
    if per_pack is not None:
        rows = 0.98 * mean_clips * args.regions  # measured: 97,300 of 99,400 clips are drawn
        pack_bytes = rows * clip_shape(layout, regions) * 4  # the pack stores float32
        pack_s = rows * per_pack + read_s + pack_bytes / 1e6 / write_mb
        print(f"the pack: {per_pack * 1e3:.1f} ms per clip here (page cache), {rows:.0f} rows at full scale")
    total = regions_h + (step4_s or 0) / 3600 + (pack_s or 0) / 3600
    print(f"\nwhole dataset: {args.regions} regions {regions_h:.2f} h"
          + (f" + step 4 {step4_s / 3600:.2f} h" if step4_s else " + step 4 (not run)")
          + (f" + pack {pack_s / 3600:.2f} h" if pack_s else "")
          + f" = {total:.2f} h ({'under' if total < 8 else 'OVER'} the 8 h target)")
    if not args.workdir:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
