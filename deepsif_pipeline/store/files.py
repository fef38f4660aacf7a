"""Files that are either complete under their final name or absent.

Every file the pipeline writes goes through the same three moves: write it
under a temporary name in the destination folder (``.tmp_<name>_<pid>``,
also in ``matlab/save_mat_atomic.m``), flush it to the disk, rename it to
its final name. A process killed half-way leaves a ``.tmp_*`` file behind,
never a half-written final file; :func:`sweep_temporaries` removes such
leftovers once the folder's owner (a region's claim) knows no writer is
left.

A MAT-file can still be damaged after the fact (a copy that stopped half
way, a node that rebooted before the data reached the disk):
:func:`mat_file_problem` finds truncated and garbled files from their
element headers alone, without reading the data.
"""

import os
from pathlib import Path
import struct

from scipy.io import savemat

TMP_PREFIX = ".tmp_"  # temporary names: TMP_PREFIX + final stem + _pid + suffix


def format_bytes(n):
    """``1.5 GB``, ``12.3 MB``: a size for people (powers of 1000, as ``df -H``)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.1f} kB"


def temporary_name(path, tag=None):
    """The temporary name ``path`` is written under before it is renamed into place."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.stem}_{os.getpid() if tag is None else tag}{path.suffix}")


def fsync_path(path):
    """Flush a file's (or a folder's: its entries') data to the disk."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp, path):
    """Flush ``tmp`` to the disk, rename it to ``path`` and flush the folder's entry."""
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(Path(path).parent)


def write_mat_atomic(path, variables):
    """Write a MATLAB (v5) file so that ``path`` only ever holds a complete file.

    Parameters
    ----------
    path : Path
    variables : dict
        Variable name -> value, as for :func:`scipy.io.savemat`.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        savemat(str(tmp), variables, do_compression=False)
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path, text):
    """Write a small text file so that ``path`` only ever holds all of it (folder created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        tmp.write_text(text)
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sweep_temporaries(folder, stem_prefix=""):
    """Delete the ``.tmp_*`` files left in ``folder`` by killed writers.

    Only call it while no writer of these names can be running (under the
    claim of the region or step that owns them).

    Parameters
    ----------
    folder : Path
    stem_prefix : str
        Only temporaries of final names starting with this (e.g.
        ``iter_0_i_5_`` for one region's marker in a shared folder).

    Returns
    -------
    list of Path
        The files deleted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = []
    for path in folder.glob(f"{TMP_PREFIX}{stem_prefix}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone


_MI_COMPRESSED, _MI_MATRIX = 15, 14


def mat_file_problem(path):
    """What is wrong with a MATLAB v5/v6/v7 file's structure, or None when it is whole.

    Walks the top-level data elements by their headers (type and byte
    count) and checks that they tile the file exactly, so a file cut short,
    padded or with a garbled header is found without reading its data.
    Bit flips inside the data are not found (``--verify`` loads the data).

    Returns
    -------
    str or None
        A short description ('empty file', 'truncated: ...'), or None.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(128)
            if size == 0:
                return "empty file"
            if len(header) < 128 or header[126:128] not in (b"IM", b"MI"):
                return "not a MATLAB v5/v6/v7 file (bad header)"
            order = "<" if header[126:128] == b"IM" else ">"
            if struct.unpack(order + "H", header[124:126])[0] == 0x0200:
                return None  # v7.3: an HDF5 file, checked by h5py when it is read
            pos = 128
            while pos < size:
                fh.seek(pos)
                tag = fh.read(8)
                if len(tag) < 8:
                    return f"truncated: {size} bytes, element header cut at byte {pos}"
                kind, nbytes = struct.unpack(order + "II", tag)
                if kind not in (_MI_COMPRESSED, _MI_MATRIX):
                    return f"garbled: element of type {kind} at byte {pos}"
                end = pos + 8 + nbytes
                if end > size:
                    return f"truncated: {size} bytes, its last variable needs {end}"
                pos = end
            if pos == 128:
                return "holds no variable"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return None
