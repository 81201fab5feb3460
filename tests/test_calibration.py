"""The Calibrator: train-split windows only, seeded, a disjoint holdout, exact Gram matrices,
inputs that follow the processed blocks, and live memory of one block whatever the depth."""

from __future__ import annotations

import gc
import warnings

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from suite.calibration import build_calibration, capture_inputs, sample_offsets, walk
from suite.lora import set_module
from suite.quant.nf import quantize_nf
from suite.quant.qlinear import QLinear
from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, SpecError, TrainSpec
from tasks.base import parse_source

pytestmark = pytest.mark.usefixtures("one_thread")


def run_spec(calib: CalibSpec) -> RunSpec:
    return RunSpec("synthetic:tiny", "cloq", "wikitext2", Budget(), calib, TrainSpec(), EvalSpec())


def test_windows_come_only_from_the_train_split(tiny, monkeypatch):
    import tasks.wikitext2 as wt

    model, tok = tiny
    asked = []
    original = wt.read_lines

    def spy(source, split):
        asked.append(split)
        return original(source, split)

    monkeypatch.setattr(wt, "read_lines", spy)
    calib = build_calibration(model, tok, run_spec(CalibSpec(6, 64, 3, seed=1)), "cpu")
    assert asked == ["train"] and calib.split == "train"
    ids = wt.joined_ids(tok, parse_source("sample"), "train")
    for window, start in zip(calib.windows, calib.offsets, strict=True):
        assert torch.equal(window, ids[start : start + 64])
    for window, start in zip(calib.holdout, calib.holdout_offsets, strict=True):
        assert torch.equal(window, ids[start : start + 64])
    # and the test split's text is nowhere in them: a test window is not a train window
    test_ids = wt.joined_ids(tok, parse_source("sample"), "test")
    assert not any(torch.equal(test_ids[:64], w) for w in calib.windows)


def test_windows_are_seeded():
    a = sample_offsets(50_000, CalibSpec(16, 128, 4, seed=0))
    b = sample_offsets(50_000, CalibSpec(16, 128, 4, seed=0))
    c = sample_offsets(50_000, CalibSpec(16, 128, 4, seed=1))
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]


@pytest.mark.parametrize("seed", range(20))
def test_holdout_windows_share_no_token_with_calibration_windows(seed):
    length = 64
    # a short stream, so calibration windows crowd around the holdout windows
    calib, hold = sample_offsets(1000, CalibSpec(40, length, 5, seed=seed))
    assert len(calib) == 40 and len(hold) == 5
    spans = [set(range(s, s + length)) for s in hold]
    for i, a in enumerate(spans):
        assert all(not a & b for b in spans[i + 1 :])
    for start in calib:
        assert 0 <= start <= 1000 - length
        assert all(not set(range(start, start + length)) & h for h in spans)


def test_too_short_a_source_is_a_clear_error():
    with pytest.raises(SpecError, match="fewer than"):
        sample_offsets(500, CalibSpec(4, 128, 4))


def quantize_block(model, block):
    """What a method does: replace the block's linears (here NF2, no adapter)."""
    for name, linear in block.linears().items():
        qt = quantize_nf(linear.weight.detach(), 2, 64)
        a, b = torch.zeros(2, linear.in_features), torch.zeros(linear.out_features, 2)
        set_module(model, name, QLinear(qt, a, b, 1.0, linear.bias))


@torch.no_grad()
def test_captured_block_kwargs_carry_no_kv_cache(tiny):
    model, _ = tiny
    windows = torch.randint(0, 256, (3, 16))
    inputs, kwargs = capture_inputs(model, windows, "cpu", batch_size=2)
    assert not {"cache", "past_key_values"} & set(kwargs) and kwargs["use_cache"] is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.model.layers[0](inputs, **kwargs)
    assert [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))] == []
    out = out[0] if isinstance(out, tuple) else out
    hidden = model(input_ids=windows, output_hidden_states=True).hidden_states
    assert torch.allclose(inputs, hidden[0]) and torch.allclose(out, hidden[1], atol=1e-5)


def test_grams_targets_and_quantized_path(tiny):
    model, tok = tiny
    calib = build_calibration(model, tok, run_spec(CalibSpec(5, 48, 2)), "cpu", batch_size=2)
    full_hidden = model(input_ids=calib.windows, output_hidden_states=True).hidden_states
    seen = {}
    for block in calib.blocks(model, targets=True):
        # the inputs each target layer sees, captured directly in the block as it is now
        xs, hooks = {}, []
        for name, mod in block.linears().items():

            def grab(m, args, name=name, xs=xs):
                xs.setdefault(name, []).append(args[0].reshape(-1, args[0].shape[-1]))

            hooks.append(mod.register_forward_pre_hook(grab))
        block.forward(block.inputs)
        for h in hooks:
            h.remove()
        grams = block.grams()
        for name, parts in xs.items():
            x = torch.cat(parts).double()
            torch.testing.assert_close(grams[name], x.T @ x, rtol=1e-5, atol=1e-3)
        assert grams[f"{block.name}.self_attn.q_proj"] is grams[f"{block.name}.self_attn.v_proj"]
        # targets: the full-precision block on full-precision inputs
        if block.index + 1 < len(full_hidden) - 1:
            torch.testing.assert_close(block.targets, full_hidden[block.index + 1])
        seen[block.index] = block.inputs.clone()
        quantize_block(model, block)
    # the quantized-path inputs of block k are the processed model's hidden states
    processed = model(input_ids=calib.windows, output_hidden_states=True).hidden_states
    torch.testing.assert_close(seen[1], processed[1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(seen[1], full_hidden[1], atol=1e-3)


def llama(blocks: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=blocks,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=259,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


def live_bytes(exclude: set[int]) -> int:
    """Bytes of the distinct storages of live tensors, except the ``exclude`` storages."""
    seen, total = set(), 0
    for obj in gc.get_objects():
        if type(obj) is torch.Tensor:  # plain tensors: parameters are excluded by type
            storage = obj.untyped_storage()
            ptr = storage.data_ptr()
            if ptr and ptr not in seen and ptr not in exclude:
                seen.add(ptr)
                total += storage.nbytes()
    return total


def peak_live_bytes(blocks: int, windows: torch.Tensor, targets: bool) -> int:
    model = llama(blocks)
    exclude = {t.untyped_storage().data_ptr() for t in model.state_dict().values()}
    exclude |= {t.untyped_storage().data_ptr() for t in model.buffers()}
    exclude.add(windows.untyped_storage().data_ptr())
    base = live_bytes(exclude)
    peak = 0
    for block in walk(model, windows, "cpu", batch_size=4, targets=targets):
        block.grams()
        peak = max(peak, live_bytes(exclude) - base)
    return peak


@pytest.mark.parametrize("targets", [False, True])
def test_live_memory_is_one_blocks_whatever_the_depth(targets):
    windows = torch.randint(0, 256, (16, 96))
    one_copy = 16 * 96 * 64 * 4
    shallow = peak_live_bytes(2, windows, targets)
    deep = peak_live_bytes(5, windows, targets)
    assert deep == shallow
    copies = 2 if targets else 1
    # the block buffers, plus small things (captured rotary tables, a mask)
    assert copies * one_copy <= shallow < (copies + 0.5) * one_copy


@torch.no_grad()
def test_the_walk_reproduces_a_gemma3_model_with_sliding_and_global_blocks():
    """Gemma 3 calls its sliding-window blocks and its global-attention blocks with different
    rotary embeddings (and masks); walking the unchanged blocks must give the model's own
    hidden states at every depth, the global block and those after it included."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config).eval()
    windows = torch.randint(0, 300, (3, 24))
    hidden = model(input_ids=windows, output_hidden_states=True).hidden_states
    depth = 0
    for block in walk(model, windows, "cpu", batch_size=2):
        block.done()
        depth = block.index + 1
        if depth < config.num_hidden_layers:  # the last entry has the final norm applied
            assert torch.allclose(block.inputs, hidden[depth], atol=1e-5), block.name
    assert depth == config.num_hidden_layers
