"""The settings of a run: the values that decide what its steps make, one field per setting option.

:class:`Settings` is made from the options declared as settings in
``config/options.py`` (their names, types and defaults: one home), and the
steps' fingerprints take their settings from it through
:func:`fingerprint_entries` (which setting each step records is declared
there too).
"""

from dataclasses import field, make_dataclass
import math

from deepsif_pipeline import science
from deepsif_pipeline.config.options import SETTINGS

# Version of the fast engine's arithmetic: a new version makes other raw data from the same settings
# (1: scalar libm exp, one mean iteration at a time; 2: lanes, its own vectorised exp, the same noise
# samples; 3: its own noise, Philox4x32-10 + Box-Muller in the numba loop, other samples). Recorded in
# the fingerprints of steps 1 and 2 when --engine is fast (engine_entries).
FAST_ENGINE_VERSION = 3
MAX_PIECES = 1000       # raw files per mean iteration (the published run: 20)


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


def _clips_needed(self):
    """Clips after which a region simulates no further mean iteration (``inf``: all of them)."""
    return science.clips_needed(self.dataset, self.mean_iterations)


def _from_args(cls, args, recorded=None):
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


def _given(args):
    """Names of the settings given on the command line."""
    return {o.dest for o in SETTINGS if getattr(args, o.dest, None) is not None}


Settings = make_dataclass(
    "Settings", [(o.dest, o.value_type, field(default=o.default)) for o in SETTINGS], frozen=True,
    namespace={"clips_needed": property(_clips_needed), "from_args": classmethod(_from_args),
               "given": staticmethod(_given)})
Settings.__module__ = __name__  # (make_dataclass takes module= from Python 3.12 on)
Settings.__doc__ = """The values of a run that decide what its steps make (``config/options.py``'s settings).

``filename`` names the clip set (``nmm_{filename}/``) and ``dataset`` the
step-4 file; the others go into the steps' fingerprints. Fields, types and
defaults are those of the setting options.
"""


def fingerprint_entries(settings, step):
    """The settings ``step`` records in its fingerprint (``Option.fingerprint``), as JSON values.

    With ``--engine fast``, steps recording the engine also record the
    version of its arithmetic (:func:`engine_entries`).
    """
    out = {o.dest: o.value_type(getattr(settings, o.dest)) for o in SETTINGS if step in o.fingerprint}
    if "engine" in out:
        out.update(engine_entries(settings))
    return out


def engine_entries(settings):
    """Fingerprint entries of the step-1 engine besides ``engine``: ``{'fast_engine': version}`` for fast, else none."""
    return {"fast_engine": FAST_ENGINE_VERSION} if settings.engine == "fast" else {}
