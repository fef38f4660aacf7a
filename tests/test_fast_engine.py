"""The fast step-1 engine (deepsif_pipeline.science.fast_engine) against tvb-library 2.10.

Deterministic tests switch the noise off in both engines (``nsig = 0`` in
TVB, ``noise=False`` in the fast engine), hand both the same initial state
and history (the fast engine copies them from the configured TVB simulator)
and require the fast ``y1 - y2`` to match TVB's within 1e-6 of the signal's
range (with tvb-library 2.10 and numpy 2.4 the output is in fact identical
bit for bit; the tolerance leaves room for a different exp or summation
order); a test on a hand-built network shows that a delay off by one step
or a history off by one slot would break that match. The stochastic test
compares statistics over several seeds (the noise samples differ by design).
"""

from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat
from scipy.signal import find_peaks
from scipy.stats import ks_2samp

import generate_tvb_data as gen
from deepsif_pipeline import science
from deepsif_pipeline.science import fast_engine
from deepsif_pipeline.science.fast_engine import FastSimulator, ring_index, sparse_by_source
from deepsif_pipeline.store.layout import Layout

from conftest import run_cli

TOLERANCE = 1e-6  # of the signal's range
TRANSIENT = 1000  # raw samples (500 ms) dropped by step 2
SPIKE_MV = 8.0  # step 2's spike threshold
SPIKE_GAP = 400  # raw samples between peaks (100 samples at step 2's 500 Hz)


class NoProgress:
    def advance(self, steps):
        pass


def load_connectivity(path):
    """A configured TVB connectivity from a zip."""
    tvb_connectivity = gen._import_tvb()
    conn = tvb_connectivity.Connectivity.from_file(str(path))
    conn.configure()
    return conn


def deterministic_pair(conn, region, mean_iteration, seed):
    """A TVB simulator without noise and a fast engine copied from it (same history)."""
    sim = gen.build_simulator(conn, region, science.A_EXCITABLE, mean_iteration, seed)
    sim.integrator.noise.nsig = np.zeros_like(sim.integrator.noise.nsig)
    return sim, FastSimulator.from_tvb(sim, seed, noise=False)


def deterministic_lanes(conn, region, mean_iterations, seed):
    """TVB simulators without noise, one per mean iteration, and one fast engine with them as lanes."""
    sims = [gen.build_simulator(conn, region, science.A_EXCITABLE, m, seed + m) for m in mean_iterations]
    for sim in sims:
        sim.integrator.noise.nsig = np.zeros_like(sim.integrator.noise.nsig)
    return sims, FastSimulator.from_tvb_lanes(sims, [seed + m for m in mean_iterations], noise=False)


def relative_error(fast, tvb):
    """``max |fast - tvb|`` over the range of ``tvb``."""
    return float(np.abs(fast.astype(np.float64) - tvb).max() / np.ptp(tvb))


def assert_match(fast, tvb, region):
    """Within TOLERANCE over the whole signal and over the part after the transient, with a spike."""
    assert relative_error(fast, tvb) <= TOLERANCE
    if tvb.shape[0] > TRANSIENT:
        assert relative_error(fast[TRANSIENT:], tvb[TRANSIENT:]) <= TOLERANCE
        assert tvb[TRANSIENT:, region].max() > SPIKE_MV  # the nonlinear regime is exercised


@pytest.fixture(scope="module")
def conn76(tvb76_dir):
    return load_connectivity(tvb76_dir / "connectivity_76.zip")


# --------------------------------------------------------------------------- deterministic


@pytest.mark.slow
def test_deterministic_998_template_region_700(deepsif_template):
    """1 simulated s on DeepSIF's 998-region connectivity (TVB ~25 wall s), region 700 spiking."""
    conn = load_connectivity(deepsif_template.connectivity)
    region = int(deepsif_template.columns[700])
    sim, fast = deterministic_pair(conn, region, 0, 7)
    t_fast, y_fast = fast.run_piece(1000.0)
    t_tvb, y_tvb = gen.run_piece(sim, 1000.0, NoProgress())
    assert y_fast.shape == y_tvb.shape == (2000, 998) and y_fast.dtype == np.float32
    assert np.array_equal(t_fast, t_tvb)
    assert_match(y_fast, y_tvb, region)


def test_deterministic_tvb76(conn76):
    """500 ms transient + 2 s on tvb76, region 10 (without noise it spikes at mean iteration 0 only)."""
    region = 10
    sim, fast = deterministic_pair(conn76, region, 0, 3)
    t_fast, y_fast = fast.run_piece(2500.0)
    t_tvb, y_tvb = gen.run_piece(sim, 2500.0, NoProgress())
    assert np.array_equal(t_fast, t_tvb) and t_fast[0] == science.DT_MS
    assert_match(y_fast, y_tvb, region)


@pytest.mark.slow
def test_deterministic_998_template_three_lanes(deepsif_template):
    """The three mean iterations as lanes of one engine, 300 ms each on the 998-region connectivity."""
    conn = load_connectivity(deepsif_template.connectivity)
    region = int(deepsif_template.columns[700])
    sims, fast = deterministic_lanes(conn, region, science.MEAN_ITERATIONS, 11)
    t_fast, y_fast = fast.run_lanes(300.0)
    assert y_fast.shape == (3, 600, 998)
    for sim, lane in zip(sims, y_fast):
        t_tvb, y_tvb = gen.run_piece(sim, 300.0, NoProgress())
        assert np.array_equal(t_fast, t_tvb)
        assert_match(lane, y_tvb, region)


@pytest.mark.parametrize("mean_iterations", [(0, 1, 2), (2, 0)], ids=["three_lanes", "two_lanes"])
def test_deterministic_tvb76_lanes(conn76, mean_iterations):
    """Each lane of a several-lane engine matches its own TVB simulator (500 ms transient + 1 s, tvb76)."""
    region = 10
    sims, fast = deterministic_lanes(conn76, region, mean_iterations, 4)
    t_fast, y_fast = fast.run_lanes(1500.0, progress=lambda k: None, chunk_steps=100)
    for sim, lane in zip(sims, y_fast):
        t_tvb, y_tvb = gen.run_piece(sim, 1500.0, NoProgress())
        assert np.array_equal(t_fast, t_tvb)
        assert relative_error(lane, y_tvb) <= TOLERANCE
        assert relative_error(lane[TRANSIENT:], y_tvb[TRANSIENT:]) <= TOLERANCE


def test_continues_a_tvb_simulator_that_has_run(conn76):
    """From a simulator at step 300 (history slot != 0), in chunks, as TVB's next piece."""
    sim, _ = deterministic_pair(conn76, 10, 0, 5)
    gen.run_piece(sim, 150.0, NoProgress())
    fast = FastSimulator.from_tvb(sim, 5, noise=False)
    assert fast.step == sim.current_step == 300
    chunks = []
    t_fast, y_fast = fast.run_piece(250.0, progress=chunks.append, chunk_steps=7)
    assert sum(chunks) == 500 and max(chunks) == 7
    t_tvb, y_tvb = gen.run_piece(sim, 250.0, NoProgress())
    assert np.array_equal(t_fast, t_tvb) and t_fast[0] == 150.0 + science.DT_MS
    assert relative_error(y_fast, y_tvb) <= TOLERANCE


def test_pieces_and_chunks_do_not_change_the_noisy_signal(conn76):
    """With noise: one call, pieces of different lengths and chunks of different sizes give the same bits
    (float32 output and float64 state)."""
    def fresh(seed=9):
        return FastSimulator.from_tvb(gen.build_simulator(conn76, 10, 3.5, 2, 9), seed)
    whole = fresh()
    _, y_whole = whole.run_piece(600.0)
    runs = {}
    fast = fresh()
    runs["pieces 100, 350, 150 ms"] = (np.concatenate([fast.run_piece(length)[1] for length in (100.0, 350.0, 150.0)]),
                                       fast)
    fast = fresh()
    runs["pieces of 1 step, 0.5 ms and 599 ms"] = (
        np.concatenate([fast.run_piece(length)[1] for length in (science.DT_MS, 0.5, 599.0)]), fast)
    for chunk in (1, 33, 256, 1000):
        fast = fresh()
        runs[f"chunks of {chunk}"] = (fast.run_piece(600.0, progress=lambda k: None, chunk_steps=chunk)[1], fast)
    for name, (y, fast) in runs.items():
        assert fast.step == whole.step == 1200, name
        assert np.array_equal(y, y_whole), name
        assert np.array_equal(fast.state, whole.state) and np.array_equal(fast.ring, whole.ring), name
    _, other_seed = fresh(10).run_piece(600.0)
    assert not np.array_equal(y_whole, other_seed)


# --------------------------------------------------------------------------- lanes: a lane's output is its own


def noisy_lanes(conn, units, region=10):
    """A fast engine whose lanes are the given ``(mean_iteration, seed)`` or ``(mean_iteration, seed, region)``
    units, noise on."""
    sims = [gen.build_simulator(conn, unit[2] if len(unit) > 2 else region, science.A_EXCITABLE, unit[0], unit[1])
            for unit in units]
    return FastSimulator.from_tvb_lanes(sims, [unit[1] for unit in units])


def test_a_lane_is_the_same_alone_or_with_others(conn76):
    """With noise, mean iteration 2 alone, second of two, last of three, and in uneven chunks: the same bits."""
    units = [(0, 31), (1, 32), (2, 33)]
    _, alone = noisy_lanes(conn76, [units[2]]).run_lanes(400.0)
    _, three = noisy_lanes(conn76, units).run_lanes(400.0)
    _, two = noisy_lanes(conn76, [units[0], units[2]]).run_lanes(400.0, progress=lambda k: None, chunk_steps=37)
    fast = noisy_lanes(conn76, [units[2], units[1]])
    parts = np.concatenate([fast.run_lanes(length)[1] for length in (150.0, 250.0)], axis=1)
    assert np.array_equal(alone[0], three[2]) and np.array_equal(alone[0], two[1])
    assert np.array_equal(alone[0], parts[0]) and np.array_equal(three[1], parts[1])
    assert not np.array_equal(three[0], three[2])  # the lanes do differ


def test_a_lane_is_the_same_alone_or_with_three_other_units(conn76):
    """Four units of different regions, mean iterations and seeds (other model parameters, noise gains and
    samples): each lane's float64 state and float32 output are those of the unit alone, in any lane, with
    pieces and chunks of different sizes."""
    units = [(0, 61, 10), (2, 62, 3), (1, 2 ** 32 - 63, 40), (0, 64, 75)]
    together = noisy_lanes(conn76, units)
    _, y_together = together.run_lanes(300.0, progress=lambda k: None, chunk_steps=41)
    reordered = noisy_lanes(conn76, units[::-1])
    y_reordered = np.concatenate([reordered.run_lanes(length)[1] for length in (120.0, 180.0)], axis=1)
    for lane, unit in enumerate(units):
        alone = noisy_lanes(conn76, [unit])
        _, y_alone = alone.run_lanes(300.0)
        assert np.array_equal(y_together[lane], y_alone[0]), unit
        assert np.array_equal(together.state[lane], alone.state[0]), unit
        assert np.array_equal(together.ring[:, :, lane], alone.ring[:, :, 0]), unit
        assert np.array_equal(y_reordered[3 - lane], y_alone[0]), unit
        assert np.array_equal(reordered.state[3 - lane], alone.state[0]), unit
    assert len({y.tobytes() for y in y_together}) == 4  # the lanes do differ


def test_lanes_must_share_the_network(conn76):
    sims = [gen.build_simulator(conn76, 10, 3.5, 0, 1), gen.build_simulator(conn76, 10, 3.5, 1, 2)]
    gen.run_piece(sims[1], 1.0, NoProgress())  # two steps ahead
    with pytest.raises(ValueError, match="share the network"):
        FastSimulator.from_tvb_lanes(sims, [1, 2])
    with pytest.raises(ValueError, match="1 to 4"):
        FastSimulator.from_tvb_lanes(sims * 3, [1, 2] * 3)


# --------------------------------------------------------------------------- the noise generator

# Random123's known answers for Philox4x32-10 (its tests/kat_vectors): counter, key, output.
PHILOX_KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", PHILOX_KNOWN_ANSWERS)
def test_philox_known_answers(counter, key, expected):
    got = fast_engine.philox4x32(np.array(counter, dtype=np.uint64), np.array(key, dtype=np.uint64))
    assert [int(w) for w in got] == list(expected)


def reference_normals(seed, step, variable, n):
    """The samples of :func:`fast_engine._normals` recomputed in Python: Philox words, libm's log, cos and sin."""
    pairs = -(-n // 16) * 8  # ceil(n / 2) rounded up to a multiple of 8
    assert pairs == fast_engine.padded_pairs(n)
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint64)
    out = np.empty(2 * pairs)
    for j in range(pairs):
        c0, c1, c2, c3 = (int(w) for w in fast_engine.philox4x32(
            np.array([step & 0xFFFFFFFF, step >> 32, j, variable], dtype=np.uint64), key))
        u1 = 2.0 - (1.0 + (((c0 << 32) | c1) >> 12) * 2.0 ** -52)  # (0, 1]
        bits = (c2 << 32) | c3
        angle = 2.0 * np.pi * ((bits >> 62) + ((bits >> 10) & (2 ** 52 - 1)) * 2.0 ** -52) / 4.0
        radius = np.sqrt(-2.0 * np.log(u1))
        out[j], out[pairs + j] = radius * np.cos(angle), radius * np.sin(angle)
    return out[:n]


def test_normals_are_box_muller_of_philox():
    """The vectorised transform (fdlibm's log, sin and cos as arithmetic) against libm's, sample by sample."""
    for seed, step, n in ((0, 1, 9), (20220425, 123456, 76), (2 ** 64 - 1, 2 ** 33 + 5, 33)):
        got = fast_engine.standard_normals(seed, step, 1, [4], n)[0, 0]
        want = reference_normals(seed, step, 4, n)
        # the angle is rounded once more in the reference (2 pi x / 4): a few ulp of the value
        assert np.allclose(got, want, rtol=1e-13, atol=1e-14), np.abs(got - want).max()
    # 2 ** 64 seeds and steps: both 32-bit words of each enter the counter and key
    a = fast_engine.standard_normals(1, 7, 1, [4], 20)
    assert not np.array_equal(a, fast_engine.standard_normals(1 + 2 ** 32, 7, 1, [4], 20))
    assert not np.array_equal(a, fast_engine.standard_normals(1, 7 + 2 ** 32, 1, [4], 20))
    with pytest.raises(ValueError, match="noise seeds"):
        fast_engine.standard_normals(-1, 1, 1, [4], 3)
    with pytest.raises(ValueError, match="noise seeds"):
        fast_engine.standard_normals(2 ** 64, 1, 1, [4], 3)


def test_normals_are_standard_normal_and_independent():
    """2.4e6 samples of 3 seeds: mean, variance, tails and a KS test; no correlation across seeds, steps,
    regions and the two samples of a Box-Muller pair (each statistic within 5 standard errors)."""
    from scipy.stats import kstest, norm
    n, steps = 998, 800
    z = np.stack([fast_engine.standard_normals(seed, 1, steps, [4], n)[:, 0] for seed in (5, 6, 2 ** 40 + 5)])
    flat = z.ravel()
    size = flat.size
    assert abs(flat.mean()) < 5 / np.sqrt(size)
    assert abs(flat.var() - 1.0) < 5 * np.sqrt(2.0 / size)
    assert abs(np.mean(flat ** 4) - 3.0) < 5 * np.sqrt(96.0 / size)  # kurtosis: the shape, not only the scale
    for k in (2.0, 3.0, 4.0):  # the tails: the fraction beyond k standard deviations
        p = 2 * norm.sf(k)
        assert abs(np.mean(np.abs(flat) > k) - p) < 5 * np.sqrt(p / size)
    assert kstest(flat, "norm").pvalue > 1e-3
    assert kstest(z[2, :, 0], "norm").pvalue > 1e-3  # one region alone, over steps

    def corr(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    bound = 5 / np.sqrt(steps * n)
    assert abs(corr(z[0], z[1])) < bound and abs(corr(z[0], z[2])) < bound  # seeds (lanes)
    assert abs(corr(z[0, 1:], z[0, :-1])) < 5 / np.sqrt((steps - 1) * n)  # successive steps
    assert abs(corr(z[0, :, 1:], z[0, :, :-1])) < 5 / np.sqrt(steps * (n - 1))  # neighbouring regions
    pairs = fast_engine.padded_pairs(n)  # regions i and pairs + i: the two samples of a Box-Muller pair
    assert abs(corr(z[0, :, :n - pairs], z[0, :, pairs:])) < 5 / np.sqrt(steps * (n - pairs))
    assert abs(corr(z[0, :, :n - pairs] ** 2, z[0, :, pairs:] ** 2)) < 5 / np.sqrt(steps * (n - pairs) / 2)


def test_the_engine_adds_the_samples_of_its_step(conn76):
    """One step of a lane with and without noise from the same state: y4 differs by
    ``sqrt(dt) sqrt(2 nsig) z (1 - a dt)`` (the noise added in both Heun stages), ``z`` the lane's sample of
    that global step; also after a first step, in the second lane of two."""
    sims = [gen.build_simulator(conn76, 10, science.A_EXCITABLE, m, seed) for m, seed in ((0, 51), (2, 52))]
    noisy = FastSimulator.from_tvb_lanes(sims, [51, 52])
    quiet = FastSimulator.from_tvb_lanes(sims, [51, 52], noise=False)
    a = float(np.asarray(sims[0].model.a).item())
    dt = science.DT_MS
    v = science.NOISY_STATE_VARIABLE
    for _ in range(2):
        quiet.state, quiet.ring, quiet.step = noisy.state.copy(), noisy.ring.copy(), noisy.step
        step = noisy.step + 1
        noisy.run_lanes(dt)
        quiet.run_lanes(dt)
        for lane, seed in enumerate((51, 52)):
            z = fast_engine.standard_normals(seed, step, 1, [v], 76)[0, 0]
            expected = np.sqrt(dt) * noisy.noise_gains[lane, 0] * z * (1.0 - a * dt)
            assert np.allclose(noisy.state[lane, v] - quiet.state[lane, v], expected, rtol=1e-7, atol=1e-12)


def test_exp_within_one_ulp_of_math_exp():
    """The engine's vectorisable exp against libm's (numpy's) on the range the model uses and the edges."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-40.0, 40.0, 200000), rng.uniform(-760.0, 760.0, 200000),
                        [0.0, -0.0, 1e-300, -1e-300, 709.78, 709.79, -708.4, -745.1, -745.2, np.inf, -np.inf]])
    got = np.empty_like(x)
    fast_engine.exp_array(x, got)
    with np.errstate(over="ignore", under="ignore"):
        want = np.exp(x)
    normal = np.isfinite(want) & (want >= np.finfo(float).tiny)
    ulps = np.abs(got[normal].view(np.int64) - want[normal].view(np.int64))
    assert ulps.max() <= 1
    assert np.array_equal(got[~normal], want[~normal]) or np.allclose(got[~normal], want[~normal], rtol=1e-12, atol=0)
    assert np.isinf(got[x > 709.79]).all() and (got[x < -745.2] == 0).all()
    nan = np.empty(1)
    fast_engine.exp_array(np.array([np.nan]), nan)
    assert np.isnan(nan[0])


# --------------------------------------------------------------------------- delays and history


def tiny_simulator(history):
    """Four regions with long tracts (delays 8 to 70 steps, one of 0) and strong weights.

    ``history``: None for TVB's random initial history (current step 0), or
    ``(n_time, 6, 4, 1)`` initial conditions (current step n_time - 1).
    """
    gen._import_tvb()
    from tvb.datatypes import connectivity
    from tvb.simulator import coupling, integrators, models, monitors, noise, simulator
    weights = np.array([[0, 30, 0, 20], [25, 0, 15, 0], [0, 40, 8, 0], [10, 0, 30, 0]], dtype=float)
    tracts = np.array([[0, 45, 0, 90], [60, 0, 12, 0], [0, 75, 0, 0], [30, 0, 105, 0]], dtype=float)  # mm
    conn = connectivity.Connectivity(weights=weights, tract_lengths=tracts, speed=np.array([3.0]),
                                     centres=np.eye(4, 3), region_labels=np.array(["a", "b", "c", "d"]))
    conn.configure()
    model = models.JansenRit(A=np.array([3.25, 3.5, 3.25, 3.25]), mu=np.array([0.09]))
    integrator = integrators.HeunStochastic(dt=0.5, noise=noise.Additive(nsig=np.zeros(6), noise_seed=3))
    return simulator.Simulator(model=model, connectivity=conn, coupling=coupling.SigmoidalJansenRit(),
                               integrator=integrator, monitors=(monitors.Raw(),),
                               initial_conditions=history).configure()


@pytest.fixture
def history_near_rest(monkeypatch):
    """TVB's random initial history, drawn by TVB, mapped from its default ranges to ranges near rest.

    With the defaults the transient reaches thousands of mV and hides the
    coupling; here ``y1 - y2`` spans the coupling sigmoid's midpoint (6 mV).
    """
    gen._import_tvb()
    from tvb.simulator.models import JansenRit
    near_rest = {"y0": (0.0, 0.2), "y1": (8.0, 28.0), "y2": (10.0, 16.0), "y3": (-0.2, 0.2), "y4": (-1.0, 1.0),
                 "y5": (-1.0, 1.0)}
    drawn_by_tvb = JansenRit.initial

    def initial(self, dt, history_shape, rng=np.random):
        history = drawn_by_tvb(self, dt, history_shape, rng)
        for i, name in enumerate(self.state_variables):
            lo, hi = self.state_variable_range[name]
            history[:, i] = near_rest[name][0] + (history[:, i] - lo) / (hi - lo) * np.ptp(near_rest[name])
        return history
    monkeypatch.setattr(JansenRit, "initial", initial)


def oscillating_history():
    """71 steps of history with y1 swinging through the coupling sigmoid, different per region."""
    n_time = 71  # the tiny network's horizon
    history = np.zeros((n_time, 6, 4, 1))
    history[:, 0] = 0.1
    history[:, 2] = 15.0
    steps = np.arange(n_time)[:, None]
    history[:, 1, :, 0] = 20.0 + 12.0 * np.sin(2 * np.pi * steps / 23.0 + np.arange(4))
    return history


def shifted_delays(fast, sim, shift):
    """Make ``fast`` read every delay ``shift`` steps off (kept inside the history)."""
    source, target, weight, delay = sparse_by_source(sim.history.weights, sim.connectivity.idelays)
    n_time = fast.ring.shape[1] // 2
    fast.connections = (ring_index(source, np.clip(delay + shift, 0, n_time - 1), n_time), target, weight)


def rolled_history(fast, slots):
    """Make ``fast`` read its history ``slots`` slots off."""
    n_time = fast.ring.shape[1] // 2
    ring = np.roll(fast.ring[:, :n_time], slots, axis=1)
    fast.ring = np.concatenate([ring, ring], axis=1)


@pytest.mark.parametrize("given_history", [False, True], ids=["random_history", "given_history"])
def test_delays_and_history_convention(given_history, history_near_rest):
    """Match on a network where a delay or history slot off by one is a large error.

    Each wrong convention (every delay one step shorter or longer, the ring
    buffer one slot off either way, the current state taken from the other
    end of the history) is shown to miss TVB by more than 1000 times the
    tolerance, so the match cannot be a coincidence of a wrong convention.
    """
    history = oscillating_history() if given_history else None
    sim = tiny_simulator(history)
    assert sorted(set(sim.connectivity.idelays[sim.connectivity.weights > 0])) == [0, 8, 20, 30, 40, 50, 60, 70]
    assert sim.current_step == (70 if given_history else 0)
    fast = FastSimulator.from_tvb(sim, 0, noise=False)
    wrong = {name: FastSimulator.from_tvb(sim, 0, noise=False)
             for name in ("delay-1", "delay+1", "ring-1", "ring+1", "oldest state")}
    shifted_delays(wrong["delay-1"], sim, -1)
    shifted_delays(wrong["delay+1"], sim, +1)
    rolled_history(wrong["ring-1"], -1)
    rolled_history(wrong["ring+1"], +1)
    oldest = (sim.current_step + 1) % sim.history.n_time  # the slot of the earliest history step
    wrong["oldest state"].state[0, [1, 2]] = sim.history.buffer[oldest, :, :, 0]  # its y1, y2

    _, y_tvb = gen.run_piece(sim, 100.0, NoProgress())
    assert relative_error(fast.run_piece(100.0)[1], y_tvb) <= TOLERANCE
    errors = {name: relative_error(f.run_piece(100.0)[1], y_tvb) for name, f in wrong.items()}
    assert min(errors.values()) > 1000 * TOLERANCE, errors


def test_refuses_what_it_does_not_reproduce(conn76):
    gen._import_tvb()
    from tvb.simulator import coupling
    sim = gen.build_simulator(conn76, 0, 3.5, 0, 1)
    sim.coupling = coupling.Linear()
    with pytest.raises(ValueError, match="coupling Linear"):
        FastSimulator.from_tvb(sim, 1)


# --------------------------------------------------------------------------- statistics with noise

N_SEEDS = 8
STOCHASTIC_MS = 8000.0


def seed_statistics(y, region):
    """Spikes of the excitable region and the other regions' mean and std, after the transient.

    Returns
    -------
    dict
        ``n_spikes``, ``seconds``, ``amplitudes`` (peak heights, mV),
        ``mean`` and ``std`` ``(n_regions - 1,)`` of the other regions.
    """
    y = y[TRANSIENT:].astype(np.float64)
    peaks, props = find_peaks(y[:, region], height=SPIKE_MV, distance=SPIKE_GAP)
    background = np.delete(y, region, axis=1)
    return {"n_spikes": peaks.size, "seconds": y.shape[0] * science.DT_MS / 1000.0,
            "amplitudes": props["peak_heights"], "mean": background.mean(0), "std": background.std(0)}


def engine_statistics(runs):
    """Statistics of one engine over its seeds.

    Returns
    -------
    dict
        ``rate`` (spikes per s), ``amplitudes`` (all peaks), ``mean`` and
        ``std`` (averaged over seeds and regions), ``region_mean`` and
        ``region_std`` ``(n_regions - 1,)``: the median over seeds, robust to
        a seed in which a region happens to follow the spikes.
    """
    return {"rate": sum(r["n_spikes"] for r in runs) / sum(r["seconds"] for r in runs),
            "amplitudes": np.concatenate([r["amplitudes"] for r in runs]),
            "mean": np.mean([r["mean"] for r in runs]), "std": np.mean([r["std"] for r in runs]),
            "region_mean": np.median([r["mean"] for r in runs], axis=0),
            "region_std": np.median([r["std"] for r in runs], axis=0)}


@pytest.mark.slow
def test_noise_statistics_match_tvb(conn76):
    """8 seeds x 8 s on tvb76, region 10, mean iteration 0, noise on: TVB vs fast.

    Tolerances come from 24 seeds x 8 s per engine (statistics over the 7.5 s
    after the transient; "spread" is the standard deviation between seeds,
    "SE" the standard error of the difference of two 8-seed averages), and
    from the same runs with the fast engine's noise amplitude 10 % too high:

    - spike rate (peaks > 8 mV, >= 400 raw samples apart): ~1.7/s, spread
      0.19/s, SE 0.095/s; tolerance 0.4/s (4 SE). Measured differences on
      three disjoint 8-seed sets: 0.07, 0.12, 0.13/s.
    - peak amplitudes: ~11.77 mV, spread 0.28 mV per peak, ~100 peaks per
      engine, SE 0.04 mV; means within 0.2 mV (5 SE; measured <= 0.06), and
      a two-sample Kolmogorov-Smirnov test must not reject (p > 0.001;
      measured p >= 0.31, TVB against TVB 0.085 to 0.59).
    - background (the 75 other regions), averaged over regions and seeds:
      mean 1.296 mV (spread 0.004, SE 0.002) and std 0.342 mV (spread 0.003,
      SE 0.0015), each within 0.01 mV (5 to 7 SE; measured <= 0.0032). With
      the noise 10 % too high the std is 0.034 to 0.038 mV higher: it fails.
    - per region, the median over seeds (one TVB seed had a region whose std
      was 0.5 mV off, following the spikes): means within 0.1 mV and stds
      within 0.05 mV (measured <= 0.046 and 0.031; 10 % more noise: 0.065),
      and the regional profile of the means (spread 0.12 mV across regions)
      correlated > 0.98 (measured 0.991 to 0.995).
    """
    region = 10
    runs = {"tvb": [], "fast": []}
    for k in range(N_SEEDS):
        seed = science.simulation_seed(science.DEFAULT_SEED, region, k)
        sim = gen.build_simulator(conn76, region, science.A_EXCITABLE, 0, seed)
        fast = FastSimulator.from_tvb(sim, seed)
        runs["fast"].append(seed_statistics(fast.run_piece(STOCHASTIC_MS)[1], region))
        runs["tvb"].append(seed_statistics(gen.run_piece(sim, STOCHASTIC_MS, NoProgress())[1], region))
    tvb, fast = engine_statistics(runs["tvb"]), engine_statistics(runs["fast"])
    report = {"rate": (tvb["rate"], fast["rate"]),
              "amplitude": (tvb["amplitudes"].mean(), fast["amplitudes"].mean()),
              "background mean": (tvb["mean"], fast["mean"]), "background std": (tvb["std"], fast["std"])}
    assert tvb["rate"] > 1.0 and fast["rate"] > 1.0, report  # the excitable region spikes
    assert abs(fast["rate"] - tvb["rate"]) <= 0.4, report
    assert abs(fast["amplitudes"].mean() - tvb["amplitudes"].mean()) <= 0.2, report
    assert ks_2samp(fast["amplitudes"], tvb["amplitudes"]).pvalue > 1e-3, report
    assert abs(fast["mean"] - tvb["mean"]) <= 0.01, report
    assert abs(fast["std"] - tvb["std"]) <= 0.01, report
    assert np.abs(fast["region_mean"] - tvb["region_mean"]).max() <= 0.1, report
    assert np.abs(fast["region_std"] - tvb["region_std"]).max() <= 0.05, report
    assert np.corrcoef(fast["region_mean"], tvb["region_mean"])[0, 1] > 0.98, report


# --------------------------------------------------------------------------- step 1 with --engine fast


def test_step1_fast_engine_writes_the_same_files(tvb76_dir, tmp_path):
    """Same names, variables, shapes and seed as the TVB engine; the engine is recorded and checked."""
    from deepsif_pipeline.head.anatomy import load_template
    template = load_template(tvb76_dir)
    for engine in ("tvb", "fast"):
        gen.simulate_region(template, Layout(tmp_path / engine), 3, 1.5, 1.0, 3.5, 21, iterations=[2],
                            progress_mode="none", engine=engine)
    names = {e: sorted(p.name for p in (tmp_path / e / "raw_nmm" / "a3").iterdir()) for e in ("tvb", "fast")}
    assert names["tvb"] == names["fast"] == ["mean_iter_2_a_iter_3_0.mat", "mean_iter_2_a_iter_3_1.mat"]
    seed = science.simulation_seed(21, 3, 2)
    for name, n_times in zip(names["fast"], (2000, 1000)):
        pieces = {e: loadmat(tmp_path / e / "raw_nmm" / "a3" / name) for e in ("tvb", "fast")}
        assert {k for k in pieces["fast"] if not k.startswith("__")} == {
            "time", "data", "A", "seed", "mean_iter", "dt", "engine", "raw_rate", "fingerprint"}
        for key in ("time", "A", "seed", "mean_iter", "dt"):
            assert np.array_equal(pieces["fast"][key], pieces["tvb"][key]), key
        assert pieces["fast"]["data"].dtype == np.float32 and pieces["fast"]["data"].shape == (n_times, 76)
        assert [str(pieces[e]["engine"][0]) for e in ("tvb", "fast")] == ["tvb", "fast"]
        assert int(pieces["fast"]["seed"].ravel()[0]) == seed
        assert '"engine":"fast"' in str(pieces["fast"]["fingerprint"][0])
    # the same initial history: the transients of the two engines agree closely at first
    first = {e: loadmat(tmp_path / e / "raw_nmm" / "a3" / names[e][0])["data"] for e in ("tvb", "fast")}
    assert np.abs(first["fast"][:20] - first["tvb"][:20]).max() < 1e-3 * np.ptp(first["tvb"][:20])
    # fast pieces are kept by the fast engine; TVB pieces are refused by it, not mixed or overwritten
    before = (tmp_path / "fast" / "raw_nmm" / "a3" / names["fast"][0]).stat().st_mtime_ns
    assert gen.simulate_region(template, Layout(tmp_path / "fast"), 3, 1.5, 1.0, 3.5, 21, iterations=[2],
                               progress_mode="none", engine="fast") == {2: "kept"}
    assert (tmp_path / "fast" / "raw_nmm" / "a3" / names["fast"][0]).stat().st_mtime_ns == before
    with pytest.raises(gen.OtherSettings, match="--engine: recorded tvb, asked fast"):
        gen.simulate_region(template, Layout(tmp_path / "tvb"), 3, 1.5, 1.0, 3.5, 21, iterations=[2],
                            progress_mode="none", engine="fast")
    assert str(loadmat(tmp_path / "tvb" / "raw_nmm" / "a3" / names["tvb"][1])["engine"][0]) == "tvb"


def test_engine_option_default_and_orchestrator_passes_it_on(tvb76_dir):
    from deepsif_pipeline.config.options import ORCHESTRATOR, STEP1
    from deepsif_pipeline.config.parser import build_parser
    from deepsif_pipeline.config.settings import Settings
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.steps import Context, simulate
    step1 = build_parser(STEP1)
    assert Settings.from_args(step1.parse_args([])).engine == "fast"
    assert Settings.from_args(step1.parse_args(["--engine", "tvb"])).engine == "tvb"
    args = build_parser(ORCHESTRATOR).parse_args(["--start_region", "0", "--end_region", "1", "--engine", "tvb",
                                                  "--raw-rate", "decimated"])
    ctx = Context(Settings.from_args(args), load_template(tvb76_dir), Layout(Path("/out")))
    command = simulate.command(ctx, [(3, 0), (3, 2), (7, 1)])
    assert command[command.index("--engine") + 1] == "tvb"
    assert command[command.index("--raw-rate") + 1] == "decimated"
    units = command[command.index("--units") + 1:]
    assert units[:next(i for i, word in enumerate(units) if word.startswith("--"))] == ["3:0", "3:2", "7:1"]
    assert step1.parse_args(command[2:]).units == [(3, 0), (3, 2), (7, 1)]
    # the child parses it back to the same settings
    assert Settings.from_args(step1.parse_args(command[2:])) == ctx.settings


def test_cli_fast_engine_on_the_real_template(anatomy_dir, tmp_path):
    """generate_tvb_data.py --engine fast: progress lines, the raw piece of the 998-region connectivity."""
    res = run_cli("generate_tvb_data.py", "--a_start", 0, "--a_end", 1, "--anatomy", anatomy_dir,
                  "--output", tmp_path, "--leadfield", "leadfield_75_20k.mat", "--sim-length", 1.5,
                  "--piece-length", 1.5, "--iterations", 0, "--progress", "lines", "--engine", "fast",
                  "--raw-rate", "full", timeout=600)  # every step: the transient is checked below
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr and "piece 1/1 written" in res.stderr
    piece = loadmat(tmp_path / "raw_nmm" / "a0" / "mean_iter_0_a_iter_0_0.mat")
    assert piece["data"].shape == (3000, 998) and piece["data"].dtype == np.float32
    assert str(piece["engine"][0]) == "fast" and int(piece["seed"].ravel()[0]) == science.simulation_seed(
        science.DEFAULT_SEED, 0, 0)
    # as with tvb-library: a transient in the thousands of mV, then a background within a few mV
    assert np.abs(piece["data"][:1000]).max() > 1000
    assert np.percentile(np.abs(piece["data"][1000:]), 99) < 5


@pytest.mark.slow
def test_step2_clips_look_alike(tvb76_cache, tmp_path):
    """Steps 1-2 through the orchestrator with each engine, tvb76 regions 0-11, 3 x 4 s each.

    The clips per simulated minute agree within three standard deviations of the difference of
    two Poisson counts (about 50 clips per engine here; an engine spiking half or twice as
    often fails), most regions yield clips with both, and the average spike of the source (each
    clip's source column around its peak, normalised to it) has the same shape (correlation
    above 0.95).
    """
    import os
    import subprocess
    import sys
    from conftest import REPO
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    regions = range(12)
    counts, shapes = {}, {}
    for engine in ("tvb", "fast"):
        out = tmp_path / engine
        res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76",
                              "--output", str(out), "--start_region", "0", "--end_region", str(len(regions)),
                              "--sim-length", "4", "--piece-length", "4", "--engine", engine,
                              "--skip-synthesis", "--progress", "none"], env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        counts[engine] = np.array([len(list((out / "nmm_spikes" / f"a{r}").glob("nmm_*.mat"))) for r in regions])
        waves = [loadmat(p)["data"][:, r] for r in regions for p in (out / "nmm_spikes" / f"a{r}").glob("nmm_*.mat")]
        peaks = [int(np.argmax(w)) for w in waves]
        shapes[engine] = np.mean([w[p - 50:p + 150] / w[p] for w, p in zip(waves, peaks) if 50 <= p < 350], axis=0)
    minutes = len(regions) * 3 * 3.5 / 60  # after each mean iteration's 0.5 s transient
    tvb, fast = counts["tvb"].sum(), counts["fast"].sum()
    assert tvb > 20 and fast > 20, counts
    assert abs(fast - tvb) <= 3 * np.sqrt(fast + tvb), (f"{tvb / minutes:.1f} vs {fast / minutes:.1f} "
                                                        "clips per simulated minute", counts)
    assert (counts["tvb"] > 0).sum() >= 8 and (counts["fast"] > 0).sum() >= 8, counts
    assert np.corrcoef(shapes["tvb"], shapes["fast"])[0, 1] > 0.95


def test_step1_mean_iterations_alone_together_or_resumed_give_the_same_files(tvb76_dir, tmp_path):
    """Step 1 with the fast engine: the three mean iterations in one 3-lane run, mean iteration 2 alone,
    and a resumed run that remakes two deleted pieces (each lane group simulating again from the
    start) write bit-identical raw data."""
    from deepsif_pipeline.head.anatomy import load_template
    template = load_template(tvb76_dir)

    def run(out, iterations):
        return gen.simulate_region(template, Layout(out), 4, 1.5, 0.5, 3.5, 23, iterations=iterations,
                                   progress_mode="none", engine="fast")

    def data(out, m, k):
        return loadmat(out / "raw_nmm" / "a4" / f"mean_iter_{m}_a_iter_4_{k}.mat")["data"]

    assert run(tmp_path / "all", [0, 1, 2]) == {0: "simulated", 1: "simulated", 2: "simulated"}
    run(tmp_path / "alone", [2])
    for k in range(3):
        assert np.array_equal(data(tmp_path / "all", 2, k), data(tmp_path / "alone", 2, k))
    raw = tmp_path / "all" / "raw_nmm" / "a4"
    before = {p.name: loadmat(p)["data"] for p in raw.iterdir()}
    (raw / "mean_iter_1_a_iter_4_1.mat").unlink()
    (raw / "mean_iter_2_a_iter_4_0.mat").unlink()
    assert run(tmp_path / "all", [0, 1, 2]) == {0: "kept", 1: "simulated", 2: "simulated"}
    after = {p.name: loadmat(p)["data"] for p in raw.iterdir()}
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert not np.array_equal(data(tmp_path / "all", 0, 2), data(tmp_path / "all", 1, 2))
