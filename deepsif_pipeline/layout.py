"""Where every file of a run lives, and what is on disk for a region.

The output tree follows DeepSIF's (``../source`` in a DeepSIF checkout)::

    OUTPUT/raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_{k}.mat   step 1, deleted by step 3
    OUTPUT/nmm_{name}/a{r}/nmm_{n}.mat                      step 2 clips
    OUTPUT/nmm_{name}/clip_info/iter{m}/iter_{m}_i_{r}.mat  step 2 markers (written last)
    OUTPUT/{train|test}_sample_source1.mat                  step 4
    OUTPUT/logs/                                            MATLAB/Octave logs per region
    OUTPUT/logs/runs.log                                    every run: start, settings, versions, results
    OUTPUT/logs/region_{r}.failed                           why the region's last attempt failed
    OUTPUT/derived/                                         derived template data (distances)

Skip and redo decisions are made from these files alone.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from .files import mat_file_problem
from .science import MEAN_ITERATIONS

DEFAULT_TEMPLATE = "tvb76"  # built-in template used when no anatomy folder is given or found


class MarkerError(Exception):
    """A marker file exists but cannot be read (one-line message)."""


@dataclass(frozen=True)
class Layout:
    """Paths of one output folder and clip set name."""

    output: Path
    filename: str = "spikes"

    @property
    def raw_root(self):
        return self.output / "raw_nmm"

    def raw_dir(self, region):
        return self.raw_root / f"a{region}"

    @staticmethod
    def piece_name(region, mean_iteration, piece, n_pieces):
        """Raw file name; the piece number is zero-padded so names sort in time order."""
        width = len(str(max(n_pieces - 1, 0)))
        return f"mean_iter_{mean_iteration}_a_iter_{region}_{piece:0{width}d}.mat"

    @property
    def clip_root(self):
        return self.output / f"nmm_{self.filename}"

    def clip_dir(self, region):
        return self.clip_root / f"a{region}"

    def clip(self, region, n):
        """Clip ``n`` (1-based) of a region."""
        return self.clip_dir(region) / f"nmm_{n}.mat"

    def marker(self, mean_iteration, region):
        return (self.clip_root / "clip_info" / f"iter{mean_iteration}"
                / f"iter_{mean_iteration}_i_{region}.mat")

    def synthesis_file(self, dataset):
        return self.output / f"{dataset}_sample_source1.mat"

    @property
    def log_dir(self):
        return self.output / "logs"

    def region_log(self, region):
        return self.log_dir / f"region_{region}.log"

    def failure_record(self, region):
        """``logs/region_{r}.failed``: why the region's last attempt failed (removed once it is done)."""
        return self.log_dir / f"region_{region}.failed"

    @property
    def run_log(self):
        """``logs/runs.log``: one timestamped line per event of every run on this folder."""
        return self.log_dir / "runs.log"

    @property
    def derived_dir(self):
        return self.output / "derived"

    @property
    def claim_dir(self):
        """``OUTPUT/claims/``: one ``{name}.claim`` per region being processed (see ``claims``)."""
        return self.output / "claims"


def read_marker(path):
    """Clips recorded so far for a region by one marker (``num_spike``).

    Raises
    ------
    MarkerError
        The file exists but is not a readable marker.
    """
    problem = mat_file_problem(path)
    try:
        if problem is None:
            return int(np.asarray(loadmat(str(path), variable_names=["num_spike"])["num_spike"]).ravel()[0])
    except Exception as exc:
        problem = str(exc)
    raise MarkerError(f"marker {path} is damaged ({problem}); delete it and re-run to redo that "
                      "mean iteration of the region (same seed, same clips)")


def marker_counts(layout, region, iterations=MEAN_ITERATIONS):
    """Recorded clip count per mean iteration, None where the marker is absent.

    Returns
    -------
    dict
        ``{mean_iteration: num_spike or None}``.
    """
    out = {}
    for m in iterations:
        path = layout.marker(m, region)
        out[m] = read_marker(path) if path.is_file() else None
    return out


def region_done(layout, region, iterations=MEAN_ITERATIONS):
    """True when the region has a marker for every mean iteration."""
    return all(layout.marker(m, region).is_file() for m in iterations)


def missing_clips(layout, region, iterations=MEAN_ITERATIONS):
    """Why the region's step-2 output is not complete, or an empty list.

    Complete means a marker for every mean iteration and every clip file
    ``nmm_1 .. nmm_{num_spike}`` the last marker counts on disk, each a
    whole MAT-file (:func:`files.mat_file_problem`: headers only, cheap).
    Only then may the raw data be deleted, or the region be skipped.

    Returns
    -------
    list of str
        Human-readable problems (missing markers, missing clip files).
    """
    try:
        counts = marker_counts(layout, region, iterations)
    except MarkerError as exc:
        return [str(exc)]
    problems = [f"no marker {layout.marker(m, region)}" for m, c in counts.items() if c is None]
    if problems:
        return problems
    total = counts[iterations[-1]]
    absent = [n for n in range(1, total + 1) if not layout.clip(region, n).is_file()]
    if absent:
        problems.append(f"{len(absent)} of {total} clip files missing in {layout.clip_dir(region)} "
                        f"(first: nmm_{absent[0]}.mat)")
    for n in range(1, total + 1):
        problem = None if n in absent else mat_file_problem(layout.clip(region, n))
        if problem:
            m = next(m for m in iterations if counts[m] >= n)
            problems.append(f"clip {layout.clip(region, n)} is damaged ({problem}): delete it and the marker "
                            f"{layout.marker(m, region)}, then re-run to make mean iteration {m} of region "
                            f"{region} again (same seed, same clips)")
            break
    return problems


def clip_counts(layout, n_regions, iterations=MEAN_ITERATIONS):
    """Clips of every region from the markers of its last mean iteration.

    Returns
    -------
    counts : numpy.ndarray
        ``(n_regions,)`` clip counts, -1 where the region is not done.
    """
    counts = np.full(n_regions, -1, dtype=int)
    last = iterations[-1]
    folder = layout.marker(last, 0).parent
    present = {p.name for p in folder.glob("*.mat")} if folder.is_dir() else set()
    for r in range(n_regions):
        if layout.marker(last, r).name in present and region_done(layout, r, iterations):
            counts[r] = read_marker(layout.marker(last, r))
    return counts


def compact_ranges(values):
    """``[0, 1, 2, 5, 7, 8]`` -> ``'0-2, 5, 7-8'``."""
    values = sorted(int(v) for v in values)
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(parts)


def resolve_locations(anatomy=None, output=None, cwd=None):
    """The anatomy and output folders of a run.

    With neither given and a ``../anatomy`` folder present (the script sits
    in a DeepSIF checkout's ``forward/`` folder), DeepSIF's own
    ``../anatomy`` and ``../source`` are used. Otherwise the anatomy
    defaults to the built-in template and the output to ``./source``.

    Returns
    -------
    anatomy : Path or str
        A folder, or the name of a built-in template (kept as given when
        it is not an existing folder).
    output : Path
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    deepsif = cwd.parent / "anatomy"
    if anatomy is None and deepsif.is_dir():
        return deepsif.resolve(), (Path(output) if output else cwd.parent / "source").resolve()
    out = (Path(output) if output else cwd / "source").expanduser().resolve()
    if anatomy is None:
        return DEFAULT_TEMPLATE, out
    if not Path(anatomy).expanduser().exists() and "/" not in str(anatomy):
        return str(anatomy), out  # a template name (or a missing folder: load_template says so)
    return Path(anatomy).expanduser().resolve(), out
