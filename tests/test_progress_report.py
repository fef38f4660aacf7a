"""The run's progress line and bar, and the summary's closing lines: pure functions, no run."""

from pathlib import Path

import pytest

from deepsif_pipeline.run.progress import RunProgress, clock, eta_seconds, progress_bar, progress_line
from deepsif_pipeline.cli.report import closing_lines
from deepsif_pipeline.results import Result, Status


def test_clock():
    assert clock(0) == "0:00:00" and clock(59.6) == "0:01:00" and clock(3725) == "1:02:05"
    assert clock(2 * 86400 + 3 * 3600 + 4 * 60 + 5) == "2 d 3:04:05"


def test_eta_from_measured_regions():
    assert eta_seconds([], 5, [], 1) is None  # nothing measured yet
    assert eta_seconds([10.0, 20.0], 4, [], 1) == pytest.approx(60.0)
    # a running region that already spent 5 s of its expected 15
    assert eta_seconds([10.0, 20.0], 4, [5.0], 1) == pytest.approx(55.0)
    # two at once halve it; more workers than regions left do not
    assert eta_seconds([10.0, 20.0], 4, [], 2) == pytest.approx(30.0)
    assert eta_seconds([10.0], 1, [], 4) == pytest.approx(10.0)
    assert eta_seconds([10.0], 0, [], 1) == 0.0
    # a running region past the mean counts as nearly done, never as negative time
    assert eta_seconds([10.0], 1, [25.0], 1) == 0.0


def test_progress_line_words():
    assert progress_line(1, 3, 1, 4.2, 8.4, 4.2) == ("Progress: 1 of 3 regions done, 2 to do; 1 clip so far; "
                                                     "0:00:04 elapsed, about 0:00:08 left (4.2 s per region)")
    assert progress_line(0, 3, 0, 1.0, None) == ("Progress: 0 of 3 regions done, 3 to do; 0 clips so far; 0:00:01 "
                                                 "elapsed, time left known after the first region")
    assert progress_line(3, 3, 5, 75.0, 0.0) == "Progress: 3 of 3 regions done; 5 clips so far; 0:01:15 elapsed"


def test_progress_bar_fits_the_terminal():
    bar = progress_bar(3, 12, 2, 30.0, 90.0, 80, running=[4])
    assert len(bar) <= 79 and "\n" not in bar and "\r" not in bar
    assert bar.startswith("[" + "#" * (bar.index("]") // 4))
    assert "3/12 regions" in bar and "2 clips" in bar and "ETA 0:01:30" in bar
    assert len(progress_bar(3, 12, 2, 30.0, None, 40)) <= 39


def test_run_progress_counts_only_processed_regions_in_the_estimate(capsys):
    progress = RunProgress(total=4, to_process=3, workers=1, mode="lines")
    progress.end(0, Result(Status.SKIPPED, clips=7))  # found done: no time measured, no clip made
    progress.end(1, Result(Status.DONE, clips=1, seconds=10.0))
    progress.end(2, Result(Status.DONE, clips=0, seconds=30.0))
    progress.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Progress: 1 of 4 regions done, 3 to do; 0 clips so far;")
    assert lines[0].endswith("time left known after the first region")
    assert lines[1].startswith("Progress: 2 of 4 regions done, 2 to do; 1 clip so far;")
    assert lines[1].endswith("about 0:00:20 left (10.0 s per region)")  # 2 regions x 10 s
    assert lines[2].endswith("about 0:00:20 left (20.0 s per region)")  # 1 region x 20 s


def test_closing_lines_name_what_was_made_and_what_is_next(tmp_path):
    entry = {"regions": {"0": {"clips": 0}, "1": {"clips": 2}, "2": {"clips": 1}, "3": {"clips": 0}}}
    results = {1: Result(Status.DONE, clips=2), 2: Result(Status.SKIPPED, clips=1), 3: Result(Status.DONE, clips=0),
               4: Result(Status.FAILED, "step 2 failed")}
    failed = {4: (tmp_path / "logs" / "region_4.log", tmp_path / "logs" / "region_4.failed")}
    lines = closing_lines(tmp_path, "nmm_spikes/", 6, results, entry, [None, None], failed, "VERIFY", "dataset.json")
    assert lines[1] == f"Output folder: {tmp_path}"
    assert "Clips: 2 made in this run; 3 in nmm_spikes/ (4 of 6 regions done)" in lines
    assert any(line.startswith("Regions without clips: 2 of 4 done (0, 3): not failures") for line in lines)
    assert "Files: no step-4 file or pack yet" in lines
    assert (f"Failed: 1 region (4); logs: {tmp_path / 'logs' / 'region_4.log'}; why each failed: "
            f"{tmp_path / 'logs'}/region_{{r}}.failed") in lines
    assert lines[-2].startswith("Next: regions 4-5 have no markers yet; run them")  # no resume command given
    assert lines[-1] == "  VERIFY"
    resumed = closing_lines(tmp_path, "nmm_spikes/", 6, results, entry, [], failed, "VERIFY", "dataset.json",
                            resume=lambda first, end: f"RUN {first} {end}")
    assert resumed[-4:] == ["Next: regions 4-5 have no markers yet; this runs them (regions already done are "
                            "skipped), then step 4:", "  RUN 4 6", "then check the dataset with:", "  VERIFY"]
    done = closing_lines(tmp_path, "nmm_spikes/", 2, {}, {"regions": {"0": {"clips": 1}, "1": {"clips": 1}}},
                         ["train_sample_source1.mat (1.0 MB, step 4: made in this run)"], {}, "VERIFY", "dataset.json")
    assert done[-2] == "Next: check the dataset (add --qc for a figure):" and done[-1] == "  VERIFY"
    assert "Files: train_sample_source1.mat (1.0 MB, step 4: made in this run)" in done
    assert not any(line.startswith("Regions without clips") for line in done)


def test_closing_lines_give_damaged_regions_the_redo_command_not_a_plain_re_run(tmp_path):
    """A damaged region fails the same way on a plain re-run: the lines give the command that repairs it,
    and the plain resume command covers only the regions without markers."""
    entry = {"regions": {"0": {"clips": 1}, "1": {"clips": 2}}}
    results = {2: Result(Status.DAMAGED, "clip .../a2/nmm_1.mat is damaged (truncated)"),
               3: Result(Status.FAILED, "step 2 failed")}
    failed = {r: (tmp_path / f"region_{r}.log", tmp_path / f"region_{r}.failed") for r in (2, 3)}
    lines = closing_lines(tmp_path, "nmm_spikes/", 5, results, entry, [], failed, "VERIFY", "dataset.json",
                          resume=lambda first, end: f"RUN {first} {end}", repair=lambda rs: f"REPAIR {rs}")
    at = lines.index("Damaged: 1 region (2) with markers or clips cut short or unreadable (above); this deletes "
                     "exactly those files and makes them again:")
    assert lines[at + 1] == "  REPAIR [2]"
    assert lines[at + 2].startswith("Next: regions 3-4 have no markers yet; this runs them") and \
        lines[at + 3] == "  RUN 3 5"


def test_next_commands_run_exactly_the_regions_without_markers():
    from deepsif_pipeline.cli.report import next_commands

    def resume(first, end):
        return f"RUN {first} {end}"

    assert next_commands([4, 5], resume) == ["RUN 4 6"]
    assert next_commands([0, 1, 6, 7, 8], resume) == ["RUN 0 2", "RUN 6 9"]  # not 0..9
    assert next_commands([0, 2, 4, 6], resume) == ["RUN 0 7"]  # too many blocks: one command covers them
    # a split run of 2..5 in 2 slices (2-3, 4-5); slice 0 made its regions: slice 1, then outside the range
    slices = [([2, 3], "SLICE 0/2"), ([4, 5], "SLICE 1/2")]
    assert next_commands([0, 1, 4, 5, 6, 7], resume, slices) == ["SLICE 1/2", "RUN 0 2", "RUN 6 8"]
    assert next_commands([3, 4], resume, slices) == ["SLICE 0/2", "SLICE 1/2"]
    lines = closing_lines(Path("/out"), "nmm_spikes/", 8, {}, {"regions": {"2": {"clips": 1}, "3": {"clips": 1}}},
                          [], {}, "VERIFY", "dataset.json", resume=resume, slices=slices)
    assert lines[-6:] == ["Next: regions 0-1, 4-7 have no markers yet; these 3 commands run them (regions already "
                          "done are skipped), then step 4:", "  SLICE 1/2", "  RUN 0 2", "  RUN 6 8",
                          "then check the dataset with:", "  VERIFY"]
