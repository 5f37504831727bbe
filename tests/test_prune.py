"""Data selection: k-means, prototypes, SemDeDup, eps search, slices, masks on disk, training with a mask."""
import json

import numpy as np
import pytest

from squeeze.cli import main as cli
from squeeze.data.mask import budget_doc_tokens, kept_stream, load_mask, load_selection, save_mask
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.prune import select
from squeeze.train.setup import make_setup
from squeeze.train.trainer import train
from tests.conftest import tiny_config, train_until_killed


def planted(n_clusters=5, per=40, d=32, spread=0.15, seed=0):
    """Unit vectors around n_clusters random centres, plus 5 outliers (random directions) at the end."""
    rng = np.random.default_rng(seed)
    centres = select.normalize(rng.normal(size=(n_clusters, d)))
    x = np.concatenate([centres[i] + spread * rng.normal(size=(per, d)) / np.sqrt(d) for i in range(n_clusters)])
    outliers = rng.normal(size=(5, d))
    return select.normalize(np.concatenate([x, outliers])), np.repeat(np.arange(n_clusters), per)


def agreement(a, b):
    """Fraction of point pairs on which two clusterings agree (Rand index)."""
    same_a, same_b = a[:, None] == a[None], b[:, None] == b[None]
    return (same_a == same_b).mean()


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_kmeans_recovers_planted_clusters(backend):
    if backend == "faiss" and select._faiss() is None:
        pytest.skip("faiss-cpu not installed (pip install 'squeeze[prune]')")
    x, truth = planted()
    c = select.kmeans(x[:200], 5, seed=0, backend=backend)
    assert c.shape == (5, 32) and np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)
    best, _ = select.assign(x[:200], c)
    assert agreement(best, truth) == 1.0


def test_torch_kmeans_matches_faiss_and_is_deterministic():
    if select._faiss() is None:
        pytest.skip("faiss-cpu not installed (pip install 'squeeze[prune]')")
    x, _ = planted(n_clusters=8, per=50, spread=0.4, seed=3)
    ct, cf = select.kmeans(x, 8, seed=1, backend="torch"), select.kmeans(x, 8, seed=1, backend="faiss")
    at, cos_t = select.assign(x, ct)
    af, cos_f = select.assign(x, cf)
    assert agreement(at, af) > 0.97
    assert abs(cos_t.mean() - cos_f.mean()) < 0.01  # the objective: mean cosine to the nearest centroid
    assert np.array_equal(ct, select.kmeans(x, 8, seed=1, backend="torch"))


def test_prototypes_rank_the_outliers_hardest():
    x, _ = planted()
    c = select.kmeans(x, 5, seed=0, backend="torch")
    _, cos = select.assign(x, c)
    score = 1 - cos
    assert set(np.argsort(-score)[:5]) == set(range(200, 205))
    ntok = np.ones(len(x), dtype=np.int64)
    hard = select.prototype_keep(score, ntok, 5 / 205, hard=True)
    easy = select.prototype_keep(score, ntok, 200 / 205, hard=False)
    assert set(np.flatnonzero(hard)) == set(range(200, 205)) and not easy[200:].any() and easy[:200].all()


def test_keep_fraction_is_over_tokens():
    ntok = np.array([10, 0, 30, 20, 40])
    keep = select.take_until(np.arange(5), ntok, 35)  # 10 + 30 = 40 >= 35; the 0-token document is skipped
    assert keep.tolist() == [True, False, True, False, False]
    r = select.random_keep(ntok, 0.5, seed=4)
    assert ntok[r].sum() >= 50 and not r[1]
    assert np.array_equal(r, select.random_keep(ntok, 0.5, seed=4))


def test_balance_gives_clusters_equal_token_quotas():
    assert select._balanced_quotas(np.array([10.0, 100.0, 100.0]), 90).tolist() == [10, 40, 40]
    score = np.arange(12, dtype=float)
    cluster = np.array([0] * 2 + [1] * 10)
    keep = select.prototype_keep(score, np.ones(12, int), 4 / 12, hard=True, cluster_N=cluster, balance=True)
    assert keep[:2].all() and keep.sum() == 4  # cluster 0 keeps both, cluster 1 its 2 hardest
    assert keep[10:].all()


def test_semdedup_removes_exactly_the_planted_near_duplicates():
    x, _ = planted(spread=0.6)
    rng = np.random.default_rng(1)
    src = rng.choice(205, size=15, replace=False)
    dups = select.normalize(x[src] + 0.01 * rng.normal(size=(15, 32)))  # cos ~ 0.9999 to their source
    xa = np.concatenate([x, dups])
    c = select.kmeans(xa, 5, seed=0, backend="torch")
    cluster, _ = select.assign(xa, c)
    keep = select.semdedup_keep(xa, cluster, eps=0.01)
    assert np.flatnonzero(~keep).tolist() == list(range(205, 220))


def test_eps_search_hits_the_target_size():
    rng = np.random.default_rng(0)
    x = select.normalize(rng.normal(size=(300, 8)))
    cluster, _ = select.assign(x, select.kmeans(x, 4, seed=0, backend="torch"))
    ntok = rng.integers(50, 150, size=300)
    for frac in (0.3, 0.7):
        eps, keep = select.eps_for_keep(x, cluster, ntok, frac)
        assert abs(ntok[keep].sum() / ntok.sum() - frac) < 0.01, (frac, eps)
        assert np.array_equal(keep, select.semdedup_keep(x, cluster, eps, ntok > 0))


def test_perplexity_slices():
    score = np.array([5.0, 1.0, 3.0, 4.0, 2.0, 9.0])
    ntok = np.ones(6, dtype=np.int64)
    assert np.flatnonzero(select.slice_keep(score, ntok, 0.5, "low")).tolist() == [1, 2, 4]
    assert np.flatnonzero(select.slice_keep(score, ntok, 0.5, "high")).tolist() == [0, 3, 5]
    assert np.flatnonzero(select.slice_keep(score, ntok, 2 / 6, "middle")).tolist() == [2, 3]


# ---- masks on disk and the trainer ----

def test_mask_round_trip_and_refusals(tiny_store, tmp_path):
    store = TokenStore.open(tiny_store)
    n = store.meta["n_train_docs"]
    keep = np.arange(n) % 3 != 0
    save_mask(tmp_path / "m.json", store, keep, method="test")
    assert np.array_equal(load_mask(tmp_path / "m.json", store), keep)
    d = json.loads((tmp_path / "m.json").read_text())
    for bad, match in [({**d, "store_fingerprint": "abc"}, "made for another token store"),
                       ({**d, "n_train_docs": n + 1}, "made for another token store"),
                       ({**d, "keep": d["keep"][:-1]}, "string of"),
                       ({**d, "format": "x"}, "not a version-1 squeeze keep-mask")]:
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(SqueezeError, match=match) as e:
            load_mask(tmp_path / "bad.json", store)
        assert "\n" not in str(e.value)
    (tmp_path / "junk.json").write_bytes(b"\x80not json")
    with pytest.raises(SqueezeError, match="not a keep-mask"):
        load_mask(tmp_path / "junk.json", store)


def test_cli_bad_mask_is_one_line_error(tiny_store, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{}")
    rc = cli(["train", "--data", str(tiny_store), "--out", str(tmp_path / "r"), "--data.keep_mask",
              str(tmp_path / "bad.json"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "bad.json: not a version-1 squeeze keep-mask" in err


def test_training_with_a_mask_sees_only_kept_documents(tiny_store, tmp_path):
    store = TokenStore.open(tiny_store)
    n, offsets = store.meta["n_train_docs"], np.asarray(store.train_offsets)
    keep = np.zeros(n, dtype=bool)
    keep[[1, 4, 7, 9]] = True
    save_mask(tmp_path / "m.json", store, keep)
    cfg = tiny_config(tiny_store, epochs=1)
    cfg.data.keep_mask = str(tmp_path / "m.json")
    setup = make_setup(cfg)
    expect = np.concatenate([store.train[offsets[d]:offsets[d + 1]] for d in (1, 4, 7, 9)])
    assert np.array_equal(setup.loader.tokens, expect)
    seen = set()
    for step in range(setup.loader.steps_per_epoch):
        x, y = setup.loader.batch(0, step)
        seen |= {tuple(r) for r in x.numpy()}
    windows = {tuple(expect[i * 32:i * 32 + 32]) for i in range(setup.loader.n_sequences)}
    assert seen == windows  # every kept window once, nothing else
    s = train(cfg, tmp_path / "r", quiet=True)
    assert s["unique_tokens"] == setup.loader.tokens_per_epoch < len(store.train)


def test_budget_prefix_with_a_mask(tiny_store):
    store = TokenStore.open(tiny_store)
    offsets = np.asarray(store.train_offsets)
    budget = int(offsets[3] + 10)  # cuts document 3 after 10 tokens
    ntok = budget_doc_tokens(store, budget)
    assert ntok[:3].tolist() == np.diff(offsets[:4]).tolist() and ntok[3] == 10 and not ntok[4:].any()
    keep = np.ones(len(ntok), dtype=bool)
    keep[1] = False
    tokens, offs = kept_stream(store, keep, budget)
    assert len(tokens) == budget - (offsets[2] - offsets[1]) and offs[-1] == len(tokens)


def test_masked_run_resumes_bit_identical(tiny_store, tmp_path, monkeypatch):
    from safetensors.torch import load_file
    store = TokenStore.open(tiny_store)
    keep = np.arange(store.meta["n_train_docs"]) % 2 == 0
    save_mask(tmp_path / "m.json", store, keep)
    cfg = tiny_config(tiny_store, epochs=2)
    cfg.data.keep_mask, cfg.data.doc_shuffle = str(tmp_path / "m.json"), True
    train(cfg, tmp_path / "straight", quiet=True)
    train_until_killed(cfg, tmp_path / "killed", monkeypatch, at_step=7)
    save_mask(tmp_path / "m.json", store, ~keep)  # same file name, other documents: the resume refuses
    with pytest.raises(SqueezeError, match="m.json: keeps other documents than when .*killed started"):
        train(cfg, tmp_path / "killed", resume=True, quiet=True)
    save_mask(tmp_path / "m.json", store, keep)
    train(cfg, tmp_path / "killed", resume=True, quiet=True)
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "killed" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_prune_cli_random_and_perplexity(tiny_store, tmp_path):
    store = TokenStore.open(tiny_store)
    args = ["prune", "--data", str(tiny_store), "--keep", "0.5", "--seed", "3"]
    assert cli([*args, "--method", "random", "--out", str(tmp_path / "r1.json")]) == 0
    assert cli([*args, "--method", "random", "--out", str(tmp_path / "r2.json")]) == 0
    assert (tmp_path / "r1.json").read_text() == (tmp_path / "r2.json").read_text()  # deterministic for a seed
    summary = json.loads((tmp_path / "r1.summary.json").read_text())
    ntok = budget_doc_tokens(store)
    keep, partial = load_selection(tmp_path / "r1.json", store)
    # exactly the target: whole documents, then the first tokens of one more (like for like across methods)
    assert summary["kept_tokens"] == ntok[keep].sum() + (partial[1] if partial else 0) == round(0.5 * ntok.sum())
    ref = tiny_config(tiny_store, epochs=1)
    from squeeze import config as config_mod
    config_mod.save(ref, str(tmp_path / "ref.json"))
    assert cli([*args, "--method", "perplexity", "--slice", "low", "--out", str(tmp_path / "p.json"),
                "--ref-config", str(tmp_path / "ref.json")]) == 0
    s = json.loads((tmp_path / "p.summary.json").read_text())
    assert s["kept_tokens"] >= 0.5 * s["candidate_tokens"] and (tmp_path / "p.scores.png").exists()
    assert (tmp_path / "p.json.ref" / "ref0" / "summary.json").exists()


def test_prune_cli_needs_keep(tiny_store, tmp_path, capsys):
    assert cli(["prune", "--data", str(tiny_store), "--method", "prototypes", "--out", str(tmp_path / "m")]) == 2
    assert "needs --keep" in capsys.readouterr().err


def test_sweep_passes_the_mask_to_every_run(tiny_store, tmp_path):
    store = TokenStore.open(tiny_store)
    keep = np.arange(store.meta["n_train_docs"]) < 10
    save_mask(tmp_path / "m.json", store, keep)
    root = tmp_path / "sweep"
    assert cli(["sweep", "--data", str(tiny_store), "--out", str(root), "--epochs", "1", "--lr", "2e-3,4e-3",
                f"--data.keep_mask={tmp_path / 'm.json'}", "--model.n_layer=1", "--model.d_model=32",
                "--model.n_head=2", "--model.seq_len=32", "--train.threads=1", "--train.dtype=fp32"]) == 0
    runs = sorted(root.glob("*/*/*/summary.json"))
    tokens, _ = kept_stream(store, keep)
    assert len(runs) == 2
    for s in runs:
        assert json.loads(s.read_text())["unique_tokens"] == (len(tokens) - 1) // 32 * 32
        assert json.loads((s.parent / "config.json").read_text())["data"]["keep_mask"] == str(tmp_path / "m.json")


def test_prune_cli_embedding_methods_with_a_run_embedder(tiny_store, tmp_path, monkeypatch):
    from squeeze.prune import pipeline
    drawn, canvas = [], pipeline.FigureCanvasAgg  # each scores plot's figure: its histograms are what the PNG shows
    monkeypatch.setattr(pipeline, "FigureCanvasAgg", lambda fig: drawn.append(fig) or canvas(fig))
    train(tiny_config(tiny_store, epochs=1), tmp_path / "emb", quiet=True)
    store = TokenStore.open(tiny_store)
    base = ["prune", "--data", str(tiny_store), "--embedder", str(tmp_path / "emb"), "--cache", str(tmp_path / "c"),
            "--clusters", "3", "--seed", "1"]
    for method, extra in [("prototypes", ["--keep-easy", "--balance"]), ("semdedup", []), ("d4", [])]:
        for copy in ("a", "b"):
            assert cli([*base, "--method", method, "--keep", "0.6", *extra,
                        "--out", str(tmp_path / copy / f"{method}.json")]) == 0
        a, b = (json.loads((tmp_path / c / f"{method}.json").read_text()) for c in "ab")
        assert a == b  # deterministic for a seed
        s = json.loads((tmp_path / "a" / f"{method}.summary.json").read_text())
        assert sum(c["kept_docs"] for c in s["per_cluster"]) == s["kept_docs"] == a["kept_docs"]
        assert abs(s["kept_tokens"] / s["candidate_tokens"] - 0.6) < 0.1, (method, s)
        assert (tmp_path / "a" / f"{method}.scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        kept, dropped = ([p.get_height() for p in bars.patches] for bars in drawn[-1].axes[0].containers)
        assert sum(kept) == s["kept_docs"], method
        if method == "d4":  # its near-duplicates go before scoring (score nan): not drawn
            assert sum(kept) + sum(dropped) < s["candidate_docs"]
        else:
            assert sum(kept) + sum(dropped) == s["candidate_docs"], method
    assert load_mask(tmp_path / "a" / "d4.json", store).sum() > 0


@pytest.mark.parametrize("default", ["hard", "easy"])
def test_prune_without_a_direction_follows_the_recorded_rule(default, tiny_store, tmp_path, monkeypatch):
    """Neither --keep-easy nor --keep-hard: the mask is the one the rule's direction gives, and its summary says
    which rule and why."""
    from squeeze.prune import rule
    monkeypatch.setattr(rule, "RULE", {"measured": False, "source": "a test", "default": default,
                                       "reason": "the test says so", "pools": []})
    train(tiny_config(tiny_store, epochs=1), tmp_path / "emb", quiet=True)
    base = ["prune", "--data", str(tiny_store), "--embedder", str(tmp_path / "emb"), "--cache", str(tmp_path / "c"),
            "--clusters", "3", "--method", "prototypes", "--keep", "0.5"]
    assert cli([*base, "--out", str(tmp_path / "ruled.json")]) == 0
    assert cli([*base, f"--keep-{default}", "--out", str(tmp_path / "flag.json")]) == 0
    assert cli([*base, f"--keep-{'easy' if default == 'hard' else 'hard'}", "--out", str(tmp_path / "other.json")]) == 0
    ruled, flag, other = (json.loads((tmp_path / f"{n}.json").read_text())["keep"] for n in ("ruled", "flag", "other"))
    assert ruled == flag != other
    s = json.loads((tmp_path / "ruled.summary.json").read_text())
    assert s["hard"] == (default == "hard") and s["keep_rule"]["reason"] == "the test says so"


def test_fit_to_target_cuts_the_last_document_by_priority():
    """By hand: documents of 5, 4, 3, 6 tokens (one not a candidate), priority 3 > 0 > 2 > 1. Target 8 from a
    selection that kept docs 0 and 1 (9 tokens): doc 0 (5, top priority) whole, then doc 1 (4) does not fit, so it
    is cut to the 3 tokens missing. Target 11 from the same selection: both whole (9), then the best left-out
    candidate, doc 2, cut to 2 tokens."""
    ntok = np.array([5, 4, 3, 0, 6])
    prio = np.array([3.0, 2.0, 0.0, 9.0, 1.0])
    keep = np.array([True, True, False, False, False])
    out, partial = select.fit_to_target(keep, prio, ntok, 8)
    assert out.tolist() == [True, False, False, False, False] and partial == (1, 3)
    out, partial = select.fit_to_target(keep, prio, ntok, 11)
    assert out.tolist() == [True, True, False, False, False] and partial == (4, 2)  # doc 4 outranks doc 2
    out, partial = select.fit_to_target(keep, prio, ntok, 9)
    assert out.tolist() == [True, True, False, False, False] and partial is None


def test_partial_document_enters_the_training_stream(tiny_store, tmp_path):
    from squeeze.data.mask import kept_stream
    store = TokenStore.open(tiny_store)
    ntok = budget_doc_tokens(store)
    keep = np.zeros(len(ntok), dtype=bool)
    keep[0] = True
    save_mask(tmp_path / "m.json", store, keep, (2, 7), method="test")
    k, partial = load_selection(tmp_path / "m.json", store)
    tokens, offsets = kept_stream(store, k, 0, "m", partial)
    s2 = int(store.train_offsets[2])
    assert len(tokens) == ntok[0] + 7 and offsets.tolist() == [0, ntok[0], ntok[0] + 7]
    assert tokens[ntok[0]:].tolist() == np.asarray(store.train[s2:s2 + 7]).tolist()
