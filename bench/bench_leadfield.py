#!/usr/bin/env python3
"""Lead fields made for --sensors against the references on disk (issue 21's checks).

What is compared
----------------
Each lead field is made as ``pipeline_orchestrator.py --sensors`` makes it
(``deepsif_pipeline/sensors.py``: MNE's 4-layer sphere fitted to the
sensors, the template's cortex in their frame, every vertex kept, gains
along the cortex normals summed per region, average reference) and
compared, region by region, with a reference lead field of the same
sensors: the correlation across sensors of each region's column (both
average-referenced). Printed: the median and the 10th percentile over the
regions, and the vertices pulled inside the sphere's brain layer.

1. ``tvb76`` with tvb-data's 65 Brainstorm EEG sensors
   (``sensors/eeg_brainstorm_65.txt``), against Brainstorm's projection
   (``projectionMatrix/projection_eeg_65_surface_16k.npy``, the 63 rows
   without NaN) summed per region: the built-in template's own lead field.
   The cortex is placed by sphere fits (``align_by_spheres``).
2. ``tvb76`` with MNE's ``fsaverage_1005`` positions of the same labels
   (the 57 of the 63 that montage has), turned from MNE's head frame into
   tvb-data's axes: this checks the frame assumed for a standard montage
   on tvb76.
3. DeepSIF's template (``--anatomy``) with MNE's ``fsaverage_1005``
   positions of ``electrode_75.mat``'s labels (72 of 75) and MNE's
   fsaverage transform, against DeepSIF's ``leadfield_75_20k.mat``; and,
   as a diagnostic, ``electrode_75.mat``'s own coordinates taken as given
   (EEGLAB's axes read as MNE's) and turned from EEGLAB's axes (x nose,
   y left) into MNE's (x right, y nose).

The figure (``--figure``, PNG): for each comparison the histogram of the
per-region correlations, and for one region (the median one) the two
topographies side by side.

Run::

    .venv/bin/python bench/bench_leadfield.py --anatomy ../shared/anatomy/deepsif --figure leadfields.png
"""

import argparse
import os
from pathlib import Path
import sys
import time
import warnings

import numpy as np
from scipy.io import loadmat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deepsif_pipeline import sensors  # noqa: E402


def correlations(made, reference):
    """Per-region correlation across sensors of two ``(n_sensors, n_regions)`` lead fields, average-referenced."""
    a, b = sensors.average_reference(made), sensors.average_reference(reference)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


def eeg_info(names, positions):
    """An MNE Info of EEG sensors at ``positions`` (metres, MNE's head frame)."""
    import mne
    info = mne.create_info(list(names), 1000.0, "eeg")
    info.set_montage(mne.channels.make_dig_montage(dict(zip(names, positions)), coord_frame="head"))
    return info


def by_label(names, montage="fsaverage_1005"):
    """MNE's positions (head frame) of the labels a montage has: ``(kept indices, positions)``."""
    import mne
    m = mne.channels.make_standard_montage(montage)
    keep = [i for i, n in enumerate(names) if n in m.ch_names]
    info = mne.create_info([names[i] for i in keep], 1000.0, "eeg")
    info.set_montage(m)
    return keep, sensors.sensor_positions(info)


def lead_field(cortex_pos, cortex_ori, rm, n_regions, names, positions):
    """A region lead field (sensors x regions) for cortex positions already in the sensors' frame."""
    sphere = sensors.sphere_model(positions)
    placed, moved, farthest = sensors.pull_inside(cortex_pos, sphere)
    fixed = sensors.vertex_gain(eeg_info(names, positions), placed, cortex_ori, sphere)
    return sensors.sum_regions(fixed, rm, n_regions), moved, farthest


def tvb76_cases():
    import tvb_data
    from deepsif_pipeline.builtin import resolve_template
    template = resolve_template("tvb76", log=lambda *a: None)
    cortex = loadmat(template.path("fs_cortex_20k.mat"))
    pos, ori = cortex["pos"] / 1000.0, cortex["ori"]
    rm = loadmat(template.path("fs_cortex_20k_region_mapping.mat"))["rm"].ravel().astype(int)
    root = Path(os.path.dirname(tvb_data.__file__))
    table = root / "sensors" / "eeg_brainstorm_65.txt"
    names = list(np.loadtxt(table, usecols=0, dtype=str))
    positions = np.loadtxt(table, usecols=(1, 2, 3)) / 1000.0
    projection = np.load(root / "projectionMatrix" / "projection_eeg_65_surface_16k.npy")
    good = np.flatnonzero(np.all(np.isfinite(projection), axis=1))
    reference = sensors.sum_regions(projection[good], rm, 76)
    names, positions = [names[i] for i in good], positions[good]
    shift = sensors.align_by_spheres(pos, positions)
    made, moved, farthest = lead_field(pos + shift, ori, rm, 76, names, positions)
    yield ("tvb76, tvb-data's 65 EEG sensors vs Brainstorm", made, reference, moved, farthest,
           f"cortex moved by ({', '.join(f'{1000 * v:.1f}' for v in shift)}) mm (sphere fits)",
           eeg_info(names, positions))
    keep, mne_positions = by_label(names)
    rotated = mne_positions @ sensors.SCS_TO_RAS  # MNE's head frame into tvb-data's axes (inverse rotation)
    shift = sensors.align_by_spheres(pos, rotated)
    made, moved, farthest = lead_field(pos + shift, ori, rm, 76, [names[i] for i in keep], rotated)
    yield (f"tvb76, MNE fsaverage_1005 positions of {len(keep)} of those labels", made, reference[keep], moved,
           farthest, "MNE's head frame turned into tvb-data's axes, cortex placed by sphere fits",
           eeg_info([names[i] for i in keep], mne_positions))


def deepsif_cases(anatomy):
    import mne
    anatomy = Path(anatomy)
    cortex = loadmat(anatomy / "fs_cortex_20k.mat")
    pos, ori = cortex["pos"] / 1000.0, cortex["ori"]
    rm = loadmat(anatomy / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    reference = loadmat(anatomy / "leadfield_75_20k.mat")["fwd"]
    n = reference.shape[1]
    e = loadmat(anatomy / "electrode_75.mat", squeeze_me=True)["eloc75"]
    names = [str(x["labels"]) for x in e]
    eeglab = np.array([[float(x["X"]), float(x["Y"]), float(x["Z"])] for x in e]) / 1000.0
    keep, positions = by_label(names)
    trans = Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-trans.fif"
    to_head = mne.transforms.invert_transform(mne.read_trans(trans))
    head_pos = mne.transforms.apply_trans(to_head, pos)
    head_ori = mne.transforms.apply_trans(to_head, ori, move=False)
    made, moved, farthest = lead_field(head_pos, head_ori, rm, n, [names[i] for i in keep], positions)
    yield (f"DeepSIF, MNE fsaverage_1005 positions of {len(keep)} electrode_75 labels vs leadfield_75_20k", made,
           reference[keep], moved, farthest, "MNE's fsaverage transform (as --sensors does)",
           eeg_info([names[i] for i in keep], positions))
    for label, xyz in (("as given", eeglab), ("EEGLAB axes turned into MNE's", np.c_[-eeglab[:, 1], eeglab[:, 0],
                                                                                      eeglab[:, 2]])):
        shift = sensors.align_by_spheres(pos, xyz)
        made, moved, farthest = lead_field(pos + shift, ori, rm, n, names, xyz)
        yield (f"DeepSIF, electrode_75.mat coordinates {label}, vs leadfield_75_20k", made, reference, moved,
               farthest, "cortex placed by sphere fits (diagnostic)", eeg_info(names, xyz))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--anatomy", help="DeepSIF's template folder (cases 3); without it only tvb76 runs")
    p.add_argument("--figure", type=Path, help="write the figure here (PNG)")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    cases = list(tvb76_cases()) + (list(deepsif_cases(args.anatomy)) if args.anatomy else [])
    rows = []
    for title, made, reference, moved, farthest, how, info in cases:
        corr = correlations(made, reference)
        rows.append((title, corr, made, reference, info))
        print(f"{title}:\n  median {np.median(corr):.3f}, 10th percentile {np.percentile(corr, 10):.3f} over "
              f"{corr.size} regions; {moved} vertices pulled inside (at most {1000 * farthest:.1f} mm); {how}",
              flush=True)
    if args.figure:
        figure(rows, args.figure)
        print(f"figure: {args.figure}")


def figure(rows, path):
    """Per comparison: the histogram of the per-region correlations, and the median region's two topographies."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mne
    fig, axes = plt.subplots(len(rows), 3, figsize=(11, 3.4 * len(rows)), squeeze=False)
    for (title, corr, made, reference, info), (hist, left, right) in zip(rows, axes):
        hist.hist(corr, bins=40, range=(-1, 1), color="0.3")
        hist.axvline(np.median(corr), color="C3")
        hist.set_title(f"{title}\nmedian {np.median(corr):.3f}", fontsize=7)
        hist.set_xlabel("per-region correlation across sensors")
        r = int(np.argsort(corr)[corr.size // 2])
        for ax, values, name in ((left, made[:, r], "made (MNE sphere)"), (right, reference[:, r], "reference")):
            values = sensors.average_reference(values[:, None])[:, 0]
            mne.viz.plot_topomap(values, info, axes=ax, show=False, contours=0)
            ax.set_title(f"region {r}, {name}; r = {corr[r]:.2f}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"{time.time() - t0:.0f} s")
