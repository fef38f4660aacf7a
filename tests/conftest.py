"""Shared fixtures: the real DeepSIF template (see tests/deepsif_anatomy.py), small real inputs built once.

Tests that need DeepSIF's 994-region template use the ``anatomy_dir``
fixture: it is found through ``--deepsif-anatomy DIR``, ``DEEPSIF_ANATOMY=DIR``
or ``../shared/anatomy/deepsif`` beside the repository; when it is absent
from the default place the test is skipped with the reason, and with
``DEEPSIF_REQUIRE_ANATOMY=1`` (CI) or a named folder without it, it fails.
"""

from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import loadmat, savemat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import deepsif_anatomy  # noqa: E402
from clip_fixture import write_spike_clips  # noqa: E402
from deepsif_pipeline.head.anatomy import DISTANCES_VARIABLE, distance_file, load_template  # noqa: E402
from deepsif_pipeline.store.layout import Layout  # noqa: E402
from deepsif_pipeline.config.settings import Settings  # noqa: E402
from deepsif_pipeline.steps import extract  # noqa: E402
from deepsif_pipeline.head.leadfields import template_leadfield  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(deepsif_anatomy.OPTION, metavar="DIR", default=None,
                     help=f"DeepSIF's anatomy/ folder (994-region template) for the tests that need it; default "
                          f"${deepsif_anatomy.ENV}, else ../shared/anatomy/deepsif beside the repository")


def _anatomy_location(config):
    return deepsif_anatomy.locate(config.getoption(deepsif_anatomy.OPTION))


def pytest_report_header(config):
    location = _anatomy_location(config)
    why = deepsif_anatomy.missing(location)
    if why is None:
        return f"DeepSIF template: {location.folder}"
    return "DeepSIF template: " + ("missing, its tests fail: " if deepsif_anatomy.must_fail(location)
                                   else "absent, its tests are skipped: ") + why


@pytest.fixture(scope="session")
def anatomy_dir(request):
    """The real 994-region DeepSIF template (read only, never copied into the repo).

    Skipped (or failed, see the module's docstring) with a one-line reason when absent.
    """
    location = _anatomy_location(request.config)
    why = deepsif_anatomy.missing(location)
    if why is not None:
        if deepsif_anatomy.must_fail(location):
            pytest.fail(why + ("" if location.named_by else f" ({deepsif_anatomy.REQUIRE_ENV} is set)"),
                        pytrace=False)
        pytest.skip(why)
    return location.folder


@pytest.fixture(scope="session")
def deepsif_template(anatomy_dir):
    from deepsif_pipeline.head.anatomy import load_template
    return load_template(anatomy_dir)


@pytest.fixture(scope="session")
def tvb76_cache(tmp_path_factory):
    """A cache folder holding the built-in tvb76 template, built once from tvb-data."""
    from deepsif_pipeline.head.builtin import BUILD_VERSION, build_tvb76
    cache = tmp_path_factory.mktemp("cache")
    build_tvb76(cache / f"tvb76-v{BUILD_VERSION}")
    return cache


@pytest.fixture(scope="session")
def tvb76_dir(tvb76_cache):
    from deepsif_pipeline.head.builtin import BUILD_VERSION
    return tvb76_cache / f"tvb76-v{BUILD_VERSION}"


@pytest.fixture(scope="session")
def octave():
    """The GNU Octave the project's setup installed (never a stand-in)."""
    from deepsif_pipeline.processes.engine import find_engine
    return find_engine("octave")


@pytest.fixture
def anatomy_copy(anatomy_dir, tmp_path):
    """A writable template folder made of symlinks to the real files, to break one at a time."""
    folder = tmp_path / "anatomy"
    folder.mkdir()
    for f in anatomy_dir.iterdir():
        (folder / f.name).symlink_to(f)
    return folder


@pytest.fixture(scope="session")
def real_step4_inputs(anatomy_dir, tmp_path_factory):
    """Inputs of step 4 on the real template: derived distances and small synthetic clips.

    Every region gets 1 to 3 clips (a few get none, see tests/clip_fixture.py),
    and its markers, with the fingerprint step 2 gives them under the default
    settings and ``--seed 7`` (``seed``).
    """
    folder = tmp_path_factory.mktemp("step4_real")
    template = load_template(anatomy_dir)
    n = template.n_regions
    distances = distance_file(template, folder)  # the pipeline's own derivation
    raw_dis_matrix = loadmat(distances)[DISTANCES_VARIABLE]

    rng = np.random.default_rng(20220101)
    counts = rng.integers(1, 4, size=n)
    counts[[0, 7, 100, 500, 993]] = 0
    clip_dir = folder / "nmm_test"
    write_spike_clips(clip_dir, counts, raw_dis_matrix)
    seed = 7
    write_markers(Layout(folder, "test"), counts, extract.fingerprint(Settings(seed=seed), template, template_leadfield(template)))
    return {"folder": folder, "distances": distances, "clip_dir": clip_dir, "counts": counts,
            "n": n, "seed": seed}


def write_markers(layout, counts, fingerprint):
    """Markers of every region as step 2 writes them: cumulative counts (0, half, all), ``fingerprint``."""
    from deepsif_pipeline.store.fingerprint import canonical
    for m, share in zip((0, 1, 2), (0, 0.5, 1)):
        layout.marker(m, 0).parent.mkdir(parents=True, exist_ok=True)
        for r, count in enumerate(counts):
            savemat(layout.marker(m, r), {"num_spike": float(np.floor(count * share)), "spike_time": np.zeros((1, 0)),
                                          "fingerprint": canonical(fingerprint)})


def made_leadfield(template, spec, cache, bem=None):
    """``(path, n_sensors)`` of the lead field ``--sensors spec`` (``--bem bem``) makes on ``template``, made in
    (or found in) the cache folder ``cache``, as a run resolves it (``head.leadfields``)."""
    from deepsif_pipeline.head.leadfields import resolve_leadfield, source_of
    made = resolve_leadfield(source_of(None, spec, bem), template, Layout(Path(cache) / "no-output"), cache)
    return made.path, made.n_sensors


def inputs_key(template, spec, bem=None):
    """The cache key of the lead field of ``--sensors spec`` (``--bem bem``) on ``template``."""
    from deepsif_pipeline.head.leadfields import source_of
    return source_of(None, spec, bem).key(template)


def run_region(ctx, region, disk=None, halt=None):
    """Steps 1-3 of one region through the runner's own lane worker (one lane), as a run processes it; its Result."""
    from deepsif_pipeline.run import runner
    queue = iter([(0, 1, region)])
    return runner.lane_worker(ctx, lambda: next(queue), 1, disk, halt)[region]


def take_over_claim(layout, region):
    """Another run takes the region's claim (its file holds another token): this run's claim is lost."""
    import json
    from deepsif_pipeline.store import claims
    path = claims.claim_path(layout.claim_dir, layout.region_claim(region))
    path.write_text(json.dumps(dict(json.loads(path.read_text()), token="someone-else")))


def run_octave(octave, code, cwd, timeout=600):
    """Run Octave ``code`` with matlab/ and tests/octave/ on the path; return the CompletedProcess.

    Octave 7 here prints a harmless "error: ignoring const execution_exception&
    while preparing to exit" when it quits: judge by the return code.
    """
    from deepsif_pipeline.processes.engine import MATLAB_DIR, matlab_string
    call = (f"addpath({matlab_string(MATLAB_DIR)}); addpath({matlab_string(REPO / 'tests' / 'octave')}); "
            f"{code}")
    return subprocess.run([octave.executable, "--no-gui", "--quiet", "--norc", "--eval", call], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def run_cli(script, *args, cwd=None, timeout=3600):
    """Run one of the project's scripts as a user would; return the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def tree_snapshot(root):
    """``{relative path: (size, mtime_ns, sha of bytes)}`` of every file under root."""
    import hashlib
    root = Path(root)
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns,
                                       hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def tvb76_run(cache, out, *args, timeout=1800, env=None, **popen):
    """Run the orchestrator on the built-in tvb76 template (quiet progress) as a user would.

    ``env`` adds environment variables. Returns the CompletedProcess (stdout
    and stderr merged in ``stdout``).
    """
    import os
    cmd = [sys.executable, str(REPO / "pipeline_orchestrator.py"), "--anatomy", "tvb76", "--output", str(out),
           "--progress", "none", *map(str, args)]
    return subprocess.run(cmd, env=dict(os.environ, DEEPSIF_PIPELINE_CACHE=str(cache), **(env or {})), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **popen)


def assert_refused(res, message, out):
    """A run refused bad input as the pipeline promises: exit 2, one ``error:`` line holding ``message``, no
    traceback, and no output folder ``out`` created."""
    assert res.returncode == 2, res.stdout[-2000:]
    errors = [line for line in res.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in res.stdout, res.stdout[-2000:]
    assert not Path(out).exists()


def mat_arrays(root):
    """``{relative path: {variable: array}}`` of every MAT-file under root (or of the file root)."""
    root = Path(root)
    paths = [root] if root.is_file() else sorted(root.rglob("*.mat"))
    assert paths, f"no MAT-file at {root}"
    return {str(p.relative_to(root.parent if root.is_file() else root)):
            {k: v for k, v in loadmat(p).items() if not k.startswith("__")} for p in paths}


def assert_same_arrays(got, expected):
    """Two trees of MAT-files hold the same files with equal arrays (MAT headers carry a time stamp)."""
    a, b = mat_arrays(got), mat_arrays(expected)
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    for name, variables in b.items():
        assert a[name].keys() == variables.keys(), name
        for v, arr in variables.items():
            assert np.array_equal(a[name][v], arr, equal_nan=arr.dtype.kind == "f"), f"{name}: {v} differs"


def write_step4_inputs(clip_root, n_regions, seed):
    """Markers and small clips (0-3 per region) for every region: the input of step 4.

    Clips are 500 x n_regions: a 40 mV bump in the region's column over a 0.3 mV background.
    """
    clip_root = Path(clip_root)
    counts = np.random.default_rng(seed).integers(0, 4, size=n_regions)
    t = np.arange(500)
    for r in range(n_regions):
        (clip_root / f"a{r}").mkdir(parents=True)
        for n in range(1, counts[r] + 1):
            data = 0.3 * np.sin(2 * np.pi * np.outer(t, np.arange(1, n_regions + 1)) / 500 + r + n)
            data[:, r] += 40 * np.exp(-((t - 100 - 50 * n) / 8.0) ** 2)
            savemat(clip_root / f"a{r}" / f"nmm_{n}.mat", {"data": data})
        for m in (0, 1, 2):
            (clip_root / "clip_info" / f"iter{m}").mkdir(parents=True, exist_ok=True)
            savemat(clip_root / "clip_info" / f"iter{m}" / f"iter_{m}_i_{r}.mat",
                    {"num_spike": float(counts[r] if m == 2 else 0), "spike_time": np.zeros((1, 0))})
    return counts


def process_alive(pid):
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid):
    """Pids of every process below ``pid``, from /proc (psutil is not a dependency)."""
    import os
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parent.items() if p == frontier[-1]]
        frontier.pop()
        found += kids
        frontier += kids
    return found


class Hold:
    """A test-only hold point (``deepsif_pipeline/processes/testhook.py``): the program waits there until released.

    ``env`` is what the program's environment needs; :meth:`wait` waits until the
    program reached the point (failing the test with ``what`` when it never does).
    """

    def __init__(self, folder, point):
        from deepsif_pipeline.processes import testhook
        self.folder, self.point = Path(folder), point.split("@")[0]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = {testhook.POINT_VARIABLE: point, testhook.DIR_VARIABLE: str(self.folder)}

    @property
    def reached(self):
        return (self.folder / f"{self.point}.reached").is_file()

    def wait(self, proc=None, timeout=600, what=""):
        """Until the point is reached; fails when ``proc`` (a Popen) ends first or after ``timeout`` s."""
        import time
        deadline = time.monotonic() + timeout
        about = (lambda: what) if isinstance(what, str) else (lambda: "\n" + what()[-3000:])
        while not self.reached:
            assert proc is None or proc.poll() is None, f"the program ended (exit {proc.returncode}) before " \
                                                        f"reaching {self.point} {about()}"
            assert time.monotonic() < deadline, f"{self.point} not reached after {timeout} s {about()}"
            time.sleep(0.02)
        return (self.folder / f"{self.point}.reached").read_text().split()

    def release(self):
        (self.folder / f"{self.point}.release").touch()


# A command prefix that runs a Python script with SIGINT at its default, as in a terminal: a process
# started in the background by a script (`cmd &`, CI) inherits SIGINT ignored, and so would the
# orchestrator of a test that sends it a Ctrl-C.
DEFAULT_SIGINT = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"]
