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
from pathlib import Path
import time

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline import science
from deepsif_pipeline.config import commands
from deepsif_pipeline.config.options import DATASETS
from deepsif_pipeline.config.settings import Settings, fingerprint_entries
from deepsif_pipeline.console import OK, say
from deepsif_pipeline.head.anatomy import (INFLATED, REGION_MAPPING, content_digest, describe_template,
                                           distance_file, leadfield_id, load_distances, template_identity)
from deepsif_pipeline.processes import children, testhook
from deepsif_pipeline.processes.engine import run_function, run_functions, write_job
from deepsif_pipeline.results import Result, State, Status, Verdict
from deepsif_pipeline.steps import extract
from deepsif_pipeline.steps.base import WAYS_OUT, Step, Unit, describe_outcome, failed_or_stopped, show_engine_failure
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.files import fsync_path, mat_file_problem, sweep_temporaries
from deepsif_pipeline.store.fingerprint import (FORMAT, FingerprintError, canonical, describe, differences, digest,
                                                flatten, legacy, parse)
from deepsif_pipeline.store.layout import compact_ranges

NAME = "synthesise"
FUNCTION = "generate_synthetic_source"  # matlab/generate_synthetic_source.m
PAD = science.PAD_VALUE  # padding of selected_region and mag_change
TIMEOUT_S = 4 * 3600.0  # default time limit of one step-4 process (about 20x what was measured here)


def fingerprint(settings, template, leadfield, clips, counts, head=None):
    """What decides the step-4 file of this run.

    Parameters
    ----------
    settings : Settings
    template : Template
        The one whose geometry (centres, neighbours, distances) step 4 reads: a head's (``Context.synthesis_template``).
    leadfield : LeadField
        The one step 4 reads (``Context.synthesis_leadfield``).
    clips : dict
        The clips' fingerprint (``extract.fingerprint``: it holds the lead field step 2 scaled them with).
    counts : array_like
        ``(n_regions,)`` clips of every region.
    head : str or None
        A patient's head (``--subject``): named, and its files' content is the geometry and lead field above.

    Returns
    -------
    dict
    """
    return {"format": FORMAT, "step": NAME, "about.template": describe_template(template, leadfield.label),
            **({} if head is None else {"head": head, "input.clips_leadfield": clips.get("template.leadfield")}),
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
    counts, others = extract.clip_counts(ctx.layout, ctx.template.n_regions, ctx.fingerprint(extract.STEP),
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
    template, leadfield = ctx.synthesis_template, ctx.synthesis_leadfield
    return dict(inflated=str(template.path(INFLATED)), region_mapping=str(template.path(REGION_MAPPING)),
                distances=str(distances), leadfield=str(leadfield.path),
                leadfield_id=leadfield_id(leadfield.path), clip_pattern=ctx.layout.clip_pattern(),
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
    distances = distance_file(ctx.synthesis_template, ctx.layout.derived_dir, log=log)
    fields = job_fields(ctx, counts, distances, out, asked)
    testhook.hold("step4-started", stop=children.STOP)
    status = run_staged(ctx.engine, fields, ctx.layout, ctx.settings.dataset, processes(), ctx.limits["step4"])
    outcome = children.Outcome.from_status(status)
    if outcome.ok:
        fsync_path(out)
    return outcome


def sweep(layout, dataset):
    """Delete what a killed step 4 of ``dataset`` left (under the dataset's claim): its temporaries, its job
    files and the derived files' temporaries.

    Returns
    -------
    list of Path
    """
    synthesis = layout.synthesis_file(dataset)
    gone = sweep_temporaries(layout.output, synthesis.stem + "_") + sweep_temporaries(layout.derived_dir)
    job = layout.synthesis_job(dataset)
    if layout.log_dir.is_dir():
        for path in layout.log_dir.glob(f"{job.stem}*.mat"):
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone + sweep_temporaries(layout.log_dir, job.stem)


def manifest_entry(layout, dataset, filename):
    """The manifest's entry (``store/manifest.py``) of the step-4 file of ``dataset``, from the file; None
    without one (the pack adds its own: ``steps.dataset_entry``)."""
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
    return out


STEP4_VARIABLES = ("selected_region", "nmm_idx", "random_samples", "scale_ratio", "mag_change", "sensor_snr",
                   "current_snr")  # what the trainer reads of a step-4 file


def read_synthesis(path):
    """A step-4 file's variables, or raise ValueError saying why it cannot serve the trainer."""
    try:
        meta = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for broken files
        raise ValueError(f"{Path(path).name} cannot be read ({type(exc).__name__}: {exc})") from None
    absent = [v for v in STEP4_VARIABLES if v not in meta]
    if absent:
        raise ValueError(f"{Path(path).name} lacks {', '.join(absent)}")
    return meta




def check_synthesis(meta, counts, distances):
    """Sizes, padding, clip choices and magnitudes of a step-4 file.

    ``distances`` is the template's ``raw_dis_matrix`` (regions x regions).
    """
    problems = []
    sr, mag = meta["selected_region"], meta["mag_change"]
    n_ex, n_src = sr.shape[:2]
    for name in ("nmm_idx", "random_samples"):
        if meta[name].shape != (n_ex, n_src):
            problems.append(f"{name} is {meta[name].shape}, expected {(n_ex, n_src)}")
    for name in ("sensor_snr", "current_snr"):
        if meta[name].shape != (n_ex, 1):
            problems.append(f"{name} is {meta[name].shape}, expected {(n_ex, 1)}")
    if mag.shape != sr.shape or meta["scale_ratio"].shape[:2] != (n_ex, n_src):
        problems.append(f"mag_change {mag.shape} / scale_ratio {meta['scale_ratio'].shape} do not match "
                        f"selected_region {sr.shape}")
        return problems
    pad = sr == PAD
    n_real = (~pad).sum(axis=2)
    if np.any(pad != (np.arange(sr.shape[2]) >= n_real[..., None])) or np.any(n_real == 0):
        problems.append(f"selected_region: padding {PAD} must follow the patch regions, centre first")
    if np.any((mag == PAD) != pad):
        problems.append("mag_change is padded where selected_region is not (or the reverse)")
    centres = sr[:, :, 0].astype(int)
    if np.any(counts[centres] <= 0):
        problems.append("a source centre is a region without clips")
    elif np.any(meta["random_samples"] < 1) or np.any(meta["random_samples"] > counts[centres]):
        problems.append("random_samples names a clip its region does not have")
    if not np.allclose(mag[:, :, 0], 1.0):
        problems.append("mag_change is not 1 at the centre")
    else:
        flat_sr, flat_mag = sr.reshape(-1, sr.shape[2]), mag.reshape(-1, sr.shape[2])
        for row in range(flat_sr.shape[0]):
            ids = flat_sr[row][flat_sr[row] != PAD].astype(int)
            order = np.argsort(distances[ids[0], ids], kind="stable")
            if np.any(np.diff(flat_mag[row][: len(ids)][order]) > 1e-12):
                problems.append(f"mag_change increases with distance (example {row // n_src}, "
                                f"source {row % n_src})")
                break
    if not np.all(np.isfinite(meta["scale_ratio"])) or np.any(meta["scale_ratio"] <= 0):
        problems.append("scale_ratio has non-finite or non-positive values")
    return problems




def file_problems(ctx, counts):
    """What ``--verify`` finds wrong with the step-4 file of a run (``--redo`` makes it again then).

    ``counts``: ``(n_regions,)`` the regions' clip counts.
    """
    layout, template = ctx.layout, ctx.synthesis_template
    try:
        meta = read_synthesis(layout.synthesis_file(ctx.settings.dataset))
    except ValueError as exc:
        return [str(exc)]
    distances = load_distances(distance_file(template, layout.derived_dir))
    return check_synthesis(meta, np.asarray(counts), distances)




def _fwd_problem(path, n_regions):
    """``(fwd, problem)``: a lead field file's ``fwd``, or why it cannot serve (``problem``, else None)."""
    try:
        fwd = np.asarray(loadmat(str(path), variable_names=["fwd"])["fwd"], dtype=float)
    except Exception as exc:  # scipy raises several types for broken files
        return None, f"{path} cannot be read ({type(exc).__name__}: {exc})"
    if fwd.ndim != 2 or fwd.shape[1] != n_regions or not np.all(np.isfinite(fwd)):
        return None, (f"{path.name}: fwd is {fwd.shape}{'' if np.all(np.isfinite(fwd)) else ' with non-finite values'}"
                      f", expected sensors x {n_regions} regions, finite")
    return fwd, None


def check_leadfield(layout, template, leadfield, counts, meta=None, head_leadfield=None):
    """The lead field this check uses is the one the clips and the step-4 file were made with.

    The lead field (the template's, or the one made for ``--sensors`` in
    ``derived/``) must be sensors x regions and finite; its content must be
    the one the manifest records for the clip set (step 2 scaled the
    spikes with it) and the one the step-4 file names (``leadfield_id``,
    its scale ratios); the clips' sensor projections (``proj``) have its
    sensor count. The trainer must project with this same matrix.

    Parameters
    ----------
    leadfield : deepsif_pipeline.head.leadfields.LeadField
    counts : numpy.ndarray
        ``(n_regions,)`` clip counts, -1 where a region is not done.
    meta : dict or None
        The step-4 file's variables, when there is one.
    head_leadfield : deepsif_pipeline.head.leadfields.LeadField or None
        A patient's (``--subject``): the step-4 file is made with it, the clips with ``leadfield``.

    Returns
    -------
    problems : list of str
    detail : str
        What it is, for the passing row.
    """
    path = leadfield.path
    fwd, problem = _fwd_problem(path, template.n_regions)
    if problem:
        return [problem], ""
    made = leadfield_id(path)
    problems = []
    step4 = head_leadfield or leadfield
    if head_leadfield is not None:
        head_fwd, problem = _fwd_problem(head_leadfield.path, template.n_regions)
        if problem:
            return [problem], ""
    recorded = (manifest.clip_set(manifest.read(layout), layout.filename) or {}).get("settings", {})
    if recorded.get("template.leadfield") not in (None, made):
        problems.append(f"the clips were made with another lead field than {path.name} (the manifest records "
                        f"{recorded['template.leadfield']}, {path.name} is {made})")
    if meta is not None and "leadfield_id" in meta:
        named, expected = str(np.asarray(meta["leadfield_id"]).ravel()[0]), leadfield_id(step4.path)
        if named != expected:
            problems.append(f"the step-4 file was made with another lead field ({named}) than {step4.path.name} "
                            f"({expected})")
    with_clips = np.flatnonzero(counts > 0)
    if with_clips.size:
        r = int(with_clips[0])
        proj = loadmat(str(layout.clip(r, 1)), variable_names=["proj"]).get("proj")
        if proj is not None and np.asarray(proj).shape[0] != fwd.shape[0]:
            problems.append(f"{layout.clip(r, 1)}: proj has {np.asarray(proj).shape[0]} sensors, {path.name} "
                            f"{fwd.shape[0]}")
    if head_leadfield is not None:
        return problems, (f"{head_leadfield.path.name} ({head_leadfield.source.about()}): {head_fwd.shape[0]} sensors "
                          f"x {head_fwd.shape[1]} regions, the one the step-4 file was made with (the clips: "
                          f"{path.name}, {leadfield.source.about()}): give the trainer this file")
    return problems, (f"{path.name} ({leadfield.source.about()}): {fwd.shape[0]} sensors x {fwd.shape[1]} regions, the one the clips "
                      f"{'and the step-4 file ' if meta is not None else ''}were made with: give the trainer this "
                      "file")


class Synthesise(Step):
    """Step 4 (unit: the dataset): the synthetic source parameters, once every region of the template is done."""

    name, title, unit = NAME, "STEP 4", Unit.DATASET
    role, label = "step 4", "Synthetic source"

    def fingerprint(self, ctx, counts=()):
        """Its settings and inputs: the clips' fingerprint and every region's clip count (``counts``)."""
        return fingerprint(ctx.settings, ctx.synthesis_template, ctx.synthesis_leadfield, ctx.fingerprint(extract.STEP),
                           counts, head=None if ctx.head is None else ctx.head.name)

    def outputs(self, ctx, unit):
        return [ctx.layout.synthesis_file(unit)]

    def judge(self, ctx, unit, counts=()):
        return judge(ctx.layout, ctx.settings, self.fingerprint(ctx, counts))

    def banner(self, ctx, unit, verdict=None):
        return f"STEP 4: Generating synthetic source ({ctx.layout.synthesis_file(unit).name})"

    def run(self, ctx, unit):
        """Step 4 once every region is current; a Result (``WAITING`` while regions are missing)."""
        layout, settings = ctx.layout, ctx.settings
        start = time.time()
        counts, waiting, problem = inputs(ctx)
        if problem:
            return Result(Status.FAILED, problem)
        if waiting:
            n = ctx.template.n_regions
            what = f"{len(waiting)} of {n} regions have no markers yet ({compact_ranges(waiting)})"
            say(f"Step 4 needs every region of the template: {what}. Skipping; run the remaining regions, then "
                f"re-run or use: {commands.suggest(ctx, '--synthesis-only')}")
            return Result(Status.WAITING, what)
        empty = [r for r, c in enumerate(counts) if c == 0]
        if len(empty) == len(counts):
            return Result(Status.FAILED, "no region has any clip: nothing to synthesise (longer --sim-length?)")
        if empty:
            say(f"{len(empty)} regions have no clip and cannot be source centres: {compact_ranges(empty)}")
        asked = self.fingerprint(ctx, counts)
        out = layout.synthesis_file(unit)
        verdict = judge(layout, settings, asked)
        failing = file_problems(ctx, counts) if verdict.current and ctx.redo else []
        if verdict.current and not failing:
            say(f"{OK} {out} is up to date (made from these clips and settings); not regenerated")
            return Result(Status.SKIPPED)
        if failing:  # --redo repairs what --verify finds
            out.unlink()
            say(f"--redo: {out.name} fails --verify's checks ({'; '.join(failing[:3])}): deleted, made again")
        if verdict.state is State.OTHER_SETTINGS:
            if not ctx.redo:
                return Result(Status.FAILED, f"{verdict.detail}; {WAYS_OUT}")
            say(f"--redo: {verdict.detail}: making it again")
        elif verdict.detail:
            say(verdict.detail)
        outcome = run(ctx, counts, asked, log=say)
        if not outcome.ok:
            log = layout.synthesis_log(unit)
            show_engine_failure(ctx.engine, outcome, log)
            return failed_or_stopped(outcome, describe_outcome("step 4", outcome, "--timeout-step4", log))
        say(f"{OK} Wrote {out} in {time.time() - start:.1f} s")
        return Result(Status.DONE, seconds=time.time() - start)

    def sweep(self, layout, unit):
        return sweep(layout, unit)

    def checks(self, ctx, found):
        """The step-4 file: readable with what the trainer reads; its lead field the clips'; sizes, padding,
        clip choices and magnitudes (``found['meta']``: its variables, for the pack's check)."""
        layout, dataset, fixes = ctx.layout, ctx.settings.dataset, found["commands"]
        path = layout.synthesis_file(dataset)
        if not path.is_file():
            found["stop"] = True
            return [("synthetic source file", [f"no {path}" + (f": make it with: {fixes['synthesis']}"
                                                               if "synthesis" in fixes else "")], "", None)]
        try:
            meta = read_synthesis(path)
        except ValueError as exc:
            found["stop"] = True
            return [("synthetic source file", [str(exc) + (f": make it again with: {fixes['synthesis_redo']}"
                                                           if "synthesis_redo" in fixes else "")], "", None)]
        found["meta"] = meta
        counts = found["counts"]
        leadfield_problems, detail = check_leadfield(layout, ctx.template, ctx.leadfield, counts, meta,
                                                     head_leadfield=None if ctx.head is None else ctx.head.leadfield)
        distances = load_distances(distance_file(ctx.synthesis_template, layout.derived_dir))
        return [("lead field", leadfield_problems, detail, None),
                ("synthetic source fields", check_synthesis(meta, counts, distances),
                 f"{meta['selected_region'].shape[0]} examples x {meta['selected_region'].shape[1]} sources",
                 fixes.get("synthesis_redo"))]


STEP = Synthesise()
