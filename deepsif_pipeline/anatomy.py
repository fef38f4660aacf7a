"""The template (head model) in DeepSIF's ``anatomy/`` layout: checks and derived data.

A template folder holds, with DeepSIF's file and variable names:

- ``connectivity_{n}.zip``: TVB connectivity;
- the lead field (``--leadfield``, default ``leadfield_75_20k.mat``): ``fwd``,
  sensors x regions;
- ``fs_cortex_20k.mat`` (``pos``), ``fs_cortex_20k_inflated.mat`` (``centre``),
  ``fs_cortex_20k_region_mapping.mat`` (``rm``, ``nbs``);
- optionally ``dis_matrix_fs_20k.mat`` (``all_dis``), the distances between
  region centres; derived here when absent (:func:`region_distances`).

Everything is checked before the pipeline creates or deletes anything, and
every problem is an :class:`AnatomyError` with a one-line message.
"""

from dataclasses import dataclass
from pathlib import Path
import hashlib
import json
import os
import re
import zipfile

import numpy as np
from scipy.io import loadmat, savemat, whosmat

CORTEX = "fs_cortex_20k.mat"
INFLATED = "fs_cortex_20k_inflated.mat"
REGION_MAPPING = "fs_cortex_20k_region_mapping.mat"
DISTANCES = "dis_matrix_fs_20k.mat"
DEFAULT_LEADFIELD = "leadfield_75_20k.mat"
INFO_FILE = "template.json"  # a built-in template's facts (deepsif_pipeline.builtin), written last

# DeepSIF's 998-region connectivity has four regions without vertices in the
# fsaverage5 parcellation (0-based 7, 325, 921, 949); their places are taken
# by connectivity regions 994, 997, 996, 995, and regions 0..993 are kept.
DEEPSIF_N_CONNECTIVITY = 998
DEEPSIF_N_REGIONS = 994
DEEPSIF_REMAP = {7: 994, 325: 997, 921: 996, 949: 995}


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
    """

    folder: Path
    connectivity: Path
    leadfield: Path
    n_regions: int
    n_sensors: int
    columns: np.ndarray

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


def _load_variable(path, name):
    """Load one variable of a MAT-file, or raise AnatomyError naming file and variable."""
    try:
        data = loadmat(str(path), variable_names=[name])
    except Exception as exc:  # scipy raises several types for broken files
        raise AnatomyError(f"cannot read {path}: {exc}") from None
    if name not in data:
        raise AnatomyError(f"{path} has no variable '{name}'")
    return data[name]


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
            names = [n for n in zf.namelist() if Path(n).name.startswith("centres")]
            if not names:
                raise AnatomyError(f"{path} is not a TVB connectivity (no centres file)")
            text = zf.read(names[0]).decode("ascii", "replace")
    except (zipfile.BadZipFile, OSError) as exc:
        raise AnatomyError(f"cannot read connectivity {path}: {exc}") from None
    return sum(1 for line in text.splitlines() if line.strip())


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
        f"no connectivity in {folder} fits the {n_regions} regions of {REGION_MAPPING}: {listed}")


def template_info(folder):
    """The ``template.json`` of a built template, or an empty dict for other folders."""
    path = Path(folder) / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_template(folder, leadfield_name=None):
    """Check a template folder and describe it.

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
        A file is missing, unreadable, or the sizes do not agree.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise AnatomyError(f"anatomy folder not found: {folder} (--anatomy takes a folder in DeepSIF's "
                           "anatomy/ layout or the built-in template tvb76)")
    if leadfield_name is None:
        leadfield_name = template_info(folder).get("leadfield", DEFAULT_LEADFIELD)
    mapping_path = _require_file(folder, REGION_MAPPING, "region mapping and neighbours")
    _require_file(folder, INFLATED, "inflated cortex with region centres")
    _require_file(folder, CORTEX, "cortex surface")
    leadfield_path = _require_file(folder, leadfield_name, "lead field, --leadfield")

    nbs = _load_variable(mapping_path, "nbs")
    n_regions = int(np.size(nbs))
    shapes = {name: shape for name, shape, _ in _whos(leadfield_path)}
    if "fwd" not in shapes:
        raise AnatomyError(f"{leadfield_path} has no variable 'fwd' (the lead field)")
    if len(shapes["fwd"]) != 2:
        raise AnatomyError(f"{leadfield_path}: 'fwd' must be sensors x regions, has shape {shapes['fwd']}")
    n_sensors, n_columns = shapes["fwd"]
    if n_columns != n_regions:
        raise AnatomyError(
            f"lead field {leadfield_name} has {n_columns} columns but the template has {n_regions} regions "
            f"({REGION_MAPPING}); use a lead field made for this template")
    connectivity, n_conn = _pick_connectivity(folder, n_regions)
    return Template(folder=folder, connectivity=connectivity, leadfield=leadfield_path,
                    n_regions=n_regions, n_sensors=int(n_sensors),
                    columns=region_columns(n_conn, n_regions))


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
    """Distances between region centres, as DeepSIF's ``all_dis``.

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
    """Path of a file with ``all_dis``: the template's own, or a derived cache.

    When the template has no ``dis_matrix_fs_20k.mat``, the distances are
    derived from ``fs_cortex_20k.mat`` and the region mapping
    (:func:`region_distances`) and cached in ``cache_dir`` (never in the
    user's anatomy folder).

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
            if dict((n, s) for n, s, _ in whosmat(str(cached))).get("all_dis") == (
                    template.n_regions, template.n_regions):
                return cached
        except Exception:
            pass  # unreadable cache: derive again
    pos = _load_variable(template.path(CORTEX), "pos")
    rm = _load_variable(template.path(REGION_MAPPING), "rm")
    all_dis = region_distances(pos, rm, template.n_regions)
    missing = np.flatnonzero(np.isnan(all_dis).all(axis=1))
    if missing.size:
        raise AnatomyError(f"regions {missing.tolist()} have no vertices in {REGION_MAPPING}: "
                           "cannot derive their distances")
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_mat_atomic(cached, {"all_dis": all_dis})
    log(f"{template.folder} has no {DISTANCES}: derived the distances between the "
        f"{template.n_regions} region centres (mean vertex of each region on {CORTEX}, "
        f"Euclidean, mm) into {cached}")
    return cached


def leadfield_id(path):
    """Identity of a lead field file: ``'sha256:'`` and the hex digest of its bytes.

    Step 2 stores it beside each clip's sensor projection; step 4 reuses a
    stored projection only when its id equals the one of its own lead field.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def write_mat_atomic(path, variables):
    """Write a MATLAB (v5) file so that ``path`` only ever holds a complete file.

    Parameters
    ----------
    path : Path
    variables : dict
        Variable name -> value, as for :func:`scipy.io.savemat`.
    """
    path = Path(path)
    tmp = path.with_name(f".tmp_{path.stem}_{os.getpid()}{path.suffix}")
    try:
        savemat(str(tmp), variables, do_compression=False)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


_PIECE = re.compile(r"^mean_iter_(\d+)_a_iter_(\d+)_(\d+)\.mat$")


def parse_piece_name(name):
    """``(mean_iteration, region, piece)`` of a raw file name, or None."""
    m = _PIECE.match(name)
    return tuple(int(g) for g in m.groups()) if m else None
