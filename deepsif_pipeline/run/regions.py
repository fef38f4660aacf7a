"""Where a run's regions run: on this machine (``--workers`` lane workers on one shared queue of regions), or
as tasks of a Dask cluster (``--scheduler``)."""

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
import threading

from deepsif_pipeline.config.commands import passed_on
from deepsif_pipeline.console import say
from deepsif_pipeline.run import runner
from deepsif_pipeline.run.disk import DiskGuard
from deepsif_pipeline.run.progress import RunProgress, mode_for
from deepsif_pipeline.steps import simulate

ORCHESTRATOR = Path(__file__).resolve().parents[2] / "pipeline_orchestrator.py"

SIGNAL_POLL = 0.2  # seconds: the main thread wakes this often to run signal handlers


def run_here(ctx, regions, to_process, workers, software):
    """Steps 1-3 of ``regions`` here, ``workers`` lane workers at once (``runner.lane_worker``).

    The run's progress (:mod:`deepsif_pipeline.run.progress`) follows the
    regions: a bar on a terminal, a line per region otherwise.

    Parameters
    ----------
    regions : list of int
    to_process : int
        How many of them need work (the others are judged done).
    workers : int
    software : str
        The run's versions line (``store.runlog.versions``).

    Returns
    -------
    results : dict
        ``{region: Result}`` in region order.
    halt : runner.Halt
    """
    halt = runner.Halt()
    lanes = simulate.lanes_per_pass(ctx.settings)
    if workers > 1:
        say(f"{workers} workers (--workers {workers}), each holding up to {lanes} regions whose mean "
            f"iterations share its step-1 processes: up to {min(workers * lanes, len(regions))} regions at a time")
    disk = DiskGuard(ctx.layout.output)
    results = {}
    progress = RunProgress(len(regions), to_process, workers * lanes, mode_for(ctx.progress))
    queue, lock = iter([(i, len(regions), r) for i, r in enumerate(regions)]), threading.Lock()

    def take():
        with lock:
            return next(queue)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # each worker holds up to `lanes` regions, whose mean iterations share its step-1 passes
            pending = {pool.submit(runner.lane_worker, ctx, take, lanes, disk, halt, software, progress)
                       for _ in range(workers)}
            while pending:
                # With a timeout: only this (main) thread runs the signal handlers, and only once it runs
                # again. A signal to the process may be delivered to any of its threads (seen with SLURM's
                # scancel: SIGTERM to a worker thread), which would not wake a wait without timeout.
                done, pending = wait(pending, timeout=SIGNAL_POLL, return_when=FIRST_COMPLETED)
                for future in done:
                    results.update(future.result())
    finally:
        progress.close()
    return dict(sorted(results.items())), halt


def run_on_dask(ctx, client, regions, done, to_process):
    """Steps 1-3 of ``regions`` as tasks of the Dask cluster of ``client``, a few regions each.

    Each task runs the orchestrator for its regions on a worker (``--regions
    LIST``, ``run/dask_tasks.py``) with the options this run passes on to
    Dask tasks (``Option.dask``: the template folder, lead field, settings,
    engine and time limits as resolved here) and ``--skip-synthesis``: step 4
    stays in this process. Its regions share the lanes of its step-1 passes as
    in a local run; the regions judged done (``done``) are grouped apart.

    Returns
    -------
    dict
        ``{region: Result}`` in region order.
    """
    from deepsif_pipeline.run.dask_tasks import run_regions_on_dask  # Dask: imported only for --scheduler
    command = [str(ORCHESTRATOR), "--skip-synthesis", *passed_on(ctx, "dask")]
    progress = RunProgress(len(regions), to_process, 1, mode_for(ctx.progress))  # workers: once connected
    try:
        return run_regions_on_dask(client, regions, command, say, ctx.layout, lanes=simulate.lanes_per_pass(ctx.settings),
                                   done=done, progress=progress)
    finally:
        progress.close()
