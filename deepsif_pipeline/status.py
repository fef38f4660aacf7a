"""What is on disk for each region and for step 4, read from the files alone (``--status``).

Nothing here writes, starts a process or waits: a status report can run
beside a live run, on any machine that sees the output folder.
"""

from pathlib import Path
import time

import numpy as np
from scipy.io import loadmat

from . import claims
from .layout import MarkerError, clip_counts, compact_ranges, marker_counts
from .science import MEAN_ITERATIONS


def folder_bytes(folder):
    """``(files, bytes)`` of the files directly in ``folder`` ((0, 0) when absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0, 0
    sizes = [p.stat().st_size for p in folder.iterdir() if p.is_file()]
    return len(sizes), sum(sizes)


def read_failure(path):
    """The text of a ``region_{r}.failed`` record, or None."""
    try:
        return Path(path).read_text().strip() or "failed"
    except OSError:
        return None


def region_state(layout, region, claim=None):
    """One region's state from its markers, raw folder, claim and failure record.

    Parameters
    ----------
    layout : Layout
    region : int
    claim : claims.ClaimInfo or None
        The region's claim, when there is one.

    Returns
    -------
    state : str
        'done', 'running', 'failed', 'partial', 'damaged' or 'not started'.
    detail : str
    """
    notes = []
    files, size = folder_bytes(layout.raw_dir(region))
    if files:
        notes.append(f"raw data present: {files} files, {size / 1e6:.1f} MB")
    try:
        counts = marker_counts(layout, region)
    except MarkerError as exc:
        return "damaged", str(exc)
    have = [m for m, c in counts.items() if c is not None]
    if len(have) == len(counts):
        last = counts[MEAN_ITERATIONS[-1]]
        return "done", "; ".join([f"{last} clip{'' if last == 1 else 's'}"] + notes + (["deleted by the next run"] if files else []))
    if have:
        notes.insert(0, f"markers for mean iterations {', '.join(map(str, have))} of "
                        f"{', '.join(map(str, counts))}")
    if claim is not None:
        who = f"claimed by {claim}" + (" (stale: the next run takes it over)" if claim.stale else "")
        return ("partial" if claim.stale else "running"), "; ".join([who] + notes)
    failure = read_failure(layout.failure_record(region))
    if failure is not None:
        return "failed", "; ".join([failure] + notes)
    return ("partial" if notes else "not started"), "; ".join(notes)


def step4_state(layout, n_regions, dataset, up_to_date):
    """What step 4 of ``dataset`` is waiting for, or whether its file is there.

    Parameters
    ----------
    up_to_date : callable
        ``up_to_date(path, counts) -> bool``: is the step-4 file made from these counts.

    Returns
    -------
    str
    """
    try:
        counts = clip_counts(layout, n_regions)
    except MarkerError as exc:
        return f"cannot tell: {exc}"
    missing = np.flatnonzero(counts < 0)
    out = layout.synthesis_file(dataset)
    if missing.size:
        return (f"waiting for {missing.size} of {n_regions} regions without all markers "
                f"({compact_ranges(missing)})")
    if out.is_file():
        return (f"{out.name} present and up to date" if up_to_date(out, counts)
                else f"{out.name} present but made from other clips or settings: the next run remakes it")
    return "every region is done: the next run (or --synthesis-only) makes it"


def report(layout, n_regions, regions, dataset, up_to_date, now=None):
    """The lines of ``--status``: one per region of ``regions``, a count per state, step 4.

    ``now`` (seconds since the epoch) judges the claims' heartbeats; the
    local clock by default (a status report writes nothing, not even a
    clock probe on the file server).
    """
    held = {c.name: c for c in claims.list_claims(layout.claim_dir, now=time.time() if now is None else now)}
    lines, tally = [], {}
    width = len(str(max(regions))) if len(regions) else 1
    for r in regions:
        state, detail = region_state(layout, r, held.get(f"region_{r}"))
        tally.setdefault(state, []).append(r)
        lines.append(f"region {r:>{width}}  {state:<11}  {detail}".rstrip())
    lines.append("")
    for state in ("done", "running", "partial", "failed", "damaged", "not started"):
        if state in tally:
            lines.append(f"{state}: {len(tally[state])} ({compact_ranges(tally[state])})")
    synthesis = held.get(f"synthesis_{dataset}")
    lines.append(f"step 4 ({dataset}): " + (f"running, claimed by {synthesis}" if synthesis and not synthesis.stale
                                             else step4_state(layout, n_regions, dataset, up_to_date)))
    return lines


def synthesis_up_to_date(path, counts, seed, dataset):
    """True when ``path`` is a step-4 file made from these clip counts, seed and dataset."""
    if not Path(path).is_file():
        return False
    try:
        made = loadmat(str(path), variable_names=["seed", "clip_counts", "dataset", "clip_rows"])
        return ("clip_rows" in made and int(made["seed"].ravel()[0]) == int(seed)
                and str(made["dataset"][0]) == dataset
                and np.array_equal(made["clip_counts"].ravel().astype(int), np.asarray(counts)))
    except Exception:
        return False
