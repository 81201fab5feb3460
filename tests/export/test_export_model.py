"""``qbench export-model``: what it writes loads in the libraries it names and is qbench's model.

- qlora 4-bit: the base reloads through transformers + bitsandbytes (CPU) with bitsandbytes'
  codes and double-quantized absmax (codes, block scales, offset) equal to qbench's, and
  peft's ``PeftModel.from_pretrained`` on it gives qbench's logits (float32 export:
  max |Δ| <= 1e-5; measured 0).
- cloq 2-bit: the GPTQ-layout tensors, unpacked by a reader written here (bit strings via
  numpy, not qbench's shifts), are qbench's integer codes, zero points and (float16) scales;
  peft on a plain transformers model holding that dequantized base gives qbench's logits with
  the scales as stored (max |Δ| <= 1e-5).
- merged: a plain checkpoint with qbench's logits (max |Δ| <= 1e-4: s·B·A is added in float32).
- init stage with a dense bf16 base: peft gives the initialised model's logits within bf16
  rounding of the base (max |Δ| <= 0.02 on logits of about 1).
- bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("peft")

PROBE = "Taking a model out of qbench: 12 + 30 = 42, and the rest is text."


def logits(model, tokenizer, text: str = PROBE) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def export(tiny_runs, method: str, out: Path, *args: str):
    res = tiny_runs.cli("export-model", tiny_runs.ids[method], out, "--dtype", "float32", *args)
    assert res.exit_code == 0, res.output
    return json.loads((out / "qbench-export.json").read_text())


def peft_model(out: Path, base):
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(out)).eval()


def test_qlora_nf4_reloads_through_bitsandbytes_and_peft(tiny_runs, tmp_path):
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    from suite.quant.dq import dynamic_map
    from suite.quant.packing import unpack

    out = tmp_path / "qlora"
    manifest = export(tiny_runs, "qlora", out)
    assert manifest["base_format"] == "bnb-nf4" and manifest["exact"]
    ours = tiny_runs.model("qlora")
    base = AutoModelForCausalLM.from_pretrained(out / "base", dtype=torch.float32)
    layers = {n: m for n, m in ours.model.named_modules() if hasattr(m, "qtensor")}
    assert len(layers) == 14
    for name, layer in layers.items():
        theirs = base.get_submodule(name)
        assert isinstance(theirs, bnb.nn.Linear4bit), name
        qt, state = layer.qtensor(), theirs.weight.quant_state
        assert torch.equal(theirs.weight.data.reshape(-1), qt.codes)  # packed NF4 codes
        assert state.nested and qt.dq is not None  # QLoRA's double-quantized absmax
        assert torch.equal(state.absmax, unpack(qt.dq.codes, 8, qt.dq.count))
        assert torch.equal(state.state2.absmax, qt.dq.scales.float())
        assert torch.equal(state.offset.reshape(1), qt.dq.offset)
        assert torch.equal(state.state2.code, dynamic_map())
        assert state.blocksize == qt.group_size and state.quant_type == "nf4"
        w = bnb.functional.dequantize_4bit(theirs.weight.data, state)
        assert torch.equal(w, layer.base_weight())
    model = peft_model(out, base)
    ref = logits(ours.model, ours.tokenizer)
    got = logits(model, ours.tokenizer)
    assert (got - ref).abs().max().item() <= 1e-5
    with model.disable_adapter():  # the fine-tuned adapters matter at this tolerance
        assert (logits(model, ours.tokenizer) - ref).abs().max().item() > 1e-2
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] / config["r"] == layers[name].scaling


def gptq_unpack(words: np.ndarray, bits: int) -> np.ndarray:
    """(k, m) int32 words -> (k·32/bits, m) codes: each column's words as one little-endian bit
    string, cut into ``bits``-bit numbers."""
    columns = []
    for col in words.T:
        stream = np.unpackbits(col.astype("<u4").view(np.uint8), bitorder="little")
        fields = stream.reshape(-1, bits).astype(np.int64)
        columns.append(fields @ (1 << np.arange(bits)))
    return np.stack(columns, axis=1)


def test_cloq_gptq_layout_is_our_codes_and_loads_with_peft(tiny_runs, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM, GPTQConfig

    out = tmp_path / "cloq"
    manifest = export(tiny_runs, "cloq", out)
    assert manifest["base_format"] == "gptq"
    qconf = json.loads((out / "base" / "quantize_config.json").read_text())
    assert (qconf["bits"], qconf["group_size"], qconf["sym"], qconf["desc_act"]) == (
        2,
        64,
        False,
        False,
    )
    config = AutoConfig.from_pretrained(out / "base")
    read = GPTQConfig.from_dict(config.quantization_config)  # transformers' GPTQ config reader
    assert (read.bits, read.group_size, read.sym, read.desc_act) == (2, 64, False, False)
    assert read.format == qconf["checkpoint_format"]
    state = load_file(str(out / "base" / "model.safetensors"))
    ours = tiny_runs.model("cloq")
    layers = {n: m for n, m in ours.model.named_modules() if hasattr(m, "qtensor")}
    dense = {}
    exact = True
    for name, layer in layers.items():
        qt = layer.qtensor()
        out_f, in_f = qt.shape
        codes = gptq_unpack(state[f"{name}.qweight"].numpy(), 2).T  # (out, in)
        zeros = gptq_unpack(state[f"{name}.qzeros"].numpy().T, 2)  # (out, groups)
        if qconf["checkpoint_format"] == "gptq":
            zeros = zeros + 1
        scales = state[f"{name}.scales"].T  # (out, groups), float16
        g_idx = state[f"{name}.g_idx"]
        assert np.array_equal(codes, qt.unpacked_codes().numpy())
        assert np.array_equal(zeros, qt.zeros.numpy())
        assert torch.equal(scales, qt.scales.half())
        exact &= torch.equal(scales.float(), qt.scales.float())
        assert torch.equal(g_idx.long(), torch.arange(in_f) // 64)
        groups = torch.from_numpy(codes - np.repeat(zeros, 64, axis=1)).float()
        dense[name] = groups * scales.float().repeat_interleave(64, dim=1)
        with torch.no_grad():  # qbench's layer with its scales as the checkpoint stores them
            layer.q_scales.copy_(layer.q_scales.half().to(layer.q_scales.dtype))
    assert manifest["exact"] == exact
    del config.quantization_config
    base = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain = {k: v for k, v in state.items() if k.rsplit(".", 1)[0] not in layers}
    plain.update({f"{n}.weight": w for n, w in dense.items()})
    missing, unexpected = base.load_state_dict(plain, strict=False)
    assert not unexpected and not missing
    model = peft_model(out, base)
    ref = logits(ours.model, ours.tokenizer)
    assert (logits(model, ours.tokenizer) - ref).abs().max().item() <= 1e-5
    with model.disable_adapter():
        assert (logits(model, ours.tokenizer) - ref).abs().max().item() > 1e-2


def test_bitsandbytes_backend_exports_the_same_nf4_base(tiny_runs, tmp_path):
    """A qlora run on bitsandbytes' Linear4bit (not in the prepared cache: prepared again)
    exports the same NF4 tensors as the native run; its peft model has its logits."""
    from transformers import AutoModelForCausalLM

    manifest = export(tiny_runs, "qlora-bnb", tmp_path / "bnb")
    assert manifest["base_format"] == "bnb-nf4"
    assert manifest["prepared_from"].startswith("prepared again")
    export(tiny_runs, "qlora", tmp_path / "native")
    bnb = load_file(str(tmp_path / "bnb" / "base" / "model.safetensors"))
    native = load_file(str(tmp_path / "native" / "base" / "model.safetensors"))
    assert sorted(bnb) == sorted(native)
    for key in bnb:
        assert torch.equal(bnb[key], native[key]), key
    ours = tiny_runs.model("qlora-bnb")
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "bnb" / "base", dtype=torch.float32)
    ref = logits(ours.model, ours.tokenizer)
    assert (logits(peft_model(tmp_path / "bnb", base), ours.tokenizer) - ref).abs().max() <= 1e-5


def test_merged_checkpoint_has_qbench_logits(tiny_runs, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    manifest = export(tiny_runs, "qlora", out, "--format", "merged")
    assert manifest["base_format"] == "merged" and not (out / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    ours = tiny_runs.model("qlora")
    ref = logits(ours.model, ours.tokenizer)
    assert (logits(model, ours.tokenizer) - ref).abs().max().item() <= 1e-4


def test_init_stage_on_a_dense_bf16_base(tiny_runs, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "init"
    res = tiny_runs.cli(
        "export-model", tiny_runs.ids["cloq"], out, "--stage", "init", "--base", "dense"
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "qbench-export.json").read_text())
    assert manifest["stage"] == "init" and manifest["base_format"] == "dense"
    assert any("dequantized" in note for note in manifest["notes"])
    init, trained = tiny_runs.model("cloq", "init"), tiny_runs.model("cloq")
    adapters = load_file(str(out / "adapter_model.safetensors"))
    name = "model.layers.0.self_attn.q_proj"
    a = adapters[f"base_model.model.{name}.lora_A.weight"]
    assert torch.equal(a, init.model.get_submodule(name).lora_A.detach())
    assert not torch.equal(a, trained.model.get_submodule(name).lora_A.detach())
    base = AutoModelForCausalLM.from_pretrained(out / "base", dtype=torch.float32)
    ref = logits(init.model, init.tokenizer)
    got = logits(peft_model(out, base), init.tokenizer)
    assert (got - ref).abs().max().item() <= 0.02 * max(1.0, ref.abs().max().item())


def _failed_and_bare_runs(tiny_runs) -> dict[str, str]:
    """A FAILED run and a FINISHED run without the adapters artifact, with a real spec."""
    from mlflow import MlflowClient

    from suite.tracking import Tracker

    client = MlflowClient(tiny_runs.uri)
    source = client.get_run(tiny_runs.ids["qlora"])
    spec = json.loads(Path(client.download_artifacts(source.info.run_id, "spec.json")).read_text())
    tracker = Tracker.connect(tiny_runs.uri, "bad-input")
    out = {}
    for status in ("FAILED", "FINISHED"):
        tags = {k: v for k, v in source.data.tags.items() if not k.startswith("mlflow.")}
        run_id = tracker.start(f"{status}-run", tags, {})
        tracker.json(run_id, spec, "spec.json")
        tracker.finish(run_id, status)
        out[status] = run_id
    return out


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_runs, tmp_path):
    made = _failed_and_bare_runs(tiny_runs)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    cases = [
        ("0" * 32, tmp_path / "a", "unknown run"),
        ("deadbeefdeadbeef", tmp_path / "b", "unknown run"),
        ("not-a-run", tmp_path / "c", "unknown run"),
        (made["FAILED"], tmp_path / "d", "is FAILED, not FINISHED"),
        (made["FINISHED"], tmp_path / "e", "has no model/adapters.safetensors"),
        (tiny_runs.ids["qlora"], full, "exists and is not empty"),
    ]
    for run, out, fragment in cases:
        res = tiny_runs.cli("export-model", run, out)
        assert res.exit_code == 2, (run, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qbench: error:"), res.output
        assert fragment in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
