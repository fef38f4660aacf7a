"""A folder made with other settings is refused, never reused or mixed; --redo replaces exactly the units it names.

Real runs on the built-in tvb76 template (regions 2-3, 3 x 2 simulated s), real GNU Octave.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from conftest import REPO, mat_arrays, tree_snapshot, tvb76_run, write_step4_inputs
from deepsif_pipeline.run.verify import check_manifest
from deepsif_pipeline.store.layout import Layout

RANGE = ("--start_region", 2, "--end_region", 4, "--sim-length", 2, "--skip-synthesis")


def _run(cache, out, *args):
    return tvb76_run(cache, out, *args)


def _refused(cache, out, *args):
    """Run the orchestrator on ``out``; check it refused at once and changed no file; its error line."""
    before = tree_snapshot(out)
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--output", str(out),
                          "--progress", "none", *map(str, args)], capture_output=True, text=True,
                         env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(cache)), stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stdout[-2000:] + res.stderr[-2000:]
    assert res.stdout == "", res.stdout
    (line,) = res.stderr.strip().splitlines()
    assert tree_snapshot(out) == before, "a refused run changed the folder"
    return line


@pytest.fixture(scope="module")
def made(tvb76_cache, tmp_path_factory):
    """Regions 2-3 made with the defaults (region 3 has a clip within 2 s, region 2 none)."""
    out = tmp_path_factory.mktemp("made") / "out"
    res = _run(tvb76_cache, out, "--anatomy", "tvb76", *RANGE)
    assert res.returncode == 0, res.stdout[-3000:]
    assert loadmat(Layout(out).marker(2, 3))["num_spike"].item() >= 1
    return out


@pytest.fixture
def folder(made, tmp_path):
    shutil.copytree(made, tmp_path / "out", symlinks=True)
    return tmp_path / "out"


@pytest.fixture(scope="module")
def tvb76_copy(tvb76_dir, tmp_path_factory):
    """The tvb76 files in another folder (symlinks), plus a second lead field: twice the first."""
    folder = tmp_path_factory.mktemp("anatomy") / "tvb76_copy"
    folder.mkdir()
    for f in tvb76_dir.iterdir():
        (folder / f.name).symlink_to(f)
    fwd = loadmat(tvb76_dir / "leadfield_63_16k.mat")["fwd"]
    savemat(folder / "leadfield_other.mat", {"fwd": 2 * fwd})
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("extra,needle", [
    (("--seed", 5), "--seed: recorded 20220425, asked 5"),
    (("--a-range", 3.6), "--a-range: recorded 3.5, asked 3.6"),
    (("--sim-length", 2.5), "--sim-length: recorded 2, asked 2.5"),
    (("--engine", "tvb"), "--engine: recorded fast, asked tvb"),
    (("--target-snr", 10), "--target-snr: recorded 15, asked 10"),
])
def test_another_setting_is_refused_and_changes_no_file(made, tvb76_cache, extra, needle):
    line = _refused(tvb76_cache, made, "--anatomy", "tvb76", *RANGE, *extra)  # the last --sim-length counts
    assert line.startswith(f"error: {Layout(made).clip_root} holds regions 2-3 made with other settings (")
    assert needle in line and "use another --output (or --filename), or add --redo" in line


@pytest.mark.slow
def test_another_template_or_lead_field_is_refused(made, tvb76_cache, tvb76_copy, anatomy_dir):
    line = _refused(tvb76_cache, made, "--anatomy", anatomy_dir, "--leadfield", "leadfield_75_20k.mat", *RANGE)
    assert "template (--anatomy/--leadfield): connectivity, leadfield, regions: recorded tvb76" in line
    assert f"asked {anatomy_dir}, leadfield_75_20k.mat" in line and "--sim-length" not in line
    line = _refused(tvb76_cache, made, "--anatomy", tvb76_copy, "--leadfield", "leadfield_other.mat", *RANGE)
    assert "template (--anatomy/--leadfield): leadfield: recorded" in line
    # the same files elsewhere are the same template: the identity is their content, not their path
    res = _run(tvb76_cache, made, "--anatomy", tvb76_copy, *RANGE)
    assert res.returncode == 0 and "Already done, skipped: 2 (2-3)" in res.stdout, res.stdout[-2000:]


@pytest.mark.slow
def test_piece_length_and_raw_rate_of_finished_regions_do_not_matter(made, tvb76_cache):
    """They only shape the raw data, deleted once the clips are made (the clips are identical)."""
    res = _run(tvb76_cache, made, "--anatomy", "tvb76", *RANGE, "--piece-length", 0.5, "--raw-rate", "decimated")
    assert res.returncode == 0 and "Already done, skipped: 2 (2-3)" in res.stdout, res.stdout[-2000:]


@pytest.mark.slow
def test_a_partly_done_region_made_otherwise_is_refused(folder, tvb76_cache):
    """Mean iterations 0-1 of region 3 made with the default seed: --seed 5 cannot complete it."""
    lay = Layout(folder)
    lay.marker(2, 3).unlink()
    line = _refused(tvb76_cache, folder, "--anatomy", "tvb76", "--start_region", 3, "--end_region", 4,
                    "--sim-length", 2, "--seed", 5)
    assert "holds region 3 made with other settings (--seed: recorded 20220425, asked 5)" in line
    # raw pieces of an interrupted region are judged the same way
    for m in (0, 1):
        lay.marker(m, 3).unlink()
    res = subprocess.run([sys.executable, str(REPO / "generate_tvb_data.py"), "--a_start", "3", "--a_end", "4",
                          "--anatomy", "tvb76", "--output", str(folder), "--sim-length", "2", "--piece-length", "1",
                          "--iterations", "0", "--progress", "none"], capture_output=True, text=True,
                         env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)))
    assert res.returncode == 0, res.stderr
    line = _refused(tvb76_cache, folder, "--anatomy", "tvb76", "--start_region", 3, "--end_region", 4,
                    "--sim-length", 2, "--piece-length", 1, "--engine", "tvb")
    assert "holds region 3 made with other settings (--engine: recorded fast, asked tvb)" in line
    line = _refused(tvb76_cache, folder, "--anatomy", "tvb76", "--start_region", 3, "--end_region", 4,
                    "--sim-length", 2)  # the default piece (2 s here) is not what made the pieces
    assert "--piece-length: recorded 1, asked 2" in line


@pytest.mark.slow
def test_redo_replaces_exactly_that_unit(folder, tvb76_cache, tmp_path):
    lay = Layout(folder)
    region1 = {k: v for k, v in tree_snapshot(lay.clip_root).items() if "_i_2." in k or k.startswith("a2/")}
    res = _run(tvb76_cache, folder, "--anatomy", "tvb76", "--start_region", 3, "--end_region", 4, "--sim-length", 2,
               "--skip-synthesis", "--seed", 5, "--redo")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "--redo: region 3 was made with other settings (--seed: recorded 20220425, asked 5)" in res.stdout
    # region 2 is left as it was
    after = tree_snapshot(lay.clip_root)
    assert {k: after[k] for k in region1} == region1
    # region 3 is what a fresh run with --seed 5 makes
    fresh = tmp_path / "fresh"
    res = _run(tvb76_cache, fresh, "--anatomy", "tvb76", "--start_region", 3, "--end_region", 4, "--sim-length", 2,
               "--skip-synthesis", "--seed", 5)
    assert res.returncode == 0, res.stdout[-3000:]
    got, want = mat_arrays(lay.clip_root), mat_arrays(Layout(fresh).clip_root)
    mine = {k: v for k, v in got.items() if "_i_3." in k or k.startswith("a3/")}
    assert mine.keys() == want.keys()
    for name, variables in want.items():
        assert mine[name].keys() == variables.keys(), name
        for v, a in variables.items():
            assert np.array_equal(mine[name][v], a, equal_nan=a.dtype.kind == "f"), f"{name}: {v}"
    # the manifest now records the new settings and names region 2 as made otherwise
    data = json.loads(lay.manifest.read_text())["clip_sets"]["spikes"]
    assert data["settings"]["seed"] == 5 and data["summary"]["other_settings"] == "2"
    assert check_manifest(lay) == []
    # and region 2 is refused under the new settings until it is redone too
    line = _refused(tvb76_cache, folder, "--anatomy", "tvb76", *RANGE, "--seed", 5)
    assert "holds region 2 made with other settings (--seed: recorded 20220425, asked 5)" in line
    status = _run(tvb76_cache, folder, "--status", "--start_region", 2, "--end_region", 4)
    assert "region 2  other settings" in status.stdout and "region 3  done" in status.stdout, status.stdout


@pytest.fixture(scope="module")
def step4_folder(tvb76_dir, tmp_path_factory):
    """Markers and clips of all 76 regions and a test step-4 file with its pack."""
    out = tmp_path_factory.mktemp("step4") / "out"
    write_step4_inputs(out / "nmm_spikes", 76, seed=3)
    res = subprocess.run([sys.executable, str(REPO / "pipeline_orchestrator.py"), "--synthesis-only", "--dataset",
                          "test", "--anatomy", str(tvb76_dir), "--output", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]
    return out


@pytest.mark.slow
def test_a_step4_file_made_with_other_settings_is_refused_then_redone(step4_folder, tvb76_dir, tvb76_cache,
                                                                      tmp_path):
    out = tmp_path / "out"
    shutil.copytree(step4_folder, out)
    anatomy = tmp_path / "anatomy"
    anatomy.mkdir()
    for f in tvb76_dir.iterdir():
        if f.name != "dis_matrix_fs_20k.mat":
            (anatomy / f.name).symlink_to(f)
    distances = loadmat(tvb76_dir / "dis_matrix_fs_20k.mat")["raw_dis_matrix"]
    savemat(anatomy / "dis_matrix_fs_20k.mat", {"raw_dis_matrix": 1.5 * distances})
    args = ("--synthesis-only", "--dataset", "test", "--anatomy", anatomy)
    line = _refused(tvb76_cache, out, *args)
    assert "test_sample_source1.mat was made with other settings (template (--anatomy/--leadfield): distances" \
        in line and "--redo" in line
    res = _run(tvb76_cache, out, *args, "--redo")
    assert res.returncode == 0 and "--redo: " in res.stdout, res.stdout[-3000:]
    mag = loadmat(out / "test_sample_source1.mat")["mag_change"]
    assert not np.array_equal(mag, loadmat(step4_folder / "test_sample_source1.mat")["mag_change"])
    assert check_manifest(Layout(out)) == []
    res = _run(tvb76_cache, out, *args)  # now current
    assert res.returncode == 0 and "is up to date" in res.stdout, res.stdout[-3000:]
