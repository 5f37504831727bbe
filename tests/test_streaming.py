"""Streaming `squeeze prepare`: a callable corpus read lazily gives the same store as a list in memory."""
import json

import pytest

from squeeze.cli import main
from squeeze.data.corpus import iter_documents, load_documents
from squeeze.data.store import TokenStore, prepare_store, sample_score
from tests.conftest import synthetic_documents


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "c.jsonl"
    path.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(40, seed=3)))
    return path


def test_streamed_store_is_identical_to_the_in_memory_one(corpus, tmp_path):
    listed = prepare_store(load_documents(corpus), tmp_path / "list", vocab_size=300, budget_tokens=9000)
    streamed = prepare_store(lambda: iter_documents(corpus), tmp_path / "stream", vocab_size=300,
                             budget_tokens=9000)
    assert streamed["checksums"] == listed["checksums"] and streamed["train_tokens"] == 9000
    assert main(["prepare", "--data", str(corpus), "--out", str(tmp_path / "cli"), "--vocab-size", "300",
                 "--budget-tokens", "9000"]) == 0
    assert json.loads((tmp_path / "cli" / "meta.json").read_text())["checksums"] == listed["checksums"]


def test_tokenizer_sample_is_a_seeded_subset_of_training_documents(corpus, tmp_path):
    full = prepare_store(lambda: iter_documents(corpus), tmp_path / "full", vocab_size=300)
    small = [prepare_store(lambda: iter_documents(corpus), tmp_path / f"s{i}", vocab_size=300,
                           tokenizer_sample_chars=8000) for i in range(2)]
    assert small[0]["checksums"] == small[1]["checksums"]  # the sample is fixed by the seed
    assert small[0]["tokenizer_fingerprint"] != full["tokenizer_fingerprint"]
    assert small[0]["n_val_docs"] == full["n_val_docs"] and small[0]["train_bytes"] == full["train_bytes"]
    store = TokenStore.open(tmp_path / "s0", verify=True)
    assert int(store.token_bytes[store.train].sum()) == full["train_bytes"]  # still lossless
    texts = [d.text for d in iter_documents(corpus)]
    share = sum(sample_score(0, t) < 0.1 for t in texts) / len(texts)
    assert 0.0 < share < 0.3  # ~10% of documents below 0.1: a uniform score
