"""The orchestrator's command line: help, and one clear line for every bad input."""

import numpy as np
import pytest
from scipy.io import savemat

from conftest import run_cli


def test_help_lists_every_option_with_defaults():
    res = run_cli("pipeline_orchestrator.py", "--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for option in ("--start_region", "--end_region", "--filename", "--leadfield", "--anatomy", "--output",
                   "--matlab", "--seed", "--sim-length", "--piece-length", "--a-range", "--target-snr",
                   "--dataset", "--skip-synthesis", "--synthesis-only", "--keep-raw"):
        assert option in text
    for default in ("(default: spikes)", "(default: leadfield_75_20k.mat", "(default: 200.0)",
                    "(default: 10.0)", "(default: 3.5)", "(default: 15.0)", "(default: train;",
                    "(default: auto)", "(default: 20220425)"):
        assert default in text


def _bad(tmp_path, *args, env=None):
    out = tmp_path / "out"
    import os
    import subprocess
    import sys
    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), *map(str, args),
                          "--output", str(out)], capture_output=True, text=True, cwd=tmp_path,
                         env=env if env is not None else dict(os.environ), stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert not out.exists(), "a bad input must not create the output folder"
    return lines[0]


def test_missing_anatomy_folder(tmp_path):
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", tmp_path / "nowhere")
    assert "anatomy folder not found" in line and "nowhere" in line


def test_no_anatomy_given_means_the_builtin_template(tmp_path, tvb76_cache):
    import os
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    line = _bad(tmp_path, "--start_region", 70, "--end_region", 80, env=env)
    assert "regions 76..79 are outside the template: it has regions 0..75 (--end_region 76 at most)" in line


def test_end_region_beyond_the_template_names_only_the_part_outside(tmp_path, tvb76_cache):
    import os
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    line = _bad(tmp_path, "--anatomy", "tvb76", "--start_region", 0, "--end_region", 99, env=env)
    assert line.endswith("regions 76..98 are outside the template: it has regions 0..75 (--end_region 76 at most)")
    assert "0..98" not in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("start,end,expected", [
    (75, 77, "region 76 is outside the template: it has regions 0..75 (--end_region 76 at most)"),
    (-2, 3, "regions -2..-1 are outside the template: it has regions 0..75 (--start_region 0 at least)"),
    (-1, 80, "regions -1 and 76..79 are outside the template: it has regions 0..75 (--start_region 0 at least, "
             "--end_region 76 at most)"),
])
def test_outside_template_message(start, end, expected):
    from deepsif_pipeline.cli.checks import outside_template
    assert outside_template(start, end, 76) == expected


def test_missing_anatomy_file_named_with_folder(tmp_path, anatomy_copy):
    (anatomy_copy / "fs_cortex_20k_region_mapping.mat").unlink()
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_copy)
    assert "fs_cortex_20k_region_mapping.mat" in line and str(anatomy_copy) in line


def test_missing_leadfield(tmp_path, anatomy_copy):
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_copy,
                "--leadfield", "leadfield_32_20k.mat")
    assert "leadfield_32_20k.mat" in line and "missing" in line


def test_leadfield_of_another_template(tmp_path, anatomy_copy):
    savemat(anatomy_copy / "leadfield_65_76.mat", {"fwd": np.ones((65, 76))})
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_copy,
                "--leadfield", "leadfield_65_76.mat")
    assert "76 columns" in line and "994 regions" in line


@pytest.mark.parametrize("start,end,needle", [(990, 995, "outside the template"),
                                              (-1, 2, "outside the template"),
                                              (5, 5, "must be greater"), (6, 3, "must be greater")])
def test_bad_region_range(tmp_path, anatomy_dir, start, end, needle):
    line = _bad(tmp_path, "--start_region", start, "--end_region", end, "--anatomy", anatomy_dir)
    assert needle in line


def test_range_required_unless_synthesis_only(tmp_path, anatomy_dir):
    line = _bad(tmp_path, "--anatomy", anatomy_dir)
    assert "--start_region and --end_region are required" in line


def test_output_not_writable(tmp_path, anatomy_dir):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = run_cli("pipeline_orchestrator.py", "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_dir,
                  "--output", blocker / "out")
    assert res.returncode == 2 and "not writable" in res.stderr and "Traceback" not in res.stderr


def test_no_matlab_or_octave(tmp_path, anatomy_dir):
    import os
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_dir, env=env)
    assert "Neither MATLAB nor Octave found" in line and "apt-get install octave" in line


def test_matlab_requested_but_absent(tmp_path, anatomy_dir):
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_dir, "--matlab", "matlab")
    assert "MATLAB not found" in line


def test_too_short_simulation(tmp_path, anatomy_dir):
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_dir, "--sim-length", 1)
    assert "--sim-length" in line


def test_synthesis_only_waits_for_missing_regions(tmp_path, anatomy_dir):
    res = run_cli("pipeline_orchestrator.py", "--synthesis-only", "--anatomy", anatomy_dir,
                  "--output", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "994 of 994 regions have no markers yet (0-993)" in res.stdout
    assert not (tmp_path / "out" / "train_sample_source1.mat").exists()


@pytest.mark.slow
def test_synthesis_only_on_real_template(real_step4_inputs, anatomy_dir, tmp_path):
    """Step 4 through the orchestrator: markers of all 994 regions, 5 of them without clips."""
    from scipy.io import loadmat, whosmat
    from deepsif_pipeline.science import synthesis_seed
    counts = real_step4_inputs["counts"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "nmm_test").symlink_to(real_step4_inputs["clip_dir"])
    args = ("--synthesis-only", "--dataset", "test", "--filename", "test", "--anatomy", anatomy_dir,
            "--output", out, "--seed", 7)
    res = run_cli("pipeline_orchestrator.py", *args)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "5 regions have no clip and cannot be source centres: 0, 7, 100, 500, 993" in res.stdout
    assert "derived the distances between the 994 region centres" in res.stdout
    assert [name for name, _, _ in whosmat(out / "derived" / "dis_matrix_fs_20k.mat")] == ["raw_dis_matrix"]
    made = out / "test_sample_source1.mat"
    d = loadmat(made)
    n_ex = 3 * int((counts > 0).sum()) * 4
    assert d["selected_region"].shape == (n_ex, 2, 70) and d["sensor_snr"].shape == (n_ex, 1)
    assert np.all(counts[d["selected_region"][:, :, 0].astype(int)] > 0)
    assert int(d["seed"].ravel()[0]) == synthesis_seed(7)
    assert not list(out.glob("logs/*job*")), "the job file is removed after a successful step 4"

    # the same command again: the file is up to date and left alone
    stamp = made.stat().st_mtime_ns
    res = run_cli("pipeline_orchestrator.py", *args)
    assert res.returncode == 0 and "is up to date" in res.stdout
    assert made.stat().st_mtime_ns == stamp


def _complete_raw(out, region, seed, n_samples=3000, n_conn=998):
    """Raw pieces step 1 accepts as complete (shape, seed, default --raw-rate): no simulation needed."""
    from deepsif_pipeline.store.files import write_mat_atomic
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.science import simulation_seed
    from deepsif_pipeline.config.settings import Settings
    from deepsif_pipeline.steps.simulate import kept_samples
    raw = Layout(out).raw_dir(region)
    raw.mkdir(parents=True, exist_ok=True)
    rate = Settings().raw_rate
    keep = kept_samples(1, n_samples) if rate == "decimated" else np.arange(n_samples)
    for m in (0, 1, 2):
        piece = {"data": np.zeros((len(keep), n_conn), np.float32), "time": keep * 0.5,
                 "seed": simulation_seed(seed, region, m), "engine": "fast", "raw_rate": rate}
        if rate == "decimated":
            piece.update(sample_index=(1 + keep).astype(float), raw_steps=float(n_samples))
        write_mat_atomic(raw / Layout.piece_name(region, m, 0, 1), piece)
    return raw


def test_failing_region_is_reported_and_the_run_goes_on(tmp_path, anatomy_dir):
    """Step 2 failing (a MATLAB that errors) for two regions: both reported, raw kept, exit 1."""
    import os
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "matlab"
    fake.write_text("#!/bin/sh\necho \"Undefined function 'process_region_nmm'\"\nexit 1\n")
    fake.chmod(0o755)
    out = tmp_path / "out"
    raws = [_complete_raw(out, r, 3) for r in (0, 1)]
    import subprocess
    import sys
    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", anatomy_dir,
                          "--output", out, "--start_region", "0", "--end_region", "2", "--sim-length", "1.5",
                          "--piece-length", "1.5", "--seed", "3", "--matlab", "matlab", "--skip-synthesis"],
                         capture_output=True, text=True, env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"))
    assert res.returncode == 1, res.stdout + res.stderr
    for r in (0, 1):  # step 1's own lines are in the region's log, not on the console (no --verbose)
        assert "all 1 raw pieces already complete" in (out / "logs" / f"region_{r}.log").read_text()
        assert "all 1 raw pieces already complete" not in res.stdout
        assert f"\u2717 Processing raw NMM data failed for region {r}" in res.stdout
        assert str(out / "logs" / f"region_{r}.log") in res.stdout
        assert "Undefined function" in (out / "logs" / f"region_{r}.log").read_text()
    assert "Failed regions: 2 (0-1)" in res.stdout and "Successful regions: 0" in res.stdout
    logs = out / "logs"
    tail = res.stdout.splitlines()
    tail = tail[max(i for i, ln in enumerate(tail) if ln.startswith("Next:")) - 1:]
    # near the end: the last line before "Next:", the command that runs the regions without markers
    assert tail[0] == (f"Failed: 2 regions (0-1); logs: {logs / 'region_0.log'}, {logs / 'region_1.log'}; "
                       f"why each failed: {logs}/region_{{r}}.failed")
    assert tail[1].startswith("Next: regions 0-993 have no markers yet;")
    assert all((logs / f"region_{r}.failed").is_file() for r in (0, 1))
    assert all(raw.is_dir() and len(list(raw.glob("*.mat"))) == 3 for raw in raws)
    assert "Traceback" not in res.stderr


def test_unreadable_marker_fails_its_region_only(tmp_path, anatomy_dir):
    from scipy.io import savemat
    from deepsif_pipeline.store.layout import Layout
    lay = Layout(tmp_path / "out")
    for m in (0, 1, 2):
        lay.marker(m, 1).parent.mkdir(parents=True, exist_ok=True)
        savemat(lay.marker(m, 1), {"num_spike": 0.0, "spike_time": np.zeros((1, 0))})
    lay.marker(0, 0).write_bytes(b"not a mat file")
    res = run_cli("pipeline_orchestrator.py", "--anatomy", anatomy_dir, "--output", lay.output,
                  "--start_region", 0, "--end_region", 2, "--skip-synthesis")
    assert res.returncode == 1
    assert f"marker {lay.marker(0, 0)} is damaged (not a MATLAB" in res.stdout
    assert "\u2713 Region 1 already processed" in res.stdout
    assert "Failed regions: 1 (0)" in res.stdout
    # not "re-run the same command" (it would fail the same way): the command that repairs it
    assert "Re-run the same command" not in res.stdout
    lines = res.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Damaged: 1 region (0)"))
    assert " --regions 0 --redo --output " in lines[at + 1], lines[at + 1]


def test_raw_kept_when_clips_are_incomplete(tmp_path, tvb76_dir):
    from scipy.io import savemat
    from conftest import run_region
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.results import Status
    from deepsif_pipeline.config.settings import Settings
    from deepsif_pipeline.steps import Context
    lay = Layout(tmp_path)
    for m, n in ((0, 1), (1, 2), (2, 2)):
        lay.marker(m, 4).parent.mkdir(parents=True, exist_ok=True)
        savemat(lay.marker(m, 4), {"num_spike": float(n)})
    lay.clip_dir(4).mkdir(parents=True)
    savemat(lay.clip(4, 1), {"data": np.zeros((500, 76))})
    lay.raw_dir(4).mkdir(parents=True)
    (lay.raw_dir(4) / "piece.mat").write_bytes(b"x")
    ctx = Context(Settings(), load_template(tvb76_dir), lay)
    result = run_region(ctx, 4)
    assert result.status is Status.DAMAGED and "1 of 2 clip files missing" in result.detail and "--redo" in result.detail
    assert (lay.raw_dir(4) / "piece.mat").exists()
    savemat(lay.clip(4, 2), {"data": np.zeros((500, 76))})
    result = run_region(ctx, 4)
    assert result.status is Status.SKIPPED and result.clips == 2
    assert not lay.raw_dir(4).exists()


def _arrays(root):
    """``{relative path: {variable: array}}`` of every MAT-file under root."""
    from scipy.io import loadmat
    return {str(p.relative_to(root)): {k: v for k, v in loadmat(p).items() if not k.startswith("__")}
            for p in sorted(root.rglob("*.mat"))}


def test_partial_region_redoes_only_missing_iterations(tvb76_cache, tmp_path):
    """tvb76 region 3: drop the last mean iteration's marker and clips; a re-run redoes just that."""
    import os
    import subprocess
    import sys
    from scipy.io import loadmat
    from conftest import REPO, tree_snapshot
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--start_region", "3", "--end_region", "4", "--sim-length", "3", "--piece-length", "1.5",
           "--skip-synthesis", "--progress", "none"]
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    first = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    clip_info = out / "nmm_spikes" / "clip_info"
    before_last = int(loadmat(clip_info / "iter1" / "iter_1_i_3.mat")["num_spike"].ravel()[0])
    total = int(loadmat(clip_info / "iter2" / "iter_2_i_3.mat")["num_spike"].ravel()[0])
    assert total > before_last, "region 3 of tvb76 spikes in mean iteration 2 with the default seed"
    done = _arrays(out / "nmm_spikes")
    (clip_info / "iter2" / "iter_2_i_3.mat").unlink()
    for n in range(before_last + 1, total + 1):
        (out / "nmm_spikes" / "a3" / f"nmm_{n}.mat").unlink()
    kept = tree_snapshot(out / "nmm_spikes")

    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:]
    assert "mean iterations 0, 1 already have markers; simulating 2" in again.stdout
    assert "iter 0 region 3: done before" in (out / "logs" / "region_3.log").read_text()  # Octave's own lines
    after = tree_snapshot(out / "nmm_spikes")
    assert all(after[k] == v for k, v in kept.items()), "earlier clips and markers are left alone"
    redone = _arrays(out / "nmm_spikes")
    assert redone.keys() == done.keys()
    for name, variables in done.items():  # MAT headers carry a time stamp: compare the arrays
        assert all(np.array_equal(redone[name][v], a, equal_nan=a.dtype.kind == "f")
                   for v, a in variables.items()), name
    assert not (out / "raw_nmm" / "a3").exists()


def test_pack_alone_needs_the_step4_file(tmp_path, anatomy_dir):
    res = run_cli("pipeline_orchestrator.py", "--pack", "--dataset", "test", "--anatomy", anatomy_dir,
                  "--output", tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr and not any(tmp_path.iterdir())
    assert "no test_sample_source1.mat" in res.stderr and "run step 4 first" in res.stderr
    line = _bad(tmp_path, "--pack", "--anatomy", anatomy_dir)  # no output folder at all: nothing created
    assert "no output folder" in line


def test_decimated_raw_rate_gives_the_same_clips(tvb76_cache, octave, tmp_path):
    """tvb76 region 10, fast engine: --raw-rate decimated writes a quarter of the bytes, and step 2's
    input and clips are identical to those from full-rate pieces (pieces of 1201 steps, so the
    transient and the every-4th selection cross piece boundaries)."""
    import os
    import subprocess
    import sys
    from conftest import REPO, run_octave
    from deepsif_pipeline.processes.engine import matlab_string
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    outs = {}
    for rate in ("full", "decimated"):
        outs[rate] = tmp_path / rate
        res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76",
                              "--output", str(outs[rate]), "--start_region", "10", "--end_region", "11",
                              "--sim-length", "4", "--piece-length", "0.6005", "--engine", "fast",
                              "--raw-rate", rate, "--keep-raw", "--skip-synthesis", "--progress", "none"],
                             env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    raw = {rate: sorted((out / "raw_nmm" / "a10").glob("*.mat")) for rate, out in outs.items()}
    assert [p.name for p in raw["full"]] == [p.name for p in raw["decimated"]]
    size = {rate: sum(p.stat().st_size for p in paths) for rate, paths in raw.items()}
    assert 0.2 < size["decimated"] / size["full"] < 0.3
    # step 2's input, read by matlab/load_raw_iteration.m from each folder
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.steps.simulate import piece_steps
    code = "p = deepsif_params(); "
    n_pieces = len(piece_steps(4, 0.6005))
    for rate, out in outs.items():
        files = ", ".join(matlab_string(f) for f in Layout(out).raw_pieces(10, 0, n_pieces))
        code += f"[d_{rate}, t_{rate}] = load_raw_iteration({{{files}}}, p); "
    code += ("assert(isequal(d_full, d_decimated) && isequal(t_full, t_decimated)); "
             "printf('rows %d\\n', size(d_full, 1));")
    res = run_octave(octave, code, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rows 1750" in res.stdout  # (8000 - 1000) / 4
    # the clips and markers: same arrays
    full, decimated = _arrays(outs["full"] / "nmm_spikes"), _arrays(outs["decimated"] / "nmm_spikes")
    assert full.keys() == decimated.keys()
    assert any(name.startswith("a10/") for name in full), "region 10 spikes within 3 x 4 s"
    for name, variables in full.items():
        assert all(np.array_equal(decimated[name][v], a, equal_nan=a.dtype.kind == "f")
                   for v, a in variables.items()), name


def test_piece_length_does_not_change_the_clips(tvb76_cache, tmp_path):
    """--piece-length is left out of the fingerprint: tvb76 region 3 (it spikes) in 3 pieces of 1 s and in
    one of 3 s gives the same clips and markers, every variable (the projection ``proj`` too), bit for bit."""
    from conftest import tvb76_run
    outs = {}
    for piece in (1, 3):
        outs[piece] = tmp_path / f"piece_{piece}"
        res = tvb76_run(tvb76_cache, outs[piece], "--start_region", 3, "--end_region", 4, "--sim-length", 3,
                        "--piece-length", piece, "--skip-synthesis")
        assert res.returncode == 0, res.stdout[-2000:]
    one, three = _arrays(outs[3] / "nmm_spikes"), _arrays(outs[1] / "nmm_spikes")
    assert one.keys() == three.keys() and any(name.startswith("a3/") and "proj" in v for name, v in one.items())
    for name, variables in one.items():
        assert all(np.array_equal(three[name][v], a, equal_nan=a.dtype.kind == "f")
                   for v, a in variables.items()), name


def test_workers_give_the_same_files_as_one_process(tvb76_cache, tmp_path):
    """tvb76 regions 0-5 with --workers 2 and with one worker: the same clips and markers, array by
    array, and every region reported once in the summary."""
    import os
    import subprocess
    import sys
    from conftest import REPO
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    found = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76",
                              "--output", str(out), "--start_region", "0", "--end_region", "6", "--sim-length", "3",
                              "--piece-length", "3", "--skip-synthesis", "--progress", "none",
                              "--workers", str(workers)], env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert "Successful regions: 6 (0-5)" in res.stdout
        assert ("2 workers (--workers 2), each holding up to 4 regions" in res.stdout) == (workers == 2)
        found[workers] = _arrays(out / "nmm_spikes")
    assert found[1].keys() == found[2].keys() and any(k.startswith("a") for k in found[1])
    for name, variables in found[1].items():
        assert all(np.array_equal(found[2][name][v], a, equal_nan=a.dtype.kind == "f")
                   for v, a in variables.items()), name


def test_workers_must_be_positive(tmp_path):
    res = run_cli("pipeline_orchestrator.py", "--start_region", 0, "--end_region", 1, "--workers", 0,
                  "--output", tmp_path / "out")
    assert res.returncode == 2 and res.stderr.strip().startswith("error: --workers must be at least 1")
    assert not (tmp_path / "out").exists()


def test_workers_auto_is_one_per_usable_core(tvb76_dir, tmp_path):
    """``--workers auto`` plans as many regions at once as the cores this process may use; a word is refused."""
    import os
    cores = len(os.sched_getaffinity(0))
    res = run_cli("pipeline_orchestrator.py", "--anatomy", tvb76_dir, "--start_region", 0, "--end_region", 4,
                  "--sim-length", 2, "--workers", "auto", "--dry-run", "--output", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert f"peak with {min(4 * cores, 4)} at once:" in res.stdout  # (each worker holds up to 4 regions)
    res = run_cli("pipeline_orchestrator.py", "--start_region", 0, "--end_region", 1, "--workers", "many",
                  "--output", tmp_path / "out")
    assert res.returncode == 2
    assert res.stderr.strip() == "error: argument --workers: expected a whole number or 'auto', got 'many' (see --help)"


def test_two_runs_on_overlapping_ranges_share_the_regions(tvb76_cache, tmp_path):
    """Two orchestrators started together on regions 0-9 and 0-11 of tvb76, same output folder (so
    they meet at once): each region is simulated by exactly one of them, the other leaves it to
    the claim's holder, together they finish all 12, and the files equal one run's."""
    import os
    import re
    import subprocess
    import sys
    from conftest import REPO
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.steps.extract import judge
    env = dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache))
    out = tmp_path / "shared_out"

    def region_done(layout, r):
        return judge(layout, r, None).current
    procs = [subprocess.Popen([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76",
                               "--output", str(out), "--start_region", str(a), "--end_region", str(b),
                               "--sim-length", "2", "--piece-length", "2", "--skip-synthesis", "--progress", "none"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for a, b in ((0, 10), (0, 12))]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    simulated = [set(map(int, re.findall(r"STEP 1: Generating TVB data for region (\d+)", log))) for log in logs]
    assert simulated[0] | simulated[1] == set(range(12)), simulated
    assert not simulated[0] & simulated[1], "a region was simulated by both runs"
    assert all(region_done(Layout(out), r) for r in range(12))
    assert not list((out / "claims").glob("*.claim")), "claims are released"
    assert "is being processed by" in logs[0] + logs[1], "the runs met on a claimed region"
    for log in logs:
        assert "Failed regions: 0" in log
    # the same files as one run over the whole range, array by array
    alone = tmp_path / "alone"
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76",
                          "--output", str(alone), "--start_region", "0", "--end_region", "12", "--sim-length", "2",
                          "--piece-length", "2", "--skip-synthesis", "--progress", "none"],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:]
    shared, single = _arrays(out / "nmm_spikes"), _arrays(alone / "nmm_spikes")
    assert shared.keys() == single.keys()
    for name, variables in single.items():
        assert all(np.array_equal(shared[name][v], a, equal_nan=a.dtype.kind == "f")
                   for v, a in variables.items()), name


def test_step4_held_by_another_run_is_left_to_it(tmp_path, anatomy_dir):
    from deepsif_pipeline.store import claims
    from deepsif_pipeline.store.layout import Layout
    out = tmp_path / "out"
    held = claims.try_claim(Layout(out).claim_dir, "synthesis_test")
    assert isinstance(held, claims.Claim)
    try:
        res = run_cli("pipeline_orchestrator.py", "--synthesis-only", "--dataset", "test", "--anatomy", anatomy_dir,
                      "--output", out)
    finally:
        held.release()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Step 4 and the pack are being run by" in res.stdout
    assert "Synthetic source: elsewhere" in res.stdout


def _context(anatomy_dir, out, **settings):
    from deepsif_pipeline.head.builtin import resolve_template
    from deepsif_pipeline.processes.engine import find_engine
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.config.settings import Settings
    from deepsif_pipeline.steps import Context
    return Context(Settings(**settings), resolve_template(anatomy_dir, None), Layout(out), find_engine("octave"),
                   progress="none")


def test_lost_claim_stops_before_step2(tmp_path, anatomy_dir, capsys, monkeypatch):
    """A run whose region claim was taken over while step 1 ran writes no clip or marker."""
    from conftest import run_region, take_over_claim
    from deepsif_pipeline.results import Status
    from deepsif_pipeline.steps import simulate
    out = tmp_path / "out"
    raw = _complete_raw(out, 0, 3)
    ctx = _context(anatomy_dir, out, sim_length=1.5, piece_length=1.5, seed=3)
    real_step1 = simulate.run

    def step1_then_taken_over(*args, **kwargs):
        outcome = real_step1(*args, **kwargs)
        take_over_claim(ctx.layout, 0)  # taken over while step 1 ran
        return outcome

    monkeypatch.setattr(simulate, "run", step1_then_taken_over)
    result = run_region(ctx, 0)
    assert result.status is Status.FAILED and result.detail.startswith("claim lost"), result
    assert "its claim was taken over by another run while step 1 ran" in capsys.readouterr().out
    assert not (out / "nmm_spikes").exists() and len(list(raw.glob("*.mat"))) == 3


def test_leadfield_with_nan_named_with_file_and_variable(tmp_path, anatomy_copy):
    from scipy.io import loadmat
    lf = anatomy_copy / "leadfield_75_20k.mat"
    fwd = loadmat(lf)["fwd"]
    fwd[[3, 40], 7] = np.nan
    lf.unlink()  # the default lead field of the template, replaced by a broken one
    savemat(lf, {"fwd": fwd})
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_copy)
    assert str(lf) in line and "variable 'fwd' contains 2 NaN values" in line and "must be finite" in line


def test_anatomy_connectivity_with_nan_weight_named_with_member(tmp_path, anatomy_copy):
    import zipfile
    path = anatomy_copy / "connectivity_998.zip"
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    lines = members["weights.txt"].split(b"\n")
    lines[1] = b" ".join([b"nan"] + lines[1].split()[1:])
    members["weights.txt"] = b"\n".join(lines)
    path.unlink()
    with zipfile.ZipFile(path, "w") as dst:
        for n, data in members.items():
            dst.writestr(n, data)
    line = _bad(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", anatomy_copy)
    assert str(path) in line and "member 'weights.txt' contains 1 NaN value" in line


def test_claim_lost_during_step2_leaves_the_raw_data(tmp_path, anatomy_dir, capsys, monkeypatch):
    """Step 2 (real Octave) finishes, but another run took the claim meanwhile: no deletion by this run."""
    from conftest import run_region, take_over_claim
    from deepsif_pipeline.results import Status
    from deepsif_pipeline.steps import extract
    out = tmp_path / "out"
    raw = _complete_raw(out, 0, 3)
    ctx = _context(anatomy_dir, out, sim_length=1.5, piece_length=1.5, seed=3)
    real_step2 = extract.run

    def step2_then_taken_over(*args, **kwargs):
        outcome = real_step2(*args, **kwargs)
        if kwargs.get("upto") == 2:  # taken over during the step 2 that completes the region
            take_over_claim(ctx.layout, 0)
        return outcome

    monkeypatch.setattr(extract, "run", step2_then_taken_over)
    result = run_region(ctx, 0)
    assert result.status is Status.DONE
    assert "its raw data is left for that run to delete" in capsys.readouterr().out
    assert extract.STEP.judge(ctx, 0).current
    assert len(list(raw.glob("*.mat"))) == 3


def test_start_region_and_end_region_in_either_spelling(tvb76_cache, tmp_path):
    """--start-region/--end-region are the seed's --start_region/--end_region; help shows both."""
    from conftest import tvb76_run
    text = " ".join(run_cli("pipeline_orchestrator.py", "--help").stdout.split())
    assert "--start_region REGION, --start-region REGION" in text
    assert "--end_region REGION, --end-region REGION" in text
    for args in (("--start-region", 3, "--end-region", 5), ("--start_region", 3, "--end-region", 5),
                 ("--start-region", 3, "--end_region", 5)):
        res = tvb76_run(tvb76_cache, tmp_path / "out", "--dry-run", *args)
        assert res.returncode == 0, res.stdout
        assert "steps 1-3: 2 regions (3-4)" in res.stdout, res.stdout
    res = tvb76_run(tvb76_cache, tmp_path / "out", "--dry-run", "--start-region", 5, "--end-region", 3)
    assert res.returncode == 2 and "--end_region (3) must be greater than --start_region (5)" in res.stdout
    assert not (tmp_path / "out").exists()
