#!/usr/bin/env python3
"""Step 1: simulate the neural mass network with one region made excitable (TVB or fast engine).

For each source region and mean iteration, a Jansen-Rit network on the
template's connectivity is integrated and ``y1 - y2`` is written in raw
pieces ``raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_{k}.mat`` (``time``,
``data`` (n_times, n_connectivity) float32, ``A``, ``seed``, ``mean_iter``,
``dt``, ``engine``). ``--engine tvb`` integrates with tvb-library;
``--engine fast`` with ``deepsif_pipeline.science.fast_engine``, the same equations,
parameters, delays and initial history (taken from the configured TVB
simulator) in numba, with its own noise samples. Each piece records the
fingerprint of the settings that made it (``deepsif_pipeline/steps/simulate.py``):
pieces that are complete and carry this run's fingerprint are kept, a mean
iteration whose pieces are all kept is not simulated again, and pieces made
with other settings stop the run (exit 2) rather than being mixed.

Usable on its own with DeepSIF's arguments::

    python generate_tvb_data.py --a_start 0 --a_end 2 --anatomy ANATOMY --output OUT

The orchestrator names units of work of any regions instead (``--units 3:0 17:0 17:1``): the
fast engine advances up to four of them together, one per lane.
"""

import contextlib
from dataclasses import dataclass
import logging
import signal
import sys
import time
import warnings

import numpy as np

from deepsif_pipeline import science
from deepsif_pipeline.processes import testhook
from deepsif_pipeline.head.anatomy import AnatomyError
from deepsif_pipeline.head.builtin import resolve_template
from deepsif_pipeline.store.files import write_mat_atomic
from deepsif_pipeline.store.fingerprint import canonical
from deepsif_pipeline.store.layout import Layout, resolve_locations
from deepsif_pipeline.run.progress import mode_for
from deepsif_pipeline.results import State
from deepsif_pipeline.config.options import STEP1
from deepsif_pipeline.config.parser import build_parser
from deepsif_pipeline.config.settings import Settings, check_lengths
from deepsif_pipeline.steps.simulate import fingerprint, judge_pieces, kept_samples, piece_plan, piece_rows


def build_simulator(connectivity, excitable, a_value, mean_iteration, seed):
    """A configured TVB simulator for one region and mean iteration.

    Parameters
    ----------
    connectivity : tvb.datatypes.connectivity.Connectivity
        Configured connectivity.
    excitable : int
        0-based connectivity index of the source region.
    a_value : float
        Its excitatory gain A (mV).
    mean_iteration : int
        Index into ``science.MEAN_INPUT`` and ``science.NOISE_FACTOR``.
    seed : int
        Seed of the noise and of the random initial history.

    Returns
    -------
    tvb.simulator.simulator.Simulator
    """
    _import_tvb()
    from tvb.simulator import coupling, integrators, models, monitors, noise, simulator  # (loaded by _import_tvb)

    n = connectivity.number_of_regions
    gains = np.full(n, science.A_NORMAL)
    gains[excitable] = a_value
    model = models.JansenRit(A=gains, mu=np.array([science.MEAN_INPUT[mean_iteration]]),
                             v0=np.array([science.V0]), p_max=np.array([science.P_MAX]),
                             p_min=np.array([science.P_MIN]))
    nsig = np.zeros(6)
    nsig[science.NOISY_STATE_VARIABLE] = science.noise_sigma(
        science.NOISE_FACTOR[mean_iteration], a=np.asarray(model.a).item())
    integrator = integrators.HeunStochastic(dt=science.DT_MS, noise=noise.Additive(nsig=nsig, noise_seed=int(seed)))
    return simulator.Simulator(model=model, connectivity=connectivity,
                               coupling=coupling.SigmoidalJansenRit(a=np.array([science.COUPLING_A])),
                               integrator=integrator, monitors=(monitors.Raw(),)).configure()


def run_piece(sim, length_ms, progress):
    """Advance the simulator by one piece and return its output.

    Returns
    -------
    time : numpy.ndarray
        ``(n_times,)`` in ms.
    data : numpy.ndarray
        ``(n_times, n_connectivity)`` float32, ``y1 - y2`` (mV).
    """
    voi = list(sim.model.variables_of_interest)
    i1, i2 = voi.index("y1"), voi.index("y2")
    n_steps = int(round(length_ms / sim.integrator.dt))
    t = np.empty(n_steps)
    data = np.empty((n_steps, sim.connectivity.number_of_regions), dtype=np.float32)
    i = 0
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        # The first 500 ms are a transient with huge values: exp overflows harmlessly.
        warnings.simplefilter("ignore", RuntimeWarning)
        for (ti, yi), in sim(simulation_length=length_ms):
            t[i] = ti
            data[i] = yi[i1, :, 0] - yi[i2, :, 0]
            i += 1
            if i % 200 == 0:
                progress.advance(200)
    progress.advance(i % 200)
    return t[:i], data[:i]


def run_fast_lanes(fast, length_ms, progress):
    """Advance a :class:`deepsif_pipeline.science.fast_engine.FastSimulator` by one piece, all its lanes.

    Returns
    -------
    time : numpy.ndarray
        ``(n_times,)`` in ms.
    data : numpy.ndarray
        ``(n_lanes, n_times, n_connectivity)`` float32, ``y1 - y2`` (mV) of each lane.
    """
    lanes = fast.n_lanes
    return fast.run_lanes(length_ms, progress=lambda k: progress.advance(k * lanes))


def make_simulators(connectivity, lanes, a_value, engine):
    """The simulator(s) of units of work, and the function that runs a piece of all of them.

    Both engines start from the same configured TVB simulators (parameters,
    delays, random initial history drawn with each unit's seed); the fast
    engine puts the units in the lanes of one simulator, each with its own
    excitable region, mean input and noise keyed with the unit's seed (a
    lane's output does not depend on the other lanes, see
    ``deepsif_pipeline.science.fast_engine``).

    Parameters
    ----------
    connectivity : tvb.datatypes.connectivity.Connectivity
    lanes : sequence of (int, int, int)
        ``(excitable, mean_iteration, seed)`` of each unit: the 0-based
        connectivity index of its source region, its mean iteration and
        seed; more than one only with ``engine='fast'`` (at most
        ``fast_engine.LANES``).
    a_value : float
        Excitatory gain of the source regions.
    engine : {'tvb', 'fast'}

    Returns
    -------
    sims : FastSimulator, or a one-element list of a tvb Simulator
    run : callable
        ``run(sims, length_ms, progress) -> (time, data)``, ``data``
        ``(len(lanes), n_times, n_connectivity)`` float32.
    """
    sims = [build_simulator(connectivity, excitable, a_value, m, seed) for excitable, m, seed in lanes]
    if engine == "tvb":
        if len(sims) != 1:
            raise ValueError("tvb-library runs one mean iteration at a time")
        return sims, lambda tvb, length_ms, progress: _one_lane(run_piece(tvb[0], length_ms, progress))
    if engine == "fast":
        from deepsif_pipeline.science.fast_engine import FastSimulator  # numba: only for the fast engine
        return FastSimulator.from_tvb_lanes(sims, [seed for _, _, seed in lanes]), run_fast_lanes
    raise ValueError(f"unknown engine {engine!r}")


def _one_lane(piece):
    """``(time, data)`` with ``data`` given a leading lane axis of length 1."""
    t, data = piece
    return t, data[None]


class Progress:
    """Progress of a region's simulation: a tqdm bar on a terminal, plain lines otherwise.

    Plain lines (every ``interval`` seconds and at the end of each piece)
    keep a ``nohup`` log free of carriage returns.
    """

    def __init__(self, total_steps, label, mode="auto", interval=60.0, stream=sys.stderr):
        self.total, self.label, self.stream, self.interval = total_steps, label, stream, interval
        self.done, self.start, self.last = 0, time.time(), time.time()
        mode = mode_for(mode, stream)
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm  # only for a bar on a terminal
            self.bar = tqdm(total=total_steps, desc=label, unit="step", file=stream, dynamic_ncols=True)
        self.quiet = mode == "none"

    def advance(self, steps):
        self.done += steps
        if self.bar is not None:
            self.bar.update(steps)
        elif not self.quiet and time.time() - self.last >= self.interval:
            self.line()

    def line(self, note=""):
        if self.bar is not None or self.quiet:
            if note and self.bar is not None:
                self.bar.write(f"{self.label}: {note}", file=self.stream)
            return
        elapsed = time.time() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        sim_s = self.done * science.DT_MS / 1000.0
        self.stream.write(f"{self.label}: {100.0 * self.done / self.total:5.1f}% "
                          f"({sim_s:.1f} simulated s in {elapsed:.0f} s, ETA {eta:.0f} s) {note}\n")
        self.stream.flush()
        self.last = time.time()

    def close(self):
        if self.bar is not None:
            self.bar.close()


class OtherSettings(Exception):
    """The region's raw folder holds pieces made with other settings (one-line message)."""


def simulate_region(template, layout, region, sim_length_s, piece_length_s, a_value, run_seed,
                    iterations=science.MEAN_ITERATIONS, progress_mode="auto", engine=Settings.engine,
                    raw_rate="full"):
    """Write the raw pieces of one region for the given mean iterations (:func:`simulate_units`).

    Returns
    -------
    dict
        ``{mean_iteration: 'kept' or 'simulated'}``.
    """
    done = simulate_units(template, layout, [(region, m) for m in iterations], sim_length_s, piece_length_s,
                          a_value, run_seed, progress_mode, engine, raw_rate)
    return {m: how for (_, m), how in done.items()}


def lane_groups(units, engine):
    """The step-1 passes of ``units``: up to ``fast_engine.LANES`` units a pass with the fast engine, one with tvb.

    A unit's output does not depend on the units it shares a pass with
    (``tests/test_fast_engine.py``), so any grouping gives the same files.

    Parameters
    ----------
    units : list
        Units of work in the order given.
    engine : {'tvb', 'fast'}

    Returns
    -------
    list of list
    """
    from deepsif_pipeline.science.fast_engine import LANES  # numba: only for the fast engine
    size = LANES if engine == "fast" else 1
    return [units[i:i + size] for i in range(0, len(units), size)]


def simulate_units(template, layout, units, sim_length_s, piece_length_s, a_value, run_seed, progress_mode="auto",
                   engine=Settings.engine, raw_rate="full"):
    """Write the raw pieces of units of work ``(region, mean iteration)``, of one region or several.

    The fast engine advances up to ``fast_engine.LANES`` units together,
    whatever their regions (each lane has its own excitable region, mean
    input, noise and seed: the unit's own); tvb-library one at a time.

    Parameters
    ----------
    template : deepsif_pipeline.head.anatomy.Template
    layout : deepsif_pipeline.store.layout.Layout
    units : sequence of (int, int)
        ``(region, mean_iteration)``: 0-based template region made
        excitable, and the index into ``science.MEAN_INPUT``.
    sim_length_s, piece_length_s : float
        Simulated seconds per mean iteration and per raw file.
    a_value : float
        Excitatory gain of the source region.
    run_seed : int
        Seed of the run; each unit derives its own (``science.simulation_seed``).
    progress_mode : {'auto', 'bar', 'lines', 'none'}
    engine : {'tvb', 'fast'}
        tvb-library, or ``deepsif_pipeline.science.fast_engine``.
    raw_rate : {'full', 'decimated'}
        Write every integration step, or only the samples step 2 uses
        (``kept_samples``: a quarter of the disk), with their 1-based
        ``sample_index`` and the piece's ``raw_steps``.

    Returns
    -------
    dict
        ``{(region, mean_iteration): 'kept' or 'simulated'}``.

    Raises
    ------
    OtherSettings
        A unit's raw folder holds pieces made with other settings (nothing
        is simulated then).
    """
    tvb_connectivity = _import_tvb()

    settings = Settings(seed=run_seed, a_range=a_value, sim_length=sim_length_s, piece_length=piece_length_s,
                        engine=engine, raw_rate=raw_rate)
    made_with = fingerprint(settings, template)
    rows = piece_rows(settings)
    lengths = science.piece_lengths_ms(sim_length_s, piece_length_s)
    first, steps = zip(*piece_plan(settings))  # 1-based global index of each piece's first sample, its samples
    n_conn = template.n_connectivity

    todo, result = [], {}
    for region, m in units:
        verdict = judge_pieces(layout, region, m, made_with, rows, n_conn)
        if verdict.state is State.OTHER_SETTINGS:
            raise OtherSettings(f"{verdict.detail}: re-run with the settings that made them, or delete "
                                f"{layout.raw_dir(region)} (the orchestrator's --redo does) to simulate the region "
                                "again")
        if verdict.state is State.CURRENT:
            result[region, m] = "kept"
            print(f"region {region} mean iteration {m}: all {len(rows)} raw pieces already complete", flush=True)
        else:
            todo.append(_Unit(region, m, science.simulation_seed(run_seed, region, m),
                              layout.raw_pieces(region, m, len(rows)), tuple(verdict.todo)))
            result[region, m] = "simulated"
    if not todo:
        return result

    for unit in todo:
        layout.raw_dir(unit.region).mkdir(parents=True, exist_ok=True)
    conn = tvb_connectivity.Connectivity.from_file(str(template.connectivity))
    conn.configure()
    regions = sorted({unit.region for unit in todo})
    label = f"region{'s' if len(regions) > 1 else ''} {', '.join(map(str, regions))}"
    progress = Progress(sum(steps) * len(todo), label, progress_mode)

    def write(unit, k, t, data):
        """Write piece ``k`` of ``unit``."""
        gains = np.full(n_conn, science.A_NORMAL)
        gains[int(template.columns[unit.region])] = a_value
        keep = kept_samples(first[k], steps[k]) if raw_rate == "decimated" else np.arange(steps[k])
        piece = {"time": t[keep], "data": data[keep], "A": gains, "seed": unit.seed, "mean_iter": unit.mean_iteration,
                 "dt": science.DT_MS, "engine": engine, "raw_rate": raw_rate, "fingerprint": canonical(made_with)}
        if raw_rate == "decimated":
            piece.update(sample_index=(first[k] + keep).astype(float), raw_steps=float(steps[k]))
        write_mat_atomic(unit.paths[k], piece)

    try:
        for group in lane_groups(todo, engine):
            sims, run = make_simulators(conn, [(int(template.columns[u.region]), u.mean_iteration, u.seed)
                                               for u in group], a_value, engine)
            last_needed = max(max(u.missing) for u in group)
            for k, length in enumerate(lengths[:last_needed + 1]):
                t, data = run(sims, length, progress)
                for unit, lane in zip(group, data):
                    if k in unit.missing:
                        write(unit, k, t, lane)
                        testhook.hold("step1-piece-written", unit.region)
                    progress.line(f"region {unit.region} mean iteration {unit.mean_iteration} piece "
                                  f"{k + 1}/{len(lengths)} {'written' if k in unit.missing else 'already complete'}")
            progress.advance(sum(steps[last_needed + 1:]) * len(group))
    finally:
        progress.close()
    return result


@dataclass(frozen=True)
class _Unit:
    """A (region, mean iteration) to simulate: its seed, its raw piece paths and the 0-based pieces missing."""

    region: int
    mean_iteration: int
    seed: int
    paths: list
    missing: tuple


def _import_tvb():
    """Import what step 1 uses of tvb-library, quietly; its ``Connectivity`` module.

    A region's step 1 is a new process, so this import is paid once per
    region (994 times for the dataset). ``tvb.simulator.lab`` would also
    import every model, monitor and plotting tool (3.2 s here, most of a
    ``tvb76`` region's 4.5 s); the modules themselves take about half of
    that. Of the rest, most is numba compiling, at import, the gufuncs of
    JansenRit and of the oscillator models (tvb-library's ``Simulator``
    builds one as its default model) without numba's on-disk cache:
    :func:`_gufuncs_cached` lets numba cache them (it recompiles them if tvb-library changes, and
    compiles them as before where it cannot write its cache). The numbers
    are from ``bench/bench_startup.py``.
    """
    if "tvb.simulator.simulator" not in sys.modules:
        with warnings.catch_warnings(), _gufuncs_cached():
            warnings.simplefilter("ignore")  # its import warns about optional modules
            import tvb.simulator.simulator  # noqa: F401
            from tvb.simulator import coupling, integrators, monitors, noise  # noqa: F401
            from tvb.simulator.models import JansenRit  # noqa: F401 (compiles its gufunc)
            from tvb.datatypes import connectivity  # noqa: F401
        logging.getLogger("tvb").setLevel(logging.ERROR)
    from tvb.datatypes import connectivity  # (imported above, with its warnings silenced)
    return connectivity


@contextlib.contextmanager
def _gufuncs_cached():
    """``numba.guvectorize`` caching on disk what it compiles in the block (unless told ``cache=``).

    A gufunc numba cannot cache (no folder it may write, or code without a
    source file) is compiled as before.
    """
    import numba  # (imported with tvb-library, which this wraps)
    original = numba.guvectorize

    def guvectorize(*args, **kwargs):
        if "cache" in kwargs or (len(args) == 1 and callable(args[0]) and not kwargs):
            return original(*args, **kwargs)  # told, or used without arguments: as it is
        cached, plain = original(*args, cache=True, **kwargs), original(*args, **kwargs)

        def wrap(function):
            try:
                return cached(function)
            except RuntimeError:  # numba: "cannot cache function ...: no locator available"
                return plain(function)
        return wrap
    numba.guvectorize = guvectorize
    try:
        yield
    finally:
        numba.guvectorize = original


def main(argv=None):
    args = build_parser(STEP1).parse_args(argv)
    # SIGTERM (the orchestrator stopping, a time limit) unwinds like Ctrl-C, so that the
    # temporary file of a piece being written is removed (write_mat_atomic).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return simulate_regions(args)
    except OtherSettings as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted: the raw pieces written so far are kept", file=sys.stderr)
        return 130


def simulate_regions(args):
    """Steps of :func:`main` after parsing; an exit status."""
    anatomy, output = resolve_locations(args.anatomy, args.output)
    try:
        template = resolve_template(anatomy, args.leadfield)
    except AnatomyError as exc:
        return fail(str(exc))
    s = Settings.from_args(args)
    error = check_lengths(s.sim_length, s.piece_length)
    if error:
        return fail(error)
    layout = Layout(output)
    if args.units:
        outside = sorted({r for r, _ in args.units if r >= template.n_regions})
        if outside:
            return fail(f"--units: regions {', '.join(map(str, outside))} are outside the template's "
                        f"0..{template.n_regions - 1}")
        start = time.time()
        print(f"------ Generate data of units {' '.join(f'{r}:{m}' for r, m in args.units)} ----------", flush=True)
        simulate_units(template, layout, list(dict.fromkeys(args.units)), s.sim_length, s.piece_length, s.a_range,
                       s.seed, args.progress, s.engine, s.raw_rate)
        print(f"Time for units: {time.time() - start:.1f} s", flush=True)
        return 0
    problem = range_problem(args.a_start, args.a_end, template.n_regions)
    if problem:
        return fail(problem)
    for region in range(args.a_start, args.a_end):
        start = time.time()
        print(f"------ Generate data of region_id {region} ----------", flush=True)
        simulate_region(template, layout, region, s.sim_length, s.piece_length, s.a_range, s.seed,
                        args.iterations, args.progress, s.engine, s.raw_rate)
        print(f"Time for {region}: {time.time() - start:.1f} s", flush=True)
    return 0


def range_problem(start, end, n_regions):
    """Why regions ``start..end-1`` cannot be simulated on a template of ``n_regions``, or None."""
    if start < 0:
        return f"--a_start {start} is negative: regions are numbered from 0"
    if end <= start:
        return f"--a_end ({end}) must be greater than --a_start ({start}); the end is exclusive"
    if end > n_regions:
        outside = f"region {n_regions}" if end == n_regions + 1 else f"regions {n_regions}..{end - 1}"
        return (f"{outside} of {start}..{end - 1} {'is' if end == n_regions + 1 else 'are'} outside the template: "
                f"it has regions 0..{n_regions - 1}")
    return None


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
