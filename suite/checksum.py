"""Verified cache files: sha256 sums written with every cache entry, checked on every load.

A cache entry is a folder (a prepared model, a set of holdout Gram matrices, a pulled model).
Its writer builds it in a private temporary folder, records the sha256 of each file in
``SUMS`` (``sha256sum`` format) and publishes the folder with one rename, so a reader sees a
complete entry or none. A reader calls :func:`check_entry`: a missing, altered or extra-short
file is named in the answer, and the caller warns in one line and rebuilds the entry.

Hashing a large file that is read again and again (a base model's weights) is memoised in
:class:`HashMemo`, keyed on the file's path, size, modification and change times and inode:
any write through the file system changes the key, so the sum is computed again.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     tmp = staging(Path(root) / "entry")
    ...     _ = (tmp / "a.bin").write_bytes(b"abc")
    ...     seal(tmp)
    ...     final = Path(root) / "entry"
    ...     published = publish(tmp, final)
    ...     before = check_entry(final)
    ...     _ = (final / "a.bin").write_bytes(b"abd")  # same size, one byte changed
    ...     published, before, check_entry(final)
    (True, [], ['a.bin: sha256 differs from the one recorded'])
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

SUMS = "SHA256SUMS"
CHUNK = 1 << 22


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file through a temporary name in the same folder and one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def staging(final: Path) -> Path:
    """A new private folder beside ``final`` to build an entry in (see :func:`publish`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    return tmp


def seal(folder: Path) -> None:
    """Record the sha256 of every file of an entry folder in its ``SHA256SUMS``."""
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != SUMS)
    lines = [f"{sha256_file(folder / name)}  {name}\n" for name in names]
    (folder / SUMS).write_text("".join(lines), encoding="utf-8")


def recorded(folder: Path) -> dict[str, str] | None:
    """{file name: sha256} from an entry's ``SHA256SUMS``; None when absent or unreadable."""
    try:
        text = (folder / SUMS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    sums: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            return None
        sums[name] = digest
    return sums or None


def check_entry(folder: Path, memo: HashMemo | None = None) -> list[str]:
    """What is wrong with an entry folder (empty: every recorded file has its recorded sum).

    With a ``memo``, a file whose stat is unchanged since it was last hashed is not read again.
    """
    sums = recorded(folder)
    if sums is None:
        return [f"{SUMS} missing or unreadable"]
    problems = []
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif (memo.sha256(path) if memo else sha256_file(path)) != digest:
            problems.append(f"{name}: sha256 differs from the one recorded")
    return problems


def publish(tmp: Path, final: Path) -> bool:
    """Rename a built entry into place; False (and ``tmp`` removed) when another writer's
    entry got there first (its content is the same, as both were built from one key)."""
    try:
        os.rename(tmp, final)
        return True
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        return False


def discard(final: Path) -> None:
    """Move a bad entry out of the way (one rename) and delete it; readers never see half."""
    aside = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.bad")
    try:
        os.rename(final, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


class HashMemo:
    """sha256 of files, remembered in ``folder`` per (path, size, mtime, ctime, inode)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def sha256(self, path: Path) -> str:
        path = path.resolve()
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        memo = self.folder / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")
        try:
            known = json.loads(memo.read_text(encoding="utf-8"))
            if known["path"] == str(path) and known["stat"] == stamp:
                return str(known["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        digest = sha256_file(path)
        record = {"path": str(path), "stat": stamp, "sha256": digest}
        with contextlib.suppress(OSError):  # a read-only cache: right sums, only slower
            write_atomic(memo, json.dumps(record))
        return digest
