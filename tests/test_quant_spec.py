"""One quantizer config: ``quant.<name>.*`` is one typed section that every method's quantizer
is built from, recorded on the run and part of the prepared model's key; profiles carry
``method.<name>.*`` and ``quant.<name>.*`` sections below the sweep's own settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from suite.context import RunContext, Settings
from suite.prepare import changed_settings, method_of, prepare_key
from suite.quant.config import QuantSpec
from suite.spec import SpecError
from suite.sweep import build_sweep, load_profile


def spec_of(method: str, *sets: str, quantizer: str | None = None, profile: str | None = None):
    sweep = build_sweep(
        models="synthetic:tiny",
        methods=method,
        bits="2",
        sets=list(sets),
        quantizer=quantizer,
        profile=profile,
    )
    return sweep.specs[0]


def test_every_method_gets_the_same_gptq() -> None:
    sets = ("quant.gptq.damp=0.05", "quant.gptq.act_order=true", "quant.gptq.block_size=64")
    built = []
    for method in ("qlora", "loftq", "cloq", "gptq-lora"):
        spec = spec_of(method, *sets, quantizer="gptq")
        quantizer = method_of(spec).make_quantizer(spec.budget)
        assert quantizer.name == "gptq"
        built.append(dataclasses.asdict(quantizer))
    assert all(b == built[0] for b in built)
    assert (built[0]["damp"], built[0]["act_order"], built[0]["block_size"]) == (0.05, True, 64)


def test_quant_settings_are_params_and_change_the_prepare_key() -> None:
    base = spec_of("cloq", profile="paper")  # the paper profile keeps every default
    assert base.flat_params()["quant.gptq.damp"] == "0.01"
    assert base.flat_params()["quant.magr.iters"] == "200"
    # every setting is recorded as the run uses it: unset scale dtypes are the budget's
    # (float16), and cloq's NF base would not double-quantize (qlora's own setting)
    for key, value in QuantSpec().to_dict().items():
        for field, default in value.items():
            if field == "scale_dtype":
                default = "float16"
            elif (key, field) == ("nf", "double_quant"):
                default = False
            assert base.flat_params()[f"quant.{key}.{field}"] == str(default)
    changes = [
        "quant.gptq.damp=0.02",
        "quant.gptq.group_params=fresh",
        "quant.gptq.cd_passes=1",
        "quant.magr.iters=3",
        "quant.nf.scale_dtype=float32",  # a section cloq does not read still changes the key
        "quant.nf.double_quant=true",
        "quant.lwc.init_logit=3",
    ]
    ctx = RunContext.create(Settings(cache=Path("unused"), device="cpu"), "quick")
    keys = {prepare_key(ctx, base)}
    for change in changes:
        spec = spec_of("cloq", change, profile="paper")
        assert spec.flat_params()[change.split("=")[0]] == str(
            getattr(
                getattr(QuantSpec.from_items(spec.quant), change.split(".")[1]),
                change.split(".")[2].split("=")[0],
            )
        )
        keys.add(prepare_key(ctx, spec))
    assert len(keys) == len(changes) + 1


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("quant.gptq.dampp=1", "unknown setting 'quant.gptq.dampp'; allowed: quant.gptq.damp"),
        ("quant.awq.bits=1", "unknown setting 'quant.awq'; allowed: quant.gptq.*"),
        ("quant.gptq.damp=-1", "quant.gptq.damp -1.0 is not allowed; allowed: a number >= 0"),
        ("quant.gptq.group_params=late", "quant.gptq.group_params 'late' is not allowed"),
        ("quant.magr.iters=x", "iters='x' is not a valid int"),
        ("quant.nf.scale_dtype=int8", "quant.nf.scale_dtype 'int8' is not allowed"),
        ("method.cloq.magr=true", "unknown setting 'method.cloq.magr'; allowed: method.cloq.damp"),
        ("method.loftq.damp=0.1", "unknown setting 'method.loftq.damp'"),
    ],
)
def test_bad_quant_settings_name_the_value(setting, fragment) -> None:
    with pytest.raises(SpecError) as err:
        spec_of("cloq" if "cloq" in setting else "loftq", setting)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_quick_profile_shortens_and_says_so() -> None:
    quick, paper = load_profile("quick"), load_profile("paper")
    assert quick["method"] and quick["quant"]
    assert not paper.get("method") and not paper.get("quant")  # the released defaults
    spec = spec_of("apiq")
    changed = changed_settings(spec)
    epochs = quick["method"]["apiq"]["epochs"]
    assert method_of(spec).config.epochs == epochs
    assert f"method.apiq.epochs={epochs} (released: 20)" in changed
    assert spec.flat_params()["method.apiq.epochs"] == str(epochs)
    # --set wins over the profile; the paper profile records nothing changed
    assert method_of(spec_of("apiq", "method.apiq.epochs=3")).config.epochs == 3
    assert changed_settings(spec_of("apiq", profile="paper")) == []
    # only the quant sections a method reads are reported: qlora's NF base ignores MagR
    cloq, qlora = spec_of("cloq"), spec_of("qlora")
    assert any(c.startswith("quant.magr.iters=") for c in changed_settings(cloq))
    assert changed_settings(qlora) == []
    # lists read as --set spells them; the released "every choice of the grid" reads "all"
    lq = changed_settings(spec_of("lqlora"))
    blocks = ",".join(map(str, quick["method"]["lqlora"]["block_choices"]))
    assert f"method.lqlora.block_choices={blocks} (released: all)" in lq


def test_unset_quant_settings_are_the_budgets_and_the_methods_own() -> None:
    qlora, loftq = spec_of("qlora"), spec_of("loftq")
    q_nf, l_nf = QuantSpec.from_items(qlora.quant).nf, QuantSpec.from_items(loftq.quant).nf
    assert (q_nf.double_quant, l_nf.double_quant) == (True, False)  # QLoRA's DQ is qlora's own
    assert q_nf.scale_dtype == l_nf.scale_dtype == qlora.budget.scale_dtype == "float16"
    assert method_of(qlora).make_quantizer(qlora.budget).dq is not None
    assert method_of(loftq).make_quantizer(loftq.budget).dq is None
    # set, a quant setting is every method's, and a change from the method's own is reported
    for method in ("qlora", "loftq"):
        spec = spec_of(method, "quant.nf.double_quant=false")
        assert QuantSpec.from_items(spec.quant).nf.double_quant is False
    assert changed_settings(spec_of("qlora", "quant.nf.double_quant=false")) == [
        "quant.nf.double_quant=False (released: True)"
    ]
    # the budget's scale dtype is every unset scale dtype; an explicit one wins for its section
    wide = spec_of("cloq", "budget.scale_dtype=float32", "quant.int.scale_dtype=bfloat16")
    quant = QuantSpec.from_items(wide.quant)
    assert (quant.gptq.scale_dtype, quant.nf.scale_dtype, quant.lwc.scale_dtype) == ("float32",) * 3
    assert quant.int.scale_dtype == "bfloat16"
    assert method_of(wide).make_quantizer(wide.budget).gptq.scale_dtype == "float32"
