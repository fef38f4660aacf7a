"""The dataset manifest ``OUTPUT/dataset.json``: what a folder holds and how it was made.

A person reads it to know what a dataset is; it travels with the dataset
when the folder is copied to a training machine, and ``--verify`` checks the
folder against it (:func:`check`). It is rewritten whole, atomically
(temporary file, flush, rename), under the folder's ``manifest`` claim, so
runs sharing the folder never lose each other's entries: each rewrite reads
the current manifest and the markers of the regions it updates. Markers and
the other outputs stay the truth; every rewrite also adds the regions that
have markers but no entry yet and drops entries whose markers are gone.

Layout (``format`` 1)::

    {"format": 1, "about": "...", "updated": "2026-11-29T10:00:00Z",
     "software": ["deepsif-pipeline 0.2.0 (abc1234), tvb-library 2.10.0, GNU Octave, version 7.3.0, Python 3.11.7"],
     "clip_sets": {"spikes": {
         "folder": "nmm_spikes", "template": "tvb76 (...), leadfield_63_16k.mat",
         "settings": {...the clips' fingerprint...}, "fingerprint": "sha256:...",
         "raw": {"piece_length": 10.0, "raw_rate": "full"},
         "regions": {"0": {"clips": 3, "per_iteration": [1, 2, 3], "bytes": 12900000,
                           "fingerprint": "sha256:...", "made_by": 0}, ...},
         "summary": {"regions": 76, "clips": 153, "bytes": ..., "other_settings": []}}},
     "synthesis": {"train": {"file": "train_sample_source1.mat", "bytes": ..., "examples": ...,
                             "clip_set": "spikes", "fingerprint": "sha256:...", "settings": {...},
                             "pack": {"file": "train_sample_nmm.h5", "bytes": ..., "rows": ...,
                                      "fingerprint": "sha256:..."}}}}
"""

from contextlib import contextmanager
from dataclasses import dataclass
import json
import time

from deepsif_pipeline.store import claims
from deepsif_pipeline import science
from deepsif_pipeline.store.fingerprint import digest
from deepsif_pipeline.store.files import sweep_temporaries, write_text_atomic
from deepsif_pipeline.store.layout import Layout, compact_ranges
from deepsif_pipeline.store.runlog import utc_now

FORMAT = 1
ABOUT = ("DeepSIF training data made by deepsif-pipeline: the settings and template each clip set was made "
         "with, its regions (clips per mean iteration, bytes on disk), and the step-4 files and packs made "
         "from it. See the project's README, 'Output'.")
BEFORE_FINGERPRINTS = "not recorded (made before fingerprints)"
LOCK_WAIT_S = 120.0  # seconds to wait for another run's rewrite (it takes milliseconds)


class ManifestError(Exception):
    """The manifest cannot be read or written (one-line message)."""


def read(layout):
    """The manifest of a folder as a dict, or None when there is none.

    Raises
    ------
    ManifestError
        It exists but is not a manifest.
    """
    path = layout.manifest
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path} cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path} is not a dataset manifest of format {FORMAT}")
    return data


def clip_set(data, filename):
    """The entry of clip set ``filename`` of a manifest (None when absent)."""
    return (data or {}).get("clip_sets", {}).get(filename)


@contextmanager
def _locked(layout):
    """Hold the folder's ``manifest`` claim (taken over at once from a dead process on this machine)."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        claim = claims.try_claim(layout.claim_dir, Layout.MANIFEST_CLAIM)
        if isinstance(claim, claims.Claim):
            break
        if time.monotonic() > deadline:
            raise ManifestError(f"the manifest {layout.manifest} is held by {claim}")
        time.sleep(0.05)
    try:
        claims.remove_old_ballots(claim)
        sweep_temporaries(layout.manifest.parent, layout.manifest.stem + "_")  # of a rewrite that was killed
        yield
    finally:
        claim.release()


def _marker_regions(layout):
    """Regions that have a marker of the first mean iteration (a listing, no file is read)."""
    return layout.regions_with_marker(science.MEAN_ITERATIONS[0])


def _software_index(data, software):
    listed = data.setdefault("software", [])
    if software not in listed:
        listed.append(software)
    return listed.index(software)


@dataclass(frozen=True)
class ClipSet:
    """What the manifest records of a clip set, and how its entries are made from the files.

    The entries are the steps' to make (``steps/extract.py``, ``steps/synthesise.py``);
    the manifest only keeps them.

    Attributes
    ----------
    filename : str
        ``--filename``: the clip set's name.
    fingerprint : dict
        The clips' fingerprint (step 2's).
    raw : dict
        ``piece_length`` and ``raw_rate``: how the raw data was cut (not in the clips' fingerprint).
    region_entry : callable
        ``region_entry(layout, region, software_index)``: a region's entry, or None when it is not done.
    synthesis_entry : callable
        ``synthesis_entry(layout, dataset, filename)``: a step-4 file's entry (and its pack's), or None.
    """

    filename: str
    fingerprint: dict
    raw: dict
    region_entry: object
    synthesis_entry: object


def update(layout, clips, regions=(), dataset=None, software=""):
    """Rewrite the manifest: the clip set ``clips``, the entries of ``regions``, and (``dataset``) step 4 and the pack.

    Parameters
    ----------
    layout : Layout
    clips : ClipSet
    regions : iterable of int
        Regions this run finished (or found done); their entries are made
        from their markers. Regions with markers but no entry are added.
    dataset : str or None
        Record the step-4 file and the pack of this dataset.
    software : str
        This run's versions line (``runlog.versions``).

    Raises
    ------
    ManifestError
    """
    with _locked(layout):
        try:
            old = read(layout) or {}
        except ManifestError:
            old = {}  # not a manifest (damaged by hand): made again from the files
        data = json.loads(json.dumps(old))  # a copy, compared with the old one before writing
        data = {"format": FORMAT, "about": ABOUT, "updated": old.get("updated"), "software": data.get("software", []),
                "clip_sets": data.get("clip_sets", {}), "synthesis": data.get("synthesis", {})}
        index = _software_index(data, software)
        asked = clips.fingerprint
        entry = data["clip_sets"].setdefault(clips.filename, {})
        if entry.get("fingerprint") != digest(asked):  # a new clip set, or --redo under new settings
            entry.update(folder=layout.clip_root.name, template=asked.get("about.template", ""), settings=asked,
                         fingerprint=digest(asked))
        entry["raw"] = clips.raw
        known = entry.setdefault("regions", {})
        on_disk = _marker_regions(layout)
        for r in sorted(set(regions) | (on_disk - {int(k) for k in known}) | ({int(k) for k in known} - on_disk)):
            made = clips.region_entry(layout, r, index)
            if made is None:
                known.pop(str(r), None)
            elif not _same_region(known.get(str(r)), made):  # unchanged entries keep who made them
                known[str(r)] = made
        entry["regions"] = dict(sorted(known.items(), key=lambda kv: int(kv[0])))
        made = {r: e["fingerprint"] for r, e in entry["regions"].items()}
        entry["summary"] = {"regions": len(entry["regions"]),
                            "clips": sum(e["clips"] for e in entry["regions"].values()),
                            "bytes": sum(e["bytes"] for e in entry["regions"].values()),
                            "other_settings": compact_ranges(int(r) for r, f in made.items()
                                                             if f not in (entry["fingerprint"], BEFORE_FINGERPRINTS)),
                            "before_fingerprints": compact_ranges(int(r) for r, f in made.items()
                                                                  if f == BEFORE_FINGERPRINTS)}
        if dataset is not None:
            made = clips.synthesis_entry(layout, dataset, clips.filename)
            key = layout.synthesis_key(dataset)  # (a patient's head: its own entry, beside the template's)
            before = data["synthesis"].get(key) or {}
            if made is None:
                data["synthesis"].pop(key, None)
            elif {k: v for k, v in before.items() if k != "made_by"} != made:
                data["synthesis"][key] = dict(made, made_by=index)
        used = {e["made_by"] for c in data["clip_sets"].values() for e in c.get("regions", {}).values()}
        used |= {e.get("made_by") for e in data["synthesis"].values()}
        if index not in used and software not in old.get("software", []):  # made nothing: not listed
            data["software"].pop(index)
        if data != old or not layout.manifest.is_file():  # a run that changed nothing leaves the file alone
            data["updated"] = utc_now()
            write_text_atomic(layout.manifest, json.dumps(data, indent=1) + "\n")


def _same_region(old, new):
    """The same clips, fingerprint and bytes (who made them aside)."""
    return old is not None and all(old.get(k) == new.get(k) for k in ("per_iteration", "fingerprint", "bytes",
                                                                        "not_needed"))


def check(layout, filename, region_entry, synthesis_entry):
    """Where the folder disagrees with its manifest (an empty list when it agrees).

    ``region_entry`` and ``synthesis_entry`` make the entries from the files, as in :class:`ClipSet`.

    Every region done must have an entry with the same clip counts,
    fingerprint and clip bytes, and every entry its markers; a recorded
    step-4 file or pack must be there with the recorded size.

    Returns
    -------
    list of str
    """
    try:
        data = read(layout)
    except ManifestError as exc:
        return [str(exc)]
    if data is None:
        return [f"no manifest {layout.manifest}: a run of this version writes it (re-run the same command)"]
    entry = clip_set(data, filename)
    if entry is None:
        return [f"{layout.manifest} has no clip set '{filename}'"]
    problems = []
    known = {int(r): e for r, e in entry.get("regions", {}).items()}
    on_disk = _marker_regions(layout)
    for r in sorted(on_disk - set(known)):
        if region_entry(layout, r, None) is not None:  # (a region part-way through its mean iterations has none)
            problems.append(f"region {r} is done but has no entry in {layout.manifest.name}")
    for r, recorded in sorted(known.items()):
        made = region_entry(layout, r, recorded.get("made_by"))
        if made is None:
            problems.append(f"region {r} is in {layout.manifest.name} but its markers are missing or damaged")
            continue
        for key in ("per_iteration", "fingerprint", "bytes"):
            if made[key] != recorded.get(key):
                problems.append(f"region {r}: {key} is {made[key]} on disk, {recorded.get(key)} in "
                                f"{layout.manifest.name}")
                break
    for key, recorded in data.get("synthesis", {}).items():
        if recorded.get("clip_set") != filename:
            continue
        dataset, head = layout.parse_synthesis_key(key)
        made = synthesis_entry(layout.with_head(head), dataset, filename)
        if made is None:
            problems.append(f"{recorded['file']} is in {layout.manifest.name} but not in the folder")
            continue
        for key in ("bytes", "fingerprint"):
            if made[key] != recorded.get(key):
                problems.append(f"{recorded['file']}: {key} is {made[key]} on disk, {recorded.get(key)} in "
                                f"{layout.manifest.name}")
        if "pack" in recorded and made.get("pack", {}).get("bytes") != recorded["pack"].get("bytes"):
            problems.append(f"{recorded['pack']['file']}: {made.get('pack', {}).get('bytes', 'no file')} bytes on "
                            f"disk, {recorded['pack'].get('bytes')} in {layout.manifest.name}")
    return problems
