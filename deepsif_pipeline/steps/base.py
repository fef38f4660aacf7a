"""The interface every step implements, and what the steps of one run share.

A :class:`Step` declares its unit of work (:class:`Unit`), the outputs of a
unit, their fingerprint, a ``judge`` that tells from the files alone whether
a unit is done (a :class:`deepsif_pipeline.results.Verdict`), its banner, how
it runs, and the checks ``--verify`` makes of its outputs. The runner
(``run/runner.py``), the plan, ``--status``, ``--verify`` and the summary go
through the steps of ``steps/__init__.py``'s ``STEPS`` in order.
"""

from dataclasses import dataclass, field
import enum

from deepsif_pipeline.config.settings import Settings
from deepsif_pipeline.console import say, tail
from deepsif_pipeline.head.leadfields import LeadField, template_leadfield
from deepsif_pipeline.results import Result, Status, Verdict
from deepsif_pipeline.store.layout import Layout

WAYS_OUT = ("re-run with the settings they were made with, use another --output (or --filename), or add --redo "
            "to replace them under the new settings")


class Unit(enum.Enum):
    """What one run of a step makes."""

    ITERATION = "region and mean iteration"  # (region, mean iteration): a region's mean iterations in order
    REGION = "region"                        # a region, once its mean iterations are done
    DATASET = "dataset"                      # the dataset (--dataset of the clip set), once every region is done


@dataclass
class Context:
    """What every step of one run needs: its settings, the template, the output folder, the engine.

    Attributes
    ----------
    settings : Settings
    template : deepsif_pipeline.head.anatomy.Template
    layout : Layout
    engine : deepsif_pipeline.processes.engine.Engine or None
        MATLAB or Octave (None for runs that need neither).
    limits : dict
        ``{'step1': seconds or None, 'step2': ..., 'step4': ...}``.
    redo : bool
        Replace a unit's outputs made with other settings (``--redo``).
    keep_raw : bool
        Skip step 3 (``--keep-raw``).
    progress : str
        The run's progress display (``--progress``).
    verbose : bool
        Also show each step's own output (step 1's pieces, MATLAB/Octave's lines) on the console;
        it always goes to the region's log.
    leadfield : deepsif_pipeline.head.leadfields.LeadField
        The lead field steps 2 and 4 use (default: the template's own file).
    head : deepsif_pipeline.head.heads.Head or None
        A patient's head (``--subject``): step 4 and the pack use its geometry and lead field
        (:attr:`synthesis_template`, :attr:`synthesis_leadfield`) on the clips made with ``template`` and
        ``leadfield``; ``layout`` then names its files.
    """

    settings: Settings
    template: object
    layout: Layout
    engine: object = None
    limits: dict = field(default_factory=lambda: {"step1": None, "step2": None, "step4": None})
    redo: bool = False
    keep_raw: bool = False
    progress: str = "auto"
    verbose: bool = False
    leadfield: LeadField = None
    head: object = None
    _fingerprints: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.leadfield is None:
            self.leadfield = template_leadfield(self.template)

    @property
    def synthesis_template(self):
        """The template whose geometry step 4 grows its patches on: the head's, else the run's."""
        return self.template if self.head is None else self.head.template

    @property
    def synthesis_leadfield(self):
        """The lead field step 4's scale ratios and the trainer project with: the head's, else the clips'."""
        return self.leadfield if self.head is None else self.head.leadfield

    def fingerprint(self, step):
        """The fingerprint this run gives the outputs of ``step`` (a :class:`Step`; cached)."""
        if step.name not in self._fingerprints:
            self._fingerprints[step.name] = step.fingerprint(self)
        return self._fingerprints[step.name]


@dataclass
class RegionRun:
    """One region's run through its steps, under its claim: what the steps tell each other.

    Attributes
    ----------
    ctx : Context
    region : int
    claim : deepsif_pipeline.store.claims.Claim or None
        The region's claim (its steps that write the region's outputs do not start once it is lost).
    disk : deepsif_pipeline.run.disk.DiskGuard or None
        No mean iteration is simulated without room for its raw data.
    halt : object or None
        ``halt.reason`` records why the run starts no further region (a full disk).
    verdict : Verdict
        The region's verdict: which mean iterations it still needs (``todo``), its clips.
    found_done : bool
        The region was done when the run came to it (its result: skipped).
    """

    ctx: Context
    region: int
    claim: object = None
    disk: object = None
    halt: object = None
    verdict: Verdict = None
    found_done: bool = False


class Step:
    """One step of the pipeline (see the module's docstring); each ``steps/*.py`` module defines one.

    Attributes
    ----------
    name : str
        Its name: the fingerprint's ``step``, ``Context.fingerprint``'s key.
    title : str
        ``STEP 1``, ..., ``PACK``: how its banner and its messages name it.
    unit : Unit
    shared : bool
        Its units are run together in shared processes (step 1's lanes): its :meth:`run` yields
        the unit and is sent the outcome of the process that ran it.
    claimed : bool
        It writes the region's lasting outputs: it does not start once the region's claim was
        lost to another run.
    role : str
        Dataset steps: what its file is, in the summary (``step 4``, ``the clip pack ...``).
    label : str
        Dataset steps: how the summary names its result (``Synthetic source``).
    """

    name = ""
    title = ""
    unit = Unit.REGION
    shared = False
    claimed = False
    role = ""
    label = ""

    def fingerprint(self, ctx):
        """What decides its outputs (a flat dict of JSON values, ``store/fingerprint.py``); None: nothing."""
        return None

    def outputs(self, layout, unit):
        """The files it makes for ``unit`` (list of Path)."""
        return []

    def judge(self, ctx, unit):
        """What is on disk of ``unit``'s outputs, judged with this run's fingerprint: a Verdict."""
        raise NotImplementedError

    def banner(self, ctx, unit, verdict=None):
        """The title of the banner printed before it runs on ``unit`` (``verdict``: the region's, for region steps)."""
        return self.title

    def prepare(self, region_run):
        """Region steps, before the region's units run: what ``--redo`` replaces, what the region needs.

        Returns None to go on, or the region's :class:`deepsif_pipeline.results.Result` when it stops here.
        """
        return None

    def run(self, region_run, unit):
        """Run on ``unit`` (region steps: a generator, see :attr:`shared`); None to go on, else the region's Result."""
        raise NotImplementedError

    def sweep(self, layout, unit):
        """Delete what a killed run of it left on ``unit`` (only under the unit's claim); the files deleted."""
        return []

    def run_together(self, ctx, units, echo=None):
        """A shared step: run ``units`` of several regions in one process; a ``processes.children.Outcome``."""
        raise NotImplementedError

    def checks(self, ctx, found):
        """The rows ``--verify`` prints for its outputs: ``[(name, problems, passed detail, fix command)]``.

        ``found`` holds what earlier steps' checks found (``counts``: the regions' clip counts,
        ``commands``: the commands that repair, ``meta``: the step-4 file's variables); a step
        may add to it, or set ``found['stop']`` when the later checks cannot run.
        """
        return []


# ---------------------------------------------------------------------------
# what the steps say about a child process that did not succeed


def describe_outcome(what, outcome, limit_flag, log=None):
    """One line on a child step that did not succeed (``outcome``: a ``processes.children.Outcome``)."""
    where = f", log {log}" if log else ""
    if outcome.timed_out:
        return f"{what} stopped at its time limit ({limit_flag}){where}"
    if outcome.stopped:
        return "interrupted"
    return f"{what} failed (exit {outcome.status}){where}"


def show_engine_failure(engine, outcome, log, lines=None):
    """Print why a MATLAB/Octave step did not succeed and the end of its output (nothing when it was stopped).

    ``lines``: its output (default: the log's); the last 8 are shown.
    """
    if outcome.ok or outcome.stopped:
        return
    say(f"{engine.name} {'was stopped at its time limit' if outcome.timed_out else f'failed (exit {outcome.status})'}"
        f"; its output is in {log}:")
    for line in (tail(log, 8) if lines is None else lines[-8:]):
        say(f"    {line}")


def failed_or_stopped(outcome, why):
    """The Result of a unit whose child did not succeed: interrupted when the run is stopping, else failed."""
    if outcome.stopped:
        return Result(Status.INTERRUPTED)
    return Result(Status.FAILED, why)


def read_from(path, offset):
    """The lines of a text file after byte ``offset`` (none when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []
