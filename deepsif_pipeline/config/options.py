"""Every command-line option, declared once: the table the parsers, ``Settings``, the fingerprints'
settings, the suggested commands and the arguments passed to child processes and tasks derive from.

An :class:`Option` says, for one option:

- its flags, type, default, choices and help (``config/parser.py`` builds both scripts' parsers
  from it, grouped by :data:`GROUPS`);
- whether it is a setting of the data (``setting``): :class:`deepsif_pipeline.config.settings.Settings`
  has one field per setting, and the steps whose fingerprint records it (``fingerprint``,
  ``config.settings.fingerprint_entries``);
- the modes and options it does not go with (``not_with``), or the option it needs (``needs``),
  each with the one-line error that says so (``cli/checks.py`` checks them in table order);
- who receives it: step 1's processes (``step1``: ``generate_tvb_data.py`` has it, and the
  orchestrator passes it on), Dask tasks (``dask``), SLURM array tasks (``slurm``: it may be
  given with ``--slice``);
- whether a suggested command names it (``suggest``: ``config/commands.py``).

A new option is one entry here (and its use where it acts); ``tests/test_options.py`` walks every
option through the parser, a suggested command and a Dask task's arguments.
"""

import argparse
from dataclasses import dataclass
import math
import os

from deepsif_pipeline import science
from deepsif_pipeline.head.anatomy import DEFAULT_LEADFIELD

# ---------------------------------------------------------------------------
# the values an option takes (argparse ``type=`` functions: a bad value is refused in one line)

ENGINES = ("tvb", "fast")
RAW_RATES = ("full", "decimated")
DATASETS = ("train", "test")
MEAN_ITERATION_MODES = ("needed", "all")  # --mean-iterations (science.clips_needed)
MAX_SEED = 2 ** 32 - 1  # seeds are kept as uint32 (science.derive_seed) and as doubles in MAT-files


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def finite_float(text):
    """A finite number (``--target-snr``: any finite dB value)."""
    return _number(text)


def positive_float(text):
    """A finite number above 0 (``--a-range``, ``--sim-length``, ``--piece-length``)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def seconds(text):
    """A finite number of seconds, 0 or more (time limits; 0: none)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or a number of seconds, got {text!r}")
    return value


def seed(text):
    """A whole number 0 .. 2**32 - 1 (every unit's seed is derived from it)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number 0..{MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number 0..{MAX_SEED}, got {text!r}")
    return value


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


def unit_spec(text):
    """``--units`` (step 1): ``REGION:MEAN_ITERATION``, e.g. ``12:0``."""
    try:
        region, m = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected REGION:MEAN_ITERATION (e.g. 12:0), got {text!r}") from None
    if m not in science.MEAN_ITERATIONS or region < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the region must be 0 or more and the mean iteration one of "
                                         f"{', '.join(map(str, science.MEAN_ITERATIONS))}")
    return region, m


def conductivities(text):
    """``--conductivity``: ``BRAIN,SKULL,SCALP`` in S/m, each above 0 (or one value, for a MEG BEM)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 3) or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected BRAIN,SKULL,SCALP conductivities in S/m above 0, e.g. "
                                         f"0.3,0.006,0.3, got {text!r}")
    return values


# ---------------------------------------------------------------------------
# the declaration

ORCHESTRATOR, STEP1 = "pipeline_orchestrator.py", "generate_tvb_data.py"  # the scripts that parse options
STEPS_1_2 = ("simulate", "extract")  # the fingerprints of the clips: a setting of steps 1 and 2

# --help's groups, in order
GROUPS = {
    "regions": "which regions",
    "template": "template and lead field",
    "output": "output",
    "data": "settings of the data (recorded in the fingerprints of what they make)",
    "steps": "which steps",
    "read": "reading a folder (nothing is run)",
    "running": "how it runs",
}


@dataclass(frozen=True)
class Option:
    """One command-line option (see the module's docstring for what each field derives).

    Attributes
    ----------
    flags : tuple of str
        The first one names it (its ``dest``: ``--sim-length`` -> ``sim_length``).
    help : str
        For ``--help``; ``step1_help`` replaces it in ``generate_tvb_data.py`` (None: the same;
        ``argparse.SUPPRESS``: accepted, not listed).
    group : str
        A key of :data:`GROUPS`.
    type : callable or None
    default : object
        The value a run uses when the option is not given. A setting's parser default is None
        when ``from_folder`` (``--status``, ``--verify`` and ``--pack`` then take it from the
        folder's manifest), and a shown default is added to its help.
    choices, metavar, nargs
        As argparse's.
    flag : bool
        Takes no value (``store_true``).
    scripts : tuple of str
        The scripts whose parser has it.
    setting : bool
        A field of ``Settings``: it decides what the steps make.
    from_folder : bool
    fingerprint : tuple of str
        The steps whose fingerprint records it.
    not_with : tuple of str
        The options (by ``dest``; the mode flags among them) it does not go with, in the order the
        error names them, and ``why`` says what it does instead: ``--X {why}: it does not go with
        --A, --B or --C``; ``conflict`` replaces the whole line when it is worded otherwise.
    needs : str or None
        The option it goes with only, and ``needs_why`` the line when it is missing.
    step1, dask, slurm : bool
        Step 1's processes, Dask tasks, SLURM array tasks (``--slice``) receive (accept) it.
    suggest : str or None
        A suggested command names it: 'always' or 'changed' (when not the default).
    hidden : bool
        Not listed in ``--help`` (internal: how a Dask task's run reports).
    """

    flags: tuple
    help: str
    group: str
    type: object = None
    default: object = None
    choices: tuple = None
    metavar: str = None
    nargs: object = None
    flag: bool = False
    scripts: tuple = (ORCHESTRATOR,)
    step1_help: str = None
    setting: bool = False
    from_folder: bool = False
    fingerprint: tuple = ()
    not_with: tuple = ()
    why: str = ""
    conflict: str = None
    needs: str = None
    needs_why: str = None
    step1: bool = False
    dask: bool = True
    slurm: bool = True
    suggest: str = None
    hidden: bool = False

    @property
    def dest(self):
        return self.flags[0].lstrip("-").replace("-", "_")

    @property
    def flag_name(self):
        """The flag people read in messages: the first one."""
        return self.flags[0]

    @property
    def value_type(self):
        """The Python type of a setting's value (``Settings`` field)."""
        return type(self.default)


def _timeouts():
    for step, default in (("1", "900 s + 5 s per simulated second with the fast engine, 150 s with tvb"),
                          ("2", "900 s + 1 s per simulated second"), ("4", "4 hours")):
        yield Option((f"--timeout-step{step}",), group="running", type=seconds, metavar="SECONDS",
                     help=f"time limit of one step-{step} process, stopped and its region (or step 4) failed when "
                          f"exceeded; 0: no limit (default: {default})")


BOTH = (ORCHESTRATOR, STEP1)

OPTIONS = (
    # ---- which regions
    Option(("--start_region", "--start-region"), group="regions", type=int, metavar="REGION", dask=False,
           help="first region (0-based, inclusive); required unless --synthesis-only (the two spellings are the "
                "same option)"),
    Option(("--end_region", "--end-region"), group="regions", type=int, metavar="REGION", dask=False,
           help="last region (exclusive); required unless --synthesis-only"),
    Option(("--regions",), group="regions", type=region_list, metavar="LIST", dask=False,
           not_with=("start_region", "end_region", "slice"), why="names the regions itself",
           help="process exactly these regions, e.g. 3,17,40-45 (0-based, ranges inclusive), instead of "
                "--start_region..--end_region"),
    Option(("--slice",), group="regions", type=slice_spec, metavar="I/N", dask=False,
           not_with=(), why="splits a run's region range",  # not_with: every option SLURM tasks do not take
           help="process only slice I (0-based) of N contiguous, near-equal slices of the region range, e.g. "
                "--slice $SLURM_ARRAY_TASK_ID/8 in a SLURM job array of 8 tasks (README: Running as a SLURM job "
                "array); step 4 runs in the task that completes the last region"),
    # ---- output
    Option(("--output",), group="output", scripts=BOTH, step1=True,
           help="folder for raw_nmm/, nmm_{filename}/ and the synthetic source file (default: ../source with "
                "../anatomy, else ./source)",
           step1_help="folder whose raw_nmm/a{region}/ receives the raw pieces (default: ../source with "
                      "../anatomy, else ./source)"),
    # ---- template and lead field
    Option(("--anatomy",), group="template", scripts=BOTH, step1=True,
           help="template folder in DeepSIF's anatomy/ layout, or the built-in template tvb76 (default: ../anatomy "
                "when present, else tvb76)"),
    Option(("--leadfield",), group="template", scripts=BOTH, step1=True, step1_help=argparse.SUPPRESS,
           help=f"lead field file in the anatomy folder (default: {DEFAULT_LEADFIELD}, or the built-in template's "
                "own)"),
    Option(("--sensors",), group="template", metavar="SPEC", not_with=("leadfield",), why="makes the lead field",
           help="make the lead field for these sensors with MNE-Python instead of using the template's: an MNE "
                "standard montage name (biosemi64, GSN-HydroCel-128, ...), a montage or digitisation file, or a "
                "recording whose EEG (else MEG) sensors are used; written to OUTPUT/derived/leadfield_{name}.mat "
                "(tvb76 and DeepSIF's fsaverage5 template); or an MNE forward solution (-fwd.fif) made on the "
                "template's cortex"),
    Option(("--bem",), group="template", metavar="FILE", needs="sensors",
           needs_why="is the head model of the lead field --sensors makes: give --sensors too",
           help="with --sensors: the head model is this MNE BEM solution (-bem-sol.fif, e.g. fsaverage's) instead "
                "of a sphere fitted to the sensors (DeepSIF's fsaverage5 template)"),
    Option(("--subject",), group="template", metavar="DIR", dask=False,
           not_with=("start_region", "end_region", "regions", "slice", "leadfield", "skip_synthesis", "scheduler"),
           why="makes a patient's step-4 file and pack from the folder's finished clips (with --synthesis-only, "
               "--pack, --verify or --status)",
           help="a patient's FreeSurfer subject folder (recon-all): the template's regions carried onto its cortex "
                "through surf/?h.sphere.reg, a BEM of its bem/ surfaces (or --bem), and the lead field of --sensors "
                "(the patient's recording or digitisation) with --trans; step 4 and the pack are then made for "
                "that head, from the clips made with DeepSIF's fsaverage5 template, as "
                "{dataset}_sample_{subject}_source1.mat and {dataset}_sample_{subject}_nmm.h5 (docs/patient.md)"),
    Option(("--trans",), group="template", metavar="FILE", needs="subject", dask=False,
           needs_why="is the patient's head <-> MRI transform: give --subject too",
           help="with --subject: MNE's head <-> MRI transform of the patient (-trans.fif, made with mne coreg)"),
    Option(("--surface",), group="template", choices=("pial", "white"), needs="subject", dask=False,
           needs_why="chooses the patient's cortical surface: give --subject too",
           help="with --subject: the surface the sources lie on (default: pial, the surface DeepSIF's fsaverage5 "
                "cortex was made from)"),
    Option(("--conductivity",), group="template", type=conductivities, metavar="BRAIN,SKULL,SCALP",
           needs="subject", dask=False, needs_why="sets the conductivities of the patient's BEM: give --subject too",
           not_with=("bem",), why="sets the conductivities of the BEM made from the subject's surfaces",
           help="with --subject: the BEM's conductivities in S/m (default: MNE's, 0.3,0.006,0.3; MEG uses the "
                "first)"),
    # ---- the settings of the data, in the order a suggested command names them
    Option(("--filename",), group="output", default="spikes", setting=True, fingerprint=("synthesise",),
           suggest="changed", help="clips go to OUTPUT/nmm_{filename}/"),
    Option(("--dataset",), group="data", choices=DATASETS, default="train", setting=True, from_folder=True,
           fingerprint=("synthesise",), suggest="always",
           help="step 4 mode (train: nper 100, n_iter 48; test: nper 10, n_iter 3) (default: train; --status, "
                "--verify and --pack: the one whose step-4 file the output folder holds, train when it holds "
                "both)"),
    Option(("--seed",), group="data", type=seed, default=science.DEFAULT_SEED, setting=True, from_folder=True,
           fingerprint=("simulate", "extract", "synthesise"), scripts=BOTH, step1=True, suggest="changed",
           help=f"run seed, 0..{MAX_SEED}; every region, mean iteration and the synthesis derive theirs from it",
           step1_help=f"run seed, 0..{MAX_SEED}; each region and mean iteration derives its own from it, as in the "
                      "orchestrator's run with this seed"),
    Option(("--a-range",), group="data", type=positive_float, default=science.A_EXCITABLE, setting=True,
           from_folder=True, fingerprint=STEPS_1_2, scripts=BOTH, step1=True, suggest="changed",
           help="excitatory gain A (mV) of the source region"),
    Option(("--sim-length",), group="data", type=positive_float, default=science.SIM_LENGTH_S, setting=True,
           from_folder=True, fingerprint=STEPS_1_2, scripts=BOTH, step1=True, suggest="changed",
           help=f"simulated seconds per mean iteration, at least {science.MIN_SIM_LENGTH_S:g}"),
    Option(("--piece-length",), group="data", type=positive_float, default=science.PIECE_LENGTH_S, setting=True,
           from_folder=True, fingerprint=("simulate",), scripts=BOTH, step1=True,
           help="simulated seconds per raw file, at most --sim-length (when not given, a shorter --sim-length is "
                "one piece)"),
    # fast: shown equal to tvb-library in tests/test_fast_engine.py
    Option(("--engine",), group="data", choices=ENGINES, default="fast", setting=True, from_folder=True,
           fingerprint=STEPS_1_2, scripts=BOTH, step1=True, suggest="changed",
           help="step 1 simulator: tvb-library, or fast (the same network in numba, about 200x faster; same "
                "initial history, its own noise samples)"),
    # decimated: the same clips as full (tests/test_pipeline_orchestrator.py, tests/test_step2_previous_version.py)
    # from a quarter of the raw bytes, and step 2 reads a quarter (6.5 s instead of 17 s per region at 3 x 200 s)
    Option(("--raw-rate",), group="data", choices=RAW_RATES, default="decimated", setting=True, from_folder=True,
           fingerprint=("simulate",), scripts=BOTH, step1=True,
           help="raw pieces with only the samples step 2 uses (decimated: after the 0.5 s transient, every 4th; a "
                "quarter of the disk, step 2 about 2.5x faster, the same clips) or every 2 kHz step (full, as the "
                "published step 1 saves them)"),
    Option(("--target-snr",), group="data", type=finite_float, default=science.TARGET_SNR_DB, setting=True,
           from_folder=True, fingerprint=("extract",), suggest="changed",
           help="SNR (dB) of a region's spikes over the background at the sensors (step 2)"),
    # needed: a region's mean iterations stop once it has the nper clips step 4 reads (its clips 1..nper are
    # the same files either way); all: the published three mean iterations always
    Option(("--mean-iterations",), group="data", choices=MEAN_ITERATION_MODES, default="needed", setting=True,
           from_folder=True, suggest="changed",
           help="needed: a region's mean iterations stop once it has the clips step 4 reads (nper: 100 for train, "
                "10 for test; clips 1..nper are the same files either way); all: every mean iteration, as "
                "published"),
    # ---- which steps (the mode flags first: the order the errors name them in)
    Option(("--synthesis-only",), group="steps", flag=True, dask=False, slurm=False,
           not_with=("skip_synthesis",), conflict="--synthesis-only and --skip-synthesis exclude each other",
           help="run step 4 alone (no region range)"),
    Option(("--pack",), group="steps", flag=True, dask=False, slurm=False,
           not_with=("synthesis_only", "skip_synthesis"),
           conflict="--pack runs the packing alone; it excludes --synthesis-only and --skip-synthesis",
           help="only pack the clips of the existing step-4 file into {dataset}_sample_nmm.h5 (done after step 4 "
                "anyway)"),
    Option(("--verify",), group="read", flag=True, dask=False, slurm=False,
           help="check a finished output folder (manifest, markers, clips, step-4 file, pack) and print a table; "
                "exit 1 on any mismatch"),
    Option(("--status",), group="read", flag=True, dask=False, slurm=False,
           not_with=("verify", "pack", "synthesis_only", "dry_run"), why="only reports",
           help="print each region's state (range: --start_region/--end_region, default all), step 4's and the "
                "pack's, from the files alone; runs nothing"),
    Option(("--qc",), group="read", flag=True, dask=False, needs="verify", needs_why="goes with --verify",
           help="with --verify: also write a QC figure (PNG)"),
    Option(("--dry-run",), group="read", flag=True, dask=False,
           help="print what this command would do (without a region range: for every region of the template), "
                "step 4 and the pack included, and the disk it needs; runs nothing"),
    Option(("--redo",), group="steps", flag=True, not_with=("status", "verify"), why="replaces what a run makes",
           help="replace the outputs of the units this command touches (regions, step 4, the pack) that were made "
                "with other settings or are damaged, instead of refusing them; their files are first checked as "
                "--verify checks them (every clip of the regions is read)"),
    Option(("--skip-synthesis",), group="steps", flag=True, dask=False, help="do not run step 4"),
    Option(("--keep-raw",), group="steps", flag=True, help="do not delete raw_nmm/a{r} (step 3)"),
    # ---- how it runs
    Option(("--matlab",), group="running", choices=("auto", "matlab", "octave"), default="auto",
           help="engine for steps 2 and 4 (auto: MATLAB when on PATH, else Octave)"),
    Option(("--workers",), group="running", type=workers_option, default=1, metavar="N|auto", dask=False,
           help="regions processed at once on this machine, each step in its own process with one numerical "
                "thread (up to the number of cores; 'auto': one per core this process may use). Each running "
                "region needs its own memory and raw disk (about 1 GB of each at the published length)"),
    Option(("--scheduler",), group="running", metavar="ADDRESS", dask=False, slurm=False,
           not_with=("synthesis_only", "pack", "verify"), why="sends regions to a Dask cluster",
           help="send the regions as tasks to the Dask distributed scheduler at ADDRESS (e.g. tcp://10.0.0.5:8786) "
                "whose workers share the output folder; step 4 then runs here (README: Running on a Dask cluster)"),
    *_timeouts(),
    Option(("--progress",), group="running", choices=("auto", "bar", "lines", "none"), default="auto", scripts=BOTH,
           help="the run's progress (regions done and to do, clips, elapsed, time left): auto is a bar on a "
                "terminal, a plain line per region otherwise (a nohup log)",
           step1_help="step 1 progress: a bar on a terminal, plain lines otherwise (a nohup log)"),
    Option(("--verbose",), group="running", flag=True,
           help="also show each step's own output on the console (step 1 piece by piece, MATLAB/Octave's lines); "
                "it always goes to OUTPUT/logs/region_{r}.log"),
    Option(("--result-file",), group="running", dask=False, hidden=True,  # where a Dask task's run writes results
           help="(internal) the typed results of this run's regions, for the Dask task that started it"),
    # ---- step 1's own (generate_tvb_data.py)
    Option(("--a_start",), group="regions", type=int, default=0, scripts=(STEP1,),
           help="first source region (0-based, inclusive)"),
    Option(("--a_end",), group="regions", type=int, default=1, scripts=(STEP1,),
           help="last source region (exclusive)"),
    Option(("--iterations",), group="regions", type=int, nargs="+", default=list(science.MEAN_ITERATIONS),
           choices=list(science.MEAN_ITERATIONS), scripts=(STEP1,), help="mean iterations to simulate"),
    Option(("--units",), group="regions", type=unit_spec, nargs="+", metavar="REGION:MEAN_ITERATION",
           scripts=(STEP1,),
           help="simulate these units of work instead of --a_start..--a_end x --iterations, any regions (the fast "
                "engine advances up to 4 together; the orchestrator uses this)"),
)

BY_DEST = {o.dest: o for o in OPTIONS}
SETTINGS = tuple(o for o in OPTIONS if o.setting)


def of_script(script):
    """The options of ``script`` (:data:`ORCHESTRATOR` or :data:`STEP1`), in table order."""
    return tuple(o for o in OPTIONS if script in o.scripts)


def not_with(option):
    """The dests ``option`` does not go with: its own list, and for ``--slice`` every option SLURM tasks refuse."""
    if option.dest == "slice":
        return tuple(o.dest for o in OPTIONS if not o.slurm)
    return option.not_with


def either_or(flags):
    """``'--a'``, ``'--a or --b'``, ``'--a, --b or --c'``."""
    flags = list(flags)
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} or {flags[-1]}"


def conflict_line(option):
    """The one-line error for ``option`` given with one of :func:`not_with` (without ``error: ``)."""
    if option.conflict:
        return option.conflict
    others = [BY_DEST[d].flag_name for d in not_with(option)]
    return f"{option.flag_name} {option.why}: it does not go with {either_or(others)}"


def needs_line(option):
    """The one-line error for ``option`` given without :attr:`Option.needs`."""
    return f"{option.flag_name} {option.needs_why}"
