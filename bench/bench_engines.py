#!/usr/bin/env python3
"""Benchmark step 1's engines the way the pipeline runs them: marginal cost per simulated second.

Each engine simulates one region's three mean iterations through
``generate_tvb_data.simulate_region`` (raw pieces written, as step 1 does),
in a fresh child process, at two simulated lengths per mean iteration. The
marginal cost is ``(wall(long) - wall(short)) / (3 * (long - short))``: wall
seconds per simulated second of one mean iteration, with every per-region
start-up cost (loading the connectivity, building the TVB simulators and
their random initial history, loading the numba cache, the 0.5 s transient)
cancelled; that start-up is the intercept, shown separately. Both lengths
include the transient, so neither the start-up nor the transient biases the
marginal cost. The published run simulates 3 x 200 s per region: its wall
time per mean-iteration second is ``marginal + intercept / 600``.

Engines compared in one invocation:

- ``fast``: this checkout's ``deepsif_pipeline.science.fast_engine`` (lanes: the
  three mean iterations advanced together);
- ``fast (old)``: the fast engine of an earlier commit (``--old-commit``,
  default the version before lanes), its whole tree exported with ``git
  archive``, run through that commit's own ``simulate_region`` (one mean
  iteration after the other);
- ``tvb``: tvb-library (through this checkout's ``simulate_region``).

Each length of a fast engine runs ``--repeat`` times and the fastest counts
(the machine may be shared). Each numba engine first runs once untimed, so that its on-disk cache is
warm as in a normal run (compile time is printed separately). Also printed:
time spent writing raw pieces (inside the wall times), imports, and the
ratios.

Why the earlier version of this benchmark reported 125x while step 1's
own figures gave 77-95x (0.245 wall s per mean-iteration second, from 147 s
per region at 3 x 200 s, against tvb-library's 20-25): the earlier version
timed only the engines' ``run`` calls, one mean iteration, after set-up and
compilation, and wrote no raw piece, while the 147 s of a region include
everything step 1 does: building three simulators, and writing 60 raw pieces
of 80 MB (4.8 GB per region; writing is 8 % of the old fast engine's
marginal cost here, with 16 MB pieces that stay in the page cache, and more
once gigabytes of dirty pages must reach the disk). tvb-library's cost is
almost all integration, so what the earlier version left out lowered only
the fast engine's cost. It is not the transient or tvb-library's first-call
costs: tvb-library's intercept measured here is about 0 (within the noise),
and in one session on a loaded machine the earlier version gave 117x where
the marginal costs of this version gave 138x for the same engines. Figures
of different sessions also differ with the load of the machine (tvb-library
took 45 wall s per simulated s with the other core busy, 20-25 without).

Lane comparison (``--lanes``, issue 20): the fast engine version 2
(``--lanes-commit``, exported with ``git archive``) as step 1 runs it, a
region's three mean iterations in one pass (3 lanes busy, the 4th computing
zeros), against this tree with the same 3 lanes (what the noise generator
and the contiguous output buffer gain, below) and with 4 busy lanes (4 units: region 700's three mean
iterations and region 701's first); ``FastSimulator.run_lanes`` timed after
a transient, wall seconds per lane-simulated second, and the time the same
noise samples take to draw alone (its share of the run).

``run_lanes`` is given a progress callback, as step 1 gives it, so each
version calls the numba loop in its chunks (version 2: 256 steps, its
``NOISE_BLOCK``; this tree: ``CHUNK_STEPS``). The 3-lane gain is larger than
version 2's noise share: a chunk of a several-lane output is a strided
slice, for which numba compiled a slower ``advance`` (its output loop not
vectorised); this tree passes a contiguous buffer instead (measured on this
tree, noise off, 3 lanes x 1 simulated s in 256-step chunks: 0.213 CPU s
before, 0.174 after, 0.177 in one call).

    python bench/bench_engines.py                 # 998-region template, region 700
    python bench/bench_engines.py --lanes         # lane comparison, version 2 vs this tree
    python bench/bench_engines.py --short 2 --long 6 --tvb-short 0.6 --tvb-long 1.6
"""

import argparse
import importlib
import math
import multiprocessing
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO))  # after everything else: only for tests.deepsif_anatomy

from tests import deepsif_anatomy  # noqa: E402
OLD_COMMIT = "b693363"  # the fast engine before lanes (one mean iteration at a time, libm exp)
PUBLISHED_S = 200.0  # simulated seconds per mean iteration in the published run
TARGET_WALL_PER_S = 0.05  # issue 13: step 1 at 3 x 200 s, start-up included
TARGET_TVB_RATIO = 400.0  # issue 13: marginal rate against tvb-library's
LANES_COMMIT = "2645c43"  # fast engine version 2 (lanes, PCG64 noise drawn by numpy), as step 1 ran before issue 20
TARGET_LANE_RATIO = 1.3  # issue 20: wall s per lane-simulated second, version 2 (3 lanes) over this tree (4 lanes)
TRANSIENT_S = 0.5  # untimed simulated seconds before a lane comparison's timed run (also loads the numba cache)


def child(code_dir, engine, anatomy, region, seconds, piece_seconds, seed, cache_dir, raw_rate):
    """Run ``simulate_region`` of the checkout in ``code_dir`` in this (child) process; return timings.

    Parameters
    ----------
    code_dir : str
        Root of the checkout whose ``generate_tvb_data`` runs.
    engine : {'tvb', 'fast'}
    anatomy : str
        Template folder.
    region : int
        0-based template region made excitable.
    seconds, piece_seconds : float
        Simulated seconds per mean iteration, and per raw piece.
    seed : int
        Run seed.
    cache_dir : str
        ``NUMBA_CACHE_DIR`` of this engine (kept between its runs: warm).
    raw_rate : {'full', 'decimated'}
        The pieces written (the pipeline's default is decimated).

    Returns
    -------
    dict
        ``import_s`` (modules), ``wall_s`` (``simulate_region``, all three
        mean iterations), ``write_s`` (writing raw pieces, inside
        ``wall_s``), ``seconds``.
    """
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    sys.path.insert(0, code_dir)
    t0 = time.perf_counter()
    import generate_tvb_data as gen
    load_template = tree_module("head.anatomy", "anatomy").load_template
    Layout = tree_module("store.layout", "layout").Layout
    gen._import_tvb()
    import_s = time.perf_counter() - t0
    if not str(Path(gen.__file__).resolve()).startswith(str(Path(code_dir).resolve())):
        raise RuntimeError(f"imported {gen.__file__}, not from {code_dir}")

    written = [0.0]
    write = gen.write_mat_atomic

    def timed_write(path, variables):
        t = time.perf_counter()
        write(path, variables)
        written[0] += time.perf_counter() - t
    gen.write_mat_atomic = timed_write

    template = load_template(anatomy)
    out = tempfile.mkdtemp(prefix="bench_engines_out_", dir=os.environ.get("BENCH_TMP"))
    try:
        t0 = time.perf_counter()
        gen.simulate_region(template, Layout(Path(out)), region, seconds, piece_seconds, 3.5, seed,
                            iterations=[0, 1, 2], progress_mode="none", engine=engine, raw_rate=raw_rate)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"import_s": import_s, "wall_s": wall, "write_s": written[0], "seconds": seconds}


def tree_module(module, before):
    """A module of the tree first on ``sys.path``: ``deepsif_pipeline.{module}``, or, in a tree from before the
    package had subpackages (an exported older commit), ``deepsif_pipeline.{before}``."""
    try:
        return importlib.import_module(f"deepsif_pipeline.{module}")
    except ModuleNotFoundError:
        return importlib.import_module(f"deepsif_pipeline.{before}")


def in_child(*args, function=None):
    """:func:`child` (or ``function``) in a fresh spawned process."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(function or child, args)


def lanes_child(code_dir, anatomy, units, seconds, cache_dir):
    """Time the fast engine of the checkout in ``code_dir`` advancing the given units as lanes of one pass.

    Parameters
    ----------
    code_dir : str
        Root of the checkout whose ``deepsif_pipeline.science.fast_engine`` runs.
    anatomy : str
        Template folder.
    units : sequence of (int, int, int)
        ``(template region, mean iteration, seed)`` of each lane (at most 4).
    seconds : float
        Simulated seconds timed, after an untimed transient of ``TRANSIENT_S``
        (which also loads or compiles the numba cache).
    cache_dir : str
        ``NUMBA_CACHE_DIR`` of this checkout.

    Returns
    -------
    dict
        ``wall_s`` (``run_lanes`` of ``seconds``, all lanes, noise on),
        ``quiet_s`` (the same without noise: ``noise=False``), ``cpu_s`` and
        ``quiet_cpu_s`` (the same runs' process CPU time), ``draw_s``
        (drawing the same lanes' samples for as many steps, alone: numpy's
        PCG64 in blocks of 256 steps as version 2 draws them, or this
        checkout's ``standard_normals`` in blocks of 256 steps) and
        ``draw_cpu_s`` (its CPU time), ``lanes``, ``seconds``.
    """
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    sys.path.insert(0, code_dir)
    import numpy as np
    import generate_tvb_data as gen
    from deepsif_pipeline import science
    fast_engine = tree_module("science.fast_engine", "fast_engine")
    load_template = tree_module("head.anatomy", "anatomy").load_template
    if not str(Path(fast_engine.__file__).resolve()).startswith(str(Path(code_dir).resolve())):
        raise RuntimeError(f"imported {fast_engine.__file__}, not from {code_dir}")
    tvb_connectivity = gen._import_tvb()
    template = load_template(anatomy)
    conn = tvb_connectivity.Connectivity.from_file(str(template.connectivity))
    conn.configure()
    sims = [gen.build_simulator(conn, int(template.columns[region]), science.A_EXCITABLE, m, seed)
            for region, m, seed in units]
    seeds = [seed for _, _, seed in units]
    fast = {noise: fast_engine.FastSimulator.from_tvb_lanes(sims, seeds, noise=noise) for noise in (True, False)}
    wall = {True: math.inf, False: math.inf}
    cpu = dict(wall)
    for noise in (True, False):
        fast[noise].run_lanes(TRANSIENT_S * 1000.0, progress=lambda k: None)
    for _ in range(2):  # alternating, the faster of two each
        for noise in (True, False):
            t0, c0 = time.perf_counter(), time.process_time()
            _, data = fast[noise].run_lanes(seconds * 1000.0, progress=lambda k: None)  # chunked, as step 1 runs it
            wall[noise] = min(wall[noise], time.perf_counter() - t0)
            cpu[noise] = min(cpu[noise], time.process_time() - c0)
    n_steps, n = data.shape[1], data.shape[2]
    variables = fast[True].noise_variables
    block = 256  # steps drawn per call (version 2's NOISE_BLOCK)
    if hasattr(fast_engine, "standard_normals"):  # version 3: Philox4x32-10, drawn in the numba loop
        fast_engine.standard_normals(seeds[0], 1, 1, variables, n)  # compiled or loaded: not timed
        t0, c0 = time.perf_counter(), time.process_time()
        for first in range(0, n_steps, block):
            for seed in seeds:
                fast_engine.standard_normals(seed, fast[True].step + first, min(block, n_steps - first), variables, n)
    else:  # version 2: each lane's PCG64 generator, in blocks of NOISE_BLOCK steps (run_lanes)
        t0, c0 = time.perf_counter(), time.process_time()
        assert fast_engine.NOISE_BLOCK == block
        z = np.empty((len(units), block, len(variables), n))
        rngs = [np.random.Generator(np.random.PCG64(seed)) for seed in seeds]
        for first in range(0, n_steps, block):
            k = min(block, n_steps - first)
            for lane, rng in enumerate(rngs):
                rng.standard_normal(out=z[lane, :k])
    draw, draw_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall[True], "quiet_s": wall[False], "cpu_s": cpu[True], "quiet_cpu_s": cpu[False],
            "draw_s": draw, "draw_cpu_s": draw_cpu, "lanes": len(units), "seconds": seconds}


def export_commit(commit, into):
    """The tree of ``commit`` of this repository, extracted into the folder ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return str(into)


def measure(label, code_dir, engine, args, short, long, cache_dir):
    """Warm-up, then the two lengths (the fastest of ``--repeat`` runs each); the marginal cost and the intercept."""
    common = (code_dir, engine, args.anatomy, args.region)
    compile_s = None
    if engine == "fast":
        t0 = time.perf_counter()
        in_child(*common, 0.1, 0.1, args.seed, cache_dir, args.raw_rate)  # compiles into the (empty) cache
        compile_s = time.perf_counter() - t0
    repeat = args.repeat if engine == "fast" else 1
    runs = [min((in_child(*common, seconds, args.piece_length, args.seed, cache_dir, args.raw_rate) for _ in range(repeat)),
                key=lambda run: run["wall_s"]) for seconds in (short, long)]
    marginal = (runs[1]["wall_s"] - runs[0]["wall_s"]) / (3 * (long - short))  # per mean-iteration second
    intercept = runs[0]["wall_s"] - marginal * 3 * short  # per region (3 mean iterations)
    write = (runs[1]["write_s"] - runs[0]["write_s"]) / (3 * (long - short))
    return {"label": label, "runs": runs, "marginal": marginal, "intercept": intercept, "write": write,
            "compile_s": compile_s, "import_s": runs[0]["import_s"],
            "published": marginal + intercept / (3 * PUBLISHED_S)}


def lane_comparison(args, work):
    """Version 2 as step 1 uses it (a region's 3 mean iterations, 3 lanes busy) against this checkout with 3 and 4 busy lanes.

    Each configuration runs in a fresh child (:func:`lanes_child`), in
    alternating rounds (``--rounds``); the fastest round of each counts.

    Returns
    -------
    list of dict
        Per configuration: ``label``, ``lanes``, ``seconds``, ``wall_s``,
        ``quiet_s``, ``draw_s`` (each the fastest of the rounds) and
        ``per_lane_s`` (wall s per lane-simulated second).
    """
    from deepsif_pipeline import science
    old_dir = export_commit(args.lanes_commit, (work / "v2").mkdir() or work / "v2")
    region = args.region
    units3 = [(region, m, science.simulation_seed(args.seed, region, m)) for m in science.MEAN_ITERATIONS]
    units4 = units3 + [(region + 1, 0, science.simulation_seed(args.seed, region + 1, 0))]
    configs = [(f"{args.lanes_commit}, 3 lanes", old_dir, units3, str(work / "cache_v2")),
               ("this tree, 3 lanes", str(REPO), units3, str(work / "cache_new")),
               ("this tree, 4 lanes", str(REPO), units4, str(work / "cache_new"))]
    best = [None] * len(configs)
    for _ in range(args.rounds):
        for c, (label, code_dir, units, cache_dir) in enumerate(configs):
            run = in_child(code_dir, args.anatomy, units, args.lane_seconds, cache_dir, function=lanes_child)
            best[c] = run if best[c] is None else {key: min(value, best[c][key]) for key, value in run.items()}
    return [dict(run, label=label, per_lane_s=run["wall_s"] / (run["lanes"] * run["seconds"]))
            for (label, *_), run in zip(configs, best)]


def report_lanes(rows, args):
    """Print the lane comparison and the target of issue 20."""
    print(f"template {args.anatomy}, regions {args.region} (mean iterations 0-2) and {args.region + 1} (mean "
          f"iteration 0), {args.lane_seconds:g} simulated s per lane after a {TRANSIENT_S:g} s transient, "
          f"fastest of {args.rounds} alternating rounds; cpus {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f} at the end")
    print(f"{'engine':<26}{'lanes':>6}{'wall s':>9}{'per lane-s':>12}{'no noise s':>12}{'noise share':>13}"
          f"{'cpu s':>8}{'cpu share':>11}{'drawing s':>11}{'share':>8}{'cpu share':>11}")
    for r in rows:
        print(f"{r['label']:<26}{r['lanes']:>6}{r['wall_s']:>9.3f}{r['per_lane_s']:>12.4f}{r['quiet_s']:>12.3f}"
              f"{1 - r['quiet_s'] / r['wall_s']:>13.1%}{r['cpu_s']:>8.3f}{1 - r['quiet_cpu_s'] / r['cpu_s']:>11.1%}"
              f"{r['draw_s']:>11.3f}{r['draw_s'] / r['wall_s']:>8.1%}{r['draw_cpu_s'] / r['cpu_s']:>11.1%}")
    v2, new3, new4 = rows
    same = v2["per_lane_s"] / new3["per_lane_s"]
    full = v2["per_lane_s"] / new4["per_lane_s"]
    print(f"3 lanes vs 3 lanes (the noise and the contiguous output buffer): {same:.2f}x faster per "
          "lane-simulated second")
    print(f"4 busy lanes vs version 2's 3: {full:.2f}x faster per lane-simulated second")
    cpu = (v2["cpu_s"] / (v2["lanes"] * v2["seconds"])) / (new4["cpu_s"] / (new4["lanes"] * new4["seconds"]))
    print(f"the same in process CPU time (less sensitive to other processes on the machine): {cpu:.2f}x")
    print(f"target: at least {TARGET_LANE_RATIO}x version 2 per lane-simulated second: {full:.2f}x "
          f"({'met' if full >= TARGET_LANE_RATIO else 'NOT met'})")
    print("per lane-s: wall s / (lanes x simulated s); no noise s: the same run with noise=False; noise share: "
          "1 - no noise / wall; cpu s, cpu share: the same in process CPU time; drawing s: the same samples drawn alone (version 2: numpy PCG64 per lane in blocks "
          "of 256 steps; this tree: standard_normals), share: drawing / wall, and in CPU time")


def report(results, args):
    """Print the table and the ratios."""
    print(f"template {args.anatomy}, region {args.region}, 3 mean iterations through simulate_region, "
          f"pieces of {args.piece_length:g} s written ({args.raw_rate}); cpus {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f} at the end")
    print("wall s per simulated second of one mean iteration (marginal), start-up of a region (intercept)")
    print(f"{'engine':<12}{'short s':>8}{'wall s':>9}{'long s':>8}{'wall s':>9}{'marginal':>10}{'writing':>9}"
          f"{'start-up':>10}{'at 3x200 s':>12}{'import s':>10}{'compile s':>10}")
    for r in results.values():
        (a, b) = r["runs"]
        compile_s = "-" if r["compile_s"] is None else f"{r['compile_s']:.1f}"
        print(f"{r['label']:<12}{a['seconds']:>8g}{a['wall_s']:>9.2f}{b['seconds']:>8g}{b['wall_s']:>9.2f}"
              f"{r['marginal']:>10.4f}{r['write']:>9.4f}{r['intercept']:>10.2f}{r['published']:>12.4f}"
              f"{r['import_s']:>10.2f}{compile_s:>10}")
    fast, old, tvb = results.get("fast"), results.get("old"), results.get("tvb")
    if fast and old:
        print(f"fast / fast (old): marginal {old['marginal'] / fast['marginal']:.2f}x faster, "
              f"at 3 x 200 s {old['published'] / fast['published']:.2f}x faster")
    if fast and tvb:
        print(f"tvb-library / fast: marginal {tvb['marginal'] / fast['marginal']:.0f}x")
    if old and tvb:
        print(f"tvb-library / fast (old): marginal {tvb['marginal'] / old['marginal']:.0f}x")
    if fast:
        met = fast["published"] <= TARGET_WALL_PER_S
        print(f"target: at most {TARGET_WALL_PER_S} wall s per simulated s at 3 x 200 s: {fast['published']:.4f} "
              f"({'met' if met else 'NOT met'})")
    if fast and tvb:
        ratio = tvb["marginal"] / fast["marginal"]
        print(f"target: at least {TARGET_TVB_RATIO:.0f}x tvb-library's marginal rate: {ratio:.0f}x "
              f"({'met' if ratio >= TARGET_TVB_RATIO else 'NOT met'})")
    print("marginal: (wall(long) - wall(short)) / (3 (long - short)); writing: its part spent writing raw pieces; "
          "start-up: wall(short) - 3 short marginal (connectivity, simulators, initial history, numba cache "
          "load); at 3x200 s: marginal + start-up / 600; compile: the untimed warm-up run, an empty numba cache")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(deepsif_anatomy.locate().folder),
                    help="DeepSIF's anatomy/ folder (default: $DEEPSIF_ANATOMY, else ../shared/anatomy/deepsif)")
    ap.add_argument("--region", type=int, default=700, help="template region made excitable")
    ap.add_argument("--short", type=float, default=2.0, help="shorter simulated s per mean iteration, fast engines")
    ap.add_argument("--long", type=float, default=6.0, help="longer simulated s per mean iteration, fast engines")
    ap.add_argument("--tvb-short", type=float, default=0.6, help="shorter simulated s, tvb-library")
    ap.add_argument("--tvb-long", type=float, default=1.4, help="longer simulated s, tvb-library")
    ap.add_argument("--piece-length", type=float, default=2.0, help="simulated s per raw piece")
    ap.add_argument("--seed", type=int, default=20220425)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each length of the fast engines (the fastest kept)")
    ap.add_argument("--old-commit", default=OLD_COMMIT, help="commit whose fast engine is 'fast (old)'")
    ap.add_argument("--raw-rate", choices=["full", "decimated"], default="decimated",
                    help="raw pieces written (default: the pipeline's, decimated)")
    ap.add_argument("--skip-tvb", action="store_true")
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--lanes", action="store_true",
                    help="only the lane comparison: version 2 (--lanes-commit, 3 lanes) against this tree (3 and 4)")
    ap.add_argument("--lanes-commit", default=LANES_COMMIT, help="commit of fast engine version 2")
    ap.add_argument("--lane-seconds", type=float, default=4.0, help="simulated s per lane, lane comparison")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the lane comparison")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_engines_"))
    if args.lanes:
        try:
            report_lanes(lane_comparison(args, work), args)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        results = {"fast": measure("fast", str(REPO), "fast", args, args.short, args.long, str(work / "cache_new"))}
        if not args.skip_old:
            old_dir = export_commit(args.old_commit, (work / "old").mkdir() or work / "old")
            results["old"] = measure("fast (old)", old_dir, "fast", args, args.short, args.long,
                                     str(work / "cache_old"))
        if not args.skip_tvb:
            results["tvb"] = measure("tvb", str(REPO), "tvb", args, args.tvb_short, args.tvb_long,
                                     str(work / "cache_tvb"))
        report(results, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
