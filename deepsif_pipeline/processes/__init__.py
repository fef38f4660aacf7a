"""Child processes (floor 3): how a step's process is started, limited in time, stopped and made to die with
the run.

``children`` (every child: time limits, signals, death with the parent, through ``with_parent``),
``engine`` (MATLAB or GNU Octave running a ``matlab/`` function from a job file) and ``testhook``
(test-only hold points).
"""
