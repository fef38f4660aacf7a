"""Parameters of the DeepSIF science, read from ``science.json``, and the run's seeds.

``science.json`` beside this module is the one home of the parameters of
steps 1, 2 and 4, each with its meaning (and unit); the values are the ones
published with DeepSIF (Sun et al., PNAS 2022, ``forward/`` scripts).
``matlab/deepsif_params.m`` reads the same file. This module reads it once
at import and exposes step 1's values, and those of steps 2 and 4 that
Python needs, as constants; ``values(section)`` gives a whole section.
The run's default seed and the seed derivation are run defaults, not
science parameters, and live here only.
"""

import copy
import json
from pathlib import Path
from types import MappingProxyType

import numpy as np

PARAMS_FILE = Path(__file__).resolve().with_name("science.json")
SECTIONS = ("step1", "step2", "step4")


def is_entry(node):
    """True for a parameter entry of ``science.json`` (an object with a ``value``)."""
    return isinstance(node, dict) and "value" in node


def entry_values(group):
    """Values of a group of entries, meanings stripped.

    Parameters
    ----------
    group : dict
        ``{name: entry or group}`` as in ``science.json``; an entry is
        ``{"value": ..., "meaning": ..., "unit": ...}``, a group (such as
        ``modes``) holds entries or groups.

    Returns
    -------
    dict
        ``{name: value}``, a nested dict for each group.
    """
    return {name: node["value"] if is_entry(node) else entry_values(node)
            for name, node in group.items()}


def load_params(path=PARAMS_FILE):
    """The values of every section of a parameter file.

    Parameters
    ----------
    path : pathlib.Path
        A file laid out as ``science.json``.

    Returns
    -------
    dict
        ``{section: {name: value}}`` for each of ``SECTIONS``.

    Raises
    ------
    KeyError
        When a section is missing.
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = [section for section in SECTIONS if section not in doc]
    if missing:
        raise KeyError(f"{path} has no section {', '.join(missing)}")
    return {section: entry_values(doc[section]) for section in SECTIONS}


def _frozen(value):
    """A read-only copy: dicts as ``MappingProxyType``, lists as tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _as_int(value, name):
    """``value`` as an int, refusing a value with a fractional part."""
    if int(value) != value:
        raise ValueError(f"science.json: {name} must be an integer, not {value!r}")
    return int(value)


_VALUES = load_params()

# Read-only view {section: {name: value}}; values(section) gives a plain copy.
PARAMS = _frozen(_VALUES)


def values(section):
    """The parameter values of one section, e.g. for a settings fingerprint.

    Parameters
    ----------
    section : {'step1', 'step2', 'step4'}

    Returns
    -------
    dict
        ``{name: value}`` in the file's order, a fresh copy (changing it
        changes nothing here) made of JSON types only (lists, dicts,
        numbers), so ``json.dumps`` takes it as is.
    """
    if section not in _VALUES:
        raise KeyError(f"no section {section!r} in {PARAMS_FILE.name}: {', '.join(SECTIONS)}")
    return copy.deepcopy(_VALUES[section])


_STEP1, _STEP2, _STEP4 = (_VALUES[s] for s in SECTIONS)

# Step 1: the TVB simulation (units and meanings in science.json).
A_NORMAL = float(_STEP1["a_normal"])
A_EXCITABLE = float(_STEP1["a_excitable"])  # the default of --a-range
V0 = float(_STEP1["v0"])
P_MAX = float(_STEP1["p_max"])
P_MIN = float(_STEP1["p_min"])
MEAN_ITERATIONS = tuple(_as_int(m, "mean_iterations") for m in _STEP1["mean_iterations"])
MEAN_INPUT = tuple(float(mu) for mu in _STEP1["mean_input"])
NOISE_FACTOR = tuple(float(f) for f in _STEP1["noise_factor"])
NOISY_STATE_VARIABLE = _as_int(_STEP1["noisy_state_variable"], "noisy_state_variable")
COUPLING_A = float(_STEP1["coupling_a"])
DT_MS = float(_STEP1["dt_ms"])
SIM_LENGTH_S = float(_STEP1["sim_length_s"])
PIECE_LENGTH_S = float(_STEP1["piece_length_s"])
MIN_SIM_LENGTH_S = float(_STEP1["min_sim_length_s"])

# Step 2 (run in MATLAB/Octave; Python needs these).
TARGET_SNR_DB = float(_STEP2["target_snr_db"])  # the default of --target-snr
TRANSIENT_SAMPLES = _as_int(_STEP2["transient_samples"], "transient_samples")
DOWNSAMPLE_FACTOR = _as_int(_STEP2["downsample_factor"], "downsample_factor")
CLIP_LENGTH = _as_int(_STEP2["clip_length"], "clip_length")

# Step 4.
PAD_VALUE = _as_int(_STEP4["pad_value"], "pad_value")
# Clips step 4 reads at most per region, by dataset: it draws clip numbers 1..nper only
# (the published random_samples = randi([1, nper])), so a region with nper clips has all it uses.
NPER = {mode: _as_int(values["nper"], "nper") for mode, values in _STEP4["modes"].items()}


def clips_needed(dataset, mean_iterations="needed"):
    """Clips after which a region simulates no further mean iteration (``--mean-iterations``).

    Parameters
    ----------
    dataset : str
        ``--dataset`` (``train`` or ``test``): the step-4 file made from the clip set.
    mean_iterations : {'needed', 'all'}
        ``needed``: stop once the region has the ``nper`` clips step 4
        reads; ``all``: the published behaviour, every mean iteration.

    Returns
    -------
    float
        ``NPER[dataset]``, or ``inf`` for ``all``.
    """
    return float("inf") if mean_iterations == "all" else float(NPER[dataset])

# Default run seed: every (region, mean iteration) and the synthesis
# derive their own seed from it (see derive_seed).
DEFAULT_SEED = 20220425

# Tag that keeps the synthesis seed apart from the simulation seeds.
_SYNTHESIS_TAG = 0x5EED


def noise_sigma(noise_factor, a=0.1, p_max=P_MAX, p_min=P_MIN, a_normal=A_NORMAL):
    """Additive noise variance ``nsig`` of the noisy state variable.

    Parameters
    ----------
    noise_factor : float
        The mean iteration's noise factor (``NOISE_FACTOR[m]``).
    a : float
        The JansenRit model's ``a`` (TVB default 0.1 /ms).

    Returns
    -------
    float
        ``(a * 3.25 * (p_max - p_min) * 0.5 * noise_factor) ** 2 / 2``.
    """
    return float((a * a_normal * (p_max - p_min) * 0.5 * noise_factor) ** 2 / 2.0)


def derive_seed(run_seed, *key):
    """Seed of one unit of work, derived from the run seed.

    The same ``(run_seed, key)`` always gives the same seed, whichever
    machine or process computes it, so a range split across machines
    produces the same files as one machine.

    Parameters
    ----------
    run_seed : int
        The ``--seed`` of the run.
    *key : int
        What the seed is for, e.g. ``(region, mean_iteration)``.

    Returns
    -------
    int
        A seed in ``[0, 2**32)``.
    """
    return int(np.random.SeedSequence([int(run_seed), *[int(k) for k in key]]).generate_state(1)[0])


def simulation_seed(run_seed, region, mean_iteration):
    """Seed of the simulation of ``region`` in ``mean_iteration``."""
    return derive_seed(run_seed, region, mean_iteration)


def synthesis_seed(run_seed):
    """Seed of step 4 (synthetic source parameters)."""
    return derive_seed(run_seed, _SYNTHESIS_TAG)


def piece_lengths_ms(sim_length_s, piece_length_s):
    """Lengths of the raw pieces one mean iteration is cut into.

    Parameters
    ----------
    sim_length_s, piece_length_s : float
        Simulated seconds per mean iteration and per raw file.

    Returns
    -------
    list of float
        Piece lengths in ms; all equal to ``piece_length_s`` except a
        shorter last one when the lengths do not divide.
    """
    total = round(sim_length_s * 1000.0 / DT_MS)  # in integration steps
    per = max(1, round(piece_length_s * 1000.0 / DT_MS))
    steps = [per] * (total // per)
    if total % per:
        steps.append(total % per)
    return [s * DT_MS for s in steps]
