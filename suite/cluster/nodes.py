"""Connecting to the Ray cluster and checking, before any run, that its nodes can serve.

:func:`connect` joins the cluster at an address or starts one on this machine (no dashboard,
Ray's own log lines kept to errors, workers' output left in Ray's log files).
:func:`cluster_device` turns ``--device`` into the device every task runs on: ``cuda`` where the
cluster has GPUs (each task then asks for one), else ``cpu``. :func:`check_nodes` writes a marker
file into the cache folder and runs a task on every node that must read it, write beside it and
reach the tracking server: a cache folder that is not shared (a node-local path) or a server
address that only the driver's machine resolves is one line and exit 2 before any run starts.

    >>> resources("cuda"), resources("cpu")
    ({'num_cpus': 1, 'num_gpus': 1}, {'num_cpus': 1, 'num_gpus': 0})
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from suite.cluster.options import ADDRESS_ALLOWED, SERVER_HINT
from suite.cluster.work import check_node
from suite.spec import SpecError

CHECK_TIMEOUT_S = 300.0


def resources(device: str) -> dict[str, int]:
    """What each prepare and run task asks for: one CPU, and one GPU on a GPU cluster."""
    return {"num_cpus": 1, "num_gpus": 1 if device == "cuda" else 0}


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address`` (``HOST:PORT`` or ``auto``), or start one here."""
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address is None:  # "local": a new cluster, never $RAY_ADDRESS or a running one
            ray.init(address="local", include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        where = f"at --ray-address '{address}'" if address else "on this machine"
        raise SpecError(
            f"cannot start or join a Ray cluster {where} ({first}); {ADDRESS_ALLOWED}"
        ) from None


def cluster_device(ray: Any, requested: str) -> str:
    """``cuda`` or ``cpu``: where every task of the sweep runs (see the module docs)."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if requested == "cpu" or (requested == "auto" and gpus == 0):
        return "cpu"
    if gpus == 0:
        raise SpecError(
            f"device '{requested}' is not available: the Ray cluster has no GPU; allowed: auto, cpu"
        )
    return "cuda"


def check_nodes(ray: Any, cache: Path, uri: str) -> None:
    """SpecError (one line) unless every alive node sees the cache folder the driver writes in
    and reaches the tracking server. The marker (and a cache folder made for it) is removed."""
    made = [p for p in (cache, *cache.parents) if not p.exists()]
    cache.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    marker = cache / f".qbench-shared-{token[:12]}"
    try:
        marker.write_text(token, encoding="utf-8")
        answers = _ask_every_node(ray, str(marker), token, uri)
    finally:
        marker.unlink(missing_ok=True)
        for folder in made:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break
    for host, what, problem in answers:
        if what == "cache":
            raise SpecError(
                f"cache folder {cache} is not shared with every Ray node: node {host} {problem}; "
                "allowed: a folder every node sees at the same path (e.g. an NFS mount), given "
                "by --cache-dir or $QBENCH_CACHE"
            )
        if what == "server":
            raise SpecError(
                f"Ray node {host} cannot use the tracking store: {problem.split('; allowed')[0]}; "
                f"allowed: an MLflow server every node reaches (e.g. {SERVER_HINT})"
            )


def _ask_every_node(ray: Any, marker: str, token: str, uri: str) -> list[tuple[str, str, str]]:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    check = ray.remote(num_cpus=0, max_retries=0)(check_node)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [
        check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(marker, token, uri)
        for n in nodes
    ]
    try:
        return ray.get(refs, timeout=CHECK_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        raise SpecError(
            f"the Ray cluster's nodes did not answer the start-up check within "
            f"{CHECK_TIMEOUT_S:.0f} s; allowed: a cluster whose nodes can start a task"
        ) from None
