#!/usr/bin/env python3
"""The regions of pipeline_orchestrator.py on Dask workers started as SLURM jobs (dask-jobqueue).

Run it on the login node and keep it running (e.g. in tmux); the repository, its .venv and the output
folder must be on storage every node sees, at the same paths::

    cd /shared/deepsif/forward
    .venv/bin/python slurm/dask_slurm.py --jobs 8 --cores 16 --memory 24GB --walltime 12:00:00 \\
        --queue normal --account myproject -- --start_region 0 --end_region 994 --output /shared/deepsif/source

It starts a Dask scheduler here and ``--jobs`` SLURM jobs of one Dask worker each, with ``--cores``
threads (tasks at once, each holding up to 4 regions in one step-1 process) per job, then runs the orchestrator with everything after ``--`` and
``--scheduler`` set to that scheduler. Step 4 and the pack run here, after the last region. When a
worker job ends (scancel, time limit, preemption, node lost), its running tasks are stopped and
their regions redone by the other workers, and a new job is submitted in its place (``cluster.adapt`` keeps
``--jobs`` jobs; ``cluster.scale`` alone would not). The worker jobs are cancelled when the run ends.
Exit status: the orchestrator's. docs/clusters.md: "With dask-jobqueue".
"""

import argparse
from pathlib import Path
import subprocess
import sys

HERE = Path(__file__).resolve().parent
ORCHESTRATOR = HERE.parent / "pipeline_orchestrator.py"


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--jobs", type=int, default=2, help="SLURM worker jobs to keep running")
    p.add_argument("--cores", type=int, default=1, help="cores per job: regions it runs at once")
    p.add_argument("--memory", default=None,
                   help="memory per job (default: 1.5 GB per core; a region needs about 1 GB at the published "
                        "length)")
    p.add_argument("--walltime", default="12:00:00", help="time limit of each worker job")
    p.add_argument("--queue", default=None, help="SLURM partition (default: the cluster's)")
    p.add_argument("--account", default=None, help="SLURM account")
    p.add_argument("--job-option", action="append", default=[], metavar="OPTION",
                   help="extra sbatch option for the worker jobs, e.g. --job-option=--qos=long (repeatable)")
    p.add_argument("--log-directory", default=None, help="where the worker jobs' output goes (default: sbatch's)")
    p.add_argument("orchestrator", nargs=argparse.REMAINDER,
                   help="-- then the options of pipeline_orchestrator.py (without --scheduler)")
    return p


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    rest = args.orchestrator[1:] if args.orchestrator[:1] == ["--"] else args.orchestrator
    if not rest:
        p.error("give the orchestrator's options after --, e.g. -- --start_region 0 --end_region 994 "
                "--output /shared/deepsif/source")
    if "--scheduler" in rest:
        p.error("--scheduler is set by this script: leave it out of the orchestrator's options")
    if args.jobs < 1 or args.cores < 1:
        p.error("--jobs and --cores must be at least 1")
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        p.error("needs dask-jobqueue: .venv/bin/python -m pip install -r requirements.txt")
    memory = args.memory or f"{1.5 * args.cores:g}GB"
    cluster = SLURMCluster(
        queue=args.queue, account=args.account,
        cores=args.cores, processes=1, memory=memory,  # one worker per job, one thread per region at once
        walltime=args.walltime,
        python=sys.executable,  # this .venv's Python, on the shared file system
        job_extra_directives=args.job_option,
        log_directory=args.log_directory,
    )
    try:
        # adapt, not scale: a job that ends is replaced (SLURMCluster.scale does not replace it)
        cluster.adapt(minimum_jobs=args.jobs, maximum_jobs=args.jobs)
        print(f"dask_slurm: scheduler {cluster.scheduler_address}, {args.jobs} worker jobs of {args.cores} "
              f"cores and {memory}", flush=True)
        return subprocess.call([sys.executable, str(ORCHESTRATOR), *rest, "--scheduler", cluster.scheduler_address],
                               stdin=subprocess.DEVNULL)
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
