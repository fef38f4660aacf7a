"""A patient's own head (``--subject``): the template's regions on the patient's cortex, the patient's lead field,
and the geometry step 4 grows its patches on.

DeepSIF's personalised models are trained on examples built from the same
clips as the generic model (made with the template) and the patient's own
lead field and cortex. A :class:`Head` is that pair for step 4 and the pack:
its ``template`` is the template with the patient's cortex, region mapping,
centres, neighbours and distances (``OUTPUT/derived/head_{name}/``, DeepSIF's
file names), and its ``leadfield`` the patient's (``OUTPUT/derived/leadfield_{name}_{sensors}.mat``).
Steps 1 and 2 (the clips) keep the template and the lead field the clips were made with.
"""

from dataclasses import dataclass, replace
import json
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline.head.anatomy import content_digest
from deepsif_pipeline.head.leadfields import LeadField, LeadFieldError, keep, resolve_leadfield
from deepsif_pipeline.store.files import write_text_atomic

HEAD_INFO = "head.json"  # in the head's folder: what it was made from (the lead field file and its cortex)


@dataclass(frozen=True)
class Head:
    """A patient's head, as step 4 and the pack use it.

    Attributes
    ----------
    name : str
        The subject's name (``Layout.head``: in the step-4 file's and the pack's names).
    template : deepsif_pipeline.head.anatomy.Template
        The template, its geometry files the patient's (``folder``: ``derived/head_{name}/``).
    leadfield : LeadField
        The patient's lead field (``derived/leadfield_{name}_{sensors}.mat``).
    lines : tuple of str
        What was made or found, for people (the lead field, the regions on the patient's cortex).
    """

    name: str
    template: object
    leadfield: LeadField
    lines: tuple = ()


def _cortex_of(path):
    """The patient's cortex kept in a made lead field file (``providers.Patient.make_file``)."""
    from deepsif_pipeline.head import subject  # MNE: only with --subject
    saved = loadmat(str(path), variable_names=["head", "surface", "head_pos", "head_ori", "head_tri", "head_rm",
                                               "head_n_left", "head_inflated"])
    inflated = np.asarray(saved["head_inflated"], dtype=float)
    return subject.PatientCortex(
        subject=str(saved["head"].ravel()[0]), surface=str(saved["surface"].ravel()[0]),
        pos=np.asarray(saved["head_pos"], dtype=float), ori=np.asarray(saved["head_ori"], dtype=float),
        tri=np.asarray(saved["head_tri"]).astype(int), rm=np.asarray(saved["head_rm"]).ravel().astype(int),
        n_left=int(np.asarray(saved["head_n_left"]).ravel()[0]), inflated=inflated if inflated.size else None,
        vertno=None)


def write_head_folder(folder, leadfield_path, n_regions, redo=False):
    """The head's geometry files in ``folder`` (DeepSIF's names), made from the patient's cortex in its lead
    field file; kept when they were made from the same cortex.

    Raises
    ------
    LeadFieldError
        ``folder`` holds another patient's head of the same name (unless ``redo``).
    """
    from deepsif_pipeline.head import subject  # MNE: only with --subject
    cortex = _cortex_of(leadfield_path)
    made_from = content_digest(cortex.pos, cortex.ori, cortex.tri, cortex.rm)
    info = folder / HEAD_INFO
    if info.is_file():
        recorded = json.loads(info.read_text()).get("cortex")
        if recorded == made_from:
            return cortex
        if not redo:
            raise LeadFieldError(f"{folder} holds another head named {cortex.subject} (another subject folder of "
                                 "that name, or its surfaces changed): use another --output, or add --redo to "
                                 "replace it and the step-4 file and pack made with it")
        info.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    subject.write_head_files(folder, cortex, subject.region_geometry(cortex, n_regions))
    write_text_atomic(info, json.dumps({"subject": cortex.subject, "surface": cortex.surface, "cortex": made_from,
                                        "leadfield": leadfield_path.name}, indent=1) + "\n")  # written last
    return cortex


def resolve_head(source, template, layout, cache, redo=False):
    """The :class:`Head` of a ``providers.Patient`` source: its lead field made (once, then from ``cache``) and
    kept in ``derived/``, its geometry written in ``derived/head_{name}/``.

    Raises
    ------
    LeadFieldError
    """
    leadfield = resolve_leadfield(source, template, layout, cache, redo=redo)
    leadfield, line = keep(leadfield, layout)
    folder = layout.with_head(source.name).head_dir
    write_head_folder(folder, leadfield.path, template.n_regions, redo=redo)
    mapping = str(loadmat(str(leadfield.path), variable_names=["mapping"])["mapping"].ravel()[0])
    geometry = replace(template, folder=folder, leadfield=leadfield.path, n_sensors=leadfield.n_sensors)
    return Head(source.name, geometry, leadfield, (line, f"regions on {source.name}'s cortex: {mapping}"))


def _step4_leadfield(layout, name, default):
    """The name of the lead field a head's step-4 file was made with (``leadfield``, when it is in
    ``derived/``; a head may have had its set made again for other sensors), else ``default``."""
    for step4 in sorted(layout.output.glob(f"*_sample_{name}_source1.mat")):
        try:
            named = Path(str(loadmat(str(step4), variable_names=["leadfield"])["leadfield"].ravel()[0])).name
        except (OSError, ValueError, KeyError, IndexError):
            continue
        if (layout.derived_dir / named).is_file():
            return named
    return default


def recorded_heads(layout, template):
    """The patients' heads of a folder (``derived/head_*/``) as they were made, for ``--status`` and ``--verify``:
    ``{name: Head}`` (a head whose files are incomplete is left out)."""
    from deepsif_pipeline.head.leadfields import source_of  # (the providers: no MNE until one is made)
    out = {}
    for name in layout.heads_on_disk():
        folder = layout.with_head(name).head_dir
        try:
            made = json.loads((folder / HEAD_INFO).read_text())
            path = layout.derived_dir / _step4_leadfield(layout, name, made["leadfield"])
            saved = loadmat(str(path), variable_names=["fwd", "sensors", "bem", "subject", "trans", "surface",
                                                       "conductivity"])
        except (OSError, ValueError, KeyError):
            continue
        text = {k: str(saved[k].ravel()[0]) if saved[k].size else None for k in ("sensors", "bem", "subject",
                                                                                   "trans", "surface")}
        source = source_of(None, text["sensors"], text["bem"], subject=text["subject"], trans=text["trans"],
                           surface=text["surface"], conductivity=tuple(np.asarray(saved["conductivity"]).ravel()))
        leadfield = LeadField(path, int(saved["fwd"].shape[0]), source, source.label(template))
        out[name] = Head(name, replace(template, folder=folder, leadfield=path, n_sensors=leadfield.n_sensors),
                         leadfield)
    return out
