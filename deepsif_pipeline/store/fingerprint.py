"""Fingerprints: what made a step's outputs, stored with them and compared before they are reused.

A fingerprint is a flat dict ``{name: value}`` of JSON values, one per thing
that changes a step's output: a setting (``seed``, ``sim_length``), the
identity of a template file (``template.connectivity``, a digest of its
content), a science parameter (``science.step2.spike_threshold_mv``), or an
input made by an earlier step (``input.clip_counts``). Each step declares its
own (``deepsif_pipeline/steps/``); it is saved with the outputs as canonical
JSON (a ``fingerprint`` variable of each raw piece, marker and step-4 file, an
attribute of the pack) and in the dataset manifest.

Names starting with ``about.`` describe (the template's name and folder) and
are never compared. Names starting with ``input.`` are inputs: when only
they differ, the output is stale and is made again. Every other difference
is a different setting: the unit is refused unless ``--redo``.
"""

import hashlib
import json

from deepsif_pipeline.results import Difference

FORMAT = 1  # of the fingerprint dicts; stored as 'format'

ABOUT, INPUT, TEMPLATE, SCIENCE = "about.", "input.", "template.", "science."

# Settings as the user knows them (the command-line flag).
FLAGS = {"seed": "--seed", "a_range": "--a-range", "sim_length": "--sim-length", "piece_length": "--piece-length",
         "engine": "--engine", "raw_rate": "--raw-rate", "target_snr": "--target-snr", "dataset": "--dataset",
         "filename": "--filename", "fast_engine": "--engine fast, version of its arithmetic"}

# What the previous version (0.1.0, before fingerprints) used when nothing was recorded: a record of
# that version, kept as it was whatever today's defaults (settings.Settings) become.
LEGACY_VERSION = "0.1.0"
LEGACY_DEFAULTS = {"seed": 20220425, "a_range": 3.5, "sim_length": 200.0, "piece_length": 10.0, "engine": "fast",
                   "raw_rate": "full", "target_snr": 15.0}


class FingerprintError(Exception):
    """A stored fingerprint cannot be read (one-line message)."""


def canonical(fingerprint):
    """The fingerprint as compact JSON with sorted keys: the stored form."""
    return json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), allow_nan=False)


def parse(text):
    """A stored fingerprint (JSON text) as a dict.

    Raises
    ------
    FingerprintError
    """
    try:
        value = json.loads(str(text).strip())
    except ValueError as exc:
        raise FingerprintError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FingerprintError("not a JSON object")
    return value


def digest(fingerprint):
    """``sha256:`` and 16 hex digits of the compared part: equal digests, equal fingerprints."""
    compared = {k: v for k, v in fingerprint.items() if not k.startswith(ABOUT)}
    return "sha256:" + hashlib.sha256(canonical(compared).encode()).hexdigest()[:16]


# Entries that qualify another one (the fast engine's version qualifies --engine): compared, but not
# reported as a difference of their own when the entry they qualify differs too.
QUALIFIES = {"fast_engine": "engine"}

# Entries of science.json that are the defaults of options: the option's value is recorded instead.
OPTION_DEFAULTS = {"a_excitable", "sim_length_s", "piece_length_s", "min_sim_length_s", "target_snr_db"}


def flatten(prefix, values):
    """``{prefix + name: value}``: a section of science parameters as fingerprint entries.

    The entries that only give an option its default (:data:`OPTION_DEFAULTS`)
    are left out: the option's value is in the fingerprint.
    """
    return {f"{prefix}{name}": value for name, value in values.items() if name not in OPTION_DEFAULTS}


def _show(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and value.startswith("sha256:"):
        return value[:15] + ".."
    return json.dumps(value) if not isinstance(value, str) else value


def _label(name):
    if name in FLAGS:
        return FLAGS[name]
    if name.startswith(SCIENCE):
        return f"science parameter {name[len(SCIENCE):]} (science.json)"
    return name


def differences(recorded, asked, inputs=False):
    """The settings (or, with ``inputs``, the inputs) that differ, as :class:`Difference` values.

    The template's entries (``template.*``) are reported as one difference,
    named with the template's ``about.template`` description when the
    fingerprints carry one; ``about.*`` entries are never compared.

    Parameters
    ----------
    recorded, asked : dict
        The fingerprint stored with the files, and the one of this run.
    inputs : bool
        Compare the ``input.*`` entries instead of the settings.

    Returns
    -------
    list of Difference
    """
    def compared(name):
        return not name.startswith(ABOUT) and name.startswith(INPUT) == inputs

    names = sorted({n for n in list(recorded) + list(asked) if compared(n)})
    out, template = [], []
    missing = "(not recorded)"
    for name in names:
        a, b = recorded.get(name, missing), asked.get(name, missing)
        if a == b:
            continue
        if name in QUALIFIES and recorded.get(QUALIFIES[name], missing) != asked.get(QUALIFIES[name], missing):
            continue
        if name.startswith(TEMPLATE):
            template.append(name[len(TEMPLATE):])
            continue
        out.append(Difference(_label(name), _show(a), _show(b)))
    if template:
        what = "template (--anatomy/--leadfield): " + ", ".join(template)
        out.insert(0, Difference(what, str(recorded.get("about.template", "another template")),
                                 str(asked.get("about.template", "this template"))))
    return out


def describe(diffs, limit=6):
    """``'--seed: recorded 5, asked 7; --sim-length: ...'``: at most ``limit`` differences on one line."""
    shown = "; ".join(str(d) for d in diffs[:limit])
    return shown + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "")


def legacy(asked, recorded):
    """The fingerprint of files made before fingerprints existed (version 0.1.0).

    They are taken as made with that version's defaults (:data:`LEGACY_DEFAULTS`)
    and this run's template and science parameters, except for what the
    files themselves record (``recorded``: e.g. the target SNR of a marker).

    Parameters
    ----------
    asked : dict
        This run's fingerprint of the same step (gives the keys and the template).
    recorded : dict
        Values the old files do hold, by fingerprint name.

    Returns
    -------
    dict
    """
    out = dict(asked)
    for name in asked:
        if name in LEGACY_DEFAULTS:
            out[name] = LEGACY_DEFAULTS[name]
    out.update(recorded)
    out["about.made_by"] = f"version {LEGACY_VERSION}, before fingerprints (its defaults assumed)"
    return out
