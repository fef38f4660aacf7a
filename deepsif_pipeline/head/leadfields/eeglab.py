"""EEGLAB channel locations (``chanlocs``) in a MATLAB file, e.g. DeepSIF's ``electrode_75.mat`` (``eloc75``).

An EEGLAB ``chanlocs`` is a struct array with (at least) the fields
``labels``, ``X``, ``Y`` and ``Z``. Its Cartesian coordinates are in
EEGLAB's head frame, **+X to the nose, +Y to the left ear, +Z up**; MNE's
head frame is **+X to the right ear, +Y to the nose, +Z up**. So a position
``(X, Y, Z)`` in EEGLAB's axes is ``(-Y, X, Z)`` in MNE's
(:data:`EEGLAB_TO_MNE`, a turn of -90 degrees about the vertical axis; the
same axes as Brainstorm's, ``geometry.SCS_TO_RAS``).

EEGLAB gives no unit: it is found from the size of the head the positions
lie on (:func:`unit_of`): millimetres (EEGLAB's usual unit, DeepSIF's
file), centimetres, metres, or a unit sphere (normalised coordinates, as
EEGLAB's ``readlocs`` makes from spherical ones), which is scaled to MNE's
default head radius (``mne.defaults.HEAD_SIZE_DEFAULT``, 95 mm).

EEGLAB's origin is not MNE's: MNE's head frame is set by the fiducials (the
origin between the ear points, at the nasion's height), EEGLAB's is usually
the head's centre, 3 cm higher on DeepSIF's file. The fiducials are taken
from the channels labelled ``Nz`` (or ``nasion``), ``LPA`` and ``RPA``; with
``Nz`` but no ear points, the 10-10 electrodes ``T9`` and ``T10`` stand in
for them (they lie on the circumference through the nasion and the
preauricular points; on MNE's ``fsaverage_1005`` they sit in that plane,
11 mm in front of the ear points). MNE then brings the positions into its
head frame, as for any montage with fiducials. Without them the positions
are taken as MNE's head frame, and said (``sensors.NO_FIDUCIALS``).
Channels without coordinates are left out; ``LPA``, ``RPA`` and ``nasion``
are fiducials, not channels; ``Nz`` is both (an electrode of the 10-5
system, a row of DeepSIF's ``leadfield_75_20k.mat``).
"""

from dataclasses import dataclass

import numpy as np
from scipy.io import loadmat

from deepsif_pipeline.head.leadfields.geometry import fit_sphere

# EEGLAB's axes (x nose, y left, z up) into MNE's head frame (x right, y nose, z up): mne = EEGLAB_TO_MNE @ eeglab
EEGLAB_TO_MNE = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
FIELDS = ("labels", "X", "Y", "Z")
# radius of the sphere through the positions -> (unit, metres per unit); a head's radius is 75-110 mm
UNITS = (((0.04, 0.25), "metres", 1.0), ((4.0, 25.0), "centimetres", 0.01), ((40.0, 250.0), "millimetres", 0.001),
         ((0.4, 2.5), "a unit sphere (normalised)", None))
NASION, LPA, RPA = ("nz", "nasion"), ("lpa",), ("rpa",)
EAR_STAND_INS = ("T9", "T10")


class NotChanlocs(ValueError):
    """The file holds no EEGLAB chanlocs (the message says what it holds), or positions of no known unit."""


@dataclass(frozen=True)
class Chanlocs:
    """The channels of an EEGLAB chanlocs.

    Attributes
    ----------
    variable : str
        Where it was found, e.g. ``eloc75`` or ``EEG.chanlocs``.
    labels : list of str
        Of the channels with coordinates, in the file's order.
    xyz : array, shape (n_channels, 3)
        Their ``X``, ``Y``, ``Z`` as the file holds them (EEGLAB's axes, the file's unit).
    unit : str
        The unit found (:func:`unit_of`).
    scale : float
        Metres per unit of ``xyz``.
    """

    variable: str
    labels: list
    xyz: np.ndarray
    unit: str
    scale: float

    def positions(self):
        """``(n_channels, 3)`` positions in metres in MNE's axes (x right, y nose, z up), EEGLAB's origin."""
        return eeglab_to_mne(self.xyz * self.scale)


def eeglab_to_mne(xyz):
    """Positions (``(n, 3)``) in EEGLAB's axes (x nose, y left, z up) turned into MNE's (x right, y nose, z up):
    ``(X, Y, Z) -> (-Y, X, Z)``, unit unchanged."""
    return np.asarray(xyz, dtype=float) @ EEGLAB_TO_MNE.T


def unit_of(xyz):
    """``(unit, metres per unit)`` of EEGLAB positions, from the radius of the sphere through them.

    Raises
    ------
    NotChanlocs
        A radius of no head in metres, centimetres, millimetres or on a unit sphere.
    """
    _, radius = fit_sphere(xyz)
    for (low, high), unit, scale in UNITS:
        if low <= radius <= high:
            if scale is None:
                import mne  # (MNE's default head radius for normalised positions)
                scale = mne.defaults.HEAD_SIZE_DEFAULT / radius
            return unit, scale
    raise NotChanlocs(f"its positions lie on a sphere of radius {radius:.3g}: a head in no unit known "
                      "(metres, centimetres, millimetres or a unit sphere)")


def _is_chanlocs(value):
    return isinstance(value, np.ndarray) and value.dtype.names is not None and set(FIELDS) <= set(value.dtype.names)


def find_chanlocs(variables):
    """``(name, struct array)`` of the first chanlocs among a MATLAB file's variables (also one level down, as in
    an EEGLAB ``.set``: ``EEG.chanlocs``), or None."""
    for name, value in variables.items():
        if name.startswith("__"):
            continue
        if _is_chanlocs(value):
            return name, value
        if isinstance(value, np.ndarray) and value.dtype.names is not None and value.size == 1:
            for field in value.dtype.names:
                inner = value.flat[0][field]
                if _is_chanlocs(inner):
                    return f"{name}.{field}", inner
    return None


def _number(value):
    array = np.asarray(value, dtype=float).ravel()
    return float(array[0]) if array.size == 1 else np.nan


def _text(value):
    array = np.asarray(value).ravel()
    return str(array[0]) if array.size else ""


def read_chanlocs(path):
    """The EEGLAB chanlocs of a MATLAB file (``.mat``, or a ``.set`` saved by EEGLAB in MATLAB's v5-v7 format).

    Raises
    ------
    NotChanlocs
        The file is not one scipy reads, holds no struct array with ``labels``, ``X``, ``Y``, ``Z``, has
        fewer than 3 channels with coordinates, or its positions are in no known unit.
    """
    try:
        variables = loadmat(str(path), squeeze_me=False, struct_as_record=True)
    except NotImplementedError:
        raise NotChanlocs("a MATLAB v7.3 (HDF5) file; save it with -v7") from None
    except Exception as exc:  # scipy raises several types for files that are not MATLAB's
        raise NotChanlocs(f"not a MATLAB file ({type(exc).__name__})") from None
    found = find_chanlocs(variables)
    if found is None:
        names = [n for n in variables if not n.startswith("__")]
        raise NotChanlocs(f"no struct array with fields {', '.join(FIELDS)} among its variables "
                          f"({', '.join(names[:6]) or 'none'}{', ...' if len(names) > 6 else ''})")
    variable, entries = found
    labels, xyz = [], []
    for entry in entries.ravel():
        point = [_number(entry[axis]) for axis in "XYZ"]
        if np.all(np.isfinite(point)):
            labels.append(_text(entry["labels"]))
            xyz.append(point)
    if len(labels) < 3:
        raise NotChanlocs(f"{variable}: {len(labels)} channels with coordinates")
    xyz = np.array(xyz)
    unit, scale = unit_of(xyz)
    return Chanlocs(variable=variable, labels=labels, xyz=xyz, unit=unit, scale=scale)


def chanlocs_montage(chanlocs):
    """An ``mne.channels.DigMontage`` of the chanlocs' channels, in MNE's axes, in metres, with fiducials when
    the file has them (see the module's docstring), in the ``unknown`` frame: set on an Info, MNE moves it into
    its head frame by those fiducials, or without them takes its positions as that frame (and warns: the Info
    says so, ``sensors.NO_FIDUCIALS``)."""
    import mne
    positions = chanlocs.positions()
    lower = [label.lower() for label in chanlocs.labels]

    def find(names):
        return next((i for i, label in enumerate(lower) if label in names), None)

    nasion, lpa, rpa = find(NASION), find(LPA), find(RPA)
    if nasion is not None and (lpa is None or rpa is None):
        lpa, rpa = (find((name.lower(),)) for name in EAR_STAND_INS)
    fiducial_only = {i for i, label in enumerate(lower) if label in ("nasion",) + LPA + RPA}
    ch_pos = {label: p for i, (label, p) in enumerate(zip(chanlocs.labels, positions)) if i not in fiducial_only}
    if None in (nasion, lpa, rpa):
        return mne.channels.make_dig_montage(ch_pos, coord_frame="unknown")
    return mne.channels.make_dig_montage(ch_pos, nasion=positions[nasion], lpa=positions[lpa], rpa=positions[rpa],
                                         coord_frame="unknown")
