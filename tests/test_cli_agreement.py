"""--dry-run, --status, --pack and --verify agree with each other and with the files.

A finished tvb76 folder: markers (fingerprinted for --sim-length 2) and clips of
all 76 regions, then a real run of step 4 (--dataset test, real GNU Octave) and the pack.
The commands these modes suggest are run as printed.
"""

import shlex
import shutil
import subprocess

import pytest
from scipy.io import loadmat

from deepsif_pipeline.head.leadfields import template_leadfield
from conftest import tvb76_run, write_markers, write_step4_inputs
from deepsif_pipeline.head.builtin import resolve_template
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.config.settings import Settings
from deepsif_pipeline.steps import extract

SETTINGS = ("--sim-length", 2)  # what the folder's clips were made with (not the default)


@pytest.fixture(scope="module")
def finished(tvb76_cache, tvb76_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("agree") / "source"
    counts = write_step4_inputs(out / "nmm_spikes", 76, seed=5)
    template = resolve_template(tvb76_dir)
    made = extract.fingerprint(Settings(sim_length=2.0, piece_length=2.0), template, template_leadfield(template))
    write_markers(Layout(out), counts, made)
    res = tvb76_run(tvb76_cache, out, "--synthesis-only", "--dataset", "test", *SETTINGS)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (out / "test_sample_source1.mat").is_file() and (out / "test_sample_nmm.h5").is_file()
    assert not (out / "train_sample_source1.mat").exists()
    return out, int(counts.sum())


@pytest.fixture
def copy(finished, tmp_path):
    shutil.copytree(finished[0], tmp_path / "source")
    return tmp_path / "source"


def _lines(res, prefix):
    return [ln for ln in res.stdout.splitlines() if ln.startswith(prefix)]


def _suggested(line, after):
    """The command a line suggests after ``after``, split as a shell would."""
    assert after in line, line
    return shlex.split(line.split(after, 1)[1])


def _run_as_printed(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_finished_folder_status_dry_run_and_pack_agree(finished, tvb76_cache):
    out, _ = finished
    rows = len(set(loadmat(out / "test_sample_source1.mat")["nmm_idx"].ravel()))
    step4 = "step 4 (test): test_sample_source1.mat present and up to date"
    pack = f"pack (test): test_sample_nmm.h5 is up to date ({rows} clips)"
    status = tvb76_run(tvb76_cache, out, "--status")  # dataset and settings from the folder
    assert status.returncode == 0 and "done: 76 (0-75)" in status.stdout, status.stdout
    assert _lines(status, "step 4") == [step4] and _lines(status, "pack") == [pack], status.stdout
    dry = tvb76_run(tvb76_cache, out, "--dry-run", "--dataset", "test", *SETTINGS)  # no region range: all
    assert dry.returncode == 0, dry.stdout
    assert "regions 0..75: every region of the template (no --start_region/--end_region given)" in dry.stdout
    assert "already done, skipped: 76 regions (0-75)" in dry.stdout and "steps 1-3" not in dry.stdout
    assert _lines(dry, "step 4") == [step4] and _lines(dry, "pack") == [pack], dry.stdout
    assert "would run" not in dry.stdout
    only_pack = tvb76_run(tvb76_cache, out, "--pack", "--dry-run")
    assert only_pack.returncode == 0 and _lines(only_pack, "pack") == [pack], only_pack.stdout
    assert not _lines(only_pack, "step 4")
    packed = tvb76_run(tvb76_cache, out, "--pack")
    assert packed.returncode == 0 and "test_sample_nmm.h5 is up to date" in packed.stdout, packed.stdout
    # without --dataset a run makes train (the default): the dry run says so, and names the test file
    train = tvb76_run(tvb76_cache, out, "--dry-run", *SETTINGS)
    assert _lines(train, "step 4") == ["step 4 (train): would make train_sample_source1.mat (every region is done)"]
    assert "(the folder also holds test_sample_source1.mat: add --dataset test for it)" in train.stdout


def test_verify_finds_the_dataset_of_the_folder(finished, tvb76_cache):
    out, clips = finished
    res = tvb76_run(tvb76_cache, out, "--verify")
    assert res.returncode == 0, res.stdout
    assert f"Verifying {out} (test, nmm_spikes/, 76 regions)" in res.stdout
    assert f"76 regions, {clips} clips" in res.stdout and "6 of 6 checks passed" in res.stdout


def test_pack_of_a_missing_step4_file_suggests_a_runnable_command(copy, tvb76_cache):
    (copy / "test_sample_source1.mat").unlink()
    (copy / "test_sample_nmm.h5").unlink()
    res = tvb76_run(tvb76_cache, copy, "--pack", "--dataset", "test")
    assert res.returncode == 2, res.stdout
    (line,) = res.stdout.strip().splitlines()
    assert line.startswith(f"error: no test_sample_source1.mat in {copy} to pack: run step 4 first: ")
    argv = _suggested(line, "run step 4 first: ")
    assert argv[2:] == ["--synthesis-only", "--output", str(copy), "--anatomy", "tvb76", "--dataset", "test",
                        "--sim-length", "2"]
    status = tvb76_run(tvb76_cache, copy, "--status", "--dataset", "test")
    (step4,) = _lines(status, "step 4")
    assert step4.startswith("step 4 (test): every region is done, test_sample_source1.mat not made yet; make it "
                            "with: ")
    assert _suggested(step4, "make it with: ") == argv
    dry = tvb76_run(tvb76_cache, copy, "--dry-run", "--dataset", "test", *SETTINGS)
    assert _lines(dry, "step 4") == ["step 4 (test): would make test_sample_source1.mat (every region is done)"]
    assert _lines(dry, "pack") == ["pack (test): would write test_sample_nmm.h5 after step 4"]
    made = _run_as_printed(argv)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert (copy / "test_sample_source1.mat").is_file() and (copy / "test_sample_nmm.h5").is_file()
    again = tvb76_run(tvb76_cache, copy, "--verify")
    assert again.returncode == 0 and "6 of 6 checks passed" in again.stdout, again.stdout


def test_missing_pack_is_reported_with_the_command_that_writes_it(copy, tvb76_cache):
    (copy / "test_sample_nmm.h5").unlink()
    status = tvb76_run(tvb76_cache, copy, "--status")
    assert _lines(status, "step 4") == ["step 4 (test): test_sample_source1.mat present and up to date"]
    (line,) = _lines(status, "pack")
    assert line.startswith("pack (test): test_sample_nmm.h5 not written yet; write it with: "), status.stdout
    argv = _suggested(line, "write it with: ")
    assert argv[2:] == ["--pack", "--output", str(copy), "--anatomy", "tvb76", "--dataset", "test",
                        "--sim-length", "2"]
    dry = tvb76_run(tvb76_cache, copy, "--dry-run", "--dataset", "test", *SETTINGS)
    assert _lines(dry, "pack") == ["pack (test): would write test_sample_nmm.h5"], dry.stdout
    verify = tvb76_run(tvb76_cache, copy, "--verify")
    assert verify.returncode == 1
    (row,) = [ln for ln in verify.stdout.splitlines() if ln.startswith("\u2717 pack rows equal their clips")]
    assert _suggested(row, "write it with: ") == argv
    made = _run_as_printed(argv)
    assert made.returncode == 0 and (copy / "test_sample_nmm.h5").is_file(), made.stdout[-3000:]
    assert "6 of 6 checks passed" in tvb76_run(tvb76_cache, copy, "--verify").stdout


def test_regions_to_do_status_and_dry_run_agree(copy, tvb76_cache):
    """Region 5 without markers: --status waits for it, --dry-run over it would make step 4 after it."""
    for m in (0, 1, 2):
        Layout(copy).marker(m, 5).unlink()
    status = tvb76_run(tvb76_cache, copy, "--status")
    assert "not started: 1 (5)" in status.stdout, status.stdout
    assert _lines(status, "step 4") == ["step 4 (test): waiting for 1 of 76 regions without all markers (5)"]
    assert _lines(status, "pack") == ["pack (test): test_sample_nmm.h5 follows step 4"]
    dry = tvb76_run(tvb76_cache, copy, "--dry-run", "--dataset", "test", "--start-region", 5, "--end-region", 6,
                    *SETTINGS)
    assert "steps 1-3: 1 region (5)" in dry.stdout, dry.stdout
    assert _lines(dry, "step 4") == ["step 4 (test): would make test_sample_source1.mat after this command's "
                                     "1 region (5)"]
    assert _lines(dry, "pack") == ["pack (test): would write test_sample_nmm.h5 after step 4"]
    other = tvb76_run(tvb76_cache, copy, "--dry-run", "--dataset", "test", "--start-region", 6, "--end-region", 7,
                      *SETTINGS)
    assert _lines(other, "step 4") == ["step 4 (test): would wait for 1 of 76 regions this command does not make "
                                       "(5)"], other.stdout
