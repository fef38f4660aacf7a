"""Built-in templates, built on first use from packages the project installs.

``tvb76``: TVB's 76-region default head model from the ``tvb-data``
package (connectivity, 16k-vertex cortex, region mapping, 65-sensor EEG
projection), written in DeepSIF's ``anatomy/`` layout and variable names
so that every step, the ``matlab/`` functions included, reads it exactly
like DeepSIF's own template.
"""

from importlib.metadata import PackageNotFoundError, version
import io
import json
import os
from pathlib import Path
import shutil
import zipfile

import numpy as np
from scipy.io import savemat

from deepsif_pipeline.head.recipe import sum_regions
from deepsif_pipeline.head.anatomy import (CORTEX, DISTANCES, DISTANCES_VARIABLE, INFLATED, INFO_FILE,
                                           REGION_MAPPING, AnatomyError, load_template, region_centres,
                                           region_distances)

TVB76 = "tvb76"
BUILTIN_TEMPLATES = (TVB76,)
BUILD_VERSION = 3            # bump when the built files change (2: raw_dis_matrix, was all_dis; 3: hemispheres)

# Mean in-strength (weights summed over sources, averaged over regions) of DeepSIF's
# connectivity_998.zip. TVB's connectivity_76 as shipped has 39.3 (max weight 3.0):
# with it every region crosses the 8 mV spike threshold and no spike is isolated.
# Scaled to the 998-region template's mean, the excitable region spikes alone.
TARGET_MEAN_IN_STRENGTH = 17.9


def cache_root():
    """Folder of built templates: $DEEPSIF_PIPELINE_CACHE, else $XDG_CACHE_HOME or ~/.cache."""
    if os.environ.get("DEEPSIF_PIPELINE_CACHE"):
        return Path(os.environ["DEEPSIF_PIPELINE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "deepsif-pipeline"


def is_builtin(name):
    return str(name) in BUILTIN_TEMPLATES


def resolve_template(anatomy, leadfield=None, log=print):
    """The checked template of ``--anatomy``: a folder, or the name of a built-in template.

    Parameters
    ----------
    anatomy : str or Path
        A folder in DeepSIF's layout, or a built-in name (``tvb76``) when no
        such folder exists.
    leadfield : str, optional
        Lead field file name; by default the template's own.

    Returns
    -------
    deepsif_pipeline.head.anatomy.Template

    Raises
    ------
    AnatomyError
    """
    if is_builtin(anatomy) and not Path(anatomy).is_dir():
        try:
            folder = builtin_template(str(anatomy), log)
        except ImportError:
            raise AnatomyError("the built-in template needs the tvb-data package: "
                               "pip install -r requirements.txt (or ./setup.sh)") from None
        return load_template(folder, leadfield)
    return load_template(anatomy, leadfield)


def builtin_template(name, log=print):
    """Folder of a built-in template, built into the cache on first use.

    Parameters
    ----------
    name : str
        One of ``BUILTIN_TEMPLATES``.
    log : callable
        Receives one line when the template is built.

    Returns
    -------
    Path
    """
    folder = cache_root() / f"{name}-v{BUILD_VERSION}"
    if (folder / INFO_FILE).is_file():
        return folder
    log(f"building the built-in template {name} from tvb-data into {folder}")
    build_tvb76(folder)
    return folder


def build_tvb76(folder):
    """Write the tvb76 template into ``folder`` (built aside, then renamed into place)."""
    import tvb_data  # the data package: imported only when the template is built (once)

    data = Path(tvb_data.__file__).resolve().parent
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        info = _write_tvb76(data, tmp)
        info["tvb_data_version"] = _version("tvb-data")
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        try:
            tmp.rename(folder)
        except OSError:
            if not (folder / INFO_FILE).is_file():  # not a concurrent build that won
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _version(package):
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def mean_in_strength(weights):
    """Mean over regions of the summed incoming weights.

    Parameters
    ----------
    weights : numpy.ndarray
        ``(n_regions, n_regions)``; row i holds the weights into region i
        (TVB's convention).
    """
    return float(np.asarray(weights).sum(axis=1).mean())


def region_neighbours(tri, rm, n_regions):
    """Regions that share a mesh edge.

    Parameters
    ----------
    tri : numpy.ndarray
        ``(n_triangles, 3)`` 0-based vertex indices.
    rm : numpy.ndarray
        ``(n_vertices,)`` 0-based region of each vertex.
    n_regions : int

    Returns
    -------
    list of numpy.ndarray
        For each region, its sorted 0-based neighbours (symmetric relation).
    """
    tri = np.asarray(tri, dtype=int)
    rm = np.asarray(rm, dtype=int)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    pairs = rm[edges]
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0)
    return [pairs[pairs[:, 0] == r, 1] for r in range(n_regions)]


def region_leadfield(vertex_leadfield, rm, n_regions):
    """Region-level lead field from a fixed-orientation vertex lead field.

    Each region's column is the SUM of its vertices' columns: a region's
    activity is the same at every one of its dipoles (oriented normal to
    the cortex), so its scalp field is the sum of theirs. This is how
    DeepSIF built its own ``fwd`` from a vertex lead field.

    Parameters
    ----------
    vertex_leadfield : numpy.ndarray
        ``(n_sensors, n_vertices)``.
    rm : numpy.ndarray
        ``(n_vertices,)`` 0-based region of each vertex.
    n_regions : int

    Returns
    -------
    numpy.ndarray
        ``(n_sensors, n_regions)``.
    """
    return sum_regions(vertex_leadfield, rm, n_regions)


def label_hemispheres(labels):
    """Whether each region is in the right hemisphere, from the first letter of its label.

    TVB's own rule (``Connectivity.try_compute_hemispheres``): a label starting
    with ``r`` (either case) is a right-hemisphere region, one starting with
    ``l`` a left one. tvb-data's connectivity_76.zip has no hemispheres file;
    its labels are ``rA1`` ... ``lV2``.

    Parameters
    ----------
    labels : sequence of str
        Region labels, in region order.

    Returns
    -------
    numpy.ndarray
        ``(n_regions,)`` bool, True for the right hemisphere.

    Raises
    ------
    ValueError
        A label starts with neither ``r`` nor ``l``.
    """
    first = [str(label)[:1].lower() for label in labels]
    unknown = [str(label) for label, f in zip(labels, first) if f not in ("r", "l")]
    if unknown:
        raise ValueError(f"region labels without a hemisphere prefix (r/l): {unknown[:5]}")
    return np.array([f == "r" for f in first])


def hemisphere_mesh(tri, in_hemisphere):
    """The vertices and triangles of one hemisphere, as DeepSIF's ``left_ind``/``left_tri``.

    Parameters
    ----------
    tri : numpy.ndarray
        ``(n_triangles, 3)`` 0-based vertex indices of the whole cortex.
    in_hemisphere : numpy.ndarray
        ``(n_vertices,)`` bool, True for the vertices of the hemisphere.

    Returns
    -------
    ind : numpy.ndarray
        ``(k,)`` 0-based indices of the hemisphere's vertices, ascending.
    local_tri : numpy.ndarray
        ``(m, 3)`` the triangles with all three vertices in the hemisphere, in
        the order of ``tri``, as 0-based positions in ``ind``.

    Raises
    ------
    ValueError
        A triangle has vertices in both hemispheres.
    """
    tri = np.asarray(tri, dtype=int)
    inside = np.asarray(in_hemisphere, dtype=bool)[tri]
    crossing = inside.any(axis=1) & ~inside.all(axis=1)
    if crossing.any():
        raise ValueError(f"{int(crossing.sum())} triangles have vertices in both hemispheres")
    ind = np.flatnonzero(in_hemisphere)
    local = np.full(len(in_hemisphere), -1)
    local[ind] = np.arange(ind.size)
    return ind, local[tri[inside.all(axis=1)]]


def hemisphere_variables(pos, tri, vertex_right):
    """DeepSIF's per-hemisphere variables of a cortex, 1-based, shaped as in its files.

    DeepSIF's ``fs_cortex_20k.mat`` holds ``left_ind`` (k x 1) and ``right_ind``
    (1 x k), 1-based vertex indices, and ``left_tri``/``right_tri``, 1-based
    triangles numbered within the hemisphere; its ``fs_cortex_20k_inflated.mat``
    holds ``posl``/``posr`` (the hemisphere's rows of ``pos``) and ``tril``/``trir``
    (equal to ``left_tri``/``right_tri``).

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n_vertices, 3)`` positions of the surface the ``posl``/``posr`` are taken from.
    tri : numpy.ndarray
        ``(n_triangles, 3)`` 0-based.
    vertex_right : numpy.ndarray
        ``(n_vertices,)`` bool, True for the vertices of the right hemisphere.

    Returns
    -------
    cortex : dict
        ``left_ind``, ``left_tri``, ``right_ind``, ``right_tri`` (float, 1-based).
    inflated : dict
        ``posl``, ``tril``, ``posr``, ``trir``.
    """
    left_ind, left_tri = hemisphere_mesh(tri, ~np.asarray(vertex_right, dtype=bool))
    right_ind, right_tri = hemisphere_mesh(tri, vertex_right)
    cortex = {"left_ind": (left_ind + 1.0)[:, None], "left_tri": left_tri + 1.0,
              "right_ind": (right_ind + 1.0)[None, :], "right_tri": right_tri + 1.0}
    inflated = {"posl": pos[left_ind], "tril": left_tri + 1.0, "posr": pos[right_ind], "trir": right_tri + 1.0}
    return cortex, inflated


def _read_zip_matrix(zf, name, dtype=float):
    return np.loadtxt(io.TextIOWrapper(zf.open(name)), dtype=dtype)


def _write_tvb76(data, out):
    """Write every tvb76 file into ``out``; return the facts for template.json."""
    # connectivity: weights scaled to the 998-region template's mean in-strength
    source_zip = data / "connectivity" / "connectivity_76.zip"
    with zipfile.ZipFile(source_zip) as zf:
        weights = _read_zip_matrix(zf, "weights.txt")
        labels = np.loadtxt(io.TextIOWrapper(zf.open("centres.txt")), dtype=str, usecols=0, ndmin=1)
        before = mean_in_strength(weights)
        scale = TARGET_MEAN_IN_STRENGTH / before
        with zipfile.ZipFile(out / "connectivity_76.zip", "w", zipfile.ZIP_DEFLATED) as dst:
            for item in zf.infolist():
                if item.filename == "weights.txt":
                    buf = io.StringIO()
                    np.savetxt(buf, weights * scale, fmt="%.12g")
                    dst.writestr("weights.txt", buf.getvalue())
                else:
                    dst.writestr(item, zf.read(item))
    n = weights.shape[0]

    # cortex (16384 vertices) and region mapping
    with zipfile.ZipFile(data / "surfaceData" / "cortex_16384.zip") as zf:
        pos = _read_zip_matrix(zf, "vertices.txt")
        tri = _read_zip_matrix(zf, "triangles.txt", dtype=int)
        ori = _read_zip_matrix(zf, "vertex_normals.txt")
    rm = np.loadtxt(data / "regionMapping" / "regionMapping_16k_76.txt", dtype=int)
    centres = region_centres(pos, rm, n)
    nbs = region_neighbours(tri, rm, n)
    cells = np.empty((1, n), dtype=object)
    for r in range(n):
        cells[0, r] = (nbs[r] + 1).astype(float)[None, :]  # 1-based, as DeepSIF's nbs
    # hemisphere of each vertex: that of its region, by the region's label (r.../l...)
    halves, inflated_halves = hemisphere_variables(pos, tri, label_hemispheres(labels)[rm])
    savemat(out / CORTEX, {"pos": pos, "tri": tri + 1.0, "ori": ori, **halves})
    # No inflated surface ships with tvb-data: the folded cortex (pos, posl, posr) and its
    # region centres stand in for DeepSIF's inflated surface and centres (used for growth directions).
    savemat(out / INFLATED, {"centre": centres, "pos": pos, "tri": tri + 1.0, **inflated_halves})
    savemat(out / REGION_MAPPING, {"rm": rm[None, :].astype(float), "nbs": cells})
    savemat(out / DISTANCES, {DISTANCES_VARIABLE: region_distances(pos, rm, n)})

    # EEG lead field: regions from vertices; sensors without values are dropped
    vertex_lf = np.load(data / "projectionMatrix" / "projection_eeg_65_surface_16k.npy")
    good = np.all(np.isfinite(vertex_lf), axis=1)
    fwd = region_leadfield(vertex_lf[good], rm, n)
    leadfield = f"leadfield_{int(good.sum())}_16k.mat"
    savemat(out / leadfield, {"fwd": fwd})
    return {
        "name": TVB76,
        "frame": "brainstorm",
        "build_version": BUILD_VERSION,
        "source": "tvb-data: connectivity_76.zip, cortex_16384.zip, regionMapping_16k_76.txt, "
                  "projection_eeg_65_surface_16k.npy",
        "n_regions": n,
        "weight_scale": scale,
        "mean_in_strength_shipped": before,
        "mean_in_strength": TARGET_MEAN_IN_STRENGTH,
        "leadfield": leadfield,
        "leadfield_sensors_dropped": [int(i) for i in np.flatnonzero(~good)],
        "centre": "mean vertex position of each region on the folded cortex (no inflated surface in tvb-data)",
        "inflated_pos": "pos, posl, posr of the inflated file are the folded cortex (no inflated surface in tvb-data)",
        "hemispheres": "of each vertex, that of its region, by the region label's first letter (r/l), TVB's rule; "
                       "connectivity_76.zip has no hemispheres file",
    }
