"""A finished run's model, rebuilt: its base model, its prepared model and its trained adapters.

A run records its spec (artifact ``spec.json``) and, from this version on, its fine-tuned LoRA
A and B (artifact :data:`suite.contract.ADAPTERS_ARTIFACT`). The prepared model (quantized
base + initial adapters) lives in the prepared-model cache under the run's prepare key; where
the entry is gone it is prepared again through the same code path as ``qbench run`` (seeded,
so the same on the same device; the loader says so on stderr). ``stage="init"`` keeps the
initial adapters (the model right after prepare, before fine-tuning), ``stage="trained"``
loads the fine-tuned ones.

Bad input is a :class:`~suite.spec.SpecError` naming the value and what is allowed, raised
before anything heavy is loaded: an unknown run id or key, a run that did not finish, a run
without the adapters artifact (runs recorded before it existed).

    >>> spec = spec_from_record({"model": "synthetic:tiny", "method": "qlora",
    ...     "task": "wikitext2", "budget": {"bits": 4, "rank": 8}, "calib": {}, "train": {},
    ...     "eval": {}, "method_config": {"backend": "native"}})
    >>> spec.budget.rank, spec.method_config
    (8, (('backend', 'native'),))
    >>> from suite.spec import run_key
    >>> tuned = dataclasses.replace(spec, quant=(("gptq", (("act_order", False),)),))
    >>> again = spec_from_record(json.loads(json.dumps(tuned.to_dict())))
    >>> again.quant, run_key(again, "cpu", "float32") == run_key(tuned, "cpu", "float32")
    ((('gptq', (('act_order', False),)),), True)
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite import contract as C
from suite.spec import SECTIONS, RunSpec, SpecError, run_key

STAGES = ("trained", "init")
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_KEY = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class RunRef:
    """A FINISHED run found in the store, with its spec and the store's client."""

    run_id: str
    experiment_id: str
    tags: dict[str, str]
    spec: RunSpec
    client: Any
    uri: str


@dataclass
class RunModel:
    """A run's model in memory (target layers are QLinear) with its tokenizer and provenance."""

    ref: RunRef
    stage: str
    model: Any
    tokenizer: Any
    prepared: Any  # suite.lora.Prepared (storage, quantizer, info)
    origin: str  # where the prepared model came from


def spec_from_record(record: dict[str, Any]) -> RunSpec:
    """The RunSpec of a ``spec.json`` record (``RunSpec.to_dict()`` plus extra keys)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(RunSpec):
        if f.name not in record:
            continue
        value = record[f.name]
        if f.name in SECTIONS:
            value = SECTIONS[f.name](**value)
        elif f.name == "method_config":
            value = tuple(dict(value).items())
        elif f.name == "quant":
            value = tuple((name, tuple(dict(items).items())) for name, items in value.items())
        values[f.name] = value
    return RunSpec(**values)


def find_run(run: str, tracking_uri: str | None) -> RunRef:
    """The FINISHED run with this id (or the newest FINISHED run with this run key)."""
    from suite.report.store import open_client

    uri = C.resolve_uri(tracking_uri)
    client = open_client(uri)
    found = None
    if RUN_ID.match(run):
        try:
            found = client.get_run(run)
        except Exception:
            found = None
    elif RUN_KEY.match(run):
        experiments = [e.experiment_id for e in client.search_experiments()]
        hits = client.search_runs(
            experiments, f"tags.{C.Tag.RUN_KEY} = '{run}'", order_by=["start_time DESC"]
        )
        finished = [r for r in hits if r.info.status == C.FINISHED]
        found = (finished or hits or [None])[0]
    if found is None:
        raise SpecError(
            f"unknown run '{run}' in {uri}; allowed: the id (32 hex digits) or run key (16) of "
            "a FINISHED run (qbench report --format csv lists them)"
        )
    if found.info.status != C.FINISHED:
        raise SpecError(
            f"run '{run}' is {found.info.status}, not FINISHED; allowed: a run that finished "
            "(rerun it with qbench run)"
        )
    record = _spec_record(client, found.info.run_id)
    if not isinstance(record, dict):
        raise SpecError(f"run '{run}' has no readable {C.SPEC_ARTIFACT}; allowed: a qbench run")
    try:
        spec = spec_from_record(record)
    except (TypeError, ValueError) as err:
        raise SpecError(
            f"run '{run}': its {C.SPEC_ARTIFACT} does not rebuild a spec ({err})"
        ) from None
    tags = found.data.tags
    recorded = run_key(spec, tags.get(C.Tag.DEVICE_TYPE, "?"), tags.get(C.Tag.DTYPE, "?"))
    if recorded != tags.get(C.Tag.RUN_KEY):
        raise SpecError(
            f"run '{run}': its {C.SPEC_ARTIFACT} does not rebuild its run key (written by "
            "another qbench version); allowed: a run recorded by this version"
        )
    tags = {k: v for k, v in found.data.tags.items() if not k.startswith("mlflow.")}
    return RunRef(found.info.run_id, found.info.experiment_id, tags, spec, client, uri)


def _spec_record(client: Any, run_id: str) -> Any:
    from suite.report.store import quiet_downloads

    with tempfile.TemporaryDirectory(prefix="qbench-spec-") as tmp, quiet_downloads():
        try:
            return json.loads(
                Path(client.download_artifacts(run_id, C.SPEC_ARTIFACT, tmp)).read_text()
            )
        except Exception:  # absent or unreadable: the caller says so
            return None


def read_adapters(ref: RunRef) -> tuple[dict, dict]:
    """The run's fine-tuned adapters (tensors, metadata); SpecError when it has none."""
    from suite.adapters import read_file

    folder, name = C.ADAPTERS_ARTIFACT.rsplit("/", 1)
    try:
        listed = {Path(a.path).name for a in ref.client.list_artifacts(ref.run_id, folder)}
    except Exception:
        listed = set()
    if name not in listed:
        raise SpecError(
            f"run '{ref.run_id}' has no {C.ADAPTERS_ARTIFACT} (it was recorded before runs "
            "saved their adapters); allowed: --stage init, or rerun it with qbench run --force"
        )
    from suite.report.store import quiet_downloads

    with tempfile.TemporaryDirectory(prefix="qbench-adapters-") as tmp, quiet_downloads():
        path = ref.client.download_artifacts(ref.run_id, C.ADAPTERS_ARTIFACT, tmp)
        return read_file(Path(path))


def check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise SpecError(f"stage '{stage}' is not allowed; allowed: {', '.join(STAGES)}")


def load_run_model(
    ref: RunRef, stage: str, cache: Path, device: str = "cpu", say=print, adapters=None
) -> RunModel:
    """Rebuild the run's model on ``device`` (float32 on a CPU, as ``qbench run`` holds it).

    ``adapters``: the result of :func:`read_adapters`, when the caller checked it already.
    """
    from rich.console import Console

    from suite import prepared_cache
    from suite.adapters import load_adapter_state
    from suite.context import RunContext, Settings
    from suite.prepare import load_base, prepare_key, prepare_model

    check_stage(stage)
    if stage == "trained" and adapters is None:
        adapters = read_adapters(ref)
    ctx = RunContext.create(
        Settings(cache=cache, device=device, progress=False),
        ref.tags.get(C.Tag.PROFILE, ""),
        console=Console(stderr=True, quiet=True),
    )
    base, tokenizer = load_base(ctx, ref.spec.model)
    # the entry this export's device and dtype would use; a run made on another device or
    # from other code or model files has none here, and is prepared again (and says so)
    entry = prepared_cache.entry(cache, prepare_key(ctx, ref.spec))
    prepared = None
    if entry.is_dir():
        try:
            prepared = prepared_cache.load(base.to(ctx.device), entry)
            origin = f"prepared-model cache {entry}"
        except prepared_cache.Damaged as err:
            say(f"{err}: preparing {ref.spec.method} again")
    else:
        say(f"no prepared-model cache entry {entry}: preparing {ref.spec.method} again")
    if prepared is None:
        prepared = prepare_model(ctx, base, tokenizer, ref.spec).prepared
        origin = "prepared again (no usable cache entry)"
    model = prepared.model
    if stage == "trained":
        try:
            load_adapter_state(model, *adapters)
        except ValueError as err:
            raise SpecError(
                f"run '{ref.run_id}': its adapters do not fit its model ({err})"
            ) from None
    model.eval()
    return RunModel(ref, stage, model, tokenizer, prepared, origin)
