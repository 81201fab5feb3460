"""``qbench eval``: lm-eval on a finished run's model, its results recorded on that run.

Task names are checked before any model is loaded: qbench's own task files (tasks/lm_eval/,
which read their documents from ``data``, see :mod:`tasks.lm_eval_docs`) are indexed first;
lm-eval's built-in tasks (indexing them takes half a minute) only when a name is not among
qbench's and does not start with qbench's prefix ``qbench_``. The model runs as lm-eval's
``qbench`` model type (:class:`suite.lm_eval_model.QbenchLM`). Each result lands on the run as
:func:`suite.contract.lm_eval_metric` (``eval/lm-eval/<task>/<metric>``, ``/<filter>`` for a
filter other than ``none``), standard errors left out, and lm-eval's results with the settings
used as the artifact ``lm-eval/<UTC time>.json``.

    >>> metric_values({"arc_easy": {"alias": "arc_easy", "acc,none": 0.5,
    ...     "acc_stderr,none": 0.1, "exact_match,strict-match": 0.25}})
    {'eval/lm-eval/arc_easy/acc': 0.5, 'eval/lm-eval/arc_easy/exact_match/strict-match': 0.25}
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
import time
from typing import Any

from suite import contract as C
from suite.spec import SpecError

OURS = "qbench_"  # the prefix of qbench's own task files: never looked up among lm-eval's


def require_lm_eval() -> None:
    if importlib.util.find_spec("lm_eval") is None:
        raise SpecError(
            "qbench eval needs lm-eval, which is not installed; allowed: pip install 'qbench[eval]'"
        )


def check_tasks(names: list[str], data: str) -> Any:
    """A TaskManager that knows every name (qbench's task files read ``data``); else SpecError."""
    require_lm_eval()
    import logging

    from lm_eval.tasks import TaskManager

    from tasks.base import parse_source
    from tasks.lm_eval_docs import DATA_KEY
    from tasks.lm_eval_protocols import YAML_DIR

    if not names:
        raise SpecError("--lm-eval-tasks is empty; allowed: comma-separated lm-eval task names")
    parse_source(data)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    meta = {DATA_KEY: data}
    manager = TaskManager(include_path=str(YAML_DIR), include_defaults=False, metadata=meta)
    ours = set(manager.all_tasks)
    if any(name not in ours and not name.startswith(OURS) for name in names):
        manager = TaskManager(include_path=str(YAML_DIR), metadata=meta)
    known = set(manager.all_tasks)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see lm_eval ls tasks"
            raise SpecError(
                f"unknown lm-eval task '{name}' ({hint}); allowed: a task lm-eval "
                "knows or one of qbench's (tasks/lm_eval/)"
            )
        if name.startswith("qbench_") and parse_source(data).kind == "synthetic":
            raise SpecError(
                f"data source 'synthetic' has no text for {name}; allowed: --data "
                "sample, hub or a local directory"
            )
    return manager


def evaluate(loaded: Any, names: list[str], manager: Any, limit: int, fewshot, batch: int) -> dict:
    """lm-eval's results dict for the run's model on ``names``."""
    from lm_eval import simple_evaluate

    from suite.lm_eval_model import QbenchLM

    lm = QbenchLM(model=loaded.model, tokenizer=loaded.tokenizer, batch_size=batch)
    return simple_evaluate(
        model=lm,
        tasks=names,
        task_manager=manager,
        limit=limit or None,
        num_fewshot=fewshot,
        bootstrap_iters=0,
        random_seed=0,
        numpy_random_seed=1234,
        torch_random_seed=1234,
        fewshot_random_seed=1234,
    )


def metric_values(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """``eval/lm-eval/...`` keys of lm-eval's per-task results (numbers only, no stderr)."""
    out: dict[str, float] = {}
    for task, values in results.items():
        for key, value in values.items():
            metric, sep, filt = key.partition(",")
            if not sep or metric.endswith("_stderr") or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                out[C.lm_eval_metric(task, metric, filt)] = float(value)
    return out


def record(ref: Any, results: dict, data: str, limit: int) -> dict[str, float]:
    """Log the metrics and the results artifact on the run; return the metrics."""
    from mlflow.entities import Metric

    metrics = metric_values(results["results"])
    now = int(time.time() * 1000)
    ref.client.log_batch(ref.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = {
        "data": data,
        "limit": limit,
        "results": results["results"],
        "versions": results.get("versions"),
        "n-shot": results.get("n-shot"),
        "n-samples": results.get("n-samples"),
        "lm_eval_version": _version("lm_eval"),
    }
    text = json.dumps(payload, indent=1, default=str)
    ref.client.log_text(ref.run_id, text, f"{C.LM_EVAL_ARTIFACT_DIR}/{stamp}.json")
    return metrics


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
