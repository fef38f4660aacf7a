#!/usr/bin/env python3
"""Step 1: simulate the neural mass network with one region made excitable (TVB or fast engine).

For each source region and mean iteration, a Jansen-Rit network on the
template's connectivity is integrated and ``y1 - y2`` is written in raw
pieces ``raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_{k}.mat`` (``time``,
``data`` (n_times, n_connectivity) float32, ``A``, ``seed``, ``mean_iter``,
``dt``, ``engine``). ``--engine tvb`` integrates with tvb-library;
``--engine fast`` with ``deepsif_pipeline.fast_engine``, the same equations,
parameters, delays and initial history (taken from the configured TVB
simulator) in numba, with its own noise samples. Pieces that are already
complete (same size, seed and engine) are kept; a mean iteration whose
pieces are all complete is not simulated again.

Usable on its own with DeepSIF's arguments::

    python generate_tvb_data.py --a_start 0 --a_end 2 --anatomy ANATOMY --output OUT
"""

import argparse
import signal
import sys
import time
import warnings

import numpy as np
from scipy.io import whosmat, loadmat

from deepsif_pipeline import science
from deepsif_pipeline.anatomy import AnatomyError, DEFAULT_LEADFIELD, parse_piece_name
from deepsif_pipeline.files import mat_file_problem, write_mat_atomic
from deepsif_pipeline.builtin import resolve_template
from deepsif_pipeline.layout import Layout, resolve_locations


# Step 1's simulator unless --engine says otherwise: the numba engine, shown
# equivalent to tvb-library in tests/test_fast_engine.py; tvb stays the reference.
DEFAULT_ENGINE = "fast"


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
    from tvb.simulator.lab import coupling, integrators, models, monitors, noise, simulator

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


def run_fast_piece(fast, length_ms, progress):
    """:func:`run_piece` for a :class:`deepsif_pipeline.fast_engine.FastSimulator`: same returns."""
    return fast.run_piece(length_ms, progress=progress.advance)


def make_simulator(connectivity, excitable, a_value, mean_iteration, seed, engine):
    """The simulator of one region and mean iteration, and the function that runs a piece of it.

    Both engines start from the same configured TVB simulator (parameters,
    delays, random initial history drawn with ``seed``); the fast engine
    draws its noise from a PCG64 generator seeded with ``seed``.

    Returns
    -------
    sim : tvb Simulator or FastSimulator
    run : callable
        ``run(sim, length_ms, progress) -> (time, data)``.
    """
    sim = build_simulator(connectivity, excitable, a_value, mean_iteration, seed)
    if engine == "tvb":
        return sim, run_piece
    if engine == "fast":
        from deepsif_pipeline.fast_engine import FastSimulator
        return FastSimulator.from_tvb(sim, seed), run_fast_piece
    raise ValueError(f"unknown engine {engine!r}")


def piece_is_complete(path, n_times, n_columns, seed, engine="tvb", raw_rate="full"):
    """True when a raw piece on disk is whole and made with the expected seed, engine and rate.

    ``n_times`` is the number of rows expected (already decimated for
    ``raw_rate='decimated'``). A piece without an ``engine`` variable was
    made by tvb-library, one without ``raw_rate`` at the full rate (both
    from before these options existed).
    """
    try:
        if mat_file_problem(path):  # cut short or garbled (e.g. a copy that stopped half way)
            return False
        shapes = {name: shape for name, shape, _ in whosmat(str(path))}
        if shapes.get("data") != (n_times, n_columns):
            return False
        saved = loadmat(str(path), variable_names=["seed", "engine", "raw_rate"])
        made_by = str(saved["engine"].ravel()[0]).strip() if "engine" in saved else "tvb"
        rate = str(saved["raw_rate"].ravel()[0]).strip() if "raw_rate" in saved else "full"
        return int(saved["seed"].ravel()[0]) == int(seed) and made_by == engine and rate == raw_rate
    except Exception:
        return False


def raw_bytes(n_columns, sim_length_s, piece_length_s, raw_rate="full", n_iterations=None):
    """Disk taken by one region's raw pieces (step 1's output, deleted by step 3).

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
        sample; ``sample_index`` too when decimated), the gains and the
        MAT-file headers, summed over the pieces.
    """
    n_iterations = len(science.MEAN_ITERATIONS) if n_iterations is None else n_iterations
    lengths = science.piece_lengths_ms(sim_length_s, piece_length_s)
    steps = [int(round(length / science.DT_MS)) for length in lengths]
    first = np.cumsum([1] + steps[:-1])
    total = 0
    for f, n in zip(first, steps):
        rows = len(kept_samples(f, n)) if raw_rate == "decimated" else n
        extra = 2 * rows if raw_rate == "decimated" else rows  # time (+ sample_index)
        total += 4 * rows * n_columns + 8 * (extra + n_columns) + 512
    return total * n_iterations


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
        ``(n_kept,)`` 0-based rows of the piece; the rule is the one of
        ``matlab/load_raw_iteration.m``, with ``transient_samples`` and
        ``downsample_factor`` of step 2 (``deepsif_pipeline/science.json``).
    """
    transient, factor = science.TRANSIENT_SAMPLES, science.DOWNSAMPLE_FACTOR
    g = first + np.arange(n_steps)
    return np.flatnonzero((g > transient) & ((g - transient - 1) % factor == 0))


class Progress:
    """Progress of a region's simulation: a tqdm bar on a terminal, plain lines otherwise.

    Plain lines (every ``interval`` seconds and at the end of each piece)
    keep a ``nohup`` log free of carriage returns.
    """

    def __init__(self, total_steps, label, mode="auto", interval=60.0, stream=sys.stderr):
        self.total, self.label, self.stream, self.interval = total_steps, label, stream, interval
        self.done, self.start, self.last = 0, time.time(), time.time()
        if mode == "auto":
            mode = "bar" if stream.isatty() else "lines"
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm
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


class ForeignPieces(Exception):
    """The region's raw folder holds pieces this plan would not write (one-line message)."""


def simulate_region(template, layout, region, sim_length_s, piece_length_s, a_value, run_seed,
                    iterations=science.MEAN_ITERATIONS, progress_mode="auto", engine=DEFAULT_ENGINE,
                    raw_rate="full"):
    """Write the raw pieces of one region for the given mean iterations.

    Parameters
    ----------
    template : deepsif_pipeline.anatomy.Template
    layout : deepsif_pipeline.layout.Layout
    region : int
        0-based template region made excitable.
    sim_length_s, piece_length_s : float
        Simulated seconds per mean iteration and per raw file.
    a_value : float
        Excitatory gain of the source region.
    run_seed : int
        Seed of the run; each mean iteration derives its own.
    iterations : sequence of int
        Mean iterations to simulate.
    progress_mode : {'auto', 'bar', 'lines', 'none'}
    engine : {'tvb', 'fast'}
        tvb-library, or ``deepsif_pipeline.fast_engine``.
    raw_rate : {'full', 'decimated'}
        Write every integration step, or only the samples step 2 uses
        (``kept_samples``: a quarter of the disk), with their 1-based
        ``sample_index`` and the piece's ``raw_steps``.

    Returns
    -------
    dict
        ``{mean_iteration: 'kept' or 'simulated'}``.
    """
    tvb_connectivity = _import_tvb()

    lengths = science.piece_lengths_ms(sim_length_s, piece_length_s)
    steps = [int(round(length / science.DT_MS)) for length in lengths]
    n_conn = template.n_connectivity
    excitable = int(template.columns[region])
    out_dir = layout.raw_dir(region)
    out_dir.mkdir(parents=True, exist_ok=True)
    gains = np.full(n_conn, science.A_NORMAL)
    gains[excitable] = a_value

    first = np.cumsum([1] + steps[:-1])  # 1-based global index of each piece's first sample
    keep = [kept_samples(f, n) if raw_rate == "decimated" else np.arange(n) for f, n in zip(first, steps)]
    todo, result = [], {}
    for m in iterations:
        seed = science.simulation_seed(run_seed, region, m)
        paths = [out_dir / Layout.piece_name(region, m, k, len(lengths)) for k in range(len(lengths))]
        foreign = sorted(p.name for p in out_dir.glob(f"mean_iter_{m}_a_iter_{region}_*.mat")
                         if p not in paths and parse_piece_name(p.name))
        if foreign:
            raise ForeignPieces(f"{out_dir} holds raw pieces of other --sim-length/--piece-length settings "
                                f"({foreign[0]}, {len(foreign)} in all): re-run with the settings that made them, "
                                "or delete that folder to simulate the region again")
        missing = [k for k, p in enumerate(paths)
                   if not piece_is_complete(p, len(keep[k]), n_conn, seed, engine, raw_rate)]
        if missing:
            todo.append((m, seed, paths, missing))
            result[m] = "simulated"
        else:
            result[m] = "kept"
            print(f"region {region} mean iteration {m}: all {len(paths)} raw pieces already complete", flush=True)
    if not todo:
        return result

    conn = tvb_connectivity.Connectivity.from_file(str(template.connectivity))
    conn.configure()
    progress = Progress(sum(steps) * len(todo), f"region {region}", progress_mode)
    try:
        for m, seed, paths, missing in todo:
            sim, run = make_simulator(conn, excitable, a_value, m, seed, engine)
            last_needed = max(missing)
            for k, length in enumerate(lengths[:last_needed + 1]):
                t, data = run(sim, length, progress)
                if k in missing:
                    piece = {"time": t[keep[k]], "data": data[keep[k]], "A": gains, "seed": seed,
                             "mean_iter": m, "dt": science.DT_MS, "engine": engine, "raw_rate": raw_rate}
                    if raw_rate == "decimated":
                        piece.update(sample_index=(first[k] + keep[k]).astype(float), raw_steps=float(steps[k]))
                    write_mat_atomic(paths[k], piece)
                progress.line(f"mean iteration {m} piece {k + 1}/{len(lengths)} "
                              f"{'written' if k in missing else 'already complete'}")
            progress.advance(sum(steps[last_needed + 1:]))
    finally:
        progress.close()
    return result


def _import_tvb():
    """Import tvb-library quietly (its import warns about optional modules)."""
    import logging
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tvb.simulator.lab import connectivity
    logging.getLogger("tvb").setLevel(logging.ERROR)
    return connectivity


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is None or the help already says it."""

    def _get_help_string(self, action):
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_common_options(p):
    """Options shared by this script and the orchestrator (which passes them on)."""
    p.add_argument("--leadfield", default=None,
                   help=f"lead field file in the anatomy folder (default: {DEFAULT_LEADFIELD}, or the built-in "
                        "template's own)")
    p.add_argument("--anatomy", default=None,
                   help="template folder in DeepSIF's anatomy/ layout, or the built-in template tvb76 "
                        "(default: ../anatomy when present, else tvb76)")
    p.add_argument("--output", default=None,
                   help="folder for raw_nmm/, nmm_{filename}/ and the synthetic source file "
                        "(default: ../source with ../anatomy, else ./source)")
    p.add_argument("--seed", type=int, default=science.DEFAULT_SEED,
                   help="run seed; every region, mean iteration and the synthesis derive theirs from it")
    p.add_argument("--sim-length", type=float, default=science.SIM_LENGTH_S,
                   help="simulated seconds per mean iteration")
    p.add_argument("--piece-length", type=float, default=science.PIECE_LENGTH_S,
                   help="simulated seconds per raw file")
    p.add_argument("--a-range", type=float, default=science.A_EXCITABLE,
                   help="excitatory gain A (mV) of the source region")
    p.add_argument("--progress", choices=["auto", "bar", "lines", "none"], default="auto",
                   help="step 1 progress: a bar on a terminal, plain lines otherwise (a nohup log)")
    p.add_argument("--engine", choices=["tvb", "fast"], default=DEFAULT_ENGINE,
                   help="step 1 simulator: tvb-library, or fast (the same network in numba, about 100x "
                        "faster; same initial history, its own noise samples)")
    p.add_argument("--raw-rate", choices=["full", "decimated"], default="full",
                   help="raw pieces with every 2 kHz step, or only the samples step 2 uses (after the "
                        "0.5 s transient, every 4th: a quarter of the disk, the same clips)")


def build_parser():
    p = argparse.ArgumentParser(
        description="Step 1 of the DeepSIF pipeline: TVB simulation of source regions a_start..a_end-1.",
        formatter_class=HelpFormatter)
    p.add_argument("--a_start", type=int, default=0, help="first source region (0-based, inclusive)")
    p.add_argument("--a_end", type=int, default=1, help="last source region (exclusive)")
    add_common_options(p)
    p.add_argument("--iterations", type=int, nargs="+", default=list(science.MEAN_ITERATIONS),
                   choices=list(science.MEAN_ITERATIONS), help="mean iterations to simulate")
    return p


def check_lengths(sim_length_s, piece_length_s):
    """An error message for unusable lengths, or None."""
    if not sim_length_s >= science.MIN_SIM_LENGTH_S:
        return (f"--sim-length {sim_length_s} is too short: step 2 drops a 0.5 s transient and needs "
                f"1 s clips; use at least {science.MIN_SIM_LENGTH_S}")
    if not piece_length_s > 0:
        return f"--piece-length must be positive, got {piece_length_s}"
    return None


def main(argv=None):
    args = build_parser().parse_args(argv)
    # SIGTERM (the orchestrator stopping, a time limit) unwinds like Ctrl-C, so that the
    # temporary file of a piece being written is removed (write_mat_atomic).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return simulate_regions(args)
    except ForeignPieces as exc:
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
    error = check_lengths(args.sim_length, args.piece_length)
    if error:
        return fail(error)
    if not 0 <= args.a_start < args.a_end <= template.n_regions:
        return fail(f"regions {args.a_start}..{args.a_end - 1} are outside the template's "
                    f"0..{template.n_regions - 1} (or --a_end <= --a_start)")
    layout = Layout(output)
    for region in range(args.a_start, args.a_end):
        start = time.time()
        print(f"------ Generate data of region_id {region} ----------", flush=True)
        simulate_region(template, layout, region, args.sim_length, args.piece_length, args.a_range,
                        args.seed, args.iterations, args.progress, args.engine, args.raw_rate)
        print(f"Time for {region}: {time.time() - start:.1f} s", flush=True)
    return 0


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
