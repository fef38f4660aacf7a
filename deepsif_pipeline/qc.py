"""A quality-control figure of a finished output folder (PNG, matplotlib's Agg backend)."""

import numpy as np
from scipy.io import loadmat

from .anatomy import INFLATED, REGION_MAPPING
from .steps.extract import clip_counts
from .verify import PAD


def qc_figure(layout, template, dataset, n_regions_shown=4, n_patches=3):
    """Write ``OUTPUT/qc_{dataset}.png`` and return its path.

    Panels: the source-region waveform of one clip for a few regions, with
    its peak marked; clips per region; a few source patches on the inflated
    cortex (view from above) coloured by ``mag_change``.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = clip_counts(layout, template.n_regions)[0]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))

    ax = axes[0]
    shown = np.flatnonzero(counts > 0)[:n_regions_shown]
    for r in shown:
        wave = loadmat(str(layout.clip(r, 1)), variable_names=["data"])["data"][:, r]
        peak = int(np.argmax(wave))
        ax.plot(wave, lw=1, label=f"region {r}")
        ax.plot(peak, wave[peak], "kv")
    ax.set(title="source region of clip 1 (peak marked)", xlabel="sample (500 Hz)", ylabel="y1 - y2 (mV)")
    if len(shown):
        ax.legend(fontsize=8)

    ax = axes[1]
    done = counts[counts >= 0]
    ax.hist(done, bins=np.arange(done.max() + 2) - 0.5 if done.size else 1)
    ax.set(title=f"clips per region ({int((done == 0).sum())} of {done.size} regions without clip)",
           xlabel="clips", ylabel="regions")

    ax = axes[2]
    pos = loadmat(str(template.path(INFLATED)), variable_names=["pos"])["pos"]
    rm = loadmat(str(template.path(REGION_MAPPING)), variable_names=["rm"])["rm"].ravel().astype(int)
    ax.scatter(pos[:, 0], pos[:, 1], s=0.2, c="0.85")
    synthesis = layout.synthesis_file(dataset)
    if synthesis.is_file():
        meta = loadmat(str(synthesis), variable_names=["selected_region", "mag_change"])
        picks = np.linspace(0, meta["selected_region"].shape[0] - 1, n_patches).astype(int)
        for i in picks:
            ids = meta["selected_region"][i, 0]
            mags = meta["mag_change"][i, 0][ids != PAD]
            ids = ids[ids != PAD].astype(int)
            value = np.full(template.n_regions, np.nan)
            value[ids] = mags
            on = np.isin(rm, ids)
            art = ax.scatter(pos[on, 0], pos[on, 1], s=1, c=value[rm[on]], cmap="viridis", vmin=0, vmax=1)
        fig.colorbar(art, ax=ax, label="mag_change")
    ax.set(title=f"{n_patches} source patches (inflated cortex, from above)", aspect="equal")
    ax.axis("off")

    fig.tight_layout()
    path = layout.qc_figure(dataset)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
