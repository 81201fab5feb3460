"""The Ray executor of ``qbench run --executor ray``: a sweep's runs as tasks on a Ray cluster.

The driver (:mod:`suite.cluster.driver`) expands the sweep and skips finished run keys as the
local executor does (:func:`suite.runner.to_run`), then submits one prepare task per prepare key
and one train+evaluate task per run, the latter depending on its prepare task's result
(:mod:`suite.cluster.work`). Every task records to the tracking server itself and claims its run
key there (:mod:`suite.claims`), so a key is FINISHED at most once whichever drivers and workers
take part. :mod:`suite.cluster.options` checks the flags before anything is written,
:mod:`suite.cluster.nodes` connects and checks that every node sees the cache folder and the
tracking server, and :mod:`suite.cluster.display` shows one line per run and a summary bar.

Nothing here is imported by the local executor, and ray itself is imported only when
``--executor ray`` is given: by the driver, the checks, and a stopped task asking why.
"""
