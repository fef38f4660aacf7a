"""Sensors as MNE-Python reads them: a cap's name, a montage or digitisation file, a recording, a forward solution.

:func:`read_sensors` gives an ``mne.Info`` of the EEG (else MEG) sensors
with positions in MNE's head frame, checked to surround a head; MEG positions
are moved from the device frame by the recording's ``dev_head_t``.
:func:`finished` is the last touch of every made lead field (EEG: average
reference; MEG: units of each sensor type's noise, ``row_scale``).
"""

import difflib
from pathlib import Path
import warnings

import mne
import numpy as np

from deepsif_pipeline.head.anatomy import template_mapping
from deepsif_pipeline.head.leadfields import eeglab
from deepsif_pipeline.head.leadfields.base import LeadFieldError, Made, is_forward
from deepsif_pipeline.head.leadfields.geometry import check_positions
from deepsif_pipeline.head.recipe import average_reference, in_noise_units, sum_regions

MIN_SENSORS = 8  # fewer sensors cannot localise sources (DeepSIF's smallest cap has 32)
MEG_TYPES = ("mag", "grad")


def montage_names():
    """The names of MNE's standard montages (caps), e.g. ``standard_1020``, ``biosemi64``."""
    return list(mne.channels.get_builtin_montages())


def read_sensors(spec):
    """The EEG or MEG sensors named by ``spec``, as an ``mne.Info`` holding only them, with positions.

    Parameters
    ----------
    spec : str or Path
        An MNE standard montage name (:func:`montage_names`), a montage or
        digitisation file MNE reads (``.elc``, ``.sfp``, ``.loc``, ``.bvef``,
        ``.csd``, ``.elp``, ``.hpts``, ``.fif``, ...), an EEGLAB chanlocs in a
        ``.mat`` (e.g. DeepSIF's ``electrode_75.mat``; :mod:`eeglab`), or a
        recording or ``-info.fif`` whose EEG or MEG sensors are used.

    Returns
    -------
    mne.Info
        Its channels: the EEG sensors, or else the MEG ones (magnetometers
        and gradiometers), with positions in the head frame (metres).

    Raises
    ------
    LeadFieldError
        An unknown montage name (with the closest names), an unreadable
        file, fewer than :data:`MIN_SENSORS` sensors with positions, or
        sensors that do not surround a head (:func:`check_positions`).
    """
    text = str(spec)
    path = Path(text).expanduser()
    if not path.exists():
        try:
            with warnings.catch_warnings():  # an older name MNE still takes (standard_1020 = colin27_1020)
                warnings.simplefilter("ignore", FutureWarning)
                montage = mne.channels.make_standard_montage(text)
        except ValueError:
            if "/" in text or path.suffix:
                raise LeadFieldError(f"--sensors {text}: no such file") from None
            names = montage_names()
            close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
            raise LeadFieldError(f"--sensors {text}: neither a file nor one of MNE's standard montages"
                                 + (f" (did you mean {', '.join(close)}?)" if close else
                                 f" ({', '.join(names[:4])}, ...; mne.channels.get_builtin_montages() lists "
                                 "them)")) from None
        return _checked(_eeg_info(montage), text)
    if path.is_dir():
        raise LeadFieldError(f"--sensors {path}: a folder; give a montage name, a montage file or a recording")
    info = _read_file(path)
    return _checked(info, str(path))


NO_FIDUCIALS = "no fiducials: its positions are taken as MNE's head frame"


def _eeg_info(montage):
    """An Info of EEG channels at the montage's positions (fiducials kept as digitisation points).

    A montage without fiducials cannot be brought into MNE's head frame: its
    positions are taken as that frame, and the Info's ``description`` says
    so (:data:`NO_FIDUCIALS`).
    """
    positions = montage.get_positions()["ch_pos"]
    info = mne.create_info(list(positions), 1000.0, "eeg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        info.set_montage(montage, on_missing="ignore")
    if any("Fiducial point" in str(w.message) for w in caught):
        info["description"] = NO_FIDUCIALS
    return info


MATLAB_SUFFIXES = (".mat", ".set")  # EEGLAB chanlocs (.mat: never a recording MNE's read_raw can open)


def _read_file(path):
    """The Info of a recording, an ``-info.fif``, a montage file or an EEGLAB chanlocs; LeadFieldError (one line
    of ours, naming only the exception types of the readers tried) when none of them reads it.

    A ``.mat`` goes to the EEGLAB reader alone: ``mne.io.read_raw`` sends it to ``read_raw_fieldtrip``, which
    needs an Info and takes neither ``preload`` nor ``verbose`` (a TypeError, whatever the file holds), and no
    montage reader of MNE takes it. A ``.set`` is first an EEGLAB recording for MNE, then its chanlocs alone.
    """
    errors = []
    name = path.name.lower()
    if is_forward(path):
        return forward_info(path)
    readers = []
    if name.endswith(".fif") or name.endswith(".fif.gz"):
        readers.append(("info", lambda: mne.io.read_info(str(path), verbose="error")))
        readers.append(("digitisation", lambda: _eeg_info(mne.channels.read_dig_fif(str(path)))))
    elif not name.endswith(".mat"):
        readers.append(("recording", lambda: mne.io.read_raw(str(path), preload=False, verbose="error").info))
    if name.endswith(".bvct"):
        readers.append(("digitisation", lambda: _eeg_info(mne.channels.read_dig_captrak(str(path)))))
    if name.endswith(MATLAB_SUFFIXES):
        readers.append(("EEGLAB chanlocs", lambda: _eeg_info(eeglab.chanlocs_montage(eeglab.read_chanlocs(path)))))
    else:
        readers.append(("montage", lambda: _eeg_info(mne.channels.read_custom_montage(str(path)))))
    for what, read in readers:
        try:
            info = read()
        except eeglab.NotChanlocs as exc:  # ours: its message says what the file holds
            errors.append(f"{what}: {exc}")
            continue
        except Exception as exc:  # MNE raises many types for files it does not read; its messages stay its own
            errors.append(f"{what}: {type(exc).__name__}")
            continue
        picked = _sensors_of(info)
        if picked is not None:
            return picked
        errors.append(f"{what}: no EEG or MEG channel")
    raise LeadFieldError(f"--sensors {path}: not a sensor file MNE or EEGLAB's chanlocs can read "
                         f"({'; '.join(errors)})")


def _sensors_of(info):
    """``info`` reduced to its EEG channels, or else its MEG ones; None when it has neither."""
    for kind in ({"eeg": True, "meg": False}, {"eeg": False, "meg": True}):
        picks = mne.pick_types(info, exclude=(), ref_meg=False, **kind)  # (MEG: not CTF's or 4D's reference coils)
        if len(picks):
            return mne.pick_info(info, picks)
    return None


def sensor_positions(info):
    """``(n_sensors, 3)`` positions in metres of the Info's channels in the head frame (NaN where a channel has none).

    EEG positions are in the head frame already; MEG ones are in the device
    frame and are moved by ``info['dev_head_t']`` (:func:`device_to_head`).
    """
    return device_to_head(info, np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float))


def _checked(info, spec):
    positions = sensor_positions(info)
    placed = np.all(np.isfinite(positions), axis=1) & np.any(positions != 0, axis=1)
    if placed.sum() < MIN_SENSORS:
        raise LeadFieldError(f"--sensors {spec}: {int(placed.sum())} sensors with a position; a lead field needs at "
                             f"least {MIN_SENSORS}")
    problem = check_positions(positions[placed])
    if problem:
        raise LeadFieldError(f"--sensors {spec}: {problem}")
    if not placed.all():
        info = mne.pick_info(info, np.flatnonzero(placed))
    return info


def is_meg(info):
    """True when the Info's channels are all MEG sensors (magnetometers and/or gradiometers)."""
    types = set(info.get_channel_types())
    return bool(types) and types <= set(MEG_TYPES)


def device_to_head(info, positions):
    """``positions`` with the rows of MEG channels moved from the device frame into the head frame.

    Parameters
    ----------
    info : mne.Info
    positions : array, shape (n_channels, 3)
        Metres; row ``i`` belongs to ``info['chs'][i]``.

    Returns
    -------
    array, shape (n_channels, 3)
        MEG rows moved by ``info['dev_head_t']`` (unchanged when the Info
        has none: :func:`with_device_to_head` states it), other rows and
        rows of zeros (no position) as given.
    """
    positions = np.array(positions, dtype=float)
    rows = [i for i, ch in enumerate(info["chs"]) if ch["kind"] == mne.io.constants.FIFF.FIFFV_MEG_CH and np.any(positions[i] != 0)]
    if rows and info["dev_head_t"] is not None:
        positions[rows] = mne.transforms.apply_trans(info["dev_head_t"], positions[rows])
    return positions


def with_device_to_head(info):
    """The Info with a device-to-head transform (a copy with the identity when it has none), and what was assumed.

    Returns
    -------
    info : mne.Info
    assumed : str
        ``''``, or the sentence saying that the device frame was taken as the head frame.
    """
    if info["dev_head_t"] is not None:
        return info, ""
    info = info.copy()
    info["dev_head_t"] = mne.transforms.Transform("meg", "head")
    return info, "no device-to-head transform in the recording: its device frame is taken as the head frame"


def noise_levels(info):
    """MNE's ad-hoc noise of each channel's sensor type: the ``row_scale`` of an MEG lead field.

    ``mne.make_ad_hoc_cov``'s defaults: magnetometers 20 fT, gradiometers
    5 fT/cm (5e-13 T/m), EEG 0.2 uV (standard deviations).

    Parameters
    ----------
    info : mne.Info

    Returns
    -------
    array, shape (n_channels,)
        In the channel's own unit (T, T/m, V), in ``info['ch_names']`` order.
    """
    cov = mne.make_ad_hoc_cov(info, verbose="error")
    std = dict(zip(cov.ch_names, np.sqrt(np.asarray(cov.data, dtype=float))))
    return np.array([std[name] for name in info["ch_names"]], dtype=float)


def finished(fwd, info):
    """The last step of every made lead field: EEG referenced to the average of its sensors
    (:func:`average_reference`); MEG in units of each sensor type's noise (:func:`in_noise_units`).

    Parameters
    ----------
    fwd : array, shape (n_sensors, n_regions)
        Physical units (V, T, T/m per A m).
    info : mne.Info
        Its sensors, in its rows' order.

    Returns
    -------
    fwd : array, shape (n_sensors, n_regions)
    about : dict
        ``reference`` (for people) and, for MEG, ``row_scale`` (:func:`noise_levels`).
    """
    if set(info.get_channel_types()) == {"eeg"}:
        return average_reference(fwd), {"reference": "average of the EEG sensors"}
    row_scale = noise_levels(info)
    return in_noise_units(fwd, row_scale), {"reference": "none (MEG)", "row_scale": row_scale}


def read_forward(path):
    """An MNE forward solution, with free orientations in the head frame; LeadFieldError when it cannot be used."""
    try:
        fwd = mne.read_forward_solution(str(path), verbose="error")
    except Exception as exc:  # MNE raises several types for files that are not forward solutions
        raise LeadFieldError(f"--sensors {path}: MNE does not read it as a forward solution ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if fwd["source_ori"] != mne.io.constants.FIFF.FIFFV_MNE_FREE_ORI:
        raise LeadFieldError(f"--sensors {path}: a fixed-orientation forward solution; give the free-orientation one "
                             "(as mne.make_forward_solution writes it), whose gains are then fixed along the "
                             "template's orientations as DeepSIF does")
    return mne.convert_forward_solution(fwd, surf_ori=False, force_fixed=False, copy=False, verbose="error")


def forward_info(path, forward=None):
    """The sensors of a forward solution (EEG, else MEG), as :func:`read_sensors` gives them
    (``forward``: the solution already read, else it is read from ``path``)."""
    picked = _sensors_of((forward or read_forward(path))["info"])
    if picked is None:
        raise LeadFieldError(f"--sensors {path}: a forward solution without EEG or MEG channels")
    return picked


def made(fwd, info, provenance):
    """A :class:`Made` lead field of ``info``'s sensors (their names, types and head-frame positions)."""
    return Made(fwd=fwd, ch_names=list(info["ch_names"]), ch_types=list(info.get_channel_types()),
                positions=sensor_positions(info), provenance=provenance)


def region_made(template, info, gain, about):
    """The region lead field of a vertex gain: summed per region (DeepSIF's recipe), then :func:`finished`.

    Parameters
    ----------
    gain : array, shape (n_sensors, n_vertices)
        Fixed-orientation gain of the template's vertices.
    about : dict
        ``head_model``, ``placement``, ``moved``, ``farthest`` (the head model's provider).
    """
    if info.get("description") == NO_FIDUCIALS:
        about = dict(about, placement=f"{about['placement']}; the sensors had {NO_FIDUCIALS}")
    fwd, extra = finished(sum_regions(gain, template_mapping(template), template.n_regions), info)
    return made(fwd, info, {**extra, **about})
