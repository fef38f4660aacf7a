"""Step 4, synthesise: the synthetic source parameters DeepSIF trains on (``matlab/generate_synthetic_source.m``).

Unit of work: the dataset (``--dataset`` of the clip set ``--filename``),
once every region of the template has its step 2 current. Output:
``{dataset}_sample_source1.mat`` (``selected_region``, ``nmm_idx``,
``random_samples``, ``current_snr``, ``sensor_snr``, ``scale_ratio``,
``mag_change``, ``clip_rows``, ``seed``, ``clip_counts``, ``dataset``,
``fingerprint``).

Its fingerprint holds its settings (the template files it reads, the run
seed, ``--dataset``, ``--filename``, the science parameters of step 4) and
its inputs: the clips' fingerprint and the clip counts of every region. A
file made with other settings is refused unless ``--redo``; one made with
these settings from other clips (regions redone since) is made again.
"""

import os

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline.processes import children, testhook
from deepsif_pipeline import science
from deepsif_pipeline.head.anatomy import (content_digest, describe_template, distance_file, leadfield_id,
                                           template_identity)
from deepsif_pipeline.processes.engine import run_function, run_functions, write_job
from deepsif_pipeline.store.fingerprint import (FORMAT, FingerprintError, canonical, describe, differences, digest,
                                                flatten, legacy, parse)
from deepsif_pipeline.store.files import fsync_path, mat_file_problem, sweep_temporaries
from deepsif_pipeline.store.layout import compact_ranges
from deepsif_pipeline.config.options import DATASETS
from deepsif_pipeline.config.settings import Settings, fingerprint_entries
from deepsif_pipeline.results import State, Verdict
from deepsif_pipeline.steps import extract, pack

NAME = "synthesise"
FUNCTION = "generate_synthetic_source"  # matlab/generate_synthetic_source.m
TIMEOUT_S = 4 * 3600.0  # default time limit of one step-4 process (about 20x what was measured here)


def fingerprint(settings, template, leadfield, clips, counts):
    """What decides the step-4 file of this run.

    Parameters
    ----------
    settings : Settings
    template : Template
    leadfield : LeadField
    clips : dict
        The clips' fingerprint (``extract.fingerprint``).
    counts : array_like
        ``(n_regions,)`` clips of every region.

    Returns
    -------
    dict
    """
    return {"format": FORMAT, "step": NAME, "about.template": describe_template(template, leadfield.label),
            "template.centres": template_identity(template, "centres"),
            "template.neighbours": template_identity(template, "neighbours"),
            "template.distances": template_identity(template, "distances"),
            "template.leadfield": leadfield_id(leadfield.path), **fingerprint_entries(settings, NAME),
            **flatten("science.step4.", science.values("step4")),
            "input.clips": digest(clips), "input.clip_counts": counts_digest(counts)}


def counts_digest(counts):
    return content_digest(np.asarray(counts, dtype=np.int64).ravel())


def _recorded(path, asked, settings):
    """The fingerprint a step-4 file was made with (older files: rebuilt from what they hold)."""
    saved = loadmat(str(path), variable_names=["fingerprint", "seed", "dataset", "clip_counts", "clip_rows"])
    if "clip_rows" not in saved:
        return None
    if "fingerprint" in saved:
        return parse(np.asarray(saved["fingerprint"]).ravel()[0])
    seed = int(np.asarray(saved["seed"]).ravel()[0])
    recorded = {"seed": asked["seed"] if seed == science.synthesis_seed(settings.seed)
                else f"another (this file's seed is {seed})",
                "dataset": str(np.asarray(saved["dataset"]).ravel()[0]),
                "input.clip_counts": counts_digest(saved["clip_counts"])}
    return legacy(asked, recorded)


def judge(layout, settings, asked):
    """What is on disk of the step-4 file of this run's dataset.

    Returns
    -------
    Verdict
        ``MISSING``, ``CURRENT``, ``STALE`` (made with these settings from
        other clips, or cut short: made again) or ``OTHER_SETTINGS``.
    """
    path = layout.synthesis_file(settings.dataset)
    if not path.is_file():
        return Verdict(State.MISSING)
    problem = mat_file_problem(path)
    if problem:
        return Verdict(State.STALE, f"{path.name} is damaged ({problem}): made again")
    try:
        recorded = _recorded(path, asked, settings)
    except (FingerprintError, ValueError, OSError, KeyError, IndexError) as exc:
        return Verdict(State.STALE, f"{path.name} cannot be read ({exc}): made again")
    if recorded is None:
        return Verdict(State.STALE, f"{path.name} has no clip_rows (made by an older version): made again")
    diffs = differences(recorded, asked)
    if diffs:
        return Verdict(State.OTHER_SETTINGS, f"{path} was made with other settings ({describe(diffs)})",
                       differences=tuple(diffs), legacy="about.made_by" in recorded)
    changed = differences(recorded, asked, inputs=True)
    if changed:
        return Verdict(State.STALE, f"{path.name} was made from other clips ({', '.join(d.name for d in changed)} "
                       "changed since): made again")
    return Verdict(State.CURRENT, f"{path.name} is up to date", legacy="about.made_by" in recorded)


def on_disk(layout):
    """The datasets whose step-4 file is in the output folder, in ``options.DATASETS`` order."""
    return tuple(name for name in DATASETS if layout.synthesis_file(name).is_file())


def found_dataset(layout):
    """The dataset a command reading the folder takes when ``--dataset`` is not given.

    The one whose step-4 file the folder holds; the default (``train``) when
    it holds both or neither.
    """
    present = on_disk(layout)
    return present[0] if len(present) == 1 else Settings.dataset


def inputs(ctx):
    """The clip counts step 4 would use, or why it cannot run yet.

    Returns
    -------
    counts : numpy.ndarray or None
        ``(n_regions,)``, when every region is current.
    waiting : list of int
        Regions not done yet (not a failure).
    problem : str or None
        Regions made with other settings, or damaged (a failure).
    """
    counts, others = extract.clip_counts(ctx.layout, ctx.template.n_regions, ctx.fingerprint(extract.NAME),
                                         needed=ctx.settings.clips_needed)
    bad = {r: v for r, v in others.items() if v.state in (State.OTHER_SETTINGS, State.DAMAGED)}
    if bad:
        first = next(iter(bad.values()))
        kinds = sorted({v.state.value for v in bad.values()})
        return None, [], (f"{len(bad)} regions ({compact_ranges(bad)}) are {' or '.join(kinds)}, e.g. "
                          f"{first.detail}; re-run them (with --redo for other settings) before step 4")
    return (None if others else counts), sorted(others), None


def processes():
    """Processes step 4 splits its scale ratios over: one per usable core (it runs alone)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def job_fields(ctx, counts, distances, out, asked):
    """The fields of step 4's job file (``matlab/generate_synthetic_source.m``, see its help)."""
    from deepsif_pipeline.head.anatomy import INFLATED, REGION_MAPPING
    template = ctx.template
    return dict(inflated=str(template.path(INFLATED)), region_mapping=str(template.path(REGION_MAPPING)),
                distances=str(distances), leadfield=str(ctx.leadfield.path),
                leadfield_id=leadfield_id(ctx.leadfield.path), clip_pattern=ctx.layout.clip_pattern(),
                clip_counts=np.asarray(counts).astype(float), mode=ctx.settings.dataset,
                seed=float(science.synthesis_seed(ctx.settings.seed)), output=str(out),
                fingerprint=canonical(asked))


def run_staged(engine, fields, layout, dataset, n_parts, timeout=None):
    """Run step 4 from its job fields, its scale ratios split over ``n_parts`` processes.

    With one part, ``generate_synthetic_source`` runs everything in one
    process. Otherwise it runs in stages (see its help): the plan, then
    ``n_parts`` ratio processes at once (one BLAS thread each), then the
    finish; the stage files (``Layout.synthesis_stages``) are removed
    afterwards. The output is the same either way. ``timeout`` limits each
    process (seconds).

    Returns
    -------
    int
        0 on success, else the first non-zero exit status.
    """
    log = layout.synthesis_log(dataset)
    if n_parts <= 1:
        job = write_job(layout.synthesis_job(dataset), **fields)
        status = run_function(engine, FUNCTION, job, log, timeout=timeout)
        if status == 0:
            job.unlink()
        return status
    files = layout.synthesis_stages(dataset, n_parts)
    jobs, parts, part_logs = files["jobs"], files["parts"], files["part_logs"]
    write_job(jobs[0], **fields, stage="plan", plan_file=files["plan"])
    for k, part in enumerate(parts, start=1):
        write_job(jobs[k], **fields, stage="ratios", plan_file=files["plan"], part=float(k),
                  n_parts=float(n_parts), part_file=part)
    write_job(jobs[-1], **fields, stage="finish", plan_file=files["plan"],
              part_files=np.array([str(p) for p in parts], dtype=object))
    status = 1
    try:
        status = run_function(engine, FUNCTION, jobs[0], log, timeout=timeout)
        if status == 0:
            with open(log, "a") as fh:
                fh.write(f"scale ratios in {n_parts} processes: logs {', '.join(map(str, part_logs))}\n")
            failed = [(k, st) for k, st in enumerate(
                run_functions(engine, FUNCTION, jobs[1:-1], part_logs, timeout=timeout, single_threaded=True),
                start=1) if st != 0]
            if failed:
                k, status = failed[0]
                with open(log, "a") as fh, open(part_logs[k - 1]) as part_log:
                    fh.write(f"ratio part {k} failed (exit {status}):\n{part_log.read()}")
        if status == 0:
            status = run_function(engine, FUNCTION, jobs[-1], log, timeout=timeout)
        return status
    finally:
        for path in [files["plan"], *parts, *jobs]:
            path.unlink(missing_ok=True)
        if status == 0:
            for path in part_logs:
                path.unlink(missing_ok=True)


def run(ctx, counts, asked, log):
    """Make the step-4 file from ``counts``; a ``children.Outcome``.

    ``log`` receives one line when the distances are derived.
    """
    out = ctx.layout.synthesis_file(ctx.settings.dataset)
    distances = distance_file(ctx.template, ctx.layout.derived_dir, log=log)
    fields = job_fields(ctx, counts, distances, out, asked)
    testhook.hold("step4-started", stop=children.STOP)
    status = run_staged(ctx.engine, fields, ctx.layout, ctx.settings.dataset, processes(), ctx.limits["step4"])
    outcome = children.Outcome.from_status(status)
    if outcome.ok:
        fsync_path(out)
    return outcome


def sweep(layout, dataset):
    """Delete what a killed step 4 or pack of ``dataset`` left (under the step-4 claim).

    Returns
    -------
    list of Path
    """
    synthesis = layout.synthesis_file(dataset)
    gone = (sweep_temporaries(layout.output, synthesis.stem + "_")
            + sweep_temporaries(layout.output, layout.pack_file(dataset).stem)
            + sweep_temporaries(layout.derived_dir))
    job = layout.synthesis_job(dataset)
    if layout.log_dir.is_dir():
        for path in layout.log_dir.glob(f"{job.stem}*.mat"):
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone + sweep_temporaries(layout.log_dir, job.stem)


def manifest_entry(layout, dataset, filename):
    """The manifest's entry (``store/manifest.py``) of the step-4 file of ``dataset`` and its pack, from the
    files; None without a step-4 file."""
    path = layout.synthesis_file(dataset)
    if not path.is_file():
        return None
    try:
        saved = loadmat(str(path), variable_names=["fingerprint", "selected_region"])
        made = parse(np.asarray(saved["fingerprint"]).ravel()[0]) if "fingerprint" in saved else None
        examples = int(saved["selected_region"].shape[0]) if "selected_region" in saved else None
    except Exception:  # scipy's errors for a damaged file, FingerprintError
        made, examples = None, None
    out = {"file": path.name, "bytes": path.stat().st_size, "examples": examples, "clip_set": filename,
           "fingerprint": digest(made) if made else "not recorded", "settings": made or {}}
    packed = pack.describe(layout, dataset)
    if packed is not None:
        verdict = pack.judge(layout, dataset)
        out["pack"] = {"file": layout.pack_file(dataset).name, "rows": packed[0], "bytes": packed[1],
                       "current": verdict.current}
    return out
