"""The DeepSIF data-generation pipeline, behind its two scripts (``pipeline_orchestrator.py`` and
``generate_tvb_data.py`` at the top level).

Subpackages by concern, on floors: a module imports from its own floor and the ones below it
(``docs/architecture.md`` has the map, ``tests/test_architecture.py`` holds it).

0. ``console`` (what is printed), ``results`` (values: Status, Result, State, Verdict)
1. ``science``: the method's parameters (``science.json``), seeds, the fast engine
2. ``store``: the stored files: layout, atomic files, fingerprints, manifest, claims, run log
3. ``processes``: child processes, MATLAB/Octave, test-only hold points
4. ``head``: the template and the lead field a run uses (its providers)
5. ``config``: every option declared once; settings; suggested commands
6. ``steps``: the steps behind one interface, in order
7. ``run``: the plan, the runner, lane workers, Dask, progress, ``--verify``'s checks
8. ``cli``: the command line's checks, the modes that run nothing, what a run prints
"""

__version__ = "0.2.0"  # 0.2.0: outputs carry the fingerprint of their settings
