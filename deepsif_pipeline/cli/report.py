"""The end of a run's summary: where the output is, what was made, what is missing, and what to run next.

Pure functions of the run's results and the folder's manifest, so that
what the user reads last is tested line by line.
"""

from pathlib import Path

from deepsif_pipeline.console import plural
from deepsif_pipeline.store.files import format_bytes
from deepsif_pipeline.store.layout import compact_ranges
from deepsif_pipeline.results import Status

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
        The ``--verify`` command of this folder (``deepsif_pipeline.commands.suggest``).
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
