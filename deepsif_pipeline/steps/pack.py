"""The pack: the clips a step-4 file uses, in the HDF5 file DeepSIF's trainer reads.

Unit of work: the dataset, after step 4. Output: ``{dataset}_sample_nmm.h5``
(``Layout.pack_file``: DeepSIF's ``loaders.SpikeEEGBuild`` opens
``path[:-12] + '_nmm.h5'`` beside the step-4 file) with a dataset ``data``
``(clips, 500, n_regions)`` float32, one clip per chunk; row ``nmm_idx[i, k]``
is the clip of example i, source k. The row order is defined once, in
``matlab/clip_row_index.m``; step 4 saves it as ``clip_rows`` ([region, clip
number] of every row) and the pack writes the rows in that order.

The pack has no settings of its own. Its fingerprint (the file's
``fingerprint`` attribute) holds its inputs: the step-4 file's fingerprint
and its clip rows; when they change, it is written again.

A patient's head (``Layout.head``) uses the same clips as the template's set
of its folder: when the template's pack is current and holds the same clips
in the same rows (:func:`shared_pack`), the head's pack is a small file whose
``data`` is an HDF5 external link to it (``data_file`` names it) instead of a
second copy (19.8 GB in test mode with 10 clips a region, ten times that in
train mode). HDF5 finds it beside the head's pack, whatever the current folder.
"""

import hashlib
from pathlib import Path
import time

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline import science
from deepsif_pipeline.config import commands
from deepsif_pipeline.console import say
from deepsif_pipeline.processes import children, testhook
from deepsif_pipeline.results import Result, State, Status, Verdict
from deepsif_pipeline.steps.base import Step, Unit
from deepsif_pipeline.steps.extract import load_clip
from deepsif_pipeline.steps.synthesise import read_synthesis
from deepsif_pipeline.store.files import publish, sweep_temporaries, temporary_name
from deepsif_pipeline.store.fingerprint import FORMAT, FingerprintError, canonical, differences, digest, parse

NAME = "pack"
CLIP_LENGTH = science.CLIP_LENGTH  # samples per clip


class PackError(Exception):
    """The step-4 file or a clip cannot be packed (one-line message)."""


def rows_digest(rows):
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()


def _source(layout, dataset):
    """``(clip_rows, fingerprint of the step-4 file or None)`` of a step-4 file."""
    synthesis = layout.synthesis_file(dataset)
    try:
        saved = loadmat(str(synthesis), variable_names=["clip_rows", "fingerprint"])
        rows = saved["clip_rows"].astype(np.int64).reshape(-1, 2)
    except Exception as exc:
        raise PackError(f"cannot read clip_rows from {synthesis} ({exc}); run step 4 again") from None
    made = parse(np.asarray(saved["fingerprint"]).ravel()[0]) if "fingerprint" in saved else None
    return rows, made


def fingerprint(rows, synthesis_fingerprint):
    """The pack's inputs: the step-4 file (its fingerprint, when it has one) and its clip rows."""
    return {"format": FORMAT, "step": NAME,
            "input.synthesis": digest(synthesis_fingerprint) if synthesis_fingerprint else "not recorded",
            "input.clip_rows": "sha256:" + rows_digest(rows)}


def _clips_of(synthesis_fingerprint):
    """What of a step-4 file's fingerprint decides its pack's clips: the clips' fingerprint and counts."""
    return {k: (synthesis_fingerprint or {}).get(k) for k in ("input.clips", "input.clip_counts")}


def shared_pack(layout, dataset, rows, made):
    """The template's pack a head's pack can link to (``Layout.head``), or None.

    It is the template's pack of ``dataset`` in the same folder, current for
    the template's step-4 file, with the same clip rows (``rows``) made from
    the same clips (the step-4 files' ``input.clips`` and ``input.clip_counts``,
    ``made`` being the head's step-4 fingerprint).
    """
    if layout.head is None or made is None:
        return None
    template = layout.with_head(None)
    base = template.pack_file(dataset)
    if not (base.is_file() and judge(template, dataset).current):
        return None
    try:
        base_rows, base_made = _source(template, dataset)
    except PackError:
        return None
    if rows_digest(base_rows) != rows_digest(rows) or base_made is None or _clips_of(base_made) != _clips_of(made):
        return None
    return base


def judge(layout, dataset):
    """What is on disk of the pack of ``dataset``.

    Returns
    -------
    Verdict
        ``MISSING`` (also when there is no step-4 file to pack), ``CURRENT``
        or ``STALE`` (made from another step-4 file, or incomplete: written again).
    """
    import h5py  # h5py: imported only when a pack is read or written (not by step 1's processes)
    out = layout.pack_file(dataset)
    if not layout.synthesis_file(dataset).is_file():
        return Verdict(State.MISSING, f"no {layout.synthesis_file(dataset).name}: run step 4 first")
    if not out.is_file():
        return Verdict(State.MISSING)
    try:
        rows, made = _source(layout, dataset)
    except PackError as exc:
        return Verdict(State.STALE, str(exc))
    asked = fingerprint(rows, made)
    try:
        with h5py.File(out, "r") as f:
            n_rows = f["data"].shape[0]
            stored = f.attrs.get("fingerprint")
            rows_sha = f.attrs.get("clip_rows_sha256")
    except (OSError, KeyError) as exc:
        return Verdict(State.STALE, f"{out.name} cannot be read ({exc}): written again")
    if n_rows != len(rows):
        return Verdict(State.STALE, f"{out.name} has {n_rows} rows, the step-4 file names {len(rows)}")
    if stored is None:  # made before fingerprints: its rows are what it can be judged by
        same = rows_sha == rows_digest(rows)
        return Verdict(State.CURRENT if same else State.STALE, legacy=True,
                       detail="" if same else f"{out.name} holds other clip rows: written again")
    try:
        changed = differences(parse(stored), asked, inputs=True)
    except FingerprintError as exc:
        return Verdict(State.STALE, f"{out.name}: unreadable fingerprint ({exc}): written again")
    if changed:
        return Verdict(State.STALE, f"{out.name} was made from another step-4 file: written again")
    if linked_to(out) is not None and shared_pack(layout, dataset, rows, made) != out.with_name(linked_to(out)):
        return Verdict(State.STALE, f"{out.name} links to {linked_to(out)}, which no longer holds its clips: "
                                    "written again")
    return Verdict(State.CURRENT, f"{out.name} is up to date ({len(rows)} clips)")


def linked_to(path):
    """The name of the pack whose ``data`` a pack links to (:func:`shared_pack`), or None (its own data)."""
    import h5py  # h5py: imported only when a pack is read or written (not by step 1's processes)
    try:
        with h5py.File(path, "r") as f:
            name = f.attrs.get("data_file")
    except OSError:
        return None
    return None if name is None else str(name)


def pack_clips(layout, dataset, log=print, progress_every=1000, stop=None):
    """Write the pack of the step-4 file of ``dataset``, one clip at a time.

    Memory stays at one clip whatever the number of rows: each clip file is
    read once and written to its row; the file is written under a temporary
    name and renamed when complete, so an interrupted pack leaves no file
    that could be mistaken for a finished one. A pack that is current
    (:func:`judge`) is left alone.

    Parameters
    ----------
    layout : Layout
    dataset : str
    log : callable
    progress_every : int
        Rows between progress lines.
    stop : threading.Event or None
        When set, the pack stops at the next clip: PackError, no file.

    Returns
    -------
    Path
        The HDF5 file.
    """
    import h5py  # h5py: imported only when a pack is read or written (not by step 1's processes)
    out = layout.pack_file(dataset)
    rows, made = _source(layout, dataset)
    if judge(layout, dataset).current:
        log(f"{out} is up to date ({len(rows)} clips)")
        return out
    tmp = temporary_name(out, "pack")  # one name: a re-run after an interruption starts it afresh
    base = shared_pack(layout, dataset, rows, made)  # a head's pack: the template's clips, linked, not copied
    first = None if base is not None else _load_clip(layout, *rows[0])
    try:
        with h5py.File(tmp, "w", track_order=False) as f:
            if base is not None:
                f["data"] = h5py.ExternalLink(base.name, "/data")
                f.attrs["data_file"] = base.name
            else:
                _write_rows(f, layout, rows, first, log, progress_every, stop)
            f.attrs["clip_rows_sha256"] = rows_digest(rows)
            f.attrs["fingerprint"] = canonical(fingerprint(rows, made))
        publish(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    if base is not None:
        log(f"wrote {out}: the same {len(rows)} clips as {base.name}, whose data it links to (an HDF5 external "
            f"link, {out.stat().st_size / 1e3:.0f} kB; keep the two files side by side)")
    else:
        log(f"wrote {out}: {len(rows)} clips x {first.shape[0]} samples x {first.shape[1]} regions "
            f"({out.stat().st_size / 1e6:.1f} MB)")
    return out


def _write_rows(f, layout, rows, first, log, progress_every, stop):
    """Write every clip of ``rows`` to the dataset ``data`` of the open HDF5 file ``f``, one clip a chunk."""
    data = f.create_dataset("data", shape=(len(rows),) + first.shape, dtype="f4", chunks=(1,) + first.shape,
                            track_times=False)
    for i, (region, n) in enumerate(rows):
        clip = first if i == 0 else _load_clip(layout, region, n)
        if clip.shape != first.shape:
            raise PackError(f"clip {layout.clip(region, n)} is {clip.shape}, expected {first.shape}")
        data[i] = clip
        if i == 0:
            testhook.hold("pack-row", stop=stop)
        if stop is not None and stop.is_set():
            raise PackError(f"interrupted after {i + 1} of {len(rows)} clips; nothing written")
        if (i + 1) % progress_every == 0:
            log(f"  packed {i + 1} / {len(rows)} clips")


def _load_clip(layout, region, n):
    path = layout.clip(int(region), int(n))
    try:
        return loadmat(str(path), variable_names=["data"])["data"].astype(np.float32)
    except Exception as exc:
        raise PackError(f"cannot read clip {path} ({exc})") from None


def describe(layout, dataset):
    """``(rows, bytes)`` of a pack on disk, or None."""
    import h5py  # h5py: imported only when a pack is read or written (not by step 1's processes)
    out = layout.pack_file(dataset)
    try:
        with h5py.File(out, "r") as f:
            return int(f["data"].shape[0]), out.stat().st_size
    except (OSError, KeyError):
        return None


_VERIFIED = {}  # (data file, size, mtime) -> {row: (region, clip)}: rows this process found equal to their clips


def _data_file(h5_path):
    """The identity of the file that holds a pack's rows: the pack's, or the one it links to (``linked_to``)."""
    name = linked_to(h5_path)
    path = Path(h5_path) if name is None else Path(h5_path).with_name(name)
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def check_pack(meta, layout, h5_path, n_regions, command=None):
    """Every nmm_idx row of the pack exists and equals the clip step 4 names.

    ``command`` is the command line that writes the pack, suggested when it is missing. A row this process
    has already found equal to the same clip in the same file (a head's pack links to the template's, checked
    just before by ``--verify``) is not read again.
    """
    import h5py  # h5py: imported only when a pack is read or written (not by step 1's processes)
    if not Path(h5_path).is_file():
        return [f"no pack {h5_path}: " + (f"write it with: {command}" if command else "run --pack")]
    problems = []
    rows = {}
    for (i, k), row in np.ndenumerate(meta["nmm_idx"]):
        clip = (int(meta["selected_region"][i, k, 0]), int(meta["random_samples"][i, k]))
        if rows.setdefault(int(row), clip) != clip:
            problems.append(f"pack row {row} is used for two different clips")
            return problems
    with h5py.File(h5_path, "r") as f:
        data = f["data"]
        if data.shape[1:] != (CLIP_LENGTH, n_regions):
            return [f"{h5_path}: data is {data.shape}, expected (clips, {CLIP_LENGTH}, {n_regions})"]
        verified = _VERIFIED.setdefault(_data_file(h5_path), {})
        for row, (region, n) in sorted(rows.items()):
            if not 0 <= row < data.shape[0]:
                problems.append(f"nmm_idx row {row} is outside the pack ({data.shape[0]} rows)")
                continue
            if verified.get(row) == (region, n):
                continue
            try:
                expected = load_clip(layout.clip(region, n), n_regions).astype(np.float32)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if not np.array_equal(data[row], expected):
                problems.append(f"pack row {row} differs from {layout.clip(region, n)} "
                                f"(nmm_idx of region {region} clip {n})")
            else:
                verified[row] = (region, n)
    return problems


STEP4_VARIABLES = ("selected_region", "nmm_idx", "random_samples", "scale_ratio", "mag_change", "sensor_snr",
                   "current_snr")  # what the trainer reads of a step-4 file




def file_problems(ctx):
    """What ``--verify`` finds wrong with the pack of a run (``--redo`` writes it again then)."""
    layout = ctx.layout
    try:
        meta = read_synthesis(layout.synthesis_file(ctx.settings.dataset))
    except ValueError as exc:
        return [str(exc)]
    try:
        return check_pack(meta, layout, layout.pack_file(ctx.settings.dataset), ctx.template.n_regions)
    except OSError as exc:
        return [f"{layout.pack_file(ctx.settings.dataset).name} cannot be read ({exc})"]


def sweep(layout, dataset):
    """Delete what a killed pack of ``dataset`` left (its temporary file), under the dataset's claim."""
    return sweep_temporaries(layout.output, layout.pack_file(dataset).stem)


def manifest_entry(layout, dataset):
    """The manifest's entry (``store/manifest.py``) of the pack of ``dataset``, from the file; None without one."""
    packed = describe(layout, dataset)
    if packed is None:
        return None
    return {"file": layout.pack_file(dataset).name, "rows": packed[0], "bytes": packed[1],
            "current": judge(layout, dataset).current}


class Pack(Step):
    """The pack (unit: the dataset): the clips the step-4 file uses, in the HDF5 file the trainer reads."""

    name, title, unit = NAME, "PACK", Unit.DATASET
    role, label = "the clip pack the trainer reads", "Clip pack"

    def outputs(self, ctx, unit):
        return [ctx.layout.pack_file(unit)]

    def judge(self, ctx, unit):
        return judge(ctx.layout, unit)

    def banner(self, ctx, unit, verdict=None):
        return f"PACK: Writing {ctx.layout.pack_file(unit).name} for the trainer"

    def run(self, ctx, unit):
        """The pack of the step-4 file; a Result."""
        layout = ctx.layout
        verdict = judge(layout, unit)
        if not layout.synthesis_file(unit).is_file():
            return Result(Status.FAILED, f"no {layout.synthesis_file(unit).name} in {layout.output}: run step 4 "
                                         f"first ({commands.suggest(ctx, '--synthesis-only')})")
        failing = file_problems(ctx) if verdict.current and ctx.redo else []
        if verdict.current and not failing:
            say(f"{layout.pack_file(unit)} is up to date")
            return Result(Status.SKIPPED)
        if failing:  # --redo repairs what --verify finds
            layout.pack_file(unit).unlink()
            say(f"--redo: {layout.pack_file(unit).name} fails --verify's checks ({'; '.join(failing[:3])}): "
                "deleted, written again")
        elif verdict.detail:
            say(verdict.detail)
        start = time.time()
        try:
            pack_clips(layout, unit, log=say, stop=children.STOP)
        except PackError as exc:
            return Result(Status.INTERRUPTED) if children.STOP.is_set() else Result(Status.FAILED, str(exc))
        return Result(Status.DONE, seconds=time.time() - start)

    def sweep(self, layout, unit):
        return sweep(layout, unit)

    def checks(self, ctx, found):
        """Every row of the pack that ``nmm_idx`` names equals the clip step 4 names."""
        layout, dataset, fixes = ctx.layout, ctx.settings.dataset, found["commands"]
        meta, pack_file = found["meta"], layout.pack_file(dataset)
        try:
            problems = check_pack(meta, layout, pack_file, ctx.template.n_regions, fixes.get("pack"))
        except OSError as exc:
            problems = [f"{pack_file.name} cannot be read ({exc})"]
        return [("pack rows equal their clips", problems, f"{len(np.unique(meta['nmm_idx']))} rows checked",
                 fixes.get("pack_redo") if pack_file.is_file() else None)]


STEP = Pack()
