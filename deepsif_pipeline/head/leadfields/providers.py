"""The providers of a run's lead field, one interface (``base.Source``) each.

- :class:`TemplateFile`: the template's own lead field, or ``--leadfield FILE`` of its folder;
- :class:`Sphere`: ``--sensors SPEC`` on a sphere fitted to the sensors (EEG) or to the head (MEG);
- :class:`Bem`: ``--sensors SPEC --bem FILE``, an MNE BEM solution;
- :class:`Forward`: ``--sensors X-fwd.fif``, a user's MNE forward solution on the template's cortex.

The made ones (all but the template's file) need MNE-Python, imported only
when a lead field is read or made, so that a run without ``--sensors`` never
imports it. A new provider is a class here and a line in :func:`source_of`.
"""

from dataclasses import dataclass
from pathlib import Path

from scipy.io import loadmat

from deepsif_pipeline.head.anatomy import DEFAULT_LEADFIELD, leadfield_id, template_info
from deepsif_pipeline.head.leadfields.base import LeadFieldError, Made, Source, is_forward
from deepsif_pipeline.head.leadfields.cache import file_variables, inputs_key, leadfield_name


@dataclass(frozen=True)
class TemplateFile(Source):
    """The template's lead field file (``Template.leadfield``: its own, or ``--leadfield``'s name)."""

    name: str = None  # --leadfield (None: the template's own)
    made = False

    def key(self, template):
        return leadfield_id(template.leadfield)

    def make(self, template):
        saved = loadmat(str(template.leadfield), variable_names=["fwd", "positions"])
        return Made(fwd=saved["fwd"], positions=saved.get("positions"), provenance={"head_model": "the template's"})

    def options(self, template):
        own = template_info(template.folder).get("leadfield", DEFAULT_LEADFIELD)
        return [] if template.leadfield.name == own else ["--leadfield", template.leadfield.name]

    def values(self, template):
        return {"leadfield": template.leadfield.name, "sensors": None, "bem": None}

    def label(self, template):
        return template.leadfield.name

    def about(self):
        return "the template's"


@dataclass(frozen=True)
class _Sensors(Source):
    """What the made providers share: the SPEC (and a BEM), the key, the file, the options."""

    spec: str
    bem: str = None

    def check(self, template):
        if not Path(str(self.spec)).expanduser().exists():
            from deepsif_pipeline.head.leadfields import sensors  # MNE: only once sensors are read
            sensors.read_sensors(self.spec)  # (a name MNE does not know, or a missing file: said first)

    def key(self, template):
        import mne  # MNE: only once a lead field is made or looked up (its version is part of the key)
        return inputs_key(template, self.spec, self.bem, mne.__version__)

    def make_file(self, template):
        """``(Made, the variables of its file)``."""
        import mne  # MNE: only once a lead field is made
        made = self.make(template)
        return made, file_variables(made, self.spec, self.bem, mne.__version__)

    def options(self, template):
        return ["--sensors", str(self.spec)] + ([] if self.bem is None else ["--bem", str(self.bem)])

    def values(self, template):
        return {"leadfield": None, "sensors": str(self.spec), "bem": self.bem}

    def label(self, template):
        bem = f" --bem {self.bem}" if self.bem is not None else ""
        return f"{self.file_name} (--sensors {self.spec}{bem})"

    def about(self):
        return f"made for --sensors {self.spec}"

    @property
    def file_name(self):
        return leadfield_name(self.spec)


@dataclass(frozen=True)
class Sphere(_Sensors):
    """``--sensors SPEC``: MNE's 4-layer sphere fitted to EEG sensors, or the head's sphere under MEG ones."""

    def make(self, template):
        from deepsif_pipeline.head.leadfields import sensors, sphere  # MNE: only once a lead field is made
        info = sensors.read_sensors(self.spec)
        return sensors.region_made(template, info, *sphere.sphere_gain(template, info))


@dataclass(frozen=True)
class Bem(_Sensors):
    """``--sensors SPEC --bem FILE``: an MNE BEM solution in the frame of the template's cortex."""

    def check(self, template):
        super().check(template)
        from deepsif_pipeline.head.leadfields import bem  # MNE: only with --bem
        bem.bem_file(self.bem)  # (read only when the lead field is made: a BEM solution can be a gigabyte)

    def make(self, template):
        from deepsif_pipeline.head.leadfields import bem, sensors  # MNE: only once a lead field is made
        info = sensors.read_sensors(self.spec)
        gain, head_model, placement = bem.bem_vertex_gain(template, info, self.bem)
        return sensors.region_made(template, info, gain, {"head_model": head_model, "placement": placement,
                                                          "moved": 0, "farthest": 0.0})


@dataclass(frozen=True)
class Forward(_Sensors):
    """``--sensors X-fwd.fif``: a user's forward solution made on the template's cortex (its own head model)."""

    def make(self, template):
        from deepsif_pipeline.head.leadfields import forward  # MNE: only once a lead field is made
        return forward.forward_leadfield(template, self.spec)


def source_of(leadfield=None, sensors=None, bem=None):
    """The provider the options name: ``--sensors`` (with ``--bem``), else the template's file (``--leadfield``)."""
    if sensors is None:
        return TemplateFile(leadfield)
    if is_forward(sensors):
        if bem is not None:
            if not Path(str(sensors)).expanduser().exists():
                Sphere(sensors).check(None)  # (a missing file is said first)
            raise LeadFieldError(f"--bem: --sensors {sensors} is a forward solution, made with its own head model; "
                                 "leave --bem out")
        return Forward(str(sensors))
    return Sphere(str(sensors)) if bem is None else Bem(str(sensors), str(bem))
