"""The tracking store's contract: where runs go, and the names of their tags and metrics.

``qbench run`` writes runs (:mod:`suite.tracking`, :mod:`suite.runner`, :mod:`suite.measure`,
:mod:`suite.init_metrics`) and ``qbench report`` / ``compare`` / ``export`` read them
(:mod:`suite.report`); both sides import every URI default, tag name, metric key and metric
direction from here, so a name is spelled once. Outside tools read the same names. Nothing here
imports torch or mlflow.

Metric keys: ``eval/<task>/<name>`` for what a task's evaluation returns (the task declares each
name and its direction), and the harness's own keys below, each with its direction.

    >>> eval_metric("wikitext2", "ppl")
    'eval/wikitext2/ppl'
    >>> phase_metric("train", "wall_s")
    'train/wall_s'
    >>> [direction(k) for k in (INIT_CALIB_ERR, "eval/gsm8k/acc", EFFECTIVE_BITS)]
    ['lower', 'higher', None]
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sqlite3
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

from suite.paths import check_file
from suite.spec import SpecError

Direction = Literal["lower", "higher"]

# --- where runs are recorded ----------------------------------------------------------------

DEFAULT_TRACKING_URI = "sqlite:///results/mlflow.db"
ARTIFACTS_DIR = "mlartifacts"  # a local store's artifacts: <store folder>/mlartifacts/<experiment>
DEFAULT_EXPERIMENT = "qbench"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
FINISHED, RUNNING, FAILED = "FINISHED", "RUNNING", "FAILED"
_ALLOWED_URIS = "allowed: sqlite:///PATH.db, or the http(s) address of a running MLflow server"


_SAFE_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_experiment(name: str) -> str:
    """An experiment name as given, where it can name an MLflow experiment (any printable text:
    its artifact folder is :func:`experiment_folder`, never the raw name); else SpecError."""
    if not name.strip() or len(name) > 200 or not name.isprintable():
        raise SpecError(
            f"experiment name {name!r} is not allowed; allowed: 1 to 200 printable characters"
        )
    return name


def experiment_folder(name: str) -> str:
    """The folder an experiment's artifacts live in, under the store's ``mlartifacts/``.

    A plain name is used as it is; any other name (path separators, ``..``, an absolute path,
    spaces) is reduced to safe characters plus a hash of the name, so no name reaches outside
    ``mlartifacts/`` and two names never share a folder.

        >>> experiment_folder("nightly"), experiment_folder("../../x")
        ('nightly', 'x-9cdf6a50')
    """
    if _SAFE_FOLDER.match(name) and name not in (".", ".."):
        return name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:48] or "experiment"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def resolve_uri(uri: str | None) -> str:
    """The tracking URI to use: the flag, else ``$MLFLOW_TRACKING_URI``, else the default."""
    return uri or os.environ.get(TRACKING_ENV) or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other URIs)."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def check_uri(uri: str, *, existing: bool) -> Path | None:
    """SpecError (one line) where the store cannot be used; else a local store's directory.

    ``existing=False`` (the writer): a sqlite store may be created, so its folder must be
    writable and an existing file must be an SQLite database. ``existing=True`` (the readers):
    the sqlite file must exist and hold MLflow's tables, so a report never creates a store.
    A server must answer MLflow's ``/health`` in both cases.
    """
    db = sqlite_path(uri)
    if db is not None:
        if existing:
            _check_mlflow_sqlite(uri, db)
            return db.parent
        parent = db.parent if str(db.parent) else Path(".")
        check_file(db, "tracking store")
        if db.exists() and db.stat().st_size and _header(db) != b"SQLite format 3\x00":
            raise SpecError(f"tracking store {uri} is not an SQLite database; {_ALLOWED_URIS}")
        return parent
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as resp:
                resp.read(64)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise SpecError(
                f"tracking server {uri} is unreachable ({reason}); {_ALLOWED_URIS}"
            ) from None
        return None
    raise SpecError(f"tracking URI '{uri}' is not supported; {_ALLOWED_URIS}")


def _header(db: Path) -> bytes:
    with db.open("rb") as f:
        return f.read(16)


def _check_mlflow_sqlite(uri: str, db: Path) -> None:
    if not db.is_file():
        raise SpecError(
            f"tracking store not found: {uri} (no file {db}); allowed: a store that "
            "`qbench run` wrote, e.g. --tracking-uri sqlite:///results/mlflow.db"
        )
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as err:
        raise SpecError(f"tracking store {uri} is not a readable sqlite database: {err}") from None
    if not {"experiments", "runs"} <= names:
        raise SpecError(f"tracking store {uri} is a sqlite file but not an MLflow store")


# --- tags ------------------------------------------------------------------------------------


class Tag:
    """The names of the tags every run carries."""

    METHOD = "method"
    MODEL = "model"
    BITS = "bits"
    GROUP_SIZE = "group_size"
    RANK = "rank"
    TASK = "task"
    PROTOCOL = "protocol"
    TASK_VERSION = "task_version"
    DATA_SOURCE = "data_source"
    DATA_PACKAGES = "data_packages"  # the real source's pinned wheels: name==version sha256:...
    PROFILE = "profile"
    STORAGE = "storage"  # packed | dense
    QUANTIZER = "quantizer"
    # "built" by this run, or loaded from the prepared-model "cache" (its prepare metrics are
    # then the building run's, on the same device, and prepare/cache_load_s the load)
    PREPARED = "prepared"
    # method / quant settings not at their released defaults, "key=value (released: x); ..."
    CHANGED_SETTINGS = "changed_settings"
    DEVICE = "device"
    DEVICE_TYPE = "device_type"  # cpu | cuda: in the run key, with the dtype
    DTYPE = "dtype"  # the base model's dtype (float32, bfloat16)
    CODE_VERSION = "code_version"  # of the method, quantizer and harness (suite.code_version)
    MODEL_FINGERPRINT = "model_fingerprint"  # of the model's files (suite.fingerprint)
    QBENCH_VERSION = "qbench_version"
    GIT_SHA = "git_sha"
    RUN_KEY = "run_key"
    SEED = "seed"
    # who runs it (suite.claims): host, pid and the pid's start time, the claim's stamp, and the
    # time (unix seconds) its process last said it is alive
    HOST = "host"
    PID = "pid"
    PID_START = "pid_start"
    CLAIM = "claim"
    HEARTBEAT = "heartbeat"
    # ``qbench run --executor ray``: the id of the task attempt that made the run, so the driver
    # can mark FAILED the run of an attempt whose worker died or that it cancelled
    ATTEMPT = "attempt"
    # ``qbench run --workers N``: N sweep processes shared the machine while the run was made,
    # so its times and throughput are not a lone process's
    WORKERS = "workers"
    ERROR = "error"  # a FAILED run's error, with its traceback where it raised
    REASON = "failure_reason"  # a FAILED run's reason on one line


RUN_TAGS = tuple(v for k, v in vars(Tag).items() if k.isupper())
# Tags that say which configuration a run measured (besides its run key).
IDENTITY_TAGS = (
    Tag.METHOD,
    Tag.MODEL,
    Tag.BITS,
    Tag.GROUP_SIZE,
    Tag.RANK,
    Tag.TASK,
    Tag.PROTOCOL,
    Tag.SEED,
    Tag.DATA_SOURCE,
    Tag.PROFILE,
)
# Runs that differ in any of these never share a section of the leaderboard.
CONTEXT_TAGS = (Tag.MODEL, Tag.DATA_SOURCE, Tag.PROFILE, Tag.DEVICE)
STORAGE_DENSE, STORAGE_PACKED = "dense", "packed"


def run_tags(**values: str) -> dict[str, str]:
    """Tags for a run, by their contract names; an unknown name is a programming error."""
    unknown = sorted(set(values) - set(RUN_TAGS))
    if unknown:
        raise KeyError(f"unknown run tag {unknown[0]!r}; allowed: {', '.join(RUN_TAGS)}")
    return {k: str(v) for k, v in values.items()}


# --- params ----------------------------------------------------------------------------------

ACCOUNTING_PARAM = "quant.accounting"  # which storage accounting the bits metrics follow
LORA_SOURCE_PARAM = "lora.native_source"  # where the method's own lora_alpha / dropout come from


# --- artifacts ------------------------------------------------------------------------------

# The fine-tuned LoRA A and B of every target layer (safetensors, float32), saved at the end of
# training; ``qbench export-model`` and ``qbench eval`` rebuild the trained model from them.
ADAPTERS_ARTIFACT = "model/adapters.safetensors"
SPEC_ARTIFACT = "spec.json"
DATA_ARTIFACT = "data.json"  # the data source a run read: its pinned packages and splits
LM_EVAL_ARTIFACT_DIR = "lm-eval"  # ``qbench eval``: lm-eval's results, one JSON per call

# --- metrics ---------------------------------------------------------------------------------

INIT_WEIGHT_ERR = "init/weight_err"
INIT_CALIB_ERR = "init/calib_err"
EFFECTIVE_BITS = "quant/effective_bits"
BUDGET_BITS = "quant/budget_bits"  # what --bits allows under the accounting of suite.budget
BASE_BYTES = "quant/base_bytes"
ADAPTER_BYTES = "lora/adapter_bytes"
TRAIN_LOSS = "train/loss"
TRAIN_STEPS = "train/steps"
TRAIN_TOKENS = "train/tokens"
TRAIN_TOKENS_PER_S = "train/tokens_per_s"
EVAL_TOKENS_PER_S = "eval/tokens_per_s"
PHASES = ("prepare", "train", "eval")
WALL_S, PEAK_MEM_BYTES = "wall_s", "peak_mem_bytes"
PREPARE_WALL = f"prepare/{WALL_S}"
PREPARE_CACHE_LOAD = "prepare/cache_load_s"  # a prepared model loaded from the cache: the load
TRAIN_PEAK_MEM = f"train/{PEAK_MEM_BYTES}"


NONFINITE = "non-finite metric"  # how the reason of a run that measured NaN or ±inf starts


def nonfinite_reason(values: Mapping[str, float]) -> str | None:
    """The one-line failure reason for metrics that are NaN or ±inf; None when all are finite.

    A run that measured such a value has no result: it is recorded FAILED with this reason,
    never FINISHED.

        >>> nonfinite_reason({"eval/wikitext2/ppl": float("nan"), INIT_WEIGHT_ERR: 0.1})
        'non-finite metric: eval/wikitext2/ppl=nan'
    """
    bad = sorted((k, v) for k, v in values.items() if not math.isfinite(v))
    return f"{NONFINITE}: " + ", ".join(f"{k}={v}" for k, v in bad) if bad else None


def stored_value(value: float) -> float:
    """A metric value as read back from MLflow, with ±inf restored: MLflow's SQL stores save
    ±inf as ±(largest float) and NaN as NaN, so a reader that does not map it back would rank
    an infinite perplexity as a (309-digit) finite number.

        >>> stored_value(1.7976931348623157e308), stored_value(2.5)
        (inf, 2.5)
    """
    return math.copysign(math.inf, value) if abs(value) >= sys.float_info.max else value


def phase_metric(phase: str, what: str) -> str:
    """``<phase>/wall_s`` or ``<phase>/peak_mem_bytes``."""
    if what not in (WALL_S, PEAK_MEM_BYTES):
        raise KeyError(f"no phase metric {phase}/{what}; allowed: {WALL_S}, {PEAK_MEM_BYTES}")
    return f"{phase}/{what}"


def eval_metric(task: str, name: str) -> str:
    """The key of a task's evaluation metric, e.g. ``eval/commonsense/boolq/acc``."""
    return f"eval/{task}/{name}"


LM_EVAL = "lm-eval"  # the ``<task>`` part of metrics that ``qbench eval`` records


def lm_eval_metric(task: str, metric: str, filter_name: str = "none") -> str:
    """The key of an lm-eval result recorded by ``qbench eval``: ``eval/lm-eval/<task>/<metric>``,
    with ``/<filter>`` appended for a filter other than lm-eval's ``none``.

    >>> lm_eval_metric("arc_easy", "acc"), lm_eval_metric("gsm8k", "exact_match", "strict-match")
    ('eval/lm-eval/arc_easy/acc', 'eval/lm-eval/gsm8k/exact_match/strict-match')
    """
    key = eval_metric(LM_EVAL, f"{task}/{metric}")
    return key if filter_name == "none" else f"{key}/{filter_name}"


def split_eval_metric(key: str) -> tuple[str, str] | None:
    """(task, name) of an ``eval/<task>/<name>`` key; None for any other key."""
    parts = key.split("/", 2)
    if len(parts) == 3 and parts[0] == "eval":
        return parts[1], parts[2]
    return None


HARNESS_METRICS: dict[str, Direction | None] = {
    INIT_WEIGHT_ERR: "lower",
    INIT_CALIB_ERR: "lower",
    EFFECTIVE_BITS: None,  # the budget, not a score: any change is a change
    BUDGET_BITS: None,
    BASE_BYTES: "lower",
    ADAPTER_BYTES: "lower",
    TRAIN_LOSS: "lower",
    TRAIN_STEPS: None,
    TRAIN_TOKENS: None,
    TRAIN_TOKENS_PER_S: "higher",
    EVAL_TOKENS_PER_S: "higher",
    **{phase_metric(p, WALL_S): "lower" for p in PHASES},
    **{phase_metric(p, PEAK_MEM_BYTES): "lower" for p in PHASES},
}


def direction(key: str) -> Direction | None:
    """Whether lower or higher is better for a metric key; None where it has no direction.

    Harness metrics are declared above; ``eval/<task>/<name>`` asks the task, which declares
    each metric it emits. A task that this installation does not know has no directions.
    """
    if key in HARNESS_METRICS:
        return HARNESS_METRICS[key]
    split = split_eval_metric(key)
    if split is None:
        return None
    task = _task_class(split[0])
    return task.metrics.get(split[1]) if task is not None else None


def primary_metric(task: str) -> str | None:
    """The key a task's tables rank by (its declared primary metric); None for unknown tasks."""
    cls = _task_class(task)
    return eval_metric(task, cls.primary_metric) if cls is not None else None


def _task_class(name: str) -> Any:
    from suite.registry import tasks

    return tasks().get(name)
