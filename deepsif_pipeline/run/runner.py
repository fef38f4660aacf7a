"""The one runner: for every unit of work, claim it, judge it from its files, run what is missing, record it.

A region runs steps 1-3 (simulate, extract, clean) under its claim
``claims/region_{r}.claim``; the dataset runs step 4 and the pack under
``claims/synthesis_{dataset}.claim``. In both, a unit is judged again once
claimed (``deepsif_pipeline.plan`` judged it before, but another run may
have worked on it since); a unit made with other settings is refused
unless ``--redo``, in which case its outputs are deleted first. Each result
is a :class:`deepsif_pipeline.results.Result`, recorded in the run log, the
region's failure record and the manifest.
"""

from dataclasses import replace
import socket
import time

from deepsif_pipeline.processes import children
from deepsif_pipeline.store import claims, manifest
from deepsif_pipeline.config import commands
from deepsif_pipeline import science
from deepsif_pipeline.run import verify
from deepsif_pipeline.console import EMPTY, FAIL, OK, RULE_REGION, RULE_STEP, banner, plural, say, tail
from deepsif_pipeline.store.fingerprint import describe
from deepsif_pipeline.store.files import format_bytes, write_text_atomic
from deepsif_pipeline.store.layout import compact_ranges
from deepsif_pipeline.run.plan import WAYS_OUT
from deepsif_pipeline.results import Result, State, Status
from deepsif_pipeline.store.runlog import record, utc_now
from deepsif_pipeline.steps import clean, extract, pack, simulate, synthesise



class Halt:
    """Why this run starts no new region any more (a full disk), shared by the worker threads."""

    def __init__(self):
        self.reason = None

    def __bool__(self):
        return self.reason is not None


def describe_outcome(what, outcome, limit_flag, log=None):
    """One line on a child step that did not succeed."""
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


def _failed_or_stopped(outcome, why):
    if outcome.stopped:
        return Result(Status.INTERRUPTED)
    return Result(Status.FAILED, why)


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


def region(ctx, r, i, n, disk=None, halt=None, software="", progress=None):
    """Steps 1-3 of region ``r`` alone (its step-1 processes hold only its own units); a :class:`Result`."""
    return drive(ctx, region_flow(ctx, r, i, n, disk, halt, software, progress))


def run_region_steps(ctx, r, claim=None, disk=None, halt=None):
    """:func:`_region_steps` of region ``r`` alone (no claim taken here); a :class:`Result`."""
    return drive(ctx, _region_steps(ctx, r, claim, disk, halt))


def drive(ctx, flow):
    """Run a region's generator (:func:`region_flow`) alone: each unit it yields in a step-1 process of its own."""
    try:
        unit = next(flow)
        while True:
            unit = flow.send(simulate.run(ctx, [unit], echo=say if ctx.verbose else None))
    except StopIteration as end:
        return end.value


def region_flow(ctx, r, i, n, disk=None, halt=None, software="", progress=None):
    """Steps 1-3 of region ``r`` under its claim, between the seed's banner and a result line: a generator.

    It yields ``(r, m)`` when it needs mean iteration ``m`` simulated and is
    then sent the ``children.Outcome`` of the step-1 process that did it
    (:func:`lane_worker`); it returns the region's :class:`Result`.
    ``progress`` (a :class:`deepsif_pipeline.progress.RunProgress`) is told
    when the region begins and ends.

    The region is claimed first (``deepsif_pipeline/claims.py``) and the
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
            outcome = simulate.run(ctx, units, echo=say if ctx.verbose else None)
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
            done = extract.judge(layout, r, ctx.fingerprint(extract.NAME), deep=False,
                                 needed=ctx.settings.clips_needed)
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
    clips = manifest.ClipSet(s.filename, ctx.fingerprint(extract.NAME),
                             {"piece_length": float(s.piece_length), "raw_rate": s.raw_rate},
                             extract.manifest_entry, synthesise.manifest_entry)
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


def _judge(ctx, r, deep=True, content=False):
    """The region's step 2, judged with this run's fingerprint and ``--mean-iterations`` rule.

    ``content``: also read every clip's data as ``--verify`` does (``--redo``).
    """
    return extract.judge(ctx.layout, r, ctx.fingerprint(extract.NAME), deep=deep, needed=ctx.settings.clips_needed,
                         content=ctx.template.n_regions if content else None)


def _repair(ctx, r, verdict):
    """``--redo`` of a damaged region: delete what ``verdict.repair`` names, until it is judged otherwise."""
    while verdict.state is State.DAMAGED:
        m, first = verdict.repair
        gone = clean.discard_from(ctx.layout, r, m, first)
        say(f"--redo: region {r}: {verdict.detail}; deleted {plural(gone, 'file')}: its markers from mean iteration "
            f"{m} on and its clips from nmm_{first}.mat on, made again below")
        verdict = _judge(ctx, r, content=True)
    return verdict


def _region_steps(ctx, r, claim=None, disk=None, halt=None):
    """Steps 1-3 of one region (its claim held), a generator (see :func:`region_flow`) returning a :class:`Result`.

    The mean iterations still to do run in order, each through step 1 (a
    unit yielded to the worker) and step 2, until the region is current:
    it has the clips this run needs (``Settings.clips_needed``), or every
    mean iteration. With ``claim``, step 2 (which writes the clips and
    markers) does not start once the claim was found lost: another run took
    the region over while this one was stalled. With ``disk`` (a
    ``DiskGuard``), no mean iteration is simulated without room for its raw
    data; ``halt`` then records why no further region starts.
    """
    layout = ctx.layout
    verdict = _judge(ctx, r, content=ctx.redo)  # --redo repairs what --verify finds: every clip is read
    if verdict.state is State.DAMAGED:
        if not ctx.redo:
            return Result(Status.DAMAGED, f"{verdict.detail}; {extract.repair_text(r, verdict)}: "
                                          f"{commands.repair(ctx, [r])}")
        verdict = _repair(ctx, r, verdict)
    if verdict.state is State.OTHER_SETTINGS:
        if not ctx.redo:
            return Result(Status.FAILED, f"{verdict.detail}; {WAYS_OUT}")
        say(f"--redo: region {r} was made with other settings ({describe(list(verdict.differences))}); deleted "
            f"its {clean.discard(layout, r)} files")
        verdict = _judge(ctx, r)
    if verdict.current:
        made = [m for m in science.MEAN_ITERATIONS if m not in verdict.not_needed]
        say(f"{OK} Region {r} already processed (markers for mean iterations {', '.join(map(str, made))}: "
            f"{plural(verdict.clips, 'clip')}" + (f"; {verdict.not_needed_text()}" if verdict.not_needed else "")
            + "); skipping")
        extra = extract.uncounted_clips(layout, r, verdict.clips)
        if extra:  # an interrupted step 2 of a mean iteration this region did not need after all
            for path in extra:
                path.unlink()
            say(f"region {r}: removed {plural(len(extra), 'clip file')} that no marker counts ({extra[0].name}"
                f"{'' if len(extra) == 1 else f' to {extra[-1].name}'}; left by an interrupted step 2)")
        if layout.raw_dir(r).exists() and not ctx.keep_raw:
            banner(RULE_STEP, f"STEP 3: Deleting raw data for region {r}")
            say(f"{OK} Successfully deleted raw data for region {r} ({_delete_raw(layout, r)})")
        return Result(Status.SKIPPED, clips=verdict.clips, detail=verdict.not_needed_text())

    raw = simulate.judge(ctx, r, verdict.todo)
    if raw.state is State.OTHER_SETTINGS:
        if not ctx.redo:
            return Result(Status.FAILED, f"{raw.detail}; {WAYS_OUT}")
        files, size = clean.raw_size(layout, r)
        clean.run(layout, r)
        say(f"--redo: deleted the raw data of region {r} made with other settings ({files} files, "
            f"{format_bytes(size)})")
    simulator = simulate.ENGINE_NAMES[ctx.settings.engine]
    log = layout.region_log(r)
    if disk is not None:  # room for the raw data of every mean iteration it may need (deleted by step 3)
        need = simulate.raw_bytes(ctx.template.n_connectivity, ctx.settings.sim_length, ctx.settings.piece_length,
                                  ctx.settings.raw_rate, len(verdict.todo))
        problem = disk.reserve(r, need)
        if problem:
            if halt is not None:
                halt.reason = f"not enough disk space (region {r}, above)"
            return Result(Status.FAILED, problem)
    if verdict.state is State.PARTIAL:
        done = [m for m in science.MEAN_ITERATIONS if m not in verdict.todo]
        until = (f"until the region has {ctx.settings.clips_needed:g} clips" if ctx.settings.mean_iterations == "needed"
                 else "every mean iteration (--mean-iterations all)")
        say(f"mean iterations {', '.join(map(str, done))} already have markers; simulating "
            f"{', '.join(map(str, verdict.todo))} ({until}; {plural(verdict.clips, 'clip')} so far)")
    while not verdict.current:
        m = verdict.todo[0]
        banner(RULE_STEP, f"STEP 1: Generating TVB data for region {r} ({simulator})")
        say(f"mean iteration {m}" + (f" (region {r} has {plural(verdict.clips, 'clip')}, needs "
                                     f"{ctx.settings.clips_needed:g})" if verdict.clips is not None else ""))
        started = time.time()
        outcome = yield (r, m)
        if not outcome.ok:
            why = describe_outcome(f"step 1 ({simulator})", outcome, "--timeout-step1", log)
            say(f"{FAIL} Step 1 ({simulator}) failed for region {r}: {why}")
            if not outcome.stopped and not ctx.verbose:
                for line in tail(log, 8):
                    say(f"    {line}")
            return _failed_or_stopped(outcome, why)
        say(f"{OK} Successfully generated TVB data for region {r} ({simulator}, mean iteration {m}: "
            f"{ctx.settings.sim_length:g} s simulated, in a pass of {time.time() - started:.1f} s)")

        if _claim_lost(claim):
            say(f"{FAIL} Region {r}: its claim was taken over by another run while step 1 ran; "
                "leaving the region to that run")
            return Result(Status.FAILED, "claim lost to another run (stalled longer than the claim timeout?)")
        if children.STOP.is_set():
            return Result(Status.INTERRUPTED)
        banner(RULE_STEP, f"STEP 2: Processing raw NMM data for region {r}")
        started = time.time()
        seen = log.stat().st_size if log.is_file() else 0
        outcome = extract.run(ctx, r, upto=m)
        output = _read_from(log, seen)
        if ctx.verbose:
            for line in output:
                say(line)
        if not outcome.ok:
            if not ctx.verbose:
                show_engine_failure(ctx.engine, outcome, log, output)
            why = describe_outcome(f"step 2 ({ctx.engine.name})", outcome, "--timeout-step2", log)
            say(f"{FAIL} Processing raw NMM data failed for region {r}: {why}")
            return _failed_or_stopped(outcome, why)
        made = _judge(ctx, r)
        clips = "" if made.clips is None else f": {plural(made.clips, 'clip')}"
        say(f"{OK} Successfully processed raw NMM data for region {r} ({ctx.engine.name}, "
            f"{time.time() - started:.1f} s){clips}" + (f"; {made.not_needed_text()}" if made.not_needed else ""))
        if _claim_lost(claim):
            if made.current:
                say(f"{OK} Region {r} is processed, but its claim was taken over by another run while step 2 ran: "
                    "its raw data is left for that run to delete")
                return Result(Status.DONE, clips=made.clips, detail=made.not_needed_text())
            say(f"region {r}: its claim was taken over by another run while step 2 ran; its next mean iterations "
                "are left to that run")
            return Result(Status.ELSEWHERE, "claim taken over by another run while step 2 ran")
        if made.state not in (State.CURRENT, State.PARTIAL, State.MISSING) or m in made.todo:
            banner(RULE_STEP, f"STEP 3: Deleting raw data for region {r}")
            say(f"{FAIL} Keeping raw data of region {r} ({layout.raw_dir(r)}): step 2 output incomplete: "
                f"{made.detail or made.state.value}")
            return Result(Status.FAILED, "step 3: raw data kept, clips incomplete "
                                         f"({made.detail or made.state.value})")
        verdict = made

    detail = verdict.not_needed_text()
    if ctx.keep_raw:
        banner(RULE_STEP, f"STEP 3: Skipped for region {r} (--keep-raw)")
        say(f"{OK} Keeping raw data of region {r} (--keep-raw): {layout.raw_dir(r)} "
            f"({format_bytes(clean.raw_size(layout, r)[1])})")
        return Result(Status.DONE, clips=verdict.clips, detail=detail)
    banner(RULE_STEP, f"STEP 3: Deleting raw data for region {r}")
    say(f"{OK} Successfully deleted raw data for region {r} ({_delete_raw(layout, r)})")
    return Result(Status.DONE, clips=verdict.clips, detail=detail)


def _delete_raw(layout, r):
    """Step 3 of region ``r``; what was deleted, for people."""
    files, size = clean.run(layout, r)
    return f"{layout.raw_dir(r)}, {format_bytes(size)}" if files else "no raw data was left"


def _read_from(path, offset):
    """The lines of a text file after byte ``offset`` (none when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


# ---------------------------------------------------------------------------
# the dataset: step 4 and the pack


def dataset(ctx, synthesise_too=True, software=""):
    """Step 4 (unless ``synthesise_too`` is False: the pack alone) and the pack, under the dataset's claim.

    Returns
    -------
    synthesis : Result or None
        None when step 4 was not asked for.
    packing : Result or None
        None when the pack was not reached.
    """
    layout, name = ctx.layout, ctx.settings.dataset
    synthesis = packing = None
    with claims.hold(layout.claim_dir, layout.synthesis_claim(name)) as claim:
        if not isinstance(claim, claims.Claim):
            say(f"\nStep 4 and the pack are being run by {claim}: left to that run")
            return (Result(Status.ELSEWHERE, f"being made by {claim}") if synthesise_too else None,
                    None if synthesise_too else Result(Status.ELSEWHERE, f"being made by {claim}"))
        synthesise.sweep(layout, name)
        if synthesise_too:
            synthesis = _synthesis(ctx)
        if (synthesis is None or synthesis.status in (Status.DONE, Status.SKIPPED)) and not children.STOP.is_set():
            packing = _pack(ctx)
        if children.STOP.is_set():
            synthesise.sweep(layout, name)
    record(layout, "; ".join(f"{what}: {result}" for what, result in (("step 4", synthesis), ("pack", packing))
                             if result is not None))
    if synthesis is not None and synthesis.status in (Status.DONE, Status.SKIPPED) or packing is not None:
        try:
            record_manifest(ctx, synthesis=True, software=software)
        except (manifest.ManifestError, OSError) as exc:
            say(f"warning: the manifest was not updated: {exc}")
    return synthesis, packing


def _synthesis(ctx):
    """Step 4 once every region is current; a :class:`Result` (``WAITING`` while regions are missing)."""
    layout, settings = ctx.layout, ctx.settings
    banner(RULE_STEP, f"STEP 4: Generating synthetic source ({layout.synthesis_file(settings.dataset).name})")
    start = time.time()
    counts, waiting, problem = synthesise.inputs(ctx)
    if problem:
        return Result(Status.FAILED, problem)
    if waiting:
        n = ctx.template.n_regions
        what = f"{len(waiting)} of {n} regions have no markers yet ({compact_ranges(waiting)})"
        say(f"Step 4 needs every region of the template: {what}. Skipping; run the remaining regions, then "
            f"re-run or use: {commands.suggest(ctx, '--synthesis-only')}")
        return Result(Status.WAITING, what)
    empty = [r for r, c in enumerate(counts) if c == 0]
    if len(empty) == len(counts):
        return Result(Status.FAILED, "no region has any clip: nothing to synthesise (longer --sim-length?)")
    if empty:
        say(f"{len(empty)} regions have no clip and cannot be source centres: {compact_ranges(empty)}")
    asked = synthesise.fingerprint(settings, ctx.template, ctx.leadfield, ctx.fingerprint(extract.NAME), counts)
    out = layout.synthesis_file(settings.dataset)
    verdict = synthesise.judge(layout, settings, asked)
    failing = verify.synthesis_problems(ctx, counts) if verdict.current and ctx.redo else []
    if verdict.current and not failing:
        say(f"{OK} {out} is up to date (made from these clips and settings); not regenerated")
        return Result(Status.SKIPPED)
    if failing:  # --redo repairs what --verify finds
        out.unlink()
        say(f"--redo: {out.name} fails --verify's checks ({'; '.join(failing[:3])}): deleted, made again")
    if verdict.state is State.OTHER_SETTINGS:
        if not ctx.redo:
            return Result(Status.FAILED, f"{verdict.detail}; {WAYS_OUT}")
        say(f"--redo: {verdict.detail}: making it again")
    elif verdict.detail:
        say(verdict.detail)
    outcome = synthesise.run(ctx, counts, asked, log=say)
    if not outcome.ok:
        log = layout.synthesis_log(settings.dataset)
        show_engine_failure(ctx.engine, outcome, log)
        return _failed_or_stopped(outcome, describe_outcome("step 4", outcome, "--timeout-step4", log))
    say(f"{OK} Wrote {out} in {time.time() - start:.1f} s")
    return Result(Status.DONE, seconds=time.time() - start)


def _pack(ctx):
    """The pack of the step-4 file; a :class:`Result`."""
    layout, name = ctx.layout, ctx.settings.dataset
    banner(RULE_STEP, f"PACK: Writing {layout.pack_file(name).name} for the trainer")
    verdict = pack.judge(layout, name)
    if not layout.synthesis_file(name).is_file():
        return Result(Status.FAILED, f"no {layout.synthesis_file(name).name} in {layout.output}: run step 4 first "
                                     f"({commands.suggest(ctx, '--synthesis-only')})")
    failing = verify.pack_problems(ctx) if verdict.current and ctx.redo else []
    if verdict.current and not failing:
        say(f"{layout.pack_file(name)} is up to date")
        return Result(Status.SKIPPED)
    if failing:  # --redo repairs what --verify finds
        layout.pack_file(name).unlink()
        say(f"--redo: {layout.pack_file(name).name} fails --verify's checks ({'; '.join(failing[:3])}): deleted, "
            "written again")
    elif verdict.detail:
        say(verdict.detail)
    start = time.time()
    try:
        pack.pack_clips(layout, name, log=say, stop=children.STOP)
    except pack.PackError as exc:
        return Result(Status.INTERRUPTED) if children.STOP.is_set() else Result(Status.FAILED, str(exc))
    return Result(Status.DONE, seconds=time.time() - start)
