"""The pipeline's steps, each declared in one module.

============  ==========================  ==========================================  ============================
step          unit of work                outputs (``deepsif_pipeline.layout``)       fingerprint (what made them)
============  ==========================  ==========================================  ============================
simulate      region, mean iteration      ``raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_*``  template connectivity and
              (``generate_tvb_data.py``)                                               regions, --seed, --a-range,
                                                                                       --sim-length, --piece-length,
                                                                                       --engine, --raw-rate, science
                                                                                       step1
extract       region, mean iteration      ``nmm_{f}/a{r}/nmm_{n}.mat`` and the         simulate's without
              (``matlab/process_          marker ``clip_info/iter{m}/iter_{m}_i_{r}``  --piece-length and --raw-rate
              region_nmm.m``)                                                          (shown not to change clips),
                                                                                       + lead field, --target-snr,
                                                                                       science step2
clean         region                      (deletes ``raw_nmm/a{r}``)                   none: done when the raw folder
                                                                                       is gone and extract is current
synthesise    dataset                     ``{dataset}_sample_source1.mat``             template centres, neighbours,
              (``matlab/generate_                                                      distances, lead field, --seed,
              synthetic_source.m``)                                                    --dataset, --filename, science
                                                                                       step4; inputs: the clips'
                                                                                       fingerprint and counts
pack          dataset                     ``{dataset}_sample_nmm.h5``                  inputs: the step-4 file's
                                                                                       fingerprint and clip rows
============  ==========================  ==========================================  ============================

Each module declares the outputs of a unit, its fingerprint, a ``judge``
that tells from the files alone whether the unit is current (a
:class:`deepsif_pipeline.results.Verdict`), and how to run it, returning a
:class:`deepsif_pipeline.results.Result`. ``deepsif_pipeline.runner`` does,
for every unit: claim, judge, run, record; ``deepsif_pipeline.plan`` judges
a whole command before anything runs (refusals, ``--dry-run``, ``--status``).
"""

from dataclasses import dataclass, field

from ..layout import Layout
from ..settings import Settings


@dataclass
class Context:
    """What every step of one run needs: its settings, the template, the output folder, the engine.

    Attributes
    ----------
    settings : Settings
    template : deepsif_pipeline.anatomy.Template
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
        Step 1's progress mode.
    """

    settings: Settings
    template: object
    layout: Layout
    engine: object = None
    limits: dict = field(default_factory=lambda: {"step1": None, "step2": None, "step4": None})
    redo: bool = False
    keep_raw: bool = False
    progress: str = "auto"
    _fingerprints: dict = field(default_factory=dict, repr=False)

    def fingerprint(self, step):
        """The fingerprint this run gives the outputs of ``step`` ('simulate', 'extract'; cached)."""
        if step not in self._fingerprints:
            from . import extract, simulate
            module = {"simulate": simulate, "extract": extract}[step]
            self._fingerprints[step] = module.fingerprint(self.settings, self.template)
        return self._fingerprints[step]
