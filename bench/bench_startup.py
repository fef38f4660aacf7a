#!/usr/bin/env python3
"""Benchmark the per-region start-up: this checkout against an earlier commit, side by side.

Every region's step 1 is a new ``generate_tvb_data.py`` process and its
step 2 a new Octave, so what a process pays before it simulates is paid
once per region: 994 times for the dataset, 76 times for the README's main
command, where it is most of the time. Measured here, in one invocation,
alternating the two trees run by run (the fastest of ``--repeat`` counts):

- ``step 1 alone``: ``generate_tvb_data.py`` for one ``tvb76`` region at
  ``--sim-length`` (short: nearly all of it is start-up);
- ``per region``: the orchestrator over ``--regions`` regions of ``tvb76``
  (steps 1-3, ``--skip-synthesis``), wall time divided by the regions;
- ``import``: the tvb-library import the way each tree's step 1 does it.

The earlier commit (``--old-commit``, default the last one before step 1
stopped importing ``tvb.simulator.lab`` and let numba cache tvb-library's
gufuncs) is exported with ``git archive``; both trees use this checkout's
``.venv`` and the same ``tvb76`` build. Each tree runs once untimed first,
so that the numba caches are warm as in any run after the first.

    python bench/bench_startup.py
    python bench/bench_startup.py --regions 8 --repeat 3
"""

import argparse
import os
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_engines import export_commit  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OLD_COMMIT = "74133a8"  # step 1 imported tvb.simulator.lab; tvb-library's gufuncs compiled in every process
IMPORT_CODE = ("import sys, time; sys.path.insert(0, {code!r}); t = time.perf_counter(); "
               "import generate_tvb_data as gen; gen._import_tvb(); "
               "from tvb.simulator.models import JansenRit; print(time.perf_counter() - t)")


def timed(command, env):
    """Wall seconds of ``command`` (an argument list); raises if it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return wall, done.stdout


def one_round(code, work, args, env, label):
    """One run of each measurement with the tree in ``code``; a dict of seconds."""
    python = sys.executable
    out = work / f"{label}_{time.monotonic_ns()}"
    step1, _ = timed([python, str(Path(code) / "generate_tvb_data.py"), "--a_start", "5", "--a_end", "6",
                      "--sim-length", str(args.sim_length), "--output", str(out / "step1")], env)
    run, _ = timed([python, str(Path(code) / "pipeline_orchestrator.py"), "--start_region", "0",
                    "--end_region", str(args.regions), "--sim-length", str(args.sim_length), "--skip-synthesis",
                    "--output", str(out / "run")], env)
    _, printed = timed([python, "-c", IMPORT_CODE.format(code=str(code))], env)
    shutil.rmtree(out, ignore_errors=True)
    return {"step 1 alone": step1, "per region": run / args.regions, "import": float(printed.strip())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-commit", default=OLD_COMMIT, help="the earlier commit to compare with")
    ap.add_argument("--regions", type=int, default=6, help="tvb76 regions the orchestrator runs")
    ap.add_argument("--sim-length", type=float, default=1.5, help="simulated s per mean iteration (at least 1.5)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (the fastest of each measurement counts)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        env = {**os.environ, "DEEPSIF_PIPELINE_CACHE": str(work / "cache")}
        trees = {"new": str(REPO), "old": export_commit(args.old_commit, (work / "old").mkdir() or work / "old")}
        for label, code in trees.items():  # warm: tvb76 built once, numba caches written
            one_round(code, work, args, env, label)
        rounds = {label: [] for label in trees}
        for _ in range(args.repeat):
            for label in ("old", "new"):
                rounds[label].append(one_round(trees[label], work, args, env, label))
        print(f"tvb76, {args.sim_length} simulated s per mean iteration, fastest of {args.repeat} rounds "
              f"(median in brackets); old = {args.old_commit}, new = this checkout")
        print(f"{'':16} {'old':>16} {'new':>16} {'old / new':>10}")
        for key in rounds["new"][0]:
            best = {label: min(r[key] for r in rounds[label]) for label in trees}
            median = {label: statistics.median(r[key] for r in rounds[label]) for label in trees}
            print(f"{key:16} {best['old']:8.2f} s ({median['old']:4.2f}) {best['new']:8.2f} s ({median['new']:4.2f}) "
                  f"{best['old'] / best['new']:9.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
