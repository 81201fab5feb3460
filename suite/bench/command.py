"""``qbench bench`` / ``python -m suite.bench``: the one-GPU benchmark at 7B scale.

Parts (``--parts``, comma-separated, all by default):

- ``rates``: the GPU's bf16 matmul rate and copy bandwidth, measured now (MFU's denominator);
- ``kernels``: the packed-kernel sweep of :mod:`suite.bench.rates`;
- ``train``: each ``--configs`` entry prepared, trained and generated
  (:mod:`suite.bench.workloads`);
- ``prepare``: each ``--prepare-methods`` entry prepared at ``--prepare-bits`` on the harness's
  own path (calibration windows, holdout Grams, block-by-block prepare, init metrics;
  :mod:`suite.bench.prepare`);
- ``generation``: each ``--decode-configs`` entry's evaluation decoder against ``transformers``'
  ``generate`` at each ``--decode-batches`` size, ``--decode-new`` new tokens after GSM8K-like
  prompts, with the weight-bandwidth bound (:mod:`suite.bench.generation`).

Results go to ``--out`` as bench.json and bench.md after every configuration, so a cut run
keeps what it measured; the table is printed last. Importing this module does not import torch.

    $ qbench bench --configs lora16,bnb-nf4,nf4,int2 --out /tmp/bench
"""

from __future__ import annotations

from pathlib import Path

import click

from suite.spec import SpecError

PARTS = ("rates", "kernels", "train", "prepare", "generation")


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("torch", "triton", "transformers", "bitsandbytes"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@click.command(name="bench")
@click.option("--model", default="synthetic:llama2-7b", show_default=True)
@click.option("--parts", default=",".join(PARTS), show_default=True)
@click.option("--configs", default=None, help="Comma-separated. [all: see suite.bench.workloads]")
@click.option("--rank", default=64, show_default=True)
@click.option("--batch", default=8, show_default=True)
@click.option("--seq-len", default=512, show_default=True)
@click.option("--steps", default=6, show_default=True, help="Timed training steps.")
@click.option("--warmup", default=2, show_default=True, help="Untimed training steps first.")
@click.option("--gen-batch", default=8, show_default=True)
@click.option("--gen-prompt", default=128, show_default=True)
@click.option("--gen-new", default=64, show_default=True)
@click.option("--no-generate", is_flag=True, help="Skip the generation measurement.")
@click.option(
    "--rounds",
    default=1,
    show_default=True,
    help="Train every config this many times, in turn (A B A B); rows report the median.",
)
@click.option("--profile", "profile_configs", default="", help="Configs to profile (2 steps).")
@click.option("--prepare-bits", default=2.0, show_default=True)
@click.option("--prepare-methods", default="cloq,gptq-lora,loftq,qlora", show_default=True)
@click.option(
    "--set",
    "method_set",
    multiple=True,
    help="A method setting for the prepare part, e.g. method.apiq.epochs=2 (as qbench run).",
)
@click.option("--calib-windows", default=128, show_default=True)
@click.option("--calib-seq", default=2048, show_default=True)
@click.option("--decode-configs", default="lora16,nf4,int2", show_default=True)
@click.option("--decode-batches", default="8,64", show_default=True)
@click.option("--decode-new", default=128, show_default=True)
@click.option("--decode-repeats", default=1, show_default=True, help="Timed calls (median).")
@click.option("--out", default="results/bench", show_default=True, type=click.Path())
@click.option("--cache-dir", default=None, help="[$QBENCH_CACHE or ~/.cache/qbench]")
def bench(
    model,
    parts,
    configs,
    rank,
    batch,
    seq_len,
    steps,
    warmup,
    gen_batch,
    gen_prompt,
    gen_new,
    no_generate,
    rounds,
    profile_configs,
    prepare_bits,
    prepare_methods,
    method_set,
    calib_windows,
    calib_seq,
    decode_configs,
    decode_batches,
    decode_new,
    decode_repeats,
    out,
    cache_dir,
) -> None:
    """Prepare, train and generate at scale on one GPU; one table of speed and memory."""
    chosen = [p for p in parts.split(",") if p]
    bad = [p for p in chosen if p not in PARTS]
    if bad:
        raise SpecError(f"unknown bench part '{bad[0]}'; allowed: {', '.join(PARTS)}")
    import torch

    from suite import models
    from suite.bench import report, workloads
    from suite.context import cache_dir_path as resolve_cache

    if not torch.cuda.is_available():
        raise SpecError("qbench bench needs a CUDA device; allowed: run it on a GPU machine")
    models.resolve(model)
    from suite.bench.prepare import method_settings, prepare_rows
    from suite.registry import lookup, methods

    prep_methods = [m for m in prepare_methods.split(",") if m]
    for name in prep_methods:
        lookup(methods(), "method", name)
    prep_settings = method_settings(method_set)
    names = configs.split(",") if configs else list(workloads.CONFIGS)
    decode_names = [c for c in decode_configs.split(",") if c]
    for name in names + decode_names:
        workloads.method_for(name, rank)  # fail on a bad name before any work
    batches = [int(b) for b in decode_batches.split(",") if b]
    shape = workloads.BenchShape(
        rank, batch, seq_len, steps, warmup, gen_batch, gen_prompt, gen_new
    )
    out_dir, device, cache = Path(out), "cuda", resolve_cache(cache_dir)
    env = {"gpu": torch.cuda.get_device_name(0), **_versions(), "model": model}
    env.update({"rank": rank, "batch": batch, "seq_len": seq_len})
    rows: list[dict] = []
    extra: dict = {}

    def save() -> None:
        report.add_ratios(rows)
        report.write(out_dir, rows, env, extra)

    if {"rates", "train", "kernels", "generation"} & set(chosen):
        from suite.bench.rates import copy_gbps, matmul_tflops

        env["matmul_tflops"] = matmul_tflops(device)
        env["copy_gbps"] = copy_gbps(device)
        click.echo(f"measured: bf16 matmul {env['matmul_tflops']:.0f} TFLOP/s, copy "
                   f"{env['copy_gbps']:.0f} GB/s", err=True)  # fmt: skip
    if "kernels" in chosen:
        from suite.bench.rates import crossover, kernel_sweep

        extra["kernels"] = kernel_sweep(device, copy_gbps=env["copy_gbps"])
        extra["crossover_fwd"] = crossover(extra["kernels"], "fwd")
        extra["crossover_bwd"] = crossover(extra["kernels"], "bwd")
        click.echo(f"fused beats dense up to rows: fwd {extra['crossover_fwd']}, "
                   f"bwd {extra['crossover_bwd']}", err=True)  # fmt: skip
        save()
    if "train" in chosen:
        profiled = set(filter(None, profile_configs.split(",")))
        profile_out = out_dir / "profile.txt"
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for round_no in range(rounds):
            for name in names:
                click.echo(f"config {name} (round {round_no + 1}/{rounds})", err=True)
                first = round_no == 0
                try:
                    hook = (
                        workloads.profile_steps(profile_out) if first and name in profiled else None
                    )
                    row = workloads.run_config(
                        name, model, shape, device, cache, env["matmul_tflops"],
                        generate=first and not no_generate, profile=hook,
                    )  # fmt: skip
                except Exception as err:  # one failing configuration must not lose the others
                    row = {"config": name, "error": f"{type(err).__name__}: {err}"}
                    torch.cuda.empty_cache()
                click.echo(f"  {row}", err=True)
                runs[name].append(row)
                rows[:] = [workloads.merge_rounds(r) for r in runs.values() if r]
                save()
    if "prepare" in chosen:
        prepared = prepare_rows(
            model, prep_methods, prepare_bits, rank, calib_windows, calib_seq, prep_settings, cache
        )
        for row in prepared:
            click.echo(f"  {row}", err=True)
            rows.append(row)
            save()
    if "generation" in chosen:
        from suite.bench.generation import generation_rows

        extra["generation"] = generation_rows(
            model, decode_names, batches, decode_new, cache, env["copy_gbps"], rank=rank,
            repeats=decode_repeats,
        )  # fmt: skip
    save()
    report.print_table(rows, env)
    if "generation" in chosen:
        report.print_generation(extra["generation"], env)
