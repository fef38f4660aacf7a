"""A user's MNE forward solution on the template's cortex (``--sensors X-fwd.fif``), matched by position."""

from pathlib import Path

import mne
import numpy as np
from scipy.spatial import cKDTree

from deepsif_pipeline.head.leadfields.base import LeadFieldError
from deepsif_pipeline.head.leadfields.frames import template_cortex_in_frame
from deepsif_pipeline.head.recipe import fix_orientations
from deepsif_pipeline.head.leadfields.sensors import _checked, forward_info, read_forward, region_made

FORWARD_MATCH_M = 0.001  # a forward solution's sources lie this close to the template's vertices (positions are float32)


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
    LeadFieldError
        Another count, or a vertex with no source within ``tolerance`` (the
        forward solution was made on another source space or frame).
    """
    if len(sources) != len(vertices):
        raise LeadFieldError(f"--sensors {spec}: a forward solution on {len(sources)} sources; the template's cortex has "
                             f"{len(vertices)} vertices (make it on that cortex: the template's pos and ori as a "
                             "source space)")
    distance, index = cKDTree(sources).query(vertices)
    far = distance > tolerance
    if far.any() or len(np.unique(index)) != len(vertices):
        raise LeadFieldError(f"--sensors {spec}: a forward solution on another source space: {int(far.sum())} of the "
                             f"template's {len(vertices)} vertices have no source within {1000 * tolerance:g} mm "
                             f"(farthest {1000 * distance.max():.1f} mm); make it on the template's cortex, in its frame")
    return index


def forward_leadfield(template, path):
    """The region lead field of a user's forward solution on the template's cortex (``--sensors X-fwd.fif``).

    Its sources must be the template's vertices, by position in its MRI
    frame (:func:`match_sources`), whatever their order; each vertex's
    free-orientation gain is fixed along the template's orientation turned
    into the head frame, summed per region; EEG rows (else MEG) are used,
    EEG referenced to their average (``sensors.region_made``).

    Returns
    -------
    deepsif_pipeline.head.leadfields.base.Made
    """
    forward = read_forward(path)
    info = _checked(forward_info(path, forward), str(path))
    rows = [forward["sol"]["row_names"].index(name) for name in info["ch_names"]]
    to_mri = mne.transforms.invert_transform(forward["mri_head_t"])
    sources = mne.transforms.apply_trans(to_mri, forward["source_rr"])
    pos, ori = template_cortex_in_frame(template)
    index = match_sources(pos, sources, path)
    gain = forward["sol"]["data"][rows].reshape(len(rows), -1, 3)[:, index, :].reshape(len(rows), -1)
    ori = (ori / np.linalg.norm(ori, axis=1, keepdims=True)) @ forward["mri_head_t"]["trans"][:3, :3].T
    return region_made(template, info, fix_orientations(gain, ori), {
        "head_model": f"the forward solution {Path(str(path)).name} (its own head model)",
        "placement": "the forward solution's sources are the template's vertices (matched by position in its MRI "
                     "frame); its MRI -> head transform", "moved": 0, "farthest": 0.0})
