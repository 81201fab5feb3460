"""QTensor: a quantized weight matrix held as really packed codes plus its group statistics.

A QTensor stores an (out_features, in_features) weight in groups of ``group_size`` consecutive
elements along each row (the input dimension):

- ``scheme="nf"``: ``w ≈ codebook[code] * scales[row, group]`` (absmax scaling onto a NormalFloat
  code book in [-1, 1]); ``zeros`` is None.
- ``scheme="int"``: ``w ≈ (code - zeros[row, group]) * scales[row, group]`` (asymmetric uniform
  grid; ``scales`` is the step size, ``zeros`` the integer zero point); ``codebook`` is None.

``codes`` are bit-packed (see :mod:`suite.quant.packing`), in row-major order. ``zeros`` are held
*unpacked* in memory (uint8, shape (out, groups)) so dequantization needs no unpacking; they are
counted at ``bits`` bits each by :meth:`QTensor.nbytes` and stored packed at ``bits`` bits by
:meth:`QTensor.state_dict`, so the recorded size is the size of what is saved. An NF QTensor may
hold its absmax values double-quantized (``dq``, :mod:`suite.quant.dq`) instead of ``scales``.

Two sizes: :meth:`QTensor.nbytes` is everything stored (packed codes, scales in their stored
dtype or their double-quantized form, packed zeros, the float32 code book);
:meth:`QTensor.accounted_nbytes` leaves the code book aside, the one accounting of
:mod:`suite.budget` that :meth:`QTensor.effective_bits` reports: 4 + 16/64 = 4.25 for NF4 with
group 64 and float16 scales, 4 + 16/64 + 4/64 = 4.3125 for INT4 (the 4-bit budget).

    >>> import torch
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qtensor import QTensor, dequantize
    >>> _ = torch.manual_seed(0)
    >>> qt = quantize_nf(torch.randn(128, 256), bits=4, group_size=64, scale_dtype="float16")
    >>> qt.effective_bits(), qt.nbytes() - qt.accounted_nbytes()  # the NF4 code book aside
    (4.25, 64)
    >>> back = QTensor.from_state(qt.meta(), qt.state_dict())
    >>> torch.equal(dequantize(back), dequantize(qt))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from suite.budget import DEFAULT_SCALE_DTYPE
from suite.quant.dq import DoubleQuant
from suite.quant.packing import pack, packed_nbytes, unpack

SCHEME_BITS: dict[str, tuple[int, ...]] = {"nf": (2, 3, 4, 8), "int": (2, 3, 4, 8)}
SCALE_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
DEFAULT_SCALE = SCALE_DTYPES[DEFAULT_SCALE_DTYPE]  # what the quantizers store unless told
FORMAT_VERSION = 1


def check_scheme_bits(scheme: str, bits: int) -> None:
    """Raise ValueError unless ``scheme`` is known and ``bits`` is one of its widths."""
    if scheme not in SCHEME_BITS:
        raise ValueError(f"unknown scheme {scheme!r}; allowed: {', '.join(sorted(SCHEME_BITS))}")
    allowed = SCHEME_BITS[scheme]
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in allowed:
        raise ValueError(
            f"bits={bits!r} is not supported for scheme '{scheme}'; "
            f"allowed: {', '.join(map(str, allowed))}"
        )


def check_group_size(group_size: int, in_features: int) -> None:
    """Raise ValueError unless ``group_size`` is a positive integer dividing ``in_features``."""
    ok = isinstance(group_size, int) and not isinstance(group_size, bool) and group_size > 0
    if not ok or in_features % group_size:
        raise ValueError(
            f"group_size={group_size!r} is not allowed for in_features={in_features}; allowed: "
            f"a positive divisor of {in_features} (use {in_features} for one group per row)"
        )


def check_weight(w: torch.Tensor) -> tuple[int, int]:
    """Raise ValueError unless ``w`` is a 2-D floating tensor; return its shape."""
    if not isinstance(w, torch.Tensor) or w.dim() != 2 or not w.dtype.is_floating_point:
        what = f"{tuple(w.shape)} {w.dtype}" if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"weight must be a 2-D floating tensor (out, in), got {what}")
    return int(w.shape[0]), int(w.shape[1])


def scale_dtype_of(name: str | torch.dtype) -> torch.dtype:
    """The torch dtype for a scale dtype given by name or dtype; ValueError if not allowed."""
    if isinstance(name, torch.dtype) and name in SCALE_DTYPES.values():
        return name
    if isinstance(name, str) and name in SCALE_DTYPES:
        return SCALE_DTYPES[name]
    raise ValueError(f"scale dtype {name!r} is not allowed; allowed: {', '.join(SCALE_DTYPES)}")


def clip_factors(
    clip: torch.Tensor | float | None, shape: tuple[int, int], device: torch.device | str
) -> torch.Tensor | None:
    """Per-group shrink factors broadcast to ``shape`` (float32); ValueError unless in (0, 1]."""
    if clip is None:
        return None
    c = torch.as_tensor(clip, dtype=torch.float32, device=device)
    try:
        c = torch.broadcast_to(c, shape)
    except RuntimeError:
        raise ValueError(
            f"clip of shape {tuple(c.shape)} does not broadcast to the groups {shape}"
        ) from None
    if not bool(((c > 0) & (c <= 1)).all()):
        raise ValueError("clip factors must lie in (0, 1]")
    return c


def _dtype_name(dtype: torch.dtype) -> str:
    return next(k for k, v in SCALE_DTYPES.items() if v == dtype)


@dataclass(eq=False)
class QTensor:
    """Packed k-bit codes of an (out, in) weight plus per-group scales, zeros or a code book.

    ``scales`` is None exactly when ``dq`` holds the scales double-quantized (NF only).
    """

    scheme: str
    bits: int
    group_size: int
    shape: tuple[int, int]
    codes: torch.Tensor
    scales: torch.Tensor | None
    zeros: torch.Tensor | None = None
    codebook: torch.Tensor | None = None
    dq: DoubleQuant | None = None

    def __post_init__(self) -> None:
        self.shape = (int(self.shape[0]), int(self.shape[1]))
        check_scheme_bits(self.scheme, self.bits)
        out_f, in_f = self.shape
        check_group_size(self.group_size, in_f)
        groups = (out_f, in_f // self.group_size)
        if self.codes.dtype != torch.uint8 or self.codes.dim() != 1:
            raise ValueError(
                f"codes must be 1-D uint8, got {tuple(self.codes.shape)} {self.codes.dtype}"
            )
        if self.codes.numel() != packed_nbytes(out_f * in_f, self.bits):
            raise ValueError(
                f"codes hold {self.codes.numel()} bytes; {self.bits}-bit codes of a "
                f"{out_f}x{in_f} weight need {packed_nbytes(out_f * in_f, self.bits)}"
            )
        if self.dq is not None:
            if self.scheme != "nf" or self.scales is not None:
                raise ValueError("double-quantized scales need scheme 'nf' and scales=None")
            if self.dq.count != groups[0] * groups[1]:
                count = groups[0] * groups[1]
                raise ValueError(f"dq holds {self.dq.count} scales, expected {count}")
        elif self.scales is None:
            raise ValueError("a QTensor needs scales, or double-quantized scales (dq)")
        else:
            scale_dtype_of(self.scales.dtype)
            if tuple(self.scales.shape) != groups:
                raise ValueError(f"scales have shape {tuple(self.scales.shape)}, expected {groups}")
        if self.scheme == "int":
            if self.zeros is None or self.codebook is not None:
                raise ValueError("an 'int' QTensor needs zeros and no code book")
            if self.zeros.dtype != torch.uint8 or tuple(self.zeros.shape) != groups:
                raise ValueError(
                    f"zeros must be uint8 of shape {groups}, "
                    f"got {tuple(self.zeros.shape)} {self.zeros.dtype}"
                )
        else:
            if self.codebook is None or self.zeros is not None:
                raise ValueError("an 'nf' QTensor needs a code book and no zeros")
            if self.codebook.dtype != torch.float32 or self.codebook.shape != (1 << self.bits,):
                raise ValueError(
                    f"codebook must be float32 of shape ({1 << self.bits},), "
                    f"got {tuple(self.codebook.shape)} {self.codebook.dtype}"
                )

    @property
    def numel(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def device(self) -> torch.device:
        return self.codes.device

    def group_scales(self) -> torch.Tensor:
        """The (out, groups) scales as dequantization uses them, in float32."""
        if self.dq is not None:
            return self.dq.dequantize().view(self.shape[0], -1)
        return self.scales.to(torch.float32)

    def nbytes(self) -> int:
        """Bytes of real storage: packed codes, scales, zeros packed at ``bits``, code book."""
        return self.accounted_nbytes() + self.codebook_nbytes()

    def codebook_nbytes(self) -> int:
        """Bytes of the code book (a fixed table of the format; 0 for INT)."""
        if self.codebook is None:
            return 0
        return self.codebook.numel() * self.codebook.element_size()

    def accounted_nbytes(self) -> int:
        """Bytes under :mod:`suite.budget`'s accounting: everything stored but the code book."""
        total = self.codes.numel()
        if self.dq is not None:
            total += self.dq.nbytes()
        else:
            total += self.scales.numel() * self.scales.element_size()
        if self.zeros is not None:
            total += packed_nbytes(self.zeros.numel(), self.bits)
        return total

    def effective_bits(self) -> float:
        """Bits per weight element under the one accounting (scales, zeros; code book aside)."""
        return 8.0 * self.accounted_nbytes() / self.numel

    def unpacked_codes(self) -> torch.Tensor:
        """The codes as an (out, in) uint8 tensor."""
        return unpack(self.codes, self.bits, self.numel).view(self.shape)

    def to(self, device: torch.device | str) -> QTensor:
        """A copy on ``device`` (tensors keep their dtypes)."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return QTensor(
            self.scheme,
            self.bits,
            self.group_size,
            self.shape,
            move(self.codes),
            move(self.scales),
            move(self.zeros),
            move(self.codebook),
            None if self.dq is None else self.dq.to(device),
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The stored tensors (zeros packed at ``bits`` bits); their bytes sum to nbytes()."""
        state = {"codes": self.codes}
        if self.dq is not None:
            state.update(self.dq.state_dict())
        else:
            state["scales"] = self.scales
        if self.zeros is not None:
            state["zeros"] = pack(self.zeros, self.bits)
        if self.codebook is not None:
            state["codebook"] = self.codebook
        return state

    def meta(self) -> dict:
        """JSON-able description needed, with state_dict(), to rebuild the QTensor."""
        meta = {
            "format": "qtensor",
            "version": FORMAT_VERSION,
            "scheme": self.scheme,
            "bits": self.bits,
            "group_size": self.group_size,
            "shape": [self.shape[0], self.shape[1]],
        }
        if self.dq is not None:
            meta["dq"] = self.dq.spec.meta()
        else:
            meta["scale_dtype"] = _dtype_name(self.scales.dtype)
        return meta

    @classmethod
    def from_state(cls, meta: dict, tensors: dict[str, torch.Tensor]) -> QTensor:
        """Rebuild a QTensor from meta() and state_dict() (e.g. after a safetensors round trip)."""
        if meta.get("format") != "qtensor" or meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"not a qtensor v{FORMAT_VERSION} description: format={meta.get('format')!r} "
                f"version={meta.get('version')!r}"
            )
        shape = (int(meta["shape"][0]), int(meta["shape"][1]))
        bits, group_size = int(meta["bits"]), int(meta["group_size"])
        n_groups = shape[0] * (shape[1] // group_size)
        zeros = tensors.get("zeros")
        if zeros is not None:
            zeros = unpack(zeros, bits, n_groups).view(shape[0], shape[1] // group_size)
        dq = None
        if "dq" in meta:
            dq = DoubleQuant.from_state(meta["dq"], n_groups, tensors)
        qt = cls(
            meta["scheme"],
            bits,
            group_size,
            shape,
            tensors["codes"],
            tensors.get("scales"),
            zeros,
            tensors.get("codebook"),
            dq,
        )
        if dq is None and qt.scales.dtype != scale_dtype_of(meta["scale_dtype"]):
            raise ValueError(f"scales are {qt.scales.dtype}, but meta says {meta['scale_dtype']!r}")
        return qt

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(self, dtype)


def dequantize(qt: QTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The (out, in) weight a QTensor represents, computed in float32 and cast to ``dtype``."""
    out_f, in_f = qt.shape
    groups = in_f // qt.group_size
    codes = qt.unpacked_codes().view(out_f, groups, qt.group_size)
    scales = qt.group_scales().unsqueeze(-1)
    if qt.scheme == "nf":
        values = qt.codebook[codes.to(torch.int32)] * scales
    else:
        values = (codes.to(torch.float32) - qt.zeros.to(torch.float32).unsqueeze(-1)) * scales
    return values.view(out_f, in_f).to(dtype)
