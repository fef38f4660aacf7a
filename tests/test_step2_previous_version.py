"""Step 2 streams the raw pieces and stores single-precision clips: same clips as the previous version.

The previous step 2 (``matlab/`` at commit ``PREVIOUS``, before it read the
pieces one at a time: it joined a whole mean iteration in double precision
and stored double clips) is taken from git into a temporary folder and run
on the same raw files as today's, made by step 1 (fast engine) for a region
of the real 994-region template that spikes, in pieces of 0.7 s (peaks,
clips and SNR windows cross piece boundaries). Both read full-rate pieces;
today's also reads decimated ones (``--raw-rate decimated``) made from the
same simulation. The markers must agree (clip counts, spike times, seeds;
alpha to double rounding), the clips must be the same files with the same
data within float32 rounding (today's are single), and ``proj`` the same
projection.
"""

import shutil
import subprocess

import numpy as np
import pytest
from scipy.io import loadmat

from conftest import REPO, run_cli
from deepsif_pipeline import science
from deepsif_pipeline.head.anatomy import leadfield_id, load_template
from deepsif_pipeline.processes.engine import matlab_string, write_job
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.steps.extract import _cell
from deepsif_pipeline.steps.simulate import piece_steps

PREVIOUS = "b693363"  # the last commit whose step 2 joined whole mean iterations and wrote double clips
REGION, SIM_LENGTH, PIECE_LENGTH = 700, 6.0, 0.7  # region 700 gives 14 clips in 3 x 6 s (seed 20220425)


def previous_matlab(dest):
    """The previous version's matlab/ folder (and the science.json it reads) under ``dest``."""
    try:
        names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", PREVIOUS, "matlab/"],
                               capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the previous version ({PREVIOUS}) is not in this checkout's git history: {exc}")
    (dest / "matlab").mkdir(parents=True)
    (dest / "deepsif_pipeline").mkdir()
    for name in names:
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{PREVIOUS}:{name}"], capture_output=True,
                              check=True).stdout
        (dest / name).write_bytes(text)
    assert "load_raw_iteration(job.raw_pieces{i}, p)" in (dest / "matlab" / "process_region_nmm.m").read_text()
    shutil.copy(REPO / "deepsif_pipeline" / "science" / "science.json", dest / "deepsif_pipeline")  # where it read it
    return dest / "matlab"


def job_file(path, raw_out, clip_out, template):
    n_pieces = len(piece_steps(SIM_LENGTH, PIECE_LENGTH))
    raw, clips, its = Layout(raw_out), Layout(clip_out), science.MEAN_ITERATIONS
    return write_job(path, raw_pieces=_cell([_cell([str(p) for p in raw.raw_pieces(REGION, m, n_pieces)])
                                             for m in its]),
                     markers=_cell([str(clips.marker(m, REGION)) for m in its]),
                     clip_pattern=clips.clip_pattern(REGION), region=float(REGION),
                     columns=(template.columns + 1).astype(float), leadfield=template.leadfield,
                     leadfield_id=leadfield_id(template.leadfield), target_snr=15.0,
                     iterations=np.array(its, dtype=float), seeds=np.array([11.0, 12.0, 13.0]),
                     fingerprint='{"test":1}')


def run_step2(octave, matlab_dir, job, cwd):
    call = f"addpath({matlab_string(matlab_dir)}); process_region_nmm({matlab_string(job)});"
    res = subprocess.run([octave.executable, "--no-gui", "--quiet", "--norc", "--eval", call], cwd=cwd,
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_same_clips_as_the_previous_version(anatomy_dir, octave, tmp_path):
    template = load_template(anatomy_dir)
    raw = {}
    for rate in ("full", "decimated"):
        raw[rate] = tmp_path / f"raw_{rate}"
        res = run_cli("generate_tvb_data.py", "--anatomy", anatomy_dir, "--output", raw[rate], "--a_start", REGION,
                      "--a_end", REGION + 1, "--sim-length", SIM_LENGTH, "--piece-length", PIECE_LENGTH,
                      "--engine", "fast", "--raw-rate", rate, "--progress", "none")
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    old_matlab = previous_matlab(tmp_path / "previous")
    runs = {"old": (old_matlab, raw["full"]), "full": (REPO / "matlab", raw["full"]),
            "decimated": (REPO / "matlab", raw["decimated"])}
    out = {}
    for name, (matlab_dir, raw_out) in runs.items():
        out[name] = tmp_path / f"clips_{name}"
        job = job_file(tmp_path / f"job_{name}.mat", raw_out, out[name], template)
        run_step2(octave, matlab_dir, job, tmp_path)

    layout = {name: Layout(folder) for name, folder in out.items()}
    old = layout["old"]
    total = 0
    for m in science.MEAN_ITERATIONS:
        before = loadmat(str(old.marker(m, REGION)))
        total = int(before["num_spike"].item())
        for name in ("full", "decimated"):
            now = loadmat(str(layout[name].marker(m, REGION)))
            assert now["num_spike"].item() == before["num_spike"].item(), (name, m)
            assert np.array_equal(now["spike_time"], before["spike_time"]), (name, m)
            assert now["seed"].item() == before["seed"].item()
            np.testing.assert_allclose(now["alpha"], before["alpha"], rtol=1e-12, equal_nan=True)
    assert total >= 5, f"region {REGION} should give clips in 3 x {SIM_LENGTH} s, got {total}"

    names = sorted(p.name for p in old.clip_dir(REGION).iterdir())
    assert len(names) == total
    for name in ("full", "decimated"):
        assert sorted(p.name for p in layout[name].clip_dir(REGION).iterdir()) == names
    for n in range(1, total + 1):
        before = loadmat(str(old.clip(REGION, n)))
        ref = before["data"]
        assert ref.dtype == np.float64 and ref.shape == (500, template.n_regions)
        ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
        for name in ("full", "decimated"):
            now = loadmat(str(layout[name].clip(REGION, n)))
            data = now["data"]
            assert data.dtype == np.float32 and data.shape == ref.shape, (name, n)
            # within float32 rounding of the previous double values (every column but the source is
            # the raw single data, exactly)
            assert np.all(np.abs(data.astype(np.float64) - ref) <= ulp), (name, n)
            others = np.arange(template.n_regions) != REGION
            assert np.array_equal(data[:, others], ref[:, others].astype(np.float32)), (name, n)
            assert now["proj"].dtype == np.float64 and now["proj"].shape == before["proj"].shape
            scale = np.abs(before["proj"]).max()
            np.testing.assert_allclose(now["proj"], before["proj"], rtol=0, atol=1e-6 * scale)
            assert str(now["proj_leadfield"].item()) == str(before["proj_leadfield"].item())
    # single precision: half the clip bytes (data 500 x 994 x 4 instead of x 8; proj stays double)
    size = {name: sum(p.stat().st_size for p in layout[name].clip_dir(REGION).iterdir()) for name in out}
    assert size["full"] == size["decimated"] and 0.5 < size["full"] / size["old"] < 0.56
