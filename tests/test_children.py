"""Child processes: they die with the orchestrator, stop at their time limit and on a signal."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO, process_alive
from deepsif_pipeline.processes import children

pytestmark = pytest.mark.interrupts  # .ci/run runs these again on a loaded machine


def _python(code):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
@pytest.mark.parametrize("from_thread", [False, True])
def test_child_dies_when_the_orchestrator_is_killed(from_thread):
    parent = _python(f"""
        import sys, threading, time
        from deepsif_pipeline.processes import children
        def start():
            proc = children.spawn(["sleep", "60"])
            print(proc.pid, flush=True)
            proc.wait()
        if {from_thread}:
            threading.Thread(target=start).start()
        else:
            start()
        """)
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not open(f"/proc/{child}/cmdline").read().startswith("sleep"):
        time.sleep(0.02)  # the wrapper has exec'd the command
    assert process_alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "the child outlived its SIGKILLed parent"


def test_time_limit_stops_the_child(monkeypatch):
    monkeypatch.setattr(children, "GRACE", 0.5)
    t0 = time.monotonic()
    outcome = children.run(["sleep", "30"], timeout=0.5)
    assert outcome.timed_out and outcome.status == children.TIMED_OUT and not outcome.ok
    stubborn = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(30)"]
    outcome = children.run(stubborn, timeout=1.0, stdout=subprocess.DEVNULL)
    assert outcome.timed_out  # killed after the grace period although it ignores SIGTERM
    assert time.monotonic() - t0 < 8
    assert children.run(["true"], timeout=30).ok
    assert children.run(["false"]).status == 1


def test_signal_stops_children_and_nothing_new_starts():
    proc = _python("""
        import os, signal, threading, time
        from deepsif_pipeline.processes import children
        children.install_signal_handlers(lambda name: print("got", name, flush=True))
        def signal_once_running():  # the signal comes while the child runs
            while not children._running:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=signal_once_running, daemon=True).start()
        t0 = time.monotonic()
        outcome = children.run(["sleep", "30"])
        print("first", outcome.stopped, outcome.status, round(time.monotonic() - t0) < 5, flush=True)
        again = children.run(["sleep", "30"])
        print("second", again.stopped, children.stop_signal() == signal.SIGTERM, flush=True)
        """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split("\n")[:3] == ["got SIGTERM", f"first True {-signal.SIGTERM} True", "second True True"]


@pytest.mark.parametrize("handled", [False, True])
@pytest.mark.parametrize("whole_group", [True, False])
def test_a_child_killed_by_a_signal_to_the_whole_job_is_stopped_not_failed(whole_group, handled):
    """SLURM's scancel and time limit signal every process of the job at once: the child may end before
    the orchestrator's own handler ran. A SIGTERM to the child alone is a failure. The child either dies
    of it (exit -15) or exits 143 from its handler, as step 1 does."""
    child = ([sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: "
              "sys.exit(143)); print('ready', flush=True); time.sleep(30)"] if handled else ["sleep", "30"])
    proc = _python(f"""
        import os, signal, subprocess, threading, time
        from deepsif_pipeline.processes import children
        children.install_signal_handlers()
        out = []
        def step():
            proc = children.spawn({child!r}, stdout=subprocess.PIPE, text=True)
            if {handled}:
                proc.stdout.readline()  # its handler is in place
            while b"sleep" not in open(f"/proc/{{proc.pid}}/cmdline", "rb").read() and not {handled}:
                time.sleep(0.01)  # the wrapper has exec'd sleep
            proc.terminate()  # the child gets the signal first ...
            if {whole_group}:  # ... and this process 0.3 s later, as a signal to the whole job can
                threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
            out.append(children.wait(proc))
        t = threading.Thread(target=step)
        t.start()
        while t.is_alive():
            time.sleep(0.01)
        print(out[0].stopped, out[0].ok, out[0].status, flush=True)
        """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split() == [str(whole_group), "False", str(143 if handled else -signal.SIGTERM)]


def test_missing_command_is_a_clear_failure():
    outcome = children.run(["/nonexistent/octave"], stderr=subprocess.PIPE)
    assert outcome.status == 127 and not outcome.ok
    assert os.path.exists(children.WITH_PARENT)


def test_a_stopped_octave_leaves_no_workspace_file(tmp_path):
    """Octave saves its workspace to ./octave-workspace on SIGTERM unless told not to (engine.command does)."""
    from deepsif_pipeline.processes.engine import find_engine
    engine = find_engine("octave")
    cmd = engine.command("disp", "job")
    cmd[-1] = cmd[-1].replace("disp('job');", "x = zeros(500); disp('started'); pause(60);")
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"  # past Octave's start, where SIGTERM is not ignored
    start = time.time()
    proc.terminate()
    proc.wait(timeout=30)
    assert time.time() - start < 10 and proc.returncode != 0
    assert list(tmp_path.iterdir()) == []
