"""The flags of ``qbench run`` that choose the executor, checked before anything is written.

``--executor local`` (the default) runs the sweep in this process; ``--executor ray`` runs it on
a Ray cluster: the one at ``--ray-address HOST:PORT`` (or ``auto``), else one started on this
machine. ``--retries N`` (Ray only, default 1) resubmits a task whose worker died up to N times.
With Ray every task records to the tracking store itself, so the store must be an MLflow server
(a sqlite file is refused), ray must be installed (``pip install -e '.[ray]'``), and a given
address must accept connections. Each problem is one line naming the value and what is allowed.

    >>> executor_options(None, None, None, None) is None  # local
    True
    >>> executor_options("local", "10.0.0.1:6379", None, None)
    Traceback (most recent call last):
    suite.spec.SpecError: --ray-address '10.0.0.1:6379' is only used with --executor ray; ...
    >>> parse_address("head:6379"), parse_address("auto")
    (('head', 6379), None)
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from suite import contract
from suite.spec import SpecError, whole_number

EXECUTORS = ("local", "ray")
DEFAULT_RETRIES = 1
MAX_RETRIES = 100
SERVER_HINT = "mlflow server --backend-store-uri sqlite:///mlflow.db --host 0.0.0.0 --port 5000"
ADDRESS_ALLOWED = (
    "allowed: HOST:PORT of a running Ray head (`ray start --head` prints it), auto, or no "
    "--ray-address to start a cluster on this machine"
)


@dataclass(frozen=True)
class RayOptions:
    """How to reach the cluster (None: start one here) and how often to resubmit a task whose
    worker died."""

    address: str | None = None
    retries: int = DEFAULT_RETRIES


def executor_options(
    executor: str | None,
    ray_address: str | None,
    retries: str | None,
    tracking_uri: str | None,
) -> RayOptions | None:
    """None for the local executor; RayOptions for Ray, after every check (see module docs)."""
    executor = "local" if executor is None else executor
    if executor not in EXECUTORS:
        raise SpecError(f"executor '{executor}' is not allowed; allowed: {', '.join(EXECUTORS)}")
    if executor == "local":
        for flag, value in (("--ray-address", ray_address), ("--retries", retries)):
            if value is not None:
                raise SpecError(
                    f"{flag} '{value}' is only used with --executor ray; allowed: add "
                    f"--executor ray, or leave {flag} out"
                )
        return None
    count = _retries(retries)
    check_server_uri(contract.resolve_uri(tracking_uri))
    import_ray()
    if ray_address is not None:
        check_reachable(ray_address)
    return RayOptions(ray_address, count)


def _retries(value: str | None) -> int:
    if value is None:
        return DEFAULT_RETRIES
    return whole_number("--retries", value, 0, MAX_RETRIES)


def check_server_uri(uri: str) -> None:
    """Ray tasks on every node record to the store: it must be an MLflow tracking server."""
    if not uri.startswith(("http://", "https://")):
        raise SpecError(
            f"tracking store '{uri}' cannot be used with --executor ray: every Ray task records "
            "its run itself, so the store must be an MLflow tracking server that every node "
            f"reaches; allowed: --tracking-uri http://HOST:PORT of a running server (e.g. "
            f"{SERVER_HINT})"
        )


def import_ray() -> Any:
    """The ray module; SpecError (one line) where it is not installed."""
    try:
        import ray
    except ImportError:
        raise SpecError(
            "--executor ray needs the ray package, which is not installed; allowed: "
            "--executor local, or install the extra: pip install -e '.[ray]'"
        ) from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT``; None for ``auto``; SpecError otherwise."""
    if address == "auto":
        return None
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not re.fullmatch(r"[0-9]+", port) or not 0 < int(port) < 65536:
        raise SpecError(f"--ray-address '{address}' is not allowed; {ADDRESS_ALLOWED}")
    return host, int(port)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """SpecError (one line) unless the address is ``auto`` or accepts a TCP connection."""
    parsed = parse_address(address)
    if parsed is None:
        return
    try:
        with socket.create_connection(parsed, timeout=timeout_s):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SpecError(
            f"Ray cluster at --ray-address '{address}' is unreachable ({reason}); {ADDRESS_ALLOWED}"
        ) from None
