"""Checks that a folder or file qbench is about to write can be written, before anything is.

``qbench run`` checks its store and cache folders, ``qbench report`` and ``export`` their output,
so a bad path is one line and exit 2 instead of a traceback halfway through. A path that does not
exist yet is judged by its nearest existing parent (the folders are created on first use). Write
permission is read from the mode bits as well as ``os.access``: for root ``os.access`` always says
yes, but a file or folder marked read-only (``chmod a-w``) is meant to stay as it is.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     check_dir(Path(tmp) / "new" / "folder", "output folder")  # creatable
    ...     (Path(tmp) / "f").write_text("x")
    ...     check_dir(Path(tmp) / "f" / "sub", "output folder")
    Traceback (most recent call last):
    suite.spec.SpecError: output folder .../f/sub cannot be written: .../f is a file; allowed: ...
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from suite.spec import SpecError


def writable(path: Path) -> bool:
    """Whether ``path`` (which exists) may be written: permitted, and not marked read-only."""
    if not os.access(path, os.W_OK):
        return False
    return os.geteuid() != 0 or bool(path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP))


def _blocker(folder: Path) -> str | None:
    """Why ``folder`` cannot be (created and) written, or None."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{probe} is a file"
    if not writable(probe):
        return f"{probe} is read-only"
    return None


def check_dir(path: Path, what: str) -> None:
    """SpecError (one line) unless ``path`` is, or can be created as, a writable folder."""
    why = _blocker(path)
    if why:
        raise SpecError(f"{what} {path} cannot be written: {why}; allowed: a writable folder")


def check_file(path: Path, what: str) -> None:
    """SpecError (one line) unless ``path`` can be written: a writable file, or a new file in a
    folder that is (or can be created) writable."""
    why = "it is a folder" if path.is_dir() else _blocker(path.parent)
    if why is None and path.exists() and not writable(path):
        why = "it is read-only"
    if why:
        raise SpecError(f"{what} {path} cannot be written: {why}; allowed: a writable file")
