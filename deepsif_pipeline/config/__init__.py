"""The options and settings (floor 5): every command-line option declared once (``options``), and what
derives from the declarations: the parsers (``parser``), ``Settings`` and the fingerprints' settings
(``settings``), the suggested commands and the arguments passed on to step 1 and to Dask tasks
(``commands``).
"""
