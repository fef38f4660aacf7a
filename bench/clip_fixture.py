"""Synthetic spike clips for step-4 tests and benchmarks (not product code).

A clip is 500 x regions float32: a 12 mV spike-like bump with an after-trough
in the region's own column and a background only in the 5 regions farthest
from it, so a compressed file stays at a few tens of KB (real clips are
dense: about 4 MB each).
"""

import numpy as np
from scipy.io import savemat


def write_spike_clips(clip_dir, counts, all_dis):
    """Write ``clip_dir/a{r}/nmm_{k}.mat`` for k = 1..counts[r] of every region.

    Parameters
    ----------
    clip_dir : Path
        The ``nmm_{name}`` folder.
    counts : numpy.ndarray
        ``(n_regions,)`` clips per region.
    all_dis : numpy.ndarray
        ``(n_regions, n_regions)`` distances between region centres.
    """
    n = len(counts)
    t = np.arange(1, 501, dtype=float)
    far = np.argsort(all_dis, axis=1)[:, -5:]
    for r in range(n):
        (clip_dir / f"a{r}").mkdir(parents=True, exist_ok=True)
        for k in range(1, int(counts[r]) + 1):
            peak = 20 + (37 * r + 101 * k) % 460  # some peaks in the first 50 samples
            data = np.zeros((500, n), dtype=np.float32)
            data[:, r] = (12 * np.exp(-((t - peak) / 6) ** 2)
                          - 3 * np.exp(-((t - peak - 40) / 20) ** 2))
            waves = np.sin(2 * np.pi * np.outer(t, [2, 3, 5, 7, 11]) / 500 + r)
            data[:, far[r]] = waves * np.array([1.0, 0.8, 0.6, 0.4, 0.2])
            savemat(clip_dir / f"a{r}" / f"nmm_{k}.mat", {"data": data}, do_compression=True)
