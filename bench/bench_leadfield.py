#!/usr/bin/env python3
"""Lead fields made for --sensors against the references on disk (issue 21's checks).

What is compared
----------------
Each lead field is made as ``pipeline_orchestrator.py --sensors`` makes it
(``deepsif_pipeline/head/leadfields/``: MNE's 4-layer sphere fitted to the
sensors, the template's cortex in their frame, every vertex kept, gains
along the cortex normals summed per region, average reference) and
compared, region by region, with a reference lead field of the same
sensors: the correlation across sensors of each region's column (both
average-referenced; a Pearson correlation, so the reference changes
nothing, and MEG is compared alike). Printed: the median and the 10th
percentile over the regions, and the vertices pulled inside the sphere's
brain layer.

1. ``tvb76`` with tvb-data's 65 Brainstorm EEG sensors
   (``sensors/eeg_brainstorm_65.txt``), against Brainstorm's projection
   (``projectionMatrix/projection_eeg_65_surface_16k.npy``, the 63 rows
   without NaN) summed per region: the built-in template's own lead field.
   The cortex is placed by sphere fits (``align_by_spheres``).
2. ``tvb76`` with MNE's ``fsaverage_1005`` positions of the same labels
   (the 57 of the 63 that montage has), turned from MNE's head frame into
   tvb-data's axes: this checks the frame assumed for a standard montage
   on tvb76.
3. ``tvb76`` with tvb-data's MEG sensors (``sensors/meg_brainstorm_276.txt``:
   the 248 magnetometers ``A1``-``A248`` of a 4D Magnes 3600 WH with
   values in ``projectionMatrix/projection_meg_276_surface_16k.npy``; the
   28 others are reference coils and other channels, NaN there), against
   that projection summed per region. Same frame handling as case 1 (both
   files are Brainstorm's for one head): the cortex and the head's sphere
   from the 63 EEG sensors, point-like 4D magnetometers (MNE's coil 4001)
   at the file's positions and orientations. The file does not hold the
   sensors' positions (its three "coordinates" of a sensor are one
   coordinate of three of its coil's integration points, its three
   "orientation" components one component repeated): the numbers that
   show it are printed, and the comparison is a diagnostic.
4. DeepSIF's template (``--anatomy``) with MNE's ``fsaverage_1005``
   positions of ``electrode_75.mat``'s labels (72 of 75) and MNE's
   fsaverage transform, against DeepSIF's ``leadfield_75_20k.mat``, with
   the normals in the axes of the cortex's positions (:func:`deepsif_dipoles`:
   the file stores them in Brainstorm's axes), as ``--sensors`` does; the
   same with ``ori`` as stored read in ``pos``'s axes, and the other turns,
   for comparison; and,
   as a diagnostic, ``electrode_75.mat``'s own coordinates taken as given
   (EEGLAB's axes read as MNE's) and turned from EEGLAB's axes (x nose,
   y left) into MNE's (x right, y nose).

5. With ``--bem``: the pipeline's ``--bem`` path (``bem.bem_vertex_gain``)
   on DeepSIF's template with a 3-layer BEM made from the two fsaverage
   surfaces MNE ships (:func:`shipped_fsaverage_bem`), with the normals and
   with ``ori`` as stored, against ``leadfield_75_20k.mat`` (2-3 min more;
   drawn too with ``--figure``).

The figure (``--figure``, PNG): for each comparison the histogram of the
per-region correlations, and for one region (the median one) the two
topographies side by side.

Run::

    .venv/bin/python bench/bench_leadfield.py --anatomy ../shared/anatomy/deepsif --figure docs/leadfields.png
"""

import argparse
import os
from pathlib import Path
import sys
import textwrap
import time
import warnings

import numpy as np
from scipy.io import loadmat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deepsif_pipeline.head import recipe
from deepsif_pipeline.head.leadfields import bem, eeglab, geometry, sensors, sphere  # noqa: E402


def correlations(made, reference):
    """Per-region correlation across sensors of two ``(n_sensors, n_regions)`` lead fields, average-referenced."""
    a, b = recipe.average_reference(made), recipe.average_reference(reference)
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
    model = sphere.sphere_model(positions)
    placed, moved, farthest = sphere.pull_inside(cortex_pos, model)
    fixed = sphere.vertex_gain(eeg_info(names, positions), placed, cortex_ori, model)
    return recipe.sum_regions(fixed, rm, n_regions), moved, farthest


def tvb76_cases():
    import tvb_data
    from deepsif_pipeline.head.builtin import resolve_template
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
    reference = recipe.sum_regions(projection[good], rm, 76)
    names, positions = [names[i] for i in good], positions[good]
    shift = geometry.align_by_spheres(pos, positions)
    made, moved, farthest = lead_field(pos + shift, ori, rm, 76, names, positions)
    yield ("tvb76, tvb-data's 65 EEG sensors vs Brainstorm", made, reference, moved, farthest,
           f"cortex moved by ({', '.join(f'{1000 * v:.1f}' for v in shift)}) mm (sphere fits)",
           eeg_info(names, positions))
    keep, mne_positions = by_label(names)
    rotated = mne_positions @ geometry.SCS_TO_RAS  # MNE's head frame into tvb-data's axes (inverse rotation)
    shift = geometry.align_by_spheres(pos, rotated)
    made, moved, farthest = lead_field(pos + shift, ori, rm, 76, [names[i] for i in keep], rotated)
    yield (f"tvb76, MNE fsaverage_1005 positions of {len(keep)} of those labels", made, reference[keep], moved,
           farthest, "MNE's head frame turned into tvb-data's axes, cortex placed by sphere fits",
           eeg_info([names[i] for i in keep], mne_positions))


def meg_file_diagnosis(values):
    """Why tvb-data's ``meg_brainstorm_276.txt`` rows are not sensor positions and orientations, in numbers.

    Parameters
    ----------
    values : array, shape (n_sensors, 6)
        Its columns 2-7 (mm, then unit-less) for the magnetometers.

    Returns
    -------
    numbers : dict
    text : str
        For the printed table.
    """
    xyz, ori = values[:, :3], values[:, 3:]
    spread = xyz.max(axis=1) - xyz.min(axis=1)  # mm between a sensor's three "coordinates"
    across = xyz[:, 0].max() - xyz[:, 0].min()
    equal = bool(np.all(ori[:, 0] == ori[:, 1]) and np.all(ori[:, 0] == ori[:, 2]))
    # a coil of normal n: its integration points differ in x by at most its size x sqrt(1 - n_x^2)
    with_normal = float(np.corrcoef(spread, np.sqrt(np.clip(1 - ori[:, 0] ** 2, 0, 1)))[0, 1])
    _, radius = geometry.fit_sphere(xyz / 1000.0)
    numbers = {"median_spread_mm": float(np.median(spread)), "max_spread_mm": float(spread.max()),
               "extent_mm": float(across), "column_corr": float(np.corrcoef(xyz[:, 0], xyz[:, 1])[0, 1]),
               "sphere_radius_m": radius, "orientation_components_equal": equal, "spread_vs_normal": with_normal}
    text = (f"the file's 3 coordinates of a sensor differ by {numbers['median_spread_mm']:.1f} mm (median; at most "
            f"{numbers['max_spread_mm']:.1f}) while sensors span {across:.0f} mm, columns 1 and 2 correlate "
            f"{numbers['column_corr']:.4f}, the sphere through them has a radius of {radius:.2f} m; the 3 orientation "
            f"components are {'equal in every row' if equal else 'not all equal'}; the spread follows "
            f"sqrt(1 - o^2) (r = {with_normal:.2f}): each row holds the x of 3 of a coil's integration points and "
            "the x of its normal, not a position and an orientation")
    return numbers, text


def tvb76_meg_case():
    """tvb76 with tvb-data's 248 MEG magnetometers as given, against Brainstorm's MEG projection (a diagnostic)."""
    import mne
    import tvb_data
    from mne.io.constants import FIFF
    from deepsif_pipeline.head.builtin import resolve_template
    template = resolve_template("tvb76", log=lambda *a: None)
    cortex = loadmat(template.path("fs_cortex_20k.mat"))
    pos, ori = cortex["pos"] / 1000.0, cortex["ori"] / np.linalg.norm(cortex["ori"], axis=1, keepdims=True)
    rm = loadmat(template.path("fs_cortex_20k_region_mapping.mat"))["rm"].ravel().astype(int)
    root = Path(os.path.dirname(tvb_data.__file__))
    table = root / "sensors" / "meg_brainstorm_276.txt"
    names = list(np.loadtxt(table, usecols=0, dtype=str))
    values = np.loadtxt(table, usecols=range(1, 7))
    projection = np.load(root / "projectionMatrix" / "projection_meg_276_surface_16k.npy")
    good = np.flatnonzero(np.all(np.isfinite(projection), axis=1))
    reference = recipe.sum_regions(projection[good], rm, 76)
    _, diagnosis = meg_file_diagnosis(values[good])
    # the head as in case 1: the sphere through the 63 EEG sensors, the cortex placed under them
    eeg = np.loadtxt(root / "sensors" / "eeg_brainstorm_65.txt", usecols=(1, 2, 3)) / 1000.0
    eeg = eeg[np.all(np.isfinite(np.load(root / "projectionMatrix" / "projection_eeg_65_surface_16k.npy")), axis=1)]
    model = sphere.sphere_model(eeg)
    placed, moved, farthest = sphere.pull_inside(pos + geometry.align_by_spheres(pos, eeg), model)
    info = mne.create_info([names[i] for i in good], 1000.0, "mag")
    for ch, at, normal in zip(info["chs"], values[good, :3] / 1000.0, values[good, 3:]):
        normal = normal / np.linalg.norm(normal)
        ex = np.cross([0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0], normal)
        ex /= np.linalg.norm(ex)
        ch["coil_type"] = FIFF.FIFFV_COIL_MAGNES_MAG
        ch["loc"][:] = np.r_[at, ex, np.cross(normal, ex), normal]
    info["dev_head_t"] = mne.transforms.Transform("meg", "head")  # the file's frame is the head's (Brainstorm's)
    inside = int((np.linalg.norm(values[good, :3] / 1000.0 - model["r0"], axis=1) <= model.radius).sum())
    src = mne.setup_volume_source_space(pos={"rr": placed, "nn": ori}, verbose="error")
    fwd = mne.make_forward_solution(info, None, src, model, eeg=False, mindist=0.0, on_inside="ignore",
                                    verbose="error")
    made = recipe.sum_regions(recipe.fix_orientations(fwd["sol"]["data"], ori), rm, 76)
    spread = values[good, :3].max(axis=1) - values[good, :3].min(axis=1)
    normal_x = values[good, 3]

    def draw(left, right, r):
        left.scatter(reference[:, r] / np.abs(reference[:, r]).max(), made[:, r] / np.abs(made[:, r]).max(), s=4,
                     color="0.3")
        left.set_xlabel("Brainstorm (per sensor, scaled)", fontsize=7)
        left.set_ylabel("made (MNE sphere)", fontsize=7)
        left.set_title(f"region {r}: the 248 magnetometers", fontsize=7)
        right.scatter(np.sqrt(np.clip(1 - normal_x ** 2, 0, 1)), spread, s=4, color="C3")
        right.set_xlabel("sqrt(1 - o^2), o = the file's orientation value", fontsize=7)
        right.set_ylabel("spread of the 3 'coordinates' (mm)", fontsize=7)
        right.set_title("meg_brainstorm_276.txt: not positions", fontsize=7)
    yield ("tvb76, tvb-data's 276 MEG (248 magnetometers) vs Brainstorm, file positions as given (diagnostic)",
           made, reference, moved, farthest,
           f"{inside} of {len(good)} sensors inside the head's sphere; {diagnosis}", draw)


def deepsif_dipoles(ori):
    """DeepSIF's ``ori`` turned into the axes of its ``pos`` (fsaverage's RAS: x right, y nose, z up): each
    ``(nx, ny, nz)`` as ``(-ny, nx, nz)``. ``fs_cortex_20k.mat`` stores the normals' components in Brainstorm's
    axes (x nose, y left, z up); turned, they lie within 2.7 degrees of its pial mesh's normals, and they are
    the dipole directions ``leadfield_75_20k.mat`` was made with. The pipeline turns them the same way
    (``frames.template_cortex_in_frame``, the frame's ``ori_axes``).

    Parameters
    ----------
    ori : array, shape (n_vertices, 3)

    Returns
    -------
    array, shape (n_vertices, 3)
    """
    ori = np.asarray(ori, dtype=float)
    return np.c_[-ori[:, 1], ori[:, 0], ori[:, 2]]


def shipped_fsaverage_bem(path, skull_mm=5.0):
    """A 3-layer BEM solution of fsaverage from the two surfaces MNE ships (no download), written to ``path``.

    MNE ships fsaverage's inner skull (``fsaverage-inner_skull-bem.fif``, taken
    down to ico-4) and scalp (``fsaverage-head.fif``) but not its outer skull:
    here the outer skull is the inner one pushed ``skull_mm`` outwards, radially
    from its centre. Conductivities 0.3, 0.006, 0.3 S/m. An approximation of
    fsaverage's own BEM (``mne.datasets.fetch_fsaverage``), for the bench only.
    """
    import mne
    from mne.bem import _ico_downsample  # (the same downsampling mne.make_bem_model does with ico=4)
    from mne.io.constants import FIFF
    folder = Path(mne.__file__).parent / "data" / "fsaverage"
    inner = _ico_downsample(mne.read_bem_surfaces(folder / "fsaverage-inner_skull-bem.fif", verbose="error")[0], 4)
    head = mne.read_bem_surfaces(folder / "fsaverage-head.fif", verbose="error")[0]
    out = inner["rr"] - inner["rr"].mean(axis=0)
    outer = inner["rr"] + skull_mm / 1000.0 * out / np.linalg.norm(out, axis=1, keepdims=True)
    surfs = [dict(id=kind, sigma=sigma, np=len(rr), ntri=len(tris), coord_frame=FIFF.FIFFV_COORD_MRI, rr=rr, tris=tris)
             for kind, rr, tris, sigma in ((FIFF.FIFFV_BEM_SURF_ID_HEAD, head["rr"], head["tris"], 0.3),
                                           (FIFF.FIFFV_BEM_SURF_ID_SKULL, outer, inner["tris"], 0.006),
                                           (FIFF.FIFFV_BEM_SURF_ID_BRAIN, inner["rr"], inner["tris"], 0.3))]
    mne.write_bem_solution(str(path), mne.make_bem_solution(surfs, verbose="error"), overwrite=True, verbose="error")
    return path


def deepsif_labels(anatomy):
    """``electrode_75.mat``'s labels, the indices of those MNE's ``fsaverage_1005`` has, their positions (MNE's head
    frame) and ``leadfield_75_20k.mat``'s ``fwd``."""
    anatomy = Path(anatomy)
    names = eeglab.read_chanlocs(anatomy / "electrode_75.mat").labels
    keep, positions = by_label(names)
    return names, keep, positions, loadmat(anatomy / "leadfield_75_20k.mat")["fwd"]


def bem_cases(anatomy, names, keep, positions, reference):
    """``--bem`` as the pipeline runs it (:func:`bem.bem_vertex_gain`) with :func:`shipped_fsaverage_bem`, on
    DeepSIF's cortex with its normals and, as a diagnostic, with ``ori`` as stored read in ``pos``'s axes (a copy
    of the cortex file with such an ``ori``)."""
    import tempfile
    import types
    from scipy.io import savemat
    anatomy = Path(anatomy)
    cortex = loadmat(anatomy / "fs_cortex_20k.mat", variable_names=["pos", "ori"])
    rm = loadmat(anatomy / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    info = eeg_info([names[i] for i in keep], positions)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bem_path = shipped_fsaverage_bem(tmp / "fsaverage-shipped-bem-sol.fif")
        # the pipeline turns the file's ori into pos's axes (frames.template_cortex_in_frame): the file's own
        # ori gives the normals; ori turned back the other way gives ori as stored, read in pos's axes
        for label, ori in (("the normals (as --bem does)", cortex["ori"]),
                           ("ori as stored, read in pos's axes", cortex["ori"] @ geometry.SCS_TO_RAS)):
            folder = tmp / label.replace(" ", "_").replace("'", "")
            folder.mkdir()
            savemat(folder / "fs_cortex_20k.mat", {"pos": cortex["pos"], "ori": ori})
            template = types.SimpleNamespace(path=lambda name, folder=folder: folder / name, frame="fsaverage")
            gain, head_model, _ = bem.bem_vertex_gain(template, info, bem_path)
            yield (f"DeepSIF, --bem with fsaverage's shipped inner skull and scalp (outer skull 5 mm out), {label}",
                   recipe.sum_regions(gain, rm, reference.shape[1]), reference[keep], 0, 0.0, head_model, info)


def deepsif_cases(anatomy):
    import mne
    anatomy = Path(anatomy)
    cortex = loadmat(anatomy / "fs_cortex_20k.mat")
    pos, ori = cortex["pos"] / 1000.0, cortex["ori"]
    rm = loadmat(anatomy / "fs_cortex_20k_region_mapping.mat")["rm"].ravel().astype(int)
    reference = loadmat(anatomy / "leadfield_75_20k.mat")["fwd"]
    n = reference.shape[1]
    chanlocs = eeglab.read_chanlocs(anatomy / "electrode_75.mat")  # (EEGLAB's axes, millimetres)
    names = chanlocs.labels
    keep, positions = by_label(names)
    trans = Path(mne.__file__).parent / "data" / "fsaverage" / "fsaverage-trans.fif"
    to_head = mne.transforms.invert_transform(mne.read_trans(trans))
    head_pos = mne.transforms.apply_trans(to_head, pos)
    head_ori = mne.transforms.apply_trans(to_head, ori, move=False)
    # the normals in pos's axes (ori turned from Brainstorm's, deepsif_dipoles), as --sensors places them
    turned = deepsif_dipoles(ori)
    made, moved, farthest = lead_field(head_pos, mne.transforms.apply_trans(to_head, turned, move=False), rm, n,
                                       [names[i] for i in keep], positions)
    yield (f"DeepSIF, MNE fsaverage_1005 positions of {len(keep)} electrode_75 labels vs leadfield_75_20k", made,
           reference[keep], moved, farthest, "MNE's fsaverage transform, ori turned into pos's axes (as --sensors "
           "does)", eeg_info([names[i] for i in keep], positions))
    made, moved, farthest = lead_field(head_pos, head_ori, rm, n, [names[i] for i in keep], positions)
    others = {label: np.median(correlations(lead_field(head_pos, mne.transforms.apply_trans(
        to_head, np.c_[f(ori)], move=False), rm, n, [names[i] for i in keep], positions)[0], reference[keep]))
        for label, f in (("(ny, -nx, nz)", lambda o: np.c_[o[:, 1], -o[:, 0], o[:, 2]]),
                         ("(-nx, -ny, nz)", lambda o: np.c_[-o[:, 0], -o[:, 1], o[:, 2]]),
                         ("(nx, ny, -nz)", lambda o: np.c_[o[:, 0], o[:, 1], -o[:, 2]]))}
    yield ("DeepSIF, the same with ori as stored, read in pos's axes (--sensors before RECIPE_VERSION 4)", made,
           reference[keep], moved, farthest, "diagnostic; other turns of ori, medians: " + ", ".join(
               f"{k} {v:.3f}" for k, v in others.items()), eeg_info([names[i] for i in keep], positions))
    # --sensors electrode_75.mat exactly as the pipeline makes it (its provider: placed by the file's fiducials)
    from deepsif_pipeline.head.anatomy import load_template
    from deepsif_pipeline.head.leadfields import Sphere
    made = Sphere(str(anatomy / "electrode_75.mat")).make(load_template(anatomy))
    yield ("DeepSIF, --sensors electrode_75.mat (the pipeline's provider) vs leadfield_75_20k", made.fwd, reference,
           int(made.provenance["moved"]), float(made.provenance["farthest"]), made.provenance["placement"],
           sensors.read_sensors(str(anatomy / "electrode_75.mat")))
    for label, xyz in (("as given", chanlocs.xyz * chanlocs.scale), ("EEGLAB axes turned into MNE's",
                                                                      chanlocs.positions())):
        shift = geometry.align_by_spheres(pos, xyz)
        made, moved, farthest = lead_field(pos + shift, turned, rm, n, names, xyz)
        yield (f"DeepSIF, electrode_75.mat coordinates {label}, vs leadfield_75_20k", made, reference, moved,
               farthest, "cortex placed by sphere fits (diagnostic)", eeg_info(names, xyz))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--anatomy", help="DeepSIF's template folder (cases 4); without it only tvb76 runs")
    p.add_argument("--figure", type=Path, help="write the figure here (PNG)")
    p.add_argument("--bem", action="store_true",
                   help="with --anatomy: also --bem with a BEM made from MNE's shipped fsaverage surfaces (2-3 min)")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    cases = list(tvb76_cases()) + list(tvb76_meg_case()) + (list(deepsif_cases(args.anatomy)) if args.anatomy
                                                             else [])
    if args.bem and args.anatomy:
        cases += list(bem_cases(args.anatomy, *deepsif_labels(args.anatomy)))
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
    """Per comparison: the histogram of the per-region correlations, and the median region's two topographies
    (for tvb-data's MEG, its own two panels: made against reference, and what the file holds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mne
    fig, axes = plt.subplots(len(rows), 3, figsize=(11, 3.4 * len(rows)), squeeze=False)
    for (title, corr, made, reference, info), (hist, left, right) in zip(rows, axes):
        hist.hist(corr, bins=40, range=(-1, 1), color="0.3")
        hist.axvline(np.median(corr), color="C3")
        hist.set_title("\n".join(textwrap.wrap(title, 48)) + f"\nmedian {np.median(corr):.3f}", fontsize=7)
        hist.set_xlabel("per-region correlation across sensors")
        r = int(np.argsort(corr)[corr.size // 2])
        if callable(info):  # MEG from tvb-data's file: no topography (its positions are not positions)
            info(left, right, r)
            continue
        for ax, values, name in ((left, made[:, r], "made (MNE sphere)"), (right, reference[:, r], "reference")):
            values = recipe.average_reference(values[:, None])[:, 0]
            mne.viz.plot_topomap(values, info, axes=ax, show=False, contours=0)
            ax.set_title(f"region {r}, {name}; r = {corr[r]:.2f}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=64)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"{time.time() - t0:.0f} s")
