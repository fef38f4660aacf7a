"""Spheres and axes: where sensors and a cortex are, in numbers (numpy and scipy only)."""

import numpy as np
from scipy.spatial import ConvexHull

HEAD_RADIUS_M = (0.05, 0.2)  # radii of a sphere fitted to sensors on a human head, in metres
MIN_COVERAGE_DEG = 45.0  # sensors reach at least this angle from their mean direction: they surround the head
# tvb-data's cortex has Brainstorm's axes (x anterior, y left, z up); MNE's head frame has x right, y anterior
SCS_TO_RAS = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def fit_sphere(points):
    """The sphere through ``points`` in the least-squares sense (algebraic fit).

    Parameters
    ----------
    points : array, shape (n_points, 3)

    Returns
    -------
    center : array, shape (3,)
    radius : float
    """
    points = np.asarray(points, dtype=float)
    a = np.c_[2 * points, np.ones(len(points))]
    b = (points ** 2).sum(axis=1)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    center = solution[:3]
    return center, float(np.sqrt(solution[3] + center @ center))


def check_positions(positions):
    """Why sensors at ``positions`` (metres, ``(n_sensors, 3)``) do not surround a head, or None.

    They must lie on a sphere of a head's size (:data:`HEAD_RADIUS_M`,
    which also catches positions in millimetres) and reach at least
    :data:`MIN_COVERAGE_DEG` from their mean direction seen from its centre
    (a cap covers the upper head; a strip or a cluster does not).
    """
    positions = np.asarray(positions, dtype=float)
    if np.linalg.matrix_rank(positions - positions.mean(axis=0), tol=1e-6) < 3:
        return "the sensors lie on a line or a plane: they do not surround a head"
    center, radius = fit_sphere(positions)
    if not HEAD_RADIUS_M[0] <= radius <= HEAD_RADIUS_M[1]:
        hint = " (positions in millimetres? MNE wants metres)" if radius > HEAD_RADIUS_M[1] * 100 else ""
        return (f"the sphere through the sensors has a radius of {radius:.3g} m, not a head's "
                f"({HEAD_RADIUS_M[0]:g}-{HEAD_RADIUS_M[1]:g} m){hint}")
    directions = positions - center
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    mean = directions.mean(axis=0)
    mean /= np.linalg.norm(mean)
    reach = np.degrees(np.arccos(np.clip(directions @ mean, -1, 1))).max()
    if reach < MIN_COVERAGE_DEG:
        return (f"the sensors cover only {reach:.0f} degrees around their centre, less than {MIN_COVERAGE_DEG:g}: "
                "they do not surround the head")
    return None


def align_by_spheres(cortex, sensor_positions):
    """The translation that puts a cortex under a sensor set whose frame differs from it by an origin.

    Both are fitted with a sphere: the sensors (they lie on the scalp) and
    the cortex's convex hull (its outer surface); the translation moves the
    cortex's centre onto the sensors'. What is assumed: both frames have
    the same axes and scale (e.g. tvb-data's cortex, centred on its mean
    vertex, and Brainstorm's sensors, origin between the ears), so that
    only the origin differs.

    Parameters
    ----------
    cortex : array, shape (n_vertices, 3)
        Metres.
    sensor_positions : array, shape (n_sensors, 3)
        Metres.

    Returns
    -------
    array, shape (3,)
        Add it to the cortex's positions.
    """
    cortex = np.asarray(cortex, dtype=float)
    hull_center, _ = fit_sphere(cortex[ConvexHull(cortex).vertices])
    sensor_center, _ = fit_sphere(sensor_positions)
    return sensor_center - hull_center


def sphere_points(center, radius):
    """``(6, 3)`` points on a sphere (along its axes): what :func:`align_by_spheres` fits to find ``center``."""
    return np.asarray(center, dtype=float) + radius * np.r_[np.eye(3), -np.eye(3)]
