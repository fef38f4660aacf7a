"""Step 2, extract: isolated spikes of a region, scaled and saved as clips (``matlab/process_region_nmm.m``).

Unit of work: a (region, mean iteration). Outputs: the clips numbered in it,
``nmm_{f}/a{r}/nmm_{n}.mat`` (``data`` ``(500, n_regions)`` single precision,
as the published step 2 keeps the raw data's; the sensor projection ``proj``,
double, and ``proj_leadfield``), then its marker
``nmm_{f}/clip_info/iter{m}/iter_{m}_i_{r}.mat`` (``num_spike``: the region's
clips so far, ``spike_time``, ``seed``, ``target_snr``, ``alpha``,
``fingerprint``), written last. Clips are numbered on across the mean
iterations, so a region's mean iterations are made in order, with the same
settings: the unit is current when its marker exists, is whole, carries this
run's fingerprint and every clip it counts is a whole file.

The fingerprint leaves out ``--piece-length`` and ``--raw-rate``: the clips
are the same whatever the pieces (``tests/test_generate_tvb_data.py``:
piece boundaries do not change the signal, both engines;
``tests/test_pipeline_orchestrator.py``: decimated pieces give identical
clips). It keeps everything else step 1 depends on, since the clips are made
from its output.

It leaves out the clips' precision too, on purpose. Step 2 up to commit
b693363 stored ``data`` in double precision; today's stores the same values
rounded to single (``tests/test_step2_previous_version.py``: same spike times
and counts, every value the float32 rounding of the earlier one). A folder
made by an earlier version is therefore current, and a clip set may hold
both kinds: step 4 reads every clip as double, the pack stores float32 (the
same rows from either kind) and ``--verify`` compares in float32
(``tests/test_mixed_clip_precision.py``). Refusing such folders as "other
settings" would make every finished region's step 2 run again without
changing a single number the trainer reads.
"""

import time

import numpy as np
from scipy.io import loadmat, whosmat

from deepsif_pipeline import science
from deepsif_pipeline.config import commands
from deepsif_pipeline.config.settings import fingerprint_entries
from deepsif_pipeline.console import FAIL, OK, plural, say
from deepsif_pipeline.head.anatomy import describe_template, leadfield_id, template_identity
from deepsif_pipeline.processes import children
from deepsif_pipeline.processes.engine import run_function, write_job
from deepsif_pipeline.results import Result, State, Status, Verdict
from deepsif_pipeline.steps.base import (WAYS_OUT, Step, Unit, describe_outcome, failed_or_stopped, read_from,
                                         show_engine_failure)
from deepsif_pipeline.steps.clean import discard, discard_from
from deepsif_pipeline.steps.simulate import piece_steps
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.files import mat_file_problem
from deepsif_pipeline.store.fingerprint import (FORMAT, canonical, describe, differences, digest, flatten, legacy,
                                                parse)

NAME = "extract"
FUNCTION = "process_region_nmm"  # matlab/process_region_nmm.m

# Default time limit of a step-2 process: a start-up allowance plus wall seconds per simulated second
# (all mean iterations), about 20 times what was measured here.
TIMEOUT_BASE_S = 900.0
TIMEOUT_S_PER_SIMULATED_S = 1.0


class MarkerError(Exception):
    """A marker file exists but cannot be read (one-line message)."""


def fingerprint(settings, template, leadfield):
    """What decides the clips and markers of every (region, mean iteration) of this run.

    Returns
    -------
    dict
        The template's connectivity, region count and lead field, the run
        seed, ``--a-range``, ``--sim-length``, ``--engine`` (and the fast
        engine's version, ``settings.engine_entries``),
        ``--target-snr`` and the science parameters of steps 1 and 2.
    """
    return {"format": FORMAT, "step": NAME, "about.template": describe_template(template, leadfield.label),
            "template.connectivity": template_identity(template, "connectivity"),
            "template.regions": template_identity(template, "regions"),
            "template.leadfield": leadfield_id(leadfield.path), **fingerprint_entries(settings, NAME),
            **flatten("science.step1.", science.values("step1")),
            **flatten("science.step2.", science.values("step2"))}


def time_limit(settings):
    """Default seconds a step-2 process of one region may take."""
    return TIMEOUT_BASE_S + TIMEOUT_S_PER_SIMULATED_S * settings.sim_length * len(science.MEAN_ITERATIONS)


def read_marker(path):
    """A marker's ``num_spike`` and what it records of how it was made.

    Returns
    -------
    dict
        ``num_spike`` (int), ``fingerprint`` (dict, None for markers made
        before fingerprints), ``seed`` and ``target_snr`` (or None), and
        ``clips_needed`` (float: the clips after which the run that made it
        simulated no further mean iteration, ``inf`` for all of them and for
        markers made before ``--mean-iterations``).

    Raises
    ------
    MarkerError
        The file exists but is not a readable marker.
    """
    problem = mat_file_problem(path)
    try:
        if problem is None:
            saved = loadmat(str(path), variable_names=["num_spike", "fingerprint", "seed", "target_snr",
                                                       "clips_needed"])
            scalar = {k: float(np.asarray(saved[k]).ravel()[0]) for k in ("seed", "target_snr", "clips_needed")
                      if k in saved and np.asarray(saved[k]).size}
            return {"num_spike": int(np.asarray(saved["num_spike"]).ravel()[0]),
                    "fingerprint": parse(np.asarray(saved["fingerprint"]).ravel()[0]) if "fingerprint" in saved
                    else None, "seed": scalar.get("seed"), "target_snr": scalar.get("target_snr"),
                    "clips_needed": scalar.get("clips_needed", float("inf"))}
    except Exception as exc:  # scipy raises several types for broken files; FingerprintError too
        problem = str(exc)
    raise MarkerError(f"marker {path} is damaged ({problem})")


def _legacy(layout, region, mean_iteration, marker, asked):
    """The fingerprint of a marker made before fingerprints (version 0.1.0's defaults assumed).

    What the marker records (its seed, target SNR) is used, and the region
    count of its clips when it has any (a clip is ``(500, n_regions)``).
    """
    recorded = {}
    if marker["seed"] is not None:
        same = int(marker["seed"]) == science.simulation_seed(asked["seed"], region, mean_iteration)
        recorded["seed"] = asked["seed"] if same else f"another (this marker's seed is {int(marker['seed'])})"
    if marker["target_snr"] is not None:
        recorded["target_snr"] = marker["target_snr"]
    first = layout.clip(region, 1)
    if first.is_file():
        try:
            shape = {name: shape for name, shape, _ in whosmat(str(first))}.get("data")
            if shape and len(shape) == 2:
                recorded["template.regions"] = int(shape[1])
        except Exception:
            pass  # damaged: judged with the clips
    return legacy(asked, recorded)


def judge(layout, region, asked, deep=True, needed=None, content=None):
    """What is on disk of a region's step 2 (clips and markers of its mean iterations).

    A region is done when every mean iteration has its marker, or when the
    markers of its first mean iterations count at least ``needed`` clips:
    the mean iterations after them are not needed (step 4 reads clips
    ``1..nper`` only, and those are the same files whether later mean
    iterations run or not).

    Parameters
    ----------
    layout : Layout
    region : int
    asked : dict or None
        This run's :func:`fingerprint`; None to take the markers as they
        are, whatever made them (``--verify`` reads the counts so).
    deep : bool
        Also check that every clip the markers count is a whole file
        (headers only: 5 ms per 100 clips). Without it, only the markers are read.
    needed : float or None
        Clips after which no further mean iteration is needed
        (``Settings.clips_needed``; ``inf``: every mean iteration). None:
        what the last marker records (the rule of the run that made it).
    content : int or None
        The template's region count: with ``deep``, also read every counted
        clip's data as ``--verify`` does (:func:`clip_content_problem`;
        ``--redo``, which repairs what ``--verify`` finds).

    Returns
    -------
    Verdict
        ``CURRENT`` (``clips``: the region's clips; ``not_needed``: the mean
        iterations it did not need), ``MISSING`` or ``PARTIAL`` (``todo``:
        mean iterations without marker, in order; ``clips``: counted so
        far), ``OTHER_SETTINGS`` (the first marker made differently) or
        ``DAMAGED`` (a marker or clip missing, cut short or unreadable;
        ``repair``: what ``--redo`` deletes and makes again).
    """
    counts, old, recorded_needed = {}, False, float("inf")
    for m in science.MEAN_ITERATIONS:
        path = layout.marker(m, region)
        if not path.is_file():
            counts[m] = None
            continue
        try:
            marker = read_marker(path)
        except MarkerError as exc:
            kept = max([c for c in counts.values() if c is not None], default=0)
            return Verdict(State.DAMAGED, str(exc), repair=(m, kept + 1))
        recorded = marker["fingerprint"]
        old = old or recorded is None
        if asked is not None and recorded is None:
            recorded = _legacy(layout, region, m, marker, asked)
        diffs = differences(recorded, asked) if asked is not None else []
        if diffs:
            return Verdict(State.OTHER_SETTINGS, f"mean iteration {m} of region {region} was made with other "
                           f"settings ({describe(diffs)})", differences=tuple(diffs), legacy=marker["fingerprint"]
                           is None)
        counts[m] = marker["num_spike"]
        recorded_needed = marker["clips_needed"]
    made = [m for m, c in counts.items() if c is not None]
    total = counts[made[-1]] if made else None
    todo = tuple(m for m, c in counts.items() if c is None)
    threshold = recorded_needed if needed is None else needed
    prefix = made == list(science.MEAN_ITERATIONS[:len(made)])
    not_needed = todo if todo and made and prefix and total >= threshold else ()
    if todo and not not_needed:
        return Verdict(State.MISSING if len(todo) == len(counts) else State.PARTIAL, todo=todo, legacy=old,
                       clips=total)
    if deep:
        problem, first = clip_problems(layout, region, counts, content)
        if problem:
            m = mean_iteration_of(counts, first)
            kept = max([c for k, c in counts.items() if c is not None and k < m], default=0)
            return Verdict(State.DAMAGED, problem, clips=total, legacy=old, repair=(m, kept + 1))
    return Verdict(State.CURRENT, clips=total, legacy=old, not_needed=not_needed,
                   clips_needed=threshold if not_needed else None)


def repair_text(region, verdict):
    """What ``--redo`` does to a region judged ``DAMAGED``: one phrase, e.g. for its failure line."""
    m, first = verdict.repair
    return (f"--redo deletes its markers from mean iteration {m} on and its clips from nmm_{first}.mat on, and makes "
            f"them again (same seeds, same clips)")


def mean_iteration_of(counts, clip):
    """The mean iteration whose step 2 made clip number ``clip`` (counts are cumulative).

    Parameters
    ----------
    counts : dict
        ``{mean_iteration: num_spike}`` (None: no marker).
    clip : int
        1-based.
    """
    return next(m for m in science.MEAN_ITERATIONS if counts[m] is not None and counts[m] >= clip)


def clip_content_problem(path, n_regions):
    """Why a clip's data is not a ``(500, n_regions)`` array of finite values, or None (reads the whole file)."""
    try:
        data = loadmat(str(path), variable_names=["data"])["data"]
    except Exception as exc:  # scipy raises several types for broken files
        return f"clip {path} is unreadable ({type(exc).__name__})"
    if data.shape != (science.CLIP_LENGTH, n_regions):
        return f"clip {path} is {data.shape[0]} x {data.shape[1]}, expected {science.CLIP_LENGTH} x {n_regions}"
    if not np.all(np.isfinite(data)):
        return f"clip {path} has non-finite values"
    return None


def clip_problems(layout, region, counts, content=None):
    """The first clip counted by a region's markers that is not a whole file, and why.

    Parameters
    ----------
    counts : dict
        ``{mean_iteration: num_spike}`` of every mean iteration (None: no marker).
    content : int or None
        The template's region count: also read each clip's data (:func:`clip_content_problem`).

    Returns
    -------
    problem : str or None
        Missing clip files (how many, the first), or the first damaged one.
    clip : int or None
        The number of the first clip missing or damaged.
    """
    total = max(c for c in counts.values() if c is not None)
    absent = [n for n in range(1, total + 1) if not layout.clip(region, n).is_file()]
    for n in range(1, total + 1):
        path = layout.clip(region, n)
        if n in absent:
            return (f"{len(absent)} of {total} clip files missing in {layout.clip_dir(region)} "
                    f"(first: {path.name})"), n
        problem = mat_file_problem(path)
        if problem:
            return f"clip {path} is damaged ({problem})", n
        if content is not None:
            problem = clip_content_problem(path, content)
            if problem:
                return problem, n
    return None, None


def uncounted_clips(layout, region, clips):
    """Clip files of a region numbered above ``clips`` (its last marker's count), in number order.

    In a done region they are left by an interrupted step 2 of a later mean
    iteration (clips are written before their marker), and counted by no marker.
    """
    return layout.clips_above(region, clips)


def clip_counts(layout, n_regions, asked=None, needed=None):
    """Clips of every region whose step 2 is current with ``asked`` (None: any), from the markers alone.

    ``needed``: as in :func:`judge` (None: the rule the markers record).

    Returns
    -------
    counts : numpy.ndarray
        ``(n_regions,)`` clip counts, -1 where a region is not current.
    verdicts : dict
        ``{region: Verdict}`` of the regions that are not current.
    """
    counts = np.full(n_regions, -1, dtype=int)
    others = {}
    for r in range(n_regions):
        verdict = judge(layout, r, asked, deep=False, needed=needed)
        if verdict.current:
            counts[r] = verdict.clips
        else:
            others[r] = verdict
    return counts, others


def _cell(items):
    """A MATLAB cell row (1 x n) of ``items`` for a job file."""
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def job(ctx, region, upto=None):
    """Write the job file of ``matlab/process_region_nmm.m`` for one region; return its path.

    The job gives full paths: the raw pieces of the mean iterations up to
    ``upto`` (default: all; in time order), their markers, and the clips'
    ``sprintf`` pattern. Mean iterations with a marker are skipped by the
    function; the others need their raw pieces. ``clips_needed`` (the
    run's ``--mean-iterations`` rule) is stored in the markers.
    """
    layout, s, template = ctx.layout, ctx.settings, ctx.template
    n_pieces = len(piece_steps(s.sim_length, s.piece_length))
    its = tuple(m for m in science.MEAN_ITERATIONS if upto is None or m <= upto)
    return write_job(layout.step2_job(region),
                     raw_pieces=_cell([_cell([str(p) for p in layout.raw_pieces(region, m, n_pieces)]) for m in its]),
                     markers=_cell([str(layout.marker(m, region)) for m in its]),
                     clip_pattern=layout.clip_pattern(region), region=float(region),
                     columns=(template.columns + 1).astype(float), leadfield=ctx.leadfield.path,
                     leadfield_id=leadfield_id(ctx.leadfield.path), target_snr=float(s.target_snr),
                     iterations=np.array(its, dtype=float),
                     seeds=np.array([science.simulation_seed(s.seed, region, m) for m in its], dtype=float),
                     clips_needed=float(s.clips_needed),
                     fingerprint=canonical(ctx.fingerprint(STEP)))


def run(ctx, region, upto=None):
    """Step 2 of one region (its mean iterations up to ``upto``) in one MATLAB/Octave process; a ``children.Outcome``.

    The process's output is appended to ``logs/region_{r}.log``; the job
    file is removed when it succeeded.
    """
    path = job(ctx, region, upto)
    status = run_function(ctx.engine, FUNCTION, path, ctx.layout.region_log(region), timeout=ctx.limits["step2"],
                          env=children.single_threaded_env())
    outcome = children.Outcome.from_status(status)
    if outcome.ok:
        path.unlink()
    return outcome


def manifest_entry(layout, region, software_index):
    """A region's entry in the manifest (``store/manifest.py``), from its markers and clip files; None when
    its step 2 is not done.

    A region is done with every mean iteration's marker, or with the markers
    of its first mean iterations when they reached the clips the run that
    made them needed (``not_needed``: the mean iterations it did not simulate,
    and that count).
    """
    verdict = judge(layout, region, None, deep=False)
    if not verdict.current:
        return None
    per, made = [], None
    for m in science.MEAN_ITERATIONS:
        if m in verdict.not_needed:
            continue
        try:
            marker = read_marker(layout.marker(m, region))
        except (MarkerError, OSError):
            return None
        per.append(marker["num_spike"])
        made = marker["fingerprint"]
    folder = layout.clip_dir(region)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0
    entry = {"clips": per[-1], "per_iteration": per, "bytes": size,
             "fingerprint": digest(made) if made else manifest.BEFORE_FINGERPRINTS, "made_by": software_index}
    if verdict.not_needed:
        entry["not_needed"] = {"mean_iterations": list(verdict.not_needed), "clips_reached": verdict.clips_needed,
                               "why": verdict.not_needed_text()}
    return entry


def check_markers(layout, n_regions):
    """Every region has its markers and exactly the clip files the last one counts.

    Returns
    -------
    problems : list of str
    counts : numpy.ndarray
        ``(n_regions,)`` clip counts, -1 where a region is not done.
    damaged : list of int
        Regions with a damaged marker, a counted clip missing or a clip no marker counts.
    """
    counts, others = clip_counts(layout, n_regions)
    damaged = sorted(r for r, v in others.items() if v.state is State.DAMAGED)
    problems = [others[r].detail for r in damaged]
    missing = np.flatnonzero(counts < 0)
    if missing.size > len(problems):
        problems.append(f"{missing.size} regions are not done: markers missing (first: region {missing[0]})")
    for r in np.flatnonzero(counts >= 0):
        folder = layout.clip_dir(r)
        on_disk = {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.is_dir() else set()
        expected = {layout.clip(r, n).name for n in range(1, counts[r] + 1)}
        if on_disk != expected:
            lost, extra = sorted(expected - on_disk), sorted(on_disk - expected)
            problems.append(f"region {r}: marker counts {counts[r]} clips but "
                            + (f"{layout.clip_dir(r) / lost[0]} is missing" if lost else
                               f"{layout.clip_dir(r) / extra[0]} is not counted by any marker"))
            damaged.append(int(r))
    return problems, counts, sorted(damaged)




def load_clip(path, n_regions):
    """A clip's data, or raise ValueError saying what is wrong with the file (``extract.clip_content_problem``)."""
    problem = clip_content_problem(path, n_regions)
    if problem:
        raise ValueError(problem)
    return loadmat(str(path), variable_names=["data"])["data"]




def check_clips(layout, counts, n_regions):
    """Every counted clip is a readable 500 x regions array of finite values.

    Returns
    -------
    problems : list of str
    regions : list of int
        The regions with such a clip.
    """
    problems, regions = [], []
    for r in np.flatnonzero(counts > 0):
        for n in range(1, counts[r] + 1):
            path = layout.clip(r, n)
            if path.is_file():
                problem = clip_content_problem(path, n_regions)
                if problem:
                    problems.append(problem)
                    regions.append(int(r))
                    break  # the region is made again from this clip's mean iteration on
    return problems, regions


class Extract(Step):
    """Step 2 (unit: a region's mean iteration): its clips and marker, made in MATLAB/Octave.

    A region's mean iterations are made in order (clips are numbered on
    across them), so the region is judged as a whole (:func:`judge`): its
    verdict says which mean iterations it still needs (``todo``). Its marker
    is what makes a region done.
    """

    name, title, unit, claimed = NAME, "STEP 2", Unit.ITERATION, True

    def fingerprint(self, ctx):
        return fingerprint(ctx.settings, ctx.template, ctx.leadfield)

    def outputs(self, ctx, unit):
        region, m = unit
        return [ctx.layout.marker(m, region)]  # (and the clips it counts)

    def judge(self, ctx, unit, deep=True, content=False):
        """The verdict of ``unit``'s region (a region number, or ``(region, mean iteration)``).

        ``content``: also read every clip's data as ``--verify`` does (``--redo``).
        """
        region = unit[0] if isinstance(unit, tuple) else unit
        return judge(ctx.layout, region, ctx.fingerprint(self), deep=deep, needed=ctx.settings.clips_needed,
                     content=ctx.template.n_regions if content else None)

    def judge_region(self, ctx, region, later):
        """The region's verdict from its markers (a marker that cannot be read: ``DAMAGED``)."""
        try:
            return self.judge(ctx, region, deep=False)
        except (OSError, ValueError) as exc:
            return Verdict(State.DAMAGED, f"region {region}: {exc}")

    def banner(self, ctx, unit, verdict=None):
        return f"STEP 2: Processing raw NMM data for region {unit[0]}"

    def prepare(self, rr):
        """Judge the region (with ``--redo``, every clip read, as ``--verify`` does); damaged markers or clips,
        and outputs made with other settings, are refused, or deleted with ``--redo``. A region found done
        is said so, and the clips no marker counts (an interrupted step 2) are removed."""
        ctx, r = rr.ctx, rr.region
        layout = ctx.layout
        verdict = self.judge(ctx, r, content=ctx.redo)
        if verdict.state is State.DAMAGED:
            if not ctx.redo:
                return Result(Status.DAMAGED, f"{verdict.detail}; {repair_text(r, verdict)}: "
                                              f"{commands.repair(ctx, [r])}")
            while verdict.state is State.DAMAGED:
                m, first = verdict.repair
                gone = discard_from(layout, r, m, first)
                say(f"--redo: region {r}: {verdict.detail}; deleted {plural(gone, 'file')}: its markers from mean "
                    f"iteration {m} on and its clips from nmm_{first}.mat on, made again below")
                verdict = self.judge(ctx, r, content=True)
        if verdict.state is State.OTHER_SETTINGS:
            if not ctx.redo:
                return Result(Status.FAILED, f"{verdict.detail}; {WAYS_OUT}")
            say(f"--redo: region {r} was made with other settings ({describe(list(verdict.differences))}); deleted "
                f"its {discard(layout, r)} files")
            verdict = self.judge(ctx, r)
        rr.verdict, rr.found_done = verdict, verdict.current
        if verdict.current:
            made = [m for m in science.MEAN_ITERATIONS if m not in verdict.not_needed]
            say(f"{OK} Region {r} already processed (markers for mean iterations {', '.join(map(str, made))}: "
                f"{plural(verdict.clips, 'clip')}" + (f"; {verdict.not_needed_text()}" if verdict.not_needed else "")
                + "); skipping")
            extra = uncounted_clips(layout, r, verdict.clips)
            if extra:  # an interrupted step 2 of a mean iteration this region did not need after all
                for path in extra:
                    path.unlink()
                say(f"region {r}: removed {plural(len(extra), 'clip file')} that no marker counts ({extra[0].name}"
                    f"{'' if len(extra) == 1 else f' to {extra[-1].name}'}; left by an interrupted step 2)")
        return None

    def run(self, rr, unit):
        """Step 2 of the region's mean iterations up to ``unit``'s, in one MATLAB/Octave process; judged after."""
        ctx, (r, m) = rr.ctx, unit
        log = ctx.layout.region_log(r)
        started = time.time()
        seen = log.stat().st_size if log.is_file() else 0
        outcome = run(ctx, r, upto=m)
        output = read_from(log, seen)
        if ctx.verbose:
            for line in output:
                say(line)
        if not outcome.ok:
            if not ctx.verbose:
                show_engine_failure(ctx.engine, outcome, log, output)
            why = describe_outcome(f"step 2 ({ctx.engine.name})", outcome, "--timeout-step2", log)
            say(f"{FAIL} Processing raw NMM data failed for region {r}: {why}")
            return failed_or_stopped(outcome, why)
        made = self.judge(ctx, r)
        clips = "" if made.clips is None else f": {plural(made.clips, 'clip')}"
        say(f"{OK} Successfully processed raw NMM data for region {r} ({ctx.engine.name}, "
            f"{time.time() - started:.1f} s){clips}" + (f"; {made.not_needed_text()}" if made.not_needed else ""))
        rr.verdict = made
        if rr.claim is not None and (rr.claim.lost or not rr.claim.is_ours()):
            if made.current:
                say(f"{OK} Region {r} is processed, but its claim was taken over by another run while step 2 ran: "
                    "its raw data is left for that run to delete")
                return Result(Status.DONE, clips=made.clips, detail=made.not_needed_text())
            say(f"region {r}: its claim was taken over by another run while step 2 ran; its next mean iterations "
                "are left to that run")
            return Result(Status.ELSEWHERE, "claim taken over by another run while step 2 ran")
        return None

    def checks(self, ctx, found):
        """Every region has its markers and exactly the clip files they count; every clip reads as a
        500 x regions array of finite values (``found['counts']``: the regions' clip counts)."""
        layout, n = ctx.layout, ctx.template.n_regions
        repair = found["commands"].get("repair")
        problems, counts, damaged = check_markers(layout, n)
        found["counts"] = counts
        done = counts >= 0
        # a region done without the last mean iteration's marker had the clips step 4 reads before it
        early = [r for r in np.flatnonzero(done) if not layout.marker(science.MEAN_ITERATIONS[-1], r).is_file()]
        rows = [("markers match clip files", problems, f"{int(done.sum())} regions, {int(counts[done].sum())} clips"
                 + (f"; {len(early)} regions stopped early (later mean iterations not needed: the clips step 4 reads "
                    "reached)" if early else ""), repair(damaged) if damaged and repair else None)]
        problems, bad_clips = check_clips(layout, counts, n)
        rows.append(("clips are 500 x regions, finite", problems, f"{int(counts[done].sum())} clips read",
                     repair(bad_clips) if bad_clips and repair else None))
        return rows


STEP = Extract()
