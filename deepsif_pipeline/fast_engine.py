"""Step 1 without tvb-library's per-step cost: the same Jansen-Rit network in numba.

tvb-library 2.10 integrates step 1 (``generate_tvb_data.build_simulator``)
with a dense coupling: every step it evaluates the sigmoid of the delayed
``y1 - y2`` for all n x n region pairs, although the sigmoid depends only
on the source region and its delay, and only ~3.6 % of DeepSIF's
998 x 998 weights are non-zero. This module computes the same mathematics
as tvb-library's simulator for that configuration, with

- the sigmoid of each region computed once per step and kept in a ring
  buffer of ``n_time`` (TVB's history horizon) steps per region;
- the coupling as a scatter over the non-zero weights, by source region;
- the whole time loop in one numba function, single-threaded.

What is reproduced from tvb-library (``tvb/simulator``), and how:

- ``models.JansenRit.dfun`` (its numba kernel ``_numba_dfun_jr``), with the
  products evaluated in the same order, so the same floating point values;
  its ``p_max``/``p_min`` do not enter the equations (TVB does not use them);
- ``coupling.SigmoidalJansenRit``: ``c_i = a * sum_j w_ij * S_j``,
  ``S_j = cmin + (cmax - cmin) / (1 + exp(r * (midpoint - (y1_j - y2_j))))``
  of the *delayed* state of the source j;
- TVB's history (``history.SparseHistory``) keeps ``y1, y2`` and the weights
  as **float32**: the delayed ``y1 - y2`` is a float32 difference of float32
  values, then the sigmoid is evaluated in float64. The ring buffer here
  stores ``S`` computed from those float32 values;
- delays: ``connectivity.idelays`` (``rint(tract_length / speed / dt)``);
  the coupling of step ``s`` reads the history slot ``(s - 1 - d) % n_time``,
  i.e. the state after step ``s - 1 - d``; ``d = 0`` is the state the step
  starts from;
- history convention after ``Simulator.configure()``: slot ``k`` of the
  buffer holds step ``k`` (mod ``n_time``) and the current state is the
  history at slot ``current_step % n_time``. With TVB's random initial
  history ``current_step`` is 0: the state is row 0 of the drawn history
  and row ``n_time - 1`` is the step before it. With given initial
  conditions of ``n_time`` rows ``current_step`` is ``n_time - 1``: the
  state is the last row. The fast engine copies ``current_step``, the
  state and the buffer, so it follows either;
- ``integrators.HeunStochastic``: the coupling is evaluated once per step
  and used in both stages; one noise sample ``sqrt(dt) * N(0, 1) *
  sqrt(2 nsig)`` is added in both stages; JansenRit has no state bounds
  and nothing is clamped (checked in :meth:`FastSimulator.from_tvb`);
- ``monitors.Raw``: one sample per step at time ``step * dt`` ms, for steps
  ``current_step + 1 ..``.

Terms that are zero in this configuration are left out: TVB adds the local
coupling ``0 * (y1 - y2)`` and the stimulus ``dt * 0`` (no surface, no
stimulus), which changes no value.

The noise is the one thing that is not TVB's sample by sample: TVB draws
``N(0, 1)`` for all six state variables from a legacy ``RandomState``
(then multiplies five of them by zero); here a ``numpy.random.Generator``
(PCG64) draws only the state variables with non-zero ``nsig`` (``y4``).
The statistics are the same, the samples are not.
"""

import math

import numba
import numpy as np

# Rows of the model parameter table (see model_table): products precomputed in
# the order TVB's kernel evaluates them, so that the values are identical.
TWO_NU_MAX, R, V0, A1J, A2J, A3J, A4J, AA, TWO_A, A_SQ, BB, TWO_B, B_SQ, MU = range(14)
N_PARAMS = 14
N_STATE = 6  # y0 .. y5
Y1, Y2 = 1, 2  # the coupling variables (JansenRit.cvar) and the output y1 - y2

# Steps per call of the numba loop when a progress callback is given.
CHUNK_STEPS = 2000


# ---------------------------------------------------------------------------
# Parameters from configured TVB objects
# ---------------------------------------------------------------------------

def model_table(model, n):
    """JansenRit parameters per region, as TVB's numba kernel combines them.

    Parameters
    ----------
    model : tvb.simulator.models.JansenRit
        Configured model; each parameter has shape ``(1,)`` or ``(n,)``.
    n : int
        Number of regions.

    Returns
    -------
    numpy.ndarray
        ``(N_PARAMS, n)`` float64; rows indexed by ``TWO_NU_MAX, R, ...``,
        e.g. ``AA = A * a`` and ``A_SQ = a ** 2``.
    """
    p = {name: np.broadcast_to(np.asarray(getattr(model, name), dtype=np.float64).ravel(), (n,))
         for name in ("nu_max", "r", "v0", "a", "a_1", "a_2", "a_3", "a_4", "A", "b", "B", "J", "mu")}
    table = np.empty((N_PARAMS, n))
    table[TWO_NU_MAX] = 2.0 * p["nu_max"]
    table[R] = p["r"]
    table[V0] = p["v0"]
    table[A1J] = p["a_1"] * p["J"]
    table[A2J] = p["a_2"] * p["J"]
    table[A3J] = p["a_3"] * p["J"]
    table[A4J] = p["a_4"] * p["J"]
    table[AA] = p["A"] * p["a"]
    table[TWO_A] = 2.0 * p["a"]
    table[A_SQ] = p["a"] ** 2
    table[BB] = p["B"] * p["b"]
    table[TWO_B] = 2.0 * p["b"]
    table[B_SQ] = p["b"] ** 2
    table[MU] = p["mu"]
    return table


def coupling_constants(coupling):
    """The SigmoidalJansenRit constants.

    Parameters
    ----------
    coupling : tvb.simulator.coupling.SigmoidalJansenRit

    Returns
    -------
    numpy.ndarray
        ``(5,)`` float64: ``cmin, cmax - cmin, midpoint, r, a``.
    """
    def scalar(name):
        value = np.asarray(getattr(coupling, name), dtype=np.float64).ravel()
        if value.size != 1:
            raise ValueError(f"SigmoidalJansenRit.{name} must be a scalar, got shape {value.shape}")
        return value[0]
    cmin, cmax = scalar("cmin"), scalar("cmax")
    return np.array([cmin, cmax - cmin, scalar("midpoint"), scalar("r"), scalar("a")])


def sparse_by_source(weights, idelays):
    """The non-zero weights, ordered by source region, then target.

    TVB's weights are ``weights[target, source]``; its history keeps them as
    float32, which is what enters the sum.

    Parameters
    ----------
    weights : numpy.ndarray
        ``(n, n)`` weights as TVB's history holds them (float32).
    idelays : numpy.ndarray
        ``(n, n)`` integer delays in steps.

    Returns
    -------
    source, target : numpy.ndarray
        ``(nnz,)`` int32 regions of each connection.
    weight : numpy.ndarray
        ``(nnz,)`` float64 (the float32 value, exactly).
    delay : numpy.ndarray
        ``(nnz,)`` int32 delay in steps.
    """
    weights = np.asarray(weights)
    source, target = np.nonzero(weights.T)  # sorted by source, then target
    weight = weights[target, source].astype(np.float32).astype(np.float64)
    delay = np.asarray(idelays)[target, source].astype(np.int32)
    return source.astype(np.int32), target.astype(np.int32), weight, delay


def ring_index(source, delay, n_time):
    """Where each connection reads the doubled sigmoid ring buffer, less the current slot.

    The ring buffer is ``(n, 2 n_time)``, each slot stored twice (``k`` and
    ``k + n_time``), so that the state after step ``s - 1 - d`` of region
    ``j`` is at flat position ``(s - 1) % n_time + index`` with no branch.

    Parameters
    ----------
    source, delay : numpy.ndarray
        ``(nnz,)`` source region and delay (``0 <= delay < n_time``).
    n_time : int
        TVB's history length (``max(idelays) + 1``).

    Returns
    -------
    numpy.ndarray
        ``(nnz,)`` int32 ``source * 2 n_time + n_time - delay``.
    """
    source, delay = np.asarray(source, dtype=np.int64), np.asarray(delay, dtype=np.int64)
    if delay.size and not (delay.min() >= 0 and delay.max() < n_time):
        raise ValueError(f"delays must lie in 0..{n_time - 1}")
    index = source * 2 * n_time + n_time - delay
    if index.size and index.max() >= 2 ** 31:
        raise ValueError("connectivity too large for int32 ring indices")
    return index.astype(np.int32)


def sigmoid_history(buffer, constants):
    """The coupling sigmoid of TVB's history buffer, per region and slot.

    Parameters
    ----------
    buffer : numpy.ndarray
        ``(n_time, 2, n[, 1])`` float32, TVB's ``history.buffer`` (``y1, y2``).
    constants : numpy.ndarray
        ``(5,)`` from :func:`coupling_constants`.

    Returns
    -------
    numpy.ndarray
        ``(n, 2 n_time)`` float64, slot ``k`` of region ``j`` at ``[j, k]``
        and again at ``[j, k + n_time]`` (see :func:`ring_index`).
    """
    buffer = np.asarray(buffer, dtype=np.float32)
    diff = (buffer[:, 0] - buffer[:, 1]).reshape(buffer.shape[0], -1)  # float32, like TVB
    cmin, span, midpoint, r, _ = constants
    with np.errstate(over="ignore"):
        s = cmin + span / (1.0 + np.exp(r * (midpoint - diff.astype(np.float64))))
    return np.ascontiguousarray(np.concatenate([s.T, s.T], axis=1))


def noise_gains(nsig, n):
    """Which state variables get noise, and its scale ``sqrt(2 nsig)`` per region.

    Parameters
    ----------
    nsig : numpy.ndarray
        TVB's ``Additive.nsig`` after configure: ``(1,)``, ``(6, 1, 1)`` or
        ``(6, n, 1)``.
    n : int

    Returns
    -------
    variables : numpy.ndarray
        ``(k,)`` int64 indices of the noisy state variables (those with a
        non-zero ``nsig`` somewhere).
    gains : numpy.ndarray
        ``(k, n)`` float64 ``sqrt(2 nsig)``.
    """
    nsig = np.asarray(nsig, dtype=np.float64)
    nsig = nsig.reshape(-1, 1) if nsig.ndim == 1 else nsig.reshape(nsig.shape[0], -1)
    full = np.broadcast_to(nsig, (N_STATE, n))
    variables = np.flatnonzero(np.any(full != 0.0, axis=1))
    return variables, np.sqrt(2.0 * full[variables])


# ---------------------------------------------------------------------------
# The numba kernels
# ---------------------------------------------------------------------------

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@_jit
def _sigmoid(y1, y2, cmin, span, midpoint, r):
    """TVB's coupling sigmoid of one region: float32 ``y1 - y2``, float64 sigmoid."""
    diff = np.float32(np.float32(y1) - np.float32(y2))
    return cmin + span / (1.0 + math.exp(r * (midpoint - diff)))


@_jit
def _dfun(y0, y1, y2, y3, y4, y5, c, p, i):
    """JansenRit derivatives of region ``i`` (TVB's ``_numba_dfun_jr``, same order of operations)."""
    two_nu, r, v0 = p[TWO_NU_MAX, i], p[R, i], p[V0, i]
    s12 = two_nu / (1.0 + math.exp(r * (v0 - (y1 - y2))))
    s01 = two_nu / (1.0 + math.exp(r * (v0 - (p[A1J, i] * y0))))
    s03 = two_nu / (1.0 + math.exp(r * (v0 - (p[A3J, i] * y0))))
    d3 = p[AA, i] * s12 - p[TWO_A, i] * y3 - p[A_SQ, i] * y0
    d4 = p[AA, i] * (p[MU, i] + p[A2J, i] * s01 + c) - p[TWO_A, i] * y4 - p[A_SQ, i] * y1
    d5 = p[BB, i] * (p[A4J, i] * s03) - p[TWO_B, i] * y5 - p[B_SQ, i] * y2
    return y3, y4, y5, d3, d4, d5


@_jit
def _coupling(ring, base, index, target, weight, a, out):
    """``out[i] = a * sum_j w_ij * S_j(after step s - 1 - d_ij)``, scattered over the connections.

    ``ring`` is the flattened ``(n, 2 n_time)`` buffer, ``base`` the slot
    ``(s - 1) % n_time`` of the state step ``s`` starts from, ``index``
    from :func:`ring_index`. One flat loop: measured twice as fast as a
    loop over sources with an inner loop over their targets.
    """
    out[:] = 0.0
    for k in range(index.size):
        out[target[k]] += weight[k] * ring[base + index[k]]
    for i in range(out.size):
        out[i] = a * out[i]


@_jit
def _draw_noise(rng, variables, gains, sqrt_dt, noise):
    """``noise[v, i] = sqrt(dt) * N(0, 1) * sqrt(2 nsig)`` for the noisy variables (TVB's order of products).

    The rows of the other variables are left as they are (zero).
    """
    for k in range(variables.size):
        v = variables[k]
        for i in range(noise.shape[1]):
            noise[v, i] = (sqrt_dt * rng.standard_normal()) * gains[k, i]


@_jit
def _heun(x, c, noise, p, dt):
    """One HeunStochastic step of every region, in place (``x`` is ``(6, n)``)."""
    for i in range(x.shape[1]):
        y0, y1, y2, y3, y4, y5 = x[0, i], x[1, i], x[2, i], x[3, i], x[4, i], x[5, i]
        m0, m1, m2, m3, m4, m5 = _dfun(y0, y1, y2, y3, y4, y5, c[i], p, i)
        # inter = X + dt * dX(X) + noise
        i0 = y0 + dt * m0 + noise[0, i]
        i1 = y1 + dt * m1 + noise[1, i]
        i2 = y2 + dt * m2 + noise[2, i]
        i3 = y3 + dt * m3 + noise[3, i]
        i4 = y4 + dt * m4 + noise[4, i]
        i5 = y5 + dt * m5 + noise[5, i]
        n0, n1, n2, n3, n4, n5 = _dfun(i0, i1, i2, i3, i4, i5, c[i], p, i)
        # X_next = X + (dX(X) + dX(inter)) * dt / 2 + noise
        x[0, i] = y0 + (m0 + n0) * dt / 2.0 + noise[0, i]
        x[1, i] = y1 + (m1 + n1) * dt / 2.0 + noise[1, i]
        x[2, i] = y2 + (m2 + n2) * dt / 2.0 + noise[2, i]
        x[3, i] = y3 + (m3 + n3) * dt / 2.0 + noise[3, i]
        x[4, i] = y4 + (m4 + n4) * dt / 2.0 + noise[4, i]
        x[5, i] = y5 + (m5 + n5) * dt / 2.0 + noise[5, i]


@_jit
def _record(x, ring, slot, n_time, cc, out):
    """Store the sigmoid of the new state in ring slot ``slot`` (both copies) and ``y1 - y2`` in ``out``.

    ``ring`` is the flattened ``(n, 2 n_time)`` buffer.
    """
    cmin, span, midpoint, r = cc[0], cc[1], cc[2], cc[3]
    for i in range(x.shape[1]):
        value = _sigmoid(x[Y1, i], x[Y2, i], cmin, span, midpoint, r)
        ring[2 * n_time * i + slot] = value
        ring[2 * n_time * i + slot + n_time] = value
        out[i] = x[Y1, i] - x[Y2, i]


@_jit
def advance(x, ring, n_time, step, n_steps, index, target, weight, p, cc, dt, variables, gains, rng,
            out_time, out_data):
    """Integrate ``n_steps`` steps from step ``step``; the whole time loop.

    Parameters
    ----------
    x : numpy.ndarray
        ``(6, n)`` float64 state after step ``step``; updated in place.
    ring : numpy.ndarray
        ``(n * 2 n_time,)`` float64, the flattened ``(n, 2 n_time)`` ring
        buffer of the coupling sigmoid, slot ``k % n_time`` (and ``+ n_time``)
        holding step ``k``; updated in place.
    n_time : int
        Slots of the ring (TVB's history length).
    step : int
        Steps done so far (TVB's ``current_step``).
    n_steps : int
    index, target, weight : numpy.ndarray
        ``(nnz,)`` connections, from :func:`ring_index` and :func:`sparse_by_source`.
    p : numpy.ndarray
        ``(N_PARAMS, n)`` from :func:`model_table`.
    cc : numpy.ndarray
        ``(5,)`` from :func:`coupling_constants`.
    dt : float
        Step (ms).
    variables, gains : numpy.ndarray
        From :func:`noise_gains`; ``variables`` may be empty (no noise).
    rng : numpy.random.Generator
    out_time : numpy.ndarray
        ``(n_steps,)`` float64, filled with ``(step + 1 + k) * dt``.
    out_data : numpy.ndarray
        ``(n_steps, n)`` float32, filled with ``y1 - y2`` after each step.
    """
    n = x.shape[1]
    c = np.empty(n)
    noise = np.zeros((N_STATE, n))
    sqrt_dt = math.sqrt(dt)
    for k in range(n_steps):
        s = step + 1 + k
        _coupling(ring, (s - 1) % n_time, index, target, weight, cc[4], c)
        if variables.size:
            _draw_noise(rng, variables, gains, sqrt_dt, noise)
        _heun(x, c, noise, p, dt)
        _record(x, ring, s % n_time, n_time, cc, out_data[k])
        out_time[k] = s * dt


# ---------------------------------------------------------------------------
# The simulator object
# ---------------------------------------------------------------------------

class FastSimulator:
    """A JansenRit network configured like a TVB simulator, integrated by :func:`advance`.

    Build it with :meth:`from_tvb`; :meth:`run_piece` continues where the
    previous call stopped, like successive calls of TVB's simulator.

    Attributes
    ----------
    state : numpy.ndarray
        ``(6, n)`` float64 current state.
    ring : numpy.ndarray
        ``(n, 2 n_time)`` float64 ring buffer of the coupling sigmoid (see
        :func:`sigmoid_history`).
    step : int
        Steps done so far.
    dt : float
        Integration step (ms).
    connections : tuple of numpy.ndarray
        ``(index, target, weight)``, each ``(nnz,)``: :func:`ring_index`
        and the target and weight of :func:`sparse_by_source`.
    params : numpy.ndarray
        ``(N_PARAMS, n)`` from :func:`model_table`.
    constants : numpy.ndarray
        ``(5,)`` from :func:`coupling_constants`.
    noise_variables, noise_gains : numpy.ndarray
        ``(k,)`` and ``(k, n)`` from :func:`noise_gains` (``k = 0``: no noise).
    rng : numpy.random.Generator
        The noise source; its state advances with the simulation.
    """

    def __init__(self, state, ring, step, dt, connections, params, constants, noise_variables,
                 noise_gains_, rng):
        """See the attributes; ``state`` and ``ring`` are copied."""
        self.state = np.array(state, dtype=np.float64, order="C")  # copies: never TVB's arrays
        self.ring = np.array(ring, dtype=np.float64, order="C")
        self.step = int(step)
        self.dt = float(dt)
        self.connections = connections
        self.params = np.ascontiguousarray(params)
        self.constants = np.ascontiguousarray(constants)
        self.noise_variables = np.asarray(noise_variables, dtype=np.int64)
        self.noise_gains = np.ascontiguousarray(noise_gains_, dtype=np.float64).reshape(
            len(self.noise_variables), self.state.shape[1])
        self.rng = rng

    @property
    def n_regions(self):
        return self.state.shape[1]

    @classmethod
    def from_tvb(cls, sim, noise_seed, noise=True):
        """Copy a configured TVB simulator: parameters, weights, delays, state and history.

        Parameters
        ----------
        sim : tvb.simulator.simulator.Simulator
            Configured (``configure()``), JansenRit + SigmoidalJansenRit +
            HeunStochastic with Additive white noise (or HeunDeterministic),
            region level, one mode. It may have run already: its current
            step, state and history are taken as they are.
        noise_seed : int
            Seed of the PCG64 generator of the noise.
        noise : bool
            False: no noise whatever ``nsig`` is (the deterministic mode).

        Returns
        -------
        FastSimulator
        """
        check_supported(sim)
        n = sim.connectivity.number_of_regions
        constants = coupling_constants(sim.coupling)
        history = sim.history
        if history.n_time != sim.connectivity.horizon or list(history.cvars) != [Y1, Y2]:
            raise ValueError("unexpected TVB history layout")
        ring = sigmoid_history(history.buffer, constants)
        source, target, weight, delay = sparse_by_source(history.weights, sim.connectivity.idelays)
        connections = (ring_index(source, delay, history.n_time), target, weight)
        if hasattr(sim.integrator, "noise") and noise:
            variables, gains = noise_gains(sim.integrator.noise.nsig, n)
        else:
            variables, gains = np.zeros(0, dtype=np.int64), np.zeros((0, n))
        rng = np.random.Generator(np.random.PCG64(int(noise_seed)))
        return cls(np.asarray(sim.current_state)[:, :, 0], ring, sim.current_step, sim.integrator.dt,
                   connections, model_table(sim.model, n), constants, variables, gains, rng)

    def run_piece(self, length_ms, progress=None, chunk_steps=CHUNK_STEPS):
        """Advance by ``length_ms`` and return the Raw monitor's ``y1 - y2``.

        Parameters
        ----------
        length_ms : float
            Simulated time; ``ceil(length_ms / dt)`` steps, as TVB.
        progress : callable, optional
            Called with the number of steps done after every chunk.
        chunk_steps : int
            Steps per call of the numba loop when ``progress`` is given.

        Returns
        -------
        time : numpy.ndarray
            ``(n_steps,)`` ms, ``step * dt``.
        data : numpy.ndarray
            ``(n_steps, n)`` float32 ``y1 - y2`` (mV).
        """
        n_steps = int(math.ceil(float(length_ms) / self.dt))
        t = np.empty(n_steps)
        data = np.empty((n_steps, self.n_regions), dtype=np.float32)
        self.state = np.ascontiguousarray(self.state, dtype=np.float64)
        self.ring = np.ascontiguousarray(self.ring, dtype=np.float64)
        ring, n_time = self.ring.reshape(-1), self.ring.shape[1] // 2  # a view: updated in place
        chunk = max(1, n_steps if progress is None else int(chunk_steps))
        for first in range(0, n_steps, chunk):
            k = min(chunk, n_steps - first)
            advance(self.state, ring, n_time, self.step, k, *self.connections, self.params, self.constants,
                    self.dt, self.noise_variables, self.noise_gains, self.rng, t[first:first + k],
                    data[first:first + k])
            self.step += k
            if progress is not None:
                progress(k)
        return t, data


def check_supported(sim):
    """Raise ValueError unless ``sim`` is the configuration this engine reproduces."""
    from tvb.simulator import coupling, integrators, models, noise

    problems = []
    if type(sim.model) is not models.JansenRit:
        problems.append(f"model {type(sim.model).__name__} (JansenRit only)")
    if type(sim.coupling) is not coupling.SigmoidalJansenRit:
        problems.append(f"coupling {type(sim.coupling).__name__} (SigmoidalJansenRit only)")
    if type(sim.integrator) not in (integrators.HeunStochastic, integrators.HeunDeterministic):
        problems.append(f"integrator {type(sim.integrator).__name__} (Heun only)")
    elif isinstance(sim.integrator, integrators.HeunStochastic):
        if type(sim.integrator.noise) is not noise.Additive or sim.integrator.noise.ntau > 0:
            problems.append("noise other than white Additive")
    if sim.surface is not None or sim.stimulus is not None:
        problems.append("surface or stimulus")
    if sim.model.number_of_modes != 1 or sim.model.has_nonint_vars:
        problems.append("modes or non-integrated variables")
    if sim.model.state_variable_boundaries is not None or sim.integrator.clamped_state_variable_values is not None:
        problems.append("state bounds or clamping")
    if sim.history is None:
        problems.append("simulator not configured")
    if problems:
        raise ValueError("FastSimulator cannot reproduce: " + "; ".join(problems))
