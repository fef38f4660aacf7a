"""What is on disk for each region and for step 4, read from the files alone (``--status``).

Nothing here writes, starts a process or waits: a status report can run
beside a live run, on any machine that sees the output folder. The verdicts
are the ones a run would reach (``deepsif_pipeline.plan``), with the claims
and failure records added.
"""

from pathlib import Path
import time

from . import claims, science
from .console import plural
from .layout import compact_ranges
from .plan import region_verdict
from .results import State
from .steps import clean, extract, synthesise

STATES = ("done", "running", "partial", "failed", "damaged", "other settings", "not started")


def read_failure(path):
    """The text of a ``region_{r}.failed`` record, or None."""
    try:
        return Path(path).read_text().strip() or "failed"
    except OSError:
        return None


def region_state(ctx, region, claim=None):
    """One region's state from its files (as a run would judge them), claim and failure record.

    Parameters
    ----------
    ctx : deepsif_pipeline.steps.Context
    region : int
    claim : claims.ClaimInfo or None
        The region's claim, when there is one.

    Returns
    -------
    state : str
        One of :data:`STATES`.
    detail : str
    """
    layout = ctx.layout
    notes = []
    files, size = clean.raw_size(layout, region)
    if files:
        notes.append(f"raw data present: {files} files, {size / 1e6:.1f} MB")
    verdict = region_verdict(ctx, region)
    if verdict.state is State.DAMAGED:
        return "damaged", verdict.detail
    if verdict.state is State.OTHER_SETTINGS:
        return "other settings", "; ".join([verdict.detail + " (--redo replaces it)"] + notes)
    if verdict.current:
        made = ["made before fingerprints (that version's defaults assumed)"] if verdict.legacy else []
        return "done", "; ".join([plural(verdict.clips, "clip")] + made + notes
                                 + (["deleted by the next run"] if files else []))
    if verdict.state is State.PARTIAL:
        done = [m for m in science.MEAN_ITERATIONS if m not in verdict.todo]
        if done:
            notes.insert(0, f"markers for mean iterations {', '.join(map(str, done))} of "
                            f"{', '.join(map(str, science.MEAN_ITERATIONS))}")
    if claim is not None:
        who = f"claimed by {claim}" + (" (stale: the next run takes it over)" if claim.stale else "")
        return ("partial" if claim.stale else "running"), "; ".join([who] + notes)
    failure = read_failure(layout.failure_record(region))
    if failure is not None:
        return "failed", "; ".join([failure] + notes)
    return ("partial" if notes else "not started"), "; ".join(notes)


def step4_state(ctx):
    """What step 4 of this run's dataset is waiting for, or whether its file is current."""
    counts, waiting, problem = synthesise.inputs(ctx)
    if problem:
        return f"cannot run: {problem}"
    if waiting:
        return (f"waiting for {len(waiting)} of {ctx.template.n_regions} regions without all markers "
                f"({compact_ranges(waiting)})")
    out = ctx.layout.synthesis_file(ctx.settings.dataset)
    asked = synthesise.fingerprint(ctx.settings, ctx.template, ctx.fingerprint(extract.NAME), counts)
    verdict = synthesise.judge(ctx.layout, ctx.settings, asked)
    if verdict.current:
        return f"{out.name} present and up to date"
    if verdict.state is State.MISSING:
        return "every region is done: the next run (or --synthesis-only) makes it"
    if verdict.state is State.OTHER_SETTINGS:
        return f"{verdict.detail} (--redo replaces it)"
    return f"{verdict.detail or out.name + ' is out of date'}: the next run remakes it"


def report(ctx, regions, now=None):
    """The lines of ``--status``: one per region of ``regions``, a count per state, step 4.

    ``now`` (seconds since the epoch) judges the claims' heartbeats; the
    local clock by default (a status report writes nothing, not even a
    clock probe on the file server).
    """
    layout = ctx.layout
    held = {c.name: c for c in claims.list_claims(layout.claim_dir, now=time.time() if now is None else now)}
    lines, tally = [], {}
    width = len(str(max(regions))) if len(regions) else 1
    for r in regions:
        state, detail = region_state(ctx, r, held.get(layout.region_claim(r)))
        tally.setdefault(state, []).append(r)
        lines.append(f"region {r:>{width}}  {state:<11}  {detail}".rstrip())
    lines.append("")
    for state in STATES:
        if state in tally:
            lines.append(f"{state}: {len(tally[state])} ({compact_ranges(tally[state])})")
    dataset = ctx.settings.dataset
    synthesis = held.get(layout.synthesis_claim(dataset))
    lines.append(f"step 4 ({dataset}): " + (f"running, claimed by {synthesis}" if synthesis and not synthesis.stale
                                             else step4_state(ctx)))
    return lines
