"""The README and docs/*.md against the code: every `--option` they name exists in the `--help` of the
command it is given to, and every relative link leads to an existing file (and heading).

Options are read from code spans and code blocks only. Each mention is given to a command:

- in a code block, a line (joined over trailing backslashes) is cut at every command it names
  (`pipeline_orchestrator.py`, `generate_tvb_data.py`, `bench/*.py`, `slurm/dask_slurm.py`, `sbatch`,
  `pytest`, `dask worker`, ...); an option belongs to the last command before it on that line. The
  arguments after `slurm/deepsif_array.sbatch`, and after a bare `--` (dask_slurm.py passes them on),
  are the orchestrator's;
- in prose, a code span is cut the same way; a span that names no command belongs to the last command
  named, in a span with no option of its own, earlier in the same sentence (up to a semicolon), list item
  or table cell (e.g. "`generate_tvb_data.py` also runs with `--a_start`"), else to the orchestrator.
  `setup.sh` is named in passing and sets no such context; an option in prose given to dask_slurm.py
  may also be one it passes on to the orchestrator;
- with no command at all (an error message, console output), the option is the orchestrator's.

Commands that are not installed here (sbatch, DeepSIF's main.py) are checked against the options of theirs this project
uses, listed below from their manual; a new one must be added there on purpose.
"""
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
ORCHESTRATOR = "pipeline_orchestrator.py"

# sbatch is not installed on every machine that runs the tests: its options named in the docs, from
# sbatch(1). Only these are accepted; anything else after `sbatch` fails the test.
SBATCH_OPTIONS = {"--array", "--parsable", "--dependency", "--cpus-per-task", "--mem", "--time", "--wrap",
                  "--requeue", "--open-mode", "--partition", "--account"}
# DeepSIF's trainer (main.py of bfinl/DeepSIF, not part of this project): the options of its parser.
DEEPSIF_MAIN_OPTIONS = {"--save", "--workers", "--batch_size", "--device", "--arch", "--dat", "--train", "--test",
                        "--model_id", "--lr", "--resume", "--epoch", "--fwd", "--rnn_layer", "--info"}

# (pattern, command): the commands whose options the pages name ({0}: the pattern's group).
COMMANDS = [
    (r"pipeline_orchestrator\.py", ORCHESTRATOR),
    (r"deepsif_array\.sbatch", ORCHESTRATOR),  # the job script passes its arguments to the orchestrator
    (r"generate_tvb_data\.py", "generate_tvb_data.py"),
    (r"(?:slurm/)?dask_slurm\.py", "slurm/dask_slurm.py"),
    (r"(?:bench/)?(bench_\w+)\.py", "bench/{0}.py"),
    (r"(?<![\w./-])sbatch(?![\w.-])", "sbatch"),
    (r"(?<![\w./-])pytest(?![\w.-])", "pytest"),
    (r"(?<![\w.-])dask (scheduler|worker)\b", "dask {0}"),
    (r"setup\.sh", "setup.sh"),
    (r"(?<![\w./-])main\.py", "DeepSIF main.py"),
    (r"(?:personalized_model/)?main_meg\.py", "DeepSIF main_meg.py"),
    (r"(?<=\s)--(?=\s)", ORCHESTRATOR),  # dask_slurm.py ... -- ORCHESTRATOR OPTIONS
]
# In prose, an option given to these may be one they pass on to the orchestrator ("dask_slurm.py's
# process ... or add --skip-synthesis"); in a code block the bare `--` says which.
PASSES_ON = {"slurm/dask_slurm.py"}
# Named in passing ("the repository (run `./setup.sh` once), the output folder (`--output`)"), not as the
# subject of the options that follow: its options are checked only when written with it (`./setup.sh --test`).
NO_CONTEXT = {"setup.sh"}
OPTION_RE = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")


def _commands_in(text):
    """[(start, end, command)] for every command named in text, in order."""
    found = []
    for pattern, name in COMMANDS:
        for m in re.finditer(pattern, text):
            found.append((m.start(), m.end(), name.format(*m.groups())))
    return sorted(found)


def _segments(text, default):
    """[(commands, option)] for each option in text: it belongs to the last command named before it in
    text, else to default (a tuple of commands, any of which may have it)."""
    commands = _commands_in(text)
    out = []
    for m in OPTION_RE.finditer(text):
        owner = default
        for start, end, name in commands:
            if end <= m.start():
                owner = (name,)
        out.append((owner, m.group(0)))
    return out


def _strip_comments(text):
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def _blocks(text):
    """Split a page into ("code", lines) and ("prose", paragraph) parts."""
    parts, prose, code, fence = [], [], None, None
    for line in text.splitlines():
        if code is None and re.match(r"\s*(```|~~~)", line):
            if prose:
                parts.append(("prose", "\n".join(prose)))
                prose = []
            code, fence = [], line.strip()[:3]
        elif code is not None and line.strip().startswith(fence):
            parts.append(("code", code))
            code = None
        elif code is not None:
            code.append(line)
        elif not line.strip():
            if prose:
                parts.append(("prose", "\n".join(prose)))
                prose = []
        else:
            prose.append(line)
    if prose:
        parts.append(("prose", "\n".join(prose)))
    return parts


def option_mentions(text):
    """[(commands, option, context)] for every --option in a page's code spans and code blocks: the option
    must be in the --help of one of the commands."""
    mentions = []
    for kind, body in _blocks(_strip_comments(text)):
        if kind == "code":
            for line in re.sub(r"\\\n\s*", " ", "\n".join(body)).splitlines():
                mentions += [(cmd, opt, line.strip()) for cmd, opt in _segments(line, (ORCHESTRATOR,))]
            continue
        # prose: list items, table cells, then sentences and their parts between semicolons are the contexts
        units = []
        for item in re.split(r"\n(?=\s*(?:[-*] |\d+\. |\|))", body):
            if item.lstrip().startswith("|"):
                units += re.split(r"(?<!\\)\|", item.strip().strip("|"))  # `a\|b` stays in its cell
            else:
                units += re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<=\.)\s+(?=[A-Z`])|(?<=;)\s+", item)
        for unit in units:
            context = (ORCHESTRATOR,)
            for m in re.finditer(r"(`+)(.+?)\1", unit, flags=re.S):
                span = m.group(2)
                options = _segments(span, context)
                mentions += [(cmd, opt, span) for cmd, opt in options]
                named = _commands_in(span)
                if named and not options and named[-1][2] not in NO_CONTEXT:
                    name = named[-1][2]
                    context = (name, ORCHESTRATOR) if name in PASSES_ON else (name,)
    return mentions


def _help(command):
    if command == "sbatch":
        return " ".join(sorted(SBATCH_OPTIONS))
    if command == "DeepSIF main.py":
        return " ".join(sorted(DEEPSIF_MAIN_OPTIONS))
    if command == "DeepSIF main_meg.py":  # personalized_model/main_meg.py: main.py's options and --gmodel
        return " ".join(sorted(DEEPSIF_MAIN_OPTIONS | {"--gmodel"}))
    if command == "setup.sh":  # running it would set up the machine: its usage line says what it takes
        return next(line for line in (REPO / "setup.sh").read_text().splitlines() if "Usage:" in line)
    if command == "pytest":
        argv = [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"]
    elif command.startswith("dask "):
        argv = [str(Path(sys.executable).parent / "dask"), *command.split()[1:], "--help"]
    else:
        path = REPO / command
        assert path.is_file(), f"the docs name {command}, which is not in the repository"
        argv = [sys.executable, str(path), "--help"]
    res = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(argv)} failed:\n{res.stdout}{res.stderr}"
    return res.stdout


@functools.lru_cache(maxsize=None)
def help_options(command):
    """The options command's --help shows, and those a script declares but hides from it
    (``Option.hidden`` in config/options.py, e.g. the orchestrator's --result-file, which docs/architecture.md
    names; or ``help=argparse.SUPPRESS`` in a script's own parser)."""
    from deepsif_pipeline.config.options import OPTIONS
    options = set(OPTION_RE.findall(_help(command)))
    options |= {flag for o in OPTIONS if command in o.scripts for flag in o.flags}
    source = REPO / command
    if source.suffix == ".py" and source.is_file():
        for m in re.finditer(r"add_argument\(([^()]*)help=argparse\.SUPPRESS", source.read_text()):
            options |= set(re.findall(r"[\"'](--[\w-]+)[\"']", m.group(1)))
    return options


def all_mentions():
    return [(page, cmds, opt, ctx) for page in PAGES
            for cmds, opt, ctx in option_mentions(page.read_text())]


def test_the_pages_name_options_of_several_commands():
    """The parser sees what it should: else the test below would pass by checking nothing."""
    commands = {(cmd, opt) for _, cmds, opt, _ in all_mentions() for cmd in cmds[:1]}
    for expected in [(ORCHESTRATOR, "--start_region"), (ORCHESTRATOR, "--scheduler"),
                     ("generate_tvb_data.py", "--a_start"), ("bench/bench_region.py", "--region"),
                     ("bench/bench_step4.py", "--clips-per-region"), ("slurm/dask_slurm.py", "--jobs"),
                     ("sbatch", "--array"), ("pytest", "--deepsif-anatomy"), ("dask worker", "--nthreads"),
                     ("setup.sh", "--test"), ("DeepSIF main.py", "--fwd"), ("bench/bench_deepsif_loader.py", "--deepsif")]:
        assert expected in commands, expected
    # after `--` and in the job script's arguments, the orchestrator's options
    assert (ORCHESTRATOR, "--end_region") in commands and ("sbatch", "--start_region") not in commands
    assert ("slurm/dask_slurm.py", "--start_region") not in commands


def test_every_option_named_exists_in_its_commands_help():
    unknown = []
    for page, cmds, opt, ctx in all_mentions():
        if not any(opt in help_options(cmd) for cmd in cmds):
            unknown.append(f"{page.relative_to(REPO)}: {opt} is not an option of {' or '.join(cmds)} "
                           f"(in: {ctx[:100]})")
    assert not unknown, "\n".join(unknown)


def github_anchor(heading, seen):
    """The id GitHub gives a heading: lower case, markup and punctuation dropped, spaces to hyphens,
    -1, -2, ... on repeats."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"[^\w\- ]", "", text.lower().replace("`", ""))
    slug = text.replace(" ", "-")
    n = seen.get(slug, 0)
    seen[slug] = n + 1
    return slug if n == 0 else f"{slug}-{n}"


def anchors(page):
    seen, found = {}, set()
    for kind, body in _blocks(_strip_comments(page.read_text())):
        if kind == "prose":
            for line in body.splitlines():
                m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
                if m:
                    found.add(github_anchor(m.group(1), seen))
    return found


def relative_links(page):
    """[(target, anchor)] for every link [text](target) that is not a URL, outside code."""
    links = []
    for kind, body in _blocks(_strip_comments(page.read_text())):
        if kind != "prose":
            continue
        body = re.sub(r"(`+).+?\1", "", body, flags=re.S)
        for m in re.finditer(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)", body):
            target = m.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            links.append((path, anchor))
    return links


def test_every_relative_link_resolves():
    broken, count = [], 0
    for page in PAGES:
        for path, anchor in relative_links(page):
            count += 1
            target = (page.parent / path).resolve() if path else page
            name = f"{page.relative_to(REPO)}: ({path}{'#' + anchor if anchor else ''})"
            if not target.exists():
                broken.append(f"{name}: no file {target}")
            elif anchor and (target.suffix != ".md" or anchor not in anchors(target)):
                broken.append(f"{name}: no heading with that anchor in {target.name}")
    assert count > 20, f"only {count} relative links found: the parser misses them"
    assert not broken, "\n".join(broken)


def test_github_anchors():
    seen = {}
    assert github_anchor("The built-in template `tvb76`", seen) == "the-built-in-template-tvb76"
    assert github_anchor("Interrupting, resuming, checking where a run stands", seen) == \
        "interrupting-resuming-checking-where-a-run-stands"
    assert github_anchor("Where the tests find DeepSIF's template", seen) == "where-the-tests-find-deepsifs-template"
    assert github_anchor("The two step-1 engines", seen) == "the-two-step-1-engines"
    assert github_anchor("The two step-1 engines", seen) == "the-two-step-1-engines-1"


@pytest.mark.parametrize("text, expected", [
    ("`generate_tvb_data.py` also runs with DeepSIF's `--a_start/--a_end` and `--seed`.",
     [("generate_tvb_data.py", "--a_start"), ("generate_tvb_data.py", "--a_end"), ("generate_tvb_data.py", "--seed")]),
    ("Run `sbatch --mem=1500M` for one, `--workers N` regions per job.",
     [("sbatch", "--mem"), (ORCHESTRATOR, "--workers")]),
    ("`generate_tvb_data.py` runs. Then `--workers 2`.",
     [(ORCHESTRATOR, "--workers")]),
    ("| `steps/simulate.py`, runs `generate_tvb_data.py` | `--seed`, `--dataset` |",
     [(ORCHESTRATOR, "--seed"), (ORCHESTRATOR, "--dataset")]),
    ("```bash\n.venv/bin/python slurm/dask_slurm.py --jobs 8 \\\n    --queue q -- --start_region 0\n```",
     [("slurm/dask_slurm.py", "--jobs"), ("slurm/dask_slurm.py", "--queue"), (ORCHESTRATOR, "--start_region")]),
    ("```\njid=$(sbatch --parsable --array=0-9 slurm/deepsif_array.sbatch --output /x)\n"
     "sbatch --mem=4G --wrap \"python pipeline_orchestrator.py --pack\"\n```",
     [("sbatch", "--parsable"), ("sbatch", "--array"), (ORCHESTRATOR, "--output"),
      ("sbatch", "--mem"), ("sbatch", "--wrap"), (ORCHESTRATOR, "--pack")]),
    ("<!-- `--not-yet` -->", []),
    ("| `--progress` | `auto` | `lines\\|bar` |", [(ORCHESTRATOR, "--progress")]),
])
def test_option_mentions_are_given_to_their_command(text, expected):
    assert [(cmds[0], opt) for cmds, opt, _ in option_mentions(text)] == expected
