"""A test subject's head: the three BEM surfaces of a FreeSurfer subject in fsaverage's MRI frame, from files MNE ships.

Nothing is downloaded: MNE-Python ships fsaverage's inner skull
(``mne/data/fsaverage/fsaverage-inner_skull-bem.fif``, 10,242 vertices in
ico-5 order) and its scalp (``fsaverage-head.fif``, 2,033 vertices), and its
head <-> MRI transform (``fsaverage-trans.fif``). :func:`write_bem_surfaces`
makes of them a 3-layer BEM of 3 x 5,120 triangles (ico-4 per layer), as
``mne watershed_bem`` would leave them in ``SUBJECT/bem/``:

- inner skull: fsaverage's, downsampled to ico-4 (its ico-5 vertices hold the
  2,562 ico-4 vertices first, in another order than ``_get_ico_surface(4)``'s:
  they are matched by direction on the sphere);
- scalp: from the inner skull's centre, along each inner-skull vertex's
  direction, the nearest crossing of fsaverage's head surface;
- outer skull: on the same line, at :data:`OUTER_FRACTION` of the way from
  the inner skull to the scalp.
"""

from pathlib import Path
import shutil

import mne
import numpy as np

FSAVERAGE_DATA = Path(mne.__file__).parent / "data" / "fsaverage"
OUTER_FRACTION = 0.4  # the outer skull: inner skull + 0.4 of the gap to the scalp
COARSE_MARGIN_M = 0.0015  # an ico-3 inner skull moved out by 1.5 mm (bem_surfaces)
ICO4_VERTICES = 2562
SURFACES = ("inner_skull", "outer_skull", "outer_skin")


def ico4_of_ico5(rr5, grade=4):
    """The ico-4 (or coarser, ``grade``) surface of an ico-5 one: ``(rr (2562, 3), tris (5120, 3))`` for ico-4.

    ``rr5`` is in the vertex order of ``mne.surface._get_ico_surface(5)``
    (as fsaverage's inner skull is); its first 2,562 vertices are the ico-4
    ones (the first 642 the ico-3 ones), matched here to ``_get_ico_surface(grade)``'s by their direction.
    """
    coarse, ico5 = mne.surface._get_ico_surface(grade), mne.surface._get_ico_surface(5)
    n = len(coarse["rr"])
    from scipy.spatial import cKDTree
    distance, index = cKDTree(ico5["rr"][:n]).query(coarse["rr"])
    if distance.max() > 1e-3 or len(set(index)) != n:
        raise AssertionError(f"the first {n:,} vertices of MNE's ico-5 are not its ico-{grade} ones")
    return np.asarray(rr5, dtype=float)[index], coarse["tris"].copy()


def _nearest_crossing(origin, directions, rr, tris):
    """The distance along each unit direction from ``origin`` to its nearest crossing of the mesh (Moller-Trumbore)."""
    v0, v1, v2 = rr[tris[:, 0]], rr[tris[:, 1]], rr[tris[:, 2]]
    e1, e2 = v1 - v0, v2 - v0
    s = origin - v0                                       # (n_tris, 3)
    q = np.cross(s, e1)                                   # (n_tris, 3)
    out = np.full(len(directions), np.inf)
    for start in range(0, len(directions), 256):
        d = directions[start:start + 256]                 # (k, 3)
        p = np.cross(d[:, None, :], e2[None])             # (k, n_tris, 3)
        det = np.einsum("ktj,tj->kt", p, e1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            u = np.einsum("ktj,tj->kt", p, s) * inv
            v = np.einsum("kj,tj->kt", d, q) * inv
            t = np.einsum("tj,tj->t", e2, q)[None] * inv
        hit = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        out[start:start + 256] = np.where(hit, t, np.inf).min(axis=1)
    if not np.all(np.isfinite(out)):
        raise AssertionError(f"{int(np.sum(~np.isfinite(out)))} directions miss fsaverage's head surface")
    return out


def bem_surfaces(scale=1.0, grade=4):
    """The three surfaces ``{'inner_skull': (rr, tris), ...}``: metres, fsaverage's MRI frame, times ``scale``;
    ico-``grade`` each (4: 5,120 triangles; 3: 1,280, for quick tests: its inner skull is moved out by
    :data:`COARSE_MARGIN_M`, so that its flat facets, which cut up to 0.5 mm into the ico-4 one, clear the cortex)."""
    inner5 = mne.read_bem_surfaces(FSAVERAGE_DATA / "fsaverage-inner_skull-bem.fif", verbose="error")[0]
    head = mne.read_bem_surfaces(FSAVERAGE_DATA / "fsaverage-head.fif", verbose="error")[0]
    inner, tris = ico4_of_ico5(inner5["rr"], grade)
    centre = inner5["rr"].mean(axis=0)
    offset = inner - centre
    radius = np.linalg.norm(offset, axis=1)
    directions = offset / radius[:, None]
    if grade < 4:
        radius = radius + COARSE_MARGIN_M
        inner = centre + directions * radius[:, None]
    scalp_radius = _nearest_crossing(centre, directions, head["rr"], head["tris"])
    if np.any(scalp_radius <= radius):
        raise AssertionError("fsaverage's head surface crosses its inner skull")
    outer_radius = radius + OUTER_FRACTION * (scalp_radius - radius)
    scalp = centre + directions * scalp_radius[:, None]
    outer = centre + directions * outer_radius[:, None]
    return {name: (scale * rr, tris) for name, rr in zip(SURFACES, (inner, outer, scalp))}


def write_bem_surfaces(subject_dir, scale=1.0, grade=4):
    """Write ``bem/inner_skull.surf``, ``bem/outer_skull.surf``, ``bem/outer_skin.surf`` (FreeSurfer, mm) for a subject.

    Parameters
    ----------
    subject_dir : Path
        The FreeSurfer subject folder (made if absent).
    scale : float
        All three surfaces scaled by it about the MRI origin (a scaled fsaverage).
    grade : int
        Ico-4 (5,120 triangles a layer), or ico-3 (1,280) for quick tests.

    Returns
    -------
    dict
        ``{'inner_skull': (rr (2562, 3) metres, tris (5120, 3)), ...}`` as written.
    """
    folder = Path(subject_dir) / "bem"
    folder.mkdir(parents=True, exist_ok=True)
    surfaces = bem_surfaces(scale, grade)
    for name, (rr, tris) in surfaces.items():
        mne.write_surface(str(folder / f"{name}.surf"), rr * 1000.0, tris, overwrite=True)
    return surfaces


def trans_file(path):
    """A copy of MNE's fsaverage head <-> MRI transform (``fsaverage-trans.fif``) at ``path``; returns ``path``."""
    shutil.copyfile(FSAVERAGE_DATA / "fsaverage-trans.fif", path)
    return Path(path)


def helmet_info(n_sites=20):
    """An Info of ``n_sites`` Vectorview-like triplets (a magnetometer, two planar gradiometers) spread over
    MNE's 306m helmet, in its device frame (nothing read but the helmet); also the helmet's vertices.

    Returns
    -------
    info : mne.Info
    rr : array, shape (n_vertices, 3)
        The helmet's vertices (device frame, metres).
    """
    helmet = mne.read_bem_surfaces(Path(mne.__file__).parent / "data" / "helmets" / "306m.fif.gz", verbose="error")[0]
    rr, nn = helmet["rr"], helmet["nn"]
    sites = [int(np.argmax(rr[:, 2]))]
    while len(sites) < n_sites:  # farthest-point sampling: spread over the helmet
        sites.append(int(np.argmax(np.linalg.norm(rr[:, None] - rr[sites][None], axis=2).min(axis=1))))
    names, types, locs = [], [], []
    for k, v in enumerate(sites):
        ez = nn[v] / np.linalg.norm(nn[v])
        ex = np.cross([0.0, 0.0, 1.0] if abs(ez[2]) < 0.9 else [1.0, 0.0, 0.0], ez)
        ex /= np.linalg.norm(ex)
        ey = np.cross(ez, ex)
        for name, kind, (a, b) in ((f"MEG{k:02d}1", "mag", (ex, ey)), (f"MEG{k:02d}2", "grad", (ex, ey)),
                                   (f"MEG{k:02d}3", "grad", (ey, -ex))):
            names.append(name)
            types.append(kind)
            locs.append(np.r_[rr[v], a, b, ez])
    info = mne.create_info(names, 250.0, types)
    for ch, loc in zip(info["chs"], locs):
        ch["loc"][:] = loc
    return info, rr


def meg_info(n_sites=20):
    """A small MEG Info made here (:func:`helmet_info`), its device frame moved so that the helmet's sphere's
    centre sits 1 cm above fsaverage's inner skull centre (head frame, MNE's fsaverage transform)."""
    info, rr = helmet_info(n_sites)
    trans = mne.read_trans(FSAVERAGE_DATA / "fsaverage-trans.fif")
    to_head = trans if trans["from"] == mne.io.constants.FIFF.FIFFV_COORD_MRI else mne.transforms.invert_transform(trans)
    inner = mne.read_bem_surfaces(FSAVERAGE_DATA / "fsaverage-inner_skull-bem.fif", verbose="error")[0]["rr"]
    centre = mne.transforms.apply_trans(to_head, inner.mean(axis=0))
    shift = np.eye(4)
    from deepsif_pipeline.head.leadfields.geometry import fit_sphere
    shift[:3, 3] = centre + [0.0, 0.0, 0.01] - fit_sphere(rr)[0]  # the helmet's sphere around the brain
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", shift)
    return info
