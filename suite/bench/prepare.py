"""The benchmark's prepare part: each method's prepare at scale, on the harness's own path.

For every method asked for, :func:`suite.prepare.prepare_model` runs exactly what ``qbench run``
runs before training: a GPU copy of the base (the original waits on the host), the calibration
windows (``windows`` x ``seq_len`` tokens of the synthetic train split) and the holdout Gram
matrices, the method's block-by-block prepare with the Calibrator where it needs data, and the
init metrics. ``prepare s`` and ``prepare peak GiB`` are the prepare phase's wall time and
``max_memory_allocated`` (:class:`suite.measure.Phase`), the working copy of the base included.
Nothing is cached: every method is prepared from scratch. It runs on a GPU (``qbench bench``)::

    rows = list(prepare_rows("synthetic:llama2-7b", ["cloq"], 2, 64, 128, 2048, {}, cache))
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


def method_settings(pairs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """{method: {key: value}} from ``method.<name>.<field>=VALUE`` strings, as ``qbench run
    --set`` takes them; unknown methods or fields and any other section are a SpecError."""
    from suite.registry import methods
    from suite.spec import SpecError
    from suite.sweep import parse_sets, split_sets

    sections, per_method = split_sets(parse_sets(list(pairs)), ())
    other = next((f"{k}.{f}" for k, v in sections.items() for f in v), None)
    if other:
        raise SpecError(
            f"bench setting '{other}' is not allowed; allowed: method.<name>.<field>=VALUE "
            "(e.g. method.apiq.epochs=2)"
        )
    for method, values in per_method.items():
        methods()[method].from_overrides(values)  # unknown fields fail here
    return per_method


def prepare_rows(
    model_name: str,
    methods: list[str],
    bits: float,
    rank: int,
    windows: int,
    seq_len: int,
    settings_by_method: dict[str, dict[str, str]],
    cache: Path,
    device: str = "cuda",
) -> Iterator[dict[str, Any]]:
    """One row per method: prepare wall time, peak GPU memory and init metrics."""
    import torch
    from rich.console import Console

    from suite import contract as C
    from suite.context import RunContext, Settings
    from suite.prepare import load_base, method_of, prepare_model
    from suite.progress import Bars
    from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, TrainSpec

    console = Console(stderr=True)
    settings = Settings(cache=cache, device=device, use_cache=False)
    ctx = RunContext.create(settings, "bench", console=console)
    base, tokenizer = load_base(ctx, model_name)
    for method in methods:
        spec = RunSpec(
            model=model_name,
            method=method,
            task="wikitext2",
            budget=Budget(bits=bits, rank=rank),
            calib=CalibSpec(n_windows=windows, seq_len=seq_len),
            train=TrainSpec(),
            eval=EvalSpec(),
            data="synthetic",
            method_config=tuple(sorted(settings_by_method.get(method, {}).items())),
        )
        method_of(spec).check_budget(spec.budget)
        with Bars(console) as bars:
            ctx.bars = bars
            metrics = prepare_model(ctx, base, tokenizer, spec).metrics
        row = {
            "config": f"{method} {bits:g}-bit prepare",
            "effective_bits": metrics[C.EFFECTIVE_BITS],
            "base_bytes": metrics[C.BASE_BYTES],
            "prepare_s": metrics[C.phase_metric("prepare", C.WALL_S)],
            "prepare_peak_bytes": metrics[C.phase_metric("prepare", C.PEAK_MEM_BYTES)],
            "init_weight_err": metrics[C.INIT_WEIGHT_ERR],
            "init_calib_err": metrics.get(C.INIT_CALIB_ERR),
            "calib_tokens": windows * seq_len,
            "method_config": dict(spec.method_config),
        }
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        yield row
