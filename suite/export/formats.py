"""Storage formats of an exported base model: each writes qbench's layers as a library reads them.

A format is planned once per model (:meth:`plan`: the layers' QTensors in, the format's
decisions out, or :class:`Unsupported` with the reason) and then writes each target layer's
tensors under the layer's name. :data:`FORMATS` lists them in the order they are tried; the
first whose plan succeeds stores the base, and :class:`Dense` always does. To add a storage
format, add a class here with ``name``, ``library``, ``plan``, ``config``, ``extra_files``,
``tensors``, ``reads`` (does a checkpoint's ``quantization_config`` name this format?) and
``read``, and put it in :data:`FORMATS`; the exporter and the reader take it from there.

- :class:`BnbNF4`: every target layer NF4 (bits 4, a block size bitsandbytes knows): the
  codes, absmax and code book as bitsandbytes' ``Params4bit`` serializes them (``weight`` as
  packed uint8 of shape (numel/2, 1), ``weight.absmax``, ``weight.quant_map`` and the packed
  ``weight.quant_state.bitsandbytes__nf4`` JSON), loaded by transformers' ``BitsAndBytesConfig``
  path. Exact: the codes are bitsandbytes' (high nibble first), the absmax float32; or, where
  every layer holds its absmax double-quantized as QLoRA does (``compress_statistics``), the
  8-bit absmax codes, ``weight.nested_absmax`` (float32 per block), ``weight.nested_quant_map``
  (the dynamic map) and the offset and block in the JSON, under ``bnb_4bit_use_double_quant``.
- :class:`GPTQ`: every target layer INT-k (2, 3, 4, 8 bits), one bits and group size: the GPTQ
  checkpoint layout (``qweight``, ``qzeros``, ``scales``, ``g_idx``) with a
  ``quantize_config.json``, loaded by transformers' GPTQ integration and GPTQModel. qbench's
  groups are consecutive input columns, so ``g_idx[i] = i // group_size``. Zero points are
  stored as GPTQ's original ("v1") checkpoints store them, minus one, when every zero is at
  least 1; otherwise as they are, under ``checkpoint_format: gptq_v2``. Scales are float16 in
  this layout: float32 scales are rounded, and the plan says so.
- :class:`Dense`: anything else (NF2/NF3/NF8, LQ-LoRA's mixed bits and blocks, mixed schemes,
  an unquantized base): each base weight dequantized to the export dtype, with a note.

    >>> import torch
    >>> from suite.quant.nf import quantize_nf
    >>> _ = torch.manual_seed(0)
    >>> layers = {"q_proj": Layer(quantize_nf(torch.randn(64, 128), 4, 64))}
    >>> choose(layers, torch.float32).name
    'bnb-nf4'
    >>> layers = {"q_proj": Layer(quantize_nf(torch.randn(64, 128), 3, 64))}
    >>> plan = choose(layers, torch.bfloat16)
    >>> plan.name, plan.exact
    ('dense', False)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from suite.export.gptq_pack import pack_rows, unpack_rows
from suite.quant.dq import DoubleQuant, DQSpec, dynamic_map
from suite.quant.nf import nf_codebook
from suite.quant.packing import unpack
from suite.quant.qtensor import QTensor, dequantize

BNB_BLOCKS = (32, 64, 128, 256, 512, 1024, 2048, 4096)


class Unsupported(ValueError):
    """A format cannot store these layers; the message says why."""


@dataclass(frozen=True)
class Layer:
    """One target layer's frozen base: a QTensor, or a dense weight; and its bias."""

    qtensor: QTensor | None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int]:
        if self.qtensor is not None:
            return self.qtensor.shape
        assert self.weight is not None
        return (int(self.weight.shape[0]), int(self.weight.shape[1]))

    def dense(self) -> torch.Tensor:
        """The base weight in float32 (dequantized for a packed base)."""
        if self.qtensor is not None:
            return dequantize(self.qtensor, torch.float32)
        assert self.weight is not None
        return self.weight.float()

    def describe(self) -> str:
        qt = self.qtensor
        if qt is None:
            return "dense"
        meta = qt.meta()
        scales = f"{meta['scale_dtype']} scales" if qt.dq is None else f"{qt.dq.spec.label} scales"
        return f"{qt.scheme}{qt.bits} group {qt.group_size}, {scales}"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _bias(layer: Layer, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {} if layer.bias is None else {"bias": layer.bias.to(dtype)}


@dataclass(frozen=True)
class Dense:
    """Each base weight as a dense tensor in the export dtype (dequantized where packed)."""

    name: ClassVar[str] = "dense"
    library: ClassVar[str] = "transformers (any loader of a plain checkpoint)"
    dtype: torch.dtype
    notes: tuple[str, ...] = ()
    exact: bool = True

    @classmethod
    def plan(cls, layers: dict[str, Layer], dtype: torch.dtype) -> Dense:
        packed = sorted({layer.describe() for layer in layers.values() if layer.qtensor})
        notes = []
        if packed:
            notes.append(
                "dequantized base: the quantized weights (" + "; ".join(packed) + ") have no "
                f"format another library reads here, so each is stored as Q in {dtype_name(dtype)}"
            )
        else:
            notes.append(f"unquantized base, stored in {dtype_name(dtype)}")
        exact = dtype == torch.float32 or all(
            torch.equal(layer.dense().to(dtype).float(), layer.dense()) for layer in layers.values()
        )
        if not exact:
            notes.append(f"rounding the base to {dtype_name(dtype)} changes it slightly")
        return cls(dtype, tuple(notes), exact)

    def config(self) -> dict[str, Any] | None:
        return None

    @staticmethod
    def reads(quantization_config: dict[str, Any] | None) -> bool:
        return not quantization_config

    def extra_files(self) -> dict[str, Any]:
        return {}

    def tensors(self, layer: Layer) -> dict[str, torch.Tensor]:
        return {"weight": layer.dense().to(self.dtype), **_bias(layer, self.dtype)}

    @staticmethod
    def read(tensors: dict[str, torch.Tensor], shape: tuple[int, int], config: Any) -> Any:
        return tensors["weight"]


@dataclass(frozen=True)
class BnbNF4:
    """bitsandbytes' NF4 serialization (transformers' ``BitsAndBytesConfig(load_in_4bit=True)``)."""

    name: ClassVar[str] = "bnb-nf4"
    library: ClassVar[str] = "transformers + bitsandbytes (BitsAndBytesConfig, nf4)"
    dtype: torch.dtype
    skip: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    exact: bool = True
    double_quant: bool = False

    @classmethod
    def plan(cls, layers: dict[str, Layer], dtype: torch.dtype, skip: tuple[str, ...] = ()):
        book = nf_codebook(4)
        nested = {name: _bnb_nested(layer.qtensor) for name, layer in layers.items()}
        if len(set(nested.values())) > 1:
            raise Unsupported("some layers double-quantize their absmax and some do not")
        for name, layer in layers.items():
            qt = layer.qtensor
            if qt is None or qt.scheme != "nf" or qt.bits != 4:
                raise Unsupported(f"{name} is {layer.describe()}, not NF4")
            if qt.group_size not in BNB_BLOCKS:
                raise Unsupported(f"{name}: block {qt.group_size} is not a bitsandbytes block size")
            if not torch.equal(qt.codebook.cpu(), book):
                raise Unsupported(f"{name}: its code book is not bitsandbytes' NF4")
        double = any(nested.values())
        what = "double-quantized absmax (compress_statistics)" if double else "float32 absmax"
        note = f"NF4 codes and {what} exactly as qbench stores them"
        return cls(dtype, skip, (note,), double_quant=double)

    def config(self) -> dict[str, Any]:
        return {
            "quant_method": "bitsandbytes",
            "load_in_4bit": True,
            "load_in_8bit": False,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_use_double_quant": self.double_quant,
            "bnb_4bit_compute_dtype": dtype_name(self.dtype),
            "bnb_4bit_quant_storage": "uint8",
            "llm_int8_skip_modules": list(self.skip),
        }

    @staticmethod
    def reads(quantization_config: dict[str, Any] | None) -> bool:
        qc = quantization_config or {}
        return qc.get("quant_method") == "bitsandbytes" and qc.get("bnb_4bit_quant_type") == "nf4"

    def extra_files(self) -> dict[str, Any]:
        return {}

    def tensors(self, layer: Layer) -> dict[str, torch.Tensor]:
        qt = layer.qtensor
        assert qt is not None
        state: dict[str, Any] = {
            "quant_type": "nf4",
            "blocksize": qt.group_size,
            "dtype": dtype_name(self.dtype),
            "shape": list(qt.shape),
        }
        out = {"weight": qt.codes.cpu().reshape(-1, 1), "weight.quant_map": qt.codebook.cpu()}
        if qt.dq is None:
            out["weight.absmax"] = qt.scales.cpu().float().reshape(-1)
        else:  # bitsandbytes' nested state: one 8-bit code per absmax, read on its dynamic map
            dq = qt.dq.to("cpu")
            out["weight.absmax"] = unpack(dq.codes, 8, dq.count)
            out["weight.nested_absmax"] = dq.scales.float()
            out["weight.nested_quant_map"] = dynamic_map()
            state.update(
                nested_blocksize=dq.spec.block,
                nested_dtype="float32",
                nested_offset=float(dq.offset.item()),
            )
        packed = torch.tensor(list(json.dumps(state).encode("utf-8")), dtype=torch.uint8)
        out["weight.quant_state.bitsandbytes__nf4"] = packed
        return {**out, **_bias(layer, self.dtype)}

    @staticmethod
    def read(tensors: dict[str, torch.Tensor], shape: tuple[int, int], config: Any) -> QTensor:
        state = json.loads(bytes(tensors["weight.quant_state.bitsandbytes__nf4"].tolist()))
        block = int(state["blocksize"])
        codes = tensors["weight"].reshape(-1)
        book = tensors["weight.quant_map"]
        if "weight.nested_absmax" not in tensors:
            absmax = tensors["weight.absmax"].float().reshape(shape[0], shape[1] // block)
            return QTensor("nf", 4, block, shape, codes, absmax, None, book)
        if not torch.equal(tensors["weight.nested_quant_map"].float(), dynamic_map()):
            raise Unsupported("its nested quant map is not bitsandbytes' dynamic map")
        dq = DoubleQuant(
            DQSpec(block=int(state["nested_blocksize"])),
            tensors["weight.absmax"].numel(),
            tensors["weight.absmax"].to(torch.uint8).reshape(-1),
            tensors["weight.nested_absmax"].float().reshape(-1),
            torch.tensor([float(state["nested_offset"])], dtype=torch.float32),
        )
        return QTensor("nf", 4, block, shape, codes, None, None, book, dq)


def _bnb_nested(qt: QTensor | None) -> bool:
    """Whether ``qt`` holds its absmax double-quantized as bitsandbytes' nested state does
    (Unsupported for another double quantization, which bitsandbytes cannot read)."""
    if qt is None or qt.dq is None:
        return False
    spec = qt.dq.spec
    if spec.kind != "dynamic" or spec.bits != 8 or spec.scale_dtype != "float32":
        raise Unsupported(f"its absmax is double-quantized as {spec.label}, not bitsandbytes'")
    return True


@dataclass(frozen=True)
class GPTQ:
    """The GPTQ checkpoint layout (transformers' GPTQ integration, GPTQModel)."""

    name: ClassVar[str] = "gptq"
    library: ClassVar[str] = "transformers + GPTQModel (GPTQConfig), GPTQModel, vLLM"
    dtype: torch.dtype
    bits: int = 4
    group_size: int = 64
    checkpoint_format: str = "gptq"  # gptq (zeros stored minus one) | gptq_v2 (zeros as they are)
    modules: tuple[str, ...] = ()  # leaf names quantized in each block, when not all of them
    notes: tuple[str, ...] = ()
    exact: bool = True

    @classmethod
    def plan(cls, layers: dict[str, Layer], dtype: torch.dtype, skip: tuple[str, ...] = ()):
        kinds = set()
        for name, layer in layers.items():
            qt = layer.qtensor
            if qt is None or qt.scheme != "int":
                raise Unsupported(f"{name} is {layer.describe()}, not INT")
            out_f, in_f = qt.shape
            if in_f % 32 or (out_f * qt.bits) % 32:
                raise Unsupported(f"{name}: shape {qt.shape} does not pack into 32-bit words")
            kinds.add((qt.bits, qt.group_size))
        if len(kinds) != 1:
            raise Unsupported(f"mixed bits / group sizes {sorted(kinds)}")
        ((bits, group),) = kinds
        qts = [layer.qtensor for layer in layers.values()]
        v1 = all(int(qt.zeros.min()) >= 1 for qt in qts)  # type: ignore[union-attr]
        notes = [f"INT{bits} group {group}: codes and zero points exactly as qbench stores them"]
        if not v1:
            notes.append("some zero points are 0, which GPTQ's v1 layout cannot hold: gptq_v2")
        exact = all(torch.equal(qt.scales.half().float(), qt.scales.float()) for qt in qts)
        if not exact:
            rel = max(
                ((qt.scales.half().float() - qt.scales.float()).abs() / qt.scales.float())
                .max()
                .item()
                for qt in qts
            )
            notes.append(f"scales rounded to float16 (largest relative change {rel:.2g})")
        # GPTQ loaders quantize every linear layer of a block unless told which: name them only
        # when some layer inside a block stays unquantized (top-level ones, lm_head, never are)
        partial = any("." in name for name in skip)
        modules = tuple(sorted({n.rsplit(".", 1)[-1] for n in layers})) if partial else ()
        fmt = "gptq" if v1 else "gptq_v2"
        return cls(dtype, bits, group, fmt, modules, tuple(notes), exact)

    def quantize_config(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "group_size": self.group_size,
            "desc_act": False,
            "sym": False,
            "true_sequential": True,
            "lm_head": False,
            "quant_method": "gptq",
            "checkpoint_format": self.checkpoint_format,
            "pack_dtype": "int32",
            "meta": {"quantizer": ["qbench"]},
        }

    def config(self) -> dict[str, Any]:
        out = self.quantize_config()
        out["format"] = out.pop("checkpoint_format")
        if self.modules:
            out["modules_in_block_to_quantize"] = [list(self.modules)]
        return out

    def extra_files(self) -> dict[str, Any]:
        return {"quantize_config.json": self.quantize_config()}

    @staticmethod
    def reads(quantization_config: dict[str, Any] | None) -> bool:
        return (quantization_config or {}).get("quant_method") == "gptq"

    def tensors(self, layer: Layer) -> dict[str, torch.Tensor]:
        qt = layer.qtensor
        assert qt is not None
        out_f, in_f = qt.shape
        zeros = qt.zeros.cpu().to(torch.int64)  # type: ignore[union-attr]
        if self.checkpoint_format == "gptq":
            zeros = zeros - 1
        return {
            "qweight": pack_rows(qt.unpacked_codes().cpu().T, qt.bits),
            "qzeros": pack_rows(zeros, qt.bits).T.contiguous(),
            "scales": qt.scales.cpu().T.contiguous().half(),
            "g_idx": (torch.arange(in_f) // qt.group_size).to(torch.int32),
            **_bias(layer, torch.float16),
        }

    @staticmethod
    def read(tensors: dict[str, torch.Tensor], shape: tuple[int, int], config: Any) -> QTensor:
        from suite.quant.packing import pack

        bits, group = int(config["bits"]), int(config["group_size"])
        out_f, in_f = shape
        codes = unpack_rows(tensors["qweight"], bits, in_f).T
        zeros = unpack_rows(tensors["qzeros"].T.contiguous(), bits, out_f)
        if config.get("format", config.get("checkpoint_format")) == "gptq":
            zeros = zeros + 1
        scales = tensors["scales"].T.contiguous()
        return QTensor(
            "int",
            bits,
            group,
            shape,
            pack(codes.to(torch.uint8), bits),
            scales,
            zeros.to(torch.uint8).contiguous(),
            None,
        )


FORMATS: tuple[Any, ...] = (BnbNF4, GPTQ, Dense)


@dataclass
class Choice:
    """Which formats were tried and why they were passed over."""

    passed_over: dict[str, str] = field(default_factory=dict)


def choose(
    layers: dict[str, Layer],
    dtype: torch.dtype,
    skip: tuple[str, ...] = (),
    only: str | None = None,
    why: Choice | None = None,
) -> Any:
    """The plan of the first format in :data:`FORMATS` (or just ``only``) that stores ``layers``."""
    for fmt in FORMATS:
        if only is not None and fmt.name != only:
            continue
        try:
            if fmt is Dense:
                return Dense.plan(layers, dtype)
            return fmt.plan(layers, dtype, skip)
        except Unsupported as err:
            if why is not None:
                why.passed_over[fmt.name] = str(err)
    raise Unsupported(f"no format stores these layers ({why.passed_over if why else ''})")
