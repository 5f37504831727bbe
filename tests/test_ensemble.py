"""Ensembles: the pure combinations against hand values, one-pass evaluation of trained members, `squeeze ensemble`."""
import json
import math
import shutil

import numpy as np
import pytest
import torch

from squeeze import recipes
from squeeze.cli import main
from squeeze.data.mask import fitness_slice
from squeeze.errors import SqueezeError
from squeeze.evaluation.ensemble import (
    ensemble_eval,
    evaluate_ensemble,
    fit_mixture_weights,
    learned_weights,
    load_members,
    mixture_nll,
    orders_for,
    product_logp,
    top_k_report,
)
from squeeze.evaluation.loss import evaluate, span_digest
from squeeze.io import read_json, write_json
from squeeze.train.trainer import train
from tests.conftest import tiny_config


def test_mixture_and_product_by_hand():
    p = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]])
    logp_KNV = p.log()[:, None, :]
    tgt_KN = logp_KNV[:, :, 0]
    assert mixture_nll(tgt_KN).item() == pytest.approx(-math.log(0.3))
    assert mixture_nll(tgt_KN, torch.tensor([0.75, 0.25])).item() == pytest.approx(-math.log(0.4))
    g = (p[0] * p[1]).sqrt()
    assert product_logp(logp_KNV)[0].exp().tolist() == pytest.approx((g / g.sum()).tolist())


def test_combinations_never_exceed_the_mean_member_loss():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        logp_KNV = (3 * torch.randn(4, 50, 11, generator=gen)).log_softmax(-1)
        y_N = torch.randint(0, 11, (50,), generator=gen)
        tgt_KN = logp_KNV.gather(-1, y_N[None, :, None].expand(4, -1, 1))[..., 0]
        mean_member = -tgt_KN.mean()
        assert mixture_nll(tgt_KN).mean() <= mean_member + 1e-6  # Jensen: log of a mean >= mean of logs
        prod = -product_logp(logp_KNV).gather(-1, y_N[:, None])[:, 0]
        assert prod.mean() <= mean_member + 1e-6  # the normalizer of a geometric mean is <= 1


def test_learned_weights_never_worse_than_uniform_and_find_the_good_member():
    gen = torch.Generator().manual_seed(1)
    good = torch.full((200,), math.log(0.6))
    bad = torch.log(torch.rand(2, 200, generator=gen) * 0.05)
    tgt_KN = torch.cat([bad, good[None]])
    w = fit_mixture_weights(tgt_KN)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-5) and w.argmax().item() == 2 and w[2] > 0.9
    assert mixture_nll(tgt_KN, w).mean() <= mixture_nll(tgt_KN).mean()
    same = torch.log(torch.rand(1, 50, generator=gen)).expand(3, -1)  # identical members: uniform is optimal
    assert mixture_nll(same, fit_mixture_weights(same)).mean() <= mixture_nll(same).mean() + 1e-9


def test_orders():
    o = orders_for(4, 3)
    assert o[0] == [0, 1, 2, 3] and len(o) == 4 and all(sorted(x) == [0, 1, 2, 3] for x in o)
    assert orders_for(1, 5) == [[0]]


@pytest.fixture(scope="module")
def two_members(tiny_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    dirs = []
    for i in range(2):
        c = tiny_config(tiny_store, epochs=1, seed=i)
        c.data.seed, c.data.fitness_tokens = i, 2000
        train(c, root / f"m{i}", quiet=True)
        dirs.append(str(root / f"m{i}"))
    return dirs


def test_ensemble_of_identical_members_equals_the_member(two_members, tiny_store):
    members, store = load_members([two_members[0]] * 3)
    r = evaluate_ensemble(members, store, n_orders=2, batch_size=4)
    single = read_json(f"{two_members[0]}/summary.json")["val_loss"]
    for key in ("mixture", "product", "mean_member_loss"):
        assert r[key] == pytest.approx(single, abs=1e-5), key
    assert r["mixture_curve_mean"] == pytest.approx([single] * 3, abs=1e-5)


def test_product_in_the_given_order_only_changes_no_other_number(two_members, tiny_store):
    members, store = load_members([*two_members, two_members[0]])
    full = evaluate_ensemble(members, store, n_orders=2, batch_size=4)
    given = evaluate_ensemble(members, store, n_orders=2, batch_size=4, product_orders=False)
    assert "product_curve_mean" in full and "product_curve_mean" not in given
    assert {k: v for k, v in full.items() if k != "product_curve_mean"} == given  # equal to the bit
    # without the product (the study's tuned-members walk, which reads the mixture only): nothing else changes
    bare = ensemble_eval([*two_members, two_members[0]], n_orders=2, product=False)
    with_product = ensemble_eval([*two_members, two_members[0]], n_orders=2, product_orders=False)
    assert "product" not in bare and "product_curve_given" not in bare and "product" in with_product
    assert bare.pop("members_run") == 0 and with_product.pop("members_run") == 3  # bare read the saved losses
    assert {k: v for k, v in with_product.items() if not k.startswith("product")} == bare


def test_the_mixture_reads_saved_token_losses_and_runs_the_model_when_they_are_stale(two_members, tmp_path):
    from safetensors.torch import load_file

    from squeeze.train.checkpoint import save_token_losses
    summary = read_json(f"{two_members[0]}/summary.json")
    nll_N = load_file(f"{two_members[0]}/token_losses.safetensors")["nll"]
    assert len(nll_N) == summary["val_tokens"] and nll_N.double().mean().item() == pytest.approx(summary["val_loss"],
                                                                                                 abs=1e-6)
    saved = ensemble_eval(two_members, n_orders=2, product=False)
    gone, other_span, other_dtype, other_weights = (tmp_path / n for n in ("gone", "span", "dtype", "weights"))
    for d, src in ((gone, 0), (other_span, 1), (other_dtype, 1), (other_weights, 1)):
        shutil.copytree(two_members[src], d)
    (gone / "token_losses.safetensors").unlink()
    save_token_losses(other_span, nll_N + 1, "another slice", "cpu/fp32")
    (member,), store = load_members([str(gone)])
    right_span = span_digest(store.val, member.cfg.train.final_eval_tokens)
    save_token_losses(other_dtype, nll_N + 1, right_span, "cpu/bf16")  # the right tokens, scored in another dtype
    ran = ensemble_eval([str(gone), str(other_span)], n_orders=2, product=False)
    assert saved["members_run"] == 0 and ran["members_run"] == 2
    for key in ("mixture", "member_losses", "mixture_curve_given", "mixture_curve_mean"):
        assert ran[key] == pytest.approx(saved[key], abs=1e-6), key
    assert ensemble_eval([str(other_dtype)], n_orders=0, product=False)["members_run"] == 1
    # new weights in place of the run's own: its saved losses belong to the old ones and are not read
    shutil.copy(f"{two_members[0]}/model.safetensors", other_weights / "model.safetensors")
    r = ensemble_eval([str(other_weights)], n_orders=0, product=False)
    assert r["members_run"] == 1 and r["mixture"] == pytest.approx(summary["val_loss"], abs=1e-5)
    # the same content is the same bytes on every write (kill trials compare run directories byte for byte)
    again = [tmp_path / "again0", tmp_path / "again1"]
    for d in again:
        shutil.copytree(two_members[0], d)
        save_token_losses(d, nll_N, "s", "cpu/fp32")
    assert len({(d / "token_losses.safetensors").read_bytes() for d in again}) == 1


def test_ensemble_reads_the_validation_slice_its_members_were_scored_on(tiny_store, tmp_path):
    c = tiny_config(tiny_store, epochs=1)
    c.train.final_eval_tokens = 300  # the member's val_loss covers the first 300 validation tokens only
    train(c, tmp_path / "m", quiet=True)
    single = read_json(tmp_path / "m" / "summary.json")
    r = ensemble_eval([str(tmp_path / "m")] * 2, n_orders=0)
    assert r["tokens"] == single["val_tokens"] == 300 and r["mixture"] == pytest.approx(single["val_loss"], abs=1e-5)
    assert ensemble_eval([str(tmp_path / "m")] * 2, n_orders=0, max_tokens=0)["tokens"] > 300
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "m", other)
    cfg = read_json(other / "config.json")
    cfg["train"]["final_eval_tokens"] = 0
    write_json(other / "config.json", cfg)
    with pytest.raises(SqueezeError, match="different validation slices"):
        ensemble_eval([str(tmp_path / "m"), str(other)], n_orders=0)


def test_one_pass_matches_the_single_model_evaluator(two_members, tiny_store):
    members, store = load_members(two_members)
    r = evaluate_ensemble(members, store, n_orders=3, batch_size=5, weights_K=torch.tensor([0.5, 0.5]))
    for m, loss in zip(members, r["member_losses"]):
        ref = evaluate(m.model, store.val, store.token_bytes, m.cfg.model.seq_len, 7, dtype="fp32")
        assert loss == pytest.approx(ref["loss"], abs=1e-5)  # same windows, whatever the batch size
    assert r["mixture_curve_given"][0] == pytest.approx(r["member_losses"][0], abs=1e-6)
    assert r["mixture"] <= r["mean_member_loss"] and r["product"] <= r["mean_member_loss"]
    assert r["learned"] == pytest.approx(r["mixture"], abs=1e-6)  # weights 1/2 = uniform
    lw = learned_weights(members, store, 8, dtype="fp32")
    held = fitness_slice(store, 0, 2000)  # the members' budget is the whole store
    tokens = int(np.diff(np.asarray(store.train_offsets))[held].sum())
    assert lw["fitness_tokens"] == tokens - 1 and lw["fitness_loss_learned"] <= lw["fitness_loss_uniform"]


def test_learned_weights_never_read_a_validation_token(two_members, monkeypatch):
    """The weights are fitted on the members' fitness slice, which the trainer held out of their training
    documents; with the store's validation tokens made unreadable, they still fit, to the same numbers."""
    members, store = load_members(two_members)
    before = learned_weights(members, store, 8, dtype="fp32")

    class Unreadable:
        def __getitem__(self, _):
            raise AssertionError("a validation token was read")
        __len__ = __array__ = __iter__ = __getitem__
    monkeypatch.setattr(store, "val", Unreadable())
    assert learned_weights(members, store, 8, dtype="fp32") == before


def test_members_from_different_tokenizers_are_refused(two_members, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(two_members[1], other)
    info = read_json(other / "run.json")
    write_json(other / "run.json", {**info, "tokenizer_fingerprint": "something-else"})
    with pytest.raises(SqueezeError, match="different tokenizers"):
        load_members([two_members[0], str(other)])


def test_ensemble_member_recipe():
    base = recipes.regularized()
    m = recipes.ensemble_member(base)
    assert m.train.epochs == 2 * base.train.epochs and m.train.weight_decay == base.train.weight_decay / 2
    assert base.train.epochs == 16  # the base is not modified


TINY = ["--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
        "--train.batch_size=8", "--train.dtype=fp32", "--train.epochs=1", "--data.fitness_tokens=1000"]


def test_squeeze_ensemble_trains_then_skips_and_eval_prints_the_table(tiny_store, tmp_path, capsys):
    root = tmp_path / "ens"
    argv = ["ensemble", "--data", str(tiny_store), "--out", str(root), "--members", "3", "--recipe", "standard",
            *TINY]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "K curve" in out.out and "learned weights" in out.out
    cfgs = [read_json(root / f"member{i}" / "config.json") for i in range(3)]
    assert [c["train"]["seed"] for c in cfgs] == [0, 1, 2] and [c["data"]["seed"] for c in cfgs] == [0, 1, 2]
    assert cfgs[0]["train"]["epochs"] == 1 * 2 and cfgs[0]["train"]["weight_decay"] == pytest.approx(0.05)
    summary = read_json(root / "ensemble.json")
    assert len(summary["members"]) == 3 and summary["eval"]["mixture"] <= summary["eval"]["mean_member_loss"]
    mtimes = [(root / f"member{i}" / "summary.json").stat().st_mtime_ns for i in range(3)]
    assert main(argv + ["--json"]) == 0
    out = capsys.readouterr()
    assert out.err.count("finished earlier") == 3
    assert mtimes == [(root / f"member{i}" / "summary.json").stat().st_mtime_ns for i in range(3)]
    r = json.loads(out.out)
    assert r["mixture"] == pytest.approx(summary["eval"]["mixture"], abs=1e-9)
    assert main(["eval", *(str(root / f"member{i}") for i in range(3)), "--orders", "2"]) == 0
    assert "mixture (mean of probabilities)" in capsys.readouterr().out


def test_top_k_keeps_the_members_the_fitness_slice_prefers():
    """Three snapshots on 200 fitness tokens: the first assigns every target p = 0.5, the second 0.4, the third 0.01.
    The mixture of the first alone (-ln 0.5 = 0.693) beats any mixture that gives the third weight, so the chosen
    top-k drops it, and the learned mixture is never worse on the slice than the uniform one."""
    tgt_KN = torch.log(torch.tensor([[0.5] * 200, [0.4] * 200, [0.01] * 200]))
    r = top_k_report(tgt_KN)
    assert r["weights"][2] == 0.0 and r["top_k"] in (1, 2) and sum(r["weights"]) == pytest.approx(1.0, abs=1e-6)
    assert r["fitness_loss_learned"] == pytest.approx(-math.log(0.5), abs=1e-3)
    assert r["fitness_loss_uniform"] == pytest.approx(-math.log((0.5 + 0.4 + 0.01) / 3), abs=1e-6)
    assert r["fitness_tokens"] == 200
