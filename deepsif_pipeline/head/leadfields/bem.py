"""A BEM head model (``--bem``): an MNE BEM solution in the frame of DeepSIF's fsaverage5 cortex."""

from pathlib import Path

import mne
import numpy as np

from deepsif_pipeline.head.leadfields.base import LeadFieldError
from deepsif_pipeline.head.leadfields.frames import BEM_TEMPLATE, FSAVERAGE5_VERTICES, mri_to_head, template_cortex_in_frame
from deepsif_pipeline.head.recipe import fix_orientations


def bem_file(path):
    """``--bem``'s path; LeadFieldError when there is no such file (checked without reading it)."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise LeadFieldError(f"--bem {path}: no such file")
    return path


def read_bem(path):
    """An MNE BEM solution (``mne.make_bem_solution``, saved as ``-bem-sol.fif``); LeadFieldError when it is not one."""
    path = bem_file(path)
    try:
        bem = mne.read_bem_solution(str(path), verbose="error")
    except Exception as exc:  # MNE raises several types for files that are not BEM solutions
        try:
            mne.read_bem_surfaces(str(path), verbose="error")
        except Exception:
            raise LeadFieldError(f"--bem {path}: not an MNE BEM solution ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}); make one with "
                                 "mne.make_bem_solution and mne.write_bem_solution") from None
        raise LeadFieldError(f"--bem {path}: BEM surfaces without a solution; make the solution with "
                             "mne.make_bem_solution(mne.read_bem_surfaces(...)) and give that file") from None
    return bem


def bem_vertex_gain(template, info, bem_path):
    """The fixed-orientation vertex gain of DeepSIF's fsaverage5 cortex in an MNE BEM solution.

    The cortex is in fsaverage's MRI frame, the BEM's frame when it is
    fsaverage's (as ``mne.datasets.fetch_fsaverage`` gives it); the sensors
    are in MNE's head frame, related to it by MNE's fsaverage transform
    (``frames.fsaverage_trans``, the template's frame). No vertex is moved: one outside the BEM's
    inner skull means the BEM is not fsaverage's.

    Returns
    -------
    gain : array, shape (n_sensors, n_vertices)
    head_model : str
    placement : str

    Raises
    ------
    LeadFieldError
        Another template (its cortex has no MRI frame the BEM could share),
        a BEM with too few layers for EEG, or vertices outside the inner skull.
    """
    bem = read_bem(bem_path)
    pos, ori = template_cortex_in_frame(template)
    trans = mri_to_head(template)
    if trans is None:
        raise LeadFieldError(f"--bem: the template's cortex ({len(pos)} vertices) is not {BEM_TEMPLATE} "
                             f"({FSAVERAGE5_VERTICES} vertices in fsaverage's MRI frame), so a BEM cannot be placed "
                             "under it; leave --bem out for the sphere model")
    kinds = set(info.get_channel_types())
    if "eeg" in kinds and len(bem["surfs"]) < 3:
        raise LeadFieldError(f"--bem {bem_path}: {len(bem['surfs'])} layer(s); EEG needs the 3 of a BEM (inner "
                             "skull, outer skull, scalp): make it with mne.make_bem_model(..., conductivity=(0.3, "
                             "0.006, 0.3))")
    gain, outside = fixed_vertex_gain(pos, ori, info, trans, bem)
    if outside:
        raise LeadFieldError(f"--bem {bem_path}: {outside} of the cortex's {len(pos)} vertices lie "
                             "outside its inner skull: it is not fsaverage's BEM (the frame of "
                             f"{BEM_TEMPLATE}); make it from fsaverage's surfaces")
    layers = ", ".join(f"{s['sigma']:g}" for s in bem["surfs"])
    return (gain,
            f"MNE BEM solution {Path(str(bem_path)).name}: {len(bem['surfs'])} layer(s), conductivities {layers} S/m",
            "fsaverage's MRI frame (the cortex's and the BEM's) into MNE's head frame with MNE's fsaverage "
            "transform (mne/data/fsaverage/fsaverage-trans.fif)")


def fixed_vertex_gain(pos, ori, info, trans, bem):
    """The fixed-orientation gain of sources at ``pos`` along ``ori`` (MRI frame) in an MNE BEM solution.

    MNE's forward solution of a discrete source space (``mne.setup_volume_source_space(pos={'rr', 'nn'})``,
    ``mindist=0``) in free orientation, each source then fixed along its orientation turned into the head
    frame (:func:`recipe.fix_orientations`, DeepSIF's ``lfd_free2fix``).

    Parameters
    ----------
    pos : array, shape (n_vertices, 3)
        Metres, the BEM's MRI frame.
    ori : array, shape (n_vertices, 3)
        Orientations in the MRI frame (normalised here).
    info : mne.Info
        The sensors (EEG, or MEG: magnetometers and gradiometers), head frame.
    trans : mne.transforms.Transform
        MRI -> head.
    bem : mne.bem.ConductorModel
        The BEM solution (MRI frame).

    Returns
    -------
    gain : array, shape (n_sensors, n_vertices), or None
        None when MNE dropped sources (outside the inner skull).
    outside : int
        How many sources MNE dropped.
    """
    ori = np.asarray(ori, dtype=float)
    ori = ori / np.linalg.norm(ori, axis=1, keepdims=True)
    kinds = set(info.get_channel_types())
    src = mne.setup_volume_source_space(pos={"rr": pos, "nn": ori}, verbose="error")
    fwd = mne.make_forward_solution(info, trans=trans, src=src, bem=bem, eeg="eeg" in kinds,
                                    meg=bool(kinds & {"mag", "grad"}), mindist=0.0, verbose="error")
    if fwd["nsource"] != len(pos):
        return None, len(pos) - fwd["nsource"]
    to_head = trans["trans"][:3, :3]
    return fix_orientations(fwd["sol"]["data"], ori @ to_head.T), 0
