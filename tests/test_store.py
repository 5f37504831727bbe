"""Token store: nested budgets, a split that depends only on the document, a tokenizer that never saw validation
text, exact byte counts, and corruption detection. Tiny corpora and a 300-token vocab: milliseconds each."""
import json
import os

import numpy as np
import pytest

from squeeze.data.corpus import Document, iter_documents
from squeeze.data.store import TokenStore, prepare_store, val_score
from squeeze.data.tokenizer import save_tokenizer
from squeeze.errors import SqueezeError

WORDS = "the quick brown fox jumps over a lazy dog naïve café ☃ 日本 and or but 🎉 thou art".split()


def make_docs(n, seed=0, prefix="d"):
    rng = np.random.default_rng(seed)
    return [Document(f"{prefix}{i}", " ".join(rng.choice(WORDS, size=int(rng.integers(3, 60)))) + ".\n")
            for i in range(n)]


DOCS = make_docs(80)
KW = dict(vocab_size=300, val_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    prepare_store(DOCS, out, **KW)
    return TokenStore.open(out, verify=True)


def test_layout_and_meta(full):
    m = full.meta
    assert m["vocab_size"] == 300 and m["dtype"] == "uint16" and m["eot_id"] == 0
    assert m["n_train_docs"] + m["n_val_docs"] == len(DOCS) and m["n_val_docs"] > 5
    assert full.train.dtype == np.uint16 and len(full.train) == m["train_tokens"] == full.train_offsets[-1]
    assert m["train_bytes"] + m["val_bytes"] == sum(len(d.text.encode()) for d in DOCS)
    assert set(m["checksums"]) >= {"tokenizer.json", "train.bin", "val.bin", "train_offsets.npy", "val_bytes.npy"}
    # every document is followed by exactly one EOT
    for tokens, offsets in [(full.train, full.train_offsets), (full.val, full.val_offsets)]:
        assert (tokens[offsets[1:] - 1] == 0).all() and (tokens == 0).sum() == len(offsets) - 1


def test_split_and_order_follow_the_rules(full):
    names = json.loads((full.root / "train_names.json").read_text())
    val_names = json.loads((full.root / "val_names.json").read_text())
    assert val_names == [d.name for d in DOCS if val_score(0, d.text) < 0.2]  # corpus order
    train_docs = [d.name for d in DOCS if val_score(0, d.text) >= 0.2]
    assert names == [train_docs[i] for i in np.random.default_rng(0).permutation(len(train_docs))]


def test_grouped_documents_split_by_group(tmp_path):
    """Pieces of one group land on one side together, by the group's score; ungrouped ones by their text."""
    docs = [Document(f"g{g}/{k}", d.text, group=f"g{g}") for g in range(20) for k, d in
            enumerate(make_docs(4, seed=g))] + make_docs(10, seed=99, prefix="u")
    meta = prepare_store(docs, tmp_path, **KW)
    val_names = json.loads((tmp_path / "val_names.json").read_text())
    assert val_names == [d.name for d in docs if val_score(0, d.group or d.text) < 0.2]
    held = {n.split("/")[0] for n in val_names if "/" in n}
    assert held and len(held) < 20 and sum("/" in n for n in val_names) == 4 * len(held)  # whole groups only
    assert meta["n_val_docs"] == len(val_names)


def test_byte_counts_are_exact(full):
    texts = {d.name: d.text for d in DOCS}
    tb = full.token_bytes
    for split in ("train", "val"):
        tokens, offsets = getattr(full, split), getattr(full, f"{split}_offsets")
        names = json.loads((full.root / f"{split}_names.json").read_text())
        nbytes = getattr(full, f"{split}_bytes")
        for k, name in enumerate(names):
            ids = np.asarray(tokens[offsets[k]:offsets[k + 1]])
            assert int(tb[ids].sum()) == nbytes[k] == len(texts[name].encode("utf-8"))
            assert full.tokenizer.decode(ids[:-1].tolist()) == texts[name]


def test_nested_budgets(full, tmp_path):
    assert np.array_equal(full.train_prefix(100), full.train[:100])
    assert np.array_equal(full.train_prefix(None), full.train)
    budget = int(full.train_offsets[5]) + 7  # cuts the 6th document after 7 tokens
    meta = prepare_store(DOCS, tmp_path, budget_tokens=budget, **KW)
    cut = TokenStore.open(tmp_path, verify=True)
    assert np.array_equal(cut.train, full.train[:budget])
    assert np.array_equal(cut.train_offsets, np.append(full.train_offsets[:6], budget))
    assert np.array_equal(cut.train_bytes[:5], full.train_bytes[:5])
    assert cut.train_bytes[5] == cut.token_bytes[np.asarray(cut.train[-7:])].sum() < full.train_bytes[5]
    assert np.array_equal(cut.val, full.val) and cut.fingerprint == full.fingerprint
    assert meta["available_train_tokens"] == len(full.train) and meta["train_tokens"] == budget


def test_literal_eot_in_text_is_not_a_boundary(tmp_path):
    docs = DOCS[:20] + [Document("web", "page one <|endoftext|> still page one ☃")]
    meta = prepare_store(docs, tmp_path, vocab_size=300, val_fraction=0.5, seed=1)
    store = TokenStore.open(tmp_path)
    assert meta["n_train_docs"] + meta["n_val_docs"] == 21
    for tokens, offsets in [(store.train, store.train_offsets), (store.val, store.val_offsets)]:
        assert (np.asarray(tokens) == 0).sum() == len(offsets) - 1  # one EOT per document, no more


def test_budget_errors(full, tmp_path):
    with pytest.raises(SqueezeError, match=rf"budget of {len(full.train) + 1} tokens, but the store holds"):
        full.train_prefix(len(full.train) + 1)
    with pytest.raises(SqueezeError, match=r"budget_tokens=\d+: the training split has only \d+ tokens"):
        prepare_store(DOCS, tmp_path, budget_tokens=10**9, **KW)


def test_val_split_survives_extra_documents(full, tmp_path):
    meta = prepare_store(make_docs(30, seed=1, prefix="extra") + DOCS[::-1], tmp_path, **KW)
    old = set(json.loads((full.root / "val_names.json").read_text()))
    new = set(json.loads((tmp_path / "val_names.json").read_text()))
    assert old < new and not any(n.startswith("d") for n in new - old)
    assert meta["n_val_docs"] == len(new)


def test_tokenizer_never_sees_validation_documents(full, tmp_path):
    candidates = make_docs(200, seed=2, prefix="x")
    held_out = [d for d in candidates if val_score(0, d.text) < 0.2][:5]
    trained_on = [d for d in candidates if val_score(0, d.text) >= 0.2][:5]
    with_val = prepare_store(DOCS + held_out, tmp_path / "a", **KW)
    assert with_val["n_val_docs"] == full.meta["n_val_docs"] + 5
    assert with_val["tokenizer_fingerprint"] == full.fingerprint  # the new validation text changed nothing
    with_train = prepare_store(DOCS + trained_on, tmp_path / "b", **KW)
    assert with_train["tokenizer_fingerprint"] != full.fingerprint  # ...while new training text does


def test_input_kinds_and_given_tokenizer(full, tmp_path):
    a = prepare_store(lambda: iter(DOCS), tmp_path / "callable", **KW)
    b = prepare_store((d for d in DOCS), tmp_path / "generator", **KW)
    assert a["checksums"] == b["checksums"] == full.meta["checksums"]
    save_tokenizer(full.tokenizer, tmp_path / "tok.json")
    c = prepare_store(DOCS, tmp_path / "given", tokenizer_path=tmp_path / "tok.json", vocab_size=999,
                      val_fraction=0.2)
    assert c["checksums"]["train.bin"] == full.meta["checksums"]["train.bin"] and c["vocab_size"] == 300


def test_tiny_corpus_gets_one_document_each_side(tmp_path):
    meta = prepare_store(make_docs(3), tmp_path, vocab_size=300, val_fraction=0.001)
    assert meta["n_val_docs"] == 1 and meta["n_train_docs"] == 2
    with pytest.raises(SqueezeError, match=r"corpus too small: 1 document"):
        prepare_store(make_docs(1), tmp_path / "one", vocab_size=300)


def test_bad_arguments(tmp_path):
    with pytest.raises(SqueezeError, match="val_fraction=1.0: must be between 0 and 1"):
        prepare_store(DOCS, tmp_path, val_fraction=1.0)
    with pytest.raises(SqueezeError, match="vocab_size=100: must be at least 257"):
        prepare_store(DOCS, tmp_path, vocab_size=100)
    with pytest.raises(SqueezeError, match="no such tokenizer file"):
        prepare_store(DOCS, tmp_path, tokenizer_path=tmp_path / "none.json")


def test_refuses_to_overwrite_without_force(tmp_path):
    prepare_store(DOCS[:10], tmp_path, **KW)
    with pytest.raises(SqueezeError, match=r"already holds a token store \(meta.json\); use force"):
        prepare_store(DOCS, tmp_path, **KW)
    meta = prepare_store(DOCS, tmp_path, force=True, **KW)
    assert meta["n_train_docs"] + meta["n_val_docs"] == len(DOCS)
    assert not [p for p in os.listdir(tmp_path) if "tmp" in p]


def _copy_store(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_not_a_store(tmp_path):
    with pytest.raises(SqueezeError, match=r"not a token store \(no meta.json\); run `squeeze prepare` first"):
        TokenStore.open(tmp_path)


@pytest.mark.parametrize("name", ["train.bin", "val.bin", "train_offsets.npy", "val_bytes.npy"])
def test_truncated_file_is_named(full, tmp_path, name):
    store = _copy_store(full.root, tmp_path / "s")
    data = (store / name).read_bytes()
    (store / name).write_bytes(data[:-2])
    with pytest.raises(SqueezeError, match=rf"{name}: truncated or corrupted"):
        TokenStore.open(store)


@pytest.mark.parametrize("name", ["train.bin", "val_offsets.npy", "tokenizer.json"])
def test_corrupted_file_fails_verify(full, tmp_path, name):
    store = _copy_store(full.root, tmp_path / "s")
    data = bytearray((store / name).read_bytes())
    data[-3] ^= 0x01  # same size, different content
    (store / name).write_bytes(bytes(data))
    with pytest.raises(SqueezeError, match=rf"{name}: checksum mismatch"):
        TokenStore.open(store, verify=True)


def test_builtin_corpus_store(tmp_path):
    """The real corpus end to end with a small vocab (a few seconds on 2 cores; speed lives in benchmarks/)."""
    meta = prepare_store(lambda: iter_documents(None), tmp_path, vocab_size=512, val_fraction=0.05, seed=0)
    assert meta["n_train_docs"] + meta["n_val_docs"] == 18_759 and meta["n_val_docs"] == 999
    assert meta["train_bytes"] + meta["val_bytes"] == 9_543_793
    store = TokenStore.open(tmp_path)
    assert int(store.token_bytes[np.asarray(store.val)].sum()) == meta["val_bytes"]
