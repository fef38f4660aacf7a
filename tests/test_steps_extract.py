"""Step 2's rule of done (deepsif_pipeline/steps/extract.py): markers, their fingerprint, the clips they count."""

import numpy as np
import pytest
from scipy.io import savemat

from deepsif_pipeline import science
from deepsif_pipeline.store.fingerprint import canonical
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.results import Difference, State
from deepsif_pipeline.config.settings import Settings
from deepsif_pipeline.head.leadfields import template_leadfield
from deepsif_pipeline.steps import extract


@pytest.fixture(scope="session")
def template76(tvb76_dir):
    from deepsif_pipeline.head.anatomy import load_template
    return load_template(tvb76_dir)


def asked(template, **settings):
    return extract.fingerprint(Settings(**settings), template, template_leadfield(template))


def write_markers(lay, region, counts, fingerprint=None, seed=None):
    """Markers of ``region`` as step 2 writes them (``counts``: num_spike per mean iteration, None: absent)."""
    for m, n in zip(science.MEAN_ITERATIONS, counts):
        if n is None:
            continue
        lay.marker(m, region).parent.mkdir(parents=True, exist_ok=True)
        made = {"num_spike": float(n), "spike_time": np.zeros((1, 0)), "target_snr": 15.0,
                "seed": float(science.simulation_seed(science.DEFAULT_SEED if seed is None else seed, region, m))}
        if fingerprint is not None:
            made["fingerprint"] = canonical(fingerprint)
        savemat(lay.marker(m, region), made)


def write_clips(lay, region, n, n_regions=76):
    lay.clip_dir(region).mkdir(parents=True, exist_ok=True)
    for k in range(1, n + 1):
        savemat(lay.clip(region, k), {"data": np.full((500, n_regions), float(k))})


def test_done_needs_every_marker_and_the_clips_they_count(tmp_path, template76):
    lay, fp = Layout(tmp_path), asked(template76)
    verdict = extract.judge(lay, 0, fp)
    assert verdict.state is State.MISSING and verdict.todo == (0, 1, 2)
    write_markers(lay, 0, (1, 1, None), fp)
    verdict = extract.judge(lay, 0, fp)
    assert verdict.state is State.PARTIAL and verdict.todo == (2,)
    write_markers(lay, 0, (1, 1, 2), fp)
    verdict = extract.judge(lay, 0, fp)
    assert verdict.state is State.DAMAGED and "2 of 2 clip files missing" in verdict.detail
    assert extract.judge(lay, 0, fp, deep=False).current  # markers only
    write_clips(lay, 0, 2)
    verdict = extract.judge(lay, 0, fp)
    assert verdict.current and verdict.clips == 2 and not verdict.legacy


def test_a_damaged_marker_is_named_with_what_redo_deletes(tmp_path, template76):
    lay, fp = Layout(tmp_path), asked(template76)
    write_markers(lay, 0, (1, 1, 2), fp)
    write_clips(lay, 0, 2)
    lay.marker(1, 0).write_bytes(b"garbage")
    verdict = extract.judge(lay, 0, fp)
    assert verdict.state is State.DAMAGED
    assert f"marker {lay.marker(1, 0)} is damaged" in verdict.detail
    assert verdict.repair == (1, 2)  # mean iterations 1 and 2, clips after mean iteration 0's one
    assert "from mean iteration 1 on and its clips from nmm_2.mat on" in extract.repair_text(0, verdict)


def test_a_damaged_clip_is_named_with_its_mean_iteration(tmp_path, template76):
    lay, fp = Layout(tmp_path), asked(template76)
    write_markers(lay, 0, (1, 3, 4), fp)
    write_clips(lay, 0, 4)
    assert extract.judge(lay, 0, fp).current
    whole = lay.clip(0, 3).read_bytes()
    lay.clip(0, 3).write_bytes(whole[:len(whole) // 2])  # a copy that stopped half way
    verdict = extract.judge(lay, 0, fp)
    assert verdict.state is State.DAMAGED
    assert f"clip {lay.clip(0, 3)} is damaged (truncated" in verdict.detail
    assert verdict.repair == (1, 2)  # clip 3 is mean iteration 1's (clips 2-3)


def test_clip_content_is_read_only_when_asked(tmp_path, template76):
    """A whole file whose data is not finite: only the content check (--redo, --verify) sees it."""
    from scipy.io import savemat
    lay, fp = Layout(tmp_path), asked(template76)
    write_markers(lay, 0, (2, 2, 3), fp)
    write_clips(lay, 0, 3)
    savemat(lay.clip(0, 3), {"data": np.full((500, template76.n_regions), np.nan, dtype=np.float32)})
    assert extract.judge(lay, 0, fp).current
    verdict = extract.judge(lay, 0, fp, content=template76.n_regions)
    assert verdict.state is State.DAMAGED and "non-finite" in verdict.detail and verdict.repair == (2, 3)


def test_discard_from_deletes_the_damaged_mean_iteration_and_what_follows(tmp_path, template76):
    from deepsif_pipeline.steps import clean
    lay, fp = Layout(tmp_path), asked(template76)
    write_markers(lay, 0, (1, 3, 4), fp)
    write_clips(lay, 0, 5)  # clip 5: left by an interrupted step 2, counted by no marker
    assert [p.name for p in extract.uncounted_clips(lay, 0, 4)] == ["nmm_5.mat"]
    assert clean.discard_from(lay, 0, 1, 2) == 2 + 4
    assert [m for m in (0, 1, 2) if lay.marker(m, 0).is_file()] == [0]
    assert sorted(p.name for p in lay.clip_dir(0).iterdir()) == ["nmm_1.mat"]
    verdict = extract.judge(lay, 0, fp)
    assert verdict.state is State.PARTIAL and verdict.todo == (1, 2) and verdict.clips == 1


@pytest.mark.parametrize("setting,value,flag,shown", [
    ("seed", 5, "--seed", "5"), ("a_range", 3.6, "--a-range", "3.6"), ("sim_length", 3.0, "--sim-length", "3"),
    ("engine", "tvb", "--engine", "tvb"), ("target_snr", 10.0, "--target-snr", "10")])
def test_markers_made_with_other_settings_name_each_difference(tmp_path, template76, setting, value, flag, shown):
    lay = Layout(tmp_path)
    write_markers(lay, 4, (0, 1, 1), asked(template76, **{setting: value}))
    write_clips(lay, 4, 1)
    verdict = extract.judge(lay, 4, asked(template76))
    assert verdict.state is State.OTHER_SETTINGS
    default = getattr(Settings(), setting)
    assert verdict.differences == (Difference(flag, shown, f"{default:g}" if isinstance(default, float)
                                              else str(default)),)
    assert extract.judge(lay, 4, asked(template76, **{setting: value})).current


def test_piece_length_and_raw_rate_do_not_change_the_clips_fingerprint(template76):
    assert asked(template76) == asked(template76, piece_length=1.0, raw_rate="decimated")


def test_another_template_or_lead_field_is_a_difference(tmp_path, template76, anatomy_dir):
    from deepsif_pipeline.head.anatomy import load_template
    lay = Layout(tmp_path)
    write_markers(lay, 4, (0, 1, 1), asked(template76))
    verdict = extract.judge(lay, 4, asked(load_template(anatomy_dir)))
    assert verdict.state is State.OTHER_SETTINGS
    (diff,) = [d for d in verdict.differences if d.name.startswith("template")]
    assert "connectivity" in diff.name and "leadfield" in diff.name and "regions" in diff.name
    assert diff.recorded.startswith("tvb76") and str(anatomy_dir) in diff.asked


def test_markers_of_the_previous_version_are_taken_as_its_defaults(tmp_path, template76):
    """No fingerprint: version 0.1.0's defaults (sim_length 200, ...), the seed and target SNR they record."""
    lay = Layout(tmp_path)
    write_markers(lay, 2, (0, 0, 1))
    write_clips(lay, 2, 1)
    verdict = extract.judge(lay, 2, asked(template76))
    assert verdict.current and verdict.legacy
    verdict = extract.judge(lay, 2, asked(template76, sim_length=2.0))
    assert verdict.state is State.OTHER_SETTINGS and verdict.legacy
    assert [str(d) for d in verdict.differences] == ["--sim-length: recorded 200, asked 2"]
    verdict = extract.judge(lay, 2, asked(template76, seed=7))
    assert "--seed: recorded another (this marker's seed is" in str(verdict.differences[0])
    write_clips(lay, 2, 1, n_regions=994)  # clips of another template: the region count tells
    verdict = extract.judge(lay, 2, asked(template76))
    assert verdict.state is State.OTHER_SETTINGS and "regions" in verdict.differences[0].name


def test_clip_counts_of_every_region(tmp_path, template76):
    lay, fp = Layout(tmp_path), asked(template76)
    write_markers(lay, 1, (3, 4, 5), fp)
    write_markers(lay, 0, (None, None, 5), fp)  # region 0 lacks iterations 0 and 1
    write_markers(lay, 2, (1, 1, 1), asked(template76, seed=3))
    counts, others = extract.clip_counts(lay, 4, fp)
    assert counts.tolist() == [-1, 5, -1, -1]
    assert {r: v.state for r, v in others.items()} == {0: State.PARTIAL, 2: State.OTHER_SETTINGS, 3: State.MISSING}
    assert extract.clip_counts(lay, 4)[0].tolist() == [-1, 5, 1, -1]  # as recorded, whatever made them
