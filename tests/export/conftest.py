"""Finished runs to take out of qbench: qlora 4-bit (native and bitsandbytes backends) and
cloq 2-bit on ``synthetic:tiny``.

Made once per session (a few seconds: rank 8, four training steps at a learning rate that
moves the adapters well away from their start, two evaluation windows), in a temporary
tracking store and cache. ``TinyRuns.cli(...)`` invokes the ``qbench`` command in-process with
that store and cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

TINY = [
    "train.steps=4",
    "train.seq_len=64",
    "train.batch_size=2",
    "train.lr=0.02",
    "train.warmup_ratio=0",
    "eval.seq_len=128",
    "eval.max_windows=2",
    "calib.n_windows=8",
    "calib.seq_len=64",
    "calib.holdout_windows=2",
]


# label -> (method, bits, extra settings); qlora-bnb: bitsandbytes' Linear4bit as the base,
# which the prepared-model cache does not hold, so exporting it prepares it again. The native
# qlora run rounds its double quantization as bitsandbytes' CPU kernel does, so both hold the
# same absmax codes on this CPU
RUNS = {
    "qlora": ("qlora", "4", ["quant.nf.dq_rounding=bnb-cpu"]),
    "cloq": ("cloq", "2", []),
    "qlora-bnb": ("qlora", "4", ["method.qlora.backend=bnb"]),
}


@dataclass
class TinyRuns:
    uri: str
    cache: Path
    ids: dict[str, str] = field(default_factory=dict)  # label (RUNS) -> run id

    def cli(self, *args: object, store: bool = True):
        from click.testing import CliRunner

        from suite.cli import cli

        extra = ["--tracking-uri", self.uri, "--cache-dir", str(self.cache)] if store else []
        return CliRunner().invoke(cli, [str(a) for a in args] + extra)

    def model(self, label: str, stage: str = "trained"):
        """qbench's own model of the run, as ``qbench export-model`` rebuilds it."""
        from suite.export.run_model import find_run, load_run_model

        ref = find_run(self.ids[label], self.uri)
        return load_run_model(ref, stage, self.cache, "cpu", say=lambda *_: None)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> TinyRuns:
    import torch
    from mlflow import MlflowClient

    from suite.runner import Settings, run_sweep
    from suite.sweep import build_sweep
    from suite.tracking import Tracker

    root = tmp_path_factory.mktemp("tiny-runs")
    runs = TinyRuns(f"sqlite:///{root / 'mlflow.db'}", root / "cache")
    tracker = Tracker.connect(runs.uri, "qbench")
    settings = Settings(cache=runs.cache, device="cpu", progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method, bits, extra in RUNS.values():
            sweep = build_sweep(
                models="synthetic:tiny",
                methods=method,
                bits=bits,
                ranks="8",
                data="sample",
                sets=TINY + extra,
            )
            summary = run_sweep(sweep, tracker, settings)
            assert len(summary.finished) == 1, summary
    finally:
        torch.set_num_threads(threads)
    client = MlflowClient(runs.uri)
    exp = client.get_experiment_by_name("qbench").experiment_id
    for run in client.search_runs([exp]):
        bnb = run.data.params.get("method.qlora.backend") == "bnb"
        runs.ids[run.data.tags["method"] + ("-bnb" if bnb else "")] = run.info.run_id
    return runs
