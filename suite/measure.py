"""Per-phase measurement: wall time (device-synchronised) and peak memory.

On CUDA the peak is ``torch.cuda.max_memory_allocated`` after a reset at the phase's start (and
the allocator's cached blocks are released when the phase ends); on
CPU it is the process's peak resident set size, whose high-water mark Linux lets us reset at the
phase's start (``/proc/self/clear_refs``); where that is not allowed, the peak since process
start is reported and ``reset_ok`` says so.

    >>> with Phase("prepare", "cpu") as phase:
    ...     pass
    >>> sorted(phase.metrics())
    ['prepare/peak_mem_bytes', 'prepare/wall_s']
"""

from __future__ import annotations

import time
from pathlib import Path

from suite.contract import PEAK_MEM_BYTES, WALL_S, phase_metric


def _cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def sync(device: str) -> None:
    if _cuda(device):
        import torch

        torch.cuda.synchronize(device)


def rss_peak_bytes() -> int:
    """The process's peak resident set size (VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_rss_peak() -> bool:
    """Reset the peak RSS mark to the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Phase:
    """Context manager timing one phase and recording its peak memory."""

    def __init__(self, name: str, device: str) -> None:
        self.name = name
        self.device = str(device)
        self.wall_s = 0.0
        self.peak_bytes = 0
        self.reset_ok = True

    def __enter__(self) -> Phase:
        sync(self.device)
        if _cuda(self.device):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.reset_ok = reset_rss_peak()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.wall_s = time.perf_counter() - self._t0
        if _cuda(self.device):
            import torch

            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
            # the phase's cached blocks go back to the driver (after its wall time is taken):
            # processes that share a GPU (qbench run --workers) would otherwise each keep their
            # largest phase's memory for good, and the next large phase of another one fails
            torch.cuda.empty_cache()
        else:
            self.peak_bytes = rss_peak_bytes()

    def metrics(self) -> dict[str, float]:
        return {
            phase_metric(self.name, WALL_S): self.wall_s,
            phase_metric(self.name, PEAK_MEM_BYTES): self.peak_bytes,
        }


class Throughput:
    """Tokens per second over the steps after a warm-up.

    The device is synchronised only where a time is read: at the start, at the end of the
    warm-up's last step and in :meth:`rate` (call it right after the last step), so the steps
    themselves never wait for the device. With no step past the warm-up, the rate covers every
    step, so a short run still reports one.

        >>> meter = Throughput("cpu", warmup_steps=1)
        >>> meter.start()
        >>> for tokens in (100, 200, 300):
        ...     meter.step(tokens)
        >>> meter.rate() > 0, meter.counted
        (True, 500)
    """

    def __init__(self, device: str, warmup_steps: int) -> None:
        self.device = str(device)
        self.warmup = warmup_steps
        self.steps = 0
        self.tokens = 0  # all steps'
        self.counted = 0  # the steps' after the warm-up
        self.t0 = self.t_warm = 0.0

    def start(self) -> None:
        sync(self.device)
        self.t0 = time.perf_counter()

    def step(self, tokens: int) -> None:
        """Call after each optimizer step with the tokens it consumed."""
        self.steps += 1
        self.tokens += tokens
        if self.steps > self.warmup:
            self.counted += tokens
        elif self.steps == self.warmup:
            sync(self.device)
            self.t_warm = time.perf_counter()

    def rate(self) -> float:
        sync(self.device)
        end = time.perf_counter()
        if self.steps > self.warmup and self.warmup > 0:
            seconds, tokens = end - self.t_warm, self.counted
        else:
            seconds, tokens = end - self.t0, self.tokens
        return tokens / seconds if seconds > 0 else 0.0
