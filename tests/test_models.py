"""Models: the built-in checkpoint reloads exactly; names resolve or fail clearly."""

import json
from pathlib import Path

import pytest
import torch

from suite import models
from suite.spec import SpecError
from suite.wheels import sha256_file


def test_cached_builtin_reloads_with_the_gguf_logits(smollm2_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_path / models.SOURCE_GGUF
    tok = AutoTokenizer.from_pretrained(smollm2_path)
    ref = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    cached = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32)
    ids = tok("Paris is the capital of France, and Rome is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(ref(ids).logits, cached(ids).logits)


def test_builtin_model_is_a_real_llm(smollm2):
    model, tok = smollm2
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids.shape[1] :])


def test_layer_shapes_match_the_loaded_layers(smollm2, smollm2_path, tmp_path):
    model, _ = smollm2
    shapes = models.layer_shapes(models.resolve("smollm2-135m"), smollm2_path.parents[1])
    layer = model.model.layers[0]
    children = dict([*layer.self_attn.named_children(), *layer.mlp.named_children()])
    assert set(shapes) <= set(children)
    for name, shape in shapes.items():
        assert shape == (children[name].in_features, children[name].out_features)


def test_synthetic_layer_shapes_match_the_built_model(tiny):
    model, _ = tiny
    shapes = models.layer_shapes(models.resolve("synthetic:tiny"), Path("unused"))
    layer = model.model.layers[0]
    children = dict([*layer.self_attn.named_children(), *layer.mlp.named_children()])
    linear = {n: m for n, m in children.items() if isinstance(m, torch.nn.Linear)}
    assert {n: (m.in_features, m.out_features) for n, m in linear.items()} == shapes


@pytest.mark.parametrize("name", ["nope", "synthetic:llama9", "./missing.gguf"])
def test_unknown_models_fail_with_the_allowed_forms(name):
    with pytest.raises(SpecError, match="allowed"):
        models.resolve(name)


def test_resolve_kinds(tmp_path):
    assert models.resolve("smollm2-135m").kind == "builtin"
    assert models.resolve("meta-llama/Llama-2-7b-hf").kind == "hub"
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert models.resolve(str(tmp_path)).kind == "dir"


@pytest.mark.parametrize(
    "files, missing",
    [((), "config.json and no weights"), (("config.json",), "weights"), (("w.bin",), "config")],
)
def test_a_model_directory_without_config_or_weights_is_refused(tmp_path, files, missing):
    for name in files:
        (tmp_path / name).write_text("{}")
    with pytest.raises(SpecError, match=f"has no {missing}.*allowed: a directory"):
        models.resolve(str(tmp_path))


def test_an_unreadable_hub_id_is_a_one_line_spec_error(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    from suite.models import layer_shapes, resolve

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SpecError, match=r"model 'nope/not-a-model' could not be read .*allowed:"):
        layer_shapes(resolve("nope/not-a-model"), tmp_path)


@pytest.mark.slow
def test_gemma3_checkpoint_reloads_with_the_gguf_logits(gemma3_path):
    """The second built-in architecture: the joined, checked GGUF and the cached safetensors
    checkpoint give identical logits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = json.loads((gemma3_path / "qbench-model.json").read_text())
    assert info["gguf_sha256"] == models.BUILTIN["gemma3-270m"].gguf_sha256
    gguf = gemma3_path / models.SOURCE_GGUF
    assert sha256_file(gguf) == info["gguf_sha256"]
    tok = AutoTokenizer.from_pretrained(gemma3_path)
    ref = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    cached = AutoModelForCausalLM.from_pretrained(gemma3_path, dtype=torch.float32)
    assert cached.config.model_type == "gemma3_text"
    ids = tok("Paris is the capital of France, and Rome is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(ref(ids).logits, cached(ids).logits)


@pytest.mark.slow
def test_gemma3_layer_shapes_match_its_layers(gemma3_path):
    model, _ = models.load(
        models.resolve("gemma3-270m"), gemma3_path.parents[1], "cpu", torch.float32
    )
    shapes = models.layer_shapes(models.resolve("gemma3-270m"), gemma3_path.parents[1])
    layer = model.model.layers[0]
    for name, mod in [*layer.self_attn.named_children(), *layer.mlp.named_children()]:
        if name in shapes:
            assert shapes[name] == (mod.in_features, mod.out_features)
    assert shapes["o_proj"][0] != shapes["q_proj"][0]  # 4 heads x 256 = 1024 against a width of 640
