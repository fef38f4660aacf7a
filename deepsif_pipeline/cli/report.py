"""What a run prints around its regions: the header, the seed's summary, and the summary's last lines.

The last lines (where the output is, what was made, what is missing, and
what to run next) are pure functions of the run's results and the folder's
manifest (:func:`closing_lines`), so that what the user reads last is tested
line by line.
"""

import json
from pathlib import Path
import time

from deepsif_pipeline import science
from deepsif_pipeline.config.commands import repair, suggest
from deepsif_pipeline.config.options import region_slice
from deepsif_pipeline.console import RULE_REGION, banner, plural, say
from deepsif_pipeline.head.anatomy import template_info
from deepsif_pipeline.results import Status
from deepsif_pipeline.steps import DATASET_STEPS, simulate
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.files import format_bytes, write_text_atomic
from deepsif_pipeline.store.layout import compact_ranges

LONGEST_LIST = 80  # characters of a region list printed in full; longer ones are pointed to
MOST_COMMANDS = 3  # blocks of missing regions given one command each; more get one command covering them


def next_commands(missing, resume, slices=()):
    """The commands that process exactly the regions ``missing`` (sorted), fewest first.

    Parameters
    ----------
    missing : list of int
    resume : callable
        ``resume(first, end)``: the command processing regions ``first..end-1``.
    slices : sequence of (regions, command)
        The slices of a split run (``--slice K/N``): the command of each slice
        that holds missing regions comes first, as the array's tasks run them;
        the regions left are outside the split range.

    Returns
    -------
    list of str
        One command per slice with missing regions, then one per contiguous
        block of the rest (one covering them all when there are more than
        :data:`MOST_COMMANDS` blocks).
    """
    left, commands = list(missing), []
    for regions, command in slices:
        if set(regions) & set(left):
            commands.append(command)
            left = [r for r in left if r not in set(regions)]
    blocks = []
    for r in left:
        if blocks and r == blocks[-1][1]:
            blocks[-1][1] = r + 1
        else:
            blocks.append([r, r + 1])
    if len(blocks) > MOST_COMMANDS:
        blocks = [[blocks[0][0], blocks[-1][1]]]
    return commands + [resume(first, end) for first, end in blocks]


def file_line(path, result, role):
    """``'train_sample_source1.mat (12.3 MB, step 4: made in this run)'``, or None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    how = {Status.DONE: "made in this run", Status.SKIPPED: "up to date, kept"}.get(
        None if result is None else result.status, "from an earlier run")
    return f"{path.name} ({format_bytes(path.stat().st_size)}, {role}: {how})"


def closing_lines(output, clip_dir, n_regions, results, entry, files, failed_logs, verify, manifest_name,
                  resume=None, slices=(), repair=None):
    """The last lines of the summary.

    Parameters
    ----------
    output : Path
        The output folder.
    clip_dir : str
        ``nmm_{filename}/``.
    n_regions : int
        Regions of the template.
    results : dict
        ``{region: Result}`` of this run.
    entry : dict or None
        The clip set's entry of the manifest (``regions``: ``{str(r): {'clips': n, ...}}``).
    files : list of str
        :func:`file_line` of the step-4 file and the pack (None entries are dropped).
    failed_logs : dict
        ``{region: (log path, failure record path)}`` of the failed regions.
    verify : str
        The ``--verify`` command of this folder (``deepsif_pipeline.config.commands.suggest``).
    manifest_name : str
    resume : callable or None
        ``resume(first, end)``: the command that processes regions ``first..end-1`` of this
        folder (shown when regions have no markers yet, see :func:`next_commands`).
    slices : sequence of (regions, command)
        After a split run (``--slice``): each slice's regions and command.
    repair : callable or None
        ``repair(regions)``: the command that makes the damaged files of ``regions`` again
        (``--redo``), given for the regions this run found damaged (``Status.DAMAGED``) instead
        of a command that would fail on them the same way.

    Returns
    -------
    list of str
    """
    lines = ["", f"Output folder: {output}"]
    made = sum(res.clips or 0 for res in results.values() if res.status is Status.DONE)
    regions = (entry or {}).get("regions", {})
    total = sum(e.get("clips", 0) for e in regions.values())
    lines.append(f"Clips: {made} made in this run; {total} in {clip_dir} "
                 f"({len(regions)} of {n_regions} regions done)")
    empty = sorted(int(r) for r, e in regions.items() if e.get("clips", 0) == 0)
    if empty:
        listed = compact_ranges(empty)
        where = (listed if len(listed) <= LONGEST_LIST
                 else f"listed in {manifest_name} (clip_sets, regions with clips 0) and by --status")
        lines.append(f"Regions without clips: {len(empty)} of {len(regions)} done ({where}): not failures (no "
                     "isolated spike in the simulated time), but no source centres for step 4")
    files = [f for f in files if f]
    lines.append("Files: " + ("; ".join(files) if files else "no step-4 file or pack yet"))
    if failed_logs:
        shown = sorted(failed_logs.items())[:5]
        lines.append(f"Failed: {plural(len(failed_logs), 'region')} ({compact_ranges(failed_logs)}); logs: "
                     + ", ".join(str(log) for _, (log, _) in shown) + (", ..." if len(failed_logs) > 5 else "")
                     + f"; why each failed: {shown[0][1][1].parent}/region_{{r}}.failed")
    damaged = sorted(r for r, res in results.items() if res.status is Status.DAMAGED)
    if damaged and repair is not None:
        lines.append(f"Damaged: {plural(len(damaged), 'region')} ({compact_ranges(damaged)}) with markers or clips "
                     "cut short or unreadable (above); this deletes exactly those files and makes them again:")
        lines.append(f"  {repair(damaged)}")
    missing = sorted(set(range(n_regions)) - {int(r) for r in regions} - set(damaged if repair else ()))
    if missing and resume is not None:
        commands = next_commands(missing, resume, slices)
        lines.append(f"Next: regions {compact_ranges(missing)} have no markers yet; "
                     + ("this runs them" if len(commands) == 1 else f"these {len(commands)} commands run them")
                     + " (regions already done are skipped), then step 4:")
        lines += [f"  {command}" for command in commands]
        lines.append("then check the dataset with:")
    elif missing:
        lines.append(f"Next: regions {compact_ranges(missing)} have no markers yet; run them (same options, "
                     "--start_region/--end_region covering them) and step 4 follows; then check the dataset with:")
    else:
        lines.append("Next: check the dataset (add --qc for a figure):")
    lines.append(f"  {verify}")
    return lines


def header(command):
    """The run's first lines: the template, the output, the engines, where each region's output goes."""
    ctx, regions = command.ctx, command.regions
    layout, template, settings = ctx.layout, ctx.template, ctx.settings
    name = template_info(template.folder).get("name")
    say(f"DeepSIF data generation: anatomy {f'{name} (built-in, ' if name else '('}{template.folder}), "
        f"{template.n_regions} regions, {template.connectivity.name}, {ctx.leadfield.path.name}")
    say(f"output {layout.output}, clips {layout.clip_root.name}/, seed {settings.seed}")
    if command.slice is not None:
        start, end = command.span
        say(f"slice {command.slice[0]}/{command.slice[1]} of regions {start}..{end - 1}: regions "
            f"{compact_ranges(regions)}")
    if regions:
        lanes = simulate.lanes_per_pass(settings)
        say(f"step 1 (simulation): {simulate.ENGINE_NAMES[settings.engine]} (--engine {settings.engine}), "
            f"{settings.sim_length:g} s x {len(science.MEAN_ITERATIONS)} mean iterations per region in "
            f"{settings.piece_length:g} s pieces, A = {settings.a_range:g}; "
            + (f"a region stops once it has {settings.clips_needed:g} clips (--mean-iterations needed, --dataset "
               f"{settings.dataset})" if settings.mean_iterations == "needed" else
               "every mean iteration (--mean-iterations all)")
            + (f"; up to {lanes} mean iterations of any regions per step-1 pass" if lanes > 1 else ""))
    if ctx.engine:
        say(f"steps 2 and 4: {ctx.engine.name} ({ctx.engine.executable})"
            + (f", target SNR {settings.target_snr:g} dB" if regions else ""))
    if regions:
        say(f"per region: the steps' own output goes to {layout.region_log(regions[0]).parent}/region_{{r}}.log"
            + (" and here (--verbose)" if ctx.verbose else " (--verbose shows it here too)"))


def summary(results, made, start):
    """The seed's summary: regions by result, the failed ones with why, the dataset steps (``made``: their
    results by name); returns the failed regions."""
    banner(RULE_REGION, "Summary")
    failed = {r: res for r, res in results.items() if not res.status.ok}  # damaged ones too
    if results:
        ok = [r for r, res in results.items() if res.status is Status.DONE]
        say(f"Successful regions: {len(ok)}" + (f" ({compact_ranges(ok)})" if ok else ""))
        for label, status in (("Already done, skipped", Status.SKIPPED),
                              ("Being processed by another run", Status.ELSEWHERE),
                              ("Interrupted", Status.INTERRUPTED), ("Not started", Status.NOT_STARTED)):
            these = [r for r, res in results.items() if res.status is status]
            if these:
                say(f"{label}: {len(these)} ({compact_ranges(these)})")
            if status is Status.ELSEWHERE:
                for r in these:
                    say(f"  region {r}: {results[r].detail}")
        say(f"Failed regions: {len(failed)}" + (f" ({compact_ranges(failed)})" if failed else ""))
        for r, res in failed.items():
            say(f"  region {r}: {res.detail}")
    for step in DATASET_STEPS:
        if step.name in made:
            say(f"{step.label}: {made[step.name]}")
    say(f"Total time: {time.time() - start:.2f} seconds")
    return failed


def write_results(path, results):
    """The typed results of this run's regions, for the Dask task that started it (``--result-file``)."""
    write_text_atomic(Path(path), json.dumps({"regions": {str(r): res.to_json() for r, res in results.items()}}))


def closing(command, results, made):
    """The summary's last lines (:func:`closing_lines`) for this run.

    After a split run (``--slice``) the slices that hold regions without markers are
    suggested as they are run (same range, ``--slice K/N``), the other regions as ranges.
    """
    ctx = command.ctx
    layout, dataset = ctx.layout, ctx.settings.dataset
    try:
        entry = manifest.clip_set(manifest.read(layout), layout.filename)
    except manifest.ManifestError:
        entry = None
    files = [file_line(step.outputs(ctx, dataset)[0], made.get(step.name), step.role) for step in DATASET_STEPS]
    failed = {r: (layout.region_log(r), layout.failure_record(r)) for r, res in results.items()
              if not res.status.ok}
    return closing_lines(layout.output, f"{layout.clip_root.name}/", ctx.template.n_regions, results, entry,
                         files, failed, suggest(ctx, "--verify"), layout.manifest.name,
                         resume=lambda first, end: suggest(ctx, "--start_region", str(first), "--end_region",
                                                           str(end)),
                         slices=split_commands(command), repair=lambda regions: repair(ctx, regions))


def split_commands(command):
    """``[(regions, command)]`` of every slice of a ``--slice`` run (none otherwise)."""
    if command.slice is None:
        return []
    (start, end), n = command.span, command.slice[1]
    return [(region_slice(start, end, (k, n)),
             suggest(command.ctx, "--slice", f"{k}/{n}", "--start_region", str(start), "--end_region", str(end)))
            for k in range(n)]
