"""The pipeline's steps, each declared in one module.

- ``simulate`` (step 1; unit: region and mean iteration): the raw pieces
  ``raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_{k}.mat``, made by ``generate_tvb_data.py``.
- ``extract`` (step 2; region and mean iteration): the clips ``nmm_{f}/a{r}/nmm_{n}.mat``
  and, last, the marker ``nmm_{f}/clip_info/iter{m}/iter_{m}_i_{r}.mat``, made by
  ``matlab/process_region_nmm.m``.
- ``clean`` (step 3; region): deletes ``raw_nmm/a{r}`` once step 2 is current.
- ``synthesise`` (step 4; dataset): ``{dataset}_sample_source1.mat``, made by
  ``matlab/generate_synthetic_source.m``.
- ``pack`` (dataset): ``{dataset}_sample_nmm.h5``, the clips step 4 uses.

Each module declares the outputs of a unit, their fingerprint (what made
them: ``deepsif_pipeline/fingerprint.py``), a ``judge`` that tells from the
files alone whether the unit is current (a
:class:`deepsif_pipeline.results.Verdict`), and how to run it.
``deepsif_pipeline.runner`` does, for every unit: claim, judge, run,
record; ``deepsif_pipeline.plan`` judges a whole command before anything
runs (refusals, ``--dry-run``, ``--status``). ``docs/architecture.md`` has
the table of steps, outputs and fingerprints.
"""

from dataclasses import dataclass, field

from deepsif_pipeline.config.settings import Settings
from deepsif_pipeline.head.leadfields import LeadField, template_leadfield
from deepsif_pipeline.store.layout import Layout


@dataclass
class Context:
    """What every step of one run needs: its settings, the template, the output folder, the engine.

    Attributes
    ----------
    settings : Settings
    template : deepsif_pipeline.head.anatomy.Template
    layout : Layout
    engine : deepsif_pipeline.engine.Engine or None
        MATLAB or Octave (None for runs that need neither).
    limits : dict
        ``{'step1': seconds or None, 'step2': ..., 'step4': ...}``.
    redo : bool
        Replace a unit's outputs made with other settings (``--redo``).
    keep_raw : bool
        Skip step 3 (``--keep-raw``).
    progress : str
        The run's progress display (``--progress``).
    verbose : bool
        Also show each step's own output (step 1's pieces, MATLAB/Octave's lines) on the console;
        it always goes to the region's log.
    leadfield : deepsif_pipeline.head.leadfields.LeadField
        The lead field steps 2 and 4 use (default: the template's own file).
    """

    settings: Settings
    template: object
    layout: Layout
    engine: object = None
    limits: dict = field(default_factory=lambda: {"step1": None, "step2": None, "step4": None})
    redo: bool = False
    keep_raw: bool = False
    progress: str = "auto"
    verbose: bool = False
    leadfield: LeadField = None
    _fingerprints: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.leadfield is None:
            self.leadfield = template_leadfield(self.template)

    def fingerprint(self, step):
        """The fingerprint this run gives the outputs of ``step`` ('simulate', 'extract'; cached)."""
        if step not in self._fingerprints:
            from deepsif_pipeline.steps import extract, simulate
            module = {"simulate": simulate, "extract": extract}[step]
            self._fingerprints[step] = module.fingerprint(self.settings, self.template, self.leadfield)
        return self._fingerprints[step]
