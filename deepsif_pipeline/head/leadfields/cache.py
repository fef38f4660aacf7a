"""A made lead field as a file: its name, its variables, and the cache that finds it again by its inputs."""

import hashlib
from pathlib import Path
import re

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline.head.anatomy import CORTEX, REGION_MAPPING, content_digest, template_info
from deepsif_pipeline.head.recipe import NOISE_UNITS
from deepsif_pipeline.store.files import write_mat_atomic

# bump when how a lead field is made changes: lead fields in the cache are then made again (2: MEG; 3: MEG
# without layers; 4: DeepSIF's template's ori turned from Brainstorm's axes into its pos's, frames.Frame.ori_axes)
RECIPE_VERSION = 4


def leadfield_name(spec):
    """``leadfield_{name}.mat`` for a SPEC: a montage's name, or a file's name without its extensions."""
    path = Path(str(spec))
    name = path.name.split(".")[0] if path.exists() else str(spec)
    return f"leadfield_{re.sub(r'[^A-Za-z0-9_-]+', '_', name) or 'sensors'}.mat"


def _cell(values):
    column = np.empty((len(values), 1), dtype=object)
    for i, value in enumerate(values):
        column[i, 0] = value
    return column


def file_variables(made, spec, bem, mne_version):
    """The variables of a made lead field file: ``fwd`` as DeepSIF's, and what it was made from.

    Parameters
    ----------
    made : deepsif_pipeline.head.leadfields.base.Made
    spec : str
        ``--sensors``.
    bem : str or None
        ``--bem``.
    mne_version : str
    """
    about = made.provenance
    variables = {"fwd": np.asarray(made.fwd, dtype=float), "ch_names": _cell(made.ch_names),
                 "ch_types": _cell(made.ch_types), "positions": made.positions, "sensors": str(spec),
                 "bem": "" if bem is None else str(bem), "head_model": about["head_model"],
                 "placement": about["placement"], "moved_vertices": float(about["moved"]),
                 "farthest_move_m": float(about["farthest"]), "reference": about["reference"],
                 "made_by": f"deepsif-pipeline with MNE-Python {mne_version}"}
    if "row_scale" in about:  # MEG: each row in units of its sensor type's noise
        variables.update(row_scale=np.asarray(about["row_scale"], dtype=float).reshape(-1, 1),
                         row_scale_about=NOISE_UNITS)
    return variables


def inputs_key(template, spec, bem, mne_version):
    """A digest of everything a made lead field depends on: the SPEC (a file by its bytes), the BEM
    (by its bytes), the template's cortex and region mapping (by their values), MNE's version and
    :data:`RECIPE_VERSION`."""
    path = Path(str(spec)).expanduser()
    what = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else str(spec)
    cortex = loadmat(str(template.path(CORTEX)), variable_names=["pos", "ori"])
    rm = loadmat(str(template.path(REGION_MAPPING)), variable_names=["rm"])["rm"]
    parts = [what, template_info(template.folder).get("name") or "", str(template.n_regions),
             content_digest(np.asarray(cortex["pos"], dtype=float), np.asarray(cortex["ori"], dtype=float),
                            np.asarray(rm, dtype=float)), mne_version, str(RECIPE_VERSION)]
    if bem is not None:  # (without a BEM the key is what it was before --bem existed)
        parts.append(hashlib.sha256(Path(str(bem)).expanduser().read_bytes()).hexdigest())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cached(source, template, cache):
    """The file of ``source``'s lead field on ``template``: made once, then found in ``cache`` by its key.

    A run that finds it (a resumed run, each Dask task of a run) reads its
    size and computes nothing.

    Returns
    -------
    path : Path
        ``cache / leadfield_{name}-{key}.mat``.
    n_sensors : int
    """
    path = Path(cache) / source.file_name.replace(".mat", f"-{source.key(template)}.mat")
    if path.is_file():
        return path, int(loadmat(str(path), variable_names=["fwd"])["fwd"].shape[0])
    made, variables = source.make_file(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mat_atomic(path, variables)
    return path, made.fwd.shape[0]
