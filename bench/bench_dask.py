#!/usr/bin/env python3
"""Dask tasks of several regions against one region per task, side by side (issue 20, Dask runs).

What runs
---------
One real ``distributed.LocalCluster`` (one worker process, ``--threads``
threads, loopback), and the same regions sent to it twice through
``deepsif_pipeline.dask_tasks.run_regions_on_dask``, as
``pipeline_orchestrator.py --scheduler`` sends them, each into its own
output folder:

- ``one``: one region per task (``group=1``), as Dask runs were before:
  a task's step-1 processes hold only its region's mean iterations;
- ``grouped``: the groups a run makes (``dask_runner.group_size``):
  the mean iterations of up to 4 of a task's regions share each step-1
  process, and a region that stops early gives its lanes to the next.

The order alternates each round (``--rounds``, default 1: one, grouped);
the ratio is the sum of the walls of ``one`` over those of ``grouped``.

The regions are drawn as in ``bench/bench_dataset.py``: ``random.seed(
--sample-seed); random.sample(range(n_regions), --n-random)``. The scale:
``--sim-length 20`` simulated seconds per mean iteration with ``--dataset
test`` (a region stops at 10 clips): a tenth of the published 200 s and a
tenth of train's 100 clips, so about the same regions stop after their
first mean iteration as in a full-length train run, at a tenth of the cost.

Printed: each variant's wall, step-1 processes and how full their lanes
were (units simulated / (processes x 4)), and whether both made the same
markers and clips (they must: a unit's output does not depend on the units
it shared a process with).

Run::

    .venv/bin/python bench/bench_dask.py --anatomy ../shared/anatomy/deepsif

The output folders go to a temporary folder (``--work`` to keep them).
"""

import argparse
from pathlib import Path
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deepsif_pipeline.run import dask_tasks  # noqa: E402
from deepsif_pipeline.science.fast_engine import LANES  # noqa: E402
from deepsif_pipeline.store.layout import Layout  # noqa: E402
from deepsif_pipeline.steps.simulate import logged_passes  # noqa: E402


def arrays(out):
    """``{relative path: {variable: array}}`` of every marker and clip of a folder.

    Arrays, not file bytes: a MAT-file's header carries the time it was written.
    """
    from scipy.io import loadmat
    root = Layout(out).clip_root
    return {str(p.relative_to(root)): {k: v for k, v in loadmat(p).items() if not k.startswith("__")}
            for p in sorted(root.rglob("*.mat"))}


def same_arrays(a, b):
    """Both folders hold the same files with the same variables, equal array by array (NaN equal to NaN)."""
    import numpy as np
    return a.keys() == b.keys() and all(
        a[f].keys() == b[f].keys() and all(np.array_equal(a[f][k], b[f][k], equal_nan=a[f][k].dtype.kind == "f")
                                           for k in a[f]) for f in a)


def run_variant(scheduler, label, regions, args, work, group):
    """Send ``regions`` to the cluster with ``group`` regions per task (None: the run's own groups)."""
    out = work / label
    shutil.rmtree(out, ignore_errors=True)
    command = [str(REPO / "pipeline_orchestrator.py"), "--anatomy", str(args.anatomy), "--output", str(out),
               "--sim-length", f"{args.sim_length:g}", "--dataset", args.dataset, "--skip-synthesis",
               "--progress", "none"]
    lines = []
    t0 = time.time()
    results = dask_tasks.run_regions_on_dask(scheduler, regions, command, lines.append, out, lanes=LANES, group=group)
    wall = time.time() - t0
    bad = {r: str(res) for r, res in results.items() if res.status.value != "done"}
    if bad:
        sys.exit(f"{label}: regions not done: {bad}; see {out / 'logs'}")
    processes = logged_passes(out / "logs")
    units = sum(len(p) for p in processes)
    print(f"  {label:8s} {wall:7.1f} s  {lines[1]}", flush=True)
    return {"wall": wall, "processes": len(processes), "units": units, "arrays": arrays(out),
            "fill": units / (len(processes) * LANES)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--anatomy", required=True, help="template folder, e.g. ../shared/anatomy/deepsif")
    p.add_argument("--n-random", type=int, default=16)
    p.add_argument("--sample-seed", type=int, default=7)
    p.add_argument("--sim-length", type=float, default=20.0)
    p.add_argument("--dataset", default="test", choices=("train", "test"))
    p.add_argument("--threads", type=int, default=2, help="threads of the one Dask worker (default 2)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--work", type=Path, help="keep the output folders here (default: a temporary folder)")
    args = p.parse_args()
    args.anatomy = Path(args.anatomy).resolve()

    from deepsif_pipeline.head.anatomy import load_template
    n = load_template(args.anatomy).n_regions
    random.seed(args.sample_seed)
    regions = sorted(random.sample(range(n), args.n_random))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_dask_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"regions {regions} of {args.anatomy} ({n}), {args.sim_length:g} s per mean iteration, --dataset "
          f"{args.dataset}; one Dask worker with {args.threads} threads; work {work}", flush=True)

    warm = work / "warmup"  # numba's cache compiled, untimed
    subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", str(args.anatomy),
                    "--output", str(warm), "--start_region", str(regions[0]), "--end_region", str(regions[0] + 1),
                    "--sim-length", "1.5", "--skip-synthesis", "--progress", "none"], check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(warm, ignore_errors=True)

    from distributed import LocalCluster
    measured = {"one": [], "grouped": []}
    with LocalCluster(n_workers=1, threads_per_worker=args.threads, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        for k in range(args.rounds):
            order = (("one", 1), ("grouped", None)) if k % 2 == 0 else (("grouped", None), ("one", 1))
            for label, group in order:
                measured[label].append(run_variant(cluster.scheduler_address, label, regions, args, work, group))
    one, grouped = measured["one"], measured["grouped"]
    wall_one, wall_grouped = sum(m["wall"] for m in one), sum(m["wall"] for m in grouped)
    same = all(same_arrays(m["arrays"], one[0]["arrays"]) for m in one[1:] + grouped)
    print()
    print(f"{'':10s}{'wall s':>10s}{'step-1 processes':>18s}{'units':>7s}{'lanes full':>12s}")
    for label, ms in measured.items():
        print(f"{label:10s}{sum(m['wall'] for m in ms) / len(ms):10.1f}{ms[0]['processes']:18d}"
              f"{ms[0]['units']:7d}{ms[0]['fill']:11.0%}")
    print(f"\ngrouped tasks {wall_one / wall_grouped:.2f}x faster than one region per task "
          f"({wall_one:.1f} s / {wall_grouped:.1f} s); markers and clips identical: {'yes' if same else 'NO'}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
