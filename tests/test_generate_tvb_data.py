"""Step 1 with real tvb-library: on the 76-region connectivity (fast) and the real template."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import loadmat

import generate_tvb_data as gen
from deepsif_pipeline import science
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.steps.simulate import raw_bytes

from conftest import REPO, run_cli


@pytest.fixture(scope="session")
def template76(tvb76_dir):
    """The built-in tvb76 template (built from tvb-data: these tests run without DeepSIF's template)."""
    from deepsif_pipeline.head.anatomy import load_template
    return load_template(tvb76_dir)


@pytest.fixture(scope="session")
def raw76(template76, tmp_path_factory):
    """Region 5, mean iteration 1, 1.5 s in 3 pieces, simulated once."""
    out = tmp_path_factory.mktemp("raw76")
    gen.simulate_region(template76, Layout(out), 5, 1.5, 0.5, 3.5, 11, iterations=[1], progress_mode="none",
                        engine="tvb")
    return out


def test_pieces_have_the_published_content(raw76, template76):
    files = sorted((raw76 / "raw_nmm" / "a5").glob("*.mat"))
    assert [f.name for f in files] == [f"mean_iter_1_a_iter_5_{k}.mat" for k in range(3)]
    pieces = [loadmat(f) for f in files]
    for k, p in enumerate(pieces):
        assert p["data"].dtype == np.float32 and p["data"].shape == (1000, 76)
        assert np.all(np.isfinite(p["data"]))
        t = p["time"].ravel()
        assert np.allclose(np.diff(t), science.DT_MS) and np.isclose(t[0], 500.0 * k + science.DT_MS)
        assert int(p["seed"].ravel()[0]) == science.simulation_seed(11, 5, 1)
    gains = pieces[0]["A"].ravel()
    assert gains[5] == 3.5 and np.all(np.delete(gains, 5) == 3.25)
    # the random initial history gives a transient of hundreds to thousands of mV
    assert np.abs(pieces[0]["data"][:200]).max() > 100


def test_same_seed_same_data_and_complete_pieces_are_kept(raw76, template76, tmp_path):
    raw = raw76 / "raw_nmm" / "a5"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in raw.glob("*.mat")}
    result = gen.simulate_region(template76, Layout(raw76), 5, 1.5, 0.5, 3.5, 11, iterations=[1],
                                 progress_mode="none", engine="tvb")
    assert result == {1: "kept"}
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in raw.glob("*.mat")} == before
    # a missing middle piece is simulated again and comes out identical
    middle = raw / "mean_iter_1_a_iter_5_1.mat"
    expected = loadmat(middle)["data"]
    middle.unlink()
    gen.simulate_region(template76, Layout(raw76), 5, 1.5, 0.5, 3.5, 11, iterations=[1], progress_mode="none",
                        engine="tvb")
    assert np.array_equal(loadmat(middle)["data"], expected)
    assert (raw / "mean_iter_1_a_iter_5_0.mat").stat().st_mtime_ns == before["mean_iter_1_a_iter_5_0.mat"][0]
    # another seed gives other data
    gen.simulate_region(template76, Layout(tmp_path), 5, 1.5, 0.5, 3.5, 12, iterations=[1], progress_mode="none",
                        engine="tvb")
    assert not np.array_equal(loadmat(tmp_path / "raw_nmm" / "a5" / middle.name)["data"], expected)


def test_pieces_made_otherwise_are_refused_and_cut_ones_made_again(raw76, template76, tmp_path):
    """steps/simulate.judge_pieces: the pieces' fingerprint against each setting; cut pieces count as missing."""
    import shutil
    from deepsif_pipeline.results import State
    from deepsif_pipeline.config.settings import Settings
    from deepsif_pipeline.steps.simulate import fingerprint, judge_pieces, piece_rows
    lay = Layout(tmp_path)
    shutil.copytree(raw76 / "raw_nmm", lay.raw_root)
    base = dict(seed=11, a_range=3.5, sim_length=1.5, piece_length=0.5, engine="tvb", raw_rate="full")  # as raw76

    def verdict(**changed):
        s = Settings(**dict(base, **changed))
        return judge_pieces(lay, 5, 1, fingerprint(s, template76), piece_rows(s), 76)

    assert verdict().current
    for changed, flag in (({"engine": "fast"}, "--engine"), ({"raw_rate": "decimated"}, "--raw-rate"),
                          ({"seed": 12}, "--seed"), ({"a_range": 3.6}, "--a-range")):
        found = verdict(**changed)
        assert found.state is State.OTHER_SETTINGS and [d.name for d in found.differences] == [flag], changed
    found = verdict(piece_length=0.75)  # pieces of another length lie in the folder
    assert found.state is State.OTHER_SETTINGS and "--piece-length" in str(found.differences)
    piece = lay.raw_pieces(5, 1, 3)[2]
    piece.write_bytes(piece.read_bytes()[:5000])
    found = verdict()
    assert found.state is State.PARTIAL and found.todo == (2,)


def test_plain_progress_lines_have_no_carriage_returns(anatomy_dir, tmp_path):
    res = run_cli("generate_tvb_data.py", "--a_start", 0, "--a_end", 1, "--anatomy", anatomy_dir,
                  "--output", tmp_path, "--leadfield", "leadfield_75_20k.mat", "--sim-length", 1.5,
                  "--piece-length", 1.5, "--iterations", 0, "--progress", "lines",
                  "--raw-rate", "full", timeout=600)  # every step: the transient is checked below
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr
    assert "piece 1/1 written" in res.stderr
    data = loadmat(tmp_path / "raw_nmm" / "a0" / "mean_iter_0_a_iter_0_0.mat")["data"]
    assert data.shape == (3000, 998)  # the 998-region connectivity of the real template
    # method doc: a transient in the thousands of mV, then a background within a few mV
    assert np.abs(data[:1000]).max() > 1000
    assert np.percentile(np.abs(data[1000:]), 99) < 5


def test_standalone_rejects_bad_range(anatomy_dir, tmp_path):
    res = run_cli("generate_tvb_data.py", "--a_start", 990, "--a_end", 1000, "--anatomy", anatomy_dir,
                  "--output", tmp_path)
    assert res.returncode == 2 and "outside the template" in res.stderr and "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())


def test_range_errors_name_only_the_regions_outside():
    from generate_tvb_data import range_problem
    assert range_problem(0, 76, 76) is None
    assert range_problem(0, 99, 76) == "regions 76..98 of 0..98 are outside the template: it has regions 0..75"
    assert range_problem(70, 77, 76) == "region 76 of 70..76 is outside the template: it has regions 0..75"
    assert "must be greater than --a_start (5)" in range_problem(5, 5, 76)
    assert "negative" in range_problem(-1, 3, 76)


@pytest.mark.parametrize("engine", ["tvb", "fast"])
def test_piece_boundaries_do_not_change_the_signal(template76, tmp_path, engine):
    """The simulator carries its state across pieces: 3 pieces join into the same signal as 1."""
    import glob
    for name, piece in (("three", 0.5), ("one", 1.5)):
        gen.simulate_region(template76, Layout(tmp_path / name), 2, 1.5, piece, 3.5, 4, iterations=[0],
                            progress_mode="none", engine=engine)
    joined = [np.concatenate([loadmat(f)["data"] for f in sorted(glob.glob(str(tmp_path / name / "raw_nmm"
                                                                               / "a2" / "*.mat")))])
              for name in ("three", "one")]
    assert joined[0].shape == (3000, 76) and np.array_equal(joined[0], joined[1])


@pytest.mark.parametrize("raw_rate", ["full", "decimated"])
def test_raw_bytes_estimate_matches_the_files(template76, tmp_path, raw_rate):
    """The disk guard's estimate against the pieces the fast engine writes (1.3 s, uneven last piece)."""
    gen.simulate_region(template76, Layout(tmp_path), 5, 1.3, 0.5, 3.5, 11, iterations=[0, 2], progress_mode="none",
                        engine="fast", raw_rate=raw_rate)
    written = sum(p.stat().st_size for p in Layout(tmp_path).raw_dir(5).glob("*.mat"))
    estimate = raw_bytes(76, 1.3, 0.5, raw_rate, n_iterations=2)
    assert abs(estimate - written) < 0.01 * written, (estimate, written)
    assert raw_bytes(998, 200, 10) / raw_bytes(998, 200, 10, "decimated") > 3.5


def test_pieces_of_the_previous_fast_engine_are_refused(tvb76_dir, tmp_path):
    """A fast raw piece whose fingerprint has no fast-engine version (made by version 1), or version 2 (its
    noise samples), is not taken as current. A piece without a fingerprint (version 0.1.0) is judged as before: this run's settings assumed
    for what it does not record, the engine's version among them."""
    import json
    from scipy.io import savemat
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.store.fingerprint import canonical
    from deepsif_pipeline.results import State
    from deepsif_pipeline.config.settings import FAST_ENGINE_VERSION, Settings
    from deepsif_pipeline.steps.simulate import fingerprint, judge_pieces, piece_rows
    template = load_template(tvb76_dir)
    s = Settings(seed=11, a_range=3.5, sim_length=1.0, piece_length=1.0, engine="fast", raw_rate="full")
    gen.simulate_region(template, Layout(tmp_path), 5, 1.0, 1.0, 3.5, 11, iterations=[1], progress_mode="none",
                        engine="fast")
    asked = fingerprint(s, template)
    assert asked["fast_engine"] == FAST_ENGINE_VERSION
    assert "fast_engine" not in fingerprint(Settings(**dict(vars(s), engine="tvb")), template)
    assert judge_pieces(Layout(tmp_path), 5, 1, asked, piece_rows(s), 76).current
    piece = Layout(tmp_path).raw_pieces(5, 1, 1)[0]
    content = {k: v for k, v in loadmat(piece).items() if not k.startswith("__")}
    old = json.loads(str(content["fingerprint"][0]))
    content["fingerprint"] = canonical(dict(old, fast_engine=2))  # version 2: numpy's PCG64 noise, other samples
    savemat(piece, content)
    found = judge_pieces(Layout(tmp_path), 5, 1, asked, piece_rows(s), 76)
    assert found.state is State.OTHER_SETTINGS and FAST_ENGINE_VERSION == 3
    assert [(d.name, d.recorded, d.asked) for d in found.differences] == [
        ("--engine fast, version of its arithmetic", "2", "3")]
    del old["fast_engine"]
    content["fingerprint"] = canonical(old)
    savemat(piece, content)
    found = judge_pieces(Layout(tmp_path), 5, 1, asked, piece_rows(s), 76)
    assert found.state is State.OTHER_SETTINGS
    assert [(d.name, d.recorded, d.asked) for d in found.differences] == [
        ("--engine fast, version of its arithmetic", "(not recorded)", str(FAST_ENGINE_VERSION))]
    del content["fingerprint"]  # as written before fingerprints (version 0.1.0)
    savemat(piece, content)
    assert judge_pieces(Layout(tmp_path), 5, 1, asked, piece_rows(s), 76).current
    content["engine"] = "tvb"
    savemat(piece, content)
    tvb = Settings(**dict(vars(s), engine="tvb"))
    assert judge_pieces(Layout(tmp_path), 5, 1, fingerprint(tvb, template), piece_rows(tvb), 76).current


# --------------------------------------------------------------------------- start-up

GUFUNC_SOURCE = '''
from numba import guvectorize, float64
@guvectorize([(float64[:], float64[:])], "(n)->(n)", nopython=True)
def twice(x, out):
    for i in range(x.shape[0]):
        out[i] = 2.0 * x[i]
'''


def test_gufuncs_numba_cannot_cache_are_compiled_as_before():
    """Code without a source file has no cache location: numba refuses cache=True, the block compiles it anyway."""
    namespace = {}
    with gen._gufuncs_cached():
        exec(compile(GUFUNC_SOURCE, "<no source file>", "exec"), namespace)
    assert np.array_equal(namespace["twice"](np.arange(4.0)), [0.0, 2.0, 4.0, 6.0])
    import numba
    assert numba.guvectorize.__module__.startswith("numba")  # restored after the block


def test_tvb_import_caches_the_jansen_rit_gufunc(tmp_path):
    """A fresh process importing tvb-library the way step 1 does leaves JansenRit's compiled gufunc in numba's cache.

    ``NUMBA_CACHE_DIR`` sends the cache to an empty folder: if tvb-library
    stopped compiling JansenRit inside ``_import_tvb`` (or the patch stopped
    reaching it), no index for ``jansen_rit`` would appear, and every region
    would pay the compilation again.
    """
    code = ("import generate_tvb_data as gen; conn = gen._import_tvb(); "
            "from tvb.simulator.models import JansenRit; import numba; "
            "assert numba.guvectorize.__module__.startswith('numba'); print(conn.Connectivity.__name__)")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "Connectivity"
    cached = sorted(p.name for p in (tmp_path / "numba").rglob("*.nbi"))
    assert any("jansen_rit" in name for name in cached), cached


def test_help_speaks_of_step_1_only(tvb76_cache, tmp_path):
    """-h lists step 1's options only and says what step 1 writes; --leadfield (passed by the
    orchestrator) is still accepted, unlisted."""
    text = " ".join(run_cli("generate_tvb_data.py", "-h").stdout.split())
    for option in ("--a_start", "--a_end", "--anatomy", "--output", "--seed", "--sim-length", "--piece-length",
                   "--a-range", "--progress", "--engine", "--raw-rate", "--iterations"):
        assert option in text, option
    for foreign in ("--leadfield", "synthetic source", "nmm_{filename}", "--filename", "--dataset", "--target-snr",
                    "the synthesis"):
        assert foreign not in text, foreign
    assert "--output OUTPUT folder whose raw_nmm/a{region}/ receives the raw pieces" in text
    assert "It extracts no clip and deletes nothing: pipeline_orchestrator.py runs every step." in text
    orchestrator = " ".join(run_cli("pipeline_orchestrator.py", "-h").stdout.split())
    assert "--leadfield" in orchestrator and "nmm_{filename}/ and the synthetic source file" in orchestrator
    res = subprocess.run([sys.executable, str(REPO / "generate_tvb_data.py"), "--anatomy", "tvb76", "--output",
                          str(tmp_path), "--leadfield", "leadfield_32_20k.mat"], capture_output=True, text=True,
                         env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)), stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and "leadfield_32_20k.mat" in res.stderr and "unrecognized" not in res.stderr
