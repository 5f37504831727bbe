"""Byte-level BPE: determinism, the GPT-2 byte table, exact byte lengths per token, save/load, fingerprints."""
import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from squeeze.data.tokenizer import (
    BYTE_TO_CHAR,
    CHAR_TO_BYTE,
    EOT,
    load_tokenizer,
    save_tokenizer,
    token_byte_lengths,
    tokenizer_fingerprint,
    train_bpe,
)
from squeeze.errors import SqueezeError

TEXTS = ["the cat sat on the mat\n", "naïve café ☃ über 日本語\n", "the dog ate the cat's hat\n" * 3,
         "tabs\tand  spaces\r\n", "emoji 🎉 and more emoji 🎉🎉\n"] * 4


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, 300)


def test_vocab_size_eot_and_determinism(tok):
    assert tok.get_vocab_size() == 300
    assert tok.token_to_id(EOT) == 0
    assert tokenizer_fingerprint(train_bpe(TEXTS, 300)) == tokenizer_fingerprint(tok)
    assert tokenizer_fingerprint(train_bpe(TEXTS[:3], 300)) != tokenizer_fingerprint(tok)


def test_vocab_too_small():
    with pytest.raises(SqueezeError, match="vocab_size=256: must be at least 257"):
        train_bpe(TEXTS, 256)


def test_byte_table_is_gpt2s():
    assert set(BYTE_TO_CHAR.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert BYTE_TO_CHAR[ord("a")] == "a" and BYTE_TO_CHAR[0xE9] == "é"  # printable bytes stand for themselves
    assert BYTE_TO_CHAR[0x00] == chr(256)
    assert BYTE_TO_CHAR[0x20] == "Ġ" and BYTE_TO_CHAR[0x0A] == "Ċ"  # 33rd and 11th non-printable bytes
    assert BYTE_TO_CHAR[0xAD] == chr(256 + 67)  # the last non-printable byte
    assert all(CHAR_TO_BYTE[c] == b for b, c in BYTE_TO_CHAR.items())


@pytest.mark.parametrize("text", ["naïve café ☃", "日本語 🎉\n\ttabs", "plain ascii", "", "\x00\x7f\u00ad"])
def test_token_byte_lengths_sum_to_utf8_bytes(tok, text):
    lengths = token_byte_lengths(tok)
    assert lengths.dtype == np.int32 and lengths.shape == (300,)
    ids = tok.encode(text).ids
    assert int(lengths[ids].sum()) == len(text.encode("utf-8"))
    assert tok.decode(ids) == text


def test_token_byte_lengths_values(tok):
    lengths = token_byte_lengths(tok)
    assert lengths[0] == 0  # EOT stands for no text
    assert (lengths[1:257] == 1).all()  # the 256 single bytes come right after EOT
    checked = 0
    for i in range(1, 300):
        text = tok.decode([i])
        if "\ufffd" not in text:  # tokens that are whole characters: compare with the decoder's own output
            assert lengths[i] == len(text.encode("utf-8")), tok.id_to_token(i)
            checked += 1
    assert checked > 150 and lengths.max() > 3


def test_non_byte_level_tokenizer_is_refused():
    word = Tokenizer(models.WordLevel({"☃": 0, "[UNK]": 1}, unk_token="[UNK]"))
    with pytest.raises(SqueezeError, match="not byte-level BPE"):
        token_byte_lengths(word)


def test_save_load_round_trip(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    save_tokenizer(tok, path)
    back = load_tokenizer(path)
    assert tokenizer_fingerprint(back) == tokenizer_fingerprint(tok)
    assert back.encode(TEXTS[1]).ids == tok.encode(TEXTS[1]).ids


def test_load_errors(tmp_path):
    with pytest.raises(SqueezeError, match=r"missing.json: no such tokenizer file"):
        load_tokenizer(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a tokenizer"}')
    with pytest.raises(SqueezeError, match=r"bad.json: not a valid tokenizer.json"):
        load_tokenizer(bad)
