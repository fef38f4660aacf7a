"""Where the tests and benches find DeepSIF's 994-region template (it is never part of the repository).

One setting, in this order:

1. the pytest option ``--deepsif-anatomy DIR`` (tests only);
2. the environment variable ``DEEPSIF_ANATOMY=DIR``;
3. ``../shared/anatomy/deepsif`` beside the repository, when present.

``DIR`` is DeepSIF's ``anatomy/`` folder (it holds ``connectivity_998.zip``).
Tests that need the template are skipped, with a one-line reason saying how
to provide it, when it is not found in the default place; they fail when it
was named (option or variable) but is not there, or when
``DEEPSIF_REQUIRE_ANATOMY=1`` (``.ci/run``: CI never skips them silently).
"""

from dataclasses import dataclass
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = "DEEPSIF_ANATOMY"
REQUIRE_ENV = "DEEPSIF_REQUIRE_ANATOMY"
OPTION = "--deepsif-anatomy"
SIGN = "connectivity_998.zip"  # a folder holding it is DeepSIF's template
HOW = (f"set {ENV}=DIR or pass {OPTION} DIR to pytest, DIR being DeepSIF's anatomy/ folder "
       "(README: Set up and run the tests)")


@dataclass(frozen=True)
class Location:
    """Where the template is looked for.

    Attributes
    ----------
    folder : Path
    named_by : str or None
        ``--deepsif-anatomy`` or ``DEEPSIF_ANATOMY`` when the user named the
        folder; None for the default place.
    """

    folder: Path
    named_by: str = None


def default_folder(repo=REPO):
    """``../shared/anatomy/deepsif`` beside the repository ``repo``."""
    return Path(repo).resolve().parent / "shared" / "anatomy" / "deepsif"


def locate(option=None, environ=None, repo=REPO):
    """The folder to use: ``option``, else ``$DEEPSIF_ANATOMY``, else the default place.

    Parameters
    ----------
    option : str or Path or None
        The pytest option's value.
    environ : mapping, optional
        The environment (``os.environ`` by default).
    repo : Path
        The repository whose neighbour holds the default place.

    Returns
    -------
    Location
    """
    environ = os.environ if environ is None else environ
    if option:
        return Location(Path(option).expanduser().resolve(), OPTION)
    if environ.get(ENV):
        return Location(Path(environ[ENV]).expanduser().resolve(), ENV)
    return Location(default_folder(repo))


def required(environ=None):
    """True when a missing template must fail the tests that need it (``DEEPSIF_REQUIRE_ANATOMY=1``)."""
    environ = os.environ if environ is None else environ
    return environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def missing(location):
    """Why the template cannot be used from ``location`` (one line, with how to provide it), or None."""
    if (location.folder / SIGN).is_file():
        return None
    where = (f"{location.named_by} names {location.folder}, which has no {SIGN}" if location.named_by
             else f"DeepSIF's 994-region template is not in {location.folder} (the default place)")
    return f"{where}: {HOW}"


def must_fail(location, environ=None):
    """True when a missing template is a failure, not a skip: the user named a folder, or asked to require it."""
    return location.named_by is not None or required(environ)
