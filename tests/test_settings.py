"""Every option checked when it is parsed (deepsif_pipeline/config/settings.py and the orchestrator's checks).

A bad value stops the script with exit status 2 and one line, ``error: ...``, no traceback, and no file or
folder created.
"""

import os
import subprocess
import sys

import pytest

from conftest import REPO
from deepsif_pipeline import science
from deepsif_pipeline.config.settings import MAX_PIECES, Settings, check_lengths


def _refused(tmp_path, *args, script="pipeline_orchestrator.py", env=None):
    """Run a script with ``args`` (output in tmp_path/out); check it refused them cleanly; the error line."""
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(REPO / script), *map(str, args)], capture_output=True, text=True,
                         cwd=tmp_path, env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL, timeout=300)
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    assert "Traceback" not in res.stderr and res.stdout == "", res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cache"], list(tmp_path.iterdir())
    return lines[0]


@pytest.fixture
def cli(tmp_path, tvb76_cache):
    """Run the orchestrator on tvb76 regions 0-1 with extra options; the refusal line."""
    (tmp_path / "cache").symlink_to(tvb76_cache)

    def run(*extra, script="pipeline_orchestrator.py"):
        base = ("--start_region", 0, "--end_region", 1) if script == "pipeline_orchestrator.py" else ()
        return _refused(tmp_path, *base, "--anatomy", "tvb76", "--output", tmp_path / "out", *extra, script=script,
                        env={"DEEPSIF_PIPELINE_CACHE": str(tvb76_cache)})
    return run


@pytest.mark.parametrize("extra,needle", [
    (("--target-snr", "nan"), "argument --target-snr: expected a finite number, got 'nan'"),
    (("--target-snr", "inf"), "argument --target-snr: expected a finite number, got 'inf'"),
    (("--a-range", -1), "argument --a-range: must be above 0, got '-1'"),
    (("--a-range", "nan"), "argument --a-range: expected a finite number"),
    (("--seed", -5), "argument --seed: must be a whole number 0..4294967295, got '-5'"),
    (("--seed", 2 ** 32), "argument --seed: must be a whole number 0..4294967295"),
    (("--seed", "1.5"), "argument --seed: must be a whole number"),
    (("--sim-length", 1e9), "--piece-length 10 cuts --sim-length 1e+09 into 100000000 raw files"),
    (("--sim-length", "inf"), "argument --sim-length: expected a finite number"),
    (("--sim-length", 2, "--piece-length", 5), "--piece-length 5 is longer than --sim-length 2"),
    (("--piece-length", 0), "argument --piece-length: must be above 0"),
    (("--workers", 1000), "--workers 1000 is more than the"),
    (("--timeout-step1", "nan"), "argument --timeout-step1: expected a finite number"),
    (("--filename", "../x"), "--filename must be a plain name"),
    (("--redo", "--status"), "--redo replaces what a run makes"),
    (("--slice", "2/2"), "argument --slice: slice I of N needs N >= 1 and 0 <= I < N, got '2/2'"),
    (("--slice", "1"), "argument --slice: expected I/N (slice I of N, e.g. 0/8), got '1'"),
    (("--slice", "a/b"), "argument --slice: expected I/N"),
    (("--slice", "0/2"), "--slice 0/2: regions 0..0 are 1, too few for 2 slices of at least one region; use at most 1 slices"),
    (("--slice", "0/1", "--scheduler", "tcp://127.0.0.1:9"), "--slice splits a run's region range: it does not go"),
])
def test_bad_values_are_refused_in_one_line(cli, extra, needle):
    assert needle in cli(*extra)


def test_a_bad_stop_grace_is_refused_in_one_line(tmp_path, tvb76_cache):
    (tmp_path / "cache").symlink_to(tvb76_cache)
    line = _refused(tmp_path, "--start_region", 0, "--end_region", 1, "--anatomy", "tvb76", "--output", tmp_path / "out",
                    env={"DEEPSIF_PIPELINE_CACHE": str(tvb76_cache), "DEEPSIF_PIPELINE_STOP_GRACE": "soon"})
    assert "DEEPSIF_PIPELINE_STOP_GRACE='soon' is not a number of seconds above 0" in line


def test_the_step1_script_checks_the_same_options(cli):
    line = cli("--a_start", 0, "--a_end", 1, "--seed", -5, script="generate_tvb_data.py")
    assert "argument --seed: must be a whole number" in line
    line = cli("--a_start", 0, "--a_end", 1, "--sim-length", 2, "--piece-length", 5, script="generate_tvb_data.py")
    assert "--piece-length 5 is longer than --sim-length 2" in line


def test_a_huge_simulation_is_refused_for_the_disk_before_anything_runs(cli):
    line = cli("--sim-length", 1e9, "--piece-length", 1e6)
    assert line.startswith("error: not enough disk space for region 0: its raw data needs about ")


@pytest.mark.parametrize("mode", ["--pack", "--verify", "--status"])
def test_modes_on_a_folder_that_does_not_exist_create_nothing(tmp_path, tvb76_cache, mode):
    (tmp_path / "cache").symlink_to(tvb76_cache)
    line = _refused(tmp_path, mode, "--anatomy", "tvb76", "--output", tmp_path / "out",
                    env={"DEEPSIF_PIPELINE_CACHE": str(tvb76_cache)})
    assert f"no output folder {tmp_path / 'out'}" in line


def test_an_unreachable_scheduler_creates_nothing(cli, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")
    line = cli("--scheduler", "tcp://127.0.0.1:9")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in line


def test_check_lengths():
    assert check_lengths(200.0, 10.0) is None and check_lengths(2.0, 2.0) is None
    assert "too short" in check_lengths(1.0, 1.0)
    assert "longer than --sim-length" in check_lengths(2.0, 2.5)
    assert f"at most {MAX_PIECES}" in check_lengths(200.0, 0.1)


def test_default_piece_is_at_most_the_simulation():
    import argparse
    def args(**kw):
        return argparse.Namespace(**dict({k: None for k in Settings.__dataclass_fields__}, **kw))
    assert Settings.from_args(args(sim_length=2.0)).piece_length == 2.0
    assert Settings.from_args(args()).piece_length == science.PIECE_LENGTH_S
    assert Settings.from_args(args(sim_length=3.0), recorded={"sim_length": 5.0, "piece_length": 1.0}) == \
        Settings(sim_length=3.0, piece_length=1.0)
