"""The command line (floor 8): the checks that turn parsed options into a command, the modes that run
nothing (``--status``, ``--dry-run``, ``--verify``, the QC figure) and what a run prints around its
regions (the header, the summary, what to run next). ``pipeline_orchestrator.py`` tells the story.
"""
