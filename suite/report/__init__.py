"""Reporting side of qbench: leaderboards, baselines and regression gates over the MLflow store.

Modules: ``store`` (runs -> plain records), ``metrics`` (directions, formatting), ``tables``
(sections and method x bits tables), ``markdown`` / ``html`` / ``plots`` (rendering),
``leaderboard`` (the whole report in memory), ``export`` (baseline snapshots), ``compare``
(regression gates) and ``commands`` (the click commands).  Nothing here imports torch.

Example::

    from suite.report.commands import compare, export, report
    main_group.add_command(report)
"""
