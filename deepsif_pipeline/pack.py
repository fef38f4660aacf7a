"""Pack the clips a step-4 file uses into the HDF5 file DeepSIF's trainer reads.

DeepSIF's ``loaders.SpikeEEGBuild`` opens ``path[:-12] + '_nmm.h5'`` beside
the step-4 file (``train_sample_source1.mat`` -> ``train_sample_nmm.h5``)
and reads row ``nmm_idx[i, k]`` of its dataset ``data`` (clips, 500,
regions) as the clip of example i, source k. The row order is defined once,
in ``matlab/clip_row_index.m``; step 4 saves it as ``clip_rows`` ([region,
clip number] of every row), and the pack writes the rows in that order.
"""

import hashlib
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from .files import publish


class PackError(Exception):
    """The step-4 file or a clip cannot be packed (one-line message)."""


def pack_path(synthesis_file):
    """The HDF5 file the trainer looks for beside a step-4 file."""
    synthesis_file = Path(synthesis_file)
    return synthesis_file.with_name(synthesis_file.name[:-12] + "_nmm.h5")


def _rows_digest(rows):
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()


def pack_up_to_date(path, rows):
    """True when ``path`` holds exactly these rows (same order) and was completed."""
    import h5py
    if not Path(path).is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("clip_rows_sha256") == _rows_digest(rows) and f["data"].shape[0] == len(rows)
    except (OSError, KeyError):
        return False


def pack_clips(synthesis_file, clip_root, log=print, progress_every=1000, stop=None):
    """Write the ``_nmm.h5`` file of a step-4 file, one clip at a time.

    Memory stays at one clip whatever the number of rows: each clip file is
    read once and written to its row; the file is written under a temporary
    name and renamed when complete, so an interrupted pack leaves no file
    that could be mistaken for a finished one.

    Parameters
    ----------
    synthesis_file : Path
        ``{train|test}_sample_source1.mat`` with ``clip_rows``.
    clip_root : Path
        The ``nmm_{name}`` folder with ``a{r}/nmm_{n}.mat``.
    log : callable
    progress_every : int
        Rows between progress lines.
    stop : threading.Event or None
        When set, the pack stops at the next clip: PackError, no file.

    Returns
    -------
    Path
        The HDF5 file: dataset ``data``, float32, ``(n_rows, 500, n_regions)``,
        one clip per chunk.
    """
    import h5py
    synthesis_file, clip_root = Path(synthesis_file), Path(clip_root)
    try:
        rows = loadmat(str(synthesis_file), variable_names=["clip_rows"])["clip_rows"].astype(np.int64)
    except Exception as exc:
        raise PackError(f"cannot read clip_rows from {synthesis_file} ({exc}); run step 4 again") from None
    rows = rows.reshape(-1, 2)
    out = pack_path(synthesis_file)
    if pack_up_to_date(out, rows):
        log(f"{out} is up to date ({len(rows)} clips)")
        return out
    tmp = out.with_name(f".tmp_{out.name}")  # one name: a re-run after an interruption starts it afresh
    first = _load_clip(clip_root, *rows[0])
    try:
        with h5py.File(tmp, "w", track_order=False) as f:
            data = f.create_dataset("data", shape=(len(rows),) + first.shape, dtype="f4",
                                    chunks=(1,) + first.shape, track_times=False)
            for i, (region, n) in enumerate(rows):
                clip = first if i == 0 else _load_clip(clip_root, region, n)
                if clip.shape != first.shape:
                    raise PackError(f"clip {_clip_file(clip_root, region, n)} is {clip.shape}, "
                                    f"expected {first.shape}")
                data[i] = clip
                if stop is not None and stop.is_set():
                    raise PackError(f"interrupted after {i + 1} of {len(rows)} clips; nothing written")
                if (i + 1) % progress_every == 0:
                    log(f"  packed {i + 1} / {len(rows)} clips")
            f.attrs["clip_rows_sha256"] = _rows_digest(rows)
        publish(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    log(f"wrote {out}: {len(rows)} clips x {first.shape[0]} samples x {first.shape[1]} regions "
        f"({out.stat().st_size / 1e6:.1f} MB)")
    return out


def _clip_file(clip_root, region, n):
    return Path(clip_root) / f"a{int(region)}" / f"nmm_{int(n)}.mat"


def _load_clip(clip_root, region, n):
    path = _clip_file(clip_root, region, n)
    try:
        return loadmat(str(path), variable_names=["data"])["data"].astype(np.float32)
    except Exception as exc:
        raise PackError(f"cannot read clip {path} ({exc})") from None
