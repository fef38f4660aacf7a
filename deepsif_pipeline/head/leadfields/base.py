"""What every lead-field provider shares: its error, what it makes, and the interface it implements."""

from dataclasses import dataclass

from pathlib import Path

import numpy as np


DEFAULT_CONDUCTIVITY = (0.3, 0.006, 0.3)  # S/m, brain, skull, scalp: MNE's defaults (mne.make_bem_model)


class LeadFieldError(Exception):
    """The lead field cannot be made or used (sensors, head model, template): one line saying what and how to fix it."""


@dataclass(frozen=True)
class Made:
    """A lead field as a provider makes it (``Source.make``).

    Attributes
    ----------
    fwd : numpy.ndarray
        ``(n_sensors, n_regions)``, DeepSIF's ``fwd``.
    ch_names, ch_types : list of str or None
        Each row's sensor and its type (``eeg``, ``mag``, ``grad``); None when the file has none.
    positions : numpy.ndarray or None
        ``(n_sensors, 3)`` metres, MNE's head frame (NaN where a sensor has none); None when unknown.
    provenance : dict
        How it was made, for the file and for people: ``head_model``, ``placement``, ``moved``
        (vertices pulled inside the head model), ``farthest`` (m), ``reference``, and for MEG
        ``row_scale`` (each row's noise level: ``fwd_physical = fwd * row_scale``).
    """

    fwd: np.ndarray
    ch_names: list = None
    ch_types: list = None
    positions: np.ndarray = None
    provenance: dict = None


class Source:
    """A source of the lead field a run uses (``head/leadfields/providers.py`` has them all).

    A provider is a small frozen value naming where its lead field comes from
    (a file, a SPEC, a BEM). :meth:`key` is what its lead field depends on (a
    made lead field is found again in the cache by it); :meth:`make` makes it
    (:class:`Made`); :meth:`options` are the command-line options that name
    it again (suggested commands, Dask tasks); :meth:`label` is how the
    fingerprints' template description names it.
    """

    made = True  # made by the pipeline (cached, copied into OUTPUT/derived/); False: a file of the template

    def check(self, template):
        """Cheap checks before anything is made (LeadFieldError, one line)."""

    def key(self, template):
        """A digest of everything the lead field depends on."""
        raise NotImplementedError

    def make(self, template):
        """The lead field on ``template``: a :class:`Made`."""
        raise NotImplementedError

    def options(self, template):
        """The command-line options that name this source (a list of str)."""
        raise NotImplementedError

    def values(self, template):
        """``{'leadfield': ..., 'sensors': ..., 'bem': ...}``: the options that name it, each given (None: not)."""
        raise NotImplementedError

    def label(self, template):
        """``leadfield_63_16k.mat``, ``leadfield_biosemi64.mat (--sensors biosemi64)``: for the fingerprints."""
        raise NotImplementedError

    def about(self):
        """``the template's``, ``made for --sensors biosemi64``: for people."""
        raise NotImplementedError

    @property
    def file_name(self):
        """The made file's name in ``OUTPUT/derived/`` (made sources)."""
        raise NotImplementedError


def is_forward(path):
    """True when ``path`` is named as an MNE forward solution (``-fwd.fif``, ``_fwd.fif``, ``.gz``)."""
    name = Path(str(path)).name.lower()
    return name.endswith(("-fwd.fif", "_fwd.fif", "-fwd.fif.gz", "_fwd.fif.gz"))
