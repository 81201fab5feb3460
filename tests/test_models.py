"""Models: the built-in checkpoint reloads exactly; names resolve or fail clearly."""

import json

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


def test_input_widths_match_the_loaded_layers(smollm2, smollm2_path, tmp_path):
    model, _ = smollm2
    widths = models.input_widths(models.resolve("smollm2-135m"), smollm2_path.parents[1])
    layer = model.model.layers[0]
    for name, mod in [*layer.self_attn.named_children(), *layer.mlp.named_children()]:
        if name in widths:
            assert widths[name] == mod.in_features


@pytest.mark.parametrize("name", ["nope", "synthetic:llama9", "./missing.gguf"])
def test_unknown_models_fail_with_the_allowed_forms(name):
    with pytest.raises(SpecError, match="allowed"):
        models.resolve(name)


def test_resolve_kinds(tmp_path):
    assert models.resolve("smollm2-135m").kind == "builtin"
    assert models.resolve("meta-llama/Llama-2-7b-hf").kind == "hub"
    assert models.resolve(str(tmp_path)).kind == "dir"


def test_an_unreadable_hub_id_is_a_one_line_spec_error(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    from suite.models import input_widths, resolve

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SpecError, match=r"model 'nope/not-a-model' could not be read .*allowed:"):
        input_widths(resolve("nope/not-a-model"), tmp_path)


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
def test_gemma3_input_widths_match_its_layers(gemma3_path):
    model, _ = models.load(
        models.resolve("gemma3-270m"), gemma3_path.parents[1], "cpu", torch.float32
    )
    widths = models.input_widths(models.resolve("gemma3-270m"), gemma3_path.parents[1])
    layer = model.model.layers[0]
    for name, mod in [*layer.self_attn.named_children(), *layer.mlp.named_children()]:
        if name in widths:
            assert widths[name] == mod.in_features
    assert widths["o_proj"] != widths["q_proj"]  # 4 heads x 256 = 1024 against a width of 640
