"""Where qbench keeps what it fetches and computes: the cache folder.

Built-in models, the ``real`` data source, calibration Grams and prepared models live under
one folder: the ``--cache-dir`` flag, else ``$QBENCH_CACHE``, else ``~/.cache/qbench``. This
module imports nothing of qbench, so the tasks and the harness can both ask it.

    >>> cache_dir_path("/tmp/c")
    PosixPath('/tmp/c')
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "QBENCH_CACHE"
DEFAULT_CACHE = "~/.cache/qbench"


def cache_dir_path(value: str | Path | None) -> Path:
    """The cache folder: the flag, else ``$QBENCH_CACHE``, else ``~/.cache/qbench``."""
    return Path(value or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()
