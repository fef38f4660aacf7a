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

from deepsif_pipeline.config.options import OPTIONS, ORCHESTRATOR, SETTINGS
from deepsif_pipeline.head.anatomy import template_info

SCRIPT = Path(__file__).resolve().parents[2] / "pipeline_orchestrator.py"


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
    out = ["--output", str(ctx.layout.output), "--anatomy", template_info(template.folder).get("name")
           or str(template.folder), *ctx.synthesis_leadfield.options(template)]  # (a patient's: --subject, ...)
    for o in OPTIONS:  # the settings a suggested command names (config/options.py: suggest)
        value = getattr(s, o.dest, None)
        if (o.suggest == "always" and dataset) or (o.suggest == "changed" and value != o.default):
            out += [o.flag_name, number(value)]
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


def context_values(ctx):
    """``{dest: value}`` of every option a run's context decides, resolved: the template's folder, the lead
    field's provider, every setting, the engine and the time limits (``0``: none).

    Step 1's processes and Dask tasks are given these (:func:`passed_on`), so they run with exactly
    what this run resolved, whatever was left to defaults or to the folder.
    """
    values = {o.dest: getattr(ctx.settings, o.dest) for o in SETTINGS}
    values.update(output=ctx.layout.output, anatomy=ctx.template.folder, progress=ctx.progress, verbose=ctx.verbose,
                  redo=ctx.redo, keep_raw=ctx.keep_raw, matlab=None if ctx.engine is None else ctx.engine.kind,
                  **{f"timeout_{step}": limit or 0 for step, limit in ctx.limits.items()},
                  **ctx.leadfield.source.values(ctx.template))
    return values


def passed_on(ctx, to):
    """The options ``to`` (``'step1'`` or ``'dask'``) receives from this run (``Option.step1``, ``Option.dask``).

    Raises
    ------
    KeyError
        An option declared as passed on that the context does not decide: the declaration
        (``config/options.py``) and :func:`context_values` disagree.
    """
    values, out = context_values(ctx), []
    for o in OPTIONS:
        if not getattr(o, to) or ORCHESTRATOR not in o.scripts:
            continue
        value = values[o.dest]
        if o.flag:
            out += [o.flag_name] if value else []
        elif value is not None:
            out += [o.flag_name, repr(value) if isinstance(value, float) else str(value)]
    return out
