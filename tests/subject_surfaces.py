"""FreeSurfer subject folders for the ``--subject`` tests, made from fsaverage5 (nothing downloaded).

nilearn's wheel ships fsaverage5's surfaces (pial, white, inflated, sphere; GIfTI, mm), the same
vertices as DeepSIF's template cortex. :func:`write_subject` writes them, optionally deformed, as a
subject folder ``surf/{lh,rh}.{pial,white,inflated,sphere,sphere.reg}`` that MNE and
``deepsif_pipeline.head.subject`` read like a ``recon-all`` output.

Plain functions: the fixtures that call them are the tests'.
"""

from pathlib import Path

import numpy as np

HEMISPHERES = {"lh": "left", "rh": "right"}
NILEARN_NAMES = {"pial": "pial", "white": "white", "inflated": "infl", "sphere": "sphere"}
FOLDED = ("pial", "white", "inflated")  # the surfaces a warp moves (the spheres stay)


def fsaverage5_surfaces():
    """fsaverage5's surfaces from nilearn's wheel.

    Returns
    -------
    dict
        ``{"lh": {...}, "rh": {...}}``; each maps ``pial``, ``white``, ``inflated``, ``sphere`` to
        ``(rr, tris)``: ``(10242, 3)`` float64 mm and ``(20480, 3)`` int 0-based.
    """
    import nibabel as nib
    import nilearn

    folder = Path(nilearn.__file__).parent / "datasets" / "data" / "fsaverage5"
    surfaces = {}
    for hemi, side in HEMISPHERES.items():
        surfaces[hemi] = {}
        for kind, stem in NILEARN_NAMES.items():
            gii = nib.load(str(folder / f"{stem}_{side}.gii.gz"))
            surfaces[hemi][kind] = (np.asarray(gii.darrays[0].data, dtype=float),
                                    np.asarray(gii.darrays[1].data, dtype=int))
    return surfaces


def deform(rr):
    """fsaverage5 scaled by 1.1 and moved by a smooth warp of up to 3 mm per axis (mm -> mm): a deformed subject."""
    return 1.1 * rr + 3.0 * np.sin(rr[:, [1, 2, 0]] / 20.0)


def write_subject(subjects_dir, name, surfaces=None, warp=None, rotate_sphere_reg=None):
    """Write a FreeSurfer subject folder ``subjects_dir/name/surf/``.

    Parameters
    ----------
    subjects_dir : Path
    name : str
        The subject (folder name).
    surfaces : dict, optional
        As :func:`fsaverage5_surfaces` returns (read when not given).
    warp : callable, optional
        ``(n, 3)`` mm -> ``(n, 3)`` mm, applied to the pial, white and inflated positions of both
        hemispheres (the spheres unchanged).
    rotate_sphere_reg : numpy.ndarray, optional
        ``(3, 3)`` rotation applied to ``?h.sphere.reg`` only (``rr @ R.T``); otherwise it equals
        ``?h.sphere``.

    Returns
    -------
    Path
        The subject's folder.
    """
    import mne

    surfaces = fsaverage5_surfaces() if surfaces is None else surfaces
    surf = Path(subjects_dir) / name / "surf"
    surf.mkdir(parents=True, exist_ok=True)
    for hemi, kinds in surfaces.items():
        for kind, (rr, tris) in kinds.items():
            if warp is not None and kind in FOLDED:
                rr = warp(rr)
            mne.write_surface(str(surf / f"{hemi}.{kind}"), rr, tris, overwrite=True)
        rr, tris = kinds["sphere"]
        if rotate_sphere_reg is not None:
            rr = rr @ np.asarray(rotate_sphere_reg, dtype=float).T
        mne.write_surface(str(surf / f"{hemi}.sphere.reg"), rr, tris, overwrite=True)
    return surf.parent
