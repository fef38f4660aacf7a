"""The settings of a run: the options both scripts share, checked when they are parsed.

Every value is checked by argparse itself (a ``type=`` function below), so a
bad one stops the script with one line, ``error: ...``, and exit status 2,
before anything is created (:class:`OneLineParser`). :class:`Settings` holds
the values that decide what the steps make; the steps' fingerprints
(``deepsif_pipeline/steps/``) are built from it.
"""

import argparse
from dataclasses import dataclass
import math
import sys

from deepsif_pipeline import science

DEFAULT_ENGINE = "fast"  # step 1's simulator: shown equal to tvb-library in tests/test_fast_engine.py
ENGINES = ("tvb", "fast")
# Version of the fast engine's arithmetic: a new version makes other raw data from the same settings
# (1: scalar libm exp, one mean iteration at a time; 2: lanes, its own vectorised exp, the same noise
# samples; 3: its own noise, Philox4x32-10 + Box-Muller in the numba loop, other samples). Recorded in
# the fingerprints of steps 1 and 2 when --engine is fast (engine_entries).
FAST_ENGINE_VERSION = 3
RAW_RATES = ("full", "decimated")
DATASETS = ("train", "test")
MEAN_ITERATION_MODES = ("needed", "all")  # --mean-iterations (science.clips_needed)
MAX_SEED = 2 ** 32 - 1  # seeds are kept as uint32 (science.derive_seed) and as doubles in MAT-files
MAX_PIECES = 1000       # raw files per mean iteration (the published run: 20)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (``error: ...``) and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"error: {message} (see --help)\n")
        sys.exit(2)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is None or the help already says it."""

    def _get_help_string(self, action):
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def finite_float(text):
    """A finite number (``--target-snr``: any finite dB value)."""
    return _number(text)


def positive_float(text):
    """A finite number above 0 (``--a-range``, ``--sim-length``, ``--piece-length``)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def seconds(text):
    """A finite number of seconds, 0 or more (time limits; 0: none)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or a number of seconds, got {text!r}")
    return value


def seed(text):
    """A whole number 0 .. 2**32 - 1 (every unit's seed is derived from it)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number 0..{MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number 0..{MAX_SEED}, got {text!r}")
    return value


def add_common_options(p, step1=False):
    """Options of both scripts (the orchestrator passes them on to step 1).

    The settings that go into fingerprints default to None, so that a
    script can tell the ones given on the command line from the others
    (``--status`` and ``--verify`` take the others from the folder's
    manifest); :meth:`Settings.from_args` fills in the defaults.

    Parameters
    ----------
    p : argparse.ArgumentParser
    step1 : bool
        The options of ``generate_tvb_data.py`` (step 1 alone): help that
        speaks of step 1's files only, and ``--leadfield`` accepted but not
        listed (the orchestrator passes it so that the template loads with
        the run's lead field; step 1 does not use it); ``--progress`` is
        then the progress of the simulation, else that of the whole run.
    """
    from deepsif_pipeline.head.anatomy import DEFAULT_LEADFIELD
    d = Settings()
    p.add_argument("--leadfield", default=None,
                   help=argparse.SUPPRESS if step1 else
                   f"lead field file in the anatomy folder (default: {DEFAULT_LEADFIELD}, or the built-in "
                   "template's own)")
    p.add_argument("--anatomy", default=None,
                   help="template folder in DeepSIF's anatomy/ layout, or the built-in template tvb76 "
                        "(default: ../anatomy when present, else tvb76)")
    p.add_argument("--output", default=None,
                   help=("folder whose raw_nmm/a{region}/ receives the raw pieces" if step1 else
                         "folder for raw_nmm/, nmm_{filename}/ and the synthetic source file")
                   + " (default: ../source with ../anatomy, else ./source)")
    p.add_argument("--seed", type=seed, default=None,
                   help=f"run seed, 0..{MAX_SEED}; "
                   + ("each region and mean iteration derives its own from it, as in the orchestrator's run "
                      "with this seed" if step1 else
                      "every region, mean iteration and the synthesis derive theirs from it")
                   + f" (default: {d.seed})")
    p.add_argument("--sim-length", type=positive_float, default=None,
                   help=f"simulated seconds per mean iteration, at least {science.MIN_SIM_LENGTH_S:g} "
                        f"(default: {d.sim_length})")
    p.add_argument("--piece-length", type=positive_float, default=None,
                   help="simulated seconds per raw file, at most --sim-length (when not given, a shorter "
                        f"--sim-length is one piece) (default: {d.piece_length})")
    p.add_argument("--a-range", type=positive_float, default=None,
                   help=f"excitatory gain A (mV) of the source region (default: {d.a_range})")
    p.add_argument("--progress", choices=["auto", "bar", "lines", "none"], default="auto",
                   help="step 1 progress: a bar on a terminal, plain lines otherwise (a nohup log)" if step1 else
                   "the run's progress (regions done and to do, clips, elapsed, time left): auto is a bar on a "
                   "terminal, a plain line per region otherwise (a nohup log)")
    p.add_argument("--engine", choices=ENGINES, default=None,
                   help="step 1 simulator: tvb-library, or fast (the same network in numba, about 200x "
                        f"faster; same initial history, its own noise samples) (default: {d.engine})")
    p.add_argument("--raw-rate", choices=RAW_RATES, default=None,
                   help="raw pieces with only the samples step 2 uses (decimated: after the 0.5 s transient, "
                        "every 4th; a quarter of the disk, step 2 about 2.5x faster, the same clips) or every "
                        f"2 kHz step (full, as the published step 1 saves them) (default: {d.raw_rate})")


def check_lengths(sim_length_s, piece_length_s):
    """Why ``--sim-length`` / ``--piece-length`` cannot be used, or None.

    The simulated length must leave room for one clip after the transient,
    a piece may not be longer than the simulation (it would silently be
    cut), and a mean iteration is at most :data:`MAX_PIECES` files.
    """
    if not sim_length_s >= science.MIN_SIM_LENGTH_S:
        return (f"--sim-length {sim_length_s:g} is too short: step 2 drops a 0.5 s transient and needs "
                f"1 s clips; use at least {science.MIN_SIM_LENGTH_S:g}")
    if piece_length_s > sim_length_s:
        return (f"--piece-length {piece_length_s:g} is longer than --sim-length {sim_length_s:g}: a mean "
                f"iteration is one piece at most as long as itself; use --piece-length {sim_length_s:g} or less")
    n = math.ceil(round(sim_length_s * 1000.0 / science.DT_MS) / max(1, round(piece_length_s * 1000.0 / science.DT_MS)))
    if n > MAX_PIECES:
        return (f"--piece-length {piece_length_s:g} cuts --sim-length {sim_length_s:g} into {n} raw files per mean "
                f"iteration (at most {MAX_PIECES}); use --piece-length {sim_length_s / MAX_PIECES:g} or more")
    return None


@dataclass(frozen=True)
class Settings:
    """The values of a run that decide what its steps make (one home for their defaults).

    ``filename`` names the clip set (``nmm_{filename}/``) and ``dataset`` the
    step-4 file; the others go into the steps' fingerprints.
    """

    seed: int = science.DEFAULT_SEED
    a_range: float = science.A_EXCITABLE
    sim_length: float = science.SIM_LENGTH_S
    piece_length: float = science.PIECE_LENGTH_S
    engine: str = DEFAULT_ENGINE
    # decimated: the same clips as full (tests/test_pipeline_orchestrator.py,
    # tests/test_step2_previous_version.py) from a quarter of the raw bytes, and step 2
    # reads a quarter (6.5 s instead of 17 s per region at 3 x 200 s, 994 regions)
    raw_rate: str = "decimated"
    target_snr: float = science.TARGET_SNR_DB
    filename: str = "spikes"
    dataset: str = "train"
    # needed: a region's mean iterations stop once it has the nper clips step 4 reads (its clips
    # 1..nper are the same files either way); all: the published three mean iterations always
    mean_iterations: str = "needed"

    @property
    def clips_needed(self):
        """Clips after which a region simulates no further mean iteration (``inf``: all of them)."""
        return science.clips_needed(self.dataset, self.mean_iterations)

    @classmethod
    def from_args(cls, args, recorded=None):
        """The settings of parsed command-line options.

        Parameters
        ----------
        args : argparse.Namespace
        recorded : dict, optional
            Values to use for the settings not given (``None`` in ``args``),
            e.g. those a folder's manifest records; the defaults otherwise.
        """
        values = dict(recorded or {})
        values.update({name: getattr(args, name) for name in cls.__dataclass_fields__
                       if getattr(args, name, None) is not None})
        values = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "piece_length" not in values:  # the default piece is at most the whole mean iteration
            values["piece_length"] = min(science.PIECE_LENGTH_S, values.get("sim_length", science.SIM_LENGTH_S))
        return cls(**values)

    @staticmethod
    def given(args):
        """Names of the settings given on the command line."""
        return {name for name in Settings.__dataclass_fields__ if getattr(args, name, None) is not None}


def engine_entries(settings):
    """Fingerprint entries of the step-1 engine besides ``engine``: ``{'fast_engine': version}`` for fast, else none."""
    return {"fast_engine": FAST_ENGINE_VERSION} if settings.engine == "fast" else {}
