"""Template frames: how a template's cortex is placed in MNE's head frame, under the sensors.

A template declares its frame (``Template.frame``, see
``head/anatomy.py``: its ``template.json``, a built-in template's
declaration, or a known cortex); this module holds what each frame means:

- ``brainstorm`` (``tvb76``: tvb-data's cortex, Brainstorm's axes around
  its mean vertex): turned into MNE's axes (``SCS_TO_RAS``), then moved onto
  the sensors by the sphere fits (``geometry.align_by_spheres``); it has no
  MRI frame a BEM or a forward solution could share;
- ``fsaverage`` (DeepSIF's fsaverage5 template: fsaverage's MRI
  coordinates): MNE's own fsaverage transform (shipped with MNE), which
  places MNE's standard montages on fsaverage's head; a BEM made from
  fsaverage's surfaces shares that MRI frame.

A new frame is one entry of :data:`FRAMES`.
"""

from dataclasses import dataclass
from pathlib import Path

import mne
import numpy as np

from deepsif_pipeline.head.anatomy import template_cortex
from deepsif_pipeline.head.leadfields.base import LeadFieldError
from deepsif_pipeline.head.leadfields.geometry import SCS_TO_RAS, align_by_spheres

FSAVERAGE5_VERTICES = 20484  # DeepSIF's fs_cortex_20k: fsaverage ico-5, 10,242 vertices per hemisphere
BEM_TEMPLATE = "DeepSIF's fsaverage5 template"


def fsaverage_trans():
    """MNE's fsaverage MRI -> head transform, shipped with MNE (``mne/data/fsaverage/fsaverage-trans.fif``,
    which holds it as head -> MRI)."""
    trans = mne.read_trans(Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-trans.fif")
    return trans if trans["from"] == mne.io.constants.FIFF.FIFFV_COORD_MRI else mne.transforms.invert_transform(trans)


def _brainstorm(pos, ori, sensor_positions):
    pos, ori = pos @ SCS_TO_RAS.T, ori @ SCS_TO_RAS.T
    shift = align_by_spheres(pos, sensor_positions)
    return pos + shift, ori, ("tvb-data's cortex turned from Brainstorm's axes into MNE's head frame and moved "
                              f"by ({', '.join(f'{1000 * v:.1f}' for v in shift)}) mm onto the sensors "
                              "(centre of the sphere through the sensors minus that of the cortex's hull)")


def _fsaverage(pos, ori, sensor_positions):
    to_head = fsaverage_trans()
    return (mne.transforms.apply_trans(to_head, pos), mne.transforms.apply_trans(to_head, ori, move=False),
            "fsaverage's MRI coordinates into MNE's head frame with MNE's fsaverage transform "
            "(mne/data/fsaverage/fsaverage-trans.fif)")


@dataclass(frozen=True)
class Frame:
    """A template frame.

    Attributes
    ----------
    place : callable
        ``place(pos, ori, sensor_positions) -> (pos, ori, placement)``: the cortex (metres,
        ``(n_vertices, 3)``) in MNE's head frame under sensors at ``sensor_positions``
        (``(n_sensors, 3)``), and how, for people; ``ori`` in the axes of ``pos``.
    mri_to_head : callable or None
        The MRI -> head transform of a frame a BEM shares (None: the frame has no MRI frame).
    ori_axes : numpy.ndarray or None
        The template stores ``ori`` in other axes than ``pos``: this turns them into ``pos``'s
        (``ori @ ori_axes.T``); None: the same axes.
    """

    place: object
    mri_to_head: object = None
    ori_axes: np.ndarray = None


# DeepSIF's fs_cortex_20k.mat holds pos in fsaverage's MRI (RAS) axes but ori in Brainstorm's (x to the nose,
# y to the left): turned by SCS_TO_RAS they lie 2.2 degrees (median; 2.7 at most) from the normals of its own
# pial mesh, as stored 77 degrees (tests/test_sensors.py measures both).
FRAMES = {"brainstorm": Frame(_brainstorm),
          "fsaverage": Frame(_fsaverage, fsaverage_trans, ori_axes=SCS_TO_RAS)}


def template_cortex_in_frame(template):
    """The template's cortex, its orientations in the axes of its positions (``Frame.ori_axes``).

    Returns
    -------
    positions : array, shape (n_vertices, 3)
        Metres, in the template's frame.
    orientations : array, shape (n_vertices, 3)
        As stored (not normalised: the head models normalise them), in the same axes.
    """
    pos, ori = template_cortex(template)
    frame = FRAMES.get(template.frame)
    if frame is not None and frame.ori_axes is not None:
        ori = ori @ frame.ori_axes.T
    return pos, ori


def cortex_in_head_frame(template, sensor_positions):
    """The template's cortex placed in MNE's head frame, under the sensors, by its frame (:data:`FRAMES`).

    Parameters
    ----------
    template : deepsif_pipeline.head.anatomy.Template
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
    LeadFieldError
        The template declares no known frame.
    """
    pos, ori = template_cortex_in_frame(template)
    frame = FRAMES.get(template.frame)
    if frame is None:
        raise LeadFieldError(f"--sensors: the frame of this template's cortex ({len(pos)} vertices) is not known "
                             f"(tvb76 and DeepSIF's fsaverage5 template, {FSAVERAGE5_VERTICES} vertices, are); give "
                             "its lead field with --leadfield")
    return frame.place(pos, ori, np.asarray(sensor_positions, dtype=float))


def mri_to_head(template):
    """The MRI -> head transform of the template's frame, or None when it has no MRI frame (a BEM cannot be
    placed under it)."""
    frame = FRAMES.get(template.frame)
    return None if frame is None or frame.mri_to_head is None else frame.mri_to_head()
