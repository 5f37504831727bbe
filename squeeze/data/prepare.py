"""From a corpus path to a token store, in one place: `squeeze prepare`, `squeeze run` and the benchmarks use it.

`prepare_corpus` refuses an empty corpus with a one-line error, then streams the documents into
squeeze.data.store.prepare_store (read three times, never held in memory). `ensure_store` is the study's form: a
path that already is a token store is used as is; anything else is prepared once into OUT/data, and a later call
with another corpus or vocabulary for the same OUT is refused. With a `tokenizer` (continued pretraining: the
base's tokenizer.json) the store is prepared with it, and a store made with another tokenizer is refused.
Exercised by tests/test_run.py and tests/test_store.py.
"""
import sys
from pathlib import Path

from squeeze.data.corpus import iter_documents
from squeeze.data.store import prepare_store
from squeeze.errors import SqueezeError
from squeeze.io import read_json


def prepare_corpus(data: str | None, out: str | Path, *, vocab_size: int, text_field: str = "text",
                   **store_options) -> dict:
    """Prepare the corpus at `data` (None: the built-in one) into the token store `out`; returns its meta.json."""
    if next(iter_documents(data, text_field=text_field), None) is None:
        raise SqueezeError(f"{data or 'built-in corpus'}: corpus is empty (no non-blank documents)")
    return prepare_store(lambda: iter_documents(data, text_field=text_field), out, vocab_size=vocab_size,
                         source=data or "builtin", **store_options)


def existing_store(data: str | None, out: Path, vocab_size: int, fingerprint: str = "") -> Path | None:
    """The token store ensure_store would use without preparing one (None if it must prepare it), read-only: a
    store in out/data prepared from another corpus or with another vocabulary is refused, and so is any store
    whose tokenizer is not the one with `fingerprint` (when given)."""
    if data and (Path(data) / "meta.json").exists():
        return _same_tokenizer(Path(data), fingerprint)
    store = Path(out) / "data"
    if not (store / "meta.json").exists():
        return None
    meta = read_json(store / "meta.json")
    if (meta.get("source"), meta.get("vocab_size")) != (data or "builtin", vocab_size):
        raise SqueezeError(f"{store}: prepared from {meta.get('source')} with vocabulary {meta.get('vocab_size')}, "
                           f"not {data or 'builtin'} with {vocab_size}; use another --out")
    return _same_tokenizer(store, fingerprint)


def _same_tokenizer(store: Path, fingerprint: str) -> Path:
    if fingerprint and read_json(store / "meta.json").get("tokenizer_fingerprint") != fingerprint:
        raise SqueezeError(f"{store}: a token store made with another tokenizer than the base's; give the corpus "
                           "itself to --data (it is prepared with the base's tokenizer) or use another --out")
    return store


def ensure_store(data: str | None, out: Path, vocab_size: int, text_field: str = "text",
                 tokenizer: str | None = None, fingerprint: str = "") -> Path:
    """A token store for `data`: used as is when it already is one, else prepared once into out/data (with
    `tokenizer`, a tokenizer.json whose fingerprint is `fingerprint`, instead of training one)."""
    if store := existing_store(data, out, vocab_size, fingerprint):
        return store
    store = Path(out) / "data"
    print(f"preparing {'the built-in corpus' if data is None else data} -> {store}", file=sys.stderr)
    prepare_corpus(data, store, vocab_size=vocab_size, text_field=text_field, tokenizer_path=tokenizer)
    return store
