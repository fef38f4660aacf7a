"""The providers of a run's lead field, one interface (``base.Source``) each.

- :class:`TemplateFile`: the template's own lead field, or ``--leadfield FILE`` of its folder;
- :class:`Sphere`: ``--sensors SPEC`` on a sphere fitted to the sensors (EEG) or to the head (MEG);
- :class:`Bem`: ``--sensors SPEC --bem FILE``, an MNE BEM solution;
- :class:`Forward`: ``--sensors X-fwd.fif``, a user's MNE forward solution on the template's cortex;
- :class:`Patient`: ``--subject DIR --trans FILE --sensors SPEC``, a patient's own head: the
  template's regions carried onto the patient's cortex, a BEM of the patient's head.

The made ones (all but the template's file) need MNE-Python, imported only
when a lead field is read or made, so that a run without ``--sensors`` never
imports it. A new provider is a class here and a line in :func:`source_of`.
"""

from dataclasses import dataclass
import hashlib
from pathlib import Path
import re

import numpy as np

from scipy.io import loadmat

from deepsif_pipeline.head.anatomy import DEFAULT_LEADFIELD, leadfield_id, template_info, template_mapping
from deepsif_pipeline.head.leadfields.base import DEFAULT_CONDUCTIVITY, LeadFieldError, Made, Source, is_forward
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


DEFAULT_SURFACE = "pial"  # DeepSIF's fsaverage5 cortex is fsaverage's pial surface


@dataclass(frozen=True)
class Patient(_Sensors):
    """``--subject DIR --trans FILE --sensors SPEC [--bem FILE]``: a patient's own head (``head/subject.py``,
    ``patient.py``), for step 4 and the pack of the template's clips (the clips are not made again).

    Its made file holds, beside ``fwd``, the patient's cortex (``head_pos``, ``head_ori``, ``head_tri``,
    ``head_rm``, ``head_inflated``), from which ``heads.py`` writes the head's geometry.
    """

    subject: str = None
    trans: str = None
    surface: str = DEFAULT_SURFACE
    conductivity: tuple = DEFAULT_CONDUCTIVITY

    @property
    def name(self):
        """The head's name: the subject folder's, other characters than letters, digits and ``-`` as ``-``."""
        return re.sub(r"[^A-Za-z0-9-]+", "-", Path(str(self.subject)).expanduser().resolve().name).strip("-") or "subject"

    def check(self, template):
        from deepsif_pipeline.head import subject  # MNE: only with --subject
        from deepsif_pipeline.head.leadfields import patient  # MNE: only with --subject
        if template.frame != "fsaverage":
            raise LeadFieldError(f"--subject: the template {template.folder.name} has no FreeSurfer registration "
                                 "(its cortex is not fsaverage's): a patient's head needs DeepSIF's fsaverage5 "
                                 "template and clips made with it")
        try:
            subject.check_subject(self.subject, self.surface)
        except subject.SubjectError as exc:
            raise LeadFieldError(str(exc)) from None
        patient.read_trans(self.trans)
        super().check(template)
        if self.bem is not None:
            from deepsif_pipeline.head.leadfields import bem  # MNE: only with --bem
            bem.bem_file(self.bem)

    def key(self, template):
        import mne  # MNE: only once a lead field is made or looked up (its version is part of the key)
        from deepsif_pipeline.head import subject  # MNE: only with --subject
        parts = [inputs_key(template, self.spec, self.bem, mne.__version__), subject.inputs_digest(self.subject, self.surface),
                 hashlib.sha256(Path(str(self.trans)).expanduser().read_bytes()).hexdigest(), self.surface,
                 ",".join(f"{c:g}" for c in self.conductivity)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def make(self, template):
        """The patient's lead field; its provenance also holds ``cortex`` (``subject.PatientCortex``) and
        ``mapping`` (the template's regions on it, for people)."""
        from deepsif_pipeline.head import subject  # MNE: only once a patient's lead field is made
        from deepsif_pipeline.head.leadfields import patient, sensors  # MNE: likewise
        try:
            cortex = subject.read_cortex(self.subject, template_mapping(template), self.surface)
        except subject.SubjectError as exc:
            raise LeadFieldError(str(exc)) from None
        summary = subject.mapping_summary(cortex.rm, template.n_regions)
        mapping = subject.describe_mapping(summary)
        if summary["empty"]:  # (their zero gain and undefined centre would make step 4's sources meaningless)
            raise LeadFieldError(f"--subject {self.subject}: the template's regions on its cortex: {mapping}; every "
                                 "region needs a source: check its sphere.reg (recon-all's registration to fsaverage)")
        info = sensors.read_sensors(self.spec)
        trans = patient.read_trans(self.trans)
        bem, head_model = patient.subject_bem(self.subject, info, self.bem, self.conductivity)
        fwd, provenance = patient.patient_region_leadfield(cortex.pos, cortex.ori, cortex.rm, template.n_regions,
                                                           info, trans, bem, spec=self.spec)  # (checks the head)
        return sensors.made(fwd, info, {**provenance, "head_model": head_model, "cortex": cortex,
                                        "mapping": mapping})

    def make_file(self, template):
        made, variables = super().make_file(template)
        cortex = made.provenance["cortex"]
        variables.update(subject=str(Path(str(self.subject)).expanduser().resolve()), head=self.name,
                         trans=str(self.trans), surface=self.surface,
                         conductivity=np.asarray(self.conductivity, dtype=float),
                         mapping=made.provenance["mapping"], head_pos=cortex.pos, head_ori=cortex.ori,
                         head_tri=cortex.tri.astype(float), head_rm=cortex.rm.astype(float),
                         head_n_left=float(cortex.n_left),
                         head_inflated=np.zeros((0, 3)) if cortex.inflated is None else cortex.inflated)
        return made, variables

    def options(self, template):
        out = ["--subject", str(self.subject), "--trans", str(self.trans), "--sensors", str(self.spec)]
        out += [] if self.bem is None else ["--bem", str(self.bem)]
        out += [] if self.surface == DEFAULT_SURFACE else ["--surface", self.surface]
        if tuple(self.conductivity) != DEFAULT_CONDUCTIVITY:
            out += ["--conductivity", ",".join(f"{c:g}" for c in self.conductivity)]
        return out

    def values(self, template):
        return {"leadfield": None, "sensors": str(self.spec), "bem": self.bem, "subject": str(self.subject),
                "trans": str(self.trans), "surface": self.surface, "conductivity": self.conductivity}

    def label(self, template):
        return f"{self.file_name} (--subject {self.name} --sensors {self.spec})"

    def about(self):
        return f"made for --subject {self.name} --sensors {self.spec}"

    @property
    def file_name(self):
        return leadfield_name(self.spec).replace("leadfield_", f"leadfield_{self.name}_", 1)


def source_of(leadfield=None, sensors=None, bem=None, subject=None, trans=None, surface=None, conductivity=None):
    """The provider the options name: ``--subject`` (with ``--trans``, ``--sensors``), ``--sensors`` (with
    ``--bem``), else the template's file (``--leadfield``)."""
    if subject is not None:
        if sensors is None:
            raise LeadFieldError("--subject: give --sensors SPEC too, the patient's recording or digitisation "
                                 "(the sensors of its lead field)")
        if trans is None:
            raise LeadFieldError("--subject: give --trans FILE too, the patient's head <-> MRI transform "
                                 "(-trans.fif, made with mne coreg)")
        return Patient(str(sensors), None if bem is None else str(bem), subject=str(subject), trans=str(trans),
                       surface=surface or DEFAULT_SURFACE,
                       conductivity=tuple(float(c) for c in (conductivity or DEFAULT_CONDUCTIVITY)))
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
