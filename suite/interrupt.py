"""Ctrl-C and SIGTERM as an exception, so a sweep can mark its runs FAILED on the way out.

Inside :func:`signals_raise`, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread
(a BaseException, so the runner's ``except Exception`` that records a failed run does not
swallow it); the runner marks every run it holds FAILED ("interrupted: SIGTERM") and re-raises,
and ``qbench run`` exits with 128 + the signal's number. The previous handlers come back on
exit. Outside the main thread (where Python cannot install handlers) it changes nothing. A
signal that arrives while a finalizer (``__del__``) runs, where a raised exception would be
dropped, is sent again once the finalizer has returned.

    >>> import os, signal
    >>> with signals_raise():
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...     except Interrupted as err:
    ...         print(err.name, err.exit_code)
    SIGTERM 143
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(BaseException):
    """The process got SIGINT or SIGTERM; ``failed`` counts the runs marked FAILED for it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.failed = 0
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if frame is not None and frame.f_code.co_name == "__del__":
            # an exception raised in a finalizer is printed and dropped ("Exception ignored
            # in ..."): send the signal again a moment later, when the finalizer has returned
            threading.Timer(0.01, signal.raise_signal, (signum,)).start()
            return
        raise Interrupted(signum)

    before = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block has run, then act as they would have (e.g.
    while a run is created and registered as held, so that no run is left half-claimed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def note(signum, frame):
        got.append(signum)

    before = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)
        if got:
            signal.raise_signal(got[0])


@contextmanager
def signals_noted() -> Iterator[list[int]]:
    """SIGINT and SIGTERM are only noted, in the list the block gets, for a loop that checks it
    between steps and raises :class:`Interrupted` itself: a handler that raised inside a call
    into extension code (Ray's ``wait``) would come out as a SystemError."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def note(signum, frame):
        got.append(signum)

    before = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in before.items():
            signal.signal(s, h)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored while the block runs (e.g. while runs are marked FAILED)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)
