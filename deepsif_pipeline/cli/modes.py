"""The modes that run nothing: ``--verify`` (and ``--qc``), ``--status`` and ``--dry-run``.

Each prints from the files alone what a run would judge, and returns the
command's exit status.
"""

from dataclasses import replace

from deepsif_pipeline.cli import status
from deepsif_pipeline.config.commands import repair, suggest
from deepsif_pipeline.console import FAIL, OK, plural, say
from deepsif_pipeline.head.anatomy import distance_file
from deepsif_pipeline.head.heads import recorded_heads
from deepsif_pipeline.results import State
from deepsif_pipeline.run import plan as planning
from deepsif_pipeline.run import verify as checks
from deepsif_pipeline.run.disk import existing_ancestor, free_bytes, with_margin
from deepsif_pipeline.steps import DATASET_STEPS, synthesise
from deepsif_pipeline.store.files import format_bytes
from deepsif_pipeline.store.layout import compact_ranges
from deepsif_pipeline.store.runlog import utc_now


def _fixes(ctx):
    """The commands a failing row of ``--verify`` names (``run.verify.verify``'s ``commands``)."""
    return {"synthesis": suggest(ctx, "--synthesis-only"), "pack": suggest(ctx, "--pack"),
            "synthesis_redo": suggest(ctx, "--synthesis-only", "--redo"), "pack_redo": suggest(ctx, "--pack", "--redo"),
            "repair": lambda regions: repair(ctx, regions)}


def other_heads(ctx):
    """The contexts of the folder's other heads (the template's and every patient's, ``derived/head_*/``, but
    this command's): ``[(name, Context)]``, the template's named ``template``."""
    here = None if ctx.head is None else ctx.head.name
    out = [] if here is None else [("template", replace(ctx, head=None, layout=ctx.layout.with_head(None),
                                                        _fingerprints={}))]
    for name, head in recorded_heads(ctx.layout, ctx.template).items():
        if name != here:
            out.append((name, replace(ctx, head=head, layout=ctx.layout.with_head(name), _fingerprints={})))
    return out


def verify(command):
    """``--verify`` (and ``--qc``): check the output folder, print a table; 0 when everything holds.

    Then the step-4 file and pack of every other head of the folder (the template's, the patients'), each
    a table of its own.
    """
    ctx = command.ctx
    layout, template = ctx.layout, ctx.synthesis_template
    distance_file(template, layout.derived_dir, log=say)  # (derived when the template has none, and said)
    rows, found = checks.verify(ctx, commands=_fixes(ctx))
    head = "" if ctx.head is None else f", head {ctx.head.name}"
    say(f"Verifying {layout.output} ({ctx.settings.dataset}, {layout.clip_root.name}/, {template.n_regions} "
        f"regions{head})")
    failed = _table(rows)
    if command.qc:
        from deepsif_pipeline.cli.qc import qc_figure  # matplotlib: imported only for --qc
        say(f"QC figure: {qc_figure(layout, template, ctx.synthesis_leadfield, ctx.settings.dataset)}")
    total = len(rows)
    if "counts" in found:
        for name, other in other_heads(ctx):
            if not other.layout.synthesis_file(ctx.settings.dataset).is_file():
                continue
            say(f"Head {name}: {other.layout.synthesis_file(ctx.settings.dataset).name}")
            more, _ = checks.verify(other, commands=_fixes(other), steps=DATASET_STEPS, counts=found["counts"])
            failed += [f"{f} ({name})" for f in _table(more)]
            total += len(more)
    say(f"{total - len(failed)} of {total} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _table(rows):
    """Print ``--verify``'s rows; the names of the failed ones."""
    width = max(len(name) for name, _, _ in rows)
    for name, ok, detail in rows:
        say(f"{OK if ok else FAIL} {name:<{width}}  {detail}")
    return [name for name, ok, _ in rows if not ok]


def show_status(command):
    """``--status``: every region's state in the range and step 4's, from the files alone."""
    ctx, regions = command.ctx, command.regions
    layout = ctx.layout
    say(f"Status of {layout.output} ({layout.clip_root.name}/, {ctx.template.n_regions} regions; regions "
        f"{regions[0]}..{regions[-1]}), {utc_now()}")
    for line in status.report(ctx, list(regions)):
        say(line)
    for name, other in other_heads(ctx):  # the folder's other heads: their step 4 and pack
        say(f"head {name}:")
        for line in status.dataset_lines(other, planning.dataset_plan(other)):
            say("  " + line)
    if layout.run_log.is_file():
        say(f"run log: {layout.run_log}")
    return 0


def dry_run(command, plan):
    """``--dry-run``: what this command would do, and the disk it needs; nothing is run or created."""
    ctx = command.ctx
    say("Dry run: nothing is simulated, written or deleted")
    if command.whole_template:
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
        need = planning.region_raw_bytes(ctx)
        at_once = planning.regions_at_once(ctx, command.workers, plan)
        say(f"raw data per region: {format_bytes(need)} (--raw-rate {ctx.settings.raw_rate}), deleted after its "
            f"step 2; peak with {at_once} at once: {format_bytes(at_once * need)}, "
            f"{format_bytes(with_margin(at_once * need))} with the margin; "
            f"free on {existing_ancestor(ctx.layout.output)}: {format_bytes(free_bytes(ctx.layout.output))}")
        say("time limits: " + ", ".join(f"{k} {'none' if v is None else f'{v:.0f} s'}" for k, v in ctx.limits.items()))
    if command.skip_synthesis:
        say(f"step 4 ({ctx.settings.dataset}) and pack: not run (--skip-synthesis)")
        return 0
    pending = [r for r, v in plan.regions.items()
               if v.state in (State.MISSING, State.PARTIAL) or (ctx.redo and v.state is State.OTHER_SETTINGS)]
    lines = status.dataset_lines(ctx, planning.dataset_plan(ctx, pending), dry_run=True, redo=ctx.redo)
    for line in lines[1:] if command.mode.value == "pack" else lines:  # --pack: the pack alone
        say(line)
    others = [d for d in synthesise.on_disk(ctx.layout) if d != ctx.settings.dataset]
    if others and not command.dataset_given:
        say(f"(the folder also holds {ctx.layout.synthesis_file(others[0]).name}: add --dataset {others[0]} for it)")
    return 0
