"""`squeeze prepare` (text -> token store) and `squeeze prune` (data selection -> a keep-mask): their flags and
their checks, the calls into squeeze/data/prepare.py and squeeze/prune/pipeline.py, and what they print.
Exercised by tests/test_cli.py and tests/test_prune.py.
"""
import argparse
import sys
from pathlib import Path

from squeeze.cli import checks
from squeeze.data.prepare import prepare_corpus
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.prune.keep_rule import RULE
from squeeze.prune.pipeline import METHODS, PruneOptions, prune_documents
from squeeze.prune.rule import keep_direction


def add_prepare_parser(sub) -> None:
    q = sub.add_parser("prepare", help="text -> token store")
    q.add_argument("--data", default=None, help="a .txt file, a folder of .txt files, a .jsonl or .parquet file, "
                                                 "or a `datasets` save_to_disk folder; "
                                                 "default: the built-in Shakespeare + King James Bible corpus")
    q.add_argument("--out", required=True, help="token store directory to create")
    q.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary to train (default 8192)")
    q.add_argument("--tokenizer", default=None, help="use this tokenizer.json instead of training one")
    q.add_argument("--text-field", default="text", help=".jsonl field, or .parquet / datasets column, holding the "
                                                        "text (default: text)")
    q.add_argument("--val-fraction", type=float, default=0.05, help="share of documents held out (default 0.05)")
    q.add_argument("--budget-tokens", type=int, default=None, help="store only this many training tokens")
    q.add_argument("--seed", type=int, default=0, help="seed of the split and of the document order")
    q.add_argument("--force", action="store_true", help="overwrite an existing token store")
    q.add_argument("--tokenizer-sample-chars", type=int, default=None, help="train the tokenizer on a seeded sample "
                   "of about this many characters of training text (default 1e9: all of a corpus below ~1 GB)")


VOCAB_MAX = 2**20  # 4x the largest BPE vocabularies in use (~256k); the store keeps ids as uint32 past 65,536


def check_prepare(a: argparse.Namespace, _overrides: list[str]) -> None:
    checks.existing("--data", a.data)
    checks.output_dir("--out", a.out)
    checks.number("--vocab-size", a.vocab_size, 257, VOCAB_MAX)  # 256 bytes + the end-of-text token
    checks.existing("--tokenizer", a.tokenizer, "file")
    checks.text("--text-field", a.text_field)
    checks.number("--val-fraction", a.val_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    checks.number("--budget-tokens", a.budget_tokens, 2, checks.COUNT_MAX)  # a sequence needs an input and a target
    checks.seed("--seed", a.seed)
    checks.number("--tokenizer-sample-chars", a.tokenizer_sample_chars, 1, checks.COUNT_MAX)
    if (Path(a.out) / "meta.json").exists() and not a.force:
        raise SqueezeError(f"{a.out}: already holds a token store (meta.json); use --force to overwrite it")
    checks.make_outputs(a.out)


def cmd_prepare(a: argparse.Namespace) -> None:
    meta = prepare_corpus(a.data, a.out, vocab_size=a.vocab_size, text_field=a.text_field,
                          tokenizer_path=a.tokenizer, val_fraction=a.val_fraction, seed=a.seed,
                          budget_tokens=a.budget_tokens, force=a.force,
                          **({"tokenizer_sample_chars": a.tokenizer_sample_chars} if a.tokenizer_sample_chars else {}))
    print(f"{a.out}: {meta['n_train_docs']:,} training documents ({meta['train_tokens']:,} tokens), "
          f"{meta['n_val_docs']:,} validation documents ({meta['val_tokens']:,} tokens), vocabulary "
          f"{meta['vocab_size']:,}")


RULE_NOW = (f"keep {RULE['default']} at every pool size ({RULE['source']})" if not RULE["measured"]
            else "measured per pool size by benchmarks/pruning_frontier.py: " + ", ".join(
                f"{p['pool']:,} tokens {p['keep']}" + ("" if p["keep"] != "either" else
                                                       f" (within noise; {keep_direction(p['pool']).keep} by the "
                                                       "point estimate)")
                for p in RULE["pools"]) + "; the nearest pool in log size decides")


def add_prune_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("prune", help="select training documents: write a keep-mask for `squeeze train`")
    p.add_argument("--data", required=True, help="token store directory")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--keep", type=float, default=None, help="fraction of the candidate tokens to keep, in (0, 1]")
    p.add_argument("--out", required=True, help="keep-mask file to write (JSON)")
    p.add_argument("--budget-tokens", type=int, default=0, help="select inside this budget prefix (0 = whole store)")
    p.add_argument("--clusters", type=int, default=0, help="k-means clusters (0 = sqrt(candidate documents))")
    hard = p.add_mutually_exclusive_group()
    hard.add_argument("--keep-hard", dest="hard", action="store_const", const=True, default=None,
                      help="prototypes/d4: keep documents far from their centroid (the paper: when data is "
                           "plentiful)")
    hard.add_argument("--keep-easy", dest="hard", action="store_const", const=False,
                      help="prototypes/d4: keep documents near their centroid (the paper: when data is scarce). "
                           "Default, neither flag: the rule of squeeze/prune/keep_rule.py for the candidate tokens, "
                           f"now: {RULE_NOW}")
    p.add_argument("--balance", action="store_true", help="prototypes/d4: equal token quota per cluster")
    p.add_argument("--eps", type=float, default=None, help="semdedup/d4: drop cos > 1 - eps (else searched for --keep)")
    p.add_argument("--dedup-keep", type=float, default=0.75, help="d4: token fraction SemDeDup keeps before "
                                                                  "prototypes (default 0.75, as in D4)")
    p.add_argument("--slice", default="middle", choices=("low", "middle", "high"), help="perplexity: which slice")
    p.add_argument("--embedder", default="minilm", help="minilm, or a squeeze run directory (mean hidden states)")
    p.add_argument("--cache", default=None, help="embedding cache directory (default: STORE/embeddings)")
    p.add_argument("--ref-config", default=None, help="perplexity: reference model config.json (default: 2x64)")
    p.add_argument("--ref-dir", default=None, help="perplexity: where reference runs go (default: MASK.ref/)")
    p.add_argument("--workers", type=int, default=1, help="perplexity: reference runs in parallel")
    p.add_argument("--seed", type=int, default=0, help="k-means, fold and random seed")
    return p


def check_prune(a: argparse.Namespace, _overrides: list[str]) -> None:
    checks.existing("--data", a.data, "dir")
    TokenStore.open(a.data)
    checks.output_file("--out", a.out)
    checks.number("--budget-tokens", a.budget_tokens, 0, checks.COUNT_MAX)
    checks.number("--clusters", a.clusters, 0, checks.COUNT_MAX)
    checks.number("--keep", a.keep, 0.0, 1.0, lo_open=True)
    checks.number("--eps", a.eps, 0.0, 2.0)
    checks.number("--dedup-keep", a.dedup_keep, 0.0, 1.0, lo_open=True)
    if a.embedder != "minilm":
        checks.existing("--embedder", a.embedder, "dir")
    checks.output_dir("--cache", a.cache)
    checks.existing("--ref-config", a.ref_config, "file")
    checks.output_dir("--ref-dir", a.ref_dir)
    checks.workers("--workers", a.workers)
    checks.seed("--seed", a.seed)
    if a.method != "perplexity" and (a.ref_config or a.ref_dir):
        raise SqueezeError(f"--ref-config and --ref-dir apply to --method perplexity, not {a.method}")
    if a.eps is not None and a.method not in ("semdedup", "d4"):
        raise SqueezeError(f"--eps applies to --method semdedup and d4, not {a.method}")
    a.options = PruneOptions(**{k: v for k, v in vars(a).items() if k != "command"})  # its own cross-checks
    checks.make_outputs(str(Path(a.out).parent), a.cache, a.ref_dir)


def cmd_prune(a: argparse.Namespace) -> dict:
    summary = prune_documents(a.options, say=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{summary['out']}: kept {summary['kept_docs']:,} of {summary['candidate_docs']:,} documents, "
          f"{summary['kept_tokens']:,} of {summary['candidate_tokens']:,} tokens "
          f"({summary['kept_tokens'] / max(summary['candidate_tokens'], 1):.1%}); summary {summary['summary_path']}")
    return summary
