"""The ``qbench report``, ``qbench export`` and ``qbench compare`` click commands.

They read the MLflow tracking store (``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else
``sqlite:///results/mlflow.db``) and never import torch.  Bad input (an unknown filter value, an
unreachable store, a malformed ``--rule`` or ``--since``, a missing or corrupt baseline, one with
NaN, Infinity or no metrics, an ``--out`` that cannot be written, a run with a non-finite metric to
export) prints one line naming the bad value and what is allowed, exits 2 and writes nothing: the
output files are written only once everything has succeeded, each completely or not at all.
``compare`` exits 1 when any gated metric regressed or is NaN or infinite, else 0.

Example::

    from suite.report.commands import compare, export, report
    cli.add_command(report); cli.add_command(export); cli.add_command(compare)
    # qbench report --task wikitext2 --since 7d --out results
    # qbench export --experiment nightly --out results/baselines/nightly.json
    # qbench compare --baseline results/baselines/nightly.json --rule eval/wikitext2/ppl:1%
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from suite.contract import DEFAULT_EXPERIMENT, resolve_uri
from suite.report.store import (
    Filters,
    ReportError,
    fetch_runs,
    open_client,
    parse_since,
    select,
)


def _one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ReportError into `error: ...` on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReportError as exc:
            click.echo(f"error: {exc}", err=True)
            click.get_current_context().exit(2)

    return wrapper


def _check_out(path: Path, *, folder: bool) -> None:
    """ReportError (one line) before any work when the output cannot be written."""
    from suite.paths import check_dir, check_file
    from suite.spec import SpecError

    try:
        (check_dir if folder else check_file)(path, "--out")
    except SpecError as err:
        raise ReportError(str(err)) from None


def _write_all(texts: dict[Path, str]) -> None:
    """Write every file or none: each goes to a temporary file beside it, then all are renamed."""
    temps: dict[Path, Path] = {}
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temps[path] = tmp
            tmp.write_text(text, encoding="utf-8")
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as err:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise ReportError(
            f"cannot write {err.filename or '--out'}: {err.strerror or err}; "
            "allowed: a writable --out"
        ) from None


def _store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI or sqlite:///results/mlflow.db]",
    )(fn)
    return fn


def _filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option(
                "--experiment",
                default=DEFAULT_EXPERIMENT,
                show_default=True,
                help="MLflow experiment to read.",
            ),
            click.option(
                "--model", "models", multiple=True, help="Only runs of this model (repeatable)."
            ),
            click.option(
                "--task", "tasks", multiple=True, help="Only runs of this task (repeatable)."
            ),
            click.option(
                "--since",
                default=None,
                help="Only runs started since a date (2026-11-01) or a duration (7d, 12h).",
            ),
        ]
    ):
        fn = opt(fn)
    return _store_options(fn)


def _filters(models: tuple[str, ...], tasks: tuple[str, ...], since: str | None) -> Filters:
    return Filters(
        models=tuple(models), tasks=tuple(tasks), since=parse_since(since) if since else None
    )


def _selected(tracking_uri, experiment, models, tasks, since):
    """(client, Selection) of the finished runs that the filter options pick."""
    uri = resolve_uri(tracking_uri)
    client = open_client(uri)
    runs = fetch_runs(client, experiment)
    return client, select(runs, experiment, uri, _filters(models, tasks, since))


@click.command("report")
@_filter_options
@click.option(
    "--out",
    "out_dir",
    default="results",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for leaderboard.md and leaderboard.html.",
)
@click.option("--no-html", is_flag=True, help="Write only the Markdown leaderboard.")
@click.option(
    "--layers-run",
    default=None,
    metavar="RUN_ID_OR_KEY",
    help="Run whose per-layer init error is plotted (run id, run key or run name) "
    "[default: newest run of the first method at the lowest bits with "
    "init_layers.json].",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the Markdown to stdout.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "csv", "parquet", "json"]),
    default="md",
    show_default=True,
    help="md: the leaderboard (Markdown + HTML); csv, parquet, json: one row per run "
    "(tags, params, metrics) in DIR/runs.<format>.",
)
@_one_line_errors
def report(
    tracking_uri: str | None,
    experiment: str,
    models: tuple[str, ...],
    tasks: tuple[str, ...],
    since: str | None,
    out_dir: Path,
    no_html: bool,
    layers_run: str | None,
    quiet: bool,
    fmt: str,
) -> None:
    """Leaderboard of finished runs as Markdown and one self-contained HTML page."""
    from suite.report.leaderboard import build_leaderboard

    _check_out(out_dir, folder=True)
    client, sel = _selected(tracking_uri, experiment, models, tasks, since)
    if fmt != "md":
        _write_table(sel, out_dir, fmt)
        return
    board = build_leaderboard(client, sel, html=not no_html, layers_run=layers_run)
    texts = {out_dir / "leaderboard.md": board.markdown}
    if board.html is not None:
        texts[out_dir / "leaderboard.html"] = board.html
    _write_all(texts)
    written = list(texts)
    if not quiet:
        click.echo(board.markdown)
    click.echo("wrote " + ", ".join(str(p) for p in written), err=True)


def _write_table(sel: Any, out_dir: Path, fmt: str) -> None:
    """The selected runs as one table (suite.results.frame) in DIR/runs.<fmt>."""
    import importlib.util

    from suite.results import frame

    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ReportError(
            "--format parquet needs pyarrow, which is not installed; allowed: "
            "pip install pyarrow, or --format csv|json"
        )
    df = frame(sel.records)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"runs.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        rows = json.loads(df.to_json(orient="records", date_format="iso"))  # NaN -> null
        path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    click.echo(f"wrote {len(df)} runs x {len(df.columns)} columns to {path}", err=True)


@click.command("export")
@_filter_options
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file to write, e.g. results/baselines/nightly.json.",
)
@_one_line_errors
def export(
    tracking_uri: str | None,
    experiment: str,
    models: tuple[str, ...],
    tasks: tuple[str, ...],
    since: str | None,
    out_file: Path,
) -> None:
    """Snapshot of the selected finished runs as a JSON baseline for `qbench compare`."""
    from suite.report.export import build_snapshot

    _check_out(out_file, folder=False)
    client, sel = _selected(tracking_uri, experiment, models, tasks, since)
    if not sel.records:
        raise ReportError(
            f"no FINISHED runs in experiment {experiment!r} match the filters "
            f"({sel.filters.describe()}): nothing to export"
        )
    text = json.dumps(build_snapshot(client, sel), indent=2, sort_keys=True, allow_nan=False)
    _write_all({out_file: text + "\n"})
    click.echo(f"wrote {len(sel.records)} baseline entries to {out_file}", err=True)


def _fmt(value: float | None, metric: str) -> str:
    from suite.report.metrics import fmt_value

    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    if metric.endswith(("bytes", "wall_s", "tokens_per_s")):
        return fmt_value(value, metric)
    return f"{value:.6g}"


def _print_comparison(comparison: Any, baseline: Any, show_all: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    out = sys.stdout
    console = Console(file=out, width=None if out.isatty() else 140, highlight=False)
    shown = [r for r in comparison.results if show_all or r.status != "ok"]
    order = {
        "missing": 0,
        "non-finite": 0,
        "changed": 1,
        "regression": 2,
        "improvement": 3,
        "ok": 4,
    }
    shown.sort(key=lambda r: (order[r.status], r.entry, r.metric))
    if shown:
        table = Table(title=f"qbench compare against {baseline.path}", show_lines=False)
        for col, just in (
            ("status", "left"),
            ("entry", "left"),
            ("metric", "left"),
            ("baseline", "right"),
            ("current", "right"),
            ("Δ", "right"),
            ("allowed", "right"),
            ("rule", "left"),
        ):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        style = {
            "regression": "bold red",
            "missing": "bold red",
            "non-finite": "bold red",
            "changed": "bold red",
            "improvement": "green",
            "ok": "dim",
        }
        for r in shown:
            delta = "–" if r.delta is None else f"{r.delta:+.4g}"
            if r.delta is not None and r.baseline:
                delta += f" ({r.delta / abs(r.baseline):+.1%})"
            table.add_row(
                f"[{style[r.status]}]{r.status}[/]",
                r.entry,
                r.metric,
                _fmt(r.baseline, r.metric),
                _fmt(r.current, r.metric),
                delta,
                f"{r.allowed:.4g}",
                r.rule,
            )
        console.print(table)
    else:
        console.print("no regressions or improvements beyond tolerance")
    n_reg, n_imp = len(comparison.regressions), len(comparison.improvements)
    n_bad = sum(r.status == "non-finite" for r in comparison.results)
    console.print(
        f"checked {len(comparison.results)} metrics of {len(comparison.matches)} baseline entries: "
        f"{n_reg} regression{'s' if n_reg != 1 else ''}"
        + (f" ({n_bad} non-finite)" if n_bad else "")
        + f", {n_imp} improvement{'s' if n_imp != 1 else ''}"
    )


@click.command("compare")
@click.option(
    "--baseline",
    "baseline_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline JSON written by `qbench export`.",
)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="METRIC:TOL",
    help="Tolerance for a metric (name, glob or last segment): absolute (0.5), relative "
    "(5%) or 'off'. Repeatable; overrides the defaults.",
)
@click.option(
    "--experiment",
    default=None,
    help="MLflow experiment to read [default: the baseline's, else qbench].",
)
@click.option("--show-all", is_flag=True, help="Also list metrics within tolerance.")
@_store_options
@_one_line_errors
def compare(
    baseline_file: Path,
    rules: tuple[str, ...],
    experiment: str | None,
    show_all: bool,
    tracking_uri: str | None,
) -> None:
    """Compare the newest runs with a baseline; exit 1 on any regression beyond tolerance."""
    from suite.report.compare import compare as run_compare
    from suite.report.compare import parse_rule
    from suite.report.export import load_baseline

    parsed = [parse_rule(r) for r in rules]
    baseline = load_baseline(baseline_file)
    exp = experiment or baseline.experiment or DEFAULT_EXPERIMENT
    uri = resolve_uri(tracking_uri)
    client = open_client(uri)
    result = run_compare(baseline, fetch_runs(client, exp), parsed)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    for n in result.notes:
        click.echo(f"note: {n}", err=True)
    _print_comparison(result, baseline, show_all)
    if result.regressions:
        sys.stdout.flush()
        click.get_current_context().exit(1)


__all__ = ["compare", "export", "report"]
