"""What every step of a sweep shares: its settings, device, store, progress and caches.

:class:`Settings` is what the user chose (``qbench run`` flags); :class:`RunContext` adds what
the sweep resolved from them: the device, the facts every run is tagged with, the tracker, the
progress bars and the calibration windows built so far. The runner and the prepare step take
one RunContext instead of a long list of arguments.

    >>> ctx = RunContext.create(Settings(cache=Path("cache"), device="cpu"), "quick")
    >>> ctx.device, ctx.tags["profile"], ctx.is_cuda
    ('cpu', 'quick', False)
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console

from suite.cache import cache_dir_path as cache_dir_path  # importable from here too
from suite.contract import run_tags
from suite.progress import Bars


@dataclass(frozen=True)
class Settings:
    """How a sweep runs: cache folder, device, and the --force / --no-cache / progress flags."""

    cache: Path
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    force: bool = False
    use_cache: bool = True
    progress: bool = True


@dataclass
class RunContext:
    """One sweep's shared state; ``calibrations`` caches (Calibration, HoldoutGrams) per key."""

    settings: Settings
    device: str
    tags: dict[str, str]  # device, qbench_version, git_sha, profile: on every run
    console: Console
    bars: Bars
    tracker: Any = None  # suite.tracking.Tracker; None where nothing is recorded (the bench)
    calibrations: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        settings: Settings,
        profile: str,
        tracker: Any = None,
        console: Console | None = None,
        bars: Bars | None = None,
    ) -> RunContext:
        console = console or Console(stderr=True)
        device = pick_device(settings.device)
        tags = run_tags(
            device=device_name(device),
            qbench_version=qbench_version(),
            git_sha=git_sha(),
            profile=profile,
        )
        bars = bars or Bars(console, enabled=False)
        return cls(settings, device, tags, console, bars, tracker)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def dtype(self) -> Any:
        """The base model's dtype: bf16 on a GPU, float32 on a CPU."""
        import torch

        return torch.bfloat16 if self.is_cuda else torch.float32


def pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()})"


def qbench_version() -> str:
    try:
        return metadata.version("qbench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def git_sha() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
