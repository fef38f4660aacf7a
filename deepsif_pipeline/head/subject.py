"""A patient's own head: DeepSIF's template regions carried onto a FreeSurfer subject's cortex.

DeepSIF's template cortex is fsaverage5: the ico-5 subdivision of fsaverage's sphere, 10,242 vertices per
hemisphere (left then right), and its 994 regions are a labelling of those vertices (``rm``). A FreeSurfer
subject (``recon-all``) has its own cortex surfaces (``surf/?h.pial``, ``?h.white``, ``?h.inflated``), its
own sphere (``?h.sphere``) and its registration to fsaverage's sphere (``?h.sphere.reg``).

The patient's source space is DeepSIF's: ico-5, 20,484 sources, here on the patient's own surface (MNE's
``setup_source_space(spacing="ico5")`` picks the subject's vertices nearest to the ico-5 points on its
``?h.sphere``). Each source takes the region of the template vertex nearest to it on the registration
sphere (``?h.sphere.reg``), as FreeSurfer's ``mri_surf2surf --sval-annot`` carries a labelling (nearest
neighbour through the spherical registration). The template's sphere needs no file: fsaverage5's vertices
on fsaverage's sphere are MNE's ico-5 surface, in the template's vertex order, per hemisphere.

From the patient's cortex and regions come the files DeepSIF reads of a template, computed by the same
recipes as the template's (:func:`region_geometry`, :func:`write_head_files`).
"""

from dataclasses import dataclass
from functools import lru_cache
import hashlib
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from deepsif_pipeline.head.anatomy import (CORTEX, DISTANCES, DISTANCES_VARIABLE, INFLATED, REGION_MAPPING,
                                           region_centres, region_distances)
from deepsif_pipeline.head.builtin import hemisphere_variables, region_neighbours
from deepsif_pipeline.store.files import write_mat_atomic

HEMISPHERES = ("lh", "rh")
ICO5_VERTICES = 10242  # per hemisphere: fsaverage5, DeepSIF's template, MNE's ico-5
WHY = {  # what each needed file is for, said when it is missing
    "surface": "FreeSurfer's recon-all makes it; the sources are placed on it",
    "sphere": "FreeSurfer's recon-all makes it; the ico-5 sources are picked on it",
    "sphere.reg": "FreeSurfer's recon-all makes it; the template's regions are carried by it",
}


class SubjectError(Exception):
    """A subject folder cannot give a patient head (one-line message)."""


@dataclass(frozen=True, eq=False)
class PatientCortex:
    """A patient's ico-5 source space with the template's regions.

    Attributes
    ----------
    subject : str
        The subject's name (its folder's name).
    surface : str
        The FreeSurfer surface the sources are on (``pial``, ``white``).
    pos : numpy.ndarray
        ``(n, 3)`` source positions, metres, in the subject's MRI (FreeSurfer surface RAS) frame; the left
        hemisphere's ``n_left`` sources first.
    ori : numpy.ndarray
        ``(n, 3)`` unit outward normals of the subject's surface at the sources.
    tri : numpy.ndarray
        ``(m, 3)`` 0-based triangles over the sources (the right hemisphere's offset by ``n_left``).
    rm : numpy.ndarray
        ``(n,)`` 0-based template region of each source.
    n_left : int
        Sources of the left hemisphere.
    inflated : numpy.ndarray or None
        ``(n, 3)`` the sources on the subject's inflated surface (``surf/?h.inflated``), metres; None when
        the subject has none.
    vertno : tuple of numpy.ndarray
        Per hemisphere (left, right), ``(n_hemi,)`` ascending: the subject's surface vertex of each source.
    """

    subject: str
    surface: str
    pos: np.ndarray
    ori: np.ndarray
    tri: np.ndarray
    rm: np.ndarray
    n_left: int
    inflated: np.ndarray
    vertno: tuple

    @property
    def n_sources(self):
        return len(self.pos)


def check_subject(subject_dir, surface="pial"):
    """Cheap checks of a FreeSurfer subject folder (files present; nothing read).

    Parameters
    ----------
    subject_dir : str or Path
        ``SUBJECTS_DIR/NAME``, as ``recon-all`` makes it.
    surface : str
        The surface the sources go on (``surf/?h.{surface}``).

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    SubjectError
        The folder or one of ``surf/{lh,rh}.{surface}``, ``.sphere``, ``.sphere.reg`` is missing.
    """
    folder = Path(subject_dir)
    if not folder.is_dir():
        raise SubjectError(f"--subject {subject_dir}: no such folder (give a FreeSurfer subject folder, "
                           "SUBJECTS_DIR/NAME, as recon-all makes it)")
    for kind, name in (("surface", surface), ("sphere", "sphere"), ("sphere.reg", "sphere.reg")):
        for hemi in HEMISPHERES:
            if not (folder / "surf" / f"{hemi}.{name}").is_file():
                raise SubjectError(f"--subject {subject_dir}: no surf/{hemi}.{name} ({WHY[kind]})")
    return folder


BEM_SURFACES = ("inner_skull", "outer_skull", "outer_skin")  # bem/{name}.surf, as mne watershed_bem leaves them


def inputs_digest(subject_dir, surface="pial"):
    """A digest of the bytes of every file of the subject a patient's head is made from: its surfaces
    (``surf/?h.{surface}``, ``.sphere``, ``.sphere.reg``, ``.inflated``) and its BEM surfaces
    (``bem/{inner_skull,outer_skull,outer_skin}.surf``), those present."""
    folder = Path(subject_dir).expanduser()
    names = [f"surf/{hemi}.{name}" for hemi in HEMISPHERES for name in (surface, "sphere", "sphere.reg", "inflated")]
    names += [f"bem/{name}.surf" for name in BEM_SURFACES]
    digest = hashlib.sha256()
    for name in names:
        path = folder / name
        digest.update(name.encode() + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    return digest.hexdigest()


def _read_surface(folder, hemi, name):
    """``(rr mm, tris)`` of ``surf/{hemi}.{name}``, or SubjectError naming the file."""
    import mne  # MNE: only once a subject is read

    path = folder / "surf" / f"{hemi}.{name}"
    try:
        rr, tris = mne.read_surface(str(path))
    except Exception as exc:  # nibabel/MNE raise several types for broken files
        raise SubjectError(f"--subject {folder}: cannot read surf/{hemi}.{name} ({type(exc).__name__}); "
                           "it must be a FreeSurfer surface: run recon-all again") from None
    return np.asarray(rr, dtype=float), np.asarray(tris, dtype=int)


def _vertex_count(folder, hemi, name, expected, against):
    """Raise SubjectError unless ``surf/{hemi}.{name}`` has ``expected`` vertices (those of ``against``)."""
    n = len(_read_surface(folder, hemi, name)[0])
    if n != expected:
        raise SubjectError(f"--subject {folder}: surf/{hemi}.{name} has {n} vertices but surf/{hemi}.{against} "
                           f"has {expected}; both must come from the same recon-all")


def _source_space(folder, surface):
    """MNE's ico-5 source space on ``surf/?h.{surface}`` (picked on ``?h.sphere``), or SubjectError."""
    import mne

    try:
        return mne.setup_source_space(folder.name, spacing="ico5", surface=surface,
                                      subjects_dir=str(folder.parent), add_dist=False, verbose="error")
    except Exception as exc:
        for hemi in HEMISPHERES:  # which file: read each (only now that something failed)
            n = len(_read_surface(folder, hemi, surface)[0])
            _vertex_count(folder, hemi, "sphere", n, surface)
        raise SubjectError(f"--subject {folder}: no ico-5 source space on surf/?h.{surface} "
                           f"({type(exc).__name__}: {exc})") from None


@lru_cache(maxsize=1)
def template_sphere():
    """The template's vertices on fsaverage's sphere, per hemisphere: MNE's ico-5 surface.

    Returns
    -------
    numpy.ndarray
        ``(10242, 3)`` unit vectors: template vertex ``k`` of the left hemisphere, and ``10242 + k`` of the
        right, is at row ``k`` (fsaverage5's vertices are the first 10,242 of each fsaverage hemisphere, in
        the order of the ico-5 subdivision).
    """
    from mne.surface import _get_ico_surface

    rr = np.array(_get_ico_surface(5)["rr"], dtype=float)
    rr /= np.linalg.norm(rr, axis=1, keepdims=True)
    rr.flags.writeable = False  # cached: shared by every caller
    return rr


def nearest_on_sphere(points, sphere):
    """The nearest point of ``sphere`` to each of ``points``, both taken to the unit sphere.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 3)`` points on a registration sphere (any radius).
    sphere : numpy.ndarray
        ``(k, 3)`` points of the other sphere (any radius).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` 0-based rows of ``sphere``.
    """
    points = np.asarray(points, dtype=float)
    sphere = np.asarray(sphere, dtype=float)
    unit = sphere / np.linalg.norm(sphere, axis=1, keepdims=True)
    return cKDTree(unit).query(points / np.linalg.norm(points, axis=1, keepdims=True))[1]


def carried_regions(sphere_reg, template_rm):
    """The template region of each source, by nearest neighbour on the registration sphere.

    Parameters
    ----------
    sphere_reg : sequence of numpy.ndarray
        Per hemisphere (left, right), ``(n_hemi, 3)`` the sources' positions on the subject's
        ``?h.sphere.reg``.
    template_rm : numpy.ndarray
        ``(20484,)`` 0-based region of each template vertex (left 0..10241, right 10242..20483).

    Returns
    -------
    numpy.ndarray
        ``(sum n_hemi,)`` 0-based regions, left sources first.
    """
    template_rm = np.asarray(template_rm).ravel().astype(int)
    halves = (template_rm[:ICO5_VERTICES], template_rm[ICO5_VERTICES:])
    return np.concatenate([rm[nearest_on_sphere(points, template_sphere())]
                           for points, rm in zip(sphere_reg, halves)])


def read_cortex(subject_dir, template_rm, surface="pial"):
    """The patient's ico-5 source space on its own surface, with the template's regions.

    Parameters
    ----------
    subject_dir : str or Path
        A FreeSurfer subject folder (:func:`check_subject`).
    template_rm : numpy.ndarray
        ``(20484,)`` 0-based region of each template vertex (``anatomy.template_mapping``).
    surface : str
        ``pial`` (DeepSIF's template) or another surface of ``surf/``.

    Returns
    -------
    PatientCortex

    Raises
    ------
    SubjectError
        A file is missing or unreadable, or the surfaces do not fit each other.
    """
    folder = check_subject(subject_dir, surface)
    template_rm = np.asarray(template_rm).ravel()
    if template_rm.size != 2 * ICO5_VERTICES:
        raise SubjectError(f"the template's region mapping has {template_rm.size} vertices, not "
                           f"{2 * ICO5_VERTICES}: a patient head needs a template on fsaverage5 (ico-5), "
                           "as DeepSIF's")
    src = _source_space(folder, surface)
    pos, ori, tri, vertno, reg, inflated = [], [], [], [], [], []
    offset = 0
    for hemi, s in zip(HEMISPHERES, src):
        used = np.asarray(s["vertno"])
        if used.size != ICO5_VERTICES:
            raise SubjectError(f"--subject {folder}: {used.size} of the {ICO5_VERTICES} ico-5 sources of "
                               f"surf/{hemi}.{surface} have a normal; check the surface (recon-all)")
        sphere_reg = _read_surface(folder, hemi, "sphere.reg")[0]
        if len(sphere_reg) != s["np"]:
            raise SubjectError(f"--subject {folder}: surf/{hemi}.sphere.reg has {len(sphere_reg)} vertices but "
                               f"surf/{hemi}.{surface} has {s['np']}; both must come from the same recon-all")
        pos.append(s["rr"][used])
        ori.append(s["nn"][used])
        tri.append(np.searchsorted(used, s["use_tris"]) + offset)
        vertno.append(used)
        reg.append(sphere_reg[used])
        inflated.append(_inflated(folder, hemi, used, s["np"], surface))
        offset += used.size
    return PatientCortex(
        subject=folder.name, surface=surface, pos=np.concatenate(pos), ori=np.concatenate(ori),
        tri=np.concatenate(tri), rm=carried_regions(reg, template_rm), n_left=len(vertno[0]),
        inflated=None if any(i is None for i in inflated) else np.concatenate(inflated) / 1000.0,
        vertno=tuple(vertno))


def _inflated(folder, hemi, used, n_vertices, surface):
    """``(n_used, 3)`` mm of the sources on ``surf/{hemi}.inflated``, or None when it is absent."""
    if not (folder / "surf" / f"{hemi}.inflated").is_file():
        return None
    rr = _read_surface(folder, hemi, "inflated")[0]
    if len(rr) != n_vertices:
        raise SubjectError(f"--subject {folder}: surf/{hemi}.inflated has {len(rr)} vertices but "
                           f"surf/{hemi}.{surface} has {n_vertices}; both must come from the same recon-all")
    return rr[used]


def mapping_summary(rm, n_regions):
    """How the sources fall into the regions.

    Parameters
    ----------
    rm : numpy.ndarray
        ``(n_sources,)`` 0-based region of each source.
    n_regions : int

    Returns
    -------
    dict
        ``empty``: sorted list of the regions without a source; ``smallest``: ``(region, n_sources)`` of the
        smallest non-empty region (the first such), or None; ``sources``: ``(n_regions,)`` counts.
    """
    counts = np.bincount(np.asarray(rm).ravel().astype(int), minlength=n_regions)
    filled = np.flatnonzero(counts)
    smallest = None
    if filled.size:
        region = int(filled[np.argmin(counts[filled])])
        smallest = (region, int(counts[region]))
    return {"empty": [int(r) for r in np.flatnonzero(counts == 0)], "smallest": smallest, "sources": counts}


def describe_mapping(summary):
    """``'994 regions on 20,484 sources; none empty; smallest: region 12, 3 sources'``, for people.

    Regions are 0-based; up to ten empty ones are named.
    """
    counts = summary["sources"]
    empty = summary["empty"]
    named = ", ".join(str(r) for r in empty[:10]) + (", ..." if len(empty) > 10 else "")
    line = f"{len(counts):,} regions on {int(counts.sum()):,} sources; "
    line += f"{len(empty)} empty ({named})" if empty else "none empty"
    if summary["smallest"] is not None:
        region, n = summary["smallest"]
        line += f"; smallest: region {region}, {n} source{'' if n == 1 else 's'}"
    return line


def region_geometry(cortex, n_regions):
    """What step 4 reads of a template, from the patient's cortex, by the template's recipes.

    Parameters
    ----------
    cortex : PatientCortex
    n_regions : int

    Returns
    -------
    dict
        ``centre``: ``(n_regions, 3)`` mm, each region's mean source position on the inflated surface when
        the subject has one (DeepSIF's ``centre`` is on the inflated cortex), else on the folded one;
        ``nbs``: list of ``n_regions`` sorted 0-based neighbour arrays (regions sharing a mesh edge);
        ``raw_dis_matrix``: ``(n_regions, n_regions)`` mm between the regions' mean positions on the folded
        cortex; ``about``: which surface the centres are on. A region without sources has NaN centre and
        distances.
    """
    if cortex.inflated is not None:
        centre_pos = cortex.inflated
        about = "centre: mean source position of each region on the subject's inflated surface (surf/?h.inflated)"
    else:
        centre_pos = cortex.pos
        about = (f"centre: mean source position of each region on the folded cortex (surf/?h.{cortex.surface}): "
                 "the subject has no surf/?h.inflated")
    pos_mm = cortex.pos * 1000.0
    return {"centre": region_centres(centre_pos * 1000.0, cortex.rm, n_regions),
            "nbs": region_neighbours(cortex.tri, cortex.rm, n_regions),
            "raw_dis_matrix": region_distances(pos_mm, cortex.rm, n_regions),
            "about": about}


def neighbour_cells(nbs):
    """DeepSIF's ``nbs``: a ``1 x n_regions`` cell of ``1 x k`` 1-based (float) neighbour lists.

    Parameters
    ----------
    nbs : list of numpy.ndarray
        0-based neighbours of each region.

    Returns
    -------
    numpy.ndarray
        ``(1, n_regions)`` object array, for :func:`scipy.io.savemat`.
    """
    cells = np.empty((1, len(nbs)), dtype=object)
    for r, neighbours in enumerate(nbs):
        cells[0, r] = (np.asarray(neighbours) + 1).astype(float)[None, :]
    return cells


def write_head_files(folder, cortex, geometry):
    """Write a patient head's cortex files in DeepSIF's names into ``folder`` (created).

    ``fs_cortex_20k.mat``: ``pos`` (mm), ``tri`` (1-based), ``ori``, ``left_ind``, ``left_tri``,
    ``right_ind``, ``right_tri``; ``fs_cortex_20k_inflated.mat``: ``centre``, ``pos``, ``tri``, ``posl``,
    ``tril``, ``posr``, ``trir`` of the inflated surface (the folded one when the subject has none);
    ``fs_cortex_20k_region_mapping.mat``: ``rm`` (1 x n, 0-based, float), ``nbs`` (1-based cells);
    ``dis_matrix_fs_20k.mat``: ``raw_dis_matrix``. Each file is written whole or not at all.

    Parameters
    ----------
    folder : str or Path
    cortex : PatientCortex
    geometry : dict
        As :func:`region_geometry` returns.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pos = cortex.pos * 1000.0
    shown = pos if cortex.inflated is None else cortex.inflated * 1000.0
    right = np.arange(cortex.n_sources) >= cortex.n_left
    halves, inflated_halves = hemisphere_variables(shown, cortex.tri, right)
    tri = cortex.tri + 1.0
    files = {
        CORTEX: {"pos": pos, "tri": tri, "ori": cortex.ori, **halves},
        INFLATED: {"centre": geometry["centre"], "pos": shown, "tri": tri, **inflated_halves},
        REGION_MAPPING: {"rm": cortex.rm[None, :].astype(float), "nbs": neighbour_cells(geometry["nbs"])},
        DISTANCES: {DISTANCES_VARIABLE: geometry["raw_dis_matrix"]},
    }
    for name, variables in files.items():
        write_mat_atomic(folder / name, variables)
    return [folder / name for name in files]
