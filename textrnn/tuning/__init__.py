"""Hyperparameter search (``textrnn tune``): a space file, samplers, median pruning, a resumable study.

- :mod:`.space`    reads and checks the search-space TOML and turns a trial's values into a config
- :mod:`.samplers` draws the study's list of trials up front (random or grid), so a resumed study is the same study
- :mod:`.pruning`  the median stopping rule
- :mod:`.study`    the study directory and its ``study.json``, written atomically
- :mod:`.runner`   runs trials as ``python -m textrnn.tuning.trial`` subprocesses, watches their evaluations, prunes
- :mod:`.trial`    what such a subprocess does: one ordinary training run in the trial's directory
- :mod:`.report`   leaderboard rows, ``best.toml`` and ``params.png``

The library never prints: the runner reports through a callback and the CLI renders it.
"""
