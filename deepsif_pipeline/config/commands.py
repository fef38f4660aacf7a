"""Commands the pipeline suggests to the user (hints, errors), complete and runnable as printed.

A suggested command names everything that decides what it does: the
Python and script that run now, the output folder, the template (and lead
field when not the template's own), the clip set, the dataset, every
setting of the clip set that is not the default and ``--mean-iterations``
when not the default. Settings the command took
from the folder's manifest (``--status``, ``--verify``, ``--pack``) are
therefore written out, so that the suggestion finds the folder as it is.
"""

from pathlib import Path
import shlex
import sys

from deepsif_pipeline.head.anatomy import DEFAULT_LEADFIELD, template_info
from deepsif_pipeline.config.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "pipeline_orchestrator.py"

# settings that go into the clips' (and so step 4's) fingerprint: (Settings field, option)
FINGERPRINTED = (("seed", "--seed"), ("a_range", "--a-range"), ("sim_length", "--sim-length"),
                 ("engine", "--engine"), ("target_snr", "--target-snr"))


def number(value):
    """``value`` as the shortest text that reads back as the same number (``2`` for 2.0)."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def shown_path(path, cwd=None):
    """``path`` relative to ``cwd`` (the current folder) when it lies below it, else absolute."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd() if cwd is None else cwd))
    except ValueError:
        return str(path)


def options(ctx, dataset=True):
    """The options that point a new command at this run's folder, template, clip set and settings.

    Parameters
    ----------
    ctx : deepsif_pipeline.steps.Context
    dataset : bool
        Name ``--dataset`` too (commands about step 4 or the pack).

    Returns
    -------
    list of str
    """
    s, template = ctx.settings, ctx.template
    info = template_info(template.folder)
    out = ["--output", str(ctx.layout.output), "--anatomy", info.get("name") or str(template.folder)]
    if getattr(template, "sensors", None):
        out += ["--sensors", template.sensors]
        if getattr(template, "bem", None):
            out += ["--bem", template.bem]
    elif template.leadfield.name != info.get("leadfield", DEFAULT_LEADFIELD):
        out += ["--leadfield", template.leadfield.name]
    if s.filename != Settings.filename:
        out += ["--filename", s.filename]
    if dataset:
        out += ["--dataset", s.dataset]
    for field, option in FINGERPRINTED:
        if getattr(s, field) != getattr(Settings, field):
            out += [option, number(getattr(s, field))]
    if s.mean_iterations != Settings.mean_iterations:  # what a region is done with
        out += ["--mean-iterations", s.mean_iterations]
    return out


def suggest(ctx, *mode, dataset=True, cwd=None):
    """The full command line running ``mode`` (e.g. ``'--synthesis-only'``) on this run's folder, shell-quoted.

    Examples
    --------
    ``.venv/bin/python pipeline_orchestrator.py --synthesis-only --output /data/source --anatomy tvb76
    --dataset test --sim-length 2``
    """
    return shlex.join([shown_path(sys.executable, cwd), shown_path(SCRIPT, cwd), *mode, *options(ctx, dataset)])


def repair(ctx, regions, cwd=None):
    """The complete command that makes the damaged markers and clips of ``regions`` again (``--redo``)."""
    return suggest(ctx, "--regions", ",".join(map(str, sorted(int(r) for r in regions))), "--redo", cwd=cwd)
