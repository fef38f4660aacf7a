#!/usr/bin/env python3
"""Benchmark one region of the 998-region DeepSIF template through steps 1-3.

Prints the wall time of each step, simulated seconds per wall second of
step 1, the peak disk use of ``raw_nmm/`` and the peak memory of each
step's process tree, once per --raw-rate (checking that the clips are
identical), the clips' disk use, and step 2's time and peak memory against
its target at the published length (STEP2_TARGET_S, STEP2_TARGET_MB). The
step-1 engine (fast or tvb-library) and real MATLAB/Octave, as the pipeline
runs them. Wrap it in ``flock /tmp/deepsif-bench.lock`` where other
measurements may run.

    python bench/bench_region.py --sim-length 10

``--anatomy`` defaults to ``$DEEPSIF_ANATOMY``, else ``../shared/anatomy/deepsif`` (tests/deepsif_anatomy.py).
"""

import argparse
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.io import loadmat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import deepsif_anatomy  # noqa: E402

from deepsif_pipeline.processes import children
from deepsif_pipeline import science  # noqa: E402
from deepsif_pipeline.head.anatomy import load_template  # noqa: E402
from deepsif_pipeline.processes.engine import find_engine  # noqa: E402
from deepsif_pipeline.store.layout import Layout  # noqa: E402
from deepsif_pipeline.config.settings import Settings  # noqa: E402
from deepsif_pipeline.steps import Context, extract  # noqa: E402

# Runs a command and prints the peak resident memory (KiB) of its process tree's largest process.
MEASURE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
           "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
           "sys.exit(rc)")


# Step 2 of one region at the published length (3 mean iterations x 200 simulated s, 994 regions):
# wall seconds and peak memory it should stay within (checked, printed; not a timed test).
STEP2_TARGET_S = 10.0
STEP2_TARGET_MB = 600.0


def measured(cmd, log, env=None):
    """Run ``cmd``; return (wall seconds, peak RSS in MB)."""
    start = time.time()
    res = subprocess.run([sys.executable, "-c", MEASURE, *map(str, cmd)], stdout=log, stderr=subprocess.PIPE,
                         text=True, env=env)
    wall = time.time() - start
    rss = [int(line.split()[1]) for line in res.stderr.splitlines() if line.startswith("MAXRSS_KB")]
    if res.returncode != 0:
        sys.exit(f"step failed ({res.returncode}): {' '.join(map(str, cmd))}\n{res.stderr[-2000:]}")
    return wall, (rss[0] / 1024 if rss else float("nan"))


def folder_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(deepsif_anatomy.locate().folder),
                    help="DeepSIF's anatomy/ folder (default: $DEEPSIF_ANATOMY, else ../shared/anatomy/deepsif)")
    ap.add_argument("--region", type=int, default=0)
    ap.add_argument("--sim-length", type=float, default=10.0, help="simulated seconds per mean iteration")
    ap.add_argument("--piece-length", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=science.DEFAULT_SEED)
    ap.add_argument("--matlab", default="auto")
    ap.add_argument("--engine", choices=["tvb", "fast"], default="fast", help="step 1 engine")
    ap.add_argument("--raw-rate", nargs="+", choices=["full", "decimated"], default=["full", "decimated"],
                    help="run steps 1-3 once per raw rate and compare their clips")
    ap.add_argument("--keep", action="store_true", help="keep the output folders")
    args = ap.parse_args()

    template = load_template(args.anatomy)
    engine = find_engine(args.matlab)
    r = args.region
    simulated = args.sim_length * len(science.MEAN_ITERATIONS)
    print(f"template {template.folder.name}: {template.n_connectivity} connectivity regions, "
          f"{template.n_regions} template regions; region {r}; {args.sim_length:g} s x "
          f"{len(science.MEAN_ITERATIONS)} mean iterations; step 1 engine {args.engine}; {engine.version()}")
    print(f"{'raw rate':<10}{'step 1 s':>10}{'MB':>8}{'step 2 s':>10}{'MB':>8}{'step 3 s':>10}"
          f"{'raw_nmm peak MB':>17}{'per 600 s GB':>14}{'clips':>7}")
    clip_arrays = {}
    for rate in args.raw_rate:
        out = Path(tempfile.mkdtemp(prefix="bench_region_"))
        layout = Layout(out)
        log = open(out / "bench.log", "w")
        t1, m1 = measured([sys.executable, REPO / "generate_tvb_data.py", "--a_start", r, "--a_end", r + 1,
                           "--anatomy", template.folder, "--output", out, "--sim-length", args.sim_length,
                           "--piece-length", args.piece_length, "--seed", args.seed, "--progress", "lines",
                           "--engine", args.engine, "--raw-rate", rate], log)
        raw_bytes = folder_bytes(layout.raw_dir(r))  # step 1 is the only writer of raw_nmm: now is the peak

        ctx = Context(Settings(seed=args.seed, sim_length=args.sim_length, piece_length=args.piece_length,
                               engine=args.engine, raw_rate=rate), template, layout, engine)
        job = extract.job(ctx, r)  # the job the pipeline writes
        # one numerical thread, as the pipeline runs step 2 (extract.run)
        t2, m2 = measured(engine.command(extract.FUNCTION, job), log, env=children.single_threaded_env())
        done = extract.judge(layout, r, ctx.fingerprint(extract.STEP))
        clips = done.clips
        clip_arrays[rate] = [loadmat(str(layout.clip(r, n)))["data"] for n in range(1, clips + 1)]
        clip_bytes = folder_bytes(layout.clip_dir(r)) if clips else 0

        start = time.time()
        assert done.current, done.detail
        shutil.rmtree(layout.raw_dir(r))
        t3 = time.time() - start
        print(f"{rate:<10}{t1:>10.1f}{m1:>8.0f}{t2:>10.1f}{m2:>8.0f}{t3:>10.2f}{raw_bytes / 1e6:>17.1f}"
              f"{raw_bytes / simulated * 600 / 1e9:>14.2f}{clips:>7}")
        print(f"  step 1: {simulated / t1:.3f} simulated s per wall s ({t1 / simulated:.2f} wall s per "
              f"simulated s, including start-up)")
        print(f"  clips: {clip_bytes / 1e6:.1f} MB ({clip_bytes / max(clips, 1) / 1e6:.2f} MB per clip, "
              f"{clip_arrays[rate][0].dtype if clips else '-'} data)")
        print("  " + step2_check(t2, m2, args.sim_length), flush=True)
        log.close()
        if args.keep:
            print(f"  output kept in {out}")
        else:
            shutil.rmtree(out)
    if len(clip_arrays) > 1:
        first, *others = clip_arrays.values()
        same = all(len(o) == len(first) and all(np.array_equal(a, b) for a, b in zip(o, first))
                   for o in others)
        print(f"clips identical across raw rates: {same}")


def step2_check(wall_s, peak_mb, sim_length):
    """One line: step 2's time and peak memory against STEP2_TARGET_S / STEP2_TARGET_MB."""
    ok = wall_s <= STEP2_TARGET_S and peak_mb <= STEP2_TARGET_MB
    line = (f"step 2 check: {wall_s:.1f} s (target <= {STEP2_TARGET_S:g} s), {peak_mb:.0f} MB peak "
            f"(target <= {STEP2_TARGET_MB:g} MB)")
    if sim_length != science.SIM_LENGTH_S:
        return line + f": targets are for --sim-length {science.SIM_LENGTH_S:g}, not judged at {sim_length:g}"
    return line + (": within target" if ok else ": OVER TARGET")


if __name__ == "__main__":
    main()
