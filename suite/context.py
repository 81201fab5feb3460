"""What every step of a sweep shares: its settings, device, store, progress and caches.

:class:`Settings` is what the user chose (``qbench run`` flags); :class:`RunContext` adds what
the sweep resolved from them: the device, the facts every run is tagged with, the tracker, the
progress bars, the calibration windows built so far and the models' fingerprints
(:mod:`suite.fingerprint`). The runner and the prepare step take one RunContext instead of a
long list of arguments.

    >>> ctx = RunContext.create(Settings(cache=Path("cache"), device="cpu"), "quick")
    >>> ctx.device, ctx.tags["profile"], ctx.is_cuda, ctx.device_type, ctx.dtype_name
    ('cpu', 'quick', False, 'cpu', 'float32')
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
from suite.paths import check_dir
from suite.progress import Bars, BarSource
from suite.spec import SpecError


@dataclass(frozen=True)
class Settings:
    """How a sweep runs: cache folder, device, and the --force / --no-cache / progress flags."""

    cache: Path
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    force: bool = False
    use_cache: bool = True
    progress: bool = True
    worker: int = 0  # qbench run --workers N: this process's index and N (suite.workers)
    workers: int = 1


@dataclass
class RunContext:
    """One sweep's shared state; ``calibrations`` caches (Calibration, HoldoutGrams) per key,
    ``fingerprints`` each model's fingerprint by name."""

    settings: Settings
    device: str
    tags: dict[str, str]  # device, qbench_version, git_sha, profile: on every run
    console: Console
    bars: BarSource
    tracker: Any = None  # suite.tracking.Tracker; None where nothing is recorded (the bench)
    calibrations: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        settings: Settings,
        profile: str,
        tracker: Any = None,
        console: Console | None = None,
        bars: BarSource | None = None,
    ) -> RunContext:
        console = console or Console(stderr=True)
        device = pick_device(settings.device)
        tags = run_tags(
            device=device_name(device),
            qbench_version=qbench_version(),
            git_sha=git_sha(),
            profile=profile,
        )
        if settings.workers > 1:
            tags.update(run_tags(workers=str(settings.workers)))
        bars = bars or Bars(console, enabled=False)
        return cls(settings, device, tags, console, bars, tracker)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def device_type(self) -> str:
        """cpu or cuda (a run's key holds it; the device's name is a tag)."""
        return self.device.split(":")[0]

    @property
    def dtype_name(self) -> str:
        """The base model's dtype: bfloat16 on a GPU, float32 on a CPU."""
        return dtype_name(self.device)

    @property
    def dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype_name)

    def fingerprint(self, model_name: str) -> str:
        """The model's fingerprint (its files' hashes), computed once per sweep."""
        if model_name not in self.fingerprints:
            from suite import models
            from suite.fingerprint import fingerprint

            ref = models.resolve(model_name)
            self.fingerprints[model_name] = fingerprint(
                ref, self.settings.cache, say=self.console.print
            )
        return self.fingerprints[model_name]


def check_settings(settings: Settings, local_device: bool = True) -> None:
    """SpecError (one line) before any work where the device or the cache folder cannot serve.
    ``local_device=False`` (a Ray cluster's device, checked once connected): only the name."""
    if local_device:
        check_device(settings.device)
    elif settings.device not in ("auto", "cpu", "cuda"):
        raise SpecError(
            f"device '{settings.device}' is not allowed with --executor ray (each task gets "
            "its own GPU); allowed: auto, cpu, cuda"
        )
    check_dir(settings.cache, "cache folder")


def check_device(requested: str) -> None:
    """``auto``, ``cpu``, or a CUDA device that this machine has (torch is imported for CUDA)."""
    allowed = "allowed: auto, cpu, cuda, cuda:N"
    if requested in ("auto", "cpu"):
        return
    index = requested.partition(":")[2]
    if not requested.startswith("cuda") or requested not in ("cuda", f"cuda:{index}"):
        raise SpecError(f"device '{requested}' is not allowed; {allowed}")
    if index and not index.isdigit():
        raise SpecError(f"device '{requested}' is not allowed; {allowed} (N a GPU index)")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise SpecError(f"device '{requested}' is not available: no CUDA GPU; allowed: auto, cpu")
    if index and int(index) >= count:
        raise SpecError(
            f"device '{requested}' is not available: {count} CUDA GPU(s); allowed: auto, cpu, "
            + ", ".join(f"cuda:{i}" for i in range(count))
        )


def pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def dtype_name(device: str) -> str:
    """The dtype base models are loaded in on ``device``: bfloat16 on a GPU, else float32."""
    return "bfloat16" if device.startswith("cuda") else "float32"


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
