"""What a user reads on the console, on real small runs of the built-in tvb76 template (real engines, Octave).

Output through a pipe, as under nohup: the seed's banners, a progress line
per region, step 1 and Octave's own lines in the region's log only, true
engine names and clip counts, a region without clips marked as such,
``--keep-raw`` without a delete line, and a summary that ends with the
output folder, the clips and the ``--verify`` command, runnable as printed.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest
from scipy.io import loadmat

from conftest import REPO, tvb76_run

pytestmark = pytest.mark.slow

PROGRESS = re.compile(r"^Progress: (\d+) of (\d+) regions done(, (\d+) to do)?; (\d+) clips? so far; "
                      r"\d+:\d\d:\d\d elapsed(, about \d+:\d\d:\d\d left \(\d+\.\d s per region\))?$")


@pytest.fixture(scope="module")
def piped(tvb76_cache, tmp_path_factory):
    """Regions 9-11 with 2 s per mean iteration, the run's progress as it is under a pipe."""
    out = tmp_path_factory.mktemp("console") / "source"
    res = tvb76_run(tvb76_cache, out, "--start_region", 9, "--end_region", 12, "--sim-length", 2,
                    "--progress", "auto")
    return out, res


def _clips(out, r):
    return int(loadmat(out / "nmm_spikes" / "clip_info" / "iter2" / f"iter_2_i_{r}.mat")["num_spike"].ravel()[0])


def test_header_names_both_engines(piped):
    out, res = piped
    assert res.returncode == 0, res.stdout[-3000:]
    lines = res.stdout.splitlines()
    assert "step 1 (simulation): fast engine (--engine fast), 2 s x 3 mean iterations per region in 2 s pieces, " \
           "A = 3.5; a region stops once it has 100 clips (--mean-iterations needed, --dataset train); up to 4 mean " \
           "iterations of any regions per step-1 pass" in lines
    assert any(re.fullmatch(r"steps 2 and 4: GNU Octave \(\S+octave\S*\), target SNR 15 dB", ln) for ln in lines)
    assert "engine octave" not in res.stdout


def test_seed_banners_and_true_words_per_region(piped):
    out, res = piped
    text = res.stdout
    for i, r in enumerate((9, 10, 11)):
        assert f"# Processing Region {r} ({i + 1}/3)" in text
        assert f"STEP 1: Generating TVB data for region {r} (fast engine)" in text
        assert f"STEP 2: Processing raw NMM data for region {r}" in text
        assert f"STEP 3: Deleting raw data for region {r}" in text
        for m in (0, 1, 2):  # no region of these reaches 100 clips: every mean iteration
            assert re.search(rf"^\u2713 Successfully generated TVB data for region {r} \(fast engine, mean iteration "
                             rf"{m}: 2 s simulated, in a pass of \d+\.\d s\)$", text, re.M)
        n = _clips(out, r)
        word = "clip" if n == 1 else "clips"
        assert re.search(rf"^\u2713 Successfully processed raw NMM data for region {r} \(GNU Octave, \d+\.\d s\): "
                         rf"{n} {word}$", text, re.M)
        assert f"\u2713 Successfully deleted raw data for region {r} ({out / 'raw_nmm' / f'a{r}'}, " in text
        if n:
            assert re.search(rf"^\u2713 Completed region {r} in \d+\.\d\d seconds: {n} {word}$", text, re.M)
        else:
            assert re.search(rf"^\u25cb Completed region {r} in \d+\.\d\d seconds: no clips", text, re.M)
    assert "1 clips" not in text and "TVB simulation" not in text
    counts = [_clips(out, r) for r in (9, 10, 11)]
    assert 1 in counts and any(c > 1 for c in counts), f"tvb76 regions 9-11 at 2 s give 1 and more clips: {counts}"


def test_detail_goes_to_the_region_log(piped):
    out, res = piped
    for r in (9, 10, 11):
        log = (out / "logs" / f"region_{r}.log").read_text()
        assert "------ Generate data of units 9:0 10:0 11:0 ----------" in log  # step 1's own lines: one pass
        assert f"region {r} mean iteration 2 piece 1/1 written" in log
        assert f"iter 2 region {r}: " in log  # Octave's
        assert "Generate data of units" not in res.stdout and f"iter 2 region {r}" not in res.stdout
    assert "per region: the steps' own output goes to " \
           f"{out / 'logs'}/region_{{r}}.log (--verbose shows it here too)" in res.stdout


def test_progress_lines_under_a_pipe(piped):
    out, res = piped
    assert "\r" not in res.stdout and "\x1b" not in res.stdout
    progress = [ln for ln in res.stdout.splitlines() if ln.startswith("Progress:")]
    assert len(progress) == 3, progress
    made = 0
    for k, (line, r) in enumerate(zip(progress, (9, 10, 11))):
        match = PROGRESS.match(line)
        assert match, line
        made += _clips(out, r)
        assert int(match.group(1)) == k + 1 and int(match.group(2)) == 3 and int(match.group(5)) == made
        assert (match.group(6) is not None) == (k < 2)  # an estimate while regions are left
    # each follows its region's result line
    lines = res.stdout.splitlines()
    for line, r in zip(progress, (9, 10, 11)):
        assert f"Completed region {r} in" in lines[lines.index(line) - 1]


def test_console_lines_per_region(piped):
    """Each region's lines, in the seed's order, whatever other regions share its step-1 passes."""
    out, res = piped
    lines = res.stdout.splitlines()
    for r in (9, 10, 11):
        mine = [ln for ln in lines if re.search(rf"\b[Rr]egion {r}\b", ln) and not ln.startswith("Progress")]
        n = _clips(out, r)
        expected = [f"# Processing Region {r} ({r - 8}/3)"]
        for m in (0, 1, 2):
            expected += [f"STEP 1: Generating TVB data for region {r} (fast engine)"]
            if m:  # how many clips the region has, and needs, before its next mean iteration
                expected += [f"mean iteration {m} (region {r} has "]
            expected += [f"\u2713 Successfully generated TVB data for region {r} (fast engine, mean iteration {m}",
                         f"STEP 2: Processing raw NMM data for region {r}",
                         f"\u2713 Successfully processed raw NMM data for region {r} (GNU Octave"]
        expected += [f"STEP 3: Deleting raw data for region {r}", f"\u2713 Successfully deleted raw data for region {r}",
                     ("\u2713" if n else "\u25cb") + f" Completed region {r} in"]
        assert len(mine) == len(expected), mine
        for got, want in zip(mine, expected):
            assert got.startswith(want), (got, want)
    # the three regions share each step-1 pass: each region's mean iteration m is simulated before any m + 1
    firsts = {m: [i for i, ln in enumerate(lines) if f"(fast engine, mean iteration {m}:" in ln] for m in (0, 1, 2)}
    assert all(len(v) == 3 for v in firsts.values()) and max(firsts[0]) < min(firsts[1]) and max(firsts[1]) < min(firsts[2])


def test_summary_ends_with_what_to_do_next(piped, tvb76_cache):
    out, res = piped
    lines = res.stdout.splitlines()
    total = sum(_clips(out, r) for r in (9, 10, 11))
    tail = lines[lines.index("# Summary"):]
    assert "Successful regions: 3 (9-11)" in tail and "Failed regions: 0" in tail
    assert f"Output folder: {out}" in tail
    assert f"Clips: {total} made in this run; {total} in nmm_spikes/ (3 of 76 regions done)" in tail
    assert "Files: no step-4 file or pack yet" in tail
    # after a partial range: one command per block of regions without markers, not the whole template
    assert tail[-5].startswith("Next: regions 0-8, 12-75 have no markers yet; these 2 commands run them")
    assert tail[-4].endswith(f"pipeline_orchestrator.py --start_region 0 --end_region 9 --output {out} --anatomy "
                             "tvb76 --dataset train --sim-length 2")
    assert tail[-3].endswith(f"pipeline_orchestrator.py --start_region 12 --end_region 76 --output {out} --anatomy "
                             "tvb76 --dataset train --sim-length 2")
    assert tail[-2] == "then check the dataset with:"
    command = tail[-1].strip()
    assert command.endswith(f"pipeline_orchestrator.py --verify --output {out} --anatomy tvb76 --dataset train "
                            "--sim-length 2")
    # runnable as printed: it checks the folder (and finds step 4 missing), no usage error
    check = subprocess.run(shlex.split(command), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)))
    assert check.returncode in (0, 1) and f"Verifying {out}" in check.stdout, check.stdout + check.stderr
    # and so are the commands that run the rest (here only as dry runs): exactly the regions without markers
    for line, regions in ((tail[-4], "9 regions (0-8)"), (tail[-3], "64 regions (12-75)")):
        rest = subprocess.run(shlex.split(line.strip()) + ["--dry-run"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)))
        assert rest.returncode == 0 and f"steps 1-3: {regions}" in rest.stdout, rest.stdout + rest.stderr
        assert "already done" not in rest.stdout, rest.stdout


def test_zero_clip_region_kept_raw(tvb76_cache, tmp_path):
    """Region 1 of tvb76 has no clip at 2 s: marked, not a failure; --keep-raw deletes nothing and says so."""
    out = tmp_path / "source"
    res = tvb76_run(tvb76_cache, out, "--start_region", 1, "--end_region", 2, "--sim-length", 2, "--keep-raw")
    assert res.returncode == 0, res.stdout[-3000:]
    assert _clips(out, 1) == 0
    text = res.stdout
    assert re.search(r"^\u25cb Completed region 1 in \d+\.\d\d seconds: no clips \(no isolated spike in 3 x 2 s "
                     r"simulated; not a failure\)$", text, re.M)
    assert "\u2713 Completed region 1" not in text and "Failed regions: 0" in text
    assert "STEP 3: Skipped for region 1 (--keep-raw)" in text
    assert f"\u2713 Keeping raw data of region 1 (--keep-raw): {out / 'raw_nmm' / 'a1'} (" in text
    assert "deleted" not in text.lower() and "Deleting" not in text
    assert (out / "raw_nmm" / "a1").is_dir() and any((out / "raw_nmm" / "a1").iterdir())
    assert "Regions without clips: 1 of 1 done (1): not failures" in text
    assert "Clips: 0 made in this run; 0 in nmm_spikes/ (1 of 76 regions done)" in text


def test_terminal_shows_a_bar_in_place(tvb76_cache, tmp_path):
    """On a terminal (a pty here): the bar is redrawn in place on the last line, and removed before the summary."""
    import pty
    out = tmp_path / "source"
    primary, secondary = pty.openpty()
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--start_region", 5, "--end_region", 6, "--sim-length", 2, "--skip-synthesis"]
    proc = subprocess.Popen(list(map(str, cmd)), stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache), COLUMNS="150"))
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=600) == 0
    os.close(primary)
    text = b"".join(chunks).decode(errors="replace")
    assert "\r\x1b[K[" in text and "0/1 regions | 0 clips |" in text and "| running: 5" in text
    assert "1/1 regions |" in text
    summary = text[text.index("# Summary"):]
    assert "\x1b" not in summary and "regions |" not in summary  # the bar is gone before the summary
    assert "Progress:" not in text  # no plain lines on a terminal


def test_step4_waiting_line_suggests_a_complete_command(piped):
    """Regions 9-11 of 76: step 4 waits, and the command it suggests names the folder, template, dataset and length."""
    out, res = piped
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("Step 4 needs every region of the template"))
    assert "73 of 76 regions have no markers yet (0-8, 12-75)" in line
    argv = shlex.split(line.split("re-run or use: ", 1)[1])
    assert argv[1].endswith("pipeline_orchestrator.py") and argv[2] == "--synthesis-only"
    assert argv[argv.index("--output") + 1] == str(out)
    assert argv[argv.index("--anatomy") + 1] == "tvb76"
    assert argv[argv.index("--dataset") + 1] == "train"
    assert argv[argv.index("--sim-length") + 1] == "2"


def test_after_a_slice_next_names_the_other_slice_and_the_regions_outside(tvb76_cache, tmp_path):
    """A split run (--slice 0/2 of 2..5): Next gives the other slice's command, then the blocks outside 2..5."""
    out = tmp_path / "out"
    res = tvb76_run(tvb76_cache, out, "--slice", "0/2", "--start_region", 2, "--end_region", 6, "--sim-length", 2,
                    "--piece-length", 2, "--skip-synthesis")
    assert res.returncode == 0 and "Successful regions: 2 (2-3)" in res.stdout, res.stdout[-3000:]
    lines = res.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("Next:"))
    assert lines[at] == ("Next: regions 0-1, 4-75 have no markers yet; these 3 commands run them (regions already "
                         "done are skipped), then step 4:"), lines[at:]
    options = f"--output {out} --anatomy tvb76 --dataset train --sim-length 2"
    assert lines[at + 1].endswith(f"pipeline_orchestrator.py --slice 1/2 --start_region 2 --end_region 6 {options}")
    assert lines[at + 2].endswith(f"pipeline_orchestrator.py --start_region 0 --end_region 2 {options}")
    assert lines[at + 3].endswith(f"pipeline_orchestrator.py --start_region 6 --end_region 76 {options}")
    other = subprocess.run(shlex.split(lines[at + 1].strip()) + ["--dry-run"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(tvb76_cache)))
    assert other.returncode == 0 and "steps 1-3: 2 regions (4-5)" in other.stdout, other.stdout + other.stderr
