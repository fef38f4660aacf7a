"""Synthetic spike clips for step-4 tests and benchmarks (not product code).

A clip is 500 x regions: a 12 mV spike-like bump with an after-trough in
the region's own column and a background only in the 5 regions farthest
from it. Two forms:

- compact (tests): float32, compressed, a few tens of KB per file;
- as step 2 writes them (benchmarks): float32 ``data``, uncompressed (MAT
  v6), with ``proj`` (float64) and ``proj_leadfield``, about 2.3 MB per
  file (4.3 MB with the float64 data of earlier versions). To fit on
  a disk, only ``distinct`` files per region are written and the other
  clip numbers are hard links to them: every clip path is read, but the
  bytes come from the page cache (the benchmark measures computation, not
  disk reads).
"""

import os

import numpy as np
from scipy.io import loadmat, savemat


def spike_clip(r, k, n_regions, far):
    """Clip ``k`` of region ``r``: ``(500, n_regions)`` float32.

    ``far`` is ``(n_regions, 5)``: the 5 regions carrying background for each region.
    """
    t = np.arange(1, 501, dtype=float)
    peak = 20 + (37 * r + 101 * k) % 460  # some peaks in the first 50 samples
    data = np.zeros((500, n_regions), dtype=np.float32)
    data[:, r] = (12 * np.exp(-((t - peak) / 6) ** 2)
                  - 3 * np.exp(-((t - peak - 40) / 20) ** 2))
    waves = np.sin(2 * np.pi * np.outer(t, [2, 3, 5, 7, 11]) / 500 + r)
    data[:, far[r]] = waves * np.array([1.0, 0.8, 0.6, 0.4, 0.2])
    return data


def write_spike_clips(clip_dir, counts, distances, leadfield=None, distinct=None):
    """Write ``clip_dir/a{r}/nmm_{k}.mat`` for k = 1..counts[r] of every region.

    Parameters
    ----------
    clip_dir : Path
        The ``nmm_{name}`` folder.
    counts : numpy.ndarray
        ``(n_regions,)`` clips per region.
    distances : numpy.ndarray
        ``(n_regions, n_regions)`` distances between region centres (``raw_dis_matrix``).
    leadfield : Path or None
        Lead field file (``fwd``, ``(n_sensors, n_regions)``). When given,
        the clips are written as step 2 writes them (see the module help).
    distinct : int or None
        With ``leadfield``: distinct files per region, the rest hard links.
    """
    n = len(counts)
    far = np.argsort(distances, axis=1)[:, -5:]
    fwd = lf_id = None
    if leadfield is not None:
        from deepsif_pipeline.head.anatomy import leadfield_id
        fwd = loadmat(str(leadfield))["fwd"].astype(float)
        lf_id = leadfield_id(leadfield)
    for r in range(n):
        folder = clip_dir / f"a{r}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(1, int(counts[r]) + 1):
            path = folder / f"nmm_{k}.mat"
            if fwd is None:
                savemat(path, {"data": spike_clip(r, k, n, far)}, do_compression=True)
            elif distinct and k > distinct:
                os.link(folder / f"nmm_{(k - 1) % distinct + 1}.mat", path)
            else:
                data = spike_clip(r, k, n, far)
                savemat(path, {"data": data, "proj": fwd @ data.astype(float).T, "proj_leadfield": lf_id})
