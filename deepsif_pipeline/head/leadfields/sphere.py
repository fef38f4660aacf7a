"""The sphere head model: MNE's 4-layer sphere fitted to EEG sensors, or the head's sphere under MEG sensors.

The template's cortex is placed under the sensors by its frame
(``frames.py``); EEG vertices outside the sphere's brain layer are pulled just
inside it (:func:`pull_inside`, counted), MEG ones stay where they are (only
the sphere's centre enters Sarvas' field).
"""

import mne
import numpy as np

from deepsif_pipeline.head.leadfields.base import LeadFieldError
from deepsif_pipeline.head.leadfields.frames import cortex_in_head_frame
from deepsif_pipeline.head.leadfields.geometry import fit_sphere, sphere_points
from deepsif_pipeline.head.recipe import fix_orientations
from deepsif_pipeline.head.leadfields.sensors import is_meg, sensor_positions, with_device_to_head

MARGIN_M = 0.001  # vertices are kept this far inside the sphere's brain layer
HEAD_RADIUS_DEFAULT_M = 0.09  # MNE's default head radius (mne.make_sphere_model), for a recording without head shape
SENSOR_GAP_M = 0.01  # without a head shape, the head is kept at least this far inside the nearest MEG sensor


def sphere_model(sensor_positions):
    """MNE's 4-layer sphere model (brain, CSF, skull, scalp) fitted to the sensors: centre and scalp radius."""
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
    LeadFieldError
        Sensors inside the head's sphere (a wrong ``dev_head_t`` or digitisation).
    """
    center, radius, how = meg_head_sphere(info)
    distance = np.linalg.norm(sensor_positions(info) - center, axis=1)
    if (distance <= radius).any():
        raise LeadFieldError(f"--sensors: {int((distance <= radius).sum())} of {distance.size} MEG sensors lie inside the "
                             f"head ({how}): are the recording's device-to-head transform and head shape right?")
    sphere = mne.make_sphere_model(r0=center, head_radius=None, verbose="error")
    return sphere, radius, (f"MNE sphere for MEG (Sarvas: only its centre matters; no layers), centre "
                            f"({', '.join(f'{1000 * v:.1f}' for v in center)}) mm, head radius {1000 * radius:.1f} "
                            f"mm: {how}")


def sphere_gain(template, info):
    """The fixed-orientation vertex gain of the template's cortex under ``info``'s sensors, in a sphere.

    EEG: MNE's 4-layer sphere fitted to the sensors (:func:`sphere_model`),
    the cortex placed by its frame with every vertex kept (:func:`pull_inside`).
    MEG: the head's sphere (its digitisation), not the helmet's
    (:func:`meg_sphere_model`), no vertex moved.

    Parameters
    ----------
    template : deepsif_pipeline.head.anatomy.Template
    info : mne.Info
        The sensors (``sensors.read_sensors``).

    Returns
    -------
    gain : array, shape (n_sensors, n_vertices)
    about : dict
        ``head_model``, ``placement`` (for people), ``moved`` (vertices pulled inside), ``farthest`` (m).
    """
    positions = sensor_positions(info)
    moved, farthest = 0, 0.0
    if is_meg(info):
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
    return gain, {"head_model": head_model, "placement": placement, "moved": moved, "farthest": farthest}
