"""The benchmark's one table: printed with rich, written as JSON and Markdown.

Ratios are against rows measured in the same process on the same GPU: ``vs bnb`` divides a
row's training tokens/s by bitsandbytes NF4's, ``peak vs bnb`` its training peak memory.

    >>> rows = [{"config": "nf4", "train_tokens_per_s": 10.0, "train_peak_bytes": 2**30}]
    >>> markdown(rows, {"gpu": "test"}).splitlines()[0]
    '# qbench GPU benchmark'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GIB = 2**30
Columns = tuple[tuple[str, str, str], ...]  # (row key, heading, format)

COLUMNS = (
    ("config", "config", "{}"),
    ("effective_bits", "bits/w", "{:.2f}"),
    ("base_bytes", "base GiB", "gib"),
    ("prepare_s", "prepare s", "{:.1f}"),
    ("prepare_peak_bytes", "prepare peak GiB", "gib"),
    ("init_weight_err", "weight err", "{:.4f}"),
    ("init_calib_err", "calib err", "{:.4f}"),
    ("train_tokens_per_s", "train tok/s", "{:,.0f}"),
    ("vs_bnb", "vs bnb", "{:.3f}"),
    ("train_peak_bytes", "train peak GiB", "gib"),
    ("peak_vs_bnb", "peak vs bnb", "{:.3f}"),
    ("mfu", "MFU", "pct"),
    ("gen_tokens_per_s", "gen tok/s", "{:,.1f}"),
    ("decode_tokens_per_s", "decode tok/s", "{:,.1f}"),
    ("decode_dense_path_tokens_per_s", "decode tok/s dense path", "{:,.1f}"),
)


GENERATION_COLUMNS = (
    ("config", "config", "{}"),
    ("batch", "batch", "{}"),
    ("path", "path", "{}"),
    ("tokens_per_s", "tok/s", "{:,.0f}"),
    ("generate_tokens_per_s", "generate tok/s", "{:,.0f}"),
    ("vs_generate", "vs generate", "{:.2f}"),
    ("bound_tokens_per_s", "bound tok/s", "{:,.0f}"),
    ("of_bound", "of bound", "pct"),
    ("generate_of_bound", "generate of bound", "pct"),
    ("step_ms", "step ms", "{:.2f}"),
    ("bound_step_ms", "bound step ms", "{:.2f}"),
    ("same_rows", "same rows", "pct"),
    ("same_prefix", "same prefix", "pct"),
    ("error", "error", "{}"),
)


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Add ``vs_bnb`` and ``peak_vs_bnb`` to every row, where a bnb-nf4 row exists."""
    ref = next((r for r in rows if r.get("config") == "bnb-nf4"), None)
    if not ref:
        return
    for row in rows:
        if "train_tokens_per_s" in row and ref.get("train_tokens_per_s"):
            row["vs_bnb"] = row["train_tokens_per_s"] / ref["train_tokens_per_s"]
        if "train_peak_bytes" in row and ref.get("train_peak_bytes"):
            row["peak_vs_bnb"] = row["train_peak_bytes"] / ref["train_peak_bytes"]


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if fmt == "gib":
        return f"{value / GIB:.2f}"
    if fmt == "pct":
        return f"{100 * value:.1f}%"
    return fmt.format(value)


def rich_table(title: str, columns: Columns, rows: list[dict[str, Any]]) -> None:
    """Print ``rows`` as a rich table of ``columns`` ((key, title, format) each)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for _, heading, _ in columns:
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(*(cell(row, key, fmt) for key, _, fmt in columns))
    Console(width=200).print(table)


def md_table(columns: Columns, rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown lines of ``rows`` as a table of ``columns``."""
    lines = ["| " + " | ".join(heading for _, heading, _ in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        lines.append("| " + " | ".join(cell(row, key, fmt) for key, _, fmt in columns) + " |")
    return lines


def print_table(rows: list[dict[str, Any]], env: dict[str, Any]) -> None:
    rich_table(f"qbench GPU benchmark on {env.get('gpu', '?')}", COLUMNS, rows)
    print(env_line(env))


def print_generation(rows: list[dict[str, Any]], env: dict[str, Any]) -> None:
    """The generation part's table (see :mod:`suite.bench.generation`)."""
    title = f"qbench generation vs transformers' generate on {env.get('gpu', '?')}"
    rich_table(title, GENERATION_COLUMNS, rows)


def env_line(env: dict[str, Any]) -> str:
    parts = [f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in env.items()]
    return "  ".join(parts)


def markdown(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = ["# qbench GPU benchmark", "", env_line(env), "", *md_table(COLUMNS, rows)]
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict], env: dict, extra: dict[str, Any]) -> None:
    """bench.json (everything) and bench.md (the table) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {"env": env, "rows": rows, **extra}
    (out / "bench.json").write_text(json.dumps(payload, indent=1, default=str))
    text = markdown(rows, env)
    if extra.get("generation"):
        lines = ["", "## Generation", "", *md_table(GENERATION_COLUMNS, extra["generation"])]
        text += "\n".join(lines) + "\n"
    (out / "bench.md").write_text(text)
