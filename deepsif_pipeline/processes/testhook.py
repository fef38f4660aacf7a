"""TEST-ONLY hook: hold the program at a named point until the test releases it.

The tests that interrupt, kill or cancel a run "during" something must not
guess how long that something lasts (step 2 of a ``tvb76`` region takes 0.2 s
on one machine, 3 s on another). They set two environment variables:

``DEEPSIF_TEST_HOLD``
    The point to hold at, ``POINT`` (any region) or ``POINT@REGION``.
``DEEPSIF_TEST_HOLD_DIR``
    A folder. At the point, the program writes ``POINT.reached`` there
    (its pid and region, one line) and waits until ``POINT.release`` exists,
    or until it is killed or stopped by a signal.

The named points (one place each):

``step1-piece-written``
    ``generate_tvb_data.py``, after each raw piece is written (the step-1 child).
``step2-started``
    ``matlab/process_region_nmm.m`` (through ``matlab/test_hold.m``), once the
    job is loaded, inside the Octave process.
``step4-started``
    ``deepsif_pipeline/steps/synthesise.py``, before the step-4 processes start.
``pack-row``
    ``deepsif_pipeline/steps/pack.py``, after the first clip row is written.

Unset (the only case outside the tests) it does nothing and costs one
environment lookup. It is not an option: users never need it.
"""

import os
from pathlib import Path
import time

POINT_VARIABLE = "DEEPSIF_TEST_HOLD"
DIR_VARIABLE = "DEEPSIF_TEST_HOLD_DIR"
POLL = 0.02  # seconds between looks for the release file


def wanted(point, region=None):
    """True when the environment asks to hold at ``point`` (for ``region``)."""
    asked = os.environ.get(POINT_VARIABLE, "")
    return bool(asked) and asked in (point, f"{point}@{region}") and bool(os.environ.get(DIR_VARIABLE))


def hold(point, region=None, stop=None):
    """At ``point``: when asked, write ``POINT.reached`` and wait for ``POINT.release``.

    ``stop`` (a ``threading.Event``) also ends the wait when set.
    """
    if not wanted(point, region):
        return
    folder = Path(os.environ[DIR_VARIABLE])
    reached, release = folder / f"{point}.reached", folder / f"{point}.release"
    tmp = folder / f".{point}.reached.{os.getpid()}"
    tmp.write_text(f"{os.getpid()} {'' if region is None else region}\n")
    tmp.replace(reached)
    while not release.exists() and not (stop is not None and stop.is_set()):
        time.sleep(POLL)
