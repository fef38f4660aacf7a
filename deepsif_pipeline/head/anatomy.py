"""The template (head model) in DeepSIF's ``anatomy/`` layout: checks and derived data.

A template folder holds, with DeepSIF's file and variable names:

- ``connectivity_{n}.zip``: TVB connectivity;
- the lead field (``--leadfield``, default ``leadfield_75_20k.mat``): ``fwd``,
  sensors x regions;
- ``fs_cortex_20k.mat`` (``pos``), ``fs_cortex_20k_inflated.mat`` (``centre``),
  ``fs_cortex_20k_region_mapping.mat`` (``rm``, ``nbs``);
- optionally ``dis_matrix_fs_20k.mat`` (``raw_dis_matrix``), the distances
  between region centres; derived here when absent (:func:`region_distances`).

The file and variable names are those of DeepSIF's ``anatomy/README.md``.

Everything is checked before the pipeline creates or deletes anything, and
every problem is an :class:`AnatomyError` with a one-line message naming the
file and the variable (or zip member): missing variables, wrong shapes or
sizes that do not agree, NaN or Inf values, region numbers that are not
integers in range (:func:`load_template`).
"""

from dataclasses import dataclass
from pathlib import Path
import bz2
import hashlib
import io
import json
import warnings
import zipfile

import numpy as np
from scipy.io import loadmat, whosmat
from scipy.sparse import issparse

from deepsif_pipeline.console import plural
from deepsif_pipeline.store.files import write_mat_atomic

CORTEX = "fs_cortex_20k.mat"
INFLATED = "fs_cortex_20k_inflated.mat"
REGION_MAPPING = "fs_cortex_20k_region_mapping.mat"
DISTANCES = "dis_matrix_fs_20k.mat"
DISTANCES_VARIABLE = "raw_dis_matrix"  # DeepSIF's name in DISTANCES (its eval_sim.py reads it)
DEFAULT_LEADFIELD = "leadfield_75_20k.mat"
INFO_FILE = "template.json"  # a built-in template's facts (deepsif_pipeline.head.builtin), written last

# DeepSIF's 998-region connectivity has four regions without vertices in the
# fsaverage5 parcellation (0-based 7, 325, 921, 949); their places are taken
# by connectivity regions 994, 997, 996, 995, and regions 0..993 are kept.
DEEPSIF_N_CONNECTIVITY = 998
DEEPSIF_N_REGIONS = 994
DEEPSIF_REMAP = {7: 994, 325: 997, 921: 996, 949: 995}

# The frame of a template's cortex (how head/leadfields/frames.py places it under sensors), for a template
# whose template.json does not declare it ("frame"): by the template's name, or by the content of its cortex.
FRAME_BY_NAME = {"tvb76": "brainstorm"}  # tvb-data's cortex: Brainstorm's axes around its mean vertex
FRAME_BY_CORTEX = {  # content_digest of fs_cortex_20k.mat's pos (float64)
    # DeepSIF's fs_cortex_20k.mat: fsaverage5 (ico-5, 10,242 vertices per hemisphere) in fsaverage's MRI coordinates
    "sha256:5f0169b924ae75b953232a5c1e5d3266b950ffa2da71434cbd5b19307219f6e1": "fsaverage",
}


class AnatomyError(Exception):
    """A template file is missing or does not fit the others (one-line message)."""


@dataclass(frozen=True)
class Template:
    """A checked template.

    Attributes
    ----------
    folder : Path
        The anatomy folder.
    connectivity : Path
        The TVB connectivity zip used for step 1.
    leadfield : Path
        The lead field file (``fwd``, ``(n_sensors, n_regions)``).
    n_regions : int
        Regions of the template (parcellation, lead field columns).
    n_sensors : int
        Rows of the lead field.
    columns : numpy.ndarray
        ``(n_regions,)`` 0-based connectivity index of each template region.
    frame : str or None
        The frame of its cortex (``head/leadfields/frames.py``: ``brainstorm``, ``fsaverage``), as
        the template declares it (:func:`template_frame`); None when unknown.

    ``leadfield`` and ``n_sensors`` are the template's own lead field file (or the one
    ``--leadfield`` names in its folder); the lead field a run uses is a provider's
    (``head/leadfields``), of which this file is one.
    """

    folder: Path
    connectivity: Path
    leadfield: Path
    n_regions: int
    n_sensors: int
    columns: np.ndarray
    frame: str = None

    @property
    def n_connectivity(self):
        """Regions of the connectivity (may exceed ``n_regions``, see DEEPSIF_REMAP)."""
        return connectivity_size(self.connectivity)

    def path(self, name):
        """Path of a file of the template folder."""
        return self.folder / name


def _require_file(folder, name, what):
    path = folder / name
    if not path.is_file():
        raise AnatomyError(f"missing anatomy file {name} ({what}): looked in {folder}")
    return path


def _load_variable(path, name, what=None, otherwise=None):
    """Load one variable of a MAT-file, or raise AnatomyError naming file and variable.

    Parameters
    ----------
    path : Path
        A MAT-file (v4 to v7).
    name : str
        Variable to load.
    what : str, optional
        What the variable holds, for the message when it is missing.
    otherwise : str, optional
        The other way out, added to that message's advice (``or delete the file ...``).

    Returns
    -------
    numpy.ndarray or scipy.sparse matrix
    """
    try:
        data = loadmat(str(path), variable_names=[name])
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise AnatomyError(f"cannot read {path}: it is a MATLAB v7.3 file; save it with "
                           f"save(..., '-v7')") from None
    except Exception as exc:  # scipy raises several types for broken files
        raise AnatomyError(f"cannot read {path}: {exc}") from None
    if name not in data:
        held = ", ".join(f"'{n}'" for n, _, _ in _whos(path)) or "none"
        raise AnatomyError(f"{path} has no variable '{name}'{f' ({what})' if what else ''}; it holds {held}: "
                           f"save the data under the name '{name}'{f', {otherwise}' if otherwise else ''}")
    return data[name]


def _kind(value):
    """What a loaded MAT variable is, in MATLAB's words (for messages)."""
    if issparse(value):
        return "sparse matrix"
    return {"O": "cell array", "V": "struct", "U": "char array", "S": "char array",
            "c": "complex array"}.get(value.dtype.kind, f"{value.dtype} array")


def _numeric(path, name, value):
    """``value`` as a real numeric array, or raise AnatomyError naming file and variable."""
    if issparse(value) or value.dtype.kind not in "biuf":
        raise AnatomyError(f"{path}: variable '{name}' is a {_kind(value)}, not a real numeric array: "
                           f"save '{name}' as a full double matrix")
    return value


def _nonfinite_count(value):
    """``'12 NaN values'``, ``'1 Inf value'``, ``'2 NaN and 1 Inf values'``: the non-finite values of an array."""
    n_nan = int(np.isnan(value).sum())
    n_inf = int((~np.isfinite(value)).sum()) - n_nan
    counts = " and ".join(c for c in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} Inf" if n_inf else "") if c)
    return f"{counts} value{'' if n_nan + n_inf == 1 else 's'}"


def _check_finite(path, name, value, fix, label="variable"):
    """Raise AnatomyError when ``value`` holds NaN or Inf (counted, first position given).

    ``label`` says what ``name`` is: a MAT-file's ``variable`` or a zip's ``member``.
    """
    bad = ~np.isfinite(value)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AnatomyError(f"{path}: {label} '{name}' contains {_nonfinite_count(value)} "
                           f"(first at 0-based index {first}); {fix}")


def _check_points(path, name, n_rows, what, fix):
    """Load an ``(n_rows, 3)`` finite position array (vertices, centres) and return it, checked.

    Parameters
    ----------
    path : Path
    name : str
        Variable name (``pos``, ``centre``).
    n_rows : int or None
        Expected rows, or None for any.
    what : str
        What a row is (``vertices``, ``region centres``), and what ``n_rows`` counts.
    fix : str
        Advice for a wrong row count.

    Returns
    -------
    numpy.ndarray
        ``(n_rows, 3)``.
    """
    value = _numeric(path, name, _load_variable(path, name, what))
    if value.ndim != 2 or value.shape[1] != 3 or value.shape[0] == 0:
        raise AnatomyError(f"{path}: variable '{name}' ({what}) must be N x 3 (x, y, z per row), has shape "
                           f"{value.shape}; save it as one row per point")
    if n_rows is not None and value.shape[0] != n_rows:
        raise AnatomyError(f"{path}: variable '{name}' has {value.shape[0]} rows but {n_rows} {what} are "
                           f"expected; {fix}")
    _check_finite(path, name, value, "positions must be finite (re-export the surface)")
    return value


def _vector(path, name, value, what):
    """A 1 x n or n x 1 variable as a flat array, or raise AnatomyError naming file and variable."""
    if value.ndim > 2 or (value.ndim == 2 and min(value.shape) != 1 and value.size):
        raise AnatomyError(f"{path}: variable '{name}' must be a vector ({what}), has shape {value.shape}")
    return value.ravel()


def _check_region_numbers(path, name, values, low, high, what, where):
    """Raise AnatomyError unless every value is a finite integer in ``low..high``.

    Parameters
    ----------
    path : Path
    name : str
        Variable name.
    values : numpy.ndarray
        Flat float array of region numbers.
    low, high : int
        Allowed range (inclusive).
    what : str
        What the values are, for the message (``region numbers (0-based)``).
    where : callable
        Index in ``values`` -> the place it stands for (``vertex 12``).
    """
    finite = np.isfinite(values)
    fractional = finite & (values != np.round(values))
    outside = finite & ~fractional & ((values < low) | (values > high))
    hint = ""
    if not finite.all():
        found, bad = _nonfinite_count(values), ~finite
    elif fractional.any():
        found, bad = plural(int(fractional.sum()), "non-integer value"), fractional
    elif outside.any():
        found = (f"{plural(int(outside.sum()), 'value')} outside {low}..{high} (min {values.min():g}, "
                 f"max {values.max():g})")
        bad = outside
        if low == 0 and values.min() == 1 and values.max() == high + 1:
            hint = " (these look 1-based: subtract 1)"
    else:
        return
    first = int(np.flatnonzero(bad)[0])
    raise AnatomyError(f"{path}: variable '{name}' holds {found}, the first {values[first]:g} at {where(first)}; "
                       f"{what} must be integers {low}..{high}{hint}")


def _check_neighbours(path):
    """Check ``nbs`` (1 x n cell of 1-based neighbour lists); return the number of regions."""
    nbs = _load_variable(path, "nbs", "the neighbour regions of each region")
    if issparse(nbs) or nbs.dtype.kind != "O":
        raise AnatomyError(f"{path}: variable 'nbs' must be a cell array (one neighbour list per region), is a "
                           f"{_kind(nbs)}: save it as a 1 x n_regions cell")
    cells = _vector(path, "nbs", nbs, "a 1 x n_regions cell of neighbour lists")
    n = cells.size
    if n == 0:
        raise AnatomyError(f"{path}: variable 'nbs' is empty; it must hold one neighbour list per region")
    for region, cell in enumerate(cells):
        cell = np.asarray(cell)
        if issparse(cell) or cell.dtype.kind not in "biuf":
            raise AnatomyError(f"{path}: variable 'nbs' entry {region} (0-based region) is a {_kind(cell)}; "
                               "each entry must be a numeric list of 1-based region numbers")
    lists = [np.ravel(c).astype(float) for c in cells]
    owner = np.repeat(np.arange(n), [v.size for v in lists])  # region of each listed neighbour
    _check_region_numbers(path, "nbs", np.concatenate(lists), 1, n, "neighbour lists (1-based region numbers)",
                          lambda i: f"entry {owner[i]} (0-based region)")
    return n


def _check_region_mapping(path, n_vertices, n_regions, cortex):
    """Check ``rm``: one finite 0-based region number per vertex of ``cortex``."""
    rm = _numeric(path, "rm", _load_variable(path, "rm", "the region of each vertex"))
    rm = _vector(path, "rm", rm, "one region number per vertex")
    if rm.size != n_vertices:
        raise AnatomyError(f"{path}: variable 'rm' has {rm.size} entries but {cortex} has {n_vertices} "
                           "vertices ('pos'); use the region mapping made for this cortex")
    _check_region_numbers(path, "rm", rm.astype(float), 0, n_regions - 1,
                          f"region numbers (0-based, {n_regions} regions in 'nbs')", lambda i: f"vertex {i}")


def _check_leadfield(path, n_regions):
    """Check ``fwd`` (finite, sensors x regions); return the number of sensors."""
    fwd = _numeric(path, "fwd", _load_variable(path, "fwd", "the lead field"))
    if fwd.ndim != 2 or min(fwd.shape) == 0:
        raise AnatomyError(f"{path}: variable 'fwd' must be a sensors x regions matrix, has shape {fwd.shape}; "
                           "save the lead field as a 2-D matrix (one column per region)")
    n_sensors, n_columns = fwd.shape
    if n_columns != n_regions:
        hint = " (it looks transposed: save fwd.')" if n_sensors == n_regions else ""
        raise AnatomyError(
            f"{path}: variable 'fwd' has {n_columns} columns but the template has {n_regions} regions "
            f"({REGION_MAPPING}){hint}; use a lead field made for this template")
    if n_sensors < 2:
        raise AnatomyError(f"{path}: variable 'fwd' has shape {fwd.shape}: a single sensor; the lead field must "
                           "be sensors x regions (save the whole matrix, not one row)")
    _check_finite(path, "fwd", fwd, "the lead field must be finite (re-export it)")
    return n_sensors


def _check_distances(path, n_regions):
    """Check ``raw_dis_matrix`` of a template's own distance file: finite, regions x regions."""
    name = DISTANCES_VARIABLE
    distances = _numeric(path, name, _load_variable(
        path, name, "distances between region centres, DeepSIF's name",
        "or delete the file to have the distances derived from the cortex"))
    if distances.shape != (n_regions, n_regions):
        raise AnatomyError(f"{path}: variable '{name}' has shape {distances.shape} but the template has "
                           f"{n_regions} regions; make it {n_regions} x {n_regions}, or delete the file to have "
                           "the distances derived from the cortex")
    _check_finite(path, name, distances, "distances must be finite (or delete the file to have them derived)")


def _zip_member(zf, key):
    """Name of the member TVB reads for ``key``: the first whose name contains it (not __MACOSX)."""
    return next((n for n in zf.namelist() if key in n and not n.startswith("__MACOSX")), None)


def _centres_member(zf, path):
    name = _zip_member(zf, "centres") or _zip_member(zf, "centers")  # TVB takes either spelling
    if name is None:
        raise AnatomyError(f"{path} is not a TVB connectivity (no centres file)")
    return name


def _zip_matrix(zf, path, name, usecols=None):
    """A member of a connectivity zip as a 2-D float array (text, bz2 text or .npy, as TVB reads them)."""
    raw = zf.read(name)
    try:
        if name.endswith(".npy"):
            return np.atleast_2d(np.load(io.BytesIO(raw)).astype(float))
        if name.endswith(".bz2"):
            raw = bz2.decompress(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty member: its shape says what is wrong
            return np.loadtxt(io.BytesIO(raw), dtype=float, usecols=usecols, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).split("; use `usecols`")[0]
        raise AnatomyError(f"{path}: member '{name}' is not a table of numbers ({reason}); "
                           "fix or re-export the connectivity") from None


def connectivity_size(path):
    """Number of regions of a TVB connectivity zip (lines of its centres file).

    Parameters
    ----------
    path : Path
        A TVB connectivity zip.

    Returns
    -------
    int
    """
    try:
        with zipfile.ZipFile(path) as zf:
            text = zf.read(_centres_member(zf, path)).decode("ascii", "replace")
    except (zipfile.BadZipFile, OSError) as exc:
        raise AnatomyError(f"cannot read connectivity {path}: {exc}") from None
    return sum(1 for line in text.splitlines() if line.strip())


def check_connectivity(path, n):
    """Check what step 1 (TVB) reads from a connectivity zip.

    ``weights`` and ``tract_lengths`` must be finite ``n x n`` matrices
    (tract lengths not negative), and the centres file ``n`` rows of a
    label and three finite coordinates.

    Parameters
    ----------
    path : Path
        A TVB connectivity zip.
    n : int
        Its number of regions (:func:`connectivity_size`).

    Raises
    ------
    AnatomyError
        Naming the zip and the member.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            centres_name = _centres_member(zf, path)
            centres = _zip_matrix(zf, path, centres_name, usecols=(1, 2, 3))
            names, matrices = {}, {}
            for key in ("weights", "tract_lengths"):
                names[key] = _zip_member(zf, key)
                if names[key] is None:
                    raise AnatomyError(f"{path} has no member '{key}' (a {key}.txt file): a TVB connectivity "
                                       f"needs one; add it to the zip")
                matrices[key] = _zip_matrix(zf, path, names[key])
    except (zipfile.BadZipFile, OSError) as exc:
        raise AnatomyError(f"cannot read connectivity {path}: {exc}") from None
    if centres.shape != (n, 3):
        raise AnatomyError(f"{path}: member '{centres_name}' has {centres.shape[0]} rows of coordinates for "
                           f"{n} regions; each line must be a label and x y z")
    _check_finite(path, centres_name, centres, "region centres must be finite", label="member")
    for key, matrix in matrices.items():
        name = names[key]
        if matrix.shape != (n, n):
            raise AnatomyError(f"{path}: member '{name}' is {matrix.shape[0]} x {matrix.shape[1]} but the "
                               f"connectivity has {n} regions ('{centres_name}'); it must be {n} x {n}")
        _check_finite(path, name, matrix, "the connectivity must be finite (fix or re-export it)", label="member")
    lengths = matrices["tract_lengths"]
    if (lengths < 0).any():
        raise AnatomyError(f"{path}: member '{names['tract_lengths']}' holds "
                           f"{plural(int((lengths < 0).sum()), 'negative length')} (min {lengths.min():g}); "
                           "tract lengths must be >= 0")


def region_columns(n_connectivity, n_regions):
    """Connectivity index of every template region.

    Parameters
    ----------
    n_connectivity, n_regions : int
        Regions of the connectivity and of the parcellation.

    Returns
    -------
    numpy.ndarray or None
        ``(n_regions,)`` 0-based indices, or None when the two do not fit.
    """
    if n_connectivity == n_regions:
        return np.arange(n_regions)
    if (n_connectivity, n_regions) == (DEEPSIF_N_CONNECTIVITY, DEEPSIF_N_REGIONS):
        columns = np.arange(n_regions)
        for region, source in DEEPSIF_REMAP.items():
            columns[region] = source
        return columns
    return None


def _pick_connectivity(folder, n_regions):
    """The connectivity zip of the folder that fits ``n_regions`` regions."""
    found = sorted(folder.glob("connectivity_*.zip"))
    if not found:
        raise AnatomyError(f"missing anatomy file connectivity_*.zip (TVB connectivity): looked in {folder}")
    sizes = {}
    for path in found:
        sizes[path] = connectivity_size(path)
        if region_columns(sizes[path], n_regions) is not None:
            return path, sizes[path]
    listed = ", ".join(f"{p.name} ({n} regions)" for p, n in sizes.items())
    raise AnatomyError(
        f"no connectivity in {folder} fits the {n_regions} regions of {REGION_MAPPING} ('nbs'): {listed} "
        "(regions counted as the lines of each zip's centres file)")


def template_info(folder):
    """The ``template.json`` of a built template, or an empty dict for other folders."""
    path = Path(folder) / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_template(folder, leadfield_name=None):
    """Check a template folder and describe it.

    Every file and variable the pipeline reads later (step 1: the
    connectivity; step 4: ``centre``, ``nbs``, ``raw_dis_matrix``, ``fwd``; the
    derived distances: ``pos``, ``rm``) is checked here: present, of the
    right shape, sizes agreeing, finite, region numbers integers in range.

    Parameters
    ----------
    folder : str or Path
        Anatomy folder in DeepSIF's layout.
    leadfield_name : str, optional
        File name of the lead field inside the folder; by default the
        built-in template's own, else ``leadfield_75_20k.mat``.

    Returns
    -------
    Template

    Raises
    ------
    AnatomyError
        A file or variable is missing, unreadable, of the wrong shape, holds
        NaN or Inf, or the sizes do not agree; the message names the file and
        the variable.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise AnatomyError(f"anatomy folder not found: {folder} (--anatomy takes a folder in DeepSIF's "
                           "anatomy/ layout or the built-in template tvb76)")
    if leadfield_name is None:
        leadfield_name = template_info(folder).get("leadfield", DEFAULT_LEADFIELD)
    mapping_path = _require_file(folder, REGION_MAPPING, "region mapping and neighbours")
    inflated_path = _require_file(folder, INFLATED, "inflated cortex with region centres")
    cortex_path = _require_file(folder, CORTEX, "cortex surface")
    leadfield_path = _require_file(folder, leadfield_name, "lead field, --leadfield")

    n_regions = _check_neighbours(mapping_path)
    n_sensors = _check_leadfield(leadfield_path, n_regions)
    pos = _check_surfaces(mapping_path, cortex_path, inflated_path, n_regions)
    if (folder / DISTANCES).is_file():
        _check_distances(folder / DISTANCES, n_regions)
    connectivity, n_conn = _pick_connectivity(folder, n_regions)
    check_connectivity(connectivity, n_conn)
    return Template(folder=folder, connectivity=connectivity, leadfield=leadfield_path,
                    n_regions=n_regions, n_sensors=int(n_sensors),
                    columns=region_columns(n_conn, n_regions), frame=template_frame(folder, pos))


def template_frame(folder, pos):
    """The frame of a template folder's cortex: its ``template.json``'s ``frame``, else the one known for its name
    (:data:`FRAME_BY_NAME`) or for its cortex's content (``pos``, :data:`FRAME_BY_CORTEX`); None when unknown."""
    info = template_info(folder)
    if info.get("frame") or info.get("name") in FRAME_BY_NAME:
        return info.get("frame") or FRAME_BY_NAME[info["name"]]
    return FRAME_BY_CORTEX.get(content_digest(np.asarray(pos, dtype=float)))


def template_cortex(template):
    """The template's cortex: vertex positions in metres and orientations (``ori``, as stored), in its own frame.

    Returns
    -------
    positions : array, shape (n_vertices, 3)
    orientations : array, shape (n_vertices, 3)
    """
    cortex = loadmat(str(template.path(CORTEX)), variable_names=["pos", "ori"])
    return np.asarray(cortex["pos"], dtype=float) / 1000.0, np.asarray(cortex["ori"], dtype=float)


def template_mapping(template):
    """``(n_vertices,)`` the 0-based region of each vertex of the template's cortex (``rm``)."""
    return np.asarray(loadmat(str(template.path(REGION_MAPPING)), variable_names=["rm"])["rm"]).ravel().astype(int)


def _check_surfaces(mapping_path, cortex_path, inflated_path, n_regions):
    """Check the cortex, the inflated cortex and the region mapping against each other; the cortex's ``pos``."""
    pos = _check_points(cortex_path, "pos", None, "vertices", "")
    n_vertices = len(pos)
    _check_region_mapping(mapping_path, n_vertices, n_regions, cortex_path)
    _check_points(inflated_path, "pos", n_vertices, "vertices",
                  f"the inflated surface must have the vertices of {cortex_path}")
    _check_points(inflated_path, "centre", n_regions, "region centres",
                  f"one centre per region of {REGION_MAPPING} ('nbs')")
    return pos


def _whos(path):
    try:
        return whosmat(str(path))
    except Exception as exc:
        raise AnatomyError(f"cannot read {path}: {exc}") from None


def region_centres(pos, rm, n_regions):
    """Centre of every region: the mean position of its vertices.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n_vertices, 3)`` vertex positions (mm).
    rm : numpy.ndarray
        ``(n_vertices,)`` 0-based region of each vertex.
    n_regions : int

    Returns
    -------
    numpy.ndarray
        ``(n_regions, 3)``; NaN rows for regions without vertices.
    """
    rm = np.asarray(rm).ravel().astype(int)
    pos = np.asarray(pos, dtype=float)
    counts = np.bincount(rm, minlength=n_regions).astype(float)
    sums = np.stack([np.bincount(rm, weights=pos[:, d], minlength=n_regions) for d in range(3)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def region_distances(pos, rm, n_regions):
    """Distances between region centres, DeepSIF's ``raw_dis_matrix``.

    The centres are the mean vertex positions on the (folded) cortex, and
    the distance is Euclidean, in the surface's unit (mm).

    Parameters
    ----------
    pos : numpy.ndarray
        ``(n_vertices, 3)`` vertex positions.
    rm : numpy.ndarray
        ``(n_vertices,)`` 0-based region of each vertex.
    n_regions : int

    Returns
    -------
    numpy.ndarray
        ``(n_regions, n_regions)`` symmetric, zero diagonal.
    """
    c = region_centres(pos, rm, n_regions)
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1))
    np.fill_diagonal(d, 0.0)
    return d


def distance_file(template, cache_dir, log=print):
    """Path of a file with ``raw_dis_matrix``: the template's own, or a derived cache.

    When the template has no ``dis_matrix_fs_20k.mat``, the distances are
    derived from ``fs_cortex_20k.mat`` and the region mapping
    (:func:`region_distances`) and cached in ``cache_dir`` (never in the
    user's anatomy folder). A cache without ``raw_dis_matrix`` of the
    template's size (one written under the pipeline's former name
    ``all_dis``, or unreadable) is derived again.

    Parameters
    ----------
    template : Template
    cache_dir : Path
        Folder for the derived file (created if needed).
    log : callable
        Receives one line saying what was derived.

    Returns
    -------
    Path
    """
    own = template.path(DISTANCES)
    if own.is_file():
        return own
    cached = Path(cache_dir) / DISTANCES
    if cached.is_file():
        try:
            if dict((n, s) for n, s, _ in whosmat(str(cached))).get(DISTANCES_VARIABLE) == (
                    template.n_regions, template.n_regions):
                return cached
        except Exception:
            pass  # unreadable cache: derive again
    pos = _load_variable(template.path(CORTEX), "pos")
    rm = _load_variable(template.path(REGION_MAPPING), "rm")
    distances = region_distances(pos, rm, template.n_regions)
    missing = np.flatnonzero(np.isnan(distances).all(axis=1))
    if missing.size:
        raise AnatomyError(f"regions {missing.tolist()} have no vertices in {REGION_MAPPING}: "
                           "cannot derive their distances")
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_mat_atomic(cached, {DISTANCES_VARIABLE: distances})
    log(f"{template.folder} has no {DISTANCES}: derived the distances between the "
        f"{template.n_regions} region centres (mean vertex of each region on {CORTEX}, "
        f"Euclidean, mm) into {cached}")
    return cached


def load_distances(path):
    """The distances between region centres (``raw_dis_matrix``) of a file :func:`distance_file` gave."""
    return np.asarray(_load_variable(path, DISTANCES_VARIABLE), dtype=float)


def content_digest(*values):
    """``'sha256:'`` and the hex digest of arrays' values (dtype, shape and bytes; not the file's).

    The identity of template data: the same values give the same digest,
    whatever MAT-file version, header time stamp or copy holds them.
    """
    digest = hashlib.sha256()
    for value in values:
        value = np.ascontiguousarray(value)
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return "sha256:" + digest.hexdigest()


def leadfield_id(path):
    """Identity of a lead field: :func:`content_digest` of its ``fwd`` (as float64).

    Step 2 stores it beside each clip's sensor projection; step 4 reuses a
    stored projection only when its id equals the one of its own lead field.
    The fingerprints of steps 2 and 4 record it too.
    """
    return _cached_identity(Path(path), "leadfield")


def template_identity(template, part):
    """The identity of what a step reads of the template: a digest of the values, or a count.

    Parameters
    ----------
    template : Template
    part : str
        'connectivity' (every member of the TVB zip), 'regions' (their
        number), 'centres' (``centre`` of the inflated
        cortex), 'neighbours' (``nbs``) or 'distances' (the template's
        ``dis_matrix_fs_20k.mat``, or the cortex and region mapping it is
        derived from).

    Returns
    -------
    str or int
    """
    if part == "regions":
        return int(template.n_regions)
    if part == "connectivity":
        return _cached_identity(template.connectivity, "connectivity")
    if part == "centres":
        return _cached_identity(template.path(INFLATED), "centre")
    if part == "neighbours":
        return _cached_identity(template.path(REGION_MAPPING), "nbs")
    if part == "distances":
        own = template.path(DISTANCES)
        if own.is_file():
            return _cached_identity(own, "distances")
        return "derived " + content_digest(_load_variable(template.path(CORTEX), "pos").astype(float),
                                           _load_variable(template.path(REGION_MAPPING), "rm").astype(float))
    raise ValueError(f"unknown template part {part!r}")


def describe_template(template, leadfield):
    """``'tvb76 (/cache/tvb76-v2), leadfield_63_16k.mat'``: the template as people know it, with the run's lead
    field (``leadfield``: its label, ``head.leadfields.LeadField.label``)."""
    name = template_info(template.folder).get("name")
    return f"{f'{name} ({template.folder})' if name else template.folder}, {leadfield}"


_IDENTITIES = {}


def _cached_identity(path, what):
    """:func:`content_digest` of one file's data, cached per file state (path, size, mtime)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, what)
    if key not in _IDENTITIES:
        if what == "connectivity":
            digest = hashlib.sha256()
            with zipfile.ZipFile(path) as zf:
                for name in sorted(n for n in zf.namelist() if not n.startswith("__MACOSX") and not n.endswith("/")):
                    digest.update(name.encode() + b"\0" + zf.read(name))
            _IDENTITIES[key] = "sha256:" + digest.hexdigest()
        elif what == "leadfield":
            _IDENTITIES[key] = content_digest(np.asarray(_load_variable(path, "fwd"), dtype=float))
        elif what == "nbs":
            lists = [np.ravel(c).astype(float) for c in np.ravel(_load_variable(path, "nbs"))]
            _IDENTITIES[key] = content_digest(np.array([len(v) for v in lists]), *lists)
        elif what == "distances":
            _IDENTITIES[key] = content_digest(np.asarray(_load_variable(path, DISTANCES_VARIABLE), dtype=float))
        else:
            _IDENTITIES[key] = content_digest(np.asarray(_load_variable(path, what), dtype=float))
    return _IDENTITIES[key]
