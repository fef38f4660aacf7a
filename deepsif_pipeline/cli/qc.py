"""A quality-control figure of a finished output folder (PNG, matplotlib's Agg backend).

What a reviewer of a training set looks at first: one clip (its source
region, whose spike step 2 scaled by the marker's ``alpha``, and a few
other regions, not scaled), the peak amplitudes of the clips, the sensor
SNR of step 4's examples, the clips per region (as counts and on the
cortex), a few of step 4's source patches, and the lead field the folder
was made with (the template's or the one made for ``--sensors``): the
sensor map of step 4's first source and each region's gain on the cortex.

Units: a clip's values are ``y1 - y2`` of the Jansen-Rit model in mV, but
step 2 multiplies the source region's spike (onset to end) by ``alpha``,
the factor that puts it ``--target-snr`` dB over the background at the
sensors (``matlab/snr_power_ratio.m``, ``matlab/rescale_spikes.m``): the
source trace is therefore in mV x alpha, not mV; the other regions stay
in mV.
"""

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline import science
from deepsif_pipeline.steps.synthesise import PAD
from deepsif_pipeline.head.anatomy import INFLATED, REGION_MAPPING, template_info
from deepsif_pipeline.head.leadfields.geometry import fit_sphere
from deepsif_pipeline.steps.extract import clip_counts

MAX_PEAK_CLIPS = 300  # clips read for the peak distribution (spread over the regions)
SCALED = "y1 - y2, spike scaled by \u03b1 (mV x \u03b1)"


def surface_name(template):
    """``'inflated cortex'``, or ``'folded cortex'`` for a template without an inflated surface (tvb76)."""
    return "folded cortex" if "inflated_pos" in template_info(template.folder) else "inflated cortex"


def clip_iteration(layout, region, n):
    """The marker (a dict of its variables) of the mean iteration that made clip ``n`` of ``region``."""
    for m in science.MEAN_ITERATIONS:
        marker = loadmat(str(layout.marker(m, region)))
        if int(np.asarray(marker["num_spike"]).ravel()[0]) >= n:
            return m, marker
    raise ValueError(f"no marker of region {region} counts clip {n}")


def sampled_clips(counts, limit=MAX_PEAK_CLIPS):
    """``[(region, n), ...]``: at most ``limit`` clips, the first ones of every region first.

    Parameters
    ----------
    counts : numpy.ndarray
        Clips per region (-1: region not done).
    """
    picks, k = [], 1
    while len(picks) < limit and k <= counts.max(initial=0):
        picks += [(int(r), k) for r in np.flatnonzero(counts >= k)][: limit - len(picks)]
        k += 1
    return picks


def clip_peaks(layout, picks):
    """Peak of the source region's column of each clip ``(region, n)``."""
    return np.array([float(np.max(loadmat(str(layout.clip(r, n)), variable_names=["data"])["data"][:, r]))
                     for r, n in picks])


def flat_positions(positions):
    """Sensor positions flattened for a map seen from above: ``(n_sensors, 2)``.

    Azimuthal equidistant projection around the top of the sphere fitted
    to the sensors (the usual scalp-map layout): a sensor's distance from
    the centre of the map is its angle from the vertex.

    Parameters
    ----------
    positions : array, shape (n_sensors, 3)
        Any units; z up.
    """
    positions = np.asarray(positions, dtype=float)
    center, _ = fit_sphere(positions)
    d = positions - center
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    angle = np.arccos(np.clip(d[:, 2], -1, 1))
    azimuth = np.arctan2(d[:, 1], d[:, 0])
    return np.c_[angle * np.cos(azimuth), angle * np.sin(azimuth)]


def leadfield_positions(leadfield):
    """The lead field's ``fwd`` ``(n_sensors, n_regions)`` and its sensor positions ``(n_sensors, 3)``,
    or None when the file does not hold them (a template's own lead field)."""
    saved = loadmat(str(leadfield.path), variable_names=["fwd", "positions"])
    positions = saved.get("positions")
    usable = (positions is not None and np.shape(positions) == (saved["fwd"].shape[0], 3)
              and np.all(np.isfinite(positions)))
    return np.asarray(saved["fwd"], dtype=float), (np.asarray(positions, dtype=float) if usable else None)


def build_figure(layout, template, leadfield, dataset, n_others=3, n_patches=3):
    """The QC figure of an output folder, as a matplotlib Figure (not saved).

    Parameters
    ----------
    layout : deepsif_pipeline.store.layout.Layout
    template : deepsif_pipeline.head.anatomy.Template
    dataset : {'train', 'test'}
    n_others : int
        Other regions of the clip shown beside its source.
    n_patches : int
        Step 4's source patches drawn.

    Returns
    -------
    matplotlib.figure.Figure
        Ten panels: the clip's source region; the same clip's largest
        other regions; clip peak amplitudes; sensor SNR of step 4's
        examples; the sensor map of step 4's first source through the lead
        field; clips per region; clips per region on the cortex; source
        patches on the cortex; a text summary; each region's gain (the norm
        of its lead field column) on the cortex.
    """
    import matplotlib  # matplotlib: imported only for --qc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    counts = clip_counts(layout, template.n_regions)[0]
    surface = surface_name(template)
    fig, axes = plt.subplots(2, 5, figsize=(27, 9.5))
    (a_src, a_oth, a_peak, a_snr, a_map), (a_count, a_cortex, a_patch, a_text, a_gain) = axes
    t_ms = np.arange(500) * 2.0  # 500 Hz

    # one clip: the region with the most clips, its first clip
    with_clips = np.flatnonzero(counts > 0)
    if with_clips.size:
        r = int(with_clips[np.argmax(counts[with_clips])])
        data = loadmat(str(layout.clip(r, 1)), variable_names=["data"])["data"]
        m, marker = clip_iteration(layout, r, 1)
        alpha = float(np.asarray(marker.get("alpha", [[np.nan]])).ravel()[0])
        snr = float(np.asarray(marker.get("target_snr", [[np.nan]])).ravel()[0])
        how = (f"\u03b1 = {alpha:.1f} for {snr:g} dB at the sensors" if np.isfinite(alpha) and np.isfinite(snr)
               else "\u03b1 not recorded in its marker")
        wave = data[:, r]
        peak = int(np.argmax(wave))
        a_src.plot(t_ms, wave, lw=1, color="C3", label=f"region {r} (source)")
        a_src.plot(t_ms[peak], wave[peak], "kv", label=f"peak {wave[peak]:.1f}")
        a_src.set(title=f"clip nmm_1 of region {r} (mean iteration {m}): source region\n{how}",
                  xlabel="time in clip (ms)", ylabel=SCALED)
        a_src.legend(fontsize=8)
        others = [k for k in np.argsort(np.ptp(data, axis=0))[::-1] if k != r][:n_others]
        for k in others:
            a_oth.plot(t_ms, data[:, k], lw=1, label=f"region {k}")
        a_oth.set(title=f"same clip: the {len(others)} other regions of largest range\n(not scaled)",
                  xlabel="time in clip (ms)", ylabel="y1 - y2 (mV)")
        a_oth.legend(fontsize=8)
        picks = sampled_clips(counts)
        peaks = clip_peaks(layout, picks)
        a_peak.hist(peaks, bins=30, color="C3")
        a_peak.set(title=f"peak of the source region per clip\n({len(picks)} of {int(counts[counts > 0].sum())} "
                         "clips, the first of every region first)",
                   xlabel="peak of the source region (mV x \u03b1)", ylabel="clips")
    else:
        for ax in (a_src, a_oth, a_peak):
            ax.set_title("no clip in this folder")
    a_peak.yaxis.set_major_locator(MaxNLocator(integer=True))

    synthesis = layout.synthesis_file(dataset)
    meta = None
    if synthesis.is_file():
        meta = loadmat(str(synthesis), variable_names=["selected_region", "mag_change", "sensor_snr"])
    if meta is not None and "sensor_snr" in meta:
        levels, n = np.unique(np.asarray(meta["sensor_snr"]).ravel(), return_counts=True)
        a_snr.bar(levels, n, width=1.5, color="C0")
        a_snr.set_xticks(levels)
    a_snr.set(title=f"sensor SNR of the {dataset} examples (step 4)", xlabel="sensor SNR (dB)", ylabel="examples")
    a_snr.yaxis.set_major_locator(MaxNLocator(integer=True))

    done = counts[counts >= 0]
    a_count.hist(done, bins=np.arange(done.max(initial=0) + 2) - 0.5, color="C2", rwidth=0.9)
    a_count.set(title=f"clips per region ({int((done == 0).sum())} of {done.size} regions without clips)",
                xlabel="clips", ylabel="regions")
    a_count.xaxis.set_major_locator(MaxNLocator(integer=True))
    a_count.yaxis.set_major_locator(MaxNLocator(integer=True))

    pos = loadmat(str(template.path(INFLATED)), variable_names=["pos"])["pos"]
    rm = loadmat(str(template.path(REGION_MAPPING)), variable_names=["rm"])["rm"].ravel().astype(int)
    value = np.where(counts[rm] >= 0, counts[rm], np.nan).astype(float)
    a_cortex.scatter(pos[:, 0], pos[:, 1], s=0.3, c="0.85")
    art = a_cortex.scatter(pos[:, 0], pos[:, 1], s=0.6, c=value, cmap="viridis", vmin=0)
    bar = fig.colorbar(art, ax=a_cortex, label="clips of the vertex's region")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    a_cortex.set(title=f"clips per region on the {surface}\n(from above)", aspect="equal")
    a_cortex.axis("off")

    a_patch.scatter(pos[:, 0], pos[:, 1], s=0.3, c="0.85")
    shown = []
    if meta is not None:
        picks = np.linspace(0, meta["selected_region"].shape[0] - 1, n_patches).astype(int)
        for j, i in enumerate(picks):
            ids = meta["selected_region"][i, 0]
            ids = ids[ids != PAD].astype(int)
            on = np.isin(rm, ids)
            a_patch.scatter(pos[on, 0], pos[on, 1], s=1.2, color=f"C{j}",
                            label=f"example {i + 1}: centre region {ids[0]}, {len(ids)} regions")
            shown.append(i)
        a_patch.legend(fontsize=8, markerscale=6, loc="upper center", bbox_to_anchor=(0.5, 0.0))
    a_patch.set(title=f"{len(shown)} source patches of step 4 (first source)\non the {surface}, from above",
                aspect="equal")
    a_patch.axis("off")

    fwd, positions = leadfield_positions(leadfield)
    lead = f"{leadfield.path.name} ({fwd.shape[0]} sensors)"
    if meta is not None and meta["selected_region"].shape[0]:
        ids = meta["selected_region"][0, 0]
        ids = ids[ids != PAD].astype(int)
        weights = np.asarray(meta["mag_change"][0, 0], dtype=float)[: len(ids)]
        topo = fwd[:, ids] @ weights  # the patch's map at the source's peak, as the trainer projects it
        limit = float(np.abs(topo).max()) or 1.0
        if positions is not None:
            flat = flat_positions(positions)
            art = a_map.scatter(flat[:, 0], flat[:, 1], c=topo, cmap="RdBu_r", vmin=-limit, vmax=limit, s=40,
                                edgecolors="k", linewidths=0.3)
            a_map.set(aspect="equal")
            a_map.axis("off")
            fig.colorbar(art, ax=a_map, label="gain (lead field units)")
            where = "sensors seen from above, nose up"
        else:
            a_map.bar(np.arange(len(topo)), topo, color=np.where(topo >= 0, "C3", "C0"))
            a_map.set(xlabel="sensor (row of fwd)", ylabel="gain (lead field units)")
            where = f"by sensor: {leadfield.path.name} has no positions"
        a_map.set_title(f"example 1, source 1 (centre region {ids[0]}, {len(ids)} regions):\n"
                        f"its sensor map through {lead},\n{where}")
    else:
        a_map.set_title(f"no step-4 example to project through\n{lead}")
        a_map.axis("off")
    gain = np.linalg.norm(fwd, axis=0)
    a_gain.scatter(pos[:, 0], pos[:, 1], s=0.3, c="0.85")
    art = a_gain.scatter(pos[:, 0], pos[:, 1], s=0.6, c=gain[rm], cmap="magma")
    fig.colorbar(art, ax=a_gain, label="norm of the region's column of fwd")
    a_gain.set(title=f"each region's gain in {lead}\non the {surface}, from above", aspect="equal")
    a_gain.axis("off")

    a_text.axis("off")
    lines = [f"template: {template.folder.name}, {template.n_regions} regions",
             f"clip set: {layout.clip_root.name}/, {int(counts[counts > 0].sum())} clips",
             f"  {int((counts >= 0).sum())} regions done, {int((counts == 0).sum())} without clips",
             f"step 4: {synthesis.name}" + (f", {meta['selected_region'].shape[0]} examples" if meta is not None
                                             else " (not made yet)"),
             f"lead field: {leadfield.path.name}",
             f"  {fwd.shape[0]} sensors" + f", {leadfield.source.about()}",
             "", "clip values: y1 - y2 (mV) of the", "Jansen-Rit model; the source region's",
             "spike is scaled by \u03b1 (step 2: its", "target SNR at the sensors), so it",
             "is in mV x \u03b1, not mV"]
    a_text.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=9)
    a_text.set_title("what this figure shows")
    fig.suptitle(f"QC of {layout.output} ({dataset})")
    fig.tight_layout(h_pad=2.5)
    return fig


def qc_figure(layout, template, leadfield, dataset):
    """Write ``OUTPUT/qc_{dataset}.png`` (:func:`build_figure`) and return its path."""
    import matplotlib.pyplot as plt
    fig = build_figure(layout, template, leadfield, dataset)
    path = layout.qc_figure(dataset)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path
