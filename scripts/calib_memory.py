"""Peak memory of the calibration walk against the number of calibration windows.

For each window count, a fresh process loads the model, builds the calibration windows and walks
every decoder block, collecting each block's Gram matrices as a calibrating method does (with
``--targets``, also the full-precision targets ApiQ asks for). It prints the walk's peak memory
above what the process held before the walk, next to one block's activation buffers
(windows x seq_len x hidden x bytes per value, once per buffer): the walk must grow with that,
never with the number of blocks. On CUDA the peak is ``max_memory_allocated``; on a CPU it is the
peak resident set size (VmHWM, reset before the walk), which also counts the memory-mapped weight
pages the walk touches first and the allocator's retained heap, so the CUDA figure is the clean one
(``results/bench/h100/calib_memory.md``).

    $ python scripts/calib_memory.py --model smollm2-135m --windows 8,16,32,64 --seq-len 256
"""

from __future__ import annotations

import json
import subprocess
import sys

import click


def current_bytes(device: str) -> int:
    """Memory held now: CUDA allocated bytes, or the resident set size (VmRSS) on a CPU."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.memory_allocated(device))
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(model_name: str, windows: int, seq_len: int, targets: bool, device: str) -> dict:
    """Run in the child process: one walk, its peak above the starting point."""
    import torch

    from suite import models
    from suite.calibration import build_calibration, decoder_layers
    from suite.cli import cache_dir
    from suite.measure import Phase
    from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, TrainSpec

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model, tok = models.load(models.resolve(model_name), cache_dir(None), device, dtype)
    spec = RunSpec(
        model_name,
        "cloq",
        "wikitext2",
        Budget(),
        CalibSpec(n_windows=windows, seq_len=seq_len, holdout_windows=1),
        TrainSpec(),
        EvalSpec(),
        data="synthetic" if model_name.startswith("synthetic:") else "sample",
    )
    calib = build_calibration(model, tok, spec, device)
    start = current_bytes(device)
    with Phase("walk", device) as phase:
        for block in calib.blocks(model, targets=targets):
            grams = block.grams()
            del grams
    hidden = model.config.hidden_size
    per_buffer = windows * seq_len * hidden * torch.finfo(dtype).bits // 8
    return {
        "windows": windows,
        "blocks": len(decoder_layers(model)[1]),
        "walk_peak_above_start": phase.peak_bytes - start,
        "one_block_buffers": per_buffer * (2 if targets else 1),
    }


@click.command()
@click.option("--model", default="smollm2-135m", show_default=True)
@click.option("--windows", default="8,16,32,64", show_default=True)
@click.option("--seq-len", default=256, show_default=True)
@click.option("--targets", is_flag=True, help="Also keep the full-precision targets (ApiQ).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--child", default=0, hidden=True)
def main(model, windows, seq_len, targets, device, child) -> None:
    if child:
        print(json.dumps(measure(model, child, seq_len, targets, device)))
        return
    rows = []
    for n in (int(w) for w in windows.split(",")):
        args = [sys.executable, __file__, "--model", model, "--seq-len", str(seq_len)]
        args += ["--device", device, "--child", str(n)] + (["--targets"] if targets else [])
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    mib = 2**20
    print(f"calibration walk, {model}, seq_len {seq_len}, device {device}, targets {targets}")
    print("| windows | blocks | walk peak above start (MiB) | one block's buffers (MiB) |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['windows']} | {r['blocks']} | {r['walk_peak_above_start'] / mib:.1f} | "
            f"{r['one_block_buffers'] / mib:.1f} |"
        )


if __name__ == "__main__":
    main()
