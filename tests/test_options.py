"""Options declared once (deepsif_pipeline/config/options.py): every option walked through the parsers, a
suggested command, a Dask task's arguments and step 1's, and the declared conflicts."""

from pathlib import Path
import shlex

import pytest

from deepsif_pipeline.cli.checks import UsageError, check_conflicts, time_limits
from deepsif_pipeline.config import options as declared
from deepsif_pipeline.config.commands import context_values, passed_on, suggest
from deepsif_pipeline.config.options import OPTIONS, ORCHESTRATOR, SETTINGS, STEP1
from deepsif_pipeline.config.parser import build_parser
from deepsif_pipeline.config.settings import Settings, fingerprint_entries
from deepsif_pipeline.head.anatomy import load_template
from deepsif_pipeline.head.leadfields import LeadField, Sphere, template_leadfield
from deepsif_pipeline.processes.engine import Engine
from deepsif_pipeline.steps import Context
from deepsif_pipeline.store.layout import Layout

# A value other than the default for every option (a new option needs one here: the walk below covers it)
SAMPLE = {
    "start_region": ["--start_region", "3"], "end_region": ["--end_region", "9"], "regions": ["--regions", "3,5-6"],
    "slice": ["--slice", "1/4"], "output": ["--output", "/data/out"], "anatomy": ["--anatomy", "/data/anatomy"],
    "leadfield": ["--leadfield", "lf_32.mat"], "sensors": ["--sensors", "biosemi64"], "bem": ["--bem", "b-bem-sol.fif"],
    "subject": ["--subject", "/data/subjects/P1"], "trans": ["--trans", "P1-trans.fif"], "surface": ["--surface", "white"],
    "conductivity": ["--conductivity", "0.33,0.0042,0.33"],
    "filename": ["--filename", "other"], "dataset": ["--dataset", "test"], "seed": ["--seed", "7"],
    "a_range": ["--a-range", "3.25"], "sim_length": ["--sim-length", "2.5"], "piece_length": ["--piece-length", "0.5"],
    "engine": ["--engine", "tvb"], "raw_rate": ["--raw-rate", "full"], "target_snr": ["--target-snr", "12.5"],
    "mean_iterations": ["--mean-iterations", "all"], "synthesis_only": ["--synthesis-only"], "pack": ["--pack"],
    "verify": ["--verify"], "status": ["--status"], "qc": ["--qc"], "dry_run": ["--dry-run"], "redo": ["--redo"],
    "skip_synthesis": ["--skip-synthesis"], "keep_raw": ["--keep-raw"], "matlab": ["--matlab", "octave"],
    "workers": ["--workers", "2"], "scheduler": ["--scheduler", "tcp://h:8786"],
    "timeout_step1": ["--timeout-step1", "100"], "timeout_step2": ["--timeout-step2", "0"],
    "timeout_step4": ["--timeout-step4", "50"], "progress": ["--progress", "lines"], "verbose": ["--verbose"],
    "result_file": ["--result-file", "/tmp/r.json"], "a_start": ["--a_start", "2"], "a_end": ["--a_end", "4"],
    "iterations": ["--iterations", "0", "2"], "units": ["--units", "3:0", "4:1"],
}
# the settings of a run in one command line (every setting not its default; the template's own lead field)
RUN = ["--start_region", "3", "--end_region", "9", "--output", "/data/out", "--filename", "other", "--dataset", "test",
       "--seed", "7", "--a-range", "3.25", "--sim-length", "2.5", "--piece-length", "0.5", "--engine", "tvb",
       "--raw-rate", "full", "--target-snr", "12.5", "--mean-iterations", "all", "--redo", "--keep-raw",
       "--matlab", "octave", "--timeout-step1", "100", "--timeout-step2", "0", "--progress", "lines", "--verbose"]


def test_every_option_has_a_sample_and_both_parsers_take_exactly_theirs():
    assert set(SAMPLE) == {o.dest for o in OPTIONS}
    for script in (ORCHESTRATOR, STEP1):
        parser = build_parser(script)
        flags = {flag for action in parser._actions for flag in action.option_strings} - {"-h", "--help"}
        assert flags == {flag for o in declared.of_script(script) for flag in o.flags}, script
        for o in declared.of_script(script):
            parsed = parser.parse_args(SAMPLE[o.dest])
            assert getattr(parsed, o.dest) is not None and getattr(parsed, o.dest) is not False, o.dest
    # the settings are Settings' fields, with the declared defaults and types
    assert list(Settings.__dataclass_fields__) == [o.dest for o in SETTINGS]
    for o in SETTINGS:
        assert getattr(Settings(), o.dest) == o.default and isinstance(o.default, o.value_type)


def _same(got, expected):
    """A parsed value and the value it was given as (numbers as numbers, paths as text)."""
    try:
        return float(got) == float(expected)
    except (TypeError, ValueError):
        return str(got) == str(expected)


def _context(tvb76_dir, argv, leadfield=None):
    """The Context of a run parsed from ``argv`` as cli.checks builds it (no folder is read)."""
    args = build_parser().parse_args(argv)
    settings = Settings.from_args(args)
    template = load_template(tvb76_dir)
    return Context(settings=settings, template=template, layout=Layout(Path(args.output), settings.filename),
                   engine=Engine("octave", "/usr/bin/octave-cli"), limits=time_limits(args, settings),
                   redo=args.redo, keep_raw=args.keep_raw, progress=args.progress, verbose=args.verbose,
                   leadfield=leadfield or template_leadfield(template))


@pytest.mark.parametrize("sensors", [False, True])
def test_every_option_walks_through_a_dask_task_and_step_1(tvb76_dir, sensors):
    """A Dask task's arguments give every option declared for Dask tasks its value of this run, and no other;
    step 1's arguments give step 1 the same settings."""
    template = load_template(tvb76_dir)
    made = LeadField(Path("/data/out/derived/leadfield_biosemi64.mat"), 64, Sphere("biosemi64"), "label")
    ctx = _context(tvb76_dir, RUN, made if sensors else None)
    values = context_values(ctx)
    task = build_parser().parse_args(["--regions", "3", *passed_on(ctx, "dask")])
    for o in declared.of_script(ORCHESTRATOR):
        got = getattr(task, o.dest)
        if o.dask:
            expected = values[o.dest]
            if o.flag:
                assert got is bool(expected), o.dest
            elif expected is None:
                assert got is None, o.dest
            else:
                assert _same(got, expected), (o.dest, got, expected)
        elif o.dest != "regions":
            assert got in (None, False, o.default), o.dest
    assert Settings.from_args(task) == ctx.settings
    assert (task.sensors, task.leadfield) == (("biosemi64", None) if sensors else (None, template.leadfield.name))
    assert task.anatomy == str(template.folder) and task.matlab == "octave"
    assert time_limits(task, ctx.settings) == ctx.limits
    step1 = build_parser(STEP1).parse_args(passed_on(ctx, "step1"))
    assert Settings.from_args(step1) == Settings(**{**vars(ctx.settings), "target_snr": Settings.target_snr,
                                                    "dataset": Settings.dataset, "filename": Settings.filename,
                                                    "mean_iterations": Settings.mean_iterations})
    assert all(getattr(step1, o.dest) is not None for o in OPTIONS if o.step1 and o.dest != "leadfield")


def test_every_setting_walks_through_a_suggested_command(tvb76_dir):
    """A suggested command names every setting it declares (Option.suggest) with this run's value, and the
    command parses back to the same settings, template and lead field."""
    ctx = _context(tvb76_dir, RUN)
    argv = shlex.split(suggest(ctx, "--verify"))[2:]
    again = build_parser().parse_args(argv)
    for o in SETTINGS:
        if o.suggest:
            assert getattr(Settings.from_args(again), o.dest) == getattr(ctx.settings, o.dest), o.dest
        else:
            assert getattr(again, o.dest) is None, f"{o.dest} is not declared as suggested"
    assert again.output == "/data/out" and again.anatomy == "tvb76" and again.verify
    # a setting at its default is left out
    plain = _context(tvb76_dir, ["--start_region", "0", "--end_region", "1", "--output", "/o"])
    assert shlex.split(suggest(plain, "--verify"))[2:] == ["--verify", "--output", "/o", "--anatomy", "tvb76",
                                                           "--dataset", "train"]


def test_the_steps_record_the_settings_declared_for_their_fingerprint():
    s = Settings(seed=7, a_range=3.25, sim_length=2.5, piece_length=0.5, engine="tvb", raw_rate="full",
                 target_snr=12.5, filename="x", dataset="test", mean_iterations="all")
    assert fingerprint_entries(s, "simulate") == {"seed": 7, "a_range": 3.25, "sim_length": 2.5, "piece_length": 0.5,
                                                  "engine": "tvb", "raw_rate": "full"}
    assert fingerprint_entries(s, "extract") == {"seed": 7, "a_range": 3.25, "sim_length": 2.5, "engine": "tvb",
                                                 "target_snr": 12.5}
    assert fingerprint_entries(s, "synthesise") == {"seed": 7, "dataset": "test", "filename": "x"}
    assert fingerprint_entries(Settings(), "extract")["fast_engine"] == 3  # the fast engine's version with it


@pytest.mark.parametrize("argv, message", [
    (["--sensors", "x", "--leadfield", "y"], "--sensors makes the lead field: it does not go with --leadfield"),
    (["--bem", "b"], "--bem is the head model of the lead field --sensors makes: give --sensors too"),
    (["--regions", "3", "--slice", "0/2"], "--regions names the regions itself: it does not go with --start_region, "
                                           "--end_region or --slice"),
    (["--synthesis-only", "--skip-synthesis"], "--synthesis-only and --skip-synthesis exclude each other"),
    (["--pack", "--skip-synthesis"], "--pack runs the packing alone; it excludes --synthesis-only and "
                                     "--skip-synthesis"),
    (["--qc"], "--qc goes with --verify"),
    (["--status", "--dry-run"], "--status only reports: it does not go with --verify, --pack, --synthesis-only or "
                                "--dry-run"),
    (["--redo", "--verify"], "--redo replaces what a run makes: it does not go with --status or --verify"),
    (["--scheduler", "x", "--pack"], "--scheduler sends regions to a Dask cluster: it does not go with "
                                     "--synthesis-only, --pack or --verify"),
    (["--slice", "0/2", "--scheduler", "x"], "--slice splits a run's region range: it does not go with "
                                             "--synthesis-only, --pack, --verify, --status or --scheduler"),
])
def test_declared_conflicts_are_refused_in_their_own_words(argv, message):
    with pytest.raises(UsageError) as refused:
        check_conflicts(build_parser().parse_args(argv))
    assert str(refused.value) == message


def test_every_declared_conflict_is_checked():
    """Each option with a conflict is refused beside each option it does not go with (the slice: every option
    SLURM array tasks refuse), and accepted alone."""
    for o in OPTIONS:
        if ORCHESTRATOR not in o.scripts or not (declared.not_with(o) or o.needs):
            continue
        alone = [*SAMPLE[o.dest], *(SAMPLE[o.needs] if o.needs else [])]
        check_conflicts(build_parser().parse_args(alone))
        for other in declared.not_with(o):
            with pytest.raises(UsageError):
                check_conflicts(build_parser().parse_args([*alone, *SAMPLE[other]]))
    assert set(declared.not_with(declared.BY_DEST["slice"])) == {o.dest for o in OPTIONS if not o.slurm}
