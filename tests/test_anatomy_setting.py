"""The tests find DeepSIF's template through one setting; without it they are skipped, or fail in CI.

Each case runs pytest in a subprocess on a copy of the project's conftest (with
the helpers it imports from ``tests/``) and ``deepsif_pipeline/`` in an empty
folder: no ``../shared`` beside it, as in a clone of the repository alone, and
no ``bench/`` (the tests do not depend on it). The generated test file holds
one test that needs the template and one that does not.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
import deepsif_anatomy

TINY = '''
def test_needs_the_template(anatomy_dir):
    assert (anatomy_dir / "connectivity_998.zip").is_file()


def test_without_the_template():
    assert sum(range(4)) == 6
'''


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The parts of the project its conftest needs, copied into an empty folder, plus the tiny test file."""
    root = tmp_path_factory.mktemp("alone") / "clone"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "deepsif_pipeline", root / "deepsif_pipeline", ignore=ignore)
    (root / "tests").mkdir()
    for name in ("conftest.py", "deepsif_anatomy.py", "clip_fixture.py"):
        shutil.copy(REPO / "tests" / name, root / "tests")
    shutil.copy(REPO / "pytest.ini", root)
    (root / "tests" / "test_tiny.py").write_text(TINY)
    assert not (root.parent / "shared").exists()
    return root


def _pytest(clone, *args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in (deepsif_anatomy.ENV, deepsif_anatomy.REQUIRE_ENV)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf",
                           "tests/test_tiny.py", *map(str, args)], cwd=clone, env=dict(clean, **env),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_absent_template_is_skipped_with_how_to_provide_it(clone):
    res = _pytest(clone)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 1 skipped" in res.stdout, res.stdout
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith("SKIPPED")]
    default = clone.parent / "shared" / "anatomy" / "deepsif"
    assert f"not in {default.resolve()} (the default place)" in line
    assert "DEEPSIF_ANATOMY=DIR" in line and "--deepsif-anatomy DIR" in line
    assert "DeepSIF template: absent, its tests are skipped" in res.stdout


def test_required_template_absent_fails(clone):
    res = _pytest(clone, DEEPSIF_REQUIRE_ANATOMY="1")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 passed, 1 error" in res.stdout, res.stdout  # the fixture fails: an error of that test
    assert "(DEEPSIF_REQUIRE_ANATOMY is set)" in res.stdout and "Traceback" not in res.stdout
    assert "DeepSIF template: missing, its tests fail" in res.stdout


def test_named_folder_without_the_template_fails(clone, tmp_path):
    res = _pytest(clone, DEEPSIF_ANATOMY=str(tmp_path))
    assert res.returncode == 1 and "1 passed, 1 error" in res.stdout, res.stdout + res.stderr
    assert f"DEEPSIF_ANATOMY names {tmp_path.resolve()}, which has no connectivity_998.zip" in res.stdout


def test_template_named_by_option_or_variable_runs(clone, anatomy_dir):
    for args, env in ((("--deepsif-anatomy", anatomy_dir), {}), ((), {"DEEPSIF_ANATOMY": str(anatomy_dir)}),
                      ((), {"DEEPSIF_ANATOMY": str(anatomy_dir), "DEEPSIF_REQUIRE_ANATOMY": "1"})):
        res = _pytest(clone, *args, **env)
        assert res.returncode == 0 and "2 passed" in res.stdout, (args, env, res.stdout + res.stderr)
        assert f"DeepSIF template: {anatomy_dir.resolve()}" in res.stdout


def test_ci_requires_the_template_and_runs_the_readme_command():
    script = (REPO / ".ci" / "run").read_text().splitlines()
    readme = (REPO / "README.md").read_text()
    assert "./setup.sh --test && .venv/bin/python -m pytest" in readme
    assert "./setup.sh --test && .venv/bin/python -m pytest || main=$?" in script  # the main pass
    assert ".venv/bin/python -m pytest -m interrupts || loaded=$?" in script  # the loaded pass, in the foreground
    assert "export DEEPSIF_REQUIRE_ANATOMY=1" in script
    assert 'export DEEPSIF_ANATOMY="${DEEPSIF_ANATOMY:-$PWD/../shared/anatomy/deepsif}"' in script


@pytest.mark.parametrize("main, loaded, status", [(0, 0, 0), (1, 0, 1), (0, 3, 3), (2, 3, 2)])
def test_ci_fails_when_either_pass_fails_and_always_stops_its_load(tmp_path, main, loaded, status):
    """.ci/run with both passes replaced by stubs exiting ``main`` and ``loaded``: its exit status, and
    the busy loops of the loaded pass (as many as cores, seen by the stub) are gone when it ends."""
    text = (REPO / ".ci" / "run").read_text()
    main_line = "./setup.sh --test && .venv/bin/python -m pytest || main=$?"
    loaded_line = ".venv/bin/python -m pytest -m interrupts || loaded=$?"
    assert main_line in text and loaded_line in text
    seen = tmp_path / "loops.txt"
    text = text.replace(main_line, f"(exit {main}) || main=$?").replace(
        loaded_line, f"(pgrep -P $$ -f 'while True: pass' > {seen}; exit {loaded}) || loaded=$?")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(text)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    res = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL, env=dict(os.environ, DEEPSIF_ANATOMY=str(tmp_path)))
    assert res.returncode == status, res.stdout + res.stderr
    assert f"main pass: exit {main}; loaded pass: exit {loaded}" in res.stdout
    loops = [int(pid) for pid in seen.read_text().split()]
    assert len(loops) == os.cpu_count(), (loops, res.stdout)  # one per online core
    assert not [pid for pid in loops if os.path.exists(f"/proc/{pid}")], "busy loops left running"


def test_no_test_imports_from_bench():
    """bench/ holds benchmarks; the tests (and what they import) live in tests/ and the package."""
    import re
    users = [p.name for p in sorted((REPO / "tests").glob("*.py"))
             if re.search(r"^\s*(from|import)\s+bench\b", p.read_text(), re.M)]
    assert users == []
