"""The pack (deepsif_pipeline/steps/pack.py): the clips of a step-4 file in the HDF5 file DeepSIF's trainer reads."""

import hashlib

import numpy as np
import pytest
from scipy.io import savemat

from deepsif_pipeline.store.files import temporary_name
from deepsif_pipeline.store.layout import Layout
from deepsif_pipeline.results import State
from deepsif_pipeline.steps import pack
from deepsif_pipeline.steps.pack import PackError, judge


def pack_clips(layout, **kw):
    return pack.pack_clips(layout, "test", **kw)

ROWS = np.array([[0, 1], [0, 2], [2, 1], [2, 2], [2, 3]])  # as clip_row_index.m writes them


@pytest.fixture
def small(tmp_path):
    """Clips of 3 regions (2, 0 and 3 clips) and a step-4 file naming them in row order."""
    layout = Layout(tmp_path)
    for region, n in ROWS:
        layout.clip_dir(region).mkdir(parents=True, exist_ok=True)
        data = np.full((500, 3), 10.0 * region + n) + np.arange(500)[:, None] / 1000.0
        savemat(layout.clip(region, n), {"data": data})
    savemat(layout.synthesis_file("test"), {"clip_rows": ROWS.astype(float), "fingerprint": '{"step":"synthesise"}'})
    return layout


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pack_name_follows_the_trainer(tmp_path):
    for dataset in ("train", "test"):
        synthesis = Layout(tmp_path).synthesis_file(dataset)
        assert Layout(tmp_path).pack_file(dataset) == synthesis.with_name(synthesis.name[:-12] + "_nmm.h5")


def test_rows_are_the_named_clips_in_order(small):
    import h5py
    out = pack_clips(small, log=lambda *_: None)
    with h5py.File(out, "r") as f:
        data = f["data"]
        assert data.shape == (5, 500, 3) and data.dtype == np.float32 and data.chunks == (1, 500, 3)
        for i, (region, n) in enumerate(ROWS):
            assert np.allclose(data[i], 10.0 * region + n + np.arange(500)[:, None] / 1000.0)


def test_up_to_date_pack_is_left_alone(small):
    lines = []
    assert judge(small, "test").state is State.MISSING
    out = pack_clips(small, log=lines.append)
    stamp = out.stat().st_mtime_ns
    assert judge(small, "test").current
    pack_clips(small, log=lines.append)
    assert "is up to date" in lines[-1] and out.stat().st_mtime_ns == stamp


def test_pack_of_another_step4_file_is_written_again(small):
    import h5py
    out = pack_clips(small, log=lambda *_: None)
    savemat(small.synthesis_file("test"), {"clip_rows": ROWS.astype(float), "fingerprint": '{"step":"other"}'})
    verdict = judge(small, "test")
    assert verdict.state is State.STALE and "another step-4 file" in verdict.detail
    pack_clips(small, log=lambda *_: None)
    assert judge(small, "test").current
    with h5py.File(out, "a") as f:  # a pack of an older version (rows digest only) is judged by its rows
        del f.attrs["fingerprint"]
    verdict = judge(small, "test")
    assert verdict.current and verdict.legacy
    savemat(small.synthesis_file("test"), {"clip_rows": ROWS[:4].astype(float)})
    assert judge(small, "test").state is State.STALE


def test_interrupted_pack_reruns_to_an_identical_file(small, tmp_path, monkeypatch):
    reference = pack_clips(small, log=lambda *_: None)
    expected = _sha(reference)
    reference.unlink()

    real = pack._load_clip
    calls = []

    def dies_on_third(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(pack, "_load_clip", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        pack_clips(small, log=lambda *_: None)
    assert not reference.exists() and not list(tmp_path.glob(".tmp_*"))
    monkeypatch.setattr(pack, "_load_clip", real)
    # a process killed outright leaves its partial temporary file: the re-run starts it afresh
    temporary_name(reference, "pack").write_bytes(b"partial")
    assert _sha(pack_clips(small, log=lambda *_: None)) == expected
    assert not list(tmp_path.glob(".tmp_*"))


def test_stop_event_ends_the_pack_without_a_file(small, tmp_path):
    import threading
    stop = threading.Event()
    lines = []

    def log(text):
        lines.append(text)
        stop.set()  # asked to stop while packing clip 1: the pack ends after clip 2

    with pytest.raises(PackError, match="interrupted after 2 of 5 clips; nothing written"):
        pack_clips(small, log=log, progress_every=1, stop=stop)
    assert not small.pack_file("test").exists() and not list(tmp_path.glob(".tmp_*"))


def test_missing_clip_is_named(small):
    small.clip(2, 2).unlink()
    with pytest.raises(PackError, match="a2/nmm_2.mat"):
        pack_clips(small, log=lambda *_: None)
    assert not small.pack_file("test").exists()
