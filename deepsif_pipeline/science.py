"""Parameters of step 1 (the TVB neural mass simulation), one home.

Values are the ones published with DeepSIF (Sun et al., PNAS 2022,
``forward/generate_tvb_data.py``). The parameters of steps 2 and 4 live
in ``matlab/deepsif_params.m``.
"""

import numpy as np

# Jansen-Rit excitatory synaptic gain A (mV): every region gets the normal
# value, the source region the excitable one, which makes it spike.
A_NORMAL = 3.25
A_EXCITABLE = 3.5  # the default of --a-range
# Sigmoid parameters of the JansenRit model (TVB's other defaults kept).
V0 = 6.0
P_MAX = 0.15
P_MIN = 0.03

# The three "mean iterations": mean input mu and noise factor per iteration.
MEAN_ITERATIONS = (0, 1, 2)
MEAN_INPUT = (0.087, 0.08, 0.083)
NOISE_FACTOR = (1.0, 1.7, 1.5)
NOISY_STATE_VARIABLE = 4  # additive noise enters state variable y4 only

# Sigmoidal Jansen-Rit coupling strength and integration step.
COUPLING_A = 1.0
DT_MS = 0.5  # HeunStochastic step (ms): raw output at 2 kHz

# Simulated time per mean iteration and per raw file (seconds).
SIM_LENGTH_S = 200.0
PIECE_LENGTH_S = 10.0

# Step 2 keeps columns after the transient; a run needs at least this much
# (500 ms transient + one 1 s clip window) to be able to yield any clip.
MIN_SIM_LENGTH_S = 1.5

# Target SNR (dB) between the source and the background at the sensors,
# used by step 2 to scale the spikes.
TARGET_SNR_DB = 15.0

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
