"""Fixtures for the report tests: fake tracking stores written with ``mlflow.MlflowClient``.

A migrated empty sqlite store is made once per session and copied for each store, so building a
store costs only its runs.  ``FakeStore.add_run`` writes one run the way ``qbench run`` does: the
contract's tags, flattened-spec params, metrics (``train/loss`` by step) and the ``spec.json``,
``predictions/<task>.jsonl`` and ``init_layers.json`` artifacts.

Example::

    def test_something(fake_store):
        store = fake_store()
        store.add_run("cloq", 2, seed=0, metrics={"eval/wikitext2/ppl": 12.0})
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

BASE_PPL = {"qlora": 20.0, "loftq": 17.0, "cloq": 15.0, "gptq-lora": 18.0, "lora16": 11.0}
BASE_ACC = {"qlora": 0.20, "loftq": 0.24, "cloq": 0.27, "gptq-lora": 0.22, "lora16": 0.33}
PROTOCOLS = {"wikitext2": "ppl-test-2048", "gsm8k": "zero-shot-greedy-256", "commonsense": "gen-em"}
T0_MS = int(time.time() * 1000) - 6 * 3600 * 1000  # six hours ago


def default_metrics(method: str, bits: float, seed: int, task: str) -> dict[str, float]:
    """Plausible metrics for a run: quality improves with bits, memory grows with bits."""
    lowbit = max(0.0, 4 - bits)
    dense = method == "lora16"
    out: dict[str, float] = {}
    if task == "wikitext2":
        out["eval/wikitext2/ppl"] = BASE_PPL.get(method, 19.0) * (1 + 0.3 * lowbit) + 0.25 * seed
    elif task == "gsm8k":
        out["eval/gsm8k/acc"] = BASE_ACC.get(method, 0.2) - 0.03 * lowbit + 0.01 * seed
    else:
        out[f"eval/{task}/acc_mean"] = 0.5 + 0.01 * seed
        out[f"eval/{task}/boolq/acc"] = 0.6
    out.update(
        {
            "init/weight_err": 0.0
            if dense
            else 0.05 * (1 + lowbit) * (0.6 if method != "qlora" else 1),
            "init/calib_err": 0.0
            if dense
            else 0.04 * (1 + lowbit) * (0.5 if method == "cloq" else 1),
            "quant/effective_bits": 16.0 if dense else bits + 0.25,
            **({} if dense else {"quant/budget_bits": bits + (16 + bits) / 64}),
            "quant/base_bytes": 1.0e6 * (16 if dense else bits),
            "lora/adapter_bytes": 2.0e5,
            "prepare/wall_s": {"qlora": 2.0, "loftq": 9.0, "cloq": 30.0}.get(method, 5.0)
            * bits
            / 2,
            "train/wall_s": 60.0,
            "eval/wall_s": 10.0,
            "prepare/peak_mem_bytes": 3.0e8,
            "train/peak_mem_bytes": 2.0e8 + 4.0e7 * (16 if dense else bits),
            "eval/peak_mem_bytes": 1.5e8,
            "train/tokens_per_s": 900.0 - 10 * bits,
            "eval/tokens_per_s": 2500.0,
        }
    )
    return out


class FakeStore:
    """A sqlite tracking store in a temp dir, filled the way ``qbench run`` fills it."""

    def __init__(self, root: Path, template: Path) -> None:
        from mlflow import MlflowClient

        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.db = root / "mlflow.db"
        if not self.db.exists():
            shutil.copy(template, self.db)
        self.uri = f"sqlite:///{self.db}"
        self.client = MlflowClient(tracking_uri=self.uri)
        self.clock = T0_MS
        self.run_ids: list[str] = []

    def experiment_id(self, name: str = "qbench") -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        return self.client.create_experiment(name, artifact_location=str(self.root / "art" / name))

    def add_run(
        self,
        method: str,
        bits: float | str,
        seed: int = 0,
        task: str = "wikitext2",
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        status: str = "FINISHED",
        experiment: str = "qbench",
        init_layers: bool = True,
        start_ms: int | None = None,
        losses: tuple[float, ...] = (3.0, 2.5, 2.1),
        drop_metrics: tuple[str, ...] = (),
    ) -> str:
        from mlflow.entities import Metric, Param, RunTag

        bits_s = f"{float(bits):g}"
        b = float(bits_s)
        dense = method == "lora16"
        t = {
            "method": method,
            "model": "smollm2-135m",
            "bits": bits_s,
            "group_size": "64",
            "rank": "64",
            "task": task,
            "protocol": PROTOCOLS.get(task, "default"),
            "task_version": "1",
            "data_source": "sample",
            "profile": "quick",
            "storage": "dense" if dense else "packed",
            "device": "cpu",
            "qbench_version": "0.1.0",
            "git_sha": "0123456789abcdef",
            "seed": str(seed),
            "quantizer": "none" if dense else ("gptq" if method in ("cloq", "gptq-lora") else "nf"),
        }
        t.update(tags or {})
        ident = {k: t[k] for k in sorted(t) if k not in ("git_sha", "qbench_version", "device")}
        t.setdefault("run_key", hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16])
        spec = {
            "method": {"name": method, **({"loftq": {"iters": 1}} if method == "loftq" else {})},
            "budget": {"bits": b, "group_size": 64, "rank": int(t["rank"])},
            "train": {"lr": 2e-4, "steps": len(losses)},
            "calib": {"n_windows": 8, "seed": seed},
            "task": task,
            "seed": seed,
        }
        params = {
            "budget.bits": bits_s,
            "budget.rank": t["rank"],
            "budget.group_size": t["group_size"],
            "train.lr": "0.0002",
            "calib.n_windows": "8",
            "calib.seed": str(seed),
            "seed": str(seed),
        }
        if method == "loftq":
            params["method.loftq.iters"] = "1"
        values = default_metrics(method, b, seed, task)
        values.update(metrics or {})
        for name in drop_metrics:
            values.pop(name, None)
        if start_ms is None:
            self.clock += 1000
            start_ms = self.clock
        run = self.client.create_run(
            self.experiment_id(experiment),
            start_time=start_ms,
            run_name=f"{method}-b{bits_s}-r{t['rank']}-{task}-s{seed}",
        )
        rid = run.info.run_id
        ms = [Metric(k, float(v), start_ms + 500, 0) for k, v in values.items()]
        ms += [Metric("train/loss", v, start_ms + 100 + i, i) for i, v in enumerate(losses)]
        self.client.log_batch(
            rid,
            metrics=ms,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in t.items()],
        )
        self.client.log_text(rid, json.dumps(spec), "spec.json")
        self.client.log_text(
            rid, '{"id": 0, "pred": "x", "ok": true}\n', f"predictions/{task}.jsonl"
        )
        if init_layers and not dense and "init/weight_err" in values:
            rows = [
                {
                    "layer": f"model.layers.{i // 7}.{m}",
                    "weight_err": values["init/weight_err"] * (0.8 + 0.03 * i),
                    "calib_err": values["init/calib_err"] * (0.7 + 0.05 * i)
                    if "init/calib_err" in values
                    else None,
                    "effective_bits": values["quant/effective_bits"],
                }
                for i, m in enumerate(
                    ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
                    * 2
                )
            ]
            self.client.log_text(rid, json.dumps(rows), "init_layers.json")
        if status != "RUNNING":
            self.client.set_terminated(rid, status=status, end_time=start_ms + 900)
        self.run_ids.append(rid)
        return rid


def pytest_configure(config: pytest.Config) -> None:
    # MLflow's sqlite store trips a SQLAlchemy deprecation warning of its own; not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore::sqlalchemy.exc.SADeprecationWarning")


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the test stores live: a RAM-backed directory when the machine has one (sqlite
    commits there skip the disk sync, which halves the time to write runs), else pytest's tmp."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        root = Path(tempfile.mkdtemp(prefix="qbench-report-tests-", dir=shm))
        yield root
        shutil.rmtree(root, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("stores")


@pytest.fixture(scope="session")
def template_db(store_root: Path) -> Path:
    """An empty, migrated MLflow sqlite database (made once; copying it is cheap)."""
    from mlflow import MlflowClient

    path = store_root / "template" / "mlflow.db"
    path.parent.mkdir()
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def store_factory(store_root: Path, template_db: Path) -> Callable[[], FakeStore]:
    """Factory for empty stores (each in a fresh directory), usable from any fixture scope."""

    def make() -> FakeStore:
        return FakeStore(Path(tempfile.mkdtemp(prefix="store-", dir=store_root)), template_db)

    return make


@pytest.fixture
def fake_store(store_factory: Callable[[], FakeStore]) -> Callable[[], FakeStore]:
    """The store factory, for a single test."""
    return store_factory


STANDARD_METHODS = ("qlora", "loftq", "cloq", "lora16")
STANDARD_BITS = (2, 4)
STANDARD_SEEDS = (0, 1, 2)


@pytest.fixture(scope="session")
def standard_store(store_root: Path, template_db: Path) -> FakeStore:
    """A shared read-only store: 4 methods x 2 bits x 3 seeds on wikitext2 (default metrics),
    gsm8k seed 0 for qlora and cloq, plus one FAILED and one RUNNING run and one older duplicate
    of a run key (whose metrics are absurd, so using it would show)."""
    store = FakeStore(store_root / "standard", template_db)
    dup_key = None
    for method in STANDARD_METHODS:
        for bits in STANDARD_BITS:
            for seed in STANDARD_SEEDS:
                if (method, bits, seed) == ("cloq", 2, 0):
                    dup_key = "dupkey-cloq-2-0"
                    store.add_run(
                        method,
                        bits,
                        seed,
                        tags={"run_key": dup_key},
                        metrics={"eval/wikitext2/ppl": 999.0},
                    )
                    store.add_run(method, bits, seed, tags={"run_key": dup_key})
                else:
                    store.add_run(method, bits, seed)
    for method in ("qlora", "cloq"):
        for bits in STANDARD_BITS:
            store.add_run(method, bits, 0, task="gsm8k")
    store.add_run("loftq", 3, 0, status="FAILED", metrics={"eval/wikitext2/ppl": 1.0})
    store.add_run("cloq", 3, 0, status="RUNNING", metrics={"eval/wikitext2/ppl": 1.0})
    return store


@pytest.fixture(scope="session")
def standard_report(standard_store: FakeStore, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`qbench report` on the standard store, run once: (click Result, Markdown, HTML)."""
    from click.testing import CliRunner

    from suite.report.commands import report

    out = tmp_path_factory.mktemp("standard_report")
    res = CliRunner().invoke(report, ["--tracking-uri", standard_store.uri, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return res, (out / "leaderboard.md").read_text(), (out / "leaderboard.html").read_text()


@pytest.fixture
def cli() -> Callable[[Any, list[str]], Any]:
    """Invoke a click command in-process (stdout and stderr kept apart) and return the Result."""
    from click.testing import CliRunner

    def invoke(command: Any, args: list[str]) -> Any:
        return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)

    return invoke
