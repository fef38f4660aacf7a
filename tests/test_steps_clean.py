"""Step 3, clean: what a killed writer leaves of one region is swept, nothing of another region."""

from deepsif_pipeline.store.files import temporary_name
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.steps import clean


def test_sweep_takes_one_regions_temporaries_and_keeps_the_rest(tmp_path):
    lay = Layout(tmp_path)
    mine = [temporary_name(lay.marker(1, 3), 11), temporary_name(lay.failure_record(3), 12),
            temporary_name(lay.step2_job(3), 13), temporary_name(lay.clip(3, 0), 14), lay.step2_job(3)]
    others = [temporary_name(lay.marker(1, 30), 21), temporary_name(lay.failure_record(30), 22),
              temporary_name(lay.step2_job(31), 23), lay.failure_record(3), lay.marker(1, 3)]
    for path in mine + others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert sorted(clean.sweep(lay, 3)) == sorted(mine)
    assert all(p.exists() for p in others) and not any(p.exists() for p in mine)
