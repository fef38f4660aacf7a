"""The stored files (floor 2): where every file of an output folder lives and how it is written.

``layout`` (every path), ``files`` (complete or absent: temporary name, flush, rename), ``fingerprint``
(what made a file, compared before it is reused), ``manifest`` (``dataset.json``), ``claims`` (which run
makes which unit, across machines) and ``runlog`` (``logs/runs.log``). They import nothing above them:
``layout`` and ``files`` nothing of the project at all.
"""
