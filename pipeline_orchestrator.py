#!/usr/bin/env python3
"""DeepSIF data generation, one command: regions start..end-1, then the synthetic sources.

For each region:

1. simulate the network with that region excitable (``generate_tvb_data.py``, TVB);
2. extract, scale and save its isolated spikes (``matlab/process_region_nmm.m``);
3. delete its raw simulation output once its clips and markers are on disk;

and once every region of the template is done:

4. generate the synthetic source parameters (``matlab/generate_synthetic_source.m``),
   and pack the clips they use for DeepSIF's trainer.

A region whose ``clip_info`` markers exist for every mean iteration, made
with the same settings and template, is skipped, so re-running the same
command resumes; a folder made with other settings is refused, never mixed.

This file is the story of one command: parse, check, plan, run, summarise.
The options are declared in ``deepsif_pipeline/config/options.py``, the
checks are ``deepsif_pipeline/cli/checks.py``, each step is declared in
``deepsif_pipeline/steps/`` and run by ``deepsif_pipeline/run/runner.py``.
``docs/architecture.md`` has the map. See README.md.
"""

import os
import signal
import sys
import time

from deepsif_pipeline.cli import modes, report
from deepsif_pipeline.cli.checks import Mode, UsageError, check
from deepsif_pipeline.config.parser import build_parser
from deepsif_pipeline.console import say
from deepsif_pipeline.head.leadfields import keep
from deepsif_pipeline.processes import children
from deepsif_pipeline.results import Status
from deepsif_pipeline.run import plan as planning
from deepsif_pipeline.run import runner
from deepsif_pipeline.run.dask_tasks import DaskSetupError
from deepsif_pipeline.run.regions import run_here, run_on_dask
from deepsif_pipeline.store import manifest
from deepsif_pipeline.store.runlog import record, versions


def run(command):
    """Run a checked command (``cli.checks.Command``); its exit status."""
    if command.mode is Mode.VERIFY:
        return modes.verify(command)
    if command.mode is Mode.STATUS:
        return modes.show_status(command)
    ctx, regions = command.ctx, command.regions
    start = time.time()

    # plan: judge every unit this command touches from its files; refuse before anything is written
    plan = planning.Plan() if command.mode is Mode.PACK else planning.make(
        ctx, regions, synthesis_only=command.mode is Mode.SYNTHESIS_ONLY)
    if not command.dry_run:
        refusal = planning.refusal(ctx, plan) or planning.disk_shortage(ctx, command.workers, plan)
        if refusal:
            raise UsageError(refusal)
    report.header(command)
    if command.dry_run:
        return modes.dry_run(command, plan)

    # run: the regions (here or on Dask), then step 4 and the pack
    ctx.layout.output.mkdir(parents=True, exist_ok=True)
    ctx.leadfield, kept = keep(ctx.leadfield, ctx.layout)
    if kept:
        say(kept)
    if command.client is None:
        children.install_signal_handlers(
            lambda signame: say(f"\n{signame} received: stopping the running steps (finished regions and mean "
                                "iterations are kept)"))
    software = versions(ctx.engine)
    record(ctx.layout, f"start: {' '.join(map(str, sys.argv))}")
    record(ctx.layout, f"seed {ctx.settings.seed}, engine {ctx.settings.engine}, {software}")
    results, halt = {}, runner.Halt()
    if regions and command.client is not None:
        done = [r for r in regions if r in plan.regions and plan.regions[r].current]
        results = run_on_dask(ctx, command.client, regions, done, planning.to_process(plan, regions))
    elif regions:
        results, halt = run_here(ctx, regions, planning.to_process(plan, regions), command.workers, software)
    made = {}  # {dataset step's name: Result}
    if not (command.skip_synthesis or children.STOP.is_set() or halt):
        made = runner.dataset(ctx, synthesise_too=command.mode is not Mode.PACK, software=software)
    try:
        runner.record_manifest(ctx, software=software)  # (also adds what an earlier update may have missed)
    except (manifest.ManifestError, OSError) as exc:
        say(f"warning: the manifest was not updated: {exc}")
    if command.result_file:
        report.write_results(command.result_file, results)

    # summarise: the seed's summary, why the run stopped, what to run next
    failed = report.summary(results, made, start)
    status = exit_status(ctx, failed, made, halt)
    for line in report.closing(command, results, made):
        say(line)
    return status


def exit_status(ctx, failed, made, halt):
    """Say why the run ended as it did; its exit status (128 + signal when stopped, 1 on any failure)."""
    signum = children.stop_signal()
    if signum is not None:
        signame = signal.Signals(signum).name
        say(f"Stopped by {signame}: every finished region and mean iteration is kept, nothing half-written "
            "remains. Re-run the same command to resume; --status shows where each region stands.")
        record(ctx.layout, f"stopped by {signame}")
        return 128 + signum
    if halt:
        say(f"Stopped starting regions: {halt.reason}")
        record(ctx.layout, f"halted: {halt.reason}")
        return 1
    if any(res.status is Status.FAILED for res in failed.values()):  # (damaged ones: --redo, in the closing lines)
        say("Re-run the same command to retry the failed regions; finished ones are skipped.")
    bad = any(not res.status.ok for res in made.values())
    status = 1 if failed or bad else 0
    record(ctx.layout, f"end: exit {status}, {len(failed)} failed regions")
    return status


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return run(check(args))
    except (UsageError, DaskSetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished regions are kept; re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head or less, which quit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
