#!/usr/bin/env python3
"""Prove that a refactor changed no output: this tree against a reference commit, file by file.

What it measures
----------------
The pipeline of two code trees is run on the same cases, one after the
other on this machine, and their output folders are compared array by
array:

- ``reference``: commit ``--reference`` (default ``28505ec``), its whole
  tree exported with ``git archive`` into a temporary folder;
- ``this tree``: the checkout this script lives in, as it is on disk
  (uncommitted changes included).

Both run ``pipeline_orchestrator.py`` of their own tree with the same
Python (this checkout's ``.venv/bin/python`` unless ``--python``), the
same environment and the same working-folder layout. Two variables are
set to one shared temporary folder each, for both trees:

- ``DEEPSIF_PIPELINE_CACHE``: the built-in ``tvb76`` template is built
  once, into the same folder for both trees. Its path is recorded in the
  fingerprints (``about.template``) that the ``.mat`` and ``.h5`` files
  store, so a cache per tree would make every fingerprint differ;
  The made lead fields of ``--sensors`` (``CACHE/leadfields``) are
  deleted before each run, so that each tree makes its own;
- ``NUMBA_CACHE_DIR``: both trees compile the fast engine into an empty
  cache (each tree gets its own subfolder, numba names it by the source
  path).

Before the timed runs each tree runs once untimed on every template the
selected cases use (one region, 1.5 simulated seconds,
``--skip-synthesis``), so that the template is built and both numba caches
are warm, as in any run after the first (``--no-warm-up``: not; the first
timed run then pays for both). The timed runs alternate: the reference
runs first in the first case, this tree first in the next, and so on.

The cases (``--cases``, all by default), each with ``--workers 2
--progress none --output OUT``:

- ``tvb76``: ``--anatomy tvb76 --start_region 0 --end_region 76
  --sim-length 2 --dataset test`` (the whole template: steps 1-3 of every
  region, step 4 and the pack);
- ``tvb76-biosemi64``: the same with ``--sensors biosemi64`` (MNE makes
  the lead field into ``OUT/derived/``, which is compared too);
- ``readme``: the README's main command, ``--anatomy tvb76 --start_region 0
  --end_region 76 --sim-length 2`` (``--dataset train``), side by side
  (``--workers auto`` is ``--workers 2`` on this 2-core machine);
- ``deepsif``: ``--anatomy DIR --start_region 700 --end_region 704
  --sim-length 2.5``, ``DIR`` being DeepSIF's ``anatomy/`` folder
  (``--anatomy-dir``, default ``$DEEPSIF_ANATOMY``, else
  ``../shared/anatomy/deepsif`` beside the repository, as in
  ``tests/deepsif_anatomy.py``). Four regions of 994: step 4 waits for
  the other regions, as expected.

What is compared
----------------
Every ``.mat`` and ``.h5`` file under the two output folders, by relative
path, except those under ``logs/`` and ``claims/`` (run records, not
outputs) and under any ``raw_nmm/`` (step 3 deletes it); ``dataset.json``
(the manifest: dates, software line, bytes) is not compared. Both folders
must hold the same set of files, and every file the same arrays:

- ``.mat`` (``scipy.io.loadmat``): every variable but ``__header__``
  (which holds the file's creation time), ``__version__`` and
  ``__globals__``; MATLAB v7.3 files, which are HDF5, as ``.h5``;
- ``.h5`` (``h5py``): every group and dataset, and every attribute of
  each (the root's included), named ``/path`` and ``/path@attribute``.

Two arrays are identical when they have the same shape, the same dtype
(for strings: the same kind) and equal values (``numpy.array_equal``,
NaN equal to NaN); cell and object arrays element by element, MATLAB
structs field by field. No variable is skipped beyond the three MAT-file
header entries above.

The comparison functions (``compare_trees``, ``compare_files``,
``compare_values``) are ``tests/tree_compare.py``'s: they import nothing
from the pipeline, so they work on any two folders; ``tests/test_bench.py``
tests them.

What it prints, per case: each tree's exit status, the wall time of each
tree's run side by side (``reference 81.2 s, this tree 80.7 s, ratio
0.99``: this tree / reference), and either ``tvb76: 245 files, 1034 arrays:
identical`` or the first differences (file, variable, how: shape, dtype,
or values with the largest absolute difference). Exit status 0 when every
case is identical and both trees exited alike, 1 otherwise (2: bad
arguments).

How to run it
-------------
All three cases against the default reference (about 5 minutes on this
2-core machine when otherwise idle: each tree's run took about 60 s for
``tvb76`` and ``tvb76-biosemi64``, 10 s for ``deepsif``, 8-10 s per warm-up)::

    .venv/bin/python bench/bench_outputs.py

One case, another reference, keeping both output folders (and the runs'
console output, ``DIR/CASE/reference.log`` and ``DIR/CASE/this-tree.log``)::

    .venv/bin/python bench/bench_outputs.py --cases tvb76 --reference 28505ec --keep /tmp/outputs

The README's main command four times per tree, the tree that runs first alternating, for the ratio
of the wall times (one run of each is within the noise of a 2-core machine: 0.6 to 1.3 was seen for
identical code)::

    .venv/bin/python bench/bench_outputs.py --cases readme --repeat 4

Only compare two existing output folders (nothing runs)::

    .venv/bin/python bench/bench_outputs.py --compare OUT_A OUT_B
"""

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.tree_compare import compare_trees  # noqa: E402
REFERENCE = "28505ec"
LABELS = ("reference", "this tree")
TVB76 = ["--anatomy", "tvb76", "--start_region", "0", "--end_region", "76", "--sim-length", "2", "--dataset", "test"]
CASES = {  # name -> (arguments, anatomy); the anatomy None: --anatomy-dir
    "tvb76": (TVB76, "tvb76"),
    "tvb76-biosemi64": (TVB76 + ["--sensors", "biosemi64"], "tvb76"),
    "readme": (TVB76[:-2], "tvb76"),  # the README's main command (--dataset train; --workers auto is 2 here)
    "deepsif": (["--start_region", "700", "--end_region", "704", "--sim-length", "2.5"], None),
}
COMMON = ["--workers", "2", "--progress", "none"]
WARM_UP = {"tvb76": 0, None: 700}  # the warm-up region of each template


# ---------------------------------------------------------------------------------------------
# Running the two trees
# ---------------------------------------------------------------------------------------------

@dataclass
class Run:
    """One run of a tree's orchestrator.

    Attributes
    ----------
    status : int
        Its exit status.
    wall : float
        Its wall time, seconds.
    log : Path
        Its console output (stdout and stderr).
    """

    status: int
    wall: float
    log: Path


def export_commit(commit, into):
    """Extract the tree of ``commit`` of this repository into a new folder.

    Parameters
    ----------
    commit : str
        Any commit name ``git`` understands.
    into : Path
        The folder to create (its parents must exist).

    Returns
    -------
    Path
        ``into``, holding the commit's files (no ``.git``).
    """
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def describe_commit(commit):
    """``commit`` as ``abc1234 subject``, or None when the repository has no such commit."""
    done = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s", f"{commit}^{{commit}}", "--"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def this_tree():
    """This checkout's HEAD as ``abc1234``, with ``+ uncommitted changes`` when it has some."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{head or 'unknown HEAD'}{' + uncommitted changes' if dirty else ''}"


def run_tree(tree, python, arguments, out, env, log):
    """Run ``tree``'s ``pipeline_orchestrator.py`` into ``out`` and time it.

    Parameters
    ----------
    tree : Path
        The code tree (its root holds ``pipeline_orchestrator.py``).
    python : Path
        The interpreter.
    arguments : list of str
        The orchestrator's arguments, without ``--output``.
    out : Path
        The output folder (``--output``).
    env : dict
        The environment.
    log : Path
        File for the run's console output.

    Returns
    -------
    Run
    """
    command = [str(python), str(tree / "pipeline_orchestrator.py"), *arguments, "--output", str(out)]
    # each tree makes the lead fields of --sensors itself: one found in the shared cache, made by the
    # other tree, would compare the other tree's file with itself
    shutil.rmtree(Path(env["DEEPSIF_PIPELINE_CACHE"]) / "leadfields", ignore_errors=True)
    with open(log, "w") as handle:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                              stderr=subprocess.STDOUT)
        wall = time.perf_counter() - start
    return Run(done.returncode, wall, log)


def case_arguments(case, anatomy_dir):
    """The orchestrator's arguments of ``case`` (without ``--output``)."""
    arguments, anatomy = CASES[case]
    if anatomy is None:
        arguments = ["--anatomy", str(anatomy_dir), *arguments]
    return arguments + COMMON


def warm_up(trees, cases, anatomy_dir, python, env, work):
    """Run each tree once, untimed, on each template the cases use (one region, 1.5 s, no step 4).

    Builds ``tvb76`` into the shared template cache and fills each tree's
    numba cache, so that the timed runs start alike.

    Parameters
    ----------
    trees : dict
        Label -> code tree.
    cases : list of str
    anatomy_dir : Path
        DeepSIF's template (for the ``deepsif`` case).
    python : Path
    env : dict
    work : Path
        Folder for the warm-up outputs and logs.
    """
    templates = list(dict.fromkeys(CASES[case][1] for case in cases))
    for template in templates:
        region = WARM_UP[template]
        arguments = ["--anatomy", template or str(anatomy_dir), "--start_region", str(region), "--end_region",
                     str(region + 1), "--sim-length", "1.5", "--skip-synthesis", "--workers", "1", "--progress", "none"]
        for label, tree in trees.items():
            slug = label.replace(" ", "-")
            name = f"{slug}-{'tvb76' if template else 'deepsif'}"
            run = run_tree(tree, python, arguments, work / name, env, work / f"{name}.log")
            print(f"warm-up {label}, {'tvb76' if template else 'deepsif'} region {region}: exit status "
                  f"{run.status}, {run.wall:.1f} s", flush=True)
            if run.status != 0:
                print(f"  (its console output: {run.log})", flush=True)


def tail(path, lines=15):
    """The last ``lines`` lines of a text file."""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def run_case(case, index, trees, anatomy_dir, python, env, folder, show):
    """Run one case in both trees, compare their outputs and print the result.

    Parameters
    ----------
    case : str
        A key of :data:`CASES`.
    index : int
        The case's position: the reference runs first when even.
    trees : dict
        ``{'reference': Path, 'this tree': Path}``.
    anatomy_dir : Path
    python : Path
    env : dict
    folder : Path
        New folder for the case's two output folders and logs.
    show : int
        Differences printed at most.

    Returns
    -------
    ok : bool
        Outputs identical and both runs' exit statuses equal.
    walls : tuple of float
        The wall times of the reference and of this tree.
    """
    folder.mkdir(parents=True)
    arguments = case_arguments(case, anatomy_dir)
    order = list(LABELS) if index % 2 == 0 else list(reversed(LABELS))
    print(f"\n{case}: {' '.join(arguments)} --output OUT", flush=True)
    runs, outs = {}, {}
    for label in order:
        slug = label.replace(" ", "-")
        outs[label] = folder / slug
        runs[label] = run_tree(trees[label], python, arguments, outs[label], env, folder / f"{slug}.log")
        print(f"{case}: {label} done, exit status {runs[label].status}, {runs[label].wall:.1f} s", flush=True)
    ref, new = runs[LABELS[0]], runs[LABELS[1]]
    same_status = ref.status == new.status
    print(f"{case}: exit status reference {ref.status}, this tree {new.status}"
          f"{'' if same_status else ': DIFFERENT'}")
    for label, run in runs.items():
        if run.status != 0:
            print(f"{case}: the last lines of {label}'s console output ({run.log}):")
            print("    " + tail(run.log).replace("\n", "\n    "))
    print(f"{case}: reference {ref.wall:.1f} s, this tree {new.wall:.1f} s, ratio {new.wall / ref.wall:.2f} "
          f"({order[0]} ran first)")
    result = compare_trees(outs[LABELS[0]], outs[LABELS[1]], LABELS)
    report(result, case, show)
    return result.identical and same_status, (ref.wall, new.wall)


def report(result, name, show):
    """Print ``result``'s summary line and its first ``show`` differences."""
    print(result.summary(name), flush=True)
    for difference in result.differences[:show]:
        print(f"    {difference}")
    if len(result.differences) > show:
        print(f"    ... and {len(result.differences) - show} more")


def default_anatomy_dir():
    """``$DEEPSIF_ANATOMY``, else ``../shared/anatomy/deepsif`` beside the repository."""
    return Path(os.environ.get("DEEPSIF_ANATOMY") or REPO.parent / "shared" / "anatomy" / "deepsif")


def default_python():
    """This checkout's ``.venv/bin/python``, else the interpreter running this script."""
    venv = REPO / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


def parse_args(argv=None):
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="Run the pipeline of a reference commit and of this tree on the same cases and compare "
                    "their output files array by array (exit 1 on any difference).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--reference", default=REFERENCE, metavar="COMMIT", help="the reference commit")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), metavar="CASE",
                        help=f"cases to run, of {', '.join(CASES)}")
    parser.add_argument("--anatomy-dir", type=Path, default=default_anatomy_dir(),
                        help="DeepSIF's anatomy/ folder, for the deepsif case")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep both output folders of each case (and the runs' console output) in "
                             "DIR/CASE/ (default: a temporary folder, removed)")
    parser.add_argument("--python", type=Path, default=default_python(), help="the interpreter of both trees")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="no untimed run of each tree first (the first timed run then builds tvb76 and "
                             "compiles the fast engine)")
    parser.add_argument("--show", type=int, default=20, metavar="N", help="differences printed per case")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each case N times (the tree that runs first alternating from run to run) and "
                             "print the ratios of the wall times, their median and the ratio of the totals")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OUT_A", "OUT_B"),
                        help="only compare these two existing output folders (nothing runs)")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the cases; return the exit status (0: every case identical)."""
    args = parse_args(argv)
    if args.compare:
        result = compare_trees(*args.compare, labels=tuple(str(p) for p in args.compare))
        report(result, "compare", args.show)
        return 0 if result.identical else 1
    reference = describe_commit(args.reference)
    if reference is None:
        print(f"bench_outputs: no commit {args.reference!r} in {REPO}", file=sys.stderr)
        return 2
    if "deepsif" in args.cases and not (args.anatomy_dir / "connectivity_998.zip").exists():
        print(f"bench_outputs: the deepsif case needs DeepSIF's anatomy/ folder: {args.anatomy_dir} does not hold "
              "it (--anatomy-dir DIR or DEEPSIF_ANATOMY=DIR, or --cases without deepsif)", file=sys.stderr)
        return 2
    if args.keep:
        taken = [case for case in args.cases if (args.keep / case).exists()]
        if taken:
            print(f"bench_outputs: {', '.join(str(args.keep / c) for c in taken)} exists: a run there would "
                  "resume instead of making the outputs; choose another --keep", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="bench_outputs_"))
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith("DEEPSIF_TEST_HOLD")}
        env["DEEPSIF_PIPELINE_CACHE"] = str((work / "template_cache").resolve())
        env["NUMBA_CACHE_DIR"] = str((work / "numba_cache").resolve())
        trees = {LABELS[0]: export_commit(args.reference, work / "reference_tree"), LABELS[1]: REPO}
        print(f"reference: {reference}, exported to {trees[LABELS[0]]}")
        print(f"this tree: {REPO} at {this_tree()}")
        print(f"python {args.python}; DEEPSIF_PIPELINE_CACHE and NUMBA_CACHE_DIR in {work}; "
              f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}", flush=True)
        if args.warm_up:
            (work / "warm_up").mkdir()
            warm_up(trees, args.cases, args.anatomy_dir, args.python, env, work / "warm_up")
        outputs = args.keep or work / "outputs"
        runs = [(case, k) for k in range(args.repeat) for case in args.cases]
        done = [run_case(case, i, trees, args.anatomy_dir, args.python, env,
                         outputs / case / (f"round{k + 1}" if args.repeat > 1 else ""), args.show)
                for i, (case, k) in enumerate(runs)]
        ok = [all(good for (c, _), (good, _) in zip(runs, done) if c == case) for case in args.cases]
        if args.repeat > 1:
            for case in args.cases:
                walls = [w for (c, _), (_, w) in zip(runs, done) if c == case]
                ratios = sorted(new / ref for ref, new in walls)
                print(f"{case}: {args.repeat} rounds, this tree / reference: "
                      f"{', '.join(f'{r:.2f}' for r in ratios)}; median {ratios[len(ratios) // 2]:.2f}; total "
                      f"{sum(ref for ref, _ in walls):.1f} s against {sum(new for _, new in walls):.1f} s "
                      f"({sum(new for _, new in walls) / sum(ref for ref, _ in walls):.2f})")
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
        print("all identical" if all(ok) else
              f"DIFFERENT: {', '.join(case for case, good in zip(args.cases, ok) if not good)}")
        if args.keep:
            print(f"output folders kept in {args.keep}")
        return 0 if all(ok) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
