"""Running the work (floor 7): the plan (judged before anything runs), the one runner (claim, judge, run,
record, through the declared steps), where the regions run (here with lane workers, or as Dask tasks),
the run's progress, the disk guard and ``--verify``'s checks.
"""
