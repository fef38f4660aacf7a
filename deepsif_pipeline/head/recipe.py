"""DeepSIF's recipe: a vertex gain made into a region lead field (numpy only).

The two steps of DeepSIF's ``misc_scripts/forward_prepare_lfd_matrix.m``
(summarised in ``../shared/docs/deepsif-method.md``):

1. fix each vertex along its cortex orientation (``lfd_free2fix``): :func:`fix_orientations`;
2. sum the fixed gains of the vertices of each region (``fwd_to_rmfwd``): :func:`sum_regions`.

Then an EEG lead field is referenced to the average of its sensors
(:func:`average_reference`) and an MEG one put in units of each sensor type's
noise (:func:`in_noise_units`), so that one SNR counts every sensor by the
noise it has (``sensors.finished`` picks which).
"""

import numpy as np

NOISE_UNITS = ("fwd is the gain (T or T/m per A.m) divided by row_scale, MNE's ad-hoc noise of each row's sensor "
               "type (mne.make_ad_hoc_cov: magnetometers 20 fT, gradiometers 5 fT/cm = 5e-13 T/m): each row in "
               "units of its sensor's noise, so one SNR counts every sensor by the noise it has")


def fix_orientations(gain, orientations):
    """Each vertex's gain along its cortex orientation (DeepSIF's ``lfd_free2fix``).

    Parameters
    ----------
    gain : array, shape (n_sensors, 3 * n_vertices)
        Free-orientation gain, columns ``3v, 3v+1, 3v+2`` the x, y, z dipoles of vertex ``v``.
    orientations : array, shape (n_vertices, 3)
        Unit orientation of each vertex (the cortex normals, ``ori``).

    Returns
    -------
    array, shape (n_sensors, n_vertices)
    """
    gain = np.asarray(gain, dtype=float)
    orientations = np.asarray(orientations, dtype=float)
    n_sensors, n_columns = gain.shape
    if n_columns != 3 * len(orientations):
        raise ValueError(f"gain has {n_columns} columns, expected 3 x {len(orientations)} vertices")
    return np.einsum("svk,vk->sv", gain.reshape(n_sensors, len(orientations), 3), orientations)


def sum_regions(fixed, mapping, n_regions):
    """The region lead field: the sum of the fixed gains of each region's vertices (DeepSIF's ``fwd_to_rmfwd``).

    Every dipole of a region carries the region's activity, so the region's
    gain is the sum of its vertices' gains.

    Parameters
    ----------
    fixed : array, shape (n_sensors, n_vertices)
    mapping : array of int, shape (n_vertices,)
        0-based region of each vertex.
    n_regions : int

    Returns
    -------
    array, shape (n_sensors, n_regions)
        A region without vertex gets a zero column.
    """
    fixed = np.asarray(fixed, dtype=float)
    mapping = np.asarray(mapping).astype(int).ravel()
    if mapping.size != fixed.shape[1]:
        raise ValueError(f"region mapping has {mapping.size} vertices, the gain {fixed.shape[1]}")
    if mapping.min() < 0 or mapping.max() >= n_regions:
        raise ValueError(f"region mapping names regions {mapping.min()}..{mapping.max()}, outside 0..{n_regions - 1}")
    membership = np.zeros((mapping.size, n_regions))
    membership[np.arange(mapping.size), mapping] = 1.0
    return fixed @ membership


def average_reference(fwd):
    """An EEG lead field referenced to the average of its sensors: each column minus its mean over the sensors.

    Parameters
    ----------
    fwd : array, shape (n_sensors, n_regions)

    Returns
    -------
    array, shape (n_sensors, n_regions)
    """
    fwd = np.asarray(fwd, dtype=float)
    return fwd - fwd.mean(axis=0, keepdims=True)


def in_noise_units(fwd, row_scale):
    """A lead field with each row divided by its sensor's noise level, so that one SNR fits every sensor type.

    Steps 2 and 4 take the signal and background powers as sums over all
    rows (``snr_power_ratio.m``, ``patch_scale_ratio.m``): rows in T and in
    T/m cannot share those sums as they are (a gradiometer's number is ~100
    times a magnetometer's for the same source). In units of each type's
    noise, every sensor counts by its signal relative to the noise it has.
    A single scale for all rows changes no SNR ratio.

    Parameters
    ----------
    fwd : array, shape (n_sensors, n_regions)
        Physical gains (T or T/m per A.m, V per A.m).
    row_scale : array, shape (n_sensors,)
        :func:`noise_levels`, same units as the rows.

    Returns
    -------
    array, shape (n_sensors, n_regions)
        ``fwd / row_scale[:, None]`` (so ``physical = saved * row_scale[:, None]``).
    """
    fwd = np.asarray(fwd, dtype=float)
    row_scale = np.asarray(row_scale, dtype=float).ravel()
    if row_scale.shape != (fwd.shape[0],) or not np.all(row_scale > 0):
        raise ValueError(f"row_scale must be {fwd.shape[0]} positive numbers, got shape {row_scale.shape}")
    return fwd / row_scale[:, None]
