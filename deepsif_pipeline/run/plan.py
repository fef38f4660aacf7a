"""What a command would do, judged from the files before anything runs.

The same verdicts serve three purposes: a run refuses, before it creates or
changes anything, to add to a folder made with other settings
(:func:`refusal`); ``--dry-run`` prints them; ``--status`` prints them with the
claims and failure records. The runner judges each unit again under its
claim (another run may have changed the files meanwhile).
"""

from collections import defaultdict
from dataclasses import dataclass, field
import enum

from deepsif_pipeline.results import State, Verdict
from deepsif_pipeline.run.disk import shortage
from deepsif_pipeline.steps import extract, pack, region_verdict, simulate, synthesise
from deepsif_pipeline.steps.base import WAYS_OUT
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.fingerprint import describe, differences, digest
from deepsif_pipeline.store.layout import compact_ranges


@dataclass
class Plan:
    """Verdicts of the units a command touches.

    Attributes
    ----------
    regions : dict
        ``{region: Verdict}`` of the region range.
    clip_set : list of Difference
        How the clip set's recorded settings (the manifest) differ from this run's.
    synthesis_inputs : tuple or None
        ``synthesise.inputs`` (counts, waiting, problem), for ``--synthesis-only``.
    synthesis : Verdict or None
        The step-4 file's verdict (settings only), when step 4 is judged.
    """

    regions: dict = field(default_factory=dict)
    clip_set: list = field(default_factory=list)
    synthesis_inputs: tuple = None
    synthesis: Verdict = None

    def by_state(self):
        """``{State: [region, ...]}`` of the region range."""
        out = defaultdict(list)
        for r, v in self.regions.items():
            out[v.state].append(r)
        return out


def make(ctx, regions=(), synthesis_only=False):
    """Judge ``regions`` and the clip set (or, for ``synthesis_only``, every region and the step-4 file).

    Nothing is written. ``--status`` and ``--dry-run`` call it as the run does.
    """
    plan = Plan(regions={r: region_verdict(ctx, r) for r in regions})
    try:
        recorded = manifest.clip_set(manifest.read(ctx.layout), ctx.settings.filename)
    except manifest.ManifestError:
        recorded = None
    asked = ctx.fingerprint(extract.STEP)
    if recorded and recorded.get("regions") and recorded.get("fingerprint") != digest(asked):
        plan.clip_set = differences(recorded.get("settings", {}), asked)  # (a clip set with no region binds nothing)
    if synthesis_only:
        plan.synthesis_inputs = synthesise.inputs(ctx)
        plan.synthesis = synthesise.STEP.judge(ctx, ctx.settings.dataset)
    return plan




def refusal(ctx, plan):
    """The one line refusing this command, or None when nothing in its way was made differently.

    With ``--redo`` nothing is refused: the units made differently are replaced.
    """
    if ctx.redo:
        return None
    folder = ctx.layout.clip_root
    groups = defaultdict(list)
    for r, v in plan.regions.items():
        if v.state is State.OTHER_SETTINGS:
            groups[tuple(v.differences)].append(r)
    if groups:
        diffs, regions = max(groups.items(), key=lambda kv: len(kv[1]))
        more = sum(len(rs) for rs in groups.values()) - len(regions)
        old = any(plan.regions[r].legacy for r in regions)
        return (f"{folder} holds region{'s' if len(regions) > 1 else ''} {compact_ranges(regions)} made with other "
                f"settings ({describe(list(diffs))})" + (f", and {more} more regions made differently" if more else "")
                + (" (made before fingerprints: taken as made with that version's defaults)" if old else "")
                + f"; {WAYS_OUT}")
    if plan.clip_set:
        return f"{folder} was made with other settings ({describe(plan.clip_set)}); {WAYS_OUT}"
    if plan.synthesis_inputs is not None and plan.synthesis_inputs[2]:
        return f"step 4 cannot use {folder}: {plan.synthesis_inputs[2]}"
    if plan.synthesis is not None and plan.synthesis.state is State.OTHER_SETTINGS:
        return f"{plan.synthesis.detail}; {WAYS_OUT}"
    return None


class Step4(enum.Enum):
    """Where step 4 of a dataset stands, judged from the files (``--status``, ``--dry-run``)."""

    BLOCKED = "blocked"      # regions made with other settings or damaged: it cannot run (a failure)
    WAITING = "waiting"      # regions of the template without all markers that this command does not make
    AFTER = "after"          # it runs once this command's regions are done (then its file is new)
    JUDGED = "judged"        # every region is done: ``DatasetPlan.synthesis`` says what its file is


@dataclass(frozen=True)
class DatasetPlan:
    """Step 4 and the pack of one dataset, judged from the files.

    Attributes
    ----------
    dataset : str
    step4 : Step4
    regions : tuple of int
        ``WAITING``: the regions step 4 waits for; ``AFTER``: this command's regions it needs.
    problem : str or None
        ``BLOCKED``: why.
    synthesis : Verdict or None
        ``JUDGED``: the step-4 file's verdict (``synthesise.judge``).
    pack : Verdict or None
        With a current step-4 file: the pack's verdict (``pack.judge``); else None
        (the pack follows step 4).
    """

    dataset: str
    step4: Step4
    regions: tuple = ()
    problem: str = None
    synthesis: Verdict = None
    pack: Verdict = None


def dataset_plan(ctx, pending=()):
    """Judge step 4 and the pack of this run's dataset; nothing is written.

    Parameters
    ----------
    ctx : deepsif_pipeline.steps.Context
    pending : iterable of int
        Regions this command would make (``--dry-run``); none for ``--status``.

    Returns
    -------
    DatasetPlan
    """
    name = ctx.settings.dataset
    counts, waiting, problem = synthesise.inputs(ctx)
    if problem:
        return DatasetPlan(name, Step4.BLOCKED, problem=problem)
    remaining = tuple(sorted(set(waiting) - set(pending)))
    if remaining:
        return DatasetPlan(name, Step4.WAITING, regions=remaining)
    if waiting:
        return DatasetPlan(name, Step4.AFTER, regions=tuple(sorted(waiting)))
    verdict = synthesise.STEP.judge(ctx, name, counts)
    return DatasetPlan(name, Step4.JUDGED, synthesis=verdict,
                       pack=pack.STEP.judge(ctx, name) if verdict.current else None)


def to_simulate(plan):
    """Regions of the plan that need step 1."""
    return [r for r, v in plan.regions.items() if v.state in (State.MISSING, State.PARTIAL)]


def to_process(plan, regions):
    """How many of ``regions`` the run processes (those not judged done)."""
    return sum(1 for r in regions if r not in plan.regions or plan.regions[r].state is not State.CURRENT)


def region_raw_bytes(ctx, n_iterations=None):
    """Estimated raw data of one region with this run's settings (bytes)."""
    s = ctx.settings
    return simulate.raw_bytes(ctx.template.n_connectivity, s.sim_length, s.piece_length, s.raw_rate, n_iterations)


def regions_at_once(ctx, workers, plan):
    """Regions with raw data at once: each worker holds up to ``simulate.lanes_per_pass`` regions (at least 1)."""
    return max(1, min(workers * simulate.lanes_per_pass(ctx.settings), len(to_simulate(plan))))


def disk_shortage(ctx, workers, plan):
    """Why the raw data of the regions to simulate (as many at once as the run holds) does not fit, or None."""
    regions = to_simulate(plan)
    if not regions:
        return None
    at_once = regions_at_once(ctx, workers, plan)
    return shortage(ctx.layout.output, region_raw_bytes(ctx) * at_once,
                    f"region {regions[0]}" if at_once == 1 else f"{at_once} regions at once")
