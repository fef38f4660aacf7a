"""--verify and --qc on a small finished output folder (tvb76 geometry, real Octave step 4 and pack)."""

import os
import re
import shlex
import shutil
import subprocess

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from conftest import REPO, run_cli, write_step4_inputs
from deepsif_pipeline.store.files import format_bytes
from deepsif_pipeline.store.layout import compact_ranges


@pytest.fixture(scope="module")
def finished_run(tvb76_dir, tmp_path_factory):
    """Markers and clips for all 76 regions (0-3 clips each), then step 4 (test) and the pack; (folder, run)."""
    out = tmp_path_factory.mktemp("verify") / "source"
    write_step4_inputs(out / "nmm_spikes", 76, seed=5)
    res = run_cli("pipeline_orchestrator.py", "--synthesis-only", "--dataset", "test", "--anatomy", tvb76_dir,
                  "--output", out)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "test_sample_nmm.h5").is_file()
    return out, res


@pytest.fixture(scope="module")
def finished(finished_run):
    return finished_run[0]


def test_summary_names_the_files_and_the_verify_command(finished_run, tvb76_dir, tmp_path):
    out, res = finished_run
    lines = res.stdout.splitlines()
    tail = lines[lines.index("# Summary"):]
    source, pack = out / "test_sample_source1.mat", out / "test_sample_nmm.h5"
    assert (f"Files: test_sample_source1.mat ({format_bytes(source.stat().st_size)}, step 4: made in this run); "
            f"test_sample_nmm.h5 ({format_bytes(pack.stat().st_size)}, the clip pack the trainer reads: made in this "
            "run)") in tail
    counts = [int(loadmat(out / "nmm_spikes" / "clip_info" / "iter2" / f"iter_2_i_{r}.mat")["num_spike"].item())
              for r in range(76)]
    assert f"Clips: 0 made in this run; {sum(counts)} in nmm_spikes/ (76 of 76 regions done)" in tail
    empty = [r for r in range(76) if counts[r] == 0]
    assert f"Regions without clips: {len(empty)} of 76 done ({compact_ranges(empty)}): not failures" in "\n".join(tail)
    assert tail[-2] == "Next: check the dataset (add --qc for a figure):"
    command = shlex.split(tail[-1])
    assert command[-7:] == ["--verify", "--output", str(out), "--anatomy", "tvb76", "--dataset", "test"]
    dst = tmp_path / "source"
    shutil.copytree(out, dst)
    command[command.index(str(out))] = str(dst)
    check = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO,
                           env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_dir.parent)))
    assert check.returncode == 0 and "6 of 6 checks passed" in check.stdout, check.stdout + check.stderr


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
    assert "6 of 6 checks passed" in res.stdout
    png = copy / "qc_test.png"
    assert f"QC figure: {png}" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000


def test_qc_figure_says_what_it_shows(copy, tvb76_dir):
    """The figure itself: titles, units, labels, integer counts, patches told apart, the surface named."""
    import matplotlib.pyplot as plt
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.head.leadfields import template_leadfield
    from deepsif_pipeline.store.layout import Layout
    from deepsif_pipeline.cli.qc import build_figure
    # the markers of mean iteration 0 record the scaling, as step 2's do
    counts = np.array([int(loadmat(copy / "nmm_spikes" / "clip_info" / "iter2" / f"iter_2_i_{r}.mat")["num_spike"]
                           .item()) for r in range(76)])
    r = int(np.argmax(counts))
    for m in (0, 1, 2):
        savemat(copy / "nmm_spikes" / "clip_info" / f"iter{m}" / f"iter_{m}_i_{r}.mat",
                {"num_spike": float(counts[r]), "spike_time": np.zeros((1, 0)), "alpha": 12.5, "target_snr": 15.0})
    template = load_template(tvb76_dir)
    fig = build_figure(Layout(copy), template, template_leadfield(template), "test")
    try:
        axes = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
        titles = "\n".join(axes)
        source = next(ax for t, ax in axes.items() if t.startswith(f"clip nmm_1 of region {r} (mean iteration 0)"))
        assert "\u03b1 = 12.5 for 15 dB at the sensors" in source.get_title()
        assert "mV x \u03b1" in source.get_ylabel() and source.get_ylabel() != "y1 - y2 (mV)"
        assert [t.get_text() for t in source.get_legend().get_texts()][0] == f"region {r} (source)"
        # the clip's source peaks at 40 (write_step4_inputs): the trace is the clip's column, not rescaled
        assert max(source.get_lines()[0].get_ydata()) == pytest.approx(
            loadmat(copy / "nmm_spikes" / f"a{r}" / "nmm_1.mat")["data"][:, r].max())
        others = next(ax for t, ax in axes.items() if t.startswith("same clip: the 3 other regions"))
        assert others.get_ylabel() == "y1 - y2 (mV)" and "not scaled" in others.get_title()
        labels = [t.get_text() for t in others.get_legend().get_texts()]
        assert len(labels) == 3 and f"region {r}" not in labels and all(lb.startswith("region ") for lb in labels)
        peaks = next(ax for t, ax in axes.items() if t.startswith("peak of the source region per clip"))
        assert f"({counts.sum()} of {counts.sum()} clips" in peaks.get_title() and "mV x \u03b1" in peaks.get_xlabel()
        assert sum(p.get_height() for p in peaks.patches) == counts.sum()
        snr = axes["sensor SNR of the test examples (step 4)"]
        sensor_snr = loadmat(copy / "test_sample_source1.mat")["sensor_snr"].ravel()
        assert snr.get_xlabel() == "sensor SNR (dB)" and snr.get_ylabel() == "examples"
        assert sorted(p.get_height() for p in snr.patches) == sorted(np.unique(sensor_snr, return_counts=True)[1])
        per_region = axes[f"clips per region ({(counts == 0).sum()} of 76 regions without clips)"]
        assert [p.get_height() for p in per_region.patches] == list(np.bincount(counts))
        for ax in (per_region, snr, peaks):  # counts: integer ticks only
            ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)
        assert all(float(t).is_integer() for t in per_region.get_xticks())
        # the lead field the folder was made with: the first source's sensor map, each region's gain
        fwd = loadmat(tvb76_dir / "leadfield_63_16k.mat")["fwd"]
        meta = loadmat(copy / "test_sample_source1.mat")
        patch = meta["selected_region"][0, 0]
        patch = patch[patch != 15213].astype(int)  # (DeepSIF's padding)
        topo = next(ax for t, ax in axes.items() if t.startswith("example 1, source 1 (centre region"))
        assert "leadfield_63_16k.mat (63 sensors)" in topo.get_title()
        bars = [p.get_height() for p in topo.patches]  # the tvb76 file has no positions: one bar per sensor
        assert np.allclose(bars, fwd[:, patch] @ meta["mag_change"][0, 0][: len(patch)])
        gain = next(ax for t, ax in axes.items() if t.startswith("each region's gain in leadfield_63_16k.mat"))
        rm = loadmat(tvb76_dir / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
        assert np.allclose(gain.collections[1].get_array(), np.linalg.norm(fwd, axis=0)[rm])
        assert "clips per region on the folded cortex\n(from above)" in titles
        patches = next(ax for t, ax in axes.items() if t.startswith("3 source patches of step 4"))
        assert "on the folded cortex" in patches.get_title() and "inflated" not in titles
        legend = [t.get_text() for t in patches.get_legend().get_texts()]
        assert len(legend) == 3 and all(re.fullmatch(r"example \d+: centre region \d+, \d+ regions", t) for t in legend)
        colours = {tuple(np.round(c.get_facecolor()[0], 3)) for c in patches.collections[1:]}
        assert len(colours) == 3, "each patch has its own colour"
    finally:
        plt.close(fig)


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
    command = _fix_command(line)  # (run by tests/test_pipeline_orchestrator_resume.py on real clips)
    assert command[command.index("--regions") + 1] == victim.parent.name[1:] and "--redo" in command


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


def _fix_command(line):
    """The command a failed --verify row gives after "make it again with:" / "make them again with:"."""
    return shlex.split(re.split(r"make (?:it|them) again with: ", line, maxsplit=1)[1])


def _run_fix(command, tvb76_dir):
    return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO,
                          env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_dir.parent)))


@pytest.mark.parametrize("damage", ["cut short", "fails its checks"])
def test_damaged_step4_file_is_made_again_by_the_printed_command(copy, finished, tvb76_dir, damage):
    """A step-4 file cut short, or whole but naming clips its regions do not have: --verify prints the
    command with --redo, and that command makes the file again, the same as before."""
    path = copy / "test_sample_source1.mat"
    if damage == "cut short":
        path.write_bytes(path.read_bytes()[:5000])
        row = "synthetic source file"
    else:  # its fingerprint unchanged: only --verify's checks (and --redo, which runs them) see it
        meta = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        meta["random_samples"][0, 0] = 99
        savemat(path, meta)
        row = "synthetic source fields"
    line = _failed_line(_verify(copy, tvb76_dir), row)
    command = _fix_command(line)
    assert command[command.index("--output") + 1] == str(copy)
    assert "--synthesis-only" in command and "--redo" in command, command
    fixed = _run_fix(command, tvb76_dir)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    again = _verify(copy, tvb76_dir)
    assert again.returncode == 0 and "6 of 6 checks passed" in again.stdout, again.stdout
    made, before = loadmat(path), loadmat(finished / "test_sample_source1.mat")
    assert all(np.array_equal(made[k], before[k]) for k in ("selected_region", "nmm_idx", "random_samples",
                                                            "scale_ratio", "mag_change"))


def test_pack_row_that_differs_is_written_again_by_the_printed_command(copy, tvb76_dir):
    import h5py
    with h5py.File(copy / "test_sample_nmm.h5", "r+") as f:
        f["data"][0] = f["data"][0] + 1.0
    line = _failed_line(_verify(copy, tvb76_dir), "pack rows equal their clips")
    assert "pack row 0 differs" in line
    command = _fix_command(line)
    assert "--pack" in command and "--redo" in command, command
    fixed = _run_fix(command, tvb76_dir)
    assert fixed.returncode == 0 and "--redo: test_sample_nmm.h5 fails --verify's checks" in fixed.stdout, \
        fixed.stdout[-3000:] + fixed.stderr[-3000:]
    again = _verify(copy, tvb76_dir)
    assert again.returncode == 0 and "6 of 6 checks passed" in again.stdout, again.stdout


def test_flat_positions_put_the_vertex_in_the_middle_and_keep_angles():
    """The scalp map's layout: distance from the middle = angle from the top of the sensors' sphere."""
    from deepsif_pipeline.cli.qc import flat_positions
    theta = np.radians([0, 30, 60, 90, 90, 60, 45, 80])
    phi = np.radians([0, 0, 90, 180, 270, 45, 200, 300])
    points = np.c_[np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)] * 0.09 + [0.01, 0.02, 0.04]
    flat = flat_positions(points)
    assert np.allclose(np.linalg.norm(flat, axis=1), theta, atol=1e-9)
    azimuth = np.arctan2(flat[1:, 1], flat[1:, 0])
    assert np.allclose(np.exp(1j * azimuth), np.exp(1j * phi[1:]), atol=1e-9)
