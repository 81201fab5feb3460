"""Beam search with a KV cache, computed as ``transformers``' ``generate(num_beams=K)`` computes it
without sampling (the vectorised beam search of transformers 5), for LLM-Adapters' commonsense
protocol (``commonsense_evaluate.py``: 4 beams, 32 new tokens, ``do_sample`` off, so its
temperature, top-k and top-p never act).

Each prompt of a batch is repeated once per beam and the rows left-padded; one forward pass over
them fills the KV cache. Every step takes the float32 log-softmax of each beam's last logits, adds
the beam's running score, and keeps the best ``max(2, 1 + number of EOS ids) * K`` continuations
over all beams of a prompt. A continuation that ends with an EOS id or reaches
``max_new_tokens`` is finished: among the first K of them, those not ruled out by the stopping
heuristic enter the prompt's K best finished hypotheses, scored by their summed log-probability
over their generated length (EOS included) to the power ``length_penalty``. The best K
unfinished continuations run on (their cache rows gathered). A prompt stops improving once its
best running score, over the current length, cannot beat its worst finished one (the
``early_stopping=False`` rule); the batch ends when no prompt can improve or every continuation
is finished. The answer is the best finished hypothesis. Ties and the -1e9 penalties are
computed with the same tensor operations as transformers', so equal logits give equal tokens.

    >>> import torch
    >>> from suite import models
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> out = beam_search(model, tok, ["2+2=", "The capital of France is"], max_new_tokens=6)
    >>> [n <= 6 for n in out.new_tokens], len(out.ids)
    ([True, True], 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tasks.cache_io import cache_keyword, last_logits_pass, returned_cache
from tasks.generation import Generation, _encode, eos_ids, left_padded

PENALTY = -1.0e9  # transformers' score for a slot that must not be chosen


def beam_search(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    num_beams: int = 4,
    batch_size: int = 8,
    eos: set[int] | None = None,
    length_penalty: float = 1.0,
    progress: Callable[..., None] | None = None,
) -> Generation:
    """The best beam of each prompt (see the module doc), batches of ``batch_size`` prompts in
    the prompts' own order; ``ids`` hold the generated tokens without a final EOS."""
    import torch

    if num_beams < 1 or max_new_tokens < 1:
        raise ValueError(
            f"num_beams {num_beams}, max_new_tokens {max_new_tokens}: allowed: both >= 1"
        )
    ends = sorted(eos_ids(model, tokenizer) if eos is None else set(eos))
    encoded = _encode(tokenizer, prompts)
    out = Generation([], [], [len(e) for e in encoded], [], [])
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        with torch.inference_mode():
            best = _search(model, tokenizer, chunk, max_new_tokens, num_beams, ends, length_penalty)
        for ids in best:
            stopped = "eos" if ids and ids[-1] in ends else "length"
            ids = ids[:-1] if stopped == "eos" else ids
            out.ids.append(ids)
            out.new_tokens.append(len(ids))
            out.stopped_by.append(stopped)
            out.texts.append(tokenizer.decode(ids, skip_special_tokens=True))
        if progress:
            progress(len(chunk))
    return out


def _search(model, tokenizer, encoded, max_new, k, ends, length_penalty) -> list[list[int]]:
    """Beam search over one batch of prompts; the best hypothesis of each (EOS kept)."""
    import torch

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    b = len(encoded)
    ids, mask, positions = left_padded([e for e in encoded for _ in range(k)], pad, device)
    out = last_logits_pass(model, input_ids=ids, attention_mask=mask, position_ids=positions)
    cache, next_pos = returned_cache(out), positions[:, -1:] + 1
    keyword = cache_keyword(model.forward)
    end_ids = torch.tensor(ends, dtype=torch.long, device=device)
    width = max(2, 1 + len(ends)) * k  # continuations kept per prompt
    first_k = torch.arange(width, device=device) < k
    offset = torch.arange(b, device=device)[:, None] * k

    run_tokens = torch.full((b, k, max_new), -1, dtype=torch.long, device=device)
    run_scores = torch.zeros((b, k), dtype=torch.float, device=device)
    run_scores[:, 1:] = PENALTY  # only the first copy of each prompt starts
    done_tokens = run_tokens.clone()
    done_scores = torch.full((b, k), PENALTY, dtype=torch.float, device=device)
    done_len = torch.zeros((b, k), dtype=torch.long, device=device)
    is_done = torch.zeros((b, k), dtype=torch.bool, device=device)
    improvable = torch.ones((b, 1), dtype=torch.bool, device=device)

    for step in range(max_new):
        logits = out.logits[:, -1, :].to(dtype=torch.float32)
        vocab = logits.shape[-1]
        scores = torch.log_softmax(logits, dim=-1).view(b, k, vocab) + run_scores[:, :, None]
        top_scores, top_index = torch.topk(scores.reshape(b, k * vocab), k=width)
        source = top_index // vocab
        tokens = torch.take_along_dim(run_tokens, source[:, :, None], dim=1)
        tokens[:, :, step] = top_index % vocab
        ended = torch.isin(tokens[:, :, step], end_ids) | (step + 1 >= max_new)

        # the best K unfinished continuations run on
        running = top_scores + ended.to(torch.float32) * PENALTY
        chosen = torch.topk(running, k=k)[1]
        run_tokens = torch.take_along_dim(tokens, chosen[:, :, None], dim=1)
        run_scores = torch.take_along_dim(running, chosen, dim=1)
        run_source = torch.take_along_dim(source, chosen, dim=1)

        # finished continuations among the first K compete for the K finished slots
        finished_now = ended & first_k[None, :]
        final = top_scores / ((step + 1) ** length_penalty)
        final = final + (~improvable).to(torch.float32) * PENALTY
        final = final + (~finished_now) * PENALTY
        pool_scores = torch.cat((done_scores, final), dim=1)
        best = torch.topk(pool_scores, k=k)[1]
        pool_tokens = torch.cat((done_tokens, tokens), dim=1)
        pool_len = torch.cat((done_len, torch.full_like(tokens[:, :, 0], step + 1)), dim=1)
        pool_done = torch.cat((is_done, finished_now), dim=1)
        done_tokens = torch.take_along_dim(pool_tokens, best[:, :, None], dim=1)
        done_scores = torch.take_along_dim(pool_scores, best, dim=1)
        done_len = torch.take_along_dim(pool_len, best, dim=1)
        is_done = torch.take_along_dim(pool_done, best, dim=1)

        cache.reorder_cache((run_source + offset).reshape(-1))
        best_possible = run_scores[:, :1] / ((step + 1) ** length_penalty)
        worst_done = torch.where(is_done, done_scores.min(dim=1, keepdim=True)[0], PENALTY)
        improvable = improvable & (best_possible > worst_done).any(dim=-1, keepdim=True)
        if not improvable.any() or ended.all():
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = last_logits_pass(
            model,
            input_ids=run_tokens[:, :, step].reshape(-1, 1),
            attention_mask=mask,
            position_ids=next_pos,
            **{keyword: cache},
        )
        cache, next_pos = returned_cache(out), next_pos + 1
    return [done_tokens[i, 0, : done_len[i, 0]].tolist() for i in range(b)]
