"""The benchmark's CPU-checkable parts: configurations, FLOP counts, the synthetic source, output.

The GPU runs themselves are in tests/test_bench_gpu.py and ``python -m suite.bench``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from suite.bench import report, workloads
from suite.models import SYNTHETIC
from suite.spec import SpecError
from tasks.base import parse_source, synthetic_ids
from tasks.wikitext2 import WikiText2


def test_configurations_map_to_methods_and_budgets() -> None:
    method, budget = workloads.method_for("int2", 64)
    assert method.name == "qlora" and budget.bits == 2 and budget.quantizer == "int"
    assert workloads.method_for("bnb-nf4", 16)[0].config.backend == "bnb"
    assert workloads.method_for("lora16", 64)[1].bits == 16
    with pytest.raises(ValueError, match="allowed"):
        workloads.method_for("nf5", 64)


def test_flops_per_token_at_7b() -> None:
    """4 FLOPs per frozen base weight (forward + input gradient), plus LoRA (r=64: ~0.96 G),
    the LM head (0.52 G) and causal attention at s=512 (0.40 G): 27.8 GFLOP per token."""
    flops = workloads.flops_per_token(SYNTHETIC["llama2-7b"], rank=64, seq_len=512)
    linear = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    extra = 32 * 6 * 64 * (4 * 8192 + 3 * 15104) + 4 * 32000 * 4096 + 32 * 6 * 512 * 4096
    assert flops == 4 * linear + extra


def test_synthetic_source_is_seeded_and_split_apart() -> None:
    assert parse_source("synthetic").tag == "synthetic"
    a, b = synthetic_ids(300, "train", 1000), synthetic_ids(300, "train", 1000)
    assert torch.equal(a, b) and int(a.max()) < 300
    assert not torch.equal(a, synthetic_ids(300, "test", 1000))
    with pytest.raises(SpecError, match="allowed"):
        parse_source("nowhere")


def test_wikitext2_runs_on_the_synthetic_source(tiny) -> None:
    model, tok = tiny
    examples = WikiText2().train_data(tok, 64, parse_source("synthetic"), max_examples=5)
    assert len(examples) == 5 and examples[0]["input_ids"].numel() == 64
    assert int(examples[0]["input_ids"].max()) < model.config.vocab_size


def test_run_config_on_cpu_tiny(tmp_path: Path) -> None:
    shape = workloads.BenchShape(rank=4, batch=2, seq_len=32, steps=2, warmup=1, gen_batch=2,
                                 gen_prompt=8, gen_new=4)  # fmt: skip
    rows = []
    for config in ("lora16", "nf3", "int2"):
        row = workloads.run_config(config, "synthetic:tiny", shape, "cpu", tmp_path, 1.0)
        assert row["train_tokens_per_s"] > 0 and row["gen_tokens_per_s"] > 0
        rows.append(row)
    assert rows[2]["base_bytes"] < rows[1]["base_bytes"] < rows[0]["base_bytes"]
    report.add_ratios(rows)
    report.write(tmp_path, rows, {"gpu": "none"}, {})
    assert "| int2 |" in (tmp_path / "bench.md").read_text()


def test_bench_command_is_lazy() -> None:
    code = "import sys; from suite.cli import cli; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_prepare_rows_on_cpu_tiny(tmp_path) -> None:
    """The prepare part runs the runner's prepare path: rows carry its metrics."""
    from suite.bench.prepare import method_settings, prepare_rows

    rows = list(
        prepare_rows(
            "synthetic:tiny",
            ["qlora", "cloq"],
            2,
            4,
            4,
            32,
            method_settings(("method.cloq.damp=0.02",)),
            tmp_path,
            device="cpu",
        )
    )
    assert [r["config"] for r in rows] == ["qlora 2-bit prepare", "cloq 2-bit prepare"]
    qlora, cloq = rows
    assert cloq["method_config"] == {"damp": "0.02"}
    assert 2.0 < cloq["effective_bits"] < 3.0 and cloq["prepare_s"] > 0
    # the calibrated init lowers the held-out error below the zero-adapter NF2 base
    assert cloq["init_calib_err"] < qlora["init_calib_err"]


def test_bench_settings_are_method_settings_only() -> None:
    from suite.bench.prepare import method_settings
    from suite.spec import SpecError

    assert method_settings(("method.apiq.epochs=2",)) == {"apiq": {"epochs": "2"}}
    with pytest.raises(SpecError, match="unknown method 'nope'"):
        method_settings(("method.nope.epochs=2",))
    with pytest.raises(SpecError, match="unknown setting 'method.apiq.nope'"):
        method_settings(("method.apiq.nope=2",))
    with pytest.raises(SpecError, match="allowed: method.<name>.<field>=VALUE"):
        method_settings(("train.lr=1e-4",))
