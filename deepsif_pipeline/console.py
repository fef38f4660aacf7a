"""What the orchestrator prints: one line (or banner) at a time, also when regions run in parallel."""

import threading

RULE_REGION = "#" * 80
RULE_STEP = "=" * 80
OK, FAIL = "\u2713", "\u2717"

_PRINT = threading.Lock()


def say(text=""):
    """Print one line (or block) whole and flush it (a nohup log stays in order)."""
    with _PRINT:
        print(text, flush=True)


def banner(rule, title):
    """The seed's banners: a rule, the title (``# title`` for regions), a rule."""
    say("\n".join(["", rule, f"{rule[0]} {title}" if rule[0] == "#" else title, rule]))


def plural(n, word, words=None):
    """``'1 clip'``, ``'3 clips'``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def tail(path, n):
    """The last ``n`` lines of a text file (none when it cannot be read)."""
    from pathlib import Path
    try:
        return Path(path).read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []
