#!/usr/bin/env python3
"""Benchmark step 4 (generate_synthetic_source.m) on the real 994-region template.

Writes a fixture of N synthetic clips for every region, in the form step 2
writes them (tests/clip_fixture.py: MAT v6 with the sensor projection; a
few distinct files per region and hard links for the rest, so the bytes come
from the page cache: this measures computation, not disk reads), then runs
step 4 in MATLAB/Octave exactly as the pipeline does (its scale ratios
split over 1 or more processes, --processes) and prints wall time and peak
memory. --no-stored-projection writes compact clips without the projection
(as made by the published step 2), which step 4 then projects itself.

    python bench/bench_step4.py --clips-per-region 100 --dataset train --processes 1 2
"""

import argparse
from pathlib import Path
import resource
import shutil
import sys
import tempfile
import time

import numpy as np
from scipy.io import loadmat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import deepsif_anatomy  # noqa: E402

from tests.clip_fixture import write_spike_clips  # noqa: E402
from deepsif_pipeline.head.anatomy import DISTANCES_VARIABLE, distance_file, load_template  # noqa: E402
from deepsif_pipeline.processes.engine import find_engine  # noqa: E402
from deepsif_pipeline.store.layout import Layout  # noqa: E402
from deepsif_pipeline.config.settings import Settings  # noqa: E402
from deepsif_pipeline.steps import Context, extract, synthesise  # noqa: E402


def measure(function, *args):
    """Run ``function(*args)`` in a fresh process: (wall s, peak MB of its largest child, result)."""
    import multiprocessing as mp
    with mp.get_context("fork").Pool(1) as pool:
        return pool.apply(_measured, (function, args))


def _measured(function, args):
    start = time.time()
    result = function(*args)
    wall = time.time() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(deepsif_anatomy.locate().folder),
                    help="DeepSIF's anatomy/ folder (default: $DEEPSIF_ANATOMY, else ../shared/anatomy/deepsif)")
    ap.add_argument("--clips-per-region", type=int, default=100)
    ap.add_argument("--dataset", choices=["train", "test"], default="train")
    ap.add_argument("--matlab", default="auto")
    ap.add_argument("--processes", type=int, nargs="+", default=[synthesise.processes()],
                    help="run step 4 once per value, its scale ratios split over that many processes")
    ap.add_argument("--stored-projection", action=argparse.BooleanOptionalAction, default=True,
                    help="clips carry step 2's sensor projection (as the pipeline writes them)")
    ap.add_argument("--distinct", type=int, default=2,
                    help="distinct clip files per region (the others are hard links; with --stored-projection)")
    ap.add_argument("--workdir", default=None, help="keep the fixture here (reused when it is complete)")
    args = ap.parse_args()

    template = load_template(args.anatomy)
    engine = find_engine(args.matlab)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_step4_"))
    layout = Layout(work)
    distances = distance_file(template, layout.derived_dir, log=lambda *_: None)
    counts = np.full(template.n_regions, args.clips_per_region)
    form = f"step2form_{args.distinct}" if args.stored_projection else "compact"
    done = work / f".fixture_{args.clips_per_region}_{form}"
    start = time.time()
    if not done.exists():
        if layout.clip_root.exists():
            shutil.rmtree(layout.clip_root)
        for old in work.glob(".fixture_*"):
            old.unlink()
        write_spike_clips(layout.clip_root, counts, loadmat(str(distances))[DISTANCES_VARIABLE],
                          template.leadfield if args.stored_projection else None, distinct=args.distinct)
        done.touch()
    fixture_s = time.time() - start

    out = layout.synthesis_file(args.dataset)
    print(f"template {template.n_regions} regions, {args.clips_per_region} clips per region "
          f"({int(counts.sum())} clips{', with stored projections' if args.stored_projection else ''}; "
          f"fixture written in {fixture_s:.0f} s), {args.dataset} mode, "
          f"{engine.version()}", flush=True)
    results = []
    ctx = Context(Settings(dataset=args.dataset), template, layout, engine)
    asked = synthesise.fingerprint(ctx.settings, template, ctx.leadfield, ctx.fingerprint(extract.STEP), counts)
    fields = synthesise.job_fields(ctx, counts, distances, out, asked)  # the job the pipeline writes
    for n_parts in args.processes:
        log = layout.synthesis_log(args.dataset)
        log.unlink(missing_ok=True)
        wall, peak_mb, status = measure(synthesise.run_staged, engine, fields, layout, args.dataset, n_parts)
        if status != 0:
            sys.exit(f"step 4 failed, see {log}")
        meta = loadmat(str(out), variable_names=["selected_region", "scale_ratio"])
        results.append((n_parts, wall, peak_mb, meta["scale_ratio"]))
        n_ex, n_src = meta["selected_region"].shape[:2]
        print(f"step 4, {n_parts} process(es): {wall:.1f} s wall, {peak_mb:.0f} MB peak (largest process); "
              f"{n_ex} examples x {n_src} sources x {meta['scale_ratio'].shape[2]} target SNRs", flush=True)
    base = results[0]
    for n_parts, wall, _, ratio in results[1:]:
        same = np.allclose(ratio, base[3], rtol=1e-12, atol=0)
        print(f"{n_parts} process(es): {wall / base[1]:.2f}x the wall time of {base[0]}; scale ratios "
              f"{'identical' if same else 'DIFFERENT'}")
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
