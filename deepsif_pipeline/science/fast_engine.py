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
- the whole time loop in one numba function, single-threaded;
- lanes: up to ``LANES`` simulations of the same network (step 1 gives
  them a region's three mean iterations) advanced together. The ring
  buffer holds the lanes side by side, so one connection's reads of all
  lanes are one 32-byte vector, and the coupling of up to ``BLOCK`` steps
  is gathered at once when the shortest delay allows (it is computed from
  states that already exist). Every lane's arithmetic is the same
  operations in the same order whatever lanes run with it: a lane's output
  is bit for bit the one it has alone;
- the node update vectorised over regions (AVX2: four regions at a time),
  with an exponential of its own (:func:`exp`, within 1 ulp of libm's;
  libm's ``exp`` is a call no loop around can vectorise).

Version (``settings.FAST_ENGINE_VERSION``, recorded in the fingerprints of
steps 1 and 2): 1 was one mean iteration at a time with libm's ``exp``;
2 has lanes and its own ``exp``, with version 1's noise samples (numpy's
PCG64 drawn by numpy); its outputs differ in the last bits from version
1's (libm's ``exp`` against this one, growing through the dynamics like any
rounding difference), both within the tolerance of the tests against
tvb-library. 3 (this) draws the noise with its own counter-based generator
in the numba loop (below): other samples, so other raw data from the same
seeds; without noise its arithmetic is version 2's, bit for bit.

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
(then multiplies five of them by zero); here only the state variables with
non-zero ``nsig`` (``y4``) get samples, from a counter-based generator
seeded with the lane's seed (the unit's, as TVB's ``noise_seed``). The
distribution is the same, the samples are not. The generator
(:func:`_normals`) is Philox4x32-10 (Salmon et al. 2011, the generator of
Random123, cuRAND and numpy's ``Philox`` family; checked against
Random123's known answers) keyed with the seed, whose counter is ``(step,
pair of regions, variable)``; each 128-bit output gives two samples by
Box-Muller (52-bit uniforms; fdlibm's ``log``, ``sin`` and ``cos`` as plain
arithmetic). Why: the sample of a lane at step ``s``, variable ``v``,
region ``i`` is a function of ``(seed, s, v, i)`` alone (and of the number
of regions, which the lanes share), so it is the same
whatever the chunks, pieces or other lanes, and it is computed in the numba
loop, vectorised over regions, just before the step that adds it (version
2's numpy draws were a fifth of step 1). Like :func:`exp` it uses no
``fastmath``: the same operations in the same order with or without
vectors, so the same bits on every run and machine.
"""

import math

from llvmlite import binding as llvm_binding, ir
import numba
from numba.core import types
from numba.extending import intrinsic
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
# The exponential
# ---------------------------------------------------------------------------

# LLVM vectorises a loop only if it needs at most 8 run-time checks that its arrays do not overlap
# (numba cannot tell LLVM that they do not); the node update reads and writes ~30 array rows. More
# checks are cheap here (once per loop, not per element). Process-wide LLVM options: set before
# numba compiles this module's kernels (with the on-disk cache, before it compiled them the first
# time). Vectorisation without fastmath changes no floating point result.
for _option in ("-vectorize-memory-check-threshold=1000", "-runtime-memory-check-threshold=1000"):
    llvm_binding.set_option("fast_engine", _option)

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bit cast, vectorisable)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_float(typingctx, value):
    """The IEEE bits of the float64 ``value`` as an int64 (a bit cast, vectorisable)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``): the same value in a vector or alone, with or without FMA hardware."""
    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return types.float64(types.float64, types.float64, types.float64), codegen


LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # fdlibm's ln 2 split: LN2_HI * k is exact for |k| < 2 ** 11
LN2_LO = 1.90821492927058770002e-10
ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2 ** 52: (v + ROUND_SHIFT) - ROUND_SHIFT rounds v to an integer
ROUND_SHIFT_BITS = 0x4338000000000000  # its IEEE bits: bits(v + ROUND_SHIFT) - ROUND_SHIFT_BITS = that integer
EXP_OVERFLOW = 709.782712893384  # exp(x) > max float64 above this
TWO_M64, TWO_P64 = 2.0 ** -64, 2.0 ** 64


@numba.njit(inline="always", error_model="numpy")
def exp(x):
    """``e ** x`` within 1 ulp of ``math.exp`` (checked in the tests), in code LLVM vectorises.

    ``math.exp`` is a call into libm that no loop around it can vectorise;
    this one is plain arithmetic (no branch, no table): ``x = k ln 2 + r``
    with ``|r| <= ln 2 / 2`` (Cody-Waite, with FMAs), ``e ** r`` by its
    Taylor series to degree 13 (Horner with explicit FMAs: ~30 % faster and
    more often correctly rounded than separate products and sums, measured),
    ``2 ** k`` from its IEEE bits, applied in two factors so that subnormal
    results and results near the overflow are right. ``inf`` above the
    overflow threshold, ``0`` below the subnormals, NaN for NaN. The same
    operations in the same order whether a loop is vectorised or not (no
    ``fastmath``: LLVM neither reorders nor contracts the others into FMAs),
    so a value never depends on its position in a vector.
    """
    xc = min(max(x, -746.0), 710.0)
    shifted = xc * LOG2E + ROUND_SHIFT
    kd = shifted - ROUND_SHIFT
    r = _fma(-kd, LN2_LO, _fma(-kd, LN2_HI, xc))
    q = 1.0 / 6227020800.0
    q = _fma(q, r, 1.0 / 479001600.0)
    q = _fma(q, r, 1.0 / 39916800.0)
    q = _fma(q, r, 1.0 / 3628800.0)
    q = _fma(q, r, 1.0 / 362880.0)
    q = _fma(q, r, 1.0 / 40320.0)
    q = _fma(q, r, 1.0 / 5040.0)
    q = _fma(q, r, 1.0 / 720.0)
    q = _fma(q, r, 1.0 / 120.0)
    q = _fma(q, r, 1.0 / 24.0)
    q = _fma(q, r, 1.0 / 6.0)
    q = _fma(q, r, 0.5)
    q = _fma(q, r, 1.0)
    q = _fma(q, r, 1.0)
    k = _bits_of_float(shifted) - ROUND_SHIFT_BITS
    negative = xc < 0.0
    # 2 ** k = 2 ** (k +- 64) * 2 ** -+64: both factors are normal numbers for every k in -1076..1024
    y = (q * _float_from_bits((k + (1023 + 64 if negative else 1023 - 64)) << 52)) * (
        TWO_M64 if negative else TWO_P64)
    y = np.inf if x > EXP_OVERFLOW else y
    return x if x != x else y


@_jit
def exp_array(x, out):
    """``out[i] = exp(x[i])`` (for the tests). ``x, out``: ``(m,)`` float64."""
    for i in range(x.size):
        out[i] = exp(x[i])


# ---------------------------------------------------------------------------
# The noise: Philox4x32-10 and Box-Muller, vectorised over regions
# ---------------------------------------------------------------------------

# Philox4x32-10 (Salmon, Moraes, Dror & Shaw, SC'11; Random123): a keyed bijection of a 128-bit
# counter, 10 rounds. The 32-bit words are held in uint64 (products 32 x 32 -> 64 bits).
PHILOX_M0, PHILOX_M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # the round multipliers
PHILOX_W0, PHILOX_W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)  # the key schedule's increments
PHILOX_ROUNDS = 10
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
MANTISSA = np.uint64(0x000FFFFFFFFFFFFF)  # the 52 fraction bits of a float64
ONE_BITS = np.uint64(0x3FF0000000000000)  # the IEEE bits of 1.0
# fdlibm's log (e_log.c): log(1 + f) = f - f^2 / 2 + s (f^2 / 2 + R(s^2)), s = f / (2 + f)
LG1, LG2, LG3, LG4 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01
LG5, LG6, LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01
LOG_SPLIT = 0x95F6400000000  # fdlibm's 0x95f64 << 32: mantissas above sqrt(2) - 1 are halved (exponent + 1)
# fdlibm's sin and cos kernels on [-pi/4, pi/4] (k_sin.c, k_cos.c)
S1, S2, S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
S4, S5, S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
C1, C2, C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
C4, C5, C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11
HALF_PI = math.pi / 2.0


@_jit
def philox4x32(counter, key):
    """Philox4x32-10 of one counter (for the tests: Random123's known answers).

    Parameters
    ----------
    counter : numpy.ndarray
        ``(4,)`` uint64, each a 32-bit word.
    key : numpy.ndarray
        ``(2,)`` uint64, each a 32-bit word.

    Returns
    -------
    numpy.ndarray
        ``(4,)`` uint64 32-bit words.
    """
    c0, c1, c2, c3 = counter[0], counter[1], counter[2], counter[3]
    k0, k1 = key[0], key[1]
    for _ in range(PHILOX_ROUNDS):
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> SHIFT32) ^ c1 ^ k0, p1 & MASK32, (p0 >> SHIFT32) ^ c3 ^ k1, p0 & MASK32
        k0 = (k0 + PHILOX_W0) & MASK32
        k1 = (k1 + PHILOX_W1) & MASK32
    out = np.empty(4, dtype=np.uint64)
    out[0], out[1], out[2], out[3] = c0, c1, c2, c3
    return out


@_jit
def _normals(seed, step, variable, pairs, out):
    """The ``N(0, 1)`` samples of one lane's noisy variable at one step, for all regions.

    Samples ``j`` and ``pairs + j`` are the Box-Muller pair of
    Philox4x32-10 with the key ``(seed mod 2 ** 32, seed // 2 ** 32)`` and
    the counter ``(step mod 2 ** 32, step // 2 ** 32, j, variable)``;
    region ``i`` takes sample ``i``: a sample depends on nothing but the
    seed, the step, the variable, the region and the number of regions
    (through ``pairs``). 52 random bits make ``u1`` in ``(0, 1]``, 2 + 52 make
    the angle (a quadrant and a fraction of it); ``sqrt(-2 log u1)`` and the
    sine and cosine are fdlibm's algorithms (``log``, ``k_sin``, ``k_cos``;
    their polynomials with FMAs) written as plain arithmetic, so LLVM
    vectorises the loop over pairs with the same operations in the same
    order as without vectors.

    Parameters
    ----------
    seed : numpy.uint64
    step : numpy.uint64
        The global step (TVB's ``current_step`` after it).
    variable : numpy.uint64
        The state variable.
    pairs : int
        :func:`padded_pairs` of the number of regions ``n``.
    out : numpy.ndarray
        ``(2 pairs,)`` float64: regions ``0 .. n - 1`` in ``out[:n]``, the
        rest unused.
    """
    key0 = seed & MASK32
    key1 = seed >> SHIFT32
    step0 = step & MASK32
    step1 = step >> SHIFT32
    for j in range(pairs):  # vectorised (no remainder: see padded_pairs): one Philox and one Box-Muller pair
        c0 = step0
        c1 = step1
        c2 = np.uint64(j)
        c3 = variable
        k0 = key0
        k1 = key1
        for _ in range(PHILOX_ROUNDS):  # unrolled by LLVM (no tuples: they stop the vectoriser)
            p0 = PHILOX_M0 * c0
            p1 = PHILOX_M1 * c2
            c0 = (p1 >> SHIFT32) ^ c1 ^ k0
            c2 = (p0 >> SHIFT32) ^ c3 ^ k1
            c1 = p1 & MASK32
            c3 = p0 & MASK32
            k0 = (k0 + PHILOX_W0) & MASK32
            k1 = (k1 + PHILOX_W1) & MASK32
        # u1 in (0, 1]: 2 - [1, 2) from 52 bits, exact
        u1 = 2.0 - _float_from_bits(np.int64((((c0 << SHIFT32) | c1) >> np.uint64(12)) | ONE_BITS))
        # the angle 2 pi (quadrant + g) / 4, g in [0, 1) from 52 bits; then g in [-1/2, 1/2), exact
        bits = (c2 << SHIFT32) | c3
        g = _float_from_bits(np.int64(((bits >> np.uint64(10)) & MANTISSA) | ONE_BITS)) - 1.0
        up = g >= 0.5
        g = g - 1.0 if up else g
        quadrant = ((bits >> np.uint64(62)) + (np.uint64(1) if up else np.uint64(0))) & np.uint64(3)
        # log(u1), fdlibm: u1 = 2 ** e (1 + f), 1 + f in [sqrt(2) / 2, sqrt(2))
        ubits = _bits_of_float(u1)
        m = ubits & 0x000FFFFFFFFFFFFF
        halved = (m + LOG_SPLIT) & 0x0010000000000000
        e = (ubits >> 52) - 1023 + (halved >> 52)
        f = _float_from_bits(m | (0x3FF0000000000000 ^ halved)) - 1.0
        ek = _float_from_bits(e + ROUND_SHIFT_BITS) - ROUND_SHIFT  # float(e), exactly
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        t1 = w * _fma(w, _fma(w, LG6, LG4), LG2)  # the polynomials with FMAs: fewer operations
        t2 = z * _fma(w, _fma(w, _fma(w, LG7, LG5), LG3), LG1)
        lr = t2 + t1
        hfsq = 0.5 * f * f
        log_a = ek * LN2_HI - ((hfsq - (s * (hfsq + lr) + ek * LN2_LO)) - f)
        log_b = ek * LN2_HI - ((s * (f - lr) - ek * LN2_LO) - f)
        hx = m >> 32
        log_u1 = log_a if (hx - 0x6147A >= 0 and 0x6B851 - hx >= 0) else log_b  # fdlibm's choice of form
        radius = math.sqrt(-2.0 * log_u1)
        # sin and cos of x = g pi / 2 in [-pi/4, pi/4], fdlibm's kernels
        x = g * HALF_PI
        z = x * x
        w = z * z
        sin_x = _fma(z * x, _fma(z, _fma(z * w, _fma(z, S6, S5), _fma(z, _fma(z, S4, S3), S2)), S1), x)
        cr = _fma(w * w, _fma(z, _fma(z, C6, C5), C4), z * _fma(z, _fma(z, C3, C2), C1))
        hz = 0.5 * z
        w = 1.0 - hz
        cos_x = w + (((1.0 - w) - hz) + z * cr)
        # rotate by quadrant * pi / 2
        odd = (quadrant & np.uint64(1)) == np.uint64(1)
        cq = sin_x if odd else cos_x
        sq = cos_x if odd else sin_x
        cos_t = -cq if (quadrant == np.uint64(1) or quadrant == np.uint64(2)) else cq
        sin_t = -sq if quadrant >= np.uint64(2) else sq
        out[j] = radius * cos_t
        out[pairs + j] = radius * sin_t


@_jit
def _fill_normals(seed, first_step, variables, out, scratch):
    """``out[k, v, i]``: the sample of step ``first_step + k``, noisy variable ``variables[v]``, region ``i``.

    ``out`` is ``(n_steps, k, n)`` float64, ``scratch`` ``(2 padded_pairs(n),)``.
    """
    n = out.shape[2]
    pairs = scratch.size // 2
    for k in range(out.shape[0]):
        for v in range(variables.size):
            _normals(np.uint64(seed), np.uint64(first_step + k), np.uint64(variables[v]), pairs, scratch)
            out[k, v, :] = scratch[:n]


def standard_normals(seed, first_step, n_steps, variables, n):
    """The ``N(0, 1)`` samples a lane with ``seed`` adds at steps ``first_step ..`` (see :func:`_normals`).

    Parameters
    ----------
    seed : int
        ``0 <= seed < 2 ** 64``.
    first_step : int
        The global step of the first sample (TVB's ``current_step`` after it: ``1`` is the first step
        from a configured simulator with its random initial history).
    n_steps : int
    variables : sequence of int
        The noisy state variables.
    n : int
        Regions.

    Returns
    -------
    numpy.ndarray
        ``(n_steps, len(variables), n)`` float64.
    """
    variables = np.asarray(variables, dtype=np.int64)
    out = np.empty((int(n_steps), variables.size, int(n)))
    _fill_normals(np.uint64(check_seed(seed)), np.int64(first_step), variables, out, np.empty(2 * padded_pairs(n)))
    return out


MAX_NOISE_SEED = 2 ** 64 - 1  # Philox4x32-10's key: two 32-bit words
PAIRS_MULTIPLE = 8  # Box-Muller pairs computed in multiples of the widest vector (AVX-512: 8): no scalar remainder


@numba.njit(inline="always")
def padded_pairs(n):
    """``ceil(n / 2)`` rounded up to a multiple of :data:`PAIRS_MULTIPLE`.

    The vectorised loop of :func:`_normals` leaves the last ``pairs mod
    vector width`` iterations to scalar code, several times slower per pair
    than a vector; computing up to 7 unused pairs in vectors is cheaper. It
    also decides which sample a region takes (:func:`_normals`).
    """
    half = (n + 1) // 2
    return (half + PAIRS_MULTIPLE - 1) // PAIRS_MULTIPLE * PAIRS_MULTIPLE


def check_seed(seed):
    """``seed`` as an int, or ValueError unless ``0 <= seed <= MAX_NOISE_SEED``."""
    if isinstance(seed, (bool, np.bool_)) or int(seed) != seed or not 0 <= int(seed) <= MAX_NOISE_SEED:
        raise ValueError(f"noise seeds are integers 0 .. 2 ** 64 - 1, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------------------
# The numba kernels. Lanes: up to LANES simulations of the same network (a
# region's mean iterations) advanced together. Each lane's arithmetic is the
# same operations in the same order whatever the other lanes are: a lane's
# output does not depend on which lanes run with it.
# ---------------------------------------------------------------------------

LANES = 4  # lanes of the ring buffer: one connection's reads of all lanes are one 32-byte vector
BLOCK = 4  # at most this many steps' coupling computed together (the delays permitting)


@intrinsic
def _add_scaled_4(typingctx, acc, at, w, x, xt):
    """``acc[at:at + 4] += w * x[xt:xt + 4]`` as one ``<4 x double>`` load, multiply, add and store.

    Written out because LLVM does not vectorise this across lanes by itself
    (measured: the scatter 4.8 times faster with it and 4-step blocks). Per
    element it is the scalar ``acc[at + l] + w * x[xt + l]``: the same value.
    """
    def codegen(context, builder, signature, args):
        acc_v, at_v, w_v, x_v, xt_v = args
        acc_data = context.make_array(signature.args[0])(context, builder, acc_v).data
        x_data = context.make_array(signature.args[3])(context, builder, x_v).data
        vector = ir.VectorType(ir.DoubleType(), 4)
        acc_ptr = builder.bitcast(builder.gep(acc_data, [at_v]), vector.as_pointer())
        x_ptr = builder.bitcast(builder.gep(x_data, [xt_v]), vector.as_pointer())
        w_vector = builder.insert_element(ir.Constant(vector, ir.Undefined), w_v, ir.Constant(ir.IntType(32), 0))
        w_vector = builder.shuffle_vector(w_vector, ir.Constant(vector, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), 4), [0, 0, 0, 0]))
        total = builder.fadd(builder.load(acc_ptr, align=8), builder.fmul(w_vector, builder.load(x_ptr, align=8)))
        builder.store(total, acc_ptr, align=8)
        return context.get_dummy_value()
    return types.void(acc, at, w, x, xt), codegen


@_jit
def _coupling(ring, base, n_block, index, target, weight, a, acc, c):
    """The coupling of ``n_block`` successive steps of every lane, scattered over the connections.

    ``c[b, l, i] = a * sum_j w_ij * S_j(after step s + b - 1 - d_ij)`` for
    steps ``s .. s + n_block - 1``, all read from the ring as it is before
    step ``s``: valid when ``n_block - 1 <= min(d_ij)`` (:func:`block_steps`).

    Parameters
    ----------
    ring : numpy.ndarray
        ``(n * 2 n_time * LANES,)``, the flattened ``(n, 2 n_time, LANES)``
        ring buffer.
    base : int
        The slot ``(s - 1) % n_time`` of the state step ``s`` starts from.
    n_block : int
        ``1 .. BLOCK`` steps.
    index, target, weight : numpy.ndarray
        ``(nnz,)`` from :func:`ring_index` and :func:`sparse_by_source`.
    a : float
        The coupling's ``a``.
    acc : numpy.ndarray
        ``(BLOCK, n * LANES)`` float64 scratch.
    c : numpy.ndarray
        ``(BLOCK, L, n)`` float64 output, ``L <= LANES``.

    Each connection's index, target and weight are loaded once for all lanes
    and steps, and its reads of the lanes are one vector; the sum of a lane
    at a step runs over the connections in the same order as with one lane
    and one step (sources in increasing order for each target), so the
    values are the same.
    """
    acc[:n_block] = 0.0
    for k in range(index.size):
        at = np.int64(target[k]) * LANES
        xt = (np.int64(base) + index[k]) * LANES
        w = weight[k]
        if n_block == BLOCK:
            _add_scaled_4(acc[0], at, w, ring, xt)
            _add_scaled_4(acc[1], at, w, ring, xt + LANES)
            _add_scaled_4(acc[2], at, w, ring, xt + 2 * LANES)
            _add_scaled_4(acc[3], at, w, ring, xt + 3 * LANES)
        else:
            for b in range(n_block):
                _add_scaled_4(acc[b], at, w, ring, xt + b * LANES)
    for b in range(n_block):
        for l in range(c.shape[1]):
            for i in range(c.shape[2]):
                c[b, l, i] = a * acc[b, i * LANES + l]


def block_steps(index, n_time):
    """Steps whose coupling can be computed together: ``min(BLOCK, shortest delay + 1)``.

    Parameters
    ----------
    index : numpy.ndarray
        ``(nnz,)`` from :func:`ring_index` (``source * 2 n_time + n_time - delay``).
    n_time : int

    Returns
    -------
    int
    """
    if index.size == 0:
        return BLOCK
    shortest = n_time - int((np.asarray(index, dtype=np.int64) % (2 * n_time)).max())
    return max(1, min(BLOCK, shortest + 1))


@_jit
def _heun(x, c, z, variables, gains, sqrt_dt, p, dt, noise):
    """One HeunStochastic step of every region of one lane, in place; vectorised over regions.

    Parameters
    ----------
    x : numpy.ndarray
        ``(6, n)`` float64 state.
    c : numpy.ndarray
        ``(n,)`` coupling.
    z : numpy.ndarray
        ``(k, n)`` standard normal samples of the noisy variables.
    variables : numpy.ndarray
        ``(k,)`` their indices (``k`` may be 0).
    gains : numpy.ndarray
        ``(k, n)`` ``sqrt(2 nsig)``.
    sqrt_dt, dt : float
    p : numpy.ndarray
        ``(N_PARAMS, n)`` from :func:`model_table`.
    noise : numpy.ndarray
        ``(6, n)`` float64 scratch, zero but in the rows of ``variables``.
    """
    n = x.shape[1]
    for k in range(variables.size):
        v = variables[k]
        for i in range(n):
            noise[v, i] = (sqrt_dt * z[k, i]) * gains[k, i]  # TVB's order of products
    # One loop, vectorised over regions by LLVM. No call to a helper in it: numba inlines only
    # one level of inline="always" functions, and a call left to LLVM's inliner stops its vectoriser;
    # hence the derivatives written out here (TVB's _numba_dfun_jr, same order of operations).
    for i in range(n):
        two_nu = p[TWO_NU_MAX, i]  # (no tuple assignments: they too stop the vectoriser)
        r = p[R, i]
        v0 = p[V0, i]
        aa = p[AA, i]
        two_a = p[TWO_A, i]
        a_sq = p[A_SQ, i]
        ci = c[i]
        y0 = x[0, i]
        y1 = x[1, i]
        y2 = x[2, i]
        y3 = x[3, i]
        y4 = x[4, i]
        y5 = x[5, i]
        # dX(X); dy0..dy2 are y3..y5
        s12 = two_nu / (1.0 + exp(r * (v0 - (y1 - y2))))
        s01 = two_nu / (1.0 + exp(r * (v0 - (p[A1J, i] * y0))))
        s03 = two_nu / (1.0 + exp(r * (v0 - (p[A3J, i] * y0))))
        m3 = aa * s12 - two_a * y3 - a_sq * y0
        m4 = aa * (p[MU, i] + p[A2J, i] * s01 + ci) - two_a * y4 - a_sq * y1
        m5 = p[BB, i] * (p[A4J, i] * s03) - p[TWO_B, i] * y5 - p[B_SQ, i] * y2
        # inter = X + dt * dX(X) + noise
        i0 = y0 + dt * y3 + noise[0, i]
        i1 = y1 + dt * y4 + noise[1, i]
        i2 = y2 + dt * y5 + noise[2, i]
        i3 = y3 + dt * m3 + noise[3, i]
        i4 = y4 + dt * m4 + noise[4, i]
        i5 = y5 + dt * m5 + noise[5, i]
        # dX(inter)
        s12 = two_nu / (1.0 + exp(r * (v0 - (i1 - i2))))
        s01 = two_nu / (1.0 + exp(r * (v0 - (p[A1J, i] * i0))))
        s03 = two_nu / (1.0 + exp(r * (v0 - (p[A3J, i] * i0))))
        n3 = aa * s12 - two_a * i3 - a_sq * i0
        n4 = aa * (p[MU, i] + p[A2J, i] * s01 + ci) - two_a * i4 - a_sq * i1
        n5 = p[BB, i] * (p[A4J, i] * s03) - p[TWO_B, i] * i5 - p[B_SQ, i] * i2
        # X_next = X + (dX(X) + dX(inter)) * dt / 2 + noise
        x[0, i] = y0 + (y3 + i3) * dt / 2.0 + noise[0, i]
        x[1, i] = y1 + (y4 + i4) * dt / 2.0 + noise[1, i]
        x[2, i] = y2 + (y5 + i5) * dt / 2.0 + noise[2, i]
        x[3, i] = y3 + (m3 + n3) * dt / 2.0 + noise[3, i]
        x[4, i] = y4 + (m4 + n4) * dt / 2.0 + noise[4, i]
        x[5, i] = y5 + (m5 + n5) * dt / 2.0 + noise[5, i]


@_jit
def _record(x, ring, slot, lane, n_time, cc, sig, out):
    """Store the sigmoid of one lane's new state in ring slot ``slot`` (both copies) and ``y1 - y2`` in ``out``.

    ``x`` is the lane's ``(6, n)`` state, ``ring`` the flattened ``(n, 2
    n_time, LANES)`` buffer, ``sig`` ``(n,)`` scratch, ``out`` ``(n,)``
    float32.
    """
    cmin, span, midpoint, r = cc[0], cc[1], cc[2], cc[3]
    n = x.shape[1]
    for i in range(n):  # vectorised; TVB's sigmoid: float32 y1 - y2 (its history), float64 sigmoid
        diff = np.float32(np.float32(x[Y1, i]) - np.float32(x[Y2, i]))
        sig[i] = cmin + span / (1.0 + exp(r * (midpoint - diff)))
        out[i] = x[Y1, i] - x[Y2, i]
    for i in range(n):  # a scatter
        at = (2 * n_time * i + slot) * LANES + lane
        ring[at] = sig[i]
        ring[at + n_time * LANES] = sig[i]


@_jit
def advance(x, ring, n_time, step, n_steps, block, index, target, weight, p, cc, dt, variables, gains, seeds,
            out_time, out_data):
    """Integrate ``n_steps`` steps of every lane from step ``step``; the whole time loop.

    Parameters
    ----------
    x : numpy.ndarray
        ``(L, 6, n)`` float64 state of each lane after step ``step``; updated
        in place (``L <= LANES``).
    ring : numpy.ndarray
        ``(n * 2 n_time * LANES,)`` float64, the flattened ``(n, 2 n_time,
        LANES)`` ring buffer of the coupling sigmoid, slot ``k % n_time`` (and
        ``+ n_time``) holding step ``k``, lane last; updated in place.
    n_time : int
        Slots of the ring (TVB's history length).
    step : int
        Steps done so far (TVB's ``current_step``), the same in every lane.
    n_steps : int
    block : int
        Steps whose coupling is computed together, from :func:`block_steps`.
    index, target, weight : numpy.ndarray
        ``(nnz,)`` connections, from :func:`ring_index` and :func:`sparse_by_source`.
    p : numpy.ndarray
        ``(L, N_PARAMS, n)`` from :func:`model_table`, per lane.
    cc : numpy.ndarray
        ``(5,)`` from :func:`coupling_constants`.
    dt : float
        Step (ms).
    variables : numpy.ndarray
        ``(k,)`` the noisy state variables (:func:`noise_gains`), the same in
        every lane; may be empty (no noise).
    gains : numpy.ndarray
        ``(L, k, n)`` ``sqrt(2 nsig)`` per lane.
    seeds : numpy.ndarray
        ``(L,)`` uint64 noise seed of each lane: the samples of step ``s``
        are :func:`_normals` of ``(seed, s, variable)``, drawn here just
        before the step.
    out_time : numpy.ndarray
        ``(n_steps,)`` float64, filled with ``(step + 1 + k) * dt``.
    out_data : numpy.ndarray
        ``(L, n_steps, n)`` float32, filled with ``y1 - y2`` after each step.
    """
    n_lanes, n = x.shape[0], x.shape[2]
    c = np.empty((BLOCK, n_lanes, n))
    acc = np.empty((BLOCK, n * LANES))
    sig = np.empty(n)
    noise = np.zeros((N_STATE, n))
    pairs = padded_pairs(n)
    z = np.empty((variables.size, 2 * pairs))
    sqrt_dt = math.sqrt(dt)
    k = 0
    while k < n_steps:
        n_block = min(block, n_steps - k)
        _coupling(ring, (step + k) % n_time, n_block, index, target, weight, cc[4], acc, c)
        for b in range(n_block):
            s = step + 1 + k
            for l in range(n_lanes):
                for v in range(variables.size):
                    _normals(seeds[l], np.uint64(s), np.uint64(variables[v]), pairs, z[v])
                _heun(x[l], c[b, l], z, variables, gains[l], sqrt_dt, p[l], dt, noise)
                _record(x[l], ring, s % n_time, l, n_time, cc, sig, out_data[l, k])
            out_time[k] = s * dt
            k += 1


# ---------------------------------------------------------------------------
# The simulator object
# ---------------------------------------------------------------------------

class FastSimulator:
    """Up to :data:`LANES` JansenRit networks configured like TVB simulators, integrated together by :func:`advance`.

    The lanes share the connectivity (weights and delays), the coupling and
    the integration step, and are at the same step; each has its own model
    parameters, noise, state, history and noise seed. A lane's output
    is the same whatever lanes run with it. Build one lane with
    :meth:`from_tvb` and several with :meth:`from_tvb_lanes`; :meth:`run_lanes`
    (or :meth:`run_piece` for one lane) continues where the previous call
    stopped, like successive calls of TVB's simulator.

    Attributes
    ----------
    state : numpy.ndarray
        ``(L, 6, n)`` float64 current state of each lane.
    ring : numpy.ndarray
        ``(n, 2 n_time, LANES)`` float64 ring buffer of the coupling sigmoid
        (see :func:`sigmoid_history`); lanes ``L..LANES-1`` are zero.
    step : int
        Steps done so far.
    dt : float
        Integration step (ms).
    connections : tuple of numpy.ndarray
        ``(index, target, weight)``, each ``(nnz,)``: :func:`ring_index`
        and the target and weight of :func:`sparse_by_source`.
    params : numpy.ndarray
        ``(L, N_PARAMS, n)`` from :func:`model_table`.
    constants : numpy.ndarray
        ``(5,)`` from :func:`coupling_constants`.
    noise_variables : numpy.ndarray
        ``(k,)`` from :func:`noise_gains` (``k = 0``: no noise).
    noise_gains : numpy.ndarray
        ``(L, k, n)``.
    noise_seeds : numpy.ndarray
        ``(L,)`` uint64 noise seed of each lane (its samples: :func:`_normals`).
    """

    def __init__(self, state, ring, step, dt, connections, params, constants, noise_variables,
                 noise_gains_, noise_seeds):
        """See the attributes; ``state`` and ``ring`` are copied."""
        self.state = np.array(state, dtype=np.float64, order="C")  # copies: never TVB's arrays
        self.ring = np.array(ring, dtype=np.float64, order="C")
        if self.state.ndim != 3 or not 1 <= self.state.shape[0] <= LANES:
            raise ValueError(f"state must be (L, 6, n) with 1 <= L <= {LANES}, got {self.state.shape}")
        if self.ring.shape[2:] != (LANES,):
            raise ValueError(f"ring must be (n, 2 n_time, {LANES}), got {self.ring.shape}")
        self.step = int(step)
        self.dt = float(dt)
        self.connections = connections
        self.params = np.ascontiguousarray(params)
        self.constants = np.ascontiguousarray(constants)
        self.noise_variables = np.asarray(noise_variables, dtype=np.int64)
        self.noise_gains = np.ascontiguousarray(noise_gains_, dtype=np.float64).reshape(
            self.n_lanes, len(self.noise_variables), self.n_regions)
        self.noise_seeds = np.array([check_seed(seed) for seed in noise_seeds], dtype=np.uint64)
        if self.noise_seeds.shape != (self.n_lanes,):
            raise ValueError("one noise seed per lane")

    @property
    def n_regions(self):
        return self.state.shape[2]

    @property
    def n_lanes(self):
        return self.state.shape[0]

    @classmethod
    def from_tvb(cls, sim, noise_seed, noise=True):
        """Copy a configured TVB simulator: parameters, weights, delays, state and history (one lane).

        Parameters
        ----------
        sim : tvb.simulator.simulator.Simulator
            Configured (``configure()``), JansenRit + SigmoidalJansenRit +
            HeunStochastic with Additive white noise (or HeunDeterministic),
            region level, one mode. It may have run already: its current
            step, state and history are taken as they are.
        noise_seed : int
            Seed of the noise (``0 .. 2 ** 64 - 1``), the key of its Philox4x32-10
            generator.
        noise : bool
            False: no noise whatever ``nsig`` is (the deterministic mode).

        Returns
        -------
        FastSimulator
        """
        return cls.from_tvb_lanes([sim], [noise_seed], noise)

    @classmethod
    def from_tvb_lanes(cls, sims, noise_seeds, noise=True):
        """Copy configured TVB simulators of the same network into lanes (see :meth:`from_tvb`).

        Parameters
        ----------
        sims : sequence of tvb.simulator.simulator.Simulator
            At most :data:`LANES`; the same weights, delays, coupling, ``dt``
            and current step.
        noise_seeds : sequence of int
            Seed of each lane's noise (see :meth:`from_tvb`).
        noise : bool

        Returns
        -------
        FastSimulator
        """
        if not 1 <= len(sims) <= LANES or len(sims) != len(noise_seeds):
            raise ValueError(f"1 to {LANES} simulators, one seed each")
        lanes = [_lane_from_tvb(sim, noise) for sim in sims]
        first = lanes[0]
        for lane in lanes[1:]:
            same = (lane["step"] == first["step"] and lane["dt"] == first["dt"]
                    and np.array_equal(lane["constants"], first["constants"])
                    and np.array_equal(lane["variables"], first["variables"])
                    and lane["ring"].shape == first["ring"].shape
                    and all(np.array_equal(a, b) for a, b in zip(lane["connections"], first["connections"])))
            if not same:
                raise ValueError("lanes must share the network, coupling, dt, noisy variables and current step")
        n, slots = first["ring"].shape
        ring = np.zeros((n, slots, LANES))
        for l, lane in enumerate(lanes):
            ring[:, :, l] = lane["ring"]
        return cls(np.stack([lane["state"] for lane in lanes]), ring, first["step"], first["dt"],
                   first["connections"], np.stack([lane["params"] for lane in lanes]), first["constants"],
                   first["variables"], np.stack([lane["gains"] for lane in lanes]), noise_seeds)

    def run_lanes(self, length_ms, progress=None, chunk_steps=CHUNK_STEPS):
        """Advance every lane by ``length_ms`` and return the Raw monitor's ``y1 - y2``.

        Parameters
        ----------
        length_ms : float
            Simulated time; ``ceil(length_ms / dt)`` steps, as TVB.
        progress : callable, optional
            Called with the number of steps done (per lane) after every chunk.
        chunk_steps : int
            Steps per call of the numba loop when ``progress`` is given.

        Returns
        -------
        time : numpy.ndarray
            ``(n_steps,)`` ms, ``step * dt``.
        data : numpy.ndarray
            ``(L, n_steps, n)`` float32 ``y1 - y2`` (mV) of each lane.
        """
        n_steps = int(math.ceil(float(length_ms) / self.dt))
        t = np.empty(n_steps)
        data = np.empty((self.n_lanes, n_steps, self.n_regions), dtype=np.float32)
        self.state = np.ascontiguousarray(self.state, dtype=np.float64)
        self.ring = np.ascontiguousarray(self.ring, dtype=np.float64)
        ring, n_time = self.ring.reshape(-1), self.ring.shape[1] // 2  # a view: updated in place
        chunk = max(1, n_steps if progress is None else int(chunk_steps))
        block = block_steps(self.connections[0], n_time)
        buffer = None
        for first in range(0, n_steps, chunk):
            k = min(chunk, n_steps - first)
            out = data[:, first:first + k]
            if not out.flags.c_contiguous:
                # numba compiles advance for a strided output with a slower (not vectorised) _record loop:
                # 20-25 % more time for 3 lanes of the 998-region template (measured); a C-contiguous buffer
                # and a copy instead
                if buffer is None or buffer.shape[1] != k:
                    buffer = np.empty((self.n_lanes, k, self.n_regions), dtype=np.float32)
                out = buffer
            advance(self.state, ring, n_time, self.step, k, block, *self.connections, self.params, self.constants,
                    self.dt, self.noise_variables, self.noise_gains, self.noise_seeds, t[first:first + k], out)
            if out is buffer:
                data[:, first:first + k] = buffer
            self.step += k
            if progress is not None:
                progress(k)
        return t, data

    def run_piece(self, length_ms, progress=None, chunk_steps=CHUNK_STEPS):
        """:meth:`run_lanes` of a one-lane simulator: ``data`` is ``(n_steps, n)``."""
        if self.n_lanes != 1:
            raise ValueError("run_piece runs one lane; use run_lanes")
        t, data = self.run_lanes(length_ms, progress, chunk_steps)
        return t, data[0]


def _lane_from_tvb(sim, noise):
    """What :meth:`FastSimulator.from_tvb` takes from one TVB simulator, as a dict."""
    check_supported(sim)
    n = sim.connectivity.number_of_regions
    constants = coupling_constants(sim.coupling)
    history = sim.history
    if history.n_time != sim.connectivity.horizon or list(history.cvars) != [Y1, Y2]:
        raise ValueError("unexpected TVB history layout")
    source, target, weight, delay = sparse_by_source(history.weights, sim.connectivity.idelays)
    if hasattr(sim.integrator, "noise") and noise:
        variables, gains = noise_gains(sim.integrator.noise.nsig, n)
    else:
        variables, gains = np.zeros(0, dtype=np.int64), np.zeros((0, n))
    return {"state": np.asarray(sim.current_state)[:, :, 0], "ring": sigmoid_history(history.buffer, constants),
            "step": int(sim.current_step), "dt": float(sim.integrator.dt), "constants": constants,
            "connections": (ring_index(source, delay, history.n_time), target, weight),
            "params": model_table(sim.model, n), "variables": variables, "gains": gains}


def check_supported(sim):
    """Raise ValueError unless ``sim`` is the configuration this engine reproduces."""
    from tvb.simulator import coupling, integrators, models, noise  # tvb-library: only to check against it

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
