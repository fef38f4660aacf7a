#!/usr/bin/env python3
"""DeepSIF data generation, one command: regions start..end-1, then the synthetic sources.

For each region:

1. simulate the network with that region excitable (``generate_tvb_data.py``, TVB);
2. extract, scale and save its isolated spikes (``matlab/process_region_nmm.m``);
3. delete its raw simulation output once its clips and markers are on disk;

and once every region of the template is done:

4. generate the synthetic source parameters (``matlab/generate_synthetic_source.m``).

A region whose ``clip_info`` markers exist for every mean iteration is
skipped, so re-running the same command resumes. See README.md.
"""

import argparse
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline import claims, science
from generate_tvb_data import HelpFormatter, add_common_options, check_lengths
from deepsif_pipeline.anatomy import AnatomyError, distance_file, leadfield_id, template_info
from deepsif_pipeline.builtin import resolve_template
from deepsif_pipeline.engine import EngineNotFound, find_engine, run_function, run_functions, write_job
from deepsif_pipeline.pack import PackError, pack_clips, pack_path
from deepsif_pipeline.verify import verify
from deepsif_pipeline.layout import (Layout, MarkerError, clip_counts, compact_ranges, marker_counts,
                                     missing_clips, region_done, resolve_locations)

HERE = Path(__file__).resolve().parent
RULE_REGION = "#" * 80
RULE_STEP = "=" * 80
OK, FAIL = "\u2713", "\u2717"
# Thread-count variables of the numerical libraries in the children (OpenBLAS, MKL, OpenMP, numba).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing created or deleted."""


def build_parser():
    p = argparse.ArgumentParser(
        description="DeepSIF data generation: for each region start..end-1 simulate (TVB), extract spikes "
                    "(MATLAB/Octave) and delete the raw data; then generate the synthetic source file.",
        formatter_class=HelpFormatter)
    p.add_argument("--start_region", type=int, help="first region (0-based, inclusive); required unless "
                                                    "--synthesis-only")
    p.add_argument("--end_region", type=int, help="last region (exclusive); required unless --synthesis-only")
    p.add_argument("--filename", default="spikes", help="clips go to OUTPUT/nmm_{filename}/")
    add_common_options(p)
    p.add_argument("--matlab", choices=["auto", "matlab", "octave"], default="auto",
                   help="engine for steps 2 and 4 (auto: MATLAB when on PATH, else Octave)")
    p.add_argument("--target-snr", type=float, default=science.TARGET_SNR_DB,
                   help="SNR (dB) of a region's spikes over the background at the sensors (step 2)")
    p.add_argument("--dataset", choices=["train", "test"], default="train",
                   help="step 4 mode (train: nper 100, n_iter 48; test: nper 10, n_iter 3)")
    p.add_argument("--skip-synthesis", action="store_true", help="do not run step 4")
    p.add_argument("--synthesis-only", action="store_true", help="run step 4 alone (no region range)")
    p.add_argument("--keep-raw", action="store_true", help="do not delete raw_nmm/a{r} (step 3)")
    p.add_argument("--verify", action="store_true",
                   help="check a finished output folder (markers, clips, step-4 file, pack) and print a table; "
                        "exit 1 on any mismatch")
    p.add_argument("--qc", action="store_true", help="with --verify: also write a QC figure (PNG)")
    p.add_argument("--workers", type=int, default=1,
                   help="regions processed at once on this machine, each step in its own process with one "
                        "numerical thread (up to the number of cores)")
    p.add_argument("--pack", action="store_true",
                   help="only pack the clips of the existing step-4 file into {dataset}_sample_nmm.h5 "
                        "(done after step 4 anyway)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the regions as tasks to the Dask distributed scheduler at ADDRESS (e.g. "
                        "tcp://10.0.0.5:8786) whose workers share the output folder; step 4 then runs here "
                        "(README: Running on a Dask cluster)")
    return p


_PRINT = threading.Lock()  # one line (or banner) at a time when regions run in parallel


def say(text=""):
    with _PRINT:
        print(text, flush=True)


def banner(rule, title):
    say("\n".join(["", rule, f"{rule[0]} {title}" if rule[0] == "#" else title, rule]))


def child_env():
    """Environment of the step-1 and step-2 processes: one numerical thread each.

    Results do not depend on how many regions run at once: a BLAS product
    split over another number of threads can differ in the last bit (seen
    in step 2's clips), and each region is a serial job anyway.
    """
    return dict(os.environ, **{name: "1" for name in THREAD_VARIABLES})


def check_writable(folder):
    """Raise UsageError unless ``folder`` exists writable, or can be created."""
    probe = Path(folder)
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"output folder {folder} is not writable ({probe} does not allow writing); "
                         "choose another with --output")


def check_args(args):
    """Validate everything before anything is created; return (template, layout, engine)."""
    if args.synthesis_only and args.skip_synthesis:
        raise UsageError("--synthesis-only and --skip-synthesis exclude each other")
    if args.pack and (args.synthesis_only or args.skip_synthesis):
        raise UsageError("--pack runs the packing alone; it excludes --synthesis-only and --skip-synthesis")
    if args.qc and not args.verify:
        raise UsageError("--qc goes with --verify")
    no_regions = args.synthesis_only or args.pack or args.verify
    if not no_regions:
        if args.start_region is None or args.end_region is None:
            raise UsageError("--start_region and --end_region are required (or use --synthesis-only)")
        if args.end_region <= args.start_region:
            raise UsageError(f"--end_region ({args.end_region}) must be greater than --start_region "
                             f"({args.start_region}); the end is exclusive")
        error = check_lengths(args.sim_length, args.piece_length)
        if error:
            raise UsageError(error)
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler is not None:
        if no_regions:
            raise UsageError("--scheduler sends regions to a Dask cluster: it does not go with --synthesis-only, "
                             "--pack or --verify")
        if args.workers != 1:
            raise UsageError("--workers is for local runs: with --scheduler the Dask workers' threads set how "
                             "many regions run at once")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed: pip install -r requirements.txt") from None
    if "/" in args.filename or not args.filename:
        raise UsageError(f"--filename must be a plain name, got {args.filename!r}")
    anatomy, output = resolve_locations(args.anatomy, args.output)
    try:
        template = resolve_template(anatomy, args.leadfield, log=say)
    except AnatomyError as exc:
        raise UsageError(str(exc)) from None
    if not no_regions and not (0 <= args.start_region and args.end_region <= template.n_regions):
        raise UsageError(f"regions {args.start_region}..{args.end_region - 1} are outside the template: "
                         f"it has regions 0..{template.n_regions - 1}")
    check_writable(output)
    engine = None
    if not (args.pack or args.verify):
        try:
            engine = find_engine(args.matlab)
        except EngineNotFound as exc:
            raise UsageError(str(exc)) from None
    return template, Layout(output, args.filename), engine


def step1(args, template, layout, region, iterations):
    """Run generate_tvb_data.py for one region as a child process; True on success."""
    cmd = [sys.executable, str(HERE / "generate_tvb_data.py"), "--a_start", str(region),
           "--a_end", str(region + 1), "--anatomy", str(template.folder), "--output", str(layout.output),
           "--leadfield", template.leadfield.name, "--sim-length", repr(args.sim_length),
           "--piece-length", repr(args.piece_length), "--a-range", repr(args.a_range),
           "--seed", str(args.seed), "--progress", args.progress, "--engine", args.engine,
           "--raw-rate", args.raw_rate,
           "--iterations", *[str(m) for m in iterations]]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, env=child_env()).returncode == 0


def region_job(path, template, layout, region, target_snr, run_seed):
    """Write the job file of matlab/process_region_nmm.m for one region; return its path."""
    return write_job(path, raw_dir=layout.raw_dir(region), clip_dir=layout.clip_root, region=region,
                     columns=(template.columns + 1).astype(float), leadfield=template.leadfield,
                     leadfield_id=leadfield_id(template.leadfield), target_snr=target_snr,
                     iterations=np.array(science.MEAN_ITERATIONS, dtype=float),
                     seeds=np.array([science.simulation_seed(run_seed, region, m)
                                     for m in science.MEAN_ITERATIONS], dtype=float))


def step2(args, template, layout, engine, region):
    """Run matlab/process_region_nmm.m for one region; True on success."""
    log = layout.region_log(region)
    job = region_job(layout.log_dir / f"region_{region}_step2_job.mat", template, layout, region,
                     args.target_snr, args.seed)
    status = run_function(engine, "process_region_nmm", job, log, env=child_env())
    if status != 0:
        say(f"{engine.kind} failed (exit {status}); its output is in {log}:")
        for line in _tail(log, 8):
            say(f"    {line}")
        return False
    job.unlink()
    return True


def _tail(path, n):
    try:
        return Path(path).read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def step3(args, layout, region):
    """Delete the region's raw data once its clips and markers are complete; True on success."""
    raw = layout.raw_dir(region)
    problems = missing_clips(layout, region)
    if problems:
        say(f"{FAIL} Keeping raw data of region {region} ({raw}): step 2 output incomplete: "
            + "; ".join(problems))
        return False
    if args.keep_raw:
        say(f"{OK} Keeping raw data of region {region} (--keep-raw): {raw}")
        return True
    if raw.exists():
        size = sum(p.stat().st_size for p in raw.glob("*") if p.is_file())
        shutil.rmtree(raw)
        say(f"Deleted {raw} ({size / 1e6:.1f} MB)")
    else:
        say(f"No raw data left for region {region}")
    return True


def timed_region(args, template, layout, engine, region, i, n):
    """:func:`process_region` between its banner and its result line, under the region's claim.

    A region not yet done is claimed in ``OUTPUT/claims/`` first (see
    ``deepsif_pipeline/claims.py``); when another live run holds it, it is
    left to that run ('elsewhere').
    """
    banner(RULE_REGION, f"Processing Region {region} ({i + 1}/{n})")
    t0 = time.time()
    if region_done(layout, region):
        result = process_region(args, template, layout, engine, region)
    else:
        with claims.hold(layout.claim_dir, f"region_{region}") as claim:
            if isinstance(claim, claims.Claim):
                if claim.took_over is not None:
                    say(f"region {region}: took over the claim of {claim.took_over} ({claim.took_over.reason})")
                result = process_region(args, template, layout, engine, region, claim)
            else:
                say(f"region {region} is being processed by {claim}: left to that run")
                return "elsewhere"
    if result in ("done", "skipped"):
        say(f"\n{OK} Completed region {region} in {time.time() - t0:.2f} seconds")
    else:
        say(f"\n{FAIL} Region {region} failed after {time.time() - t0:.2f} seconds: {result}")
    return result


def process_region(args, template, layout, engine, region, claim=None):
    """Steps 1-3 for one region. Returns 'done', 'skipped' or an error text.

    With ``claim`` (a ``claims.Claim``), step 2 (which writes the clips and
    markers) does not start once the claim was found lost: another run took
    the region over while this one was stalled.
    """
    try:
        counts = marker_counts(layout, region)
    except MarkerError as exc:
        return str(exc)
    todo = [m for m, c in counts.items() if c is None]
    if not todo:
        say(f"{OK} Region {region} already processed (markers for mean iterations "
            f"{', '.join(map(str, counts))}: {counts[science.MEAN_ITERATIONS[-1]]} clips); skipping")
        if layout.raw_dir(region).exists() and not args.keep_raw:
            banner(RULE_STEP, f"STEP 3: Deleting raw data for region {region}")
            step3(args, layout, region)
        return "skipped"

    banner(RULE_STEP, f"STEP 1: Generating TVB data for region {region}")
    if len(todo) < len(counts):
        say(f"mean iterations {', '.join(map(str, sorted(set(counts) - set(todo))))} already have markers; "
            f"simulating {', '.join(map(str, todo))}")
    if not step1(args, template, layout, region, todo):
        say(f"{FAIL} TVB simulation failed for region {region}")
        return "step 1 (TVB simulation) failed"
    say(f"{OK} Successfully generated TVB data for region {region}")

    if claim is not None and (claim.lost or not claim.is_ours()):
        say(f"{FAIL} Region {region}: its claim was taken over by another run while step 1 ran; "
            "leaving the region to that run")
        return "claim lost to another run (stalled longer than the claim timeout?)"
    banner(RULE_STEP, f"STEP 2: Processing raw NMM data for region {region}")
    if not step2(args, template, layout, engine, region):
        say(f"{FAIL} Processing raw NMM data failed for region {region}")
        return f"step 2 ({engine.kind}) failed, log {layout.region_log(region)}"
    for line in _tail(layout.region_log(region), 50):
        if line.startswith("iter "):
            say(line)
    say(f"{OK} Successfully processed raw NMM data for region {region}")

    banner(RULE_STEP, f"STEP 3: Deleting raw data for region {region}")
    if not step3(args, layout, region):
        return "step 3: raw data kept, clips incomplete"
    say(f"{OK} Successfully deleted raw data for region {region}")
    return "done"


def synthesis_job(path, template, layout, counts, dataset, seed, distances, out):
    """Write the job file of matlab/generate_synthetic_source.m; return its path."""
    return write_job(path, inflated=template.path("fs_cortex_20k_inflated.mat"),
                     region_mapping=template.path("fs_cortex_20k_region_mapping.mat"),
                     distances=distances, leadfield=template.leadfield,
                     leadfield_id=leadfield_id(template.leadfield), clip_dir=layout.clip_root,
                     clip_counts=np.asarray(counts).astype(float), mode=dataset, seed=float(seed), output=out)


def synthesis_processes():
    """Processes step 4 splits its scale ratios over: one per usable core (it runs alone)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_synthesis(engine, job, log, n_parts):
    """Run step 4 from its job file, its scale ratios split over ``n_parts`` processes.

    With one part, ``generate_synthetic_source`` runs everything in one
    process. Otherwise it runs in stages (see its help): the plan, then
    ``n_parts`` ratio processes at once (one BLAS thread each), then the
    finish; the stage files live beside the job file and are removed on
    success. The output is the same either way.

    Returns
    -------
    int
        0 on success, else the first non-zero exit status.
    """
    if n_parts <= 1:
        return run_function(engine, "generate_synthetic_source", job, log)
    fields = {k: v for k, v in loadmat(str(job), squeeze_me=True).items() if not k.startswith("__")}
    stem = job.with_name(job.stem)
    plan = stem.with_name(stem.name + "_plan.mat")
    parts = [stem.with_name(f"{stem.name}_part{k}of{n_parts}.mat") for k in range(1, n_parts + 1)]
    stage_jobs = [stem.with_name(f"{stem.name}_{name}.mat") for name in
                  ["plan"] + [f"ratios{k}" for k in range(1, n_parts + 1)] + ["finish"]]
    write_job(stage_jobs[0], **fields, stage="plan", plan_file=plan)
    for k, part in enumerate(parts, start=1):
        write_job(stage_jobs[k], **fields, stage="ratios", plan_file=plan, part=float(k),
                  n_parts=float(n_parts), part_file=part)
    write_job(stage_jobs[-1], **fields, stage="finish", plan_file=plan,
              part_files=np.array([str(p) for p in parts], dtype=object))
    part_logs = [log.with_name(f"{log.stem}_part{k}{log.suffix}") for k in range(1, n_parts + 1)]
    status = 1
    try:
        status = run_function(engine, "generate_synthetic_source", stage_jobs[0], log)
        if status == 0:
            with open(log, "a") as fh:
                fh.write(f"scale ratios in {n_parts} processes: logs {', '.join(map(str, part_logs))}\n")
            failed = [(k, st) for k, st in enumerate(
                run_functions(engine, "generate_synthetic_source", stage_jobs[1:-1], part_logs,
                              single_threaded=True), start=1) if st != 0]
            if failed:
                k, status = failed[0]
                with open(log, "a") as fh, open(part_logs[k - 1]) as part_log:
                    fh.write(f"ratio part {k} failed (exit {status}):\n{part_log.read()}")
        if status == 0:
            status = run_function(engine, "generate_synthetic_source", stage_jobs[-1], log)
        return status
    finally:
        for path in [plan, *parts, *stage_jobs]:
            path.unlink(missing_ok=True)
        if status == 0:
            for path in part_logs:
                path.unlink(missing_ok=True)


def step4(args, template, layout, engine):
    """Synthetic source parameters once every template region is done.

    Returns
    -------
    str
        'done', 'waiting' (regions missing: not a failure) or an error text.
    """
    banner(RULE_STEP, f"STEP 4: Generating synthetic source ({args.dataset}_sample_source1.mat)")
    try:
        counts = clip_counts(layout, template.n_regions)
    except MarkerError as exc:
        return str(exc)
    missing = np.flatnonzero(counts < 0)
    if missing.size:
        say(f"Step 4 needs every region of the template: {missing.size} of {template.n_regions} regions have "
            f"no markers yet ({compact_ranges(missing)}). Skipping; run the remaining regions, then "
            "re-run or use --synthesis-only.")
        return "waiting"
    empty = np.flatnonzero(counts == 0)
    if empty.size == counts.size:
        return "no region has any clip: nothing to synthesise (longer --sim-length?)"
    if empty.size:
        say(f"{empty.size} regions have no clip and cannot be source centres: {compact_ranges(empty)}")
    out = layout.synthesis_file(args.dataset)
    seed = science.synthesis_seed(args.seed)
    if synthesis_up_to_date(out, counts, seed, args.dataset):
        say(f"{OK} {out} is up to date (made from these clip counts, seed and dataset); not regenerated")
        return "done"
    if out.exists():
        say(f"{out} was made from other clips or settings: generating it again")
    distances = distance_file(template, layout.derived_dir, log=say)
    job = synthesis_job(layout.log_dir / f"synthesis_{args.dataset}_job.mat", template, layout, counts,
                        args.dataset, seed, distances, out)
    log = layout.log_dir / f"synthesis_{args.dataset}.log"
    start = time.time()
    status = run_synthesis(engine, job, log, synthesis_processes())
    if status != 0:
        say(f"{engine.kind} failed (exit {status}); its output is in {log}:")
        for line in _tail(log, 8):
            say(f"    {line}")
        return f"step 4 failed, log {log}"
    job.unlink()
    say(f"{OK} Wrote {out} in {time.time() - start:.1f} s")
    return "done"


def step_pack(args, layout):
    """Pack the clips of the step-4 file for DeepSIF's trainer. Returns 'done' or an error text."""
    synthesis = layout.synthesis_file(args.dataset)
    banner(RULE_STEP, f"PACK: Writing {pack_path(synthesis).name} for the trainer")
    if not synthesis.is_file():
        return f"no {synthesis.name} in {layout.output}: run step 4 first (--synthesis-only)"
    try:
        pack_clips(synthesis, layout.clip_root, log=say)
    except PackError as exc:
        return str(exc)
    return "done"


def synthesis_up_to_date(path, counts, seed, dataset):
    """True when ``path`` is a step-4 file made from these clip counts, seed and dataset."""
    if not path.is_file():
        return False
    try:
        made = loadmat(str(path), variable_names=["seed", "clip_counts", "dataset", "clip_rows"])
        return ("clip_rows" in made and int(made["seed"].ravel()[0]) == int(seed)
                and str(made["dataset"][0]) == dataset
                and np.array_equal(made["clip_counts"].ravel().astype(int), np.asarray(counts)))
    except Exception:
        return False


def run_verify(args, template, layout):
    """--verify (and --qc): check the output folder, print a table; 0 when everything holds."""
    if not layout.output.is_dir():
        raise UsageError(f"no output folder {layout.output} to verify")
    all_dis = loadmat(str(distance_file(template, layout.derived_dir, log=say)))["all_dis"]
    rows = verify(layout, template, args.dataset, all_dis)
    width = max(len(name) for name, _, _ in rows)
    say(f"Verifying {layout.output} ({args.dataset}, nmm_{args.filename}/, {template.n_regions} regions)")
    for name, ok, detail in rows:
        say(f"{OK if ok else FAIL} {name:<{width}}  {detail}")
    if args.qc:
        from deepsif_pipeline.qc import qc_figure
        say(f"QC figure: {qc_figure(layout, template, args.dataset)}")
    failed = [name for name, ok, _ in rows if not ok]
    say(f"{len(rows) - len(failed)} of {len(rows)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def run_on_dask(args, template, layout, engine, regions):
    """Steps 1-3 of ``regions`` as tasks of the Dask cluster at ``--scheduler``; ``{region: result}``.

    Each task runs this script for one region on a worker (``deepsif_pipeline/dask_runner.py``),
    with the options of this run, the template folder and engine resolved here, and
    ``--skip-synthesis``: step 4 stays in this process.
    """
    from deepsif_pipeline.dask_runner import DaskSetupError, forwarded_options, run_regions_on_dask
    options = forwarded_options(
        build_parser(), args,
        drop={"start_region", "end_region", "scheduler", "workers", "skip_synthesis", "synthesis_only", "verify",
              "qc", "pack"},
        override={"anatomy": str(template.folder), "leadfield": template.leadfield.name,
                  "output": str(layout.output), "matlab": engine.kind})

    def command(region):
        return [str(HERE / "pipeline_orchestrator.py"), "--start_region", str(region), "--end_region",
                str(region + 1), "--skip-synthesis", *options]

    try:
        return run_regions_on_dask(args.scheduler, regions, command, say, layout.output)
    except DaskSetupError as exc:
        raise UsageError(str(exc)) from None


def run(args):
    template, layout, engine = check_args(args)
    if args.verify:
        return run_verify(args, template, layout)
    start = time.time()
    name = template_info(template.folder).get("name")
    say(f"DeepSIF data generation: anatomy {f'{name} (built-in, ' if name else '('}{template.folder}), "
        f"{template.n_regions} regions, {template.connectivity.name}, {template.leadfield.name}")
    say(f"output {layout.output}, clips nmm_{args.filename}/, "
        + (f"engine {engine.kind} ({engine.executable}), " if engine else "") + f"seed {args.seed}")
    if not (args.synthesis_only or args.pack):
        say(f"simulation {args.sim_length:g} s x {len(science.MEAN_ITERATIONS)} mean iterations per region "
            f"in {min(args.piece_length, args.sim_length):g} s pieces, A = {args.a_range:g}, "
            f"target SNR {args.target_snr:g} dB")
    layout.output.mkdir(parents=True, exist_ok=True)

    results = {}
    if not (args.synthesis_only or args.pack):
        regions = list(range(args.start_region, args.end_region))
        if args.scheduler is not None:
            results = run_on_dask(args, template, layout, engine, regions)
        else:
            if args.workers > 1:
                say(f"{min(args.workers, len(regions))} regions at a time (--workers {args.workers})")
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                running = {pool.submit(timed_region, args, template, layout, engine, region, i, len(regions)):
                           region for i, region in enumerate(regions)}
                for future in as_completed(running):
                    results[running[future]] = future.result()
        results = dict(sorted(results.items()))

    synthesis = packing = None
    if not (args.skip_synthesis or args.pack):
        with claims.hold(layout.claim_dir, f"synthesis_{args.dataset}") as claim:
            if isinstance(claim, claims.Claim):
                synthesis = step4(args, template, layout, engine)
                if synthesis == "done":
                    packing = step_pack(args, layout)
            else:
                say(f"\nStep 4 and the pack are being run by {claim}: left to that run")
                synthesis = "elsewhere"
    elif args.pack:
        packing = step_pack(args, layout)

    failed = {r: why for r, why in results.items() if why not in ("done", "skipped", "elsewhere")}
    banner(RULE_REGION, "Summary")
    if results:
        ok = [r for r, why in results.items() if why == "done"]
        skipped = [r for r, why in results.items() if why == "skipped"]
        say(f"Successful regions: {len(ok)}" + (f" ({compact_ranges(ok)})" if ok else ""))
        if skipped:
            say(f"Already done, skipped: {len(skipped)} ({compact_ranges(skipped)})")
        elsewhere = [r for r, why in results.items() if why == "elsewhere"]
        if elsewhere:
            say(f"Being processed by another run: {len(elsewhere)} ({compact_ranges(elsewhere)})")
        say(f"Failed regions: {len(failed)}" + (f" ({compact_ranges(failed)})" if failed else ""))
        for r, why in failed.items():
            say(f"  region {r}: {why}")
    if synthesis is not None:
        say(f"Synthetic source: {synthesis}")
    if packing is not None:
        say(f"Clip pack: {packing}")
    say(f"Total time: {time.time() - start:.2f} seconds")
    if failed:
        say("Re-run the same command to retry the failed regions; finished ones are skipped.")
    bad_synthesis = synthesis not in (None, "done", "waiting", "elsewhere") or packing not in (None, "done")
    return 1 if failed or bad_synthesis else 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished regions are kept; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
