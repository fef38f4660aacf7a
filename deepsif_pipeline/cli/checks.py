"""The command line, checked: parsed options in, a :class:`Command` out, or a one-line refusal.

Everything is checked before anything is created: the options that do not
go together (declared with each option in ``config/options.py``), the region
range, the template and its lead field, the output folder, MATLAB or Octave
and the Dask scheduler. A problem is a :class:`UsageError`: one line, exit
status 2, nothing written. The :class:`Command` then carries what the run
needs, so nothing after this module reads the parsed options.
"""

from dataclasses import dataclass
import enum
import os
import shlex
import sys
import time

from deepsif_pipeline.config import options as declared
from deepsif_pipeline.config.commands import SCRIPT, shown_path, suggest
from deepsif_pipeline.config.options import region_slice, usable_cores
from deepsif_pipeline.config.settings import Settings, check_lengths
from deepsif_pipeline.console import say
from deepsif_pipeline.head.anatomy import AnatomyError, template_identity
from deepsif_pipeline.head.builtin import cache_root, resolve_template
from deepsif_pipeline.head.heads import recorded_heads, resolve_head
from deepsif_pipeline.head.leadfields import (LeadFieldError, recorded_leadfield, resolve_leadfield, source_of,
                                              template_leadfield)
from deepsif_pipeline.processes import children
from deepsif_pipeline.processes.engine import EngineNotFound, find_engine
from deepsif_pipeline.run.dask_tasks import DaskSetupError, connect
from deepsif_pipeline.run.disk import existing_ancestor
from deepsif_pipeline.steps import Context, extract, simulate, synthesise
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.layout import Layout, resolve_locations


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing created or deleted."""


class Mode(enum.Enum):
    """What a command does."""

    REGIONS = "regions"                # steps 1-3 of a region range, then step 4 and the pack
    SYNTHESIS_ONLY = "synthesis-only"  # step 4 and the pack
    PACK = "pack"                      # the pack alone
    VERIFY = "verify"                  # check a finished folder (and --qc)
    STATUS = "status"                  # every region's state, from the files


@dataclass(frozen=True)
class Command:
    """A checked command: what the orchestrator runs (nothing after the checks reads the parsed options).

    Attributes
    ----------
    mode : Mode
    ctx : deepsif_pipeline.steps.Context
    regions : list of int
        The regions it covers (its slice, for ``--slice``; every region of the template for
        ``--status`` and ``--dry-run`` without a range; none for the modes without regions).
    span : tuple or None
        ``(start, end)`` of the range given (of ``--regions``: the range they lie in).
    slice : tuple or None
        ``(I, N)`` of ``--slice``.
    whole_template : bool
        ``--dry-run`` or ``--status`` without a range: every region of the template.
    dry_run, skip_synthesis, qc : bool
    workers : int
        Local workers (``--workers``).
    client : distributed.Client or None
        With ``--scheduler``.
    dataset_given : bool
        ``--dataset`` was given (else the folder's or the default).
    result_file : str or None
        Where a Dask task's run writes its typed results.
    """

    mode: Mode
    ctx: Context
    regions: list
    span: tuple = None
    slice: tuple = None
    whole_template: bool = False
    dry_run: bool = False
    skip_synthesis: bool = False
    qc: bool = False
    workers: int = 1
    client: object = None
    dataset_given: bool = False
    result_file: str = None

    @property
    def runs_regions(self):
        return bool(self.regions) and self.mode is Mode.REGIONS


def given(args, dest):
    """True when the option ``dest`` was given (a flag set, a value not None)."""
    return getattr(args, dest, None) not in (None, False)


def mode_of(args):
    """The :class:`Mode` of parsed options (their conflicts already checked)."""
    for flag, mode in (("verify", Mode.VERIFY), ("status", Mode.STATUS), ("pack", Mode.PACK),
                       ("synthesis_only", Mode.SYNTHESIS_ONLY)):
        if getattr(args, flag):
            return mode
    return Mode.REGIONS


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


def check_conflicts(args):
    """The declared conflicts: each given option against what it does not go with, or needs (table order)."""
    for option in declared.OPTIONS:
        if not given(args, option.dest):
            continue
        if any(given(args, other) for other in declared.not_with(option)):
            raise UsageError(declared.conflict_line(option))
        if option.needs and not given(args, option.needs):
            raise UsageError(declared.needs_line(option))


def _span(args):
    """``(start, end)`` of the region range given: of ``--start_region``/``--end_region``, or the range
    ``--regions`` lie in."""
    if args.regions is not None:
        return args.regions[0], args.regions[-1] + 1
    return args.start_region, args.end_region


def check_range(args, mode):
    """The region range and the modes' other rules that are not a pair of options; ``(start, end, whole)``."""
    start, end = _span(args)
    no_regions = mode in (Mode.SYNTHESIS_ONLY, Mode.PACK, Mode.VERIFY) or (mode is Mode.STATUS and start is None)
    if mode is Mode.STATUS and (start is None) != (end is None):
        raise UsageError("--status takes both --start_region and --end_region, or neither (all regions)")
    if args.dry_run and not no_regions and (start is None) != (end is None):
        raise UsageError("--dry-run takes both --start_region and --end_region, or neither (all regions)")
    whole = args.dry_run and not no_regions and start is None and end is None
    if not no_regions and not whole:
        if start is None or end is None:
            raise UsageError("--start_region and --end_region are required (or use --synthesis-only)")
    if not no_regions and start is not None and end is not None and end <= start:
        raise UsageError(f"--end_region ({end}) must be greater than --start_region ({start}); the end is exclusive")
    if args.scheduler is not None and no_regions:  # (--status without a range has no regions to send either)
        raise UsageError(declared.conflict_line(declared.BY_DEST["scheduler"]))
    return start, end, whole or (mode is Mode.STATUS and start is None)


def check_values(args, start, end):
    """The values no type can check alone: lengths, workers, the scheduler, the slice, the file name."""
    error = check_lengths(*_lengths(args))
    if error:
        raise UsageError(error)
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > usable_cores():
        raise UsageError(f"--workers {args.workers} is more than the {usable_cores()} cores this process may use: "
                         "each region runs on one core, so more workers only take more memory and disk; use at "
                         f"most --workers {usable_cores()}")
    if args.scheduler is not None:
        if args.workers != 1:
            raise UsageError("--workers is for local runs: with --scheduler the Dask workers' threads set how "
                             "many regions run at once")
        try:
            import distributed  # noqa: F401 (only checked: Dask is optional for local runs)
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed: pip install -r requirements.txt") from None
    if args.slice is not None:
        if start is None:
            raise UsageError("--slice splits the range of --start_region and --end_region: give both")
        if args.slice[1] > end - start:
            raise UsageError(f"--slice {args.slice[0]}/{args.slice[1]}: regions {start}..{end - 1} are "
                             f"{end - start}, too few for {args.slice[1]} slices of at least one region; use at "
                             f"most {end - start} slices")
    if "/" in args.filename or not args.filename or args.filename.startswith("."):
        raise UsageError(f"--filename must be a plain name, got {args.filename!r}")


def _lengths(args):
    settings = Settings.from_args(args)
    return settings.sim_length, settings.piece_length


def check_writable(folder):
    """Raise UsageError unless ``folder`` exists writable, or can be created."""
    probe = existing_ancestor(folder)
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"output folder {folder} is not writable ({probe} does not allow writing); "
                         "choose another with --output")


def time_limits(args, settings):
    """Seconds each child step may take (None: no limit), from the options or the steps' defaults.

    Returns
    -------
    dict
        ``{'step1': float or None, 'step2': ..., 'step4': ...}``.
    """
    default = {"step1": simulate.time_limit(settings), "step2": extract.time_limit(settings),
               "step4": synthesise.TIMEOUT_S}
    return {step: value if getattr(args, f"timeout_{step}") is None else (getattr(args, f"timeout_{step}") or None)
            for step, value in default.items()}


def recorded_settings(layout):
    """The settings a folder's manifest records for its clip set (``{}`` without one)."""
    entry = manifest.clip_set(manifest.read(layout), layout.filename)
    if not entry:
        return {}
    made = entry.get("settings", {})
    out = {k: made[k] for k in ("seed", "a_range", "sim_length", "engine", "target_snr") if k in made}
    out.update(entry.get("raw", {}))
    return out


def regions_of(args, span, whole, n_regions):
    """The regions a command covers (see :attr:`Command.regions`)."""
    start, end = span
    if args.regions is not None:
        return list(args.regions)
    if start is not None and args.slice is not None:
        return region_slice(start, end, args.slice)
    if start is not None and not (args.verify or args.pack or args.synthesis_only):
        return list(range(start, end))
    if whole:
        return list(range(n_regions))
    return []


def head_model(args, anatomy, layout, reads_folder):
    """The checked template and the lead field the command uses (its provider's, ``head.leadfields``).

    A command that reads a folder (``reads_folder``) without ``--leadfield`` or ``--sensors`` uses the
    lead field the folder's clips were made with.

    Returns
    -------
    template : deepsif_pipeline.head.anatomy.Template
    leadfield : deepsif_pipeline.head.leadfields.LeadField
    head : deepsif_pipeline.head.heads.Head or None
        A patient's (``--subject``), for step 4 and the pack.
    """
    if args.subject is not None:
        return patient_head(args, anatomy, layout, made_only=reads_folder or args.dry_run)
    try:
        template = resolve_template(anatomy, args.leadfield, log=say)
        leadfield = None
        if reads_folder and args.leadfield is None and args.sensors is None:  # the one the clips were made with
            leadfield = recorded_leadfield(layout, template)
        if leadfield is None:
            leadfield = resolve_leadfield(source_of(args.leadfield, args.sensors, args.bem), template, layout,
                                          cache_root() / "leadfields", redo=args.redo)
    except (AnatomyError, LeadFieldError) as exc:
        raise UsageError(str(exc)) from None
    return template, leadfield, None


def clips_of_another_template(layout, template):
    """Why the folder's clip set was not made with ``template`` (its connectivity and regions, as the manifest
    records them), or None."""
    try:
        recorded = (manifest.clip_set(manifest.read(layout), layout.filename) or {}).get("settings", {})
    except manifest.ManifestError as exc:
        return str(exc)
    for part in ("regions", "connectivity"):
        if f"template.{part}" in recorded and recorded[f"template.{part}"] != template_identity(template, part):
            return (f"the clips in {layout.clip_root} were made with another template ({recorded.get('about.template')}"
                    f"): a patient's head reuses clips made with this one ({template.folder})")
    return None


def patient_head(args, anatomy, layout, made_only=False):
    """``--subject``: the template, the lead field its clips were made with, and the patient's :class:`Head`
    (made once, then found in the cache). Everything is checked before anything is written.

    ``made_only`` (``--status``, ``--verify``, ``--pack``, ``--dry-run``: they write nothing): the head as the
    folder holds it (``derived/head_{name}/``), never made here.

    Returns
    -------
    template, leadfield, head
    """
    try:
        template = resolve_template(anatomy, None, log=say)
        source = source_of(None, args.sensors, args.bem, subject=args.subject, trans=args.trans,
                           surface=args.surface, conductivity=args.conductivity)
        source.check(template)
        other = clips_of_another_template(layout, template)
        if other:
            raise UsageError(other)
        clips = recorded_leadfield(layout, template) or template_leadfield(template)
        if made_only:
            head = recorded_heads(layout, template).get(source.name)
            if head is None:
                given = [x for flag, dest in (("--dataset", "dataset"), ("--filename", "filename"), ("--seed", "seed"))
                         if getattr(args, dest, None) is not None for x in (flag, str(getattr(args, dest)))]
                command = shlex.join([shown_path(sys.executable), shown_path(SCRIPT), "--synthesis-only", "--output",
                                      str(layout.output), "--anatomy", str(template.folder), *given,
                                      *map(str, source.options(template))])
                raise UsageError(f"--subject {args.subject}: no head {source.name} in {layout.derived_dir} yet: make "
                                 f"its set first (its lead field takes a minute or more) with: {command}")
            return template, clips, head
        say(f"Patient's head: making (or finding in the cache) the lead field and geometry of --subject {source.name}")
        start = time.monotonic()
        head = resolve_head(source, template, layout, cache_root() / "leadfields", redo=args.redo)
    except (AnatomyError, LeadFieldError) as exc:
        raise UsageError(str(exc)) from None
    for line in head.lines:
        if line:
            say(line)
    say(f"Patient's head {head.name}: ready in {time.monotonic() - start:.1f} s")
    return template, clips, head


def check(args):
    """Check parsed options and everything they name; the :class:`Command`, or UsageError (one line).

    For ``--status``, ``--verify`` and ``--pack``, the settings not given on
    the command line are the ones the folder's manifest records for the clip
    set, and the lead field the one its clips were made with.
    """
    check_conflicts(args)
    mode = mode_of(args)
    start, end, whole = check_range(args, mode)
    check_values(args, start, end)
    reads_folder = mode in (Mode.VERIFY, Mode.STATUS, Mode.PACK)
    try:
        children.grace()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    anatomy, output = resolve_locations(args.anatomy, args.output)
    layout = Layout(output, args.filename)
    template, leadfield, head = head_model(args, anatomy, layout, reads_folder)
    if head is not None:
        layout = layout.with_head(head.name)
    if start is not None and not (0 <= start and end <= template.n_regions) and not (
            mode in (Mode.VERIFY, Mode.PACK, Mode.SYNTHESIS_ONLY)):
        raise UsageError(outside_template(start, end, template.n_regions))
    if reads_folder and not output.is_dir():
        what = "pack" if mode is Mode.PACK else "verify" if mode is Mode.VERIFY else "report on"
        raise UsageError(f"no output folder {output} to {what}: nothing has run there (check --output)")
    recorded = None
    if reads_folder:
        try:
            recorded = recorded_settings(layout)
        except manifest.ManifestError as exc:
            raise UsageError(str(exc)) from None
        recorded["dataset"] = synthesise.found_dataset(layout)
    settings = Settings.from_args(args, recorded)
    if mode is not Mode.STATUS:
        check_writable(output)
    engine = None
    if not reads_folder:
        try:
            engine = find_engine(args.matlab)
        except EngineNotFound as exc:
            raise UsageError(str(exc)) from None
    client = None
    if args.scheduler is not None and not args.dry_run:
        try:
            client = connect(args.scheduler)
        except DaskSetupError as exc:
            raise UsageError(str(exc)) from None
    ctx = Context(settings=settings, template=template, leadfield=leadfield, layout=layout, engine=engine,
                  limits=time_limits(args, settings), redo=args.redo, keep_raw=args.keep_raw, progress=args.progress,
                  verbose=args.verbose, head=head)
    if mode is Mode.PACK and not layout.synthesis_file(settings.dataset).is_file():
        present = synthesise.on_disk(layout)
        raise UsageError(f"no {layout.synthesis_file(settings.dataset).name} in {output} to pack"
                         + (f" (it holds {', '.join(layout.synthesis_file(d).name for d in present)})" if present
                            else "") + f": run step 4 first: {suggest(ctx, '--synthesis-only')}")
    return Command(mode=mode, ctx=ctx, regions=regions_of(args, (start, end), whole, template.n_regions),
                   span=None if start is None else (start, end), slice=args.slice, whole_template=whole,
                   dry_run=args.dry_run, skip_synthesis=args.skip_synthesis, qc=args.qc, workers=args.workers,
                   client=client, dataset_given=args.dataset is not None, result_file=args.result_file)
