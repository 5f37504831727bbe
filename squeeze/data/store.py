"""The token store on disk: flat token arrays (memmapped), document offsets and byte counts, and meta.json.

Owns three promises the experiments rely on:
- the validation split is by document and depends only on (seed, document text), or (seed, group) for documents
  that carry a group (the built-in corpus's pieces of one scene or chapter go to one side together): never on
  the budget, the corpus order, or which other documents exist; the tokenizer is trained on training documents
  only;
- training documents sit in ONE seeded order, so every budget is a prefix of one stream (D0 inside 2·D0 ...),
  and a store prepared with `budget_tokens` is exactly that prefix of the full store;
- what was written is what is read: meta.json holds the sha256 of every other file. `open()` always checks
  meta.json's fields and every array's size (cheap: catches truncation and missing files); `open(verify=True)`
  also recomputes the sha256s (catches a flipped bit; 107 MB/s measured on the loaded 2-core box), which
  `squeeze train`, `squeeze eval` and every sweep run do once at start.

Preparing streams: the corpus is read three times from a callable (hashes, tokenizer training, encoding), text
is encoded ~1M characters at a time and tokens are appended to flat files, so memory grows with the number of
documents (~100 bytes each: counts, names, split flags), never with their text. The tokenizer trains on a seeded
sample of at most `tokenizer_sample_chars` characters of training documents (1e9 by default: every document of a
corpus below ~1 GB, so small corpora, the built-in one included, train on all of them); see benchmarks/scale_data.py.

Layout of `out_dir`: tokenizer.json, train.bin / val.bin (raw uint16, or uint32 past 65,536 tokens),
{train,val}_offsets.npy (int64, n_docs+1 token offsets), {train,val}_bytes.npy (int64 UTF-8 bytes per document),
{train,val}_names.json, and meta.json, written last. Each document is followed by one EOT token.

Exercised by tests/test_store.py and `squeeze prepare`.
"""
import hashlib
import os
from array import array
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from squeeze.data.corpus import Document
from squeeze.data.tokenizer import (
    eot_id,
    load_tokenizer,
    save_tokenizer,
    token_byte_lengths,
    tokenizer_fingerprint,
    train_bpe,
)
from squeeze.errors import SqueezeError, first_line
from squeeze.io import DISK_ERRNOS, atomic_write, dir_lock, disk_error, make_dir, read_json, sha256_file, write_json

FORMAT = "squeeze-token-store"
VERSION = 1
_BATCH_CHARS = 1_000_000  # text per encode_batch call: ~60 MB peak (measured), enough to keep Rust threads busy
TOKENIZER_SAMPLE_CHARS = 1_000_000_000  # BPE word counts over more text cost memory and hours, not quality
DocSource = Iterable[Document] | Callable[[], Iterable[Document]]


def val_score(seed: int, text: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, text): a document is held out when it is < val_fraction.

    The name is left out on purpose: the split survives renames and reordering, and exact duplicates always land
    on the same side, so a copy of a validation document can never leak into training. A grouped document is
    scored by its group instead (`text` is then the group), so a group's documents land on one side together.
    """
    h = hashlib.blake2b(f"{seed}\0".encode() + text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def _reiterable(docs: DocSource) -> Callable[[], Iterator[Document]]:
    if callable(docs):
        return lambda: iter(docs())
    if iter(docs) is docs:  # a one-shot iterator: we need several passes, so keep it (costs its size in memory)
        docs = list(docs)
    return lambda: iter(docs)


def sample_score(seed: int, text: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, text), independent of val_score: the tokenizer sample."""
    h = hashlib.blake2b(f"{seed}\0".encode() + text.encode("utf-8"), digest_size=8, person=b"tok-sample").digest()
    return int.from_bytes(h, "big") / 2.0**64


def _assign_split(make_iter, seed: int, val_fraction: float, chars: array | None = None) -> np.ndarray:
    """bool [n_docs], True = validation. Pass 1 of 3 over the corpus: hashes only; `chars` gets the character
    count of every document appended (an int64 array, for sizing the tokenizer sample)."""
    def scored():
        for d in make_iter():
            if chars is not None:
                chars.append(len(d.text))
            yield val_score(seed, d.group or d.text)
    scores = np.fromiter(scored(), dtype=np.float64)
    if len(scores) < 2:
        raise SqueezeError(f"corpus too small: {len(scores)} document(s); need at least 2 (train and validation)")
    is_val = scores < val_fraction
    # Tiny corpora only: force one document to each side, the one whose score is closest to the other side.
    if not is_val.any():
        is_val[np.argmin(scores)] = True
    if is_val.all():
        is_val[np.argmax(scores)] = False
    return is_val


def _encode_batches(make_iter, tok, is_val: np.ndarray) -> Iterator[tuple[Document, bool, list[int]]]:
    """(document, is_val, token ids) in corpus order, encoded a few MB of text at a time."""
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # _fast skips offsets (tokenizers >= 0.21)
    batch: list[Document] = []
    size = 0
    for i, d in enumerate(make_iter()):
        if i == len(is_val):
            raise SqueezeError("the corpus changed between passes (more documents the second time)")
        batch.append(d)
        size += len(d.text)
        if size >= _BATCH_CHARS or i == len(is_val) - 1:
            encodings = encode([x.text for x in batch], add_special_tokens=False)
            first = i + 1 - len(batch)
            for k, (x, e) in enumerate(zip(batch, encodings)):
                yield x, bool(is_val[first + k]), e.ids
            batch, size = [], 0


class _Split:
    """Token counts, byte counts and names of one split's documents, with their tokens appended to `f`."""

    def __init__(self, f, dtype):  # int64 arrays, not lists: 8 bytes per document instead of ~36
        self.f, self.dtype, self.ntok, self.nbytes, self.names = f, dtype, array("q"), array("q"), []

    def add(self, doc: Document, ids: np.ndarray, nbytes: int) -> None:
        self.f.write(ids.astype(self.dtype).tobytes())
        self.ntok.append(len(ids))
        self.nbytes.append(nbytes)
        self.names.append(doc.name)


def _encode_corpus(make_iter, tok, is_val, train_f, val_f, dtype, token_bytes) -> tuple[_Split, _Split]:
    """Pass 3: every document -> ids + EOT, train docs to `train_f` (corpus order), val docs to `val_f`."""
    eot = eot_id(tok)
    train, val = _Split(train_f, dtype), _Split(val_f, dtype)
    for doc, in_val, ids in tqdm(_encode_batches(make_iter, tok, is_val), total=len(is_val), unit="doc",
                                 desc="encoding", delay=2):
        ids = np.array(ids + [eot], dtype=np.int64)
        nbytes = len(doc.text.encode("utf-8"))
        if int(token_bytes[ids].sum()) != nbytes:  # bits per byte would be wrong: refuse a lossy tokenizer
            raise SqueezeError(f"{doc.name}: tokenizer does not reproduce the document's {nbytes} bytes "
                               "(a normalizer or an unknown-token model?)")
        (val if in_val else train).add(doc, ids, nbytes)
    return train, val


def _write_train(out: Path, unordered: Path, train: _Split, order: np.ndarray, budget: int | None,
                 dtype, token_bytes) -> dict:
    """Copy training documents from `unordered` (corpus order) into train.bin in `order`, stopping at `budget`."""
    ntok = np.array(train.ntok, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(ntok)])
    total = int(starts[-1])
    budget = total if budget is None else budget
    if budget > total:
        raise SqueezeError(f"budget_tokens={budget}: the training split has only {total} tokens")
    kept_tok, kept_bytes, kept_names = [], [], []
    size = np.dtype(dtype).itemsize

    def write(f):
        # pread, not a memmap: every page of a memmap copied through stays in this process's resident set
        # (1B tokens: 2 GB of RSS, measured), while read pages go to the kernel's cache, outside it
        left = budget
        with open(unordered, "rb") as src:
            for d in order:
                if left == 0:
                    break
                n = min(int(ntok[d]), left)
                raw = os.pread(src.fileno(), n * size, int(starts[d]) * size)
                if len(raw) != n * size:
                    raise SqueezeError(f"{unordered}: ends before document {int(d)}'s tokens (disk full?)")
                f.write(raw)
                kept_tok.append(n)
                # a cut document counts the bytes of the tokens kept
                kept_bytes.append(train.nbytes[d] if n == ntok[d] else
                                  int(token_bytes[np.frombuffer(raw, dtype=dtype)].sum()))
                kept_names.append(train.names[d])
                left -= n

    atomic_write(out / "train.bin", write)
    offsets = np.concatenate([[0], np.cumsum(kept_tok, dtype=np.int64)]).astype(np.int64)
    return {"offsets": offsets, "bytes": np.array(kept_bytes, dtype=np.int64), "names": kept_names,
            "available": total}


def _save_npy(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, arr))


def _get_tokenizer(make_iter, is_val, vocab_size: int, tokenizer_path, seed: int = 0, keep: float = 1.0):
    """Load the given tokenizer, or train one on training documents only; `keep` < 1 trains on the documents
    whose sample_score is below it (a seeded ~keep share, bounding memory and time on a huge corpus)."""
    if tokenizer_path is not None:
        return load_tokenizer(tokenizer_path)
    texts = (d.text for d, v in zip(make_iter(), is_val)  # pass 2: training documents only
             if not v and (keep >= 1.0 or sample_score(seed, d.text) < keep))
    return train_bpe(texts, vocab_size, show_progress=len(is_val) > 100_000)  # a large corpus: show progress


def prepare_store(docs: DocSource, out_dir: str | os.PathLike, *, vocab_size: int = 8192,
                  tokenizer_path: str | os.PathLike | None = None, val_fraction: float = 0.05, seed: int = 0,
                  budget_tokens: int | None = None, source: str = "builtin", force: bool = False,
                  tokenizer_sample_chars: int = TOKENIZER_SAMPLE_CHARS) -> dict:
    """Split, tokenize and write a token store into `out_dir`; returns its meta. `docs` is a list or a callable
    returning a fresh iterator (the corpus is read three times; a one-shot iterator is first kept in memory)."""
    out = Path(out_dir)
    if not 0.0 < val_fraction < 1.0:
        raise SqueezeError(f"val_fraction={val_fraction}: must be between 0 and 1")
    if budget_tokens is not None and budget_tokens < 2:
        raise SqueezeError(f"budget_tokens={budget_tokens}: must be at least 2")
    if (out / "meta.json").exists() and not force:
        raise SqueezeError(f"{out}: already holds a token store (meta.json); use force to overwrite it")
    make_dir(out)
    with dir_lock(out):  # two prepares into one directory would interleave their arrays
        (out / "meta.json").unlink(missing_ok=True)  # from here on a crash leaves no store, never a mismatched one
        try:
            return _prepare_locked(docs, out, vocab_size, tokenizer_path, val_fraction, seed, budget_tokens, source,
                                   tokenizer_sample_chars)
        except OSError as e:
            if e.errno in DISK_ERRNOS:  # disk full while streaming the arrays: no meta.json, so no store
                raise disk_error(e, out) from e
            raise


def _prepare_locked(docs, out: Path, vocab_size, tokenizer_path, val_fraction, seed, budget_tokens, source,
                    tokenizer_sample_chars) -> dict:
    make_iter = _reiterable(docs)
    chars = array("q")
    is_val = _assign_split(make_iter, seed, val_fraction, chars)
    train_chars = int(np.frombuffer(chars, dtype=np.int64)[~is_val].sum()) if len(chars) else 0
    del chars
    keep = min(1.0, tokenizer_sample_chars / max(train_chars, 1))
    tok = _get_tokenizer(make_iter, is_val, vocab_size, tokenizer_path, seed, keep)
    # a literal "<|endoftext|>" inside a document is text, not a document boundary (not saved in tokenizer.json)
    tok.encode_special_tokens = True
    vocab, token_bytes = tok.get_vocab_size(with_added_tokens=True), token_byte_lengths(tok)
    dtype = np.uint16 if vocab <= 1 << 16 else np.uint32
    unordered, val_tmp = out / f".train.unordered.tmp{os.getpid()}", out / f".val.bin.tmp{os.getpid()}"
    try:
        with open(unordered, "wb") as train_f, open(val_tmp, "wb") as val_f:
            train, val = _encode_corpus(make_iter, tok, is_val, train_f, val_f, dtype, token_bytes)
            val_f.flush()
            os.fsync(val_f.fileno())
        if len(train.ntok) + len(val.ntok) != len(is_val):
            raise SqueezeError("the corpus changed between passes (fewer documents the second time)")
        os.replace(val_tmp, out / "val.bin")
        order = np.random.default_rng(seed).permutation(len(train.ntok))
        kept = _write_train(out, unordered, train, order, budget_tokens, dtype, token_bytes)
    finally:
        unordered.unlink(missing_ok=True)
        val_tmp.unlink(missing_ok=True)
    if int(kept["offsets"][-1]) < 2:
        raise SqueezeError(f"{out}: the training split has fewer than 2 tokens")
    extra = {"seed": seed, "val_fraction": val_fraction, "budget_tokens": budget_tokens, "source": source}
    return _write_meta(out, tok, kept, val, dtype, extra)


def _write_meta(out: Path, tok, kept: dict, val: _Split, dtype, extra: dict) -> dict:
    save_tokenizer(tok, out / "tokenizer.json")
    val_offsets = np.concatenate([[0], np.cumsum(val.ntok, dtype=np.int64)]).astype(np.int64)
    _save_npy(out / "train_offsets.npy", kept["offsets"])
    _save_npy(out / "train_bytes.npy", kept["bytes"])
    _save_npy(out / "val_offsets.npy", val_offsets)
    _save_npy(out / "val_bytes.npy", np.array(val.nbytes, dtype=np.int64))
    write_json(out / "train_names.json", kept["names"])
    write_json(out / "val_names.json", val.names)
    files = STORE_FILES
    meta = {
        "format": FORMAT, "version": VERSION, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "dtype": np.dtype(dtype).name, "eot_id": eot_id(tok),
        "n_train_docs": len(kept["names"]), "n_val_docs": len(val.names),
        "train_tokens": int(kept["offsets"][-1]), "val_tokens": int(val_offsets[-1]),
        "train_bytes": int(kept["bytes"].sum()), "val_bytes": int(sum(val.nbytes)),
        "available_train_tokens": kept["available"], **extra,
        "tokenizer_fingerprint": tokenizer_fingerprint(tok),
        "checksums": {name: sha256_file(out / name) for name in files},
    }
    write_json(out / "meta.json", meta)
    return meta


class TokenStore:
    """A prepared store, memmapped read-only. Use `TokenStore.open(dir)`."""

    def __init__(self, root: Path, meta: dict, arrays: dict):
        self.root, self.meta = root, meta
        self.vocab_size, self.eot_id = meta["vocab_size"], meta["eot_id"]
        self.fingerprint = meta["tokenizer_fingerprint"]
        self.train, self.val = arrays["train.bin"], arrays["val.bin"]
        self.train_offsets, self.val_offsets = arrays["train_offsets.npy"], arrays["val_offsets.npy"]
        self.train_bytes, self.val_bytes = arrays["train_bytes.npy"], arrays["val_bytes.npy"]
        self._tokenizer = self._token_bytes = None

    @classmethod
    def open(cls, root: str | os.PathLike, verify: bool = False) -> "TokenStore":
        root = Path(root)
        if not (root / "meta.json").is_file():
            raise SqueezeError(f"{root}: not a token store (no meta.json); run `squeeze prepare` first")
        meta = read_json(root / "meta.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise SqueezeError(f"{root / 'meta.json'}: not a version-{VERSION} squeeze token store; prepare it again")
        _check_meta(root / "meta.json", meta)
        if verify:
            for name, digest in meta["checksums"].items():
                if not (root / name).is_file():
                    raise SqueezeError(f"{root / name}: missing from the token store; prepare it again")
                if sha256_file(root / name) != digest:
                    raise SqueezeError(f"{root / name}: checksum mismatch (corrupted or replaced); prepare again")
        return cls(root, meta, _open_arrays(root, meta))

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            tok = load_tokenizer(self.root / "tokenizer.json")
            if tokenizer_fingerprint(tok) != self.fingerprint:
                raise SqueezeError(f"{self.root / 'tokenizer.json'}: differs from the tokenizer the store was made "
                                   "with (fingerprint mismatch)")
            self._tokenizer = tok
        return self._tokenizer

    @property
    def token_bytes(self) -> np.ndarray:
        """int32 [vocab]: UTF-8 bytes per token id, the bits-per-byte denominator."""
        if self._token_bytes is None:
            self._token_bytes = token_byte_lengths(self.tokenizer)
        return self._token_bytes

    def train_prefix(self, budget_tokens: int | None) -> np.ndarray:
        """The first `budget_tokens` training tokens (all when None): nested budgets share one stream."""
        if budget_tokens is None:
            return self.train
        if not 0 < budget_tokens <= len(self.train):
            raise SqueezeError(f"{self.root}: budget of {budget_tokens} tokens, but the store holds "
                               f"{len(self.train)} training tokens")
        return self.train[:budget_tokens]


STORE_FILES = ("tokenizer.json", "train.bin", "val.bin", "train_offsets.npy", "val_offsets.npy", "train_bytes.npy",
               "val_bytes.npy", "train_names.json", "val_names.json")
_META_INTS = ("vocab_size", "eot_id", "n_train_docs", "n_val_docs", "train_tokens", "val_tokens")


def _check_meta(path: Path, meta: dict) -> None:
    """Every field open() relies on is there with the right type; checksums name exactly the store's files (so a
    crafted meta.json cannot point the checksum pass at a path outside the store)."""
    for key in _META_INTS:
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool) or meta[key] < 0:
            raise SqueezeError(f"{path}: field {key!r} missing or not a non-negative integer; prepare it again")
    if meta.get("dtype") not in ("uint16", "uint32"):
        raise SqueezeError(f"{path}: field 'dtype' must be uint16 or uint32, got {meta.get('dtype')!r}")
    if not isinstance(meta.get("tokenizer_fingerprint"), str):
        raise SqueezeError(f"{path}: field 'tokenizer_fingerprint' missing; prepare it again")
    sums = meta.get("checksums")
    if not isinstance(sums, dict) or set(sums) != set(STORE_FILES) or not all(isinstance(v, str)
                                                                              for v in sums.values()):
        raise SqueezeError(f"{path}: field 'checksums' must give a sha256 for each of {', '.join(STORE_FILES)}")


def _open_arrays(root: Path, meta: dict) -> dict:
    """Memmap every array and check its size against meta.json: a truncated file fails here, by name."""
    itemsize = np.dtype(meta["dtype"]).itemsize
    expect = {"train.bin": meta["train_tokens"], "val.bin": meta["val_tokens"],
              "train_offsets.npy": meta["n_train_docs"] + 1, "val_offsets.npy": meta["n_val_docs"] + 1,
              "train_bytes.npy": meta["n_train_docs"], "val_bytes.npy": meta["n_val_docs"]}
    arrays = {}
    for name, n in expect.items():
        path = root / name
        try:
            if name.endswith(".bin"):
                if path.stat().st_size != n * itemsize:
                    raise ValueError(f"{path.stat().st_size} bytes, expected {n * itemsize}")
                arrays[name] = np.memmap(path, dtype=meta["dtype"], mode="r", shape=(n,))
            else:
                arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)  # never unpickle a store file
                if arrays[name].shape != (n,):
                    raise ValueError(f"shape {arrays[name].shape}, expected ({n},)")
        except FileNotFoundError:
            raise SqueezeError(f"{path}: missing from the token store; prepare it again") from None
        except (ValueError, EOFError, OSError) as e:  # numpy: ValueError for a bad header, EOFError when cut
            why = first_line(e)
            raise SqueezeError(f"{path}: truncated or corrupted ({why}); prepare it again") from None
    for split in ("train", "val"):
        if int(arrays[f"{split}_offsets.npy"][-1]) != meta[f"{split}_tokens"]:
            raise SqueezeError(f"{root / f'{split}_offsets.npy'}: does not match {split}.bin; prepare it again")
    return arrays
