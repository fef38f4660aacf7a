"""The lead field of ``--sensors SPEC``, from what a lab has: a cap's name, a montage file, a recording, a forward solution.

Reading the sensors with MNE-Python and the checks every sensor set must
pass; the head model (MNE's multi-layer sphere fitted to the sensors, or
an MNE BEM solution with ``--bem``) and the template's cortex in the
sensors' frame; a user's forward solution matched to the template's
vertices; the made lead field as a file, found again by its inputs. The
two steps of DeepSIF's recipe that turn a vertex gain into a region lead
field
(``misc_scripts/forward_prepare_lfd_matrix.m`` in the DeepSIF repository,
summarised in ``../shared/docs/deepsif-method.md``):

1. fix each vertex along its cortex orientation (``lfd_free2fix``):
   :func:`fix_orientations`;
2. sum the fixed gains of the vertices of each region (``fwd_to_rmfwd``):
   :func:`sum_regions`.

An EEG lead field is then referenced to the average of its EEG sensors
(:func:`average_reference`). MNE is imported only by the functions that
need it.
"""

import difflib
from pathlib import Path

import numpy as np

MIN_SENSORS = 8  # fewer sensors cannot localise sources (DeepSIF's smallest cap has 32)
HEAD_RADIUS_M = (0.05, 0.2)  # radii of a sphere fitted to sensors on a human head, in metres
MIN_COVERAGE_DEG = 45.0  # sensors reach at least this angle from their mean direction: they surround the head


class SensorError(Exception):
    """The sensors cannot be used: one line saying what and how to fix it."""


def montage_names():
    """The names of MNE's standard montages (caps), e.g. ``standard_1020``, ``biosemi64``."""
    from mne.channels import get_builtin_montages
    return list(get_builtin_montages())


def read_sensors(spec):
    """The EEG or MEG sensors named by ``spec``, as an ``mne.Info`` holding only them, with positions.

    Parameters
    ----------
    spec : str or Path
        An MNE standard montage name (:func:`montage_names`), a montage or
        digitisation file MNE reads (``.elc``, ``.sfp``, ``.loc``, ``.bvef``,
        ``.csd``, ``.elp``, ``.hpts``, ``.fif``, ...), or a recording or
        ``-info.fif`` whose EEG or MEG sensors are used.

    Returns
    -------
    mne.Info
        Its channels: the EEG sensors, or else the MEG ones (magnetometers
        and gradiometers), with positions in the head frame (metres).

    Raises
    ------
    SensorError
        An unknown montage name (with the closest names), an unreadable
        file, fewer than :data:`MIN_SENSORS` sensors with positions, or
        sensors that do not surround a head (:func:`check_positions`).
    """
    import mne
    text = str(spec)
    path = Path(text).expanduser()
    if not path.exists():
        import warnings
        try:
            with warnings.catch_warnings():  # an older name MNE still takes (standard_1020 = colin27_1020)
                warnings.simplefilter("ignore", FutureWarning)
                montage = mne.channels.make_standard_montage(text)
        except ValueError:
            if "/" in text or path.suffix:
                raise SensorError(f"--sensors {text}: no such file") from None
            names = montage_names()
            close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
            raise SensorError(f"--sensors {text}: neither a file nor one of MNE's standard montages"
                              + (f" (did you mean {', '.join(close)}?)" if close else
                                 f" ({', '.join(names[:4])}, ...; mne.channels.get_builtin_montages() lists "
                                 "them)")) from None
        return _checked(_eeg_info(montage), text)
    if path.is_dir():
        raise SensorError(f"--sensors {path}: a folder; give a montage name, a montage file or a recording")
    info = _read_file(mne, path)
    return _checked(info, str(path))


NO_FIDUCIALS = "no fiducials: its positions are taken as MNE's head frame"


def _eeg_info(montage):
    """An Info of EEG channels at the montage's positions (fiducials kept as digitisation points).

    A montage without fiducials cannot be brought into MNE's head frame: its
    positions are taken as that frame, and the Info's ``description`` says
    so (:data:`NO_FIDUCIALS`).
    """
    import warnings
    import mne
    positions = montage.get_positions()["ch_pos"]
    info = mne.create_info(list(positions), 1000.0, "eeg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        info.set_montage(montage, on_missing="ignore")
    if any("Fiducial point" in str(w.message) for w in caught):
        info["description"] = NO_FIDUCIALS
    return info


def _read_file(mne, path):
    """The Info of a recording, an ``-info.fif`` or a montage file; SensorError when MNE reads none of them."""
    errors = []
    name = path.name.lower()
    if is_forward(path):
        return forward_info(path)
    readers = []
    if name.endswith(".fif") or name.endswith(".fif.gz"):
        readers.append(("info", lambda: mne.io.read_info(str(path), verbose="error")))
        readers.append(("digitisation", lambda: _eeg_info(mne.channels.read_dig_fif(str(path)))))
    else:
        readers.append(("recording", lambda: mne.io.read_raw(str(path), preload=False, verbose="error").info))
    if name.endswith(".bvct"):
        readers.append(("digitisation", lambda: _eeg_info(mne.channels.read_dig_captrak(str(path)))))
    readers.append(("montage", lambda: _eeg_info(mne.channels.read_custom_montage(str(path)))))
    for what, read in readers:
        try:
            info = read()
        except Exception as exc:  # MNE raises many types for files it does not read
            errors.append(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        picked = _sensors_of(mne, info)
        if picked is not None:
            return picked
        errors.append(f"{what}: no EEG or MEG channel")
    raise SensorError(f"--sensors {path}: MNE reads it neither as a recording nor as a montage "
                      f"({'; '.join(errors[-2:])})")


def _sensors_of(mne, info):
    """``info`` reduced to its EEG channels, or else its MEG ones; None when it has neither."""
    for kind in ({"eeg": True, "meg": False}, {"eeg": False, "meg": True}):
        picks = mne.pick_types(info, exclude=(), ref_meg=False, **kind)  # (MEG: not CTF's or 4D's reference coils)
        if len(picks):
            return mne.pick_info(info, picks)
    return None


def sensor_positions(info):
    """``(n_sensors, 3)`` positions in metres of the Info's channels in the head frame (NaN where a channel has none).

    EEG positions are in the head frame already; MEG ones are in the device
    frame and are moved by ``info['dev_head_t']`` (:func:`device_to_head`).
    """
    return device_to_head(info, np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float))


def _checked(info, spec):
    positions = sensor_positions(info)
    placed = np.all(np.isfinite(positions), axis=1) & np.any(positions != 0, axis=1)
    if placed.sum() < MIN_SENSORS:
        raise SensorError(f"--sensors {spec}: {int(placed.sum())} sensors with a position; a lead field needs at "
                          f"least {MIN_SENSORS}")
    problem = check_positions(positions[placed])
    if problem:
        raise SensorError(f"--sensors {spec}: {problem}")
    if not placed.all():
        import mne
        info = mne.pick_info(info, np.flatnonzero(placed))
    return info


def fit_sphere(points):
    """The sphere through ``points`` in the least-squares sense (algebraic fit).

    Parameters
    ----------
    points : array, shape (n_points, 3)

    Returns
    -------
    center : array, shape (3,)
    radius : float
    """
    points = np.asarray(points, dtype=float)
    a = np.c_[2 * points, np.ones(len(points))]
    b = (points ** 2).sum(axis=1)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    center = solution[:3]
    return center, float(np.sqrt(solution[3] + center @ center))


def check_positions(positions):
    """Why sensors at ``positions`` (metres, ``(n_sensors, 3)``) do not surround a head, or None.

    They must lie on a sphere of a head's size (:data:`HEAD_RADIUS_M`,
    which also catches positions in millimetres) and reach at least
    :data:`MIN_COVERAGE_DEG` from their mean direction seen from its centre
    (a cap covers the upper head; a strip or a cluster does not).
    """
    positions = np.asarray(positions, dtype=float)
    if np.linalg.matrix_rank(positions - positions.mean(axis=0), tol=1e-6) < 3:
        return "the sensors lie on a line or a plane: they do not surround a head"
    center, radius = fit_sphere(positions)
    if not HEAD_RADIUS_M[0] <= radius <= HEAD_RADIUS_M[1]:
        hint = " (positions in millimetres? MNE wants metres)" if radius > HEAD_RADIUS_M[1] * 100 else ""
        return (f"the sphere through the sensors has a radius of {radius:.3g} m, not a head's "
                f"({HEAD_RADIUS_M[0]:g}-{HEAD_RADIUS_M[1]:g} m){hint}")
    directions = positions - center
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    mean = directions.mean(axis=0)
    mean /= np.linalg.norm(mean)
    reach = np.degrees(np.arccos(np.clip(directions @ mean, -1, 1))).max()
    if reach < MIN_COVERAGE_DEG:
        return (f"the sensors cover only {reach:.0f} degrees around their centre, less than {MIN_COVERAGE_DEG:g}: "
                "they do not surround the head")
    return None


# ---------------------------------------------------------------------------
# DeepSIF's recipe: vertex gains to a region lead field


def fix_orientations(gain, orientations):
    """Each vertex's gain along its cortex orientation (DeepSIF's ``lfd_free2fix``).

    Parameters
    ----------
    gain : array, shape (n_sensors, 3 * n_vertices)
        Free-orientation gain, columns ``3v, 3v+1, 3v+2`` the x, y, z dipoles of vertex ``v``.
    orientations : array, shape (n_vertices, 3)
        Unit orientation of each vertex (the cortex normals, ``ori``).

    Returns
    -------
    array, shape (n_sensors, n_vertices)
    """
    gain = np.asarray(gain, dtype=float)
    orientations = np.asarray(orientations, dtype=float)
    n_sensors, n_columns = gain.shape
    if n_columns != 3 * len(orientations):
        raise ValueError(f"gain has {n_columns} columns, expected 3 x {len(orientations)} vertices")
    return np.einsum("svk,vk->sv", gain.reshape(n_sensors, len(orientations), 3), orientations)


def sum_regions(fixed, mapping, n_regions):
    """The region lead field: the sum of the fixed gains of each region's vertices (DeepSIF's ``fwd_to_rmfwd``).

    Every dipole of a region carries the region's activity, so the region's
    gain is the sum of its vertices' gains.

    Parameters
    ----------
    fixed : array, shape (n_sensors, n_vertices)
    mapping : array of int, shape (n_vertices,)
        0-based region of each vertex.
    n_regions : int

    Returns
    -------
    array, shape (n_sensors, n_regions)
        A region without vertex gets a zero column.
    """
    fixed = np.asarray(fixed, dtype=float)
    mapping = np.asarray(mapping).astype(int).ravel()
    if mapping.size != fixed.shape[1]:
        raise ValueError(f"region mapping has {mapping.size} vertices, the gain {fixed.shape[1]}")
    if mapping.min() < 0 or mapping.max() >= n_regions:
        raise ValueError(f"region mapping names regions {mapping.min()}..{mapping.max()}, outside 0..{n_regions - 1}")
    membership = np.zeros((mapping.size, n_regions))
    membership[np.arange(mapping.size), mapping] = 1.0
    return fixed @ membership


def average_reference(fwd):
    """An EEG lead field referenced to the average of its sensors: each column minus its mean over the sensors.

    Parameters
    ----------
    fwd : array, shape (n_sensors, n_regions)

    Returns
    -------
    array, shape (n_sensors, n_regions)
    """
    fwd = np.asarray(fwd, dtype=float)
    return fwd - fwd.mean(axis=0, keepdims=True)


# ---------------------------------------------------------------------------
# the head model and the vertex gains (MNE's multi-layer sphere)

MARGIN_M = 0.001  # vertices are kept this far inside the sphere's brain layer


def align_by_spheres(cortex, sensor_positions):
    """The translation that puts a cortex under a sensor set whose frame differs from it by an origin.

    Both are fitted with a sphere: the sensors (they lie on the scalp) and
    the cortex's convex hull (its outer surface); the translation moves the
    cortex's centre onto the sensors'. What is assumed: both frames have
    the same axes and scale (e.g. tvb-data's cortex, centred on its mean
    vertex, and Brainstorm's sensors, origin between the ears), so that
    only the origin differs.

    Parameters
    ----------
    cortex : array, shape (n_vertices, 3)
        Metres.
    sensor_positions : array, shape (n_sensors, 3)
        Metres.

    Returns
    -------
    array, shape (3,)
        Add it to the cortex's positions.
    """
    from scipy.spatial import ConvexHull
    cortex = np.asarray(cortex, dtype=float)
    hull_center, _ = fit_sphere(cortex[ConvexHull(cortex).vertices])
    sensor_center, _ = fit_sphere(sensor_positions)
    return sensor_center - hull_center


def sphere_model(sensor_positions):
    """MNE's 4-layer sphere model (brain, CSF, skull, scalp) fitted to the sensors: centre and scalp radius."""
    import mne
    center, radius = fit_sphere(sensor_positions)
    return mne.make_sphere_model(r0=center, head_radius=radius, verbose="error")


def pull_inside(positions, sphere, margin=MARGIN_M):
    """Vertices moved radially to just inside the sphere's brain layer where they lie outside it.

    MNE leaves out the sources outside a sphere model's innermost layer; a
    sphere fitted to scalp sensors leaves the lowest vertices of a cortex
    (temporal poles, the base) outside it. Moving each of them radially
    inside keeps every vertex (a region's gain sums all of them) at the
    cost of a few millimetres for those vertices (returned, to be stated).

    Returns
    -------
    positions : array, shape (n_vertices, 3)
    moved : int
        Vertices moved.
    farthest : float
        The largest move, in metres.
    """
    positions = np.array(positions, dtype=float)
    center = np.asarray(sphere["r0"], dtype=float)
    limit = sphere["layers"][0]["rad"] - margin
    distance = np.linalg.norm(positions - center, axis=1)
    outside = distance > limit
    positions[outside] = center + (positions[outside] - center) * (limit / distance[outside])[:, None]
    return positions, int(outside.sum()), float((distance[outside] - limit).max()) if outside.any() else 0.0


def vertex_gain(info, positions, orientations, sphere):
    """The fixed-orientation gain of dipoles at the cortex vertices, from MNE's forward model.

    Parameters
    ----------
    info : mne.Info
        The sensors (:func:`read_sensors`), positions in the head frame.
    positions : array, shape (n_vertices, 3)
        Metres, in the sensors' frame and inside the sphere's brain layer (:func:`pull_inside`).
    orientations : array, shape (n_vertices, 3)
        Unit normals of the cortex.
    sphere : mne.bem.ConductorModel
        :func:`sphere_model`.

    Returns
    -------
    array, shape (n_sensors, n_vertices)
        Each vertex's gain along its orientation (:func:`fix_orientations` of MNE's free-orientation gain).
    """
    import mne
    orientations = np.asarray(orientations, dtype=float)
    orientations = orientations / np.linalg.norm(orientations, axis=1, keepdims=True)
    src = mne.setup_volume_source_space(pos={"rr": np.asarray(positions, dtype=float), "nn": orientations},
                                        verbose="error")
    kinds = set(info.get_channel_types())
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg="eeg" in kinds,
                                    meg=bool(kinds & {"mag", "grad"}), mindist=0.0, verbose="error")
    if fwd["nsource"] != len(orientations):
        raise ValueError(f"MNE left out {len(orientations) - fwd['nsource']} vertices outside the head model")
    return fix_orientations(fwd["sol"]["data"], orientations)


# ---------------------------------------------------------------------------
# MEG: sensors in the device frame, the head's sphere, one SNR across sensor types

MEG_TYPES = ("mag", "grad")
HEAD_RADIUS_DEFAULT_M = 0.09  # MNE's default head radius (mne.make_sphere_model), for a recording without head shape
SENSOR_GAP_M = 0.01  # without a head shape, the head is kept at least this far inside the nearest MEG sensor
NOISE_UNITS = ("fwd is the gain (T or T/m per A.m) divided by row_scale, MNE's ad-hoc noise of each row's sensor "
               "type (mne.make_ad_hoc_cov: magnetometers 20 fT, gradiometers 5 fT/cm = 5e-13 T/m): each row in "
               "units of its sensor's noise, so one SNR counts every sensor by the noise it has")


def is_meg(info):
    """True when the Info's channels are all MEG sensors (magnetometers and/or gradiometers)."""
    types = set(info.get_channel_types())
    return bool(types) and types <= set(MEG_TYPES)


def device_to_head(info, positions):
    """``positions`` with the rows of MEG channels moved from the device frame into the head frame.

    Parameters
    ----------
    info : mne.Info
    positions : array, shape (n_channels, 3)
        Metres; row ``i`` belongs to ``info['chs'][i]``.

    Returns
    -------
    array, shape (n_channels, 3)
        MEG rows moved by ``info['dev_head_t']`` (unchanged when the Info
        has none: :func:`with_device_to_head` states it), other rows and
        rows of zeros (no position) as given.
    """
    import mne
    from mne.io.constants import FIFF
    positions = np.array(positions, dtype=float)
    rows = [i for i, ch in enumerate(info["chs"]) if ch["kind"] == FIFF.FIFFV_MEG_CH and np.any(positions[i] != 0)]
    if rows and info["dev_head_t"] is not None:
        positions[rows] = mne.transforms.apply_trans(info["dev_head_t"], positions[rows])
    return positions


def with_device_to_head(info):
    """The Info with a device-to-head transform (a copy with the identity when it has none), and what was assumed.

    Returns
    -------
    info : mne.Info
    assumed : str
        ``''``, or the sentence saying that the device frame was taken as the head frame.
    """
    import mne
    if info["dev_head_t"] is not None:
        return info, ""
    info = info.copy()
    info["dev_head_t"] = mne.transforms.Transform("meg", "head")
    return info, "no device-to-head transform in the recording: its device frame is taken as the head frame"


def meg_head_sphere(info):
    """The head under MEG sensors as a sphere: centre and radius in the head frame, and how it was found.

    - The recording's digitisation of the head, when MNE finds at least 4
      points to fit (``mne.bem.get_fitting_dig(info, 'auto')``: the extra
      head-shape points, else those and the EEG electrodes' points; not the
      low frontal ones, nose and face): the least-squares sphere through
      them (:func:`fit_sphere`, as ``mne.bem.fit_sphere_to_headshape``).
    - Else assumed: the head centred in the helmet (the centre of the
      sphere through the sensors), of MNE's default radius
      (:data:`HEAD_RADIUS_DEFAULT_M`) or less, so that it stays
      :data:`SENSOR_GAP_M` inside the nearest sensor.

    Parameters
    ----------
    info : mne.Info
        MEG sensors (:func:`read_sensors`).

    Returns
    -------
    center : array, shape (3,)
        Metres, head frame.
    radius : float
        Metres.
    how : str
        For people.
    """
    import mne
    positions = sensor_positions(info)
    try:
        points = np.asarray(mne.bem.get_fitting_dig(info, "auto", verbose="error"), dtype=float)
    except (ValueError, RuntimeError):
        points = np.zeros((0, 3))
    if len(points) >= 4 and np.linalg.matrix_rank(points - points.mean(axis=0), tol=1e-6) == 3:
        center, radius = fit_sphere(points)
        return center, radius, (f"the sphere through the recording's {len(points)} digitised head points "
                                "(mne.bem.get_fitting_dig)")
    center, _ = fit_sphere(positions)
    nearest = float(np.linalg.norm(positions - center, axis=1).min())
    radius = min(HEAD_RADIUS_DEFAULT_M, nearest - SENSOR_GAP_M)
    return center, radius, ("no digitisation of the head in the recording: the head assumed centred in the helmet "
                            f"(the centre of the sphere through the sensors), radius {1000 * radius:.1f} mm (MNE's "
                            f"default {1000 * HEAD_RADIUS_DEFAULT_M:.0f} mm, or {1000 * SENSOR_GAP_M:.0f} mm inside "
                            "the nearest sensor)")


def meg_sphere_model(info):
    """MNE's sphere model of the head under MEG sensors (:func:`meg_head_sphere`), without layers.

    For MEG only the sphere's centre matters (Sarvas' formula: the
    conductivities and radii of its layers do not enter the field outside),
    so the model has none (MNE's ``make_sphere_model(head_radius=None)``):
    no layer bounds where the sources may be, and no vertex of the cortex
    is moved (:func:`pull_inside` is for EEG). The head's radius is used to
    refuse sensors inside the head and to count the vertices beyond it.

    Returns
    -------
    sphere : mne.bem.ConductorModel
    radius : float
        The head's radius (m).
    how : str
        For people (the lead field's ``head_model``).

    Raises
    ------
    SensorError
        Sensors inside the head's sphere (a wrong ``dev_head_t`` or digitisation).
    """
    import mne
    center, radius, how = meg_head_sphere(info)
    distance = np.linalg.norm(sensor_positions(info) - center, axis=1)
    if (distance <= radius).any():
        raise SensorError(f"--sensors: {int((distance <= radius).sum())} of {distance.size} MEG sensors lie inside the "
                          f"head ({how}): are the recording's device-to-head transform and head shape right?")
    sphere = mne.make_sphere_model(r0=center, head_radius=None, verbose="error")
    return sphere, radius, (f"MNE sphere for MEG (Sarvas: only its centre matters; no layers), centre "
                            f"({', '.join(f'{1000 * v:.1f}' for v in center)}) mm, head radius {1000 * radius:.1f} "
                            f"mm: {how}")


def sphere_points(center, radius):
    """``(6, 3)`` points on a sphere (along its axes): what :func:`align_by_spheres` fits to find ``center``."""
    return np.asarray(center, dtype=float) + radius * np.r_[np.eye(3), -np.eye(3)]


def noise_levels(info):
    """MNE's ad-hoc noise of each channel's sensor type: the ``row_scale`` of an MEG lead field.

    ``mne.make_ad_hoc_cov``'s defaults: magnetometers 20 fT, gradiometers
    5 fT/cm (5e-13 T/m), EEG 0.2 uV (standard deviations).

    Parameters
    ----------
    info : mne.Info

    Returns
    -------
    array, shape (n_channels,)
        In the channel's own unit (T, T/m, V), in ``info['ch_names']`` order.
    """
    import mne
    cov = mne.make_ad_hoc_cov(info, verbose="error")
    std = dict(zip(cov.ch_names, np.sqrt(np.asarray(cov.data, dtype=float))))
    return np.array([std[name] for name in info["ch_names"]], dtype=float)


def in_noise_units(fwd, row_scale):
    """A lead field with each row divided by its sensor's noise level, so that one SNR fits every sensor type.

    Steps 2 and 4 take the signal and background powers as sums over all
    rows (``snr_power_ratio.m``, ``patch_scale_ratio.m``): rows in T and in
    T/m cannot share those sums as they are (a gradiometer's number is ~100
    times a magnetometer's for the same source). In units of each type's
    noise, every sensor counts by its signal relative to the noise it has.
    A single scale for all rows changes no SNR ratio.

    Parameters
    ----------
    fwd : array, shape (n_sensors, n_regions)
        Physical gains (T or T/m per A.m, V per A.m).
    row_scale : array, shape (n_sensors,)
        :func:`noise_levels`, same units as the rows.

    Returns
    -------
    array, shape (n_sensors, n_regions)
        ``fwd / row_scale[:, None]`` (so ``physical = saved * row_scale[:, None]``).
    """
    fwd = np.asarray(fwd, dtype=float)
    row_scale = np.asarray(row_scale, dtype=float).ravel()
    if row_scale.shape != (fwd.shape[0],) or not np.all(row_scale > 0):
        raise ValueError(f"row_scale must be {fwd.shape[0]} positive numbers, got shape {row_scale.shape}")
    return fwd / row_scale[:, None]


# ---------------------------------------------------------------------------
# the template's cortex in the sensors' frame, and the region lead field

FSAVERAGE5_VERTICES = 20484  # DeepSIF's fs_cortex_20k: fsaverage ico-5, 10,242 vertices per hemisphere
# tvb-data's cortex has Brainstorm's axes (x anterior, y left, z up); MNE's head frame has x right, y anterior
SCS_TO_RAS = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def cortex_in_head_frame(template, sensor_positions):
    """The template's cortex placed in MNE's head frame, under the sensors.

    - ``tvb76`` (tvb-data's cortex, Brainstorm's axes around its mean
      vertex): turned into MNE's axes (:data:`SCS_TO_RAS`), then moved
      onto the sensors by :func:`align_by_spheres` (a translation).
    - DeepSIF's template (fsaverage5, :data:`FSAVERAGE5_VERTICES` vertices,
      fsaverage's MRI coordinates): MNE's own fsaverage transform
      (``mne/data/fsaverage/fsaverage-trans.fif``, shipped with MNE), which
      places MNE's standard montages on fsaverage's head.

    Parameters
    ----------
    template : deepsif_pipeline.anatomy.Template
    sensor_positions : array, shape (n_sensors, 3)
        Metres, MNE's head frame.

    Returns
    -------
    positions : array, shape (n_vertices, 3)
        Metres.
    orientations : array, shape (n_vertices, 3)
    placement : str
        How, for people.

    Raises
    ------
    SensorError
        Another template: its frame is not known.
    """
    from deepsif_pipeline.head.anatomy import template_info
    pos, ori = template_cortex(template)
    if template_info(template.folder).get("name") == "tvb76":
        pos, ori = pos @ SCS_TO_RAS.T, ori @ SCS_TO_RAS.T
        shift = align_by_spheres(pos, sensor_positions)
        return pos + shift, ori, ("tvb-data's cortex turned from Brainstorm's axes into MNE's head frame and moved "
                                  f"by ({', '.join(f'{1000 * v:.1f}' for v in shift)}) mm onto the sensors "
                                  "(centre of the sphere through the sensors minus that of the cortex's hull)")
    if len(pos) == FSAVERAGE5_VERTICES:
        import mne
        to_head = fsaverage_trans()
        return (mne.transforms.apply_trans(to_head, pos), mne.transforms.apply_trans(to_head, ori, move=False),
                "fsaverage's MRI coordinates into MNE's head frame with MNE's fsaverage transform "
                "(mne/data/fsaverage/fsaverage-trans.fif)")
    raise SensorError(f"--sensors: the frame of this template's cortex ({len(pos)} vertices) is not known (tvb76 and "
                      f"DeepSIF's fsaverage5 template, {FSAVERAGE5_VERTICES} vertices, are); give its lead field "
                      "with --leadfield")


def region_leadfield(template, info, bem=None):
    """The region lead field of ``info``'s sensors on the template, made as DeepSIF makes its own.

    The head model is MNE's 4-layer sphere fitted to the sensors
    (:func:`sphere_model`), the cortex placed in its frame
    (:func:`cortex_in_head_frame`) with every vertex kept
    (:func:`pull_inside`); or, with ``bem``, an MNE BEM solution in the
    frame of DeepSIF's fsaverage5 cortex (:func:`bem_vertex_gain`). Each
    vertex's gain along its normal, summed per region; EEG referenced to
    the average of its sensors.

    Parameters
    ----------
    template : deepsif_pipeline.anatomy.Template
    info : mne.Info
        :func:`read_sensors`.
    bem : Path or None
        ``--bem``: an MNE BEM solution (``-bem-sol.fif``).

    Returns
    -------
    fwd : array, shape (n_sensors, n_regions)
    about : dict
        How it was made, for the derived file and people: ``head_model``,
        ``placement``, ``moved`` (vertices pulled inside), ``farthest`` (m),
        ``reference``.
    """
    positions = sensor_positions(info)
    moved, farthest = 0, 0.0
    if bem is not None:
        gain, head_model, placement = bem_vertex_gain(template, info, bem)
    elif is_meg(info):  # the head's sphere (its digitisation), not the helmet's
        info, assumed = with_device_to_head(info)
        sphere, radius, head_model = meg_sphere_model(info)
        cortex, orientations, placement = cortex_in_head_frame(template, sphere_points(sphere["r0"], radius))
        placement = f"{placement} (MEG: the sphere of the head under them){'; ' + assumed if assumed else ''}"
        beyond = int((np.linalg.norm(cortex - sphere["r0"], axis=1) > radius).sum())
        if beyond:  # (kept where they are: the field of a dipole outside the head's sphere is still Sarvas')
            head_model = f"{head_model}; {beyond} vertices of the cortex lie beyond the head's radius"
        gain = vertex_gain(info, cortex, orientations, sphere)
    else:
        sphere = sphere_model(positions)
        cortex, orientations, placement = cortex_in_head_frame(template, positions)
        cortex, moved, farthest = pull_inside(cortex, sphere)
        gain = vertex_gain(info, cortex, orientations, sphere)
        center, radius = fit_sphere(positions)
        head_model = (f"MNE 4-layer sphere (brain, CSF, skull, scalp at 0.90, 0.92, 0.97, 1 of the radius) "
                      f"fitted to the sensors: centre ({', '.join(f'{1000 * v:.1f}' for v in center)}) mm, "
                      f"radius {1000 * radius:.1f} mm")
    if info["description"] == NO_FIDUCIALS:
        placement = f"{placement}; the sensors had {NO_FIDUCIALS}"
    fwd, about = finished(sum_regions(gain, template_mapping(template), template.n_regions), info)
    about.update(head_model=head_model, placement=placement, moved=moved, farthest=farthest)
    return fwd, about


def template_cortex(template):
    """The template's cortex: vertex positions in metres and orientations (``ori``, as stored), in its own frame.

    Returns
    -------
    positions : array, shape (n_vertices, 3)
    orientations : array, shape (n_vertices, 3)
    """
    from scipy.io import loadmat
    from deepsif_pipeline.head.anatomy import CORTEX
    cortex = loadmat(str(template.path(CORTEX)), variable_names=["pos", "ori"])
    return np.asarray(cortex["pos"], dtype=float) / 1000.0, np.asarray(cortex["ori"], dtype=float)


def template_mapping(template):
    """``(n_vertices,)`` the 0-based region of each vertex of the template's cortex (``rm``)."""
    from scipy.io import loadmat
    from deepsif_pipeline.head.anatomy import REGION_MAPPING
    return np.asarray(loadmat(str(template.path(REGION_MAPPING)), variable_names=["rm"])["rm"]).ravel().astype(int)


def finished(fwd, info):
    """The last step of every made lead field: EEG referenced to the average of its sensors
    (:func:`average_reference`); MEG in units of each sensor type's noise (:func:`in_noise_units`).

    Parameters
    ----------
    fwd : array, shape (n_sensors, n_regions)
        Physical units (V, T, T/m per A m).
    info : mne.Info
        Its sensors, in its rows' order.

    Returns
    -------
    fwd : array, shape (n_sensors, n_regions)
    about : dict
        ``reference`` (for people) and, for MEG, ``row_scale`` (:func:`noise_levels`).
    """
    if set(info.get_channel_types()) == {"eeg"}:
        return average_reference(fwd), {"reference": "average of the EEG sensors"}
    row_scale = noise_levels(info)
    return in_noise_units(fwd, row_scale), {"reference": "none (MEG)", "row_scale": row_scale}


# ---------------------------------------------------------------------------
# a BEM head model (--bem) and a forward solution as SPEC (-fwd.fif)

BEM_TEMPLATE = "DeepSIF's fsaverage5 template"


def fsaverage_trans():
    """MNE's fsaverage MRI -> head transform, shipped with MNE (``mne/data/fsaverage/fsaverage-trans.fif``,
    which holds it as head -> MRI)."""
    import mne
    trans = mne.read_trans(Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-trans.fif")
    return trans if trans["from"] == mne.io.constants.FIFF.FIFFV_COORD_MRI else mne.transforms.invert_transform(trans)


def bem_file(path):
    """``--bem``'s path; SensorError when there is no such file (checked without reading it)."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise SensorError(f"--bem {path}: no such file")
    return path


def read_bem(path):
    """An MNE BEM solution (``mne.make_bem_solution``, saved as ``-bem-sol.fif``); SensorError when it is not one."""
    import mne
    path = bem_file(path)
    try:
        bem = mne.read_bem_solution(str(path), verbose="error")
    except Exception as exc:  # MNE raises several types for files that are not BEM solutions
        try:
            mne.read_bem_surfaces(str(path), verbose="error")
        except Exception:
            raise SensorError(f"--bem {path}: not an MNE BEM solution ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); make one with "
                              "mne.make_bem_solution and mne.write_bem_solution") from None
        raise SensorError(f"--bem {path}: BEM surfaces without a solution; make the solution with "
                          "mne.make_bem_solution(mne.read_bem_surfaces(...)) and give that file") from None
    return bem


def bem_vertex_gain(template, info, bem_path):
    """The fixed-orientation vertex gain of DeepSIF's fsaverage5 cortex in an MNE BEM solution.

    The cortex is in fsaverage's MRI frame, the BEM's frame when it is
    fsaverage's (as ``mne.datasets.fetch_fsaverage`` gives it); the sensors
    are in MNE's head frame, related to it by MNE's fsaverage transform
    (:func:`fsaverage_trans`). No vertex is moved: one outside the BEM's
    inner skull means the BEM is not fsaverage's.

    Returns
    -------
    gain : array, shape (n_sensors, n_vertices)
    head_model : str
    placement : str

    Raises
    ------
    SensorError
        Another template (its cortex has no MRI frame the BEM could share),
        a BEM with too few layers for EEG, or vertices outside the inner skull.
    """
    import mne
    bem = read_bem(bem_path)
    pos, ori = template_cortex(template)
    if len(pos) != FSAVERAGE5_VERTICES:
        raise SensorError(f"--bem: the template's cortex ({len(pos)} vertices) is not {BEM_TEMPLATE} "
                          f"({FSAVERAGE5_VERTICES} vertices in fsaverage's MRI frame), so a BEM cannot be placed "
                          "under it; leave --bem out for the sphere model")
    kinds = set(info.get_channel_types())
    if "eeg" in kinds and len(bem["surfs"]) < 3:
        raise SensorError(f"--bem {bem_path}: {len(bem['surfs'])} layer(s); EEG needs the 3 of a BEM (inner "
                          "skull, outer skull, scalp): make it with mne.make_bem_model(..., conductivity=(0.3, "
                          "0.006, 0.3))")
    ori = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    src = mne.setup_volume_source_space(pos={"rr": pos, "nn": ori}, verbose="error")
    trans = fsaverage_trans()
    fwd = mne.make_forward_solution(info, trans=trans, src=src, bem=bem, eeg="eeg" in kinds,
                                    meg=bool(kinds & {"mag", "grad"}), mindist=0.0, verbose="error")
    if fwd["nsource"] != len(pos):
        raise SensorError(f"--bem {bem_path}: {len(pos) - fwd['nsource']} of the cortex's {len(pos)} vertices lie "
                          "outside its inner skull: it is not fsaverage's BEM (the frame of "
                          f"{BEM_TEMPLATE}); make it from fsaverage's surfaces")
    to_head = trans["trans"][:3, :3]
    layers = ", ".join(f"{s['sigma']:g}" for s in bem["surfs"])
    return (fix_orientations(fwd["sol"]["data"], ori @ to_head.T),
            f"MNE BEM solution {Path(str(bem_path)).name}: {len(bem['surfs'])} layer(s), conductivities {layers} S/m",
            "fsaverage's MRI frame (the cortex's and the BEM's) into MNE's head frame with MNE's fsaverage "
            "transform (mne/data/fsaverage/fsaverage-trans.fif)")


FORWARD_MATCH_M = 0.001  # a forward solution's sources lie this close to the template's vertices (positions are float32)


def is_forward(path):
    """True when ``path`` is named as an MNE forward solution (``-fwd.fif``, ``_fwd.fif``, ``.gz``)."""
    name = Path(str(path)).name.lower()
    return name.endswith(("-fwd.fif", "_fwd.fif", "-fwd.fif.gz", "_fwd.fif.gz"))


def read_forward(path):
    """An MNE forward solution, with free orientations in the head frame; SensorError when it cannot be used."""
    import mne
    try:
        fwd = mne.read_forward_solution(str(path), verbose="error")
    except Exception as exc:  # MNE raises several types for files that are not forward solutions
        raise SensorError(f"--sensors {path}: MNE does not read it as a forward solution ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if fwd["source_ori"] != mne.io.constants.FIFF.FIFFV_MNE_FREE_ORI:
        raise SensorError(f"--sensors {path}: a fixed-orientation forward solution; give the free-orientation one "
                          "(as mne.make_forward_solution writes it), whose gains are then fixed along the "
                          "template's orientations as DeepSIF does")
    return mne.convert_forward_solution(fwd, surf_ori=False, force_fixed=False, copy=False, verbose="error")


def forward_info(path, forward=None):
    """The sensors of a forward solution (EEG, else MEG), as :func:`read_sensors` gives them
    (``forward``: the solution already read, else it is read from ``path``)."""
    import mne
    picked = _sensors_of(mne, (forward or read_forward(path))["info"])
    if picked is None:
        raise SensorError(f"--sensors {path}: a forward solution without EEG or MEG channels")
    return picked


def match_sources(vertices, sources, spec, tolerance=FORWARD_MATCH_M):
    """For each template vertex, the forward solution's source at its position.

    Parameters
    ----------
    vertices : array, shape (n_vertices, 3)
        The template's cortex, metres, in its own frame.
    sources : array, shape (n_sources, 3)
        The forward solution's sources, metres, in its MRI frame.

    Returns
    -------
    array of int, shape (n_vertices,)

    Raises
    ------
    SensorError
        Another count, or a vertex with no source within ``tolerance`` (the
        forward solution was made on another source space or frame).
    """
    from scipy.spatial import cKDTree
    if len(sources) != len(vertices):
        raise SensorError(f"--sensors {spec}: a forward solution on {len(sources)} sources; the template's cortex has "
                          f"{len(vertices)} vertices (make it on that cortex: the template's pos and ori as a "
                          "source space)")
    distance, index = cKDTree(sources).query(vertices)
    far = distance > tolerance
    if far.any() or len(np.unique(index)) != len(vertices):
        raise SensorError(f"--sensors {spec}: a forward solution on another source space: {int(far.sum())} of the "
                          f"template's {len(vertices)} vertices have no source within {1000 * tolerance:g} mm "
                          f"(farthest {1000 * distance.max():.1f} mm); make it on the template's cortex, in its frame")
    return index


def forward_leadfield(template, path):
    """The region lead field of a user's forward solution on the template's cortex (``--sensors X-fwd.fif``).

    Its sources must be the template's vertices, by position in its MRI
    frame (:func:`match_sources`), whatever their order; each vertex's
    free-orientation gain is fixed along the template's orientation turned
    into the head frame, summed per region; EEG rows (else MEG) are used,
    EEG referenced to their average.

    Returns
    -------
    fwd : array, shape (n_sensors, n_regions)
    info : mne.Info
        The sensors used.
    about : dict
        As :func:`region_leadfield`'s.
    """
    import mne
    forward = read_forward(path)
    info = _checked(forward_info(path, forward), str(path))
    rows = [forward["sol"]["row_names"].index(name) for name in info["ch_names"]]
    to_mri = mne.transforms.invert_transform(forward["mri_head_t"])
    sources = mne.transforms.apply_trans(to_mri, forward["source_rr"])
    pos, ori = template_cortex(template)
    index = match_sources(pos, sources, path)
    gain = forward["sol"]["data"][rows].reshape(len(rows), -1, 3)[:, index, :].reshape(len(rows), -1)
    ori = (ori / np.linalg.norm(ori, axis=1, keepdims=True)) @ forward["mri_head_t"]["trans"][:3, :3].T
    fwd, about = finished(sum_regions(fix_orientations(gain, ori), template_mapping(template), template.n_regions),
                          info)
    about.update(head_model=f"the forward solution {Path(str(path)).name} (its own head model)",
                 placement="the forward solution's sources are the template's vertices (matched by position in its "
                           "MRI frame); its MRI -> head transform", moved=0, farthest=0.0)
    return fwd, info, about


# ---------------------------------------------------------------------------
# the made lead field, as a file


def leadfield_name(spec):
    """``leadfield_{name}.mat`` for a SPEC: a montage's name, or a file's name without its extensions."""
    import re
    path = Path(str(spec))
    name = path.name.split(".")[0] if path.exists() else str(spec)
    return f"leadfield_{re.sub(r'[^A-Za-z0-9_-]+', '_', name) or 'sensors'}.mat"


def leadfield_variables(fwd, info, spec, about, bem=None):
    """The variables of a made lead field file: ``fwd`` as DeepSIF's, and what it was made from."""
    import mne
    names = np.empty((len(info["ch_names"]), 1), dtype=object)
    types = np.empty_like(names)
    for i, (name, kind) in enumerate(zip(info["ch_names"], info.get_channel_types())):
        names[i, 0], types[i, 0] = name, kind
    return {"fwd": np.asarray(fwd, dtype=float), "ch_names": names, "ch_types": types,
            "positions": sensor_positions(info), "sensors": str(spec), "bem": "" if bem is None else str(bem),
            "head_model": about["head_model"],
            "placement": about["placement"], "moved_vertices": float(about["moved"]),
            "farthest_move_m": float(about["farthest"]), "reference": about["reference"],
            "made_by": f"deepsif-pipeline with MNE-Python {mne.__version__}", **meg_variables(about)}


def meg_variables(about):
    """The variables an MEG lead field file adds: ``row_scale`` (n_sensors x 1) and ``row_scale_about``."""
    if "row_scale" not in about:
        return {}
    return {"row_scale": np.asarray(about["row_scale"], dtype=float).reshape(-1, 1), "row_scale_about": NOISE_UNITS}


RECIPE_VERSION = 3  # bump when how a lead field is made changes: lead fields in the cache are then made again (2: MEG; 3: MEG without layers)


def inputs_key(template, spec, bem=None):
    """A digest of everything a made lead field depends on: the SPEC (a file by its bytes), the BEM
    (by its bytes), the template's cortex and region mapping (by their values), MNE's version and
    :data:`RECIPE_VERSION`."""
    import hashlib
    import mne
    from scipy.io import loadmat
    from deepsif_pipeline.head.anatomy import CORTEX, REGION_MAPPING, content_digest, template_info
    path = Path(str(spec)).expanduser()
    what = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else str(spec)
    cortex = loadmat(str(template.path(CORTEX)), variable_names=["pos", "ori"])
    rm = loadmat(str(template.path(REGION_MAPPING)), variable_names=["rm"])["rm"]
    parts = [what, template_info(template.folder).get("name") or "", str(template.n_regions),
             content_digest(np.asarray(cortex["pos"], dtype=float), np.asarray(cortex["ori"], dtype=float),
                            np.asarray(rm, dtype=float)), mne.__version__, str(RECIPE_VERSION)]
    if bem is not None:  # (without a BEM the key is what it was before --bem existed)
        parts.append(hashlib.sha256(Path(str(bem)).expanduser().read_bytes()).hexdigest())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def made_leadfield(template, spec, cache, bem=None):
    """The lead field file of ``spec`` on ``template``: made once, then found in ``cache`` by its inputs.

    A run that finds it (a resumed run, each Dask task of a run) reads its
    size and computes nothing (:func:`inputs_key`).

    Parameters
    ----------
    template : deepsif_pipeline.anatomy.Template
    spec : str
        ``--sensors``.
    cache : Path
        A folder for made lead fields (``builtin.cache_root() / 'leadfields'``);
        the run copies the file into its output folder (``derived/``).
    bem : Path or None
        ``--bem``: an MNE BEM solution instead of the sphere model.

    Returns
    -------
    path : Path
        ``cache / leadfield_{name}-{inputs key}.mat``.
    n_sensors : int

    Raises
    ------
    SensorError
        The sensors or the template cannot be used (one line).
    """
    from scipy.io import loadmat
    from deepsif_pipeline.store.files import write_mat_atomic
    if not Path(str(spec)).expanduser().exists():
        read_sensors(spec)  # (a name MNE does not know, or a missing file: said before anything else)
    if bem is not None:
        if is_forward(spec):
            raise SensorError(f"--bem: --sensors {spec} is a forward solution, made with its own head model; "
                              "leave --bem out")
        bem_file(bem)  # (read only when the lead field is made: a BEM solution can be a gigabyte)
    path = Path(cache) / leadfield_name(spec).replace(".mat", f"-{inputs_key(template, spec, bem)}.mat")
    if path.is_file():
        return path, int(loadmat(str(path), variable_names=["fwd"])["fwd"].shape[0])
    if is_forward(spec):
        fwd, info, about = forward_leadfield(template, spec)
    else:
        info = read_sensors(spec)
        fwd, about = region_leadfield(template, info, bem)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mat_atomic(path, leadfield_variables(fwd, info, spec, about, bem))
    return path, fwd.shape[0]
