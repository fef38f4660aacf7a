"""Packing clips into the HDF5 file DeepSIF's trainer reads."""

import hashlib

import numpy as np
import pytest
from scipy.io import savemat

from deepsif_pipeline import pack
from deepsif_pipeline.pack import PackError, pack_clips, pack_path

ROWS = np.array([[0, 1], [0, 2], [2, 1], [2, 2], [2, 3]])  # as clip_row_index.m writes them


@pytest.fixture
def small(tmp_path):
    """Clips of 3 regions (2, 0 and 3 clips) and a step-4 file naming them in row order."""
    clips = tmp_path / "nmm_spikes"
    for region, n in ROWS:
        (clips / f"a{region}").mkdir(parents=True, exist_ok=True)
        data = np.full((500, 3), 10.0 * region + n) + np.arange(500)[:, None] / 1000.0
        savemat(clips / f"a{region}" / f"nmm_{n}.mat", {"data": data})
    synthesis = tmp_path / "test_sample_source1.mat"
    savemat(synthesis, {"clip_rows": ROWS.astype(float)})
    return synthesis, clips


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pack_name_follows_the_trainer():
    assert pack_path("/x/train_sample_source1.mat").name == "train_sample_nmm.h5"
    assert pack_path("/x/test_sample_source1.mat").name == "test_sample_nmm.h5"


def test_rows_are_the_named_clips_in_order(small):
    import h5py
    synthesis, clips = small
    out = pack_clips(synthesis, clips, log=lambda *_: None)
    with h5py.File(out, "r") as f:
        data = f["data"]
        assert data.shape == (5, 500, 3) and data.dtype == np.float32 and data.chunks == (1, 500, 3)
        for i, (region, n) in enumerate(ROWS):
            assert np.allclose(data[i], 10.0 * region + n + np.arange(500)[:, None] / 1000.0)


def test_up_to_date_pack_is_left_alone(small):
    synthesis, clips = small
    lines = []
    out = pack_clips(synthesis, clips, log=lines.append)
    stamp = out.stat().st_mtime_ns
    pack_clips(synthesis, clips, log=lines.append)
    assert "is up to date" in lines[-1] and out.stat().st_mtime_ns == stamp


def test_interrupted_pack_reruns_to_an_identical_file(small, tmp_path, monkeypatch):
    synthesis, clips = small
    reference = pack_clips(synthesis, clips, log=lambda *_: None)
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
        pack_clips(synthesis, clips, log=lambda *_: None)
    assert not reference.exists() and not list(tmp_path.glob(".tmp_*"))
    monkeypatch.setattr(pack, "_load_clip", real)
    # a process killed outright leaves its partial temporary file: the re-run starts it afresh
    (tmp_path / f".tmp_{reference.name}").write_bytes(b"partial")
    assert _sha(pack_clips(synthesis, clips, log=lambda *_: None)) == expected
    assert not list(tmp_path.glob(".tmp_*"))


def test_stop_event_ends_the_pack_without_a_file(small, tmp_path):
    import threading
    synthesis, clips = small
    stop = threading.Event()
    lines = []

    def log(text):
        lines.append(text)
        stop.set()  # asked to stop while packing clip 1: the pack ends after clip 2

    with pytest.raises(PackError, match="interrupted after 2 of 5 clips; nothing written"):
        pack_clips(synthesis, clips, log=log, progress_every=1, stop=stop)
    assert not pack_path(synthesis).exists() and not list(tmp_path.glob(".tmp_*"))


def test_missing_clip_is_named(small):
    synthesis, clips = small
    (clips / "a2" / "nmm_2.mat").unlink()
    with pytest.raises(PackError, match="a2/nmm_2.mat"):
        pack_clips(synthesis, clips, log=lambda *_: None)
    assert not pack_path(synthesis).exists()
