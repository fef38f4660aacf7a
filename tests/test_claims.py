"""Region claims: exclusive, released only by their owner, stale ones taken over exactly once."""

import json
import multiprocessing
import os
import subprocess
import time

import pytest

from deepsif_pipeline.store import claims
from deepsif_pipeline.store.claims import Claim, ClaimInfo, Heartbeat, hold, list_claims, try_claim
from deepsif_pipeline.store.layout import Layout

FORK = multiprocessing.get_context("fork")
N_RACERS = 8


@pytest.fixture(scope="module")
def dead_pid():
    """The pid of a process of this machine that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def write_claim(folder, name, age=0.0, raw=None, **changes):
    """A claim file made by "someone": this process's record with ``changes``, heartbeat ``age`` s ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = claims.claim_path(folder, name)
    if raw is None:
        owner = claims.owner_record(name) | changes
        raw = json.dumps(owner).encode()
    path.write_bytes(raw)
    set_age(path, age)
    return path


def set_age(path, age):
    t = time.time() - age
    os.utime(path, (t, t))


def token_on_disk(path):
    return json.loads(path.read_text())["token"]


def test_layout_claim_dir(tmp_path):
    assert Layout(tmp_path).claim_dir == tmp_path / "claims"


def test_second_claim_sees_holder_then_succeeds_after_release(tmp_path):
    first = try_claim(tmp_path / "claims", "region_7")
    assert isinstance(first, Claim)
    assert first.path == tmp_path / "claims" / "region_7.claim"
    on_disk = json.loads(first.path.read_text())
    assert on_disk == first.owner
    assert {"host", "pid", "token", "started", "name"} <= set(on_disk) and on_disk["pid"] == os.getpid()

    second = try_claim(tmp_path / "claims", "region_7")
    assert isinstance(second, ClaimInfo) and not second.stale
    assert (second.host, second.pid, second.owner["token"]) == (first.owner["host"], os.getpid(), first.token)
    assert 0 <= second.age < 5
    assert str(second).startswith(f"{first.owner['host']}:{os.getpid()} (heartbeat ")
    assert str(second).endswith(" s ago)")

    assert first.release() is True
    assert not first.path.exists()
    assert first.release() is False  # once only
    third = try_claim(tmp_path / "claims", "region_7")
    assert isinstance(third, Claim) and third.token != first.token
    assert sorted(p.name for p in (tmp_path / "claims").iterdir()) == ["region_7.claim"]  # no leftovers


def test_release_leaves_a_claim_taken_over_by_someone_else(tmp_path):
    mine = try_claim(tmp_path, "r")
    # our heartbeat stopped (say, the machine was suspended): another run takes over
    theirs = try_claim(tmp_path, "r", now=time.time() + 3600)
    assert isinstance(theirs, Claim) and theirs.took_over.owner["token"] == mine.token
    assert "no heartbeat for" in theirs.took_over.reason
    assert mine.heartbeat() is False and mine.lost
    assert mine.release() is False
    assert token_on_disk(mine.path) == theirs.token
    assert theirs.release() is True and not theirs.path.exists()


def test_stale_by_heartbeat_age(tmp_path):
    other = {"host": "elsewhere", "pid": 123456, "boot_id": "b", "pid_ns": 1}  # pid not checkable
    path = write_claim(tmp_path, "r", age=10, **other)
    held = try_claim(tmp_path, "r", stale_after=60)
    assert isinstance(held, ClaimInfo) and held.host == "elsewhere" and 9 < held.age < 30
    assert isinstance(try_claim(tmp_path, "r", stale_after=60, now=time.time() + 40), ClaimInfo)

    taken = try_claim(tmp_path, "r", stale_after=60, now=time.time() + 100)  # via now
    assert isinstance(taken, Claim) and taken.took_over.host == "elsewhere"
    assert token_on_disk(path) == taken.token

    path = write_claim(tmp_path, "s", age=120, **other)  # via the file's mtime
    taken = try_claim(tmp_path, "s", stale_after=60)
    assert isinstance(taken, Claim) and token_on_disk(path) == taken.token


def test_dead_process_on_this_machine_is_taken_over_at_once(tmp_path, dead_pid):
    path = write_claim(tmp_path, "r", pid=dead_pid, proc_start=None)
    taken = try_claim(tmp_path, "r")
    assert isinstance(taken, Claim)
    assert taken.took_over.pid == dead_pid and "no longer exists" in taken.took_over.reason
    assert token_on_disk(path) == taken.token


def test_dead_pid_of_another_machine_or_boot_is_not_checked(tmp_path, dead_pid):
    write_claim(tmp_path, "a", pid=dead_pid, host="elsewhere")
    write_claim(tmp_path, "b", pid=dead_pid, boot_id="another boot")
    assert isinstance(try_claim(tmp_path, "a"), ClaimInfo)
    assert isinstance(try_claim(tmp_path, "b"), ClaimInfo)


def test_reused_pid_is_dead(tmp_path):
    start = claims.process_start(os.getpid())
    if start is None:
        pytest.skip("no /proc")
    write_claim(tmp_path, "r", proc_start=start + 1)  # our pid, but another process started with it
    assert isinstance(try_claim(tmp_path, "r"), Claim)


def test_permission_error_means_the_process_exists(monkeypatch):
    def kill(pid, sig):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(claims.os, "kill", kill)
    assert claims.pid_alive(12345) is True


@pytest.mark.parametrize("raw", [b"", b'{"host": "node3", "pi', b"[1, 2]"])
def test_unreadable_claim_is_held_while_recent_then_taken_over(tmp_path, raw):
    path = write_claim(tmp_path, "r", age=5, raw=raw)
    held = try_claim(tmp_path, "r", stale_after=60)
    assert isinstance(held, ClaimInfo) and held.owner is None and not held.stale
    assert "unknown run" in str(held)
    assert path.read_bytes() == raw

    set_age(path, 120)
    taken = try_claim(tmp_path, "r", stale_after=60)
    assert isinstance(taken, Claim) and taken.took_over.owner is None
    assert token_on_disk(path) == taken.token


def test_slow_taker_does_not_displace_the_new_claim(tmp_path):
    """Two runs saw the same stale claim; the slower must leave the faster's new claim alone."""
    path = write_claim(tmp_path, "r", age=1000, host="elsewhere")
    seen_by_slow = claims._read(path)
    fast = try_claim(tmp_path, "r")
    assert isinstance(fast, Claim)
    assert claims._take_over(path, "r", seen_by_slow, claims.DEFAULT_STALE_AFTER, None) is None
    assert fast.is_ours()
    assert isinstance(try_claim(tmp_path, "r"), ClaimInfo)


def test_revived_owner_keeps_its_claim(tmp_path):
    """Judged stale, but its heartbeat came back before the takeover: not taken."""
    path = write_claim(tmp_path, "r", age=1000, host="elsewhere")
    seen = claims._read(path)
    set_age(path, 0)
    assert claims._take_over(path, "r", seen, claims.DEFAULT_STALE_AFTER, None) is None
    assert claims._read(path).generation == seen.generation


def test_takeover_in_progress_and_abandoned_ballot(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "TAKEOVER_WAIT", 0.1)
    path = write_claim(tmp_path, "r", age=1000, host="elsewhere")
    token = token_on_disk(path)
    ballot = tmp_path / f".r.claim.{token}.takeover0"
    ballot.write_text("{}")  # another run is taking it over right now
    busy = try_claim(tmp_path, "r")
    assert isinstance(busy, ClaimInfo) and "being taken over" in busy.reason
    assert token_on_disk(path) == token

    set_age(ballot, 1000)  # that run died inside its takeover
    taken = try_claim(tmp_path, "r")
    assert isinstance(taken, Claim)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.claim"]


def test_ballot_of_a_dead_process_does_not_block_and_old_ballots_are_removed(tmp_path, dead_pid):
    path = write_claim(tmp_path, "r", pid=dead_pid)  # its run was killed while releasing it
    token = token_on_disk(path)
    ballot = tmp_path / f".r.claim.{token}.takeover0"
    ballot.write_text(json.dumps(claims.owner_record(ballot.name) | {"pid": dead_pid}))
    taken = try_claim(tmp_path, "r")  # at once: the ballot's process is gone on this machine
    assert isinstance(taken, Claim) and taken.took_over is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.claim"]

    # a ballot of an old generation left after the claim file was removed: only the holder deletes it
    orphan = tmp_path / ".r.claim.0123abcd.takeover1"
    orphan.write_text("{}")
    assert claims.remove_old_ballots(taken) == 1 and not orphan.exists()
    assert taken.release() and list(tmp_path.iterdir()) == []


def _racer(folder, name, start, finish, results):
    start.wait(timeout=30)
    result = try_claim(folder, name)
    won = isinstance(result, Claim)
    results.put((os.getpid(), won, result.token if won else str(result)))
    finish.wait(timeout=30)  # the winner stays alive (its claim valid) until everyone has tried


def race(folder, name):
    """N processes claim ``name`` at the same moment; their results."""
    start, finish, results = FORK.Barrier(N_RACERS), FORK.Barrier(N_RACERS + 1), FORK.Queue()
    procs = [FORK.Process(target=_racer, args=(folder, name, start, finish, results)) for _ in range(N_RACERS)]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=30) for _ in procs]
        finish.wait(timeout=30)
    finally:
        for p in procs:
            p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    return out


def test_race_for_a_free_claim_has_one_winner(tmp_path):
    for rnd in range(3):
        out = race(tmp_path, f"r{rnd}")
        winners = [o for o in out if o[1]]
        assert len(winners) == 1, out
        pid, _, token = winners[0]
        assert token_on_disk(tmp_path / f"r{rnd}.claim") == token
        assert all(f":{pid} (" in text or "unknown run" in text for _, won, text in out if not won)


@pytest.mark.parametrize("kind", ["old heartbeat", "dead process", "old unreadable"])
def test_race_for_a_stale_claim_has_one_winner(tmp_path, kind, dead_pid):
    for rnd in range(2):
        name = f"r{rnd}"
        if kind == "old heartbeat":
            path = write_claim(tmp_path, name, age=1000, host="elsewhere")
        elif kind == "dead process":
            path = write_claim(tmp_path, name, pid=dead_pid, proc_start=None)
        else:
            path = write_claim(tmp_path, name, age=1000, raw=b"")
        out = race(tmp_path, name)
        winners = [o for o in out if o[1]]
        assert len(winners) == 1, out
        assert token_on_disk(path) == winners[0][2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r0.claim", "r1.claim"]  # no ballots or temp files


def wait_for(condition, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_heartbeat_thread_refreshes_and_stops(tmp_path):
    claim = try_claim(tmp_path, "r")
    set_age(claim.path, 100)
    with Heartbeat([claim], interval=0.05) as beat:
        assert beat.running
        assert wait_for(lambda: time.time() - claim.path.stat().st_mtime < 50)
    assert not beat.running and beat.errors == []
    set_age(claim.path, 100)
    time.sleep(0.2)
    assert time.time() - claim.path.stat().st_mtime > 50  # stopped: no more heartbeats
    assert list_claims(tmp_path)[0].age > 50  # the staleness test reads the mtime


def test_heartbeat_reports_a_lost_claim(tmp_path):
    claim = try_claim(tmp_path, "r")
    lost = []
    with Heartbeat([claim], interval=0.05, on_lost=lost.append):
        theirs = try_claim(tmp_path, "r", now=time.time() + 3600)
        assert isinstance(theirs, Claim)
        assert wait_for(lambda: lost == [claim])
    assert claim.lost and theirs.is_ours()


def test_hold(tmp_path):
    with hold(tmp_path, "r", interval=0.05) as claim:
        assert isinstance(claim, Claim)
        with hold(tmp_path, "r") as other:
            assert isinstance(other, ClaimInfo) and other.owner["token"] == claim.token
        assert claim.path.exists()  # the loser released nothing
    assert not claim.path.exists()
    with pytest.raises(RuntimeError), hold(tmp_path, "r") as claim:
        raise RuntimeError("step 1 failed")
    assert not claim.path.exists()  # released on error too
    with pytest.raises(ValueError):
        with hold(tmp_path, "r", stale_after=10, interval=30):
            pass


def test_list_claims(tmp_path, dead_pid):
    assert list_claims(tmp_path / "none") == []
    mine = try_claim(tmp_path, "region_1")
    write_claim(tmp_path, "region_2", pid=dead_pid, proc_start=None)
    write_claim(tmp_path, "region_3", age=1000, host="elsewhere")
    write_claim(tmp_path, "region_4", raw=b"")
    verdicts = {i.name: (i.stale, i.owner and i.owner["token"]) for i in list_claims(tmp_path)}
    assert verdicts["region_1"] == (False, mine.token)
    assert verdicts["region_2"][0] and verdicts["region_3"][0]
    assert verdicts["region_4"] == (False, None)
    assert list(verdicts) == ["region_1", "region_2", "region_3", "region_4"]


def test_server_now_is_the_file_system_clock(tmp_path):
    assert abs(claims.server_now(tmp_path) - time.time()) < 5
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", ".hidden", "a/b"])
def test_invalid_names(tmp_path, name):
    with pytest.raises(ValueError):
        try_claim(tmp_path, name)


def test_claims_and_ballots_appear_whole_and_staging_left_by_a_killed_run_is_removed(tmp_path, dead_pid):
    """A claim or ballot is written under a staging name, then linked into place: a run killed in between
    leaves a staging file (removed by the next holder), never an empty claim or ballot that would block
    a takeover for ``stale_after`` (seen in the crash test: a ballot of a release cut short)."""
    import socket
    host = socket.gethostname().replace(".", "_")
    tmp_path.mkdir(exist_ok=True)
    dead = tmp_path / f".region_3.claim.{host}.{dead_pid}.abcd1234.new"
    dead.write_text("")
    dead_ballot = tmp_path / f".region_3.claim.sometoken.takeover0.{host}.{dead_pid}.ef012345.new"
    dead_ballot.write_text('{"half": ')
    live = tmp_path / f".region_3.claim.{host}.{os.getpid()}.0badc0de.new"
    live.write_text("")
    claim = try_claim(tmp_path, "region_3")
    assert isinstance(claim, Claim) and json.loads(claim.path.read_text())["token"] == claim.token
    assert claims.remove_old_ballots(claim) == 2
    assert not dead.exists() and not dead_ballot.exists() and live.exists(), "a live writer's file is kept"
    live.unlink()
    assert claim.release() and sorted(p.name for p in tmp_path.iterdir()) == [], "release leaves nothing"
