#!/usr/bin/env python3
"""Regions per hour with 1 and with N local workers, side by side in one run.

Runs the orchestrator (steps 1-3, no step 4) on the same regions into two
fresh output folders, first with ``--workers 1`` then with ``--workers N``,
prints regions per hour for each and their ratio, and checks that the two
produced the same clips and markers, array by array.

    python bench/bench_workers.py --regions 700 704 --sim-length 10 --workers 2
"""

import argparse
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.io import loadmat

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO))  # after everything else: only for tests.deepsif_anatomy

from tests import deepsif_anatomy  # noqa: E402


def arrays(root):
    """``{relative path: {variable: array}}`` of every MAT-file under ``root``."""
    return {str(p.relative_to(root)): {k: v for k, v in loadmat(str(p)).items() if not k.startswith("__")}
            for p in sorted(Path(root).rglob("*.mat"))}


def same(a, b):
    return a.keys() == b.keys() and all(
        a[f].keys() == b[f].keys() and all(np.array_equal(a[f][v], b[f][v], equal_nan=a[f][v].dtype.kind == "f")
                                           for v in a[f]) for f in a)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anatomy", default=str(deepsif_anatomy.locate().folder),
                    help="DeepSIF's anatomy/ folder (default: $DEEPSIF_ANATOMY, else ../shared/anatomy/deepsif)")
    ap.add_argument("--regions", type=int, nargs=2, default=[700, 704], metavar=("START", "END"))
    ap.add_argument("--sim-length", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    n = args.regions[1] - args.regions[0]
    work = Path(tempfile.mkdtemp(prefix="bench_workers_"))
    rows, outputs = [], {}
    try:
        for workers in (1, args.workers):
            out = work / f"w{workers}"
            cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", args.anatomy,
                   "--output", str(out), "--start_region", str(args.regions[0]), "--end_region",
                   str(args.regions[1]), "--sim-length", repr(args.sim_length), "--piece-length",
                   repr(args.sim_length), "--skip-synthesis", "--progress", "none", "--workers", str(workers)]
            start = time.time()
            res = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.time() - start
            if res.returncode != 0:
                sys.exit(f"run with --workers {workers} failed:\n{res.stdout[-3000:]}{res.stderr[-2000:]}")
            rows.append((workers, wall, n / wall * 3600))
            outputs[workers] = arrays(out / "nmm_spikes")
            print(f"--workers {workers}: {n} regions in {wall:.1f} s = {n / wall * 3600:.0f} regions per hour",
                  flush=True)
        print(f"regions {args.regions[0]}..{args.regions[1] - 1}, {args.sim_length:g} s x 3 mean iterations, "
              f"{args.anatomy}")
        print(f"--workers {args.workers} vs 1: {rows[1][2] / rows[0][2]:.2f}x the regions per hour; "
              f"clips and markers identical: {same(outputs[1], outputs[args.workers])}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
