"""What the orchestrator prints: one line (or banner) at a time, also when regions run in parallel.

On a terminal, a run-level progress bar may stay on the last line
(:func:`set_footer`): every line printed with :func:`say` goes above it and
the bar is drawn again below. Without a footer (a pipe, ``nohup``), lines
are printed as they are, with no carriage return.
"""

from pathlib import Path
import sys
import threading

RULE_REGION = "#" * 80
RULE_STEP = "=" * 80
OK, FAIL, EMPTY = "\u2713", "\u2717", "\u25cb"  # done, failed, done with nothing made (a region with no clip)
CLEAR_LINE = "\r\x1b[K"

_PRINT = threading.Lock()
_footer = {"text": None}


def say(text=""):
    """Print one line (or block) whole and flush it (a nohup log stays in order)."""
    with _PRINT:
        footer = _footer["text"]
        if footer is not None:
            sys.stdout.write(CLEAR_LINE)
        print(text, flush=True)
        if footer is not None:
            sys.stdout.write(footer)
            sys.stdout.flush()


def set_footer(text):
    """Draw ``text`` in place on the last line of a terminal (None: remove it, leaving the line empty)."""
    with _PRINT:
        if text is None and _footer["text"] is None:
            return
        sys.stdout.write(CLEAR_LINE + (text or ""))
        sys.stdout.flush()
        _footer["text"] = text


def banner(rule, title):
    """The seed's banners: a rule, the title (``# title`` for regions), a rule."""
    say("\n".join(["", rule, f"{rule[0]} {title}" if rule[0] == "#" else title, rule]))


def plural(n, word, words=None):
    """``'1 clip'``, ``'3 clips'``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def tail(path, n):
    """The last ``n`` lines of a text file (none when it cannot be read)."""
    try:
        return Path(path).read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []
