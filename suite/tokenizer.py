"""A byte-level tokenizer (256 byte tokens + 3 specials) for synthetic models and tests.

It needs no download, round-trips any UTF-8 text, and fits ``synthetic:tiny``'s vocabulary.

    >>> tok = byte_tokenizer()
    >>> tok.decode(tok("héllo").input_ids, skip_special_tokens=True)
    'héllo'
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def byte_tokenizer() -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(_byte_chars())}
    for i, special in enumerate(("<s>", "</s>", "<pad>")):
        vocab[special] = 256 + i
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
