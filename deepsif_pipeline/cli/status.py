"""What is on disk for each region and for step 4, read from the files alone (``--status``).

Nothing here writes, starts a process or waits: a status report can run
beside a live run, on any machine that sees the output folder. The verdicts
are the ones a run would reach (``deepsif_pipeline.run.plan``), with the claims
and failure records added.
"""

from pathlib import Path
import time

from deepsif_pipeline.store import claims
from deepsif_pipeline import science
from deepsif_pipeline.console import plural
from deepsif_pipeline.store.layout import compact_ranges
from deepsif_pipeline.config.commands import repair, suggest
from deepsif_pipeline.run.plan import Step4, dataset_plan
from deepsif_pipeline.steps import region_verdict
from deepsif_pipeline.results import State
from deepsif_pipeline.steps import clean, extract

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
        return "damaged", f"{verdict.detail}; {extract.repair_text(region, verdict)}: {repair(ctx, [region])}"
    if verdict.state is State.OTHER_SETTINGS:
        return "other settings", "; ".join([verdict.detail + " (--redo replaces it)"] + notes)
    if verdict.current:
        made = ["made before fingerprints (that version's defaults assumed)"] if verdict.legacy else []
        return "done", "; ".join([plural(verdict.clips, "clip")] + made
                                 + ([verdict.not_needed_text()] if verdict.not_needed else []) + notes
                                 + (["deleted by the next run"] if files else []))
    if verdict.state is State.PARTIAL:
        done = [m for m in science.MEAN_ITERATIONS if m not in verdict.todo]
        if done:
            notes.insert(0, f"markers for mean iterations {', '.join(map(str, done))} of "
                            f"{', '.join(map(str, science.MEAN_ITERATIONS))} ({plural(verdict.clips, 'clip')}; "
                            f"--dataset {ctx.settings.dataset} needs {ctx.settings.clips_needed:g} or every mean "
                            "iteration)")
    if claim is not None:
        who = f"claimed by {claim}" + (" (stale: the next run takes it over)" if claim.stale
                                       else f"; {claims.takeover_advice(claim)}")
        return ("partial" if claim.stale else "running"), "; ".join([who] + notes)
    failure = read_failure(layout.failure_record(region))
    if failure is not None:
        return "failed", "; ".join([failure] + notes)
    return ("partial" if notes else "not started"), "; ".join(notes)


def dataset_lines(ctx, plan, dry_run=False, redo=False):
    """The lines on step 4 and the pack of ``plan`` (a ``plan.DatasetPlan``), for ``--status`` or ``--dry-run``.

    Both modes word the same verdicts; ``dry_run`` says what this command
    would do, else what is on disk and the command that goes on from there.
    """
    layout, name, n = ctx.layout, plan.dataset, ctx.template.n_regions
    source, packed = layout.synthesis_file(name).name, layout.pack_file(name).name
    step4, pack = f"step 4 ({name}): ", f"pack ({name}): "
    if plan.step4 is Step4.BLOCKED:
        return [step4 + f"cannot run: {plan.problem}", pack + f"{packed} follows step 4"]
    if plan.step4 is Step4.WAITING:
        what = (f"would wait for {len(plan.regions)} of {n} regions this command does not make"
                if dry_run else f"waiting for {len(plan.regions)} of {n} regions without all markers")
        return [step4 + f"{what} ({compact_ranges(plan.regions)})", pack + f"{packed} follows step 4"]
    if plan.step4 is Step4.AFTER:
        return [step4 + f"would make {source} after this command's {plural(len(plan.regions), 'region')} "
                f"({compact_ranges(plan.regions)})",
                pack + f"would write {packed} after step 4"]
    verdict = plan.synthesis
    if verdict.state is State.MISSING:
        return ([step4 + f"would make {source} (every region is done)", pack + f"would write {packed} after step 4"]
                if dry_run else
                [step4 + f"every region is done, {source} not made yet; make it with: "
                 + suggest(ctx, "--synthesis-only"), pack + f"{packed} is written after step 4"])
    if verdict.state is State.OTHER_SETTINGS:
        if dry_run:
            line = (f"would replace it (--redo): {verdict.detail}" if redo
                    else f"would stop: {verdict.detail}; add --redo to replace it")
        else:
            line = f"{verdict.detail} (--redo replaces it)"
        return [step4 + line, pack + f"{packed} follows step 4"]
    if not verdict.current:  # STALE: made again
        detail = verdict.detail or f"{source} is out of date"
        return ([step4 + f"would make {source} again: {detail}", pack + f"would write {packed} again after step 4"]
                if dry_run else
                [step4 + f"{detail}; make it with: " + suggest(ctx, "--synthesis-only"),
                 pack + f"{packed} is written again after step 4"])
    lines = [step4 + f"{source} present and up to date"]
    if plan.pack.current:
        return lines + [pack + f"{plan.pack.detail or packed + ' is up to date'}"]
    if plan.pack.state is State.MISSING:
        return lines + [pack + (f"would write {packed}" if dry_run
                                else f"{packed} not written yet; write it with: " + suggest(ctx, "--pack"))]
    return lines + [pack + (f"would write {packed} again: {plan.pack.detail}" if dry_run
                            else f"{plan.pack.detail}; write it with: " + suggest(ctx, "--pack"))]


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
    if synthesis and not synthesis.stale:
        return lines + [f"step 4 ({dataset}) and pack: running, claimed by {synthesis}"]
    return lines + dataset_lines(ctx, dataset_plan(ctx))
