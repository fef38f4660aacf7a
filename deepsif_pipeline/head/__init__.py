"""The head model (floor 4): the template and the lead field a run uses.

``anatomy`` (a template folder in DeepSIF's layout, checked; its frame; identities by content),
``builtin`` (the built-in ``tvb76``, built from tvb-data), ``recipe`` (DeepSIF's recipe from vertex
gains to a region lead field) and ``leadfields`` (the providers of a
run's lead field: the template's file, sensors on a sphere or a BEM, a forward solution).
"""
