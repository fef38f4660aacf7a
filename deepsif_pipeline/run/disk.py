"""Disk space: the raw data of the regions being simulated against the free space of the output."""

from pathlib import Path
import shutil
import threading

from deepsif_pipeline.store.files import format_bytes

# Free space required before a region's simulation: its raw data plus this share and this many bytes.
DISK_MARGIN_SHARE = 0.10
DISK_MARGIN_BYTES = 256e6


def existing_ancestor(path):
    """``path`` or its nearest existing parent folder."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_bytes(path):
    """Free bytes of the file system that holds (or will hold) ``path``."""
    return shutil.disk_usage(existing_ancestor(path)).free


def with_margin(need):
    """Bytes to have free for ``need`` bytes of raw data."""
    return need * (1 + DISK_MARGIN_SHARE) + DISK_MARGIN_BYTES


def shortage(output, need, what, others=0.0):
    """Why ``need`` bytes (+ ``others`` reserved beside them) do not fit in ``output``, or None."""
    required = with_margin(need + others)
    free = free_bytes(output)
    if free >= required:
        return None
    beside = f" (+ {format_bytes(others)} for the regions running beside it)" if others else ""
    return (f"not enough disk space for {what}: its raw data needs about {format_bytes(need)}{beside}, "
            f"{format_bytes(required)} with the margin, and {output} has {format_bytes(free)} free; free some "
            "space (--raw-rate decimated, the default, needs a quarter of what full needs), then re-run")


class DiskGuard:
    """Free space of the output file system against the raw data of the regions being simulated.

    Regions simulated at once (``--workers``) each reserve their estimate
    until their raw data is deleted.
    """

    def __init__(self, output):
        self.output = Path(output)
        self.reserved, self.lock = {}, threading.Lock()

    def reserve(self, region, need):
        """Reserve ``need`` bytes for ``region``; None when there is room, else the message why not."""
        with self.lock:
            others = sum(v for r, v in self.reserved.items() if r != region)
            problem = shortage(self.output, need, f"region {region}", others)
            if problem is None:
                self.reserved[region] = need
            return problem

    def release(self, region):
        with self.lock:
            self.reserved.pop(region, None)
