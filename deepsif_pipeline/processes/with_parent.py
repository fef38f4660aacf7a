"""``python with_parent.py PARENT_PID COMMAND...``: run COMMAND so that it dies with PARENT_PID.

Asks the kernel to send ``SIGKILL`` when the parent dies
(``prctl(PR_SET_PDEATHSIG)``, Linux; kept across ``exec``), checks that the
parent is still PARENT_PID (it may have died before the request), then
replaces itself with COMMAND. Elsewhere than Linux it only runs COMMAND.
Kept free of imports beyond the standard library: it starts in a few ms.
"""

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv):
    parent, command = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        import ctypes  # (only on Linux; this script starts in a few ms)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            return 137  # the parent is already gone: do not start anything
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"error: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
