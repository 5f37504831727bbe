"""Multiple-choice accuracy: hand-computed log-likelihoods and metrics, the harness's tokenization rule, a task
a bigram model must get right, the built-in heldout task (structure, seeds, an oracle scores 1.0), the CLI."""
import json

import numpy as np
import pytest
import torch

from squeeze.cli import main
from squeeze.data.store import TokenStore, prepare_store
from squeeze.errors import SqueezeError
from squeeze.evaluation.tasks import (
    Example,
    choice_logliks,
    encode_pair,
    examples_from_rows,
    heldout_accuracy,
    heldout_examples,
    mc_metrics,
    read_mc_jsonl,
    score,
)
from squeeze.train.checkpoint import load_run
from squeeze.train.trainer import train
from tests.conftest import synthetic_documents, tiny_config


def bigram_fn(table_VV):
    return lambda x_BT: table_VV[x_BT]


def test_choice_logliks_by_hand():
    torch.manual_seed(0)
    table = torch.randn(5, 5)
    lsm = table.log_softmax(-1)
    ex = Example(context=[1, 2], choices=[[3, 4], [0]], choice_bytes=[2, 1], label=0)
    got = choice_logliks(bigram_fn(table), ex, bos=0, seq_len=10)
    assert got == pytest.approx([float(lsm[2, 3] + lsm[3, 4]), float(lsm[2, 0])], abs=1e-6)

    seen = []
    def window_checked(x_BT):
        seen.append(x_BT.clone())
        return table[x_BT]
    long = Example(context=[1, 2, 3, 4, 1, 2], choices=[[2, 1], [4]], choice_bytes=[1, 1], label=0)
    got = choice_logliks(window_checked, long, bos=0, seq_len=3)  # context cut from the left, choice whole
    assert seen[0].shape[1] == 3 and seen[0][0].tolist() == [1, 2, 2]
    assert got[0] == pytest.approx(float(lsm[2, 2] + lsm[2, 1]), abs=1e-6)


def test_mc_metrics_by_hand():
    # example 1: raw picks choice 0 (-1 > -2), per byte picks choice 1 (-2/4 > -1/1); example 2: both pick 1
    out = mc_metrics([[-1.0, -2.0], [-3.0, -1.0]], [[1, 4], [1, 1]], [1, 1])
    assert (out["acc"], out["acc_norm"], out["n"], out["chance"]) == (0.5, 1.0, 2, 0.5)


def test_encode_pair_moves_trailing_space(tiny_store):
    tok = TokenStore.open(tiny_store).tokenizer
    enc = lambda t: tok.encode(t).ids
    ctx, cont, nbytes = encode_pair(enc, "the king and ", "queen")
    assert ctx == enc("the king and") and ctx + cont == enc("the king and queen") and nbytes == 5


def test_a_bigram_model_of_the_answers_gets_them_right(tiny_store, tmp_path):
    tok = TokenStore.open(tiny_store).tokenizer
    enc = lambda t: tok.encode(t).ids
    rows = [{"context": "the king and", "choices": [" forest lord amen", " queen of england"], "label": 1},
            {"context": "thou art", "choices": [" my brother", " unto spoke fool"], "label": 0},
            {"context": "the lord", "choices": [" go house the", " king brother", " for ever amen"], "label": 2}]
    path = tmp_path / "task.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert read_mc_jsonl(path) == rows
    V = tok.get_vocab_size()
    counts = torch.full((V, V), 0.01)
    for r in rows:  # a "model" that memorized the right answers
        ids = [0] + enc(r["context"] + r["choices"][r["label"]])
        for a, b in zip(ids, ids[1:]):
            counts[a, b] += 1
    out = score(bigram_fn(counts.log()), examples_from_rows(rows, enc), bos=0, seq_len=32)
    assert (out["acc"], out["acc_norm"], out["n"]) == (1.0, 1.0, 3)
    wrong = [{**r, "label": (r["label"] + 1) % len(r["choices"])} for r in rows]
    assert score(bigram_fn(counts.log()), examples_from_rows(wrong, enc), 0, 32)["acc"] == 0.0


def test_bad_task_rows_name_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"context": "a", "choices": ["b", "c"], "label": 0}\n{"context": "a", "choices": ["b"], '
                    '"label": 0}\n')
    with pytest.raises(SqueezeError, match=r"t.jsonl:2: expected"):
        read_mc_jsonl(path)


@pytest.fixture(scope="module")
def val_store(tiny_store, tmp_path_factory):
    """tiny_store's tokenizer, with 30% of 40 documents held out (tiny_store holds out only 3)."""
    out = tmp_path_factory.mktemp("valstore")
    prepare_store(synthetic_documents(40, seed=5), out, tokenizer_path=tiny_store / "tokenizer.json",
                  val_fraction=0.3)
    return out


def test_heldout_task_structure_and_seeds(val_store):
    s = TokenStore.open(val_store)
    a = heldout_examples(s.val, s.val_offsets, s.token_bytes, 16, 8, n=50, seed=0)
    assert len(a) == s.meta["n_val_docs"] >= 4  # every held-out document once
    docs = {tuple(np.asarray(s.val[x:y - 1]).tolist()) for x, y in zip(s.val_offsets[:-1], s.val_offsets[1:])}
    for ex in a:
        assert len(ex.context) == 16 and len(ex.choices) == 4 and all(len(c) == 8 for c in ex.choices)
        assert any(d[:24] == tuple(ex.context + ex.choices[ex.label]) for d in docs)
        assert ex.choice_bytes == [int(s.token_bytes[c].sum()) for c in ex.choices]
    again = heldout_examples(s.val, s.val_offsets, s.token_bytes, 16, 8, n=50, seed=0)
    other = heldout_examples(s.val, s.val_offsets, s.token_bytes, 16, 8, n=50, seed=1)
    assert again == a and other != a
    assert sorted(ex.label for ex in a) != [a[0].label] * len(a)  # the answer moves around
    with pytest.raises(SqueezeError, match="held-out documents have"):
        heldout_examples(s.val, s.val_offsets, s.token_bytes, 10_000, 8)


def test_an_oracle_that_knows_the_documents_scores_one(val_store):
    s = TokenStore.open(val_store)
    docs = {tuple(np.asarray(s.val[x:y]).tolist()[:16]): np.asarray(s.val[x:y], dtype=np.int64)
            for x, y in zip(s.val_offsets[:-1], s.val_offsets[1:])}

    def oracle(x_BT):  # row = EOT + document prefix: position t predicts the document's token t
        out = torch.zeros(*x_BT.shape, s.vocab_size)
        for b, row in enumerate(x_BT.tolist()):
            doc = docs[tuple(row[1:17])]
            out[b, torch.arange(len(row)), torch.as_tensor(doc[:len(row)])] = 20.0
        return out
    examples = heldout_examples(s.val, s.val_offsets, s.token_bytes, 16, 8, seed=3)
    out = score(oracle, examples, s.eot_id, seq_len=32)
    assert (out["acc"], out["acc_norm"], out["chance"]) == (1.0, 1.0, 0.25)


@pytest.fixture(scope="module")
def run(tiny_store, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "r"
    train(tiny_config(tiny_store, epochs=1), run, quiet=True)
    return run


def test_eval_task_on_the_command_line(run, val_store, tmp_path, capsys):
    assert main(["eval", str(run), "--task", "heldout", "--data", str(val_store), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    cfg, model, _ = load_run(run)
    want = heldout_accuracy(model, TokenStore.open(val_store), cfg.model.seq_len)
    assert got == want and got["n"] > 0 and 0 <= got["acc"] <= 1
    path = tmp_path / "t.jsonl"
    path.write_text('{"context": "the king", "choices": [" and", " queen"], "label": 0}\n' * 3)
    assert main(["eval", str(run), "--task", str(path), "--task-limit", "2"]) == 0
    printed = capsys.readouterr().out
    assert "acc_norm" in printed and "over 2 examples" in printed and "per byte" in printed
    assert main(["eval", str(run), "--task", str(tmp_path / "missing.jsonl")]) == 2
