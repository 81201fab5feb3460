"""``qbench export-model`` and ``qbench eval``: a finished run's model, outside qbench's tables.

``export-model RUN DIR`` writes the run's model for other libraries (:mod:`suite.export`);
``eval RUN --lm-eval-tasks T1,T2`` scores it with lm-eval (:mod:`suite.lm_eval_model`) and
records each result on the run as ``eval/lm-eval/<task>/<metric>``. RUN is a run id or a run
key. Bad input (an unknown run, a run that did not finish, a non-empty DIR, an unknown task) is
one line and exit code 2, found before any model is loaded, and nothing is written.

    qbench export-model 3f2a...c9 exported/qlora-4bit
    qbench eval 3f2a...c9 --lm-eval-tasks qbench_cs_arc_easy,qbench_cs_boolq --limit 50
"""

from __future__ import annotations

from pathlib import Path

import click

from suite.context import check_device
from suite.spec import SpecError

_DEVICE_HELP = "auto, cpu, cuda, cuda:N."


@click.command("export-model")
@click.argument("run")
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["peft", "merged"]),
    default="peft",
    show_default=True,
    help="peft: adapters + a quantized base other libraries load; merged: one checkpoint.",
)
@click.option(
    "--stage",
    type=click.Choice(["trained", "init"]),
    default="trained",
    show_default=True,
    help="trained: the fine-tuned adapters; init: the model right after prepare.",
)
@click.option(
    "--dtype",
    type=click.Choice(["bfloat16", "float16", "float32"]),
    default="bfloat16",
    show_default=True,
    help="Dtype of every tensor that is not quantized (embeddings, norms, dense bases).",
)
@click.option(
    "--base",
    type=click.Choice(["auto", "bnb-nf4", "gptq", "dense"]),
    default="auto",
    show_default=True,
    help="Storage of the base (peft format); auto: the first that holds it exactly.",
)
@click.option(
    "--tracking-uri", help="MLflow store. [$MLFLOW_TRACKING_URI or sqlite:///results/mlflow.db]"
)
@click.option(
    "--cache-dir", help="Model and prepared-model cache. [$QBENCH_CACHE or ~/.cache/qbench]"
)
@click.option("--device", default="cpu", show_default=True, help=_DEVICE_HELP)
@click.option(
    "--no-check", is_flag=True, help="Do not read the folder back to compare logits (saves memory)."
)
def export_model(
    run, out_dir, fmt, stage, dtype, base, tracking_uri, cache_dir, device, no_check
) -> None:
    """Write a finished run's model to DIR in a format other libraries load."""
    from suite.context import cache_dir_path
    from suite.export.run_model import find_run, load_run_model, read_adapters
    from suite.export.writer import DTYPES, check_out_dir
    from suite.export.writer import export_model as write

    check_device(device)
    check_out_dir(out_dir)
    ref = find_run(run, tracking_uri)
    adapters = read_adapters(ref) if stage == "trained" else None
    say = lambda msg: click.echo(msg, err=True)  # noqa: E731
    loaded = load_run_model(ref, stage, cache_dir_path(cache_dir), device, say, adapters)
    manifest = write(loaded, out_dir, fmt, DTYPES[dtype], base, check=not no_check)
    check = manifest.get("check")
    read_back = f"; read back: max |Δlogit| {check['max_abs_logit_diff']:.3g}" if check else ""
    click.echo(
        f"wrote {out_dir}: {manifest['method']} {manifest['bits']}-bit ({stage}), base "
        f"{manifest['base_format']} ({manifest['loaded_by']}){read_back}"
    )
    for note in manifest["notes"]:
        click.echo(f"  note: {note}")


@click.command("eval")
@click.argument("run")
@click.option(
    "--lm-eval-tasks",
    "task_names",
    required=True,
    help="Comma-separated lm-eval tasks: qbench's own (qbench_cs_arc_easy, qbench_gsm8k, "
    "qbench_wikitext2, ...; tasks/lm_eval/) or any task lm-eval knows.",
)
@click.option(
    "--limit", type=int, default=0, show_default=True, help="Documents per task (0: all)."
)
@click.option("--num-fewshot", type=int, default=None, help="Few-shot examples [each task's].")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option(
    "--data", help="Data source of qbench's task files: sample, hub or DIR. [the run's own]"
)
@click.option(
    "--tracking-uri", help="MLflow store. [$MLFLOW_TRACKING_URI or sqlite:///results/mlflow.db]"
)
@click.option(
    "--cache-dir", help="Model and prepared-model cache. [$QBENCH_CACHE or ~/.cache/qbench]"
)
@click.option("--device", default="auto", show_default=True, help=_DEVICE_HELP)
def eval_run(
    run, task_names, limit, num_fewshot, batch_size, data, tracking_uri, cache_dir, device
) -> None:
    """Score a finished run's fine-tuned model with lm-eval; record eval/lm-eval/<task>/<metric>."""
    from suite.context import cache_dir_path
    from suite.export.run_model import find_run, load_run_model, read_adapters
    from suite.lm_eval_run import check_tasks, evaluate, record

    check_device(device)
    if limit < 0:
        raise SpecError(f"--limit {limit} is not allowed; allowed: 0 (all) or a positive integer")
    if batch_size < 1:
        raise SpecError(f"--batch-size {batch_size} is not allowed; allowed: a positive integer")
    names = [t.strip() for t in task_names.split(",") if t.strip()]
    ref = find_run(run, tracking_uri)
    source = data or ref.spec.data
    manager = check_tasks(names, source)
    adapters = read_adapters(ref)
    say = lambda msg: click.echo(msg, err=True)  # noqa: E731
    loaded = load_run_model(ref, "trained", cache_dir_path(cache_dir), device, say, adapters)
    results = evaluate(loaded, names, manager, limit, num_fewshot, batch_size)
    metrics = record(ref, results, source, limit)
    for key, value in sorted(metrics.items()):
        click.echo(f"{key}\t{value:.6g}")
    click.echo(f"recorded {len(metrics)} metrics on run {ref.run_id}", err=True)
