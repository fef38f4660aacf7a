"""The parsers of both scripts, built from the declared options (``config/options.py``).

Every value is checked by argparse itself (the options' ``type=``), so a bad
one stops the script with one line, ``error: ...``, and exit status 2, before
anything is created (:class:`OneLineParser`).
"""

import argparse
import sys

from deepsif_pipeline.config.options import GROUPS, ORCHESTRATOR, STEP1, of_script

DESCRIPTIONS = {
    ORCHESTRATOR: "DeepSIF data generation: for each region start..end-1 simulate (TVB), extract spikes "
                  "(MATLAB/Octave) and delete the raw data; then generate the synthetic source file.",
    STEP1: "Step 1 of the DeepSIF pipeline: simulate source regions a_start..a_end-1 (tvb-library or the fast "
           "engine) into OUTPUT/raw_nmm/a{region}/, three mean iterations each. It extracts no clip and deletes "
           "nothing: pipeline_orchestrator.py runs every step.",
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (``error: ...``) and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"error: {message} (see --help)\n")
        sys.exit(2)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is None or the help already says it."""

    def _get_help_string(self, action):
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser(script=ORCHESTRATOR):
    """The parser of ``script`` (``pipeline_orchestrator.py`` or ``generate_tvb_data.py``).

    Settings that a folder's manifest may give (``Option.from_folder``)
    default to None, so that a command can tell the ones given on the
    command line from the others; ``Settings.from_args`` fills in the
    defaults, shown in their help.
    """
    p = OneLineParser(description=DESCRIPTIONS[script], formatter_class=HelpFormatter)
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for o in of_script(script):
        text = o.help if script == ORCHESTRATOR or o.step1_help is None else o.step1_help
        if o.hidden:
            text = argparse.SUPPRESS
        elif o.from_folder and text != argparse.SUPPRESS and "(default" not in text:
            text = f"{text} (default: {o.default})"
        kwargs = {"help": text, "dest": o.dest}
        if o.flag:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(default=None if o.from_folder else o.default, type=o.type, choices=o.choices,
                          metavar=o.metavar, nargs=o.nargs)
        groups[o.group].add_argument(*o.flags, **kwargs)
    return p
