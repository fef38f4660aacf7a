"""The lead field a run uses, from one of its providers (``providers.py``).

The template's own file, ``--leadfield FILE``, sensors with a sphere,
sensors with a BEM and a forward solution are all providers of one
interface (``base.Source``: a cache key, a ``make`` that returns the lead
field, the options that name it). :func:`resolve_leadfield` turns the one a
command names into a :class:`LeadField`: the file steps 2 and 4 read. A made
lead field is kept in the cache (``builtin.cache_root() / 'leadfields'``),
found again by its key, and copied into the output folder's ``derived/``
when a run starts (:func:`keep`). The template knows nothing of sensors: it
declares its frame (``Template.frame``), which ``frames.py`` turns into a
placement of its cortex.

Modules: ``base`` (the interface), ``providers`` (one class each),
``cache`` (the made file), ``geometry`` (spheres, axes), ``frames`` (template frames), ``sensors``
(reading sensors with MNE), ``sphere``, ``bem``, ``forward`` (the head
models). MNE-Python is imported by the last five only.
"""

from dataclasses import dataclass, replace
from pathlib import Path
import shutil

from scipy.io import loadmat

from deepsif_pipeline.head.anatomy import leadfield_id
from deepsif_pipeline.head.leadfields.base import LeadFieldError, Made, Source, is_forward
from deepsif_pipeline.head.leadfields.cache import cached
from deepsif_pipeline.head.leadfields.providers import Bem, Forward, Patient, Sphere, TemplateFile, source_of
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.files import publish, temporary_name

__all__ = ["LeadField", "LeadFieldError", "Made", "Source", "TemplateFile", "Sphere", "Bem", "Forward", "Patient", "is_forward",
           "source_of", "template_leadfield", "resolve_leadfield", "recorded_leadfield", "keep"]


@dataclass(frozen=True)
class LeadField:
    """The lead field a run uses.

    Attributes
    ----------
    path : Path
        The MAT-file with ``fwd`` (``(n_sensors, n_regions)``) that steps 2 and 4 read.
    n_sensors : int
    source : Source
        Its provider.
    label : str
        How the fingerprints' template description names it (``Source.label``).
    """

    path: Path
    n_sensors: int
    source: Source
    label: str

    def options(self, template):
        """The command-line options that name it (suggested commands, Dask tasks)."""
        return self.source.options(template)


def template_leadfield(template):
    """The :class:`LeadField` of the template's own file (``Template.leadfield``)."""
    source = TemplateFile(None)
    return LeadField(template.leadfield, template.n_sensors, source, source.label(template))


def resolve_leadfield(source, template, layout, cache, redo=False):
    """The :class:`LeadField` of ``source`` on ``template``, made (once, then from ``cache``) when needed.

    ``cache`` is the folder of made lead fields (``builtin.cache_root() / 'leadfields'``).

    Raises
    ------
    LeadFieldError
        The source cannot be used, or the output folder's ``derived/`` holds
        another lead field of that name (unless ``redo``).
    """
    if not source.made:
        return replace(template_leadfield(template), source=source)
    source.check(template)
    path, n_sensors = cached(source, template, cache)
    derived = layout.derived_dir / source.file_name
    if derived.is_file() and not redo and leadfield_id(derived) != leadfield_id(path):
        raise LeadFieldError(f"{derived} holds another lead field than --sensors {source.spec} makes now (other "
                             "sensors under that name, or another head model?): use another --output, or add --redo "
                             "to replace it and the outputs made with it")
    return LeadField(path, n_sensors, source, source.label(template))


def recorded_leadfield(layout, template):
    """For ``--status``, ``--verify`` and ``--pack``: the lead field the folder's clips were made with, when it
    is one made for ``--sensors`` (``derived/leadfield_*.mat``, whose content the manifest records); else None."""
    try:
        recorded = (manifest.clip_set(manifest.read(layout), layout.filename) or {}).get("settings", {})
    except manifest.ManifestError:
        return None
    for made in sorted(layout.derived_dir.glob("leadfield_*.mat")):
        if recorded.get("template.leadfield") == leadfield_id(made):
            saved = loadmat(made, variable_names=["fwd", "sensors", "bem"])
            bem = str(saved["bem"].ravel()[0]) if saved.get("bem") is not None and saved["bem"].size else None
            source = source_of(None, str(saved["sensors"].ravel()[0]), bem or None)
            return LeadField(made, int(saved["fwd"].shape[0]), source, source.label(template))
    return None


def keep(leadfield, layout):
    """A made lead field copied into the output folder (``derived/``); the run uses that copy.

    Returns
    -------
    leadfield : LeadField
        The one to use (the template's own file is used where it is).
    line : str or None
        What was done, for people.
    """
    if not leadfield.source.made:
        return leadfield, None
    derived = layout.derived_dir / leadfield.source.file_name
    if not (derived.is_file() and leadfield_id(derived) == leadfield_id(leadfield.path)):
        derived.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(derived, "leadfield")
        shutil.copyfile(leadfield.path, tmp)
        publish(tmp, derived)
    placement = str(loadmat(derived, variable_names=["placement"])["placement"].ravel()[0])
    return (replace(leadfield, path=derived),
            f"lead field {leadfield.source.about()}: {derived} ({leadfield.n_sensors} sensors; {placement})")
