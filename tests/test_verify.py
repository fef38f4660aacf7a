"""--verify and --qc on a small finished output folder (tvb76 geometry, real Octave step 4 and pack)."""

import shutil

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from conftest import run_cli, write_step4_inputs


@pytest.fixture(scope="module")
def finished(tvb76_dir, tmp_path_factory):
    """Markers and clips for all 76 regions (0-3 clips each), then step 4 (test) and the pack."""
    out = tmp_path_factory.mktemp("verify") / "source"
    write_step4_inputs(out / "nmm_spikes", 76, seed=5)
    res = run_cli("pipeline_orchestrator.py", "--synthesis-only", "--dataset", "test", "--anatomy", tvb76_dir,
                  "--output", out)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "test_sample_nmm.h5").is_file()
    return out


def _verify(out, tvb76_dir, *extra):
    return run_cli("pipeline_orchestrator.py", "--verify", "--dataset", "test", "--anatomy", tvb76_dir,
                   "--output", out, *extra)


@pytest.fixture
def copy(finished, tmp_path):
    dst = tmp_path / "source"
    shutil.copytree(finished, dst)
    return dst


def test_finished_folder_passes_and_qc_figure(copy, tvb76_dir):
    res = _verify(copy, tvb76_dir, "--qc")
    assert res.returncode == 0, res.stdout
    assert "5 of 5 checks passed" in res.stdout
    png = copy / "qc_test.png"
    assert f"QC figure: {png}" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000


def _failed_line(res, check):
    lines = [ln for ln in res.stdout.splitlines() if check in ln]
    assert res.returncode == 1, res.stdout
    assert lines and lines[0].startswith("\u2717"), res.stdout
    return lines[0]


def test_deleted_clip(copy, tvb76_dir):
    victim = next(copy.glob("nmm_spikes/a*/nmm_1.mat"))
    victim.unlink()
    line = _failed_line(_verify(copy, tvb76_dir), "markers match clip files")
    assert f"{victim} is missing" in line


def test_truncated_clip(copy, tvb76_dir):
    victim = next(copy.glob("nmm_spikes/a*/nmm_1.mat"))
    victim.write_bytes(victim.read_bytes()[:3000])
    line = _failed_line(_verify(copy, tvb76_dir), "clips are 500 x regions, finite")
    assert f"clip {victim} is unreadable" in line


def test_wrong_nmm_idx_row(copy, tvb76_dir):
    path = copy / "test_sample_source1.mat"
    meta = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    rows = np.unique(meta["nmm_idx"])
    first = meta["nmm_idx"][0, 0]
    meta["nmm_idx"][0, 0] = rows[rows != first][0]  # point example 0, source 0 at another clip's row
    savemat(path, meta)
    line = _failed_line(_verify(copy, tvb76_dir), "pack rows equal their clips")
    assert "pack row" in line and ("differs from" in line or "two different clips" in line)


def test_manifest_records_the_folder_and_verify_checks_it(copy, tvb76_dir):
    import json
    data = json.loads((copy / "dataset.json").read_text())
    clips = data["clip_sets"]["spikes"]
    assert clips["summary"]["regions"] == 76 and len(clips["regions"]) == 76
    assert clips["summary"]["clips"] == sum(len(list((copy / "nmm_spikes" / f"a{r}").glob("nmm_*.mat")))
                                            for r in range(76))
    made = data["synthesis"]["test"]
    assert made["file"] == "test_sample_source1.mat" and made["bytes"] == (copy / made["file"]).stat().st_size
    assert made["pack"]["file"] == "test_sample_nmm.h5" and made["pack"]["current"]
    assert made["settings"]["dataset"] == "test" and made["fingerprint"].startswith("sha256:")
    # a manifest that disagrees with the files fails --verify, naming the region
    r = next(k for k, e in clips["regions"].items() if e["clips"] > 0)
    clips["regions"][r]["per_iteration"][-1] += 1
    (copy / "dataset.json").write_text(json.dumps(data))
    line = _failed_line(_verify(copy, tvb76_dir), "manifest agrees with the files")
    assert f"region {r}: per_iteration is" in line
