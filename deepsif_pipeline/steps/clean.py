"""Step 3, clean: delete a region's raw data once its step 2 is complete.

Unit of work: a region. It makes no file: it is done when ``raw_nmm/a{r}``
is gone. It runs only when step 2 of the region is current
(``extract.judge`` with the clips checked), after the clips and markers are
flushed to the disk, so no machine failure can lose both the raw data and
what was made from it. This module also sweeps what killed writers left of
a region (``.tmp_*`` files, its step-2 job file), under the region's claim.
"""

import shutil

from deepsif_pipeline import science
from deepsif_pipeline.console import FAIL, OK, say
from deepsif_pipeline.results import Result, State, Status, Verdict
from deepsif_pipeline.steps.base import Step, Unit
from deepsif_pipeline.store.files import format_bytes, fsync_path, sweep_temporaries

NAME = "clean"


def make_durable(layout, region):
    """Flush the region's clips and markers (and their folders' entries) to the disk."""
    folders = {layout.clip_dir(region)}
    for m in science.MEAN_ITERATIONS:
        if layout.marker(m, region).is_file():  # (mean iterations not needed have none)
            fsync_path(layout.marker(m, region))
            folders.add(layout.marker(m, region).parent)
    if layout.clip_dir(region).is_dir():
        for path in layout.clip_dir(region).iterdir():
            if path.is_file() and not path.name.startswith("."):
                fsync_path(path)
    for folder in folders:
        if folder.is_dir():
            fsync_path(folder)


def raw_size(layout, region):
    """``(files, bytes)`` of the region's raw folder ((0, 0) when absent)."""
    folder = layout.raw_dir(region)
    if not folder.is_dir():
        return 0, 0
    sizes = [p.stat().st_size for p in folder.iterdir() if p.is_file()]
    return len(sizes), sum(sizes)


def run(layout, region):
    """Delete the raw data of a region whose step 2 was found current; ``(files, bytes)`` deleted."""
    raw = layout.raw_dir(region)
    if not raw.exists():
        return 0, 0
    make_durable(layout, region)
    size = raw_size(layout, region)
    shutil.rmtree(raw, ignore_errors=True)  # another run may be deleting it too
    return size


def sweep(layout, region):
    """Delete what killed writers left of one region (``.tmp_*`` of its raw pieces, clips, markers,
    job file and failure record, and the job file); only under its claim, with no child working on it.

    Returns
    -------
    list of Path
    """
    gone = sweep_temporaries(layout.raw_dir(region)) + sweep_temporaries(layout.clip_dir(region))
    for m in science.MEAN_ITERATIONS:
        marker = layout.marker(m, region)
        gone += sweep_temporaries(marker.parent, f"{marker.stem}_")
    job, failed = layout.step2_job(region), layout.failure_record(region)
    gone += sweep_temporaries(job.parent, f"{job.stem}_") + sweep_temporaries(failed.parent, f"{failed.stem}_")
    if job.exists():
        job.unlink()
        gone.append(job)
    return gone


def discard(layout, region):
    """Delete a region's clips, markers and raw data (``--redo`` of a region made with other settings).

    The markers go first, so that an interruption leaves a region that is
    not done rather than a marker counting clips that are gone.

    Returns
    -------
    int
        Files deleted.
    """
    n = discard_from(layout, region, science.MEAN_ITERATIONS[0], 1)
    for folder in (layout.clip_dir(region), layout.raw_dir(region)):
        if folder.is_dir():
            n += sum(1 for p in folder.iterdir() if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return n


def discard_from(layout, region, mean_iteration, first_clip):
    """Delete the step-2 outputs of a region from one mean iteration on (``--redo`` of a damaged region).

    The markers of ``mean_iteration`` and the later ones go first (so that
    an interruption leaves a region that is not done rather than a marker
    counting clips that are gone), then the clips numbered ``first_clip``
    and above. The earlier mean iterations' markers and clips, and the raw
    data, stay (the raw pieces, when still there, are checked and reused).

    Returns
    -------
    int
        Files deleted.
    """
    n = 0
    for m in science.MEAN_ITERATIONS:
        if m >= mean_iteration and layout.marker(m, region).is_file():
            layout.marker(m, region).unlink()
            n += 1
    for path in layout.clips_above(region, first_clip - 1):
        path.unlink()
        n += 1
    return n


class Clean(Step):
    """Step 3 (unit: a region): deletes its raw data once its step 2 is current (``--keep-raw``: keeps it)."""

    name, title, unit = NAME, "STEP 3", Unit.REGION

    def judge(self, ctx, unit):
        """``CURRENT`` when the region's raw folder is gone (or kept: ``--keep-raw``), else ``MISSING``."""
        return Verdict(State.CURRENT if ctx.keep_raw or not ctx.layout.raw_dir(unit).exists() else State.MISSING)

    def judge_region(self, ctx, region, later):
        return later  # it makes nothing that lasts

    def banner(self, ctx, unit, verdict=None):
        if ctx.keep_raw and (verdict is None or verdict.current):
            return f"STEP 3: Skipped for region {unit} (--keep-raw)"
        return f"STEP 3: Deleting raw data for region {unit}"

    def run(self, rr, unit):
        """Delete the region's raw data, once its step 2 is current (else it is kept, and the region failed)."""
        ctx, r, verdict = rr.ctx, unit, rr.verdict
        layout = ctx.layout
        if not verdict.current:
            say(f"{FAIL} Keeping raw data of region {r} ({layout.raw_dir(r)}): step 2 output incomplete: "
                f"{verdict.detail or verdict.state.value}")
            return Result(Status.FAILED, "step 3: raw data kept, clips incomplete "
                                         f"({verdict.detail or verdict.state.value})")
        if ctx.keep_raw:
            say(f"{OK} Keeping raw data of region {r} (--keep-raw): {layout.raw_dir(r)} "
                f"({format_bytes(raw_size(layout, r)[1])})")
            return None
        files, size = run(layout, r)
        deleted = f"{layout.raw_dir(r)}, {format_bytes(size)}" if files else "no raw data was left"
        say(f"{OK} Successfully deleted raw data for region {r} ({deleted})")
        return None


STEP = Clean()
