"""Step 1, simulate: the network with one region excitable, written in raw pieces.

Unit of work: a (region, mean iteration). Outputs: its raw pieces
``raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_{k}.mat`` (``Layout.raw_pieces``), each
with ``time``, ``data`` ``(n_times, n_connectivity)`` float32, ``A``,
``seed`` (the unit's own, derived from ``--seed``), ``engine``, ``raw_rate``
and ``fingerprint``. ``generate_tvb_data.py`` makes them, as a child process
of the orchestrator or on its own; both decide which pieces to (re)make with
:func:`judge_pieces`. Deleted by step 3 once step 2 is done.
"""

from pathlib import Path
import subprocess
import sys
import time

import numpy as np
from scipy.io import loadmat, whosmat

from deepsif_pipeline import science
from deepsif_pipeline.config.commands import passed_on
from deepsif_pipeline.config.settings import fingerprint_entries
from deepsif_pipeline.console import FAIL, OK, plural, say, tail
from deepsif_pipeline.head.anatomy import describe_template, template_identity
from deepsif_pipeline.processes import children
from deepsif_pipeline.results import Difference, Result, State, Status, Verdict
from deepsif_pipeline.steps import clean
from deepsif_pipeline.steps.base import WAYS_OUT, Step, Unit, describe_outcome, failed_or_stopped
from deepsif_pipeline.store.files import format_bytes, mat_file_problem
from deepsif_pipeline.store.fingerprint import FORMAT, FingerprintError, describe, differences, flatten, legacy, parse

NAME = "simulate"
SCRIPT = Path(__file__).resolve().parent.parent.parent / "generate_tvb_data.py"

# Default time limit of a step-1 process: a start-up allowance plus wall seconds per simulated second
# (all mean iterations), about 20 times what was measured here (README, "Measured here").
TIMEOUT_BASE_S = 900.0
TIMEOUT_S_PER_SIMULATED_S = {"tvb": 150.0, "fast": 5.0}
ENGINE_NAMES = {"fast": "fast engine", "tvb": "tvb-library"}  # what --engine runs, as people know it
PIECE_OVERHEAD = 1536  # bytes of a raw piece besides its arrays: MAT-file headers and the fingerprint (about 1 kB)


def fingerprint(settings, template, leadfield=None):
    """What decides the raw pieces of every (region, mean iteration) of this run.

    Parameters
    ----------
    settings : deepsif_pipeline.config.settings.Settings
    template : deepsif_pipeline.head.anatomy.Template
    leadfield : LeadField or None
        Not used: step 1 reads no lead field, and its child process (which
        writes this fingerprint into the raw pieces) describes the template
        with its own file.

    Returns
    -------
    dict
        The template's connectivity and region count, the run seed (each
        unit derives its own), ``--a-range``, ``--sim-length``,
        ``--piece-length``, ``--engine`` (and the fast engine's version,
        ``settings.engine_entries``), ``--raw-rate`` and the science
        parameters of step 1.
    """
    return {"format": FORMAT, "step": NAME, "about.template": describe_template(template, template.leadfield.name),
            "template.connectivity": template_identity(template, "connectivity"),
            "template.regions": template_identity(template, "regions"),
            **fingerprint_entries(settings, NAME), **flatten("science.step1.", science.values("step1"))}


def lanes_per_pass(settings):
    """Units of work one step-1 process advances together: the fast engine's lanes, one with tvb-library."""
    from deepsif_pipeline.science.fast_engine import LANES  # numba: imported only by a run that simulates
    return LANES if settings.engine == "fast" else 1


def piece_steps(sim_length_s, piece_length_s):
    """Integration steps of each raw piece of one mean iteration (the last one may be shorter)."""
    return [int(round(length / science.DT_MS)) for length in science.piece_lengths_ms(sim_length_s, piece_length_s)]


def kept_samples(first, n_steps):
    """Which raw samples of a piece step 2 uses (after the transient, every 4th).

    Parameters
    ----------
    first : int
        1-based global index (within the mean iteration) of the piece's first raw sample.
    n_steps : int
        Raw samples in the piece.

    Returns
    -------
    numpy.ndarray
        ``(n_kept,)`` 0-based rows of the piece; the rule of
        ``matlab/load_raw_iteration.m`` with ``transient_samples`` and
        ``downsample_factor`` of ``science.json``.
    """
    g = first + np.arange(n_steps)
    transient, factor = science.TRANSIENT_SAMPLES, science.DOWNSAMPLE_FACTOR
    return np.flatnonzero((g > transient) & ((g - transient - 1) % factor == 0))


def piece_plan(settings):
    """The raw pieces of a mean iteration: ``(first, n_steps)`` of each, in order.

    ``first`` is the 1-based global index (within the mean iteration) of the
    piece's first raw sample, ``n_steps`` its samples.
    """
    steps = piece_steps(settings.sim_length, settings.piece_length)
    return list(zip((int(f) for f in np.cumsum([1] + steps[:-1])), steps))


def _kept_up_to(last):
    """How many of the global samples 1..last step 2 uses (closed form of :func:`kept_samples`)."""
    transient, factor = science.TRANSIENT_SAMPLES, science.DOWNSAMPLE_FACTOR
    return max(0, (last - transient - 1) // factor + 1) if last > transient else 0


def piece_rows(settings):
    """Rows of ``data`` each raw piece of a mean iteration holds with these settings, in order."""
    if settings.raw_rate == "decimated":
        return [_kept_up_to(first + n - 1) - _kept_up_to(first - 1) for first, n in piece_plan(settings)]
    return [n for _, n in piece_plan(settings)]


def raw_bytes(n_columns, sim_length_s, piece_length_s, raw_rate="full", n_iterations=None):
    """Disk taken by one region's raw pieces (step 1's output, deleted by step 3).

    Computed in closed form, so any length is estimated at once.

    Parameters
    ----------
    n_columns : int
        Connectivity regions (columns of each piece's ``data``).
    sim_length_s, piece_length_s : float
    raw_rate : {'full', 'decimated'}
    n_iterations : int or None
        Mean iterations simulated (default: all of ``science.MEAN_ITERATIONS``).

    Returns
    -------
    int
        Bytes: ``data`` (float32) and ``time`` (float64, one row per kept
        sample; ``sample_index`` too when decimated), the gains, the
        fingerprint and the MAT-file headers (:data:`PIECE_OVERHEAD`),
        summed over the pieces.
    """
    n_iterations = len(science.MEAN_ITERATIONS) if n_iterations is None else n_iterations
    total = int(round(sim_length_s * 1000.0 / science.DT_MS))
    per = max(1, int(round(piece_length_s * 1000.0 / science.DT_MS)))
    n_pieces = -(-total // per)
    if raw_rate == "decimated":
        rows = max(0, -(-(total - science.TRANSIENT_SAMPLES) // science.DOWNSAMPLE_FACTOR))
        extra = 2 * rows  # time and sample_index
    else:
        rows, extra = total, total
    return (4 * rows * n_columns + 8 * extra + n_pieces * (8 * n_columns + PIECE_OVERHEAD)) * n_iterations


def time_limit(settings, n_iterations=None):
    """Default seconds a step-1 process of one region may take."""
    n = len(science.MEAN_ITERATIONS) if n_iterations is None else n_iterations
    return TIMEOUT_BASE_S + TIMEOUT_S_PER_SIMULATED_S[settings.engine] * settings.sim_length * n


def _recorded(path, asked, region, mean_iteration, fits):
    """The fingerprint a raw piece was made with (older pieces: rebuilt from what they hold)."""
    saved = loadmat(str(path), variable_names=["fingerprint", "seed", "engine", "raw_rate", "A"])
    if "fingerprint" in saved:
        return parse(np.asarray(saved["fingerprint"]).ravel()[0])
    seed = int(np.asarray(saved["seed"]).ravel()[0]) if "seed" in saved else None
    recorded = {"seed": asked["seed"] if seed == science.simulation_seed(asked["seed"], region, mean_iteration)
                else f"another (this piece's seed is {seed})",
                "engine": str(saved["engine"].ravel()[0]).strip() if "engine" in saved else "tvb",
                "raw_rate": str(saved["raw_rate"].ravel()[0]).strip() if "raw_rate" in saved else "full"}
    if "A" in saved:  # the gains: A_NORMAL everywhere but in the excitable region
        gains = np.asarray(saved["A"], dtype=float).ravel()
        odd = gains[gains != science.A_NORMAL]
        recorded["a_range"] = float(odd[0]) if odd.size else science.A_NORMAL
    if fits:  # the pieces on disk are the ones these lengths make
        recorded.update(sim_length=asked["sim_length"], piece_length=asked["piece_length"])
    return legacy(asked, recorded)


def judge_pieces(layout, region, mean_iteration, asked, rows, n_columns):
    """What is on disk of one (region, mean iteration)'s raw pieces.

    Parameters
    ----------
    layout : Layout
    region, mean_iteration : int
    asked : dict
        This run's :func:`fingerprint`.
    rows : list of int
        :func:`piece_rows` of this run's settings.
    n_columns : int
        Columns of ``data`` (the connectivity's regions).

    Returns
    -------
    Verdict
        ``CURRENT`` (every piece complete, made with these settings),
        ``MISSING``/``PARTIAL`` (``todo``: the 0-based pieces to write;
        cut-short pieces count as missing) or ``OTHER_SETTINGS``.
    """
    paths = layout.raw_pieces(region, mean_iteration, len(rows))
    present = layout.raw_pieces_present(region, mean_iteration)
    foreign = [p for p in present if p not in paths]
    todo = []
    for k, path in enumerate(paths):
        if not path.is_file() or mat_file_problem(path):
            todo.append(k)
            continue
        try:
            shape = {name: shape for name, shape, _ in whosmat(str(path))}.get("data")
            recorded = _recorded(path, asked, region, mean_iteration, fits=not foreign)
        except (FingerprintError, ValueError, OSError, IndexError, KeyError):
            todo.append(k)  # unreadable despite whole headers: made again
            continue
        diffs = differences(recorded, asked)
        if diffs:
            return _other(path, region, mean_iteration, diffs, recorded)
        if shape != (rows[k], n_columns):
            todo.append(k)
    if foreign:
        try:
            diffs = differences(_recorded(foreign[0], asked, region, mean_iteration, fits=False), asked)
        except (FingerprintError, ValueError, OSError, IndexError, KeyError):
            diffs = []
        if not diffs:
            diffs = [Difference("--sim-length/--piece-length", f"{len(present)} pieces ({foreign[0].name}, ...)",
                                f"{len(rows)} pieces")]
        return _other(foreign[0], region, mean_iteration, diffs, {})
    if not todo:
        return Verdict(State.CURRENT)
    return Verdict(State.MISSING if len(todo) == len(paths) else State.PARTIAL, todo=tuple(todo))


def _other(path, region, mean_iteration, diffs, recorded):
    return Verdict(State.OTHER_SETTINGS,
                   f"raw piece {path} of mean iteration {mean_iteration} of region {region} was made with other "
                   f"settings ({describe(diffs)})", differences=tuple(diffs),
                   legacy="about.made_by" in recorded)


def judge(ctx, region, iterations):
    """Raw pieces of the mean iterations ``iterations`` of a region: the first one made differently, or fine.

    Returns
    -------
    Verdict
        ``OTHER_SETTINGS`` for the first mean iteration with pieces made
        with other settings; else ``CURRENT`` when every piece is there,
        ``PARTIAL`` or ``MISSING`` (``todo``: mean iterations with pieces
        to write).
    """
    asked = ctx.fingerprint(STEP)
    rows = piece_rows(ctx.settings)
    n_columns = ctx.template.n_connectivity
    todo, any_piece = [], False
    for m in iterations:
        verdict = judge_pieces(ctx.layout, region, m, asked, rows, n_columns)
        if verdict.state is State.OTHER_SETTINGS:
            return verdict
        if verdict.state is not State.CURRENT:
            todo.append(m)
        any_piece = any_piece or verdict.state is not State.MISSING
    if not todo:
        return Verdict(State.CURRENT)
    return Verdict(State.PARTIAL if any_piece else State.MISSING, todo=tuple(todo))


def command(ctx, units):
    """The step-1 child's argument list for ``units``, a list of ``(region, mean_iteration)``."""
    # (the options declared for step 1: config/options.py; step 1 reads no lead field, and one made for
    # --sensors is not in the template folder: the template loads with its own)
    return [sys.executable, str(SCRIPT), "--units", *[f"{r}:{m}" for r, m in units], *passed_on(ctx, "step1"),
            "--progress", "lines"]


def run(ctx, units, echo=None):
    """Simulate ``units`` (``(region, mean_iteration)``, of one region or several) in one child process.

    The child's output (its progress, piece by piece, as plain lines) is
    appended to ``logs/region_{r}.log`` of each region, and each line passed
    to ``echo`` when given (``--verbose``).

    Returns
    -------
    children.Outcome
    """
    regions = list(dict.fromkeys(r for r, _ in units))
    return children.run(command(ctx, units), timeout=ctx.limits["step1"],
                        log=[ctx.layout.region_log(r) for r in regions], echo=echo, stdin=subprocess.DEVNULL,
                        env=children.single_threaded_env())


def logged_passes(log_dir):
    """The units of each step-1 process a folder's runs started, from its region logs (``$ ... --units``).

    A process of several regions is logged in each of their logs: it is
    counted once.

    Parameters
    ----------
    log_dir : Path
        ``OUTPUT/logs``.

    Returns
    -------
    list of set
        ``{(region, mean_iteration), ...}`` per process, in the order of their first units.
    """
    seen = {}
    for log in sorted(Path(log_dir).glob("region_*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if not (line.startswith("$ ") and "--units" in line):
                continue
            words = line.split()
            units = []
            for word in words[words.index("--units") + 1:]:
                if word.startswith("--"):
                    break
                units.append(tuple(map(int, word.split(":"))))
            seen.setdefault(" ".join(words), set(units))
    return sorted(seen.values(), key=lambda units: (min(m for _, m in units), sorted(units)))


class Simulate(Step):
    """Step 1 (unit: a region's mean iteration): its raw pieces, made in step-1 processes shared by the units of
    up to ``lanes_per_pass`` regions (the runner's lane workers run them: :attr:`shared`)."""

    name, title, unit, shared = NAME, "STEP 1", Unit.ITERATION, True

    def fingerprint(self, ctx):
        return fingerprint(ctx.settings, ctx.template, ctx.leadfield)

    def outputs(self, ctx, unit):
        region, m = unit
        return ctx.layout.raw_pieces(region, m, len(piece_rows(ctx.settings)))

    def judge(self, ctx, unit):
        region, m = unit
        return judge_pieces(ctx.layout, region, m, ctx.fingerprint(self), piece_rows(ctx.settings),
                            ctx.template.n_connectivity)

    def judge_region(self, ctx, region, later):
        """The region's verdict: ``later``'s (step 2's), unless the raw pieces of a mean iteration it still
        needs were made with other settings (``OTHER_SETTINGS``: they would be refused)."""
        if later.state in (State.MISSING, State.PARTIAL):
            raw = judge(ctx, region, later.todo)
            if raw.state is State.OTHER_SETTINGS:
                return raw
        return later

    def banner(self, ctx, unit, verdict=None):
        return f"STEP 1: Generating TVB data for region {unit[0]} ({ENGINE_NAMES[ctx.settings.engine]})"

    def prepare(self, rr):
        """Raw pieces of the mean iterations still to do made with other settings: refused, or deleted with
        ``--redo``; then the disk the region's raw data needs is reserved (deleted by step 3)."""
        ctx, r, verdict = rr.ctx, rr.region, rr.verdict
        if rr.found_done:
            return None
        layout, s = ctx.layout, ctx.settings
        raw = judge(ctx, r, verdict.todo)
        if raw.state is State.OTHER_SETTINGS:
            if not ctx.redo:
                return Result(Status.FAILED, f"{raw.detail}; {WAYS_OUT}")
            files, size = clean.raw_size(layout, r)
            clean.run(layout, r)
            say(f"--redo: deleted the raw data of region {r} made with other settings ({files} files, "
                f"{format_bytes(size)})")
        if rr.disk is not None:  # room for the raw data of every mean iteration it may need
            need = raw_bytes(ctx.template.n_connectivity, s.sim_length, s.piece_length, s.raw_rate, len(verdict.todo))
            problem = rr.disk.reserve(r, need)
            if problem:
                if rr.halt is not None:
                    rr.halt.reason = f"not enough disk space (region {r}, above)"
                return Result(Status.FAILED, problem)
        if verdict.state is State.PARTIAL:
            done = [m for m in science.MEAN_ITERATIONS if m not in verdict.todo]
            until = (f"until the region has {s.clips_needed:g} clips" if s.mean_iterations == "needed"
                     else "every mean iteration (--mean-iterations all)")
            say(f"mean iterations {', '.join(map(str, done))} already have markers; simulating "
                f"{', '.join(map(str, verdict.todo))} ({until}; {plural(verdict.clips, 'clip')} so far)")
        return None

    def run_together(self, ctx, units, echo=None):
        """Simulate ``units`` (of one region or several) in one step-1 process: the lane worker's pass."""
        return run(ctx, units, echo=echo)

    def run(self, rr, unit):
        """A generator: yields ``unit`` to the lane worker and is sent the outcome of the pass that simulated it."""
        ctx, (r, m), verdict = rr.ctx, unit, rr.verdict
        simulator = ENGINE_NAMES[ctx.settings.engine]
        log = ctx.layout.region_log(r)
        say(f"mean iteration {m}" + (f" (region {r} has {plural(verdict.clips, 'clip')}, needs "
                                     f"{ctx.settings.clips_needed:g})" if verdict.clips is not None else ""))
        started = time.time()
        outcome = yield unit
        if not outcome.ok:
            why = describe_outcome(f"step 1 ({simulator})", outcome, "--timeout-step1", log)
            say(f"{FAIL} Step 1 ({simulator}) failed for region {r}: {why}")
            if not outcome.stopped and not ctx.verbose:
                for line in tail(log, 8):
                    say(f"    {line}")
            return failed_or_stopped(outcome, why)
        say(f"{OK} Successfully generated TVB data for region {r} ({simulator}, mean iteration {m}: "
            f"{ctx.settings.sim_length:g} s simulated, in a pass of {time.time() - started:.1f} s)")
        return None


STEP = Simulate()
