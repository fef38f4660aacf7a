"""A patient's own head (``--subject DIR --trans FILE --sensors SPEC``): a BEM of the subject's surfaces, the gain of
its source space.

The source space (``pos``, ``ori``, ``rm``: the subject's cortex in its MRI
frame, each source with its template region) is given as arrays, however it
was made. This module makes the head model of the subject
(:func:`subject_bem`: ``SUBJECT/bem/*.surf`` as ``mne watershed_bem`` leaves
them, or a given ``-bem-sol.fif``), checks that the cortex, the head model and
the sensors belong to one head (:func:`check_inside`,
:func:`check_sensors_outside`), and makes DeepSIF's region lead field of it
(:func:`patient_region_leadfield`): MNE's forward solution, fixed along the
cortex orientations, summed per region (``recipe``), then finished as every
made lead field (``sensors.finished``).

Frames: the source space and the BEM are in the subject's MRI frame
(FreeSurfer's surface RAS, metres); the sensors are in MNE's head frame; the
``--trans`` file relates them (:func:`read_trans` gives it as MRI -> head).
"""

from pathlib import Path

import mne
import numpy as np

from deepsif_pipeline.head.leadfields.base import DEFAULT_CONDUCTIVITY, LeadFieldError
from deepsif_pipeline.head.leadfields.bem import fixed_vertex_gain, read_bem
from deepsif_pipeline.head.leadfields.sensors import NO_FIDUCIALS, finished, sensor_positions
from deepsif_pipeline.head.recipe import sum_regions

FIFF = mne.io.constants.FIFF
SURFACES = ("inner_skull", "outer_skull", "outer_skin")  # SUBJECT/bem/NAME.surf, inside out
SCALP_TOLERANCE = 0.007  # m: electrodes may lie this far inside the scalp (see check_sensors_outside)
TRANS_FIX = "make it with mne coreg (it saves SUBJECT-trans.fif)"


def read_trans(path):
    """The head <-> MRI transform of ``--trans`` (``mne.read_trans``), returned as MRI -> head.

    Parameters
    ----------
    path : str or Path
        An MNE ``-trans.fif`` (as ``mne coreg`` saves it, head -> MRI).

    Returns
    -------
    mne.transforms.Transform
        MRI -> head (4 x 4, metres).

    Raises
    ------
    LeadFieldError
        A missing file, or one MNE does not read as a head <-> MRI transform.
    """
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise LeadFieldError(f"--trans {path}: no such file; {TRANS_FIX}")
    try:
        trans = mne.read_trans(str(path), verbose="error")
    except Exception as exc:  # MNE raises several types for files that are not transforms
        raise LeadFieldError(f"--trans {path}: not an MNE head <-> MRI transform ({type(exc).__name__}); "
                             f"{TRANS_FIX}") from None
    if {trans["from"], trans["to"]} != {FIFF.FIFFV_COORD_HEAD, FIFF.FIFFV_COORD_MRI}:
        raise LeadFieldError(f"--trans {path}: a transform between other frames than head and MRI; {TRANS_FIX}")
    return trans if trans["from"] == FIFF.FIFFV_COORD_MRI else mne.transforms.invert_transform(trans)


def _is_eeg(info):
    return "eeg" in set(info.get_channel_types())


def subject_bem(subject_dir, info, bem=None, conductivity=DEFAULT_CONDUCTIVITY, ico=None):
    """The BEM solution of a FreeSurfer subject: a given ``-bem-sol.fif``, else made from its ``bem/*.surf``.

    EEG needs the three layers (``bem/inner_skull.surf``, ``outer_skull.surf``,
    ``outer_skin.surf``, conductivities ``conductivity``); MEG alone (no EEG
    channel) the inner skull alone, with the first conductivity.

    Parameters
    ----------
    subject_dir : str or Path
        The subject's FreeSurfer folder (``SUBJECTS_DIR/SUBJECT``).
    info : mne.Info
        The sensors: EEG channels ask for three layers.
    bem : str or Path, optional
        An MNE BEM solution (``-bem-sol.fif``, ``--bem``) used instead of the surfaces.
    conductivity : tuple of float
        S/m, inside out.
    ico : int, optional
        Passed to ``mne.make_bem_model`` (None: the surfaces as they are; 4: downsampled to
        5,120 triangles, for surfaces in ico topology as ``mne watershed_bem`` makes them).

    Returns
    -------
    solution : mne.bem.ConductorModel
        MRI frame.
    description : str
        The head model, for people (the ``head_model`` of the provenance).

    Raises
    ------
    LeadFieldError
        No such folder, a missing surface, surfaces MNE does not make a BEM of,
        a BEM solution with too few layers for EEG.
    """
    eeg = _is_eeg(info)
    if bem is not None:
        solution = read_bem(bem)
        if eeg and len(solution["surfs"]) < 3:
            raise LeadFieldError(f"--bem {bem}: {len(solution['surfs'])} layer(s); EEG needs the 3 of a BEM (inner "
                                 "skull, outer skull, scalp): make it with mne.make_bem_model(..., conductivity=(0.3, "
                                 "0.006, 0.3))")
        return solution, f"MNE BEM solution {Path(str(bem)).name}: {_layers(solution)}"
    folder = Path(str(subject_dir)).expanduser()
    if not folder.is_dir():
        raise LeadFieldError(f"--subject {folder}: no such folder; give a FreeSurfer subject folder (SUBJECTS_DIR/"
                             "SUBJECT)")
    names = SURFACES if eeg else SURFACES[:1]
    conductivity = tuple(conductivity) if eeg else tuple(conductivity)[:1]
    for name in names:
        if not (folder / "bem" / f"{name}.surf").is_file():
            raise LeadFieldError(f"--subject {folder}: no bem/{name}.surf; make the BEM surfaces with mne "
                                 f"watershed_bem -s {folder.name} -d {folder.parent}")
    try:
        model = mne.make_bem_model(folder.name, ico=ico, conductivity=conductivity, subjects_dir=str(folder.parent),
                                   verbose="error")
        for surf in model:  # FreeSurfer's files are big-endian: MNE's numba MEG fields refuse '>i4' triangles
            surf["tris"] = np.ascontiguousarray(surf["tris"], dtype=np.int64)
            surf["rr"] = np.ascontiguousarray(surf["rr"], dtype=np.float64)
        solution = mne.make_bem_solution(model, verbose="error")
    except Exception as exc:  # MNE raises several types for surfaces it cannot use
        raise LeadFieldError(f"--subject {folder}: MNE makes no BEM of bem/{', '.join(n + '.surf' for n in names)} "
                             f"({type(exc).__name__}): they must be closed and nested without touching (inner "
                             f"skull inside outer skull inside scalp); look at them with mne.viz.plot_bem or make "
                             f"them again with mne watershed_bem") from None
    return solution, (f"BEM of {folder.name}'s bem/{', '.join(n + '.surf' for n in names)}: {_layers(solution)} "
                      "(mne.make_bem_model, mne.make_bem_solution)")


def _layers(solution):
    """``3 layer(s), 5120/5120/5120 triangles, conductivities 0.3, 0.006, 0.3 S/m`` (scalp first, as MNE orders)."""
    surfs = solution["surfs"]
    triangles = "/".join(str(len(s["tris"])) for s in surfs)
    sigmas = ", ".join(f"{s['sigma']:g}" for s in surfs)
    return f"{len(surfs)} layer(s), {triangles} triangles, conductivities {sigmas} S/m"


def _surface(solution, surf_id):
    """The BEM surface with MNE's id (``FIFFV_BEM_SURF_ID_BRAIN``: inner skull, ``..._HEAD``: scalp), or None."""
    return next((s for s in solution["surfs"] if s["id"] == surf_id), None)


def _inner_skull(solution):
    """The inner skull (a 1-layer BEM's only surface)."""
    surf = _surface(solution, FIFF.FIFFV_BEM_SURF_ID_BRAIN)
    return surf if surf is not None else solution["surfs"][-1]


def _distance(points, surf):
    """``(n,)`` metres from each point to the nearest point of the surface."""
    points = np.ascontiguousarray(points, dtype=float)
    nearest = mne.surface._project_onto_surface(points, surf, project_rrs=True, method="accurate")[2]
    return np.linalg.norm(points - nearest, axis=1)


def _signed_distance(points, surf):
    """``(n,)`` metres from each point to the closed surface: negative inside, positive outside."""
    points = np.ascontiguousarray(points, dtype=float)
    inside = mne.surface._CheckInside(surf)(points, verbose="error")
    return np.where(inside, -1.0, 1.0) * _distance(points, surf)


def check_inside(pos, bem):
    """Refuse a cortex that does not lie inside the BEM's inner skull (the source space and the BEM of one head).

    Parameters
    ----------
    pos : array, shape (n_sources, 3)
        Metres, the subject's MRI frame.
    bem : mne.bem.ConductorModel
        MRI frame.

    Raises
    ------
    LeadFieldError
        How many sources lie outside and the farthest of them.
    """
    pos = np.ascontiguousarray(pos, dtype=float)
    inner = _inner_skull(bem)
    outside = ~mne.surface._CheckInside(inner)(pos, verbose="error")
    if outside.any():
        farthest = _distance(pos[outside], inner).max()
        raise LeadFieldError(f"--subject: {int(outside.sum())} of the {len(pos)} sources lie outside the BEM's inner "
                             f"skull, the farthest by {1000 * farthest:.1f} mm: the source space and the BEM are "
                             "not of one head; make both from the same FreeSurfer subject")


def check_sensors_outside(info, trans, bem, spec=None):
    """Refuse sensors that do not sit on (EEG) or outside (MEG) the head the BEM describes.

    EEG electrodes, brought into the MRI frame by ``trans``, may lie up to
    :data:`SCALP_TOLERANCE` inside the scalp (electrodes sit on the scalp, and
    MNE projects them onto it; MNE's montages made for fsaverage lie up to
    1.7 mm inside its scalp, ``standard_1020``'s up to 6.6 mm), not deeper. MEG
    sensors must lie outside the BEM's outermost surface (the scalp, or
    the inner skull of a 1-layer BEM).

    Parameters
    ----------
    info : mne.Info
        The sensors, MNE's head frame (MEG: device frame and ``dev_head_t``).
    trans : mne.transforms.Transform
        MRI -> head.
    bem : mne.bem.ConductorModel
        MRI frame.
    spec : str, optional
        ``--sensors``'s value, for the message.

    Raises
    ------
    LeadFieldError
        Sensors without positions, or inside the head (how many, how deep, the deepest's name).
    """
    what = f"--sensors {spec}" if spec is not None else "--sensors"
    positions = sensor_positions(info)
    placed = np.all(np.isfinite(positions), axis=1) & np.any(positions != 0, axis=1)
    if not placed.all():
        missing = [name for name, ok in zip(info["ch_names"], placed) if not ok]
        raise LeadFieldError(f"{what}: no positions for {len(missing)} of its {len(placed)} sensors "
                             f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); give a montage or "
                             "digitisation file with them")
    in_mri = mne.transforms.apply_trans(mne.transforms.invert_transform(trans), positions)
    if _is_eeg(info):
        scalp = _surface(bem, FIFF.FIFFV_BEM_SURF_ID_HEAD)
        if scalp is None:
            raise LeadFieldError(f"{what}: EEG needs the scalp of a 3-layer BEM; this one has {len(bem['surfs'])} "
                                 "layer(s)")
        depth = -_signed_distance(in_mri, scalp)
        deep = depth > SCALP_TOLERANCE
        if deep.any():
            worst = int(np.argmax(depth))
            raise LeadFieldError(f"{what}: {int(deep.sum())} of its {len(depth)} electrodes lie more than "
                                 f"{1000 * SCALP_TOLERANCE:g} mm inside the scalp, up to {1000 * depth[worst]:.1f} mm "
                                 f"({info['ch_names'][worst]}): they are not on this head; check --trans (mne coreg) "
                                 "and give the electrodes' digitised positions")
        return
    outer = bem["surfs"][0]
    depth = -_signed_distance(in_mri, outer)
    inside = depth > 0
    if inside.any():
        worst = int(np.argmax(depth))
        raise LeadFieldError(f"{what}: {int(inside.sum())} of its {len(depth)} MEG sensors lie inside the head, up to "
                             f"{1000 * depth[worst]:.1f} mm ({info['ch_names'][worst]}): check --trans (mne coreg) "
                             "and the recording's device-to-head transform")


def patient_vertex_gain(pos, ori, info, trans, bem):
    """The fixed-orientation gain of the subject's sources (``bem.fixed_vertex_gain``, as ``--bem`` makes it).

    Parameters
    ----------
    pos : array, shape (n_sources, 3)
        Metres, the subject's MRI frame.
    ori : array, shape (n_sources, 3)
        Orientations (cortex normals), MRI frame; turned into the head frame by ``trans``.
    info : mne.Info
        The sensors, MNE's head frame.
    trans : mne.transforms.Transform
        MRI -> head.
    bem : mne.bem.ConductorModel
        MRI frame.

    Returns
    -------
    array, shape (n_sensors, n_sources)
        V (EEG), T or T/m (MEG) per A.m.

    Raises
    ------
    LeadFieldError
        Sources outside the inner skull (MNE leaves them out of its solution).
    """
    pos = np.asarray(pos, dtype=float)
    gain, outside = fixed_vertex_gain(pos, ori, info, trans, bem)
    if outside:
        raise LeadFieldError(f"--subject: {outside} of the {len(pos)} sources lie outside the BEM's inner skull: the "
                             "source space and the BEM are not of one head; make both from the same FreeSurfer "
                             "subject")
    return gain


def patient_region_leadfield(pos, ori, rm, n_regions, info, trans, bem, spec=None, head_model=None):
    """DeepSIF's region lead field of a patient: checked, vertex gain, summed per region, finished.

    Parameters
    ----------
    pos : array, shape (n_sources, 3)
        Metres, the subject's MRI frame.
    ori : array, shape (n_sources, 3)
        Orientations, MRI frame.
    rm : array of int, shape (n_sources,)
        0-based template region of each source.
    n_regions : int
    info : mne.Info
        The sensors, MNE's head frame.
    trans : mne.transforms.Transform
        MRI -> head (:func:`read_trans`).
    bem : mne.bem.ConductorModel
        MRI frame (:func:`subject_bem`).
    spec : str, optional
        ``--sensors``'s value, for messages.
    head_model : str, optional
        :func:`subject_bem`'s description (default: the BEM's layers).

    Returns
    -------
    fwd : array, shape (n_sensors, n_regions)
        Finished as every made lead field (``sensors.finished``: EEG average reference, MEG noise units);
        a region without source has a zero column.
    provenance : dict
        ``head_model``, ``placement``, ``moved`` (0), ``farthest`` (0.0), ``reference``, ``row_scale``
        (MEG), ``empty_regions`` (0-based regions without a source).

    Raises
    ------
    LeadFieldError
        :func:`check_inside`, :func:`check_sensors_outside`, :func:`patient_vertex_gain`.
    """
    pos = np.asarray(pos, dtype=float)
    rm = np.asarray(rm).astype(int).ravel()
    if len(rm) != len(pos) or np.shape(ori) != pos.shape:
        raise LeadFieldError(f"--subject: {len(pos)} source positions, {len(ori)} orientations and {len(rm)} "
                             "regions: the source space is not whole")
    check_inside(pos, bem)
    check_sensors_outside(info, trans, bem, spec)
    gain = patient_vertex_gain(pos, ori, info, trans, bem)
    fwd, about = finished(sum_regions(gain, rm, n_regions), info)
    empty = np.setdiff1d(np.arange(n_regions), rm)
    placement = ("the subject's cortex and BEM in its MRI frame, the sensors in MNE's head frame, related by "
                 "--trans (MRI -> head)")
    if info.get("description") == NO_FIDUCIALS:
        placement = f"{placement}; the sensors had {NO_FIDUCIALS}"
    if len(empty):
        placement = (f"{placement}; {len(empty)} region(s) without a source, zero columns: "
                     f"{', '.join(str(r) for r in empty[:10])}{', ...' if len(empty) > 10 else ''} (0-based)")
    return fwd, {**about, "head_model": head_model or f"MNE BEM solution: {_layers(bem)}",
                 "placement": placement, "moved": 0, "farthest": 0.0, "empty_regions": empty}
