"""Support modules of the DeepSIF data-generation pipeline.

The two entry points stay at the top level (``pipeline_orchestrator.py``
and ``generate_tvb_data.py``); this package holds what both need: the
parameters of step 1, the template (anatomy) checks, the output layout
and the MATLAB/Octave runner.
"""

__version__ = "0.2.0"  # 0.2.0: outputs carry the fingerprint of their settings
