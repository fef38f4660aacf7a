"""What a step made of a unit of work, and what is on disk for it: values, not strings to parse.

A :class:`Result` is what running (or not running) a unit gave: a
:class:`Status` and a one-line detail. A :class:`Verdict` is what the files
on disk say about a unit before anything runs: a :class:`State`, the
settings that differ when they were made differently, and what is left to
do. The orchestrator's summary, the run log, the failure records, the
Dask runner and ``--status`` all read these values; none parses text.
"""

from dataclasses import asdict, dataclass
import enum


class Status(enum.Enum):
    """How a unit of work ended in this run."""

    DONE = "done"                # made (or completed) by this run
    SKIPPED = "skipped"          # already current: made earlier with the same settings
    ELSEWHERE = "elsewhere"      # another live run holds it
    WAITING = "waiting"          # step 4: regions of the template are not done yet (not a failure)
    FAILED = "failed"            # see the detail
    DAMAGED = "damaged"          # its files are damaged: --redo makes exactly those again (a failure)
    INTERRUPTED = "interrupted"  # the run was asked to stop while it ran
    NOT_STARTED = "not started"  # the run stopped before it began

    @property
    def ok(self):
        """Not a failure: the run may end with exit status 0."""
        return self not in (Status.FAILED, Status.DAMAGED)


@dataclass(frozen=True)
class Result:
    """The outcome of one unit of work (a region, step 4, the pack).

    Attributes
    ----------
    status : Status
    detail : str
        One line for people (why it failed, who holds it, ...).
    clips : int or None
        Clips the region has after this run (regions only).
    seconds : float
        Wall time spent on it by this run.
    """

    status: Status
    detail: str = ""
    clips: int = None
    seconds: float = 0.0

    def to_json(self):
        """A JSON-ready dict (``status`` as its value)."""
        return dict(asdict(self), status=self.status.value)

    @classmethod
    def from_json(cls, data):
        return cls(Status(data["status"]), data.get("detail", ""), data.get("clips"),
                   float(data.get("seconds", 0.0)))

    def __str__(self):
        return self.status.value + (f": {self.detail}" if self.detail else "")


class State(enum.Enum):
    """What the files on disk are for a unit, judged against the settings of this run."""

    MISSING = "missing"                # no output yet
    PARTIAL = "partial"                # some outputs, made with these settings
    CURRENT = "current"                # every output, complete, made with these settings
    STALE = "stale"                    # made with these settings from inputs that changed since: remade
    OTHER_SETTINGS = "other settings"  # made with other settings: refused unless --redo
    DAMAGED = "damaged"                # a file is cut short or unreadable


@dataclass(frozen=True)
class Difference:
    """One setting that differs between a unit's files and this run."""

    name: str       # the setting, as the user knows it ('--sim-length', 'template connectivity')
    recorded: str   # what the files were made with
    asked: str      # what this run asks for

    def __str__(self):
        return f"{self.name}: recorded {self.recorded}, asked {self.asked}"


@dataclass(frozen=True)
class Verdict:
    """What the files say about one unit of work.

    Attributes
    ----------
    state : State
    detail : str
        One line for people.
    differences : tuple of Difference
        With ``State.OTHER_SETTINGS``: each setting that differs.
    todo : tuple
        What is left to make (e.g. the mean iterations of a region).
    legacy : bool
        Some of the files were made before fingerprints were recorded
        (taken as made with that version's defaults).
    clips : int or None
        Clips of a region whose step 2 is current (or, while it is partial,
        the clips its markers count so far).
    not_needed : tuple of int
        Mean iterations a current region did not simulate: it had the clips
        step 4 reads (``clips_needed``) before them.
    clips_needed : float or None
        With ``not_needed``: the clip count it stopped at (``--mean-iterations``).
    repair : tuple
        With ``State.DAMAGED`` (a region): ``(mean_iteration, first_clip)``, what
        ``--redo`` deletes before making it again: the markers of that mean
        iteration and the later ones, and the clips numbered from
        ``first_clip`` on (the damaged mean iteration's own and the later ones',
        whose numbers follow them).
    """

    state: State
    detail: str = ""
    differences: tuple = ()
    todo: tuple = ()
    legacy: bool = False
    clips: int = None
    not_needed: tuple = ()
    clips_needed: float = None
    repair: tuple = ()

    @property
    def stopped_early(self):
        """A current region whose later mean iterations were not needed."""
        return self.current and bool(self.not_needed)

    def not_needed_text(self):
        """``mean iterations 1, 2 not needed (100 clips reached)``, or '' when every mean iteration was made."""
        if not self.not_needed:
            return ""
        word = "iteration" if len(self.not_needed) == 1 else "iterations"
        return (f"mean {word} {', '.join(map(str, self.not_needed))} not needed "
                f"({self.clips_needed:g} clips reached)")

    @property
    def current(self):
        return self.state is State.CURRENT
