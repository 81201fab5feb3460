"""Batched text generation with a KV cache and left padding, for the generation protocols.

``generate`` decodes many prompts at once: prompts are sorted by length and cut into batches of
``batch_size``; each batch is left-padded (so every row's last prompt token sits in the last
column), position ids count real tokens only, and one forward pass over the prompts fills the KV
cache; each further step feeds one token per row. The cache goes in through the forward's
``cache`` keyword and comes back as the output's ``cache`` (``past_key_values`` on
``transformers`` before 5.24, see :mod:`tasks.cache_io`). A row stops at an end-of-sequence
token, at a stop string, or when its ``done`` rule says so (e.g. it has finished a ``#### N``
line); a batch ends when every row has stopped or after ``max_new_tokens``. Finished rows are
fed the pad token and ignored. Greedy decoding takes the arg-max; sampling applies temperature,
then top-k, then top-p, each as ``transformers``' logits warpers compute it (in their order),
and draws from a seeded generator. ``order="given"`` keeps the prompts' own order in the batches
(as scripts that batch their test set in order do; it matters where draws depend on the batch),
and ``eos`` overrides the end-of-sequence ids. Beam search lives in :mod:`tasks.beam`. The model
is any causal LM of ``transformers`` (qbench's QLinear layers included).

``decoder`` picks the cache: ``"dynamic"`` (``transformers``' growing cache, one forward call
per step), ``"static"`` (:class:`tasks.static_decode.StaticDecoder`: a preallocated cache, and
on CUDA each step replayed as a CUDA graph), or ``"auto"``: static on CUDA for the models it
supports when its cache takes at most half the free GPU memory, dynamic otherwise (on the CPU,
always); or a :class:`~tasks.static_decode.StaticDecoder` the caller made (its rows and length
must hold every batch). The prompts' pass is the same call on both, and a static step computes
what a dynamic one does, over masked key columns: on the CPU they give the same tokens (tested);
on CUDA a step's attention may run another SDPA kernel (an explicit mask instead of none), so
logits can differ in the last bits of bf16 and a near-tie can pick another token. On CUDA with
greedy decoding the next step is launched before the host has read the current tokens (the host
then checks the stop rules while the GPU works); a row that has finished is fed its own last
token instead of the pad token, which changes no other row.

    >>> import torch
    >>> from suite import models
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> out = generate(model, tok, ["2+2=", "The capital of France is"], max_new_tokens=8)
    >>> [n <= 8 for n in out.new_tokens], out.stopped_by[0] in ("eos", "length")
    ([True, True], True)
    >>> greedy_again = generate(model, tok, ["2+2=", "The capital of France is"], max_new_tokens=8)
    >>> greedy_again.texts == out.texts
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from tasks.static_decode import StaticDecoder


@dataclass(frozen=True)
class Sampling:
    """Decoding settings: temperature 0 means greedy."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                f"sampling {self} is not allowed; allowed: temperature >= 0, top_k >= 0, "
                "0 < top_p <= 1"
            )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class StopRule:
    """When a row is finished: a stop string appears (the text is cut before it), or
    ``done(text)`` returns the length to keep (None: not finished)."""

    stop_strings: tuple[str, ...] = ()
    done: Callable[[str], int | None] | None = None

    def cut(self, text: str) -> int | None:
        cuts = [i for i in (text.find(s) for s in self.stop_strings) if i >= 0]
        if self.done is not None:
            keep = self.done(text)
            if keep is not None:
                cuts.append(keep)
        return min(cuts) if cuts else None


@dataclass
class Generation:
    texts: list[str]
    new_tokens: list[int]  # tokens generated per prompt (until its stop)
    prompt_tokens: list[int]
    stopped_by: list[str] = field(default_factory=list)  # eos | stop | length
    ids: list[list[int]] = field(default_factory=list)  # generated ids per prompt (no EOS)

    @property
    def tokens(self) -> int:
        """Tokens processed: prompts plus generated tokens."""
        return sum(self.new_tokens) + sum(self.prompt_tokens)


def eos_ids(model, tokenizer) -> set[int]:
    """End-of-sequence ids: the tokenizer's and the model's generation config's."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None)
    if isinstance(extra, int):
        ids.add(extra)
    elif extra:
        ids.update(int(i) for i in extra)
    return ids


def warp(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Float32 scores after temperature, top-k and top-p, each computed as transformers'
    ``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper`` compute it
    (removed tokens at -inf, one token always kept)."""
    scores = logits.float() / sampling.temperature
    if sampling.top_k:
        k = min(sampling.top_k, scores.shape[-1])
        kth = scores.topk(k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p < 1.0:
        # ascending order: drop the low tail whose total mass is at most 1 - top_p
        ascending, order = scores.sort(dim=-1, descending=False)
        tail = ascending.softmax(dim=-1).cumsum(dim=-1) <= 1 - sampling.top_p
        tail[..., -1] = False
        scores = scores.masked_fill(tail.scatter(-1, order, tail), float("-inf"))
    return scores


def pick(
    logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None
) -> torch.Tensor:
    """Next token per row from last-position logits [rows, vocab]: the arg-max, or one draw per
    row from the softmax of :func:`warp`'s scores (``torch.multinomial`` on the CPU over all
    rows at once, finished rows included, so a row's draw depends on its batch)."""
    import torch

    if sampling.greedy:
        return logits.argmax(dim=-1)
    probs = warp(logits, sampling).softmax(dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


def _encode(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids with the tokenizer's own special tokens (e.g. Llama's BOS), as the papers'
    evaluation scripts tokenize."""
    return [tokenizer(p).input_ids for p in prompts]


DECODERS = ("auto", "dynamic", "static")


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 8,
    stop: StopRule | None = None,
    sampling: Sampling | None = None,
    progress: Callable[..., None] | None = None,
    order: str = "length",
    eos: set[int] | None = None,
    decoder: str | StaticDecoder = "auto",
) -> Generation:
    """Continue each prompt (see the module doc); texts come back in the prompts' order.
    ``order``: "length" (longest prompts first, the least padding) or "given"."""
    encoded = _encode(tokenizer, prompts)
    return generate_encoded(
        model,
        tokenizer,
        encoded,
        max_new_tokens,
        batch_size,
        stop,
        sampling,
        progress,
        order,
        eos,
        decoder,
    )


def generate_encoded(
    model,
    tokenizer,
    encoded: Sequence[Sequence[int]],
    max_new_tokens: int,
    batch_size: int = 8,
    stop: StopRule | None = None,
    sampling: Sampling | None = None,
    progress: Callable[..., None] | None = None,
    order: str = "length",
    eos: set[int] | None = None,
    decoder: str | StaticDecoder = "auto",
) -> Generation:
    """:func:`generate` for prompts given as token ids (e.g. tokenized and truncated by the
    caller, as lm-eval's harness does)."""
    import torch

    if order not in ("length", "given"):
        raise ValueError(f"order {order!r} is not allowed; allowed: length, given")
    if isinstance(decoder, str) and decoder not in DECODERS:
        raise ValueError(f"decoder {decoder!r} is not allowed; allowed: {', '.join(DECODERS)}")
    stop = stop or StopRule()
    sampling = sampling or Sampling()
    ends = eos_ids(model, tokenizer) if eos is None else set(eos)
    encoded = [list(e) for e in encoded]
    rows_in = list(range(len(encoded)))
    if order == "length":
        rows_in.sort(key=lambda i: (-len(encoded[i]), i))
    result = Generation([""] * len(encoded), [0] * len(encoded), [len(e) for e in encoded])
    result.stopped_by = ["length"] * len(encoded)
    result.ids = [[] for _ in encoded]
    generator = None
    if not sampling.greedy:
        generator = torch.Generator().manual_seed(sampling.seed)
    with torch.inference_mode():
        static = _static_decoder(model, decoder, encoded, batch_size, max_new_tokens)
        for start in range(0, len(rows_in), batch_size):
            rows = rows_in[start : start + batch_size]
            batch = [encoded[i] for i in rows]
            args = (tokenizer, batch, max_new_tokens, stop, sampling, generator, ends)
            if static is None:
                texts, made, why = _decode_batch(model, *args)
            else:
                texts, made, why = _decode_batch_static(static, *args)
            for i, text, ids, w in zip(rows, texts, made, why, strict=True):
                result.texts[i], result.new_tokens[i], result.stopped_by[i] = text, len(ids), w
                result.ids[i] = ids
            if progress:
                progress(len(rows))
    return result


def _static_decoder(model, decoder, encoded, batch_size: int, max_new_tokens: int):
    """The :class:`~tasks.static_decode.StaticDecoder` for this call, or None (dynamic cache)."""
    import torch

    if not isinstance(decoder, str):
        return decoder  # a StaticDecoder made by the caller
    if decoder == "dynamic" or not encoded or max_new_tokens < 1:
        return None
    from tasks.static_decode import StaticDecoder, unsupported

    length = max(len(e) for e in encoded) + max_new_tokens
    why = unsupported(model, length)
    if why is not None:
        if decoder == "static":
            raise ValueError(f"the static decoder cannot run {why}; allowed: decoder='dynamic'")
        return None
    device = next(model.parameters()).device
    if decoder == "auto" and device.type != "cuda":
        return None
    rows = min(batch_size, len(encoded))
    if device.type == "cuda":
        need = StaticDecoder.needed_bytes(model, rows, length)
        if decoder == "auto" and need > torch.cuda.mem_get_info(device)[0] // 2:
            return None
        return StaticDecoder(model, rows, length, graphs=True)
    return StaticDecoder(model, rows, length, graphs=False, bucket=1)


def left_padded(encoded: list[list[int]], pad: int, device):
    """Left-padded ids, their attention mask, and position ids that count real tokens only."""
    import torch

    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for r, e in enumerate(encoded):
        if e:
            ids[r, width - len(e) :] = torch.tensor(e)
            mask[r, width - len(e) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


class _Rows:
    """The host's side of a batch: each row's ids and text so far, and why it stopped."""

    def __init__(self, n: int, tokenizer, stop: StopRule, ends: set[int]):
        self.tokenizer, self.stop, self.ends = tokenizer, stop, ends
        self.generated: list[list[int]] = [[] for _ in range(n)]
        self.texts = [""] * n
        self.why = ["length"] * n
        self.live = [True] * n

    def take(self, tokens: list[int]) -> bool:
        """Record one token per row (finished rows ignore theirs); whether a row is still live."""
        for r, t in enumerate(tokens):
            if not self.live[r]:
                continue
            if t in self.ends:
                self.live[r], self.why[r] = False, "eos"
                continue
            self.generated[r].append(t)
            text = self.tokenizer.decode(self.generated[r], skip_special_tokens=True)
            keep = self.stop.cut(text)
            if keep is not None:
                text, self.live[r], self.why[r] = text[:keep], False, "stop"
            self.texts[r] = text
        return any(self.live)

    def feed(self, tokens: list[int], pad: int) -> list[int]:
        """The next step's input: each live row's token, the pad token for finished rows."""
        return [t if self.live[r] else pad for r, t in enumerate(tokens)]


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _decode_batch(model, tokenizer, encoded, max_new_tokens, stop, sampling, generator, ends):
    import torch

    from tasks.cache_io import cache_keyword, last_logits_pass, returned_cache

    device = next(model.parameters()).device
    keyword = cache_keyword(model.forward)
    pad = _pad_id(tokenizer)
    ids, mask, positions = left_padded(encoded, pad, device)
    out = last_logits_pass(model, input_ids=ids, attention_mask=mask, position_ids=positions)
    cache = returned_cache(out)
    logits = out.logits[:, -1]
    next_pos = positions[:, -1:] + 1
    rows = _Rows(len(encoded), tokenizer, stop, ends)
    for _ in range(max_new_tokens):
        token_list = pick(logits, sampling, generator).tolist()
        if not rows.take(token_list):
            break
        feed = torch.tensor(rows.feed(token_list, pad))
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=feed.to(device)[:, None],
            attention_mask=mask,
            position_ids=next_pos,
            use_cache=True,
            **{keyword: cache},
        )
        cache, logits, next_pos = returned_cache(out), out.logits[:, -1], next_pos + 1
    return rows.texts, rows.generated, rows.why


def _decode_batch_static(
    decoder, tokenizer, encoded, max_new_tokens, stop, sampling, generator, ends
):
    """:func:`_decode_batch` over a :class:`~tasks.static_decode.StaticDecoder`. With
    ``decoder.ahead`` (CUDA graphs) and greedy picks, the next step is queued before the host
    reads this step's tokens; a finished row is then fed its own token, not the pad token."""
    import torch

    pad = _pad_id(tokenizer)
    ids, mask, positions = left_padded(encoded, pad, decoder.device)
    width = ids.shape[1]
    token = pick(decoder.prefill(ids, mask, positions), sampling, generator)
    rows = _Rows(len(encoded), tokenizer, stop, ends)
    ahead = decoder.ahead and sampling.greedy
    cuda = decoder.device.type == "cuda"
    host = torch.empty(len(encoded), dtype=torch.long, pin_memory=ahead and cuda)
    for step in range(max_new_tokens):
        last = step + 1 == max_new_tokens  # its token is never fed
        if not ahead:
            token_list = token.tolist()
            if not rows.take(token_list) or last:
                break
            feed = torch.tensor(rows.feed(token_list, pad)).to(decoder.device)
            token = pick(decoder.step(width + step, feed, step), sampling, generator)
            continue
        host.copy_(token, non_blocking=cuda)
        ready = torch.cuda.Event() if cuda else None
        if ready is not None:
            ready.record(torch.cuda.current_stream(decoder.device))
        following = None if last else decoder.step(width + step, token, step).argmax(dim=-1)
        if ready is not None:
            ready.synchronize()
        if not rows.take(host.tolist()) or following is None:
            break
        token = following
    return rows.texts, rows.generated, rows.why
