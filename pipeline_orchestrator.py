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
from datetime import datetime, timezone
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline import __version__, children, claims, science
from deepsif_pipeline.files import format_bytes, fsync_path, sweep_temporaries, write_text_atomic
from deepsif_pipeline.status import report, synthesis_up_to_date
from generate_tvb_data import HelpFormatter, add_common_options, check_lengths, raw_bytes
from deepsif_pipeline.anatomy import (DISTANCES_VARIABLE, AnatomyError, distance_file, leadfield_id,
                                      template_info)
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

# Default time limits of the child steps, generous multiples of what was measured here (README,
# "Measured here"; 998-region template): step 1 takes 27 (tvb) or 0.21 (fast) wall seconds per
# simulated second, step 2 about 0.05, step 4 about 4 minutes.
TIMEOUT_BASE_S = 900.0  # start-up allowance of every step
STEP1_S_PER_SIMULATED_S = {"tvb": 150.0, "fast": 5.0}
STEP2_S_PER_SIMULATED_S = 1.0
STEP4_TIMEOUT_S = 4 * 3600.0

# Free space required before a region's simulation: its raw data plus this share and this many bytes.
DISK_MARGIN_SHARE = 0.10
DISK_MARGIN_BYTES = 256e6


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
    p.add_argument("--status", action="store_true",
                   help="print each region's state (range: --start_region/--end_region, default all) and what "
                        "step 4 waits for, from the files alone; runs nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="print what this command would do and the disk it needs; runs nothing")
    for step, default in (("1", "900 s + 5 s per simulated second with the fast engine, 150 s with tvb"),
                          ("2", "900 s + 1 s per simulated second"), ("4", "4 hours")):
        p.add_argument(f"--timeout-step{step}", type=float, metavar="SECONDS",
                       help=f"time limit of one step-{step} process, stopped and its region (or step 4) "
                            f"failed when exceeded; 0: no limit (default: {default})")
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
    probe = existing_ancestor(folder)
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
    if args.status and (args.verify or args.pack or args.synthesis_only or args.dry_run):
        raise UsageError("--status only reports: it does not go with --verify, --pack, --synthesis-only or --dry-run")
    for step in ("1", "2", "4"):
        limit = getattr(args, f"timeout_step{step}")
        if limit is not None and not limit >= 0:
            raise UsageError(f"--timeout-step{step} must be a number of seconds (0: no limit), got {limit:g}")
    if args.status and (args.start_region is None) != (args.end_region is None):
        raise UsageError("--status takes both --start_region and --end_region, or neither (all regions)")
    no_regions = args.synthesis_only or args.pack or args.verify or (args.status and args.start_region is None)
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
    if args.status and args.start_region is not None and args.end_region <= args.start_region:
        raise UsageError(f"--end_region ({args.end_region}) must be greater than --start_region "
                         f"({args.start_region}); the end is exclusive")
    if not no_regions and not (0 <= args.start_region and args.end_region <= template.n_regions):
        raise UsageError(f"regions {args.start_region}..{args.end_region - 1} are outside the template: "
                         f"it has regions 0..{template.n_regions - 1}")
    if not args.status:
        check_writable(output)
    engine = None
    if not (args.pack or args.verify or args.status):
        try:
            engine = find_engine(args.matlab)
        except EngineNotFound as exc:
            raise UsageError(str(exc)) from None
    return template, Layout(output, args.filename), engine


def time_limits(args):
    """Seconds each child step may take (None: no limit), from the flags or the defaults.

    The defaults scale with the simulated length of a region (all its mean
    iterations) and the engine; see ``TIMEOUT_BASE_S`` and what follows it.

    Returns
    -------
    dict
        ``{'step1': float or None, 'step2': ..., 'step4': ...}``.
    """
    simulated = args.sim_length * len(science.MEAN_ITERATIONS)
    default = {"step1": TIMEOUT_BASE_S + STEP1_S_PER_SIMULATED_S[args.engine] * simulated,
               "step2": TIMEOUT_BASE_S + STEP2_S_PER_SIMULATED_S * simulated,
               "step4": STEP4_TIMEOUT_S}
    limits = {}
    for step, value in default.items():
        given = getattr(args, f"timeout_{step}")
        limits[step] = value if given is None else (given or None)
    return limits


def describe_outcome(what, outcome, limit_flag, log=None):
    """One line on a child step that did not succeed."""
    if outcome.timed_out:
        return f"{what} stopped at its time limit ({limit_flag}){f', log {log}' if log else ''}"
    if outcome.stopped:
        return "interrupted"
    return f"{what} failed (exit {outcome.status}){f', log {log}' if log else ''}"


def step1(args, template, layout, region, iterations):
    """Run generate_tvb_data.py for one region as a child process; a ``children.Outcome``."""
    cmd = [sys.executable, str(HERE / "generate_tvb_data.py"), "--a_start", str(region),
           "--a_end", str(region + 1), "--anatomy", str(template.folder), "--output", str(layout.output),
           "--leadfield", template.leadfield.name, "--sim-length", repr(args.sim_length),
           "--piece-length", repr(args.piece_length), "--a-range", repr(args.a_range),
           "--seed", str(args.seed), "--progress", args.progress, "--engine", args.engine,
           "--raw-rate", args.raw_rate,
           "--iterations", *[str(m) for m in iterations]]
    return children.run(cmd, timeout=time_limits(args)["step1"], stdin=subprocess.DEVNULL, env=child_env())


def region_job(path, template, layout, region, target_snr, run_seed):
    """Write the job file of matlab/process_region_nmm.m for one region; return its path."""
    return write_job(path, raw_dir=layout.raw_dir(region), clip_dir=layout.clip_root, region=region,
                     columns=(template.columns + 1).astype(float), leadfield=template.leadfield,
                     leadfield_id=leadfield_id(template.leadfield), target_snr=target_snr,
                     iterations=np.array(science.MEAN_ITERATIONS, dtype=float),
                     seeds=np.array([science.simulation_seed(run_seed, region, m)
                                     for m in science.MEAN_ITERATIONS], dtype=float))


def step2_job_path(layout, region):
    return layout.log_dir / f"region_{region}_step2_job.mat"


def step2(args, template, layout, engine, region):
    """Run matlab/process_region_nmm.m for one region; a ``children.Outcome``."""
    log = layout.region_log(region)
    job = region_job(step2_job_path(layout, region), template, layout, region, args.target_snr, args.seed)
    status = run_function(engine, "process_region_nmm", job, log, timeout=time_limits(args)["step2"],
                          env=child_env())
    outcome = children.Outcome.from_status(status)
    show_engine_failure(engine, outcome, log)
    if outcome.ok:
        job.unlink()
    return outcome


def show_engine_failure(engine, outcome, log):
    """Print why a MATLAB/Octave step did not succeed and the end of its log (nothing when it did, or was stopped)."""
    if outcome.ok or outcome.stopped:
        return
    say(f"{engine.kind} {'was stopped at its time limit' if outcome.timed_out else f'failed (exit {outcome.status})'}"
        f"; its output is in {log}:")
    for line in _tail(log, 8):
        say(f"    {line}")


def _tail(path, n):
    try:
        return Path(path).read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def sweep_region(layout, region):
    """Delete what killed writers left of one region (``.tmp_*`` files, its step-2 job file).

    Only under the region's claim, with no child of this run working on it.

    Returns
    -------
    list of Path
    """
    gone = sweep_temporaries(layout.raw_dir(region)) + sweep_temporaries(layout.clip_dir(region))
    for m in science.MEAN_ITERATIONS:
        marker = layout.marker(m, region)
        gone += sweep_temporaries(marker.parent, f"{marker.stem}_")
    job = step2_job_path(layout, region)
    gone += sweep_temporaries(job.parent, f"{job.stem}_")
    if job.exists():
        job.unlink()
        gone.append(job)
    return gone


def make_durable(layout, region):
    """Flush the region's clips and markers (and their folders' entries) to the disk.

    Called before its raw data is deleted, so that a machine that loses
    power afterwards cannot lose both.
    """
    folders = {layout.clip_dir(region)}
    for m in science.MEAN_ITERATIONS:
        fsync_path(layout.marker(m, region))
        folders.add(layout.marker(m, region).parent)
    for path in layout.clip_dir(region).glob("nmm_*.mat") if layout.clip_dir(region).is_dir() else []:
        fsync_path(path)
    for folder in folders:
        if folder.is_dir():
            fsync_path(folder)


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
        make_durable(layout, region)
        size = sum(p.stat().st_size for p in raw.glob("*") if p.is_file())
        shutil.rmtree(raw, ignore_errors=True)  # another run may be deleting it too
        say(f"Deleted {raw} ({size / 1e6:.1f} MB)")
    else:
        say(f"No raw data left for region {region}")
    return True


class DiskGuard:
    """Free space of the output file system against the raw data of the regions being simulated.

    Regions simulated at once (``--workers``) each reserve their estimate
    until their raw data is deleted.
    """

    def __init__(self, output, margin_share=DISK_MARGIN_SHARE, margin_bytes=DISK_MARGIN_BYTES):
        self.output, self.share, self.extra = Path(output), margin_share, margin_bytes
        self.reserved, self.lock = {}, threading.Lock()

    def reserve(self, region, need):
        """Reserve ``need`` bytes for ``region``; None when there is room, else the message why not."""
        with self.lock:
            others = sum(v for r, v in self.reserved.items() if r != region)
            required = (need + others) * (1 + self.share) + self.extra
            free = shutil.disk_usage(existing_ancestor(self.output)).free
            if free < required:
                beside = f" (+ {format_bytes(others)} for the regions running beside it)" if others else ""
                return (f"not enough disk space for region {region}: its raw data needs about {format_bytes(need)}"
                        f"{beside}, {format_bytes(required)} with the margin, and {self.output} has "
                        f"{format_bytes(free)} free; free some space (or use --raw-rate decimated: a quarter of "
                        "the raw data), then re-run")
            self.reserved[region] = need
            return None

    def release(self, region):
        with self.lock:
            self.reserved.pop(region, None)


def existing_ancestor(path):
    """``path`` or its nearest existing parent folder."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def region_raw_bytes(args, template, n_iterations=None):
    """Estimated raw data of one region with this run's settings (bytes)."""
    return raw_bytes(template.n_connectivity, args.sim_length, args.piece_length, args.raw_rate, n_iterations)


class Halt:
    """Why this run starts no new region any more (a full disk), shared by the worker threads."""

    def __init__(self):
        self.reason = None

    def __bool__(self):
        return self.reason is not None


def timed_region(args, template, layout, engine, region, i, n, disk=None, halt=None):
    """:func:`process_region` between its banner and its result line, under the region's claim.

    The region is claimed in ``OUTPUT/claims/`` first (see
    ``deepsif_pipeline/claims.py``) and the leftovers of killed runs are
    removed; when another live run holds it, it is left to that run
    ('elsewhere', or 'skipped' when already done). Once this run was
    interrupted or halted, the regions not yet begun are 'not started'.
    """
    if children.STOP.is_set() or halt:
        return "not started"
    banner(RULE_REGION, f"Processing Region {region} ({i + 1}/{n})")
    t0 = time.time()
    # A region already done is claimed too: a run killed after its markers may have left its
    # claim, step-2 job file or raw data, which are removed here (and never by two runs at once).
    with claims.hold(layout.claim_dir, f"region_{region}") as claim:
        if isinstance(claim, claims.Claim):
            if claim.took_over is not None:
                say(f"region {region}: took over the claim of {claim.took_over}")
            left = len(sweep_region(layout, region)) + claims.remove_old_ballots(claim)
            if left:
                say(f"region {region}: removed {left} leftover files of an interrupted run")
            try:
                result = process_region(args, template, layout, engine, region, claim, disk, halt)
            finally:
                if disk is not None:
                    disk.release(region)
                if children.STOP.is_set():
                    sweep_region(layout, region)
        elif region_done(layout, region):
            say(f"{OK} Region {region} already processed; {claim} is finishing it")
            return "skipped"
        else:
            say(f"region {region} is being processed by {claim}: left to that run")
            return "elsewhere"
    if result in ("done", "skipped"):
        layout.failure_record(region).unlink(missing_ok=True)
        say(f"\n{OK} Completed region {region} in {time.time() - t0:.2f} seconds")
    elif result in ("interrupted", "not started"):
        say(f"\n{FAIL} Region {region} interrupted after {time.time() - t0:.2f} seconds; its finished mean "
            "iterations are kept")
    else:
        write_text_atomic(layout.failure_record(region),
                          f"{utc_now()} on {socket.gethostname()}: {result}\n")
        say(f"\n{FAIL} Region {region} failed after {time.time() - t0:.2f} seconds: {result}")
    record(layout, f"region {region}: {result} ({time.time() - t0:.1f} s)")
    return result


def process_region(args, template, layout, engine, region, claim=None, disk=None, halt=None):
    """Steps 1-3 for one region. Returns 'done', 'skipped', 'interrupted' or an error text.

    With ``claim`` (a ``claims.Claim``), step 2 (which writes the clips and
    markers) does not start once the claim was found lost: another run took
    the region over while this one was stalled. With ``disk`` (a
    :class:`DiskGuard`), the region is not simulated without room for its
    raw data; ``halt`` then records why no further region starts.
    """
    try:
        counts = marker_counts(layout, region)
    except MarkerError as exc:
        return str(exc)
    todo = [m for m, c in counts.items() if c is None]
    if not todo:
        problems = missing_clips(layout, region)
        if problems:
            return "; ".join(problems)
        say(f"{OK} Region {region} already processed (markers for mean iterations "
            f"{', '.join(map(str, counts))}: {counts[science.MEAN_ITERATIONS[-1]]} clips); skipping")
        if layout.raw_dir(region).exists() and not args.keep_raw:
            banner(RULE_STEP, f"STEP 3: Deleting raw data for region {region}")
            step3(args, layout, region)
        return "skipped"

    if disk is not None:
        problem = disk.reserve(region, region_raw_bytes(args, template, len(todo)))
        if problem:
            if halt is not None:
                halt.reason = f"not enough disk space (region {region}, above)"
            return problem
    banner(RULE_STEP, f"STEP 1: Generating TVB data for region {region}")
    if len(todo) < len(counts):
        say(f"mean iterations {', '.join(map(str, sorted(set(counts) - set(todo))))} already have markers; "
            f"simulating {', '.join(map(str, todo))}")
    outcome = step1(args, template, layout, region, todo)
    if not outcome.ok:
        why = describe_outcome("step 1 (TVB simulation)", outcome, "--timeout-step1")
        say(f"{FAIL} TVB simulation failed for region {region}: {why}")
        return why
    say(f"{OK} Successfully generated TVB data for region {region}")

    if claim is not None and (claim.lost or not claim.is_ours()):
        say(f"{FAIL} Region {region}: its claim was taken over by another run while step 1 ran; "
            "leaving the region to that run")
        return "claim lost to another run (stalled longer than the claim timeout?)"
    if children.STOP.is_set():
        return "interrupted"
    banner(RULE_STEP, f"STEP 2: Processing raw NMM data for region {region}")
    outcome = step2(args, template, layout, engine, region)
    if not outcome.ok:
        why = describe_outcome(f"step 2 ({engine.kind})", outcome, "--timeout-step2", layout.region_log(region))
        say(f"{FAIL} Processing raw NMM data failed for region {region}: {why}")
        return why
    for line in _tail(layout.region_log(region), 50):
        if line.startswith("iter "):
            say(line)
    say(f"{OK} Successfully processed raw NMM data for region {region}")

    if claim is not None and (claim.lost or not claim.is_ours()):
        say(f"{OK} Region {region} is processed, but its claim was taken over by another run while step 2 ran: "
            "its raw data is left for that run to delete")
        return "done"
    banner(RULE_STEP, f"STEP 3: Deleting raw data for region {region}")
    if not step3(args, layout, region):
        return "step 3: raw data kept, clips incomplete"
    say(f"{OK} Successfully deleted raw data for region {region}")
    return "done"


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(layout, text):
    """Append one timestamped line to the output folder's run log (``logs/runs.log``).

    Each line is one ``write`` on a file opened for appending, so lines of
    runs sharing the folder do not mix.
    """
    line = f"{utc_now()} {socket.gethostname()}:{os.getpid()} {text}\n"
    try:
        layout.run_log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.run_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        say(f"warning: cannot write the run log {layout.run_log}: {exc.strerror}")


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


def run_synthesis(engine, job, log, n_parts, timeout=None):
    """Run step 4 from its job file, its scale ratios split over ``n_parts`` processes.

    With one part, ``generate_synthetic_source`` runs everything in one
    process. Otherwise it runs in stages (see its help): the plan, then
    ``n_parts`` ratio processes at once (one BLAS thread each), then the
    finish; the stage files live beside the job file and are removed on
    success. The output is the same either way. ``timeout`` limits each
    process (seconds).

    Returns
    -------
    int
        0 on success, else the first non-zero exit status.
    """
    if n_parts <= 1:
        return run_function(engine, "generate_synthetic_source", job, log, timeout=timeout)
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
        status = run_function(engine, "generate_synthetic_source", stage_jobs[0], log, timeout=timeout)
        if status == 0:
            with open(log, "a") as fh:
                fh.write(f"scale ratios in {n_parts} processes: logs {', '.join(map(str, part_logs))}\n")
            failed = [(k, st) for k, st in enumerate(
                run_functions(engine, "generate_synthetic_source", stage_jobs[1:-1], part_logs, timeout=timeout,
                              single_threaded=True), start=1) if st != 0]
            if failed:
                k, status = failed[0]
                with open(log, "a") as fh, open(part_logs[k - 1]) as part_log:
                    fh.write(f"ratio part {k} failed (exit {status}):\n{part_log.read()}")
        if status == 0:
            status = run_function(engine, "generate_synthetic_source", stage_jobs[-1], log, timeout=timeout)
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
    outcome = children.Outcome.from_status(run_synthesis(engine, job, log, synthesis_processes(),
                                                         time_limits(args)["step4"]))
    if not outcome.ok:
        show_engine_failure(engine, outcome, log)
        return describe_outcome("step 4", outcome, "--timeout-step4", log)
    job.unlink()
    fsync_path(out)
    say(f"{OK} Wrote {out} in {time.time() - start:.1f} s")
    return "done"


def sweep_synthesis(layout, dataset):
    """Delete what a killed step 4 or pack of ``dataset`` left (under the step-4 claim).

    Returns
    -------
    list of Path
    """
    gone = sweep_temporaries(layout.output, f"{dataset}_sample_") + sweep_temporaries(layout.derived_dir)
    for path in layout.log_dir.glob(f"synthesis_{dataset}_job*.mat") if layout.log_dir.is_dir() else []:
        path.unlink(missing_ok=True)
        gone.append(path)
    return gone + sweep_temporaries(layout.log_dir, f"synthesis_{dataset}_job")


def step_pack(args, layout):
    """Pack the clips of the step-4 file for DeepSIF's trainer. Returns 'done' or an error text."""
    synthesis = layout.synthesis_file(args.dataset)
    banner(RULE_STEP, f"PACK: Writing {pack_path(synthesis).name} for the trainer")
    if not synthesis.is_file():
        return f"no {synthesis.name} in {layout.output}: run step 4 first (--synthesis-only)"
    try:
        pack_clips(synthesis, layout.clip_root, log=say, stop=children.STOP)
    except PackError as exc:
        return "interrupted" if children.STOP.is_set() else str(exc)
    return "done"


def run_verify(args, template, layout):
    """--verify (and --qc): check the output folder, print a table; 0 when everything holds."""
    if not layout.output.is_dir():
        raise UsageError(f"no output folder {layout.output} to verify")
    distances = loadmat(str(distance_file(template, layout.derived_dir, log=say)))[DISTANCES_VARIABLE]
    rows = verify(layout, template, args.dataset, distances)
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


def versions(engine):
    """One line: the project, tvb-library and MATLAB/Octave versions (for the run log)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        tvb = version("tvb-library")
    except PackageNotFoundError:
        tvb = "not installed"
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, stdin=subprocess.DEVNULL).stdout.strip() if (HERE / ".git").exists() else ""
    return (f"deepsif-pipeline {__version__}{f' ({commit})' if commit else ''}, tvb-library {tvb}, "
            + (engine.version() if engine else "no MATLAB/Octave needed") + f", Python {sys.version.split()[0]}")


def print_status(args, template, layout):
    """--status: every region's state in the range and step 4's, from the files alone."""
    regions = (range(args.start_region, args.end_region) if args.start_region is not None
               else range(template.n_regions))
    say(f"Status of {layout.output} (nmm_{args.filename}/, {template.n_regions} regions; regions "
        f"{regions[0]}..{regions[-1]}), {utc_now()}")
    if not layout.output.is_dir():
        say("no output folder yet: nothing has run")
    seed = science.synthesis_seed(args.seed)
    for line in report(layout, template.n_regions, list(regions), args.dataset,
                       lambda path, counts: synthesis_up_to_date(path, counts, seed, args.dataset)):
        say(line)
    if layout.run_log.is_file():
        say(f"run log: {layout.run_log}")
    return 0


def print_plan(args, template, layout, engine):
    """--dry-run: what this command would do, and the disk it needs; nothing is run or created."""
    say("Dry run: nothing is simulated, written or deleted")
    if not (args.synthesis_only or args.pack):
        plan = {"skip": [], "resume": [], "simulate": []}
        for r in range(args.start_region, args.end_region):
            try:
                counts = marker_counts(layout, r)
            except MarkerError as exc:
                say(f"region {r}: {exc}")
                continue
            have = sum(c is not None for c in counts.values())
            plan["skip" if have == len(counts) else "resume" if have else "simulate"].append(r)
        for kind, text in (("skip", "already done, skipped"), ("resume", "partly done, missing mean iterations"),
                           ("simulate", "steps 1-3")):
            if plan[kind]:
                say(f"{text}: {len(plan[kind])} regions ({compact_ranges(plan[kind])})")
        need = region_raw_bytes(args, template)
        at_once = min(args.workers, max(1, len(plan["resume"]) + len(plan["simulate"])))
        free = shutil.disk_usage(existing_ancestor(layout.output)).free
        say(f"raw data per region: {format_bytes(need)} (--raw-rate {args.raw_rate}), deleted after its step 2; "
            f"peak with {at_once} at once: {format_bytes(at_once * need)}, "
            f"{format_bytes(at_once * need * (1 + DISK_MARGIN_SHARE) + DISK_MARGIN_BYTES)} with the margin; "
            f"free on {existing_ancestor(layout.output)}: {format_bytes(free)}")
        limits = time_limits(args)
        say("time limits: " + ", ".join(f"{k} {'none' if v is None else f'{v:.0f} s'}" for k, v in limits.items()))
    if not (args.skip_synthesis or args.pack):
        try:
            counts = clip_counts(layout, template.n_regions)
            done = set(np.flatnonzero(counts >= 0).tolist())
        except MarkerError as exc:
            say(f"step 4: {exc}")
            return 0
        if not (args.synthesis_only or args.pack):
            done |= set(range(args.start_region, args.end_region))
        waiting = sorted(set(range(template.n_regions)) - done)
        say(f"step 4 ({args.dataset}): " + (f"would wait for {len(waiting)} regions outside this range "
                                          f"({compact_ranges(waiting)})" if waiting
                                          else "would run once the regions are done, then the pack"))
    return 0


def run(args):
    template, layout, engine = check_args(args)
    if args.verify:
        return run_verify(args, template, layout)
    if args.status:
        return print_status(args, template, layout)
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
    if args.dry_run:
        return print_plan(args, template, layout, engine)
    layout.output.mkdir(parents=True, exist_ok=True)
    if args.scheduler is None:
        children.install_signal_handlers(
            lambda name: say(f"\n{name} received: stopping the running steps (finished regions and mean "
                             "iterations are kept)"))
    record(layout, f"start: {' '.join(map(str, sys.argv))}")
    record(layout, f"seed {args.seed}, engine {args.engine}, {versions(engine)}")

    results, halt = {}, Halt()
    if not (args.synthesis_only or args.pack):
        regions = list(range(args.start_region, args.end_region))
        if args.scheduler is not None:
            results = run_on_dask(args, template, layout, engine, regions)
        else:
            if args.workers > 1:
                say(f"{min(args.workers, len(regions))} regions at a time (--workers {args.workers})")
            disk = DiskGuard(layout.output)
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                running = {pool.submit(timed_region, args, template, layout, engine, region, i, len(regions),
                                       disk, halt): region for i, region in enumerate(regions)}
                for future in as_completed(running):
                    results[running[future]] = future.result()
        results = dict(sorted(results.items()))

    synthesis = packing = None
    stopped = children.STOP.is_set() or bool(halt)
    if not (args.skip_synthesis or args.pack) and not stopped:
        with claims.hold(layout.claim_dir, f"synthesis_{args.dataset}") as claim:
            if isinstance(claim, claims.Claim):
                sweep_synthesis(layout, args.dataset)
                synthesis = step4(args, template, layout, engine)
                if synthesis == "done" and not children.STOP.is_set():
                    packing = step_pack(args, layout)
                if children.STOP.is_set():
                    sweep_synthesis(layout, args.dataset)
            else:
                say(f"\nStep 4 and the pack are being run by {claim}: left to that run")
                synthesis = "elsewhere"
        record(layout, f"step 4: {synthesis}" + (f"; pack: {packing}" if packing else ""))
    elif args.pack:
        packing = step_pack(args, layout)
        record(layout, f"pack: {packing}")

    quiet = ("done", "skipped", "elsewhere", "interrupted", "not started")
    failed = {r: why for r, why in results.items() if why not in quiet}
    banner(RULE_REGION, "Summary")
    if results:
        ok = [r for r, why in results.items() if why == "done"]
        skipped = [r for r, why in results.items() if why == "skipped"]
        say(f"Successful regions: {len(ok)}" + (f" ({compact_ranges(ok)})" if ok else ""))
        if skipped:
            say(f"Already done, skipped: {len(skipped)} ({compact_ranges(skipped)})")
        for label, kind in (("Being processed by another run", "elsewhere"), ("Interrupted", "interrupted"),
                            ("Not started", "not started")):
            these = [r for r, why in results.items() if why == kind]
            if these:
                say(f"{label}: {len(these)} ({compact_ranges(these)})")
        say(f"Failed regions: {len(failed)}" + (f" ({compact_ranges(failed)})" if failed else ""))
        for r, why in failed.items():
            say(f"  region {r}: {why}")
    if synthesis is not None:
        say(f"Synthetic source: {synthesis}")
    if packing is not None:
        say(f"Clip pack: {packing}")
    say(f"Total time: {time.time() - start:.2f} seconds")
    signum = children.stop_signal()
    if signum is not None:
        name = signal.Signals(signum).name
        say(f"Stopped by {name}: every finished region and mean iteration is kept, nothing half-written "
            "remains. Re-run the same command to resume; --status shows where each region stands.")
        record(layout, f"stopped by {name}")
        return 128 + signum
    if halt:
        say(f"Stopped starting regions: {halt.reason}")
        record(layout, f"halted: {halt.reason}")
        return 1
    if failed:
        say("Re-run the same command to retry the failed regions; finished ones are skipped.")
    bad_synthesis = synthesis not in (None, "done", "waiting", "elsewhere") or packing not in (None, "done")
    status = 1 if failed or bad_synthesis else 0
    record(layout, f"end: exit {status}, {len(failed)} failed regions")
    return status


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
    except BrokenPipeError:  # output piped into head or less, which quit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
