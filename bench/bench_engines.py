#!/usr/bin/env python3
"""Benchmark the two step-1 engines side by side: tvb-library and deepsif_pipeline.fast_engine.

Both simulate the same region of the same template with the same settings
(``generate_tvb_data.build_simulator``), each in its own child process so
that its peak memory (``ru_maxrss``) is its own. Prints simulated seconds
per wall second of each engine and their ratio, the fast engine's rate with
two processes at once (two regions), the peak memory of every process, and
the fast engine's numba compile time (measured on an empty numba cache,
excluded from its rate: the engine is warmed up before the timed run).

    python bench/bench_engines.py                       # 998-region template, region 700
    python bench/bench_engines.py --tvb-length 1 --fast-length 40
"""

import argparse
import multiprocessing
import os
from pathlib import Path
import shutil
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def peak_rss_mb():
    """Peak resident memory of this process (MB)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def simulate(engine, anatomy, region, mean_iteration, seconds, piece_seconds, seed, start=None):
    """Run one engine in this (child) process; return its timings and peak memory.

    Parameters
    ----------
    engine : {'tvb', 'fast'}
    anatomy : str
        Template folder.
    region : int
        0-based template region made excitable.
    mean_iteration : int
    seconds, piece_seconds : float
        Simulated seconds, run in pieces of ``piece_seconds`` as step 1 does.
    seed : int
        Run seed (the region and mean iteration derive theirs).
    start : multiprocessing.Barrier, optional
        Waited on just before the timed run (to start processes together).

    Returns
    -------
    dict
        ``engine, region, setup_s, compile_s, wall_s, seconds, rate, peak_mb, nnz``.
    """
    os.environ["NUMBA_NUM_THREADS"] = "1"
    cache = tempfile.mkdtemp(prefix="bench_engines_numba_")
    if engine == "fast":  # an empty numba cache: the first call compiles
        os.environ["NUMBA_CACHE_DIR"] = cache
    try:
        return _simulate(engine, anatomy, region, mean_iteration, seconds, piece_seconds, seed, start)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _simulate(engine, anatomy, region, mean_iteration, seconds, piece_seconds, seed, start):
    """The body of :func:`simulate`, once the environment is set."""
    import numpy as np
    import generate_tvb_data as gen
    from deepsif_pipeline import science
    from deepsif_pipeline.anatomy import load_template

    t0 = time.perf_counter()
    template = load_template(anatomy)
    tvb_connectivity = gen._import_tvb()
    conn = tvb_connectivity.Connectivity.from_file(str(template.connectivity))
    conn.configure()
    column = int(template.columns[region])
    run_seed = science.simulation_seed(seed, region, mean_iteration)
    sim, run = gen.make_simulator(conn, column, science.A_EXCITABLE, mean_iteration, run_seed, engine)
    setup = time.perf_counter() - t0

    class Quiet:
        def advance(self, steps):
            pass

    compile_s = 0.0
    if engine == "fast":
        t0 = time.perf_counter()
        from deepsif_pipeline.fast_engine import FastSimulator
        FastSimulator.from_tvb(gen.build_simulator(conn, column, science.A_EXCITABLE, mean_iteration, run_seed),
                               run_seed).run_piece(science.DT_MS)  # a throw-away copy: compiles
        compile_s = time.perf_counter() - t0
    lengths = science.piece_lengths_ms(seconds, piece_seconds)
    if start is not None:
        start.wait()
    t0 = time.perf_counter()
    finite = True
    for length in lengths:
        _, data = run(sim, length, Quiet())
        finite &= bool(np.isfinite(data).all())
    wall = time.perf_counter() - t0
    return {"engine": engine, "region": region, "setup_s": setup, "compile_s": compile_s, "wall_s": wall,
            "seconds": seconds, "rate": seconds / wall, "peak_mb": peak_rss_mb(), "finite": finite,
            "nnz": int((conn.weights != 0).sum()), "n_connectivity": conn.number_of_regions}


def in_children(jobs):
    """Run ``simulate(*job)`` for each job in its own spawned process, all at once; return the results."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(len(jobs))
        with context.Pool(len(jobs), maxtasksperchild=1) as pool:
            pending = [pool.apply_async(simulate, (*job, barrier)) for job in jobs]
            return [p.get() for p in pending]


def row(label, r):
    return (f"{label:<22}{r['seconds']:>9g}{r['wall_s']:>9.2f}{r['rate']:>12.3f}{1.0 / r['rate']:>12.3f}"
            f"{r['peak_mb']:>10.0f}{r['setup_s']:>9.2f}{r['compile_s']:>10.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(REPO.parent / "shared" / "anatomy" / "deepsif"))
    ap.add_argument("--region", type=int, default=700, help="template region made excitable")
    ap.add_argument("--second-region", type=int, default=701, help="the other region of the two-process run")
    ap.add_argument("--mean-iteration", type=int, default=0)
    ap.add_argument("--tvb-length", type=float, default=2.0, help="simulated s for tvb-library")
    ap.add_argument("--fast-length", type=float, default=20.0, help="simulated s for the fast engine")
    ap.add_argument("--piece-length", type=float, default=10.0, help="simulated s per piece, as step 1")
    ap.add_argument("--seed", type=int, default=20220425)
    ap.add_argument("--skip-two", action="store_true", help="skip the two-process run of the fast engine")
    args = ap.parse_args()

    common = (args.anatomy, args.region, args.mean_iteration)
    tvb = in_children([("tvb", *common, args.tvb_length, args.piece_length, args.seed)])[0]
    fast = in_children([("fast", *common, args.fast_length, args.piece_length, args.seed)])[0]
    two = [] if args.skip_two else in_children(
        [("fast", args.anatomy, r, args.mean_iteration, args.fast_length, args.piece_length, args.seed)
         for r in (args.region, args.second_region)])

    print(f"template {args.anatomy}: {tvb['n_connectivity']} connectivity regions, {tvb['nnz']} non-zero "
          f"weights; region {args.region}, mean iteration {args.mean_iteration}, piece {args.piece_length:g} s; "
          f"cpus {os.cpu_count()}")
    print(f"{'engine':<22}{'sim s':>9}{'wall s':>9}{'sim s/wall':>12}{'wall/sim s':>12}{'peak MB':>10}"
          f"{'setup s':>9}{'compile s':>10}")
    print(row("tvb-library", tvb))
    print(row("fast", fast))
    for r in two:
        print(row(f"fast, 2 procs: r{r['region']}", r))
    print(f"speed-up fast / tvb-library (one process): {fast['rate'] / tvb['rate']:.0f}x")
    if two:
        total = sum(r["rate"] for r in two)
        print(f"fast, two processes at once: {total:.2f} simulated s per wall s together "
              f"({total / fast['rate']:.2f}x one process)")
    print("setup: template, TVB connectivity and simulator (random initial history), and for fast the copy; "
          "compile: the fast engine's first call with an empty numba cache (with the on-disk cache of a "
          "normal run it is a load), not part of the rate")
    if not all(r["finite"] for r in [tvb, fast, *two]):
        print("WARNING: non-finite values in the output")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
