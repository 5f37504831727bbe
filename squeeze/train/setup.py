"""What a run derives from its config and token store before its first step: the store (vocabulary checked), the
training tokens of its budget (a keep-mask's documents, the fitness slice held back) and the epoch-aware loader.
Used by squeeze/train/trainer.py, and by evaluation code that needs a run's store or batches; exercised through
tests/test_trainer.py and tests/test_prune.py.
"""
import hashlib
from dataclasses import dataclass

from squeeze.config import Config
from squeeze.data.loader import EpochLoader
from squeeze.data.mask import fitness_slice, kept_stream, load_selection
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.train import distributed


@dataclass
class Setup:
    """What a run derives from its config and token store before the first step."""
    cfg: Config
    store: TokenStore
    loader: EpochLoader
    total_steps: int
    kept_sha256: str | None = None  # of the keep-mask's flags (data selection), recorded in run.json for resume
    dtype_reason: str | None = None  # why train.dtype is what it is (a new run resolves `auto`; precision.py)
    compile_reason: str | None = None  # why train.compile is what it is (likewise)


def bind_to_store(cfg: Config) -> tuple[Config, TokenStore]:
    """Open the config's token store and fill in (or check) the vocabulary size."""
    if not cfg.data.path:
        raise SqueezeError("data.path is empty: pass --data DIR (a token store made by `squeeze prepare`)")
    store = TokenStore.open(cfg.data.path, verify=True)  # sha256 of every file, once per run (~0.1 s per 10 MB)
    cfg = cfg.copy()
    if cfg.model.vocab_size == 0:
        cfg.model.vocab_size = store.vocab_size
    elif cfg.model.vocab_size != store.vocab_size:
        raise SqueezeError(f"{cfg.data.path}: token store has vocabulary {store.vocab_size}, "
                           f"but model.vocab_size={cfg.model.vocab_size}")
    return cfg, store


def make_setup(cfg: Config, rank: int = 0, world: int = 1) -> Setup:
    cfg, store = bind_to_store(cfg)
    tokens = store.train_prefix(cfg.data.budget_tokens or None)
    offsets = store.train_offsets
    kept_sha256 = None
    if cfg.data.keep_mask:  # data selection: only the kept documents of the budget, epochs over their tokens
        keep, partial = load_selection(cfg.data.keep_mask, store)
        tokens, offsets = kept_stream(store, keep, cfg.data.budget_tokens, cfg.data.keep_mask, partial)
        kept_sha256 = hashlib.sha256(keep.tobytes() + (repr(partial).encode() if partial else b"")).hexdigest()
    if cfg.data.fitness_tokens:  # whole documents of the budget held out as the ensemble fitness slice
        if cfg.data.keep_mask:
            raise SqueezeError("data.fitness_tokens and data.keep_mask: choose one (the slice is drawn from the "
                               "whole budget)")
        held = fitness_slice(store, cfg.data.budget_tokens, cfg.data.fitness_tokens)
        tokens, offsets = kept_stream(store, ~held, cfg.data.budget_tokens, "the fitness slice's complement")
    loader = EpochLoader(tokens, cfg.model.seq_len, distributed.per_rank_batch(cfg.train.batch_size, world),
                         cfg.data.seed, doc_offsets=offsets, doc_shuffle=cfg.data.doc_shuffle,
                         rank=rank, world=world, name=str(cfg.data.path))
    return Setup(cfg, store, loader, cfg.train.epochs * loader.steps_per_epoch, kept_sha256)
