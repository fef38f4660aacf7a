#!/usr/bin/env python3
"""DeepSIF data generation, one command: regions start..end-1, then the synthetic sources.

For each region:

1. simulate the network with that region excitable (``generate_tvb_data.py``, TVB);
2. extract, scale and save its isolated spikes (``matlab/process_region_nmm.m``);
3. delete its raw simulation output once its clips and markers are on disk;

and once every region of the template is done:

4. generate the synthetic source parameters (``matlab/generate_synthetic_source.m``),
   and pack the clips they use for DeepSIF's trainer.

A region whose ``clip_info`` markers exist for every mean iteration, made
with the same settings and template, is skipped, so re-running the same
command resumes; a folder made with other settings is refused, never mixed.
Each step is declared in ``deepsif_pipeline/steps/`` and run by
``deepsif_pipeline/runner.py``. See README.md.
"""

import argparse
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
import json
import shutil
from pathlib import Path
import signal
import sys
import threading
import time

from deepsif_pipeline.processes import children
from deepsif_pipeline.store import manifest
from deepsif_pipeline.run import plan as planning
from deepsif_pipeline.cli import report
from deepsif_pipeline import science
from deepsif_pipeline.head.anatomy import AnatomyError, distance_file, load_distances, template_info
from deepsif_pipeline.head.builtin import resolve_template
from deepsif_pipeline.config.commands import repair, suggest
from deepsif_pipeline.console import FAIL, OK, RULE_REGION, banner, plural, say
from deepsif_pipeline.run.disk import DiskGuard, existing_ancestor, free_bytes, shortage, with_margin
from deepsif_pipeline.processes.engine import EngineNotFound, find_engine
from deepsif_pipeline.store.files import format_bytes
from deepsif_pipeline.store.layout import Layout, compact_ranges, resolve_locations
from deepsif_pipeline.run.progress import RunProgress, mode_for
from deepsif_pipeline.results import State, Status
from deepsif_pipeline.store.runlog import record, utc_now, versions
from deepsif_pipeline.config.settings import (DATASETS, MEAN_ITERATION_MODES, HelpFormatter, OneLineParser, Settings,
                                              add_common_options, check_lengths, finite_float, seconds)
from deepsif_pipeline.run import runner
from deepsif_pipeline.steps import Context, extract, simulate, synthesise

HERE = Path(__file__).resolve().parent
SIGNAL_POLL = 0.2  # seconds: the main thread wakes this often to run signal handlers (run_regions)


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing created or deleted."""


def outside_template(start, end, n_regions):
    """The one-line error for regions ``start..end-1`` of which some are not in a template of ``n_regions``.

    Names exactly the part outside (below 0, from ``n_regions`` on) and the bound to use instead.
    """
    def span(a, b):
        return f"{a}" if a == b else f"{a}..{b}"

    parts, fixes = [], []
    if start < 0:
        parts.append(span(start, min(end, 0) - 1))
        fixes.append("--start_region 0 at least")
    if end > n_regions:
        parts.append(span(max(start, n_regions), end - 1))
        fixes.append(f"--end_region {n_regions} at most")
    single = len(parts) == 1 and ".." not in parts[0]
    return (f"{'region' if single else 'regions'} {' and '.join(parts)} {'is' if single else 'are'} outside the "
            f"template: it has regions 0..{n_regions - 1} ({', '.join(fixes)})")


def build_parser():
    p = OneLineParser(
        description="DeepSIF data generation: for each region start..end-1 simulate (TVB), extract spikes "
                    "(MATLAB/Octave) and delete the raw data; then generate the synthetic source file.",
        formatter_class=HelpFormatter)
    p.add_argument("--start_region", "--start-region", dest="start_region", type=int, metavar="REGION",
                   help="first region (0-based, inclusive); required unless --synthesis-only (the two spellings "
                        "are the same option)")
    p.add_argument("--end_region", "--end-region", dest="end_region", type=int, metavar="REGION",
                   help="last region (exclusive); required unless --synthesis-only")
    p.add_argument("--regions", type=region_list, metavar="LIST",
                   help="process exactly these regions, e.g. 3,17,40-45 (0-based, ranges inclusive), instead of "
                        "--start_region..--end_region")
    p.add_argument("--filename", default="spikes", help="clips go to OUTPUT/nmm_{filename}/")
    add_common_options(p)
    p.add_argument("--matlab", choices=["auto", "matlab", "octave"], default="auto",
                   help="engine for steps 2 and 4 (auto: MATLAB when on PATH, else Octave)")
    p.add_argument("--target-snr", type=finite_float, default=None,
                   help="SNR (dB) of a region's spikes over the background at the sensors (step 2) "
                        f"(default: {science.TARGET_SNR_DB})")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="step 4 mode (train: nper 100, n_iter 48; test: nper 10, n_iter 3) (default: train; "
                        "--status, --verify and --pack: the one whose step-4 file the output folder holds, train "
                        "when it holds both)")
    p.add_argument("--sensors", metavar="SPEC", default=None,
                   help="make the lead field for these sensors with MNE-Python instead of using the template's: "
                        "an MNE standard montage name (biosemi64, GSN-HydroCel-128, ...), a montage or "
                        "digitisation file, or a recording whose EEG (else MEG) sensors are used; written to "
                        "OUTPUT/derived/leadfield_{name}.mat (tvb76 and DeepSIF's fsaverage5 template); or an MNE "
                        "forward solution (-fwd.fif) made on the template's cortex")
    p.add_argument("--bem", metavar="FILE", default=None,
                   help="with --sensors: the head model is this MNE BEM solution (-bem-sol.fif, e.g. fsaverage's) "
                        "instead of a sphere fitted to the sensors (DeepSIF's fsaverage5 template)")
    p.add_argument("--mean-iterations", choices=MEAN_ITERATION_MODES, default=None,
                   help="needed: a region's mean iterations stop once it has the clips step 4 reads (nper: 100 "
                        "for train, 10 for test; clips 1..nper are the same files either way); all: every mean "
                        "iteration, as published (default: needed)")
    p.add_argument("--redo", action="store_true",
                   help="replace the outputs of the units this command touches (regions, step 4, the pack) that "
                        "were made with other settings or are damaged, instead of refusing them; their files are "
                        "first checked as --verify checks them (every clip of the regions is read)")
    p.add_argument("--skip-synthesis", action="store_true", help="do not run step 4")
    p.add_argument("--synthesis-only", action="store_true", help="run step 4 alone (no region range)")
    p.add_argument("--keep-raw", action="store_true", help="do not delete raw_nmm/a{r} (step 3)")
    p.add_argument("--verify", action="store_true",
                   help="check a finished output folder (manifest, markers, clips, step-4 file, pack) and print a "
                        "table; exit 1 on any mismatch")
    p.add_argument("--qc", action="store_true", help="with --verify: also write a QC figure (PNG)")
    p.add_argument("--verbose", action="store_true",
                   help="also show each step's own output on the console (step 1 piece by piece, MATLAB/Octave's "
                        "lines); it always goes to OUTPUT/logs/region_{r}.log")
    p.add_argument("--workers", type=workers_option, default=1, metavar="N|auto",
                   help="regions processed at once on this machine, each step in its own process with one "
                        "numerical thread (up to the number of cores; 'auto': one per core this process may use). "
                        "Each running region needs its own memory and raw disk (about 1 GB of each at the "
                        "published length)")
    p.add_argument("--pack", action="store_true",
                   help="only pack the clips of the existing step-4 file into {dataset}_sample_nmm.h5 "
                        "(done after step 4 anyway)")
    p.add_argument("--status", action="store_true",
                   help="print each region's state (range: --start_region/--end_region, default all), step 4's "
                        "and the pack's, from the files alone; runs nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="print what this command would do (without a region range: for every region of the "
                        "template), step 4 and the pack included, and the disk it needs; runs nothing")
    for step, default in (("1", "900 s + 5 s per simulated second with the fast engine, 150 s with tvb"),
                          ("2", "900 s + 1 s per simulated second"), ("4", "4 hours")):
        p.add_argument(f"--timeout-step{step}", type=seconds, metavar="SECONDS",
                       help=f"time limit of one step-{step} process, stopped and its region (or step 4) "
                            f"failed when exceeded; 0: no limit (default: {default})")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the regions as tasks to the Dask distributed scheduler at ADDRESS (e.g. "
                        "tcp://10.0.0.5:8786) whose workers share the output folder; step 4 then runs here "
                        "(README: Running on a Dask cluster)")
    p.add_argument("--slice", type=slice_spec, metavar="I/N",
                   help="process only slice I (0-based) of N contiguous, near-equal slices of the region range, "
                        "e.g. --slice $SLURM_ARRAY_TASK_ID/8 in a SLURM job array of 8 tasks (README: Running as a "
                        "SLURM job array); step 4 runs in the task that completes the last region")
    p.add_argument("--result-file", help=argparse.SUPPRESS)  # where a Dask task's run writes its typed results
    return p


def region_list(text):
    """``--regions``: ``3,17,40-45`` (ranges inclusive); the sorted regions, each once."""
    regions = set()
    for part in text.split(","):
        bounds = part.strip().split("-")
        try:
            low, high = (int(bounds[0]), int(bounds[-1])) if 1 <= len(bounds) <= 2 else (None, None)
        except ValueError:
            low = high = None
        if low is None or low < 0 or high < low:
            raise argparse.ArgumentTypeError(f"expected regions such as 3,17,40-45 (0-based, ranges inclusive), "
                                             f"got {text!r}")
        regions.update(range(low, high + 1))
    return sorted(regions)


def slice_spec(text):
    """``I/N`` (``--slice``): slice I, 0-based, of N; returns ``(I, N)``."""
    parts = text.split("/")
    try:
        i, n = (int(x) for x in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        i = n = None
    if i is None:
        raise argparse.ArgumentTypeError(f"expected I/N (slice I of N, e.g. 0/8), got {text!r}")
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"slice I of N needs N >= 1 and 0 <= I < N, got {text!r}")
    return i, n


def region_slice(start, end, spec):
    """Regions of slice ``spec = (I, N)`` of ``start..end-1``: contiguous, sizes differing by at most 1."""
    i, n = spec
    count = end - start
    return list(range(start + i * count // n, start + (i + 1) * count // n))


def usable_cores():
    """Cores this process may run on (its CPU affinity, e.g. what SLURM granted)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_option(text):
    """``--workers``: a whole number, or ``auto`` for :func:`usable_cores`."""
    if text == "auto":
        return usable_cores()
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {text!r}") from None


def check_modes(args):
    """Options that exclude each other or need another, and the region range; before anything is read."""
    if args.sensors is not None and args.leadfield is not None:
        raise UsageError("--sensors makes the lead field: it does not go with --leadfield")
    if args.bem is not None and args.sensors is None:
        raise UsageError("--bem is the head model of the lead field --sensors makes: give --sensors too")
    if args.regions is not None:
        if args.start_region is not None or args.end_region is not None or args.slice is not None:
            raise UsageError("--regions names the regions itself: it does not go with --start_region, --end_region "
                             "or --slice")
        args.start_region, args.end_region = args.regions[0], args.regions[-1] + 1  # (the range it lies in)
    if args.synthesis_only and args.skip_synthesis:
        raise UsageError("--synthesis-only and --skip-synthesis exclude each other")
    if args.pack and (args.synthesis_only or args.skip_synthesis):
        raise UsageError("--pack runs the packing alone; it excludes --synthesis-only and --skip-synthesis")
    if args.qc and not args.verify:
        raise UsageError("--qc goes with --verify")
    if args.status and (args.verify or args.pack or args.synthesis_only or args.dry_run):
        raise UsageError("--status only reports: it does not go with --verify, --pack, --synthesis-only or --dry-run")
    if args.redo and (args.status or args.verify):
        raise UsageError("--redo replaces what a run makes: it does not go with --status or --verify")
    if args.status and (args.start_region is None) != (args.end_region is None):
        raise UsageError("--status takes both --start_region and --end_region, or neither (all regions)")
    if args.dry_run and not no_regions(args) and (args.start_region is None) != (args.end_region is None):
        raise UsageError("--dry-run takes both --start_region and --end_region, or neither (all regions)")
    if not no_regions(args) and not whole_template(args):
        if args.start_region is None or args.end_region is None:
            raise UsageError("--start_region and --end_region are required (or use --synthesis-only)")
        if args.end_region <= args.start_region:
            raise UsageError(f"--end_region ({args.end_region}) must be greater than --start_region "
                             f"({args.start_region}); the end is exclusive")
    if args.status and args.start_region is not None and args.end_region <= args.start_region:
        raise UsageError(f"--end_region ({args.end_region}) must be greater than --start_region "
                         f"({args.start_region}); the end is exclusive")
    settings = Settings.from_args(args)
    error = check_lengths(settings.sim_length, settings.piece_length)
    if error:
        raise UsageError(error)
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > usable_cores():
        raise UsageError(f"--workers {args.workers} is more than the {usable_cores()} cores this process may use: "
                         "each region runs on one core, so more workers only take more memory and disk; use at "
                         f"most --workers {usable_cores()}")
    if args.scheduler is not None:
        if no_regions(args):
            raise UsageError("--scheduler sends regions to a Dask cluster: it does not go with --synthesis-only, "
                             "--pack or --verify")
        if args.workers != 1:
            raise UsageError("--workers is for local runs: with --scheduler the Dask workers' threads set how "
                             "many regions run at once")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed: pip install -r requirements.txt") from None
    if args.slice is not None:
        if no_regions(args) or args.status or args.scheduler is not None:
            raise UsageError("--slice splits a run's region range: it does not go with --synthesis-only, --pack, "
                             "--verify, --status or --scheduler")
        if args.start_region is None:
            raise UsageError("--slice splits the range of --start_region and --end_region: give both")
        if args.slice[1] > args.end_region - args.start_region:
            count = args.end_region - args.start_region
            raise UsageError(f"--slice {args.slice[0]}/{args.slice[1]}: regions {args.start_region}.."
                             f"{args.end_region - 1} are {count}, too few for {args.slice[1]} slices of at least "
                             f"one region; use at most {count} slices")
    if "/" in args.filename or not args.filename or args.filename.startswith("."):
        raise UsageError(f"--filename must be a plain name, got {args.filename!r}")


def no_regions(args):
    """True for the modes without a region range."""
    return args.synthesis_only or args.pack or args.verify or (args.status and args.start_region is None)


def whole_template(args):
    """True for ``--dry-run`` without a region range: it shows what a run over every region would do."""
    return (args.dry_run and not no_regions(args) and args.start_region is None and args.end_region is None)


def regions_of(args, n_regions):
    """The regions a command covers: its range; every region of the template for ``--status`` and
    ``--dry-run`` without one; none for the modes without regions (``--synthesis-only``, ...)."""
    if args.regions is not None:
        return list(args.regions)
    if args.start_region is not None and args.slice is not None:
        return region_slice(args.start_region, args.end_region, args.slice)
    if args.start_region is not None:
        return range(args.start_region, args.end_region)
    if whole_template(args) or args.status:
        return range(n_regions)
    return range(0)


def check_writable(folder):
    """Raise UsageError unless ``folder`` exists writable, or can be created."""
    probe = existing_ancestor(folder)
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"output folder {folder} is not writable ({probe} does not allow writing); "
                         "choose another with --output")


def time_limits(args, settings):
    """Seconds each child step may take (None: no limit), from the flags or the defaults.

    Returns
    -------
    dict
        ``{'step1': float or None, 'step2': ..., 'step4': ...}``.
    """
    default = {"step1": simulate.time_limit(settings), "step2": extract.time_limit(settings),
               "step4": synthesise.TIMEOUT_S}
    limits = {}
    for step, value in default.items():
        given = getattr(args, f"timeout_{step}")
        limits[step] = value if given is None else (given or None)
    return limits


def check_args(args):
    """Validate everything before anything is created; return the run's Context and Dask client.

    For ``--status``, ``--verify`` and ``--pack``, the settings not given on
    the command line are the ones the folder's manifest records for the clip set.
    """
    check_modes(args)
    try:
        children.grace()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    anatomy, output = resolve_locations(args.anatomy, args.output)
    try:
        template = resolve_template(anatomy, args.leadfield, log=say)
    except AnatomyError as exc:
        raise UsageError(str(exc)) from None
    if args.sensors is not None:
        template = with_sensors(template, args, Layout(output, args.filename))
    elif args.leadfield is None and (args.status or args.verify or args.pack):
        template = recorded_sensors(template, Layout(output, args.filename))
    if not (no_regions(args) or whole_template(args)) and not (0 <= args.start_region
                                                               and args.end_region <= template.n_regions):
        raise UsageError(outside_template(args.start_region, args.end_region, template.n_regions))
    if args.status and args.start_region is not None and args.end_region > template.n_regions:
        raise UsageError(outside_template(args.start_region, args.end_region, template.n_regions))
    layout = Layout(output, args.filename)
    if (args.pack or args.verify or args.status) and not output.is_dir():
        what = "pack" if args.pack else "verify" if args.verify else "report on"
        raise UsageError(f"no output folder {output} to {what}: nothing has run there (check --output)")
    recorded = None
    if args.status or args.verify or args.pack:
        try:
            recorded = recorded_settings(layout)
        except manifest.ManifestError as exc:
            raise UsageError(str(exc)) from None
        recorded["dataset"] = synthesise.found_dataset(layout)
    settings = Settings.from_args(args, recorded)
    if not args.status:
        check_writable(output)
    engine = None
    if not (args.pack or args.verify or args.status):
        try:
            engine = find_engine(args.matlab)
        except EngineNotFound as exc:
            raise UsageError(str(exc)) from None
    client = None
    if args.scheduler is not None and not args.dry_run:
        from deepsif_pipeline.run.dask_tasks import DaskSetupError, connect
        try:
            client = connect(args.scheduler)
        except DaskSetupError as exc:
            raise UsageError(str(exc)) from None
    ctx = Context(settings=settings, template=template, layout=layout, engine=engine,
                  limits=time_limits(args, settings), redo=args.redo, keep_raw=args.keep_raw, progress=args.progress,
                  verbose=args.verbose)
    if args.pack and not layout.synthesis_file(settings.dataset).is_file():
        present = synthesise.on_disk(layout)
        raise UsageError(f"no {layout.synthesis_file(settings.dataset).name} in {output} to pack"
                         + (f" (it holds {', '.join(layout.synthesis_file(d).name for d in present)})" if present
                            else "") + f": run step 4 first: {suggest(ctx, '--synthesis-only')}")
    return ctx, client


def with_sensors(template, args, layout):
    """The template with the lead field of ``--sensors`` (made once, kept by content in the cache).

    Refused (one line) when the sensors cannot be used, with ``--leadfield``, or when the
    output folder's ``derived/`` holds another lead field of that name (unless ``--redo``).
    """
    from dataclasses import replace
    from deepsif_pipeline.head import sensors
    from deepsif_pipeline.head.anatomy import leadfield_id
    from deepsif_pipeline.head.builtin import cache_root
    try:
        path, n_sensors = sensors.made_leadfield(template, args.sensors, cache_root() / "leadfields", args.bem)
    except sensors.SensorError as exc:
        raise UsageError(str(exc)) from None
    derived = layout.derived_dir / sensors.leadfield_name(args.sensors)
    if derived.is_file() and not args.redo and leadfield_id(derived) != leadfield_id(path):
        raise UsageError(f"{derived} holds another lead field than --sensors {args.sensors} makes now (other "
                         "sensors under that name, or another head model?): use another --output, or add --redo to "
                         "replace it and the outputs made with it")
    return replace(template, leadfield=path, n_sensors=n_sensors, sensors=str(args.sensors), bem=args.bem)


def recorded_sensors(template, layout):
    """For --status, --verify and --pack: the template with the lead field the folder's clips were made
    with, when that is one made for ``--sensors`` (``derived/leadfield_*.mat``); else the template as is."""
    from dataclasses import replace
    from scipy.io import loadmat
    from deepsif_pipeline.head.anatomy import leadfield_id
    try:
        recorded = (manifest.clip_set(manifest.read(layout), layout.filename) or {}).get("settings", {})
    except manifest.ManifestError:
        return template
    for made in sorted(layout.derived_dir.glob("leadfield_*.mat")):
        if recorded.get("template.leadfield") == leadfield_id(made):
            saved = loadmat(made, variable_names=["fwd", "sensors", "bem"])
            bem = str(saved["bem"].ravel()[0]) if saved.get("bem") is not None and saved["bem"].size else None
            return replace(template, leadfield=made, n_sensors=int(saved["fwd"].shape[0]),
                           sensors=str(saved["sensors"].ravel()[0]), bem=bem or None)
    return template


def keep_leadfield(ctx):
    """Copy a lead field made for ``--sensors`` into the output folder (``derived/``); the run uses that copy."""
    from dataclasses import replace
    from deepsif_pipeline.head import sensors
    from deepsif_pipeline.store.files import publish, temporary_name
    template = ctx.template
    if template.sensors is None:
        return ctx
    from deepsif_pipeline.head.anatomy import leadfield_id
    derived = ctx.layout.derived_dir / sensors.leadfield_name(template.sensors)
    if not (derived.is_file() and leadfield_id(derived) == leadfield_id(template.leadfield)):
        derived.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(derived, "leadfield")
        shutil.copyfile(template.leadfield, tmp)
        publish(tmp, derived)
    from scipy.io import loadmat
    placement = str(loadmat(derived, variable_names=["placement"])["placement"].ravel()[0])
    say(f"lead field of --sensors {template.sensors}: {derived} ({template.n_sensors} sensors; {placement})")
    return replace(ctx, template=replace(template, leadfield=derived))


def recorded_settings(layout):
    """The settings a folder's manifest records for its clip set (``{}`` without one)."""
    entry = manifest.clip_set(manifest.read(layout), layout.filename)
    if not entry:
        return {}
    made = entry.get("settings", {})
    out = {k: made[k] for k in ("seed", "a_range", "sim_length", "engine", "target_snr") if k in made}
    out.update(entry.get("raw", {}))
    return out


# ---------------------------------------------------------------------------
# the modes that run nothing: --status, --dry-run, --verify


def run_verify(ctx, args):
    """--verify (and --qc): check the output folder, print a table; 0 when everything holds."""
    from deepsif_pipeline.run.verify import verify
    layout, template = ctx.layout, ctx.template
    distances = load_distances(distance_file(template, layout.derived_dir, log=say))
    rows = verify(layout, template, ctx.settings.dataset, distances,
                  commands={"synthesis": suggest(ctx, "--synthesis-only"), "pack": suggest(ctx, "--pack"),
                            "synthesis_redo": suggest(ctx, "--synthesis-only", "--redo"),
                            "pack_redo": suggest(ctx, "--pack", "--redo"),
                            "repair": lambda regions: repair(ctx, regions)})
    width = max(len(name) for name, _, _ in rows)
    say(f"Verifying {layout.output} ({ctx.settings.dataset}, {layout.clip_root.name}/, {template.n_regions} regions)")
    for name, ok, detail in rows:
        say(f"{OK if ok else FAIL} {name:<{width}}  {detail}")
    if args.qc:
        from deepsif_pipeline.cli.qc import qc_figure
        say(f"QC figure: {qc_figure(layout, template, ctx.settings.dataset)}")
    failed = [name for name, ok, _ in rows if not ok]
    say(f"{len(rows) - len(failed)} of {len(rows)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def print_status(ctx, args):
    """--status: every region's state in the range and step 4's, from the files alone."""
    from deepsif_pipeline.cli.status import report
    regions = regions_of(args, ctx.template.n_regions)
    layout = ctx.layout
    say(f"Status of {layout.output} ({layout.clip_root.name}/, {ctx.template.n_regions} regions; regions "
        f"{regions[0]}..{regions[-1]}), {utc_now()}")
    for line in report(ctx, list(regions)):
        say(line)
    if layout.run_log.is_file():
        say(f"run log: {layout.run_log}")
    return 0


def region_raw_bytes(ctx, n_iterations=None):
    """Estimated raw data of one region with this run's settings (bytes)."""
    s = ctx.settings
    return simulate.raw_bytes(ctx.template.n_connectivity, s.sim_length, s.piece_length, s.raw_rate, n_iterations)


def regions_at_once(ctx, args, plan):
    """Regions with raw data at once: each worker holds up to ``runner.lanes_per_pass`` regions (at least 1)."""
    return max(1, min(args.workers * runner.lanes_per_pass(ctx.settings), len(to_simulate(plan))))


def to_simulate(plan):
    """Regions of the plan that need step 1."""
    return [r for r, v in plan.regions.items() if v.state in (State.MISSING, State.PARTIAL)]


def print_plan(ctx, args, plan):
    """--dry-run: what this command would do, and the disk it needs; nothing is run or created."""
    say("Dry run: nothing is simulated, written or deleted")
    if whole_template(args):
        say(f"regions 0..{ctx.template.n_regions - 1}: every region of the template (no --start_region/--end_region "
            "given)")
    refusal = planning.refusal(ctx, plan)
    if refusal:
        say(f"the run would stop at once: {refusal}")
    if plan.regions:
        states = plan.by_state()
        for state, text in ((State.CURRENT, "already done, skipped"),
                            (State.PARTIAL, "partly done, missing mean iterations"),
                            (State.MISSING, "steps 1-3"),
                            (State.OTHER_SETTINGS, "made with other settings, " + ("replaced (--redo)" if ctx.redo
                                                                                    else "refused")),
                            (State.DAMAGED, "damaged markers, " + ("made again (--redo)" if ctx.redo
                                                                   else "would fail (--redo makes them again)"))):
            if states.get(state):
                early = [r for r in states[state] if plan.regions[r].not_needed]
                say(f"{text}: {plural(len(states[state]), 'region')} ({compact_ranges(states[state])})"
                    + (f"; of these, {compact_ranges(early)} stopped early: later mean iterations not needed "
                       f"({ctx.settings.clips_needed:g} clips reached)" if early else ""))
        need = region_raw_bytes(ctx)
        at_once = regions_at_once(ctx, args, plan)
        say(f"raw data per region: {format_bytes(need)} (--raw-rate {ctx.settings.raw_rate}), deleted after its "
            f"step 2; peak with {at_once} at once: {format_bytes(at_once * need)}, "
            f"{format_bytes(with_margin(at_once * need))} with the margin; "
            f"free on {existing_ancestor(ctx.layout.output)}: {format_bytes(free_bytes(ctx.layout.output))}")
        say("time limits: " + ", ".join(f"{k} {'none' if v is None else f'{v:.0f} s'}" for k, v in ctx.limits.items()))
    if args.skip_synthesis:
        say(f"step 4 ({ctx.settings.dataset}) and pack: not run (--skip-synthesis)")
        return 0
    from deepsif_pipeline.cli.status import dataset_lines
    pending = [r for r, v in plan.regions.items()
               if v.state in (State.MISSING, State.PARTIAL) or (ctx.redo and v.state is State.OTHER_SETTINGS)]
    lines = dataset_lines(ctx, planning.dataset_plan(ctx, pending), dry_run=True, redo=ctx.redo)
    for line in lines[1:] if args.pack else lines:  # --pack: the pack alone
        say(line)
    others = [d for d in synthesise.on_disk(ctx.layout) if d != ctx.settings.dataset]
    if others and args.dataset is None:
        say(f"(the folder also holds {ctx.layout.synthesis_file(others[0]).name}: add --dataset {others[0]} for it)")
    return 0


# ---------------------------------------------------------------------------
# the run


def run_regions(ctx, args, client, regions, plan, software):
    """Steps 1-3 of ``regions`` (judged in ``plan``), here (``--workers`` at once) or on the Dask cluster.

    Here and on Dask, the run's progress (:mod:`deepsif_pipeline.progress`)
    follows the regions: a bar on a terminal, a line per region otherwise.

    Returns
    -------
    results : dict
        ``{region: Result}``.
    halt : runner.Halt
    """
    halt = runner.Halt()
    to_process = sum(1 for r in regions if r not in plan.regions or plan.regions[r].state is not State.CURRENT)
    if client is not None:
        progress = RunProgress(len(regions), to_process, 1, mode_for(args.progress))  # workers: once connected
        try:
            return run_on_dask(ctx, args, client, regions, plan, progress), halt
        finally:
            progress.close()
    if args.workers > 1:
        lanes = runner.lanes_per_pass(ctx.settings)
        say(f"{args.workers} workers (--workers {args.workers}), each holding up to {lanes} regions whose mean "
            f"iterations share its step-1 processes: up to {min(args.workers * lanes, len(regions))} regions at "
            "a time")
    disk = DiskGuard(ctx.layout.output)
    results = {}
    lanes = runner.lanes_per_pass(ctx.settings)
    progress = RunProgress(len(regions), to_process, args.workers * lanes, mode_for(args.progress))
    queue, lock = iter([(i, len(regions), r) for i, r in enumerate(regions)]), threading.Lock()

    def take():
        with lock:
            return next(queue)

    try:
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            # each worker holds up to `lanes` regions, whose mean iterations share its step-1 passes
            pending = {pool.submit(runner.lane_worker, ctx, take, lanes, disk, halt, software, progress)
                       for _ in range(args.workers)}
            while pending:
                # With a timeout: only this (main) thread runs the signal handlers, and only once it runs
                # again. A signal to the process may be delivered to any of its threads (seen with SLURM's
                # scancel: SIGTERM to a worker thread), which would not wake a wait without timeout.
                done, pending = wait(pending, timeout=SIGNAL_POLL, return_when=FIRST_COMPLETED)
                for future in done:
                    results.update(future.result())
    finally:
        progress.close()
    return dict(sorted(results.items())), halt


def run_on_dask(ctx, args, client, regions, plan, progress=None):
    """Steps 1-3 of ``regions`` as tasks of the Dask cluster, a few regions each; ``{region: Result}``.

    Each task runs this script for its regions on a worker (``--regions LIST``,
    ``deepsif_pipeline/dask_runner.py``), with the options of this run, the
    template folder and engine resolved here, and ``--skip-synthesis``: step 4
    stays in this process. Its regions share the lanes of its step-1 passes as
    in a local run; the regions ``plan`` judges done are grouped apart.
    """
    from deepsif_pipeline.run.dask_tasks import DaskSetupError, forwarded_options, run_regions_on_dask
    options = forwarded_options(
        build_parser(), args,
        drop={"start_region", "end_region", "regions", "scheduler", "workers", "skip_synthesis", "synthesis_only",
              "verify", "qc", "pack", "result_file", "slice"},
        override={"anatomy": str(ctx.template.folder),
                  "leadfield": None if ctx.template.sensors else ctx.template.leadfield.name,
                  "output": str(ctx.layout.output), "matlab": ctx.engine.kind})
    command = [str(HERE / "pipeline_orchestrator.py"), "--skip-synthesis", *options]
    done = [r for r in regions if r in plan.regions and plan.regions[r].state is State.CURRENT]
    try:
        return run_regions_on_dask(client, regions, command, say, ctx.layout, lanes=runner.lanes_per_pass(ctx.settings),
                                   done=done, progress=progress)
    except DaskSetupError as exc:
        raise UsageError(str(exc)) from None


def summary(results, synthesis, packing, start):
    """The seed's summary: regions by result, the failed ones with why, step 4 and the pack."""
    banner(RULE_REGION, "Summary")
    failed = {r: res for r, res in results.items() if not res.status.ok}  # damaged ones too
    if results:
        ok = [r for r, res in results.items() if res.status is Status.DONE]
        say(f"Successful regions: {len(ok)}" + (f" ({compact_ranges(ok)})" if ok else ""))
        for label, status in (("Already done, skipped", Status.SKIPPED),
                              ("Being processed by another run", Status.ELSEWHERE),
                              ("Interrupted", Status.INTERRUPTED), ("Not started", Status.NOT_STARTED)):
            these = [r for r, res in results.items() if res.status is status]
            if these:
                say(f"{label}: {len(these)} ({compact_ranges(these)})")
            if status is Status.ELSEWHERE:
                for r in these:
                    say(f"  region {r}: {results[r].detail}")
        say(f"Failed regions: {len(failed)}" + (f" ({compact_ranges(failed)})" if failed else ""))
        for r, res in failed.items():
            say(f"  region {r}: {res.detail}")
    if synthesis is not None:
        say(f"Synthetic source: {synthesis}")
    if packing is not None:
        say(f"Clip pack: {packing}")
    say(f"Total time: {time.time() - start:.2f} seconds")
    return failed


def write_results(path, results):
    """The typed results of this run's regions, for the Dask task that started it (``--result-file``)."""
    from deepsif_pipeline.store.files import write_text_atomic
    write_text_atomic(Path(path), json.dumps({"regions": {str(r): res.to_json() for r, res in results.items()}}))


def run(args):
    ctx, client = check_args(args)
    if args.verify:
        return run_verify(ctx, args)
    if args.status:
        return print_status(ctx, args)
    layout, template, settings = ctx.layout, ctx.template, ctx.settings
    start = time.time()
    regions = list(regions_of(args, template.n_regions))
    plan = planning.make(ctx, regions, synthesis_only=args.synthesis_only) if not args.pack else planning.Plan()
    if not args.dry_run:
        refusal = planning.refusal(ctx, plan)
        if refusal:
            raise UsageError(refusal)
        if to_simulate(plan):
            at_once = regions_at_once(ctx, args, plan)
            problem = shortage(layout.output, region_raw_bytes(ctx) * at_once,
                               f"region {to_simulate(plan)[0]}" if at_once == 1 else f"{at_once} regions at once")
            if problem:
                raise UsageError(problem)
    name = template_info(template.folder).get("name")
    say(f"DeepSIF data generation: anatomy {f'{name} (built-in, ' if name else '('}{template.folder}), "
        f"{template.n_regions} regions, {template.connectivity.name}, {template.leadfield.name}")
    say(f"output {layout.output}, clips {layout.clip_root.name}/, seed {settings.seed}")
    if args.slice is not None:
        say(f"slice {args.slice[0]}/{args.slice[1]} of regions {args.start_region}..{args.end_region - 1}: "
            f"regions {compact_ranges(regions)}")
    if regions:
        say(f"step 1 (simulation): {runner.STEP1_ENGINES[settings.engine]} (--engine {settings.engine}), "
            f"{settings.sim_length:g} s x {len(science.MEAN_ITERATIONS)} mean iterations per region in "
            f"{settings.piece_length:g} s pieces, A = {settings.a_range:g}; "
            + (f"a region stops once it has {settings.clips_needed:g} clips (--mean-iterations needed, --dataset "
               f"{settings.dataset})" if settings.mean_iterations == "needed" else
               "every mean iteration (--mean-iterations all)")
            + (f"; up to {runner.lanes_per_pass(settings)} mean iterations of any regions per step-1 pass"
               if runner.lanes_per_pass(settings) > 1 else ""))
    if ctx.engine:
        say(f"steps 2 and 4: {ctx.engine.name} ({ctx.engine.executable})"
            + (f", target SNR {settings.target_snr:g} dB" if regions else ""))
    if regions:
        say(f"per region: the steps' own output goes to {layout.region_log(regions[0]).parent}/region_{{r}}.log"
            + (" and here (--verbose)" if args.verbose else " (--verbose shows it here too)"))
    if args.dry_run:
        return print_plan(ctx, args, plan)

    layout.output.mkdir(parents=True, exist_ok=True)
    ctx = keep_leadfield(ctx)
    if client is None:
        children.install_signal_handlers(
            lambda signame: say(f"\n{signame} received: stopping the running steps (finished regions and mean "
                                "iterations are kept)"))
    software = versions(ctx.engine)
    record(layout, f"start: {' '.join(map(str, sys.argv))}")
    record(layout, f"seed {settings.seed}, engine {settings.engine}, {software}")

    results, halt = run_regions(ctx, args, client, regions, plan, software) if regions else ({}, runner.Halt())
    synthesis = packing = None
    stopped = children.STOP.is_set() or bool(halt)
    if not (args.skip_synthesis or stopped):
        synthesis, packing = runner.dataset(ctx, synthesise_too=not args.pack, software=software)
    try:
        manifest.update(ctx, software=software)  # also adds what an earlier update may have missed
    except (manifest.ManifestError, OSError) as exc:
        say(f"warning: the manifest was not updated: {exc}")
    if args.result_file:
        write_results(args.result_file, results)

    failed = summary(results, synthesis, packing, start)
    signum = children.stop_signal()
    if signum is not None:
        signame = signal.Signals(signum).name
        say(f"Stopped by {signame}: every finished region and mean iteration is kept, nothing half-written "
            "remains. Re-run the same command to resume; --status shows where each region stands.")
        record(layout, f"stopped by {signame}")
        status = 128 + signum
    elif halt:
        say(f"Stopped starting regions: {halt.reason}")
        record(layout, f"halted: {halt.reason}")
        status = 1
    else:
        if any(res.status is Status.FAILED for res in failed.values()):  # (damaged ones: --redo, see below)
            say("Re-run the same command to retry the failed regions; finished ones are skipped.")
        bad = any(res is not None and not res.status.ok for res in (synthesis, packing))
        status = 1 if failed or bad else 0
        record(layout, f"end: exit {status}, {len(failed)} failed regions")
    for line in closing(ctx, results, synthesis, packing, args):
        say(line)
    return status


def closing(ctx, results, synthesis, packing, args=None):
    """The summary's last lines (:func:`deepsif_pipeline.report.closing_lines`) for this run.

    After a split run (``--slice``, from ``args``) the slices that hold regions without markers are
    suggested as they are run (same range, ``--slice K/N``), the other regions as ranges.
    """
    layout, dataset = ctx.layout, ctx.settings.dataset
    try:
        entry = manifest.clip_set(manifest.read(layout), layout.filename)
    except manifest.ManifestError:
        entry = None
    files = [report.file_line(layout.synthesis_file(dataset), synthesis, "step 4"),
             report.file_line(layout.pack_file(dataset), packing, "the clip pack the trainer reads")]
    failed = {r: (layout.region_log(r), layout.failure_record(r)) for r, res in results.items()
              if not res.status.ok}
    return report.closing_lines(layout.output, f"{layout.clip_root.name}/", ctx.template.n_regions, results, entry,
                                files, failed, suggest(ctx, "--verify"), layout.manifest.name,
                                resume=lambda first, end: suggest(ctx, "--start_region", str(first), "--end_region",
                                                                  str(end)),
                                slices=split_commands(ctx, args), repair=lambda regions: repair(ctx, regions))


def split_commands(ctx, args):
    """``[(regions, command)]`` of every slice of a ``--slice`` run (none otherwise)."""
    if args is None or getattr(args, "slice", None) is None:
        return []
    n = args.slice[1]
    return [(region_slice(args.start_region, args.end_region, (k, n)),
             suggest(ctx, "--slice", f"{k}/{n}", "--start_region", str(args.start_region), "--end_region",
                     str(args.end_region))) for k in range(n)]


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
