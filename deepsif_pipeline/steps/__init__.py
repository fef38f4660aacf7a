"""The pipeline's steps, each declared in one module behind one interface (``base.Step``), in order.

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
them: ``store/fingerprint.py``), a ``judge`` that tells from the files alone
whether the unit is current (a :class:`deepsif_pipeline.results.Verdict`),
its banner, how it runs and what ``--verify`` checks of its outputs.
``run/runner.py`` does, for every unit: claim, judge, run, record, going
through :data:`STEPS` in order; ``run/plan.py`` judges a whole command
before anything runs (refusals, ``--dry-run``, ``--status``).
``docs/architecture.md`` has the table of steps, outputs and fingerprints.

A new step is one module (a ``Step`` of its own) and one line in :data:`STEPS`.
"""

from deepsif_pipeline.steps import clean, extract, simulate, synthesise, pack  # (in their import order)
from deepsif_pipeline.steps.base import Context, RegionRun, Step, Unit

__all__ = ["Context", "RegionRun", "Step", "Unit", "STEPS", "ITERATION_STEPS", "REGION_STEPS", "DATASET_STEPS",
           "region_verdict", "region_entry", "dataset_entry", "clean", "extract", "pack", "simulate", "synthesise"]

STEPS = (simulate.STEP, extract.STEP, clean.STEP, synthesise.STEP, pack.STEP)  # in the order they run

ITERATION_STEPS = tuple(s for s in STEPS if s.unit is Unit.ITERATION)  # a region's mean iterations, in order
REGION_STEPS = tuple(s for s in STEPS if s.unit is Unit.REGION)        # a region, once its mean iterations are done
DATASET_STEPS = tuple(s for s in STEPS if s.unit is Unit.DATASET)      # the dataset, once every region is done


def region_verdict(ctx, region):
    """A region's verdict from its files: the region steps judged from the last to the first.

    The last step that makes lasting outputs (step 2's markers) says what
    the region still needs; each earlier step then judges what it made for
    that (step 1: raw pieces made with other settings are refused).

    Returns
    -------
    deepsif_pipeline.results.Verdict
    """
    verdict = None
    for step in reversed(ITERATION_STEPS + REGION_STEPS):
        verdict = step.judge_region(ctx, region, verdict)
    return verdict


def region_entry(layout, region, software_index):
    """A region's entry in the manifest (``store/manifest.py``): step 2's, from its markers and clips."""
    return extract.manifest_entry(layout, region, software_index)


def dataset_entry(layout, dataset, filename):
    """The manifest's entry of the step-4 file of ``dataset``, with the pack's (``pack``); None without one."""
    entry = synthesise.manifest_entry(layout, dataset, filename)
    packed = pack.manifest_entry(layout, dataset) if entry is not None else None
    return entry if packed is None else dict(entry, pack=packed)
