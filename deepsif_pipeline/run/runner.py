"""The one runner: for every unit of work, claim it, judge it from its files, run what is missing, record it.

A region runs steps 1-3 (simulate, extract, clean) under its claim
``claims/region_{r}.claim``; the dataset runs step 4 and the pack under
``claims/synthesis_{dataset}.claim``. In both, a unit is judged again once
claimed (``deepsif_pipeline.run.plan`` judged it before, but another run may
have worked on it since); a unit made with other settings is refused
unless ``--redo``, in which case its outputs are deleted first. Each result
is a :class:`deepsif_pipeline.results.Result`, recorded in the run log, the
region's failure record and the manifest.
"""

from dataclasses import replace
import socket
import time

from deepsif_pipeline import science
from deepsif_pipeline.console import EMPTY, FAIL, OK, RULE_REGION, RULE_STEP, banner, plural, say
from deepsif_pipeline.processes import children
from deepsif_pipeline.results import Result, State, Status
from deepsif_pipeline.steps import (DATASET_STEPS, ITERATION_STEPS, REGION_STEPS, RegionRun, clean, dataset_entry,
                                    extract, region_entry)
from deepsif_pipeline.store import claims, manifest
from deepsif_pipeline.store.files import write_text_atomic
from deepsif_pipeline.store.runlog import record, utc_now


SHARED = next(step for step in ITERATION_STEPS if step.shared)  # the step whose units the lane workers run together


class Halt:
    """Why this run starts no new region any more (a full disk), shared by the worker threads."""

    def __init__(self):
        self.reason = None

    def __bool__(self):
        return self.reason is not None


# ---------------------------------------------------------------------------
# a region: steps 1-3
#
# A region's mean iterations run in order, each through step 1 and step 2, until the region has the
# clips step 4 reads (--mean-iterations needed) or every mean iteration is done; then step 3. Step 1
# of a mean iteration is one unit of work (region, mean iteration), and one step-1 process advances up
# to fast_engine.LANES units of any regions together: a region's steps are a generator (region_flow)
# that yields the unit it needs simulated and is sent the outcome of the pass that simulated it, and
# a worker (lane_worker) holds up to LANES regions, so that the lanes stay full while regions stop
# at different mean iterations. A unit's raw pieces do not depend on the units it shared a pass with.


def region_flow(ctx, r, i, n, disk=None, halt=None, software="", progress=None):
    """Steps 1-3 of region ``r`` under its claim, between the seed's banner and a result line: a generator.

    It yields ``(r, m)`` when it needs mean iteration ``m`` simulated and is
    then sent the ``children.Outcome`` of the step-1 process that did it
    (:func:`lane_worker`); it returns the region's :class:`Result`.
    ``progress`` (a :class:`deepsif_pipeline.run.progress.RunProgress`) is told
    when the region begins and ends.

    The region is claimed first (``deepsif_pipeline/store/claims.py``) and the
    leftovers of killed runs are removed; when another live run holds it, it
    is left to that run (``ELSEWHERE``, or ``SKIPPED`` when already done).
    Once this run is stopping or halted, regions not begun are ``NOT_STARTED``.
    """
    if children.STOP.is_set() or halt:
        return Result(Status.NOT_STARTED)
    banner(RULE_REGION, f"Processing Region {r} ({i + 1}/{n})")
    if progress is not None:
        progress.begin(r)
    result = yield from _region(ctx, r, disk, halt, software)
    if progress is not None:
        progress.end(r, result)
    return result


def lane_worker(ctx, take, lanes, disk=None, halt=None, software="", progress=None):
    """Steps 1-3 of the regions ``take()`` gives, up to ``lanes`` at once, their step-1 units in shared passes.

    Parameters
    ----------
    ctx : deepsif_pipeline.steps.Context
    take : callable
        Returns the next ``(i, n, region)`` (its place in the run and the
        run's region count), or raises ``StopIteration`` when none is left;
        several workers may share it (thread-safe).
    lanes : int
        Regions held at once, each with one unit in every pass
        (``simulate.lanes_per_pass``).

    Returns
    -------
    dict
        ``{region: Result}`` of the regions taken.
    """
    results, held = {}, {}  # held: {region: (generator, unit it waits for)}

    def advance(r, flow, sent):
        try:
            held[r] = (flow, flow.send(sent))
        except StopIteration as end:
            held.pop(r, None)
            results[r] = end.value

    try:
        while True:
            while len(held) < lanes:
                try:
                    i, n, r = take()
                except StopIteration:
                    break
                advance(r, region_flow(ctx, r, i, n, disk, halt, software, progress), None)
            if not held:
                return results
            units = [unit for _, unit in held.values()]
            outcome = SHARED.run_together(ctx, units, echo=say if ctx.verbose else None)
            for r, (flow, _) in list(held.items()):
                advance(r, flow, outcome)
    finally:
        for flow, _ in held.values():  # an exception: each held region's claim released, raw data swept
            flow.close()


def _region(ctx, r, disk, halt, software):
    """:func:`region_flow` after its banner (a generator too)."""
    t0 = time.time()
    layout = ctx.layout
    # A region already done is claimed too: a run killed after its markers may have left its
    # claim, step-2 job file or raw data, which are removed here (and never by two runs at once).
    with claims.hold(layout.claim_dir, layout.region_claim(r)) as claim:
        if not isinstance(claim, claims.Claim):
            done = extract.STEP.judge(ctx, r, deep=False)
            if done.current:
                say(f"{OK} Region {r} already processed; {claim} is finishing it")
                return Result(Status.SKIPPED, clips=done.clips)
            say(f"region {r} is being processed by {claim}: left to that run; {claims.takeover_advice(claim)}")
            return Result(Status.ELSEWHERE, f"being processed by {claim}; {claims.takeover_advice(claim)}")
        if claim.took_over is not None:
            say(f"region {r}: took over the claim of {claim.took_over}")
        left = len(clean.sweep(layout, r)) + claims.remove_old_ballots(claim)
        if left:
            say(f"region {r}: removed {left} leftover files of an interrupted run")
        try:
            result = yield from _region_steps(ctx, r, claim, disk, halt)
        finally:
            if disk is not None:
                disk.release(r)
            if children.STOP.is_set():
                clean.sweep(layout, r)
        result = replace(result, seconds=time.time() - t0)
        _failure_record(layout, r, result)  # under the claim: the next holder may sweep its temporary
    _record_region(ctx, r, result, software)
    return result


def record_manifest(ctx, regions=(), synthesis=False, software=""):
    """Rewrite the manifest (``store/manifest.py``) with this run's clip set, the entries of ``regions`` and,
    with ``synthesis``, its step-4 file and pack; the entries are the steps' (``manifest_entry``)."""
    s = ctx.settings
    clips = manifest.ClipSet(s.filename, ctx.fingerprint(extract.STEP),
                             {"piece_length": float(s.piece_length), "raw_rate": s.raw_rate},
                             region_entry, dataset_entry)
    manifest.update(ctx.layout, clips, regions, s.dataset if synthesis else None, software)


def _failure_record(layout, r, result):
    """Write ``logs/region_{r}.failed`` for a failed region, remove it for a done one."""
    if result.status in (Status.DONE, Status.SKIPPED):
        layout.failure_record(r).unlink(missing_ok=True)
    elif result.status in (Status.FAILED, Status.DAMAGED):
        write_text_atomic(layout.failure_record(r), f"{utc_now()} on {socket.gethostname()}: {result.detail}\n")


def _record_region(ctx, r, result, software):
    """The result line, the run log and the manifest of a region."""
    layout = ctx.layout
    if result.status in (Status.DONE, Status.SKIPPED):
        say("\n" + completed_line(r, result, ctx.settings.sim_length))
    elif result.status in (Status.INTERRUPTED, Status.NOT_STARTED):
        say(f"\n{FAIL} Region {r} interrupted after {result.seconds:.2f} seconds; its finished mean "
            "iterations are kept")
    else:
        say(f"\n{FAIL} Region {r} failed after {result.seconds:.2f} seconds: {result.detail}")
    record(layout, f"region {r}: {result} ({result.seconds:.1f} s)")
    if result.status is Status.DONE:  # (a region found done is in the manifest, or added by the run's last update)
        try:
            record_manifest(ctx, regions=[r], software=software)
        except (manifest.ManifestError, OSError) as exc:
            say(f"warning: the manifest was not updated: {exc}")


def completed_line(r, result, sim_length):
    """The seed's "Completed region" line, with the region's clips; a region with none is marked as such.

    A region without clips is not a failure (no spike of it was isolated
    within the simulated time), but it has nothing for step 4 either.
    """
    if result.clips == 0:
        return (f"{EMPTY} Completed region {r} in {result.seconds:.2f} seconds: no clips (no isolated spike in "
                f"{len(science.MEAN_ITERATIONS)} x {sim_length:g} s simulated; not a failure)")
    line = f"{OK} Completed region {r} in {result.seconds:.2f} seconds"
    return line + (f": {plural(result.clips, 'clip')}" if result.clips is not None else "") + (
        f" ({result.detail})" if result.detail else "")


def _claim_lost(claim):
    return claim is not None and (claim.lost or not claim.is_ours())


def _region_steps(ctx, r, claim=None, disk=None, halt=None):
    """Steps 1-3 of one region (its claim held), a generator (see :func:`region_flow`) returning a :class:`Result`.

    The region steps (``steps.STEPS``) first prepare, from the last to the
    first: step 2 judges the region (and ``--redo`` repairs or replaces what
    was made differently), step 1 the raw data its mean iterations need.
    Then the mean iterations still to do run in order, each through the
    iteration steps (step 1, a unit yielded to the worker; step 2), until the
    region is current: it has the clips this run needs
    (``Settings.clips_needed``), or every mean iteration. A step that writes
    the region's outputs (``Step.claimed``) does not start once the claim was
    found lost: another run took the region over while this one was stalled.
    Last, the steps of the whole region (step 3).
    """
    rr = RegionRun(ctx, r, claim, disk, halt)
    for step in reversed(ITERATION_STEPS + REGION_STEPS):
        result = step.prepare(rr)
        if result is not None:
            return result
    while not rr.verdict.current:
        m = rr.verdict.todo[0]
        for previous, step in zip((None,) + ITERATION_STEPS, ITERATION_STEPS):
            if previous is not None:
                if step.claimed and _claim_lost(claim):
                    say(f"{FAIL} Region {r}: its claim was taken over by another run while "
                        f"{previous.title.lower()} ran; leaving the region to that run")
                    return Result(Status.FAILED, "claim lost to another run (stalled longer than the claim timeout?)")
                if children.STOP.is_set():
                    return Result(Status.INTERRUPTED)
            banner(RULE_STEP, step.banner(ctx, (r, m)))
            result = (yield from step.run(rr, (r, m))) if step.shared else step.run(rr, (r, m))
            if result is not None:
                return result
        if rr.verdict.state not in (State.CURRENT, State.PARTIAL, State.MISSING) or m in rr.verdict.todo:
            break  # step 2 left the mean iteration incomplete: step 3 keeps the raw data
    for step in REGION_STEPS:
        if rr.found_done and step.judge(ctx, r).current:
            continue
        banner(RULE_STEP, step.banner(ctx, r, rr.verdict))
        result = step.run(rr, r)
        if result is not None:
            return result
    return Result(Status.SKIPPED if rr.found_done else Status.DONE, clips=rr.verdict.clips,
                  detail=rr.verdict.not_needed_text())


# ---------------------------------------------------------------------------
# the dataset: step 4 and the pack


def dataset(ctx, synthesise_too=True, software=""):
    """The dataset steps (step 4, unless ``synthesise_too`` is False: the pack alone) under the dataset's claim.

    Each runs once the one before it is done or up to date (and the run is not stopping).

    Returns
    -------
    dict
        ``{step name: Result}`` of the dataset steps that ran (or were left to another run).
    """
    layout, name = ctx.layout, ctx.settings.dataset
    steps = DATASET_STEPS if synthesise_too else DATASET_STEPS[1:]
    results = {}
    with claims.hold(layout.claim_dir, layout.synthesis_claim(name)) as claim:
        if not isinstance(claim, claims.Claim):
            say(f"\nStep 4 and the pack are being run by {claim}: left to that run")
            return {steps[0].name: Result(Status.ELSEWHERE, f"being made by {claim}")}
        for step in DATASET_STEPS:  # what a killed step 4 or pack left
            step.sweep(layout, name)
        for step in steps:
            if children.STOP.is_set() or any(res.status not in (Status.DONE, Status.SKIPPED)
                                              for res in results.values()):
                break
            banner(RULE_STEP, step.banner(ctx, name))
            results[step.name] = step.run(ctx, name)
        if children.STOP.is_set():
            for step in DATASET_STEPS:
                step.sweep(layout, name)
    record(layout, "; ".join(f"{step.title.lower()}: {results[step.name]}" for step in steps if step.name in results))
    if any(res.status in (Status.DONE, Status.SKIPPED) for res in results.values()) or any(
            step.name in results for step in DATASET_STEPS[1:]):
        try:
            record_manifest(ctx, synthesis=True, software=software)
        except (manifest.ManifestError, OSError) as exc:
            say(f"warning: the manifest was not updated: {exc}")
    return results
