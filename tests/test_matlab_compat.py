"""The .m files are in the subset of the language that MATLAB and GNU Octave share."""

from pathlib import Path
import re
import subprocess
import sys

import pytest

from conftest import REPO

M_FILES = sorted((REPO / "matlab").glob("*.m")) + sorted((REPO / "tests" / "octave").glob("*.m"))

# Octave-only syntax and functions that MATLAB rejects.
OCTAVE_ONLY = [
    (r"^\s*#", "'#' comment"),
    (r"!=", "'!=' (use ~=)"),
    (r"\b(printf|puts|fputs|fdisp|print_usage)\s*\(", "Octave-only output function"),
    (r"\bend(function|if|for|while|switch|_try_catch|_unwind_protect)\b", "Octave-only block end"),
    (r"\+\+|--\s*;|\+=|-=|\*=|/=", "increment or compound assignment"),
    (r"\bunwind_protect\b", "unwind_protect"),
    (r"\"", "double-quoted string (a string object in MATLAB)"),
]


def _code(line):
    """A line without its % comment (quotes taken into account roughly)."""
    out, quoted = [], False
    for i, ch in enumerate(line):
        if ch == "'" and not quoted and i > 0 and (line[i - 1].isalnum() or line[i - 1] in ")]}.'_"):
            out.append(ch)  # transpose
            continue
        if ch == "'":
            quoted = not quoted
        if ch == "%" and not quoted:
            break
        out.append(ch)
    return "".join(out)


def test_there_are_m_files():
    names = {p.name for p in M_FILES}
    assert {"process_region_nmm.m", "generate_synthetic_source.m", "deepsif_params.m"} <= names


def _tool(name):
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


@pytest.mark.parametrize("tool", ["mh_style", "mh_lint"])
def test_miss_hit_parses_as_matlab(tool):
    res = subprocess.run([_tool(tool), str(REPO / "matlab"), str(REPO / "tests" / "octave")],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "everything seems fine" in res.stdout, res.stdout


@pytest.mark.parametrize("path", M_FILES, ids=lambda p: p.name)
def test_no_octave_only_syntax(path):
    problems = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code = line if re.match(r"^\s*#", line) else _code(line)
        for pattern, what in OCTAVE_ONLY:
            if re.search(pattern, code):
                problems.append(f"{path.name}:{n}: {what}: {line.strip()}")
    assert not problems, "\n".join(problems)


def test_checker_catches_octave_syntax(tmp_path):
    """The rules above do fire on Octave-only code (so the test can fail)."""
    bad = ["# comment", "if a != b", "printf('x')", "endif", "x += 1;", 's = "text";']
    for line in bad:
        code = line if re.match(r"^\s*#", line) else _code(line)
        assert any(re.search(p, code) for p, _ in OCTAVE_ONLY), line
    assert not any(re.search(p, _code("y = x'; % it's fine")) for p, _ in OCTAVE_ONLY)
    (tmp_path / "bad.m").write_text("if a != b\n  x = 1;\nendif\n")
    res = subprocess.run([_tool("mh_style"), str(tmp_path / "bad.m")], capture_output=True, text=True)
    assert res.returncode != 0
