"""Shared fixtures: a tiny synthetic corpus and its token store, made once per test session."""
import numpy as np
import pytest
import torch

from squeeze.config import Config
from squeeze.data.corpus import Document
from squeeze.data.store import prepare_store

# Tiny models are dominated by per-op overhead: one thread avoids 2-thread sync costs (~4x faster here).
torch.set_num_threads(1)

WORDS = ("the king and queen of england spoke to the fool in the forest where a lord said thou art "
         "my brother and i shall not go unto the house of the lord for ever amen").split()


def synthetic_documents(n: int = 60, seed: int = 0) -> list[Document]:
    """Word salad with some structure (bigram-ish repeats), ~1-2k characters per document."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        k = int(rng.integers(150, 300))
        idx = np.cumsum(rng.integers(1, 4, size=k)) % len(WORDS)
        docs.append(Document(f"doc{i}", " ".join(WORDS[j] for j in idx) + ".\n"))
    return docs


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    """A token store of ~20k training tokens with a 300-token vocabulary."""
    out = tmp_path_factory.mktemp("store")
    prepare_store(synthetic_documents(), out, vocab_size=300, val_fraction=0.1, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_store, tmp_path_factory):
    """A finished 1-layer run of one epoch on tiny_store, shared: tests read it or copy it, never write into it."""
    from squeeze.train.trainer import train
    run = tmp_path_factory.mktemp("tiny_run") / "run"
    cfg = tiny_config(tiny_store, epochs=1)
    cfg.model.n_layer = 1
    train(cfg, run, quiet=True)
    return run


def tiny_config(store, **train) -> Config:
    """A 2-layer d 32 model that trains in about a second on one core."""
    c = Config()
    c.data.path = str(store)
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = 2, 32, 2, 32
    c.train.batch_size, c.train.epochs, c.train.lr, c.train.dtype = 8, 2, 3e-3, "fp32"
    c.train.ckpt_every, c.train.log_every = 5, 2
    for k, v in train.items():
        setattr(c.train, k, v)
    return c


def train_until_killed(cfg: Config, run_dir, monkeypatch, at_step: int) -> None:
    """Train `cfg` into `run_dir` and stop it dead when step `at_step` begins (a simulated kill: the run directory
    is left as a SIGKILL would leave it), then restore the trainer for the resume that follows."""
    from squeeze.train import trainer
    real = trainer.lr_multiplier

    def crash(step, total, tc):
        if step == at_step:
            raise RuntimeError("simulated kill")
        return real(step, total, tc)
    monkeypatch.setattr(trainer, "lr_multiplier", crash)
    with pytest.raises(RuntimeError, match="simulated kill"):
        trainer.train(cfg, run_dir, quiet=True)
    monkeypatch.setattr(trainer, "lr_multiplier", real)
