"""Check a finished output folder against the contract DeepSIF's trainer relies on (``--verify``).

The manifest is checked against the files, then every step checks its own
outputs (``Step.checks``: step 2 the markers and clips, step 4 its file and
the lead field, the pack its rows), in the order of ``steps.STEPS``. Each
check is a row of a table: (check, passed, detail).
"""

from deepsif_pipeline.steps import STEPS, dataset_entry, region_entry
from deepsif_pipeline.store import manifest


def check_manifest(layout):
    """Where the folder disagrees with its manifest (``store.manifest.check``, with the steps' entries)."""
    return manifest.check(layout, layout.filename, region_entry, dataset_entry)


def verify(ctx, commands=None, steps=STEPS, counts=None):
    """Run every check on the output folder of ``ctx``.

    ``commands`` are the command lines that make what a failing check needs, given in its row:
    ``'synthesis'`` and ``'pack'`` (a missing step-4 file or pack), ``'synthesis_redo'`` and
    ``'pack_redo'`` (one that fails its checks), and ``'repair'``, a callable giving the command
    that makes the damaged markers and clips of a list of regions again.

    ``steps`` and ``counts`` check another head's step-4 file and pack (``steps.DATASET_STEPS``, ``--subject``)
    with the clip counts a first call found (``found['counts']``), without the manifest and clips again.

    Returns
    -------
    rows : list of tuple
        ``(check, ok, detail)`` rows; ``ok`` is False when a check failed and
        ``detail`` names the first problems, then the command that repairs them.
    found : dict
        What the checks found (``counts``: every region's clip count).
    """
    layout = ctx.layout
    rows = []

    def add(name, problems, passed_detail, fix=None):
        detail = passed_detail if not problems else "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        rows.append((name, not problems, detail + (f"; make them again with: {fix}" if problems and fix else "")))

    found = {"commands": commands or {}}
    if counts is None:
        add("manifest agrees with the files", check_manifest(layout),
            f"{layout.manifest.name} lists every region, step-4 file and pack as they are")
    else:
        found["counts"] = counts
    for step in steps:
        for name, problems, passed, fix in step.checks(ctx, found):
            if found.get("stop"):  # (a missing or unreadable file: its row says so, whole)
                rows.append((name, False, problems[0]))
            else:
                add(name, problems, passed, fix)
        if found.get("stop"):
            break
    return rows, found
