"""Claims: which run is processing which region, across machines sharing the output folder.

Runs on overlapping region ranges (on one machine or several machines sharing
the output folder over NFS) claim a region before processing it, so that no
two runs process the same region at once, and a region whose run died is
taken over by the next run that comes across it.

Claim file
----------
``{folder}/{name}.claim`` (``folder`` is normally ``Layout.claim_dir``) holds
one JSON object, written once and never rewritten by its owner::

    {"version": 1, "name": "region_7", "host": "node3", "pid": 4711,
     "token": "9f0c...", "started": "2025-05-01T10:00:00+02:00",
     "boot_id": "...", "pid_ns": 4026531836, "proc_start": 123456}

``token`` (uuid4 hex) identifies the claim: a run only heartbeats or removes
a claim file holding its own token. ``boot_id``, ``pid_ns`` and
``proc_start`` (Linux, else null) tell whether ``pid`` can be checked from
here and whether the process with that pid is still the owner.

Heartbeat
---------
The heartbeat is the claim file's **modification time**: the owner touches
the file (``os.utime(path)``; on NFS the file server sets the time). The
staleness test reads that mtime and compares it with the current time *of
the same file system*, read from the mtime of a probe file created in the
folder (``server_now``), so clock skew between machines does not matter.

A claim is stale, and is taken over, when

- its heartbeat is older than ``stale_after`` seconds, or
- it was made on this machine (same host name, boot and pid namespace) by a
  process that no longer exists (or whose pid now belongs to another
  process), or
- it cannot be read (empty or not JSON: its owner crashed while writing it)
  and was last modified more than ``stale_after`` seconds ago. A recent
  unreadable claim is considered held: it may be being written right now.

Takeover
--------
Renaming a stale claim away is not safe: a slow run that judged the claim
stale could rename away the *new* claim of a faster run. Instead, a run
taking over claim generation ``G`` (its token) first wins an election, the
exclusive creation of ``.{name}.claim.{G}.takeover0``; it then re-reads the
claim, checks that it is still generation ``G`` and still stale, and
replaces it atomically (temporary file + ``os.replace``), so the claim path
never disappears during a takeover. Only generation ``G``'s elected run may
change a claim file holding ``G``: ``release`` goes through the same
election before removing the file. Election files are removed at once; one
left by a run killed inside the election (a window of a few system calls) is
ignored once older than ``stale_after`` and the next slot (``takeover1``,
...) is used.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
import hashlib
import json
import os
from pathlib import Path
import socket
import threading
import time
import uuid

SUFFIX = ".claim"
FORMAT_VERSION = 1
DEFAULT_STALE_AFTER = 600.0  # seconds without heartbeat before a claim is taken over
DEFAULT_INTERVAL = 30.0  # seconds between heartbeats
TAKEOVER_WAIT = 2.0  # seconds to wait for another run's takeover to finish
_MAX_BALLOTS = 16
_MAX_READ = 1 << 16


# ---------------------------------------------------------------------------
# this machine and its processes


def _read_text(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def process_start(pid):
    """Start time of a process in clock ticks since boot (Linux), or None."""
    text = _read_text(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    try:
        return int(fields[19])  # field 22 of proc(5); fields[0] is field 3
    except (IndexError, ValueError):
        return None


def _pid_namespace():
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def machine():
    """What identifies this machine's process table: host, boot, pid namespace."""
    return {"host": socket.gethostname(),
            "boot_id": _read_text("/proc/sys/kernel/random/boot_id"),
            "pid_ns": _pid_namespace()}


def owner_record(name):
    """A new claim's content for this process (see the module docstring)."""
    me = machine()
    return {"version": FORMAT_VERSION, "name": name, "host": me["host"], "pid": os.getpid(),
            "token": uuid.uuid4().hex,
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "boot_id": me["boot_id"], "pid_ns": me["pid_ns"], "proc_start": process_start(os.getpid())}


def same_machine(owner):
    """True when ``owner``'s pid can be checked from this process."""
    me = machine()
    return all(owner.get(key) == me[key] for key in ("host", "boot_id", "pid_ns"))


def pid_alive(pid, proc_start=None):
    """Whether process ``pid`` of this machine exists (and is the one that started at ``proc_start``).

    ``PermissionError`` from ``os.kill(pid, 0)`` means the process exists
    (owned by another user).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now_start = process_start(pid)
    return proc_start is None or now_start is None or now_start == proc_start


# ---------------------------------------------------------------------------
# files


def claim_path(folder, name):
    """``folder/{name}.claim``; ``name`` must be a plain file name not starting with a dot."""
    if not name or name.startswith(".") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"invalid claim name {name!r}")
    return Path(folder) / f"{name}{SUFFIX}"


def _create_exclusive(path, data):
    """Create ``path`` holding ``data``, whole or not at all; False if it exists.

    The data is written and flushed under a temporary name (:func:`_staging_name`),
    then hard-linked to ``path``: the link is atomic and fails if ``path``
    exists (on NFS too, the classic lock-file way), so no reader ever sees an
    empty or partial claim or ballot, even of a run killed while creating
    it. A staging file left by a killed run is removed by the next holder
    of the claim (:func:`remove_old_ballots`).
    """
    tmp = _staging_name(path)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


_STAGING = ".new"


def _staging_name(path):
    """``.{name}.{host}.{pid}.{random}.new`` beside ``path``: where its content is written first."""
    host = socket.gethostname().replace(".", "_")
    return path.with_name(f".{path.name.lstrip('.')}.{host}.{os.getpid()}.{uuid.uuid4().hex[:8]}{_STAGING}")


def _staging_is_abandoned(path, now, stale_after):
    """True for a staging file whose writer is gone: its process died on this machine, or it is old."""
    try:
        _, host, pid, _ = path.name[:-len(_STAGING)].rsplit(".", 3)
        age = now - path.stat().st_mtime
    except (ValueError, OSError):
        return False
    if age > stale_after:
        return True
    return host == socket.gethostname().replace(".", "_") and pid.isdigit() and not pid_alive(int(pid))


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _replace(path, data):
    """Replace ``path``'s content atomically (staging file in the same folder + ``os.replace``)."""
    tmp = _staging_name(path)
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(owner):
    return (json.dumps(owner, sort_keys=True) + "\n").encode()


def server_now(folder):
    """The current time of the file system holding ``folder``.

    The mtime of a probe file written there (set by the file server on NFS),
    or this machine's clock if the folder is not writable.
    """
    probe = Path(folder) / f".clock-{uuid.uuid4().hex}.probe"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, b"t")
        finally:
            os.close(fd)
        return probe.stat().st_mtime
    except OSError:
        return time.time()
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


@dataclass(frozen=True)
class _Snapshot:
    """One read of a claim file: content and status of the same open file."""

    owner: object  # dict, or None when unreadable
    raw: bytes
    mtime: float
    generation: str


def _parse(raw):
    try:
        owner = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    token = owner.get("token") if isinstance(owner, dict) else None
    ok = (isinstance(token, str) and 0 < len(token) <= 64 and token.isascii() and token.isalnum()
          and isinstance(owner.get("host"), str)
          and isinstance(owner.get("pid"), int) and not isinstance(owner["pid"], bool) and owner["pid"] > 0)
    return owner if ok else None


def _read(path):
    """Snapshot of a claim file, or None when it does not exist.

    Content and mtime come from one open file (on NFS, opening revalidates
    cached attributes).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        raw = os.read(fd, _MAX_READ)
    finally:
        os.close(fd)
    owner = _parse(raw)
    if owner is not None:
        generation = owner["token"]
    else:  # unreadable: identified by what it is now
        ident = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:".encode() + raw
        generation = "x" + hashlib.sha1(ident).hexdigest()[:24]
    return _Snapshot(owner, raw, st.st_mtime, generation)


# ---------------------------------------------------------------------------
# verdicts


@dataclass(frozen=True)
class ClaimInfo:
    """A claim as seen by someone else: who holds it and whether it is stale.

    Attributes
    ----------
    name : str
    path : Path
    owner : dict or None
        The claim's content, None when the file is unreadable.
    age : float
        Seconds since the last heartbeat (the file's mtime).
    stale : bool
    reason : str
        Why it is held or stale, e.g. ``"heartbeat 12 s ago"``.
    """

    name: str
    path: Path
    owner: object
    age: float
    stale: bool
    reason: str

    @property
    def host(self):
        return self.owner["host"] if self.owner else None

    @property
    def pid(self):
        return self.owner["pid"] if self.owner else None

    def __str__(self):
        who = f"{self.host}:{self.pid}" if self.owner else "an unknown run (unreadable claim file)"
        return f"{who} ({self.reason})"


def _duration(seconds):
    """``"10 min"``, ``"9 min 44 s"``, ``"16 s"``."""
    seconds = max(int(round(seconds)), 0)
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min" + (f" {rest} s" if rest else "") if minutes else f"{rest} s"


def takeover_advice(info, stale_after=DEFAULT_STALE_AFTER):
    """What happens to a claim held by another run, and how to take it over now; one clause.

    A run takes a claim over by itself once it has had no heartbeat for
    ``stale_after`` seconds (or, on the same machine, once its process is
    gone). A run known to be dead (its host crashed or was switched off) can
    be taken over at once by deleting the claim file.
    """
    when = (f"a run takes it over by itself after {_duration(stale_after)} without a heartbeat "
            f"(in about {_duration(stale_after - info.age)})")
    if info.owner is not None and same_machine(info.owner):
        return f"{when}, or as soon as process {info.pid} of this machine ends"
    host = f"if {info.host} is down" if info.owner is not None else "if that run is known to be dead"
    return f"{when}; {host}, delete {info.path} to take it over now"


def judge(owner, age, stale_after):
    """Whether a claim is stale, and why.

    Parameters
    ----------
    owner : dict or None
        Claim content, None when unreadable.
    age : float
        Seconds since its heartbeat (file mtime).
    stale_after : float

    Returns
    -------
    stale : bool
    reason : str
    """
    if owner is None:
        return age > stale_after, f"modified {age:.0f} s ago"
    if age > stale_after:
        return True, f"no heartbeat for {age:.0f} s"
    if same_machine(owner) and not pid_alive(owner["pid"], owner.get("proc_start")):
        return True, f"process {owner['pid']} no longer exists"
    return False, f"heartbeat {age:.0f} s ago"


def _info(path, snap, now, stale_after):
    now = server_now(path.parent) if now is None else now
    age = now - snap.mtime
    stale, reason = judge(snap.owner, age, stale_after)
    return ClaimInfo(path.name[:-len(SUFFIX)], path, snap.owner, age, stale, reason)


def list_claims(folder, stale_after=DEFAULT_STALE_AFTER, now=None):
    """Every claim in ``folder`` with its verdict (for a status report).

    Returns
    -------
    list of ClaimInfo
        Sorted by name; empty when the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = server_now(folder) if now is None else now
    out = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        snap = None if path.name.startswith(".") else _read(path)
        if snap is not None:
            out.append(_info(path, snap, now, stale_after))
    return out


# ---------------------------------------------------------------------------
# claims


@contextmanager
def _election(path, generation, stale_after):
    """Exclusive right to change the claim file while it holds ``generation``.

    Yields True when elected. Ballots whose run died inside the election
    (stale by :func:`judge`: older than ``stale_after``, or its process gone
    on this machine) are skipped, and removed only by the run elected after
    them.
    """
    ballots = [path.with_name(f".{path.name}.{generation}.takeover{k}") for k in range(_MAX_BALLOTS)]
    for k, ballot in enumerate(ballots):
        if _create_exclusive(ballot, _encode(owner_record(ballot.name))):
            try:
                yield True
            finally:
                for old in ballots[:k + 1]:  # ours, and abandoned ones before it
                    old.unlink(missing_ok=True)
            return
        snap = _read(ballot)
        if snap is None or not judge(snap.owner, server_now(path.parent) - snap.mtime, stale_after)[0]:
            break  # another run is (or was just) elected
    yield False


class Claim:
    """A claim held by this process.

    Attributes
    ----------
    path : Path
        The claim file.
    owner : dict
        Its content (see the module docstring); ``owner["token"]`` identifies it.
    took_over : ClaimInfo or None
        The stale claim this one replaced.
    lost : bool
        Set when a heartbeat or release found the file gone or someone
        else's: another run took it over (this run's heartbeat stopped for
        longer than ``stale_after``) and may be processing the region.
    """

    def __init__(self, path, owner, stale_after=DEFAULT_STALE_AFTER, took_over=None):
        self.path = Path(path)
        self.owner = owner
        self.stale_after = stale_after
        self.took_over = took_over
        self.lost = False
        self.released = False

    @property
    def name(self):
        return self.owner["name"]

    @property
    def token(self):
        return self.owner["token"]

    def __repr__(self):
        return f"Claim({str(self.path)!r}, token={self.token!r})"

    def is_ours(self):
        """True when the claim file on disk still holds this claim's token."""
        snap = _read(self.path)
        return snap is not None and snap.generation == self.token

    def heartbeat(self):
        """Set the claim file's mtime to now (the staleness test reads the mtime).

        Touching is used rather than rewriting: if another run took the
        claim over between the check and the touch, only that run's
        heartbeat is refreshed, its content is never overwritten.

        Returns
        -------
        bool
            False (and ``lost`` set) when the file is gone or not ours.
        """
        if self.released or self.lost:
            return False
        try:
            if self.is_ours():
                os.utime(self.path)  # on NFS: the server's time
                return True
        except FileNotFoundError:
            pass
        self.lost = True
        return False

    def release(self):
        """Remove the claim file if it still holds this claim's token.

        Returns
        -------
        bool
            True when removed; False when it was gone or someone else's
            (that file is left alone).
        """
        if self.released:
            return False
        with _election(self.path, self.token, self.stale_after) as elected:
            if not elected or not self.is_ours():
                self.lost = True
                return False
            self.path.unlink()
        self.released = True
        return True


def remove_old_ballots(claim):
    """Delete what killed runs left around ``claim``'s file; their number.

    Election files of other generations of the claim (left by a run killed
    inside an election), and staging files whose writer is gone. Only the
    holder of the claim may call this: an election for another generation
    can no longer change the claim file (it checks the generation first).
    """
    mine = f".{claim.path.name}.{claim.token}."
    gone = 0
    for ballot in claim.path.parent.glob(f".{claim.path.name}.*.takeover*"):
        if not ballot.name.startswith(mine) and not ballot.name.endswith(_STAGING):
            ballot.unlink(missing_ok=True)
            gone += 1
    now = server_now(claim.path.parent)
    for staged in claim.path.parent.glob(f".{claim.path.name}.*{_STAGING}"):
        if _staging_is_abandoned(staged, now, claim.stale_after):
            staged.unlink(missing_ok=True)
            gone += 1
    return gone


def _take_over(path, name, stale, stale_after, now):
    """Replace the stale claim ``stale`` (a snapshot) with a claim of ours, or None.

    Returns None when another run is taking it over, or the file changed
    (new owner, fresh heartbeat) since ``stale`` was read.
    """
    with _election(path, stale.generation, stale_after) as elected:
        if not elected:
            return None
        current = _read(path)
        if current is None or current.generation != stale.generation:
            return None
        info = _info(path, current, now, stale_after)
        if not info.stale:
            return None
        owner = owner_record(name)
        _replace(path, _encode(owner))
        return Claim(path, owner, stale_after, took_over=info)


def try_claim(folder, name, stale_after=DEFAULT_STALE_AFTER, now=None):
    """Claim ``name`` in ``folder``, taking over a stale claim.

    Parameters
    ----------
    folder : path-like
        Created if missing (normally ``Layout.claim_dir``).
    name : str
        What is claimed, e.g. ``"region_7"``.
    stale_after : float
        Seconds without heartbeat after which a claim is stale.
    now : float, optional
        Current time for the staleness test (tests); by default the file
        system's time (``server_now``).

    Returns
    -------
    Claim or ClaimInfo
        A ``Claim`` when this process holds it now; otherwise who holds it,
        e.g. ``f"region 7 is being processed by {info}, skipping"``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = claim_path(folder, name)
    deadline = time.monotonic() + TAKEOVER_WAIT
    info = None
    while True:
        owner = owner_record(name)
        if _create_exclusive(path, _encode(owner)):
            return Claim(path, owner, stale_after)
        snap = _read(path)
        if snap is not None:
            info = _info(path, snap, now, stale_after)
            if not info.stale:
                return info
            claim = _take_over(path, name, snap, stale_after, now)
            if claim is not None:
                return claim
        if time.monotonic() > deadline:  # someone else keeps changing it: let them have it
            return ClaimInfo(info.name, path, info.owner, info.age, info.stale,
                             f"{info.reason}, being taken over by another run") if info else \
                ClaimInfo(name, path, None, 0.0, False, "claimed and released repeatedly")
        time.sleep(0.005)


# ---------------------------------------------------------------------------
# heartbeat


class Heartbeat:
    """Background thread (daemon) refreshing the heartbeat of held claims.

    Use as a context manager, or ``start()`` / ``stop()``. Claims can be
    added and discarded while it runs.

    Parameters
    ----------
    claims : iterable of Claim
    interval : float
        Seconds between heartbeats; well below the ``stale_after`` others use.
    on_lost : callable, optional
        Called (from the thread) with a claim found lost; the claim is then
        dropped from the set. Its ``lost`` attribute is set either way.

    Attributes
    ----------
    errors : list of OSError
        Failures of single heartbeats (e.g. NFS hiccups), retried next time.
    """

    def __init__(self, claims=(), interval=DEFAULT_INTERVAL, on_lost=None):
        self.interval = interval
        self.on_lost = on_lost
        self.errors = []
        self._claims = list(claims)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = None

    def add(self, claim):
        with self._lock:
            self._claims.append(claim)

    def discard(self, claim):
        with self._lock:
            self._claims = [c for c in self._claims if c is not claim]

    def beat(self):
        """One heartbeat of every held claim."""
        with self._lock:
            claims = list(self._claims)
        for claim in claims:
            try:
                alive = claim.heartbeat()
            except OSError as exc:
                self.errors.append(exc)
                continue
            if not alive:
                self.discard(claim)
                if self.on_lost is not None and not claim.released:
                    self.on_lost(claim)

    def _run(self):
        while not self._stopping.wait(self.interval):
            self.beat()

    def start(self):
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="claim-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop the thread and wait for it (at most one heartbeat round)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@contextmanager
def hold(folder, name, stale_after=DEFAULT_STALE_AFTER, interval=DEFAULT_INTERVAL, on_lost=None):
    """Claim ``name`` for the duration of a ``with`` block, with a heartbeat.

    Yields the result of ``try_claim``: a ``Claim`` (heartbeat running,
    released on exit) or a ``ClaimInfo`` describing the holder (nothing to
    release).

    Examples
    --------
    >>> with hold(layout.claim_dir, f"region_{r}") as claim:  # doctest: +SKIP
    ...     if not isinstance(claim, Claim):
    ...         print(f"region {r} is being processed by {claim}, skipping")
    ...     else:
    ...         process_region(r)
    """
    if interval * 2 > stale_after:
        raise ValueError(f"heartbeat interval {interval} s is too long for stale_after {stale_after} s")
    claim = try_claim(folder, name, stale_after)
    if not isinstance(claim, Claim):
        yield claim
        return
    beat = Heartbeat([claim], interval, on_lost).start()
    try:
        yield claim
    finally:
        beat.stop()
        claim.release()
