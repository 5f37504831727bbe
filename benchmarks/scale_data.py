"""Data beyond memory: generate a synthetic corpus of ~N tokens, prepare it with streaming `squeeze prepare`, read
it back through the memmapped store and the epoch loader, and record the time and peak memory of each phase.

Each phase runs in its own process, so its peak memory is its own: peak_rss_mb (resource.getrusage ru_maxrss,
which counts touched memmapped file pages too) and peak_anon_mb (the largest RssAnon of /proc/self/status, sampled
every 0.1 s: the memory the process itself holds, which is what "bounded" is about):
  generate  a .jsonl corpus of Zipf-distributed made-up words (~N tokens at the 8k BPE vocabulary)
  prepare   prepare_store over a lazily read corpus (3 passes; tokenizer on a bounded sample)
  read      random training batches through EpochLoader, then one sequential pass over train.bin
Memmapped pages read in the `read` phase count in its RSS, but they are clean file pages the kernel can drop.

Run:  python benchmarks/scale_data.py --tokens 1000000000 --out /data/scale   (the issue's 1B-token store)
      python benchmarks/scale_data.py --tokens 20000000 --out /tmp/scale_data  (what fits ~10 min on 2 cores)
Results go to stdout as JSON lines and to OUT/results.json.
"""
import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

TOKENS_PER_WORD = 1.15  # measured on this generator with an 8,192 BPE (300k-token run: 1.15)
WORDS_PER_DOC = 1500


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class AnonPeak:
    """The largest anonymous resident memory (RssAnon, MB) seen by a sampling thread; Linux only."""

    def __init__(self, every: float = 0.1):
        self.peak, self.every = 0.0, every
        threading.Thread(target=self._run, daemon=True).start()

    def sample(self) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                self.peak = max(self.peak, int(line.split()[1]) / 1024)
        return self.peak

    def _run(self) -> None:
        while True:
            self.sample()
            time.sleep(self.every)


def generate(out: Path, tokens: int, seed: int = 0) -> dict:
    """A jsonl corpus written one document at a time (bounded memory whatever its size)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    lengths = rng.integers(2, 10, size=30_000)
    vocab = np.array(["".join(rng.choice(letters, n)) for n in lengths])
    words = int(tokens / TOKENS_PER_WORD)
    nbytes = 0
    with open(out, "w", encoding="utf-8") as f:
        while words > 0:
            n = min(WORDS_PER_DOC, words)
            ids = np.minimum(rng.zipf(1.2, size=n) - 1, len(vocab) - 1)
            line = json.dumps({"text": " ".join(vocab[ids]) + ".\n"}) + "\n"
            f.write(line)
            nbytes += len(line)
            words -= n
    return {"corpus_bytes": nbytes}


def prepare(corpus: Path, store: Path, sample_chars: int) -> dict:
    from squeeze.data.corpus import iter_documents
    from squeeze.data.store import prepare_store
    meta = prepare_store(lambda: iter_documents(corpus), store, vocab_size=8192, force=True,
                         tokenizer_sample_chars=sample_chars)
    return {"train_tokens": meta["train_tokens"], "val_tokens": meta["val_tokens"],
            "n_docs": meta["n_train_docs"] + meta["n_val_docs"]}


def read(store_dir: Path, steps: int) -> dict:
    from squeeze.data.loader import EpochLoader
    from squeeze.data.store import TokenStore
    store = TokenStore.open(store_dir)
    loader = EpochLoader(store.train, 256, 64, seed=0, doc_offsets=store.train_offsets, doc_shuffle=True)
    t = time.perf_counter()
    got = 0
    for step in range(min(steps, loader.steps_per_epoch)):
        x, _ = loader.batch(0, step)
        got += x.numel()
    random_s = time.perf_counter() - t
    rss_after_batches = peak_mb()
    t, total = time.perf_counter(), 0
    for i in range(0, len(store.train), 1 << 24):
        total += int(np.asarray(store.train[i:i + (1 << 24)], dtype=np.int64).sum())
    seq_s = time.perf_counter() - t
    return {"batch_tokens_per_s": round(got / random_s), "batches": min(steps, loader.steps_per_epoch),
            "peak_rss_mb_after_batches": round(rss_after_batches, 1),
            "sequential_tokens_per_s": round(len(store.train) / seq_s), "checksum": total}


def run_phase(args: argparse.Namespace) -> None:
    out = Path(args.out)
    anon = AnonPeak()
    t = time.perf_counter()
    if args.phase == "generate":
        res = generate(out / "corpus.jsonl", args.tokens)
    elif args.phase == "prepare":
        res = prepare(out / "corpus.jsonl", out / "store", args.sample_chars)
    else:
        res = read(out / "store", args.steps)
    use = resource.getrusage(resource.RUSAGE_SELF)  # CPU seconds: wall time on a shared machine says little
    res.update(phase=args.phase, seconds=round(time.perf_counter() - t, 1),
               cpu_seconds=round(use.ru_utime + use.ru_stime, 1), peak_rss_mb=round(peak_mb(), 1),
               peak_anon_mb=round(anon.sample(), 1))
    print(json.dumps(res), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=1_000_000_000, help="target corpus size in tokens")
    p.add_argument("--out", required=True)
    p.add_argument("--sample-chars", type=int, default=100_000_000, help="tokenizer training sample (characters)")
    p.add_argument("--steps", type=int, default=2000, help="random loader batches to time in the read phase")
    p.add_argument("--reuse-corpus", action="store_true", help="skip generate when OUT/corpus.jsonl exists")
    p.add_argument("--phase", choices=("generate", "prepare", "read"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        return run_phase(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    results = []
    skip = args.reuse_corpus and Path(args.out, "corpus.jsonl").exists()
    for phase in ("prepare", "read") if skip else ("generate", "prepare", "read"):
        cmd = [sys.executable, __file__, "--phase", phase, "--tokens", str(args.tokens), "--out", args.out,
               "--sample-chars", str(args.sample_chars), "--steps", str(args.steps)]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(line, flush=True)
        results.append(json.loads(line))
    Path(args.out, "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
