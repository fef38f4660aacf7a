"""Shared fixtures: the real DeepSIF template from ../shared, small real inputs built once."""

from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
ANATOMY = (REPO.parent / "shared" / "anatomy" / "deepsif").resolve()
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def anatomy_dir():
    """The real 994-region DeepSIF template (read only, never copied into the repo)."""
    if not (ANATOMY / "connectivity_998.zip").is_file():
        pytest.fail(f"the DeepSIF template is expected in {ANATOMY} (the workplace's shared/ folder)")
    return ANATOMY


@pytest.fixture(scope="session")
def deepsif_template(anatomy_dir):
    from deepsif_pipeline.anatomy import load_template
    return load_template(anatomy_dir)


@pytest.fixture(scope="session")
def octave():
    """The GNU Octave the project's setup installed (never a stand-in)."""
    from deepsif_pipeline.engine import find_engine
    return find_engine("octave")


@pytest.fixture
def anatomy_copy(anatomy_dir, tmp_path):
    """A writable template folder made of symlinks to the real files, to break one at a time."""
    folder = tmp_path / "anatomy"
    folder.mkdir()
    for f in anatomy_dir.iterdir():
        (folder / f.name).symlink_to(f)
    return folder


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
