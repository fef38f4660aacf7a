"""Check a finished output folder against the contract DeepSIF's trainer relies on.

Each check returns a list of problems (empty when it passes); ``verify``
runs them all and returns rows for a table: (check, status, detail).
"""

from pathlib import Path

import h5py
import numpy as np
from scipy.io import loadmat

from deepsif_pipeline import science
from deepsif_pipeline.head.anatomy import distance_file, leadfield_id, load_distances
from deepsif_pipeline.results import State
from deepsif_pipeline.steps import extract, synthesise
from deepsif_pipeline.steps.extract import clip_content_problem, clip_counts
from deepsif_pipeline.store import manifest

PAD = science.PAD_VALUE            # padding of selected_region and mag_change
CLIP_LENGTH = science.CLIP_LENGTH  # samples per clip


def check_markers(layout, n_regions):
    """Every region has its markers and exactly the clip files the last one counts.

    Returns
    -------
    problems : list of str
    counts : numpy.ndarray
        ``(n_regions,)`` clip counts, -1 where a region is not done.
    damaged : list of int
        Regions with a damaged marker, a counted clip missing or a clip no marker counts.
    """
    counts, others = clip_counts(layout, n_regions)
    damaged = sorted(r for r, v in others.items() if v.state is State.DAMAGED)
    problems = [others[r].detail for r in damaged]
    missing = np.flatnonzero(counts < 0)
    if missing.size > len(problems):
        problems.append(f"{missing.size} regions are not done: markers missing (first: region {missing[0]})")
    for r in np.flatnonzero(counts >= 0):
        folder = layout.clip_dir(r)
        on_disk = {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.is_dir() else set()
        expected = {layout.clip(r, n).name for n in range(1, counts[r] + 1)}
        if on_disk != expected:
            lost, extra = sorted(expected - on_disk), sorted(on_disk - expected)
            problems.append(f"region {r}: marker counts {counts[r]} clips but "
                            + (f"{layout.clip_dir(r) / lost[0]} is missing" if lost else
                               f"{layout.clip_dir(r) / extra[0]} is not counted by any marker"))
            damaged.append(int(r))
    return problems, counts, sorted(damaged)


def load_clip(path, n_regions):
    """A clip's data, or raise ValueError saying what is wrong with the file (``extract.clip_content_problem``)."""
    problem = clip_content_problem(path, n_regions)
    if problem:
        raise ValueError(problem)
    return loadmat(str(path), variable_names=["data"])["data"]


def check_clips(layout, counts, n_regions):
    """Every counted clip is a readable 500 x regions array of finite values.

    Returns
    -------
    problems : list of str
    regions : list of int
        The regions with such a clip.
    """
    problems, regions = [], []
    for r in np.flatnonzero(counts > 0):
        for n in range(1, counts[r] + 1):
            path = layout.clip(r, n)
            if path.is_file():
                problem = clip_content_problem(path, n_regions)
                if problem:
                    problems.append(problem)
                    regions.append(int(r))
                    break  # the region is made again from this clip's mean iteration on
    return problems, regions


def check_synthesis(meta, counts, distances):
    """Sizes, padding, clip choices and magnitudes of a step-4 file.

    ``distances`` is the template's ``raw_dis_matrix`` (regions x regions).
    """
    problems = []
    sr, mag = meta["selected_region"], meta["mag_change"]
    n_ex, n_src = sr.shape[:2]
    for name in ("nmm_idx", "random_samples"):
        if meta[name].shape != (n_ex, n_src):
            problems.append(f"{name} is {meta[name].shape}, expected {(n_ex, n_src)}")
    for name in ("sensor_snr", "current_snr"):
        if meta[name].shape != (n_ex, 1):
            problems.append(f"{name} is {meta[name].shape}, expected {(n_ex, 1)}")
    if mag.shape != sr.shape or meta["scale_ratio"].shape[:2] != (n_ex, n_src):
        problems.append(f"mag_change {mag.shape} / scale_ratio {meta['scale_ratio'].shape} do not match "
                        f"selected_region {sr.shape}")
        return problems
    pad = sr == PAD
    n_real = (~pad).sum(axis=2)
    if np.any(pad != (np.arange(sr.shape[2]) >= n_real[..., None])) or np.any(n_real == 0):
        problems.append(f"selected_region: padding {PAD} must follow the patch regions, centre first")
    if np.any((mag == PAD) != pad):
        problems.append("mag_change is padded where selected_region is not (or the reverse)")
    centres = sr[:, :, 0].astype(int)
    if np.any(counts[centres] <= 0):
        problems.append("a source centre is a region without clips")
    elif np.any(meta["random_samples"] < 1) or np.any(meta["random_samples"] > counts[centres]):
        problems.append("random_samples names a clip its region does not have")
    if not np.allclose(mag[:, :, 0], 1.0):
        problems.append("mag_change is not 1 at the centre")
    else:
        flat_sr, flat_mag = sr.reshape(-1, sr.shape[2]), mag.reshape(-1, sr.shape[2])
        for row in range(flat_sr.shape[0]):
            ids = flat_sr[row][flat_sr[row] != PAD].astype(int)
            order = np.argsort(distances[ids[0], ids], kind="stable")
            if np.any(np.diff(flat_mag[row][: len(ids)][order]) > 1e-12):
                problems.append(f"mag_change increases with distance (example {row // n_src}, "
                                f"source {row % n_src})")
                break
    if not np.all(np.isfinite(meta["scale_ratio"])) or np.any(meta["scale_ratio"] <= 0):
        problems.append("scale_ratio has non-finite or non-positive values")
    return problems


def check_pack(meta, layout, h5_path, n_regions, command=None):
    """Every nmm_idx row of the pack exists and equals the clip step 4 names.

    ``command`` is the command line that writes the pack, suggested when it is missing.
    """
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
        for row, (region, n) in sorted(rows.items()):
            if not 0 <= row < data.shape[0]:
                problems.append(f"nmm_idx row {row} is outside the pack ({data.shape[0]} rows)")
                continue
            try:
                expected = load_clip(layout.clip(region, n), n_regions).astype(np.float32)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if not np.array_equal(data[row], expected):
                problems.append(f"pack row {row} differs from {layout.clip(region, n)} "
                                f"(nmm_idx of region {region} clip {n})")
    return problems


STEP4_VARIABLES = ("selected_region", "nmm_idx", "random_samples", "scale_ratio", "mag_change", "sensor_snr",
                   "current_snr")  # what the trainer reads of a step-4 file


def read_synthesis(path):
    """A step-4 file's variables, or raise ValueError saying why it cannot serve the trainer."""
    try:
        meta = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for broken files
        raise ValueError(f"{Path(path).name} cannot be read ({type(exc).__name__}: {exc})") from None
    absent = [v for v in STEP4_VARIABLES if v not in meta]
    if absent:
        raise ValueError(f"{Path(path).name} lacks {', '.join(absent)}")
    return meta


def synthesis_problems(ctx, counts):
    """What ``--verify`` finds wrong with the step-4 file of a run (``--redo`` makes it again then).

    ``counts``: ``(n_regions,)`` the regions' clip counts.
    """
    layout, template = ctx.layout, ctx.template
    try:
        meta = read_synthesis(layout.synthesis_file(ctx.settings.dataset))
    except ValueError as exc:
        return [str(exc)]
    distances = load_distances(distance_file(template, layout.derived_dir))
    return check_synthesis(meta, np.asarray(counts), distances)


def pack_problems(ctx):
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


def check_leadfield(layout, template, leadfield, counts, meta=None):
    """The lead field this check uses is the one the clips and the step-4 file were made with.

    The lead field (the template's, or the one made for ``--sensors`` in
    ``derived/``) must be sensors x regions and finite; its content must be
    the one the manifest records for the clip set (step 2 scaled the
    spikes with it) and the one the step-4 file names (``leadfield_id``,
    its scale ratios); the clips' sensor projections (``proj``) have its
    sensor count. The trainer must project with this same matrix.

    Parameters
    ----------
    leadfield : deepsif_pipeline.head.leadfields.LeadField
    counts : numpy.ndarray
        ``(n_regions,)`` clip counts, -1 where a region is not done.
    meta : dict or None
        The step-4 file's variables, when there is one.

    Returns
    -------
    problems : list of str
    detail : str
        What it is, for the passing row.
    """
    path = leadfield.path
    try:
        fwd = np.asarray(loadmat(str(path), variable_names=["fwd"])["fwd"], dtype=float)
    except Exception as exc:  # scipy raises several types for broken files
        return [f"{path} cannot be read ({type(exc).__name__}: {exc})"], ""
    if fwd.ndim != 2 or fwd.shape[1] != template.n_regions or not np.all(np.isfinite(fwd)):
        return [f"{path.name}: fwd is {fwd.shape}{'' if np.all(np.isfinite(fwd)) else ' with non-finite values'}, "
                f"expected sensors x {template.n_regions} regions, finite"], ""
    made = leadfield_id(path)
    problems = []
    recorded = (manifest.clip_set(manifest.read(layout), layout.filename) or {}).get("settings", {})
    if recorded.get("template.leadfield") not in (None, made):
        problems.append(f"the clips were made with another lead field than {path.name} (the manifest records "
                        f"{recorded['template.leadfield']}, {path.name} is {made})")
    if meta is not None and "leadfield_id" in meta:
        named = str(np.asarray(meta["leadfield_id"]).ravel()[0])
        if named != made:
            problems.append(f"the step-4 file was made with another lead field ({named}) than {path.name} ({made})")
    with_clips = np.flatnonzero(counts > 0)
    if with_clips.size:
        r = int(with_clips[0])
        proj = loadmat(str(layout.clip(r, 1)), variable_names=["proj"]).get("proj")
        if proj is not None and np.asarray(proj).shape[0] != fwd.shape[0]:
            problems.append(f"{layout.clip(r, 1)}: proj has {np.asarray(proj).shape[0]} sensors, {path.name} "
                            f"{fwd.shape[0]}")
    return problems, (f"{path.name} ({leadfield.source.about()}): {fwd.shape[0]} sensors x {fwd.shape[1]} regions, the one the clips "
                      f"{'and the step-4 file ' if meta is not None else ''}were made with: give the trainer this "
                      "file")


def check_manifest(layout):
    """Where the folder disagrees with its manifest (``store.manifest.check``, with the steps' entries)."""
    return manifest.check(layout, layout.filename, extract.manifest_entry, synthesise.manifest_entry)


def verify(layout, template, leadfield, dataset, distances, commands=None):
    """Run every check on an output folder.

    ``distances`` is the template's ``raw_dis_matrix`` (:func:`deepsif_pipeline.anatomy.distance_file`).
    ``commands`` are the command lines that make what a failing check needs, given in its row:
    ``'synthesis'`` and ``'pack'`` (a missing step-4 file or pack), ``'synthesis_redo'`` and
    ``'pack_redo'`` (one that fails its checks), and ``'repair'``, a callable giving the command
    that makes the damaged markers and clips of a list of regions again.

    Returns
    -------
    list of tuple
        ``(check, ok, detail)`` rows; ``ok`` is False when a check failed and
        ``detail`` names the first problems, then the command that repairs them.
    """
    rows = []
    commands = commands or {}

    def add(name, problems, passed_detail, fix=None):
        detail = passed_detail if not problems else "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        rows.append((name, not problems, detail + (f"; make them again with: {fix}" if problems and fix else "")))

    def repair(regions):
        return commands["repair"](regions) if regions and "repair" in commands else None

    add("manifest agrees with the files", check_manifest(layout),
        f"{layout.manifest.name} lists every region, step-4 file and pack as they are")
    problems, counts, damaged = check_markers(layout, template.n_regions)
    done = counts >= 0
    # a region done without the last mean iteration's marker had the clips step 4 reads before it
    early = [r for r in np.flatnonzero(done) if not layout.marker(science.MEAN_ITERATIONS[-1], r).is_file()]
    add("markers match clip files", problems, f"{int(done.sum())} regions, {int(counts[done].sum())} clips"
        + (f"; {len(early)} regions stopped early (later mean iterations not needed: the clips step 4 reads "
           "reached)" if early else ""), repair(damaged))
    problems, bad_clips = check_clips(layout, counts, template.n_regions)
    add("clips are 500 x regions, finite", problems, f"{int(counts[done].sum())} clips read", repair(bad_clips))
    synthesis = layout.synthesis_file(dataset)
    if not synthesis.is_file():
        rows.append(("synthetic source file", False, f"no {synthesis}"
                     + (f": make it with: {commands['synthesis']}" if "synthesis" in commands else "")))
        return rows
    try:
        meta = read_synthesis(synthesis)
    except ValueError as exc:
        rows.append(("synthetic source file", False, str(exc)
                     + (f": make it again with: {commands['synthesis_redo']}" if "synthesis_redo" in commands else "")))
        return rows
    problems, detail = check_leadfield(layout, template, leadfield, counts, meta)
    add("lead field", problems, detail)
    problems = check_synthesis(meta, counts, distances)
    add("synthetic source fields", problems,
        f"{meta['selected_region'].shape[0]} examples x {meta['selected_region'].shape[1]} sources",
        commands.get("synthesis_redo"))
    pack_file = layout.pack_file(dataset)
    try:
        problems = check_pack(meta, layout, pack_file, template.n_regions, commands.get("pack"))
    except OSError as exc:
        problems = [f"{pack_file.name} cannot be read ({exc})"]
    add("pack rows equal their clips", problems, f"{len(np.unique(meta['nmm_idx']))} rows checked",
        commands.get("pack_redo") if pack_file.is_file() else None)
    return rows
