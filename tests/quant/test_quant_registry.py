from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from suite.quant import QUANTIZERS, build_quantizer, get_quantizer, quantizer_class
from suite.quant.config import QuantSpec
from suite.quant.gptq import gptq_quantize
from suite.quant.nf import quantize_nf
from suite.quant.uniform import quantize_int


def test_import_does_not_import_torch() -> None:
    code = "import sys, suite.quant; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_table_and_getter() -> None:
    assert sorted(QUANTIZERS) == ["gptq", "int", "magr-gptq", "nf"]
    for name in QUANTIZERS:
        assert get_quantizer(name).name == name
        assert quantizer_class(name).name == name
        assert build_quantizer(name, QuantSpec()).name == name
    assert get_quantizer("gptq", act_order=True, damp=0.1).act_order is True
    with pytest.raises(ValueError) as info:
        get_quantizer("x")
    assert str(info.value) == "unknown quantizer 'x'; allowed: gptq, int, magr-gptq, nf"


def test_quantizers_take_the_one_quant_section() -> None:
    quant = QuantSpec.from_overrides(
        {"gptq": {"damp": "0.2", "cd_passes": "3"}, "magr": {"iters": "7"}, "nf": {}}
    )
    gptq = build_quantizer("gptq", quant)
    assert (gptq.damp, gptq.cd_passes, gptq.block_size) == (0.2, 3, 128)
    magr_gptq = build_quantizer("magr-gptq", quant)
    assert magr_gptq.gptq == quant.resolved("float16").gptq and magr_gptq.magr.iters == 7
    # unset scale dtypes are the default budget's (float16); no double quantization unless set
    nf = build_quantizer("nf", quant)
    assert (nf.scale_dtype, nf.double_quant, nf.dq) == ("float16", False, None)
    dq = build_quantizer("nf", QuantSpec.from_overrides({"nf": {"double_quant": "true"}})).dq
    assert dq is not None and dq.kind == "dynamic" and dq.rounding == "nearest"


@pytest.mark.parametrize("name", ["nf", "int", "gptq", "magr-gptq"])
def test_bad_bits_and_group_sizes(name: str) -> None:
    q = get_quantizer(name)
    w = torch.randn(8, 128)
    gram = torch.eye(128)
    with pytest.raises(ValueError, match=r"bits=5 .*allowed: 2, 3, 4"):
        q.quantize(w, 5, 64, gram=gram)
    for gs in (48, 0, -64, 256):
        with pytest.raises(ValueError, match=rf"group_size={gs} .*positive divisor of 128"):
            q.quantize(w, 4, gs, gram=gram)
    with pytest.raises(ValueError, match="2-D floating"):
        q.quantize(torch.randn(128), 4, 64, gram=gram)


def test_messages_are_one_line() -> None:
    w = torch.randn(8, 100)
    for call in (
        lambda: quantize_nf(w, 5, 50),
        lambda: quantize_int(w, 1, 50),
        lambda: quantize_int(w, 4, 64),
        lambda: gptq_quantize(w, torch.eye(100), 4, 30),
        lambda: quantize_int(w, 4, 50, scale_dtype="float64"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert "\n" not in str(info.value) and "allowed" in str(info.value)
    # 8-bit NF (LQ-LoRA's search space) and 8-bit INT are offered
    assert quantize_int(w, 8, 50).bits == 8
    assert quantize_nf(w, 8, 50).bits == 8
