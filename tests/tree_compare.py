"""Two output folders compared array by array: every ``.mat`` variable and every HDF5 dataset and attribute.

Used by ``bench/bench_outputs.py`` (a refactor changed no output) and the
tests; it imports nothing from the pipeline, so it works on any two folders.
Files under ``logs/`` and ``claims/`` (run records) and under any
``raw_nmm/`` (step 3 deletes it) are not outputs; ``dataset.json`` is not
compared (dates, software line).
"""

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import h5py
import numpy as np
from scipy.io import loadmat

SUFFIXES = (".mat", ".h5")
IGNORED_TOP = ("logs", "claims")  # run records, not outputs
IGNORED_ANYWHERE = ("raw_nmm",)  # step 3 deletes it
MAT_HEADER = ("__header__", "__version__", "__globals__")  # __header__ holds the file's creation time



@dataclass(frozen=True)
class Difference:
    """One way in which two output folders differ.

    Attributes
    ----------
    file : str
        Path of the file relative to the output folder (POSIX form).
    variable : str
        The ``.mat`` variable, the HDF5 object ``/path`` or attribute
        ``/path@name``; empty when the whole file differs.
    how : str
        What differs: ``only in reference``, ``shape (3,) vs (4,)``,
        ``dtype float32 vs float64``, ``values: 2 of 500 elements differ,
        max abs difference 1.5e-07``, ...
    """

    file: str
    variable: str
    how: str

    def __str__(self):
        return f"{self.file}: {self.variable + ': ' if self.variable else ''}{self.how}"


@dataclass
class Comparison:
    """The comparison of two output folders.

    Attributes
    ----------
    files : int
        Files compared (present in both).
    arrays : int
        Arrays compared: ``.mat`` variables, HDF5 datasets and attributes.
    differences : list of Difference
        Empty when the folders are identical.
    """

    files: int = 0
    arrays: int = 0
    differences: list = field(default_factory=list)

    @property
    def identical(self):
        """bool: no difference found."""
        return not self.differences

    def summary(self, name):
        """One line: ``name: 245 files, 1034 arrays: identical`` (or the count of differences)."""
        verdict = "identical" if self.identical else f"{len(self.differences)} differences"
        return f"{name}: {self.files} files, {self.arrays} arrays: {verdict}"


def output_files(root):
    """The output files of an output folder that are compared.

    Parameters
    ----------
    root : Path
        The output folder (``--output`` of a run).

    Returns
    -------
    set of str
        Relative POSIX paths of the ``.mat`` and ``.h5`` files, without those
        under ``logs/``, ``claims/`` and any ``raw_nmm/``.
    """
    root = Path(root)
    found = set()
    for path in root.rglob("*"):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        if relative.parts[0] in IGNORED_TOP or any(part in IGNORED_ANYWHERE for part in relative.parts[:-1]):
            continue
        found.add(str(relative))
    return found


def compare_trees(a, b, labels=("a", "b")):
    """Compare every output file of two output folders.

    Parameters
    ----------
    a, b : Path
        The two output folders.
    labels : tuple of str
        Names of ``a`` and ``b`` in the differences (``only in a``).

    Returns
    -------
    Comparison
        Files and arrays compared, and the differences (a file present in
        one folder only is one difference; the files of both are compared
        with :func:`compare_files`).
    """
    in_a, in_b = output_files(a), output_files(b)
    result = Comparison()
    for name in sorted(in_a ^ in_b):
        result.differences.append(Difference(name, "", f"only in {labels[0] if name in in_a else labels[1]}"))
    for name in sorted(in_a & in_b):
        arrays, differences = compare_files(Path(a) / name, Path(b) / name, name, labels)
        result.files += 1
        result.arrays += arrays
        result.differences.extend(differences)
    return result


def compare_files(a, b, name=None, labels=("a", "b")):
    """Compare two ``.mat`` or two ``.h5`` files array by array.

    Parameters
    ----------
    a, b : Path
        The two files (the suffix of ``a`` chooses the reader).
    name : str, optional
        The file's name in the differences (default: ``a``'s name).
    labels : tuple of str
        Names of ``a`` and ``b`` in the differences.

    Returns
    -------
    arrays : int
        Arrays compared.
    differences : list of Difference
    """
    name = name or Path(a).name
    if Path(a).suffix == ".mat":
        try:
            values = [_mat_variables(a), _mat_variables(b)]
        except NotImplementedError:  # MATLAB v7.3: an HDF5 file
            return _compare_h5(a, b, name, labels)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return 0, [Difference(name, "", f"unreadable: {type(error).__name__}: {error}")]
        return _compare_mappings(values, name, labels)
    return _compare_h5(a, b, name, labels)


def _mat_variables(path):
    """The variables of a MAT-file without its header entries."""
    return {key: value for key, value in loadmat(str(path)).items() if key not in MAT_HEADER}


def _compare_mappings(values, name, labels):
    """Compare two ``name -> array`` dicts: (arrays compared, differences)."""
    a, b = values
    differences = [Difference(name, key, f"only in {labels[0] if key in a else labels[1]}")
                   for key in sorted(set(a) ^ set(b))]
    common = sorted(set(a) & set(b))
    for key in common:
        how = compare_values(a[key], b[key])
        if how:
            differences.append(Difference(name, key, how))
    return len(common), differences


def _compare_h5(a, b, name, labels):
    """Compare every group, dataset and attribute of two HDF5 files: (arrays compared, differences)."""
    try:
        with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
            (groups_a, values_a), (groups_b, values_b) = _h5_arrays(fa), _h5_arrays(fb)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return 0, [Difference(name, "", f"unreadable: {type(error).__name__}: {error}")]
    differences = [Difference(name, path, f"group only in {labels[0] if path in groups_a else labels[1]}")
                   for path in sorted(groups_a ^ groups_b)]
    arrays, more = _compare_mappings([values_a, values_b], name, labels)
    return arrays, differences + more


def _h5_arrays(f):
    """The groups of an open HDF5 file, and its arrays.

    Returns
    -------
    groups : set of str
        ``/path`` of every group (the root included).
    arrays : dict
        ``/path`` -> a dataset's values, ``/path@name`` -> an attribute's
        value (of the groups and the datasets).
    """
    objects = {"/": f}
    f.visititems(lambda path, obj: objects.__setitem__("/" + path, obj))
    groups, arrays = set(), {}
    for path, obj in objects.items():
        if isinstance(obj, h5py.Dataset):
            arrays[path] = obj[()]
        else:
            groups.add(path)
        for key, value in obj.attrs.items():
            arrays[f"{path}@{key}"] = value
    return groups, arrays


def compare_values(x, y):
    """How two arrays differ, or None when identical.

    Parameters
    ----------
    x, y : array_like
        Values as read (``loadmat`` arrays, cell arrays as object arrays,
        structs as structured arrays, HDF5 values, strings, scalars).

    Returns
    -------
    str or None
        ``shape ...``, ``dtype ...`` or ``values: N of M elements differ,
        max abs difference D`` (an object array's element or a struct's
        field named first); None when shape, dtype and values are equal
        (NaN equal to NaN; strings of different lengths compare by value).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return f"shape {x.shape} vs {y.shape}"
    strings = x.dtype.kind in "SU" and x.dtype.kind == y.dtype.kind
    if x.dtype != y.dtype and not strings:
        return f"dtype {x.dtype} vs {y.dtype}"
    if x.dtype.names:  # a MATLAB struct array
        for key in x.dtype.names:
            how = compare_values(x[key], y[key])
            if how:
                return f"field {key}: {how}"
        return None
    if x.dtype.kind == "O":  # a cell array, or HDF5 variable-length values
        for index in np.ndindex(x.shape):
            how = compare_values(x[index], y[index])
            if how:
                return f"element {index}: {how}"
        return None
    numeric = x.dtype.kind in "fc"
    if np.array_equal(x, y, equal_nan=numeric):
        return None
    same = x == y
    if numeric:
        same |= np.isnan(x) & np.isnan(y)
    differ = ~np.asarray(same, dtype=bool)
    how = f"values: {int(np.count_nonzero(differ))} of {x.size} elements differ"
    if x.dtype.kind in "biufc":
        kind = complex if x.dtype.kind == "c" else float
        gaps = np.abs(x.astype(kind) - y.astype(kind))[differ]
        gaps = gaps[~np.isnan(gaps)]
        how += f", max abs difference {gaps.max():.3g}" if gaps.size else ", NaN against numbers"
    return how
