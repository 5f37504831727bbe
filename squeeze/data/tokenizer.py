"""Byte-level BPE with HF `tokenizers`: train, save, load, fingerprint, and the bytes each token stands for.

Byte-level means every UTF-8 byte has a token, so any text encodes losslessly and the UTF-8 byte count of a text
equals the sum of `token_byte_lengths` over its tokens: the denominator of bits per byte. `<|endoftext|>` (id 0
in a tokenizer trained here) separates documents and stands for 0 bytes.

Exercised by tests/test_tokenizer.py and `squeeze prepare`.
"""
import hashlib
import json
import os
from typing import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from squeeze.errors import SqueezeError, first_line
from squeeze.io import atomic_write

EOT = "<|endoftext|>"
MIN_VOCAB = 257  # 256 byte tokens + EOT


def _byte_to_char() -> dict[int, str]:
    """The GPT-2 byte -> printable character table that byte-level BPE spells its tokens with.

    Bytes that are already printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ': 188 of them) stand for
    themselves; the other 68 (control bytes, space, 0x7f-0xa0, 0xad) are given the characters 256, 257, ... in
    byte order, so that no token string contains whitespace or control characters.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = _byte_to_char()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def train_bpe(texts: Iterable[str], vocab_size: int, show_progress: bool = False) -> Tokenizer:
    """Train a byte-level BPE of `vocab_size` tokens (EOT included) on `texts`; same texts -> same tokenizer."""
    if vocab_size < MIN_VOCAB:
        raise SqueezeError(f"vocab_size={vocab_size}: must be at least {MIN_VOCAB} (256 bytes + {EOT})")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],  # first, so it gets id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, even ones absent from the text
        show_progress=show_progress,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, path: str | os.PathLike) -> None:
    atomic_write(path, lambda f: f.write(tok.to_str()), mode="w")


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer.json; a missing or unparsable file is a SqueezeError naming it."""
    if not os.path.isfile(path):
        raise SqueezeError(f"{path}: no such tokenizer file")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception for malformed JSON
        first = first_line(e)
        raise SqueezeError(f"{path}: not a valid tokenizer.json ({first})") from None


def eot_id(tok: Tokenizer) -> int:
    i = tok.token_to_id(EOT)
    if i is None:
        raise SqueezeError(f"tokenizer has no {EOT} token; squeeze needs it to separate documents")
    return i


def token_byte_lengths(tok: Tokenizer) -> np.ndarray:
    """int32 [vocab]: how many UTF-8 bytes each token id decodes to; special tokens count 0.

    A byte-level token string has one character per byte (BYTE_TO_CHAR), so its length in bytes is its length in
    characters, once each character is checked to be in the table. Added non-special tokens are raw text.
    """
    lengths = np.zeros(tok.get_vocab_size(with_added_tokens=True), dtype=np.int32)
    added = tok.get_added_tokens_decoder()
    for token, i in tok.get_vocab(with_added_tokens=True).items():
        if i in added:
            lengths[i] = 0 if added[i].special else len(added[i].content.encode("utf-8"))
        elif all(c in CHAR_TO_BYTE for c in token):
            lengths[i] = len(token)
        else:
            raise SqueezeError(f"token {token!r} (id {i}) is not byte-level BPE; bits per byte need a byte-level "
                               "tokenizer")
    return lengths


def tokenizer_fingerprint(tok: Tokenizer) -> str:
    """sha256 of the tokenizer's JSON with sorted keys: equal fingerprints mean the same token ids."""
    canonical = json.dumps(json.loads(tok.to_str()), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
